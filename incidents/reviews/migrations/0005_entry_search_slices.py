"""The timeline entries' full-text index in eight slices (partial GIN indexes by a hash of the entry id).

Why: a GIN index hands over a bitmap of every matching row before a LIMIT can stop anything, so a common word
cost the whole posting list on every search; `incidents.reviews.search` reads the slices one after another and
usually stops after the first (see its docstring). The predicates and the expression must stay exactly what
the search writes (`search.entry_partition`, `search.ENTRY_DOCUMENT`), or PostgreSQL will not use the indexes;
tests/test_reviews_search.py checks the plans. The index over the whole table goes: nothing reads it any more,
and every timeline append would keep paying for it.

CONCURRENTLY (outside a transaction) so deploying this never blocks writes to a big timeline table.
"""

from __future__ import annotations

from django.db import migrations

SLICES = 8  # search.ENTRY_PARTITIONS (not imported: a migration must not change when the code does)
EXPRESSION = "to_tsvector('english'::regconfig, body)"


def _create(k: int) -> str:
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS reviews_entry_fts_{k} ON incidents_timelineentry "
        f"USING gin (({EXPRESSION})) WHERE (hashint8(id) & {SLICES - 1}) = {k}"
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("reviews", "0004_export_jobs")]

    operations = [
        *(migrations.RunSQL(_create(k), f"DROP INDEX CONCURRENTLY IF EXISTS reviews_entry_fts_{k}") for k in range(SLICES)),
        migrations.RunSQL(
            "DROP INDEX CONCURRENTLY IF EXISTS reviews_entry_fts",
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS reviews_entry_fts ON incidents_timelineentry "
            f"USING gin (({EXPRESSION}))",
        ),
    ]
