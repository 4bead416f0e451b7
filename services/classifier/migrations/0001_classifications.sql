-- The classifier's verdicts, with the evidence and the rule/model version that produced them.
CREATE TABLE classifications (
    complaint_id  uuid PRIMARY KEY,
    hotel_id      text NOT NULL,
    category      text NOT NULL,
    severity      text NOT NULL,
    priority      smallint NOT NULL CHECK (priority BETWEEN 1 AND 4),
    language      text NOT NULL,
    sentiment     double precision NOT NULL,
    flags         jsonb NOT NULL,
    confidence    double precision NOT NULL,
    explanation   jsonb NOT NULL,
    classifier    text NOT NULL,
    version       text NOT NULL,
    classified_at timestamptz NOT NULL
);

-- Earlier complaints per guest (guest key is an HMAC, no personal data), for repeat-complaint rules.
CREATE TABLE guest_history (
    complaint_id    uuid PRIMARY KEY,
    guest_key       text NOT NULL,
    hotel_id        text NOT NULL,
    reservation_ref text,
    registered_at   timestamptz NOT NULL
);

CREATE INDEX guest_history_guest ON guest_history (guest_key, hotel_id, registered_at);
