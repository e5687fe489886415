"""Routing decisions per second (Python runs them on one core) and their latency."""

from __future__ import annotations

import time
from pathlib import Path

from bench.measure import Figures, figures
from services.router.domain import ComplaintText, Router, load_routing_table
from services.router.domain.evaluation import LabelledComplaint

EVALUATION_SET = (
    Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "routing_eval.jsonl"
)


def _complaints() -> list[ComplaintText]:
    return [
        LabelledComplaint.model_validate_json(line).complaint()
        for line in EVALUATION_SET.read_text().splitlines()
    ]


def routing_decisions(seconds: float = 3.0) -> Figures:
    router = Router(load_routing_table())
    complaints = _complaints()
    for complaint in complaints:  # warm the stem cache, as a running service has it
        router.decide(complaint)
    latencies: list[float] = []
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        for complaint in complaints:
            start = time.perf_counter()
            router.decide(complaint)
            latencies.append(time.perf_counter() - start)
    return figures(
        "router: routing decision (pure, one core)", latencies, time.perf_counter() - began
    )
