-- Idempotency keys are kept for a window (INTAKE_IDEMPOTENCY_KEY_DAYS, 30 days by default) in which a
-- retry with the same key is recognised; the purge deletes older ones in small batches by creation time.
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at);
