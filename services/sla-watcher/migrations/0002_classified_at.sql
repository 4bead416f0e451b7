-- When the verdict the clock follows was made (complaints.classified.v1 classifiedAt). A reclassification
-- recomputes the open deadlines only when it is newer, so a late or redelivered older verdict (or the
-- severity an assignment event repeats) never undoes it.
ALTER TABLE clocks ADD COLUMN classified_at timestamptz;
