from __future__ import annotations

from django.db import migrations

# What was written, approved and published is evidence, like the timeline: versions, approvals (and
# rejections), publications and version comments are written once. Reuses warroom_refuse_rewrite() from
# 0005. TRUNCATE (test flushes) is not a row operation and is not blocked.
TABLES = ["statementversion", "approval", "publication", "versioncomment"]

SQL = "\n".join(
    f"""
CREATE TRIGGER {table}_append_only
    BEFORE UPDATE OR DELETE ON incidents_{table}
    FOR EACH ROW EXECUTE FUNCTION warroom_refuse_rewrite();
"""
    for table in TABLES
)

REVERSE = "\n".join(f"DROP TRIGGER IF EXISTS {table}_append_only ON incidents_{table};" for table in TABLES)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0006_statements")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
