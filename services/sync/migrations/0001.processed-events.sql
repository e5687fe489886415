-- Idempotent consumption: an event id is recorded in the same transaction as its effects,
-- so a redelivered event is recognised and changes nothing.
CREATE TABLE processed_events (
    event_id     uuid PRIMARY KEY,
    event_type   text NOT NULL,
    complaint_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
