-- Staff may correct a verdict (PUT /v1/complaints/{id}/classification). The correction replaces the
-- verdict in `classifications` (set_by_staff names who), so an automatic verdict for the same complaint
-- (a redelivery, a replay into this schema) still finds the row taken and changes nothing; each
-- correction is kept in `classification_corrections` with why and what it replaced.
ALTER TABLE classifications ADD COLUMN registered_at timestamptz;
ALTER TABLE classifications ADD COLUMN set_by_staff text;

CREATE TABLE classification_corrections (
    correction_id     uuid PRIMARY KEY,
    complaint_id      uuid NOT NULL REFERENCES classifications (complaint_id),
    hotel_id          text NOT NULL,
    staff_id          text NOT NULL,
    api_key_id        text NOT NULL,
    category          text NOT NULL,
    severity          text NOT NULL,
    reason            text NOT NULL,
    previous_category text NOT NULL,
    previous_severity text NOT NULL,
    classified_at     timestamptz NOT NULL,
    -- Idempotency-Key of the request (one namespace per API key) and a SHA-256 of what it asked.
    idempotency_key   text,
    request_sha256    bytea NOT NULL,
    -- The verdict as published, answered again to a repeat of the request.
    verdict           jsonb NOT NULL,
    UNIQUE (api_key_id, idempotency_key)
);

CREATE INDEX classification_corrections_complaint ON classification_corrections (complaint_id, classified_at);
