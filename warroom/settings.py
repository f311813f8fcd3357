"""Settings for the war room. Everything deployment-specific comes from the environment (.env.example).

Defaults are the safe production ones; `make run` exports DEBUG=true and a local secret for development.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import django_stubs_ext
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from warroom.env import env_bool, env_float, env_int, env_list, env_str, parse_database_url

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=true for local development).")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

ORGANISATION_NAME = env_str("ORGANISATION_NAME", "Northwind Outfitters")
# Absolute links in e-mails (`make run` sets it to the port it chose).
SITE_URL = env_str("SITE_URL", "http://localhost:8000")
# Written by `make run`'s supervisor (warroom/launcher/state.py): /healthz adds its restart counts.
SUPERVISOR_STATE_FILE = env_str("SUPERVISOR_STATE_FILE", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.forms",
    "django_htmx",
    "template_partials",
    "guardian",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    "axes",
    "incidents",
    "incidents.accounts",
    "incidents.playbooks",
    "incidents.reviews",
    "incidents.audit",
    "incidents.listening",
    "incidents.publishing",
    "incidents.stakeholders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Before login the browser's Accept-Language (or the switcher's cookie) picks the language;
    # UserLanguageMiddleware below overrides it with a signed-in person's own choice.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # A NUL byte in a query or form field is a clear 400, not a 500 from PostgreSQL.
    "incidents.middleware.NulByteMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A password-only session reaches nothing but the second-factor pages (incidents/accounts/gate.py).
    "incidents.accounts.gate.SecondFactorGate",
    # Every write of the request carries its user and request id to the audit triggers.
    "incidents.audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "incidents.middleware.UserTimezoneMiddleware",
    "incidents.middleware.UserLanguageMiddleware",
    "incidents.middleware.PrivateCacheMiddleware",
    # Last: it answers a locked-out login attempt before the login view runs (django-axes' own advice).
    "axes.middleware.AxesMiddleware",
]

# Widgets may be overridden from templates/ (the severity cards on the declare form).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"
ROOT_URLCONF = "warroom.urls"
WSGI_APPLICATION = "warroom.wsgi.application"
ASGI_APPLICATION = "warroom.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "incidents.context_processors.warroom",
            ],
            # `{% url %}` remembers its reversals (the room makes ~70 a render): incidents/templatetags/memo_url.py.
            "builtins": ["incidents.templatetags.memo_url"],
        },
    },
]

# --- Data stores -------------------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/warroom")
_db = parse_database_url(DATABASE_URL)
# Django's psycopg pool; health checks make a restarted PostgreSQL cost zero failed requests
# (reliability-anchors §4.2). The pool requires CONN_MAX_AGE=0.
_db["OPTIONS"]["pool"] = {
    "min_size": env_int("DB_POOL_MIN_SIZE", 1),
    "max_size": env_int("DB_POOL_MAX_SIZE", 12),
    "timeout": env_int("DB_POOL_TIMEOUT", 10),
}
# No JIT compilation: our queries are short, and a plan whose *estimate* passes jit_above_cost (a hashed
# visibility subquery over a few thousand incidents) spent ~11 ms compiling for a query that ran in 0.1 ms
# (bench `listening`: the monitoring chart over 7,500 incidents, 15 → 1 ms for its watch list).
_db["OPTIONS"]["options"] = " ".join(filter(None, [_db["OPTIONS"].get("options", ""), "-c jit=off"]))
_db["CONN_MAX_AGE"] = 0
_db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Seconds; a frozen Redis must never hang a request (reliability-anchors §4.2).
REDIS_SOCKET_TIMEOUT = float(env_int("REDIS_SOCKET_TIMEOUT_MS", 1000)) / 1000
# Pub/sub channels and keys carry a per-deployment name derived from the database identity
# (warroom/redis.py); this optional prefix is added in front, e.g. to tell apart two deployments whose
# databases have the same host, port and name on different machines but share one Redis server.
REDIS_PREFIX = env_str("REDIS_PREFIX", "")

# --- Celery --------------------------------------------------------------------------------------------------
# The broker may live apart from the doorbells and caches (the benchmark gives it a Redis database of its own).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "") or REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Periodic jobs and reminder timing, in seconds (tests and benchmarks shorten them).
REMINDER_SWEEP_SECONDS = env_float("REMINDER_SWEEP_SECONDS", 5)
# Reminders due within this get a Celery ETA task (capped at 300: Redis redelivers long ETAs).
REMINDER_ETA_HORIZON_SECONDS = env_float("REMINDER_ETA_HORIZON_SECONDS", 120)
REMINDER_ETA_HEAD_START_SECONDS = env_float("REMINDER_ETA_HEAD_START_SECONDS", 2)
OUTBOX_SWEEP_SECONDS = env_float("OUTBOX_SWEEP_SECONDS", 15)
WEBHOOK_SWEEP_SECONDS = env_float("WEBHOOK_SWEEP_SECONDS", 10)
WEBHOOK_BACKOFF_SECONDS = env_float("WEBHOOK_BACKOFF_SECONDS", 30)
INJECT_SWEEP_SECONDS = env_float("INJECT_SWEEP_SECONDS", 5)
AUDIT_SEAL_SECONDS = env_float("AUDIT_SEAL_SECONDS", 5)
LISTENING_POLL_SWEEP_SECONDS = env_float("LISTENING_POLL_SWEEP_SECONDS", 15)
LISTENING_SPIKE_SWEEP_SECONDS = env_float("LISTENING_SPIKE_SWEEP_SECONDS", 60)
# Exports above this many PDF-entry equivalents are prepared by a worker (incidents/reviews/exports.py);
# prepared files are kept this long for their requester, then deleted.
EXPORT_SYNC_MAX_ENTRIES = env_int("EXPORT_SYNC_MAX_ENTRIES", 250)
EXPORT_TTL_HOURS = env_float("EXPORT_TTL_HOURS", 24)
# Publishing through connectors (incidents/publishing): per-request timeout, how long a worker owns a
# delivery it is sending, the first retry's back-off, and the sweep that resumes deliveries a worker dropped.
PUBLISH_TIMEOUT_SECONDS = env_float("PUBLISH_TIMEOUT_SECONDS", 10)
PUBLISH_LEASE_SECONDS = env_float("PUBLISH_LEASE_SECONDS", 90)
PUBLISH_BACKOFF_SECONDS = env_float("PUBLISH_BACKOFF_SECONDS", 5)
PUBLISH_SWEEP_SECONDS = env_float("PUBLISH_SWEEP_SECONDS", 5)
# The schedule lives in code, not in a database table: beat restarts must not reset or duplicate it.
CELERY_BEAT_SCHEDULE = {
    # Safety net for e-mails whose on-commit kick was lost (Redis down at the time).
    "send-outbox": {
        "task": "incidents.tasks.send_outbox_task",
        "schedule": timedelta(seconds=OUTBOX_SWEEP_SECONDS),
    },
    # Reminders: the durable path. Claims due rows with SKIP LOCKED; also hands the next couple of minutes
    # to ETA tasks for precision (incidents/services/reminders.py).
    "sweep-reminders": {
        "task": "incidents.tasks.sweep_reminders_task",
        "schedule": timedelta(seconds=REMINDER_SWEEP_SECONDS),
    },
    # Webhooks whose on-commit kick was lost, and retries whose back-off has passed.
    "send-webhooks": {
        "task": "incidents.tasks.send_webhooks_task",
        "schedule": timedelta(seconds=WEBHOOK_SWEEP_SECONDS),
    },
    # Drill injects due now go to their timelines (SKIP LOCKED, exactly once each).
    "sweep-drill-injects": {
        "task": "incidents.playbooks.tasks.sweep_drill_injects",
        "schedule": timedelta(seconds=INJECT_SWEEP_SECONDS),
    },
    # Owners of playbooks not reviewed for 90 days are reminded (once per review date).
    "remind-playbook-reviews": {
        "task": "incidents.playbooks.tasks.remind_playbook_reviews",
        "schedule": timedelta(days=1),
    },
    # The audit log's hash chain: rows are sealed a run or two after their transaction ends (incidents/audit).
    "seal-audit-chain": {
        "task": "incidents.audit.tasks.seal_audit_chain",
        "schedule": timedelta(seconds=AUDIT_SEAL_SECONDS),
    },
    # Social listening (incidents/listening/tasks.py): due feeds and Mastodon connectors, each in its own task
    # under its own lease; scoring and spike checks also run right after every ingest, these are the nets.
    "poll-listening-sources": {
        "task": "incidents.listening.tasks.poll_sources_task",
        "schedule": timedelta(seconds=LISTENING_POLL_SWEEP_SECONDS),
    },
    "score-pending-mentions": {
        "task": "incidents.listening.tasks.enrich_mentions_task",
        "schedule": timedelta(seconds=30),
    },
    "check-mention-spikes": {
        "task": "incidents.listening.tasks.check_spikes_task",
        "schedule": timedelta(seconds=LISTENING_SPIKE_SWEEP_SECONDS),
    },
    "inject-drill-mentions": {
        "task": "incidents.listening.tasks.inject_drill_mentions_task",
        "schedule": timedelta(seconds=INJECT_SWEEP_SECONDS),
    },
    # Prepared exports past their expiry: files and rows deleted.
    "expire-exports": {
        "task": "incidents.reviews.tasks.expire_exports",
        "schedule": timedelta(minutes=15),
    },
    # Publishing: deliveries due for a retry, and those a vanished worker was sending (incidents/publishing).
    "sweep-publishing": {
        "task": "incidents.publishing.tasks.sweep_task",
        "schedule": timedelta(seconds=PUBLISH_SWEEP_SECONDS),
    },
    "clear-expired-sessions": {
        "task": "incidents.tasks.clear_expired_sessions",
        "schedule": timedelta(hours=1),
    },
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_timeout": 2,
    "socket_connect_timeout": 2,
    # Reminders never ride on long ETAs (PostgreSQL rows are the truth), so the default hour is fine.
    "visibility_timeout": 3600,
}
# `.delay()` with Redis down must fail fast so the request can carry on; the sweep catches up.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- Auth ----------------------------------------------------------------------------------------------------
AUTH_USER_MODEL = "incidents.User"
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out account and address pair is refused before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# The war room has no anonymous access, so guardian must not create an AnonymousUser row.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "incidents:dashboard"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = 60 * 60  # one hour
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Second factor (django-otp; incidents/accounts). Everyone who can approve, publish or administer must have
# one, and in practice that is every member, so the policy is one switch, on by default.
OTP_REQUIRED = env_bool("OTP_REQUIRED", True)
OTP_TOTP_ISSUER = f"War Room · {ORGANISATION_NAME}"
# Approving, rejecting, publishing, handing over command and changing a restriction need a second-factor
# check at most this old (seconds); older, the action asks for one code in place.
STEP_UP_MAX_AGE = env_int("STEP_UP_MAX_AGE", 5 * 60)
# Passkeys (django-otp-webauthn; incidents/accounts/passkeys.py): a second factor beside the app, never the
# first. The relying party is the host the person opened (so `make run` works on localhost), its expected
# origins that host and SITE_URL's, computed per request by the helper; the setting below only satisfies the
# library's start-up check, which accepts no plain-http origin but localhost (a passkey on http works only on
# localhost anyway: browsers refuse WebAuthn on other plain-http hosts, and on IP addresses).
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_HELPER_CLASS = "incidents.accounts.passkeys.Helper"
OTP_WEBAUTHN_RP_ID_CALLABLE = "incidents.accounts.passkeys.rp_id"
OTP_WEBAUTHN_RP_NAME_CALLABLE = "incidents.accounts.passkeys.rp_name"
OTP_WEBAUTHN_ALLOWED_ORIGINS = ["http://localhost"]
OTP_WEBAUTHN_EXCEPTION_LOGGER_NAME = "warroom.security"

# Login throttling (django-axes): failures are counted per account *and* address together, so an attacker
# elsewhere cannot lock the real person out on their own device; a flood from one address across many accounts
# is caught by the per-address bucket in incidents/accounts/throttle.py. Every failure is logged.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "incidents.accounts.throttle.locked_out"
# The login form's field is "username" (holding the e-mail), lower-cased so "MAJA@" and "maja@" count as one.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "incidents.accounts.throttle.login_name"
AXES_HTTP_RESPONSE_CODE = 429
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if env_bool("BEHIND_TLS_PROXY", False) else ["REMOTE_ADDR"]
)
# Per-address login attempts (any account) and password-reset requests: a token bucket each (burst, then
# one more every so many seconds).
LOGIN_ADDRESS_BURST = env_int("LOGIN_ADDRESS_BURST", 20)
LOGIN_ADDRESS_REFILL_SECONDS = env_float("LOGIN_ADDRESS_REFILL_SECONDS", 15)
PASSWORD_RESET_BURST = env_int("PASSWORD_RESET_BURST", 3)
PASSWORD_RESET_REFILL_SECONDS = env_float("PASSWORD_RESET_REFILL_SECONDS", 600)
# Writes per person (timeline posts, comments, statements, uploads): a burst, then one every so many seconds.
WRITE_BURST = env_int("WRITE_BURST", 30)
WRITE_REFILL_SECONDS = env_float("WRITE_REFILL_SECONDS", 1)

# Sessions live in PostgreSQL (they survive a Redis outage) and expire 12 hours after login: one long shift.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = False

# --- Security ------------------------------------------------------------------------------------------------
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
# The __Host- prefix pins cookies to this exact host over HTTPS; browsers refuse it without Secure.
SESSION_COOKIE_NAME = "__Host-sessionid" if SECURE_COOKIES else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if SECURE_COOKIES else "csrftoken"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Container health checks probe over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Browsers open the live streams here: a path on the pages' own origin, in every setup (`make run` and
# docker-compose put a proxy in front that routes /events/ to the events process). htmx's SSE extension
# opens every EventSource with credentials, which a browser refuses across origins unless the other side
# allows credentials; one origin means no CORS at all, so another origin is refused here, at start-up.
EVENTS_URL = env_str("EVENTS_URL", "/events/")
if not EVENTS_URL.startswith("/") or EVENTS_URL.startswith("//"):
    raise ImproperlyConfigured(
        f"EVENTS_URL={EVENTS_URL!r} must be a path on the pages' own origin, such as /events/: route that "
        "path to the events process in the proxy in front (see the README, 'Behind a proxy')."
    )
# Seconds a freshly minted stream token can be used to (re)connect; membership is re-checked while open.
STREAM_TOKEN_MAX_AGE = env_int("STREAM_TOKEN_MAX_AGE", 15 * 60)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# --- Email ---------------------------------------------------------------------------------------------------
# In development every e-mail is appended to EMAIL_FILE_PATH/outbox.txt (warroom/devmail.py), not printed.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "warroom.devmail.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "War Room <warroom@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- I18n and time -------------------------------------------------------------------------------------------
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
# The interface languages (a statement's own language is separate: incidents.models.statement_text).
# Names in their own language: the switcher is read by someone who may not read the current one.
LANGUAGES = [
    ("en", "English"),
    ("pl", "Polski"),
    ("ru", "Русский"),
    ("sv", "Svenska"),
]
# The organisation's language: what the system writes once for everyone (timeline entries' words and
# buttons, incidents.services.timeline.organisation_language) and the interface before anyone has chosen.
# A Polish crisis team sets LANGUAGE_CODE=pl; an unknown language would leave those entries untranslated.
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en-gb")
if LANGUAGE_CODE.split("-")[0].lower() not in {code for code, _name in LANGUAGES}:
    raise ImproperlyConfigured(
        f"LANGUAGE_CODE={LANGUAGE_CODE!r} is not one of the interface languages: "
        + ", ".join(code for code, _name in LANGUAGES)
        + "."
    )
# Compiled (.mo) by `make install` from the .po files kept in git.
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

# --- Static and uploaded files -------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Evidence uploads: never under a public URL, only served through permission-checked views.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Social listening -----------------------------------------------------------------------------------------
# Languages the detector chooses from (ISO 639-1); a mention in another language stays "unknown" and unscored.
LISTENING_LANGUAGES = env_list("LISTENING_LANGUAGES", "en,de,fr,es,it,nl,pt,sv,da,no,fi,pl,ru")
# Signed webhook: body cap (refused before it is read), mentions per delivery, replay window in seconds.
LISTENING_WEBHOOK_MAX_BYTES = env_int("LISTENING_WEBHOOK_MAX_BYTES", 4 * 1024 * 1024)
LISTENING_WEBHOOK_MAX_MENTIONS = env_int("LISTENING_WEBHOOK_MAX_MENTIONS", 1000)
LISTENING_WEBHOOK_WINDOW_SECONDS = env_int("LISTENING_WEBHOOK_WINDOW_SECONDS", 300)
LISTENING_CSV_MAX_BYTES = env_int("LISTENING_CSV_MAX_BYTES", 10 * 1000 * 1000)
# Polled sources: per-request timeout and answer size cap; private and loopback addresses are refused
# unless this is set (tests serve feeds on 127.0.0.1).
LISTENING_FETCH_TIMEOUT_SECONDS = env_int("LISTENING_FETCH_TIMEOUT_SECONDS", 10)
LISTENING_FETCH_MAX_BYTES = env_int("LISTENING_FETCH_MAX_BYTES", 5 * 1000 * 1000)
LISTENING_ALLOW_PRIVATE_HOSTS = env_bool("LISTENING_ALLOW_PRIVATE_HOSTS", False)
# Reply deadline for loud authors in the response queue, minutes per severity.
LISTENING_REPLY_SLA_MINUTES = {
    "sev1": env_int("LISTENING_REPLY_SLA_SEV1", 15),
    "sev2": env_int("LISTENING_REPLY_SLA_SEV2", 30),
    "sev3": env_int("LISTENING_REPLY_SLA_SEV3", 120),
    "sev4": env_int("LISTENING_REPLY_SLA_SEV4", 480),
}

LOGGING = {
    "version": 1,
    # Keep uvicorn's, gunicorn's and Celery's own loggers alive.
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
