//! The portfolio impact report: what the lender tells the investors in its
//! social bonds (after ICMA's Harmonised Framework for Impact Reporting).
//!
//! Included are plans activated on or before the report date, ACTIVE or
//! CLOSED (unless closed ones are excluded). Values count from reports
//! accepted on or before the date; per plan and indicator the latest period's
//! value is the one that counts. Only catalogue indicators reported in the
//! catalogue's unit are aggregated, since only they mean the same thing
//! across plans. The outstanding amount is each plan's balance at the end of
//! the date, as core banking reported it. The report reads the fact rows kept beside plans and
//! reports (migration 0004), not the plan and report messages.

use socialloans_contracts::common;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use socialloans_contracts::common::{Category, IndicatorLevel, Money, TargetPopulation};
use socialloans_contracts::monitoring::{
    self as mo, CategoryImpact, IndicatorAggregate, PortfolioImpactReport, SdgImpact, TargetGroupImpact,
};
use socialloans_platform::error::FieldViolation;
use sqlx::PgPool;

use crate::{
    columns::{StoredCategory, StoredLevel, StoredPopulation},
    error::Error,
    store::{self, portfolio::IndicatorRow},
};

/// Which plans a report covers.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// Plans activated and reports accepted on or before this day.
    pub as_of: NaiveDate,
    /// Only this category, if set.
    pub category: Option<Category>,
    /// Leave CLOSED plans out.
    pub exclude_closed: bool,
}

fn sek(minor_units: i64) -> Option<Money> {
    Some(Money { currency_code: "SEK".into(), minor_units })
}

/// Computes the report.
pub async fn report(pool: &PgPool, scope: Scope) -> Result<PortfolioImpactReport, Error> {
    let category = scope.category.map(|c| crate::plans::category_name(c as i32));
    let f = store::portfolio::facts(pool, scope.as_of, category.as_deref(), scope.exclude_closed).await?;
    Ok(assemble(scope.as_of, f.totals, f.indicators, f.groups, f.sdgs))
}

fn category_of(name: &str) -> Category {
    StoredCategory::from_stored(name).map_or(Category::Unspecified, |c| c.0)
}

/// Orders SDG targets by goal, then target: "1.2" < "1.10" < "1.a" < "2.1".
pub fn sdg_order(target: &str) -> (i32, i32, String) {
    let (goal, rest) = target.split_once('.').unwrap_or((target, ""));
    let goal = goal.parse().unwrap_or(i32::MAX);
    match rest.parse::<i32>() {
        Ok(n) => (goal, n, String::new()),
        Err(_) => (goal, i32::MAX, rest.to_owned()),
    }
}

fn count(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn assemble(
    as_of: NaiveDate,
    totals: Vec<(String, i64, i64, i64, i64)>,
    indicators: Vec<IndicatorRow>,
    groups: Vec<(String, i64, i64, i64, i64)>,
    sdgs: Vec<(String, i64, i64, i64)>,
) -> PortfolioImpactReport {
    let mut by_category: BTreeMap<i32, CategoryImpact> = BTreeMap::new();
    for (name, plans, approved, tagged, outstanding) in totals {
        let category = category_of(&name);
        by_category.insert(
            category as i32,
            CategoryImpact {
                category: category as i32,
                plan_count: count(plans),
                approved_amount: sek(approved),
                tagged_loan_amount: sek(tagged),
                indicators: Vec::new(),
                outstanding_loan_amount: sek(outstanding),
            },
        );
    }
    for row in indicators {
        let Some(category) = by_category.get_mut(&(category_of(&row.category) as i32)) else { continue };
        category.indicators.push(IndicatorAggregate {
            indicator_code: row.code,
            display_name: row.display_name,
            swedish_display_name: row.swedish_display_name,
            unit: row.unit,
            level: StoredLevel::from_stored(&row.level).map_or(IndicatorLevel::Unspecified, |l| l.0) as i32,
            plan_count: count(row.plan_count),
            reporting_plan_count: count(row.reporting),
            improved_plan_count: count(row.improved),
            target_reached_plan_count: count(row.reached),
            baseline_sum: row.baseline_sum,
            latest_sum: row.latest_sum,
            target_sum: row.target_sum,
        });
    }
    let by_category: Vec<CategoryImpact> = by_category.into_values().collect();
    let mut by_target_group: Vec<TargetGroupImpact> = groups
        .into_iter()
        .map(|(population, plans, approved, estimated, reached)| TargetGroupImpact {
            population: StoredPopulation::from_stored(&population).map_or(TargetPopulation::Unspecified, |p| p.0)
                as i32,
            plan_count: count(plans),
            approved_amount: sek(approved),
            estimated_people: estimated,
            people_reached: reached,
        })
        .collect();
    by_target_group.sort_by_key(|g| g.population);
    let mut by_sdg: Vec<SdgImpact> = sdgs
        .into_iter()
        .map(|(target, plans, approved, tagged)| SdgImpact {
            sdg_goal: sdg_order(&target).0.min(99),
            sdg_target: target,
            plan_count: count(plans),
            approved_amount: sek(approved),
            tagged_loan_amount: sek(tagged),
        })
        .collect();
    by_sdg.sort_by_key(|s| sdg_order(&s.sdg_target));
    let sum = |f: fn(&CategoryImpact) -> i64| by_category.iter().map(f).fold(0i64, i64::saturating_add);
    let outstanding = sum(|c| c.outstanding_loan_amount.as_ref().map_or(0, |m| m.minor_units));
    PortfolioImpactReport {
        as_of: Some(crate::plans::date(as_of)),
        plan_count: by_category.iter().map(|c| c.plan_count).fold(0, |a: i32, b| a.saturating_add(b)),
        approved_amount: sek(sum(|c| c.approved_amount.as_ref().map_or(0, |m| m.minor_units))),
        tagged_loan_amount: sek(sum(|c| c.tagged_loan_amount.as_ref().map_or(0, |m| m.minor_units))),
        by_category,
        by_target_group,
        by_sdg,
        generate_time: Some(socialloans_platform::timestamp(chrono::Utc::now())),
        outstanding_loan_amount: sek(outstanding),
    }
}

/// A day from the API: `as_of` if given (a valid date), otherwise today in Sweden.
pub fn day_of(field: &str, date: Option<&common::Date>) -> Result<chrono::NaiveDate, FieldViolation> {
    match date {
        None => Ok(crate::overdue::today()),
        Some(d) => crate::plans::naive(d)
            .filter(|d| socialloans_platform::limits::YEARS.contains(&chrono::Datelike::year(d)))
            .ok_or_else(|| FieldViolation::new(field, "is not a calendar date between 1900 and 2200")),
    }
}

/// The scope of a portfolio report request; every bad field named.
pub fn scope(
    as_of: Option<&common::Date>,
    category: i32,
    exclude_closed: bool,
    format: Option<i32>,
) -> Result<Scope, Error> {
    let mut violations = Vec::new();
    let day = day_of("as_of", as_of).map_err(|v| violations.push(v)).ok();
    let category = match common::Category::try_from(category) {
        Ok(common::Category::Unspecified) => None,
        Ok(c) => Some(c),
        Err(_) => {
            violations.push(FieldViolation::new("category", "is not a Category"));
            None
        }
    };
    if let Some(format) = format
        && !matches!(mo::ExportFormat::try_from(format), Ok(mo::ExportFormat::Csv | mo::ExportFormat::Svg))
    {
        violations.push(FieldViolation::new("format", "must be EXPORT_FORMAT_CSV or EXPORT_FORMAT_SVG"));
    }
    match day {
        Some(as_of) if violations.is_empty() => Ok(Scope { as_of, category, exclude_closed }),
        _ => Err(Error::InvalidArgument(violations)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdg_targets_sort_by_goal_then_target_number_then_letter() {
        let mut targets = vec!["11.a", "1.10", "11.1", "1.2", "4.6", "11.7"];
        targets.sort_by_key(|t| sdg_order(t));
        assert_eq!(targets, ["1.2", "1.10", "4.6", "11.1", "11.7", "11.a"]);
    }
}
