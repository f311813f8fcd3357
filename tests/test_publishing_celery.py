"""Publishing with a real Celery worker and beat against PostgreSQL, a private Redis and loopback platforms: a
worker killed between the platform accepting the post and the outcome being recorded does not post twice.

The kill comes from tests/publishing_faults.py inside the worker, at exactly that moment. The restarted worker
finds the delivery still "sending"; when its lease runs out the beat sweep puts it back in the queue marked
uncertain, and the next attempt asks the platform for the post the dead worker made (Mastodon: the same
Idempotency-Key returns it; Bluesky: getRecord on the delivery's rkey) instead of making another.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest

from bench.fake_platforms import FakeBluesky, FakeMastodon, FakeWebhook, serving
from bench.processes import wait_until
from incidents.models import Publication
from incidents.publishing import services as publishing_services
from incidents.publishing.models import Delivery, DeliveryState
from tests.factories_publishing import WEBHOOK_SECRET, connectors_for, release
from tests.factories_statements import cast as cast
from tests.factories_statements import fresh, fully_approved
from tests.factories_statements import seeded as seeded
from tests.test_deadlines_celery import running_stack

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("kind", ["mastodon", "bluesky"])
def test_a_worker_killed_between_send_and_record_does_not_post_twice(cast, settings, monkeypatch, kind):
    marker = Path(tempfile.mkdtemp(prefix="warroom-publish-kill-")) / "killed"
    monkeypatch.setattr(publishing_services, "kick", lambda *a, **k: None)  # only the stack's beat kicks
    with ExitStack() as stack:
        mastodon = stack.enter_context(serving(FakeMastodon()))
        sky = stack.enter_context(serving(FakeBluesky()))
        hook = stack.enter_context(serving(FakeWebhook()))
        m, b, _w, _e = connectors_for(mastodon, sky, hook)
        env = {
            "WARROOM_PUBLISH_MASTODON_TOKEN": "mastodon-token",
            "WARROOM_PUBLISH_BLUESKY_PASSWORD": "app-pass-1234",
            "WARROOM_PUBLISH_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "WARROOM_TEST_PUBLISH_KILL": str(marker),
            "PUBLISH_LEASE_SECONDS": "3",
            "PUBLISH_SWEEP_SECONDS": "1",
            "PUBLISH_BACKOFF_SECONDS": "0.2",
        }
        for name in ("WARROOM_PUBLISH_MASTODON_TOKEN", "WARROOM_PUBLISH_BLUESKY_PASSWORD"):
            monkeypatch.setenv(name, env[name])  # the click checks a connector has its secret
        celery = stack.enter_context(
            running_stack(settings, monkeypatch, env, ("-I", "tests.publishing_faults"))
        )
        connector = m if kind == "mastodon" else b
        statement = fully_approved(cast)
        release(cast, statement, connector)
        delivery = Delivery.objects.get(statement=statement)

        wait_until(marker.exists, 20, "the worker never reached the send", celery.worker.tail)
        proc = celery.worker.proc
        assert proc is not None
        wait_until(lambda: proc.poll() is not None, 10, "the worker did not die", celery.worker.tail)
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.SENDING  # sent, never recorded
        assert not Publication.objects.exists()  # and so not marked published either
        posted = mastodon.statuses if kind == "mastodon" else sky.posts()
        assert len(posted) == 1  # the platform has the post the dead worker made

        celery.start_worker()  # the same fault module, but it has fired: this one records
        wait_until(
            lambda: Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.PUBLISHED).exists(),
            30,
            "the delivery was not resumed",
            celery.worker.tail,
        )
        delivery.refresh_from_db()
        posted = mastodon.statuses if kind == "mastodon" else sky.posts()
        assert len(posted) == 1, posted  # not posted twice
        assert delivery.attempts == 2
        assert delivery.uncertain
        if kind == "mastodon":
            keys = {r.headers["idempotency-key"] for r in mastodon.posts_to("/api/v1/statuses")}
            assert keys == {delivery.key}
            assert len(mastodon.posts_to("/api/v1/statuses")) == 2
            assert delivery.remote_id == mastodon.statuses[0]["id"]
        else:
            assert len(sky.posts_to("/xrpc/com.atproto.repo.createRecord")) == 1
            assert any(r.path.endswith("getRecord") for r in sky.requests)
            assert delivery.remote_id.endswith("/" + delivery.rkey)
        assert fresh(statement).is_published
        assert Publication.objects.get().version_id == delivery.version_id
