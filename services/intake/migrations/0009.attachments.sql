-- Reporters' photos and documents, content-addressed: the SHA-256 of what is stored (EXIF
-- already removed) is the key, so the same file sent twice (a double submit) is one row. Kept in
-- PostgreSQL so that they are as durable as the complaint and backed up with it; the move to an
-- S3-style object store keeps the key as the object's name (see services/intake/README.md).
CREATE TABLE attachments (
    sha256        text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type  text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png',
                                                       'application/pdf')),
    size_bytes    integer NOT NULL,
    content       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
