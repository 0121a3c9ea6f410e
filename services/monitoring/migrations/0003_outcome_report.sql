-- Outcome reports: one per plan and reporting period; every submission is
-- kept as a version, and a correction of an accepted report is a new version,
-- never an edit of the accepted one.
CREATE TABLE monitoring.outcome_report (
    id                  uuid        PRIMARY KEY,
    plan_id             uuid        NOT NULL REFERENCES monitoring.monitoring_plan (id),
    period_end          date        NOT NULL,
    state               text        NOT NULL,
    version             integer     NOT NULL DEFAULT 0,
    revision            bigint      NOT NULL DEFAULT 1 CHECK (revision > 0),
    organization_number text        NOT NULL,
    content             bytea       NOT NULL,
    create_time         timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (plan_id, period_end)
);

CREATE TABLE monitoring.outcome_report_version (
    report_id     uuid        NOT NULL REFERENCES monitoring.outcome_report (id),
    version       integer     NOT NULL,
    content       bytea       NOT NULL,
    submitted_by  text        NOT NULL,
    submit_time   timestamptz NOT NULL DEFAULT now(),
    review_result text        NOT NULL DEFAULT '',
    PRIMARY KEY (report_id, version)
);
