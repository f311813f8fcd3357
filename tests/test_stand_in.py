"""Backups who can decide (issue #20): once an approval step's SLA has passed, the backup named on the role of
one of its approvers may decide it standing in for them — recorded on the approval row and the timeline, with
the same hash binding, separation of duties and step order — and the original approver can no longer decide
what their backup decided. Before the SLA the backup is refused and nothing changes; a race between the two
has exactly one winner."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import (
    Approval,
    ApprovalStepTemplate,
    ChainStep,
    Deadline,
    Notification,
    Refused,
    RoleAssignment,
    StatementError,
    StatementVersion,
    TimelineEntry,
    User,
)
from incidents.services.reminders import sweep_reminders
from incidents.services.statements.rules import OwnText, Standing, StandInRefused, check_decide
from incidents.services.statements.selectors import awaiting
from tests.factories import UserFactory, give_role
from tests.factories_statements import (
    STATEMENT_TABLES,
    approve,
    cv,
    fresh,
    make_cast,
    new_statement,
    submit,
    url,
)
from tests.factories_statements import seeded as seeded
from tests.helpers import race, snapshot

SLA = 20  # minutes, the Legal step's time to decide


def _setup():
    ApprovalStepTemplate.objects.filter(order=1).update(sla_minutes=SLA)
    cast = make_cast()
    backup = UserFactory.create(display_name="Bea Backup")
    give_role(cast.incident, backup, "observer")  # on the team; may not approve in her own right
    RoleAssignment.objects.filter(incident=cast.incident, user=cast.legal).update(backup=backup)
    return cast, backup


def _stand_in(statement, backup, principal, **kwargs):
    statement = fresh(statement)
    version = cv(statement)
    return services.statement_approve(
        statement=statement,
        actor=backup,
        version_number=version.number,
        sha256=version.sha256,
        on_behalf_of=principal,
        **kwargs,
    )


@pytest.mark.django_db
def test_the_backup_is_refused_before_the_sla_and_decides_after_it_then_the_original_cannot(seeded):
    cast, backup = _setup()
    t0 = timezone.now().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        statement = submit(cast, new_statement(cast))
    step = ChainStep.objects.get(version=cv(fresh(statement)), order=1)
    assert step.due_at == t0 + timedelta(minutes=SLA)

    before = snapshot(STATEMENT_TABLES)
    with time_machine.travel(t0 + timedelta(minutes=SLA) - timedelta(seconds=1), tick=False):
        with pytest.raises(StandInRefused, match="still within its time limit"):
            _stand_in(statement, backup, cast.legal, step_order=1)
        # Not Legal's backup for anyone else: not for the Communications lead either.
        with pytest.raises(StandInRefused):
            _stand_in(statement, backup, cast.comms, step_order=1)
    assert snapshot(STATEMENT_TABLES) == before

    with time_machine.travel(t0 + timedelta(minutes=SLA, seconds=1), tick=False):
        with pytest.raises(StandInRefused, match=r"not .*backup"):
            _stand_in(statement, backup, cast.comms, step_order=1)
        result = _stand_in(statement, backup, cast.legal, step_order=1)
    approval = result.approval
    assert (approval.approver_id, approval.on_behalf_of_id, approval.step_id) == (
        backup.pk,
        cast.legal.pk,
        step.pk,
    )
    assert approval.sha256 == cv(fresh(statement)).sha256  # the same hash binding
    assert ChainStep.objects.get(pk=step.pk).completed_at is not None
    last = TimelineEntry.objects.filter(incident=cast.incident).order_by("-seq").first()
    assert last is not None
    assert "Bea Backup (standing in for Legal Person" in last.body

    # The original approver comes back: the step is decided, nothing they do changes it.
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="already complete"):
        approve(statement, cast.legal, step_order=1)
    with pytest.raises(Refused):  # without naming the step, the chain has moved on to Communications
        approve(statement, cast.legal)
    assert snapshot(STATEMENT_TABLES) == before
    assert Approval.objects.filter(step=step).count() == 1
    # The chain goes on as usual.
    approve(statement, cast.comms)
    approve(statement, cast.executive)
    assert fresh(statement).is_approved


@pytest.mark.django_db
def test_a_backup_keeps_separation_of_duties(seeded):
    cast, backup = _setup()
    # The backup wrote the text: she may not approve it for anyone.
    give_role(cast.incident, backup, "drafter")
    t0 = timezone.now()
    with time_machine.travel(t0, tick=False):
        statement = services.statement_create(
            incident=cast.incident, actor=backup, title="Holding", channel="x", body="We know. We are on it."
        )
        statement = services.statement_submit(statement=fresh(statement), actor=backup, version_number=1)
    before = snapshot(STATEMENT_TABLES)
    with time_machine.travel(t0 + timedelta(minutes=SLA + 1), tick=False), pytest.raises(OwnText):
        _stand_in(statement, backup, cast.legal, step_order=1)
    assert snapshot(STATEMENT_TABLES) == before


@pytest.mark.django_db
def test_the_statement_page_offers_the_backup_the_decision_only_once_allowed(client, seeded):
    cast, backup = _setup()
    t0 = timezone.now().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        statement = submit(cast, new_statement(cast))
    client.force_login(backup)
    with time_machine.travel(t0 + timedelta(minutes=5), tick=False):
        page = client.get(url(statement)).content.decode()
    assert 'name="on_behalf_of"' not in page
    with time_machine.travel(t0 + timedelta(minutes=SLA, seconds=5), tick=False):
        page = client.get(url(statement)).content.decode()
        assert f'name="on_behalf_of" value="{cast.legal.pk}"' in page
        assert "standing in for them" in page
        queue = client.get(reverse("incidents:my-approvals")).content.decode()
        assert f'name="on_behalf_of" value="{cast.legal.pk}"' in queue
        client.force_login(backup)  # approving is a step-up action: a second-factor check from just now
        version = cv(fresh(statement))
        answer = client.post(
            reverse("incidents:statement-approve", args=[cast.incident.code, statement.code]),
            {"version": version.number, "sha256": version.sha256, "step": 1, "on_behalf_of": cast.legal.pk},
        )
    assert answer.status_code in (200, 302, 303)
    assert Approval.objects.get(step__order=1, version=version).on_behalf_of_id == cast.legal.pk
    page = client.get(url(statement)).content.decode()
    assert "standing in for Legal Person" in page


@pytest.mark.django_db(transaction=True)
def test_a_race_between_the_backup_and_the_original_has_exactly_one_decision(seeded):
    for _attempt in range(5):
        cast, backup = _setup()
        statement = submit(cast, new_statement(cast))
        version = cv(fresh(statement))
        step = ChainStep.objects.get(version=version, order=1)
        # The SLA passed a minute ago (no fake clock: threads share the real one).
        ChainStep.objects.filter(pk=step.pk).update(sla_due_at=timezone.now() - timedelta(minutes=1))

        def decide(i: int, cast=cast, backup=backup, statement=statement):
            if i == 0:
                return _stand_in(statement, backup, cast.legal, step_order=1)
            return approve(statement, cast.legal, step_order=1)

        results = race(2, decide)
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, BaseException)]
        assert len(winners) == 1, results
        assert all(isinstance(r, Refused) for r in losers), results
        assert Approval.objects.filter(step=step).count() == 1
        assert ChainStep.objects.get(pk=step.pk).completed_at is not None


@pytest.mark.django_db
def test_the_escalation_tells_the_backup_they_may_decide_now(seeded):
    cast, backup = _setup()
    t0 = timezone.now().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        statement = submit(cast, new_statement(cast))
    deadline = Deadline.objects.get(chain_step__version=cv(fresh(statement)), chain_step__order=1)
    late = deadline.due_at + timedelta(minutes=deadline.escalation_grace_minutes, seconds=1)
    with time_machine.travel(late, tick=False):
        sweep_reminders(enqueue=False)
    told = [
        n.text
        for n in Notification.objects.filter(recipient=backup)
        if "escalated to you as backup" in n.text
    ]
    assert len(told) == 1, told
    assert "backup for Legal Person" in told[0]
    assert "you may decide it now" in told[0]


def test_after_a_backup_stood_in_on_an_all_step_the_original_is_told_so():
    """A step that needs every one of its approvers: the backup's decision counts for the person they stood in
    for, who is then refused with who decided in their place (the rule alone, no database)."""
    version = StatementVersion(pk=1, number=1, author_id=99)
    step = ChainStep(pk=10, order=1, name="Legal", approver_ids=[1, 2], required=2, sla_minutes=20)
    backup = User(pk=3, display_name="Bea Backup")
    stood_in = Approval(pk=5, step_id=10, version_id=1, approver=backup, on_behalf_of_id=1)
    with pytest.raises(StatementError, match="Bea Backup already decided step 1"):
        check_decide(
            step=step,
            steps=[step],
            version=version,
            person_id=1,
            standing=Standing(on_team=True, may_approve=True, holds_role=True),
            decisions=[stood_in],
        )
    # The other Legal approver still decides in their own right.
    check_decide(
        step=step,
        steps=[step],
        version=version,
        person_id=2,
        standing=Standing(on_team=True, may_approve=True, holds_role=True),
        decisions=[stood_in],
    )


@pytest.mark.django_db
def test_the_backups_approvals_queue_lists_the_step_once_its_time_has_passed(seeded):
    cast, backup = _setup()
    t0 = timezone.now().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        statement = submit(cast, new_statement(cast))
    with time_machine.travel(t0 + timedelta(minutes=SLA - 1), tick=False):
        assert awaiting(backup) == []
    with time_machine.travel(t0 + timedelta(minutes=SLA, seconds=1), tick=False):
        queue = awaiting(backup)
    assert [(p.statement.pk, p.stand_in_for) for p in queue] == [(statement.pk, cast.legal)]
    assert not queue[0].mine
    # Legal's own queue is unchanged: the step is theirs as ever.
    assert [p.statement.pk for p in awaiting(cast.legal)] == [statement.pk]


@pytest.mark.django_db
def test_after_the_sla_the_original_still_decides_until_someone_has_and_then_the_backup_cannot(seeded):
    cast, backup = _setup()
    t0 = timezone.now().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        statement = submit(cast, new_statement(cast))
    with time_machine.travel(t0 + timedelta(minutes=SLA + 5), tick=False):
        result = approve(statement, cast.legal, step_order=1)
        assert result.approval.on_behalf_of_id is None
        before = snapshot(STATEMENT_TABLES)
        with pytest.raises(StatementError, match="already complete"):
            _stand_in(statement, backup, cast.legal, step_order=1)
    assert snapshot(STATEMENT_TABLES) == before
