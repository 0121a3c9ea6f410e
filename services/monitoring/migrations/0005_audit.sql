-- The audit trail: every change to a plan, report, condition or catalogue
-- entry, who made it, in which request. Append-only: the service role may
-- insert and read, never update or delete (see the trigger).
CREATE TABLE monitoring.audit_entry (
    sequence            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action              text        NOT NULL,
    resource            text        NOT NULL,
    from_state          text        NOT NULL DEFAULT '',
    to_state            text        NOT NULL DEFAULT '',
    actor_subject       text        NOT NULL,
    actor_role          text        NOT NULL,
    actor_organization  text        NOT NULL DEFAULT '',
    occur_time          timestamptz NOT NULL DEFAULT now(),
    request_id          text        NOT NULL DEFAULT '',
    comment             text        NOT NULL DEFAULT '',
    trace_id            text        NOT NULL DEFAULT ''
);
CREATE INDEX audit_entry_resource_idx ON monitoring.audit_entry (resource text_pattern_ops, sequence);

CREATE FUNCTION monitoring.audit_entry_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END $$;
CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON monitoring.audit_entry
    FOR EACH ROW EXECUTE FUNCTION monitoring.audit_entry_is_append_only();
