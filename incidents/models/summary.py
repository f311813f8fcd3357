"""The incident's living summary: what the team says the situation is now, kept by the commander.

Each edit is a new, numbered version (never an update), so the history shows how the team's picture
changed. The latest text is also copied onto the incident row (`Incident.current_summary`, under the same
lock), so the dashboard, notifications and exports read it without another query.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.models.incident import Incident, first_line

SUMMARY_MAX = 1000
PART_MAX = 2000


class SummaryVersion(models.Model):
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="summary_versions", verbose_name=_("incident")
    )
    number = models.PositiveIntegerField(verbose_name=_("number"))
    summary = models.TextField(_("current summary"), max_length=SUMMARY_MAX)
    known = models.TextField(_("what we know"), blank=True, max_length=PART_MAX)
    unknown = models.TextField(_("what we don't know yet"), blank=True, max_length=PART_MAX)
    next_update = models.CharField(_("next update"), max_length=300, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("author")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        ordering = ["incident", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "number"], name="summary_version_unique"),
        ]
        verbose_name = _("summary version")
        verbose_name_plural = _("summary versions")

    def __str__(self) -> str:
        return f"{self.incident_id} v{self.number}"

    @property
    def first_line(self) -> str:
        return first_line(self.summary)
