"""What the web app does for `make run`: restart counts in /healthz, the favicon, development e-mail to a
file, and live streams only on the pages' own origin."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core import mail
from django.core.mail import EmailMessage, get_connection

from warroom import devmail
from warroom.launcher import write_state

ROOT = Path(__file__).resolve().parent.parent


# --- /healthz -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_includes_the_supervisor_s_restart_counts_when_it_runs(client, settings, tmp_path):
    state = tmp_path / "supervisor.json"
    settings.SUPERVISOR_STATE_FILE = str(state)

    assert "supervisor" not in client.get("/healthz").json()  # no file: no supervisor (compose, tests)

    write_state(
        state,
        {
            "web": {"pid": 10, "running": True, "restarts": 0, "last_exit": None},
            "events": {
                "pid": 11,
                "running": True,
                "restarts": 2,
                "last_exit": "killed by SIGKILL",
                "last_exit_at": "2026-01-01T00:00:00+00:00",
            },
        },
    )
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["supervisor"] == {
        "restarts": 2,
        "processes": {
            "web": {"restarts": 0, "running": True, "last_exit": None, "last_exit_at": None},
            "events": {
                "restarts": 2,
                "running": True,
                "last_exit": "killed by SIGKILL",
                "last_exit_at": "2026-01-01T00:00:00+00:00",
            },
        },
    }
    assert "pid" not in str(body)  # process ids are the launcher's business, not a load balancer's

    state.write_text("garbage")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "supervisor" not in response.json()


# --- favicon ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_favicon_is_linked_and_favicon_ico_leads_to_it(client):
    assert (ROOT / "static" / "favicon.svg").read_text().startswith("<svg")
    login = client.get("/accounts/login/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in login

    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.svg"
    assert client.get(response["Location"]).status_code == 200


# --- development e-mail -------------------------------------------------------------------------


@pytest.fixture
def mailbox(settings, tmp_path: Path) -> Path:
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    return tmp_path / "mail" / devmail.MAILBOX_NAME


def test_development_e_mail_is_appended_readably_to_one_file(mailbox):
    connection = get_connection("warroom.devmail.EmailBackend")
    sent = connection.send_messages(
        [
            EmailMessage(
                "INC-2026-0001: “Brief support” is overdue — Sofia",
                "Hello Sofia,\n\nOpen the war room: http://127.0.0.1:8123/incidents/x/",
                "War Room <warroom@localhost>",
                ["sofia@northwind.example"],
                headers={"Message-ID": "<abc@warroom>"},
            ),
            EmailMessage("Second", "Body two", "w@localhost", ["erik@northwind.example"]),
        ]
    )
    assert sent == 2
    text = mailbox.read_text(encoding="utf-8")
    # Decoded, as a person reads it (the console backend printed =?utf-8?q?…?= subjects).
    assert "Subject: INC-2026-0001: “Brief support” is overdue — Sofia\n" in text
    assert "To: sofia@northwind.example\n" in text
    assert "Message-ID: <abc@warroom>\n" in text
    assert "Open the war room: http://127.0.0.1:8123/incidents/x/\n" in text
    assert text.count(devmail.SEPARATOR) == 2
    assert mail.outbox == []  # written, not sent


def test_parallel_senders_never_interleave_messages(mailbox):
    def send(worker: int) -> None:
        connection = get_connection("warroom.devmail.EmailBackend")
        for n in range(25):
            body = f"worker {worker} message {n}\n" + "x" * 5000  # larger than one write buffer
            message = EmailMessage(f"w{worker}-{n}", body, "w@localhost", [f"p{worker}@x.example"])
            assert connection.send_messages([message]) == 1

    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    messages = mailbox.read_text(encoding="utf-8").split(devmail.SEPARATOR + "\n")[:-1]
    assert len(messages) == 100
    for message in messages:
        subject = message.split("Subject: ")[1].split("\n")[0]
        worker, n = subject[1:].split("-")
        assert f"To: p{worker}@x.example\n" in message
        assert f"worker {worker} message {n}\n" + "x" * 5000 in message


@pytest.fixture
def devmail_backend(settings):
    settings.EMAIL_BACKEND = "warroom.devmail.EmailBackend"


def test_an_unwritable_mailbox_fails_loudly_unless_told_otherwise(settings, tmp_path, devmail_backend):
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings.EMAIL_FILE_PATH = str(blocker / "mail")  # below a file: cannot exist
    with pytest.raises(NotADirectoryError):
        EmailMessage("s", "b", "w@localhost", ["a@x.example"]).send()
    assert EmailMessage("s", "b", "w@localhost", ["a@x.example"]).send(fail_silently=True) == 0


# --- one origin -----------------------------------------------------------------------------------


def _settings_probe(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EVENTS_URL"))}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.EVENTS_URL, ','.join(s.CONTENT_SECURITY_POLICY['DIRECTIVES']['connect-src']), "
            "s.EMAIL_BACKEND)",
        ],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "warroom.settings", "SECRET_KEY": "x" * 50, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_streams_live_on_the_pages_origin_and_another_origin_is_refused_at_start():
    default = _settings_probe({"DEBUG": "true"})
    assert default.returncode == 0, default.stderr
    # Same origin: no stream host in the CSP; development mail to the file.
    assert default.stdout.split() == ["/events/", "'self'", "warroom.devmail.EmailBackend"]

    for refused in ("http://127.0.0.1:8001/events/", "//events.example.com/events/", "events/"):
        result = _settings_probe({"DEBUG": "true", "EVENTS_URL": refused})
        assert result.returncode != 0, refused
        assert "must be a path on the pages' own origin" in result.stderr, refused
