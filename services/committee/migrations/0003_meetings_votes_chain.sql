-- Meetings (the Meeting message in `content`: agenda, attendance, minutes).
CREATE TABLE committee.meeting (
    id          uuid        PRIMARY KEY,
    state       text        NOT NULL,
    revision    bigint      NOT NULL DEFAULT 1 CHECK (revision > 0),
    start_time  timestamptz NOT NULL,
    content     bytea       NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meeting_start_time_id_idx ON committee.meeting (start_time, id);

-- One vote per member, case and meeting; a member may change it until the
-- decision is recorded.
CREATE TABLE committee.vote (
    case_id       uuid        NOT NULL REFERENCES committee.committee_case (id),
    meeting_id    uuid        NOT NULL REFERENCES committee.meeting (id),
    member_id     uuid        NOT NULL REFERENCES committee.member (id),
    choice        text        NOT NULL,
    comment       text        NOT NULL DEFAULT '',
    actor_subject text        NOT NULL,
    cast_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, meeting_id, member_id)
);

-- The tamper-evident record: each entry hashes its predecessor. Append-only:
-- the service's own role may only insert and read, and a trigger refuses
-- changes from anyone else who holds the privilege.
CREATE TABLE committee.audit_chain (
    sequence       bigint      PRIMARY KEY,
    action         text        NOT NULL,
    resource       text        NOT NULL,
    actor_subject  text        NOT NULL,
    actor_role     text        NOT NULL,
    occur_time     timestamptz NOT NULL,
    request_id     text        NOT NULL DEFAULT '',
    summary        text        NOT NULL,
    payload_sha256 text        NOT NULL,
    previous_hash  text        NOT NULL,
    hash           text        NOT NULL
);

CREATE FUNCTION committee.refuse_chain_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'committee.audit_chain is append-only';
END
$$;
CREATE TRIGGER audit_chain_is_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON committee.audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION committee.refuse_chain_change();
REVOKE UPDATE, DELETE, TRUNCATE ON committee.audit_chain FROM CURRENT_USER;
