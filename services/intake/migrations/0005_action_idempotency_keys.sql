-- Staff actions (a compensation, a note, an acknowledgement …) take an Idempotency-Key too. The
-- outcome the first request with a key produced is kept beside it and answered again for a repeat,
-- so a client that retries after a timeout or a 503 does not grant a compensation twice. Keys share
-- one namespace per API key with submissions (a submission's row has complaint_id instead).
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS action_outcome text;
