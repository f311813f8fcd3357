"""Drills rehearse a spike: synthetic mentions, labelled drill everywhere, through the real pipeline.

A drill's commander starts a spike (how many mentions, over how many minutes, how negative). A beat sweep
injects the mentions due so far through `ingest` — rollups, spike detection, alert, queue and reply deadlines
all run exactly as in a crisis — into the drill's own watch only (drill mentions never reach an organisation
watch, so they never move a real baseline or alert a real crisis manager). Every text starts with [DRILL],
every list shows a DRILL chip, and notifications about a drill say so.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.listening import live
from incidents.listening.ingest import ingest
from incidents.listening.models import DrillSpike, MentionPlatform, Sentiment, Source, SourceKind, Watch
from incidents.listening.records import MentionRecord
from incidents.listening.services import ListeningError, require_incident_perm
from incidents.models import Incident, Perm, TimelineEntry, User
from incidents.services import timeline_append
from incidents.services.timeline import organisation_language

MAX_TOTAL = 2000
DRILL_SOURCE = "Drill injects"

_NEGATIVE = (
    "Charged twice again by {brand}. Nobody answers the phone. Unbelievable.",
    "{brand} support is a joke, three hours waiting and still no refund",
    "Is {brand} down? Checkout keeps failing and my card was billed twice #fail",
    "Never ordering from {brand} again. Worst experience ever.",
    "So {brand} just ignores customers now? Still nothing from them.",
)
_NEUTRAL = (
    "Anyone else having issues with {brand} today?",
    "Reading about the {brand} problems, waiting for an official update.",
    "{brand} says they are looking into it.",
)
_POSITIVE = (
    "Fair play to {brand}, refund arrived within the hour. Thanks for sorting it!",
    "{brand} support was great on chat, issue fixed quickly.",
)
_AUTHORS = (
    "@mara_k",
    "@tomasz.b",
    "@lindqvist",
    "@dailydealsuk",
    "@techwatch",
    "@annaspeaks",
    "@oslo_runner",
    "@consumerdesk",
)
_PLATFORMS = (
    MentionPlatform.X,
    MentionPlatform.X,
    MentionPlatform.TIKTOK,
    MentionPlatform.REDDIT,
    MentionPlatform.INSTAGRAM,
)


def drill_source() -> Source:
    source, _created = Source.objects.get_or_create(
        name=DRILL_SOURCE,
        defaults={"kind": SourceKind.DRILL, "platform": MentionPlatform.OTHER, "secret": ""},
    )
    return source


def _drill_watch(incident: Incident, actor: User) -> Watch:
    watch = Watch.objects.filter(incident=incident, is_active=True).first()
    if watch is None:
        watch = Watch.objects.create(
            name=_("DRILL %(ref)s") % {"ref": incident.reference},
            incident=incident,
            include_terms=[incident.reference],
            owner=actor,
            created_by=actor,
        )
    return watch


@transaction.atomic
def drill_spike_start(
    *, incident: Incident, actor: User, total: int, minutes: int, negative_share: float
) -> DrillSpike:
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    require_incident_perm(actor, locked, Perm.CHANGE_STATUS)
    if not locked.is_drill:
        raise ListeningError(_("Synthetic mentions are for drills only."))
    if not locked.is_open:
        raise ListeningError(_("This drill has ended."))
    if not 1 <= total <= MAX_TOTAL:
        raise ListeningError(_("Inject between 1 and %(n)d mentions.") % {"n": MAX_TOTAL})
    if not 1 <= minutes <= 120:
        raise ListeningError(_("Spread them over 1 to 120 minutes."))
    if not 0 <= negative_share <= 1:
        raise ListeningError(_("The negative share is a fraction between 0 and 1."))
    now = timezone.now()
    spike = DrillSpike.objects.create(
        incident=locked,
        watch=_drill_watch(locked, actor),
        total=total,
        negative_share=negative_share,
        starts_at=now,
        ends_at=now + timedelta(minutes=minutes),
        requested_by=actor,
    )
    with organisation_language():
        timeline_append(
            incident=locked,
            kind=TimelineEntry.Kind.EXTERNAL,
            author=actor,
            body=_(
                "DRILL — a spike of %(n)d synthetic mentions (%(share)d%% negative) starts now and runs for %(m)d minutes."
            )
            % {"n": total, "share": round(negative_share * 100), "m": minutes},
        )
    return spike


def _record(spike: DrillSpike, n: int, brand: str, now: datetime) -> MentionRecord:
    rng = random.Random(spike.pk * 100_003 + n)
    roll = rng.random()
    texts: tuple[str, ...]
    if roll < spike.negative_share:
        texts, label = _NEGATIVE, Sentiment.NEGATIVE
    elif roll < spike.negative_share + (1 - spike.negative_share) * 0.6:
        texts, label = _NEUTRAL, Sentiment.NEUTRAL
    else:
        texts, label = _POSITIVE, Sentiment.POSITIVE
    reach = int(rng.lognormvariate(6, 2))
    return MentionRecord(
        external_id=f"drill:{spike.pk}:{n}",
        text="[DRILL] " + rng.choice(texts).format(brand=brand),
        published_at=now,
        platform=rng.choice(_PLATFORMS),
        author_handle=rng.choice(_AUTHORS),
        author_reach=reach,
        language="en",
        sentiment=label,  # the script knows what it wrote: labelled by the source, like a listening tool would
    )


def inject_due(*, now: datetime | None = None) -> int:
    """Inject what each running drill spike owes by now (SKIP LOCKED: parallel sweeps share the work)."""
    now = now or timezone.now()
    injected = 0
    source = drill_source()
    brand = settings.ORGANISATION_NAME.split()[0]
    for spike_id in (
        DrillSpike.objects.filter(starts_at__lte=now)
        .exclude(injected__gte=F("total"))
        .values_list("pk", flat=True)
    ):
        with transaction.atomic():
            spike = (
                DrillSpike.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("incident", "watch")
                .filter(pk=spike_id)
                .first()
            )
            if spike is None or spike.done:
                continue
            if not spike.incident.is_open:
                spike.total = spike.injected  # the drill ended: what is left is never sent
                spike.save(update_fields=["total"])
                continue
            span = max((spike.ends_at - spike.starts_at).total_seconds(), 1.0)
            owed = min(
                spike.total, int(spike.total * min((now - spike.starts_at).total_seconds() / span, 1.0)) + 1
            )
            batch = [_record(spike, n, brand, now) for n in range(spike.injected, owed)]
            if not batch:
                continue
            ingest(source=source, records=batch, watch=spike.watch, is_drill=True, now=now)
            spike.injected = owed
            spike.save(update_fields=["injected"])
            injected += len(batch)
            live.changed(region="mentions", incident_id=spike.incident_id, watch_ids=[spike.watch_id])
    return injected
