from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class StakeholdersConfig(AppConfig):
    name = "incidents.stakeholders"
    label = "stakeholders"
    verbose_name = _("Stakeholders and press")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from incidents.stakeholders.receivers import seed_on_declare

        # Declared from a playbook: its key contacts seed the register (same transaction).
        post_save.connect(
            seed_on_declare,
            sender="playbooks.IncidentPlaybook",
            dispatch_uid="stakeholders-seed-on-declare",
        )
