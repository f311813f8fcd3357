"""Publishing through connectors against loopback fakes of Mastodon, a Bluesky PDS and a webhook receiver (plus
the SMTP outbox): exactly the approved bytes go out, once per channel, whatever the platform or network does;
nothing is marked published that no platform confirmed; a refused publish sends and queues nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook

from incidents import services
from incidents.models import Publication, StatementError, TextRefused, TimelineEntry
from incidents.publishing import delivery as delivery_module
from incidents.publishing.connectors import Sent
from incidents.publishing.limits import graphemes, mastodon_length
from incidents.publishing.models import Delivery, DeliveryState, Release
from tests.factories_publishing import WEBHOOK_SECRET, of, release, run_all
from tests.factories_publishing import platforms as platforms
from tests.factories_statements import (
    assert_published_texts_were_approved,
    cv,
    fresh,
    fully_approved,
)
from tests.factories_statements import cast as cast
from tests.factories_statements import seeded as seeded

D = DeliveryState
pytestmark = pytest.mark.django_db
# Polish and Swedish before a link, a ZWJ family emoji and combining marks: bytes, code points and graphemes
# all differ, so any re-encoding or normalisation on the way would show.
TEXT = (
    "Zażółć gęślą jaźń — vi ber om ursäkt. 👨‍👩‍👧 Återbetalningar pågår: https://status.northwind.example/inc/42 "
    "Nästa uppdatering 16:00."
)


def test_one_click_sends_the_exact_approved_bytes_to_every_channel_once(cast, platforms):
    statement = fully_approved(cast, body=TEXT)
    version = cv(statement)
    result = release(cast, statement, platforms.m, platforms.b, platforms.w, platforms.e)
    assert result.release is not None
    assert len(result.deliveries) == 4
    assert not Publication.objects.exists()  # queued is not published
    assert fresh(statement).is_approved
    run_all()

    # Mastodon: the status text, as JSON, is exactly the approved text; one status, with the delivery's key.
    (post,) = platforms.mastodon.posts_to("/api/v1/statuses")
    assert post.json()["status"].encode("utf-8") == version.body.encode("utf-8")
    assert post.headers["idempotency-key"] == of(statement, platforms.m).key
    # Bluesky: one record under the delivery's rkey, the same text, a link facet at the link's byte offsets.
    (record,) = platforms.bluesky.posts()
    assert record["text"].encode("utf-8") == version.body.encode("utf-8")
    (facet,) = record["facets"]
    raw = version.body.encode("utf-8")
    link = b"https://status.northwind.example/inc/42"
    assert raw[facet["index"]["byteStart"] : facet["index"]["byteEnd"]] == link
    assert record["langs"] == ["en"]
    # The webhook: Standard Webhooks signature verifies with the reference library; the text is exact.
    (hook,) = platforms.webhook.posts_to("/hooks/warroom")
    Webhook(WEBHOOK_SECRET).verify(hook.body, hook.headers)
    assert json.loads(hook.body)["statement"]["text"].encode("utf-8") == raw
    assert json.loads(hook.body)["statement"]["sha256"] == version.sha256
    assert hook.headers["webhook-id"] == of(statement, platforms.w).key
    # E-mail: one message per address, the body is the text.
    assert sorted(m.to[0] for m in mail.outbox) == ["newsdesk@example.org", "press-list@northwind.example"]
    assert {m.body for m in mail.outbox} == {version.body}

    deliveries = {d.connector_id: d for d in Delivery.objects.filter(statement=statement)}
    assert {d.state for d in deliveries.values()} == {D.PUBLISHED}
    assert deliveries[platforms.m.pk].remote_url.startswith(platforms.mastodon.url + "/@northwind/")
    rkey = deliveries[platforms.b.pk].rkey
    assert (
        deliveries[platforms.b.pk].remote_url
        == f"https://bsky.app/profile/{platforms.bluesky.did}/post/{rkey}"
    )
    (publication,) = (
        Publication.objects.all()
    )  # one record of what went out, written by the first confirmation
    assert publication.version_id == version.pk
    assert publication.sha256 == version.sha256
    assert publication.published_by == cast.publisher
    assert fresh(statement).is_published
    assert_published_texts_were_approved()
    went_out = TimelineEntry.objects.filter(incident=cast.incident, body__contains="went out on")
    assert went_out.count() == 4


def test_a_double_click_queues_nothing_twice_and_a_replay_says_so(cast, platforms):
    statement = fully_approved(cast)
    release(cast, statement, platforms.m)
    again = release(cast, statement, platforms.m)
    assert again.release is None
    assert Delivery.objects.count() == 1
    assert Release.objects.count() == 1
    run_all()
    assert len(platforms.mastodon.statuses) == 1


def test_a_channel_whose_limit_the_text_breaks_is_refused_before_anything_is_sent(cast, platforms):
    family = "👨‍👩‍👧"  # one grapheme, five code points
    fits = "a" * 297 + " " + family + family  # 300 graphemes, 308 code points
    over = fits + "!"
    assert graphemes(fits) == 300
    assert graphemes(over) == 301
    assert len(fits) == 308
    platforms.b.accepts = ["press_release"]
    platforms.b.save()
    platforms.w.accepts = ["press_release"]
    platforms.w.save()
    statement = fully_approved(cast, body=over, channel="press_release")
    with pytest.raises(TextRefused, match=r"Bluesky northwind\.example allows 300"):
        release(cast, statement, platforms.w, platforms.b)
    assert not Delivery.objects.exists()
    assert not Release.objects.exists()
    assert not platforms.bluesky.requests
    assert not platforms.webhook.requests
    assert fresh(statement).is_approved
    exact = fully_approved(cast, body=fits, channel="press_release")
    release(cast, exact, platforms.b)
    run_all()
    assert of(exact, platforms.b).state == D.PUBLISHED


def test_graphemes_not_code_points():
    family = "👨‍👩‍👧"
    assert len(family) == 5
    assert graphemes(family) == 1
    assert graphemes("e\u0301") == 1
    assert mastodon_length("see https://example.org/" + "x" * 200) == 4 + 23
    assert mastodon_length("hi @anna@mastodon.social") == len("hi @anna")


def test_a_revoked_mastodon_token_fails_with_the_reason_and_a_retry_after_the_fix_posts_once(
    cast, platforms, monkeypatch
):
    statement = fully_approved(cast)
    monkeypatch.setenv("WARROOM_PUBLISH_MASTODON_TOKEN", "revoked-token")
    release(cast, statement, platforms.m)
    run_all()
    d = of(statement, platforms.m)
    assert d.state == D.FAILED
    assert d.http_status == 401
    assert "refused the credentials" in d.error
    assert "WARROOM_PUBLISH_MASTODON_TOKEN" in d.error
    assert not Publication.objects.exists()
    assert fresh(statement).is_approved
    assert not platforms.mastodon.statuses
    monkeypatch.setenv("WARROOM_PUBLISH_MASTODON_TOKEN", "mastodon-token")
    services_retry(d, cast)
    run_all()
    d.refresh_from_db()
    assert d.state == D.PUBLISHED
    assert len(platforms.mastodon.statuses) == 1
    assert fresh(statement).is_published


def services_retry(delivery, cast):
    from incidents.publishing.services import delivery_retry

    return delivery_retry(delivery=delivery, actor=cast.publisher)


def test_a_5xx_is_retried_with_the_same_key_and_posts_once(cast, platforms):
    statement = fully_approved(cast)
    platforms.mastodon.fault("/api/v1/statuses", 503)
    release(cast, statement, platforms.m)
    run_all()
    posts = platforms.mastodon.posts_to("/api/v1/statuses")
    assert len(posts) == 2
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    d = of(statement, platforms.m)
    assert d.state == D.PUBLISHED
    assert d.attempts == 2
    assert d.uncertain
    assert len(platforms.mastodon.statuses) == 1


def test_an_answer_lost_after_mastodon_posted_is_found_by_the_key_not_posted_again(cast, platforms):
    statement = fully_approved(cast)
    platforms.mastodon.drop_after_create = 1
    release(cast, statement, platforms.m)
    run_all()
    assert len(platforms.mastodon.posts_to("/api/v1/statuses")) == 2
    assert len(platforms.mastodon.statuses) == 1
    d = of(statement, platforms.m)
    assert d.state == D.PUBLISHED
    assert d.remote_id == platforms.mastodon.statuses[0]["id"]


def test_an_answer_lost_after_bluesky_created_the_record_is_found_by_its_rkey(cast, platforms):
    statement = fully_approved(cast)
    platforms.bluesky.drop_after_create = 1
    release(cast, statement, platforms.b)
    run_all()
    creates = platforms.bluesky.posts_to("/xrpc/com.atproto.repo.createRecord")
    gets = [r for r in platforms.bluesky.requests if r.path.endswith("getRecord")]
    assert len(creates) == 1
    assert len(gets) == 1
    assert len(platforms.bluesky.posts()) == 1
    d = of(statement, platforms.b)
    assert d.state == D.PUBLISHED
    assert "not posted again" in d.note


def test_a_bluesky_create_of_an_existing_rkey_is_reconciled_not_reported_as_an_error(cast, platforms):
    """Two workers with the same delivery (a lease that ran out): the second create meets the record."""
    statement = fully_approved(cast)
    release(cast, statement, platforms.b)
    run_all()
    d = of(statement, platforms.b)
    Delivery.objects.filter(pk=d.pk).update(state=D.QUEUED)  # as if a second attempt had been claimed
    platforms.bluesky.on_duplicate = 500
    delivery_module.deliver(d.pk)
    d.refresh_from_db()
    assert d.state == D.PUBLISHED
    assert len(platforms.bluesky.posts()) == 1


def test_a_revoked_bluesky_app_password_fails_with_the_reason(cast, platforms, monkeypatch):
    statement = fully_approved(cast)
    monkeypatch.setenv("WARROOM_PUBLISH_BLUESKY_PASSWORD", "revoked")
    release(cast, statement, platforms.b)
    run_all()
    d = of(statement, platforms.b)
    assert d.state == D.FAILED
    assert "refused the login" in d.error
    assert not platforms.bluesky.posts()
    assert not Publication.objects.exists()


def test_an_expired_bluesky_session_logs_in_again_and_posts_once(cast, platforms):
    first = fully_approved(cast)
    release(cast, first, platforms.b)
    run_all()
    platforms.bluesky.revoke_tokens()  # the cached session is dead
    cast.incident.refresh_from_db()
    second = fully_approved(cast, body="Second update: refunds are complete.")
    release(cast, second, platforms.b)
    run_all()
    assert of(second, platforms.b).state == D.PUBLISHED
    assert len(platforms.bluesky.posts()) == 2
    logins = platforms.bluesky.posts_to("/xrpc/com.atproto.server.createSession")
    assert len(logins) == 2


def test_a_webhook_that_is_gone_fails_and_a_throttled_one_is_retried_with_the_same_id(cast, platforms):
    statement = fully_approved(cast)
    platforms.webhook.fault("/hooks/warroom", 429, 502)
    release(cast, statement, platforms.w)
    run_all()
    ids = {r.headers["webhook-id"] for r in platforms.webhook.requests}
    assert len(platforms.webhook.requests) == 3
    assert len(ids) == 1
    assert of(statement, platforms.w).state == D.PUBLISHED
    other = fully_approved(cast, body="Another text for the status page.")
    platforms.webhook.fault("/hooks/warroom", 410)
    release(cast, other, platforms.w)
    run_all()
    d = of(other, platforms.w)
    assert d.state == D.FAILED
    assert "gone" in d.error
    assert d.http_status == 410


def test_a_timeout_is_retried_and_counted_as_maybe_posted(cast, platforms, settings):
    statement = fully_approved(cast)
    settings.PUBLISH_TIMEOUT_SECONDS = 0.3
    platforms.mastodon.latency = 0.6
    release(cast, statement, platforms.m)
    d = of(statement, platforms.m)
    delivery_module.deliver(d.pk)
    d.refresh_from_db()
    assert d.state == D.QUEUED
    assert d.uncertain
    assert "did not answer in time" in d.error
    platforms.mastodon.latency = 0
    run_all()
    d.refresh_from_db()
    assert d.state == D.PUBLISHED
    assert len(platforms.mastodon.statuses) == 1


def test_giving_up_after_an_uncertain_attempt_asks_a_person_and_marks_nothing_published(cast, platforms):
    statement = fully_approved(cast)
    platforms.mastodon.fault("/api/v1/statuses", *([503] * 6))
    release(cast, statement, platforms.m)
    run_all()
    d = of(statement, platforms.m)
    assert d.state == D.UNKNOWN
    assert d.attempts == 6
    assert "check Mastodon @northwind" in d.error
    assert not Publication.objects.exists()
    from incidents.publishing.services import delivery_mark_posted

    delivery_mark_posted(delivery=d, actor=cast.publisher, link="https://mastodon.example/@northwind/1")
    d.refresh_from_db()
    assert d.state == D.PUBLISHED
    assert fresh(statement).is_published


def test_a_worker_gone_mid_send_is_resumed_by_the_sweep_as_maybe_posted(cast, platforms):
    statement = fully_approved(cast)
    release(cast, statement, platforms.m)
    d = of(statement, platforms.m)
    claimed = delivery_module.claim(d.pk)
    assert claimed is not None
    delivery_module.attempt(claimed)  # sent … and the worker dies before recording
    assert delivery_module.claim(d.pk) is None  # nobody else may take it while the lease holds
    Delivery.objects.filter(pk=d.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    delivery_module.sweep()
    d.refresh_from_db()
    assert d.state == D.QUEUED
    assert d.uncertain
    assert "stopped before it recorded" in d.error
    run_all()
    d.refresh_from_db()
    assert d.state == D.PUBLISHED
    assert len(platforms.mastodon.statuses) == 1
    # The late record of the dead attempt (were it to arrive) changes nothing.
    delivery_module.record(claimed, Sent(remote_id="other"))
    d.refresh_from_db()
    assert d.remote_id == platforms.mastodon.statuses[0]["id"]


def test_editing_waits_while_the_text_is_on_its_way_and_withdrawing_cancels_what_never_started(
    cast, platforms
):
    statement = fully_approved(cast)
    release(cast, statement, platforms.m)
    with pytest.raises(StatementError, match="being published to Mastodon @northwind"):
        services.statement_save_draft(
            statement=fresh(statement), actor=cast.drafter, expected_version=1, body="New"
        )
    assert cv(fresh(statement)).number == 1
    services.statement_withdraw(statement=fresh(statement), actor=cast.commander, reason="Wrong numbers")
    d = of(statement, platforms.m)
    assert d.state == D.CANCELLED
    run_all()
    assert not platforms.mastodon.requests


def test_a_drill_never_reaches_a_real_account(cast, platforms):
    cast.incident.is_drill = True
    cast.incident.save(update_fields=["is_drill"])
    statement = fully_approved(cast)
    with pytest.raises(TextRefused, match="real account and this is a drill"):
        release(cast, statement, platforms.m)
    assert not Delivery.objects.exists()


def test_someone_who_may_not_publish_is_refused_and_nothing_is_queued(cast, platforms):
    statement = fully_approved(cast)
    with pytest.raises(StatementError, match="does not allow"):
        release(cast, statement, platforms.m, actor=cast.legal)
    assert not Delivery.objects.exists()


def test_a_connector_without_its_secret_is_refused_before_sending(cast, platforms, monkeypatch):
    monkeypatch.delenv("WARROOM_PUBLISH_WEBHOOK_SECRET")
    statement = fully_approved(cast)
    with pytest.raises(TextRefused, match="no credentials yet"):
        release(cast, statement, platforms.w)
    assert not Delivery.objects.exists()
