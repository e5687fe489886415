-- What a key may do: an agency's key its own inbox; of the hub's keys (no agency), a directory
-- admin edits agencies' contacts and a dead-letter operator lists and retries dead deliveries,
-- neither the other's (an operator key could point any agency's alerts anywhere). The hub's
-- keys made before roles existed keep the narrower power, dead letters (the console's use).
-- The default keeps key inserts that name no role working: such a key without an agency may
-- do nothing.
ALTER TABLE api_keys ADD COLUMN role text NOT NULL DEFAULT 'agency'
    CHECK (role IN ('agency', 'directory_admin', 'dead_letter_operator'));
UPDATE api_keys SET role = 'dead_letter_operator' WHERE agency_code IS NULL;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_hub_roles_have_no_agency
    CHECK (role = 'agency' OR agency_code IS NULL);
