"""Social listening: where mentions come from, what we watch for, the mentions themselves and their rollups.

- A `Source` is one configured feed, webhook, CSV import target or Mastodon connector, with its health
  (last success, last error, back-off) and, for polled sources, a lease that is the per-source lock.
- A `Watch` is a query (include / exclude terms): organisation-wide, or one per incident.
- A `Mention` is stored once per (source, external id) and never deleted (a database trigger refuses it);
  hiding is a recorded state (`MentionHide`).
- `MentionRollup` holds counts per (watch, 5-minute bucket), upserted in the same transaction as the
  mentions they count. Charts and spike detection read only rollups.
- `SpikeAlert`, the response queue (`ResponseItem`), reply templates, CSV imports and drill spikes are the
  rest; queue and moderation rows hang off mentions so the big table stays narrow.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex, GinIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.models import Deadline, Incident, Platform, StatementVersion, TimelineEntry

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

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=120, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=SourceKind.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    platform = models.CharField(
        _("platform"), max_length=16, choices=MentionPlatform.choices, default=MentionPlatform.OTHER
    )
    url = models.CharField(_("URL"), max_length=500, blank=True)
    tag = models.CharField(_("hashtag"), max_length=100, blank=True)
    query = models.CharField(_("search query"), max_length=200, blank=True)
    access_token = models.CharField(_("access token"), max_length=200, blank=True)
    secret = models.CharField(max_length=100, blank=True, default=new_secret, editable=False)
    # Kept for a day after a rotation, so a sender can switch over without losing deliveries.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
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
    etag = models.CharField(max_length=300, blank=True, editable=False)
    last_modified = models.CharField(max_length=100, blank=True, editable=False)
    cursor = models.CharField(max_length=100, blank=True, editable=False)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    # The per-source lock: a poll claims the source by setting this in one conditional UPDATE; a worker
    # that dies leaves it to expire instead of holding a transaction open across HTTP.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    total_stored = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["next_poll_at"], condition=Q(is_active=True), name="listening_source_due")
        ]

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

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=120)
    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, null=True, blank=True, related_name="watches"
    )
    include_terms = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    exclude_terms = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Spike thresholds (spikes.py): never alert below this many mentions in the hour, whatever the baseline.
    min_volume = models.PositiveIntegerField(_("minimum mentions for an alert"), default=10)
    negative_share = models.FloatField(_("negative share that alerts"), default=0.5)
    # Incident watches: mentions at least this loud join the response queue; louder still get a reply SLA.
    queue_min_reach = models.PositiveIntegerField(_("queue mentions with reach from"), default=1000)
    sla_min_reach = models.PositiveIntegerField(_("reply deadline for reach from"), default=10000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

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
    # No index of its own: listening_mention_once (source, external id) leads with it. Every index is paid for
    # on each of the thousand rows of a webhook batch.
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="mentions", db_index=False)
    external_id = models.CharField(max_length=300)
    url = models.CharField(max_length=1000, blank=True)
    platform = models.CharField(max_length=16, choices=MentionPlatform.choices)
    author_handle = models.CharField(max_length=200, blank=True)
    author_name = models.CharField(max_length=200, blank=True)
    author_reach = models.BigIntegerField(null=True, blank=True)
    language = models.CharField(max_length=8, blank=True)
    language_by = models.CharField(max_length=12, blank=True)
    text = models.TextField()
    published_at = models.DateTimeField()
    ingested_at = models.DateTimeField(default=timezone.now)
    sentiment = models.CharField(max_length=10, choices=Sentiment.choices, default=Sentiment.PENDING)
    sentiment_score = models.FloatField(null=True, blank=True)
    sentiment_by = models.CharField(max_length=8, choices=ScoredBy.choices, blank=True)
    sentiment_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # partial index below: only the few a person tagged have one
    )
    # The organisation watches it counts for (a brand watch and a product watch may both match), and the
    # incident watch it also counts for; `incident` is the incident it belongs to.
    watch_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    # Both indexed partially below: most mentions belong to no incident.
    incident_watch = models.ForeignKey(
        Watch, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, null=True, blank=True, related_name="mentions", db_index=False
    )
    is_drill = models.BooleanField(default=False)
    is_hidden = models.BooleanField(default=False)

    class Meta:
        ordering = ["-published_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="listening_mention_once"),
            models.CheckConstraint(
                condition=Q(sentiment__in=Sentiment.values), name="listening_mention_sentiment_valid"
            ),
        ]
        indexes = [
            BrinIndex(fields=["ingested_at"], name="listening_mention_ingested"),
            # Lists of one watch: newest first, either walking this index and filtering (a busy watch) or
            # through the GIN index on watch_ids (a rare one); the planner picks.
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
    watch = models.ForeignKey(Watch, on_delete=models.PROTECT, related_name="rollups", db_index=False)
    bucket = models.DateTimeField()
    total = models.IntegerField(default=0)
    negative = models.IntegerField(default=0)
    neutral = models.IntegerField(default=0)
    positive = models.IntegerField(default=0)
    unscored = models.IntegerField(default=0)
    pending = models.IntegerField(default=0)
    # Who set the sentiment of the scored ones: what the chart's "scored how" line says.
    by_source = models.IntegerField(default=0)
    by_model = models.IntegerField(default=0)
    by_person = models.IntegerField(default=0)
    reach = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["watch", "bucket"], name="listening_rollup_once"),
        ]

    def __str__(self) -> str:
        return f"{self.watch_id}@{self.bucket:%Y-%m-%d %H:%M}: {self.total}"


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
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    watch = models.ForeignKey(Watch, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=10, choices=AlertKind.choices)
    state = models.CharField(max_length=10, choices=AlertState.choices, default=AlertState.OPEN)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    observed = models.IntegerField()
    expected = models.FloatField()
    threshold = models.FloatField()
    negative = models.IntegerField(default=0)
    scored = models.IntegerField(default=0)
    baseline_share = models.FloatField(null=True, blank=True)
    # The loudest mentions when it fired (ids), shown on the alert and attached when declaring.
    top_mentions = ArrayField(models.BigIntegerField(), default=list, blank=True)
    is_drill = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, null=True, blank=True, related_name="spike_alerts"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    dismiss_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["watch", "kind"], condition=Q(state="open"), name="listening_one_open_alert"
            )
        ]
        indexes = [models.Index(fields=["watch", "kind", "-created_at"], name="listening_alert_recent")]

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

    mention = models.OneToOneField(Mention, on_delete=models.PROTECT, related_name="response")
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="response_items")
    state = models.CharField(max_length=10, choices=ItemState.choices, default=ItemState.OPEN)
    reach = models.BigIntegerField(default=0)
    # Bumped by every change: a click based on an older state is refused (409) rather than applied.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    replied_at = models.DateTimeField(null=True, blank=True)
    reply_text = models.TextField(blank=True, db_default="")
    reply_url = models.CharField(max_length=1000, blank=True, db_default="")
    reply_template = models.ForeignKey(
        ReplyTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reply_version = models.ForeignKey(
        StatementVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    close_reason = models.CharField(max_length=10, choices=CloseReason.choices, blank=True, db_default="")
    close_note = models.CharField(max_length=500, blank=True, db_default="")
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    deadline = models.ForeignKey(Deadline, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    OPEN_STATES: ClassVar[tuple[str, ...]] = (ItemState.OPEN, ItemState.CLAIMED)

    class Meta:
        ordering = ["-reach", "created_at", "pk"]
        indexes = [models.Index(fields=["incident", "state", "-reach"], name="listening_queue")]

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

    mention = models.ForeignKey(Mention, on_delete=models.PROTECT, related_name="hides")
    hide = models.BooleanField(default=True)  # False: shown again
    reason_kind = models.CharField(max_length=10, choices=HideReason.choices)
    reason = models.CharField(max_length=500)
    state = models.CharField(max_length=10, choices=HideState.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    entry = models.ForeignKey(
        TimelineEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["mention"], condition=Q(state="pending"), name="listening_one_pending_hide"
            )
        ]

    def __str__(self) -> str:
        return f"{'hide' if self.hide else 'show'} {self.mention_id} ({self.state})"


class CsvImport(models.Model):
    """An uploaded export waiting for its column mapping to be confirmed; nothing is stored before that."""

    class State(models.TextChoices):
        PREVIEW = "preview", _("Waiting for the column mapping")
        IMPORTED = "imported", _("Imported")
        FAILED = "failed", _("Refused")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="imports")
    filename = models.CharField(max_length=200)
    text = models.TextField()
    delimiter = models.CharField(max_length=1, default=",")
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)
    time_zone = models.CharField(max_length=64, default="UTC")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PREVIEW)
    error = models.TextField(blank=True)
    stored = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    imported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return self.filename

    @property
    def is_imported(self) -> bool:
        return self.state == self.State.IMPORTED


class DrillSpike(models.Model):
    """A rehearsed spike: synthetic mentions, labelled drill, injected into a drill's watch over a window."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="drill_spikes")
    watch = models.ForeignKey(Watch, on_delete=models.PROTECT, related_name="+")
    total = models.PositiveIntegerField()
    negative_share = models.FloatField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    injected = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["starts_at"], condition=Q(injected__lt=models.F("total")), name="drill_due")
        ]

    def __str__(self) -> str:
        return f"drill spike {self.pk} ({self.injected}/{self.total})"

    @property
    def done(self) -> bool:
        return self.injected >= self.total
