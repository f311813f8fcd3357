"""The doorbell between writers (web/worker) and the events process, and the stream tokens.

PostgreSQL holds the truth (timeline rows with a gapless seq); Redis pub/sub only says "incident X has
something new up to seq N". The events process (warroom/events/) replays from PostgreSQL.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core import signing
from django.db import DatabaseError, transaction

from incidents.models import Incident, Notification, User
from warroom.redis import channel_name, deployment_id, get_redis

log = logging.getLogger(__name__)

TOKEN_SALT = "warroom.events.v1"


@dataclass(frozen=True)
class StreamGrant:
    user_id: int
    incident_id: int
    name: str
    initials: str


def mint_stream_token(*, user: User, incident: Incident) -> str:
    """A signed, short-lived pass for one user to one incident's stream (the room page mints it after
    its own permission check; the events process only verifies the signature and re-checks membership)."""
    payload = {"u": user.pk, "i": incident.pk, "n": user.display_name, "a": user.initials}
    return signing.dumps(payload, salt=TOKEN_SALT, compress=True)


def read_stream_token(token: str, *, max_age: int | None = None) -> StreamGrant:
    """Raises signing.BadSignature (or its subclass SignatureExpired) for anything not minted here."""
    data = signing.loads(token, salt=TOKEN_SALT, max_age=max_age or settings.STREAM_TOKEN_MAX_AGE)
    return StreamGrant(
        user_id=int(data["u"]), incident_id=int(data["i"]), name=str(data["n"]), initials=str(data["a"])
    )


def stream_url(*, user: User, incident: Incident) -> str:
    base = settings.EVENTS_URL.rstrip("/")
    return f"{base}/timeline?t={mint_stream_token(user=user, incident=incident)}"


def channel() -> str:
    """One channel for all incidents of this deployment: each events process holds exactly one subscription."""
    return channel_name("timeline")


def publish(payload: dict[str, object]) -> None:
    """Every doorbell names its deployment ("d"); an events process drops any that is not its own."""
    try:
        get_redis().publish(channel(), json.dumps({**payload, "d": deployment_id()}, separators=(",", ":")))
    except redis.RedisError:
        # Posting must work with Redis down: streams catch up through their safety tick or polling.
        log.warning("Redis unavailable; live streams will catch up on their next safety tick.")


# Entries up to this size ride along with their doorbell, so events processes need not read them back.
DOORBELL_HTML_MAX = 16_000


def publish_on_commit(*, incident_id: int, seq: int, html: str = "", privileged: bool = False) -> None:
    """Ring the doorbell only once the entry is committed, so nobody is told about a rolled-back row.

    The committed fragment may travel with it (entries are immutable, so it is the same bytes PostgreSQL
    holds); an events process uses it only when it is exactly the next seq, and reads PostgreSQL otherwise.
    """
    payload: dict[str, object] = {"i": incident_id, "s": seq}
    if html and len(html) <= DOORBELL_HTML_MAX:
        payload |= {"h": html, "p": int(privileged)}
    transaction.on_commit(lambda: publish(payload))


def publish_revocation_on_commit(*, incident_id: int, user_id: int) -> None:
    """Tell events processes to re-check one member now (they also re-check every few seconds)."""
    transaction.on_commit(lambda: publish({"i": incident_id, "r": user_id}))


def publish_incident_revocation_on_commit(*, incident_id: int) -> None:
    """Tell events processes to re-check everyone watching one incident now (it was just restricted)."""
    transaction.on_commit(lambda: publish({"i": incident_id, "r": None}))


# --- Nudges: every other live region (README, "Live updates") --------------------------------------------
#
# A nudge says only "region R, key K, is now at version V" — never HTML. The page that shows (R, K) at an
# older version fetches that one region once through its ordinary, permission-checked fragment view.
# Versions are epoch milliseconds: a nudge is stamped after its commit, a fragment with the start of the
# request that rendered it, so a fragment whose stamp is newer than a nudge already shows that change.

LIVE_SALT = "warroom.live.v1"


def now_stamp() -> int:
    """The version clock: epoch milliseconds (cheap, monotonic enough across one deployment's hosts)."""
    return time.time_ns() // 1_000_000


# The newest nudge this thread sent during the current request: the fragment a write answers with is read
# after its own commit, so it carries that version and the writer's page does not fetch it a second time.
# A context variable, not a thread-local: under ASGI one thread runs the sync code of many requests in turn.
_sent: contextvars.ContextVar[int] = contextvars.ContextVar("live_nudge_sent", default=0)


def begin_request() -> int:
    """The stamp of a request's live regions, taken before it reads anything (UserTimezoneMiddleware)."""
    _sent.set(0)
    return now_stamp()


def request_stamp(started: int) -> int:
    return max(started, _sent.get())


def live_channel() -> str:
    """Nudges travel on their own channel; each events process subscribes to it on its one connection."""
    return channel_name("live")


@dataclass(frozen=True)
class LiveGrant:
    user_id: int
    topics: frozenset[str]

    @property
    def incidents(self) -> frozenset[int]:
        return frozenset(int(t[2:]) for t in self.topics if t.startswith("i:"))


def mint_live_token(*, user: User, incident: Incident | None = None, dash: bool = False) -> str:
    """A signed pass for one page's stream of nudges: always the viewer's own (u:<id>), plus one incident's
    (the page checked the viewer may see it) and/or the dashboard's open-incidents list."""
    topics = [f"u:{user.pk}"]
    if incident is not None:
        topics.append(f"i:{incident.pk}")
    if dash:
        topics.append("dash")
    return signing.dumps({"u": user.pk, "k": topics}, salt=LIVE_SALT, compress=True)


def read_live_token(token: str, *, max_age: int | None = None) -> LiveGrant:
    """Raises signing.BadSignature (or SignatureExpired), KeyError/TypeError/ValueError for anything odd."""
    data = signing.loads(token, salt=LIVE_SALT, max_age=max_age or settings.STREAM_TOKEN_MAX_AGE)
    user_id = int(data["u"])
    topics = frozenset(str(t) for t in data["k"])
    own = {t for t in topics if t.startswith("u:")} == {f"u:{user_id}"}
    if not own or not all(_valid_topic(t) for t in topics):
        raise ValueError("malformed topics")
    return LiveGrant(user_id=user_id, topics=topics)


def _valid_topic(topic: str) -> bool:
    return topic == "dash" or (topic[:2] in ("u:", "i:") and topic[2:].isdigit())


def live_url(*, user: User, incident: Incident | None = None, dash: bool = False) -> str:
    base = settings.EVENTS_URL.rstrip("/")
    return f"{base}/live?t={mint_live_token(user=user, incident=incident, dash=dash)}"


def publish_nudge(payload: dict[str, object]) -> None:
    try:
        get_redis().publish(
            live_channel(), json.dumps({**payload, "d": deployment_id()}, separators=(",", ":"))
        )
    except redis.RedisError:
        # The change is committed; open pages catch up when their stream reconnects or their fallback polls.
        log.warning("Redis unavailable; a live nudge was not sent (pages catch up on reconnect).")


def nudge_on_commit(
    region: str,
    key: str,
    version: int | None = None,
    *,
    incident_id: int | None = None,
    user_ids: Iterable[int] = (),
    dash: bool = False,
    value: Callable[[], int] | None = None,
) -> None:
    """After commit, tell the pages showing (region, key) that it changed. Routed by the events process to
    streams of the incident (members re-checked there), of the named users, and/or of dashboards (only to
    viewers who may see `incident_id`, when one is given). Nothing is sent if the transaction rolls back.
    The same nudge asked for twice in one transaction (a task is a deadline and a timeline entry) goes once.

    `value`: for a region small enough to travel in the nudge itself (the bell's unread count), read after
    commit and sent as the nudge's fourth element, so the pages showing it need not fetch anything. Only in a
    nudge addressed to one person: it is theirs alone."""
    users = sorted({int(u) for u in user_ids})
    if incident_id is None and not users and not dash:
        return
    if value is not None and (incident_id is not None or dash or len(users) != 1):
        raise ValueError("A nudge carries a value only to the one person it is about.")
    connection = transaction.get_connection()
    ident = (region, key, version, incident_id, tuple(users), dash)
    if connection.in_atomic_block:
        waiting: dict[object, Callable[[], None]] = connection.__dict__.setdefault("_live_nudges", {})
        if not connection.run_on_commit:
            waiting.clear()  # nothing waits for a commit: what is listed is from committed or rolled-back work
        earlier = waiting.get(ident)
        # Still queued unless the savepoint that queued it was rolled back (that drops its callback).
        if earlier is not None and any(func is earlier for _, func, _ in connection.run_on_commit):
            return

    def send() -> None:
        stamp = version or now_stamp()
        _sent.set(max(_sent.get(), stamp))
        payload: dict[str, object] = {"n": [region, key, stamp]}
        if value is not None:
            # Read after the stamp is taken: of two such nudges the later-stamped read later, so a page that
            # keeps the newest stamp shows the newest value (a change committed after this read sends its
            # own nudge, stamped later still).
            try:
                payload["n"] = [region, key, stamp, value()]
            except DatabaseError:
                log.warning("The value of a %s nudge could not be read; pages fetch it instead.", region)
        if incident_id is not None:
            payload["i"] = incident_id
        if users:
            payload["u"] = users
        if dash:
            payload["b"] = 1
        publish_nudge(payload)

    if connection.in_atomic_block:
        waiting[ident] = send
    transaction.on_commit(send)


# --- Which regions a change touches: one helper per kind of change, called by the services -----------------


def incident_changed(incident_id: int) -> None:
    """Status, severity, commander: the room's header and the dashboard's open-incidents list."""
    nudge_on_commit("incident", str(incident_id), incident_id=incident_id)
    nudge_on_commit("dash", "open", incident_id=incident_id, dash=True)
    playbook_changed(incident_id)  # the after-action summary says whether the incident still runs


def team_changed(incident_id: int, user_ids: Iterable[int] = ()) -> None:
    """The team panel, the header (it names the commander), and "My incidents" of the people concerned."""
    nudge_on_commit("team", str(incident_id), incident_id=incident_id)
    incident_changed(incident_id)
    nudge_on_commit("mine", "me", user_ids=user_ids)


def statement_changed(
    incident_id: int,
    statement_code: object,
    approver_ids: Iterable[int] = (),
    *,
    card_code: object | None = None,
) -> None:
    """The statement's card in the room's statements panel, the statement's own page, and "My approvals" of
    its chain's approvers (their bells ring through their notifications: notified).

    `card_code` names the panel's card that shows the statement (its own code, or its master's for a
    variant): only that card is re-fetched in each open room. None when the panel's set of cards changed (a
    new statement, one withdrawn or superseded): then the whole panel is, once."""
    if card_code is None:
        nudge_on_commit("statements", str(incident_id), incident_id=incident_id)
    else:
        nudge_on_commit("statement-card", str(card_code), incident_id=incident_id)
    nudge_on_commit("statement", str(statement_code), incident_id=incident_id)
    nudge_on_commit("approvals", "me", user_ids=approver_ids)
    playbook_changed(incident_id)  # the summary's statements, approvals and first-statement time


def deadline_changed(incident_id: int, user_ids: Iterable[int] = (), *, approval: bool = False) -> None:
    """The room's deadlines panel; "My due items" (and "My approvals", for a step's deadline) of the people
    who answer for it."""
    users = list(user_ids)
    nudge_on_commit("deadlines", str(incident_id), incident_id=incident_id)
    nudge_on_commit("due", "me", user_ids=users)
    playbook_changed(incident_id)  # the summary's deadlines: tasks and regulatory clocks are deadlines
    if approval:
        nudge_on_commit("approvals", "me", user_ids=users)


def deliveries_changed(incident_id: int, statement_code: object) -> None:
    """A delivery of a statement moved (queued, sending, sent, failed, retrying — mostly in a Celery worker):
    the channels region of the statement's page."""
    nudge_on_commit("deliveries", str(statement_code), incident_id=incident_id)


def playbook_changed(incident_id: int) -> None:
    """Something the incident's after-action summary (templates/playbooks/summary.html) shows moved: a
    statement or approval, a deadline (tasks and clocks are deadlines), an inject, a drill's timeline."""
    nudge_on_commit("playbook", str(incident_id), incident_id=incident_id)


def notifications_read(user_id: int) -> None:
    """Read in one tab: the person's bell and lists in their other tabs."""
    notified(user_id)


def notified(user_id: int) -> None:
    """A new notification (or one read): the person's bell — its unread count travels in the nudge, so no
    open page fetches it — and their notification lists."""
    nudge_on_commit("bell", "me", user_ids=[user_id], value=lambda: unread_count(user_id))
    nudge_on_commit("notifications", "me", user_ids=[user_id])


def unread_count(user_id: int) -> int:
    """The bell's number: the person's unread notifications (one index-only count: notification_inbox)."""
    return Notification.objects.filter(recipient_id=user_id, read_at__isnull=True).count()
