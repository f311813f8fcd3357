"""The team panel in the room: add people, give and take roles, hand over, name backups, leave."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from incidents import services
from incidents.forms import AddMemberForm, BackupForm, HandoverForm, NoteForm
from incidents.http import AuthRequest, render_page_or_fragment
from incidents.models import Incident, IncidentRole, Perm, RoleAssignment, User
from incidents.permissions import get_incident_for, incident_perms


def team_context(viewer: User, incident: Incident) -> dict[str, Any]:
    """Everything the team panel shows, in two queries whatever the team size."""
    assignments = list(
        RoleAssignment.objects.current()
        .filter(incident=incident)
        .select_related("user", "role", "backup")
        .order_by("role__sort_order", "started_at", "pk")
    )
    members: dict[int, dict[str, Any]] = {}
    for a in assignments:
        members.setdefault(a.user_id, {"user": a.user, "assignments": []})["assignments"].append(a)
    can_manage = Perm.MANAGE_TEAM in incident.viewer_perms
    return {
        "incident": incident,
        "members": list(members.values()),
        "viewer_on_team": viewer.pk in members,
        "viewer_commands": any(a.is_command and a.user_id == viewer.pk for a in assignments),
        "can_manage_team": can_manage,
        # The catalogue feeds the add form and the handover "stay on as" choice.
        "all_roles": (all_roles := list(IncidentRole.objects.all())),
        "roles": [r for r in all_roles if not r.is_command] if can_manage else [],
    }


def _panel(
    request: AuthRequest, incident: Incident, *, error: str = "", status: int = 200, form: Any = None
) -> HttpResponse:
    # The change may have altered the viewer's own powers (a handover, leaving): ask again.
    incident.viewer_perms = incident_perms(request.user, incident)
    if incident.is_restricted and not incident.viewer_perms:
        messages.info(request, f"You are no longer on the team of {incident.reference}.")
        destination = reverse("incidents:dashboard")
        return HttpResponseClientRedirect(destination) if request.htmx else redirect(destination)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(incident.room_url + "#team-panel")
    context = team_context(request.user, incident) | {"team_error": error, "add_form": form}
    return render(request, "incidents/room.html#team-panel", context, status=status)


def _errors(form: Any) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _assignment(incident: Incident, pk: int) -> RoleAssignment:
    assignment = (
        RoleAssignment.objects.select_related("role", "user").filter(incident=incident, pk=pk).first()
    )
    if assignment is None:
        raise Http404("No such role assignment in this incident.")
    return assignment


def _run(request: AuthRequest, incident: Incident, change: Callable[[], object]) -> HttpResponse:
    try:
        change()
    except services.TeamError as exc:
        return _panel(request, incident, error=str(exc), status=409)
    return _panel(request, incident)


@require_GET
@login_required
def team_panel(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    return render(request, "incidents/room.html#team-panel", team_context(request.user, incident))


@require_POST
@login_required
def team_add(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.MANAGE_TEAM)
    form = AddMemberForm(request.POST)
    if not form.is_valid():
        return _panel(request, incident, error="Check the highlighted fields.", status=422, form=form)
    data = form.cleaned_data
    return _run(
        request,
        incident,
        lambda: services.team_add_member(
            incident=incident,
            actor=request.user,
            user=data["person"],
            role=data["role"],
            backup=data["backup"],
            note=data["note"],
        ),
    )


@require_POST
@login_required
def team_remove(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.MANAGE_TEAM)
    assignment = _assignment(incident, pk)
    note = NoteForm(request.POST).data.get("note", "")[:500]
    return _run(
        request,
        incident,
        lambda: services.team_remove_role(
            incident=incident, actor=request.user, assignment=assignment, note=note
        ),
    )


def _own_or_manager(request: AuthRequest, code: UUID, pk: int) -> tuple[Incident, RoleAssignment]:
    """Holders may hand over or back up their own role; anything else needs the manage-team permission."""
    incident = get_incident_for(request.user, code)
    assignment = _assignment(incident, pk)
    if assignment.user_id != request.user.pk:
        incident = get_incident_for(request.user, code, Perm.MANAGE_TEAM)
    return incident, assignment


@require_POST
@login_required
def team_handover(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident, assignment = _own_or_manager(request, code, pk)
    form = HandoverForm(request.POST)
    if not form.is_valid():
        return _panel(request, incident, error=_errors(form), status=422)
    return _run(
        request,
        incident,
        lambda: services.team_handover(
            incident=incident,
            actor=request.user,
            assignment=assignment,
            to_user=form.cleaned_data["to"],
            note=form.cleaned_data["note"],
            stay_as=form.cleaned_data["stay_as"],
        ),
    )


@require_POST
@login_required
def team_backup(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident, assignment = _own_or_manager(request, code, pk)
    form = BackupForm(request.POST)
    if not form.is_valid():
        return _panel(request, incident, error=_errors(form), status=422)
    return _run(
        request,
        incident,
        lambda: services.team_set_backup(
            incident=incident, actor=request.user, assignment=assignment, backup=form.cleaned_data["backup"]
        ),
    )


@require_POST
@login_required
def team_leave(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    try:
        services.team_leave(
            incident=incident, actor=request.user, note=str(request.POST.get("note", ""))[:500]
        )
    except services.TeamError as exc:
        return _panel(request, incident, error=str(exc), status=409)
    if not incident.is_restricted:  # otherwise _panel says so and sends them to the dashboard
        messages.success(request, f"You left the team of {incident.reference}.")
    return _panel(request, incident)


@require_GET
@login_required
def people_search(request: AuthRequest, code: UUID) -> HttpResponse:
    """Type-ahead for the team forms: active people matching a name or e-mail, as <option>s."""
    incident = get_incident_for(request.user, code)
    if not incident.viewer_perms:  # team members only (they hand over their own roles too)
        raise PermissionDenied("Only the incident team can look people up here.")
    query = next(
        (str(v) for k, v in request.GET.items() if k in {"person", "to", "backup", "commander"}), ""
    ).strip()
    people: list[User] = []
    if len(query) >= 2:
        people = list(
            User.objects.filter(is_active=True)
            .filter(Q(display_name__icontains=query) | Q(email__icontains=query))
            .order_by("display_name")[:10]
        )
    return render(request, "incidents/_people_options.html", {"people": people})


@require_GET
@login_required
def contact_sheet(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    context = team_context(request.user, incident)
    now = timezone.now()
    for member in context["members"]:
        # Formatted here: the template's date filter would convert back to the viewer's own zone.
        local = now.astimezone(ZoneInfo(member["user"].time_zone))
        member["local_time"] = f"{local:%a %H:%M}"
        member["local_zone"] = local.tzname()
    return render_page_or_fragment(request, "incidents/contacts.html", "contacts", context)
