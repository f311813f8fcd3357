"""Demo data that looks like a real crisis, for `make run` (idempotent: safe to run on every start)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from incidents import services
from incidents.demo_accounts import DEMO_PASSWORD, DEMO_USERS
from incidents.listening.demo import seed_demo_listening
from incidents.models import (
    Audience,
    Channel,
    Deadline,
    DeadlineKind,
    Incident,
    IncidentChange,
    IncidentRole,
    OrgRole,
    Platform,
    RoleAssignment,
    Scenario,
    Severity,
    Statement,
    StatementTemplate,
    Status,
    User,
)
from incidents.playbooks import declaring
from incidents.playbooks import services as playbooks
from incidents.playbooks.clocks import follow_awareness
from incidents.playbooks.models import DrillInject, Playbook
from incidents.publishing.demo import seed_demo_publishing
from incidents.reviews.demo import seed_demo_reviews
from incidents.services.deadlines import deadline_complete, deadline_reschedule
from incidents.services.reminders import plan_reminders
from incidents.stakeholders.demo import seed_demo_stakeholders

_PROFILES: dict[str, dict[str, str]] = {
    "maja@northwind.example": {
        "phone": "+48 601 220 114",
        "time_zone": "Europe/Warsaw",
        "org_role": OrgRole.CRISIS_MANAGER,
    },
    "erik@northwind.example": {
        "phone": "+46 70 481 22 90",
        "time_zone": "Europe/Stockholm",
        "org_role": OrgRole.MEMBER,
    },
    "priya@northwind.example": {
        "phone": "+44 7700 900 482",
        "time_zone": "Europe/London",
        "org_role": OrgRole.MEMBER,
    },
    "daniel@northwind.example": {
        "phone": "+1 646 555 0142",
        "time_zone": "America/New_York",
        "org_role": OrgRole.MEMBER,
    },
    "sofia@northwind.example": {
        "phone": "+7 916 555 31 08",
        "time_zone": "Europe/Moscow",
        "org_role": OrgRole.MEMBER,
    },
    "admin@northwind.example": {"phone": "", "time_zone": "UTC", "org_role": OrgRole.ADMINISTRATOR},
}


@dataclass
class _Story:
    title: str
    scenario: str
    severity: str
    summary: str
    platforms: list[str]
    detected_ago: timedelta
    declared_ago: timedelta
    declared_by: str
    path: list[tuple[str, timedelta]] = field(default_factory=list)  # (status, time after declaration)
    is_drill: bool = False
    is_restricted: bool = False
    team: list[tuple[str, str]] = field(default_factory=list)  # (email, role slug)
    playbook: str = ""  # declared from this seeded playbook (its proposed team, checklist, injects)


_STORIES = [
    _Story(
        title="Checkout charged customers twice — #NorthwindFail trending",
        scenario=Scenario.OUTAGE,
        severity=Severity.SEV1,
        summary=(
            "Since about 19:40 the payment step retries silently and some customers see two charges. "
            "A customer's screenshot thread on X has 4k reposts; Reddit r/frugal picked it up. "
            "Support queue is at 3x normal. Payments team is rolling back the 19:15 release."
        ),
        platforms=[Platform.X, Platform.REDDIT, Platform.FACEBOOK, Platform.WEBSITE],
        detected_ago=timedelta(minutes=52),
        declared_ago=timedelta(minutes=38),
        declared_by="maja@northwind.example",
        path=[(Status.ASSESSING, timedelta(minutes=4)), (Status.RESPONDING, timedelta(minutes=19))],
        playbook="Technical outage",
        team=[
            ("erik@northwind.example", "comms-lead"),
            ("priya@northwind.example", "legal"),
            ("daniel@northwind.example", "executive"),
            ("sofia@northwind.example", "social"),
        ],
    ),
    _Story(
        title="Winter campaign video called insensitive by creators",
        scenario=Scenario.CONTROVERSIAL_POST,
        severity=Severity.SEV2,
        summary=(
            "Our 'Cold is for quitters' TikTok ad is being stitched by creators who say it mocks homeless "
            "people. Sentiment on the campaign hashtag turned 70% negative in two hours. "
            "Scheduled posts for the campaign are paused."
        ),
        platforms=[Platform.TIKTOK, Platform.INSTAGRAM, Platform.X],
        detected_ago=timedelta(hours=3, minutes=10),
        declared_ago=timedelta(hours=2, minutes=45),
        declared_by="erik@northwind.example",
        path=[(Status.ASSESSING, timedelta(minutes=12))],
        team=[
            ("sofia@northwind.example", "social"),
            ("maja@northwind.example", "deputy"),
            ("daniel@northwind.example", "executive"),
        ],
    ),
    _Story(
        title="Rumour that our rain jackets contain banned PFAS",
        scenario=Scenario.MISINFORMATION,
        severity=Severity.SEV3,
        summary=(
            "A Facebook group post claims our Storm line uses PFAS banned in the EU. Lab certificates say "
            "otherwise (PFC-free since 2023). Two regional news sites asked for comment."
        ),
        platforms=[Platform.FACEBOOK, Platform.NEWS],
        detected_ago=timedelta(days=1, hours=2),
        declared_ago=timedelta(days=1, hours=1),
        declared_by="sofia@northwind.example",
        team=[("erik@northwind.example", "comms-lead"), ("priya@northwind.example", "legal")],
        path=[
            (Status.ASSESSING, timedelta(minutes=30)),
            (Status.RESPONDING, timedelta(hours=2)),
            (Status.MONITORING, timedelta(hours=9)),
        ],
    ),
    _Story(
        title="Suspected exposure of loyalty-programme email addresses",
        scenario=Scenario.DATA_BREACH,
        severity=Severity.SEV1,
        summary=(
            "A security researcher reports a misconfigured export bucket holding ~80k loyalty members' emails. "
            "Restricted: legal and the commander only until the facts are established; 72-hour regulator "
            "clock may apply."
        ),
        platforms=[Platform.OTHER],
        detected_ago=timedelta(hours=6),
        declared_ago=timedelta(hours=5, minutes=30),
        declared_by="priya@northwind.example",
        team=[("maja@northwind.example", "deputy"), ("daniel@northwind.example", "executive")],
        path=[(Status.ASSESSING, timedelta(minutes=10))],
        is_restricted=True,
    ),
    _Story(
        title="Drill: customer database exposed on a public forum",
        scenario=Scenario.DATA_BREACH,
        severity=Severity.SEV2,
        summary=(
            "Quarterly exercise from the data breach playbook. Scripted: a researcher's post at +30 min, "
            "the regulator asks at +60 min, counsel unreachable at +90 min."
        ),
        team=[("erik@northwind.example", "spokesperson"), ("sofia@northwind.example", "scribe")],
        platforms=[Platform.X, Platform.NEWS],
        detected_ago=timedelta(minutes=36),
        declared_ago=timedelta(minutes=35),
        declared_by="maja@northwind.example",
        is_drill=True,
        playbook="Data breach",
    ),
    _Story(
        title="Viral complaint: winter boots splitting after two weeks",
        scenario=Scenario.COMPLAINT,
        severity=Severity.SEV2,
        summary=(
            "A hiking vlogger's video of split soles reached 1.2M views. Batch 23-41 had a glue defect; "
            "we offered free replacement and published the batch checker."
        ),
        platforms=[Platform.YOUTUBE, Platform.INSTAGRAM, Platform.REVIEWS],
        detected_ago=timedelta(days=12, hours=5),
        declared_ago=timedelta(days=12, hours=4),
        declared_by="maja@northwind.example",
        path=[
            (Status.ASSESSING, timedelta(minutes=20)),
            (Status.RESPONDING, timedelta(hours=1)),
            (Status.MONITORING, timedelta(days=1)),
            (Status.RESOLVED, timedelta(days=3)),
        ],
    ),
    _Story(
        title="Store manager's rant filmed by a customer",
        scenario=Scenario.CONDUCT,
        severity=Severity.SEV3,
        summary="A customer filmed a store manager shouting at a teenage employee. Manager suspended pending review.",
        platforms=[Platform.TIKTOK, Platform.X],
        detected_ago=timedelta(days=30, hours=3),
        declared_ago=timedelta(days=30, hours=2),
        declared_by="erik@northwind.example",
        path=[
            (Status.RESPONDING, timedelta(minutes=40)),
            (Status.MONITORING, timedelta(hours=6)),
            (Status.RESOLVED, timedelta(days=2)),
            (Status.CLOSED, timedelta(days=9)),
        ],
    ),
]


def _ensure_users() -> dict[str, User]:
    users: dict[str, User] = {}
    for email, name, _ in DEMO_USERS:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, DEMO_PASSWORD, display_name=name, **_PROFILES[email])
            if _PROFILES[email]["org_role"] == OrgRole.ADMINISTRATOR:
                user.is_staff = user.is_superuser = True
                user.save(update_fields=["is_staff", "is_superuser"])
        users[email] = user
    return users


# --- playbooks --------------------------------------------------------------------------------------------------
# Northwind's on-call roster: who each seeded playbook proposes for a role, and their backup.
_ROSTER: dict[str, tuple[str, str | None]] = {
    "comms-lead": ("erik@northwind.example", "sofia@northwind.example"),
    "spokesperson": ("daniel@northwind.example", "erik@northwind.example"),
    "social": ("sofia@northwind.example", "erik@northwind.example"),
    "support": ("sofia@northwind.example", None),
    "scribe": ("priya@northwind.example", "sofia@northwind.example"),
    "legal": ("priya@northwind.example", None),
    "executive": ("daniel@northwind.example", "maja@northwind.example"),
    "drafter": ("erik@northwind.example", None),
}


def _staff_playbooks(users: dict[str, User]) -> None:
    """Give the seeded playbooks an owner and Northwind's people, as v2 (v1 stays: the seed as shipped)."""
    maja = users["maja@northwind.example"]
    for playbook in Playbook.objects.filter(owner__isnull=True, is_retired=False):
        latest = playbook.latest()
        if latest.roles.filter(person__isnull=False).exists():
            continue
        content = playbooks.content_of(latest)
        roles = tuple(
            playbooks.RoleSpec(
                role=spec.role,
                person=users[_ROSTER[spec.role.slug][0]] if spec.role.slug in _ROSTER else None,
                backup=users.get(_ROSTER[spec.role.slug][1] or "") if spec.role.slug in _ROSTER else None,
            )
            for spec in content.roles
        )
        playbooks.playbook_save_version(
            playbook=playbook,
            actor=maja,
            base_number=playbook.latest_number,
            owner=maja,
            content=replace(content, roles=roles, change_note="Northwind's on-call roster filled in"),
        )


def _declare(story: _Story, actor: User) -> Incident:
    playbook = Playbook.objects.active().filter(name=story.playbook).first() if story.playbook else None
    if playbook is None:
        return services.incident_declare(
            actor=actor,
            title=story.title,
            scenario=story.scenario,
            severity=story.severity,
            summary=story.summary,
            affected_platforms=story.platforms,
            is_drill=story.is_drill,
            is_restricted=story.is_restricted,
        )
    version = playbook.latest()
    team = [
        declaring.TeamPick(slot=slot, person=slot.person, backup=slot.backup)
        for slot in version.roles.select_related("role", "person", "backup")
    ]
    return declaring.declare_from_playbook(
        actor=actor,
        version=version,
        title=story.title,
        severity=story.severity,
        summary=story.summary,
        affected_platforms=story.platforms,
        is_drill=story.is_drill,
        is_restricted=story.is_restricted,
        team=team,
    ).incident


def _shift_playbook_clock(incident: Incident, ago: timedelta) -> None:
    """The story was declared `ago` earlier than now, so its checklist moves back with it: tasks whose time
    has passed were done by the team (completed), the rest are rescheduled through the deadline service
    (reminders re-planned). Drill injects move back too; those already due arrive at the next sweep.
    Regulatory clocks count from the story's (earlier) detection time."""
    now = timezone.now()
    moved = Incident.objects.get(pk=incident.pk)
    follow_awareness(incident=moved, actor=moved.declared_by)
    for deadline in Deadline.objects.filter(incident=incident, key__startswith="playbook-task:"):
        due = deadline.due_at - ago
        if due > now:
            deadline_reschedule(deadline=deadline, actor=None, due_at=due)
        else:
            deadline_complete(deadline=deadline, actor=incident.commander)
    # The first public response is due by the SLA from the story's declaration. Stories that publish a
    # statement complete it below; a story still being assessed is simply late, as it would be, and its
    # reminders say so; one that has moved past that made its response in time.
    status = Incident.objects.values_list("status", flat=True).get(pk=incident.pk)
    for deadline in Deadline.objects.open().filter(incident=incident, kind=DeadlineKind.FIRST_RESPONSE):
        due = deadline.due_at - ago
        if due > now:
            deadline_reschedule(deadline=deadline, actor=None, due_at=due)
            continue
        if status not in (Status.DETECTED, Status.ASSESSING):
            deadline_complete(deadline=deadline, actor=incident.commander)
            continue
        # People may not move a deadline into the past; the story's history needs exactly that.
        Deadline.objects.filter(pk=deadline.pk).update(
            due_at=due, original_due_at=due, version=F("version") + 1
        )
        deadline.refresh_from_db()
        plan_reminders(deadline)
    DrillInject.objects.filter(incident=incident).update(due_at=F("due_at") - ago)


@transaction.atomic
def seed_demo() -> int:
    """Create the demo team and incidents that do not exist yet; returns how many incidents were added."""
    users = _ensure_users()
    _staff_playbooks(users)
    added = 0
    now = timezone.now()
    for story in _STORIES:
        if Incident.objects.filter(title=story.title).exists():
            continue
        actor = users[story.declared_by]
        incident = _declare(story, actor)
        for email, slug in story.team:
            if (
                RoleAssignment.objects.current()
                .filter(incident=incident, user=users[email], role__slug=slug)
                .exists()
            ):
                continue  # the playbook already proposed them for it
            services.team_add_member(
                incident=incident, actor=actor, user=users[email], role=IncidentRole.objects.get(slug=slug)
            )
        for new_status, _after in story.path:
            incident = services.incident_change_status(incident=incident, actor=actor, new_status=new_status)
        # Move the story back in time so the dashboard shows realistic ages. Demo data only: real
        # incidents never get their timestamps rewritten.
        declared = now - story.declared_ago
        Incident.objects.filter(pk=incident.pk).update(
            declared_at=declared, detected_at=now - story.detected_ago
        )
        last = declared
        changes = list(IncidentChange.objects.filter(incident=incident).order_by("pk"))
        for change, (_status, after) in zip(changes, story.path, strict=True):
            last = declared + after
            IncidentChange.objects.filter(pk=change.pk).update(changed_at=last)
        stamps: dict[str, object] = {"status_changed_at": last}
        if incident.resolved_at:
            stamps["resolved_at"] = declared + next(a for s, a in story.path if s == Status.RESOLVED)
        if incident.closed_at:
            stamps["closed_at"] = last
        Incident.objects.filter(pk=incident.pk).update(**stamps)
        _shift_playbook_clock(incident, now - declared)
        added += 1
    _seed_statements(users)
    seed_demo_reviews()
    seed_demo_listening(users)
    seed_demo_publishing()
    seed_demo_stakeholders(users)
    return added


# --- demo statements ------------------------------------------------------------------------------------------
# Each story's statements, walked through the real services, so the room shows every state of the chain.


def _approve_current(statement: Statement, *people: User) -> Statement:
    for person in people:
        statement = Statement.objects.select_related("current_version", "incident").get(pk=statement.pk)
        version = statement.current_version
        assert version is not None
        services.statement_approve(
            statement=statement, actor=person, version_number=version.number, sha256=version.sha256
        )
    return Statement.objects.select_related("current_version", "incident").get(pk=statement.pk)


def _submit(statement: Statement, actor: User) -> Statement:
    return services.statement_submit(statement=statement, actor=actor, version_number=statement.version)


def _seed_statements(users: dict[str, User]) -> None:
    """Statements in three stories: published, back in review after a rejection, approved and ready."""
    maja, erik, priya, daniel, sofia = (
        users[f"{name}@northwind.example"] for name in ("maja", "erik", "priya", "daniel", "sofia")
    )
    holding_template = StatementTemplate.objects.filter(name="Holding statement — outage (X)").first()
    facts_template = StatementTemplate.objects.filter(name="Rumour correction — Facebook").first()
    checkout = Incident.objects.filter(title__startswith="Checkout charged customers twice").first()
    if (
        checkout is not None
        and holding_template is not None
        and not Statement.objects.filter(incident=checkout).exists()
    ):
        holding = services.statement_create(
            incident=checkout,
            actor=maja,
            template=holding_template,
            fill={
                "incident_title": "some payments at checkout were taken twice",
                "next_update_time": "21:30 CET",
            },
        )
        holding = _approve_current(_submit(holding, maja), priya, erik, daniel)
        services.statement_publish(
            statement=holding,
            actor=sofia,
            version_number=holding.version,
            link="https://x.com/northwind/status/1850000000000000000",
        )
        website = services.statement_create(
            incident=checkout,
            actor=maja,
            channel=Channel.WEBSITE,
            audience=Audience.CUSTOMERS,
            title="Double charges at checkout: what happened and your refund",
            body=(
                "Between 19:15 and 20:05 CET some card payments at checkout were taken twice. This was our "
                "mistake, not your bank's, and we are sorry.\n\n"
                "Every duplicate charge will be refunded automatically within 24 hours. You do not need to "
                "contact us or your bank.\n\nWe will post our next update here by 21:30 CET."
            ),
        )
        website = _submit(website, maja)
        services.statement_reject(
            statement=website,
            actor=priya,
            version_number=1,
            reason="Do not promise 24 hours until Payments confirms the refund batch; say 'within three working days'.",
        )
        website = services.statement_save_draft(
            statement=website,
            actor=maja,
            expected_version=1,
            body=(
                "Between 19:15 and 20:05 CET some card payments at checkout were taken twice. This was our "
                "mistake, not your bank's, and we are sorry.\n\n"
                "Every duplicate charge will be refunded automatically within three working days. You do not "
                "need to contact us or your bank.\n\nWe will post our next update here by 21:30 CET."
            ),
        )
        _submit(website, maja)
    rumour = Incident.objects.filter(title__startswith="Rumour that our rain jackets").first()
    if (
        rumour is not None
        and facts_template is not None
        and not Statement.objects.filter(incident=rumour).exists()
    ):
        facts = services.statement_create(
            incident=rumour,
            actor=sofia,
            template=facts_template,
            fill={
                "claim": "that our Storm jackets contain PFAS banned in the EU",
                "action": "the Storm line has been PFC-free since 2023, confirmed by independent lab tests",
                "contact": "northwind.example/storm-lab-report",
                "next_update_time": "Friday 12:00 CET",
            },
        )
        # A pure template fill on a SEV3 incident: the shorter "Template fill" chain applies (Erik signs).
        _approve_current(_submit(facts, sofia), erik)
