"""Statements, their immutable versions, comments and publications, and the templates drafts start from.

What goes out must be exactly what was approved (OWASP Transaction Authorization, "what you see is what you
sign"). So a statement's text lives only in `StatementVersion` rows, which the database refuses to update or
delete; an `Approval` names the version *and* the sha256 of its text; a new version starts a fresh chain; and
publishing re-hashes the version and checks every step of that version's chain before it writes a
`Publication`. The statement row itself only carries the current state, a pointer to the current version and
a lock counter (`version`) for optimistic saves.

The approval chain is in approval_chains.py, the text rules in statement_text.py, the seeds in
statement_seeds.py. May import the text rules and the base models (incident).
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from incidents.models.incident import Incident, InvalidTransition, Scenario
from incidents.models.statement_text import (
    CHANNEL_LIMITS,
    LANGUAGES,
    PLACEHOLDERS,
    Audience,
    Channel,
    StatementError,
    check_text,
    placeholders_blanked,
    template_placeholders,
    text_sha256,
)

# Re-exported: incidents.playbooks.services imports canonical_text from here (incidents.models has it too).
from incidents.models.statement_text import canonical_text as canonical_text

# --- statement templates ------------------------------------------------------------------------------------


class StatementTemplate(models.Model):
    """A pre-approved statement for a scenario and channel, with {placeholders} (admin-editable)."""

    name = models.CharField(max_length=120, unique=True, verbose_name=_("name"))
    scenario = models.CharField(
        max_length=32,
        choices=Scenario.choices,
        blank=True,
        help_text=_("Empty: suits any scenario."),
        verbose_name=_("scenario"),
    )
    channel = models.CharField(max_length=20, choices=Channel.choices, verbose_name=_("channel"))
    audience = models.CharField(
        max_length=20, choices=Audience.choices, default=Audience.PUBLIC, verbose_name=_("audience")
    )
    language = models.CharField(max_length=16, default="en", choices=LANGUAGES, verbose_name=_("language"))
    title = models.CharField(
        max_length=200,
        help_text=_("The statement's working title; may use placeholders."),
        verbose_name=_("title"),
    )
    body = models.TextField(
        help_text=format_lazy(
            _("Placeholders: {names}."), names=", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        ),
        verbose_name=_("body"),
    )
    guidance = models.CharField(
        max_length=300,
        blank=True,
        help_text=_("When to use it, shown to drafters."),
        verbose_name=_("guidance"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    sort_order = models.PositiveSmallIntegerField(default=100, verbose_name=_("sort order"))

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name = _("statement template")
        verbose_name_plural = _("statement templates")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        unknown = [p for p in template_placeholders(self.body + self.title) if p not in PLACEHOLDERS]
        if unknown:
            raise ValidationError(
                {
                    "body": translation.gettext("Unknown placeholders: %(unknown)s. Use only %(known)s.")
                    % {"unknown": ", ".join(unknown), "known": ", ".join(PLACEHOLDERS)}
                }
            )
        try:
            check_text(placeholders_blanked(self.body), self.channel)
        except StatementError as exc:
            raise ValidationError({"body": str(exc)}) from None

    @property
    def placeholders(self) -> list[str]:
        return template_placeholders(self.body)


# --- statements -------------------------------------------------------------------------------------------


class StatementStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IN_REVIEW = "in_review", _("In review")
    APPROVED = "approved", _("Approved")
    PUBLISHED = "published", _("Published")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    SUPERSEDED = "superseded", _("Superseded")


_S = StatementStatus


class StatementQuerySet(models.QuerySet["Statement"]):
    def for_panel(self) -> StatementQuerySet:
        return self.select_related("current_version", "current_version__author").order_by(
            "-updated_at", "-pk"
        )


class Statement(models.Model):
    """One statement for one audience on one channel. Its text is its current version's."""

    # Moves a statement may make. A new version (a save) is the only way out of "rejected", and saving
    # while in review or approved drops back to draft: the new text needs the whole chain again.
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        _S.DRAFT: frozenset({_S.DRAFT, _S.IN_REVIEW, _S.WITHDRAWN}),
        _S.IN_REVIEW: frozenset({_S.DRAFT, _S.APPROVED, _S.REJECTED, _S.WITHDRAWN}),
        _S.APPROVED: frozenset({_S.DRAFT, _S.PUBLISHED, _S.WITHDRAWN}),
        _S.REJECTED: frozenset({_S.DRAFT, _S.WITHDRAWN}),
        _S.PUBLISHED: frozenset({_S.WITHDRAWN, _S.SUPERSEDED}),
        _S.WITHDRAWN: frozenset(),
        _S.SUPERSEDED: frozenset(),
    }
    EDITABLE: ClassVar[tuple[str, ...]] = (_S.DRAFT, _S.IN_REVIEW, _S.APPROVED, _S.REJECTED)
    FINAL: ClassVar[tuple[str, ...]] = (_S.WITHDRAWN, _S.SUPERSEDED)
    # The states in which the current version has (or is gathering) approvals a new version voids.
    UNDER_APPROVAL: ClassVar[tuple[str, ...]] = (_S.IN_REVIEW, _S.APPROVED)
    # The states a statement may be in once it went out (a withdrawn draft never did; it has no publication).
    AFTER_PUBLISHING: ClassVar[tuple[str, ...]] = (_S.PUBLISHED, _S.WITHDRAWN, _S.SUPERSEDED)

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="statements", verbose_name=_("incident")
    )
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name=_("code"))
    title = models.CharField(max_length=200, verbose_name=_("title"))
    audience = models.CharField(max_length=20, choices=Audience.choices, verbose_name=_("audience"))
    channel = models.CharField(max_length=20, choices=Channel.choices, verbose_name=_("channel"))
    language = models.CharField(max_length=16, default="en", choices=LANGUAGES, verbose_name=_("language"))
    master = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="variants",
        verbose_name=_("master"),
    )
    supersedes = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="successors",
        verbose_name=_("supersedes"),
    )
    status = models.CharField(
        max_length=16, choices=StatementStatus.choices, default=_S.DRAFT, verbose_name=_("status")
    )
    # Lock counter for optimistic saves = the number of the current version (see services.statements).
    version = models.PositiveIntegerField(default=0, verbose_name=_("version"))
    current_version = models.ForeignKey(
        "StatementVersion",
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("current version"),
    )
    # The chain the current version was submitted with (the steps themselves are ChainStep rows).
    chain_template = models.ForeignKey(
        "ApprovalChainTemplate",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("chain template"),
    )
    chain_name = models.CharField(max_length=120, blank=True, verbose_name=_("chain name"))
    # Provenance: the template it was started from, as it read then (admins may edit templates later).
    template = models.ForeignKey(
        StatementTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("template"),
    )
    template_name = models.CharField(max_length=120, blank=True, verbose_name=_("template name"))
    template_body = models.TextField(blank=True, verbose_name=_("template body"))
    status_note = models.CharField(
        max_length=2000,
        blank=True,
        help_text=_("Why it was rejected or withdrawn."),
        verbose_name=_("status note"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=_("updated at"))
    idempotency_key = models.CharField(max_length=64, blank=True, verbose_name=_("idempotency key"))

    objects = StatementQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=StatementStatus.values), name="statement_status_valid"
            ),
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="statement_channel_valid"),
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="statement_idempotency",
            ),
        ]
        indexes = [models.Index(fields=["incident", "status"], name="statement_incident_status")]
        verbose_name = _("statement")
        verbose_name_plural = _("statements")

    def __str__(self) -> str:
        return self.title

    @property
    def limit(self) -> int | None:
        return CHANNEL_LIMITS.get(self.channel)

    # What the statement's state says, by name (templates and services ask these; nobody compares the
    # status column with a string).

    @property
    def is_draft(self) -> bool:
        return self.status == _S.DRAFT

    @property
    def is_in_review(self) -> bool:
        return self.status == _S.IN_REVIEW

    @property
    def is_approved(self) -> bool:
        """Approved by every step of its chain (as the status says; publishing counts the approvals)."""
        return self.status == _S.APPROVED

    @property
    def is_published(self) -> bool:
        return self.status == _S.PUBLISHED

    @property
    def is_rejected(self) -> bool:
        return self.status == _S.REJECTED

    @property
    def is_withdrawn(self) -> bool:
        return self.status == _S.WITHDRAWN

    @property
    def is_final(self) -> bool:
        """Withdrawn or superseded: nothing more happens to it (no edits, variants or updates)."""
        return self.status in self.FINAL

    @property
    def is_editable(self) -> bool:
        """Its text may still change (a save makes a new version)."""
        return self.status in self.EDITABLE

    @property
    def edit_restarts_chain(self) -> bool:
        """A save now takes the current version out of review: its approvals stop counting."""
        return self.status in self.UNDER_APPROVAL

    @property
    def may_have_publication(self) -> bool:
        return self.status in self.AFTER_PUBLISHING

    @property
    def language_badge(self) -> str:
        """The language as a badge, where it is not the default (English needs no badge)."""
        return "" if self.language == "en" else self.language.upper()

    def can_move_to(self, new: str) -> bool:
        return new in self.TRANSITIONS[self.status]

    def ensure_can_move_to(self, new: str) -> None:
        if not self.can_move_to(new):
            here = StatementStatus(self.status).label.lower()
            refusal = _REFUSALS.get((self.status, new))
            raise InvalidTransition(
                str(refusal)
                if refusal is not None
                else translation.gettext("A statement that is %(here)s cannot be %(new)s.")
                % {"here": here, "new": StatementStatus(new).label.lower()}
            )


_REFUSALS: dict[tuple[str, str], Promise] = {
    (_S.IN_REVIEW, _S.IN_REVIEW): _("This version is already in review."),
    (_S.APPROVED, _S.IN_REVIEW): _("This version is already approved."),
    (
        _S.REJECTED,
        _S.IN_REVIEW,
    ): _("This version was rejected. Edit the text and save a new version, then submit that."),
    (_S.PUBLISHED, _S.IN_REVIEW): _("This statement has been published; it cannot go back to review."),
    (_S.DRAFT, _S.PUBLISHED): _("Only a fully approved version can be published; this one is still a draft."),
    (
        _S.IN_REVIEW,
        _S.PUBLISHED,
    ): _("Only a fully approved version can be published; approvals are still missing."),
    (_S.REJECTED, _S.PUBLISHED): _("A rejected version cannot be published."),
    (_S.PUBLISHED, _S.PUBLISHED): _("This statement has already been published."),
    (
        _S.PUBLISHED,
        _S.DRAFT,
    ): _("This statement has been published; its text is frozen. Write an update instead."),
    (_S.WITHDRAWN, _S.DRAFT): _("This statement was withdrawn; its text is frozen."),
    (_S.SUPERSEDED, _S.DRAFT): _("This statement was superseded; its text is frozen."),
    (_S.WITHDRAWN, _S.WITHDRAWN): _("This statement has already been withdrawn."),
}


class StatementVersion(models.Model):
    """One saved text of a statement. Written once; the database refuses UPDATE and DELETE."""

    statement = models.ForeignKey(
        Statement, on_delete=models.PROTECT, related_name="versions", verbose_name=_("statement")
    )
    number = models.PositiveIntegerField(verbose_name=_("number"))
    body = models.TextField(
        blank=True,
        help_text=_("Canonical text: exactly what is hashed and published."),
        verbose_name=_("body"),
    )
    sha256 = models.CharField(max_length=64, verbose_name=_("sha256"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("author")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    # The statement's template with only its placeholders filled in: may qualify for a shorter chain.
    from_template_fill_only = models.BooleanField(default=False, verbose_name=_("from template fill only"))
    # The next update this text promises (its {next_update_time}, asked once when drafting): publishing it
    # schedules that deadline without asking again. Carried to a new version that still says it.
    next_update_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next update at"))

    class Meta:
        ordering = ["statement", "number"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "number"], name="statement_version_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="statement_version_positive"),
        ]
        verbose_name = _("statement version")
        verbose_name_plural = _("statement versions")

    def __str__(self) -> str:
        return f"{self.statement_id} v{self.number}"

    @property
    def short_sha(self) -> str:
        return self.sha256[:12]

    def hash_matches(self) -> bool:
        """Re-hash the stored text: the publish gate's last check that nothing was tampered with."""
        return text_sha256(self.body) == self.sha256


class VersionComment(models.Model):
    """A remark on one version. Append-only, like the timeline."""

    version = models.ForeignKey(
        StatementVersion, on_delete=models.PROTECT, related_name="comments", verbose_name=_("version")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("author")
    )
    body = models.TextField(verbose_name=_("body"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("version comment")
        verbose_name_plural = _("version comments")

    def __str__(self) -> str:
        return f"on {self.version_id} by {self.author_id}"


class Publication(models.Model):
    """The record that exactly this version (this sha256) went out on a channel. Append-only."""

    statement = models.OneToOneField(
        Statement, on_delete=models.PROTECT, related_name="publication", verbose_name=_("statement")
    )
    version = models.ForeignKey(
        StatementVersion, on_delete=models.PROTECT, related_name="publications", verbose_name=_("version")
    )
    sha256 = models.CharField(max_length=64, verbose_name=_("sha256"))
    channel = models.CharField(max_length=20, choices=Channel.choices, verbose_name=_("channel"))
    published_at = models.DateTimeField(
        help_text=_("When it went out on the channel."), verbose_name=_("published at")
    )
    link = models.URLField(max_length=500, blank=True, verbose_name=_("link"))
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("published by")
    )
    recorded_at = models.DateTimeField(default=timezone.now, verbose_name=_("recorded at"))

    class Meta:
        verbose_name = _("publication")
        verbose_name_plural = _("publications")

    def __str__(self) -> str:
        return f"{self.statement_id} on {self.channel}"


def statement_label(statement: Statement) -> str:
    """The statement named inside a sentence, with the active language's quotation marks."""
    values = {
        "title": statement.title,
        "channel": Channel(statement.channel).label,
        "audience": Audience(statement.audience).label.lower(),
    }
    # Translators: a statement named inside a sentence; use your language's quotation marks.
    return translation.gettext("“%(title)s” (%(channel)s, %(audience)s)") % values


def entry_label(statement: Statement) -> str:
    """`statement_label` for a timeline entry: entries are stored once and read by everyone, so the channel and
    audience are named in the organisation's language (settings.LANGUAGE_CODE), not the actor's."""
    with translation.override(settings.LANGUAGE_CODE):
        return statement_label(statement)
