"""Playbooks: seeds, declaring from one, versions, the editor, drills and their injects, review reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import (
    Deadline,
    DeadlineKind,
    Incident,
    Notification,
    OrgRole,
    OutboundEmail,
    RoleAssignment,
    StatementTemplate,
    TimelineEntry,
)
from incidents.playbooks import services as pb
from incidents.playbooks.models import (
    DrillInject,
    IncidentPlaybook,
    InjectKind,
    Playbook,
    PlaybookTemplate,
    PlaybookVersion,
)
from incidents.playbooks.seeds import SEEDS, ensure_playbooks
from incidents.services.deadlines import deadline_complete
from tests.factories import UserFactory
from tests.factories_playbooks import make_people, make_playbook
from tests.helpers import race, snapshot

HX = {"HTTP_HX_REQUEST": "true"}
PLAYBOOK_TABLES = [
    "playbooks_playbook",
    "playbooks_playbookversion",
    "playbooks_playbookrole",
    "playbooks_playbooktask",
    "playbooks_playbooktemplate",
    "playbooks_playbookcontact",
    "playbooks_playbookinject",
    "incidents_statementtemplate",
]
DECLARE_TABLES = [
    "incidents_incident",
    "incidents_roleassignment",
    "incidents_deadline",
    "incidents_timelineentry",
    "playbooks_incidentplaybook",
    "playbooks_drillinject",
]


@pytest.fixture
def people(db):
    return make_people()


@pytest.fixture
def playbook(manager, people) -> Playbook:
    return make_playbook(manager, people)


def declare_post(client, playbook: Playbook, **extra):
    version = playbook.latest()
    data = {
        "playbook": str(playbook.code),
        "playbook_version": str(version.number),
        "title": "Outage: checkout charging twice",
        "severity": "sev2",
        "accept_team": "on",
    }
    for slot in version.roles.select_related("person", "backup"):
        data[f"person_{slot.pk}"] = slot.person.email if slot.person else ""
        data[f"backup_{slot.pk}"] = slot.backup.email if slot.backup else ""
    data.update(extra)
    return client.post(reverse("incidents:declare"), data)


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


# --- declaring from a playbook ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_declare_page_offers_playbooks_and_prefills_from_the_chosen_one(manager_client, playbook):
    page = manager_client.get(reverse("incidents:declare"))
    assert page.status_code == 200
    assert b"Checkout outage" in page.content
    assert b"Start from a playbook" in page.content
    chosen = manager_client.get(reverse("incidents:declare"), {"playbook": str(playbook.code)}, **HX)
    html = chosen.content.decode()
    assert 'value="Outage: "' in html  # the title starts as the playbook suggests
    assert "erik@northwind.example" in html
    assert "priya@northwind.example" in html
    assert "sofia@northwind.example" in html
    assert "Bring in this team now" in html
    assert 'id="declare-area"' in html
    assert "<html" not in html


@pytest.mark.django_db
def test_declaring_from_a_playbook_creates_exactly_what_it_specifies(
    manager_client, manager, playbook, people
):
    response = declare_post(manager_client, playbook)
    assert response.status_code == 302
    incident = Incident.objects.get()
    version = playbook.latest()
    assert response["Location"] == incident.room_url
    assert (incident.scenario, incident.severity, incident.is_drill) == ("outage", "sev2", False)
    assert IncidentPlaybook.objects.get(incident=incident).version == version

    # Team: the two proposed roles, with the backup, besides the declarer in command.
    current = {
        (a.user.email, a.role.slug, a.backup.email if a.backup else None)
        for a in RoleAssignment.objects.current()
        .filter(incident=incident)
        .select_related("user", "role", "backup")
    }
    assert current == {
        (manager.email, "commander", None),
        ("erik@northwind.example", "comms-lead", "sofia@northwind.example"),
        ("priya@northwind.example", "legal", None),
    }

    # Tasks: exactly the three, due at declaration + offset, owned by the person in the task's role.
    tasks = list(Deadline.objects.filter(incident=incident, kind=DeadlineKind.TASK).order_by("due_at"))
    assert [(t.title, t.due_at - incident.declared_at) for t in tasks] == [
        ("Pause scheduled posts", timedelta(minutes=5)),
        ("Acknowledge publicly", timedelta(minutes=30)),
        ("Legal check of the statement", timedelta(minutes=60)),
    ]
    assert [t.owner for t in tasks] == [None, people["erik"], people["priya"]]
    assert {t.key for t in tasks} == {f"playbook-task:{t.pk}" for t in version.tasks.all()}
    assert not DrillInject.objects.exists()  # injects are for drills only
    assert TimelineEntry.objects.filter(
        incident=incident, body__startswith="Declared from the playbook “Checkout outage” v1: 3 tasks"
    ).exists()

    # Template offers: the playbook's two first, marked, and no other playbook's copies in the list.
    page = manager_client.get(reverse("incidents:statement-new", args=[incident.code])).content.decode()
    names = [link.template.name for link in version.templates.select_related("template")]
    positions = [page.index(n) for n in names]
    assert positions == sorted(positions)
    first_general = page.index("Holding statement — outage (X)")
    assert max(positions) < first_general
    assert page.count("from the playbook") == 2
    other = PlaybookTemplate.objects.exclude(version=version).select_related("template").first()
    assert other is not None
    assert other.template.name not in page


@pytest.mark.django_db
def test_the_declarer_can_change_the_proposed_team_or_decline_it(manager_client, playbook, people):
    slot = playbook.latest().roles.get(role__slug="comms-lead")
    declare_post(manager_client, playbook, **{f"person_{slot.pk}": people["daniel"].email})
    incident = Incident.objects.get()
    assert (
        RoleAssignment.objects.current().get(incident=incident, role__slug="comms-lead").user
        == people["daniel"]
    )

    data = {"accept_team": "", "title": "Second one"}
    declare_post(manager_client, playbook, **data)
    second = Incident.objects.get(title="Second one")
    assert list(
        RoleAssignment.objects.current().filter(incident=second).values_list("role__slug", flat=True)
    ) == ["commander"]
    # The checklist is scheduled all the same; nobody owns the role-less tasks.
    assert Deadline.objects.filter(incident=second, kind=DeadlineKind.TASK).count() == 3


@pytest.mark.django_db
def test_bad_declare_input_changes_nothing(manager_client, playbook, people):
    slot = playbook.latest().roles.get(role__slug="comms-lead")
    before = snapshot(DECLARE_TABLES)
    for bad in (
        {"title": ""},
        {f"person_{slot.pk}": "nobody@nowhere.example"},
        {f"backup_{slot.pk}": people["erik"].email},  # own backup
        {"severity": "sev9"},
    ):
        response = declare_post(manager_client, playbook, **bad)
        assert response.status_code == 422, bad
    assert snapshot(DECLARE_TABLES) == before
    retired = pb.playbook_retire(playbook=playbook, actor=playbook.owner)
    response = declare_post(manager_client, retired)
    assert response.status_code == 422
    assert "retired" in response.content.decode()
    assert snapshot(DECLARE_TABLES) == before


@pytest.mark.django_db
def test_members_cannot_declare_or_edit_playbooks_but_can_read_them(member_client, playbook):
    before = snapshot(PLAYBOOK_TABLES + DECLARE_TABLES)
    assert declare_post(member_client, playbook).status_code == 403
    assert member_client.get(reverse("playbooks:detail", args=[playbook.code])).status_code == 200
    assert member_client.get(reverse("playbooks:list")).status_code == 200
    for name in ("edit", "duplicate", "retire", "review"):
        assert member_client.post(reverse(f"playbooks:{name}", args=[playbook.code]), {}).status_code == 403
    assert member_client.post(reverse("playbooks:new"), {"name": "X"}).status_code == 403
    assert member_client.get(reverse("playbooks:row"), {"list": "tasks"}).status_code == 403
    assert snapshot(PLAYBOOK_TABLES + DECLARE_TABLES) == before


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
    assert pb.compare_versions(playbook.latest(), copy.latest())[1][0].any is False  # same roles

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
    assert playbook.reviewed_on == timezone.localdate()


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


# --- drills -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_drill_schedules_its_injects_which_arrive_at_their_times_exactly_once(
    manager_client, manager, playbook
):
    t0 = timezone.now().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        declare_post(manager_client, playbook, is_drill="on")
    incident = Incident.objects.get()
    assert incident.is_drill
    injects = list(DrillInject.objects.filter(incident=incident))
    assert [(i.due_at - t0, i.kind) for i in injects] == [
        (timedelta(seconds=60), InjectKind.JOURNALIST),
        (timedelta(seconds=180), InjectKind.MENTIONS),
    ]

    def inject_entries() -> list[str]:
        return list(
            TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.EXTERNAL)
            .order_by("seq")
            .values_list("body", flat=True)
        )

    with time_machine.travel(t0 + timedelta(seconds=59), tick=False):
        assert pb.inject_sweep() == 0
    assert inject_entries() == []
    with time_machine.travel(t0 + timedelta(seconds=61), tick=False):
        assert pb.inject_sweep() == 1
        assert pb.inject_sweep() == 0  # exactly once
    assert inject_entries() == ["DRILL INJECT — Journalist enquiry: Reporter from DN calls"]
    with time_machine.travel(t0 + timedelta(seconds=200), tick=False):
        assert pb.inject_sweep() == 1
    assert len(inject_entries()) == 2
    assert all(i.posted_at and i.entry_id for i in DrillInject.objects.filter(incident=incident))


@pytest.mark.django_db(transaction=True)
def test_parallel_sweeps_post_each_inject_once(manager, playbook):
    declared = pb.declare_from_playbook(
        actor=manager, version=playbook.latest(), title="Drill", severity="sev3", is_drill=True
    ).incident
    DrillInject.objects.filter(incident=declared).update(due_at=timezone.now() - timedelta(seconds=1))
    counts = race(4, lambda i: pb.inject_sweep())
    assert sum(c for c in counts if isinstance(c, int)) == 2, counts
    assert TimelineEntry.objects.filter(incident=declared, kind=TimelineEntry.Kind.EXTERNAL).count() == 2


@pytest.mark.django_db
def test_injects_of_an_ended_drill_are_not_posted(manager, playbook):
    incident = pb.declare_from_playbook(
        actor=manager, version=playbook.latest(), title="Drill", severity="sev3", is_drill=True
    ).incident
    services.incident_change_status(incident=incident, actor=manager, new_status="closed")
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        assert pb.inject_sweep() == 2
    assert not TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.EXTERNAL).exists()


@pytest.mark.django_db
def test_every_message_a_drill_sends_says_drill(manager_client, manager, playbook, people):
    declare_post(manager_client, playbook, is_drill="on")
    incident = Incident.objects.get()
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        pb.inject_sweep()
    notes = list(Notification.objects.filter(incident=incident).values_list("text", flat=True))
    assert len(notes) >= 2
    assert all(n.startswith("[DRILL]") for n in notes), notes
    mails = list(OutboundEmail.objects.filter(to__in=[p.email for p in people.values()]))
    assert mails
    assert all(m.subject.startswith("[DRILL]") for m in mails)
    mine = TimelineEntry.objects.filter(incident=incident).filter(
        body__contains="playbook"
    ) | TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.EXTERNAL)
    assert mine.count() == 5  # two people joined, the declaration, two injects
    assert all("DRILL" in e.body for e in mine)


@pytest.mark.django_db
def test_drills_are_kept_out_of_metrics(manager, playbook):
    from incidents.reviews.metrics import incident_metrics
    from incidents.reviews.trends import trends_context

    version = playbook.latest()
    drill = pb.declare_from_playbook(
        actor=manager, version=version, title="Drill", severity="sev3", is_drill=True
    ).incident
    real = pb.declare_from_playbook(actor=manager, version=version, title="Real", severity="sev3").incident
    for incident in (drill, real):
        for status in ("responding", "resolved"):
            incident = services.incident_change_status(incident=incident, actor=manager, new_status=status)
    assert incident_metrics(drill).is_drill is True
    trends = trends_context(manager)
    assert trends["incident_count"] == 1  # the real one only
    assert trends["drills_excluded"] == 1


@pytest.mark.django_db
def test_query_counts_do_not_grow_with_the_playbook(
    manager_client, manager, playbook, people, django_assert_max_num_queries
):
    pb.declare_from_playbook(actor=manager, version=playbook.latest(), title="One", severity="sev3")
    bigger = Playbook.objects.get(name="Data breach")  # seeded: more tasks, roles, templates, contacts
    for p in (playbook, bigger):
        with django_assert_max_num_queries(10):
            assert (
                manager_client.get(reverse("incidents:declare"), {"playbook": str(p.code)}).status_code == 200
            )
        with django_assert_max_num_queries(10):
            assert manager_client.get(reverse("playbooks:detail", args=[p.code])).status_code == 200
    with django_assert_max_num_queries(3):
        assert manager_client.get(reverse("playbooks:list")).status_code == 200


@pytest.mark.django_db
def test_after_action_summary_shows_deadlines_and_injects(manager_client, manager, playbook):
    incident = pb.declare_from_playbook(
        actor=manager, version=playbook.latest(), title="Drill", severity="sev3", is_drill=True
    ).incident
    task = Deadline.objects.get(incident=incident, title="Pause scheduled posts")
    deadline_complete(deadline=task, actor=manager)
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        pb.inject_sweep()
    page = manager_client.get(reverse("playbooks:summary", args=[incident.code])).content.decode()
    assert "DRILL — an exercise" in page
    assert "Pause scheduled posts" in page
    assert "Met" in page
    assert "Reporter from DN calls" in page
    assert "arrived" in page
    assert "Checkout outage v1" in page


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


@pytest.mark.django_db
def test_a_proposed_person_who_has_left_is_not_prefilled(manager_client, playbook, people):
    people["erik"].is_active = False
    people["erik"].save(update_fields=["is_active"])
    html = manager_client.get(reverse("incidents:declare"), {"playbook": str(playbook.code)}).content.decode()
    assert 'value="erik@northwind.example"' not in html
    assert 'value="sofia@northwind.example"' in html  # the backup is still proposed
    slot = playbook.latest().roles.get(role__slug="comms-lead")
    response = declare_post(manager_client, playbook, **{f"person_{slot.pk}": ""})
    assert response.status_code == 302
    incident = Incident.objects.get()
    assert not RoleAssignment.objects.filter(incident=incident, role__slug="comms-lead").exists()


@pytest.mark.django_db
def test_room_links_tag_names_the_playbook_and_the_drill_summary(manager, playbook):
    from django.template import Context, Template

    from tests.factories import IncidentFactory

    tag = Template("{% load playbooks %}{% playbook_links incident %}")
    drill = pb.declare_from_playbook(
        actor=manager, version=playbook.latest(), title="Drill", severity="sev3", is_drill=True
    ).incident
    html = tag.render(Context({"incident": drill}))
    assert "Checkout outage v1" in html
    assert reverse("playbooks:summary", args=[drill.code]) in html
    plain = IncidentFactory.create(declared_by=manager)
    assert tag.render(Context({"incident": plain})).strip() == ""
    bare_drill = IncidentFactory.create(declared_by=manager, is_drill=True)
    assert "After-action summary</a>" in tag.render(Context({"incident": bare_drill}))


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


@pytest.mark.django_db
def test_an_unknown_playbook_falls_back_to_the_plain_form_which_still_needs_a_scenario(manager_client):
    before = snapshot(DECLARE_TABLES)
    data = {"playbook": "00000000-0000-0000-0000-000000000001", "title": "T", "severity": "sev3"}
    response = manager_client.post(reverse("incidents:declare"), data)
    assert response.status_code == 422
    assert snapshot(DECLARE_TABLES) == before


def test_statements_go_through_the_chain_the_playbook_names(manager_client, manager, playbook):
    from incidents.models import ApprovalChainTemplate, ApprovalStepTemplate, IncidentRole
    from incidents.services.statements import choose_chain

    # A chain matching would never pick for a SEV2 incident; the playbook names it, so it applies anyway.
    named = ApprovalChainTemplate.objects.create(
        name="Outage playbook: comms lead only", audiences=["public"], severities=["sev4"]
    )
    ApprovalStepTemplate.objects.create(
        chain=named, order=1, name="Comms lead", role=IncidentRole.objects.get(slug="comms-lead")
    )
    version = playbook.latest()
    version.approval_chain = named
    version.save(update_fields=["approval_chain"])
    assert declare_post(manager_client, playbook).status_code == 302
    incident = Incident.objects.get()
    plain = services.incident_declare(
        actor=manager, title="Same, by hand", scenario="outage", severity="sev2"
    )

    assert choose_chain(incident=incident, audience="public", fill_only=False) == named
    # Only for the audiences it covers, and only for incidents declared from that playbook.
    assert choose_chain(incident=incident, audience="staff", fill_only=False) != named
    assert choose_chain(incident=plain, audience="public", fill_only=False) != named
