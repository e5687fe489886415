"""The periodic deadline job: reminders before follow-up deadlines, escalations after.

Its only memory is the delivery queue: an alert's delivery id is derived from the assignment and
the alert's kind, so a restart, a second instance or a second tick never sends it twice. The
clock is injected, so tests (and a replay) decide what "today" is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from services.notifier.domain.deadlines import alert_due
from services.notifier.domain.messages import Deadline
from services.notifier.domain.plan import plan_deadline_alert
from services.notifier.domain.privacy import agency_view
from services.notifier.repository import NotifierRepository
from shared.agencies import TRIAGE_AGENCY
from shared.runtime import every
from shared.working_days import add_working_days, local_date

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DeadlineJob:
    def __init__(
        self,
        pool: asyncpg.Pool,
        inbox_url: Callable[[str], str],
        *,
        clock: Clock = _utc_now,
        interval_s: float = 300.0,
    ) -> None:
        self._pool = pool
        self._inbox_url = inbox_url
        self._clock = clock
        self._interval_s = interval_s

    async def run(self) -> None:
        await every(self._interval_s, self.tick, "deadline job")

    async def tick(self) -> int:
        """Queue every alert due today that is not queued yet; returns how many were queued."""
        today = local_date(self._clock())
        horizon = add_working_days(today, 1)
        queued = 0
        async with self._pool.acquire() as connection, connection.transaction():
            repository = NotifierRepository(connection)
            admin = await repository.contacts(TRIAGE_AGENCY)  # the admin koordinator team
            admin_emails = admin.emails if admin else ()
            for row in await repository.awaiting_follow_up(due_by=horizon):
                alert = alert_due(row.status, row.followup_due, today)
                contacts = await repository.contacts(row.agency_code)
                complaint = await repository.complaint(row.complaint_id)
                if alert is None or contacts is None or complaint is None:
                    continue
                notice = Deadline(
                    view=agency_view(complaint),
                    agency_code=row.agency_code,
                    agency_name=contacts.name,
                    followup_due=row.followup_due,
                    inbox_url=self._inbox_url(row.tracking_number),
                )
                planned = plan_deadline_alert(
                    alert,
                    routed_event_id=row.routed_event_id,
                    notice=notice,
                    contacts=contacts,
                    admin_emails=admin_emails,
                )
                queued += await repository.enqueue_deliveries(
                    [planned],
                    complaint_id=row.complaint_id,
                    tracking_number=row.tracking_number,
                    cause_event_id=row.routed_event_id,
                    correlation_id=row.correlation_id,
                )
        return queued
