"""Publishing and after: the final gate (every approval for exactly this text, re-hashed), the frozen text,
its input checks, withdrawing what went out, updates that supersede, and the append-only tables."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from incidents import services
from incidents.models import (
    Approval,
    ChainStep,
    InvalidTransition,
    Notification,
    Statement,
    StatementError,
    StatementVersion,
    TextRefused,
    text_sha256,
)
from tests.factories_statements import (
    HOLDING,
    STATEMENT_TABLES,
    S,
    approve,
    assert_published_texts_were_approved,
    cv,
    fresh,
    fully_approved,
    new_statement,
    publish,
    submit,
)
from tests.factories_statements import cast as cast
from tests.factories_statements import seeded as seeded
from tests.helpers import snapshot


def test_publishing_an_incompletely_approved_version_is_refused(cast):
    statement = submit(cast, new_statement(cast))
    approve(statement, cast.legal)
    approve(statement, cast.comms)
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(InvalidTransition, match="approvals are still missing"):
        publish(cast, statement)
    # Even if the status said "approved" (a bug, a hand edit), the gate counts the approvals itself.
    Statement.objects.filter(pk=statement.pk).update(status=S.APPROVED)
    forged = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="does not have every approval"):
        publish(cast, statement)
    assert snapshot(STATEMENT_TABLES) == forged
    assert before != forged


def test_the_publish_gate_rehashes_the_stored_text(cast):
    statement = fully_approved(cast)
    version = cv(fresh(statement))
    with connection.cursor() as cursor:  # a superuser can switch triggers off: the gate must not trust them
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE incidents_statementversion SET body = body || '!' WHERE id = %s", [version.pk])
        cursor.execute("SET LOCAL session_replication_role = origin")
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="no longer matches the fingerprint"):
        publish(cast, statement)
    assert snapshot(STATEMENT_TABLES) == before


def test_publish_freezes_exactly_the_approved_bytes(cast):
    statement = fully_approved(cast)
    publication = publish(cast, statement, link="https://x.com/northwind/status/1")
    statement = fresh(statement)
    assert statement.status == S.PUBLISHED
    assert publication.sha256 == cv(statement).sha256 == text_sha256(HOLDING)
    assert publication.channel == "x"
    assert_published_texts_were_approved()
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(services.StaleDraft, match="published now"):
        services.statement_save_draft(
            statement=statement, actor=cast.drafter, expected_version=1, body="Changed."
        )
    with pytest.raises(InvalidTransition, match="already been published"):
        services.statement_publish(statement=statement, actor=cast.commander, version_number=1)
    assert snapshot(STATEMENT_TABLES) == before
    assert publish(cast, statement) == publication  # the same publisher's replay


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"published_at": "future"}, "not in advance"),
        ({"published_at": "past"}, "before its last approval"),
        ({"link": "javascript:alert(1)"}, "full web address"),
        ({"channel": "tiktok"}, None),
    ],
)
def test_publish_input_is_checked(cast, kwargs, message):
    body = "x" * 2500  # fits LinkedIn (3000), not TikTok (2200)
    statement = fully_approved(cast, body=body, channel="linkedin")
    if kwargs.get("published_at") == "future":
        kwargs["published_at"] = timezone.now() + timedelta(hours=1)
    elif kwargs.get("published_at") == "past":
        kwargs["published_at"] = timezone.now() - timedelta(hours=1)
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(TextRefused, match=message or "TikTok allows 2,200"):
        publish(cast, statement, **kwargs)
    assert snapshot(STATEMENT_TABLES) == before


def test_withdraw_a_published_statement_needs_publish_and_a_reason(cast):
    statement = fully_approved(cast)
    publish(cast, statement)
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="does not allow"):
        services.statement_withdraw(statement=fresh(statement), actor=cast.drafter, reason="Wrong")
    with pytest.raises(TextRefused, match="Give a reason"):
        services.statement_withdraw(statement=fresh(statement), actor=cast.publisher, reason="")
    assert snapshot(STATEMENT_TABLES) == before
    withdrawn = services.statement_withdraw(
        statement=fresh(statement), actor=cast.publisher, reason="Refund figure was wrong"
    )
    assert withdrawn.status == S.WITHDRAWN
    told = set(
        Notification.objects.filter(text__contains="withdrew the published").values_list(
            "recipient", flat=True
        )
    )
    assert told == {cast.legal.pk, cast.comms.pk, cast.executive.pk}
    with pytest.raises(InvalidTransition, match="already been withdrawn"):
        services.statement_withdraw(statement=fresh(statement), actor=cast.publisher, reason="again")


def test_a_published_update_supersedes_the_earlier_statement(cast):
    first = fully_approved(cast)
    publish(cast, first)
    update = services.statement_create(
        incident=cast.incident,
        actor=cast.drafter,
        channel="x",
        body="Update: refunds complete.",
        supersedes=first,
    )
    submit(cast, update)
    for person in (cast.legal, cast.comms, cast.executive):
        approve(update, person)
    publish(cast, update)
    assert fresh(first).status == S.SUPERSEDED
    assert "Superseded by" in fresh(first).status_note


def test_versions_approvals_publications_and_comments_cannot_be_rewritten(cast):
    statement = fully_approved(cast)
    publish(cast, statement)
    services.statement_comment(statement=fresh(statement), actor=cast.legal, version_number=1, body="Fine")
    for table in ("statementversion", "approval", "publication", "versioncomment"):
        for sql in (
            f"UPDATE incidents_{table} SET id = id WHERE id = (SELECT min(id) FROM incidents_{table})",
            f"DELETE FROM incidents_{table} WHERE id = (SELECT min(id) FROM incidents_{table})",
        ):
            with (
                pytest.raises(DatabaseError, match="append-only"),
                transaction.atomic(),
                connection.cursor() as c,
            ):
                c.execute(sql)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        StatementVersion.objects.filter(statement=statement).update(body="Something else")


def test_publish_returns_the_chain_it_checked_and_a_replay_says_so(cast):
    statement = fully_approved(cast)
    version = cv(statement)
    result = services.statement_publish(statement=fresh(statement), actor=cast.publisher, version_number=1)
    assert result.created
    assert result.statement.status == S.PUBLISHED
    assert result.publication.version_id == version.pk
    assert result.chain is not None  # what the page renders the chain from, without reading it again
    assert {s.pk for s in result.chain.steps} == set(
        ChainStep.objects.filter(version=version).values_list("pk", flat=True)
    )
    assert {a.pk for a in result.chain.decisions} == set(
        Approval.objects.filter(version=version).values_list("pk", flat=True)
    )
    before = snapshot(STATEMENT_TABLES)
    replay = services.statement_publish(statement=fresh(statement), actor=cast.publisher, version_number=1)
    assert (replay.created, replay.publication, replay.chain) == (False, result.publication, None)
    assert snapshot(STATEMENT_TABLES) == before
