"""Spike detection over the rollups (never the mentions table).

The detector (listening-and-publishing.md §6, "recipe"): the last hour of a watch (12 five-minute buckets up
to now) against the same hour of the week over the previous six weeks, in the organisation's time zone (so
a DST change does not shift "the same hour"):

    m = median, s = 1.4826 · MAD, b = max(m, 0.5)
    alert when x ≥ max(m + 4s, PoissonUpper(b, alpha = 1e-3), 3b, minimum volume)

The Poisson and minimum-volume terms guard low volumes, where the MAD is 0. The note's recipe has 2b; at 2b a
seeded ordinary week here rang the bell on a statistically unusual but harmless afternoon hour (28 against a
usual 14), so a crisis alert needs three times the usual volume. An hour over the line at
alpha / 10 alerts at once (a real storm does, within seconds of the mention that crossed it); one only over
the line at alpha alerts when the hour ending five minutes earlier was over it too (two breaches in a row),
which keeps ordinary noise from ringing bells. With less than three weeks of
history (a new watch), the baseline is the same hour on each of the previous three days instead; windows
before the watch's first mention are not counted as quiet. Negative share: at least 20 scored mentions in
the hour, a share at or above the watch's threshold, and a binomial tail P(X ≥ negatives | scored,
baseline share) ≤ 1e-3. One open alert per watch and kind; after an alert, the same kind waits an hour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from incidents.listening import live
from incidents.listening.ingest import bucket_of
from incidents.listening.models import AlertKind, AlertState, Mention, SpikeAlert, Watch

ALPHA = 1e-3
WINDOW = timedelta(hours=1)
WEEKS = 6
COLD_START_WEEKS = 3
COLD_START_DAYS = 3
MIN_SCORED = 20
DEFAULT_NEGATIVE_SHARE = 0.2
COOL_DOWN = timedelta(hours=1)
MIN_RATIO = 3.0
TOP_MENTIONS = 5


# --- the statistics (pure functions; tests feed them constructed series) ----------------------------------------


def poisson_upper(rate: float, alpha: float = ALPHA) -> int:
    """The smallest k with P(X ≥ k) ≤ alpha for X ~ Poisson(rate)."""
    term = math.exp(-rate)
    cdf, k = term, 0
    while 1 - cdf > alpha and k < 100_000:
        k += 1
        term *= rate / k
        cdf += term
    return k + 1


def binomial_tail(successes: int, trials: int, p: float) -> float:
    """P(X ≥ successes) for X ~ Binomial(trials, p), summed in log space (trials may be thousands)."""
    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for k in range(successes, trials + 1):
        log_term = (
            math.lgamma(trials + 1)
            - math.lgamma(k + 1)
            - math.lgamma(trials - k + 1)
            + k * log_p
            + (trials - k) * log_q
        )
        total += math.exp(log_term)
    return min(total, 1.0)


@dataclass(frozen=True)
class VolumeVerdict:
    observed: int
    expected: float
    threshold: float
    strict_threshold: float = 0.0
    previous: int | None = None  # the hour ending five minutes earlier

    @property
    def fired(self) -> bool:
        if self.observed >= max(self.strict_threshold, self.threshold):
            return True
        return (
            self.observed >= self.threshold and self.previous is not None and self.previous >= self.threshold
        )


def volume_verdict(
    observed: int,
    history: Sequence[int],
    *,
    min_volume: int,
    alpha: float = ALPHA,
    previous: int | None = None,
) -> VolumeVerdict:
    m = float(median(history)) if history else 0.0
    spread = 1.4826 * float(median([abs(x - m) for x in history])) if history else 0.0
    base = max(m, 0.5)

    def line(a: float) -> float:
        return max(m + 4 * spread, float(poisson_upper(base, a)), MIN_RATIO * base, float(min_volume))

    return VolumeVerdict(
        observed=observed,
        expected=m,
        threshold=line(alpha),
        strict_threshold=line(alpha / 10),
        previous=previous,
    )


@dataclass(frozen=True)
class ShareVerdict:
    negative: int
    scored: int
    baseline_share: float
    fired: bool


def negative_verdict(
    negative: int, scored: int, *, baseline_share: float | None, share_threshold: float, alpha: float = ALPHA
) -> ShareVerdict:
    p0 = min(max(baseline_share if baseline_share is not None else DEFAULT_NEGATIVE_SHARE, 0.05), 0.95)
    fired = (
        scored >= MIN_SCORED
        and negative / scored >= share_threshold
        and binomial_tail(negative, scored, p0) <= alpha
    )
    return ShareVerdict(negative=negative, scored=scored, baseline_share=p0, fired=fired)


# --- windows --------------------------------------------------------------------------------------------------


def current_window(now: datetime) -> tuple[datetime, datetime]:
    """The last hour as whole buckets: the current (partial) bucket and the eleven before it."""
    end = bucket_of(now) + timedelta(minutes=5)
    return end - WINDOW, end


def baseline_windows(start: datetime, first_bucket: datetime | None) -> tuple[list[datetime], bool]:
    """Start times of the comparison windows, in wall-clock time of the organisation's zone (a week before
    09:00 local is 09:00 local, across a DST change). Returns (starts, cold start?)."""
    zone = ZoneInfo(settings.TIME_ZONE)
    local = start.astimezone(zone)
    cold = first_bucket is None or first_bucket > start - timedelta(weeks=COLD_START_WEEKS)
    step, count = (timedelta(days=1), COLD_START_DAYS) if cold else (timedelta(weeks=1), WEEKS)
    starts = [(local - step * k).astimezone(UTC) for k in range(1, count + 1)]
    # Windows before the watch saw anything are unknown, not quiet.
    return [s for s in starts if first_bucket is not None and s + WINDOW > first_bucket], cold


_SUMS_SQL = """
SELECT w.k, coalesce(sum(r.total), 0), coalesce(sum(r.negative), 0),
    coalesce(sum(r.negative + r.neutral + r.positive), 0)
FROM unnest(%s::int[], %s::timestamptz[]) AS w(k, s)
LEFT JOIN listening_mentionrollup r ON r.watch_id = %s AND r.bucket >= w.s AND r.bucket < w.s + interval '1 hour'
GROUP BY w.k ORDER BY w.k
"""


@dataclass(frozen=True)
class WindowSums:
    total: int
    negative: int
    scored: int


def window_sums(watch_id: int, starts: Sequence[datetime]) -> list[WindowSums]:
    with connection.cursor() as cursor:
        cursor.execute(_SUMS_SQL, [list(range(len(starts))), list(starts), watch_id])
        return [WindowSums(int(t), int(n), int(s)) for _k, t, n, s in cursor.fetchall()]


def first_bucket(watch_id: int) -> datetime | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(bucket) FROM listening_mentionrollup WHERE watch_id = %s", [watch_id])
        row = cursor.fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class Evaluation:
    window_start: datetime
    window_end: datetime
    volume: VolumeVerdict
    share: ShareVerdict
    cold_start: bool


def evaluate(watch: Watch, *, now: datetime | None = None) -> Evaluation:
    """Read the watch's rollups for the last hour and its comparison windows (two queries)."""
    start, end = current_window(now or timezone.now())
    starts, cold = baseline_windows(start, first_bucket(watch.pk))
    sums = window_sums(watch.pk, [start, start - timedelta(minutes=5), *starts])
    current, previous, history = sums[0], sums[1], sums[2:]
    scored_history = sum(h.scored for h in history)
    baseline_share = (
        sum(h.negative for h in history) / scored_history if scored_history >= MIN_SCORED else None
    )
    return Evaluation(
        window_start=start,
        window_end=end,
        volume=volume_verdict(
            current.total, [h.total for h in history], min_volume=watch.min_volume, previous=previous.total
        ),
        share=negative_verdict(
            current.negative,
            current.scored,
            baseline_share=baseline_share,
            share_threshold=watch.negative_share,
        ),
        cold_start=cold,
    )


# --- alerts ---------------------------------------------------------------------------------------------------


def check_watch(watch: Watch, *, now: datetime | None = None) -> list[SpikeAlert]:
    """Evaluate one watch and open the alerts it calls for (each notified in the same transaction)."""
    now = now or timezone.now()
    result = evaluate(watch, now=now)
    # One alert per spike: a volume alert already says how negative the hour is; a negative-share alert is
    # for the hour whose volume is ordinary but whose tone turned.
    fired = [AlertKind.VOLUME] if result.volume.fired else [AlertKind.NEGATIVE] if result.share.fired else []
    created = []
    for kind in fired:
        alert = _open_alert(watch, kind, result, now)
        if alert is not None:
            created.append(alert)
    return created


def _open_alert(watch: Watch, kind: str, result: Evaluation, now: datetime) -> SpikeAlert | None:
    from incidents.listening.services.alerts import deliver_alert

    with transaction.atomic():
        # Checks of one watch run one at a time (a burst of ingests kicks several).
        locked = Watch.objects.select_for_update(of=("self",)).select_related("incident").get(pk=watch.pk)
        recent = SpikeAlert.objects.filter(watch=locked, kind=kind).filter(
            created_at__gte=now - COOL_DOWN
        ) | SpikeAlert.objects.filter(watch=locked, kind=kind, state=AlertState.OPEN)
        if recent.exists():
            return None
        alert = SpikeAlert(
            watch=locked,
            kind=kind,
            window_start=result.window_start,
            window_end=result.window_end,
            observed=result.volume.observed,
            expected=result.volume.expected,
            threshold=result.volume.threshold,
            negative=result.share.negative,
            scored=result.share.scored,
            baseline_share=result.share.baseline_share,
            top_mentions=top_mentions(locked, result.window_start, result.window_end),
            is_drill=bool(locked.incident and locked.incident.is_drill),
            created_at=now,
        )
        try:
            with transaction.atomic():
                alert.save()
        except IntegrityError:  # another check opened it a moment ago
            return None
        deliver_alert(alert)
        live.changed(
            region="alerts", watch_ids=[locked.pk], alert_id=alert.pk, incident_id=locked.incident_id
        )
    return alert


def top_mentions(watch: Watch, start: datetime, end: datetime, limit: int = TOP_MENTIONS) -> list[int]:
    """The loudest mentions of the window: highest reach first, negative before others at equal reach."""
    mentions = Mention.objects.filter(published_at__gte=start, published_at__lt=end, is_hidden=False)
    if watch.incident_id:
        mentions = mentions.filter(incident_id=watch.incident_id, incident_watch=watch)
    else:
        mentions = mentions.filter(watch_ids__contains=[watch.pk])
    # The window holds at most a few thousand rows (one hour of one watch), read through its index.
    return list(mentions.order_by("-author_reach", "-published_at").values_list("id", flat=True)[:limit])


def check_watches(watch_ids: Sequence[int] | None = None, *, now: datetime | None = None) -> int:
    """Evaluate the given watches (or every active one); returns how many alerts were opened."""
    watches = Watch.objects.filter(is_active=True)
    if watch_ids is not None:
        watches = watches.filter(pk__in=watch_ids)
    opened = 0
    for watch in watches.select_related("incident"):
        if watch.incident is not None and not watch.incident.is_open:
            continue
        opened += len(check_watch(watch, now=now))
    return opened
