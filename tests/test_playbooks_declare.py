"""Declaring from a playbook (pre-filled form, the proposed team, checklist deadlines, the chain it names)
and drills: injects arriving exactly once, DRILL in every message, kept out of metrics, the summary."""

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
    OutboundEmail,
    RoleAssignment,
    TimelineEntry,
)
from incidents.playbooks import declaring
from incidents.playbooks import services as pb
from incidents.playbooks.models import (
    DrillInject,
    IncidentPlaybook,
    InjectKind,
    Playbook,
    PlaybookTemplate,
)
from incidents.services.deadlines import deadline_complete
from tests.factories_playbooks import (
    DECLARE_TABLES,
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
    declared = declaring.declare_from_playbook(
        actor=manager, version=playbook.latest(), title="Drill", severity="sev3", is_drill=True
    ).incident
    DrillInject.objects.filter(incident=declared).update(due_at=timezone.now() - timedelta(seconds=1))
    counts = race(4, lambda i: pb.inject_sweep())
    assert sum(c for c in counts if isinstance(c, int)) == 2, counts
    assert TimelineEntry.objects.filter(incident=declared, kind=TimelineEntry.Kind.EXTERNAL).count() == 2


@pytest.mark.django_db
def test_injects_of_an_ended_drill_are_not_posted(manager, playbook):
    incident = declaring.declare_from_playbook(
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
    drill = declaring.declare_from_playbook(
        actor=manager, version=version, title="Drill", severity="sev3", is_drill=True
    ).incident
    real = declaring.declare_from_playbook(
        actor=manager, version=version, title="Real", severity="sev3"
    ).incident
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
    declaring.declare_from_playbook(actor=manager, version=playbook.latest(), title="One", severity="sev3")
    bigger = Playbook.objects.get(name="Data breach")  # seeded: more tasks, roles, templates, contacts
    for p in (playbook, bigger):
        # 10, plus a fixed 5 for the approvals' staffing (declaring.chain_staffing: the chains, their steps
        # and named approvers, the templates' audiences, who held the missing roles most often).
        with django_assert_max_num_queries(15):
            assert (
                manager_client.get(reverse("incidents:declare"), {"playbook": str(p.code)}).status_code == 200
            )
        with django_assert_max_num_queries(11):  # one query per list shown (the clocks are the newest)
            assert manager_client.get(reverse("playbooks:detail", args=[p.code])).status_code == 200
    with django_assert_max_num_queries(3):
        assert manager_client.get(reverse("playbooks:list")).status_code == 200


@pytest.mark.django_db
def test_after_action_summary_shows_deadlines_and_injects(manager_client, manager, playbook):
    incident = declaring.declare_from_playbook(
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


@pytest.mark.django_db
def test_a_proposed_person_who_has_left_is_not_prefilled(manager_client, playbook, people):
    people["erik"].is_active = False
    people["erik"].save(update_fields=["is_active"])
    html = manager_client.get(reverse("incidents:declare"), {"playbook": str(playbook.code)}).content.decode()
    assert "erik@northwind.example&gt;" not in html
    assert "sofia@northwind.example&gt;" in html  # the backup is still proposed
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
    drill = declaring.declare_from_playbook(
        actor=manager, version=playbook.latest(), title="Drill", severity="sev3", is_drill=True
    ).incident
    html = tag.render(Context({"incident": drill}))
    assert "Checkout outage v1" in html
    assert reverse("playbooks:summary", args=[drill.code]) in html
    plain = IncidentFactory.create(declared_by=manager)
    assert tag.render(Context({"incident": plain})).strip() == ""
    bare_drill = IncidentFactory.create(declared_by=manager, is_drill=True)
    assert "After-action summary</a>" in tag.render(Context({"incident": bare_drill}))


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
