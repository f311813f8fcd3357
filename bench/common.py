"""Shared pieces of `make bench`: configuration, the bench database, the server under test, the load
generator, statistics, tables, PASS/FAIL checks and dataset helpers.

Importable before Django is set up; everything touching the ORM imports it inside the function.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from bench.processes import REPO as REPO
from bench.processes import Server

if TYPE_CHECKING:
    from incidents.models import Incident, User

RESULTS_DIR = REPO / "bench" / "results"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/warroom_bench"
SECRET_KEY = "bench-not-a-secret-only-for-the-local-benchmark-database-0123456789"


# --- Configuration ---------------------------------------------------------------------------------------


@dataclass
class Config:
    seconds: float = 8.0  # measured phase per figure
    warmup: int = 200  # requests discarded before each measured phase
    threads: int = 4  # concurrent client connections
    quick: bool = False
    pin: bool = True
    show_sql: bool = False
    database_url: str = DEFAULT_DATABASE_URL

    @classmethod
    def from_env(cls, *, quick: bool, seconds: float | None, threads: int | None, pin: bool, show_sql: bool):
        env_seconds = os.environ.get("BENCH_SECONDS", "").strip()
        if seconds is None and env_seconds:
            seconds = float(env_seconds)
        if seconds is None:
            seconds = 1.0 if quick else 8.0
        return cls(
            seconds=seconds,
            warmup=30 if quick else 200,
            threads=threads or int(os.environ.get("BENCH_THREADS", "4")),
            quick=quick,
            pin=pin and os.environ.get("BENCH_NO_PIN", "") == "",
            show_sql=show_sql,
            database_url=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        )


BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/15")


def bench_env(database_url: str) -> dict[str, str]:
    """Environment of every process of the run (this one, migrate, the server)."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        # As in production, a request only enqueues its Celery tasks (the e-mail outbox, ETA reminders):
        # into a Redis database of the benchmark's own that no worker reads, emptied before and after the run
        # (purge_broker). Sending them eagerly would bill one request in a second for everybody's e-mails.
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_BROKER_URL": BROKER_URL,
        # The publishing scenario's connectors name these (bench/publishing.py): the server must see them.
        "WARROOM_PUBLISH_BENCH_MASTODON": "bench-mastodon-token",
        "WARROOM_PUBLISH_BENCH_BLUESKY": "bench-app-password",
        "WARROOM_PUBLISH_BENCH_WEBHOOK": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        # The load generator posts as a handful of people far faster than anyone types: a bucket that never
        # runs dry. It is still consulted on every write, so its Redis round trip is in the figures.
        "WRITE_BURST": "100000000",
    }


def purge_broker() -> None:
    """Drop the tasks the run enqueued (nobody consumes the benchmark's broker database)."""
    import redis

    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(BROKER_URL, socket_timeout=2, socket_connect_timeout=2).flushdb()


def configure_process_env(database_url: str) -> dict[str, str]:
    """Export the bench environment into this process (before Django is imported) and return it whole."""
    os.environ.update(bench_env(database_url))
    return dict(os.environ)


# --- The bench database ------------------------------------------------------------------------------------


def recreate_database(database_url: str) -> None:
    """Drop and create the bench database, so every run starts from the same state."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"Refusing to drop {name!r}: the bench database name must contain 'bench'.")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py migrate failed:\n{done.stdout}{done.stderr}")


def setup_django() -> None:
    import django

    django.setup()


# --- CPU pinning -------------------------------------------------------------------------------------------


@dataclass
class Pinning:
    server_cpu: int | None
    client_cpu: int | None
    how: str

    def describe(self) -> str:
        if self.server_cpu is None:
            return f"not pinned ({self.how})"
        return f"server on CPU {self.server_cpu}, load generator on CPU {self.client_cpu} ({self.how}); PostgreSQL unpinned"


def choose_pinning(enabled: bool) -> Pinning:
    if not enabled:
        return Pinning(None, None, "disabled by --no-pin/BENCH_NO_PIN")
    if not hasattr(os, "sched_getaffinity"):
        return Pinning(None, None, "no sched_setaffinity on this platform")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return Pinning(None, None, f"only {len(cpus)} CPU available")
    how = "taskset + sched_setaffinity" if shutil.which("taskset") else "sched_setaffinity"
    return Pinning(cpus[0], cpus[1], how)


# --- The server under test ---------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    result: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                result.extend(int(c) for c in fh.read().split())
    return result


class WebServer(Server):
    """gunicorn with ONE sync worker on a free 127.0.0.1 port, pinned to one CPU; always stopped on exit.

    Started, waited for, pinned and stopped as every child server is (bench.processes.Server): in its own
    session, so it is stopped as a group, by its own id, and never receives the terminal's Ctrl-C before we
    are ready to stop it.
    """

    name = "gunicorn"

    def __init__(self, env: dict[str, str], pinning: Pinning) -> None:
        super().__init__(env, cpu=pinning.server_cpu)
        self.pinning = pinning

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "warroom.wsgi:application",
            "--bind",
            f"{self.host}:{self.port}",
            "--workers",
            "1",
            "--worker-class",
            "sync",
            "--worker-tmp-dir",
            "/dev/shm" if os.path.isdir("/dev/shm") else str(self.tmp),
            # Its own control socket: another gunicorn may be running on this machine.
            "--control-socket",
            str(self.tmp / "gunicorn.ctl"),
            "--error-logfile",
            str(self.log_path),
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ]

    def ready(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            conn.request("GET", "/bench/bare/")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def pids(self) -> list[int]:
        return [self.pid, *self.worker_pids()]

    def worker_pids(self) -> list[int]:
        return _children(self.proc.pid) if self.proc is not None else []


# --- Load generation and statistics ------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class LoadStats:
    label: str
    path: str
    requests: int
    elapsed: float
    req_per_s: float
    server_p50: float
    server_p99: float
    client_p50: float
    client_p99: float
    queries_min: int
    queries_max: int
    statuses: dict[int, int]
    errors: int
    error_samples: list[str]
    client_cpu: float
    server_cpu: float | None
    postgres_cpu: float

    @property
    def ok(self) -> bool:
        return self.errors == 0 and set(self.statuses) == {200} and self.requests > 0

    @property
    def queries(self) -> str:
        if self.queries_min == self.queries_max:
            return str(self.queries_min)
        return f"{self.queries_min}..{self.queries_max}"

    @classmethod
    def from_result(cls, label: str, path: str, result: dict[str, Any]) -> LoadStats:
        samples = result["samples"]
        server = [s[1] for s in samples if s[1] >= 0]
        client = [s[2] for s in samples]
        queries = [s[3] for s in samples] or [-1]
        return cls(
            label=label,
            path=path,
            requests=len(samples),
            elapsed=result["elapsed"],
            req_per_s=len(samples) / result["elapsed"] if result["elapsed"] else 0.0,
            server_p50=percentile(server, 50),
            server_p99=percentile(server, 99),
            client_p50=percentile(client, 50),
            client_p99=percentile(client, 99),
            queries_min=min(queries),
            queries_max=max(queries),
            statuses=dict(Counter(s[0] for s in samples)),
            errors=int(result.get("error_count", 0)) + len(result.get("warmup_errors", [])),
            error_samples=[*result.get("warmup_errors", []), *result.get("errors", [])][:5],
            client_cpu=result["client_cpu"],
            server_cpu=result["server_cpu"],
            postgres_cpu=result["postgres_cpu"],
        )


def run_load(
    server: WebServer, path: str, *, label: str, config: Config, headers: dict[str, str] | None = None
) -> LoadStats:
    """Drive `path` from a separate process pinned to the client CPU; return the measured-phase figures."""
    job = {
        "host": server.host,
        "port": server.port,
        "path": path,
        "headers": {"Host": f"{server.host}:{server.port}", **(headers or {})},
        "threads": config.threads,
        "warmup": config.warmup,
        "seconds": config.seconds,
        "cpu": server.pinning.client_cpu,
        "server_pids": server.worker_pids(),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        cwd=REPO,
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
        timeout=config.seconds + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return LoadStats.from_result(label, path, json.loads(done.stdout))


# --- Output ------------------------------------------------------------------------------------------------

_COLOR = sys.stdout.isatty() and os.environ.get("NO_COLOR", "") == ""


def paint(text: str, code: str) -> str:
    return f"\033[{code}m{text}\033[0m" if _COLOR else text


def heading(text: str) -> None:
    print(f"\n{paint(text, '1')}\n{'─' * len(text)}", flush=True)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: Iterable[int] = ()) -> None:
    """A plain-text table; columns listed in `right` are right-aligned (numbers)."""
    rows = [list(r) for r in rows]
    right_cols = set(right)
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(_strip_ansi(cell)))

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            pad = " " * (widths[i] - len(_strip_ansi(cell)))
            out.append(pad + cell if i in right_cols else cell + pad)
        return "  ".join(out).rstrip()

    print(line(headers))
    print("  ".join("─" * w for w in widths))
    for row in rows:
        print(line(row))
    sys.stdout.flush()


_ANSI = re.compile(r"\033\[[0-9;]*m")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def fmt_num(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:,.{digits}f}"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


@dataclass
class Context:
    """What a scenario gets: the run's configuration and the server under test (already serving)."""

    config: Config
    server: WebServer
    pinning: Pinning


# --- Results and checks ------------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One measured figure, with the baseline throughput it is compared against (same run)."""

    figure: str
    variant: str
    stats: LoadStats
    baseline_req_per_s: float | None = None

    @property
    def ratio(self) -> float | None:
        if not self.baseline_req_per_s:
            return None
        return self.stats.req_per_s / self.baseline_req_per_s


@dataclass
class Check:
    name: str
    target: str
    measured: str
    passed: bool | None  # None: could not be measured


@dataclass
class ScenarioResult:
    name: str
    measurements: list[Measurement] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def measurement_rows(measurements: Iterable[Measurement]) -> tuple[list[str], list[list[str]], list[int]]:
    headers = [
        "figure",
        "incidents",
        "req/s",
        "÷ bare",
        "server p50 ms",
        "server p99 ms",
        "client p50 ms",
        "queries",
        "CPU server/pg/load",
        "requests",
        "non-200",
    ]
    rows = []
    for m in measurements:
        s = m.stats
        bad = s.errors + sum(n for status, n in s.statuses.items() if status != 200)
        rows.append(
            [
                m.figure,
                m.variant,
                fmt_num(s.req_per_s),
                "—" if m.ratio is None else f"{m.ratio:.2f}",
                fmt_num(s.server_p50, 2),
                fmt_num(s.server_p99, 2),
                fmt_num(s.client_p50, 2),
                s.queries,
                f"{fmt_pct(s.server_cpu)}/{fmt_pct(s.postgres_cpu)}/{fmt_pct(s.client_cpu)}",
                fmt_num(s.requests),
                paint(str(bad), "31") if bad else "0",
            ]
        )
    return headers, rows, [2, 3, 4, 5, 6, 7, 9, 10]


def verdict(passed: bool | None) -> str:
    if passed is None:
        return paint("N/A ", "33")
    return paint("PASS", "32") if passed else paint("FAIL", "31;1")


def print_checks(checks: Sequence[Check]) -> None:
    print_table(
        ["", "check", "target", "measured"],
        [[verdict(c.passed), c.name, c.target, c.measured] for c in checks],
    )


def write_results(payload: dict[str, Any], *, quick: bool) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = RESULTS_DIR / f"{stamp}{'-quick' if quick else ''}.json"
    path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return path


# --- Environment line --------------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def environment(pinning: Pinning) -> dict[str, str]:
    """Versions and machine facts, after django.setup() (asks PostgreSQL and Redis for theirs)."""
    from importlib.metadata import version

    import django
    from django.conf import settings
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg = str(cursor.fetchone()[0]).split()[0]
    except Exception as exc:  # a report, not a crash
        pg = f"unreachable ({type(exc).__name__})"
    try:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        rv = str(client.info("server").get("redis_version", "?"))
    except Exception as exc:
        rv = f"unreachable ({type(exc).__name__})"
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return {
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": version("gunicorn"),
        "postgresql": pg,
        "redis": rv,
        "nproc": f"{os.cpu_count()} ({allowed} usable)",
        "cpu": _cpu_model(),
        "pinning": pinning.describe(),
        "load average": load,
        "git": _git_state(),
    }


# --- Auth --------------------------------------------------------------------------------------------------


def session_cookie(user: User) -> dict[str, str]:
    """A logged-in session for `user`, created the way django.contrib.auth.login stores it, that has passed
    the second factor (incidents/accounts/otp.py) and been seen just now — as after the verify page."""
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore

    from incidents.accounts import otp, sessions

    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    # Verified a long shift ahead: step-up never prompts mid-run, and "last seen" is written at most once.
    session[otp.VERIFIED_AT] = time.time() + 12 * 3600
    session[sessions.SEEN] = time.time() + 12 * 3600
    session.save()
    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}"}


# --- Dataset -----------------------------------------------------------------------------------------------


@dataclass
class Team:
    viewer: User  # the crisis manager whose pages are measured
    declarers: list[User]  # people who declare incidents (crisis managers and the administrator)
    everyone: list[User]


def create_team() -> Team:
    from incidents.models import OrgRole, User

    people = [
        ("maja@bench.example", "Maja Kowalska", OrgRole.CRISIS_MANAGER, "Europe/Warsaw"),
        ("priya@bench.example", "Priya Raman", OrgRole.CRISIS_MANAGER, "Europe/London"),
        ("daniel@bench.example", "Daniel Okafor", OrgRole.CRISIS_MANAGER, "America/New_York"),
        ("sofia@bench.example", "Sofia Petrova", OrgRole.ADMINISTRATOR, "Europe/Moscow"),
        ("erik@bench.example", "Erik Lindqvist", OrgRole.MEMBER, "Europe/Stockholm"),
        ("lena@bench.example", "Lena Vogel", OrgRole.MEMBER, "Europe/Berlin"),
    ]
    users = [
        User.objects.create_user(
            email, "bench-password-1234", display_name=name, org_role=role, time_zone=tz, phone="+44 20 0000"
        )
        for email, name, role, tz in people
    ]
    return Team(viewer=users[0], declarers=users[:4], everyone=users)


_TITLE_OPENERS = [
    "Viral thread about",
    "Spike in complaints about",
    "Journalist enquiry on",
    "TikTok video on",
    "Reddit post about",
    "Review bombing over",
    "Influencer backlash over",
    "Rumour about",
]
_TITLE_TOPICS = [
    "double charges at checkout",
    "delayed deliveries",
    "a customer data leak",
    "the spring campaign",
    "the CEO's podcast remarks",
    "a product recall",
    "the app outage",
    "a pricing error",
    "a phishing site using our brand",
    "store closures",
    "allergen labelling",
    "support wait times",
]
# (final status, the moves that get there); weights per bucket.
OPEN_PATHS: list[tuple[int, list[str]]] = [
    (20, []),
    (20, ["assessing"]),
    (20, ["responding"]),
    (15, ["assessing", "responding"]),
    (25, ["assessing", "responding", "monitoring"]),
]
ARCHIVED_PATHS: list[tuple[int, list[str]]] = [
    (25, ["responding", "resolved"]),
    (15, ["assessing", "responding", "resolved"]),
    (35, ["responding", "resolved", "closed"]),
    (10, ["assessing", "responding", "monitoring", "resolved", "closed"]),
    (10, ["closed"]),  # false alarm
    (5, ["assessing", "closed"]),
]
SEVERITY_WEIGHTS = [("sev1", 5), ("sev2", 20), ("sev3", 45), ("sev4", 30)]


def _weighted(rng: random.Random, options: Sequence[tuple[int, list[str]]]) -> list[str]:
    return rng.choices([o[1] for o in options], weights=[o[0] for o in options])[0]


class IncidentGrower:
    """Adds incidents through the app's services (declare, change status/severity), like real use.

    Deterministic (seeded). Every 10th incident is a drill and every 20th restricted (alternately the
    viewer's own and someone else's, which the viewer must not see). Incidents added by `grow` are moved
    back in time (open: up to 10 days, archived: up to 2 years) the way `incidents/demo.py` does, so
    listings are ordered like real history; the incidents that existed before stay the newest.
    """

    def __init__(self, team: Team, seed: int = 2026) -> None:
        self.team = team
        self.rng = random.Random(seed)
        self.serial = 0

    def declare(self, *, declarer: User | None = None, severity: str | None = None) -> Incident:
        from incidents import services
        from incidents.models import Platform, Scenario

        rng = self.rng
        self.serial += 1
        n = self.serial
        declarer = declarer or rng.choice(self.team.declarers)
        restricted = n % 20 == 7
        if restricted:
            # Alternate: one the viewer declared (visible to them), one declared by someone else (hidden).
            others = [u for u in self.team.declarers if u.pk != self.team.viewer.pk]
            declarer = self.team.viewer if (n // 20) % 2 == 0 else rng.choice(others)
        return services.incident_declare(
            actor=declarer,
            title=f"{rng.choice(_TITLE_OPENERS)} {rng.choice(_TITLE_TOPICS)} (#{n})",
            scenario=rng.choice(Scenario.values),
            severity=severity
            or rng.choices([s for s, _ in SEVERITY_WEIGHTS], weights=[w for _, w in SEVERITY_WEIGHTS])[0],
            summary="Posts are spreading; first reactions are negative. Facts are being checked with "
            "the product and support teams before anything is said publicly.",
            affected_platforms=rng.sample(Platform.values, rng.randint(1, 3)),
            detected_at=_now() - timedelta(minutes=rng.randint(0, 180)),
            is_drill=n % 10 == 3,
            is_restricted=restricted,
        )

    def walk(self, incident: Incident, moves: Sequence[str]) -> Incident:
        """Move an incident along `moves`, by its commander or another crisis manager; maybe re-grade it."""
        from incidents import services

        rng = self.rng
        for i, new_status in enumerate(moves):
            if i == 1 and incident.is_open and rng.random() < 0.15:
                options = [s for s, _ in SEVERITY_WEIGHTS if s != incident.severity]
                incident = services.incident_change_severity(
                    incident=incident,
                    actor=self._actor(incident),
                    new_severity=rng.choice(options),
                    note="Reach is growing faster than expected.",
                )
            incident = services.incident_change_status(
                incident=incident,
                actor=self._actor(incident),
                new_status=new_status,
                note=rng.choice(["", "", "Agreed in the 10:00 call.", "Legal has signed off."]),
            )
        return incident

    def _actor(self, incident: Incident) -> User:
        """Mostly the commander; now and then the viewer, where their role allows it (the service checks)."""
        from incidents.permissions import incident_perms
        from incidents.rules import may_change_status

        commander = incident.commander or incident.declared_by
        if incident.is_restricted:
            return commander
        if self.rng.random() < 0.7:
            return commander
        viewer = self.team.viewer
        return viewer if may_change_status(perms=incident_perms(viewer, incident)) else commander

    def grow(self, *, open_incidents: int, archived_incidents: int) -> list[int]:
        """Add this many open and archived incidents (interleaved); returns their primary keys."""
        from django.db import transaction

        kinds = ["open"] * open_incidents + ["archived"] * archived_incidents
        self.rng.shuffle(kinds)
        created: list[tuple[int, bool]] = []
        with transaction.atomic():  # one commit; every service call is a savepoint inside it
            for kind in kinds:
                paths = OPEN_PATHS if kind == "open" else ARCHIVED_PATHS
                incident = self.walk(self.declare(), _weighted(self.rng, paths))
                created.append((incident.pk, kind == "open"))
            self._backdate(created)
        return [pk for pk, _ in created]

    def _backdate(self, created: Sequence[tuple[int, bool]]) -> None:
        from django.db import connection

        from incidents.models import Incident, IncidentChange

        if not created:
            return
        ids = [pk for pk, _ in created]
        shifts = [
            timedelta(hours=self.rng.uniform(1, 240) if is_open else self.rng.uniform(24, 730 * 24))
            for _, is_open in created
        ]
        incident_table = Incident._meta.db_table
        change_table = IncidentChange._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {incident_table} AS i SET
                    declared_at = i.declared_at - v.shift, detected_at = i.detected_at - v.shift,
                    status_changed_at = i.status_changed_at - v.shift,
                    resolved_at = i.resolved_at - v.shift, closed_at = i.closed_at - v.shift
                FROM unnest(%s::bigint[], %s::interval[]) AS v(id, shift) WHERE i.id = v.id
                """,
                [ids, shifts],
            )
            cursor.execute(
                f"""
                UPDATE {change_table} AS c SET changed_at = c.changed_at - v.shift
                FROM unnest(%s::bigint[], %s::interval[]) AS v(id, shift) WHERE c.incident_id = v.id
                """,
                [ids, shifts],
            )


def settle_database() -> None:
    """VACUUM ANALYZE and CHECKPOINT after bulk writes, so neither autovacuum nor a checkpoint lands in a
    measurement, and the planner has statistics like a database that has been in use."""
    from django.db import DatabaseError, connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        with contextlib.suppress(DatabaseError):  # needs superuser or pg_checkpoint
            cursor.execute("CHECKPOINT")


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


def describe_incidents(viewer: User) -> dict[str, Any]:
    """The dataset as the viewer meets it: totals by status, flags, and what each listing shows."""
    from django.db.models import Count

    from incidents.models import Incident
    from incidents.permissions import visible_incidents

    by_status = dict(Incident.objects.values_list("status").annotate(n=Count("pk")).order_by("status"))
    visible = visible_incidents(viewer)
    return {
        "total": Incident.objects.count(),
        "by_status": by_status,
        "open": Incident.objects.open().count(),
        "archived": Incident.objects.archived().count(),
        "drills": Incident.objects.filter(is_drill=True).count(),
        "restricted": Incident.objects.filter(is_restricted=True).count(),
        "visible_open": visible.open().count(),
        "visible_archived": visible.archived().count(),
    }


# --- SQL capture (in-process, for reports; never timed) ------------------------------------------------


def capture_sql(path: str, headers: dict[str, str]) -> dict[str, Any]:
    """GET `path` through the test client in this process and return the SQL one request runs.

    The same settings and middleware as the server; used to name the queries behind a count, and as a
    smoke test before the load (an exception here is reported, not raised).
    """
    from http.cookies import SimpleCookie

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(headers.get("Cookie", ""))
    client.cookies = cookie
    connection.queries_log.clear()  # the request_started signal clears it too; keep indexes aligned
    try:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
    except Exception as exc:  # a broken page is a finding, not a crash of the report
        return {"status": 500, "queries": [], "header": None, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "status": response.status_code,
        "queries": [q["sql"] for q in captured.captured_queries],
        "header": response.get("X-Query-Count"),
        "error": None,
    }


_SQL_LITERALS = [
    (re.compile(r"^SELECT (?!COUNT)(?:.(?! FROM ))*. FROM ", re.S), "SELECT … FROM "),
    (re.compile(r"'(?:[^']|'')*'"), "'?'"),
    (re.compile(r"\b[0-9a-f]{32}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "?"),
    (re.compile(r"(?<![\w.\"])-?\d+(?:\.\d+)?\b"), "?"),
    (re.compile(r"IN \((?:\?, )*\?\)"), "IN (…)"),
    (re.compile(r"\s+"), " "),
]


def normalise_sql(sql: str, limit: int = 400) -> str:
    """SQL with the column list elided and literals replaced, so the same statement with other parameters
    compares equal (and fits on a line of the report)."""
    for pattern, replacement in _SQL_LITERALS:
        sql = pattern.sub(replacement, sql)
    sql = sql.strip()
    return sql if len(sql) <= limit else sql[: limit - 1] + "…"


# --- Scenarios measured in a child process -------------------------------------------------------------------

Job = dict[str, Any]
Report = Callable[[dict[str, Any]], tuple[list[Check], list[str]]]


@dataclass(frozen=True)
class ChildScenario:
    """A scenario that measures in `python -m <module> --child` (its own process, database and servers):
    `job_for` says what to do, `child` does it in the child and returns every figure, `report` prints them
    and returns the checks and notes. `run` is the scenario's entry for `python -m bench`, `main` its own."""

    name: str
    module: str
    description: str
    job_for: Callable[[Config, Pinning], Job]
    child: Callable[[Job], dict[str, Any]]
    report: Report

    def run(self, ctx: Context) -> ScenarioResult:
        from bench.processes import run_child

        result = ScenarioResult(self.name)
        data = run_child(self.module, self.job_for(ctx.config, ctx.pinning))
        checks, notes = self.report(data)
        result.checks.extend(checks)
        result.notes.extend(notes)
        result.data.update(data)
        return result

    def main(self, argv: list[str] | None = None) -> int:
        import argparse

        from bench.processes import run_child

        parser = argparse.ArgumentParser(prog=f"python -m {self.module}", description=self.description)
        parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument("--quick", action="store_true")
        parser.add_argument("--no-pin", action="store_true")
        args = parser.parse_args(argv)
        if args.child:
            json.dump(self.child(json.load(sys.stdin)), sys.stdout, default=str)
            return 0
        config = Config.from_env(
            quick=args.quick, seconds=None, threads=None, pin=not args.no_pin, show_sql=False
        )
        data = run_child(self.module, self.job_for(config, choose_pinning(config.pin)))
        checks, notes = self.report(data)
        for note in notes:
            print(f"- {note}")
        heading(f"{self.name} against targets")
        print_checks(checks)
        return 0
