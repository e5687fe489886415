-- National complaints an admin acted on that carry lapor-hub's tag but had no mapping yet (the
-- create was applied without an answer, and its retry has not found it yet): the poller keeps
-- them here and publishes their admins' actions once the mapping is saved, instead of passing
-- over them for good as its cursor moves on.
CREATE TABLE national_deferred (
    national_id  bigint PRIMARY KEY,
    deferred_at  timestamptz NOT NULL DEFAULT now()
);
