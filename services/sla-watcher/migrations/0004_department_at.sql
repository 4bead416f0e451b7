-- When the assignment the clock's department comes from was made (complaints.assigned.v1 assignedAt). A
-- newer assignment naming another department (a reclassification its owner keeps: reason
-- department_changed) moves the clocks to that department's calendar; an older one read again (an offset
-- reset, a replay after the inbox forgot it) never moves them back. NULL on clocks from before: the next
-- assignment naming another department is taken.
ALTER TABLE clocks ADD COLUMN department_at timestamptz;
