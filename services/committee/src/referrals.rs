//! The applications feed, applied here: a referral opens a case holding the
//! application exactly as referred; a withdrawal before the decision closes
//! the case as withdrawn. Runs inside the consumer's transaction.

use prost::{Message, Name};
use socialloans_contracts::{applications as ap, committee as cm};
use socialloans_platform::events::{Event, Handler, HandlerError, outbox, payload};
use sqlx::PgConnection;

use crate::{
    cases::{self, state_name},
    meetings, store,
};

/// The applications feed method.
pub const APPLICATIONS_FEED: &str = "/socialloans.applications.v1.ApplicationsService/StreamEvents";

/// The event types the committee consumes.
pub fn types() -> Vec<String> {
    vec![ap::ApplicationReferredToCommittee::full_name(), ap::ApplicationWithdrawn::full_name()]
}

/// Opens and withdraws cases from the applications feed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Referrals;

/// The case a referral opens.
pub fn case_from(application: &ap::Application) -> cm::Case {
    let borrower = application.borrower.clone().unwrap_or_default();
    cm::Case {
        application: application.name.clone(),
        organization_number: borrower.organization_number,
        borrower_display_name: borrower.display_name,
        category: application.category,
        title: application.title.clone(),
        requested_amount: application.requested_amount.clone(),
        application_snapshot: Some(prost_types::Any {
            type_url: format!("type.googleapis.com/{}", ap::Application::full_name()),
            value: application.encode_to_vec(),
        }),
        referral_note: application.referral_note.clone(),
        ..Default::default()
    }
}

impl Handler for Referrals {
    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        if let Some(referred) = payload::<ap::ApplicationReferredToCommittee>(event)? {
            let application = referred.application.ok_or_else(|| HandlerError::Rejected("no application".into()))?;
            if application.name.is_empty() {
                return Err(HandlerError::Rejected("the referred application has no name".into()));
            }
            if let Some(row) = store::cases::open(conn, &case_from(&application)).await? {
                let name = format!("cases/{}", row.id);
                let opened = cm::CaseOpened { case: name.clone(), application: application.name.clone() };
                outbox::append(conn, "committee", &name, None, &opened).await?;
                tracing::info!(case = %name, application = %application.name, "case opened");
            }
            return Ok(());
        }
        if let Some(withdrawn) = payload::<ap::ApplicationWithdrawn>(event)? {
            let Some(row) = store::cases::lock(conn, None, Some(&withdrawn.application)).await? else {
                return Ok(()); // withdrawn before it was ever referred
            };
            let open = [cm::CaseState::Open, cm::CaseState::Scheduled, cm::CaseState::Deferred];
            if !open.contains(&row.state.0) {
                return Ok(()); // decided already, or withdrawn twice
            }
            let mut case = cases::view(&row).map_err(|e| HandlerError::Rejected(e.to_string()))?;
            // A withdrawn case leaves the agenda of a meeting still to be held.
            if let Some(meeting_id) = case.meeting.strip_prefix("meetings/").and_then(socialloans_platform::limits::id)
                && let Some(meeting_row) = store::meetings::lock(conn, meeting_id).await?
                && matches!(meeting_row.state(), cm::MeetingState::Scheduled | cm::MeetingState::InProgress)
            {
                let mut meeting = meetings::view(&meeting_row).map_err(|e| HandlerError::Rejected(e.to_string()))?;
                meeting.agenda.retain(|item| item.case != case.name);
                store::meetings::save(conn, &meeting_row, &meeting, meeting_row.state()).await?;
            }
            case.meeting.clear();
            let saved = store::cases::save(conn, &row, &case, cm::CaseState::Withdrawn).await?;
            let name = format!("cases/{}", saved.id);
            outbox::append(
                conn,
                "committee",
                &name,
                None,
                &cm::CaseWithdrawn { case: name.clone(), application: withdrawn.application },
            )
            .await?;
            tracing::info!(case = %name, state = %state_name(cm::CaseState::Withdrawn), "case withdrawn");
        }
        Ok(())
    }
}
