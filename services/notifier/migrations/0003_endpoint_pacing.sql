-- Each endpoint's rate limit and a robot's refusal hold, shared by every notifier replica (each kept its
-- own before, so N replicas could make N × rateLimit calls, and only the replica that saw a robot's
-- 45009 left the robot alone). Taken in a short transaction of its own before each call, never across it;
-- times are the database's clock.

-- One row per endpoint that was called or held: the row the pacing transaction locks, and until when the
-- robot asked to be left alone (it refused a call for its rate limit).
CREATE TABLE endpoint_pacing (
    endpoint   text PRIMARY KEY,
    held_until timestamptz
);

-- The calls made to an endpoint in its last window, and the places booked after them for messages that
-- found the window full (idempotency_key set until that message comes back and makes its call).
-- Older than a window, a row goes at the endpoint's next call.
CREATE TABLE endpoint_places (
    endpoint        text NOT NULL,
    place           timestamptz NOT NULL,
    idempotency_key text
);

CREATE INDEX endpoint_places_by_place ON endpoint_places (endpoint, place);
CREATE UNIQUE INDEX endpoint_places_booked ON endpoint_places (endpoint, idempotency_key) WHERE idempotency_key IS NOT NULL;
