"""The demo's clock: its incidents are played through the real services at the moments of their own story.

`incidents/demo.py` describes what happened and when (a year of past incidents, drills and the crises going on
now); this module runs those steps in time order with the process clock moved to each moment (time-machine),
so every row the services write — timeline entries and their rendered fragments, status changes, statements,
approvals, publications, deadlines, reviews — carries the time of its own story, not the time of seeding. On
the way, the reminders and drill injects that fall due fire through the real sweeps at their due times, so the
record shows the deadlines that were missed and the reminders that said so, exactly as it would have.

Demo data only, run by `manage.py seed_demo` in a process of its own: real records are never back-dated.
time-machine is a development dependency (`make install` installs it); production images do not seed demo data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone


@dataclass(order=True)
class Step:
    """One thing that happens in a demo story, at its moment. `order` keeps a story's own steps in sequence
    when two fall on the same moment."""

    at: datetime
    order: int
    label: str = field(compare=False)
    run: Callable[[], Any] = field(compare=False, repr=False)


class DemoClock:
    """Moves the process clock through the story; fires what falls due on the way (reminders, injects)."""

    def __init__(self, traveller: Any) -> None:
        self._traveller = traveller
        self.now: datetime | None = None
        self.fired = 0

    def advance(self, moment: datetime) -> None:
        """Go to `moment`, firing every reminder and drill inject due before it at its own due time."""
        if moment == self.now:
            return  # several steps at one moment: whatever falls due now fires before the next moment
        while True:
            due = _next_due(moment)
            if due is None:
                break
            self._move(max(due, self.now) if self.now else due)
            self.fired += _sweep()
        self._move(moment)

    def _move(self, moment: datetime) -> None:
        self._traveller.move_to(moment)
        self.now = moment

    def play(self, steps: list[Step]) -> None:
        for step in sorted(steps):
            self.advance(step.at)
            try:
                step.run()
            except Exception as exc:  # say which step of which story, or a failed seed is a puzzle
                raise RuntimeError(f"Demo step failed at {step.at:%Y-%m-%d %H:%M} UTC: {step.label}") from exc


def _next_due(before: datetime) -> datetime | None:
    """The earliest pending reminder or unposted inject due by `before` (one round trip: this runs between
    every two steps of the story)."""
    from incidents.models import Reminder, ReminderState
    from incidents.playbooks.models import DrillInject

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT LEAST((SELECT min(due_at) FROM {Reminder._meta.db_table} WHERE state = %s AND due_at <= %s),"
            f" (SELECT min(due_at) FROM {DrillInject._meta.db_table} WHERE posted_at IS NULL AND due_at <= %s))",
            [ReminderState.PENDING, before, before],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _sweep() -> int:
    from incidents.playbooks.services import inject_sweep
    from incidents.services.reminders import sweep_reminders

    now = timezone.now()
    return inject_sweep(now=now) + sweep_reminders(now=now, enqueue=False).fired


@contextmanager
def demo_clock(start: datetime) -> Iterator[DemoClock]:
    """A clock standing still at `start` until moved (so two rows written by one step share a moment).

    Reminders are fired here by the sweep, never handed to Celery: the hand-over would queue ETA tasks for
    moments long gone."""
    try:
        import time_machine
    except ImportError as exc:  # pragma: no cover - make install always installs the dev group
        raise RuntimeError(
            "Seeding the demo needs the development dependencies (time-machine): run `make install`."
        ) from exc
    with (
        override_settings(REMINDER_ETA_HORIZON_SECONDS=0),
        time_machine.travel(start, tick=False) as traveller,
    ):
        clock = DemoClock(traveller)
        clock.now = start
        yield clock


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
