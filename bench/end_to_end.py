"""The whole pipeline under load: intake, router, notifier and sync as real processes on the
development stack, the national simulator healthy and fast, complaints offered by the load
generator over every channel (`python -m bench.end_to_end`, or part of `make bench`).

A short staircase of rates (8 s each) finds the highest one every stage keeps up with; then
fixed offered loads (100/s and 500/s, 20 s each) give throughput and p50/p99 per stage, counted
from acceptance (acceptance itself from the complaint's due time). CPU of
each process is read from /proc over each load, so the table says who was busy when a stage fell
behind. The services are measured as they are, untuned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import statistics
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.measure import scratch_database
from lapor_hub.demo import create_keys
from lapor_hub.load import (
    CHANNELS,
    STAGES,
    Journey,
    StageFigures,
    StageWatcher,
    follow,
    offer_load,
    percentile,
    stage_figures,
)
from shared.kafka import scratch_topic
from shared.settings import Settings
from testkit.processes import (
    ROOT,
    ServiceProcess,
    running,
    smtp_sink_process,
    system_processes,
)

FIXED_RATES = (100.0, 500.0)
CARRIED_RATE = 100.0  # fixed loads up to this one are offered before the staircase
WARM_UP_RATE, WARM_UP_S = 20.0, 5.0
FIXED_S = 20.0
STEP_RATES = (25.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 400.0, 500.0)
STEP_S = 8.0
SETTLE_S = 20.0  # at most, after each load, for the last complaints' stages
KEEPS_UP = 0.98  # a stage keeps up when this share of the accepted is through after the settle
STEP_SETTLE_S = 10.0
TARGETS = {
    "end_to_end_throughput_per_s": 500,
    "routed_p99_ms_at_100": 250,
    "notified_p99_ms_at_100": 1000,
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MACHINE = "machine, all processes"
OTHERS = "everything else (others' work)"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadFigures:
    offered_per_s: float
    seconds: float
    stages: list[StageFigures]
    client_late_p99_ms: float
    cpu_percent: dict[str, float]
    kept_up: bool
    lagging: str | None  # the first stage that fell behind
    not_accepted: dict[str, int]  # by the last HTTP status ("no answer": timeout, refused)

    def as_json(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in asdict(self).items() if k != "stages"},
            "stages": {s.stage: asdict(s) for s in self.stages},
        }


def end_to_end(journeys: Sequence[Journey]) -> StageFigures:
    """A complaint is through when every stage it has is done (no alert for central ones)."""
    accepted = [j for j in journeys if j.accepted is not None]
    through = [j for j in accepted if j.complete]
    finished = [
        max(t for t in (j.routed, j.notified, j.mirrored) if t is not None) for j in through
    ]
    latencies = [f - (j.accepted or f) for j, f in zip(through, finished, strict=True)]
    began = min((j.due for j in journeys), default=0.0)
    span = max(finished, default=began) - began
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return StageFigures(
        stage="end to end",
        count=len(through),
        expected=len(accepted),
        p50_ms=None if p50 is None else round(p50 * 1000, 1),
        p99_ms=None if p99 is None else round(p99 * 1000, 1),
        throughput_per_s=round(len(through) / span, 1) if span > 0 else 0.0,
    )


def lag_grows(latencies: Sequence[float]) -> bool:
    """Latencies in the order the complaints were due: the last third's median more than
    twice the first third's (plus half a second) means the stage's backlog kept growing."""
    third = len(latencies) // 3
    if third < 5:
        return False
    first, last = statistics.median(latencies[:third]), statistics.median(latencies[-third:])
    return last > 2 * first + 0.5


def first_lagging(journeys: Sequence[Journey], stages: Sequence[StageFigures]) -> str | None:
    """The earliest stage that fell behind: less than KEEPS_UP of its complaints through after
    the bounded settle, or a lag that grew while the load was offered."""
    rows = {row.stage: row for row in stages}
    for stage in STAGES:
        row = rows[stage]
        if row.expected and row.count < KEEPS_UP * row.expected:
            return stage
        origin = "due" if stage == "accepted" else "accepted"
        latencies = [
            getattr(j, stage) - getattr(j, origin)
            for j in journeys
            if getattr(j, stage) is not None and getattr(j, origin) is not None
        ]
        if lag_grows(latencies):
            return stage
    return None


# -------------------------------------------------------------------------------- CPU
def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _children(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    pids.append(int(entry.name))
    return pids


def _stack_pids() -> dict[str, list[int]]:
    """Kafka's JVM and PostgreSQL's processes of the development stack (shared with others)."""
    found: dict[str, list[int]] = {}
    kafka = ROOT / ".local" / "kafka" / "kafka.pid"
    with contextlib.suppress(OSError, ValueError):
        found["kafka"] = [int(kafka.read_text())]
    postmaster = ROOT / ".local" / "pg" / "data" / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(postmaster.read_text().splitlines()[0])
        found["postgres (all)"] = [pid, *_children(pid)]
    return found


class CpuMeter:
    """CPU % (of one core) of each process between `start` and `stop`. The stack's processes
    are listed again at every sample: PostgreSQL starts a backend for every new connection,
    and one started during the window counts from its birth."""

    def __init__(self, processes: Mapping[str, ServiceProcess]) -> None:
        self._services = {
            name: [p.process.pid] for name, p in processes.items() if p.process is not None
        }
        self._services["load generator"] = [os.getpid()]
        self._began = 0.0
        self._ticks: dict[str, dict[int, int]] = {}

    def _sample(self) -> dict[str, dict[int, int]]:
        groups = {**self._services, **_stack_pids()}
        sample = {name: {pid: _cpu_ticks(pid) for pid in pids} for name, pids in groups.items()}
        # Every process of the machine (shared with others' tests): busy = all but idle, iowait.
        ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        sample[MACHINE] = {0: sum(ticks) - ticks[3] - ticks[4]}
        return sample

    def start(self) -> None:
        self._began, self._ticks = time.monotonic(), self._sample()

    def stop(self) -> dict[str, float]:
        seconds = time.monotonic() - self._began
        percent = {}
        for name, after in self._sample().items():
            before = self._ticks.get(name, {})
            used = sum(ticks - before.get(pid, 0) for pid, ticks in after.items())
            percent[name] = round(100 * used / CLOCK_TICKS / seconds, 1)
        ours = sum(v for k, v in percent.items() if k != MACHINE)
        percent[OTHERS] = round(max(0.0, percent[MACHINE] - ours), 1)
        return percent


# -------------------------------------------------------------------------------- runs
@dataclass
class Offering:
    """Loads offered one after another to one running system, watched on one stream."""

    intake_url: str
    keys: dict[str, str]
    watcher: StageWatcher
    meter: CpuMeter
    next_index: int = 0

    async def load(self, rate: float, seconds: float, settle_s: float) -> LoadFigures:
        self.meter.start()
        journeys = await offer_load(
            self.intake_url, self.keys, rate, seconds, first_index=self.next_index
        )
        cpu = self.meter.stop()
        self.next_index += len(journeys)
        await follow(journeys, self.watcher, settle_s)
        stages = [*stage_figures(journeys), end_to_end(journeys)]
        late = [j.sent - j.due for j in journeys if j.sent is not None]
        lagging = first_lagging(journeys, stages)
        return LoadFigures(
            offered_per_s=rate,
            seconds=seconds,
            stages=stages,
            client_late_p99_ms=round((percentile(late, 99) or 0.0) * 1000, 1),
            cpu_percent=cpu,
            kept_up=lagging is None,
            lagging=lagging,
            not_accepted=dict(
                Counter(str(j.last_status or "no answer") for j in journeys if j.accepted is None)
            ),
        )


@contextlib.contextmanager
def _system(database_url: str, bootstrap_servers: str, topic: str) -> Iterator[dict[str, Any]]:
    sink = smtp_sink_process("bench-e2e-smtp")
    with running({"smtp sink": sink}):
        smtp_port = int(sink.ready_url.rsplit(":", 1)[1])
        processes = system_processes(
            database_url, bootstrap_servers, topic, smtp_port, name="bench-e2e"
        )
        # National healthy and fast (the simulator has no rate limit): sync's pace is set far
        # above the offered rates so that no limit of the benchmark's own holds it back.
        processes["sync"].env = {**processes["sync"].env, "LAPOR_HUB_SYNC_RATE_PER_S": "5000"}
        # Routing latency is the router's, not a reporter's answer to the question where.
        processes["router"].env = {**processes["router"].env, "LAPOR_HUB_ROUTER_ASK_FOR_PLACE": "0"}
        with running(processes):
            yield {**processes, "smtp sink": sink}


async def pipeline(settings: Settings) -> dict[str, Any]:
    """The fixed loads, then the staircase; every figure as bench-results.json holds it."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    async with scratch_topic(settings.kafka_bootstrap_servers, "bench.e2e") as topic:
        async with scratch_database(settings.database_url, "lapor_hub_bench_e2e") as database_url:
            keys = await create_keys(database_url, CHANNELS)
            with _system(database_url, settings.kafka_bootstrap_servers, topic.name) as processes:
                watcher = StageWatcher(settings.kafka_bootstrap_servers, topic.name)
                await watcher.start()
                offering = Offering(processes["intake"].origin, keys, watcher, CpuMeter(processes))
                try:
                    # Unmeasured: a just-started service's first seconds (lazy imports, joining
                    # its group, a first producer) are not what a running system does.
                    await offering.load(WARM_UP_RATE, WARM_UP_S, SETTLE_S)
                    # The fixed loads the system can carry come first: after the staircase's
                    # last step (the first behind) a backlog may still be draining.
                    fixed = [
                        await offering.load(rate, FIXED_S, SETTLE_S)
                        for rate in FIXED_RATES
                        if rate <= CARRIED_RATE
                    ]
                    steps = []
                    for rate in STEP_RATES:  # up the staircase until a stage falls behind
                        steps.append(await offering.load(rate, STEP_S, STEP_SETTLE_S))
                        if not steps[-1].kept_up:
                            await asyncio.sleep(SETTLE_S)  # its backlog runs off, within bounds
                            break
                    fixed += [
                        await offering.load(rate, FIXED_S, SETTLE_S)
                        for rate in FIXED_RATES
                        if rate > CARRIED_RATE
                    ]
                finally:
                    await watcher.stop()
        sustained = max((s.offered_per_s for s in steps if s.kept_up), default=0.0)
        behind = next((s for s in steps if not s.kept_up), fixed[-1])
        return {
            "loads": [f.as_json() for f in fixed],
            "steps": [s.as_json() for s in steps],
            "max_sustained_per_s": sustained,
            "first_behind": {
                "offered_per_s": behind.offered_per_s,
                "stage": behind.lagging,
                "cpu_percent": behind.cpu_percent,
            },
            "targets": TARGETS,
        }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def tables(figures: dict[str, Any]) -> list[Table]:
    targets = {
        ("routed", 100.0): f"p99 < {TARGETS['routed_p99_ms_at_100']} ms",
        ("notified", 100.0): f"p99 < {TARGETS['notified_p99_ms_at_100']} ms",
        ("end to end", 500.0): f">= {TARGETS['end_to_end_throughput_per_s']}/s",
    }
    result = []
    stage_table = Table(title="end to end: four services as processes, national healthy")
    for column in ("offered/s", "stage", "through", "throughput/s", "p50 ms", "p99 ms", "target"):
        stage_table.add_column(column, justify="left" if column in ("stage", "target") else "right")
    for load in figures["loads"]:
        rate = load["offered_per_s"]
        for stage, row in load["stages"].items():
            stage_table.add_row(
                f"{rate:g}",
                stage if stage != "accepted" else "accepted (from due time)",
                f"{row['count']}/{row['expected']}",
                f"{row['throughput_per_s']:,.1f}",
                "-" if row["p50_ms"] is None else f"{row['p50_ms']:,.1f}",
                "-" if row["p99_ms"] is None else f"{row['p99_ms']:,.1f}",
                targets.get((stage, rate), ""),
            )
        stage_table.add_row(
            f"{rate:g}", "client late (p99 ms)", "", "", "", f"{load['client_late_p99_ms']:g}", ""
        )
    stage_table.caption = (
        f"max sustained: {figures['max_sustained_per_s']:g}/s "
        f"(target >= {TARGETS['end_to_end_throughput_per_s']}/s; the staircase below)"
    )
    result.append(stage_table)
    staircase = Table(title=f"staircase: {STEP_S:g} s per rate, up to the first stage behind")
    for column in ("offered/s", "end to end/s", "routed p99", "notified p99", "mirrored p99"):
        staircase.add_column(column, justify="right")
    staircase.add_column("verdict")
    for step in figures["steps"]:
        stages = step["stages"]
        staircase.add_row(
            f"{step['offered_per_s']:g}",
            f"{stages['end to end']['throughput_per_s']:,.1f}",
            *(_ms(stages[name]["p99_ms"]) for name in ("routed", "notified", "mirrored")),
            "kept up" if step["kept_up"] else f"behind: {step['lagging']}",
        )
    result.append(staircase)
    behind = figures["first_behind"]
    cpu = Table(
        title=f"CPU while offered {behind['offered_per_s']:g}/s "
        f"(first behind: {behind['stage'] or 'none'}), % of one core"
    )
    cpu.add_column("process")
    cpu.add_column("cpu %", justify="right")
    for name, percent in sorted(behind["cpu_percent"].items(), key=lambda kv: -kv[1]):
        cpu.add_row(name, f"{percent:g}")
    result.append(cpu)
    return result


def main() -> None:
    from rich.console import Console

    figures = asyncio.run(pipeline(Settings()))
    console = Console(width=120)
    for table in tables(figures):
        console.print(table)


if __name__ == "__main__":
    main()
