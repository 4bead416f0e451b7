-- The organisation of each hotel (loaded from services/assignment/organisation.yaml, changed through
-- the HTTP API), the complaints assignment knows about, and every assignment ever made.

CREATE TABLE hotels (
    hotel_id    text PRIMARY KEY,
    name        text NOT NULL,
    time_zone   text NOT NULL,
    strategy    text NOT NULL,
    -- Who takes escalation levels 1, 2, 3.
    escalation  text[] NOT NULL CHECK (cardinality(escalation) = 3),
    -- Bumped by every change of the hotel's organisation; replicas reload their cached copy when it moves.
    revision    bigint NOT NULL DEFAULT 1,
    -- Digest of the hotel's section of the organisation file when it was last applied (NULL: created by the API).
    file_digest text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE departments (
    hotel_id   text NOT NULL REFERENCES hotels ON DELETE CASCADE,
    code       text NOT NULL,
    name       text NOT NULL,
    categories text[] NOT NULL,
    strategy   text,
    PRIMARY KEY (hotel_id, code)
);

CREATE TABLE staff (
    hotel_id    text NOT NULL REFERENCES hotels ON DELETE CASCADE,
    staff_id    text NOT NULL,
    name        text NOT NULL,
    role        text NOT NULL,
    departments text[] NOT NULL,
    languages   text[] NOT NULL,
    skills      text[] NOT NULL,
    capacity    integer NOT NULL CHECK (capacity >= 0),
    active      boolean NOT NULL DEFAULT true,
    days_off    text[] NOT NULL DEFAULT '{}',  -- local dates YYYY-MM-DD
    PRIMARY KEY (hotel_id, staff_id)
);

CREATE TABLE shifts (
    shift_id  uuid PRIMARY KEY,
    hotel_id  text NOT NULL,
    staff_id  text NOT NULL,
    -- Weekdays the shift starts on (mon … sun), local times in the hotel's zone.
    days      text[] NOT NULL,
    starts_at text NOT NULL,
    ends_at   text NOT NULL,
    overnight boolean NOT NULL,
    FOREIGN KEY (hotel_id, staff_id) REFERENCES staff ON DELETE CASCADE
);

CREATE INDEX shifts_staff ON shifts (hotel_id, staff_id);

-- Each complaint's current owner. `version` counts its assignments; a status update that arrives before
-- the classification leaves a row with version 0.
CREATE TABLE complaints (
    complaint_id     uuid PRIMARY KEY,
    hotel_id         text NOT NULL,
    category         text,
    severity         text,
    priority         smallint,
    language         text,
    vip              boolean NOT NULL DEFAULT false,
    safety           boolean NOT NULL DEFAULT false,
    registered_at    timestamptz,
    -- open | resolved | closed: only open complaints count against their owner's capacity.
    status           text NOT NULL DEFAULT 'open',
    department       text,
    staff_id         text,
    escalation_level smallint NOT NULL DEFAULT 0,
    version          integer NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The open load per person is counted from here.
CREATE INDEX complaints_open_load ON complaints (hotel_id, staff_id) WHERE status = 'open';

-- Every assignment, never overwritten: a re-assignment adds version n + 1. The primary key is what stops
-- two replicas from assigning one complaint twice.
CREATE TABLE assignments (
    complaint_id     uuid NOT NULL REFERENCES complaints,
    version          integer NOT NULL CHECK (version >= 1),
    hotel_id         text NOT NULL,
    department       text NOT NULL,
    staff_id         text NOT NULL,
    staff_name       text NOT NULL,
    staff_role       text NOT NULL,
    strategy         text NOT NULL,
    reason           text NOT NULL,
    escalation_level smallint NOT NULL,
    explanation      text NOT NULL,
    assigned_at      timestamptz NOT NULL,
    event_id         uuid NOT NULL,
    PRIMARY KEY (complaint_id, version)
);

CREATE INDEX assignments_hotel_time ON assignments (hotel_id, assigned_at);

-- Whom each department's round robin gave its last complaint to.
CREATE TABLE round_robin (
    hotel_id      text NOT NULL,
    department    text NOT NULL,
    last_staff_id text NOT NULL,
    PRIMARY KEY (hotel_id, department)
);
