"""Statements under real PostgreSQL concurrency: threads released together, each with its own connection.

Each race runs 50 iterations inside one test (one flush per test instead of one per iteration; ~20 s for
all five on 2 cores). After every iteration the
invariant is checked: every published text is byte-identical to a version whose sha256 carries every
required approval of that version's chain.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from django.db import connection, transaction

from incidents import services
from incidents.models import (
    Approval,
    ChainStep,
    InvalidTransition,
    Notification,
    Publication,
    RoleAssignment,
    Statement,
    StatementError,
    StatementVersion,
)
from tests.factories import UserFactory, give_role
from tests.factories_statements import (
    HOLDING,
    approve,
    assert_published_texts_were_approved,
    cv,
    fresh,
    fully_approved,
    make_cast,
    new_statement,
    submit,
)
from tests.factories_statements import seeded as seeded  # the fixture every test here uses
from tests.helpers import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded")]
ITERATIONS = 50  # the issue asks for 50 per race
REFUSED = (StatementError, InvalidTransition)


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same instant; exceptions are returned, not raised."""
    return race(len(calls), lambda n: calls[n]())


def save(statement: Statement, actor, body: str, expected: int = 1):
    return services.statement_save_draft(
        statement=fresh(statement), actor=actor, expected_version=expected, body=body
    )


def test_approving_v1_while_v2_is_saved():
    cast = make_cast()
    for i in range(ITERATIONS):
        statement = submit(cast, new_statement(cast, body=f"{HOLDING} ({i})"))
        v1 = cv(fresh(statement))
        approved, saved = together(
            partial(approve, statement, cast.legal), partial(save, statement, cast.drafter, f"v2 text ({i})")
        )
        assert isinstance(saved, Statement), saved  # an edit never loses to an approval
        final = fresh(statement)
        assert (final.status, cv(final).number) == ("draft", 2)
        # Whichever committed first: v2 inherits nothing, and an approval names v1 and v1's sha.
        assert not Approval.objects.filter(version=cv(final)).exists()
        if isinstance(approved, services.ApprovalResult):
            assert (approved.approval.version_id, approved.approval.sha256) == (v1.pk, v1.sha256)
        else:
            assert isinstance(approved, REFUSED), approved
        assert_published_texts_were_approved()


def test_two_approvers_on_the_same_step_one_wins():
    cast = make_cast()
    second = UserFactory.create(display_name="Second Lawyer")
    give_role(cast.incident, second, "legal")
    for i in range(ITERATIONS):
        statement = submit(cast, new_statement(cast, body=f"{HOLDING} ({i})"))
        results = together(
            partial(approve, statement, cast.legal, step_order=1),
            partial(approve, statement, second, step_order=1),
        )
        winners = [r for r in results if isinstance(r, services.ApprovalResult)]
        losers = [r for r in results if isinstance(r, StatementError)]
        assert (len(winners), len(losers)) == (1, 1), results
        assert "Step 1 (Legal) is already complete" in str(losers[0])
        version = cv(fresh(statement))
        step1 = ChainStep.objects.get(version=version, order=1)
        assert Approval.objects.filter(step=step1).count() == 1
        assert step1.completed_at is not None
        assert ChainStep.objects.get(version=version, order=2).activated_at is not None
        told = Notification.objects.filter(
            recipient=cast.comms, text__startswith="Your approval", text__contains=f"({i})"
        )
        assert told.count() <= 1  # the next step was opened once


def test_publish_racing_a_new_version():
    cast = make_cast()
    for i in range(ITERATIONS):
        statement = fully_approved(cast, body=f"{HOLDING} ({i})")
        approved_version = cv(statement)
        published, saved = together(
            partial(
                services.statement_publish, statement=fresh(statement), actor=cast.publisher, version_number=1
            ),
            partial(save, statement, cast.drafter, f"Unapproved edit ({i})"),
        )
        final = fresh(statement)
        if isinstance(published, services.PublishResult):
            assert isinstance(saved, services.StaleDraft), saved  # the frozen text refuses the edit
            assert final.status == "published"
            assert published.publication.version_id == approved_version.pk == cv(final).pk
        else:
            assert isinstance(saved, Statement), saved
            assert isinstance(published, REFUSED), published
            assert final.status == "draft"
            assert not Publication.objects.filter(statement=statement).exists()
        assert_published_texts_were_approved()


def test_eight_concurrent_saves_of_the_same_version_one_wins_and_nobody_loses_text():
    cast = make_cast()
    writers = [cast.drafter, cast.commander, cast.publisher, cast.comms] * 2
    for i in range(ITERATIONS):
        statement = new_statement(cast, body=f"{HOLDING} ({i})")
        texts = [f"Draft {n} of round {i}: refunds within three days." for n in range(8)]
        results = together(*(partial(save, statement, writers[n], texts[n]) for n in range(8)))
        winners = [n for n, r in enumerate(results) if isinstance(r, Statement)]
        losers = [(n, r) for n, r in enumerate(results) if isinstance(r, services.StaleDraft)]
        assert (len(winners), len(losers)) == (1, 7), results
        final = fresh(statement)
        assert (final.version, cv(final).body) == (2, texts[winners[0]])
        assert StatementVersion.objects.filter(statement=statement).count() == 2
        for n, conflict in losers:
            assert conflict.mine == texts[n]  # each loser gets their own text back
            assert conflict.theirs is not None
            assert conflict.theirs.body == texts[winners[0]]


def test_six_identical_creates_make_one_statement():
    cast = make_cast()
    create = partial(
        services.statement_create,
        incident=cast.incident,
        actor=cast.drafter,
        channel="x",
        title="Holding statement",
        body=HOLDING,
        idempotency_key="same-click",
    )
    results = together(*([create] * 6))
    assert all(isinstance(r, Statement) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Statement.objects.filter(incident=cast.incident).count() == 1


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def test_a_save_that_waits_for_a_team_change_is_judged_by_it():
    """The drafter is removed while their save is under way: the save checked their role at the door,
    wins its UPDATE, then waits for the incident's lock — and under it finds the role gone. Nothing written."""
    cast = make_cast()
    statement = new_statement(cast)
    assignment = RoleAssignment.objects.get(incident=cast.incident, user=cast.drafter)
    removed, commit = threading.Event(), threading.Event()

    def remove() -> None:
        from django.db import connection as thread_connection

        try:
            with transaction.atomic():
                services.team_remove_role(incident=cast.incident, actor=cast.commander, assignment=assignment)
                removed.set()
                commit.wait(10)  # committed only once the save waits for the incident
        finally:
            thread_connection.close()

    remover = threading.Thread(target=remove)
    remover.start()
    assert removed.wait(10)

    def save_meanwhile() -> object:
        from django.db import connection as thread_connection

        try:
            return save(statement, cast.drafter, "Written while being removed.")
        except StatementError as exc:
            return exc
        finally:
            thread_connection.close()

    saving = ThreadPoolExecutor(1)
    try:
        outcome = saving.submit(save_meanwhile)
        deadline = time.monotonic() + 10
        while _waiting_on_a_lock() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)  # polling for the save to reach the lock (a condition, with a ceiling)
        assert _waiting_on_a_lock() >= 1, "the save never waited for the incident"
        commit.set()
        result = outcome.result(timeout=10)
    finally:
        commit.set()
        remover.join(10)
        saving.shutdown()
    assert isinstance(result, StatementError), result
    assert "no longer on this incident's team" in str(result)
    assert StatementVersion.objects.filter(statement=statement).count() == 1
    assert fresh(statement).version == 1
