"""A year of Northwind's past incidents and drills for the demo, played on the demo clock (incidents/demo_clock.py).

Each past incident is a plot (what happened, what the team wrote, what went out, what they learned) and a
tempo drawn from a seeded random generator (how fast it was declared, how long Legal took, whether an update
came late). The plot is walked through the real services at the moments of the tempo, so the record — the
timeline, the statements and their approvals, what was published when, the deadlines met and missed, the
reminders fired — is what the services would have written; the review is written afterwards from that
record (incidents/reviews/demo.py), so it can only say what the record shows.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from incidents import services
from incidents.demo_clock import Step, minutes
from incidents.demo_plots import DANIEL, ERIK, MAJA, PLOTS, PRIYA, SOFIA, Plot
from incidents.models import (
    Audience,
    Channel,
    Deadline,
    DeadlineKind,
    DeadlineState,
    Incident,
    IncidentRole,
    Statement,
    Status,
    TimelineEntry,
    User,
)
from incidents.services.deadlines import deadline_complete, policy_for

_order = itertools.count()

# Who holds what in a past incident: the default chain's approvers, and Sofia to draft and publish.
TEAM = ((PRIYA, "legal"), (ERIK, "comms-lead"), (DANIEL, "executive"), (SOFIA, "social"))


class Play:
    """One incident's story as steps on the demo clock. Steps run later, in time order with every other
    story's; they find what earlier steps made (the incident, its statements) on this object."""

    def __init__(self, people: dict[str, User], title: str) -> None:
        self.people = people
        self.title = title
        self.steps: list[Step] = []
        self.incident: Incident | None = None
        self.statements: dict[str, Statement] = {}
        self.plot: Plot | None = None  # the plot it plays (a past incident), for its review
        self.resolved_at: datetime | None = None

    def at(self, moment: datetime, label: str, run: Callable[[], Any]) -> None:
        self.steps.append(Step(moment, next(_order), f"{self.title}: {label}", run))

    @property
    def current(self) -> Incident:
        """The incident as its last status change left it (the services lock and re-read what they change)."""
        assert self.incident is not None, "a step ran before its incident was declared"
        return self.incident

    def user(self, email: str) -> User:
        return self.people[email]

    # --- the steps a story is made of -------------------------------------------------------------------------

    def declare(
        self, t: datetime, *, by: str, scenario: str, severity: str, summary: str, platforms: Sequence[str],
        detected: datetime, is_drill: bool = False, is_restricted: bool = False,
    ) -> None:  # fmt: skip
        def run() -> None:
            self.incident = services.incident_declare(
                actor=self.user(by), title=self.title, scenario=scenario, severity=severity, summary=summary,
                affected_platforms=platforms, detected_at=detected, is_drill=is_drill,
                is_restricted=is_restricted,
            )  # fmt: skip

        self.at(t, "declared", run)

    def join(self, t: datetime, email: str, slug: str, *, by: str = MAJA) -> None:
        def run() -> None:
            services.team_add_member(
                incident=self.current, actor=self.user(by), user=self.user(email),
                role=IncidentRole.objects.get(slug=slug),
            )  # fmt: skip

        self.at(t, f"{email} joins as {slug}", run)

    def status(self, t: datetime, status: str, *, by: str = MAJA) -> None:
        self.at(
            t,
            status,
            lambda: services.incident_change_status(
                incident=self.current, actor=self.user(by), new_status=status
            ),
        )

    def note(self, t: datetime, who: str, kind: str, body: str, *, privileged: bool = False) -> None:
        self.at(
            t,
            f"{kind} by {who}",
            lambda: services.timeline_post(
                incident=self.current, actor=self.user(who), kind=kind, body=body, is_privileged=privileged
            ),
        )

    def statement(self, t: datetime, key: str, s: Said, *, supersedes: str = "") -> datetime:
        """Draft, submit, (a rejection and a revision,) approvals, publication; returns when it went out."""

        def create() -> None:
            self.statements[key] = services.statement_create(
                incident=self.current, actor=self.user(s.author), channel=s.channel, title=s.title,
                audience=s.audience, body=s.body,
                supersedes=self.statements[supersedes] if supersedes else None,
            )  # fmt: skip

        self.at(t, f"statement {key} drafted", create)
        t += s.submit_after
        self.at(t, f"statement {key} submitted", lambda: self._submit(key, s.author))
        if s.rejected is not None:
            rejecter, after, reason, revised, revise_after = s.rejected
            t += after
            self.at(t, f"statement {key} rejected", lambda: self._reject(key, rejecter, reason))
            t += revise_after
            self.at(t, f"statement {key} revised", lambda: self._revise(key, s.author, revised))
            self.at(t, f"statement {key} resubmitted", lambda: self._submit(key, s.author))
        for who, after in s.approvals:
            t += after
            self.at(t, f"statement {key} approved by {who}", partial(self._approve, key, who))
        t += s.publish_after
        self.at(t, f"statement {key} published", lambda: self._publish(key, s.publisher, s.link))
        return t

    def _fresh(self, key: str) -> Statement:
        statement = Statement.objects.select_related("current_version", "incident").get(
            pk=self.statements[key].pk
        )
        self.statements[key] = statement
        return statement

    def _submit(self, key: str, who: str) -> None:
        statement = self._fresh(key)
        services.statement_submit(statement=statement, actor=self.user(who), version_number=statement.version)

    def _reject(self, key: str, who: str, reason: str) -> None:
        statement = self._fresh(key)
        services.statement_reject(
            statement=statement, actor=self.user(who), version_number=statement.version, reason=reason
        )

    def _revise(self, key: str, who: str, body: str) -> None:
        statement = self._fresh(key)
        services.statement_save_draft(
            statement=statement, actor=self.user(who), expected_version=statement.version, body=body
        )

    def _approve(self, key: str, who: str) -> None:
        statement = self._fresh(key)
        version = statement.current_version
        assert version is not None
        services.statement_approve(
            statement=statement, actor=self.user(who), version_number=version.number, sha256=version.sha256
        )

    def _publish(self, key: str, who: str, link: str) -> None:
        statement = self._fresh(key)
        services.statement_publish(
            statement=statement, actor=self.user(who), version_number=statement.version, link=link
        )

    def quiet(self, t: datetime) -> None:
        """While monitoring, the commander decides no further public updates are due (the next-update deadline
        is done; otherwise its reminders would go on until resolution)."""

        def run() -> None:
            incident = self.current
            self.note_now(
                MAJA,
                TimelineEntry.Kind.DECISION,
                "Monitoring: no further public updates unless something changes.",
            )
            for deadline in Deadline.objects.filter(
                incident=incident, kind=DeadlineKind.UPDATE, state=DeadlineState.OPEN
            ):
                deadline_complete(deadline=deadline, actor=incident.commander)

        self.at(t, "no further updates", run)

    def note_now(self, who: str, kind: str, body: str) -> None:
        services.timeline_post(incident=self.current, actor=self.user(who), kind=kind, body=body)

    def tasks_on_time(self, playbook_name: str, declared: datetime, now: datetime) -> None:
        """Each checklist task of a playbook incident done by its owner before it is due — before its reminder
        (10 minutes ahead) would ring, too; tasks due after `now` are still open."""
        from incidents.playbooks.models import Playbook

        playbook = Playbook.objects.filter(name=playbook_name).first()
        if playbook is None:
            return
        for task in playbook.latest().tasks.all():
            due = declared + minutes(task.offset_minutes)
            done_at = max(due - minutes(11 + task.offset_minutes % 4), declared + minutes(1))
            if done_at >= now:
                continue

            def done(title: str = task.title) -> None:
                incident = self.current
                for deadline in Deadline.objects.filter(
                    incident=incident, title=title, key__startswith="playbook-task:", state=DeadlineState.OPEN
                ):
                    deadline_complete(deadline=deadline, actor=deadline.owner or incident.commander)

            self.at(done_at, f"task done: {task.title}", done)


@dataclass(frozen=True)
class Said:
    """A statement as it went out: who drafted and published it, and its way through the chain."""

    author: str
    channel: str
    title: str
    body: str
    publisher: str = SOFIA
    audience: str = Audience.PUBLIC
    submit_after: timedelta = field(default_factory=lambda: minutes(4))
    # (approver, minutes after the previous decision) in chain order: Legal, Communications lead, Executive.
    approvals: tuple[tuple[str, timedelta], ...] = ()
    publish_after: timedelta = field(default_factory=lambda: minutes(3))
    # (who, after, reason, revised body, revised after) when Legal sent the first draft back.
    rejected: tuple[str, timedelta, str, str, timedelta] | None = None
    link: str = ""


def chain(rng: random.Random, *, legal: tuple[int, int] = (4, 25)) -> tuple[tuple[str, timedelta], ...]:
    return (
        (PRIYA, minutes(rng.randint(*legal))),
        (ERIK, minutes(rng.randint(2, 9))),
        (DANIEL, minutes(rng.randint(3, 14))),
    )


# --- tempo --------------------------------------------------------------------------------------------------------


def past_incident(people: dict[str, User], plot: Plot, declared: datetime, rng: random.Random) -> Play:
    """One plot played at one tempo: declared at `declared`, resolved within hours or days."""
    play = Play(people, plot.title)
    play.plot = plot
    policy = policy_for(plot.severity)
    t = declared
    play.declare(
        t, by=MAJA, scenario=plot.scenario, severity=plot.severity, summary=plot.summary,
        platforms=plot.platforms, detected=declared - minutes(rng.randint(6, 75)),
    )  # fmt: skip
    for n, (email, slug) in enumerate(TEAM):
        play.join(t + minutes(1 + n), email, slug)
    play.status(t + minutes(rng.randint(6, 14)), Status.ASSESSING)
    responding = t + minutes(rng.randint(16, 40))
    play.status(responding, Status.RESPONDING)
    # The first statement: usually within the severity's target, sometimes not (Legal slow, or a rejection).
    drafted = t + minutes(rng.randint(8, 20))
    slow_legal = rng.random() < 0.25
    rejected = not slow_legal and rng.random() < 0.25
    channel, title, body = plot.holding
    holding = Said(
        author=SOFIA if rng.random() < 0.6 else MAJA,
        channel=channel,
        title=title,
        body=body,
        publisher=SOFIA if channel != Channel.EMAIL else ERIK,
        audience=Audience.CUSTOMERS if channel in (Channel.EMAIL, Channel.SUPPORT_MACRO) else Audience.PUBLIC,
        approvals=chain(rng, legal=(45, 95) if slow_legal else (4, 22)),
        rejected=(
            (PRIYA, minutes(rng.randint(6, 15)), _REVISION[0], f"{body} {_REVISION[1]}", minutes(rng.randint(6, 14)))
            if rejected else None
        ),
    )  # fmt: skip
    published = play.statement(drafted, "holding", holding)
    # Notes spread from declaration to the end of the response.
    settled = published + minutes(rng.randint(40, 180))
    span = (settled - t).total_seconds() / 60
    for n, (who, kind, text) in enumerate(plot.notes):
        play.note(t + minutes(5 + span * (n + 0.5) / len(plot.notes)), who, kind, text)
    if plot.privileged:
        play.note(
            t + minutes(rng.randint(10, 30)),
            PRIYA,
            TimelineEntry.Kind.DECISION,
            plot.privileged,
            privileged=True,
        )
    end = settled
    if plot.update is not None:
        # The update: within the cadence, or (one time in three) late enough that its deadline was missed.
        cadence = policy.update_cadence_minutes
        late = rng.random() < 0.33
        at = published + minutes(cadence * (rng.uniform(1.05, 1.4) if late else rng.uniform(0.45, 0.8)))
        channel, title, body = plot.update
        update = Said(
            SOFIA, channel, title, body, approvals=chain(rng, legal=(3, 10)), submit_after=minutes(3)
        )
        end = max(end, play.statement(at - minutes(20), "update", update, supersedes="holding"))
    monitoring = end + minutes(rng.randint(20, 120))
    play.status(monitoring, Status.MONITORING)
    play.quiet(monitoring + minutes(2))
    resolved = monitoring + timedelta(hours=rng.choice((2, 4, 6, 20, 26, 48)))
    play.status(resolved, Status.RESOLVED)
    play.resolved_at = resolved
    if rng.random() < 0.6:
        play.status(resolved + timedelta(days=rng.randint(5, 12)), Status.CLOSED)
    return play


# Legal's reason for sending a first draft back, and the sentence the revision added.
_REVISION = ("Say where people can get help, not only what we are doing.", "Help: northwind.example/help")


def drill(people: dict[str, User], playbook_name: str, title: str, declared: datetime, now: datetime) -> Play:
    """A drill from a seeded playbook: staffed from its roster, injects arriving at their offsets, the
    checklist worked through, ended after two hours."""
    from incidents.playbooks import declaring
    from incidents.playbooks.models import Playbook

    play = Play(people, title)

    def declare() -> None:
        playbook = Playbook.objects.get(name=playbook_name)
        version = playbook.latest()
        team = [
            declaring.TeamPick(slot=slot, person=slot.person, backup=slot.backup)
            for slot in version.roles.select_related("role", "person", "backup")
        ]
        play.incident = declaring.declare_from_playbook(
            actor=people[MAJA], version=version, title=title, severity=version.default_severity,
            summary=f"Quarterly exercise from the “{playbook_name}” playbook.", is_drill=True, team=team,
            detected_at=declared - minutes(5),
        ).incident  # fmt: skip

    play.at(declared, "drill declared", declare)
    play.status(declared + minutes(4), Status.ASSESSING)
    play.status(declared + minutes(12), Status.RESPONDING)
    play.note(
        declared + minutes(25), MAJA, TimelineEntry.Kind.DECISION, "Holding statement first; facts after."
    )
    play.tasks_on_time(playbook_name, declared, now)
    play.note(
        declared + minutes(100), MAJA, TimelineEntry.Kind.NOTE, "Exercise ends; debrief tomorrow at 10:00."
    )
    play.status(declared + minutes(110), Status.RESOLVED)
    play.resolved_at = declared + minutes(110)
    play.status(declared + timedelta(days=1, minutes=30), Status.CLOSED)
    return play


DRILLS = (
    (330, "Data breach", "Drill: ransomware note on the warehouse system"),
    (240, "Technical outage", "Drill: payment provider down on Black Friday"),
    (150, "Executive or employee misconduct", "Drill: leaked recording of a manager"),
    (60, "Controversial post or campaign", "Drill: campaign film accused of greenwashing"),
)


def history(people: dict[str, User], now: datetime, *, skip: Callable[[str], bool]) -> list[Play]:
    """The year before `now`: every plot once, about every eleven days, and four drills. `skip(title)` leaves out
    what an earlier seeding already made (seeding is idempotent)."""
    rng = random.Random(2026)  # the same year on every machine
    order = list(PLOTS)
    rng.shuffle(order)
    plays: list[Play] = []
    for n, plot in enumerate(order):
        days = 362 - n * 11.5 - rng.uniform(0, 4)
        day = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
        declared = day + timedelta(hours=rng.randint(6, 15), minutes=rng.randint(0, 59))
        tempo = random.Random(f"{plot.title}:{n}")  # each plot's own tempo, whatever is skipped
        if not skip(plot.title):
            plays.append(past_incident(people, plot, declared, tempo))
    for days, playbook, title in DRILLS:
        declared = (now - timedelta(days=days)).replace(hour=9, minute=30, second=0, microsecond=0)
        if not skip(title):
            plays.append(drill(people, playbook, title, declared, now))
    return plays
