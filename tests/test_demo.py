"""The demo tells one consistent story (incidents/demo.py): every seeded incident's entries, statements,
publications and review agree in time and content; the replay and metrics of each past incident show what its
review says; Trends and the archive have a year to show; seeding again changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from incidents.models import (
    Approval,
    ChainStep,
    DeadlineKind,
    Incident,
    Notification,
    Publication,
    Reminder,
    ReminderState,
    Scenario,
    StatementVersion,
    TimelineEntry,
    User,
)
from incidents.reviews.metrics import format_duration, incident_metrics
from incidents.reviews.models import Review, ReviewSection, SectionKey
from incidents.reviews.trends import trends_context
from incidents.services.deadlines import policy_for
from tests.helpers import snapshot

pytestmark = pytest.mark.django_db

SEEDED_TABLES = [
    "incidents_incident",
    "incidents_incidentchange",
    "incidents_timelineentry",
    "incidents_statement",
    "incidents_statementversion",
    "incidents_approval",
    "incidents_publication",
    "incidents_deadline",
    "incidents_reminder",
    "incidents_notification",
    "reviews_review",
    "reviews_reviewsection",
    "reviews_followup",
    "reviews_feedback",
]


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker) -> Iterator[dict[str, object]]:
    """The demo, seeded once for the module (about 15 s) inside a transaction rolled back at the end."""
    from incidents.demo import seed_demo

    with django_db_blocker.unblock(), transaction.atomic():
        added = seed_demo()
        yield {"added": added, "at": timezone.now()}
        transaction.set_rollback(True)


@pytest.fixture
def maja(seeded) -> User:
    return User.objects.get(email="maja@northwind.example")


def past() -> list[Incident]:
    return list(Incident.objects.archived().order_by("declared_at"))


def test_a_year_of_past_incidents_and_drills_across_scenarios(seeded):
    incidents = past()
    real = [i for i in incidents if not i.is_drill]
    assert seeded["added"] == Incident.objects.count() >= 35
    assert len(real) >= 30
    assert sum(i.is_drill for i in incidents) >= 4
    assert {i.scenario for i in real} >= {s for s in Scenario.values if s not in ("legal", "other")}
    span = real[-1].declared_at - real[0].declared_at
    assert span > timedelta(days=330)
    months = {i.declared_at.strftime("%Y-%m") for i in real}
    assert len(months) >= 12


def test_every_entry_is_stamped_in_its_incidents_own_time(seeded):
    now = seeded["at"]
    for incident in Incident.objects.all():
        entries = list(TimelineEntry.objects.filter(incident=incident).order_by("seq"))
        assert entries, incident
        assert entries[0].occurred_at >= incident.declared_at, incident  # declared is the first thing said
        for e in entries:
            # Written by the services at the moment of the story: logged when it happened, never in the future,
            # and the stored fragment shows that very time.
            assert e.recorded_at == e.occurred_at, (incident, e.seq)
            assert e.occurred_at <= now, (incident, e.seq)
            assert f'datetime="{e.occurred_at.astimezone(UTC).isoformat()}"' in e.html, (incident, e.seq)
        # seq order is time order: the story was told in sequence
        assert [e.occurred_at for e in entries] == sorted(e.occurred_at for e in entries), incident


def test_statements_approvals_and_publications_happen_in_order_within_the_incident(seeded):
    for incident in Incident.objects.all():
        end = incident.closed_at or incident.resolved_at
        for pub in Publication.objects.filter(statement__incident=incident).select_related("version"):
            version = pub.version
            assert incident.declared_at <= version.created_at <= pub.published_at, incident
            decided = list(Approval.objects.filter(version=version).values_list("decided_at", flat=True))
            assert decided, (incident, "published without approvals")
            assert max(decided) <= pub.published_at, incident
            assert end is None or pub.published_at <= end, incident
        for step in ChainStep.objects.filter(version__statement__incident=incident):
            if step.activated_at and step.completed_at:
                assert step.activated_at <= step.completed_at, incident
        for version in StatementVersion.objects.filter(statement__incident=incident):
            assert version.created_at >= incident.declared_at, incident


def test_the_replay_of_every_past_incident_ends_with_all_its_entries(seeded, maja, client):
    """The replay runs from detection to the incident's last record (not to today), and at its last position
    every entry and every publication is shown: each one's moment lies within the slider's range."""
    client.force_login(maja)
    for incident in past():
        page = client.get(reverse("reviews:replay", args=[incident.code])).content.decode()
        start = int(re.search(r'data-start="(\d+)"', page).group(1))  # type: ignore[union-attr]
        end = int(re.search(r'data-end="(\d+)"', page).group(1))  # type: ignore[union-attr]
        known = page.split('id="replay-entries"')[1].split("</ol>")[0]
        said = page.split('id="replay-public"')[1].split("</ol>")[0] if 'id="replay-public"' in page else ""
        entries = [int(x) for x in re.findall(r'data-at="(\d+)"', known)]
        published = [int(x) for x in re.findall(r'data-at="(\d+)"', said)]
        assert len(entries) == TimelineEntry.objects.filter(incident=incident).count() > 5, incident
        assert len(published) == Publication.objects.filter(statement__incident=incident).count(), incident
        assert all(start - 1000 <= m <= end for m in entries + published), incident
        times = [
            incident.detected_at,
            incident.resolved_at,
            incident.closed_at or incident.detected_at,
            *TimelineEntry.objects.filter(incident=incident).values_list("occurred_at", flat=True),
            *Publication.objects.filter(statement__incident=incident).values_list("published_at", flat=True),
        ]
        assert end == int(max(t for t in times if t is not None).timestamp() * 1000), incident
        assert start == int(incident.detected_at.timestamp() * 1000), incident


def _claims(incident: Incident) -> dict[str, str]:
    return dict(ReviewSection.objects.filter(review__incident=incident).values_list("key", "text"))


def test_each_review_says_only_what_the_incidents_record_shows(seeded):
    checked = 0
    for incident in past():
        review = Review.objects.filter(incident=incident).first()
        assert review is not None, incident
        text = _claims(incident)
        summary, well, badly = (
            text[SectionKey.SUMMARY],
            text[SectionKey.WENT_WELL],
            text[SectionKey.WENT_BADLY],
        )
        assert summary, incident
        assert text[SectionKey.LESSONS], incident
        m = incident_metrics(incident)
        published = [
            b.lower()
            for b in Publication.objects.filter(statement__incident=incident).values_list(
                "version__body", flat=True
            )
        ]
        first = next((d for d in m.deadlines if d.kind == DeadlineKind.FIRST_RESPONSE), None)
        severity = incident.get_severity_display()
        if re.search(r"apologi[sz]ed publicly|with an apology", summary, re.I):
            assert any("sorry" in b or "apologi" in b for b in published), (incident, "apology claimed")
        if re.search(r"publicly|statements? went out", summary, re.I):
            assert m.publications >= 1, (incident, "a public statement claimed")
        if "Nothing was published" in summary:
            assert m.publications == 0, incident
        said = re.search(r"We said so publicly (.+?) after declaring", summary)
        if said:
            assert said.group(1) == format_duration(m.declared_to_first_statement), incident
        went_out = re.search(r"(\d+) statements went out in all", summary)
        if went_out:
            assert int(went_out.group(1)) == m.publications, incident
        if f"took longer than the {severity} target" in badly:
            assert first is not None, incident
            assert first.was_met is False, (incident, "a late first response claimed")
        if f"within the {severity} target" in well:
            assert first is not None, incident
            assert first.was_met is True, (incident, "an on-time first response claimed")
        target = re.search(r"against (\d+) min", badly + well)
        if target:
            assert int(target.group(1)) == policy_for(incident.severity).first_response_minutes, incident
        if "same afternoon" in summary:
            assert m.first_published_at is not None
            assert m.first_published_at.date() == incident.declared_at.date(), incident
            assert 12 <= m.first_published_at.hour < 18, incident
        if "no statement revisions needed" in well:
            assert m.statement_revisions == m.statements, incident
            assert not Approval.objects.filter(
                version__statement__incident=incident, decision=Approval.Decision.REJECTED
            ).exists(), incident
        if "sent the first draft back" in badly:
            assert Approval.objects.filter(
                version__statement__incident=incident, decision=Approval.Decision.REJECTED
            ).exists(), incident
        checked += 1
    assert checked >= 30


def test_the_most_recent_reviews_are_open_and_older_ones_signed_off_with_their_follow_ups(seeded):
    now = seeded["at"]
    for incident in past():
        review = Review.objects.get(incident=incident)
        if review.is_locked:
            assert review.signed_off_at is not None
            assert incident.resolved_at is not None
            assert incident.resolved_at < review.signed_off_at <= now, incident
        for follow_up in review.follow_ups.all():
            assert follow_up.deadline is not None
            assert follow_up.created_at >= incident.resolved_at, incident  # type: ignore[operator]
            if follow_up.done_at is not None:
                assert follow_up.created_at <= follow_up.done_at <= now, incident
            else:
                assert follow_up.due_at > now - timedelta(days=3), (incident, "an old follow-up left open")
    boots = Review.objects.get(incident__title__startswith="Viral complaint: winter boots")
    assert not boots.is_locked


def test_trends_have_data_for_every_chart(seeded, maja):
    context = trends_context(maja)
    assert context["incident_count"] >= 30
    assert context["drills_excluded"] >= 4
    for chart in context["charts"]:
        assert "chart-bar" in chart.svg, chart.title
    months = context["months"]
    assert len(months) == 12
    assert all(g.to_statement is not None for g in months), [g.label for g in months]
    assert all(g.met_rate is not None for g in months)
    assert {g.label for g in context["scenarios"] if g.to_statement is not None} >= {
        str(label) for value, label in Scenario.choices if value not in ("legal", "other")
    }


def test_the_archive_and_the_bell_start_from_a_lived_in_state(seeded, maja, client):
    client.force_login(maja)
    page = client.get(reverse("incidents:past")).content.decode()
    assert page.count("INC-2025-") + page.count("INC-2026-") >= 30
    day_ago = seeded["at"] - timedelta(days=1)
    # What the history told people long ago has been read; only the crises of today ring the bell.
    assert not Notification.objects.filter(read_at__isnull=True, created_at__lt=day_ago).exists()
    # The clock fired every reminder that fell due in the story; what is left is due from now on.
    assert not Reminder.objects.filter(
        state=ReminderState.PENDING, due_at__lt=seeded["at"] - timedelta(minutes=1)
    ).exists()


def test_seeding_again_adds_and_changes_nothing(seeded):
    from incidents.demo import seed_demo

    before = snapshot(SEEDED_TABLES)
    assert seed_demo() == 0
    assert snapshot(SEEDED_TABLES) == before


def test_playbooks_in_polish_swedish_and_russian_run_the_flow_in_their_language(seeded, maja):
    """Each language playbook has its own approval chain and its holding statement, update and resolution
    templates in its language; a statement drafted from them is in that language, every placeholder filled
    (the promised update time written in that language too), and goes through the playbook's chain."""
    from incidents import services
    from incidents.models import Severity, Statement
    from incidents.playbooks import declaring
    from incidents.playbooks.demo_languages import LANGUAGE_PLAYBOOKS
    from incidents.playbooks.models import Playbook
    from incidents.services.statements.drafting import promise_text

    fills = {
        "incident_title": "x-title",
        "affected": "x-affected",
        "action": "x-action",
        "contact": "x-contact",
        "company": "Northwind",
        "claim": "x-claim",
    }
    assert {spec["language"] for spec in LANGUAGE_PLAYBOOKS} == {"pl", "sv", "ru"}
    for spec in LANGUAGE_PLAYBOOKS:
        lang = spec["language"]
        version = Playbook.objects.get(name=spec["name"]).latest()
        assert version.playbook.owner == maja
        chain = version.approval_chain
        assert chain is not None
        assert chain.name == spec["chain"]["name"]
        assert [s.name for s in chain.steps.order_by("order")] == [n for n, _ in spec["chain"]["steps"]]
        templates = [link.template for link in version.templates.select_related("template")]
        assert len(templates) == 3  # holding statement, update, resolution
        assert {t.language for t in templates} == {lang}
        assert version.roles.filter(person__isnull=False).count() == len(spec["roles"])

        team = [declaring.TeamPick(slot=r, person=r.person, backup=r.backup) for r in version.roles.all()]
        incident = declaring.declare_from_playbook(
            actor=maja, version=version, title=f"Demo {lang}", severity=Severity.SEV2, team=team
        ).incident
        at = timezone.now() + timedelta(minutes=50)
        for template in templates:
            statement = services.statement_create(
                incident=incident, actor=maja, template=template, fill=fills, next_update_at=at
            )
            assert statement.current_version is not None
            body = statement.current_version.body
            assert statement.language == lang, template.name
            assert "{" not in body, body
            assert "x-" in body, body
            if "next_update_time" in template.placeholders:  # the promised time, named in that language
                said = promise_text(at, said_at=statement.created_at, language=lang)
                assert said in body, body
        holding = Statement.objects.filter(incident=incident).order_by("pk").first()
        assert holding is not None
        services.statement_submit(statement=holding, actor=maja, version_number=1)
        assert holding.current_version is not None
        steps = list(holding.current_version.steps.order_by("order").values_list("name", flat=True))
        assert steps == [n for n, _ in spec["chain"]["steps"]]
