"""The post-incident review: one per incident, opened when it is resolved, signed off by its commander.

Editable sections are rows with their own version counter, so two people editing different sections never
conflict, and two editing the same section get a 409 with both texts instead of a lost update. Follow-up
actions are deadlines (kind FOLLOW_UP) so the deadlines machinery reminds their owners; `FollowUp` links
the review to that deadline and keeps what the review page needs.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from incidents.models import Deadline, Incident


class SectionKey(models.TextChoices):
    SUMMARY = "summary", _("Summary")
    WENT_WELL = "went_well", _("What went well")
    WENT_BADLY = "went_badly", _("What went badly")
    LESSONS = "lessons", _("Lessons learned")


SECTION_HELP: dict[str, Promise] = {
    SectionKey.SUMMARY: _("What happened, in a few sentences someone outside the team would understand."),
    SectionKey.WENT_WELL: _("What helped: decisions, tools, people, timing. Keep doing these."),
    SectionKey.WENT_BADLY: _("What slowed us down or made things worse. Facts, not blame."),
    SectionKey.LESSONS: _("What we change next time. Turn each into a follow-up action with an owner."),
}

SECTION_MAX_CHARS = 20_000


class Review(models.Model):
    incident = models.OneToOneField(
        Incident, on_delete=models.CASCADE, related_name="review", verbose_name=_("incident")
    )
    opened_at = models.DateTimeField(default=timezone.now, verbose_name=_("opened at"))
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("opened by"),
    )
    signed_off_at = models.DateTimeField(null=True, blank=True, verbose_name=_("signed off at"))
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("signed off by"),
    )

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")

    def __str__(self) -> str:
        return f"Review of {self.incident_id}"

    @property
    def is_locked(self) -> bool:
        return self.signed_off_at is not None


class ReviewSection(models.Model):
    review = models.ForeignKey(
        Review, on_delete=models.CASCADE, related_name="sections", verbose_name=_("review")
    )
    key = models.CharField(max_length=16, choices=SectionKey.choices, verbose_name=_("key"))
    text = models.TextField(blank=True, verbose_name=_("text"))
    # Optimistic lock: a save names the version it was based on; one conditional UPDATE decides.
    version = models.PositiveIntegerField(default=0, verbose_name=_("version"))
    updated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("updated at"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )

    class Meta:
        ordering = ["review", "key"]
        constraints = [
            models.UniqueConstraint(fields=["review", "key"], name="review_section_unique"),
            models.CheckConstraint(condition=Q(key__in=SectionKey.values), name="review_section_key_valid"),
        ]
        verbose_name = _("review section")
        verbose_name_plural = _("review sections")

    def __str__(self) -> str:
        return f"{self.review_id} {self.key} v{self.version}"


class FollowUp(models.Model):
    review = models.ForeignKey(
        Review, on_delete=models.CASCADE, related_name="follow_ups", verbose_name=_("review")
    )
    title = models.CharField(max_length=200, verbose_name=_("title"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("owner")
    )
    due_at = models.DateTimeField(verbose_name=_("due at"))
    # The reminder-bearing deadline (kind FOLLOW_UP, key "follow-up:<id>").
    deadline = models.OneToOneField(
        Deadline,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="follow_up",
        verbose_name=_("deadline"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    done_at = models.DateTimeField(null=True, blank=True, verbose_name=_("done at"))
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("done by"),
    )

    class Meta:
        ordering = ["due_at", "pk"]
        verbose_name = _("follow up")
        verbose_name_plural = _("follow ups")

    def __str__(self) -> str:
        return self.title

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


class Feedback(models.Model):
    review = models.ForeignKey(
        Review, on_delete=models.CASCADE, related_name="feedback", verbose_name=_("review")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("user")
    )
    rating = models.PositiveSmallIntegerField(verbose_name=_("rating"))
    comment = models.TextField(blank=True, verbose_name=_("comment"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=_("updated at"))

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["review", "user"], name="review_feedback_once"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="review_feedback_rating"),
        ]
        verbose_name = _("feedback")
        verbose_name_plural = _("feedbacks")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.rating}/5"


class ExportFormat(models.TextChoices):
    PDF = "pdf", _("PDF")
    MARKDOWN = "md", _("Markdown")
    CSV = "csv", _("CSV")
    JSON = "json", _("JSON")


class ExportState(models.TextChoices):
    QUEUED = "queued", _("Waiting for a worker")
    RUNNING = "running", _("Being prepared")
    READY = "ready", _("Ready to download")
    FAILED = "failed", _("Failed")


class ExportJob(models.Model):
    """A large export prepared by a Celery worker for the person who asked (incidents/reviews/export_jobs.py).

    The file lives in private storage under a server-generated name and is served only to its requester,
    through the permission-checked download view, until `expires_at`. `requested_at` is the export's
    "Exported" stamp, so the worker writes exactly the bytes the synchronous path would have written then.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name=_("code"))
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="export_jobs", verbose_name=_("incident")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("requested by")
    )
    fmt = models.CharField(max_length=4, choices=ExportFormat.choices, verbose_name=_("fmt"))
    include_privileged = models.BooleanField(default=False, verbose_name=_("include privileged"))
    # The exporter's interface language when they asked: the worker writes the headings in it.
    language = models.CharField(_("language"), max_length=16, blank=True)
    state = models.CharField(
        max_length=8, choices=ExportState.choices, default=ExportState.QUEUED, verbose_name=_("state")
    )
    progress = models.PositiveSmallIntegerField(default=0, verbose_name=_("progress"))  # percent
    entries = models.PositiveIntegerField(
        default=0, verbose_name=_("entries")
    )  # timeline entries when asked (shown while waiting)
    requested_at = models.DateTimeField(default=timezone.now, verbose_name=_("requested at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    stored_name = models.CharField(max_length=80, blank=True, verbose_name=_("stored name"))
    size = models.PositiveBigIntegerField(default=0, verbose_name=_("size"))
    sha256 = models.CharField(max_length=64, blank=True, verbose_name=_("sha256"))
    error = models.CharField(max_length=300, blank=True, verbose_name=_("error"))

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            # One export of a kind in flight per person and incident: a double click or a second tab gets
            # the job already running instead of a second worker building the same file.
            models.UniqueConstraint(
                fields=["incident", "requested_by", "fmt", "include_privileged"],
                condition=Q(state__in=["queued", "running"]),
                name="export_job_one_in_flight",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="export_job_progress_percent"),
        ]
        indexes = [models.Index(fields=["expires_at"], name="export_job_expiry")]
        verbose_name = _("export job")
        verbose_name_plural = _("export jobs")

    def __str__(self) -> str:
        return f"{self.fmt} export of {self.incident_id} for {self.requested_by_id} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in (ExportState.READY, ExportState.FAILED)

    @property
    def is_ready(self) -> bool:
        return self.state == ExportState.READY

    @property
    def has_failed(self) -> bool:
        return self.state == ExportState.FAILED
