"""Fetching a URL a crisis manager typed in, safely: timeouts, a size cap, no private addresses, few redirects.

The address check looks at the socket actually connected (not a DNS answer looked up beforehand), so a
name that resolves to a public address for the check and a private one for the connection gains nothing.
No compression is asked for, so a small body cannot inflate into a large one.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

MAX_REDIRECTS = 3
USER_AGENT = "WarRoom-Listening/1"


class FetchError(Exception):
    """The source could not be read; the message says why, for the source's status line."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes
    url: str


def _check_peer(sock: socket.socket | None, host: str) -> None:
    if sock is None or settings.LISTENING_ALLOW_PRIVATE_HOSTS:
        return
    address = ipaddress.ip_address(sock.getpeername()[0])
    if not address.is_global or address.is_multicast:
        sock.close()
        raise FetchError(
            _("%(host)s points at a private or local address; only public sources can be polled.")
            % {"host": host}
        )


class _Http(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _check_peer(self.sock, self.host)


class _Https(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _check_peer(self.sock, self.host)


def fetch(url: str, *, headers: dict[str, str] | None = None, max_bytes: int | None = None) -> Response:
    """GET `url`; 3xx are followed (at most three, http(s) only); the body is read up to `max_bytes`."""
    limit = max_bytes or settings.LISTENING_FETCH_MAX_BYTES
    timeout = settings.LISTENING_FETCH_TIMEOUT_SECONDS
    for _hop in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(_("“%(url)s” is not an http(s) address.") % {"url": url[:100]})
        cls = _Https if parts.scheme == "https" else _Http
        connection = cls(parts.hostname, parts.port, timeout=timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(
                "GET",
                path,
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})},
            )
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                url = urljoin(url, response.getheader("Location", ""))
                continue
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise FetchError(_("The answer is larger than %(mb)d MB.") % {"mb": limit // 1_000_000})
            body = response.read(limit + 1)
            if len(body) > limit:
                raise FetchError(_("The answer is larger than %(mb)d MB.") % {"mb": limit // 1_000_000})
            return Response(status=response.status, headers=response.msg, body=body, url=url)
        except FetchError:
            raise
        except TimeoutError:
            raise FetchError(_("No answer within %(s)d seconds.") % {"s": timeout}) from None
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(
                _("Could not reach %(host)s: %(error)s") % {"host": parts.hostname, "error": exc}
            ) from None
        finally:
            connection.close()
    raise FetchError(_("Too many redirects."))
