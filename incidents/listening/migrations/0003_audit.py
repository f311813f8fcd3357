from __future__ import annotations

from django.db import migrations

# The audit capture trigger (audit/0002_capture's function) on this app's tables, as listed in
# incidents/audit/tables.py. Mentions and their rollups are ingested data and stay out (the reasons are there).
_HEALTH = (
    "{etag,last_modified,cursor,next_poll_at,lease_until,last_polled_at,last_success_at,last_error,"
    "last_error_at,consecutive_failures,total_stored}"
)
AUDITED = [
    ("listening_source", "id", "", _HEALTH, "{access_token,secret,previous_secret}"),
    ("listening_watch", "id", "row:incident_id", "{}", "{}"),
    ("listening_spikealert", "id", "row:incident_id", "{}", "{}"),
    ("listening_replytemplate", "id", "", "{}", "{}"),
    ("listening_responseitem", "id", "row:incident_id", "{reach}", "{}"),
    ("listening_mentionhide", "id", "row:incident_id", "{}", "{}"),
]


def _when(ignored: str) -> str:
    if ignored == "{}":
        return "OLD.* IS DISTINCT FROM NEW.*"
    return f"(to_jsonb(OLD) - '{ignored}'::text[]) IS DISTINCT FROM (to_jsonb(NEW) - '{ignored}'::text[])"


TRIGGERS = "\n".join(
    f"CREATE TRIGGER audit_capture AFTER INSERT OR DELETE ON {table} FOR EACH ROW "
    f"EXECUTE FUNCTION audit_capture('{pk}', '{scope}', '{ignored}', '{redacted}');\n"
    f"CREATE TRIGGER audit_capture_update AFTER UPDATE ON {table} FOR EACH ROW WHEN ({_when(ignored)}) "
    f"EXECUTE FUNCTION audit_capture('{pk}', '{scope}', '{ignored}', '{redacted}');"
    for table, pk, scope, ignored, redacted in AUDITED
)
REVERSE = "\n".join(
    f"DROP TRIGGER IF EXISTS audit_capture ON {table}; DROP TRIGGER IF EXISTS audit_capture_update ON {table};"
    for table, *_ in AUDITED
)


class Migration(migrations.Migration):
    dependencies = [("listening", "0002_never_delete"), ("audit", "0002_capture")]

    operations = [migrations.RunSQL(TRIGGERS, REVERSE)]
