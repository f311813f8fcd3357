"""A large export prepared by a real Celery worker (subprocess, private Redis) downloads exactly the bytes the
synchronous path produces, and its progress is seen moving while the worker renders."""

from __future__ import annotations

import pytest
from celery import Celery
from django.urls import reverse

from bench.processes import wait_until
from incidents.models import TimelineEntry
from incidents.reviews import export_jobs, exports
from incidents.reviews.models import ExportJob, ExportState
from incidents.services.deadlines import ensure_policies
from incidents.services.timeline import timeline_append
from tests.factories_reviews import build_past_incident
from tests.test_deadlines_celery import running_stack

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ENTRIES = 600  # a PDF of 600 entries is above the default threshold (250): prepared by the worker


def test_a_large_pdf_is_prepared_by_the_worker_and_downloads_the_synchronous_bytes(
    django_db_setup, settings, monkeypatch, client
):
    ensure_policies()
    past = build_past_incident()
    for n in range(ENTRIES):
        timeline_append(
            incident=past.incident,
            kind=TimelineEntry.Kind.NOTE,
            author=past.comms,
            body=f"Update {n}: refunds batch {n % 7} confirmed by the payment provider — ✓ {'é' * (n % 3)}",
        )
    assert exports.is_large("pdf", export_jobs.entries_to_export(past.incident, include_privileged=False))
    with running_stack(settings, monkeypatch, {"MEDIA_ROOT": str(settings.MEDIA_ROOT)}) as stack:
        monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # a bare app reads it before its own broker=
        broker = Celery(broker=stack.redis.url(3))
        # The test process sends the task to the stack's private broker, as the web process would to its own.
        monkeypatch.setattr(
            export_jobs,
            "_enqueue",
            lambda pk: broker.send_task("incidents.reviews.tasks.build_export", args=[pk]),
        )
        client.force_login(past.comms)
        response = client.post(
            reverse("reviews:export-start", args=[past.incident.code]),
            {"fmt": "pdf"},
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 200
        job = ExportJob.objects.get()
        seen: set[int] = set()

        def finished() -> bool:
            state, progress = ExportJob.objects.filter(pk=job.pk).values_list("state", "progress").get()
            seen.add(progress)
            return state in (ExportState.READY, ExportState.FAILED)

        wait_until(finished, 90, "the worker never finished the export", stack.worker.tail)
        job.refresh_from_db()
        assert job.state == ExportState.READY, (job.error, stack.worker.tail())
        assert any(0 < p < 100 for p in seen), seen  # progress moved while the worker rendered
        page = client.get(reverse("reviews:export-job", args=[past.incident.code, job.code])).content.decode()
        assert "Download the PDF" in page
        download = client.get(reverse("reviews:export-download", args=[past.incident.code, job.code]))
        assert download.status_code == 200
        prepared = b"".join(download.streaming_content)
    # The synchronous path, here in-process, with the same "Exported" stamp.
    direct = exports.render(exports.collect(past.incident, generated_at=job.requested_at), "pdf")
    assert prepared == direct
    assert prepared.startswith(b"%PDF-")
    assert len(prepared) == job.size
