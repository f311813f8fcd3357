"""The two doors to an incident: what a user may list, and fetching one incident for one action.

Every incident-scoped view goes through `get_incident_for`, so visibility is decided in one place:
an incident the user may not see is a 404 (its existence is not leaked), one they may see but not act on
is a 403.

Rules (README, "Design decisions"):
- unrestricted incidents are visible to every active user; restricted ones only to their team;
- acting needs a per-incident permission, granted by the roles a person holds in that incident's team
  (django-guardian rows on IncidentUserObjectPermission, written only by the team services);
- model-wide permissions and superuser status grant nothing here, on purpose.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.http import Http404

from incidents.models import Incident, IncidentQuerySet, IncidentUserObjectPermission, OrgRole, Perm, User


def visible_incidents(user: User) -> IncidentQuerySet:
    """Incidents `user` may see: every unrestricted one, and restricted ones whose team they are on."""
    if not user.is_active:
        return Incident.objects.none()
    on_team = IncidentUserObjectPermission.objects.filter(
        content_object=OuterRef("pk"), user=user, permission__codename=Perm.VIEW
    )
    return Incident.objects.filter(Q(is_restricted=False) | Exists(on_team))


def incident_perms(user: User, incident: Incident) -> frozenset[str]:
    """The user's per-incident permission codenames (one query; roles held now, nothing else)."""
    if not user.is_active:
        return frozenset()
    return frozenset(
        IncidentUserObjectPermission.objects.filter(user=user, content_object=incident).values_list(
            "permission__codename", flat=True
        )
    )


def get_incident_for(user: User, code: UUID, action: Perm = Perm.VIEW, *, people: bool = True) -> Incident:
    """Fetch an incident for one action: 404 when invisible, 403 when visible but not allowed.

    One query answers all three questions (does it exist, may this user see it, what may they do): the
    user's permission codenames come back as an array beside the row. Same rules as `visible_incidents`
    and `incident_perms`; `people=False` skips joining the declarer and commander for fragments that
    never show them (the live composer, the timeline pages).

    The result carries `viewer_perms`, so templates and views can show what the user may do without
    asking again.
    """
    if not user.is_active:
        raise Http404("No such incident.")
    codenames = ArraySubquery(
        IncidentUserObjectPermission.objects.filter(content_object=OuterRef("pk"), user=user).values(
            "permission__codename"
        )
    )
    base = Incident.objects.filter(code=code).order_by()
    if people:
        base = base.select_related("declared_by", "commander")
    incident = next(iter(base.annotate(viewer_codenames=codenames)[:1]), None)
    # The annotation lands in the instance dict; the stubs cannot type a per-query attribute.
    perms = frozenset(incident.__dict__["viewer_codenames"] or ()) if incident is not None else frozenset()
    if incident is None or (incident.is_restricted and Perm.VIEW not in perms):
        raise Http404("No such incident.")
    incident.viewer_perms = perms
    if action is not Perm.VIEW and action not in perms:
        raise PermissionDenied("Your role in this incident does not allow that.")
    return incident


def may_declare(user: User) -> bool:
    return user.is_active and user.org_role in (OrgRole.ADMINISTRATOR, OrgRole.CRISIS_MANAGER)
