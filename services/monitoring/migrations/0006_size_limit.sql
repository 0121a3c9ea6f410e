-- The database's own guard of the outcome report size limit the service
-- checks first (platform `limits::MAX_OUTCOME_REPORT_BYTES`). Rows already
-- stored are not re-checked.
ALTER TABLE monitoring.outcome_report
    ADD CONSTRAINT outcome_report_size_limit CHECK (octet_length(content) <= 262144) NOT VALID;
