"""Sending a delivery: claim → send → record, each claim and record a short transaction of its own, never a
transaction held across the network.

1. **Claim** (one row, `FOR UPDATE SKIP LOCKED`): a queued, due delivery becomes `sending` with a lease
   (`PUBLISH_LEASE_SECONDS`) and one more attempt counted. Two workers never send one delivery at once.
2. **Send** through its connector, with the delivery's fixed key (Mastodon's Idempotency-Key, the webhook-id,
   the e-mail outbox keys) or record key (Bluesky rkey). An attempt after one that may have reached the
   platform (`uncertain`) asks the platform first (the same key; Bluesky's getRecord).
3. **Record** (the row locked again): published with the remote id and link — and the statement's one
   Publication written on the first confirmation (`publication_confirm`) — or back in the queue with
   back-off, or failed (certainly not posted), or "needs checking" (may have been posted; a person decides).

A worker killed between 2 and 3 leaves the row `sending`; once its lease runs out the sweep (beat, every
`PUBLISH_SWEEP_SECONDS`) puts it back in the queue marked `uncertain`, and the next attempt finds the post the
dead worker made instead of making another. May import models, connectors and the base app's statement,
timeline and notify services.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents import live
from incidents.models import Channel, StatementError, TimelineEntry
from incidents.models.statements import entry_label
from incidents.publishing.connectors import Failed, Outcome, Parcel, Sent, Unknown, send
from incidents.publishing.models import Delivery, DeliveryState
from incidents.services.statements.publishing import publication_confirm
from incidents.services.timeline import organisation_language, timeline_record

log = logging.getLogger(__name__)
D = DeliveryState


def backoff(attempts: int, asked: float | None = None) -> timedelta:
    """After the n-th failed attempt: base, twice that, four times … with ±20 % jitter, capped at 10 minutes — every retry of
    the default six lands well inside Mastodon's one-hour idempotency window. The platform's Retry-After wins
    when it asks for longer (capped at an hour)."""
    base = float(settings.PUBLISH_BACKOFF_SECONDS) * 2 ** max(attempts - 1, 0)
    seconds = min(base, 600.0) * random.uniform(0.8, 1.2)
    if asked is not None:
        seconds = max(seconds, min(asked, 3600.0))
    return timedelta(seconds=seconds)


# --- 1. claim ----------------------------------------------------------------------------------------------


def claim(delivery_id: int) -> Delivery | None:
    """The delivery, now `sending` under this worker's lease; None when it is not queued and due (already
    sent, being sent, cancelled, or not due yet) — a duplicate task does nothing."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("connector", "version", "statement", "statement__incident", "release")
            .filter(pk=delivery_id, state=D.QUEUED, next_attempt_at__lte=now)
            .first()
        )
        if row is None:
            return None
        row.state = D.SENDING
        row.attempts += 1
        row.lease_until = now + timedelta(seconds=settings.PUBLISH_LEASE_SECONDS)
        row.last_attempt_at = now
        row.first_attempt_at = row.first_attempt_at or now
        row.save(update_fields=["state", "attempts", "lease_until", "last_attempt_at", "first_attempt_at"])
        _moved(row)
    return row


def _moved(row: Delivery) -> None:
    # People watching the statement's page see "sending", "sent", "failed", "retrying" without reloading.
    live.deliveries_changed(row.statement.incident_id, row.statement.code)


def parcel_of(row: Delivery) -> Parcel:
    statement = row.statement
    return Parcel(
        connector=row.connector,
        key=row.key,
        rkey=row.rkey,
        created_at=row.created_at,
        text=row.version.body,
        sha256=row.sha256,
        version=row.version.number,
        title=statement.title,
        language=statement.language,
        audience=statement.audience,
        channel=statement.channel,
        incident_reference=statement.incident.reference,
        statement_code=str(statement.code),
        is_drill=statement.incident.is_drill,
        uncertain=row.uncertain,
        first_attempt_at=row.first_attempt_at if row.attempts > 1 else None,
    )


# --- 2. send -----------------------------------------------------------------------------------------------


def attempt(row: Delivery) -> Outcome:
    """Send exactly the approved bytes (re-hashed here: a row changed under us is refused, not sent)."""
    version = row.version
    if not version.hash_matches() or version.sha256 != row.sha256:
        with organisation_language():  # stored on the delivery and put on the timeline: read by everyone
            why = _(
                "The stored text no longer matches the fingerprint it was approved under; nothing was sent. "
                "Tell an administrator."
            )
        return Failed(why, checked=True)
    try:
        # What the connector says (its errors, its notes) is stored on the delivery and put on the timeline.
        with organisation_language():
            return send(parcel_of(row))
    except Exception as exc:  # a bug or an SDK surprise: the request may have gone out
        log.exception("Publishing delivery %s failed unexpectedly", row.pk)
        with organisation_language():
            why = _("Unexpected error while sending (%(error)s); the next try checks first.") % {
                "error": type(exc).__name__
            }
        return Failed(why, retry=True, uncertain=True)


# --- 3. record ---------------------------------------------------------------------------------------------


def record(claimed: Delivery, outcome: Outcome) -> Delivery:
    """Write what happened, under the row's lock."""
    with transaction.atomic():
        row = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related(
                "connector", "version", "statement", "statement__incident", "release__requested_by"
            )
            .get(pk=claimed.pk)
        )
        if row.state == D.PUBLISHED:
            return row  # another attempt recorded it already
        ours = row.state == D.SENDING and row.attempts == claimed.attempts
        if not ours and not isinstance(outcome, Sent):
            return row  # our lease ran out and the row moved on; its current attempt will tell
        if isinstance(outcome, Sent):
            _published(row, outcome)
        elif isinstance(outcome, Unknown):
            _settle(row, D.UNKNOWN, outcome.message)
        elif outcome.retry and row.attempts < row.attempts_allowed:
            row.state = D.QUEUED
            row.uncertain = row.uncertain or outcome.uncertain
            row.next_attempt_at = timezone.now() + backoff(row.attempts, outcome.retry_after)
            row.http_status = outcome.http_status
            row.error = outcome.message[:1000]
            row.lease_until = None
            row.save(
                update_fields=["state", "uncertain", "next_attempt_at", "http_status", "error", "lease_until"]
            )
            transaction.on_commit(lambda: kick(row.pk, at=row.next_attempt_at))
            _moved(row)
        else:
            maybe_posted = (row.uncertain or outcome.uncertain) and not outcome.checked
            row.http_status = outcome.http_status
            if maybe_posted:
                with organisation_language():
                    advice = _(
                        "An earlier attempt may have been posted: check %(channel)s; record the link if it is "
                        "there, or send it again."
                    ) % {"channel": row.connector.name}
                _settle(row, D.UNKNOWN, f"{outcome.message} {advice}")
            else:
                _settle(row, D.FAILED, outcome.message)
    return row


def _published(row: Delivery, outcome: Sent) -> None:
    now = timezone.now()
    _moved(row)
    row.state = D.PUBLISHED
    row.sent_at = now
    row.remote_id = outcome.remote_id[:300]
    row.remote_url = outcome.url[:500]
    row.http_status = outcome.http_status
    row.error = ""
    row.note = outcome.note[:500]
    row.lease_until = None
    row.save(
        update_fields=[
            "state",
            "sent_at",
            "remote_id",
            "remote_url",
            "http_status",
            "error",
            "note",
            "lease_until",
        ]
    )
    confirm(row, published_at=now, link=row.remote_url)


def confirm(row: Delivery, *, published_at: datetime, link: str) -> None:
    """The statement's one Publication, on the first confirmation (the others find it), and the entry."""
    statement = row.statement
    release = row.release
    try:
        with transaction.atomic():  # a savepoint: the delivery's own record stands whatever this says
            publication_confirm(
                statement=statement,
                version=row.version,
                actor=release.requested_by,
                channel=row.connector.records_as
                if row.connector.records_as in Channel.values
                else statement.channel,
                published_at=published_at,
                link=link,
                next_update_at=release.next_update_at,
            )
    except StatementError as exc:
        with organisation_language():
            note = _("Posted, but the statement could not be marked published: %(why)s") % {"why": exc}
        row.note = note[:500]
        row.save(update_fields=["note"])
    where = f": {link}" if link else (f" ({row.remote_id})" if row.remote_id else "")
    with organisation_language():
        _entry(
            row,
            _(
                "v%(n)d of %(statement)s went out on %(channel)s%(where)s (sha256 %(sha)s, exactly as approved)."
            )
            % {
                "n": row.version.number,
                "statement": entry_label(statement),
                "channel": row.connector.name,
                "where": where,
                "sha": row.version.short_sha,
            },
        )


def _settle(row: Delivery, state: str, message: str) -> None:
    _moved(row)
    row.state = state
    row.error = message[:1000]
    row.lease_until = None
    row.save(update_fields=["state", "error", "http_status", "lease_until"])
    with organisation_language():
        if state == D.UNKNOWN:
            text = _("Publishing v%(n)d of %(statement)s to %(channel)s needs checking: %(message)s")
        else:
            text = _("Publishing v%(n)d of %(statement)s to %(channel)s failed: %(message)s")
        _entry(
            row,
            text
            % {
                "n": row.version.number,
                "statement": entry_label(row.statement),
                "channel": row.connector.name,
                "message": message,
            },
        )


def _entry(row: Delivery, text: str) -> None:
    # A statement entry: the statement page's regions (the delivery list among them) refresh on it.
    timeline_record(incident=row.statement.incident, kind=TimelineEntry.Kind.STATEMENT, actor=None, text=text)


def deliver(delivery_id: int) -> str:
    """Claim, send and record one delivery (what the Celery task runs)."""
    row = claim(delivery_id)
    if row is None:
        return "skipped"
    outcome = attempt(row)
    return record(row, outcome).state


# --- the sweep and the kicks -------------------------------------------------------------------------------


def sweep(*, limit: int = 100) -> int:
    """Put deliveries whose worker vanished back in the queue (uncertain), and kick what is due (a lost kick
    costs one sweep). Returns how many tasks it queued."""
    now = timezone.now()
    with transaction.atomic():
        stale = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("statement")
            .filter(state=D.SENDING, lease_until__lt=now)
            .order_by("lease_until")[:limit]
        )
        for row in stale:
            row.state = D.QUEUED
            row.uncertain = True
            row.next_attempt_at = now
            row.lease_until = None
            with organisation_language():
                row.error = _(
                    "Attempt %(n)d stopped before it recorded an answer (the worker went away); the next "
                    "attempt asks the platform first."
                ) % {"n": row.attempts}
            row.save(update_fields=["state", "uncertain", "next_attempt_at", "lease_until", "error"])
            _moved(row)
    due = list(
        Delivery.objects.filter(state=D.QUEUED, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        kick(pk)
    return len(due)


ETA_HORIZON = timedelta(minutes=2)


def kick(delivery_id: int, *, at: datetime | None = None) -> None:
    """Ask a worker to send it now (or at `at`); a broker outage only delays it until the sweep."""
    try:
        if at is not None and at > timezone.now():
            if at - timezone.now() > ETA_HORIZON:
                return  # never a long ETA (the broker's visibility timeout): the sweep sends it when due
            deliver_task.apply_async((delivery_id,), eta=at, retry=False)
        else:
            deliver_task.apply_async((delivery_id,), retry=False)
    except Exception:  # kombu raises OperationalError and friends when Redis is down
        log.warning("Redis unavailable; the publishing sweep will send delivery %s.", delivery_id)


# Acknowledged on receipt: a lost task costs one sweep, and claiming makes a duplicate harmless.
@shared_task(name="incidents.publishing.tasks.deliver_task", acks_late=False)
def deliver_task(delivery_id: int) -> str:
    return deliver(delivery_id)


@shared_task(name="incidents.publishing.tasks.sweep_task", acks_late=False)
def sweep_task() -> int:
    return sweep()
