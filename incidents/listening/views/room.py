"""The room's mentions panel and the incident's response queue.

The panel loads in its own request right after the room (the room keeps its query budget) and refreshes
when a listening change of its incident is nudged (incidents/listening/push.py, static/js/live.js). Every action answers
with the region it changed: 409 for a stale or lost click (someone else claimed it), 422 for bad input,
nothing changed in either case.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from incidents import live
from incidents.http import AuthRequest, render_page_or_fragment, wants_fragment
from incidents.listening import charts
from incidents.listening.forms import CloseForm, DrillForm, ReplyForm, VersionedForm, WatchForm
from incidents.listening.models import (
    DrillSpike,
    HideState,
    Mention,
    MentionHide,
    ReplyTemplate,
    ResponseItem,
    Watch,
)
from incidents.listening.services import Conflict, ListeningError
from incidents.listening.services.drills import drill_spike_start
from incidents.listening.services.queue import (
    item_add,
    item_claim,
    item_close,
    item_release,
    item_reply,
    queue_counts,
    reply_choices,
)
from incidents.listening.services.watches import (
    WatchFields,
    incident_watch_proposal,
    incident_watch_start,
    parse_terms,
)
from incidents.models import Incident, Perm, StatementVersion, User
from incidents.permissions import get_incident_for

PANEL = "listening/panel.html"
QUEUE = "listening/queue.html"
PANEL_ITEMS = 5
RECENT = 8


def _range(request: AuthRequest, incident: Incident) -> str:
    wanted = request.GET.get("range", "")
    if wanted in charts.RANGES:
        return wanted
    return "6h" if timezone.now() - incident.declared_at < timedelta(hours=5) else "24h"


def panel_context(request: AuthRequest, incident: Incident, **extra: Any) -> dict[str, Any]:
    watch = Watch.objects.filter(incident=incident, is_active=True).first()
    now = timezone.now()
    span = _range(request, incident)
    context: dict[str, Any] = {
        "incident": incident,
        "watch": watch,
        "range": span,
        "ranges": list(charts.RANGES),
        "can_act": Perm.POST in incident.viewer_perms,
        "can_lead": Perm.CHANGE_STATUS in incident.viewer_perms,
        "panel_loaded": True,
        # Its own page's nudge stream (signed only when the whole page renders, not for the room's fetch).
        "page_live_stream": lambda: live.live_url(user=request.user, incident=incident),
    }
    if watch is None:
        proposal = incident_watch_proposal(incident)
        context["proposal"] = proposal
        context["proposal_include"] = "\n".join(proposal.include_terms)
        context["proposal_exclude"] = "\n".join(proposal.exclude_terms)
    else:
        chart = charts.build([watch.pk], start=now - charts.RANGES[span], end=now, incident_ids=[incident.pk])
        context["chart"] = chart
        context["comparisons"] = charts.before_after([watch.pk], [incident.pk])
    items = list(
        ResponseItem.objects.filter(incident=incident, state__in=ResponseItem.OPEN_STATES)
        .select_related("mention", "claimed_by")
        .order_by("-reach", "created_at")[:PANEL_ITEMS]
    )
    context["queue_items"] = items
    context["queue_counts"] = queue_counts(incident)
    context["recent"] = list(
        Mention.objects.filter(incident=incident, is_hidden=False).select_related("source")[:RECENT]
    )
    context["pending_hides"] = list(
        MentionHide.objects.filter(incident=incident, state=HideState.PENDING).select_related(
            "mention", "requested_by"
        )
    )
    if incident.is_drill:
        context["drill_spikes"] = list(DrillSpike.objects.filter(incident=incident)[:3])
        context["drill_form"] = extra.pop("drill_form", None) or DrillForm()
    return context | extra


def _panel(
    request: AuthRequest,
    incident: Incident,
    *,
    status: int = 200,
    notice: str = "",
    error: str = "",
    **extra: Any,
) -> HttpResponse:
    if not wants_fragment(request) and request.method == "POST":
        if error:
            messages.error(request, error)
        elif notice:
            messages.success(request, notice)
        return redirect(f"{incident.room_url}#mentions-panel")
    context = panel_context(request, incident, panel_notice=notice, panel_error=error, **extra)
    return render_page_or_fragment(request, PANEL, "mentions-panel", context, status=status)


@require_GET
def mentions_panel(request: AuthRequest, code: UUID) -> HttpResponse:
    return _panel(request, get_incident_for(request.user, code))


# --- the queue page ---------------------------------------------------------------------------------------------


def queue_context(incident: Incident, *, user: User, **extra: Any) -> dict[str, Any]:
    items = list(
        ResponseItem.objects.filter(incident=incident)
        .select_related("mention", "mention__source", "claimed_by", "replied_by", "closed_by", "deadline")
        .order_by("-reach", "created_at")[:300]
    )
    templates, versions = reply_choices(incident)
    return {
        "incident": incident,
        "page_live_stream": lambda: live.live_url(user=user, incident=incident),
        "open_items": [i for i in items if i.is_open],
        "done_items": [i for i in items if not i.is_open],
        "counts": queue_counts(incident),
        "templates": templates,
        "statement_versions": versions,
        "can_act": Perm.POST in incident.viewer_perms,
        "can_lead": Perm.CHANGE_STATUS in incident.viewer_perms,
        "close_reasons": ResponseItem._meta.get_field("close_reason").choices,
    } | extra


def _queue(
    request: AuthRequest,
    incident: Incident,
    *,
    status: int = 200,
    notice: str = "",
    error: str = "",
    **extra: Any,
) -> HttpResponse:
    if request.POST.get("from") == "panel":
        return _panel(request, incident, status=status, notice=notice, error=error)
    if not wants_fragment(request) and request.method == "POST":
        if error:
            messages.error(request, error)
        elif notice:
            messages.success(request, notice)
        return redirect("listening:queue", code=incident.code)
    context = queue_context(incident, user=request.user, queue_notice=notice, queue_error=error, **extra)
    return render_page_or_fragment(request, QUEUE, "queue-list", context, status=status)


@require_GET
def queue(request: AuthRequest, code: UUID) -> HttpResponse:
    return _queue(request, get_incident_for(request.user, code))


def _item(incident: Incident, pk: int) -> ResponseItem:
    item = ResponseItem.objects.select_related("incident", "mention").filter(pk=pk, incident=incident).first()
    if item is None:
        raise Http404(_("No such item in this incident's queue."))
    return item


def _version(request: AuthRequest) -> int | None:
    form = VersionedForm(request.POST)
    return form.cleaned_data["version"] if form.is_valid() else None


@require_POST
def claim(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST)
    try:
        item_claim(item=_item(incident, pk), actor=request.user)
    except Conflict as exc:
        return _queue(request, incident, status=409, error=str(exc))
    return _queue(request, incident, notice=_("It's yours: answer it or close it."), opened=pk)


@require_POST
def release(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST)
    try:
        item_release(item=_item(incident, pk), actor=request.user, expected_version=_version(request))
    except Conflict as exc:
        return _queue(request, incident, status=409, error=str(exc))
    return _queue(request, incident, notice=_("Released for someone else."))


@require_POST
def reply(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST)
    target = _item(incident, pk)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        error = next(
            (str(e) for errors in form.errors.values() for e in errors), _("That was not understood.")
        )
        return _queue(request, incident, status=422, error=error, opened=pk, reply_form=form)
    data = form.cleaned_data
    template = version = None
    kind, _sep, ref = data["use"].partition(":")
    if kind == "template" and ref.isdigit():
        template = ReplyTemplate.objects.filter(pk=int(ref), is_active=True).first()
    elif kind == "statement" and ref.isdigit():
        version = (
            StatementVersion.objects.select_related("statement")
            .filter(pk=int(ref), statement__incident=incident)
            .first()
        )
    if kind and template is None and version is None:
        return _queue(
            request,
            incident,
            status=422,
            error=_("That template or statement is no longer available."),
            opened=pk,
            reply_form=form,
        )
    try:
        item_reply(
            item=target,
            actor=request.user,
            text=data["text"],
            posted_url=data["posted_url"],
            expected_version=data["version"],
            template=template,
            statement_version=version,
        )
    except Conflict as exc:
        return _queue(request, incident, status=409, error=str(exc))
    except ListeningError as exc:
        return _queue(request, incident, status=422, error=str(exc), opened=pk, reply_form=form)
    return _queue(request, incident, notice=_("Reply recorded; it is on the timeline."))


@require_POST
def close(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST)
    form = CloseForm(request.POST)
    if not form.is_valid():
        error = next(
            (str(e) for errors in form.errors.values() for e in errors), _("That was not understood.")
        )
        return _queue(request, incident, status=422, error=error, opened=pk)
    try:
        item_close(
            item=_item(incident, pk),
            actor=request.user,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
            expected_version=form.cleaned_data["version"],
        )
    except Conflict as exc:
        return _queue(request, incident, status=409, error=str(exc))
    except ListeningError as exc:
        return _queue(request, incident, status=422, error=str(exc), opened=pk)
    return _queue(request, incident, notice=_("Closed."))


@require_POST
def add_to_queue(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST)
    found = Mention.objects.select_related("incident").filter(pk=pk, incident=incident).first()
    if found is None:
        raise Http404(_("No such mention in this incident."))
    try:
        item_add(mention=found, actor=request.user)
    except (Conflict, ListeningError) as exc:
        return _queue(request, incident, status=409, error=str(exc))
    return _queue(request, incident, notice=_("Added to the queue."))


@require_POST
def watch_start(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.CHANGE_STATUS)
    form = WatchForm(request.POST)
    if not form.is_valid():
        error = next(
            (str(e) for errors in form.errors.values() for e in errors), _("That was not understood.")
        )
        return _panel(request, incident, status=422, error=error)
    data = form.cleaned_data
    try:
        incident_watch_start(
            incident=incident,
            actor=request.user,
            fields=WatchFields(
                name=data["name"],
                include_terms=parse_terms(data["include_terms"]),
                exclude_terms=parse_terms(data["exclude_terms"]),
                min_volume=data["min_volume"],
                negative_share=data["negative_share"],
                queue_min_reach=data["queue_min_reach"],
                sla_min_reach=data["sla_min_reach"],
            ),
        )
    except ListeningError as exc:
        return _panel(request, incident, status=422, error=str(exc))
    return _panel(
        request, incident, notice=_("Listening for this incident. The last day's matching mentions are in.")
    )


@require_POST
def drill_spike(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.CHANGE_STATUS)
    form = DrillForm(request.POST)
    if not form.is_valid():
        return _panel(
            request,
            incident,
            status=422,
            error=_("Check the numbers of the rehearsed spike."),
            drill_form=form,
        )
    try:
        drill_spike_start(incident=incident, actor=request.user, **form.cleaned_data)
    except ListeningError as exc:
        return _panel(request, incident, status=422, error=str(exc), drill_form=form)
    return _panel(
        request, incident, notice=_("DRILL spike started: synthetic mentions arrive over the next minutes.")
    )


def must_see_mention(request: AuthRequest, mention: Mention) -> None:
    """A mention of an incident the user may not see does not exist for them (404)."""
    if mention.incident is not None:
        get_incident_for(request.user, mention.incident.code, people=False)
    elif not request.user.is_active:
        raise PermissionDenied


@require_GET
def review_metrics(request: AuthRequest, code: UUID) -> HttpResponse:
    """The listening section of the post-incident review (loaded by the review page in its own request)."""
    from incidents.listening.metrics import listening_metrics

    incident = get_incident_for(request.user, code)
    context = {"incident": incident, "lm": listening_metrics(incident)}
    return render_page_or_fragment(request, "listening/review_metrics.html", "listening-metrics", context)
