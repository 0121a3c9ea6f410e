//! The portfolio impact report: what the lender tells the investors in its
//! social bonds (after ICMA's Harmonised Framework for Impact Reporting).
//!
//! Included are plans activated on or before the report date, ACTIVE or
//! CLOSED (unless closed ones are excluded). Values count from reports
//! accepted on or before the date; per plan and indicator the latest period's
//! value is the one that counts. Only catalogue indicators reported in the
//! catalogue's unit are aggregated, since only they mean the same thing
//! across plans. The report reads the fact rows kept beside plans and
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

/// The plans in scope, as a CTE every query of the report starts from.
const PLANS: &str = "WITH plans AS (
    SELECT id, category, approved_minor, tagged_minor, sdg_targets FROM monitoring.monitoring_plan
     WHERE activate_date <= $1
       AND state IN ('ACTIVE', 'CLOSED') AND NOT ($3 AND state = 'CLOSED')
       AND ($2::text IS NULL OR category = $2))";

/// Computes the report.
pub async fn report(pool: &PgPool, scope: Scope) -> Result<PortfolioImpactReport, Error> {
    let category = scope.category.map(|c| crate::plans::category_name(c as i32));
    let totals = sqlx::query_as::<_, (String, i64, i64, i64)>(sqlx::AssertSqlSafe(format!(
        "{PLANS} SELECT category, count(*), least(coalesce(sum(approved_minor), 0), 9223372036854775807)::bigint, least(coalesce(sum(tagged_minor), 0), 9223372036854775807)::bigint
                  FROM plans GROUP BY category"
    )))
    .bind(scope.as_of)
    .bind(&category)
    .bind(scope.exclude_closed)
    .fetch_all(pool);
    let indicators = sqlx::query_as::<_, IndicatorRow>(sqlx::AssertSqlSafe(format!(
        "{PLANS}, latest AS (
            SELECT DISTINCT ON (m.plan_id, m.indicator_code) m.plan_id, m.indicator_code, m.value
              FROM monitoring.measurement m JOIN plans p ON p.id = m.plan_id
             WHERE m.accept_date <= $1
             ORDER BY m.plan_id, m.indicator_code, m.period_end DESC)
         SELECT p.category, d.code, d.display_name, d.unit, d.level,
                count(*) AS plan_count,
                count(l.value) AS reporting,
                count(*) FILTER (WHERE CASE d.direction WHEN 'HIGHER_IS_BETTER' THEN l.value > i.baseline
                                                       ELSE l.value < i.baseline END) AS improved,
                count(*) FILTER (WHERE CASE d.direction WHEN 'HIGHER_IS_BETTER' THEN l.value >= i.target
                                                       ELSE l.value <= i.target END) AS reached,
                coalesce(sum(i.baseline) FILTER (WHERE l.value IS NOT NULL), 0) AS baseline_sum,
                coalesce(sum(l.value), 0) AS latest_sum,
                coalesce(sum(i.target) FILTER (WHERE l.value IS NOT NULL), 0) AS target_sum
           FROM plans p
           JOIN monitoring.plan_indicator i ON i.plan_id = p.id
           JOIN monitoring.indicator_definition d ON d.code = i.code AND d.unit = i.unit
           LEFT JOIN latest l ON l.plan_id = p.id AND l.indicator_code = i.code
          GROUP BY p.category, d.code, d.display_name, d.unit, d.level
          ORDER BY p.category, d.code"
    )))
    .bind(scope.as_of)
    .bind(&category)
    .bind(scope.exclude_closed)
    .fetch_all(pool);
    let groups = sqlx::query_as::<_, (String, i64, i64, i64, i64)>(sqlx::AssertSqlSafe(format!(
        "{PLANS}, latest AS (
            SELECT DISTINCT ON (r.plan_id, r.population) r.plan_id, r.population, r.people
              FROM monitoring.reach r JOIN plans p ON p.id = r.plan_id
             WHERE r.accept_date <= $1
             ORDER BY r.plan_id, r.population, r.period_end DESC)
         SELECT g.population, count(*), least(coalesce(sum(p.approved_minor), 0), 9223372036854775807)::bigint,
                least(coalesce(sum(g.estimated_size), 0), 9223372036854775807)::bigint,
                least(coalesce(sum(l.people), 0), 9223372036854775807)::bigint
           FROM plans p
           JOIN monitoring.plan_target_group g ON g.plan_id = p.id
           LEFT JOIN latest l ON l.plan_id = p.id AND l.population = g.population
          GROUP BY g.population"
    )))
    .bind(scope.as_of)
    .bind(&category)
    .bind(scope.exclude_closed)
    .fetch_all(pool);
    let sdgs = sqlx::query_as::<_, (String, i64, i64, i64)>(sqlx::AssertSqlSafe(format!(
        "{PLANS} SELECT t.target, count(DISTINCT p.id),
                        least(coalesce(sum(p.approved_minor), 0), 9223372036854775807)::bigint,
                        least(coalesce(sum(p.tagged_minor), 0), 9223372036854775807)::bigint
                   FROM plans p, LATERAL (SELECT DISTINCT unnest(p.sdg_targets) AS target) t
                  GROUP BY t.target"
    )))
    .bind(scope.as_of)
    .bind(&category)
    .bind(scope.exclude_closed)
    .fetch_all(pool);
    // Four reads side by side, each a consistent snapshot of its own: a report
    // accepted while they run may show in one and not yet in another, which a
    // rerun settles; reports accepted on earlier days are never affected.
    let (totals, indicators, groups, sdgs) = tokio::try_join!(totals, indicators, groups, sdgs)?;
    Ok(assemble(scope.as_of, totals, indicators, groups, sdgs))
}

/// One category's aggregate of one catalogue indicator.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IndicatorRow {
    category: String,
    code: String,
    display_name: String,
    unit: String,
    level: String,
    plan_count: i64,
    reporting: i64,
    improved: i64,
    reached: i64,
    baseline_sum: f64,
    latest_sum: f64,
    target_sum: f64,
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
    totals: Vec<(String, i64, i64, i64)>,
    indicators: Vec<IndicatorRow>,
    groups: Vec<(String, i64, i64, i64, i64)>,
    sdgs: Vec<(String, i64, i64, i64)>,
) -> PortfolioImpactReport {
    let mut by_category: BTreeMap<i32, CategoryImpact> = BTreeMap::new();
    for (name, plans, approved, tagged) in totals {
        let category = category_of(&name);
        by_category.insert(
            category as i32,
            CategoryImpact {
                category: category as i32,
                plan_count: count(plans),
                approved_amount: sek(approved),
                tagged_loan_amount: sek(tagged),
                indicators: Vec::new(),
            },
        );
    }
    for row in indicators {
        let Some(category) = by_category.get_mut(&(category_of(&row.category) as i32)) else { continue };
        category.indicators.push(IndicatorAggregate {
            indicator_code: row.code,
            display_name: row.display_name,
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
    PortfolioImpactReport {
        as_of: Some(crate::plans::date(as_of)),
        plan_count: by_category.iter().map(|c| c.plan_count).fold(0, |a: i32, b| a.saturating_add(b)),
        approved_amount: sek(sum(|c| c.approved_amount.as_ref().map_or(0, |m| m.minor_units))),
        tagged_loan_amount: sek(sum(|c| c.tagged_loan_amount.as_ref().map_or(0, |m| m.minor_units))),
        by_category,
        by_target_group,
        by_sdg,
        generate_time: Some(socialloans_platform::timestamp(chrono::Utc::now())),
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
