//! The committee's chain key: it signs the audit chain's head, so that an
//! auditor who keeps signed heads outside the bank's database can prove,
//! offline with the public key, what the chain held — a rewrite of the chain
//! by whoever holds the database (the service's own credential included)
//! cannot produce the old heads' signatures without the key, which is never
//! in the database.
//!
//! Ed25519 (ring). The key comes from `CHAIN_SIGNING_KEY_FILE`: a PKCS#8
//! private key, PEM ("-----BEGIN PRIVATE KEY-----", as `openssl genpkey
//! -algorithm ed25519` writes it) or DER. Without it the service makes a key
//! for its own lifetime and says so: fine for local runs and tests, useless
//! for an auditor.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};
use socialloans_contracts::committee::ChainHead;

/// The key that signs chain heads.
#[derive(Clone)]
pub struct ChainKey {
    pair: Arc<Ed25519KeyPair>,
    /// Whether it was made at start, not read from a file.
    pub ephemeral: bool,
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainKey").field("key_id", &self.key_id()).field("ephemeral", &self.ephemeral).finish()
    }
}

impl ChainKey {
    /// Reads the key in `path` (PKCS#8, PEM or DER).
    pub fn load(path: &std::path::Path) -> Result<ChainKey, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("CHAIN_SIGNING_KEY_FILE {}: {e}", path.display()))?;
        let der = match std::str::from_utf8(&bytes) {
            Ok(text) if text.contains("-----BEGIN") => pem_body(text)
                .ok_or_else(|| format!("CHAIN_SIGNING_KEY_FILE {}: not a PEM private key", path.display()))?,
            _ => bytes,
        };
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|e| {
            format!("CHAIN_SIGNING_KEY_FILE {}: not an Ed25519 PKCS#8 private key ({e})", path.display())
        })?;
        Ok(ChainKey { pair: Arc::new(pair), ephemeral: false })
    }

    /// A key for this process only.
    pub fn ephemeral() -> ChainKey {
        let rng = ring::rand::SystemRandom::new();
        let document = Ed25519KeyPair::generate_pkcs8(&rng).expect("the system's random generator works");
        let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).expect("a key ring just made");
        ChainKey { pair: Arc::new(pair), ephemeral: true }
    }

    /// The public key, base64 of its 32 bytes.
    pub fn public_key(&self) -> String {
        STANDARD.encode(self.pair.public_key().as_ref())
    }

    /// The first 16 hex characters of the public key's SHA-256.
    pub fn key_id(&self) -> String {
        Sha256::digest(self.pair.public_key().as_ref()).iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The head `sequence`/`hash`, signed as of `time`.
    pub fn sign(&self, sequence: i64, hash: &str, time: DateTime<Utc>) -> ChainHead {
        let message = signed_message(sequence, hash, time);
        ChainHead {
            sequence,
            hash: hash.to_owned(),
            sign_time: Some(socialloans_platform::timestamp(time)),
            algorithm: "Ed25519".into(),
            signature: STANDARD.encode(self.pair.sign(message.as_bytes()).as_ref()),
            signed_message: message,
            public_key: self.public_key(),
            key_id: self.key_id(),
        }
    }
}

/// What is signed for a head (documented on `ChainHead.signed_message`).
pub fn signed_message(sequence: i64, hash: &str, time: DateTime<Utc>) -> String {
    format!("socialloans-committee-chain\n{sequence}\n{hash}\n{}", time.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

/// The DER of the first PEM block in `text`.
fn pem_body(text: &str) -> Option<Vec<u8>> {
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .map(str::trim)
        .collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ED25519, UnparsedPublicKey};

    #[test]
    fn a_signed_head_verifies_with_the_public_key_and_nothing_else() {
        let key = ChainKey::ephemeral();
        let time = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let head = key.sign(42, &"ab".repeat(32), time);
        assert_eq!(
            head.signed_message,
            format!("socialloans-committee-chain\n42\n{}\n2026-09-21T14:13:20.123456Z", "ab".repeat(32))
        );
        let public = UnparsedPublicKey::new(&ED25519, STANDARD.decode(&head.public_key).unwrap());
        let signature = STANDARD.decode(&head.signature).unwrap();
        assert!(public.verify(head.signed_message.as_bytes(), &signature).is_ok());
        let forged = head.signed_message.replace("\n42\n", "\n43\n");
        assert!(public.verify(forged.as_bytes(), &signature).is_err());
        assert_eq!(key.key_id().len(), 16);
    }

    #[test]
    fn a_key_is_read_from_pem_or_der_and_a_bad_file_is_refused() {
        let rng = ring::rand::SystemRandom::new();
        let der = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let dir = std::env::temp_dir().join(format!("chain-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pem =
            format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(der.as_ref()));
        std::fs::write(dir.join("key.pem"), pem).unwrap();
        std::fs::write(dir.join("key.der"), der.as_ref()).unwrap();
        std::fs::write(dir.join("bad.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let from_pem = ChainKey::load(&dir.join("key.pem")).unwrap();
        let from_der = ChainKey::load(&dir.join("key.der")).unwrap();
        assert_eq!(from_pem.public_key(), from_der.public_key());
        assert!(!from_pem.ephemeral);
        assert!(ChainKey::load(&dir.join("bad.pem")).is_err());
        assert!(ChainKey::load(&dir.join("missing.pem")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
