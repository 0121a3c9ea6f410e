-- Answers to mutations, by the client's request_id: a retry with the same id
-- gets the first answer and changes nothing. The row is written in the
-- mutation's own transaction, so a failed mutation leaves no trace and may be
-- retried; a concurrent duplicate waits on the primary key until the first
-- commits, then reads its answer.
CREATE TABLE request_log (
    request_id  uuid        PRIMARY KEY,
    method      text        NOT NULL,
    fingerprint bytea       NOT NULL,   -- SHA-256 of caller, method and request
    response    bytea,
    create_time timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX request_log_create_time_idx ON request_log (create_time);
