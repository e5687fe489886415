-- The router's own copy of what it needs to decide (and decide again on a re-route), every
-- routing round it made (the re-send history), and the corrections operators and agencies made.
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;

CREATE TABLE complaints (
    complaint_id     uuid PRIMARY KEY,
    tracking_number  text NOT NULL UNIQUE,
    channel          text NOT NULL,
    title            text NOT NULL,
    body             text NOT NULL,
    location_text    text,
    region_code      text,
    district_code    text,
    category         text,
    received_at      timestamptz NOT NULL,
    document         jsonb NOT NULL,  -- the whole complaint, to decide again on a re-route
    current_agency   text,
    closed           boolean NOT NULL DEFAULT false
);
-- Probable duplicates: similar text in the same region within 30 days (pg_trgm).
CREATE INDEX complaints_text_trgm ON complaints
    USING gin ((title || ' ' || body) public.gin_trgm_ops);
CREATE INDEX complaints_region_received ON complaints (region_code, received_at);

CREATE TABLE assignments (
    id                     bigserial PRIMARY KEY,
    complaint_id           uuid NOT NULL REFERENCES complaints,
    routing_round          integer NOT NULL,
    agency_code            text NOT NULL,
    previous_agency_code   text,
    level                  text NOT NULL,
    region_code            text,
    category               text,
    confidence             double precision NOT NULL,
    reasons                jsonb NOT NULL,
    routing_table_version  text NOT NULL,
    decided_by_kind        text NOT NULL,
    decided_by_id          text,
    disposition_due        date NOT NULL,
    followup_due           date NOT NULL,
    possible_duplicate_of  text,
    cause_event_id         uuid NOT NULL UNIQUE,
    created_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (complaint_id, routing_round)
);

-- Labelled examples for the team to review and feed back into the routing table or model.
CREATE TABLE routing_corrections (
    id                bigserial PRIMARY KEY,
    complaint_id      uuid NOT NULL REFERENCES complaints,
    wrong_agency      text,
    right_agency      text,
    source            text NOT NULL,  -- 'agency_rejection' or 'operator_override'
    actor_id          text,
    reason            text,
    cause_event_id    uuid NOT NULL UNIQUE,
    created_at        timestamptz NOT NULL DEFAULT now()
);
