//! The identity provider's signing keys as a JSON Web Key Set (RFC 7517):
//! read from a file mounted from a Secret, or fetched from the provider's
//! JWKS URL, and kept fresh.
//!
//! Keys are chosen by the token's `kid`. A token naming a key the set does
//! not hold makes the set load again — at most once per `min_refetch`, so a
//! stream of made-up `kid`s cannot hammer the provider — which is how a key
//! rotation reaches the service before the next scheduled refresh. A failed
//! load keeps the keys already held. Only asymmetric signing keys are taken
//! (RSA, EC P-256/P-384, Ed25519); symmetric (`oct`) keys and encryption keys
//! in the set are ignored, so a set cannot smuggle in a shared secret.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse},
};

/// Where the key set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A JWKS file (`AUTH_JWKS_FILE`), re-read on every load.
    File(PathBuf),
    /// The provider's JWKS URL (`AUTH_JWKS_URL`): `https://`, or `http://`
    /// on a loopback address only.
    Url {
        /// The URL.
        url: String,
        /// PEM CA the provider's certificate chains to; the public web roots
        /// when absent.
        ca_file: Option<PathBuf>,
    },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Url { url, .. } => f.write_str(url),
        }
    }
}

/// The largest key set read: a provider publishes a handful of keys.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// How long one fetch of the URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A verification key and the one algorithm it verifies.
#[derive(Clone)]
pub struct Key {
    /// The key.
    pub decoding: DecodingKey,
    /// Its algorithm: tokens must name exactly this one.
    pub algorithm: Algorithm,
}

/// The current keys by `kid`, and the means to load them again.
pub struct KeySet {
    source: Source,
    keys: RwLock<Arc<HashMap<String, Key>>>,
    /// Serialises loads; holds when the last one was attempted.
    loading: tokio::sync::Mutex<Option<Instant>>,
    min_refetch: Duration,
    loaded: AtomicBool,
    /// Bumped whenever the keys change, so verified tokens are checked again.
    generation: AtomicU64,
    /// Loads attempted, for tests and logs.
    attempts: AtomicU64,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<String> = self.current().keys().cloned().collect();
        f.debug_struct("KeySet").field("source", &self.source).field("kids", &kids).finish()
    }
}

impl KeySet {
    /// An empty set that loads from `source`; a `kid` it does not know makes
    /// it load again at most once per `min_refetch`.
    pub fn new(source: Source, min_refetch: Duration) -> KeySet {
        KeySet {
            source,
            keys: RwLock::new(Arc::default()),
            loading: tokio::sync::Mutex::new(None),
            min_refetch,
            loaded: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
        }
    }

    /// Whether a load has ever succeeded: until then no token verifies.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Changes whenever the keys change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// How many loads were attempted so far.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    fn current(&self) -> Arc<HashMap<String, Key>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The key for `kid`. A token without `kid` is accepted only while the
    /// set holds a single key.
    pub fn get(&self, kid: Option<&str>) -> Option<Key> {
        let keys = self.current();
        match kid {
            Some(kid) => keys.get(kid).cloned(),
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }

    /// Loads the set now, replacing the keys when it parses; returns how many
    /// keys it holds.
    pub async fn load(&self) -> Result<usize, String> {
        let mut last = self.loading.lock().await;
        self.load_locked(&mut last).await
    }

    async fn load_locked(&self, last: &mut Option<Instant>) -> Result<usize, String> {
        *last = Some(Instant::now());
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let bytes = match &self.source {
            Source::File(path) => {
                tokio::fs::read(path).await.map_err(|e| format!("cannot read the key set {}: {e}", path.display()))?
            }
            Source::Url { url, ca_file } => fetch(url, ca_file.as_deref()).await?,
        };
        let keys = parse(&bytes).map_err(|e| format!("the key set at {}: {e}", self.source))?;
        let count = keys.len();
        let changed = {
            let mut held = self.keys.write().unwrap_or_else(|e| e.into_inner());
            let changed = !same_kids(&held, &keys);
            *held = Arc::new(keys);
            changed
        };
        if changed || !self.is_loaded() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            tracing::info!(source = %self.source, keys = count, "token signing keys loaded");
        }
        self.loaded.store(true, Ordering::Release);
        Ok(count)
    }

    /// The key for `kid`, loading the set again first when it does not hold
    /// it and the last load is at least `min_refetch` ago.
    pub async fn get_or_load(&self, kid: Option<&str>) -> Option<Key> {
        if let Some(key) = self.get(kid) {
            return Some(key);
        }
        let mut last = self.loading.lock().await;
        // Another caller may have loaded it while this one waited.
        if let Some(key) = self.get(kid) {
            return Some(key);
        }
        if last.is_some_and(|at| at.elapsed() < self.min_refetch) {
            return None;
        }
        if let Err(err) = self.load_locked(&mut last).await {
            tracing::warn!(error = %err, "loading the token signing keys failed; keeping the ones held");
        }
        self.get(kid)
    }

    /// Keeps the set fresh until `stopping`: loads now (retrying with backoff
    /// from 1 s to 30 s until it succeeds once), then every `every`.
    pub async fn refresh(self: Arc<Self>, every: Duration, mut stopping: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = crate::backoff::Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        loop {
            let wait = match self.load().await {
                Ok(_) => every,
                Err(err) if !self.is_loaded() => {
                    tracing::error!(error = %err, "no token signing keys yet: every call is refused until they load");
                    backoff.next_wait()
                }
                Err(err) => {
                    tracing::warn!(error = %err, "refreshing the token signing keys failed; keeping the ones held");
                    every
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stopping.wait_for(|stop| *stop) => return,
            }
        }
    }
}

fn same_kids(a: &HashMap<String, Key>, b: &HashMap<String, Key>) -> bool {
    a.len() == b.len() && a.iter().all(|(kid, key)| b.get(kid).is_some_and(|k| k.algorithm == key.algorithm))
}

/// The usable signing keys of a JWKS document by `kid` (a key without `kid`
/// is kept under the empty string). Keys that are not asymmetric signing
/// keys, or do not parse, are skipped; a set with none usable is an error.
pub fn parse(bytes: &[u8]) -> Result<HashMap<String, Key>, String> {
    let document: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let entries = document.get("keys").and_then(|k| k.as_array()).ok_or("no `keys` array")?;
    let mut keys = HashMap::new();
    for entry in entries {
        // One entry at a time: an algorithm this library does not know must
        // not make the whole set unreadable.
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else { continue };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let Some(algorithm) = algorithm_of(&jwk) else { continue };
        let Ok(decoding) = DecodingKey::from_jwk(&jwk) else { continue };
        keys.insert(jwk.common.key_id.clone().unwrap_or_default(), Key { decoding, algorithm });
    }
    if keys.is_empty() {
        return Err("no usable signing key (RSA, EC P-256/P-384 or Ed25519)".into());
    }
    Ok(keys)
}

/// The algorithm a key verifies: its `alg` when given (and fitting the key),
/// otherwise the usual one for its type. Never a symmetric one.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    use jsonwebtoken::jwk::KeyAlgorithm as K;
    let fits = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256][..],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => &[Algorithm::ES256][..],
            EllipticCurve::P384 => &[Algorithm::ES384][..],
            _ => &[][..],
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => &[Algorithm::EdDSA][..],
        _ => &[][..],
    };
    let named = match jwk.common.key_algorithm {
        None => return fits.first().copied(),
        Some(K::RS256) => Algorithm::RS256,
        Some(K::RS384) => Algorithm::RS384,
        Some(K::RS512) => Algorithm::RS512,
        Some(K::PS256) => Algorithm::PS256,
        Some(K::ES256) => Algorithm::ES256,
        Some(K::ES384) => Algorithm::ES384,
        Some(K::EdDSA) => Algorithm::EdDSA,
        Some(_) => return None,
    };
    fits.contains(&named).then_some(named)
}

/// Whether `host` (as in a URL) is a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The parts of an `http(s)://host[:port]/path` URL.
struct Url<'a> {
    https: bool,
    host: &'a str,
    port: u16,
    path: &'a str,
}

/// Splits a JWKS URL; `http://` only for loopback hosts.
pub fn check_url(url: &str) -> Result<(), String> {
    split(url).map(drop)
}

fn split(url: &str) -> Result<Url<'_>, String> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err("expected an https:// URL".into());
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| (&rest[..at], &rest[at..]));
    if authority.is_empty() || authority.contains('@') {
        return Err("expected https://host[:port]/path".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            (host, port.parse::<u16>().map_err(|_| format!("port {port:?} is not a port number"))?)
        }
        _ => (authority, if https { 443 } else { 80 }),
    };
    if !https && !is_loopback(host) {
        return Err("plaintext http:// is only for a provider on this machine (loopback); use https://".into());
    }
    Ok(Url { https, host, port, path })
}

/// GETs `url` (at most [`MAX_JWKS_BYTES`], within [`FETCH_TIMEOUT`]).
async fn fetch(url: &str, ca_file: Option<&std::path::Path>) -> Result<Vec<u8>, String> {
    tokio::time::timeout(FETCH_TIMEOUT, fetch_inner(url, ca_file))
        .await
        .map_err(|_| format!("fetching {url} took longer than {} s", FETCH_TIMEOUT.as_secs()))?
}

async fn fetch_inner(url: &str, ca_file: Option<&std::path::Path>) -> Result<Vec<u8>, String> {
    use http_body_util::{BodyExt, Empty, Limited};
    use hyper_util::rt::TokioIo;

    let parts = split(url)?;
    let host = parts.host.trim_start_matches('[').trim_end_matches(']');
    let tcp = tokio::net::TcpStream::connect((host, parts.port))
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let request = http::Request::get(parts.path)
        .header(http::header::HOST, parts.host)
        .header(http::header::ACCEPT, "application/jwk-set+json, application/json")
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| format!("{url}: {e}"))?;
    let response = if parts.https {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_tls(ca_file)?));
        let name = rustls_pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| format!("{url}: {host:?} is not a server name: {e}"))?;
        let tls = connector.connect(name, tcp).await.map_err(|e| format!("TLS with {url}: {e}"))?;
        send(TokioIo::new(tls), request, url).await?
    } else {
        send(TokioIo::new(tcp), request, url).await?
    };
    if response.status() != http::StatusCode::OK {
        return Err(format!("{url} answered {}", response.status()));
    }
    let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
        .collect()
        .await
        .map_err(|e| format!("reading {url}: {e} (at most {MAX_JWKS_BYTES} bytes)"))?;
    Ok(body.to_bytes().to_vec())
}

async fn send<T>(
    io: T,
    request: http::Request<http_body_util::Empty<bytes::Bytes>>,
    url: &str,
) -> Result<http::Response<hyper::body::Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(io).await.map_err(|e| format!("HTTP with {url}: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender.send_request(request).await.map_err(|e| format!("GET {url}: {e}"))
}

fn client_tls(ca_file: Option<&std::path::Path>) -> Result<tokio_rustls::rustls::ClientConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::ring::default_provider};
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| format!("AUTH_JWKS_CA_FILE {}: {e}", path.display()))?;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("AUTH_JWKS_CA_FILE {}: {e}", path.display()))?;
                roots.add(cert).map_err(|e| format!("AUTH_JWKS_CA_FILE {}: {e}", path.display()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The algorithm a PKCS#8 private key (PEM) signs with: ES256 for an EC
/// P-256 key, EdDSA for an Ed25519 key.
pub fn private_key_algorithm(pem: &[u8]) -> Result<Algorithm, String> {
    Ok(match key_pair(pem)? {
        KeyPair::Ec(_) => Algorithm::ES256,
        KeyPair::Ed(_) => Algorithm::EdDSA,
    })
}

/// The public half of a PKCS#8 private key (PEM) as a JWK naming `kid`: what
/// an identity provider publishes for the tokens it signs with the key.
pub fn public_jwk(pem: &[u8], kid: &str) -> Result<serde_json::Value, String> {
    use base64::Engine;
    use ring::signature::KeyPair as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    Ok(match key_pair(pem)? {
        KeyPair::Ec(pair) => {
            // Uncompressed point: 0x04, then x and y, 32 bytes each.
            let point = pair.public_key().as_ref();
            serde_json::json!({ "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]),
                "kid": kid, "alg": "ES256", "use": "sig" })
        }
        KeyPair::Ed(pair) => serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()),
            "kid": kid, "alg": "EdDSA", "use": "sig" }),
    })
}

enum KeyPair {
    Ec(ring::signature::EcdsaKeyPair),
    Ed(ring::signature::Ed25519KeyPair),
}

fn key_pair(pem: &[u8]) -> Result<KeyPair, String> {
    use rustls_pki_types::{PrivatePkcs8KeyDer, pem::PemObject};
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|e| format!("not a PKCS#8 private key (PEM): {e}"))?;
    let der = der.secret_pkcs8_der();
    if let Ok(pair) = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
        return Ok(KeyPair::Ed(pair));
    }
    let rng = ring::rand::SystemRandom::new();
    ring::signature::EcdsaKeyPair::from_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
        .map(KeyPair::Ec)
        .map_err(|_| "expected an EC P-256 or Ed25519 private key".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_asymmetric_signing_keys_are_taken_from_a_set() {
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let x = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, ed.public_key_raw());
        let set = serde_json::json!({ "keys": [
            { "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "ed", "use": "sig" },
            { "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "enc", "use": "enc" },
            { "kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "kid": "hmac", "alg": "HS256" },
            { "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "lying", "alg": "RS256" },
            { "kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521", "alg": "ES512" },
            { "kty": "RSA", "n": "not a modulus", "kid": "broken" }
        ]});
        let keys = parse(set.to_string().as_bytes()).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["ed"]);
        assert_eq!(keys["ed"].algorithm, Algorithm::EdDSA);
        let none = serde_json::json!({ "keys": [{ "kty": "oct", "k": "AAAA", "kid": "hmac" }] });
        assert!(parse(none.to_string().as_bytes()).is_err());
        assert!(parse(b"{}").is_err());
        assert!(parse(b"not json").is_err());
    }

    #[test]
    fn plaintext_urls_only_reach_this_machine() {
        assert!(check_url("https://idp.bank.example/.well-known/jwks.json").is_ok());
        assert!(check_url("https://idp.bank.example:8443").is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_url("http://[::1]:8080/jwks").is_ok());
        assert!(check_url("http://localhost/jwks").is_ok());
        assert!(check_url("http://idp.bank.example/jwks").is_err());
        assert!(check_url("ftp://idp.bank.example/jwks").is_err());
        assert!(check_url("https://user@idp.bank.example/jwks").is_err());
        assert!(check_url("https://idp.bank.example:99999/jwks").is_err());
    }
}
