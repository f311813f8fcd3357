"""Scenario `search`: full-text search over 1,000,000 timeline entries, and the past-incidents archive
page with 5,000 incidents.

The data is generated in SQL (generate_series), not through the services: 5,000 archived incidents (every
10th a drill, every 20th restricted to a team the viewer is not on), 200 timeline entries each (1,000,000;
every 50th under legal privilege) and two statement versions each. Entry texts are ten words drawn with a
Zipf-like skew over 50,000 word ranks, the crisis vocabulary at ranks 20 to ~150 ("refund" in ~4.5 % of
entries, "courier" ~2 %, the last ones ~0.1 %), plus a rare reference token per ~10 entries and a fixed
phrase in 1 % of them, so the query set spans selective, common, multi-word, phrase, negated and missing
terms. The GIN index on entries is dropped during the bulk
insert and rebuilt after it (as a bulk load would be done), then VACUUM ANALYZE.

Search is timed in-process (the `search()` call a request makes: one statement with the team lookup,
the ranked candidates, their incidents and their snippets, prepared once per connection as in a running
server), each query of the fixed set in turn for a number of rounds; the baseline is a trivial indexed SELECT through the ORM, timed the same way in the
same run. The archive page is driven over
HTTP against the same gunicorn worker as the other scenarios, with the bare view as the baseline; its
query count is compared at 50 and at 5,000 incidents.

Targets (issue 8): search p50 ≤ 5 ms and p99 ≤ 50 ms for the fixed query set (ranking capped);
archive page server p50 ≤ 20 ms with 5,000 incidents, same number of queries as with 50.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bench.common import (
    Check,
    Context,
    Measurement,
    ScenarioResult,
    capture_sql,
    heading,
    measurement_rows,
    percentile,
    print_table,
    run_load,
    session_cookie,
    settle_database,
)

if TYPE_CHECKING:
    from incidents.models import User

NAME = "search"
DESCRIPTION = "full-text search over 1M timeline entries (p50/p99) and the archive page with 5,000 incidents"
INCIDENTS = 5_000
ENTRIES_PER_INCIDENT = 200  # 1,000,000 entries
VERSIONS_PER_INCIDENT = 2
SEARCH_P50_MS, SEARCH_P99_MS, ARCHIVE_P50_MS = 5.0, 50.0, 20.0
BARE = "/bench/bare/"


def _entry_indexes() -> list[str]:
    """The entries' full-text index slices (incidents/reviews/migrations/0005)."""
    from incidents.reviews.search import ENTRY_PARTITIONS

    return [f"reviews_entry_fts_{k}" for k in range(ENTRY_PARTITIONS)]


_WORDS = """
refund delay outage checkout payment customer video complaint store manager post thread viral reach
statement legal counsel regulator breach data password reset login app crash update delivery courier
parcel warehouse strike price error discount campaign influencer apology replacement batch defect
glue boots sole recall allergen label support queue wait phone email chat ticket escalation
executive podcast remarks journalist enquiry newspaper radio television forum reddit tiktok
instagram facebook linkedin youtube review rating star fake bot rumour misinformation fact check
screenshot leak invoice subscription cancel account locked fraud phishing domain brand logo
trademark lawsuit court fine privacy consent cookie tracking security patch vendor partner supplier
factory shipment customs weather storm flood fire evacuation safety injury hospital police arrest
suspension investigation timeline decision action owner deadline holding draft approve publish
monitor sentiment volume spike
"""
VOCABULARY = tuple(_WORDS.split())

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("ref4242", {}),  # one rare token: ~10 entries
    ("courier strike", {}),
    ("refund", {}),  # a common word
    ("refund delay", {}),  # two common words
    ('"payment provider confirms"', {}),  # a phrase in 1 % of entries
    ("regulator -breach", {}),
    ("recall allergen label", {}),
    ("flamingoes", {}),  # in nothing
    ("refund", {"severity": "sev1"}),
    ("phishing domain", {"kind": "real"}),
]


def _people() -> dict[str, User]:
    from incidents.models import OrgRole, User

    people = {
        key: User.objects.create_user(
            f"{key}@search.bench.example",
            "bench-password-1234",
            display_name=name,
            org_role=OrgRole.CRISIS_MANAGER,
            time_zone="Europe/Warsaw",
        )
        for key, name in [("viewer", "Vera Viewer"), ("other", "Otto Other"), ("member", "Mia Member")]
    }
    return people


def _generate(people: dict[str, User], count: int, *, entries: bool) -> float:
    """Incidents (and, with `entries`, their timeline and statements) in SQL; returns seconds taken."""
    from django.db import connection, transaction

    from incidents.models import IncidentRole

    started = time.monotonic()
    observer = IncidentRole.objects.get(slug="observer").pk
    viewer, other, member = people["viewer"].pk, people["other"].pk, people["member"].pk
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM incidents_incident")
        (base,) = cur.fetchone()
        cur.execute(
            """
            INSERT INTO incidents_incident (code, reference, title, summary, scenario, severity, status,
                affected_platforms, detected_at, declared_at, status_changed_at, resolved_at, closed_at,
                is_drill, is_restricted, updated_at, commander_id, declared_by_id, timeline_seq,
                public_label, drill_speed, current_summary, summary_version)
            SELECT gen_random_uuid(), 'SRCH-' || lpad((%(base)s + g)::text, 6, '0'),
                   (ARRAY['Viral thread about','Complaints about','Journalist enquiry on','Rumour about'])[1 + g %% 4]
                     || ' ' || (ARRAY['double charges at checkout','delayed deliveries','a data leak',
                        'the spring campaign','a product recall','the app outage','a pricing error',
                        'a phishing site'])[1 + g %% 8] || ' (#' || g || ')',
                   'Posts are spreading; facts are being checked before anything is said publicly.',
                   (ARRAY['outage','data_breach','controversial_post','complaint','conduct','misinformation',
                          'legal','other'])[1 + g %% 8],
                   (ARRAY['sev1','sev2','sev3','sev3','sev4'])[1 + g %% 5],
                   CASE WHEN g %% 3 = 0 THEN 'resolved' ELSE 'closed' END, '{}',
                   now() - g * interval '3 hours' - interval '40 minutes',
                   now() - g * interval '3 hours',
                   now() - g * interval '3 hours' + interval '2 days',
                   now() - g * interval '3 hours' + interval '1 day',
                   CASE WHEN g %% 3 = 0 THEN NULL ELSE now() - g * interval '3 hours' + interval '2 days' END,
                   g %% 10 = 3, g %% 20 = 7, now(), %(other)s, %(other)s, 0, '', 1, '', 0
              FROM generate_series(1, %(count)s) g
            """,
            {"base": base, "count": count, "other": other},
        )
        # The member filter's person held a role in every 7th incident.
        cur.execute(
            """
            INSERT INTO incidents_roleassignment (is_command, started_at, start_note, end_note, incident_id,
                role_id, started_by_id, user_id)
            SELECT false, i.declared_at, '', '', i.id, %s, %s, %s
              FROM incidents_incident i WHERE i.id > %s AND i.id %% 7 = 0
            """,
            [observer, other, member, base],
        )
        if entries:
            _entries(cur, base, count, other)
        del viewer
    return time.monotonic() - started


def _entries(cur: Any, base: int, count: int, author: int) -> None:
    total = count * ENTRIES_PER_INCIDENT
    words = "ARRAY[" + ",".join(f"'{w}'" for w in VOCABULARY) + "]"
    # Word ranks are Zipf-like (log-uniform over 50,000 ranks): the crisis vocabulary sits at ranks 20 to
    # 19 + n, so "refund" is in ~4 % of entries and the last domain words in ~0.1 %; the other ranks are
    # filler words ("w7", "w31337"), the first ones very common, most rare.
    cur.execute(
        f"""
        CREATE FUNCTION pg_temp.bench_word() RETURNS text LANGUAGE sql VOLATILE AS $$
            SELECT CASE WHEN r BETWEEN 20 AND {19 + len(VOCABULARY)} THEN ({words})[r - 19] ELSE 'w' || r END
              FROM (SELECT floor(exp(random() * ln(50000)))::int AS r) AS s
        $$
        """
    )
    pick = "pg_temp.bench_word()"
    cur.execute("SELECT setseed(0.2026)")
    for name in _entry_indexes():
        cur.execute(f"DROP INDEX IF EXISTS {name}")
    cur.execute(
        f"""
        INSERT INTO incidents_timelineentry (incident_id, seq, kind, body, occurred_at, recorded_at,
            is_privileged, html, idempotency_key, author_id)
        SELECT %(base)s + 1 + g %% %(count)s, 1 + g / %(count)s,
               (ARRAY['note','decision','action','external','evidence'])[1 + g %% 5],
               CASE WHEN g %% 100 = 1 THEN 'Payment provider confirms a retry storm. ' ELSE '' END
                 || {pick} || ' ' || {pick} || ' ' || {pick} || ' ' || {pick} || ' ' || {pick} || ' '
                 || {pick} || ' ' || {pick} || ' ' || {pick} || ' ' || {pick} || ' ' || {pick}
                 || ' ref' || (g %% 100000),
               now() - (g %% %(count)s) * interval '3 hours' + (g / %(count)s) * interval '1 minute',
               now() - (g %% %(count)s) * interval '3 hours' + (g / %(count)s) * interval '1 minute',
               g %% 50 = 0, '', '', %(author)s
          FROM generate_series(0, %(total)s - 1) g
        """,
        {"base": base, "count": count, "total": total, "author": author},
    )
    cur.execute("UPDATE incidents_incident SET timeline_seq = %s WHERE id > %s", [ENTRIES_PER_INCIDENT, base])
    cur.execute(
        """
        INSERT INTO incidents_statement (code, title, audience, channel, language, status, version, chain_name,
            template_name, template_body, status_note, created_at, updated_at, idempotency_key, created_by_id,
            incident_id)
        SELECT gen_random_uuid(), 'Holding statement', 'public', 'x', 'en', 'published', 2, '', '', '', '',
               i.declared_at, i.declared_at, '', %s, i.id
          FROM incidents_incident i WHERE i.id > %s
        """,
        [author, base],
    )
    cur.execute(
        f"""
        INSERT INTO incidents_statementversion (statement_id, number, body, sha256, created_at,
            from_template_fill_only, author_id)
        SELECT s.id, v, b, encode(sha256(convert_to(b, 'UTF8')), 'hex'), s.created_at, false, %s
          FROM incidents_statement s JOIN incidents_incident i ON i.id = s.incident_id,
               generate_series(1, {VERSIONS_PER_INCIDENT}) v,
               LATERAL (SELECT 'We know about ' || lower(i.title) || '. We are sorry; ' || {pick} || ' '
                               || {pick} || ' update follows.' AS b) t
         WHERE i.id > %s
        """,
        [author, base],
    )
    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # run the deferred FK checks now: CREATE INDEX needs it
    cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
    from incidents.reviews.search import entry_partition

    for k, name in enumerate(_entry_indexes()):  # as migrations/0005 creates them
        cur.execute(
            f"CREATE INDEX {name} ON incidents_timelineentry USING gin "
            f"((to_tsvector('english'::regconfig, body))) WHERE {entry_partition(k, alias='')}"
        )


def _time_calls(fn: Any, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _plan(viewer: User, q: str) -> str:
    """EXPLAIN ANALYZE of the search statement for one query, to show the GIN indexes at work. (EXPLAIN plans
    it afresh: the figures above are the prepared statement's, whose generic plan has the same shape.)"""
    from django.db import connection

    from incidents.reviews.search import ArchiveFilters, search_statement

    sql, args = search_statement(viewer, ArchiveFilters(q=q))
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql, args)
        return "\n".join(r[0] for r in cur.fetchall())


def run(ctx: Context) -> ScenarioResult:
    from django.db import connection

    from incidents.models import Incident, TimelineEntry
    from incidents.reviews.search import CANDIDATE_CAP, ArchiveFilters, search

    result = ScenarioResult(NAME)
    people = _people()
    viewer = people["viewer"]
    auth = session_cookie(viewer)
    archive = "/incidents/past/"
    filtered = f"/incidents/past/?severity=sev3&kind=real&member={people['member'].pk}"

    # Small tier: the archive's queries with 50 incidents.
    _generate(people, 50, entries=False)
    small = {path: len(capture_sql(path, auth)["queries"]) for path in (archive, filtered)}

    heading(f"search: generating {INCIDENTS:,} incidents and {INCIDENTS * ENTRIES_PER_INCIDENT:,} entries")
    took = _generate(people, INCIDENTS, entries=True)
    settle_database()
    entries = TimelineEntry.objects.count()
    incidents = Incident.objects.count()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_size_pretty(sum(pg_relation_size(c.oid))) FROM pg_class c WHERE c.relname = ANY(%s)",
            [_entry_indexes()],
        )
        (index_size,) = cur.fetchone()
    print(
        f"generated in {took:.1f} s: {incidents:,} incidents, {entries:,} entries; entry GIN indexes {index_size}"
    )
    result.notes.append(
        f"{incidents:,} incidents, {entries:,} timeline entries (every 50th privileged), "
        f"{INCIDENTS * VERSIONS_PER_INCIDENT:,} statement versions; generated in SQL in {took:.0f} s; "
        f"entry GIN indexes ({len(_entry_indexes())} slices) {index_size}. Ranking capped at {CANDIDATE_CAP} candidates "
        "per source."
    )

    # Search, in-process: the fixed query set, round-robin, against a trivial indexed SELECT.
    rounds = 5 if ctx.config.quick else 30
    any_pk = Incident.objects.order_by("pk").values_list("pk", flat=True)[0]

    def baseline() -> None:
        Incident.objects.filter(pk=any_pk).values_list("pk", flat=True).first()

    for q, extra in QUERIES:  # warm the cache and the plans
        search(viewer, ArchiveFilters(q=q, **extra))
    _time_calls(baseline, 50)
    base_ms = _time_calls(baseline, rounds * len(QUERIES))
    per_query: list[list[str]] = []
    all_ms: list[float] = []
    for q, extra in QUERIES:
        filters = ArchiveFilters(q=q, **extra)
        ms = _time_calls(lambda f=filters: search(viewer, f), rounds)
        all_ms += ms
        found = search(viewer, filters)
        label = q + (f"  [{', '.join(f'{k}={v}' for k, v in extra.items())}]" if extra else "")
        per_query.append(
            [
                label,
                f"{percentile(ms, 50):.2f}",
                f"{percentile(ms, 99):.2f}",
                str(len(found.hits)),
                "capped" if found.capped else str(found.matched),
            ]
        )
    p50, p99, b50 = percentile(all_ms, 50), percentile(all_ms, 99), percentile(base_ms, 50)
    heading("search: fixed query set (in-process, ms)")
    print_table(["query", "p50", "p99", "shown", "matched"], per_query, right=[1, 2, 3, 4])
    print(
        f"\nall queries: p50 {p50:.2f} ms, p99 {p99:.2f} ms over {len(all_ms)} searches; "
        f"baseline (indexed SELECT by pk) p50 {b50:.3f} ms → search p50 = {p50 / b50:.0f} times the baseline"
    )
    result.data["search"] = {"p50_ms": p50, "p99_ms": p99, "baseline_p50_ms": b50, "per_query": per_query}
    result.checks.append(
        Check("search p50 (1M entries)", f"≤ {SEARCH_P50_MS:g} ms", f"{p50:.2f} ms", p50 <= SEARCH_P50_MS)
    )
    result.checks.append(
        Check("search p99 (1M entries)", f"≤ {SEARCH_P99_MS:g} ms", f"{p99:.2f} ms", p99 <= SEARCH_P99_MS)
    )
    plan = _plan(viewer, "refund delay")
    uses_gin = "Bitmap Index Scan on reviews_entry_fts_0" in plan
    result.checks.append(
        Check("search uses the entries' GIN index", "yes", "yes" if uses_gin else "no", uses_gin)
    )
    if ctx.config.show_sql or not uses_gin:
        print(plan)

    # The archive page over HTTP, against the bare view.
    bare = run_load(ctx.server, BARE, label="bare", config=ctx.config, headers=auth)
    rows = [Measurement("bare view", f"{incidents:,}", bare)]
    for label, path in [
        ("archive page", archive),
        ("archive, filtered", filtered),
        ("archive, search", "/incidents/past/?q=refund+delay"),
    ]:
        stats = run_load(ctx.server, path, label=label, config=ctx.config, headers=auth)
        rows.append(Measurement(label, f"{incidents:,}", stats, baseline_req_per_s=bare.req_per_s))
        if path in small:
            same = stats.queries_min == stats.queries_max == small[path]
            result.checks.append(
                Check(f"{label}: constant queries", f"= {small[path]} (at 50 incidents)", stats.queries, same)
            )
        if path == archive:
            result.checks.append(
                Check(
                    "archive page server p50 (5,000 incidents)",
                    f"≤ {ARCHIVE_P50_MS:g} ms",
                    f"{stats.server_p50:.2f} ms ({stats.req_per_s / bare.req_per_s:.2f} of bare req/s)",
                    stats.server_p50 <= ARCHIVE_P50_MS and stats.ok,
                )
            )
    result.measurements += rows
    heading("search: archive page over HTTP")
    headers, table, right = measurement_rows(rows)
    print_table(headers, table, right=right)
    return result


def main() -> int:
    """`python -m bench.search [--quick …]`: this scenario alone, as `python -m bench --only search` runs it
    (recreates the bench database, starts the server)."""
    import sys

    from bench.__main__ import main as bench_main

    return bench_main(["--only", NAME, *sys.argv[1:]])


if __name__ == "__main__":
    raise SystemExit(main())
