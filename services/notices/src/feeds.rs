//! The three feeds, read for what people should be told: each event that
//! causes notices becomes [`Draft`]s, addressed and written into the log
//! in the transaction that moves the feed's checkpoint, so that each is
//! written once whatever the restarts, replays or replicas.

use prost::Name;
use socialloans_contracts::common::Date;
use socialloans_contracts::{applications as ap, committee as cm, monitoring as mo};
use socialloans_documents::numbers::iso_date as iso;
use socialloans_platform::events::{Event, Handler, HandlerError, payload};
use sqlx::PgConnection;

use crate::{
    store,
    texts::{Audience, Draft, Kind},
};

/// The applications feed method.
pub const APPLICATIONS_FEED: &str = "/socialloans.applications.v1.ApplicationsService/StreamEvents";
/// The committee feed method.
pub const COMMITTEE_FEED: &str = "/socialloans.committee.v1.CommitteeService/StreamEvents";
/// The monitoring feed method.
pub const MONITORING_FEED: &str = "/socialloans.monitoring.v1.MonitoringService/StreamEvents";

/// The event types read from the feed of `peer`.
pub fn types(peer: &str) -> Vec<String> {
    match peer {
        "applications" => vec![ap::ApplicationReturnedForCompletion::full_name()],
        "committee" => vec![cm::CaseScheduled::full_name(), cm::CaseExtractIssued::full_name()],
        _ => vec![
            mo::ReportDueSoon::full_name(),
            mo::ReportOverdue::full_name(),
            mo::OutcomeReportSubmitted::full_name(),
            mo::ConditionDueSoon::full_name(),
            mo::ConditionOverdue::full_name(),
            mo::ConditionBreached::full_name(),
        ],
    }
}

/// Turns events into notices.
#[derive(Debug, Clone)]
pub struct Notices {
    /// The analysts' mailbox.
    pub analysts: String,
    /// Days an overdue report waits before the analysts are told.
    pub escalation_days: u64,
}

/// What settles a report period's waiting notices: its plan and period end.
fn period_key(plan: &str, period_end: Option<&Date>) -> String {
    format!("{plan}/periods/{}", iso(period_end))
}

impl Notices {
    /// The notices `event` causes (none for most).
    fn drafts(&self, event: &Event) -> Result<Vec<Draft>, HandlerError> {
        if let Some(e) = payload::<mo::ReportDueSoon>(event)? {
            let mut draft = Draft::new(Kind::ReportDueSoon, Audience::Borrower, &e.organization_number);
            draft.application = e.application;
            draft.facts.insert("due_date", iso(e.due_date.as_ref()));
            draft.facts.insert("period_end", iso(e.period_end.as_ref()));
            draft.facts.insert("days_before", e.days_before.to_string());
            draft.monitoring_plan = e.monitoring_plan;
            return Ok(vec![draft]);
        }
        if let Some(e) = payload::<mo::ReportOverdue>(event)? {
            let mut draft = Draft::new(Kind::ReportOverdue, Audience::Borrower, &e.organization_number);
            draft.application = e.application;
            draft.facts.insert("due_date", iso(e.due_date.as_ref()));
            draft.facts.insert("period_end", iso(e.period_end.as_ref()));
            draft.facts.insert("escalation_days", self.escalation_days.to_string());
            draft.settled_by = period_key(&e.monitoring_plan, e.period_end.as_ref());
            draft.monitoring_plan = e.monitoring_plan;
            let mut escalated = draft.clone();
            draft.settled_by.clear();
            escalated.kind = Kind::ReportOverdueEscalated;
            escalated.audience = Audience::Analysts;
            escalated.delay_days = self.escalation_days;
            return Ok(vec![draft, escalated]);
        }
        if let Some(e) = payload::<mo::ConditionDueSoon>(event)? {
            let mut draft = Draft::new(Kind::ConditionDueSoon, Audience::Borrower, &e.organization_number);
            draft.application = e.application;
            draft.facts.insert("condition", e.condition);
            draft.facts.insert("description", e.description);
            draft.facts.insert("due_date", iso(e.due_date.as_ref()));
            draft.facts.insert("days_before", e.days_before.to_string());
            return Ok(vec![draft]);
        }
        if let Some(e) = payload::<mo::ConditionOverdue>(event)? {
            let mut draft = Draft::new(Kind::ConditionOverdue, Audience::Borrower, &e.organization_number);
            draft.application = e.application;
            draft.facts.insert("condition", e.condition);
            draft.facts.insert("due_date", iso(e.due_date.as_ref()));
            return Ok(vec![draft]);
        }
        if let Some(e) = payload::<mo::ConditionBreached>(event)? {
            let mut draft = Draft::new(Kind::ConditionBreached, Audience::Borrower, &e.organization_number);
            draft.application = e.application;
            draft.facts.insert("condition", e.condition);
            draft.facts.insert("description", e.description);
            draft.facts.insert("reason", e.reason);
            let analysts = Draft { audience: Audience::Analysts, ..draft.clone() };
            return Ok(vec![draft, analysts]);
        }
        if let Some(e) = payload::<cm::CaseScheduled>(event)? {
            let Some(start) = e.meeting_start_time.as_ref().and_then(socialloans_platform::limits::time) else {
                return Ok(Vec::new());
            };
            let local = start.with_timezone(&chrono_tz::Europe::Stockholm);
            let mut draft = Draft::new(Kind::CaseScheduled, Audience::Borrower, &e.organization_number);
            draft.application = e.application;
            draft.case = e.case;
            draft.facts.insert("meeting_date", local.format("%Y-%m-%d").to_string());
            draft.facts.insert("meeting_time", local.format("%H.%M").to_string());
            return Ok(vec![draft]);
        }
        if let Some(e) = payload::<cm::CaseExtractIssued>(event)? {
            let mut draft = Draft::new(Kind::Decision, Audience::Borrower, &e.organization_number);
            draft.application = e.application;
            draft.case = e.case;
            let outcome = cm::DecisionOutcome::try_from(e.outcome).unwrap_or_default();
            draft.facts.insert("outcome", outcome_words(outcome).to_owned());
            draft.localized = Some(("extract", e.extract_swedish, e.extract_english));
            return Ok(vec![draft]);
        }
        if let Some(e) = payload::<ap::ApplicationReturnedForCompletion>(event)? {
            let mut draft = Draft::new(Kind::ApplicationReturned, Audience::Borrower, &e.organization_number);
            draft.application = e.application;
            draft.facts.insert("message", e.message);
            return Ok(vec![draft]);
        }
        Ok(Vec::new())
    }
}

/// The outcome as the subject line says it; the same in both languages,
/// Swedish first, since the extract that follows is the record.
fn outcome_words(outcome: cm::DecisionOutcome) -> &'static str {
    match outcome {
        cm::DecisionOutcome::Approve => "beviljas / approved",
        cm::DecisionOutcome::ApproveWithConditions => "beviljas med villkor / approved with conditions",
        cm::DecisionOutcome::Defer => "bordläggs / deferred",
        cm::DecisionOutcome::Decline => "avslås / declined",
        cm::DecisionOutcome::Unspecified => "",
    }
}

/// Where an event comes from and which one it is: `monitoring/42`.
fn cause(event: &Event) -> String {
    let service = event.r#type.strip_prefix("socialloans.").and_then(|t| t.split('.').next()).unwrap_or("feed");
    format!("{service}/{}", event.position)
}

impl Handler for Notices {
    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        // A submitted report settles the escalation its lateness set waiting.
        if let Some(submitted) = payload::<mo::OutcomeReportSubmitted>(event)? {
            let plan = submitted.outcome_report.split("/outcomeReports/").next().unwrap_or_default();
            store::settle(conn, &period_key(plan, submitted.period_end.as_ref())).await?;
            return Ok(());
        }
        let cause = cause(event);
        for draft in self.drafts(event)? {
            store::write(conn, &cause, &draft, &self.analysts).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<M: prost::Message + Name>(position: i64, message: &M) -> Event {
        Event {
            position,
            r#type: M::full_name(),
            payload: Some(prost_types::Any { type_url: M::type_url(), value: message.encode_to_vec() }),
            ..Default::default()
        }
    }

    fn notices() -> Notices {
        Notices { analysts: "analytiker@bank.se".into(), escalation_days: 14 }
    }

    #[test]
    fn an_overdue_report_tells_the_borrower_now_and_the_analysts_after_the_escalation_period() {
        let overdue = mo::ReportOverdue {
            monitoring_plan: "monitoringPlans/p".into(),
            organization_number: "556111-1112".into(),
            period_end: Some(Date { year: 2026, month: 12, day: 31 }),
            due_date: Some(Date { year: 2027, month: 3, day: 31 }),
            ..Default::default()
        };
        let event = event(42, &overdue);
        assert_eq!(cause(&event), "monitoring/42");
        let drafts = notices().drafts(&event).unwrap();
        assert_eq!(drafts.len(), 2);
        assert_eq!(
            (drafts[0].kind, drafts[0].audience, drafts[0].delay_days),
            (Kind::ReportOverdue, Audience::Borrower, 0)
        );
        assert_eq!(
            (drafts[1].kind, drafts[1].audience, drafts[1].delay_days),
            (Kind::ReportOverdueEscalated, Audience::Analysts, 14)
        );
        assert_eq!(drafts[1].settled_by, "monitoringPlans/p/periods/2026-12-31");
        assert!(drafts[0].settled_by.is_empty(), "the borrower's notice goes at once");
    }

    #[test]
    fn a_scheduled_case_is_told_in_stockholm_time_and_other_events_cause_nothing() {
        let scheduled = cm::CaseScheduled {
            case: "cases/c".into(),
            organization_number: "556222-2223".into(),
            meeting_start_time: Some(prost_types::Timestamp { seconds: 1_782_835_200, nanos: 0 }),
            ..Default::default()
        };
        let drafts = notices().drafts(&event(7, &scheduled)).unwrap();
        assert_eq!(drafts[0].facts["meeting_date"], "2026-06-30");
        assert_eq!(drafts[0].facts["meeting_time"], "18.00");
        let opened = cm::CaseOpened::default();
        assert!(notices().drafts(&event(8, &opened)).unwrap().is_empty());
        let garbage = Event { r#type: mo::ReportDueSoon::full_name(), ..Default::default() };
        assert!(notices().drafts(&garbage).is_err(), "an event without its payload is rejected, never a panic");
    }

    #[test]
    fn a_breached_condition_tells_the_borrower_and_the_analysts_and_an_overdue_one_the_borrower() {
        let breached = mo::ConditionBreached {
            condition: "monitoringPlans/p/conditions/c1".into(),
            organization_number: "556111-1112".into(),
            description: "Rapportera andel kvarboende".into(),
            reason: "Ingen rapport på två år".into(),
            ..Default::default()
        };
        let drafts = notices().drafts(&event(3, &breached)).unwrap();
        let audiences: Vec<Audience> = drafts.iter().map(|d| d.audience).collect();
        assert_eq!(audiences, [Audience::Borrower, Audience::Analysts]);
        assert!(drafts.iter().all(|d| d.kind == Kind::ConditionBreached && d.facts["reason"] == breached.reason));
        let overdue = mo::ConditionOverdue {
            condition: "monitoringPlans/p/conditions/c1".into(),
            organization_number: "556111-1112".into(),
            due_date: Some(Date { year: 2027, month: 3, day: 31 }),
            ..Default::default()
        };
        let drafts = notices().drafts(&event(4, &overdue)).unwrap();
        assert_eq!(
            (drafts.len(), drafts[0].kind, drafts[0].facts["due_date"].as_str()),
            (1, Kind::ConditionOverdue, "2027-03-31")
        );
        let returned = ap::ApplicationReturnedForCompletion {
            application: "applications/a".into(),
            organization_number: "556222-2223".into(),
            message: "Komplettera målgruppen".into(),
            ..Default::default()
        };
        let drafts = notices().drafts(&event(5, &returned)).unwrap();
        assert_eq!(
            (drafts[0].kind, drafts[0].facts["message"].as_str()),
            (Kind::ApplicationReturned, "Komplettera målgruppen")
        );
    }

    #[test]
    fn a_condition_falling_due_reminds_the_borrower_of_what_it_asks() {
        let due_soon = mo::ConditionDueSoon {
            condition: "monitoringPlans/p/conditions/c1".into(),
            organization_number: "556111-1112".into(),
            description: "Rapportera hyresnivåerna".into(),
            due_date: Some(Date { year: 2027, month: 6, day: 30 }),
            days_before: 7,
            ..Default::default()
        };
        let drafts = notices().drafts(&event(9, &due_soon)).unwrap();
        assert_eq!((drafts.len(), drafts[0].kind, drafts[0].audience), (1, Kind::ConditionDueSoon, Audience::Borrower));
        let (subject, body) = drafts[0].write(socialloans_documents::Language::Swedish);
        assert_eq!(subject, "Påminnelse: villkor ska vara uppfyllt senast 2027-06-30");
        assert!(body.contains("om 7 dagar") && body.contains("Rapportera hyresnivåerna"), "{body}");
    }
}
