"""Settings come from the environment; production defaults pass Django's deployment checks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from warroom.env import env_bool, env_int, env_list, env_str, parse_database_url

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k7Vq2x9Lp0Zr4Tn8Wc6Yb1Md5Hs3Jf7Gq2Xe9Ru4Ia6Oy8Pw0Tn5Lm3Kd1Sb7Vc",
    "ALLOWED_HOSTS": "warroom.example.com",
    "DATABASE_URL": "postgresql://warroom:secret@127.0.0.1:5432/warroom",
}


def _manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_", "DEBUG", "SECRET_KEY"))
    }
    clean["DJANGO_SETTINGS_MODULE"] = "warroom.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_passes_with_production_settings():
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_fails_with_debug_on():
    # Proves the check above can fail: the same environment with DEBUG on is refused.
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], {**PRODUCTION_ENV, "DEBUG": "true"})
    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _manage(["check"], env)
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_the_organisation_language_comes_from_the_environment_and_must_be_an_interface_language():
    code = "from django.conf import settings as s; print(s.LANGUAGE_CODE)"
    result = _manage(["shell", "-c", code], {**PRODUCTION_ENV, "LANGUAGE_CODE": "pl"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "pl"

    refused = _manage(["check"], {**PRODUCTION_ENV, "LANGUAGE_CODE": "de"})
    assert refused.returncode != 0
    assert "LANGUAGE_CODE='de' is not one of the interface languages: en, pl, ru, sv." in refused.stderr


def test_production_settings_are_secure_by_default():
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_NAME, "
        "s.SECURE_HSTS_SECONDS, s.DATABASES['default']['CONN_HEALTH_CHECKS'], "
        "'pool' in s.DATABASES['default']['OPTIONS'], s.DATABASES['default']['CONN_MAX_AGE'], s.EMAIL_BACKEND)"
    )
    result = _manage(["shell", "-c", code], PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "True",
        "True",
        "True",
        "__Host-sessionid",
        "31536000",
        "True",
        "True",
        "0",
        "django.core.mail.backends.smtp.EmailBackend",
    ]


def test_every_environment_variable_is_listed_in_env_example():
    read = set()
    for path in [*ROOT.joinpath("warroom").glob("*.py")]:
        read |= set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z_]+)"', path.read_text()))
    listed = set(re.findall(r"^([A-Z_]+)=", ROOT.joinpath(".env.example").read_text(), re.MULTILINE))
    assert read, "no settings found"
    assert read <= listed, f"missing from .env.example: {sorted(read - listed)}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://app:p%40ss@db.internal:6543/warroom",
            {"NAME": "warroom", "USER": "app", "PASSWORD": "p@ss", "HOST": "db.internal", "PORT": "6543"},
        ),
        (
            "postgres://postgres@127.0.0.1/x",
            {"NAME": "x", "USER": "postgres", "HOST": "127.0.0.1", "PORT": ""},
        ),
        (
            "postgresql://postgres:@/warroom?host=/tmp/pg",
            {"NAME": "warroom", "HOST": "/tmp/pg", "PASSWORD": ""},
        ),
        ("postgresql://u@h/db?sslmode=require", {"OPTIONS": {"sslmode": "require"}}),
    ],
)
def test_parse_database_url(url, expected):
    parsed = parse_database_url(url)
    assert parsed["ENGINE"] == "django.db.backends.postgresql"
    for key, value in expected.items():
        assert parsed[key] == value


@pytest.mark.parametrize("url", ["mysql://u@h/db", "sqlite:///x.db", "postgresql://u@h/"])
def test_parse_database_url_rejects_non_postgres_or_nameless(url):
    with pytest.raises(ImproperlyConfigured):
        parse_database_url(url)


def test_env_readers(monkeypatch, tmp_path):
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", " a, b ,,c ")
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_bool("X_BOOL", False) is True
    assert env_bool("X_MISSING", True) is True
    assert env_int("X_INT", 0) == 42
    assert env_list("X_LIST") == ["a", "b", "c"]
    assert env_str("X_SECRET") == "from-a-file"
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured):
        env_bool("X_BOOL", False)
    monkeypatch.setenv("X_INT", "forty")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 0)


@pytest.mark.django_db
def test_database_sessions_run_without_jit():
    """A plan whose estimate passes jit_above_cost compiled for ~11 ms before running in 0.1 ms (bench
    `listening`); every connection the app opens (pooled or not) turns JIT off."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_options_given_in_the_database_url_are_kept_beside_jit_off():
    code = "from django.conf import settings as s; print(s.DATABASES['default']['OPTIONS']['options'])"
    url = "postgresql://warroom:secret@127.0.0.1:5432/warroom?options=-c%20statement_timeout%3D5000"
    result = _manage(["shell", "-c", code], PRODUCTION_ENV | {"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "-c statement_timeout=5000 -c jit=off"
