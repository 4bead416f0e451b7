-- Messages deferred to places booked under an endpoint's old rate limit, made due at once when the
-- rules file changes the limit (reloaded, or a replica started with it), not only at the endpoint's
-- next call (endpoint_pace, 0005): with no newcomer for that endpoint they kept their old due time (a
-- mistaken 1/h fixed to 20/min: up to an hour), and an endpoint whose limit was removed
-- (rateLimit: none, pacing_count NULL) takes no place, so endpoint_pace never dropped them. Locks the
-- endpoint's row as endpoint_pace does (lock_timeout set first); returns how many messages were made due.
CREATE FUNCTION endpoint_repace(
    pacing_endpoint text, pacing_count integer, pacing_window double precision, lock_timeout_ms integer, work_channel text
) RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    pacing_now timestamptz;
    dropped text[];
    repaced integer := 0;
BEGIN
    PERFORM set_config('lock_timeout', lock_timeout_ms || 'ms', true);
    PERFORM FROM endpoint_pacing AS pacing WHERE pacing.endpoint = pacing_endpoint FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    pacing_now := clock_timestamp();

    WITH gone AS (
        DELETE FROM endpoint_places AS places
        WHERE places.endpoint = pacing_endpoint AND places.place > pacing_now
          AND (pacing_count IS NULL OR places.limit_count IS DISTINCT FROM pacing_count
               OR places.limit_window IS DISTINCT FROM pacing_window)
        RETURNING places.idempotency_key
    )
    SELECT array_agg(gone.idempotency_key) INTO dropped FROM gone WHERE gone.idempotency_key IS NOT NULL;
    IF dropped IS NULL THEN
        RETURN 0;
    END IF;
    -- As in endpoint_pace: rows being claimed are coming back anyway.
    WITH repaced_work AS (
        UPDATE work_queue AS work SET due_at = pacing_now
        WHERE work.id IN (
            SELECT waiting.id FROM work_queue AS waiting
            WHERE waiting.idempotency_key = ANY(dropped) AND waiting.status = 'pending'
              AND waiting.leased_until IS NULL AND waiting.due_at > pacing_now
            FOR UPDATE SKIP LOCKED)
        RETURNING work.payload
    ), deferred AS (
        UPDATE deliveries SET due_at = pacing_now
        FROM repaced_work WHERE deliveries.notification_id = (repaced_work.payload ->> 'notificationID')::uuid
          AND deliveries.status = 'deferred'
    )
    SELECT count(*) INTO repaced FROM repaced_work;
    IF repaced > 0 THEN
        PERFORM pg_notify(work_channel, '');
    END IF;
    RETURN repaced;
END
$$;
