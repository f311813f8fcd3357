"""Managing the crisis team in the browser, with a second person watching their own dashboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from incidents.models import IncidentRole, RoleAssignment
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories import IncidentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_commander_staffs_the_room_and_the_new_member_sees_it_appear(
    browser: Browser, asgi_server, manager, member
):
    secret = IncidentFactory.create(
        declared_by=manager, is_restricted=True, title="Loyalty e-mails found on a public bucket"
    )
    commander_ctx, member_ctx = browser.new_context(), browser.new_context()
    commander, erik = commander_ctx.new_page(), member_ctx.new_page()
    problems = watch(commander) + watch(erik)

    log_in(erik, asgi_server.url, member.email)
    expect(erik.locator("#open-incidents")).not_to_contain_text("Loyalty e-mails")

    log_in(commander, asgi_server.url, manager.email)
    commander.goto(f"{asgi_server.url}/incidents/{secret.code}/")
    panel = commander.locator("#team-panel")
    commander.get_by_label("Person").fill("erik")  # the type-ahead offers matching people
    expect(commander.locator("#team-people option")).to_have_count(1)
    commander.get_by_label("Person").fill(member.email)
    commander.locator("#add-role").select_option(label="Legal reviewer")
    commander.get_by_role("button", name="Add to team").click()
    expect(panel.locator(".person", has_text=member.display_name)).to_contain_text("Legal reviewer")
    settled(commander)

    # Hand command over, with a note.
    mine = panel.locator(".person", has_text=manager.display_name)
    mine.locator("summary").first.click()
    mine.get_by_label("Hand incident commander over to").fill(member.email)
    mine.get_by_label("Note").fill("Going off shift; legal questions are the priority")
    expect(mine.get_by_label("Then stay on as")).to_have_value(
        str(IncidentRole.objects.get(slug="observer").pk)
    )
    mine.get_by_role("button", name="Hand over").click()
    erik_row = panel.locator(".person", has_text=member.display_name)
    expect(erik_row.locator(".role-chip-command")).to_have_text("Incident commander")
    expect(panel.locator(".person", has_text=manager.display_name)).to_contain_text("Observer")
    expect(panel.get_by_role("button", name="Add to team")).to_have_count(0)  # no longer manages the team

    # Erik's dashboard picks the incident up by itself (its stream nudges it), no reload.
    erik.evaluate("window.__noReload = true")
    expect(erik.locator("#open-incidents")).to_contain_text("Loyalty e-mails", timeout=15_000)
    assert erik.evaluate("window.__noReload") is True

    history = list(
        RoleAssignment.objects.filter(incident=secret, role__slug="commander")
        .order_by("started_at")
        .values_list("user_id", "end_note")
    )
    assert history == [(manager.pk, "Going off shift; legal questions are the priority"), (member.pk, "")]
    for page in (commander, erik):
        assert csp_violations(page) == []
    assert problems == []
    commander_ctx.close()
    member_ctx.close()
