from __future__ import annotations

from django.db import migrations

from incidents.models.statement_seeds import ensure_statement_seeds


def seed(apps, schema_editor):
    ensure_statement_seeds(
        apps.get_model("incidents", "ApprovalChainTemplate"),
        apps.get_model("incidents", "ApprovalStepTemplate"),
        apps.get_model("incidents", "StatementTemplate"),
        apps.get_model("incidents", "IncidentRole"),
    )


class Migration(migrations.Migration):
    dependencies = [("incidents", "0007_statements_append_only"), ("incidents", "0003_seed_roles")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
