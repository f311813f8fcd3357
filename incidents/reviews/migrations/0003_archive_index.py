"""A partial index for the archive's keyset pages: archived incidents, newest first.

The archive lists `status IN ('resolved', 'closed')` ordered by (declared_at, id) descending; without this
index PostgreSQL reads every archived incident and sorts them for each page (4 ms at 5,000, growing with
the archive). With it a page is a short index range scan. Created here, like the search indexes, because
the incidents app's migrations belong to another area.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("reviews", "0002_search_indexes")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS reviews_incident_archive ON incidents_incident "
            "(declared_at DESC, id DESC) WHERE status IN ('resolved', 'closed')",
            "DROP INDEX CONCURRENTLY IF EXISTS reviews_incident_archive",
        )
    ]
