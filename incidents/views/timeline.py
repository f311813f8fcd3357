"""The timeline in the room: compose, read (filters, keyset paging, jump to time), follow up, download.

Posting and correcting go through `act`; pinning answers in its own way (204, or the refusal as text for the
entry's tools).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents import live, services
from incidents.accounts.throttle import spend_write
from incidents.forms import CorrectionForm, TimelineEntryForm
from incidents.http import AuthRequest
from incidents.models import Evidence, Incident, Perm, TimelineEntry
from incidents.permissions import get_incident_for
from incidents.views.actions import Outcome, act

PAGE_SIZE = 50
POLL_LIMIT = 200


def _on_team(incident: Incident) -> bool:
    return Perm.VIEW in incident.viewer_perms


def _entries(incident: Incident) -> Any:
    qs = TimelineEntry.objects.filter(incident=incident)
    # Legally privileged entries are for the team; people following an open incident do not see them.
    return qs if _on_team(incident) else qs.filter(is_privileged=False)


def timeline_page(incident: Incident, params: Any) -> dict[str, Any]:
    """One page of entries, newest first, by keyset on seq (no OFFSET, no COUNT)."""
    qs = _entries(incident).order_by("-seq")
    kind = params.get("kind", "")
    if kind in TimelineEntry.Kind.values:
        qs = qs.filter(kind=kind)
    key_only = params.get("key") == "1"
    if key_only:
        qs = qs.filter(seq__in=sorted(services.pinned_seqs(incident)))
    before = _int(params.get("before"))
    at = _datetime(params.get("at", ""))
    if at is not None:
        # Jump to a time: start from the last entry logged at or before it.
        first = (
            _entries(incident)
            .filter(recorded_at__lte=at)
            .order_by("-seq")
            .values_list("seq", flat=True)
            .first()
        )
        before = (first + 1) if first is not None else 1
    if before is not None:
        qs = qs.filter(seq__lt=before)
    rows = list(qs.values_list("seq", "html")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return {
        "entries_html": mark_safe("".join(html for _entry, html in rows)),
        "older_cursor": rows[-1][0] if more and rows else None,
        "filter_kind": kind if kind in TimelineEntry.Kind.values else "",
        "filter_key": key_only,
        "filter_at": params.get("at", "") if at else "",
        "filtered": bool(kind or key_only or at or before),
    }


def timeline_context(request: AuthRequest, incident: Incident) -> dict[str, Any]:
    can_post = Perm.POST in incident.viewer_perms
    return {
        **timeline_page(incident, request.GET),
        "last_seq": incident.timeline_seq,
        "stream_url": live.stream_url(user=request.user, incident=incident),
        "can_post": can_post,
        "composer": TimelineEntryForm(initial={"idempotency_key": services.new_idempotency_key()})
        if can_post
        else None,
        "entry_kinds": TimelineEntry.Kind.choices,
    }


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def _datetime(raw: str) -> datetime | None:
    from django.utils import timezone

    try:
        value = parse_datetime(raw) if raw else None
    except ValueError:
        return None
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value)  # read in the viewer's zone, as typed
    if value is not None and len(raw) == len("2026-01-01T10:00"):
        value += timedelta(seconds=59, microseconds=999_999)  # "10:00" means the whole minute
    return value


@require_GET
@login_required
def timeline(request: AuthRequest, code: UUID) -> HttpResponse:
    """The entries list (filters, "load older", jump to time) as a fragment."""
    incident = get_incident_for(request.user, code, people=False)
    context = {"incident": incident, **timeline_page(incident, request.GET)}
    if not request.htmx:
        return redirect(incident.room_url)
    template = (
        "incidents/room.html#timeline-more"
        if request.GET.get("before")
        else "incidents/room.html#timeline-list"
    )
    return render(request, template, context)


@require_GET
@login_required
def timeline_poll(request: AuthRequest, code: UUID) -> HttpResponse:
    """Fallback when the live stream keeps failing: entries after a cursor, oldest first.

    Also hands out a fresh stream URL, so the page can try the live stream again later.
    """
    incident = get_incident_for(request.user, code, people=False)
    after = _int(request.GET.get("after")) or 0
    rows = (
        _entries(incident).filter(seq__gt=after).order_by("seq").values_list("html", flat=True)[:POLL_LIMIT]
    )
    response = HttpResponse("".join(rows), content_type="text/html; charset=utf-8")
    response["X-Stream-Url"] = live.stream_url(user=request.user, incident=incident)
    return response


def _composer(
    request: AuthRequest,
    incident: Incident,
    form: TimelineEntryForm,
    *,
    error: str = "",
    status: int = 200,
    entry: TimelineEntry | None = None,
) -> HttpResponse:
    context = {
        "incident": incident,
        "composer": form,
        "composer_error": error,
        "new_entry": entry,
        "can_post": True,
    }
    return render(request, "incidents/room.html#composer", context, status=status)


@require_POST
@login_required
def timeline_post(request: AuthRequest, code: UUID) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST, people=False)
    form = TimelineEntryForm(request.POST, request.FILES)

    def change(data: Mapping[str, Any]) -> TimelineEntry:
        spend_write(request.user)  # a sustained flood is refused here, before any lock (R33)
        return services.timeline_post(
            incident=incident,
            actor=request.user,
            kind=data["kind"],
            body=data["body"],
            occurred_at=data["occurred_at"],
            is_privileged=data["is_privileged"],
            idempotency_key=data["idempotency_key"],
            files=data["evidence"],
        )

    def answer(outcome: Outcome[TimelineEntry]) -> HttpResponse:
        entry = outcome.result
        if entry is None:
            shown = form
            if isinstance(outcome.refused, services.KeyReused):
                # The text stays; a new key makes sending it again a new entry, not the old one's twin.
                again = request.POST.copy()
                again["idempotency_key"] = services.new_idempotency_key()
                shown = TimelineEntryForm(again)
            return _composer(request, incident, shown, error=outcome.error, status=outcome.status)
        if not request.htmx:
            messages.success(request, _("Entry #%(seq)s added.") % {"seq": entry.seq})
            return redirect(incident.room_url + f"#entry-{entry.seq}")
        fresh = TimelineEntryForm(
            initial={"idempotency_key": services.new_idempotency_key(), "kind": form.cleaned_data["kind"]}
        )
        return _composer(request, incident, fresh, entry=entry)

    return act(change, answer, form=form, invalid=_("The entry was not saved."))


@require_http_methods(["GET", "POST"])
@login_required
def timeline_correct(request: AuthRequest, code: UUID, seq: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST, people=False)
    target = _entries(incident).filter(seq=seq).first()
    if target is None:
        raise Http404(_("No such entry."))
    form = CorrectionForm(request.POST or None, initial={"idempotency_key": services.new_idempotency_key()})

    def correction_form(*, error: str = "", status: int = 200) -> HttpResponse:
        context = {"incident": incident, "target": target, "form": form, "correction_error": error}
        return render(request, "incidents/room.html#correction-form", context, status=status)

    if request.method != "POST":
        return correction_form()

    def change(data: Mapping[str, Any]) -> TimelineEntry:
        spend_write(request.user)
        return services.timeline_correct(
            incident=incident,
            actor=request.user,
            seq=seq,
            body=data["body"],
            retract=data["retract"],
            idempotency_key=data["idempotency_key"],
        )

    def answer(outcome: Outcome[TimelineEntry]) -> HttpResponse:
        entry = outcome.result
        if entry is None:
            return correction_form(error=outcome.error, status=outcome.status)
        if not request.htmx:
            return redirect(incident.room_url + f"#entry-{entry.seq}")
        return render(request, "incidents/room.html#correction-done", {"new_entry": entry})

    return act(change, answer, form=form, invalid=_("Say what was wrong or what is right."))


@require_POST
@login_required
def timeline_pin(request: AuthRequest, code: UUID, seq: int) -> HttpResponse:
    incident = get_incident_for(request.user, code, Perm.POST, people=False)
    if not _entries(incident).filter(seq=seq).exists():
        raise Http404(_("No such entry."))
    try:
        services.timeline_pin(
            incident=incident, actor=request.user, seq=seq, pinned=request.POST.get("pinned") == "1"
        )
    except services.TimelineError as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
    if not request.htmx:
        return redirect(incident.room_url + f"#entry-{seq}")
    return HttpResponse(status=204)


@require_GET
@login_required
def evidence_download(request: AuthRequest, code: UUID, evidence: UUID) -> FileResponse:
    incident = get_incident_for(request.user, code, people=False)
    item = Evidence.objects.select_related("entry").filter(code=evidence, entry__incident=incident).first()
    if item is None or (item.entry.is_privileged and not _on_team(incident)):
        raise Http404(_("No such file."))
    if not default_storage.exists(f"evidence/{item.stored_name}"):
        raise Http404(_("The file is missing from storage."))
    response = FileResponse(
        default_storage.open(f"evidence/{item.stored_name}", "rb"),
        as_attachment=True,
        filename=item.original_name,
        content_type=item.content_type,
    )
    # Never rendered by the browser as a page, never cached, never sniffed into something else.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "no-store, private"
    return response
