"""Who may do what to a statement, and when: one function per rule, each raising the refusal it stands for.

The services call these under the statement's and the incident's locks, with the permissions read there;
the selectors and views call the very same functions (through `allowed`) to decide what a page offers, so
each rule is written once. Pure functions of what they are given: no queries. May import models only.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ParamSpec

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from incidents.models import (
    Approval,
    ChainStep,
    Perm,
    Refused,
    Statement,
    StatementError,
    StatementStatus,
    StatementVersion,
)

S = StatementStatus
P = ParamSpec("P")


def allowed(check: Callable[P, None], *args: P.args, **kwargs: P.kwargs) -> bool:
    """Would `check` let this through? What a page asks before it offers the action."""
    try:
        check(*args, **kwargs)
    except Refused:
        return False
    return True


def _not_allowed(on_team: bool) -> StatementError:
    return StatementError(
        _("Your role in this incident does not allow that (any more). Nothing was changed.")
        if on_team
        else _("You are no longer on this incident's team. Nothing was changed.")
    )


def require(perms: Collection[str], perm: str) -> None:
    """The person's role in the incident allows `perm` (perms: their codenames there, read now)."""
    if perm not in perms:
        raise _not_allowed(bool(perms))


def withdraw_perm(statement: Statement) -> Perm:
    """Taking back what went out is the publishers' call; abandoning a draft the drafters'."""
    return Perm.PUBLISH if statement.is_published else Perm.DRAFT


def check_edit(statement: Statement, perms: Collection[str]) -> None:
    """Save a new version of the text (saving while in review or approved drops back to draft)."""
    require(perms, Perm.DRAFT)
    statement.ensure_can_move_to(S.DRAFT)


def check_submit(statement: Statement, version: StatementVersion, perms: Collection[str]) -> None:
    """Send the current version for approval."""
    require(perms, Perm.DRAFT)
    statement.ensure_can_move_to(S.IN_REVIEW)
    if not version.body:
        raise StatementError(_("Write the statement before submitting it."))


def check_publish(statement: Statement, perms: Collection[str]) -> None:
    """Record the approved version as published (the service then counts the approvals itself)."""
    require(perms, Perm.PUBLISH)
    statement.ensure_can_move_to(S.PUBLISHED)


def check_withdraw(statement: Statement, perms: Collection[str]) -> None:
    require(perms, withdraw_perm(statement))
    statement.ensure_can_move_to(S.WITHDRAWN)


def check_update(statement: Statement, perms: Collection[str]) -> None:
    """Start a statement that will supersede this one when it is published."""
    require(perms, Perm.DRAFT)
    if not statement.is_published:
        raise StatementError(_("Only a published statement of this incident can be updated by a new one."))


def check_variant(master: Statement, perms: Collection[str]) -> None:
    """Start a variant of this (master) statement for another channel."""
    require(perms, Perm.DRAFT)
    if master.is_final:
        raise StatementError(
            _("“%(title)s” was %(status)s; start a new statement.")
            % {"title": master.title, "status": master.get_status_display().lower()}
        )


def check_comment(perms: Collection[str]) -> None:
    require(perms, Perm.POST)


# --- deciding a step ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Where a person stands in the incident now, as far as deciding one step goes."""

    on_team: bool
    may_approve: bool
    holds_role: bool  # holds the step's role now


class OwnText(StatementError):
    """The author of a version may not decide it (separation of duties), unless the chain allows it."""


def check_decide(
    *,
    step: ChainStep,
    steps: Sequence[ChainStep],
    version: StatementVersion,
    person_id: int,
    standing: Standing,
    decisions: Iterable[Approval],
) -> None:
    """May this person approve or reject `step` — the version's first incomplete one — now?

    `steps` are all of the version's steps, `decisions` its approvals and rejections so far. The service
    asks this under the locks, the approvals queue and the panels for every statement at once.
    """
    if not standing.may_approve:
        raise _not_allowed(standing.on_team)
    if person_id not in step.approver_ids and not standing.holds_role:
        values = {"order": step.order, "name": step.name}
        if step.role is not None:
            text = _("Step %(order)d (%(name)s) needs a %(role)s; you are not. Steps cannot be skipped.")
            values["role"] = step.role.name
        else:
            text = _(
                "Step %(order)d (%(name)s) needs one of its named approvers; you are not. Steps cannot be skipped."
            )
        raise StatementError(text % values)
    if version.author_id == person_id and not step.allow_self_approval:
        raise OwnText(
            _(
                "You wrote v%(number)d, and nobody approves their own text (separation of duties). "
                "Someone else in the step must decide."
            )
            % {"number": version.number}
        )
    mine = [a for a in decisions if a.approver_id == person_id or a.on_behalf_of_id == person_id]
    stood_in = next((a for a in mine if a.step_id == step.pk and a.on_behalf_of_id == person_id), None)
    if stood_in is not None:
        raise StatementError(
            _(
                "%(backup)s already decided step %(order)d (%(name)s) of v%(number)d standing in for you, "
                "after its SLA passed. Nothing was changed."
            )
            % {"backup": stood_in.approver, "order": step.order, "name": step.name, "number": version.number}
        )
    if any(a.step_id == step.pk for a in mine):
        raise StatementError(
            _(
                "You have already decided step %(order)d (%(name)s) of v%(number)d; "
                "someone else in the step decides the rest."
            )
            % {"order": step.order, "name": step.name, "number": version.number}
        )
    if step.distinct_approvers:
        other = next(
            (a for a in mine if a.step_id != step.pk and a.decision == Approval.Decision.APPROVED), None
        )
        if other is not None:
            done = next((s for s in steps if s.pk == other.step_id), None)
            named = (
                _("step %(order)d (%(name)s)") % {"order": done.order, "name": done.name}
                if done is not None
                else _("another step")
            )
            raise StatementError(
                _("You approved %(named)s of this version; each step needs a different person.")
                % {"named": named}
            )


# --- a backup standing in -----------------------------------------------------------------------------------


class StandInRefused(StatementError):
    """A backup may not (yet) decide this step for the approver they back up."""


def check_stand_in(
    *,
    step: ChainStep,
    steps: Sequence[ChainStep],
    version: StatementVersion,
    person_id: int,
    on_team: bool,
    principal_id: int,
    principal_name: str,
    backs_up: Collection[int],
    decisions: Iterable[Approval],
    now: datetime,
) -> None:
    """May this person decide `step` — the version's first incomplete one — standing in for `principal_id`?

    Only once the step's SLA has passed (`step.due_at`, scaled in a compressed drill), only for someone they
    are the named backup of who may decide the step (`backs_up`: those people, read under the lock), only
    while neither that approver nor another backup has decided it for them — and with the same separation
    of duties as the approver's own decision: nobody decides their own text, nor (where the chain asks for
    a different person per step) two steps of one version, in their own name or in another's.
    """
    if not on_team:
        raise _not_allowed(False)
    if principal_id not in backs_up:
        raise StandInRefused(
            _(
                "You are not %(name)s's backup for step %(order)d (%(step)s); only the backup named on the "
                "role of someone who decides it may stand in."
            )
            % {"name": principal_name, "order": step.order, "step": step.name}
        )
    due = step.due_at
    if due is None:
        raise StandInRefused(
            _("Step %(order)d (%(step)s) has no time limit, so nobody stands in: its approvers decide it.")
            % {"order": step.order, "step": step.name}
        )
    if now < due:
        raise StandInRefused(
            _(
                "Step %(order)d (%(step)s) is still within its time limit: %(name)s decides it until then. "
                "As their backup you may decide once it has passed."
            )
            % {"order": step.order, "step": step.name, "name": principal_name}
        )
    if not step.allow_self_approval and person_id == version.author_id:
        raise OwnText(
            _(
                "You wrote v%(number)d, and nobody approves their own text (separation of duties). "
                "Someone else in the step must decide."
            )
            % {"number": version.number}
        )
    if not step.allow_self_approval and principal_id == version.author_id:
        raise StandInRefused(
            _("%(name)s wrote v%(number)d and may not decide it, so nobody can decide it in their place.")
            % {"name": principal_name, "number": version.number}
        )
    decisions = list(decisions)
    for a in decisions:
        if a.step_id != step.pk:
            continue
        if a.approver_id == principal_id or a.on_behalf_of_id == principal_id:
            raise StandInRefused(
                _("Step %(order)d (%(step)s) has already been decided for %(name)s. Nothing was changed.")
                % {"order": step.order, "step": step.name, "name": principal_name}
            )
        if a.approver_id == person_id:
            raise StatementError(
                _(
                    "You have already decided step %(order)d (%(name)s) of v%(number)d; "
                    "someone else in the step decides the rest."
                )
                % {"order": step.order, "name": step.name, "number": version.number}
            )
    if step.distinct_approvers:
        for who in (person_id, principal_id):
            other = next(
                (
                    a
                    for a in decisions
                    if a.step_id != step.pk
                    and a.decision == Approval.Decision.APPROVED
                    and who in (a.approver_id, a.on_behalf_of_id)
                ),
                None,
            )
            if other is not None:
                done = next((s for s in steps if s.pk == other.step_id), None)
                named = (
                    _("step %(order)d (%(name)s)") % {"order": done.order, "name": done.name}
                    if done is not None
                    else _("another step")
                )
                raise StandInRefused(
                    _("%(who)s approved %(step)s of this version; each step needs a different person.")
                    % {"who": _("You") if who == person_id else principal_name, "step": named}
                )


# --- can the chain be completed? -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepNeed:
    """One step of a chain as it would apply now: how many decisions it needs, and who may decide it now
    (on the team, allowed to approve, and holding the step's role or named on it — `check_decide`'s test)."""

    order: int
    name: str
    role_id: int | None
    role_name: str  # "" for a step of named approvers only
    required: int
    eligible: frozenset[int]
    allow_self_approval: bool = False
    distinct_approvers: bool = True


class ChainStalled(StatementError):
    """Some step of the chain could never be decided by anyone but the text's author (or by nobody at all):
    submitting would leave the statement waiting for ever. Carries the step, for the one-click fix (add a
    holder of its role)."""

    def __init__(self, message: str, *, step: StepNeed) -> None:
        super().__init__(message)
        self.step = step


def a_role(name: str) -> str:
    """ "a Legal reviewer", "an Executive approver" — in the active language (which may have no article)."""
    return (_("an %(role)s") if name[:1].lower() in "aeiou" else _("a %(role)s")) % {"role": name}


def _holder(step: StepNeed) -> str:
    return a_role(step.role_name) if step.role_name else _("one of its named approvers")


def check_chain_can_complete(
    steps: Sequence[StepNeed], *, author_id: int, names: Mapping[int, str] | None = None
) -> None:
    """Refuse a chain where some step has no eligible approver other than the text's author.

    Each step needs `required` decisions from its eligible people, never the author's own (unless the chain
    allows self-approval, as `check_decide` does); where the chain asks for a different person per step,
    nobody can count for two steps, so the steps must be fillable all at once. Checked by the submit service
    under the locks and by every page that shows the chain that will apply, with the same needs.
    """
    names = names or {}
    free = {s.order: _candidates(s, author_id) for s in steps}
    for step in steps:
        if len(free[step.order]) >= step.required:
            continue
        short = step.required - len(free[step.order])
        if author_id in step.eligible and not step.allow_self_approval:
            raise ChainStalled(
                _(
                    "Step %(order)d (%(name)s) would have nobody to decide it but the author of the text, and "
                    "nobody approves their own text (separation of duties). Add %(holder)s to the team, "
                    "then submit."
                )
                % {"order": step.order, "name": step.name, "holder": _holder(step)},
                step=step,
            )
        who = ngettext("%(n)d more person", "%(n)d more people", short) % {"n": short}
        raise ChainStalled(
            _(
                "Step %(order)d (%(name)s) has %(who)s who may decide it: it needs %(holder)s on the team "
                "with a role that may approve. Add one, then submit."
            )
            % {
                "order": step.order,
                "name": step.name,
                "who": who if step.required > 1 else _("nobody"),
                "holder": _holder(step),
            },
            step=step,
        )
    if not any(s.distinct_approvers for s in steps):
        return
    unfilled = _unfillable(steps, free)
    if unfilled is not None:
        others = ", ".join(sorted(names.get(p, f"#{p}") for p in free[unfilled.order]))
        raise ChainStalled(
            _(
                "Step %(order)d (%(name)s) has nobody left to decide it: each step needs a different person, "
                "and its approvers (%(others)s) are needed for other steps. Add %(holder)s to the team, "
                "then submit."
            )
            % {
                "order": unfilled.order,
                "name": unfilled.name,
                "others": others,
                "holder": _("another %(role)s") % {"role": unfilled.role_name}
                if unfilled.role_name
                else _("another approver"),
            },
            step=unfilled,
        )


def _candidates(step: StepNeed, author_id: int) -> frozenset[int]:
    return step.eligible if step.allow_self_approval else step.eligible - {author_id}


def _unfillable(steps: Sequence[StepNeed], free: Mapping[int, frozenset[int]]) -> StepNeed | None:
    """The first step (in order) whose decisions cannot all go to different people while every step keeps
    its own (bipartite matching by augmenting paths: a few steps and people, so a few microseconds)."""
    seats = [(s, n) for s in steps for n in range(s.required)]
    taken: dict[int, int] = {}  # person → seat index

    def place(seat: int, seen: set[int]) -> bool:
        for person in sorted(free[seats[seat][0].order]):
            if person in seen:
                continue
            seen.add(person)
            if person not in taken or place(taken[person], seen):
                taken[person] = seat
                return True
        return False

    for index, (step, _n) in enumerate(seats):
        if not place(index, set()):
            return step
    return None
