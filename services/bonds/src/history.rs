//! Reading the register's history into a [`Snapshot`]: the pool's movements
//! effective on or before a date and recorded by a time, the bonds in the
//! register by then with their redemptions, the projects and the accepted
//! indicator values.
//!
//! **Why a report as known at a time stays the same.** Every writer locks
//! the one `register` row before it records anything
//! ([`lock_for_writing`]), and stamps its rows with the clock after taking
//! the lock; a reader that asks for "now" takes the lock shared
//! ([`now_known`]) and reads the clock after taking it, so every row
//! stamped at or before that time was committed before it, and every row
//! committed after it is stamped later.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, Row};

use crate::model::{Bond, Indicator, Loan, Project, Snapshot};

/// Locks the register for a writer: issues, redemptions, feed events and
/// publications are recorded one at a time.
/// Returns whether the headroom warning is raised.
pub async fn lock_for_writing(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT headroom_low FROM bonds.register FOR UPDATE").fetch_one(conn).await
}

/// The time a reader's "now" is: after every writer that started before it
/// committed.
pub async fn now_known(conn: &mut PgConnection) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query("SELECT 1 FROM bonds.register FOR SHARE").execute(&mut *conn).await?;
    clock(conn).await
}

/// The database's clock, as writers stamp their rows.
pub async fn clock(conn: &mut PgConnection) -> Result<DateTime<Utc>, sqlx::Error> {
    // Microseconds, as PostgreSQL keeps them.
    sqlx::query_scalar("SELECT date_trunc('microseconds', clock_timestamp())").fetch_one(conn).await
}

/// The loans in the pool on `as_of` as known at `known_at`.
pub async fn loans(
    conn: &mut PgConnection,
    as_of: NaiveDate,
    known_at: DateTime<Utc>,
) -> Result<Vec<Loan>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT l.loan_id, l.application, l.disbursement_date, l.maturity_date, SUM(m.delta)::bigint AS outstanding
         FROM bonds.loan l
         JOIN bonds.pool_movement m ON m.loan_id = l.loan_id AND m.effective_date <= $1 AND m.record_time <= $2
         WHERE l.maturity_date > $1
         GROUP BY l.loan_id
         HAVING SUM(m.delta) > 0
         ORDER BY l.loan_id",
    )
    .bind(as_of)
    .bind(known_at)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Loan {
                loan_id: r.try_get("loan_id")?,
                application: r.try_get("application")?,
                outstanding: r.try_get("outstanding")?,
                disbursement: r.try_get("disbursement_date")?,
                maturity: r.try_get("maturity_date")?,
            })
        })
        .collect()
}

/// The bonds outstanding on `as_of` as known at `known_at`.
pub async fn bonds(
    conn: &mut PgConnection,
    as_of: NaiveDate,
    known_at: DateTime<Utc>,
) -> Result<Vec<Bond>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT b.isin, b.currency_code, b.rate_micros, b.issue_date,
                b.nominal - COALESCE((SELECT SUM(r.nominal) FROM bonds.bond_redemption r
                                      WHERE r.isin = b.isin AND r.effective_date <= $1 AND r.record_time <= $2), 0)::bigint
                    AS outstanding
         FROM bonds.bond b
         WHERE b.register_time <= $2 AND b.issue_date <= $1 AND b.maturity_date > $1
         ORDER BY b.isin",
    )
    .bind(as_of)
    .bind(known_at)
    .fetch_all(conn)
    .await?;
    let mut bonds = Vec::with_capacity(rows.len());
    for r in &rows {
        let outstanding: i64 = r.try_get("outstanding")?;
        if outstanding > 0 {
            bonds.push(Bond {
                isin: r.try_get("isin")?,
                currency: r.try_get("currency_code")?,
                outstanding_nominal: outstanding,
                rate_micros: r.try_get("rate_micros")?,
                issue_date: r.try_get("issue_date")?,
            });
        }
    }
    Ok(bonds)
}

/// The projects of `applications`.
async fn projects(
    conn: &mut PgConnection,
    applications: &[String],
) -> Result<std::collections::BTreeMap<String, Project>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT application, organization_number, borrower_name, title, category, municipality,
                municipality_code, populations, project_cost
         FROM bonds.project WHERE application = ANY($1)",
    )
    .bind(applications)
    .fetch_all(conn)
    .await?;
    let mut projects = std::collections::BTreeMap::new();
    for r in &rows {
        let project = Project {
            application: r.try_get("application")?,
            organization_number: r.try_get("organization_number")?,
            borrower_name: r.try_get("borrower_name")?,
            title: r.try_get("title")?,
            category: r.try_get("category")?,
            municipality: r.try_get("municipality")?,
            municipality_code: r.try_get("municipality_code")?,
            populations: r.try_get("populations")?,
            project_cost: r.try_get("project_cost")?,
        };
        projects.insert(project.application.clone(), project);
    }
    Ok(projects)
}

/// Each of `applications`' latest accepted value of each indicator for a
/// period ending on or before `as_of`, as known at `known_at`.
async fn indicators(
    conn: &mut PgConnection,
    applications: &[String],
    as_of: NaiveDate,
    known_at: DateTime<Utc>,
) -> Result<std::collections::BTreeMap<String, Vec<Indicator>>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT DISTINCT ON (application, indicator_code) application, indicator_code, unit, value, period_end
         FROM bonds.accepted_indicator
         WHERE application = ANY($1) AND period_end <= $2 AND record_time <= $3
         ORDER BY application, indicator_code, period_end DESC, version DESC, sequence DESC",
    )
    .bind(applications)
    .bind(as_of)
    .bind(known_at)
    .fetch_all(conn)
    .await?;
    let mut found: std::collections::BTreeMap<String, Vec<Indicator>> = std::collections::BTreeMap::new();
    for r in &rows {
        found.entry(r.try_get("application")?).or_default().push(Indicator {
            code: r.try_get("indicator_code")?,
            unit: r.try_get("unit")?,
            value: r.try_get("value")?,
            period_end: r.try_get("period_end")?,
        });
    }
    Ok(found)
}

/// What the register held on `as_of` as known at `known_at`.
pub async fn snapshot(
    conn: &mut PgConnection,
    as_of: NaiveDate,
    known_at: DateTime<Utc>,
) -> Result<Snapshot, sqlx::Error> {
    let loans = loans(conn, as_of, known_at).await?;
    let bonds = bonds(conn, as_of, known_at).await?;
    let mut applications: Vec<String> = loans.iter().map(|l| l.application.clone()).collect();
    applications.dedup();
    let projects = projects(conn, &applications).await?;
    let indicators = indicators(conn, &applications, as_of, known_at).await?;
    Ok(Snapshot { as_of, known_at, loans, bonds, projects, indicators })
}

/// The dates after `from` and up to `until` on which a loan in the pool or
/// a bond outstanding is scheduled to mature, with what matures.
pub async fn maturities(
    conn: &mut PgConnection,
    from: NaiveDate,
    until: NaiveDate,
) -> Result<Vec<(NaiveDate, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT maturity_date, 'loan ' || loan_id || ' matures' AS what FROM bonds.loan
         WHERE maturity_date > $1 AND maturity_date <= $2
           AND (SELECT COALESCE(SUM(delta), 0) FROM bonds.pool_movement m WHERE m.loan_id = loan.loan_id) > 0
         UNION ALL
         SELECT maturity_date, 'bond ' || isin || ' matures' FROM bonds.bond
         WHERE maturity_date > $1 AND maturity_date <= $2 AND state = 'OUTSTANDING'
         ORDER BY 1, 2",
    )
    .bind(from)
    .bind(until)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}
