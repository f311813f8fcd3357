"""Response deadlines and the reminders that guard them.

PostgreSQL holds the truth: a `Deadline` row says what is due, when and for whom; each of its `Reminder`
rows is one message to send at one moment (before due, at due, escalations). A beat sweep claims due
reminder rows with SKIP LOCKED and records their effect in the same transaction, so a dead worker or a
Redis outage delays a reminder but never loses or duplicates it. Moving a deadline bumps its `version`;
reminders of an older version are cancelled and any in-flight Celery ETA for them becomes a no-op.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.models.incident import Incident, Severity
from incidents.models.team import IncidentRole


class ResponsePolicy(models.Model):
    """How fast the team must speak, per severity. Editable in the admin; seeded with sensible values."""

    severity = models.CharField(
        max_length=8, choices=Severity.choices, unique=True, verbose_name=_("severity")
    )
    first_response_minutes = models.PositiveIntegerField(
        help_text=_("First public response due this long after declaration."),
        verbose_name=_("first response minutes"),
    )
    update_cadence_minutes = models.PositiveIntegerField(
        help_text=_(
            "While the incident is open, the next public update is due this long after the last one."
        ),
        verbose_name=_("update cadence minutes"),
    )
    remind_before_minutes = models.PositiveIntegerField(
        default=10,
        help_text=_("A reminder goes out this long before a deadline (0: no early reminder)."),
        verbose_name=_("remind before minutes"),
    )
    escalation_grace_minutes = models.PositiveIntegerField(
        default=10,
        help_text=_(
            "After a deadline passes, wait this long before escalating to the backup, "
            "and as long again before escalating to the commander."
        ),
        verbose_name=_("escalation grace minutes"),
    )
    review_due_days = models.PositiveIntegerField(
        default=5,
        help_text=_("The post-incident review is due this many days after resolution."),
        verbose_name=_("review due days"),
    )

    class Meta:
        ordering = ["severity"]
        verbose_name_plural = _("response policies")
        verbose_name = _("response policy")

    def __str__(self) -> str:
        return f"{self.get_severity_display()}: respond within {self.first_response_minutes} min"


class DeadlineKind(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First public response")
    UPDATE = "update", _("Next public update")
    APPROVAL = "approval", _("Approval decision")
    TASK = "task", _("Task")
    REVIEW = "review", _("Post-incident review")
    FOLLOW_UP = "follow_up", _("Follow-up action")
    # A notification the law requires by a time (GDPR Art. 33: 72 h from awareness); outlives closure.
    REGULATORY = "regulatory", _("Regulatory notification")


class DeadlineState(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class DeadlineQuerySet(models.QuerySet["Deadline"]):
    def open(self) -> DeadlineQuerySet:
        return self.filter(state=DeadlineState.OPEN)


class Deadline(models.Model):
    """Something the team owes by a time: a public response, an approval, a task, a review."""

    Kind = DeadlineKind
    State = DeadlineState

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="deadlines", verbose_name=_("incident")
    )
    kind = models.CharField(max_length=16, choices=DeadlineKind.choices, verbose_name=_("kind"))
    title = models.CharField(max_length=200, verbose_name=_("title"))
    notes = models.TextField(blank=True, verbose_name=_("notes"))
    # Who answers for it: a named person, else whoever holds `role` (else the commander).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deadlines",
        verbose_name=_("owner"),
    )
    role = models.ForeignKey(
        IncidentRole,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("role"),
    )
    due_at = models.DateTimeField(verbose_name=_("due at"))
    original_due_at = models.DateTimeField(
        help_text=_("The first due time, before any snooze or reschedule."), verbose_name=_("original due at")
    )
    state = models.CharField(
        max_length=12, choices=DeadlineState.choices, default=DeadlineState.OPEN, verbose_name=_("state")
    )
    # Bumped by every reschedule/snooze/completion: reminders and ETA tasks of an older version are void.
    version = models.PositiveIntegerField(default=1, verbose_name=_("version"))
    remind_before_minutes = models.PositiveIntegerField(default=10, verbose_name=_("remind before minutes"))
    escalation_grace_minutes = models.PositiveIntegerField(
        default=10, verbose_name=_("escalation grace minutes")
    )
    # Identifies system deadlines so each exists once while open ("first_response", "update",
    # "approval:<chain step id>", "review", "playbook-task:<id>"); empty for hand-made tasks.
    key = models.CharField(max_length=80, blank=True, verbose_name=_("key"))
    statement = models.ForeignKey(
        "incidents.Statement",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deadlines",
        verbose_name=_("statement"),
    )
    chain_step = models.ForeignKey(
        "incidents.ChainStep",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deadlines",
        verbose_name=_("chain step"),
    )
    missed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When it first went overdue (kept even if done later)."),
        verbose_name=_("missed at"),
    )
    escalation_level = models.PositiveSmallIntegerField(default=0, verbose_name=_("escalation level"))
    snoozed_until = models.DateTimeField(null=True, blank=True, verbose_name=_("snoozed until"))
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("completed at"))
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("completed by"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=_("updated at"))

    objects = DeadlineQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "key"],
                condition=Q(state="open") & ~Q(key=""),
                name="deadline_open_key_unique",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="deadline_version_positive"),
        ]
        indexes = [
            models.Index(fields=["incident", "state", "due_at"], name="deadline_incident_state"),
            models.Index(fields=["owner", "state", "due_at"], name="deadline_owner_state"),
        ]
        verbose_name = _("deadline")
        verbose_name_plural = _("deadlines")

    def __str__(self) -> str:
        return f"{self.incident_id}: {self.title} by {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.state == DeadlineState.OPEN

    @property
    def is_done(self) -> bool:
        return self.state == DeadlineState.DONE

    @property
    def escalated_to(self) -> str:
        """Who its reminders have reached beyond the people responsible: "", "backup", "the commander"."""
        return ("", "backup", "the commander")[min(self.escalation_level, 2)]

    @property
    def was_moved(self) -> bool:
        """Snoozed or rescheduled away from the time it was first due."""
        return self.due_at != self.original_due_at

    @property
    def was_met(self) -> bool | None:
        """True if done on time, False if it went overdue, None while open and not yet missed."""
        if self.missed_at is not None:
            return False
        if self.state == DeadlineState.DONE:
            return True
        return None


class ReminderKind(models.TextChoices):
    BEFORE = "before", _("Coming due")
    DUE = "due", _("Overdue")
    ESCALATE_BACKUP = "escalate_backup", _("Escalated to backup")
    ESCALATE_COMMANDER = "escalate_commander", _("Escalated to commander")


class ReminderState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    CANCELLED = "cancelled", _("Cancelled")


class FiredBy(models.TextChoices):
    ETA = "eta", _("its ETA task")
    SWEEP = "sweep", _("a sweep")


class Reminder(models.Model):
    """One message owed at one moment for one version of a deadline."""

    Kind = ReminderKind
    State = ReminderState

    deadline = models.ForeignKey(
        Deadline, on_delete=models.CASCADE, related_name="reminders", verbose_name=_("deadline")
    )
    kind = models.CharField(max_length=20, choices=ReminderKind.choices, verbose_name=_("kind"))
    version = models.PositiveIntegerField(verbose_name=_("version"))
    due_at = models.DateTimeField(verbose_name=_("due at"))
    state = models.CharField(
        max_length=12, choices=ReminderState.choices, default=ReminderState.PENDING, verbose_name=_("state")
    )
    # Set when the sweep handed it to a Celery ETA task; the sweep still fires it if that task is lost.
    enqueued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("enqueued at"))
    claimed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    # Which path sent it: tests assert the mechanism (the precise ETA task, or the sweep that catches what a
    # lost task missed) instead of how late it was; the bench measures the lateness.
    fired_by = models.CharField(
        max_length=5, choices=FiredBy.choices, blank=True, default="", verbose_name=_("fired by")
    )
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["deadline", "kind", "version"], name="reminder_once_per_version"),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(state="pending"), name="reminder_pending_due"),
        ]
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for deadline {self.deadline_id} v{self.version} at {self.due_at}"

    @property
    def lateness(self) -> timedelta | None:
        return None if self.sent_at is None else self.sent_at - self.due_at


class WebhookEndpoint(models.Model):
    """Where the organisation wants reminders posted (Slack/Teams incoming webhook or any HTTPS receiver).

    Each request is signed: `X-WarRoom-Signature: sha256=<hex HMAC of timestamp.body>` with the secret.
    """

    name = models.CharField(max_length=80, verbose_name=_("name"))
    url = models.URLField(max_length=500, verbose_name=_("url"))
    secret = models.CharField(
        max_length=128, help_text=_("Shared secret for the HMAC signature."), verbose_name=_("secret")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    """Outbox for webhooks: written with the reminder's effect, sent after commit, retried with back-off."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("endpoint")
    )
    key = models.CharField(max_length=200, verbose_name=_("key"))
    payload = models.JSONField(verbose_name=_("payload"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    next_attempt_at = models.DateTimeField(default=timezone.now, verbose_name=_("next attempt at"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    last_status = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("last status"))
    last_error = models.CharField(max_length=500, blank=True, verbose_name=_("last error"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "key"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(sent_at__isnull=True), name="webhook_pending"
            ),
        ]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")

    def __str__(self) -> str:
        return f"{self.endpoint_id}: {self.key}"
