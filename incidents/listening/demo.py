"""Demo listening data that looks like a real crisis (called from incidents/demo.py after the incidents exist).

Northwind listens to its brand through a Brand24-style webhook (plus a paused Google Alerts feed, a paused
Mastodon hashtag connector and a CSV source for exports). Six weeks of ordinary brand chatter give the
detector its baseline; then the checkout double-charge storm of the SEV1 story, which was declared from its
spike alert and has its own watch, queue (some answered, one claimed, one closed as spam) and a request to
hide a critic waiting for a second person; and, in the last hour, a spike about the app's login that nobody
has looked at yet — opened by the real detector, so a crisis manager can declare from it.

Everything goes through the same ingest, scoring, detector and services as production. Idempotent: skipped
when the demo webhook source exists.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from incidents.listening.ingest import enrich_pending, ingest
from incidents.listening.models import (
    AlertKind,
    AlertState,
    MentionPlatform,
    Source,
    SourceKind,
    SpikeAlert,
    Watch,
)
from incidents.listening.records import MentionRecord
from incidents.listening.services.moderation import hide_request
from incidents.listening.services.queue import item_claim, item_close, item_reply
from incidents.listening.spikes import check_watch
from incidents.models import Incident, User

WEBHOOK_NAME = "Brand24 project: Northwind"

_CHATTER = (
    ("Just got my Northwind rain jacket, fits great and actually keeps the rain out", "positive"),
    ("Anyone tried the Northwind winter boots? Thinking of ordering a pair", "neutral"),
    ("Northwind delivery came a day early, nice", "positive"),
    ("Northwind support took ages to answer my email about a return", "negative"),
    ("New Northwind autumn collection is out", "neutral"),
    ("Love the colours of the new Northwind fleece", "positive"),
    ("Northwind prices went up again?", "negative"),
    ("Northwind store in Malmö has a sale this weekend", "neutral"),
)
_STORM = (
    ("@northwind charged me twice for one order #NorthwindFail", "negative"),
    ("Northwind checkout billed my card twice and support is not answering #NorthwindFail", "negative"),
    ("Is anyone else seeing double charges from Northwind? My bank shows two payments", "negative"),
    ("Northwind took 189 EUR twice. Unacceptable. #NorthwindFail", "negative"),
    ("Checking my account after the Northwind news... yep, charged twice", "negative"),
    ("Northwind says they are looking into the double charges", "neutral"),
    ("Northwind pobrał pieniądze dwa razy, nikt nie odpowiada #NorthwindFail", None),
    ("Northwind drog pengarna två gånger för samma order #NorthwindFail", None),
    ("Good that Northwind admitted the double charge quickly, waiting for the refund", "positive"),
)
_LOGIN = (
    ("Can't log in to the Northwind app since this morning, password reset does nothing", "negative"),
    ("Northwind app keeps saying my account is locked??", "negative"),
    ("Is the Northwind app down? Login spinner forever", "negative"),
    ("Northwind app login broken again, I just want to track my parcel", "negative"),
    ("Northwind app works for me now after reinstalling", "neutral"),
)
_AUTHORS = (
    ("@mara_k", 1_800),
    ("@tomasz.b", 640),
    ("@lindqvist", 12_400),
    ("@dailydealsuk", 88_000),
    ("@techwatch", 215_000),
    ("@annaspeaks", 3_100),
    ("@oslo_runner", 950),
    ("@consumerdesk", 41_000),
    ("@jonas_e", 220),
    ("@retailinsider", 132_000),
    ("@sara.p", 410),
    ("@moneysavingtips", 560_000),
)
_PLATFORMS = (
    MentionPlatform.X,
    MentionPlatform.X,
    MentionPlatform.X,
    MentionPlatform.REDDIT,
    MentionPlatform.FACEBOOK,
    MentionPlatform.INSTAGRAM,
)


def _records(
    rng: random.Random, texts: tuple[tuple[str, str | None], ...], times: list[datetime], prefix: str
) -> list[MentionRecord]:
    records = []
    for n, at in enumerate(times):
        text, label = rng.choice(texts)
        author, reach = rng.choice(_AUTHORS)
        records.append(
            MentionRecord(
                external_id=f"{prefix}-{n}",
                text=text,
                published_at=at,
                platform=rng.choice(_PLATFORMS),
                url=f"https://x.com/{author.lstrip('@')}/status/{1_850_000_000_000_000_000 + rng.randrange(10**12)}",
                author_handle=author,
                author_reach=int(reach * rng.uniform(0.9, 1.1)),
                # Brand24 labels most mentions itself; the rest are scored here (VADER) or left to people.
                sentiment=label if rng.random() < 0.7 else None,
            )
        )
    return records


def _baseline_times(rng: random.Random, now: datetime, weeks: int) -> list[datetime]:
    times = []
    start = now - timedelta(weeks=weeks)
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < now - timedelta(hours=2):
        local_hour = hour.hour
        rate = 1.5 + 5 * max(0.0, 1 - abs(local_hour - 15) / 9)  # busiest mid-afternoon, quiet at night
        for _n in range(int(rng.expovariate(1 / rate))):
            times.append(hour + timedelta(seconds=rng.randrange(3600)))
        hour += timedelta(hours=1)
    return times


def _storm_times(rng: random.Random, start: datetime, now: datetime, total: int) -> list[datetime]:
    span = (now - start).total_seconds()
    # Rises fast, peaks about a third in, then eases off as the first statement lands.
    return sorted(start + timedelta(seconds=span * rng.betavariate(2, 3.5)) for _n in range(total))


@transaction.atomic
def seed_demo_listening(users: dict[str, User]) -> None:
    if Source.objects.filter(name=WEBHOOK_NAME).exists():
        return
    maja, erik, sofia = (users[f"{n}@northwind.example"] for n in ("maja", "erik", "sofia"))
    now = timezone.now()
    rng = random.Random(2026)
    brand = Watch.objects.create(
        name="Northwind brand",
        include_terms=["Northwind", "@northwind", "Northwind Outfitters"],
        exclude_terms=["Northwind Grill", "Northwind Traders"],
        owner=maja,
        created_by=maja,
    )
    app = Watch.objects.create(
        name="Northwind app", include_terms=["Northwind app"], owner=maja, created_by=maja, min_volume=10
    )
    hook = Source.objects.create(
        name=WEBHOOK_NAME, kind=SourceKind.WEBHOOK, platform=MentionPlatform.X, owner=maja, created_by=maja
    )
    Source.objects.create(
        name="Google Alerts: Northwind",
        kind=SourceKind.FEED,
        platform=MentionPlatform.NEWS,
        owner=maja,
        created_by=maja,
        url="https://www.google.com/alerts/feeds/00000000000000000000/0000000000000000000",
        is_active=False,
    )
    Source.objects.create(
        name="Mastodon #NorthwindFail",
        kind=SourceKind.MASTODON,
        platform=MentionPlatform.MASTODON,
        owner=maja,
        created_by=maja,
        url="https://mastodon.social",
        tag="NorthwindFail",
        is_active=False,
    )
    Source.objects.create(
        name="Talkwalker exports",
        kind=SourceKind.CSV,
        platform=MentionPlatform.OTHER,
        owner=maja,
        created_by=maja,
    )

    ingest(source=hook, records=_records(rng, _CHATTER, _baseline_times(rng, now, 6), "base"), now=now)
    app_history = [
        now - timedelta(hours=rng.randrange(2, 24 * 21), seconds=rng.randrange(3600)) for _n in range(70)
    ]
    ingest(source=hook, records=_records(rng, _LOGIN[-1:], app_history, "app-base"), now=now)

    checkout = Incident.objects.filter(title__startswith="Checkout charged customers twice").first()
    if checkout is not None:
        _checkout_storm(checkout, brand, hook, rng, now, maja=maja, erik=erik, sofia=sofia)
    # The login spike of the last 40 minutes: the real detector opens its alert.
    ingest(
        source=hook,
        records=_records(rng, _LOGIN, _storm_times(rng, now - timedelta(minutes=40), now, 64), "app"),
        now=now,
    )
    while enrich_pending():
        pass
    check_watch(app, now=now)


def _checkout_storm(
    incident: Incident,
    brand: Watch,
    hook: Source,
    rng: random.Random,
    now: datetime,
    *,
    maja: User,
    erik: User,
    sofia: User,
) -> None:
    own = Watch.objects.create(
        name=f"{incident.reference}: double charges",
        incident=incident,
        include_terms=[
            "#NorthwindFail",
            "charged twice",
            "charged me twice",
            "double charge",
            "double charges",
            "billed my card twice",
        ],
        owner=maja,
        created_by=maja,
        queue_min_reach=10_000,
        sla_min_reach=200_000,
    )
    storm = _records(
        rng, _STORM, _storm_times(rng, incident.detected_at - timedelta(minutes=10), now, 420), "storm"
    )
    ingest(source=hook, records=storm, now=now)
    while enrich_pending():
        pass
    SpikeAlert.objects.create(
        watch=brand,
        kind=AlertKind.VOLUME,
        state=AlertState.DECLARED,
        window_start=incident.detected_at - timedelta(minutes=60),
        window_end=incident.detected_at,
        observed=96,
        expected=7,
        threshold=28,
        negative=61,
        scored=80,
        baseline_share=0.18,
        created_at=incident.detected_at + timedelta(minutes=3),
        incident=incident,
        decided_by=maja,
        decided_at=incident.declared_at,
    )
    items = list(incident.response_items.select_related("mention", "incident").order_by("-reach", "pk")[:6])
    for n, item in enumerate(items):
        if n < 2:
            item_claim(item=item, actor=sofia)
            item_reply(
                item=item,
                actor=sofia,
                text="We're sorry — you will not pay twice. Duplicate charges are being refunded automatically "
                "within 3 working days. If you don't see it by then, message us and we'll chase it for you.",
                posted_url=f"https://x.com/northwind/status/{1_850_000_000_000_100_000 + n}",
            )
        elif n == 2:
            item_claim(item=item, actor=erik)
        elif n == 3:
            item_claim(item=item, actor=sofia)
            item_close(
                item=item,
                actor=sofia,
                reason="spam",
                note="Copy-paste account pushing a refund 'service' link",
            )
    critic = next(
        (i.mention for i in items[4:] if i.mention.sentiment == "negative" and not i.mention.is_hidden), None
    )
    if critic is not None:
        hide_request(
            mention=critic,
            actor=erik,
            reason_kind="other",
            reason="Repeats the same complaint for the fourth time",
        )
    del own
