"""The configuration admin (/admin/): catalogues, chains, templates, policies, webhooks, and incidents through
the same visibility door as the pages. May import models, permissions and services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import models
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from incidents import services
from incidents.models import (
    ApprovalChainTemplate,
    ApprovalStepTemplate,
    Audience,
    Deadline,
    Incident,
    IncidentChange,
    IncidentRole,
    ResponsePolicy,
    RoleAssignment,
    Scenario,
    Severity,
    StatementTemplate,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from incidents.permissions import visible_incidents


@admin.register(User)
class UserAdmin(BaseUserAdmin):  # type: ignore[type-arg]  # stubs expect AbstractUser; ours is AbstractBaseUser
    ordering = ["display_name"]
    list_display = ["email", "display_name", "org_role", "time_zone", "is_active", "is_staff"]
    list_filter = ["org_role", "is_active", "is_staff"]
    search_fields = ["email", "display_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (gettext_lazy("Person"), {"fields": ("display_name", "phone", "time_zone")}),
        (gettext_lazy("Access"), {"fields": ("org_role", "is_active", "is_staff", "is_superuser")}),
        (gettext_lazy("Dates"), {"fields": ("last_login", "date_joined")}),
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


# --- statements: approval chains and the template library ---------------------------------------------------


class ApprovalChainForm(forms.ModelForm[ApprovalChainTemplate]):
    """Criteria as check boxes (an empty set matches anything)."""

    severities = forms.MultipleChoiceField(
        choices=Severity.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None: any."),
    )
    audiences = forms.MultipleChoiceField(
        choices=Audience.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None: any."),
    )
    scenarios = forms.MultipleChoiceField(
        choices=Scenario.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None: any."),
    )

    class Meta:
        model = ApprovalChainTemplate
        fields = [
            "name",
            "description",
            "is_active",
            "sort_order",
            "severities",
            "audiences",
            "scenarios",
            "allow_self_approval",
            "distinct_approvers",
            "fill_chain",
            "fill_only",
        ]


class ApprovalStepFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        super().clean()
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        for form in kept:
            data = form.cleaned_data
            if data.get("role") is None and not data.get("users"):
                form.add_error("role", _("Name a role or at least one person who approves this step."))
        if not kept and not self.instance.fill_only and self.instance.is_active:
            raise forms.ValidationError(
                _("An active chain needs at least one step, or nothing could approve.")
            )


class ApprovalStepInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ApprovalStepTemplate
    formset = ApprovalStepFormSet
    extra = 0
    fields = ["order", "name", "role", "users", "rule", "required_count", "sla_minutes"]
    filter_horizontal = ["users"]
    ordering = ["order"]


@admin.register(ApprovalChainTemplate)
class ApprovalChainTemplateAdmin(admin.ModelAdmin[ApprovalChainTemplate]):
    """Approval chains. A statement keeps the steps it was submitted with: edits here apply to later
    submissions only."""

    form = ApprovalChainForm
    inlines = [ApprovalStepInline]
    list_display = [
        "name",
        "criteria",
        "step_names",
        "allow_self_approval",
        "distinct_approvers",
        "is_active",
    ]
    list_filter = ["is_active", "fill_only"]
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active", "sort_order")}),
        (gettext_lazy("Applies to"), {"fields": ("severities", "audiences", "scenarios")}),
        (gettext_lazy("Separation of duties"), {"fields": ("allow_self_approval", "distinct_approvers")}),
        (gettext_lazy("Template fills"), {"fields": ("fill_chain", "fill_only")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApprovalChainTemplate]:
        return super().get_queryset(request).prefetch_related("steps")

    @admin.display(description=gettext_lazy("Applies to"))
    def criteria(self, obj: ApprovalChainTemplate) -> str:
        parts = [", ".join(values) for values in (obj.severities, obj.audiences, obj.scenarios) if values]
        return " · ".join(parts) or _("anything")

    @admin.display(description=gettext_lazy("Steps"))
    def step_names(self, obj: ApprovalChainTemplate) -> str:
        return " → ".join(step.name for step in obj.steps.all())


@admin.register(StatementTemplate)
class StatementTemplateAdmin(admin.ModelAdmin[StatementTemplate]):
    """The library of pre-approved statements. Statements started from a template keep the text as it read
    then, so editing a template never changes what was already drafted or approved."""

    list_display = ["name", "scenario", "channel", "audience", "language", "is_active", "sort_order"]
    list_filter = ["is_active", "scenario", "channel", "audience"]
    list_editable = ["is_active", "sort_order"]
    search_fields = ["name", "title", "body"]


# --- deadlines ------------------------------------------------------------------------------------------------


@admin.register(ResponsePolicy)
class ResponsePolicyAdmin(admin.ModelAdmin[ResponsePolicy]):
    list_display = [
        "severity",
        "first_response_minutes",
        "update_cadence_minutes",
        "remind_before_minutes",
        "escalation_grace_minutes",
        "review_due_days",
    ]
    list_editable = [
        "first_response_minutes",
        "update_cadence_minutes",
        "remind_before_minutes",
        "escalation_grace_minutes",
        "review_due_days",
    ]


class WebhookDeliveryInline(_ReadOnlyInline):
    model = WebhookDelivery
    fields = ["key", "created_at", "attempts", "sent_at", "last_status", "last_error", "next_attempt_at"]
    ordering = ["-created_at"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin[WebhookEndpoint]):
    list_display = ["name", "url", "is_active", "created_at"]
    fields = ["name", "url", "secret", "is_active"]
    inlines = [WebhookDeliveryInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # a receiver typed without a scheme


@admin.register(Deadline)
class DeadlineAdmin(admin.ModelAdmin[Deadline]):
    """Read-only: deadlines change through the room (services keep reminders and the timeline in step)."""

    list_display = [
        "title",
        "incident",
        "kind",
        "due_at",
        "state",
        "version",
        "escalation_level",
        "missed_at",
    ]
    list_filter = ["kind", "state"]
    list_select_related = ["incident"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Deadline]:
        # Restricted incidents stay hidden from staff who are not on their team, here as everywhere.
        return super().get_queryset(request).filter(incident__in=visible_incidents(request.user))  # type: ignore[arg-type]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
