"""Past incidents: the archive with search, replay, the review and trends (exports: export_views.py). Thin views."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from incidents.http import AuthRequest, render_page_or_fragment, wants_fragment
from incidents.models import (
    Deadline,
    DeadlineKind,
    Incident,
    Perm,
    Publication,
    RoleAssignment,
    Scenario,
    Severity,
    TimelineEntry,
    User,
)
from incidents.permissions import get_incident_for
from incidents.reviews import services, trends
from incidents.reviews.metrics import incident_metrics
from incidents.reviews.models import SECTION_HELP, Feedback, FollowUp, Review, ReviewSection, SectionKey
from incidents.reviews.search import ArchiveFilters, archive_page, search

REPLAY_LIMIT = 3000


def _on_team(incident: Incident) -> bool:
    return Perm.VIEW in incident.viewer_perms


# --- archive ---------------------------------------------------------------------------------------------


@require_GET
@login_required
def archive(request: AuthRequest) -> HttpResponse:
    filters = ArchiveFilters.from_params(request.GET)
    context: dict[str, Any] = {
        "filters": filters,
        "scenarios": Scenario.choices,
        "severities": Severity.choices,
        "people": _people(),
    }
    if filters.q:
        context["result"] = search(request.user, filters)
        fragment = "results"
    else:
        page = archive_page(request.user, filters, request.GET.get("before", ""))
        context |= {"page": page, "next_cursor": page.next_cursor}
        fragment = "archive-rows" if request.GET.get("before") else "results"
    return render_page_or_fragment(request, "reviews/archive.html", fragment, context)


def _people() -> list[tuple[int, str]]:
    """People who ever held a role in an incident (for the team-member filter): a semi-join per person on
    the assignments' user index, so it costs the size of the staff list, not of the archive."""
    held = RoleAssignment.objects.filter(user=OuterRef("pk"))
    return list(
        User.objects.filter(Exists(held), is_active=True)
        .order_by("display_name", "pk")
        .values_list("pk", "display_name")
    )


# --- replay ----------------------------------------------------------------------------------------------


@require_GET
@login_required
def replay(request: AuthRequest, code: UUID) -> HttpResponse:
    """The timeline as it unfolded, beside what had been said publicly at each moment."""
    incident = get_incident_for(request.user, code)
    entries = TimelineEntry.objects.filter(incident=incident).select_related("author")
    if not _on_team(incident):  # the room's rule: privileged entries are for the team only
        entries = entries.filter(is_privileged=False)
    rows = list(
        entries.only(
            "seq",
            "kind",
            "body",
            "occurred_at",
            "is_privileged",
            "target_id",
            "author__display_name",
            "author__email",
        ).order_by("occurred_at", "seq")[: REPLAY_LIMIT + 1]
    )
    truncated = len(rows) > REPLAY_LIMIT
    rows = rows[:REPLAY_LIMIT]
    publications = list(
        Publication.objects.filter(statement__incident=incident)
        .select_related("statement", "version", "published_by")
        .order_by("published_at", "pk")
    )
    times = [incident.detected_at, *(r.occurred_at for r in rows), *(p.published_at for p in publications)]
    start = min(times)
    end = max([*times, incident.resolved_at or start, incident.closed_at or start])
    context = {
        "incident": incident,
        "entries": rows,
        "truncated": truncated,
        "publications": publications,
        "start": start,
        "end": end,
        "start_ms": int(start.timestamp() * 1000),
        "end_ms": int(end.timestamp() * 1000),
        "on_team": _on_team(incident),
    }
    return render(request, "reviews/replay.html", context)


# --- review ----------------------------------------------------------------------------------------------


def _review_for(request: AuthRequest, code: UUID, *, edit: bool = False) -> tuple[Incident, Review]:
    incident = get_incident_for(request.user, code)
    review = Review.objects.filter(incident=incident).first()
    if review is None:
        raise Http404(_("This incident has no review yet; it opens when the incident is resolved."))
    if edit and not _on_team(incident):
        raise PermissionDenied(_("Only the incident team edits the review."))
    return incident, review


def review_context(request: AuthRequest, incident: Incident, review: Review) -> dict[str, Any]:
    sections = {s.key: s for s in ReviewSection.objects.filter(review=review).select_related("updated_by")}
    follow_ups = list(
        FollowUp.objects.filter(review=review)
        .select_related("owner", "deadline", "done_by")
        .order_by("due_at", "pk")
    )
    feedback = list(
        Feedback.objects.filter(review=review).select_related("user").order_by("created_at", "pk")
    )
    participants = list(
        User.objects.filter(role_assignments__incident=incident, is_active=True)
        .distinct()
        .order_by("display_name", "pk")
    )
    participant_ids = {p.pk for p in participants}
    due = (
        Deadline.objects.filter(incident=incident, kind=DeadlineKind.REVIEW)
        .order_by("-created_at", "-pk")
        .first()
    )
    mine = next((f for f in feedback if f.user_id == request.user.pk), None)
    editable = _on_team(incident) and not review.is_locked
    return {
        "incident": incident,
        "review": review,
        "sections": [
            {"key": key, "label": label, "help": SECTION_HELP[key], "row": sections.get(key)}
            for key, label in SectionKey.choices
        ],
        "metrics": incident_metrics(incident),
        "follow_ups": follow_ups,
        "feedback": feedback,
        "my_feedback": mine,
        "participants": participants,
        "review_deadline": due,
        "can_edit": editable,
        "can_complete": _on_team(incident),
        "can_feedback": request.user.pk in participant_ids and not review.is_locked,
        "can_sign_off": incident.commander_id == request.user.pk and not review.is_locked,
        "is_commander": incident.commander_id == request.user.pk,
        "now": timezone.now(),
    }


@require_GET
@login_required
def review(request: AuthRequest, code: UUID) -> HttpResponse:
    incident, rev = _review_for(request, code)
    return render(request, "reviews/review.html", review_context(request, incident, rev))


def _section_response(
    request: AuthRequest, incident: Incident, rev: Review, key: str, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = review_context(request, incident, rev)
    section = next(s for s in context["sections"] if s["key"] == key)
    context |= {"section": section, **extra}
    if wants_fragment(request):
        return render(request, "reviews/review.html#section", context, status=status)
    return render(request, "reviews/review.html", context, status=status)


@require_POST
@login_required
def section_save(request: AuthRequest, code: UUID) -> HttpResponse:
    incident, rev = _review_for(request, code, edit=True)
    key = request.POST.get("key", "")
    if key not in SectionKey.values:
        raise Http404(_("No such section."))
    text = request.POST.get("text", "")
    try:
        expected = int(request.POST.get("version", ""))
    except ValueError:
        return _section_response(
            request, incident, rev, key, status=422, error=_("Reload the page and try again.")
        )
    try:
        services.review_section_save(
            review=rev, key=key, actor=request.user, text=text, expected_version=expected
        )
    except services.SectionConflict as conflict:
        return _section_response(
            request, incident, rev, key, status=409, conflict=conflict.current, mine=text
        )
    except services.ReviewError as exc:
        return _section_response(request, incident, rev, key, status=422, error=str(exc), mine=text)
    if not wants_fragment(request):
        messages.success(request, _("%(section)s saved.") % {"section": SectionKey(key).label})
        return redirect(reverse("reviews:review", args=[incident.code]) + f"#section-{key}")
    return _section_response(request, incident, rev, key, saved=True)


def _region(
    request: AuthRequest, incident: Incident, rev: Review, part: str, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = review_context(request, incident, rev) | extra
    if wants_fragment(request):
        return render(request, f"reviews/review.html#{part}", context, status=status)
    if status < 400:
        return redirect(reverse("reviews:review", args=[incident.code]) + f"#{part}")
    return render(request, "reviews/review.html", context, status=status)


def _parse_due(raw: str) -> datetime | None:
    try:
        value = parse_datetime(raw) if raw else None
    except ValueError:
        return None
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value)  # as typed, in the viewer's zone
    return value


@require_POST
@login_required
def follow_up_add(request: AuthRequest, code: UUID) -> HttpResponse:
    incident, rev = _review_for(request, code, edit=True)
    owner_raw = request.POST.get("owner", "")
    owner = User.objects.filter(pk=int(owner_raw), is_active=True).first() if owner_raw.isdigit() else None
    form = {k: request.POST.get(k, "") for k in ("title", "owner", "due_at")}
    try:
        services.follow_up_add(
            review=rev,
            actor=request.user,
            title=form["title"],
            owner=owner,
            due_at=_parse_due(form["due_at"]),
        )
    except services.ReviewError as exc:
        return _region(
            request, incident, rev, "follow-ups", status=422, follow_up_error=str(exc), follow_up_form=form
        )
    return _region(request, incident, rev, "follow-ups")


@require_POST
@login_required
def follow_up_done(request: AuthRequest, code: UUID) -> HttpResponse:
    incident, rev = _review_for(request, code)
    if not _on_team(incident):
        raise PermissionDenied(_("Only the incident team completes follow-up actions."))
    raw = request.POST.get("follow_up", "")
    item = FollowUp.objects.filter(review=rev, pk=int(raw)).first() if raw.isdigit() else None
    if item is None:
        raise Http404(_("No such follow-up action."))
    try:
        services.follow_up_complete(follow_up=item, actor=request.user)
    except services.ReviewError as exc:
        return _region(request, incident, rev, "follow-ups", status=409, follow_up_error=str(exc))
    return _region(request, incident, rev, "follow-ups")


@require_POST
@login_required
def feedback_save(request: AuthRequest, code: UUID) -> HttpResponse:
    incident, rev = _review_for(request, code)
    if not RoleAssignment.objects.filter(incident=incident, user=request.user).exists():
        raise PermissionDenied(_("Only people who worked on this incident give feedback."))
    raw = request.POST.get("rating", "")
    rating = int(raw) if raw.isdigit() else None
    comment = request.POST.get("comment", "")
    try:
        services.feedback_save(review=rev, actor=request.user, rating=rating, comment=comment)
    except services.ReviewError as exc:
        return _region(
            request,
            incident,
            rev,
            "feedback",
            status=422,
            feedback_error=str(exc),
            feedback_form={"rating": raw, "comment": comment},
        )
    return _region(request, incident, rev, "feedback", feedback_saved=True)


@require_POST
@login_required
def sign_off(request: AuthRequest, code: UUID) -> HttpResponse:
    incident, rev = _review_for(request, code)
    if incident.commander_id != request.user.pk:
        raise PermissionDenied(_("Only the incident commander signs off the review."))
    try:
        services.review_sign_off(review=rev, actor=request.user)
    except services.ReviewError as exc:
        context = review_context(request, incident, rev) | {"sign_off_error": str(exc)}
        return render(request, "reviews/review.html", context, status=422)
    messages.success(
        request, _("Review signed off. It is now locked; follow-up actions stay open until done.")
    )
    return redirect("reviews:review", code=incident.code)


# --- trends ----------------------------------------------------------------------------------------------


@require_GET
@login_required
def trends_page(request: AuthRequest) -> HttpResponse:
    return render(request, "reviews/trends.html", trends.trends_context(request.user))
