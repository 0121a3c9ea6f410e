//! The `audit_chain` table and the signatures of its heads. Entries are only
//! ever inserted.

use chrono::{DateTime, Utc};
use socialloans_contracts::committee::ChainHead;
use sqlx::{PgConnection, PgPool};

/// A stored entry (read as a row by tests that play a superuser rewriting the chain).
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

/// A stored entry with its payload.
#[derive(Debug, Clone)]
pub struct WithPayload {
    /// The entry.
    pub entry: Stored,
    /// The full content its digest is of, if kept.
    pub payload: Option<Vec<u8>>,
}

/// Waits until no other transaction writes the chain, and keeps others
/// waiting until this one ends.
pub async fn lock(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended('committee.audit_chain', 0))")
        .execute(conn)
        .await
        .map(|_| ())
}

/// The chain's last entry: its sequence and hash.
pub async fn head(conn: &mut PgConnection) -> Result<Option<(i64, String)>, sqlx::Error> {
    Ok(sqlx::query!("SELECT sequence, hash FROM committee.audit_chain ORDER BY sequence DESC LIMIT 1")
        .fetch_optional(conn)
        .await?
        .map(|r| (r.sequence, r.hash)))
}

/// Inserts `stored`, keeping `payload` beside it.
pub async fn insert(conn: &mut PgConnection, stored: &Stored, payload: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO committee.audit_chain
             (sequence, action, resource, actor_subject, actor_role, occur_time, request_id, summary, payload_sha256,
              previous_hash, hash, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        stored.sequence,
        stored.action,
        stored.resource,
        stored.actor_subject,
        stored.actor_role,
        stored.occur_time,
        stored.request_id,
        stored.summary,
        stored.payload_sha256,
        stored.previous_hash,
        stored.hash,
        payload,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Keeps `signed`, the signature of the head at `sequence` with `hash` made
/// at `sign_time`, unless that head is signed already.
pub async fn insert_head_signature(
    conn: &mut PgConnection,
    sequence: i64,
    hash: &str,
    sign_time: DateTime<Utc>,
    signed: &ChainHead,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO committee.chain_head_signature (sequence, hash, sign_time, key_id, public_key, signature)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sequence) DO NOTHING",
        sequence,
        hash,
        sign_time,
        signed.key_id,
        signed.public_key,
        signed.signature,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// The chain's entries after `after` about `resource` (and what is named
/// below it; every entry when empty), at most `size` + 1 of them.
pub async fn list(pool: &PgPool, resource: &str, after: i64, size: u32) -> Result<Vec<Stored>, sqlx::Error> {
    sqlx::query_as!(
        Stored,
        "SELECT sequence, action, resource, actor_subject, actor_role, occur_time, request_id, summary, payload_sha256,
                previous_hash, hash
           FROM committee.audit_chain
          WHERE sequence > $1 AND ($2 = '' OR resource = $2 OR resource LIKE $2 || '/%')
          ORDER BY sequence LIMIT $3",
        after,
        resource,
        i64::from(size) + 1,
    )
    .fetch_all(pool)
    .await
}

/// The entries from the one before `from` to `to` (0: the end), in order,
/// with their payloads.
pub async fn entries(pool: &PgPool, from: i64, to: i64) -> Result<Vec<WithPayload>, sqlx::Error> {
    Ok(sqlx::query!(
        "SELECT sequence, action, resource, actor_subject, actor_role, occur_time, request_id, summary, payload_sha256,
                previous_hash, hash, payload
           FROM committee.audit_chain
          WHERE sequence >= $1::bigint - 1 AND ($2::bigint = 0 OR sequence <= $2)
          ORDER BY sequence",
        from,
        to,
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| WithPayload {
        entry: Stored {
            sequence: r.sequence,
            action: r.action,
            resource: r.resource,
            actor_subject: r.actor_subject,
            actor_role: r.actor_role,
            occur_time: r.occur_time,
            request_id: r.request_id,
            summary: r.summary,
            payload_sha256: r.payload_sha256,
            previous_hash: r.previous_hash,
            hash: r.hash,
        },
        payload: r.payload,
    })
    .collect())
}

/// The hash of the entry at `sequence`, if the chain has one there.
pub async fn hash_at(pool: &PgPool, sequence: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT hash FROM committee.audit_chain WHERE sequence = $1", sequence)
        .fetch_optional(pool)
        .await
}
