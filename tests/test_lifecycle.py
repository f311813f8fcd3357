"""Incident lifecycle: the transition table, status/severity services and their refusals."""

from __future__ import annotations

import pytest

from incidents import services
from incidents.models import Incident, IncidentChange, InvalidTransition, Severity, Status
from tests.factories import IncidentFactory
from tests.helpers import snapshot

ALL_PAIRS = [(a, b) for a in Status for b in Status]


def test_transition_table_covers_every_status():
    assert set(Incident.TRANSITIONS) == set(Status)
    assert Incident.TRANSITIONS[Status.CLOSED] == frozenset()


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS)
@pytest.mark.django_db
def test_every_transition_is_either_applied_or_refused_unchanged(manager, current, target):
    incident = IncidentFactory.create(declared_by=manager, status=current)
    allowed = target in Incident.TRANSITIONS[current]
    before = snapshot()
    if allowed:
        updated = services.incident_change_status(
            incident=incident, actor=manager, new_status=target, expected_status=current
        )
        assert updated.status == target
        change = IncidentChange.objects.get(incident=incident)
        assert (change.field, change.old_value, change.new_value, change.changed_by) == (
            "status",
            current,
            target,
            manager,
        )
        assert updated.status_changed_at == change.changed_at
    else:
        with pytest.raises(InvalidTransition):
            services.incident_change_status(
                incident=incident, actor=manager, new_status=target, expected_status=current
            )
        assert snapshot() == before


@pytest.mark.django_db
def test_resolving_stamps_resolved_at_and_reopening_clears_it(incident, manager):
    for status in (Status.RESPONDING, Status.RESOLVED):
        incident = services.incident_change_status(incident=incident, actor=manager, new_status=status)
    assert incident.resolved_at is not None
    incident = services.incident_change_status(incident=incident, actor=manager, new_status=Status.RESPONDING)
    incident.refresh_from_db()
    assert incident.resolved_at is None
    assert incident.is_open


@pytest.mark.django_db
def test_closing_stamps_closed_at(incident, manager):
    incident = services.incident_change_status(incident=incident, actor=manager, new_status=Status.CLOSED)
    assert incident.closed_at is not None
    assert not incident.is_open


@pytest.mark.django_db
def test_stale_status_change_is_refused_and_changes_nothing(incident, manager):
    services.incident_change_status(incident=incident, actor=manager, new_status=Status.ASSESSING)
    before = snapshot()
    # The user still looks at "detected" and clicks "responding" (allowed from assessing too).
    with pytest.raises(services.StaleEdit) as excinfo:
        services.incident_change_status(
            incident=incident, actor=manager, new_status=Status.RESPONDING, expected_status=Status.DETECTED
        )
    assert "assessing" in str(excinfo.value)
    assert excinfo.value.current.status == Status.ASSESSING
    assert snapshot() == before


@pytest.mark.django_db
def test_unknown_status_is_refused(incident, manager):
    before = snapshot()
    with pytest.raises(InvalidTransition):
        services.incident_change_status(incident=incident, actor=manager, new_status="exploded")
    assert snapshot() == before


@pytest.mark.django_db
def test_severity_change_is_recorded(incident, manager):
    incident = services.incident_change_severity(
        incident=incident,
        actor=manager,
        new_severity=Severity.SEV1,
        expected_severity=Severity.SEV2,
        note="press call",
    )
    assert incident.severity == Severity.SEV1
    change = IncidentChange.objects.get(incident=incident)
    assert (change.field, change.old_value, change.new_value, change.note) == (
        "severity",
        "sev2",
        "sev1",
        "press call",
    )


@pytest.mark.parametrize(
    ("status", "severity", "expected", "error"),
    [
        (Status.RESPONDING, Severity.SEV2, Severity.SEV2, InvalidTransition),  # same severity
        (Status.RESPONDING, "sev9", Severity.SEV2, InvalidTransition),  # not a severity
        (Status.RESOLVED, Severity.SEV1, Severity.SEV2, InvalidTransition),  # archived
        (Status.RESPONDING, Severity.SEV1, Severity.SEV3, services.StaleEdit),  # someone was faster
    ],
)
@pytest.mark.django_db
def test_refused_severity_changes_change_nothing(manager, status, severity, expected, error):
    incident = IncidentFactory.create(declared_by=manager, status=status, severity=Severity.SEV2)
    before = snapshot()
    with pytest.raises(error):
        services.incident_change_severity(
            incident=incident, actor=manager, new_severity=severity, expected_severity=expected
        )
    assert snapshot() == before


@pytest.mark.django_db
def test_declare_makes_the_declarer_commander_and_allocates_a_reference(manager):
    incident = services.incident_declare(
        actor=manager,
        title="  Rumour about layoffs  ",
        scenario="misinformation",
        severity="sev3",
        affected_platforms=["x", "x", "reddit"],
    )
    assert incident.commander == manager
    assert incident.title == "Rumour about layoffs"
    assert incident.affected_platforms == ["x", "reddit"]
    assert incident.status == Status.DETECTED
    assert incident.detected_at == incident.declared_at
    assert incident.reference.startswith(f"INC-{incident.declared_at.year}-")
    second = services.incident_declare(actor=manager, title="Another", scenario="other", severity="sev4")
    assert int(second.reference.rsplit("-", 1)[1]) == int(incident.reference.rsplit("-", 1)[1]) + 1


@pytest.mark.django_db
def test_detected_time_in_the_future_is_clamped_to_now(manager):
    from datetime import timedelta

    from django.utils import timezone

    incident = services.incident_declare(
        actor=manager,
        title="T",
        scenario="other",
        severity="sev4",
        detected_at=timezone.now() + timedelta(hours=1),
    )
    assert incident.detected_at <= incident.declared_at
