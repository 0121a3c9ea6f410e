-- The database's own guard of the application size limit the service checks
-- first (platform `limits::MAX_APPLICATION_BYTES`: the whole application, the
-- borrower's content and contact person and what the lender adds). Rows
-- already stored are not re-checked.
ALTER TABLE applications.application
    ADD CONSTRAINT application_size_limit
    CHECK (octet_length(content) + octet_length(contact_person) <= 524288) NOT VALID;
