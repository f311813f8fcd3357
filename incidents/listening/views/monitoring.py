"""The organisation's monitoring page (alerts, chart, mentions), spike alerts, and actions on one mention.

Everyone signed in may look (mentions are public posts); configuring, declaring and dismissing are for
crisis managers and administrators. Mentions of an incident follow that incident's visibility: invisible
means 404, like everything of a restricted incident.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.db.models import Count, F, Max, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from incidents import live
from incidents.http import AuthRequest, render_page_or_fragment, wants_fragment
from incidents.listening import charts
from incidents.listening.forms import DeclareForm, DismissForm, HideForm, SentimentForm
from incidents.listening.models import (
    AlertState,
    HideState,
    Mention,
    MentionHide,
    MentionPlatform,
    Sentiment,
    SpikeAlert,
    Watch,
)
from incidents.listening.services import Conflict, ListeningError
from incidents.listening.services.alerts import alert_declare, alert_dismiss, proposal
from incidents.listening.services.moderation import hide_decide, hide_request, sentiment_tag, unhide
from incidents.listening.views.room import must_see_mention
from incidents.models import Platform, Scenario, Severity
from incidents.permissions import may_declare, visible_incidents

PAGE = "listening/monitoring.html"
LIST_SIZE = 30
TERMS_SAMPLE = 500
_WORD = re.compile(r"[#@]?[^\W\d_][\w'\u2019-]{2,}", re.UNICODE)
# Words too common to say anything in a "top terms" list (English; other languages show their own words).
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "that",
        "this",
        "with",
        "you",
        "your",
        "are",
        "was",
        "were",
        "have",
        "has",
        "had",
        "not",
        "but",
        "they",
        "them",
        "their",
        "our",
        "from",
        "just",
        "all",
        "can",
        "will",
        "what",
        "when",
        "who",
        "why",
        "how",
        "its",
        "it's",
        "i'm",
        "get",
        "got",
        "out",
        "about",
        "again",
        "been",
        "more",
        "than",
        "then",
        "there",
        "here",
        "very",
        "also",
        "after",
        "before",
        "into",
        "over",
        "some",
        "any",
        "one",
        "two",
        "via",
        "amp",
        "https",
        "http",
        "www",
        "com",
        "would",
        "could",
        "should",
        "did",
        "does",
        "don't",
        "dont",
        "still",
        "even",
        "only",
        "being",
        "today",
        "now",
        "new",
        "like",
    ]
)


def _watches(user: Any) -> list[Watch]:
    """The organisation's watches, and the watches of incidents this user may see."""
    visible = visible_incidents(user).values("pk")
    return list(
        Watch.objects.filter(is_active=True)
        .filter(Q(incident__isnull=True) | Q(incident__in=visible))
        .select_related("incident")
        .order_by(F("incident_id").asc(nulls_first=True), "pk")
    )


def _chosen(request: AuthRequest, watches: list[Watch]) -> list[Watch]:
    wanted = request.GET.get("watch", "")
    if wanted:
        chosen = [w for w in watches if str(w.code) == wanted]
        if not chosen:
            raise Http404(_("No such watch."))
        return chosen
    # By default the oldest organisation watch (usually the brand): watches overlap, so summing them would
    # count a mention about the brand's app twice.
    return [w for w in watches if w.incident_id is None][:1]


def _filters(request: AuthRequest) -> dict[str, str]:
    g = request.GET
    return {
        "sentiment": g.get("sentiment", "") if g.get("sentiment", "") in Sentiment.values else "",
        "platform": g.get("platform", "") if g.get("platform", "") in MentionPlatform.values else "",
        "language": g.get("language", "")[:8],
        "min_reach": g.get("min_reach", "") if g.get("min_reach", "").isdigit() else "",
        "hidden": "1" if g.get("hidden") == "1" else "",
    }


def _mentions(watches: list[Watch], filters: dict[str, str], before: str) -> tuple[list[Mention], str]:
    ids = [w.pk for w in watches]
    incident_watches = [w for w in watches if w.incident_id]
    query = Q(watch_ids__overlap=[w.pk for w in watches if not w.incident_id])
    for w in incident_watches:
        query |= Q(incident_id=w.incident_id, incident_watch_id=w.pk)
    rows = Mention.objects.filter(query) if ids else Mention.objects.none()
    rows = rows.filter(is_hidden=bool(filters["hidden"]))
    if filters["sentiment"]:
        rows = rows.filter(sentiment=filters["sentiment"])
    if filters["platform"]:
        rows = rows.filter(platform=filters["platform"])
    if filters["language"]:
        rows = rows.filter(language=filters["language"])
    if filters["min_reach"]:
        rows = rows.filter(author_reach__gte=int(filters["min_reach"]))
    at, _sep, pk = before.partition("_")
    cursor = parse_datetime(at) if at else None
    if cursor is not None and pk.isdigit():  # keyset: never OFFSET
        rows = rows.filter(Q(published_at__lt=cursor) | Q(published_at=cursor, id__lt=int(pk)))
    page = list(rows.select_related("source", "incident").order_by("-published_at", "-id")[: LIST_SIZE + 1])
    more = ""
    if len(page) > LIST_SIZE:
        last = page[LIST_SIZE - 1]
        more = f"{last.published_at.isoformat()}_{last.pk}"
    return page[:LIST_SIZE], more


def _context(request: AuthRequest, *, with_list: bool = True, **extra: Any) -> dict[str, Any]:
    watches = _watches(request.user)
    chosen = _chosen(request, watches)
    span = request.GET.get("range", "24h") if request.GET.get("range") in charts.RANGES else "24h"
    now = timezone.now()
    incident_ids = [w.incident_id for w in chosen if w.incident_id]
    chart = charts.build(
        [w.pk for w in chosen], start=now - charts.RANGES[span], end=now, incident_ids=incident_ids
    )
    alerts = list(  # open ones and the latest decisions, in one query
        SpikeAlert.objects.filter(watch__incident__isnull=True)
        .select_related("watch", "incident", "decided_by")
        .order_by("-created_at")[:30]
    )
    filters = _filters(request)
    # The alerts-and-chart region reads rollups only; the mention list is its own region.
    mentions, more = _mentions(chosen, filters, request.GET.get("before", "")) if with_list else ([], "")
    return {
        "watches": watches,
        "chosen": chosen,
        "chosen_ids": {w.pk for w in chosen},
        "watch_code": request.GET.get("watch", ""),
        "range": span,
        "ranges": list(charts.RANGES),
        "chart": chart,
        "filters": filters,
        "mentions": mentions,
        "more": more,
        "sentiments": Sentiment.choices,
        "platforms": MentionPlatform.choices,
        "alerts": [a for a in alerts if a.state == AlertState.OPEN][:10],
        "recent_alerts": [a for a in alerts if a.state != AlertState.OPEN][:5],
        "pending_hides": list(
            MentionHide.objects.filter(state=HideState.PENDING, incident__isnull=True).select_related(
                "mention", "requested_by"
            )
        ),
        "is_manager": may_declare(request.user),
        "live_url": _live_region_url(request),
        "page_live_stream": lambda: live.live_url(user=request.user, dash=True),
    } | extra


def _live_region_url(request: AuthRequest) -> str:
    """The monitoring body as it is shown (watch, range), for live.js to fetch when it is nudged."""
    params = request.GET.copy()
    for name in ("before", "region"):
        params.pop(name, None)
    params["region"] = "monitoring-body"
    return f"{reverse('listening:monitoring')}?{params.urlencode()}"


@require_GET
def monitoring(request: AuthRequest) -> HttpResponse:
    fragment = request.GET.get("region", "monitoring-body")
    if fragment not in ("monitoring-body", "mention-list", "mention-rows"):
        fragment = "monitoring-body"
    context = _context(request, with_list=not (wants_fragment(request) and fragment == "monitoring-body"))
    return render_page_or_fragment(request, PAGE, fragment, context)


@require_GET
def insights(request: AuthRequest) -> HttpResponse:
    """Top authors by reach and top terms of the chosen watches in the range (its own request: it reads
    mentions of the window, which the chart never does)."""
    chosen = _chosen(request, _watches(request.user))
    span = request.GET.get("range", "24h") if request.GET.get("range") in charts.RANGES else "24h"
    since = timezone.now() - charts.RANGES[span]
    window = _window(chosen, since)
    authors = list(
        window.exclude(author_handle="")
        .values("author_handle")
        .annotate(
            reach=Max("author_reach"),
            n=Count("id"),
            negative=Count("id", filter=Q(sentiment=Sentiment.NEGATIVE)),
        )
        .order_by("-reach", "-n")[:8]
    )
    texts = list(window.order_by("-published_at").values_list("text", flat=True)[:TERMS_SAMPLE])
    own = {t.casefold() for w in chosen for t in w.include_terms}
    counts: Counter[str] = Counter()
    for text in texts:
        words = {w.casefold().strip("'\u2019-") for w in _WORD.findall(text)}
        counts.update(w for w in words if w not in _STOP and w not in own and len(w) > 2)
    context = {"authors": authors, "terms": counts.most_common(12), "sampled": len(texts), "range": span}
    return render_page_or_fragment(request, "listening/insights.html", "insights", context)


def _window(chosen: list[Watch], since: datetime) -> Any:
    query = Q(watch_ids__overlap=[w.pk for w in chosen if not w.incident_id])
    for w in chosen:
        if w.incident_id:
            query |= Q(incident_id=w.incident_id, incident_watch_id=w.pk)
    return Mention.objects.filter(query, published_at__gte=since, is_hidden=False)


# --- alerts ---------------------------------------------------------------------------------------------------


def _alert(code: UUID) -> SpikeAlert:
    alert = (
        SpikeAlert.objects.select_related("watch", "watch__incident", "incident", "decided_by")
        .filter(code=code)
        .first()
    )
    if alert is None or (
        alert.watch.incident_id is not None
        and alert.watch.incident is not None
        and alert.watch.incident.is_restricted
    ):
        raise Http404(_("No such alert."))
    return alert


def _playbooks(scenario: str) -> list[Any]:
    from incidents.playbooks.models import Playbook

    return list(Playbook.objects.active().filter(scenario=scenario).order_by("name"))


def _alert_page(
    request: AuthRequest,
    alert: SpikeAlert,
    *,
    status: int = 200,
    error: str = "",
    form: DeclareForm | None = None,
) -> HttpResponse:
    plan = proposal(alert)
    context = {
        "alert": alert,
        "plan": plan,
        "form": form,
        "error": error,
        "is_manager": may_declare(request.user),
        "can_act": may_declare(request.user),
        "scenario_choices": Scenario.choices,
        "severity_choices": Severity.choices,
        "platform_choices": Platform.choices,
        "playbooks": _playbooks(
            form.data.get("scenario", plan.scenario) if form is not None else plan.scenario
        ),
        "page_live_stream": lambda: live.live_url(user=request.user, dash=True),
        "incident_visible": alert.incident_id is not None
        and visible_incidents(request.user).filter(pk=alert.incident_id or 0).exists(),
    }
    return render_page_or_fragment(request, "listening/alert.html", "alert-body", context, status=status)


@require_GET
def alert(request: AuthRequest, alert: UUID) -> HttpResponse:
    return _alert_page(request, _alert(alert))


@require_POST
def alert_declare_view(request: AuthRequest, alert: UUID) -> HttpResponse:
    found = _alert(alert)
    form = DeclareForm(request.POST, mention_ids=list(found.top_mentions))
    if not form.is_valid():
        error = next(
            (str(e) for errors in form.errors.values() for e in errors), _("That was not understood.")
        )
        return _alert_page(request, found, status=422, error=error, form=form)
    data = form.cleaned_data
    version = None
    if data["playbook"]:
        from incidents.playbooks.declaring import version_to_declare

        version = version_to_declare(data["playbook"])
        if version is None:
            return _alert_page(
                request, found, status=422, error=_("That playbook no longer exists."), form=form
            )
    try:
        incident = alert_declare(
            alert=found,
            actor=request.user,
            title=data["title"],
            scenario=data["scenario"],
            severity=data["severity"],
            summary=data["summary"],
            platforms=data["platforms"],
            attach=data["attach"],
            playbook_version=version,
            is_restricted=data["is_restricted"],
        )
    except ListeningError as exc:
        found.refresh_from_db()
        return _alert_page(request, found, status=409, error=str(exc), form=form)
    messages.success(
        request,
        _("Declared %(ref)s from the spike. The room shows its mentions and queue.")
        % {"ref": incident.reference},
    )
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": incident.room_url})
    return redirect(incident.room_url)


@require_POST
def alert_dismiss_view(request: AuthRequest, alert: UUID) -> HttpResponse:
    found = _alert(alert)
    form = DismissForm(request.POST)
    if not form.is_valid():
        return _alert_page(request, found, status=422, error=_("Say why this spike needs no incident."))
    try:
        alert_dismiss(alert=found, actor=request.user, reason=form.cleaned_data["reason"])
    except ListeningError as exc:
        found.refresh_from_db()
        return _alert_page(request, found, status=409, error=str(exc))
    messages.success(request, _("Dismissed; the reason is kept with the alert."))
    return redirect("listening:monitoring")


# --- one mention: sentiment, hide, show again ------------------------------------------------------------------


def _mention(request: AuthRequest, pk: int) -> Mention:
    mention = Mention.objects.select_related("incident", "source").filter(pk=pk).first()
    if mention is None:
        raise Http404(_("No such mention."))
    must_see_mention(request, mention)
    return mention


def _mention_answer(
    request: AuthRequest, mention: Mention, *, status: int = 200, notice: str = "", error: str = ""
) -> HttpResponse:
    if not wants_fragment(request):
        if error:
            messages.error(request, error)
        elif notice:
            messages.success(request, notice)
        back = request.POST.get("next", "")
        return redirect(
            back if back.startswith("/") and not back.startswith("//") else "listening:monitoring"
        )
    mention.refresh_from_db()
    context = {
        "m": mention,
        "row_notice": notice,
        "row_error": error,
        "is_manager": may_declare(request.user),
    }
    return render_page_or_fragment(request, "listening/_mention.html", "mention-row", context, status=status)


@require_POST
def mention_sentiment(request: AuthRequest, pk: int) -> HttpResponse:
    mention = _mention(request, pk)
    form = SentimentForm(request.POST)
    if not form.is_valid():
        return _mention_answer(request, mention, status=422, error=_("Choose negative, neutral or positive."))
    try:
        sentiment_tag(mention=mention, actor=request.user, label=form.cleaned_data["label"])
    except ListeningError as exc:
        return _mention_answer(request, mention, status=422, error=str(exc))
    return _mention_answer(request, mention, notice=_("Tagged."))


@require_POST
def mention_hide(request: AuthRequest, pk: int) -> HttpResponse:
    mention = _mention(request, pk)
    form = HideForm(request.POST)
    if not form.is_valid():
        error = next(
            (str(e) for errors in form.errors.values() for e in errors), _("That was not understood.")
        )
        return _mention_answer(request, mention, status=422, error=error)
    try:
        hide = hide_request(mention=mention, actor=request.user, **form.cleaned_data)
    except Conflict as exc:
        return _mention_answer(request, mention, status=409, error=str(exc))
    except ListeningError as exc:
        return _mention_answer(request, mention, status=422, error=str(exc))
    if hide.state == HideState.PENDING:
        return _mention_answer(
            request, mention, notice=_("Asked: it stays visible until a second person agrees.")
        )
    return _mention_answer(request, mention, notice=_("Hidden; the reason is on record."))


@require_POST
def mention_unhide(request: AuthRequest, pk: int) -> HttpResponse:
    mention = _mention(request, pk)
    try:
        unhide(mention=mention, actor=request.user, reason=request.POST.get("reason", ""))
    except Conflict as exc:
        return _mention_answer(request, mention, status=409, error=str(exc))
    except ListeningError as exc:
        return _mention_answer(request, mention, status=422, error=str(exc))
    return _mention_answer(request, mention, notice=_("Shown again."))


@require_POST
def hide_decide_view(request: AuthRequest, pk: int) -> HttpResponse:
    hide = MentionHide.objects.select_related("mention", "mention__incident").filter(id=pk).first()
    if hide is None:
        raise Http404(_("No such request."))
    must_see_mention(request, hide.mention)
    approve = request.POST.get("decision") == "approve"
    try:
        hide_decide(hide=hide, actor=request.user, approve=approve, note=request.POST.get("note", ""))
    except Conflict as exc:
        return _mention_answer(request, hide.mention, status=409, error=str(exc))
    except ListeningError as exc:
        return _mention_answer(request, hide.mention, status=422, error=str(exc))
    return _mention_answer(
        request,
        hide.mention,
        notice=_("Hidden, with both of you on record.") if approve else _("Refused: it stays visible."),
    )
