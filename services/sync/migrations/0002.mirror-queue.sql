-- What national SP4N-LAPOR! knows of each complaint: the local -> national id mapping, kept in
-- the same transaction as the queue row it completes, so a create is never sent twice once it
-- is known to have succeeded. `origin` says who created it (lapor-hub, or national admins).
CREATE TABLE mirrored_complaints (
    complaint_id        uuid PRIMARY KEY,
    tracking_number     text NOT NULL UNIQUE,
    national_id         bigint NOT NULL UNIQUE,
    origin              text NOT NULL CHECK (origin IN ('local', 'national')),
    correlation_id      uuid NOT NULL,
    -- The institution national has the complaint with, as far as lapor-hub knows.
    institution_id      integer,
    -- When lapor-hub last wrote to it (local clock) and up to which national log entry the
    -- poller has read, so its own writes are not mistaken for national admins acting.
    last_written_at     timestamptz NOT NULL DEFAULT now(),
    national_seen_at    timestamptz,
    mirrored_at         timestamptz NOT NULL DEFAULT now()
);

-- The bounded local queue of events to mirror, one complaint's events in order (by id). A
-- worker claims the oldest pending event of a complaint under a lease (FOR UPDATE SKIP LOCKED);
-- `in_doubt` says a write was sent without a definite answer (or its worker died), so the next
-- attempt first looks on the national side whether it was applied.
CREATE TABLE mirror_queue (
    id               bigserial PRIMARY KEY,
    event_id         uuid NOT NULL UNIQUE,
    complaint_id     uuid NOT NULL,
    tracking_number  text NOT NULL,
    event_type       text NOT NULL,
    payload          bytea NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    in_doubt         boolean NOT NULL DEFAULT false,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_until    timestamptz,
    last_error       text,
    outcome          text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    done_at          timestamptz
);
CREATE INDEX mirror_queue_pending ON mirror_queue (complaint_id, id) WHERE state = 'pending';
CREATE INDEX mirror_queue_due ON mirror_queue (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX mirror_queue_created ON mirror_queue (created_at);

-- Where the poller of national changes has read up to (one row).
CREATE TABLE national_poll (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    cursor     timestamptz,
    polled_at  timestamptz
);
INSERT INTO national_poll DEFAULT VALUES;
