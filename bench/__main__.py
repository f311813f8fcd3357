"""`make bench` / `python -m bench [--quick]`: every figure against a baseline measured in the same run.

Steps: recreate the `warroom_bench` database and migrate it, start gunicorn (one sync worker, pinned to
one CPU), run each scenario module in SCENARIOS, print the figures and a PASS/FAIL summary against the
targets, write everything to bench/results/<time>.json. The exit code is 0 whatever the figures (this is
a report); it is non-zero only when the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from dataclasses import asdict
from types import FrameType, ModuleType

from bench import common
from bench.common import (
    Config,
    Context,
    ScenarioResult,
    WebServer,
    heading,
    measurement_rows,
    print_checks,
    print_table,
)


def scenarios() -> list[ModuleType]:
    # One module per scenario.
    from bench import (
        accounts,
        audit,
        deadlines,
        fanout,
        flow,
        i18n,
        idle_streams,
        listening,
        mixed,
        nudges,
        pages,
        playbooks,
        proxy,
        publishing,
        search,
        statements,
        storm,
        timeline,
        watchers,
    )

    return [
        pages,
        timeline,
        statements,
        fanout,
        nudges,
        flow,
        idle_streams,
        watchers,
        mixed,
        storm,
        proxy,
        playbooks,
        deadlines,
        search,
        audit,
        accounts,
        listening,
        publishing,
        i18n,
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="short sanity run (~30 s): 1 s per figure")
    parser.add_argument(
        "--seconds", type=float, help="measured seconds per figure (default 8; env BENCH_SECONDS)"
    )
    parser.add_argument("--threads", type=int, help="concurrent client connections (default 4)")
    parser.add_argument(
        "--only", action="append", metavar="SCENARIO", help="run only this scenario (repeatable)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and load generator to CPUs")
    parser.add_argument("--sql", action="store_true", help="print the SQL of one request of every page")
    return parser.parse_args(argv)


def _terminate(signum: int, frame: FrameType | None) -> None:
    print(f"\nbench: {signal.Signals(signum).name}; stopping the server, nothing reported.", file=sys.stderr)
    raise SystemExit(128 + signum)  # unwinds through the `with WebServer` block, which stops gunicorn


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = Config.from_env(
        quick=args.quick, seconds=args.seconds, threads=args.threads, pin=not args.no_pin, show_sql=args.sql
    )
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    started = time.monotonic()
    modules = [m for m in scenarios() if not args.only or m.NAME in args.only]
    if not modules:
        print(f"No scenario named {args.only}; known: {', '.join(m.NAME for m in scenarios())}")
        return 2

    env = common.configure_process_env(config.database_url)
    print(f"bench: recreating {config.database_url.rsplit('/', 1)[-1]} and migrating …", flush=True)
    try:
        common.recreate_database(config.database_url)
    except Exception as exc:
        print(f"bench: cannot (re)create the bench database: {type(exc).__name__}: {exc}")
        return 2
    common.migrate(env)
    common.setup_django()
    common.purge_broker()
    print(f"bench: database ready in {time.monotonic() - started:.1f} s", flush=True)
    pinning = common.choose_pinning(config.pin)
    environment = common.environment(pinning)

    heading("Environment")
    for key, value in environment.items():
        print(f"{key:>13}: {value}")
    print(
        f"{'run':>13}: {'quick' if config.quick else 'full'}; {config.seconds:g} s measured per figure after "
        f"{config.warmup} warm-up requests; {config.threads} client connections; gunicorn 1 sync worker",
        flush=True,
    )

    results: list[ScenarioResult] = []
    with WebServer(env, pinning) as server:
        print(
            f"{'server':>13}: http://{server.host}:{server.port}/ (pid {server.proc.pid if server.proc else '?'})"
        )
        context = Context(config=config, server=server, pinning=pinning)
        for module in modules:
            try:
                # The previous scenario's bulk writes must not be vacuumed or checkpointed during this one.
                common.settle_database()
                results.append(module.run(context))
            except Exception:
                traceback.print_exc()
                failed = ScenarioResult(module.NAME)
                failed.checks.append(
                    common.Check(f"{module.NAME}: scenario ran", "yes", "crashed (above)", False)
                )
                results.append(failed)
        server_log = server.log_tail()

    common.purge_broker()
    report(results)
    if "Traceback" in server_log or "ERROR" in server_log:
        heading("Server log (tail)")
        print(server_log)
    path = common.write_results(
        {
            "environment": environment,
            "config": asdict(config),
            "scenarios": [
                {
                    "name": r.name,
                    "measurements": [
                        {"figure": m.figure, "variant": m.variant, "ratio": m.ratio, **asdict(m.stats)}
                        for m in r.measurements
                    ],
                    "checks": [asdict(c) for c in r.checks],
                    "notes": r.notes,
                    "data": r.data,
                }
                for r in results
            ],
        },
        quick=config.quick,
    )
    print(f"\nFull results: {path.relative_to(common.REPO)} · {time.monotonic() - started:.0f} s in all")
    return 0


def report(results: list[ScenarioResult]) -> None:
    heading("All figures (÷ bare = req/s over the bare view's, measured just before and after; same server)")
    measurements = [m for r in results for m in r.measurements]
    if measurements:
        headers, rows, right = measurement_rows(measurements)
        print_table(headers, rows, right=right)
    notes = [n for r in results for n in r.notes]
    if notes:
        heading("Notes")
        for note in notes:
            print(f"- {note}")
    checks = [c for r in results for c in r.checks]
    heading("Summary against targets")
    print_checks(checks)
    failed = sum(1 for c in checks if c.passed is False)
    unknown = sum(1 for c in checks if c.passed is None)
    passed = len(checks) - failed - unknown
    line = f"{passed} passed, {failed} failed" + (f", {unknown} not measurable" if unknown else "")
    print(f"\n{common.paint(line, '1')}  (a report: the exit code is 0 either way)")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the server was already stopped on the way out of `with WebServer`
        print("\nbench: interrupted; server stopped, nothing reported.", file=sys.stderr)
        sys.exit(130)
