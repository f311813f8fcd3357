"""Demo publishing channels (called from incidents/demo.py). Northwind's Mastodon and Bluesky accounts and the
status-page webhook are configured but have no credentials in a demo (their WARROOM_PUBLISH_… variables are
not set), so publishers see them and are told what is missing; the press distribution list works as it is:
its e-mails go to the development outbox (var/mail/outbox.txt). Idempotent: skipped when they exist."""

from __future__ import annotations

from typing import Any

from incidents.models import Channel
from incidents.publishing.models import Connector, ConnectorKind


def seed_demo_publishing() -> int:
    specs: list[dict[str, Any]] = [
        {
            "name": "Mastodon @northwind@mastodon.social",
            "kind": ConnectorKind.MASTODON,
            "base_url": "https://mastodon.social",
            "account": "@northwind",
            "max_characters": 500,
            "secret_env": "WARROOM_PUBLISH_MASTODON_TOKEN",
        },
        {
            "name": "Bluesky @northwind.example",
            "kind": ConnectorKind.BLUESKY,
            "base_url": "https://bsky.social",
            "account": "northwind.example",
            "secret_env": "WARROOM_PUBLISH_BLUESKY_APP_PASSWORD",
        },
        {
            "name": "Status page (webhook)",
            "kind": ConnectorKind.WEBHOOK,
            "base_url": "https://status.northwind.example/hooks/warroom",
            "secret_env": "WARROOM_PUBLISH_STATUS_SECRET",
            "accepts": [Channel.WEBSITE, Channel.X],
        },
        {
            "name": "Press distribution list",
            "kind": ConnectorKind.EMAIL,
            "recipients": "press-list@northwind.example\nnewsdesk@tt.example",
            "accepts": [Channel.PRESS_RELEASE, Channel.EMAIL, Channel.WEBSITE],
        },
    ]
    added = 0
    for spec in specs:
        _connector, created = Connector.objects.get_or_create(name=spec["name"], defaults=spec)
        added += created
    return added
