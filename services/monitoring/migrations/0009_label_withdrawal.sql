-- The first day a plan's loan is no longer social (its label withdrawn by the
-- yearly re-assessment, confirmed by a second analyst): the portfolio impact
-- report counts the plan only on dates before it.
ALTER TABLE monitoring.monitoring_plan ADD COLUMN label_withdrawn_from date;
