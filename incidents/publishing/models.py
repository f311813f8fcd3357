"""Connectors (where the organisation publishes) and deliveries (one approved version on its way to one
connector).

Model decision: a statement keeps exactly one `Publication` (the base app's append-only record of *what* went
out: the version and its sha256). *Where* it went is a `Delivery` per connector, unique per (statement,
connector): the same approved bytes go to Mastodon, Bluesky and the press list, each with its own state, remote
id and link, retried on its own. The first delivery a platform confirms writes the Publication; the others
find it. So nothing is marked published that no platform confirmed, and nothing is posted twice to one place.

Secrets never live in the database: a connector names an environment variable (`WARROOM_PUBLISH_…`, or its
`…_FILE` twin for a secret file, the warroom/env.py convention) and the worker reads it when it sends.
"""

from __future__ import annotations

import os
import re
import secrets
import time
import uuid
from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.models import Channel, Statement, StatementVersion
from warroom.env import env_str

# Only variables with this prefix may be named: an administrator must not be able to point a connector at
# SECRET_KEY or DATABASE_URL and have it sent to a URL of their choosing.
SECRET_PREFIX = "WARROOM_PUBLISH_"
_SECRET_NAME = re.compile(r"^WARROOM_PUBLISH_[A-Z0-9_]{1,80}$")


class ConnectorKind(models.TextChoices):
    MASTODON = "mastodon", _("Mastodon")
    BLUESKY = "bluesky", _("Bluesky")
    EMAIL = "email", _("E-mail distribution list")
    WEBHOOK = "webhook", _("Signed webhook")


# What a connector records the publication as, and which statement channels it takes, unless configured.
DEFAULT_CHANNEL: dict[str, str] = {
    ConnectorKind.MASTODON: Channel.MASTODON,
    ConnectorKind.BLUESKY: Channel.BLUESKY,
    ConnectorKind.EMAIL: Channel.PRESS_RELEASE,
    ConnectorKind.WEBHOOK: Channel.WEBSITE,
}
DEFAULT_ACCEPTS: dict[str, list[str]] = {
    ConnectorKind.MASTODON: [Channel.MASTODON, Channel.BLUESKY, Channel.X],
    ConnectorKind.BLUESKY: [Channel.BLUESKY, Channel.X],
    ConnectorKind.EMAIL: [Channel.PRESS_RELEASE, Channel.EMAIL],
    ConnectorKind.WEBHOOK: [Channel.WEBSITE],
}


class Connector(models.Model):
    """One channel the organisation publishes to, configured by an administrator."""

    Kind = ConnectorKind

    name = models.CharField(
        max_length=80,
        unique=True,
        help_text=_("What publishers see, e.g. “Mastodon @northwind”."),
        verbose_name=_("name"),
    )
    kind = models.CharField(max_length=12, choices=ConnectorKind.choices, verbose_name=_("kind"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    channel = models.CharField(
        max_length=20,
        choices=Channel.choices,
        blank=True,
        help_text=_("Recorded as the channel it went out on; empty: by kind."),
        verbose_name=_("channel"),
    )
    accepts = ArrayField(
        models.CharField(max_length=20, choices=Channel.choices),
        default=list,
        blank=True,
        help_text=_("Statements written for these channels may go here; empty: the kind's usual ones."),
        verbose_name=_("accepts"),
    )
    base_url = models.URLField(
        _("address"),
        max_length=300,
        blank=True,
        help_text=_(
            "Mastodon instance (https://mastodon.social), Bluesky PDS (https://bsky.social) or webhook URL."
        ),
    )
    account = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("Bluesky handle or DID (the login); for Mastodon, shown only."),
        verbose_name=_("account"),
    )
    recipients = models.TextField(
        blank=True,
        help_text=_("E-mail: the distribution list, one address per line (or comma-separated)."),
        verbose_name=_("recipients"),
    )
    secret_env = models.CharField(
        _("secret variable"),
        max_length=100,
        blank=True,
        help_text=_(
            "Name of the environment variable holding the token, app password or signing secret "
            "(WARROOM_PUBLISH_…; or a file named by …_FILE). The value is never stored or shown."
        ),
    )
    max_characters = models.PositiveIntegerField(
        default=0,
        help_text=_("Mastodon: the instance's limit (500 on mastodon.social); webhook: 0 for none."),
        verbose_name=_("max characters"),
    )
    allow_drills = models.BooleanField(
        default=False,
        help_text=_("A test account drills may post to. Off: drills never reach this channel."),
        verbose_name=_("allow drills"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ConnectorKind.values), name="connector_kind_valid"),
        ]
        verbose_name = _("connector")
        verbose_name_plural = _("connectors")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.secret_env and not _SECRET_NAME.match(self.secret_env):
            errors["secret_env"] = str(_("Use a variable named WARROOM_PUBLISH_… (capitals, digits, _)."))
        if self.kind != ConnectorKind.EMAIL and not self.secret_env:
            errors["secret_env"] = str(_("This kind of connector needs a secret variable."))
        if (
            self.kind in (ConnectorKind.MASTODON, ConnectorKind.BLUESKY, ConnectorKind.WEBHOOK)
            and not self.base_url
        ):
            errors["base_url"] = str(_("Give the address."))
        if self.kind == ConnectorKind.BLUESKY and not self.account:
            errors["account"] = str(_("Give the Bluesky handle or DID to log in with."))
        if self.kind == ConnectorKind.EMAIL:
            bad = [a for a in self.recipient_list if "@" not in a]
            if not self.recipient_list or bad:
                errors["recipients"] = str(_("List at least one e-mail address, one per line."))
        if errors:
            raise ValidationError(errors)

    # --- what it is ------------------------------------------------------------------------------------------

    @property
    def records_as(self) -> str:
        return self.channel or DEFAULT_CHANNEL[self.kind]

    @property
    def accepted_channels(self) -> list[str]:
        return list(self.accepts) or DEFAULT_ACCEPTS[self.kind]

    def accepts_channel(self, channel: str) -> bool:
        return channel in self.accepted_channels

    @property
    def recipient_list(self) -> list[str]:
        return [a.strip() for a in re.split(r"[,\n;]", self.recipients) if a.strip()]

    # --- its secret (read when sending; never stored, never shown) ---------------------------------------------

    def secret(self) -> str:
        """The secret from the environment (or the file `<NAME>_FILE` names); "" when not set."""
        if not self.secret_env or not _SECRET_NAME.match(self.secret_env):
            return ""
        try:
            return env_str(self.secret_env)
        except OSError:  # a secret file that cannot be read counts as missing
            return ""

    @property
    def secret_status(self) -> str:
        """For administrators: where the secret comes from, never what it is."""
        if self.kind == ConnectorKind.EMAIL and not self.secret_env:
            return str(_("not needed"))
        if not self.secret_env:
            return str(_("no variable named"))
        source = f"{self.secret_env}_FILE" if os.environ.get(f"{self.secret_env}_FILE") else self.secret_env
        return (
            str(_("set (from %(source)s)") % {"source": source})
            if self.secret()
            else str(_("missing: set %(name)s") % {"name": self.secret_env})
        )

    @property
    def needs_secret(self) -> bool:
        return self.kind != ConnectorKind.EMAIL


class Release(models.Model):
    """One click of "Publish": who asked for which version to go where, and the update it promised."""

    statement = models.ForeignKey(
        Statement, on_delete=models.PROTECT, related_name="releases", verbose_name=_("statement")
    )
    version = models.ForeignKey(
        StatementVersion, on_delete=models.PROTECT, related_name="+", verbose_name=_("version")
    )
    sha256 = models.CharField(max_length=64, verbose_name=_("sha256"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(default=timezone.now, verbose_name=_("requested at"))
    next_update_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next update at"))

    class Meta:
        ordering = ["requested_at", "pk"]
        verbose_name = _("release")
        verbose_name_plural = _("releases")

    def __str__(self) -> str:
        return f"{self.statement_id} v{self.version_id} by {self.requested_by_id}"


class DeliveryState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    PUBLISHED = "published", _("Published")
    FAILED = "failed", _("Failed")  # certainly not posted
    UNKNOWN = "unknown", _("Needs checking")  # may have been posted; a person decides
    CANCELLED = "cancelled", _("Cancelled")


_D = DeliveryState

# 13 characters of base32-sortable: the record key scheme ("tid") of AT Protocol posts.
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def new_tid() -> str:
    """A fresh TID (53 bits of microseconds since the epoch, 10 random clock bits, base32-sortable)."""
    value = (time.time_ns() // 1000) << 10 | secrets.randbits(10)
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def new_key() -> str:
    return uuid.uuid4().hex


class Delivery(models.Model):
    """One approved version on its way to one connector: an outbox row with its whole story.

    `key` is the idempotency key (Mastodon's Idempotency-Key, the webhook-id, the e-mail outbox keys) and
    `rkey` the Bluesky record key; both are fixed when the row is written, so every attempt — after a retry, a
    worker restart, a kill between sending and recording — asks the platform for the same post.
    """

    State = DeliveryState
    IN_FLIGHT: ClassVar[tuple[str, ...]] = (_D.QUEUED, _D.SENDING)
    UNSETTLED: ClassVar[tuple[str, ...]] = (_D.QUEUED, _D.SENDING, _D.UNKNOWN)

    release = models.ForeignKey(
        Release, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("release")
    )
    statement = models.ForeignKey(
        Statement, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("statement")
    )
    version = models.ForeignKey(
        StatementVersion, on_delete=models.PROTECT, related_name="+", verbose_name=_("version")
    )
    sha256 = models.CharField(max_length=64, verbose_name=_("sha256"))
    connector = models.ForeignKey(
        Connector, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("connector")
    )
    key = models.CharField(max_length=64, unique=True, default=new_key, verbose_name=_("key"))
    rkey = models.CharField(max_length=16, default=new_tid, verbose_name=_("rkey"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    state = models.CharField(
        max_length=12, choices=DeliveryState.choices, default=_D.QUEUED, verbose_name=_("state")
    )
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    attempts_allowed = models.PositiveSmallIntegerField(default=6, verbose_name=_("attempts allowed"))
    next_attempt_at = models.DateTimeField(default=timezone.now, verbose_name=_("next attempt at"))
    lease_until = models.DateTimeField(null=True, blank=True, verbose_name=_("lease until"))
    first_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("first attempt at"))
    last_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last attempt at"))
    # An earlier attempt may have reached the platform (timeout, 5xx, a worker gone mid-send): the next one
    # must ask the platform first (same key / getRecord) instead of trusting that nothing happened.
    uncertain = models.BooleanField(default=False, verbose_name=_("uncertain"))
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the platform confirmed it."), verbose_name=_("sent at")
    )
    remote_id = models.CharField(max_length=300, blank=True, verbose_name=_("remote id"))
    remote_url = models.URLField(max_length=500, blank=True, verbose_name=_("remote url"))
    http_status = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("http status"))
    error = models.CharField(max_length=1000, blank=True, verbose_name=_("error"))
    note = models.CharField(
        max_length=500,
        blank=True,
        help_text=_("Anything else worth knowing (reconciled, marked by hand)."),
        verbose_name=_("note"),
    )
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("settled by"),
    )

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "connector"], name="delivery_once_per_connector"),
            models.CheckConstraint(condition=Q(state__in=DeliveryState.values), name="delivery_state_valid"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(state="queued"), name="delivery_due"),
            models.Index(fields=["lease_until"], condition=Q(state="sending"), name="delivery_leased"),
        ]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")

    def __str__(self) -> str:
        return f"{self.statement_id} → {self.connector_id} ({self.state})"

    @property
    def is_published(self) -> bool:
        return self.state == _D.PUBLISHED

    @property
    def is_failed(self) -> bool:
        return self.state == _D.FAILED

    @property
    def is_unknown(self) -> bool:
        return self.state == _D.UNKNOWN

    @property
    def is_in_flight(self) -> bool:
        return self.state in self.IN_FLIGHT

    @property
    def may_retry(self) -> bool:
        return self.state in (_D.FAILED, _D.UNKNOWN)

    @property
    def may_cancel(self) -> bool:
        """Only what certainly never reached the platform: waiting for its first try, or failed."""
        return (self.state == _D.QUEUED and not self.uncertain) or self.state == _D.FAILED
