"""The incident itself: severity, scenario, the lifecycle's transition table and its change history, references.
Imports only errors (and, for types, the user model)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import connection, models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from incidents.models.errors import Refused

if TYPE_CHECKING:
    from incidents.models.users import User


class InvalidTransition(Refused):
    """A status change the lifecycle does not allow; the message is shown to the user as is."""


class Scenario(models.TextChoices):
    OUTAGE = "outage", _("Technical failure / outage")
    DATA_BREACH = "data_breach", _("Data breach / security")
    CONTROVERSIAL_POST = "controversial_post", _("Controversial post or campaign")
    COMPLAINT = "complaint", _("Product or service complaint")
    CONDUCT = "conduct", _("Executive / employee conduct")
    MISINFORMATION = "misinformation", _("Misinformation / rumour")
    LEGAL = "legal", _("Legal / regulatory")
    OTHER = "other", _("Other")


class Severity(models.TextChoices):
    SEV1 = "sev1", _("SEV1")
    SEV2 = "sev2", _("SEV2")
    SEV3 = "sev3", _("SEV3")
    SEV4 = "sev4", _("SEV4")


SEVERITY_MEANING: dict[str, StrOrPromise] = {
    Severity.SEV1: _(
        "Critical: harm spreading fast to people, trust or the business; executives engaged now."
    ),
    Severity.SEV2: _("Major: wide public attention or customer impact; first response within the hour."),
    Severity.SEV3: _("Moderate: limited spread or a contained audience; respond the same working day."),
    Severity.SEV4: _("Minor: low visibility; monitor and respond through normal channels."),
}


class Status(models.TextChoices):
    DETECTED = "detected", _("Detected")
    ASSESSING = "assessing", _("Assessing")
    RESPONDING = "responding", _("Responding")
    MONITORING = "monitoring", _("Monitoring")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


STATUS_MEANING: dict[str, StrOrPromise] = {
    Status.DETECTED: _("Something surfaced; nobody has assessed it yet."),
    Status.ASSESSING: _("The team is establishing facts, reach and risk."),
    Status.RESPONDING: _("The team is acting and communicating publicly."),
    Status.MONITORING: _("Response is out; watching reactions for a relapse."),
    Status.RESOLVED: _("The crisis is over; the review is due."),
    Status.CLOSED: _("Review done (or a false alarm); the record is archived."),
}


class Platform(models.TextChoices):
    X = "x", _("X")
    FACEBOOK = "facebook", _("Facebook")
    INSTAGRAM = "instagram", _("Instagram")
    TIKTOK = "tiktok", _("TikTok")
    LINKEDIN = "linkedin", _("LinkedIn")
    YOUTUBE = "youtube", _("YouTube")
    REDDIT = "reddit", _("Reddit")
    NEWS = "news", _("News media")
    REVIEWS = "reviews", _("Review sites")
    WEBSITE = "website", _("Own website")
    OTHER = "other", _("Other")


class DrillSpeed(models.IntegerChoices):
    """How much faster than real time a drill runs: its injects and deadlines come this many times sooner."""

    REAL = 1, _("×1 (real time)")
    X5 = 5, _("×5")
    X10 = 10, _("×10")
    X30 = 30, _("×30")


def first_line(text: str, *, limit: int = 200) -> str:
    """The short form shown in lists: the first non-empty line, cut at `limit` characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


class IncidentQuerySet(models.QuerySet["Incident"]):
    def open(self) -> IncidentQuerySet:
        return self.exclude(status__in=Incident.ARCHIVED_STATUSES)

    def archived(self) -> IncidentQuerySet:
        return self.filter(status__in=Incident.ARCHIVED_STATUSES)

    def for_listing(self) -> IncidentQuerySet:
        """What the dashboard rows show: the incident and its commander's name, nothing more."""
        return self.select_related("commander").only(*self.LISTING_FIELDS, "commander__display_name")

    LISTING_FIELDS = (
        "code",
        "reference",
        "title",
        "scenario",
        "severity",
        "status",
        "declared_at",
        "resolved_at",
        "is_drill",
        "is_restricted",
        "commander",
        "summary",
        "current_summary",
    )


class Incident(models.Model):
    """One crisis (or drill). Its lifecycle is the transition table below, kept as data."""

    # Allowed moves. "detected → closed" is a false alarm; "resolved → responding" reopens a relapse.
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.DETECTED: frozenset({Status.ASSESSING, Status.RESPONDING, Status.CLOSED}),
        Status.ASSESSING: frozenset({Status.RESPONDING, Status.MONITORING, Status.CLOSED}),
        Status.RESPONDING: frozenset({Status.MONITORING, Status.RESOLVED}),
        Status.MONITORING: frozenset({Status.RESPONDING, Status.RESOLVED}),
        Status.RESOLVED: frozenset({Status.RESPONDING, Status.CLOSED}),
        Status.CLOSED: frozenset(),
    }
    ARCHIVED_STATUSES: ClassVar[tuple[str, ...]] = (Status.RESOLVED, Status.CLOSED)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name=_("code"))
    reference = models.CharField(max_length=20, unique=True, editable=False, verbose_name=_("reference"))
    title = models.CharField(max_length=200, verbose_name=_("title"))
    # What the public may read about it (a statement template's {incident_title}); the title above is the
    # team's own words and never fills a public text. Empty until a drafter names it.
    public_label = models.CharField(
        _("public name"),
        max_length=200,
        blank=True,
        help_text=_(
            "How public statements name the incident (the title is internal and never used for that)."
        ),
    )
    summary = models.TextField(blank=True, verbose_name=_("summary"))
    scenario = models.CharField(max_length=32, choices=Scenario.choices, verbose_name=_("scenario"))
    severity = models.CharField(max_length=8, choices=Severity.choices, verbose_name=_("severity"))
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.DETECTED, verbose_name=_("status")
    )
    affected_platforms = ArrayField(
        models.CharField(max_length=16, choices=Platform.choices),
        default=list,
        blank=True,
        verbose_name=_("affected platforms"),
    )
    detected_at = models.DateTimeField(
        help_text=_("When the problem first surfaced (may precede declaration)."),
        verbose_name=_("detected at"),
    )
    declared_at = models.DateTimeField(default=timezone.now, verbose_name=_("declared at"))
    # When the organisation became aware (GDPR Art. 33 counts its 72 hours from here); None: detection.
    aware_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Empty: the detection time."), verbose_name=_("aware at")
    )
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="declared_incidents",
        verbose_name=_("declared by"),
    )
    # Denormalised for the dashboard; the team issue keeps it in step with the role assignments.
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="commanded_incidents",
        null=True,
        verbose_name=_("commander"),
    )
    status_changed_at = models.DateTimeField(default=timezone.now, verbose_name=_("status changed at"))
    resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resolved at"))
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))
    is_drill = models.BooleanField(_("drill"), default=False)
    # A drill's speed, chosen when it starts (real incidents are always 1: see `scaled`).
    drill_speed = models.PositiveSmallIntegerField(
        _("drill speed"), choices=DrillSpeed.choices, default=DrillSpeed.REAL
    )
    # While a drill is paused: since when. Resuming shifts everything still pending by the pause.
    drill_paused_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("drill paused at")
    )
    is_restricted = models.BooleanField(
        _("restricted"), default=False, help_text=_("Only the incident team can see a restricted incident.")
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    # Last timeline seq handed out; bumped under this row's lock (see services.timeline).
    timeline_seq = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("timeline seq"))
    # The living summary's latest text and version (services.summary keeps them in step with
    # SummaryVersion, under this row's lock); 0 until the commander first writes one.
    current_summary = models.TextField(blank=True, editable=False, verbose_name=_("current summary"))
    summary_version = models.PositiveIntegerField(
        default=0, editable=False, verbose_name=_("summary version")
    )

    objects = IncidentQuerySet.as_manager()

    # Set by permissions.get_incident_for: the viewer's per-incident permission codenames.
    viewer_perms: frozenset[str] = frozenset()

    class Meta:
        ordering = ["-declared_at"]
        indexes = [
            models.Index(fields=["status", "-declared_at"], name="incident_status_declared"),
            # The dashboard and "my incidents" list the open ones, newest first: a few dozen among thousands
            # of archived incidents. The condition is exactly IncidentQuerySet.open()'s, so the planner uses it.
            models.Index(
                fields=["-declared_at"],
                condition=~Q(status__in=[Status.RESOLVED, Status.CLOSED]),
                name="incident_open_declared",
            ),
        ]
        # Granted per incident by the team services (guardian object permissions); never model-wide.
        permissions = [
            ("post_to_timeline", "Post to the timeline"),
            ("draft_statement", "Draft statements"),
            ("approve_statement", "Approve statements"),
            ("publish_statement", "Publish statements"),
            ("manage_team", "Manage the team"),
            ("change_status", "Change status and severity"),
            ("manage_deadlines", "Manage deadlines and tasks"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(detected_at__lte=models.F("declared_at")),
                name="incident_detected_before_declared",
            ),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="incident_status_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="incident_severity_valid"),
            models.CheckConstraint(
                condition=Q(drill_speed=1) | Q(is_drill=True, drill_speed__in=DrillSpeed.values),
                name="incident_speed_drills_only",
            ),
            models.CheckConstraint(
                condition=Q(drill_paused_at__isnull=True) | Q(is_drill=True),
                name="incident_pause_drills_only",
            ),
        ]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def room_url(self) -> str:
        return room_url_for(self.code)

    @property
    def severity_meaning(self) -> str:
        return str(SEVERITY_MEANING[self.severity])

    @property
    def status_meaning(self) -> str:
        return str(STATUS_MEANING[self.status])

    @property
    def state_line(self) -> str:
        """The incident's current state in one line: the living summary's first line, else the summary
        written at declaration (what lists, notifications and exports show)."""
        return first_line(self.current_summary or self.summary)

    @property
    def is_open(self) -> bool:
        return self.status not in self.ARCHIVED_STATUSES

    @property
    def speed(self) -> int:
        """The factor time runs faster by here: a drill's chosen speed; 1 for every real incident."""
        return self.drill_speed if self.is_drill and self.drill_speed > 1 else 1

    @property
    def is_compressed(self) -> bool:
        return self.speed > 1

    @property
    def is_paused(self) -> bool:
        return self.is_drill and self.drill_paused_at is not None

    def scaled(self, real: timedelta) -> timedelta:
        """How long `real` (an SLA, a cadence, a task's or an inject's offset) lasts in this incident.

        The one place time compression is applied: every inject time and every deadline of a drill is
        computed through here, so a real incident (speed 1) keeps real times by construction.
        """
        speed = self.speed
        return real if speed == 1 else real / speed

    @property
    def became_aware_at(self) -> datetime:
        """When the organisation became aware: set by a person, else the detection time."""
        return self.aware_at or self.detected_at

    def allowed_transitions(self) -> list[Status]:
        allowed = self.TRANSITIONS[self.status]
        return [s for s in Status if s in allowed]

    def ensure_can_move_to(self, new_status: str) -> None:
        if new_status not in Status.values:
            raise InvalidTransition(gettext("“%(status)s” is not a status.") % {"status": new_status})
        here = self.get_status_display().lower()
        if new_status == self.status:
            raise InvalidTransition(gettext("The incident is already %(status)s.") % {"status": here})
        if new_status not in self.TRANSITIONS[self.status]:
            raise InvalidTransition(
                gettext("An incident cannot go from %(here)s to %(new)s.")
                % {"here": here, "new": Status(new_status).label.lower()}
            )

    def platform_labels(self) -> list[str]:
        return [str(Platform(p).label) for p in self.affected_platforms if p in Platform.values]

    @staticmethod
    def next_reference(year: int) -> str:
        """Allocate `INC-<year>-<nnnn>` atomically: one upsert, so concurrent declarations never collide."""
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO incidents_referencecounter (year, value) VALUES (%s, 1)
                ON CONFLICT (year) DO UPDATE SET value = incidents_referencecounter.value + 1
                RETURNING value
                """,
                [year],
            )
            (value,) = cursor.fetchone()
        return f"INC-{year}-{value:04d}"


_PLACEHOLDER = str(uuid.UUID(int=0))


def room_url_for(code: uuid.UUID) -> str:
    """The room's address of the incident with this code (`Incident.room_url`, for rows read as values)."""
    return _room_url_pattern().replace(_PLACEHOLDER, str(code))


@cache
def _room_url_pattern() -> str:
    # reverse() costs ~60 µs; lists need one URL per row, so resolve the pattern once.
    return reverse("incidents:room", args=[_PLACEHOLDER])


class ReferenceCounter(models.Model):
    """Last incident number handed out per year (see Incident.next_reference)."""

    year = models.PositiveIntegerField(primary_key=True, verbose_name=_("year"))
    value = models.PositiveIntegerField(default=0, verbose_name=_("value"))

    class Meta:
        verbose_name = _("reference counter")
        verbose_name_plural = _("reference counters")

    def __str__(self) -> str:
        return f"{self.year}: {self.value}"


class IncidentChange(models.Model):
    """One status, severity or restriction change: who, when, from what to what. Never edited."""

    class Field(models.TextChoices):
        STATUS = "status", _("Status")
        SEVERITY = "severity", _("Severity")
        RESTRICTION = "restriction", _("Restriction")

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="changes", verbose_name=_("incident")
    )
    field = models.CharField(max_length=16, choices=Field.choices, verbose_name=_("field"))
    old_value = models.CharField(max_length=32, blank=True, verbose_name=_("old value"))
    new_value = models.CharField(max_length=32, verbose_name=_("new value"))
    note = models.CharField(max_length=500, blank=True, verbose_name=_("note"))
    changed_by: models.ForeignKey[User, User] = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("changed by")
    )
    changed_at = models.DateTimeField(default=timezone.now, verbose_name=_("changed at"))

    class Meta:
        ordering = ["changed_at", "pk"]
        indexes = [models.Index(fields=["incident", "field", "changed_at"], name="incidentchange_lookup")]
        verbose_name = _("incident change")
        verbose_name_plural = _("incident changes")

    def __str__(self) -> str:
        return f"{self.incident_id} {self.field}: {self.old_value} → {self.new_value}"

    def label(self, value: str) -> str:
        choices = Status if self.field == self.Field.STATUS else Severity
        return str(choices(value).label) if value in choices.values else value
