"""Shared test helpers: signing in with the second factor, snapshots for "nothing changed" checks, a thread race runner, a held row lock."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import connection, transaction

T = TypeVar("T")

DOMAIN_TABLES = ["incidents_incident", "incidents_incidentchange", "incidents_user"]


def snapshot(tables: list[str] | None = None) -> dict[str, str]:
    """Row count plus a hash of every row of each domain table: equal snapshots mean nothing changed."""
    result: dict[str, str] = {}
    with connection.cursor() as cursor:
        for table in tables or DOMAIN_TABLES:
            cursor.execute(f"SELECT t::text FROM {table} t ORDER BY 1")  # table names are ours, not input
            rows = [r[0] for r in cursor.fetchall()]
            result[table] = f"{len(rows)}:{hashlib.sha256(chr(30).join(rows).encode()).hexdigest()}"
    return result


def race(n: int, fn: Callable[[int], T]) -> list[T | BaseException]:
    """Run fn(0..n-1) in n threads released together; each thread has its own DB connection."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        from django.db import connection as thread_connection

        barrier.wait()
        try:
            return fn(i)
        except BaseException as exc:
            return exc
        finally:
            thread_connection.close()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


@contextlib.contextmanager
def room_held(incident: Any, *, release_after: float | None = None) -> Iterator[None]:
    """Another connection holds the incident's row lock (someone posting, a slow writer) while the block runs,
    or only for `release_after` seconds of it."""
    from incidents.models import Incident

    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        from django.db import connection as thread_connection

        try:
            with transaction.atomic():
                Incident.objects.select_for_update().get(pk=incident.pk)
                locked.set()
                release.wait(10)
        finally:
            thread_connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(5), "the holder never got the lock"
    timer = threading.Timer(release_after, release.set) if release_after is not None else None
    if timer is not None:
        timer.start()
    try:
        yield
    finally:
        release.set()
        holder.join(5)
        if timer is not None:
            timer.cancel()


# --- signing in ---------------------------------------------------------------------------------------------

# Django's own Client.force_login, kept for `sign_in(..., verified=False)`; conftest makes every test client's
# force_login go through sign_in, so tests sign in as people do: password and second factor.
_password_only_login: Any = None


def authenticator(user: Any) -> Any:
    """The person's confirmed authenticator app (made on first use), its time-step counter and failure throttle
    reset so a test may use a fresh code at any moment."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    elif device.last_t != -1 or device.throttling_failure_count:
        TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1, throttling_failure_count=0)
        device.refresh_from_db()
    return device


def current_code(user: Any) -> str:
    """The code the person's authenticator app shows now."""
    from django_otp.oath import totp

    device = authenticator(user)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):0{device.digits}d}"


def sign_in(client: Any, user: Any, *, verified: bool = True, backend: str | None = None) -> None:
    """Sign `client` in as `user`; unless `verified=False` (a password-only session), the session has also
    passed the second factor just now, as the verify page leaves it."""
    import time

    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from incidents.accounts import otp, sessions

    login = _password_only_login or Client.force_login
    login(client, user, backend)
    if not verified:
        return
    device = authenticator(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[otp.VERIFIED_AT] = time.time()
    session[sessions.SEEN] = time.time()  # "last seen" is fresh: no tracking write inside a counted request
    session.save()


def install_sign_in() -> None:
    """Route every test client's force_login through sign_in (called once, from conftest)."""
    global _password_only_login
    from django.test import Client

    if _password_only_login is not None:
        return
    _password_only_login = Client.force_login

    def force_login(self: Any, user: Any, backend: str | None = None) -> None:
        sign_in(self, user, backend=backend)

    Client.force_login = force_login  # type: ignore[method-assign]


def age_verification(client: Any, seconds: float) -> None:
    """Pretend the session's last second-factor check was `seconds` ago (step-up tests)."""
    import time

    from incidents.accounts import otp

    session = client.session
    session[otp.VERIFIED_AT] = time.time() - seconds
    session.save()
