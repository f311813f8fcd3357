"""Playbook pages: list, read, create, edit (a new version), duplicate, retire, compare; drill summaries;
and the declare page (by hand, or from a playbook chosen first), which the composition root
(warroom/urls.py) serves as `incidents:declare`.

Who may do what (README, "Playbooks"): every active user may read playbooks — knowing the plan is the
point of having one. Those who may declare incidents (crisis managers and administrators) may also
create, edit, duplicate, retire and review them, because they are the ones who run the plan.
"""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from incidents import live
from incidents.forms import DeclareForm
from incidents.http import AuthRequest, render_page_or_fragment
from incidents.models import SEVERITY_MEANING, Incident, User
from incidents.permissions import get_incident_for, may_declare, visible_incidents
from incidents.playbooks import declaring, scoring, services
from incidents.playbooks.compare import compare_versions
from incidents.playbooks.drills import speed_line
from incidents.playbooks.forms import LISTS, EditorForms, initial_from
from incidents.playbooks.models import DrillInject, IncidentPlaybook, Playbook, PlaybookVersion
from incidents.reviews.metrics import format_duration, incident_metrics
from incidents.reviews.trends import bar_chart
from incidents.services.lifecycle import incident_declare
from incidents.views.actions import Outcome, act


def may_edit_playbooks(user: User) -> bool:
    return may_declare(user)


def _require_editor(request: AuthRequest) -> None:
    if not may_edit_playbooks(request.user):
        raise PermissionDenied(_("Only crisis managers and administrators edit playbooks."))


def _playbook(code: UUID) -> Playbook:
    return get_object_or_404(Playbook.objects.select_related("owner"), code=code)


def _people() -> Any:
    return User.objects.filter(is_active=True).only("email", "display_name")


@require_GET
@login_required
def playbook_list(request: AuthRequest) -> HttpResponse:
    playbooks = list(
        Playbook.objects.select_related("owner")
        .annotate(declared=Count("versions__incidents"))
        .order_by("is_retired", "name")
    )
    today = timezone.localdate()
    for p in playbooks:
        p.overdue = p.review_overdue(today)  # type: ignore[attr-defined]
    context = {
        "active": [p for p in playbooks if not p.is_retired],
        "retired": [p for p in playbooks if p.is_retired],
        "can_edit": may_edit_playbooks(request.user),
    }
    return render(request, "playbooks/list.html", context)


@require_GET
@login_required
def playbook_detail(request: AuthRequest, playbook: UUID) -> HttpResponse:
    pb = _playbook(playbook)
    versions = list(pb.versions.select_related("created_by", "approval_chain").order_by("-number"))
    wanted = request.GET.get("v", "")
    version = next((v for v in versions if str(v.number) == wanted), None) or next(
        (v for v in versions if v.number == pb.latest_number), None
    )
    if version is None:
        raise Http404(_("This playbook has no versions."))
    # Incidents declared from any version, as far as this user may see them.
    records = list(
        IncidentPlaybook.objects.filter(version__playbook=pb, incident__in=visible_incidents(request.user))
        .select_related("incident", "version")
        .order_by("-incident__declared_at")[:20]
    )
    context = {
        "playbook": pb,
        "version": version,
        "versions": versions,
        "contacts": list(version.contacts.all()),
        "clocks": list(version.clocks.select_related("role")),
        "injects": list(version.injects.all()),
        "roles": list(version.roles.select_related("role", "person", "backup")),
        "tasks": list(version.tasks.select_related("role")),
        "templates": [t.template for t in version.templates.select_related("template")],
        "records": records,
        "can_edit": may_edit_playbooks(request.user),
        "overdue": pb.review_overdue(),
        "is_latest": version.number == pb.latest_number,
    }
    return render(request, "playbooks/detail.html", context)


def _editor_response(
    request: AuthRequest,
    editor: EditorForms,
    *,
    playbook: Playbook | None,
    status: int = 200,
    error: str = "",
    current: Playbook | None = None,
) -> HttpResponse:
    context = {
        "editor": editor,
        "playbook": playbook,
        "people": _people(),
        "error": error,
        "current": current,
    }
    return render(request, "playbooks/edit.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def playbook_new(request: AuthRequest) -> HttpResponse:
    _require_editor(request)
    if request.method == "GET":
        editor = EditorForms(initial={"owner": request.user.email, "default_severity": "sev2"})
        return _editor_response(request, editor, playbook=None)
    if request.POST.get("add_row"):
        return _editor_response(request, _with_extra_row(request), playbook=None)
    editor = EditorForms(request.POST)
    if not editor.is_valid():
        return _editor_response(
            request, editor, playbook=None, status=422, error=_("Please fix the highlighted fields.")
        )
    data = editor.main.cleaned_data
    try:
        pb = services.playbook_create(
            actor=request.user,
            name=data["name"],
            scenario=data["scenario"],
            owner=data["owner"] or request.user,
            content=editor.content(),
        )
    except services.PlaybookError as exc:
        return _editor_response(request, editor, playbook=None, status=422, error=str(exc))
    messages.success(request, _("“%(name)s” created as v1.") % {"name": pb.name})
    return redirect("playbooks:detail", playbook=pb.code)


@require_http_methods(["GET", "POST"])
@login_required
def playbook_edit(request: AuthRequest, playbook: UUID) -> HttpResponse:
    _require_editor(request)
    pb = _playbook(playbook)
    if pb.is_retired:
        messages.error(request, _("“%(name)s” is retired; restore it before editing.") % {"name": pb.name})
        return redirect("playbooks:detail", playbook=pb.code)
    if request.method == "GET":
        main, lists = initial_from(services.content_of(pb.latest()))
        main |= {
            "name": pb.name,
            "scenario": pb.scenario,
            "owner": pb.owner.email if pb.owner else "",
            "base_number": pb.latest_number,
        }
        return _editor_response(request, EditorForms(initial=main, lists=lists), playbook=pb)
    if request.POST.get("add_row"):
        return _editor_response(request, _with_extra_row(request), playbook=pb)
    editor = EditorForms(request.POST)
    if not editor.is_valid():
        return _editor_response(
            request, editor, playbook=pb, status=422, error=_("Please fix the highlighted fields.")
        )
    data = editor.main.cleaned_data
    # After a 409 the user may choose to save their text on top of the newer version they have now seen.
    base = data["save_over"] if data["save_over"] is not None else data["base_number"]
    if base is None:
        return _editor_response(
            request, editor, playbook=pb, status=422, error=_("The form is incomplete; reload it.")
        )
    try:
        version = services.playbook_save_version(
            playbook=pb,
            actor=request.user,
            base_number=base,
            content=editor.content(),
            name=data["name"],
            scenario=data["scenario"],
            owner=data["owner"] or pb.owner or request.user,
        )
    except services.StaleVersion as exc:
        return _editor_response(request, editor, playbook=pb, status=409, error=str(exc), current=exc.current)
    except services.PlaybookError as exc:
        return _editor_response(request, editor, playbook=pb, status=422, error=str(exc))
    messages.success(
        request,
        _("Saved as v%(number)s. Incidents already declared keep the version they started from.")
        % {"number": version.number},
    )
    return redirect("playbooks:detail", playbook=pb.code)


def _with_extra_row(request: AuthRequest) -> EditorForms:
    """The no-JavaScript "Add a row": the same form back, one empty row longer, nothing saved."""
    data = request.POST.copy()
    prefix = data.get("add_row", "")
    key = f"{prefix}-TOTAL_FORMS"
    if prefix in LISTS and key in data:
        with contextlib.suppress(ValueError):
            data[key] = str(min(int(str(data.get(key))) + 1, 100))
    return EditorForms(data)


@require_GET
@login_required
def playbook_row(request: AuthRequest) -> HttpResponse:
    """One empty row for a list in the editor (htmx "Add a row"), with the formset's new TOTAL_FORMS."""
    _require_editor(request)
    prefix = request.GET.get("list", "")
    if prefix not in LISTS:
        raise Http404(_("No such list."))
    try:
        index = max(0, min(int(request.GET.get(f"{prefix}-TOTAL_FORMS", "0")), 100))
    except ValueError:
        index = 0
    formset = LISTS[prefix][1](prefix=prefix)
    form = formset.empty_form
    form.prefix = f"{prefix}-{index}"
    html = render_to_string(
        "playbooks/edit.html#row",
        {"form": form, "prefix": prefix, "section": {"prefix": prefix}, "total": index + 1},
        request,
    )
    return HttpResponse(html)


@require_POST
@login_required
def playbook_duplicate(request: AuthRequest, playbook: UUID) -> HttpResponse:
    _require_editor(request)
    copy = services.playbook_duplicate(playbook=_playbook(playbook), actor=request.user)
    messages.success(request, _("Duplicated as “%(name)s”. Rename it and adapt it.") % {"name": copy.name})
    return redirect("playbooks:edit", playbook=copy.code)


@require_POST
@login_required
def playbook_retire(request: AuthRequest, playbook: UUID) -> HttpResponse:
    _require_editor(request)
    pb = _playbook(playbook)
    retire = request.POST.get("retire", "1") != "0"
    try:
        pb = services.playbook_retire(playbook=pb, actor=request.user, retire=retire)
    except services.PlaybookError as exc:
        messages.error(request, str(exc))
        return redirect("playbooks:detail", playbook=pb.code)
    messages.success(
        request,
        (
            _("“%(name)s” retired: no longer offered when declaring.")
            if retire
            else _("“%(name)s” is offered again when declaring.")
        )
        % {"name": pb.name},
    )
    return redirect("playbooks:detail", playbook=pb.code)


@require_POST
@login_required
def playbook_review(request: AuthRequest, playbook: UUID) -> HttpResponse:
    _require_editor(request)
    pb = services.playbook_mark_reviewed(playbook=_playbook(playbook), actor=request.user)
    messages.success(
        request,
        _("“%(name)s” marked as reviewed today. Next review due %(due)s.")
        % {"name": pb.name, "due": date_format(pb.review_due_on, "j M Y")},
    )
    return redirect("playbooks:detail", playbook=pb.code)


def _version(pb: Playbook, raw: str | None, default: int) -> PlaybookVersion:
    try:
        number = int(raw) if raw else default
    except ValueError:
        number = default
    found = pb.versions.filter(number=number).first()
    if found is None:
        raise Http404(_("No such version."))
    return found


@require_GET
@login_required
def playbook_compare(request: AuthRequest, playbook: UUID) -> HttpResponse:
    pb = _playbook(playbook)
    new = _version(pb, request.GET.get("b"), pb.latest_number)
    old = _version(pb, request.GET.get("a"), max(1, new.number - 1))
    fields, lists = compare_versions(old, new)
    context = {
        "playbook": pb,
        "old": old,
        "new": new,
        "fields": fields,
        "lists": lists,
        "numbers": list(pb.versions.order_by("number").values_list("number", flat=True)),
        "nothing": not fields and not any(lst.any for lst in lists),
    }
    return render_page_or_fragment(request, "playbooks/compare.html", "comparison", context)


@require_GET
@login_required
def drill_summary(request: AuthRequest, code: UUID) -> HttpResponse:
    """After-action summary of a drill (or any incident declared from a playbook): injects, deadlines,
    time to first statement, each approval — the numbers come from the reviews' incident_metrics."""
    incident: Incident = get_incident_for(request.user, code)
    record = IncidentPlaybook.objects.filter(incident=incident).select_related("version__playbook").first()
    metrics = incident_metrics(incident)
    injects = list(DrillInject.objects.filter(incident=incident).select_related("entry"))
    context = _score_context(request, incident) | {
        "incident": incident,
        "record": record,
        "metrics": metrics,
        "injects": injects,
        "first_statement": format_duration(metrics.declared_to_first_statement),
        "steps": [(s, format_duration(s.duration)) for s in metrics.steps],
        "deadlines": [
            (
                d,
                format_duration(d.completed_at - d.due_at)
                if d.completed_at and d.completed_at > d.due_at
                else "",
            )
            for d in metrics.deadlines
        ],
        "pending_injects": sum(1 for i in injects if i.posted_at is None),
        "page_live_stream": lambda: live.live_url(user=request.user, incident=incident),
    }
    answers = context.get("inject_answers", {})
    for x in injects:
        x.answer = answers.get(x.pk)  # type: ignore[attr-defined]
    return render_page_or_fragment(request, "playbooks/summary.html", "summary", context)


def _score_context(request: AuthRequest, incident: Incident) -> dict[str, Any]:
    """A drill's score, its parts and the playbook's earlier drills as a chart (nothing for a real incident:
    real incidents are never scored against drills, nor drills against them)."""
    if not incident.is_drill:
        return {}
    score = scoring.drill_score(incident)
    history = scoring.earlier_drills(incident, visible_incidents(request.user), score)
    chart = None
    if len(history) > 1:
        chart = bar_chart(
            chart_id="drill-scores",
            title=_("Score of this playbook's drills, oldest first"),
            desc=_("Longer bars are better; the last bar is this drill."),
            unit="/ 100",
            data=[
                (
                    f"{d.incident.reference} · {timezone.localtime(d.incident.declared_at):%d %b}"
                    + (" ◀" if d.is_this else ""),
                    d.score,
                )
                for d in history
            ],
        )
    answers = {a.inject.pk: a for a in score.injects}
    return {
        "score": score,
        "history": history,
        "history_chart": chart,
        "first_took": format_duration(score.first_statement_took),
        "first_sla": format_duration(score.first_statement_sla),
        "real_equivalent": format_duration(score.first_statement_took * incident.speed)
        if score.first_statement_took is not None and incident.speed > 1
        else "",
        "inject_answers": answers,
        "weights": scoring.WEIGHTS,
        "answer_target": format_duration(incident.scaled(scoring.INJECT_ANSWER_TARGET)),
        "speed_line": speed_line(incident),
    }


# --- declaring ------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def declare(request: AuthRequest) -> HttpResponse:
    """Declare, optionally from a playbook chosen first: it pre-fills the form and proposes the team;
    submitting declares, staffs, schedules its checklist (and a drill's injects) in one transaction."""
    if not may_declare(request.user):
        return render(request, "incidents/declare_forbidden.html", status=403)
    params = request.POST if request.method == "POST" else request.GET
    version = declaring.version_to_declare(params.get("playbook"), params.get("playbook_version"))
    slots = list(version.roles.select_related("role", "person", "backup")) if version else []
    initial: dict[str, Any] = {}
    if version is not None:
        initial = {
            "playbook": version.playbook.code,
            "playbook_version": version.number,
            # "Outage: " — the declarer keeps typing after it
            "title": f"{version.title_hint.strip()} " if version.title_hint.strip() else "",
            "scenario": version.playbook.scenario,
            "severity": version.default_severity,
            "is_restricted": version.default_restricted,
            "affected_platforms": version.platforms,
        }
    if params.get("drill") == "1":
        initial["is_drill"] = True
    staffing = None
    if version is not None:  # the roles its approval chains need, proposed, and the steps with nobody
        severity = str(params.get("severity") or version.default_severity)
        staffing = declaring.chain_staffing(version, slots, severity=severity, declarer=request.user)
        slots += staffing.extra
    form = DeclareForm(request.POST or None, initial=initial, team=slots)

    def page(status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "version": version,
            "playbooks": declaring.declare_choices(),
            "severity_meaning": SEVERITY_MEANING,
            "people": _people(),
            "staffing": staffing,
        }
        return render_page_or_fragment(
            request, "incidents/declare.html", "declare-form", context, status=status
        )

    if request.method != "POST":
        return page()

    def change(data: Any) -> Incident:
        if version is None:
            return incident_declare(actor=request.user, scenario=data["scenario"], **form.incident_kwargs())
        team = [declaring.TeamPick(slot=s, person=p, backup=b) for s, p, b in form.team_choices()]
        return declaring.declare_from_playbook(
            actor=request.user, version=version, team=team, **form.incident_kwargs()
        ).incident

    def answer(outcome: Outcome[Incident]) -> HttpResponse:
        if outcome.result is None:
            if outcome.refused is not None:
                form.add_error(None, outcome.error)
            return page(outcome.status)
        incident = outcome.result
        if incident.commander_id == request.user.pk:
            messages.success(
                request, _("%(ref)s declared. You are the incident commander.") % {"ref": incident.reference}
            )
        else:
            messages.success(
                request,
                _("%(ref)s declared. %(commander)s commands it; you are deputy.")
                % {"ref": incident.reference, "commander": incident.commander},
            )
        for gap in declaring.unstaffed_steps(incident, staffing):
            messages.warning(request, gap)
        if request.htmx:
            return HttpResponseClientRedirect(incident.room_url)
        return redirect(incident.room_url)

    return act(change, answer, form=form)


__all__ = [
    "declare",
    "drill_summary",
    "may_edit_playbooks",
    "playbook_compare",
    "playbook_detail",
    "playbook_duplicate",
    "playbook_edit",
    "playbook_list",
    "playbook_new",
    "playbook_retire",
    "playbook_review",
    "playbook_row",
]
