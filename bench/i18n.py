"""Scenario `i18n`: translation must not cost the pages (issue 19).

The dashboard and an incident room, each divided by the bare view measured around it, with the viewer's
interface language set to English and to Polish on the same server, data and session. The target: the Polish
ratio within 10 % of the English one. The languages are measured in the order en, pl, pl, en (ABBA), so a
machine that slows down or speeds up during the run weighs on both alike; each language's ratio is the mean
of its two rounds. Before the load, one in-process request per page and language checks that the page really
is in that language (Content-Language), so the comparison is not English against English.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bench.common import (
    Check,
    Context,
    IncidentGrower,
    Measurement,
    ScenarioResult,
    Team,
    create_team,
    heading,
    measurement_rows,
    print_table,
    run_load,
    session_cookie,
    settle_database,
)
from bench.pages import BARE, _room_incident

if TYPE_CHECKING:
    from incidents.models import User

NAME = "i18n"
DESCRIPTION = "dashboard and incident room ÷ bare view, interface in Polish vs English"

LANGUAGES = ("en", "pl")
ROUNDS = ("en", "pl", "pl", "en")  # ABBA: drift during the run weighs on both languages alike
TOLERANCE = 0.10  # the Polish ratio at least 90 % of the English one
OPEN_INCIDENTS, ARCHIVED_INCIDENTS = 8, 2  # the dashboard lists a few, like the pages scenario's first tier


def _team() -> Team:
    """The pages scenario's team when it ran first in this database, otherwise a new one like it."""
    from incidents.models import User

    existing = list(User.objects.filter(email__endswith="@bench.example").order_by("pk"))
    if len(existing) >= 6:
        by_email = {u.email: u for u in existing}
        viewer = by_email["maja@bench.example"]
        declarers = [by_email[f"{name}@bench.example"] for name in ("maja", "priya", "daniel", "sofia")]
        return Team(viewer=viewer, declarers=declarers, everyone=existing)
    return create_team()


def _set_language(user: User, language: str) -> None:
    user.language = language
    user.save(update_fields=["language"])


def _served_language(path: str, auth: dict[str, str]) -> tuple[int, str]:
    """Status and Content-Language of one in-process GET (the same settings and middleware as the server)."""
    from http.cookies import SimpleCookie

    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(auth.get("Cookie", ""))
    client.cookies = cookie
    response = client.get(path)
    return response.status_code, response.get("Content-Language", "")


def _in_process_ab(
    pages: list[tuple[str, str]], auth: dict[str, str], viewer: User, rounds: int
) -> dict[str, float]:
    """Median in-process time of each page in pl ÷ in en, the languages alternated request by request.

    A cross-check of the load figures that a busy machine cannot skew towards one language: both languages
    share every slow or fast moment. Same settings and middleware as the server (the test client)."""
    import statistics
    from http.cookies import SimpleCookie

    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(auth.get("Cookie", ""))
    client.cookies = cookie
    out: dict[str, float] = {}
    for page, path in pages:
        times: dict[str, list[float]] = {lang: [] for lang in LANGUAGES}
        for n in range(rounds * 2 + 4):
            lang = LANGUAGES[n % 2]
            _set_language(viewer, lang)
            start = time.perf_counter()
            client.get(path)
            if n >= 4:  # the first two of each language warm the caches
                times[lang].append(time.perf_counter() - start)
        out[page] = statistics.median(times["pl"]) / statistics.median(times["en"])
    return out


def run(ctx: Context) -> ScenarioResult:
    result = ScenarioResult(NAME)
    team = _team()
    room = _room_incident(team)
    IncidentGrower(team, seed=19).grow(open_incidents=OPEN_INCIDENTS, archived_incidents=ARCHIVED_INCIDENTS)
    settle_database()
    auth = session_cookie(team.viewer)
    pages = [("dashboard", "/"), ("incident room", f"/incidents/{room.code}/")]
    previous = team.viewer.language

    for language in LANGUAGES:
        _set_language(team.viewer, language)
        for page, path in pages:
            status, served = _served_language(path, auth)
            if status != 200 or served != language:
                problem = (
                    f"{page} with the viewer's language {language}: answered {status} in {served or '?'}"
                )
                print(f"  {problem}")
                result.notes.append(problem)
                result.checks.append(Check(f"i18n: {page} served in {language}", language, served, False))

    ratios: dict[str, dict[str, list[float]]] = {page: {lang: [] for lang in LANGUAGES} for page, _ in pages}
    try:
        for n, language in enumerate(ROUNDS, start=1):
            _set_language(team.viewer, language)
            heading(f"i18n round {n}/{len(ROUNDS)}: interface in {language}")
            before = run_load(ctx.server, BARE, label="bare view", config=ctx.config, headers=auth)
            measured = [
                (
                    page,
                    run_load(ctx.server, path, label=f"{page} ({language})", config=ctx.config, headers=auth),
                )
                for page, path in pages
            ]
            after = run_load(ctx.server, BARE, label="bare view", config=ctx.config, headers=auth)
            baseline = (before.req_per_s + after.req_per_s) / 2
            rows = [Measurement("bare view (before)", language, before)]
            for page, stats in measured:
                m = Measurement(page, language, stats, baseline_req_per_s=baseline)
                if m.ratio is not None:
                    ratios[page][language].append(m.ratio)
                rows.append(m)
            rows.append(Measurement("bare view (after)", language, after))
            result.measurements.extend(rows)
            headers, body, right = measurement_rows(rows)
            print_table(headers, body, right=right)
    finally:
        _set_language(team.viewer, previous)

    try:
        ab = _in_process_ab(pages, auth, team.viewer, rounds=5 if ctx.config.quick else 40)
    finally:
        _set_language(team.viewer, previous)
    result.data["in_process_pl_over_en"] = ab
    result.notes.append(
        "i18n in-process cross-check (languages alternated request by request, median time pl ÷ en): "
        + ", ".join(f"{page} {r:.2f}" for page, r in ab.items())
        + " (1.00 = the same cost; above 1 = Polish slower)."
    )
    result.data["ratios"] = ratios
    for page, by_language in ratios.items():
        en, pl = (sum(v) / len(v) if v else None for v in (by_language["en"], by_language["pl"]))
        rounds = "; ".join(
            f"{lang} " + ", ".join(f"{r:.3f}" for r in by_language[lang]) for lang in LANGUAGES
        )
        result.notes.append(f"i18n {page}: ratio to the bare view per round: {rounds}.")
        if en is None or pl is None:
            result.checks.append(
                Check(f"i18n: {page} ratio pl vs en", f"≥ {1 - TOLERANCE:.0%} of en", "—", None)
            )
            continue
        relative = pl / en
        result.checks.append(
            Check(
                f"i18n: {page} ratio in pl vs en",
                f"pl ≥ {1 - TOLERANCE:.0%} of en",
                f"pl {pl:.3f} / en {en:.3f} = {relative:.0%}",
                relative >= 1 - TOLERANCE,
            )
        )
    bad = sum(
        m.stats.errors + sum(n for status, n in m.stats.statuses.items() if status != 200)
        for m in result.measurements
    )
    total = sum(m.stats.requests for m in result.measurements)
    result.checks.append(
        Check("i18n: every response 200, no connection errors", "0 bad", f"{bad} of {total:,}", bad == 0)
    )
    return result
