"""Statements in the browser: the room's panel, the statement page, the approvals queue, and their POSTs.

Every view looks the incident up once with the permission its action needs (404 invisible, 403 not
allowed), calls one service, and answers htmx with the fragment of the place the form came from (the
room's panel, the approvals queue or the statement page) — or, without JavaScript, redirects there. A
refused action is a 409 (an unusable text a 422) whose fragment shows the message where the user acted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents import live, services
from incidents.forms import (
    StatementCommentForm,
    StatementCreateForm,
    StatementDecisionForm,
    StatementPublishForm,
    StatementRejectForm,
    StatementSaveForm,
    StatementVersionForm,
    StatementWithdrawForm,
)
from incidents.http import AuthRequest, wants_fragment
from incidents.models import (
    CHANNEL_LIMITS,
    Approval,
    Channel,
    Incident,
    InvalidTransition,
    Perm,
    Publication,
    Statement,
    StatementError,
    StatementStatus,
    StatementTemplate,
    TextRefused,
    VersionComment,
)
from incidents.permissions import get_incident_for
from incidents.playbooks.services import templates_first
from incidents.views.deadlines import promised_time

S = StatementStatus
# Panel order: what needs someone first, the finished last.
_RANK: dict[str, int] = {
    S.IN_REVIEW: 0,
    S.APPROVED: 1,
    S.REJECTED: 2,
    S.DRAFT: 3,
    S.PUBLISHED: 4,
    S.SUPERSEDED: 5,
    S.WITHDRAWN: 6,
}
PAGE = "incidents/statements/statement.html"
ROOM = "incidents/room.html"
QUEUE = "incidents/statements/approvals.html"
LIVE_FRAGMENTS = {"statement-live", "statement-versions", "diff"}


def _statement(incident: Incident, code: UUID, *, for_action: bool = False) -> Statement:
    """The statement of this incident with this code, or 404. An action needs only the row (the service
    locks and re-reads it); a page also needs the people and statements its header names."""
    if for_action:
        found = (
            Statement.objects.select_related("current_version").filter(incident=incident, code=code).first()
        )
        if found is None:
            raise Http404("No such statement in this incident.")
        found.incident = incident
        return found
    statement = (
        Statement.objects.select_related(
            "current_version", "current_version__author", "master", "supersedes", "created_by"
        )
        .filter(incident=incident, code=code)
        .first()
    )
    if statement is None:
        raise Http404("No such statement in this incident.")
    statement.incident = incident  # carries the viewer's permissions; saves a query
    return statement


def _fragment(
    request: AuthRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    response = render(request, template, context, status=status)
    response.headers["Vary"] = "HX-Request"
    return response


# --- the room's panel and the statements list -------------------------------------------------------------


@dataclass
class Card:
    """One master statement in the room's panel, with its review and its per-channel variants."""

    statement: Statement
    review: services.Review | None
    variants: list[Card] = field(default_factory=list)

    @property
    def needs_me(self) -> bool:
        return self.review is not None and self.review.mine


def panel_context(
    request: AuthRequest,
    incident: Incident,
    *,
    error: str = "",
    error_code: UUID | None = None,
    notice: str = "",
) -> dict[str, Any]:
    statements = list(Statement.objects.filter(incident=incident).for_panel())
    for s in statements:
        s.incident = incident
    found = services.reviews(request.user, statements, {incident.pk: incident.viewer_perms})
    cards = {s.pk: Card(statement=s, review=found.get(s.pk)) for s in statements}
    masters = []
    for s in statements:
        if s.master_id is not None and s.master_id in cards:
            cards[s.master_id].variants.append(cards[s.pk])
        else:
            masters.append(cards[s.pk])
    masters.sort(key=lambda c: (not c.needs_me, _RANK[c.statement.status]))
    # A refusal is shown on the card the user acted on while it still asks for their decision; otherwise
    # (someone else decided meanwhile) at the top of the panel.
    in_card = error_code in {c.statement.code for c in cards.values() if c.needs_me}
    return {
        "incident": incident,
        "cards": [c for c in masters if c.statement.status not in Statement.FINAL],
        "finished": [c for c in masters if c.statement.status in Statement.FINAL],
        "statements_loaded": True,
        "can_draft": Perm.DRAFT in incident.viewer_perms,
        "panel_error": "" if in_card else error,
        "card_error": error if in_card else "",
        "error_code": error_code,
        "panel_notice": notice,
        "where": "room",
    }


def room_statements_context(incident: Incident) -> dict[str, Any]:
    """What the room page itself needs for the panel: no query; the panel loads its list right after."""
    return {"can_draft": Perm.DRAFT in incident.viewer_perms, "statements_loaded": False}


@require_GET
@login_required
def statements(request: AuthRequest, code: UUID) -> HttpResponse:
    """The room's statements panel (htmx), or the same list as a page (without JavaScript)."""
    incident = get_incident_for(request.user, code)
    context = panel_context(request, incident)
    if wants_fragment(request):
        return _fragment(request, f"{ROOM}#statements-panel", context)
    return _fragment(request, "incidents/statements/list.html", context)


# --- create ---------------------------------------------------------------------------------------------


def _templates(incident: Incident) -> list[StatementTemplate]:
    """Active templates, the incident's scenario first, then the general ones, then the rest."""
    rows = list(StatementTemplate.objects.filter(is_active=True))
    rank = {incident.scenario: 0, "": 1}
    return sorted(rows, key=lambda t: (rank.get(t.scenario, 2), t.sort_order, t.name))


def _source(incident: Incident, raw: Any, what: str) -> Statement | None:
    try:
        code = UUID(str(raw)) if raw else None
    except ValueError:
        code = None
    if code is None:
        return None
    found = Statement.objects.select_related("current_version").filter(incident=incident, code=code).first()
    if found is None:
        raise Http404(f"No such {what} in this incident.")
    return found


@require_http_methods(["GET", "POST"])
@login_required
def statement_new(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.DRAFT)
    params = request.POST if request.method == "POST" else request.GET
    master = _source(incident, params.get("master"), "master statement")
    supersedes = _source(incident, params.get("supersedes"), "statement")
    templates = templates_first(incident, _templates(incident))  # the incident's playbook templates lead
    chosen = next((t for t in templates if str(t.pk) == params.get("template")), None)
    error = ""
    if request.method == "POST":
        form = StatementCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                statement = services.statement_create(
                    incident=incident,
                    actor=request.user,
                    template=data["template"],
                    fill=form.fill(),
                    title=data["title"],
                    channel=data["channel"],
                    audience=data["audience"] or "public",
                    language=data["language"] or "en",
                    body=data["body"],
                    master=master,
                    supersedes=supersedes,
                    idempotency_key=data["idempotency_key"],
                )
            except StatementError as exc:
                error = str(exc)
            else:
                messages.success(
                    request, f"“{statement.title}” started as v1. Edit it, then submit it for approval."
                )
                return redirect(services.statement_url(statement, incident))
        else:
            error = _form_error(form)
    else:
        source = master or supersedes
        values = services.template_values(incident)
        form = StatementCreateForm(
            initial={
                "idempotency_key": services.new_idempotency_key(),
                "template": chosen.pk if chosen else None,
                "title": source.title if source else "",
                "channel": supersedes.channel if supersedes else "",
                "audience": source.audience if source else "public",
                "language": source.language if source else "en",
                "body": source.current_version.body if source and source.current_version else "",
                "master": master.code if master else None,
                "supersedes": supersedes.code if supersedes else None,
                **{f"fill_{k}": v for k, v in values.items()},
            }
        )
    context = {
        "incident": incident,
        "form": form,
        "templates": templates if master is None and supersedes is None else [],
        "chosen": chosen,
        "fill_fields": form.fill_fields(chosen.placeholders) if chosen else [],
        "master": master,
        "supersedes": supersedes,
        "error": error,
        "channel_options": [(value, label, CHANNEL_LIMITS.get(value)) for value, label in Channel.choices],
    }
    return render(request, "incidents/statements/new.html", context, status=422 if error else 200)


# --- the statement page ----------------------------------------------------------------------------------


PAGE_PARTS = frozenset({"statement-live", "statement-versions", "diff", "statement-editor"})


def statement_context(
    request: AuthRequest,
    incident: Incident,
    statement: Statement,
    *,
    parts: frozenset[str] = PAGE_PARTS,
    error: str = "",
    notice: str = "",
    chain: services.ChainState | None = None,
    publication: Publication | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What the statement page shows — only the `parts` asked for (a fragment needs a fraction of it)."""
    perms = incident.viewer_perms
    can_draft, can_publish = Perm.DRAFT in perms, Perm.PUBLISH in perms
    context: dict[str, Any] = {
        "incident": incident,
        "statement": statement,
        "limit": statement.limit,
        "can_draft": can_draft,
        "can_edit": can_draft and statement.is_editable,
        "can_comment": Perm.POST in perms,
        "statement_error": error,
        "statement_notice": notice,
        "where": "page",
    }
    if "statement-live" in parts or "statement-versions" in parts:
        preloaded = {statement.current_version_id: chain} if chain and statement.current_version_id else None
        review = services.reviews(request.user, [statement], {incident.pk: perms}, preloaded=preloaded)[
            statement.pk
        ]
        context |= {"review": review, "version": review.version}
    else:
        context["version"] = statement.current_version
    current = context["version"]
    if "statement-live" in parts:
        published = statement.status in (S.PUBLISHED, S.WITHDRAWN, S.SUPERSEDED)
        context |= {
            "publication": (
                publication  # as the service just wrote it
                or Publication.objects.filter(statement=statement)
                .select_related("published_by", "version")
                .first()
            )
            if published
            else None,
            "can_submit": can_draft and statement.status == S.DRAFT and bool(current.body),
            "can_publish": can_publish and statement.status == S.APPROVED,
            "can_withdraw": S.WITHDRAWN in Statement.TRANSITIONS[statement.status]
            and (can_publish if statement.status == S.PUBLISHED else can_draft),
            "can_update": can_draft and statement.status == S.PUBLISHED,
            "publish_form": StatementPublishForm(
                initial={"version": current.number, "channel": statement.channel}
            ),
        }
    if "statement-versions" in parts or "diff" in parts:
        versions = list(statement.versions.select_related("author").order_by("-number"))
        context["versions"] = versions
    if "statement-versions" in parts:
        # Variants hang off masters only; updates off statements that were published.
        related = (
            list(
                Statement.objects.filter(Q(master=statement) | Q(supersedes=statement))
                .select_related("current_version")
                .order_by("created_at")
            )
            if statement.master_id is None or statement.status in (S.PUBLISHED, S.WITHDRAWN, S.SUPERSEDED)
            else []
        )
        context |= {
            "variants": [s for s in related if s.master_id == statement.pk],
            "updates": [s for s in related if s.supersedes_id == statement.pk],
        }
        decisions: dict[int, list[Approval]] = defaultdict(list)
        for decision in Approval.objects.filter(version__statement=statement).select_related(
            "approver", "step"
        ):
            decisions[decision.version_id].append(decision)
        comments: dict[int, list[VersionComment]] = defaultdict(list)
        for c in VersionComment.objects.filter(version__statement=statement).select_related("author"):
            comments[c.version_id].append(c)
        context["history"] = [
            {"version": v, "decisions": decisions[v.pk], "comments": comments[v.pk]} for v in versions
        ]
    if "diff" in parts:
        by_number = {v.number: v for v in versions}
        a, b = _int(request.GET.get("a")), _int(request.GET.get("b"))
        if a not in by_number or b not in by_number:
            a, b = max(current.number - 1, 1), current.number
        diff = services.word_diff(by_number[a].body, by_number[b].body) if a != b else None
        context |= {"diff_a": a, "diff_b": b, "diff": diff}
    if "statement-editor" in parts:
        context["editor"] = StatementSaveForm(initial={"version": statement.version, "body": current.body})
    if parts == PAGE_PARTS:
        context["stream_url"] = live.stream_url(user=request.user, incident=incident)
    return context | extra


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


@require_GET
@login_required
def statement(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    """The statement page; its live regions and the diff are answered as fragments to htmx."""
    incident = get_incident_for(request.user, code)
    found = _statement(incident, statement)
    target = request.htmx.target if wants_fragment(request) else None
    if target in LIVE_FRAGMENTS:
        context = statement_context(request, incident, found, parts=frozenset({target}))
        return _fragment(request, f"{PAGE}#{target}", context)
    return _fragment(request, PAGE, statement_context(request, incident, found))


# --- POSTs: answer the place the form came from --------------------------------------------------------


def _answer(
    request: AuthRequest,
    incident: Incident,
    statement: Statement,
    where: str,
    *,
    error: str = "",
    notice: str = "",
    status: int = 200,
    after: Statement | None = None,
    chain: services.ChainState | None = None,
    publication: Publication | None = None,
) -> HttpResponse:
    """After an action: the fragment of the room panel, the approvals queue or the statement page (htmx),
    or a redirect there with the message (no JavaScript). `after` is the statement as the service left it
    (locked and re-read there), which saves reading it again."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        elif notice:
            messages.success(request, notice)
        if where == "room":
            return redirect(incident.room_url + "#statements-panel")
        if where == "queue":
            return redirect("incidents:my-approvals")
        return redirect(services.statement_url(statement, incident))
    if where == "room":
        context = panel_context(request, incident, error=error, error_code=statement.code, notice=notice)
        return _fragment(request, f"{ROOM}#statements-panel", context, status=status)
    if where == "queue":
        context = queue_context(request, error=error, error_code=statement.code, notice=notice)
        return _fragment(request, f"{QUEUE}#approvals-queue", context, status=status)
    if after is not None:
        after.incident = incident
    fresh = after or _statement(incident, statement.code, for_action=True)
    parts = frozenset({"statement-live"})
    context = statement_context(
        request,
        incident,
        fresh,
        parts=parts,
        error=error,
        notice=notice,
        chain=chain,
        publication=publication,
    )
    return _fragment(request, f"{PAGE}#statement-live", context, status=status)


def _refused(exc: Exception) -> int:
    return 422 if isinstance(exc, TextRefused) else 409


def _form_error(form: Any) -> str:
    """Every error with its field's label: some fields are hidden or not on the form the user saw."""
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        parts += [
            f"{label or name.replace('_', ' ').capitalize()}: {e}" if name != "__all__" else str(e)
            for e in errors
        ]
    return " ".join(parts)


@require_POST
@login_required
def statement_save(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.DRAFT)
    found = _statement(incident, statement, for_action=True)
    form = StatementSaveForm(request.POST)
    if not form.is_valid():
        return _editor(
            request, incident, found, form, error="The text was not saved: " + _form_error(form), status=422
        )
    try:
        saved = services.statement_save_draft(
            statement=found,
            actor=request.user,
            expected_version=form.cleaned_data["version"],
            body=form.cleaned_data["body"],
        )
    except services.StaleDraft as exc:
        return _editor(request, incident, exc.statement, form, conflict=exc, status=409)
    except StatementError as exc:
        return _editor(request, incident, found, form, error=str(exc), status=_refused(exc))
    assert saved.current_version is not None
    notice = f"Saved as v{saved.current_version.number}."
    if not request.htmx:
        messages.success(request, notice)
        return redirect(services.statement_url(saved, incident))
    fresh = StatementSaveForm(initial={"version": saved.version, "body": saved.current_version.body})
    return _editor(request, incident, _statement(incident, saved.code), fresh, notice=notice)


def _editor(
    request: AuthRequest,
    incident: Incident,
    statement: Statement,
    form: StatementSaveForm,
    *,
    error: str = "",
    notice: str = "",
    conflict: services.StaleDraft | None = None,
    status: int = 200,
) -> HttpResponse:
    """The editor again: with the user's text (never lost), an error, or both texts side by side."""
    extra: dict[str, Any] = {"editor": form, "editor_error": error, "editor_notice": notice}
    if conflict is not None:
        theirs = conflict.theirs
        extra |= {
            "conflict": conflict,
            "conflict_message": str(conflict),
            "conflict_diff": services.word_diff(theirs.body if theirs else "", conflict.mine),
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
        "can_edit": Perm.DRAFT in incident.viewer_perms and statement.is_editable,
        **extra,
    }
    return _fragment(request, f"{PAGE}#statement-editor", context, status=status)


def _where(form: Any) -> str:
    where = form.data.get("where", "page")
    return where if where in ("room", "queue", "page") else "page"


@require_POST
@login_required
def statement_submit(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.DRAFT)
    found = _statement(incident, statement, for_action=True)
    form = StatementVersionForm(request.POST)
    if not form.is_valid():
        return _answer(
            request, incident, found, "page", error="That submission was not understood.", status=422
        )
    try:
        after = services.statement_submit(
            statement=found, actor=request.user, version_number=form.cleaned_data["version"]
        )
    except (StatementError, InvalidTransition) as exc:
        return _answer(request, incident, found, "page", error=str(exc), status=_refused(exc))
    notice = "Submitted. The first approvers have been told."
    return _answer(request, incident, found, "page", notice=notice, after=after)


@require_POST
@login_required
def statement_approve(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.APPROVE)
    found = _statement(incident, statement, for_action=True)
    form = StatementDecisionForm(request.POST)
    where = _where(form)
    if not form.is_valid():
        return _answer(request, incident, found, where, error="That approval was not understood.", status=422)
    data = form.cleaned_data
    try:
        result = services.statement_approve(
            statement=found,
            actor=request.user,
            version_number=data["version"],
            sha256=data["sha256"],
            step_order=data["step"],
        )
    except (StatementError, InvalidTransition) as exc:
        return _answer(request, incident, found, where, error=str(exc), status=_refused(exc))
    step = result.approval.step
    if result.created:
        notice = f"You approved v{data['version']} as {step.name}."
    else:
        notice = f"Already approved by you (v{data['version']}, {step.name}); nothing changed."
    return _answer(request, incident, found, where, notice=notice, after=result.statement, chain=result.chain)


@require_POST
@login_required
def statement_reject(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.APPROVE)
    found = _statement(incident, statement, for_action=True)
    form = StatementRejectForm(request.POST)
    where = _where(form)
    if not form.is_valid():
        return _answer(request, incident, found, where, error=_form_error(form), status=422)
    data = form.cleaned_data
    try:
        after = services.statement_reject(
            statement=found,
            actor=request.user,
            version_number=data["version"],
            sha256=data["sha256"],
            step_order=data["step"],
            reason=data["reason"],
        )
    except (StatementError, InvalidTransition) as exc:
        return _answer(request, incident, found, where, error=str(exc), status=_refused(exc))
    return _answer(
        request,
        incident,
        found,
        where,
        notice=f"You rejected v{data['version']}; the author has been told why.",
        after=after,
    )


@require_POST
@login_required
def statement_publish(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.PUBLISH)
    found = _statement(incident, statement, for_action=True)
    form = StatementPublishForm(request.POST)
    if not form.is_valid():
        return _answer(request, incident, found, "page", error=_form_error(form), status=422)
    data = form.cleaned_data
    try:
        promised = promised_time(request.POST.get("next_update_at", ""))
    except ValueError as exc:
        return _answer(request, incident, found, "page", error=str(exc), status=422)
    try:
        publication = services.statement_publish(
            statement=found,
            actor=request.user,
            version_number=data["version"],
            channel=data["channel"],
            published_at=data["published_at"],
            link=data["link"],
            next_update_at=promised,
        )
    except (StatementError, InvalidTransition) as exc:
        return _answer(request, incident, found, "page", error=str(exc), status=_refused(exc))
    notice = "Recorded as published. The text is now frozen."
    return _answer(
        request,
        incident,
        found,
        "page",
        notice=notice,
        after=publication.statement,
        chain=publication.checked_chain,
        publication=publication,
    )


@require_POST
@login_required
def statement_withdraw(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    found = _statement(incident, statement, for_action=True)
    # Taking back what went out is the publishers' call; abandoning a draft the drafters'.
    if (Perm.PUBLISH if found.status == S.PUBLISHED else Perm.DRAFT) not in incident.viewer_perms:
        raise PermissionDenied("Your role in this incident does not allow that.")
    form = StatementWithdrawForm(request.POST)
    if not form.is_valid():
        return _answer(request, incident, found, "page", error=_form_error(form), status=422)
    try:
        after = services.statement_withdraw(
            statement=found, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except (StatementError, InvalidTransition) as exc:
        return _answer(request, incident, found, "page", error=str(exc), status=_refused(exc))
    return _answer(
        request, incident, found, "page", notice="Withdrawn. The reason is on the timeline.", after=after
    )


@require_POST
@login_required
def statement_comment(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST)
    found = _statement(incident, statement, for_action=True)
    form = StatementCommentForm(request.POST)
    error, status = "", 200
    if form.is_valid():
        try:
            services.statement_comment(
                statement=found,
                actor=request.user,
                version_number=form.cleaned_data["version"],
                body=form.cleaned_data["body"],
            )
        except StatementError as exc:
            error, status = str(exc), _refused(exc)
    else:
        error, status = _form_error(form), 422
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(services.statement_url(found, incident) + "#statement-versions")
    extra: dict[str, Any] = {"comment_error": error}
    if error:
        extra["comment_text"] = form.data.get("body", "")
    parts = frozenset({"statement-versions"})
    context = statement_context(request, incident, found, parts=parts, **extra)
    return _fragment(request, f"{PAGE}#statement-versions", context, status=status)


# --- my approvals -----------------------------------------------------------------------------------------


def queue_context(
    request: AuthRequest, *, error: str = "", error_code: UUID | None = None, notice: str = ""
) -> dict[str, Any]:
    queue = services.awaiting(request.user)
    in_card = error_code in {r.statement.code for r in queue}
    return {
        "queue": queue,
        "queue_error": "" if in_card else error,
        "card_error": error if in_card else "",
        "error_code": error_code,
        "queue_notice": notice,
        "where": "queue",
    }


@require_GET
@login_required
def my_approvals(request: AuthRequest) -> HttpResponse:
    """Statements waiting for the viewer's decision, across incidents: a page, or the dashboard's panel."""
    context = queue_context(request)
    if wants_fragment(request):
        return _fragment(request, f"{QUEUE}#approvals-queue", context)
    return _fragment(request, QUEUE, context)


__all__ = [
    "my_approvals",
    "statement",
    "statement_approve",
    "statement_comment",
    "statement_new",
    "statement_publish",
    "statement_reject",
    "statement_save",
    "statement_submit",
    "statement_withdraw",
    "statements",
]
