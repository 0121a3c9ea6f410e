-- The audit trail refuses TRUNCATE too (a row trigger never sees one): a
-- second guard beside the runtime role's missing privilege.
CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON monitoring.audit_entry
    FOR EACH STATEMENT EXECUTE FUNCTION monitoring.audit_entry_is_append_only();
