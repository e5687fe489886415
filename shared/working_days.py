"""Deadlines in working days, as SP4N-LAPOR! counts them for Kalsel's agencies.

Days are counted in Kalsel's own time zone (WITA, UTC+8): a complaint received at 23:30 WITA on a
Friday was received on Friday, even though it is still Friday 15:30 in UTC. Weekends, national
public holidays and the government's collective leave days (cuti bersama, when SKPD offices are
closed) are not working days; the `holidays` library keeps that list maintained.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

WITA = ZoneInfo("Asia/Makassar")

# SP4N-LAPOR! deadlines (see the domain README): verify and dispose within 3 working days, the
# agency follows up within 5 working days of disposition.
DISPOSITION_WORKING_DAYS = 3
FOLLOWUP_WORKING_DAYS = 5


@lru_cache(maxsize=16)
def _days_off(year: int) -> frozenset[date]:
    calendar = holidays.country_holidays("ID", years=year, categories=("public", "government"))
    return frozenset(calendar)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _days_off(day.year)


def local_date(moment: datetime) -> date:
    """The calendar day in Kalsel at that moment."""
    return moment.astimezone(WITA).date()


def local_today() -> date:
    """Today in Kalsel."""
    return datetime.now(WITA).date()


@lru_cache(maxsize=1024)
def add_working_days(start: date, days: int) -> date:
    """The `days`-th working day after `start` (the start day itself never counts)."""
    if days < 1:
        raise ValueError("a deadline is at least one working day away")
    day = start
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def due_dates(received_at: datetime) -> tuple[date, date]:
    """Disposition and agency follow-up due dates for a complaint received at that moment."""
    disposition = add_working_days(local_date(received_at), DISPOSITION_WORKING_DAYS)
    return disposition, add_working_days(disposition, FOLLOWUP_WORKING_DAYS)
