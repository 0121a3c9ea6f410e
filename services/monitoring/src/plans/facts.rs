//! The rows the portfolio report aggregates, as a plan and its accepted
//! reports leave them: a plan's indicators (each code once) and its target
//! groups' sizes, an accepted report's values and the people it reached,
//! both summed per ICMA population.

use chrono::NaiveDate;
use socialloans_contracts::common::TargetPopulation;
use socialloans_contracts::monitoring::{MonitoringPlan, OutcomeReport};
use sqlx::PgConnection;

use crate::store;

/// What the portfolio report aggregates of `plan`: each indicator code once
/// (the first indicator of it), and the target groups' sizes summed per
/// population ([`by_population`]).
pub fn of_plan(plan: &MonitoringPlan) -> store::plans::Facts {
    let mut facts = store::plans::Facts::default();
    for indicator in &plan.indicators {
        if !facts.codes.contains(&indicator.code) {
            facts.codes.push(indicator.code.clone());
            facts.units.push(indicator.unit.clone());
            facts.baselines.push(indicator.baseline.as_ref().map(|b| b.value));
            facts.targets.push(indicator.target.as_ref().map(|t| t.value));
        }
    }
    (facts.populations, facts.sizes) =
        by_population(plan.target_groups.iter().map(|g| (g.population, g.estimated_size)));
    facts
}

/// Numbers summed per ICMA population (negatives as 0), in first-seen order:
/// the rows the fact tables keep.
pub fn by_population(pairs: impl IntoIterator<Item = (i32, i64)>) -> (Vec<String>, Vec<i64>) {
    let mut sums: Vec<(String, i64)> = Vec::new();
    for (population, n) in pairs {
        let population = population_name(population);
        match sums.iter_mut().find(|(p, _)| *p == population) {
            Some((_, sum)) => *sum = sum.saturating_add(n.max(0)),
            None => sums.push((population, n.max(0))),
        }
    }
    sums.into_iter().unzip()
}

/// `TargetPopulation::…` without prefix.
pub fn population_name(population: i32) -> String {
    TargetPopulation::try_from(population)
        .unwrap_or_default()
        .as_str_name()
        .trim_start_matches("TARGET_POPULATION_")
        .to_owned()
}

/// Mirrors an accepted report's values and reach into the rows the
/// portfolio report aggregates, replacing those of an earlier accepted version.
pub async fn record_accepted(
    conn: &mut PgConnection,
    row: &store::reports::Row,
    report: &OutcomeReport,
    accept_date: NaiveDate,
) -> Result<(), sqlx::Error> {
    let (codes, values): (Vec<String>, Vec<f64>) = report
        .indicator_values
        .iter()
        .filter_map(|v| Some((v.indicator_code.clone(), v.value.filter(|x| x.is_finite())?)))
        .unzip();
    let (populations, people) =
        by_population(report.target_group_reach.iter().map(|r| (r.population, r.people_reached)));
    store::reports::replace_facts(conn, row.document.id, accept_date, &codes, &values, &populations, &people).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::common::{IndicatorBaseline, IndicatorTarget, TargetGroup};
    use socialloans_contracts::monitoring::PlanIndicator;

    #[test]
    fn a_plans_facts_keep_the_first_indicator_of_a_code_and_sum_its_groups_per_population() {
        let indicator = |code: &str, unit: &str, target| PlanIndicator {
            code: code.into(),
            unit: unit.into(),
            baseline: (code == "jobs").then(|| IndicatorBaseline { value: 2.0, ..Default::default() }),
            target: Some(IndicatorTarget { value: target, ..Default::default() }),
            ..Default::default()
        };
        let group = |population: TargetPopulation, estimated_size| TargetGroup {
            population: population as i32,
            estimated_size,
            ..Default::default()
        };
        let plan = MonitoringPlan {
            indicators: vec![
                indicator("jobs", "people", 10.0),
                indicator("homes", "flats", 4.0),
                indicator("jobs", "x", 1.0),
            ],
            target_groups: vec![
                group(TargetPopulation::Unemployed, 30),
                group(TargetPopulation::Ageing, 5),
                group(TargetPopulation::Unemployed, 12),
            ],
            ..Default::default()
        };
        let facts = of_plan(&plan);
        assert_eq!(
            (facts.codes, facts.units),
            (vec!["jobs".to_owned(), "homes".into()], vec!["people".to_owned(), "flats".into()])
        );
        assert_eq!((facts.baselines, facts.targets), (vec![Some(2.0), None], vec![Some(10.0), Some(4.0)]));
        assert_eq!((facts.populations, facts.sizes), (vec!["UNEMPLOYED".to_owned(), "AGEING".into()], vec![42, 5]));
    }

    #[test]
    fn sums_per_population_saturate_instead_of_overflowing() {
        let (_, sums) = by_population([(1, i64::MAX), (1, i64::MAX), (1, -5)]);
        assert_eq!(sums, [i64::MAX]);
    }
}
