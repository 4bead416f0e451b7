-- Migration 0004 records every acknowledgement from now on, but a complaint stored before it may have been
-- acknowledged after its first assignment without a trace (only acknowledgements before it were kept). Such
-- a complaint counts as acknowledged, so a reclassification keeps its owner, as it always did: rows existing
-- now get acknowledgement_known = false, rows made from now on true.
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS acknowledgement_known boolean NOT NULL DEFAULT false;
ALTER TABLE complaints ALTER COLUMN acknowledgement_known SET DEFAULT true;

-- record_classification (migration 0004) counting those as acknowledged; same arguments and result.
CREATE OR REPLACE FUNCTION record_classification(
    p_complaint_id uuid, p_hotel_id text, p_category text, p_severity text, p_priority smallint, p_language text,
    p_vip boolean, p_safety boolean, p_registered_at timestamptz, p_classified_at timestamptz)
RETURNS TABLE (
    o_revision bigint, o_status text, o_department text, o_staff_id text, o_escalation_level smallint, o_version integer,
    o_loads jsonb, o_turns jsonb, o_applied boolean, o_acknowledged boolean)
LANGUAGE plpgsql VOLATILE
SET search_path FROM CURRENT
AS $$
DECLARE
    v_revision bigint;
    v_applied boolean := false;
BEGIN
    SELECT h.revision INTO v_revision FROM hotels AS h WHERE h.hotel_id = p_hotel_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- The conflicting row is locked even when the WHERE turns the update down.
    INSERT INTO complaints AS c (complaint_id, hotel_id, category, severity, priority, language, vip, safety, registered_at, classified_at)
    VALUES (p_complaint_id, p_hotel_id, p_category, p_severity, p_priority, p_language, p_vip, p_safety, p_registered_at, p_classified_at)
    ON CONFLICT (complaint_id) DO UPDATE SET category = excluded.category, severity = excluded.severity,
        priority = excluded.priority, language = excluded.language, vip = excluded.vip, safety = excluded.safety,
        registered_at = excluded.registered_at, classified_at = excluded.classified_at, updated_at = now()
    WHERE c.classified_at IS NULL OR c.classified_at < excluded.classified_at
    RETURNING true INTO v_applied;
    RETURN QUERY
    SELECT v_revision, s.status, s.department, s.staff_id, s.escalation_level, s.version,
        (SELECT coalesce(jsonb_object_agg(l.staff_id, l.open), '{}'::jsonb)
         FROM (SELECT o.staff_id, count(*) AS open FROM complaints AS o
               WHERE o.hotel_id = p_hotel_id AND o.status = 'open' AND o.staff_id IS NOT NULL GROUP BY o.staff_id) AS l),
        (SELECT coalesce(jsonb_object_agg(r.department, r.last_staff_id), '{}'::jsonb) FROM round_robin AS r WHERE r.hotel_id = p_hotel_id),
        coalesce(v_applied, false), s.acknowledged_at IS NOT NULL OR NOT s.acknowledgement_known
    FROM complaints AS s WHERE s.complaint_id = p_complaint_id;
END
$$;
