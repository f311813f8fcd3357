"""What a connector is given (a Parcel) and what it answers (Sent, Failed or Unknown)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.utils import timezone

from incidents.publishing.models import Connector


@dataclass(frozen=True)
class Parcel:
    """Exactly what goes out, and the keys that make every attempt ask for the same post."""

    connector: Connector
    key: str  # idempotency key / webhook-id / e-mail outbox key prefix
    rkey: str  # Bluesky record key
    created_at: datetime  # fixed when queued: the Bluesky record is the same bytes on every attempt
    text: str  # the approved version's body: the canonical text, sent as its UTF-8 bytes
    sha256: str
    version: int
    title: str
    language: str
    audience: str
    channel: str
    incident_reference: str
    statement_code: str
    is_drill: bool
    uncertain: bool  # an earlier attempt may have reached the platform: ask before sending again
    first_attempt_at: datetime | None


@dataclass(frozen=True)
class Sent:
    remote_id: str
    url: str = ""
    http_status: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Failed:
    message: str
    http_status: int | None = None
    retry: bool = False  # worth trying again by itself (network, 429, 5xx)
    uncertain: bool = False  # the platform may have acted on it before failing to answer
    retry_after: float | None = None  # seconds the platform asked us to wait
    checked: bool = False  # the connector asked the platform and knows nothing was posted


@dataclass(frozen=True)
class Unknown:
    """Whether it went out cannot be told (Mastodon forgets an idempotency key after an hour)."""

    message: str


Outcome = Sent | Failed | Unknown


def timeout() -> float:
    return float(settings.PUBLISH_TIMEOUT_SECONDS)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (a number, or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or timezone.now())).total_seconds())


def short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
