//! Certificates made at test time: a CA, a server certificate for localhost,
//! and client certificates, written as PEM files in a temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// A CA able to sign leaf certificates.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    /// A new self-signed CA.
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        Ca { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf certificate for `names`, PEM `(certificate, key)`.
    pub fn leaf(&self, names: &[&str]) -> (String, String) {
        let params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// A fresh temporary directory, removed by the caller.
pub fn temp_dir(label: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("socialloans-{label}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An identity provider's signing key, as the bank's would be: a fresh
/// ECDSA P-256 key (ES256), its `kid`, and what verifiers are given.
pub struct SigningKey {
    /// The private key, PKCS#8 PEM.
    pub pem: String,
    /// The key id tokens name in their header.
    pub kid: String,
}

impl SigningKey {
    /// A new ES256 key named `kid`.
    pub fn new(kid: &str) -> SigningKey {
        SigningKey { pem: KeyPair::generate().unwrap().serialize_pem(), kid: kid.to_owned() }
    }

    /// Mints tokens signed with this key, for the test issuer and audience.
    pub fn minter(&self) -> socialloans_platform::auth::DevTokenMinter {
        socialloans_platform::auth::DevTokenMinter::from_private_key(
            self.pem.as_bytes(),
            &self.kid,
            crate::ISSUER,
            crate::AUDIENCE,
        )
        .unwrap()
    }

    /// A JWKS document holding the public halves of `keys`.
    pub fn jwks(keys: &[&SigningKey]) -> String {
        let keys: Vec<serde_json::Value> =
            keys.iter().map(|k| socialloans_platform::jwks::public_jwk(k.pem.as_bytes(), &k.kid).unwrap()).collect();
        serde_json::json!({ "keys": keys }).to_string()
    }
}
