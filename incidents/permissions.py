"""The two doors to an incident: what a user may list, and fetching one incident for one action.

Every incident-scoped view goes through `get_incident_for`, so visibility is decided in one place:
an incident the user may not see is a 404 (its existence is not leaked), one they may see but not act on
is a 403.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404

from incidents.models import Incident, IncidentQuerySet, OrgRole, User


class Action(StrEnum):
    VIEW = "view"
    CHANGE_STATUS = "change_status"


def visible_incidents(user: User) -> IncidentQuerySet:
    """Incidents `user` may see: every unrestricted one, and restricted ones they declared or command."""
    if not user.is_active:
        return Incident.objects.none()
    return Incident.objects.filter(Q(is_restricted=False) | Q(declared_by=user) | Q(commander=user))


def can(user: User, action: Action, incident: Incident) -> bool:
    if action is Action.VIEW:
        return True  # callers only hold incidents that came through visible_incidents()
    if action is Action.CHANGE_STATUS:
        return user.pk in (incident.declared_by_id, incident.commander_id) or user.org_role in (
            OrgRole.ADMINISTRATOR,
            OrgRole.CRISIS_MANAGER,
        )
    raise ValueError(action)


def get_incident_for(user: User, code: UUID, action: Action = Action.VIEW) -> Incident:
    incident = visible_incidents(user).select_related("declared_by", "commander").filter(code=code).first()
    if incident is None:
        raise Http404("No such incident.")
    if not can(user, action, incident):
        raise PermissionDenied("Your role in this incident does not allow that.")
    return incident
