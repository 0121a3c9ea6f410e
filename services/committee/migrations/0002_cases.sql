-- Members link to the identity provider's subject (the `sub` of their
-- tokens), so the service knows which member is calling.
ALTER TABLE committee.member
    ADD COLUMN subject   text NOT NULL DEFAULT '',
    ADD COLUMN expertise text NOT NULL DEFAULT '';
CREATE UNIQUE INDEX member_subject_idx ON committee.member (subject) WHERE subject <> '';

-- A case: one referred application, held exactly as referred (`content` is
-- the Case message, with the frozen application snapshot, the requirement
-- assessments and the conflict-of-interest declarations).
CREATE TABLE committee.committee_case (
    id                  uuid        PRIMARY KEY,
    application         text        NOT NULL UNIQUE,
    state               text        NOT NULL,
    revision            bigint      NOT NULL DEFAULT 1 CHECK (revision > 0),
    organization_number text        NOT NULL,
    content             bytea       NOT NULL,
    create_time         timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX committee_case_create_time_id_idx ON committee.committee_case (create_time, id);
CREATE INDEX committee_case_state_idx ON committee.committee_case (state, create_time, id);
