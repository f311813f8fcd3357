"""@mentions in timeline entries, statement comments and review sections: team only, notified once, shown
highlighted for everyone; a refused mention writes nothing and tells nobody (issue #20, item 4)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from incidents import mentions, services
from incidents.models import Notification, OutboundEmail, TimelineEntry
from incidents.reviews.models import ReviewSection
from incidents.reviews.services import ReviewError, review_open, review_section_save
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.factories_statements import cast, fresh, new_statement, seeded  # noqa: F401 - fixtures
from tests.helpers import snapshot

HX = {"HTTP_HX_REQUEST": "true"}
TABLES = [
    "incidents_incident",
    "incidents_timelineentry",
    "incidents_notification",
    "incidents_outboundemail",
    "incidents_versioncomment",
    "reviews_reviewsection",
]
SECRET_TITLE = "Acquisition of Nordwind leaked"


def token(user) -> str:
    return f"@[{user.display_name}]({user.pk})"


@pytest.fixture
def restricted(manager, member):
    incident = IncidentFactory.create(declared_by=manager, title=SECRET_TITLE, is_restricted=True)
    give_role(incident, member, "drafter")
    return incident


def _post(client, incident, body, key="k1"):
    return client.post(
        reverse("incidents:timeline-post", args=[incident.code]),
        {"kind": "note", "body": body, "idempotency_key": key},
        **HX,
    )


@pytest.mark.django_db
def test_mentioning_an_outsider_on_a_restricted_incident_is_refused_and_writes_nothing(
    client, restricted, member, outsider
):
    client.force_login(member)
    before = snapshot(TABLES)
    response = _post(client, restricted, f"Can {token(outsider)} check the press list?")
    html = response.content.decode()
    assert response.status_code == 422
    assert "Olaf Outsider is not on this incident&#x27;s team" in html
    assert SECRET_TITLE not in html  # the message names the person, never the incident
    assert snapshot(TABLES) == before
    # No notification anywhere (the snapshot covers everyone's), nor an e-mail to the outsider.
    assert not Notification.objects.filter(recipient=outsider).exists()
    assert not OutboundEmail.objects.filter(to=outsider.email).exists()


@pytest.mark.django_db
def test_the_refusal_names_every_outsider_and_an_unknown_id(restricted, member, outsider):
    with pytest.raises(mentions.MentionRefused) as refused:
        services.timeline_post(
            incident=restricted,
            actor=member,
            kind="note",
            body=f"{token(outsider)} and @[Ghost](999999) please",
        )
    assert "Olaf Outsider, Ghost are not on this incident's team" in str(refused.value)
    assert SECRET_TITLE not in str(refused.value)
    assert not TimelineEntry.objects.filter(incident=restricted, kind="note").exists()


@pytest.mark.django_db
def test_mentioning_a_team_member_notifies_them_with_a_link_and_highlights_the_name(
    manager_client, incident, manager, member
):
    give_role(incident, member, "legal")
    Notification.objects.all().delete()
    response = _post(manager_client, incident, f"{token(member)} please review the refund wording")
    assert response.status_code == 200
    entry = TimelineEntry.objects.filter(incident=incident, kind="note").get()
    assert f'<mark class="mention" data-user="{member.pk}">@Erik Lindqvist</mark>' in entry.html
    note = Notification.objects.get(recipient=member)
    assert note.text.startswith(f"Maja Kowalska mentioned you in {incident.reference}")
    assert "@Erik Lindqvist please review the refund wording" in note.text
    assert note.url == f"{incident.room_url}#entry-{entry.seq}"
    assert OutboundEmail.objects.filter(to=member.email, key__startswith="mention:entry:").count() == 1
    assert not Notification.objects.filter(recipient=manager).exists()  # the writer is not told


@pytest.mark.django_db
def test_a_retried_post_notifies_once(manager_client, incident, member):
    give_role(incident, member, "legal")
    for _ in range(3):
        assert _post(manager_client, incident, f"{token(member)} call me", key="same").status_code == 200
    assert Notification.objects.filter(recipient=member, text__contains="mentioned you").count() == 1


@pytest.mark.django_db
def test_the_name_shown_is_the_persons_not_the_typed_one(incident, manager, member):
    give_role(incident, member, "legal")
    entry = services.timeline_post(
        incident=incident, actor=manager, kind="note", body=f"@[The CEO]({member.pk}) <script>x</script>"
    )
    assert "@Erik Lindqvist</mark>" in entry.html
    assert "The CEO" not in entry.html
    assert "<script>" not in entry.html


@pytest.mark.django_db
def test_corrections_take_mentions_too(incident, manager, member, outsider):
    give_role(incident, member, "legal")
    entry = services.timeline_post(incident=incident, actor=manager, kind="note", body="Refunds from Monday")
    with pytest.raises(mentions.MentionRefused):
        services.timeline_correct(
            incident=incident, actor=manager, seq=entry.seq, body=f"{token(outsider)} no"
        )
    services.timeline_correct(
        incident=incident, actor=manager, seq=entry.seq, body=f"{token(member)} Tuesday"
    )
    assert Notification.objects.filter(recipient=member, text__contains="mentioned you").count() == 1


def test_mentions_in_statement_comments(cast, client):  # noqa: F811 - the fixture
    statement = new_statement(cast)
    outsider = UserFactory.create(display_name="Nina Nobody")
    before = snapshot(TABLES)
    with pytest.raises(mentions.MentionRefused, match="Nina Nobody is not on"):
        services.statement_comment(
            statement=fresh(statement), actor=cast.drafter, version_number=1, body=f"{token(outsider)} ok?"
        )
    assert snapshot(TABLES) == before
    comment = services.statement_comment(
        statement=fresh(statement), actor=cast.drafter, version_number=1, body=f"{token(cast.legal)} ok?"
    )
    note = Notification.objects.get(recipient=cast.legal, text__contains="mentioned you")
    assert "a comment on v1" in note.text
    assert note.url.endswith(f"#comment-{comment.pk}")
    client.force_login(cast.commander)
    page = client.get(reverse("incidents:statement", args=[cast.incident.code, statement.code]))
    assert f'<mark class="mention" data-user="{cast.legal.pk}">@Legal Person</mark>' in page.content.decode()


@pytest.mark.django_db
def test_mentions_in_review_sections_notify_newcomers_once(incident, manager, member, outsider):
    give_role(incident, member, "legal")
    review = review_open(incident=incident, actor=manager)
    before = snapshot(TABLES)
    with pytest.raises(ReviewError, match="Olaf Outsider is not on"):
        review_section_save(
            review=review,
            key="summary",
            actor=manager,
            text=f"{token(outsider)} wrote it",
            expected_version=0,
        )
    assert snapshot(TABLES) == before
    review_section_save(
        review=review, key="summary", actor=manager, text=f"{token(member)} drafted this", expected_version=0
    )
    review_section_save(
        review=review,
        key="summary",
        actor=manager,
        text=f"{token(member)} drafted this well",
        expected_version=1,
    )
    notes = Notification.objects.filter(recipient=member, text__contains="mentioned you")
    assert notes.count() == 1
    assert notes.get().url.endswith("#section-summary")
    assert ReviewSection.objects.get(review=review, key="summary").version == 2


@pytest.mark.django_db
def test_the_picker_offers_the_team_only_and_hides_the_incident_from_others(
    client, restricted, manager, member, outsider
):
    people = reverse("incidents:mention-people", args=[restricted.code])
    client.force_login(member)
    html = client.get(people, {"q": "maj"}).content.decode()
    assert 'data-name="Maja Kowalska"' in html
    assert "Erik" not in html
    assert "Olaf" not in client.get(people, {"q": ""}).content.decode()
    assert "Nobody on this incident" in client.get(people, {"q": "olaf"}).content.decode()
    client.force_login(outsider)
    response = client.get(people, {"q": ""})
    assert response.status_code == 404
    assert SECRET_TITLE not in response.content.decode()
