from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PublishingConfig(AppConfig):
    name = "incidents.publishing"
    label = "publishing"
    verbose_name = _("Publishing channels")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from incidents import hooks
        from incidents.publishing.receivers import hold_while_sending

        # A statement's text and status stay put while its approved version is on its way to a channel.
        hooks.statement_changing.connect(hold_while_sending)
