-- What the register learnt stays as it was learnt. The append-only tables
-- are protected by the runtime role's grants; these rows are updated by the
-- service itself, but only as its rules allow, so that not even the
-- service's own credential can rewrite a bond's terms or a loan's dates.

-- A loan's facts, from its tag, never change and are never deleted.
CREATE FUNCTION bonds.loan_stays() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'bonds.loan % is a fact of the register: it is not changed or deleted', OLD.loan_id
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER loan_stays BEFORE UPDATE OR DELETE ON bonds.loan
    FOR EACH ROW EXECUTE FUNCTION bonds.loan_stays();

-- A bond is never deleted; its terms never change; its state moves only
-- forward (a pending override approved or rejected by someone other than
-- its recorder, an outstanding bond redeemed), and it enters the register
-- once.
CREATE FUNCTION bonds.bond_moves_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'bonds.bond % is not deleted', OLD.isin USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (NEW.isin, NEW.currency_code, NEW.nominal, NEW.issue_date, NEW.maturity_date, NEW.rate_micros,
        NEW.recorded_by, NEW.recorded_role, NEW.create_time, NEW.override_reason, NEW.override_headroom)
       IS DISTINCT FROM
       (OLD.isin, OLD.currency_code, OLD.nominal, OLD.issue_date, OLD.maturity_date, OLD.rate_micros,
        OLD.recorded_by, OLD.recorded_role, OLD.create_time, OLD.override_reason, OLD.override_headroom) THEN
        RAISE EXCEPTION 'bonds.bond %: its terms are not changed', OLD.isin USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NOT ((OLD.state = NEW.state AND OLD.register_time IS NOT DISTINCT FROM NEW.register_time)
            OR (OLD.state = 'PENDING_OVERRIDE' AND NEW.state IN ('OUTSTANDING', 'REJECTED') AND OLD.register_time IS NULL
                AND NEW.decided_by NOT IN ('', OLD.recorded_by))
            OR (OLD.state = 'OUTSTANDING' AND NEW.state = 'REDEEMED' AND OLD.register_time = NEW.register_time)) THEN
        RAISE EXCEPTION 'bonds.bond %: % cannot become % (or its register time change)', OLD.isin, OLD.state, NEW.state
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER bond_moves_forward BEFORE UPDATE OR DELETE ON bonds.bond
    FOR EACH ROW EXECUTE FUNCTION bonds.bond_moves_forward();
