"""The post-incident review over HTTP: opening on resolve, sections with optimistic locking, follow-ups on
the deadlines machinery, feedback, sign-off by the commander; replay, exports, archive and trends pages with
their permissions (404 when invisible, 403 when not allowed) and privilege handling."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from incidents.models import Deadline, DeadlineKind, DeadlineState, Incident, Notification, Status
from incidents.reviews.models import Feedback, FollowUp, Review, ReviewSection
from incidents.services.deadlines import ensure_policies
from incidents.services.lifecycle import incident_change_status
from tests.factories import IncidentFactory, UserFactory
from tests.factories_reviews import build_past_incident
from tests.helpers import snapshot

pytestmark = pytest.mark.django_db

REVIEW_TABLES = [
    "reviews_review",
    "reviews_reviewsection",
    "reviews_followup",
    "reviews_feedback",
    "incidents_deadline",
    "incidents_reminder",
]


@pytest.fixture
def past():
    ensure_policies()
    return build_past_incident()


def url(name, incident):
    return reverse(f"reviews:{name}", args=[incident.code])


def login(client, user):
    client.force_login(user)
    return client


def section(incident, key):
    return ReviewSection.objects.get(review__incident=incident, key=key)


# --- opening ---------------------------------------------------------------------------------------------


def test_resolving_opens_the_review_once_even_when_resolved_again(manager):
    ensure_policies()
    incident = IncidentFactory.create(declared_by=manager)
    for status in (Status.RESPONDING, Status.RESOLVED):
        incident = incident_change_status(incident=incident, actor=manager, new_status=status)
    review = Review.objects.get(incident=incident)
    assert review.opened_by == manager
    assert review.sections.count() == 4
    section(incident, "lessons").text  # noqa: B018 - exists
    ReviewSection.objects.filter(review=review, key="lessons").update(text="Kept", version=1)
    for status in (Status.RESPONDING, Status.RESOLVED):
        incident = incident_change_status(incident=incident, actor=manager, new_status=status)
    assert Review.objects.filter(incident=incident).count() == 1
    assert section(incident, "lessons").text == "Kept"


def test_an_open_incident_has_no_review_page_yet(client, manager):
    incident = IncidentFactory.create(declared_by=manager)
    assert login(client, manager).get(url("review", incident)).status_code == 404
    assert url("review", incident) not in client.get(incident.room_url).content.decode()


def test_the_room_of_a_resolved_incident_links_to_its_review_replay_and_pdf(client, past):
    page = login(client, past.legal).get(past.incident.room_url).content.decode()
    for name in ("review", "replay", "export-pdf"):
        assert url(name, past.incident) in page


# --- permissions -----------------------------------------------------------------------------------------


def test_invisible_is_404_and_visible_but_not_allowed_is_403_everywhere(client, outsider):
    ensure_policies()
    secret = build_past_incident(restricted=True)
    follower_case = build_past_incident(title="Open to all")
    login(client, outsider)
    gets = ["review", "replay", "export-md", "export-csv", "export-json", "export-pdf"]
    posts = ["section", "follow-up-add", "follow-up-done", "feedback", "sign-off"]
    for name in gets:
        assert client.get(url(name, secret.incident)).status_code == 404, name
    for name in posts:
        assert (
            client.post(url(name, secret.incident), {"key": "summary", "version": 0, "text": "x"}).status_code
            == 404
        )
    # Visible (unrestricted) but not on the team: may read the review and the replay, nothing more.
    before = snapshot(REVIEW_TABLES)
    assert client.get(url("review", follower_case.incident)).status_code == 200
    assert client.get(url("replay", follower_case.incident)).status_code == 200
    for name in ("export-md", "export-csv", "export-json", "export-pdf"):
        assert client.get(url(name, follower_case.incident)).status_code == 403, name
    for name in posts:
        data = {"key": "summary", "version": 0, "text": "x", "rating": 3, "title": "x"}
        assert client.post(url(name, follower_case.incident), data).status_code == 403, name
    assert snapshot(REVIEW_TABLES) == before


# --- sections ------------------------------------------------------------------------------------------


def test_team_member_saves_a_section_and_a_stale_save_is_a_409_with_both_texts(client, past):
    login(client, past.legal)
    r = client.post(
        url("section", past.incident),
        {"key": "lessons", "version": 0, "text": "Pre-approve templates."},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200
    assert "Saved" in r.content.decode()
    assert section(past.incident, "lessons").text == "Pre-approve templates."
    before = snapshot(REVIEW_TABLES)
    r = client.post(
        url("section", past.incident),
        {"key": "lessons", "version": 0, "text": "My stale text"},
        HTTP_HX_REQUEST="true",
    )
    body = r.content.decode()
    assert r.status_code == 409
    assert "Pre-approve templates." in body
    assert "My stale text" in body
    assert 'name="version" value="1"' in body  # saving again replaces theirs knowingly
    assert snapshot(REVIEW_TABLES) == before


def test_bad_section_input_changes_nothing(client, past):
    login(client, past.legal)
    before = snapshot(REVIEW_TABLES)
    r = client.post(url("section", past.incident), {"key": "lessons", "version": 0, "text": "x" * 20_001})
    assert r.status_code == 422
    assert "under 20,000" in r.content.decode()
    assert (
        client.post(
            url("section", past.incident), {"key": "lessons", "version": "abc", "text": "y"}
        ).status_code
        == 422
    )
    assert (
        client.post(url("section", past.incident), {"key": "nonsense", "version": 0, "text": "y"}).status_code
        == 404
    )
    assert snapshot(REVIEW_TABLES) == before


# --- follow-ups ------------------------------------------------------------------------------------------


def test_follow_up_becomes_a_reminded_deadline_and_completes_it(client, past):
    login(client, past.legal)
    due = (timezone.localtime(timezone.now()) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    r = client.post(
        url("follow-up-add", past.incident),
        {"title": "Pre-approve a refund holding statement", "owner": past.comms.pk, "due_at": due},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200
    assert "Pre-approve a refund holding statement" in r.content.decode()
    item = FollowUp.objects.get()
    deadline = item.deadline
    assert deadline is not None
    assert (deadline.kind, deadline.key, deadline.owner, deadline.state) == (
        DeadlineKind.FOLLOW_UP,
        f"follow-up:{item.pk}",
        past.comms,
        DeadlineState.OPEN,
    )
    assert deadline.reminders.exists()  # the deadlines machinery will remind the owner
    assert Notification.objects.filter(recipient=past.comms, key=f"follow-up:{item.pk}").exists()
    r = client.post(url("follow-up-done", past.incident), {"follow_up": item.pk}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    item.refresh_from_db()
    assert item.is_done
    assert Deadline.objects.get(pk=deadline.pk).state == DeadlineState.DONE
    assert client.post(url("follow-up-done", past.incident), {"follow_up": item.pk}).status_code == 409


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"title": "", "owner": "OWNER", "due_at": "FUTURE"}, "Say what needs doing."),
        ({"title": "x", "owner": "", "due_at": "FUTURE"}, "Choose an owner"),
        ({"title": "x", "owner": "OWNER", "due_at": "2020-01-01T10:00"}, "must be in the future"),
        ({"title": "x", "owner": "OWNER", "due_at": "soon"}, "Give a due date."),
        ({"title": "x", "owner": "STRANGER", "due_at": "FUTURE"}, "worked on this incident"),
    ],
)
def test_bad_follow_up_input_is_refused_inline_and_changes_nothing(client, past, data, error):
    stranger = UserFactory.create()
    future = (timezone.localtime(timezone.now()) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    swap = {"OWNER": str(past.comms.pk), "STRANGER": str(stranger.pk), "FUTURE": future}
    data = {k: swap.get(v, v) for k, v in data.items()}
    login(client, past.legal)
    before = snapshot(REVIEW_TABLES)
    r = client.post(url("follow-up-add", past.incident), data, HTTP_HX_REQUEST="true")
    assert r.status_code == 422
    assert error in r.content.decode()
    assert snapshot(REVIEW_TABLES) == before


# --- feedback ------------------------------------------------------------------------------------------


def test_feedback_is_one_per_person_and_editable_with_bad_input_refused(client, past):
    login(client, past.comms)
    before = snapshot(REVIEW_TABLES)
    for bad in ("0", "6", "", "five"):
        assert client.post(url("feedback", past.incident), {"rating": bad, "comment": "x"}).status_code == 422
    assert snapshot(REVIEW_TABLES) == before
    assert (
        client.post(url("feedback", past.incident), {"rating": "4", "comment": "Good chain"}).status_code
        == 302
    )
    assert (
        client.post(url("feedback", past.incident), {"rating": "2", "comment": "Actually slow"}).status_code
        == 302
    )
    fb = Feedback.objects.get()
    assert (fb.user, fb.rating, fb.comment) == (past.comms, 2, "Actually slow")


# --- sign-off ------------------------------------------------------------------------------------------


def test_only_the_commander_signs_off_and_it_locks_the_review(client, past):
    review = Review.objects.get(incident=past.incident)
    Deadline.objects.create(
        incident=past.incident,
        kind=DeadlineKind.REVIEW,
        title="Review",
        due_at=timezone.now() + timedelta(days=5),
        original_due_at=timezone.now() + timedelta(days=5),
        key="review",
    )
    login(client, past.legal)
    assert client.post(url("sign-off", past.incident)).status_code == 403
    login(client, past.commander)
    before = snapshot(REVIEW_TABLES)
    r = client.post(url("sign-off", past.incident))
    assert r.status_code == 422
    assert "Write the summary and the lessons learned" in r.content.decode()
    assert snapshot(REVIEW_TABLES) == before
    ReviewSection.objects.filter(review=review, key__in=["summary", "lessons"]).update(
        text="Written", version=1
    )
    assert client.post(url("sign-off", past.incident)).status_code == 302
    review.refresh_from_db()
    assert review.signed_off_by == past.commander
    assert review.is_locked
    assert Deadline.objects.get(key="review").state == DeadlineState.DONE
    # Locked: no more edits, by anyone.
    before = snapshot(REVIEW_TABLES)
    r = client.post(url("section", past.incident), {"key": "summary", "version": 1, "text": "Changed"})
    assert r.status_code == 422
    assert "signed off" in r.content.decode()
    assert client.post(url("feedback", past.incident), {"rating": "5"}).status_code == 422
    assert snapshot(REVIEW_TABLES) == before
    page = client.get(url("review", past.incident)).content.decode()
    assert "Signed off by Maja Commander" in page
    assert "<textarea" not in page.split('id="follow-ups"')[0]


# --- replay --------------------------------------------------------------------------------------------


def test_replay_shows_entries_and_publications_and_privilege_only_to_the_team(client, past, outsider):
    login(client, past.comms)
    page = client.get(url("replay", past.incident)).content.decode()
    assert "Payment provider confirms a retry storm." in page
    assert "avoid admitting liability" in page  # team member
    assert "Every duplicate will be refunded." in page
    assert "Refunds for the duplicate charges" in page
    assert 'type="range"' in page
    assert "js/reviews.js" in page
    login(client, outsider)
    page = client.get(url("replay", past.incident)).content.decode()
    assert "Payment provider confirms a retry storm." in page
    assert "avoid admitting liability" not in page


# --- exports -------------------------------------------------------------------------------------------


def test_exports_in_four_formats_leave_out_privileged_entries_and_say_so(client, past):
    ReviewSection.objects.filter(review__incident=past.incident, key="lessons").update(
        text="Pre-approve templates", version=1
    )
    login(client, past.comms)
    expected = {
        "export-md": "text/markdown; charset=utf-8",
        "export-csv": "text/csv; charset=utf-8",
        "export-json": "application/json",
        "export-pdf": "application/pdf",
    }
    bodies = {}
    for name, content_type in expected.items():
        r = client.get(url(name, past.incident))
        assert r.status_code == 200
        assert r["Content-Type"] == content_type
        assert r["Content-Disposition"].startswith('attachment; filename="' + past.incident.reference)
        bodies[name] = r.content
    md = bodies["export-md"].decode()
    assert "Payment provider confirms a retry storm." in md
    assert "Pre-approve templates" in md
    assert "avoid admitting liability" not in md
    assert "1 entry under legal privilege excluded" in md
    assert "Declared → first public statement: 45 min" in md
    rows = list(csv.reader(io.StringIO(bodies["export-csv"].decode())))
    assert "1 entry under legal privilege excluded" in rows[0][1]
    texts = [row[-1] for row in rows[2:]]
    assert "Refunds queued for every double charge." in texts
    assert not any("liability" in t for t in texts)
    doc = json.loads(bodies["export-json"])
    assert doc["privileged_entries_excluded"] == 1
    assert doc["metrics"]["declared_to_first_statement_seconds"] == 45 * 60
    assert not any(e["privileged"] for e in doc["timeline"])
    assert doc["review"]["sections"]["Lessons learned"] == "Pre-approve templates"
    reader = PdfReader(io.BytesIO(bodies["export-pdf"]))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert bodies["export-pdf"].startswith(b"%PDF-")
    assert "Payment provider confirms a retry storm." in text
    assert "Refunds queued" in text
    assert past.incident.reference in text
    assert "liability" not in text
    assert "legal privilege excluded" in text


def test_team_may_ask_for_privileged_entries_explicitly_and_the_export_marks_them(client, past):
    login(client, past.legal)
    md = client.get(url("export-md", past.incident) + "?privileged=1").content.decode()
    assert "avoid admitting liability" in md
    assert "**PRIVILEGED**" in md
    assert "Includes entries under legal privilege" in md


def test_csv_export_defuses_spreadsheet_formulas(client, past):
    from incidents.services.timeline import timeline_append

    timeline_append(incident=past.incident, kind="note", author=past.comms, body='=HYPERLINK("http://x")')
    login(client, past.comms)
    rows = list(csv.reader(io.StringIO(client.get(url("export-csv", past.incident)).content.decode())))
    assert '\'=HYPERLINK("http://x")' in [r[-1] for r in rows]


# --- archive, past redirect, trends -----------------------------------------------------------------------


def test_past_incidents_is_the_archive_and_searches_without_leaking(client, past, outsider):
    secret = build_past_incident(title="Zanzibar vendor breach", restricted=True)
    login(client, outsider)
    page = client.get(reverse("incidents:past")).content.decode()
    assert past.incident.reference in page
    assert secret.incident.reference not in page
    page = client.get(reverse("incidents:past") + "?q=zanzibar").content.decode()
    assert "Nothing matches" in page
    assert secret.incident.reference not in page
    r = client.get(reverse("incidents:past") + "?q=retry+storm", HTTP_HX_REQUEST="true")
    assert "<mark>retry</mark>" in r.content.decode()
    assert "HX-Request" in r["Vary"]
    assert "<html" not in r.content.decode()


def test_trends_exclude_drills_and_invisible_incidents_and_have_accessible_charts(client, past, outsider):
    drill = build_past_incident(title="Drill run")
    type(drill.incident).objects.filter(pk=drill.incident.pk).update(is_drill=True)
    login(client, outsider)
    page = client.get(reverse("reviews:trends")).content.decode()
    assert "across 1 resolved or closed real incident" in page
    assert "1 drill excluded" in page
    assert '<svg class="chart"' in page
    assert "<title id=" in page
    assert "<table" in page
    assert "45.0" in page  # median minutes to first statement


def test_demo_reviews_are_realistic_and_seeding_twice_changes_nothing():
    from incidents.demo import seed_demo

    seed_demo()  # writes the demo's reviews too, on the demo clock (tests/test_demo.py checks the story)
    archived = Incident.objects.filter(status__in=Incident.ARCHIVED_STATUSES)
    assert Review.objects.count() == archived.count() > 30
    before = snapshot(REVIEW_TABLES)
    assert seed_demo() == 0
    assert snapshot(REVIEW_TABLES) == before
    closed = Review.objects.get(incident__title="Store manager's rant filmed by a customer")
    assert closed.is_locked
    assert closed.follow_ups.get().is_done
    boots = Review.objects.get(incident__title__startswith="Viral complaint: winter boots")
    assert not boots.is_locked
    assert boots.follow_ups.count() == 2
    assert all(f.deadline is not None for f in boots.follow_ups.all())


@pytest.mark.django_db(transaction=True)
def test_racing_section_saves_on_the_same_version_one_wins_one_conflicts():
    from incidents.reviews import services
    from tests.helpers import race

    ensure_policies()
    built = build_past_incident()
    review = Review.objects.get(incident=built.incident)
    writers = [built.legal, built.comms, built.commander, built.legal]

    def save(i):
        return services.review_section_save(
            review=review, key="lessons", actor=writers[i], text=f"Lesson from writer {i}", expected_version=0
        )

    results = race(4, save)
    won = [r for r in results if isinstance(r, ReviewSection)]
    lost = [r for r in results if isinstance(r, services.SectionConflict)]
    assert len(won) == 1
    assert len(lost) == 3
    current = section(built.incident, "lessons")
    assert (current.version, current.text) == (1, won[0].text)
    assert all(c.current.text == won[0].text for c in lost)  # each loser sees the winner's text
