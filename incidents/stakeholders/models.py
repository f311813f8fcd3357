"""The stakeholder register of an incident, its contact log and its press enquiries.

A `Stakeholder` is someone the team must keep informed (a journalist, the regulator, a partner, an influencer,
a key customer, employees), with who owns the relationship; the register is seeded from the playbook's key
contacts when the incident is declared from one. A `ContactEntry` is one conversation: who talked to whom,
when, what was said, which approved statement was sent, what was promised (a promise with a time is a
deadline). A `PressEnquiry` is a journalist's question with their deadline, reminded like any other.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.models import Deadline, Incident, Statement


class StakeholderKind(models.TextChoices):
    JOURNALIST = "journalist", _("Journalist")
    REGULATOR = "regulator", _("Regulator / authority")
    PARTNER = "partner", _("Partner / supplier")
    INFLUENCER = "influencer", _("Influencer")
    KEY_CUSTOMER = "key_customer", _("Key customer")
    EMPLOYEES = "employees", _("Employees")
    COUNSEL = "counsel", _("Counsel / agency")
    OTHER = "other", _("Other")


# A playbook contact's kind (incidents/playbooks ContactKind) → the register's.
FROM_PLAYBOOK: dict[str, str] = {
    "agency": StakeholderKind.COUNSEL,
    "regulator": StakeholderKind.REGULATOR,
    "counsel": StakeholderKind.COUNSEL,
    "press": StakeholderKind.JOURNALIST,
    "partner": StakeholderKind.PARTNER,
    "internal": StakeholderKind.EMPLOYEES,
    "other": StakeholderKind.OTHER,
}


class ContactChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")
    MEETING = "meeting", _("Meeting / video")
    SOCIAL = "social", _("Social media")
    LETTER = "letter", _("Letter / portal")
    OTHER = "other", _("Other")


class Stakeholder(models.Model):
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="stakeholders", verbose_name=_("incident")
    )
    kind = models.CharField(max_length=16, choices=StakeholderKind.choices, verbose_name=_("kind"))
    name = models.CharField(max_length=120, verbose_name=_("name"))
    organisation = models.CharField(max_length=120, blank=True, verbose_name=_("organisation"))
    email = models.EmailField(blank=True, verbose_name=_("email"))
    phone = models.CharField(max_length=40, blank=True, verbose_name=_("phone"))
    preferred_channel = models.CharField(
        max_length=12,
        choices=ContactChannel.choices,
        default=ContactChannel.EMAIL,
        verbose_name=_("preferred channel"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Who owns the relationship."),
        verbose_name=_("owner"),
    )
    notes = models.CharField(max_length=300, blank=True, verbose_name=_("notes"))
    # The playbook contact it was seeded from (once per incident), if any.
    source_contact_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("source contact id"))
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
        ordering = ["incident", "kind", "name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "source_contact_id"],
                condition=Q(source_contact_id__isnull=False),
                name="stakeholder_seeded_once",
            ),
        ]
        verbose_name = _("stakeholder")
        verbose_name_plural = _("stakeholders")

    def __str__(self) -> str:
        return f"{self.name} ({self.organisation})" if self.organisation else self.name


class Direction(models.TextChoices):
    OUT = "out", _("We contacted them")
    IN = "in", _("They contacted us")


class ContactEntry(models.Model):
    """One conversation with a stakeholder. Append-only in practice: a correction is a new entry."""

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="contact_entries", verbose_name=_("incident")
    )
    stakeholder = models.ForeignKey(
        Stakeholder, on_delete=models.PROTECT, related_name="entries", verbose_name=_("stakeholder")
    )
    direction = models.CharField(
        max_length=4, choices=Direction.choices, default=Direction.OUT, verbose_name=_("direction")
    )
    channel = models.CharField(max_length=12, choices=ContactChannel.choices, verbose_name=_("channel"))
    happened_at = models.DateTimeField(default=timezone.now, verbose_name=_("happened at"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by")
    )
    summary = models.TextField(help_text=_("What was said."), verbose_name=_("summary"))
    statement = models.ForeignKey(
        Statement,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The approved statement sent to them, if any."),
        verbose_name=_("statement"),
    )
    promise = models.CharField(
        max_length=300, blank=True, help_text=_("What we promised them."), verbose_name=_("promise")
    )
    promise_due_at = models.DateTimeField(null=True, blank=True, verbose_name=_("promise due at"))
    deadline = models.OneToOneField(
        Deadline,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("deadline"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        ordering = ["-happened_at", "-pk"]
        verbose_name = _("contact entry")
        verbose_name_plural = _("contact entries")

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.stakeholder_id} at {self.happened_at:%Y-%m-%d %H:%M}"

    @property
    def is_outbound(self) -> bool:
        return self.direction == Direction.OUT


class EnquiryState(models.TextChoices):
    OPEN = "open", _("Open")
    ANSWERED = "answered", _("Answered")
    DECLINED = "declined", _("Declined to comment")


class PressEnquiry(models.Model):
    """A journalist's question, with their deadline (a deadline of the incident: reminded and escalated)."""

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="press_enquiries", verbose_name=_("incident")
    )
    journalist = models.ForeignKey(
        Stakeholder, on_delete=models.PROTECT, related_name="enquiries", verbose_name=_("journalist")
    )
    received_at = models.DateTimeField(default=timezone.now, verbose_name=_("received at"))
    question = models.TextField(verbose_name=_("question"))
    due_at = models.DateTimeField(help_text=_("The journalist's deadline."), verbose_name=_("due at"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
    )
    state = models.CharField(
        max_length=10, choices=EnquiryState.choices, default=EnquiryState.OPEN, verbose_name=_("state")
    )
    deadline = models.OneToOneField(
        Deadline, on_delete=models.PROTECT, related_name="+", verbose_name=_("deadline")
    )
    answer = models.OneToOneField(
        ContactEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("answer"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        ordering = ["state", "due_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=EnquiryState.values), name="press_enquiry_state_valid"
            ),
        ]
        verbose_name = _("press enquiry")
        verbose_name_plural = _("press enquiries")

    def __str__(self) -> str:
        return f"{self.journalist_id}: due {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.state == EnquiryState.OPEN
