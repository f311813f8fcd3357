"""Test settings: the production settings module, made fit for the test client and a local browser.

Everything else (PostgreSQL, Redis, CSP, middleware) stays exactly as in production.
"""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-to-not-matter-0123456789")
os.environ.setdefault("DEBUG", "false")
# Browsers under test talk plain http to localhost.
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")

from warroom.settings import *  # noqa: F403

# Hashing with the production hasher costs ~0.3 s per login; tests log in a lot.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The fake feed, Mastodon and webhook servers of the listening tests listen on 127.0.0.1.
LISTENING_ALLOW_PRIVATE_HOSTS = True
