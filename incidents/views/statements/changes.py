"""Statements to change: save its text, submit, approve, reject, publish, withdraw, comment (starting one is
new.py).

Every view looks the incident up once with the permission its action needs (404 invisible, 403 not
allowed), then runs one service through the action helper (`incidents.views.actions.act`): an invalid form
is a 422, a refusal answers with its own status (409, or 422 for an unusable text), and the answer is the
fragment of the place the form came from (the room's panel, the approvals queue or the statement page) —
or, without JavaScript, a redirect there. May import models, forms, services, permissions, hooks and
the statement pages module (for the fragments it answers with).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from incidents import services
from incidents.accounts.stepup import step_up_required
from incidents.accounts.throttle import spend_write
from incidents.forms import (
    StatementCommentForm,
    StatementDecisionForm,
    StatementPublishForm,
    StatementRejectForm,
    StatementSaveForm,
    StatementVersionForm,
    StatementWithdrawForm,
)
from incidents.http import AuthRequest
from incidents.models import (
    Incident,
    Perm,
    Publication,
    Statement,
)
from incidents.permissions import get_incident_for
from incidents.services.statements import (
    ApprovalResult,
    ChainState,
    PublishResult,
    StaleDraft,
    statement_url,
    withdraw_perm,
    word_diff,
)
from incidents.views.actions import Outcome, act, form_error
from incidents.views.statements.pages import (
    IN_QUEUE,
    IN_ROOM,
    ON_PAGE,
    PAGE,
    PLACES,
    QUEUE,
    ROOM,
    Place,
    find_statement,
    fragment,
    panel_context,
    queue_context,
    statement_context,
)

# --- answering the place the form came from ------------------------------------------------------------


def _where(request: AuthRequest) -> Place:
    return PLACES.get(request.POST.get("where", ""), ON_PAGE)


def _answer(
    request: AuthRequest,
    incident: Incident,
    statement: Statement,
    where: Place,
    outcome: Outcome[Any],
    *,
    after: Statement | None = None,
    chain: ChainState | None = None,
    publication: Publication | None = None,
    **extra: Any,
) -> HttpResponse:
    """After an action: the fragment of the room panel, the approvals queue or the statement page (htmx),
    or a redirect there with the message (no JavaScript). `after` is the statement as the service left it
    (locked and re-read there), which saves reading it again."""
    error, notice, status = outcome.error, outcome.notice, outcome.status
    if not request.htmx:
        if error:
            messages.error(request, error)
        elif notice:
            messages.success(request, notice)
        if where == IN_ROOM:
            return redirect(incident.room_url + "#statements-panel")
        if where == IN_QUEUE:
            return redirect("incidents:my-approvals")
        return redirect(statement_url(statement, incident))
    if where == IN_ROOM:
        context = panel_context(request, incident, error=error, error_code=statement.code, notice=notice)
        return fragment(request, f"{ROOM}#statements-panel", context, status=status)
    if where == IN_QUEUE:
        context = queue_context(request, error=error, error_code=statement.code, notice=notice)
        return fragment(request, f"{QUEUE}#approvals-queue", context, status=status)
    if after is not None:
        after.incident = incident
    fresh = after or find_statement(incident, statement.code, for_action=True)
    context = statement_context(
        request,
        incident,
        fresh,
        parts=frozenset({"statement-live"}),
        error=error,
        notice=notice,
        chain=chain,
        publication=publication,
        **extra,
    )
    return fragment(request, f"{PAGE}#statement-live", context, status=status)


# --- the text --------------------------------------------------------------------------------------------


@require_POST
@login_required
def statement_save(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.DRAFT)
    found = find_statement(incident, statement, for_action=True)
    form = StatementSaveForm(request.POST)

    def answer(outcome: Outcome[Statement]) -> HttpResponse:
        if isinstance(outcome.refused, StaleDraft):  # both texts side by side; the user's is kept
            conflict = outcome.refused
            return _editor(
                request, incident, conflict.statement, form, conflict=conflict, status=outcome.status
            )
        if outcome.result is None:
            return _editor(request, incident, found, form, error=outcome.error, status=outcome.status)
        saved = outcome.result
        if not request.htmx:
            messages.success(request, outcome.notice)
            return redirect(statement_url(saved, incident))
        assert saved.current_version is not None
        fresh = StatementSaveForm(initial={"version": saved.version, "body": saved.current_version.body})
        return _editor(request, incident, find_statement(incident, saved.code), fresh, notice=outcome.notice)

    def notice(saved: Statement) -> str:
        assert saved.current_version is not None
        return _("Saved as v%(number)s.") % {"number": saved.current_version.number}

    def change(data: Mapping[str, Any]) -> Statement:
        spend_write(request.user)
        return services.statement_save_draft(
            statement=found, actor=request.user, expected_version=data["version"], body=data["body"]
        )

    return act(
        change,
        answer,
        form=form,
        invalid=""
        if form.is_valid()
        else _("The text was not saved: %(error)s") % {"error": form_error(form)},
        notice=notice,
    )


def _editor(
    request: AuthRequest,
    incident: Incident,
    statement: Statement,
    form: StatementSaveForm,
    *,
    error: str = "",
    notice: str = "",
    conflict: StaleDraft | None = None,
    status: int = 200,
) -> HttpResponse:
    """The editor again: with the user's text (never lost), an error, or both texts side by side."""
    extra: dict[str, Any] = {"editor": form, "editor_error": error, "editor_notice": notice}
    if conflict is not None:
        theirs = conflict.theirs
        extra |= {
            "conflict": conflict,
            "conflict_message": str(conflict),
            "conflict_diff": word_diff(theirs.body if theirs else "", conflict.mine),
            # Saving again means "mine replaces what is there now": the form carries the new counter.
            "editor": StatementSaveForm(
                initial={"version": conflict.statement.version, "body": conflict.mine}
            ),
        }
    if not request.htmx:
        context = statement_context(request, incident, statement, **extra)
        return render(request, PAGE, context, status=status)
    context = {
        "incident": incident,
        "statement": statement,
        "version": statement.current_version,
        "limit": statement.limit,
        "actions": services.statement_actions(statement, statement.current_version, incident.viewer_perms),
        **extra,
    }
    return fragment(request, f"{PAGE}#statement-editor", context, status=status)


# --- the chain ---------------------------------------------------------------------------------------------


@require_POST
@login_required
def statement_submit(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.DRAFT)
    found = find_statement(incident, statement, for_action=True)
    return act(
        lambda data: services.statement_submit(
            statement=found, actor=request.user, version_number=data["version"]
        ),
        lambda outcome: _answer(request, incident, found, ON_PAGE, outcome, after=outcome.result),
        form=StatementVersionForm(request.POST),
        invalid=_("That submission was not understood."),
        notice=_("Submitted. The first approvers have been told."),
    )


def _decider_incident(request: AuthRequest, code: UUID) -> Incident:
    """The incident, for someone deciding a step: an approver, or — standing in for one after the step's
    SLA passed — their backup, who need only be on the team (the service checks the rest under its locks)."""
    if request.POST.get("on_behalf_of"):
        return get_incident_for(request.user, code, Perm.VIEW)
    return get_incident_for(request.user, code, Perm.APPROVE)


@require_POST
@login_required
@step_up_required
def statement_approve(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = _decider_incident(request, code)
    found = find_statement(incident, statement, for_action=True)
    form = StatementDecisionForm(request.POST)

    def change(data: Mapping[str, Any]) -> ApprovalResult:
        return services.statement_approve(
            statement=found,
            actor=request.user,
            version_number=data["version"],
            sha256=data["sha256"],
            step_order=data["step"],
            on_behalf_of=data.get("on_behalf_of"),
        )

    def notice(result: ApprovalResult) -> str:
        number, step = form.cleaned_data["version"], result.approval.step.name
        if result.created and result.approval.on_behalf_of_id:
            return _("You approved v%(number)s as %(step)s, standing in for %(principal)s.") % {
                "number": number,
                "step": step,
                "principal": result.approval.on_behalf_of,
            }
        if result.created:
            return _("You approved v%(number)s as %(step)s.") % {"number": number, "step": step}
        return _("Already approved by you (v%(number)s, %(step)s); nothing changed.") % {
            "number": number,
            "step": step,
        }

    def answer(outcome: Outcome[ApprovalResult]) -> HttpResponse:
        result = outcome.result
        return _answer(
            request,
            incident,
            found,
            _where(request),
            outcome,
            after=result.statement if result else None,
            chain=result.chain if result else None,
        )

    return act(change, answer, form=form, invalid=_("That approval was not understood."), notice=notice)


@require_POST
@login_required
@step_up_required
def statement_reject(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = _decider_incident(request, code)
    found = find_statement(incident, statement, for_action=True)
    form = StatementRejectForm(request.POST)
    return act(
        lambda data: services.statement_reject(
            statement=found,
            actor=request.user,
            version_number=data["version"],
            sha256=data["sha256"],
            step_order=data["step"],
            reason=data["reason"],
            on_behalf_of=data.get("on_behalf_of"),
        ),
        lambda outcome: _answer(request, incident, found, _where(request), outcome, after=outcome.result),
        form=form,
        notice=lambda _after: (
            _("You rejected v%(number)s; the author has been told why.")
            % {"number": form.cleaned_data["version"]}
        ),
    )


# --- publish, withdraw, comment -----------------------------------------------------------------------------


@require_POST
@login_required
@step_up_required
def statement_publish(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.PUBLISH)
    found = find_statement(incident, statement, for_action=True)

    form = StatementPublishForm(request.POST)

    def change(data: Mapping[str, Any]) -> PublishResult:
        return services.statement_publish(
            statement=found,
            actor=request.user,
            version_number=data["version"],
            channel=data["channel"],
            published_at=data["published_at"],
            link=data["link"],
            next_update_at=form.promised(),
        )

    def answer(outcome: Outcome[PublishResult]) -> HttpResponse:
        result = outcome.result
        if result is None:  # the form comes back as sent: the rollover question and its box included
            return _answer(request, incident, found, ON_PAGE, outcome, publish_form=form)
        return _answer(
            request,
            incident,
            found,
            ON_PAGE,
            outcome,
            after=result.statement,
            chain=result.chain,
            publication=result.publication,
        )

    return act(change, answer, form=form, notice=_("Recorded as published. The text is now frozen."))


@require_POST
@login_required
def statement_withdraw(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    found = find_statement(incident, statement, for_action=True)
    if withdraw_perm(found) not in incident.viewer_perms:
        raise PermissionDenied(_("Your role in this incident does not allow that."))
    return act(
        lambda data: services.statement_withdraw(statement=found, actor=request.user, reason=data["reason"]),
        lambda outcome: _answer(request, incident, found, ON_PAGE, outcome, after=outcome.result),
        form=StatementWithdrawForm(request.POST),
        notice=_("Withdrawn. The reason is on the timeline."),
    )


@require_POST
@login_required
def statement_comment(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST)
    found = find_statement(incident, statement, for_action=True)
    form = StatementCommentForm(request.POST)

    def answer(outcome: Outcome[object]) -> HttpResponse:
        if not request.htmx:
            if outcome.error:
                messages.error(request, outcome.error)
            return redirect(statement_url(found, incident) + "#statement-versions")
        extra: dict[str, Any] = {"comment_error": outcome.error}
        if outcome.error:
            extra["comment_text"] = form.data.get("body", "")
        parts = frozenset({"statement-versions"})
        context = statement_context(request, incident, found, parts=parts, **extra)
        return fragment(request, f"{PAGE}#statement-versions", context, status=outcome.status)

    def change(data: Mapping[str, Any]) -> Any:
        spend_write(request.user)
        return services.statement_comment(
            statement=found, actor=request.user, version_number=data["version"], body=data["body"]
        )

    return act(
        change,
        answer,
        form=form,
    )
