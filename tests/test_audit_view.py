"""The audit log page: administrators only, read-only, filters and keyset pages — and a restricted incident's
rows show an administrator who is not on its team nothing but their envelope."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from incidents.audit.context import as_user
from incidents.audit.models import AuditEvent
from incidents.models import IncidentRole, OrgRole
from tests.factories import IncidentFactory, UserFactory, give_role

URL = reverse("audit:log")


@pytest.fixture
def administrator(db):
    return UserFactory.create(display_name="Ada Administrator", org_role=OrgRole.ADMINISTRATOR)


@pytest.fixture
def admin_browser(client, administrator):
    client.force_login(administrator)
    return client


@pytest.fixture
def secret_incident(manager, member):
    with as_user(manager, origin="POST /incidents/declare/"):
        incident = IncidentFactory.create(
            declared_by=manager, is_restricted=True, title="Breach at the payments processor"
        )
        give_role(incident, member, "legal", actor=manager)
    return incident


def rows_in(html: str) -> list[str]:
    return re.findall(r'<tr id="audit-(\d+)"', html)


def results(html: str) -> str:
    return html[html.index('<section id="audit-results"') :]


def row_html(html: str, pk: int) -> str:
    start = html.index(f'<tr id="audit-{pk}"')
    return html[start : html.index("</tr>", start)]


@pytest.mark.django_db
def test_only_administrators_may_read_the_log(client, manager, member, administrator):
    assert client.get(URL).status_code == 302  # to the login page
    for person in (manager, member):
        client.force_login(person)
        assert client.get(URL).status_code == 403
    client.force_login(administrator)
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("private") or "no-store" in response["Cache-Control"]
    assert client.post(URL).status_code == 405


@pytest.mark.django_db
def test_changes_are_listed_newest_first_with_who_what_and_the_values(admin_browser, manager, incident):
    IncidentRole.objects.filter(slug="observer").update(description="Reads along, quietly.")
    html = admin_browser.get(URL).content.decode()
    ids = [int(i) for i in rows_in(html)]
    assert ids == sorted(ids, reverse=True)
    assert "Reads along, quietly." in html
    assert "Role catalogue" in html
    assert incident.title in html  # the unrestricted incident's rows name it
    assert '<abbr class="tz">' in html  # times in the viewer's zone, named


@pytest.mark.django_db
def test_a_restricted_incident_shows_an_outside_administrator_only_the_envelope(
    admin_browser, administrator, manager, member, secret_incident
):
    hidden_rows = AuditEvent.objects.filter(incident_id=secret_incident.pk)
    assert hidden_rows.exists()
    html = admin_browser.get(URL).content.decode()
    assert secret_incident.title not in html
    assert secret_incident.reference not in html
    # The log is complete: every hidden row is counted in a run of them, with nothing but its envelope.
    runs = re.findall(r'<tr id="audit-(\d+)" class="audit-row audit-row-hidden" data-rows="(\d+)"', html)
    assert sum(int(n) for _, n in runs) == hidden_rows.count()
    assert {pk for pk, _ in runs} <= {str(pk) for pk in hidden_rows.values_list("pk", flat=True)}
    for pk, _ in runs:
        envelope = row_html(html, int(pk))
        assert "Restricted" in envelope
        assert "Incident permission" in envelope  # the kind of record is part of the envelope
        for row in hidden_rows:
            assert row.request_id
            for secret in (member.display_name, manager.display_name, f"#{row.row_pk}<", row.request_id):
                assert secret not in envelope
        assert "/incidents/" not in envelope
    # On the team, the same administrator reads everything.
    give_role(secret_incident, administrator, "observer", actor=manager)
    html = admin_browser.get(URL).content.decode()
    assert secret_incident.title in html
    assert "audit-row-hidden" not in html
    assert manager.display_name in row_html(html, hidden_rows.earliest("id").pk)


@pytest.mark.django_db
def test_filters_never_match_rows_the_administrator_may_not_read(
    admin_browser, manager, secret_incident, incident
):
    by_manager = admin_browser.get(URL, {"actor": f"user:{manager.pk}"}).content.decode()
    assert "audit-row-hidden" not in by_manager
    assert secret_incident.title not in by_manager
    request_id = (
        AuditEvent.objects.filter(incident_id=secret_incident.pk)
        .exclude(request_id="")
        .values_list("request_id", flat=True)
    )
    for rid in request_id[:1]:
        assert rows_in(admin_browser.get(URL, {"request": rid}).content.decode()) == []
    response = admin_browser.get(URL, {"incident": secret_incident.reference})
    assert rows_in(response.content.decode()) == []
    assert f"No incident “{secret_incident.reference}” that you can see." in response.content.decode()
    mine = admin_browser.get(URL, {"incident": incident.reference.lower()}).content.decode()
    assert set(rows_in(mine)) == {
        str(pk) for pk in AuditEvent.objects.filter(incident_id=incident.pk).values_list("pk", flat=True)
    }


@pytest.mark.django_db
def test_a_request_filter_lists_what_one_request_changed(admin_browser, manager, incident):
    manager_client = Client()
    manager_client.force_login(manager)
    response = manager_client.post(
        f"/incidents/{incident.code}/severity/", {"severity": "sev1", "expected": incident.severity}
    )
    rid = response["X-Request-ID"]
    html = admin_browser.get(URL, {"request": rid}).content.decode()
    assert set(rows_in(html)) == {
        str(pk) for pk in AuditEvent.objects.filter(request_id=rid).values_list("pk", flat=True)
    }
    assert "Maja Kowalska" in html
    assert f"POST /incidents/{incident.code}/severity/" in html


@pytest.mark.django_db
def test_keyset_pages_cover_every_row_once(admin_browser, django_assert_num_queries):
    for n in range(70):
        IncidentRole.objects.filter(slug="observer").update(description=f"Version {n}")
    total = AuditEvent.objects.count()
    assert total > 60
    with django_assert_num_queries(6):  # session, user, rows, their chain links, people, the sealer
        first = admin_browser.get(URL).content.decode()
    seen = rows_in(first)
    assert len(seen) == 50
    cursor = re.search(r"before=(\d+)", first)
    while cursor:
        page = admin_browser.get(URL, {"before": cursor.group(1)}, HTTP_HX_REQUEST="true").content.decode()
        assert "<html" not in page  # the htmx request gets the rows fragment
        seen += rows_in(page)
        cursor = re.search(r"before=(\d+)", page)
    assert len(seen) == len(set(seen)) == total


@pytest.mark.django_db
def test_bad_filters_are_explained_and_ignored(admin_browser):
    response = admin_browser.get(URL, {"since": "yesterday", "table": "django_session", "actor": "user:x"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "is not a date" in html
    assert rows_in(html)  # the bad values were dropped, not applied
