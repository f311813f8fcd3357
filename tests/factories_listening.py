"""Listening test data: sources, watches and mention records (the canonical shape every source maps to)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from incidents.listening.models import MentionPlatform, Source, SourceKind, Watch
from incidents.listening.records import MentionRecord
from incidents.models import User

_n = itertools.count(1)


def make_source(
    *, kind: str = SourceKind.WEBHOOK, name: str | None = None, owner: User | None = None, **fields: Any
) -> Source:
    return Source.objects.create(
        name=name or f"Source {next(_n)}",
        kind=kind,
        owner=owner,
        platform=fields.pop("platform", MentionPlatform.X),
        **fields,
    )


def make_watch(*terms: str, name: str | None = None, **fields: Any) -> Watch:
    return Watch.objects.create(
        name=name or f"Watch {next(_n)}", include_terms=list(terms or ("Northwind",)), **fields
    )


def record(
    n: int,
    *,
    text: str = "Northwind charged me twice",
    published_at: datetime | None = None,
    reach: int | None = 100,
    sentiment: str | None = None,
    language: str = "",
    **fields: Any,
) -> MentionRecord:
    return MentionRecord(
        external_id=fields.pop("external_id", f"m-{n}"),
        text=text,
        published_at=published_at or timezone.now() - timedelta(minutes=1),
        platform=fields.pop("platform", MentionPlatform.X),
        author_handle=fields.pop("author_handle", f"@author{n}"),
        author_reach=reach,
        language=language,
        sentiment=sentiment,
        **fields,
    )


def payload_item(n: int, **overrides: Any) -> dict[str, Any]:
    """One mention as a listening tool posts it to the webhook."""
    item: dict[str, Any] = {
        "id": f"bw-{n}",
        "url": f"https://x.com/someone/status/{1000 + n}",
        "author": f"@someone{n}",
        "reach": 1200 + n,
        "text": f"Northwind charged me twice, order {n}",
        "published_at": (timezone.now() - timedelta(minutes=2)).isoformat(),
        "sentiment": "negative",
        "language": "en",
    }
    item.update(overrides)
    return item


def quiet_brand(owner: User, *, hours: int = 95) -> tuple[Watch, Source]:
    """An ordinary brand watch — three neutral mentions an hour for the last `hours` — and the Brand24 webhook
    that will deliver its spike: the baseline a spike alert is measured against."""
    from incidents.listening.models import MentionRollup

    brand = make_watch("Northwind", name="Northwind brand")
    hook = make_source(kind=SourceKind.WEBHOOK, name="Brand24", owner=owner)
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    MentionRollup.objects.bulk_create(
        MentionRollup(watch=brand, bucket=hour - timedelta(hours=h), total=3, neutral=3)
        for h in range(1, hours + 1)
    )
    return brand, hook
