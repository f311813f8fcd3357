"""Metrics on a constructed incident with known times equal the expected durations exactly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.models import Approval, ChainStep, Statement, StatementVersion, TimelineEntry, text_sha256
from incidents.reviews.metrics import format_duration, incident_metrics
from incidents.services.deadlines import ensure_policies
from tests.factories_reviews import at, build_past_incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def built():
    ensure_policies()
    return build_past_incident()


def test_every_metric_equals_the_constructed_duration(built):
    m = incident_metrics(built.incident)
    assert m.detected_to_declared == timedelta(minutes=25)
    assert m.first_published_at == at(45)
    assert m.declared_to_first_statement == timedelta(minutes=45)
    assert m.declared_to_resolved == timedelta(minutes=400)
    assert m.publications == 2
    assert m.statements == 2
    assert m.statement_revisions == 4

    assert [(s.name, s.duration) for s in m.steps] == [
        ("Legal", timedelta(minutes=12)),
        ("Communications lead", timedelta(minutes=8)),
    ]
    assert [(d.name, d.took) for s in m.steps for d in s.decisions] == [
        ("Priya Legal", timedelta(minutes=12)),
        ("Erik Comms", timedelta(minutes=8)),
    ]
    assert [(a.name, a.decisions, a.median_time, a.longest_time) for a in m.approvers] == [
        ("Erik Comms", 1, timedelta(minutes=8), timedelta(minutes=8)),
        ("Priya Legal", 1, timedelta(minutes=12), timedelta(minutes=12)),
    ]

    assert (m.deadlines_met, m.deadlines_missed, m.deadlines_open) == (1, 1, 1)
    assert [d.title for d in m.deadlines] == [
        "First public response",
        "Next public update",
        "Call the payment provider",
    ]

    # SEV2 cadence 120 min: publication gap 155 min (missed), then 200 min to resolution (missed).
    assert m.cadence.cadence == timedelta(minutes=120)
    assert m.cadence.gaps == (timedelta(minutes=155), timedelta(minutes=200))
    assert (m.cadence.kept, m.cadence.missed, m.cadence.longest) == (0, 2, timedelta(minutes=200))

    kinds = {k.kind: k.count for k in m.entries_by_kind}
    assert kinds[TimelineEntry.Kind.NOTE] == 1
    assert kinds[TimelineEntry.Kind.DECISION] == 1
    assert kinds[TimelineEntry.Kind.ACTION] == 1
    assert m.entries_total == TimelineEntry.objects.filter(incident=built.incident).count()


def test_queries_stay_constant_however_many_statements(built):
    with CaptureQueriesContext(connection) as small:
        incident_metrics(built.incident)
    # Five more statements, each with a version, a step and an approval.
    for n in range(5):
        s = Statement.objects.create(
            incident=built.incident,
            title=f"Extra {n}",
            audience="public",
            channel="x",
            created_by=built.comms,
        )
        v = StatementVersion.objects.create(
            statement=s, number=1, body=f"Extra {n}", sha256=text_sha256(f"Extra {n}"), author=built.comms
        )
        step = ChainStep.objects.create(
            version=v, order=1, name="Legal", activated_at=at(300), completed_at=at(301)
        )
        Approval.objects.create(
            version=v, sha256=v.sha256, step=step, approver=built.legal, decided_at=at(301)
        )
    with CaptureQueriesContext(connection) as big:
        m = incident_metrics(built.incident)
    assert len(big) == len(small) <= 7
    assert m.statement_revisions == 9
    # Priya now decided 6 times: 12 min once and 1 min five times; the median is 1 min.
    priya = next(a for a in m.approvers if a.name == "Priya Legal")
    assert (priya.decisions, priya.median_time, priya.longest_time) == (
        6,
        timedelta(minutes=1),
        timedelta(minutes=12),
    )


def test_an_incident_with_nothing_published_has_no_statement_time(db):
    ensure_policies()
    from tests.factories import IncidentFactory

    incident = IncidentFactory.create()
    m = incident_metrics(incident)
    assert m.first_published_at is None
    assert m.declared_to_first_statement is None
    assert m.cadence.gaps == ()
    assert m.cadence.all_kept is None
    assert m.detected_to_declared == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (timedelta(seconds=40), "40 s"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(minutes=3, seconds=5), "3 min 05 s"),
        (timedelta(hours=2, minutes=5), "2 h 05 min"),
        (timedelta(days=3, hours=4, minutes=7), "3 d 4 h"),
    ],
)
def test_durations_read_like_a_person_would_say_them(value, text):
    assert format_duration(value) == text
