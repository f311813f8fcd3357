"""GIN expression indexes for full-text search over incidents, timeline entries and statement versions.

The tables belong to the incidents app, so the indexes are created here with RunSQL. The expressions must
be exactly the ones `incidents.reviews.search` queries with (same function, same explicit configuration,
same coalesce), or PostgreSQL will not use them; tests/test_reviews_search.py checks both with EXPLAIN.
CONCURRENTLY (outside a transaction) so deploying this never blocks writes to a big timeline table.
"""

from __future__ import annotations

from django.db import migrations

INDEXES = {
    "reviews_incident_fts": (
        "incidents_incident",
        "to_tsvector('english'::regconfig, coalesce(title, '') || ' ' || coalesce(summary, ''))",
    ),
    "reviews_entry_fts": ("incidents_timelineentry", "to_tsvector('english'::regconfig, body)"),
    "reviews_version_fts": ("incidents_statementversion", "to_tsvector('english'::regconfig, body)"),
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("reviews", "0001_reviews")]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING gin (({expr}))",
            f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        )
        for name, (table, expr) in INDEXES.items()
    ]
