-- What the notifier knows of each complaint, from the events it consumes: the hotel, the guest's language
-- and preferred contact (never the contact details themselves: intake keeps those and is asked at send
-- time), and who holds the complaint now. The rules decide who is told from this.
CREATE TABLE complaints (
    complaint_id       uuid PRIMARY KEY,
    hotel_id           text NOT NULL,
    category           text,
    severity           text,
    guest_language     text,
    preferred_contact  text,
    -- The current assignee (complaints.assigned.v1), to tell about warnings and breaches.
    assignee_id        text,
    assignee_name      text,
    assignee_role      text,
    department         text,
    escalation_level   integer NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- One row per notification (an intent to tell one recipient on one channel), with its latest outcome.
-- The intent itself, with its idempotency key and retry schedule, is the runtime's work_queue row.
CREATE TABLE deliveries (
    notification_id uuid PRIMARY KEY,
    complaint_id    uuid NOT NULL,
    hotel_id        text NOT NULL,
    cause_event_id  uuid NOT NULL,
    rule            text NOT NULL,
    template        text NOT NULL,
    language        text NOT NULL,
    channel         text NOT NULL,
    recipient_kind  text NOT NULL,
    staff_id        text,
    endpoint        text,
    -- pending, delivered, retrying, given_up
    status          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    -- What the receiver answered (an SMTP queue id, an HTTP status); never the message.
    receipt         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    due_at          timestamptz NOT NULL DEFAULT now(),
    settled_at      timestamptz
);

CREATE INDEX deliveries_complaint ON deliveries (complaint_id, created_at);
