from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from incidents import services
from incidents.models import Incident, IncidentChange, IncidentRole, RoleAssignment, User
from incidents.permissions import visible_incidents


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


class _ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class IncidentChangeInline(_ReadOnlyInline):
    model = IncidentChange
    fields = ["changed_at", "field", "old_value", "new_value", "changed_by", "note"]


class RoleAssignmentInline(_ReadOnlyInline):
    model = RoleAssignment
    fk_name = "incident"
    fields = ["user", "role", "backup", "started_at", "ended_at", "end_note"]


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin[Incident]):
    """Configuration view only: lifecycle and team changes go through the war room, which records them."""

    list_display = ["reference", "title", "severity", "status", "is_drill", "is_restricted", "declared_at"]
    list_filter = ["status", "severity", "scenario", "is_drill", "is_restricted"]
    search_fields = ["reference", "title"]
    readonly_fields = [
        "code",
        "reference",
        "status",
        "severity",
        "declared_by",
        "commander",
        "declared_at",
        "status_changed_at",
        "resolved_at",
        "closed_at",
    ]
    inlines = [RoleAssignmentInline, IncidentChangeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Incident]:
        # Staff status is not a way into restricted incidents: the admin shows what the war room would.
        return visible_incidents(request.user)  # type: ignore[arg-type]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(IncidentRole)
class IncidentRoleAdmin(admin.ModelAdmin[IncidentRole]):
    """The role catalogue. Saving a role re-derives the permissions of everyone holding it now."""

    list_display = [
        "name",
        "sort_order",
        "can_post",
        "can_draft",
        "can_approve",
        "can_publish",
        "can_manage_team",
        "can_change_status",
        "can_manage_deadlines",
    ]
    list_editable = ["sort_order"]
    readonly_fields = ["is_command"]
    prepopulated_fields = {"slug": ("name",)}

    def save_model(
        self, request: HttpRequest, obj: IncidentRole, form: ModelForm[IncidentRole], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if change:
            services.role_resync_holders(role=obj)

    def has_delete_permission(self, request: HttpRequest, obj: IncidentRole | None = None) -> bool:
        # Roles with history are PROTECTed anyway; unused ones may go.
        return obj is None or not obj.assignments.exists()
