"""A drill's after-action score: five parts, each measured from what the records say happened, and the total
out of 100 — the same computation for this drill and for the earlier drills of its playbook it is compared
with.

The parts and their weights (the summary page prints this formula beside the numbers):

- **First public statement** (30): published within the first-response SLA → all of it; later, it falls in
  a straight line to nothing at twice the SLA; not published once the SLA has passed → nothing. Measured in
  the drill's own time: the SLA is the scaled one and a pause does not count.
- **Approvals** (20): the share of approval steps with a time limit that were decided within it.
- **Updates on the promised time** (20): the share of "next public update" deadlines met.
- **Tasks on time** (15): the share of checklist task deadlines met.
- **Injects answered** (15): each scripted inject counts 1 when someone on the team wrote on the timeline
  within 15 minutes of it (scaled: 90 s at ×10), ½ when later, 0 when nobody did.

A deadline is met when it was done by its due time and never went overdue; one still open and not yet due
counts for nothing either way. A part with nothing to measure (no approval step had a time limit, no inject
was scripted …) is left out and the others are scaled up to 100, so a drill is not marked down for what its
playbook did not ask of it. May import models, this app's models and the base app's deadline policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Min, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from incidents.models import (
    ChainStep,
    Deadline,
    DeadlineKind,
    DeadlineState,
    Incident,
    Publication,
    TimelineEntry,
)
from incidents.playbooks.models import DrillInject, IncidentPlaybook
from incidents.services.deadlines import policy_for

WEIGHTS: dict[str, int] = {"statement": 30, "approvals": 20, "updates": 20, "tasks": 15, "injects": 15}
LABELS: dict[str, Promise] = {
    "statement": _("First public statement"),
    "approvals": _("Approvals within their time limit"),
    "updates": _("Updates on the promised time"),
    "tasks": _("Tasks on time"),
    "injects": _("Injects answered"),
}
# How soon an inject should get a reaction on the timeline, in real time (scaled in a compressed drill).
INJECT_ANSWER_TARGET = timedelta(minutes=15)


@dataclass(frozen=True)
class Part:
    key: str
    weight: int
    fraction: float | None  # 0..1 of the weight earned; None: nothing to measure (left out)
    measured: int = 0  # how many things it counted
    good: float = 0  # how many of them were on time (an inject answered late counts ½)

    @property
    def label(self) -> str:
        return str(LABELS[self.key])

    @property
    def points(self) -> float | None:
        return None if self.fraction is None else round(self.weight * self.fraction, 2)


@dataclass(frozen=True)
class InjectAnswer:
    inject: DrillInject
    answered_at: datetime | None
    took: timedelta | None
    on_time: bool


@dataclass(frozen=True)
class DrillScore:
    parts: tuple[Part, ...]
    # The first statement in the drill's own time (pauses left out) against its scaled SLA.
    first_statement_took: timedelta | None
    first_statement_sla: timedelta
    injects: tuple[InjectAnswer, ...]
    speed: int

    @property
    def total(self) -> int | None:
        """Out of 100: the points earned over the weights of the parts that could be measured."""
        counted = [p for p in self.parts if p.fraction is not None]
        if not counted:
            return None
        earned = sum(p.weight * (p.fraction or 0) for p in counted)
        return round(100 * earned / sum(p.weight for p in counted))

    def part(self, key: str) -> Part:
        return next(p for p in self.parts if p.key == key)


def on_time(deadline: Deadline, now: datetime) -> bool | None:
    """Met (True), missed (False) or not yet either (None): done by its due time and never overdue."""
    if deadline.state == DeadlineState.CANCELLED:
        return None
    if deadline.missed_at is not None:
        return False
    if deadline.state == DeadlineState.DONE:
        return deadline.completed_at is not None and deadline.completed_at <= deadline.due_at
    return False if now > deadline.due_at else None


def _share(key: str, results: Iterable[bool | None]) -> Part:
    counted = [r for r in results if r is not None]
    good = sum(1 for r in counted if r)
    return Part(key, WEIGHTS[key], good / len(counted) if counted else None, len(counted), good)


def _first_statement(
    incident: Incident, deadlines: list[Deadline], first: datetime | None, now: datetime
) -> tuple[Part, timedelta | None, timedelta]:
    sla = incident.scaled(timedelta(minutes=policy_for(incident.severity).first_response_minutes))
    response = next((d for d in deadlines if d.kind == DeadlineKind.FIRST_RESPONSE), None)
    # The deadline's original due time is declaration + SLA, moved on by every pause before it was met (a
    # snooze or a hand-moved time never changes it): how far ahead of it the statement came is the slack.
    due = response.original_due_at if response is not None else incident.declared_at + sla
    if first is None:
        ended = not incident.is_open or now > due
        return Part("statement", WEIGHTS["statement"], 0.0 if ended else None, 1 if ended else 0), None, sla
    took = sla - (due - first)
    # On time: all of it; later: a straight line down to nothing at twice the SLA.
    fraction = 1.0 if took <= sla else (max(0.0, 2 - took / sla) if sla else 0.0)
    return Part("statement", WEIGHTS["statement"], fraction, 1, fraction), took, sla


def _injects(incident: Incident, now: datetime) -> tuple[Part, tuple[InjectAnswer, ...]]:
    injects = list(DrillInject.objects.filter(incident=incident, entry__isnull=False).select_related("entry"))
    if not injects:
        return Part("injects", WEIGHTS["injects"], None), ()
    first_seq = min(x.entry.seq for x in injects if x.entry is not None)
    # A person's own entries (not the system's, not another inject) after the first inject: one query.
    written = list(
        TimelineEntry.objects.filter(
            incident=incident, seq__gt=first_seq, author__isnull=False, kind__in=TimelineEntry.POSTABLE
        )
        .order_by("seq")
        .values_list("seq", "recorded_at")
    )
    target = incident.scaled(INJECT_ANSWER_TARGET)
    answers = []
    score = 0.0
    for x in injects:
        assert x.entry is not None
        reply = next(((seq, at) for seq, at in written if seq > x.entry.seq), None)
        arrived = x.posted_at or x.entry.recorded_at
        if reply is None:
            answers.append(InjectAnswer(x, None, None, False))
            continue
        took = reply[1] - arrived
        quick = took <= target
        score += 1.0 if quick else 0.5
        answers.append(InjectAnswer(x, reply[1], took, quick))
    return Part("injects", WEIGHTS["injects"], score / len(injects), len(injects), score), tuple(answers)


def drill_score(incident: Incident, *, now: datetime | None = None) -> DrillScore:
    """The drill's score and its parts (five queries)."""
    now = now or timezone.now()
    deadlines = list(
        Deadline.objects.filter(incident=incident).exclude(state=DeadlineState.CANCELLED).order_by("due_at")
    )
    first = (
        Publication.objects.filter(statement__incident=incident)
        .order_by("published_at")
        .values_list("published_at", flat=True)
        .first()
    )
    statement, took, sla = _first_statement(incident, deadlines, first, now)
    steps = list(
        ChainStep.objects.filter(
            version__statement__incident=incident, activated_at__isnull=False, sla_minutes__isnull=False
        )
        .select_related("version__statement")
        .annotate(first_decision=Min("approvals__decided_at"))
    )
    approvals: list[bool | None] = []
    for step in steps:
        due = step.due_at
        assert due is not None
        # Decided when it completed or, for a rejection, at the first decision on it.
        decided = step.completed_at or step.first_decision
        if decided is not None:
            approvals.append(decided <= due)
            continue
        owner = step.version.statement
        waiting = owner.is_in_review and owner.current_version_id == step.version_id
        # Still waiting: late once past its time. Left behind by a new version: not counted.
        approvals.append((False if now > due else None) if waiting else None)
    injects, answers = _injects(incident, now)
    parts = (
        statement,
        _share("approvals", approvals),
        _share("updates", (on_time(d, now) for d in deadlines if d.kind == DeadlineKind.UPDATE)),
        _share("tasks", (on_time(d, now) for d in deadlines if d.kind == DeadlineKind.TASK)),
        injects,
    )
    return DrillScore(
        parts=parts,
        first_statement_took=took,
        first_statement_sla=sla,
        injects=answers,
        speed=incident.speed,
    )


# --- the playbook's earlier drills ------------------------------------------------------------------------------

HISTORY = 8  # drills shown in the comparison, this one included


@dataclass(frozen=True)
class PastDrill:
    incident: Incident
    score: int | None
    is_this: bool


def earlier_drills(
    incident: Incident, visible: QuerySet[Incident], current: DrillScore | None = None
) -> list[PastDrill]:
    """This drill and the same playbook's drills before it (any version), oldest first — those the viewer
    may see (`visible`). Is the team getting faster? `current`: this drill's score, if already computed."""
    this = PastDrill(incident, (current or drill_score(incident)).total, True)
    record = IncidentPlaybook.objects.filter(incident=incident).select_related("version").first()
    if record is None:
        return [this]
    drills = list(
        visible.filter(
            is_drill=True,
            playbook_record__version__playbook_id=record.version.playbook_id,
            declared_at__lte=incident.declared_at,
        )
        .exclude(pk=incident.pk)
        .order_by("-declared_at")[: HISTORY - 1]
    )
    drills.reverse()
    return [PastDrill(d, drill_score(d).total, False) for d in drills] + [this]
