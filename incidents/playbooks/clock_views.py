"""The room header's regulatory clocks (a region of its own, loaded after the header): each clock's due time
counted from when the organisation became aware, the form to record the notification's reference, and the
"became aware at" time. May import models, forms, this app's clocks and the base app's lifecycle service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from incidents.http import AuthRequest
from incidents.models import Incident, Perm
from incidents.permissions import get_incident_for
from incidents.playbooks.clocks import clock_notified
from incidents.playbooks.models import IncidentClock
from incidents.rules import may_change_status
from incidents.services.lifecycle import incident_set_aware_at
from incidents.views.actions import Outcome, act

TEMPLATE = "playbooks/clocks.html#clocks"


class NotifiedForm(forms.Form):
    reference = forms.CharField(max_length=200)


class AwareForm(forms.Form):
    aware_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


def _render(request: AuthRequest, incident: Incident, status: int = 200, **extra: Any) -> HttpResponse:
    clocks = list(IncidentClock.objects.filter(incident=incident).select_related("deadline", "notified_by"))
    context = {
        "incident": incident,
        "clocks": clocks,
        "may_set_aware": may_change_status(perms=incident.viewer_perms),
        "on_team": Perm.POST in incident.viewer_perms,
        **extra,
    }
    response = render(request, TEMPLATE, context, status=status)
    response.headers["Vary"] = "HX-Request"
    return response


def _answer(request: AuthRequest, incident: Incident, outcome: Outcome[Any]) -> HttpResponse:
    if not request.htmx:
        (messages.error if outcome.error else messages.success)(request, outcome.error or outcome.notice)
        return redirect(incident.room_url)
    fresh = get_incident_for(request.user, incident.code)
    return _render(request, fresh, outcome.status, notice=outcome.notice, error=outcome.error)


@require_GET
@login_required
def clocks(request: AuthRequest, code: UUID) -> HttpResponse:
    return _render(request, get_incident_for(request.user, code))


@require_POST
@login_required
def notified(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST)
    found = IncidentClock.objects.filter(pk=pk, incident=incident).first()
    if found is None:
        raise Http404(_("No such clock in this incident."))

    def change(data: Mapping[str, Any]) -> IncidentClock:
        return clock_notified(clock=found, actor=request.user, reference=data["reference"])

    return act(
        change,
        lambda o: _answer(request, incident, o),
        form=NotifiedForm(request.POST),
        notice=_("Recorded, with its reference. The deadline is done."),
    )


@require_POST
@login_required
def aware(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.CHANGE_STATUS)
    return act(
        lambda data: incident_set_aware_at(incident=incident, actor=request.user, aware_at=data["aware_at"]),
        lambda o: _answer(request, incident, o),
        form=AwareForm(request.POST),
        notice=_("Recorded. The clocks counted from it have moved."),
    )
