"""Listening in the admin: reply templates are edited here; everything else is for looking, never deleting.

Mentions of a restricted incident are listed only to its team, through the same helper as the pages.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from incidents.listening.models import (
    Mention,
    MentionHide,
    ReplyTemplate,
    ResponseItem,
    Source,
    SpikeAlert,
    Watch,
)
from incidents.permissions import visible_incidents


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # criticism is never deleted; a database trigger refuses it too


def _visible(request: HttpRequest, qs: QuerySet[Any], field: str = "incident") -> QuerySet[Any]:
    return qs.filter(Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__in": visible_incidents(request.user)}))  # type: ignore[arg-type]


@admin.register(ReplyTemplate)
class ReplyTemplateAdmin(admin.ModelAdmin[ReplyTemplate]):
    list_display = ["name", "language", "is_active"]
    list_filter = ["is_active", "language"]
    search_fields = ["name", "text"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # replies point at their template: retire one by unticking "active"


@admin.register(Source)
class SourceAdmin(_ReadOnly):
    list_display = [
        "name",
        "kind",
        "is_active",
        "last_success_at",
        "consecutive_failures",
        "total_stored",
        "owner",
    ]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "url"]
    exclude = ["secret", "previous_secret", "access_token"]


@admin.register(Watch)
class WatchAdmin(_ReadOnly):
    list_display = ["name", "incident", "is_active", "min_volume", "negative_share"]
    list_filter = ["is_active"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Watch]:
        return _visible(request, super().get_queryset(request).select_related("incident"))


@admin.register(Mention)
class MentionAdmin(_ReadOnly):
    list_display = [
        "published_at",
        "platform",
        "author_handle",
        "author_reach",
        "sentiment",
        "sentiment_by",
        "is_hidden",
        "is_drill",
    ]
    list_filter = ["platform", "sentiment", "sentiment_by", "is_hidden", "is_drill"]
    search_fields = ["author_handle", "external_id"]
    show_full_result_count = False  # no COUNT(*) over a million rows per page
    date_hierarchy = None

    def get_queryset(self, request: HttpRequest) -> QuerySet[Mention]:
        return _visible(request, super().get_queryset(request).select_related("source"))


@admin.register(SpikeAlert)
class SpikeAlertAdmin(_ReadOnly):
    list_display = ["created_at", "watch", "kind", "state", "observed", "expected", "incident", "decided_by"]
    list_filter = ["kind", "state", "is_drill"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SpikeAlert]:
        return _visible(
            request, super().get_queryset(request).select_related("watch", "incident", "decided_by")
        )


@admin.register(ResponseItem)
class ResponseItemAdmin(_ReadOnly):
    list_display = ["incident", "mention", "state", "reach", "claimed_by", "replied_at", "close_reason"]
    list_filter = ["state", "close_reason"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ResponseItem]:
        return _visible(
            request, super().get_queryset(request).select_related("incident", "mention", "claimed_by")
        )


@admin.register(MentionHide)
class MentionHideAdmin(_ReadOnly):
    list_display = ["requested_at", "mention", "hide", "reason_kind", "state", "requested_by", "decided_by"]
    list_filter = ["state", "reason_kind", "hide"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[MentionHide]:
        return _visible(
            request, super().get_queryset(request).select_related("mention", "requested_by", "decided_by")
        )
