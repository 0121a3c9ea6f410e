-- Who at a borrower receives its notices. Personal data: erased by
-- DeleteRecipient (the row goes; the communication log keeps the address
-- each notice went to, as the record of what was sent).
CREATE TABLE notices.recipient (
    id                  uuid        PRIMARY KEY,
    organization_number text        NOT NULL CHECK (organization_number ~ '^[0-9]{6}-[0-9]{4}$'),
    display_name        text        NOT NULL DEFAULT '' CHECK (char_length(display_name) <= 200),
    email               text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    language            text        NOT NULL DEFAULT 'sv' CHECK (language IN ('sv', 'en')),
    create_time         timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_number, email)
);
CREATE INDEX recipient_organization_idx ON notices.recipient (organization_number, create_time, id);

-- The communication log: every notice written, and where its delivery
-- stands. A notice is written once per cause and address (the cause is the
-- feed and position of the event that caused it), in the transaction that
-- moves the feed's checkpoint: a replayed or redelivered event writes
-- nothing twice, whatever the replicas or restarts.
CREATE TABLE notices.communication (
    id                  uuid        PRIMARY KEY,
    kind                text        NOT NULL,
    organization_number text        NOT NULL DEFAULT '',
    application         text        NOT NULL DEFAULT '',
    monitoring_plan     text        NOT NULL DEFAULT '',
    committee_case      text        NOT NULL DEFAULT '',
    recipient_email     text        NOT NULL DEFAULT '',
    language            text        NOT NULL CHECK (language IN ('sv', 'en')),
    subject             text        NOT NULL,
    body                text        NOT NULL CHECK (octet_length(body) <= 262144),
    state               text        NOT NULL
        CHECK (state IN ('PENDING', 'SENT', 'FAILED', 'CANCELLED', 'NO_RECIPIENT')),
    attempts            integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error          text        NOT NULL DEFAULT '',
    create_time         timestamptz NOT NULL DEFAULT now(),
    send_after          timestamptz NOT NULL DEFAULT now(),
    sent_time           timestamptz,
    message_id          text        NOT NULL,
    cause               text        NOT NULL,
    -- What settles a waiting notice before it is sent (a report's period).
    settled_by          text        NOT NULL DEFAULT '',
    UNIQUE (cause, kind, recipient_email)
);
CREATE INDEX communication_due_idx ON notices.communication (send_after) WHERE state = 'PENDING';
CREATE INDEX communication_organization_idx ON notices.communication (organization_number, create_time DESC, id DESC);
CREATE INDEX communication_application_idx ON notices.communication (application, create_time DESC, id DESC);
CREATE INDEX communication_plan_idx ON notices.communication (monitoring_plan, create_time DESC, id DESC);
CREATE INDEX communication_settled_idx ON notices.communication (settled_by) WHERE state = 'PENDING';

-- Every delivery attempt: appended, never changed.
CREATE TABLE notices.delivery_attempt (
    sequence         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    communication_id uuid        NOT NULL REFERENCES notices.communication (id),
    attempt_time     timestamptz NOT NULL DEFAULT now(),
    outcome          text        NOT NULL CHECK (outcome IN ('SENT', 'RETRY', 'FAILED')),
    detail           text        NOT NULL DEFAULT ''
);
