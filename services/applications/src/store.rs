//! Reading and writing the `applications` schema. Every statement is
//! schema-qualified; the role's search_path is a second line of defence.

use chrono::{DateTime, Utc};
use socialloans_platform::{limits, stored::Document};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::record::StoredState;

mod loans;
pub use loans::*;

/// One stored application: the columns every document table has, and beside
/// them the borrower, the category and the first submission, which lists
/// filter by (an application is shown with the borrower and the submission
/// kept here), and the contact person: personal data, kept in a document of
/// its own so that an erasure reaches it.
#[derive(Debug, Clone)]
pub struct Row {
    /// Id, state, revision, the encoded Application without the contact
    /// person, and its times.
    pub document: Document<StoredState>,
    /// Borrower organisation number.
    pub organization_number: String,
    /// Category, upper snake case without prefix.
    pub category: String,
    /// First submitted.
    pub submit_time: Option<DateTime<Utc>>,
    /// The encoded ContactPerson.
    pub contact_person: Vec<u8>,
}

/// A [`Row`] as the statements read it, column by column: `query_as!`
/// fills no nested struct.
#[derive(sqlx::FromRow)]
struct Flat {
    id: Uuid,
    organization_number: String,
    state: StoredState,
    category: String,
    revision: i64,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    submit_time: Option<DateTime<Utc>>,
    content: Vec<u8>,
    contact_person: Vec<u8>,
}

impl From<Flat> for Row {
    fn from(flat: Flat) -> Self {
        let Flat {
            id,
            organization_number,
            state,
            category,
            revision,
            create_time,
            update_time,
            submit_time,
            content,
            contact_person,
        } = flat;
        let document = Document { id, state, revision, content, create_time, update_time };
        Row { document, organization_number, category, submit_time, contact_person }
    }
}

/// The position after which a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// `create_time` of the last row served.
    pub create_time: DateTime<Utc>,
    /// `id` of the last row served.
    pub id: Uuid,
}

/// Filters of a list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only these borrowers' applications.
    pub organization_number: Option<Vec<String>>,
    /// Only applications in these states (empty: any).
    pub states: Vec<String>,
    /// Only this category.
    pub category: Option<String>,
    /// First submitted at or after.
    pub submitted_after: Option<DateTime<Utc>>,
    /// First submitted before.
    pub submitted_before: Option<DateTime<Utc>>,
    /// Changed at or after.
    pub updated_after: Option<DateTime<Utc>>,
}

/// Writes an application: a new one whole, an existing one's changeable
/// columns (its id, borrower and creation time never change).
#[tracing::instrument(level = "debug", skip_all, fields(id = %row.document.id))]
pub async fn write(conn: &mut PgConnection, row: &Row) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO applications.application
             (id, organization_number, state, category, revision, create_time, update_time, submit_time, content, contact_person)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE
            SET state = EXCLUDED.state, category = EXCLUDED.category, revision = EXCLUDED.revision,
                update_time = EXCLUDED.update_time, submit_time = EXCLUDED.submit_time,
                content = EXCLUDED.content, contact_person = EXCLUDED.contact_person",
        row.document.id,
        row.organization_number,
        row.document.state as _,
        row.category,
        row.document.revision,
        row.document.create_time,
        row.document.update_time,
        row.submit_time,
        row.document.content,
        row.contact_person,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// The ids of the applications in any of `states` (stored names, e.g. `APPROVED`).
pub async fn ids_in_states(pool: &PgPool, states: &[&str]) -> Result<Vec<Uuid>, sqlx::Error> {
    let states: Vec<String> = states.iter().map(|s| (*s).to_owned()).collect();
    sqlx::query_scalar!("SELECT id FROM applications.application WHERE state = ANY($1) ORDER BY id", &states)
        .fetch_all(pool)
        .await
}

/// One application, locked for change; `organization` confines a borrower to its organisations.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn lock(
    conn: &mut PgConnection,
    id: Uuid,
    organization: Option<&[String]>,
) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as!(
        Flat,
        r#"SELECT id, organization_number, state AS "state: _", category, revision, create_time, update_time,
                  submit_time, content, contact_person
             FROM applications.application
            WHERE id = $1 AND ($2::text[] IS NULL OR organization_number = ANY($2))
              FOR UPDATE"#,
        id,
        organization,
    )
    .fetch_optional(conn)
    .await
    .map(|flat| flat.map(Row::from))
}

/// One application by id; `organization` confines a borrower to its organisations.
#[tracing::instrument(level = "debug", skip(pool))]
pub async fn get(pool: &PgPool, id: Uuid, organization: Option<&[String]>) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as!(
        Flat,
        r#"SELECT id, organization_number, state AS "state: _", category, revision, create_time, update_time,
                  submit_time, content, contact_person
             FROM applications.application
            WHERE id = $1 AND ($2::text[] IS NULL OR organization_number = ANY($2))"#,
        id,
        organization,
    )
    .fetch_optional(pool)
    .await
    .map(|flat| flat.map(Row::from))
}

/// The statement of [`list`], its parameters: organisation, states,
/// category, submitted after and before, the cursor's time and id, the row
/// limit, and changed since. Built once.
pub fn list_statement() -> &'static str {
    static STATEMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    STATEMENT.get_or_init(|| {
        let page = "SELECT id, organization_number, state, category, revision, create_time, update_time, submit_time,
                       content, contact_person
                  FROM applications.application
                 WHERE ($1::text[] IS NULL OR organization_number = ANY($1))
                   AND (cardinality($2::text[]) = 0 OR state = ANY($2))
                   AND ($3::text IS NULL OR category = $3)
                   AND ($4::timestamptz IS NULL OR submit_time >= $4)
                   AND ($5::timestamptz IS NULL OR submit_time < $5)
                   AND ($9::timestamptz IS NULL OR update_time >= $9)
                   AND ($6::timestamptz IS NULL OR (create_time, id) < ($6, $7))
                 ORDER BY create_time DESC, id DESC
                 LIMIT $8";
        limits::bounded_page(page, "create_time DESC, id DESC", "octet_length(content) + octet_length(contact_person)")
    })
}

/// A page in creation order after `after`, one row more than `limit` so the
/// caller knows whether another page follows. The order key never changes,
/// so a walk sees every row that existed when it began exactly once. The
/// rows' stored bytes are bounded too ([`limits::bounded_page`]).
#[tracing::instrument(level = "debug", skip(pool))]
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
    after: Option<Cursor>,
    limit: u32,
) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as::<_, Flat>(sqlx::AssertSqlSafe(list_statement()))
        .bind(filter.organization_number.as_deref())
        .bind(&filter.states)
        .bind(filter.category.as_deref())
        .bind(filter.submitted_after)
        .bind(filter.submitted_before)
        .bind(after.map(|c| c.create_time))
        .bind(after.map(|c| c.id))
        .bind(i64::from(limit) + 1)
        .bind(filter.updated_after)
        .fetch_all(pool)
        .await
        .map(|page| page.into_iter().map(Row::from).collect())
}

/// One entry of an application's history.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct HistoryEntry {
    /// Order of the entry, across all applications.
    pub sequence: i64,
    /// The application.
    pub application_id: Uuid,
    /// What happened, e.g. `SUBMIT`.
    pub action: String,
    /// State before.
    pub from_state: Option<String>,
    /// State after.
    pub to_state: String,
    /// Who.
    pub actor_subject: String,
    /// In which role.
    pub actor_role: String,
    /// For a borrower: its organisation.
    pub actor_organization: String,
    /// When.
    pub occur_time: DateTime<Utc>,
    /// The request that did it.
    pub request_id: Option<Uuid>,
    /// Free text: reason, comment.
    pub comment: String,
    /// Field paths an edit changed.
    pub changed_fields: Vec<String>,
    /// The trace of the call.
    pub trace_id: String,
}

/// Appends a history entry (the table refuses updates and deletes).
pub async fn append_history(conn: &mut PgConnection, entry: &HistoryEntry) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO applications.application_history
             (application_id, action, from_state, to_state, actor_subject, actor_role, actor_organization,
              request_id, comment, changed_fields, trace_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        entry.application_id,
        entry.action,
        entry.from_state,
        entry.to_state,
        entry.actor_subject,
        entry.actor_role,
        entry.actor_organization,
        entry.request_id,
        entry.comment,
        &entry.changed_fields,
        entry.trace_id,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// A page of an application's history after `after_sequence`.
pub async fn history(
    pool: &PgPool,
    id: Uuid,
    after_sequence: i64,
    limit: u32,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    sqlx::query_as!(
        HistoryEntry,
        "SELECT sequence, application_id, action, from_state, to_state, actor_subject, actor_role, actor_organization,
                occur_time, request_id, comment, changed_fields, trace_id
           FROM applications.application_history
          WHERE application_id = $1 AND sequence > $2
          ORDER BY sequence
          LIMIT $3",
        id,
        after_sequence,
        i64::from(limit) + 1,
    )
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::applications::ApplicationState;

    #[test]
    fn a_flat_row_becomes_the_document_and_what_is_kept_beside_it() {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let flat = Flat {
            id: Uuid::nil(),
            organization_number: "556000-0000".into(),
            state: StoredState(ApplicationState::Submitted),
            category: "HOUSING_AND_RESIDENTIAL_ENVIRONMENTS".into(),
            revision: 3,
            create_time: at,
            update_time: at,
            submit_time: Some(at),
            content: vec![1],
            contact_person: vec![2],
        };
        let row = Row::from(flat);
        let state = StoredState(ApplicationState::Submitted);
        let document =
            Document { id: Uuid::nil(), state, revision: 3, content: vec![1], create_time: at, update_time: at };
        assert_eq!(row.document, document);
        assert_eq!(
            (row.organization_number.as_str(), row.category.as_str()),
            ("556000-0000", "HOUSING_AND_RESIDENTIAL_ENVIRONMENTS")
        );
        assert_eq!((row.submit_time, row.contact_person), (Some(at), vec![2]));
    }
}
