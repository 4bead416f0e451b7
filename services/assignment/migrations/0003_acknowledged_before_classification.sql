-- A staff member may acknowledge a complaint at the desk before its classification reaches assignment
-- (another topic). Who did is kept here, so that the first assignment gives it to them (a hand-over,
-- as an acknowledgement after the assignment would) instead of to whoever the strategy picks.
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS acknowledged_by text;
