"""Response metrics of one incident, computed from what the records say happened.

Everything is read in a constant number of queries (seven), however many statements, versions, steps and
approvals the incident has: the rows are fetched per incident, never per statement. The result is a tree
of frozen dataclasses so the review page, the exports, the trends and the drills' after-action summary
can all use the same numbers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from django.db.models import Count

from incidents.models import (
    Approval,
    ChainStep,
    Deadline,
    DeadlineState,
    Incident,
    Publication,
    StatementVersion,
    TimelineEntry,
)
from incidents.services.deadlines import policy_for


@dataclass(frozen=True)
class ApproverDecision:
    user_id: int
    name: str
    decision: str
    decided_at: datetime
    # From the moment the step became current to this person's decision.
    took: timedelta | None


@dataclass(frozen=True)
class StepMetric:
    statement_title: str
    version_number: int
    order: int
    name: str
    activated_at: datetime | None
    completed_at: datetime | None
    decisions: tuple[ApproverDecision, ...]

    @property
    def duration(self) -> timedelta | None:
        """Time the step was current until it completed; None if it never completed (rejected, or the
        version was replaced before the step finished)."""
        if self.activated_at is None or self.completed_at is None:
            return None
        return self.completed_at - self.activated_at


@dataclass(frozen=True)
class ApproverMetric:
    user_id: int
    name: str
    decisions: int
    median_time: timedelta | None
    longest_time: timedelta | None


@dataclass(frozen=True)
class DeadlineMetric:
    title: str
    kind: str
    kind_label: str
    due_at: datetime
    original_due_at: datetime
    completed_at: datetime | None
    state: str
    was_met: bool | None


@dataclass(frozen=True)
class CadenceMetric:
    """Gaps between public statements against the severity's update cadence.

    The gaps are between consecutive publications and, once resolved, from the last publication to the
    resolution (an update that never came while the incident was open is a missed update too).
    """

    cadence: timedelta
    gaps: tuple[timedelta, ...]

    @property
    def kept(self) -> int:
        return sum(1 for gap in self.gaps if gap <= self.cadence)

    @property
    def missed(self) -> int:
        return len(self.gaps) - self.kept

    @property
    def longest(self) -> timedelta | None:
        return max(self.gaps) if self.gaps else None

    @property
    def all_kept(self) -> bool | None:
        return None if not self.gaps else self.missed == 0


@dataclass(frozen=True)
class KindCount:
    kind: str
    label: str
    count: int


@dataclass(frozen=True)
class IncidentMetrics:
    is_drill: bool
    detected_at: datetime
    declared_at: datetime
    resolved_at: datetime | None
    detected_to_declared: timedelta
    first_published_at: datetime | None
    declared_to_first_statement: timedelta | None
    publications: int
    statements: int
    statement_revisions: int
    steps: tuple[StepMetric, ...]
    approvers: tuple[ApproverMetric, ...]
    deadlines: tuple[DeadlineMetric, ...]
    cadence: CadenceMetric
    entries_by_kind: tuple[KindCount, ...]

    @property
    def deadlines_met(self) -> int:
        return sum(1 for d in self.deadlines if d.was_met is True)

    @property
    def deadlines_missed(self) -> int:
        return sum(1 for d in self.deadlines if d.was_met is False)

    @property
    def deadlines_open(self) -> int:
        return sum(1 for d in self.deadlines if d.was_met is None and d.state == DeadlineState.OPEN)

    @property
    def entries_total(self) -> int:
        return sum(k.count for k in self.entries_by_kind)

    @property
    def declared_to_resolved(self) -> timedelta | None:
        return None if self.resolved_at is None else self.resolved_at - self.declared_at


def incident_metrics(incident: Incident) -> IncidentMetrics:
    """The incident's response metrics (seven queries, whatever its size)."""
    publications = list(
        Publication.objects.filter(statement__incident=incident)
        .order_by("published_at", "pk")
        .values_list("published_at", flat=True)
    )
    versions = StatementVersion.objects.filter(statement__incident=incident).aggregate(
        revisions=Count("pk"), statements=Count("statement", distinct=True)
    )
    steps = list(
        ChainStep.objects.filter(version__statement__incident=incident)
        .select_related("version__statement")
        .only(
            "order",
            "name",
            "activated_at",
            "completed_at",
            "version__number",
            "version__statement__title",
            "version__statement__created_at",
        )
        .order_by("activated_at", "version__statement__created_at", "version__number", "order", "pk")
    )
    approvals = list(
        Approval.objects.filter(version__statement__incident=incident)
        .select_related("approver")
        .only("step_id", "decision", "decided_at", "approver__display_name", "approver__email")
        .order_by("decided_at", "pk")
    )
    deadlines = list(
        Deadline.objects.filter(incident=incident)
        .exclude(state=DeadlineState.CANCELLED)
        .order_by("original_due_at", "pk")
    )
    kinds = dict(
        TimelineEntry.objects.filter(incident=incident)
        .values_list("kind")
        .annotate(n=Count("pk"))
        .values_list("kind", "n")
    )
    # A compressed drill promised its updates as much sooner (Incident.scaled).
    cadence = incident.scaled(timedelta(minutes=policy_for(incident.severity).update_cadence_minutes))

    activated = {s.pk: s.activated_at for s in steps}
    by_step: dict[int, list[ApproverDecision]] = {}
    per_person: dict[int, tuple[str, list[timedelta]]] = {}
    counts: dict[int, int] = {}
    for a in approvals:
        start = activated.get(a.step_id)
        took = a.decided_at - start if start is not None else None
        name = str(a.approver)
        by_step.setdefault(a.step_id, []).append(
            ApproverDecision(a.approver_id, name, a.decision, a.decided_at, took)
        )
        times = per_person.setdefault(a.approver_id, (name, []))[1]
        counts[a.approver_id] = counts.get(a.approver_id, 0) + 1
        if took is not None:
            times.append(took)

    gaps = [later - earlier for earlier, later in itertools.pairwise(publications)]
    if publications and incident.resolved_at is not None and incident.resolved_at > publications[-1]:
        gaps.append(incident.resolved_at - publications[-1])

    first = publications[0] if publications else None
    return IncidentMetrics(
        is_drill=incident.is_drill,
        detected_at=incident.detected_at,
        declared_at=incident.declared_at,
        resolved_at=incident.resolved_at,
        detected_to_declared=incident.declared_at - incident.detected_at,
        first_published_at=first,
        declared_to_first_statement=(first - incident.declared_at) if first is not None else None,
        publications=len(publications),
        statements=versions["statements"],
        statement_revisions=versions["revisions"],
        steps=tuple(
            StepMetric(
                statement_title=s.version.statement.title,
                version_number=s.version.number,
                order=s.order,
                name=s.name,
                activated_at=s.activated_at,
                completed_at=s.completed_at,
                decisions=tuple(by_step.get(s.pk, ())),
            )
            for s in steps
        ),
        approvers=tuple(
            sorted(
                (
                    ApproverMetric(
                        user_id=uid,
                        name=name,
                        decisions=counts[uid],
                        median_time=_median(times),
                        longest_time=max(times) if times else None,
                    )
                    for uid, (name, times) in per_person.items()
                ),
                key=lambda m: m.name.casefold(),
            )
        ),
        deadlines=tuple(
            DeadlineMetric(
                title=d.title,
                kind=d.kind,
                kind_label=d.get_kind_display(),
                due_at=d.due_at,
                original_due_at=d.original_due_at,
                completed_at=d.completed_at,
                state=d.state,
                was_met=d.was_met,
            )
            for d in deadlines
        ),
        cadence=CadenceMetric(cadence=cadence, gaps=tuple(gaps)),
        entries_by_kind=tuple(
            KindCount(kind, str(label), kinds[kind])
            for kind, label in TimelineEntry.Kind.choices
            if kind in kinds
        ),
    )


def _median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    # statistics.median on timedeltas averages the middle pair for even counts, which timedelta supports.
    return median(values)  # type: ignore[type-var]


def format_duration(value: timedelta | None) -> str:
    """“2 h 05 min”, “45 min”, “3 d 4 h”, “40 s”; an em dash when there is nothing to measure."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    if minutes:
        return f"{sign}{minutes} min" + (f" {secs:02d} s" if secs and minutes < 10 else "")
    return f"{sign}{secs} s"
