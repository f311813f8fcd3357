"""What the events process asks PostgreSQL: replay, and authorise (its statement of the visibility rule).
May import psycopg, Django settings, and incidents.models inside functions (names only; no ORM queries)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import psycopg
from django.conf import settings
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import PoolTimeout

# What a failed statement raises: the server, the pool (no connection to be had) or the socket.
DB_ERRORS: Final = (psycopg.Error, PoolTimeout, OSError)


@dataclass(frozen=True)
class Statements:
    replay: sql.Composed
    authorise: sql.Composed


@cache
def statements() -> Statements:
    from django.contrib.auth.models import Permission

    from incidents.models import Incident, IncidentUserObjectPermission, TimelineEntry, User

    def table(model: Any) -> sql.Identifier:
        return sql.Identifier(model._meta.db_table)

    def column(model: Any, field: str) -> sql.Identifier:
        return sql.Identifier(model._meta.get_field(field).column)

    replay = sql.SQL(
        "SELECT seq, html, is_privileged FROM {entries} "
        "WHERE {incident} = %s AND seq > %s ORDER BY seq LIMIT %s"
    ).format(entries=table(TimelineEntry), incident=column(TimelineEntry, "incident"))
    # Mirrors incidents.permissions.visible_incidents: active, and the incident is unrestricted or the user
    # holds view_incident on it (is on its team). Returns the allowed pairs with the incident's newest seq
    # (the safety tick) and whether the user is on the team (privileged entries).
    authorise = sql.SQL(
        """
        SELECT s.user_id, s.incident_id, i.timeline_seq, t.on_team
        FROM unnest(%s::bigint[], %s::bigint[]) AS s(user_id, incident_id)
        JOIN {users} u ON u.id = s.user_id
        JOIN {incidents} i ON i.id = s.incident_id
        CROSS JOIN LATERAL (SELECT EXISTS (
            SELECT 1 FROM {perms} p JOIN {auth_perms} ap ON ap.id = p.{perm}
            WHERE p.{user} = s.user_id AND p.{obj} = s.incident_id AND ap.codename = 'view_incident'
        )) AS t(on_team)
        WHERE u.is_active AND (NOT i.is_restricted OR t.on_team)
        """
    ).format(
        users=table(User),
        incidents=table(Incident),
        perms=table(IncidentUserObjectPermission),
        auth_perms=table(Permission),
        perm=column(IncidentUserObjectPermission, "permission"),
        user=column(IncidentUserObjectPermission, "user"),
        obj=column(IncidentUserObjectPermission, "content_object"),
    )
    return Statements(replay=replay, authorise=authorise)


# Keys of settings.DATABASES[...]["OPTIONS"] that are Django's, not libpq's.
_DJANGO_DB_OPTIONS = frozenset(
    {"pool", "isolation_level", "server_side_binding", "assume_role", "cursor_factory", "context"}
)


def conninfo() -> str:
    db = settings.DATABASES["default"]
    params: dict[str, Any] = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,  # may be a unix-socket directory; libpq takes either
        "port": db.get("PORT") or None,
    }
    for key, value in (db.get("OPTIONS") or {}).items():
        if key not in _DJANGO_DB_OPTIONS and isinstance(value, str | int):
            params[key] = value
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})
