"""Who is in an incident's room, in which roles, since when — and the object permissions that follow.

Permissions are django-guardian rows on the direct-FK models below. Only the team services in
`incidents.services` write them, always from the roles a person currently holds.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from incidents.models.incident import Incident


class Perm(models.TextChoices):
    """Per-incident permissions; codenames of Incident's custom permissions."""

    VIEW = "view_incident", _("View the incident")
    POST = "post_to_timeline", _("Post to the timeline")
    DRAFT = "draft_statement", _("Draft statements")
    APPROVE = "approve_statement", _("Approve statements (as a chain step's role)")
    PUBLISH = "publish_statement", _("Publish statements")
    MANAGE_TEAM = "manage_team", _("Manage the team")
    CHANGE_STATUS = "change_status", _("Change status and severity")
    MANAGE_DEADLINES = "manage_deadlines", _("Manage deadlines and tasks")


class IncidentRole(models.Model):
    """A role in the catalogue (admin-editable) and the permissions it carries."""

    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    name = models.CharField(max_length=80, unique=True, verbose_name=_("name"))
    description = models.CharField(max_length=300, blank=True, verbose_name=_("description"))
    sort_order = models.PositiveSmallIntegerField(default=100, verbose_name=_("sort order"))
    # Exactly one person holds the command role at any time (a partial unique index enforces "at most").
    is_command = models.BooleanField(default=False, verbose_name=_("is command"))
    can_post = models.BooleanField(_("post to timeline"), default=False)
    can_draft = models.BooleanField(_("draft statements"), default=False)
    can_approve = models.BooleanField(_("approve statements"), default=False)
    can_publish = models.BooleanField(_("publish statements"), default=False)
    can_manage_team = models.BooleanField(_("manage team"), default=False)
    can_change_status = models.BooleanField(_("change status/severity"), default=False)
    can_manage_deadlines = models.BooleanField(_("manage deadlines and tasks"), default=False)

    FLAG_PERMS: ClassVar[dict[str, Perm]] = {
        "can_post": Perm.POST,
        "can_draft": Perm.DRAFT,
        "can_approve": Perm.APPROVE,
        "can_publish": Perm.PUBLISH,
        "can_manage_team": Perm.MANAGE_TEAM,
        "can_change_status": Perm.CHANGE_STATUS,
        "can_manage_deadlines": Perm.MANAGE_DEADLINES,
    }

    class Meta:
        ordering = ["sort_order", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_command"], condition=Q(is_command=True), name="one_command_role"
            )
        ]
        verbose_name = _("incident role")
        verbose_name_plural = _("incident roles")

    def __str__(self) -> str:
        return self.name

    def perms(self) -> frozenset[Perm]:
        """Every role may view; the flags add the rest."""
        return frozenset(
            {Perm.VIEW} | {perm for flag, perm in self.FLAG_PERMS.items() if getattr(self, flag)}
        )


class RoleAssignmentQuerySet(models.QuerySet["RoleAssignment"]):
    def current(self) -> RoleAssignmentQuerySet:
        return self.filter(ended_at__isnull=True)


class RoleAssignment(models.Model):
    """One person holding one role in one incident, from `started_at` until `ended_at` (null: now).

    Rows are only ever closed, never rewritten, so the history of who held command when is kept.
    """

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="role_assignments", verbose_name=_("incident")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="role_assignments",
        verbose_name=_("user"),
    )
    role = models.ForeignKey(
        IncidentRole, on_delete=models.PROTECT, related_name="assignments", verbose_name=_("role")
    )
    # Copied from the role so the database can enforce one commander per incident.
    is_command = models.BooleanField(default=False, editable=False, verbose_name=_("is command"))
    backup = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="backup_for",
        null=True,
        blank=True,
        help_text=_("Who to escalate to when the holder does not respond."),
        verbose_name=_("backup"),
    )
    started_at = models.DateTimeField(default=timezone.now, verbose_name=_("started at"))
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("started by")
    )
    start_note = models.CharField(max_length=500, blank=True, verbose_name=_("start note"))
    ended_at = models.DateTimeField(null=True, blank=True, verbose_name=_("ended at"))
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("ended by"),
    )
    end_note = models.CharField(max_length=500, blank=True, verbose_name=_("end note"))

    objects = RoleAssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["role__sort_order", "started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "user", "role"],
                condition=Q(ended_at__isnull=True),
                name="one_current_assignment_per_role",
            ),
            models.UniqueConstraint(
                fields=["incident"],
                condition=Q(ended_at__isnull=True, is_command=True),
                name="one_current_commander",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="assignment_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["user", "ended_at"], name="assignment_user_current")]
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")

    def __str__(self) -> str:
        return f"{self.user} as {self.role} in {self.incident_id}"

    @property
    def is_current(self) -> bool:
        return self.ended_at is None


class TeamEvent(models.Model):
    """A team change, recorded for the timeline: who did what to whom, when, and why."""

    class Kind(models.TextChoices):
        JOINED = "joined", _("added to the team")
        ROLE_ASSIGNED = "role_assigned", _("given a role")
        ROLE_REMOVED = "role_removed", _("removed from a role")
        HANDOVER = "handover", _("handed over a role")
        BACKUP_SET = "backup_set", _("backup named")
        LEFT = "left", _("left the team")
        REMOVED = "removed", _("removed from the team")

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="team_events", verbose_name=_("incident")
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, verbose_name=_("kind"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("actor")
    )
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=pgettext_lazy("the person a team event is about", "subject"),
    )
    other = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("other"),
    )
    role = models.ForeignKey(
        IncidentRole,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("role"),
    )
    note = models.CharField(max_length=500, blank=True, verbose_name=_("note"))
    at = models.DateTimeField(default=timezone.now, verbose_name=_("at"))

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("team event")
        verbose_name_plural = _("team events")

    def __str__(self) -> str:
        return f"{self.incident_id}: {self.subject} {self.get_kind_display()}"


class IncidentUserObjectPermission(UserObjectPermissionBase):
    """Direct-FK guardian permissions: indexed joins instead of text object ids (guardian performance docs)."""

    content_object = models.ForeignKey(Incident, on_delete=models.CASCADE, verbose_name=_("content object"))

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = _("incident user object permission")
        verbose_name_plural = _("incident user object permissions")


class IncidentGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Incident, on_delete=models.CASCADE, verbose_name=_("content object"))

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = _("incident group object permission")
        verbose_name_plural = _("incident group object permissions")


class Notification(models.Model):
    """An in-app message for one person (the bell); e-mail copies go through OutboundEmail."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    incident = models.ForeignKey(
        Incident,
        on_delete=models.CASCADE,
        related_name="notifications",
        null=True,
        verbose_name=_("incident"),
    )
    text = models.CharField(max_length=500, verbose_name=_("text"))
    url = models.CharField(max_length=300, blank=True, verbose_name=_("url"))
    # The cause (e.g. "reminder:17:due"): a retried reminder never rings the same person's bell twice.
    key = models.CharField(max_length=200, blank=True, verbose_name=_("key"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    read_at = models.DateTimeField(null=True, blank=True, verbose_name=_("read at"))

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_inbox")]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "key"], condition=~Q(key=""), name="notification_once_per_cause"
            ),
        ]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")

    def __str__(self) -> str:
        return f"to {self.recipient_id}: {self.text[:40]}"


class OutboundEmail(models.Model):
    """Outbox: e-mails are written in the same transaction as the change that causes them and sent after
    commit by a worker; the unique key makes a retried send idempotent."""

    key = models.CharField(max_length=200, unique=True, verbose_name=_("key"))
    to = models.EmailField(verbose_name=_("to"))
    subject = models.CharField(max_length=300, verbose_name=pgettext_lazy("e-mail", "subject"))
    body = models.TextField(verbose_name=_("body"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    last_error = models.CharField(max_length=500, blank=True, verbose_name=_("last error"))

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], condition=Q(sent_at__isnull=True), name="outbox_pending"),
        ]
        verbose_name = _("outbound email")
        verbose_name_plural = _("outbound emails")

    def __str__(self) -> str:
        return f"{self.to}: {self.subject}"
