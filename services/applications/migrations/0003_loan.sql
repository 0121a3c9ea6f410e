-- Core banking's loans, each tagged to the one application it finances.
-- The application's content holds its loans; this table makes a loan id
-- unique across applications, so that no loan is counted for two projects
-- (in the monitoring plans or the portfolio impact report).
CREATE TABLE applications.loan (
    loan_id        text        PRIMARY KEY,
    application_id uuid        NOT NULL REFERENCES applications.application (id),
    tag_time       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX loan_application_id_idx ON applications.loan (application_id);
