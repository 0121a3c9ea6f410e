//! The committee's chain key: it signs the audit chain's head, so that an
//! auditor who keeps signed heads outside the bank's database can prove,
//! offline with the public key, what the chain held — a rewrite of the chain
//! by whoever holds the database (the service's own credential included)
//! cannot produce the old heads' signatures without the key, which is never
//! in the database. The key is the platform's [`SigningKey`], read from
//! `CHAIN_SIGNING_KEY_FILE`.

use chrono::{DateTime, Utc};
use socialloans_contracts::committee::ChainHead;
pub use socialloans_platform::signing::SigningKey as ChainKey;

/// The head `sequence`/`hash` signed with `key` as of `time`.
pub fn sign(key: &ChainKey, sequence: i64, hash: &str, time: DateTime<Utc>) -> ChainHead {
    let message = signed_message(sequence, hash, time);
    ChainHead {
        sequence,
        hash: hash.to_owned(),
        sign_time: Some(socialloans_platform::timestamp(time)),
        algorithm: "Ed25519".into(),
        signature: key.sign(&message),
        signed_message: message,
        public_key: key.public_key(),
        key_id: key.key_id(),
    }
}

/// What is signed for a head (documented on `ChainHead.signed_message`).
pub fn signed_message(sequence: i64, hash: &str, time: DateTime<Utc>) -> String {
    format!("socialloans-committee-chain\n{sequence}\n{hash}\n{}", time.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_head_verifies_with_the_public_key_and_nothing_else() {
        let key = ChainKey::ephemeral();
        let time = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let head = sign(&key, 42, &"ab".repeat(32), time);
        assert_eq!(
            head.signed_message,
            format!("socialloans-committee-chain\n42\n{}\n2026-09-21T14:13:20.123456Z", "ab".repeat(32))
        );
        let verify = socialloans_platform::signing::verify;
        assert!(verify(&head.public_key, &head.signed_message, &head.signature));
        let forged = head.signed_message.replace("\n42\n", "\n43\n");
        assert!(!verify(&head.public_key, &forged, &head.signature));
    }
}
