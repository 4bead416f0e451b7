-- Runtime v2 of one service schema ({{schema}}). Released: never edit; add 0003_… instead.
--
-- 1. The outbox relay no longer holds a transaction open while Kafka acknowledges: it leases the rows it
--    claims (claimed_until, claim_token), publishes outside any transaction, then marks them sent. A relay
--    that dies leaves a lease that simply runs out.
ALTER TABLE {{schema}}.outbox
    ADD COLUMN claimed_until timestamptz,
    ADD COLUMN claim_token   uuid;

-- 2. The work queue: intents to call the outside world (send an e-mail, post a webhook, ask an external
--    model), recorded in the stage's transaction and performed by a worker outside any transaction.
CREATE TABLE {{schema}}.work_queue (
    id              bigserial   PRIMARY KEY,
    -- Which performer handles it (e.g. 'email', 'webhook').
    kind            text        NOT NULL,
    -- Stable across retries and crashes; sent with the call so the receiver can de-duplicate.
    idempotency_key text        NOT NULL,
    payload         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    max_attempts    integer     NOT NULL,
    due_at          timestamptz NOT NULL DEFAULT now(),
    -- A worker's claim: until then no other worker takes the row; after it the claim comes back.
    leased_until    timestamptz,
    lease_token     uuid,
    last_error      text,
    outcome         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    CONSTRAINT work_queue_idempotency_key_unique UNIQUE (idempotency_key),
    CONSTRAINT work_queue_status_known CHECK (status IN ('pending', 'succeeded', 'failed')),
    CONSTRAINT work_queue_attempts_bounded CHECK (max_attempts >= 1 AND attempts >= 0)
);

-- Workers claim pending rows that are due, oldest first.
CREATE INDEX work_queue_due_idx ON {{schema}}.work_queue (due_at, id) WHERE status = 'pending';
-- Retention deletes finished rows by age.
CREATE INDEX work_queue_completed_at_idx ON {{schema}}.work_queue (completed_at) WHERE status <> 'pending';
