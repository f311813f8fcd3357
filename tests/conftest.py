from __future__ import annotations

import contextlib
import os
import shutil

# Playwright's sync API runs an event loop in the test thread; the ORM calls in test bodies are still
# synchronous (reliability-anchors §5).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pytest
import redis
from playwright.sync_api import expect

from incidents.models import OrgRole, User
from tests.factories import IncidentFactory, UserFactory
from tests.helpers import install_sign_in

# Every test client signs in with password and second factor (tests/helpers.py: sign_in).
install_sign_in()

# The app under uvicorn (pages and the raw-ASGI event stream) for live tests: `asgi_server`; and the
# live-stream tests' `server` (it, with no stream open) and `room` (an incident with a few entries).
pytest_plugins = ["tests.live_server_asgi", "tests.streams"]

# Auto-waiting assertions pass the moment their condition holds; on a busy 2-core CI machine (three test
# processes' worth of Chromium, uvicorn and Celery) they get 15 s before they call it a failure.
expect.set_options(timeout=15_000)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # `playwright install` cannot download browsers here; drive Debian's chromium instead.
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium).")
    return {**browser_type_launch_args, "executable_path": path, "args": CHROMIUM_ARGS}


@pytest.fixture
def manager(db) -> User:
    """A crisis manager (Maja in the demo): may declare and run incidents."""
    return UserFactory.create(
        display_name="Maja Kowalska", email="maja@example.com", org_role=OrgRole.CRISIS_MANAGER
    )


@pytest.fixture
def member(db) -> User:
    return UserFactory.create(display_name="Erik Lindqvist", email="erik@example.com")


@pytest.fixture
def outsider(db) -> User:
    return UserFactory.create(display_name="Olaf Outsider", email="olaf@example.com")


@pytest.fixture
def incident(manager):
    return IncidentFactory.create(declared_by=manager, title="Checkout charged customers twice")


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


@pytest.fixture(autouse=True)
def _private_media_root(settings, tmp_path):
    """Evidence files written by a test go to its own folder, never to the developer's var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _full_throttle_buckets() -> None:
    """Every test starts with full buckets. The buckets live in Redis, keyed per deployment (the test
    database), so without this the logins from 127.0.0.1 of earlier browser tests spend a later test's
    per-address login bucket and it is refused with a 429 — one machine, dozens of people signing in."""
    from incidents.accounts.throttle import bucket_redis
    from warroom.redis import channel_name

    client = bucket_redis()
    try:
        keys = list(client.scan_iter(match=channel_name("bucket:") + "*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass  # no Redis: the buckets let everything through anyway


@pytest.fixture(autouse=True)
def _english_by_default():
    """Every test starts in English. LocaleMiddleware activates the person's language for a request and the
    thread keeps it afterwards, so a Polish page in one test would otherwise leak into the next test's
    renders (a cached Polish badge where an English one is asserted)."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _close_browser_contexts(request: pytest.FixtureRequest):
    """Browser tests open their people's contexts on the session's browser; close them when the test ends.
    Left open, their pages keep live streams and polling going for the rest of the session: load on a
    2-core machine, and streams a later test finds still connected to the session's events process."""
    yield
    browser = request.node.funcargs.get("browser") if hasattr(request.node, "funcargs") else None
    if browser is None:
        return
    for context in list(browser.contexts):
        # Already closed with its page, or the browser went away: nothing left to close.
        with contextlib.suppress(Exception):
            context.close()
