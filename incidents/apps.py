from __future__ import annotations

from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Crisis war room"
    default_auto_field = "django.db.models.BigAutoField"
