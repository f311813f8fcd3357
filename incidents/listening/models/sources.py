"""Where mentions come from (`Source`), what we watch for (`Watch`), the mentions themselves and their rollups.

See the package's docstring for the whole picture.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.models import Incident, Platform

BUCKET = timedelta(minutes=5)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class MentionPlatform(models.TextChoices):
    X = "x", _("X")
    FACEBOOK = "facebook", _("Facebook")
    INSTAGRAM = "instagram", _("Instagram")
    TIKTOK = "tiktok", _("TikTok")
    LINKEDIN = "linkedin", _("LinkedIn")
    YOUTUBE = "youtube", _("YouTube")
    REDDIT = "reddit", _("Reddit")
    MASTODON = "mastodon", _("Mastodon")
    BLUESKY = "bluesky", _("Bluesky")
    NEWS = "news", _("News media")
    BLOG = "blog", _("Blogs")
    FORUM = "forum", _("Forums")
    REVIEWS = "reviews", _("Review sites")
    OTHER = "other", _("Other")

    @classmethod
    def incident_platform(cls, value: str) -> str:
        """The incident's platform list knows fewer networks: the rest count as "other"."""
        return value if value in Platform.values else Platform.OTHER


class SourceKind(models.TextChoices):
    FEED = "feed", _("RSS / Atom feed")
    WEBHOOK = "webhook", _("Signed webhook")
    CSV = "csv", _("CSV import")
    MASTODON = "mastodon", _("Mastodon")
    DRILL = "drill", _("Drill (synthetic mentions)")


POLLED_KINDS = (SourceKind.FEED, SourceKind.MASTODON)


class Source(models.Model):
    """Where mentions come from. Polled kinds carry their conditional-GET validators or paging cursor."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name=_("code"))
    name = models.CharField(_("name"), max_length=120, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=SourceKind.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    platform = models.CharField(
        _("platform"), max_length=16, choices=MentionPlatform.choices, default=MentionPlatform.OTHER
    )
    url = models.CharField(_("URL"), max_length=500, blank=True)
    tag = models.CharField(_("hashtag"), max_length=100, blank=True)
    query = models.CharField(_("search query"), max_length=200, blank=True)
    access_token = models.CharField(_("access token"), max_length=200, blank=True)
    secret = models.CharField(
        max_length=100, blank=True, default=new_secret, editable=False, verbose_name=_("secret")
    )
    # Kept for a day after a rotation, so a sender can switch over without losing deliveries.
    previous_secret = models.CharField(
        max_length=100, blank=True, editable=False, verbose_name=_("previous secret")
    )
    secret_rotated_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("secret rotated at")
    )
    watch = models.ForeignKey(
        "Watch",
        verbose_name=_("watch"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bound_sources",
        help_text=_(
            "Every mention from this source counts for this watch (e.g. a listening tool's project)."
        ),
    )
    poll_interval_seconds = models.PositiveIntegerField(_("poll every (seconds)"), default=300)
    etag = models.CharField(max_length=300, blank=True, editable=False, verbose_name=_("etag"))
    last_modified = models.CharField(
        max_length=100, blank=True, editable=False, verbose_name=_("last modified")
    )
    cursor = models.CharField(max_length=100, blank=True, editable=False, verbose_name=_("cursor"))
    next_poll_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next poll at"))
    # The per-source lock: a poll claims the source by setting this in one conditional UPDATE; a worker
    # that dies leaves it to expire instead of holding a transaction open across HTTP.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("lease until"))
    last_polled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last polled at"))
    last_success_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last success at"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    last_error_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last error at"))
    consecutive_failures = models.PositiveIntegerField(default=0, verbose_name=_("consecutive failures"))
    total_stored = models.BigIntegerField(default=0, verbose_name=_("total stored"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["next_poll_at"], condition=Q(is_active=True), name="listening_source_due")
        ]
        verbose_name = _("source")
        verbose_name_plural = _("sources")

    def __str__(self) -> str:
        return self.name

    @property
    def is_webhook(self) -> bool:
        return self.kind == SourceKind.WEBHOOK

    @property
    def is_csv(self) -> bool:
        return self.kind == SourceKind.CSV

    @property
    def is_polled(self) -> bool:
        return self.kind in POLLED_KINDS

    @property
    def is_failing(self) -> bool:
        return self.consecutive_failures > 0


class Watch(models.Model):
    """A query over mentions: organisation-wide (brand, product, executive) or one per incident."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name=_("code"))
    name = models.CharField(_("name"), max_length=120)
    incident = models.ForeignKey(
        Incident,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="watches",
        verbose_name=_("incident"),
    )
    include_terms = ArrayField(
        models.CharField(max_length=100), default=list, blank=True, verbose_name=_("include terms")
    )
    exclude_terms = ArrayField(
        models.CharField(max_length=100), default=list, blank=True, verbose_name=_("exclude terms")
    )
    is_active = models.BooleanField(_("active"), default=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
    )
    # Spike thresholds (spikes.py): never alert below this many mentions in the hour, whatever the baseline.
    min_volume = models.PositiveIntegerField(_("minimum mentions for an alert"), default=10)
    negative_share = models.FloatField(_("negative share that alerts"), default=0.5)
    # Incident watches: mentions at least this loud join the response queue; louder still get a reply SLA.
    queue_min_reach = models.PositiveIntegerField(_("queue mentions with reach from"), default=1000)
    sla_min_reach = models.PositiveIntegerField(_("reply deadline for reach from"), default=10000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=_("updated at"))

    class Meta:
        ordering = ["incident_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident"],
                condition=Q(is_active=True, incident__isnull=False),
                name="listening_one_active_watch_per_incident",
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(is_active=True, incident__isnull=True),
                name="listening_org_watch_name_unique",
            ),
        ]
        verbose_name = _("watch")
        verbose_name_plural = _("watchs")

    def __str__(self) -> str:
        return self.name

    @property
    def is_incident_watch(self) -> bool:
        return self.incident_id is not None


class Sentiment(models.TextChoices):
    NEGATIVE = "negative", _("Negative")
    NEUTRAL = "neutral", _("Neutral")
    POSITIVE = "positive", _("Positive")
    # No scorer for the mention's language: a person tags it.
    UNSCORED = "unscored", _("Unscored")
    # Stored, not yet through language detection and scoring (a worker does that right after ingest).
    PENDING = "pending", _("Scoring…")


SCORED = (Sentiment.NEGATIVE, Sentiment.NEUTRAL, Sentiment.POSITIVE)


class ScoredBy(models.TextChoices):
    NONE = "", _("nobody")
    SOURCE = "source", _("the source's own label")
    MODEL = "model", _("VADER (English)")
    PERSON = "person", _("a person")


class Mention(models.Model):
    """One post, article or comment that mentioned us. Stored once per (source, external id)."""

    id = models.BigAutoField(primary_key=True)
    # The foreign keys below have no constraint in the database (db_constraint=False). A constraint checks every
    # inserted row at commit, one trigger call per row and key — NULL or not — and with four of them that was
    # 8 ms of a 1,000-mention webhook batch, more than its commit. What they guarded is kept another way:
    # - a parent never goes while mentions point at it: a trigger on each parent table refuses the DELETE
    #   (migration 0007) besides PROTECT here, so nothing is ever left pointing at nothing;
    # - the rows point at existing parents: ingest's statement locks the source row and stores nothing when it
    #   is not there; watch and incident ids come from the rows the batch's matcher read, which can no longer be
    #   deleted; `sentiment_set_by` is the signed-in person who tagged the mention.
    # No index of its own: listening_mention_once (source, external id) leads with it. Every index is paid for
    # on each of the thousand rows of a webhook batch.
    source = models.ForeignKey(
        Source,
        on_delete=models.PROTECT,
        related_name="mentions",
        db_index=False,
        db_constraint=False,
        verbose_name=_("source"),
    )
    external_id = models.CharField(max_length=300, verbose_name=_("external id"))
    url = models.CharField(max_length=1000, blank=True, verbose_name=_("url"))
    platform = models.CharField(max_length=16, choices=MentionPlatform.choices, verbose_name=_("platform"))
    author_handle = models.CharField(max_length=200, blank=True, verbose_name=_("author handle"))
    author_name = models.CharField(max_length=200, blank=True, verbose_name=_("author name"))
    author_reach = models.BigIntegerField(null=True, blank=True, verbose_name=_("author reach"))
    language = models.CharField(max_length=8, blank=True, verbose_name=_("language"))
    language_by = models.CharField(max_length=12, blank=True, verbose_name=_("language by"))
    text = models.TextField(verbose_name=_("text"))
    published_at = models.DateTimeField(verbose_name=_("published at"))
    ingested_at = models.DateTimeField(default=timezone.now, verbose_name=_("ingested at"))
    sentiment = models.CharField(
        max_length=10, choices=Sentiment.choices, default=Sentiment.PENDING, verbose_name=_("sentiment")
    )
    sentiment_score = models.FloatField(null=True, blank=True, verbose_name=_("sentiment score"))
    sentiment_by = models.CharField(
        max_length=8, choices=ScoredBy.choices, blank=True, verbose_name=_("sentiment by")
    )
    sentiment_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
        verbose_name=_("sentiment set by"),  # partial index below: only the few a person tagged have one
    )
    # The organisation watches it counts for (a brand watch and a product watch may both match), and the
    # incident watch it also counts for; `incident` is the incident it belongs to.
    watch_ids = ArrayField(models.BigIntegerField(), default=list, blank=True, verbose_name=_("watch ids"))
    # Both indexed partially below: most mentions belong to no incident.
    incident_watch = models.ForeignKey(
        Watch,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
        verbose_name=_("incident watch"),
    )
    incident = models.ForeignKey(
        Incident,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="mentions",
        db_index=False,
        db_constraint=False,
        verbose_name=_("incident"),
    )
    is_drill = models.BooleanField(default=False, verbose_name=_("is drill"))
    is_hidden = models.BooleanField(default=False, verbose_name=_("is hidden"))

    class Meta:
        ordering = ["-published_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="listening_mention_once"),
            models.CheckConstraint(
                condition=Q(sentiment__in=Sentiment.values), name="listening_mention_sentiment_valid"
            ),
        ]
        indexes = [
            # Lists of one watch: newest first, either walking this index and filtering (a busy watch) or
            # through the GIN index on watch_ids (a rare one); the planner picks. It also bounds a new incident
            # watch's backfill to the last day's mentions (no index on ingested_at: it was only ever that).
            models.Index(fields=["-published_at", "-id"], name="listening_mention_newest"),
            GinIndex(fields=["watch_ids"], name="listening_mention_watches"),
            models.Index(
                fields=["incident", "-published_at", "-id"],
                condition=Q(incident__isnull=False),  # most mentions belong to no incident: no entry for them
                name="listening_mention_incident",
            ),
            models.Index(
                fields=["id"], condition=Q(sentiment=Sentiment.PENDING), name="listening_mention_pending"
            ),
            # The foreign keys' lookups (and PROTECT checks) for the rows that have one; listening_mention_incident
            # serves `incident`.
            models.Index(
                fields=["incident_watch"],
                condition=Q(incident_watch__isnull=False),
                name="listening_mention_inc_watch",
            ),
            models.Index(
                fields=["sentiment_set_by"],
                condition=Q(sentiment_set_by__isnull=False),
                name="listening_mention_set_by",
            ),
        ]
        verbose_name = _("mention")
        verbose_name_plural = _("mentions")

    def __str__(self) -> str:
        return f"{self.author_handle or '?'}: {self.text[:40]}"

    @property
    def is_negative(self) -> bool:
        return self.sentiment == Sentiment.NEGATIVE


class MentionRollup(models.Model):
    """Counts per (watch, 5-minute bucket of published time), kept in step with the mentions table."""

    # Indexed only by listening_rollup_once (watch, bucket), which leads with the watch: every ingest and
    # scoring batch updates these rows, and with no index on a column it changes (counts, updated_at) an
    # update can stay on its page (HOT) instead of adding an entry to every index.
    watch = models.ForeignKey(
        Watch, on_delete=models.PROTECT, related_name="rollups", db_index=False, verbose_name=_("watch")
    )
    bucket = models.DateTimeField(verbose_name=_("bucket"))
    total = models.IntegerField(default=0, verbose_name=_("total"))
    negative = models.IntegerField(default=0, verbose_name=_("negative"))
    neutral = models.IntegerField(default=0, verbose_name=_("neutral"))
    positive = models.IntegerField(default=0, verbose_name=_("positive"))
    unscored = models.IntegerField(default=0, verbose_name=_("unscored"))
    pending = models.IntegerField(default=0, verbose_name=_("pending"))
    # Who set the sentiment of the scored ones: what the chart's "scored how" line says.
    by_source = models.IntegerField(default=0, verbose_name=_("by source"))
    by_model = models.IntegerField(default=0, verbose_name=_("by model"))
    by_person = models.IntegerField(default=0, verbose_name=_("by person"))
    reach = models.BigIntegerField(default=0, verbose_name=_("reach"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=_("updated at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["watch", "bucket"], name="listening_rollup_once"),
        ]
        verbose_name = _("mention rollup")
        verbose_name_plural = _("mention rollups")

    def __str__(self) -> str:
        return f"{self.watch_id}@{self.bucket:%Y-%m-%d %H:%M}: {self.total}"
