//! The tamper-evident record: every decision, confirmation, amendment and
//! approval of minutes is an entry hashing its predecessor. Entries are only
//! ever inserted (the role has no UPDATE or DELETE on the table, and a trigger
//! refuses both); [`verify`] recomputes the chain and names the first entry
//! whose stored hash no longer matches.
//!
//! The hash of an entry is SHA-256 over its sequence, action, resource, actor,
//! time (microseconds), request id, summary, payload digest and the previous
//! entry's hash, each field length-prefixed so that no two entries can collide
//! by moving text between fields. The first entry's predecessor is 64 zeros.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

/// What happened, for the chain.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// `DECISION_RECORDED`, `DECISION_CONFIRMED`, `MINUTES_APPROVED`, …
    pub action: &'a str,
    /// The resource name it concerns.
    pub resource: &'a str,
    /// Token subject of the actor.
    pub actor_subject: &'a str,
    /// Role acted in.
    pub actor_role: &'a str,
    /// The request that did it.
    pub request_id: &'a str,
    /// One line for a person.
    pub summary: &'a str,
    /// The full content (e.g. the encoded decision); only its digest is kept.
    pub payload: &'a [u8],
}

/// A stored entry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stored {
    /// Position in the chain, from 1.
    pub sequence: i64,
    /// What happened.
    pub action: String,
    /// The resource.
    pub resource: String,
    /// Who.
    pub actor_subject: String,
    /// In which role.
    pub actor_role: String,
    /// When.
    pub occur_time: DateTime<Utc>,
    /// The request.
    pub request_id: String,
    /// For a person.
    pub summary: String,
    /// SHA-256 of the payload, hex.
    pub payload_sha256: String,
    /// The predecessor's hash.
    pub previous_hash: String,
    /// This entry's hash.
    pub hash: String,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash an entry must carry.
pub fn hash_of(e: &Stored) -> String {
    let mut h = Sha256::new();
    let micros = e.occur_time.timestamp_micros().to_string();
    let sequence = e.sequence.to_string();
    for field in [
        sequence.as_str(),
        &e.action,
        &e.resource,
        &e.actor_subject,
        &e.actor_role,
        &micros,
        &e.request_id,
        &e.summary,
        &e.payload_sha256,
        &e.previous_hash,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex(&h.finalize())
}

/// Appends an entry inside the caller's transaction; returns its hash.
pub async fn append(conn: &mut PgConnection, entry: Entry<'_>) -> Result<String, sqlx::Error> {
    // One writer at a time: the chain is a line, not a tree.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('committee.audit_chain', 0))")
        .execute(&mut *conn)
        .await?;
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT sequence, hash FROM committee.audit_chain ORDER BY sequence DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let (sequence, previous_hash) = last.map(|(s, h)| (s + 1, h)).unwrap_or((1, GENESIS.to_owned()));
    let now = Utc::now();
    let occur_time = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let mut stored = Stored {
        sequence,
        action: entry.action.to_owned(),
        resource: entry.resource.to_owned(),
        actor_subject: entry.actor_subject.to_owned(),
        actor_role: entry.actor_role.to_owned(),
        occur_time,
        request_id: entry.request_id.to_owned(),
        summary: entry.summary.to_owned(),
        payload_sha256: hex(&Sha256::digest(entry.payload)),
        previous_hash,
        hash: String::new(),
    };
    stored.hash = hash_of(&stored);
    sqlx::query(
        "INSERT INTO committee.audit_chain
             (sequence, action, resource, actor_subject, actor_role, occur_time, request_id, summary, payload_sha256, previous_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(stored.sequence)
    .bind(&stored.action)
    .bind(&stored.resource)
    .bind(&stored.actor_subject)
    .bind(&stored.actor_role)
    .bind(stored.occur_time)
    .bind(&stored.request_id)
    .bind(&stored.summary)
    .bind(&stored.payload_sha256)
    .bind(&stored.previous_hash)
    .bind(&stored.hash)
    .execute(conn)
    .await?;
    Ok(stored.hash)
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Entries checked.
    pub verified: i64,
    /// The first entry whose hash or link does not hold.
    pub first_invalid: Option<i64>,
    /// The last entry checked, and its stored hash.
    pub head: Option<(i64, String)>,
}

/// Walks the chain from `from` (≥ 1) to `to` (0: the end).
pub async fn verify(pool: &PgPool, from: i64, to: i64) -> Result<Verification, sqlx::Error> {
    let from = from.max(1);
    let entries: Vec<Stored> = sqlx::query_as(
        "SELECT sequence, action, resource, actor_subject, actor_role, occur_time, request_id, summary, payload_sha256,
                previous_hash, hash
           FROM committee.audit_chain
          WHERE sequence >= $1 - 1 AND ($2 = 0 OR sequence <= $2)
          ORDER BY sequence",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut previous: Option<&Stored> = None;
    let mut verified = 0;
    for entry in &entries {
        if entry.sequence < from {
            previous = Some(entry);
            continue;
        }
        let expected_previous = previous.map(|p| p.hash.as_str()).unwrap_or(GENESIS);
        let gap =
            previous.is_some_and(|p| p.sequence + 1 != entry.sequence) || (previous.is_none() && entry.sequence != 1);
        if gap || entry.previous_hash != expected_previous || hash_of(entry) != entry.hash {
            return Ok(Verification { verified, first_invalid: Some(entry.sequence), head: None });
        }
        verified += 1;
        previous = Some(entry);
    }
    Ok(Verification { verified, first_invalid: None, head: previous.map(|p| (p.sequence, p.hash.clone())) })
}
