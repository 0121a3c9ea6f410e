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
use socialloans_platform::{Caller, Role, error::FieldViolation, events::outbox, limits};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    cases::{self, timestamp},
    chain,
    error::Error,
    meetings::{self, MinuteVote},
    members,
    rules::{self, Ballot, DecisionRule, QuorumRule},
};

/// The committee's rules, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// How decisions follow from votes.
    pub decision: DecisionRule,
    /// How many eligible members a meeting needs.
    pub quorum: QuorumRule,
}

fn actor(caller: &Caller, role: Role) -> pb::Actor {
    pb::Actor { subject: caller.subject.clone(), role: role.as_str().into(), member: String::new() }
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
    pub roster: Vec<members::Row>,
    /// The meeting's day.
    pub day: NaiveDate,
}

impl Standing {
    /// Loads the roster for a meeting on `day`.
    pub async fn load(conn: &mut PgConnection, day: NaiveDate) -> Result<Standing, Error> {
        let roster = sqlx::query_as(
            "SELECT id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time
               FROM committee.member ORDER BY create_time, id",
        )
        .fetch_all(conn)
        .await?;
        Ok(Standing { roster, day })
    }

    /// Voting members (members and the chair; the secretary keeps the record)
    /// serving on the day: the roster quorum is counted from.
    pub fn active(&self) -> impl Iterator<Item = &members::Row> {
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
    outbox::append(conn, "committee", aggregate, payload).await?;
    Ok(())
}

/// Locks a meeting and decodes it.
pub async fn lock_meeting(conn: &mut PgConnection, name: &str) -> Result<(meetings::Row, Meeting), Error> {
    let id = parse("name", "meetings/", name)?;
    let row = meetings::lock(conn, id).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
    let meeting = row.view()?;
    Ok((row, meeting))
}

/// Locks a case and decodes it.
pub async fn lock_case(conn: &mut PgConnection, name: &str) -> Result<(cases::Row, Case), Error> {
    let id = parse("case", "cases/", name)?;
    let row = cases::lock(conn, Some(id), None).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
    let case = row.view()?;
    Ok((row, case))
}

fn check_etag(etag: &str, current: &str) -> Result<(), Error> {
    if !etag.is_empty() && etag != current {
        return Err(Error::EtagMismatch { current: current.to_owned() });
    }
    Ok(())
}

/// Schedules a meeting.
pub async fn create_meeting(conn: &mut PgConnection, meeting: Meeting) -> Result<Meeting, Error> {
    let start = checked_details(&meeting)?;
    let stored = Meeting { title: meeting.title, location: meeting.location, ..Default::default() };
    meetings::insert(conn, &stored, start).await?.view()
}

/// The longest notes the secretary may keep, in characters.
const NOTES_MAX: usize = 100_000;

/// Title, location and start time checked, every bad field named; the start.
fn checked_details(meeting: &Meeting) -> Result<DateTime<Utc>, Error> {
    let mut violations = Vec::new();
    if meeting.title.trim().is_empty() || socialloans_platform::limits::unfit(&meeting.title, 200) {
        violations.push(FieldViolation::new("meeting.title", "is required, at most 200 characters"));
    }
    if socialloans_platform::limits::unfit(&meeting.location, 200) {
        violations.push(FieldViolation::new("meeting.location", "is at most 200 characters"));
    }
    let start = meeting
        .start_time
        .as_ref()
        .and_then(limits::time)
        .filter(|t| limits::YEARS.contains(&chrono::Datelike::year(t)));
    if start.is_none() {
        violations.push(FieldViolation::new("meeting.start_time", "is required: a time between 1900 and 2200"));
    }
    if socialloans_platform::limits::unfit(&meeting.notes, NOTES_MAX) {
        violations.push(FieldViolation::new("meeting.notes", format!("is at most {NOTES_MAX} characters")));
    }
    match start {
        Some(start) if violations.is_empty() => Ok(start),
        _ => Err(Error::InvalidArgument(violations)),
    }
}

/// The fields of a meeting that change while it is scheduled.
const DETAILS: [&str; 3] = ["title", "start_time", "location"];

/// The secretary changes a meeting: its details while it is scheduled (a
/// move is announced again for each case on the agenda), the notes while
/// it is held or adjourned (once adjourned, the minutes are written again).
pub async fn update_meeting(
    conn: &mut PgConnection,
    name: &str,
    etag: &str,
    patch: &Meeting,
    paths: &[String],
) -> Result<Meeting, Error> {
    let mut violations = Vec::new();
    if paths.is_empty() {
        violations.push(FieldViolation::new("update_mask", "is required: name the fields to change, or *"));
    }
    for path in paths.iter().filter(|p| !DETAILS.contains(&p.as_str()) && *p != "notes" && *p != "*") {
        let why = match path.as_str() {
            "minutes" => "is written by the service from the record; the secretary's own text goes in notes".to_owned(),
            "quorum" => "follows the committee's quorum rule (COMMITTEE_QUORUM), not one meeting".to_owned(),
            other => format!("{other:?} cannot be edited: title, start_time, location or notes"),
        };
        violations.push(FieldViolation::new("update_mask.paths", why));
    }
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    let (row, mut meeting) = lock_meeting(conn, name).await?;
    check_etag(etag, &meeting.etag)?;
    let state = row.state();
    let minutes_open = matches!(state, MeetingState::InProgress | MeetingState::Adjourned);
    let paths: Vec<&str> = if paths.iter().any(|p| p == "*") {
        if minutes_open { vec!["notes"] } else { DETAILS.to_vec() }
    } else {
        paths.iter().map(String::as_str).collect()
    };
    if paths.iter().any(|p| DETAILS.contains(p)) && state != MeetingState::Scheduled {
        return Err(refused(
            "MEETING_NOT_SCHEDULED",
            format!(
                "title, start time and location change while the meeting is scheduled; it is {}",
                meetings::state_name(state)
            ),
        ));
    }
    if paths.contains(&"notes") && !minutes_open {
        return Err(refused(
            "MINUTES_NOT_OPEN",
            format!(
                "notes are kept while the meeting is in progress or adjourned; it is {}",
                meetings::state_name(state)
            ),
        ));
    }
    let before = meeting.start_time;
    for path in &paths {
        match *path {
            "title" => meeting.title = patch.title.clone(),
            "location" => meeting.location = patch.location.clone(),
            "start_time" => meeting.start_time = patch.start_time,
            _ => meeting.notes = patch.notes.clone(),
        }
    }
    let start = checked_details(&meeting)?;
    if meeting.start_time != before {
        for item in &meeting.agenda {
            let (_, case) = lock_case(conn, &item.case).await?;
            let moved = pb::CaseScheduled {
                case: case.name.clone(),
                application: case.application.clone(),
                meeting: meeting.name.clone(),
                meeting_start_time: meeting.start_time,
            };
            publish(conn, &case.name, &moved).await?;
        }
    }
    if state == MeetingState::Adjourned {
        meeting.minutes = write_minutes(conn, &meeting).await?;
    }
    meetings::save_moved(conn, &row, &meeting, state, start).await?.view()
}

/// The cases still waiting on the agenda of a meeting that ends without
/// deciding them go back: DEFERRED if the committee deferred them before,
/// OPEN otherwise — free for the next meeting's agenda.
async fn release_undecided(conn: &mut PgConnection, meeting: &Meeting) -> Result<(), Error> {
    for item in &meeting.agenda {
        let (case_row, mut case) = lock_case(conn, &item.case).await?;
        if case_row.state() == CaseState::Scheduled && case.meeting == meeting.name {
            case.meeting.clear();
            let back = if case.deferral_count > 0 { CaseState::Deferred } else { CaseState::Open };
            cases::save(conn, &case_row, &case, back).await?;
        }
    }
    Ok(())
}

/// Fills what a meeting shows but does not store, from the roster serving
/// on its day and the cases' declarations: the quorum the committee's rule
/// gives, and per case on the agenda the eligible members present and
/// whether they reach it.
pub async fn annotate(conn: &mut PgConnection, quorum: QuorumRule, meetings: &mut [Meeting]) -> Result<(), Error> {
    if meetings.is_empty() {
        return Ok(());
    }
    let roster = Standing::load(conn, NaiveDate::MIN).await?.roster;
    let ids: Vec<Uuid> = meetings
        .iter()
        .flat_map(|m| &m.agenda)
        .filter_map(|item| item.case.strip_prefix("cases/").and_then(limits::id))
        .collect();
    let rows: Vec<(Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT id, content FROM committee.committee_case WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
    let mut cases = std::collections::HashMap::new();
    for (id, content) in rows {
        let case = Case::decode(content.as_slice()).map_err(|e| Error::Database(sqlx::Error::Decode(Box::new(e))))?;
        cases.insert(format!("cases/{id}"), case);
    }
    for meeting in meetings {
        let day = meeting
            .start_time
            .as_ref()
            .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
            .map(socialloans_platform::stockholm_date)
            .unwrap_or_default();
        let standing = Standing { roster: roster.clone(), day };
        let active: Vec<&members::Row> = standing.active().collect();
        let needed = quorum.quorum(active.len() as u32);
        meeting.quorum = needed as i32;
        let present: Vec<String> =
            active.iter().map(|m| format!("members/{}", m.id)).filter(|m| present(meeting, m)).collect();
        for item in &mut meeting.agenda {
            let eligible = match cases.get(&item.case) {
                Some(case) => present.iter().filter(|m| !conflicted(case, m)).count(),
                None => 0,
            };
            item.eligible_present_count = eligible as i32;
            item.quorate = eligible as u32 >= needed;
        }
    }
    Ok(())
}

/// Puts a case on the agenda.
pub async fn add_agenda_item(
    conn: &mut PgConnection,
    name: &str,
    etag: &str,
    case_name: &str,
) -> Result<Meeting, Error> {
    let (row, mut meeting) = lock_meeting(conn, name).await?;
    check_etag(etag, &meeting.etag)?;
    if !matches!(row.state(), MeetingState::Scheduled | MeetingState::InProgress) {
        return Err(refused("MEETING_CLOSED", "cases can be added only before or during the meeting"));
    }
    let (case_row, mut case) = lock_case(conn, case_name).await?;
    if !matches!(case_row.state(), CaseState::Open | CaseState::Deferred) {
        return Err(refused("CASE_NOT_OPEN", format!("the case is {}", cases::state_name(case_row.state()))));
    }
    if meeting.agenda.iter().any(|item| item.case == case.name) {
        return Err(refused("CASE_ALREADY_ON_AGENDA", "a case deferred at this meeting goes to a later one"));
    }
    case.meeting = meeting.name.clone();
    cases::save(conn, &case_row, &case, CaseState::Scheduled).await?;
    meeting.agenda.push(pb::AgendaItem { case: case.name.clone(), title: case.title.clone(), ..Default::default() });
    let scheduled = pb::CaseScheduled {
        case: case.name.clone(),
        application: case.application.clone(),
        meeting: meeting.name.clone(),
        meeting_start_time: meeting.start_time,
    };
    publish(conn, &case.name, &scheduled).await?;
    meetings::save(conn, &row, &meeting, row.state()).await?.view()
}

/// Records a member's attendance.
pub async fn record_attendance(
    conn: &mut PgConnection,
    name: &str,
    etag: &str,
    member: &str,
    status: i32,
) -> Result<Meeting, Error> {
    let status = match AttendanceStatus::try_from(status) {
        Ok(AttendanceStatus::Unspecified) | Err(_) => {
            return Err(FieldViolation::new("status", "must be PRESENT, EXCUSED or ABSENT").into());
        }
        Ok(s) => s,
    };
    let member_id = parse("member", "members/", member)?;
    let term: Option<(NaiveDate, Option<NaiveDate>)> =
        sqlx::query_as("SELECT term_start, term_end FROM committee.member WHERE id = $1")
            .bind(member_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((term_start, term_end)) = term else {
        return Err(Error::NotFound(member.to_owned()));
    };
    let (row, mut meeting) = lock_meeting(conn, name).await?;
    check_etag(etag, &meeting.etag)?;
    if !matches!(row.state(), MeetingState::Scheduled | MeetingState::InProgress) {
        return Err(refused("MEETING_CLOSED", "attendance is recorded before or during the meeting"));
    }
    let day = socialloans_platform::stockholm_date(row.start_time);
    let serving = term_start <= day && term_end.is_none_or(|end| day <= end);
    if status == AttendanceStatus::Present && !serving {
        return Err(refused("MEMBER_NOT_IN_TERM", format!("{member} does not serve on the committee on {day}")));
    }
    let member = format!("members/{member_id}");
    meeting.attendance.retain(|a| a.member != member);
    meeting.attendance.push(pb::Attendance { member, status: status as i32, record_time: Some(timestamp(Utc::now())) });
    meetings::save(conn, &row, &meeting, row.state()).await?.view()
}

/// Moves a meeting along: start, adjourn (writing the minutes), cancel.
pub async fn move_meeting(
    conn: &mut PgConnection,
    name: &str,
    etag: &str,
    from: MeetingState,
    to: MeetingState,
) -> Result<Meeting, Error> {
    let (row, mut meeting) = lock_meeting(conn, name).await?;
    check_etag(etag, &meeting.etag)?;
    if row.state() != from {
        return Err(refused(
            "ILLEGAL_STATE_TRANSITION",
            format!("the meeting is {}, not {}", meetings::state_name(row.state()), meetings::state_name(from)),
        ));
    }
    if matches!(to, MeetingState::Cancelled | MeetingState::Adjourned) {
        release_undecided(conn, &meeting).await?;
    }
    if to == MeetingState::Adjourned {
        meeting.minutes = write_minutes(conn, &meeting).await?;
    }
    meetings::save(conn, &row, &meeting, to).await?.view()
}

async fn write_minutes(conn: &mut PgConnection, meeting: &Meeting) -> Result<String, Error> {
    let roster: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, display_name FROM committee.member").fetch_all(&mut *conn).await?;
    let names = move |member: &str| {
        roster
            .iter()
            .find(|(id, _)| format!("members/{id}") == member)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| member.to_owned())
    };
    let meeting_id = parse("name", "meetings/", &meeting.name)?;
    let mut agenda = Vec::new();
    for item in &meeting.agenda {
        let case_id = parse("case", "cases/", &item.case)?;
        let row = cases::lock(conn, Some(case_id), None).await?.ok_or_else(|| Error::NotFound(item.case.clone()))?;
        let votes: Vec<(Uuid, String, String)> = sqlx::query_as(
            "SELECT member_id, choice, comment FROM committee.vote WHERE case_id = $1 AND meeting_id = $2 ORDER BY cast_time",
        )
        .bind(case_id)
        .bind(meeting_id)
        .fetch_all(&mut *conn)
        .await?;
        let votes = votes
            .into_iter()
            .map(|(member, choice, comment)| MinuteVote {
                member: names(&format!("members/{member}")),
                choice: VoteChoice::from_str_name(&format!("VOTE_CHOICE_{choice}")).unwrap_or_default(),
                comment,
            })
            .collect();
        agenda.push((row.view()?, votes));
    }
    Ok(meetings::minutes(meeting, &names, &agenda))
}

/// The caller's own roster entry, if the caller is on the roster (a member
/// without a login subject is nobody's).
async fn roster_entry(conn: &mut PgConnection, caller: &Caller) -> Result<Option<members::Row>, Error> {
    Ok(sqlx::query_as(
        "SELECT id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time
           FROM committee.member WHERE subject = $1 AND subject <> ''",
    )
    .bind(&caller.subject)
    .fetch_optional(conn)
    .await?)
}

/// The caller's own roster entry.
async fn member_of(conn: &mut PgConnection, caller: &Caller) -> Result<members::Row, Error> {
    roster_entry(conn, caller).await?.ok_or_else(|| Error::PermissionDenied {
        reason: "NOT_A_MEMBER",
        message: "the caller is not on the committee's roster".into(),
    })
}

/// Who may assess a case's basic requirements or confirm its decision: a
/// member on the roster, serving today, without a declared conflict on the
/// case. The secretary, recording the committee's verdict, need not be on
/// the roster; but nobody with a declared conflict on the case takes part.
pub async fn check_participant(
    conn: &mut PgConnection,
    caller: &Caller,
    case: &Case,
    secretary_may_record: bool,
) -> Result<(), Error> {
    let entry = roster_entry(conn, caller).await?;
    if let Some(member) = &entry
        && conflicted(case, &format!("members/{}", member.id))
    {
        return Err(Error::PermissionDenied {
            reason: "MEMBER_CONFLICTED",
            message: "a member with a declared conflict of interest on the case takes no part in it".into(),
        });
    }
    if secretary_may_record && caller.has(Role::CommitteeSecretary) {
        return Ok(());
    }
    let member = entry.ok_or_else(|| Error::PermissionDenied {
        reason: "NOT_A_MEMBER",
        message: "the caller is not on the committee's roster".into(),
    })?;
    if !member.active_on(socialloans_platform::stockholm_date(Utc::now())) {
        return Err(Error::PermissionDenied {
            reason: "MEMBER_NOT_IN_TERM",
            message: "the member's term does not cover today".into(),
        });
    }
    Ok(())
}

/// Casts (or changes) the caller's vote on a case at its meeting.
pub async fn cast_vote(
    conn: &mut PgConnection,
    caller: &Caller,
    case_name: &str,
    vote: pb::Vote,
) -> Result<pb::Vote, Error> {
    let choice = match VoteChoice::try_from(vote.choice) {
        Ok(VoteChoice::Unspecified) | Err(_) => return Err(FieldViolation::new("vote.choice", "is required").into()),
        Ok(c) => c,
    };
    if socialloans_platform::limits::unfit(&vote.comment, 10_000) {
        return Err(FieldViolation::new("vote.comment", "is longer than 10000 characters").into());
    }
    let voter = member_of(conn, caller).await?;
    if voter.role == "SECRETARY" {
        return Err(Error::PermissionDenied {
            reason: "NOT_A_VOTING_MEMBER",
            message: "the secretary keeps the record and does not vote".into(),
        });
    }
    let member_name = format!("members/{}", voter.id);
    let (case_row, case) = lock_case(conn, case_name).await?;
    if case_row.state() != CaseState::Scheduled || case.meeting.is_empty() {
        return Err(refused("CASE_NOT_BEFORE_THE_COMMITTEE", "votes are cast on a scheduled case at its meeting"));
    }
    if !vote.meeting.is_empty() && vote.meeting != case.meeting {
        return Err(FieldViolation::new("vote.meeting", "is not the meeting the case is scheduled for").into());
    }
    let (m_row, meeting) = lock_meeting(conn, &case.meeting).await?;
    if m_row.state() != MeetingState::InProgress {
        return Err(refused("MEETING_NOT_IN_PROGRESS", "votes are cast while the meeting is in progress"));
    }
    if !voter.active_on(socialloans_platform::stockholm_date(m_row.start_time)) {
        return Err(Error::PermissionDenied {
            reason: "MEMBER_NOT_IN_TERM",
            message: "the member's term does not cover this meeting".into(),
        });
    }
    if !present(&meeting, &member_name) {
        return Err(refused("MEMBER_NOT_PRESENT", "only members present at the meeting vote"));
    }
    if conflicted(&case, &member_name) {
        return Err(Error::PermissionDenied {
            reason: "MEMBER_CONFLICTED",
            message: "a member with a declared conflict of interest does not vote".into(),
        });
    }
    let choice_name = choice.as_str_name().trim_start_matches("VOTE_CHOICE_").to_owned();
    let cast_time: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO committee.vote (case_id, meeting_id, member_id, choice, comment, actor_subject)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (case_id, meeting_id, member_id)
         DO UPDATE SET choice = EXCLUDED.choice, comment = EXCLUDED.comment, cast_time = now()
         RETURNING cast_time",
    )
    .bind(case_row.id)
    .bind(m_row.id)
    .bind(voter.id)
    .bind(choice_name)
    .bind(&vote.comment)
    .bind(&caller.subject)
    .fetch_one(&mut *conn)
    .await?;
    Ok(pb::Vote {
        name: format!("{case_name}/votes/{}", voter.id),
        member: member_name,
        meeting: case.meeting,
        choice: choice as i32,
        comment: vote.comment,
        recorded_by: Some(pb::Actor {
            subject: caller.subject.clone(),
            role: "committee_member".into(),
            member: String::new(),
        }),
        cast_time: Some(timestamp(cast_time)),
    })
}

fn decision_index(case: &Case, name: &str) -> Option<usize> {
    case.decisions.iter().position(|d| d.name == name)
}

/// Records a decision on a case: at its meeting, with quorum and consistent
/// with the votes — or, when the case's latest decision is frozen, an
/// amendment of it. Either waits for the chair's confirmation.
#[allow(clippy::too_many_arguments)]
pub async fn record_decision(
    conn: &mut PgConnection,
    caller: &Caller,
    rules: Rules,
    case_name: &str,
    etag: &str,
    request_id: &str,
    mut decision: Decision,
) -> Result<Decision, Error> {
    let (case_row, mut case) = lock_case(conn, case_name).await?;
    check_etag(etag, &case.etag)?;
    let outcome = match DecisionOutcome::try_from(decision.outcome) {
        Ok(DecisionOutcome::Unspecified) | Err(_) => {
            return Err(FieldViolation::new("decision.outcome", "is required").into());
        }
        Ok(o) => o,
    };
    check_content(&case, &decision, outcome)?;
    let amendment = case_row.state() == CaseState::Decided;
    let now = Utc::now();
    decision.name = format!("{case_name}/decisions/{}", case.decisions.len() + 1);
    decision.state = DecisionState::Recorded as i32;
    decision.recorded_by = Some(actor(caller, Role::CommitteeSecretary));
    decision.record_time = Some(timestamp(now));
    decision.confirmed_by = None;
    decision.confirm_time = None;
    decision.frozen = false;
    decision.freeze_time = None;
    decision.vote_tally = None;
    decision.dissents.clear();
    decision.chain_hash.clear();
    decision.etag.clear();
    // Recording again before confirmation supersedes the record waiting.
    for d in case.decisions.iter_mut().filter(|d| d.state == DecisionState::Recorded as i32) {
        d.state = DecisionState::Superseded as i32;
    }
    let action;
    if amendment {
        let last = rules::amended(&case.decisions, outcome).map_err(|(reason, why)| refused(reason, why))?.clone();
        decision.meeting = last.meeting.clone();
        decision.vote_tally = last.vote_tally;
        decision.rationale = format!("Amends {}: {}", last.name, decision.rationale);
        action = "AMENDMENT_RECORDED";
    } else {
        let before_the_committee = matches!(case_row.state(), CaseState::Scheduled | CaseState::DecisionRecorded);
        if !before_the_committee || case.meeting.is_empty() {
            return Err(refused(
                "CASE_NOT_BEFORE_THE_COMMITTEE",
                format!("the case is {}", cases::state_name(case_row.state())),
            ));
        }
        if outcome != DecisionOutcome::Defer {
            check_requirements(&case, outcome)?;
        }
        let (m_row, meeting) = lock_meeting(conn, &case.meeting).await?;
        // Decided at the meeting; a record still waiting for confirmation may
        // be corrected after adjournment too, on the votes the meeting cast.
        let correcting = case_row.state() == CaseState::DecisionRecorded;
        let open =
            m_row.state() == MeetingState::InProgress || (correcting && m_row.state() == MeetingState::Adjourned);
        if !open {
            return Err(refused(
                "MEETING_NOT_IN_PROGRESS",
                "decisions are recorded while the meeting is in progress (a waiting record corrected until its minutes)",
            ));
        }
        let standing = Standing::load(conn, socialloans_platform::stockholm_date(m_row.start_time)).await?;
        let active: Vec<&members::Row> = standing.active().collect();
        let quorum = rules.quorum.quorum(active.len() as u32) as usize;
        let present_members: Vec<&&members::Row> =
            active.iter().filter(|m| present(&meeting, &format!("members/{}", m.id))).collect();
        let eligible: Vec<&&&members::Row> =
            present_members.iter().filter(|m| !conflicted(&case, &format!("members/{}", m.id))).collect();
        decision.meeting = meeting.name.clone();
        // Without a quorum the committee decides nothing, but it may defer:
        // that deferral follows no vote, and waits for confirmation like any.
        if let Some((reason, why)) = rules::inquorate(present_members.len(), eligible.len(), quorum) {
            if outcome != DecisionOutcome::Defer {
                return Err(refused(reason, why));
            }
            decision.rationale = format!("Deferred without a quorum ({why}). {}", decision.rationale);
            return record(conn, caller, case_row, case, decision, request_id, "DECISION_RECORDED", outcome).await;
        }
        let votes: Vec<(Uuid, String, String)> = sqlx::query_as(
            "SELECT member_id, choice, comment FROM committee.vote WHERE case_id = $1 AND meeting_id = $2",
        )
        .bind(case_row.id)
        .bind(m_row.id)
        .fetch_all(&mut *conn)
        .await?;
        let ballots: Vec<Ballot> = eligible
            .iter()
            .map(|m| Ballot {
                choice: votes
                    .iter()
                    .find(|(id, _, _)| *id == m.id)
                    .and_then(|(_, c, _)| VoteChoice::from_str_name(&format!("VOTE_CHOICE_{c}"))),
                chair: m.role == "CHAIR",
            })
            .collect();
        let given =
            rules::outcome(&ballots, rules.decision).map_err(|why| refused("DECISION_INCONSISTENT_WITH_VOTES", why))?;
        if given != outcome {
            return Err(refused(
                "DECISION_INCONSISTENT_WITH_VOTES",
                format!("the votes give {}, not {}", given.as_str_name(), outcome.as_str_name()),
            ));
        }
        decision.vote_tally = Some(rules::tally(&ballots));
        // Eligible members who voted otherwise and said why are recorded as dissenting.
        let eligible_votes: Vec<rules::Vote> = votes
            .iter()
            .filter(|(id, _, _)| eligible.iter().any(|m| m.id == *id))
            .map(|(member, choice, comment)| rules::Vote {
                member: format!("members/{member}"),
                choice: VoteChoice::from_str_name(&format!("VOTE_CHOICE_{choice}")),
                comment: comment.clone(),
            })
            .collect();
        decision.dissents = rules::dissents(&eligible_votes, outcome);
        action = "DECISION_RECORDED";
    }
    record(conn, caller, case_row, case, decision, request_id, action, outcome).await
}

/// Puts a recorded decision (or amendment) on the chain and the case, where
/// it waits for a second person's confirmation.
#[allow(clippy::too_many_arguments)]
async fn record(
    conn: &mut PgConnection,
    caller: &Caller,
    case_row: cases::Row,
    mut case: Case,
    mut decision: Decision,
    request_id: &str,
    action: &'static str,
    outcome: DecisionOutcome,
) -> Result<Decision, Error> {
    let summary = format!("{} {} on {}", action, outcome.as_str_name(), case.application);
    decision.chain_hash = chain::append(
        conn,
        chain::Entry {
            action,
            resource: &decision.name,
            actor_subject: &caller.subject,
            actor_role: Role::CommitteeSecretary.as_str(),
            request_id,
            summary: &summary,
            payload: &decision.encode_to_vec(),
        },
    )
    .await?;
    case.decisions.push(decision.clone());
    let state = if action == "AMENDMENT_RECORDED" { CaseState::Decided } else { CaseState::DecisionRecorded };
    cases::save(conn, &case_row, &case, state).await?;
    Ok(decision)
}

/// The basic requirements an outcome needs: all five assessed; an approval
/// every one MET, an approval with conditions none NOT_MET.
fn check_requirements(case: &Case, outcome: DecisionOutcome) -> Result<(), Error> {
    use pb::{BasicRequirement as B, RequirementVerdict as V};
    let assessed = case.requirement_assessments.len();
    if assessed < 5 {
        return Err(refused(
            "REQUIREMENTS_NOT_ASSESSED",
            format!("{assessed} of the five basic requirements are assessed"),
        ));
    }
    let short: Vec<String> = case
        .requirement_assessments
        .iter()
        .filter(|a| match outcome {
            DecisionOutcome::Approve => a.verdict != V::Met as i32,
            DecisionOutcome::ApproveWithConditions => a.verdict == V::NotMet as i32,
            _ => false,
        })
        .map(|a| {
            let requirement = B::try_from(a.requirement).unwrap_or_default().as_str_name();
            let verdict = V::try_from(a.verdict).unwrap_or_default().as_str_name();
            format!(
                "{} is {}",
                requirement.trim_start_matches("BASIC_REQUIREMENT_"),
                verdict.trim_start_matches("REQUIREMENT_VERDICT_")
            )
        })
        .collect();
    if short.is_empty() {
        return Ok(());
    }
    let needs = if outcome == DecisionOutcome::Approve {
        "an approval needs every basic requirement met (a partly met one calls for conditions)"
    } else {
        "an approval with conditions needs no basic requirement unmet"
    };
    Err(refused("REQUIREMENT_NOT_MET", format!("{needs}: {}", short.join(", "))))
}

fn check_content(case: &Case, decision: &Decision, outcome: DecisionOutcome) -> Result<(), Error> {
    let mut violations = Vec::new();
    if decision.rationale.trim().is_empty() {
        violations.push(FieldViolation::new("decision.rationale", "is required, at most 10000 characters"));
    }
    violations.extend(limits::text("decision.rationale", &decision.rationale, 10_000));
    if decision.conditions.len() > 50 {
        violations.push(FieldViolation::new("decision.conditions", "at most 50"));
        return Err(Error::InvalidArgument(violations));
    }
    let approving = matches!(outcome, DecisionOutcome::Approve | DecisionOutcome::ApproveWithConditions);
    if approving {
        match &decision.approved_amount {
            None => violations.push(FieldViolation::new("decision.approved_amount", "is required for an approval")),
            Some(m) if m.currency_code != "SEK" || m.minor_units <= 0 => {
                violations.push(FieldViolation::new("decision.approved_amount", "must be a positive amount in SEK"))
            }
            Some(_) => {}
        }
    } else if decision.approved_amount.is_some() {
        violations.push(FieldViolation::new("decision.approved_amount", "is only for approvals"));
    }
    if outcome == DecisionOutcome::ApproveWithConditions && decision.conditions.is_empty() {
        violations.push(FieldViolation::new("decision.conditions", "an approval with conditions needs at least one"));
    }
    if outcome != DecisionOutcome::ApproveWithConditions && !decision.conditions.is_empty() {
        violations.push(FieldViolation::new("decision.conditions", "are only for an approval with conditions"));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, c) in decision.conditions.iter().enumerate() {
        let well_formed = !c.id.is_empty()
            && c.id.len() <= 20
            && c.id.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
        if !well_formed || !ids.insert(c.id.as_str()) {
            violations.push(FieldViolation::new(
                format!("decision.conditions[{i}].id"),
                "is required: a key unique within the decision, 1..20 of [A-Za-z0-9_-] (an amendment keeps the keys of the conditions it keeps)",
            ));
        }
    }
    for (i, c) in decision.conditions.iter().enumerate() {
        if c.description.trim().is_empty() {
            violations.push(FieldViolation::new(format!("decision.conditions[{i}].description"), "is required"));
        }
        violations.extend(limits::text(&format!("decision.conditions[{i}].description"), &c.description, 4000));
        let due = c.due_date.as_ref().and_then(|d| limits::date(d.year, d.month, d.day, limits::YEARS));
        if due.is_none() {
            violations.push(FieldViolation::new(
                format!("decision.conditions[{i}].due_date"),
                "is required: a calendar date between 1900 and 2200",
            ));
        }
        if !matches!(pb::ConditionKind::try_from(c.kind), Ok(k) if k != pb::ConditionKind::Unspecified) {
            violations.push(FieldViolation::new(format!("decision.conditions[{i}].kind"), "is required"));
        }
    }
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    // The application carries the decision too: it must fit beside it.
    limits::check_size("decision", decision.encoded_len(), limits::MAX_DECISION_BYTES)?;
    let requested = case.requested_amount.as_ref().map(|m| m.minor_units).unwrap_or_default();
    if let Some(amount) = decision.approved_amount.as_ref().filter(|_| approving)
        && amount.minor_units > requested
    {
        return Err(refused(
            "APPROVED_AMOUNT_ABOVE_REQUESTED",
            format!("approved {} öre is above the {} öre applied for", amount.minor_units, requested),
        ));
    }
    Ok(())
}

/// Takes a case off its meeting as deferred, and says so on the feed.
async fn mark_deferred(
    conn: &mut PgConnection,
    case_row: &cases::Row,
    mut case: Case,
    decision: &Decision,
) -> Result<(), Error> {
    case.deferral_count += 1;
    let meeting = std::mem::take(&mut case.meeting);
    cases::save(conn, case_row, &case, CaseState::Deferred).await?;
    let deferred = pb::CaseDeferred {
        case: case.name.clone(),
        application: case.application.clone(),
        decision: decision.name.clone(),
        meeting,
        rationale: decision.rationale.clone(),
        deferral_count: case.deferral_count,
    };
    publish(conn, &case.name, &deferred).await
}

/// The chair confirms a recorded decision or amendment; never its recorder.
pub async fn confirm_decision(
    conn: &mut PgConnection,
    caller: &Caller,
    name: &str,
    etag: &str,
    request_id: &str,
) -> Result<Decision, Error> {
    let case_name = name.split("/decisions/").next().unwrap_or_default().to_owned();
    let (case_row, mut case) = lock_case(conn, &case_name).await?;
    check_etag(etag, &case.etag)?;
    let index = decision_index(&case, name).ok_or_else(|| Error::NotFound(name.to_owned()))?;
    if case.decisions[index].state != DecisionState::Recorded as i32 {
        return Err(refused("DECISION_NOT_RECORDED", "only a recorded, unconfirmed decision can be confirmed"));
    }
    let recorder = case.decisions[index].recorded_by.as_ref().map(|a| a.subject.clone()).unwrap_or_default();
    if recorder == caller.subject {
        return Err(Error::PermissionDenied {
            reason: "FOUR_EYES_VIOLATION",
            message: "the person who recorded a decision cannot confirm it".into(),
        });
    }
    check_participant(conn, caller, &case, false).await?;
    let amendment = case_row.state() == CaseState::Decided;
    let mut amends = String::new();
    if amendment {
        // The amended decision: the latest confirmed one (an amendment keeps
        // its outcome); deferrals confirmed before it stay as they were.
        let outcome = case.decisions[index].outcome;
        if let Some(d) = case.decisions[..index]
            .iter_mut()
            .rev()
            .find(|d| d.state == DecisionState::Confirmed as i32 && d.outcome == outcome)
        {
            d.state = DecisionState::Superseded as i32;
            amends.clone_from(&d.name);
        }
    }
    let now = Utc::now();
    let decision = &mut case.decisions[index];
    decision.state = DecisionState::Confirmed as i32;
    decision.confirmed_by = Some(actor(caller, Role::CommitteeChair));
    decision.confirm_time = Some(timestamp(now));
    if amendment {
        decision.frozen = true;
        decision.freeze_time = Some(timestamp(now));
    }
    let outcome = DecisionOutcome::try_from(decision.outcome).unwrap_or_default();
    let action = if amendment { "AMENDMENT_CONFIRMED" } else { "DECISION_CONFIRMED" };
    let summary = format!("{action} {} on {}", outcome.as_str_name(), case.application);
    let (chain_sequence, chain_hash) = chain::append_at(
        conn,
        chain::Entry {
            action,
            resource: &decision.name,
            actor_subject: &caller.subject,
            actor_role: Role::CommitteeChair.as_str(),
            request_id,
            summary: &summary,
            payload: &decision.encode_to_vec(),
        },
    )
    .await?;
    decision.chain_hash = chain_hash.clone();
    let decision = decision.clone();
    if outcome == DecisionOutcome::Defer {
        mark_deferred(conn, &case_row, case, &decision).await?;
        return Ok(decision);
    }
    cases::save(conn, &case_row, &case, CaseState::Decided).await?;
    if amendment {
        let amended = pb::DecisionAmended {
            case: case.name.clone(),
            application: case.application.clone(),
            decision: decision.name.clone(),
            amends,
            outcome: decision.outcome,
            approved_amount: decision.approved_amount.clone(),
            conditions: decision.conditions.clone(),
            rationale: decision.rationale.clone(),
            confirm_time: decision.confirm_time,
            chain_sequence,
            chain_hash,
        };
        publish(conn, &case.name, &amended).await?;
    } else {
        let confirmed = pb::DecisionConfirmed {
            case: case.name.clone(),
            application: case.application.clone(),
            decision: decision.name.clone(),
            meeting: decision.meeting.clone(),
            outcome: decision.outcome,
            approved_amount: decision.approved_amount.clone(),
            conditions: decision.conditions.clone(),
            rationale: decision.rationale.clone(),
            deferral_count: case.deferral_count,
            confirm_time: decision.confirm_time,
            chain_sequence,
            chain_hash,
        };
        publish(conn, &case.name, &confirmed).await?;
    }
    Ok(decision)
}

/// The chair approves the minutes: every decision of the meeting freezes.
pub async fn approve_minutes(
    conn: &mut PgConnection,
    caller: &Caller,
    name: &str,
    etag: &str,
    request_id: &str,
) -> Result<Meeting, Error> {
    let (row, mut meeting) = lock_meeting(conn, name).await?;
    check_etag(etag, &meeting.etag)?;
    if row.state() != MeetingState::Adjourned {
        return Err(refused("MEETING_NOT_ADJOURNED", "minutes are approved after the meeting is adjourned"));
    }
    let now = Utc::now();
    let mut frozen = Vec::new();
    for item in meeting.agenda.clone() {
        let (case_row, mut case) = lock_case(conn, &item.case).await?;
        if case.decisions.iter().any(|d| d.meeting == meeting.name && d.state == DecisionState::Recorded as i32) {
            return Err(refused("DECISION_NOT_CONFIRMED", format!("a decision on {} awaits confirmation", case.name)));
        }
        for d in case
            .decisions
            .iter_mut()
            .filter(|d| d.meeting == meeting.name && d.state == DecisionState::Confirmed as i32)
        {
            d.frozen = true;
            d.freeze_time = Some(timestamp(now));
            frozen.push(d.name.clone());
        }
        let state = case_row.state();
        cases::save(conn, &case_row, &case, state).await?;
    }
    meeting.minutes = write_minutes(conn, &meeting).await?;
    meeting.minutes_approved_by = Some(actor(caller, Role::CommitteeChair));
    meeting.minutes_approve_time = Some(timestamp(now));
    let summary = format!("MINUTES_APPROVED freezing {} decision(s)", frozen.len());
    chain::append(
        conn,
        chain::Entry {
            action: "MINUTES_APPROVED",
            resource: name,
            actor_subject: &caller.subject,
            actor_role: Role::CommitteeChair.as_str(),
            request_id,
            summary: &summary,
            payload: meeting.minutes.as_bytes(),
        },
    )
    .await?;
    let approved =
        pb::MinutesApproved { meeting: name.to_owned(), frozen_decisions: frozen, approve_time: Some(timestamp(now)) };
    publish(conn, name, &approved).await?;
    meetings::save(conn, &row, &meeting, MeetingState::MinutesApproved).await?.view()
}

/// Takes an undecided case off the agenda; it is open again.
pub async fn remove_agenda_item(
    conn: &mut PgConnection,
    name: &str,
    etag: &str,
    case_name: &str,
) -> Result<Meeting, Error> {
    let (row, mut meeting) = lock_meeting(conn, name).await?;
    check_etag(etag, &meeting.etag)?;
    if !matches!(row.state(), MeetingState::Scheduled | MeetingState::InProgress) {
        return Err(refused("MEETING_CLOSED", "the agenda changes only before or during the meeting"));
    }
    if !meeting.agenda.iter().any(|item| item.case == case_name) {
        return Err(Error::NotFound(format!("{case_name} on the agenda of {name}")));
    }
    let (case_row, mut case) = lock_case(conn, case_name).await?;
    // A case decided (or deferred) here stays on the agenda, for the minutes.
    // Only the meeting the case waits for sends it back; an item whose case
    // has since gone to another agenda is simply taken off.
    let decided_here = case.decisions.iter().any(|d| d.meeting == meeting.name);
    if decided_here || (case.meeting == meeting.name && case_row.state() != CaseState::Scheduled) {
        return Err(refused("CASE_DECIDED", "a case with a decision recorded at this meeting stays on the agenda"));
    }
    if case.meeting == meeting.name {
        case.meeting.clear();
        let back = if case.deferral_count > 0 { CaseState::Deferred } else { CaseState::Open };
        cases::save(conn, &case_row, &case, back).await?;
    }
    meeting.agenda.retain(|item| item.case != case_name);
    meetings::save(conn, &row, &meeting, row.state()).await?.view()
}
