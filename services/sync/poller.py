"""National's own changes come back: national admins' actions on lapor-hub's complaints become
`ComplaintStatusChanged` (source `national`), and complaints national disposed to the province
become `ComplaintReceived`."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from prometheus_client import Counter

from services.sync.adapters.lapor_api import (
    ActionLogEntry,
    ComplaintRecord,
    LogEntry,
    tracking_number_in,
)
from services.sync.adapters.national import (
    AmbiguousWriteError,
    NationalUnavailableError,
    RateLimitedError,
    RejectedError,
)
from services.sync.domain.national import (
    actions_by_others,
    disposed_to_province,
    may_place_with_province,
    others_actions_by_complaint,
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
    """Reads national's action log since its cursor (the last entry read) and publishes
    national admins' actions; lapor-hub's own writes in the log are passed over by who wrote
    them, so an admin's action is seen however soon lapor-hub writes to the complaint after."""

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
        """One pass over national's action log since the cursor; returns events published."""
        async with self._pool.acquire() as connection:
            repository = SyncRepository(connection)
            cursor = await repository.poll_cursor()
            caught_up = await repository.deferred_now_mapped()
        published = 0
        for kept_aside in caught_up:
            published += await self._catch_up(kept_aside)
        while True:
            await self._gate.admit()
            page = await self._gate.call(
                "actions_since",
                partial(self._national.actions_since, cursor, self._settings.sync_poll_page),
            )
            acted_on = others_actions_by_complaint(page.logs)
            if acted_on:
                async with self._pool.acquire() as connection:
                    repository = SyncRepository(connection)
                    mappings = await repository.mappings_of_national(list(acted_on))
                    in_doubt = len(mappings) < len(acted_on) and await repository.creates_in_doubt()
                for national_id, entries in acted_on.items():
                    mapping = mappings.get(national_id)
                    if mapping is None and not (in_doubt or may_place_with_province(entries)):
                        continue  # not lapor-hub's, nor placed with the province by these
                    published += await self._apply(national_id, entries, mapping)
            if page.logs:
                cursor = page.logs[-1].log_id
                async with self._pool.acquire() as connection:
                    await SyncRepository(connection).advance_poll_cursor(cursor)
            if page.next_after_id is None or not page.logs:
                return published

    async def _apply(
        self, national_id: int, entries: list[ActionLogEntry], mapping: Mapping | None
    ) -> int:
        """National admins' actions on one complaint (in the log's order), with its mapping as
        read for their page."""
        await self._gate.admit()
        detailed = await self._gate.call(
            "complaint", partial(self._national.complaint, national_id)
        )
        if mapping is None:
            if tracking_number_in(detailed.tags) is not None:
                # lapor-hub's own, its create applied without an answer: its mapping is on the
                # way (the retry finds it by its tag); its admins' actions come back then.
                async with self._pool.acquire() as connection:
                    await SyncRepository(connection).defer(national_id)
                return 0
            return await self._received(detailed) if disposed_to_province(detailed) else 0
        return await self._publish(
            detailed, actions_by_others(entries, mapping.national_seen_at), mapping
        )

    async def _catch_up(self, mapping: Mapping) -> int:
        """A complaint kept aside until its mapping was saved: its admins' actions, all that
        its log holds beyond what was seen."""
        await self._gate.admit()
        detailed = await self._gate.call(
            "complaint", partial(self._national.complaint, mapping.national_id)
        )
        actions = actions_by_others(detailed.logs, mapping.national_seen_at)
        return await self._publish(detailed, actions, mapping, undefer=True)

    async def _publish(
        self,
        detailed: ComplaintRecord,
        actions: list[LogEntry],
        mapping: Mapping,
        *,
        undefer: bool = False,
    ) -> int:
        """National admins' actions on a mapped complaint as `ComplaintStatusChanged`, with
        how far its log is seen (and, `undefer`, no longer kept aside), in one transaction."""
        institution = detailed.disposition.institution_id if detailed.disposition else None
        async with self._pool.acquire() as connection, connection.transaction():
            repository = SyncRepository(connection)
            if undefer:
                await repository.undefer(mapping.national_id)
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
            if actions:
                await repository.seen(mapping.complaint_id, actions[-1].at, institution)
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
