"""Who and where a database write comes from, handed to the audit triggers.

The capture trigger reads one transaction-local setting, `warroom.audit` (JSON: actor, actor_id, request_id,
origin). Python code provides it by entering a context: the request middleware, Celery's task signals and
manage.py do it for every request, task and command; `audit_context()` does it anywhere else. While a
context is active, an execute wrapper installed on every Django connection prefixes each write statement
with `SELECT set_config('warroom.audit', '<json>', true);` — sent in the same round trip as the statement,
so it costs no query; transaction-local, so it covers that statement's transaction (an autocommit statement
or the enclosing atomic block) and can never leak to the next user of a pooled connection. Raw SQL through
Django's cursors is prefixed alike. A write made without a context is recorded as "system": the log says it
does not know rather than guessing.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import psycopg
from django.http import HttpRequest, HttpResponse
from psycopg import pq

# Statements that may write. Everything else (SELECT, SAVEPOINT, DDL …) goes through untouched.
_WRITE = re.compile(r"\s*(?:insert|update|delete|with|merge)\b", re.IGNORECASE)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Set on a connection while a transaction it is in may still carry a context's setting.
_LEFT_SET = "_warroom_audit_context_set"


def _clean(value: str, limit: int) -> str:
    """Percent-encode everything but a safe set: the JSON then has no quotes or backslashes to escape, so it
    can be embedded as a plain SQL string literal."""
    return quote(value, safe="/:@-._~+,;=!$*()[] ")[:limit]


def new_request_id() -> str:
    return uuid.uuid4().hex


class Source(Protocol):
    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AuditContext:
    actor: str
    actor_id: int | None = None
    request_id: str = field(default_factory=new_request_id)
    origin: str = ""

    def payload(self) -> dict[str, Any]:
        return {
            "actor": _clean(self.actor, 120),
            "actor_id": self.actor_id,
            "request_id": self.request_id if _REQUEST_ID.fullmatch(self.request_id) else "",
            "origin": _clean(self.origin, 200),
        }


class RequestContext:
    """A request's context: the actor is read from request.user when a write happens, so a login or logout
    within the request is followed (and a request that writes nothing never loads the user for us)."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.request_id = new_request_id()
        self.origin = _clean(f"{request.method} {request.path}", 200)

    def payload(self) -> dict[str, Any]:
        user = getattr(self.request, "user", None)
        if user is not None and user.is_authenticated:
            actor, actor_id = f"user:{user.pk}", user.pk
        else:
            actor, actor_id = "anonymous", None
        return {"actor": actor, "actor_id": actor_id, "request_id": self.request_id, "origin": self.origin}


_current: ContextVar[Source | None] = ContextVar("warroom_audit_context", default=None)


def current() -> Source | None:
    return _current.get()


@contextlib.contextmanager
def audit_context(
    *, actor: str, actor_id: int | None = None, request_id: str = "", origin: str = ""
) -> Iterator[AuditContext]:
    """Attribute the writes inside the block (services called from scripts, seeding, one-off jobs)."""
    context = AuditContext(actor, actor_id, request_id or new_request_id(), origin)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def as_user(user: Any, *, origin: str = "") -> contextlib.AbstractContextManager[AuditContext]:
    """Writes made on behalf of a person outside a request (a command acting for someone, a test)."""
    return audit_context(actor=f"user:{user.pk}", actor_id=user.pk, origin=origin)


def sql_literal(source: Source) -> str:
    text = json.dumps(source.payload(), separators=(",", ":"))
    if "'" in text or "\\" in text:  # cannot happen with cleaned values; never build a broken literal
        raise ValueError("audit context must not contain quotes or backslashes")
    return f"'{text}'"


# --- the execute wrapper ------------------------------------------------------------------------------------


def inject(execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    if not isinstance(sql, str) or not _WRITE.match(sql):
        return execute(sql, params, many, context)
    source = _current.get()
    db = context["connection"]
    if source is None:
        # A context that ended inside a still-open transaction left its setting behind: clear it, so this
        # write is not attributed to it.
        if not getattr(db, _LEFT_SET, False):
            return execute(sql, params, many, context)
        if not db.in_atomic_block:
            setattr(db, _LEFT_SET, False)  # autocommit: that transaction is over, and the setting with it
            return execute(sql, params, many, context)
        literal = "''"
    else:
        literal = sql_literal(source)
        setattr(db, _LEFT_SET, db.in_atomic_block)
    cursor = context["cursor"].cursor
    if cursor.connection.info.transaction_status == pq.TransactionStatus.INERROR:
        return execute(sql, params, many, context)  # the statement fails anyway; do not mask its error
    if many or not isinstance(cursor, psycopg.ClientCursor):
        # executemany, and server-side binding (OPTIONS server_side_binding), cannot carry a second statement;
        # inside a transaction a separate one holds for it (in autocommit the row would say "system").
        if db.in_atomic_block:
            cursor.execute(f"SELECT set_config('warroom.audit', {literal}, true)")
        return execute(sql, params, many, context)
    if params is not None:
        literal = literal.replace("%", "%%")  # the driver interpolates parameters into this text
    result = execute(f"SELECT set_config('warroom.audit', {literal}, true);\n{sql}", params, many, context)
    # Leave the cursor on the statement's own result (rows, rowcount), not on set_config's.
    while cursor.nextset():
        pass
    return result


def install(connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver: put the wrapper first on this connection, once. First, so that a
    wrapper someone pushes with `connection.execute_wrapper()` is still the one their block pops."""
    wrappers = connection.execute_wrappers
    if inject not in wrappers:
        wrappers.insert(0, inject)


# --- requests, tasks and commands ---------------------------------------------------------------------------


class AuditContextMiddleware:
    """Every request's writes carry its user and a request id (also sent back as X-Request-ID)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        source = RequestContext(request)
        token = _current.set(source)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response["X-Request-ID"] = source.request_id
        return response


_task_tokens: dict[str, Token[Source | None]] = {}


def task_started(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    name = getattr(task, "name", None) or "unknown"
    context = AuditContext(f"task:{name}", None, f"task-{task_id}"[:64], f"task {name}")
    _task_tokens[str(task_id)] = _current.set(context)


def task_finished(task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_tokens.pop(str(task_id), None)
    if token is not None:
        try:
            _current.reset(token)
        except ValueError:  # finished in another context than it started: nothing of ours to undo here
            _current.set(None)


def command_context(argv: Sequence[str]) -> contextlib.AbstractContextManager[AuditContext]:
    """manage.py: everything a command writes (migrate's seeds, seed_demo, a shell session) says so."""
    name = argv[1] if len(argv) > 1 else "help"  # only the name: arguments may carry secrets
    return audit_context(actor=f"command:{name}", origin=f"command {name}")
