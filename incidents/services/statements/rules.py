"""Who may do what to a statement, and when: one function per rule, each raising the refusal it stands for.

The services call these under the statement's and the incident's locks, with the permissions read there;
the selectors and views call the very same functions (through `allowed`) to decide what a page offers, so
each rule is written once. Pure functions of what they are given: no queries. May import models only.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import ParamSpec

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
        "Your role in this incident does not allow that (any more). Nothing was changed."
        if on_team
        else "You are no longer on this incident's team. Nothing was changed."
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
        raise StatementError("Write the statement before submitting it.")


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
        raise StatementError("Only a published statement of this incident can be updated by a new one.")


def check_variant(master: Statement, perms: Collection[str]) -> None:
    """Start a variant of this (master) statement for another channel."""
    require(perms, Perm.DRAFT)
    if master.is_final:
        raise StatementError(
            f"“{master.title}” was {master.get_status_display().lower()}; start a new statement."
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
        role = f"a {step.role.name}" if step.role is not None else "one of its named approvers"
        raise StatementError(
            f"Step {step.order} ({step.name}) needs {role}; you are not. Steps cannot be skipped."
        )
    if version.author_id == person_id and not step.allow_self_approval:
        raise OwnText(
            f"You wrote v{version.number}, and nobody approves their own text (separation of duties). "
            "Someone else in the step must decide."
        )
    mine = [a for a in decisions if a.approver_id == person_id]
    if any(a.step_id == step.pk for a in mine):
        raise StatementError(
            f"You have already decided step {step.order} ({step.name}) of v{version.number}; "
            "someone else in the step decides the rest."
        )
    if step.distinct_approvers:
        other = next(
            (a for a in mine if a.step_id != step.pk and a.decision == Approval.Decision.APPROVED), None
        )
        if other is not None:
            done = next((s for s in steps if s.pk == other.step_id), None)
            named = f"step {done.order} ({done.name})" if done is not None else "another step"
            raise StatementError(f"You approved {named} of this version; each step needs a different person.")
