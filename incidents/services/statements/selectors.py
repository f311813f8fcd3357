"""The read side of statements: each statement's approval progress as one viewer sees it (and whether the
current step is theirs to decide), the approvals queue, what a viewer may do on a statement's page, and
the word diff. A fixed number of queries however many statements; nothing here writes.

Whether a step is the viewer's is decided by `rules.check_decide`, the rule the approval itself is checked
with. May import models and this package's common and rules modules.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from incidents.models import (
    Approval,
    ChainStep,
    Perm,
    RoleAssignment,
    Statement,
    StatementError,
    StatementStatus,
    StatementVersion,
    User,
)
from incidents.services.statements.chain_reads import read_awaiting, read_chains, read_reviewed
from incidents.services.statements.common import ChainState
from incidents.services.statements.rules import (
    OwnText,
    Standing,
    allowed,
    check_comment,
    check_decide,
    check_edit,
    check_publish,
    check_stand_in,
    check_submit,
    check_update,
    check_variant,
    check_withdraw,
)

S = StatementStatus

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")
# Word diffs are quadratic in the worst case; longer texts are compared line by line first.
_WORD_DIFF_LIMIT = 4_000_000


def word_diff(old: str, new: str) -> SafeString:
    """A readable word-level diff: unchanged text escaped, removals in <del>, additions in <ins>."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    if len(a) * len(b) > _WORD_DIFF_LIMIT:
        a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(str(escape("".join(a[i1:i2]))))
            continue
        if i2 > i1:
            out.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return mark_safe("".join(out))  # every piece of text above went through escape()


# --- what the viewer may do --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementActions:
    """What the viewer may do to one statement now: each answer comes from the rule the service checks
    under the lock (rules.py), so a page never offers what the server would refuse for that reason."""

    edit: bool = False
    submit: bool = False
    publish: bool = False
    withdraw: bool = False
    update: bool = False  # write an update that supersedes it when published
    variant: bool = False  # start a variant for another channel (offered on masters only)
    comment: bool = False


def statement_actions(
    statement: Statement, version: StatementVersion | None, perms: Collection[str]
) -> StatementActions:
    return StatementActions(
        edit=allowed(check_edit, statement, perms),
        submit=version is not None and allowed(check_submit, statement, version, perms),
        publish=allowed(check_publish, statement, perms),
        withdraw=allowed(check_withdraw, statement, perms),
        update=allowed(check_update, statement, perms),
        # A variant of a variant would hang off the master anyway: the page offers it on the master.
        variant=statement.master_id is None and allowed(check_variant, statement, perms),
        comment=allowed(check_comment, perms),
    )


# --- approval progress ------------------------------------------------------------------------------------


class StepState(StrEnum):
    DONE = "done"
    CURRENT = "current"  # the first incomplete step of a version in review: waiting now
    WAITING = "waiting"  # a later step of a version in review
    STOPPED = "stopped"  # the version left review before this step was reached


_STEP_MARKS = {StepState.DONE: "✓", StepState.CURRENT: "●"}


@dataclass
class StepView:
    step: ChainStep
    decisions: list[Approval]
    state: StepState

    @property
    def is_current(self) -> bool:
        return self.state == StepState.CURRENT

    @property
    def mark(self) -> str:
        """The step's mark in the chain: ✓ done, ● waiting now, ○ not (yet) reached."""
        return _STEP_MARKS.get(self.state, "○")

    @property
    def state_label(self) -> str:
        """The mark in words, for screen readers."""
        return {
            StepState.DONE: _("complete"),
            StepState.CURRENT: _("waiting now"),
            StepState.STOPPED: _("not reached"),
        }.get(self.state, _("later"))

    @property
    def due_at(self) -> datetime | None:
        """When the current step's decision is due (its SLA); None for every other step."""
        return self.step.due_at if self.is_current else None


@dataclass
class ApprovalProgress:
    """One statement's approval as one viewer sees it: the chain, and what (if anything) is theirs."""

    statement: Statement
    version: StatementVersion
    steps: list[StepView] = field(default_factory=list)
    current_step: ChainStep | None = None
    mine: bool = False  # the viewer may decide the current step now
    blocked: str = ""  # why the viewer, holding the step's role, may not decide
    base: StatementVersion | None = None  # the version the diff starts from
    base_reason: str = ""
    diff: SafeString | None = None
    # The step's SLA passed and the viewer backs up one of its approvers: they may decide it for them.
    stand_in_for: User | None = None

    @property
    def decisions(self) -> list[Approval]:
        """The current version's approvals and rejections so far."""
        return [a for view in self.steps for a in view.decisions]

    @property
    def summary(self) -> str:
        """Where the statement stands, in one line (the room's panel shows it on each card)."""
        s = self.statement
        if s.is_in_review and self.current_step is not None:
            text = _("Waiting for %(step)s — step %(order)d of %(total)d") % {
                "step": self.current_step.name,
                "order": self.current_step.order,
                "total": len(self.steps),
            }
        elif s.is_approved:
            text = _("Approved by every step — ready to publish")
        elif s.is_rejected:
            text = _("Rejected: “%(note)s” — needs a new version") % {"note": s.status_note}
        elif s.is_published:
            text = _("Published")
        elif s.is_draft:
            text = _("Draft by %(author)s, not submitted") % {"author": self.version.author}
        elif s.is_withdrawn:
            text = _("Withdrawn: “%(note)s”") % {"note": s.status_note}
        else:
            text = s.status_note
        if s.template_name:
            text += " · " + _("from template “%(name)s”") % {"name": s.template_name}
        return text


def step_views(
    steps: Sequence[ChainStep], decisions: Mapping[int, list[Approval]], *, in_review: bool
) -> list[StepView]:
    """Each step with its decisions (`decisions`: by step id) and its state."""
    views = []
    current_found = False
    for step in steps:
        if step.completed_at is not None:
            state = StepState.DONE
        elif in_review and not current_found:
            state, current_found = StepState.CURRENT, True
        else:
            state = StepState.WAITING if in_review else StepState.STOPPED
        views.append(StepView(step=step, decisions=list(decisions.get(step.pk, [])), state=state))
    return views


def approval_progress(
    viewer: User,
    statements: Sequence[Statement],
    perms: Mapping[int, Collection[str]],
    *,
    preloaded: Mapping[int, ChainState] | None = None,
) -> dict[int, ApprovalProgress]:
    """Chain progress for each statement's current version, by statement id, and whether the viewer may
    decide now — with the diff from the last version they reviewed. A fixed number of queries however
    many statements.

    `perms` maps incident id → the viewer's permissions there (already fetched by the caller);
    `preloaded` maps version id → its chain as a service just left it (nothing to read again).
    """
    current = {s.pk: s.current_version for s in statements if s.current_version is not None}
    steps: dict[int, list[ChainStep]] = defaultdict(list)
    decisions: dict[int, list[Approval]] = defaultdict(list)
    for version_id, chain in (preloaded or {}).items():
        steps[version_id] = sorted(chain.steps, key=lambda step: step.order)
        for approval in sorted(chain.decisions, key=lambda a: a.decided_at):
            decisions[approval.step_id].append(approval)
    version_ids = [v.pk for v in current.values() if v.pk not in (preloaded or {})]
    if version_ids:
        # One query, written out (chain_reads.py); each step also says whether the viewer holds its role.
        found_steps, found_decisions = read_chains(version_ids, viewer.pk)
        for step in found_steps:
            steps[step.version_id].append(step)
        for approval in found_decisions:
            decisions[approval.step_id].append(approval)
    result: dict[int, ApprovalProgress] = {}
    for statement in statements:
        version = current.get(statement.pk)
        if version is None:
            continue
        views = step_views(steps.get(version.pk, []), decisions, in_review=statement.is_in_review)
        progress = ApprovalProgress(statement=statement, version=version, steps=views)
        progress.current_step = next((v.step for v in views if v.is_current), None)
        result[statement.pk] = progress
    _mark_mine(viewer, result, perms)
    _mark_stand_in(viewer, result, perms)
    _attach_diffs(viewer, [p for p in result.values() if p.mine or p.stand_in_for is not None])
    return result


def _refusal(progress: ApprovalProgress, viewer: User, *, holds_role: bool) -> StatementError | None:
    """Why the viewer may not decide the current step (None: they may) — rules.check_decide, for a viewer
    who may approve in the incident."""
    step = progress.current_step
    assert step is not None
    try:
        check_decide(
            step=step,
            steps=[v.step for v in progress.steps],
            version=progress.version,
            person_id=viewer.pk,
            standing=Standing(on_team=True, may_approve=True, holds_role=holds_role),
            decisions=progress.decisions,
        )
    except StatementError as refused:
        return refused
    return None


def _mark_mine(
    viewer: User, result: dict[int, ApprovalProgress], perms: Mapping[int, Collection[str]]
) -> None:
    """Whether the current step is the viewer's to decide, by the rule the decision is checked with —
    the viewer's roles read once for every statement."""
    pending = [
        p
        for p in result.values()
        if p.current_step is not None and Perm.APPROVE in perms.get(p.statement.incident_id, ())
    ]
    # Steps the viewer may not decide whatever roles they hold (they decided it, or another step of this
    # version) need no roles read: asked as if they held the role, the rule already says no.
    pending = [p for p in pending if isinstance(_refusal(p, viewer, holds_role=True), OwnText | None)]
    if not pending:
        return
    # Steps read by approval_progress say whether the viewer holds their role; a chain a service just
    # left (`preloaded`) does not, and only then are the viewer's roles read.
    unknown = [p for p in pending if not hasattr(p.current_step, "viewer_holds_role")]
    roles: dict[int, set[int]] = defaultdict(set)
    if unknown:
        for incident_id, role_id in (
            RoleAssignment.objects.current()
            .filter(user=viewer, incident_id__in={p.statement.incident_id for p in unknown})
            .order_by()  # the model's ordering would join the roles table for nothing
            .values_list("incident_id", "role_id")
        ):
            roles[incident_id].add(role_id)
    for progress in pending:
        step = progress.current_step
        assert step is not None
        holds = getattr(step, "viewer_holds_role", None)
        if holds is None:
            holds = step.role_id in roles[progress.statement.incident_id]
        refused = _refusal(progress, viewer, holds_role=holds)
        if refused is None:
            progress.mine = True
        elif isinstance(refused, OwnText):
            progress.blocked = str(refused)  # they hold the step's role: say why it is not theirs


def _mark_stand_in(
    viewer: User, result: dict[int, ApprovalProgress], perms: Mapping[int, Collection[str]]
) -> None:
    """Where the viewer may decide the current step as the backup of one of its approvers — its SLA has
    passed — by the rule the decision is checked with (`rules.check_stand_in`). One query, and none at all
    unless some step the viewer may not decide themselves is past its time."""
    now = timezone.now()
    late = [
        p
        for p in result.values()
        if not p.mine
        and p.current_step is not None
        and p.current_step.due_at is not None
        and p.current_step.due_at <= now
        and perms.get(p.statement.incident_id)
    ]
    if not late:
        return
    backed: dict[int, list[RoleAssignment]] = defaultdict(list)
    for assignment in (
        RoleAssignment.objects.current()
        .filter(backup=viewer, incident_id__in={p.statement.incident_id for p in late})
        .select_related("user")
        .order_by("started_at", "pk")
    ):
        backed[assignment.incident_id].append(assignment)
    for progress in late:
        step = progress.current_step
        assert step is not None
        principals = {
            a.user_id: a.user
            for a in backed[progress.statement.incident_id]
            if a.role_id == step.role_id or a.user_id in step.approver_ids
        }
        for principal in principals.values():
            if allowed(
                check_stand_in,
                step=step,
                steps=[v.step for v in progress.steps],
                version=progress.version,
                person_id=viewer.pk,
                on_team=True,
                principal_id=principal.pk,
                principal_name=str(principal),
                backs_up=principals,
                decisions=progress.decisions,
                now=now,
            ):
                progress.stand_in_for = principal
                progress.blocked = ""
                break


def _attach_diffs(viewer: User, mine: list[ApprovalProgress]) -> None:
    """The base of each approver's diff: the last version they approved, rejected or commented on (the
    versions we know they read); failing that, the version before the current one. One query
    (chain_reads.read_reviewed)."""
    if not mine:
        return
    reviewed = read_reviewed({p.statement.pk: p.version.number for p in mine}, viewer.pk)
    for progress in mine:
        number = progress.version.number
        last, base = reviewed.get(progress.statement.pk, (None, None))
        if last is not None and last == number:
            progress.base_reason = _(
                "You have reviewed this exact text (v%(number)d) before; nothing changed since."
            ) % {"number": number}
        elif base is not None and last is not None:
            # The end of "What changed …" (templates/incidents/statements/statement.html).
            progress.base_reason = _("since v%(number)d, the last version you reviewed") % {"number": last}
        elif base is not None:
            progress.base_reason = _("since v%(number)d (you have not reviewed an earlier version)") % {
                "number": base.number
            }
        if base is not None:
            progress.base = base
            progress.diff = word_diff(base.body, progress.version.body)


def awaiting(viewer: User) -> list[ApprovalProgress]:
    """Statements waiting on a step the viewer may decide now, across every incident they approve in — and,
    in the incidents where they are on the team as someone's backup, the steps past their time that they may
    decide standing in for that person."""
    if not viewer.is_active:
        return []
    statements = read_awaiting(viewer.pk)  # one query, written out (chain_reads.py)
    # On the team everywhere listed; the approve permission only where they hold it (read with the rows).
    perms = {
        s.incident_id: frozenset(
            {Perm.VIEW.value, *([Perm.APPROVE.value] if s.viewer_approves else [])}  # type: ignore[attr-defined]
        )
        for s in statements
    }
    found = approval_progress(viewer, statements, perms)
    return [
        found[s.pk]
        for s in statements
        if s.pk in found and (found[s.pk].mine or found[s.pk].stand_in_for is not None)
    ]
