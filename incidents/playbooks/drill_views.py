"""Pausing and resuming a drill from its room header (plain forms: the header is rebuilt on the room page the
answer redirects to, with the outcome as a message). May import this app's drills and the base app's views."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from incidents.http import AuthRequest
from incidents.models import Incident, User
from incidents.permissions import get_incident_for
from incidents.playbooks.drills import drill_pause, drill_resume
from incidents.views.actions import Outcome, act


def _run(request: AuthRequest, code: UUID, service: Callable[..., Incident], notice: str) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    user: User = request.user

    def change(_data: Mapping[str, Any]) -> Incident:
        return service(incident=incident, actor=user)

    def answer(outcome: Outcome[Incident]) -> HttpResponse:
        (messages.error if outcome.error else messages.success)(request, outcome.error or outcome.notice)
        return redirect(incident.room_url)

    return act(change, answer, notice=notice)


@require_POST
@login_required
def pause(request: AuthRequest, code: UUID) -> HttpResponse:
    return _run(request, code, drill_pause, _("The drill is paused. Nothing fires until you resume it."))


@require_POST
@login_required
def resume(request: AuthRequest, code: UUID) -> HttpResponse:
    return _run(
        request, code, drill_resume, _("The drill is running again; what was pending moved on by the pause.")
    )
