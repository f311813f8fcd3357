"""Time-compressed drills (issue #20): a ×10 drill of a seeded playbook run to its end on a fake clock —
every inject and every deadline at its scaled time while a real incident declared alongside keeps real
times — pausing and resuming, and the after-action score of a constructed drill, part by part."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import (
    ApprovalStepTemplate,
    ChainStep,
    Deadline,
    DeadlineKind,
    DeadlineState,
    Incident,
    NotAllowed,
    Refused,
    Reminder,
    ReminderKind,
    ReminderState,
    Statement,
    TimelineEntry,
)
from incidents.models.errors import InputRefused
from incidents.playbooks import declaring, scoring
from incidents.playbooks import services as pb
from incidents.playbooks.drills import drill_pause, drill_resume, speed_line
from incidents.playbooks.models import DrillInject, Playbook
from incidents.playbooks.seeds import ensure_playbooks
from incidents.reviews.trends import trends_context
from incidents.services.deadlines import deadline_complete, policy_for
from incidents.services.reminders import sweep_reminders
from tests.factories import UserFactory, give_role
from tests.factories_playbooks import make_people, make_playbook
from tests.factories_statements import approve, fresh, new_statement, submit
from tests.factories_statements import seeded as seeded
from tests.helpers import snapshot

T0 = timezone.now().replace(microsecond=0) + timedelta(days=1)
STEP_SLA = 20  # minutes, real time: set on every seeded chain step for these tests


@pytest.fixture
def chain_slas(seeded):
    ApprovalStepTemplate.objects.update(sla_minutes=STEP_SLA)


class Cast:
    """The people a statement needs in a drill declared from a playbook."""

    def __init__(self, incident: Incident) -> None:
        self.incident = incident
        self.drafter = UserFactory.create(display_name="Dana Drafter")
        self.legal = UserFactory.create(display_name="Lena Legal")
        self.comms = UserFactory.create(display_name="Carl Comms")
        self.executive = UserFactory.create(display_name="Eva Executive")
        self.publisher = UserFactory.create(display_name="Pia Publisher")
        for person, slug in [
            (self.drafter, "drafter"),
            (self.legal, "legal"),
            (self.comms, "comms-lead"),
            (self.executive, "executive"),
            (self.publisher, "social"),
        ]:
            give_role(incident, person, slug)


def _declare(manager, version, *, drill: bool, speed: int | None = None, title: str = "Outage") -> Incident:
    return declaring.declare_from_playbook(
        actor=manager,
        version=version,
        title=title,
        severity="sev2",
        is_drill=drill,
        drill_speed=speed,
    ).incident


# --- a ×10 drill of a seeded playbook, run to its end on a fake clock ----------------------------------------


@pytest.mark.django_db
def test_a_x10_drill_runs_every_inject_and_deadline_at_its_scaled_time_beside_a_real_incident(
    manager, chain_slas
):
    ensure_playbooks()
    version = Playbook.objects.get(name="Technical outage").latest()
    injects = list(version.injects.order_by("offset_seconds"))
    tasks = {t.title: t.offset_minutes for t in version.tasks.all()}
    assert len(injects) >= 2
    assert len(tasks) >= 5
    with time_machine.travel(T0, tick=False):
        drill = _declare(manager, version, drill=True, speed=10, title="Drill: checkout down")
        real = _declare(manager, version, drill=False, title="Checkout down")
    assert (drill.speed, real.speed) == (10, 1)
    assert speed_line(drill) == "×10: 6 minutes here are an hour"
    assert speed_line(real) == ""

    sla = policy_for("sev2").first_response_minutes
    by_incident = {d.incident_id: d for d in Deadline.objects.filter(key="first_response")}
    assert by_incident[drill.pk].due_at == T0 + timedelta(minutes=sla) / 10
    assert by_incident[real.pk].due_at == T0 + timedelta(minutes=sla)
    for incident, factor in ((drill, 10), (real, 1)):
        task_due = {
            d.title: d.due_at for d in Deadline.objects.filter(incident=incident, kind=DeadlineKind.TASK)
        }
        assert task_due == {title: T0 + timedelta(minutes=m) / factor for title, m in tasks.items()}, incident
        # Reminders and escalations come as much sooner: the backup escalation after the scaled grace.
        d = by_incident[incident.pk]
        backup = Reminder.objects.get(deadline=d, kind=ReminderKind.ESCALATE_BACKUP)
        assert backup.due_at == d.due_at + timedelta(minutes=d.escalation_grace_minutes) / factor
    assert not DrillInject.objects.filter(incident=real).exists()
    scheduled = {x.source_id: x.due_at for x in DrillInject.objects.filter(incident=drill)}
    assert scheduled == {x.pk: T0 + timedelta(seconds=x.offset_seconds) / 10 for x in injects}

    # Run the drill: each inject arrives at its scaled time, not a second before.
    for x in injects:
        at = T0 + timedelta(seconds=x.offset_seconds) / 10
        with time_machine.travel(at - timedelta(seconds=1), tick=False):
            assert pb.inject_sweep() == 0
        with time_machine.travel(at, tick=False):
            assert pb.inject_sweep() >= 1
    assert DrillInject.objects.filter(incident=drill, posted_at__isnull=True).count() == 0
    assert TimelineEntry.objects.filter(incident=drill, kind=TimelineEntry.Kind.EXTERNAL).count() == len(
        injects
    )

    # An approval step's SLA is scaled on the drill only.
    drill_cast, real_cast = Cast(drill), Cast(real)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        submit(drill_cast, new_statement(drill_cast))
        submit(real_cast, new_statement(real_cast))
    for incident, factor in ((drill, 10), (real, 1)):
        step = ChainStep.objects.get(version__statement__incident=incident, order=1)
        expected = T0 + timedelta(minutes=1) + timedelta(minutes=STEP_SLA) / factor
        assert step.due_at == step.sla_due_at == expected
        assert Deadline.objects.get(chain_step=step).due_at == expected

    # The first response SLA passes at its scaled time on the drill; the real incident's is an hour away.
    due = by_incident[drill.pk].due_at
    with time_machine.travel(due - timedelta(seconds=1), tick=False):
        sweep_reminders(enqueue=False)
    assert Deadline.objects.get(pk=by_incident[drill.pk].pk).missed_at is None
    with time_machine.travel(due + timedelta(seconds=1), tick=False):
        sweep_reminders(enqueue=False)
    assert Deadline.objects.get(pk=by_incident[drill.pk].pk).missed_at is not None
    assert Deadline.objects.get(pk=by_incident[real.pk].pk).missed_at is None

    # Publishing promises the next update after the cadence: scaled on the drill only.
    cadence = timedelta(minutes=policy_for("sev2").update_cadence_minutes)
    published = due + timedelta(minutes=1)
    with time_machine.travel(published, tick=False):
        for c in (drill_cast, real_cast):
            statement = Statement.objects.get(incident=c.incident)
            for person in (c.legal, c.comms, c.executive):
                approve(statement, person)
            services.statement_publish(
                statement=fresh(statement), actor=c.publisher, version_number=fresh(statement).version
            )
    assert (
        Deadline.objects.get(incident=drill, key="update", state=DeadlineState.OPEN).due_at
        == published + cadence / 10
    )
    assert (
        Deadline.objects.get(incident=real, key="update", state=DeadlineState.OPEN).due_at
        == published + cadence
    )

    # Run to the end of the drill's longest task: every drill task is overdue; of the real incident's, only
    # those due within the same stretch of real time.
    end = T0 + timedelta(minutes=max(tasks.values())) / 10 + timedelta(seconds=1)
    with time_machine.travel(end, tick=False):
        sweep_reminders(enqueue=False)

    def overdue(incident: Incident) -> set[str]:
        missed = Deadline.objects.filter(incident=incident, kind=DeadlineKind.TASK, missed_at__isnull=False)
        return set(missed.values_list("title", flat=True))

    assert overdue(drill) == set(tasks)
    assert overdue(real) == {t for t, m in tasks.items() if T0 + timedelta(minutes=m) < end}
    assert overdue(real) != set(tasks)


@pytest.mark.django_db
def test_a_real_incident_cannot_be_compressed_nor_paused_and_nothing_is_written(manager, seeded):
    version = make_playbook(manager, make_people()).latest()
    before = snapshot(["incidents_incident", "incidents_deadline", "incidents_timelineentry"])
    with pytest.raises(InputRefused):
        _declare(manager, version, drill=False, speed=10)
    with pytest.raises(InputRefused):
        _declare(manager, version, drill=True, speed=7)
    assert snapshot(["incidents_incident", "incidents_deadline", "incidents_timelineentry"]) == before
    real = _declare(manager, version, drill=False)
    before = snapshot(["incidents_incident", "incidents_deadline", "incidents_timelineentry"])
    with pytest.raises(Refused):
        drill_pause(incident=real, actor=manager)
    assert snapshot(["incidents_incident", "incidents_deadline", "incidents_timelineentry"]) == before


@pytest.mark.django_db
def test_the_declare_form_starts_a_x10_drill_and_ignores_the_speed_for_a_real_incident(
    manager_client, manager, seeded
):
    base = {"title": "Checkout down", "scenario": "outage", "severity": "sev2", "drill_speed": "10"}
    assert manager_client.post(reverse("incidents:declare"), {**base, "is_drill": "on"}).status_code == 302
    assert manager_client.post(reverse("incidents:declare"), base).status_code == 302
    drill, real = Incident.objects.order_by("declared_at", "pk")
    assert (drill.is_drill, drill.drill_speed, real.is_drill, real.drill_speed) == (True, 10, False, 1)
    room = manager_client.get(drill.room_url).content.decode()
    assert "×10: 6 minutes here are an hour" in room
    assert "Pause the drill" in room
    assert "minutes here are an hour" not in manager_client.get(real.room_url).content.decode()


# --- pause and resume --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pausing_a_drill_holds_everything_and_resuming_shifts_what_is_pending(manager, member, seeded):
    version = make_playbook(manager, make_people()).latest()  # injects at 60 s and 180 s, tasks 5/30/60 min
    with time_machine.travel(T0, tick=False):
        drill = _declare(manager, version, drill=True, speed=10)
        real = _declare(manager, version, drill=False)
    give_role(drill, member, "observer")
    real_due = sorted(Deadline.objects.filter(incident=real).values_list("due_at", flat=True))
    # 10 s in: the first inject (6 s) has arrived, the second (18 s) and every deadline are pending.
    with time_machine.travel(T0 + timedelta(seconds=10), tick=False):
        assert pb.inject_sweep() == 1
        with pytest.raises(NotAllowed):
            drill_pause(incident=drill, actor=member)
        drill_pause(incident=drill, actor=manager)
        with pytest.raises(Refused):
            drill_pause(incident=drill, actor=manager)
    pending = {d.pk: d.due_at for d in Deadline.objects.filter(incident=drill, state=DeadlineState.OPEN)}
    # Paused for ten minutes: nothing fires, though everything of the drill is due by then.
    with time_machine.travel(T0 + timedelta(minutes=10, seconds=10), tick=False):
        assert pb.inject_sweep() == 0
        sweep_reminders(enqueue=False)
        assert not Reminder.objects.filter(deadline__incident=drill, state=ReminderState.SENT).exists()
        drill_resume(incident=drill, actor=manager)
    pause = timedelta(minutes=10)
    moved = {d.pk: d.due_at for d in Deadline.objects.filter(incident=drill, state=DeadlineState.OPEN)}
    assert moved == {pk: due + pause for pk, due in pending.items()}
    left = DrillInject.objects.get(incident=drill, posted_at__isnull=True)
    assert left.due_at == T0 + timedelta(seconds=18) + pause
    # The real incident never moved.
    assert sorted(Deadline.objects.filter(incident=real).values_list("due_at", flat=True)) == real_due
    texts = list(
        TimelineEntry.objects.filter(incident=drill, kind=TimelineEntry.Kind.STATUS)
        .order_by("seq")
        .values_list("body", flat=True)
    )
    assert any("paused the drill" in t for t in texts)
    assert any("resumed the drill after a pause of 10 min" in t for t in texts)
    with time_machine.travel(left.due_at - timedelta(seconds=1), tick=False):
        assert pb.inject_sweep() == 0
    with time_machine.travel(left.due_at, tick=False):
        assert pb.inject_sweep() == 1


@pytest.mark.django_db
def test_the_room_pauses_and_resumes_a_drill_with_plain_forms(manager_client, manager, seeded):
    version = make_playbook(manager, make_people()).latest()
    drill = _declare(manager, version, drill=True, speed=30)
    answer = manager_client.post(reverse("playbooks:drill-pause", args=[drill.code]), follow=True)
    assert "Paused since" in answer.content.decode()
    assert "×30: 2 minutes here are an hour" in answer.content.decode()
    assert Incident.objects.get(pk=drill.pk).is_paused
    manager_client.post(reverse("playbooks:drill-resume", args=[drill.code]))
    assert not Incident.objects.get(pk=drill.pk).is_paused
    again = manager_client.post(reverse("playbooks:drill-resume", args=[drill.code]), follow=True)
    assert "The drill is not paused." in again.content.decode()


# --- the score ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_score_of_a_constructed_drill_equals_its_hand_computed_parts(manager, chain_slas):
    """×10, SEV2: first response 60 min → 6 min; approval steps 20 min → 2 min; injects at 6 s and 18 s with
    15 min → 90 s to answer; tasks at 30 s (5 min), 3 min (30 min) and 6 min (60 min)."""
    people = make_people()
    version = make_playbook(manager, people).latest()
    at = lambda seconds: time_machine.travel(T0 + timedelta(seconds=seconds), tick=False)  # noqa: E731
    with at(0):
        drill = _declare(manager, version, drill=True, speed=10)
    cast = Cast(drill)
    with at(6):
        assert pb.inject_sweep() == 1
    with at(10):  # the first inject is answered after 4 s: on time, 1
        services.timeline_post(incident=drill, actor=cast.drafter, kind="note", body="Calling DN back")
    with at(18):
        assert pb.inject_sweep() == 1
    tasks = {d.title: d for d in Deadline.objects.filter(incident=drill, kind=DeadlineKind.TASK)}
    with at(20):  # due at 30 s: met
        deadline_complete(deadline=tasks["Pause scheduled posts"], actor=manager)
    with at(60):
        statement = submit(cast, new_statement(cast))
    with at(120):  # step 1 due 60 + 120 s: on time
        approve(statement, cast.legal)
    with at(240):  # due at 3 min: missed
        deadline_complete(deadline=tasks["Acknowledge publicly"], actor=manager)
    with at(300):  # step 2 active since 120 s, due 240 s: late. The second inject's answer: 282 s, late: ½
        approve(statement, cast.comms)
        services.timeline_post(incident=drill, actor=cast.drafter, kind="note", body="Mentions summarised")
    with at(330):  # step 3 due 300 + 120 s: on time
        approve(statement, cast.executive)
    with at(420):  # 7 min against 6
        services.statement_publish(
            statement=fresh(statement), actor=cast.publisher, version_number=fresh(statement).version
        )
    with at(600):  # "Legal check" (6 min) still open: missed; the next update (7 + 12 min) not due yet
        score = scoring.drill_score(drill)
    first, approvals, updates, tasks_part, injects = score.parts
    assert score.first_statement_took == timedelta(minutes=7)
    assert score.first_statement_sla == timedelta(minutes=6)
    assert first.points == round(30 * (2 - 7 / 6), 2) == 25.0
    assert (approvals.good, approvals.measured, approvals.points) == (2, 3, round(20 * 2 / 3, 2))
    assert (updates.fraction, updates.points) == (None, None)  # nothing due yet: left out
    assert (tasks_part.good, tasks_part.measured, tasks_part.points) == (1, 3, 5.0)
    assert (injects.good, injects.measured, injects.points) == (1.5, 2, 11.25)
    hand = 100 * (30 * (2 - 7 / 6) + 20 * 2 / 3 + 15 * 1 / 3 + 15 * 0.75) / (30 + 20 + 15 + 15)
    assert score.total == round(hand) == 68
    assert [a.on_time for a in score.injects] == [True, False]


@pytest.mark.django_db
def test_the_summary_shows_the_score_its_formula_and_the_playbooks_earlier_drills(
    manager_client, manager, seeded
):
    version = make_playbook(manager, make_people()).latest()
    with time_machine.travel(T0 - timedelta(days=7), tick=False):
        earlier = _declare(manager, version, drill=True, speed=10, title="Last week's drill")
    drill = _declare(manager, version, drill=True, speed=10)
    real = _declare(manager, version, drill=False)
    page = manager_client.get(reverse("playbooks:summary", args=[drill.code])).content.decode()
    assert 'id="drill-score-total"' in page
    assert "How the score is computed" in page
    assert '<svg class="chart"' in page
    assert earlier.reference in page
    assert "<script" not in page.split('id="drill-history"')[1].split("</figure>")[0]
    # A real incident's summary is never scored, and drills stay out of the real-incident trends.
    assert (
        'id="drill-score-total"'
        not in manager_client.get(reverse("playbooks:summary", args=[real.code])).content.decode()
    )
    for incident in (earlier, drill, real):
        services.incident_change_status(incident=incident, actor=manager, new_status="closed")
    trends = trends_context(manager)
    assert (trends["incident_count"], trends["drills_excluded"]) == (1, 2)
