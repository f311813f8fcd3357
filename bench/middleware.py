"""Per-request figures for the load generator: server time and SQL query count, as response headers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse


class _QueryCounter:
    """An execute wrapper that only counts: no DEBUG, no query log, negligible overhead."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


class ServerTiming:
    """Outermost middleware: `Server-Timing: app;dur=<ms>` and `X-Query-Count` for the whole stack."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        counter = _QueryCounter()
        start = time.perf_counter()
        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        elapsed_ms = (time.perf_counter() - start) * 1000
        response["Server-Timing"] = f"app;dur={elapsed_ms:.3f}"
        response["X-Query-Count"] = str(counter.count)
        return response


class SwitchableGate:
    """The second-factor gate (incidents/accounts/gate.py), passed by for a request marked
    `X-Bench-Gate: off`, so one worker measures the same POST with and without it (bench/accounts.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from incidents.accounts.gate import SecondFactorGate

        self.get_response = get_response
        self.gate = SecondFactorGate(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.headers.get("X-Bench-Gate") == "off":
            return self.get_response(request)
        return self.gate(request)
