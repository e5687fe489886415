-- Events the sync service could not mirror, kept with the reason for an operator to replay:
-- unparseable or refused records from Kafka (shared.consumer.keep_in_dead_letters, which fills
-- topic/partition/offset), and events national LAPOR rejected as invalid (queue_id and the
-- national status code; their Kafka position is not known to the queue, hence nullable).
CREATE TABLE dead_letters (
    id               bigserial PRIMARY KEY,
    topic            text NOT NULL,
    partition        integer,
    "offset"         bigint,
    key              bytea,
    payload          bytea,
    error            text NOT NULL,
    queue_id         bigint REFERENCES mirror_queue (id),
    national_status  integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    replayed_at      timestamptz,
    UNIQUE (topic, partition, "offset")
);
