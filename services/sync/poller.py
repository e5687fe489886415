"""National's own changes come back: national admins' actions on lapor-hub's complaints become
`ComplaintStatusChanged` (source `national`), and complaints national disposed to the province
become `ComplaintReceived`."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from prometheus_client import Counter

from services.sync.adapters.lapor_api import ComplaintRecord, tracking_number_in
from services.sync.adapters.national import (
    AmbiguousWriteError,
    NationalUnavailableError,
    RateLimitedError,
    RejectedError,
)
from services.sync.domain.national import (
    actions_by_others,
    disposed_to_province,
    received_from_national,
    status_change,
)
from services.sync.gate import TalksToNational
from services.sync.repository import Mapping, SyncRepository
from shared.db import DATABASE_AWAY

log = logging.getLogger(__name__)

NATIONAL_CHANGES = Counter(
    "lapor_hub_sync_national_changes_total",
    "National admins' actions published as local events, by event type",
    ["event_type"],
)


class Poller(TalksToNational):
    """Reads what changed nationally since its cursor and publishes national admins' actions."""

    async def run(self) -> None:
        while True:
            try:
                await self.poll()
            except (
                NationalUnavailableError,
                AmbiguousWriteError,
                RateLimitedError,
                RejectedError,
            ) as error:
                log.info("polling national: %s", error)
            except DATABASE_AWAY as error:
                log.warning("polling national: database unavailable (%r)", error)
            await asyncio.sleep(self._settings.sync_poll_interval_s)

    async def poll(self) -> int:
        """One pass over everything changed since the cursor; returns events published."""
        async with self._pool.acquire() as connection:
            cursor = await SyncRepository(connection).poll_cursor()
        published = 0
        while True:
            await self._gate.admit()
            page = await self._gate.call(
                "changed_since",
                partial(self._national.changed_since, cursor, self._settings.sync_poll_page),
            )
            async with self._pool.acquire() as connection:
                mappings = await SyncRepository(connection).mappings_of_national(
                    [record.complaint_id for record in page.complaints]
                )
            for record in page.complaints:
                published += await self._apply(record, mappings.get(record.complaint_id))
                cursor = record.updated_at
            async with self._pool.acquire() as connection:
                await SyncRepository(connection).advance_poll_cursor(cursor)
            if page.next_since is None or not page.complaints:
                return published

    async def _apply(self, record: ComplaintRecord, mapping: Mapping | None) -> int:
        """One changed national complaint, with its mapping as read for its page."""
        if mapping is None:
            if tracking_number_in(record.tags) is not None or not disposed_to_province(record):
                return 0  # lapor-hub's own (its mapping is on the way), or not the province's
            return await self._received(record)
        # National's clock against lapor-hub's: a change no later than lapor-hub's last write
        # is taken for lapor-hub's own (LAPOR_HUB_SYNC docs: keep clocks in sync).
        if record.updated_at <= mapping.last_written_at:
            return 0
        await self._gate.admit()
        detailed = await self._gate.call(
            "complaint", partial(self._national.complaint, record.complaint_id)
        )
        actions = actions_by_others(detailed.logs, mapping.national_seen_at)
        institution = detailed.disposition.institution_id if detailed.disposition else None
        async with self._pool.acquire() as connection, connection.transaction():
            repository = SyncRepository(connection)
            for entry in actions:
                change = status_change(
                    detailed,
                    entry,
                    complaint_id=mapping.complaint_id,
                    tracking_number=mapping.tracking_number,
                    correlation_id=mapping.correlation_id,
                )
                await repository.publish(change, self._topic)
                NATIONAL_CHANGES.labels(change.event_type).inc()
            seen_until = max((e.at for e in detailed.logs), default=record.updated_at)
            await repository.seen(mapping.complaint_id, seen_until, institution)
        return len(actions)

    async def _received(self, record: ComplaintRecord) -> int:
        received = received_from_national(record)
        async with self._pool.acquire() as connection, connection.transaction():
            repository = SyncRepository(connection)
            if not await repository.save_mapping(
                complaint_id=received.complaint_id,
                tracking_number=record.tracking_id,
                national_id=record.complaint_id,
                origin="national",
                correlation_id=received.correlation_id,
                institution_id=record.disposition.institution_id if record.disposition else None,
                national_seen_at=record.updated_at,
            ):
                return 0
            await repository.publish(received, self._topic)
        NATIONAL_CHANGES.labels(received.event_type).inc()
        return 1
