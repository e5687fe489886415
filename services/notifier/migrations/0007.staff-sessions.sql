-- The agency web inbox's sessions, held on the server so that logging out ends one: the cookie
-- carries a random token (signed), the table only its SHA-256; a cookie replayed after logout,
-- expiry, a new password or the account's disabling finds no session here. They replace
-- staff_accounts.session_epoch, which no code reads any more (left in place while branches that
-- read it still run against shared databases; a later migration drops it).
CREATE TABLE staff_sessions (
    token_hash  text PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES staff_accounts,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX staff_sessions_by_account ON staff_sessions (account_id);
CREATE INDEX staff_sessions_by_expiry ON staff_sessions (expires_at);
