"""Exports prepared off the request (incidents/reviews/export_jobs.py); expiry runs on beat."""

from __future__ import annotations

from celery import shared_task

from incidents.reviews.export_jobs import export_build, export_expire


@shared_task(acks_late=True, name="incidents.reviews.tasks.build_export")
def build_export_task(job_id: int) -> bool:
    """Build one export. Redelivered after a worker crash (acks_late): the claim decides who builds."""
    return export_build(job_id=job_id)


@shared_task(name="incidents.reviews.tasks.expire_exports")
def expire_exports() -> int:
    """Every 15 minutes: delete prepared exports past their expiry."""
    return export_expire()
