-- Transactional outbox: an event is written in the same transaction as the state it announces
-- and a relay publishes it to Kafka. Rows are claimed by state (FOR UPDATE SKIP LOCKED), never
-- by a moving id cursor, so a late-committing transaction cannot be skipped.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    complaint_id  uuid NOT NULL,
    event_type    text NOT NULL,
    topic         text NOT NULL,
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
