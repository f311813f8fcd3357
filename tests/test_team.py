"""Crisis team: roles, handover, backups, per-incident permissions (django-guardian)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import (
    IncidentRole,
    IncidentUserObjectPermission,
    Notification,
    OrgRole,
    OutboundEmail,
    Perm,
    RoleAssignment,
    TeamEvent,
)
from incidents.permissions import get_incident_for, incident_perms, visible_incidents
from incidents.reviews.models import ExportJob
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.helpers import snapshot

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
TEAM_TABLES = [
    "incidents_incident",
    "incidents_timelineentry",
    "incidents_evidence",
    "incidents_roleassignment",
    "incidents_incidentuserobjectpermission",
    "incidents_teamevent",
    "incidents_notification",
    "incidents_outboundemail",
    "incidents_incidentchange",
]


def _pdf():
    from django.core.files.uploadedfile import SimpleUploadedFile

    from incidents.uploads import clean_upload

    return clean_upload(
        SimpleUploadedFile("statement.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    )


def role(slug: str) -> IncidentRole:
    return IncidentRole.objects.get(slug=slug)


def url(incident, name: str, *args) -> str:
    return reverse(f"incidents:{name}", args=[incident.code, *args])


# --- the catalogue -----------------------------------------------------------------------------------------


def test_the_seeded_catalogue():
    names = list(IncidentRole.objects.values_list("name", flat=True))
    assert names == [
        "Incident commander",
        "Deputy commander",
        "Spokesperson",
        "Communications lead",
        "Drafter",
        "Legal reviewer",
        "Executive approver",
        "Social media manager",
        "Customer support liaison",
        "Scribe",
        "Observer",
    ]
    assert list(IncidentRole.objects.filter(is_command=True).values_list("slug", flat=True)) == ["commander"]
    assert role("observer").perms() == {Perm.VIEW}


# --- services ----------------------------------------------------------------------------------------------


def test_declaring_makes_the_declarer_commander_with_every_permission(manager):
    incident = services.incident_declare(actor=manager, title="T", scenario="other", severity="sev3")
    assignment = RoleAssignment.objects.get(incident=incident)
    assert (assignment.user, assignment.role.slug, assignment.is_command) == (manager, "commander", True)
    assert incident_perms(manager, incident) == set(Perm.values)


def test_declaring_for_someone_else_makes_them_commander_and_the_declarer_deputy(manager, member, mailoutbox):
    with pytest.MonkeyPatch.context():
        incident = services.incident_declare(
            actor=manager, title="Recall rumour", scenario="misinformation", severity="sev2", commander=member
        )
    incident.refresh_from_db()
    assert incident.commander == member
    held = {(a.user, a.role.slug) for a in RoleAssignment.objects.current().filter(incident=incident)}
    assert held == {(member, "commander"), (manager, "deputy")}
    note = Notification.objects.get(recipient=member)
    assert "named you incident commander" in note.text
    assert OutboundEmail.objects.filter(to=member.email).count() == 1


def test_adding_a_member_grants_exactly_the_roles_permissions_and_tells_them(incident, manager, member):
    services.team_add_member(
        incident=incident, actor=manager, user=member, role=role("legal"), note="needs eyes"
    )
    assert incident_perms(member, incident) == {Perm.VIEW, Perm.POST, Perm.APPROVE}
    event = TeamEvent.objects.get(incident=incident)
    assert (event.kind, event.subject, event.actor, event.note) == ("joined", member, manager, "needs eyes")
    assert "as Legal reviewer" in Notification.objects.get(recipient=member).text
    email = OutboundEmail.objects.get(to=member.email)
    assert incident.reference in email.subject
    assert "/incidents/" in email.body


def test_a_second_role_adds_its_permissions(incident, manager, member):
    services.team_add_member(incident=incident, actor=manager, user=member, role=role("legal"))
    services.team_add_member(incident=incident, actor=manager, user=member, role=role("spokesperson"))
    assert incident_perms(member, incident) == {Perm.VIEW, Perm.POST, Perm.APPROVE, Perm.DRAFT, Perm.PUBLISH}
    assert (
        TeamEvent.objects.filter(incident=incident).values_list("kind", flat=True).last() == "role_assigned"
    )


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("duplicate", "already Legal reviewer"),
        ("command", "handover"),
        ("inactive", "no active account"),
        ("own-backup", "own backup"),
    ],
)
def test_refused_additions_change_nothing(incident, manager, member, case, message):
    services.team_add_member(incident=incident, actor=manager, user=member, role=role("legal"))
    kwargs = {"incident": incident, "actor": manager, "user": member, "role": role("legal")}
    if case == "command":
        kwargs["role"] = role("commander")
    elif case == "inactive":
        kwargs["user"] = UserFactory.create(is_active=False)
    elif case == "own-backup":
        kwargs |= {"role": role("scribe"), "backup": member}
    before = snapshot(TEAM_TABLES)
    with pytest.raises(services.TeamError, match=message):
        services.team_add_member(**kwargs)
    assert snapshot(TEAM_TABLES) == before


def test_handover_of_command_keeps_history_and_moves_permissions(incident, manager, member):
    give_role(incident, member, "legal")
    command = RoleAssignment.objects.get(incident=incident, is_command=True)
    successor = services.team_handover(
        incident=incident, actor=manager, assignment=command, to_user=member, note="going off shift"
    )
    incident.refresh_from_db()
    command.refresh_from_db()
    assert incident.commander == member
    assert command.ended_at is not None
    assert command.end_note == "going off shift"
    assert successor.user == member
    assert successor.is_command
    assert successor.started_at >= command.ended_at
    history = list(
        RoleAssignment.objects.filter(incident=incident, role__slug="commander")
        .order_by("started_at")
        .values_list("user__email", flat=True)
    )
    assert history == [manager.email, member.email]
    assert incident_perms(manager, incident) == frozenset()  # manager held only command
    assert Perm.MANAGE_TEAM in incident_perms(member, incident)
    assert (
        "handed Incident commander" in Notification.objects.filter(recipient=member).order_by("-pk")[0].text
    )


def test_handover_keeps_the_backup_and_refuses_a_holder(incident, manager, member):
    deputy = UserFactory.create()
    give_role(incident, member, "legal")
    legal = RoleAssignment.objects.get(incident=incident, user=member)
    services.team_set_backup(incident=incident, actor=manager, assignment=legal, backup=deputy)
    successor = services.team_handover(incident=incident, actor=member, assignment=legal, to_user=manager)
    assert successor.backup == deputy
    before = snapshot(TEAM_TABLES)
    with pytest.raises(services.TeamError):
        services.team_handover(incident=incident, actor=manager, assignment=legal, to_user=deputy)  # ended
    with pytest.raises(services.TeamError):
        services.team_handover(incident=incident, actor=manager, assignment=successor, to_user=manager)
    assert snapshot(TEAM_TABLES) == before


def test_commander_can_neither_leave_nor_be_removed(incident, manager):
    command = RoleAssignment.objects.get(incident=incident, is_command=True)
    before = snapshot(TEAM_TABLES)
    with pytest.raises(services.TeamError, match="Hand command over"):
        services.team_leave(incident=incident, actor=manager)
    with pytest.raises(services.TeamError, match="cannot be removed"):
        services.team_remove_role(incident=incident, actor=manager, assignment=command)
    assert snapshot(TEAM_TABLES) == before


def test_leaving_a_restricted_incident_loses_access_on_the_next_request(client, manager, member):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True, title="Loyalty e-mails exposed")
    give_role(secret, member, "legal")
    client.force_login(member)
    assert client.get(url(secret, "room")).status_code == 200
    response = client.post(url(secret, "team-leave"), **HX)
    assert response["HX-Redirect"] == reverse("incidents:dashboard")
    assert client.get(url(secret, "room")).status_code == 404
    assert "Loyalty" not in client.get(reverse("incidents:dashboard")).content.decode()
    assert TeamEvent.objects.filter(incident=secret, kind="left", subject=member).exists()


def test_removal_takes_effect_on_the_next_request(client, manager, member):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True)
    give_role(secret, member, "drafter")
    client.force_login(member)
    assert client.get(url(secret, "room")).status_code == 200
    assignment = RoleAssignment.objects.get(incident=secret, user=member)
    services.team_remove_role(incident=secret, actor=manager, assignment=assignment)
    assert client.get(url(secret, "room")).status_code == 404
    kinds = list(TeamEvent.objects.filter(incident=secret).values_list("kind", flat=True))
    assert kinds[-2:] == ["role_removed", "removed"]


def test_catalogue_edits_apply_to_current_holders(incident, manager, member):
    give_role(incident, member, "observer")
    observer = role("observer")
    observer.can_post = True
    observer.save()
    assert services.role_resync_holders(role=observer) == 1
    assert Perm.POST in incident_perms(member, incident)


def test_outbox_sends_each_email_once_and_drills_say_so(manager, member, mailoutbox):
    drill = IncidentFactory.create(declared_by=manager, is_drill=True, title="Exercise")
    services.team_add_member(incident=drill, actor=manager, user=member, role=role("scribe"))
    assert services.send_pending_emails() == 1
    assert services.send_pending_emails() == 0
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject.startswith("[DRILL]")
    assert message.to == [member.email]
    assert "Message-ID" in message.extra_headers
    assert Notification.objects.get(recipient=member).text.startswith("[DRILL]")


# --- the role x action matrix over HTTP ----------------------------------------------------------------------

# The documented matrix (README "Roles"): which per-incident action each seeded role may take.
# Written out here rather than derived from the catalogue, so a wrong seed fails this test.
V, P, D, A, PU, T, S = "view", "post", "draft", "approve", "publish", "team", "status"
MATRIX: dict[str | None, set[str]] = {
    "commander": {V, P, D, A, PU, T, S},
    "deputy": {V, P, D, A, PU, T, S},
    "spokesperson": {V, P, D, PU},
    "comms-lead": {V, P, D, A, PU},
    "drafter": {V, P, D},
    "legal": {V, P, A},
    "executive": {V, P, A},
    "social": {V, P, D, PU},
    "support": {V, P, D},
    "scribe": {V, P},
    "observer": {V},
    None: set(),  # not on the team (incident is restricted)
}
# Actions whose screens arrive with later features are checked at the permission door they will use.
DOOR_ONLY = {P: Perm.POST, D: Perm.DRAFT, A: Perm.APPROVE, PU: Perm.PUBLISH}


def _attempt(client, incident, action: str, *, actor_email: str):
    if action == V:
        return client.get(url(incident, "room")).status_code
    if action == T:
        return client.post(
            url(incident, "team-add"), {"person": "new@example.com", "role": role("scribe").pk}
        ).status_code
    if action == S:
        return client.post(
            url(incident, "change-status"), {"status": "assessing", "expected": "detected"}
        ).status_code
    raise AssertionError(action)


@pytest.mark.parametrize("slug", list(MATRIX))
def test_role_action_matrix(client, manager, slug):
    UserFactory.create(email="new@example.com")
    incident = IncidentFactory.create(declared_by=manager, is_restricted=True)
    person = manager if slug == "commander" else UserFactory.create()
    if slug not in (None, "commander"):
        give_role(incident, person, slug)
    client.force_login(person)
    allowed = MATRIX[slug]
    for action in (V, T, S):
        before = snapshot(TEAM_TABLES)
        status = _attempt(client, incident, action, actor_email=person.email)
        if action in allowed:
            assert status in (200, 302), (slug, action, status)
        else:
            assert status == (404 if slug is None else 403), (slug, action, status)
            assert snapshot(TEAM_TABLES) == before, (slug, action)
    for action, perm in DOOR_ONLY.items():
        if slug is None:
            with pytest.raises(Exception, match="No such incident"):
                get_incident_for(person, incident.code, perm)
        elif action in allowed:
            get_incident_for(person, incident.code, perm)
        else:
            with pytest.raises(Exception, match="does not allow"):
                get_incident_for(person, incident.code, perm)


# --- IDOR sweep ----------------------------------------------------------------------------------------------


def _incident_routes():
    """Every URL pattern that takes an incident code — new routes are picked up automatically."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = f"{p.namespace}:" if p.namespace else ""
                yield from walk(p.url_patterns, prefix + ns)
            elif isinstance(p, URLPattern) and p.name and "<uuid:code>" in str(p.pattern):
                yield prefix + p.name, str(p.pattern)

    return sorted(set(walk(get_resolver().url_patterns)))


def test_the_sweep_finds_the_incident_routes():
    names = {name for name, _ in _incident_routes()}
    assert {"incidents:room", "incidents:team-add", "incidents:team-handover", "incidents:contacts"} <= names


@pytest.mark.parametrize(("name", "pattern"), _incident_routes())
def test_idor_sweep_non_member_gets_404_everywhere_and_nothing_changes(client, manager, name, pattern):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True, title="Board member arrested")
    deputy = UserFactory.create()
    give_role(secret, deputy, "deputy")
    assignment = RoleAssignment.objects.get(incident=secret, user=deputy)
    entry = services.timeline_post(
        incident=secret, actor=manager, kind="note", body="Arrest confirmed by police", files=[_pdf()]
    )
    statement = services.statement_create(
        incident=secret, actor=manager, channel="x", title="Board statement", body="He has stepped down."
    )
    real_ids = {
        "code": secret.code,
        "pk": assignment.pk,
        "seq": entry.seq,
        "evidence": entry.evidence.get().code,
        "statement": statement.code,
        "deadline": services.deadlines.deadline_create(
            incident=secret, kind="task", title="Brief the board", due_at=timezone.now() + timedelta(hours=1)
        ).pk,
        # A prepared export of the manager's (incidents/reviews/export_jobs.py): someone else's is a 404 too.
        "job": ExportJob.objects.create(incident=secret, requested_by=manager, fmt="pdf").code,
    }
    outsider = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)
    client.force_login(outsider)
    args = [real_ids[name_] for name_ in re.findall(r"<\w+:(\w+)>", pattern)]
    target = reverse(name, args=args)
    payload = {
        "status": "closed",
        "expected": "detected",
        "severity": "sev4",
        "person": outsider.email,
        "role": role("deputy").pk,
        "to": outsider.email,
        "backup": outsider.email,
        "note": "x",
    }
    before = snapshot(TEAM_TABLES)
    for method in ("get", "post"):
        response = getattr(client, method)(target, payload)
        assert response.status_code in (404, 405), (name, method, response.status_code)
        assert b"Board member arrested" not in response.content
        assert b"Arrest confirmed" not in response.content
    assert snapshot(TEAM_TABLES) == before


def test_assignment_ids_from_another_incident_are_404(manager_client, manager, member):
    mine = IncidentFactory.create(declared_by=manager)
    other = IncidentFactory.create(declared_by=member)
    give_role(other, manager, "legal", actor=member)
    foreign = RoleAssignment.objects.get(incident=other, user=manager)
    before = snapshot(TEAM_TABLES)
    for name in ("team-remove", "team-handover", "team-backup"):
        response = manager_client.post(url(mine, name, foreign.pk), {"to": member.email, "backup": ""})
        assert response.status_code == 404
    assert snapshot(TEAM_TABLES) == before


# --- the global-permission trap ------------------------------------------------------------------------------


def test_model_level_permissions_and_superuser_grant_nothing(client, manager):
    from django.contrib.auth.models import Permission

    secret = IncidentFactory.create(declared_by=manager, is_restricted=True, title="Secret")
    open_incident = IncidentFactory.create(declared_by=manager, title="Public")
    boss = UserFactory.create(is_superuser=True, is_staff=True)
    boss.user_permissions.add(*Permission.objects.filter(content_type__app_label="incidents"))
    assert secret not in visible_incidents(boss)
    client.force_login(boss)
    assert client.get(url(secret, "room")).status_code == 404
    assert "Secret" not in client.get(reverse("incidents:dashboard")).content.decode()
    assert "Secret" not in client.get("/admin/incidents/incident/").content.decode()
    before = snapshot(TEAM_TABLES)
    response = client.post(
        url(open_incident, "change-status"), {"status": "assessing", "expected": "detected"}
    )
    assert response.status_code == 403
    assert snapshot(TEAM_TABLES) == before
    assert not IncidentUserObjectPermission.objects.filter(user=boss).exists()


# --- views -----------------------------------------------------------------------------------------------


def test_add_member_over_htmx_returns_the_panel(manager_client, incident, member):
    response = manager_client.post(
        url(incident, "team-add"), {"person": member.email, "role": role("legal").pk}, **HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="team-panel"')
    assert "Legal reviewer" in html
    assert member.display_name in html


@pytest.mark.parametrize(
    "data",
    [
        {"person": "nobody@example.com", "role": "1"},
        {"person": "", "role": "1"},
        {"person": "erik@example.com", "role": "999999"},
        {"person": "erik@example.com", "role": "commander"},
    ],
)
def test_malformed_add_is_422_with_message_and_changes_nothing(manager_client, incident, member, data):
    before = snapshot(TEAM_TABLES)
    response = manager_client.post(url(incident, "team-add"), data, **HX)
    assert response.status_code == 422
    assert "inline-error" in response.content.decode()
    assert snapshot(TEAM_TABLES) == before


def test_refused_team_change_is_409_and_shown(manager_client, incident, member):
    give_role(incident, member, "legal")
    before = snapshot(TEAM_TABLES)
    response = manager_client.post(
        url(incident, "team-add"), {"person": member.email, "role": role("legal").pk}, **HX
    )
    assert response.status_code == 409
    assert "already Legal reviewer" in response.content.decode()
    assert snapshot(TEAM_TABLES) == before


def test_holders_may_hand_over_their_own_role_but_not_others(client, incident, manager, member):
    colleague = UserFactory.create()
    give_role(incident, member, "legal")
    give_role(incident, colleague, "drafter")
    client.force_login(member)
    own = RoleAssignment.objects.get(incident=incident, user=member)
    other = RoleAssignment.objects.get(incident=incident, user=colleague)
    before = snapshot(TEAM_TABLES)
    assert client.post(url(incident, "team-handover", other.pk), {"to": member.email}).status_code == 403
    assert snapshot(TEAM_TABLES) == before
    assert (
        client.post(url(incident, "team-handover", own.pk), {"to": colleague.email}, **HX).status_code == 200
    )
    assert RoleAssignment.objects.current().get(incident=incident, role__slug="legal").user == colleague


def test_people_type_ahead(manager_client, incident, member):
    html = manager_client.get(url(incident, "team-people"), {"person": "erik"}).content.decode()
    assert f'value="{member.display_name} &lt;{member.email}&gt;"' in html
    assert manager_client.get(url(incident, "team-people"), {"person": "e"}).content.decode().strip() == ""


def test_people_are_found_and_added_by_name_as_well_as_by_email(manager_client, incident):
    """Issue #15: "Priya Raman" → "Nobody … uses". The type-ahead finds her by any words of her name or
    e-mail, and the form takes her full name, her e-mail, or the suggestion as picked."""
    priya = UserFactory.create(display_name="Priya Raman", email="priya@example.com")
    UserFactory.create(display_name="Priya Shah", email="shah@example.com")
    for typed in ("Priya Raman", "raman priya", "priya@exa", "Priya Raman <priya@example.com>"):
        html = manager_client.get(url(incident, "team-people"), {"person": typed}).content.decode()
        assert "priya@example.com" in html, typed
        assert "shah@example.com" not in html, typed  # every word must fit
    legal = IncidentRole.objects.get(slug="legal")
    for n, typed in enumerate(["  priya   RAMAN ", "Priya Raman <priya@example.com>", "PRIYA@example.com"]):
        RoleAssignment.objects.filter(incident=incident, user=priya).update(ended_at=timezone.now())
        response = manager_client.post(
            url(incident, "team-add"), {"person": typed, "role": legal.pk}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200, (typed, response.content.decode()[:300])
        assert RoleAssignment.objects.current().filter(incident=incident, user=priya, role=legal).exists(), n


def test_a_name_that_fits_nobody_or_several_people_is_refused_and_changes_nothing(manager_client, incident):
    UserFactory.create(display_name="Alex Kim", email="alex1@example.com")
    UserFactory.create(display_name="Alex Kim", email="alex2@example.com")
    legal = IncidentRole.objects.get(slug="legal")
    before = snapshot()
    for typed, said in [
        (
            "Alex Kim",
            "Several people are called “Alex Kim”: choose one by e-mail (alex1@example.com, alex2@example.com).",
        ),
        ("Nobody Known", "Nobody active is called “Nobody Known”."),
        ("ghost@example.com", "Nobody with an active account uses “ghost@example.com”."),
    ]:
        response = manager_client.post(
            url(incident, "team-add"), {"person": typed, "role": legal.pk}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 422
        assert said in response.content.decode()
    assert snapshot() == before


def test_type_ahead_is_for_the_team_only(member_client, incident):
    assert member_client.get(url(incident, "team-people"), {"person": "maja"}).status_code == 403


def test_contact_sheet_shows_phone_zone_and_local_time(manager_client, incident, member):
    member.time_zone = "Asia/Tokyo"
    member.save(update_fields=["time_zone"])
    give_role(incident, member, "spokesperson")
    html = manager_client.get(url(incident, "contacts")).content.decode()
    assert "Asia/Tokyo" in html
    assert "JST" in html
    assert member.phone in html
    assert member.email in html
    assert "Spokesperson" in html


def test_members_cannot_declare(member_client):
    before = snapshot(TEAM_TABLES)
    response = member_client.post(
        reverse("incidents:declare"), {"title": "T", "scenario": "other", "severity": "sev4"}
    )
    assert response.status_code == 403
    assert "Only crisis managers" in response.content.decode()
    assert snapshot(TEAM_TABLES) == before


def test_dashboard_shows_my_incidents_and_roles(member_client, manager, member):
    incident = IncidentFactory.create(declared_by=manager, title="Viral boots video")
    give_role(incident, member, "social")
    html = member_client.get(reverse("incidents:dashboard")).content.decode()
    assert "My incidents" in html
    mine = html.split('id="mine-heading"')[1].split("</section>")[0]
    assert "Viral boots video" in mine
    assert "Social media manager" in mine
    assert "added you to" in html  # the notification


def test_mark_notifications_read(member_client, incident, member):
    give_role(incident, member, "scribe")
    member_client.post(reverse("incidents:notifications-read"))
    assert not Notification.objects.filter(recipient=member, read_at__isnull=True).exists()


@pytest.mark.parametrize("team_size", [2, 12])
def test_team_panel_and_dashboard_query_counts_are_constant(
    client, manager, django_assert_max_num_queries, team_size
):
    incidents = [IncidentFactory.create(declared_by=manager) for _ in range(team_size)]
    for incident in incidents:
        for slug in ("legal", "executive", "scribe")[: team_size % 4 + 1]:
            give_role(incident, UserFactory.create(), slug)
        for _ in range(team_size):
            give_role(incident, UserFactory.create(), "observer")
    client.force_login(manager)
    # session, user, incident, my permissions, team, role catalogue
    with django_assert_max_num_queries(6):
        assert client.get(url(incidents[0], "team")).status_code == 200
    with django_assert_max_num_queries(5):
        assert client.get(reverse("incidents:dashboard")).status_code == 200


def test_outgoing_commander_can_stay_on_as_observer(incident, manager, member):
    command = RoleAssignment.objects.get(incident=incident, is_command=True)
    services.team_handover(
        incident=incident, actor=manager, assignment=command, to_user=member, stay_as=role("observer")
    )
    assert incident_perms(manager, incident) == {Perm.VIEW}
    assert RoleAssignment.objects.current().get(incident=incident, user=manager).role.slug == "observer"


def test_handing_over_your_last_role_of_a_restricted_incident_sends_you_to_the_dashboard(
    client, manager, member
):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True)
    give_role(secret, member, "legal")
    command = RoleAssignment.objects.get(incident=secret, is_command=True)
    client.force_login(manager)
    response = client.post(
        url(secret, "team-handover", command.pk), {"to": member.email, "stay_as": ""}, **HX
    )
    assert response["HX-Redirect"] == reverse("incidents:dashboard")
    assert client.get(url(secret, "room")).status_code == 404
