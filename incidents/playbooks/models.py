"""Crisis playbooks: the plan per scenario, prepared before the crisis, versioned, and rehearsed in drills.

A `Playbook` is the stable identity (name, scenario, owner, review date, retired or not). Its content lives
only in `PlaybookVersion` rows and their child rows (roles, tasks, templates, contacts, injects), which are
never edited: saving in the editor writes a whole new version. An incident records the version it was
declared from (`IncidentPlaybook`), so editing a playbook never changes a running incident.

`Playbook.latest_number` is the optimistic-lock counter: a save says which version it was based on, and one
conditional UPDATE decides who wins; the loser gets a 409 and keeps their input. Version numbers therefore
stay consecutive however many managers save at once.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.models import (
    ApprovalChainTemplate,
    Incident,
    IncidentRole,
    Platform,
    Scenario,
    Severity,
    StatementTemplate,
    TimelineEntry,
)

# A playbook nobody has looked at for this long is probably out of date (contacts move, people leave).
REVIEW_INTERVAL = timedelta(days=90)


def offset_label(seconds: int) -> str:
    """“+45 min”, “+2 h”, “+3 d”, “+1 min 30 s”: how long after declaration, as a person says it."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")) if n]
    return "+" + (" ".join(parts[:2]) if parts else "0 min")


class PlaybookQuerySet(models.QuerySet["Playbook"]):
    def active(self) -> PlaybookQuerySet:
        return self.filter(is_retired=False)


class Playbook(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name=_("code"))
    name = models.CharField(max_length=120, unique=True, verbose_name=_("name"))
    scenario = models.CharField(max_length=32, choices=Scenario.choices, verbose_name=_("scenario"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_playbooks",
        help_text=_("Keeps the playbook current; reminded when it has not been reviewed for 90 days."),
        verbose_name=_("owner"),
    )
    reviewed_on = models.DateField(default=timezone.localdate, verbose_name=_("reviewed on"))
    # The review date a reminder was last sent for: the daily sweep sends at most one per review date.
    review_reminded_for = models.DateField(
        null=True, blank=True, editable=False, verbose_name=_("review reminded for")
    )
    # Optimistic-lock counter and the number of the newest version (0 while the first one is being written).
    latest_number = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("latest number"))
    is_retired = models.BooleanField(default=False, verbose_name=_("is retired"))
    retired_at = models.DateTimeField(null=True, blank=True, verbose_name=_("retired at"))
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("retired by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    objects = PlaybookQuerySet.as_manager()

    class Meta:
        ordering = ["is_retired", "name"]
        verbose_name = _("playbook")
        verbose_name_plural = _("playbooks")

    def __str__(self) -> str:
        return self.name

    @property
    def review_due_on(self) -> date:
        return self.reviewed_on + REVIEW_INTERVAL

    def review_overdue(self, today: date | None = None) -> bool:
        return (today or timezone.localdate()) >= self.review_due_on

    def latest(self) -> PlaybookVersion:
        return self.versions.get(number=self.latest_number)


class PlaybookVersion(models.Model):
    """One immutable state of a playbook. Child rows hang off it and are never edited either."""

    playbook = models.ForeignKey(
        Playbook, on_delete=models.CASCADE, related_name="versions", verbose_name=_("playbook")
    )
    number = models.PositiveIntegerField(verbose_name=_("number"))
    title_hint = models.CharField(
        _("suggested incident title"),
        max_length=200,
        blank=True,
        help_text=_("Pre-filled on the declare form; the declarer completes it (e.g. “Outage: ”)."),
    )
    description = models.TextField(
        help_text=_("What this scenario looks like and what the plan is."), verbose_name=_("description")
    )
    risk_notes = models.TextField(
        blank=True, help_text=_("What can make it worse; what not to do."), verbose_name=_("risk notes")
    )
    default_severity = models.CharField(
        max_length=8, choices=Severity.choices, default=Severity.SEV2, verbose_name=_("default severity")
    )
    default_restricted = models.BooleanField(
        _("restricted by default"),
        default=False,
        help_text=_("Breach details and legal advice stay with the team."),
    )
    platforms = ArrayField(
        models.CharField(max_length=16, choices=Platform.choices),
        default=list,
        blank=True,
        verbose_name=_("platforms"),
    )
    approval_chain = models.ForeignKey(
        ApprovalChainTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The chain statements in this scenario are expected to go through."),
        verbose_name=_("approval chain"),
    )
    bridge_line = models.CharField(
        max_length=200, blank=True, help_text=_("Phone bridge / video room."), verbose_name=_("bridge line")
    )
    chat_channel = models.CharField(
        max_length=200, blank=True, help_text=_("Internal chat channel."), verbose_name=_("chat channel")
    )
    press_inbox = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("Where press enquiries arrive."),
        verbose_name=_("press inbox"),
    )
    other_channels = models.TextField(
        blank=True, help_text=_("Status page, support queue, intranet …"), verbose_name=_("other channels")
    )
    change_note = models.CharField(
        max_length=300, blank=True, help_text=_("What changed and why."), verbose_name=_("change note")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        ordering = ["playbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "number"], name="playbook_version_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="playbook_version_number_positive"),
        ]
        verbose_name = _("playbook version")
        verbose_name_plural = _("playbook versions")

    def __str__(self) -> str:
        return f"{self.playbook.name} v{self.number}"


class PlaybookRole(models.Model):
    """A role to fill when declaring, with the person proposed for it and their backup."""

    version = models.ForeignKey(
        PlaybookVersion, on_delete=models.CASCADE, related_name="roles", verbose_name=_("version")
    )
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    role = models.ForeignKey(IncidentRole, on_delete=models.PROTECT, related_name="+", verbose_name=_("role"))
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("person"),
    )
    backup = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("backup"),
    )

    class Meta:
        ordering = ["version", "order", "pk"]
        verbose_name = _("playbook role")
        verbose_name_plural = _("playbook roles")

    def __str__(self) -> str:
        return f"{self.role} in {self.version_id}"


class PlaybookTask(models.Model):
    """A checklist item; becomes a task deadline `offset_minutes` after declaration."""

    version = models.ForeignKey(
        PlaybookVersion, on_delete=models.CASCADE, related_name="tasks", verbose_name=_("version")
    )
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    title = models.CharField(max_length=200, verbose_name=_("title"))
    offset_minutes = models.PositiveIntegerField(
        help_text=_("Due this many minutes after declaration."), verbose_name=_("offset minutes")
    )
    role = models.ForeignKey(
        IncidentRole,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("role"),
    )
    notes = models.CharField(max_length=500, blank=True, verbose_name=_("notes"))

    class Meta:
        ordering = ["version", "offset_minutes", "order", "pk"]
        verbose_name = _("playbook task")
        verbose_name_plural = _("playbook tasks")

    def __str__(self) -> str:
        return self.title

    @property
    def due_label(self) -> str:
        return offset_label(self.offset_minutes * 60)


class PlaybookTemplate(models.Model):
    """A statement template offered first in the statement editor of incidents declared from this version.

    The template rows are copied on write: the editor creates a new StatementTemplate whenever the text
    changes, so an incident's offers read as they did when it was declared.
    """

    version = models.ForeignKey(
        PlaybookVersion, on_delete=models.CASCADE, related_name="templates", verbose_name=_("version")
    )
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    template = models.ForeignKey(
        StatementTemplate, on_delete=models.PROTECT, related_name="+", verbose_name=_("template")
    )

    class Meta:
        ordering = ["version", "order", "pk"]
        verbose_name = _("playbook template")
        verbose_name_plural = _("playbook templates")

    def __str__(self) -> str:
        return f"{self.template_id} in {self.version_id}"


class ContactKind(models.TextChoices):
    AGENCY = "agency", _("Agency")
    REGULATOR = "regulator", _("Regulator / authority")
    COUNSEL = "counsel", _("Counsel")
    PRESS = "press", _("Press")
    PARTNER = "partner", _("Partner / supplier")
    INTERNAL = "internal", _("Internal")
    OTHER = "other", _("Other")


class PlaybookContact(models.Model):
    version = models.ForeignKey(
        PlaybookVersion, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("version")
    )
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    kind = models.CharField(
        max_length=16, choices=ContactKind.choices, default=ContactKind.OTHER, verbose_name=_("kind")
    )
    name = models.CharField(max_length=120, verbose_name=_("name"))
    organisation = models.CharField(max_length=120, blank=True, verbose_name=_("organisation"))
    phone = models.CharField(max_length=40, blank=True, verbose_name=_("phone"))
    email = models.EmailField(blank=True, verbose_name=_("email"))
    notes = models.CharField(
        max_length=300, blank=True, help_text=_("When to call them, what they need."), verbose_name=_("notes")
    )

    class Meta:
        ordering = ["version", "order", "pk"]
        verbose_name = _("playbook contact")
        verbose_name_plural = _("playbook contacts")

    def __str__(self) -> str:
        return self.name


class ClockStart(models.TextChoices):
    AWARE = "aware", _("When the organisation became aware")
    DECLARED = "declared", _("When the incident was declared")


class PlaybookClock(models.Model):
    """A regulatory clock: a notification the law requires within `hours` (GDPR Art. 33: the supervisory
    authority within 72 hours of becoming aware). Data, not code: each incident declared from the version gets
    a deadline for it, due that long after the incident's awareness (or declaration) time."""

    version = models.ForeignKey(
        PlaybookVersion, on_delete=models.CASCADE, related_name="clocks", verbose_name=_("version")
    )
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    name = models.CharField(
        max_length=160,
        help_text=_("What must be done, e.g. “Notify the supervisory authority”."),
        verbose_name=_("name"),
    )
    authority = models.CharField(
        max_length=160,
        blank=True,
        help_text=_("Who is notified (e.g. IMY, the ICO)."),
        verbose_name=_("authority"),
    )
    basis = models.CharField(
        max_length=120, blank=True, help_text=_("The rule, e.g. “GDPR Art. 33”."), verbose_name=_("basis")
    )
    hours = models.PositiveIntegerField(
        help_text=_("Due this many hours after the start."), verbose_name=_("hours")
    )
    starts = models.CharField(
        max_length=12, choices=ClockStart.choices, default=ClockStart.AWARE, verbose_name=_("starts")
    )
    role = models.ForeignKey(
        IncidentRole,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("role"),
    )
    notes = models.CharField(
        max_length=500,
        blank=True,
        help_text=_("What the notification must contain."),
        verbose_name=_("notes"),
    )

    class Meta:
        ordering = ["version", "hours", "order", "pk"]
        verbose_name = _("playbook clock")
        verbose_name_plural = _("playbook clocks")

    def __str__(self) -> str:
        return f"{self.name} ({self.hours} h)"


class IncidentClock(models.Model):
    """A regulatory clock running for one incident: its deadline, and the notification's reference once made."""

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="regulatory_clocks", verbose_name=_("incident")
    )
    source = models.ForeignKey(
        PlaybookClock, on_delete=models.PROTECT, related_name="+", verbose_name=_("source")
    )
    name = models.CharField(max_length=160, verbose_name=_("name"))
    authority = models.CharField(max_length=160, blank=True, verbose_name=_("authority"))
    basis = models.CharField(max_length=120, blank=True, verbose_name=_("basis"))
    hours = models.PositiveIntegerField(verbose_name=_("hours"))
    starts = models.CharField(
        max_length=12, choices=ClockStart.choices, default=ClockStart.AWARE, verbose_name=_("starts")
    )
    deadline = models.OneToOneField(
        "incidents.Deadline", on_delete=models.PROTECT, related_name="+", verbose_name=_("deadline")
    )
    reference = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("The authority's case or receipt number."),
        verbose_name=_("reference"),
    )
    notified_at = models.DateTimeField(null=True, blank=True, verbose_name=_("notified at"))
    notified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("notified by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        ordering = ["incident", "hours", "pk"]
        constraints = [models.UniqueConstraint(fields=["incident", "source"], name="incident_clock_once")]
        verbose_name = _("incident clock")
        verbose_name_plural = _("incident clocks")

    def __str__(self) -> str:
        return f"{self.name} for {self.incident_id}"

    @property
    def is_done(self) -> bool:
        return self.notified_at is not None

    @property
    def counts_from_awareness(self) -> bool:
        return self.starts == ClockStart.AWARE


class InjectKind(models.TextChoices):
    JOURNALIST = "journalist", _("Journalist enquiry")
    MENTIONS = "mentions", _("Spike of mentions")
    APPROVER_UNREACHABLE = "approver_unreachable", _("Approver unreachable")
    CUSTOMER = "customer", _("Customer / influencer post")
    REGULATOR = "regulator", _("Regulator enquiry")
    INTERNAL = "internal", _("Internal development")


class PlaybookInject(models.Model):
    """One scripted drill event: at `offset_seconds` after a drill is declared, `text` lands on the timeline."""

    version = models.ForeignKey(
        PlaybookVersion, on_delete=models.CASCADE, related_name="injects", verbose_name=_("version")
    )
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    offset_seconds = models.PositiveIntegerField(verbose_name=_("offset seconds"))
    kind = models.CharField(max_length=24, choices=InjectKind.choices, verbose_name=_("kind"))
    text = models.CharField(max_length=1000, verbose_name=_("text"))

    class Meta:
        ordering = ["version", "offset_seconds", "order", "pk"]
        verbose_name = _("playbook inject")
        verbose_name_plural = _("playbook injects")

    def __str__(self) -> str:
        return f"+{self.offset_seconds}s {self.kind}"

    @property
    def at_label(self) -> str:
        return offset_label(self.offset_seconds)


class IncidentPlaybook(models.Model):
    """Which playbook version an incident was declared from (an incident has at most one)."""

    incident = models.OneToOneField(
        Incident, on_delete=models.CASCADE, related_name="playbook_record", verbose_name=_("incident")
    )
    version = models.ForeignKey(
        PlaybookVersion, on_delete=models.PROTECT, related_name="incidents", verbose_name=_("version")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("incident playbook")
        verbose_name_plural = _("incident playbooks")

    def __str__(self) -> str:
        return f"{self.incident_id} from {self.version}"


class DrillInject(models.Model):
    """A drill's scheduled inject: posted to the timeline exactly once, by the beat sweep, at `due_at`."""

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="drill_injects", verbose_name=_("incident")
    )
    source = models.ForeignKey(
        PlaybookInject, on_delete=models.PROTECT, related_name="+", verbose_name=_("source")
    )
    due_at = models.DateTimeField(verbose_name=_("due at"))
    kind = models.CharField(max_length=24, choices=InjectKind.choices, verbose_name=_("kind"))
    text = models.CharField(max_length=1000, verbose_name=_("text"))
    posted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("posted at"))
    entry = models.OneToOneField(
        TimelineEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("entry"),
    )

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "source"], name="drill_inject_once_per_incident")
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(posted_at__isnull=True), name="drill_inject_pending")
        ]
        verbose_name = _("drill inject")
        verbose_name_plural = _("drill injects")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.due_at:%H:%M:%S}"
