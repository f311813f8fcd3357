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

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=80, unique=True)
    description = models.CharField(max_length=300, blank=True)
    sort_order = models.PositiveSmallIntegerField(default=100)
    # Exactly one person holds the command role at any time (a partial unique index enforces "at most").
    is_command = models.BooleanField(default=False)
    can_post = models.BooleanField("post to timeline", default=False)
    can_draft = models.BooleanField("draft statements", default=False)
    can_approve = models.BooleanField("approve statements", default=False)
    can_publish = models.BooleanField("publish statements", default=False)
    can_manage_team = models.BooleanField("manage team", default=False)
    can_change_status = models.BooleanField("change status/severity", default=False)
    can_manage_deadlines = models.BooleanField("manage deadlines and tasks", default=False)

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

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="role_assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="role_assignments"
    )
    role = models.ForeignKey(IncidentRole, on_delete=models.PROTECT, related_name="assignments")
    # Copied from the role so the database can enforce one commander per incident.
    is_command = models.BooleanField(default=False, editable=False)
    backup = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="backup_for",
        null=True,
        blank=True,
        help_text="Who to escalate to when the holder does not respond.",
    )
    started_at = models.DateTimeField(default=timezone.now)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    start_note = models.CharField(max_length=500, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    end_note = models.CharField(max_length=500, blank=True)

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

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="team_events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    other = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    role = models.ForeignKey(IncidentRole, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    note = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.incident_id}: {self.subject} {self.get_kind_display()}"

    def describe(self) -> str:
        role = f" {self.role.name}" if self.role_id and self.role else ""
        match self.kind:
            case self.Kind.HANDOVER:
                return f"{self.subject} handed over{role} to {self.other}"
            case self.Kind.BACKUP_SET:
                return f"{self.other or 'nobody'} is now {self.subject}'s backup as{role}"
            case self.Kind.ROLE_ASSIGNED:
                return f"{self.subject} is now{role}"
            case self.Kind.ROLE_REMOVED:
                return f"{self.subject} is no longer{role}"
            case _:
                return f"{self.subject} {self.get_kind_display()}"


class IncidentUserObjectPermission(UserObjectPermissionBase):
    """Direct-FK guardian permissions: indexed joins instead of text object ids (guardian performance docs)."""

    content_object = models.ForeignKey(Incident, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        pass


class IncidentGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Incident, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        pass


class Notification(models.Model):
    """An in-app message for one person (the bell); e-mail copies go through OutboundEmail."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notifications", null=True)
    text = models.CharField(max_length=500)
    url = models.CharField(max_length=300, blank=True)
    # The cause (e.g. "reminder:17:due"): a retried reminder never rings the same person's bell twice.
    key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_inbox")]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "key"], condition=~Q(key=""), name="notification_once_per_cause"
            ),
        ]

    def __str__(self) -> str:
        return f"to {self.recipient_id}: {self.text[:40]}"


class OutboundEmail(models.Model):
    """Outbox: e-mails are written in the same transaction as the change that causes them and sent after
    commit by a worker; the unique key makes a retried send idempotent."""

    key = models.CharField(max_length=200, unique=True)
    to = models.EmailField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], condition=Q(sent_at__isnull=True), name="outbox_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.to}: {self.subject}"
