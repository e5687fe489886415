"""Every accepted complaint, the keys that make a retried submission return the same one, the
API keys of channels and operators (hashed), the public timeline built from later events, and
the events intake could not apply to the timeline (`shared.migrations.dead_letters`).
"""

from shared.migrations import create, dead_letters

create(
    """
CREATE TABLE complaints (
    complaint_id         uuid PRIMARY KEY,
    tracking_number      text NOT NULL UNIQUE,
    channel              text NOT NULL,
    channel_message_id   text,
    document             jsonb NOT NULL,
    access_token_hash    text,
    confidential         boolean NOT NULL,
    status               text NOT NULL DEFAULT 'received',
    agency_code          text,
    received_at          timestamptz NOT NULL,
    submitted_by         text NOT NULL,
    UNIQUE (channel, channel_message_id)
);

CREATE TABLE idempotency_keys (
    api_key_id       bigint NOT NULL,
    idempotency_key  text NOT NULL,
    tracking_number  text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, idempotency_key)
);

CREATE TABLE api_keys (
    id          bigserial PRIMARY KEY,
    key_hash    text NOT NULL UNIQUE,
    scope_kind  text NOT NULL CHECK (scope_kind IN ('channel', 'operator')),
    scope_name  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE timeline (
    event_id      uuid PRIMARY KEY,
    complaint_id  uuid NOT NULL REFERENCES complaints,
    occurred_at   timestamptz NOT NULL,
    status        text NOT NULL,
    public_note   text
);
CREATE INDEX timeline_by_complaint ON timeline (complaint_id, occurred_at);

-- A reporter's reply (a message quoting a tracking number or answering in the same thread) is
-- added to its complaint; its channel message id makes a replayed reply count once.
CREATE TABLE replies (
    channel             text NOT NULL,
    channel_message_id  text NOT NULL,
    complaint_id        uuid NOT NULL REFERENCES complaints,
    event_id            uuid NOT NULL,
    PRIMARY KEY (channel, channel_message_id)
);
""",
    dead_letters(),
)
