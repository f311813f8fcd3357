from __future__ import annotations

import contextlib
import logging
import os
import traceback
from typing import Any

from celery import Celery
from celery.worker.consumer import Consumer
from celery.worker.consumer.consumer import STOP_CONDITIONS  # type: ignore[attr-defined]
from celery.worker.state import maybe_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "warroom.settings")
log = logging.getLogger(__name__)


class QuickReconnectConsumer(Consumer):
    """Reconnects to a returning Redis within a second instead of kombu's 2, 4, 6 … 30 s back-off, so reminders
    the sweep owes go out at most one sweep after Redis is back (performance-anchors §2.3; R27)."""

    def ensure_connected(self, conn: Any) -> Any:
        if self.first_connection_attempt and not self.app.conf.broker_connection_retry_on_startup:
            return super().ensure_connected(conn)

        def log_retry(exc: Exception, interval: float) -> None:
            if interval:
                self.broker_connection_retry_attempt += 1
                if self.broker_connection_retry_attempt % 30 == 1:  # once every ~30 s while Redis is away
                    log.warning("Broker unreachable (%s); retrying every second.", exc)

        conn = conn.ensure_connection(
            log_retry,
            # Forever (until the worker is asked to stop: maybe_shutdown between attempts). Celery's budget,
            # broker_connection_max_retries = 100, was sized for kombu's 2 → 30 s back-off (about 45 min);
            # at one attempt a second it ran out after ~100 s of Redis being away, and the worker then
            # exited with "Unrecoverable error: OperationalError" (kombu's re-raised connection error is not
            # one of the transport's connection errors), leaving reminders to nobody once Redis was back.
            None,
            interval_start=0.5,
            interval_step=0.5,
            interval_max=1,
            callback=maybe_shutdown,
        )
        self.first_connection_attempt = False
        self.broker_connection_retry_attempt = 0
        self._hand_over_again()
        return conn

    def start(self) -> None:
        # Celery reconnects when the consumer fails with one of the transport's connection errors; anything
        # else ends the worker. kombu 5.x on Redis can fail with AttributeError instead ('NoneType' object
        # has no attribute 'hostname') when a channel reaches for the transport it has just dropped: reading
        # from the dead socket, or acknowledging a message from the old connection after reconnecting. Seen
        # ending workers in `make bench`'s Redis restarts. The broker is gone either way: reconnect.
        while True:
            try:
                super().start()
                return
            except AttributeError as exc:
                if self.blueprint.state in STOP_CONDITIONS or not _lost_transport(exc):
                    raise
                log.warning("Broker connection lost inside kombu (%s); reconnecting.", exc)
                log.debug("Where kombu failed:", exc_info=exc)
                self._drop_connection()

    def _drop_connection(self) -> None:
        """What Celery does after a connection error, minus talking to the broker (the sockets are dead)."""
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.collect()  # forget the sockets without closing them: nothing to say goodbye to
        for step in (self.on_close, self._cancel_connection_timer_entries):  # type: ignore[attr-defined]
            try:
                step()
            except Exception:  # half-stopped steps are started afresh by the next blueprint.start
                log.debug("Cleaning up after a lost broker connection failed.", exc_info=True)
        # blueprint.restart(self), step by step: with the connection gone, the steps that hold consumers on it
        # (gossip, the task consumer) fail to cancel them, which Celery would log as an ERROR on every Redis
        # restart ("Error on restarting Gossip"). Expected here, so debug; the next start makes them afresh.
        for bootstep in reversed(self.steps):  # type: ignore[attr-defined]
            stop = getattr(bootstep, "stop", None) if bootstep else None
            if stop is not None:
                try:
                    stop(self)
                except Exception:
                    log.debug(
                        "Stopping %s after a lost broker connection failed.", bootstep.alias, exc_info=True
                    )

    def _hand_over_again(self) -> None:
        """Whatever ETA tasks this worker held died with its process or its connection: have the reminders
        handed over again at once (incidents.services.reminders.reset_hand_overs) rather than waiting for
        the sweep to fire them late."""
        try:
            from incidents.services.reminders import reset_hand_overs

            reset_hand_overs()
        except Exception:  # PostgreSQL away: the beat sweep still fires everything, later
            log.warning("Could not re-hand-over reminders after connecting; the sweep will catch up.")
        for attempt in range(2):
            try:
                self.app.send_task("incidents.tasks.sweep_reminders_task")
                return
            except Exception:
                # A pooled producer connection broken by the outage can fail every publish (kombu raises
                # AttributeError on its closed transport): drop the pool and publish once more.
                self.app.pool.force_close_all()  # type: ignore[attr-defined]
                if attempt:
                    log.warning("Could not start a sweep after connecting; beat's next one will.")


def _lost_transport(exc: AttributeError) -> bool:
    """kombu's AttributeError on a transport it already dropped: about None, raised inside kombu."""
    frames = traceback.extract_tb(exc.__traceback__)
    return (
        "'NoneType' object" in str(exc) and bool(frames) and f"{os.sep}kombu{os.sep}" in frames[-1].filename
    )


app = Celery("warroom")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.worker_consumer = "warroom.celery:QuickReconnectConsumer"

# The beat schedule lives in code (settings.CELERY_BEAT_SCHEDULE), not in a database table: beat restarts must
# not reset or duplicate it.
