"""Which database errors a loop or a consumer waits out rather than stopping or dead-lettering."""

from __future__ import annotations

import asyncpg

from shared.db import DATABASE_AWAY, TRANSIENT_ERRORS


def test_a_connection_a_restart_left_half_reset_is_waited_out() -> None:
    # Seen in a chaos run: PostgreSQL restarted under a claim, and the delivery worker stopped on
    # "cannot switch to state 12; another operation (2) is in progress".
    error = asyncpg.InternalClientError(
        "cannot switch to state 12; another operation is in progress"
    )

    assert isinstance(error, DATABASE_AWAY)
    assert isinstance(error, TRANSIENT_ERRORS)
