# One image for every application process (web, events, worker, beat, migrate);
# docker-compose.yml picks the process with `command:`.
#
# No "# syntax=" line and no RUN --mount: the file must also build with the
# classic builder that docker-compose v1 drives, and without pulling a
# frontend image.

# ---------------------------------------------------------------------------
# build: resolve uv.lock into /app/.venv. Kept apart so uv and pip caches never
# reach the runtime image.
# ---------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS build

# Same uv as the development tool chain, so the lock file format is understood.
ARG UV_VERSION=0.13.8

# UV_PYTHON_DOWNLOADS=never: use the image's interpreter, the venv is then valid
# in the runtime stage, which has the same /usr/local/bin/python3.11.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install "uv==${UV_VERSION}"

WORKDIR /app

# Only the dependency manifests: source edits then reuse the cached venv layer.
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --frozen --no-dev --no-install-project

# ---------------------------------------------------------------------------
# runtime
# ---------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:${PATH}" \
    DJANGO_SETTINGS_MODULE=warroom.settings \
    MEDIA_ROOT=/app/var/media

# DejaVu: a Unicode font for PDF exports (names like Wiśniewska or Åström must not turn into "?").
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Fixed uid/gid so ownership of the media volume stays stable across rebuilds.
# A real home directory: gunicorn puts its control socket under $HOME.
RUN groupadd --system --gid 10001 warroom \
    && useradd --system --uid 10001 --gid warroom --create-home --home-dir /home/warroom \
        --shell /usr/sbin/nologin warroom

WORKDIR /app

COPY --from=build /app/.venv /app/.venv
# Code stays root-owned: the app user can read it but not rewrite it.
COPY . .

# collectstatic imports the settings, which refuse to start without a secret;
# the dummy values exist only for this RUN and are not baked into the image's
# environment. The media directory is created here, owned by the app user, so
# that an empty named volume mounted on it inherits that ownership.
RUN SECRET_KEY=collectstatic-build-only-not-a-secret \
    DATABASE_URL=postgresql://build:build@localhost:5432/build \
    REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput \
    && python -m warroom.compilemessages \
    && mkdir -p /app/var/media \
    && chown -R warroom:warroom /app/var

# Numeric, so runtimes can verify non-root without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000 8001

# Default process is the page server; compose overrides it per service.
# --worker-tmp-dir /dev/shm: the heartbeat file on the overlay filesystem can
# stall workers (gunicorn's Docker advice).
CMD ["gunicorn", "warroom.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", \
     "--access-logfile", "-", "--worker-tmp-dir", "/dev/shm"]
