-- The committee's history: every change to a member, case, meeting or vote,
-- with who made it, in which request and trace. Written by triggers on those
-- tables, in the same transaction as the change, so the history never
-- disagrees with the data and no code path can forget it. The service says
-- who acts by setting `socialloans.audit_*` for its transaction; a change
-- made without them (a superuser's, say) is still recorded, as "unknown".
-- Decisions and minutes are, in addition, on the hash chain (audit_chain).
CREATE TABLE committee.history (
    sequence      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action        text        NOT NULL,
    resource      text        NOT NULL,
    operation     text        NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    from_state    text        NOT NULL DEFAULT '',
    to_state      text        NOT NULL DEFAULT '',
    actor_subject text        NOT NULL,
    actor_role    text        NOT NULL,
    occur_time    timestamptz NOT NULL DEFAULT now(),
    request_id    text        NOT NULL DEFAULT '',
    trace_id      text        NOT NULL DEFAULT ''
);
CREATE INDEX history_resource_idx ON committee.history (resource text_pattern_ops, sequence);

CREATE FUNCTION committee.record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_now  jsonb := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END;
    row_then jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END;
    row_any  jsonb := coalesce(row_now, row_then);
    -- What "state" means per table: a member's role, a vote's choice.
    state_of text := CASE TG_TABLE_NAME WHEN 'member' THEN 'role' WHEN 'vote' THEN 'choice' ELSE 'state' END;
BEGIN
    INSERT INTO committee.history
        (action, resource, operation, from_state, to_state, actor_subject, actor_role, request_id, trace_id)
    VALUES (
        coalesce(nullif(current_setting('socialloans.audit_action', true), ''), 'unknown'),
        CASE TG_TABLE_NAME
            WHEN 'member' THEN 'members/' || (row_any->>'id')
            WHEN 'committee_case' THEN 'cases/' || (row_any->>'id')
            WHEN 'meeting' THEN 'meetings/' || (row_any->>'id')
            WHEN 'vote' THEN 'cases/' || (row_any->>'case_id') || '/votes/' || (row_any->>'member_id')
        END,
        TG_OP,
        coalesce(row_then->>state_of, ''),
        coalesce(row_now->>state_of, ''),
        coalesce(nullif(current_setting('socialloans.audit_subject', true), ''), 'unknown'),
        coalesce(nullif(current_setting('socialloans.audit_role', true), ''), 'unknown'),
        coalesce(current_setting('socialloans.audit_request', true), ''),
        coalesce(current_setting('socialloans.audit_trace', true), '')
    );
    RETURN NULL;
END
$$;

CREATE TRIGGER member_history AFTER INSERT OR UPDATE OR DELETE ON committee.member
    FOR EACH ROW EXECUTE FUNCTION committee.record_change();
CREATE TRIGGER case_history AFTER INSERT OR UPDATE OR DELETE ON committee.committee_case
    FOR EACH ROW EXECUTE FUNCTION committee.record_change();
CREATE TRIGGER meeting_history AFTER INSERT OR UPDATE OR DELETE ON committee.meeting
    FOR EACH ROW EXECUTE FUNCTION committee.record_change();
CREATE TRIGGER vote_history AFTER INSERT OR UPDATE OR DELETE ON committee.vote
    FOR EACH ROW EXECUTE FUNCTION committee.record_change();

CREATE FUNCTION committee.refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'committee.history is append-only';
END
$$;
CREATE TRIGGER history_is_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON committee.history
    FOR EACH STATEMENT EXECUTE FUNCTION committee.refuse_history_change();
REVOKE UPDATE, DELETE, TRUNCATE ON committee.history FROM CURRENT_USER;
