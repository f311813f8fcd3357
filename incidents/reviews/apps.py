from __future__ import annotations

from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "incidents.reviews"
    label = "reviews"
    verbose_name = "Post-incident reviews"
    default_auto_field = "django.db.models.BigAutoField"
