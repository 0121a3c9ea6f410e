//! The bounds every service holds its callers to, in one place: the largest
//! resource a caller can write, the byte budget of a list page, and what a
//! timestamp, a date and a text may be.
//!
//! The sizes are chosen together with the smallest message limit a service
//! accepts (`GRPC_MAX_MESSAGE_BYTES` ≥ 1 MiB): the largest resource, a whole
//! list page and an event carrying a resource each fit in a message with room
//! to spare, so no answer, page or event can ever be too large to send.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use tonic::{Code, Status};

use crate::error::{FieldViolation, with_reason};

/// The largest application content a caller writes, encoded: everything the
/// borrower authors, contact person included.
pub const MAX_APPLICATION_CONTENT_BYTES: usize = 192 << 10;
/// The largest application as stored and sent: the content plus what the
/// lender adds (credit assessment, referral note, comments on a return, the
/// committee's decision, loans), each bounded so that the sum stays within.
pub const MAX_APPLICATION_BYTES: usize = 512 << 10;
/// The largest committee decision, encoded (rationale, conditions, dissents):
/// the application carries it too.
pub const MAX_DECISION_BYTES: usize = 96 << 10;
/// The largest set of field comments with a return (and its message).
pub const MAX_COMMENTS_BYTES: usize = 32 << 10;
/// The largest outcome report, encoded.
pub const MAX_OUTCOME_REPORT_BYTES: usize = 256 << 10;
/// The largest committee case, encoded: the application as referred plus the
/// committee's record of it.
pub const MAX_CASE_BYTES: usize = 512 << 10;
/// The largest committee meeting, encoded (agenda, attendance, notes, minutes).
pub const MAX_MEETING_BYTES: usize = 512 << 10;
/// The encoded size a list page fills before it ends early; a page always
/// holds at least one item, so no page is larger than this or than one item.
/// (Every limit here stays within half the smallest message limit, 1 MiB.)
pub const PAGE_BYTES: usize = 512 << 10;

/// The resource and limit of a size-limit constraint, by its name: the
/// services' migrations add a `CHECK` named `<table>_size_limit` on each
/// table that holds a resource callers write.
pub fn size_constraint(constraint: &str) -> Option<(&'static str, usize)> {
    match constraint {
        "application_size_limit" => Some(("application", MAX_APPLICATION_BYTES)),
        "outcome_report_size_limit" => Some(("outcome report", MAX_OUTCOME_REPORT_BYTES)),
        "committee_case_size_limit" => Some(("case", MAX_CASE_BYTES)),
        "meeting_size_limit" => Some(("meeting", MAX_MEETING_BYTES)),
        _ => None,
    }
}

/// INVALID_ARGUMENT `TOO_LARGE` unless `size` ≤ `limit`: the change would make
/// `what` larger than the service can send back. Nothing is kept.
pub fn check_size(what: &str, size: usize, limit: usize) -> Result<(), Status> {
    if size <= limit {
        return Ok(());
    }
    Err(with_reason(
        Code::InvalidArgument,
        "TOO_LARGE",
        format!("the {what} would be {size} bytes encoded, more than the {limit} allowed; nothing was changed"),
        &[("resource", what.to_owned()), ("size", size.to_string()), ("limit", limit.to_string())],
    ))
}

/// The most comments one return for completion or correction carries.
pub const MAX_REVIEW_COMMENTS: usize = 50;
/// The longest comment, or a return's message, in characters.
pub const REVIEW_TEXT: usize = 4_000;

/// Checks a reviewer's return of `resource` (the message's full name, e.g.
/// `socialloans.applications.v1.Application`): at least one and at most
/// [`MAX_REVIEW_COMMENTS`] comments, each naming a field of the resource
/// (`example` shows one) and saying something in at most [`REVIEW_TEXT`]
/// characters, and the `message` beside them. Comments and message together
/// beyond [`MAX_COMMENTS_BYTES`] are INVALID_ARGUMENT `TOO_LARGE`.
pub fn review_comments(
    resource: &str,
    comments: &[socialloans_contracts::common::FieldComment],
    message: &str,
    example: &str,
) -> Result<Vec<FieldViolation>, Status> {
    use prost::Message;
    let mut violations = Vec::new();
    if comments.is_empty() {
        violations.push(FieldViolation::new("comments", "at least one comment: say what to correct, and where"));
    }
    if comments.len() > MAX_REVIEW_COMMENTS {
        violations.push(FieldViolation::new("comments", format!("at most {MAX_REVIEW_COMMENTS} comments")));
        return Ok(violations);
    }
    let bytes = comments.iter().map(|c| c.encoded_len()).sum::<usize>() + message.len();
    check_size("comments of a return", bytes, MAX_COMMENTS_BYTES)?;
    for (i, c) in comments.iter().enumerate() {
        if !socialloans_contracts::field_path_exists(resource, &c.field_path) {
            violations.push(FieldViolation::new(
                format!("comments[{i}].field_path"),
                format!(
                    "must name a field of the {}, e.g. {example}",
                    words(resource.rsplit('.').next().unwrap_or(""))
                ),
            ));
        }
        if c.comment.trim().is_empty() {
            violations.push(FieldViolation::new(format!("comments[{i}].comment"), "is required"));
        }
        violations.extend(text(&format!("comments[{i}].comment"), &c.comment, REVIEW_TEXT));
    }
    violations.extend(text("message", message, REVIEW_TEXT));
    Ok(violations)
}

/// `OutcomeReport` as "outcome report".
fn words(type_name: &str) -> String {
    let mut out = String::new();
    for ch in type_name.chars() {
        if ch.is_uppercase() && !out.is_empty() {
            out.push(' ');
        }
        out.extend(ch.to_lowercase());
    }
    out
}

/// How many of `sizes` (in order) a page of at most `max_items` takes within
/// [`PAGE_BYTES`]: at least one, when there is one.
pub fn page_len(sizes: impl IntoIterator<Item = usize>, max_items: usize) -> usize {
    let mut total = 0usize;
    let mut taken = 0;
    for size in sizes.into_iter().take(max_items) {
        total = total.saturating_add(size);
        if taken > 0 && total > PAGE_BYTES {
            break;
        }
        taken += 1;
    }
    taken
}

/// `page`, a query of one list page (`… ORDER BY order LIMIT size + 1`),
/// cut in the database at [`PAGE_BYTES`] of `bytes` (an expression of a row's
/// stored size): past the second row, no row is read once the rows before it
/// hold the budget. The caller then cuts with [`page_len`]; a row beyond the
/// page says another page follows — also when the first row alone is larger
/// than the budget. Memory per page is bounded, not only the answer.
pub fn bounded_page(page: &str, order: &str, bytes: &str) -> String {
    format!(
        "SELECT * FROM (
             SELECT page.*, sum({bytes}) OVER (ORDER BY {order}) AS page_running_bytes,
                    row_number() OVER (ORDER BY {order}) AS page_row
               FROM ({page}) AS page) AS bounded
          WHERE page_running_bytes - ({bytes}) <= {PAGE_BYTES} OR page_row <= 2
          ORDER BY {order}"
    )
}

/// A protobuf timestamp within the range protobuf defines (years 1 to 9999)
/// and PostgreSQL stores, with valid nanoseconds; `None` otherwise.
pub fn time(value: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(value.nanos).ok().filter(|n| *n < 1_000_000_000)?;
    DateTime::from_timestamp(value.seconds, nanos).filter(|t| (1..=9999).contains(&t.year()))
}

/// [`time`] for the field `field`, naming it when the value is refused.
pub fn time_field(field: &str, value: &prost_types::Timestamp) -> Result<DateTime<Utc>, FieldViolation> {
    time(value).ok_or_else(|| {
        FieldViolation::new(field, "is not a valid time: seconds and nanos between 0001-01-01 and 9999-12-31 UTC")
    })
}

/// The calendar date of year, month and day, when it is one and its year is
/// within `years`.
pub fn date(year: i32, month: i32, day: i32, years: std::ops::RangeInclusive<i32>) -> Option<NaiveDate> {
    if !years.contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// The id in a resource name: a UUID written the one way the service writes
/// it (lower-case, hyphenated). Other spellings of the same UUID (upper case,
/// braces, `urn:uuid:`) are refused, so that a name compares equal to the
/// name the service stored wherever names are compared.
pub fn id(text: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(text).ok().filter(|id| id.hyphenated().to_string() == text)
}

/// The years a date in a loan's life may fall in (disbursements, maturities,
/// measurements, reporting periods, milestones).
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

/// Whether `text` holds a control character other than tab, line feed and
/// carriage return: PostgreSQL refuses NUL, and the others have no place in
/// what people read.
pub fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// Whether `text` is longer than `max` characters or holds a control character.
pub fn unfit(text: &str, max: usize) -> bool {
    text.chars().count() > max || has_control(text)
}

/// The problems of a document reference (an attachment or evidence): a file
/// name without path separators, a media type, a size, a lower-case
/// SHA-256, and a document store's address — never a script, data or
/// local-file address that a reviewer's screen could run or open — and a
/// short description. Each violation names `at` and the field.
pub fn attachment(at: &str, attachment: &socialloans_contracts::common::Attachment) -> Vec<FieldViolation> {
    let socialloans_contracts::common::Attachment { name, media_type, size_bytes, sha256, uri, description } =
        attachment;
    let size_bytes = *size_bytes;
    let mut v = Vec::new();
    let field = |f: &str| format!("{at}.{f}");
    if name.trim().is_empty() || name.chars().count() > 255 || name.contains(['/', '\\']) || has_control(name) {
        v.push(FieldViolation::new(field("name"), "1..255 characters, no path separators or control characters"));
    }
    let media = media_type.split_once('/').is_some_and(|(t, s)| {
        !t.is_empty() && !s.is_empty() && media_type.len() <= 127 && media_type.bytes().all(|b| b.is_ascii_graphic())
    });
    if !media {
        v.push(FieldViolation::new(field("media_type"), "must be a media type such as application/pdf"));
    }
    if size_bytes <= 0 {
        v.push(FieldViolation::new(field("size_bytes"), "must be greater than zero"));
    }
    if sha256.len() != 64 || !sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        v.push(FieldViolation::new(field("sha256"), "must be 64 lower-case hexadecimal characters"));
    }
    let scheme = uri.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
    let scheme_ok = !scheme.is_empty()
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !["javascript", "data", "file", "vbscript", "blob"].contains(&scheme.as_str());
    if !scheme_ok || uri.len() > 2048 || uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        v.push(FieldViolation::new(
            field("uri"),
            "is required: the document store's address, e.g. docstore://…, https://…; at most 2048 characters",
        ));
    }
    v.extend(text(&field("description"), description, 1000));
    v
}

/// Whether a field path stays within its message's lists: the path's first
/// segment, when it indexes a list (`objectives[3].title`), must name an
/// element that exists; `len` gives a list's length by its field name
/// (`usize::MAX` for a name that is not a list). A path without an index is
/// within; an index that is not a number is not.
pub fn within_lists(path: &str, len: impl Fn(&str) -> usize) -> bool {
    let root = path.split('.').next().unwrap_or_default();
    let Some((list, index)) = root.split_once('[') else { return true };
    index.trim_end_matches(']').parse::<usize>().is_ok_and(|i| i < len(list))
}

/// A violation of `field` when `text` is longer than `max` characters or
/// holds a control character.
pub fn text(field: &str, value: &str, max: usize) -> Option<FieldViolation> {
    if value.chars().count() > max {
        Some(FieldViolation::new(field, format!("is longer than {max} characters")))
    } else if has_control(value) {
        Some(FieldViolation::new(field, "must not contain control characters (NUL and the like)"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_within_its_lists_only_when_its_index_names_an_element() {
        let len = |list: &str| if list == "objectives" { 2 } else { usize::MAX };
        assert!(within_lists("title", len));
        assert!(within_lists("objectives[1].title", len));
        assert!(!within_lists("objectives[2]", len));
        assert!(!within_lists("objectives[x]", len));
        assert!(!within_lists("objectives[-1]", len));
        assert!(within_lists("unknown[7]", len), "a field that is not a list is not checked here");
    }

    #[test]
    fn a_return_needs_comments_on_real_fields_within_their_limits() {
        use socialloans_contracts::common::FieldComment;
        let report = "socialloans.monitoring.v1.OutcomeReport";
        let comment = |path: &str, text: &str| FieldComment { field_path: path.into(), comment: text.into() };
        let fields = |v: Vec<FieldViolation>| v.into_iter().map(|v| v.field).collect::<Vec<_>>();
        assert_eq!(fields(review_comments(report, &[], "", "narrative").unwrap()), ["comments"]);
        let ok = review_comments(report, &[comment("narrative", "Say more")], "Thanks", "narrative").unwrap();
        assert!(ok.is_empty(), "{ok:?}");
        let bad =
            review_comments(report, &[comment("nosuch", " "), comment("narrative", &"x".repeat(4001))], "\0", "x")
                .unwrap();
        assert_eq!(
            fields(bad.clone()),
            ["comments[0].field_path", "comments[0].comment", "comments[1].comment", "message"]
        );
        assert!(bad[0].description.contains("a field of the outcome report"), "{bad:?}");
        let many = vec![comment("narrative", "x"); MAX_REVIEW_COMMENTS + 1];
        assert_eq!(fields(review_comments(report, &many, "", "x").unwrap()), ["comments"]);
        let huge = vec![comment("narrative", &"x".repeat(REVIEW_TEXT)); MAX_REVIEW_COMMENTS];
        let too_large = review_comments(report, &huge, "", "x").unwrap_err();
        assert_eq!(too_large.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn times_outside_protobufs_range_or_with_bad_nanos_are_refused() {
        let ts = |seconds, nanos| prost_types::Timestamp { seconds, nanos };
        assert!(time(&ts(0, 0)).is_some());
        assert!(time(&ts(253_402_300_799, 999_999_999)).is_some(), "9999-12-31T23:59:59.999999999Z");
        assert!(time(&ts(253_402_300_800, 0)).is_none(), "year 10000");
        assert!(time(&ts(-62_135_596_800, 0)).is_some(), "0001-01-01");
        assert!(time(&ts(-62_135_596_801, 0)).is_none());
        assert!(time(&ts(-250_000_000_000, 0)).is_none());
        assert!(time(&ts(i64::MAX, 0)).is_none());
        assert!(time(&ts(0, -1)).is_none());
        assert!(time(&ts(0, 1_000_000_000)).is_none());
    }

    #[test]
    fn an_id_is_a_uuid_in_its_one_canonical_spelling() {
        let id = "01a22a99-08cc-771c-b720-b3b46ff92665";
        assert_eq!(super::id(id).map(|u| u.to_string()).as_deref(), Some(id));
        for other in [
            "01A22A99-08CC-771C-B720-B3B46FF92665",
            "{01a22a99-08cc-771c-b720-b3b46ff92665}",
            "urn:uuid:01a22a99-08cc-771c-b720-b3b46ff92665",
            "01a22a9908cc771cb720b3b46ff92665",
            "",
        ] {
            assert!(super::id(other).is_none(), "{other}");
        }
    }

    #[test]
    fn dates_must_be_on_the_calendar_and_in_range() {
        assert!(date(2020, 2, 29, YEARS).is_some());
        assert!(date(2020, 2, 30, YEARS).is_none());
        assert!(date(2021, 2, 29, YEARS).is_none());
        assert!(date(2020, 13, 1, YEARS).is_none());
        assert!(date(2020, -1, 1, YEARS).is_none());
        assert!(date(262_142, 12, 30, YEARS).is_none());
    }

    #[test]
    fn a_page_ends_early_at_its_byte_budget_but_never_empty() {
        assert_eq!(page_len([10, 10, 10], 2), 2);
        assert_eq!(page_len([PAGE_BYTES * 2, 1], 50), 1);
        assert_eq!(page_len([PAGE_BYTES / 2, PAGE_BYTES / 2, 1], 50), 2);
        assert_eq!(page_len(std::iter::empty(), 50), 0);
    }

    #[test]
    fn a_document_reference_needs_a_store_address_never_a_script() {
        let sha = "9f2b5c7e1d3a4b6c8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
        let document = |name: &str, media_type: &str, size_bytes, sha256: &str, uri: &str, description: &str| {
            socialloans_contracts::common::Attachment {
                name: name.into(),
                media_type: media_type.into(),
                size_bytes,
                sha256: sha256.into(),
                uri: uri.into(),
                description: description.into(),
            }
        };
        let check = |uri: &str| attachment("a", &document("plan.pdf", "application/pdf", 10, sha, uri, ""));
        assert!(check("docstore://social-loans/x/plan.pdf").is_empty());
        assert!(check("https://docs.example/plan.pdf").is_empty());
        for bad in ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "file:///etc/passwd", "x y:z", ""]
        {
            assert_eq!(check(bad).len(), 1, "{bad}");
        }
        let bad = document("../x", "pdf", 0, "ABC", "docstore://x", "\0");
        let fields: Vec<String> = attachment("a", &bad).into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["a.name", "a.media_type", "a.size_bytes", "a.sha256", "a.description"]);
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_and_tabs_kept() {
        assert!(text("f", "a\0b", 10).is_some());
        assert!(text("f", "a\u{7}b", 10).is_some());
        assert!(text("f", "rad ett\nrad två\ttab", 100).is_none());
        assert!(text("f", "åäö", 3).is_none());
        assert!(text("f", "åäöx", 3).is_some());
    }
}
