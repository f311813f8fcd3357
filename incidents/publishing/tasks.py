"""The Celery tasks of publishing, for autodiscover_tasks(); defined beside what they run (delivery.py)."""

from __future__ import annotations

from incidents.publishing.delivery import deliver_task, sweep_task

__all__ = ["deliver_task", "sweep_task"]
