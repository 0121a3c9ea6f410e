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

use crate::forecast::{ScheduledBond, ScheduledLoan};
use crate::model::{Bond, Indicator, Loan, Project, Snapshot};

/// Locks the register for a writer: issues, redemptions, feed events and
/// publications are recorded one at a time.
pub async fn lock_for_writing(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM bonds.register FOR UPDATE").execute(conn).await.map(drop)
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

/// The pool against the bonds on `as_of` as known at `known_at`, summed in
/// the database (the headroom needs no loan by loan).
pub async fn headroom(
    conn: &mut PgConnection,
    as_of: NaiveDate,
    known_at: DateTime<Utc>,
) -> Result<crate::model::Headroom, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COALESCE(SUM(owed), 0)::bigint AS pool, COUNT(*) AS loans FROM (
             SELECT SUM(m.delta) AS owed
             FROM bonds.loan l
             JOIN bonds.pool_movement m ON m.loan_id = l.loan_id AND m.effective_date <= $1 AND m.record_time <= $2
             WHERE l.maturity_date > $1
             GROUP BY l.loan_id
             HAVING SUM(m.delta) > 0) owed",
    )
    .bind(as_of)
    .bind(known_at)
    .fetch_one(&mut *conn)
    .await?;
    let bonds = bonds(conn, as_of, known_at).await?;
    Ok(crate::model::Headroom {
        pool: row.try_get("pool")?,
        bonds: bonds.iter().map(Bond::outstanding_sek).sum(),
        loans: row.try_get::<i64, _>("loans")? as usize,
    })
}

/// What is known at `known_at` of the loans and bonds from `from` on: each
/// loan's amount on `from` and its movements recorded for later dates, and
/// each bond with its redemptions.
pub async fn schedule(
    conn: &mut PgConnection,
    from: NaiveDate,
    known_at: DateTime<Utc>,
) -> Result<(Vec<ScheduledLoan>, Vec<ScheduledBond>), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT l.loan_id, l.maturity_date, GREATEST(m.effective_date, $1) AS on_date, SUM(m.delta)::bigint AS delta
         FROM bonds.loan l JOIN bonds.pool_movement m ON m.loan_id = l.loan_id AND m.record_time <= $2
         WHERE l.maturity_date > $1
         GROUP BY l.loan_id, l.maturity_date, on_date
         ORDER BY l.loan_id, on_date",
    )
    .bind(from)
    .bind(known_at)
    .fetch_all(&mut *conn)
    .await?;
    let mut loans: Vec<ScheduledLoan> = Vec::new();
    for r in &rows {
        let loan_id: String = r.try_get("loan_id")?;
        let change = (r.try_get("on_date")?, r.try_get("delta")?);
        match loans.last_mut() {
            Some(last) if last.loan_id == loan_id => last.changes.push(change),
            _ => loans.push(ScheduledLoan { loan_id, maturity: r.try_get("maturity_date")?, changes: vec![change] }),
        }
    }
    let rows = sqlx::query(
        "SELECT b.isin, b.nominal, b.rate_micros, b.issue_date, b.maturity_date, r.effective_date, r.nominal AS redeemed
         FROM bonds.bond b
         LEFT JOIN bonds.bond_redemption r ON r.isin = b.isin AND r.record_time <= $2
         WHERE b.register_time <= $2 AND b.maturity_date > $1
         ORDER BY b.isin, r.sequence",
    )
    .bind(from)
    .bind(known_at)
    .fetch_all(&mut *conn)
    .await?;
    let mut bonds: Vec<ScheduledBond> = Vec::new();
    for r in &rows {
        let isin: String = r.try_get("isin")?;
        if bonds.last().is_none_or(|b| b.isin != isin) {
            bonds.push(ScheduledBond {
                isin,
                nominal: r.try_get("nominal")?,
                rate_micros: r.try_get("rate_micros")?,
                issue: r.try_get("issue_date")?,
                maturity: r.try_get("maturity_date")?,
                redemptions: Vec::new(),
            });
        }
        if let (Some(on), Some(nominal), Some(bond)) = (
            r.try_get::<Option<NaiveDate>, _>("effective_date")?,
            r.try_get::<Option<i64>, _>("redeemed")?,
            bonds.last_mut(),
        ) {
            bond.redemptions.push((on, nominal));
        }
    }
    Ok((loans, bonds))
}
