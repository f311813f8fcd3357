"""Signed-in sessions: recorded at login, touched at most once a minute, listed for their person, and ended
when the password or the second factor changes (R10)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from incidents.accounts.models import SignedInSession
from incidents.models import User

log = logging.getLogger("warroom.security")

SEEN = "warroom_seen_at"
TOUCH_EVERY = 60  # seconds: "last seen" to the minute, one write a minute at most per session


def client_address(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def record(request: HttpRequest, user: User) -> None:
    key = request.session.session_key
    if not key:
        request.session.save()
        key = request.session.session_key
    now = timezone.now()
    SignedInSession.objects.update_or_create(
        session_key=key,
        defaults={
            "user": user,
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
            "address": client_address(request),
            "last_seen_at": now,
        },
        create_defaults={
            "user": user,
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
            "address": client_address(request),
            "signed_in_at": now,
            "last_seen_at": now,
        },
    )
    request.session[SEEN] = time.time()


def signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """user_logged_in: the new session is listed from its first request."""
    if request is not None and hasattr(request, "session"):
        record(request, user)


def touch(request: HttpRequest, user: User) -> None:
    seen = request.session.get(SEEN)
    if seen is None or time.time() - float(seen) > TOUCH_EVERY:
        record(request, user)


def rekey(old: str | None, new: str | None) -> None:
    if old and new and old != new:
        SignedInSession.objects.filter(session_key=old).update(session_key=new)


def active(user: User) -> QuerySet[SignedInSession]:
    live = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    return SignedInSession.objects.filter(user=user, session_key__in=live).order_by("-last_seen_at")


@transaction.atomic
def end_others(user: User, *, keep: str | None) -> int:
    """Sign the person out of every session but `keep` (None: all of them). Returns how many ended."""
    rows = SignedInSession.objects.filter(user=user)
    if keep:
        rows = rows.exclude(session_key=keep)
    keys = list(rows.values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    rows.delete()
    # Rows older than the session lifetime are leftovers of expired sessions.
    SignedInSession.objects.filter(last_seen_at__lt=timezone.now() - timedelta(days=30)).delete()
    if keys:
        log.info("sessions: ended %d other session(s) of user %s", len(keys), user.pk)
    return len(keys)
