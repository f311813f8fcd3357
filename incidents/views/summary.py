"""The room's living summary (its region, the editor, the history) and the @mention picker's people list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from incidents.http import AuthRequest
from incidents.models import Incident, Perm, RoleAssignment, SummaryVersion
from incidents.models.errors import NotAllowed
from incidents.models.summary import PART_MAX, SUMMARY_MAX
from incidents.permissions import get_incident_for
from incidents.services.summary import (
    NEXT_UPDATE_MAX,
    StaleSummary,
    latest_summary,
    may_edit_summary,
    summary_edit,
)
from incidents.views.actions import Outcome, act

MENTION_CHOICES = 8


class SummaryForm(forms.Form):
    expected_version = forms.IntegerField(min_value=0, widget=forms.HiddenInput)
    # Lengths are the service's to refuse (with its own words); the form only reads the fields.
    summary = forms.CharField(label=gettext_lazy("Current summary"), required=False, strip=False)
    known = forms.CharField(label=gettext_lazy("What we know"), required=False, strip=False)
    unknown = forms.CharField(label=gettext_lazy("What we don't know yet"), required=False, strip=False)
    next_update = forms.CharField(label=gettext_lazy("Next update"), required=False, strip=False)


def summary_context(incident: Incident) -> dict[str, Any]:
    """What the summary region shows (one query: the latest version and its author)."""
    return {
        "summary_latest": latest_summary(incident) if incident.summary_version else None,
        "can_edit_summary": may_edit_summary(incident.viewer_perms),
    }


def _region(
    request: AuthRequest,
    incident: Incident,
    *,
    editing: bool = False,
    form: SummaryForm | None = None,
    error: str = "",
    stale: SummaryVersion | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "incident": incident,
        **summary_context(incident),
        "summary_editing": editing,
        "summary_form": form,
        "summary_error": error,
        "summary_stale": stale,
        "limits": {"summary": SUMMARY_MAX, "part": PART_MAX, "next": NEXT_UPDATE_MAX},
    }
    # Without htmx (a plain link or form) the editor is a page of its own; with it, the region is swapped.
    template = "incidents/_summary.html" if request.htmx else "incidents/summary_edit.html"
    response = render(request, template, context, status=status)
    response.headers["Vary"] = "HX-Request"
    return response


@require_GET
@login_required
def summary_region(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, people=False)
    if not request.htmx:
        return redirect(incident.room_url + "#summary-region")
    return _region(request, incident)


@require_http_methods(["GET", "POST"])
@login_required
def summary_edit_view(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, people=False)
    if not may_edit_summary(incident.viewer_perms):
        raise NotAllowed(_("Only the incident commander or a deputy can change the summary."))
    if request.method == "GET":
        latest = latest_summary(incident)
        initial: dict[str, Any] = {"expected_version": incident.summary_version}
        if latest is not None:
            initial |= {f: getattr(latest, f) for f in ("summary", "known", "unknown", "next_update")}
        else:
            initial["summary"] = incident.summary
        return _region(request, incident, editing=True, form=SummaryForm(initial=initial))
    form = SummaryForm(request.POST)

    def change(data: Mapping[str, Any]) -> SummaryVersion:
        return summary_edit(
            incident=incident,
            actor=request.user,
            expected_version=data["expected_version"],
            summary=data["summary"],
            known=data["known"],
            unknown=data["unknown"],
            next_update=data["next_update"],
        )

    def answer(outcome: Outcome[SummaryVersion]) -> HttpResponse:
        if outcome.ok:
            if not request.htmx:
                messages.success(request, _("Summary saved."))
                return redirect(incident.room_url + "#summary-region")
            return _region(request, incident)
        stale = outcome.refused.current if isinstance(outcome.refused, StaleSummary) else None
        if stale is not None:
            # The typed text stays; the version it is checked against next time is the one now shown.
            data = request.POST.copy()
            data["expected_version"] = str(stale.number)
            form.data = data
        return _region(
            request,
            incident,
            editing=True,
            form=form,
            error=outcome.error,
            stale=stale,
            status=outcome.status,
        )

    return act(change, answer, form=form, invalid=_("The summary was not saved."))


@require_GET
@login_required
def summary_history(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    versions = SummaryVersion.objects.filter(incident=incident).select_related("author").order_by("-number")
    return render(request, "incidents/summary_history.html", {"incident": incident, "versions": versions})


@require_GET
@login_required
def mention_people(request: AuthRequest, code: UUID) -> HttpResponse:
    """The @mention picker's choices: the incident's current team whose name or e-mail holds what was typed
    after "@" (everyone, first names first, for a bare "@"). Team members only may ask."""
    incident = get_incident_for(request.user, code, people=False)
    if Perm.VIEW not in incident.viewer_perms:
        raise NotAllowed(_("Only the incident team can mention people here."))
    query = str(request.GET.get("q", "")).strip().lower()[:60]
    people: dict[int, dict[str, Any]] = {}
    # The review is written after the team stood down: there, anyone who held a role may be called in.
    assignments = (
        RoleAssignment.objects.all() if request.GET.get("ever") else RoleAssignment.objects.current()
    )
    for a in (
        assignments.filter(incident=incident, user__is_active=True)
        .select_related("user", "role")
        .order_by("user__display_name", "role__sort_order")
    ):
        person = people.setdefault(a.user_id, {"user": a.user, "roles": []})
        if a.role.name not in person["roles"]:
            person["roles"].append(a.role.name)
    matches = [
        p
        for p in people.values()
        if not query
        or all(word in f"{p['user'].display_name} {p['user'].email}".lower() for word in query.split())
    ][:MENTION_CHOICES]
    return render(request, "incidents/_mention_options.html", {"people": matches, "query": query})
