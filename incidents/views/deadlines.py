"""Deadlines in the room (panel, add a task, complete/snooze/reschedule), my due items, and notifications
(the bell in the top bar, the notifications page, mark read).

Thin views: every change goes through `incidents.services.deadlines`, by way of `act`. A stale click (the
deadline changed since the page showed it) answers 409 with the panel as it stands; bad input 422 with an
inline error; a forbidden one 403 (`incidents.rules`, asked here and again by the service under its lock);
nothing is changed in any of these cases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from incidents import live
from incidents.http import AuthRequest, render_page_or_fragment, wants_fragment
from incidents.models import Deadline, DeadlineState, Incident, NotAllowed, Notification, RoleAssignment, User
from incidents.permissions import get_incident_for
from incidents.rules import may_act_on_deadline, may_manage_deadlines
from incidents.services.deadlines import (
    MAX_SNOOZE_MINUTES,
    deadline_complete,
    deadline_reschedule,
    deadline_snooze,
    my_due,
    task_add,
)
from incidents.services.reminders import responsible
from incidents.typed_time import read_typed, rollover_question
from incidents.views.actions import Outcome, act

PANEL = "incidents/deadlines/panel.html"
SNOOZE_CHOICES = [
    (5, "5 min"),
    (10, "10 min"),
    (15, "15 min"),
    (30, "30 min"),
    (60, "1 hour"),
    (120, "2 hours"),
]


def promised_time(raw: str, *, now: datetime | None = None) -> datetime | None:
    """A "next update at HH:MM" promise (in the viewer's zone) as the next such moment from now; also takes
    a full local date and time. Empty: no promise. Raises ValueError with a message for the form."""
    typed = read_typed(raw, now=now)
    return typed.at if typed is not None else None


# --- forms ----------------------------------------------------------------------------------------------------


class _Versioned(forms.Form):
    version = forms.IntegerField(
        min_value=1, error_messages={"required": gettext_lazy("The page is out of date; reload it.")}
    )


class SnoozeForm(_Versioned):
    minutes = forms.TypedChoiceField(
        choices=SNOOZE_CHOICES,
        coerce=int,
        error_messages={"invalid_choice": gettext_lazy("Choose how long to snooze.")},
    )
    reason = forms.CharField(
        max_length=300,
        strip=True,
        error_messages={
            "required": gettext_lazy("Say why you are snoozing it; the reason goes on the timeline.")
        },
    )


class _Due(forms.Form):
    """When a deadline is due: a time typed alone ("18:00": the next such time, tomorrow once it has passed
    today — which the form asks about before saving), a time and a day, or a full date and time."""

    due_at = forms.DateTimeField(
        required=False, error_messages={"invalid": gettext_lazy("Give the new time as date and time.")}
    )
    due_time = forms.CharField(required=False, max_length=32)
    due_date = forms.CharField(required=False, max_length=10)
    due_tomorrow = forms.BooleanField(required=False)

    def resolve_due(self, data: dict[str, Any], missing: str) -> None:
        """Put the moment meant into `due_at`, or an error (with the rollover question) on `due_time`."""
        if data.get("due_at") is not None or "due_at" in self.errors:
            return
        try:
            typed = read_typed(data.get("due_time") or "", day=data.get("due_date") or "")
        except ValueError as exc:
            self.add_error("due_time", str(exc))
            return
        if typed is None:
            self.add_error("due_time", missing)
        elif typed.rolled and not data.get("due_tomorrow"):
            self.add_error("due_time", rollover_question(typed))
        else:
            data["due_at"] = typed.at


class RescheduleForm(_Versioned, _Due):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self.resolve_due(data, _("Choose the new due time."))
        return data


class TaskForm(_Due):
    title = forms.CharField(
        max_length=200, strip=True, error_messages={"required": gettext_lazy("Say what needs doing.")}
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.none(), error_messages={"required": gettext_lazy("Choose who does it.")}
    )
    notes = forms.CharField(max_length=2000, required=False, strip=True)

    def __init__(self, *args: Any, incident: Incident, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.incident = incident
        self.fields["owner"].queryset = team_people(incident)  # type: ignore[attr-defined]
        self.fields["owner"].error_messages["invalid_choice"] = _("Choose someone on the team.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self.resolve_due(data, _("Choose when it is due."))
        if self.errors:  # one thing at a time: the fields first
            return data
        if data["due_at"] <= timezone.now():
            self.add_error("due_time", _("Choose a time in the future."))
        elif not self.incident.is_open:
            self.add_error(None, _("The incident is over; tasks go into the post-incident review."))
        return data


def team_people(incident: Incident) -> Any:
    current = RoleAssignment.objects.current().filter(incident=incident).values("user_id")
    return User.objects.filter(pk__in=current, is_active=True).order_by("display_name")


# --- the panel ------------------------------------------------------------------------------------------------


def _panel_context(
    request: AuthRequest,
    incident: Incident,
    *,
    error: str = "",
    task_form: TaskForm | None = None,
    **extra: Any,
) -> dict[str, Any]:
    can_manage = may_manage_deadlines(perms=incident.viewer_perms)
    assignments = list(
        RoleAssignment.objects.current().filter(incident=incident).select_related("user", "backup")
    )
    deadlines = list(
        Deadline.objects.filter(incident=incident)
        .filter(Q(state=DeadlineState.OPEN) | Q(completed_at__gte=timezone.now() - timedelta(hours=24)))
        # Not the incident: each row gets the one in hand (below), and joining its ~40 columns cost
        # more to build and read than the rest of the query.
        .select_related("owner", "role", "completed_by")
        .order_by("due_at", "pk")
    )
    now = timezone.now()
    rows: list[dict[str, Any]] = []
    for d in deadlines:
        d.incident = incident
        who = responsible(d, assignments)
        rows.append(
            {
                "d": d,
                "move_id": f"reschedule-{d.pk}",
                # The move form that came back with its question (a time that rolled over) keeps it.
                "move_errors": extra.get("move_errors", []) if extra.get("failed") == d.pk else [],
                "who": who,
                "open": d.is_open,
                "overdue": d.due_at <= now,
                "may_act": d.is_open
                and may_act_on_deadline(
                    actor=request.user, perms=incident.viewer_perms, responsible=who.people
                ),
            }
        )
    return {
        "incident": incident,
        "rows": [r for r in rows if r["open"]],
        "done": [r for r in rows if not r["open"]][-5:],
        "can_manage": can_manage,
        "panel_error": error,
        "task_form": task_form or TaskForm(incident=incident),
        "people": [a.user for a in {a.user_id: a for a in assignments}.values()],
        "snooze_choices": SNOOZE_CHOICES,
        "now": now,
        **extra,
    }


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
        return redirect(f"{incident.room_url}#deadlines-panel")
    context = _panel_context(request, incident, error=error, panel_notice=notice, **extra)
    return render_page_or_fragment(request, PANEL, "deadlines-panel", context, status=status)


@require_GET
@login_required
def deadlines_panel(request: AuthRequest, code: UUID) -> HttpResponse:
    # The panel names people from the team's assignments (the commander included), never the incident's
    # own declarer/commander columns: the incident's cheaper written-out read (people=False) is enough.
    incident = get_incident_for(request.user, code, people=False)
    return _panel(request, incident)


def _answer(
    request: AuthRequest, incident: Incident, *, failed: int | None = None
) -> Callable[[Outcome[Any]], HttpResponse]:
    """How every deadline action answers: the panel as it now stands, with the notice or the refusal. When
    the form itself was not valid, the task form comes back as filled in and `failed` (a deadline's id)
    keeps that deadline's actions open."""

    def answer(outcome: Outcome[Any]) -> HttpResponse:
        if isinstance(outcome.refused, NotAllowed):
            raise outcome.refused  # roles changed since the page was loaded: a 403 like the door's
        extra: dict[str, Any] = {}
        if isinstance(outcome.form, TaskForm) and not outcome.ok:
            extra["task_form"] = outcome.form
        if failed is not None and not outcome.ok and outcome.refused is None:
            extra["failed"] = failed
            if isinstance(outcome.form, RescheduleForm):
                extra["move_errors"] = outcome.form.errors.get("due_time", [])
        return _panel(
            request, incident, status=outcome.status, notice=outcome.notice, error=outcome.error, **extra
        )

    return answer


@require_POST
@login_required
def deadline_add(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    may_manage_deadlines.check(perms=incident.viewer_perms)  # the service asks again, under its lock

    def change(data: Mapping[str, Any]) -> Deadline:
        return task_add(
            incident=incident,
            actor=request.user,
            title=data["title"],
            owner=data["owner"],
            due_at=data["due_at"],
            notes=data["notes"],
        )

    return act(
        change,
        _answer(request, incident),
        form=TaskForm(request.POST, incident=incident),
        invalid=_("The task was not added; see below."),
        notice=lambda task: _("Task added for %(owner)s.") % {"owner": task.owner},
    )


def _deadline_for(request: AuthRequest, code: UUID, deadline_id: int) -> tuple[Incident, Deadline]:
    """404 unless the incident is visible and the deadline is in it; 403 unless the user may act on it
    (`rules.may_act_on_deadline`: they answer for it, or they manage deadlines)."""
    incident = get_incident_for(request.user, code)
    deadline = (
        Deadline.objects.select_related("owner", "incident").filter(pk=deadline_id, incident=incident).first()
    )
    if deadline is None:
        raise Http404(_("No such deadline."))
    may_act_on_deadline.check(
        actor=request.user, perms=incident.viewer_perms, responsible=responsible(deadline).people
    )
    return incident, deadline


@require_POST
@login_required
def deadline_complete_view(request: AuthRequest, code: UUID, deadline: int) -> HttpResponse:
    incident, found = _deadline_for(request, code, deadline)
    return act(
        lambda data: deadline_complete(deadline=found, actor=request.user, expected_version=data["version"]),
        _answer(request, incident),
        form=_Versioned(request.POST),
        notice=_("“%(title)s” is done.") % {"title": found.title},
    )


@require_POST
@login_required
def deadline_snooze_view(request: AuthRequest, code: UUID, deadline: int) -> HttpResponse:
    incident, found = _deadline_for(request, code, deadline)
    form = SnoozeForm(request.POST)
    return act(
        lambda data: deadline_snooze(
            deadline=found,
            actor=request.user,
            minutes=data["minutes"],
            reason=data["reason"],
            expected_version=data["version"],
        ),
        _answer(request, incident, failed=found.pk),
        form=form,
        notice=lambda snoozed: (
            _("“%(title)s” snoozed by %(minutes)s min.")
            % {"title": found.title, "minutes": form.cleaned_data["minutes"]}
        ),
    )


@require_POST
@login_required
def deadline_reschedule_view(request: AuthRequest, code: UUID, deadline: int) -> HttpResponse:
    incident, found = _deadline_for(request, code, deadline)
    return act(
        lambda data: deadline_reschedule(
            deadline=found, actor=request.user, due_at=data["due_at"], expected_version=data["version"]
        ),
        _answer(request, incident, failed=found.pk),
        form=RescheduleForm(request.POST),
        notice=_("“%(title)s” moved.") % {"title": found.title},
    )


@require_GET
@login_required
def my_due_items(request: AuthRequest) -> HttpResponse:
    """My open deadlines across incidents (the dashboard loads this fragment and polls it)."""
    return render_page_or_fragment(
        request,
        "incidents/deadlines/mine.html",
        "my-due",
        {"items": my_due(request.user), "now": timezone.now()},
    )


# --- notifications --------------------------------------------------------------------------------------------

NOTIFICATIONS_PAGE = 100


@require_GET
@login_required
def notifications(request: AuthRequest) -> HttpResponse:
    return _notifications_page(request)


def _notifications_page(request: AuthRequest) -> HttpResponse:
    items = list(
        Notification.objects.filter(recipient=request.user).select_related("incident")[:NOTIFICATIONS_PAGE]
    )
    unread = sum(1 for n in items if n.read_at is None)
    return render_page_or_fragment(
        request, "incidents/notifications.html", "notification-list", {"items": items, "unread": unread}
    )


@require_GET
@login_required
def notification_bell(request: AuthRequest) -> HttpResponse:
    unread = Notification.objects.filter(recipient=request.user, read_at__isnull=True).count()
    # Always the fragment: it is only ever fetched by the bell itself.
    response = render(request, "incidents/notifications.html#bell", {"unread": unread})
    response.headers["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def notification_read(request: AuthRequest, pk: int) -> HttpResponse:
    """Mark one notification read; with `open`, go where it points (its URL is ours: a path we wrote)."""
    found = Notification.objects.filter(pk=pk, recipient=request.user).first()
    if found is None:
        raise Http404(_("No such notification."))
    if found.read_at is None:
        Notification.objects.filter(pk=pk, read_at__isnull=True).update(read_at=timezone.now())
        live.notifications_read(request.user.pk)
    if request.POST.get("open") and found.url.startswith("/"):
        return redirect(found.url)
    return _notifications_answer(request)


@require_POST
@login_required
def notifications_read_all(request: AuthRequest) -> HttpResponse:
    Notification.objects.filter(recipient=request.user, read_at__isnull=True).update(read_at=timezone.now())
    live.notifications_read(request.user.pk)
    return _notifications_answer(request)


def _notifications_answer(request: AuthRequest) -> HttpResponse:
    if wants_fragment(request):
        response = _notifications_page(request)
        # The bell counts again at once rather than at its next poll.
        response.headers["HX-Trigger"] = "notifications-changed"
        return response
    return redirect("incidents:notifications")


__all__ = [
    "MAX_SNOOZE_MINUTES",
    "deadline_add",
    "deadline_complete_view",
    "deadline_reschedule_view",
    "deadline_snooze_view",
    "deadlines_panel",
    "my_due_items",
    "notification_bell",
    "notification_read",
    "notifications",
    "notifications_read_all",
    "promised_time",
]
