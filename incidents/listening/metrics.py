"""What listening adds to the post-incident review: peak volume, sentiment before and after each statement,
time from the spike alert to declaration, how much of the queue was answered and how fast, and what was
hidden (and by whom). Computed from rollups, alerts, queue rows and the hide record: a constant number of
queries whatever the incident's size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from django.db import connection

from incidents.listening.charts import BeforeAfter, before_after
from incidents.listening.models import (
    AlertState,
    CloseReason,
    HideState,
    ItemState,
    MentionHide,
    ResponseItem,
    SpikeAlert,
    Watch,
)
from incidents.models import Incident

_PEAKS_SQL = """
SELECT coalesce(max(total), 0), coalesce(sum(total), 0), coalesce(sum(negative), 0),
    coalesce(sum(negative + neutral + positive), 0),
    (SELECT bucket FROM listening_mentionrollup WHERE watch_id = ANY(%(w)s) ORDER BY total DESC, bucket LIMIT 1),
    (SELECT coalesce(max(h.n), 0) FROM (
        SELECT sum(total) AS n FROM listening_mentionrollup WHERE watch_id = ANY(%(w)s)
        GROUP BY date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01')) h)
FROM listening_mentionrollup WHERE watch_id = ANY(%(w)s)
"""


@dataclass(frozen=True)
class ListeningMetrics:
    has_watch: bool
    total: int
    negative: int
    scored: int
    peak_5min: int
    peak_hour: int
    peak_at: datetime | None
    statements: tuple[BeforeAfter, ...]
    alert_to_declared: timedelta | None
    queued: int
    answered: int
    closed: dict[str, int]
    still_open: int
    median_reply_from_post: timedelta | None
    median_reply_from_queue: timedelta | None
    hidden: int
    hide_requests_refused: int

    @property
    def answered_share(self) -> float | None:
        return self.answered / self.queued if self.queued else None

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.scored if self.scored else None


def _median(values: list[timedelta]) -> timedelta | None:
    return median(values) if values else None  # type: ignore[type-var]


def listening_metrics(incident: Incident) -> ListeningMetrics:
    watch_ids = list(Watch.objects.filter(incident=incident).values_list("pk", flat=True))
    total = negative = scored = peak5 = peak_hour = 0
    peak_at = None
    if watch_ids:
        with connection.cursor() as cursor:
            cursor.execute(_PEAKS_SQL, {"w": watch_ids})
            peak5, total, negative, scored, peak_at, peak_hour = cursor.fetchone()
    alert = (
        SpikeAlert.objects.filter(incident=incident, state=AlertState.DECLARED).order_by("created_at").first()
    )
    items = list(
        ResponseItem.objects.filter(incident=incident).values_list(
            "state", "close_reason", "created_at", "replied_at", "mention__published_at"
        )
    )
    replied = [(c, r, p) for s, _reason, c, r, p in items if s == ItemState.REPLIED and r is not None]
    closed = dict.fromkeys(CloseReason.values, 0)
    for state, reason, *_rest in items:
        if state == ItemState.CLOSED and reason in closed:
            closed[reason] += 1
    hides = list(MentionHide.objects.filter(incident=incident, hide=True).values_list("state", flat=True))
    return ListeningMetrics(
        has_watch=bool(watch_ids),
        total=int(total),
        negative=int(negative),
        scored=int(scored),
        peak_5min=int(peak5),
        peak_hour=int(peak_hour),
        peak_at=peak_at,
        statements=tuple(before_after(watch_ids, [incident.pk])),
        alert_to_declared=(incident.declared_at - alert.created_at) if alert is not None else None,
        queued=len(items),
        answered=len(replied),
        closed=closed,
        still_open=sum(1 for s, *_rest in items if s in ResponseItem.OPEN_STATES),
        median_reply_from_post=_median([r - p for _c, r, p in replied]),
        median_reply_from_queue=_median([r - c for c, r, _p in replied]),
        hidden=sum(1 for s in hides if s == HideState.DONE),
        hide_requests_refused=sum(1 for s in hides if s == HideState.REFUSED),
    )
