"""The read side of statements: what a viewer may do (`statement_actions`), whose decision the current step
is (`approval_progress`), the one-line summary, the chain's step marks, and the named state properties the
templates use instead of comparing statuses.

The central property: what a page offers is what the service accepts — both ask the same rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from unittest.mock import ANY

import pytest
from django.db import transaction
from django.utils import timezone

from incidents import services
from incidents.models import (
    Approval,
    ApprovalChainTemplate,
    ApprovalStepTemplate,
    ChainStep,
    IncidentRole,
    Perm,
    Refused,
    RoleAssignment,
    Statement,
    StatementError,
    StatementStatus,
    StatementTemplate,
    StatementVersion,
    User,
    VersionComment,
)
from incidents.permissions import incident_perms
from incidents.services.statements import StepState, StepView
from incidents.services.statements.chain_reads import read_awaiting, read_chains, read_panel, read_reviewed
from tests.factories import UserFactory, give_role
from tests.factories_statements import (
    HOLDING,
    STATEMENT_TABLES,
    Cast,
    approve,
    cv,
    fresh,
    fully_approved,
    make_cast,
    new_statement,
    publish,
    submit,
)
from tests.factories_statements import cast as cast
from tests.factories_statements import seeded as seeded
from tests.helpers import snapshot

S = StatementStatus
PERM_SETS = {
    "drafter": frozenset({Perm.VIEW, Perm.POST, Perm.DRAFT}),
    "publisher": frozenset({Perm.VIEW, Perm.POST, Perm.DRAFT, Perm.PUBLISH}),
    "approver": frozenset({Perm.VIEW, Perm.POST, Perm.APPROVE}),
    "observer": frozenset({Perm.VIEW}),
    "nobody": frozenset(),
}


# --- named states ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", S.values)
def test_the_named_states_say_what_the_status_column_says(status):
    statement = Statement(status=status, language="en")
    assert statement.is_draft == (status == "draft")
    assert statement.is_in_review == (status == "in_review")
    assert statement.is_approved == (status == "approved")
    assert statement.is_published == (status == "published")
    assert statement.is_rejected == (status == "rejected")
    assert statement.is_withdrawn == (status == "withdrawn")
    assert statement.is_final == (status in ("withdrawn", "superseded"))
    assert statement.edit_restarts_chain == (status in ("in_review", "approved"))
    assert statement.may_have_publication == (status in ("published", "withdrawn", "superseded"))
    # What may be edited is exactly what may move (back) to draft: the save's UPDATE filter and the
    # transition table agree.
    assert statement.is_editable == statement.can_move_to(S.DRAFT)


def test_the_language_badge_is_shown_only_for_other_languages():
    assert Statement(language="en").language_badge == ""
    assert Statement(language="sv").language_badge == "SV"


# --- what the viewer may do --------------------------------------------------------------------------------


def _as_the_template_spelled_it(statement: Statement, version: StatementVersion, perms: frozenset[str]):
    """The conditions statement.html and the view used to write out, kept here as the oracle."""
    can_draft, can_publish = Perm.DRAFT in perms, Perm.PUBLISH in perms
    status = statement.status
    return {
        "edit": can_draft and status in ("draft", "in_review", "approved", "rejected"),
        "submit": can_draft and status == "draft" and bool(version.body),
        "publish": can_publish and status == "approved",
        "withdraw": "withdrawn" in Statement.TRANSITIONS[status]
        and (can_publish if status == "published" else can_draft),
        "update": can_draft and status == "published",
        "variant": can_draft and statement.master_id is None and status not in ("withdrawn", "superseded"),
        "comment": Perm.POST in perms,
    }


@pytest.mark.parametrize("who", PERM_SETS)
@pytest.mark.parametrize("status", S.values)
@pytest.mark.parametrize("body", ["", "Text."])
def test_statement_actions_keep_every_condition_the_template_had(status, who, body):
    statement = Statement(status=status, title="T", channel="x", audience="public")
    version = StatementVersion(number=1, body=body)
    perms = PERM_SETS[who]
    actions = services.statement_actions(statement, version, perms)
    expected = _as_the_template_spelled_it(statement, version, perms)
    assert {name: getattr(actions, name) for name in expected} == expected


def test_a_variant_offers_no_variant_of_itself():
    master = Statement(pk=1, status=S.DRAFT, title="T")
    variant = Statement(status=S.DRAFT, title="T", master=master)
    version = StatementVersion(number=1, body="x")
    assert services.statement_actions(master, version, PERM_SETS["drafter"]).variant
    assert not services.statement_actions(variant, version, PERM_SETS["drafter"]).variant


class Rollback(Exception):
    pass


def _accepted(change: Callable[[], object]) -> bool:
    """Does the service make the change? (A refusal, or a replay that changes nothing, is a no.) It runs
    in a savepoint that is rolled back either way."""
    before = snapshot(STATEMENT_TABLES)
    try:
        with transaction.atomic():
            change()
            changed = snapshot(STATEMENT_TABLES) != before
            raise Rollback
    except Rollback:
        return changed
    except Refused:
        return False


def _in_state(cast: Cast, state: str) -> Statement:
    if state == "draft":
        return new_statement(cast)
    if state == "in_review":
        return submit(cast, new_statement(cast))
    if state == "rejected":
        statement = submit(cast, new_statement(cast))
        services.statement_reject(statement=fresh(statement), actor=cast.legal, version_number=1, reason="No")
        return fresh(statement)
    statement = fully_approved(cast)
    if state in ("published", "withdrawn"):
        publish(cast, statement)
    if state == "withdrawn":
        services.statement_withdraw(statement=fresh(statement), actor=cast.publisher, reason="Wrong figure")
    return fresh(statement)


def _changes(statement: Statement, person: User) -> dict[str, Callable[[], object]]:
    """Each action of StatementActions as the service call it stands for."""
    incident = statement.incident
    return {
        "edit": lambda: services.statement_save_draft(
            statement=fresh(statement), actor=person, expected_version=statement.version, body="New."
        ),
        "submit": lambda: services.statement_submit(
            statement=fresh(statement), actor=person, version_number=statement.version
        ),
        "publish": lambda: services.statement_publish(
            statement=fresh(statement), actor=person, version_number=statement.version
        ),
        "withdraw": lambda: services.statement_withdraw(
            statement=fresh(statement), actor=person, reason="Because."
        ),
        "update": lambda: services.statement_create(
            incident=incident, actor=person, channel="x", body="Update.", supersedes=statement
        ),
        "variant": lambda: services.statement_create(
            incident=incident, actor=person, channel="website", body="Longer.", master=statement
        ),
        "comment": lambda: services.statement_comment(
            statement=fresh(statement), actor=person, version_number=statement.version, body="Hm."
        ),
    }


@pytest.mark.parametrize("state", ["draft", "in_review", "approved", "rejected", "published", "withdrawn"])
def test_what_the_page_offers_is_what_the_service_accepts(cast, state):
    statement = _in_state(cast, state)
    for person in (cast.drafter, cast.legal, cast.publisher, cast.observer, cast.commander):
        actions = services.statement_actions(statement, cv(statement), incident_perms(person, cast.incident))
        for action, change in _changes(statement, person).items():
            assert getattr(actions, action) == _accepted(change), (state, str(person), action)


# --- whose decision the current step is ---------------------------------------------------------------------


def _mine(statement: Statement, person: User) -> services.ApprovalProgress:
    statement = fresh(statement)
    perms = {statement.incident_id: incident_perms(person, statement.incident)}
    return services.approval_progress(person, [statement], perms)[statement.pk]


def _approval_accepted(statement: Statement, person: User) -> bool:
    return _accepted(lambda: approve(statement, person))


def test_the_panel_asks_for_a_decision_exactly_when_the_service_would_take_it(cast):
    """Author holding the step's role, one person on two steps, named approvers, rule "all": the read side
    and the service answer every case the same (one rule, rules.check_decide)."""
    second_legal = UserFactory.create(display_name="Second Legal")
    give_role(cast.incident, second_legal, "legal")
    give_role(cast.incident, cast.drafter, "legal")  # the author holds the first step's role
    give_role(cast.incident, cast.legal, "comms-lead")  # and Legal the second step's
    chain = ApprovalChainTemplate.objects.get(name__startswith="Legal")
    ApprovalStepTemplate.objects.filter(chain=chain, order=1).update(rule="all")
    statement = submit(cast, new_statement(cast))
    people = [cast.drafter, cast.legal, second_legal, cast.comms, cast.executive, cast.observer]

    def check(expected_mine: set[User]) -> None:
        for person in people:
            progress = _mine(statement, person)
            accepted = _approval_accepted(statement, person)
            assert progress.mine == accepted, (str(person), progress.mine, accepted)
            assert progress.mine == (person in expected_mine), str(person)

    check({cast.legal, second_legal})  # rule "all": both lawyers; the author is not asked
    author = _mine(statement, cast.drafter)
    assert "nobody approves their own text" in author.blocked  # the service's words, shown to the author
    assert _mine(statement, cast.observer).blocked == ""
    approve(statement, cast.legal)
    check({second_legal})  # Legal decided step 1 already
    approve(statement, second_legal)
    check({cast.comms})  # Legal holds step 2's role too, but approved step 1: a different person per step


def test_approving_then_rejecting_the_same_step_is_refused_and_changes_nothing(cast):
    second_legal = UserFactory.create()
    give_role(cast.incident, second_legal, "legal")
    ApprovalStepTemplate.objects.filter(chain__name__startswith="Legal", order=1).update(rule="all")
    statement = submit(cast, new_statement(cast))
    approve(statement, cast.legal)
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="already decided step 1"):
        services.statement_reject(
            statement=fresh(statement), actor=cast.legal, version_number=1, reason="Changed my mind"
        )
    assert snapshot(STATEMENT_TABLES) == before


# --- the summary and the chain's marks ------------------------------------------------------------------------


def test_the_summary_line_for_every_state(cast):
    lines = {}
    for state in ("draft", "in_review", "approved", "rejected", "published", "withdrawn"):
        statement = _in_state(cast, state)
        lines[state] = _mine(statement, cast.observer).summary
    assert lines == {
        "draft": "Draft by Drafter Person, not submitted",
        "in_review": "Waiting for Legal — step 1 of 3",
        "approved": "Approved by every step — ready to publish",
        "rejected": "Rejected: “No” — needs a new version",
        "published": "Published",
        "withdrawn": "Withdrawn: “Wrong figure”",
    }
    template = services.statement_create(
        incident=cast.incident,
        actor=cast.drafter,
        template=StatementTemplate.objects.get(name="Holding statement — outage (X)"),
        fill={"incident_title": "a checkout problem", "next_update_time": "16:00"},
    )
    assert _mine(template, cast.observer).summary == (
        "Draft by Drafter Person, not submitted · from template “Holding statement — outage (X)”"
    )


def test_a_superseded_statement_says_what_replaced_it(cast):
    first = fully_approved(cast)
    publish(cast, first)
    update = services.statement_create(
        incident=cast.incident, actor=cast.drafter, channel="x", body=HOLDING + " Update.", supersedes=first
    )
    submit(cast, update)
    for person in (cast.legal, cast.comms, cast.executive):
        approve(update, person)
    publish(cast, update)
    assert _mine(first, cast.observer).summary.startswith("Superseded by “Holding statement”")


def test_step_marks_labels_and_the_due_time_of_the_current_step_only():
    now = timezone.now()
    role = IncidentRole(name="Legal reviewer")
    done = ChainStep(order=1, name="Legal", role=role, completed_at=now, activated_at=now, sla_minutes=30)
    current = ChainStep(order=2, name="Comms", role=role, activated_at=now, sla_minutes=30)
    later = ChainStep(order=3, name="Exec", role=role)
    views = services.step_views([done, current, later], {}, in_review=True)
    assert [(v.state, v.mark, v.state_label) for v in views] == [
        (StepState.DONE, "✓", "complete"),
        (StepState.CURRENT, "●", "waiting now"),
        (StepState.WAITING, "○", "later"),
    ]
    assert [v.due_at for v in views] == [None, now + timedelta(minutes=30), None]
    stopped = services.step_views([done, current, later], {}, in_review=False)
    assert [v.state for v in stopped] == [StepState.DONE, StepState.STOPPED, StepState.STOPPED]
    assert [v.state_label for v in stopped][1:] == ["not reached", "not reached"]
    assert not any(v.is_current for v in stopped)
    assert str(StepView(step=done, decisions=[], state=StepState.DONE).state) == "done"  # the CSS class


# --- the written-out reads (chain_reads.py) ---------------------------------------------------------------


def _fields(obj: object) -> dict[str, object]:
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def test_the_written_out_chain_read_gives_what_the_orm_reads(cast):
    """Steps with their roles, decisions with their people, whether each person holds each step's role now
    (an ended assignment does not count), across two versions; and the last version each person reviewed."""
    statement = submit(cast, new_statement(cast))
    approve(statement, cast.legal)
    services.statement_reject(statement=fresh(statement), actor=cast.comms, version_number=1, reason="No")
    services.statement_save_draft(
        statement=fresh(statement), actor=cast.drafter, expected_version=1, body=HOLDING + " More."
    )
    submit(cast, statement)
    approve(statement, cast.legal)
    services.statement_comment(statement=fresh(statement), actor=cast.executive, version_number=1, body="Hm.")
    ended = UserFactory.create(display_name="Former Comms")
    give_role(cast.incident, ended, "comms-lead")
    RoleAssignment.objects.filter(user=ended).update(ended_at=timezone.now())
    versions = list(StatementVersion.objects.filter(statement=statement).values_list("pk", flat=True))
    expected_steps = list(
        ChainStep.objects.filter(version_id__in=versions)
        .select_related("role")
        .order_by("version_id", "order")
    )
    expected_decisions = list(
        Approval.objects.filter(version_id__in=versions).select_related("approver").order_by("decided_at")
    )
    assert len(expected_steps) == 6
    assert len(expected_decisions) == 3
    for person in (cast.legal, cast.comms, cast.executive, cast.observer, ended):
        steps, decisions = read_chains(versions, person.pk)
        assert [_fields(s) for s in steps] == [
            _fields(s) | {"viewer_holds_role": ANY} for s in expected_steps
        ]
        assert [s.role for s in steps] == [s.role for s in expected_steps]
        assert [_fields(s.role) for s in steps] == [_fields(s.role) for s in expected_steps]
        assert [_fields(a) for a in decisions] == [_fields(a) for a in expected_decisions]
        assert [_fields(a.approver) for a in decisions] == [_fields(a.approver) for a in expected_decisions]
        holds = {
            s.pk: RoleAssignment.objects.current()
            .filter(user=person, incident=cast.incident, role_id=s.role_id)
            .exists()
            for s in expected_steps
        }
        assert {s.pk: s.__dict__["viewer_holds_role"] for s in steps} == holds
        assert any(holds.values()) == (person != cast.observer and person != ended)
        numbers = [
            *Approval.objects.filter(approver=person).values_list("version__number", flat=True),
            *VersionComment.objects.filter(author=person).values_list("version__number", flat=True),
        ]
        last, base = read_reviewed({statement.pk: 2}, person.pk)[statement.pk]
        assert last == max(numbers, default=None)
        expected_base = {cast.legal: None, cast.comms: 1, cast.executive: 1}.get(person, 1)
        assert (base.number if base else None) == expected_base
        if base is not None:
            assert _fields(base) == _fields(
                StatementVersion.objects.get(statement=statement, number=base.number)
            )


def test_the_diff_starts_from_the_last_version_the_approver_reviewed_in_one_query_with_the_chain(
    cast, django_assert_num_queries
):
    statement = submit(cast, new_statement(cast))
    legal = _mine(statement, cast.legal)
    assert legal.mine
    assert legal.base is None
    assert legal.diff is None
    assert legal.base_reason == ""
    approve(statement, cast.legal)
    services.statement_reject(statement=fresh(statement), actor=cast.comms, version_number=1, reason="No")
    services.statement_save_draft(
        statement=fresh(statement), actor=cast.drafter, expected_version=1, body=HOLDING + " More."
    )
    submit(cast, statement)
    s = fresh(statement)
    perms = {s.incident_id: incident_perms(cast.legal, s.incident)}
    # The chain (with whether Legal holds each step's role) and what Legal last reviewed with its diff base.
    with django_assert_num_queries(2):
        legal = services.approval_progress(cast.legal, [s], perms)[s.pk]
    assert legal.mine
    assert legal.base is not None
    assert legal.base.number == 1
    assert legal.base_reason == "since v1, the last version you reviewed"
    assert legal.diff is not None
    assert "<ins> More.</ins>" in legal.diff
    observer_perms = {s.incident_id: incident_perms(cast.observer, s.incident)}
    with django_assert_num_queries(1):  # nothing to decide: the chain alone
        assert not services.approval_progress(cast.observer, [s], observer_perms)[s.pk].mine
    services.statement_comment(statement=fresh(statement), actor=cast.legal, version_number=2, body="Ok.")
    legal = _mine(statement, cast.legal)
    assert legal.base is None
    assert legal.diff is None
    assert legal.base_reason == "You have reviewed this exact text (v2) before; nothing changed since."
    approve(statement, cast.legal)
    approve(statement, cast.comms)
    executive = _mine(statement, cast.executive)
    assert executive.mine
    assert executive.base is not None
    assert executive.base.number == 1
    assert executive.base_reason == "since v1 (you have not reviewed an earlier version)"


def test_the_written_out_panel_read_gives_what_for_panel_gives(cast, django_assert_num_queries):
    first = submit(cast, new_statement(cast))
    variant = services.statement_create(
        incident=cast.incident, actor=cast.drafter, channel="website", body="Longer.", master=first
    )
    other = new_statement(cast, body="Another one.")
    elsewhere = make_cast(title="Another incident")
    new_statement(elsewhere, body="Not in this room.")
    cases = {
        None: Statement.objects.filter(incident=cast.incident),
        first.code: Statement.objects.filter(pk__in=[first.pk, variant.pk]),
        variant.code: Statement.objects.filter(pk=variant.pk),  # a variant's own variants: none
        other.code: Statement.objects.filter(pk=other.pk),
    }
    for code, expected_rows in cases.items():
        expected = list(expected_rows.for_panel())
        with django_assert_num_queries(1):
            found = read_panel(cast.incident.pk, code)
            assert [_fields(s) for s in found] == [_fields(s) for s in expected]
            assert [_fields(cv(s)) for s in found] == [_fields(cv(s)) for s in expected]
            assert [_fields(cv(s).author) for s in found] == [_fields(cv(s).author) for s in expected]
    assert read_panel(elsewhere.incident.pk, first.code) == []


def _awaiting_by_orm(viewer: User) -> list[Statement]:
    """What selectors.awaiting asked the ORM for before chain_reads.read_awaiting wrote it out."""
    from django.db.models import Exists, OuterRef, Q

    from incidents.models import IncidentUserObjectPermission

    approve_in = IncidentUserObjectPermission.objects.filter(
        user=viewer, permission__codename=Perm.APPROVE
    ).values("content_object_id")
    backup_in = (
        RoleAssignment.objects.current()
        .filter(
            backup=viewer,
            incident_id__in=IncidentUserObjectPermission.objects.filter(user=viewer).values(
                "content_object_id"
            ),
        )
        .values("incident_id")
    )
    return list(
        Statement.objects.filter(
            Q(incident_id__in=approve_in) | Q(incident_id__in=backup_in), status=S.IN_REVIEW
        )
        .annotate(viewer_approves=Exists(approve_in.filter(content_object_id=OuterRef("incident_id"))))
        .select_related("current_version", "current_version__author", "incident")
        .order_by("updated_at", "pk")
    )


def test_the_written_out_queue_read_gives_what_the_orm_gave(cast, django_assert_num_queries):
    """In review where I approve, where I back someone up on the team, not where I only watch, not a draft,
    not another incident's; a backup whose assignment ended no longer counts."""
    submit(cast, new_statement(cast))
    new_statement(cast, body="A draft.")
    other = make_cast(title="Another incident")
    submit(other, new_statement(other, body="Elsewhere."))
    backup = UserFactory.create(display_name="Bea Backup")
    give_role(cast.incident, backup, "observer")
    RoleAssignment.objects.filter(incident=cast.incident, user=cast.legal).update(backup=backup)
    ended = UserFactory.create(display_name="Old Backup")
    give_role(other.incident, ended, "observer")
    RoleAssignment.objects.filter(incident=other.incident, user=other.legal).update(backup=ended)
    RoleAssignment.objects.filter(incident=other.incident, user=other.legal).update(ended_at=timezone.now())
    expected_sizes = {cast.legal: 1, cast.observer: 0, backup: 1, ended: 0, other.comms: 1, cast.drafter: 0}
    for person, size in expected_sizes.items():
        expected = _awaiting_by_orm(person)
        with django_assert_num_queries(1):
            found = read_awaiting(person.pk)
            assert len(found) == size, str(person)
            assert [_fields(s) for s in found] == [_fields(s) for s in expected]
            assert [_fields(s.incident) for s in found] == [_fields(s.incident) for s in expected]
            assert [_fields(cv(s)) for s in found] == [_fields(cv(s)) for s in expected]
            assert [_fields(cv(s).author) for s in found] == [_fields(cv(s).author) for s in expected]
