"""Every multi-row listening change is one keyword-only function in these modules (alerts, queue, moderation,
watches, sources, drills), called alike by views, tasks, the admin and the demo."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from incidents.models import Incident, Perm, User
from incidents.permissions import incident_perms, may_declare


class ListeningError(Exception):
    """A refused change; the message is shown to the user as is. Nothing was changed."""


class Conflict(ListeningError):
    """The thing changed since the person looked at it (a stale click); nothing was changed."""


def require_incident_perm(actor: User, incident: Incident, perm: Perm) -> None:
    """Checked inside the service, after its locks, from the roles the person holds now."""
    if perm not in incident_perms(actor, incident):
        raise PermissionDenied(_("Your role in this incident does not allow that."))


def require_manager(actor: User) -> None:
    if not may_declare(actor):
        raise PermissionDenied(_("Only crisis managers and administrators may do that."))


def require_for_mention(actor: User, incident: Incident | None, perm: Perm = Perm.POST) -> None:
    """An incident's mentions are its team's to act on; organisation-wide mentions are the crisis managers'."""
    if incident is not None:
        require_incident_perm(actor, incident, perm)
    else:
        require_manager(actor)
