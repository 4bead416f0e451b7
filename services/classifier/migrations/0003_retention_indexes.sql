-- The retention purge (ClassifierRetention, CLASSIFIER_RETENTION_DAYS) takes, batch after batch, the
-- verdicts unchanged since a cutoff (classified_at) and the guest history registered before another
-- (registered_at). Without an index on either column every batch read the whole table; with them a round
-- reads only the old rows. On a large, busy table build them by hand first with CONCURRENTLY (a migration
-- runs in a transaction): these then find them.
CREATE INDEX IF NOT EXISTS classifications_classified_at ON classifications (classified_at);
CREATE INDEX IF NOT EXISTS guest_history_registered_at ON guest_history (registered_at);
