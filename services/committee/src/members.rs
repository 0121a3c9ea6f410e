//! The roster: members, their role on the committee and their term. A member
//! whose term has ended (or not begun) takes no part.

use chrono::{DateTime, NaiveDate, Utc};
use socialloans_contracts::committee::{Member, MemberRole};
use socialloans_contracts::common::Date;
use socialloans_platform::error::FieldViolation;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{cases::timestamp, error::Error};

/// A stored member.
#[derive(Debug, Clone)]
pub struct Row {
    /// Primary key.
    pub id: Uuid,
    /// Name shown.
    pub display_name: String,
    /// `MEMBER`, `CHAIR` or `SECRETARY`.
    pub role: String,
    /// First day of the term.
    pub term_start: NaiveDate,
    /// Last day of the term, if set.
    pub term_end: Option<NaiveDate>,
    /// The identity provider's subject.
    pub subject: String,
    /// Field of expertise.
    pub expertise: String,
    /// The etag's source.
    pub revision: i64,
    /// Added.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

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
pub fn checked(member: &Member, prefix: &str) -> Result<(String, String, NaiveDate, Option<NaiveDate>), Error> {
    let mut violations = Vec::new();
    let at = |f: &str| format!("{prefix}{f}");
    if member.display_name.trim().is_empty() || socialloans_platform::limits::unfit(&member.display_name, 200) {
        violations.push(FieldViolation::new(at("display_name"), "is required, at most 200 characters"));
    }
    let role = match MemberRole::try_from(member.role) {
        Ok(MemberRole::Unspecified) | Err(_) => {
            violations.push(FieldViolation::new(at("role"), "must be MEMBER, CHAIR or SECRETARY"));
            String::new()
        }
        Ok(role) => role.as_str_name().trim_start_matches("MEMBER_ROLE_").to_owned(),
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
        (true, Some(start)) => Ok((member.display_name.clone(), role, start, end)),
        _ => Err(Error::InvalidArgument(violations)),
    }
}

/// Adds a member.
pub async fn insert(conn: &mut PgConnection, member: &Member) -> Result<Row, Error> {
    let (display_name, role, start, end) = checked(member, "member.")?;
    sqlx::query_as!(
        Row,
        "INSERT INTO committee.member (id, display_name, role, term_start, term_end, subject, expertise)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time",
        Uuid::now_v7(),
        display_name,
        role,
        start,
        end,
        member.subject,
        member.expertise,
    )
    .fetch_one(conn)
    .await
    .map_err(|e| match e.as_database_error().and_then(|d| d.constraint()) {
        Some("member_subject_idx") => Error::AlreadyExists(format!("a member with subject {:?} exists", member.subject)),
        _ => Error::Database(e),
    })
}

/// One member.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "SELECT id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time
           FROM committee.member WHERE id = $1",
        id,
    )
    .fetch_optional(pool)
    .await
}

/// A page of the roster in joining order, one more than `limit`.
pub async fn list(pool: &PgPool, after: Option<(DateTime<Utc>, Uuid)>, limit: u32) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "SELECT id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time
           FROM committee.member
          WHERE ($1::timestamptz IS NULL OR (create_time, id) > ($1, $2))
          ORDER BY create_time, id LIMIT $3",
        after.map(|a| a.0),
        after.map(|a| a.1),
        i64::from(limit) + 1,
    )
    .fetch_all(pool)
    .await
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
    let row: Row = sqlx::query_as!(
        Row,
        "SELECT id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time
           FROM committee.member WHERE id = $1 FOR UPDATE",
        id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound(format!("members/{id}")))?;
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
    let (display_name, role, start, end) = checked(&member, "member.")?;
    sqlx::query_as!(
        Row,
        "UPDATE committee.member
            SET display_name = $2, role = $3, term_start = $4, term_end = $5, subject = $6, expertise = $7,
                revision = revision + 1, update_time = now()
          WHERE id = $1
         RETURNING id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time",
        id,
        display_name,
        role,
        start,
        end,
        member.subject,
        member.expertise,
    )
    .fetch_one(conn)
    .await
    .map_err(|e| match e.as_database_error().and_then(|d| d.constraint()) {
        Some("member_subject_idx") => Error::AlreadyExists(format!("a member with subject {:?} exists", member.subject)),
        _ => Error::Database(e),
    })
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
