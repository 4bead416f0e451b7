-- Verdicts (complaints.classified.v1, first classification and reclassifications alike) can be read out of
-- order: a replay, or a reclassification published after a correction. Each complaint keeps the time of the
-- verdict its facts come from (classifiedAt); an older or equal one changes nothing, so a late verdict never
-- overwrites newer facts and the same verdict read again is harmless.
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS classified_at timestamptz;

-- When staff first acknowledged the complaint (complaints.updated.v1 `acknowledged`), before or after its
-- first assignment. A newer verdict that moves the complaint to another department re-assigns it only
-- while this is NULL: once someone has acknowledged it, the owner keeps it.
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS acknowledged_at timestamptz;
UPDATE complaints SET acknowledged_at = updated_at WHERE acknowledged_by IS NOT NULL AND acknowledged_at IS NULL;

-- record_classification (migration 0002) with the verdict's time: the facts are stored only when the verdict
-- is newer than the one they came from (a row without one, made by a status update or before this
-- migration, takes any verdict). Returns whether it was applied and whether the complaint was acknowledged,
-- besides what it returned before. Still one round trip under the hotel's lock.
DROP FUNCTION IF EXISTS record_classification(uuid, text, text, text, smallint, text, boolean, boolean, timestamptz);

CREATE FUNCTION record_classification(
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
        coalesce(v_applied, false), s.acknowledged_at IS NOT NULL
    FROM complaints AS s WHERE s.complaint_id = p_complaint_id;
END
$$;
