"""The spike detector on constructed series: a quiet Monday raises nothing, a 5x hour raises one alert (and
the crisis managers hear of it), low volumes need real numbers, the same hour of the week survives a DST
change, a new watch starts from the last days, and a turn in tone alerts on its own."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from incidents.listening.models import AlertKind, AlertState, MentionRollup, SpikeAlert, Watch
from incidents.listening.services.alerts import alert_dismiss
from incidents.listening.spikes import binomial_tail, check_watch, evaluate, poisson_upper, volume_verdict
from incidents.models import Notification, OrgRole
from tests.factories import UserFactory
from tests.factories_listening import make_watch

pytestmark = pytest.mark.django_db

# --- the statistics alone ---------------------------------------------------------------------------------


def test_poisson_and_binomial_tails():
    assert poisson_upper(0.5) == 5  # P(X ≥ 5 | λ = 0.5) ≈ 1.7e-4 ≤ 1e-3 < P(X ≥ 4) ≈ 1.8e-3
    assert poisson_upper(10) == 22
    assert math.isclose(binomial_tail(3, 3, 0.5), 0.125)
    assert binomial_tail(0, 10, 0.2) == 1.0
    assert binomial_tail(42, 60, 0.2) < 1e-12


def test_a_normal_hour_does_not_fire_and_five_times_it_does():
    history = [8, 10, 7, 9, 11, 8]  # the same Monday 09:00 hour, six weeks back
    assert not volume_verdict(10, history, min_volume=10).fired
    assert not volume_verdict(16, history, min_volume=10).fired
    assert volume_verdict(45, history, min_volume=10).fired  # 5 x the usual: at once


def test_a_borderline_hour_needs_a_second_breach():
    history = [2, 3, 1, 2, 4, 3]  # a quiet watch: the statistical line is above three times the usual
    once = volume_verdict(10, history, min_volume=10, previous=8)
    assert once.threshold <= 10 < once.strict_threshold
    assert not once.fired  # ordinary noise crosses the line now and then, for one evaluation
    assert volume_verdict(10, history, min_volume=10, previous=10).fired  # still over it five minutes on


def test_low_volumes_need_real_numbers():
    assert volume_verdict(9, [0, 0, 0, 0, 0, 0], min_volume=10).threshold == 10
    assert not volume_verdict(6, [0, 1, 0, 0, 1, 0], min_volume=10).fired
    assert volume_verdict(12, [0, 1, 0, 0, 1, 0], min_volume=10).fired


# --- over rollups -------------------------------------------------------------------------------------------

MONDAY = datetime(2026, 11, 30, tzinfo=UTC)  # a Monday


def rate(at: datetime) -> float:
    """A brand's ordinary week: busy afternoons, quiet nights, quieter weekends (mentions per 5 minutes)."""
    hour = at.hour + at.minute / 60
    day = 0.6 if at.weekday() >= 5 else 1.0
    return day * (0.2 + 1.2 * max(0.0, 1 - abs(hour - 14) / 8))


def poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def fill(
    watch: Watch, start: datetime, end: datetime, *, seed: int = 7, extra: dict[datetime, int] | None = None
) -> None:
    rng = random.Random(seed)
    rows, at = [], start
    while at < end:
        n = poisson(rng, rate(at)) + (extra or {}).get(at, 0)
        if n:
            rows.append(MentionRollup(watch=watch, bucket=at, total=n, neutral=n, by_model=n))
        at += timedelta(minutes=5)
    MentionRollup.objects.bulk_create(rows)


@pytest.fixture
def managers(db):
    return [UserFactory.create(org_role=OrgRole.CRISIS_MANAGER) for _n in range(2)]


def test_a_quiet_monday_raises_nothing_and_a_5x_hour_raises_one_alert(managers):
    watch = make_watch("Northwind")
    spike_start = MONDAY + timedelta(hours=15)
    # Five times the usual 15:00-16:00 volume, spread over the hour.
    usual = sum(rate(spike_start + timedelta(minutes=5 * i)) for i in range(12))
    extra = {spike_start + timedelta(minutes=5 * i): round(4 * usual / 12) for i in range(12)}
    fill(watch, MONDAY - timedelta(weeks=6), MONDAY + timedelta(days=1), extra=extra)
    for hour in range(15):  # every hour of the ordinary morning and early afternoon
        assert check_watch(watch, now=MONDAY + timedelta(hours=hour, minutes=59)) == [], hour
    alerts = check_watch(watch, now=spike_start + timedelta(minutes=59))
    assert [a.kind for a in alerts] == [AlertKind.VOLUME]
    alert = alerts[0]
    assert alert.observed >= 4 * alert.expected
    assert alert.state == AlertState.OPEN
    for person in managers:  # the bell (and an e-mail) for every crisis manager, once
        assert Notification.objects.filter(recipient=person, key=f"spike:{alert.pk}").count() == 1
    # Still spiking a few minutes later: the open alert covers it, nothing new.
    assert check_watch(watch, now=spike_start + timedelta(minutes=64)) == []
    alert_dismiss(alert=alert, actor=managers[0], reason="Our own launch livestream")
    assert check_watch(watch, now=spike_start + timedelta(minutes=69)) == []  # an hour's cool-down
    assert SpikeAlert.objects.count() == 1


def test_the_same_hour_of_the_week_across_a_dst_change(settings):
    settings.TIME_ZONE = "Europe/Warsaw"
    zone = ZoneInfo("Europe/Warsaw")
    watch = make_watch("Northwind")
    # Every day 30 mentions in the 09:00 hour local time, 1 in every other hour; DST ended on 25 Oct 2026.
    rows, day = [], datetime(2026, 9, 14, tzinfo=zone)
    while day < datetime(2026, 11, 3, tzinfo=zone):
        for hour in range(24):
            local = day.replace(hour=hour)
            bucket = local.astimezone(UTC)
            rows.append(MentionRollup(watch=watch, bucket=bucket, total=30 if hour == 9 else 1, neutral=1))
        day += timedelta(days=1)
    MentionRollup.objects.bulk_create(rows)
    # Monday 2 Nov, 09:55 local, a week after the change: 09:00 local a week ago was another UTC hour.
    result = evaluate(watch, now=datetime(2026, 11, 2, 9, 55, tzinfo=zone))
    assert result.volume.observed == 30
    assert result.volume.expected == 30
    assert not result.volume.fired
    assert not result.cold_start


def test_a_new_watch_compares_with_the_last_days():
    watch = make_watch("Northwind")
    now = MONDAY + timedelta(hours=12, minutes=58)
    fill(watch, MONDAY - timedelta(days=4), MONDAY + timedelta(hours=12))
    result = evaluate(watch, now=now)
    assert result.cold_start
    assert not result.volume.fired
    MentionRollup.objects.create(
        watch=watch, bucket=MONDAY + timedelta(hours=12, minutes=30), total=60, neutral=60
    )
    assert evaluate(watch, now=now).volume.fired


def test_a_turn_in_tone_alerts_when_the_volume_is_ordinary(managers):
    watch = make_watch("Northwind", negative_share=0.5)
    now = MONDAY + timedelta(hours=10, minutes=58)
    rows = []
    for days in range(1, 4):  # the same hour on the last three days: 60 mentions, 12 negative
        start = now.replace(minute=0) - timedelta(days=days)
        rows += [
            MentionRollup(
                watch=watch, bucket=start + timedelta(minutes=5 * i), total=5, negative=1, neutral=4
            )
            for i in range(12)
        ]
    start = now.replace(minute=0)
    rows += [
        MentionRollup(watch=watch, bucket=start + timedelta(minutes=5 * i), total=5, negative=4, neutral=1)
        for i in range(12)
    ]
    MentionRollup.objects.bulk_create(rows)
    alerts = check_watch(watch, now=now)
    assert [a.kind for a in alerts] == [AlertKind.NEGATIVE]
    assert (alerts[0].negative, alerts[0].scored) == (48, 60)
    assert alerts[0].baseline_share == pytest.approx(0.2)
    assert "Negative spike" in Notification.objects.filter(key=f"spike:{alerts[0].pk}").first().text  # type: ignore[union-attr]
