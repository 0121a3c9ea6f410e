-- A request id's answer belongs to the caller that got it: its subject,
-- organisation and acting roles (`caller_key`, a SHA-256 of them). Answers
-- are looked up by caller and id, so a stored answer is only ever replayed to
-- that same caller; an id another caller already used is refused
-- (REQUEST_ID_REUSED), as before.
--
-- Expand, not contract: `request_id` stays the primary key, so that replicas
-- still running the previous release (`ON CONFLICT (request_id)`) keep
-- working during a rolling update. Rows from before this migration keep an
-- empty key: a retry of one of them is refused as another caller's.
ALTER TABLE request_log ADD COLUMN caller_key bytea NOT NULL DEFAULT '\x';
CREATE UNIQUE INDEX request_log_caller_request_idx ON request_log (caller_key, request_id);
