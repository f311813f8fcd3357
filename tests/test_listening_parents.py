"""The mentions' foreign keys are checked without a per-row constraint (Mention's note): what a mention points
at cannot be deleted — not by the ORM, not by raw SQL — and a batch for a source that is gone stores nothing."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from incidents.listening.ingest import ingest
from incidents.listening.models import Mention, Source, Watch
from incidents.listening.records import IngestError
from incidents.models import User
from tests.factories import IncidentFactory
from tests.factories_listening import make_source, make_watch, record
from tests.helpers import snapshot

pytestmark = pytest.mark.django_db

TABLES = [
    "listening_mention",
    "listening_source",
    "listening_watch",
    "listening_mentionrollup",
    "incidents_incident",
    "incidents_user",
]


def _raw_delete(table: str, pk: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [pk])  # table names are ours


def test_nothing_a_mention_points_at_can_be_deleted_even_by_raw_sql():
    incident = IncidentFactory.create()
    brand = make_watch("Northwind")
    incident_watch = make_watch("Northwind", incident=incident)
    source = make_source()
    ingest(source=source, records=[record(1)])
    mention = Mention.objects.get()
    assert mention.watch_ids == [brand.pk]
    assert (mention.incident_watch_id, mention.incident_id) == (incident_watch.pk, incident.pk)
    tagger = User.objects.create_user("tagger@example.com", "a-long-password-1234", display_name="Tagger")
    Mention.objects.filter(pk=mention.pk).update(sentiment_set_by=tagger)
    before = snapshot(TABLES)
    for table, pk in [
        ("listening_source", source.pk),
        ("listening_watch", brand.pk),  # an organisation watch, named in watch_ids
        ("listening_watch", incident_watch.pk),
        ("incidents_incident", incident.pk),
        ("incidents_user", tagger.pk),
    ]:
        with pytest.raises(IntegrityError, match="mentions point at"), transaction.atomic():
            _raw_delete(table, pk)
    with pytest.raises(ProtectedError), transaction.atomic():
        source.delete()  # and the ORM says why before it gets there
    assert snapshot(TABLES) == before


def test_a_parent_nothing_points_at_is_deleted_as_before():
    unused_source, unused_watch = make_source(), make_watch("Contoso")
    _raw_delete("listening_source", unused_source.pk)
    _raw_delete("listening_watch", unused_watch.pk)
    assert not Source.objects.filter(pk=unused_source.pk).exists()
    assert not Watch.objects.filter(pk=unused_watch.pk).exists()


def test_a_batch_for_a_source_that_is_gone_stores_nothing():
    make_watch("Northwind")
    gone = make_source()
    _raw_delete("listening_source", gone.pk)
    before = snapshot(TABLES)
    with pytest.raises(IngestError, match="no longer exists"):
        ingest(source=gone, records=[record(1), record(2)])
    assert snapshot(TABLES) == before


def test_inserting_mentions_fires_no_per_row_key_check():
    # The constraint triggers this replaces: one call per inserted row and key at commit.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'listening_mention'::regclass"
            " AND tgfoid = '\"RI_FKey_check_ins\"'::regproc"
        )
        assert cursor.fetchone()[0] == 0
