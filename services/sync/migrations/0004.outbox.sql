-- Transactional outbox (shared.outbox): ComplaintMirrored after a create, national changes as
-- ComplaintStatusChanged / ComplaintReceived, and rejected events for the dead-letter topic,
-- each written in the transaction that records it.
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
