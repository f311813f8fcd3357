"""Configuring listening: sources (with their health and the webhook's address and secret), watches, and
the CSV import's mapping step. Crisis managers and administrators only; everyone else gets 403."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents import live
from incidents.http import AuthRequest, render_page_or_fragment
from incidents.listening.forms import SourceForm, UploadForm, WatchForm
from incidents.listening.models import CsvImport, Source, SourceKind, Watch
from incidents.listening.services import ListeningError
from incidents.listening.services.watches import (
    SourceFields,
    WatchFields,
    parse_terms,
    source_poll_now,
    source_rotate_secret,
    source_save,
    source_set_active,
    watch_retire,
    watch_save,
)
from incidents.listening.sources import csv_import
from incidents.listening.sources.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER
from incidents.permissions import may_declare


def _require_manager(request: AuthRequest) -> None:
    if not may_declare(request.user):
        raise PermissionDenied(_("Only crisis managers and administrators configure listening."))


def _first_error(form: Any) -> str:
    return next((str(e) for errors in form.errors.values() for e in errors), _("That was not understood."))


# --- sources --------------------------------------------------------------------------------------------------


@require_GET
def sources(request: AuthRequest) -> HttpResponse:
    _require_manager(request)
    rows = Source.objects.exclude(kind=SourceKind.DRILL).select_related("owner", "watch")
    context = {"sources": rows, "page_live_stream": lambda: live.live_url(user=request.user, dash=True)}
    return render_page_or_fragment(request, "listening/sources.html", "source-list", context)


def _source(code: UUID) -> Source:
    source = (
        Source.objects.select_related("owner", "watch")
        .filter(code=code)
        .exclude(kind=SourceKind.DRILL)
        .first()
    )
    if source is None:
        raise Http404(_("No such source."))
    return source


def _source_fields(data: dict[str, Any]) -> SourceFields:
    return SourceFields(
        name=data["name"],
        kind=data["kind"],
        platform=data["platform"],
        url=data["url"],
        tag=data["tag"],
        query=data["query"],
        access_token=data["access_token"],
        watch=data["watch"],
        poll_interval_seconds=data["poll_interval_seconds"],
    )


@require_http_methods(["GET", "POST"])
def source_edit(request: AuthRequest, source: UUID | None = None) -> HttpResponse:
    _require_manager(request)
    found = _source(source) if source else None
    if request.method == "POST":
        form = SourceForm(request.POST)
        if form.is_valid():
            try:
                saved = source_save(
                    actor=request.user, fields=_source_fields(form.cleaned_data), source=found
                )
            except ListeningError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Saved “%(name)s”.") % {"name": saved.name})
                return redirect("listening:source", source=saved.code)
        status = 422
    else:
        form = SourceForm(initial=SourceForm.initial_for(found) if found else None)
        status = 200
    return render(request, "listening/source_form.html", {"form": form, "source": found}, status=status)


@require_GET
def source_detail(request: AuthRequest, source: UUID) -> HttpResponse:
    _require_manager(request)
    found = _source(source)
    context = {
        "source": found,
        "hook_url": request.build_absolute_uri(reverse("listening:hook", args=[found.code])),
        "timestamp_header": TIMESTAMP_HEADER,
        "signature_header": SIGNATURE_HEADER,
        "max_mentions": settings.LISTENING_WEBHOOK_MAX_MENTIONS,
        "window": settings.LISTENING_WEBHOOK_WINDOW_SECONDS,
        "imports": list(found.imports.select_related("uploaded_by")[:10])
        if found.kind == SourceKind.CSV
        else [],
        "upload_form": UploadForm(initial={"time_zone": request.user.time_zone or "UTC"}),
    }
    return render(request, "listening/source.html", context)


@require_POST
def source_action(request: AuthRequest, source: UUID, action: str) -> HttpResponse:
    _require_manager(request)
    found = _source(source)
    try:
        if action == "pause":
            source_set_active(actor=request.user, source=found, active=False)
            messages.success(request, _("Paused: nothing is fetched or accepted until you resume it."))
        elif action == "resume":
            source_set_active(actor=request.user, source=found, active=True)
            messages.success(request, _("Resumed."))
        elif action == "poll":
            source_poll_now(actor=request.user, source=found)
            messages.success(request, _("Polling now; the status below updates when it is done."))
        elif action == "rotate":
            source_rotate_secret(actor=request.user, source=found)
            messages.success(
                request, _("New secret. The old one keeps working for a day: update the sender now.")
            )
        else:
            raise Http404(_("No such action."))
    except ListeningError as exc:
        messages.error(request, str(exc))
    return redirect("listening:source", source=found.code)


# --- CSV import -------------------------------------------------------------------------------------------------


@require_POST
def csv_upload_view(request: AuthRequest, source: UUID) -> HttpResponse:
    _require_manager(request)
    found = _source(source)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return redirect("listening:source", source=found.code)
    upload = form.cleaned_data["file"]
    if upload.size > settings.LISTENING_CSV_MAX_BYTES:  # the multipart parser spooled it to disk, not memory
        messages.error(
            request,
            _("The file is larger than %(mb)d MB; split the export.")
            % {"mb": settings.LISTENING_CSV_MAX_BYTES // 1_000_000},
        )
        return redirect("listening:source", source=found.code)
    try:
        imp = csv_import.csv_upload(
            source=found,
            actor=request.user,
            filename=upload.name or "export.csv",
            data=upload.read(),
            time_zone=form.cleaned_data["time_zone"],
        )
    except ListeningError as exc:
        messages.error(request, str(exc))
        return redirect("listening:source", source=found.code)
    return redirect("listening:import", upload=imp.code)


def _import(code: UUID) -> CsvImport:
    imp = CsvImport.objects.select_related("source", "uploaded_by").filter(code=code).first()
    if imp is None:
        raise Http404(_("No such import."))
    return imp


@require_http_methods(["GET", "POST"])
def csv_mapping(request: AuthRequest, upload: UUID) -> HttpResponse:
    """GET: the proposed mapping and a preview. POST action=preview: the preview with the chosen mapping
    (nothing stored). POST action=import: import every row, or none."""
    _require_manager(request)
    imp = _import(upload)
    mapping = dict(imp.mapping)
    error, status = imp.error, 200
    if request.method == "POST":
        mapping = {name: request.POST.get(f"map_{name}", "") for name, _label in csv_import.FIELDS}
        mapping = {k: v for k, v in mapping.items() if v}
        if request.POST.get("action") == "import":
            try:
                result = csv_import.csv_confirm(imp=imp, actor=request.user, mapping=mapping)
            except ListeningError as exc:
                error, status = str(exc), 422
            else:
                messages.success(
                    request,
                    _("Imported %(stored)d mentions (%(dupes)d were already stored).")
                    % {"stored": result.stored, "dupes": result.duplicates},
                )
                return redirect("listening:source", source=imp.source.code)
        else:
            error = ""
    try:
        rows = csv_import.preview(imp, mapping)
    except ListeningError as exc:
        rows, error, status = [], str(exc), 422
    context = {
        "imp": imp,
        "fields": csv_import.FIELDS,
        "mapping": mapping,
        "rows": rows,
        "error": error,
        "required": csv_import.REQUIRED,
    }
    return render(request, "listening/import.html", context, status=status)


# --- watches --------------------------------------------------------------------------------------------------


@require_GET
def watches(request: AuthRequest) -> HttpResponse:
    _require_manager(request)
    rows = Watch.objects.filter(incident__isnull=True).select_related("owner").order_by("-is_active", "name")
    return render(request, "listening/watches.html", {"watches": rows})


def _watch_fields(data: dict[str, Any]) -> WatchFields:
    return WatchFields(
        name=data["name"],
        include_terms=parse_terms(data["include_terms"]),
        exclude_terms=parse_terms(data["exclude_terms"]),
        min_volume=data["min_volume"],
        negative_share=data["negative_share"],
        queue_min_reach=data["queue_min_reach"],
        sla_min_reach=data["sla_min_reach"],
    )


@require_http_methods(["GET", "POST"])
def watch_edit(request: AuthRequest, watch: UUID | None = None) -> HttpResponse:
    _require_manager(request)
    found = None
    if watch:
        found = Watch.objects.filter(code=watch, incident__isnull=True).first()
        if found is None:
            raise Http404(_("No such watch."))
    if request.method == "POST":
        form = WatchForm(request.POST)
        if form.is_valid():
            try:
                watch_save(actor=request.user, fields=_watch_fields(form.cleaned_data), watch=found)
            except ListeningError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Saved. New mentions are matched with these terms from now on."))
                return redirect("listening:watches")
        status = 422
    else:
        form = WatchForm(initial=WatchForm.initial_for(found) if found else None)
        status = 200
    return render(request, "listening/watch_form.html", {"form": form, "watch": found}, status=status)


@require_POST
def watch_retire_view(request: AuthRequest, watch: UUID) -> HttpResponse:
    _require_manager(request)
    found = Watch.objects.filter(code=watch, incident__isnull=True).first()
    if found is None:
        raise Http404(_("No such watch."))
    try:
        watch_retire(actor=request.user, watch=found)
    except ListeningError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Retired; its mentions and history stay."))
    return redirect("listening:watches")
