"""Bluesky: an app.bsky.feed.post record with link facets, through the `atproto` SDK (XRPC).

AT Protocol has no idempotency key. What it has is the record key: a post lives at
at://<did>/app.bsky.feed.post/<rkey>, and a repository holds at most one record per key. So a delivery's rkey
(a TID) and the record's createdAt are fixed when the delivery is queued, and every attempt writes that one
record with `createRecord(rkey=…)`:

- a first attempt creates it;
- an attempt after one that may have reached the PDS (timeout, 5xx, a worker killed between sending and
  recording) first asks `getRecord` for that key: there → recorded as published, nothing sent; absent → create;
- a create that fails for any reason other than the credentials is followed by the same `getRecord`, so a
  concurrent or earlier create of the same key is found instead of reported as an error. (What a PDS answers
  to a second create of an existing key is not documented; whatever it is, the repository cannot hold two
  posts under one key, and the getRecord decides.)

The session (createSession is rate-limited: 30 per 5 minutes per handle) is kept per worker process and
refreshed by the SDK before its access token expires; a rejected session is dropped and one fresh login tried.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from typing import Any

from atproto_client import Client, models
from atproto_client.exceptions import (
    AtProtocolError,
    BadRequestError,
    InvokeTimeoutError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.request import Request
from atproto_client.utils import facet_detection
from django.utils.translation import gettext as _

from incidents.models import text_sha256
from incidents.publishing.connectors.base import Failed, Outcome, Parcel, Sent, retry_after, short, timeout
from incidents.publishing.models import Connector

COLLECTION = "app.bsky.feed.post"
WEB = "https://bsky.app"

_sessions: dict[tuple[int, str, str, str], str] = {}
_lock = threading.Lock()


def post_url(did: str, rkey: str) -> str:
    return f"{WEB}/profile/{did}/post/{rkey}"


def link_facets(text: str) -> list[models.AppBskyRichtextFacet.Main]:
    """Link facets at UTF-8 byte offsets (the SDK's detection, no network); mentions would need lookups."""
    return [
        f
        for f in facet_detection.detect_facets(text)
        if any(isinstance(feature, models.AppBskyRichtextFacet.Link) for feature in f.features)
    ]


def _session_key(connector: Connector, secret: str) -> tuple[int, str, str, str]:
    return (connector.pk, connector.base_url, connector.account, hashlib.sha256(secret.encode()).hexdigest())


def _client(connector: Connector, secret: str, *, fresh: bool = False) -> Client:
    client = Client(base_url=connector.base_url, request=Request(timeout=timeout(), trust_env=False))
    key = _session_key(connector, secret)
    with _lock:
        saved = None if fresh else _sessions.get(key)
    if saved:
        client.login(session_string=saved, fetch_bsky_profile=False)
    else:
        client.login(connector.account, secret, fetch_bsky_profile=False)
    with _lock:
        _sessions[key] = client.export_session_string()
    return client


def _forget(connector: Connector, secret: str) -> None:
    with _lock:
        _sessions.pop(_session_key(connector, secret), None)


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _why(exc: BaseException) -> str:
    return short(str(exc) or type(exc).__name__, 200)


def _find(client: Client, did: str, parcel: Parcel) -> Sent | None:
    """The record an earlier attempt wrote under this delivery's key, if any (raises on other errors)."""
    try:
        found = client.com.atproto.repo.get_record(
            models.ComAtprotoRepoGetRecord.Params(repo=did, collection=COLLECTION, rkey=parcel.rkey)
        )
    except BadRequestError as exc:
        content = getattr(exc.response, "content", None)
        if getattr(content, "error", "") == "RecordNotFound":
            return None
        raise
    except RequestErrorBase as exc:
        if _status(exc) == 404:
            return None
        raise
    value: Any = found.value
    text = value.get("text") if isinstance(value, dict) else getattr(value, "text", None)
    note = _(
        "Found on Bluesky under this delivery's record key (an earlier attempt had posted it); not posted again."
    )
    if text is not None and text_sha256(str(text)) != parcel.sha256:
        note = _("A record under this delivery's key exists, but its text differs from the approved version.")
    return Sent(remote_id=found.uri, url=post_url(did, parcel.rkey), http_status=200, note=note)


def _create(client: Client, did: str, parcel: Parcel) -> Sent:
    record = models.AppBskyFeedPost.Record(
        text=parcel.text,
        created_at=parcel.created_at.isoformat().replace("+00:00", "Z"),
        facets=link_facets(parcel.text) or None,
        langs=[parcel.language],
    )
    created = client.com.atproto.repo.create_record(
        models.ComAtprotoRepoCreateRecord.Data(
            repo=did, collection=COLLECTION, rkey=parcel.rkey, record=record
        )
    )
    return Sent(remote_id=created.uri, url=post_url(did, parcel.rkey), http_status=200)


def _failure(connector: Connector, exc: AtProtocolError, *, after_check: bool) -> Failed:
    status = _status(exc)
    if isinstance(exc, UnauthorizedError):
        return Failed(
            _(
                "%(name)s refused the login or the session (HTTP %(status)s: %(error)s). The app password may have "
                "been revoked: an administrator sets a new one in %(setting)s, then retry."
            )
            % {"name": connector.name, "status": status, "error": _why(exc), "setting": connector.secret_env},
            http_status=status,
            checked=after_check,
        )
    if isinstance(exc, RateLimitExceededError):
        headers = getattr(exc.response, "headers", None) or {}
        return Failed(
            _("%(name)s is rate-limiting this account (HTTP 429); waiting before the next try.")
            % {"name": connector.name},
            http_status=status,
            retry=True,
            retry_after=retry_after(headers.get("retry-after")),
            checked=after_check,
        )
    if isinstance(exc, InvokeTimeoutError):
        return Failed(
            _("%(name)s did not answer in time; the next try asks for the record first.")
            % {"name": connector.name},
            retry=True,
            uncertain=True,
        )
    if isinstance(exc, BadRequestError):
        return Failed(
            _("%(name)s refused the post (HTTP 400: %(error)s).")
            % {"name": connector.name, "error": _why(exc)},
            http_status=status,
            checked=after_check,
        )
    if isinstance(exc, NetworkError) and status is None:
        return Failed(
            _("Could not reach %(name)s: %(error)s; the next try asks for the record first.")
            % {"name": connector.name, "error": _why(exc)},
            retry=True,
            uncertain=True,
        )
    return Failed(
        _("%(name)s failed (HTTP %(status)s: %(error)s); the next try asks for the record first.")
        % {"name": connector.name, "status": status, "error": _why(exc)},
        http_status=status,
        retry=True,
        uncertain=not after_check,
    )


def send(parcel: Parcel, secret: str) -> Outcome:
    connector = parcel.connector
    try:
        client = _client(connector, secret)
    except UnauthorizedError as exc:
        _forget(connector, secret)
        return _failure(connector, exc, after_check=True)
    except AtProtocolError as exc:  # nothing was posted: only the login was tried
        if isinstance(
            exc, BadRequestError
        ):  # createSession answers 400 AuthenticationRequired for a bad password
            _forget(connector, secret)
            return Failed(
                _(
                    "%(name)s refused the login (HTTP 400: %(error)s). Check the handle and the app password in "
                    "%(setting)s, then retry."
                )
                % {"name": connector.name, "error": _why(exc), "setting": connector.secret_env},
                http_status=400,
                checked=True,
            )
        failed = _failure(connector, exc, after_check=True)
        return Failed(
            failed.message,
            failed.http_status,
            retry=failed.retry,
            retry_after=failed.retry_after,
            checked=True,
        )
    did = _did(client, connector)
    for second_try in (False, True):
        try:
            if parcel.uncertain:
                found = _find(client, did, parcel)
                if found is not None:
                    return found
            try:
                return _create(client, did, parcel)
            except UnauthorizedError:
                raise
            except AtProtocolError as exc:
                # Whatever went wrong, a record under this key may exist (a concurrent or earlier create): ask.
                try:
                    found = _find(client, did, parcel)
                except AtProtocolError:
                    return _failure(connector, exc, after_check=False)
                return found if found is not None else _failure(connector, exc, after_check=True)
        except UnauthorizedError as exc:
            _forget(connector, secret)
            if second_try:
                return _failure(connector, exc, after_check=False)
            try:  # an expired or revoked session: one fresh login, then the same key again
                client = _client(connector, secret, fresh=True)
            except AtProtocolError as login_exc:
                return _failure(connector, login_exc, after_check=False)
            parcel = _with_uncertain(parcel)
        except AtProtocolError as exc:
            return _failure(connector, exc, after_check=False)
    raise AssertionError("unreachable")


def _with_uncertain(parcel: Parcel) -> Parcel:
    return replace(parcel, uncertain=True)


def _did(client: Client, connector: Connector) -> str:
    session = client._session  # the SDK's own session (it has no public accessor for the DID)
    return session.did if session is not None else connector.account
