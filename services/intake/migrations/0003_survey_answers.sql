-- Follow-up survey answers given through the guest's signed link (/survey/{token}): one per token, so a
-- link answered once shows "already answered" and changes nothing. The answer itself is on the
-- complaint's timeline as a followup_recorded step.
CREATE TABLE survey_answers (
    token_signature text PRIMARY KEY,
    complaint_id    uuid NOT NULL REFERENCES complaints (id),
    satisfaction    integer NOT NULL,
    recommend       integer NOT NULL,
    answered_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX survey_answers_complaint ON survey_answers (complaint_id);
