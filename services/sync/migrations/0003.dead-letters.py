"""Events the sync service could not mirror, kept with the reason for an operator to replay:
unparseable or refused records from Kafka (shared.dead_letters.keep_in_dead_letters, which fills
topic/partition/offset), and events national LAPOR rejected as invalid (queue_id and the
national status code; their Kafka position is not known to the queue, hence nullable)."""

from shared.migrations import create, dead_letters

create(
    dead_letters(
        from_kafka_only=False,
        extra_columns=("queue_id bigint REFERENCES mirror_queue (id)", "national_status integer"),
    )
)
