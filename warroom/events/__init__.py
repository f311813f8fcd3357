"""The events process: live incident timelines as server-sent events, on raw ASGI.

Why raw ASGI and not a Django view: under Django's ASGI handler every open stream pins an OS thread for its
whole life, and one that touched the ORM also pins a DB connection (performance-anchors §1.2). Here a
stream costs a socket, a small object and two coroutines; the process keeps a fixed handful of threads.

Shape of one events process (uvicorn, `--lifespan off`, so everything below starts lazily):

- ONE `psycopg_pool.AsyncConnectionPool` (1..4 connections), borrowed per statement and given back before
  any byte goes to a client, so an idle stream never holds a connection. No Django ORM anywhere in here.
- ONE Redis subscription on this deployment's channel (`incidents.live.channel()`): the doorbell.
  `{"i": incident, "s": seq}` means "incident i has entries up to seq"; `{"i": incident, "r": user}` means
  "re-check this user now"; every doorbell names its deployment (`"d"`) and others are dropped. A doorbell
  may carry the committed entry itself (`"h"`: its stored HTML fragment, `"p"`: privileged), the very bytes
  PostgreSQL holds, since entries are immutable (README, "Live updates"). PostgreSQL stays the truth: a
  carried entry is used only when it is exactly the next seq after a loaded window; otherwise it is read.
- A registry incident → Feed → streams. A Feed keeps a window of the incident's newest entries, already
  encoded as SSE frames. A doorbell carrying the next entry extends the window without a query; any other
  makes the Feed run ONE query (`seq > window top`, so a lost earlier doorbell is repaired by the next
  one). Only then are the streams that are behind woken; each one takes what it has not sent yet from the
  window. 1,000 viewers of one incident cost at most one query and one encoding per entry, not 1,000.
- One maintenance task: every AUTH_INTERVAL seconds ONE query re-authorises every open stream (active user,
  and on the team if the incident is restricted) and returns each incident's `timeline_seq`, which doubles
  as the safety tick: a Feed behind that number refreshes and wakes its streams, so a lost publish, or
  Redis being down, costs at most one interval. The same sweep sends heartbeats to idle streams.

Per stream (performance-anchors §1.4): verify the token → authorise (403 otherwise, not one event byte) →
register → replay `seq > cursor` from PostgreSQL → presence → live. Every frame goes through
`Stream.take`, which only passes `seq > last_sent`: no entry is sent twice on one connection, and entries
go out in seq order.

Modules, each importing only those listed before it:

- `protocol`: ASGI type names, SSE framing, the fixed frames and headers;
- `feeds`: `Stream` and `Feed`, the per-process state of live incidents;
- `queries`: the replay and authorise statements (the visibility rule as this process states it) and the
  connection string;
- `stats`: garbage-collector pauses and process figures for /events/stats;
- `database`: the pool, one statement per borrowed connection, shared replays;
- `hub`: the `Hub` (Redis subscription, registry, fan-out, revocation, maintenance tick);
- `app`: the ASGI endpoints and each stream's life.

The package exports what `warroom.asgi` mounts: `events_app` and the ASGI type names.
"""

from __future__ import annotations

from warroom.events.app import events_app
from warroom.events.protocol import Receive, Scope, Send

__all__ = ["Receive", "Scope", "Send", "events_app"]
