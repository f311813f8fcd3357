"""Accounts you can trust: the second-factor gate (R9), single-use codes also under races (R8), enrolment and
recovery codes, step-up for decisive actions (R11), login and password-reset throttling (R7), per-person write
limits (R33) and session hygiene (R10) — each refusal checked to change nothing."""

from __future__ import annotations

import re

import pytest
import redis
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from incidents.accounts import otp, sessions
from incidents.accounts.models import SignedInSession
from incidents.models import Approval, TimelineEntry
from tests.factories import PASSWORD, UserFactory
from tests.factories_statements import HX, STATEMENT_TABLES, cv, fresh, new_statement, submit, url
from tests.factories_statements import cast as cast
from tests.factories_statements import seeded as seeded
from tests.helpers import age_verification, authenticator, current_code, race, sign_in, snapshot
from warroom.redis import channel_name, get_redis

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_buckets():
    """Each test starts with full throttle buckets (they live in Redis, keyed per deployment)."""
    r = get_redis()
    for key in r.scan_iter(channel_name("bucket:*")):
        r.delete(key)


def room_url(incident, name="room"):
    return reverse(f"incidents:{name}", args=[incident.code])


# --- the gate (R9) ------------------------------------------------------------------------------------------


def test_a_password_only_session_reaches_no_page_fragment_or_admin(client, manager, incident):
    authenticator(manager)
    sign_in(client, manager, verified=False)
    pages = [
        reverse("incidents:dashboard"),
        room_url(incident),
        room_url(incident, "statements"),
        room_url(incident, "team"),
        reverse("incidents:my-approvals"),
        reverse("incidents:notifications"),
        reverse("admin:index"),
        reverse("audit:log"),
        reverse("profile"),
        reverse("accounts:security"),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith(reverse("accounts:verify") + "?next="), page
        fragment = client.get(page, **HX)
        assert fragment.status_code == 401, page
        assert fragment["HX-Redirect"] == reverse("accounts:verify")
        assert incident.title not in fragment.content.decode()
    before = TimelineEntry.objects.count()
    posted = client.post(
        room_url(incident, "timeline-post"), {"kind": "note", "body": "x", "idempotency_key": "g"}
    )
    assert posted.status_code == 302
    assert TimelineEntry.objects.count() == before


def test_without_an_authenticator_the_gate_sends_to_enrolment(client, member):
    sign_in(client, member, verified=False)
    response = client.get(reverse("incidents:dashboard"))
    assert response["Location"].startswith(reverse("accounts:enrol"))


def test_the_verify_page_passes_a_right_code_once_and_changes_the_session_key(client, manager):
    code = current_code(manager)
    sign_in(client, manager, verified=False)
    key = client.session.session_key
    wrong = client.post(reverse("accounts:verify"), {"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 422
    assert "did not work" in wrong.content.decode()
    assert not client.session.get(otp.VERIFIED_AT)
    device = TOTPDevice.objects.get(user=manager)
    assert device.throttling_failure_count == 1  # django-otp then makes the next try wait a second
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)  # the person waited
    right = client.post(reverse("accounts:verify"), {"code": code, "next": "/incidents/past/"})
    assert right.status_code == 302
    assert right["Location"] == "/incidents/past/"
    assert client.session.session_key != key
    assert client.get(reverse("incidents:dashboard")).status_code == 200
    # The same code again (a replay from another browser) fails.
    other = Client()
    sign_in(other, manager, verified=False)
    assert other.post(reverse("accounts:verify"), {"code": code}).status_code == 422
    assert other.get(reverse("incidents:dashboard")).status_code == 302


def test_verify_sends_only_to_this_site(client, manager):
    code = current_code(manager)
    sign_in(client, manager, verified=False)
    response = client.post(reverse("accounts:verify"), {"code": code, "next": "https://evil.example/"})
    assert response["Location"] == "/"


@pytest.mark.django_db(transaction=True)
def test_one_totp_code_sent_twice_at_once_passes_once():
    user = UserFactory.create()
    code = current_code(user)
    clients = [Client(), Client()]
    for c in clients:
        sign_in(c, user, verified=False)
    results = race(2, lambda i: clients[i].post(reverse("accounts:verify"), {"code": code}).status_code)
    assert sorted(results) == [302, 422]  # type: ignore[type-var]
    assert TOTPDevice.objects.get(user=user).throttling_failure_count == 1


@pytest.mark.django_db(transaction=True)
def test_one_recovery_code_sent_twice_at_once_passes_once():
    user = UserFactory.create()
    authenticator(user)
    codes = otp.new_recovery_codes(user)
    clients = [Client(), Client()]
    for c in clients:
        sign_in(c, user, verified=False)
    results = race(2, lambda i: clients[i].post(reverse("accounts:verify"), {"code": codes[0]}).status_code)
    assert sorted(results) == [302, 422]  # type: ignore[type-var]
    assert StaticToken.objects.filter(token=codes[0]).count() == 0
    assert StaticToken.objects.count() == len(codes) - 1


# --- enrolment ----------------------------------------------------------------------------------------------


def test_enrolment_shows_an_inline_qr_code_then_recovery_codes_once(client, member):
    sign_in(client, member, verified=False)
    page = client.get(reverse("accounts:enrol"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html
    assert "<script" not in html.split("<main", 1)[-1].split("</main>")[0]
    assert "otpauth://" not in html  # the secret travels only inside the picture and the typed key
    device = TOTPDevice.objects.get(user=member, confirmed=False)
    assert client.get(reverse("accounts:enrol")).status_code == 200  # a reload keeps the same device
    assert TOTPDevice.objects.filter(user=member).count() == 1

    wrong = client.post(reverse("accounts:enrol"), {"code": "12345x"})
    assert wrong.status_code == 422
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed

    from django_otp.oath import totp

    code = f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"
    done = client.post(reverse("accounts:enrol"), {"code": code})
    shown = re.findall(r"<li><code>([0-9a-f]{10})</code></li>", done.content.decode())
    assert done.status_code == 200
    assert len(shown) == otp.RECOVERY_CODES
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get(reverse("incidents:dashboard")).status_code == 200
    # The codes work once each, and are never shown again.
    assert "<code>" not in client.get(reverse("accounts:security")).content.decode().split(shown[0])[0][-1:]
    other = Client()
    sign_in(other, member, verified=False)
    assert other.post(reverse("accounts:verify"), {"code": shown[0]}).status_code == 302
    again = Client()
    sign_in(again, member, verified=False)
    assert again.post(reverse("accounts:verify"), {"code": shown[0]}).status_code == 422


def test_a_password_only_session_cannot_replace_the_authenticator(client, manager):
    device = authenticator(manager)
    sign_in(client, manager, verified=False)
    response = client.get(reverse("accounts:enrol"))
    assert response["Location"] == reverse("accounts:verify")
    assert list(TOTPDevice.objects.filter(user=manager)) == [device]


# --- step-up (R11) ------------------------------------------------------------------------------------------


def test_approving_with_an_old_verification_asks_for_a_code_in_place_and_records_nothing(client, cast):
    statement = submit(cast, new_statement(cast))
    version = cv(fresh(statement))
    sign_in(client, cast.legal)
    age_verification(client, 6 * 60)
    data = {"version": 1, "sha256": version.sha256, "step": 1}
    before = snapshot(STATEMENT_TABLES)

    prompt = client.post(url(statement, "statement-approve"), data, **HX)
    assert prompt.status_code == 403
    assert prompt["X-Step-Up"] == "1"
    assert prompt["HX-Retarget"] == "closest form"
    assert 'name="step_up_code"' in prompt.content.decode()
    assert snapshot(STATEMENT_TABLES) == before

    wrong = client.post(url(statement, "statement-approve"), {**data, "step_up_code": "000000"}, **HX)
    assert wrong.status_code == 403
    assert "did not work" in wrong.content.decode()
    assert 'hx-swap-oob="true"' in wrong.content.decode()
    assert snapshot(STATEMENT_TABLES) == before

    passed = client.post(
        url(statement, "statement-approve"), {**data, "step_up_code": current_code(cast.legal)}, **HX
    )
    assert passed.status_code == 200
    assert Approval.objects.filter(version=version, approver=cast.legal).count() == 1


def test_without_javascript_the_step_up_page_sends_the_same_fields_again(client, cast):
    statement = submit(cast, new_statement(cast))
    version = cv(fresh(statement))
    sign_in(client, cast.legal)
    age_verification(client, 6 * 60)
    before = snapshot(STATEMENT_TABLES)
    page = client.post(
        url(statement, "statement-approve"), {"version": 1, "sha256": version.sha256, "step": 1}
    )
    html = page.content.decode()
    assert page.status_code == 403
    assert f'<input type="hidden" name="sha256" value="{version.sha256}">' in html
    assert f'action="{url(statement, "statement-approve")}"' in html
    assert snapshot(STATEMENT_TABLES) == before


def test_a_fresh_verification_approves_at_once(client, cast):
    statement = submit(cast, new_statement(cast))
    version = cv(fresh(statement))
    sign_in(client, cast.legal)
    age_verification(client, 4 * 60)
    response = client.post(
        url(statement, "statement-approve"), {"version": 1, "sha256": version.sha256}, **HX
    )
    assert response.status_code == 200
    assert Approval.objects.filter(version=version).count() == 1


@pytest.mark.parametrize("name", ["statement-reject", "statement-publish"])
def test_reject_and_publish_also_need_a_recent_code(client, cast, name):
    statement = submit(cast, new_statement(cast))
    actor = cast.legal if name == "statement-reject" else cast.publisher
    sign_in(client, actor)
    age_verification(client, 10 * 60)
    before = snapshot(STATEMENT_TABLES)
    data = {"version": 1, "sha256": cv(fresh(statement)).sha256, "step": 1, "reason": "No", "channel": "x"}
    response = client.post(url(statement, name), data, **HX)
    assert response.status_code == 403
    assert response["X-Step-Up"] == "1"
    assert snapshot(STATEMENT_TABLES) == before


# --- login throttling (R7) ----------------------------------------------------------------------------------


def log_in(client, email, password, address):
    return client.post(reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=address)


def test_wrong_passwords_lock_the_account_from_that_address_only(client, manager, settings):
    from axes.models import AccessFailureLog

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, manager.email, "wrong-guess", "10.9.0.1").status_code == 200
    assert log_in(client, manager.email, "wrong-guess", "10.9.0.1").status_code == 429  # the last allowed
    locked = log_in(Client(), manager.email, PASSWORD, "10.9.0.1")
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert log_in(Client(), manager.email.upper(), PASSWORD, "10.9.0.1").status_code == 429  # any case
    # Every failure is logged, the refused attempts while locked out included.
    assert AccessFailureLog.objects.filter(username=manager.email).count() == settings.AXES_FAILURE_LIMIT + 2
    # The real person, on their own device elsewhere, signs in as usual.
    theirs = Client()
    assert log_in(theirs, manager.email, PASSWORD, "10.9.0.2").status_code == 302
    assert "_auth_user_id" in theirs.session


def test_many_accounts_from_one_address_get_429(client, settings):
    settings.LOGIN_ADDRESS_BURST = 4
    people = [UserFactory.create() for _ in range(6)]
    codes = [log_in(client, p.email, "wrong-guess", "10.9.1.1").status_code for p in people]
    assert codes[:4] == [200] * 4
    assert codes[4:] == [429, 429]
    assert (
        log_in(Client(), people[0].email, "wrong-guess", "10.9.1.2").status_code == 200
    )  # others unaffected


def test_password_reset_answers_the_same_and_stops_mailing_after_a_few(client, manager, settings):
    settings.PASSWORD_RESET_BURST = 2
    answers = [
        client.post(reverse("password_reset"), {"email": email}, REMOTE_ADDR="10.9.2.1")
        for email in [manager.email] * 4 + ["nobody@example.com"]
    ]
    assert {(a.status_code, a["Location"]) for a in answers} == {(302, reverse("password_reset_done"))}
    assert len(mail.outbox) == 2


# --- write limits (R33) -------------------------------------------------------------------------------------


def test_a_flood_of_posts_gets_429_with_the_text_kept_and_others_post_on(
    client, manager, member, incident, settings
):
    from tests.factories import give_role

    settings.WRITE_BURST = 3
    settings.WRITE_REFILL_SECONDS = 60
    give_role(incident, member, "comms-lead")
    sign_in(client, manager)
    for i in range(3):
        data = {"kind": "note", "body": f"post {i}", "idempotency_key": f"f{i}"}
        assert client.post(room_url(incident, "timeline-post"), data, **HX).status_code == 200
    before = snapshot(["incidents_timelineentry"])
    refused = client.post(
        room_url(incident, "timeline-post"),
        {"kind": "note", "body": "typed text 4", "idempotency_key": "f4"},
        **HX,
    )
    html = refused.content.decode()
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "faster than the war room accepts" in html
    assert "typed text 4" in html
    assert snapshot(["incidents_timelineentry"]) == before
    other = Client()
    sign_in(other, member)
    ok = other.post(
        room_url(incident, "timeline-post"),
        {"kind": "note", "body": "mine", "idempotency_key": "o"},
        headers={"HX-Request": "true"},
    )
    assert ok.status_code == 200  # another person's flood costs this one nothing


def test_writes_go_through_when_redis_is_down(client, manager, incident, settings, monkeypatch):
    from incidents.accounts import throttle

    settings.WRITE_BURST = 1
    calls = []

    def dead():
        calls.append(1)
        return redis.Redis(host="127.0.0.1", port=1, socket_timeout=0.2, socket_connect_timeout=0.2)

    monkeypatch.setattr(throttle, "bucket_redis", dead)
    monkeypatch.setattr(throttle, "_down_until", 0.0)
    sign_in(client, manager)
    for i in range(3):
        data = {"kind": "note", "body": f"post {i}", "idempotency_key": f"d{i}"}
        assert client.post(room_url(incident, "timeline-post"), data, **HX).status_code == 200
    assert (
        len(calls) == 1
    )  # after the first failure the buckets are skipped for a while, not retried per post


# --- sessions (R10) -----------------------------------------------------------------------------------------


def test_changing_the_password_ends_the_other_sessions(manager):
    a, b = Client(), Client()
    sign_in(a, manager)
    sign_in(b, manager)
    assert a.get(reverse("accounts:security")).status_code == 200
    assert b.get(reverse("incidents:dashboard")).status_code == 200
    changed = a.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-passphrase",
            "new_password2": "a-new-long-passphrase",
        },
    )
    assert changed.status_code == 302
    assert a.get(reverse("incidents:dashboard")).status_code == 200
    assert b.get(reverse("incidents:dashboard"))["Location"].startswith(reverse("login"))
    assert not Session.objects.filter(session_key=b.session.session_key).exists()


def test_the_sessions_page_lists_each_browser_and_signs_out_the_others(manager):
    a, b = Client(HTTP_USER_AGENT="Firefox on the laptop"), Client(HTTP_USER_AGENT="Safari on the phone")
    for c in (a, b):
        sign_in(c, manager)
        session = c.session
        session[sessions.SEEN] = 0  # seen long ago: the next request records this browser
        session.save()
        c.get(reverse("incidents:dashboard"))
    html = a.get(reverse("accounts:security")).content.decode()
    assert "Firefox on the laptop" in html
    assert "Safari on the phone" in html
    assert "This browser" in html
    assert "<time" in html  # shown in the viewer's zone by the `when` tag
    a.post(reverse("accounts:sign-out-others"))
    assert b.get(reverse("incidents:dashboard"))["Location"].startswith(reverse("login"))
    assert a.get(reverse("incidents:dashboard")).status_code == 200
    assert SignedInSession.objects.filter(user=manager).count() == 1


def test_new_recovery_codes_end_the_other_sessions(manager):
    a, b = Client(), Client()
    sign_in(a, manager)
    sign_in(b, manager)
    b.get(reverse("incidents:dashboard"))
    page = a.post(reverse("accounts:recovery-codes"))
    assert page.status_code == 200
    assert b.get(reverse("incidents:dashboard"))["Location"].startswith(reverse("login"))


def test_handing_over_command_needs_a_recent_code(client, manager, member, incident):
    from incidents.models import RoleAssignment
    from tests.factories import give_role

    give_role(incident, member, "deputy")
    command = RoleAssignment.objects.current().get(incident=incident, user=manager, role__slug="commander")
    sign_in(client, manager)
    age_verification(client, 6 * 60)
    tables = ["incidents_roleassignment", "incidents_incidentuserobjectpermission", "incidents_timelineentry"]
    before = snapshot(tables)
    handover = reverse("incidents:team-handover", args=[incident.code, command.pk])
    prompt = client.post(handover, {"to": member.email}, **HX)
    assert prompt.status_code == 403
    assert prompt["X-Step-Up"] == "1"
    assert snapshot(tables) == before
    done = client.post(handover, {"to": member.email, "step_up_code": current_code(manager)}, **HX)
    assert done.status_code == 200
    assert RoleAssignment.objects.current().get(incident=incident, role__slug="commander").user == member


def test_sending_to_the_platforms_needs_a_recent_code(client, cast):
    from tests.factories_statements import fully_approved

    statement = fully_approved(cast)
    version = cv(fresh(statement))
    sign_in(client, cast.publisher)
    age_verification(client, 6 * 60)
    tables = ["publishing_delivery", *STATEMENT_TABLES]
    before = snapshot(tables)
    send = reverse("publishing:send", args=[statement.incident.code, statement.code])
    response = client.post(
        send, {"version": version.number, "sha256": version.sha256, "connectors": []}, **HX
    )
    assert response.status_code == 403
    assert response["X-Step-Up"] == "1"
    assert snapshot(tables) == before


def _every_route():
    """Every named route of the URLconf (admin's regex routes aside), its converters filled in."""
    from django.urls import URLPattern, URLResolver, get_resolver
    from django.urls.resolvers import RoutePattern

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if isinstance(p.pattern, RoutePattern):
                    yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and isinstance(p.pattern, RoutePattern):
                yield prefix + str(p.pattern)

    return sorted(set(walk(get_resolver().url_patterns)))


FILL = {"uuid": "00000000-0000-4000-8000-000000000000", "int": "1", "str": "x", "slug": "x", "path": "x"}
OPEN = (
    "accounts/login/",
    "accounts/logout/",
    "accounts/second-factor/",
    "accounts/password_reset/",
    "accounts/reset/",
)


def test_the_gate_sweep_covers_every_route_get_and_post(client, manager, incident):
    authenticator(manager)
    sign_in(client, manager, verified=False)
    routes = [r for r in _every_route() if not r.startswith(OPEN) and r not in ("healthz", "favicon.ico")]
    assert len(routes) > 60
    tables = [
        "incidents_incident",
        "incidents_timelineentry",
        "incidents_statement",
        "incidents_roleassignment",
    ]
    before = snapshot(tables)
    for route in routes:
        path = "/" + re.sub(
            r"<(?:(\w+):)?(\w+)>",
            lambda m: str(incident.code) if m.group(2) == "code" else FILL[str(m.group(1) or "str")],
            route,
        )
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 302, (path, response.status_code)
            assert response["Location"].startswith(reverse("accounts:verify")), path
            fragment = method(path, headers={"HX-Request": "true"})
            assert fragment.status_code == 401, path
    assert snapshot(tables) == before
    assert client.get("/admin/incidents/incident/")["Location"].startswith(reverse("accounts:verify"))


def test_a_recovery_code_of_digits_only_is_still_a_recovery_code(client, manager):
    authenticator(manager)
    otp.new_recovery_codes(manager)
    StaticToken.objects.filter(device__user=manager).update(token="1234567890")
    sign_in(client, manager, verified=False)
    assert client.post(reverse("accounts:verify"), {"code": "1234567890"}).status_code == 302


def test_a_session_names_its_browser_and_system():
    agents = {
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0": "Edge on Windows",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1": "Safari on iPhone",
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0": "Firefox on Linux",
        "": "Unknown browser",
    }
    for agent, said in agents.items():
        assert SignedInSession(user_agent=agent).device == said


def test_without_the_policy_people_without_an_authenticator_approve_without_a_prompt(client, cast, settings):
    settings.OTP_REQUIRED = False
    statement = submit(cast, new_statement(cast))
    version = cv(fresh(statement))
    sign_in(client, cast.legal, verified=False)
    TOTPDevice.objects.filter(user=cast.legal).delete()
    response = client.post(
        url(statement, "statement-approve"), {"version": 1, "sha256": version.sha256}, **HX
    )
    assert response.status_code == 200
    assert Approval.objects.filter(version=version).count() == 1


def test_a_password_set_from_a_reset_link_ends_every_session(manager):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    signed_in = Client()
    sign_in(signed_in, manager)
    assert signed_in.get(reverse("incidents:dashboard")).status_code == 200
    uid = urlsafe_base64_encode(force_bytes(manager.pk))
    link = reverse("password_reset_confirm", args=[uid, default_token_generator.make_token(manager)])
    anonymous = Client()
    form = anonymous.get(link)
    assert form.status_code == 302
    done = anonymous.post(
        form["Location"], {"new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"}
    )
    assert done.status_code == 302
    assert signed_in.get(reverse("incidents:dashboard"))["Location"].startswith(reverse("login"))
    assert not SignedInSession.objects.filter(user=manager).exists()


def test_a_frozen_redis_costs_the_write_bucket_one_short_wait_then_it_is_skipped(settings, monkeypatch):
    import os
    import signal
    import subprocess
    import time

    from incidents.accounts import throttle
    from tests.launcher_stack import free_port, socket_open, wait_for

    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: socket_open(port), "redis-server", 30)
        settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
        throttle.bucket_redis.cache_clear()
        monkeypatch.setattr(throttle, "_down_until", 0.0)
        assert [throttle.take("t", burst=2, refill_seconds=60) for _ in range(3)][:2] == [0.0, 0.0]
        assert throttle.take("t", burst=2, refill_seconds=60) > 0  # the bucket works

        os.kill(server.pid, signal.SIGSTOP)
        try:
            assert throttle.take("t", burst=2, refill_seconds=60) == 0.0  # fails open
            assert throttle._down_until > time.monotonic()  # and stops asking for a while

            def must_not_be_called():
                raise AssertionError("Redis asked while the breaker is open")

            monkeypatch.setattr(throttle, "bucket_redis", must_not_be_called)
            assert throttle.take("t", burst=2, refill_seconds=60) == 0.0
        finally:
            os.kill(server.pid, signal.SIGCONT)
    finally:
        server.terminate()
        server.wait(30)
        monkeypatch.undo()
        throttle.bucket_redis.cache_clear()
