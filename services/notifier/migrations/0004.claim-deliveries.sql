-- Due, or orphaned by a worker that died mid-send (its lease ran out).
CREATE FUNCTION claimable(state text, next_attempt_at timestamptz, lease_until timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT (state = 'pending' AND next_attempt_at <= now())
        OR (state = 'sending' AND lease_until <= now())
$$;

-- Claiming due deliveries in one round trip instead of a transaction of five statements. Claims
-- are serialised by a transaction-scoped advisory lock, which makes each agency's limit of
-- deliveries in flight exact across workers and processes; the claim itself, like every
-- statement of a volatile function, sees what committed before the lock was granted.
CREATE FUNCTION claim_deliveries(wanted integer, per_agency integer, lease_s double precision)
RETURNS TABLE (
    delivery_id uuid, complaint_id uuid, tracking_number text, agency_code text, kind text,
    channel text, payload jsonb, attempts integer, cause_event_id uuid, correlation_id uuid,
    created_at timestamptz, secret text
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('notifier.claim'));
    RETURN QUERY
    WITH in_flight AS (
        SELECT agency_code, count(*) AS n FROM notifier.deliveries
        WHERE state = 'sending' AND lease_until > now() GROUP BY agency_code
    ), due AS (
        SELECT delivery_id, agency_code, next_attempt_at, row_number() OVER
            (PARTITION BY agency_code ORDER BY next_attempt_at, created_at) AS place
        FROM notifier.deliveries WHERE notifier.claimable(state, next_attempt_at, lease_until)
    ), placed AS (
        SELECT delivery_id, agency_code, next_attempt_at, place <= per_agency - coalesce(n, 0) AS fits
        FROM due LEFT JOIN in_flight USING (agency_code)
    ), chosen AS (
        SELECT delivery_id FROM placed WHERE fits ORDER BY next_attempt_at LIMIT wanted
    ), locked AS (
        -- Checked again on the row locked: a late worker may have just marked it delivered.
        SELECT delivery_id FROM notifier.deliveries
        WHERE delivery_id IN (SELECT delivery_id FROM chosen)
          AND notifier.claimable(state, next_attempt_at, lease_until)
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE notifier.deliveries d SET state = 'sending', attempts = d.attempts + 1,
            lease_until = now() + make_interval(secs => lease_s)
        FROM locked WHERE d.delivery_id = locked.delivery_id
        RETURNING d.delivery_id, d.complaint_id, d.tracking_number, d.agency_code, d.kind,
            d.channel, d.payload, d.attempts, d.cause_event_id, d.correlation_id, d.created_at,
            (SELECT CASE d.channel
                        WHEN 'webhook' THEN c.contacts -> 'webhook' ->> 'secret'
                        WHEN 'sms' THEN c.contacts -> 'sms_gateway' ->> 'secret' END
             FROM notifier.agency_contacts c WHERE c.agency_code = d.agency_code)
    )
    SELECT * FROM claimed
    -- And a row without a delivery for each agency whose due deliveries wait for a free slot:
    -- a worker finishing one of its deliveries then knows to claim again.
    UNION ALL
    SELECT DISTINCT NULL::uuid, NULL::uuid, NULL::text, agency_code, NULL::text, NULL::text,
        NULL::jsonb, NULL::integer, NULL::uuid, NULL::uuid, NULL::timestamptz, NULL::text
    FROM placed WHERE NOT fits;
END
$$;
