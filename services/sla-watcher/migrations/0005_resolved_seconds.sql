-- Wall time a complaint spent resolved (or closed) before its reopenings, in seconds: from each
-- resolution to the reopening after it. The ceiling (72 h by default) counts only the time a complaint
-- was open, so it is due at registration + ceiling + resolved_seconds. Without it a complaint reopened
-- more than 72 h after its registration reached the ceiling, and the general manager, at once.
-- Existing clocks get 0: exact for every complaint never reopened (a resolved one counts its time
-- resolved from its next reopening on); a complaint already reopened before this migration keeps its
-- ceiling counted from registration, as armed, since how long it stayed resolved was not kept.
ALTER TABLE clocks ADD COLUMN resolved_seconds double precision NOT NULL DEFAULT 0;
