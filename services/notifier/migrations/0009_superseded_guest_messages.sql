-- A guest message held for the hotel's quiet hours that a later message of the complaint makes pointless
-- ("we received your complaint" held with "it is resolved") is no longer given up when the later one is
-- planned: that one may never be sent (the complaint reopened before the morning, a survey given up), and
-- the guest then heard nothing. Planning only records which message supersedes it (superseded_by); the
-- delivery worker decides when the held message falls due (services/notifier/README.md).
-- trigger: the event kind the message was planned for (received, updated.resolved, sla.followup_due …),
-- which decides what supersedes what and whether the superseding message still applies. NULL for rows
-- planned before this migration: they are neither superseded nor superseding.
ALTER TABLE deliveries ADD COLUMN trigger text;
ALTER TABLE deliveries ADD COLUMN superseded_by uuid REFERENCES deliveries (notification_id);
-- cause_time: when the message's cause happened (the event's time). A message supersedes another only when
-- its cause is later: a survey delivered for an earlier resolution says nothing about a resolution since.
-- NULL for rows planned before this migration.
ALTER TABLE deliveries ADD COLUMN cause_time timestamptz;
-- called_at: when the worker first handed a superseded held message to a channel. From then on it is no
-- longer decided against its superseder (the guest may have it already), on any later attempt.
ALTER TABLE deliveries ADD COLUMN called_at timestamptz;
