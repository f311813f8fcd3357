"""Approval chains: the templates administrators configure (chain, steps), the steps a version was
submitted with (`ChainStep`, copied from the template and bound to that version) and the decisions on them.

An `Approval` names the version *and* the sha256 of its text; a new version starts a fresh chain, and
publishing checks every step of that version's chain (`chain_steps_complete`). May import the statement
models and the base models (incident, team).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from incidents.models.incident import Scenario, Severity
from incidents.models.statement_text import Audience
from incidents.models.statements import StatementVersion
from incidents.models.team import IncidentRole

# --- approval chain templates -----------------------------------------------------------------------------


class ApprovalRule(models.TextChoices):
    ANY = "any", _("Any one of them")
    ALL = "all", _("All of them")
    N = "n", _("A number of them")


class ApprovalChainTemplate(models.Model):
    """An ordered list of approval steps, chosen for a statement by severity, audience and scenario.

    Empty criteria match anything; of the active chains that match, the most specific wins (most criteria
    set, then the lowest sort order). A chain may name a shorter `fill_chain` for versions that are a
    template with only its placeholders filled in; a chain marked `fill_only` is used only that way.
    """

    name = models.CharField(max_length=120, unique=True, verbose_name=_("name"))
    description = models.CharField(max_length=300, blank=True, verbose_name=_("description"))
    severities = ArrayField(
        models.CharField(max_length=8, choices=Severity.choices),
        default=list,
        blank=True,
        verbose_name=_("severities"),
    )
    audiences = ArrayField(
        models.CharField(max_length=20, choices=Audience.choices),
        default=list,
        blank=True,
        verbose_name=_("audiences"),
    )
    scenarios = ArrayField(
        models.CharField(max_length=32, choices=Scenario.choices),
        default=list,
        blank=True,
        verbose_name=_("scenarios"),
    )
    allow_self_approval = models.BooleanField(
        default=False,
        help_text=_("May the author of a version approve it? (Separation of duties says no.)"),
        verbose_name=_("allow self approval"),
    )
    distinct_approvers = models.BooleanField(
        default=True,
        help_text=_("Each step must be approved by a different person."),
        verbose_name=_("distinct approvers"),
    )
    fill_chain = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("A shorter chain for pure template fills (used only where its own criteria match)."),
        verbose_name=_("fill chain"),
    )
    fill_only = models.BooleanField(
        default=False,
        help_text=_("Only ever used as another chain's template-fill chain."),
        verbose_name=_("fill only"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    sort_order = models.PositiveSmallIntegerField(default=100, verbose_name=_("sort order"))

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name = _("approval chain template")
        verbose_name_plural = _("approval chain templates")

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
    chain = models.ForeignKey(
        ApprovalChainTemplate, on_delete=models.CASCADE, related_name="steps", verbose_name=_("chain")
    )
    order = models.PositiveSmallIntegerField(verbose_name=_("order"))
    name = models.CharField(max_length=80, help_text=_("e.g. Legal"), verbose_name=_("name"))
    role = models.ForeignKey(
        IncidentRole,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Whoever holds this role in the incident when they approve."),
        verbose_name=_("role"),
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text=_("Named approvers (optional)."),
        verbose_name=_("users"),
    )
    rule = models.CharField(
        max_length=8, choices=ApprovalRule.choices, default=ApprovalRule.ANY, verbose_name=_("rule")
    )
    required_count = models.PositiveSmallIntegerField(
        default=1, help_text=_("For “a number of them”."), verbose_name=_("required count")
    )
    sla_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Optional time to decide."), verbose_name=_("sla minutes")
    )

    class Meta:
        ordering = ["chain", "order"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "order"], name="step_template_order_unique"),
            models.CheckConstraint(condition=Q(required_count__gte=1), name="step_template_required"),
        ]
        verbose_name = _("approval step template")
        verbose_name_plural = _("approval step templates")

    def __str__(self) -> str:
        return f"{self.chain}: {self.order}. {self.name}"


class ChainStep(models.Model):
    """One step of the approval chain, copied from the chain template when a version was submitted.

    Bound to that version: a later version gets its own steps, and nothing from these carries over.
    """

    version = models.ForeignKey(
        StatementVersion, on_delete=models.PROTECT, related_name="steps", verbose_name=_("version")
    )
    order = models.PositiveSmallIntegerField(verbose_name=_("order"))
    name = models.CharField(max_length=80, verbose_name=_("name"))
    role = models.ForeignKey(
        IncidentRole,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("role"),
    )
    approver_ids = ArrayField(
        models.BigIntegerField(), default=list, blank=True, verbose_name=_("approver ids")
    )
    rule = models.CharField(
        max_length=8, choices=ApprovalRule.choices, default=ApprovalRule.ANY, verbose_name=_("rule")
    )
    required = models.PositiveSmallIntegerField(default=1, verbose_name=_("required"))
    sla_minutes = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("sla minutes"))
    allow_self_approval = models.BooleanField(default=False, verbose_name=_("allow self approval"))
    distinct_approvers = models.BooleanField(default=True, verbose_name=_("distinct approvers"))
    activated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("activated at"))
    # When the SLA runs out, fixed when the step becomes current: a compressed drill's SLA is shorter, and
    # pausing a drill moves it on. Empty for steps without an SLA (and for steps from before it was stored).
    sla_due_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sla due at"))
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("completed at"))

    class Meta:
        ordering = ["version", "order"]
        constraints = [
            models.UniqueConstraint(fields=["version", "order"], name="chain_step_order_unique"),
            models.CheckConstraint(condition=Q(required__gte=1), name="chain_step_required"),
        ]
        verbose_name = _("chain step")
        verbose_name_plural = _("chain steps")

    def __str__(self) -> str:
        return f"{self.version} step {self.order} {self.name}"

    @property
    def due_at(self) -> datetime | None:
        if self.activated_at is None or self.sla_minutes is None:
            return None
        if self.sla_due_at is not None:
            return self.sla_due_at
        return self.activated_at + timedelta(minutes=self.sla_minutes)

    def who(self) -> str:
        """Who may approve, in words ("any Legal reviewer", "2 approvals from Executive approvers or named
        approvers")."""
        role = self.role.name if self.role is not None else ""
        if role and self.approver_ids:
            people = gettext("%(role)s or named approvers") % {"role": role}
        else:
            people = role or (gettext("named approvers") if self.approver_ids else "")
        if self.rule == ApprovalRule.ANY:
            return gettext("any one %(people)s") % {"people": people}
        if self.rule == ApprovalRule.ALL:
            return gettext("all %(n)s: %(people)s") % {"n": self.required, "people": people}
        return gettext("%(n)s of: %(people)s") % {"n": self.required, "people": people}


class Approval(models.Model):
    """One person's decision on one step for one version, bound to the sha256 of the text they saw.

    Append-only (database trigger). Only approvals of the current version count; older ones stay as history.
    """

    class Decision(models.TextChoices):
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    version = models.ForeignKey(
        StatementVersion, on_delete=models.PROTECT, related_name="approvals", verbose_name=_("version")
    )
    sha256 = models.CharField(max_length=64, verbose_name=_("sha256"))
    step = models.ForeignKey(
        ChainStep, on_delete=models.PROTECT, related_name="approvals", verbose_name=_("step")
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("approver")
    )
    # A backup deciding after the step's SLA passed: the approver they stood in for (None: their own call).
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("on behalf of"),
    )
    decision = models.CharField(
        max_length=10, choices=Decision.choices, default=Decision.APPROVED, verbose_name=_("decision")
    )
    note = models.CharField(max_length=2000, blank=True, verbose_name=_("note"))
    decided_at = models.DateTimeField(default=timezone.now, verbose_name=_("decided at"))

    class Meta:
        ordering = ["decided_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["version", "step", "approver"], name="approval_once_per_step"),
        ]
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")

    def __str__(self) -> str:
        return f"{self.approver_id} {self.decision} {self.version_id} step {self.step_id}"


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
