from __future__ import annotations

from django.db import migrations

# Criticism is never deleted: mentions and the record of hiding them cannot be deleted — by the ORM, raw SQL
# or the admin. Hiding is a state with a reason (MentionHide). TRUNCATE (test flushes, a deliberate wipe by
# the database owner) is not a row operation and is not blocked.
SQL = """
CREATE OR REPLACE FUNCTION listening_refuse_delete() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'mentions are never deleted (hide them with a reason): DELETE on % refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER listening_mention_never_deleted
    BEFORE DELETE ON listening_mention
    FOR EACH ROW EXECUTE FUNCTION listening_refuse_delete();

CREATE TRIGGER listening_mentionhide_never_deleted
    BEFORE DELETE ON listening_mentionhide
    FOR EACH ROW EXECUTE FUNCTION listening_refuse_delete();
"""

REVERSE = """
DROP TRIGGER IF EXISTS listening_mention_never_deleted ON listening_mention;
DROP TRIGGER IF EXISTS listening_mentionhide_never_deleted ON listening_mentionhide;
DROP FUNCTION IF EXISTS listening_refuse_delete();
"""


class Migration(migrations.Migration):
    dependencies = [("listening", "0001_listening")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
