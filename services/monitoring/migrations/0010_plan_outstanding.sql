-- What each plan's loans had outstanding from which day, as core banking
-- reported it (LoanTagged, LoanUpdated): the portfolio impact report states
-- the outstanding amount as of its date from the latest row on or before it.
-- Append-only for the service's role (the history of a balance is not
-- rewritten; a correction is a new row).
CREATE TABLE monitoring.plan_outstanding (
    plan_id           uuid   NOT NULL REFERENCES monitoring.monitoring_plan (id),
    sequence          bigint GENERATED ALWAYS AS IDENTITY,
    effective_date    date   NOT NULL,
    outstanding_minor bigint NOT NULL CHECK (outstanding_minor >= 0),
    PRIMARY KEY (plan_id, sequence)
);
CREATE INDEX plan_outstanding_latest_idx
    ON monitoring.plan_outstanding (plan_id, effective_date DESC, sequence DESC);

-- Plans tagged before loans had a life: what was tagged is outstanding from
-- the plan's activation.
INSERT INTO monitoring.plan_outstanding (plan_id, effective_date, outstanding_minor)
SELECT id, coalesce(activate_date, create_time::date), tagged_minor
  FROM monitoring.monitoring_plan
 WHERE tagged_minor > 0;
