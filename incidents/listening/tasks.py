"""Celery tasks of listening (the on-commit kicks that start them are in kicks.py).

Beat (warroom/settings.py) runs the sweeps: due sources are handed to one task each, pending mentions are
scored, every active watch is checked for spikes, drill spikes inject their due mentions. Ingest kicks
scoring and the spike check of the watches it touched right after commit, so an alert does not wait for
the next sweep; a kick lost to a Redis outage only delays things until that sweep.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task

from incidents.listening.kicks import send

log = logging.getLogger(__name__)

ENRICH_BUDGET_SECONDS = 5.0


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def poll_source_task(source_id: int) -> None:
    from incidents.listening.sources.polling import poll_source

    poll_source(source_id)


@shared_task(ignore_result=True)
def poll_sources_task() -> int:
    """Hand each due source to its own task (a slow or broken source delays nobody else)."""
    from incidents.listening.sources.polling import due_sources

    due = due_sources()
    for source_id in due:
        send("poll_source_task", source_id)
    return len(due)


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=60)
def enrich_mentions_task() -> int:
    from incidents.listening.ingest import enrich_pending

    done, started = 0, time.monotonic()
    while time.monotonic() - started < ENRICH_BUDGET_SECONDS:
        n = enrich_pending()
        done += n
        if n == 0:
            return done
    send("enrich_mentions_task")  # more left: a fresh task, so others get the worker in between
    return done


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def check_spikes_task(watch_ids: list[int] | None = None) -> int:
    from incidents.listening.spikes import check_watches

    return check_watches(watch_ids)


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=60)
def inject_drill_mentions_task() -> int:
    from incidents.listening.services.drills import inject_due

    return inject_due()
