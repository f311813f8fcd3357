"""Storing mentions: one batch, one transaction, and the rollups in step with them.

`ingest` COPYs the batch into a per-connection staging table, then one statement inserts the mentions with
`ON CONFLICT (source, external_id) DO NOTHING` and, from the rows it actually inserted (RETURNING — never
from the input, which would double-count repeats), upserts the 5-minute rollups, queues the loud ones of
an incident and counts the source's success. A repeated delivery therefore stores and counts nothing twice,
and six concurrent deliveries of one batch store it once: the unique index makes the later ones wait for
the first and then skip. Rows go in sorted (by external id; rollups by watch and bucket), so concurrent
batches take their locks in one order and never deadlock.

Language detection and sentiment scoring (~50 µs a mention) are not on this path: `enrich_pending` does them
in a worker right after commit and moves the counts from "pending" to their label in the same transaction.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.listening import kicks, live, nlp
from incidents.listening.matching import Matcher
from incidents.listening.models import ScoredBy, Sentiment, Source, Watch
from incidents.listening.queueing import plan_reply_deadlines, queue_mentions
from incidents.listening.records import IngestError, MentionRecord

log = logging.getLogger(__name__)

_STAGE_COLUMNS = (
    "external_id",
    "url",
    "platform",
    "author_handle",
    "author_name",
    "author_reach",
    "language",
    "language_by",
    "text",
    "published_at",
    "sentiment",
    "sentiment_score",
    "sentiment_by",
    "watch_ids",
    "incident_watch_id",
    "incident_id",
)

# ON COMMIT DELETE ROWS: the table lives as long as the connection (the pool keeps it), its rows one batch.
_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS listening_stage (
    external_id varchar(300) NOT NULL, url varchar(1000) NOT NULL, platform varchar(16) NOT NULL,
    author_handle varchar(200) NOT NULL, author_name varchar(200) NOT NULL, author_reach bigint,
    language varchar(8) NOT NULL, language_by varchar(12) NOT NULL, text text NOT NULL,
    published_at timestamptz NOT NULL, sentiment varchar(10) NOT NULL, sentiment_score double precision,
    sentiment_by varchar(8) NOT NULL, watch_ids bigint[] NOT NULL, incident_watch_id bigint, incident_id bigint
) ON COMMIT DELETE ROWS
"""

# The sums a rollup row keeps, as SQL over the counted rows (`c`).
_ROLLUP_SUMS = {
    "total": "count(*)",
    "negative": "count(*) FILTER (WHERE c.sentiment = 'negative')",
    "neutral": "count(*) FILTER (WHERE c.sentiment = 'neutral')",
    "positive": "count(*) FILTER (WHERE c.sentiment = 'positive')",
    "unscored": "count(*) FILTER (WHERE c.sentiment = 'unscored')",
    "pending": "count(*) FILTER (WHERE c.sentiment = 'pending')",
    "by_source": "count(*) FILTER (WHERE c.sentiment_by = 'source')",
    "by_model": "count(*) FILTER (WHERE c.sentiment_by = 'model')",
    "by_person": "count(*) FILTER (WHERE c.sentiment_by = 'person')",
    "reach": "coalesce(sum(c.author_reach), 0)",
}
_ROLLUP_COLUMNS = ", ".join(_ROLLUP_SUMS)
_ROLLUP_SELECT = ", ".join(_ROLLUP_SUMS.values())
_ROLLUP_ADD = ", ".join(f"{c} = listening_mentionrollup.{c} + EXCLUDED.{c}" for c in _ROLLUP_SUMS)

_INSERT_SQL = f"""
WITH ins AS (
    INSERT INTO listening_mention (
        source_id, external_id, url, platform, author_handle, author_name, author_reach, language, language_by,
        text, published_at, ingested_at, sentiment, sentiment_score, sentiment_by, watch_ids, incident_watch_id,
        incident_id, is_drill, is_hidden)
    SELECT %(source)s, external_id, url, platform, author_handle, author_name, author_reach, language,
        language_by, text, published_at, %(now)s, sentiment, sentiment_score, sentiment_by, watch_ids,
        incident_watch_id, incident_id, %(drill)s, false
    FROM listening_stage ORDER BY external_id
    ON CONFLICT (source_id, external_id) DO NOTHING
    RETURNING id, watch_ids, incident_watch_id, incident_id, published_at, sentiment, sentiment_by, author_reach
), c AS (
    SELECT v.w AS watch_id, date_bin('5 minutes', ins.published_at, TIMESTAMPTZ '2000-01-01') AS bucket,
        ins.sentiment, ins.sentiment_by, ins.author_reach
    FROM ins CROSS JOIN LATERAL unnest(array_append(ins.watch_ids, ins.incident_watch_id)) AS v(w)
    WHERE v.w IS NOT NULL
), roll AS (
    INSERT INTO listening_mentionrollup (watch_id, bucket, {_ROLLUP_COLUMNS}, updated_at)
    SELECT c.watch_id, c.bucket, {_ROLLUP_SELECT}, %(now)s FROM c
    GROUP BY c.watch_id, c.bucket ORDER BY c.watch_id, c.bucket
    ON CONFLICT (watch_id, bucket) DO UPDATE SET {_ROLLUP_ADD}, updated_at = EXCLUDED.updated_at
    RETURNING watch_id
), queued AS (
    INSERT INTO listening_responseitem (mention_id, incident_id, state, reach, version, created_at)
    SELECT ins.id, ins.incident_id, 'open', coalesce(ins.author_reach, 0), 1, %(now)s
    FROM ins JOIN listening_watch w ON w.id = ins.incident_watch_id
    WHERE ins.incident_id IS NOT NULL
      AND (coalesce(ins.author_reach, 0) >= w.queue_min_reach OR ins.sentiment = 'negative')
    ORDER BY ins.id
    RETURNING id
), src AS (
    UPDATE listening_source SET total_stored = total_stored + (SELECT count(*) FROM ins),
        last_success_at = %(now)s
    WHERE id = %(source)s
    RETURNING id
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM ins WHERE sentiment = 'pending'),
    (SELECT coalesce(array_agg(DISTINCT watch_id), '{{}}') FROM roll),
    (SELECT coalesce(array_agg(id), '{{}}') FROM queued), (SELECT count(*) FROM src)
"""


@dataclass
class IngestResult:
    received: int
    stored: int
    watch_ids: list[int] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.received - self.stored


_PENDING, _BY_SOURCE, _BY_NONE = Sentiment.PENDING.value, ScoredBy.SOURCE.value, ScoredBy.NONE.value


def _rows(
    records: Sequence[MentionRecord], matcher: Matcher | None, watch: Watch | None
) -> Iterable[tuple[object, ...]]:
    forced: tuple[list[int], int | None, int | None] = (
        ([], watch.pk, watch.incident_id)
        if watch is not None and watch.incident_id
        else ([watch.pk] if watch is not None else [], None, None)
    )
    # The watch ids go into COPY as the array's text ("{3,7}"), one string per combination in the batch:
    # psycopg's list dumper cost more than matching the watches did.
    literals: dict[tuple[int, ...], str] = {}
    for r in records:
        if matcher is not None:
            watch_ids, incident_watch_id, incident_id = matcher.ids(r.text)
        else:
            watch_ids, incident_watch_id, incident_id = forced
        key = tuple(watch_ids)
        literal = literals.get(key)
        if literal is None:
            literal = literals[key] = "{" + ",".join(str(int(w)) for w in key) + "}"
        if r.sentiment:
            sentiment, score, scored_by = r.sentiment, r.sentiment_score, _BY_SOURCE
        else:
            sentiment, score, scored_by = _PENDING, None, _BY_NONE
        yield (
            r.external_id,
            r.url,
            r.platform,
            r.author_handle,
            r.author_name,
            r.author_reach,
            r.language,
            "source" if r.language else "",
            r.text,
            r.published_at,
            sentiment,
            score,
            scored_by,
            literal,
            incident_watch_id,
            incident_id,
        )


def ingest(
    *,
    source: Source,
    records: Sequence[MentionRecord],
    watch: Watch | None = None,
    is_drill: bool = False,
    now: datetime | None = None,
) -> IngestResult:
    """Store a validated batch (all of it or, on any database error, none of it). `watch`: put every
    mention in this watch instead of matching terms (drills)."""
    if not records:
        return IngestResult(received=0, stored=0)
    now = now or timezone.now()
    matcher = None if watch is not None else Matcher.for_source(source)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_STAGE_DDL)
        raw = cursor.cursor  # psycopg's own cursor: COPY is not part of the DB-API
        with (
            connection.wrap_database_errors,  # psycopg's errors as Django's, like every other statement
            raw.copy(f"COPY listening_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in _rows(records, matcher, watch):
                copy.write_row(row)
        cursor.execute(_INSERT_SQL, {"source": source.pk, "now": now, "drill": is_drill})
        stored, pending, watch_ids, queued, source_found = cursor.fetchone()
        if not source_found:
            # The mentions' source_id has no database constraint (see Mention): this is its check, once a batch.
            raise IngestError([_("the source %(source)s no longer exists") % {"source": source.pk}])
        if queued:
            plan_reply_deadlines(item_ids=queued)
        result = IngestResult(received=len(records), stored=stored, watch_ids=list(watch_ids), queued=queued)
        if stored:
            _after_commit(result, pending=pending)
    return result


def _after_commit(result: IngestResult, *, pending: int) -> None:
    if pending:
        transaction.on_commit(kicks.kick_enrichment)
    if result.watch_ids:
        watch_ids = list(result.watch_ids)
        transaction.on_commit(lambda: kicks.kick_spike_check(watch_ids))
    live.changed(region="mentions", watch_ids=result.watch_ids)


# --- enrichment: language and sentiment, after the fact --------------------------------------------------------

_CLAIM_PENDING = """
SELECT id, text, language, watch_ids, incident_watch_id, incident_id, published_at, author_reach
FROM listening_mention WHERE sentiment = 'pending' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""

_APPLY_SCORES = """
UPDATE listening_mention m SET language = v.language, language_by = v.language_by, sentiment = v.sentiment,
    sentiment_score = v.score, sentiment_by = v.scored_by
FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[], %s::float8[], %s::varchar[])
    AS v(id, language, language_by, sentiment, score, scored_by)
WHERE m.id = v.id
"""

# Moves counts between columns of existing rollup rows: `deltas` are (watch, bucket, column, change).
_ROLLUP_SHIFT = """
UPDATE listening_mentionrollup r SET
    negative = r.negative + d.negative, neutral = r.neutral + d.neutral, positive = r.positive + d.positive,
    unscored = r.unscored + d.unscored, pending = r.pending + d.pending, by_source = r.by_source + d.by_source,
    by_model = r.by_model + d.by_model, by_person = r.by_person + d.by_person, updated_at = %s
FROM unnest(%s::bigint[], %s::timestamptz[], %s::int[], %s::int[], %s::int[], %s::int[], %s::int[], %s::int[],
    %s::int[], %s::int[])
    AS d(watch_id, bucket, negative, neutral, positive, unscored, pending, by_source, by_model, by_person)
WHERE r.watch_id = d.watch_id AND r.bucket = d.bucket
"""

_SHIFT_COLUMNS = (
    "negative",
    "neutral",
    "positive",
    "unscored",
    "pending",
    "by_source",
    "by_model",
    "by_person",
)
_BY_COLUMN: dict[str, str] = {
    ScoredBy.SOURCE: "by_source",
    ScoredBy.MODEL: "by_model",
    ScoredBy.PERSON: "by_person",
}


def bucket_of(when: datetime) -> datetime:
    epoch = int(when.timestamp())
    return datetime.fromtimestamp(epoch - epoch % 300, tz=when.tzinfo or timezone.get_current_timezone())


class RollupShift:
    """Collects count moves (a mention's sentiment changed) and applies them in one sorted statement."""

    def __init__(self) -> None:
        self.deltas: dict[tuple[int, datetime], Counter[str]] = {}

    def move(
        self,
        *,
        watch_ids: Iterable[int | None],
        published_at: datetime,
        old: tuple[str, str],
        new: tuple[str, str],
    ) -> None:
        bucket = bucket_of(published_at)
        for watch_id in watch_ids:
            if watch_id is None:
                continue
            counter = self.deltas.setdefault((watch_id, bucket), Counter())
            for (label, by), sign in ((old, -1), (new, 1)):
                counter[label] += sign
                if by in _BY_COLUMN:
                    counter[_BY_COLUMN[by]] += sign

    def apply(self, cursor: object, now: datetime) -> None:
        if not self.deltas:
            return
        keys = sorted(self.deltas)  # one lock order for every writer of rollups
        columns = [[self.deltas[k][c] for k in keys] for c in _SHIFT_COLUMNS]
        cursor.execute(  # type: ignore[attr-defined]
            _ROLLUP_SHIFT, [now, [k[0] for k in keys], [k[1] for k in keys], *columns]
        )


def enrich_pending(*, limit: int = 500) -> int:
    """Detect languages and score the mentions that are still pending; returns how many were done. Parallel
    workers take different rows (SKIP LOCKED)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_PENDING, [limit])
        rows = cursor.fetchall()
        if not rows:
            return 0
        ids, languages, language_by, labels, scores, scored_by = [], [], [], [], [], []
        shift = RollupShift()
        negative_incident_mentions: list[int] = []
        watch_ids: set[int] = set()
        for (
            mention_id,
            text,
            language,
            org_watches,
            incident_watch_id,
            incident_id,
            published_at,
            _reach,
        ) in rows:
            detected = "" if language else nlp.detect_language(text)
            label, score, by = nlp.score(text, language or detected)
            ids.append(mention_id)
            languages.append(language or detected)
            language_by.append("source" if language else ("detector" if detected else ""))
            labels.append(label)
            scores.append(score)
            scored_by.append(by)
            shift.move(
                watch_ids=[*org_watches, incident_watch_id],
                published_at=published_at,
                old=(Sentiment.PENDING, ""),
                new=(label, by),
            )
            watch_ids.update(w for w in (*org_watches, incident_watch_id) if w)
            if incident_id and label == Sentiment.NEGATIVE:
                negative_incident_mentions.append(mention_id)
        cursor.execute(_APPLY_SCORES, [ids, languages, language_by, labels, scores, scored_by])
        now = timezone.now()
        shift.apply(cursor, now)
        queued: list[int] = []
        if negative_incident_mentions:
            queued = queue_mentions(mention_ids=negative_incident_mentions, now=now)
        ids_for_check = sorted(watch_ids)
        transaction.on_commit(lambda: kicks.kick_spike_check(ids_for_check))
        live.changed(region="mentions", watch_ids=ids_for_check)
        if queued:
            live.changed(region="queue", watch_ids=ids_for_check)
    return len(rows)


# --- rebuilding rollups (after linking mentions to an incident watch, or a backfill) -------------------------

_REBUILD_SQL = f"""
WITH c AS (
    SELECT date_bin('5 minutes', m.published_at, TIMESTAMPTZ '2000-01-01') AS bucket, m.sentiment,
        m.sentiment_by, m.author_reach
    FROM listening_mention m
    WHERE (m.watch_ids @> ARRAY[%(watch)s]::bigint[] OR m.incident_watch_id = %(watch)s)
      AND m.published_at >= %(since)s AND m.published_at < %(until)s
)
INSERT INTO listening_mentionrollup (watch_id, bucket, {_ROLLUP_COLUMNS}, updated_at)
SELECT %(watch)s, c.bucket, {_ROLLUP_SELECT}, %(now)s FROM c GROUP BY c.bucket ORDER BY c.bucket
ON CONFLICT (watch_id, bucket) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in _ROLLUP_SUMS)},
    updated_at = EXCLUDED.updated_at
"""


def rollup_rebuild(*, watch: Watch, since: datetime, until: datetime | None = None) -> None:
    """Recount one watch's buckets in [since, until) from its mentions (caller holds a transaction)."""
    now = timezone.now()
    until = until or now + timedelta(minutes=5)
    start, end = bucket_of(since), bucket_of(until) + timedelta(minutes=5)
    with connection.cursor() as cursor:
        # Buckets that have no mentions any more must read zero, not keep their old counts.
        cursor.execute(
            "DELETE FROM listening_mentionrollup WHERE watch_id = %s AND bucket >= %s AND bucket < %s",
            [watch.pk, start, end],
        )
        cursor.execute(_REBUILD_SQL, {"watch": watch.pk, "since": start, "until": end, "now": now})
