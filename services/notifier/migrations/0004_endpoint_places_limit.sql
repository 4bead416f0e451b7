-- The rate limit each place was booked under (calls and window in seconds). A place still to come that
-- was booked under another limit is dropped at the endpoint's next call: a mistaken 1/h fixed to 20/min
-- kept newcomers queued behind places hours away. The window also tells when a row of an endpoint no
-- longer called may go (an hour past it), a few at a time by any pacing transaction. Rows from before
-- this migration have none: their places to come count as booked under another limit.
ALTER TABLE endpoint_places ADD COLUMN limit_count integer, ADD COLUMN limit_window double precision;
