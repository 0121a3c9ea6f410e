//! Meetings: a date, an agenda of cases, attendance, and the minutes written
//! from what happened (attendance, conflicts, assessments, votes, decisions,
//! dissents) as a Markdown document.

use chrono::DateTime;
use prost::Message;
use socialloans_contracts::committee::{
    AttendanceStatus, BasicRequirement, Case, DecisionOutcome, Meeting, MeetingState, RequirementVerdict, VoteChoice,
};

use crate::{cases::timestamp, error::Error, store::meetings::Row};

socialloans_platform::stored_enum!(
    /// A meeting's state as the database keeps it: `MeetingState::Scheduled` ↔ `SCHEDULED`.
    pub struct StoredMeetingState(MeetingState, "MEETING_STATE_");
);

/// `MeetingState::Scheduled` ↔ `SCHEDULED`.
pub fn state_name(state: MeetingState) -> String {
    StoredMeetingState(state).stored().to_owned()
}

impl Row {
    /// The state.
    pub fn state(&self) -> MeetingState {
        self.state.0
    }

    /// The API view.
    pub fn view(&self) -> Result<Meeting, Error> {
        let mut m =
            Meeting::decode(self.content.as_slice()).map_err(|e| Error::Database(sqlx::Error::Decode(Box::new(e))))?;
        m.name = format!("meetings/{}", self.id);
        m.state = self.state() as i32;
        m.etag = format!("\"{}\"", self.revision);
        m.start_time = Some(timestamp(self.start_time));
        m.create_time = Some(timestamp(self.create_time));
        m.update_time = Some(timestamp(self.update_time));
        Ok(m)
    }
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
        let status = AttendanceStatus::try_from(a.status)
            .unwrap_or_default()
            .as_str_name()
            .trim_start_matches("ATTENDANCE_STATUS_")
            .to_lowercase();
        md.push_str(&format!("- {}: {status}\n", names(&a.member)));
    }
    for (case, votes) in cases {
        md.push_str(&format!(
            "\n## {} — {}\n\nBorrower: {} ({})\n",
            case.title, case.name, case.borrower_display_name, case.organization_number
        ));
        if !case.conflicts_of_interest.is_empty() {
            md.push_str("\nConflicts of interest (these members neither voted nor counted toward quorum):\n");
            for c in &case.conflicts_of_interest {
                md.push_str(&format!("- {}: {}\n", names(&c.member), c.description));
            }
        }
        md.push_str("\nAssessment of the basic requirements:\n");
        for a in &case.requirement_assessments {
            let requirement = BasicRequirement::try_from(a.requirement)
                .unwrap_or_default()
                .as_str_name()
                .trim_start_matches("BASIC_REQUIREMENT_")
                .to_lowercase()
                .replace('_', " ");
            let verdict = RequirementVerdict::try_from(a.verdict)
                .unwrap_or_default()
                .as_str_name()
                .trim_start_matches("REQUIREMENT_VERDICT_")
                .to_lowercase()
                .replace('_', " ");
            md.push_str(&format!("- {requirement}: {verdict} — {}\n", a.justification));
        }
        if !votes.is_empty() {
            md.push_str("\nVotes:\n");
            for v in votes {
                let choice = v.choice.as_str_name().trim_start_matches("VOTE_CHOICE_").to_lowercase().replace('_', " ");
                let comment = if v.comment.is_empty() { String::new() } else { format!(" — {}", v.comment) };
                md.push_str(&format!("- {}: {choice}{comment}\n", v.member));
            }
        }
        for d in case.decisions.iter().filter(|d| d.meeting == meeting.name) {
            let outcome = DecisionOutcome::try_from(d.outcome)
                .unwrap_or_default()
                .as_str_name()
                .trim_start_matches("DECISION_OUTCOME_")
                .to_lowercase()
                .replace('_', " ");
            md.push_str(&format!("\nDecision: **{outcome}**"));
            if let Some(amount) = &d.approved_amount {
                md.push_str(&format!(", SEK {}", amount.minor_units / 100));
            }
            md.push_str(&format!(". {}\n", d.rationale));
            for c in &d.conditions {
                let due = c
                    .due_date
                    .as_ref()
                    .map(|d| format!(" (due {}-{:02}-{:02})", d.year, d.month, d.day))
                    .unwrap_or_default();
                md.push_str(&format!("- Condition: {}{due}\n", c.description));
            }
            for dissent in &d.dissents {
                md.push_str(&format!("- Dissent, {}: {}\n", names(&dissent.member), dissent.statement));
            }
            let recorded = d.recorded_by.as_ref().map(|a| a.subject.clone()).unwrap_or_default();
            let confirmed = d.confirmed_by.as_ref().map(|a| a.subject.clone()).unwrap_or_else(|| "not yet".into());
            md.push_str(&format!("\nRecorded by {recorded}; confirmed by {confirmed}.\n"));
        }
    }
    if !meeting.notes.trim().is_empty() {
        md.push_str(&format!("\n## Secretary's notes\n\n{}\n", meeting.notes.trim_end()));
    }
    md
}
