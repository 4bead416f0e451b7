-- When the guest reported each complaint and when intake registered it (complaints.received.v1). A
-- complaint registered more than guestMessages.maximumAge after its report came in a backfill (or a
-- connector that lagged that long): none of its guest messages is planned, not even for a resolution
-- staff record today (skipped as guest_message_backfill; services/notifier/README.md). The times, not a
-- flag, are kept so that the rule follows the configured maximumAge. NULL for complaints whose
-- registration was read before this migration, or not yet: their guest messages are bounded only by
-- their own age, as before.
ALTER TABLE complaints ADD COLUMN reported_at timestamptz;
ALTER TABLE complaints ADD COLUMN registered_at timestamptz;
