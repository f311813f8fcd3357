"""The statement page's "Publish to channels" region: the connectors to choose, each delivery's state with
its link or the reason it failed, and the publisher's actions on a delivery (retry, cancel, record the link).

The region refreshes when a statement entry arrives on the incident's stream (every delivery's outcome is
one: static/js/statements.js triggers `statements-changed`). Every view looks the incident up with the
permission its action needs (404 invisible, 403 not allowed) and runs one service through `act`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from incidents.accounts.stepup import step_up_required
from incidents.http import AuthRequest
from incidents.models import Incident, InputRefused, Perm, Statement
from incidents.permissions import get_incident_for
from incidents.publishing.limits import fit
from incidents.publishing.models import Connector, Delivery
from incidents.publishing.services import (
    ReleaseResult,
    delivery_cancel,
    delivery_mark_posted,
    delivery_retry,
    offered,
    release_publish,
)
from incidents.services.statements import statement_actions
from incidents.views.actions import Outcome, act
from incidents.views.deadlines import promised_time
from incidents.views.statements.pages import find_statement, fragment

TEMPLATE = "publishing/region.html#deliveries"


class SendForm(forms.Form):
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    sha256 = forms.RegexField(regex=r"^[0-9a-f]{64}$", widget=forms.HiddenInput)
    connectors = forms.ModelMultipleChoiceField(
        queryset=Connector.objects.filter(is_active=True),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": gettext_lazy("Choose at least one channel to publish to.")},
    )


class LinkForm(forms.Form):
    link = forms.URLField(max_length=500, assume_scheme="https")


def _context(
    incident: Incident, statement: Statement, deliveries: list[Delivery] | None = None, **extra: Any
) -> dict[str, Any]:
    """`deliveries`: as a service just left them (the answer to a send renders from those, no re-read)."""
    version = statement.current_version
    actions = statement_actions(statement, version, incident.viewer_perms)
    if deliveries is None:
        deliveries = list(
            Delivery.objects.filter(statement=statement).select_related("connector", "version", "settled_by")
        )
    taken = {d.connector_id for d in deliveries}
    choices = []
    if actions.publish and version is not None:
        for connector in offered(statement):
            if connector.pk in taken:
                continue
            result = fit(connector, version.body)
            ready = result.ok and (not connector.needs_secret or bool(connector.secret()))
            choices.append({"connector": connector, "fit": result, "ready": ready})
    return {
        "incident": incident,
        "statement": statement,
        "version": version,
        "deliveries": deliveries,
        "choices": choices,
        "may_publish": Perm.PUBLISH in incident.viewer_perms,
        "can_send": actions.publish,
        **extra,
    }


def _answer(
    request: AuthRequest, incident: Incident, statement: Statement, outcome: Outcome[Any]
) -> HttpResponse:
    if not request.htmx:  # a plain form post: back to the statement page, which shows the outcome
        if outcome.error:
            messages.error(request, outcome.error)
        elif outcome.notice:
            messages.success(request, outcome.notice)
        return redirect(reverse("incidents:statement", args=[incident.code, statement.code]) + "#deliveries")
    if isinstance(outcome.result, ReleaseResult):  # render from what the service locked and wrote
        fresh, deliveries = outcome.result.gate.statement, outcome.result.deliveries
        fresh.incident = incident
    else:
        fresh, deliveries = find_statement(incident, statement.code), None
    context = _context(incident, fresh, deliveries, notice=outcome.notice, error=outcome.error)
    return fragment(request, TEMPLATE, context, status=outcome.status)


@require_GET
@login_required
def region(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    found = find_statement(incident, statement)
    return fragment(request, TEMPLATE, _context(incident, found))


@require_POST
@login_required
@step_up_required
def send(request: AuthRequest, code: UUID, statement: UUID) -> HttpResponse:
    """Publish the approved version to the chosen connectors (a step-up action: see issue #16)."""
    incident = get_incident_for(request.user, code, Perm.PUBLISH)
    found = find_statement(incident, statement, for_action=True)

    def change(data: Mapping[str, Any]) -> object:
        try:
            promised = promised_time(request.POST.get("next_update_at", ""))
        except ValueError as exc:
            raise InputRefused(str(exc)) from None
        result = release_publish(
            statement=found,
            actor=request.user,
            version_number=data["version"],
            sha256=data["sha256"],
            connectors=list(data["connectors"]),
            next_update_at=promised,
        )
        return result

    def notice(result: Any) -> str:
        if result.release is None:
            return _("Already on its way to those channels; nothing was queued twice.")
        return _("Publishing now. Each channel's link appears here as soon as it has gone out.")

    return act(
        change,
        lambda outcome: _answer(request, incident, found, outcome),
        form=SendForm(request.POST),
        notice=notice,
    )


def _delivery(incident: Incident, statement: Statement, pk: int) -> Delivery:
    delivery = Delivery.objects.filter(pk=pk, statement=statement).first()
    if delivery is None:
        raise Http404(_("No such delivery for this statement."))
    return delivery


@require_POST
@login_required
@step_up_required
def retry(request: AuthRequest, code: UUID, statement: UUID, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.PUBLISH)
    found = find_statement(incident, statement, for_action=True)
    row = _delivery(incident, found, pk)
    return act(
        lambda _data: delivery_retry(delivery=row, actor=request.user),
        lambda outcome: _answer(request, incident, found, outcome),
        notice=_("Sending again with the same key."),
    )


@require_POST
@login_required
def cancel(request: AuthRequest, code: UUID, statement: UUID, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.PUBLISH)
    found = find_statement(incident, statement, for_action=True)
    row = _delivery(incident, found, pk)
    return act(
        lambda _data: delivery_cancel(delivery=row, actor=request.user),
        lambda outcome: _answer(request, incident, found, outcome),
        notice=_("Cancelled; nothing was sent there."),
    )


@require_POST
@login_required
@step_up_required
def mark_posted(request: AuthRequest, code: UUID, statement: UUID, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.PUBLISH)
    found = find_statement(incident, statement, for_action=True)
    row = _delivery(incident, found, pk)
    return act(
        lambda data: delivery_mark_posted(delivery=row, actor=request.user, link=data["link"]),
        lambda outcome: _answer(request, incident, found, outcome),
        form=LinkForm(request.POST),
        notice=_("Recorded as posted, with its link."),
    )
