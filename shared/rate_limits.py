"""Rate limits of the HTTP APIs per caller (an API key, a client address): sliding-window
counters of the `limits` library, in each process's memory, refused with 429 and `Retry-After`."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import HTTPException
from limits import RateLimitItem
from limits import parse as parse_rate
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

__all__ = ["CallerLimits", "RateLimitItem", "RateLimits", "parse_rate"]

TOO_MANY = "Terlalu banyak permintaan / too many requests"


class RateLimits:
    def __init__(self) -> None:
        # Two counters per caller. limits' in-memory moving window keeps every hit and expires
        # them through a thread hop per request (a tenth of intake's CPU).
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def hit(self, limit: RateLimitItem, caller: str) -> None:
        """Count this request of `caller`; 429 once `limit` is used up."""
        if not await self._limiter.hit(limit, caller):
            raise await self._too_many(limit, caller)

    async def check(self, limit: RateLimitItem, caller: str) -> None:
        """429 when `caller` has used up `limit` already; counts nothing."""
        if not await self._limiter.test(limit, caller):
            raise await self._too_many(limit, caller)

    async def count(self, limit: RateLimitItem, caller: str) -> None:
        """Count against `limit` without refusing (what `check` later looks at)."""
        await self._limiter.hit(limit, caller)

    async def _too_many(self, limit: RateLimitItem, caller: str) -> HTTPException:
        stats = await self._limiter.get_window_stats(limit, caller)
        retry_after = max(1, int(stats.reset_time - time.time()) + 1)
        return HTTPException(429, TOO_MANY, headers={"Retry-After": str(retry_after)})


@dataclass(frozen=True)
class CallerLimits:
    """An API's callers: each known key within its own limit, and each client address within a
    limit of unknown keys (someone guessing keys is refused 429 before they are told 401)."""

    limits: RateLimits
    per_key: RateLimitItem
    unknown_keys_per_address: RateLimitItem

    @classmethod
    def parse(cls, per_key: str, unknown_keys_per_address: str) -> CallerLimits:
        return cls(RateLimits(), parse_rate(per_key), parse_rate(unknown_keys_per_address))

    async def admit(self, key: str | None, address: str | None) -> None:
        """Count a request of a known key (`key`: its id or name), or of an unknown key (None)
        from `address`."""
        if key is None:
            await self.limits.hit(self.unknown_keys_per_address, f"unknown-key:{address}")
        else:
            await self.limits.hit(self.per_key, f"key:{key}")
