-- When a fact of each complaint was last applied (the applying transaction's start), so that
-- `redress metrics rebuild` compares only complaints nothing touched after its replay's end marks: a
-- complaint's facts keep arriving for weeks (follow-ups, reopenings, a late guest's registration that marks
-- later complaints as repeats), and those are in the live schema but not in the replay. Every upsert of a
-- complaint's row, and every row whose repeat flag a registration changes, sets it. NULL for rows written
-- before this migration (nothing touched them since).
ALTER TABLE complaints ADD COLUMN fact_at timestamptz;

-- What two tables of 0001 are for (its comments said the dashboard read sla_incidents; it never has):
-- neither is read by a KPI, a gauge or the API. Both are rebuilt from the topics like the rest.
COMMENT ON TABLE sla_incidents IS
    'Breaches, escalations and ceilings as they happened, one row per event: an audit trail for SQL by hand. '
    'No KPI, gauge or API reads it (breach counts and escalation levels are on complaints; the dashboard''s activity list is the live stream).';
COMMENT ON TABLE notification_outcomes IS
    'Notification receipts per hotel, UTC day, channel and status: kept for SQL by hand (delivery rates) and a future KPI. '
    'No KPI, gauge or API reads it yet.';
COMMENT ON COLUMN complaints.fact_at IS
    'When a fact of this complaint was last applied (transaction start); redress metrics rebuild leaves out complaints changed after its end marks.';
