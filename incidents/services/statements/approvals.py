"""Approvals: submitting a version to its chain (chosen and planned in chains.py), approving and rejecting
its steps.

Submit, approve and reject lock the statement row, then the incident row (so a team change cannot
interleave with the permission re-check), and re-check everything under the locks: state, version,
sha256, step order, the actor's role now (`rules.check_decide`). The database backs this up: approvals
cannot be updated or deleted, and there is one decision per (version, step, approver).
May import models, permissions, the deadline, notify and timeline services, and this package's chains,
common and rules modules.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

import incidents.services.deadlines as deadline_hooks
from incidents.models import (
    Approval,
    ChainStep,
    Incident,
    IncidentUserObjectPermission,
    InvalidTransition,
    Perm,
    RoleAssignment,
    Statement,
    StatementError,
    StatementStatus,
    StatementVersion,
    User,
)
from incidents.models.statement_text import check_text
from incidents.models.statements import entry_label, statement_label
from incidents.permissions import incident_perms
from incidents.services.notify import in_language_of, notification_for, notify, notify_all
from incidents.services.statements.chains import chain_plan, choose_chain, no_chain, snapshot
from incidents.services.statements.common import (
    ChainState,
    current_version,
    decision_url,
    lock_incident,
    lock_statement,
    quote,
    reason_given,
    record,
    same_version,
    statement_url,
)
from incidents.services.statements.rules import (
    Standing,
    allowed,
    check_decide,
    check_stand_in,
    check_submit,
    require,
)
from incidents.services.timeline import organisation_language

S = StatementStatus


@dataclass(frozen=True)
class ApprovalResult:
    approval: Approval
    created: bool  # False: a replay; this person had already approved this version
    statement: Statement
    chain: ChainState | None = None


# --- who may decide a step now ---------------------------------------------------------------------------------


def _standing_now(incident: Incident, role_id: int | None) -> tuple[Exists, Exists, Exists]:
    """For a User query, now: on the team? may approve? holds the role `role_id`?"""
    perms = IncidentUserObjectPermission.objects.filter(user=OuterRef("pk"), content_object=incident)
    return (
        Exists(perms),
        Exists(perms.filter(permission__codename=Perm.APPROVE)),
        Exists(
            RoleAssignment.objects.current().filter(user=OuterRef("pk"), incident=incident, role_id=role_id)
        ),
    )


def _standing(user: User, incident: Incident, role_id: int | None) -> Standing:
    """Where `user` stands now for deciding a step of role `role_id` (one query)."""
    on_team, may_approve, holds = _standing_now(incident, role_id)
    row = (
        User.objects.filter(pk=user.pk, is_active=True)
        .annotate(on_team=on_team, may_approve=may_approve, holds=holds)
        .values_list("on_team", "may_approve", "holds")
        .first()
    ) or (False, False, False)
    return Standing(on_team=bool(row[0]), may_approve=bool(row[1]), holds_role=bool(row[2]))


def _step_candidates(
    *,
    incident: Incident,
    step: ChainStep,
    steps: list[ChainStep],
    version: StatementVersion,
    decisions: list[Approval],
) -> list[User]:
    """Everyone who may decide `step` now, by the rule the decision itself is checked with. One query:
    the holders of its role and its named approvers, with where each stands."""
    who = Q(pk__in=step.approver_ids)
    if step.role_id is not None:
        who |= Q(
            pk__in=RoleAssignment.objects.current()
            .filter(incident=incident, role_id=step.role_id)
            .values("user_id")
        )
    on_team, may_approve, holds = _standing_now(incident, step.role_id)
    people = (
        User.objects.filter(who, is_active=True)
        .annotate(on_team=on_team, may_approve=may_approve, holds=holds)
        .order_by("display_name", "pk")
    )
    return [
        person
        for person in people
        if allowed(
            check_decide,
            step=step,
            steps=steps,
            version=version,
            person_id=person.pk,
            standing=Standing(
                on_team=person.on_team, may_approve=person.may_approve, holds_role=person.holds
            ),
            decisions=decisions,
        )
    ]


def _notify_step(
    *,
    incident: Incident,
    statement: Statement,
    version: StatementVersion,
    step: ChainStep,
    steps: list[ChainStep],
    decisions: list[Approval],
) -> None:
    """Tell the people who may decide `step` that it is theirs now (`decisions`: the version's so far). The
    link opens exactly that decision: the statement page with the step's approval form, focused."""
    for user in _step_candidates(
        incident=incident, step=step, steps=steps, version=version, decisions=decisions
    ):
        with in_language_of(user):
            text = _(
                "Your approval is needed: %(label)s v%(version)s, step %(step)s of %(steps)s (%(name)s), "
                "in %(ref)s."
            ) % {
                "label": statement_label(statement),
                "version": version.number,
                "step": step.order,
                "steps": len(steps),
                "name": step.name,
                "ref": incident.reference,
            }
            notify(
                user=user,
                incident=incident,
                text=text,
                url=decision_url(statement, incident, step),
                key=f"statement-step:{step.pk}:{user.pk}",
            )


# --- submit, approve, reject ----------------------------------------------------------------------------------


@transaction.atomic
def statement_submit(*, statement: Statement, actor: User, version_number: int) -> Statement:
    """Send the current version for approval: choose the chain and snapshot its steps for this version."""
    locked = lock_statement(statement)
    incident = lock_incident(locked)
    perms = incident_perms(actor, incident)
    require(perms, Perm.DRAFT)
    version = same_version(locked, version_number)
    if locked.is_in_review and version.steps.exists():
        return locked  # submitted already (a double-click): nothing to do
    check_submit(locked, version, perms)
    check_text(version.body, locked.channel)
    if version.steps.exists():
        raise StatementError(
            _("v%(number)s has been through review once; save a new version to submit it again.")
            % {"number": version.number}
        )
    chain = choose_chain(
        incident=incident, audience=locked.audience, fill_only=version.from_template_fill_only
    )
    if chain is None:
        raise no_chain()
    # Who may decide each step now, read under the locks (team changes take the incident's): a chain that
    # nobody but the author could complete is refused here, before anyone is asked to decide.
    plan = chain_plan(incident=incident, chain=chain, author_id=version.author_id)
    if plan.stalled is not None:
        raise plan.stalled
    now = timezone.now()
    steps = snapshot(plan=plan, version=version, now=now)
    locked.status = S.IN_REVIEW
    locked.status_note = ""
    locked.chain_template = chain
    locked.chain_name = chain.name
    locked.updated_at = now
    locked.save(update_fields=["status", "status_note", "chain_template", "chain_name", "updated_at"])
    with organisation_language():  # stored once, read by everyone
        text = (
            _(
                "%(actor)s submitted v%(number)s of %(label)s for approval: %(steps)s (a pure template fill: "
                "the shorter chain applies)."
            )
            if chain.fill_only
            else _("%(actor)s submitted v%(number)s of %(label)s for approval: %(steps)s.")
        ) % {
            "actor": actor,
            "number": version.number,
            "label": entry_label(locked),
            "steps": " → ".join(s.name for s in steps),
        }
        record(incident, actor, text, statement=locked)
    _notify_step(
        incident=incident, statement=locked, version=version, step=steps[0], steps=steps, decisions=[]
    )
    deadline_hooks.on_step_activated(locked, steps[0], len(steps))  # the step's SLA becomes a deadline
    return locked


def backs_up(incident: Incident, step: ChainStep, backup: User) -> dict[int, User]:
    """The people `backup` is the named backup of (on their current role in `incident`) who may decide
    `step` — holding its role, or named on it — by id (one query)."""
    who = Q(user_id__in=step.approver_ids)
    if step.role_id is not None:
        who |= Q(role_id=step.role_id)
    return {
        a.user_id: a.user
        for a in RoleAssignment.objects.current()
        .filter(who, incident=incident, backup=backup)
        .select_related("user")
        .order_by("started_at", "pk")
    }


def _review_checks(
    locked: Statement,
    actor: User,
    version_number: int,
    sha256: str,
    step_order: int | None,
    decisions: list[Approval],
    on_behalf_of: User | None = None,
) -> tuple[StatementVersion, list[ChainStep], ChainStep]:
    """Everything an approver must satisfy, checked under the locks. Returns (version, steps, step).

    `decisions` are the current version's approvals and rejections so far (read once by the caller).
    `on_behalf_of`: the actor decides as that approver's backup (`rules.check_stand_in`), not in their own
    right; the hash, the step order and the separation of duties are checked all the same."""
    version = same_version(locked, version_number)
    if sha256 and sha256 != version.sha256:
        raise StatementError(
            _(
                "The text you reviewed is not v%(number)s as stored. Nothing was changed; reload and read it again."
            )
            % {"number": version.number}
        )
    if not locked.is_in_review:
        raise InvalidTransition(
            _("This statement is %(status)s, not in review; there is nothing to decide.")
            % {"status": locked.get_status_display().lower()}
        )
    steps = list(version.steps.select_related("role").order_by("order"))
    step = next((s for s in steps if s.completed_at is None), None)
    if step is None:  # cannot happen while in review; the state says otherwise
        raise StatementError(_("Every step of this chain is already complete."))
    if step_order is not None and step_order != step.order:
        asked = next((s for s in steps if s.order == step_order), None)
        values = {
            "order": step.order,
            "name": step.name,
            "asked": step_order,
            "asked_name": asked.name if asked else "",
        }
        if step_order > step.order:
            raise StatementError(
                (
                    _(
                        "Steps cannot be skipped: this statement is waiting for step %(order)s (%(name)s) before %(asked_name)s."
                    )
                    if asked
                    else _(
                        "Steps cannot be skipped: this statement is waiting for step %(order)s (%(name)s) before step %(asked)s."
                    )
                )
                % values
            )
        raise StatementError(
            (
                _(
                    "Step %(asked)s (%(asked_name)s) is already complete; it is now waiting for step %(order)s (%(name)s)."
                )
                if asked
                else _("Step %(asked)s is already complete; it is now waiting for step %(order)s (%(name)s).")
            )
            % values
        )
    standing = _standing(actor, locked.incident, step.role_id)
    if on_behalf_of is not None:
        check_stand_in(
            step=step,
            steps=steps,
            version=version,
            person_id=actor.pk,
            on_team=standing.on_team,
            principal_id=on_behalf_of.pk,
            principal_name=str(on_behalf_of),
            backs_up=backs_up(locked.incident, step, actor),
            decisions=decisions,
            now=timezone.now(),
        )
        return version, steps, step
    check_decide(
        step=step,
        steps=steps,
        version=version,
        person_id=actor.pk,
        standing=standing,
        decisions=decisions,
    )
    return version, steps, step


def _as(actor: User, on_behalf_of: User | None) -> str:
    """“Ana” or “Ana (standing in for Ben, whose time to decide had passed)” — for the timeline, so called
    inside organisation_language()."""
    if on_behalf_of is None:
        return str(actor)
    return _("%(actor)s (standing in for %(principal)s, whose time to decide had passed)") % {
        "actor": actor,
        "principal": on_behalf_of,
    }


@transaction.atomic
def statement_approve(
    *,
    statement: Statement,
    actor: User,
    version_number: int,
    sha256: str,
    step_order: int | None = None,
    on_behalf_of: User | None = None,
) -> ApprovalResult:
    """Approve the current step for exactly the version (and sha256) the approver read.

    A replay by someone who already approved this version changes nothing and says so. When the step has
    its approvals it completes and the next step's approvers are told; after the last step the statement
    is approved and may be published. `on_behalf_of`: a backup deciding for that approver once the step's
    SLA has passed; the approval row and the timeline say so.
    """
    locked = lock_statement(statement)
    incident = lock_incident(locked)
    decisions = list(
        Approval.objects.filter(version_id=locked.current_version_id).select_related("step", "approver")
    )
    mine = next(
        (
            a
            for a in decisions
            if a.approver_id == actor.pk
            and a.decision == Approval.Decision.APPROVED
            and step_order in (None, a.step.order)
        ),
        None,
    )
    if (
        mine is not None
        and locked.current_version is not None
        and version_number == locked.current_version.number
    ):
        return ApprovalResult(approval=mine, created=False, statement=locked)
    version, steps, step = _review_checks(
        locked, actor, version_number, sha256, step_order, decisions, on_behalf_of
    )
    now = timezone.now()
    approval = Approval.objects.create(
        version=version,
        sha256=version.sha256,
        step=step,
        approver=actor,
        on_behalf_of=on_behalf_of,
        decided_at=now,
    )
    decisions.append(approval)
    approved = [a for a in decisions if a.decision == Approval.Decision.APPROVED]
    count = sum(1 for a in approved if a.step_id == step.pk)
    said = entry_label(locked)  # the timeline's words: the organisation's language
    if count >= step.required:
        step.completed_at = now
        following = next((s for s in steps if s.order > step.order), None)
        if following is not None:
            following.activated_at = now
            # One statement for both: this step is complete, the next one starts now.
            ChainStep.objects.filter(pk__in=[step.pk, following.pk]).update(
                completed_at=Case(When(pk=step.pk, then=Value(now)), default=F("completed_at")),
                activated_at=Case(When(pk=following.pk, then=Value(now)), default=F("activated_at")),
            )
            with organisation_language():  # stored once, read by everyone
                text = _(
                    "%(who)s approved v%(number)s of %(label)s — step %(order)s of %(steps)s (%(name)s) complete; "
                    "waiting for %(next)s."
                ) % {
                    "who": _as(actor, on_behalf_of),
                    "number": version.number,
                    "label": said,
                    "order": step.order,
                    "steps": len(steps),
                    "name": step.name,
                    "next": following.name,
                }
                record(incident, actor, text, statement=locked)
            _notify_step(
                incident=incident,
                statement=locked,
                version=version,
                step=following,
                steps=steps,
                decisions=decisions,
            )
            deadline_hooks.on_step_decided(step, actor)
            deadline_hooks.on_step_activated(locked, following, len(steps))
        else:
            deadline_hooks.on_step_decided(step, actor)
            step.save(update_fields=["completed_at"])
            locked.status = S.APPROVED
            locked.updated_at = now
            locked.save(update_fields=["status", "updated_at"])
            with organisation_language():  # stored once, read by everyone
                text = _(
                    "%(who)s approved v%(number)s of %(label)s — every step is complete (%(steps)s); it may be "
                    "published."
                ) % {
                    "who": _as(actor, on_behalf_of),
                    "number": version.number,
                    "label": said,
                    "steps": " → ".join(s.name for s in steps),
                }
                record(incident, actor, text, statement=locked)
            _notify_ready_to_publish(locked, incident, version, actor)
    else:
        locked.updated_at = now
        locked.save(update_fields=["updated_at"])
        with organisation_language():  # stored once, read by everyone
            # Only a step that needs more than one approval is left incomplete by one.
            text = ngettext(
                "%(who)s approved v%(number)s of %(label)s at step %(order)s (%(name)s): %(count)s of %(required)s.",
                "%(who)s approved v%(number)s of %(label)s at step %(order)s (%(name)s): %(count)s of %(required)s.",
                step.required,
            ) % {
                "who": _as(actor, on_behalf_of),
                "number": version.number,
                "label": said,
                "order": step.order,
                "name": step.name,
                "count": count,
                "required": step.required,
            }
            record(incident, actor, text, statement=locked)
    return ApprovalResult(
        approval=approval, created=True, statement=locked, chain=ChainState(steps=steps, decisions=decisions)
    )


def _notify_ready_to_publish(
    statement: Statement, incident: Incident, version: StatementVersion, actor: User
) -> None:
    """The author, and everyone on the team whose role publishes (the spokesperson, say), hear that it may
    go out — the link opens the page with "Record as published" focused, so publishing is the next click
    (issue #15: nobody had to go looking for the approved statement)."""
    publishers = set(
        RoleAssignment.objects.current()
        .filter(incident=incident, role__can_publish=True)
        .values_list("user_id", flat=True)
    )
    recipients = User.objects.filter(pk__in=publishers | {version.author_id}).exclude(pk=actor.pk)
    url = f"{statement_url(statement, incident)}?publish=1"
    messages = []
    for person in recipients.order_by("pk"):
        with in_language_of(person):
            messages.append(
                notification_for(
                    user=person,
                    incident=incident,
                    text=_("%(label)s v%(version)s is approved by every step and may be published.")
                    % {"label": statement_label(statement), "version": version.number},  # in their language
                    url=url,
                    key=f"statement-approved:{version.pk}:{person.pk}",
                )
            )
    notify_all(messages)


@transaction.atomic
def statement_reject(
    *,
    statement: Statement,
    actor: User,
    version_number: int,
    reason: str,
    sha256: str = "",
    step_order: int | None = None,
    on_behalf_of: User | None = None,
) -> Statement:
    """Reject the current version at the current step, with a reason; it goes back to its author.
    `on_behalf_of`: a backup deciding for that approver once the step's SLA has passed."""
    locked = lock_statement(statement)
    incident = lock_incident(locked)
    reason = reason_given(reason, _("for rejecting"))
    version = current_version(locked)
    decisions = list(Approval.objects.filter(version=version).select_related("step", "approver"))
    replay = any(a.approver_id == actor.pk and a.decision == Approval.Decision.REJECTED for a in decisions)
    if replay and locked.is_rejected and version.number == version_number:
        return locked  # a replay of the same rejection
    version, _steps, step = _review_checks(
        locked, actor, version_number, sha256, step_order, decisions, on_behalf_of
    )
    now = timezone.now()
    Approval.objects.create(
        version=version,
        sha256=version.sha256,
        step=step,
        approver=actor,
        on_behalf_of=on_behalf_of,
        decision=Approval.Decision.REJECTED,
        note=reason,
        decided_at=now,
    )
    locked.status = S.REJECTED
    locked.status_note = reason
    locked.updated_at = now
    locked.save(update_fields=["status", "status_note", "updated_at"])
    deadline_hooks.on_step_decided(step, actor)
    said = entry_label(locked)  # the timeline's words: the organisation's language
    with organisation_language():  # stored once, read by everyone
        text = _("%(who)s rejected v%(number)s of %(label)s at step %(order)s (%(name)s): %(reason)s") % {
            "who": _as(actor, on_behalf_of),
            "number": version.number,
            "label": said,
            "order": step.order,
            "name": step.name,
            "reason": quote(reason),
        }
        record(incident, actor, text, statement=locked)
    if version.author_id != actor.pk:
        with in_language_of(version.author):
            notify(
                user=version.author,
                incident=incident,
                text=_(
                    "%(actor)s rejected v%(version)s of %(label)s: %(reason)s Edit it and submit a new version."
                )
                % {
                    "actor": actor,
                    "version": version.number,
                    "label": statement_label(locked),  # in their language
                    "reason": quote(reason),
                },
                url=statement_url(locked, incident),
                key=f"statement-rejected:{version.pk}:{version.author_id}",
            )
    return locked
