"""The launcher's supervisor and stop signal, with real child processes (no Django, no database)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from warroom.launcher import (
    Backoff,
    Service,
    StopSignal,
    Supervisor,
    read_state,
    run_setup_steps,
    stop_services,
    write_state,
)
from warroom.launcher.output import say

REPO = Path(__file__).resolve().parent.parent
CEILING = 30.0  # seconds; generous for a loaded 2-core machine, never the thing measured


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def _wait_for(condition: Callable[[], object], what: str, timeout: float = CEILING) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"  # a zombie awaiting its reaper counts as gone
    except (FileNotFoundError, IndexError):
        return False


def test_backoff_doubles_up_to_a_ceiling() -> None:
    backoff = Backoff(first=1, factor=2, ceiling=30)
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_dead_service_is_restarted_with_its_exit_cause_and_the_others_keep_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sleeper = Service("sleeper", _python("import time; time.sleep(120)"))
    crasher = Service("crash", _python("import sys; print('going down', flush=True); sys.exit(3)"))
    state = tmp_path / "run" / "supervisor.json"
    stop = threading.Event()
    supervisor = Supervisor(
        [sleeper, crasher],
        env=os.environ,
        cwd=tmp_path,
        stop=stop,
        state_file=state,
        backoff=Backoff(first=0.05, ceiling=0.2),
        poll_interval=0.02,
    )
    supervisor.start()
    sleeper_pid = sleeper.pid
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    try:
        _wait_for(lambda: crasher.restarts >= 3, "three restarts")
    finally:
        stop.set()
        runner.join(CEILING)
        stop_services([sleeper, crasher], timeout=5)

    assert not runner.is_alive(), "the supervisor did not stop when asked"
    assert sleeper.pid == sleeper_pid
    assert sleeper.restarts == 0
    out = capsys.readouterr().out
    assert "crash   | going down" in out
    assert "crash stopped unexpectedly (exit code 3)" in out
    assert "crash restarted (pid " in out
    recorded = read_state(state)
    assert recorded is not None
    assert recorded["processes"]["crash"]["restarts"] >= 3
    assert recorded["processes"]["crash"]["last_exit"] == "exit code 3"
    assert recorded["processes"]["sleeper"] == {
        "restarts": 0,
        "running": True,
        "last_exit": None,
        "last_exit_at": None,
    }
    assert recorded["restarts"] == sum(p["restarts"] for p in recorded["processes"].values())


def _pending(service: Service) -> float | None:
    """When its restart is due (a function, so the type checker does not pin it across calls)."""
    return service.restart_at


def test_back_off_grows_while_a_service_keeps_dying_and_restarts_wait_for_it(tmp_path: Path) -> None:
    crasher = Service("crash", _python("raise SystemExit(1)"))
    supervisor = Supervisor(
        [crasher], env=os.environ, cwd=tmp_path, stop=threading.Event(), backoff=Backoff(first=1, ceiling=4)
    )
    supervisor.start()
    now = 1000.0  # the supervisor's clock is a parameter: the schedule is checked, not slept through
    delays = []
    try:
        for _ in range(4):
            _wait_for(lambda: crasher.exit_code() is not None, "the crash")
            supervisor.step(now)
            assert crasher.restart_at is not None
            delays.append(crasher.restart_at - now)
            due = crasher.restart_at
            supervisor.step(due - 0.001)  # not yet
            assert (_pending(crasher), crasher.restarts) == (due, len(delays) - 1)
            now = due
            supervisor.step(now)  # now
            assert (_pending(crasher), crasher.restarts) == (None, len(delays))
    finally:
        stop_services([crasher], timeout=5)
    assert delays == [1, 2, 4, 4]


def test_what_a_dead_leader_left_behind_is_killed_before_the_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A gunicorn master killed with -9 leaves its workers holding the port; a restart could not bind it.
    leader = Service(
        "leader",
        _python(
            """
            import subprocess, time
            child = subprocess.Popen(["sleep", "120"])
            print("child", child.pid, flush=True)
            time.sleep(120)
            """
        ),
    )
    supervisor = Supervisor([leader], env=os.environ, cwd=tmp_path, stop=threading.Event())
    supervisor.start()
    output = ""

    def child_announced() -> bool:
        nonlocal output
        output += capsys.readouterr().out
        return "leader | child " in output

    try:
        _wait_for(child_announced, "the child's pid")
        orphan = int(output.split("leader | child ")[1].split()[0])
        assert leader.pid is not None
        os.kill(leader.pid, signal.SIGKILL)
        _wait_for(lambda: leader.exit_code() is not None, "the leader's death")
        supervisor.step(time.monotonic())
        _wait_for(lambda: not _alive(orphan), "the orphan's end")
    finally:
        stop_services([leader], timeout=5)
    assert "leader stopped unexpectedly (killed by SIGKILL)" in output + capsys.readouterr().out


def test_the_banner_waits_for_ready_and_quiet_and_comes_again_after_a_restart(tmp_path: Path) -> None:
    flaky = Service("flaky", _python("import time; time.sleep(120)"))
    announced: list[bool] = []
    ready = threading.Event()
    supervisor = Supervisor(
        [flaky],
        env=os.environ,
        cwd=tmp_path,
        stop=threading.Event(),
        backoff=Backoff(first=0.01),
        announce=announced.append,
        ready=ready.is_set,
        quiet_seconds=0,
        ready_timeout=60,
        settle_seconds=600,
    )
    supervisor.start()
    try:
        supervisor.step(time.monotonic())
        assert announced == []  # not ready yet
        ready.set()
        supervisor.step(time.monotonic())
        assert announced == [True]
        supervisor.step(time.monotonic())
        assert announced == [True]  # once

        # A process speaks up after the banner while the stack settles: the banner comes again, below it.
        say("flaky | a late warning")
        supervisor.step(time.monotonic())
        assert announced == [True, True]
        # Once settled, what the processes print stays last (an error must not scroll away under a banner).
        say("flaky | a much later error")
        supervisor.step(time.monotonic() + 3600)
        assert announced == [True, True]
        announced.clear()

        assert flaky.process is not None
        flaky.process.kill()
        flaky.process.wait()
        supervisor.step(time.monotonic())  # dies: restart scheduled, nothing announced meanwhile
        assert announced == []

        def stepped(condition: Callable[[], bool]) -> Callable[[], bool]:
            def step_then_check() -> bool:
                supervisor.step(time.monotonic())
                return condition()

            return step_then_check

        _wait_for(stepped(lambda: flaky.restarts == 1), "the restart")
        _wait_for(stepped(lambda: announced == [True]), "the banner again")
    finally:
        stop_services([flaky], timeout=5)


def test_state_file_is_replaced_whole_and_unreadable_means_absent(tmp_path: Path) -> None:
    path = tmp_path / "supervisor.json"
    write_state(path, {"web": {"pid": 1, "running": True, "restarts": 2, "last_exit": "exit code 1"}})
    assert read_state(path) == {
        "restarts": 2,
        "processes": {
            "web": {"restarts": 2, "running": True, "last_exit": "exit code 1", "last_exit_at": None}
        },
    }
    assert [p.name for p in tmp_path.iterdir()] == ["supervisor.json"]  # no temporary file left
    assert json.loads(path.read_text())["launcher_pid"] == os.getpid()
    path.write_text("{not json")
    assert read_state(path) is None
    assert read_state(tmp_path / "missing.json") is None
    assert read_state("") is None


# --- the stop signal ----------------------------------------------------------------------------

FLOOD_TARGET = """
import sys, time
sys.path.insert(0, {repo!r})
from warroom.launcher.stopping import StopSignal

stop = StopSignal()
stop.install()
print("ready", flush=True)
woke = stop.wait(120)
print("woke", woke, flush=True)
# Keep waiting and working, as the launcher does while it stops its children, while signals keep coming.
until = time.monotonic() + 1.0
while time.monotonic() < until:
    stop.wait(0.001)
print("done", flush=True)
"""


def _flood(pid: int, stop: threading.Event, group: bool = False) -> None:
    signals = (signal.SIGINT, signal.SIGTERM)
    i = 0
    while not stop.is_set():
        try:
            if group:
                os.killpg(pid, signals[i % 2])
            else:
                os.kill(pid, signals[i % 2])
        except ProcessLookupError:
            return
        i += 1


def test_a_flood_of_sigint_and_sigterm_never_blocks_or_breaks_the_stop() -> None:
    """The handler the launcher had (threading.Event.set) deadlocked or died of RecursionError here."""
    for _ in range(3):
        target = subprocess.Popen(
            [sys.executable, "-c", FLOOD_TARGET.format(repo=str(REPO))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert target.stdout is not None
        assert target.stdout.readline() == b"ready\n"
        done = threading.Event()
        flooders = [
            threading.Thread(target=_flood, args=(target.pid, done)),
            threading.Thread(target=_flood, args=(target.pid, done, True)),
        ]
        for flooder in flooders:
            flooder.start()
        try:
            out, err = target.communicate(timeout=CEILING)
        finally:
            done.set()
            for flooder in flooders:
                flooder.join()
            if target.poll() is None:
                target.kill()
                target.wait()
        assert (target.returncode, out) == (0, b"woke True\ndone\n"), err.decode()[-2000:]


def test_a_stop_ends_a_running_setup_step_and_what_it_started(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    (tmp_path / "manage.py").write_text(
        textwrap.dedent(
            f"""
            import os, subprocess, time
            child = subprocess.Popen(["sleep", "120"])
            with open({str(pids)!r}, "w") as fh:
                fh.write(f"{{os.getpid()}} {{child.pid}}")
            time.sleep(120)
            """
        )
    )
    stop = StopSignal()  # not installed: set() from another thread stands in for Ctrl-C

    def stop_once_started() -> None:
        _wait_for(pids.exists, "the step")
        stop.set()

    setter = threading.Thread(target=stop_once_started)
    setter.start()
    try:
        assert run_setup_steps(tmp_path, os.environ, stop) is False
    finally:
        setter.join()
    step, grandchild = (int(pid) for pid in pids.read_text().split())
    _wait_for(lambda: not _alive(step) and not _alive(grandchild), "the step and its child to end")
