"""Reconciliation of what lapor-hub mirrored with what national LAPOR holds (`lapor-hub sync
reconcile`): read both sides per complaint, compare (domain.reconcile), and with `fix` repair
what can be repaired by sending it again through the mirror queue (which checks national before
writing, so a repair never duplicates)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.sync.adapters.lapor_api import ComplaintRecord
from services.sync.adapters.national import NationalLapor
from services.sync.domain.plan import AddFollowup, CreateComplaint, plan_mirror
from services.sync.domain.reconcile import Difference, Finding, LocalRecord, compare
from services.sync.repository import SyncRepository
from shared.events import ComplaintReceived, parse_event


@dataclass
class _Complaint:
    received: ComplaintReceived
    create_row: int
    create_state: str
    followups: list[tuple[int, str]]  # (queue id, content) mirrored


@dataclass(frozen=True)
class Report:
    tracking_number: str
    finding: Finding
    fixed: bool


async def _local(pool: asyncpg.Pool, since: datetime) -> list[_Complaint]:
    async with pool.acquire() as connection:
        rows = await SyncRepository(connection).queued_since(since)
    complaints: dict[object, _Complaint] = {}
    for queue_id, _, payload, state in rows:
        event = parse_event(payload)
        action = plan_mirror(event)
        if isinstance(action, CreateComplaint) and isinstance(event, ComplaintReceived):
            complaints[event.complaint_id] = _Complaint(event, queue_id, state, [])
        elif isinstance(action, AddFollowup) and state == "done":
            known = complaints.get(event.complaint_id)
            if known is not None:
                known.followups.append((queue_id, action.content))
    return list(complaints.values())


async def reconcile(
    pool: asyncpg.Pool,
    national: NationalLapor,
    since: datetime,
    *,
    fix: bool,
    calls_per_s: float,
) -> list[Report]:
    reports: list[Report] = []
    pause = 1 / calls_per_s
    for complaint in await _local(pool, since):
        if complaint.create_state == "pending":
            continue  # still on its way
        tracking_number = complaint.received.complaint.tracking_number
        async with pool.acquire() as connection:
            mapping = await SyncRepository(connection).mapping(complaint.received.complaint_id)
        tagged = await national.find_by_reference(tracking_number)
        await asyncio.sleep(pause)
        national_id = (
            mapping.national_id if mapping else (tagged[0].complaint_id if tagged else None)
        )
        followups = []
        if national_id is not None and tagged:
            followups = await national.followups(national_id)
            await asyncio.sleep(pause)
        local = LocalRecord(
            tracking_number,
            mapping.national_id if mapping else None,
            tuple(content for _, content in complaint.followups),
        )
        for finding in compare(local, tagged, followups):
            fixed = fix and await _repair(pool, complaint, finding, tagged, mapping is None)
            reports.append(Report(tracking_number, finding, fixed))
    return reports


async def _repair(
    pool: asyncpg.Pool,
    complaint: _Complaint,
    finding: Finding,
    tagged: list[ComplaintRecord],
    unmapped: bool,
) -> bool:
    async with pool.acquire() as connection, connection.transaction():
        repository = SyncRepository(connection)
        match finding.difference:
            case Difference.MISSING if unmapped:
                ids = [complaint.create_row, *(queue_id for queue_id, _ in complaint.followups)]
                return await repository.requeue(ids) > 0
            case Difference.UNMAPPED:
                first = min(record.complaint_id for record in tagged)
                return await repository.save_mapping(
                    complaint_id=complaint.received.complaint_id,
                    tracking_number=complaint.received.complaint.tracking_number,
                    national_id=first,
                    origin="local",
                    correlation_id=complaint.received.correlation_id,
                    institution_id=None,
                )
            case Difference.FOLLOWUPS_MISSING:
                missing = set(finding.missing_followups)
                ids = [queue_id for queue_id, content in complaint.followups if content in missing]
                return await repository.requeue(ids) > 0
            case _:
                return False
