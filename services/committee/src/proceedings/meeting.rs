//! Meetings: their details, agenda, attendance and minutes.

use super::*;

/// Schedules a meeting.
pub async fn create_meeting(conn: &mut PgConnection, meeting: Meeting) -> Result<Meeting, Error> {
    let start = checked_details(&meeting)?;
    let stored = Meeting { title: meeting.title, location: meeting.location, ..Default::default() };
    meetings::view(&store::meetings::insert(conn, &stored, start).await?)
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
                organization_number: case.organization_number.clone(),
            };
            publish(conn, &case.name, &moved).await?;
        }
    }
    if state == MeetingState::Adjourned {
        withdraw_approvals(&mut meeting);
        meeting.minutes = write_minutes(conn, &meeting).await?;
    }
    meetings::view(&store::meetings::save_moved(conn, &row, &meeting, state, start).await?)
}

/// The cases still waiting on the agenda of a meeting that ends without
/// deciding them go back: DEFERRED if the committee deferred them before,
/// OPEN otherwise — free for the next meeting's agenda.
async fn release_undecided(conn: &mut PgConnection, meeting: &Meeting) -> Result<(), Error> {
    for item in &meeting.agenda {
        let (case_row, case) = lock_case(conn, &item.case).await?;
        if case_row.state.0 == CaseState::Scheduled && case.meeting == meeting.name {
            send_back(conn, &case_row, case).await?;
        }
    }
    Ok(())
}

/// Takes a case off the meeting it waits for: DEFERRED if the committee
/// deferred it before, OPEN otherwise; says so (`CaseUnscheduled`).
async fn send_back(conn: &mut PgConnection, row: &store::cases::Row, mut case: Case) -> Result<(), Error> {
    let left = pb::CaseUnscheduled {
        case: case.name.clone(),
        application: case.application.clone(),
        meeting: std::mem::take(&mut case.meeting),
    };
    let back = if case.deferral_count > 0 { CaseState::Deferred } else { CaseState::Open };
    store::cases::save(conn, row, &case, back).await?;
    publish(conn, &left.case, &left).await
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
    let cases = cases_by_name(conn, &ids).await?;
    for meeting in meetings {
        let standing = Standing { roster: roster.clone(), day: meetings::day(meeting) };
        let active: Vec<&store::members::Row> = standing.active().collect();
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

/// Puts the case `req.case` on the agenda of the meeting `req.name`.
pub async fn add_agenda_item(conn: &mut PgConnection, req: &pb::AddAgendaItemRequest) -> Result<Meeting, Error> {
    let closed = "cases can be added only before or during the meeting";
    change_open_meeting(conn, &req.name, &req.etag, closed, async |conn, meeting| {
        let (case_row, mut case) = lock_case(conn, &req.case).await?;
        if !matches!(case_row.state.0, CaseState::Open | CaseState::Deferred) {
            return Err(refused("CASE_NOT_OPEN", format!("the case is {}", cases::state_name(case_row.state.0))));
        }
        if open_procedure(&case) {
            return Err(refused("WRITTEN_PROCEDURE_OPEN", "the case is before the members in writing"));
        }
        if meeting.agenda.iter().any(|item| item.case == case.name) {
            return Err(refused("CASE_ALREADY_ON_AGENDA", "a case deferred at this meeting goes to a later one"));
        }
        case.meeting = meeting.name.clone();
        store::cases::save(conn, &case_row, &case, CaseState::Scheduled).await?;
        let item = pb::AgendaItem { case: case.name.clone(), title: case.title.clone(), ..Default::default() };
        meeting.agenda.push(item);
        let scheduled = pb::CaseScheduled {
            case: case.name.clone(),
            application: case.application.clone(),
            meeting: meeting.name.clone(),
            meeting_start_time: meeting.start_time,
            organization_number: case.organization_number.clone(),
        };
        publish(conn, &case.name, &scheduled).await
    })
    .await
}

/// Changes the meeting `name` (its etag checked) while its agenda and
/// attendance are open to change, scheduled or in progress (`closed` says
/// what is refused otherwise), and saves it in the state it is in.
async fn change_open_meeting(
    conn: &mut PgConnection,
    name: &str,
    etag: &str,
    closed: &str,
    change: impl AsyncFnOnce(&mut PgConnection, &mut Meeting) -> Result<(), Error>,
) -> Result<Meeting, Error> {
    let (row, mut meeting) = lock_meeting(conn, name).await?;
    check_etag(etag, &meeting.etag)?;
    if !matches!(row.state(), MeetingState::Scheduled | MeetingState::InProgress) {
        return Err(refused("MEETING_CLOSED", closed));
    }
    change(conn, &mut meeting).await?;
    meetings::view(&store::meetings::save(conn, &row, &meeting, row.state()).await?)
}

/// Records the attendance of the member `req.member` at the meeting `req.name`.
pub async fn record_attendance(conn: &mut PgConnection, req: &pb::RecordAttendanceRequest) -> Result<Meeting, Error> {
    let member = &req.member;
    let status = match AttendanceStatus::try_from(req.status) {
        Ok(AttendanceStatus::Unspecified) | Err(_) => {
            return Err(FieldViolation::new("status", "must be PRESENT, EXCUSED or ABSENT").into());
        }
        Ok(s) => s,
    };
    let member_id = parse("member", "members/", member)?;
    let term = store::members::term(conn, member_id).await?;
    let Some((term_start, term_end)) = term else {
        return Err(Error::NotFound(member.to_owned()));
    };
    let closed = "attendance is recorded before or during the meeting";
    change_open_meeting(conn, &req.name, &req.etag, closed, async |_, meeting| {
        let day = meetings::day(meeting);
        let serving = term_start <= day && term_end.is_none_or(|end| day <= end);
        if status == AttendanceStatus::Present && !serving {
            return Err(refused("MEMBER_NOT_IN_TERM", format!("{member} does not serve on the committee on {day}")));
        }
        let member = format!("members/{member_id}");
        meeting.attendance.retain(|a| a.member != member);
        let record_time = Some(timestamp(Utc::now()));
        meeting.attendance.push(pb::Attendance { member, status: status as i32, record_time });
        Ok(())
    })
    .await
}

/// Starts a scheduled meeting.
pub async fn start_meeting(conn: &mut PgConnection, name: &str, etag: &str) -> Result<Meeting, Error> {
    move_meeting(conn, name, etag, MeetingState::Scheduled, MeetingState::InProgress).await
}

/// Adjourns a meeting in progress, writing its minutes.
pub async fn adjourn_meeting(conn: &mut PgConnection, name: &str, etag: &str) -> Result<Meeting, Error> {
    move_meeting(conn, name, etag, MeetingState::InProgress, MeetingState::Adjourned).await
}

/// Moves a meeting along: start, adjourn (writing the minutes), cancel.
async fn move_meeting(
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
        meeting.end_time = Some(timestamp(Utc::now()));
        meeting.minutes = write_minutes(conn, &meeting).await?;
    }
    meetings::view(&store::meetings::save(conn, &row, &meeting, to).await?)
}

impl Acting<'_> {
    /// Cancels a scheduled meeting, for `reason` (required, trimmed): why a
    /// meeting did not take place is part of the record (the chain).
    pub async fn cancel_meeting(
        self,
        conn: &mut PgConnection,
        name: &str,
        etag: &str,
        reason: &str,
    ) -> Result<Meeting, Error> {
        let reason = reason.trim();
        if reason.is_empty() || limits::unfit(reason, 4000) {
            return Err(FieldViolation::new("reason", "is required: why, in at most 4000 characters").into());
        }
        let meeting = move_meeting(conn, name, etag, MeetingState::Scheduled, MeetingState::Cancelled).await?;
        let secretary = self.caller.has(Role::CommitteeSecretary);
        let role = if secretary { Role::CommitteeSecretary } else { Role::CommitteeChair };
        chain::append(conn, self.entry(role, "MEETING_CANCELLED", name, reason, reason.as_bytes())).await?;
        Ok(meeting)
    }
}

/// Takes the undecided case `req.case` off the agenda of the meeting
/// `req.name`; it is open again.
pub async fn remove_agenda_item(conn: &mut PgConnection, req: &pb::RemoveAgendaItemRequest) -> Result<Meeting, Error> {
    let (name, case_name) = (req.name.as_str(), req.case.as_str());
    let closed = "the agenda changes only before or during the meeting";
    change_open_meeting(conn, name, &req.etag, closed, async |conn, meeting| {
        if !meeting.agenda.iter().any(|item| item.case == case_name) {
            return Err(Error::NotFound(format!("{case_name} on the agenda of {name}")));
        }
        let (case_row, case) = lock_case(conn, case_name).await?;
        // A case decided (or deferred) here stays on the agenda, for the minutes.
        // Only the meeting the case waits for sends it back; an item whose case
        // has since gone to another agenda is simply taken off.
        let decided_here = case.decisions.iter().any(|d| d.meeting == meeting.name);
        if decided_here || (case.meeting == meeting.name && case_row.state.0 != CaseState::Scheduled) {
            return Err(refused("CASE_DECIDED", "a case with a decision recorded at this meeting stays on the agenda"));
        }
        if case.meeting == meeting.name {
            send_back(conn, &case_row, case).await?;
        }
        meeting.agenda.retain(|item| item.case != case_name);
        Ok(())
    })
    .await
}
