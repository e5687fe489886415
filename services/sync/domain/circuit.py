"""The circuit breaker in front of national LAPOR: pure state, the caller passes the clock.

Closed: traffic flows; `failure_threshold` failures in a row open it. Open: nothing is sent but
a probe every `probe_interval_s` (doubling up to `max_probe_interval_s` while probes fail), so a
service that is down is not hammered. Half-open: one probe is in flight; its success closes the
circuit (and the caller starts the drain's ramp-up), its failure opens it again.
"""

from __future__ import annotations

from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


class CircuitBreaker:
    def __init__(
        self, failure_threshold: int, probe_interval_s: float, max_probe_interval_s: float
    ) -> None:
        self.failure_threshold = failure_threshold
        self.probe_interval_s = probe_interval_s
        self.max_probe_interval_s = max(max_probe_interval_s, probe_interval_s)
        self.state = CircuitState.CLOSED
        self.failures = 0
        self.opened_at: float | None = None
        self.next_probe_at = 0.0
        self._interval = probe_interval_s

    @property
    def allows_traffic(self) -> bool:
        return self.state is CircuitState.CLOSED

    def outage_seconds(self, now: float) -> float:
        """How long the circuit has been open (0 when closed)."""
        return 0.0 if self.opened_at is None else now - self.opened_at

    def start_probe(self, now: float) -> bool:
        """True when a probe is due: the circuit is then half-open until its result is known."""
        if self.state is not CircuitState.OPEN or now < self.next_probe_at:
            return False
        self.state = CircuitState.HALF_OPEN
        return True

    def succeeded(self) -> bool:
        """Record a success; True when it ends an outage (time to ramp the drain up)."""
        recovered = self.state is not CircuitState.CLOSED
        self.state = CircuitState.CLOSED
        self.failures = 0
        self.opened_at = None
        self._interval = self.probe_interval_s
        return recovered

    def failed(self, now: float) -> None:
        match self.state:
            case CircuitState.CLOSED:
                self.failures += 1
                if self.failures >= self.failure_threshold:
                    self._open(now, self.probe_interval_s)
            case CircuitState.HALF_OPEN:
                self._open(now, min(self._interval * 2, self.max_probe_interval_s))
            case CircuitState.OPEN:
                pass  # a request sent before it opened; the probe schedule stands

    def _open(self, now: float, interval: float) -> None:
        self.state = CircuitState.OPEN
        if self.opened_at is None:
            self.opened_at = now
        self._interval = interval
        self.next_probe_at = now + interval
