-- Never written: sync's consumer is idempotent through the mirror queue (one row per event id),
-- not a processed-events log. Created by 0001, unused since.
DROP TABLE processed_events;
