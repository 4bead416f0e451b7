-- The metrics service's rollups, kept incrementally from every topic (through the inbox, so a redelivered
-- event never counts twice) and rebuildable from the topics (`redress metrics rebuild`). Every update is
-- written so that the order events of one complaint arrive in across topics does not change the result:
-- earliest times with LEAST, latest with GREATEST, counts from distinct events.
--
-- The grain is the complaint: one row per complaint with the facts every KPI needs, so medians and
-- percentiles are exact. KPI definitions are in services/metrics/README.md.

-- Hotels seen in events (their zones, budgets and sizes come from the metrics file).
CREATE TABLE hotels (
    hotel_id   text PRIMARY KEY,
    first_seen timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE complaints (
    complaint_id      uuid PRIMARY KEY,
    hotel_id          text NOT NULL,
    -- NULL until complaints.received.v1 (a later topic may be read first).
    registered_at     timestamptz,
    channel           text,
    -- The guest's pseudonymous key (never a name): same key, same guest, for the repeat rate.
    guest_key         text,
    -- Whether the same guest complained at the same hotel in the repeat window before this one; NULL
    -- without a guest key. Kept by the received handler in both directions (this complaint's flag, and
    -- later ones' when an earlier complaint is read late), under a lock per guest, so order never matters.
    is_repeat         boolean,
    vip               boolean NOT NULL DEFAULT false,
    category          text,
    severity          text,
    department        text,
    classified_at     timestamptz,
    -- The latest assignment (its department is the complaint's).
    assigned_at       timestamptz,
    status            text,
    status_at         timestamptz,
    acknowledged_at   timestamptz,
    first_resolved_at timestamptz,
    resolved_at       timestamptz,
    closed_at         timestamptz,
    -- Of the first resolution: resolved by the first person reached (first-contact resolution).
    first_contact     boolean,
    -- Of the latest resolution.
    root_cause        text,
    reopen_count      integer NOT NULL DEFAULT 0,
    -- SLA outcomes per target: met and breached events seen (a reopening starts a new resolve clock).
    acknowledge_met      integer NOT NULL DEFAULT 0,
    acknowledge_breaches integer NOT NULL DEFAULT 0,
    resolve_met          integer NOT NULL DEFAULT 0,
    resolve_breaches     integer NOT NULL DEFAULT 0,
    escalation_level  integer NOT NULL DEFAULT 0,
    -- The open deadlines, for the dashboard's countdowns.
    acknowledge_by    timestamptz,
    resolve_by        timestamptz,
    deadlines_at      timestamptz,
    -- The latest follow-up answer.
    satisfaction      integer,
    nps               integer,
    followed_up_at    timestamptz,
    guest_notes       integer NOT NULL DEFAULT 0,
    -- Open now: not resolved or closed (a closed complaint can be reopened). NULL status: not registered yet.
    is_open           boolean GENERATED ALWAYS AS (status IS NULL OR status NOT IN ('resolved', 'closed')) STORED
);

-- The KPI queries read a hotel's range of registrations from this index alone (index-only scans: a
-- hotel's entries are contiguous, its heap rows are not), so it carries every column they aggregate.
CREATE INDEX complaints_kpis ON complaints (hotel_id, registered_at) INCLUDE (
    acknowledged_at, first_resolved_at, acknowledge_met, acknowledge_breaches, resolve_met, resolve_breaches, escalation_level,
    first_contact, reopen_count, is_repeat, satisfaction, nps, guest_notes, category, severity, channel, department, root_cause);
CREATE INDEX complaints_guest ON complaints (guest_key, hotel_id, registered_at) WHERE guest_key IS NOT NULL;
CREATE INDEX complaints_open ON complaints (hotel_id) WHERE is_open;

-- Compensations by id: requested, then approved or rejected. Spend counts approved ones on the day of
-- the decision.
CREATE TABLE compensations (
    compensation_id uuid PRIMARY KEY,
    complaint_id    uuid NOT NULL,
    hotel_id        text NOT NULL,
    kind            text NOT NULL,
    currency        text NOT NULL,
    amount_minor    bigint NOT NULL,
    status          text NOT NULL,
    requested_at    timestamptz,
    decided_at      timestamptz
);

CREATE INDEX compensations_hotel_decided ON compensations (hotel_id, decided_at);

-- Breaches and escalations as they happened: the dashboard's live list and the counts by level.
CREATE TABLE sla_incidents (
    event_id     uuid PRIMARY KEY,
    complaint_id uuid NOT NULL,
    hotel_id     text NOT NULL,
    kind         text NOT NULL,
    target       text NOT NULL,
    level        integer,
    severity     text NOT NULL,
    occurred_at  timestamptz NOT NULL
);

CREATE INDEX sla_incidents_hotel ON sla_incidents (hotel_id, occurred_at);

-- Notification receipts per hotel, day (UTC), channel and status.
CREATE TABLE notification_outcomes (
    hotel_id text NOT NULL,
    day      date NOT NULL,
    channel  text NOT NULL,
    status   text NOT NULL,
    count    bigint NOT NULL,
    PRIMARY KEY (hotel_id, day, channel, status)
);

-- Early-warning episodes: one open row per hotel and subject (a category, a currency, an SLA target)
-- until it clears. Raised and cleared events on alerts.v1 share the alert id.
CREATE TABLE alerts (
    alert_id     uuid PRIMARY KEY,
    hotel_id     text NOT NULL,
    kind         text NOT NULL,
    -- The category, currency or SLA target the episode is about.
    subject      text NOT NULL,
    severity     text NOT NULL,
    observed     double precision NOT NULL,
    baseline     double precision NOT NULL,
    p_value      double precision,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    raised_at    timestamptz NOT NULL,
    cleared_at   timestamptz
);

CREATE UNIQUE INDEX alerts_open_episode ON alerts (hotel_id, kind, subject) WHERE cleared_at IS NULL;
CREATE INDEX alerts_hotel_raised ON alerts (hotel_id, raised_at);
CREATE INDEX complaints_registered ON complaints (registered_at);
