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
from django.utils.translation import gettext as _

from incidents.models import Incident, IncidentQuerySet, IncidentUserObjectPermission, OrgRole, Perm, User


def visible_incidents(user: User) -> IncidentQuerySet:
    """Incidents `user` may see: every unrestricted one, and restricted ones whose team they are on.

    The visibility rule as a filter, for lists; `get_incident_for` decides the same for one incident from
    the codenames it fetches. tests/test_visibility.py holds both (and the events process's own check) to
    one matrix of cases."""
    if not user.is_active:
        return Incident.objects.none()
    on_team = IncidentUserObjectPermission.objects.filter(
        content_object=OuterRef("pk"), user=user, permission__codename=Perm.VIEW
    )
    return Incident.objects.filter(Q(is_restricted=False) | Exists(on_team))


def open_incidents_for_listing(user: User) -> list[Incident]:
    """The open incidents `user` may see, with what the dashboard rows show (`IncidentQuerySet.for_listing`):
    `visible_incidents(user).open().for_listing()` written out as SQL (`_OPEN_FOR_LISTING`), because building
    that ORM query cost more than running it (~3.5 of ~11 ms at 2,000 incidents, bench `pages`). Newest
    first. Each carries `viewer_roles`: the [name, is_command] of every role the user holds in it now (empty
    when none). tests/test_visibility.py holds both to the same answer on every case of the matrix."""
    if not user.is_active:
        return []
    params = {"user_id": user.pk, "view": Perm.VIEW.value, "archived": list(Incident.ARCHIVED_STATUSES)}
    incidents = list(Incident.objects.raw(_OPEN_FOR_LISTING, params))
    attach_commanders(incidents)
    for incident in incidents:
        incident.__dict__["viewer_roles"] = incident.__dict__["viewer_roles"] or []
    return incidents


def attach_commanders(incidents: list[Incident]) -> None:
    """Give each incident read by a `*_FOR_LISTING` query its commander (name and e-mail only), as
    `select_related("commander")` would, from the `commander_display_name`/`commander_email` columns."""
    people: dict[int, User] = {}
    for incident in incidents:
        row = incident.__dict__
        if incident.commander_id is None:
            continue
        person = people.get(incident.commander_id)
        if person is None:
            person = User(
                pk=incident.commander_id,
                display_name=row["commander_display_name"],
                email=row["commander_email"],
            )
            people[incident.commander_id] = person
        incident.commander = person


# The columns of `IncidentQuerySet.LISTING_FIELDS` and the commander's name (and e-mail, its fallback).
LISTING_COLUMNS = """
    i.id, i.code, i.reference, i.title, i.scenario, i.severity, i.status, i.declared_at, i.resolved_at,
    i.is_drill, i.is_restricted, i.commander_id, i.summary, i.current_summary,
    c.display_name AS commander_display_name, c.email AS commander_email
"""

# `visible_incidents(user).open().for_listing()`: unrestricted, or the user holds the view permission on it;
# with the roles the user holds in it now (`RoleAssignment.objects.current()`, in their order), for the
# dashboard's "My incidents", as a JSON list of [name, is_command].
_OPEN_FOR_LISTING = f"""
    SELECT {LISTING_COLUMNS}, (
        SELECT json_agg(json_build_array(r.name, r.is_command) ORDER BY r.sort_order, a.started_at)
        FROM incidents_roleassignment AS a
        JOIN incidents_incidentrole AS r ON r.id = a.role_id
        WHERE a.incident_id = i.id AND a.user_id = %(user_id)s AND a.ended_at IS NULL
    ) AS viewer_roles
    FROM incidents_incident AS i
    LEFT JOIN incidents_user AS c ON c.id = i.commander_id
    WHERE NOT (i.status = ANY(%(archived)s))
      AND (NOT i.is_restricted OR EXISTS (
        SELECT 1
        FROM incidents_incidentuserobjectpermission AS p
        JOIN auth_permission AS ap ON ap.id = p.permission_id
        WHERE p.content_object_id = i.id AND p.user_id = %(user_id)s AND ap.codename = %(view)s
      ))
    ORDER BY i.declared_at DESC
"""


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
    user's permission codenames (what `incident_perms` reads) come back as an array beside the row.
    `people=False` skips joining the declarer and commander for fragments that never show them (the live
    composer, the timeline pages) and runs the same query written out as SQL (`_INCIDENT_WITH_CODENAMES`).

    The result carries `viewer_perms`, so templates and views can show what the user may do without
    asking again.
    """
    if not user.is_active:
        raise Http404(_("No such incident."))
    if people:
        found = Incident.objects.filter(code=code).order_by().annotate(viewer_codenames=_codenames(user.pk))
        incident = next(iter(found.select_related("declared_by", "commander")[:1]), None)
    else:
        params = {"user_id": user.pk, "code": code}
        incident = next(iter(Incident.objects.raw(_INCIDENT_WITH_CODENAMES, params)), None)
    # The annotation lands in the instance dict; the stubs cannot type a per-query attribute.
    perms = frozenset(incident.__dict__["viewer_codenames"] or ()) if incident is not None else frozenset()
    # The rule of `visible_incidents`, for this one incident: unrestricted, or the user is on its team.
    if incident is None or (incident.is_restricted and Perm.VIEW not in perms):
        raise Http404(_("No such incident."))
    incident.viewer_perms = perms
    if action is not Perm.VIEW and action not in perms:
        raise PermissionDenied(_("Your role in this incident does not allow that."))
    return incident


def _codenames(user_id: int) -> ArraySubquery:
    return ArraySubquery(
        IncidentUserObjectPermission.objects.filter(content_object=OuterRef("pk"), user_id=user_id).values(
            "permission__codename"
        )
    )


# The people=False query: the incident with this code and the codenames the user holds on it, as the ORM
# path above asks it. Written out because building the ORM query costs more than running it (~0.6 of
# ~1 ms), and it is on every timeline post and page. tests/test_visibility.py checks that both paths give
# the same answer on every case of the visibility matrix.
_INCIDENT_WITH_CODENAMES = """
    SELECT i.*, ARRAY(
        SELECT ap.codename
        FROM incidents_incidentuserobjectpermission AS p
        JOIN auth_permission AS ap ON ap.id = p.permission_id
        WHERE p.content_object_id = i.id AND p.user_id = %(user_id)s
    ) AS viewer_codenames
    FROM incidents_incident AS i
    WHERE i.code = %(code)s
"""


def may_declare(user: User) -> bool:
    return user.is_active and user.org_role in (OrgRole.ADMINISTRATOR, OrgRole.CRISIS_MANAGER)
