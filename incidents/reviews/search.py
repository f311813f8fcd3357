"""The archive of past incidents: filters, keyset pages, and PostgreSQL full-text search.

Text-search configuration: 'english', named explicitly in every expression. An explicit configuration is
what makes `to_tsvector` IMMUTABLE and so indexable (the one-argument form depends on the session's
`default_text_search_config`). 'english' rather than 'simple' because the records are written in English
and people search for what they remember, not the exact word form: "refunds" should find "refund", "delayed"
should find "delay", and stop words ("the", "was") should not dilute the ranking. The cost is that a search
for a stop word alone finds nothing, which the page explains.

The expressions below are exactly the ones the GIN indexes in migrations/0002_search_indexes.py were built
on; PostgreSQL only uses an expression index for the identical expression (checked by EXPLAIN in the tests).

Ranking is capped: each source (incident title and summary, timeline entries, statement versions) hands
over at most `CANDIDATE_CAP` matching rows, already restricted to archived incidents the user may see, and
only those are ranked (ts_rank re-parses each candidate's text, so this is what bounds the ranking cost),
at the price that the best-ranked row may sit outside the candidates (performance-anchors §3.4). Snippets
(`ts_headline`) are computed in the same statement for the rows shown only, and the whole search is one
query.

Entries are searched in `ENTRY_PARTITIONS` slices. A GIN index answers only with a bitmap of every matching
row, built in full before the LIMIT can stop anything: for a word in 4.5 % of 1M entries that was ~7 ms of
the ~9 ms a search took (44,000 row pointers decoded, then sorted by page). So the entries' index is split
by a hash of the entry id into partial indexes (migrations/0005), and the entries source reads the slices
one after another (UNION ALL under the LIMIT runs lazily): a common word fills its candidates from the
first slice's bitmap, an eighth of the size; a rare word looks into all eight small ones. The slices are
by entry, not by incident, so the candidates of a common word are a sample across the whole archive (one
index over the table handed over the physically first matches: the oldest incidents' entries).

Visibility: the SQL applies the rule of `visible_incidents(user)` (unrestricted, or restricted with the
user on its team) to every source, and shows legally privileged entries only to the incident's team, the
same rule the room applies. Nothing of a hidden incident reaches the result: no row, no count, no snippet
(tests/test_reviews_search.py).
"""

from __future__ import annotations

import hashlib
import html
import re
import weakref
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

from django.db import ProgrammingError, connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_lazy
from django_stubs_ext import StrOrPromise
from psycopg.errors import InvalidSqlStatementName

from incidents.models import (
    Incident,
    IncidentQuerySet,
    Perm,
    RoleAssignment,
    Scenario,
    Severity,
    User,
)
from incidents.permissions import visible_incidents

INCIDENT_DOCUMENT = (
    "to_tsvector('english'::regconfig, coalesce(i.title, '') || ' ' || coalesce(i.summary, ''))"
)
ENTRY_DOCUMENT = "to_tsvector('english'::regconfig, e.body)"
# The entries' GIN index in slices: partial index k covers the entries whose id hashes to k (migrations/0005).
ENTRY_PARTITIONS = 8


def entry_partition(k: int, alias: str = "e") -> str:
    """The predicate of the entries' partial index k, exactly as the index was created (on alias `alias`)."""
    column = f"{alias}.id" if alias else "id"
    return f"(hashint8({column}) & {ENTRY_PARTITIONS - 1}) = {k}"


# Every slice reads only the columns the search needs; the LIMIT above stops at the first slice that has
# enough candidates.
_ENTRY_SLICES = "\n                 UNION ALL ".join(
    f"(SELECT e.id, e.incident_id, e.body, e.is_privileged FROM incidents_timelineentry e, query"
    f" WHERE {entry_partition(k)} AND {ENTRY_DOCUMENT} @@ query.q)"
    for k in range(ENTRY_PARTITIONS)
)
VERSION_DOCUMENT = "to_tsvector('english'::regconfig, v.body)"

CANDIDATE_CAP = 40
RESULTS = 20
PAGE_SIZE = 50
MAX_QUERY_CHARS = 200

# Private-use characters as highlight marks: stripped from the text first, so nothing in a record can
# fake one; the headline is HTML-escaped and only these become <mark> tags.
_START, _STOP = "\ue000", "\ue001"
_HEADLINE_OPTIONS = (
    f'StartSel="{_START}", StopSel="{_STOP}", MaxWords=28, MinWords=10, ShortWord=2, '
    'MaxFragments=2, FragmentDelimiter=" … "'
)


@dataclass(frozen=True)
class ArchiveFilters:
    KINDS: ClassVar[tuple[tuple[str, StrOrPromise], ...]] = (
        ("real", gettext_lazy("Real incidents")),
        ("drill", gettext_lazy("Drills")),
    )

    q: str = ""
    scenario: str = ""
    severity: str = ""
    since: date | None = None
    until: date | None = None
    kind: str = ""  # "real", "drill" or "" (both)
    member: int | None = None
    errors: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: Any) -> ArchiveFilters:
        errors: list[str] = []
        q = " ".join(str(params.get("q", "")).split())
        if len(q) > MAX_QUERY_CHARS:
            errors.append(
                gettext("Search for at most %(n)s characters; the rest was ignored.") % {"n": MAX_QUERY_CHARS}
            )
            q = q[:MAX_QUERY_CHARS]
        scenario = params.get("scenario", "")
        severity = params.get("severity", "")
        kind = params.get("kind", "")
        since = _date(params.get("since", ""), gettext("From"), errors)
        until = _date(params.get("until", ""), gettext("To"), errors)
        if since and until and since > until:
            errors.append(gettext("The period starts after it ends; showing all dates."))
            since = until = None
        member_raw = params.get("member", "")
        member = int(member_raw) if str(member_raw).isdigit() else None
        return cls(
            q=q,
            scenario=scenario if scenario in Scenario.values else "",
            severity=severity if severity in Severity.values else "",
            since=since,
            until=until,
            kind=kind if kind in dict(cls.KINDS) else "",
            member=member,
            errors=tuple(errors),
        )

    @property
    def active(self) -> bool:
        return bool(self.scenario or self.severity or self.since or self.until or self.kind or self.member)

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """The period as aware datetimes in the viewer's zone (the `until` day is included)."""
        tz = timezone.get_current_timezone()
        start = datetime.combine(self.since, time.min, tz) if self.since else None
        end = datetime.combine(self.until + timedelta(days=1), time.min, tz) if self.until else None
        return start, end

    def incident_q(self) -> Q:
        cond = Q(status__in=Incident.ARCHIVED_STATUSES)
        if self.scenario:
            cond &= Q(scenario=self.scenario)
        if self.severity:
            cond &= Q(severity=self.severity)
        start, end = self.bounds()
        if start:
            cond &= Q(declared_at__gte=start)
        if end:
            cond &= Q(declared_at__lt=end)
        if self.kind:
            cond &= Q(is_drill=self.kind == "drill")
        if self.member:
            cond &= Q(Exists(RoleAssignment.objects.filter(incident=OuterRef("pk"), user_id=self.member)))
        return cond

    def incident_sql(self) -> tuple[str, list[Any]]:
        """The same conditions for the raw search query, on alias `i`."""
        sql = ["i.status IN ('resolved', 'closed')"]
        args: list[Any] = []
        if self.scenario:
            sql.append("i.scenario = %s")
            args.append(self.scenario)
        if self.severity:
            sql.append("i.severity = %s")
            args.append(self.severity)
        start, end = self.bounds()
        if start:
            sql.append("i.declared_at >= %s")
            args.append(start)
        if end:
            sql.append("i.declared_at < %s")
            args.append(end)
        if self.kind:
            sql.append("i.is_drill = %s")
            args.append(self.kind == "drill")
        if self.member:
            sql.append(
                "EXISTS (SELECT 1 FROM incidents_roleassignment ra WHERE ra.incident_id = i.id AND ra.user_id = %s)"
            )
            args.append(self.member)
        return " AND ".join(sql), args


def _date(raw: str, label: str, errors: list[str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(
            gettext("%(label)s: “%(value)s” is not a date (use YYYY-MM-DD); ignored.")
            % {"label": label, "value": raw[:20]}
        )
        return None


# --- archive listing -----------------------------------------------------------------------------------


@dataclass
class ArchivePage:
    incidents: list[Incident]
    next_cursor: str


def archive_page(user: User, filters: ArchiveFilters, cursor: str = "") -> ArchivePage:
    """Newest first, by keyset on (declared_at, id): no OFFSET, no COUNT; one query per page."""
    qs: IncidentQuerySet = (
        visible_incidents(user).filter(filters.incident_q()).for_listing().order_by("-declared_at", "-pk")
    )
    after = _parse_cursor(cursor)
    if after is not None:
        at, pk = after
        qs = qs.filter(Q(declared_at__lt=at) | Q(declared_at=at, pk__lt=pk))
    rows = list(qs[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    cursor_out = f"{rows[-1].declared_at.isoformat()}|{rows[-1].pk}" if more and rows else ""
    return ArchivePage(rows, cursor_out)


def _parse_cursor(raw: str) -> tuple[datetime, int] | None:
    at_raw, _, pk_raw = raw.partition("|")
    try:
        at = datetime.fromisoformat(at_raw) if at_raw else None
    except ValueError:
        return None
    if at is None or not pk_raw.isdigit() or timezone.is_naive(at):
        return None
    return at, int(pk_raw)


# --- full-text search -------------------------------------------------------------------------------


@dataclass
class Hit:
    incident: Incident
    source: str  # "incident", "entry" or "statement"
    row_id: int
    rank: float
    snippet: SafeString = field(default_factory=lambda: mark_safe(""))
    snippet_label: str = ""


@dataclass
class SearchResult:
    hits: list[Hit]
    # Matching incidents among the ranked candidates (all visible); `capped` means there may be more.
    matched: int
    capped: bool
    empty_query: bool = False


def search(user: User, filters: ArchiveFilters, *, limit: int = RESULTS) -> SearchResult:
    """Archived incidents matching `filters.q`, best first, with a highlighted snippet each. One query:
    the ranked hits with their incidents' listing fields and their snippets."""
    if not user.is_active or not filters.q:
        return SearchResult([], 0, False, empty_query=not filters.q)
    rows = _run_prepared(*search_statement(user, filters, limit=limit))
    return _result(rows)


def search_statement(user: User, filters: ArchiveFilters, *, limit: int = RESULTS) -> tuple[str, list[Any]]:
    """The search's one statement and its arguments (%s placeholders): the same text for every search with
    the same filters in use, so it is prepared once per connection (`_run_prepared`)."""
    where, where_args = filters.incident_sql()
    # The user's team (incidents where they hold the view permission), as one array computed once.
    visible = "(NOT i.is_restricted OR i.id = ANY((SELECT ids FROM team)::bigint[]))"
    sql = f"""
        WITH query AS (SELECT websearch_to_tsquery('english'::regconfig, %s) AS q),
        team AS (
            SELECT coalesce(array_agg(p.content_object_id), '{{}}') AS ids
              FROM incidents_incidentuserobjectpermission p
              JOIN auth_permission ap ON ap.id = p.permission_id
             WHERE p.user_id = %s AND ap.codename = %s
        ),
        hits AS (
            (SELECT i.id AS incident_id, 'incident' AS source, i.id AS row_id,
                    ts_rank({INCIDENT_DOCUMENT}, query.q) * 2 AS rank
               FROM incidents_incident i, query
              WHERE {INCIDENT_DOCUMENT} @@ query.q AND {visible} AND {where}
              LIMIT %s)
            UNION ALL
            (SELECT e.incident_id, 'entry', e.id, ts_rank({ENTRY_DOCUMENT}, query.q)
               FROM ({_ENTRY_SLICES}) e JOIN incidents_incident i ON i.id = e.incident_id, query
              WHERE {visible} AND {where}
                AND (NOT e.is_privileged OR e.incident_id = ANY((SELECT ids FROM team)::bigint[]))
              LIMIT %s)
            UNION ALL
            (SELECT s.incident_id, 'statement', v.id, ts_rank({VERSION_DOCUMENT}, query.q)
               FROM incidents_statementversion v
               JOIN incidents_statement s ON s.id = v.statement_id
               JOIN incidents_incident i ON i.id = s.incident_id, query
              WHERE {VERSION_DOCUMENT} @@ query.q AND {visible} AND {where}
              LIMIT %s)
        ),
        best AS (
            SELECT DISTINCT ON (incident_id) incident_id, source, row_id, rank, count(*) OVER () AS n_rows
              FROM hits ORDER BY incident_id, rank DESC, row_id DESC
        ),
        top AS (
            SELECT *, count(*) OVER () AS n_incidents FROM best ORDER BY rank DESC, incident_id DESC LIMIT %s
        )
        -- ts_headline (the expensive part) only for the rows shown.
        SELECT top.incident_id, top.source, top.row_id, top.rank, top.n_rows, top.n_incidents,
               i.code, i.reference, i.title, i.scenario, i.severity, i.status, i.declared_at, i.resolved_at,
               i.is_drill, i.is_restricted,
               ts_headline('english'::regconfig, translate(
                   CASE top.source
                       WHEN 'entry' THEN (SELECT e.body FROM incidents_timelineentry e WHERE e.id = top.row_id)
                       WHEN 'statement' THEN (
                           SELECT v.body FROM incidents_statementversion v WHERE v.id = top.row_id)
                       ELSE (SELECT coalesce(i.summary, '') FROM incidents_incident i WHERE i.id = top.row_id)
                   END, %s, ''), query.q, %s)
          FROM top JOIN incidents_incident i ON i.id = top.incident_id, query
         ORDER BY top.rank DESC, top.incident_id DESC
    """
    args: list[Any] = [filters.q, user.pk, Perm.VIEW.value]
    for _ in range(3):
        args += [*where_args, CANDIDATE_CAP]
    args += [limit, _START + _STOP, _HEADLINE_OPTIONS]
    return sql, args


# Statements already prepared, per database connection (the psycopg connection object: a new connection,
# a new session, nothing prepared). PREPARE is not undone by a rollback, so this never runs ahead of the server.
_PREPARED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _run_prepared(sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
    """Run the search as a prepared statement: PREPARE once per connection (in the same round trip as its
    first EXECUTE), then EXECUTE. Planning this statement took 1.3 to 2 ms of every search; prepared,
    PostgreSQL plans it for the first few runs and then keeps a generic plan (its shape does not depend on the
    words searched for: the indexes are GIN either way). Arguments are bound the usual way (client-side, as
    everywhere in Django's PostgreSQL backend) into the EXECUTE."""
    connection.ensure_connection()
    known = _PREPARED.setdefault(connection.connection, set())
    name = f"warroom_search_{hashlib.sha256(sql.encode()).hexdigest()[:20]}"
    call = f"EXECUTE {name}({', '.join(['%s'] * len(args))})"
    for attempt in range(2):
        first = name not in known
        known.add(name)  # PREPARE lasts for the session even if this transaction is rolled back
        try:
            with connection.cursor() as cursor:
                if first:
                    cursor.execute(f"PREPARE {name} AS {_numbered(sql)}; {call}", args)
                    cursor.nextset()  # past PREPARE's command status, to EXECUTE's rows
                else:
                    cursor.execute(call, args)
                return list(cursor.fetchall())
        except ProgrammingError as exc:
            # The session lost its prepared statements (DISCARD/DEALLOCATE ALL): prepare again, once, when this
            # is not inside someone's transaction (which the error has just aborted).
            if (
                not isinstance(exc.__cause__, InvalidSqlStatementName)
                or attempt
                or connection.in_atomic_block
            ):
                known.discard(name)
                raise
            known.clear()
    raise AssertionError("unreachable")


def _numbered(sql: str) -> str:
    """%s placeholders as PREPARE's $1, $2, … (in order; every argument is used once), other % doubled: the
    PREPARE text itself goes through the driver's parameter formatting."""
    count = iter(range(1, sql.count("%s") + 1))
    return re.sub(r"%s", lambda _: f"${next(count)}", sql.replace("%%", "%")).replace("%", "%%")


def _result(rows: list[tuple[Any, ...]]) -> SearchResult:
    if not rows:
        return SearchResult([], 0, False)
    # The rows are already limited to incidents the user may see (the same rule as `visible_incidents`,
    # checked by the leak tests); the listing fields come with them, so no second round trip.
    hits = [
        Hit(
            Incident(
                id=pk,
                code=code,
                reference=reference,
                title=title,
                scenario=scenario,
                severity=severity,
                status=status,
                declared_at=declared_at,
                resolved_at=resolved_at,
                is_drill=is_drill,
                is_restricted=is_restricted,
            ),
            source,
            row_id,
            float(rank),
            highlight(headline or ""),
            _LABELS[source],
        )
        for (
            pk,
            source,
            row_id,
            rank,
            _,
            _,
            code,
            reference,
            title,
            scenario,
            severity,
            status,
            declared_at,
            resolved_at,
            is_drill,
            is_restricted,
            headline,
        ) in rows
    ]
    return SearchResult(hits, rows[0][5], rows[0][4] >= CANDIDATE_CAP)


_LABELS = {"incident": "Summary", "entry": "Timeline", "statement": "Statement"}


def highlight(headline: str) -> SafeString:
    """Escape everything, then turn only our private marks into <mark> (XSS-safe by construction)."""
    escaped = html.escape(headline, quote=True)
    return mark_safe(escaped.replace(_START, "<mark>").replace(_STOP, "</mark>"))
