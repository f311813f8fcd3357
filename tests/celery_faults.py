"""Fault injection for tests/test_deadlines_celery.py, imported by a test worker (`-I tests.celery_faults`).

kombu 5.x on Redis can fail with AttributeError ('NoneType' object has no attribute 'hostname') when a
channel reaches for the transport it has just dropped: Celery then ends the worker instead of reconnecting.
Seen in `make bench`'s Redis restarts, e.g. acknowledging a message received on the old connection. After the
worker has reconnected once, WARROOM_TEST_KOMBU_FAULT makes kombu's own code meet a dropped transport, once:

- "consume": when the consumer starts consuming on the new connection;
- "ack": when a message is next acknowledged;
- "restore": when Celery closes the lost connection's channel before reconnecting and kombu restores the
  messages the worker held unacknowledged (ETA tasks) through the transport it has just dropped: the path
  seen most often in a chaos run that restarted Redis 140 times under two workers. Every time, not once:
  only the close of the channel that held the messages reaches Celery.

And one path that is not an AttributeError: "budget" shrinks Celery's reconnect budget
(`broker_connection_max_retries`, 100) to 3 attempts and prints a marker at each failed attempt. With the
worker retrying every second, the real budget ran out after ~100 s of Redis being away and the worker
exited ("Unrecoverable error: OperationalError"); here it runs out after 3 s.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import kombu.connection
from celery.signals import worker_ready
from kombu.transport import redis as transport

from warroom.celery import app

POINT = os.environ.get("WARROOM_TEST_KOMBU_FAULT", "")
MARKER = "kombu-fault-injected"
RETRY_MARKER = "broker-connect-attempt-failed"
_state = {"ready": False, "reconnected": False, "fired": False}


def _kombu_fails(channel: Any, where: str) -> None:
    """Drop the channel's transport client and let kombu read it, so the error comes from kombu's frames."""
    _state["fired"] = True
    print(f"{MARKER} at {where}", file=sys.stderr, flush=True)
    connection = channel.connection
    client, connection.client = connection.client, None
    try:
        channel._connparams()
    finally:
        connection.client = client


_basic_consume = transport.Channel.basic_consume
_ack = transport.QoS.ack


def basic_consume(self: Any, queue: Any, *args: Any, **kwargs: Any) -> Any:
    if _state["ready"]:
        _state["reconnected"] = True
        if POINT == "consume" and not _state["fired"]:
            _kombu_fails(self, "consume")
    return _basic_consume(self, queue, *args, **kwargs)


def ack(self: Any, delivery_tag: Any) -> Any:
    if POINT == "ack" and _state["reconnected"] and not _state["fired"]:
        _kombu_fails(self.channel, "ack")
    return _ack(self, delivery_tag)


_restore_unacked = transport.QoS.restore_unacked


def restore_unacked(self: Any, client: Any = None) -> Any:
    if POINT == "restore" and _state["ready"] and self._delivered:
        _kombu_fails(self.channel, "restore")
    return _restore_unacked(self, client)


_retry_over_time = kombu.connection.retry_over_time  # type: ignore[attr-defined]


def retry_over_time(fun: Any, catch: Any, args: Any, kwargs: Any, errback: Any, *rest: Any, **kw: Any) -> Any:
    def counted(exc: Exception, interval_range: Any, retries: int) -> Any:
        print(f"{RETRY_MARKER} {retries}", file=sys.stderr, flush=True)
        return errback(exc, interval_range, retries) if errback else next(interval_range)

    return _retry_over_time(fun, catch, args, kwargs, counted, *rest, **kw)


@worker_ready.connect
def _ready(**kwargs: Any) -> None:
    _state["ready"] = True


if POINT in ("consume", "ack", "restore"):
    setattr(transport.Channel, "basic_consume", basic_consume)  # noqa: B010 (patching a method on purpose)
    setattr(transport.QoS, "ack", ack)  # noqa: B010
    setattr(transport.QoS, "restore_unacked", restore_unacked)  # noqa: B010
elif POINT == "budget":
    app.conf.broker_connection_max_retries = 3
    setattr(kombu.connection, "retry_over_time", retry_over_time)  # noqa: B010
