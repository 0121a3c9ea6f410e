-- The audit chain keeps each entry's payload beside its digest, so that
-- VerifyAuditChain compares it with the record it is of as that record
-- stands (a decision, the approved minutes): an edit of the record outside
-- the service is found. (Entries from before this migration have none.)
ALTER TABLE committee.audit_chain ADD COLUMN payload bytea;

-- The chain's head, signed with the committee's chain key at every
-- confirmed decision and approval of minutes: append-only, like the chain.
CREATE TABLE committee.chain_head_signature (
    sequence    bigint      PRIMARY KEY,
    hash        text        NOT NULL,
    sign_time   timestamptz NOT NULL,
    key_id      text        NOT NULL,
    public_key  text        NOT NULL,
    signature   text        NOT NULL
);
CREATE TRIGGER chain_head_signature_is_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON committee.chain_head_signature
    FOR EACH STATEMENT EXECUTE FUNCTION committee.refuse_chain_change();
