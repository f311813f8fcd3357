"""Periodic playbook jobs (schedule in warroom/celery.py)."""

from __future__ import annotations

from celery import shared_task

from incidents.playbooks.services import inject_sweep, review_reminders_send


@shared_task
def sweep_drill_injects() -> int:
    """Every few seconds: post due drill injects (SKIP LOCKED, exactly once each)."""
    return inject_sweep()


@shared_task
def remind_playbook_reviews() -> int:
    """Daily: remind owners of playbooks not reviewed for 90 days (once per review date)."""
    return review_reminders_send()
