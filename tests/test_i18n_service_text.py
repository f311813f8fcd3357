"""Text the services write, in whose language (issue 19).

Exports are written in the exporter's language — a direct download in their request's, a prepared one (built by
the worker, which has no request) in the language recorded on the job when they asked; CSV column names stay
a data interface. Timeline entries are stored once and sent as is to every viewer, so what the system writes
into them is in the organisation's language (settings.LANGUAGE_CODE), whoever caused the change and in
whatever language they were working; what people type stays as typed.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader

from incidents import services
from incidents.models import TimelineEntry
from incidents.reviews import export_jobs, exports
from incidents.reviews.models import ExportJob
from incidents.services.deadlines import ensure_policies
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.factories_reviews import build_past_incident
from tests.helpers import snapshot
from tests.test_i18n import _compiled_catalogues  # noqa: F401  (the catalogues compiled, as in test_i18n)

pytestmark = pytest.mark.django_db


@pytest.fixture
def past():
    ensure_policies()
    return build_past_incident()


@pytest.fixture
def queued(monkeypatch, settings):
    """Every export counts as large (prepared by a worker); the task is not sent, the test builds it."""
    settings.EXPORT_SYNC_MAX_ENTRIES = 1
    sent: list[int] = []
    monkeypatch.setattr(export_jobs, "_enqueue", sent.append)
    return sent


def _stored(job: ExportJob) -> bytes:
    with default_storage.open(job.stored_name, "rb") as fh:
        return bytes(fh.read())


# --- exports ---------------------------------------------------------------------------------------------


def test_a_prepared_export_is_written_in_the_language_of_whoever_asked(past, queued):
    with translation.override("pl"):
        job = export_jobs.export_request(
            incident=past.incident, actor=past.comms, fmt="md", include_privileged=False
        )
    assert job.language == "pl"
    # The worker has no request and no language of its own: the job says which.
    with translation.override("en"):
        assert export_jobs.export_build(job_id=job.pk)
    job.refresh_from_db()
    md = _stored(job).decode()
    for heading in ("## Oś czasu", "## Opublikowane oświadczenia", "- Wyeksportowano:"):
        assert heading in md
    for english in ("## Timeline", "## Published statements", "Exported:", "Response metrics"):
        assert english not in md
    with translation.override("pl"):  # the same bytes a direct download in Polish would have been
        direct = exports.render(exports.collect(past.incident, generated_at=job.requested_at), "md")
    assert _stored(job) == direct


def test_a_prepared_pdf_follows_the_exporters_language_too(past, queued):
    with translation.override("sv"):
        job = export_jobs.export_request(
            incident=past.incident, actor=past.comms, fmt="pdf", include_privileged=False
        )
    assert export_jobs.export_build(job_id=job.pk)
    job.refresh_from_db()
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(_stored(job))).pages)
    assert "Publicerade uttalanden" in text
    assert "Published statements" not in text
    assert "1 post under juridisk sekretess ingår inte i den här exporten." in text


def test_a_direct_download_is_in_the_persons_language_and_csv_keeps_its_column_names(client, past):
    past.comms.language = "sv"
    past.comms.save(update_fields=["language"])
    client.force_login(past.comms)
    md = client.get(reverse("reviews:export-md", args=[past.incident.code])).content.decode()
    assert "## Publicerade uttalanden" in md
    assert "## Published statements" not in md
    rows = list(
        csv.reader(
            io.StringIO(client.get(reverse("reviews:export-csv", args=[past.incident.code])).content.decode())
        )
    )
    assert rows[0][1] == "1 post under juridisk sekretess ingår inte i den här exporten."
    assert rows[1][:3] == ["seq", "occurred_at_utc", "recorded_at_utc"]  # a data interface, never translated


def test_an_unknown_format_is_refused_in_the_askers_language_and_nothing_is_queued(past, queued):
    before = snapshot(["reviews_exportjob"])
    with translation.override("pl"), pytest.raises(export_jobs.ExportRefused) as refused:
        export_jobs.export_request(
            incident=past.incident, actor=past.comms, fmt="xls", include_privileged=False
        )
    assert str(refused.value) != "There is no such export format."  # said in Polish
    assert snapshot(["reviews_exportjob"]) == before
    assert queued == []


# --- timeline entries --------------------------------------------------------------------------------------


def test_system_entries_are_written_in_the_organisations_language_whoever_causes_them(manager, settings):
    settings.LANGUAGE_CODE = "en-gb"
    polish = UserFactory.create(display_name="Anna Nowak", email="anna@example.com", language="pl")
    incident = IncidentFactory.create(declared_by=manager)
    with translation.override("pl"):  # a Polish speaker's request
        services.incident_change_status(
            incident=incident, actor=manager, new_status="assessing", note="Sprawdzamy zgłoszenia"
        )
        give_role(incident, polish, "legal", actor=manager)
    status = TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.STATUS).latest("seq")
    assert status.body == "Status: Detected → Assessing — “Sprawdzamy zgłoszenia”"  # the note stays as typed
    assert "Ocena" not in status.html
    team = TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.TEAM).latest("seq")
    assert "Anna Nowak" in team.body
    with translation.override("en-gb"):
        kind_label = str(TimelineEntry.Kind(team.kind).label)
    assert f'<span class="entry-kind">{kind_label}</span>' in team.html


def test_a_persons_entry_carries_the_organisations_chrome_not_the_authors(manager, settings):
    settings.LANGUAGE_CODE = "en-gb"
    incident = IncidentFactory.create(declared_by=manager)
    with translation.override("ru"):
        entry = services.timeline_post(incident=incident, actor=manager, kind="note", body="Звонил журналист")
    assert "Звонил журналист" in entry.html
    assert (
        "Correct or retract" in entry.html
    )  # the same buttons for every viewer, in the organisation's language
    with translation.override("ru"):
        russian = translation.gettext("Correct or retract")
    assert russian != "Correct or retract"
    assert russian not in entry.html


def test_statement_entries_name_channel_and_audience_in_the_organisations_language(manager, settings):
    settings.LANGUAGE_CODE = "en-gb"
    incident = IncidentFactory.create(declared_by=manager)
    with translation.override("pl"):
        services.statement_create(
            incident=incident,
            actor=manager,
            channel="website",
            audience="customers",
            title="Aktualizacja",
            body="Pracujemy nad tym.",
        )
    entry = TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.STATEMENT).latest("seq")
    assert "“Aktualizacja” (Website, customers)" in entry.body
    with translation.override("pl"):
        polish_channel = str(translation.gettext("Website"))
    assert polish_channel != "Website"
    assert polish_channel not in entry.body
