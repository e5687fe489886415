"""What the reporter said on a complaint (a reply to the agency), kept for the agency web inbox's
history; shown only through the privacy rules (`domain/privacy.py`: masked like the complaint)."""

from shared.migrations import create

create(
    """
CREATE TABLE reporter_events (
    event_id      uuid PRIMARY KEY,
    complaint_id  uuid NOT NULL,
    status        text NOT NULL,
    note          text,
    occurred_at   timestamptz NOT NULL
)""",
    "CREATE INDEX reporter_events_complaint ON reporter_events (complaint_id)",
)
