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
    "clear-expired-sessions": {
        "task": "incidents.tasks.clear_expired_sessions",
        "schedule": timedelta(hours=1),
    },
}
