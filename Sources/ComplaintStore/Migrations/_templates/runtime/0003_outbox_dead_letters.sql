-- Runtime v3 of one service schema ({{schema}}). Released: never edit; add 0004_… instead.
--
-- An outbox row the broker can never accept (larger than the broker's message limit, an invalid record)
-- used to stay the head of its complaint for ever: every later event of that complaint waited behind it,
-- and enough such rows filled every round of the relay. The relay now gives such a row a few attempts,
-- then publishes it to the dead-letter topic instead. It then counts as sent (the complaint's later
-- events go out) and dead_lettered_at says where it went.
ALTER TABLE {{schema}}.outbox ADD COLUMN dead_lettered_at timestamptz;
