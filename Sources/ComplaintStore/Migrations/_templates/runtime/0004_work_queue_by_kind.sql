-- Runtime v4 of one service schema ({{schema}}). Released: never edit; add 0005_… instead.
--
-- Workers claim one kind's intents (the notifier runs one worker per kind on one table), but the only
-- index ordered every pending intent by due time: with 50 000 intents of one kind due (a receiver down),
-- every other kind's claim walked past them to find its own, and each idle worker's look-up of its next
-- due time read every pending row, deferred ones included, about once a second.
--
-- Claims and the next due time of unleased intents: one kind's pending rows in due order.
CREATE INDEX work_queue_kind_due_idx ON {{schema}}.work_queue (kind, due_at, id) WHERE status = 'pending';
-- When a leased intent's lease runs out: only the intents being performed now.
CREATE INDEX work_queue_kind_leased_idx ON {{schema}}.work_queue (kind, leased_until)
    WHERE status = 'pending' AND leased_until IS NOT NULL;
-- Covered by work_queue_kind_due_idx for every query that names a kind; the backlog gauge's count reads
-- all pending rows either way.
DROP INDEX {{schema}}.work_queue_due_idx;
