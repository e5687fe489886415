"""When the sync service takes new events from Kafka: pure backpressure with hysteresis.

While national is down (the circuit is not closed) or the local queue is at its bound, Kafka
keeps the backlog: consumption pauses, nothing more is fetched or committed, and memory stays
flat however long the outage lasts. It resumes once national answers and the queue has drained
to half its bound, so it does not flap around the bound.
"""

from __future__ import annotations

from services.sync.domain.circuit import CircuitState


def keep_paused(paused: bool, circuit: CircuitState, backlog: int, bound: int) -> bool:
    if circuit is not CircuitState.CLOSED:
        return True
    if paused:
        return backlog > bound // 2
    return backlog >= bound
