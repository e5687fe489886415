-- The operator console's sessions, held on the server so that logging out ends one: the cookie
-- carries a random token (signed), the table only its SHA-256; a cookie replayed after logout,
-- expiry or its key's revocation finds no open session here and is sent to the login page.
CREATE TABLE console_sessions (
    token_hash  text PRIMARY KEY,
    key_id      bigint NOT NULL REFERENCES api_keys,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
