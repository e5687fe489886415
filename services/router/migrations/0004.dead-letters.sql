-- Events the router could not apply (unparseable, or refused by its handler), kept with the
-- reason so an operator can see them and replay them after a fix.
CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    key          bytea,
    payload      bytea,
    error        text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    replayed_at  timestamptz,
    UNIQUE (topic, partition, "offset")
);
