"""What the statement test modules share: the seeded chains, a cast with one person per role, and short
ways to draft, submit, approve and publish through the services.

"Nothing changed" is a `snapshot` of STATEMENT_TABLES (the statement tables, and the timeline,
notifications and outbox) taken before and after the refused action. Fixtures are imported by name
(`from tests.factories_statements import cast as cast`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from django.urls import reverse

from incidents import services
from incidents.models import (
    Approval,
    ApprovalChainTemplate,
    ApprovalStepTemplate,
    ChainStep,
    IncidentRole,
    OrgRole,
    Publication,
    Severity,
    Statement,
    StatementStatus,
    StatementTemplate,
    StatementVersion,
    User,
)
from incidents.models.statement_seeds import ensure_statement_seeds
from tests.factories import IncidentFactory, UserFactory, give_role

HX = {"HTTP_HX_REQUEST": "true"}
S = StatementStatus
STATEMENT_TABLES = [
    "incidents_statement",
    "incidents_statementversion",
    "incidents_chainstep",
    "incidents_approval",
    "incidents_publication",
    "incidents_versioncomment",
    "incidents_timelineentry",
    "incidents_notification",
    "incidents_outboundemail",
]
HOLDING = (
    "We know checkout charged some of you twice. We're sorry. Refunds are on the way; next update by 16:00."
)


# --- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture
def seeded(db):
    """The seeded chain and statement templates. Transactional tests flush every table (the roles come
    back through post_migrate; these do not), so every statement test asks for them."""
    ensure_statement_seeds(ApprovalChainTemplate, ApprovalStepTemplate, StatementTemplate, IncidentRole)


@dataclass
class Cast:
    incident: object
    commander: User
    drafter: User
    legal: User
    comms: User
    executive: User
    publisher: User
    observer: User


def make_cast(
    *, severity: str = Severity.SEV2, restricted: bool = False, title: str = "Checkout charged twice"
):
    commander = UserFactory.create(display_name="Maja Commander", org_role=OrgRole.CRISIS_MANAGER)
    incident = IncidentFactory.create(
        declared_by=commander, severity=severity, is_restricted=restricted, title=title, scenario="outage"
    )
    people = {}
    for name, slug in [
        ("drafter", "drafter"),
        ("legal", "legal"),
        ("comms", "comms-lead"),
        ("executive", "executive"),
        ("publisher", "social"),
        ("observer", "observer"),
    ]:
        people[name] = UserFactory.create(display_name=f"{name.title()} Person")
        give_role(incident, people[name], slug)
    return Cast(incident=incident, commander=commander, **people)


@pytest.fixture
def cast(seeded):
    return make_cast()


def new_statement(cast, body: str = HOLDING, channel: str = "x", **kwargs) -> Statement:
    return services.statement_create(
        incident=cast.incident,
        actor=cast.drafter,
        title="Holding statement",
        channel=channel,
        body=body,
        **kwargs,
    )


def cv(statement: Statement) -> StatementVersion:
    """The statement's current version (every statement has one from its creation)."""
    assert statement.current_version is not None
    return statement.current_version


def fresh(statement: Statement) -> Statement:
    return Statement.objects.select_related("current_version", "incident").get(pk=statement.pk)


def submit(cast, statement: Statement) -> Statement:
    statement = fresh(statement)
    return services.statement_submit(
        statement=statement, actor=cast.drafter, version_number=statement.version
    )


def approve(statement: Statement, actor: User, **kwargs):
    statement = fresh(statement)
    version = cv(statement)
    return services.statement_approve(
        statement=statement, actor=actor, version_number=version.number, sha256=version.sha256, **kwargs
    )


def fully_approved(cast, body: str = HOLDING, **kwargs) -> Statement:
    statement = submit(cast, new_statement(cast, body=body, **kwargs))
    for person in (cast.legal, cast.comms, cast.executive):
        approve(statement, person)
    return fresh(statement)


def publish(cast, statement: Statement, **kwargs) -> Publication:
    statement = fresh(statement)
    return services.statement_publish(
        statement=statement, actor=cast.publisher, version_number=statement.version, **kwargs
    ).publication


def assert_published_texts_were_approved() -> None:
    """The invariant: every published text is byte-identical to a version whose sha256 carries every
    required approval of that version's chain; and no approval names a sha other than its version's."""
    for approval in Approval.objects.select_related("version"):
        assert approval.sha256 == approval.version.sha256
    for publication in Publication.objects.select_related("version", "statement"):
        version = publication.version
        assert (
            hashlib.sha256(version.body.encode("utf-8")).hexdigest() == version.sha256 == publication.sha256
        )
        steps = list(ChainStep.objects.filter(version=version))
        assert steps, "published without a chain"
        for step in steps:
            good = Approval.objects.filter(
                version=version, step=step, sha256=version.sha256, decision=Approval.Decision.APPROVED
            ).count()
            assert good >= step.required, (publication, step)
        assert publication.statement.current_version_id == version.pk


def url(statement: Statement, name: str = "statement") -> str:
    return reverse(f"incidents:{name}", args=[statement.incident.code, statement.code])


def login(client, user: User):
    client.force_login(user)
    return client
