from __future__ import annotations

import os
from datetime import timedelta

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "warroom.settings")

app = Celery("warroom")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The schedule lives in code, not in a database table: beat restarts must not reset or duplicate it.
app.conf.beat_schedule = {
    # Safety net for e-mails whose on-commit kick was lost (Redis down at the time).
    "send-outbox": {"task": "incidents.tasks.send_outbox_task", "schedule": timedelta(seconds=15)},
    "clear-expired-sessions": {
        "task": "incidents.tasks.clear_expired_sessions",
        "schedule": timedelta(hours=1),
    },
}
