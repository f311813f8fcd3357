"""Starting a statement: the shortest safe path to a holding statement.

The page opens on the template that fits the incident (the playbook's first, else the scenario's), with its
blanks, the filled text as it will read, and the chain that will apply with the people who would decide
each step. One button creates v1 and submits it (`statement_create_and_submit`: one transaction, so a
refusal changes nothing); another only saves the draft. The preview is the server's own fill (an htmx GET
of this page as the person types), so what they see is what is stored. A chain nobody but the drafter could
complete is shown, and refused, with its fix: add a holder of the step's role (the room's team form, with
that role chosen).

May import models, forms, services, permissions, hooks and the statement pages module.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from incidents import hooks, services
from incidents.accounts.throttle import spend_write
from incidents.forms import StatementCreateForm
from incidents.http import AuthRequest, wants_fragment
from incidents.models import (
    CHANNEL_LIMITS,
    ChainStep,
    Channel,
    Incident,
    Perm,
    Statement,
    StatementTemplate,
    TextRefused,
)
from incidents.models.statement_text import check_text, fill_template
from incidents.permissions import get_incident_for
from incidents.services.deadlines import policy_for
from incidents.services.statements import ChainStalled, statement_url
from incidents.typed_time import read_typed
from incidents.views.actions import Outcome, act
from incidents.views.statements.pages import chain_context, fix_for, fragment

NEW = "incidents/statements/new.html"


def templates_for(incident: Incident) -> list[StatementTemplate]:
    """Active templates, the incident's scenario first, then the general ones, then the rest — as the
    sub-apps arrange them (hooks.statement_templates: the incident's playbook templates lead)."""
    rows = list(StatementTemplate.objects.filter(is_active=True))
    rank = {incident.scenario: 0, "": 1}
    templates = sorted(rows, key=lambda t: (rank.get(t.scenario, 2), t.sort_order, t.name))
    for arrange in hooks.statement_templates:
        templates = arrange(incident, templates)
    return templates


def _fits(template: StatementTemplate, incident: Incident) -> bool:
    return bool(getattr(template, "from_playbook", False)) or template.scenario == incident.scenario


def _source(incident: Incident, raw: Any, missing: str) -> Statement | None:
    try:
        code = UUID(str(raw)) if raw else None
    except ValueError:
        code = None
    if code is None:
        return None
    found = Statement.objects.select_related("current_version").filter(incident=incident, code=code).first()
    if found is None:
        raise Http404(missing)
    return found


def _suggested_update(incident: Incident) -> tuple[str, bool]:
    """A next-update time to start from, and whether it is tomorrow: the severity's update cadence from now,
    on the next quarter hour, in the viewer's zone. Late in the evening it is still suggested (a team at 23:30
    needs it most), with "Yes, tomorrow" ticked and the question shown, so the page says which day it means.
    A time alone stands for the next 24 hours only: a cadence past that (SEV4's day) suggests nothing."""
    zone = timezone.get_current_timezone()
    now = timezone.now().astimezone(zone)
    at = now + timedelta(minutes=policy_for(incident.severity).update_cadence_minutes)
    at = at.replace(second=0, microsecond=0) + timedelta(minutes=(15 - at.minute % 15) % 15)
    typed = read_typed(f"{at:%H:%M}", now=now, zone=zone)  # what the field will be read as when it is sent
    if typed is None or typed.at != at:
        return "", False
    return typed.typed, typed.rolled


# --- the preview: the filled text and the chain that will apply ------------------------------------------------


def _preview(
    request: AuthRequest, incident: Incident, chosen: StatementTemplate, form: StatementCreateForm
) -> dict[str, Any]:
    """The template filled with what the form holds now, by the service's own fill, and the chain."""
    form.is_valid()  # a preview asks for whatever is valid so far; nothing is saved
    data = getattr(form, "cleaned_data", {})
    values = services.template_values(incident, form.fill() if data else None)
    try:  # read again: a time that rolled over to tomorrow is an error until confirmed, but still a time
        typed = read_typed(str(form.data.get("fill_next_update_time", "")))
    except ValueError:
        typed = None
    if typed is not None:
        values["next_update_time"] = services.promise_text(
            typed.at, said_at=timezone.now(), language=chosen.language
        )
    text, missing = "", ""
    try:
        text = fill_template(chosen.body, values)
        check_text(text, chosen.channel)
    except TextRefused as refused:
        missing = str(refused)
    return {
        "preview_text": text,
        "preview_problem": missing,
        "preview_limit": CHANNEL_LIMITS.get(chosen.channel),
        **chain_context(incident, audience=chosen.audience, fill_only=True, author=request.user),
    }


# --- the page ---------------------------------------------------------------------------------------------


def _answer_notice(statement: Statement, submitted: bool) -> str:
    if not submitted:
        return _("“%(title)s” started as v1. Edit it, then submit it for approval.") % {
            "title": statement.title
        }
    first = ChainStep.objects.filter(version_id=statement.current_version_id, order=1).first()
    return _(
        "“%(title)s” v1 is submitted for approval. Step 1 (%(step)s) is waiting; its approvers have been told."
    ) % {"title": statement.title, "step": first.name if first else "—"}


@require_http_methods(["GET", "POST"])
@login_required
def statement_new(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.DRAFT)
    params = request.POST if request.method == "POST" else request.GET
    master = _source(incident, params.get("master"), _("No such master statement in this incident."))
    supersedes = _source(incident, params.get("supersedes"), _("No such statement in this incident."))
    offered = templates_for(incident) if master is None and supersedes is None else []
    wanted = params.get("template")
    chosen = next((t for t in offered if str(t.pk) == wanted), None)
    if chosen is None and not wanted and request.method == "GET" and not params.get("own"):
        chosen = next((t for t in offered if _fits(t, incident)), None)  # the one that fits, ready to fill

    def page(
        form: StatementCreateForm, *, error: str = "", stalled: ChainStalled | None = None, status: int = 200
    ) -> HttpResponse:
        fields = form.fill_fields(chosen.placeholders) if chosen else []
        context: dict[str, Any] = {
            "incident": incident,
            "form": form,
            "templates": offered,
            "chosen": chosen,
            "fill_fields": fields,
            # The first blank still empty gets the cursor: the public name, on a first statement.
            "autofocus_field": next((f.name for f in fields if not f.value()), ""),
            "master": master,
            "supersedes": supersedes,
            "error": error,
            "channel_options": [
                (value, label, CHANNEL_LIMITS.get(value)) for value, label in Channel.choices
            ],
        }
        if chosen is not None:
            context |= _preview(request, incident, chosen, form)
        else:
            source = master or supersedes
            audience = source.audience if source is not None else str(form["audience"].value() or "public")
            context |= chain_context(incident, audience=audience, fill_only=False, author=request.user)
        if stalled is not None:  # the refusal's own words and step, as the service found them under the lock
            context |= {"stalled": stalled, "fix": fix_for(stalled, incident)}
        if wants_fragment(request) and request.htmx.target == "statement-preview":
            return fragment(request, f"{NEW}#statement-preview", context)
        return render(request, NEW, context, status=status)

    if request.method != "POST":
        source = master or supersedes
        values = services.template_values(incident)
        suggested, tomorrow = _suggested_update(incident)
        initial = {
            "idempotency_key": services.new_idempotency_key(),
            "template": chosen.pk if chosen else None,
            "title": source.title if source else "",
            "channel": supersedes.channel if supersedes else "",
            "audience": source.audience if source else "public",
            "language": source.language if source else "en",
            "body": source.current_version.body if source and source.current_version else "",
            "master": master.code if master else None,
            "supersedes": supersedes.code if supersedes else None,
            "fill_next_update_time": suggested,
            "next_update_tomorrow": tomorrow,
            **{f"fill_{k}": v for k, v in values.items()},
        }
        if request.htmx and request.htmx.target == "statement-preview":
            return page(StatementCreateForm(request.GET))  # as typed so far
        return page(StatementCreateForm(initial=initial))
    form = StatementCreateForm(request.POST)
    submit = request.POST.get("and_submit") == "1"

    def change(data: Mapping[str, Any]) -> Statement:
        kwargs: dict[str, Any] = {
            "template": data["template"],
            "fill": form.fill(),
            "next_update_at": form.next_update_at(),
            "title": data["title"],
            "channel": data["channel"],
            "audience": data["audience"] or "public",
            "language": data["language"] or "en",
            "body": data["body"],
            "master": master,
            "supersedes": supersedes,
            "idempotency_key": data["idempotency_key"],
        }
        spend_write(request.user)
        if submit:
            return services.statement_create_and_submit(incident=incident, actor=request.user, **kwargs)
        return services.statement_create(incident=incident, actor=request.user, **kwargs)

    def answer(outcome: Outcome[Statement]) -> HttpResponse:
        if outcome.result is None:
            stalled = outcome.refused if isinstance(outcome.refused, ChainStalled) else None
            return page(form, error=outcome.error, stalled=stalled, status=outcome.status)
        messages.success(request, outcome.notice)
        return redirect(statement_url(outcome.result, incident))

    return act(change, answer, form=form, notice=lambda s: _answer_notice(s, submit))


__all__ = ["statement_new", "templates_for"]
