//! Published reports: a report computed as of a date as known now, frozen
//! with its figures, signed with the service's report key (Ed25519, the
//! approach of the committee's chain head) and kept. A later publication of
//! the same report is a restatement: a new vintage whose every changed
//! figure is explained by what the register learnt between the two.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use prost::Message;
use sha2::{Digest, Sha256};
use socialloans_contracts::bonds as pb;
use socialloans_contracts::common::Actor;
use socialloans_documents::{Language, numbers::money};
use socialloans_platform::{Caller, events::outbox, signing::SigningKey, timestamp};
use sqlx::{PgConnection, Row};

use crate::{error::Error, history, model, views};

/// The kind's word in names and the database.
pub fn kind_word(kind: pb::ReportKind) -> Option<&'static str> {
    match kind {
        pb::ReportKind::Allocation => Some("allocation"),
        pb::ReportKind::Impact => Some("impact"),
        pb::ReportKind::Unspecified => None,
    }
}

/// A report computed: the contract's message, and its figures.
pub struct Computed {
    /// The allocation report, for that kind.
    pub allocation: Option<pb::AllocationReport>,
    /// The impact report, for that kind.
    pub impact: Option<pb::InvestorImpactReport>,
    /// Its figures, by key.
    pub figures: BTreeMap<String, String>,
}

/// `kind` as of `as_of` as known at `known_at`.
pub async fn compute(
    conn: &mut PgConnection,
    kind: pb::ReportKind,
    as_of: NaiveDate,
    known_at: DateTime<Utc>,
    margin_percent: u32,
) -> Result<Computed, sqlx::Error> {
    let snapshot = history::snapshot(conn, as_of, known_at).await?;
    Ok(if kind == pb::ReportKind::Allocation {
        let report = model::allocation(&snapshot);
        let mut figures = views::allocation_figures(&report);
        views::loan_figures(&snapshot, &mut figures);
        Computed { allocation: Some(views::allocation(&snapshot, &report, margin_percent)), impact: None, figures }
    } else {
        let report = model::impact(&snapshot);
        Computed {
            allocation: None,
            impact: Some(views::impact(&snapshot, &report)),
            figures: views::impact_figures(&report),
        }
    })
}

/// The figures as the digest covers them: each `key=value\n`, by key.
pub fn figures_text(figures: &BTreeMap<String, String>) -> String {
    figures.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

fn parse_figures(text: &str) -> BTreeMap<String, String> {
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// What is signed for a vintage (documented on `Signature.signed_message`).
pub fn signed_message(name: &str, digest: &str, known_at: DateTime<Utc>, published: DateTime<Utc>) -> String {
    let time = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    format!("socialloans-bonds-report\n{name}\n{digest}\n{}\n{}", time(known_at), time(published))
}

/// Something the register learnt, and which figures it bears on.
#[derive(Debug, Clone)]
struct Cause {
    text: String,
    scopes: BTreeSet<String>,
}

/// What the register learnt after `after` and by `until` that bears on a
/// report as of `as_of`.
async fn causes(
    conn: &mut PgConnection,
    as_of: NaiveDate,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Cause>, sqlx::Error> {
    let mut found = Vec::new();
    let recorded = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let movements = sqlx::query(
        "SELECT m.loan_id, m.effective_date, m.delta, m.reason, m.record_time, l.application,
                COALESCE(p.category, '') AS category, COALESCE(p.municipality_code, '') AS municipality_code,
                COALESCE(p.populations, '{}') AS populations
         FROM bonds.pool_movement m JOIN bonds.loan l USING (loan_id)
         LEFT JOIN bonds.project p ON p.application = l.application
         WHERE m.record_time > $1 AND m.record_time <= $2 AND m.effective_date <= $3
         ORDER BY m.sequence",
    )
    .bind(after)
    .bind(until)
    .bind(as_of)
    .fetch_all(&mut *conn)
    .await?;
    for r in &movements {
        let (loan, delta, reason): (String, i64, String) =
            (r.try_get("loan_id")?, r.try_get("delta")?, r.try_get("reason")?);
        let application: String = r.try_get("application")?;
        let effective: NaiveDate = r.try_get("effective_date")?;
        let direction = if delta < 0 { "lowers" } else { "raises" };
        let text = format!(
            "loan {loan} {}: {direction} the pool by {} from {effective} (recorded {})",
            reason.to_lowercase().replace('_', " "),
            money(delta.abs(), Language::English),
            recorded(r.try_get("record_time")?)
        );
        let mut scopes: BTreeSet<String> = ["total".to_owned(), "bond".to_owned(), format!("loan/{loan}")].into();
        scopes.insert(format!("project/{}", application.trim_start_matches("applications/")));
        scopes.insert(format!("category/{}", r.try_get::<String, _>("category")?));
        scopes.insert(format!("municipality/{}", r.try_get::<String, _>("municipality_code")?));
        for population in r.try_get::<Vec<String>, _>("populations")? {
            scopes.insert(format!("population/{population}"));
        }
        found.push(Cause { text, scopes });
    }
    let bonds = sqlx::query(
        "SELECT isin, register_time AS at, 'enters the register' AS what FROM bonds.bond
         WHERE register_time > $1 AND register_time <= $2 AND issue_date <= $3
         UNION ALL
         SELECT isin, record_time, lower(replace(kind, '_', '-')) || ' of ' || nominal || ' minor units on ' || effective_date
         FROM bonds.bond_redemption WHERE record_time > $1 AND record_time <= $2 AND effective_date <= $3
         ORDER BY 2",
    )
    .bind(after)
    .bind(until)
    .bind(as_of)
    .fetch_all(&mut *conn)
    .await?;
    for r in &bonds {
        let isin: String = r.try_get("isin")?;
        let text =
            format!("bond {isin}: {} (recorded {})", r.try_get::<String, _>("what")?, recorded(r.try_get("at")?));
        found.push(Cause { text, scopes: ["total".to_owned(), "bond".to_owned(), format!("bond/{isin}")].into() });
    }
    let indicators = sqlx::query(
        "SELECT a.application, a.indicator_code, a.value, a.period_end, a.record_time,
                COALESCE(p.category, '') AS category, COALESCE(p.populations, '{}') AS populations
         FROM bonds.accepted_indicator a LEFT JOIN bonds.project p USING (application)
         WHERE a.record_time > $1 AND a.record_time <= $2 AND a.period_end <= $3
         ORDER BY a.sequence",
    )
    .bind(after)
    .bind(until)
    .bind(as_of)
    .fetch_all(&mut *conn)
    .await?;
    for r in &indicators {
        let application: String = r.try_get("application")?;
        let text = format!(
            "{application}: {} = {} accepted for the period ending {} (recorded {})",
            r.try_get::<String, _>("indicator_code")?,
            r.try_get::<f64, _>("value")?,
            r.try_get::<NaiveDate, _>("period_end")?,
            recorded(r.try_get("record_time")?)
        );
        let mut scopes: BTreeSet<String> =
            [format!("project/{}", application.trim_start_matches("applications/"))].into();
        scopes.insert(format!("category/{}", r.try_get::<String, _>("category")?));
        for population in r.try_get::<Vec<String>, _>("populations")? {
            scopes.insert(format!("population/{population}"));
        }
        found.push(Cause { text, scopes });
    }
    Ok(found)
}

/// The scope of a figure's key: `total`, `bond/SE…`, `category/…`.
fn scope(key: &str) -> String {
    let mut parts = key.split('/');
    match (parts.next(), parts.next()) {
        (Some("total"), _) | (Some(_), None) => "total".into(),
        (Some(kind), Some(id)) => format!("{kind}/{id}"),
        _ => key.to_owned(),
    }
}

/// Every figure that differs, explained by the causes that bear on it (the
/// pool's and the bonds' for a figure no cause names: allocation shares
/// follow the whole pool).
fn diff(
    previous: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
    causes: &[Cause],
) -> Vec<pb::FigureChange> {
    let keys: BTreeSet<&String> = previous.keys().chain(current.keys()).collect();
    let mut changes = Vec::new();
    for key in keys {
        let (before, now) = (previous.get(key), current.get(key));
        if before == now {
            continue;
        }
        let scope = scope(key);
        let mut explanations: Vec<String> =
            causes.iter().filter(|c| c.scopes.contains(&scope)).map(|c| c.text.clone()).collect();
        if explanations.is_empty() {
            explanations = causes
                .iter()
                .filter(|c| c.scopes.contains("total"))
                .map(|c| format!("through the whole pool: {}", c.text))
                .collect();
        }
        if explanations.is_empty() {
            explanations = causes.iter().map(|c| c.text.clone()).collect();
        }
        if explanations.is_empty() {
            explanations.push("a project's details (cost, category, municipality) were corrected".into());
        }
        changes.push(pb::FigureChange {
            key: key.clone(),
            previous: before.cloned().unwrap_or_default(),
            current: now.cloned().unwrap_or_default(),
            explanations,
        });
    }
    changes
}

/// Publishes `kind` as of `as_of` (the caller holds the register's lock).
pub async fn publish(
    conn: &mut PgConnection,
    caller: &Caller,
    kind: pb::ReportKind,
    as_of: NaiveDate,
    restatement_reason: &str,
    key: &SigningKey,
    margin_percent: u32,
) -> Result<pb::ReportVintage, Error> {
    let word = kind_word(kind).unwrap_or("allocation");
    let known_at = history::clock(conn).await?;
    let computed = compute(conn, kind, as_of, known_at, margin_percent).await?;
    let previous = sqlx::query(
        "SELECT vintage, known_at, figures FROM bonds.report_vintage WHERE kind = $1 AND as_of = $2
         ORDER BY vintage DESC LIMIT 1",
    )
    .bind(word)
    .bind(as_of)
    .fetch_optional(&mut *conn)
    .await?;
    let reason = restatement_reason.trim();
    let (number, changes) = match &previous {
        None => (1, Vec::new()),
        Some(row) => {
            if reason.is_empty() {
                return Err(socialloans_platform::error::FieldViolation::new(
                    "restatement_reason",
                    "is required: this report is already published, and a new vintage restates it",
                )
                .into());
            }
            let before: DateTime<Utc> = row.try_get("known_at")?;
            let causes = causes(conn, as_of, before, known_at).await?;
            let changes = diff(&parse_figures(&row.try_get::<String, _>("figures")?), &computed.figures, &causes);
            if changes.is_empty() {
                return Err(Error::Precondition {
                    reason: "NOTHING_RESTATED",
                    message: "no figure of the report has changed since its last vintage".into(),
                });
            }
            (row.try_get::<i32, _>("vintage")? + 1, changes)
        }
    };
    let name = format!("reports/{word}/{as_of}/vintages/{number}");
    let text = figures_text(&computed.figures);
    let digest: String = Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let published = history::clock(conn).await?;
    let message = signed_message(&name, &digest, known_at, published);
    let signature = pb::Signature {
        algorithm: "Ed25519".into(),
        signature: key.sign(&message),
        signed_message: message,
        public_key: key.public_key(),
        key_id: key.key_id(),
    };
    let report = match (&computed.allocation, &computed.impact) {
        (Some(a), _) => a.encode_to_vec(),
        (_, Some(i)) => i.encode_to_vec(),
        _ => Vec::new(),
    };
    let stored_changes = pb::ReportVintage { changes: changes.clone(), ..Default::default() }.encode_to_vec();
    sqlx::query(
        "INSERT INTO bonds.report_vintage (kind, as_of, vintage, known_at, report, figures, digest, signed_message,
                                           signature, public_key, key_id, changes, restatement_reason, published_by,
                                           publish_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(word)
    .bind(as_of)
    .bind(number)
    .bind(known_at)
    .bind(report)
    .bind(&text)
    .bind(&digest)
    .bind(&signature.signed_message)
    .bind(&signature.signature)
    .bind(&signature.public_key)
    .bind(&signature.key_id)
    .bind(stored_changes)
    .bind(if number > 1 { reason } else { "" })
    .bind(&caller.subject)
    .bind(published)
    .execute(&mut *conn)
    .await?;
    let event = pb::ReportPublished {
        vintage: name.clone(),
        kind: kind as i32,
        as_of: Some(views::date(as_of)),
        number,
        digest,
        changed_figures: changes.len() as i32,
    };
    outbox::append(conn, "bonds", &name, None, &event).await?;
    vintage(conn, word, as_of, number, true).await?.ok_or(Error::NotFound(name))
}

/// A stored vintage, with its report body when `full`.
pub async fn vintage(
    conn: &mut PgConnection,
    word: &str,
    as_of: NaiveDate,
    number: i32,
    full: bool,
) -> Result<Option<pb::ReportVintage>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM bonds.report_vintage WHERE kind = $1 AND as_of = $2 AND vintage = $3")
        .bind(word)
        .bind(as_of)
        .bind(number)
        .fetch_optional(conn)
        .await?;
    row.map(|r| view(&r, full)).transpose()
}

/// A stored vintage's row as the contract shows it.
pub fn view(r: &sqlx::postgres::PgRow, full: bool) -> Result<pb::ReportVintage, sqlx::Error> {
    let word: String = r.try_get("kind")?;
    let as_of: NaiveDate = r.try_get("as_of")?;
    let number: i32 = r.try_get("vintage")?;
    let kind = if word == "impact" { pb::ReportKind::Impact } else { pb::ReportKind::Allocation };
    let report: Vec<u8> = if full { r.try_get("report")? } else { Vec::new() };
    let decode = |e: prost::DecodeError| sqlx::Error::Decode(Box::new(e));
    let (allocation, impact) = match (full, kind) {
        (false, _) => (None, None),
        (true, pb::ReportKind::Impact) => {
            (None, Some(pb::InvestorImpactReport::decode(report.as_slice()).map_err(decode)?))
        }
        (true, _) => (Some(pb::AllocationReport::decode(report.as_slice()).map_err(decode)?), None),
    };
    let changes = pb::ReportVintage::decode(r.try_get::<Vec<u8>, _>("changes")?.as_slice()).map_err(decode)?.changes;
    let figures = if full {
        parse_figures(&r.try_get::<String, _>("figures")?)
            .into_iter()
            .map(|(key, value)| pb::Figure { key, value })
            .collect()
    } else {
        Vec::new()
    };
    Ok(pb::ReportVintage {
        name: format!("reports/{word}/{as_of}/vintages/{number}"),
        kind: kind as i32,
        as_of: Some(views::date(as_of)),
        known_at: Some(timestamp(r.try_get("known_at")?)),
        vintage: number,
        allocation,
        impact,
        figures,
        digest: r.try_get("digest")?,
        signature: Some(pb::Signature {
            algorithm: "Ed25519".into(),
            signed_message: r.try_get("signed_message")?,
            signature: r.try_get("signature")?,
            public_key: r.try_get("public_key")?,
            key_id: r.try_get("key_id")?,
        }),
        changes,
        restatement_reason: r.try_get("restatement_reason")?,
        published_by: Some(Actor { subject: r.try_get("published_by")?, role: "treasury".into(), ..Actor::default() }),
        publish_time: Some(timestamp(r.try_get("publish_time")?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_changed_figure_is_explained_by_what_bears_on_it_or_by_the_pool() {
        let previous: BTreeMap<String, String> = [
            ("total/pool".into(), "100".into()),
            ("loan/L-1/outstanding".into(), "60".into()),
            ("category/HOUSING/allocated".into(), "50".into()),
            ("bond/SE1/allocated".into(), "80".into()),
        ]
        .into();
        let mut current = previous.clone();
        current.insert("total/pool".into(), "90".into());
        current.insert("loan/L-1/outstanding".into(), "50".into());
        current.insert("category/SAFETY/allocated".into(), "5".into());
        current.remove("bond/SE1/allocated");
        let causes = vec![Cause {
            text: "loan L-1 amortised".into(),
            scopes: ["total".into(), "bond".into(), "loan/L-1".into(), "category/HOUSING".into()].into(),
        }];
        let changes = diff(&previous, &current, &causes);
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["bond/SE1/allocated", "category/SAFETY/allocated", "loan/L-1/outstanding", "total/pool"]);
        assert!(changes.iter().all(|c| !c.explanations.is_empty()));
        assert_eq!(changes[2].explanations, ["loan L-1 amortised"]);
        assert!(changes[1].explanations[0].starts_with("through the whole pool"), "{:?}", changes[1]);
        assert_eq!((changes[0].previous.as_str(), changes[0].current.as_str()), ("80", ""));
    }

    #[test]
    fn the_figures_text_is_what_is_signed_and_reads_back() {
        let figures: BTreeMap<String, String> = [("b".into(), "2".into()), ("a".into(), "1".into())].into();
        let text = figures_text(&figures);
        assert_eq!(text, "a=1\nb=2\n");
        assert_eq!(parse_figures(&text), figures);
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        assert_eq!(
            signed_message("reports/allocation/2026-12-31/vintages/1", "ab", at, at),
            "socialloans-bonds-report\nreports/allocation/2026-12-31/vintages/1\nab\n2026-09-21T14:13:20.123456Z\n2026-09-21T14:13:20.123456Z"
        );
        assert_eq!(scope("total/pool"), "total");
        assert_eq!(scope("bond/SE1/allocated"), "bond/SE1");
    }
}
