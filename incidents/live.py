"""The doorbell between writers (web/worker) and the events process, and the stream tokens.

PostgreSQL holds the truth (timeline rows with a gapless seq); Redis pub/sub only says "incident X has
something new up to seq N". The events process (warroom/events/) replays from PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core import signing
from django.db import transaction

from incidents.models import Incident, User
from warroom.redis import channel_name, deployment_id, get_redis

log = logging.getLogger(__name__)

TOKEN_SALT = "warroom.events.v1"


@dataclass(frozen=True)
class StreamGrant:
    user_id: int
    incident_id: int
    name: str
    initials: str


def mint_stream_token(*, user: User, incident: Incident) -> str:
    """A signed, short-lived pass for one user to one incident's stream (the room page mints it after
    its own permission check; the events process only verifies the signature and re-checks membership)."""
    payload = {"u": user.pk, "i": incident.pk, "n": user.display_name, "a": user.initials}
    return signing.dumps(payload, salt=TOKEN_SALT, compress=True)


def read_stream_token(token: str, *, max_age: int | None = None) -> StreamGrant:
    """Raises signing.BadSignature (or its subclass SignatureExpired) for anything not minted here."""
    data = signing.loads(token, salt=TOKEN_SALT, max_age=max_age or settings.STREAM_TOKEN_MAX_AGE)
    return StreamGrant(
        user_id=int(data["u"]), incident_id=int(data["i"]), name=str(data["n"]), initials=str(data["a"])
    )


def stream_url(*, user: User, incident: Incident) -> str:
    base = settings.EVENTS_URL.rstrip("/")
    return f"{base}/timeline?t={mint_stream_token(user=user, incident=incident)}"


def channel() -> str:
    """One channel for all incidents of this deployment: each events process holds exactly one subscription."""
    return channel_name("timeline")


def publish(payload: dict[str, object]) -> None:
    """Every doorbell names its deployment ("d"); an events process drops any that is not its own."""
    try:
        get_redis().publish(channel(), json.dumps({**payload, "d": deployment_id()}, separators=(",", ":")))
    except redis.RedisError:
        # Posting must work with Redis down: streams catch up through their safety tick or polling.
        log.warning("Redis unavailable; live streams will catch up on their next safety tick.")


# Entries up to this size ride along with their doorbell, so events processes need not read them back.
DOORBELL_HTML_MAX = 16_000


def publish_on_commit(*, incident_id: int, seq: int, html: str = "", privileged: bool = False) -> None:
    """Ring the doorbell only once the entry is committed, so nobody is told about a rolled-back row.

    The committed fragment may travel with it (entries are immutable, so it is the same bytes PostgreSQL
    holds); an events process uses it only when it is exactly the next seq, and reads PostgreSQL otherwise.
    """
    payload: dict[str, object] = {"i": incident_id, "s": seq}
    if html and len(html) <= DOORBELL_HTML_MAX:
        payload |= {"h": html, "p": int(privileged)}
    transaction.on_commit(lambda: publish(payload))


def publish_revocation_on_commit(*, incident_id: int, user_id: int) -> None:
    """Tell events processes to re-check one member now (they also re-check every few seconds)."""
    transaction.on_commit(lambda: publish({"i": incident_id, "r": user_id}))
