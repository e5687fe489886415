"""The agency web inbox (`/instansi`): one account per staff member of an agency (created by an
operator, `lapor-hub instansi create`), each agency's reusable answer templates, and which staff
account took each inbox action (NULL for an action through the API with a key)."""

from shared.migrations import create

create(
    """
CREATE TABLE staff_accounts (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    agency_code    text NOT NULL,
    display_name   text NOT NULL,
    password_hash  text NOT NULL,  -- argon2id (argon2-cffi), never the password
    -- Bumped when the password is set again or the account disabled: older sessions end.
    session_epoch  integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz
)""",
    """
CREATE TABLE answer_templates (
    id           bigserial PRIMARY KEY,
    agency_code  text NOT NULL,
    title        text NOT NULL,
    body         text NOT NULL,
    created_by   bigint REFERENCES staff_accounts,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agency_code, title)
)""",
    "ALTER TABLE assignment_actions ADD COLUMN staff_account_id bigint REFERENCES staff_accounts",
)
