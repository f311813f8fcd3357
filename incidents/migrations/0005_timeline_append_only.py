from __future__ import annotations

from django.db import migrations

# The timeline is evidence: once written, an entry (and its attachments' records) can only be followed
# by more entries. The trigger holds for the ORM, raw SQL and the admin alike. TRUNCATE (test flushes,
# a deliberate wipe by the database owner) is not a row operation and is not blocked.
SQL = """
CREATE OR REPLACE FUNCTION warroom_refuse_rewrite() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the incident timeline is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER timelineentry_append_only
    BEFORE UPDATE OR DELETE ON incidents_timelineentry
    FOR EACH ROW EXECUTE FUNCTION warroom_refuse_rewrite();

CREATE TRIGGER evidence_append_only
    BEFORE UPDATE OR DELETE ON incidents_evidence
    FOR EACH ROW EXECUTE FUNCTION warroom_refuse_rewrite();
"""

REVERSE = """
DROP TRIGGER IF EXISTS timelineentry_append_only ON incidents_timelineentry;
DROP TRIGGER IF EXISTS evidence_append_only ON incidents_evidence;
DROP FUNCTION IF EXISTS warroom_refuse_rewrite();
"""


class Migration(migrations.Migration):
    dependencies = [("incidents", "0004_timeline")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
