from __future__ import annotations

from django.db import migrations

# The audit capture trigger (audit/0002_capture's function) on this app's tables, as listed in
# incidents/audit/tables.py. Connectors hold no secret (only the name of the variable that does).
AUDITED = [
    ("publishing_connector", "id", "", "{updated_at}", "{}"),
    ("publishing_release", "id", "statement:statement_id", "{}", "{}"),
    ("publishing_delivery", "id", "statement:statement_id", "{lease_until}", "{}"),
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
    dependencies = [("publishing", "0001_initial"), ("audit", "0002_capture")]

    operations = [migrations.RunSQL(TRIGGERS, REVERSE)]
