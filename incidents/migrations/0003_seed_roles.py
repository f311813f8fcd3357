from __future__ import annotations

from django.db import migrations

from incidents.roles import ensure_roles

CODENAMES = ["post_to_timeline", "draft_statement", "approve_statement", "publish_statement", "manage_team",
             "change_status", "manage_deadlines"]


def seed(apps, schema_editor):
    IncidentRole = apps.get_model("incidents", "IncidentRole")
    ensure_roles(IncidentRole)
    # Incidents declared before teams existed: their commander becomes the holder of the command role.
    Incident = apps.get_model("incidents", "Incident")
    if not Incident.objects.exists():
        return
    # Permissions are normally created after `migrate` finishes; the backfill needs them now.
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    incident_type, _ = ContentType.objects.get_or_create(app_label="incidents", model="incident")
    for codename in [*CODENAMES, "view_incident"]:
        Permission.objects.get_or_create(
            content_type=incident_type, codename=codename, defaults={"name": codename.replace("_", " ").capitalize()}
        )
    RoleAssignment = apps.get_model("incidents", "RoleAssignment")
    Perm = apps.get_model("incidents", "IncidentUserObjectPermission")
    perms = list(Permission.objects.filter(content_type__app_label="incidents", codename__in=[*CODENAMES, "view_incident"]))
    command = IncidentRole.objects.get(slug="commander")
    for incident in Incident.objects.exclude(commander=None):
        RoleAssignment.objects.create(incident=incident, user_id=incident.commander_id, role=command, is_command=True,
                                      started_at=incident.declared_at, started_by_id=incident.declared_by_id)
        for perm in perms:
            Perm.objects.get_or_create(user_id=incident.commander_id, permission=perm, content_object=incident)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0002_team"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
