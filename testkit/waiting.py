"""Waiting in tests for what other processes do (Kafka's events reaching a service, a page
filling): a condition checked until it holds or time runs out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout_s: float = 60, interval_s: float = 0.3
) -> None:
    """Until `check()` is true; AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(interval_s)
