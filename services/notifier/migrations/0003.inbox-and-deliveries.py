"""The notifier's own copy of each complaint (ComplaintRouted does not carry its text), each
agency's assignments and what the agency did with them, the agency directory, API keys, and
the durable delivery queue (one row per notification and channel), and the events the notifier
could not apply, kept with the reason for an operator to replay (`shared.migrations.dead_letters`).
"""

from shared.migrations import create, dead_letters

create(
    """
CREATE TABLE complaints (
    complaint_id     uuid PRIMARY KEY,
    tracking_number  text NOT NULL UNIQUE,
    document         jsonb NOT NULL  -- the whole complaint; agencies only see it through the
                                     -- privacy rules (services/notifier/domain/privacy.py)
);

CREATE TABLE assignments (
    id                    bigserial PRIMARY KEY,
    complaint_id          uuid NOT NULL,
    tracking_number       text NOT NULL,
    routing_round         integer NOT NULL,
    agency_code           text NOT NULL,
    previous_agency_code  text,
    status                text NOT NULL DEFAULT 'routed',
    current               boolean NOT NULL DEFAULT true,  -- false once re-routed elsewhere
    disposition_due       date NOT NULL,
    followup_due          date NOT NULL,
    routed_event_id       uuid NOT NULL UNIQUE,
    correlation_id        uuid NOT NULL,
    routed_at             timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (complaint_id, routing_round)
);
CREATE UNIQUE INDEX assignments_one_current ON assignments (complaint_id) WHERE current;
CREATE INDEX assignments_agency_current ON assignments (agency_code, followup_due) WHERE current;

-- What agencies did (the inbox's timeline); each row was announced as ComplaintStatusChanged.
CREATE TABLE assignment_actions (
    id              bigserial PRIMARY KEY,
    assignment_id   bigint NOT NULL REFERENCES assignments,
    action          text NOT NULL,
    previous_status text NOT NULL,
    status          text NOT NULL,
    note            text,
    suggested_agency_code text,
    key_name        text NOT NULL,
    event_id        uuid NOT NULL UNIQUE,
    acted_at        timestamptz NOT NULL DEFAULT now()
);

-- Loaded from agency_directory.toml at start-up; rows edited through the API (source 'api')
-- are kept over the file.
CREATE TABLE agency_contacts (
    agency_code  text PRIMARY KEY,
    contacts     jsonb NOT NULL,
    source       text NOT NULL CHECK (source IN ('file', 'api')),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- API keys are stored hashed (SHA-256 of a 256-bit random key); agency_code NULL = operator.
CREATE TABLE api_keys (
    key_hash     text PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    agency_code  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

-- The durable delivery queue. delivery_id is derived from notification_key, so enqueueing the
-- same notification twice is one row, and receivers can drop duplicates by it.
CREATE TABLE deliveries (
    delivery_id       uuid PRIMARY KEY,
    notification_key  text NOT NULL UNIQUE,
    complaint_id      uuid NOT NULL,
    tracking_number   text NOT NULL,
    agency_code       text NOT NULL,
    kind              text NOT NULL,  -- assigned, rerouted, reminder, escalation
    channel           text NOT NULL CHECK (channel IN ('email', 'webhook', 'sms')),
    target            text NOT NULL,  -- addresses or URL, as resolved when enqueued
    payload           jsonb NOT NULL, -- the rendered message: every retry sends the same
    cause_event_id    uuid NOT NULL,
    correlation_id    uuid NOT NULL,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_until       timestamptz,  -- a 'sending' row whose lease ran out was orphaned by a crash
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state IN ('pending', 'sending');
CREATE INDEX deliveries_dead ON deliveries (created_at) WHERE state = 'dead';
""",
    dead_letters(),
)
