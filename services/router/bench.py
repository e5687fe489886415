"""Routing decisions per second on one core: the figure `make bench` reports for the rules."""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import cycle

from services.router.domain import ComplaintText, Router


def decisions_per_second(
    router: Router, complaints: Sequence[ComplaintText], seconds: float = 2.0
) -> float:
    """Decide complaints round-robin for about `seconds`; the stem cache is warmed first."""
    for complaint in complaints:
        router.decide(complaint)
    decided = 0
    started = time.perf_counter()
    deadline = started + seconds
    for complaint in cycle(complaints):
        router.decide(complaint)
        decided += 1
        if decided % 100 == 0 and time.perf_counter() >= deadline:
            break
    return decided / (time.perf_counter() - started)
