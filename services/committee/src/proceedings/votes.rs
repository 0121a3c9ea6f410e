//! Who takes part in a case at a meeting, and their votes.

use super::*;
use socialloans_contracts::common;

/// The caller's own roster entry, if the caller is on the roster (a member
/// without a login subject is nobody's).
async fn roster_entry(conn: &mut PgConnection, caller: &Caller) -> Result<Option<store::members::Row>, Error> {
    Ok(store::members::by_subject(conn, &caller.subject).await?)
}

/// The caller's own roster entry.
pub(super) async fn member_of(conn: &mut PgConnection, caller: &Caller) -> Result<store::members::Row, Error> {
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
    if case_row.state.0 != CaseState::Scheduled || case.meeting.is_empty() {
        return Err(refused("CASE_NOT_BEFORE_THE_COMMITTEE", "votes are cast on a scheduled case at its meeting"));
    }
    if !vote.meeting.is_empty() && vote.meeting != case.meeting {
        return Err(FieldViolation::new("vote.meeting", "is not the meeting the case is scheduled for").into());
    }
    let (m_row, meeting) = lock_meeting(conn, &case.meeting).await?;
    if m_row.state() != MeetingState::InProgress {
        return Err(refused("MEETING_NOT_IN_PROGRESS", "votes are cast while the meeting is in progress"));
    }
    if !voter.active_on(meetings::day(&meeting)) {
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
    let cast_time = store::votes::cast(
        conn,
        case_row.id,
        m_row.document.id,
        voter.id,
        &choice_name,
        &vote.comment,
        &caller.subject,
    )
    .await?;
    Ok(pb::Vote {
        name: format!("{case_name}/votes/{}", voter.id),
        member: member_name,
        meeting: case.meeting,
        choice: choice as i32,
        comment: vote.comment,
        recorded_by: Some(common::Actor {
            subject: caller.subject.clone(),
            role: "committee_member".into(),
            organization_number: String::new(),
        }),
        cast_time: Some(timestamp(cast_time)),
    })
}

/// The votes cast on the case `case_id` (named `case`), at `meeting` or at
/// every meeting when it is empty, in the order they were cast.
pub async fn votes_on(pool: &sqlx::PgPool, case_id: Uuid, case: &str, meeting: &str) -> Result<Vec<pb::Vote>, Error> {
    let rows = store::votes::on_case(pool, case_id).await?;
    Ok(rows
        .into_iter()
        .map(|r| pb::Vote {
            name: format!("{case}/votes/{}", r.member_id),
            member: format!("members/{}", r.member_id),
            meeting: format!("meetings/{}", r.meeting_id),
            choice: StoredVoteChoice::from_stored(&r.choice).map_or(VoteChoice::Unspecified, |c| c.0) as i32,
            comment: r.comment,
            recorded_by: Some(common::Actor {
                subject: r.actor_subject,
                role: "committee_member".into(),
                organization_number: String::new(),
            }),
            cast_time: Some(timestamp(r.cast_time)),
        })
        .filter(|v| meeting.is_empty() || v.meeting == meeting)
        .collect())
}
