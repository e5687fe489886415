"""The simulator's fault decisions: outage schedules, token bucket, and the injector's order."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from services.sync.simulator.faults import (
    AmbiguousCreates,
    DailyOutage,
    Down,
    FaultInjector,
    FaultPlan,
    Latency,
    Outage,
    OutageMode,
    OutageWindow,
    Proceed,
    RandomOutages,
    RateLimit,
    RateLimited,
    ServerError,
    TokenBucket,
)

WITA = timedelta(hours=8)


def at(hour: int, minute: int = 0, day: int = 28) -> datetime:
    """A UTC instant given as Kalsel local time (WITA, UTC+8)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - WITA


def test_daily_outage_covers_its_local_window_only() -> None:
    daily = DailyOutage(start=time(1, 0), duration=timedelta(hours=1, minutes=30))
    assert not daily.covers(at(0, 59))
    assert daily.covers(at(1, 0))
    assert daily.covers(at(2, 29))
    assert not daily.covers(at(2, 30))
    assert daily.covers(at(1, 15, day=29))  # every day


def test_daily_outage_runs_past_midnight() -> None:
    daily = DailyOutage(start=time(23, 0), duration=timedelta(hours=2))
    assert daily.covers(at(23, 30))
    assert daily.covers(at(0, 30, day=29))
    assert not daily.covers(at(1, 0, day=29))


def test_outage_window_spans_days_and_must_end_after_it_starts() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    window = OutageWindow(start=start, end=start + timedelta(days=3), mode=OutageMode.HANG)
    assert window.covers(start + timedelta(days=2, hours=23))
    assert not window.covers(start + timedelta(days=3))
    with pytest.raises(ValidationError):
        OutageWindow(start=start, end=start)


def test_random_outages_are_reproducible_from_the_seed_and_near_the_asked_rate() -> None:
    outages = RandomOutages(per_day=2, mean_duration=timedelta(minutes=30))
    days = range(9000, 9200)
    first = [list(outages.windows_of_day(seed=7, day=day)) for day in days]
    assert first == [list(outages.windows_of_day(seed=7, day=day)) for day in days]
    assert first != [list(outages.windows_of_day(seed=8, day=day)) for day in days]
    per_day = sum(map(len, first)) / len(days)
    assert 1.6 < per_day < 2.4
    start, end = next(window for windows in first for window in windows)
    assert outages.covers(start, seed=7)
    assert outages.covers(start + (end - start) / 2, seed=7)


def test_random_outage_that_started_yesterday_still_counts_today() -> None:
    outages = RandomOutages(
        per_day=1, mean_duration=timedelta(days=5), max_duration=timedelta(days=2)
    )
    crossing = next(
        (start, end)
        for day in range(9000, 9100)
        for start, end in outages.windows_of_day(seed=1, day=day)
        if end.date() > start.date()
    )
    after_midnight = datetime.combine(crossing[1].date(), time(0), tzinfo=UTC)
    assert outages.covers(after_midnight, seed=1)


def test_plan_reports_the_outage_in_force() -> None:
    daily = DailyOutage(start=time(1, 0), duration=timedelta(hours=1), mode=OutageMode.REFUSE)
    plan = FaultPlan(daily=(daily,))
    assert plan.outage_at(at(1, 30)) == daily
    assert plan.outage_at(at(3, 0)) is None
    manual = Outage(mode=OutageMode.UNAVAILABLE, status=502)
    assert FaultPlan(outage=manual).outage_at(at(3, 0)) == manual


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2, burst=3, now=0)
    assert [bucket.take(0) for _ in range(3)] == [0, 0, 0]
    assert bucket.take(0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0
    assert bucket.take(0.5) == pytest.approx(0.5)
    assert [bucket.take(100) for _ in range(4)][-1] > 0  # never more than the burst saved up


def test_injector_checks_outage_before_rate_limit_before_errors() -> None:
    down = FaultPlan(outage=Outage(), rate_limit=RateLimit(rate_per_second=1), error_probability=1)
    assert isinstance(FaultInjector(down, 0).verdict(at(3), 0, is_create=False), Down)
    limited = FaultPlan(rate_limit=RateLimit(rate_per_second=1), error_probability=1)
    injector = FaultInjector(limited, 0)
    assert injector.verdict(at(3), 0, is_create=False) == ServerError()
    assert injector.verdict(at(3), 0, is_create=False) == RateLimited(1.0)


def test_injector_makes_the_next_creates_ambiguous_but_not_reads() -> None:
    plan = FaultPlan(ambiguous_creates=AmbiguousCreates(mode="hang", next_count=2))
    injector = FaultInjector(plan, 0)
    assert injector.verdict(at(3), 0, is_create=False) == Proceed()
    verdicts = [injector.verdict(at(3), 0, is_create=True) for _ in range(3)]
    assert verdicts == [Proceed(after_create="hang")] * 2 + [Proceed()]


def test_injector_is_reproducible_from_the_seed() -> None:
    plan = FaultPlan(
        seed=42,
        error_probability=0.3,
        latency=Latency(min_seconds=0.1, max_seconds=0.5),
        ambiguous_creates=AmbiguousCreates(probability=0.2),
    )

    def run() -> list[object]:
        injector = FaultInjector(plan, 0)
        return [injector.verdict(at(3), 0, is_create=n % 2 == 0) for n in range(200)]

    first = run()
    assert first == run()
    errors = sum(v == ServerError() for v in first)
    assert 40 < errors < 80
    delays = [v.delay for v in first if isinstance(v, Proceed)]
    assert all(0.1 <= d <= 0.5 for d in delays)
    assert any(isinstance(v, Proceed) and v.after_create == "drop" for v in first)


def test_plan_from_json_as_settings_and_the_control_endpoint_take_it() -> None:
    plan = FaultPlan.model_validate_json(
        '{"daily": [{"start": "01:00", "duration": "PT1H30M", "mode": "refuse"}],'
        ' "rate_limit": {"rate_per_second": 5, "burst": 10}}'
    )
    assert plan.daily[0].duration == timedelta(minutes=90)
    with pytest.raises(ValidationError):
        FaultPlan.model_validate({"error_probability": 2})
