"""A Hypothesis state machine over one statement: random sequences of edit, submit, approve, reject,
publish, withdraw, comment and team removals (and returns), by random people.

After every step: the invariants hold (every published text carries every approval of its chain for its
exact sha256; no approval by a non-member, by the version's author, or by one person on two steps; the
status agrees with the chain; the timeline's seq has no gaps), and every refused action changed nothing.
Each run is one savepoint, rolled back at the end (reliability-anchors §3.4).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from incidents import services
from incidents.models import (
    Approval,
    ChainStep,
    Incident,
    InvalidTransition,
    Perm,
    Publication,
    RoleAssignment,
    StatementError,
    StatementStatus,
    TimelineEntry,
)
from incidents.permissions import incident_perms
from tests.factories import give_role
from tests.factories_statements import (
    STATEMENT_TABLES,
    assert_published_texts_were_approved,
    cv,
    fresh,
    make_cast,
    new_statement,
)
from tests.factories_statements import seeded as seeded  # the fixture the test below uses
from tests.helpers import snapshot

S = StatementStatus
TEXTS = [
    "We're sorry: checkout charged some of you twice. Refunds are on their way.",
    "Some payments were taken twice. Every duplicate will be refunded within three working days.",
    "We know about double charges at checkout and are fixing it now. Next update by 16:00.",
]
ROLES = ["drafter", "legal", "comms", "executive", "publisher", "commander"]
SLUGS = {
    "drafter": "drafter",
    "legal": "legal",
    "comms": "comms-lead",
    "executive": "executive",
    "publisher": "social",
}
REFUSED = (StatementError, InvalidTransition)


class StatementMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.cast = make_cast()
        self.statement = new_statement(self.cast, body=TEXTS[0])
        self.people = {name: getattr(self.cast, name) for name in ROLES}
        self.steps = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers ----------------------------------------------------------------------------------------

    def attempt(self, action: Any) -> Any:
        """Run an action; a refusal must leave every statement table exactly as it was."""
        self.steps += 1
        before = snapshot(STATEMENT_TABLES)
        try:
            return action()
        except services.StaleDraft:
            assert snapshot(STATEMENT_TABLES) == before
        except REFUSED:
            assert snapshot(STATEMENT_TABLES) == before
        return None

    def current(self):
        return fresh(self.statement)

    # --- rules ------------------------------------------------------------------------------------------

    @initialize(start=st.sampled_from(["draft", "in review, one approval", "approved", "published"]))
    def start_from(self, start: str) -> None:
        """Begin some runs further along the chain, so a dozen steps also explore approved and published."""
        if start == "draft":
            return
        cast = self.cast
        statement = services.statement_submit(statement=self.current(), actor=cast.drafter, version_number=1)
        for person in (
            [cast.legal] if start.startswith("in review") else [cast.legal, cast.comms, cast.executive]
        ):
            version = cv(self.current())
            services.statement_approve(
                statement=self.current(), actor=person, version_number=version.number, sha256=version.sha256
            )
        if start == "published":
            services.statement_publish(statement=self.current(), actor=cast.publisher, version_number=1)
        assert statement.pk == self.statement.pk

    @rule(who=st.sampled_from(ROLES), text=st.sampled_from(TEXTS), stale=st.booleans())
    def edit(self, who: str, text: str, stale: bool) -> None:
        statement = self.current()
        expected = statement.version - (1 if stale and statement.version > 1 else 0)
        saved = self.attempt(
            lambda: services.statement_save_draft(
                statement=statement, actor=self.people[who], expected_version=expected, body=text
            )
        )
        if saved is not None and saved.version != statement.version:
            assert saved.status == S.DRAFT
            assert cv(saved).number == statement.version + 1
            assert not ChainStep.objects.filter(version=cv(saved)).exists()

    @rule(who=st.sampled_from(ROLES))
    def submit(self, who: str) -> None:
        statement = self.current()
        self.attempt(
            lambda: services.statement_submit(
                statement=statement, actor=self.people[who], version_number=statement.version
            )
        )

    @rule(who=st.sampled_from(ROLES), step=st.one_of(st.none(), st.integers(1, 3)), stale=st.booleans())
    def approve(self, who: str, step: int | None, stale: bool) -> None:
        statement = self.current()
        actor = self.people[who]
        was_member = Perm.APPROVE in incident_perms(actor, statement.incident)
        version = cv(statement)
        result = self.attempt(
            lambda: services.statement_approve(
                statement=statement,
                actor=actor,
                version_number=version.number - (1 if stale else 0),
                sha256=version.sha256,
                step_order=step,
            )
        )
        if result is not None and result.created:
            assert was_member, "approved by someone without the approve permission"
            assert result.approval.version_id == version.pk

    @rule()
    def approve_next(self) -> None:
        """The holder of the current step's role approves: moves the chain along (random approvals alone
        rarely get a statement to "approved" within a dozen steps)."""
        statement = self.current()
        step = (
            ChainStep.objects.filter(version=cv(statement), completed_at__isnull=True)
            .order_by("order")
            .first()
        )
        if step is None or step.role is None:
            return
        holder = {"legal": "legal", "comms-lead": "comms", "executive": "executive"}[step.role.slug]
        self.approve(holder, step.order, stale=False)

    @rule(who=st.sampled_from(ROLES), reason=st.sampled_from(["", "Too defensive in tone."]))
    def reject(self, who: str, reason: str) -> None:
        statement = self.current()
        self.attempt(
            lambda: services.statement_reject(
                statement=statement, actor=self.people[who], version_number=statement.version, reason=reason
            )
        )

    @rule(who=st.sampled_from(ROLES))
    def publish(self, who: str) -> None:
        statement = self.current()
        self.attempt(
            lambda: services.statement_publish(
                statement=statement, actor=self.people[who], version_number=statement.version
            )
        )

    @precondition(lambda self: self.steps >= 6)  # withdrawn is final: not too early, or little else is seen
    @rule(who=st.sampled_from(ROLES))
    def withdraw(self, who: str) -> None:
        statement = self.current()
        self.attempt(
            lambda: services.statement_withdraw(
                statement=statement, actor=self.people[who], reason="Overtaken"
            )
        )

    @rule(who=st.sampled_from(ROLES))
    def comment(self, who: str) -> None:
        statement = self.current()
        self.attempt(
            lambda: services.statement_comment(
                statement=statement,
                actor=self.people[who],
                version_number=statement.version,
                body="Looks right.",
            )
        )

    @rule(who=st.sampled_from(ROLES[:-1]))
    def remove_member(self, who: str) -> None:
        for assignment in RoleAssignment.objects.current().filter(
            incident=self.cast.incident, user=self.people[who]
        ):
            services.team_remove_role(
                incident=self.cast.incident, actor=self.cast.commander, assignment=assignment
            )

    @rule(who=st.sampled_from(ROLES[:-1]))
    def rejoin(self, who: str) -> None:
        held = RoleAssignment.objects.current().filter(incident=self.cast.incident, user=self.people[who])
        if not held.exists():
            give_role(self.cast.incident, self.people[who], SLUGS[who], actor=self.cast.commander)

    # --- invariants ---------------------------------------------------------------------------------------

    @invariant()
    def published_texts_carry_every_approval(self) -> None:
        assert_published_texts_were_approved()

    @invariant()
    def approvals_respect_separation_of_duties(self) -> None:
        for approval in Approval.objects.filter(version__statement=self.statement).select_related(
            "version", "step"
        ):
            if not approval.step.allow_self_approval:
                assert approval.approver_id != approval.version.author_id
        per_person: dict[tuple[int, int], set[int]] = {}
        for version_id, approver_id, step_id in Approval.objects.filter(
            version__statement=self.statement, decision=Approval.Decision.APPROVED
        ).values_list("version_id", "approver_id", "step_id"):
            per_person.setdefault((version_id, approver_id), set()).add(step_id)
        assert all(len(steps) == 1 for steps in per_person.values())

    @invariant()
    def status_agrees_with_the_chain(self) -> None:
        statement = self.current()
        version = cv(statement)
        assert statement.version == version.number
        steps = list(ChainStep.objects.filter(version=version).order_by("order"))
        done = [s for s in steps if s.completed_at is not None]
        if statement.status == S.DRAFT:
            assert not steps
        if statement.status == S.IN_REVIEW:
            assert steps
            assert len(done) < len(steps)
            assert done == steps[: len(done)]  # steps complete in order, none skipped
        if statement.status in (S.APPROVED, S.PUBLISHED):
            assert steps
            assert done == steps
        if statement.status == S.PUBLISHED:
            assert Publication.objects.get(statement=statement).version_id == version.pk
        else:
            assert (
                statement.status == S.WITHDRAWN
                or not Publication.objects.filter(statement=statement).exists()
            )

    @invariant()
    def note_the_status(self) -> None:
        event(f"status reached: {self.current().status}")  # `--hypothesis-show-statistics` shows coverage

    @invariant()
    def timeline_seq_is_gapless(self) -> None:
        seqs = list(
            TimelineEntry.objects.filter(incident=self.cast.incident)
            .order_by("seq")
            .values_list("seq", flat=True)
        )
        assert seqs == list(range(1, len(seqs) + 1))
        assert Incident.objects.get(pk=self.cast.incident.pk).timeline_seq == len(seqs)


@pytest.mark.django_db
@pytest.mark.usefixtures("seeded")
def test_statement_workflow_state_machine():
    run_state_machine_as_test(
        StatementMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            database=None,
        ),
    )
