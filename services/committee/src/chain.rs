//! The tamper-evident record: every decision, confirmation, amendment and
//! approval of minutes is an entry hashing its predecessor. Entries are only
//! ever inserted (the role has no UPDATE or DELETE on the table, and a trigger
//! refuses both); [`verify`] recomputes the chain, compares each entry's
//! payload with the record it is of as that stands now, checks an anchor
//! kept outside the service, and names the first entry that does not hold.
//!
//! What it proves, against whom: a change of a decision or of approved
//! minutes made past the service (in the database) is found by the record
//! check; a change of an entry, by its hash; a rewrite of the chain from some
//! entry on, recomputing every hash by the documented formula — which only
//! someone with the database's superuser can make, as the service's own roles
//! cannot update the chain — and the loss of its tail, only against an anchor
//! kept elsewhere: the chain's sequence and hash that each application holds
//! (another service's database and role), or a head signed with the chain
//! key ([`crate::signing`]), which is never in the database.
//!
//! The hash of an entry is SHA-256 over its sequence, action, resource, actor,
//! time (microseconds), request id, summary, payload digest and the previous
//! entry's hash, each field length-prefixed so that no two entries can collide
//! by moving text between fields. The first entry's predecessor is 64 zeros.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::{
    error::Error,
    store::{self, chain::WithPayload},
};

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

pub use crate::store::chain::Stored;

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
    Ok(append_at(conn, entry).await?.1)
}

/// Appends an entry inside the caller's transaction; returns its sequence and hash.
pub async fn append_at(conn: &mut PgConnection, entry: Entry<'_>) -> Result<(i64, String), sqlx::Error> {
    // One writer at a time: the chain is a line, not a tree.
    store::chain::lock(&mut *conn).await?;
    let last = store::chain::head(&mut *conn).await?;
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
    store::chain::insert(conn, &stored, entry.payload).await?;
    Ok((stored.sequence, stored.hash))
}

/// Signs the chain's head with `key` and keeps the signature (inside the
/// caller's transaction, after its entries).
pub async fn sign_head(
    conn: &mut PgConnection,
    key: &crate::signing::ChainKey,
) -> Result<Option<socialloans_contracts::committee::ChainHead>, sqlx::Error> {
    let Some((sequence, hash)) = store::chain::head(&mut *conn).await? else { return Ok(None) };
    let now = now_to_the_microsecond();
    let signed = crate::signing::sign(key, sequence, &hash, now);
    store::chain::insert_head_signature(conn, sequence, &hash, now, &signed).await?;
    Ok(Some(signed))
}

/// The chain's head signed with `key` now, not kept; FAILED_PRECONDITION
/// (`CHAIN_EMPTY`) while the chain has no entry.
pub async fn head(
    conn: &mut PgConnection,
    key: &crate::signing::ChainKey,
) -> Result<socialloans_contracts::committee::ChainHead, Error> {
    let (sequence, hash) = store::chain::head(conn).await?.ok_or_else(|| Error::Precondition {
        reason: "CHAIN_EMPTY",
        message: "the audit chain has no entry yet".into(),
    })?;
    Ok(crate::signing::sign(key, sequence, &hash, now_to_the_microsecond()))
}

/// Now, to the microsecond the database keeps.
fn now_to_the_microsecond() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Entries checked.
    pub verified: i64,
    /// The first entry whose hash, link, payload or record does not hold.
    pub first_invalid: Option<i64>,
    /// Why it does not (see `VerifyAuditChainResponse.invalid_reason`).
    pub reason: &'static str,
    /// The last entry checked, and its stored hash.
    pub head: Option<(i64, String)>,
}

impl Verification {
    fn invalid(verified: i64, sequence: i64, reason: &'static str) -> Verification {
        Verification { verified, first_invalid: Some(sequence), reason, head: None }
    }
}

impl crate::store::Sequenced for Stored {
    fn sequence(&self) -> i64 {
        self.sequence
    }
}

impl Stored {
    /// The API view of the entry.
    pub fn view(self) -> socialloans_contracts::committee::AuditEntry {
        use socialloans_contracts::committee::AuditEntry;
        use socialloans_contracts::common::Actor;
        AuditEntry {
            name: format!("auditEntries/{}", self.sequence),
            sequence: self.sequence,
            action: self.action,
            resource: self.resource,
            actor: Some(Actor {
                subject: self.actor_subject,
                role: self.actor_role,
                organization_number: String::new(),
            }),
            occur_time: Some(socialloans_platform::timestamp(self.occur_time)),
            request_id: self.request_id,
            summary: self.summary,
            payload_sha256: self.payload_sha256,
            previous_hash: self.previous_hash,
            hash: self.hash,
        }
    }
}

/// Every problem with a request to verify the chain: sequences not
/// negative, a range in order, and an anchor given whole (its sequence and
/// its hash, 64 lower-case hexadecimal characters) or not at all.
pub fn check_verify_request(req: &socialloans_contracts::committee::VerifyAuditChainRequest) -> Result<(), Error> {
    use socialloans_platform::error::FieldViolation;
    let mut violations = Vec::new();
    if req.from_sequence < 0 {
        violations.push(FieldViolation::new("from_sequence", "must not be negative"));
    }
    if req.to_sequence < 0 {
        violations.push(FieldViolation::new("to_sequence", "must not be negative"));
    } else if req.to_sequence > 0 && req.to_sequence < req.from_sequence {
        violations.push(FieldViolation::new("to_sequence", "must not be before from_sequence"));
    }
    let hash_ok =
        req.anchor_hash.len() == 64 && req.anchor_hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match (req.anchor_sequence, req.anchor_hash.is_empty()) {
        (n, _) if n < 0 => violations.push(FieldViolation::new("anchor_sequence", "must not be negative")),
        (0, true) => {}
        (0, false) => violations.push(FieldViolation::new("anchor_sequence", "is required with anchor_hash")),
        (_, _) if !hash_ok => violations.push(FieldViolation::new(
            "anchor_hash",
            "is required with anchor_sequence: 64 lower-case hexadecimal characters",
        )),
        _ => {}
    }
    if violations.is_empty() { Ok(()) } else { Err(Error::InvalidArgument(violations)) }
}

/// Walks the chain from `from` (≥ 1) to `to` (0: the end), checking each
/// entry's link, hash, payload and record; then, given one, the `anchor`.
pub async fn verify(
    pool: &PgPool,
    from: i64,
    to: i64,
    anchor: Option<(i64, &str)>,
) -> Result<Verification, sqlx::Error> {
    let from = from.max(1);
    let entries = store::chain::entries(pool, from, to).await?;
    let mut records = Records::new(pool);
    let mut previous: Option<&Stored> = None;
    let mut verified = 0;
    for WithPayload { entry, payload } in &entries {
        if entry.sequence < from {
            previous = Some(entry);
            continue;
        }
        let expected_previous = previous.map(|p| p.hash.as_str()).unwrap_or(GENESIS);
        let gap =
            previous.is_some_and(|p| p.sequence + 1 != entry.sequence) || (previous.is_none() && entry.sequence != 1);
        let failure = if gap {
            Some("GAP")
        } else if entry.previous_hash != expected_previous {
            Some("LINK_BROKEN")
        } else if hash_of(entry) != entry.hash {
            Some("HASH_MISMATCH")
        } else if let Some(payload) = payload {
            if hex(&Sha256::digest(payload)) != entry.payload_sha256 {
                Some("PAYLOAD_MISMATCH")
            } else if !records.still_reads(entry, payload).await? {
                Some("RECORD_CHANGED")
            } else {
                None
            }
        } else {
            None
        };
        if let Some(reason) = failure {
            return Ok(Verification::invalid(verified, entry.sequence, reason));
        }
        verified += 1;
        previous = Some(entry);
    }
    if let Some((sequence, hash)) = anchor {
        let found = store::chain::hash_at(pool, sequence).await?;
        match found {
            None => return Ok(Verification::invalid(verified, sequence, "TRUNCATED")),
            Some(found) if found != hash => return Ok(Verification::invalid(verified, sequence, "ANCHOR_MISMATCH")),
            Some(_) => {}
        }
    }
    Ok(Verification { verified, first_invalid: None, reason: "", head: previous.map(|p| (p.sequence, p.hash.clone())) })
}

/// The records entries are of, read once per verification.
struct Records<'a> {
    pool: &'a PgPool,
    cases: std::collections::HashMap<uuid::Uuid, Option<socialloans_contracts::committee::Case>>,
}

impl<'a> Records<'a> {
    fn new(pool: &'a PgPool) -> Self {
        Records { pool, cases: Default::default() }
    }

    /// Whether the record `entry` is of still reads as its `payload` did: a
    /// decision's content (what was decided, by whom, when; and for a
    /// confirmation, who confirmed it, when), or the approved minutes.
    async fn still_reads(&mut self, entry: &Stored, payload: &[u8]) -> Result<bool, sqlx::Error> {
        use prost::Message;
        use socialloans_contracts::committee::{Decision, Meeting};
        match entry.action.as_str() {
            "DECISION_RECORDED" | "AMENDMENT_RECORDED" | "DECISION_CONFIRMED" | "AMENDMENT_CONFIRMED" => {
                let confirmation = entry.action.ends_with("_CONFIRMED");
                let Ok(then) = Decision::decode(payload) else { return Ok(false) };
                let Some(case_id) = entry
                    .resource
                    .strip_prefix("cases/")
                    .and_then(|rest| rest.split_once("/decisions/"))
                    .and_then(|(id, _)| uuid::Uuid::parse_str(id).ok())
                else {
                    return Ok(false);
                };
                if !self.cases.contains_key(&case_id) {
                    let content = store::cases::content(self.pool, case_id).await?;
                    let case = content.and_then(|c| socialloans_contracts::committee::Case::decode(c.as_slice()).ok());
                    self.cases.insert(case_id, case);
                }
                let now =
                    self.cases[&case_id].as_ref().and_then(|c| c.decisions.iter().find(|d| d.name == entry.resource));
                Ok(now.is_some_and(|now| decided(now, confirmation) == decided(&then, confirmation)))
            }
            "MINUTES_APPROVED" => {
                let Some(id) = entry.resource.strip_prefix("meetings/").and_then(|id| uuid::Uuid::parse_str(id).ok())
                else {
                    return Ok(false);
                };
                let content = store::meetings::content(self.pool, id).await?;
                let minutes = content.and_then(|c| Meeting::decode(c.as_slice()).ok()).map(|m| m.minutes);
                Ok(minutes.is_some_and(|m| m.as_bytes() == payload))
            }
            _ => Ok(true),
        }
    }
}

/// What a decision says, without what changes with its life (state, etag,
/// freezing, the chain hash) — and without its confirmation, unless asked.
fn decided(
    d: &socialloans_contracts::committee::Decision,
    confirmation: bool,
) -> socialloans_contracts::committee::Decision {
    socialloans_contracts::committee::Decision {
        name: d.name.clone(),
        outcome: d.outcome,
        approved_amount: d.approved_amount.clone(),
        conditions: d.conditions.clone(),
        rationale: d.rationale.clone(),
        dissents: d.dissents.clone(),
        meeting: d.meeting.clone(),
        vote_tally: d.vote_tally,
        recorded_by: d.recorded_by.clone(),
        record_time: d.record_time,
        confirmed_by: if confirmation { d.confirmed_by.clone() } else { None },
        confirm_time: if confirmation { d.confirm_time } else { None },
        ..Default::default()
    }
}
