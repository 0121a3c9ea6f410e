//! The events an outcome report's steps publish, each naming the report,
//! its plan's application, its borrower and the version concerned.

use socialloans_contracts::monitoring::{self as pb, MonitoringPlan, OutcomeReport};

/// `OutcomeReportSubmitted` for `version` of the report `name` of `plan`, by `organization`.
pub fn submitted(
    name: &str,
    plan: &MonitoringPlan,
    organization: &str,
    report: &OutcomeReport,
    version: i32,
) -> pb::OutcomeReportSubmitted {
    pb::OutcomeReportSubmitted {
        outcome_report: name.to_owned(),
        application: plan.application.clone(),
        organization_number: organization.to_owned(),
        period_end: report.period_end,
        version,
    }
}

/// `OutcomeReportAccepted` for `version` of the report `name` of `plan`, with its values.
pub fn accepted(
    name: &str,
    plan: &MonitoringPlan,
    organization: &str,
    report: &OutcomeReport,
    version: i32,
) -> pb::OutcomeReportAccepted {
    pb::OutcomeReportAccepted {
        outcome_report: name.to_owned(),
        application: plan.application.clone(),
        organization_number: organization.to_owned(),
        period_end: report.period_end,
        version,
        indicator_values: report.indicator_values.clone(),
    }
}

/// `OutcomeReportReturned` for `version` of the report `name` of `plan`, with the review comments.
pub fn returned(
    name: &str,
    plan: &MonitoringPlan,
    organization: &str,
    report: &OutcomeReport,
    version: i32,
) -> pb::OutcomeReportReturned {
    pb::OutcomeReportReturned {
        outcome_report: name.to_owned(),
        application: plan.application.clone(),
        organization_number: organization.to_owned(),
        version,
        comments: report.review_comments.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::common;
    use socialloans_contracts::monitoring::IndicatorValue;

    #[test]
    fn a_reports_events_name_its_plans_application_its_borrower_and_its_version() {
        let plan = MonitoringPlan { application: "applications/a1".into(), ..Default::default() };
        let end = common::Date { year: 2026, month: 12, day: 31 };
        let comment = common::FieldComment { field_path: "narrative".into(), comment: "more".into() };
        let value = IndicatorValue { indicator_code: "jobs".into(), value: Some(3.0), ..Default::default() };
        let report = OutcomeReport {
            period_end: Some(end),
            review_comments: vec![comment],
            indicator_values: vec![value],
            ..Default::default()
        };
        let s = submitted("r1", &plan, "5560000001", &report, 2);
        assert_eq!((s.outcome_report.as_str(), s.application.as_str()), ("r1", "applications/a1"));
        assert_eq!((s.organization_number.as_str(), s.period_end, s.version), ("5560000001", Some(end), 2));
        let a = accepted("r1", &plan, "5560000001", &report, 2);
        assert_eq!((a.version, a.period_end, a.indicator_values[0].value), (2, Some(end), Some(3.0)));
        let r = returned("r1", &plan, "5560000001", &report, 2);
        assert_eq!((r.application.as_str(), r.version, r.comments[0].comment.as_str()), ("applications/a1", 2, "more"));
    }
}
