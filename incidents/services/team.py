"""Team changes: add people, give and take roles, hand over, name backups, leave.

Each change locks the incident row (team changes to one incident are serialised), closes or opens
RoleAssignment rows (history is never rewritten), re-derives the person's guardian permissions from the
roles they now hold, records a TeamEvent for the timeline, and tells the people concerned. Who may make
a change (`incidents.rules`) is checked under that lock. May import models, rules, permissions, live and
the notify and timeline services.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents import live
from incidents.models import (
    Incident,
    IncidentRole,
    IncidentUserObjectPermission,
    Notification,
    Perm,
    RoleAssignment,
    TeamEvent,
    TimelineEntry,
    User,
)
from incidents.models.errors import Refused
from incidents.permissions import incident_perms
from incidents.rules import may_change_assignment, may_manage_team
from incidents.services.notify import Message, in_language_of, notification_for, notify, notify_all
from incidents.services.timeline import organisation_language, timeline_record, timeline_record_many


class TeamError(Refused):
    """A team change that is not allowed; the message is shown to the user as is. Nothing was changed."""


def _state(incident: Incident) -> str:
    """ " Now: <the living summary's first line>", once the commander keeps one: what someone called in
    needs to know first."""
    if not (incident.summary_version and incident.current_summary):
        return ""
    return " " + _("Now: %(state)s") % {"state": incident.state_line}


def _lock(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _locked_assignment(incident: Incident, assignment: RoleAssignment, actor: User) -> RoleAssignment:
    """The assignment as it stands under the lock, once the actor may still change it (its holder, or a
    team manager)."""
    current = RoleAssignment.objects.select_related("role", "user").get(pk=assignment.pk, incident=incident)
    may_change_assignment.check(actor=actor, perms=incident_perms(actor, incident), assignment=current)
    return current


def sync_permissions(*, incident: Incident, user: User) -> frozenset[str]:
    """Make the user's guardian rows on this incident exactly the union of the roles they hold now."""
    roles = IncidentRole.objects.filter(
        assignments__incident=incident, assignments__user=user, assignments__ended_at__isnull=True
    )
    desired: set[str] = set()
    for role in roles:
        desired |= role.perms()
    rows = IncidentUserObjectPermission.objects.filter(user=user, content_object=incident)
    current = set(rows.values_list("permission__codename", flat=True))
    if current - desired:
        rows.filter(permission__codename__in=current - desired).delete()
        if Perm.VIEW in current and Perm.VIEW not in desired:
            # Open live streams re-check this person now instead of at their next periodic check.
            live.publish_revocation_on_commit(incident_id=incident.pk, user_id=user.pk)
            if incident.is_restricted:
                # Their notifications name the incident; losing access to it takes those away too.
                Notification.objects.filter(recipient=user, incident=incident).delete()
    if desired - current:
        permissions = Permission.objects.filter(
            content_type__app_label="incidents", codename__in=desired - current
        )
        IncidentUserObjectPermission.objects.bulk_create(
            IncidentUserObjectPermission(user=user, permission=p, content_object=incident)
            for p in permissions
        )
    return frozenset(desired)


def _current(incident: Incident, user: User) -> list[RoleAssignment]:
    return list(RoleAssignment.objects.current().filter(incident=incident, user=user).select_related("role"))


def _event(incident: Incident, kind: str, *, actor: User, subject: User, **extra: object) -> TeamEvent:
    event = TeamEvent.objects.create(incident=incident, kind=kind, actor=actor, subject=subject, **extra)
    other = extra.get("other")
    live.team_changed(incident.pk, [subject.pk, *([other.pk] if isinstance(other, User) else [])])
    _record(incident, event, actor)
    return event


def _record(incident: Incident, event: TeamEvent, actor: User) -> None:
    """The team change's timeline entry."""
    with organisation_language():  # stored once, read by everyone
        timeline_record(incident=incident, kind=TimelineEntry.Kind.TEAM, actor=actor, text=_entry_text(event))


def _entry_text(event: TeamEvent) -> str:
    """The entry's words, in the active language (the caller makes it the organisation's)."""
    text = _describe(event)
    if event.note:  # as the person typed it
        text = _("%(change)s — “%(note)s”") % {"change": text, "note": event.note}
    return text


def _describe(event: TeamEvent) -> str:
    """The team change in the active language (the caller makes it the organisation's): whole sentences, so
    a translation can order the names as its grammar needs. Role names are the organisation's own data."""
    values = {"subject": event.subject, "other": event.other, "role": event.role.name if event.role else ""}
    match event.kind:
        case TeamEvent.Kind.HANDOVER:
            if event.role is None:
                return _("%(subject)s handed over to %(other)s") % values
            return _("%(subject)s handed over %(role)s to %(other)s") % values
        case TeamEvent.Kind.BACKUP_SET:
            if event.other is None:
                return _("nobody is now %(subject)s's backup as %(role)s") % values
            return _("%(other)s is now %(subject)s's backup as %(role)s") % values
        case TeamEvent.Kind.ROLE_ASSIGNED:
            return _("%(subject)s is now %(role)s") % values
        case TeamEvent.Kind.ROLE_REMOVED:
            return _("%(subject)s is no longer %(role)s") % values
        case TeamEvent.Kind.JOINED:
            return _("%(subject)s added to the team") % values
        case TeamEvent.Kind.LEFT:
            return _("%(subject)s left the team") % values
        case _:
            return _("%(subject)s removed from the team") % values


def assign_command(*, incident: Incident, commander: User, actor: User, note: str = "") -> RoleAssignment:
    """Open the first command assignment of a newly declared incident (see lifecycle.incident_declare)."""
    role = IncidentRole.objects.get(is_command=True)
    assignment = RoleAssignment.objects.create(
        incident=incident, user=commander, role=role, is_command=True, started_by=actor, start_note=note
    )
    sync_permissions(incident=incident, user=commander)
    return assignment


@transaction.atomic
def assign_role(
    *,
    incident: Incident,
    actor: User,
    user: User,
    role: IncidentRole,
    backup: User | None = None,
    note: str = "",
) -> RoleAssignment:
    """Give `user` a role in the incident (adding them to the team if they were not on it), as part of a
    change whose own rule allows it: declaring staffs the new incident (services.lifecycle, the playbooks
    app). A person adding someone from the team panel goes through `team_add_member`."""
    return _assign(_lock(incident), actor=actor, user=user, role=role, backup=backup, note=note)


@transaction.atomic
def team_add_member(
    *,
    incident: Incident,
    actor: User,
    user: User,
    role: IncidentRole,
    backup: User | None = None,
    note: str = "",
) -> RoleAssignment:
    """Give `user` a role in the incident (adding them to the team if they were not on it). The actor must
    manage the team (`rules.may_manage_team`), now."""
    locked = _lock(incident)
    may_manage_team.check(perms=incident_perms(actor, locked))
    return _assign(locked, actor=actor, user=user, role=role, backup=backup, note=note)


def _assign(
    incident: Incident, *, actor: User, user: User, role: IncidentRole, backup: User | None, note: str
) -> RoleAssignment:
    held = _current(incident, user)
    _check_assign(user, role, backup, holds_it=any(a.role_id == role.pk for a in held))
    assignment = RoleAssignment.objects.create(
        incident=incident, user=user, role=role, backup=backup, started_by=actor, start_note=note.strip()
    )
    sync_permissions(incident=incident, user=user)
    kind = TeamEvent.Kind.ROLE_ASSIGNED if held else TeamEvent.Kind.JOINED
    event = _event(incident, kind, actor=actor, subject=user, role=role, note=note.strip())
    _tell_assigned(incident, event)
    return assignment


def _check_assign(user: User, role: IncidentRole, backup: User | None, *, holds_it: bool) -> None:
    if not user.is_active:
        raise TeamError(_("%(user)s has no active account.") % {"user": user})
    if role.is_command:
        raise TeamError(
            _("Command changes hands only by a handover, so there is always exactly one commander.")
        )
    if holds_it:
        raise TeamError(_("%(user)s is already %(name)s.") % {"user": user, "name": role.name})
    if backup is not None and backup.pk == user.pk:
        raise TeamError(_("Nobody can be their own backup."))


def _tell_assigned(incident: Incident, event: TeamEvent) -> None:
    """Tell the person given a role (joined: added to the team with it), unless they gave it themselves."""
    notify_all(_assigned_messages(incident, [event]))


def _assigned_messages(incident: Incident, events: Sequence[TeamEvent]) -> list[Message]:
    messages = []
    for event in events:
        user, actor, role = event.subject, event.actor, event.role
        if user.pk == actor.pk or role is None:
            continue
        values = {"actor": actor, "ref": incident.reference, "title": incident.title, "role": role.name}
        with in_language_of(user):
            text = (
                _("%(actor)s added you to %(ref)s “%(title)s” as %(role)s.")
                if event.kind == TeamEvent.Kind.JOINED
                else _("%(actor)s gave you a role in %(ref)s “%(title)s” as %(role)s.")
            ) % values + _state(incident)
        messages.append(
            notification_for(
                user=user,
                incident=incident,
                text=text,
                url=incident.room_url,
                key=f"team-event:{event.pk}:{user.pk}",
            )
        )
    return messages


@dataclass(frozen=True)
class Staffing:
    """One role to give (`team_staff`): the person, the role, their backup."""

    user: User
    role: IncidentRole
    backup: User | None = None


@transaction.atomic
def team_staff(
    *, incident: Incident, actor: User, picks: Sequence[Staffing], note: str = ""
) -> tuple[list[RoleAssignment], list[str]]:
    """Give several people roles at once, as `assign_role` would one after another — the same assignments,
    permissions, team events, timeline entries and notifications — in a fixed number of queries (a team of
    four: 52 queries one by one, 13 so). A pick `assign_role` would
    refuse is skipped, with its reason in the second list; the others go ahead. As part of a change whose own
    rule allows it: declaring staffs the new incident (the playbooks app)."""
    incident = _lock(incident)
    held = set(RoleAssignment.objects.current().filter(incident=incident).values_list("user_id", "role_id"))
    on_team = {user_id for user_id, _role in held}
    skipped: list[str] = []
    accepted: list[tuple[Staffing, bool]] = []  # the pick, and whether it adds the person to the team
    for pick in picks:
        try:
            _check_assign(pick.user, pick.role, pick.backup, holds_it=(pick.user.pk, pick.role.pk) in held)
        except TeamError as refused:
            skipped.append(str(refused))
            continue
        accepted.append((pick, pick.user.pk not in on_team))
        held.add((pick.user.pk, pick.role.pk))
        on_team.add(pick.user.pk)
    if not accepted:
        return [], skipped
    note = note.strip()
    assignments = RoleAssignment.objects.bulk_create(
        RoleAssignment(
            incident=incident, user=p.user, role=p.role, backup=p.backup, started_by=actor, start_note=note
        )
        for p, _joined in accepted
    )
    _grant(incident, {p.user.pk for p, _joined in accepted})
    events = TeamEvent.objects.bulk_create(
        TeamEvent(
            incident=incident,
            kind=TeamEvent.Kind.JOINED if joined else TeamEvent.Kind.ROLE_ASSIGNED,
            actor=actor,
            subject=p.user,
            role=p.role,
            note=note,
        )
        for p, joined in accepted
    )
    live.team_changed(incident.pk, [p.user.pk for p, _joined in accepted])
    with organisation_language():  # stored once, read by everyone
        texts = [_entry_text(event) for event in events]
    timeline_record_many(incident=incident, kind=TimelineEntry.Kind.TEAM, actor=actor, texts=texts)
    notify_all(_assigned_messages(incident, events))
    return assignments, skipped


def _grant(incident: Incident, user_ids: set[int]) -> None:
    """`sync_permissions` for people who only gained roles (so nothing is taken away), in four queries
    whoever they are."""
    desired: dict[int, set[str]] = {}
    for held in (
        RoleAssignment.objects.current()
        .filter(incident=incident, user_id__in=user_ids)
        .select_related("role")
    ):
        desired.setdefault(held.user_id, set()).update(held.role.perms())
    have = set(
        IncidentUserObjectPermission.objects.filter(
            content_object=incident, user_id__in=user_ids
        ).values_list("user_id", "permission__codename")
    )
    missing = [
        (user_id, code) for user_id, codes in desired.items() for code in codes if (user_id, code) not in have
    ]
    if not missing:
        return
    permissions = {
        p.codename: p
        for p in Permission.objects.filter(
            content_type__app_label="incidents", codename__in={code for _user, code in missing}
        )
    }
    IncidentUserObjectPermission.objects.bulk_create(
        IncidentUserObjectPermission(user_id=user_id, permission=permissions[code], content_object=incident)
        for user_id, code in sorted(missing)
    )


@transaction.atomic
def team_remove_role(*, incident: Incident, actor: User, assignment: RoleAssignment, note: str = "") -> None:
    """End one role assignment (not command: that is handed over). The actor must manage the team."""
    incident = _lock(incident)
    may_manage_team.check(perms=incident_perms(actor, incident))
    assignment = RoleAssignment.objects.select_related("role", "user").get(
        pk=assignment.pk, incident=incident
    )
    if not assignment.is_current:
        raise TeamError(_("That role assignment has already ended."))
    if assignment.is_command:
        raise TeamError(_("The commander cannot be removed; hand command over to someone else instead."))
    _end(assignment, actor=actor, note=note)
    user = assignment.user
    remaining = sync_permissions(incident=incident, user=user)
    _event(
        incident,
        TeamEvent.Kind.ROLE_REMOVED,
        actor=actor,
        subject=user,
        role=assignment.role,
        note=note.strip(),
    )
    if not remaining:
        _event(incident, TeamEvent.Kind.REMOVED, actor=actor, subject=user, note=note.strip())


@transaction.atomic
def team_handover(
    *,
    incident: Incident,
    actor: User,
    assignment: RoleAssignment,
    to_user: User,
    note: str = "",
    stay_as: IncidentRole | None = None,
) -> RoleAssignment:
    """Pass a role (command included) from its holder to `to_user`; both keep any other roles.

    `stay_as` gives the outgoing holder a role to stay on in (e.g. Observer after handing over command),
    so handing over does not silently cost them access to a restricted incident. The actor must hold the
    role or manage the team (`rules.may_change_assignment`), now.
    """
    incident = _lock(incident)
    assignment = _locked_assignment(incident, assignment, actor)
    if not assignment.is_current:
        raise TeamError(_("That role has already been handed over or ended."))
    if to_user.pk == assignment.user_id:
        raise TeamError(_("%(to_user)s already holds this role.") % {"to_user": to_user})
    if not to_user.is_active:
        raise TeamError(_("%(to_user)s has no active account.") % {"to_user": to_user})
    if any(a.role_id == assignment.role_id for a in _current(incident, to_user)):
        raise TeamError(
            _("%(to_user)s is already %(name)s.") % {"to_user": to_user, "name": assignment.role.name}
        )
    _end(assignment, actor=actor, note=note)
    successor = RoleAssignment.objects.create(
        incident=incident,
        user=to_user,
        role=assignment.role,
        is_command=assignment.is_command,
        backup=assignment.backup if assignment.backup_id != to_user.pk else None,
        started_by=actor,
        start_note=note.strip(),
    )
    if assignment.is_command:
        incident.commander = to_user
        incident.save(update_fields=["commander", "updated_at"])
    if (
        stay_as is not None
        and not stay_as.is_command
        and stay_as.pk not in {a.role_id for a in _current(incident, assignment.user)}
    ):
        RoleAssignment.objects.create(
            incident=incident,
            user=assignment.user,
            role=stay_as,
            started_by=actor,
            start_note=note.strip(),
        )
        _event(incident, TeamEvent.Kind.ROLE_ASSIGNED, actor=actor, subject=assignment.user, role=stay_as)
    sync_permissions(incident=incident, user=assignment.user)
    sync_permissions(incident=incident, user=to_user)
    event = _event(
        incident,
        TeamEvent.Kind.HANDOVER,
        actor=actor,
        subject=assignment.user,
        other=to_user,
        role=assignment.role,
        note=note.strip(),
    )
    with in_language_of(to_user):
        text = _("%(from)s handed %(role)s of %(ref)s “%(title)s” to you.") % {
            "from": assignment.user,
            "role": assignment.role.name,
            "ref": incident.reference,
            "title": incident.title,
        }
        if note.strip():
            text += " " + _("Note: “%(note)s”") % {"note": note.strip()}
        text += _state(incident)
    notify(
        user=to_user,
        incident=incident,
        text=text,
        url=incident.room_url,
        key=f"team-event:{event.pk}:{to_user.pk}",
    )
    return successor


@transaction.atomic
def team_set_backup(
    *, incident: Incident, actor: User, assignment: RoleAssignment, backup: User | None
) -> None:
    """Name (or clear) the backup of one role assignment; the holder or a team manager may."""
    incident = _lock(incident)
    assignment = _locked_assignment(incident, assignment, actor)
    if not assignment.is_current:
        raise TeamError(_("That role assignment has ended."))
    if backup is not None and backup.pk == assignment.user_id:
        raise TeamError(_("Nobody can be their own backup."))
    if backup is not None and not backup.is_active:
        raise TeamError(_("%(backup)s has no active account.") % {"backup": backup})
    assignment.backup = backup
    assignment.save(update_fields=["backup"])
    _event(
        incident,
        TeamEvent.Kind.BACKUP_SET,
        actor=actor,
        subject=assignment.user,
        other=backup,
        role=assignment.role,
    )


@transaction.atomic
def team_leave(*, incident: Incident, actor: User, note: str = "") -> None:
    """Leave the team: every role the actor holds ends now, and with it their access to a restricted incident."""
    incident = _lock(incident)
    held = _current(incident, actor)
    if not held:
        raise TeamError(_("You are not on this incident's team."))
    if any(a.is_command for a in held):
        raise TeamError(_("Hand command over before leaving: an incident always has a commander."))
    for assignment in held:
        _end(assignment, actor=actor, note=note)
    sync_permissions(incident=incident, user=actor)
    _event(incident, TeamEvent.Kind.LEFT, actor=actor, subject=actor, note=note.strip())


def _end(assignment: RoleAssignment, *, actor: User, note: str) -> None:
    assignment.ended_at = timezone.now()
    assignment.ended_by = actor
    assignment.end_note = note.strip()
    assignment.save(update_fields=["ended_at", "ended_by", "end_note"])


@transaction.atomic
def role_resync_holders(*, role: IncidentRole) -> int:
    """After the catalogue changes a role's permissions, re-derive them for everyone holding it now."""
    holders = RoleAssignment.objects.current().filter(role=role).select_related("incident", "user")
    pairs = {(a.incident_id, a.user_id): a for a in holders}
    for assignment in pairs.values():
        sync_permissions(incident=assignment.incident, user=assignment.user)
    return len(pairs)
