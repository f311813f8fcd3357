"""A past incident built row by row with known times, for the reviews tests (metrics, exports, search)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from incidents.models import (
    Approval,
    ChainStep,
    Channel,
    Deadline,
    DeadlineKind,
    DeadlineState,
    Incident,
    Publication,
    Severity,
    Statement,
    StatementStatus,
    StatementVersion,
    Status,
    TimelineEntry,
    User,
    text_sha256,
)
from incidents.reviews.services import review_open
from incidents.services.timeline import timeline_append
from tests.factories import IncidentFactory, UserFactory, give_role

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # declared


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass
class Built:
    incident: Incident
    commander: User
    legal: User
    comms: User


def _version(statement: Statement, number: int, body: str, author: User, minutes: float) -> StatementVersion:
    return StatementVersion.objects.create(
        statement=statement,
        number=number,
        body=body,
        sha256=text_sha256(body),
        author=author,
        created_at=at(minutes),
    )


def _publish(statement: Statement, version: StatementVersion, by: User, minutes: float) -> Publication:
    statement.status = StatementStatus.PUBLISHED
    statement.current_version = version
    statement.save(update_fields=["status", "current_version"])
    return Publication.objects.create(
        statement=statement,
        version=version,
        sha256=version.sha256,
        channel=statement.channel,
        published_at=at(minutes),
        published_by=by,
    )


def build_past_incident(
    *, title: str = "Checkout charged customers twice", restricted: bool = False
) -> Built:
    """SEV2 (update cadence 120 min). Detected 25 min before declaration; resolved at +400 min.

    Statements: A (3 versions; v3 published at +45), B (1 version, published at +200; gap 155 > 120),
    resolution 200 min after B (> 120). Steps on A v3: Legal +20 → +32 (Priya decides at +32), Comms +32 → +40
    (Erik at +40). Deadlines: first response met, one update missed, one task open.
    """
    commander = UserFactory.create(display_name="Maja Commander")
    legal = UserFactory.create(display_name="Priya Legal")
    comms = UserFactory.create(display_name="Erik Comms")
    incident = IncidentFactory.create(
        title=title,
        summary="Duplicate card charges after the payment provider retried.",
        severity=Severity.SEV2,
        declared_by=commander,
        declared_at=T0,
        detected_at=T0 - timedelta(minutes=25),
        is_restricted=restricted,
    )
    give_role(incident, legal, "legal")
    give_role(incident, comms, "comms-lead")
    timeline_append(
        incident=incident,
        kind=TimelineEntry.Kind.NOTE,
        author=commander,
        body="Payment provider confirms a retry storm.",
    )
    timeline_append(
        incident=incident,
        kind=TimelineEntry.Kind.DECISION,
        author=legal,
        body="Counsel advises we avoid admitting liability for the overdraft fees.",
        is_privileged=True,
    )
    timeline_append(
        incident=incident,
        kind=TimelineEntry.Kind.ACTION,
        author=comms,
        body="Refunds queued for every double charge.",
    )

    a = Statement.objects.create(
        incident=incident,
        title="Holding statement",
        audience="public",
        channel=Channel.X,
        created_by=comms,
        created_at=at(5),
    )
    _version(a, 1, "We are looking into reports of double charges.", comms, 5)
    _version(a, 2, "We know some customers were charged twice.", comms, 12)
    a3 = _version(
        a, 3, "Some customers were charged twice at checkout. Every duplicate will be refunded.", comms, 18
    )
    legal_step = ChainStep.objects.create(
        version=a3, order=1, name="Legal", activated_at=at(20), completed_at=at(32)
    )
    comms_step = ChainStep.objects.create(
        version=a3, order=2, name="Communications lead", activated_at=at(32), completed_at=at(40)
    )
    Approval.objects.create(version=a3, sha256=a3.sha256, step=legal_step, approver=legal, decided_at=at(32))
    Approval.objects.create(version=a3, sha256=a3.sha256, step=comms_step, approver=comms, decided_at=at(40))
    _publish(a, a3, comms, 45)

    b = Statement.objects.create(
        incident=incident,
        title="Refund update",
        audience="public",
        channel=Channel.WEBSITE,
        created_by=comms,
        created_at=at(150),
    )
    b1 = _version(b, 1, "Refunds for the duplicate charges are on their way.", comms, 150)
    _publish(b, b1, comms, 200)

    Deadline.objects.create(
        incident=incident,
        kind=DeadlineKind.FIRST_RESPONSE,
        title="First public response",
        due_at=at(60),
        original_due_at=at(60),
        state=DeadlineState.DONE,
        completed_at=at(45),
        key="",
    )
    Deadline.objects.create(
        incident=incident,
        kind=DeadlineKind.UPDATE,
        title="Next public update",
        due_at=at(165),
        original_due_at=at(165),
        state=DeadlineState.DONE,
        completed_at=at(200),
        missed_at=at(165),
        key="",
    )
    Deadline.objects.create(
        incident=incident,
        kind=DeadlineKind.TASK,
        title="Call the payment provider",
        due_at=at(900),
        original_due_at=at(900),
        key="",
    )
    Deadline.objects.create(  # cancelled deadlines count for nothing
        incident=incident,
        kind=DeadlineKind.TASK,
        title="Cancelled",
        due_at=at(10),
        original_due_at=at(10),
        state=DeadlineState.CANCELLED,
        missed_at=at(10),
        key="",
    )
    Incident.objects.filter(pk=incident.pk).update(
        status=Status.RESOLVED, resolved_at=at(400), status_changed_at=at(400)
    )
    incident.refresh_from_db()
    review_open(incident=incident, actor=commander)
    return Built(incident, commander, legal, comms)
