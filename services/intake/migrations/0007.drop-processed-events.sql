-- Never written: intake's consumer is idempotent through its timeline's event ids (the
-- timeline's primary key), not a processed-events log. Created by 0001, unused since.
DROP TABLE processed_events;
