"""Polling feeds and Mastodon: each source on its own, under its own lease, with back-off when it fails.

A beat sweep hands every due source to its own Celery task. The task claims the source with one conditional
UPDATE (`lease_until` in the past → now + LEASE): two tasks for one source — a slow poll and the next sweep,
or a "poll now" click — never fetch it twice at once, and no transaction stays open across the HTTP
request. A worker that dies mid-poll leaves a lease that simply expires. The fetch has a timeout and a size
cap (http.py); whatever goes wrong is written on the source (last error, next try) and never reaches the
worker or the other sources. Failures back off exponentially (interval · 2^failures, at most an hour) with a
little jitter; the owner hears about the third failure in a row once, and about nothing else.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.listening import live
from incidents.listening.ingest import ingest
from incidents.listening.models import POLLED_KINDS, Source, SourceKind
from incidents.listening.records import IngestError
from incidents.listening.sources.feeds import poll_feed
from incidents.listening.sources.http import FetchError
from incidents.listening.sources.mastodon import poll_mastodon
from incidents.services import in_language_of, notify

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
MAX_BACKOFF = timedelta(hours=1)
TELL_OWNER_AFTER = 3


def due_sources(*, now: datetime | None = None, limit: int = 100) -> list[int]:
    now = now or timezone.now()
    return list(
        Source.objects.filter(is_active=True, kind__in=POLLED_KINDS)
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("next_poll_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def claim(source_id: int, *, now: datetime | None = None) -> Source | None:
    """The per-source lock: one conditional UPDATE; None when another poll holds the source."""
    now = now or timezone.now()
    won = (
        Source.objects.filter(pk=source_id, is_active=True, kind__in=POLLED_KINDS)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE, last_polled_at=now)
    )
    return Source.objects.select_related("watch").get(pk=source_id) if won else None


def backoff(interval_seconds: int, failures: int) -> timedelta:
    base: timedelta = min(timedelta(seconds=interval_seconds * 2 ** max(failures - 1, 0)), MAX_BACKOFF)
    jitter: timedelta = base * random.uniform(0, 0.1)  # spreads retries of sources that failed together
    return base + jitter


@dataclass(frozen=True)
class PollReport:
    source_id: int
    claimed: bool
    ok: bool = False
    stored: int = 0
    not_modified: bool = False
    error: str = ""


def poll_source(source_id: int) -> PollReport:
    """Poll one source now if nobody else is; never raises (the outcome is written on the source)."""
    source = claim(source_id)
    if source is None:
        return PollReport(source_id, claimed=False)
    try:
        return _poll(source)
    except (FetchError, IngestError) as exc:
        return _failed(source, str(exc))
    except Exception as exc:  # a bug or a surprise in one source must not take the worker or others down
        log.exception("Polling source %s failed unexpectedly", source_id)
        return _failed(source, _("Unexpected error: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"})


def _poll(source: Source) -> PollReport:
    now = timezone.now()
    next_at = now + timedelta(seconds=source.poll_interval_seconds)
    if source.kind == SourceKind.FEED:
        feed = poll_feed(source)
        records, fields = feed.records, {"etag": feed.etag, "last_modified": feed.last_modified}
        not_modified = feed.not_modified
    else:
        toot = poll_mastodon(source)
        records, fields, not_modified = toot.records, {"cursor": toot.cursor}, False
        if toot.retry_at is not None:
            next_at = max(next_at, toot.retry_at)
    with transaction.atomic():
        # The validators and the cursor move only together with the mentions they cover.
        result = ingest(source=source, records=records) if records else None
        Source.objects.filter(pk=source.pk).update(
            **fields,
            last_success_at=now,
            last_error="",
            consecutive_failures=0,
            next_poll_at=next_at,
            lease_until=None,
        )
        live.changed(region="sources")
    return PollReport(
        source.pk, claimed=True, ok=True, stored=result.stored if result else 0, not_modified=not_modified
    )


def _failed(source: Source, message: str) -> PollReport:
    now = timezone.now()
    failures = source.consecutive_failures + 1
    with transaction.atomic():
        Source.objects.filter(pk=source.pk).update(
            last_error=message[:2000],
            last_error_at=now,
            consecutive_failures=failures,
            next_poll_at=now + backoff(source.poll_interval_seconds, failures),
            lease_until=None,
        )
        if failures == TELL_OWNER_AFTER and source.owner is not None and source.owner.is_active:
            with in_language_of(source.owner):
                notify(
                    user=source.owner,
                    incident=None,
                    text=_("The listening source “%(name)s” failed %(n)d times in a row: %(error)s")
                    % {"name": source.name, "n": failures, "error": message[:200]},
                    url=reverse("listening:source", args=[source.code]),
                    key=f"source-failing:{source.pk}:{(source.last_success_at or source.created_at).isoformat()}",
                )
        live.changed(region="sources")
    log.warning(
        "Listening source %s (%s) failed (%d in a row): %s", source.pk, source.name, failures, message
    )
    return PollReport(source.pk, claimed=True, error=message)
