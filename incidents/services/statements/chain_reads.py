"""The reads behind every statement card, the room's statements panel, the approvals queue and the statement
page, written out as SQL.

Re-fetched by every open page whenever a statement moves (issue #15's flow: ~30 re-fetches per statement),
they cost more to build through the ORM than to run — ~0.8 ms of Python per query against ~0.2 ms in
PostgreSQL — so, as `permissions._INCIDENT_WITH_CODENAMES` does for the incident, they are written out once
and their rows turned into model instances with `Model.from_db`. Column lists come from the models' own
fields, so a new field is read without touching this file. tests/test_statements_selectors.py checks them
against what the ORM answers.

May import models only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar
from uuid import UUID

from django.db import connection, models

from incidents.models import (
    Approval,
    ChainStep,
    Incident,
    IncidentRole,
    Perm,
    Statement,
    StatementStatus,
    StatementVersion,
    User,
)

M = TypeVar("M", bound=models.Model)


def _columns(model: type[models.Model], alias: str) -> tuple[list[str], str]:
    fields = list(model._meta.concrete_fields)
    return [f.attname for f in fields], ", ".join(f'{alias}."{f.column}"' for f in fields)


_STEP_NAMES, _STEP_COLS = _columns(ChainStep, "s")
_ROLE_NAMES, _ROLE_COLS = _columns(IncidentRole, "r")
_APPROVAL_NAMES, _APPROVAL_COLS = _columns(Approval, "a")
_USER_NAMES, _USER_COLS = _columns(User, "u")
_VERSION_NAMES, _VERSION_COLS = _columns(StatementVersion, "v")
_STATEMENT_NAMES, _STATEMENT_COLS = _columns(Statement, "st")
_INCIDENT_NAMES, _INCIDENT_COLS = _columns(Incident, "i")

# An incident's statements with their current versions and those versions' authors, newest change first —
# `Statement.objects.filter(incident=…).for_panel()`; with a code, only that statement and its variants.
_PANEL_SQL = f"""
    SELECT {_STATEMENT_COLS}, {_VERSION_COLS}, {_USER_COLS}
    FROM incidents_statement AS st
    LEFT JOIN incidents_statementversion AS v ON v.id = st.current_version_id
    LEFT JOIN incidents_user AS u ON u.id = v.author_id
    WHERE st.incident_id = %(incident)s {{only}}
    ORDER BY st.updated_at DESC, st.id DESC
"""
_ALL = _PANEL_SQL.format(only="")
_ONE = _PANEL_SQL.format(only="AND st.code = %(code)s")
_ONE_WITH_VARIANTS = _PANEL_SQL.format(
    only="AND (st.code = %(code)s OR st.master_id IN (SELECT m.id FROM incidents_statement AS m WHERE m.code = %(code)s))"
)

# Each step of these versions with its role, whether the viewer holds that role now in the step's incident,
# and each of its decisions with the person who made it (a step without one: a row of nulls) — steps in
# order, decisions in the order they were made: what the ORM path read in three queries.
_CHAIN_SQL = f"""
    SELECT {_STEP_COLS}, {_ROLE_COLS}, {_APPROVAL_COLS}, {_USER_COLS},
        EXISTS (
            SELECT 1 FROM incidents_roleassignment AS ra
            JOIN incidents_statementversion AS sv ON sv.id = s.version_id
            JOIN incidents_statement AS st ON st.id = sv.statement_id
            WHERE ra.user_id = %(viewer)s AND ra.role_id = s.role_id AND ra.incident_id = st.incident_id
                AND ra.ended_at IS NULL
        ) AS viewer_holds_role
    FROM incidents_chainstep AS s
    LEFT JOIN incidents_incidentrole AS r ON r.id = s.role_id
    LEFT JOIN incidents_approval AS a ON a.step_id = s.id
    LEFT JOIN incidents_user AS u ON u.id = a.approver_id
    WHERE s.version_id = ANY(%(versions)s)
    ORDER BY s.version_id, s."order", a.decided_at, a.id
"""


def _build(model: type[M], names: list[str], values: Sequence[Any]) -> M:
    return model.from_db(connection.alias, names, list(values))


def read_chains(version_ids: Sequence[int], viewer_id: int) -> tuple[list[ChainStep], list[Approval]]:
    """The steps (ordered) and decisions of these versions, as `ChainStep.objects.select_related("role")` and
    `Approval.objects.select_related("approver")` would give them; each step also carries
    `viewer_holds_role`."""
    steps: dict[int, ChainStep] = {}
    decisions: list[Approval] = []
    n_step, n_role, n_approval = len(_STEP_NAMES), len(_ROLE_NAMES), len(_APPROVAL_NAMES)
    with connection.cursor() as cursor:
        cursor.execute(_CHAIN_SQL, {"viewer": viewer_id, "versions": list(version_ids)})
        for row in cursor.fetchall():
            step = steps.get(row[0])
            if step is None:
                step = _build(ChainStep, _STEP_NAMES, row[:n_step])
                if step.role_id is not None:
                    step.role = _build(IncidentRole, _ROLE_NAMES, row[n_step : n_step + n_role])
                step.viewer_holds_role = bool(row[-1])  # type: ignore[attr-defined]
                steps[step.pk] = step
            at = n_step + n_role
            if row[at] is None:  # no decision on this step yet
                continue
            approval = _build(Approval, _APPROVAL_NAMES, row[at : at + n_approval])
            approval.approver = _build(User, _USER_NAMES, row[at + n_approval : -1])
            decisions.append(approval)
    decisions.sort(key=lambda a: a.decided_at)
    return list(steps.values()), decisions


def read_panel(incident_id: int, code: UUID | None = None, *, variants: bool = True) -> list[Statement]:
    """The room panel's statements (with `code`: that statement and, unless `variants=False`, its variants),
    each with its current version and that version's author, as `for_panel()` gives them."""
    found: list[Statement] = []
    params: dict[str, Any] = {"incident": incident_id, "code": code}
    sql = _ALL if code is None else _ONE_WITH_VARIANTS if variants else _ONE
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            found.append(_statement_with_version(row))
    return found


def _statement_with_version(row: Sequence[Any]) -> Statement:
    """A row that starts with the statement, version and user columns: the statement with its
    current version and that version's author (what follows them is the caller's)."""
    at, till = len(_STATEMENT_NAMES), len(_STATEMENT_NAMES) + len(_VERSION_NAMES)
    statement = _build(Statement, _STATEMENT_NAMES, row[:at])
    if statement.current_version_id is not None:
        version = _build(StatementVersion, _VERSION_NAMES, row[at:till])
        version.author = _build(User, _USER_NAMES, row[till : till + len(_USER_NAMES)])
        statement.current_version = version
    return statement


# The statements in review in every incident where the viewer may approve, or where they are on the team as
# someone's backup, oldest change first, each with its incident, current version and author, and whether the
# viewer may approve there — what selectors.awaiting asked the ORM for.
_AWAITING_SQL = f"""
    WITH approve_in AS (
        SELECT p.content_object_id AS id
        FROM incidents_incidentuserobjectpermission AS p
        JOIN auth_permission AS ap ON ap.id = p.permission_id
        WHERE p.user_id = %(viewer)s AND ap.codename = %(approve)s
    ), backup_in AS (
        SELECT ra.incident_id AS id
        FROM incidents_roleassignment AS ra
        WHERE ra.backup_id = %(viewer)s AND ra.ended_at IS NULL AND ra.incident_id IN (
            SELECT p.content_object_id FROM incidents_incidentuserobjectpermission AS p WHERE p.user_id = %(viewer)s
        )
    )
    SELECT {_STATEMENT_COLS}, {_VERSION_COLS}, {_USER_COLS}, {_INCIDENT_COLS},
        st.incident_id IN (SELECT id FROM approve_in) AS viewer_approves
    FROM incidents_statement AS st
    JOIN incidents_incident AS i ON i.id = st.incident_id
    LEFT JOIN incidents_statementversion AS v ON v.id = st.current_version_id
    LEFT JOIN incidents_user AS u ON u.id = v.author_id
    WHERE st.status = %(in_review)s
        AND (st.incident_id IN (SELECT id FROM approve_in) OR st.incident_id IN (SELECT id FROM backup_in))
    ORDER BY st.updated_at, st.id
"""


def read_awaiting(viewer_id: int) -> list[Statement]:
    """The statements that may wait for the viewer's decision (selectors.awaiting decides which do), each
    with its incident, its current version and that version's author, and `viewer_approves`."""
    found: list[Statement] = []
    skip = len(_STATEMENT_NAMES) + len(_VERSION_NAMES) + len(_USER_NAMES)
    params: dict[str, Any] = {
        "viewer": viewer_id,
        "approve": Perm.APPROVE.value,
        "in_review": StatementStatus.IN_REVIEW.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(_AWAITING_SQL, params)
        for row in cursor.fetchall():
            statement = _statement_with_version(row)
            statement.incident = _build(Incident, _INCIDENT_NAMES, row[skip:-1])
            statement.viewer_approves = bool(row[-1])  # type: ignore[attr-defined]
            found.append(statement)
    return found


# For each statement (its id and current number): the last version the viewer approved, rejected or commented
# on (GREATEST skips nulls: null only when they did neither), and the version a diff starts from — that one
# if older than the current, else the one before the current when they never reviewed any.
_REVIEWED_SQL = f"""
    WITH seen AS (
        SELECT s.id, s.number, GREATEST(
            (SELECT MAX(v.number) FROM incidents_approval AS a
                JOIN incidents_statementversion AS v ON v.id = a.version_id
                WHERE a.approver_id = %(viewer)s AND v.statement_id = s.id),
            (SELECT MAX(v.number) FROM incidents_versioncomment AS c
                JOIN incidents_statementversion AS v ON v.id = c.version_id
                WHERE c.author_id = %(viewer)s AND v.statement_id = s.id)
        ) AS last
        FROM unnest(%(statements)s::bigint[], %(numbers)s::bigint[]) AS s(id, number)
    )
    SELECT seen.id, seen.last, {_VERSION_COLS}
    FROM seen
    LEFT JOIN incidents_statementversion AS v ON v.statement_id = seen.id AND v.number = CASE
        WHEN seen.last IS NULL THEN seen.number - 1
        WHEN seen.last < seen.number THEN seen.last
    END
"""


def read_reviewed(
    current: dict[int, int], viewer_id: int
) -> dict[int, tuple[int | None, StatementVersion | None]]:
    """By statement id (`current`: statement id → current version number): the last version number the
    viewer reviewed (None: none) and the version their diff starts from (None: no diff)."""
    result: dict[int, tuple[int | None, StatementVersion | None]] = {}
    params: dict[str, Any] = {
        "viewer": viewer_id,
        "statements": list(current),
        "numbers": list(current.values()),
    }
    with connection.cursor() as cursor:
        cursor.execute(_REVIEWED_SQL, params)
        for statement_id, last, *version in cursor.fetchall():
            base = _build(StatementVersion, _VERSION_NAMES, version) if version[0] is not None else None
            result[statement_id] = (last, base)
    return result
