-- endpoint_pace (0005) again, with one change: a booked message that came back after its place made
-- its call at once and its place moved to now, but the places booked after it had been spaced from the
-- place it missed, so the endpoint could get more than its limit in a window (2/min: places 0, 0, 63,
-- 63, 126, 126; the one due at 63 called at 100 made calls at 63, 100, 126, 126: three in 26 s). Now a
-- late message gives its place up and calls now only if no window of the limit's length around now
-- (the robot's window, not the twentieth of margin a new place gets: a message a moment late for a
-- full window's place would never find room) would then hold more than the limit, counting the places
-- booked after it; else it takes a fresh place by the usual rule (after the last place booked) and is
-- deferred again. EndpointPacer.admit keeps the same rule for the pacer of a process alone.
CREATE OR REPLACE FUNCTION endpoint_pace(
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
    fullest bigint;
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
        -- Late: its place goes. The call is made now if no window of the limit's length around now
        -- would hold more than pacing_count places with it (the places booked after the missed one
        -- were spaced from it, not from now); else the message takes a fresh place below, as a
        -- newcomer does, and is deferred again.
        DELETE FROM endpoint_places AS places
        WHERE places.endpoint = pacing_endpoint AND places.idempotency_key = pacing_key;
        SELECT coalesce(max(crowd.places), 0) INTO fullest FROM (
            SELECT (SELECT count(*) FROM endpoint_places AS inside
                    WHERE inside.endpoint = pacing_endpoint AND inside.place >= start.place
                      AND inside.place < start.place + make_interval(secs => pacing_window)) AS places
            FROM (SELECT pacing_now AS place
                  UNION ALL
                  SELECT places.place FROM endpoint_places AS places
                  WHERE places.endpoint = pacing_endpoint
                    AND places.place > pacing_now - make_interval(secs => pacing_window) AND places.place <= pacing_now
                 ) AS start
        ) AS crowd;
        IF fullest < pacing_count THEN
            INSERT INTO endpoint_places (endpoint, place, limit_count, limit_window)
            VALUES (pacing_endpoint, pacing_now, pacing_count, pacing_window);
            RETURN;
        END IF;
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
