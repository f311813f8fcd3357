"""What the publishing tests share: the loopback platforms (bench/fake_platforms.py), one connector per kind
pointing at them with its secret in the environment, and running deliveries in the test process.

Fixtures are imported by name (`from tests.factories_publishing import platforms as platforms`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from bench.fake_platforms import FakeBluesky, FakeMastodon, FakeWebhook, serving
from incidents.publishing import delivery as delivery_module
from incidents.publishing import services as publishing_services
from incidents.publishing.models import Connector, ConnectorKind, Delivery, DeliveryState
from incidents.publishing.services import release_publish
from tests.factories_statements import cv, fresh

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Platforms:
    mastodon: FakeMastodon
    bluesky: FakeBluesky
    webhook: FakeWebhook
    m: Connector
    b: Connector
    w: Connector
    e: Connector


def connectors_for(
    mastodon: FakeMastodon, bluesky: FakeBluesky, webhook: FakeWebhook
) -> tuple[Connector, ...]:
    m = Connector.objects.create(
        name="Mastodon @northwind",
        kind=ConnectorKind.MASTODON,
        base_url=mastodon.url,
        account="@northwind",
        secret_env="WARROOM_PUBLISH_MASTODON_TOKEN",
        max_characters=500,
    )
    b = Connector.objects.create(
        name="Bluesky northwind.example",
        kind=ConnectorKind.BLUESKY,
        base_url=bluesky.url,
        account=bluesky.handle,
        secret_env="WARROOM_PUBLISH_BLUESKY_PASSWORD",
    )
    w = Connector.objects.create(
        name="Status page",
        kind=ConnectorKind.WEBHOOK,
        base_url=webhook.url + "/hooks/warroom",
        secret_env="WARROOM_PUBLISH_WEBHOOK_SECRET",
        accepts=["x", "website"],
    )
    e = Connector.objects.create(
        name="Press list",
        kind=ConnectorKind.EMAIL,
        recipients="press-list@northwind.example\nnewsdesk@example.org",
        accepts=["x", "press_release"],
    )
    return m, b, w, e


@pytest.fixture
def platforms(db, monkeypatch, settings) -> Iterator[Platforms]:
    settings.PUBLISH_TIMEOUT_SECONDS = 2
    settings.PUBLISH_BACKOFF_SECONDS = 0  # retries are due at once; the tests drive them
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    monkeypatch.setenv("WARROOM_PUBLISH_MASTODON_TOKEN", "mastodon-token")
    monkeypatch.setenv("WARROOM_PUBLISH_BLUESKY_PASSWORD", "app-pass-1234")
    monkeypatch.setenv("WARROOM_PUBLISH_WEBHOOK_SECRET", WEBHOOK_SECRET)
    # The test process sends itself (run_all); nothing goes to a broker.
    monkeypatch.setattr(delivery_module, "kick", lambda *a, **k: None)
    monkeypatch.setattr(publishing_services, "kick", lambda *a, **k: None)
    from incidents.publishing.connectors import bluesky

    bluesky._sessions.clear()
    with ExitStack() as stack:
        mastodon = stack.enter_context(serving(FakeMastodon()))
        sky = stack.enter_context(serving(FakeBluesky()))
        hook = stack.enter_context(serving(FakeWebhook()))
        m, b, w, e = connectors_for(mastodon, sky, hook)
        yield Platforms(mastodon, sky, hook, m, b, w, e)


def release(cast, statement, *connectors: Connector, actor=None, **kwargs):
    statement = fresh(statement)
    version = cv(statement)
    return release_publish(
        statement=statement,
        actor=actor or cast.publisher,
        version_number=version.number,
        sha256=version.sha256,
        connectors=list(connectors),
        **kwargs,
    )


def run_all(limit: int = 20) -> list[str]:
    """Send every queued, due delivery in this process until none is left (as workers would)."""
    states = []
    for _ in range(limit):
        due = list(Delivery.objects.filter(state=DeliveryState.QUEUED).values_list("pk", flat=True))
        if not due:
            break
        states += [delivery_module.deliver(pk) for pk in due]
    return states


def of(statement, connector: Connector) -> Delivery:
    return Delivery.objects.get(statement=statement, connector=connector)
