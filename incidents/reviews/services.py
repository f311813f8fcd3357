"""Every change to a review: open, edit a section, follow-ups, feedback, sign-off."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.utils.translation import gettext as _

from incidents import mentions
from incidents.models import Deadline, DeadlineKind, DeadlineState, Incident, RoleAssignment, Status, User
from incidents.models.errors import InputRefused, Refused
from incidents.reviews.models import SECTION_MAX_CHARS, Feedback, FollowUp, Review, ReviewSection, SectionKey
from incidents.services.deadlines import deadline_create, deadline_met
from incidents.services.notify import in_language_of, notify


class ReviewError(InputRefused):
    """Refused input or action; the message is shown to the user as is. Nothing was changed."""


class SectionConflict(Refused):
    """Someone saved the section since the user loaded it; nothing was written."""

    def __init__(self, current: ReviewSection) -> None:
        super().__init__(_("Someone else saved this section while you were editing."))
        self.current = current


@transaction.atomic
def review_open(*, incident: Incident, actor: User | None) -> Review:
    """The incident's review, opened now if it has none (on resolution: the `incident_resolved` hook).
    Idempotent: resolving twice (a reopened incident resolved again, a retried request) returns the same
    review with everything written so far."""
    review, created = Review.objects.get_or_create(incident=incident, defaults={"opened_by": actor})
    if created:
        ReviewSection.objects.bulk_create(
            [ReviewSection(review=review, key=key) for key in SectionKey.values], ignore_conflicts=True
        )
    return review


def _lock_open(review: Review) -> Review:
    locked = Review.objects.select_for_update().get(pk=review.pk)
    if locked.is_locked:
        raise ReviewError(_("The commander has signed off this review; it can no longer be changed."))
    return locked


@transaction.atomic
def review_section_save(
    *, review: Review, key: str, actor: User, text: str, expected_version: int
) -> ReviewSection:
    if key not in SectionKey.values:
        raise ReviewError(_("There is no such section."))
    text = text.replace("\r\n", "\n").strip()
    if len(text) > SECTION_MAX_CHARS:
        raise ReviewError(
            _("Keep a section under %(limit)s characters (this is %(used)s).")
            % {
                "limit": number_format(SECTION_MAX_CHARS, force_grouping=True),
                "used": number_format(len(text), force_grouping=True),
            }
        )
    _lock_open(review)  # sign-off takes the same lock: no edit lands after the review is locked
    incident = Incident.objects.get(pk=review.incident_id)
    try:
        # Anyone who held a role in the incident may be called in: the team has often stood down by now.
        mentioned = mentions.check(incident, text, ever=True)
    except mentions.MentionRefused as exc:
        raise ReviewError(str(exc)) from exc
    before = ReviewSection.objects.filter(review=review, key=key).values_list("text", flat=True).first() or ""
    now = timezone.now()
    changed = ReviewSection.objects.filter(review=review, key=key, version=expected_version).update(
        text=text, version=F("version") + 1, updated_at=now, updated_by=actor
    )
    current = ReviewSection.objects.select_related("updated_by").get(review=review, key=key)
    if not changed:
        raise SectionConflict(current)
    # Only people this save calls in for the first time: re-saving a section does not ring them again.
    already = {m.user_id for m in mentions.parse(before)}
    mentions.notify_mentioned(
        incident=incident,
        actor=actor,
        people=[p for p in mentioned if p.pk not in already],
        where=gettext("the review's “%(section)s”") % {"section": SectionKey(key).label},
        excerpt=text,
        url=reverse("reviews:review", args=[incident.code]) + f"#section-{key}",
        key=f"mention:review:{current.pk}:{current.version}",
    )
    return current


def _participant_ids(incident: Incident) -> set[int]:
    return set(RoleAssignment.objects.filter(incident=incident).values_list("user_id", flat=True))


@transaction.atomic
def follow_up_add(
    *, review: Review, actor: User, title: str, owner: User | None, due_at: datetime | None
) -> FollowUp:
    title = " ".join(title.split())
    errors = []
    if not title:
        errors.append(_("Say what needs doing."))
    elif len(title) > 200:
        errors.append(_("Keep the action under 200 characters."))
    if owner is None:
        errors.append(_("Choose an owner from the team."))
    if due_at is None:
        errors.append(_("Give a due date."))
    elif due_at <= timezone.now():
        errors.append(_("The due date must be in the future."))
    if errors:
        raise ReviewError(" ".join(errors))
    assert owner is not None
    assert due_at is not None
    locked = _lock_open(review)
    incident = Incident.objects.get(pk=locked.incident_id)
    if owner.pk not in _participant_ids(incident) or not owner.is_active:
        raise ReviewError(_("The owner must be someone who worked on this incident."))
    follow_up = FollowUp.objects.create(
        review=locked, title=title, owner=owner, due_at=due_at, created_by=actor
    )
    # The deadlines machinery reminds the owner before it is due and escalates when it is missed.
    follow_up.deadline = deadline_create(
        incident=incident,
        kind=DeadlineKind.FOLLOW_UP,
        title=title,
        due_at=due_at,
        owner=owner,
        actor=actor,
        key=f"follow-up:{follow_up.pk}",
    )
    follow_up.save(update_fields=["deadline"])
    if owner.pk != actor.pk:
        with in_language_of(owner):
            text = _("%(actor)s gave you a follow-up action from the review of %(ref)s: “%(title)s”.") % {
                "actor": actor,
                "ref": incident.reference,
                "title": title,
            }
        notify(
            user=owner,
            incident=incident,
            text=text,
            url=reverse("reviews:review", args=[incident.code]) + "#follow-ups",
            key=f"follow-up:{follow_up.pk}",
        )
    return follow_up


@transaction.atomic
def follow_up_complete(*, follow_up: FollowUp, actor: User) -> FollowUp:
    """Mark an action done (also after sign-off: actions are followed through after the review)."""
    locked = FollowUp.objects.select_for_update().get(pk=follow_up.pk)
    if locked.done_at is not None:
        raise ReviewError(_("This action is already done."))
    locked.done_at = timezone.now()
    locked.done_by = actor
    locked.save(update_fields=["done_at", "done_by"])
    if locked.deadline_id is not None:
        deadline = Deadline.objects.get(pk=locked.deadline_id)
        if deadline.state == DeadlineState.OPEN:
            deadline_met(deadline=deadline, actor=actor)
    return locked


@transaction.atomic
def feedback_save(*, review: Review, actor: User, rating: int | None, comment: str) -> Feedback:
    """One feedback per participant; saving again replaces their own."""
    comment = comment.replace("\r\n", "\n").strip()
    if rating is None or not 1 <= rating <= 5:
        raise ReviewError(_("Choose a rating from 1 to 5."))
    if len(comment) > 4000:
        raise ReviewError(_("Keep the comment under 4,000 characters."))
    locked = _lock_open(review)
    if actor.pk not in _participant_ids(Incident.objects.get(pk=locked.incident_id)):
        raise ReviewError(_("Only people who worked on this incident give feedback."))
    now = timezone.now()
    feedback, _created = Feedback.objects.update_or_create(
        review=locked, user=actor, defaults={"rating": rating, "comment": comment, "updated_at": now}
    )
    return feedback


@transaction.atomic
def review_sign_off(*, review: Review, actor: User) -> Review:
    locked = _lock_open(review)
    incident = Incident.objects.select_for_update().get(pk=locked.incident_id)
    if incident.commander_id != actor.pk:
        raise ReviewError(_("Only the incident commander signs off the review."))
    if incident.status not in (Status.RESOLVED, Status.CLOSED):
        raise ReviewError(_("The incident was reopened; resolve it again before signing off."))
    texts = dict(ReviewSection.objects.filter(review=locked).values_list("key", "text"))
    missing = [k for k in (SectionKey.SUMMARY, SectionKey.LESSONS) if not texts.get(k)]
    if len(missing) == 2:
        raise ReviewError(_("Write the summary and the lessons learned before signing off."))
    if missing:
        raise ReviewError(
            _("Write the summary before signing off.")
            if missing[0] == SectionKey.SUMMARY
            else _("Write the lessons learned before signing off.")
        )
    locked.signed_off_at = timezone.now()
    locked.signed_off_by = actor
    locked.save(update_fields=["signed_off_at", "signed_off_by"])
    # The review deadline (opened by the deadlines machinery on resolve) is met by the sign-off.
    due = Deadline.objects.filter(
        incident=incident, kind=DeadlineKind.REVIEW, state=DeadlineState.OPEN
    ).first()
    if due is not None:
        deadline_met(deadline=due, actor=actor)
    return locked
