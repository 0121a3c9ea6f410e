-- The facts the portfolio impact report aggregates, kept in columns and rows
-- beside the plan and report messages so that the report is a few indexed
-- queries rather than a decode of every plan and report. Written in the same
-- transaction as the change they mirror.
ALTER TABLE monitoring.monitoring_plan
    ADD COLUMN approved_minor bigint NOT NULL DEFAULT 0 CHECK (approved_minor >= 0),
    ADD COLUMN tagged_minor   bigint NOT NULL DEFAULT 0 CHECK (tagged_minor >= 0),
    ADD COLUMN activate_date  date,
    ADD COLUMN sdg_targets    text[] NOT NULL DEFAULT '{}';

-- The plan's indicators with what was promised.
CREATE TABLE monitoring.plan_indicator (
    plan_id  uuid             NOT NULL REFERENCES monitoring.monitoring_plan (id),
    code     text             NOT NULL,
    unit     text             NOT NULL,
    baseline double precision,
    target   double precision,
    PRIMARY KEY (plan_id, code)
);

-- The plan's target groups, one row per ICMA population (sizes summed).
CREATE TABLE monitoring.plan_target_group (
    plan_id        uuid   NOT NULL REFERENCES monitoring.monitoring_plan (id),
    population     text   NOT NULL,
    estimated_size bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (plan_id, population)
);

-- Values of accepted reports (the latest accepted version of each report).
CREATE TABLE monitoring.measurement (
    report_id      uuid             NOT NULL REFERENCES monitoring.outcome_report (id),
    plan_id        uuid             NOT NULL REFERENCES monitoring.monitoring_plan (id),
    period_end     date             NOT NULL,
    accept_date    date             NOT NULL,
    indicator_code text             NOT NULL,
    value          double precision NOT NULL,
    PRIMARY KEY (report_id, indicator_code)
);
CREATE INDEX measurement_latest_idx ON monitoring.measurement (plan_id, indicator_code, period_end DESC);

-- People reached per target population in accepted reports.
CREATE TABLE monitoring.reach (
    report_id   uuid   NOT NULL REFERENCES monitoring.outcome_report (id),
    plan_id     uuid   NOT NULL REFERENCES monitoring.monitoring_plan (id),
    period_end  date   NOT NULL,
    accept_date date   NOT NULL,
    population  text   NOT NULL,
    people      bigint NOT NULL CHECK (people >= 0),
    PRIMARY KEY (report_id, population)
);
CREATE INDEX reach_latest_idx ON monitoring.reach (plan_id, population, period_end DESC);

-- Overdue notices already published: a report's period or a condition is
-- announced overdue once, however often the detector runs.
CREATE TABLE monitoring.overdue_notice (
    item         text        PRIMARY KEY,
    due_date     date        NOT NULL,
    notice_time  timestamptz NOT NULL DEFAULT now()
);

-- The reviewer's comments on a returned version, as an encoded
-- OutcomeReportVersion carrying only review_comments.
ALTER TABLE monitoring.outcome_report_version ADD COLUMN review_comments bytea NOT NULL DEFAULT '';
CREATE INDEX outcome_report_create_time_id_idx ON monitoring.outcome_report (create_time, id);
