"""Pages, fragments and POSTs over HTTP with the real middleware stack."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from incidents.models import (
    Incident,
    IncidentChange,
    IncidentQuerySet,
    RoleAssignment,
    Severity,
    Status,
    User,
)
from tests.factories import PASSWORD, IncidentFactory, UserFactory, give_role
from tests.helpers import current_code, snapshot

HX = {"HTTP_HX_REQUEST": "true"}

pytestmark = pytest.mark.django_db


def room_url(incident: Incident, name: str = "room") -> str:
    return reverse(f"incidents:{name}", args=[incident.code])


# --- authentication -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["incidents:dashboard", "incidents:declare", "incidents:past", "profile"])
def test_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_with_email_any_case_and_logout(client, manager):
    response = client.post(reverse("login"), {"username": "MAJA@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("incidents:dashboard")
    # The password alone is not enough: the second factor comes next.
    gate = client.get(reverse("incidents:dashboard"))
    assert gate.status_code == 302
    assert gate["Location"].startswith(reverse("accounts:enrol"))
    passed = client.post(reverse("accounts:verify"), {"code": current_code(manager), "next": "/"})
    assert passed.status_code == 302
    assert passed["Location"] == "/"
    assert client.get(reverse("incidents:dashboard")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405  # no state change on GET
    client.post(reverse("logout"))
    assert client.get(reverse("incidents:dashboard")).status_code == 302


def test_wrong_password_shows_an_error_and_logs_nobody_in(client, manager):
    response = client.post(reverse("login"), {"username": manager.email, "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_inactive_user_cannot_log_in(client, manager):
    manager.is_active = False
    manager.save(update_fields=["is_active"])
    client.post(reverse("login"), {"username": manager.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session


def test_password_reset_by_email(client, manager):
    response = client.post(reverse("password_reset"), {"email": manager.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [manager.email]
    link = next(line for line in message.body.splitlines() if "/reset/" in line)
    path = link.split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path, follow=True)
    assert response.status_code == 200
    form_url = response.redirect_chain[-1][0]
    response = client.post(
        form_url, {"new_password1": "a-much-better-pass-42", "new_password2": "a-much-better-pass-42"}
    )
    assert response.status_code == 302
    manager.refresh_from_db()
    assert manager.check_password("a-much-better-pass-42")


def test_password_change(manager_client, manager):
    response = manager_client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another-good-pass-77",
            "new_password2": "another-good-pass-77",
        },
    )
    assert response.status_code == 302
    manager.refresh_from_db()
    assert manager.check_password("another-good-pass-77")


def test_session_cookie_expires(settings, client, manager):
    client.post(reverse("login"), {"username": manager.email, "password": PASSWORD})
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE <= 12 * 3600
    assert cookie["httponly"]


# --- dashboard ----------------------------------------------------------------------------------------------


def test_dashboard_lists_open_incidents_worst_first_with_drill_badge(manager_client, manager):
    IncidentFactory.create(declared_by=manager, title="Minor grumble", severity=Severity.SEV4)
    IncidentFactory.create(declared_by=manager, title="Site down", severity=Severity.SEV1)
    IncidentFactory.create(
        declared_by=manager, title="Quarterly drill", severity=Severity.SEV2, is_drill=True
    )
    IncidentFactory.create(declared_by=manager, title="Old news", status=Status.RESOLVED)
    html = manager_client.get(reverse("incidents:dashboard")).content.decode()
    assert html.index("Site down") < html.index("Quarterly drill") < html.index("Minor grumble")
    assert "Old news" not in html
    assert "DRILL" in html


def test_restricted_incident_is_hidden_from_other_users(member_client, manager):
    secret = IncidentFactory.create(declared_by=manager, title="Breach of loyalty emails", is_restricted=True)
    html = member_client.get(reverse("incidents:dashboard")).content.decode()
    assert "Breach of loyalty emails" not in html
    assert member_client.get(room_url(secret)).status_code == 404


def test_restricted_incident_is_visible_to_its_commander(client, manager, member):
    secret = IncidentFactory.create(declared_by=manager, commander=member, is_restricted=True, title="Breach")
    client.force_login(member)
    assert "Breach" in client.get(reverse("incidents:dashboard")).content.decode()
    assert client.get(room_url(secret)).status_code == 200


def test_model_permission_does_not_reveal_restricted_incidents(client, manager, member):
    from django.contrib.auth.models import Permission

    member.user_permissions.add(Permission.objects.get(codename="view_incident"))
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True, title="Breach")
    client.force_login(member)
    assert client.get(room_url(secret)).status_code == 404
    assert "Breach" not in client.get(reverse("incidents:dashboard")).content.decode()


def test_empty_dashboard_says_what_to_do(manager_client):
    html = manager_client.get(reverse("incidents:dashboard")).content.decode()
    assert "No open incidents" in html
    assert reverse("incidents:declare") in html


def test_dashboard_polling_gets_only_the_fragment(manager_client, incident):
    response = manager_client.get(reverse("incidents:dashboard"), **HX)
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="open-incidents"' in html
    assert incident.title in html
    assert response["Vary"] == "HX-Request" or "HX-Request" in response["Vary"]


def test_history_restore_gets_the_whole_page(manager_client, incident):
    response = manager_client.get(
        reverse("incidents:dashboard"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()


@pytest.mark.parametrize("count", [3, 30])
def test_dashboard_query_count_is_constant(manager_client, manager, django_assert_max_num_queries, count):
    for i in range(count):
        IncidentFactory.create(declared_by=manager, commander=UserFactory.create(), title=f"Incident {i}")
    # session, user, open incidents (with my roles in them), my notifications
    with django_assert_max_num_queries(4):
        response = manager_client.get(reverse("incidents:dashboard"))
    assert response.content.decode().count('class="incident-row') == count


# --- declare ------------------------------------------------------------------------------------------------


def test_open_incidents_can_be_listed_from_the_partial_index(manager):
    """The dashboard lists the open incidents (a few dozen among thousands archived): the partial index has
    exactly IncidentQuerySet.open()'s condition, so PostgreSQL can answer from it instead of a full scan."""
    from django.db import connection, transaction

    from incidents.permissions import _OPEN_FOR_LISTING, visible_incidents

    orm = visible_incidents(manager).open().for_listing().query.sql_with_params()
    by_hand = (
        _OPEN_FOR_LISTING,
        {"user_id": manager.pk, "view": "view_incident", "archived": list(Incident.ARCHIVED_STATUSES)},
    )
    for sql, params in (orm, by_hand):  # the ORM's form, and the dashboard's hand-written query
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(r[0] for r in cursor.fetchall())
        assert "incident_open_declared" in plan, plan


def test_the_dashboards_listing_query_reads_what_the_orm_listing_reads(manager, member):
    """`open_incidents_for_listing` is `visible_incidents(user).open().for_listing()` written out as SQL:
    same incidents, same order, same values, the commander's name (e-mail when it has none), and the roles
    the user holds in each now."""
    from incidents.permissions import open_incidents_for_listing, visible_incidents

    nameless = UserFactory.create(display_name="")
    plain = IncidentFactory.create(declared_by=manager, title="Plain")
    give_role(plain, member, "social")
    give_role(plain, member, "observer")
    IncidentFactory.create(declared_by=manager, commander=None, title="Nobody in command")
    IncidentFactory.create(declared_by=manager, commander=nameless, title="Nameless commander")
    IncidentFactory.create(declared_by=manager, is_restricted=True, title="Restricted, mine")
    IncidentFactory.create(
        declared_by=member, commander=member, is_restricted=True, title="Restricted, not mine"
    )
    IncidentFactory.create(declared_by=manager, status=Status.RESOLVED, title="Resolved")
    IncidentFactory.create(declared_by=manager, status=Status.CLOSED, title="Closed")

    def rows(incidents: list[Incident]) -> list[tuple[object, ...]]:
        fields = IncidentQuerySet.LISTING_FIELDS
        return [
            (*(getattr(i, f) for f in fields), str(i.commander) if i.commander_id else None)
            for i in incidents
        ]

    for person in (manager, member):
        expected = rows(list(visible_incidents(person).open().for_listing()))
        listed = open_incidents_for_listing(person)
        assert rows(listed) == expected
        # The roles they hold now in each ("My incidents"), in the team's order.
        for incident in listed:
            held = (
                RoleAssignment.objects.current().filter(user=person, incident=incident).select_related("role")
            )
            assert incident.__dict__["viewer_roles"] == [[a.role.name, a.role.is_command] for a in held]
        assert len(expected) == 4  # three for everyone, and the restricted one of their own team
    assert [len(i.__dict__["viewer_roles"]) for i in open_incidents_for_listing(member)] == [1, 0, 0, 2]
    assert str(nameless) == nameless.email
    assert open_incidents_for_listing(_inactive(manager)) == []


def _inactive(person: User) -> User:
    User.objects.filter(pk=person.pk).update(is_active=False)
    person.refresh_from_db()
    return person


def test_declare_creates_incident_and_lands_in_room(manager_client, manager):
    response = manager_client.post(
        reverse("incidents:declare"),
        {
            "title": "Influencer accuses us of fake reviews",
            "scenario": "complaint",
            "severity": "sev2",
            "affected_platforms": ["tiktok", "youtube"],
        },
    )
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == room_url(incident)
    assert incident.commander == manager
    assert incident.affected_platforms == ["tiktok", "youtube"]
    room = manager_client.get(response["Location"]).content.decode()
    assert "Influencer accuses us of fake reviews" in room
    assert "You are the incident commander" in room


def test_declare_over_htmx_redirects_the_client(manager_client):
    response = manager_client.post(
        reverse("incidents:declare"), {"title": "T", "scenario": "other", "severity": "sev4"}, **HX
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == room_url(Incident.objects.get())


def test_declare_with_backdated_detection_in_viewer_time_zone(manager_client, manager):
    # The manager's zone is Europe/Warsaw; the form's naive time is read in that zone.
    local = timezone.localtime(
        timezone.now() - timedelta(hours=2), timezone=__import__("zoneinfo").ZoneInfo("Europe/Warsaw")
    )
    manager_client.post(
        reverse("incidents:declare"),
        {
            "title": "T",
            "scenario": "other",
            "severity": "sev4",
            "detected_at": local.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    incident = Incident.objects.get()
    assert abs((incident.declared_at - incident.detected_at) - timedelta(hours=2)) < timedelta(minutes=2)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"scenario": "other", "severity": "sev4"}, "title"),
        ({"title": "   ", "scenario": "other", "severity": "sev4"}, "title"),
        ({"title": "T", "scenario": "alien", "severity": "sev4"}, "scenario"),
        ({"title": "T", "scenario": "other", "severity": "sev9"}, "severity"),
        ({"title": "T" * 201, "scenario": "other", "severity": "sev4"}, "title"),
        (
            {"title": "T", "scenario": "other", "severity": "sev4", "affected_platforms": ["myspace"]},
            "affected_platforms",
        ),
        (
            {"title": "T", "scenario": "other", "severity": "sev4", "detected_at": "2999-01-01T00:00"},
            "detected_at",
        ),
        (
            {"title": "T", "scenario": "other", "severity": "sev4", "detected_at": "yesterday-ish"},
            "detected_at",
        ),
    ],
)
def test_malformed_declare_shows_inline_errors_and_creates_nothing(manager_client, data, field):
    before = snapshot()
    response = manager_client.post(reverse("incidents:declare"), data, **HX)
    assert response.status_code == 422
    form = response.context["form"]
    assert field in form.errors
    html = response.content.decode()
    assert 'class="inline-error"' in html
    assert "<html" not in html  # the form fragment is swapped in place, input kept
    assert snapshot() == before


def test_declare_form_keeps_the_users_input_after_an_error(manager_client):
    response = manager_client.post(
        reverse("incidents:declare"),
        {"title": "Boots splitting", "scenario": "complaint", "severity": "bogus"},
    )
    html = response.content.decode()
    assert 'value="Boots splitting"' in html
    assert re.search(r'value="complaint"[^>]*checked', html)


# --- the room -----------------------------------------------------------------------------------------------


def test_room_shows_header_regions_and_honest_empty_states(manager_client, incident):
    html = manager_client.get(room_url(incident)).content.decode()
    for text in (
        incident.reference,
        incident.title,
        "Timeline",
        "Statements",
        "Team",
        "Deadlines",
        "Move to assessing",
        "Loading deadlines",
    ):
        assert text in html


def test_room_of_a_drill_is_marked(manager_client, manager):
    drill = IncidentFactory.create(declared_by=manager, is_drill=True)
    html = manager_client.get(room_url(drill)).content.decode()
    assert "DRILL" in html
    assert "exercise" in html


def test_unknown_incident_is_404(manager_client):
    assert manager_client.get("/incidents/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_status_change_over_htmx_returns_the_new_header(manager_client, incident):
    response = manager_client.post(
        room_url(incident, "change-status"), {"status": "assessing", "expected": "detected"}, **HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<header id="incident-header"')
    assert "Move to responding" in html
    assert '<div hx-swap-oob="afterbegin:#timeline-entries"><li id="entry-' in html
    assert "Status: Detected → Assessing" in html
    incident.refresh_from_db()
    assert incident.status == Status.ASSESSING


def test_status_change_without_htmx_redirects_back(manager_client, incident):
    response = manager_client.post(
        room_url(incident, "change-status"), {"status": "assessing", "expected": "detected"}
    )
    assert response.status_code == 302
    assert response["Location"] == room_url(incident)


def test_refused_transition_is_409_with_message_and_changes_nothing(manager_client, incident):
    before = snapshot()
    response = manager_client.post(
        room_url(incident, "change-status"), {"status": "resolved", "expected": "detected"}, **HX
    )
    assert response.status_code == 409
    assert "cannot go from detected to resolved" in response.content.decode()
    assert snapshot() == before


def test_stale_status_click_is_409_and_shows_the_current_status(manager_client, manager, incident):
    from incidents import services

    services.incident_change_status(incident=incident, actor=manager, new_status=Status.ASSESSING)
    before = snapshot()
    response = manager_client.post(
        room_url(incident, "change-status"), {"status": "closed", "expected": "detected"}, **HX
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "while you were looking" in html
    assert "Move to responding" in html  # the header now reflects "assessing"
    assert snapshot() == before


def test_malformed_status_post_is_422_and_changes_nothing(manager_client, incident):
    before = snapshot()
    response = manager_client.post(room_url(incident, "change-status"), {"status": "nonsense"}, **HX)
    assert response.status_code == 422
    assert snapshot() == before


def test_member_without_a_role_may_view_but_not_change_status(member_client, incident):
    assert member_client.get(room_url(incident)).status_code == 200
    before = snapshot()
    response = member_client.post(
        room_url(incident, "change-status"), {"status": "assessing", "expected": "detected"}
    )
    assert response.status_code == 403
    response = member_client.post(
        room_url(incident, "change-severity"), {"severity": "sev1", "expected": "sev2"}
    )
    assert response.status_code == 403
    assert snapshot() == before


def test_outsider_gets_404_on_restricted_posts_and_nothing_changes(client, outsider, manager):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True)
    client.force_login(outsider)
    before = snapshot()
    for name in ("change-status", "change-severity"):
        assert (
            client.post(room_url(secret, name), {"status": "assessing", "expected": "detected"}).status_code
            == 404
        )
    assert snapshot() == before


@pytest.mark.parametrize("name", ["change-status", "change-severity"])
def test_get_on_post_endpoints_is_405(manager_client, incident, name):
    assert manager_client.get(room_url(incident, name)).status_code == 405


def test_severity_change_inline(manager_client, incident):
    response = manager_client.post(
        room_url(incident, "change-severity"), {"severity": "sev1", "expected": "sev2"}, **HX
    )
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.severity == Severity.SEV1
    assert IncidentChange.objects.filter(incident=incident, field="severity").count() == 1


def test_status_changes_land_on_the_timeline_with_their_notes(manager_client, manager, incident):
    from incidents import services

    services.incident_change_status(
        incident=incident, actor=manager, new_status=Status.ASSESSING, note="facts first"
    )
    html = manager_client.get(room_url(incident)).content.decode()
    assert "Status: Detected → Assessing — “facts first”" in html


def test_room_query_count_is_small(manager_client, manager, incident, django_assert_max_num_queries):
    from incidents import services

    for status in (Status.ASSESSING, Status.RESPONDING, Status.MONITORING):
        services.incident_change_status(incident=incident, actor=manager, new_status=status)
    # session, user, incident, my permissions, team, role catalogue, change history
    with django_assert_max_num_queries(7):
        assert manager_client.get(room_url(incident)).status_code == 200


# --- past incidents -----------------------------------------------------------------------------------------


def test_past_lists_archived_incidents_with_keyset_paging(
    manager_client, manager, django_assert_max_num_queries
):
    now = timezone.now()
    for i in range(55):
        IncidentFactory.create(
            declared_by=manager,
            status=Status.CLOSED,
            title=f"Closed {i:02d}",
            declared_at=now - timedelta(hours=i),
        )
    IncidentFactory.create(declared_by=manager, title="Still open")
    with django_assert_max_num_queries(4):
        response = manager_client.get(reverse("incidents:past"))
    html = response.content.decode()
    assert "Closed 00" in html
    assert "Closed 49" in html
    assert "Closed 50" not in html
    assert "Still open" not in html
    cursor = response.context["next_cursor"]
    more = manager_client.get(reverse("incidents:past"), {"before": cursor}, **HX).content.decode()
    assert "Closed 50" in more
    assert "Closed 54" in more
    assert "Closed 49" not in more
    assert "Load older" not in more


def test_past_with_a_garbage_cursor_shows_the_first_page(manager_client, manager):
    IncidentFactory.create(declared_by=manager, status=Status.CLOSED, title="Old one")
    assert (
        "Old one" in manager_client.get(reverse("incidents:past"), {"before": "not-a-date"}).content.decode()
    )


# --- profile and time zones ---------------------------------------------------------------------------------


def test_times_are_shown_in_the_viewers_time_zone(client, manager, member):
    incident = IncidentFactory.create(declared_by=manager)
    member.time_zone = "America/New_York"
    member.save(update_fields=["time_zone"])
    client.force_login(member)
    html = client.get(room_url(incident)).content.decode()
    assert "America/New_York" in html
    assert ("EST" in html) or ("EDT" in html)


def test_profile_update_and_bad_time_zone(manager_client, manager):
    response = manager_client.post(
        reverse("profile"), {"display_name": "Maja K.", "phone": "+48 1", "time_zone": "Asia/Tokyo"}
    )
    assert response.status_code == 302
    manager.refresh_from_db()
    assert (manager.display_name, manager.time_zone) == ("Maja K.", "Asia/Tokyo")
    before = snapshot()
    response = manager_client.post(
        reverse("profile"), {"display_name": "X", "phone": "", "time_zone": "Mars/Olympus"}
    )
    assert response.status_code == 422
    assert snapshot() == before


# --- security headers and health ----------------------------------------------------------------------------


def test_pages_carry_strict_csp_and_no_store(manager_client, incident):
    response = manager_client.get(room_url(incident))
    csp = response["Content-Security-Policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "no-store" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_healthz_reports_database_and_redis(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_admin_is_for_staff_only(client, member, manager):
    client.force_login(member)
    assert client.get("/admin/").status_code == 302
    admin = UserFactory.create(is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/admin/incidents/incident/").status_code == 200
