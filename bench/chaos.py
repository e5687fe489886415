"""`make chaos`: a steady load while things fail, then the promise checked.

On a stack of its own (Kafka, PostgreSQL and state under .local/chaos, on other ports than the
development stack, which is never touched), it runs intake, router, notifier and sync, the
national LAPOR simulator and an SMTP sink that keeps each delivery id, and offers complaints with
the load generator. Meanwhile, at seeded random moments: kill -9 of every service (restarted),
the Kafka broker stopped for 30 s, PostgreSQL stopped for 10 s, national LAPOR down for a
window, national applying creates it then does not answer as applied. Then it waits (bounded)
until every accepted complaint is through, and checks: every one routed once, notified
(delivery ids deduplicated at the sink), mirrored to national exactly once, none lost. Printed
as a table, written to chaos-results.json; the exit code says whether all held.

    python -m bench.chaos [--short] [--duration S] [--rate R] [--seed N]
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import asyncpg
import httpx
import typer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from rich.console import Console
from rich.table import Table

from lapor_hub.demo import create_keys
from lapor_hub.load import CHANNELS, Journey, StageWatcher, follow, offer_load
from services.intake.domain.tracking import quoted_tracking_numbers
from services.notifier.domain.signature import DELIVERY_HEADER
from shared.kafka import ensure_topics
from shared.migrations import apply_migrations
from shared.topics import COMPLAINT_EVENTS
from testkit.processes import ServiceProcess, free_port, system_processes

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "chaos-results.json"
DEFAULT_STATE = ROOT / ".local" / "chaos"
STACK = ROOT / "deploy" / "local" / "stack.sh"
SERVICES = ("intake", "router", "notifier", "sync")
DEV_PORTS = {19092, 19093, 55432}  # the development stack's: never ours
ASSIGNMENT_SUBJECT = "[LAPOR Kalsel] Pengaduan "  # services/notifier/domain/messages.py

console = Console(width=120)
log = logging.getLogger("chaos")


# ------------------------------------------------------------------------- the fault plan
# National applies a create and then: never answers, cuts the connection, answers 502, answers
# 200 with its body cut short (the simulator's ambiguous creates); each the next few creates.
AMBIGUOUS_MODES = ("hang", "drop", "bad_gateway", "broken_body")
AMBIGUOUS_CREATES = 3


@dataclass(frozen=True)
class Fault:
    """What fails, `at_s` seconds into the load, for `hold_s` seconds."""

    kind: str  # kill | kafka | postgres | pg-terminate | pg-slow | national | ambiguous
    target: str
    at_s: float
    hold_s: float


def plan_faults(seed: int, duration_s: float, kills_per_service: int) -> list[Fault]:
    """The run's faults, the same for the same seed: every service killed at random moments,
    then the broker down 30 s, PostgreSQL 10 s after it, and national down for a window; at
    random moments, every service's connections terminated (pg_terminate_backend, as a failover
    does), PostgreSQL answering slowly for 15 s (its tables locked by turns, once past the
    pools' lock timeout), and national applying the next creates and then answering none (each
    of its ambiguous modes once: never answered, cut off, 502, a 2xx with a broken body)."""
    rng = random.Random(seed)
    kafka_at = rng.uniform(0.15, 0.25) * duration_s
    postgres_at = kafka_at + 30 + rng.uniform(5, 10)
    national_hold = round(max(15.0, duration_s * 0.2), 1)
    faults = [
        Fault("kafka", "broker", round(kafka_at, 1), 30.0),
        Fault("postgres", "server", round(postgres_at, 1), 10.0),
        Fault(
            "national",
            rng.choice(("unavailable", "refuse")),
            round(rng.uniform(0.1, 0.6) * duration_s, 1),
            national_hold,
        ),
        Fault("pg-terminate", "every service", round(rng.uniform(0.1, 0.9) * duration_s, 1), 4.0),
        Fault("pg-slow", "every table", round(rng.uniform(0.1, 0.8) * duration_s, 1), 15.0),
        *(
            Fault("ambiguous", mode, round(rng.uniform(0.05, 0.9) * duration_s, 1), 0.0)
            for mode in AMBIGUOUS_MODES
        ),
    ]
    # One kill of each service in each of `kills_per_service` slices of the run, so that two
    # kills of one service never fall on the same down time.
    slice_s = 0.8 * duration_s / kills_per_service
    for service in SERVICES:
        for n in range(kills_per_service):
            at = 0.05 * duration_s + (n + rng.uniform(0, 0.9)) * slice_s
            faults.append(Fault("kill", service, round(at, 1), round(rng.uniform(0.5, 3), 1)))
    return sorted(faults, key=lambda f: f.at_s)


# ----------------------------------------------------------------------------- the stack
@dataclass(frozen=True)
class ChaosStack:
    """A second local stack (stack.sh with its own state directory and ports)."""

    state: Path
    kafka_port: int
    controller_port: int
    pg_port: int

    def __post_init__(self) -> None:
        ours = {self.kafka_port, self.controller_port, self.pg_port}
        if ours & DEV_PORTS or self.state.resolve() == (ROOT / ".local").resolve():
            raise typer.BadParameter("the chaos stack must not share the development stack's")

    @property
    def database_url(self) -> str:
        return f"postgresql://lapor_hub:lapor_hub@127.0.0.1:{self.pg_port}/lapor_hub"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def env(self) -> dict[str, str]:
        """For stack.sh and every process started here (not the development stack's)."""
        return {
            "LAPOR_HUB_STATE_DIR": str(self.state),
            "LAPOR_HUB_KAFKA_PORT": str(self.kafka_port),
            "LAPOR_HUB_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "LAPOR_HUB_PG_PORT": str(self.pg_port),
            "LAPOR_HUB_LOCAL_PG": "1",
            "LAPOR_HUB_DATABASE_URL": self.database_url,
            "LAPOR_HUB_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "LAPOR_HUB_KAFKA_LIB": str(ROOT / ".local" / "kafka" / "lib"),
            "LAPOR_HUB_KAFKA_HEAP": "320m",
        }

    def run(self, command: str) -> None:
        subprocess.run([str(STACK), command], check=True, env={**os.environ, **self.env()})

    async def run_async(self, command: str) -> None:
        process = await asyncio.create_subprocess_exec(
            str(STACK), command, env={**os.environ, **self.env()}
        )
        if await process.wait():
            raise RuntimeError(f"stack.sh {command} failed")

    def fresh(self) -> None:
        """Down, Kafka's log wiped, up, and an empty database: no earlier run shows through."""
        self.run("down")
        shutil.rmtree(self.state / "kafka" / "data", ignore_errors=True)
        self.run("up")
        asyncio.run(self._empty_database())

    async def _empty_database(self) -> None:
        admin = await asyncpg.connect(self.database_url.rsplit("/", 1)[0] + "/postgres")
        try:
            await admin.execute('DROP DATABASE IF EXISTS "lapor_hub" WITH (FORCE)')
            await admin.execute('CREATE DATABASE "lapor_hub"')
        finally:
            await admin.close()


# ----------------------------------------------------------------------- the mail sink
class DeliverySink:
    """Accepts every alert the notifier mails and notes its delivery id and complaint."""

    def __init__(self) -> None:
        self.deliveries: dict[str, str] = {}  # delivery id -> tracking number
        self.messages = 0
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        message = message_from_bytes(raw, policy=email.policy.default)  # headers decoded
        delivery, subject = message.get(DELIVERY_HEADER), str(message.get("Subject", ""))
        numbers = quoted_tracking_numbers(subject)
        self.messages += 1
        # An agency's assignment; a reporter's "Kabar pengaduan ..." is not what is counted.
        if delivery and numbers and ASSIGNMENT_SUBJECT in subject:
            self.deliveries[str(delivery)] = numbers[0]
        return "250 OK"

    def notified(self) -> dict[str, int]:
        """Distinct deliveries per tracking number."""
        counts: dict[str, int] = {}
        for tracking in self.deliveries.values():
            counts[tracking] = counts.get(tracking, 0) + 1
        return counts

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._controller.stop()


# ----------------------------------------------------------------------------- the run
@dataclass
class Happened:
    """A fault as it was done: wall-clock start and end (the end is when it was lifted)."""

    kind: str
    target: str
    planned_at_s: float
    started: float = 0.0
    ended: float = 0.0
    note: str = ""

    def as_json(self, origin: float) -> dict[str, Any]:
        return {
            **asdict(self),
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(),
            "ended": datetime.fromtimestamp(self.ended, UTC).isoformat(),
            "started_s": round(self.started - origin, 1),
            "ended_s": round(self.ended - origin, 1),
        }


@dataclass
class Supervisor:
    """Restarts any service that is down and not held down on purpose, as systemd would."""

    processes: Mapping[str, ServiceProcess]
    held: set[str] = field(default_factory=set)
    restarts: dict[str, int] = field(default_factory=dict)

    async def watch(self) -> None:
        while True:
            for name, process in self.processes.items():
                alive = process.process is not None and process.process.poll() is None
                if not alive and name not in self.held:
                    process.spawn()
                    self.restarts[name] = self.restarts.get(name, 0) + 1
            await asyncio.sleep(0.5)


def _say(origin: float, text: str) -> None:
    console.print(f"[chaos +{time.time() - origin:6.1f}s] {text}", markup=False, highlight=False)


async def _inflict(
    fault: Fault,
    origin: float,
    stack: ChaosStack,
    supervisor: Supervisor,
    control_url: str,
) -> Happened:
    await asyncio.sleep(max(0.0, origin + fault.at_s - time.time()))
    happened = Happened(fault.kind, fault.target, fault.at_s, started=time.time())
    if fault.kind == "kill":
        process = supervisor.processes[fault.target]
        supervisor.held.add(fault.target)
        pid = process.process.pid if process.process else None
        process.kill()
        _say(origin, f"kill -9 {fault.target} (pid {pid}); restart in {fault.hold_s:g} s")
        await asyncio.sleep(fault.hold_s)
        supervisor.held.discard(fault.target)  # the supervisor starts it again
    elif fault.kind in ("kafka", "postgres"):
        down, up = ("kafka-down", "kafka-up") if fault.kind == "kafka" else ("pg-down", "pg-up")
        _say(origin, f"{fault.kind}: stopping for {fault.hold_s:g} s")
        await stack.run_async(down)
        await asyncio.sleep(max(0.0, happened.started + fault.hold_s - time.time()))
        await stack.run_async(up)
        _say(origin, f"{fault.kind}: started again")
    elif fault.kind == "pg-terminate":
        terminated = await _terminate_connections(stack, fault.hold_s)
        happened.note = f"{terminated} connections terminated"
        _say(origin, f"postgres: {happened.note}")
    elif fault.kind == "pg-slow":
        _say(origin, f"postgres: answering slowly for {fault.hold_s:g} s")
        happened.note = await _answer_slowly(stack, fault.hold_s)
    elif fault.kind == "ambiguous":
        ambiguous = {"mode": fault.target, "next_count": AMBIGUOUS_CREATES}
        await _amend_national_faults(control_url, ambiguous_creates=ambiguous)
        _say(
            origin,
            f"national LAPOR: the next {AMBIGUOUS_CREATES} creates applied, then {fault.target}",
        )
    else:
        start = datetime.now(UTC)
        window = {
            "start": start.isoformat(),
            "end": (start + timedelta(seconds=fault.hold_s)).isoformat(),
            "mode": fault.target,
        }
        await _amend_national_faults(control_url, windows=[window])
        _say(origin, f"national LAPOR down ({fault.target}) for {fault.hold_s:g} s")
        await asyncio.sleep(fault.hold_s)
    happened.ended = time.time()
    return happened


async def _terminate_connections(stack: ChaosStack, hold_s: float) -> int:
    """pg_terminate_backend of every other connection to lapor-hub's database, three times over
    `hold_s` (pools reconnect between); a database down just then terminates nothing."""
    terminated = 0
    for _ in range(3):
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            admin = await asyncpg.connect(stack.database_url, timeout=3)
            try:
                terminated += await admin.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                    " FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            finally:
                await admin.close()
        await asyncio.sleep(hold_s / 3)
    return terminated


async def _answer_slowly(stack: ChaosStack, hold_s: float) -> str:
    """Every service table locked (ACCESS EXCLUSIVE) by turns: 2 s held, 0.5 s free, and once
    12 s, past the pools' lock timeout, so statements wait, and some fail and are retried."""
    deadline = time.time() + hold_s
    rounds = 0
    with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        admin = await asyncpg.connect(stack.database_url, timeout=3)
        try:
            tables = await admin.fetch(
                "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables"
                " WHERE schemaname = ANY($1::text[])",
                list(SERVICES),
            )
            names = ", ".join(row["name"] for row in tables)
            while time.time() < deadline:
                held_s = 12.0 if rounds == 1 else 2.0
                async with admin.transaction():
                    await admin.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
                    await asyncio.sleep(min(held_s, max(0.0, deadline - time.time())))
                rounds += 1
                await asyncio.sleep(0.5)
        finally:
            await admin.close()
    return f"{rounds} rounds of locks"


async def _amend_national_faults(control_url: str, **changes: object) -> None:
    """Change part of the simulator's fault plan, keeping the rest (a POST replaces it whole:
    an outage window would end when ambiguous creates begin)."""
    async with httpx.AsyncClient(timeout=10) as client:
        current = await client.get(f"{control_url}/_sim/faults")
        current.raise_for_status()
        reply = await client.post(f"{control_url}/_sim/faults", json={**current.json(), **changes})
        reply.raise_for_status()


async def _national_creates(control_url: str) -> dict[str, int]:
    async with httpx.AsyncClient(timeout=30) as client:
        audit = (await client.get(f"{control_url}/_sim/audit")).json()
    return {t: counts.get("create", 0) for t, counts in audit["applied"].items()}


@dataclass
class Verdict:
    """The invariants: what was expected and what was seen."""

    rows: list[tuple[str, int | float | None, int | float | None, bool]]
    document: dict[str, Any]

    @property
    def held(self) -> bool:
        return all(ok for *_, ok in self.rows)


def judge(
    journeys: list[Journey],
    routed_events: Mapping[str, int],
    notified: Mapping[str, int],
    creates: Mapping[str, int],
    recovery_s: float | None,
) -> Verdict:
    """Pure: the invariants from what the load generator, the stream, the sink and national's
    audit saw. Effective notifications are distinct delivery ids at the sink."""
    accepted = {j.tracking_number: j for j in journeys if j.tracking_number}
    expected_notified = {t for t, j in accepted.items() if j.notification_expected}
    routed = {t for t in accepted if routed_events.get(t, 0) >= 1}
    routed_twice = {t for t in accepted if routed_events.get(t, 0) > 1}
    notified_ok = {t for t in expected_notified if notified.get(t, 0) >= 1}
    mirrored = {t for t in accepted if creates.get(t, 0) == 1}
    duplicated = {t for t in accepted if creates.get(t, 0) > 1}
    lost = {t for t in accepted if t not in routed or (t not in mirrored and t not in duplicated)}
    lost |= expected_notified - notified_ok
    unknown_national = {t for t in creates if t not in accepted}
    n = len(accepted)
    rows: list[tuple[str, int | float | None, int | float | None, bool]] = [
        ("offered complaints accepted (HTTP 202)", len(journeys), n, n == len(journeys)),
        ("routed, once each", n, len(routed), routed == set(accepted) and not routed_twice),
        (
            "agencies notified (distinct delivery ids)",
            len(expected_notified),
            len(notified_ok),
            notified_ok == expected_notified,
        ),
        ("mirrored to national exactly once", n, len(mirrored), len(mirrored) == n),
        ("lost", 0, len(lost), not lost),
        ("duplicate national records", 0, len(duplicated), not duplicated),
        (
            "national records of no accepted complaint",
            0,
            len(unknown_national),
            not unknown_national,
        ),
        ("recovery after the last fault (s)", None, recovery_s, recovery_s is not None),
    ]
    document = {
        "offered": len(journeys),
        "accepted": n,
        "routed": len(routed),
        "routed_more_than_once": len(routed_twice),
        "notified": len(notified_ok),
        "notified_expected": len(expected_notified),
        "central_not_notified": n - len(expected_notified),
        "mirrored": len(mirrored),
        "lost": len(lost),
        "lost_tracking_numbers": sorted(lost)[:50],
        "duplicated_national": len(duplicated),
        "national_records_not_accepted": len(unknown_national),
        "recovery_s": recovery_s,
    }
    return Verdict(rows, document)


def _verdict_table(verdict: Verdict) -> Table:
    table = Table(title="lapor-hub chaos: invariants")
    for column in ("invariant", "expected", "observed", "holds"):
        table.add_column(column, justify="left" if column == "invariant" else "right")
    for name, expected, observed, ok in verdict.rows:
        table.add_row(
            name,
            "-" if expected is None else f"{expected:g}",
            "-" if observed is None else f"{observed:g}",
            "[green]yes[/]" if ok else "[red]NO[/]",
        )
    return table


async def _chaos(
    *,
    stack: ChaosStack,
    processes: Mapping[str, ServiceProcess],
    sink: DeliverySink,
    faults: list[Fault],
    rate: float,
    duration_s: float,
    settle_s: float,
) -> tuple[Verdict, list[dict[str, Any]], dict[str, int]]:
    control_url = processes["simulator"].origin
    keys = await create_keys(stack.database_url, CHANNELS)
    supervisor = Supervisor({name: processes[name] for name in SERVICES})
    watching = asyncio.create_task(supervisor.watch())
    watcher = StageWatcher(stack.bootstrap_servers, COMPLAINT_EVENTS.name)
    await watcher.start()
    origin = time.time()
    _say(origin, f"load: {rate:g}/s for {duration_s:g} s; {len(faults)} faults planned")
    inflicting = [
        asyncio.create_task(_inflict(f, origin, stack, supervisor, control_url)) for f in faults
    ]
    try:
        journeys = await offer_load(
            processes["intake"].origin, keys, rate, duration_s, retry_for_s=90.0
        )
        happened = await asyncio.gather(*inflicting)
        _say(origin, "load and faults over; waiting for every accepted complaint to be through")
        await follow(journeys, watcher, settle_s)
        # The sink and national's audit settle a moment after the stream says so.
        await asyncio.sleep(3)
        notified, creates = sink.notified(), await _national_creates(control_url)
    finally:
        for task in (*inflicting, watching):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.gather(*inflicting, watching, return_exceptions=True)
        await watcher.stop()
    last_fault = max(h.ended for h in happened)
    accepted = [j for j in journeys if j.tracking_number]
    # Per stage, from the last fault's end until every accepted complaint was through it.
    through_s = {
        stage: _all_through_after(accepted, stage, last_fault)
        for stage in ("routed", "notified", "mirrored")
    }
    recovery = through_s["mirrored"]
    routed_events = {t: len(s.events.get("routed", ())) for t, s in watcher.sightings.items()}
    verdict = judge(journeys, routed_events, notified, creates, recovery)
    verdict.document["stage_through_after_last_fault_s"] = through_s
    verdict.document["sink_messages"] = sink.messages
    verdict.document["sink_distinct_deliveries"] = len(sink.deliveries)
    verdict.document["client_attempts"] = sum(j.attempts for j in journeys)
    return verdict, [h.as_json(origin) for h in happened], supervisor.restarts


def _all_through_after(journeys: list[Journey], stage: str, moment: float) -> float | None:
    """Seconds from `moment` until the last complaint was through `stage` (None: not all were;
    complaints for central agencies are never notified)."""
    if stage == "notified":
        journeys = [j for j in journeys if j.notification_expected]
    times: list[float | None] = [getattr(j, stage) for j in journeys]
    known = [t for t in times if t is not None]
    if not known or len(known) < len(times):
        return None
    return round(max(0.0, max(known) - moment), 1)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same clean-up as Ctrl-C


@contextlib.contextmanager
def _started(processes: Mapping[str, ServiceProcess]) -> Iterator[None]:
    try:
        for process in processes.values():
            process.spawn()
        for process in processes.values():
            process.wait_ready(120)
        yield
    finally:
        for process in processes.values():
            process.stop()


def main(  # keyword-only: typer passes options by name
    *,
    short: bool = typer.Option(False, help="CI's form: 80 s of load, one kill per service"),
    duration: float | None = typer.Option(None, help="Seconds of load (default 300, short 80)"),
    rate: float = typer.Option(20.0, help="Complaints a second offered during the faults"),
    seed: int | None = typer.Option(None, help="Seed of the fault plan (default: random)"),
    settle: float = typer.Option(240.0, help="Most seconds to wait for the pipeline to drain"),
    # Below Linux's ephemeral range (32768-60999): a client retrying a stopped server can be
    # given that server's port as its own and keep it, and the restart then fails to bind.
    kafka_port: int = typer.Option(18092, help="The chaos stack's Kafka (controller: +1)"),
    pg_port: int = typer.Option(25432, help="The chaos stack's PostgreSQL"),
    state: Annotated[Path, typer.Option(help="The chaos stack's state")] = DEFAULT_STATE,
) -> None:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    seed = random.randrange(1_000_000) if seed is None else seed
    duration_s = duration or (80.0 if short else 300.0)
    faults = plan_faults(seed, duration_s, kills_per_service=1 if short else 3)
    stack = ChaosStack(state, kafka_port, kafka_port + 1, pg_port)
    console.print(f"chaos: seed {seed}, {duration_s:g} s at {rate:g}/s; stack in {state}")
    for fault in faults:
        console.print(
            f"  +{fault.at_s:6.1f}s  {fault.kind:<9} {fault.target:<12} {fault.hold_s:g} s"
        )
    signal.signal(signal.SIGTERM, _terminate)
    os.environ.update(stack.env())  # this process and every one it starts use the chaos stack
    sink = DeliverySink()
    started = time.time()
    try:
        stack.fresh()
        apply_migrations(stack.database_url)
        asyncio.run(ensure_topics(stack.bootstrap_servers))
        sink.start()
        processes = system_processes(
            stack.database_url,
            stack.bootstrap_servers,
            COMPLAINT_EVENTS.name,
            sink.port,
            name="chaos",
        )
        # Reporters asked where never answer here: their complaints go to triage after 15 s, so
        # the run also checks that path through every fault.
        processes["router"].env = {
            **processes["router"].env,
            "LAPOR_HUB_ROUTER_PLACE_ANSWER_MINUTES": "0.25",
            "LAPOR_HUB_ROUTER_PLACE_CHECK_S": "2",
        }
        for process in processes.values():
            process.log_dir = state / "logs"
        with _started(processes):
            verdict, happened, restarts = asyncio.run(
                _chaos(
                    stack=stack,
                    processes=processes,
                    sink=sink,
                    faults=faults,
                    rate=rate,
                    duration_s=duration_s,
                    settle_s=settle,
                )
            )
    finally:
        sink.stop()
        stack.run("down")
    document = {
        "measured_at": datetime.now(UTC).isoformat(),
        "seed": seed,
        "rate_per_s": rate,
        "duration_s": duration_s,
        **verdict.document,
        "faults": happened,
        "restarts_by_supervisor": restarts,
        "run_s": round(time.time() - started, 1),
        "held": verdict.held,
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    console.print(_verdict_table(verdict))
    console.print(f"written to {RESULTS} (seed {seed}, {document['run_s']} s)")
    if not verdict.held:
        sys.exit(1)


if __name__ == "__main__":
    typer.run(main)
