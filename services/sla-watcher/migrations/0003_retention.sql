-- The retention purge (SLA_RETENTION_DAYS) looks for clocks nothing has happened to for a long time: by
-- their last change, so that a round reads only the old rows.
CREATE INDEX clocks_updated_at ON clocks (updated_at);
