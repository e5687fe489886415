"""A service's background tasks (shared/runtime.py): which stopping makes it unhealthy."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from shared.ops_http import health
from shared.runtime import BackgroundTasks


def _running(task: str) -> float | None:
    return REGISTRY.get_sample_value("lapor_hub_background_task_running", {"task": task})


async def _forever() -> None:
    await asyncio.Event().wait()


async def _failing() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("a bug in the relay")


async def test_running_tasks_are_healthy_and_measured() -> None:
    background = BackgroundTasks()
    background.start(_forever(), "test-relay")
    await asyncio.sleep(0)
    assert background.stopped() == []
    assert health(background.stopped()) == ({"status": "ok"}, 200)
    assert _running("test-relay") == 1
    await background.cancel()


async def test_a_task_that_fails_makes_the_service_unhealthy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    background = BackgroundTasks()
    background.start(_forever(), "test-poller")
    with caplog.at_level(logging.CRITICAL, logger="shared.runtime"):
        background.start(_failing(), "test-mirror")
        await asyncio.sleep(0.01)
    assert background.stopped() == ["test-mirror"]
    assert health(background.stopped()) == ({"status": "failing", "stopped": ["test-mirror"]}, 503)
    assert _running("test-mirror") == 0
    assert _running("test-poller") == 1
    assert "test-mirror stopped" in caplog.text
    assert "a bug in the relay" in caplog.text
    await background.cancel()


async def test_work_that_ends_by_itself_is_not_a_failure() -> None:
    background = BackgroundTasks()
    background.start(asyncio.sleep(0), "test-starter", lasting=False)
    await asyncio.sleep(0.01)
    assert background.stopped() == []
    await background.cancel()


async def test_stopping_the_service_cancels_every_task_and_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    background = BackgroundTasks()
    background.start(_forever(), "test-deliveries")
    background.start(_forever(), "test-starter-2", lasting=False)
    await asyncio.sleep(0)
    with caplog.at_level(logging.CRITICAL, logger="shared.runtime"):
        await background.cancel()
    assert _running("test-deliveries") == 0
    assert caplog.text == ""
