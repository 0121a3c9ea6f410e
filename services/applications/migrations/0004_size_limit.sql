-- The database's own guard of the application size limit the service checks
-- first (platform `limits::MAX_APPLICATION_BYTES`): content and contact person
-- together. Rows already stored are not re-checked.
ALTER TABLE applications.application
    ADD CONSTRAINT application_size_limit
    CHECK (octet_length(content) + octet_length(contact_person) <= 262144) NOT VALID;
