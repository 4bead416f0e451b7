-- Out of a delivery's way, and pinned.
--
-- endpoint_pace (0005) again without the purge of other endpoints' old rows: every paced delivery ran
-- it holding its endpoint's row lock, a sequential scan of endpoint_places (its index starts with the
-- endpoint) and a scan of endpoint_pacing, work growing with the number of endpoints. endpoint_purge
-- does it now, purge_batch rows at a time, from each replica's background loop (RateLimitChanges, every
-- reload interval), with an index on the place. endpoint_pace keeps its parameters (purge_batch unused)
-- so that replicas of the previous version keep calling it during a rolling upgrade.
CREATE INDEX endpoint_places_by_time ON endpoint_places (place);

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

-- The rows of endpoints no longer called: their places an hour past their window, then their
-- endpoint_pacing row once it has no place left and no hold in the last hour (renamed or removed
-- endpoints left one row each for good); at most purge_batch of each. Rows another transaction holds
-- (a delivery pacing that endpoint) are skipped, never waited for. Returns how many rows went.
CREATE FUNCTION endpoint_purge(purge_batch integer, lock_timeout_ms integer) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    purge_now timestamptz := clock_timestamp();
    places_gone integer;
    pacing_gone integer;
BEGIN
    PERFORM set_config('lock_timeout', lock_timeout_ms || 'ms', true);
    DELETE FROM endpoint_places WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM endpoint_places
        WHERE place < purge_now - interval '1 hour' - make_interval(secs => coalesce(limit_window, 0))
        LIMIT purge_batch FOR UPDATE SKIP LOCKED));
    GET DIAGNOSTICS places_gone = ROW_COUNT;
    DELETE FROM endpoint_pacing WHERE endpoint = ANY(ARRAY(
        SELECT unused.endpoint FROM endpoint_pacing AS unused
        WHERE (unused.held_until IS NULL OR unused.held_until < purge_now - interval '1 hour')
          AND NOT EXISTS (SELECT FROM endpoint_places AS places WHERE places.endpoint = unused.endpoint)
        LIMIT purge_batch FOR UPDATE SKIP LOCKED));
    GET DIAGNOSTICS pacing_gone = ROW_COUNT;
    RETURN places_gone + pacing_gone;
END
$$;

-- A robot's refusal recorded for every replica: nothing goes to the endpoint until hold_seconds from
-- now on the database's clock (a later hold already recorded stays). One statement: it was a
-- transaction (BEGIN, search_path, two timeouts, the INSERT, COMMIT), and a replica frozen between its
-- INSERT and its COMMIT kept the endpoint's row locked, deferring every delivery to that endpoint
-- until its connection died. lock_timeout is set first, as in endpoint_pace.
CREATE FUNCTION endpoint_hold(pacing_endpoint text, hold_seconds double precision, lock_timeout_ms integer) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM set_config('lock_timeout', lock_timeout_ms || 'ms', true);
    INSERT INTO endpoint_pacing AS pacing (endpoint, held_until)
    VALUES (pacing_endpoint, clock_timestamp() + make_interval(secs => hold_seconds))
    ON CONFLICT (endpoint) DO UPDATE SET held_until = GREATEST(pacing.held_until, excluded.held_until);
END
$$;

-- Each function runs with the notifier's schema, then pg_catalog, then pg_temp last: SET search_path
-- FROM CURRENT recorded "<schema>, public" (the migrator's path), so an object in public, or a
-- temporary table, could stand in for one they use.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION endpoint_pace(text, text, integer, double precision, integer, integer, text) SET search_path = %I, pg_catalog, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION endpoint_repace(text, integer, double precision, integer, text) SET search_path = %I, pg_catalog, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION endpoint_purge(integer, integer) SET search_path = %I, pg_catalog, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION endpoint_hold(text, double precision, integer) SET search_path = %I, pg_catalog, pg_temp', current_schema());
END
$$;
