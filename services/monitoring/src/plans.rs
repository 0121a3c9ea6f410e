//! Monitoring plans: one per approved application, opened from the approval,
//! activated when core banking tags a loan, closed with the application.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use socialloans_contracts::common::{Category, Date};
use socialloans_contracts::monitoring::{
    ListMonitoringPlansRequest, MonitoringPlan, MonitoringPlanActivated, MonitoringPlanClosed, MonitoringPlanState,
    ReportingFrequency, ReportingPeriod, ReportingPeriodState, ReportingSchedule,
};
use socialloans_platform::{Caller, error::FieldViolation, events::outbox};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::store::{
    self,
    plans::{Filter, Row},
};
use crate::{error::Error, rules};

pub mod facts;

/// `MonitoringPlanState::Active` ↔ `ACTIVE`.
pub fn state_name(state: MonitoringPlanState) -> String {
    state.as_str_name().trim_start_matches("MONITORING_PLAN_STATE_").to_owned()
}

/// `Category::…` without prefix.
pub fn category_name(category: i32) -> String {
    Category::try_from(category).unwrap_or_default().as_str_name().trim_start_matches("CATEGORY_").to_owned()
}

/// What a stored plan's row says: its state, and the plan as the API
/// shows it.
pub trait PlanRow {
    /// The state.
    fn state(&self) -> MonitoringPlanState;
    /// The API view.
    fn view(&self) -> Result<MonitoringPlan, Error>;
}

impl PlanRow for Row {
    fn state(&self) -> MonitoringPlanState {
        self.state.0
    }

    fn view(&self) -> Result<MonitoringPlan, Error> {
        let mut plan: MonitoringPlan = self.decode()?;
        plan.name = format!("monitoringPlans/{}", self.id);
        plan.state = self.state() as i32;
        plan.etag = self.etag();
        for condition in &mut plan.conditions {
            if condition.name.starts_with("conditions/") {
                condition.name = format!("{}/{}", plan.name, condition.name);
            }
            condition.etag = plan.etag.clone();
        }
        plan.create_time = Some(socialloans_platform::timestamp(self.create_time));
        plan.update_time = Some(socialloans_platform::timestamp(self.update_time));
        Ok(plan)
    }
}

/// Opens a plan unless the application has one; returns it if new. The
/// facts the portfolio report aggregates are written beside it.
pub async fn open(conn: &mut PgConnection, plan: &MonitoringPlan) -> Result<Option<Row>, sqlx::Error> {
    let approved_minor = plan.approved_amount.as_ref().map_or(0, |m| m.minor_units.max(0));
    let row = store::plans::insert(conn, plan, &category_name(plan.category), approved_minor).await?;
    let Some(row) = row else { return Ok(None) };
    let name = format!("monitoringPlans/{}", row.id);
    store::audit::record(conn, &name, "", MonitoringPlanState::Pending.as_str_name(), "opened from the approval")
        .await?;
    store::plans::insert_facts(conn, row.id, &facts::of_plan(plan)).await?;
    Ok(Some(row))
}

/// The filter a list request asks for; every field it names wrongly is
/// refused. A borrower sees only its own organisation's plans.
pub fn filter(caller: &Caller, req: &ListMonitoringPlansRequest) -> Result<Filter, Error> {
    let mut violations = Vec::new();
    let state = match MonitoringPlanState::try_from(req.state) {
        Ok(MonitoringPlanState::Unspecified) => None,
        Ok(s) => Some(state_name(s)),
        Err(_) => {
            violations.push(FieldViolation::new("state", "is not a MonitoringPlanState"));
            None
        }
    };
    let category = match Category::try_from(req.category) {
        Ok(Category::Unspecified) => None,
        Ok(_) => Some(category_name(req.category)),
        Err(_) => {
            violations.push(FieldViolation::new("category", "is not a Category"));
            None
        }
    };
    let organization =
        caller.organization_filter(&req.organization_number).map_err(|v| violations.push(v)).ok().flatten();
    let updated_after = req.updated_after.as_ref().and_then(|time| {
        socialloans_platform::limits::time_field("updated_after", time).map_err(|v| violations.push(v)).ok()
    });
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    Ok(Filter {
        state,
        organization_number: organization,
        application: (!req.application.is_empty()).then(|| req.application.clone()),
        category,
        updated_after,
    })
}

/// The plans matching a filter, a page at a time, in opening order.
#[derive(Debug)]
pub struct Pages {
    filter: Filter,
    after: Option<(DateTime<Utc>, Uuid)>,
    done: bool,
}

impl Pages {
    /// Rows per page.
    const SIZE: u32 = 500;

    /// Pages over the plans matching `filter`.
    pub fn new(filter: Filter) -> Self {
        Self { filter, after: None, done: false }
    }

    /// The next page, or `None` after the last.
    pub async fn next(&mut self, pool: &PgPool) -> Result<Option<Vec<Row>>, sqlx::Error> {
        if self.done {
            return Ok(None);
        }
        let mut rows = store::plans::list(pool, &self.filter, self.after, Self::SIZE).await?;
        self.done = rows.len() <= Self::SIZE as usize;
        rows.truncate(Self::SIZE as usize);
        self.after = rows.last().map(Row::position);
        Ok(Some(rows))
    }
}

/// Saves a changed plan.
pub async fn save(
    conn: &mut PgConnection,
    row: &Row,
    plan: &MonitoringPlan,
    state: MonitoringPlanState,
) -> Result<(), sqlx::Error> {
    let mut stored = plan.clone();
    stored.name.clear();
    stored.etag.clear();
    for condition in &mut stored.conditions {
        if let Some(at) = condition.name.find("/conditions/") {
            condition.name = condition.name[at + 1..].to_owned();
        }
        condition.etag.clear();
    }
    let tagged_minor = plan.tagged_loan_amount.as_ref().map_or(0, |m| m.minor_units.max(0));
    let activate_date = plan.activate_time.and_then(|t| DateTime::from_timestamp(t.seconds, 0)).map(|t| t.date_naive());
    let facts = store::plans::PlanFacts {
        tagged_minor,
        activate_date,
        approved_minor: plan.approved_amount.as_ref().map_or(0, |m| m.minor_units.max(0)),
        label_withdrawn_from: crate::label::withdrawn_from(plan),
    };
    store::plans::update(conn, row.id, state_name(state), &stored, &facts).await
}

/// A `Date` of a calendar day.
pub fn date(d: NaiveDate) -> Date {
    Date { year: d.year(), month: d.month() as i32, day: d.day() as i32 }
}

/// Yearly reporting periods from the year of `start` through `last_year`,
/// each due `due_days` after it ends.
pub fn annual_periods(start: NaiveDate, last_year: i32, due_days: i64) -> Vec<ReportingPeriod> {
    let first_end = NaiveDate::from_ymd_opt(start.year(), 12, 31).unwrap_or(start);
    let until = NaiveDate::from_ymd_opt(last_year.max(start.year()), 12, 31).unwrap_or(first_end);
    periods(start, first_end, 12, until, due_days)
}

/// `months` after `end`, keeping to the month's last day when `end` is one.
pub fn months_after(end: NaiveDate, months: u32) -> Option<NaiveDate> {
    let month_end = end.succ_opt().is_none_or(|next| next.month() != end.month());
    let moved = end.checked_add_months(Months::new(months))?;
    if month_end {
        let first_of_next = moved.with_day(1)?.checked_add_months(Months::new(1))?;
        first_of_next.pred_opt()
    } else {
        Some(moved)
    }
}

/// Reporting periods from `start`: the first ends on `first_end`, each next
/// one `months` later, until a period reaches `until`; each is due
/// `due_days` after it ends.
pub fn periods(
    start: NaiveDate,
    first_end: NaiveDate,
    months: u32,
    until: NaiveDate,
    due_days: i64,
) -> Vec<ReportingPeriod> {
    let mut out = Vec::new();
    let mut from = start;
    for k in 0..400 {
        let Some(end) = months_after(first_end, months * k) else { break };
        out.push(ReportingPeriod {
            start_date: Some(date(from)),
            end_date: Some(date(end)),
            due_date: Some(date(
                end.checked_add_days(chrono::Days::new(due_days.clamp(0, 366) as u64)).unwrap_or(NaiveDate::MAX),
            )),
            state: ReportingPeriodState::Upcoming as i32,
            outcome_report: String::new(),
        });
        if end >= until {
            break;
        }
        from = end.succ_opt().unwrap_or(end);
    }
    out
}

/// A requested schedule with its defaults filled in (annual, first period
/// ending 31 December of `today`'s year, due after 90 days); every bad field
/// named.
pub fn check_schedule(schedule: ReportingSchedule, today: NaiveDate) -> Result<ReportingSchedule, crate::error::Error> {
    use socialloans_platform::error::FieldViolation;
    let mut v = Vec::new();
    let frequency = match ReportingFrequency::try_from(schedule.frequency) {
        Ok(ReportingFrequency::Unspecified) => ReportingFrequency::Annual,
        Ok(f) => f,
        Err(_) => {
            v.push(FieldViolation::new("schedule.frequency", "is not a ReportingFrequency"));
            ReportingFrequency::Annual
        }
    };
    let due_days = match schedule.due_days {
        0 => 90,
        d @ 1..=365 => d,
        _ => {
            v.push(FieldViolation::new("schedule.due_days", "must be 1..365"));
            90
        }
    };
    let first_period_end = match schedule.first_period_end.as_ref() {
        None => None,
        Some(d) => match naive(d).filter(|d| socialloans_platform::limits::YEARS.contains(&d.year())) {
            Some(day) if day >= today => Some(*d),
            Some(_) => {
                v.push(FieldViolation::new("schedule.first_period_end", "must not be before the activation date"));
                None
            }
            None => {
                v.push(FieldViolation::new("schedule.first_period_end", "is not a valid date"));
                None
            }
        },
    };
    if !v.is_empty() {
        return Err(crate::error::Error::InvalidArgument(v));
    }
    Ok(ReportingSchedule { frequency: frequency as i32, first_period_end, due_days })
}

/// The months between reporting periods of `schedule`.
pub fn interval_months(schedule: &ReportingSchedule) -> u32 {
    match ReportingFrequency::try_from(schedule.frequency).unwrap_or_default() {
        ReportingFrequency::SemiAnnual => 6,
        ReportingFrequency::Quarterly => 3,
        _ => 12,
    }
}

/// Extends an active plan's periods, on its schedule, through `until` (a
/// refinancing that matures later): the periods it has stay as they are,
/// and new ones follow the last. Returns how many were added.
pub fn extend_periods(plan: &mut MonitoringPlan, until: NaiveDate) -> usize {
    let Some(schedule) = plan.schedule else { return 0 };
    let Some(last) = plan.reporting_periods.last().and_then(|p| p.end_date.as_ref()).and_then(naive) else {
        return 0;
    };
    let months = interval_months(&schedule);
    let (Some(start), Some(first_end)) = (last.succ_opt(), months_after(last, months)) else { return 0 };
    if last >= until {
        return 0;
    }
    let added = periods(start, first_end, months, until, i64::from(schedule.due_days));
    let count = added.len();
    plan.reporting_periods.extend(added);
    count
}

/// Where the first period ends when the schedule does not say: at the end of
/// the calendar interval `today` falls in (the year, half-year or quarter),
/// or at the last loan's maturity if that comes first — never later than the
/// loan's life, never longer than one interval.
pub fn default_first_end(today: NaiveDate, months: u32, until: NaiveDate) -> NaiveDate {
    let months = months.clamp(1, 12);
    let last_month = (today.month0() / months + 1) * months;
    let next_month_start = if last_month >= 12 {
        NaiveDate::from_ymd_opt(today.year().saturating_add(1), 1, 1)
    } else {
        NaiveDate::from_ymd_opt(today.year(), last_month + 1, 1)
    };
    let end = next_month_start.and_then(|d| d.pred_opt()).unwrap_or(today);
    if until >= today { end.min(until) } else { end }
}

/// The last day reporting runs to: the last loan's maturity, or five years on.
fn reporting_until(plan: &MonitoringPlan, today: NaiveDate) -> NaiveDate {
    plan.last_maturity_date
        .as_ref()
        .and_then(naive)
        .unwrap_or_else(|| NaiveDate::from_ymd_opt(today.year() + 4, 12, 31).unwrap_or(today))
}

/// Refuses a first period that would not fall within the loan's life: its
/// end must come within one reporting interval of `today` and not after the
/// last loan's maturity (or, without a loan, five years on).
pub fn check_first_period(
    schedule: &ReportingSchedule,
    plan: &MonitoringPlan,
    today: NaiveDate,
) -> Result<(), crate::error::Error> {
    use socialloans_platform::error::FieldViolation;
    let Some(first) = schedule.first_period_end.as_ref().and_then(naive) else { return Ok(()) };
    let months = interval_months(schedule);
    let latest = today.checked_add_months(Months::new(months)).unwrap_or(today);
    let until = reporting_until(plan, today);
    if first > latest {
        return Err(FieldViolation::new(
            "schedule.first_period_end",
            format!("must come within {months} months of activation (by {latest})"),
        )
        .into());
    }
    if first > until {
        return Err(FieldViolation::new(
            "schedule.first_period_end",
            format!("must not be after the last loan matures ({until}): periods fall within the loan's life"),
        )
        .into());
    }
    Ok(())
}

/// Activates a pending plan: fixes its schedule and periods (from `today`
/// until the last loan matures, or five years without a maturity) and
/// publishes `MonitoringPlanActivated`. The schedule is already checked.
pub async fn activate(
    conn: &mut PgConnection,
    row: &Row,
    plan: &mut MonitoringPlan,
    schedule: ReportingSchedule,
    today: NaiveDate,
) -> Result<(), sqlx::Error> {
    let months = interval_months(&schedule);
    let until = reporting_until(plan, today);
    let first_end =
        schedule.first_period_end.as_ref().and_then(naive).unwrap_or_else(|| default_first_end(today, months, until));
    plan.reporting_periods = periods(today, first_end, months, until, i64::from(schedule.due_days));
    plan.schedule = Some(ReportingSchedule { first_period_end: Some(date(first_end)), ..schedule });
    plan.activate_time = Some(socialloans_platform::timestamp(Utc::now()));
    crate::label::schedule_first(plan, today);
    save(conn, row, plan, MonitoringPlanState::Active).await?;
    let name = format!("monitoringPlans/{}", row.id);
    let state = row.state().as_str_name();
    store::audit::record(conn, &name, state, MonitoringPlanState::Active.as_str_name(), "reporting started").await?;
    let activated = MonitoringPlanActivated {
        monitoring_plan: name.clone(),
        application: plan.application.clone(),
        organization_number: plan.organization_number.clone(),
        first_period_end: plan.reporting_periods.first().and_then(|p| p.end_date),
    };
    outbox::append(conn, "monitoring", &name, Some(&plan.organization_number), &activated).await.map(|_| ())
}

/// Closes a pending or active plan and publishes `MonitoringPlanClosed`.
pub async fn close(
    conn: &mut PgConnection,
    row: &Row,
    plan: &mut MonitoringPlan,
    reason: &str,
) -> Result<(), sqlx::Error> {
    plan.close_time = Some(socialloans_platform::timestamp(Utc::now()));
    save(conn, row, plan, MonitoringPlanState::Closed).await?;
    let name = format!("monitoringPlans/{}", row.id);
    store::audit::record(conn, &name, row.state().as_str_name(), MonitoringPlanState::Closed.as_str_name(), reason)
        .await?;
    let closed = MonitoringPlanClosed {
        monitoring_plan: name.clone(),
        application: plan.application.clone(),
        reason: reason.into(),
    };
    outbox::append(conn, "monitoring", &name, Some(&plan.organization_number), &closed).await.map(|_| ())
}

/// `2027-12-31`.
pub fn iso(d: &Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

/// The `NaiveDate` of a `Date`, if it is a valid one.
pub fn naive(d: &Date) -> Option<NaiveDate> {
    socialloans_platform::limits::date(d.year, d.month, d.day, i32::MIN..=i32::MAX)
}

/// A plan by name, locked for change, with its etag checked.
pub async fn lock_named(
    conn: &mut sqlx::PgConnection,
    name: &str,
    etag: &str,
) -> Result<(Row, socialloans_contracts::monitoring::MonitoringPlan), Error> {
    let id = crate::report_api::parse_plan("name", name)?;
    let row = store::plans::find(&mut *conn, id, None, true).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
    let plan = row.view()?;
    if !etag.is_empty() && etag != plan.etag {
        return Err(Error::EtagMismatch { current: plan.etag });
    }
    socialloans_platform::events::outbox::follow_thread(conn, &plan.application).await?;
    Ok((row, plan))
}

/// Activates the pending plan `name` (its etag checked) on `schedule`,
/// checked first, from today; the plan as saved.
pub async fn activate_named(
    conn: &mut PgConnection,
    name: &str,
    etag: &str,
    schedule: ReportingSchedule,
) -> Result<MonitoringPlan, Error> {
    let today = crate::overdue::today();
    let schedule = check_schedule(schedule, today)?;
    let (row, mut plan) = lock_named(conn, name, etag).await?;
    rules::may_activate(row.state())?;
    check_first_period(&schedule, &plan, today)?;
    activate(conn, &row, &mut plan, schedule, today).await?;
    reread(conn, &row, name).await
}

/// A plan's closing reason: required, and at most 4000 characters.
pub fn check_closing_reason(reason: &str) -> Result<(), Error> {
    if reason.trim().is_empty() {
        return Err(FieldViolation::new("reason", "is required").into());
    }
    match socialloans_platform::limits::text("reason", reason, 4000) {
        Some(v) => Err(v.into()),
        None => Ok(()),
    }
}

/// Closes the plan `name` (its etag checked) for `reason`, unless it is
/// closed already; the plan as saved.
pub async fn close_named(
    conn: &mut PgConnection,
    name: &str,
    etag: &str,
    reason: &str,
) -> Result<MonitoringPlan, Error> {
    let (row, mut plan) = lock_named(conn, name, etag).await?;
    rules::may_close(row.state())?;
    close(conn, &row, &mut plan, reason).await?;
    reread(conn, &row, name).await
}

/// The plan of `row` as saved in this transaction.
pub async fn reread(conn: &mut PgConnection, row: &Row, name: &str) -> Result<MonitoringPlan, Error> {
    store::plans::find(conn, row.id, None, true).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?.view()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_maturity_extends_the_periods_on_the_schedule_and_keeps_those_there_are() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let schedule = ReportingSchedule {
            frequency: ReportingFrequency::Annual as i32,
            first_period_end: Some(date(day(2027, 12, 31))),
            due_days: 90,
        };
        let mut plan = MonitoringPlan {
            schedule: Some(schedule),
            reporting_periods: periods(day(2027, 1, 1), day(2027, 12, 31), 12, day(2031, 6, 30), 90),
            ..Default::default()
        };
        plan.reporting_periods[0].state = ReportingPeriodState::Accepted as i32;
        let before = plan.reporting_periods.clone();
        let last = |plan: &MonitoringPlan| plan.reporting_periods.last().unwrap().end_date.map(|d| iso(&d));
        assert_eq!(last(&plan).as_deref(), Some("2031-12-31"));
        // A maturity within the periods there are adds nothing.
        assert_eq!(extend_periods(&mut plan, day(2031, 6, 30)), 0);
        // A rollover to 2036: five more yearly periods, each due 90 days after its end.
        assert_eq!(extend_periods(&mut plan, day(2036, 6, 30)), 5);
        assert_eq!(plan.reporting_periods[..before.len()], before[..], "the periods there were are kept");
        let added = &plan.reporting_periods[before.len()];
        assert_eq!(
            (added.start_date.map(|d| iso(&d)), added.end_date.map(|d| iso(&d)), added.due_date.map(|d| iso(&d))),
            (Some("2032-01-01".into()), Some("2032-12-31".into()), Some("2033-03-31".into()))
        );
        assert_eq!(last(&plan).as_deref(), Some("2036-12-31"));
        // Without a schedule (a plan not yet active) nothing is added.
        let mut pending = MonitoringPlan { reporting_periods: before, ..Default::default() };
        assert_eq!(extend_periods(&mut pending, day(2040, 1, 1)), 0);
    }

    #[test]
    fn a_list_filters_by_what_it_names_a_borrower_only_its_own_plans_and_every_unknown_value_is_refused() {
        let caller = |role, organization: Option<&str>| Caller {
            subject: "s".into(),
            roles: [role].into(),
            organizations: organization.map(str::to_owned).into_iter().collect(),
            expires_at: 0,
        };
        let borrower = caller(socialloans_platform::auth::Role::Borrower, Some("5560000001"));
        let asked = ListMonitoringPlansRequest {
            state: MonitoringPlanState::Active as i32,
            category: Category::HealthEducationSportAndCulture as i32,
            application: "applications/a1".into(),
            ..Default::default()
        };
        let filter = filter(&borrower, &asked).unwrap();
        assert_eq!(filter.state.as_deref(), Some("ACTIVE"));
        assert_eq!(filter.category.as_deref(), Some("HEALTH_EDUCATION_SPORT_AND_CULTURE"));
        assert_eq!(filter.organization_number.unwrap(), ["5560000001"]);
        assert_eq!(filter.application.as_deref(), Some("applications/a1"));
        let analyst = caller(socialloans_platform::auth::Role::Analyst, None);
        assert!(filter_is_empty(&super::filter(&analyst, &ListMonitoringPlansRequest::default()).unwrap()));
        let wrong = ListMonitoringPlansRequest { state: 99, category: 99, ..Default::default() };
        let Err(Error::InvalidArgument(v)) = super::filter(&analyst, &wrong) else { panic!("unknown values passed") };
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["state", "category"]);
    }

    fn filter_is_empty(f: &Filter) -> bool {
        f.state.is_none() && f.organization_number.is_none() && f.application.is_none() && f.category.is_none()
    }

    #[test]
    fn a_plan_closes_only_for_a_reason_of_at_most_4000_characters() {
        assert!(check_closing_reason("the loan is repaid").is_ok());
        for refused in [" ".to_owned(), "x".repeat(4001)] {
            let Err(Error::InvalidArgument(v)) = check_closing_reason(&refused) else { panic!("{refused:?} passed") };
            assert_eq!(v[0].field, "reason");
        }
    }

    #[test]
    fn the_first_period_ends_with_the_current_interval_or_the_loan() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let far = day(2040, 1, 1);
        assert_eq!(default_first_end(day(2027, 1, 2), 12, far), day(2027, 12, 31));
        assert_eq!(default_first_end(day(2027, 1, 2), 6, far), day(2027, 6, 30));
        assert_eq!(default_first_end(day(2027, 7, 1), 6, far), day(2027, 12, 31));
        assert_eq!(default_first_end(day(2027, 1, 2), 3, far), day(2027, 3, 31));
        assert_eq!(default_first_end(day(2027, 11, 30), 3, far), day(2027, 12, 31));
        // A loan maturing before the interval ends: the period ends with it.
        assert_eq!(default_first_end(day(2027, 1, 10), 12, day(2027, 3, 31)), day(2027, 3, 31));
    }

    #[test]
    fn annual_periods_run_calendar_years_and_fall_due_after_the_year_ends() {
        let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let periods = annual_periods(start, 2028, 90);
        assert_eq!(periods.len(), 3);
        assert_eq!(periods[0].start_date, Some(Date { year: 2026, month: 11, day: 27 }));
        assert_eq!(periods[0].due_date, Some(Date { year: 2027, month: 3, day: 31 }));
        assert_eq!(periods[2].end_date, Some(Date { year: 2028, month: 12, day: 31 }));
        assert_eq!(periods[1].start_date, Some(Date { year: 2027, month: 1, day: 1 }));
    }

    #[test]
    fn quarterly_periods_keep_to_month_ends_and_stop_at_the_period_reaching_maturity() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let p = periods(day(2027, 2, 10), day(2027, 3, 31), 3, day(2027, 11, 15), 30);
        let ends: Vec<Option<Date>> = p.iter().map(|p| p.end_date).collect();
        assert_eq!(
            ends,
            [(2027, 3, 31), (2027, 6, 30), (2027, 9, 30), (2027, 12, 31)].map(|(year, month, day)| Some(Date {
                year,
                month,
                day
            }))
        );
        assert_eq!(p[1].start_date, Some(Date { year: 2027, month: 4, day: 1 }));
        assert_eq!(p[3].due_date, Some(Date { year: 2028, month: 1, day: 30 }));
        assert_eq!(months_after(day(2027, 2, 28), 12), Some(day(2028, 2, 29)), "a month end stays a month end");
        assert_eq!(months_after(day(2027, 2, 10), 1), Some(day(2027, 3, 10)));
    }
}
