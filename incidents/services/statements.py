"""Statements: create, save a version, submit, approve, reject, publish, withdraw, comment.

One function per verb, each one transaction, each writing its timeline entry in that transaction (which is
how every browser in the room sees the change: the entry rides the live stream).

Concurrency (reliability-anchors §3.1):
- saving a draft is optimistic: a conditional UPDATE on the statement's `version` counter; exactly one of
  several concurrent saves of the same version wins, the others get StaleDraft carrying both texts;
- submit, approve, reject, publish and withdraw lock the statement row (`select_for_update`), then the
  incident row (so a team change cannot interleave with the permission re-check), and re-check everything
  under the locks: state, version, sha256, step order, the actor's role now;
- the database backs this up: versions, approvals and publications cannot be updated or deleted (triggers),
  one decision per (version, step, approver), one publication per statement.

Lock order is always statement(s), then incident — never the other way round — so these never deadlock
with each other or with the team and timeline services (which lock only the incident).
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Case, Exists, F, Max, OuterRef, Q, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from incidents.models import (
    Approval,
    ApprovalChainTemplate,
    ApprovalRule,
    Audience,
    ChainStep,
    Channel,
    Incident,
    IncidentUserObjectPermission,
    InvalidTransition,
    Perm,
    Publication,
    RoleAssignment,
    Statement,
    StatementError,
    StatementStatus,
    StatementTemplate,
    StatementVersion,
    Status,
    TextRefused,
    TimelineEntry,
    User,
    VersionComment,
    canonical_text,
    text_sha256,
)
from incidents.models.statements import (
    LANGUAGES,
    chain_steps_complete,
    check_text,
    fill_template,
    is_template_fill,
    statement_label,
)
from incidents.permissions import incident_perms
from incidents.services import deadlines as deadline_hooks
from incidents.services.notify import notify
from incidents.services.timeline import timeline_record

S = StatementStatus
MAX_REASON = 2000
MAX_COMMENT = 4000


class StaleDraft(StatementError):
    """The draft changed (or left the editable states) since the user loaded it. Nothing was written.

    Carries both texts so the user can compare them side by side and lose nothing.
    """

    def __init__(self, message: str, *, statement: Statement, mine: str, expected_version: int) -> None:
        super().__init__(message)
        self.statement = statement
        self.mine = mine
        self.expected_version = expected_version
        self.theirs = statement.current_version


@dataclass(frozen=True)
class ChainState:
    """A version's chain steps and decisions as a service left them (saves reading them again)."""

    steps: list[ChainStep]
    decisions: list[Approval]


@dataclass(frozen=True)
class ApprovalResult:
    approval: Approval
    created: bool  # False: a replay; this person had already approved this version
    statement: Statement
    chain: ChainState | None = None


# --- helpers ---------------------------------------------------------------------------------------------


def statement_url(statement: Statement, incident: Incident | None = None) -> str:
    code = (incident or statement.incident).code
    return reverse("incidents:statement", args=[code, statement.code])


def _lock(statement: Statement) -> Statement:
    """The statement row, locked, with its current version and its author (not locked: versions never
    change)."""
    locked = (
        Statement.objects.select_for_update(of=("self",))
        .select_related("current_version", "current_version__author")
        .get(pk=statement.pk)
    )
    locked.incident = statement.incident  # the caller's, with the permissions the view read
    return locked


def _lock_incident(statement: Statement) -> Incident:
    """Lock the incident row after the statement: team changes (which lock it too) cannot interleave with
    the permission checks below."""
    Incident.objects.select_for_update().only("id").get(pk=statement.incident_id)
    return statement.incident


def _require(actor: User, incident: Incident, perm: Perm) -> frozenset[str]:
    """Re-check the actor's permission now (the view checked at the door; roles may have changed since)."""
    perms = incident_perms(actor, incident)
    if perm not in perms:
        raise StatementError(
            "Your role in this incident does not allow that (any more). Nothing was changed."
            if perms
            else "You are no longer on this incident's team. Nothing was changed."
        )
    return perms


def _current(statement: Statement) -> StatementVersion:
    version = statement.current_version
    if version is None:  # every statement is created with v1; this is a broken row
        raise StatementError("This statement has no text yet.")
    return version


def _same_version(statement: Statement, number: int) -> StatementVersion:
    version = _current(statement)
    if number != version.number:
        raise StatementError(
            f"v{number} has been replaced by v{version.number} (saved by {version.author}). "
            f"Nothing was changed; read v{version.number} first."
        )
    return version


def _holders(incident: Incident, role_ids: Iterable[int]) -> dict[int, set[int]]:
    held: dict[int, set[int]] = defaultdict(set)
    for role_id, user_id in (
        RoleAssignment.objects.current()
        .filter(incident=incident, role_id__in=list(role_ids), user__is_active=True)
        .values_list("role_id", "user_id")
    ):
        held[role_id].add(user_id)
    return held


def _standing(user: User, incident: Incident, role_id: int | None) -> tuple[bool, bool, bool]:
    """Now, in one query: is `user` on the team, may they approve, do they hold the role `role_id`?"""
    perms = IncidentUserObjectPermission.objects.filter(user=OuterRef("pk"), content_object=incident)
    on_team, may_approve, holds = User.objects.filter(pk=user.pk, is_active=True).annotate(
        on_team=Exists(perms),
        may_approve=Exists(perms.filter(permission__codename=Perm.APPROVE)),
        holds=Exists(
            RoleAssignment.objects.current().filter(user=OuterRef("pk"), incident=incident, role_id=role_id)
        ),
    ).values_list("on_team", "may_approve", "holds").first() or (False, False, False)
    return bool(on_team), bool(may_approve), bool(holds)


def _reason(text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise TextRefused(f"Give a reason {what}; it is recorded and shown to the team.")
    if len(text) > MAX_REASON:
        raise TextRefused(f"Keep the reason under {MAX_REASON:,} characters.")
    return text


def _quote(text: str, limit: int = 280) -> str:
    text = " ".join(text.split())
    return f"“{text if len(text) <= limit else text[: limit - 1] + '…'}”"


def _names(users: Iterable[User]) -> str:
    return ", ".join(str(u) for u in users)


def _record(incident: Incident, actor: User | None, text: str) -> None:
    timeline_record(incident=incident, kind=TimelineEntry.Kind.STATEMENT, actor=actor, text=text)


# --- chain choice and snapshot --------------------------------------------------------------------------------


def choose_chain(*, incident: Incident, audience: str, fill_only: bool) -> ApprovalChainTemplate | None:
    """The most specific active chain matching the incident's severity and scenario and the audience;
    its shorter fill chain instead when the version is a pure template fill and that chain matches too."""
    # Deferred import: playbooks build on this app, not the other way round.
    from incidents.playbooks.models import IncidentPlaybook

    criteria = {"severity": incident.severity, "audience": audience, "scenario": incident.scenario}
    chains = list(ApprovalChainTemplate.objects.filter(is_active=True).select_related("fill_chain"))
    # The playbook the incident was declared from names its chain; it wins for the audiences it covers.
    named = (
        IncidentPlaybook.objects.filter(incident=incident)
        .values_list("version__approval_chain", flat=True)
        .first()
    )
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


def _snapshot(
    *, chain: ApprovalChainTemplate, version: StatementVersion, incident: Incident, now: datetime
) -> list[ChainStep]:
    templates = list(chain.steps.select_related("role").prefetch_related("users").order_by("order"))
    if not templates:
        raise StatementError(
            f"The approval chain “{chain.name}” has no steps, so nothing could approve this. "
            "Ask an administrator to fix it under Configuration → Approval chains."
        )
    held = _holders(incident, [t.role_id for t in templates if t.role_id is not None])
    steps = []
    for index, tpl in enumerate(templates):
        named = sorted(u.pk for u in tpl.users.all() if u.is_active)
        if tpl.role_id is None and not named:
            raise StatementError(
                f"Step “{tpl.name}” of the chain “{chain.name}” names neither a role nor a person. "
                "Ask an administrator to fix it."
            )
        if tpl.rule == ApprovalRule.ANY:
            required = 1
        elif tpl.rule == ApprovalRule.N:
            required = max(1, tpl.required_count)
        else:  # everyone who could approve it now (the author excepted, unless the chain allows it)
            people = set(named) | (held[tpl.role_id] if tpl.role_id is not None else set())
            if not chain.allow_self_approval:
                people.discard(version.author_id)
            required = max(1, len(people))
        steps.append(
            ChainStep(
                version=version,
                order=index + 1,
                name=tpl.name,
                role=tpl.role,
                approver_ids=named,
                rule=tpl.rule,
                required=required,
                sla_minutes=tpl.sla_minutes,
                allow_self_approval=chain.allow_self_approval,
                distinct_approvers=chain.distinct_approvers,
                activated_at=now if index == 0 else None,
            )
        )
    return ChainStep.objects.bulk_create(steps)


def _step_candidates(
    *, incident: Incident, step: ChainStep, version: StatementVersion, exclude: set[int]
) -> list[User]:
    """People who could approve `step` now — holders of its role and its named approvers, who may approve
    in this incident — minus the author (unless allowed) and `exclude`. One query."""
    who = Q(pk__in=step.approver_ids)
    if step.role_id is not None:
        who |= Q(
            role_assignments__incident=incident,
            role_assignments__role_id=step.role_id,
            role_assignments__ended_at__isnull=True,
        )
    approvers = IncidentUserObjectPermission.objects.filter(
        content_object=incident, permission__codename=Perm.APPROVE
    ).values("user_id")
    if not step.allow_self_approval:
        exclude = exclude | {version.author_id}
    return list(
        User.objects.filter(who, pk__in=approvers, is_active=True)
        .exclude(pk__in=exclude)
        .distinct()
        .order_by("display_name")
    )


def _notify_step(
    *,
    incident: Incident,
    statement: Statement,
    version: StatementVersion,
    step: ChainStep,
    total: int,
    approved_by: frozenset[int] | set[int] = frozenset(),
) -> None:
    """Tell the people who may decide `step` that it is theirs now (`approved_by`: who approved an earlier
    step of this version, and so may not decide this one when the chain wants a different person)."""
    exclude = set(approved_by) if step.distinct_approvers else set()
    for user in _step_candidates(incident=incident, step=step, version=version, exclude=exclude):
        notify(
            user=user,
            incident=incident,
            text=(
                f"Your approval is needed: {statement_label(statement)} v{version.number}, "
                f"step {step.order} of {total} ({step.name}), in {incident.reference}."
            ),
            url=statement_url(statement, incident),
            key=f"statement-step:{step.pk}:{user.pk}",
        )


# --- create and save ------------------------------------------------------------------------------------------


def template_values(incident: Incident, fill: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the placeholders are filled with: known facts first, then what the drafter typed."""
    values = {
        "company": settings.ORGANISATION_NAME,
        "incident_title": incident.title,
        "reference": incident.reference,
    }
    values.update({k: v for k, v in (fill or {}).items() if v and v.strip()})
    return values


def _fill_title(title: str, values: Mapping[str, str]) -> str:
    return re.sub(r"\{([a-z_]+)\}", lambda m: values.get(m.group(1), m.group(0)).strip(), title)[:200]


@transaction.atomic
def statement_create(
    *,
    incident: Incident,
    actor: User,
    channel: str = "",
    title: str = "",
    audience: str = Audience.PUBLIC,
    language: str = "en",
    body: str = "",
    template: StatementTemplate | None = None,
    fill: Mapping[str, str] | None = None,
    master: Statement | None = None,
    supersedes: Statement | None = None,
    idempotency_key: str = "",
) -> Statement:
    """Start a statement: blank, from a template (placeholders filled), as a variant of a master for
    another channel, or as an update that will supersede a published statement. Creates v1."""
    Incident.objects.select_for_update().only("id").get(pk=incident.pk)  # serialises replays of the form
    _require(actor, incident, Perm.DRAFT)
    key = idempotency_key[:64]
    if key:
        existing = Statement.objects.filter(created_by=actor, idempotency_key=key).first()
        if existing is not None:
            return existing  # a double-click or a retried POST: the statement it already created
    if incident.status == Status.CLOSED:
        raise StatementError("This incident is closed; reopen it before drafting statements.")
    template_body = ""
    if template is not None:
        if not template.is_active:
            raise StatementError(f"The template “{template.name}” is no longer in use.")
        values = template_values(incident, fill)
        body = fill_template(template.body, values)
        template_body = canonical_text(template.body)
        title = title.strip() or _fill_title(template.title, values)
        channel, audience, language = template.channel, template.audience, template.language
    # Re-read what the new statement hangs off: the caller's copy may be older than its current state.
    if master is not None:
        master = Statement.objects.select_related("master").get(pk=master.pk)
    if supersedes is not None:
        supersedes = Statement.objects.get(pk=supersedes.pk)
    if master is not None:
        if master.incident_id != incident.pk:
            raise StatementError("A variant belongs to the same incident as its master statement.")
        if master.master_id is not None:
            master = master.master  # variants hang off the master, one level deep
            assert master is not None
        if master.status in Statement.FINAL:
            raise StatementError(
                f"“{master.title}” was {master.get_status_display().lower()}; start a new statement."
            )
        title = title.strip() or master.title
        audience = master.audience
    if supersedes is not None:
        if supersedes.incident_id != incident.pk or supersedes.status != S.PUBLISHED:
            raise StatementError("Only a published statement of this incident can be updated by a new one.")
        title = title.strip() or supersedes.title
    title = " ".join(title.split())
    if not title:
        raise TextRefused("Give the statement a short working title.")
    if channel not in Channel.values:
        raise TextRefused("Choose the channel the statement is for.")
    if audience not in Audience.values:
        raise TextRefused("Choose who the statement is for.")
    if language not in dict(LANGUAGES):
        raise TextRefused("Choose the statement's language.")
    canonical = canonical_text(body)
    check_text(canonical, channel)
    now = timezone.now()
    statement = Statement.objects.create(
        incident=incident,
        title=title[:200],
        audience=audience,
        channel=channel,
        language=language,
        master=master,
        supersedes=supersedes,
        status=S.DRAFT,
        version=1,
        template=template,
        template_name=template.name if template is not None else "",
        template_body=template_body,
        created_by=actor,
        created_at=now,
        updated_at=now,
        idempotency_key=key,
    )
    statement.current_version = StatementVersion.objects.create(
        statement=statement,
        number=1,
        body=canonical,
        sha256=text_sha256(canonical),
        author=actor,
        created_at=now,
        from_template_fill_only=template is not None,
    )
    statement.save(update_fields=["current_version"])
    origin = ""
    if template is not None:
        origin = f" from the template “{template.name}”"
    elif master is not None:
        origin = f" as a {Channel(channel).label} variant of “{master.title}”"
    elif supersedes is not None:
        origin = f" as an update to “{supersedes.title}”"
    _record(incident, actor, f"Statement drafted{origin}: {statement_label(statement)}, v1.")
    return statement


def statement_save_draft(*, statement: Statement, actor: User, expected_version: int, body: str) -> Statement:
    """Save the editor's text as a new version, if nobody saved since `expected_version`.

    Optimistic: one conditional UPDATE of the version counter decides; a loser gets StaleDraft with both
    texts and nothing written. Saving while in review or after approval drops the statement back to draft:
    the approvals of the old text stay as history but do not count for the new one, whose chain starts
    again on submit. Their approvers are told why, with a link to the diff.
    """
    canonical = canonical_text(body)
    with transaction.atomic():
        incident = statement.incident
        _require(actor, incident, Perm.DRAFT)
        check_text(canonical, statement.channel)
        now = timezone.now()
        won = Statement.objects.filter(
            pk=statement.pk, version=expected_version, status__in=Statement.EDITABLE
        ).update(version=F("version") + 1, updated_at=now)
        if not won:
            current = Statement.objects.select_related(
                "current_version", "current_version__author", "incident"
            ).get(pk=statement.pk)
            theirs = current.current_version
            if (
                theirs is not None
                and theirs.body == canonical
                and theirs.author_id == actor.pk
                and current.status == S.DRAFT
            ):
                return current  # the same save replayed (double-click, retry): it is already there
            raise _stale(current, canonical, expected_version)
        # The UPDATE holds the row lock from here on; what we read now is what we overwrite.
        locked = Statement.objects.select_related("current_version", "incident").get(pk=statement.pk)
        previous = locked.current_version
        if previous is not None and previous.body == canonical:
            raise StatementError(f"Nothing changed since v{previous.number}; there is nothing to save.")
        old_status = locked.status
        version = StatementVersion.objects.create(
            statement=locked,
            number=locked.version,
            body=canonical,
            sha256=text_sha256(canonical),
            author=actor,
            created_at=now,
            from_template_fill_only=is_template_fill(locked.template_body, canonical),
        )
        locked.current_version = version
        locked.status = S.DRAFT
        locked.status_note = ""
        locked.save(update_fields=["current_version", "status", "status_note"])
        _after_new_version(locked, previous, version, old_status, actor)
        return locked


def _stale(current: Statement, mine: str, expected: int) -> StaleDraft:
    theirs = current.current_version
    if current.status not in Statement.EDITABLE:
        message = (
            f"This statement is {current.get_status_display().lower()} now, so its text can no longer "
            "change. Nothing was saved; your text is kept below."
        )
    else:
        who = f"{theirs.author} saved v{theirs.number}" if theirs is not None else "Someone saved"
        message = (
            f"{who} while you were editing v{expected}. Nothing was overwritten: compare both texts, "
            "then save yours if it should replace theirs."
        )
    return StaleDraft(message, statement=current, mine=mine, expected_version=expected)


def _after_new_version(
    statement: Statement,
    previous: StatementVersion | None,
    version: StatementVersion,
    old_status: str,
    actor: User,
) -> None:
    incident = statement.incident
    label = statement_label(statement)
    if previous is None or old_status not in (S.IN_REVIEW, S.APPROVED):
        after = f" after v{previous.number} was rejected" if old_status == S.REJECTED and previous else ""
        _record(incident, actor, f"{actor} saved v{version.number} of {label}{after}.")
        return
    approvers = [
        a.approver
        for a in Approval.objects.filter(version=previous, decision=Approval.Decision.APPROVED)
        .select_related("approver")
        .order_by("decided_at")
    ]
    deadline_hooks.on_chain_void(statement, actor)  # nobody owes a decision on the old version
    was = "in review" if old_status == S.IN_REVIEW else "approved"
    voided = (
        f" The approvals of v{previous.number} by {_names(approvers)} no longer count." if approvers else ""
    )
    _record(
        incident,
        actor,
        f"{actor} saved v{version.number} of {label} while v{previous.number} was {was}: back to draft, "
        f"the approval chain starts again when v{version.number} is submitted.{voided}",
    )
    url = f"{statement_url(statement, incident)}?a={previous.number}&b={version.number}#diff"
    for user in {a.pk: a for a in approvers if a.pk != actor.pk}.values():
        notify(
            user=user,
            incident=incident,
            text=(
                f"{actor} changed {label}: v{version.number} replaces v{previous.number}, which you approved. "
                "Your approval was for the old text and does not carry over; see exactly what changed."
            ),
            url=url,
            key=f"statement-replaced:{version.pk}:{user.pk}",
        )


# --- review ---------------------------------------------------------------------------------------------------


@transaction.atomic
def statement_submit(*, statement: Statement, actor: User, version_number: int) -> Statement:
    """Send the current version for approval: choose the chain and snapshot its steps for this version."""
    locked = _lock(statement)
    incident = _lock_incident(locked)
    _require(actor, incident, Perm.DRAFT)
    version = _same_version(locked, version_number)
    if locked.status == S.IN_REVIEW and version.steps.exists():
        return locked  # submitted already (a double-click): nothing to do
    locked.ensure_can_move_to(S.IN_REVIEW)
    if not version.body:
        raise StatementError("Write the statement before submitting it.")
    check_text(version.body, locked.channel)
    if version.steps.exists():
        raise StatementError(
            f"v{version.number} has been through review once; save a new version to submit it again."
        )
    chain = choose_chain(
        incident=incident, audience=locked.audience, fill_only=version.from_template_fill_only
    )
    if chain is None:
        raise StatementError(
            "No approval chain applies to this statement. Ask an administrator to set one up under "
            "Configuration → Approval chains."
        )
    now = timezone.now()
    steps = _snapshot(chain=chain, version=version, incident=incident, now=now)
    locked.status = S.IN_REVIEW
    locked.status_note = ""
    locked.chain_template = chain
    locked.chain_name = chain.name
    locked.updated_at = now
    locked.save(update_fields=["status", "status_note", "chain_template", "chain_name", "updated_at"])
    shorter = " (a pure template fill: the shorter chain applies)" if chain.fill_only else ""
    _record(
        incident,
        actor,
        f"{actor} submitted v{version.number} of {statement_label(locked)} for approval: "
        f"{' → '.join(s.name for s in steps)}{shorter}.",
    )
    _notify_step(incident=incident, statement=locked, version=version, step=steps[0], total=len(steps))
    deadline_hooks.on_step_activated(locked, steps[0], len(steps))  # the step's SLA becomes a deadline
    return locked


def _review_checks(
    locked: Statement,
    actor: User,
    version_number: int,
    sha256: str,
    step_order: int | None,
    decisions: list[Approval],
) -> tuple[StatementVersion, list[ChainStep], ChainStep]:
    """Everything an approver must satisfy, checked under the locks. Returns (version, steps, step).

    `decisions` are the current version's approvals and rejections so far (read once by the caller)."""
    version = _same_version(locked, version_number)
    if sha256 and sha256 != version.sha256:
        raise StatementError(
            f"The text you reviewed is not v{version.number} as stored. Nothing was changed; reload and read it again."
        )
    if locked.status != S.IN_REVIEW:
        raise InvalidTransition(
            f"This statement is {locked.get_status_display().lower()}, not in review; there is nothing to decide."
        )
    steps = list(version.steps.select_related("role").order_by("order"))
    step = next((s for s in steps if s.completed_at is None), None)
    if step is None:  # cannot happen while in review; the state says otherwise
        raise StatementError("Every step of this chain is already complete.")
    if step_order is not None and step_order != step.order:
        asked = next((s for s in steps if s.order == step_order), None)
        if step_order > step.order:
            raise StatementError(
                f"Steps cannot be skipped: this statement is waiting for step {step.order} ({step.name}) "
                f"before {asked.name if asked else f'step {step_order}'}."
            )
        raise StatementError(
            f"Step {step_order}{f' ({asked.name})' if asked else ''} is already complete; "
            f"it is now waiting for step {step.order} ({step.name})."
        )
    on_team, may_approve, holds_role = _standing(actor, locked.incident, step.role_id)
    if not may_approve:
        raise StatementError(
            "Your role in this incident does not allow that (any more). Nothing was changed."
            if on_team
            else "You are no longer on this incident's team. Nothing was changed."
        )
    if actor.pk not in step.approver_ids and not holds_role:
        role = f"a {step.role.name}" if step.role is not None else "one of its named approvers"
        raise StatementError(
            f"Step {step.order} ({step.name}) needs {role}; you are not. Steps cannot be skipped."
        )
    if version.author_id == actor.pk and not step.allow_self_approval:
        raise StatementError(
            f"You wrote v{version.number}, and nobody approves their own text (separation of duties). "
            "Someone else in the step must decide."
        )
    if step.distinct_approvers:
        other = next(
            (
                a
                for a in decisions
                if a.approver_id == actor.pk
                and a.step_id != step.pk
                and a.decision == Approval.Decision.APPROVED
            ),
            None,
        )
        if other is not None:
            raise StatementError(
                f"You approved step {other.step.order} ({other.step.name}) of this version; each step needs "
                "a different person."
            )
    return version, steps, step


@transaction.atomic
def statement_approve(
    *, statement: Statement, actor: User, version_number: int, sha256: str, step_order: int | None = None
) -> ApprovalResult:
    """Approve the current step for exactly the version (and sha256) the approver read.

    A replay by someone who already approved this version changes nothing and says so. When the step has
    its approvals it completes and the next step's approvers are told; after the last step the statement
    is approved and may be published.
    """
    locked = _lock(statement)
    incident = _lock_incident(locked)
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
    version, steps, step = _review_checks(locked, actor, version_number, sha256, step_order, decisions)
    now = timezone.now()
    approval = Approval.objects.create(
        version=version, sha256=version.sha256, step=step, approver=actor, decided_at=now
    )
    decisions.append(approval)
    approved = [a for a in decisions if a.decision == Approval.Decision.APPROVED]
    count = sum(1 for a in approved if a.step_id == step.pk)
    label = statement_label(locked)
    progress = f"{count} of {step.required}" if step.required > 1 else ""
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
            _record(
                incident,
                actor,
                f"{actor} approved v{version.number} of {label} — step {step.order} of {len(steps)} "
                f"({step.name}) complete; waiting for {following.name}.",
            )
            _notify_step(
                incident=incident,
                statement=locked,
                version=version,
                step=following,
                total=len(steps),
                approved_by={a.approver_id for a in approved},
            )
            deadline_hooks.on_step_decided(step, actor)
            deadline_hooks.on_step_activated(locked, following, len(steps))
        else:
            deadline_hooks.on_step_decided(step, actor)
            step.save(update_fields=["completed_at"])
            locked.status = S.APPROVED
            locked.updated_at = now
            locked.save(update_fields=["status", "updated_at"])
            _record(
                incident,
                actor,
                f"{actor} approved v{version.number} of {label} — every step is complete "
                f"({' → '.join(s.name for s in steps)}); it may be published.",
            )
            if version.author_id != actor.pk:
                notify(
                    user=version.author,
                    incident=incident,
                    text=f"{label} v{version.number} is approved by every step and may be published.",
                    url=statement_url(locked, incident),
                    key=f"statement-approved:{version.pk}:{version.author_id}",
                )
    else:
        locked.updated_at = now
        locked.save(update_fields=["updated_at"])
        _record(
            incident,
            actor,
            f"{actor} approved v{version.number} of {label} at step {step.order} ({step.name}): {progress}.",
        )
    return ApprovalResult(
        approval=approval, created=True, statement=locked, chain=ChainState(steps=steps, decisions=decisions)
    )


@transaction.atomic
def statement_reject(
    *,
    statement: Statement,
    actor: User,
    version_number: int,
    reason: str,
    sha256: str = "",
    step_order: int | None = None,
) -> Statement:
    """Reject the current version at the current step, with a reason; it goes back to its author."""
    locked = _lock(statement)
    incident = _lock_incident(locked)
    reason = _reason(reason, "for rejecting")
    version = _current(locked)
    decisions = list(Approval.objects.filter(version=version).select_related("step"))
    replay = any(a.approver_id == actor.pk and a.decision == Approval.Decision.REJECTED for a in decisions)
    if replay and locked.status == S.REJECTED and version.number == version_number:
        return locked  # a replay of the same rejection
    version, _steps, step = _review_checks(locked, actor, version_number, sha256, step_order, decisions)
    now = timezone.now()
    Approval.objects.create(
        version=version,
        sha256=version.sha256,
        step=step,
        approver=actor,
        decision=Approval.Decision.REJECTED,
        note=reason,
        decided_at=now,
    )
    locked.status = S.REJECTED
    locked.status_note = reason
    locked.updated_at = now
    locked.save(update_fields=["status", "status_note", "updated_at"])
    deadline_hooks.on_step_decided(step, actor)
    label = statement_label(locked)
    _record(
        incident,
        actor,
        f"{actor} rejected v{version.number} of {label} at step {step.order} ({step.name}): {_quote(reason)}",
    )
    if version.author_id != actor.pk:
        notify(
            user=version.author,
            incident=incident,
            text=f"{actor} rejected v{version.number} of {label}: {_quote(reason)} Edit it and submit a new version.",
            url=statement_url(locked, incident),
            key=f"statement-rejected:{version.pk}:{version.author_id}",
        )
    return locked


# --- publish, withdraw, comment -------------------------------------------------------------------------------


_URL = URLValidator(schemes=["https", "http"])


@transaction.atomic
def statement_publish(
    *,
    statement: Statement,
    actor: User,
    version_number: int,
    channel: str = "",
    published_at: datetime | None = None,
    link: str = "",
    next_update_at: datetime | None = None,
) -> Publication:
    """Record that the approved version went out. The final gate: under the lock, re-hash the version and
    check every step of its chain for exactly that version and sha256; only then write the Publication."""
    locked = _lock(statement)
    predecessor = None
    if locked.supersedes_id is not None:  # lock it too, before the incident (lock order)
        predecessor = Statement.objects.select_for_update().get(pk=locked.supersedes_id)
    incident = _lock_incident(locked)
    _require(actor, incident, Perm.PUBLISH)
    existing = Publication.objects.filter(statement=locked).select_related("version").first()
    if (
        existing is not None
        and existing.version.number == version_number
        and existing.published_by_id == actor.pk
    ):
        return existing  # a replayed publish
    version = _same_version(locked, version_number)
    locked.ensure_can_move_to(S.PUBLISHED)
    version = StatementVersion.objects.get(pk=version.pk)  # re-read the text, not a cached copy
    if not version.hash_matches():
        raise StatementError(
            f"The stored text of v{version.number} no longer matches the fingerprint it was approved under. "
            "Nothing was published; tell an administrator."
        )
    # Read with what the page shows of them, so the view can render the chain from these (checked_chain).
    steps = list(version.steps.select_related("role"))
    approvals = list(Approval.objects.filter(version=version).select_related("step", "approver"))
    if not chain_steps_complete(steps, approvals, version):
        raise StatementError(
            f"v{version.number} does not have every approval its chain requires for exactly this text. "
            "Nothing was published."
        )
    channel = channel or locked.channel
    if channel not in Channel.values:
        raise TextRefused("Choose the channel it was published on.")
    check_text(version.body, channel)
    now = timezone.now()
    published_at = published_at or now
    if published_at > now + timedelta(minutes=1):
        raise TextRefused("Record a publication when it has happened, not in advance.")
    approved_at = max(a.decided_at for a in approvals if a.decision == Approval.Decision.APPROVED)
    if published_at < approved_at - timedelta(minutes=1):
        raise TextRefused("It cannot have gone out before its last approval; check the time.")
    if next_update_at is not None and not now < next_update_at <= now + timedelta(days=7):
        raise TextRefused("The promised next update must be later than now and within a week.")
    link = link.strip()
    if link:
        try:
            _URL(link)
        except ValidationError:
            raise TextRefused("The link must be a full web address (https://…).") from None
    publication = Publication.objects.create(
        statement=locked,
        version=version,
        sha256=version.sha256,
        channel=channel,
        published_at=published_at,
        link=link,
        published_by=actor,
        recorded_at=now,
    )
    locked.status = S.PUBLISHED
    locked.updated_at = now
    locked.save(update_fields=["status", "updated_at"])
    where = f" on {Channel(channel).label}" + (f": {link}" if link else "")
    _record(
        incident,
        actor,
        f"{actor} published v{version.number} of {statement_label(locked)}{where} "
        f"(sha256 {version.short_sha}, exactly as approved).",
    )
    if predecessor is not None and predecessor.status == S.PUBLISHED:
        predecessor.status = S.SUPERSEDED
        predecessor.status_note = f"Superseded by “{locked.title}”, published {now:%Y-%m-%d %H:%M} UTC."
        predecessor.updated_at = now
        predecessor.save(update_fields=["status", "status_note", "updated_at"])
        _record(incident, actor, f"{statement_label(predecessor)} is superseded by “{locked.title}”.")
    # The first response (or the due update) is met; the next update is due by the cadence or the promise.
    deadline_hooks.on_published(incident, actor, published_at, next_update_at)
    publication.checked_chain = ChainState(steps=steps, decisions=approvals)
    return publication


@transaction.atomic
def statement_withdraw(*, statement: Statement, actor: User, reason: str) -> Statement:
    """Withdraw a statement with a reason: take back a published one, or abandon a draft."""
    locked = _lock(statement)
    incident = _lock_incident(locked)
    was_published = locked.status == S.PUBLISHED
    _require(actor, incident, Perm.PUBLISH if was_published else Perm.DRAFT)
    reason = _reason(reason, "for withdrawing it")
    locked.ensure_can_move_to(S.WITHDRAWN)
    locked.status = S.WITHDRAWN
    locked.status_note = reason
    locked.updated_at = timezone.now()
    locked.save(update_fields=["status", "status_note", "updated_at"])
    label = statement_label(locked)
    what = "withdrew the published statement" if was_published else "withdrew the draft"
    _record(incident, actor, f"{actor} {what} {label}: {_quote(reason)}")
    deadline_hooks.on_chain_void(locked, actor)
    if was_published:
        version = _current(locked)
        people = {a.approver_id for a in Approval.objects.filter(version=version)} | {
            p.published_by_id for p in Publication.objects.filter(statement=locked)
        }
        for user in User.objects.filter(pk__in=people - {actor.pk}, is_active=True):
            notify(
                user=user,
                incident=incident,
                text=f"{actor} withdrew the published statement {label}: {_quote(reason)}",
                url=statement_url(locked, incident),
                key=f"statement-withdrawn:{locked.pk}:{user.pk}",
            )
    return locked


@transaction.atomic
def statement_comment(*, statement: Statement, actor: User, version_number: int, body: str) -> VersionComment:
    """A remark on one version (any state; comments are append-only)."""
    _require(actor, statement.incident, Perm.POST)
    body = body.strip()
    if not body:
        raise TextRefused("Write a comment first.")
    if len(body) > MAX_COMMENT:
        raise TextRefused(f"Keep a comment under {MAX_COMMENT:,} characters.")
    version = StatementVersion.objects.filter(statement=statement, number=version_number).first()
    if version is None:
        raise StatementError(f"This statement has no v{version_number}.")
    comment = VersionComment.objects.create(version=version, author=actor, body=body)
    _record(
        statement.incident,
        actor,
        f"{actor} commented on v{version.number} of {statement_label(statement)}: {_quote(body)}",
    )
    return comment


# --- reading: the diff, progress, and what waits for whom -----------------------------------------------------

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


@dataclass
class StepView:
    step: ChainStep
    decisions: list[Approval]
    state: str  # "done", "current", "waiting" (or "stopped": the version left review unfinished)

    @property
    def approvals(self) -> list[Approval]:
        return [a for a in self.decisions if a.decision == Approval.Decision.APPROVED]


@dataclass
class Review:
    """What one viewer sees of one statement's approval: the chain, and what (if anything) is theirs."""

    statement: Statement
    version: StatementVersion
    steps: list[StepView] = field(default_factory=list)
    current_step: ChainStep | None = None
    mine: bool = False  # the viewer may decide the current step now
    my_decisions: list[Approval] = field(default_factory=list)  # the viewer's, on this version
    blocked: str = ""  # why the viewer, holding the step's role, may not decide
    base: StatementVersion | None = None  # the version the diff starts from
    base_reason: str = ""
    diff: SafeString | None = None

    @property
    def done_steps(self) -> int:
        return sum(1 for s in self.steps if s.state == "done")


def step_views(
    steps: Sequence[ChainStep], decisions: Mapping[int, list[Approval]], *, in_review: bool
) -> list[StepView]:
    views = []
    current_found = False
    for step in steps:
        if step.completed_at is not None:
            state = "done"
        elif in_review and not current_found:
            state, current_found = "current", True
        else:
            state = "waiting" if in_review else "stopped"
        views.append(StepView(step=step, decisions=list(decisions.get(step.pk, [])), state=state))
    return views


def reviews(
    viewer: User,
    statements: Sequence[Statement],
    perms: Mapping[int, frozenset[str]],
    *,
    preloaded: Mapping[int, ChainState] | None = None,
) -> dict[int, Review]:
    """Chain progress for each statement's current version, and whether the viewer may decide now — with
    the diff from the last version they reviewed. A fixed number of queries however many statements.

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
        for step in (
            ChainStep.objects.filter(version_id__in=version_ids).select_related("role").order_by("order")
        ):
            steps[step.version_id].append(step)
        for approval in (
            Approval.objects.filter(version_id__in=version_ids)
            .select_related("approver")
            .order_by("decided_at")
        ):
            decisions[approval.step_id].append(approval)
    result: dict[int, Review] = {}
    for statement in statements:
        version = current.get(statement.pk)
        if version is None:
            continue
        in_review = statement.status == S.IN_REVIEW
        views = step_views(steps.get(version.pk, []), decisions, in_review=in_review)
        review = Review(statement=statement, version=version, steps=views)
        review.current_step = next((v.step for v in views if v.state == "current"), None)
        review.my_decisions = [a for v in views for a in v.decisions if a.approver_id == viewer.pk]
        result[statement.pk] = review
    _mark_mine(viewer, result, perms)
    _attach_diffs(viewer, [r for r in result.values() if r.mine])
    return result


def _mark_mine(viewer: User, result: dict[int, Review], perms: Mapping[int, frozenset[str]]) -> None:
    pending = [
        r
        for r in result.values()
        if r.current_step is not None
        and Perm.APPROVE in perms.get(r.statement.incident_id, frozenset())
        and not _decided(r, r.current_step)
    ]
    if not pending:
        return
    roles: dict[int, set[int]] = defaultdict(set)
    for incident_id, role_id in (
        RoleAssignment.objects.current()
        .filter(user=viewer, incident_id__in={r.statement.incident_id for r in pending})
        .values_list("incident_id", "role_id")
    ):
        roles[incident_id].add(role_id)
    for review in pending:
        step = review.current_step
        assert step is not None
        if viewer.pk not in step.approver_ids and step.role_id not in roles[review.statement.incident_id]:
            continue
        if review.version.author_id == viewer.pk and not step.allow_self_approval:
            review.blocked = "You wrote this version, so someone else in this step decides."
            continue
        review.mine = True


def _decided(review: Review, step: ChainStep) -> bool:
    """The viewer decided this step already, or an earlier one where each step needs another person."""
    decided = {a.step_id for a in review.my_decisions}
    return step.pk in decided or (bool(decided) and step.distinct_approvers)


def _attach_diffs(viewer: User, mine: list[Review]) -> None:
    """The base of each approver's diff: the last version they approved, rejected or commented on (the
    versions we know they read); failing that, the version before the current one."""
    if not mine:
        return
    statement_ids = [r.statement.pk for r in mine]
    seen: dict[int, int] = {}
    for statement_id, number in (
        Approval.objects.filter(approver=viewer, version__statement_id__in=statement_ids)
        .values("version__statement_id")
        .annotate(n=Max("version__number"))
        .values_list("version__statement_id", "n")
    ):
        seen[statement_id] = number
    for statement_id, number in (
        VersionComment.objects.filter(author=viewer, version__statement_id__in=statement_ids)
        .values("version__statement_id")
        .annotate(n=Max("version__number"))
        .values_list("version__statement_id", "n")
    ):
        seen[statement_id] = max(number, seen.get(statement_id, 0))
    wanted: dict[int, tuple[int, str]] = {}
    for review in mine:
        number = review.version.number
        last = seen.get(review.statement.pk)
        if last is not None and last == number:
            review.base_reason = (
                f"You have reviewed this exact text (v{number}) before; nothing changed since."
            )
        elif last is not None and last < number:
            wanted[review.statement.pk] = (last, f"since v{last}, the last version you reviewed")
        elif last is None and number > 1:
            wanted[review.statement.pk] = (
                number - 1,
                f"since v{number - 1} (you have not reviewed an earlier version)",
            )
    if not wanted:
        return
    bases = {
        (v.statement_id, v.number): v
        for v in StatementVersion.objects.filter(
            statement_id__in=list(wanted), number__in={n for n, _ in wanted.values()}
        )
    }
    for review in mine:
        if review.statement.pk not in wanted:
            continue
        number, reason = wanted[review.statement.pk]
        base = bases.get((review.statement.pk, number))
        if base is not None:
            review.base, review.base_reason = base, reason
            review.diff = word_diff(base.body, review.version.body)


def awaiting(viewer: User) -> list[Review]:
    """Statements waiting on a step the viewer may decide now, across every incident they approve in."""
    if not viewer.is_active:
        return []
    approve_in = IncidentUserObjectPermission.objects.filter(
        user=viewer, permission__codename=Perm.APPROVE
    ).values("content_object_id")
    statements = list(
        Statement.objects.filter(status=S.IN_REVIEW, incident_id__in=approve_in)
        .select_related("current_version", "current_version__author", "incident")
        .order_by("updated_at", "pk")
    )
    perms = {s.incident_id: frozenset({Perm.APPROVE.value}) for s in statements}
    found = reviews(viewer, statements, perms)
    return [found[s.pk] for s in statements if s.pk in found and found[s.pk].mine]
