-- An attachment of a confidential complaint is private: /lampiran/{sha256} serves it only with
-- the attachments token (the notifier, for the agency's staff); its reporter sees it on their
-- tracking page. One that a public complaint names too is public (content-addressed: the same
-- photo). Existing rows: private when only confidential complaints name them.
ALTER TABLE attachments ADD COLUMN private boolean NOT NULL DEFAULT false;

UPDATE attachments a SET private = true
WHERE EXISTS (
    SELECT 1 FROM complaints c, jsonb_array_elements(c.document->'attachments') x
    WHERE c.confidential AND x->>'url' LIKE '%/lampiran/' || a.sha256
) AND NOT EXISTS (
    SELECT 1 FROM complaints c, jsonb_array_elements(c.document->'attachments') x
    WHERE NOT c.confidential AND x->>'url' LIKE '%/lampiran/' || a.sha256
);
