"""The demo's post-incident reviews, written on the demo clock after each past incident (incidents/demo.py).

A review is written through the same services as the page, a day or two after the incident was resolved, by
its commander: findings, follow-up actions on the deadlines machinery, feedback from the people who worked on
it, and (unless it is one of the last few) a sign-off. Its text says only what the record shows: the facts in
it (when the first statement went out and whether that was within the severity's target, whether it
apologised, how many statements went out, a late update, a draft sent back) are read from the incident's own
metrics when the review is written; the rest is the plot's narrative, which the story was played to match.
Two reviews are hand-written (`WRITTEN`), and their stories are played to match them (incidents/demo.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from incidents.models import (
    Approval,
    Deadline,
    DeadlineKind,
    Incident,
    Publication,
    RoleAssignment,
    User,
)
from incidents.reviews.metrics import IncidentMetrics, format_duration, incident_metrics
from incidents.reviews.models import FollowUp, Review, ReviewSection, SectionKey
from incidents.reviews.services import (
    feedback_save,
    follow_up_add,
    follow_up_complete,
    review_open,
    review_section_save,
    review_sign_off,
)
from incidents.services.deadlines import policy_for


@dataclass(frozen=True)
class ReviewPlan:
    """What the team wrote. `narrative` … `lesson` are the plot's words; facts are added from the record."""

    narrative: str
    well: str
    badly: str
    lesson: str
    follow_ups: tuple[str, ...]
    feedback: tuple[tuple[int, str], ...] = ()
    verbatim: bool = False  # a hand-written review: its text is used as is


# The two hand-written reviews of the demo's most recent past incidents (incidents/demo.py plays their stories
# to match: a late first statement that apologised; a same-afternoon statement approved without revisions).
WRITTEN: dict[str, ReviewPlan] = {
    "Viral complaint: winter boots splitting after two weeks": ReviewPlan(
        narrative=(
            "A vlogger's video of split soles on our winter boots reached 1.2M views within a day. Batch "
            "23-41 had a glue defect. We apologised publicly, offered free replacement and published a batch "
            "checker; sentiment recovered within three days."
        ),
        well=(
            "Quality confirmed the batch within an hour, so the first statement could be specific.\n"
            "The batch checker on the website cut support contacts by half on day two."
        ),
        badly=(
            "The first public response took longer than the SEV2 target: Legal was in a workshop and had no "
            "backup named.\nInstagram comments were left unanswered overnight."
        ),
        lesson=(
            "Every approval role needs a named backup before an incident, not during it.\n"
            "Keep a pre-approved product-defect holding statement so the first response needs one approval."
        ),
        follow_ups=(
            "Name a backup for every Legal approver in the role catalogue",
            "Write and pre-approve a product-defect holding statement template",
        ),
        feedback=(
            (4, "Clear roles once we got going; the first hour was slow."),
            (3, "Too many pings overnight."),
        ),
        verbatim=True,
    ),
    "Store manager's rant filmed by a customer": ReviewPlan(
        narrative=(
            "A customer filmed a store manager shouting at a teenage employee; the clip spread on TikTok. "
            "The manager was suspended pending review and we said so publicly the same afternoon."
        ),
        well="HR and Communications agreed the wording in one pass; no statement revisions needed.",
        badly="The store's regional manager learned about it from the news.",
        lesson="Tell the regional chain of command before anything goes out publicly.",
        follow_ups=("Add regional managers to the conduct playbook's first-hour checklist",),
        feedback=((5, "Fast and calm."),),
        verbatim=True,
    ),
}


# --- what the record says --------------------------------------------------------------------------------------


def apologised(incident: Incident) -> bool:
    """Whether anything published for the incident apologised (the words a reader would take as one)."""
    bodies = Publication.objects.filter(statement__incident=incident).values_list("version__body", flat=True)
    return any("sorry" in b.lower() or "apologi" in b.lower() for b in bodies)


def first_response(incident: Incident) -> Deadline | None:
    return Deadline.objects.filter(incident=incident, kind=DeadlineKind.FIRST_RESPONSE).order_by("pk").first()


def facts(incident: Incident, m: IncidentMetrics) -> tuple[list[str], list[str], list[str]]:
    """Sentences the record supports: (for the summary, for what went well, for what went badly)."""
    said, well, badly = [], [], []
    target = f"{policy_for(incident.severity).first_response_minutes} min"
    severity = incident.get_severity_display()
    if m.declared_to_first_statement is not None:
        took = format_duration(m.declared_to_first_statement)
        said.append(
            f"We said so publicly {took} after declaring{', with an apology' if apologised(incident) else ''}."
        )
        if m.publications > 1:
            said.append(f"{m.publications} statements went out in all.")
    else:
        said.append("Nothing was published; we answered people one by one.")
    deadline = first_response(incident)
    if deadline is not None and deadline.was_met is True and m.declared_to_first_statement is not None:
        well.append(
            f"The first public response went out within the {severity} target ({took} against {target})."
        )
    elif deadline is not None and deadline.was_met is False and m.declared_to_first_statement is not None:
        badly.append(
            f"The first public response took longer than the {severity} target: {took} against {target}."
        )
    if Approval.objects.filter(
        version__statement__incident=incident, decision=Approval.Decision.REJECTED
    ).exists():
        badly.append("Legal sent the first draft back, and the revision cost time.")
    if m.cadence.missed:
        cadence = format_duration(m.cadence.cadence)
        badly.append(
            f"{m.cadence.missed} update gap{'s' if m.cadence.missed > 1 else ''} ran past the {cadence} cadence."
        )
    return said, well, badly


def sections(incident: Incident, plan: ReviewPlan) -> dict[str, str]:
    if plan.verbatim:
        said: list[str] = []
        well: list[str] = []
        badly: list[str] = []
    else:
        said, well, badly = facts(incident, incident_metrics(incident))
    return {
        SectionKey.SUMMARY: " ".join([plan.narrative, *said]),
        SectionKey.WENT_WELL: "\n".join([plan.well, *well]),
        SectionKey.WENT_BADLY: "\n".join([plan.badly, *badly]),
        SectionKey.LESSONS: plan.lesson,
    }


# --- the review as steps on the demo clock ------------------------------------------------------------------------

_COMMENTS = (
    (5, "Calm and quick; the checklist kept us honest."),
    (4, "Good call on the first statement."),
    (4, "Roles were clear from the start."),
    (3, "Too many pings while we were already on it."),
    (4, "The timeline made the handover easy."),
    (3, "I joined late and had to scroll a lot to catch up."),
)


def review_steps(
    at: Callable[[datetime, str, Callable[[], Any]], None],
    incident: Callable[[], Incident],
    plan: ReviewPlan,
    *,
    written: datetime,
    signed: datetime | None,
    now: datetime,
    rng: random.Random,
) -> None:
    """Schedule the review of one past incident with `at(moment, label, run)`: sections and follow-ups when
    written, feedback over the next day, the sign-off (if any), follow-ups done before they were due."""
    state: dict[str, Any] = {}
    dues = [written + timedelta(days=rng.randint(7, 21)) for _ in plan.follow_ups]

    def write() -> None:
        current = incident()
        review = review_open(incident=current, actor=current.commander)
        commander = current.commander
        assert commander is not None
        for key, text in sections(current, plan).items():
            row = ReviewSection.objects.get(review=review, key=key)
            review_section_save(
                review=review, key=key, actor=commander, text=text, expected_version=row.version
            )
        people = participants(current, exclude=commander)
        state["follow_ups"] = [
            follow_up_add(
                review=review, actor=commander, title=title, owner=people[n % len(people)], due_at=due
            )
            for n, (title, due) in enumerate(zip(plan.follow_ups, dues, strict=True))
        ]

    at(written, "review written", write)
    comments = plan.feedback or tuple(rng.sample(_COMMENTS, 2))
    for n, (rating, comment) in enumerate(comments):

        def give(n: int = n, rating: int = rating, comment: str = comment) -> None:
            current = incident()
            people = participants(current, exclude=current.commander)
            review = Review.objects.get(incident=current)
            feedback_save(review=review, actor=people[n % len(people)], rating=rating, comment=comment)

        at(written + timedelta(hours=3 + 5 * n), "feedback", give)
    if signed is not None:
        at(signed, "review signed off", lambda: _sign_off(incident()))
    for n, due in enumerate(dues):
        finished = due - timedelta(days=rng.randint(1, 3))
        if finished >= now:
            continue  # still open today: its owner is reminded before it is due

        def done(n: int = n) -> None:
            item = FollowUp.objects.select_related("owner").get(pk=state["follow_ups"][n].pk)
            follow_up_complete(follow_up=item, actor=item.owner)

        at(finished, "follow-up done", done)


def _sign_off(incident: Incident) -> None:
    review = Review.objects.get(incident=incident)
    if not review.is_locked and incident.commander is not None:
        review_sign_off(review=review, actor=incident.commander)


def participants(incident: Incident, *, exclude: User | None = None) -> list[User]:
    ids = RoleAssignment.objects.filter(incident=incident).values_list("user_id", flat=True)
    people = list(User.objects.filter(pk__in=ids, is_active=True).order_by("pk"))
    others = [p for p in people if exclude is None or p.pk != exclude.pk]
    return others or people
