//! The applications feed, applied here: an approval opens the application's
//! monitoring plan (its indicators, conditions and reporting schedule), the
//! first loan tagged activates it, closing the application closes it.

use chrono::Datelike;
use prost::Name;
use socialloans_contracts::common;
use socialloans_contracts::{applications as ap, monitoring as mo};
use socialloans_platform::events::{Event, Handler, HandlerError, outbox, payload};
use sqlx::PgConnection;

use crate::{
    plans::{self, PlanRow},
    store,
};

/// The applications feed method.
pub const APPLICATIONS_FEED: &str = "/socialloans.applications.v1.ApplicationsService/StreamEvents";

/// The event types monitoring consumes.
pub fn types() -> Vec<String> {
    vec![
        ap::ApplicationApproved::full_name(),
        ap::LoanTagged::full_name(),
        ap::LoanUpdated::full_name(),
        ap::ApplicationClosed::full_name(),
        ap::ApplicationDecisionAmended::full_name(),
        ap::ApplicationLapsed::full_name(),
    ]
}

/// Applies approvals, loan tags and closings to monitoring plans.
#[derive(Debug, Clone, Copy)]
pub struct Approvals {
    /// Days after a reporting period's end that its report is due.
    pub due_days: i32,
    /// Months between the social label's re-assessments.
    pub reassessment_months: i32,
}

/// The plan an approved application gets.
pub fn plan_from(application: &ap::Application, due_days: i32) -> mo::MonitoringPlan {
    let borrower = application.borrower.clone().unwrap_or_default();
    let indicators = application
        .indicators
        .iter()
        .map(|i| mo::PlanIndicator {
            code: i.code.clone(),
            display_name: i.display_name.clone(),
            unit: i.unit.clone(),
            direction: i.direction,
            level: i.level,
            baseline: i.baseline.clone(),
            target: i.target,
            method: i.method.clone(),
            objective: i.objective_key.clone(),
            in_catalogue: false,
        })
        .collect();
    let decision = application.committee_decision.clone().unwrap_or_default();
    let conditions = application
        .conditions
        .iter()
        .map(|c| mo::Condition {
            name: format!("conditions/{}", c.id),
            kind: c.kind,
            description: c.description.clone(),
            due_date: c.due_date,
            state: mo::ConditionState::Open as i32,
            ..Default::default()
        })
        .collect();
    let year = crate::overdue::today().year();
    mo::MonitoringPlan {
        application: application.name.clone(),
        organization_number: borrower.organization_number,
        borrower_display_name: borrower.display_name,
        category: application.category,
        title: application.title.clone(),
        approved_amount: application.approved_amount.clone(),
        indicators,
        target_groups: application.target_groups.clone(),
        sdg_targets: application.sdg_targets.clone(),
        schedule: Some(mo::ReportingSchedule {
            frequency: mo::ReportingFrequency::Annual as i32,
            first_period_end: Some(common::Date { year, month: 12, day: 31 }),
            due_days,
        }),
        conditions,
        committee_decision: decision.decision,
        ..Default::default()
    }
}

impl Handler for Approvals {
    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        if let Some(approved) = payload::<ap::ApplicationApproved>(event)? {
            let application = approved.application.ok_or_else(|| HandlerError::Rejected("no application".into()))?;
            outbox::follow_thread(conn, &application.name).await?;
            let mut plan = plan_from(&application, self.due_days);
            plan.social_label = Some(crate::label::given(self.reassessment_months));
            let known = store::catalogue::codes(conn).await?;
            for indicator in &mut plan.indicators {
                indicator.in_catalogue = known.contains(&indicator.code);
            }
            if let Some(row) = plans::open(conn, &plan).await? {
                let name = format!("monitoringPlans/{}", row.id);
                let created = mo::MonitoringPlanCreated {
                    monitoring_plan: name.clone(),
                    application: plan.application.clone(),
                    organization_number: plan.organization_number.clone(),
                };
                outbox::append(conn, "monitoring", &name, Some(&plan.organization_number), &created).await?;
            }
            return Ok(());
        }
        if let Some(amended) = payload::<ap::ApplicationDecisionAmended>(event)? {
            let application = amended.application.ok_or_else(|| HandlerError::Rejected("no application".into()))?;
            outbox::follow_thread(conn, &application.name).await?;
            let Some(row) = store::plans::lock_by_application(conn, &application.name).await? else {
                return Err(HandlerError::Rejected(format!("no monitoring plan for {}", application.name)));
            };
            let mut plan = row.view().map_err(|e| HandlerError::Rejected(e.to_string()))?;
            amend(&mut plan, &plan_from(&application, self.due_days));
            plans::save(conn, &row, &plan, row.state()).await?;
            return Ok(());
        }
        if let Some(updated) = payload::<ap::LoanUpdated>(event)? {
            return crate::loans::updated(conn, updated).await;
        }
        let (application, activate) = if let Some(tagged) = payload::<ap::LoanTagged>(event)? {
            (tagged.application.clone(), Some(tagged))
        } else if let Some(closed) = payload::<ap::ApplicationClosed>(event)? {
            (closed.application, None)
        } else if let Some(lapsed) = payload::<ap::ApplicationLapsed>(event)? {
            (lapsed.application, None)
        } else {
            return Ok(());
        };
        outbox::follow_thread(conn, &application).await?;
        let Some(row) = store::plans::lock_by_application(conn, &application).await? else {
            return Err(HandlerError::Rejected(format!("no monitoring plan for {application}")));
        };
        let mut plan = row.view().map_err(|e| HandlerError::Rejected(e.to_string()))?;
        match activate {
            Some(tagged) => {
                plan.tagged_loan_amount.clone_from(&tagged.total_tagged_principal);
                crate::loans::tagged(conn, &row, &mut plan, &tagged).await?;
                let maturity = tagged.loan.as_ref().and_then(|l| l.maturity_date);
                if let Some(m) = &maturity
                    && plan
                        .last_maturity_date
                        .as_ref()
                        .is_none_or(|d| (d.year, d.month, d.day) < (m.year, m.month, m.day))
                {
                    plan.last_maturity_date = Some(*m);
                    // A refinancing that matures later extends the reporting it owes.
                    if row.state() == mo::MonitoringPlanState::Active
                        && let Some(until) = plans::naive(m)
                    {
                        plans::extend_periods(&mut plan, until);
                    }
                }
                if row.state() == mo::MonitoringPlanState::Pending {
                    let schedule = plan.schedule.unwrap_or_default();
                    let schedule = mo::ReportingSchedule { first_period_end: None, ..schedule };
                    plans::activate(conn, &row, &mut plan, schedule, crate::overdue::today()).await?;
                } else {
                    plans::save(conn, &row, &plan, row.state()).await?;
                }
            }
            None => {
                if row.state() != mo::MonitoringPlanState::Closed {
                    let why = if event.r#type == ap::ApplicationLapsed::full_name() {
                        "the approval lapsed undrawn"
                    } else {
                        "application closed"
                    };
                    plans::close(conn, &row, &mut plan, why).await?;
                }
            }
        }
        Ok(())
    }
}

/// An amended decision, applied to a plan: the approved amount and decision
/// follow it; a condition it adds is opened, one it rewords or moves is
/// changed while still OPEN or BREACHED. A condition already fulfilled or
/// waived keeps its record, and one the amendment drops stays as it was: a
/// reviewer waives it (four eyes) if it no longer applies.
pub fn amend(plan: &mut mo::MonitoringPlan, amended: &mo::MonitoringPlan) {
    plan.approved_amount.clone_from(&amended.approved_amount);
    plan.committee_decision.clone_from(&amended.committee_decision);
    for condition in &amended.conditions {
        let name = format!("{}/{}", plan.name, condition.name);
        match plan.conditions.iter_mut().find(|c| c.name == condition.name || c.name == name) {
            Some(existing) => {
                let open = [mo::ConditionState::Open as i32, mo::ConditionState::Breached as i32];
                if open.contains(&existing.state) {
                    existing.kind = condition.kind;
                    existing.description.clone_from(&condition.description);
                    existing.due_date = condition.due_date;
                }
            }
            None => plan.conditions.push(condition.clone()),
        }
    }
}
