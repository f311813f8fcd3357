"""Audit capture (R25): every way of writing an audited table leaves one row per changed row, with the actor
and request id where there is one, from the database trigger — and the audit table itself is append-only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import shared_task
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from incidents import services
from incidents.audit import context as audit
from incidents.audit import tables
from incidents.audit.models import AuditEvent, AuditSeal
from incidents.models import (
    IncidentRole,
    OrgRole,
    ResponsePolicy,
    RoleAssignment,
    TimelineEntry,
    User,
    WebhookEndpoint,
)
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.factories_statements import cast as cast  # the fixtures the statement test below uses
from tests.factories_statements import fully_approved, publish
from tests.factories_statements import seeded as seeded

ROOT = Path(__file__).resolve().parent.parent


def events(**filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def last_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


# --- the registry and the triggers in the database agree -------------------------------------------------------


def _installed_triggers() -> dict[tuple[str, str], tuple[str, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname, t.tgargs FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname IN ('audit_capture', 'audit_capture_update') AND NOT t.tgisinternal"
        )
        return {
            (table, name): tuple(bytes(args).decode().split("\x00")[:-1])
            for table, name, args in cursor.fetchall()
        }


@pytest.mark.django_db
def test_every_audited_table_has_its_triggers_with_the_registry_arguments():
    installed = _installed_triggers()
    assert installed == {
        (a.table, name): a.trigger_args()
        for a in tables.AUDITED
        for name in ("audit_capture", "audit_capture_update")
    }


@pytest.mark.django_db
def test_every_table_of_every_model_is_either_audited_or_left_out_with_a_reason():
    model_tables = set()
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            model_tables.add(model._meta.db_table)
    audited = {a.table for a in tables.AUDITED}
    assert not audited & set(tables.NOT_AUDITED), "a table cannot be both"
    unclassified = model_tables - audited - set(tables.NOT_AUDITED)
    assert not unclassified, (
        f"decide for {sorted(unclassified)}: add to AUDITED in incidents/audit/tables.py (and a migration "
        "installing its trigger) or to NOT_AUDITED with the reason"
    )


# --- every way of writing is captured -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_orm_save_update_bulk_raw_and_delete_are_captured_with_the_context():
    start = last_id()
    with audit.audit_context(
        actor="user:7", actor_id=7, request_id="req-one", origin="POST /somewhere/"
    ) as ctx:
        policy = ResponsePolicy.objects.get(severity="sev1")
        policy.first_response_minutes = 25
        policy.save()  # ORM save
        ResponsePolicy.objects.filter(severity__in=["sev2", "sev3"]).update(
            update_cadence_minutes=45
        )  # update()
        made = WebhookEndpoint.objects.bulk_create(  # bulk_create
            [
                WebhookEndpoint(name=f"hook {n}", url=f"https://hooks.example/{n}", secret=f"s{n}")
                for n in range(3)
            ]
        )
        for hook in made:
            hook.name = hook.name.upper()
        WebhookEndpoint.objects.bulk_update(made, ["name"])  # bulk_update
        with connection.cursor() as cursor:  # raw SQL, with and without parameters, a literal % included
            cursor.execute(
                "UPDATE incidents_webhookendpoint SET url = url || '?a=1%%' WHERE id = %s", [made[0].pk]
            )
            cursor.execute(f"UPDATE incidents_webhookendpoint SET url = url || '%' WHERE id = {made[1].pk}")
        WebhookEndpoint.objects.filter(pk=made[2].pk).delete()  # delete
    rows = events(id__gt=start)
    summary = [(e.table_name, e.op, e.row_pk) for e in rows]
    assert summary == [
        ("incidents_responsepolicy", "U", str(policy.pk)),
        *[
            ("incidents_responsepolicy", "U", str(pk))
            for pk in sorted(
                ResponsePolicy.objects.filter(severity__in=["sev2", "sev3"]).values_list("pk", flat=True)
            )
        ],
        *[("incidents_webhookendpoint", "I", str(h.pk)) for h in made],
        *[("incidents_webhookendpoint", "U", str(h.pk)) for h in made],
        ("incidents_webhookendpoint", "U", str(made[0].pk)),
        ("incidents_webhookendpoint", "U", str(made[1].pk)),
        ("incidents_webhookendpoint", "D", str(made[2].pk)),
    ]
    for row in rows:
        assert (row.actor, row.actor_id, row.request_id, row.origin) == (
            "user:7",
            7,
            ctx.request_id,
            "POST /somewhere/",
        )
    assert rows[0].changed == ["first_response_minutes"]
    assert rows[0].new_values == {"first_response_minutes": 25}
    # The driver's parameter escaping and a bare % both reach the database unharmed.
    assert WebhookEndpoint.objects.get(pk=made[0].pk).url.endswith("?a=1%")
    assert WebhookEndpoint.objects.get(pk=made[1].pk).url.endswith("%")
    assert (rows[-1].old_values or {})["name"] == "HOOK 2"


@pytest.mark.django_db
def test_secrets_and_password_hashes_are_never_copied_only_their_change():
    start = last_id()
    person = UserFactory.create()
    person.set_password("a-completely-new-password")
    person.save()
    hook = WebhookEndpoint.objects.create(name="Slack", url="https://hooks.example/1", secret="hush-1234")
    rows = events(id__gt=start)
    assert all("hush-1234" not in str(r.new_values) for r in rows)
    assert all("md5$" not in str(r.new_values) and "md5$" not in str(r.old_values) for r in rows)
    password_change = next(r for r in rows if r.table_name == "incidents_user" and r.op == "U")
    assert password_change.changed == ["password"]
    assert password_change.old_values == password_change.new_values == {"password": "[redacted]"}
    # By table as well as pk: in a fresh database the person and the hook are both row 1.
    hook_row = next(
        r for r in rows if r.table_name == "incidents_webhookendpoint" and r.row_pk == str(hook.pk)
    )
    assert (hook_row.new_values or {})["secret"] == "[redacted]"


@pytest.mark.django_db
def test_without_a_context_the_row_says_system_rather_than_guessing():
    start = last_id()
    IncidentRole.objects.filter(slug="observer").update(description="Reads along.")
    (row,) = events(id__gt=start)
    assert (row.actor, row.actor_id, row.request_id, row.origin) == ("system", None, "", "")


@pytest.mark.django_db
def test_a_context_that_ended_inside_a_transaction_is_not_lent_to_the_writes_after_it():
    start = last_id()
    with transaction.atomic():
        with audit.audit_context(actor="command:first"):
            IncidentRole.objects.filter(slug="observer").update(description="Inside the context.")
        IncidentRole.objects.filter(slug="observer").update(description="After it, same transaction.")
    inside, after = events(id__gt=start)
    assert (inside.actor, after.actor, after.request_id) == ("command:first", "system", "")


@pytest.mark.django_db
def test_a_rolled_back_change_leaves_no_audit_row():
    start = last_id()

    def change_then_fail() -> None:
        with transaction.atomic():
            IncidentRole.objects.filter(slug="observer").update(description="Never happened.")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert events(id__gt=start) == []


@pytest.mark.django_db
def test_changes_to_counters_and_touch_times_alone_are_not_recorded(incident, manager):
    start = last_id()
    services.timeline_post(
        incident=incident, actor=manager, kind=TimelineEntry.Kind.NOTE, body="Still quiet."
    )
    incident.save()  # nothing changed but updated_at
    assert events(id__gt=start) == []
    manager.last_login = incident.declared_at
    manager.save(update_fields=["last_login"])
    assert events(id__gt=start) == []


@pytest.mark.django_db
def test_rows_are_placed_in_their_incident_through_statements_and_versions(cast):
    start = last_id()
    statement = fully_approved(cast)
    publish(cast, statement)
    rows = events(id__gt=start)
    by_table = {r.table_name for r in rows}
    assert {
        "incidents_statement",
        "incidents_statementversion",
        "incidents_chainstep",
        "incidents_approval",
        "incidents_publication",
    } <= by_table
    assert {r.incident_id for r in rows if tables.incident_scoped(r.table_name)} == {cast.incident.pk}


@pytest.mark.django_db
def test_team_changes_record_role_and_permission_rows(incident, manager, member):
    start = last_id()
    give_role(incident, member, "scribe", actor=manager)
    rows = events(id__gt=start)
    assert {"incidents_roleassignment", "incidents_incidentuserobjectpermission", "incidents_teamevent"} <= {
        r.table_name for r in rows
    }
    assert all(r.incident_id == incident.pk for r in rows if r.table_name != "incidents_incident")


# --- requests, admin actions, tasks and commands carry their context ---------------------------------------------


@pytest.mark.django_db
def test_a_request_attributes_orm_update_bulk_and_raw_writes_to_its_user_and_request_id(manager):
    start = last_id()

    def view(request):
        IncidentRole.objects.filter(slug="observer").update(description="Reads along, quietly.")
        ResponsePolicy.objects.bulk_update(
            [ResponsePolicy(pk=p.pk, update_cadence_minutes=50) for p in ResponsePolicy.objects.all()[:2]],
            ["update_cadence_minutes"],
        )
        with connection.cursor() as cursor:
            cursor.execute("UPDATE incidents_incidentrole SET description = 'Raw.' WHERE slug = 'scribe'")
        from django.http import HttpResponse

        return HttpResponse("ok")

    request = RequestFactory().post("/incidents/x/")
    request.user = manager
    response = audit.AuditContextMiddleware(view)(request)
    rows = events(id__gt=start)
    assert len(rows) == 4
    assert {(r.actor, r.actor_id, r.request_id, r.origin) for r in rows} == {
        (f"user:{manager.pk}", manager.pk, response["X-Request-ID"], "POST /incidents/x/")
    }


@pytest.mark.django_db
def test_a_real_view_records_the_logged_in_user_and_the_request_id(manager_client, manager, incident):
    start = last_id()
    response = manager_client.post(
        f"/incidents/{incident.code}/severity/", {"severity": "sev1", "expected": incident.severity}
    )
    assert response.status_code in (200, 302)
    rows = events(id__gt=start)
    assert any(r.table_name == "incidents_incident" and r.changed == ["severity"] for r in rows)
    assert {(r.actor_id, r.request_id) for r in rows} == {(manager.pk, response["X-Request-ID"])}


@pytest.mark.django_db
def test_an_admin_action_is_recorded_with_the_administrator_and_the_admin_url(client):
    admin = UserFactory.create(org_role=OrgRole.ADMINISTRATOR, is_staff=True, is_superuser=True)
    client.force_login(admin)
    policy = ResponsePolicy.objects.get(severity="sev4")
    start = last_id()
    url = f"/admin/incidents/responsepolicy/{policy.pk}/change/"
    fields = ("severity", "update_cadence_minutes", "remind_before_minutes", "escalation_grace_minutes")
    form = {field: getattr(policy, field) for field in (*fields, "review_due_days")}
    form["first_response_minutes"] = 999
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    (row,) = events(id__gt=start, table_name="incidents_responsepolicy")
    assert row.new_values == {"first_response_minutes": 999}
    assert (row.actor_id, row.origin) == (admin.pk, f"POST {url}")


@shared_task
def _retitle_role(slug: str, text: str) -> None:
    IncidentRole.objects.filter(slug=slug).update(description=text)


@pytest.mark.django_db
def test_a_celery_task_is_the_actor_of_what_it_writes():
    start = last_id()
    result = _retitle_role.apply(args=("observer", "Set by a task."))
    (row,) = events(id__gt=start)
    assert row.actor == f"task:{_retitle_role.name}"
    assert row.request_id == f"task-{result.id}"
    assert audit.current() is None  # the task's context ended with it


@pytest.mark.django_db(transaction=True)
def test_manage_py_commands_are_the_actor_of_what_they_write():
    start = last_id()
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "warroom.settings",
    }
    code = "from incidents.models import IncidentRole; IncidentRole.objects.filter(slug='observer').update(description='From a shell.')"
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True
    )
    (row,) = events(id__gt=start)
    assert (row.actor, row.origin) == ("command:shell", "command shell")
    assert row.request_id


def _test_database_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


# --- the log is append-only -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor = 'someone else'",
        "DELETE FROM audit_event",
        "UPDATE audit_seal SET hash = '\\x00'::bytea",
        "DELETE FROM audit_seal",
    ],
)
def test_the_audit_tables_refuse_update_and_delete(statement):
    IncidentRole.objects.filter(slug="observer").update(description="Something to audit.")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_seal (seq, event_id, hash, sealed_at) SELECT 1, max(id), '\\x01'::bytea, now() "
            "FROM audit_event"
        )
        cursor.execute("SELECT id, actor FROM audit_event ORDER BY id")
        before_events = cursor.fetchall()
        cursor.execute("SELECT seq, hash FROM audit_seal")
        before_seals = [(s, bytes(h)) for s, h in cursor.fetchall()]
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute(statement)
        cursor.execute("SELECT id, actor FROM audit_event ORDER BY id")
        assert cursor.fetchall() == before_events
        cursor.execute("SELECT seq, hash FROM audit_seal")
        assert [(s, bytes(h)) for s, h in cursor.fetchall()] == before_seals


@pytest.mark.django_db
def test_the_orm_cannot_rewrite_an_audit_row_either():
    IncidentRole.objects.filter(slug="observer").update(description="Something to audit.")
    row = AuditEvent.objects.latest("id")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=row.pk).update(actor="nobody")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        row.delete()
    assert AuditEvent.objects.get(pk=row.pk).actor == row.actor
    assert not AuditSeal.objects.exists()


@pytest.mark.django_db
def test_user_org_role_and_active_flag_changes_are_recorded(manager):
    start = last_id()
    User.objects.filter(pk=manager.pk).update(org_role=OrgRole.ADMINISTRATOR, is_active=False)
    (row,) = events(id__gt=start)
    assert row.changed == ["is_active", "org_role"]
    assert row.old_values == {"is_active": True, "org_role": "crisis_manager"}


@pytest.mark.django_db
def test_removing_a_team_member_records_the_permission_rows_deleted(incident, manager, member):
    give_role(incident, member, "scribe", actor=manager)
    assignment = RoleAssignment.objects.get(incident=incident, user=member, ended_at__isnull=True)
    start = last_id()
    services.team_remove_role(incident=incident, actor=manager, assignment=assignment)
    deleted = [r for r in events(id__gt=start) if r.table_name == "incidents_incidentuserobjectpermission"]
    assert deleted
    assert all(r.op == "D" and (r.old_values or {})["user_id"] == member.pk for r in deleted)


@pytest.mark.django_db
def test_new_incidents_are_recorded_with_their_declarer(manager):
    start = last_id()
    with audit.as_user(manager):
        incident = IncidentFactory.create(declared_by=manager)
    created = [r for r in events(id__gt=start) if r.table_name == "incidents_incident"]
    assert [(r.op, r.row_pk, r.incident_id, r.actor_id) for r in created] == [
        ("I", str(incident.pk), incident.pk, manager.pk)
    ]
