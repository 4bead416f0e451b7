-- When the complaint was last reopened. A reopening starts a new resolve clock, so the deadlines known
-- until then (acknowledge_by, resolve_by) belong to the old clock: the reopening clears them (NULL: not known
-- yet; the new clock has no acknowledge deadline, the watcher's rescheduled on a reopening carries none), and
-- a deadline event stamped before the latest reopening (read after it: complaints.updated.v1 and
-- complaints.sla.v1 are separate topics, and a rebuild reads them side by side) no longer sets them. Once
-- reopened, acknowledge_by stays NULL whatever the watcher sends. Before
-- this column a reopened complaint kept its first resolve deadline in /v1/open and on the dashboard
-- ("overdue 3d") while the watcher's new resolve clock ran.
ALTER TABLE complaints ADD COLUMN reopened_at timestamptz;

-- Complaints open again after a resolution or a closing (a complaint closed without a resolution can be
-- reopened too): their latest reopening came after the later of the two, so that time stands in for it,
-- and deadlines last set before it are the old clock's. Both go, as a reopening clears both: no new event
-- will come for a reopening already read, so an acknowledge deadline left here (a complaint resolved at first
-- contact without an acknowledgement) would read "acknowledge overdue" at the top of /v1/open for good.
-- acknowledge_by goes whatever its stamp: a reopened clock never has one, and one set after the reopening came
-- from an sla-watcher older than d4748d9, which sent the first clock's, long past, on its resumed and
-- reclassification rescheduled.
UPDATE complaints
SET reopened_at = GREATEST(resolved_at, closed_at),
    acknowledge_by = NULL,
    resolve_by = CASE WHEN deadlines_at IS NULL OR deadlines_at < GREATEST(resolved_at, closed_at) THEN NULL ELSE resolve_by END
WHERE is_open AND reopen_count > 0 AND GREATEST(resolved_at, closed_at) IS NOT NULL;

COMMENT ON COLUMN complaints.reopened_at IS
    'When the complaint was last reopened: deadline events stamped before it belong to an earlier resolve clock and set neither acknowledge_by nor resolve_by; while it is set acknowledge_by stays NULL (a reopened clock has no acknowledge deadline).';
COMMENT ON COLUMN complaints.deadlines_at IS
    'The time stamped on the deadline event (timer_started, rescheduled, paused, resumed) whose deadlines acknowledge_by and resolve_by hold: '
    'the last one applied (complaints.sla.v1 is keyed by complaint, so one complaint''s are read in order), not the newest stamp.';
