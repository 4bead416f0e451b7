-- The shared pacing of one delivery to an endpoint in one statement, so one round trip: it was a
-- transaction of six (BEGIN, search_path, statement_timeout, lock_timeout, the read of the robot's hold,
-- COMMIT) for every endpoint, and another of eleven to take a place under a rate limit. The function
-- sets lock_timeout itself before it reads or locks anything, so a replica frozen holding the endpoint's
-- row (or an ALTER holding a table) makes it fail after that long, as the transaction did; the caller
-- defers the message (endpoint_pacing_busy). Times are the database's clock.
--
-- Returns the robot's hold (the endpoint asked to be left alone until then), else the place to come
-- back at when the rate limit's window is full, else neither: call now. Without a limit
-- (pacing_count NULL) it only reads the hold, taking no lock.
--
-- With a limit it locks the endpoint's row, then, as EndpointPacer.admit did:
--   * drops the places of the past window, and places to come booked under another limit; the work
--     items whose places these were (deferred to them, under the old limit) are made due now and the
--     queue's workers woken (work_channel), so they take new places under the new limit instead of
--     keeping their old time (a mistaken 1/h fixed to 20/min left them waiting up to an hour);
--   * drops, purge_batch at a time, the places of endpoints no longer called (an hour past their
--     window), and their endpoint_pacing rows once they have no place left and no hold in the last
--     hour (renamed or removed endpoints left one row each for good);
--   * gives a booked message its place (late: the call is now, and the place moves to now), or takes
--     the next free place (EndpointPacer.nextPlace: now, or after the last place; when the window is
--     full, a window and a twentieth after the call pacing_count places back).
CREATE FUNCTION endpoint_pace(
    pacing_endpoint text, pacing_key text, pacing_count integer, pacing_window double precision,
    lock_timeout_ms integer, purge_batch integer, work_channel text,
    OUT hold timestamptz, OUT next_place timestamptz
)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    pacing_now timestamptz;
    booked timestamptz;
    latest timestamptz[];
    dropped text[];
    candidate timestamptz;
BEGIN
    PERFORM set_config('lock_timeout', lock_timeout_ms || 'ms', true);
    IF pacing_count IS NULL THEN
        SELECT pacing.held_until INTO hold FROM endpoint_pacing AS pacing
        WHERE pacing.endpoint = pacing_endpoint AND pacing.held_until > clock_timestamp();
        RETURN;
    END IF;

    -- The endpoint's row, locked until the statement ends: one place taken at a time, by any replica.
    INSERT INTO endpoint_pacing AS pacing (endpoint) VALUES (pacing_endpoint)
    ON CONFLICT (endpoint) DO UPDATE SET endpoint = excluded.endpoint
    RETURNING pacing.held_until, clock_timestamp() INTO hold, pacing_now;
    IF hold > pacing_now THEN
        RETURN;
    END IF;
    hold := NULL;

    WITH gone AS (
        DELETE FROM endpoint_places AS places
        WHERE places.endpoint = pacing_endpoint
          AND (places.place <= pacing_now - make_interval(secs => pacing_window)
               OR (places.place > pacing_now
                   AND (places.limit_count IS DISTINCT FROM pacing_count OR places.limit_window IS DISTINCT FROM pacing_window)))
        RETURNING places.place, places.idempotency_key
    )
    SELECT array_agg(gone.idempotency_key) INTO dropped FROM gone
    WHERE gone.place > pacing_now AND gone.idempotency_key IS NOT NULL;
    IF dropped IS NOT NULL THEN
        -- Rows being claimed are coming back anyway: skipped, not waited for.
        WITH repaced AS (
            UPDATE work_queue AS work SET due_at = pacing_now
            WHERE work.id IN (
                SELECT waiting.id FROM work_queue AS waiting
                WHERE waiting.idempotency_key = ANY(dropped) AND waiting.status = 'pending'
                  AND waiting.leased_until IS NULL AND waiting.due_at > pacing_now
                FOR UPDATE SKIP LOCKED)
            RETURNING work.payload
        )
        UPDATE deliveries SET due_at = pacing_now
        FROM repaced WHERE deliveries.notification_id = (repaced.payload ->> 'notificationID')::uuid
          AND deliveries.status = 'deferred';
        PERFORM pg_notify(work_channel, '');
    END IF;

    -- Rows another transaction is removing, or pacing rows being used, are left to it.
    DELETE FROM endpoint_places WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM endpoint_places
        WHERE place < pacing_now - interval '1 hour' - make_interval(secs => coalesce(limit_window, 0))
        LIMIT purge_batch FOR UPDATE SKIP LOCKED));
    DELETE FROM endpoint_pacing WHERE endpoint = ANY(ARRAY(
        SELECT unused.endpoint FROM endpoint_pacing AS unused
        WHERE unused.endpoint <> pacing_endpoint
          AND (unused.held_until IS NULL OR unused.held_until < pacing_now - interval '1 hour')
          AND NOT EXISTS (SELECT FROM endpoint_places AS places WHERE places.endpoint = unused.endpoint)
        LIMIT purge_batch FOR UPDATE SKIP LOCKED));

    SELECT places.place INTO booked FROM endpoint_places AS places
    WHERE places.endpoint = pacing_endpoint AND places.idempotency_key = pacing_key;
    IF FOUND THEN
        IF booked > pacing_now THEN
            next_place := booked;
            RETURN;
        END IF;
        -- Late (its message came back after its place): the call is made now, and later places count
        -- from now, not from the place it missed.
        UPDATE endpoint_places AS places SET idempotency_key = NULL, place = GREATEST(places.place, pacing_now)
        WHERE places.endpoint = pacing_endpoint AND places.idempotency_key = pacing_key;
        RETURN;
    END IF;

    SELECT array_agg(recent.place ORDER BY recent.place) INTO latest FROM (
        SELECT places.place FROM endpoint_places AS places
        WHERE places.endpoint = pacing_endpoint ORDER BY places.place DESC LIMIT pacing_count
    ) AS recent;
    candidate := GREATEST(pacing_now, latest[cardinality(latest)]);
    IF coalesce(cardinality(latest), 0) >= pacing_count THEN
        candidate := GREATEST(candidate, latest[1] + make_interval(secs => pacing_window + pacing_window / 20));
    END IF;
    INSERT INTO endpoint_places (endpoint, place, idempotency_key, limit_count, limit_window)
    VALUES (pacing_endpoint, candidate, CASE WHEN candidate > pacing_now THEN pacing_key END, pacing_count, pacing_window);
    IF candidate > pacing_now THEN
        next_place := candidate;
    END IF;
END
$$;
