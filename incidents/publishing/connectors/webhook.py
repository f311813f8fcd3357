"""A signed webhook for everything else (Buffer, Zapier/Make, a status page): Standard Webhooks style.

Headers `webhook-id` (the delivery's key: the same on every attempt, so receivers de-duplicate on it),
`webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 over "id.timestamp.body">` with the secret
(`whsec_<base64>` as the spec has it; any other string is used as its UTF-8 bytes). The base app's own
signature (`X-WarRoom-Signature`, incidents/services/notify.py) is sent as well, so a receiver already
verifying our reminder webhooks needs nothing new. 2xx is success (a JSON answer's "url"/"id" are recorded);
410 means the receiver is gone; 429 and 5xx are retried, honouring Retry-After; redirects are not followed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
from django.utils.translation import gettext as _

from incidents.publishing.connectors.base import Failed, Outcome, Parcel, Sent, retry_after, short, timeout
from incidents.services.notify import webhook_signature


def secret_bytes(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except ValueError:
            pass
    return secret.encode()


def standard_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret_bytes(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def payload(parcel: Parcel) -> bytes:
    """The body: the statement's exact text and what it is. UTF-8 JSON, characters not escaped, so the text's
    bytes appear as they are."""
    data = {
        "type": "statement.published",
        "id": parcel.key,
        "drill": parcel.is_drill,
        "incident": {"reference": parcel.incident_reference},
        "statement": {
            "id": parcel.statement_code,
            "title": parcel.title,
            "audience": parcel.audience,
            "channel": parcel.channel,
            "language": parcel.language,
            "version": parcel.version,
            "sha256": parcel.sha256,
            "text": parcel.text,
        },
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def send(parcel: Parcel, secret: str) -> Outcome:
    connector = parcel.connector
    body = payload(parcel)
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "WarRoom-Publish/1",
        "webhook-id": parcel.key,
        "webhook-timestamp": stamp,
        "webhook-signature": standard_signature(secret, parcel.key, stamp, body),
        "X-WarRoom-Timestamp": stamp,
        "X-WarRoom-Signature": webhook_signature(secret, stamp, body),
        "X-WarRoom-Delivery": parcel.key,
    }
    try:
        with httpx.Client(timeout=timeout(), trust_env=False, follow_redirects=False) as client:
            response = client.post(connector.base_url, content=body, headers=headers)
    except httpx.TimeoutException:
        return Failed(
            _("%(name)s did not answer in time; sending again with the same webhook-id.")
            % {"name": connector.name},
            retry=True,
            uncertain=True,
        )
    except httpx.HTTPError as exc:
        return Failed(
            _("Could not reach %(name)s: %(error)s.")
            % {"name": connector.name, "error": short(str(exc) or type(exc).__name__, 200)},
            retry=True,
            uncertain=not isinstance(exc, httpx.ConnectError),
        )
    status = response.status_code
    if 200 <= status < 300:
        remote_id, url = parcel.key, ""
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            remote_id = str(data.get("id") or remote_id)[:300]
            candidate = str(data.get("url") or "")
            url = candidate if candidate.startswith(("https://", "http://")) else ""
        return Sent(remote_id=remote_id, url=url, http_status=status)
    answer = short(response.text, 200)
    said = f": {answer}" if answer else ""
    if status == 410:
        return Failed(
            _(
                "%(name)s says the endpoint is gone (HTTP 410); an administrator should update or disable the connector."
            )
            % {"name": connector.name},
            http_status=status,
        )
    if status == 429 or status >= 500:
        return Failed(
            _("%(name)s answered HTTP %(status)d%(said)s; trying again with the same webhook-id.")
            % {"name": connector.name, "status": status, "said": said},
            http_status=status,
            retry=True,
            uncertain=status != 429,
            retry_after=retry_after(response.headers.get("Retry-After")),
        )
    if 300 <= status < 400:
        return Failed(
            _("%(name)s redirected (HTTP %(status)d); redirects are not followed. Update its address.")
            % {"name": connector.name, "status": status},
            http_status=status,
        )
    return Failed(
        _("%(name)s refused it (HTTP %(status)d%(said)s).")
        % {"name": connector.name, "status": status, "said": said},
        http_status=status,
    )
