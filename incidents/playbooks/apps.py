from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _seed_playbooks(sender: AppConfig, **kwargs: Any) -> None:
    # After `migrate` and after a test database flush (which empties the seeded rows); creates only what
    # is missing, by name, so a crisis manager's edits are never overwritten.
    from django.apps import apps as global_apps

    registry = kwargs.get("apps") or global_apps
    try:
        registry.get_model("playbooks", "DrillInject")
    except LookupError:  # migrated back to before playbooks existed
        return
    from incidents.playbooks.seeds import ensure_playbooks

    ensure_playbooks()


class PlaybooksConfig(AppConfig):
    name = "incidents.playbooks"
    label = "playbooks"
    verbose_name = _("Crisis playbooks and drills")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from incidents import hooks
        from incidents.playbooks.clocks import follow_awareness
        from incidents.playbooks.receivers import playbook_chain, playbook_templates_first

        post_migrate.connect(_seed_playbooks, sender=self)
        hooks.statement_chain.connect(playbook_chain)  # statements go through the chain the playbook names
        hooks.statement_templates.connect(playbook_templates_first)  # and start from its templates
        hooks.incident_aware_changed.connect(follow_awareness)  # regulatory clocks count from awareness
