"""A chain nobody but the drafter could complete is refused at submit, with its step named, and nothing changes
(issue #15: "the only Communications lead drafted the statement; step 2 then said someone else decides and
nobody could"). The rule is one function (rules.check_chain_can_complete); the service asks it under the
locks, the pages with the same plan (chains.chain_plan)."""

from __future__ import annotations

import pytest

from incidents import services
from incidents.models import ApprovalChainTemplate, ApprovalStepTemplate, IncidentRole
from incidents.services.statements import ChainStalled, StepNeed, chain_plan
from incidents.services.statements.rules import check_chain_can_complete
from tests.factories import UserFactory, give_role
from tests.factories_statements import STATEMENT_TABLES, S, approve, fresh, new_statement
from tests.factories_statements import cast as cast
from tests.factories_statements import seeded as seeded
from tests.helpers import snapshot

DEFAULT = "Legal → Communications lead → Executive"


def _submit(statement, actor):
    statement = fresh(statement)
    return services.statement_submit(statement=statement, actor=actor, version_number=statement.version)


def test_the_only_comms_lead_drafting_is_refused_at_submit_and_nothing_changes(cast):
    draft = services.statement_create(
        incident=cast.incident, actor=cast.comms, title="Holding", channel="x", body="We are on it."
    )
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(ChainStalled) as refused:
        _submit(draft, cast.comms)
    assert snapshot(STATEMENT_TABLES) == before  # no steps, no status change, no entry, nobody notified
    assert fresh(draft).status == S.DRAFT
    assert "Step 2 (Communications lead)" in str(refused.value)
    assert "Add a Communications lead to the team" in str(refused.value)
    assert refused.value.step.role_id == IncidentRole.objects.get(slug="comms-lead").pk  # for the fix
    # The fix: a second Communications lead; now the same draft goes through, and step 2 is theirs.
    second = UserFactory.create(display_name="Second Comms")
    give_role(cast.incident, second, "comms-lead")
    _submit(draft, cast.comms)
    approve(draft, cast.legal)
    approve(draft, second)
    approve(draft, cast.executive)
    assert fresh(draft).status == S.APPROVED


def test_anyone_else_submitting_the_authors_version_is_refused_too(cast):
    """The rule is about who wrote the version, not who clicks submit."""
    draft = services.statement_create(
        incident=cast.incident, actor=cast.comms, title="Holding", channel="x", body="We are on it."
    )
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(ChainStalled, match="Step 2"):
        _submit(draft, cast.drafter)
    assert snapshot(STATEMENT_TABLES) == before


def test_one_person_on_two_steps_stalls_a_chain_that_wants_a_different_person_per_step(cast):
    """Executive and Communications lead both only Erik: each step needs a different person, so step 3
    could never be decided. The same chain without that requirement goes through."""
    chain = ApprovalChainTemplate.objects.get(name=DEFAULT)
    erik = UserFactory.create(display_name="Erik Lindqvist")
    incident = cast.incident
    for assignment in incident.role_assignments.filter(user__in=[cast.comms, cast.executive], ended_at=None):
        services.team_remove_role(incident=incident, actor=cast.commander, assignment=assignment)
    give_role(incident, erik, "comms-lead")
    give_role(incident, erik, "executive")
    draft = new_statement(cast)
    plan = chain_plan(incident=incident, chain=chain, author_id=cast.drafter.pk)
    assert plan.stalled is not None
    assert plan.stalled.step.order == 3
    assert "Erik Lindqvist" in str(plan.stalled)
    assert [[str(p) for p in s.people] for s in plan.steps] == [
        ["Legal Person"],
        ["Erik Lindqvist"],
        ["Erik Lindqvist"],
    ]
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(ChainStalled, match="each step needs a different person"):
        _submit(draft, cast.drafter)
    assert snapshot(STATEMENT_TABLES) == before
    ApprovalChainTemplate.objects.filter(pk=chain.pk).update(distinct_approvers=False)
    _submit(draft, cast.drafter)
    assert fresh(draft).status == S.IN_REVIEW


def test_a_step_for_everyone_whose_only_holder_wrote_the_text_stalls(cast):
    chain = ApprovalChainTemplate.objects.create(name="All comms", audiences=["press"])
    ApprovalStepTemplate.objects.create(
        chain=chain, order=1, name="Comms", role=IncidentRole.objects.get(slug="comms-lead"), rule="all"
    )
    draft = services.statement_create(
        incident=cast.incident,
        actor=cast.comms,
        title="Press",
        channel="press_release",
        audience="press",
        body="Statement.",
    )
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(ChainStalled, match="Step 1 \\(Comms\\)"):
        _submit(draft, cast.comms)
    assert snapshot(STATEMENT_TABLES) == before
    ApprovalChainTemplate.objects.filter(pk=chain.pk).update(allow_self_approval=True)
    _submit(draft, cast.comms)  # the chain allows authors to approve: they can complete it themselves


def _need(order: int, eligible: set[int], *, required: int = 1, distinct: bool = True) -> StepNeed:
    return StepNeed(
        order=order,
        name=f"S{order}",
        role_id=order,
        role_name=f"Role {order}",
        required=required,
        eligible=frozenset(eligible),
        distinct_approvers=distinct,
    )


@pytest.mark.parametrize(
    ("steps", "stalled_at"),
    [
        ([_need(1, {1, 2}), _need(2, {2}), _need(3, {3})], None),  # 1 takes step 1, 2 step 2
        ([_need(1, {2}), _need(2, {2}), _need(3, {3})], 2),  # 2 cannot do both
        ([_need(1, {2, 3}), _need(2, {2}), _need(3, {3})], 3),  # either way one step is left
        ([_need(1, {9}), _need(2, {2})], 1),  # 9 wrote it: step 1 has nobody else
        ([_need(1, {2, 3}, required=2), _need(2, {4})], None),
        ([_need(1, {2, 3}, required=2), _need(2, {3})], 2),
        ([_need(1, {2}, distinct=False), _need(2, {2}, distinct=False)], None),
        ([_need(1, set())], 1),
    ],
)
def test_the_rule_finds_the_first_step_that_cannot_be_filled(steps, stalled_at):
    if stalled_at is None:
        check_chain_can_complete(steps, author_id=9)
        return
    with pytest.raises(ChainStalled) as stalled:
        check_chain_can_complete(steps, author_id=9)
    assert stalled.value.step.order == stalled_at
