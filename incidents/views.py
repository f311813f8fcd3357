from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from incidents import services
from incidents.forms import DeclareForm, ProfileForm, SeverityChangeForm, StatusChangeForm
from incidents.http import AuthRequest, HtmxRequest, render_page_or_fragment
from incidents.models import SEVERITY_MEANING, Incident, InvalidTransition, Severity
from incidents.permissions import Action, can, get_incident_for, visible_incidents
from warroom.redis import redis_ping

PAST_PAGE_SIZE = 50
# Dashboard order: the worst first, then the newest.
_SEVERITY_ORDER = {s.value: i for i, s in enumerate(Severity)}


@require_GET
@login_required
def dashboard(request: AuthRequest) -> HttpResponse:
    incidents = sorted(
        visible_incidents(request.user).open().for_listing(),
        key=lambda i: (_SEVERITY_ORDER[i.severity], -i.declared_at.timestamp()),
    )
    return render_page_or_fragment(
        request, "incidents/dashboard.html", "open-incidents", {"incidents": incidents}
    )


@require_http_methods(["GET", "POST"])
@login_required
def declare(request: AuthRequest) -> HttpResponse:
    form = DeclareForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            incident = services.incident_declare(actor=request.user, **form.cleaned_data)
            messages.success(request, f"{incident.reference} declared. You are the incident commander.")
            if request.htmx:
                return HttpResponseClientRedirect(incident_url(incident))
            return redirect(incident_url(incident))
        status = 422
    else:
        status = 200
    return render_page_or_fragment(
        request,
        "incidents/declare.html",
        "declare-form",
        {"form": form, "severity_meaning": SEVERITY_MEANING},
        status=status,
    )


def incident_url(incident: Incident) -> str:
    return reverse("incidents:room", args=[incident.code])


def _room_context(request: AuthRequest, incident: Incident) -> dict[str, object]:
    return {
        "incident": incident,
        "can_change_status": can(request.user, Action.CHANGE_STATUS, incident),
        "severity_choices": Severity.choices,
        "changes": list(incident.changes.select_related("changed_by").order_by("-changed_at", "-pk")[:20]),
    }


@require_GET
@login_required
def room(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    return render_page_or_fragment(
        request, "incidents/room.html", "incident-header", _room_context(request, incident)
    )


def _header_response(
    request: AuthRequest, incident: Incident, *, error: str = "", status: int = 200
) -> HttpResponse:
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(incident_url(incident))
    context = _room_context(request, incident) | {"header_error": error, "oob": True}
    # One round trip: the new header, plus the change history swapped out-of-band beside it.
    html = render_to_string("incidents/room.html#incident-header", context, request)
    html += render_to_string("incidents/room.html#change-history", context, request)
    return HttpResponse(html, status=status)


@require_POST
@login_required
def change_status(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Action.CHANGE_STATUS)
    form = StatusChangeForm(request.POST)
    if not form.is_valid():
        return _header_response(request, incident, error="That status change was not understood.", status=422)
    try:
        incident = services.incident_change_status(
            incident=incident,
            actor=request.user,
            new_status=form.cleaned_data["status"],
            expected_status=form.cleaned_data["expected"],
            note=form.cleaned_data["note"],
        )
    except services.StaleEdit as exc:
        return _header_response(request, exc.current, error=str(exc), status=409)
    except InvalidTransition as exc:
        return _header_response(request, incident, error=str(exc), status=409)
    return _header_response(request, incident)


@require_POST
@login_required
def change_severity(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Action.CHANGE_STATUS)
    form = SeverityChangeForm(request.POST)
    if not form.is_valid():
        return _header_response(request, incident, error="That severity was not understood.", status=422)
    try:
        incident = services.incident_change_severity(
            incident=incident,
            actor=request.user,
            new_severity=form.cleaned_data["severity"],
            expected_severity=form.cleaned_data["expected"],
            note=form.cleaned_data["note"],
        )
    except services.StaleEdit as exc:
        return _header_response(request, exc.current, error=str(exc), status=409)
    except InvalidTransition as exc:
        return _header_response(request, incident, error=str(exc), status=409)
    return _header_response(request, incident)


@require_GET
@login_required
def past(request: AuthRequest) -> HttpResponse:
    """Resolved and closed incidents, newest first, paged by keyset (no OFFSET, no COUNT)."""
    qs = visible_incidents(request.user).archived().for_listing().order_by("-declared_at", "-pk")
    before = _parse_cursor(request.GET.get("before", ""))
    if before is not None:
        qs = qs.filter(declared_at__lt=before)
    page = list(qs[: PAST_PAGE_SIZE + 1])
    has_more = len(page) > PAST_PAGE_SIZE
    page = page[:PAST_PAGE_SIZE]
    context = {
        "incidents": page,
        "next_cursor": page[-1].declared_at.isoformat() if has_more and page else "",
    }
    return render_page_or_fragment(request, "incidents/past.html", "past-rows", context)


def _parse_cursor(raw: str) -> datetime | None:
    try:
        return parse_datetime(raw) if raw else None
    except ValueError:
        return None


@require_http_methods(["GET", "POST"])
@login_required
def profile(request: AuthRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved. Times are now shown in your time zone.")
        return redirect("profile")
    return render(request, "registration/profile.html", {"form": form}, status=422 if form.errors else 200)


@never_cache
@require_GET
def healthz(request: HtmxRequest) -> HttpResponse:
    """Liveness for load balancers and `make run`: 200 only when PostgreSQL and Redis both answer."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure is the answer, not a crash
        checks["database"] = f"error: {type(exc).__name__}"
    checks["redis"] = "ok" if redis_ping() else "error: unreachable"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503)
