-- Questions to reporters where their complaint is (a kab/kota matter naming no kab/kota): open
-- until answered (routed on the answer) or due (triaged); one per complaint. The model that
-- proposed each assignment's topic is kept beside the table version.
CREATE TABLE place_questions (
    complaint_id       uuid PRIMARY KEY REFERENCES complaints,
    question_event_id  uuid NOT NULL UNIQUE,  -- the ComplaintPlaceRequested
    correlation_id     uuid NOT NULL,
    asked_at           timestamptz NOT NULL DEFAULT now(),
    answer_due         timestamptz NOT NULL,
    outcome            text CHECK (outcome IN ('answered', 'timed_out', 'overridden', 'closed')),
    answer             text,
    settled_at         timestamptz
);
CREATE INDEX place_questions_open_due ON place_questions (answer_due) WHERE outcome IS NULL;

ALTER TABLE assignments ADD COLUMN model_version text;
