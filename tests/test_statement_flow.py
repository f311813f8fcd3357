"""The shortest safe path to a holding statement (issue #15): the new-statement page opens on the template
that fits, shows the filled text and the chain with the people per step, and one click creates v1 and
submits it (one transaction: a refusal changes nothing); a stalled chain is refused with its fix; the next
update is asked once (when drafting) and publishing takes it from the text; the internal title never
fills a public blank; a notification opens exactly the decision."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import time_machine
from django.urls import reverse

from incidents import services
from incidents.models import (
    ChainStep,
    Deadline,
    DeadlineState,
    IncidentRole,
    Notification,
    Statement,
    StatementTemplate,
    TimelineEntry,
)
from tests.factories_statements import (
    HX,
    STATEMENT_TABLES,
    S,
    approve,
    cv,
    fresh,
    login,
    make_cast,
    url,
)
from tests.factories_statements import seeded as seeded
from tests.helpers import snapshot

NOON = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # 12:00 in Warsaw (CET), where the cast lives
EVENING = datetime(2026, 3, 2, 20, 19, tzinfo=UTC)  # 21:19 CET
HOLDING = "Holding statement — outage (X)"
FLOW_TABLES = [*STATEMENT_TABLES, "incidents_incident", "incidents_deadline"]


def new_url(cast) -> str:
    return reverse("incidents:statement-new", args=[cast.incident.code])


def key_of(html: str) -> str:
    found = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


def fill(cast, key: str, **extra) -> dict[str, object]:
    return {
        "template": StatementTemplate.objects.get(name=HOLDING).pk,
        "fill_incident_title": "a problem with checkout",
        "fill_next_update_time": "15:30",
        "fill_company": "Northwind",
        "fill_reference": cast.incident.reference,
        "idempotency_key": key,
        **extra,
    }


def test_the_new_page_opens_on_the_fitting_template_with_the_chain_and_its_people(seeded, client):
    with time_machine.travel(NOON, tick=False):
        cast = make_cast()
        login(client, cast.drafter)
        html = client.get(new_url(cast)).content.decode()
    template = StatementTemplate.objects.get(name=HOLDING)
    assert f"New statement from “{HOLDING}”" in html
    assert f'name="template" value="{template.pk}"' in html
    # The internal title fills nothing: the public blank is empty, required, and has the cursor.
    field = re.search(r'<input type="text" name="fill_incident_title"[^>]*>', html)
    assert field is not None
    assert 'value=""' in field.group(0)
    assert "required" in field.group(0)
    assert "autofocus" in field.group(0)
    assert cast.incident.title not in html.split("<h1>")[1]  # only the crumbs name it, never a blank
    # The chain that will apply, with who would decide each step.
    chain = html[html.index('id="chain-plan"') :]
    for person in (cast.legal, cast.comms, cast.executive):
        assert str(person) in chain
    assert "Create v1 and submit for approval" in html
    # A next update to start from: the SEV2 cadence (2 h) from 12:00 CET, asked here once.
    assert re.search(r'name="fill_next_update_time" value="14:00"', html)


def test_the_preview_is_the_services_own_fill_as_typed(seeded, client):
    with time_machine.travel(NOON, tick=False):
        cast = make_cast()
        login(client, cast.drafter)
        headers = {**HX, "HTTP_HX_TARGET": "statement-preview"}
        params = fill(cast, "k")
        html = client.get(new_url(cast), params, **headers).content.decode()
        missing = client.get(new_url(cast), {**params, "fill_incident_title": ""}, **headers).content.decode()
    assert html.lstrip().startswith('<section id="statement-preview"')
    assert "We know about a problem: a problem with checkout." in html
    # 15:30 typed in Warsaw is 14:30 in the organisation's zone (UTC here), which the public text names.
    assert "We will share our next update by 14:30 UTC." in html
    assert "Fill in every placeholder of the template: {incident_title}" in missing


def test_one_click_creates_v1_and_submits_it(seeded, client):
    with time_machine.travel(NOON, tick=False):
        cast = make_cast()
        login(client, cast.drafter)
        key = key_of(client.get(new_url(cast)).content.decode())
        response = client.post(new_url(cast), fill(cast, key, and_submit="1"))
        again = client.post(new_url(cast), fill(cast, key, and_submit="1"))  # the double click
    statement = Statement.objects.get(incident=cast.incident)
    assert response.status_code == again.status_code == 302
    assert response["Location"] == url(statement)
    assert statement.status == S.IN_REVIEW
    version = cv(statement)
    assert version.number == 1
    assert version.from_template_fill_only
    assert version.next_update_at == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert "a problem with checkout" in version.body
    assert cast.incident.title not in version.body
    assert ChainStep.objects.filter(version=version).count() == 3
    # Step 1's approver is told, with a link to exactly that decision.
    note = Notification.objects.get(recipient=cast.legal, key__startswith="statement-step:")
    assert note.url == f"{url(statement)}?decide=1"
    # The public name is remembered for the next statement.
    cast.incident.refresh_from_db()
    assert cast.incident.public_label == "a problem with checkout"
    kinds = list(
        TimelineEntry.objects.filter(incident=cast.incident, kind="statement").values_list("body", flat=True)
    )
    assert any("public name is now “a problem with checkout”" in body for body in kinds)
    assert any("submitted v1" in body for body in kinds)
    with time_machine.travel(NOON + timedelta(minutes=5), tick=False):
        html = client.get(new_url(cast)).content.decode()
    assert re.search(r'name="fill_incident_title" id="[^"]+" value="a problem with checkout"', html)


def test_refused_input_changes_nothing(seeded, client):
    with time_machine.travel(NOON, tick=False):
        cast = make_cast()
        login(client, cast.drafter)
        key = key_of(client.get(new_url(cast)).content.decode())
        before = snapshot(FLOW_TABLES)
        for data, said in [
            (fill(cast, key, and_submit="1", fill_incident_title=""), "Fill in every placeholder"),
            (fill(cast, key, and_submit="1", fill_next_update_time="half past"), "HH:MM"),
            (fill(cast, key, and_submit="1", fill_incident_title="two\nlines"), "one short line"),
            (fill(cast, key, and_submit="1", fill_incident_title="x" * 201), "at most 200"),
        ]:
            response = client.post(new_url(cast), data)
            assert response.status_code == 422, said
            assert said in response.content.decode()
        assert snapshot(FLOW_TABLES) == before


def test_a_stalled_chain_is_refused_at_submit_with_its_fix_and_nothing_changes(seeded, client):
    """The only Communications lead drafts: step 2 could never be decided. The page says so before the
    click, the click is refused (nothing written), and the fix is one click away for the commander."""
    with time_machine.travel(NOON, tick=False):
        cast = make_cast()
        login(client, cast.comms)
        html = client.get(new_url(cast)).content.decode()
        assert "Step 2 (Communications lead) would have nobody to decide it but the author" in html
        assert "Ask Maja Commander to add a Communications lead to the team." in html  # may not add people
        key = key_of(html)
        before = snapshot(FLOW_TABLES)
        refused = client.post(new_url(cast), fill(cast, key, and_submit="1"))
        assert refused.status_code == 409
        assert "Step 2 (Communications lead)" in refused.content.decode()
        assert snapshot(FLOW_TABLES) == before  # no statement, no public name, no entry, nobody told
        # The commander sees the fix as a link: the room's team form, the role chosen, the cursor in it.
        login(client, cast.commander)
        role = IncidentRole.objects.get(slug="comms-lead")
        services.team_remove_role(
            incident=cast.incident,
            actor=cast.commander,
            assignment=cast.incident.role_assignments.get(user=cast.comms, ended_at=None),
        )
        html = client.get(new_url(cast)).content.decode()
        fix = f"{cast.incident.room_url}?add_role={role.pk}"
        assert f'href="{fix}"' in html
        assert "Add a Communications lead" in html
        room = client.get(fix).content.decode()
        assert f'<option value="{role.pk}" selected>' in room
        assert re.search(r'<input type="text" id="add-person"[^>]* autofocus', room)
        assert "The approval chain needs someone as Communications lead" in room


def test_a_time_that_rolled_over_to_tomorrow_is_asked_about_before_it_is_saved(seeded, client):
    with time_machine.travel(EVENING, tick=False):
        cast = make_cast()
        login(client, cast.drafter)
        key = key_of(client.get(new_url(cast)).content.decode())
        before = snapshot(FLOW_TABLES)
        asked = client.post(new_url(cast), fill(cast, key, and_submit="1", fill_next_update_time="18:00"))
        assert asked.status_code == 422
        html = asked.content.decode()
        assert "18:00 typed at 21:19 → tomorrow, 3 Mar, 18:00 CET — is that what you mean?" in html
        assert re.search(
            r'<label class="check when-confirm when-asked" data-when-confirm="next-update">', html
        )
        assert snapshot(FLOW_TABLES) == before
        confirmed = client.post(
            new_url(cast),
            fill(cast, key, and_submit="1", fill_next_update_time="18:00", next_update_tomorrow="on"),
        )
    assert confirmed.status_code == 302
    version = cv(Statement.objects.get(incident=cast.incident))
    assert version.next_update_at == datetime(2026, 3, 3, 17, 0, tzinfo=UTC)
    assert "next update by 17:00 UTC on 3 March." in version.body  # never "tomorrow" in a public text


def _approved_with_promise(cast, promise: datetime) -> Statement:
    statement = services.statement_create_and_submit(
        incident=cast.incident,
        actor=cast.drafter,
        template=StatementTemplate.objects.get(name=HOLDING),
        fill={"incident_title": "a problem with checkout"},
        next_update_at=promise,
    )
    for person in (cast.legal, cast.comms, cast.executive):
        approve(statement, person)
    return fresh(statement)


def test_publishing_takes_the_promise_from_the_text_and_does_not_ask_again(seeded, client):
    with time_machine.travel(NOON, tick=False):
        cast = make_cast()
        statement = _approved_with_promise(cast, NOON + timedelta(hours=3))
        login(client, cast.publisher)
        page = client.get(url(statement)).content.decode()
        assert 'name="next_update_at"' not in page  # asked once, when drafting
        assert "the text promises it by" in page
        response = client.post(url(statement, "statement-publish"), {"version": 1, "channel": "x"})
    assert response.status_code == 302
    update = Deadline.objects.get(incident=cast.incident, key="update", state=DeadlineState.OPEN)
    assert update.due_at == NOON + timedelta(hours=3)
    assert update.title == "Next public update (as promised)"  # no UTC time frozen into the title


def test_a_promise_that_has_passed_is_refused_at_publish_and_nothing_changes(seeded, client):
    with time_machine.travel(NOON, tick=False):
        cast = make_cast()
        statement = _approved_with_promise(cast, NOON + timedelta(minutes=30))
    with time_machine.travel(NOON + timedelta(hours=1), tick=False):
        login(client, cast.publisher)
        before = snapshot(FLOW_TABLES)
        response = client.post(url(statement, "statement-publish"), {"version": 1, "channel": "x"}, **HX)
        assert response.status_code == 422
        assert "promises the next update by 2 Mar, 12:30 CET, which has passed" in response.content.decode()
        assert snapshot(FLOW_TABLES) == before


def test_a_notification_opens_exactly_the_decision(seeded, client):
    with time_machine.travel(NOON, tick=False):
        cast = make_cast()
        statement = services.statement_create_and_submit(
            incident=cast.incident, actor=cast.drafter, title="Holding", channel="x", body="We are on it."
        )
        link = Notification.objects.get(recipient=cast.legal, key__startswith="statement-step:").url
        login(client, cast.legal)
        page = client.get(link).content.decode()
        assert re.search(r"<button [^>]*autofocus>Approve v1 as Legal</button>", page)
        approve(statement, cast.legal)
        again = client.get(link).content.decode()
        assert "Step 1 (Legal) is already decided, by Legal Person: nothing is waiting for you." in again
        assert "autofocus>Approve" not in again
        login(client, cast.comms)
        second = Notification.objects.get(recipient=cast.comms, key__startswith="statement-step:").url
        assert second.endswith("?decide=2")
        assert re.search(
            r"<button [^>]*autofocus>Approve v1 as Communications lead</button>",
            client.get(second).content.decode(),
        )


def test_a_draft_page_shows_the_chain_and_offers_no_submit_that_would_stall(seeded, client):
    with time_machine.travel(NOON, tick=False):
        cast = make_cast()
        draft = services.statement_create(
            incident=cast.incident, actor=cast.comms, title="Holding", channel="x", body="We are on it."
        )
        login(client, cast.comms)
        page = client.get(url(draft)).content.decode()
        assert "Step 2 (Communications lead) would have nobody to decide it" in page
        assert "for approval</button>" not in page  # the page never offers what the service would refuse
        before = snapshot(FLOW_TABLES)
        refused = client.post(url(draft, "statement-submit"), {"version": 1}, **HX)
        assert refused.status_code == 409
        assert snapshot(FLOW_TABLES) == before
        login(client, cast.drafter)
        other = services.statement_create(
            incident=cast.incident, actor=cast.drafter, title="Other", channel="x", body="Text."
        )
        page = client.get(url(other)).content.decode()
        assert "Submit v1 for approval" in page
        assert "Legal Person" in page[page.index('id="chain-plan"') :]


def test_a_working_title_may_name_the_incident_as_the_team_does(seeded):
    """The working title is internal (never published): a template whose text has no {incident_title} still
    gets a readable title, never a raw placeholder."""
    cast = make_cast()
    statement = services.statement_create(
        incident=cast.incident,
        actor=cast.drafter,
        template=StatementTemplate.objects.get(name="Rumour correction — Facebook"),
        fill={
            "claim": "a claim",
            "action": "the facts",
            "contact": "a link",
            "next_update_time": "16:00 CET",
        },
    )
    assert statement.title == f"The facts: {cast.incident.title}"
    assert cast.incident.title not in cv(statement).body
