"""Scenario `deadlines`: thousands of reminders fired by a real Celery worker and beat.

Two phases, each with N reminders (10,000; `--quick` 2,000) due at evenly spread moments over a window
(300 s; quick 60 s), over 50 incidents, 10 % of their deadlines moved 30 s before they were due (the stale
ETA tasks must be no-ops and nothing may fire at the old time):

1. **normal** — two worker nodes (prefork, 2 processes each, as in production) and beat (5 s sweep), on a
   private redis-server;
2. **faults** — the same, with one worker node SIGKILLed a third of the way in (restarted at once) and
   the Redis server killed and restarted (2 s down) two thirds of the way in.

Figures: firing lateness (`sent_at - due_at` of each reminder, as recorded in the same transaction as its
effect) p50/p99/max; duplicates (notifications, timeline entries or e-mails per reminder > 1), misses
(still pending after the window + two sweeps), fires at an old time (a sent reminder of a superseded
version). Baseline, same run, same worker and broker: the lateness of bare Celery ETA tasks that only
record the time (`÷ raw ETA` = reminder p50 / raw p50). Cost: the sweep's queries and milliseconds per
claimed reminder, measured in this process.

Targets (issue 6): normal p50 ≤ 50 ms and p99 ≤ 1 s; with faults p99 ≤ sweep interval + 2 s; always
0 duplicates, 0 misses, 0 fired at an old time.

Run alone: `.venv/bin/python -m bench.deadlines [--quick]` (recreates `warroom_bench`), or through
`python -m bench --only deadlines` once registered in bench/__main__.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery import shared_task
from celery.signals import worker_ready

from bench import processes
from bench.common import Check, ScenarioResult, bench_env, heading, percentile, print_table

if TYPE_CHECKING:
    from bench.common import Context
    from incidents.models import Incident, User

NAME = "deadlines"
DESCRIPTION = "10,000 reminders fired by a real worker and beat: lateness, duplicates, misses, with faults"
SWEEP_SECONDS = 5.0
PROBE_KEY = "bench:deadlines:probe"
READY = "bench-deadlines-worker-ready"


@worker_ready.connect
def _announce_ready(**kwargs: Any) -> None:
    print(READY, file=sys.stderr, flush=True)


@shared_task(name="bench.deadlines.probe")
def probe(eta: float) -> None:
    """The baseline: a bare ETA task that records how late it ran (loaded by the worker with -I)."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).rpush(PROBE_KEY, time.time() - eta)


# --- processes ------------------------------------------------------------------------------------------------


class Proc(processes.Proc):
    def readies(self) -> int:
        # Workers log at WARNING (logging every task costs CPU the reminders need): count our own marker.
        return self.text().count(READY)


class Stack:
    """A private redis-server, two worker nodes and beat, all against the bench database."""

    def __init__(self, database_url: str) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="warroom-bench-deadlines-"))
        self.redis_port = processes.free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.redis = Proc("redis", processes.redis_server_argv(self.redis_port), dict(os.environ), self.tmp)
        env = {
            **os.environ,
            **bench_env(database_url),
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "REMINDER_SWEEP_SECONDS": str(SWEEP_SECONDS),
            "DB_POOL_MAX_SIZE": "4",
        }
        celery = [sys.executable, "-m", "celery", "-A", "warroom"]
        flags = [
            # Each node as production runs it (warroom/launcher.py, docker-compose.yml): two pool processes, so
            # an ETA reminder never waits for a sweep handing over the next minutes on the same node.
            "-P",
            "prefork",
            "-c",
            "2",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "warning",
        ]
        self.workers = [
            Proc(
                f"worker{i}",
                [*celery, "worker", "-n", f"w{i}@%h", "-I", "bench.deadlines", *flags],
                env,
                self.tmp,
            )
            for i in (1, 2)
        ]
        self.beat = Proc(
            "beat", [*celery, "beat", "-s", str(self.tmp / "schedule"), "-l", "warning"], env, self.tmp
        )

    def start_redis(self) -> None:
        import redis

        self.redis.start()
        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=0.2)
        _wait(lambda: _ping(client), 10, "redis-server did not start")

    def start_worker(self, worker: Proc) -> None:
        before = worker.readies()
        worker.start()
        _wait(
            lambda: worker.readies() > before,
            60,
            f"{worker.name} not ready:\n{worker.log.read_text()[-2000:]}",
        )

    def start(self) -> None:
        self.start_redis()
        for worker in self.workers:
            self.start_worker(worker)
        self.beat.start()

    def close(self) -> None:
        for proc in (self.beat, *self.workers, self.redis):
            proc.kill(signal.SIGTERM)
        if self.errors():
            print(f"  worker and beat logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def errors(self) -> list[str]:
        out = []
        for proc in (*self.workers, self.beat):
            if proc.log.exists():
                text = proc.log.read_text(errors="replace")
                out += [line for line in text.splitlines() if "Traceback" in line or " ERROR" in line][:5]
        return out


def _ping(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def _wait(predicate: Any, timeout: float, message: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise RuntimeError(message)
        time.sleep(0.05)


# --- dataset --------------------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    deadline_ids: list[int]
    moved_ids: list[int]
    first_due: float
    last_due: float


def _incidents(commander: User, count: int) -> list[Incident]:
    from incidents import services

    return [
        services.incident_declare(
            actor=commander, title=f"Bench outage {i}", scenario="outage", severity="sev4"
        )
        for i in range(count)
    ]


def _seed(name: str, incidents: list[Incident], owner: User, n: int, start: float, window: float) -> Phase:
    """N open deadlines, each owing exactly one reminder (at due) inside the window, spread evenly."""
    from datetime import UTC, datetime

    from incidents.models import Deadline, DeadlineKind, Reminder, ReminderKind

    deadlines = []
    for i in range(n):
        due = datetime.fromtimestamp(start + window * i / n, tz=UTC)
        deadlines.append(
            Deadline(
                incident=incidents[i % len(incidents)],
                kind=DeadlineKind.TASK,
                title=f"{name} task {i}",
                owner=owner,
                due_at=due,
                original_due_at=due,
                remind_before_minutes=0,
                escalation_grace_minutes=600,  # escalations fall far outside the window
            )
        )
    created = Deadline.objects.bulk_create(deadlines, batch_size=2000)
    Reminder.objects.bulk_create(
        [Reminder(deadline=d, kind=ReminderKind.DUE, version=1, due_at=d.due_at) for d in created],
        batch_size=2000,
    )
    ids = [d.pk for d in created]
    moved = ids[5::10]  # 10 %
    return Phase(name, ids, moved, start, start + window)


def _mover(phase: Phase, actor: User, stop: threading.Event) -> threading.Thread:
    """Moves 10 % of the deadlines 20 s later, 30 s before they were due (ETAs already handed over)."""

    def run() -> None:
        from django.db import connection

        from incidents.models import Deadline
        from incidents.services.deadlines import deadline_reschedule

        try:
            for deadline in Deadline.objects.filter(pk__in=phase.moved_ids).order_by("due_at"):
                at = deadline.due_at.timestamp() - 30
                while time.time() < at and not stop.is_set():
                    time.sleep(min(0.2, at - time.time()))
                if stop.is_set():
                    return
                if time.time() > deadline.due_at.timestamp() - 2:
                    continue  # too late to move it cleanly; leave it as it is
                deadline_reschedule(
                    deadline=deadline, actor=actor, due_at=deadline.due_at + timedelta(seconds=20)
                )
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@dataclass
class Outcome:
    lateness_ms: list[float]
    duplicates: int
    misses: int
    old_time: int
    moved: int
    fired: int


def _outcome(phase: Phase) -> Outcome:
    from django.db import connection

    from incidents.models import Deadline, Reminder, ReminderKind, ReminderState

    deadlines = Deadline.objects.filter(pk__in=phase.deadline_ids)
    # Each deadline owes one reminder in the window: at due (escalations are hours out). Moved ones owe it
    # for their new version only.
    current = Reminder.objects.filter(deadline__in=deadlines, kind=ReminderKind.DUE)
    lateness = [
        (sent - due).total_seconds() * 1000
        for sent, due in current.filter(state=ReminderState.SENT).values_list("sent_at", "due_at")
        if sent is not None
    ]
    misses = current.filter(state=ReminderState.PENDING, version=1).exclude(deadline__version__gt=1).count()
    misses += current.filter(version__gt=1, state=ReminderState.PENDING).count()
    old_time = Reminder.objects.filter(
        deadline__in=deadlines, deadline__version__gt=1, version=1, state=ReminderState.SENT
    ).count()
    ids = list(current.filter(state=ReminderState.SENT).values_list("pk", flat=True))
    with connection.cursor() as cursor:
        # More than one effect per reminder anywhere: notifications (per recipient), e-mails, webhooks.
        cursor.execute(
            """
            SELECT count(*) FROM (
              SELECT key FROM incidents_notification WHERE key = ANY(%s) GROUP BY recipient_id, key HAVING count(*) > 1
              UNION ALL
              SELECT key FROM incidents_outboundemail WHERE key = ANY(%s) GROUP BY key HAVING count(*) > 1
            ) d
            """,
            [[f"reminder:{i}:{o}" for i, o in _owners(ids)], [f"reminder:{i}:{o}" for i, o in _owners(ids)]],
        )
        duplicates = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT count(*) FROM incidents_notification WHERE key = ANY(%s)",
            [[f"reminder:{i}:{o}" for i, o in _owners(ids)]],
        )
        notes = int(cursor.fetchone()[0])
    duplicates += max(0, notes - len(ids))
    moved = Deadline.objects.filter(pk__in=phase.moved_ids, version__gt=1).count()
    return Outcome(lateness, duplicates, misses, old_time, moved, len(ids))


def _owners(reminder_ids: list[int]) -> list[tuple[int, int]]:
    from incidents.models import Reminder

    return list(Reminder.objects.filter(pk__in=reminder_ids).values_list("pk", "deadline__owner_id"))


def _baseline(stack: Stack, count: int, spread: float) -> list[float]:
    """Bare ETA tasks through the same broker and workers: how late does Celery alone run them?"""
    import redis
    from celery import Celery

    client = redis.Redis.from_url(stack.redis_url)
    client.delete(PROBE_KEY)
    # Celery prefers CELERY_BROKER_URL from the environment to its own argument, and this process's points
    # at the benchmark's idle broker database (bench_env): lift it while the probes go to the stack's Redis.
    saved = os.environ.pop("CELERY_BROKER_URL", None)
    try:
        # Not the current app: shared tasks sent later by this process (the next scenarios' kicks and e-mails)
        # would otherwise go to this stack's Redis, which is gone by then ("Redis unavailable" for every one).
        sender = Celery(broker=stack.redis_url, set_as_current=False)
        start = time.time() + 3
        for i in range(count):
            eta = start + spread * i / count
            sender.send_task("bench.deadlines.probe", args=[eta], eta=_utc(eta))
        sender.close()
    finally:
        if saved is not None:
            os.environ["CELERY_BROKER_URL"] = saved
    _wait(lambda: client.llen(PROBE_KEY) >= count, spread + 30, "baseline probes did not all run")
    return [float(x) * 1000 for x in client.lrange(PROBE_KEY, 0, -1)]


def _utc(ts: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, tz=UTC)


def _sweep_cost(incidents: list[Incident], owner: User, n: int = 200) -> tuple[float, float]:
    """Queries and ms per claimed reminder for one in-process sweep of n due reminders (effects included)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from incidents.services.reminders import sweep_reminders

    notify_module = sys.modules["incidents.services.notify"]  # the package re-exports notify(), the function
    phase = _seed("cost", incidents, owner, n, time.time() - 60, 1)
    kicks = {name: getattr(notify_module, name) for name in ("_kick_outbox", "_kick_webhooks")}
    for name in kicks:  # measured without Celery: the outbox tasks are not part of the sweep
        setattr(notify_module, name, lambda: None)
    try:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            fired = 0
            while fired < n:
                got = sweep_reminders(enqueue=False).fired
                if not got:
                    break
                fired += got
            elapsed = time.perf_counter() - started
    finally:
        for name, kick in kicks.items():
            setattr(notify_module, name, kick)
    assert fired == len(phase.deadline_ids), fired
    return len(captured.captured_queries) / fired, elapsed * 1000 / fired


# --- the scenario ---------------------------------------------------------------------------------------------


def _run_phase(
    stack: Stack, name: str, incidents: list[Incident], owner: User, n: int, window: float, faults: bool
) -> tuple[Phase, Outcome, list[str]]:
    from incidents.services.reminders import sweep_interval

    events: list[str] = []
    start = time.time() + 15  # time for the first sweeps to hand the first minutes over
    phase = _seed(name, incidents, owner, n, start, window)
    stop = threading.Event()
    mover = _mover(phase, owner, stop)
    print(
        f"  {name}: {n} reminders due from +15 s over {window:g} s, {len(phase.moved_ids)} to be moved",
        flush=True,
    )
    if faults:
        _sleep_until(start + window / 3)
        stack.workers[0].kill()
        events.append(f"SIGKILL {stack.workers[0].name} at +{time.time() - start:.1f} s")
        stack.start_worker(stack.workers[0])
        events.append(f"{stack.workers[0].name} ready again at +{time.time() - start:.1f} s")
        _sleep_until(start + 2 * window / 3)
        stack.redis.kill()
        events.append(f"Redis killed at +{time.time() - start:.1f} s")
        time.sleep(2)
        stack.start_redis()
        events.append(f"Redis back at +{time.time() - start:.1f} s")
    _sleep_until(phase.last_due + 20 + 2 * max(SWEEP_SECONDS, sweep_interval()))
    stop.set()
    mover.join(10)
    for e in events:
        print(f"    {e}")
    return phase, _outcome(phase), events


def _sleep_until(moment: float) -> None:
    while (left := moment - time.time()) > 0:
        time.sleep(min(left, 1))


def run(ctx: Context) -> ScenarioResult:
    return run_scenario(quick=ctx.config.quick, database_url=ctx.config.database_url)


def run_scenario(*, quick: bool, database_url: str) -> ScenarioResult:
    from django.conf import settings

    from incidents.models import OrgRole, User

    result = ScenarioResult(NAME)
    n, window = (2_000, 60.0) if quick else (10_000, 300.0)
    heading(
        f"deadlines: {n} reminders per phase over {window:g} s, two real workers and beat ({SWEEP_SECONDS:g} s sweep)"
    )
    if shutil.which("redis-server") is None:
        result.checks.append(Check("deadlines: scenario ran", "redis-server installed", "missing", False))
        return result
    # This process never publishes reminders itself: everything reaches Celery through the sweep.
    settings.REMINDER_ETA_HORIZON_SECONDS = 0
    owner = User.objects.create_user(
        "owner@deadlines.bench.example",
        "bench-password-1234",
        display_name="Bench Owner",
        org_role=OrgRole.CRISIS_MANAGER,
    )
    incidents = _incidents(owner, 50)
    q_per, ms_per = _sweep_cost(incidents, owner)
    stack = Stack(database_url)
    try:
        stack.start()
        raw = _baseline(stack, 100 if quick else 300, 10.0)
        normal_phase, normal, _ = _run_phase(stack, "normal", incidents, owner, n, window, faults=False)
        fault_phase, faulty, events = _run_phase(stack, "faults", incidents, owner, n, window, faults=True)
    finally:
        errors = stack.errors()
        stack.close()
    raw_p50, raw_p99 = percentile(raw, 50), percentile(raw, 99)
    rows = [
        [
            "raw Celery ETA task (baseline)",
            str(len(raw)),
            f"{raw_p50:.1f}",
            f"{raw_p99:.1f}",
            f"{max(raw):.1f}",
            "1.0",
            "—",
            "—",
            "—",
        ]
    ]
    for label, o in (("reminders, normal", normal), ("reminders, worker SIGKILL + Redis restart", faulty)):
        p50, p99 = percentile(o.lateness_ms, 50), percentile(o.lateness_ms, 99)
        rows.append(
            [
                label,
                str(o.fired),
                f"{p50:.1f}",
                f"{p99:.1f}",
                f"{max(o.lateness_ms):.1f}",
                f"{p50 / raw_p50:.1f}" if raw_p50 > 0 else "—",
                str(o.duplicates),
                str(o.misses),
                str(o.old_time),
            ]
        )
    print_table(
        ["figure", "fired", "late p50 ms", "p99 ms", "max ms", "p50 ÷ raw", "dupes", "misses", "old time"],
        rows,
        right=range(1, 9),
    )
    print(f"  sweep cost: {q_per:.1f} queries and {ms_per:.1f} ms per claimed reminder (effects included)")
    print(f"  moved: {normal.moved} and {faulty.moved} deadlines (10 %); faults: {'; '.join(events)}")
    if errors:
        print("  worker/beat log errors:", *errors[:5], sep="\n    ")
    result.data = {
        "reminders_per_phase": n,
        "window_s": window,
        "sweep_s": SWEEP_SECONDS,
        "raw_eta_ms": {"p50": raw_p50, "p99": raw_p99, "max": max(raw)},
        "normal_ms": _summary(normal),
        "faults_ms": _summary(faulty),
        "sweep_queries_per_reminder": q_per,
        "sweep_ms_per_reminder": ms_per,
        "fault_events": events,
    }
    result.notes.append(
        f"deadlines: sweep {q_per:.1f} queries / {ms_per:.1f} ms per claimed reminder; raw ETA p50 {raw_p50:.1f} ms"
    )
    n50, n99 = percentile(normal.lateness_ms, 50), percentile(normal.lateness_ms, 99)
    f99 = percentile(faulty.lateness_ms, 99)
    limit = (SWEEP_SECONDS + 2) * 1000
    result.checks += [
        Check("deadlines: normal lateness p50", "≤ 50 ms", f"{n50:.1f} ms", n50 <= 50),
        Check("deadlines: normal lateness p99", "≤ 1000 ms", f"{n99:.1f} ms", n99 <= 1000),
        Check("deadlines: faults lateness p99", f"≤ {limit:.0f} ms", f"{f99:.1f} ms", f99 <= limit),
        Check(
            "deadlines: duplicates / misses / old-time fires",
            "0 / 0 / 0",
            " · ".join(f"{o.duplicates} / {o.misses} / {o.old_time}" for o in (normal, faulty)),
            all(o.duplicates == o.misses == o.old_time == 0 for o in (normal, faulty)),
        ),
        Check(
            "deadlines: every reminder fired",
            f"{2 * n}",
            f"{normal.fired + faulty.fired}",
            normal.fired + faulty.fired == 2 * n,
        ),
    ]
    del normal_phase, fault_phase
    return result


def _summary(o: Outcome) -> dict[str, float]:
    return {
        "p50": percentile(o.lateness_ms, 50),
        "p99": percentile(o.lateness_ms, 99),
        "max": max(o.lateness_ms),
        "fired": o.fired,
        "duplicates": o.duplicates,
        "misses": o.misses,
        "old_time": o.old_time,
    }


def main() -> int:
    import argparse

    from bench import common

    parser = argparse.ArgumentParser(prog="python -m bench.deadlines")
    parser.add_argument("--quick", action="store_true", help="2,000 reminders per phase over 60 s")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", common.DEFAULT_DATABASE_URL)
    env = common.configure_process_env(url)
    common.recreate_database(url)
    common.migrate(env)
    common.setup_django()
    result = run_scenario(quick=args.quick, database_url=url)
    common.print_checks(result.checks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
