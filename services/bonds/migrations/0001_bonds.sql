-- The bond register's history. Every figure it reports is computed from
-- these rows as of a date (when a change takes effect) and as known at a
-- time (when the register learnt of it): the append-only tables are never
-- changed, so a report asked for again gives the same figures.

-- The projects the social loans finance, from the applications feed
-- (ApplicationApproved, ApplicationDecisionAmended): what the reports
-- break the pool down by.
CREATE TABLE bonds.project (
    application         text        PRIMARY KEY,
    organization_number text        NOT NULL,
    borrower_name       text        NOT NULL DEFAULT '',
    title               text        NOT NULL DEFAULT '',
    category            text        NOT NULL,
    municipality        text        NOT NULL DEFAULT '',
    municipality_code   text        NOT NULL DEFAULT '',
    populations         text[]      NOT NULL DEFAULT '{}',
    project_cost        bigint      NOT NULL CHECK (project_cost >= 0),
    update_time         timestamptz NOT NULL DEFAULT now()
);

-- The labelled loans, from LoanTagged.
CREATE TABLE bonds.loan (
    loan_id             text        PRIMARY KEY,
    application         text        NOT NULL,
    disbursement_date   date        NOT NULL,
    maturity_date       date        NOT NULL,
    principal           bigint      NOT NULL CHECK (principal > 0),
    refinances_loan_id  text        NOT NULL DEFAULT '',
    record_time         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX loan_application_idx ON bonds.loan (application);

-- How each loan's eligible outstanding amount moved: tagged (+principal on
-- the disbursement date), amortised, matured, redeemed, refinanced,
-- cancelled (back to the disbursement date) or withdrawn from the label.
-- Appended, never changed.
CREATE TABLE bonds.pool_movement (
    sequence        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    loan_id         text        NOT NULL REFERENCES bonds.loan (loan_id),
    effective_date  date        NOT NULL,
    delta           bigint      NOT NULL,
    reason          text        NOT NULL CHECK (reason IN
        ('TAGGED', 'AMORTISED', 'MATURED', 'REDEEMED', 'REFINANCED', 'CANCELLED', 'LABEL_WITHDRAWN', 'CORRECTED')),
    cause           text        NOT NULL,
    record_time     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX pool_movement_loan_idx ON bonds.pool_movement (loan_id, sequence);
CREATE INDEX pool_movement_record_idx ON bonds.pool_movement (record_time);

-- The accepted outcome reports' indicator values, from the monitoring feed.
-- Appended, never changed.
CREATE TABLE bonds.accepted_indicator (
    sequence        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application     text        NOT NULL,
    outcome_report  text        NOT NULL,
    period_end      date        NOT NULL,
    version         integer     NOT NULL,
    indicator_code  text        NOT NULL,
    unit            text        NOT NULL DEFAULT '',
    value           double precision NOT NULL,
    cause           text        NOT NULL,
    record_time     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX accepted_indicator_application_idx ON bonds.accepted_indicator (application, period_end);

-- The bonds issued.
CREATE TABLE bonds.bond (
    isin                text        PRIMARY KEY CHECK (isin ~ '^[A-Z]{2}[A-Z0-9]{9}[0-9]$'),
    display_name        text        NOT NULL DEFAULT '' CHECK (char_length(display_name) <= 200),
    currency_code       text        NOT NULL CHECK (currency_code IN ('SEK', 'EUR', 'USD')),
    nominal             bigint      NOT NULL CHECK (nominal > 0 AND nominal <= 1000000000000000),
    issue_date          date        NOT NULL,
    maturity_date       date        NOT NULL CHECK (maturity_date > issue_date),
    -- SEK per unit of the currency, in millionths.
    rate_micros         bigint      NOT NULL CHECK (rate_micros > 0 AND rate_micros <= 1000000000),
    state               text        NOT NULL CHECK (state IN ('PENDING_OVERRIDE', 'OUTSTANDING', 'REDEEMED', 'REJECTED')),
    recorded_by         text        NOT NULL,
    recorded_role       text        NOT NULL,
    create_time         timestamptz NOT NULL DEFAULT now(),
    -- When it entered the register (counts as known from then on).
    register_time       timestamptz,
    override_reason     text        NOT NULL DEFAULT '' CHECK (char_length(override_reason) <= 4000),
    override_headroom   bigint,
    decided_by          text        NOT NULL DEFAULT '',
    decide_time         timestamptz,
    rejection_reason    text        NOT NULL DEFAULT '' CHECK (char_length(rejection_reason) <= 4000)
);

-- Buy-backs and early redemptions. Appended, never changed.
CREATE TABLE bonds.bond_redemption (
    sequence        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    isin            text        NOT NULL REFERENCES bonds.bond (isin),
    kind            text        NOT NULL CHECK (kind IN ('BUY_BACK', 'EARLY_REDEMPTION')),
    nominal         bigint      NOT NULL CHECK (nominal > 0),
    effective_date  date        NOT NULL,
    recorded_by     text        NOT NULL,
    record_time     timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The one row the register's writers lock: issues are checked against the
-- pool one at a time; the headroom warning is raised once until restored.
CREATE TABLE bonds.register (
    id              boolean     PRIMARY KEY DEFAULT true CHECK (id),
    headroom_low    boolean     NOT NULL DEFAULT false,
    low_since       timestamptz
);
INSERT INTO bonds.register DEFAULT VALUES;

-- Published report vintages: frozen and signed. Appended, never changed.
CREATE TABLE bonds.report_vintage (
    kind                text        NOT NULL CHECK (kind IN ('allocation', 'impact')),
    as_of               date        NOT NULL,
    vintage             integer     NOT NULL CHECK (vintage > 0),
    known_at            timestamptz NOT NULL,
    report              bytea       NOT NULL,
    figures             text        NOT NULL,
    digest              text        NOT NULL,
    signed_message      text        NOT NULL,
    signature           text        NOT NULL,
    public_key          text        NOT NULL,
    key_id              text        NOT NULL,
    changes             bytea       NOT NULL,
    restatement_reason  text        NOT NULL DEFAULT '' CHECK (char_length(restatement_reason) <= 4000),
    published_by        text        NOT NULL,
    publish_time        timestamptz NOT NULL,
    PRIMARY KEY (kind, as_of, vintage)
);
CREATE INDEX report_vintage_publish_idx ON bonds.report_vintage (publish_time DESC);
