"""Demo data that tells one consistent story, for `make run` (idempotent: safe to run on every start).

Northwind's crisis team, its playbooks, a year of past incidents and quarterly drills (incidents/demo_history.py),
the two most recent past incidents with their hand-written reviews, and five crises going on right now. Every
story is played through the real services on the demo clock (incidents/demo_clock.py) at the moments of its own
time line, so a story's entries, statements, approvals, publications, deadlines and review agree with each other
and with what its replay, metrics and the trends show. Only what is missing (by title) is added.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from incidents import services
from incidents.demo_accounts import DEMO_PASSWORD, DEMO_USERS, demo_totp_key
from incidents.demo_clock import Step, demo_clock, minutes
from incidents.demo_history import Play, Said, history
from incidents.demo_plots import DANIEL, ERIK, MAJA, PRIYA, SOFIA
from incidents.listening.demo import seed_demo_listening
from incidents.models import (
    Audience,
    Channel,
    Incident,
    IncidentRole,
    Notification,
    OrgRole,
    OutboundEmail,
    Platform,
    RoleAssignment,
    Scenario,
    Severity,
    StatementTemplate,
    Status,
    TimelineEntry,
    User,
)
from incidents.playbooks import declaring
from incidents.playbooks import services as playbooks
from incidents.playbooks.content import RoleSpec, content_of
from incidents.playbooks.demo_languages import ensure_language_playbooks
from incidents.playbooks.models import Playbook
from incidents.publishing.demo import seed_demo_publishing
from incidents.reviews.demo import WRITTEN, ReviewPlan, review_steps
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

HISTORY_DAYS = 370  # the demo's history starts this long before today


def _ensure_users() -> dict[str, User]:
    users: dict[str, User] = {}
    hashed = (
        ""  # every demo login has the same (published) password: hash it once, not six times (~0.45 s each)
    )
    for email, name, _ in DEMO_USERS:
        user = User.objects.filter(email=email).first()
        if user is None:
            hashed = hashed or make_password(DEMO_PASSWORD)
            user = User.objects.create_user(email, None, display_name=name, **_PROFILES[email])
            user.password = hashed
            user.save(update_fields=["password"])
            if _PROFILES[email]["org_role"] == OrgRole.ADMINISTRATOR:
                user.is_staff = user.is_superuser = True
                user.save(update_fields=["is_staff", "is_superuser"])
        if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            # The published demo key (incidents/demo_accounts.py): `manage.py demo_code` shows its codes.
            TOTPDevice.objects.create(
                user=user, name="Demo authenticator", key=demo_totp_key(email).hex(), confirmed=True
            )
        users[email] = user
    return users


# --- playbooks --------------------------------------------------------------------------------------------------
# Northwind's on-call roster: who each seeded playbook proposes for a role, and their backup.
_ROSTER: dict[str, tuple[str, str | None]] = {
    "comms-lead": (ERIK, SOFIA),
    "spokesperson": (DANIEL, ERIK),
    "social": (SOFIA, ERIK),
    "support": (SOFIA, None),
    "scribe": (PRIYA, SOFIA),
    "legal": (PRIYA, None),
    "executive": (DANIEL, MAJA),
    "drafter": (ERIK, None),
}


def _staff_playbooks(users: dict[str, User]) -> None:
    """Give the seeded playbooks an owner and Northwind's people, as v2 (v1 stays: the seed as shipped)."""
    maja = users[MAJA]
    for playbook in Playbook.objects.filter(owner__isnull=True, is_retired=False):
        latest = playbook.latest()
        if latest.roles.filter(person__isnull=False).exists():
            continue
        content = content_of(latest)
        roles = tuple(
            RoleSpec(
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


def _language_playbooks(users: dict[str, User]) -> None:
    """The Polish, Swedish and Russian playbooks (incidents/playbooks/demo_languages.py), staffed from the roster."""
    people = {
        slug: (users[person], users[backup] if backup else None) for slug, (person, backup) in _ROSTER.items()
    }
    ensure_language_playbooks(owner=users[MAJA], people=people)


# --- stories told by hand: the crises of today and the two most recent past ones -------------------------------


@dataclass
class _Story:
    title: str
    scenario: str
    severity: str
    summary: str
    platforms: list[str]
    detected: datetime
    declared: datetime
    declared_by: str
    path: list[tuple[str, timedelta]] = field(default_factory=list)  # (status, time after declaration)
    is_drill: bool = False
    is_restricted: bool = False
    team: list[tuple[str, str]] = field(default_factory=list)  # (email, role slug)
    playbook: str = ""  # declared from this seeded playbook (its proposed team, checklist, injects)


def _stories(now: datetime) -> list[_Story]:
    ago = now.__sub__
    # The two past stories happen at fixed times of day ("the same afternoon"), whenever the demo is seeded.
    boots = (now - timedelta(days=12)).replace(hour=8, minute=15, second=0, microsecond=0, tzinfo=UTC)
    store = (now - timedelta(days=30)).replace(hour=9, minute=50, second=0, microsecond=0, tzinfo=UTC)
    return [
        _Story(
            title="Store manager's rant filmed by a customer",
            scenario=Scenario.CONDUCT,
            severity=Severity.SEV3,
            summary="A customer filmed a store manager shouting at a teenage employee. Manager suspended pending review.",
            platforms=[Platform.TIKTOK, Platform.X],
            detected=store - minutes(55),
            declared=store,
            declared_by=MAJA,
            team=[(PRIYA, "legal"), (ERIK, "comms-lead"), (DANIEL, "executive"), (SOFIA, "social")],
            path=[
                (Status.RESPONDING, minutes(40)),
                (Status.MONITORING, timedelta(hours=6)),
                (Status.RESOLVED, timedelta(days=2)),
                (Status.CLOSED, timedelta(days=9)),
            ],
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
            detected=boots - minutes(60),
            declared=boots,
            declared_by=MAJA,
            team=[(PRIYA, "legal"), (ERIK, "comms-lead"), (DANIEL, "executive"), (SOFIA, "social")],
            path=[
                (Status.ASSESSING, minutes(20)),
                (Status.RESPONDING, timedelta(hours=1)),
                (Status.MONITORING, timedelta(days=1)),
                (Status.RESOLVED, timedelta(days=3)),
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
            detected=ago(timedelta(days=1, hours=2)),
            declared=ago(timedelta(days=1, hours=1)),
            declared_by=SOFIA,
            team=[(ERIK, "comms-lead"), (PRIYA, "legal"), (DANIEL, "executive")],
            path=[
                (Status.ASSESSING, minutes(30)),
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
            detected=ago(timedelta(hours=6)),
            declared=ago(timedelta(hours=5, minutes=30)),
            declared_by=PRIYA,
            team=[(MAJA, "deputy"), (DANIEL, "executive")],
            path=[(Status.ASSESSING, minutes(10))],
            is_restricted=True,
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
            detected=ago(timedelta(hours=3, minutes=10)),
            declared=ago(timedelta(hours=2, minutes=45)),
            declared_by=ERIK,
            team=[(SOFIA, "social"), (MAJA, "deputy"), (DANIEL, "executive")],
            path=[(Status.ASSESSING, minutes(12))],
        ),
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
            detected=ago(minutes(52)),
            declared=ago(minutes(38)),
            declared_by=MAJA,
            path=[(Status.ASSESSING, minutes(4)), (Status.RESPONDING, minutes(19))],
            playbook="Technical outage",
            team=[(ERIK, "comms-lead"), (PRIYA, "legal"), (DANIEL, "executive"), (SOFIA, "social")],
        ),
        _Story(
            title="Drill: customer database exposed on a public forum",
            scenario=Scenario.DATA_BREACH,
            severity=Severity.SEV2,
            summary=(
                "Quarterly exercise from the data breach playbook. Scripted: a researcher's post at +30 min, "
                "the regulator asks at +60 min, counsel unreachable at +90 min."
            ),
            team=[(ERIK, "spokesperson"), (SOFIA, "scribe")],
            platforms=[Platform.X, Platform.NEWS],
            detected=ago(minutes(36)),
            declared=ago(minutes(35)),
            declared_by=MAJA,
            is_drill=True,
            playbook="Data breach",
        ),
    ]


def _told(users: dict[str, User], story: _Story, now: datetime) -> Play:
    """A hand-told story as steps: declared (from its playbook, if any), staffed, moved along its path; the
    checklist's tasks done just before they fall due, up to now."""
    play = Play(users, story.title)
    actor = users[story.declared_by]

    def declare() -> None:
        playbook = Playbook.objects.active().filter(name=story.playbook).first() if story.playbook else None
        if playbook is None:
            play.incident = services.incident_declare(
                actor=actor, title=story.title, scenario=story.scenario, severity=story.severity,
                summary=story.summary, affected_platforms=story.platforms, detected_at=story.detected,
                is_drill=story.is_drill, is_restricted=story.is_restricted,
            )  # fmt: skip
            return
        version = playbook.latest()
        team = [
            declaring.TeamPick(slot=slot, person=slot.person, backup=slot.backup)
            for slot in version.roles.select_related("role", "person", "backup")
        ]
        play.incident = declaring.declare_from_playbook(
            actor=actor, version=version, title=story.title, severity=story.severity, summary=story.summary,
            affected_platforms=story.platforms, detected_at=story.detected, is_drill=story.is_drill,
            is_restricted=story.is_restricted, team=team,
        ).incident  # fmt: skip

    play.at(story.declared, "declared", declare)
    for n, (email, slug) in enumerate(story.team):

        def join(email: str = email, slug: str = slug) -> None:
            incident = play.current
            held = RoleAssignment.objects.current().filter(
                incident=incident, user=users[email], role__slug=slug
            )
            if not held.exists():  # the playbook may have proposed them for it already
                services.team_add_member(
                    incident=incident,
                    actor=actor,
                    user=users[email],
                    role=IncidentRole.objects.get(slug=slug),
                )

        play.at(story.declared + minutes(1 + n), f"{email} joins", join)
    for status, after in story.path:
        play.status(story.declared + after, status, by=story.declared_by)
    if story.playbook:
        play.tasks_on_time(story.playbook, story.declared, now)
    return play


# --- the statements of the hand-told stories ---------------------------------------------------------------------


def _template(name: str) -> StatementTemplate | None:
    return StatementTemplate.objects.filter(name=name).first()


def _told_statements(plays: dict[str, Play], users: dict[str, User]) -> None:
    """The chain in every state: published, back in review after a rejection, approved and ready; and the past
    stories' statements as their reviews tell them."""
    checkout = plays.get("Checkout charged customers twice — #NorthwindFail trending")
    if checkout is not None:
        start = next(s.at for s in checkout.steps if s.label.endswith("declared"))

        def holding() -> None:
            template = _template("Holding statement — outage (X)")
            checkout.statements["holding"] = services.statement_create(
                incident=checkout.current, actor=users[MAJA], template=template,
                fill={"incident_title": "some payments at checkout were taken twice", "next_update_time": "21:30 CET"},
            )  # fmt: skip

        checkout.at(start + minutes(8), "holding statement from the template", holding)
        checkout.at(start + minutes(9), "submitted", lambda: checkout._submit("holding", MAJA))
        for who, at in ((PRIYA, 12), (ERIK, 14), (DANIEL, 16)):
            checkout.at(start + minutes(at), f"approved by {who}", partial(checkout._approve, "holding", who))
        checkout.at(
            start + minutes(18),
            "published",
            lambda: checkout._publish("holding", SOFIA, "https://x.com/northwind/status/1850000000000000000"),
        )
        refund = (
            "Between 19:15 and 20:05 CET some card payments at checkout were taken twice. This was our mistake, "
            "not your bank's, and we are sorry.\n\n"
        )
        website = Said(
            author=MAJA,
            channel=Channel.WEBSITE,
            audience=Audience.CUSTOMERS,
            title="Double charges at checkout: what happened and your refund",
            body=refund
            + "Every duplicate charge will be refunded automatically within 24 hours. You do not need "
            "to contact us or your bank.\n\nWe will post our next update here by 21:30 CET.",
        )

        def draft() -> None:
            checkout.statements["website"] = services.statement_create(
                incident=checkout.current, actor=users[MAJA], channel=website.channel, audience=website.audience,
                title=website.title, body=website.body,
            )  # fmt: skip

        checkout.at(start + minutes(21), "website statement drafted", draft)
        checkout.at(start + minutes(22), "submitted", lambda: checkout._submit("website", MAJA))
        checkout.at(
            start + minutes(26),
            "rejected by Legal",
            lambda: checkout._reject(
                "website",
                PRIYA,
                "Do not promise 24 hours until Payments confirms the refund batch; say 'within three working days'.",
            ),
        )
        revised = website.body.replace("within 24 hours", "within three working days")
        checkout.at(start + minutes(30), "revised", lambda: checkout._revise("website", MAJA, revised))
        checkout.at(start + minutes(31), "resubmitted", lambda: checkout._submit("website", MAJA))
    rumour = plays.get("Rumour that our rain jackets contain banned PFAS")
    if rumour is not None:
        start = next(s.at for s in rumour.steps if s.label.endswith("declared"))
        first = Said(
            author=SOFIA,
            channel=Channel.FACEBOOK,
            title="Holding statement: Storm jackets and PFAS",
            body=(
                "We've seen the posts saying our Storm jackets contain PFAS banned in the EU. We're checking "
                "with our lab and will share what we find here today."
            ),
            approvals=((PRIYA, minutes(12)), (ERIK, minutes(5)), (DANIEL, minutes(9))),
        )
        rumour.statement(start + minutes(75), "holding", first)

        def facts() -> None:
            rumour.statements["facts"] = services.statement_create(
                incident=rumour.current, actor=users[SOFIA], template=_template("Rumour correction — Facebook"),
                fill={
                    "claim": "that our Storm jackets contain PFAS banned in the EU",
                    "action": "the Storm line has been PFC-free since 2023, confirmed by independent lab tests",
                    "contact": "northwind.example/storm-lab-report",
                    "next_update_time": "Friday 12:00 CET",
                },
                supersedes=rumour.statements["holding"],
            )  # fmt: skip

        # The lab's answer, approved and ready to go out when the full report is online. A pure template fill on
        # a SEV3 incident: the shorter "Template fill" chain applies (Erik signs).
        rumour.at(start + timedelta(hours=7), "facts from the template", facts)
        rumour.at(start + timedelta(hours=7, minutes=2), "submitted", lambda: rumour._submit("facts", SOFIA))
        rumour.at(
            start + timedelta(hours=7, minutes=20), "approved by Erik", lambda: rumour._approve("facts", ERIK)
        )
    _past_told(plays, users)


def _past_told(plays: dict[str, Play], users: dict[str, User]) -> None:
    """The two most recent past incidents, played to match their hand-written reviews (incidents/reviews/demo.py)."""
    boots = plays.get("Viral complaint: winter boots splitting after two weeks")
    if boots is not None:
        t = next(s.at for s in boots.steps if s.label.endswith("declared"))
        boots.note(
            t + minutes(50),
            ERIK,
            TimelineEntry.Kind.NOTE,
            "Quality confirms: batch 23-41, glue defect on the sole.",
        )
        boots.note(
            t + minutes(55),
            PRIYA,
            TimelineEntry.Kind.NOTE,
            "In the product-liability workshop until 10:00; will review the statement after.",
        )
        apology = Said(
            author=SOFIA,
            channel=Channel.INSTAGRAM,
            title="Winter boots from batch 23-41",
            body=(
                "Some of our winter boots from batch 23-41 split at the sole after a few weeks. That's not good "
                "enough and we're sorry. If yours are from that batch, we replace them for free, no receipt "
                "needed: northwind.example/boots."
            ),
            submit_after=minutes(5),
            approvals=((PRIYA, minutes(70)), (ERIK, minutes(6)), (DANIEL, minutes(5))),  # Legal in a workshop
        )
        published = boots.statement(t + minutes(30), "apology", apology)
        checker = Said(
            author=SOFIA,
            channel=Channel.WEBSITE,
            audience=Audience.CUSTOMERS,
            title="Batch checker: winter boots",
            body=(
                "Enter the batch number printed inside the tongue of your boots to see whether they are from "
                "batch 23-41. If they are, we replace them for free. We're sorry for the trouble."
            ),
            approvals=((PRIYA, minutes(8)), (ERIK, minutes(4)), (DANIEL, minutes(6))),
        )
        boots.statement(published + timedelta(hours=20), "checker", checker, supersedes="apology")
        boots.note(
            t + timedelta(days=1, hours=6),
            ERIK,
            TimelineEntry.Kind.NOTE,
            "Support contacts about the boots down by half since the batch checker went live.",
        )
    store = plays.get("Store manager's rant filmed by a customer")
    if store is not None:
        t = next(s.at for s in store.steps if s.label.endswith("declared"))
        store.note(
            t + minutes(25),
            ERIK,
            TimelineEntry.Kind.NOTE,
            "HR: the manager is suspended pending review, effective today.",
        )
        said = Said(
            author=SOFIA,
            channel=Channel.TIKTOK,
            title="About the video from our store",
            body=(
                "The way our store manager spoke to a young colleague in this video is not acceptable. The "
                "manager has been suspended while we look into it, and we are supporting our colleague."
            ),
            approvals=((PRIYA, minutes(35)), (ERIK, minutes(20)), (DANIEL, minutes(25))),
        )
        store.statement(
            t + timedelta(hours=3), "suspension", said
        )  # out at about 14:10 UTC, the same afternoon
        store.note(
            t + timedelta(hours=5),
            ERIK,
            TimelineEntry.Kind.NOTE,
            "The regional manager called: heard about it from the local paper.",
        )


# --- putting it together ----------------------------------------------------------------------------------------


@transaction.atomic
def seed_demo() -> int:
    """Create the demo team, playbooks and incidents that do not exist yet; returns how many incidents were
    added. Everything is played on the demo clock, from a year ago up to now."""
    users = _ensure_users()
    _language_playbooks(users)
    now = timezone.now()
    existing = set(Incident.objects.values_list("title", flat=True))
    plays = history(users, now, skip=existing.__contains__)
    told = {s.title: _told(users, s, now) for s in _stories(now) if s.title not in existing}
    _told_statements(told, users)
    plays += told.values()
    if not plays:
        return 0  # all there: beat fires whatever falls due from now on
    for play in plays:
        _reviews(play, now)
    start = min([s.at for p in plays for s in p.steps], default=now)
    with demo_clock(min(start, now - timedelta(days=HISTORY_DAYS))) as clock:
        _staff_playbooks(users)
        clock.play([step for play in plays for step in play.steps])
        clock.advance(now)
    _settle_old_messages(now)
    seed_demo_listening(users)  # six weeks of chatter up to now, and the checkout storm on today's crisis
    seed_demo_publishing()
    seed_demo_stakeholders(users)
    return len(plays)


def _reviews(play: Play, now: datetime) -> None:
    """The review of a past incident, a day or two after it was resolved (the most recent ones not signed off)."""
    resolved = play.resolved_at or next(
        (s.at for s in play.steps if s.label.endswith(f": {Status.RESOLVED}")), None
    )
    if resolved is None:
        return
    plot = play.plot
    plan = WRITTEN.get(play.title) or (
        ReviewPlan(plot.narrative, plot.well, plot.badly, plot.lesson, (plot.follow_up,)) if plot else None
    )
    if plan is None:  # a drill: a short after-action review
        plan = ReviewPlan(
            "Quarterly exercise; every scripted inject arrived and was answered.",
            "Roles were staffed from the playbook in a minute.",
            "The checklist's early tasks were easy to miss while the first injects came in.",
            "Keep running the drill every quarter with a different playbook.",
            (),
        )
    rng = random.Random(f"review:{play.title}")
    written = resolved + timedelta(hours=rng.randint(20, 44))
    signed = written + timedelta(days=1, hours=rng.randint(0, 30))  # within the review's due date (5 days)
    recent = now - resolved < timedelta(days=14)
    keep_open = play.title in WRITTEN and WRITTEN[play.title].feedback and recent
    review_steps(
        play.at, lambda: play.current, plan, written=written,
        signed=None if (keep_open or signed >= now) else signed, now=now, rng=rng,
    )  # fmt: skip


def _settle_old_messages(now: datetime) -> None:
    """Demo only: what the history told people long ago has been read and delivered; the bell and the outbox
    start with the messages of the last day (the crises of today)."""
    cutoff = now - timedelta(days=1)
    Notification.objects.filter(read_at__isnull=True, created_at__lt=cutoff).update(read_at=cutoff)
    OutboundEmail.objects.filter(sent_at__isnull=True, created_at__lt=cutoff).update(sent_at=cutoff)


__all__ = ["Step", "seed_demo"]
