//! Bearer-token authentication and role-based authorisation.
//!
//! Every RPC but health and reflection carries `authorization: Bearer <JWT>`
//! from the lender's identity provider. The token's signature, expiry, issuer
//! and audience are checked here; its roles decide which methods the caller may
//! use, through the per-service [`Policy`] table. A borrower's token is bound to
//! its organisation, which handlers read from the [`Caller`].

use secrecy::ExposeSecret;
use std::{collections::HashMap, collections::HashSet, fmt, str::FromStr, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{AuthConfig, TokenKey};

/// The roles a token may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A member organisation's user, bound to its organisation number.
    Borrower,
    /// The lender's sustainability analyst.
    Analyst,
    /// The lender's credit analyst (ordinary credit review).
    CreditAnalyst,
    /// A member of the expert committee.
    CommitteeMember,
    /// The committee's chair.
    CommitteeChair,
    /// The committee's secretary (secretariat).
    CommitteeSecretary,
    /// Reviews borrowers' outcome reports.
    ReportReviewer,
    /// The lender's core banking system.
    CoreBanking,
    /// Read-only access to everything, for audit.
    Auditor,
    /// Another Social Loans service (event feeds, internal calls).
    Service,
    /// The lender's treasury: issues the social bonds and publishes the
    /// allocation and investor reports.
    Treasury,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 11] = [
        Role::Borrower,
        Role::Analyst,
        Role::CreditAnalyst,
        Role::CommitteeMember,
        Role::CommitteeChair,
        Role::CommitteeSecretary,
        Role::ReportReviewer,
        Role::CoreBanking,
        Role::Auditor,
        Role::Service,
        Role::Treasury,
    ];

    /// The claim value, e.g. `credit_analyst`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Borrower => "borrower",
            Role::Analyst => "analyst",
            Role::CreditAnalyst => "credit_analyst",
            Role::CommitteeMember => "committee_member",
            Role::CommitteeChair => "committee_chair",
            Role::CommitteeSecretary => "committee_secretary",
            Role::ReportReviewer => "report_reviewer",
            Role::CoreBanking => "core_banking",
            Role::Auditor => "auditor",
            Role::Service => "service",
            Role::Treasury => "treasury",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("unknown role {s:?}"))
    }
}

/// The claims of a Social Loans token, as the development minter writes them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: the user or system id.
    pub sub: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    #[serde(default)]
    pub iat: u64,
    /// Not before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Roles granted.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// The borrower's organisation number (NNNNNN-NNNN); a borrower token
    /// carries it, or `orgs`, or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Further organisations the borrower acts for (a municipality and its
    /// housing companies): the caller is confined to exactly `org` and these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orgs: Vec<String>,
}

/// The claims the verifier reads. Issuer, audience (a string or a list, as
/// identity providers write it), expiry and not-before are checked by the JWT
/// library; role names this suite does not know grant nothing and are ignored,
/// so that an identity provider's roles for other systems do not lock anyone out.
#[derive(Debug, Deserialize)]
struct ReceivedClaims {
    sub: String,
    exp: u64,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    orgs: Vec<String>,
}

/// The longest subject or organisation a token may carry.
const MAX_CLAIM_CHARS: usize = 256;

/// The most organisations one token may act for.
pub const MAX_TOKEN_ORGS: usize = 64;

/// The authenticated caller of a request, put into the request's extensions.
///
/// The call guard narrows `roles` to those the called method's policy allows
/// (see [`Caller::acting_for`]), so a handler sees only the roles the caller
/// acts in for this call: a token holding `borrower` and `committee_member`
/// calling an applications method acts as a borrower only, and is confined to
/// its organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Subject of the token.
    pub subject: String,
    /// Roles the caller acts in: granted by the token and, once the call guard
    /// has run, allowed on the method called.
    pub roles: HashSet<Role>,
    /// Organisations the caller is bound to, for borrowers (`org` and
    /// `orgs` of its token, in that order, each once); empty for staff.
    pub organizations: Vec<String>,
    /// When the token expires, seconds since the epoch (0: unknown).
    pub expires_at: u64,
}

impl Caller {
    /// Whether the caller acts in `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The caller as it may act on a method that allows `allowed`: only the
    /// roles it holds that the method allows.
    pub fn acting_for(mut self, allowed: &[Role]) -> Caller {
        self.roles.retain(|role| allowed.contains(role));
        self
    }

    /// All the caller's roles, alphabetical and space-separated, as audit
    /// trails record them.
    pub fn role_names(&self) -> String {
        let mut roles: Vec<&str> = self.roles.iter().map(|r| r.as_str()).collect();
        roles.sort_unstable();
        roles.join(" ")
    }

    /// The organisations a caller is confined to: `Some` unless the caller
    /// acts in a role other than borrower (one the method allows). A caller
    /// acting in no role at all is confined too (fail closed), to what its
    /// token names: nothing, for a token that names none.
    pub fn confined_to(&self) -> Option<&[String]> {
        let staff = self.roles.iter().any(|r| *r != Role::Borrower);
        if staff { None } else { Some(&self.organizations) }
    }

    /// The organisations a list is filtered by, when the caller `asked` for
    /// one (empty: none): a confined caller lists its own organisations
    /// whatever it asks for, or the one of them it asks for; asking for
    /// another is refused.
    pub fn organization_filter(&self, asked: &str) -> Result<Option<Vec<String>>, crate::error::FieldViolation> {
        match (self.confined_to(), asked) {
            (Some(own), "") => Ok(Some(own.to_vec())),
            (Some(own), asked) if own.iter().any(|o| o == asked) => Ok(Some(vec![asked.to_owned()])),
            (Some(_), _) => Err(crate::error::FieldViolation::new(
                "organization_number",
                "a borrower may list only the organisations its token names",
            )),
            (None, "") => Ok(None),
            (None, asked) => Ok(Some(vec![asked.to_owned()])),
        }
    }

    /// Whether the caller acts as a borrower of `organization`: the borrower
    /// role, bound to that organisation among others.
    pub fn is_borrower_of(&self, organization: &str) -> bool {
        self.has(Role::Borrower) && self.organizations.iter().any(|o| o == organization)
    }

    /// The caller's organisations as records keep them: comma-separated;
    /// empty for staff.
    pub fn organization_label(&self) -> String {
        self.organizations.join(",")
    }

    /// Everything that decides what this caller may see and do, as one
    /// string: subject, organisation and acting roles. An idempotent replay
    /// is only ever returned to the same context.
    pub fn context(&self) -> String {
        format!("{}\x1f{}\x1f{}", self.subject, self.organization_label(), self.role_names())
    }
}

/// The authenticated caller of a request; the call guard always puts one in
/// for the methods of a service's role table.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Caller, tonic::Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| tonic::Status::unauthenticated("no authenticated caller"))
}

/// The authenticated caller of `request` ([`caller`]) and what it asks.
pub fn open<T>(request: tonic::Request<T>) -> Result<(Caller, T), tonic::Status> {
    Ok((caller(&request)?, request.into_inner()))
}

/// Why a token was refused; the text goes back to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `authorization` metadata.
    #[error("missing bearer token: send `authorization: Bearer <JWT>`")]
    Missing,
    /// Not `Bearer <token>`.
    #[error("malformed authorization header: expected `Bearer <JWT>`")]
    Malformed,
    /// Expired token.
    #[error("token expired")]
    Expired,
    /// A token used before its `nbf` (not before) time.
    #[error("token not yet valid (its nbf is in the future)")]
    NotYetValid,
    /// Signature, issuer, audience or shape wrong.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The identity provider's keys have not loaded yet.
    #[error("the identity provider's signing keys are not loaded yet; try again shortly")]
    KeysUnavailable,
}

/// Verifies tokens against the configured key or key set. A token that
/// verified is remembered until its expiry (at most [`CACHE_ENTRIES`] of
/// them, and only while the key set is unchanged), so that a client sending
/// the same token on every call pays for the signature check once: the same
/// bytes give the same answer until `exp`. (For RS256/ES256 the check is tens
/// of microseconds, a large share of a read.)
#[derive(Clone)]
pub struct Verifier {
    keys: Keys,
    /// Issuer, audience, required claims, `nbf` and leeway; the algorithm is
    /// the key's own.
    validation: Validation,
    verified: std::sync::Arc<std::sync::Mutex<Cache>>,
}

#[derive(Clone)]
enum Keys {
    /// One key: HS256 for development, or the provider's PEM public key.
    One(crate::jwks::Key),
    /// The provider's key set, by `kid`.
    Set(std::sync::Arc<crate::jwks::KeySet>),
}

/// Verified tokens and the key set generation they were verified under.
#[derive(Default)]
struct Cache {
    generation: u64,
    tokens: HashMap<String, (Caller, u64)>,
}

/// How many verified tokens a verifier remembers; when full it forgets them all.
pub const CACHE_ENTRIES: usize = 4096;

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.keys {
            Keys::One(key) => f.debug_struct("Verifier").field("algorithm", &key.algorithm).finish(),
            Keys::Set(set) => f.debug_struct("Verifier").field("keys", set).finish(),
        }
    }
}

impl Verifier {
    /// Builds a verifier; reads the public key file when one is configured.
    /// A key set starts empty: [`Verifier::key_set`] is loaded and refreshed
    /// by the server ([`crate::jwks::KeySet::refresh`]).
    pub fn new(config: &AuthConfig) -> Result<Self, String> {
        let keys = match &config.key {
            TokenKey::Hs256(secret) => Keys::One(crate::jwks::Key {
                decoding: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
                algorithm: Algorithm::HS256,
            }),
            TokenKey::PublicKey { algorithm, pem_file } => {
                let pem =
                    std::fs::read(pem_file).map_err(|e| format!("AUTH_PUBLIC_KEY_FILE {}: {e}", pem_file.display()))?;
                let key = match algorithm {
                    Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
                    _ => DecodingKey::from_rsa_pem(&pem),
                }
                .map_err(|e| {
                    format!("AUTH_PUBLIC_KEY_FILE {} is not a {algorithm:?} public key: {e}", pem_file.display())
                })?;
                Keys::One(crate::jwks::Key { decoding: key, algorithm: *algorithm })
            }
            TokenKey::Jwks { source, min_refetch, .. } => {
                Keys::Set(std::sync::Arc::new(crate::jwks::KeySet::new(source.clone(), *min_refetch)))
            }
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = config.leeway.as_secs();
        Ok(Self { keys, validation, verified: Default::default() })
    }

    /// The key set this verifier takes its keys from, when it has one.
    pub fn key_set(&self) -> Option<std::sync::Arc<crate::jwks::KeySet>> {
        match &self.keys {
            Keys::Set(set) => Some(set.clone()),
            Keys::One(_) => None,
        }
    }

    /// The leeway granted past a token's expiry, in seconds.
    pub fn leeway_secs(&self) -> u64 {
        self.validation.leeway
    }

    /// Checks an `authorization` header value and returns the caller.
    pub async fn verify_header(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Malformed)?;
        self.verify(token).await
    }

    /// Checks a raw token and returns the caller.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let now = now_secs();
        let generation = self.key_set().map_or(0, |set| set.generation());
        {
            let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified.generation == generation
                && let Some((caller, exp)) = verified.tokens.get(token)
                && now < exp.saturating_add(self.validation.leeway)
            {
                return Ok(caller.clone());
            }
        }
        let key = self.key_for(token).await?;
        let (caller, exp) = self.check(token, &key)?;
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.tokens.len() >= CACHE_ENTRIES || verified.generation != generation {
            verified.tokens.clear();
            verified.generation = generation;
        }
        verified.tokens.insert(token.to_owned(), (caller.clone(), exp));
        Ok(caller)
    }

    /// The key that must have signed `token`: the one key, or the set's key
    /// for the token's `kid` (the set loads again for a `kid` it lacks).
    async fn key_for(&self, token: &str) -> Result<crate::jwks::Key, AuthError> {
        match &self.keys {
            Keys::One(key) => Ok(key.clone()),
            Keys::Set(set) => {
                if !set.is_loaded() {
                    return Err(AuthError::KeysUnavailable);
                }
                let header =
                    jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(format!("{:?}", e.kind())))?;
                let kid = header.kid.as_deref();
                set.get_or_load(kid).await.ok_or_else(|| {
                    AuthError::Invalid(match kid {
                        Some(_) => "signed with a key the identity provider does not publish (unknown `kid`)".into(),
                        None => "the token names no key (`kid`)".into(),
                    })
                })
            }
        }
    }

    /// The full check of a token: signature, issuer, audience, expiry, shape.
    fn check(&self, token: &str, key: &crate::jwks::Key) -> Result<(Caller, u64), AuthError> {
        let mut validation = self.validation.clone();
        validation.algorithms = vec![key.algorithm];
        let data =
            jsonwebtoken::decode::<ReceivedClaims>(token, &key.decoding, &validation).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                kind => AuthError::Invalid(format!("{kind:?}")),
            })?;
        let claims = data.claims;
        let printable = |text: &str| text.chars().count() <= MAX_CLAIM_CHARS && !text.chars().any(char::is_control);
        if claims.sub.trim().is_empty() || !printable(&claims.sub) {
            return Err(AuthError::Invalid(format!(
                "the subject (`sub`) must be 1 to {MAX_CLAIM_CHARS} printable characters"
            )));
        }
        let roles: HashSet<Role> = claims.roles.iter().filter_map(|name| name.parse().ok()).collect();
        let mut organizations: Vec<String> = Vec::new();
        for org in claims.org.into_iter().filter(|org| !org.is_empty()).chain(claims.orgs) {
            if org.is_empty() || !printable(&org) {
                return Err(AuthError::Invalid(format!(
                    "each of `org` and `orgs` must be 1 to {MAX_CLAIM_CHARS} printable characters"
                )));
            }
            if !organizations.contains(&org) {
                organizations.push(org);
            }
        }
        if organizations.len() > MAX_TOKEN_ORGS {
            return Err(AuthError::Invalid(format!("a token acts for at most {MAX_TOKEN_ORGS} organisations")));
        }
        if roles.contains(&Role::Borrower) && organizations.is_empty() {
            return Err(AuthError::Invalid("a borrower token must carry its organisation (`org` or `orgs`)".into()));
        }
        let exp = claims.exp;
        Ok((Caller { subject: claims.sub, roles, organizations, expires_at: exp }, exp))
    }
}

/// Mints tokens for local runs (the launcher prints them), tests, and a
/// stand-in identity provider in CI: HS256 with the development secret, or
/// ES256/EdDSA with a private key, naming its `kid`. Production tokens come
/// from the lender's identity provider.
pub struct DevTokenMinter {
    key: EncodingKey,
    algorithm: Algorithm,
    kid: Option<String>,
    issuer: String,
    audience: String,
}

impl DevTokenMinter {
    /// A minter for the given secret, issuer and audience.
    pub fn new(secret: &str, issuer: &str, audience: &str) -> Self {
        Self {
            key: EncodingKey::from_secret(secret.as_bytes()),
            algorithm: Algorithm::HS256,
            kid: None,
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// A minter signing with a PKCS#8 private key (PEM): an EC P-256 key signs
    /// ES256, an Ed25519 key EdDSA; tokens name `kid`.
    pub fn from_private_key(pem: &[u8], kid: &str, issuer: &str, audience: &str) -> Result<Self, String> {
        let (key, algorithm) = match crate::jwks::private_key_algorithm(pem)? {
            Algorithm::EdDSA => (EncodingKey::from_ed_pem(pem), Algorithm::EdDSA),
            algorithm => (EncodingKey::from_ec_pem(pem), algorithm),
        };
        let key = key.map_err(|e| format!("not a private key: {e}"))?;
        Ok(Self { key, algorithm, kid: Some(kid.to_owned()), issuer: issuer.into(), audience: audience.into() })
    }

    /// A token for `subject` with `roles`, bound to `org` if given, valid for `ttl`
    /// (a negative-looking expiry is made with `expired`).
    pub fn mint(&self, subject: &str, roles: &[Role], org: Option<&str>, ttl: Duration) -> String {
        self.sign(&Claims { org: org.map(str::to_owned), ..self.claims(subject, roles, ttl) })
    }

    /// A token for `subject` in `roles` acting for every one of `orgs` (the
    /// claim `orgs`).
    pub fn mint_orgs(&self, subject: &str, roles: &[Role], orgs: &[&str], ttl: Duration) -> String {
        let orgs = orgs.iter().map(|o| (*o).to_owned()).collect();
        self.sign(&Claims { orgs, ..self.claims(subject, roles, ttl) })
    }

    /// The claims of a token for `subject` in `roles`, valid for `ttl`, for no organisation.
    fn claims(&self, subject: &str, roles: &[Role], ttl: Duration) -> Claims {
        let now = now_secs();
        Claims {
            sub: subject.into(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + ttl.as_secs(),
            iat: now,
            nbf: None,
            roles: roles.to_vec(),
            org: None,
            orgs: Vec::new(),
        }
    }

    /// A token that expired `ago` ago.
    pub fn expired(&self, subject: &str, roles: &[Role], ago: Duration) -> String {
        let now = now_secs();
        let exp = now.saturating_sub(ago.as_secs());
        self.sign(&Claims { exp, iat: exp.saturating_sub(60), ..self.claims(subject, roles, Duration::ZERO) })
    }

    /// Signs arbitrary claims.
    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid.clone_from(&self.kid);
        jsonwebtoken::encode(&header, claims, &self.key).expect("signing with a parsed key cannot fail")
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Which roles may call which method of a service: the one readable table
/// per service. A method missing from the table is refused (fail closed).
#[derive(Debug)]
pub struct Policy {
    /// Fully-qualified gRPC service name, e.g. `socialloans.applications.v1.ApplicationsService`.
    pub service: &'static str,
    /// `(method name, allowed roles)`.
    pub methods: &'static [(&'static str, &'static [Role])],
}

impl Policy {
    /// The roles allowed on `path` (`/package.Service/Method`), or `None` when the
    /// path is not one of this service's methods.
    pub fn allowed(&self, path: &str) -> Option<&'static [Role]> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        if service != self.service {
            return None;
        }
        self.methods.iter().find(|(m, _)| *m == method).map(|(_, roles)| *roles)
    }

    /// The method `path` calls and the roles allowed on it, when `path` is
    /// one of this service's methods; the name is the policy's own (static)
    /// string, so it can label metrics without taking a client's bytes.
    pub fn method(&self, path: &str) -> Option<(&'static str, &'static [Role])> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        if service != self.service {
            return None;
        }
        self.methods.iter().find(|(m, _)| *m == method).copied()
    }
}

#[cfg(test)]
mod tests;
