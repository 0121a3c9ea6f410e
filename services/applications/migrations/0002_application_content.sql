-- The application's content and its history.
--
-- `content` is the Application message as the service keeps it (server-set
-- fields included), without the contact person: personal data lives apart in
-- `contact_person`, so that erasing it touches nothing else. The columns
-- beside them exist for filtering and ordering.
ALTER TABLE applications.application
    ADD COLUMN category       text        NOT NULL DEFAULT 'UNSPECIFIED',
    ADD COLUMN submit_time    timestamptz,
    ADD COLUMN content        bytea       NOT NULL DEFAULT '\x',
    ADD COLUMN contact_person bytea       NOT NULL DEFAULT '\x';

CREATE INDEX application_state_create_time_id_idx ON applications.application (state, create_time, id);
CREATE INDEX application_submit_time_idx ON applications.application (submit_time) WHERE submit_time IS NOT NULL;

-- Every state change and edit: who, in which role, when, what. Append-only.
CREATE TABLE applications.application_history (
    sequence           bigserial   PRIMARY KEY,
    application_id     uuid        NOT NULL REFERENCES applications.application (id),
    action             text        NOT NULL,
    from_state         text,
    to_state           text        NOT NULL,
    actor_subject      text        NOT NULL,
    actor_role         text        NOT NULL,
    actor_organization text        NOT NULL DEFAULT '',
    occur_time         timestamptz NOT NULL DEFAULT now(),
    request_id         uuid,
    comment            text        NOT NULL DEFAULT '',
    changed_fields     text[]      NOT NULL DEFAULT '{}',
    trace_id           text        NOT NULL DEFAULT ''
);

CREATE INDEX application_history_application_sequence_idx
    ON applications.application_history (application_id, sequence);

CREATE FUNCTION applications.refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'applications.application_history is append-only';
END
$$;

CREATE TRIGGER application_history_is_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON applications.application_history
    FOR EACH STATEMENT EXECUTE FUNCTION applications.refuse_history_change();
