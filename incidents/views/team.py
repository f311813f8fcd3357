"""The team panel in the room: add people, give and take roles, hand over, name backups, leave.

Who may do what is asked of `incidents.rules` — here to decide what the panel offers and to refuse early,
and by the team services again under the incident's lock. Every change goes through `act`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from incidents import services
from incidents.accounts.stepup import step_up_required
from incidents.forms import AddMemberForm, BackupForm, HandoverForm, NoteForm
from incidents.http import AuthRequest, render_page_or_fragment
from incidents.models import Incident, IncidentRole, NotAllowed, RoleAssignment, User
from incidents.permissions import get_incident_for, incident_perms
from incidents.rules import may_change_assignment, may_manage_team
from incidents.views.actions import Outcome, act

# Handing over command (or one's only role) offers to stay on in this role, so that a handover does not
# silently cost the outgoing holder their access to a restricted incident.
STAY_ON_AS = "observer"


@dataclass(frozen=True)
class RoleLine:
    """One role a member holds, with what the viewer may do with it (`incidents.rules`)."""

    assignment: RoleAssignment
    may_change: bool  # hand over, name a backup: its holder, or a team manager
    may_remove: bool  # take it away: a team manager, never command (that is handed over)
    offers_stay: bool  # handing it over asks which role the holder stays on in


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
    perms = incident.viewer_perms
    can_manage = may_manage_team(perms=perms)
    for member in members.values():
        held = member["assignments"]
        member["lines"] = [
            RoleLine(
                assignment=a,
                may_change=may_change_assignment(actor=viewer, perms=perms, assignment=a),
                may_remove=can_manage and not a.is_command,
                offers_stay=a.is_command or len(held) == 1,
            )
            for a in held
        ]
    # The catalogue feeds the add form and the handover "stay on as" choice.
    all_roles = list(IncidentRole.objects.all())
    return {
        "incident": incident,
        "members": list(members.values()),
        "viewer_on_team": viewer.pk in members,
        "viewer_commands": any(a.is_command and a.user_id == viewer.pk for a in assignments),
        "can_manage_team": can_manage,
        "all_roles": all_roles,
        "roles": [r for r in all_roles if not r.is_command] if can_manage else [],
        "stay_roles": [r for r in all_roles if not r.is_command],
        "stay_default": next((r.pk for r in all_roles if r.slug == STAY_ON_AS), None),
    }


def team_add_preset(incident: Incident, raw_role: str | None) -> dict[str, Any]:
    """The room opened to add someone in a given role (the fix a stalled approval chain offers): the add
    form with that role chosen and the person field focused — for those who may change the team."""
    if not raw_role or not raw_role.isdigit() or not may_manage_team(perms=incident.viewer_perms):
        return {}
    role = IncidentRole.objects.filter(pk=int(raw_role), is_command=False).first()
    if role is None:
        return {}
    return {"add_form": AddMemberForm(initial={"role": role.pk}), "focus_add": True, "add_role": role}


def _panel(
    request: AuthRequest, incident: Incident, *, error: str = "", status: int = 200, form: Any = None
) -> HttpResponse:
    # The change may have altered the viewer's own powers (a handover, leaving): ask again.
    incident.viewer_perms = incident_perms(request.user, incident)
    if incident.is_restricted and not incident.viewer_perms:
        messages.info(request, _("You are no longer on the team of %(ref)s.") % {"ref": incident.reference})
        destination = reverse("incidents:dashboard")
        return HttpResponseClientRedirect(destination) if request.htmx else redirect(destination)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(incident.room_url + "#team-panel")
    context = team_context(request.user, incident) | {"team_error": error, "add_form": form}
    return render(request, "incidents/room.html#team-panel", context, status=status)


def _assignment(incident: Incident, pk: int) -> RoleAssignment:
    assignment = (
        RoleAssignment.objects.select_related("role", "user").filter(incident=incident, pk=pk).first()
    )
    if assignment is None:
        raise Http404(_("No such role assignment in this incident."))
    return assignment


def _answer(
    request: AuthRequest, incident: Incident, *, add_form: bool = False
) -> Callable[[Outcome[Any]], HttpResponse]:
    """How every team action answers: the panel as it now stands, with the refusal if there was one (and,
    for `add_form`, the add form as the user filled it when it was not valid)."""

    def answer(outcome: Outcome[Any]) -> HttpResponse:
        if isinstance(outcome.refused, NotAllowed):
            raise outcome.refused  # roles changed since the page was loaded: a 403 like the door's
        invalid = add_form and not outcome.ok and outcome.refused is None
        return _panel(
            request,
            incident,
            error=outcome.error,
            status=outcome.status,
            form=outcome.form if invalid else None,
        )

    return answer


@require_GET
@login_required
def team_panel(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    return render(request, "incidents/room.html#team-panel", team_context(request.user, incident))


@require_POST
@login_required
def team_add(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    may_manage_team.check(perms=incident.viewer_perms)
    return act(
        lambda data: services.team_add_member(
            incident=incident,
            actor=request.user,
            user=data["person"],
            role=data["role"],
            backup=data["backup"],
            note=data["note"],
        ),
        _answer(request, incident, add_form=True),
        form=AddMemberForm(request.POST),
        invalid=_("Check the highlighted fields."),
    )


@require_POST
@login_required
def team_remove(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, code)
    may_manage_team.check(perms=incident.viewer_perms)
    assignment = _assignment(incident, pk)
    note = NoteForm(request.POST).data.get("note", "")[:500]
    return act(
        lambda data: services.team_remove_role(
            incident=incident, actor=request.user, assignment=assignment, note=note
        ),
        _answer(request, incident),
    )


def _own_or_manager(request: AuthRequest, code: UUID, pk: int) -> tuple[Incident, RoleAssignment]:
    """The incident and one of its role assignments, if the user may hand it over or name its backup."""
    incident = get_incident_for(request.user, code)
    assignment = _assignment(incident, pk)
    may_change_assignment.check(actor=request.user, perms=incident.viewer_perms, assignment=assignment)
    return incident, assignment


@require_POST
@login_required
@step_up_required
def team_handover(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident, assignment = _own_or_manager(request, code, pk)

    def change(data: Mapping[str, Any]) -> RoleAssignment:
        return services.team_handover(
            incident=incident,
            actor=request.user,
            assignment=assignment,
            to_user=data["to"],
            note=data["note"],
            stay_as=data["stay_as"],
        )

    return act(change, _answer(request, incident), form=HandoverForm(request.POST))


@require_POST
@login_required
def team_backup(request: AuthRequest, code: UUID, pk: int) -> HttpResponse:
    incident, assignment = _own_or_manager(request, code, pk)
    return act(
        lambda data: services.team_set_backup(
            incident=incident, actor=request.user, assignment=assignment, backup=data["backup"]
        ),
        _answer(request, incident),
        form=BackupForm(request.POST),
    )


@require_POST
@login_required
def team_leave(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code)

    def answer(outcome: Outcome[None]) -> HttpResponse:
        if outcome.ok and not incident.is_restricted:  # otherwise _panel says so and sends them away
            messages.success(request, _("You left the team of %(ref)s.") % {"ref": incident.reference})
        return _answer(request, incident)(outcome)

    note = str(request.POST.get("note", ""))[:500]
    return act(lambda data: services.team_leave(incident=incident, actor=request.user, note=note), answer)


@require_GET
@login_required
def people_search(request: AuthRequest, code: UUID) -> HttpResponse:
    """Type-ahead for the team forms: active people matching a name or e-mail, as <option>s whose value
    ("Name <e-mail>") the form's PersonField reads back to exactly that person."""
    incident = get_incident_for(request.user, code)
    if not incident.viewer_perms:  # team members only (they hand over their own roles too)
        raise PermissionDenied(_("Only the incident team can look people up here."))
    query = next(
        (str(v) for k, v in request.GET.items() if k in {"person", "to", "backup", "commander"}), ""
    ).strip()
    return render(request, "incidents/_people_options.html", {"people": people_matching(query)})


def people_matching(query: str, *, limit: int = 10) -> list[User]:
    """Active people whose name or e-mail holds every word typed ("priya raman", "raman p", "priya@"),
    in any order — a picked suggestion ("Priya Raman <priya@…>") finds its own person too."""
    words = query.replace("<", " ").replace(">", " ").split()
    if len(query.strip()) < 2 or not words:
        return []
    people = User.objects.filter(is_active=True)
    for word in words[:6]:
        people = people.filter(Q(display_name__icontains=word) | Q(email__icontains=word))
    return list(people.order_by("display_name", "email")[:limit])


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
