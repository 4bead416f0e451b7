-- Runtime tables of one service schema ({{schema}}): the inbox of processed event ids and the outbox of
-- messages waiting to be published. Instantiated per service by RuntimeTables(schema:), recorded on the
-- "runtime" track of that schema. Released: never edit; add 0002_… instead.

CREATE TABLE {{schema}}.processed_events (
    event_id     uuid        PRIMARY KEY,
    topic        text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Retention deletes by age.
CREATE INDEX processed_events_processed_at_idx ON {{schema}}.processed_events (processed_at);

CREATE TABLE {{schema}}.outbox (
    id              bigserial   PRIMARY KEY,
    topic           text        NOT NULL,
    -- Ordering key (complaint id): rows with equal keys are published in id order.
    aggregate_key   text        NOT NULL,
    key             bytea,
    value           bytea       NOT NULL,
    -- [{"key": "...", "value": "<utf-8 text>"} | {"key": "...", "base64": "..."} | {"key": "..."}]
    headers         jsonb       NOT NULL DEFAULT '[]'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    last_attempt_at timestamptz,
    CONSTRAINT outbox_headers_is_array CHECK (jsonb_typeof(headers) = 'array')
);

-- The relay scans unsent rows in id order ...
CREATE INDEX outbox_unsent_idx ON {{schema}}.outbox (id) WHERE sent_at IS NULL;
-- ... and checks each candidate for an older unsent row of the same key.
CREATE INDEX outbox_unsent_key_idx ON {{schema}}.outbox (aggregate_key, id) WHERE sent_at IS NULL;
-- Retention deletes sent rows by age.
CREATE INDEX outbox_sent_at_idx ON {{schema}}.outbox (sent_at) WHERE sent_at IS NOT NULL;
