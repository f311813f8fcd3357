"""Large exports, prepared by a Celery worker instead of in the request.

A team member asks (`export_request`); a worker claims the job, builds the file with the same code as the
direct download (`exports.collect` + `exports.render`, stamped with the time it was asked for), reports its
progress on the job row as it renders, and stores the file under a server-generated name in private storage
(`exports/`, never under a public URL). Only the person who asked may fetch it, through the same
permission-checked view as everything else, until it expires (`EXPORT_TTL_HOURS`); a beat task then deletes
file and row.

Delivery is at least once: a worker killed mid-build leaves the job running, and the redelivered task (or
the next request for the same export) takes it over once it has been silent for `STALE_AFTER`. A claim
names the run (`started_at`), so a run that was taken over cannot mark the job done.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from datetime import datetime, timedelta
from uuid import UUID

from celery import shared_task
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from incidents.models import Incident, NotAllowed, Perm, TimelineEntry, User
from incidents.models.errors import InputRefused
from incidents.permissions import incident_perms
from incidents.reviews import exports
from incidents.reviews.models import ExportFormat, ExportJob, ExportState

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=5)  # a running job this silent lost its worker
PROGRESS_INTERVAL = 0.3  # seconds between two progress writes
FOLDER = "exports"


class ExportRefused(InputRefused):
    """The export cannot be prepared as asked; nothing was queued."""


def entries_to_export(incident: Incident, *, include_privileged: bool) -> int:
    entries = TimelineEntry.objects.filter(incident=incident)
    if not include_privileged:
        entries = entries.filter(is_privileged=False)
    return entries.count()


def export_request(*, incident: Incident, actor: User, fmt: str, include_privileged: bool) -> ExportJob:
    """Queue an export for `actor` (a member of the incident's team), or return the same one already in
    flight (a double click, a second tab). The task is sent when the job row is committed."""
    if fmt not in ExportFormat.values:
        raise ExportRefused(_("There is no such export format."))
    if Perm.VIEW not in incident_perms(actor, incident):
        raise NotAllowed(_("Exports are for the incident team."))
    _take_over_stale(incident=incident, actor=actor, fmt=fmt, include_privileged=include_privileged)
    try:
        with transaction.atomic():
            job = ExportJob.objects.create(
                incident=incident,
                requested_by=actor,
                fmt=fmt,
                include_privileged=include_privileged,
                entries=entries_to_export(incident, include_privileged=include_privileged),
                language=translation.get_language() or "",
            )
            transaction.on_commit(lambda: _enqueue(job.pk))
            return job
    except IntegrityError:
        # The same export is in flight (the partial unique index decides between racing requests).
        return ExportJob.objects.get(
            incident=incident,
            requested_by=actor,
            fmt=fmt,
            include_privileged=include_privileged,
            state__in=[ExportState.QUEUED, ExportState.RUNNING],
        )


def _take_over_stale(*, incident: Incident, actor: User, fmt: str, include_privileged: bool) -> None:
    """A job whose worker went silent (killed mid-build, or never sent: Redis was down) is given up, so
    asking again starts a fresh one instead of waiting for it forever."""
    cutoff = timezone.now() - STALE_AFTER
    ExportJob.objects.filter(
        incident=incident, requested_by=actor, fmt=fmt, include_privileged=include_privileged
    ).filter(
        Q(state=ExportState.QUEUED, requested_at__lt=cutoff)
        | Q(state=ExportState.RUNNING, started_at__lt=cutoff)
    ).update(state=ExportState.FAILED, error=_("The worker preparing it stopped; it was asked for again."))


def _enqueue(job_id: int) -> None:
    try:
        build_export_task.apply_async((job_id,), retry=False)
    except Exception:  # Redis away: say so on the job instead of letting it wait forever
        log.warning("Could not queue export job %s; marked failed.", job_id, exc_info=True)
        ExportJob.objects.filter(pk=job_id, state=ExportState.QUEUED).update(
            state=ExportState.FAILED,
            error=_("The background worker could not be reached. Try again in a minute."),
            finished_at=timezone.now(),
        )


def export_build(*, job_id: int) -> bool:
    """Build one job's file (run by the worker). False when there was nothing to do: the job is finished,
    gone, or being built by a live worker."""
    now = timezone.now()
    claimed = ExportJob.objects.filter(pk=job_id).filter(
        Q(state=ExportState.QUEUED) | Q(state=ExportState.RUNNING, started_at__lt=now - STALE_AFTER)
    )
    if not claimed.update(state=ExportState.RUNNING, started_at=now, progress=0):
        return False
    job = ExportJob.objects.select_related("incident").get(pk=job_id)
    mine = ExportJob.objects.filter(pk=job_id, state=ExportState.RUNNING, started_at=now)
    try:
        # Headings in the exporter's language, as a direct download in their browser would have them.
        with translation.override(job.language or None):
            data = exports.collect(
                job.incident, include_privileged=job.include_privileged, generated_at=job.requested_at
            )
            mine.update(progress=5)
            content = exports.render(data, job.fmt, _reporter(mine))
    except Exception:
        log.exception("Export job %s failed.", job_id)
        mine.update(
            state=ExportState.FAILED,
            error=_("Preparing the export failed. Try again; if it fails again, tell an administrator."),
            finished_at=timezone.now(),
        )
        return False
    name = default_storage.save(f"{FOLDER}/{secrets.token_hex(16)}.{job.fmt}", ContentFile(content))
    done = timezone.now()
    finished = mine.update(
        state=ExportState.READY,
        progress=100,
        stored_name=name,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        finished_at=done,
        expires_at=done + timedelta(hours=settings.EXPORT_TTL_HOURS),
    )
    if not finished:  # taken over meanwhile: the other run's file is the one
        default_storage.delete(name)
    return bool(finished)


def _reporter(mine: QuerySet[ExportJob]) -> exports.Progress:
    """Progress from 5 to 95 % while rendering, written at most every PROGRESS_INTERVAL seconds."""
    last = [0.0]

    def report(done: float) -> None:
        moment = time.monotonic()
        if moment - last[0] >= PROGRESS_INTERVAL:
            last[0] = moment
            mine.update(progress=5 + int(90 * min(max(done, 0.0), 1.0)))

    return report


def export_expire(*, now: datetime | None = None) -> int:
    """Delete prepared exports past their expiry, and failed jobs older than a day. Returns rows deleted."""
    now = now or timezone.now()
    old = ExportJob.objects.filter(
        Q(expires_at__lt=now) | Q(state=ExportState.FAILED, requested_at__lt=now - timedelta(days=1))
    )
    removed = 0
    for pk, name in old.values_list("pk", "stored_name"):
        if name:
            default_storage.delete(name)  # a missing file is fine: this is the whole point
        removed += ExportJob.objects.filter(pk=pk).delete()[0]
    return removed


def job_for(*, incident: Incident, user: User, code: UUID) -> ExportJob | None:
    """The user's own job on this incident, or None (someone else's job is as good as missing)."""
    return ExportJob.objects.filter(incident=incident, requested_by=user, code=code).first()


def is_stale(job: ExportJob, now: datetime | None = None) -> bool:
    """Still waiting or running, but silent for so long that its worker is gone: asking again starts afresh."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    if job.state == ExportState.QUEUED:
        return job.requested_at < cutoff
    return job.state == ExportState.RUNNING and job.started_at is not None and job.started_at < cutoff


def is_expired(job: ExportJob, now: datetime | None = None) -> bool:
    return job.expires_at is not None and job.expires_at <= (now or timezone.now())


# --- the Celery tasks (registered under incidents.reviews.tasks.*, which incidents/reviews/tasks.py gathers) -----


@shared_task(acks_late=True, name="incidents.reviews.tasks.build_export")
def build_export_task(job_id: int) -> bool:
    """Build one export. Redelivered after a worker crash (acks_late): the claim decides who builds."""
    return export_build(job_id=job_id)


@shared_task(name="incidents.reviews.tasks.expire_exports")
def expire_exports() -> int:
    """Every 15 minutes: delete prepared exports past their expiry."""
    return export_expire()
