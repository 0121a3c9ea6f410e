-- Decisions taken by written procedure (per capsulam) wait here to be
-- reported in the next minutes approved: the minutes of every meeting
-- adjourned meanwhile list them, and the approval of one claims them
-- (reported_to), freezing them with its other decisions. A decision is
-- reported once: reported_to, once set, never changes.
CREATE TABLE committee.written_report (
    decision    text        PRIMARY KEY,
    case_id     uuid        NOT NULL REFERENCES committee.committee_case (id),
    reported_to uuid        REFERENCES committee.meeting (id),
    create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX written_report_unreported_idx ON committee.written_report (create_time) WHERE reported_to IS NULL;
CREATE INDEX written_report_meeting_idx ON committee.written_report (reported_to);

CREATE FUNCTION committee.written_report_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.reported_to IS NOT NULL OR NEW.decision <> OLD.decision OR NEW.case_id <> OLD.case_id THEN
        RAISE EXCEPTION 'a decision by written procedure is reported once' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER written_report_once BEFORE UPDATE ON committee.written_report
    FOR EACH ROW EXECUTE FUNCTION committee.written_report_once();
REVOKE DELETE, TRUNCATE ON committee.written_report FROM CURRENT_USER;
