"""When an assignment's follow-up deadline calls for a reminder or an escalation.

SP4N-LAPOR! gives an agency 5 working days to follow up. The agency is reminded from the
working day before the deadline, and its head and the Diskominfo admin are told from the first
working day after it (days in WITA, holidays and cuti bersama excluded). Only assignments not yet
followed up count; each alert goes once (its delivery id is derived from the assignment).
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from shared.events import ComplaintStatus
from shared.working_days import add_working_days, is_working_day

AWAITING_FOLLOW_UP = frozenset({ComplaintStatus.ROUTED, ComplaintStatus.ACKNOWLEDGED})


class DeadlineAlert(StrEnum):
    REMINDER = "reminder"
    ESCALATION = "escalation"


def previous_working_day(day: date) -> date:
    day -= timedelta(days=1)
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def alert_due(status: ComplaintStatus, followup_due: date, today: date) -> DeadlineAlert | None:
    """The alert an assignment calls for today; an escalation supersedes a missed reminder."""
    if status not in AWAITING_FOLLOW_UP:
        return None
    if today >= add_working_days(followup_due, 1):
        return DeadlineAlert.ESCALATION
    if today >= previous_working_day(followup_due):
        return DeadlineAlert.REMINDER
    return None
