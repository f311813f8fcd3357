from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReviewsConfig(AppConfig):
    name = "incidents.reviews"
    label = "reviews"
    verbose_name = _("Post-incident reviews")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The base app tells us about resolutions through a hook, so it never imports this app.
        from incidents.hooks import incident_resolved
        from incidents.reviews.services import review_open

        incident_resolved.connect(review_open)
