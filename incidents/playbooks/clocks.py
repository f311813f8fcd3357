"""Regulatory clocks: started when an incident is declared from a playbook that has them, moved when the time
the organisation became aware changes, stopped when the notification is made (with its reference).

Each running clock is a deadline of kind "regulatory" (reminded and escalated like any other, and not ended
by closing the incident) plus an `IncidentClock` row that keeps what the playbook said and the reference.
May import models, this app's models and the base app's deadline and timeline services.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.models import DeadlineKind, Incident, InputRefused, Refused, TimelineEntry, User
from incidents.playbooks.models import ClockStart, IncidentClock, PlaybookVersion
from incidents.services.checklist import NewDeadline, deadlines_create
from incidents.services.deadlines import deadline_complete, deadline_rebase
from incidents.services.timeline import organisation_language, timeline_record


def _clock_text(clock: IncidentClock, actor: User, reference: str, *, late: bool) -> str:
    """The timeline's words for a notification made, in the active language (the organisation's)."""
    values = {"actor": actor, "name": clock.name, "authority": clock.authority, "reference": reference}
    if clock.authority:
        if late:
            return (
                _(
                    "%(actor)s recorded “%(name)s” to %(authority)s: reference %(reference)s — after the deadline; "
                    "the notification must give the reasons for the delay."
                )
                % values
            )
        return _("%(actor)s recorded “%(name)s” to %(authority)s: reference %(reference)s.") % values
    if late:
        return (
            _(
                "%(actor)s recorded “%(name)s”: reference %(reference)s — after the deadline; the notification "
                "must give the reasons for the delay."
            )
            % values
        )
    return _("%(actor)s recorded “%(name)s”: reference %(reference)s.") % values


def _due(incident: Incident, hours: int, starts: str) -> datetime:
    start = incident.became_aware_at if starts == ClockStart.AWARE else incident.declared_at
    return start + incident.scaled(timedelta(hours=hours))  # a compressed drill's clocks run faster too


def start_clocks(*, incident: Incident, version: PlaybookVersion, actor: User) -> list[IncidentClock]:
    """At declaration (inside its transaction): one deadline and one IncidentClock per playbook clock."""
    clocks = list(version.clocks.select_related("role"))
    deadlines = deadlines_create(
        incident=incident,
        kind=DeadlineKind.REGULATORY,
        items=[
            NewDeadline(
                key=f"clock:{clock.pk}",
                title=f"{clock.name}{f' ({clock.basis})' if clock.basis else ''}",
                due_at=_due(incident, clock.hours, clock.starts),
                role=clock.role,
                notes=clock.notes,
            )
            for clock in clocks
        ],
        actor=actor,
    )
    return IncidentClock.objects.bulk_create(
        IncidentClock(
            incident=incident,
            source=clock,
            name=clock.name,
            authority=clock.authority,
            basis=clock.basis,
            hours=clock.hours,
            starts=clock.starts,
            deadline=deadline,
        )
        for clock, deadline in zip(clocks, deadlines, strict=True)
    )


def follow_awareness(*, incident: Incident, actor: User) -> None:
    """hooks.incident_aware_changed: the clocks counted from awareness move with it (still open ones)."""
    for clock in IncidentClock.objects.filter(incident=incident, notified_at__isnull=True).select_related(
        "deadline"
    ):
        if clock.counts_from_awareness and clock.deadline.is_open:
            deadline_rebase(deadline=clock.deadline, due_at=_due(incident, clock.hours, clock.starts))


@transaction.atomic
def clock_notified(
    *, clock: IncidentClock, actor: User, reference: str, notified_at: datetime | None = None
) -> IncidentClock:
    """The notification was made: record its reference; the deadline is done (whoever answers for it, or
    manages deadlines, may — `deadline_complete` asks that rule under the incident's lock)."""
    reference = " ".join(reference.split())
    if not reference:
        raise InputRefused(
            _("Give the authority's reference (case or receipt number); it is what proves the notification.")
        )
    if len(reference) > 200:
        raise InputRefused(_("Keep the reference under 200 characters."))
    now = timezone.now()
    notified_at = notified_at or now
    if notified_at > now + timedelta(minutes=1):
        raise InputRefused(_("Record the notification once it has been made."))
    locked = IncidentClock.objects.select_for_update().select_related("deadline", "incident").get(pk=clock.pk)
    if locked.is_done:
        raise Refused(
            _("“%(name)s” was already recorded, reference %(reference)s.")
            % {"name": locked.name, "reference": locked.reference}
        )
    deadline_complete(deadline=locked.deadline, actor=actor)
    locked.reference = reference
    locked.notified_at = notified_at
    locked.notified_by = actor
    locked.save(update_fields=["reference", "notified_at", "notified_by"])
    with organisation_language():  # stored once, read by everyone
        text = _clock_text(locked, actor, reference, late=notified_at > locked.deadline.due_at)
        timeline_record(incident=locked.incident, kind=TimelineEntry.Kind.STATUS, actor=actor, text=text)
    return locked
