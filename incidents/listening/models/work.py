"""What is done with mentions: spike alerts, the response queue, reply templates, hiding, CSV imports and
drill spikes. Queue and moderation rows hang off mentions so the big table stays narrow.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.listening.models.sources import Mention, Source, Watch
from incidents.models import Deadline, Incident, StatementVersion, TimelineEntry


class AlertKind(models.TextChoices):
    VOLUME = "volume", _("Volume spike")
    NEGATIVE = "negative", _("Negative sentiment spike")


class AlertState(models.TextChoices):
    OPEN = "open", _("Open")
    DECLARED = "declared", _("Declared as an incident")
    DISMISSED = "dismissed", _("Dismissed")
    # On an incident's own watch: recorded on its timeline for the team, nothing to declare.
    NOTED = "noted", _("Posted to the incident")


class SpikeAlert(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name=_("code"))
    watch = models.ForeignKey(Watch, on_delete=models.PROTECT, related_name="alerts", verbose_name=_("watch"))
    kind = models.CharField(max_length=10, choices=AlertKind.choices, verbose_name=_("kind"))
    state = models.CharField(
        max_length=10, choices=AlertState.choices, default=AlertState.OPEN, verbose_name=_("state")
    )
    window_start = models.DateTimeField(verbose_name=_("window start"))
    window_end = models.DateTimeField(verbose_name=_("window end"))
    observed = models.IntegerField(verbose_name=_("observed"))
    expected = models.FloatField(verbose_name=_("expected"))
    threshold = models.FloatField(verbose_name=_("threshold"))
    negative = models.IntegerField(default=0, verbose_name=_("negative"))
    scored = models.IntegerField(default=0, verbose_name=_("scored"))
    baseline_share = models.FloatField(null=True, blank=True, verbose_name=_("baseline share"))
    # The loudest mentions when it fired (ids), shown on the alert and attached when declaring.
    top_mentions = ArrayField(
        models.BigIntegerField(), default=list, blank=True, verbose_name=_("top mentions")
    )
    is_drill = models.BooleanField(default=False, verbose_name=_("is drill"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    incident = models.ForeignKey(
        Incident,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="spike_alerts",
        verbose_name=_("incident"),
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    dismiss_reason = models.CharField(max_length=500, blank=True, verbose_name=_("dismiss reason"))

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["watch", "kind"], condition=Q(state="open"), name="listening_one_open_alert"
            )
        ]
        indexes = [models.Index(fields=["watch", "kind", "-created_at"], name="listening_alert_recent")]
        verbose_name = _("spike alert")
        verbose_name_plural = _("spike alerts")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.watch_id} ({self.state})"

    @property
    def ratio(self) -> float:
        return self.observed / self.expected if self.expected else float(self.observed)

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.scored if self.scored else None

    @property
    def is_open(self) -> bool:
        return self.state == AlertState.OPEN

    @property
    def was_declared(self) -> bool:
        return self.state == AlertState.DECLARED

    @property
    def was_dismissed(self) -> bool:
        return self.state == AlertState.DISMISSED


class ReplyTemplate(models.Model):
    """A reply the team may use in the response queue (seeded; admins edit)."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    text = models.TextField(_("text"))
    language = models.CharField(_("language"), max_length=8, default="en")
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("reply template")
        verbose_name_plural = _("reply templates")

    def __str__(self) -> str:
        return self.name


class ItemState(models.TextChoices):
    OPEN = "open", _("Needs an answer")
    CLAIMED = "claimed", _("Claimed")
    REPLIED = "replied", _("Answered")
    CLOSED = "closed", _("Closed")


class CloseReason(models.TextChoices):
    NO_ACTION = "no_action", _("No action needed")
    SPAM = "spam", _("Spam")
    ABUSE = "abuse", _("Abuse")


class ResponseItem(models.Model):
    """A mention in an incident's response queue: who claimed it, how it was answered or why it was closed."""

    mention = models.OneToOneField(
        Mention, on_delete=models.PROTECT, related_name="response", verbose_name=_("mention")
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="response_items", verbose_name=_("incident")
    )
    state = models.CharField(
        max_length=10, choices=ItemState.choices, default=ItemState.OPEN, verbose_name=_("state")
    )
    reach = models.BigIntegerField(default=0, verbose_name=_("reach"))
    # Bumped by every change: a click based on an older state is refused (409) rather than applied.
    version = models.PositiveIntegerField(default=1, verbose_name=_("version"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("added by"),
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("claimed by"),
    )
    claimed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed at"))
    replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("replied by"),
    )
    replied_at = models.DateTimeField(null=True, blank=True, verbose_name=_("replied at"))
    reply_text = models.TextField(blank=True, db_default="", verbose_name=_("reply text"))
    reply_url = models.CharField(max_length=1000, blank=True, db_default="", verbose_name=_("reply url"))
    reply_template = models.ForeignKey(
        ReplyTemplate,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reply template"),
    )
    reply_version = models.ForeignKey(
        StatementVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reply version"),
    )
    close_reason = models.CharField(
        max_length=10, choices=CloseReason.choices, blank=True, db_default="", verbose_name=_("close reason")
    )
    close_note = models.CharField(max_length=500, blank=True, db_default="", verbose_name=_("close note"))
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("closed by"),
    )
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))
    deadline = models.ForeignKey(
        Deadline,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("deadline"),
    )

    OPEN_STATES: ClassVar[tuple[str, ...]] = (ItemState.OPEN, ItemState.CLAIMED)

    class Meta:
        ordering = ["-reach", "created_at", "pk"]
        indexes = [models.Index(fields=["incident", "state", "-reach"], name="listening_queue")]
        verbose_name = _("response item")
        verbose_name_plural = _("response items")

    def __str__(self) -> str:
        return f"{self.incident_id}: mention {self.mention_id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    @property
    def is_unclaimed(self) -> bool:
        return self.state == ItemState.OPEN

    @property
    def is_claimed(self) -> bool:
        return self.state == ItemState.CLAIMED

    @property
    def is_replied(self) -> bool:
        return self.state == ItemState.REPLIED


class HideReason(models.TextChoices):
    SPAM = "spam", _("Spam")
    ABUSE = "abuse", _("Abuse")
    OFF_TOPIC = "off_topic", _("Not about us")
    DUPLICATE = "duplicate", _("Duplicate")
    OTHER = "other", _("Other")


class HideState(models.TextChoices):
    PENDING = "pending", _("Waiting for a second person")
    DONE = "done", _("Done")
    REFUSED = "refused", _("Refused")


class MentionHide(models.Model):
    """Hiding or showing a mention again: who asked, why, who agreed. Never deleted (a trigger refuses it)."""

    mention = models.ForeignKey(
        Mention, on_delete=models.PROTECT, related_name="hides", verbose_name=_("mention")
    )
    hide = models.BooleanField(default=True, verbose_name=_("hide"))  # False: shown again
    reason_kind = models.CharField(max_length=10, choices=HideReason.choices, verbose_name=_("reason kind"))
    reason = models.CharField(max_length=500, verbose_name=_("reason"))
    state = models.CharField(max_length=10, choices=HideState.choices, verbose_name=_("state"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(default=timezone.now, verbose_name=_("requested at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    incident = models.ForeignKey(
        Incident,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("incident"),
    )
    entry = models.ForeignKey(
        TimelineEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("entry"),
    )

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["mention"], condition=Q(state="pending"), name="listening_one_pending_hide"
            )
        ]
        verbose_name = _("mention hide")
        verbose_name_plural = _("mention hides")

    def __str__(self) -> str:
        return f"{'hide' if self.hide else 'show'} {self.mention_id} ({self.state})"


class CsvImport(models.Model):
    """An uploaded export waiting for its column mapping to be confirmed; nothing is stored before that."""

    class State(models.TextChoices):
        PREVIEW = "preview", _("Waiting for the column mapping")
        IMPORTED = "imported", _("Imported")
        FAILED = "failed", _("Refused")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name=_("code"))
    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="imports", verbose_name=_("source")
    )
    filename = models.CharField(max_length=200, verbose_name=_("filename"))
    text = models.TextField(verbose_name=_("text"))
    delimiter = models.CharField(max_length=1, default=",", verbose_name=_("delimiter"))
    headers = models.JSONField(default=list, verbose_name=_("headers"))
    mapping = models.JSONField(default=dict, verbose_name=_("mapping"))
    time_zone = models.CharField(max_length=64, default="UTC", verbose_name=_("time zone"))
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.PREVIEW, verbose_name=_("state")
    )
    error = models.TextField(blank=True, verbose_name=_("error"))
    stored = models.PositiveIntegerField(default=0, verbose_name=_("stored"))
    duplicates = models.PositiveIntegerField(default=0, verbose_name=_("duplicates"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("uploaded by")
    )
    uploaded_at = models.DateTimeField(default=timezone.now, verbose_name=_("uploaded at"))
    imported_at = models.DateTimeField(null=True, blank=True, verbose_name=_("imported at"))

    class Meta:
        ordering = ["-uploaded_at"]
        verbose_name = _("csv import")
        verbose_name_plural = _("csv imports")

    def __str__(self) -> str:
        return self.filename

    @property
    def is_imported(self) -> bool:
        return self.state == self.State.IMPORTED


class DrillSpike(models.Model):
    """A rehearsed spike: synthetic mentions, labelled drill, injected into a drill's watch over a window."""

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="drill_spikes", verbose_name=_("incident")
    )
    watch = models.ForeignKey(Watch, on_delete=models.PROTECT, related_name="+", verbose_name=_("watch"))
    total = models.PositiveIntegerField(verbose_name=_("total"))
    negative_share = models.FloatField(verbose_name=_("negative share"))
    starts_at = models.DateTimeField(verbose_name=_("starts at"))
    ends_at = models.DateTimeField(verbose_name=_("ends at"))
    injected = models.PositiveIntegerField(default=0, verbose_name=_("injected"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["starts_at"], condition=Q(injected__lt=models.F("total")), name="drill_due")
        ]
        verbose_name = _("drill spike")
        verbose_name_plural = _("drill spikes")

    def __str__(self) -> str:
        return f"drill spike {self.pk} ({self.injected}/{self.total})"

    @property
    def done(self) -> bool:
        return self.injected >= self.total
