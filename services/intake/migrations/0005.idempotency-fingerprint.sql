-- What the first request with an idempotency key said: the same key with different content is
-- a client's mistake, refused (422) rather than answered with another complaint's number.
ALTER TABLE idempotency_keys ADD COLUMN request_fingerprint text;
