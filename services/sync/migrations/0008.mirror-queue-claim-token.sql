-- Each claim of a queue row gets a token of its own: completion, release and dead-lettering
-- change the row only for the claim that holds it (the token matches, the row is pending), so
-- a worker whose lease ran out and was taken over changes nothing when it finishes late.
ALTER TABLE mirror_queue ADD COLUMN claim_token uuid;
