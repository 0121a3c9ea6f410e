-- One thread per application: the trace context of the application's first
-- step (its draft, in the applications service; the first event about it
-- that this service applied, elsewhere). Every later span about the
-- application links to it, and every event about it carries it (the
-- outbox's origin), so a tracing UI shows the application's whole life as
-- one connected thread.
CREATE TABLE trace_origin (
    application text PRIMARY KEY,
    traceparent text NOT NULL
);
ALTER TABLE outbox ADD COLUMN origin text NOT NULL DEFAULT '';
