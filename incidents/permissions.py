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

import functools
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
    if people:
        base = _with_codenames(user.pk, code).select_related("declared_by", "commander")
        incident = next(iter(base[:1]), None)
    else:
        # The hot path (every timeline post and page): the same query, compiled once per process.
        sql, params = _lean_query(user.pk, code)
        incident = next(iter(Incident.objects.raw(sql, params)), None)
    # The annotation lands in the instance dict; the stubs cannot type a per-query attribute.
    perms = frozenset(incident.__dict__["viewer_codenames"] or ()) if incident is not None else frozenset()
    if incident is None or (incident.is_restricted and Perm.VIEW not in perms):
        raise Http404("No such incident.")
    incident.viewer_perms = perms
    if action is not Perm.VIEW and action not in perms:
        raise PermissionDenied("Your role in this incident does not allow that.")
    return incident


def _with_codenames(user_id: int, code: UUID) -> IncidentQuerySet:
    codenames = ArraySubquery(
        IncidentUserObjectPermission.objects.filter(content_object=OuterRef("pk"), user_id=user_id).values(
            "permission__codename"
        )
    )
    return Incident.objects.filter(code=code).order_by().annotate(viewer_codenames=codenames)


_PROBE_USER, _PROBE_CODE = -1_000_001, UUID(int=1_000_001)


@functools.cache
def _lean_sql() -> tuple[str, tuple[object, ...], int, int]:
    """`_with_codenames(…)[:1]` as SQL, compiled from the ORM once: building it costs more than running it
    (~0.6 of ~1 ms). Probe values mark where the user and the code go among the parameters."""
    sql, params = _with_codenames(_PROBE_USER, _PROBE_CODE)[:1].query.sql_with_params()
    return sql, tuple(params), params.index(_PROBE_USER), params.index(_PROBE_CODE)


def _lean_query(user_id: int, code: UUID) -> tuple[str, list[object]]:
    sql, probe, user_at, code_at = _lean_sql()
    params = list(probe)
    params[user_at], params[code_at] = user_id, code
    return sql, params


def may_declare(user: User) -> bool:
    return user.is_active and user.org_role in (OrgRole.ADMINISTRATOR, OrgRole.CRISIS_MANAGER)
