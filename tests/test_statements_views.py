"""Statements in the browser's requests: the room's panel, the statement page, the approvals queue, the role
matrix, 404s for outsiders, escaping, query budgets, the admin and the demo."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from incidents import services
from incidents.models import (
    ApprovalChainTemplate,
    IncidentRole,
    OrgRole,
    Statement,
)
from tests.factories import UserFactory, give_role
from tests.factories_statements import (
    HOLDING,
    HX,
    STATEMENT_TABLES,
    S,
    approve,
    assert_published_texts_were_approved,
    cv,
    fresh,
    fully_approved,
    login,
    make_cast,
    new_statement,
    submit,
    url,
)
from tests.factories_statements import cast as cast
from tests.factories_statements import seeded as seeded
from tests.helpers import snapshot
from tests.test_timeline import XSS


def test_the_room_loads_the_panel_without_extra_queries_and_the_panel_lists_statements(cast, client):
    statement = submit(cast, new_statement(cast))
    login(client, cast.legal)
    room = client.get(reverse("incidents:room", args=[cast.incident.code])).content.decode()
    assert 'id="statements-panel"' in room
    assert "Loading statements" in room
    panel = client.get(reverse("incidents:statements", args=[cast.incident.code]), **HX)
    html = panel.content.decode()
    assert html.lstrip().startswith('<section id="statements-panel"')
    assert "Holding statement" in html
    assert "st-in_review" in html
    assert "Approve v1 as Legal" in html  # legal's decision is inline, with the full text
    assert HOLDING.replace("'", "&#x27;") in html
    login(client, cast.comms)
    html = client.get(reverse("incidents:statements", args=[cast.incident.code]), **HX).content.decode()
    assert "Waiting for Legal" in html
    assert "Approve v1" not in html
    page = client.get(reverse("incidents:statements", args=[cast.incident.code])).content.decode()
    assert "<html" in page
    assert "Holding statement" in page
    assert statement.title in page


def test_a_statement_card_is_that_one_card_as_the_panel_shows_it_to_the_viewer(
    cast, client, django_assert_max_num_queries
):
    statement = submit(cast, new_statement(cast))
    variant = services.statement_create(
        incident=cast.incident, actor=cast.drafter, channel="website", body="Longer.", master=statement
    )
    other = new_statement(cast, body="Another one.")
    card_url = reverse("incidents:statement-card", args=[cast.incident.code, statement.code])
    login(client, cast.legal)
    panel = client.get(reverse("incidents:statements", args=[cast.incident.code]), **HX).content.decode()
    assert f'data-live="statement-card" data-live-key="{statement.code}"' in panel
    assert card_url in panel
    # session, user, incident with my permissions, the statement and its variants, the chain (steps, decisions
    # and whether I hold each step's role), what I reviewed with the diff base
    with django_assert_max_num_queries(6):
        response = client.get(card_url, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<li class="statement-card')
    assert f'id="statement-{statement.code}"' in html
    assert "Approve v1 as Legal" in html  # the viewer's own decision, as in the panel
    assert f'id="statement-{variant.code}"' in html  # its variants ride in its card
    assert str(other.code) not in html
    assert "<section" not in html
    # A variant's code answers with its master's card; without htmx, the statement's page.
    html = client.get(
        reverse("incidents:statement-card", args=[cast.incident.code, variant.code]), **HX
    ).content.decode()
    assert html.lstrip().startswith(
        f'<li class="statement-card st-card-in_review statement-card-mine" id="statement-{statement.code}"'
    )
    plain = client.get(card_url)
    assert plain.status_code == 302
    assert plain["Location"] == url(statement)
    login(client, cast.comms)
    html = client.get(card_url, **HX).content.decode()
    assert "Waiting for Legal" in html
    assert "Approve v1" not in html


def test_empty_panel_says_what_to_do_next(cast, client):
    login(client, cast.drafter)
    html = client.get(reverse("incidents:statements", args=[cast.incident.code]), **HX).content.decode()
    assert "No statements yet" in html
    assert "pick a pre-approved template" in html
    assert reverse("incidents:statement-new", args=[cast.incident.code]) in html


def test_statement_page_shows_text_chain_versions_and_a_diff(cast, client):
    statement = submit(cast, new_statement(cast))
    approve(statement, cast.legal)
    login(client, cast.drafter)
    html = client.get(url(statement)).content.decode()
    for expected in (
        "Holding statement",
        "Approval",
        "1. Legal",
        "Approved by Legal Person",
        "v1",
        "Compare versions",
    ):
        assert expected in html, expected
    services.statement_save_draft(
        statement=fresh(statement), actor=cast.drafter, expected_version=1, body="We are sorry."
    )
    diff = client.get(url(statement), {"a": 1, "b": 2}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="diff")
    body = diff.content.decode()
    assert body.lstrip().startswith('<div id="diff"')
    assert "<del>" in body
    assert "<ins>" in body
    live = client.get(
        url(statement), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="statement-live"
    ).content.decode()
    assert live.lstrip().startswith('<section id="statement-live"')
    assert 'data-current-version="2"' in live


def test_the_statement_page_s_live_regions_read_only_what_they_show(cast, client, django_assert_num_queries):
    """Every open statement page re-fetches its live region on each change: the incident (no declarer or
    commander) and the statement (no master, predecessor or starter) in one query each."""
    statement = submit(cast, new_statement(cast))
    approve(statement, cast.legal)
    live = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "statement-live"}
    login(client, cast.observer)
    # session, user, the incident with my permissions, the statement with its current version, the chain
    with django_assert_num_queries(5) as captured:
        html = client.get(url(statement), **live).content.decode()
    # No read joins people it does not show: at most one join of the users table in each (the version's
    # author, a decision's approver) — not the declarer, commander or the statement's starter.
    for query in captured.captured_queries:
        assert len(re.findall(r'JOIN "?incidents_user"? ', query["sql"])) <= 1, query["sql"]
    assert html.lstrip().startswith('<section id="statement-live"')
    assert "Approved by Legal Person" in html
    assert "Approve v1" not in html
    login(client, cast.comms)
    # … and what I last reviewed with the diff base, as I decide the current step
    with django_assert_num_queries(6):
        html = client.get(url(statement), **live).content.decode()
    assert "Approve v1 as Communications" in html
    other = make_cast(title="Another incident")
    login(client, cast.comms)
    elsewhere = reverse("incidents:statement", args=[other.incident.code, statement.code])
    assert client.get(elsewhere, **live).status_code == 404  # the statement is not that incident's


def test_my_approvals_queue_shows_full_text_and_diff_from_what_i_last_reviewed(
    cast, client, django_assert_max_num_queries
):
    statement = submit(cast, new_statement(cast))
    approve(statement, cast.legal)
    approve(statement, cast.comms)
    services.statement_reject(
        statement=fresh(statement), actor=cast.executive, version_number=1, reason="Softer"
    )
    edited = services.statement_save_draft(
        statement=fresh(statement),
        actor=cast.drafter,
        expected_version=1,
        body=HOLDING.replace("sorry", "truly sorry"),
    )
    submit(cast, edited)
    approve(statement, cast.legal)
    approve(statement, cast.comms)
    login(client, cast.executive)
    # session, user, the waiting statements with whether I approve in each incident, the chain (steps,
    # decisions, my roles), what I last reviewed with the diff base
    with django_assert_max_num_queries(5):
        html = client.get(reverse("incidents:my-approvals"), **HX).content.decode()
    assert html.lstrip().startswith('<div id="approvals-queue"')
    assert "since v1, the last version you reviewed" in html
    assert "<ins> truly</ins>" in html
    assert "Approve v2 as Executive" in html
    assert cast.incident.reference in html
    login(client, cast.comms)
    assert (
        "Nothing is waiting for your approval"
        in client.get(reverse("incidents:my-approvals")).content.decode()
    )
    dashboard = client.get(reverse("incidents:dashboard")).content.decode()
    assert "My approvals" in dashboard
    assert 'hx-get="/approvals/"' in dashboard


def test_the_queue_never_shows_a_restricted_incident_to_outsiders(seeded, client):
    cast = make_cast(restricted=True, title="Board member arrested")
    submit(cast, new_statement(cast, body="The board member has stepped down."))
    outsider = UserFactory.create(org_role=OrgRole.ADMINISTRATOR, is_staff=True, is_superuser=True)
    login(client, outsider)
    for path in (reverse("incidents:my-approvals"), reverse("incidents:dashboard")):
        html = client.get(path).content.decode()
        assert "Board member" not in html
        assert "stepped down" not in html


@pytest.mark.parametrize(
    "slug", ["commander", "drafter", "legal", "comms-lead", "executive", "social", "observer", None]
)
def test_statement_role_matrix_over_http(seeded, client, slug):
    """Draft, approve (at a step of the viewer's role) and publish, per seeded role (README's table)."""
    cast = make_cast(restricted=True)
    person = cast.commander if slug == "commander" else UserFactory.create()
    if slug not in (None, "commander"):
        give_role(cast.incident, person, slug)
    may = {
        "commander": {"draft", "publish"},
        "drafter": {"draft"},
        "legal": {"approve"},
        "comms-lead": {"draft", "publish"},
        "executive": set(),
        "social": {"draft", "publish"},
        "observer": set(),
        None: set(),
    }[slug]
    login(client, person)
    denied = 404 if slug is None else 403
    new = reverse("incidents:statement-new", args=[cast.incident.code])
    before = snapshot(STATEMENT_TABLES)
    created = client.post(
        new,
        {
            "channel": "x",
            "title": "T",
            "body": "B",
            "audience": "public",
            "language": "en",
            "idempotency_key": f"m-{slug}",
        },
    )
    assert created.status_code == (302 if "draft" in may else denied), slug
    if "draft" not in may:
        assert snapshot(STATEMENT_TABLES) == before
    in_review = submit(cast, new_statement(cast))
    version = cv(fresh(in_review))
    before = snapshot(STATEMENT_TABLES)
    approved = client.post(
        url(in_review, "statement-approve"), {"version": 1, "sha256": version.sha256}, **HX
    )
    if "approve" in may:
        assert approved.status_code == 200
    else:
        # Approving needs the permission (403/404) and, with it, the step's role (409).
        assert approved.status_code in (
            (409,) if slug in ("commander", "comms-lead", "executive") else (denied,)
        )
        assert snapshot(STATEMENT_TABLES) == before
    ready = fully_approved(cast)
    before = snapshot(STATEMENT_TABLES)
    published = client.post(url(ready, "statement-publish"), {"version": 1, "channel": "x"}, **HX)
    assert published.status_code == (200 if "publish" in may else denied), slug
    if "publish" not in may:
        assert snapshot(STATEMENT_TABLES) == before


def test_statement_routes_are_404_for_outsiders_and_for_codes_of_another_incident(seeded, client):
    cast = make_cast(restricted=True, title="Board member arrested")
    statement = submit(cast, new_statement(cast, body="Arrest confirmed by police."))
    other = make_cast()
    outsider = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)
    names = [
        "statement",
        "statement-card",
        "statement-save",
        "statement-submit",
        "statement-approve",
        "statement-reject",
        "statement-publish",
        "statement-withdraw",
        "statement-comment",
    ]
    payload = {"version": 1, "body": "x", "reason": "x", "channel": "x", "sha256": "", "where": "page"}
    before = snapshot(STATEMENT_TABLES)
    login(client, outsider)
    for name in names:
        for method in ("get", "post"):
            response = getattr(client, method)(url(statement, name), payload)
            assert response.status_code in (404, 405), (name, method)
            assert b"Arrest" not in response.content
            assert b"Board member" not in response.content
    login(client, other.commander)  # commands another incident; uses this statement's code with it
    for name in names:
        foreign = reverse(f"incidents:{name}", args=[other.incident.code, statement.code])
        assert client.post(foreign, payload).status_code in (404, 405)
        assert client.get(foreign).status_code in (404, 405)
    assert snapshot(STATEMENT_TABLES) == before


def test_hostile_text_is_escaped_everywhere_it_is_shown(cast, client):
    for i, payload in enumerate(XSS):
        statement = services.statement_create(
            incident=cast.incident, actor=cast.drafter, channel="website", title=payload[:190], body=payload
        )
        submit(cast, statement)
        services.statement_comment(
            statement=fresh(statement), actor=cast.legal, version_number=1, body=payload
        )
        if i % 2:
            services.statement_reject(
                statement=fresh(statement), actor=cast.legal, version_number=1, reason=payload
            )
    login(client, cast.legal)
    pages = [
        client.get(reverse("incidents:statements", args=[cast.incident.code]), **HX),
        client.get(reverse("incidents:my-approvals")),
        client.get(url(statement)),
        client.get(reverse("incidents:room", args=[cast.incident.code])),
    ]
    for response in pages:
        html = response.content.decode()
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "<svg onload" not in html
        assert '<div hx-post="/incidents/declare/"' not in html
        assert "<meta http-equiv" not in html


def test_gets_change_nothing(cast, client):
    statement = fully_approved(cast)
    login(client, cast.commander)
    before = snapshot(STATEMENT_TABLES)
    for path in (
        url(statement),
        reverse("incidents:statements", args=[cast.incident.code]),
        reverse("incidents:statement-new", args=[cast.incident.code]),
        reverse("incidents:my-approvals"),
        *(url(statement, name) for name in ("statement-approve", "statement-publish", "statement-save")),
    ):
        assert client.get(path).status_code in (200, 405)
    assert snapshot(STATEMENT_TABLES) == before


@pytest.mark.parametrize("count", [1, 8])
def test_query_counts_do_not_grow_with_the_number_of_statements(
    seeded, client, django_assert_max_num_queries, count
):
    cast = make_cast()
    for i in range(count):
        statement = submit(cast, new_statement(cast, body=f"Statement {i}."))
        if i % 2:
            approve(statement, cast.legal)
    login(client, cast.comms)
    # session, user, incident with my permissions, statements, the chain (steps, decisions, my roles), what I
    # reviewed with the diff bases
    with django_assert_max_num_queries(6) as captured:
        assert client.get(reverse("incidents:statements", args=[cast.incident.code]), **HX).status_code == 200
    # The panel names no declarer or commander: the incident read joins no users (the versions' authors
    # and the decisions' approvers are the one join each of the other reads).
    for query in captured.captured_queries:
        assert len(re.findall(r'JOIN "?incidents_user"? ', query["sql"])) <= 1, query["sql"]
    with django_assert_max_num_queries(5):
        assert client.get(reverse("incidents:my-approvals"), **HX).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(url(statement)).status_code == 200


def test_admins_edit_chains_and_templates_and_a_step_needs_an_approver(seeded, client):
    admin_user = UserFactory.create(is_staff=True, is_superuser=True, org_role=OrgRole.ADMINISTRATOR)
    login(client, admin_user)
    chain = ApprovalChainTemplate.objects.get(name__startswith="Legal")
    assert client.get("/admin/incidents/approvalchaintemplate/").status_code == 200
    assert client.get(f"/admin/incidents/approvalchaintemplate/{chain.pk}/change/").status_code == 200
    assert client.get("/admin/incidents/statementtemplate/").status_code == 200
    data = {
        "name": "Press only",
        "audiences": ["press"],
        "is_active": "on",
        "sort_order": 50,
        "distinct_approvers": "on",
        "steps-TOTAL_FORMS": 1,
        "steps-INITIAL_FORMS": 0,
        "steps-0-order": 1,
        "steps-0-name": "Nobody",
        "steps-0-rule": "any",
        "steps-0-required_count": 1,
    }
    refused = client.post("/admin/incidents/approvalchaintemplate/add/", data)
    assert refused.status_code == 200
    assert "Name a role or at least one person" in refused.content.decode()
    data["steps-0-role"] = IncidentRole.objects.get(slug="executive").pk
    assert client.post("/admin/incidents/approvalchaintemplate/add/", data).status_code == 302
    created = ApprovalChainTemplate.objects.get(name="Press only")
    assert (created.audiences, [s.name for s in created.steps.all()]) == (["press"], ["Nobody"])


def test_the_demo_shows_every_state_of_the_chain(seeded):
    from incidents.demo import seed_demo

    seed_demo()
    statuses = dict(Statement.objects.values_list("title", "status"))
    assert statuses["Double charges at checkout: what happened and your refund"] == S.IN_REVIEW
    assert any(title.startswith("Holding statement") and st == S.PUBLISHED for title, st in statuses.items())
    assert any(title.startswith("The facts") and st == S.APPROVED for title, st in statuses.items())
    assert_published_texts_were_approved()
    before = Statement.objects.count()
    seed_demo()  # idempotent: every `make run` calls it
    assert Statement.objects.count() == before


def test_word_diff_is_escaped_and_readable():
    html = services.word_diff("We <b>are</b> sorry.", "We <b>were</b> very sorry.")
    assert "<b>" not in html
    assert "<del>are</del><ins>were</ins>" in html
    assert "<ins>very </ins>" in html or "<ins> very</ins>" in html
