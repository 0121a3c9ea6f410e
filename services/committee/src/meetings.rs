//! Meetings: a date, an agenda of cases, attendance, and the minutes
//! written from what happened ([`crate::minutes`]).

use socialloans_contracts::committee::{Meeting, MeetingState};

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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

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
}
