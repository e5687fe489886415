"""`lapor-hub load`: realistic complaints over every channel at a controlled rate, each one
followed through the pipeline.

Open loop: complaint n is due at start + n / rate whatever happened to the ones before it, so a
slow system cannot slow the offered load down (the client reports when it itself fell behind).
For each complaint it records when it was due, when intake accepted it (HTTP 202), and when its
ComplaintRouted, AgencyNotified and ComplaintMirrored events were read from the complaint stream.
Latencies of the later stages are counted from acceptance; acceptance from the due time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer
from rich.table import Table

from lapor_hub.demo import SUBMISSIONS, Submission
from shared.agencies import CENTRAL_AGENCY

CHANNELS = tuple(SUBMISSIONS)
STAGES = ("accepted", "routed", "notified", "mirrored")
# Event type on the complaint stream -> the stage it marks.
STAGE_OF_EVENT = {
    "ComplaintRouted": "routed",
    "AgencyNotified": "notified",
    "ComplaintMirrored": "mirrored",
}
# The client fell behind when sends start later than this after their due time (p99).
BEHIND_S = 0.05
# A refused or failed submission is sent again (same message id or Idempotency-Key) this long.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

log = logging.getLogger(__name__)


@dataclass
class Journey:
    """One complaint's way through the pipeline; times are Unix seconds."""

    index: int
    channel: str
    due: float
    sent: float | None = None
    accepted: float | None = None
    tracking_number: str | None = None
    attempts: int = 0
    last_status: int | None = None
    agency_code: str | None = None
    routed: float | None = None
    notified: float | None = None
    mirrored: float | None = None

    @property
    def notification_expected(self) -> bool:
        """Central agencies are left to national LAPOR: nobody here is told."""
        return self.agency_code != CENTRAL_AGENCY

    @property
    def complete(self) -> bool:
        return (
            self.routed is not None
            and self.mirrored is not None
            and (self.notified is not None or not self.notification_expected)
        )


@dataclass
class Sightings:
    """What the complaint stream said about one tracking number: first time of each stage and
    the distinct events (and deliveries) behind it."""

    first: dict[str, float] = field(default_factory=dict)
    agency_code: str | None = None
    events: dict[str, set[str]] = field(default_factory=dict)
    deliveries: set[str] = field(default_factory=set)

    def saw(self, stage: str, event: dict[str, Any], at: float) -> None:
        self.first.setdefault(stage, at)
        self.events.setdefault(stage, set()).add(event["event_id"])
        if stage == "routed" and self.agency_code is None:
            self.agency_code = event["agency_code"]
        if stage == "notified":
            self.deliveries.add(event["delivery_id"])


@dataclass(frozen=True)
class StageFigures:
    """One stage of a load run, as printed and written to bench-results.json."""

    stage: str
    count: int
    expected: int
    p50_ms: float | None
    p99_ms: float | None
    throughput_per_s: float


def percentile(values: Sequence[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def stage_figures(journeys: Sequence[Journey]) -> list[StageFigures]:
    """Per stage: how many got there, p50/p99 latency (acceptance from the due time, the rest
    from acceptance) and throughput (reached / span from the first due time to the last)."""
    accepted = [j for j in journeys if j.accepted is not None]
    began = min((j.due for j in journeys), default=0.0)
    rows = []
    for stage in STAGES:
        origin = "due" if stage == "accepted" else "accepted"
        candidates = (
            accepted if stage != "notified" else [j for j in accepted if j.notification_expected]
        )
        reached = [j for j in candidates if getattr(j, stage) is not None]
        latencies = [getattr(j, stage) - getattr(j, origin) for j in reached]
        span = max((getattr(j, stage) for j in reached), default=began) - began
        rows.append(
            StageFigures(
                stage=stage,
                count=len(reached),
                expected=len(journeys) if stage == "accepted" else len(candidates),
                p50_ms=_ms(percentile(latencies, 50)),
                p99_ms=_ms(percentile(latencies, 99)),
                throughput_per_s=round(len(reached) / span, 1) if span > 0 else 0.0,
            )
        )
    return rows


@dataclass
class LoadRun:
    rate_per_s: float
    duration_s: float
    journeys: list[Journey]
    sightings: dict[str, Sightings]
    lateness_p99_s: float
    lateness_max_s: float

    @property
    def client_behind(self) -> bool:
        return self.lateness_p99_s > BEHIND_S

    def figures(self) -> list[StageFigures]:
        return stage_figures(self.journeys)

    def incomplete(self) -> list[Journey]:
        return [j for j in self.journeys if j.accepted is not None and not j.complete]

    def write_jsonl(self, path: Path) -> None:
        with path.open("w") as out:
            for journey in self.journeys:
                record = asdict(journey)
                record["notification_expected"] = journey.notification_expected
                out.write(json.dumps(record) + "\n")

    def _refusals(self) -> str:
        """Why complaints were not accepted: the last HTTP status (none: no answer)."""
        statuses = Counter(
            str(j.last_status or "no answer") for j in self.journeys if j.accepted is None
        )
        if not statuses:
            return ""
        return "; not accepted: " + ", ".join(f"{n} x {s}" for s, n in statuses.most_common())

    def table(self, title: str | None = None) -> Table:
        table = Table(
            title=title or f"lapor-hub load: {self.rate_per_s:g}/s for {self.duration_s:g} s"
        )
        for column in ("stage", "count", "of", "p50 ms", "p99 ms", "throughput/s"):
            table.add_column(column, justify="left" if column == "stage" else "right")
        for row in self.figures():
            table.add_row(
                row.stage,
                str(row.count),
                str(row.expected),
                "-" if row.p50_ms is None else f"{row.p50_ms:,.1f}",
                "-" if row.p99_ms is None else f"{row.p99_ms:,.1f}",
                f"{row.throughput_per_s:,.1f}",
            )
        table.caption = (
            f"offered {self.rate_per_s:g}/s; sends late by p99 {self.lateness_p99_s * 1000:.1f} ms,"
            f" max {self.lateness_max_s * 1000:.1f} ms"
            + (
                " - THE CLIENT FELL BEHIND: the offered load was lower"
                if self.client_behind
                else ""
            )
            + "; acceptance timed from the due time, other stages from acceptance"
            + self._refusals()
        )
        return table


class StageWatcher:
    """Reads the complaint stream from its end at start-up, noting when each tracking number
    was routed, notified and mirrored. Survives a broker outage (aiokafka reconnects)."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.sightings: dict[str, Sightings] = {}
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout_s: float = 30.0) -> None:
        await self._consumer.start()
        async with asyncio.timeout(timeout_s):
            # Without a group every partition is assigned once metadata is in; aiokafka tells
            # nobody when, so look.
            while not self._consumer.assignment():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        for partition in self._consumer.assignment():
            # Resolved now, at the end: nothing published from here on is missed.
            await self._consumer.position(partition)
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # After a broker outage aiokafka's fetcher may end its own cancelled fetch with
        # CancelledError while stopping: the consumer is stopped all the same.
        with contextlib.suppress(asyncio.CancelledError):
            await self._consumer.stop()

    async def _read(self) -> None:
        wanted = {kind.encode() for kind in STAGE_OF_EVENT}
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            now = time.time()
            for records in batch.values():
                for record in records:
                    kind = dict(record.headers).get("event_type")
                    if kind not in wanted or record.value is None:
                        continue
                    event = json.loads(record.value)
                    sightings = self.sightings.setdefault(event["tracking_number"], Sightings())
                    sightings.saw(STAGE_OF_EVENT[kind.decode()], event, now)


def _tracking_number(reply: dict[str, Any]) -> str:
    if "accepted" in reply:  # WhatsApp: one webhook may carry several messages; ours has one
        number: str = reply["accepted"][0]["tracking_number"]
        return number
    number = reply["tracking_number"]
    return number


async def _submit(
    client: aiohttp.ClientSession,
    journey: Journey,
    submission: Submission,
    key: str,
    retry_for_s: float,
) -> None:
    """Send until accepted or `retry_for_s` passed; a retry is the same request, so intake
    counts it once (an accepted request whose answer was lost is answered again)."""
    headers = {"X-API-Key": key, **submission.headers}
    give_up = time.monotonic() + retry_for_s
    pause = 0.2
    while True:
        journey.attempts += 1
        try:
            async with client.post(submission.path, json=submission.body, headers=headers) as reply:
                journey.last_status = reply.status
                if reply.status == 202:
                    journey.accepted = time.time()
                    journey.tracking_number = _tracking_number(await reply.json())
                    return
                await reply.read()
                if reply.status not in RETRY_STATUSES:
                    return
        except (aiohttp.ClientError, TimeoutError):
            journey.last_status = None
        if time.monotonic() + pause > give_up:
            return
        await asyncio.sleep(pause)
        pause = min(pause * 2, 2.0)


def _lateness(journeys: Iterable[Journey]) -> list[float]:
    return [j.sent - j.due for j in journeys if j.sent is not None]


async def offer_load(
    intake_url: str,
    keys: dict[str, str],
    rate_per_s: float,
    duration_s: float,
    *,
    first_index: int = 0,
    retry_for_s: float = 0.0,
) -> list[Journey]:
    """Submit `rate_per_s` x `duration_s` complaints, channels in turn, each at its due time."""
    count = max(1, round(rate_per_s * duration_s))
    channels = [c for c in CHANNELS if c in keys]
    journeys: list[Journey] = []
    tasks: list[asyncio.Task[None]] = []
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(
        base_url=intake_url, timeout=timeout, connector=connector
    ) as client:
        began = time.time() + 0.1
        for n in range(count):
            index = first_index + n
            channel = channels[n % len(channels)]
            submission = SUBMISSIONS[channel](index)
            journey = Journey(index=index, channel=channel, due=began + n / rate_per_s)
            journeys.append(journey)
            if (pause := journey.due - time.time()) > 0:
                await asyncio.sleep(pause)
            journey.sent = time.time()
            tasks.append(
                asyncio.create_task(
                    _submit(client, journey, submission, keys[channel], retry_for_s)
                )
            )
        await asyncio.gather(*tasks)
    return journeys


async def follow(
    journeys: Sequence[Journey], watcher: StageWatcher, settle_timeout_s: float
) -> None:
    """Join what the stream said to each accepted complaint, waiting until every one is
    complete or `settle_timeout_s` passed."""
    deadline = time.monotonic() + settle_timeout_s
    while True:
        for journey in journeys:
            if journey.tracking_number is None:
                continue
            seen = watcher.sightings.get(journey.tracking_number)
            if seen is None:
                continue
            journey.agency_code = seen.agency_code
            journey.routed = seen.first.get("routed")
            journey.notified = seen.first.get("notified")
            journey.mirrored = seen.first.get("mirrored")
        waiting = [j for j in journeys if j.accepted is not None and not j.complete]
        if not waiting or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.25)


async def run_load(
    intake_url: str,
    keys: dict[str, str],
    *,
    bootstrap_servers: str,
    topic: str,
    rate_per_s: float,
    duration_s: float,
    settle_timeout_s: float = 60.0,
    retry_for_s: float = 0.0,
    first_index: int = 0,
) -> LoadRun:
    watcher = StageWatcher(bootstrap_servers, topic)
    await watcher.start()
    try:
        journeys = await offer_load(
            intake_url,
            keys,
            rate_per_s,
            duration_s,
            first_index=first_index,
            retry_for_s=retry_for_s,
        )
        await follow(journeys, watcher, settle_timeout_s)
    finally:
        await watcher.stop()
    late = _lateness(journeys)
    return LoadRun(
        rate_per_s=rate_per_s,
        duration_s=duration_s,
        journeys=journeys,
        sightings=watcher.sightings,
        lateness_p99_s=percentile(late, 99) or 0.0,
        lateness_max_s=max(late, default=0.0),
    )
