"""Exports off the request: small ones stay instant, large ones are prepared by a worker for the person who
asked, shown with their progress and served to them only, through the permission-checked path, until they
expire. (The real worker: tests/test_exports_worker.py; the browser flow: tests/test_browser_exports.py.)"""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from incidents.reviews import export_jobs, exports
from incidents.reviews.models import ExportJob, ExportState
from incidents.services.deadlines import ensure_policies
from tests.factories import UserFactory, give_role
from tests.factories_reviews import build_past_incident
from tests.helpers import race, snapshot

pytestmark = pytest.mark.django_db

JOBS = ["reviews_exportjob"]


@pytest.fixture
def past():
    ensure_policies()
    return build_past_incident()


@pytest.fixture
def queued(monkeypatch):
    """Jobs whose task would be sent (the worker itself is tests/test_exports_worker.py's business)."""
    sent: list[int] = []
    monkeypatch.setattr(export_jobs, "_enqueue", sent.append)
    return sent


@pytest.fixture
def large(settings):
    """Every PDF with more than one entry counts as large; the text formats stay instant."""
    settings.EXPORT_SYNC_MAX_ENTRIES = 1


def public_entries(incident) -> int:
    from incidents.models import TimelineEntry

    return TimelineEntry.objects.filter(incident=incident, is_privileged=False).count()


def url(name, incident, *args):
    return reverse(f"reviews:{name}", args=[incident.code, *args])


def start(client, incident, fmt="pdf", **extra):
    return client.post(url("export-start", incident), {"fmt": fmt, **extra}, headers={"HX-Request": "true"})


def test_a_small_export_is_the_file_at_once(client, past):
    client.force_login(past.comms)
    response = client.get(url("export-pdf", past.incident))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{past.incident.reference}-review.pdf"'
    assert not ExportJob.objects.exists()


def test_a_large_export_link_offers_to_prepare_it_and_changes_nothing(client, past, large, queued):
    client.force_login(past.comms)
    before = snapshot(JOBS)
    response = client.get(url("export-pdf", past.incident))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Prepare the PDF" in page
    assert f"{public_entries(past.incident)} timeline entries" in page  # the privileged one is left out
    assert snapshot(JOBS) == before
    assert queued == []
    # The text formats cost a twentieth: still instant.
    assert client.get(url("export-csv", past.incident))["Content-Type"] == "text/csv; charset=utf-8"


def test_asking_queues_one_job_and_asking_again_returns_it(
    client, past, large, queued, django_capture_on_commit_callbacks
):
    client.force_login(past.comms)
    with django_capture_on_commit_callbacks(execute=True):
        first = start(client, past.incident)
    assert first.status_code == 200
    job = ExportJob.objects.get()
    assert (job.fmt, job.state, job.requested_by, job.include_privileged, job.entries) == (
        "pdf",
        ExportState.QUEUED,
        past.comms,
        False,
        public_entries(past.incident),
    )
    assert queued == [job.pk]
    body = first.content.decode()
    assert 'id="export-progress"' in body
    assert f'hx-get="{url("export-job", past.incident, job.code)}"' in body
    with django_capture_on_commit_callbacks(execute=True):
        again = start(client, past.incident)  # a double click, a second tab
    assert again.status_code == 200
    assert ExportJob.objects.count() == 1
    assert queued == [job.pk]
    # Without htmx the answer is the job's own page.
    plain = client.post(url("export-start", past.incident), {"fmt": "pdf"})
    assert plain.status_code == 302
    assert plain["Location"] == url("export-job", past.incident, job.code)


@pytest.mark.django_db(transaction=True)
def test_racing_requests_for_the_same_export_make_one_job(past, queued):
    ensure_policies()
    incident, comms = past.incident, past.comms
    results = race(
        6,
        lambda _: export_jobs.export_request(
            incident=incident, actor=comms, fmt="pdf", include_privileged=False
        ),
    )
    assert all(isinstance(r, ExportJob) for r in results), results
    assert {r.pk for r in results if isinstance(r, ExportJob)} == {ExportJob.objects.get().pk}
    assert len(queued) == 1


@pytest.mark.parametrize(("fmt", "status"), [("exe", 422), ("", 422), ("PDF", 422)])
def test_an_unknown_format_is_refused_and_nothing_is_queued(client, past, large, queued, fmt, status):
    client.force_login(past.comms)
    before = snapshot(JOBS)
    response = start(client, past.incident, fmt=fmt)
    assert response.status_code == status
    assert "no such export format" in response.content.decode()
    assert snapshot(JOBS) == before
    assert queued == []


def test_outside_the_team_asking_is_forbidden_and_a_restricted_incident_is_not_there(client, large, queued):
    ensure_policies()
    past = build_past_incident()
    hidden = build_past_incident(title="Loyalty e-mails exposed", restricted=True)
    outsider = UserFactory.create()
    client.force_login(outsider)
    before = snapshot(JOBS)
    assert start(client, past.incident).status_code == 403
    assert client.get(url("export-pdf", past.incident)).status_code == 403
    assert start(client, hidden.incident).status_code == 404
    assert client.get(url("export-pdf", hidden.incident)).status_code == 404
    assert client.get(url("export-start", past.incident)).status_code == 405  # GET never queues
    assert snapshot(JOBS) == before
    assert queued == []


def _ready_job(incident, user, fmt="pdf") -> ExportJob:
    job = export_jobs.export_request(incident=incident, actor=user, fmt=fmt, include_privileged=False)
    assert export_jobs.export_build(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_only_the_person_who_asked_can_fetch_the_file_everyone_else_gets_404(client, past, large, queued):
    job = _ready_job(past.incident, past.comms)
    teammate = past.legal  # on the team, may export themselves, but this file is not theirs
    outsider = UserFactory.create()
    hidden = build_past_incident(title="Loyalty e-mails exposed", restricted=True)
    for person in (teammate, outsider):
        client.force_login(person)
        assert client.get(url("export-job", past.incident, job.code)).status_code == 404
        assert client.get(url("export-download", past.incident, job.code)).status_code == 404
    # Another incident's address with this job's code: not found either.
    give_role(hidden.incident, past.comms, "comms-lead")
    client.force_login(past.comms)
    assert client.get(url("export-download", hidden.incident, job.code)).status_code == 404
    response = client.get(url("export-download", past.incident, job.code))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{past.incident.reference}-review.pdf"'
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content).startswith(b"%PDF-")


def test_the_requester_who_left_the_team_may_no_longer_fetch_it(client, past, large, queued):
    from incidents.models import RoleAssignment
    from incidents.services.team import team_remove_role

    job = _ready_job(past.incident, past.comms)
    assignment = RoleAssignment.objects.current().get(incident=past.incident, user=past.comms)
    team_remove_role(incident=past.incident, actor=past.commander, assignment=assignment)
    client.force_login(past.comms)
    assert client.get(url("export-download", past.incident, job.code)).status_code == 403


def test_the_prepared_file_is_the_bytes_the_direct_download_would_have_been(past, large, queued):
    for fmt in ("pdf", "md", "csv", "json"):
        job = _ready_job(past.incident, past.comms, fmt)
        with default_storage.open(job.stored_name, "rb") as fh:
            stored = fh.read()
        direct = exports.render(exports.collect(past.incident, generated_at=job.requested_at), fmt)
        assert stored == direct, fmt
        assert (job.state, job.progress, job.size, job.sha256) == (
            ExportState.READY,
            100,
            len(stored),
            hashlib.sha256(stored).hexdigest(),
        )
        assert job.stored_name.startswith("exports/")
        assert past.incident.reference not in job.stored_name
        assert job.finished_at is not None
        assert job.expires_at == job.finished_at + timedelta(hours=24)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(stored_pdf(past))).pages)
    assert "1 entry under legal privilege excluded" in text


def stored_pdf(past) -> bytes:
    job = ExportJob.objects.get(incident=past.incident, fmt="pdf")
    with default_storage.open(job.stored_name, "rb") as fh:
        return bytes(fh.read())


def test_a_job_is_built_once_a_live_run_is_not_taken_over_and_a_silent_one_is(past, large, queued):
    job = export_jobs.export_request(
        incident=past.incident, actor=past.comms, fmt="pdf", include_privileged=False
    )
    ExportJob.objects.filter(pk=job.pk).update(state=ExportState.RUNNING, started_at=timezone.now())
    assert export_jobs.export_build(job_id=job.pk) is False  # someone is building it
    assert ExportJob.objects.get(pk=job.pk).stored_name == ""
    ExportJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - export_jobs.STALE_AFTER * 2)
    assert export_jobs.export_build(job_id=job.pk) is True  # that worker died: taken over
    assert export_jobs.export_build(job_id=job.pk) is False  # redelivered after success: nothing to do
    assert ExportJob.objects.get(pk=job.pk).state == ExportState.READY
    assert export_jobs.export_build(job_id=10**9) is False  # gone


def test_a_run_that_was_taken_over_cannot_finish_the_job(past, large, queued, monkeypatch):
    job = export_jobs.export_request(
        incident=past.incident, actor=past.comms, fmt="md", include_privileged=False
    )
    real_render = exports.render

    def render_then_lose_the_job(data, fmt, progress=None):
        content = real_render(data, fmt, progress)
        # Meanwhile this run went silent for too long and another worker took the job over.
        ExportJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(hours=1))
        return content

    monkeypatch.setattr(exports, "render", render_then_lose_the_job)
    before = set(default_storage.listdir("exports")[1]) if default_storage.exists("exports") else set()
    assert export_jobs.export_build(job_id=job.pk) is False
    job.refresh_from_db()
    assert job.state == ExportState.RUNNING
    assert job.stored_name == ""
    assert set(default_storage.listdir("exports")[1]) == before  # its file was not left behind


def test_a_failed_build_says_so_and_asking_again_starts_afresh(client, past, large, queued, monkeypatch):
    job = export_jobs.export_request(
        incident=past.incident, actor=past.comms, fmt="pdf", include_privileged=False
    )

    def broken(*args, **kwargs):
        raise RuntimeError("font file unreadable")

    monkeypatch.setattr(exports, "render", broken)
    assert export_jobs.export_build(job_id=job.pk) is False
    job.refresh_from_db()
    assert job.state == ExportState.FAILED
    assert "failed" in job.error
    assert job.stored_name == ""
    client.force_login(past.comms)
    page = client.get(url("export-job", past.incident, job.code), headers={"HX-Request": "true"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "Preparing the export failed" in body
    assert "hx-trigger" not in body
    assert client.get(url("export-download", past.incident, job.code)).status_code == 409
    assert start(client, past.incident).status_code == 200
    assert ExportJob.objects.filter(state=ExportState.QUEUED).count() == 1


def test_a_job_whose_task_never_ran_is_given_up_when_asked_again(past, large, queued):
    job = export_jobs.export_request(
        incident=past.incident, actor=past.comms, fmt="pdf", include_privileged=False
    )
    ExportJob.objects.filter(pk=job.pk).update(requested_at=timezone.now() - export_jobs.STALE_AFTER * 2)
    again = export_jobs.export_request(
        incident=past.incident, actor=past.comms, fmt="pdf", include_privileged=False
    )
    assert again.pk != job.pk
    assert ExportJob.objects.get(pk=job.pk).state == ExportState.FAILED


def test_redis_away_marks_the_job_failed_instead_of_leaving_it_waiting(past, large, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(export_jobs.build_export_task, "apply_async", unreachable)
    job = export_jobs.export_request(
        incident=past.incident, actor=past.comms, fmt="pdf", include_privileged=False
    )
    export_jobs._enqueue(job.pk)
    job.refresh_from_db()
    assert job.state == ExportState.FAILED
    assert "could not be reached" in job.error


def test_progress_is_reported_while_the_pdf_renders(past, large, queued, monkeypatch):
    from incidents.models import TimelineEntry
    from incidents.services.timeline import timeline_append

    for n in range(120):
        timeline_append(
            incident=past.incident, kind=TimelineEntry.Kind.NOTE, author=past.comms, body=f"Note {n}"
        )
    seen: list[int] = []
    monkeypatch.setattr(export_jobs, "PROGRESS_INTERVAL", 0)
    real = export_jobs._reporter

    def spy(mine):
        report = real(mine)

        def wrapped(done):
            report(done)
            seen.append(mine.values_list("progress", flat=True).get())

        return wrapped

    monkeypatch.setattr(export_jobs, "_reporter", spy)
    job = export_jobs.export_request(
        incident=past.incident, actor=past.comms, fmt="pdf", include_privileged=False
    )
    assert export_jobs.export_build(job_id=job.pk)
    assert len(seen) == 122 // exports.PROGRESS_EVERY + 1
    assert seen == sorted(seen)
    assert seen[0] == 5
    assert 5 < seen[-1] <= 95
    assert ExportJob.objects.get(pk=job.pk).progress == 100


def test_download_of_an_expired_or_vanished_export_is_gone(client, past, large, queued):
    job = _ready_job(past.incident, past.comms)
    client.force_login(past.comms)
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(url("export-download", past.incident, job.code)).status_code == 410
    page = client.get(url("export-job", past.incident, job.code)).content.decode()
    assert "expired" in page
    assert "export-download" not in page.split('id="export-job"')[1]
    other = _ready_job(past.incident, past.comms, "md")
    default_storage.delete(other.stored_name)
    assert client.get(url("export-download", past.incident, other.code)).status_code == 410


def test_expiry_deletes_files_and_rows_and_keeps_live_ones(past, large, queued):
    old = _ready_job(past.incident, past.comms, "pdf")
    fresh = _ready_job(past.incident, past.comms, "md")
    failed = export_jobs.export_request(
        incident=past.incident, actor=past.comms, fmt="csv", include_privileged=False
    )
    ExportJob.objects.filter(pk=failed.pk).update(
        state=ExportState.FAILED, requested_at=timezone.now() - timedelta(days=2)
    )
    ExportJob.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert export_jobs.export_expire() == 2
    assert list(ExportJob.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not default_storage.exists(old.stored_name)
    assert default_storage.exists(fresh.stored_name)


def test_a_job_whose_worker_went_silent_stops_polling_and_offers_to_start_again(client, past, large, queued):
    job = export_jobs.export_request(
        incident=past.incident, actor=past.comms, fmt="pdf", include_privileged=False
    )
    ExportJob.objects.filter(pk=job.pk).update(
        state=ExportState.RUNNING, started_at=timezone.now() - export_jobs.STALE_AFTER * 2, progress=40
    )
    client.force_login(past.comms)
    body = client.get(
        url("export-job", past.incident, job.code), headers={"HX-Request": "true"}
    ).content.decode()
    assert "stopped answering" in body
    assert "hx-trigger" not in body  # no more polling
    assert "Prepare it again" in body
    assert start(client, past.incident).status_code == 200
    assert ExportJob.objects.get(pk=job.pk).state == ExportState.FAILED
    assert ExportJob.objects.filter(state=ExportState.QUEUED).count() == 1
