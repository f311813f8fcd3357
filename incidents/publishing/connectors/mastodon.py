"""Mastodon: POST /api/v1/statuses with the approved text and an Idempotency-Key.

Mastodon stores the key per account for an hour, after a successful create, under a lock
(mastodon/mastodon app/services/post_status_service.rb): a request repeating the key returns the status the
first one created instead of posting again. So every attempt of a delivery sends the same key, and an
attempt that might repeat a successful one (the earlier one timed out, got a 5xx, or its worker died before
recording) is safe within that hour. Past it, a repeat could post twice: the delivery then waits for a person.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.publishing.connectors.base import (
    Failed,
    Outcome,
    Parcel,
    Sent,
    Unknown,
    retry_after,
    short,
    timeout,
)

# Mastodon keeps keys for 3,600 s; stop trusting them well before.
KEY_WINDOW = timedelta(minutes=55)


def _error(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return short(response.text, 200)
    if isinstance(data, dict):
        return short(str(data.get("error_description") or data.get("error") or data), 200)
    return short(str(data), 200)


def send(parcel: Parcel, secret: str) -> Outcome:
    connector = parcel.connector
    if parcel.uncertain and parcel.first_attempt_at and timezone.now() - parcel.first_attempt_at > KEY_WINDOW:
        return Unknown(
            _(
                "An earlier attempt to %(name)s may have been posted, and Mastodon forgets the idempotency key "
                "after an hour, so sending again could post it twice. Check the account: if the post is there, "
                "record its link; if not, send it again."
            )
            % {"name": connector.name}
        )
    url = connector.base_url.rstrip("/") + "/api/v1/statuses"
    body = {"status": parcel.text, "visibility": "public", "language": parcel.language}
    headers = {
        "Authorization": f"Bearer {secret}",
        "Idempotency-Key": parcel.key,
        "User-Agent": "WarRoom-Publish/1",
    }
    try:
        with httpx.Client(timeout=timeout(), trust_env=False, follow_redirects=False) as client:
            response = client.post(url, json=body, headers=headers)
    except httpx.TimeoutException:
        return Failed(
            _(
                "%(name)s did not answer in time; it may have posted. Trying again with the same idempotency key."
            )
            % {"name": connector.name},
            retry=True,
            uncertain=True,
        )
    except httpx.HTTPError as exc:
        # Connection refused or reset: a reset may come after the request was read, so ask again with the key.
        return Failed(
            _("Could not reach %(name)s: %(error)s.")
            % {"name": connector.name, "error": short(str(exc) or type(exc).__name__, 200)},
            retry=True,
            uncertain=not isinstance(exc, httpx.ConnectError),
        )
    status = response.status_code
    if 200 <= status < 300:
        try:
            data = response.json()
            remote_id = str(data["id"])
        except (ValueError, KeyError, TypeError):
            return Failed(
                _("%(name)s answered %(status)d without a status id; it may have posted.")
                % {"name": connector.name, "status": status},
                http_status=status,
                retry=True,
                uncertain=True,
            )
        return Sent(
            remote_id=remote_id, url=str(data.get("url") or data.get("uri") or ""), http_status=status
        )
    if status in (401, 403):
        return Failed(
            _(
                "%(name)s refused the credentials (HTTP %(status)d: %(error)s). The access token may have expired "
                "or been revoked: an administrator sets a new one in %(setting)s, then retry."
            )
            % {
                "name": connector.name,
                "status": status,
                "error": _error(response),
                "setting": connector.secret_env,
            },
            http_status=status,
        )
    if status == 429:
        wait = retry_after(response.headers.get("Retry-After"))
        if wait is None:
            reset = response.headers.get("X-RateLimit-Reset", "")
            try:
                wait = max(
                    0.0,
                    (datetime.fromisoformat(reset.replace("Z", "+00:00")) - timezone.now()).total_seconds(),
                )
            except ValueError:
                wait = None
        return Failed(
            _("%(name)s is rate-limiting this account (HTTP 429); waiting before the next try.")
            % {"name": connector.name},
            http_status=status,
            retry=True,
            retry_after=wait,
        )
    if status >= 500:
        return Failed(
            _(
                "%(name)s failed (HTTP %(status)d: %(error)s); it may have posted. Trying again with the same "
                "idempotency key."
            )
            % {"name": connector.name, "status": status, "error": _error(response)},
            http_status=status,
            retry=True,
            uncertain=True,
        )
    return Failed(
        _("%(name)s refused the post (HTTP %(status)d: %(error)s).")
        % {"name": connector.name, "status": status, "error": _error(response)},
        http_status=status,
    )
