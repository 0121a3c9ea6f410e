//! The roster: members, their role on the committee and their term. A member
//! whose term has ended (or not begun) takes no part.

use chrono::NaiveDate;
use socialloans_contracts::committee::{Member, MemberRole};
use socialloans_contracts::common::Date;
use socialloans_platform::error::FieldViolation;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    cases::timestamp,
    error::Error,
    store::{
        self,
        members::{Fields, Row},
    },
};

fn date(d: NaiveDate) -> Date {
    use chrono::Datelike;
    Date { year: d.year(), month: d.month() as i32, day: d.day() as i32 }
}

fn naive(field: &str, d: &Option<Date>, violations: &mut Vec<FieldViolation>) -> Option<NaiveDate> {
    let d = d.as_ref()?;
    let parsed = socialloans_platform::limits::date(d.year, d.month, d.day, socialloans_platform::limits::YEARS);
    if parsed.is_none() {
        violations.push(FieldViolation::new(field, "is not a calendar date between 1900 and 2200"));
    }
    parsed
}

socialloans_platform::stored_enum!(
    /// A member's role as the database keeps it: `MemberRole::Chair` ↔ `CHAIR`.
    pub struct StoredMemberRole(MemberRole, "MEMBER_ROLE_");
);

impl Row {
    /// The API view.
    pub fn view(&self) -> Member {
        Member {
            name: format!("members/{}", self.id),
            display_name: self.display_name.clone(),
            role: StoredMemberRole::from_stored(&self.role).map_or(MemberRole::Unspecified, |r| r.0) as i32,
            term_start: Some(date(self.term_start)),
            term_end: self.term_end.map(date),
            subject: self.subject.clone(),
            expertise: self.expertise.clone(),
            etag: format!("\"{}\"", self.revision),
            create_time: Some(timestamp(self.create_time)),
            update_time: Some(timestamp(self.update_time)),
        }
    }

    /// Whether the member serves on `day`.
    pub fn active_on(&self, day: NaiveDate) -> bool {
        self.term_start <= day && self.term_end.is_none_or(|end| day <= end)
    }
}

/// A member as given by a client, checked; every bad field named.
pub fn checked<'a>(member: &'a Member, prefix: &str) -> Result<Fields<'a>, Error> {
    let mut violations = Vec::new();
    let at = |f: &str| format!("{prefix}{f}");
    if member.display_name.trim().is_empty() || socialloans_platform::limits::unfit(&member.display_name, 200) {
        violations.push(FieldViolation::new(at("display_name"), "is required, at most 200 characters"));
    }
    let role = match MemberRole::try_from(member.role) {
        Ok(MemberRole::Unspecified) | Err(_) => {
            violations.push(FieldViolation::new(at("role"), "must be MEMBER, CHAIR or SECRETARY"));
            ""
        }
        Ok(role) => role.as_str_name().trim_start_matches("MEMBER_ROLE_"),
    };
    let start = naive(&at("term_start"), &member.term_start, &mut violations);
    if member.term_start.is_none() {
        violations.push(FieldViolation::new(at("term_start"), "is required"));
    }
    let end = naive(&at("term_end"), &member.term_end, &mut violations);
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        violations.push(FieldViolation::new(at("term_end"), "is before term_start"));
    }
    if socialloans_platform::limits::unfit(&member.subject, 200)
        || socialloans_platform::limits::unfit(&member.expertise, 200)
    {
        violations.push(FieldViolation::new(at("subject"), "subject and expertise are at most 200 characters"));
    }
    match (violations.is_empty(), start) {
        (true, Some(start)) => Ok(Fields {
            display_name: &member.display_name,
            role,
            term_start: start,
            term_end: end,
            subject: &member.subject,
            expertise: &member.expertise,
        }),
        _ => Err(Error::InvalidArgument(violations)),
    }
}

/// A second member with the subject `subject` is ALREADY_EXISTS.
fn subject_taken(e: sqlx::Error, subject: &str) -> Error {
    match e.as_database_error().and_then(|d| d.constraint()) {
        Some("member_subject_idx") => Error::AlreadyExists(format!("a member with subject {subject:?} exists")),
        _ => Error::Database(e),
    }
}

/// Adds a member.
pub async fn insert(conn: &mut PgConnection, member: &Member) -> Result<Row, Error> {
    let fields = checked(member, "member.")?;
    store::members::save(conn, Uuid::now_v7(), fields).await.map_err(|e| subject_taken(e, &member.subject))
}

/// The fields of a member an update may change.
pub const EDITABLE: [&str; 6] = ["display_name", "role", "term_start", "term_end", "subject", "expertise"];

/// Applies the masked fields of `patch` to member `id` (etag checked).
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    etag: &str,
    patch: &Member,
    paths: &[String],
) -> Result<Row, Error> {
    let row = store::members::lock(conn, id).await?.ok_or_else(|| Error::NotFound(format!("members/{id}")))?;
    let mut member = row.view();
    if !etag.is_empty() && etag != member.etag {
        return Err(Error::EtagMismatch { current: member.etag });
    }
    for path in paths {
        match path.as_str() {
            "display_name" => member.display_name = patch.display_name.clone(),
            "role" => member.role = patch.role,
            "term_start" => member.term_start = patch.term_start,
            "term_end" => member.term_end = patch.term_end,
            "subject" => member.subject = patch.subject.clone(),
            "expertise" => member.expertise = patch.expertise.clone(),
            other => {
                return Err(FieldViolation::new("update_mask.paths", format!("{other:?} cannot be updated")).into());
            }
        }
    }
    let fields = checked(&member, "member.")?;
    store::members::save(conn, id, fields).await.map_err(|e| subject_taken(e, &member.subject))
}

/// The fields an update changes: those its mask names, `*` for every
/// editable one but the subject (which links a member to a login, and is
/// changed only when named); a mask is required.
pub fn paths_to_update(mask: Option<&prost_types::FieldMask>) -> Result<Vec<String>, Error> {
    let mut paths = mask.map(|m| m.paths.clone()).unwrap_or_default();
    if paths.iter().any(|p| p == "*") {
        paths = EDITABLE.iter().filter(|p| **p != "subject").map(|p| (*p).to_owned()).collect();
    }
    if paths.is_empty() {
        return Err(socialloans_platform::error::FieldViolation::new(
            "update_mask",
            "is required: name the fields to change, or *",
        )
        .into());
    }
    Ok(paths)
}
