"""Fault injection for tests/test_deadlines_celery.py, imported by a test worker (`-I tests.celery_faults`).

kombu 5.x on Redis can fail with AttributeError ('NoneType' object has no attribute 'hostname') when a
channel reaches for the transport it has just dropped: Celery then ends the worker instead of reconnecting.
Seen in `make bench`'s Redis restarts, e.g. acknowledging a message received on the old connection. After the
worker has reconnected once, WARROOM_TEST_KOMBU_FAULT makes kombu's own code meet a dropped transport, once:

- "consume": when the consumer starts consuming on the new connection;
- "ack": when a message is next acknowledged.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from celery.signals import worker_ready
from kombu.transport import redis as transport

POINT = os.environ.get("WARROOM_TEST_KOMBU_FAULT", "")
MARKER = "kombu-fault-injected"
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


@worker_ready.connect
def _ready(**kwargs: Any) -> None:
    _state["ready"] = True


if POINT:
    setattr(transport.Channel, "basic_consume", basic_consume)  # noqa: B010 (patching a method on purpose)
    setattr(transport.QoS, "ack", ack)  # noqa: B010
