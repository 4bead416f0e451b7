-- A complaint is registered once per hotel + source + externalId. A second submission with that triple
-- is a replay only when it says the same thing: the SHA-256 of the canonical submission (the contract's
-- JSON, members sorted, as EventCoding writes it) is kept beside the complaint, and a submission reusing
-- the triple with other content is refused (HTTP 409; on complaints.submitted.v1, a dead letter).
-- Complaints registered before this migration have none and are taken as matching (answered as before).
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS submission_sha256 bytea;
