"""Idempotency keys of the inbox actions (`domain/idempotency.py`): per caller (an API key or a
staff account), each with the fingerprint of its request and what the first answer was (the
assignment and its status then); a caller's keys older than the window are forgotten when it
acts again."""

from shared.migrations import create

create(
    """
CREATE TABLE action_idempotency_keys (
    caller           text NOT NULL,
    idempotency_key  text NOT NULL,
    fingerprint      text NOT NULL,
    assignment_id    bigint NOT NULL,
    status           text NOT NULL,
    event_id         uuid NOT NULL,
    remembered_at    timestamptz NOT NULL,
    PRIMARY KEY (caller, idempotency_key)
)""",
)
