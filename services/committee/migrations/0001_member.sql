-- The committee roster: members, their role on the committee and their term.
CREATE TABLE committee.member (
    id           uuid        PRIMARY KEY,
    display_name text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role         text        NOT NULL CHECK (role IN ('MEMBER', 'CHAIR', 'SECRETARY')),
    term_start   date        NOT NULL,
    term_end     date        CHECK (term_end IS NULL OR term_end >= term_start),
    revision     bigint      NOT NULL DEFAULT 1 CHECK (revision > 0),
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX member_create_time_id_idx ON committee.member (create_time, id);
