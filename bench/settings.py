"""Settings for the server under benchmark: the production settings plus timing instrumentation.

`python -m bench` exports every variable below explicitly; the defaults only make
`DJANGO_SETTINGS_MODULE=bench.settings ./manage.py ...` usable by hand against the bench database.
"""

from __future__ import annotations

import os

os.environ.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/warroom_bench")
os.environ.setdefault("SECRET_KEY", "bench-not-a-secret-only-for-the-local-benchmark-database-0123456789")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")

from warroom.env import env_bool
from warroom.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
# Outermost, so its figures cover the whole Django stack (every middleware, the view, the template).
MIDDLEWARE = ["bench.middleware.ServerTiming", *MIDDLEWARE]  # noqa: F405
# The same gate, which bench/accounts.py can switch off per request to measure what it costs.
MIDDLEWARE = [
    "bench.middleware.SwitchableGate" if m == "incidents.accounts.gate.SecondFactorGate" else m
    for m in MIDDLEWARE
]
# Templates only need {% static %} URLs, not a collectstatic manifest.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Dataset setup creates users; the production hasher would cost ~0.3 s each.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Nothing the benchmark triggers may reach a real worker or send mail: `python -m bench` points the broker at
# a Redis database of its own (bench.common.bench_env); by hand, tasks run in-process unless told otherwise.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
