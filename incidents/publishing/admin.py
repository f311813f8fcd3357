"""Publishing channels in the admin (Configuration → Publishing channels), for organisation administrators.

A connector names the environment variable that holds its secret; the admin shows whether it is set and from
where, never its value (there is no field that could hold it). Deliveries are listed for looking only, and
only those of incidents the viewer may see (restricted incidents stay with their team).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from incidents.permissions import visible_incidents
from incidents.publishing.models import Connector, Delivery


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "kind", "is_active", "records_as", "secret_status", "allow_drills")
    list_filter = ("kind", "is_active")
    readonly_fields = ("secret_status", "created_at", "updated_at")
    # An instance typed without a scheme is https://, as Django 6 will assume (and as every connector needs).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("name", "kind", "is_active", "allow_drills")}),
        (_("Where"), {"fields": ("base_url", "account", "recipients")}),
        (_("Secret"), {"fields": ("secret_env", "secret_status")}),
        (_("What it takes"), {"fields": ("channel", "accepts", "max_characters")}),
        (None, {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description=_("secret"))
    def secret_status(self, obj: Connector) -> str:
        return obj.secret_status if obj.pk or obj.secret_env else "—"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A connector that delivered something stays (its deliveries point at it); switch it off instead.
        return obj is None or not obj.deliveries.exists()


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("statement", "connector", "state", "attempts", "sent_at", "remote_url")
    list_filter = ("state", "connector")
    list_select_related = ("statement", "connector")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return super().get_queryset(request).filter(statement__incident__in=visible_incidents(request.user))  # type: ignore[arg-type]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
