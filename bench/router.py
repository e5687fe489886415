"""Routing decisions per second (Python runs them on one core) and their latency."""

from __future__ import annotations

import time
from pathlib import Path

from bench.baseline import sample_events
from bench.measure import Figures, figures
from bench.pipeline import offered_load_stage
from services.router.domain import ComplaintText, Router, load_routing_table
from services.router.domain.evaluation import LabelledComplaint
from services.router.domain.model import active_model_path, load_model
from shared.kafka import scratch_topic
from shared.settings import Settings
from testkit.processes import ServiceProcess, free_port

EVALUATION_SET = (
    Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "routing_eval.jsonl"
)


def _complaints() -> list[ComplaintText]:
    return [
        LabelledComplaint.model_validate_json(line).complaint()
        for line in EVALUATION_SET.read_text().splitlines()
    ]


def routing_decisions(seconds: float = 3.0) -> list[Figures]:
    """Decisions by the rules alone and with the active topic model, and the model's load."""
    table = load_routing_table()
    path = active_model_path()
    rows = []
    routers = [("rules", Router(table))]
    if path is not None:
        loads = []
        for _ in range(10):
            began = time.perf_counter()
            model = load_model(path)
            loads.append(time.perf_counter() - began)
        rows.append(figures(f"router: topic model load ({model.version})", loads, sum(loads)))
        routers.append((f"rules + model {model.version}", Router(table, model)))
    complaints = _complaints()
    for name, router in routers:
        for complaint in complaints:  # warm the stem cache, as a running service has it
            router.decide(complaint)
        latencies: list[float] = []
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            for complaint in complaints:
                start = time.perf_counter()
                router.decide(complaint)
                latencies.append(time.perf_counter() - start)
        rows.append(
            figures(
                f"router: routing decision, {name} (pure, one core)",
                latencies,
                time.perf_counter() - began,
            )
        )
    return rows


async def router_service(settings: Settings, rates: tuple[float, ...], count: int) -> list[Figures]:
    """The router as a process: ComplaintReceived in → ComplaintRouted out, at offered rates."""
    async with scratch_topic(settings.kafka_bootstrap_servers, "bench.router") as topic:
        port = free_port()
        process = ServiceProcess(
            name="bench-router",
            module="services.router",
            ready_url=f"http://127.0.0.1:{port}/readyz",
            env={
                "LAPOR_HUB_COMPLAINT_EVENTS_TOPIC": topic.name,
                "LAPOR_HUB_ROUTER_METRICS_PORT": str(port),
                "LAPOR_HUB_LOG_LEVEL": "WARNING",
            },
        )
        process.start()
        try:
            results = []
            for rate in rates:
                results.append(
                    await offered_load_stage(
                        f"router: received → routed @ {rate:.0f}/s",
                        bootstrap_servers=settings.kafka_bootstrap_servers,
                        topic=topic.name,
                        inputs=list(sample_events(count)),
                        output_type="ComplaintRouted",
                        rate_per_s=rate,
                    )
                )
            return results
        finally:
            process.stop()
