"""The dashboard, the room page and its header (status and severity changes), the profile, the health check.

Declaring and the archive of past incidents are served by the playbooks and reviews apps (routed in
warroom/urls.py under this app's names), so nothing here imports them. May import models, forms, rules,
permissions, services and the other views of this package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents import live, services
from incidents.accounts.stepup import step_up_required
from incidents.forms import ProfileForm, RestrictionChangeForm, SeverityChangeForm, StatusChangeForm
from incidents.http import AuthRequest, HtmxRequest, render_page_or_fragment, wants_fragment
from incidents.models import (
    Incident,
    IncidentRole,
    NotAllowed,
    Notification,
    Severity,
    TimelineEntry,
)
from incidents.permissions import (
    get_incident_for,
    may_declare,
    open_incidents_for_listing,
)
from incidents.rules import may_change_restriction, may_change_status
from incidents.views.actions import Outcome, act
from incidents.views.statements import room_statements_context
from incidents.views.summary import summary_context
from incidents.views.team import team_add_preset, team_context
from incidents.views.timeline import timeline_context
from warroom.launcher.state import read_state
from warroom.redis import redis_ping

# Dashboard order: the worst first, then the newest.
_SEVERITY_ORDER = {s.value: i for i, s in enumerate(Severity)}


@require_GET
@login_required
def dashboard(request: AuthRequest) -> HttpResponse:
    user = request.user
    # Each live region of the dashboard fetches itself (static/js/live.js names it in HX-Target) and gets only
    # what it shows: the notifications panel, re-fetched on every notification a person gets, neither reads
    # the incident listing nor signs the page's stream address.
    target = request.htmx.target if request.htmx else None
    part = target if target in _DASHBOARD_PARTS else "open-incidents"
    whole = not wants_fragment(request)
    context: dict[str, object] = {}
    if whole or part != "dash-notifications":
        newest_first = open_incidents_for_listing(user)
        context["incidents"] = sorted(
            newest_first,
            key=lambda i: (_SEVERITY_ORDER[i.severity], -i.declared_at.timestamp()),
        )
        # My incidents and my roles in them come with the same rows (newest first): the open incidents I see
        # in which I hold a role now.
        context["my_incidents"] = [
            {
                "incident": incident,
                "roles": [IncidentRole(name=name, is_command=command) for name, command in roles],
            }
            for incident in newest_first
            if (roles := incident.__dict__["viewer_roles"])
        ]
    if whole or part == "dash-notifications":
        # Notifications about a restricted incident are deleted when access to it ends (team services).
        context["notifications"] = list(
            Notification.objects.filter(recipient=user, read_at__isnull=True)[:10]
        )
    if whole or part == "open-incidents":
        context["may_declare"] = may_declare(user)
    if whole:
        context["page_live_stream"] = live.live_url(user=user, dash=True)
    return render_page_or_fragment(request, "incidents/dashboard.html", part, context)


_DASHBOARD_PARTS = frozenset({"open-incidents", "my-incidents", "dash-notifications"})


@require_GET
@login_required
def live_stream(request: AuthRequest) -> JsonResponse:
    """A freshly signed address for the page's nudge stream (its pass expires; static/js/live.js asks
    again when the stream is refused). The incident's is given only to those who may see it (404)."""
    code = request.GET.get("incident")
    incident = None
    if code:
        try:
            incident = get_incident_for(request.user, UUID(code))
        except ValueError:
            raise Http404(_("No such incident.")) from None
    url = live.live_url(user=request.user, incident=incident, dash=request.GET.get("dash") == "1")
    response = JsonResponse({"url": url})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def mark_notifications_read(request: AuthRequest) -> HttpResponse:
    Notification.objects.filter(recipient=request.user, read_at__isnull=True).update(read_at=timezone.now())
    live.notifications_read(request.user.pk)
    return redirect("incidents:dashboard")


def _header_context(request: AuthRequest, incident: Incident) -> dict[str, object]:
    return {
        "incident": incident,
        "can_change_status": may_change_status(perms=incident.viewer_perms),
        "can_change_restriction": may_change_restriction(
            actor=request.user, perms=incident.viewer_perms, commander_id=incident.commander_id
        ),
        "severity_choices": Severity.choices,
    }


def _room_context(request: AuthRequest, incident: Incident) -> dict[str, object]:
    return (
        team_context(request.user, incident) | _header_context(request, incident) | summary_context(incident)
    )


@require_GET
@login_required
def room(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    if wants_fragment(request):
        # The header alone (its live region re-fetching itself): none of the room's other queries.
        header = _header_context(request, incident)
        return render_page_or_fragment(request, "incidents/room.html", "incident-header", header)
    context = (
        _room_context(request, incident)
        | timeline_context(request, incident)
        | room_statements_context(incident)
        | team_add_preset(incident, request.GET.get("add_role"))
    )
    return render_page_or_fragment(request, "incidents/room.html", "incident-header", context)


def _header_response(
    request: AuthRequest,
    incident: Incident,
    perms: frozenset[str],
    *,
    error: str = "",
    status: int = 200,
    since: int | None = None,
) -> HttpResponse:
    incident.viewer_perms = perms  # the service hands back a freshly locked row
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(incident.room_url)
    context = _room_context(request, incident) | {"header_error": error}
    html: str = render_to_string("incidents/room.html#incident-header", context, request)
    if since is not None:
        # The timeline entries this change wrote, in the same round trip (the live stream brings them too;
        # the page keeps whichever copy arrives first).
        new = TimelineEntry.objects.filter(incident=incident, seq__gt=since).order_by("-seq")
        entries = "".join(new.values_list("html", flat=True))
        if entries:
            html += f'<div hx-swap-oob="afterbegin:#timeline-entries">{entries}</div>'
    return HttpResponse(html, status=status)


def _apply_header_change(
    request: AuthRequest,
    code: UUID,
    form: forms.Form,
    change: Callable[[Incident, Mapping[str, Any]], Incident],
) -> HttpResponse:
    """Status and severity changes: same rule, same refusals, same answer (the new header)."""
    incident = get_incident_for(request.user, code)
    may_change_status.check(perms=incident.viewer_perms)  # the service asks again, under its lock
    perms = incident.viewer_perms

    def answer(outcome: Outcome[Incident]) -> HttpResponse:
        if isinstance(outcome.refused, NotAllowed):
            raise outcome.refused  # roles changed since the page was loaded: a 403 like the door's
        if outcome.result is not None:
            return _header_response(request, outcome.result, perms, since=incident.timeline_seq)
        # A stale edit answers with the header as it stands now; any other refusal with the one we read.
        current = outcome.refused.current if isinstance(outcome.refused, services.StaleEdit) else incident
        return _header_response(request, current, perms, error=outcome.error, status=outcome.status)

    return act(
        lambda data: change(incident, data), answer, form=form, invalid=_("That change was not understood.")
    )


@require_POST
@login_required
def change_status(request: AuthRequest, code: UUID) -> HttpResponse:
    return _apply_header_change(
        request,
        code,
        StatusChangeForm(request.POST),
        lambda incident, data: services.incident_change_status(
            incident=incident,
            actor=request.user,
            new_status=data["status"],
            expected_status=data["expected"],
            note=data["note"],
        ),
    )


@require_POST
@login_required
def change_severity(request: AuthRequest, code: UUID) -> HttpResponse:
    return _apply_header_change(
        request,
        code,
        SeverityChangeForm(request.POST),
        lambda incident, data: services.incident_change_severity(
            incident=incident,
            actor=request.user,
            new_severity=data["severity"],
            expected_severity=data["expected"],
            note=data["note"],
        ),
    )


@require_POST
@login_required
@step_up_required
def change_restriction(request: AuthRequest, code: UUID) -> HttpResponse:
    """Restrict the incident to its team or lift that: the commander's call, with a reason and a fresh
    second-factor check (R11), like approving; the step-up prompt comes first and nothing is recorded
    until it passes."""
    incident = get_incident_for(request.user, code)
    may_change_restriction.check(
        actor=request.user, perms=incident.viewer_perms, commander_id=incident.commander_id
    )
    perms = incident.viewer_perms

    def answer(outcome: Outcome[Incident]) -> HttpResponse:
        if isinstance(outcome.refused, NotAllowed):
            raise outcome.refused
        if outcome.result is not None:
            return _header_response(request, outcome.result, perms, since=incident.timeline_seq)
        current = outcome.refused.current if isinstance(outcome.refused, services.StaleEdit) else incident
        return _header_response(request, current, perms, error=outcome.error, status=outcome.status)

    return act(
        lambda data: services.incident_change_restriction(
            incident=incident,
            actor=request.user,
            restricted=data["visibility"] == "restricted",
            expected_restricted=data["expected"] == "restricted",
            reason=data["reason"],
        ),
        answer,
        form=RestrictionChangeForm(request.POST),
        invalid=_("Give a reason for changing who may see this incident."),
    )


@require_http_methods(["GET", "POST"])
@login_required
def profile(request: AuthRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(
            request, _("Profile saved. Times are now shown in your time zone, in your language.")
        )
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
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded", **checks}
    # Under `make run`: how often its supervisor restarted each process, and why the last one ended.
    supervisor = read_state(settings.SUPERVISOR_STATE_FILE)
    if supervisor is not None:
        body["supervisor"] = supervisor
    return JsonResponse(body, status=200 if healthy else 503)
