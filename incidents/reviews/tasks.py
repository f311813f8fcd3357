"""Celery's autodiscovery looks here: the tasks are defined beside the service they run
(incidents/reviews/export_jobs.py) under their registered names, so nothing imports this module back."""

from __future__ import annotations

from incidents.reviews.export_jobs import build_export_task, expire_exports

__all__ = ["build_export_task", "expire_exports"]
