"""The statement page's channels region and its actions over HTTP: who may do what (404 invisible, 403 not
allowed, nothing changed), the answer the page gets, and secrets never shown back."""

from __future__ import annotations

import pytest
from django.urls import reverse

from incidents.models import OrgRole, Publication
from incidents.publishing.models import Delivery, DeliveryState
from tests.factories import UserFactory
from tests.factories_publishing import of, run_all
from tests.factories_publishing import platforms as platforms
from tests.factories_statements import HX, cv, fresh, fully_approved, make_cast
from tests.factories_statements import cast as cast
from tests.factories_statements import seeded as seeded

pytestmark = pytest.mark.django_db


def _url(statement, name: str, *args) -> str:
    return reverse(f"publishing:{name}", args=[statement.incident.code, statement.code, *args])


def _send(client, statement, *connectors, **extra):
    version = cv(fresh(statement))
    data = {
        "version": version.number,
        "sha256": version.sha256,
        "connectors": [c.pk for c in connectors],
        **extra,
    }
    return client.post(_url(statement, "send"), data, **HX)


def test_a_publisher_sends_from_the_region_and_sees_both_links(client, cast, platforms):
    statement = fully_approved(cast)
    client.force_login(cast.publisher)
    region = client.get(_url(statement, "deliveries"), **HX)
    assert region.status_code == 200
    text = region.content.decode()
    assert "Mastodon @northwind" in text
    assert "Bluesky northwind.example" in text
    assert "mastodon-token" not in text
    assert "app-pass-1234" not in text
    answer = _send(client, statement, platforms.m, platforms.b)
    assert answer.status_code == 200
    assert "Publishing now" in answer.content.decode()
    run_all()
    page = client.get(_url(statement, "deliveries"), **HX).content.decode()
    assert of(statement, platforms.m).remote_url in page
    assert of(statement, platforms.b).remote_url in page


def test_a_stale_fingerprint_is_refused_and_nothing_is_queued(client, cast, platforms):
    statement = fully_approved(cast)
    client.force_login(cast.publisher)
    answer = _send(client, statement, platforms.m, sha256="0" * 64)
    assert answer.status_code == 409
    assert "fingerprint" in answer.content.decode()
    assert not Delivery.objects.exists()


def test_someone_who_may_not_publish_gets_403_and_a_stranger_404(client, seeded, platforms):
    cast = make_cast(restricted=True)
    statement = fully_approved(cast)
    client.force_login(cast.legal)
    assert _send(client, statement, platforms.m).status_code == 403
    stranger = UserFactory.create(org_role=OrgRole.ADMINISTRATOR)
    client.force_login(stranger)
    assert _send(client, statement, platforms.m).status_code == 404
    assert client.get(_url(statement, "deliveries")).status_code == 404
    assert not Delivery.objects.exists()


def test_retry_cancel_and_record_a_delivery_that_needs_checking(client, cast, platforms, monkeypatch):
    statement = fully_approved(cast)
    client.force_login(cast.publisher)
    monkeypatch.setenv("WARROOM_PUBLISH_MASTODON_TOKEN", "revoked")
    _send(client, statement, platforms.m, platforms.w)
    d = of(statement, platforms.w)
    assert client.post(_url(statement, "cancel", d.pk), **HX).status_code == 200
    assert of(statement, platforms.w).state == DeliveryState.CANCELLED
    run_all()
    failed = of(statement, platforms.m)
    assert failed.state == DeliveryState.FAILED
    assert (
        client.post(
            _url(statement, "mark-posted", failed.pk), {"link": "https://x.example/1"}, **HX
        ).status_code
        == 409
    )
    monkeypatch.setenv("WARROOM_PUBLISH_MASTODON_TOKEN", "mastodon-token")
    assert client.post(_url(statement, "retry", failed.pk), **HX).status_code == 200
    run_all()
    assert of(statement, platforms.m).state == DeliveryState.PUBLISHED
    assert Publication.objects.get().link == of(statement, platforms.m).remote_url


def test_the_admin_shows_where_a_secret_comes_from_never_what_it_is(client, platforms):
    admin = UserFactory.create(org_role=OrgRole.ADMINISTRATOR, is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get(reverse("admin:publishing_connector_change", args=[platforms.m.pk])).content.decode()
    assert "WARROOM_PUBLISH_MASTODON_TOKEN" in page
    assert "set (from" in page
    assert "mastodon-token" not in page


def test_a_malformed_send_is_422_and_queues_nothing(client, cast, platforms):
    statement = fully_approved(cast)
    client.force_login(cast.publisher)
    answer = _send(client, statement)  # no channel ticked
    assert answer.status_code == 422
    assert "Choose at least one channel" in answer.content.decode()
    assert (
        client.post(
            _url(statement, "send"), {"version": "x", "connectors": [platforms.m.pk]}, **HX
        ).status_code
        == 422
    )
    assert not Delivery.objects.exists()
