-- How far the watcher has applied each partition of its input topics: caught_up_to is a time T such that
-- every event the partition held by T is applied (the replica that owns the partition checks its end
-- offset against what it applied every few seconds; see InputWatermark). The timer sweep fires a timer
-- due at D only once D + SLA_FIRING_GRACE_SECONDS <= the least caught_up_to of all partitions of the
-- watcher's current input topics, so a breach is never fired ahead of a staff action that was already on
-- the topic. NULL: the partition has not been checked caught up yet (the sweep holds). The value only
-- moves forward (the newest fact wins, whichever replica learned it).
CREATE TABLE input_watermarks (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    caught_up_to timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
