-- intake: the record of every complaint, its timeline, compensation, API keys and idempotency keys.

CREATE TABLE complaints (
    id                  uuid PRIMARY KEY,
    hotel_id            text NOT NULL,
    source              text NOT NULL,
    external_id         text NOT NULL,
    channel             text NOT NULL,
    occurred_at         timestamptz,
    reported_at         timestamptz NOT NULL,
    registered_at       timestamptz NOT NULL,
    text                text NOT NULL,
    language            text,
    -- The guest as submitted (contact details included); only intake reads it.
    guest               jsonb NOT NULL,
    -- HMAC of the guest's identity: lets later stages recognise a returning guest.
    guest_key           text,
    reporter            jsonb NOT NULL,
    status              text NOT NULL,
    category            text,
    severity            text,
    priority            integer,
    assignee_id         text,
    assignee            jsonb,
    version             integer NOT NULL DEFAULT 1,
    updated_at          timestamptz NOT NULL,
    -- A complaint is registered once per hotel, source and external id, whichever door it came through.
    CONSTRAINT complaints_source_external_id UNIQUE (hotel_id, source, external_id)
);

CREATE INDEX complaints_hotel_registered ON complaints (hotel_id, registered_at DESC, id DESC);
CREATE INDEX complaints_registered ON complaints (registered_at DESC, id DESC);
CREATE INDEX complaints_guest_key ON complaints (guest_key) WHERE guest_key IS NOT NULL;

-- The append-only audit trail of each complaint.
CREATE TABLE timeline (
    id              bigserial PRIMARY KEY,
    complaint_id    uuid NOT NULL REFERENCES complaints (id),
    occurred_at     timestamptz NOT NULL,
    kind            text NOT NULL,
    actor_id        text NOT NULL,
    actor_role      text NOT NULL,
    status_after    text NOT NULL,
    details         jsonb
);

CREATE INDEX timeline_complaint ON timeline (complaint_id, id);

CREATE TABLE compensations (
    id              uuid PRIMARY KEY,
    complaint_id    uuid NOT NULL REFERENCES complaints (id),
    kind            text NOT NULL,
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    currency        char(3) NOT NULL,
    reason          text NOT NULL,
    -- pending (above the requester's authority), approved or rejected.
    state           text NOT NULL,
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL,
    decided_by      text,
    decided_at      timestamptz,
    decision_note   text
);

CREATE INDEX compensations_complaint ON compensations (complaint_id);

-- API credentials: only a SHA-256 of the secret is kept.
CREATE TABLE api_keys (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    role            text NOT NULL,
    -- Empty for admin keys (all hotels).
    hotels          text[] NOT NULL,
    secret_sha256   bytea NOT NULL,
    rate_per_second integer,
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz
);

-- Idempotency-Key headers seen per API key, and what they registered.
CREATE TABLE idempotency_keys (
    api_key_id      text NOT NULL,
    idempotency_key text NOT NULL,
    request_sha256  bytea NOT NULL,
    complaint_id    uuid,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, idempotency_key)
);
