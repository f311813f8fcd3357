from __future__ import annotations

from django.apps import AppConfig


class StakeholdersConfig(AppConfig):
    name = "incidents.stakeholders"
    label = "stakeholders"
    verbose_name = "Stakeholders and press"
    default_auto_field = "django.db.models.BigAutoField"
