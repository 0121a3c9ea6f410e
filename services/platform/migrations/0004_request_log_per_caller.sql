-- A request id belongs to the caller that sent it: its subject, organisation
-- and acting roles (`caller_key`, a SHA-256 of them). A stored answer is only
-- ever replayed to that same caller, and nobody can take another caller's
-- request id. Rows from before this migration keep an empty key: a retry of
-- one of them is treated as a new request.
ALTER TABLE request_log ADD COLUMN caller_key bytea NOT NULL DEFAULT '\x';
ALTER TABLE request_log DROP CONSTRAINT request_log_pkey;
ALTER TABLE request_log ADD PRIMARY KEY (caller_key, request_id);
