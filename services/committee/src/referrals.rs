//! The applications feed, applied here: a referral opens a case holding the
//! application exactly as referred; a withdrawal before the decision closes
//! the case as withdrawn; a return for completion pauses it until the
//! application is referred again. Runs inside the consumer's transaction.

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
    vec![
        ap::ApplicationReferredToCommittee::full_name(),
        ap::ApplicationWithdrawn::full_name(),
        ap::ApplicationReturnedForCompletion::full_name(),
    ]
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
            outbox::follow_thread(conn, &application.name).await?;
            if let Some(row) = store::cases::open(conn, &case_from(&application)).await? {
                let name = format!("cases/{}", row.id);
                let opened = cm::CaseOpened { case: name.clone(), application: application.name.clone() };
                outbox::append(conn, "committee", &name, None, &opened).await?;
                tracing::info!(case = %name, application = %application.name, "case opened");
            } else {
                take_up_again(conn, &application).await?;
            }
            return Ok(());
        }
        if let Some(returned) = payload::<ap::ApplicationReturnedForCompletion>(event)? {
            outbox::follow_thread(conn, &returned.application).await?;
            if returned.previous_state == ap::ApplicationState::ReferredToCommittee as i32 {
                pause(conn, &returned.application).await?;
            }
            return Ok(());
        }
        if let Some(withdrawn) = payload::<ap::ApplicationWithdrawn>(event)? {
            outbox::follow_thread(conn, &withdrawn.application).await?;
            let Some(row) = store::cases::lock(conn, None, Some(&withdrawn.application)).await? else {
                return Ok(()); // withdrawn before it was ever referred
            };
            let open =
                [cm::CaseState::Open, cm::CaseState::Scheduled, cm::CaseState::Deferred, cm::CaseState::Returned];
            if !open.contains(&row.state.0) {
                return Ok(()); // decided already, or withdrawn twice
            }
            let mut case = cases::view(&row).map_err(|e| HandlerError::Rejected(e.to_string()))?;
            leave_agenda(conn, &mut case).await?;
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

/// A case leaves the agenda of a meeting still to be held (its application
/// withdrawn or returned).
async fn leave_agenda(conn: &mut PgConnection, case: &mut cm::Case) -> Result<(), HandlerError> {
    if let Some(meeting_id) = case.meeting.strip_prefix("meetings/").and_then(socialloans_platform::limits::id)
        && let Some(meeting_row) = store::meetings::lock(conn, meeting_id).await?
        && matches!(meeting_row.state(), cm::MeetingState::Scheduled | cm::MeetingState::InProgress)
    {
        let mut meeting = meetings::view(&meeting_row).map_err(|e| HandlerError::Rejected(e.to_string()))?;
        meeting.agenda.retain(|item| item.case != case.name);
        store::meetings::save(conn, &meeting_row, &meeting, meeting_row.state()).await?;
    }
    case.meeting.clear();
    Ok(())
}

/// A referred application was returned for completion: its undecided case
/// pauses (RETURNED) until the application is referred again. The
/// applications service returns it only while it is on no agenda; one a
/// secretary scheduled in the meantime leaves the agenda.
async fn pause(conn: &mut PgConnection, application: &str) -> Result<(), HandlerError> {
    let Some(row) = store::cases::lock(conn, None, Some(application)).await? else {
        return Ok(()); // returned before the case was opened: the referral will come again
    };
    if !matches!(row.state.0, cm::CaseState::Open | cm::CaseState::Scheduled | cm::CaseState::Deferred) {
        return Ok(()); // decided, withdrawn or paused already
    }
    let mut case = cases::view(&row).map_err(|e| HandlerError::Rejected(e.to_string()))?;
    let meeting = case.meeting.clone();
    leave_agenda(conn, &mut case).await?;
    store::cases::save(conn, &row, &case, cm::CaseState::Returned).await?;
    if !meeting.is_empty() {
        // Scheduled while the return was under way: the applications service
        // hears that it is off the agenda again.
        let left = cm::CaseUnscheduled { case: case.name.clone(), application: application.to_owned(), meeting };
        outbox::append(conn, "committee", &case.name, None, &left).await?;
    }
    tracing::info!(case = %case.name, "case paused: the application was returned for completion");
    Ok(())
}

/// A referral of an application whose case exists: a paused case is taken
/// up again with the application as now referred (OPEN, or DEFERRED if the
/// committee deferred it before), and says so as `CaseOpened`; any other is
/// left as it is (a repeated delivery).
async fn take_up_again(conn: &mut PgConnection, application: &ap::Application) -> Result<(), HandlerError> {
    let Some(row) = store::cases::lock(conn, None, Some(&application.name)).await? else {
        return Ok(());
    };
    if row.state.0 != cm::CaseState::Returned {
        return Ok(());
    }
    let case = cases::view(&row).map_err(|e| HandlerError::Rejected(e.to_string()))?;
    let fresh = case_from(application);
    let case = cm::Case {
        title: fresh.title,
        requested_amount: fresh.requested_amount,
        application_snapshot: fresh.application_snapshot,
        referral_note: fresh.referral_note,
        ..case
    };
    let state = if case.deferral_count > 0 { cm::CaseState::Deferred } else { cm::CaseState::Open };
    store::cases::save(conn, &row, &case, state).await?;
    let opened = cm::CaseOpened { case: case.name.clone(), application: application.name.clone() };
    outbox::append(conn, "committee", &case.name, None, &opened).await?;
    tracing::info!(case = %case.name, "case taken up again: the application was referred again");
    Ok(())
}
