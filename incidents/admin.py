from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from incidents.models import Incident, IncidentChange, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):  # type: ignore[type-arg]  # stubs expect AbstractUser; ours is AbstractBaseUser
    ordering = ["display_name"]
    list_display = ["email", "display_name", "org_role", "time_zone", "is_active", "is_staff"]
    list_filter = ["org_role", "is_active", "is_staff"]
    search_fields = ["email", "display_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("display_name", "phone", "time_zone")}),
        ("Access", {"fields": ("org_role", "is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("email", "display_name", "org_role", "password1", "password2")},
        ),
    )


class IncidentChangeInline(admin.TabularInline[IncidentChange, Incident]):
    model = IncidentChange
    extra = 0
    can_delete = False
    fields = ["changed_at", "field", "old_value", "new_value", "changed_by", "note"]
    readonly_fields = ["changed_at", "field", "old_value", "new_value", "changed_by", "note"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin[Incident]):
    """Configuration view only: lifecycle changes go through the war room, which records who and when."""

    list_display = ["reference", "title", "severity", "status", "is_drill", "is_restricted", "declared_at"]
    list_filter = ["status", "severity", "scenario", "is_drill", "is_restricted"]
    search_fields = ["reference", "title"]
    readonly_fields = [
        "code",
        "reference",
        "status",
        "severity",
        "declared_by",
        "declared_at",
        "status_changed_at",
        "resolved_at",
        "closed_at",
    ]
    inlines = [IncidentChangeInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
