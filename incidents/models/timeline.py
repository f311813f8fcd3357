"""The incident timeline: append-only entries with a gapless per-incident sequence number.

`seq` is allocated under the incident's row lock, so seq order is commit order and a reader that has
delivered seq n can safely ask for everything after n (the live stream's cursor). A database trigger
refuses UPDATE and DELETE: a correction, retraction or pin is a new entry pointing at its target.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.models.incident import Incident


class TimelineEntry(models.Model):
    class Kind(models.TextChoices):
        NOTE = "note", _("Note")
        DECISION = "decision", _("Decision")
        ACTION = "action", _("Action taken")
        EXTERNAL = "external", _("External update")
        EVIDENCE = "evidence", _("Social mention / evidence")
        # Written by the system, through the same service:
        STATUS = "status", _("Status change")
        SEVERITY = "severity", _("Severity change")
        TEAM = "team", _("Team change")
        STATEMENT = "statement", _("Statement event")
        REMINDER = "reminder", _("Reminder / escalation")
        SUMMARY = "summary", _("Summary update")
        # Entries about other entries:
        CORRECTION = "correction", _("Correction")
        RETRACTION = "retraction", _("Retraction")
        PIN = "pin", _("Pinned as key event")
        UNPIN = "unpin", _("Unpinned")

    POSTABLE: ClassVar[tuple[str, ...]] = (
        Kind.NOTE,
        Kind.DECISION,
        Kind.ACTION,
        Kind.EXTERNAL,
        Kind.EVIDENCE,
    )
    SYSTEM: ClassVar[tuple[str, ...]] = (Kind.STATUS, Kind.SEVERITY, Kind.TEAM, Kind.STATEMENT, Kind.REMINDER)
    ABOUT_ANOTHER: ClassVar[tuple[str, ...]] = (Kind.CORRECTION, Kind.RETRACTION, Kind.PIN, Kind.UNPIN)

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="entries", verbose_name=_("incident")
    )
    seq = models.PositiveIntegerField(verbose_name=_("seq"))
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="timeline_entries",
        null=True,
        verbose_name=_("author"),
    )
    body = models.TextField(blank=True, verbose_name=_("body"))
    occurred_at = models.DateTimeField(default=timezone.now, verbose_name=_("occurred at"))
    recorded_at = models.DateTimeField(default=timezone.now, verbose_name=_("recorded at"))
    is_privileged = models.BooleanField(
        _("legal privilege"), default=False, help_text=_("Shown to the team; kept out of exports.")
    )
    target = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="followups",
        verbose_name=_("target"),
    )
    # The entry's fragment, rendered once at write time: the page, the live stream and replays all send
    # exactly these bytes (and the stream never has to touch templates or the ORM).
    html = models.TextField(verbose_name=_("html"))
    idempotency_key = models.CharField(max_length=64, blank=True, verbose_name=_("idempotency key"))

    class Meta:
        ordering = ["-seq"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "seq"], name="timeline_seq_unique"),
            models.UniqueConstraint(
                fields=["author", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="timeline_idempotency",
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="timeline_seq_positive"),
        ]
        indexes = [models.Index(fields=["incident", "kind", "-seq"], name="timeline_kind_seq")]
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline entries")

    def __str__(self) -> str:
        return f"{self.incident_id}#{self.seq} {self.kind}"

    @property
    def is_backdated(self) -> bool:
        return (self.recorded_at - self.occurred_at).total_seconds() > 60

    @property
    def refers_as(self) -> str:
        """How an entry about another one says what it does to it, before the target's number ("Corrects
        #12", "Pinned #4"); corrections are the default."""
        return _REFERS_AS.get(self.kind, "Corrects")


_REFERS_AS: dict[str, str] = {
    TimelineEntry.Kind.PIN: "Pinned",
    TimelineEntry.Kind.UNPIN: "Unpinned",
    TimelineEntry.Kind.RETRACTION: "Retracts",
}


class Evidence(models.Model):
    """A file attached to a timeline entry, stored under a server-generated name outside any public URL."""

    entry = models.ForeignKey(
        TimelineEntry, on_delete=models.PROTECT, related_name="evidence", verbose_name=_("entry")
    )
    code = models.UUIDField(unique=True, verbose_name=_("code"))
    stored_name = models.CharField(max_length=100, unique=True, verbose_name=_("stored name"))
    original_name = models.CharField(max_length=200, verbose_name=_("original name"))
    content_type = models.CharField(max_length=40, verbose_name=_("content type"))
    size = models.PositiveIntegerField(verbose_name=_("size"))
    sha256 = models.CharField(max_length=64, verbose_name=_("sha256"))
    width = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("width"))
    height = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("height"))
    uploaded_at = models.DateTimeField(default=timezone.now, verbose_name=_("uploaded at"))

    class Meta:
        verbose_name = _("evidence")
        verbose_name_plural = _("evidences")

    def __str__(self) -> str:
        return self.original_name
