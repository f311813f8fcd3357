"""Playbooks: seeds, versions and the editor (a new version never reaches a running incident), review
reminders, the pages and the beat schedule. Declaring from a playbook and drills: test_playbooks_declare.py."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import (
    Deadline,
    Incident,
    Notification,
    OrgRole,
    OutboundEmail,
    StatementTemplate,
)
from incidents.playbooks import services as pb
from incidents.playbooks.compare import compare_versions
from incidents.playbooks.models import (
    IncidentPlaybook,
    Playbook,
    PlaybookVersion,
)
from incidents.playbooks.seeds import SEEDS, ensure_playbooks
from tests.factories import UserFactory
from tests.factories_playbooks import (
    HX,
    PLAYBOOK_TABLES,
    declare_post,
    make_people,
    make_playbook,
)
from tests.helpers import race, snapshot


@pytest.fixture
def people(db):
    return make_people()


@pytest.fixture
def playbook(manager, people) -> Playbook:
    return make_playbook(manager, people)


# --- seeds ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_six_seeded_playbooks_with_tasks_roles_templates_contacts_and_injects():
    seeded = Playbook.objects.filter(name__in=[s["name"] for s in SEEDS])
    assert seeded.count() == 6
    assert set(seeded.values_list("scenario", flat=True)) == {
        "outage",
        "data_breach",
        "controversial_post",
        "complaint",
        "conduct",
        "misinformation",
    }
    for p in seeded:
        v = p.latest()
        assert (v.tasks.count() >= 5, v.roles.count() >= 3, v.injects.count() >= 2) == (True, True, True), (
            p.name
        )
        assert v.contacts.exists()
        assert v.bridge_line
        assert v.press_inbox
        for link in v.templates.select_related("template"):
            t = link.template
            t.full_clean()  # known placeholders, within the channel's limit
            # Every template promises when the next update comes.
            assert "{next_update_time}" in t.body, t.name
    assert ensure_playbooks() == 0  # idempotent: nothing doubled


# --- versions: editing never reaches a running incident -------------------------------------------------------


def _edit_data(client, playbook: Playbook) -> dict[str, str]:
    """The editor's own form, as the browser would post it back unchanged."""
    response = client.get(reverse("playbooks:edit", args=[playbook.code]))
    assert response.status_code == 200
    form = response.context["editor"]
    data: dict[str, str] = {}
    for field in form.main:
        value = field.value()
        if isinstance(value, list):
            data[field.html_name] = value  # type: ignore[assignment]
        elif isinstance(value, bool):
            if value:
                data[field.html_name] = "on"
        elif value is not None:
            data[field.html_name] = str(value)
    for fs in form.sets.values():
        for field in fs.management_form:
            data[field.html_name] = str(field.value())
        for row in fs.forms:
            for field in row:
                value = field.value()
                if value not in (None, False, ""):
                    data[field.html_name] = str(value)
    return data


@pytest.mark.django_db
def test_editing_makes_a_new_version_and_the_running_incident_keeps_its_own(manager_client, playbook):
    declare_post(manager_client, playbook)
    incident = Incident.objects.get()
    tasks_before = list(Deadline.objects.filter(incident=incident).values_list("title", "due_at", "state"))
    v1 = playbook.latest()
    old_template = v1.templates.select_related("template").first().template

    data = _edit_data(manager_client, playbook)
    data["tasks-0-title"] = "Acknowledge publicly within 15 minutes"
    data["tasks-0-offset_minutes"] = "15"
    data["templates-0-body"] = "We know about {incident_title}. Sorry. Next update by {next_update_time}."
    data["tasks-TOTAL_FORMS"] = "4"
    data |= {"tasks-3-title": "Brief the CEO", "tasks-3-offset_minutes": "20", "tasks-3-role": ""}
    data["change_note"] = "Faster acknowledgement"
    response = manager_client.post(reverse("playbooks:edit", args=[playbook.code]), data)
    assert response.status_code == 302, response.content.decode()[:3000]

    playbook.refresh_from_db()
    assert playbook.latest_number == 2
    v2 = playbook.latest()
    assert v2.change_note == "Faster acknowledgement"
    assert v2.tasks.count() == 4
    assert v1.tasks.count() == 3
    # Unchanged template text reuses the row; the changed one is a new row (copy on write).
    v2_templates = [link.template for link in v2.templates.select_related("template")]
    assert v2_templates[0].pk != old_template.pk
    assert v2_templates[1].pk == v1.templates.all()[1].template_id
    old_template.refresh_from_db()
    assert old_template.body.startswith("We know about {incident_title} and we're sorry")

    # The running incident: same version, same deadlines, and the old wording offered.
    assert IncidentPlaybook.objects.get(incident=incident).version == v1
    assert (
        list(Deadline.objects.filter(incident=incident).values_list("title", "due_at", "state"))
        == tasks_before
    )
    page = manager_client.get(reverse("incidents:statement-new", args=[incident.code])).content.decode()
    assert old_template.name in page
    assert v2_templates[0].name not in page

    # Compare shows the changes readably.
    diff = manager_client.get(
        reverse("playbooks:compare", args=[playbook.code]), {"a": 1, "b": 2}
    ).content.decode()
    assert "Brief the CEO" in diff
    assert "Acknowledge publicly within 15 minutes" in diff
    assert "+5 min · Pause scheduled posts" in diff  # the line it replaced
    assert "Holding (X)" in diff  # the changed template, with a word diff


@pytest.mark.django_db
def test_a_stale_edit_is_a_409_that_keeps_the_input_and_changes_nothing(manager_client, manager, playbook):
    data = _edit_data(manager_client, playbook)
    pb.playbook_save_version(
        playbook=playbook, actor=manager, base_number=1, content=pb.content_of(playbook.latest())
    )
    before = snapshot(PLAYBOOK_TABLES)
    data["description"] = "My careful rewrite of the plan."
    response = manager_client.post(reverse("playbooks:edit", args=[playbook.code]), data)
    assert response.status_code == 409
    html = response.content.decode()
    assert "My careful rewrite of the plan." in html
    assert "saved as v2 while you were editing v1" in html
    assert snapshot(PLAYBOOK_TABLES) == before
    # Having seen v2, the user saves theirs on top of it.
    response = manager_client.post(reverse("playbooks:edit", args=[playbook.code]), data | {"save_over": "2"})
    assert response.status_code == 302
    assert playbook.versions.get(number=3).description == "My careful rewrite of the plan."


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "This field is required"),
        ("tasks-0-offset_minutes", "-5", "greater than or equal to 0"),
        ("tasks-0-title", "", "This field is required"),
        ("templates-0-body", "Hello {ceo_name}", "Unknown placeholders"),
        ("templates-0-body", "x" * 300, "X allows 280 characters"),
        ("roles-0-person", "ghost@example.com", "Nobody with an active account"),
        ("roles-0-backup", "erik@northwind.example", "own backup"),
        ("injects-0-kind", "telepathy", "Select a valid choice"),
        ("tasks-TOTAL_FORMS", "999", ""),
    ],
)
def test_malformed_editor_input_is_refused_inline_and_changes_nothing(
    manager_client, playbook, field, value, message
):
    data = _edit_data(manager_client, playbook)
    data[field] = value
    before = snapshot(PLAYBOOK_TABLES)
    response = manager_client.post(reverse("playbooks:edit", args=[playbook.code]), data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert snapshot(PLAYBOOK_TABLES) == before


@pytest.mark.django_db
def test_create_duplicate_retire_restore_and_review(manager_client, manager, playbook):
    data = _edit_data(manager_client, playbook)
    data.pop("base_number", None)
    data["name"] = "Checkout outage — Nordics"
    response = manager_client.post(reverse("playbooks:new"), data)
    assert response.status_code == 302
    created = Playbook.objects.get(name="Checkout outage — Nordics")
    assert created.latest_number == 1
    assert created.latest().tasks.count() == 3
    # A taken name is refused, nothing written.
    before = snapshot(PLAYBOOK_TABLES)
    assert manager_client.post(reverse("playbooks:new"), data).status_code == 422
    assert snapshot(PLAYBOOK_TABLES) == before

    response = manager_client.post(reverse("playbooks:duplicate", args=[playbook.code]))
    copy = Playbook.objects.get(name="Copy of Checkout outage")
    assert response["Location"] == reverse("playbooks:edit", args=[copy.code])
    assert compare_versions(playbook.latest(), copy.latest())[1][0].any is False  # same roles

    manager_client.post(reverse("playbooks:retire", args=[playbook.code]), {"retire": "1"})
    playbook.refresh_from_db()
    assert playbook.is_retired
    assert str(playbook.code) not in manager_client.get(reverse("incidents:declare")).content.decode()
    assert manager_client.get(reverse("playbooks:edit", args=[playbook.code])).status_code == 302
    manager_client.post(reverse("playbooks:retire", args=[playbook.code]), {"retire": "0"})
    playbook.refresh_from_db()
    assert not playbook.is_retired

    Playbook.objects.filter(pk=playbook.pk).update(reviewed_on=timezone.localdate() - timedelta(days=120))
    manager_client.post(reverse("playbooks:review", args=[playbook.code]))
    playbook.refresh_from_db()
    # The date as the reviewer sees it: near midnight UTC their day may already be tomorrow.
    assert playbook.reviewed_on == timezone.localdate(timezone=ZoneInfo(manager.time_zone))


@pytest.mark.django_db
def test_adding_a_row_over_htmx_and_without_javascript(manager_client, playbook):
    response = manager_client.get(reverse("playbooks:row"), {"list": "tasks", "tasks-TOTAL_FORMS": "3"}, **HX)
    html = response.content.decode()
    assert 'name="tasks-3-title"' in html
    assert 'name="tasks-TOTAL_FORMS" value="4"' in html
    assert 'hx-swap-oob="true"' in html
    assert manager_client.get(reverse("playbooks:row"), {"list": "nope"}).status_code == 404
    data = _edit_data(manager_client, playbook) | {"add_row": "contacts"}
    before = snapshot(PLAYBOOK_TABLES)
    response = manager_client.post(reverse("playbooks:edit", args=[playbook.code]), data)
    assert response.status_code == 200
    assert 'name="contacts-0-name"' in response.content.decode()
    assert snapshot(PLAYBOOK_TABLES) == before


@pytest.mark.django_db(transaction=True)
def test_two_managers_saving_at_once_keep_versions_consecutive_and_lose_nothing(manager, playbook):
    other = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)
    base = pb.content_of(playbook.latest())
    for round_ in range(5):
        playbook.refresh_from_db()
        number = playbook.latest_number

        def save(i: int, round_: int = round_, number: int = number) -> PlaybookVersion:
            who = (manager, other)[i]
            content = pb.Content(**{**base.__dict__, "description": f"round {round_} by {who.pk}"})
            return pb.playbook_save_version(playbook=playbook, actor=who, base_number=number, content=content)

        results = race(2, save)
        won = [r for r in results if isinstance(r, PlaybookVersion)]
        lost = [r for r in results if isinstance(r, pb.StaleVersion)]
        assert (len(won), len(lost)) == (1, 1), results
        assert won[0].number == number + 1
        # The loser's text is not written anywhere; their form gets a 409 and keeps it.
        assert PlaybookVersion.objects.filter(playbook=playbook, number=number + 1).count() == 1
    numbers = list(playbook.versions.order_by("number").values_list("number", flat=True))
    assert numbers == list(range(1, 7))
    for v in playbook.versions.all():
        assert v.tasks.count() == 3
        assert v.templates.count() == 2


# --- review reminders ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_owner_is_reminded_once_when_a_playbook_goes_90_days_unreviewed(manager, playbook):
    today = timezone.localdate()
    Playbook.objects.filter(pk=playbook.pk).update(reviewed_on=today - timedelta(days=89))
    assert pb.review_reminders_send(today=today) == 0
    Playbook.objects.filter(pk=playbook.pk).update(reviewed_on=today - timedelta(days=90))
    assert pb.review_reminders_send(today=today) == 1
    assert pb.review_reminders_send(today=today + timedelta(days=1)) == 0  # once per review date
    note = Notification.objects.get(recipient=manager)
    assert "Checkout outage" in note.text
    assert "90 days" in note.text
    assert note.url == reverse("playbooks:detail", args=[playbook.code])
    assert OutboundEmail.objects.filter(key__startswith=f"playbook-review:{playbook.pk}:").count() == 1
    # Reviewed again, then forgotten again: a new reminder.
    pb.playbook_mark_reviewed(playbook=playbook, actor=manager)
    assert pb.review_reminders_send(today=today + timedelta(days=91)) == 1
    # Retired playbooks are not nagged about.
    pb.playbook_retire(playbook=playbook, actor=manager)
    assert pb.review_reminders_send(today=today + timedelta(days=400)) == 0


@pytest.mark.django_db
def test_pages_render(manager_client, playbook):
    for name in ("playbooks:list", "playbooks:new"):
        assert manager_client.get(reverse(name)).status_code == 200
    for name in ("playbooks:detail", "playbooks:edit", "playbooks:compare"):
        assert manager_client.get(reverse(name, args=[playbook.code])).status_code == 200
    assert (
        manager_client.get(reverse("playbooks:detail", args=[playbook.code]), {"v": "7"}).status_code == 200
    )
    assert (
        manager_client.get(reverse("playbooks:compare", args=[playbook.code]), {"a": "9"}).status_code == 404
    )
    assert StatementTemplate.objects.filter(name__startswith="Checkout outage: ").count() == 2


def test_beat_runs_the_inject_sweep_every_few_seconds_and_the_review_reminder_daily():
    from warroom.celery import app

    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert schedule["incidents.playbooks.tasks.sweep_drill_injects"] <= timedelta(seconds=5)
    assert schedule["incidents.playbooks.tasks.remind_playbook_reviews"] == timedelta(days=1)
    app.loader.import_default_modules()
    assert {
        "incidents.playbooks.tasks.sweep_drill_injects",
        "incidents.playbooks.tasks.remind_playbook_reviews",
    } <= set(app.tasks)
