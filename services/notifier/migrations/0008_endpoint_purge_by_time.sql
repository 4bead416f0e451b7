-- endpoint_purge (0007) now finds the old places through endpoint_places_by_time, the index on place that
-- 0007 made for it. Its filter, a place an hour past the row's own window
-- (place < purge_now - 1 hour - limit_window), has a bound that depends on the row, so the index could not
-- narrow it and every pass read the whole table (a sequential scan, growing with the endpoints called).
-- Every row it takes is also older than purge_now - 1 hour (a window is never negative): that bound is
-- added, which the index can use, and the row's own condition stays, so the same rows go as before.
-- Oldest first (ORDER BY place): after a statement's first five calls on a connection PL/pgSQL may keep a
-- generic plan (purge_now unknown); without the order that plan was a sequential scan, with it an index
-- scan that stops at the batch.
-- Same signature, same lock_timeout handling, the rest of the function unchanged.
CREATE OR REPLACE FUNCTION endpoint_purge(purge_batch integer, lock_timeout_ms integer) RETURNS integer
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
        WHERE place < purge_now - interval '1 hour'
          AND place < purge_now - interval '1 hour' - make_interval(secs => coalesce(limit_window, 0))
        ORDER BY place
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

-- CREATE OR REPLACE drops the search_path 0007 pinned: pinned again, to the notifier's schema, then
-- pg_catalog, then pg_temp last (SET search_path FROM CURRENT would record the migrator's "<schema>, public").
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION endpoint_purge(integer, integer) SET search_path = %I, pg_catalog, pg_temp', current_schema());
END
$$;
