//! The loan table: one row per loan tagged to an application, with where it
//! stands and its encoded `LoanTag`, so that loans are found by id and listed
//! by organisation, state and maturity without reading every application. A
//! loan id is live on one application at a time; a cancelled tag frees it.

use chrono::NaiveDate;
use prost::Message;
use socialloans_contracts::applications::{Application, LoanState, LoanTag};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// One tagged loan as the table keeps it.
#[derive(Debug, Clone)]
pub struct LoanRow {
    /// The application it finances.
    pub application_id: Uuid,
    /// Core banking's loan id.
    pub loan_id: String,
    /// The borrower.
    pub organization_number: String,
    /// When it matures.
    pub maturity_date: NaiveDate,
    /// The encoded `LoanTag`.
    pub content: Vec<u8>,
}

/// Filters of [`list_loans`].
#[derive(Debug, Clone, Default)]
pub struct LoanFilter {
    /// Only this application's loans.
    pub application_id: Option<Uuid>,
    /// Only these borrowers'.
    pub organization_number: Option<Vec<String>>,
    /// Only loans in this state (`ACTIVE`, …).
    pub state: Option<String>,
    /// Only loans maturing before.
    pub maturing_before: Option<NaiveDate>,
    /// Only loans changed at or after.
    pub updated_after: Option<chrono::DateTime<chrono::Utc>>,
}

/// Where a page of [`list_loans`] starts: after this loan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanCursor {
    /// Its maturity.
    pub maturity_date: NaiveDate,
    /// Its application.
    pub application_id: Uuid,
    /// Its id.
    pub loan_id: String,
}

/// Records that `loan_id` finances application `id`. A loan finances one
/// application at a time: if another holds it live, that one's id.
pub async fn claim_loan(conn: &mut PgConnection, loan_id: &str, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    // A concurrent claim of the same loan makes this insert wait for it, then
    // do nothing; the select after it, a statement of its own, sees it.
    let claimed = sqlx::query!(
        "INSERT INTO applications.loan (loan_id, application_id, state) VALUES ($1, $2, 'ACTIVE')
         ON CONFLICT (loan_id) WHERE state IS DISTINCT FROM 'CANCELLED' DO NOTHING",
        loan_id,
        id,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if claimed == 1 {
        return Ok(None);
    }
    let holder = sqlx::query_scalar!(
        "SELECT application_id FROM applications.loan WHERE loan_id = $1 AND state IS DISTINCT FROM 'CANCELLED'",
        loan_id
    )
    .fetch_one(conn)
    .await?;
    Ok((holder != id).then_some(holder))
}

socialloans_platform::stored_enum!(
    /// A loan's state as the table keeps it: `LoanState::Matured` ↔ `MATURED`.
    pub struct StoredLoanState(LoanState, "LOAN_STATE_");
);

/// Brings the rows of application `id`'s loans up to date with `loans`;
/// only a row whose loan changed is written (and its `update_time` moves).
pub async fn write_loans(
    conn: &mut PgConnection,
    id: Uuid,
    organization_number: &str,
    loans: &[LoanTag],
) -> Result<(), sqlx::Error> {
    let ids: Vec<String> = loans.iter().map(|l| l.loan_id.clone()).collect();
    let states: Vec<&str> = loans.iter().map(|l| StoredLoanState(crate::loans::state(l)).stored()).collect();
    let maturities: Vec<NaiveDate> = loans.iter().map(maturity).collect();
    let contents: Vec<Vec<u8>> = loans.iter().map(Message::encode_to_vec).collect();
    sqlx::query!(
        "UPDATE applications.loan AS l
            SET organization_number = $2, state = u.state, maturity_date = u.maturity_date, content = u.content,
                update_time = now()
           FROM UNNEST($3::text[], $4::text[], $5::date[], $6::bytea[]) AS u(loan_id, state, maturity_date, content)
          WHERE l.application_id = $1 AND l.loan_id = u.loan_id AND l.content IS DISTINCT FROM u.content",
        id,
        organization_number,
        &ids,
        &states as &[&str],
        &maturities,
        &contents,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// A loan's maturity date (validated when tagged; the epoch for a malformed one).
fn maturity(loan: &LoanTag) -> NaiveDate {
    loan.maturity_date
        .as_ref()
        .and_then(|d| socialloans_platform::limits::date(d.year, d.month, d.day, i32::MIN..=i32::MAX))
        .unwrap_or_default()
}

/// The loan `loan_id`: its live tag, else its latest cancelled one;
/// `organization` confines a borrower.
pub async fn get_loan(
    pool: &PgPool,
    loan_id: &str,
    organization: Option<&[String]>,
) -> Result<Option<LoanRow>, sqlx::Error> {
    sqlx::query_as!(
        LoanRow,
        r#"SELECT application_id, loan_id, organization_number AS "organization_number!",
                  maturity_date AS "maturity_date!", content AS "content!"
             FROM applications.loan
            WHERE loan_id = $1 AND content IS NOT NULL AND ($2::text[] IS NULL OR organization_number = ANY($2))
            ORDER BY state = 'CANCELLED', update_time DESC
            LIMIT 1"#,
        loan_id,
        organization,
    )
    .fetch_optional(pool)
    .await
}

/// Up to `limit` loans after `after`, soonest maturity first.
pub async fn list_loans(
    pool: &PgPool,
    filter: &LoanFilter,
    after: Option<&LoanCursor>,
    limit: u32,
) -> Result<Vec<LoanRow>, sqlx::Error> {
    sqlx::query_as!(
        LoanRow,
        r#"SELECT application_id, loan_id, organization_number AS "organization_number!",
                  maturity_date AS "maturity_date!", content AS "content!"
             FROM applications.loan
            WHERE content IS NOT NULL
              AND ($1::uuid IS NULL OR application_id = $1)
              AND ($2::text[] IS NULL OR organization_number = ANY($2))
              AND ($3::text IS NULL OR state = $3)
              AND ($4::date IS NULL OR maturity_date < $4)
              AND ($5::date IS NULL OR (maturity_date, application_id, loan_id) > ($5, $6, $7))
              AND ($9::timestamptz IS NULL OR update_time >= $9)
            ORDER BY maturity_date, application_id, loan_id
            LIMIT $8"#,
        filter.application_id,
        filter.organization_number.as_deref(),
        filter.state,
        filter.maturing_before,
        after.map(|a| a.maturity_date),
        after.map(|a| a.application_id),
        after.map(|a| a.loan_id.as_str()),
        i64::from(limit) + 1,
        filter.updated_after,
    )
    .fetch_all(pool)
    .await
}

/// Fills the rows of loans tagged before the table kept their content, from
/// their applications; how many applications it brought up to date.
pub async fn backfill_loans(pool: &PgPool) -> Result<usize, sqlx::Error> {
    // The loan table alone first: with nothing to fill in (always, after the
    // first start), no application is read.
    let ids = sqlx::query_scalar!("SELECT DISTINCT application_id FROM applications.loan WHERE content IS NULL")
        .fetch_all(pool)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let stale =
        sqlx::query!("SELECT id, organization_number, content FROM applications.application WHERE id = ANY($1)", &ids)
            .fetch_all(pool)
            .await?;
    let mut conn = pool.acquire().await?;
    for row in &stale {
        // A row that does not decode stays as it was: the service reads it the same way.
        let Ok(application) = Application::decode(row.content.as_slice()) else { continue };
        write_loans(&mut conn, row.id, &row.organization_number, &application.loans).await?;
    }
    Ok(stale.len())
}
