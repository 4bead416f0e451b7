-- Notifications for the assignee whose cause came before anyone was assigned: a clock warning or breach
-- read before complaints.assigned.v1 (another topic; after a backlog). They are planned, with the cause's
-- own id and time (so the same idempotency key), when an assignment names someone, and the rows go.
CREATE TABLE awaiting_assignee (
    complaint_id   uuid NOT NULL,
    trigger        text NOT NULL,
    cause_event_id uuid NOT NULL,
    cause_time     timestamptz NOT NULL,
    -- The message's facts as the cause gave them (MessageFacts, JSON); the assignee is filled in when known.
    details        jsonb NOT NULL,
    PRIMARY KEY (complaint_id, cause_event_id, trigger)
);
