-- Status updates (complaints.updated.v1 resolved, closed, reopened) can be read out of order: a `reopened`
-- dead-lettered and redriven after the complaint was resolved and closed again, or one from an older build
-- during a rolling deploy. Each complaint keeps the time of the status update its status comes from
-- (occurredAt); an older update changes nothing, so a late `reopened` never stores a closed complaint as
-- open (nor counts it against its owner's capacity again). One at the same instant is applied (read order:
-- a complaint's updates share its key, so a resolve and a reopen in one millisecond end open). NULL (rows made before this
-- migration, or by a classification or an acknowledgement): unknown, older than any update.
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS status_at timestamptz;

-- A verdict naming another hotel than the complaint's (complaints.classified.v1 keyed by complaint, the
-- hotel taken from the event) was stored on the complaint and planned with that hotel's people. The
-- complaint's hotel is checked first: on a mismatch nothing is stored (o_applied false) and o_hotel_id,
-- the complaint's own hotel, tells the caller, which dead-letters the verdict. Otherwise as in migration
-- 0005 (same arguments, one more column; callers naming their columns are unaffected).
DROP FUNCTION IF EXISTS record_classification(uuid, text, text, text, smallint, text, boolean, boolean, timestamptz, timestamptz);

CREATE FUNCTION record_classification(
    p_complaint_id uuid, p_hotel_id text, p_category text, p_severity text, p_priority smallint, p_language text,
    p_vip boolean, p_safety boolean, p_registered_at timestamptz, p_classified_at timestamptz)
RETURNS TABLE (
    o_revision bigint, o_status text, o_department text, o_staff_id text, o_escalation_level smallint, o_version integer,
    o_loads jsonb, o_turns jsonb, o_applied boolean, o_acknowledged boolean, o_hotel_id text)
LANGUAGE plpgsql VOLATILE
SET search_path FROM CURRENT
AS $$
DECLARE
    v_revision bigint;
    v_hotel text;
    v_applied boolean := false;
BEGIN
    SELECT h.revision INTO v_revision FROM hotels AS h WHERE h.hotel_id = p_hotel_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT c.hotel_id INTO v_hotel FROM complaints AS c WHERE c.complaint_id = p_complaint_id FOR UPDATE;
    IF v_hotel IS NULL OR v_hotel = p_hotel_id THEN
        -- The conflicting row is locked even when the WHERE turns the update down.
        INSERT INTO complaints AS c (complaint_id, hotel_id, category, severity, priority, language, vip, safety, registered_at, classified_at)
        VALUES (p_complaint_id, p_hotel_id, p_category, p_severity, p_priority, p_language, p_vip, p_safety, p_registered_at, p_classified_at)
        ON CONFLICT (complaint_id) DO UPDATE SET category = excluded.category, severity = excluded.severity,
            priority = excluded.priority, language = excluded.language, vip = excluded.vip, safety = excluded.safety,
            registered_at = excluded.registered_at, classified_at = excluded.classified_at, updated_at = now()
        WHERE (c.classified_at IS NULL OR c.classified_at < excluded.classified_at) AND c.hotel_id = excluded.hotel_id
        RETURNING true INTO v_applied;
    END IF;
    RETURN QUERY
    SELECT v_revision, s.status, s.department, s.staff_id, s.escalation_level, s.version,
        (SELECT coalesce(jsonb_object_agg(l.staff_id, l.open), '{}'::jsonb)
         FROM (SELECT o.staff_id, count(*) AS open FROM complaints AS o
               WHERE o.hotel_id = p_hotel_id AND o.status = 'open' AND o.staff_id IS NOT NULL GROUP BY o.staff_id) AS l),
        (SELECT coalesce(jsonb_object_agg(r.department, r.last_staff_id), '{}'::jsonb) FROM round_robin AS r WHERE r.hotel_id = p_hotel_id),
        coalesce(v_applied, false), s.acknowledged_at IS NOT NULL OR NOT s.acknowledgement_known, s.hotel_id
    FROM complaints AS s WHERE s.complaint_id = p_complaint_id;
END
$$;
