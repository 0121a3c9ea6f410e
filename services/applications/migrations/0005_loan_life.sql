-- A loan's life after tagging: where it stands (ACTIVE, MATURED, REDEEMED,
-- REFINANCED, CANCELLED), its maturity and its encoded LoanTag, kept beside
-- the application's content so that loans are found by id and listed by
-- organisation, state and maturity. Rows tagged before this migration are
-- filled in by the service when it starts (`store::backfill_loans`).
ALTER TABLE applications.loan
    ADD COLUMN organization_number text,
    ADD COLUMN state text,
    ADD COLUMN maturity_date date,
    ADD COLUMN content bytea,
    ADD COLUMN update_time timestamptz;

UPDATE applications.loan SET state = 'ACTIVE' WHERE state IS NULL;

-- A cancelled tag frees its loan id for the application it belongs to: the
-- id is unique among live tags only, and a row is one loan on one application.
ALTER TABLE applications.loan DROP CONSTRAINT loan_pkey;
ALTER TABLE applications.loan ADD PRIMARY KEY (application_id, loan_id);
CREATE UNIQUE INDEX loan_live_idx ON applications.loan (loan_id) WHERE state IS DISTINCT FROM 'CANCELLED';
CREATE INDEX loan_maturity_idx ON applications.loan (maturity_date, application_id, loan_id);
DROP INDEX applications.loan_application_id_idx;
