from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _seed_reply_templates(sender: AppConfig, **kwargs: Any) -> None:
    # After `migrate` and after a test database flush; creates only what is missing, by name.
    from django.apps import apps as global_apps

    registry = kwargs.get("apps") or global_apps
    try:
        model = registry.get_model("listening", "ReplyTemplate")
    except LookupError:  # migrated back to before listening existed
        return
    from incidents.listening.seeds import ensure_reply_templates

    ensure_reply_templates(model)


class ListeningConfig(AppConfig):
    name = "incidents.listening"
    label = "listening"
    verbose_name = _("Social listening")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_seed_reply_templates, sender=self)
        # Listening changes reach open pages as live nudges (incidents/listening/push.py).
        from incidents.listening import live, push

        live.connect(push.push)
