"""403, 404 and 500 in the war room's frame and the person's language: the reason, and a way back."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from incidents.views.errors import server_error
from tests.test_i18n import _compiled_catalogues  # noqa: F401  (the catalogues compiled, as in test_i18n)

pytestmark = pytest.mark.django_db


def _speaks(user, language: str) -> None:
    user.language = language
    user.save(update_fields=["language"])


def test_a_missing_incident_says_so_in_the_persons_language_with_a_way_back(manager_client, manager):
    missing = reverse("incidents:room", args=[uuid.uuid4()])
    page = manager_client.get(missing)
    html = page.content.decode()
    assert page.status_code == 404
    assert "No such incident." in html
    assert reverse("incidents:dashboard") in html
    assert "Back to the dashboard" in html
    assert 'class="topbar"' in html  # the war room's frame, not Django's bare page
    _speaks(manager, "pl")
    html = manager_client.get(missing).content.decode()
    assert "Nie ma takiego incydentu." in html
    assert "Wróć do pulpitu" in html
    assert "No such incident." not in html


def test_an_unknown_address_gets_the_general_reason_not_the_url_patterns(manager_client, manager):
    _speaks(manager, "sv")
    page = manager_client.get("/no/such/page/")
    html = page.content.decode()
    assert page.status_code == 404
    assert "Det finns inget här" in html
    assert "Resolver404" not in html
    assert "tried" not in html


def test_a_forbidden_page_names_what_the_role_does_not_allow(member_client, member):
    _speaks(member, "ru")
    page = member_client.get(reverse("playbooks:new"))
    html = page.content.decode()
    assert page.status_code == 403
    assert "Сценарии редактируют только кризисные менеджеры и администраторы." in html
    assert "Здесь вы не можете этого сделать" in html


def test_the_500_page_needs_no_database_and_speaks_the_active_language():
    request = RequestFactory().get("/")
    with translation.override("pl"), CaptureQueriesContext(connection) as queries:
        response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert "Coś poszło nie tak po naszej stronie" in html
    assert queries.captured_queries == []


def test_someone_not_signed_in_gets_the_frame_without_the_menu(client):
    page = client.get("/no/such/page/")
    html = page.content.decode()
    assert page.status_code == 404
    assert "There is nothing here" in html
    assert "usermenu" not in html
