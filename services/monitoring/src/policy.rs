//! Who may call which method of the monitoring service: the one place to read it.
//! A borrower reaches only its own organisation's plans and reports; the
//! handlers enforce that binding.

use socialloans_platform::{
    Policy,
    Role::{self, *},
};

const READERS: &[Role] = &[Borrower, Analyst, ReportReviewer, CommitteeSecretary, CoreBanking, Auditor];
const REVIEW: &[Role] = &[ReportReviewer];

/// The role table. A method not listed here is refused for everyone.
pub static POLICY: Policy = Policy {
    service: socialloans_contracts::monitoring::monitoring_service_server::SERVICE_NAME,
    methods: &[
        ("CreateIndicatorDefinition", &[Analyst]),
        ("GetIndicatorDefinition", READERS),
        ("ListIndicatorDefinitions", READERS),
        ("GetMonitoringPlan", READERS),
        ("ListMonitoringPlans", READERS),
        ("ActivateMonitoringPlan", &[Analyst, ReportReviewer]),
        ("CloseMonitoringPlan", &[Analyst, ReportReviewer]),
        ("ReassessSocialLabel", &[Analyst]),
        ("ConfirmSocialLabelWithdrawal", &[Analyst]),
        ("CreateOutcomeReport", &[Borrower]),
        ("GetOutcomeReport", READERS),
        ("ListOutcomeReports", READERS),
        ("UpdateOutcomeReport", &[Borrower]),
        ("SubmitOutcomeReport", &[Borrower]),
        ("AcceptOutcomeReport", REVIEW),
        ("ReturnOutcomeReport", REVIEW),
        ("ListOutcomeReportVersions", READERS),
        ("FulfilCondition", &[Analyst, ReportReviewer]),
        ("WaiveCondition", &[Analyst, ReportReviewer]),
        ("BreachCondition", &[Analyst, ReportReviewer]),
        ("ListOverdueItems", READERS),
        ("GetPlanProgress", READERS),
        ("GetPortfolioImpactReport", &[Analyst, ReportReviewer, Treasury, Auditor]),
        ("ExportPortfolioImpactReport", &[Analyst, ReportReviewer, Treasury, Auditor]),
        ("ListAuditEntries", &[Analyst, Auditor]),
        ("StreamEvents", &[Service, Auditor, Borrower]),
    ],
};
