//! The committee at work: meetings with an agenda and attendance, votes of
//! eligible members, decisions consistent with the votes and confirmed by a
//! second person, minutes that freeze the decisions, and amendments.
//! Every step is one transaction; decisions, confirmations, amendments and
//! approvals of minutes also go onto the hash chain.

use chrono::{DateTime, NaiveDate, Utc};
use prost::Message;
use socialloans_contracts::committee::{
    self as pb, AttendanceStatus, Case, CaseState, Decision, DecisionOutcome, DecisionState, Meeting, MeetingState,
    VoteChoice,
};
use socialloans_contracts::common;
use socialloans_platform::{Caller, Role, error::FieldViolation, events::outbox, limits};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    cases::{self, timestamp},
    chain,
    error::Error,
    meetings,
    rules::{self, Ballot, DecisionRule, QuorumRule},
    signing::ChainKey,
    store,
};

socialloans_platform::stored_enum!(
    /// A vote's choice as the database keeps it: `VoteChoice::Approve` ↔ `APPROVE`.
    pub struct StoredVoteChoice(VoteChoice, "VOTE_CHOICE_");
);

/// The committee's rules, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// How decisions follow from votes.
    pub decision: DecisionRule,
    /// How many eligible members a meeting needs.
    pub quorum: QuorumRule,
}

/// Who takes a step the chain records, by which request, with the key that
/// signs the chain's head when the step calls for it (approving the minutes,
/// confirming a decision). The steps the chain records are its methods.
#[derive(Clone, Copy)]
pub struct Acting<'a> {
    /// The caller.
    pub caller: &'a Caller,
    /// The request the chain's entry names.
    pub request_id: &'a str,
    /// The key that signs the chain's head.
    pub key: &'a ChainKey,
}

impl Acting<'_> {
    /// The caller as a record names them, acting in `role`.
    fn actor(&self, role: Role) -> common::Actor {
        common::Actor {
            subject: self.caller.subject.clone(),
            role: role.as_str().into(),
            organization_number: String::new(),
        }
    }

    /// The chain's entry of `action` on `resource`, taken in `role`:
    /// `summary` for a person, `payload` the full content it is a digest of.
    fn entry<'b>(
        &'b self,
        role: Role,
        action: &'b str,
        resource: &'b str,
        summary: &'b str,
        payload: &'b [u8],
    ) -> chain::Entry<'b> {
        chain::Entry {
            action,
            resource,
            actor_subject: &self.caller.subject,
            actor_role: role.as_str(),
            request_id: self.request_id,
            summary,
            payload,
        }
    }
}

fn refused(reason: &'static str, message: impl Into<String>) -> Error {
    Error::Precondition { reason, message: message.into() }
}

/// Parses `prefix{uuid}`.
pub fn parse(field: &str, prefix: &str, name: &str) -> Result<Uuid, Error> {
    Ok(socialloans_platform::names::uuid(field, &format!("{prefix}{{uuid}}"), name)?)
}

/// Who is on the roster on `day`, and their standing at `meeting`.
pub struct Standing {
    /// Every member: id, name, is chair, active on the day.
    pub roster: Vec<store::members::Row>,
    /// The meeting's day.
    pub day: NaiveDate,
}

impl Standing {
    /// Loads the roster for a meeting on `day`.
    pub async fn load(conn: &mut PgConnection, day: NaiveDate) -> Result<Standing, Error> {
        let roster = store::members::roster(conn).await?;
        Ok(Standing { roster, day })
    }

    /// Voting members (members and the chair; the secretary keeps the record)
    /// serving on the day: the roster quorum is counted from.
    pub fn active(&self) -> impl Iterator<Item = &store::members::Row> {
        self.roster.iter().filter(|m| m.role != "SECRETARY" && m.active_on(self.day))
    }
}

fn present(meeting: &Meeting, member: &str) -> bool {
    meeting.attendance.iter().any(|a| a.member == member && a.status == AttendanceStatus::Present as i32)
}

fn conflicted(case: &Case, member: &str) -> bool {
    case.conflicts_of_interest.iter().any(|c| c.member == member)
}

async fn publish<M: prost::Name>(conn: &mut PgConnection, aggregate: &str, payload: &M) -> Result<(), Error> {
    outbox::append(conn, "committee", aggregate, None, payload).await?;
    Ok(())
}

/// Locks a meeting and decodes it.
pub async fn lock_meeting(conn: &mut PgConnection, name: &str) -> Result<(store::meetings::Row, Meeting), Error> {
    let id = parse("name", "meetings/", name)?;
    let row = store::meetings::lock(conn, id).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
    let meeting = meetings::view(&row)?;
    Ok((row, meeting))
}

/// Locks a case and decodes it.
pub async fn lock_case(conn: &mut PgConnection, name: &str) -> Result<(store::cases::Row, Case), Error> {
    let id = parse("case", "cases/", name)?;
    let row = store::cases::lock(conn, Some(id), None).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
    let case = cases::view(&row)?;
    // What is published about the case next carries its application's thread.
    outbox::follow_thread(conn, &case.application).await?;
    Ok((row, case))
}

/// The cases `ids`, unlocked, by name (`cases/{uuid}`); ids without a case
/// are left out.
async fn cases_by_name(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<String, Case>, Error> {
    let mut cases = std::collections::HashMap::with_capacity(ids.len());
    for (id, content) in store::cases::contents(conn, ids).await? {
        let name = format!("cases/{id}");
        let case = Case { name: name.clone(), ..socialloans_platform::stored::document::<Case>(&content)? };
        cases.insert(name, case);
    }
    Ok(cases)
}

fn check_etag(etag: &str, current: &str) -> Result<(), Error> {
    if !etag.is_empty() && etag != current {
        return Err(Error::EtagMismatch { current: current.to_owned() });
    }
    Ok(())
}

mod decisions;
mod meeting;
mod minutes;
mod votes;
mod written;

pub use meeting::*;
pub use minutes::*;
pub use votes::*;
pub use written::*;
