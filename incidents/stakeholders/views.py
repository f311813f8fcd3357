"""The stakeholder register page (register, contact log, press queue), the room's small region and the
review's "who was told what, and who never was" region. Forms post and redirect back (errors are answered
with the page and a 422, the input kept). Invisible incidents are 404, acting without Perm.POST 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from incidents.forms import PersonField
from incidents.http import AuthRequest
from incidents.models import Incident, Perm, Statement, StatementStatus
from incidents.permissions import get_incident_for
from incidents.stakeholders.models import (
    ContactChannel,
    ContactEntry,
    Direction,
    EnquiryState,
    PressEnquiry,
    Stakeholder,
    StakeholderKind,
)
from incidents.stakeholders.services import contact_log, enquiry_add, enquiry_close, stakeholder_add
from incidents.views.actions import Outcome, act


class StakeholderForm(forms.Form):
    kind = forms.ChoiceField(choices=StakeholderKind.choices)
    name = forms.CharField(max_length=120)
    organisation = forms.CharField(max_length=120, required=False)
    email = forms.EmailField(required=False)
    phone = forms.CharField(max_length=40, required=False)
    preferred_channel = forms.ChoiceField(choices=ContactChannel.choices, initial=ContactChannel.EMAIL)
    owner = PersonField(required=False, label=gettext_lazy("Relationship owner (e-mail)"))
    notes = forms.CharField(max_length=300, required=False)


class LogForm(forms.Form):
    stakeholder = forms.IntegerField()
    direction = forms.ChoiceField(choices=Direction.choices, initial=Direction.OUT)
    channel = forms.ChoiceField(choices=ContactChannel.choices)
    summary = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))
    statement = forms.UUIDField(required=False)
    promise = forms.CharField(max_length=300, required=False)
    promise_due_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


class EnquiryForm(forms.Form):
    journalist = forms.IntegerField()
    question = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))
    due_at = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


class CloseForm(forms.Form):
    summary = forms.CharField(max_length=4000)
    declined = forms.BooleanField(required=False)
    statement = forms.UUIDField(required=False)


def _sendable(incident: Incident) -> list[Statement]:
    return list(
        Statement.objects.filter(
            incident=incident, status__in=[StatementStatus.APPROVED, StatementStatus.PUBLISHED]
        ).order_by("-updated_at")
    )


def _statement(incident: Incident, code: Any) -> Statement | None:
    return Statement.objects.filter(incident=incident, code=code).first() if code else None


def _stakeholder(incident: Incident, pk: int) -> Stakeholder:
    found = Stakeholder.objects.filter(incident=incident, pk=pk).first()
    if found is None:
        raise Http404(_("No such person in this incident's register."))
    return found


def _page(
    request: AuthRequest, incident: Incident, *, status: int = 200, error: str = "", **forms_: Any
) -> HttpResponse:
    people = list(Stakeholder.objects.filter(incident=incident).select_related("owner"))
    entries = list(
        ContactEntry.objects.filter(incident=incident).select_related(
            "stakeholder", "by", "statement", "deadline"
        )[:200]
    )
    told = {e.stakeholder_id for e in entries if e.is_outbound}
    context = {
        "incident": incident,
        "people": people,
        "never_told": [p for p in people if p.pk not in told],
        "entries": entries,
        "enquiries": list(
            PressEnquiry.objects.filter(incident=incident).select_related("journalist", "owner", "deadline")
        ),
        "journalists": [p for p in people if p.kind == StakeholderKind.JOURNALIST],
        "statements": _sendable(incident),
        "may_act": Perm.POST in incident.viewer_perms,
        "error": error,
        "add_form": forms_.get("add_form") or StakeholderForm(),
        "log_form": forms_.get("log_form") or LogForm(),
        "enquiry_form": forms_.get("enquiry_form") or EnquiryForm(),
        "now": timezone.now(),
    }
    return render(request, "stakeholders/register.html", context, status=status)


def _answer(request: AuthRequest, incident: Incident, outcome: Outcome[Any], **forms_: Any) -> HttpResponse:
    if outcome.error:
        return _page(request, incident, status=outcome.status, error=outcome.error, **forms_)
    messages.success(request, outcome.notice)
    return redirect(reverse("stakeholders:register", args=[incident.code]))


@require_GET
@login_required
def register(request: AuthRequest, code: UUID) -> HttpResponse:
    return _page(request, get_incident_for(request.user, code))


@require_POST
@login_required
def add(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST)
    form = StakeholderForm(request.POST)

    def change(data: Mapping[str, Any]) -> Stakeholder:
        return stakeholder_add(incident=incident, actor=request.user, **data)

    return act(
        change,
        lambda o: _answer(request, incident, o, add_form=form),
        form=form,
        notice=_("Added to the register."),
    )


@require_POST
@login_required
def log(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST)
    form = LogForm(request.POST)

    def change(data: Mapping[str, Any]) -> ContactEntry:
        return contact_log(
            incident=incident,
            actor=request.user,
            stakeholder=_stakeholder(incident, data["stakeholder"]),
            direction=data["direction"],
            channel=data["channel"],
            summary=data["summary"],
            statement=_statement(incident, data["statement"]),
            promise=data["promise"],
            promise_due_at=data["promise_due_at"],
        )

    return act(
        change,
        lambda o: _answer(request, incident, o, log_form=form),
        form=form,
        notice=_("Logged. A promise with a time is now a deadline."),
    )


@require_POST
@login_required
def enquiry(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST)
    form = EnquiryForm(request.POST)

    def change(data: Mapping[str, Any]) -> PressEnquiry:
        return enquiry_add(
            incident=incident,
            actor=request.user,
            journalist=_stakeholder(incident, data["journalist"]),
            question=data["question"],
            due_at=data["due_at"],
        )

    return act(
        change,
        lambda o: _answer(request, incident, o, enquiry_form=form),
        form=form,
        notice=_("In the press queue; the journalist's deadline will be reminded."),
    )


@require_POST
@login_required
def close(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST)
    found = PressEnquiry.objects.filter(incident=incident, pk=pk).first()
    if found is None:
        raise Http404(_("No such enquiry in this incident."))

    def change(data: Mapping[str, Any]) -> PressEnquiry:
        return enquiry_close(
            enquiry=found,
            actor=request.user,
            summary=data["summary"],
            declined=data["declined"],
            statement=_statement(incident, data["statement"]),
        )

    return act(
        change,
        lambda o: _answer(request, incident, o),
        form=CloseForm(request.POST),
        notice=_("Answered and logged; its deadline is met."),
    )


@require_GET
@login_required
def room_region(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    open_enquiries = list(
        PressEnquiry.objects.filter(incident=incident, state=EnquiryState.OPEN)
        .select_related("journalist")
        .order_by("due_at")[:5]
    )
    people = Stakeholder.objects.filter(incident=incident).count()
    told = (
        ContactEntry.objects.filter(incident=incident, direction=Direction.OUT)
        .values("stakeholder")
        .distinct()
        .count()
    )
    return render(
        request,
        "stakeholders/room_region.html#region",
        {"incident": incident, "open_enquiries": open_enquiries, "people": people, "told": told},
    )


@require_GET
@login_required
def review(request: AuthRequest, code: UUID) -> HttpResponse:
    """For the post-incident review: who was told what and when, and who was never told."""
    incident = get_incident_for(request.user, code)
    people = list(Stakeholder.objects.filter(incident=incident))
    entries = list(
        ContactEntry.objects.filter(incident=incident, direction=Direction.OUT)
        .select_related("stakeholder", "by", "statement")
        .order_by("happened_at")
    )
    told = {e.stakeholder_id for e in entries}
    enquiries = list(
        PressEnquiry.objects.filter(incident=incident).select_related("journalist", "deadline", "answer")
    )
    return render(
        request,
        "stakeholders/review.html#review",
        {
            "incident": incident,
            "entries": entries,
            "never_told": [p for p in people if p.pk not in told],
            "enquiries": enquiries,
            "people": people,
        },
    )
