"""How the national client reads answers: which error each status asks the caller to handle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.sync.adapters.national import (
    AmbiguousWriteError,
    NationalAnswer,
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
        (502, True, AmbiguousWriteError),
        (502, False, NationalUnavailableError),
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
    answer = NationalAnswer(status, b"nope", retry_after="3")
    with pytest.raises(error):
        checked_answer("op", answer, write=write)
    assert checked_answer("op", NationalAnswer(201, b""), write=write).status == 201
