//! Monitoring's enums as the database keeps them: each protobuf value's name
//! without its prefix (`ACTIVE` for `MONITORING_PLAN_STATE_ACTIVE`).

use socialloans_contracts::common::{Category, IndicatorDirection, IndicatorLevel, TargetPopulation};
use socialloans_contracts::monitoring::{MonitoringPlanState, OutcomeReportState};

socialloans_platform::stored_enum!(
    /// A plan's state.
    pub struct StoredPlanState(MonitoringPlanState, "MONITORING_PLAN_STATE_");
);
socialloans_platform::stored_enum!(
    /// A report's state, and a version's review result.
    pub struct StoredReportState(OutcomeReportState, "OUTCOME_REPORT_STATE_");
);
socialloans_platform::stored_enum!(
    /// A category of social impact.
    pub struct StoredCategory(Category, "CATEGORY_");
);
socialloans_platform::stored_enum!(
    /// Which way an indicator should move.
    pub struct StoredDirection(IndicatorDirection, "INDICATOR_DIRECTION_");
);
socialloans_platform::stored_enum!(
    /// An indicator's level (output, outcome, impact).
    pub struct StoredLevel(IndicatorLevel, "INDICATOR_LEVEL_");
);
socialloans_platform::stored_enum!(
    /// A target population.
    pub struct StoredPopulation(TargetPopulation, "TARGET_POPULATION_");
);
