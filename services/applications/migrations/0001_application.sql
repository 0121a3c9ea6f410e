-- The application resource: the columns every later migration builds on.
-- The revision is the source of the etag (optimistic concurrency).
CREATE TABLE applications.application (
    id                  uuid        PRIMARY KEY,
    organization_number text        NOT NULL CHECK (organization_number ~ '^[0-9]{6}-[0-9]{4}$'),
    state               text        NOT NULL DEFAULT 'DRAFT',
    revision            bigint      NOT NULL DEFAULT 1 CHECK (revision > 0),
    create_time         timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now()
);

-- Keyset pagination in creation order, overall and per borrower.
CREATE INDEX application_create_time_id_idx ON applications.application (create_time, id);
CREATE INDEX application_organization_create_time_id_idx
    ON applications.application (organization_number, create_time, id);
