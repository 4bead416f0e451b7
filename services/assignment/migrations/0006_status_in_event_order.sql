-- Status updates (complaints.updated.v1 resolved, closed, reopened) can be read out of order: a `reopened`
-- dead-lettered and redriven after the complaint was resolved and closed again, or one from an older build
-- during a rolling deploy. Each complaint keeps the time of the status update its status comes from
-- (occurredAt); an update as old or older changes nothing, so a late `reopened` never stores a closed
-- complaint as open (nor counts it against its owner's capacity again). NULL (rows made before this
-- migration, or by a classification or an acknowledgement): unknown, older than any update.
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS status_at timestamptz;
