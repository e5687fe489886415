"""How fast the sync service may call national LAPOR: a token bucket whose rate ramps up.

After an outage the rate starts at `ramp_start_fraction` of the configured rate and grows
linearly to it over `ramp_s`, so a service that just came back is not flooded with the backlog.
A 429 holds every call until its `Retry-After` has passed and restarts the ramp from half the
rate reached (never below the ramp's start), which converges just under the national limit.
"""

from __future__ import annotations


class DrainPace:
    def __init__(
        self,
        rate_per_s: float,
        *,
        burst: float = 1.0,
        ramp_start_fraction: float = 0.25,
        ramp_s: float = 10.0,
        now: float,
    ) -> None:
        self.target = rate_per_s
        self.burst = burst
        self.floor = rate_per_s * ramp_start_fraction
        self.ramp_s = ramp_s
        self._ramp_from_rate = rate_per_s
        self._ramp_started = now - ramp_s
        self._tokens = burst
        self._updated = now
        self.hold_until = now

    def rate(self, now: float) -> float:
        if self.ramp_s <= 0:
            return self.target
        progress = min(1.0, max(0.0, (now - self._ramp_started) / self.ramp_s))
        return self._ramp_from_rate + (self.target - self._ramp_from_rate) * progress

    def take(self, now: float) -> float:
        """0 when a call may go now (its token is taken), else the seconds to wait."""
        rate = self.rate(now)
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._updated) * rate)
        self._updated = now
        if now < self.hold_until:
            return self.hold_until - now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / rate

    def give_back(self) -> None:
        """A token taken for a call that was not made after all."""
        self._tokens = min(self.burst, self._tokens + 1)

    def recovered(self, now: float) -> None:
        """National is back after an outage: start from the ramp's floor, nothing saved up."""
        self._ramp(now, self.floor)

    def rate_limited(self, now: float, retry_after_s: float) -> None:
        self.hold_until = max(self.hold_until, now + retry_after_s)
        self._ramp(now, max(self.floor, self.rate(now) / 2))

    def _ramp(self, now: float, from_rate: float) -> None:
        self._ramp_from_rate = from_rate
        self._ramp_started = now
        self._tokens = 0.0
        self._updated = now
