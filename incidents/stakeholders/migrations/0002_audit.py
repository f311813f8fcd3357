from __future__ import annotations

from django.db import migrations

# The audit capture trigger (audit/0002_capture's function) on the stakeholder register, contact log and press queue, as listed in
# incidents/audit/tables.py.
AUDITED = [
    ("stakeholders_stakeholder", "id", "row:incident_id", "{}", "{}"),
    ("stakeholders_contactentry", "id", "row:incident_id", "{}", "{}"),
    ("stakeholders_pressenquiry", "id", "row:incident_id", "{}", "{}"),
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
    dependencies = [("stakeholders", "0001_initial"), ("audit", "0002_capture")]

    operations = [migrations.RunSQL(TRIGGERS, REVERSE)]
