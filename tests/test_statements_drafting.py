"""Drafting: starting a statement (blank, from a template, as a variant), saving versions (optimistic, with
stale saves refused and both texts kept), comments, withdrawing a draft — through the services and over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from incidents import hooks, services
from incidents.models import (
    Incident,
    Severity,
    Statement,
    StatementError,
    StatementTemplate,
    StatementVersion,
    TextRefused,
    TimelineEntry,
    text_sha256,
)
from incidents.playbooks.receivers import playbook_templates_first
from tests.factories_statements import (
    HOLDING,
    HX,
    STATEMENT_TABLES,
    Cast,
    S,
    cv,
    fresh,
    login,
    make_cast,
    new_statement,
    url,
)
from tests.factories_statements import cast as cast
from tests.factories_statements import seeded as seeded
from tests.helpers import snapshot


def test_create_blank_records_v1_and_a_timeline_entry(cast):
    statement = new_statement(cast)
    version = cv(statement)
    assert (statement.status, statement.version, version.number, version.body) == (S.DRAFT, 1, 1, HOLDING)
    assert version.sha256 == text_sha256(HOLDING)
    assert not version.from_template_fill_only
    entry = TimelineEntry.objects.filter(incident=cast.incident, kind="statement").latest("seq")
    assert "Statement drafted" in entry.body
    assert 'data-kind="statement"' in entry.html


def test_create_from_template_keeps_provenance_and_is_idempotent(cast):
    template = StatementTemplate.objects.get(name="Holding statement — outage (X)")
    kwargs = {
        "incident": cast.incident,
        "actor": cast.drafter,
        "template": template,
        "fill": {"incident_title": "a checkout problem", "next_update_time": "16:00 CET"},
        "idempotency_key": "k1",
    }
    statement = services.statement_create(**kwargs)
    assert services.statement_create(**kwargs) == statement  # a double-click creates one statement
    assert Statement.objects.filter(incident=cast.incident).count() == 1
    version = cv(statement)
    assert version.from_template_fill_only
    assert "a checkout problem" in version.body
    assert cast.incident.title not in version.body  # the internal title never goes into a public text
    assert "16:00 CET" in version.body
    assert (statement.channel, statement.template_name) == ("x", template.name)
    assert "from the template" in TimelineEntry.objects.filter(kind="statement").latest("seq").body


def test_create_refusals_change_nothing(cast):
    template = StatementTemplate.objects.get(name="Holding statement — outage (X)")
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(TextRefused, match="next_update_time"):
        services.statement_create(incident=cast.incident, actor=cast.drafter, template=template, fill={})
    with pytest.raises(TextRefused, match="allows 280"):
        new_statement(cast, body="x" * 281)
    with pytest.raises(TextRefused, match="title"):
        services.statement_create(incident=cast.incident, actor=cast.drafter, channel="x", title="  ")
    with pytest.raises(StatementError, match="does not allow"):
        new_statement(Cast(**{**cast.__dict__, "drafter": cast.legal}))  # legal may not draft
    assert snapshot(STATEMENT_TABLES) == before


def test_saving_makes_a_new_immutable_version(cast):
    statement = new_statement(cast)
    saved = services.statement_save_draft(
        statement=statement, actor=cast.commander, expected_version=1, body=HOLDING + " Thank you.  \r\n"
    )
    assert (saved.version, cv(saved).number) == (2, 2)
    assert cv(saved).body == HOLDING + " Thank you."
    assert cv(saved).author == cast.commander
    assert list(StatementVersion.objects.filter(statement=statement).values_list("number", flat=True)) == [
        1,
        2,
    ]


def test_a_stale_save_raises_with_both_texts_and_changes_nothing(cast):
    statement = new_statement(cast)
    services.statement_save_draft(
        statement=statement, actor=cast.commander, expected_version=1, body="Theirs."
    )
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(services.StaleDraft) as caught:
        services.statement_save_draft(
            statement=statement, actor=cast.drafter, expected_version=1, body="Mine."
        )
    assert snapshot(STATEMENT_TABLES) == before
    assert caught.value.mine == "Mine."
    assert caught.value.theirs is not None
    assert caught.value.theirs.body == "Theirs."
    assert "saved v2 while you were editing v1" in str(caught.value)


def test_identical_save_is_refused_and_a_replayed_save_is_a_no_op(cast):
    statement = new_statement(cast)
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="Nothing changed"):
        services.statement_save_draft(
            statement=statement, actor=cast.drafter, expected_version=1, body=HOLDING + "  "
        )
    assert snapshot(STATEMENT_TABLES) == before
    services.statement_save_draft(
        statement=statement, actor=cast.drafter, expected_version=1, body="New text."
    )
    middle = snapshot(STATEMENT_TABLES)
    again = services.statement_save_draft(
        statement=statement, actor=cast.drafter, expected_version=1, body="New text."
    )
    assert again.version == 2
    assert snapshot(STATEMENT_TABLES) == middle


def test_a_free_text_edit_loses_the_template_fill_flag(cast):
    template = StatementTemplate.objects.get(name="Holding statement — outage (X)")
    statement = services.statement_create(
        incident=cast.incident,
        actor=cast.drafter,
        template=template,
        fill={"incident_title": "a checkout problem", "next_update_time": "16:00"},
    )
    body = cv(statement).body
    refilled = services.statement_save_draft(
        statement=statement, actor=cast.drafter, expected_version=1, body=body.replace("16:00", "17:30")
    )
    assert cv(refilled).from_template_fill_only
    edited = services.statement_save_draft(
        statement=statement, actor=cast.drafter, expected_version=2, body=body.replace("We're sorry", "Oops")
    )
    assert not cv(edited).from_template_fill_only


def test_drafts_can_be_withdrawn_and_variants_hang_off_the_master(cast):
    master = new_statement(cast, channel="website", body="Long website text. " * 30)
    variant = services.statement_create(
        incident=cast.incident, actor=cast.drafter, channel="x", body="Short.", master=master
    )
    assert (variant.master, variant.title, variant.audience) == (master, master.title, master.audience)
    nested = services.statement_create(
        incident=cast.incident, actor=cast.drafter, channel="linkedin", body="Mid.", master=variant
    )
    assert nested.master == master
    withdrawn = services.statement_withdraw(statement=fresh(variant), actor=cast.drafter, reason="Not needed")
    assert withdrawn.status == S.WITHDRAWN


def test_comments_are_per_version_and_need_a_seat_at_the_table(cast):
    statement = new_statement(cast)
    comment = services.statement_comment(
        statement=fresh(statement), actor=cast.legal, version_number=1, body="Check the refund wording."
    )
    assert comment.version.number == 1
    assert "commented on v1" in TimelineEntry.objects.filter(kind="statement").latest("seq").body
    before = snapshot(STATEMENT_TABLES)
    with pytest.raises(StatementError, match="does not allow"):
        services.statement_comment(
            statement=fresh(statement), actor=cast.observer, version_number=1, body="Hi"
        )
    with pytest.raises(StatementError, match="no v9"):
        services.statement_comment(statement=fresh(statement), actor=cast.legal, version_number=9, body="Hi")
    assert snapshot(STATEMENT_TABLES) == before


def test_new_statement_from_a_template_over_http(cast, client):
    login(client, cast.drafter)
    new = reverse("incidents:statement-new", args=[cast.incident.code])
    listing = client.get(new).content.decode()
    template = StatementTemplate.objects.get(name="Holding statement — outage (X)")
    assert template.name in listing
    assert "fits this incident" in listing
    form = client.get(new, {"template": template.pk}).content.decode()
    assert "When the next update comes" in form
    found = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', form)
    assert found is not None
    key = found.group(1)
    # Exactly what the fill form sends: the template brings channel, audience and language.
    data = {
        "template": template.pk,
        "fill_incident_title": "Checkout is down",
        "fill_next_update_time": "16:00",
        "next_update_tomorrow": "on",  # whatever the hour this runs at: 16:00 may already mean tomorrow
        "title": "",
        "idempotency_key": key,
    }
    response = client.post(new, data)
    statement = Statement.objects.get(incident=cast.incident)
    assert response.status_code == 302
    assert response["Location"] == url(statement)
    assert client.post(new, data).status_code == 302  # a double submit
    assert Statement.objects.filter(incident=cast.incident).count() == 1
    refused = client.post(new, {**data, "fill_next_update_time": "", "idempotency_key": "other"})
    assert refused.status_code == 422
    assert "Fill in every placeholder" in refused.content.decode()


@pytest.mark.parametrize(
    ("utc", "suggested", "tomorrow", "promised"),
    [  # 21:19 CET + 2 h → 23:19, on to 23:30; 23:40 CET + 2 h is past midnight
        (datetime(2026, 3, 2, 20, 19, tzinfo=UTC), "23:30", False, datetime(2026, 3, 2, 22, 30, tzinfo=UTC)),
        (datetime(2026, 3, 2, 22, 40, tzinfo=UTC), "01:45", True, datetime(2026, 3, 3, 0, 45, tzinfo=UTC)),
    ],
)
def test_the_suggested_next_update_says_when_it_is_tomorrow(cast, client, utc, suggested, tomorrow, promised):
    """The page suggests the next update (the SEV2 cadence, 2 h, from now on the next quarter hour) at any hour.
    Late in the evening that is tomorrow: the page says so, with "Yes, tomorrow" ticked, so the form as shown
    is accepted as it is — it was left empty before, one more thing to type at 23:40. Unticked, the server
    still asks and saves nothing."""
    template = StatementTemplate.objects.get(name="Holding statement — outage (X)")
    new = reverse("incidents:statement-new", args=[cast.incident.code])
    login(client, cast.drafter)
    with time_machine.travel(utc, tick=False):
        html = client.get(new, {"template": template.pk}).content.decode()
        assert re.search(rf'name="fill_next_update_time" value="{suggested}"', html)
        box = re.search(r'<label [^>]*data-when-confirm="next-update"([^>]*)><input ([^>]*)>', html)
        assert box is not None
        assert ("hidden" in box[1], "checked" in box[2]) == (not tomorrow, tomorrow)
        key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html)
        assert key is not None
        data = {
            "template": template.pk,
            "fill_incident_title": "Checkout is down",
            "fill_next_update_time": suggested,
            "title": "",
            "idempotency_key": key[1],
        }
        if tomorrow:
            before = snapshot(STATEMENT_TABLES)
            asked = client.post(new, data)
            assert asked.status_code == 422
            assert f"{suggested} typed at 23:40 → tomorrow, 3 Mar, {suggested} CET" in asked.content.decode()
            assert snapshot(STATEMENT_TABLES) == before
            data["next_update_tomorrow"] = "on"
        assert client.post(new, data).status_code == 302
    version = Statement.objects.get(incident=cast.incident).current_version
    assert version is not None
    assert version.next_update_at == promised


def test_a_cadence_longer_than_a_day_suggests_no_time(seeded, client):
    """A time alone means the next 24 hours: SEV4's daily update would read as today's earlier time."""
    cast = make_cast(severity=Severity.SEV4)
    template = StatementTemplate.objects.get(name="Holding statement — outage (X)")
    login(client, cast.drafter)
    html = client.get(
        reverse("incidents:statement-new", args=[cast.incident.code]), {"template": template.pk}
    )
    assert re.search(r'name="fill_next_update_time" value=""', html.content.decode())


def test_a_conflicting_save_over_http_shows_both_texts_and_keeps_mine(cast, client):
    statement = new_statement(cast)
    services.statement_save_draft(
        statement=statement, actor=cast.commander, expected_version=1, body="Theirs wins."
    )
    login(client, cast.drafter)
    before = snapshot(STATEMENT_TABLES)
    response = client.post(
        url(statement, "statement-save"), {"version": 1, "body": "Mine, typed at 2 a.m."}, **HX
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Theirs wins." in html
    assert "Mine, typed at 2 a.m." in html
    assert 'name="version" value="2"' in html  # saving again means "mine replaces v2", knowingly
    assert snapshot(STATEMENT_TABLES) == before
    plain = client.post(url(statement, "statement-save"), {"version": 1, "body": "Mine, typed at 2 a.m."})
    assert plain.status_code == 409
    assert "Mine, typed at 2 a.m." in plain.content.decode()
    assert "<html" in plain.content.decode()
    saved = client.post(
        url(statement, "statement-save"), {"version": 2, "body": "Mine, typed at 2 a.m."}, **HX
    )
    assert saved.status_code == 200
    assert "Saved as v3" in saved.content.decode()


def test_an_over_long_save_keeps_the_text_and_says_why(cast, client):
    statement = new_statement(cast)
    login(client, cast.drafter)
    long = "Sorry. " * 60
    response = client.post(url(statement, "statement-save"), {"version": 1, "body": long}, **HX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "X allows 280 characters" in html
    assert long.strip() in html


def test_sub_apps_arrange_the_editor_templates_through_the_hook(cast, client):
    """The editor offers templates as hooks.statement_templates arranges them (the playbooks app puts the
    incident's playbook templates first); the base app never imports the sub-app."""
    assert playbook_templates_first in list(hooks.statement_templates)
    new = reverse("incidents:statement-new", args=[cast.incident.code])
    login(client, cast.drafter)

    def order(html: str) -> bool:  # is the outage holding statement offered before the complaint response?
        return html.index("Holding statement — outage (X)") < html.index("Product complaint response — X")

    assert order(client.get(new).content.decode())  # the incident's scenario first

    def last_first(incident: Incident, templates: list[StatementTemplate]) -> list[StatementTemplate]:
        return templates[::-1]

    hooks.statement_templates.connect(last_first)
    try:
        assert not order(client.get(new).content.decode())
    finally:
        hooks.statement_templates.disconnect(last_first)
