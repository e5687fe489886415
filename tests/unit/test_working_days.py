"""Working-day deadlines in WITA with Indonesian holidays and collective leave."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.working_days import add_working_days, due_dates, is_working_day, local_date


def test_weekends_are_not_working_days() -> None:
    assert is_working_day(date(2026, 11, 27))  # Friday
    assert not is_working_day(date(2026, 11, 28))  # Saturday
    assert not is_working_day(date(2026, 11, 29))  # Sunday


def test_public_holidays_and_collective_leave_are_not_working_days() -> None:
    assert not is_working_day(date(2026, 8, 17))  # Hari Kemerdekaan (Monday)
    assert not is_working_day(date(2026, 12, 24))  # cuti bersama Natal (Thursday)
    assert not is_working_day(date(2026, 12, 25))  # Natal


def test_the_day_is_counted_in_wita_not_utc() -> None:
    # 16:30 UTC on Friday is already 00:30 Saturday in Banjarmasin.
    assert local_date(datetime(2026, 11, 27, 16, 30, tzinfo=UTC)) == date(2026, 11, 28)


def test_counting_skips_the_start_day_and_days_off() -> None:
    # Wednesday 23 Dec 2026: 24 (cuti bersama), 25 (Natal), 26-27 weekend are skipped.
    assert add_working_days(date(2026, 12, 23), 1) == date(2026, 12, 28)
    assert add_working_days(date(2026, 11, 27), 3) == date(2026, 12, 2)


def test_due_dates_follow_the_lapor_rules() -> None:
    disposition, followup = due_dates(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))  # Fri 10:00 WITA
    assert disposition == date(2026, 12, 2)  # 3 working days: Mon, Tue, Wed
    assert followup == date(2026, 12, 9)  # 5 more: Thu, Fri, Mon, Tue, Wed


def test_a_deadline_is_at_least_one_day_away() -> None:
    with pytest.raises(ValueError, match="at least one"):
        add_working_days(date(2026, 11, 27), 0)
