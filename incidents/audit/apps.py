from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "incidents.audit"
    label = "audit"
    verbose_name = _("Audit log")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import task_postrun, task_prerun
        from django.db import connections
        from django.db.backends.signals import connection_created

        from incidents.audit import context

        connection_created.connect(context.install, dispatch_uid="warroom-audit-context")
        for existing in connections.all(initialized_only=True):
            context.install(existing)
        task_prerun.connect(context.task_started, dispatch_uid="warroom-audit-task-started", weak=False)
        task_postrun.connect(context.task_finished, dispatch_uid="warroom-audit-task-finished", weak=False)
