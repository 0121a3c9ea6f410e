//! Meetings: a date, an agenda of cases, attendance, and the minutes written
//! from what happened (attendance, conflicts, assessments, votes, decisions,
//! dissents) as a Markdown document.

use chrono::DateTime;
use socialloans_contracts::committee::{
    AttendanceStatus, BasicRequirement, Case, Decision, DecisionOutcome, Meeting, MeetingState, RequirementVerdict,
    VoteChoice,
};

use crate::{
    error::Error,
    store::{Shown, meetings::Row},
};

socialloans_platform::stored_enum!(
    /// A meeting's state as the database keeps it: `MeetingState::Scheduled` ↔ `SCHEDULED`.
    pub struct StoredMeetingState(MeetingState, "MEETING_STATE_");
);

/// `MeetingState::Scheduled` ↔ `SCHEDULED`.
pub fn state_name(state: MeetingState) -> String {
    StoredMeetingState(state).stored().to_owned()
}

/// The meeting `row` keeps, as the API shows it, starting when its column
/// says (meetings stored so far keep their start only there).
pub fn view(row: &Row) -> Result<Meeting, Error> {
    let document = &row.document;
    let Shown { name, etag, create_time, update_time } = Shown::of(document, "meetings");
    let start_time = Some(socialloans_platform::timestamp(row.start_time));
    let state = document.state.0 as i32;
    Ok(Meeting { name, state, etag, start_time, create_time, update_time, ..document.decode()? })
}

/// The calendar day in Stockholm a meeting is held on.
pub fn day(meeting: &Meeting) -> chrono::NaiveDate {
    let start = meeting.start_time.as_ref().and_then(socialloans_platform::limits::time);
    start.map(socialloans_platform::stockholm_date).unwrap_or_default()
}

/// An enum's value as the minutes say it: its protobuf `name` without the
/// enum's `prefix`, in lower-case words (`PARTIALLY_MET`: `partially met`).
fn words(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_lowercase().replace('_', " ")
}

/// One vote as the minutes show it.
#[derive(Debug, Clone)]
pub struct MinuteVote {
    /// The member's name.
    pub member: String,
    /// The choice.
    pub choice: VoteChoice,
    /// A dissent or comment.
    pub comment: String,
}

/// Writes the minutes of `meeting` from its cases and votes.
pub fn minutes(meeting: &Meeting, names: &dyn Fn(&str) -> String, cases: &[(Case, Vec<MinuteVote>)]) -> String {
    let mut md = String::new();
    let start = meeting
        .start_time
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    md.push_str(&format!("# Minutes: {}\n\n{start}, {}\n\n## Attendance\n\n", meeting.title, meeting.location));
    for a in &meeting.attendance {
        let status =
            words(AttendanceStatus::try_from(a.status).unwrap_or_default().as_str_name(), "ATTENDANCE_STATUS_");
        md.push_str(&format!("- {}: {status}\n", names(&a.member)));
    }
    for (case, votes) in cases {
        md.push_str(&case_minutes(&meeting.name, names, case, votes));
    }
    if !meeting.notes.trim().is_empty() {
        md.push_str(&format!("\n## Secretary's notes\n\n{}\n", meeting.notes.trim_end()));
    }
    md
}

/// A case's section of the minutes of the meeting `meeting`: the borrower,
/// the conflicts of interest declared, the assessment of the basic
/// requirements, the votes, and the decisions taken at that meeting.
fn case_minutes(meeting: &str, names: &dyn Fn(&str) -> String, case: &Case, votes: &[MinuteVote]) -> String {
    let mut md = format!(
        "\n## {} — {}\n\nBorrower: {} ({})\n",
        case.title, case.name, case.borrower_display_name, case.organization_number
    );
    if !case.conflicts_of_interest.is_empty() {
        md.push_str("\nConflicts of interest (these members neither voted nor counted toward quorum):\n");
        for c in &case.conflicts_of_interest {
            md.push_str(&format!("- {}: {}\n", names(&c.member), c.description));
        }
    }
    md.push_str("\nAssessment of the basic requirements:\n");
    for a in &case.requirement_assessments {
        let requirement = BasicRequirement::try_from(a.requirement).unwrap_or_default().as_str_name();
        let verdict = RequirementVerdict::try_from(a.verdict).unwrap_or_default().as_str_name();
        let (requirement, verdict) = (words(requirement, "BASIC_REQUIREMENT_"), words(verdict, "REQUIREMENT_VERDICT_"));
        md.push_str(&format!("- {requirement}: {verdict} — {}\n", a.justification));
    }
    if !votes.is_empty() {
        md.push_str("\nVotes:\n");
        for v in votes {
            let choice = words(v.choice.as_str_name(), "VOTE_CHOICE_");
            let comment = if v.comment.is_empty() { String::new() } else { format!(" — {}", v.comment) };
            md.push_str(&format!("- {}: {choice}{comment}\n", v.member));
        }
    }
    for d in case.decisions.iter().filter(|d| d.meeting == meeting) {
        md.push_str(&decision_minutes(names, d));
    }
    md
}

/// A decision as the minutes record it: the outcome and amount, the
/// rationale, the conditions, the dissents, and who recorded and confirmed it.
fn decision_minutes(names: &dyn Fn(&str) -> String, d: &Decision) -> String {
    let outcome = words(DecisionOutcome::try_from(d.outcome).unwrap_or_default().as_str_name(), "DECISION_OUTCOME_");
    let mut md = format!("\nDecision: **{outcome}**");
    if let Some(amount) = &d.approved_amount {
        md.push_str(&format!(", SEK {}", amount.minor_units / 100));
    }
    md.push_str(&format!(". {}\n", d.rationale));
    for c in &d.conditions {
        let due =
            c.due_date.as_ref().map(|d| format!(" (due {}-{:02}-{:02})", d.year, d.month, d.day)).unwrap_or_default();
        md.push_str(&format!("- Condition: {}{due}\n", c.description));
    }
    for dissent in &d.dissents {
        md.push_str(&format!("- Dissent, {}: {}\n", names(&dissent.member), dissent.statement));
    }
    let recorded = d.recorded_by.as_ref().map(|a| a.subject.clone()).unwrap_or_default();
    let confirmed = d.confirmed_by.as_ref().map(|a| a.subject.clone()).unwrap_or_else(|| "not yet".into());
    md.push_str(&format!("\nRecorded by {recorded}; confirmed by {confirmed}.\n"));
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::committee::{
        ConflictOfInterestDeclaration, DecisionState, Dissent, RequirementAssessment,
    };
    use socialloans_contracts::{committee, common};

    fn names(member: &str) -> String {
        match member {
            "members/a" => "Anna Berg".into(),
            "members/b" => "Bo Ek".into(),
            other => other.to_owned(),
        }
    }

    fn actor(subject: &str) -> Option<common::Actor> {
        Some(common::Actor { subject: subject.into(), ..Default::default() })
    }

    #[test]
    fn a_meeting_is_held_on_the_day_its_start_falls_on_in_stockholm() {
        let at =
            |seconds| Meeting { start_time: Some(prost_types::Timestamp { seconds, nanos: 0 }), ..Default::default() };
        // 2026-06-30 22:30 UTC is already 1 July in Stockholm (summer time).
        assert_eq!(day(&at(1_782_858_600)), chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap());
        // 2026-01-15 22:30 UTC is still 15 January there (winter time, UTC+1).
        assert_eq!(day(&at(1_768_516_200)), chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap());
    }

    #[test]
    fn a_meeting_whose_document_keeps_no_start_is_shown_starting_when_its_column_says() {
        use prost::Message;
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let stored = Meeting { title: "Juni".into(), ..Default::default() };
        let document = socialloans_platform::stored::Document {
            id: uuid::Uuid::nil(),
            state: StoredMeetingState(MeetingState::Scheduled),
            revision: 2,
            content: stored.encode_to_vec(),
            create_time: at,
            update_time: at,
        };
        let shown = view(&Row { document, start_time: at }).unwrap();
        assert_eq!(shown.start_time, Some(prost_types::Timestamp { seconds: 1_790_000_000, nanos: 0 }));
        assert_eq!((shown.title.as_str(), shown.state), ("Juni", MeetingState::Scheduled as i32));
        assert_eq!((shown.name, shown.etag), (format!("meetings/{}", uuid::Uuid::nil()), "\"2\"".to_owned()));
    }

    #[test]
    fn an_enum_value_reads_as_lower_case_words_without_its_prefix() {
        assert_eq!(words("REQUIREMENT_VERDICT_PARTIALLY_MET", "REQUIREMENT_VERDICT_"), "partially met");
        assert_eq!(words("ATTENDANCE_STATUS_PRESENT", "ATTENDANCE_STATUS_"), "present");
    }

    #[test]
    fn a_case_section_shows_conflicts_assessments_votes_and_only_this_meetings_decisions() {
        let case = Case {
            name: "cases/c".into(),
            title: "Youth centre".into(),
            borrower_display_name: "Gävle kommun".into(),
            organization_number: "212000-2411".into(),
            conflicts_of_interest: vec![ConflictOfInterestDeclaration {
                member: "members/b".into(),
                description: "Board member of the borrower".into(),
                ..Default::default()
            }],
            requirement_assessments: vec![RequirementAssessment {
                requirement: BasicRequirement::DefinedTargetGroup as i32,
                verdict: RequirementVerdict::PartiallyMet as i32,
                justification: "Young people 16–24".into(),
                ..Default::default()
            }],
            decisions: vec![
                Decision {
                    meeting: "meetings/earlier".into(),
                    outcome: DecisionOutcome::Defer as i32,
                    rationale: "More information.".into(),
                    ..Default::default()
                },
                Decision {
                    meeting: "meetings/m".into(),
                    outcome: DecisionOutcome::Decline as i32,
                    rationale: "Too risky.".into(),
                    recorded_by: actor("secretary"),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let votes = [
            MinuteVote { member: "Anna Berg".into(), choice: VoteChoice::Decline, comment: String::new() },
            MinuteVote {
                member: "Cecilia Ny".into(),
                choice: VoteChoice::ApproveWithConditions,
                comment: "Worth it".into(),
            },
        ];
        assert_eq!(
            case_minutes("meetings/m", &names, &case, &votes),
            "\n## Youth centre — cases/c\n\nBorrower: Gävle kommun (212000-2411)\n\
             \nConflicts of interest (these members neither voted nor counted toward quorum):\n\
             - Bo Ek: Board member of the borrower\n\
             \nAssessment of the basic requirements:\n\
             - defined target group: partially met — Young people 16–24\n\
             \nVotes:\n\
             - Anna Berg: decline\n\
             - Cecilia Ny: approve with conditions — Worth it\n\
             \nDecision: **decline**. Too risky.\n\
             \nRecorded by secretary; confirmed by not yet.\n"
        );
    }

    #[test]
    fn a_decision_in_the_minutes_gives_amount_conditions_dissents_and_both_signatures() {
        let decision = Decision {
            state: DecisionState::Confirmed as i32,
            outcome: DecisionOutcome::ApproveWithConditions as i32,
            approved_amount: Some(common::Money { currency_code: "SEK".into(), minor_units: 250_000_050 }),
            rationale: "Strong case.".into(),
            conditions: vec![committee::Condition {
                description: "Report quarterly".into(),
                due_date: Some(common::Date { year: 2027, month: 3, day: 1 }),
                ..Default::default()
            }],
            dissents: vec![Dissent { member: "members/a".into(), statement: "Too large".into() }],
            recorded_by: actor("secretary"),
            confirmed_by: actor("chair"),
            ..Default::default()
        };
        assert_eq!(
            decision_minutes(&names, &decision),
            "\nDecision: **approve with conditions**, SEK 2500000. Strong case.\n\
             - Condition: Report quarterly (due 2027-03-01)\n\
             - Dissent, Anna Berg: Too large\n\
             \nRecorded by secretary; confirmed by chair.\n"
        );
    }
}
