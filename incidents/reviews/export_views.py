"""Exports: instant for small ones, prepared by a worker for large ones (incidents/reviews/export_jobs.py).

Every route answers 404 for an incident the user may not see and 403 to someone outside its team; a
prepared file is served only to the person who asked for it (anyone else gets 404, as if it did not exist).
"""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from incidents.http import AuthRequest, render_page_or_fragment, wants_fragment
from incidents.models import Incident, Perm, Refused
from incidents.permissions import get_incident_for
from incidents.reviews import export_jobs, exports
from incidents.reviews.models import ExportFormat, ExportJob, ExportState

TEMPLATE = "reviews/export.html"


def _team_incident(request: AuthRequest, code: UUID) -> Incident:
    incident = get_incident_for(request.user, code)
    if Perm.VIEW not in incident.viewer_perms:
        # An export is a copy that leaves the system; it is for the incident team.
        raise PermissionDenied(_("Exports are for the incident team."))
    return incident


def _own_job(request: AuthRequest, code: UUID, job: UUID) -> tuple[Incident, ExportJob]:
    """The user's own prepared export: anyone else's is a 404, as if it did not exist (before the team
    check, so nobody learns whether a job exists); the requester must still be on the team (403)."""
    incident = get_incident_for(request.user, code)
    found = export_jobs.job_for(incident=incident, user=request.user, code=job)
    if found is None:
        raise Http404(_("No such export."))
    if Perm.VIEW not in incident.viewer_perms:
        raise PermissionDenied(_("Exports are for the incident team."))
    return incident, found


def _context(request: AuthRequest, incident: Incident, fmt: str, **extra: object) -> dict[str, object]:
    recent = ExportJob.objects.filter(
        incident=incident, requested_by=request.user, state=ExportState.READY, expires_at__gt=timezone.now()
    )[:5]
    return {
        "incident": incident,
        "fmt": fmt,
        "fmt_label": ExportFormat(fmt).label,
        "recent": list(recent),
        "entries": None,
        "ttl_hours": f"{settings.EXPORT_TTL_HOURS:g}",
        **extra,
    }


def _export_file(request: AuthRequest, code: UUID, fmt: str) -> HttpResponse:
    """GET of an export link: the file at once when it is small; a page to have it prepared when large."""
    incident = _team_incident(request, code)
    include_privileged = request.GET.get("privileged") == "1"
    entries = export_jobs.entries_to_export(incident, include_privileged=include_privileged)
    if not exports.is_large(fmt, entries):
        return exports.respond(exports.collect(incident, include_privileged=include_privileged), fmt)
    context = _context(request, incident, fmt, entries=entries, include_privileged=include_privileged)
    return render_page_or_fragment(request, TEMPLATE, "start", context)


@require_GET
@login_required
def export_markdown(request: AuthRequest, code: UUID) -> HttpResponse:
    return _export_file(request, code, "md")


@require_GET
@login_required
def export_csv(request: AuthRequest, code: UUID) -> HttpResponse:
    return _export_file(request, code, "csv")


@require_GET
@login_required
def export_json(request: AuthRequest, code: UUID) -> HttpResponse:
    return _export_file(request, code, "json")


@require_GET
@login_required
def export_pdf(request: AuthRequest, code: UUID) -> HttpResponse:
    """The review's PDF (the record, the metrics and the review, as one document)."""
    return _export_file(request, code, "pdf")


@require_POST
@login_required
def export_start(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = _team_incident(request, code)
    fmt = request.POST.get("fmt", "")
    include_privileged = request.POST.get("privileged") == "1"
    try:
        job = export_jobs.export_request(
            incident=incident, actor=request.user, fmt=fmt, include_privileged=include_privileged
        )
    except Refused as exc:
        fmt = fmt if fmt in ExportFormat.values else ExportFormat.PDF
        context = _context(request, incident, fmt, error=str(exc), include_privileged=include_privileged)
        return render_page_or_fragment(request, TEMPLATE, "start", context, status=exc.status)
    if not wants_fragment(request):
        return redirect("reviews:export-job", code=incident.code, job=job.code)
    return render_page_or_fragment(request, TEMPLATE, "job", _context(request, incident, job.fmt, job=job))


@require_GET
@login_required
def export_job(request: AuthRequest, code: UUID, job: UUID) -> HttpResponse:
    """The job's progress: a whole page, or the fragment the page polls while the worker is busy."""
    incident, found = _own_job(request, code, job)
    context = _context(
        request,
        incident,
        found.fmt,
        job=found,
        expired=export_jobs.is_expired(found),
        stale=export_jobs.is_stale(found),
    )
    return render_page_or_fragment(request, TEMPLATE, "job", context)


@require_GET
@login_required
def export_download(request: AuthRequest, code: UUID, job: UUID) -> HttpResponseBase:
    incident, found = _own_job(request, code, job)
    if found.state != ExportState.READY:
        return HttpResponse(_("This export is not ready yet."), status=409, content_type="text/plain")
    if export_jobs.is_expired(found) or not default_storage.exists(found.stored_name):
        return HttpResponse(
            _("This export has expired. Prepare it again from the incident's review."),
            status=410,
            content_type="text/plain",
        )
    response = FileResponse(
        default_storage.open(found.stored_name, "rb"), content_type=exports.FORMATS[found.fmt][0]
    )
    # Never rendered by the browser as a page, never cached, never sniffed into something else.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return exports.attachment_headers(response, incident, found.fmt)
