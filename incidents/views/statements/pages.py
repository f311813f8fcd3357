"""Statements to read: the room's panel (and the same list as a page), the statement page and its live
regions, and the approvals queue. GET only; nothing here writes.

What a viewer may do comes from the services' selectors (`statement_actions`, `approval_progress`), which
ask the same rules the services check under the lock. May import models, forms, services and permissions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from incidents import live
from incidents.forms import StatementPublishForm, StatementSaveForm
from incidents.http import AuthRequest, wants_fragment
from incidents.models import (
    Approval,
    Incident,
    Perm,
    Publication,
    Statement,
    StatementStatus,
    User,
    VersionComment,
)
from incidents.permissions import get_incident_for
from incidents.rules import may_manage_team
from incidents.services.statements import (
    ApprovalProgress,
    ChainStalled,
    ChainState,
    StepState,
    a_role,
    approval_progress,
    awaiting,
    planned_chain,
    statement_actions,
    word_diff,
)
from incidents.services.statements.chain_reads import read_panel

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
LIVE_FRAGMENTS = {"statement-live", "statement-versions", "statement-editor", "diff"}
PAGE_PARTS = frozenset({"statement-live", "statement-versions", "diff", "statement-editor"})


@dataclass(frozen=True)
class Place:
    """Where a decision form is shown — the room's panel, the approvals queue or the statement page — and
    so which region its answer replaces."""

    name: str  # what the form sends as `where`
    target: str  # the region the answer replaces
    text_above: bool  # the statement's text is shown above the card (the page), so the card only names it


ON_PAGE = Place("page", "#statement-live", text_above=True)
IN_ROOM = Place("room", "#statements-panel", text_above=False)
IN_QUEUE = Place("queue", "#approvals-queue", text_above=False)
PLACES = {p.name: p for p in (ON_PAGE, IN_ROOM, IN_QUEUE)}


def find_statement(incident: Incident, code: UUID, *, for_action: bool = False) -> Statement:
    """The statement of this incident with this code, or 404. An action needs only the row (the service
    locks and re-reads it); a page also needs the people and statements its header names."""
    related = ["current_version"]
    if not for_action:
        related += ["current_version__author", "master", "supersedes", "created_by"]
    statement = Statement.objects.select_related(*related).filter(incident=incident, code=code).first()
    if statement is None:
        raise Http404(_("No such statement in this incident."))
    statement.incident = incident  # carries the viewer's permissions; saves a query
    return statement


def fragment(
    request: AuthRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    response = render(request, template, context, status=status)
    response.headers["Vary"] = "HX-Request"
    return response


# --- the chain that will apply (the new-statement page and a draft's page) -----------------------------------


def fix_for(stalled: ChainStalled | None, incident: Incident) -> dict[str, str] | None:
    """The one-click fix of a stalled chain: the room's team form with the missing role chosen (for those
    who may change the team), else whom to ask."""
    if stalled is None or stalled.step.role_id is None:
        return None
    role = stalled.step.role_name
    if may_manage_team(perms=incident.viewer_perms):
        return {
            # No #fragment: a page with a target element skips autofocus, and the person field has it.
            "url": f"{incident.room_url}?add_role={stalled.step.role_id}",
            "label": _("Add %(role)s") % {"role": a_role(role)},
        }
    commander = incident.commander
    who = str(commander) if commander is not None else _("the incident commander")
    return {
        "url": "",
        "label": _("Ask %(who)s to add %(role)s to the team.") % {"who": who, "role": a_role(role)},
    }


def chain_context(incident: Incident, *, audience: str, fill_only: bool, author: User) -> dict[str, Any]:
    """The chain a new version would go through now, with the people per step, and its stall and fix."""
    plan, problem = planned_chain(
        incident=incident, audience=audience, fill_only=fill_only, author_id=author.pk
    )
    stalled = plan.stalled if plan is not None else None
    return {
        "plan": plan,
        "plan_problem": str(problem) if problem is not None else "",
        "stalled": stalled,
        "fix": fix_for(stalled, incident),
        "author": author,
    }


# --- the room's panel and the statements list -------------------------------------------------------------


@dataclass
class Card:
    """One master statement in the room's panel, with its approval progress and its per-channel variants."""

    statement: Statement
    progress: ApprovalProgress | None
    variants: list[Card] = field(default_factory=list)

    @property
    def needs_me(self) -> bool:
        return self.progress is not None and self.progress.mine


def _cards(
    request: AuthRequest, incident: Incident, code: UUID | None = None
) -> tuple[dict[int, Card], list[Card]]:
    """The cards of the incident's statements — with `code`, of that statement and its variants — all by id,
    and the masters in panel order, their variants attached. Two queries however many statements, both
    written out (chain_reads.py): the statements, then their chains; a third when the viewer decides one."""
    rows = read_panel(incident.pk, code)
    for s in rows:
        s.incident = incident
    found = approval_progress(request.user, rows, {incident.pk: incident.viewer_perms})
    cards = {s.pk: Card(statement=s, progress=found.get(s.pk)) for s in rows}
    masters = []
    for s in rows:
        if s.master_id is not None and s.master_id in cards:
            cards[s.master_id].variants.append(cards[s.pk])
        else:
            masters.append(cards[s.pk])
    return cards, masters


def panel_context(
    request: AuthRequest,
    incident: Incident,
    *,
    error: str = "",
    error_code: UUID | None = None,
    notice: str = "",
) -> dict[str, Any]:
    cards, masters = _cards(request, incident)
    masters.sort(key=lambda c: (not c.needs_me, _RANK[c.statement.status]))
    # A refusal is shown on the card the user acted on while it still asks for their decision; otherwise
    # (someone else decided meanwhile) at the top of the panel.
    in_card = error_code in {c.statement.code for c in cards.values() if c.needs_me}
    return {
        "incident": incident,
        "cards": [c for c in masters if not c.statement.is_final],
        "finished": [c for c in masters if c.statement.is_final],
        "statements_loaded": True,
        "can_draft": Perm.DRAFT in incident.viewer_perms,
        "panel_error": "" if in_card else error,
        "card_error": error if in_card else "",
        "error_code": error_code,
        "panel_notice": notice,
        "where": IN_ROOM,
    }


def room_statements_context(incident: Incident) -> dict[str, Any]:
    """What the room page itself needs for the panel: no query; the panel loads its list right after."""
    return {"can_draft": Perm.DRAFT in incident.viewer_perms, "statements_loaded": False}


@require_GET
@login_required
def statements(request: AuthRequest, code: UUID) -> HttpResponse:
    """The room's statements panel (htmx), or the same list as a page (without JavaScript)."""
    if wants_fragment(request):
        # Re-fetched by every open room when a statement comes or goes; it names no declarer or commander.
        incident = get_incident_for(request.user, code, people=False)
        return fragment(request, f"{ROOM}#statements-panel", panel_context(request, incident))
    incident = get_incident_for(request.user, code)
    context = panel_context(request, incident)
    return fragment(request, "incidents/statements/list.html", context)


@require_GET
@login_required
def statement_card(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    """One card of the room's statements panel (its own live region): the statement with its variants, as
    the panel shows it, for a viewer checked exactly as the panel checks them (404 for anyone who may not see
    the incident). A change to a statement re-fetches only this card in each open room; the panel is
    re-fetched when its set of cards changes (incidents.live.statement_changed). Without htmx: the page."""
    incident = get_incident_for(request.user, code, people=False)
    # The master and its variants in one query (a variant's code answers with its master's card).
    _by_id, masters = _cards(request, incident, statement)
    card = next((c for c in masters if c.statement.code == statement), None)
    if card is None:
        raise Http404(_("No such statement in this incident."))
    if not wants_fragment(request):
        return redirect("incidents:statement", code, statement)
    # A variant: its master's card (only an old link asks for it; nudges name the master).
    if card.statement.master_id is not None:
        master = Statement.objects.filter(pk=card.statement.master_id).values_list("code", flat=True).get()
        return statement_card(request, code, master)
    context = {"incident": incident, "card": card, "where": IN_ROOM, "card_error": "", "error_code": None}
    return fragment(request, f"{ROOM}#statement-card", context)


# --- the statement page ----------------------------------------------------------------------------------


def statement_context(
    request: AuthRequest,
    incident: Incident,
    statement: Statement,
    *,
    parts: frozenset[str] = PAGE_PARTS,
    error: str = "",
    notice: str = "",
    chain: ChainState | None = None,
    publication: Publication | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What the statement page shows — only the `parts` asked for (a fragment needs a fraction of it)."""
    perms = incident.viewer_perms
    context: dict[str, Any] = {
        "incident": incident,
        "statement": statement,
        "limit": statement.limit,
        "actions": statement_actions(statement, statement.current_version, perms),
        "statement_error": error,
        "statement_notice": notice,
        "where": ON_PAGE,
    }
    if "statement-live" in parts or "statement-versions" in parts:
        preloaded = {statement.current_version_id: chain} if chain and statement.current_version_id else None
        progress = approval_progress(request.user, [statement], {incident.pk: perms}, preloaded=preloaded)[
            statement.pk
        ]
        context |= {"progress": progress, "version": progress.version}
    else:
        context["version"] = statement.current_version
    current = context["version"]
    if "statement-live" in parts:
        context |= {
            "publication": (
                publication  # as the service just wrote it
                or Publication.objects.filter(statement=statement)
                .select_related("published_by", "version")
                .first()
            )
            if statement.may_have_publication
            else None,
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
            if statement.master_id is None or statement.may_have_publication
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
        diff = word_diff(by_number[a].body, by_number[b].body) if a != b else None
        context |= {"diff_a": a, "diff_b": b, "diff": diff}
    if "statement-editor" in parts:
        context["editor"] = StatementSaveForm(initial={"version": statement.version, "body": current.body})
    if "statement-live" in parts and context["actions"].submit and current is not None:
        # Before anyone submits: the chain that will apply, who would decide each step, and whether
        # nobody but the author could (then submitting is not offered; the fix is).
        plan = chain_context(
            incident,
            audience=statement.audience,
            fill_only=current.from_template_fill_only,
            author=current.author,
        )
        context |= plan
        if plan["stalled"] is not None:
            context["actions"] = replace(context["actions"], submit=False)
    if parts == PAGE_PARTS:
        # The page's one stream: the viewer's nudges and this incident's (static/js/live.js).
        context["page_live_stream"] = live.live_url(user=request.user, incident=incident)
        decide = _int(request.GET.get("decide"))
        if decide is not None and "progress" in context:
            context |= _decision_asked(context["progress"], decide)
        # "Ready to publish" links ask for the publish button: focused, so Enter records it.
        context["focus_publish"] = bool(request.GET.get("publish")) and context["actions"].publish
    return context | extra


def _decision_asked(progress: ApprovalProgress, order: int) -> dict[str, Any]:
    """A notification asked for step `order`'s decision: focus its form, or say why it is not waiting."""
    step = progress.current_step
    if (progress.mine or progress.stand_in_for is not None) and step is not None and step.order == order:
        return {"focus_step": order}
    view = next((v for v in progress.steps if v.step.order == order), None)
    if view is None:
        return {
            "decide_notice": _("This version has no step %(n)d; nothing is waiting for you.") % {"n": order}
        }
    if view.decisions and view.state == StepState.DONE:
        people = ", ".join(
            _("%(backup)s standing in for %(principal)s")
            % {"backup": a.approver, "principal": a.on_behalf_of}
            if a.on_behalf_of_id
            else str(a.approver)
            for a in view.decisions
        )
        text = _("Step %(n)d (%(name)s) is already decided, by %(people)s: nothing is waiting for you.")
        return {"decide_notice": text % {"n": order, "name": view.step.name, "people": people}}
    if not progress.statement.is_in_review:
        text = _("This statement is %(status)s now: nothing is waiting for your decision.")
        return {"decide_notice": text % {"status": progress.statement.get_status_display().lower()}}
    return {
        "decide_notice": progress.blocked
        or _("Step %(n)d (%(name)s) is not yours to decide now.") % {"n": order, "name": view.step.name}
    }


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


@require_GET
@login_required
def statement(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    """The statement page; its live regions and the diff are answered as fragments to htmx."""
    target = request.htmx.target if wants_fragment(request) else None
    if target in LIVE_FRAGMENTS:
        # What every open statement page re-fetches on each change: only the header (not re-fetched) names
        # the declarer, commander, master, predecessor and starter, so the fragment reads neither — the
        # incident and the statement with its current version each in one written-out query.
        incident = get_incident_for(request.user, code, people=False)
        rows = read_panel(incident.pk, statement, variants=False)
        if not rows:
            raise Http404(_("No such statement in this incident."))
        rows[0].incident = incident  # carries the viewer's permissions; saves a query
        context = statement_context(request, incident, rows[0], parts=frozenset({target}))
        return fragment(request, f"{PAGE}#{target}", context)
    incident = get_incident_for(request.user, code)
    found = find_statement(incident, statement)
    return fragment(request, PAGE, statement_context(request, incident, found))


# --- my approvals -----------------------------------------------------------------------------------------


def queue_context(
    request: AuthRequest, *, error: str = "", error_code: UUID | None = None, notice: str = ""
) -> dict[str, Any]:
    queue = awaiting(request.user)
    in_card = error_code in {p.statement.code for p in queue}
    return {
        "queue": queue,
        "queue_error": "" if in_card else error,
        "card_error": error if in_card else "",
        "error_code": error_code,
        "queue_notice": notice,
        "where": IN_QUEUE,
    }


@require_GET
@login_required
def my_approvals(request: AuthRequest) -> HttpResponse:
    """Statements waiting for the viewer's decision, across incidents: a page, or the dashboard's panel."""
    context = queue_context(request)
    if wants_fragment(request):
        return fragment(request, f"{QUEUE}#approvals-queue", context)
    return fragment(request, QUEUE, context)
