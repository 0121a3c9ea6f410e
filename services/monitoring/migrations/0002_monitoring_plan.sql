-- A monitoring plan per approved application: what was promised (indicators
-- with baseline and target), the committee's conditions, and the reporting
-- schedule. `content` is the MonitoringPlan message; the columns beside it
-- exist for filtering and ordering.
CREATE TABLE monitoring.monitoring_plan (
    id                  uuid        PRIMARY KEY,
    application         text        NOT NULL UNIQUE,
    state               text        NOT NULL,
    revision            bigint      NOT NULL DEFAULT 1 CHECK (revision > 0),
    organization_number text        NOT NULL,
    category            text        NOT NULL,
    content             bytea       NOT NULL,
    create_time         timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX monitoring_plan_create_time_id_idx ON monitoring.monitoring_plan (create_time, id);
CREATE INDEX monitoring_plan_organization_idx ON monitoring.monitoring_plan (organization_number, create_time, id);
