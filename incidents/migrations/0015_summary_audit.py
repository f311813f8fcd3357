from __future__ import annotations

from django.db import migrations

# The audit capture trigger (audit/0002_capture's function) on the living summary's versions, as listed in
# incidents/audit/tables.py.
TABLE = "incidents_summaryversion"
TRIGGERS = (
    f"CREATE TRIGGER audit_capture AFTER INSERT OR DELETE ON {TABLE} FOR EACH ROW "
    "EXECUTE FUNCTION audit_capture('id', 'row:incident_id', '{}', '{}');\n"
    f"CREATE TRIGGER audit_capture_update AFTER UPDATE ON {TABLE} FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) "
    "EXECUTE FUNCTION audit_capture('id', 'row:incident_id', '{}', '{}');"
)
REVERSE = f"DROP TRIGGER IF EXISTS audit_capture ON {TABLE}; DROP TRIGGER IF EXISTS audit_capture_update ON {TABLE};"


class Migration(migrations.Migration):
    dependencies = [("incidents", "0014_living_summary"), ("audit", "0002_capture")]

    operations = [migrations.RunSQL(TRIGGERS, REVERSE)]
