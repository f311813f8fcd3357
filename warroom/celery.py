from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from celery.worker.consumer import Consumer
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
            self.app.conf.broker_connection_max_retries,
            interval_start=0.5,
            interval_step=0.5,
            interval_max=1,
            callback=maybe_shutdown,
        )
        self.first_connection_attempt = False
        self.broker_connection_retry_attempt = 0
        self._hand_over_again()
        return conn

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError:
            # kombu 5.x: closing a Redis channel whose connection just died can raise AttributeError
            # ('NoneType' object has no attribute 'hostname') instead of a connection error, and Celery then
            # treats it as unrecoverable and the worker exits. The connection is gone either way: carry on
            # and reconnect (seen in `make bench`'s Redis-restart phase).
            self.connection = None
            log.warning("Broker connection lost; closing it failed inside kombu, reconnecting anyway.")

    def _hand_over_again(self) -> None:
        """Whatever ETA tasks this worker held died with its process or its connection: have the reminders
        handed over again at once (incidents.services.deadlines.reset_hand_overs) rather than waiting for
        the sweep to fire them late."""
        try:
            from incidents.services.deadlines import reset_hand_overs

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


app = Celery("warroom")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.worker_consumer = "warroom.celery:QuickReconnectConsumer"

# The beat schedule lives in code (settings.CELERY_BEAT_SCHEDULE), not in a database table: beat restarts must
# not reset or duplicate it.
