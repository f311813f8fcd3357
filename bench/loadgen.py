"""HTTP load generator, run as its own process (`python -m bench.loadgen`) so it never shares a GIL or a
CPU with the server. No Django here.

Reads one JSON job on stdin, writes one JSON result on stdout:

    job    {"host", "port", "path", "headers", "threads", "warmup", "seconds", "cpu", "server_pids"}
    result {"elapsed", "client_cpu", "server_cpu", "postgres_cpu", "samples": [[status, server_ms,
            client_ms, queries], ...], "error_count", "errors": [...], "warmup_errors": [...]}

Each of `threads` threads keeps one `http.client.HTTPConnection` (keep-alive where the server allows it;
gunicorn's sync worker closes after every response, and http.client reconnects transparently). The
warm-up sends `warmup` requests in total and is discarded; then every thread sends requests back to back
for `seconds`. CPU figures are fractions of one core over the measured phase, read from /proc.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
import threading
import time
from typing import Any

_DUR = re.compile(r"dur=([0-9.]+)")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _postgres_cpu() -> dict[int, float]:
    """CPU seconds of every process named `postgres` (backends come and go; compare common pids)."""
    result: dict[int, float] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return result
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="ascii", errors="replace") as fh:
                if fh.read().strip() != "postgres":
                    continue
        except OSError:
            continue
        cpu = _proc_cpu_seconds(int(entry))
        if cpu is not None:
            result[int(entry)] = cpu
    return result


class _Job:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.host: str = spec["host"]
        self.port: int = int(spec["port"])
        self.path: str = spec["path"]
        self.headers: dict[str, str] = dict(spec.get("headers") or {})
        self.threads: int = max(1, int(spec.get("threads", 4)))
        self.warmup: int = max(0, int(spec.get("warmup", 200)))
        self.seconds: float = float(spec.get("seconds", 8))
        self.server_pids: list[int] = [int(p) for p in spec.get("server_pids") or []]


def _one_request(conn: http.client.HTTPConnection, job: _Job) -> tuple[int, float, float, int]:
    start = time.perf_counter()
    conn.request("GET", job.path, headers=job.headers)
    response = conn.getresponse()
    response.read()
    client_ms = (time.perf_counter() - start) * 1000
    timing = _DUR.search(response.getheader("Server-Timing") or "")
    server_ms = float(timing.group(1)) if timing else -1.0
    queries = int(response.getheader("X-Query-Count") or -1)
    if response.getheader("Connection", "").lower() == "close":
        conn.close()
    return response.status, server_ms, client_ms, queries


def _worker(
    job: _Job,
    go: threading.Event,
    stop_at: list[float],
    budget: list[int] | None,
    lock: threading.Lock,
    samples: list[tuple[int, float, float, int]],
    errors: list[str],
) -> None:
    conn = http.client.HTTPConnection(job.host, job.port, timeout=30)
    go.wait()
    try:
        while True:
            if budget is not None:
                with lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
            elif time.perf_counter() >= stop_at[0]:
                return
            try:
                samples.append(_one_request(conn, job))
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                if len(errors) > 1000:
                    return
                time.sleep(0.01)
    finally:
        conn.close()


def _phase(job: _Job, *, requests: int | None, seconds: float | None) -> dict[str, Any]:
    go = threading.Event()
    lock = threading.Lock()
    stop_at = [0.0]
    budget = [requests] if requests is not None else None
    samples: list[tuple[int, float, float, int]] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=_worker, args=(job, go, stop_at, budget, lock, samples, errors), daemon=True)
        for _ in range(job.threads)
    ]
    for thread in threads:
        thread.start()
    server_before = [_proc_cpu_seconds(pid) for pid in job.server_pids]
    pg_before = _postgres_cpu()
    client_before = time.process_time()
    start = time.perf_counter()
    stop_at[0] = start + (seconds or 0.0)
    go.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    client_cpu = time.process_time() - client_before
    server_after = [_proc_cpu_seconds(pid) for pid in job.server_pids]
    pg_after = _postgres_cpu()
    server_cpu = sum(
        after - before
        for before, after in zip(server_before, server_after, strict=True)
        if before is not None and after is not None
    )
    pg_cpu = sum(pg_after[pid] - pg_before[pid] for pid in pg_after.keys() & pg_before.keys())
    return {
        "elapsed": elapsed,
        "client_cpu": client_cpu / elapsed if elapsed else 0.0,
        "server_cpu": server_cpu / elapsed if elapsed and job.server_pids else None,
        "postgres_cpu": pg_cpu / elapsed if elapsed else 0.0,
        "samples": samples,
        "errors": errors,
    }


def run(spec: dict[str, Any]) -> dict[str, Any]:
    cpu = spec.get("cpu")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})
    job = _Job(spec)
    warm = _phase(job, requests=job.warmup, seconds=None) if job.warmup else {"errors": []}
    result = _phase(job, requests=None, seconds=job.seconds)
    result["warmup_errors"] = warm["errors"][:20]
    result["error_count"] = len(result["errors"])
    result["errors"] = result["errors"][:50]
    return result


def main() -> None:
    spec = json.load(sys.stdin)
    json.dump(run(spec), sys.stdout)


if __name__ == "__main__":
    main()
