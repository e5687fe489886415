"""How the national client reads answers: which error each status asks the caller to handle."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from services.sync.adapters.national import (
    AmbiguousWriteError,
    NationalError,
    NationalUnavailableError,
    RateLimitedError,
    RejectedError,
    checked_answer,
    retry_after_seconds,
)


def test_retry_after_reads_seconds_and_dates() -> None:
    now = datetime(2026, 11, 28, 8, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7
    assert retry_after_seconds("Sat, 28 Nov 2026 08:00:30 GMT", now) == 30
    assert retry_after_seconds("Sat, 28 Nov 2026 07:00:00 GMT", now) == 0
    assert retry_after_seconds("soon", now) == 1
    assert retry_after_seconds(None, now) == 1


@pytest.mark.parametrize(
    ("status", "write", "error"),
    [
        (429, True, RateLimitedError),
        (408, False, NationalUnavailableError),
        (502, True, NationalUnavailableError),
        (503, True, NationalUnavailableError),
        (500, False, NationalUnavailableError),
        (500, True, AmbiguousWriteError),
        (504, True, AmbiguousWriteError),
        (400, True, RejectedError),
        (401, False, RejectedError),
        (422, True, RejectedError),
    ],
)
def test_status_maps_to_the_error_the_caller_handles(
    status: int, write: bool, error: type[NationalError]
) -> None:
    response = httpx.Response(status, headers={"Retry-After": "3"}, text="nope")
    with pytest.raises(error):
        checked_answer("op", response, write=write)
    assert checked_answer("op", httpx.Response(201), write=write).status_code == 201
