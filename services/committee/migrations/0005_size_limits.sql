-- No case or meeting grows past what the service can send back in one
-- message (platform `limits::MAX_CASE_BYTES`, `MAX_MEETING_BYTES`): a change
-- that would is refused, whoever makes it (a call, or an event applied from
-- a feed, which is then parked). The service maps the constraint, by name,
-- to INVALID_ARGUMENT `TOO_LARGE`. Rows already stored are not re-checked.
ALTER TABLE committee.committee_case
    ADD CONSTRAINT committee_case_size_limit CHECK (octet_length(content) <= 524288) NOT VALID;
ALTER TABLE committee.meeting
    ADD CONSTRAINT meeting_size_limit CHECK (octet_length(content) <= 524288) NOT VALID;
