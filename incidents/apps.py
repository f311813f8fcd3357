from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy


def _seed_catalogues(sender: AppConfig, **kwargs: Any) -> None:
    # Also after a test database flush, which empties every table including the seeded catalogues.
    from django.apps import apps as global_apps

    from incidents.models.statement_seeds import ensure_statement_seeds
    from incidents.roles import ensure_roles

    # `migrate` passes its migration-state registry; `flush` passes none.
    registry = kwargs.get("apps") or global_apps
    try:
        role_model = registry.get_model("incidents", "IncidentRole")
    except LookupError:  # migrated back to before the role catalogue existed
        return
    ensure_roles(role_model)
    try:
        policy_model = registry.get_model("incidents", "ResponsePolicy")
    except LookupError:  # migrated back to before deadlines existed
        policy_model = None
    if policy_model is not None:
        from incidents.services.deadlines import ensure_policies

        ensure_policies(policy_model)
    try:
        chain, step, template = (
            registry.get_model("incidents", name)
            for name in ("ApprovalChainTemplate", "ApprovalStepTemplate", "StatementTemplate")
        )
    except LookupError:  # migrated back to before statements existed
        return
    ensure_statement_seeds(chain, step, template, role_model)


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = gettext_lazy("Crisis war room")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_seed_catalogues, sender=self)
