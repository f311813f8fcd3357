"""Statements and approval chains: versions, chains, every transition and refusal, the views, the abuse list.

"Nothing changed" is a `snapshot` of the statement tables (and the timeline, notifications and outbox) taken
before and after the refused action.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import (
    Approval,
    ApprovalChainTemplate,
    ApprovalStepTemplate,
    ChainStep,
    IncidentRole,
    InvalidTransition,
    Notification,
    OrgRole,
    Publication,
    RoleAssignment,
    Severity,
    Statement,
    StatementError,
    StatementStatus,
    StatementTemplate,
    StatementVersion,
    TextRefused,
    TimelineEntry,
    User,
    canonical_text,
    text_sha256,
)
from incidents.models.statements import (
    SEEDED_TEMPLATES,
    check_text,
    ensure_statement_seeds,
    fill_template,
    is_template_fill,
)
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.helpers import snapshot
from tests.test_timeline import XSS

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


# --- fixtures shared by the statement test modules ------------------------------------------------------


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
    )


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


# --- canonical text, limits, templates -----------------------------------------------------------------------


def test_canonical_text_and_its_hash_are_exactly_the_published_bytes():
    raw = "  Cafe\u0301 update  \r\nline two\t \r\n\r\n"
    canonical = canonical_text(raw)
    assert canonical == "Café update\nline two"
    assert canonical == canonical_text(canonical)  # idempotent
    assert text_sha256(canonical) == hashlib.sha256("Café update\nline two".encode()).hexdigest()
    assert canonical_text("a\rb") == "a\nb"


@pytest.mark.parametrize(
    ("channel", "limit"),
    [("x", 280), ("linkedin", 3000), ("instagram", 2200), ("tiktok", 2200), ("facebook", 63206)],
)
def test_channel_limits_are_enforced_to_the_character(channel, limit):
    check_text("a" * limit, channel)
    with pytest.raises(TextRefused, match=f"allows {limit:,} characters"):
        check_text("a" * (limit + 1), channel)


def test_channels_without_a_limit_and_invisible_characters():
    check_text("a" * 10_000, "website")
    with pytest.raises(TextRefused, match="text-direction"):
        check_text("Refunds \u202eeerf era", "website")


def test_template_fill_and_recognising_a_pure_fill():
    body = "We know about {incident_title}. Next update by {next_update_time}."
    filled = fill_template(body, {"incident_title": "the outage", "next_update_time": "16:00"})
    assert filled == "We know about the outage. Next update by 16:00."
    assert is_template_fill(body, filled)
    assert not is_template_fill(body, filled.replace("We know", "We admit"))  # free text outside a blank
    assert not is_template_fill(body, filled + " Extra sentence.")
    assert not is_template_fill(body, "We know about line one\nline two. Next update by 16:00.")
    assert not is_template_fill(body, "We know about " + "x" * 201 + ". Next update by 16:00.")
    with pytest.raises(TextRefused, match="next_update_time"):
        fill_template(body, {"incident_title": "x"})
    with pytest.raises(TextRefused, match="one short line"):
        fill_template(body, {"incident_title": "two\nlines", "next_update_time": "16:00"})


def test_seeds_two_chains_and_good_templates(seeded):
    default = ApprovalChainTemplate.objects.get(name="Legal → Communications lead → Executive")
    assert [(s.name, s.role and s.role.slug, s.rule) for s in default.steps.order_by("order")] == [
        ("Legal", "legal", "any"),
        ("Communications lead", "comms-lead", "any"),
        ("Executive", "executive", "any"),
    ]
    assert not default.allow_self_approval
    fill = default.fill_chain
    assert fill is not None
    assert fill.fill_only
    assert sorted(fill.severities) == ["sev3", "sev4"]
    assert [s.role and s.role.slug for s in fill.steps.all()] == ["comms-lead"]
    templates = list(StatementTemplate.objects.all())
    assert len(templates) >= 6
    for template in templates:
        template.full_clean()  # placeholders known, fits its channel
        assert "{next_update_time}" in template.body, template.name  # always promise the next update
    assert len({t["channel"] for t in SEEDED_TEMPLATES}) >= 5
    assert (
        ensure_statement_seeds(ApprovalChainTemplate, ApprovalStepTemplate, StatementTemplate, IncidentRole)
        == 0
    )


# --- choosing the chain ------------------------------------------------------------------------------------


def test_the_most_specific_matching_chain_wins_and_fills_get_the_shorter_one_on_sev3(seeded):
    sev2 = IncidentFactory.create(severity=Severity.SEV2, scenario="outage")
    sev3 = IncidentFactory.create(severity=Severity.SEV3, scenario="outage")
    default = "Legal → Communications lead → Executive"

    def chosen(incident, fill_only):
        chain = services.choose_chain(incident=incident, audience="public", fill_only=fill_only)
        return chain.name if chain else None

    assert chosen(sev2, fill_only=False) == default
    assert chosen(sev2, fill_only=True) == default
    assert chosen(sev3, fill_only=False) == default
    assert chosen(sev3, fill_only=True) == "Template fill: Communications lead"
    regulators = ApprovalChainTemplate.objects.create(name="Regulators", audiences=["regulators"])
    assert services.choose_chain(incident=sev2, audience="regulators", fill_only=False) == regulators
    narrower = ApprovalChainTemplate.objects.create(
        name="Regulators, breach", audiences=["regulators"], scenarios=["outage"]
    )
    assert services.choose_chain(incident=sev2, audience="regulators", fill_only=False) == narrower
    narrower.is_active = False
    narrower.save()
    assert services.choose_chain(incident=sev2, audience="regulators", fill_only=False) == regulators
    ApprovalChainTemplate.objects.update(is_active=False)
    assert services.choose_chain(incident=sev2, audience="public", fill_only=False) is None


# --- create and save ---------------------------------------------------------------------------------------


def test_create_blank_records_v1_and_a_timeline_entry(cast):
    statement = new_statement(cast)
    version = cv(statement)
    assert (statement.status, statement.version, version.number, version.body) == (S.DRAFT, 1, 1, HOLDING)
    assert version.sha256 == text_sha256(HOLDING)
    assert not version.from_template_fill_only
    entry = TimelineEntry.objects.filter(incident=cast.incident, kind="statement").latest("seq")
    assert "Statement drafted" in entry.body
    assert 'data-kind="statement"' in entry.html


def test_create_from_template_keeps_provenance_and_is_idempotent(cast):
    template = StatementTemplate.objects.get(name="Holding statement — outage (X)")
    kwargs = {
        "incident": cast.incident,
        "actor": cast.drafter,
        "template": template,
        "fill": {"next_update_time": "16:00 CET"},
        "idempotency_key": "k1",
    }
    statement = services.statement_create(**kwargs)
    assert services.statement_create(**kwargs) == statement  # a double-click creates one statement
    assert Statement.objects.filter(incident=cast.incident).count() == 1
    version = cv(statement)
    assert version.from_template_fill_only
    assert cast.incident.title in version.body
    assert "16:00 CET" in version.body
    assert (statement.channel, statement.template_name) == ("x", template.name)
    assert "from the template" in TimelineEntry.objects.filter(kind="statement").latest("seq").body


def test_create_refusals_change_nothing(cast):
    template = StatementTemplate.objects.get(name="Holding statement — outage (X)")
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(TextRefused, match="next_update_time"):
        services.statement_create(incident=cast.incident, actor=cast.drafter, template=template, fill={})
    with pytest.raises(TextRefused, match="allows 280"):
        new_statement(cast, body="x" * 281)
    with pytest.raises(TextRefused, match="title"):
        services.statement_create(incident=cast.incident, actor=cast.drafter, channel="x", title="  ")
    with pytest.raises(StatementError, match="does not allow"):
        new_statement(Cast(**{**cast.__dict__, "drafter": cast.legal}))  # legal may not draft
    assert snapshot(STATEMENT_TABLES) == before


def test_saving_makes_a_new_immutable_version(cast):
    statement = new_statement(cast)
    saved = services.statement_save_draft(
        statement=statement, actor=cast.commander, expected_version=1, body=HOLDING + " Thank you.  \r\n"
    )
    assert (saved.version, cv(saved).number) == (2, 2)
    assert cv(saved).body == HOLDING + " Thank you."
    assert cv(saved).author == cast.commander
    assert list(StatementVersion.objects.filter(statement=statement).values_list("number", flat=True)) == [
        1,
        2,
    ]


def test_a_stale_save_raises_with_both_texts_and_changes_nothing(cast):
    statement = new_statement(cast)
    services.statement_save_draft(
        statement=statement, actor=cast.commander, expected_version=1, body="Theirs."
    )
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(services.StaleDraft) as caught:
        services.statement_save_draft(
            statement=statement, actor=cast.drafter, expected_version=1, body="Mine."
        )
    assert snapshot(STATEMENT_TABLES) == before
    assert caught.value.mine == "Mine."
    assert caught.value.theirs is not None
    assert caught.value.theirs.body == "Theirs."
    assert "saved v2 while you were editing v1" in str(caught.value)


def test_identical_save_is_refused_and_a_replayed_save_is_a_no_op(cast):
    statement = new_statement(cast)
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="Nothing changed"):
        services.statement_save_draft(
            statement=statement, actor=cast.drafter, expected_version=1, body=HOLDING + "  "
        )
    assert snapshot(STATEMENT_TABLES) == before
    services.statement_save_draft(
        statement=statement, actor=cast.drafter, expected_version=1, body="New text."
    )
    middle = snapshot(STATEMENT_TABLES)
    again = services.statement_save_draft(
        statement=statement, actor=cast.drafter, expected_version=1, body="New text."
    )
    assert again.version == 2
    assert snapshot(STATEMENT_TABLES) == middle


def test_a_free_text_edit_loses_the_template_fill_flag(cast):
    template = StatementTemplate.objects.get(name="Holding statement — outage (X)")
    statement = services.statement_create(
        incident=cast.incident, actor=cast.drafter, template=template, fill={"next_update_time": "16:00"}
    )
    body = cv(statement).body
    refilled = services.statement_save_draft(
        statement=statement, actor=cast.drafter, expected_version=1, body=body.replace("16:00", "17:30")
    )
    assert cv(refilled).from_template_fill_only
    edited = services.statement_save_draft(
        statement=statement, actor=cast.drafter, expected_version=2, body=body.replace("We're sorry", "Oops")
    )
    assert not cv(edited).from_template_fill_only


# --- submit and approve ------------------------------------------------------------------------------------


def test_submit_snapshots_the_chain_and_tells_the_first_step(cast):
    extra_legal = UserFactory.create()
    give_role(cast.incident, extra_legal, "legal")
    statement = submit(cast, new_statement(cast))
    assert statement.status == S.IN_REVIEW
    steps = list(ChainStep.objects.filter(version=statement.current_version).order_by("order"))
    assert [(s.order, s.name, s.required) for s in steps] == [
        (1, "Legal", 1),
        (2, "Communications lead", 1),
        (3, "Executive", 1),
    ]
    assert steps[0].activated_at is not None
    assert steps[1].activated_at is None
    told = set(
        Notification.objects.filter(text__startswith="Your approval is needed").values_list(
            "recipient", flat=True
        )
    )
    assert told == {cast.legal.pk, extra_legal.pk}
    # Editing the chain template afterwards does not change what this version needs.
    ApprovalStepTemplate.objects.filter(name="Executive").delete()
    assert ChainStep.objects.filter(version=statement.current_version).count() == 3


def test_a_pure_template_fill_on_sev3_gets_the_shorter_chain_and_an_edit_the_full_one(seeded):
    cast = make_cast(severity=Severity.SEV3)
    template = StatementTemplate.objects.get(name="Holding statement — outage (X)")
    statement = services.statement_create(
        incident=cast.incident, actor=cast.drafter, template=template, fill={"next_update_time": "16:00"}
    )
    submit(cast, statement)
    assert list(ChainStep.objects.filter(version__statement=statement).values_list("name", flat=True)) == [
        "Communications lead"
    ]
    approve(statement, cast.comms)
    assert fresh(statement).status == S.APPROVED
    body = cv(fresh(statement)).body
    edited = services.statement_save_draft(
        statement=statement, actor=cast.drafter, expected_version=1, body=body + " Free text."
    )
    submit(cast, edited)
    assert list(
        ChainStep.objects.filter(version=fresh(statement).current_version).values_list("name", flat=True)
    ) == [
        "Legal",
        "Communications lead",
        "Executive",
    ]


def test_the_chain_runs_in_order_to_approved(cast):
    statement = submit(cast, new_statement(cast))
    result = approve(statement, cast.legal)
    assert result.created
    assert Notification.objects.filter(recipient=cast.comms, text__startswith="Your approval").exists()
    approve(statement, cast.comms)
    assert fresh(statement).status == S.IN_REVIEW
    approve(statement, cast.executive)
    statement = fresh(statement)
    assert statement.status == S.APPROVED
    assert all(s.completed_at for s in ChainStep.objects.filter(version=statement.current_version))
    bodies = list(
        TimelineEntry.objects.filter(kind="statement").order_by("seq").values_list("body", flat=True)
    )
    assert "submitted v1" in bodies[-4]
    assert "every step is complete" in bodies[-1]
    assert Notification.objects.filter(recipient=cast.drafter, text__contains="may be published").exists()


def test_rule_all_and_n_need_that_many_different_people(cast):
    chain = ApprovalChainTemplate.objects.create(name="Two lawyers", audiences=["regulators"])
    ApprovalStepTemplate.objects.create(
        chain=chain, order=1, name="Legal", role=IncidentRole.objects.get(slug="legal"), rule="all"
    )
    second = UserFactory.create()
    give_role(cast.incident, second, "legal")
    statement = submit(cast, new_statement(cast, audience="regulators", channel="email"))
    step = ChainStep.objects.get(version=statement.current_version)
    assert step.required == 2
    approve(statement, cast.legal)
    assert fresh(statement).status == S.IN_REVIEW
    approve(statement, second)
    assert fresh(statement).status == S.APPROVED


def test_named_approvers_may_approve_without_the_role(cast):
    chain = ApprovalChainTemplate.objects.create(name="CEO only", audiences=["press"])
    step = ApprovalStepTemplate.objects.create(chain=chain, order=1, name="CEO")
    ceo = UserFactory.create(display_name="The CEO")
    step.users.add(ceo)
    give_role(cast.incident, ceo, "observer")
    statement = submit(cast, new_statement(cast, audience="press", channel="press_release"))
    assert ChainStep.objects.get(version__statement=statement).approver_ids == [ceo.pk]
    with pytest.raises(StatementError, match="needs one of its named approvers"):
        approve(statement, cast.legal)  # may approve in the incident, but is not named
    with pytest.raises(StatementError, match="does not allow"):
        approve(statement, ceo)  # named, but an observer may not approve anything
    give_role(cast.incident, ceo, "executive")
    approve(statement, ceo)
    assert fresh(statement).status == S.APPROVED


# --- the abuse list: refused, nothing changed -----------------------------------------------------------


def test_step_two_before_step_one_is_refused(cast):
    statement = submit(cast, new_statement(cast))
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="Steps cannot be skipped"):
        approve(statement, cast.comms)
    with pytest.raises(StatementError, match="Steps cannot be skipped"):
        approve(statement, cast.executive, step_order=3)
    assert snapshot(STATEMENT_TABLES) == before


def test_nobody_approves_their_own_version_unless_the_chain_allows(cast):
    give_role(cast.incident, cast.drafter, "legal")
    statement = submit(cast, new_statement(cast))
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="nobody approves their own text"):
        approve(statement, cast.drafter)
    assert snapshot(STATEMENT_TABLES) == before
    ApprovalChainTemplate.objects.filter(name__startswith="Legal").update(allow_self_approval=True)
    edited = services.statement_save_draft(
        statement=fresh(statement), actor=cast.drafter, expected_version=1, body=HOLDING + " Again."
    )
    submit(cast, edited)
    assert approve(edited, cast.drafter).created


def test_a_replayed_approval_says_so_and_changes_nothing(cast, client):
    statement = submit(cast, new_statement(cast))
    version = cv(fresh(statement))
    login(client, cast.legal)
    data = {"version": 1, "sha256": version.sha256, "step": 1, "where": "page"}
    first = client.post(url(statement, "statement-approve"), data, **HX)
    assert first.status_code == 200
    assert "You approved v1 as Legal" in first.content.decode()
    before = snapshot(STATEMENT_TABLES)
    replay = client.post(url(statement, "statement-approve"), data, **HX)
    assert replay.status_code == 200
    assert "Already approved by you" in replay.content.decode()
    assert snapshot(STATEMENT_TABLES) == before


def test_approval_after_removal_from_the_team_is_refused(seeded, client):
    for restricted, status in ((True, 404), (False, 403)):
        cast = make_cast(restricted=restricted)
        statement = submit(cast, new_statement(cast))
        assignment = RoleAssignment.objects.get(incident=cast.incident, user=cast.legal)
        services.team_remove_role(incident=cast.incident, actor=cast.commander, assignment=assignment)
        before = snapshot(STATEMENT_TABLES)
        with pytest.raises(StatementError, match="no longer on this incident's team"):
            approve(statement, cast.legal)
        login(client, cast.legal)
        version = cv(fresh(statement))
        response = client.post(
            url(statement, "statement-approve"), {"version": 1, "sha256": version.sha256}, **HX
        )
        assert response.status_code == status
        assert snapshot(STATEMENT_TABLES) == before


def test_one_person_cannot_approve_two_steps(cast):
    give_role(cast.incident, cast.legal, "comms-lead")
    statement = submit(cast, new_statement(cast))
    approve(statement, cast.legal)
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="each step needs a different person"):
        approve(statement, cast.legal, step_order=2)
    assert snapshot(STATEMENT_TABLES) == before


def test_approving_a_replaced_version_or_another_text_is_refused(cast):
    statement = submit(cast, new_statement(cast))
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="not v1 as stored"):
        services.statement_approve(
            statement=fresh(statement), actor=cast.legal, version_number=1, sha256="0" * 64
        )
    with pytest.raises(StatementError, match="has been replaced"):
        services.statement_approve(statement=fresh(statement), actor=cast.legal, version_number=7, sha256="")
    assert snapshot(STATEMENT_TABLES) == before


def test_publishing_an_incompletely_approved_version_is_refused(cast):
    statement = submit(cast, new_statement(cast))
    approve(statement, cast.legal)
    approve(statement, cast.comms)
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(InvalidTransition, match="approvals are still missing"):
        publish(cast, statement)
    # Even if the status said "approved" (a bug, a hand edit), the gate counts the approvals itself.
    Statement.objects.filter(pk=statement.pk).update(status=S.APPROVED)
    forged = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="does not have every approval"):
        publish(cast, statement)
    assert snapshot(STATEMENT_TABLES) == forged
    assert before != forged


def test_the_publish_gate_rehashes_the_stored_text(cast):
    statement = fully_approved(cast)
    version = cv(fresh(statement))
    with connection.cursor() as cursor:  # a superuser can switch triggers off: the gate must not trust them
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE incidents_statementversion SET body = body || '!' WHERE id = %s", [version.pk])
        cursor.execute("SET LOCAL session_replication_role = origin")
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="no longer matches the fingerprint"):
        publish(cast, statement)
    assert snapshot(STATEMENT_TABLES) == before


# --- new versions, rejection, publish, withdraw --------------------------------------------------------------


def test_a_new_version_voids_earlier_approvals_tells_the_approvers_and_restarts_the_chain(cast):
    statement = submit(cast, new_statement(cast))
    approve(statement, cast.legal)
    edited = services.statement_save_draft(
        statement=fresh(statement), actor=cast.drafter, expected_version=1, body=HOLDING + " We apologise."
    )
    assert edited.status == S.DRAFT
    assert Approval.objects.filter(version__number=1, approver=cast.legal).exists()  # history stays
    note = Notification.objects.filter(recipient=cast.legal, text__contains="replaces v1").get()
    assert note.url.endswith("?a=1&b=2#diff")
    entry = TimelineEntry.objects.filter(kind="statement").latest("seq")
    assert "approvals of v1 by Legal Person no longer count" in entry.body
    submit(cast, edited)
    steps = ChainStep.objects.filter(version=fresh(statement).current_version).order_by("order")
    assert [s.completed_at for s in steps] == [None, None, None]
    with pytest.raises(StatementError, match="Steps cannot be skipped"):
        approve(statement, cast.comms)


def test_reject_needs_a_reason_returns_to_draft_and_tells_the_author(cast):
    statement = submit(cast, new_statement(cast))
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(TextRefused, match="Give a reason"):
        services.statement_reject(statement=fresh(statement), actor=cast.legal, version_number=1, reason="  ")
    assert snapshot(STATEMENT_TABLES) == before
    rejected = services.statement_reject(
        statement=fresh(statement), actor=cast.legal, version_number=1, reason="Do not promise refunds yet."
    )
    assert (rejected.status, rejected.status_note) == (S.REJECTED, "Do not promise refunds yet.")
    assert Notification.objects.filter(
        recipient=cast.drafter, text__contains="Do not promise refunds"
    ).exists()
    middle = snapshot(STATEMENT_TABLES)
    with pytest.raises(InvalidTransition, match="Edit the text and save a new version"):
        submit(cast, statement)
    assert snapshot(STATEMENT_TABLES) == middle
    saved = services.statement_save_draft(
        statement=fresh(statement), actor=cast.drafter, expected_version=1, body="Refunds are being reviewed."
    )
    assert saved.status == S.DRAFT
    assert "after v1 was rejected" in TimelineEntry.objects.filter(kind="statement").latest("seq").body


def test_publish_freezes_exactly_the_approved_bytes(cast):
    statement = fully_approved(cast)
    publication = publish(cast, statement, link="https://x.com/northwind/status/1")
    statement = fresh(statement)
    assert statement.status == S.PUBLISHED
    assert publication.sha256 == cv(statement).sha256 == text_sha256(HOLDING)
    assert publication.channel == "x"
    assert_published_texts_were_approved()
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(services.StaleDraft, match="published now"):
        services.statement_save_draft(
            statement=statement, actor=cast.drafter, expected_version=1, body="Changed."
        )
    with pytest.raises(InvalidTransition, match="already been published"):
        services.statement_publish(statement=statement, actor=cast.commander, version_number=1)
    assert snapshot(STATEMENT_TABLES) == before
    assert publish(cast, statement) == publication  # the same publisher's replay


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"published_at": "future"}, "not in advance"),
        ({"published_at": "past"}, "before its last approval"),
        ({"link": "javascript:alert(1)"}, "full web address"),
        ({"channel": "tiktok"}, None),
    ],
)
def test_publish_input_is_checked(cast, kwargs, message):
    body = "x" * 2500  # fits LinkedIn (3000), not TikTok (2200)
    statement = fully_approved(cast, body=body, channel="linkedin")
    if kwargs.get("published_at") == "future":
        kwargs["published_at"] = timezone.now() + timedelta(hours=1)
    elif kwargs.get("published_at") == "past":
        kwargs["published_at"] = timezone.now() - timedelta(hours=1)
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(TextRefused, match=message or "TikTok allows 2,200"):
        publish(cast, statement, **kwargs)
    assert snapshot(STATEMENT_TABLES) == before


def test_withdraw_a_published_statement_needs_publish_and_a_reason(cast):
    statement = fully_approved(cast)
    publish(cast, statement)
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="does not allow"):
        services.statement_withdraw(statement=fresh(statement), actor=cast.drafter, reason="Wrong")
    with pytest.raises(TextRefused, match="Give a reason"):
        services.statement_withdraw(statement=fresh(statement), actor=cast.publisher, reason="")
    assert snapshot(STATEMENT_TABLES) == before
    withdrawn = services.statement_withdraw(
        statement=fresh(statement), actor=cast.publisher, reason="Refund figure was wrong"
    )
    assert withdrawn.status == S.WITHDRAWN
    told = set(
        Notification.objects.filter(text__contains="withdrew the published").values_list(
            "recipient", flat=True
        )
    )
    assert told == {cast.legal.pk, cast.comms.pk, cast.executive.pk}
    with pytest.raises(InvalidTransition, match="already been withdrawn"):
        services.statement_withdraw(statement=fresh(statement), actor=cast.publisher, reason="again")


def test_a_published_update_supersedes_the_earlier_statement(cast):
    first = fully_approved(cast)
    publish(cast, first)
    update = services.statement_create(
        incident=cast.incident,
        actor=cast.drafter,
        channel="x",
        body="Update: refunds complete.",
        supersedes=first,
    )
    submit(cast, update)
    for person in (cast.legal, cast.comms, cast.executive):
        approve(update, person)
    publish(cast, update)
    assert fresh(first).status == S.SUPERSEDED
    assert "Superseded by" in fresh(first).status_note


def test_drafts_can_be_withdrawn_and_variants_hang_off_the_master(cast):
    master = new_statement(cast, channel="website", body="Long website text. " * 30)
    variant = services.statement_create(
        incident=cast.incident, actor=cast.drafter, channel="x", body="Short.", master=master
    )
    assert (variant.master, variant.title, variant.audience) == (master, master.title, master.audience)
    nested = services.statement_create(
        incident=cast.incident, actor=cast.drafter, channel="linkedin", body="Mid.", master=variant
    )
    assert nested.master == master
    withdrawn = services.statement_withdraw(statement=fresh(variant), actor=cast.drafter, reason="Not needed")
    assert withdrawn.status == S.WITHDRAWN


def test_comments_are_per_version_and_need_a_seat_at_the_table(cast):
    statement = new_statement(cast)
    comment = services.statement_comment(
        statement=fresh(statement), actor=cast.legal, version_number=1, body="Check the refund wording."
    )
    assert comment.version.number == 1
    assert "commented on v1" in TimelineEntry.objects.filter(kind="statement").latest("seq").body
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="does not allow"):
        services.statement_comment(
            statement=fresh(statement), actor=cast.observer, version_number=1, body="Hi"
        )
    with pytest.raises(StatementError, match="no v9"):
        services.statement_comment(statement=fresh(statement), actor=cast.legal, version_number=9, body="Hi")
    assert snapshot(STATEMENT_TABLES) == before


def test_versions_approvals_publications_and_comments_cannot_be_rewritten(cast):
    statement = fully_approved(cast)
    publish(cast, statement)
    services.statement_comment(statement=fresh(statement), actor=cast.legal, version_number=1, body="Fine")
    for table in ("statementversion", "approval", "publication", "versioncomment"):
        for sql in (
            f"UPDATE incidents_{table} SET id = id WHERE id = (SELECT min(id) FROM incidents_{table})",
            f"DELETE FROM incidents_{table} WHERE id = (SELECT min(id) FROM incidents_{table})",
        ):
            with (
                pytest.raises(DatabaseError, match="append-only"),
                transaction.atomic(),
                connection.cursor() as c,
            ):
                c.execute(sql)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        StatementVersion.objects.filter(statement=statement).update(body="Something else")


def test_every_move_outside_the_transition_table_is_refused():
    statement = Statement(status=S.DRAFT)
    for old in S.values:
        for new in S.values:
            statement.status = old
            if new in Statement.TRANSITIONS[old]:
                statement.ensure_can_move_to(new)
            else:
                with pytest.raises(InvalidTransition):
                    statement.ensure_can_move_to(new)


def test_word_diff_is_escaped_and_readable():
    html = services.word_diff("We <b>are</b> sorry.", "We <b>were</b> very sorry.")
    assert "<b>" not in html
    assert "<del>are</del><ins>were</ins>" in html
    assert "<ins>very </ins>" in html or "<ins> very</ins>" in html


# --- views --------------------------------------------------------------------------------------------------


def test_the_room_loads_the_panel_without_extra_queries_and_the_panel_lists_statements(cast, client):
    statement = submit(cast, new_statement(cast))
    login(client, cast.legal)
    room = client.get(reverse("incidents:room", args=[cast.incident.code])).content.decode()
    assert 'id="statements-panel"' in room
    assert "Loading statements" in room
    panel = client.get(reverse("incidents:statements", args=[cast.incident.code]), **HX)
    html = panel.content.decode()
    assert html.lstrip().startswith('<section id="statements-panel"')
    assert "Holding statement" in html
    assert "st-in_review" in html
    assert "Approve v1 as Legal" in html  # legal's decision is inline, with the full text
    assert HOLDING.replace("'", "&#x27;") in html
    login(client, cast.comms)
    html = client.get(reverse("incidents:statements", args=[cast.incident.code]), **HX).content.decode()
    assert "Waiting for Legal" in html
    assert "Approve v1" not in html
    page = client.get(reverse("incidents:statements", args=[cast.incident.code])).content.decode()
    assert "<html" in page
    assert "Holding statement" in page
    assert statement.title in page


def test_empty_panel_says_what_to_do_next(cast, client):
    login(client, cast.drafter)
    html = client.get(reverse("incidents:statements", args=[cast.incident.code]), **HX).content.decode()
    assert "No statements yet" in html
    assert "pick a pre-approved template" in html
    assert reverse("incidents:statement-new", args=[cast.incident.code]) in html


def test_new_statement_from_a_template_over_http(cast, client):
    login(client, cast.drafter)
    new = reverse("incidents:statement-new", args=[cast.incident.code])
    listing = client.get(new).content.decode()
    template = StatementTemplate.objects.get(name="Holding statement — outage (X)")
    assert template.name in listing
    assert "fits this incident" in listing
    form = client.get(new, {"template": template.pk}).content.decode()
    assert "When the next update comes" in form
    found = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', form)
    assert found is not None
    key = found.group(1)
    # Exactly what the fill form sends: the template brings channel, audience and language.
    data = {
        "template": template.pk,
        "fill_incident_title": "Checkout is down",
        "fill_next_update_time": "16:00",
        "title": "",
        "idempotency_key": key,
    }
    response = client.post(new, data)
    statement = Statement.objects.get(incident=cast.incident)
    assert response.status_code == 302
    assert response["Location"] == url(statement)
    assert client.post(new, data).status_code == 302  # a double submit
    assert Statement.objects.filter(incident=cast.incident).count() == 1
    refused = client.post(new, {**data, "fill_next_update_time": "", "idempotency_key": "other"})
    assert refused.status_code == 422
    assert "Fill in every placeholder" in refused.content.decode()


def test_statement_page_shows_text_chain_versions_and_a_diff(cast, client):
    statement = submit(cast, new_statement(cast))
    approve(statement, cast.legal)
    login(client, cast.drafter)
    html = client.get(url(statement)).content.decode()
    for expected in (
        "Holding statement",
        "Approval",
        "1. Legal",
        "Approved by Legal Person",
        "v1",
        "Compare versions",
    ):
        assert expected in html, expected
    services.statement_save_draft(
        statement=fresh(statement), actor=cast.drafter, expected_version=1, body="We are sorry."
    )
    diff = client.get(url(statement), {"a": 1, "b": 2}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="diff")
    body = diff.content.decode()
    assert body.lstrip().startswith('<div id="diff"')
    assert "<del>" in body
    assert "<ins>" in body
    live = client.get(
        url(statement), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="statement-live"
    ).content.decode()
    assert live.lstrip().startswith('<section id="statement-live"')
    assert 'data-current-version="2"' in live


def test_a_conflicting_save_over_http_shows_both_texts_and_keeps_mine(cast, client):
    statement = new_statement(cast)
    services.statement_save_draft(
        statement=statement, actor=cast.commander, expected_version=1, body="Theirs wins."
    )
    login(client, cast.drafter)
    before = snapshot(STATEMENT_TABLES)
    response = client.post(
        url(statement, "statement-save"), {"version": 1, "body": "Mine, typed at 2 a.m."}, **HX
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Theirs wins." in html
    assert "Mine, typed at 2 a.m." in html
    assert 'name="version" value="2"' in html  # saving again means "mine replaces v2", knowingly
    assert snapshot(STATEMENT_TABLES) == before
    plain = client.post(url(statement, "statement-save"), {"version": 1, "body": "Mine, typed at 2 a.m."})
    assert plain.status_code == 409
    assert "Mine, typed at 2 a.m." in plain.content.decode()
    assert "<html" in plain.content.decode()
    saved = client.post(
        url(statement, "statement-save"), {"version": 2, "body": "Mine, typed at 2 a.m."}, **HX
    )
    assert saved.status_code == 200
    assert "Saved as v3" in saved.content.decode()


def test_an_over_long_save_keeps_the_text_and_says_why(cast, client):
    statement = new_statement(cast)
    login(client, cast.drafter)
    long = "Sorry. " * 60
    response = client.post(url(statement, "statement-save"), {"version": 1, "body": long}, **HX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "X allows 280 characters" in html
    assert long.strip() in html


def test_approve_and_reject_answer_the_place_they_came_from(cast, client):
    statement = submit(cast, new_statement(cast))
    version = cv(fresh(statement))
    login(client, cast.legal)
    room = client.post(
        url(statement, "statement-approve"),
        {"version": 1, "sha256": version.sha256, "step": 1, "where": "room"},
        **HX,
    )
    assert room.content.decode().lstrip().startswith('<section id="statements-panel"')
    login(client, cast.executive)
    early = client.post(
        url(statement, "statement-approve"),
        {"version": 1, "sha256": version.sha256, "step": 3, "where": "queue"},
        **HX,
    )
    assert early.status_code == 409
    assert early.content.decode().lstrip().startswith('<div id="approvals-queue"')
    assert "Steps cannot be skipped" in early.content.decode()
    login(client, cast.comms)
    rejected = client.post(
        url(statement, "statement-reject"),
        {"version": 1, "step": 2, "reason": "Tone is off", "where": "page"},
        **HX,
    )
    assert rejected.status_code == 200
    assert "You rejected v1" in rejected.content.decode()
    plain = client.post(url(statement, "statement-reject"), {"version": 1, "reason": "x", "where": "room"})
    assert plain.status_code == 302  # without JavaScript: back to the room, with the message
    assert plain["Location"].endswith("#statements-panel")


def test_my_approvals_queue_shows_full_text_and_diff_from_what_i_last_reviewed(cast, client):
    statement = submit(cast, new_statement(cast))
    approve(statement, cast.legal)
    approve(statement, cast.comms)
    services.statement_reject(
        statement=fresh(statement), actor=cast.executive, version_number=1, reason="Softer"
    )
    edited = services.statement_save_draft(
        statement=fresh(statement),
        actor=cast.drafter,
        expected_version=1,
        body=HOLDING.replace("sorry", "truly sorry"),
    )
    submit(cast, edited)
    approve(statement, cast.legal)
    approve(statement, cast.comms)
    login(client, cast.executive)
    html = client.get(reverse("incidents:my-approvals"), **HX).content.decode()
    assert html.lstrip().startswith('<div id="approvals-queue"')
    assert "since v1, the last version you reviewed" in html
    assert "<ins> truly</ins>" in html
    assert "Approve v2 as Executive" in html
    assert cast.incident.reference in html
    login(client, cast.comms)
    assert (
        "Nothing is waiting for your approval"
        in client.get(reverse("incidents:my-approvals")).content.decode()
    )
    dashboard = client.get(reverse("incidents:dashboard")).content.decode()
    assert "My approvals" in dashboard
    assert 'hx-get="/approvals/"' in dashboard


def test_the_queue_never_shows_a_restricted_incident_to_outsiders(seeded, client):
    cast = make_cast(restricted=True, title="Board member arrested")
    submit(cast, new_statement(cast, body="The board member has stepped down."))
    outsider = UserFactory.create(org_role=OrgRole.ADMINISTRATOR, is_staff=True, is_superuser=True)
    login(client, outsider)
    for path in (reverse("incidents:my-approvals"), reverse("incidents:dashboard")):
        html = client.get(path).content.decode()
        assert "Board member" not in html
        assert "stepped down" not in html


@pytest.mark.parametrize(
    "slug", ["commander", "drafter", "legal", "comms-lead", "executive", "social", "observer", None]
)
def test_statement_role_matrix_over_http(seeded, client, slug):
    """Draft, approve (at a step of the viewer's role) and publish, per seeded role (README's table)."""
    cast = make_cast(restricted=True)
    person = cast.commander if slug == "commander" else UserFactory.create()
    if slug not in (None, "commander"):
        give_role(cast.incident, person, slug)
    may = {
        "commander": {"draft", "publish"},
        "drafter": {"draft"},
        "legal": {"approve"},
        "comms-lead": {"draft", "publish"},
        "executive": set(),
        "social": {"draft", "publish"},
        "observer": set(),
        None: set(),
    }[slug]
    login(client, person)
    denied = 404 if slug is None else 403
    new = reverse("incidents:statement-new", args=[cast.incident.code])
    before = snapshot(STATEMENT_TABLES)
    created = client.post(
        new,
        {
            "channel": "x",
            "title": "T",
            "body": "B",
            "audience": "public",
            "language": "en",
            "idempotency_key": f"m-{slug}",
        },
    )
    assert created.status_code == (302 if "draft" in may else denied), slug
    if "draft" not in may:
        assert snapshot(STATEMENT_TABLES) == before
    in_review = submit(cast, new_statement(cast))
    version = cv(fresh(in_review))
    before = snapshot(STATEMENT_TABLES)
    approved = client.post(
        url(in_review, "statement-approve"), {"version": 1, "sha256": version.sha256}, **HX
    )
    if "approve" in may:
        assert approved.status_code == 200
    else:
        # Approving needs the permission (403/404) and, with it, the step's role (409).
        assert approved.status_code in (
            (409,) if slug in ("commander", "comms-lead", "executive") else (denied,)
        )
        assert snapshot(STATEMENT_TABLES) == before
    ready = fully_approved(cast)
    before = snapshot(STATEMENT_TABLES)
    published = client.post(url(ready, "statement-publish"), {"version": 1, "channel": "x"}, **HX)
    assert published.status_code == (200 if "publish" in may else denied), slug
    if "publish" not in may:
        assert snapshot(STATEMENT_TABLES) == before


def test_statement_routes_are_404_for_outsiders_and_for_codes_of_another_incident(seeded, client):
    cast = make_cast(restricted=True, title="Board member arrested")
    statement = submit(cast, new_statement(cast, body="Arrest confirmed by police."))
    other = make_cast()
    outsider = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)
    names = [
        "statement",
        "statement-save",
        "statement-submit",
        "statement-approve",
        "statement-reject",
        "statement-publish",
        "statement-withdraw",
        "statement-comment",
    ]
    payload = {"version": 1, "body": "x", "reason": "x", "channel": "x", "sha256": "", "where": "page"}
    before = snapshot(STATEMENT_TABLES)
    login(client, outsider)
    for name in names:
        for method in ("get", "post"):
            response = getattr(client, method)(url(statement, name), payload)
            assert response.status_code in (404, 405), (name, method)
            assert b"Arrest" not in response.content
            assert b"Board member" not in response.content
    login(client, other.commander)  # commands another incident; uses this statement's code with it
    for name in names:
        foreign = reverse(f"incidents:{name}", args=[other.incident.code, statement.code])
        assert client.post(foreign, payload).status_code in (404, 405)
        assert client.get(foreign).status_code in (404, 405)
    assert snapshot(STATEMENT_TABLES) == before


def test_hostile_text_is_escaped_everywhere_it_is_shown(cast, client):
    for i, payload in enumerate(XSS):
        statement = services.statement_create(
            incident=cast.incident, actor=cast.drafter, channel="website", title=payload[:190], body=payload
        )
        submit(cast, statement)
        services.statement_comment(
            statement=fresh(statement), actor=cast.legal, version_number=1, body=payload
        )
        if i % 2:
            services.statement_reject(
                statement=fresh(statement), actor=cast.legal, version_number=1, reason=payload
            )
    login(client, cast.legal)
    pages = [
        client.get(reverse("incidents:statements", args=[cast.incident.code]), **HX),
        client.get(reverse("incidents:my-approvals")),
        client.get(url(statement)),
        client.get(reverse("incidents:room", args=[cast.incident.code])),
    ]
    for response in pages:
        html = response.content.decode()
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "<svg onload" not in html
        assert '<div hx-post="/incidents/declare/"' not in html
        assert "<meta http-equiv" not in html


def test_gets_change_nothing(cast, client):
    statement = fully_approved(cast)
    login(client, cast.commander)
    before = snapshot(STATEMENT_TABLES)
    for path in (
        url(statement),
        reverse("incidents:statements", args=[cast.incident.code]),
        reverse("incidents:statement-new", args=[cast.incident.code]),
        reverse("incidents:my-approvals"),
        *(url(statement, name) for name in ("statement-approve", "statement-publish", "statement-save")),
    ):
        assert client.get(path).status_code in (200, 405)
    assert snapshot(STATEMENT_TABLES) == before


@pytest.mark.parametrize("count", [1, 8])
def test_query_counts_do_not_grow_with_the_number_of_statements(
    seeded, client, django_assert_max_num_queries, count
):
    cast = make_cast()
    for i in range(count):
        statement = submit(cast, new_statement(cast, body=f"Statement {i}."))
        if i % 2:
            approve(statement, cast.legal)
    login(client, cast.comms)
    # session, user, incident, my permissions, statements, steps, approvals, my roles, what I reviewed (2),
    # the diff bases
    with django_assert_max_num_queries(11):
        assert client.get(reverse("incidents:statements", args=[cast.incident.code]), **HX).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(reverse("incidents:my-approvals"), **HX).status_code == 200
    with django_assert_max_num_queries(16):
        assert client.get(url(statement)).status_code == 200


def test_admins_edit_chains_and_templates_and_a_step_needs_an_approver(seeded, client):
    admin_user = UserFactory.create(is_staff=True, is_superuser=True, org_role=OrgRole.ADMINISTRATOR)
    login(client, admin_user)
    chain = ApprovalChainTemplate.objects.get(name__startswith="Legal")
    assert client.get("/admin/incidents/approvalchaintemplate/").status_code == 200
    assert client.get(f"/admin/incidents/approvalchaintemplate/{chain.pk}/change/").status_code == 200
    assert client.get("/admin/incidents/statementtemplate/").status_code == 200
    data = {
        "name": "Press only",
        "audiences": ["press"],
        "is_active": "on",
        "sort_order": 50,
        "distinct_approvers": "on",
        "steps-TOTAL_FORMS": 1,
        "steps-INITIAL_FORMS": 0,
        "steps-0-order": 1,
        "steps-0-name": "Nobody",
        "steps-0-rule": "any",
        "steps-0-required_count": 1,
    }
    refused = client.post("/admin/incidents/approvalchaintemplate/add/", data)
    assert refused.status_code == 200
    assert "Name a role or at least one person" in refused.content.decode()
    data["steps-0-role"] = IncidentRole.objects.get(slug="executive").pk
    assert client.post("/admin/incidents/approvalchaintemplate/add/", data).status_code == 302
    created = ApprovalChainTemplate.objects.get(name="Press only")
    assert (created.audiences, [s.name for s in created.steps.all()]) == (["press"], ["Nobody"])


def test_the_demo_shows_every_state_of_the_chain(seeded):
    from incidents.demo import seed_demo

    seed_demo()
    statuses = dict(Statement.objects.values_list("title", "status"))
    assert statuses["Double charges at checkout: what happened and your refund"] == S.IN_REVIEW
    assert any(title.startswith("Holding statement") and st == S.PUBLISHED for title, st in statuses.items())
    assert any(title.startswith("The facts") and st == S.APPROVED for title, st in statuses.items())
    assert_published_texts_were_approved()
    before = Statement.objects.count()
    seed_demo()  # idempotent: every `make run` calls it
    assert Statement.objects.count() == before
