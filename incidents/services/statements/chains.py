"""The approval chain a statement goes through: which chain applies, who could decide each of its steps now,
whether it can be completed at all (`rules.check_chain_can_complete`), and the snapshot of its steps that
submitting binds to a version.

`chain_plan` is read by the submit service under the statement's and the incident's locks, and by the pages
that show the chain before anyone submits (the new-statement page, a draft's page), so both answer from the
same needs and the same rule. May import models, permissions, hooks and this package's rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.translation import gettext as _

from incidents import hooks
from incidents.models import (
    ApprovalChainTemplate,
    ApprovalRule,
    ApprovalStepTemplate,
    ChainStep,
    Incident,
    IncidentUserObjectPermission,
    Perm,
    RoleAssignment,
    StatementError,
    StatementVersion,
    User,
)
from incidents.services.statements.rules import ChainStalled, StepNeed, check_chain_can_complete

# --- which chain -------------------------------------------------------------------------------------------------


def pick_chain(
    chains: Iterable[ApprovalChainTemplate],
    *,
    severity: str,
    audience: str,
    scenario: str,
    fill_only: bool,
    named: int | None = None,
) -> ApprovalChainTemplate | None:
    """Of `chains` (active), the one a statement goes through: the `named` one (a playbook's) for the
    audiences it covers, else the most specific match; its shorter fill chain instead for a pure template
    fill where that matches too. Pure: the declare page asks it before there is an incident."""
    criteria = {"severity": severity, "audience": audience, "scenario": scenario}
    chains = list(chains)
    chosen = [
        c
        for c in chains
        if c.pk == named and not c.fill_only and (not c.audiences or audience in c.audiences)
    ]
    candidates = chosen or [c for c in chains if not c.fill_only and c.matches(**criteria)]
    if not candidates:
        return None
    chain = min(candidates, key=lambda c: (-c.specificity, c.sort_order, c.name))
    fill = chain.fill_chain
    if fill_only and fill is not None and fill.is_active and fill.matches(**criteria):
        return fill
    return chain


def choose_chain(*, incident: Incident, audience: str, fill_only: bool) -> ApprovalChainTemplate | None:
    """The most specific active chain matching the incident's severity and scenario and the audience;
    its shorter fill chain instead when the version is a pure template fill and that chain matches too.

    A chain the incident's own setup names (hooks.statement_chain: the playbook it was declared from)
    wins for the audiences it covers."""
    named = next((pk for answer in hooks.statement_chain if (pk := answer(incident)) is not None), None)
    return pick_chain(
        ApprovalChainTemplate.objects.filter(is_active=True).select_related("fill_chain"),
        severity=incident.severity,
        audience=audience,
        scenario=incident.scenario,
        fill_only=fill_only,
        named=named,
    )


# --- who could decide each step now ---------------------------------------------------------------------------


def holders(incident: Incident, role_ids: Iterable[int]) -> dict[int, set[int]]:
    """Active people holding each role in the incident now, by role id."""
    held: dict[int, set[int]] = defaultdict(set)
    for role_id, user_id in (
        RoleAssignment.objects.current()
        .filter(incident=incident, role_id__in=list(role_ids), user__is_active=True)
        .values_list("role_id", "user_id")
    ):
        held[role_id].add(user_id)
    return held


def _approvers(incident: Incident) -> set[int]:
    """Active people whose role in the incident lets them approve (`check_decide`'s `may_approve`)."""
    return set(
        IncidentUserObjectPermission.objects.filter(
            content_object=incident, permission__codename=Perm.APPROVE, user__is_active=True
        ).values_list("user_id", flat=True)
    )


@dataclass
class PlannedStep:
    """One step of the chain that will apply, with the people who may decide it now (by name)."""

    need: StepNeed
    template: ApprovalStepTemplate
    people: list[User] = field(default_factory=list)


@dataclass
class ChainPlan:
    """The chain a version would go through if submitted now, step by step, and whether it can complete."""

    chain: ApprovalChainTemplate
    steps: list[PlannedStep]
    author_id: int
    stalled: ChainStalled | None = None

    @property
    def needs(self) -> list[StepNeed]:
        return [s.need for s in self.steps]


def chain_plan(
    *,
    incident: Incident,
    chain: ApprovalChainTemplate,
    author_id: int,
    with_people: bool = True,
    steps_read: Sequence[ApprovalStepTemplate] | None = None,
) -> ChainPlan:
    """Who may decide each step of `chain` now — the step's role holders and named approvers who may
    approve in the incident — and whether the chain can be completed by people other than `author_id`
    (`rules.check_chain_can_complete`). `with_people`: also read their names (for pages and refusals).
    `steps_read`: the chain's steps in order, with their roles and named users, when the caller has them."""
    templates = (
        list(steps_read)
        if steps_read is not None
        else list(chain.steps.select_related("role").prefetch_related("users").order_by("order"))
    )
    if not templates:
        raise StatementError(
            _(
                "The approval chain “%(chain)s” has no steps, so nothing could approve this. Ask an "
                "administrator to fix it under Configuration → Approval chains."
            )
            % {"chain": chain.name}
        )
    held = holders(incident, [t.role_id for t in templates if t.role_id is not None])
    approvers = _approvers(incident)
    steps = []
    for index, tpl in enumerate(templates):
        named = {u.pk for u in tpl.users.all() if u.is_active}
        if tpl.role_id is None and not named:
            raise StatementError(
                _(
                    "Step “%(step)s” of the chain “%(chain)s” names neither a role nor a person. Ask an "
                    "administrator to fix it."
                )
                % {"step": tpl.name, "chain": chain.name}
            )
        eligible = frozenset((named | (held[tpl.role_id] if tpl.role_id is not None else set())) & approvers)
        deciders = eligible if chain.allow_self_approval else eligible - {author_id}
        if tpl.rule == ApprovalRule.ANY:
            required = 1
        elif tpl.rule == ApprovalRule.N:
            required = max(1, tpl.required_count)
        else:  # everyone who could approve it now (the author excepted, unless the chain allows it)
            required = max(1, len(deciders))
        need = StepNeed(
            order=index + 1,
            name=tpl.name,
            role_id=tpl.role_id,
            role_name=tpl.role.name if tpl.role is not None else "",
            required=required,
            eligible=eligible,
            allow_self_approval=chain.allow_self_approval,
            distinct_approvers=chain.distinct_approvers,
        )
        steps.append(PlannedStep(need=need, template=tpl))
    plan = ChainPlan(chain=chain, steps=steps, author_id=author_id)
    names: dict[int, str] = {}
    if with_people:
        everyone = {p for s in steps for p in s.need.eligible}
        people = {u.pk: u for u in User.objects.filter(pk__in=everyone).order_by("display_name", "pk")}
        names = {pk: str(u) for pk, u in people.items()}
        for step in steps:
            step.people = [u for u in people.values() if u.pk in step.need.eligible]
    try:
        check_chain_can_complete(plan.needs, author_id=author_id, names=names)
    except ChainStalled as stalled:
        plan.stalled = stalled
    return plan


def snapshot(*, plan: ChainPlan, version: StatementVersion, now: datetime) -> list[ChainStep]:
    """Bind the planned chain to `version`: its steps are copied, so later template edits do not touch it."""
    return ChainStep.objects.bulk_create(
        ChainStep(
            version=version,
            order=step.need.order,
            name=step.need.name,
            role=step.template.role,
            approver_ids=sorted(u.pk for u in step.template.users.all() if u.is_active),
            rule=step.template.rule,
            required=step.need.required,
            sla_minutes=step.template.sla_minutes,
            allow_self_approval=plan.chain.allow_self_approval,
            distinct_approvers=plan.chain.distinct_approvers,
            activated_at=now if step.need.order == 1 else None,
        )
        for step in plan.steps
    )


def planned_chain(
    *, incident: Incident, audience: str, fill_only: bool, author_id: int
) -> tuple[ChainPlan | None, StatementError | None]:
    """For pages: the plan of the chain a version would go through, or why there is none (never raises)."""
    chain = choose_chain(incident=incident, audience=audience, fill_only=fill_only)
    if chain is None:
        return None, StatementError(_no_chain_message())
    try:
        return chain_plan(incident=incident, chain=chain, author_id=author_id), None
    except StatementError as broken:
        return None, broken


def _no_chain_message() -> str:
    # Translated when refused, in the language of whoever asked (a constant would be English forever).
    return _(
        "No approval chain applies to this statement. Ask an administrator to set one up under "
        "Configuration → Approval chains."
    )


def no_chain() -> StatementError:
    return StatementError(_no_chain_message())


__all__ = [
    "ChainPlan",
    "PlannedStep",
    "chain_plan",
    "choose_chain",
    "holders",
    "pick_chain",
    "planned_chain",
    "snapshot",
]
