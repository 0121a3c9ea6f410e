//! A service's signing key: Ed25519 (ring), for what a service signs so that
//! an auditor can check it offline with the public key, whatever happens to
//! the database later — the committee's chain heads, the bond register's
//! report vintages. The key is never in the database.
//!
//! It is read from a file named by an environment variable: a PKCS#8
//! private key, PEM ("-----BEGIN PRIVATE KEY-----", as `openssl genpkey
//! -algorithm ed25519` writes it) or DER. Without one a service makes a key
//! for its own lifetime and says so: fine for local runs and tests, useless
//! for an auditor.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};

/// An Ed25519 signing key.
#[derive(Clone)]
pub struct SigningKey {
    pair: Arc<Ed25519KeyPair>,
    /// Whether it was made at start, not read from a file.
    pub ephemeral: bool,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("key_id", &self.key_id()).field("ephemeral", &self.ephemeral).finish()
    }
}

impl SigningKey {
    /// Reads the key in `path` (PKCS#8, PEM or DER); `variable` names the
    /// setting in errors.
    pub fn load(variable: &str, path: &std::path::Path) -> Result<SigningKey, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{variable} {}: {e}", path.display()))?;
        let der = match std::str::from_utf8(&bytes) {
            Ok(text) if text.contains("-----BEGIN") => {
                pem_body(text).ok_or_else(|| format!("{variable} {}: not a PEM private key", path.display()))?
            }
            _ => bytes,
        };
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|e| format!("{variable} {}: not an Ed25519 PKCS#8 private key ({e})", path.display()))?;
        Ok(SigningKey { pair: Arc::new(pair), ephemeral: false })
    }

    /// The key in the file `variable` names, or, without one, a key for this
    /// process only; a file that is not a key is a configuration error.
    pub fn from_env(env: &mut crate::config::Env, variable: &str) -> SigningKey {
        match env.file(variable) {
            Some(path) => SigningKey::load(variable, &path).unwrap_or_else(|err| {
                env.error(err);
                SigningKey::ephemeral()
            }),
            None => SigningKey::ephemeral(),
        }
    }

    /// A key for this process only.
    pub fn ephemeral() -> SigningKey {
        let rng = ring::rand::SystemRandom::new();
        let document = Ed25519KeyPair::generate_pkcs8(&rng).expect("the system's random generator works");
        let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).expect("a key ring just made");
        SigningKey { pair: Arc::new(pair), ephemeral: true }
    }

    /// The public key, base64 of its 32 bytes.
    pub fn public_key(&self) -> String {
        STANDARD.encode(self.pair.public_key().as_ref())
    }

    /// The first 16 hex characters of the public key's SHA-256.
    pub fn key_id(&self) -> String {
        Sha256::digest(self.pair.public_key().as_ref()).iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// Base64 of the signature of `message`.
    pub fn sign(&self, message: &str) -> String {
        STANDARD.encode(self.pair.sign(message.as_bytes()).as_ref())
    }
}

/// Whether `signature` (base64) is `public_key`'s (base64) over `message`.
pub fn verify(public_key: &str, message: &str, signature: &str) -> bool {
    use ring::signature::{ED25519, UnparsedPublicKey};
    let (Ok(key), Ok(signature)) = (STANDARD.decode(public_key), STANDARD.decode(signature)) else {
        return false;
    };
    UnparsedPublicKey::new(&ED25519, key).verify(message.as_bytes(), &signature).is_ok()
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

    #[test]
    fn a_signature_verifies_with_the_public_key_and_nothing_else() {
        let key = SigningKey::ephemeral();
        let signature = key.sign("socialloans\n42");
        assert!(verify(&key.public_key(), "socialloans\n42", &signature));
        assert!(!verify(&key.public_key(), "socialloans\n43", &signature));
        assert!(!verify(&SigningKey::ephemeral().public_key(), "socialloans\n42", &signature));
        assert!(!verify("not base64!", "socialloans\n42", &signature));
        assert_eq!(key.key_id().len(), 16);
    }

    #[test]
    fn a_key_is_read_from_pem_or_der_and_a_bad_file_is_refused() {
        let rng = ring::rand::SystemRandom::new();
        let der = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let dir = std::env::temp_dir().join(format!("signing-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pem =
            format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(der.as_ref()));
        std::fs::write(dir.join("key.pem"), pem).unwrap();
        std::fs::write(dir.join("key.der"), der.as_ref()).unwrap();
        std::fs::write(dir.join("bad.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let from_pem = SigningKey::load("KEY", &dir.join("key.pem")).unwrap();
        let from_der = SigningKey::load("KEY", &dir.join("key.der")).unwrap();
        assert_eq!(from_pem.public_key(), from_der.public_key());
        assert!(!from_pem.ephemeral);
        assert!(SigningKey::load("KEY", &dir.join("bad.pem")).unwrap_err().starts_with("KEY "));
        assert!(SigningKey::load("KEY", &dir.join("missing.pem")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
