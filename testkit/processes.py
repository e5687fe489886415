"""Services as real processes for end-to-end and fault tests: start, wait until ready, kill -9."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def listening_sockets(port: int) -> int:
    """Sockets listening on a loopback port (Linux's /proc/net/tcp; state 0A is LISTEN)."""
    local = f"0100007F:{port:04X}"
    rows = (row.split() for row in Path("/proc/net/tcp").read_text().splitlines()[1:])
    return sum(row[1] == local and row[3] == "0A" for row in rows)


@dataclass
class ServiceProcess:
    """One `python -m MODULE` (or another program: `command`) with its own environment and log
    file."""

    name: str
    module: str
    ready_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    log_dir: Path = ROOT / ".local" / "logs" / "tests"
    process: subprocess.Popen[bytes] | None = None
    command: Sequence[str] = ()

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:PORT`: where the process serves HTTP."""
        return "/".join(self.ready_url.split("/")[:3])

    def start(self, timeout_s: float = 60.0) -> None:
        self.spawn()
        self.wait_ready(timeout_s)

    def spawn(self) -> None:
        """Start the process without waiting for it to be ready."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            list(self.command) or [sys.executable, "-m", self.module],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}; see {self.log_path}"
                )
            if self._answers():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready at {self.ready_url}; see {self.log_path}")

    def wait_listening(self, port: int, sockets: int, timeout_s: float = 60.0) -> None:
        """For a process sharing its port with others (SO_REUSEPORT), whose `ready_url` they
        may answer: until `sockets` listen on that loopback port."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}; see {self.log_path}"
                )
            if listening_sockets(port) >= sockets:
                return
            time.sleep(0.2)
        raise TimeoutError(f"not {sockets} sockets listening on port {port}; see {self.log_path}")

    def _answers(self) -> bool:
        """`ready_url` answers: HTTP 200, or for `tcp://HOST:PORT` a connection accepted."""
        if self.ready_url.startswith("tcp://"):
            host, port = self.ready_url.removeprefix("tcp://").split(":")
            try:
                socket.create_connection((host, int(port)), timeout=1.0).close()
            except OSError:
                return False
            return True
        try:
            return httpx.get(self.ready_url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """kill -9: no shutdown hook runs, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def smtp_sink() -> Iterator[int]:
    """A real SMTP server on a free loopback port that accepts and drops every message."""
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def smtp_sink_process(name: str) -> ServiceProcess:
    """The sink as a process of its own (aiosmtpd's command line, dropping every message): a
    benchmark's load generator must not share its interpreter (and GIL) with the sink, or the
    notifier's sends wait on the load generator."""
    port = free_port()
    return ServiceProcess(
        name=name,
        module="aiosmtpd",
        ready_url=f"tcp://127.0.0.1:{port}",
        command=(
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ),
    )


def system_processes(
    database_url: str, bootstrap_servers: str, topic: str, smtp_port: int, name: str
) -> dict[str, ServiceProcess]:
    """Intake, router, notifier and sync, and the national LAPOR simulator sync mirrors to, each
    on free loopback ports, sharing one database and one complaint topic (not yet started)."""
    ports = {
        service: free_port()
        for service in ("intake", "router", "notifier", "sync", "api", "control")
    }
    run = uuid.uuid4().hex[:8]
    common = {
        "LAPOR_HUB_DATABASE_URL": database_url,
        "LAPOR_HUB_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "LAPOR_HUB_COMPLAINT_EVENTS_TOPIC": topic,
        "LAPOR_HUB_LOG_LEVEL": "WARNING",
        # Where an attachment's URL in an event points (and the notifier fetches it): this intake.
        "LAPOR_HUB_INTAKE_PUBLIC_URL": f"http://127.0.0.1:{ports['intake']}",
        # Consumer groups of this run's own: a group shared with other runs' services (other
        # topics) rebalances whenever any of them starts or stops.
        **{
            f"LAPOR_HUB_{service.upper()}_CONSUMER_GROUP": f"{name}-{service}-{run}"
            for service in ("intake", "router", "notifier", "sync")
        },
    }
    return {
        "simulator": ServiceProcess(
            f"{name}-simulator",
            "services.sync.simulator",
            f"http://127.0.0.1:{ports['control']}/_sim/health",
            {
                "LAPOR_HUB_SIMULATOR_PORT": str(ports["api"]),
                "LAPOR_HUB_SIMULATOR_CONTROL_PORT": str(ports["control"]),
                "LAPOR_HUB_SIMULATOR_LOG_LEVEL": "WARNING",
            },
        ),
        "intake": ServiceProcess(
            f"{name}-intake",
            "services.intake",
            f"http://127.0.0.1:{ports['intake']}/readyz",
            {
                **common,
                "LAPOR_HUB_INTAKE_HTTP_PORT": str(ports["intake"]),
                "LAPOR_HUB_INTAKE_RATE_LIMIT": "1000/second",
            },
        ),
        "router": ServiceProcess(
            f"{name}-router",
            "services.router",
            f"http://127.0.0.1:{ports['router']}/readyz",
            {**common, "LAPOR_HUB_ROUTER_METRICS_PORT": str(ports["router"])},
        ),
        "notifier": ServiceProcess(
            f"{name}-notifier",
            "services.notifier",
            f"http://127.0.0.1:{ports['notifier']}/readyz",
            {
                **common,
                "LAPOR_HUB_NOTIFIER_HTTP_PORT": str(ports["notifier"]),
                "LAPOR_HUB_NOTIFIER_PUBLIC_URL": f"http://127.0.0.1:{ports['notifier']}",
                "LAPOR_HUB_NOTIFIER_SMTP_PORT": str(smtp_port),
            },
        ),
        "sync": ServiceProcess(
            f"{name}-sync",
            "services.sync",
            f"http://127.0.0.1:{ports['sync']}/readyz",
            {
                **common,
                "LAPOR_HUB_SYNC_METRICS_PORT": str(ports["sync"]),
                "LAPOR_HUB_NATIONAL_BASE_URL": f"http://127.0.0.1:{ports['api']}",
                "LAPOR_HUB_SYNC_RATE_PER_S": "200",
                "LAPOR_HUB_SYNC_RAMP_S": "1",
            },
        ),
    }


@contextmanager
def running(
    processes: Mapping[str, ServiceProcess], timeout_s: float = 60.0
) -> Iterator[Mapping[str, ServiceProcess]]:
    """Start every process at once, wait until each is ready, stop them all on leaving."""
    with ExitStack() as stack:
        for process in processes.values():
            process.spawn()
            stack.callback(process.stop)
        for process in processes.values():
            process.wait_ready(timeout_s)
        yield processes
