-- What the operator console reads (services/intake/console): every event after a complaint's
-- receipt as it was published (operators see internal events too), and each complaint's progress
-- through the pipeline. Both are written by the timeline consumer, keyed by event id, so a
-- redelivered event changes nothing.
CREATE TABLE operator_timeline (
    event_id      uuid PRIMARY KEY,
    complaint_id  uuid NOT NULL REFERENCES complaints,
    occurred_at   timestamptz NOT NULL,
    event_type    text NOT NULL,
    payload       jsonb NOT NULL
);
CREATE INDEX operator_timeline_by_complaint ON operator_timeline (complaint_id, occurred_at);
CREATE INDEX operator_timeline_by_type ON operator_timeline (event_type, occurred_at);

-- The current assignment (agency, due dates), when its agency was last told, when the complaint
-- first reached national SP4N-LAPOR!, and an operator's pending routing from the triage queue.
CREATE TABLE complaint_progress (
    complaint_id           uuid PRIMARY KEY REFERENCES complaints,
    agency_code            text,
    routed_at              timestamptz,
    disposition_due        date,
    followup_due           date,
    notified_at            timestamptz,
    mirrored_at            timestamptz,
    override_agency_code   text,
    override_requested_at  timestamptz
);
CREATE INDEX complaint_progress_by_agency ON complaint_progress (agency_code);
