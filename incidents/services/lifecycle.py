"""The incident lifecycle: declare, change status, change severity, set when the organisation became aware.

May import models, rules, permissions, hooks and the team, timeline, notify and deadline services; sub-apps
hear about changes through `incidents.hooks` (a resolution opens the review in the reviews app).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents import live
from incidents.hooks import incident_aware_changed, incident_resolved
from incidents.models import (
    DrillSpeed,
    Incident,
    IncidentChange,
    IncidentRole,
    InvalidTransition,
    Notification,
    RoleAssignment,
    Severity,
    Status,
    TimelineEntry,
    User,
)
from incidents.models.errors import InputRefused, Refused
from incidents.permissions import incident_perms
from incidents.rules import may_change_restriction, may_change_status
from incidents.services.deadlines import on_declared, on_severity_changed, on_status_changed
from incidents.services.notify import in_language_of, notify
from incidents.services.team import assign_command, assign_role
from incidents.services.timeline import organisation_language, timeline_record
from incidents.timetext import stamp


def _with_note(text: str, note: str) -> str:
    """The change's words, then the note as the person typed it (their words are not translated). Called
    inside organisation_language(), like the text it extends."""
    note = note.strip()
    return _("%(change)s — “%(note)s”") % {"change": text, "note": note} if note else text


class StaleEdit(Refused):
    """Someone else changed the row since the user loaded it; nothing was written."""

    def __init__(self, message: str, *, current: Incident) -> None:
        super().__init__(message)
        self.current = current


@transaction.atomic
def incident_declare(
    *,
    actor: User,
    title: str,
    scenario: str,
    severity: str,
    summary: str = "",
    affected_platforms: Iterable[str] = (),
    detected_at: datetime | None = None,
    is_drill: bool = False,
    is_restricted: bool = False,
    commander: User | None = None,
    drill_speed: int | None = None,
) -> Incident:
    """Open a new incident. The declaring user commands it unless they name someone else. A drill may run
    faster than real time (`drill_speed`: 1, 5, 10 or 30); a real incident never does."""
    speed = int(drill_speed or DrillSpeed.REAL)
    if speed not in DrillSpeed.values:
        raise InputRefused(_("Choose a drill speed of ×1, ×5, ×10 or ×30."))
    if speed != DrillSpeed.REAL and not is_drill:
        raise InputRefused(_("Only a drill can run faster than real time; a real incident keeps real times."))
    now = timezone.now()
    detected = min(detected_at or now, now)
    incident = Incident.objects.create(
        reference=Incident.next_reference(timezone.localtime(now, timezone.get_default_timezone()).year),
        title=title.strip(),
        summary=summary.strip(),
        scenario=scenario,
        severity=severity,
        affected_platforms=list(dict.fromkeys(affected_platforms)),
        detected_at=detected,
        declared_at=now,
        declared_by=actor,
        commander=commander or actor,
        status_changed_at=now,
        is_drill=is_drill,
        is_restricted=is_restricted,
        drill_speed=speed,
    )
    commander = commander or actor
    with organisation_language():  # stored once, read by everyone
        values = {
            "severity": incident.get_severity_display(),
            "scenario": incident.get_scenario_display(),
            "speed": speed,
        }
        if speed != DrillSpeed.REAL:
            text = _("Drill declared at ×%(speed)s: %(severity)s · %(scenario)s") % values
        elif is_drill:
            text = _("Drill declared: %(severity)s · %(scenario)s") % values
        else:
            text = _("Declared: %(severity)s · %(scenario)s") % values
        if is_restricted:
            text = _("%(declared)s · restricted to the team") % {"declared": text}
        timeline_record(incident=incident, kind=TimelineEntry.Kind.STATUS, actor=actor, text=text)
    assign_command(incident=incident, commander=commander, actor=actor)
    if commander.pk != actor.pk:
        # Whoever declared stays in the room to help, as deputy; the named commander is told at once.
        assign_role(incident=incident, actor=actor, user=actor, role=IncidentRole.objects.get(slug="deputy"))
        with in_language_of(commander):
            text = _("%(actor)s declared %(ref)s “%(title)s” and named you incident commander.") % {
                "actor": actor,
                "ref": incident.reference,
                "title": incident.title,
            }
        notify(
            user=commander,
            incident=incident,
            text=text,
            url=incident.room_url,
            key=f"declared-commander:{incident.pk}",
        )
    on_declared(incident, actor)  # the first public response is due by the severity's SLA
    return incident


def _lock(incident: Incident, actor: User) -> Incident:
    """The incident row, locked (two people clicking at once: the second waits, then re-checks), once the
    actor may still change it: their roles cannot change while we hold it (team changes lock it too)."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    may_change_status.check(perms=incident_perms(actor, locked))
    return locked


@transaction.atomic
def incident_change_status(
    *, incident: Incident, actor: User, new_status: str, expected_status: str | None = None, note: str = ""
) -> Incident:
    """Move the incident along its lifecycle.

    `expected_status` is the status the user was looking at; if a colleague moved the incident meanwhile,
    StaleEdit is raised instead of silently applying a decision made on outdated information. The actor
    must be allowed to (`rules.may_change_status`), checked under the lock.
    """
    locked = _lock(incident, actor)
    if expected_status is not None and locked.status != expected_status:
        raise StaleEdit(
            _(
                "The status was changed to %(status)s while you were looking. Nothing was changed; check the "
                "new status and try again."
            )
            % {"status": locked.get_status_display().lower()},
            current=locked,
        )
    locked.ensure_can_move_to(new_status)
    now = timezone.now()
    old_status = locked.status
    locked.status = new_status
    locked.status_changed_at = now
    fields = ["status", "status_changed_at", "updated_at"]
    if new_status == Status.RESOLVED:
        locked.resolved_at = now
        fields.append("resolved_at")
        for receiver in incident_resolved:  # the reviews app opens the post-incident review
            receiver(incident=locked, actor=actor)
    elif new_status == Status.CLOSED:
        locked.closed_at = now
        fields.append("closed_at")
    elif old_status == Status.RESOLVED:  # reopened: the earlier resolution no longer holds
        locked.resolved_at = None
        fields.append("resolved_at")
    locked.save(update_fields=fields)
    IncidentChange.objects.create(
        incident=locked,
        field=IncidentChange.Field.STATUS,
        old_value=old_status,
        new_value=new_status,
        note=note.strip(),
        changed_by=actor,
        changed_at=now,
    )
    with organisation_language():  # stored once, read by everyone
        text = _("Status: %(old)s → %(new)s") % {
            "old": Status(old_status).label,
            "new": Status(new_status).label,
        }
        timeline_record(
            incident=locked, kind=TimelineEntry.Kind.STATUS, actor=actor, text=_with_note(text, note)
        )
    on_status_changed(locked, actor, old_status)  # review due, open deadlines ended
    live.incident_changed(locked.pk)
    return locked


@transaction.atomic
def incident_change_severity(
    *,
    incident: Incident,
    actor: User,
    new_severity: str,
    expected_severity: str | None = None,
    note: str = "",
) -> Incident:
    """Change the severity of an open incident; as for the status, `expected_severity` is what the user saw
    and the actor must be allowed to (`rules.may_change_status`)."""
    locked = _lock(incident, actor)
    if new_severity not in Severity.values:
        raise InvalidTransition(_("“%(severity)s” is not a severity.") % {"severity": new_severity})
    if not locked.is_open:
        raise InvalidTransition(_("A resolved or closed incident keeps the severity it ended with."))
    if expected_severity is not None and locked.severity != expected_severity:
        raise StaleEdit(
            _(
                "The severity was changed to %(severity)s while you were looking. Nothing was changed; check "
                "it and try again."
            )
            % {"severity": locked.get_severity_display()},
            current=locked,
        )
    if new_severity == locked.severity:
        raise InvalidTransition(
            _("The incident is already %(severity)s.") % {"severity": locked.get_severity_display()}
        )
    old = locked.severity
    locked.severity = new_severity
    locked.save(update_fields=["severity", "updated_at"])
    IncidentChange.objects.create(
        incident=locked,
        field=IncidentChange.Field.SEVERITY,
        old_value=old,
        new_value=new_severity,
        note=note.strip(),
        changed_by=actor,
    )
    with organisation_language():  # stored once, read by everyone
        text = _("Severity: %(old)s → %(new)s") % {
            "old": Severity(old).label,
            "new": Severity(new_severity).label,
        }
        timeline_record(
            incident=locked, kind=TimelineEntry.Kind.SEVERITY, actor=actor, text=_with_note(text, note)
        )
    on_severity_changed(locked)  # a policy-derived first response follows the new SLA
    live.incident_changed(locked.pk)
    return locked


@transaction.atomic
def incident_change_restriction(
    *,
    incident: Incident,
    actor: User,
    restricted: bool,
    reason: str,
    expected_restricted: bool | None = None,
) -> Incident:
    """Restrict the incident to its team, or lift that, after declaration. Only its commander may
    (`rules.may_change_restriction`, under the lock), with a reason; it goes on the timeline and into the
    change log. Restricting ends, within the request's commit, the streams of everyone not on the team (the
    events processes re-check every stream of the incident) and takes away their notifications about it,
    as leaving the team does. `expected_restricted` is what the user saw: a mismatch is a StaleEdit."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    may_change_restriction.check(
        actor=actor, perms=incident_perms(actor, locked), commander_id=locked.commander_id
    )
    why = reason.strip()
    if not why:
        raise InputRefused(_("Give a reason: the team sees it on the timeline."))
    if expected_restricted is not None and locked.is_restricted != expected_restricted:
        raise StaleEdit(
            _(
                "The restriction was changed while you were looking. Nothing was changed; check it and "
                "try again."
            ),
            current=locked,
        )
    if locked.is_restricted == restricted:
        raise InvalidTransition(
            _("The incident is already restricted to its team.")
            if restricted
            else _("The incident is already visible to everyone.")
        )
    locked.is_restricted = restricted
    locked.save(update_fields=["is_restricted", "updated_at"])
    IncidentChange.objects.create(
        incident=locked,
        field=IncidentChange.Field.RESTRICTION,
        old_value="restricted" if not restricted else "open",
        new_value="restricted" if restricted else "open",
        note=why,
        changed_by=actor,
    )
    with organisation_language():  # stored once, read by everyone
        text = (
            _("Restricted to the team — “%(reason)s”")
            if restricted
            else _("Restriction lifted: visible to everyone — “%(reason)s”")
        ) % {"reason": why}
        timeline_record(incident=locked, kind=TimelineEntry.Kind.STATUS, actor=actor, text=text)
    if restricted:
        team = RoleAssignment.objects.current().filter(incident=locked).values("user_id")
        Notification.objects.filter(incident=locked).exclude(recipient__in=team).delete()
        live.publish_incident_revocation_on_commit(incident_id=locked.pk)
    live.incident_changed(locked.pk)
    return locked


@transaction.atomic
def incident_set_aware_at(*, incident: Incident, actor: User, aware_at: datetime | None) -> Incident:
    """Set when the organisation became aware (None: back to the detection time). Regulatory clocks count
    from it (GDPR Art. 33: 72 hours), so sub-apps move theirs (hooks.incident_aware_changed). Needs
    `rules.may_change_status`, under the lock; it goes on the timeline."""
    locked = _lock(incident, actor)
    now = timezone.now()
    if aware_at is not None:
        if timezone.is_naive(aware_at):
            raise InvalidTransition(_("Give the time with its time zone."))
        if aware_at > now + timedelta(minutes=1):
            raise InvalidTransition(_("The organisation cannot have become aware in the future."))
        if aware_at < locked.detected_at - timedelta(days=366):
            raise InvalidTransition(_("That is more than a year before detection; check the date."))
    if aware_at == locked.aware_at:
        raise InvalidTransition(_("That is already the time recorded."))
    locked.aware_at = aware_at
    locked.save(update_fields=["aware_at", "updated_at"])
    with organisation_language():  # stored once, read by everyone
        text = (
            _("%(actor)s recorded when the organisation became aware: %(at)s.")
            % {"actor": actor, "at": stamp(aware_at)}
            if aware_at
            else _("%(actor)s recorded when the organisation became aware: the detection time (%(at)s).")
            % {"actor": actor, "at": stamp(locked.detected_at)}
        )
        timeline_record(incident=locked, kind=TimelineEntry.Kind.STATUS, actor=actor, text=text)
    for receiver in incident_aware_changed:  # the playbooks app moves the regulatory clocks
        receiver(incident=locked, actor=actor)
    return locked
