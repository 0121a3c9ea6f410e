-- What a consuming service has applied from its peers' feeds. The checkpoint
-- moves in the same transaction as each event's effect, under the row's lock,
-- so an event is applied once however many replicas consume the feed.
CREATE TABLE consumer_checkpoint (
    subscription text        PRIMARY KEY,
    position     bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    update_time  timestamptz NOT NULL DEFAULT now()
);

-- Events a handler kept rejecting: parked here, loudly, so the feed goes on.
-- An operator fixes the cause and replays them (see the README).
CREATE TABLE consumer_dead_letter (
    subscription text        NOT NULL,
    position     bigint      NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    aggregate    text        NOT NULL,
    payload      bytea       NOT NULL,
    attempts     integer     NOT NULL,
    error        text        NOT NULL,
    park_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription, position)
);
