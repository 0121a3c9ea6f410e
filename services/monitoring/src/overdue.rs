//! Overdue items: reports not submitted by their due date and open conditions
//! past theirs, as of a given day. A report is overdue from the day after its
//! due date — on the due date itself it is still on time.
//!
//! The detector sweeps the active plans as of the day its [`Clock`] gives:
//! it moves reporting periods from UPCOMING to DUE when they end and to
//! OVERDUE when their due date passes, and publishes `ReportOverdue` and
//! `ConditionOverdue` once per item (the `overdue_notice` table remembers
//! what was announced), each in the transaction that records it.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::NaiveDate;
use socialloans_contracts::common::Date;
use socialloans_contracts::monitoring::{
    self as pb, ConditionState, MonitoringPlan, MonitoringPlanState, OverdueItem, OverdueItemKind, ReportingPeriodState,
};
use socialloans_platform::{events::outbox, unit};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::{
    error::Error,
    plans::{self, PlanRow, naive},
    store,
};

/// Where the service's "today" comes from.
pub trait Clock: Send + Sync + 'static {
    /// Today's date.
    fn today(&self) -> NaiveDate;
}

/// The machine's clock, read as a date in Sweden (Europe/Stockholm).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn today(&self) -> NaiveDate {
        stockholm_date(chrono::Utc::now())
    }
}

pub use socialloans_platform::stockholm_date;

/// Today in Europe/Stockholm, the day the API's dates default to.
pub fn today() -> NaiveDate {
    SystemClock.today()
}

/// A clock read from a file holding a date (`YYYY-MM-DD`), for a local
/// suite whose story moves time (`OVERDUE_CLOCK_FILE`); the machine's
/// clock while the file is missing or holds no date.
#[derive(Debug, Clone)]
pub struct FileClock(pub std::path::PathBuf);

impl Clock for FileClock {
    fn today(&self) -> NaiveDate {
        let given = std::fs::read_to_string(&self.0).ok();
        given.and_then(|text| NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()).unwrap_or_else(today)
    }
}

/// A clock set by hand: tests and what-if runs move time with it.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<NaiveDate>>);

impl ManualClock {
    /// A clock showing `day`.
    pub fn new(day: NaiveDate) -> Self {
        Self(Arc::new(Mutex::new(day)))
    }

    /// Sets the day.
    pub fn set(&self, day: NaiveDate) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = day;
    }
}

impl Clock for ManualClock {
    fn today(&self) -> NaiveDate {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What one sweep changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Plans whose reporting periods changed state.
    pub plans_changed: usize,
    /// `ReportOverdue` events published.
    pub reports_overdue: usize,
    /// `ConditionOverdue` events published.
    pub conditions_overdue: usize,
    /// `ReportDueSoon` reminders published.
    pub reminders: usize,
}

/// How many days before a report's due date its borrower is reminded: first
/// at 30, then at 7.
pub const REMINDER_DAYS: [i64; 2] = [30, 7];

/// What a reminder is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// The report of the period ending then.
    Report(Option<Date>),
    /// The open condition of that name, with what it asks.
    Condition(String, String),
}

/// A reminder the plan owes as of a day: a period's report, neither
/// submitted nor accepted, or an open condition, due within
/// [`REMINDER_DAYS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Reminder {
    /// What the `overdue_notice` table remembers it by.
    pub key: String,
    /// What falls due.
    pub due: Due,
    /// Its due date.
    pub due_date: Date,
    /// 30 or 7.
    pub days_before: i64,
}

/// Which reminder is owed on `day` for something due on `due_date`: 30, or
/// 7 when due within 7 days; none when further off or past.
fn days_before(due_date: &Date, day: NaiveDate) -> Option<i64> {
    let left = (naive(due_date)? - day).num_days();
    REMINDER_DAYS.iter().copied().filter(|d| (0..=*d).contains(&left)).min()
}

/// The reminders `plan` owes on `day`: for each open period and each open
/// condition due within 30 days, the 30-day reminder, or the 7-day one
/// when due within 7.
pub fn reminders(plan: &MonitoringPlan, day: NaiveDate) -> Vec<Reminder> {
    let done = [ReportingPeriodState::Submitted as i32, ReportingPeriodState::Accepted as i32];
    let reports = plan.reporting_periods.iter().filter(|p| !done.contains(&p.state)).filter_map(|p| {
        let due_date = p.due_date?;
        let days_before = days_before(&due_date, day)?;
        let key = format!("{}#due-in-{days_before}", period_key(&plan.name, p.end_date.as_ref()));
        Some(Reminder { key, due: Due::Report(p.end_date), due_date, days_before })
    });
    let conditions = plan.conditions.iter().filter(|c| c.state == ConditionState::Open as i32).filter_map(|c| {
        let due_date = c.due_date?;
        let days_before = days_before(&due_date, day)?;
        let key = format!("{}#due-in-{days_before}", c.name);
        Some(Reminder { key, due: Due::Condition(c.name.clone(), c.description.clone()), due_date, days_before })
    });
    reports.chain(conditions).collect()
}

fn period_key(plan: &str, end: Option<&Date>) -> String {
    let end = end.map(crate::plans::iso).unwrap_or_default();
    format!("{plan}/periods/{end}")
}

/// Moves the periods of `plan` to their state as of `day`; whether any changed.
fn advance_periods(plan: &mut MonitoringPlan, day: NaiveDate) -> bool {
    let mut changed = false;
    for period in &mut plan.reporting_periods {
        let ended = period.end_date.as_ref().and_then(naive).is_some_and(|e| e < day);
        let late = period.due_date.as_ref().and_then(naive).is_some_and(|d| d < day);
        let next = match ReportingPeriodState::try_from(period.state).unwrap_or_default() {
            ReportingPeriodState::Upcoming | ReportingPeriodState::Due if late => ReportingPeriodState::Overdue,
            ReportingPeriodState::Upcoming if ended => ReportingPeriodState::Due,
            other => other,
        };
        if next as i32 != period.state {
            period.state = next as i32;
            changed = true;
        }
    }
    changed
}

/// One pass over the active plans as of `day`.
pub async fn sweep(pool: &PgPool, day: NaiveDate) -> Result<Sweep, Error> {
    let mut done = Sweep::default();
    let noticed: HashSet<String> = store::overdue::noticed(pool).await?.into_iter().collect();
    let filter = store::plans::Filter {
        state: Some(plans::state_name(MonitoringPlanState::Active)),
        ..store::plans::Filter::default()
    };
    let mut pages = plans::Pages::new(filter);
    while let Some(rows) = pages.next(pool).await? {
        for row in rows {
            let mut plan = row.view()?;
            let due = of_plan(&plan, day);
            let fresh = due.iter().any(|i| !noticed.contains(&notice_key(i)))
                || reminders(&plan, day).iter().any(|r| !noticed.contains(&r.key));
            if advance_periods(&mut plan, day) || fresh {
                let changed = sweep_plan(pool, row.id, day).await?;
                done.plans_changed += usize::from(changed.0);
                done.reports_overdue += changed.1;
                done.conditions_overdue += changed.2;
                done.reminders += changed.3;
            }
        }
    }
    Ok(done)
}

fn notice_key(item: &OverdueItem) -> String {
    if item.kind == OverdueItemKind::OutcomeReport as i32 {
        period_key(&item.monitoring_plan, item.period_end.as_ref())
    } else {
        item.item.clone()
    }
}

/// One plan's sweep in one transaction: (periods changed, reports announced,
/// conditions announced, reminders published).
async fn sweep_plan(pool: &PgPool, id: uuid::Uuid, day: NaiveDate) -> Result<(bool, usize, usize, usize), Error> {
    let mut tx = pool.begin().await?;
    unit::name_actor(&mut tx, &unit::Actor::service("monitoring"), "DetectOverdue", "").await?;
    let Some(row) = store::plans::find(&mut *tx, id, None, true).await? else { return Ok((false, 0, 0, 0)) };
    if row.state() != MonitoringPlanState::Active {
        return Ok((false, 0, 0, 0));
    }
    let mut plan = row.view()?;
    let changed = advance_periods(&mut plan, day);
    if changed {
        plans::save(&mut tx, &row, &plan, row.state()).await?;
    }
    let (mut reports, mut conditions) = (0, 0);
    for item in of_plan(&plan, day) {
        let key = notice_key(&item);
        let due = item.due_date.as_ref().and_then(naive).unwrap_or(day);
        if !store::overdue::notice(&mut tx, &key, due).await? {
            continue;
        }
        let due_text = item.due_date.as_ref().map(crate::plans::iso).unwrap_or_default();
        if item.kind == OverdueItemKind::OutcomeReport as i32 {
            let overdue = ReportingPeriodState::Overdue.as_str_name();
            store::audit::record(&mut tx, &key, "", overdue, &format!("report due {due_text} not submitted")).await?;
            let event = pb::ReportOverdue {
                monitoring_plan: plan.name.clone(),
                application: plan.application.clone(),
                organization_number: plan.organization_number.clone(),
                period_end: item.period_end,
                due_date: item.due_date,
            };
            outbox::append(&mut tx, "monitoring", &plan.name, Some(&plan.organization_number), &event).await?;
            reports += 1;
        } else {
            let open = ConditionState::Open.as_str_name();
            store::audit::record(&mut tx, &item.item, open, open, &format!("overdue since {due_text}")).await?;
            let event = pb::ConditionOverdue {
                condition: item.item.clone(),
                application: plan.application.clone(),
                organization_number: plan.organization_number.clone(),
                due_date: item.due_date,
            };
            outbox::append(&mut tx, "monitoring", &item.item, Some(&plan.organization_number), &event).await?;
            conditions += 1;
        }
    }
    let reminded = remind(&mut tx, &plan, day).await?;
    tx.commit().await?;
    Ok((changed, reports, conditions, reminded))
}

/// Publishes the reminders `plan` owes on `day` and has not published yet
/// (`ReportDueSoon`); how many.
async fn remind(conn: &mut sqlx::PgConnection, plan: &MonitoringPlan, day: NaiveDate) -> Result<usize, Error> {
    let mut published = 0;
    for reminder in reminders(plan, day) {
        let due = naive(&reminder.due_date).unwrap_or(day);
        if !store::overdue::notice(conn, &reminder.key, due).await? {
            continue;
        }
        let org = Some(plan.organization_number.as_str());
        match reminder.due {
            Due::Report(period_end) => {
                let event = pb::ReportDueSoon {
                    monitoring_plan: plan.name.clone(),
                    application: plan.application.clone(),
                    organization_number: plan.organization_number.clone(),
                    period_end,
                    due_date: Some(reminder.due_date),
                    days_before: reminder.days_before as i32,
                    borrower_display_name: plan.borrower_display_name.clone(),
                };
                outbox::append(conn, "monitoring", &plan.name, org, &event).await?;
            }
            Due::Condition(condition, description) => {
                let event = pb::ConditionDueSoon {
                    condition: condition.clone(),
                    application: plan.application.clone(),
                    organization_number: plan.organization_number.clone(),
                    description,
                    due_date: Some(reminder.due_date),
                    days_before: reminder.days_before as i32,
                };
                outbox::append(conn, "monitoring", &condition, org, &event).await?;
            }
        }
        published += 1;
    }
    Ok(published)
}

/// Sweeps every `every` as of `clock`'s day until `stopping` turns true.
pub async fn run(pool: PgPool, clock: Arc<dyn Clock>, every: Duration, mut stopping: watch::Receiver<bool>) {
    loop {
        match sweep(&pool, clock.today()).await {
            Ok(s) if s != Sweep::default() => tracing::info!(
                plans_changed = s.plans_changed,
                reports_overdue = s.reports_overdue,
                conditions_overdue = s.conditions_overdue,
                "overdue sweep"
            ),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "overdue sweep failed; retrying at the next interval"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

/// The overdue items of `plan` as of `day`.
pub fn of_plan(plan: &MonitoringPlan, day: NaiveDate) -> Vec<OverdueItem> {
    let mut items = Vec::new();
    let item = |kind: OverdueItemKind, item: String, period_end: Option<Date>, due: &Date, description: String| {
        let days = naive(due).map(|d| (day - d).num_days()).unwrap_or_default();
        OverdueItem {
            kind: kind as i32,
            monitoring_plan: plan.name.clone(),
            application: plan.application.clone(),
            organization_number: plan.organization_number.clone(),
            borrower_display_name: plan.borrower_display_name.clone(),
            item,
            period_end,
            due_date: Some(*due),
            days_overdue: days as i32,
            description,
        }
    };
    for period in &plan.reporting_periods {
        let done =
            [ReportingPeriodState::Submitted as i32, ReportingPeriodState::Accepted as i32].contains(&period.state);
        if let Some(due) = &period.due_date
            && !done
            && naive(due).is_some_and(|d| d < day)
        {
            let end = period.end_date.as_ref().map(crate::plans::iso).unwrap_or_default();
            items.push(item(
                OverdueItemKind::OutcomeReport,
                period.outcome_report.clone(),
                period.end_date,
                due,
                format!("the outcome report for the period ending {end} was due"),
            ));
        }
    }
    for condition in &plan.conditions {
        if let Some(due) = &condition.due_date
            && condition.state == ConditionState::Open as i32
            && naive(due).is_some_and(|d| d < day)
        {
            items.push(item(
                OverdueItemKind::Condition,
                condition.name.clone(),
                None,
                due,
                condition.description.clone(),
            ));
        }
    }
    items
}

/// The overdue items of `kind` (any, when unspecified) of the active plans
/// (of `organization` only, if given) as of `day`, in [`order`].
pub async fn items(
    pool: &PgPool,
    day: NaiveDate,
    kind: OverdueItemKind,
    organization: Option<Vec<String>>,
) -> Result<Vec<OverdueItem>, Error> {
    let filter = store::plans::Filter {
        state: Some(plans::state_name(MonitoringPlanState::Active)),
        organization_number: organization,
        ..Default::default()
    };
    let mut items = Vec::new();
    let mut pages = plans::Pages::new(filter);
    while let Some(rows) = pages.next(pool).await? {
        for row in rows {
            items.extend(of_plan(&row.view()?, day).into_iter().filter(|i| of_kind(i, kind)));
        }
    }
    order(&mut items);
    Ok(items)
}

/// Whether `item` is of `kind`; every item is of the unspecified kind.
pub fn of_kind(item: &OverdueItem, kind: OverdueItemKind) -> bool {
    kind == OverdueItemKind::Unspecified || item.kind == kind as i32
}

/// Oldest due date first; ties in a stable order.
pub fn order(items: &mut [OverdueItem]) {
    items.sort_by(|a, b| b.days_overdue.cmp(&a.days_overdue).then_with(|| a.item.cmp(&b.item)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::monitoring::ReportingPeriod;

    #[test]
    fn a_report_is_overdue_the_day_after_its_due_date_and_not_before() {
        let due = Date { year: 2027, month: 3, day: 31 };
        let plan = MonitoringPlan {
            reporting_periods: vec![ReportingPeriod {
                end_date: Some(Date { year: 2026, month: 12, day: 31 }),
                due_date: Some(due),
                state: ReportingPeriodState::Upcoming as i32,
                ..Default::default()
            }],
            ..Default::default()
        };
        let on = |y, m, d| of_plan(&plan, NaiveDate::from_ymd_opt(y, m, d).unwrap());
        assert!(on(2027, 3, 31).is_empty());
        assert_eq!(on(2027, 4, 1)[0].days_overdue, 1);
        let mut submitted = plan.clone();
        submitted.reporting_periods[0].state = ReportingPeriodState::Submitted as i32;
        assert!(of_plan(&submitted, NaiveDate::from_ymd_opt(2027, 5, 1).unwrap()).is_empty());
    }

    #[test]
    fn the_longest_overdue_item_comes_first_and_a_kind_picks_only_its_own() {
        let item = |kind: OverdueItemKind, item: &str, days_overdue| OverdueItem {
            kind: kind as i32,
            item: item.into(),
            days_overdue,
            ..Default::default()
        };
        let mut items = vec![
            item(OverdueItemKind::Condition, "c2", 3),
            item(OverdueItemKind::OutcomeReport, "r1", 40),
            item(OverdueItemKind::Condition, "c1", 3),
        ];
        order(&mut items);
        let names: Vec<_> = items.iter().map(|i| i.item.as_str()).collect();
        assert_eq!(names, ["r1", "c1", "c2"]);
        assert!(of_kind(&items[0], OverdueItemKind::Unspecified));
        assert!(of_kind(&items[0], OverdueItemKind::OutcomeReport));
        assert!(!of_kind(&items[1], OverdueItemKind::OutcomeReport));
    }

    #[test]
    fn a_report_is_reminded_30_and_7_days_before_it_falls_due_and_not_once_submitted() {
        let plan = MonitoringPlan {
            name: "monitoringPlans/p".into(),
            reporting_periods: vec![ReportingPeriod {
                end_date: Some(Date { year: 2026, month: 12, day: 31 }),
                due_date: Some(Date { year: 2027, month: 3, day: 31 }),
                state: ReportingPeriodState::Due as i32,
                ..Default::default()
            }],
            ..Default::default()
        };
        let on = |plan: &MonitoringPlan, m, d| {
            reminders(plan, NaiveDate::from_ymd_opt(2027, m, d).unwrap())
                .iter()
                .map(|r| r.days_before)
                .collect::<Vec<_>>()
        };
        assert_eq!(on(&plan, 2, 28), [] as [i64; 0], "31 days before");
        assert_eq!(on(&plan, 3, 1), [30]);
        assert_eq!(on(&plan, 3, 23), [30], "8 days before");
        assert_eq!(on(&plan, 3, 24), [7]);
        assert_eq!(on(&plan, 3, 31), [7], "on the due date");
        assert_eq!(on(&plan, 4, 1), [] as [i64; 0], "overdue is another notice");
        let keys: Vec<String> = [(3, 1), (3, 24)]
            .iter()
            .map(|(m, d)| reminders(&plan, NaiveDate::from_ymd_opt(2027, *m, *d).unwrap())[0].key.clone())
            .collect();
        assert_eq!(
            keys,
            ["monitoringPlans/p/periods/2026-12-31#due-in-30", "monitoringPlans/p/periods/2026-12-31#due-in-7"]
        );
        let mut submitted = plan.clone();
        submitted.reporting_periods[0].state = ReportingPeriodState::Submitted as i32;
        assert!(on(&submitted, 3, 24).is_empty());
    }

    #[test]
    fn a_file_clock_reads_its_day_from_the_file_and_the_machines_without_one() {
        let path = std::env::temp_dir().join(format!("socialloans-clock-{}", uuid::Uuid::now_v7()));
        let clock = FileClock(path.clone());
        assert_eq!(clock.today(), today());
        std::fs::write(&path, "2028-03-05\n").unwrap();
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2028, 3, 5).unwrap());
        std::fs::write(&path, "not a date").unwrap();
        assert_eq!(clock.today(), today());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn an_open_condition_is_reminded_30_and_7_days_before_its_due_date() {
        let condition = |state: ConditionState| socialloans_contracts::monitoring::Condition {
            name: "monitoringPlans/p/conditions/c1".into(),
            description: "Rapportera hyresnivåerna".into(),
            due_date: Some(Date { year: 2027, month: 6, day: 30 }),
            state: state as i32,
            ..Default::default()
        };
        let plan = |state| MonitoringPlan { conditions: vec![condition(state)], ..Default::default() };
        let on = |plan: &MonitoringPlan, m, d| reminders(plan, NaiveDate::from_ymd_opt(2027, m, d).unwrap());
        let open = plan(ConditionState::Open);
        assert!(on(&open, 5, 30).is_empty(), "31 days before");
        let first = on(&open, 5, 31);
        assert_eq!((first[0].days_before, first[0].key.as_str()), (30, "monitoringPlans/p/conditions/c1#due-in-30"));
        assert_eq!(
            first[0].due,
            Due::Condition("monitoringPlans/p/conditions/c1".into(), "Rapportera hyresnivåerna".into())
        );
        assert_eq!(on(&open, 6, 23)[0].days_before, 7);
        assert!(on(&plan(ConditionState::Fulfilled), 6, 23).is_empty(), "a fulfilled condition is not reminded");
    }
}
