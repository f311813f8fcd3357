"""Scenario `publishing`: publish to three connectors at once, from the click to every link recorded.

Loopback fakes of Mastodon, a Bluesky PDS and a webhook receiver (bench/fake_platforms.py) answer every
request after 50 ms. A real Celery worker (prefork, 3 processes, on the benchmark's broker database, emptied
first) sends the deliveries. N approved statements (20; `--quick` 8) are published one after another by the
publisher's htmx POST to the gunicorn under test, ticking all three channels.

Figures:
- **click**: the POST's server time (`Server-Timing`): the gate, three delivery rows, the timeline entry, the
  on-commit kicks. Target p50 ≤ 30 ms.
- **click → every link recorded**: from the request's arrival (the release's `requested_at`) to the last of the
  three deliveries' `sent_at` (written in the transaction that records the link), both server clocks of this
  machine. Target p50 ≤ 500 ms.
- **baseline**: one request to a fake, timed from this process in the same run (`÷ fake` = the end-to-end p50
  over it). The floor is one fake round trip when the three go out in parallel; Bluesky's first delivery per
  worker process adds a login (createSession), later ones reuse the session.

Run alone: `python -m bench --only publishing`.
"""

from __future__ import annotations

import http.client
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import processes
from bench.common import (
    BROKER_URL,
    Check,
    Context,
    ScenarioResult,
    bench_env,
    heading,
    percentile,
    print_table,
    purge_broker,
)
from bench.fake_platforms import FakeBluesky, FakeMastodon, FakeWebhook, serving
from bench.statements import _cast, _headers, _prepare

NAME = "publishing"
DESCRIPTION = (
    "publish to 3 connectors (loopback fakes answering in 50 ms): click time, click → all links recorded"
)
FAKE_LATENCY = 0.050
CLICK_TARGET_MS = 30.0
LINKS_TARGET_MS = 500.0
SECRETS = {  # also in bench_env: the gunicorn under test must see them (a connector needs its secret)
    "WARROOM_PUBLISH_BENCH_MASTODON": "bench-mastodon-token",
    "WARROOM_PUBLISH_BENCH_BLUESKY": "bench-app-password",
    "WARROOM_PUBLISH_BENCH_WEBHOOK": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


def _fake_round_trip_ms(url: str, samples: int = 20) -> float:
    host, port = url.removeprefix("http://").split(":")
    times = []
    for _ in range(samples):
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        start = time.perf_counter()
        conn.request("POST", "/hooks/bench", body=b"{}", headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        times.append((time.perf_counter() - start) * 1000)
        conn.close()
    return statistics.median(times)


def _manual_clicks(
    ctx: Context, incident: Any, statements: list[Any], headers: dict[str, str]
) -> list[float]:
    conn = http.client.HTTPConnection(ctx.server.host, ctx.server.port, timeout=30)
    times = []
    for n, statement in enumerate(statements):
        path = f"/incidents/{incident.code}/statements/{statement.code}/publish/"
        conn.request(
            "POST",
            path,
            body=urlencode({"version": 1, "channel": "x", "link": "https://x.com/n/1"}),
            headers=headers,
        )
        response = conn.getresponse()
        response.read()
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
        timing = response.getheader("Server-Timing") or ""
        if n and response.status == 200 and "dur=" in timing:
            times.append(float(timing.split("dur=")[1].split(",")[0]))
    conn.close()
    return times


def run(ctx: Context) -> ScenarioResult:
    from incidents.models import Reminder, ReminderState, Statement
    from incidents.publishing.models import Connector, Delivery, DeliveryState, Release

    result = ScenarioResult(NAME)
    count = 8 if ctx.config.quick else 20
    heading(f"publishing: {count} statements, each to Mastodon + Bluesky + webhook (fakes answer in 50 ms)")
    tmp = Path(tempfile.mkdtemp(prefix="warroom-bench-publishing-"))
    with ExitStack() as stack:
        mastodon = stack.enter_context(
            serving(FakeMastodon(token=SECRETS["WARROOM_PUBLISH_BENCH_MASTODON"], latency=FAKE_LATENCY))
        )
        sky = stack.enter_context(
            serving(FakeBluesky(password=SECRETS["WARROOM_PUBLISH_BENCH_BLUESKY"], latency=FAKE_LATENCY))
        )
        hook = stack.enter_context(serving(FakeWebhook(latency=FAKE_LATENCY)))
        connectors = [
            Connector.objects.create(
                name="Mastodon (bench)",
                kind="mastodon",
                base_url=mastodon.url,
                secret_env="WARROOM_PUBLISH_BENCH_MASTODON",
                max_characters=500,
            ),
            Connector.objects.create(
                name="Bluesky (bench)",
                kind="bluesky",
                base_url=sky.url,
                account=sky.handle,
                secret_env="WARROOM_PUBLISH_BENCH_BLUESKY",
            ),
            Connector.objects.create(
                name="Status page (bench)",
                kind="webhook",
                base_url=hook.url + "/hooks/bench",
                secret_env="WARROOM_PUBLISH_BENCH_WEBHOOK",
                accepts=["x"],
            ),
        ]
        stack.callback(
            lambda: Connector.objects.filter(pk__in=[c.pk for c in connectors]).update(is_active=False)
        )
        incident, people = _cast("publishing.bench.example")
        ready: list[Statement] = _prepare(incident, people, count + 1, approved=True)
        manual: list[Statement] = _prepare(incident, people, count + 1, approved=True)

        # Baseline in the same run, same server, before any worker runs: "Record as published" (the base app's
        # publish POST: the same gate, one Publication row, the timeline entry, the deadlines).
        baseline = _manual_clicks(ctx, incident, manual, _headers(people["publisher"]))
        purge_broker()  # nothing of the other scenarios' queued tasks: this worker reads the bench broker
        # Nor their reminders: after `pages`, `flow` and `deadlines` thousands are due, and the first sweep
        # would hand them all to this worker (the full run waited 30 s for each delivery behind them).
        Reminder.objects.filter(state=ReminderState.PENDING).exclude(deadline__incident=incident).update(
            state=ReminderState.CANCELLED
        )
        env = {**bench_env(ctx.config.database_url), **SECRETS, "CELERY_BROKER_URL": BROKER_URL}
        worker = processes.Proc(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "warroom",
                "worker",
                "-P",
                "prefork",
                "-c",
                "3",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "info",
            ],
            env,
            tmp,
        )
        worker.start()
        stack.callback(purge_broker)
        stack.callback(worker.kill)
        processes.wait_until(lambda: " ready." in worker.text(), 60, "bench worker not ready", worker.tail)

        headers = _headers(people["publisher"])
        conn = http.client.HTTPConnection(ctx.server.host, ctx.server.port, timeout=30)
        clicks: list[float] = []
        links: list[float] = []
        bad: list[str] = []
        for n, statement in enumerate(ready):
            version = statement.current_version
            assert version is not None
            form = urlencode(
                {"version": 1, "sha256": version.sha256, "connectors": [c.pk for c in connectors]}, doseq=True
            )
            path = f"/publishing/incidents/{incident.code}/statements/{statement.code}/deliveries/send/"
            conn.request("POST", path, body=form, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
            if response.status != 200:
                bad.append(f"POST {response.status}")
                continue
            timing = response.getheader("Server-Timing") or ""

            def all_published(s: Statement = statement) -> bool:
                return Delivery.objects.filter(statement=s, state=DeliveryState.PUBLISHED).count() == 3

            try:
                processes.wait_until(all_published, 30, "deliveries not all published", worker.tail)
            except AssertionError as exc:
                bad.append(str(exc).splitlines()[0])
                continue
            if n == 0:
                continue  # warm-up: worker imports, the first Bluesky login of a process
            clicks.append(float(timing.split("dur=")[1].split(",")[0]) if "dur=" in timing else float("nan"))
            requested = Release.objects.get(statement=statement).requested_at
            last = max(d.sent_at for d in Delivery.objects.filter(statement=statement) if d.sent_at)
            links.append((last - requested).total_seconds() * 1000)
        conn.close()
        fake_ms = _fake_round_trip_ms(hook.url)
        posted = (
            len(mastodon.statuses),
            len(sky.posts()),
            len(
                {
                    r.headers["webhook-id"]
                    for r in hook.posts_to("/hooks/bench")
                    if r.headers.get("webhook-id")
                }
            ),
        )

    click_p50, links_p50 = percentile(clicks, 50), percentile(links, 50)
    manual_p50 = percentile(baseline, 50)
    rows = [
        ["fake's own round trip (baseline)", f"{fake_ms:.1f}", "—", "1.00"],
        [
            "'Record as published' click (baseline)",
            f"{manual_p50:.1f}",
            f"{percentile(baseline, 99):.1f}",
            "—",
        ],
        [
            "click (POST, server time)",
            f"{click_p50:.1f}",
            f"{percentile(clicks, 99):.1f}",
            f"{click_p50 / manual_p50:.2f} x record" if manual_p50 else "—",
        ],
        [
            "click → all 3 links recorded",
            f"{links_p50:.1f}",
            f"{percentile(links, 99):.1f}",
            f"{links_p50 / fake_ms:.2f}",
        ],
    ]
    print_table(["figure", "p50 ms", "p99 ms", "÷ fake"], rows, right=(1, 2, 3))
    result.checks.append(
        Check(
            "publishing: click server time p50",
            f"≤ {CLICK_TARGET_MS:.0f} ms",
            f"{click_p50:.1f} ms",
            click_p50 <= CLICK_TARGET_MS if clicks else None,
        )
    )
    result.checks.append(
        Check(
            "publishing: click → every link recorded p50",
            f"≤ {LINKS_TARGET_MS:.0f} ms",
            f"{links_p50:.1f} ms = {links_p50 / fake_ms:.2f} times the fake's {fake_ms:.1f} ms",
            links_p50 <= LINKS_TARGET_MS if links else None,
        )
    )
    result.checks.append(
        Check(
            "publishing: one post per statement per platform, no failures",
            "0 bad, no duplicates",
            f"{len(bad)} bad; posts {posted} for {count + 1} statements",
            not bad and posted == (count + 1,) * 3,
        )
    )
    result.notes.append(
        f"publishing: the click's server time includes the three on-commit kicks, and the worker starting on them "
        f"competes for the CPU; 'Record as published' (no worker) p50 {manual_p50:.1f} ms in the same run."
    )
    result.data[NAME] = {
        "manual_click_ms": baseline,
        "click_ms": clicks,
        "links_ms": links,
        "fake_ms": fake_ms,
        "bad": bad,
    }
    return result
