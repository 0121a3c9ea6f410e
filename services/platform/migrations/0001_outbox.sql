-- The transactional outbox of the service whose schema this runs in (the
-- platform applies it with search_path set to that schema).
--
-- A producer inserts an event in the same transaction as the change that
-- caused it, with no position. After commit, the sequencer gives committed
-- events consecutive positions under the lock of outbox_head's only row, so
-- positions become visible strictly in order: a transaction that commits late
-- gets a later position instead of landing behind a consumer's checkpoint.
CREATE TABLE outbox (
    id           uuid        PRIMARY KEY,
    recorded     bigserial   NOT NULL UNIQUE,   -- insertion order, to sequence fairly
    position     bigint      UNIQUE CHECK (position > 0),
    event_type   text        NOT NULL,
    aggregate    text        NOT NULL,
    occur_time   timestamptz NOT NULL DEFAULT now(),
    traceparent  text        NOT NULL DEFAULT '',
    tracestate   text        NOT NULL DEFAULT '',
    payload      bytea       NOT NULL
);

-- The sequencer's work list: events committed but not yet positioned.
CREATE INDEX outbox_unpositioned_idx ON outbox (recorded) WHERE position IS NULL;
-- Retention: oldest positioned events first.
CREATE INDEX outbox_occur_time_idx ON outbox (occur_time) WHERE position IS NOT NULL;

CREATE TABLE outbox_head (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_position bigint  NOT NULL DEFAULT 0,
    -- Positions at or below this were pruned by retention.
    pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO outbox_head DEFAULT VALUES;
