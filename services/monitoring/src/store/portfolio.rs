//! The reads behind the portfolio impact report: sums over the fact rows
//! kept beside plans and reports (migration 0004), not over the plan and
//! report messages.

use chrono::NaiveDate;
use sqlx::PgPool;

/// The plans in scope, as a CTE every query of the report starts from.
const PLANS: &str = "WITH plans AS (
    SELECT id, category, approved_minor, tagged_minor, sdg_targets FROM monitoring.monitoring_plan
     WHERE activate_date <= $1
       AND state IN ('ACTIVE', 'CLOSED') AND NOT ($3 AND state = 'CLOSED')
       AND ($2::text IS NULL OR category = $2)
       -- Social only while labelled: a withdrawn label counts until the day before it ends.
       AND (label_withdrawn_from IS NULL OR label_withdrawn_from > $1))";

/// One category's aggregate of one catalogue indicator.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IndicatorRow {
    /// The plans' category, without prefix.
    pub category: String,
    /// The indicator's code.
    pub code: String,
    /// The catalogue's name for it.
    pub display_name: String,
    /// The catalogue's Swedish name for it; the English one when it has none.
    pub swedish_display_name: String,
    /// The catalogue's unit.
    pub unit: String,
    /// `OUTPUT`, `OUTCOME` or `IMPACT`.
    pub level: String,
    /// Plans measuring it.
    pub plan_count: i64,
    /// Of those, plans with an accepted value.
    pub reporting: i64,
    /// Plans whose latest value is better than their baseline.
    pub improved: i64,
    /// Plans whose latest value reaches their target.
    pub reached: i64,
    /// Baselines of the reporting plans, summed.
    pub baseline_sum: f64,
    /// Latest values, summed.
    pub latest_sum: f64,
    /// Targets of the reporting plans, summed.
    pub target_sum: f64,
}

/// What the report is computed from.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Per category: plans, approved, tagged and outstanding amounts (minor units).
    pub totals: Vec<(String, i64, i64, i64, i64)>,
    /// Per category and catalogue indicator.
    pub indicators: Vec<IndicatorRow>,
    /// Per population: plans, approved amount, estimated people, people reached.
    pub groups: Vec<(String, i64, i64, i64, i64)>,
    /// Per SDG target: plans, approved and tagged amounts.
    pub sdgs: Vec<(String, i64, i64, i64)>,
}

/// The facts of the plans activated on or before `as_of` (only those of
/// `category`, without prefix, if given; leaving CLOSED plans out if
/// `exclude_closed`), counting values and reach accepted on or before it.
pub async fn facts(
    pool: &PgPool,
    as_of: NaiveDate,
    category: Option<&str>,
    exclude_closed: bool,
) -> Result<Facts, sqlx::Error> {
    let totals = sqlx::query_as::<_, (String, i64, i64, i64, i64)>(sqlx::AssertSqlSafe(format!(
        "{PLANS} SELECT category, count(*), least(coalesce(sum(approved_minor), 0), 9223372036854775807)::bigint, least(coalesce(sum(tagged_minor), 0), 9223372036854775807)::bigint,
                        least(coalesce(sum(o.outstanding_minor), 0), 9223372036854775807)::bigint
                  FROM plans p
                  -- The balance at the end of the day: the latest report on or before it.
                  LEFT JOIN LATERAL (
                      SELECT outstanding_minor FROM monitoring.plan_outstanding po
                       WHERE po.plan_id = p.id AND po.effective_date <= $1
                       ORDER BY po.effective_date DESC, po.sequence DESC LIMIT 1) o ON true
                 GROUP BY category"
    )))
    .bind(as_of)
    .bind(category)
    .bind(exclude_closed)
    .fetch_all(pool);
    let indicators = sqlx::query_as::<_, IndicatorRow>(sqlx::AssertSqlSafe(format!(
        "{PLANS}, latest AS (
            SELECT DISTINCT ON (m.plan_id, m.indicator_code) m.plan_id, m.indicator_code, m.value
              FROM monitoring.measurement m JOIN plans p ON p.id = m.plan_id
             WHERE m.accept_date <= $1
             ORDER BY m.plan_id, m.indicator_code, m.period_end DESC)
         SELECT p.category, d.code, d.display_name,
                coalesce(nullif(d.swedish_display_name, ''), d.display_name) AS swedish_display_name, d.unit, d.level,
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
          GROUP BY p.category, d.code, d.display_name, d.swedish_display_name, d.unit, d.level
          ORDER BY p.category, d.code"
    )))
    .bind(as_of)
    .bind(category)
    .bind(exclude_closed)
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
    .bind(as_of)
    .bind(category)
    .bind(exclude_closed)
    .fetch_all(pool);
    let sdgs = sqlx::query_as::<_, (String, i64, i64, i64)>(sqlx::AssertSqlSafe(format!(
        "{PLANS} SELECT t.target, count(DISTINCT p.id),
                        least(coalesce(sum(p.approved_minor), 0), 9223372036854775807)::bigint,
                        least(coalesce(sum(p.tagged_minor), 0), 9223372036854775807)::bigint
                   FROM plans p, LATERAL (SELECT DISTINCT unnest(p.sdg_targets) AS target) t
                  GROUP BY t.target"
    )))
    .bind(as_of)
    .bind(category)
    .bind(exclude_closed)
    .fetch_all(pool);
    // Four reads side by side, each a consistent snapshot of its own: a report
    // accepted while they run may show in one and not yet in another, which a
    // rerun settles; reports accepted on earlier days are never affected.
    let (totals, indicators, groups, sdgs) = tokio::try_join!(totals, indicators, groups, sdgs)?;
    Ok(Facts { totals, indicators, groups, sdgs })
}
