-- Each complaint's clocks as the watcher knows them, and the timers still to fire (or fired, kept so that
-- each fires once). Timers are claimed with FOR UPDATE SKIP LOCKED: two replicas never fire one twice.

CREATE TABLE clocks (
    complaint_id       uuid PRIMARY KEY,
    hotel_id           text NOT NULL,
    -- NULL until complaints.assigned.v1 arrived (a staff action may come first).
    department         text,
    category           text,
    severity           text,
    registered_at      timestamptz,
    acknowledged_at    timestamptz,
    resolve_started_at timestamptz,
    -- Counts resolve clocks: a reopening starts generation n + 1 (its warning and breach fire again).
    resolve_generation integer NOT NULL DEFAULT 1,
    resolved_at        timestamptz,
    closed_at          timestamptz,
    -- Waiting for the guest: [{"start": seconds since 1970, "end": … or null}].
    pauses             jsonb NOT NULL DEFAULT '[]',
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE timers (
    complaint_id uuid NOT NULL REFERENCES clocks ON DELETE CASCADE,
    -- acknowledge_warning, acknowledge_breach, resolve_warning#2, resolve_breach#2, escalation_1, followup#1, ceiling
    timer        text NOT NULL,
    due_at       timestamptz NOT NULL,
    fired_at     timestamptz,
    PRIMARY KEY (complaint_id, timer)
);

CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL;
