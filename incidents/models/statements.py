"""Statements, their immutable versions, approval chains and publications.

What goes out must be exactly what was approved (OWASP Transaction Authorization, "what you see is what you
sign"). So a statement's text lives only in `StatementVersion` rows, which the database refuses to update or
delete; an `Approval` names the version *and* the sha256 of its text; a new version starts a fresh chain; and
publishing re-hashes the version and checks every step of that version's chain before it writes a
`Publication`. The statement row itself only carries the current state, a pointer to the current version and
a lock counter (`version`) for optimistic saves.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models.errors import Refused
from incidents.models.incident import Incident, InvalidTransition, Scenario, Severity
from incidents.models.team import IncidentRole

if TYPE_CHECKING:
    from incidents.services.statements import ChainState

# --- vocabulary ------------------------------------------------------------------------------------------


class Audience(models.TextChoices):
    PUBLIC = "public", "Public"
    CUSTOMERS = "customers", "Customers"
    EMPLOYEES = "employees", "Employees"
    PRESS = "press", "Press"
    REGULATORS = "regulators", "Regulators"
    PARTNERS = "partners", "Partners"


class Channel(models.TextChoices):
    X = "x", "X"
    FACEBOOK = "facebook", "Facebook"
    INSTAGRAM = "instagram", "Instagram"
    LINKEDIN = "linkedin", "LinkedIn"
    TIKTOK = "tiktok", "TikTok"
    WEBSITE = "website", "Website"
    PRESS_RELEASE = "press_release", "Press release"
    EMAIL = "email", "E-mail"
    INTERNAL_NOTE = "internal_note", "Internal note"
    SUPPORT_MACRO = "support_macro", "Support macro"


# Characters a post may have on each channel; channels not listed have no limit. Counted as Unicode code
# points of the canonical text (the same count the editor's live counter shows). X's own counter weighs
# links and some scripts differently, so a text at exactly 280 here may still need a trim there.
CHANNEL_LIMITS: Mapping[str, int] = {
    Channel.X: 280,
    Channel.LINKEDIN: 3000,
    Channel.INSTAGRAM: 2200,
    Channel.FACEBOOK: 63206,
    Channel.TIKTOK: 2200,
}

LANGUAGES: list[tuple[str, str]] = [
    ("en", "English"),
    ("sv", "Swedish"),
    ("pl", "Polish"),
    ("de", "German"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("nl", "Dutch"),
    ("no", "Norwegian"),
    ("da", "Danish"),
    ("fi", "Finnish"),
    ("it", "Italian"),
    ("pt", "Portuguese"),
]

# Facebook's 63,206 is the longest channel limit; nothing needs more.
MAX_BODY = 64_000


class StatementError(Refused):
    """A refused statement action; the message is shown to the user as is. Nothing was changed."""


class TextRefused(StatementError):
    """The text itself cannot be used (too long for the channel, invisible characters, unfilled
    placeholders): an input problem (422) rather than a refused transition (409)."""

    status: ClassVar[int] = 422


# --- canonical text ----------------------------------------------------------------------------------------

# Bidirectional overrides and isolates can make the text a reviewer reads differ from the bytes that are
# published ("Trojan Source"); C0/C1 control characters have no place in a public statement either.
_FORBIDDEN = re.compile(r"[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def canonical_text(text: str) -> str:
    """The one form of a statement's text that is stored, hashed, approved and published.

    Unicode NFC; line breaks as "\\n"; trailing whitespace removed from every line; leading and trailing
    blank space removed from the whole. The editor's counter (static/js/statements.js) applies the same
    rules, so what it counts is what the server stores.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def text_sha256(canonical: str) -> str:
    """sha256 of exactly the bytes that are published: the canonical text in UTF-8."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_text(canonical: str, channel: str) -> None:
    """Refuse text that may not become a version on this channel (raises StatementError)."""
    if _FORBIDDEN.search(canonical):
        raise TextRefused(
            "The text contains invisible control or text-direction characters, which could make what "
            "reviewers read differ from what is published. Remove them (retype the affected words)."
        )
    if len(canonical) > MAX_BODY:
        raise TextRefused(f"Keep a statement under {MAX_BODY:,} characters.")
    limit = CHANNEL_LIMITS.get(channel)
    if limit is not None and len(canonical) > limit:
        raise TextRefused(
            f"{Channel(channel).label} allows {limit:,} characters; this text has {len(canonical):,}. "
            f"Shorten it by {len(canonical) - limit:,}."
        )


# --- statement templates ------------------------------------------------------------------------------------

# Placeholders a template may use, and what the drafter is asked for.
PLACEHOLDERS: dict[str, str] = {
    "company": "Company name",
    "incident_title": "What happened, in a few words",
    "reference": "Incident reference",
    "next_update_time": "When the next update comes (e.g. 16:00 CET)",
    "affected": "Who is affected",
    "action": "What we are doing about it",
    "contact": "Where people can get help",
    "claim": "The claim going round, in a few words",
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# A placeholder's value: one line, a sentence at most. Longer free text belongs in an edit, which needs the
# full approval chain.
MAX_FILL = 200


def template_placeholders(body: str) -> list[str]:
    """Placeholder names used in `body`, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(body)))


def fill_template(body: str, values: Mapping[str, str]) -> str:
    """Replace each {name} with its value. Plain substitution, never str.format (no attribute access)."""
    missing = [name for name in template_placeholders(body) if not values.get(name, "").strip()]
    if missing:
        labels = ", ".join(f"{{{name}}}" for name in missing)
        raise TextRefused(f"Fill in every placeholder of the template: {labels}.")
    for name in template_placeholders(body):
        value = values[name].strip()
        if "\n" in value or len(value) > MAX_FILL:
            raise TextRefused(f"{{{name}}} takes one short line (up to {MAX_FILL} characters).")
    return canonical_text(_PLACEHOLDER.sub(lambda m: values[m.group(1)].strip(), body))


def is_template_fill(template_body: str, canonical: str) -> bool:
    """Is `canonical` the template's text with only its placeholders filled in (one line each)?

    Everything outside the placeholders must match to the character, so any free-text edit breaks it.
    Linear time (no regex backtracking on user text): each value runs to the first occurrence of the
    literal text that follows its placeholder. A value that itself contains that literal text is not
    recognised as a fill, which errs on the safe side (the version then needs the full chain).
    """
    if not template_body:
        return False
    pieces = _PLACEHOLDER.split(template_body)  # literal, name, literal, name, ..., literal
    literals, count = pieces[0::2], len(pieces) // 2
    if not canonical.startswith(literals[0]):
        return False
    pos = len(literals[0])
    for i in range(count):
        after = literals[i + 1]
        if after:
            end = canonical.find(after, pos + 1)
        elif i == count - 1:
            end = len(canonical)
        else:
            return False  # two placeholders side by side: no way to tell where one ends
        if end < 0:
            return False
        value = canonical[pos:end]
        if not value or "\n" in value or len(value) > MAX_FILL:
            return False
        pos = end + len(after)
    return pos == len(canonical)


class StatementTemplate(models.Model):
    """A pre-approved statement for a scenario and channel, with {placeholders} (admin-editable)."""

    name = models.CharField(max_length=120, unique=True)
    scenario = models.CharField(
        max_length=32, choices=Scenario.choices, blank=True, help_text="Empty: suits any scenario."
    )
    channel = models.CharField(max_length=20, choices=Channel.choices)
    audience = models.CharField(max_length=20, choices=Audience.choices, default=Audience.PUBLIC)
    language = models.CharField(max_length=16, default="en", choices=LANGUAGES)
    title = models.CharField(max_length=200, help_text="The statement's working title; may use placeholders.")
    body = models.TextField(
        help_text="Placeholders: " + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS) + "."
    )
    guidance = models.CharField(max_length=300, blank=True, help_text="When to use it, shown to drafters.")
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        unknown = [p for p in template_placeholders(self.body + self.title) if p not in PLACEHOLDERS]
        if unknown:
            raise ValidationError(
                {"body": f"Unknown placeholders: {', '.join(unknown)}. Use only {', '.join(PLACEHOLDERS)}."}
            )
        try:
            check_text(canonical_text(_PLACEHOLDER.sub("x", self.body)), self.channel)
        except StatementError as exc:
            raise ValidationError({"body": str(exc)}) from None

    @property
    def placeholders(self) -> list[str]:
        return template_placeholders(self.body)


# --- approval chain templates -----------------------------------------------------------------------------


class ApprovalRule(models.TextChoices):
    ANY = "any", "Any one of them"
    ALL = "all", "All of them"
    N = "n", "A number of them"


class ApprovalChainTemplate(models.Model):
    """An ordered list of approval steps, chosen for a statement by severity, audience and scenario.

    Empty criteria match anything; of the active chains that match, the most specific wins (most criteria
    set, then the lowest sort order). A chain may name a shorter `fill_chain` for versions that are a
    template with only its placeholders filled in; a chain marked `fill_only` is used only that way.
    """

    name = models.CharField(max_length=120, unique=True)
    description = models.CharField(max_length=300, blank=True)
    severities = ArrayField(
        models.CharField(max_length=8, choices=Severity.choices), default=list, blank=True
    )
    audiences = ArrayField(
        models.CharField(max_length=20, choices=Audience.choices), default=list, blank=True
    )
    scenarios = ArrayField(
        models.CharField(max_length=32, choices=Scenario.choices), default=list, blank=True
    )
    allow_self_approval = models.BooleanField(
        default=False, help_text="May the author of a version approve it? (Separation of duties says no.)"
    )
    distinct_approvers = models.BooleanField(
        default=True, help_text="Each step must be approved by a different person."
    )
    fill_chain = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="A shorter chain for pure template fills (used only where its own criteria match).",
    )
    fill_only = models.BooleanField(
        default=False, help_text="Only ever used as another chain's template-fill chain."
    )
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name

    def matches(self, *, severity: str, audience: str, scenario: str) -> bool:
        return (
            (not self.severities or severity in self.severities)
            and (not self.audiences or audience in self.audiences)
            and (not self.scenarios or scenario in self.scenarios)
        )

    @property
    def specificity(self) -> int:
        return sum(1 for criteria in (self.severities, self.audiences, self.scenarios) if criteria)


class ApprovalStepTemplate(models.Model):
    chain = models.ForeignKey(ApprovalChainTemplate, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=80, help_text="e.g. Legal")
    role = models.ForeignKey(
        IncidentRole,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Whoever holds this role in the incident when they approve.",
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", help_text="Named approvers (optional)."
    )
    rule = models.CharField(max_length=8, choices=ApprovalRule.choices, default=ApprovalRule.ANY)
    required_count = models.PositiveSmallIntegerField(default=1, help_text="For “a number of them”.")
    sla_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="Optional time to decide.")

    class Meta:
        ordering = ["chain", "order"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "order"], name="step_template_order_unique"),
            models.CheckConstraint(condition=Q(required_count__gte=1), name="step_template_required"),
        ]

    def __str__(self) -> str:
        return f"{self.chain}: {self.order}. {self.name}"


# --- statements -------------------------------------------------------------------------------------------


class StatementStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    PUBLISHED = "published", "Published"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    SUPERSEDED = "superseded", "Superseded"


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

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="statements")
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(max_length=200)
    audience = models.CharField(max_length=20, choices=Audience.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    language = models.CharField(max_length=16, default="en", choices=LANGUAGES)
    master = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="variants"
    )
    supersedes = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="successors"
    )
    status = models.CharField(max_length=16, choices=StatementStatus.choices, default=_S.DRAFT)
    # Lock counter for optimistic saves = the number of the current version (see services.statements).
    version = models.PositiveIntegerField(default=0)
    current_version = models.ForeignKey(
        "StatementVersion", on_delete=models.PROTECT, null=True, related_name="+"
    )
    # The chain the current version was submitted with (the steps themselves are ChainStep rows).
    chain_template = models.ForeignKey(
        ApprovalChainTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    chain_name = models.CharField(max_length=120, blank=True)
    # Provenance: the template it was started from, as it read then (admins may edit templates later).
    template = models.ForeignKey(
        StatementTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    template_name = models.CharField(max_length=120, blank=True)
    template_body = models.TextField(blank=True)
    status_note = models.CharField(max_length=2000, blank=True, help_text="Why it was rejected or withdrawn.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=64, blank=True)

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

    def __str__(self) -> str:
        return self.title

    @property
    def limit(self) -> int | None:
        return CHANNEL_LIMITS.get(self.channel)

    @property
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE

    def ensure_can_move_to(self, new: str) -> None:
        if new not in self.TRANSITIONS[self.status]:
            here = StatementStatus(self.status).label.lower()
            raise InvalidTransition(
                _REFUSALS.get((self.status, new))
                or f"A statement that is {here} cannot be {StatementStatus(new).label.lower()}."
            )


_REFUSALS: dict[tuple[str, str], str] = {
    (_S.IN_REVIEW, _S.IN_REVIEW): "This version is already in review.",
    (_S.APPROVED, _S.IN_REVIEW): "This version is already approved.",
    (
        _S.REJECTED,
        _S.IN_REVIEW,
    ): "This version was rejected. Edit the text and save a new version, then submit that.",
    (_S.PUBLISHED, _S.IN_REVIEW): "This statement has been published; it cannot go back to review.",
    (_S.DRAFT, _S.PUBLISHED): "Only a fully approved version can be published; this one is still a draft.",
    (
        _S.IN_REVIEW,
        _S.PUBLISHED,
    ): "Only a fully approved version can be published; approvals are still missing.",
    (_S.REJECTED, _S.PUBLISHED): "A rejected version cannot be published.",
    (_S.PUBLISHED, _S.PUBLISHED): "This statement has already been published.",
    (
        _S.PUBLISHED,
        _S.DRAFT,
    ): "This statement has been published; its text is frozen. Write an update instead.",
    (_S.WITHDRAWN, _S.DRAFT): "This statement was withdrawn; its text is frozen.",
    (_S.SUPERSEDED, _S.DRAFT): "This statement was superseded; its text is frozen.",
    (_S.WITHDRAWN, _S.WITHDRAWN): "This statement has already been withdrawn.",
}


class StatementVersion(models.Model):
    """One saved text of a statement. Written once; the database refuses UPDATE and DELETE."""

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    body = models.TextField(blank=True, help_text="Canonical text: exactly what is hashed and published.")
    sha256 = models.CharField(max_length=64)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # The statement's template with only its placeholders filled in: may qualify for a shorter chain.
    from_template_fill_only = models.BooleanField(default=False)

    class Meta:
        ordering = ["statement", "number"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "number"], name="statement_version_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="statement_version_positive"),
        ]

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

    version = models.ForeignKey(StatementVersion, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"on {self.version_id} by {self.author_id}"


class ChainStep(models.Model):
    """One step of the approval chain, copied from the chain template when a version was submitted.

    Bound to that version: a later version gets its own steps, and nothing from these carries over.
    """

    version = models.ForeignKey(StatementVersion, on_delete=models.PROTECT, related_name="steps")
    order = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=80)
    role = models.ForeignKey(IncidentRole, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    approver_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    rule = models.CharField(max_length=8, choices=ApprovalRule.choices, default=ApprovalRule.ANY)
    required = models.PositiveSmallIntegerField(default=1)
    sla_minutes = models.PositiveIntegerField(null=True, blank=True)
    allow_self_approval = models.BooleanField(default=False)
    distinct_approvers = models.BooleanField(default=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["version", "order"]
        constraints = [
            models.UniqueConstraint(fields=["version", "order"], name="chain_step_order_unique"),
            models.CheckConstraint(condition=Q(required__gte=1), name="chain_step_required"),
        ]

    def __str__(self) -> str:
        return f"{self.version} step {self.order} {self.name}"

    @property
    def due_at(self) -> datetime | None:
        if self.activated_at is None or self.sla_minutes is None:
            return None
        return self.activated_at + timedelta(minutes=self.sla_minutes)

    def who(self) -> str:
        """Who may approve, in words ("any Legal reviewer", "2 approvals from Executive approvers or named
        approvers")."""
        people = " or ".join(
            [
                *([self.role.name] if self.role is not None else []),
                *(["named approvers"] if self.approver_ids else []),
            ]
        )
        if self.rule == ApprovalRule.ANY:
            return f"any one {people}"
        if self.rule == ApprovalRule.ALL:
            return f"all {self.required}: {people}"
        return f"{self.required} of: {people}"


class Approval(models.Model):
    """One person's decision on one step for one version, bound to the sha256 of the text they saw.

    Append-only (database trigger). Only approvals of the current version count; older ones stay as history.
    """

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    version = models.ForeignKey(StatementVersion, on_delete=models.PROTECT, related_name="approvals")
    sha256 = models.CharField(max_length=64)
    step = models.ForeignKey(ChainStep, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.APPROVED)
    note = models.CharField(max_length=2000, blank=True)
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["decided_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["version", "step", "approver"], name="approval_once_per_step"),
        ]

    def __str__(self) -> str:
        return f"{self.approver_id} {self.decision} {self.version_id} step {self.step_id}"


class Publication(models.Model):
    """The record that exactly this version (this sha256) went out on a channel. Append-only."""

    statement = models.OneToOneField(Statement, on_delete=models.PROTECT, related_name="publication")
    version = models.ForeignKey(StatementVersion, on_delete=models.PROTECT, related_name="publications")
    sha256 = models.CharField(max_length=64)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    published_at = models.DateTimeField(help_text="When it went out on the channel.")
    link = models.URLField(max_length=500, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    # Set by services.statement_publish: the chain it checked, so the page shows it without reading it again.
    checked_chain: ChainState | None = None

    def __str__(self) -> str:
        return f"{self.statement_id} on {self.channel}"


def chain_steps_complete(
    steps: list[ChainStep], approvals: list[Approval], version: StatementVersion
) -> bool:
    """Does every step have its required approvals, each for exactly this version and its sha256?"""
    if not steps:
        return False
    for step in steps:
        good = {
            a.approver_id
            for a in approvals
            if a.step_id == step.pk
            and a.version_id == version.pk
            and a.sha256 == version.sha256
            and a.decision == Approval.Decision.APPROVED
        }
        if len(good) < step.required:
            return False
    return True


def statement_label(statement: Statement) -> str:
    return f"“{statement.title}” ({Channel(statement.channel).label}, {Audience(statement.audience).label.lower()})"


# --- seeds --------------------------------------------------------------------------------------------------

SEEDED_CHAINS: list[dict[str, Any]] = [
    {
        "name": "Legal → Communications lead → Executive",
        "description": "The default for anything that goes out: legal risk first, then wording, then sign-off.",
        "sort_order": 100,
        "steps": [("Legal", "legal"), ("Communications lead", "comms-lead"), ("Executive", "executive")],
        "fill_chain": "Template fill: Communications lead",
    },
    {
        "name": "Template fill: Communications lead",
        "description": "A pre-approved template with only its placeholders filled, on a SEV3/SEV4 incident.",
        "sort_order": 200,
        "severities": [Severity.SEV3, Severity.SEV4],
        "fill_only": True,
        "steps": [("Communications lead", "comms-lead")],
    },
]

_NEXT = "We will share our next update by {next_update_time}."
SEEDED_TEMPLATES: list[dict[str, str]] = [
    {
        "name": "Holding statement — outage (X)",
        "scenario": Scenario.OUTAGE,
        "channel": Channel.X,
        "title": "Holding statement: {incident_title}",
        "body": (
            "We know about a problem: {incident_title}. We're sorry for the disruption, and our teams are "
            "working on a fix right now. " + _NEXT
        ),
        "guidance": "First public words on an outage: acknowledge, apologise, promise the next update.",
    },
    {
        "name": "Outage update — website",
        "scenario": Scenario.OUTAGE,
        "channel": Channel.WEBSITE,
        "audience": Audience.CUSTOMERS,
        "title": "Service update: {incident_title}",
        "body": (
            "{incident_title}. We are sorry for the trouble this causes, and we want to be clear about "
            "where things stand.\n\n"
            "Who is affected: {affected}.\n"
            "What we are doing: {action}.\n"
            "If you need help now: {contact}.\n\n" + _NEXT + "\n\n— {company}"
        ),
        "guidance": "A fuller update for the status page once the facts are known.",
    },
    {
        "name": "Data incident — customer e-mail",
        "scenario": Scenario.DATA_BREACH,
        "channel": Channel.EMAIL,
        "audience": Audience.CUSTOMERS,
        "title": "Important information about your data",
        "body": (
            "We are writing to tell you about a security incident that may involve your information.\n\n"
            "What happened: {incident_title}.\n"
            "Who is affected: {affected}.\n"
            "What we are doing: {action}.\n\n"
            "We are sorry. You trusted us with your information, and we take that seriously. "
            "If you have questions: {contact}.\n\n" + _NEXT + "\n\n— {company}"
        ),
        "guidance": "Say what we know and what we don't; never speculate. Legal must review every word.",
    },
    {
        "name": "Campaign apology — Instagram",
        "scenario": Scenario.CONTROVERSIAL_POST,
        "channel": Channel.INSTAGRAM,
        "title": "Apology: {incident_title}",
        "body": (
            "We got this wrong. {incident_title} hurt people, and we are sorry — no excuses. What we have "
            "done so far: {action}. We are reading every message you send us. " + _NEXT
        ),
        "guidance": "Own it; never 'if anyone was offended'. Say what has already changed.",
    },
    {
        "name": "Rumour correction — Facebook",
        "scenario": Scenario.MISINFORMATION,
        "channel": Channel.FACEBOOK,
        "title": "The facts: {incident_title}",
        "body": (
            "You may have seen posts claiming {claim}. We understand why that is worrying, so here are "
            "the facts: {action}. You can check the evidence yourself: {contact}. " + _NEXT
        ),
        "guidance": "Correct calmly, with evidence people can check; do not repeat the rumour as a headline.",
    },
    {
        "name": "Product complaint response — X",
        "scenario": Scenario.COMPLAINT,
        "channel": Channel.X,
        "title": "Response: {incident_title}",
        "body": (
            "We've seen the reports about {incident_title}, and we're sorry. If this happened to you, "
            "{contact} and we'll put it right. " + _NEXT
        ),
        "guidance": "Empathy first, then a concrete way to get help.",
    },
    {
        "name": "Staff briefing — internal note",
        "channel": Channel.INTERNAL_NOTE,
        "audience": Audience.EMPLOYEES,
        "title": "Briefing for staff: {incident_title}",
        "body": (
            "Team, you may hear about this from customers, friends or the press: {incident_title}.\n\n"
            "Who is affected: {affected}. What we are doing: {action}.\n\n"
            "Please do not comment publicly; send questions to {contact}. We will brief you again by "
            "{next_update_time}.\n\nThank you for your care and patience."
        ),
        "guidance": "Staff hear it from us first, and know where to send questions.",
    },
    {
        "name": "Support macro — acknowledgement",
        "channel": Channel.SUPPORT_MACRO,
        "audience": Audience.CUSTOMERS,
        "title": "Support reply: {incident_title}",
        "body": (
            "Thank you for getting in touch, and I'm sorry for the trouble. We know about this "
            "({incident_title}) and our teams are on it: {action}. " + _NEXT + " — {company} Support"
        ),
        "guidance": "For agents answering tickets; keeps support in step with what was said publicly.",
    },
]


def ensure_statement_seeds(chain_model: Any, step_model: Any, template_model: Any, role_model: Any) -> int:
    """Create the seeded chain and statement templates that do not exist yet (by name); returns how many.

    Takes the models as arguments so the data migration can pass its historical ones. Edits made in the
    admin are never overwritten.
    """
    created = 0
    roles = {r.slug: r for r in role_model.objects.all()}
    chains: dict[str, Any] = {c.name: c for c in chain_model.objects.all()}
    new: set[str] = set()
    for spec in SEEDED_CHAINS:
        if spec["name"] in chains:
            continue
        chain = chain_model.objects.create(
            name=spec["name"],
            description=spec["description"],
            sort_order=spec["sort_order"],
            severities=list(spec.get("severities", [])),
            fill_only=spec.get("fill_only", False),
        )
        for order, (name, slug) in enumerate(spec["steps"], start=1):
            step_model.objects.create(chain=chain, order=order, name=name, role=roles.get(slug))
        chains[chain.name] = chain
        new.add(chain.name)
        created += 1
    for spec in SEEDED_CHAINS:
        fill = spec.get("fill_chain")
        chain = chains[spec["name"]]
        if fill and chain.name in new and fill in chains:
            chain.fill_chain = chains[fill]
            chain.save(update_fields=["fill_chain"])
    existing = set(template_model.objects.values_list("name", flat=True))
    for order, tpl in enumerate(SEEDED_TEMPLATES, start=1):
        if tpl["name"] in existing:
            continue
        template_model.objects.create(
            name=tpl["name"],
            scenario=tpl.get("scenario", ""),
            channel=tpl["channel"],
            audience=tpl.get("audience", Audience.PUBLIC),
            language="en",
            title=tpl["title"],
            body=tpl["body"],
            guidance=tpl.get("guidance", ""),
            sort_order=order * 10,
        )
        created += 1
    return created
