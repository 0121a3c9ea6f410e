use super::*;
use crate::config::Secret;

const SECRET: &str = "8d2f6b1e9c4a7035e1d8b6f2a9c4e7031b5d8f2a6c9e4b7d";

fn verifier(secret: &str) -> Verifier {
    Verifier::new(&AuthConfig {
        key: TokenKey::Hs256(Secret::from(secret)),
        issuer: "iss".into(),
        audience: "aud".into(),
        leeway: Duration::ZERO,
    })
    .unwrap()
}

fn minter() -> DevTokenMinter {
    DevTokenMinter::new(SECRET, "iss", "aud")
}

#[tokio::test]
async fn a_valid_token_yields_the_caller_with_roles_and_organisation() {
    let token = minter().mint("anna", &[Role::Borrower], Some("556000-0000"), Duration::from_secs(60));
    let caller = verifier(SECRET).verify_header(Some(&format!("Bearer {token}"))).await.unwrap();
    assert_eq!(caller.subject, "anna");
    assert!(caller.has(Role::Borrower));
    assert_eq!(caller.confined_to(), Some(&["556000-0000".to_owned()][..]));
}

#[tokio::test]
async fn a_token_for_several_organisations_confines_to_exactly_those() {
    let v = verifier(SECRET);
    let orgs = ["212000-0142", "556111-1112", "556222-2223"];
    let token = minter().mint_orgs("kommunen", &[Role::Borrower], &orgs, Duration::from_secs(60));
    let caller = v.verify(&token).await.unwrap();
    assert_eq!(caller.confined_to().unwrap(), orgs);
    assert!(orgs.iter().all(|o| caller.is_borrower_of(o)) && !caller.is_borrower_of("556000-0000"));
    assert_eq!(caller.organization_filter("").unwrap().unwrap(), orgs);
    assert_eq!(caller.organization_filter(orgs[1]).unwrap().unwrap(), [orgs[1]]);
    assert_eq!(caller.organization_filter("556000-0000").unwrap_err().field, "organization_number");
    // `org` and `orgs` together: each once, `org` first.
    let both = Claims { orgs: vec![orgs[1].into(), orgs[0].into()], ..claims("k", &[Role::Borrower], Some(orgs[0])) };
    let caller = v.verify(&minter().sign(&both)).await.unwrap();
    assert_eq!(caller.confined_to().unwrap(), [orgs[0], orgs[1]]);
    // Too many, an empty or an unprintable one: the token is refused.
    let many: Vec<String> = (0..=MAX_TOKEN_ORGS).map(|i| format!("556{i:03}-0000")).collect();
    for bad in [many, vec![String::new()], vec!["a\u{0}b".into()], vec!["x".repeat(MAX_CLAIM_CHARS + 1)]] {
        let token = minter().sign(&Claims { orgs: bad, ..claims("k", &[Role::Borrower], None) });
        assert!(matches!(v.verify(&token).await, Err(AuthError::Invalid(_))));
    }
    // A context names every organisation: a replay never crosses to a token for fewer.
    let one = v.verify(&minter().mint("kommunen", &[Role::Borrower], Some(orgs[0]), Duration::from_secs(60))).await;
    let three = v.verify(&minter().mint_orgs("kommunen", &[Role::Borrower], &orgs, Duration::from_secs(60))).await;
    assert_ne!(one.unwrap().context(), three.unwrap().context());
}

#[tokio::test]
async fn a_verified_token_is_remembered_only_until_it_expires() {
    let v = verifier(SECRET);
    let token = minter().mint("anna", &[Role::Analyst], None, Duration::from_secs(60));
    let first = v.verify(&token).await.unwrap();
    assert_eq!(v.verified.lock().unwrap().tokens.len(), 1);
    assert_eq!(v.verify(&token).await.unwrap(), first, "the second call is answered from memory");
    // An entry past its expiry is not trusted: the token is checked in full again.
    let stale = Caller {
        subject: "mallory".into(),
        roles: [Role::Auditor].into_iter().collect(),
        organizations: Vec::new(),
        expires_at: 1,
    };
    v.verified.lock().unwrap().tokens.insert("stale-token".into(), (stale, 1));
    assert!(matches!(v.verify("stale-token").await, Err(AuthError::Invalid(_))));
    // The memory is bounded.
    for n in 0..CACHE_ENTRIES + 10 {
        let token = minter().mint(&format!("user-{n}"), &[Role::Analyst], None, Duration::from_secs(60));
        v.verify(&token).await.unwrap();
    }
    assert!(v.verified.lock().unwrap().tokens.len() <= CACHE_ENTRIES);
}

#[tokio::test]
async fn missing_malformed_expired_and_forged_tokens_are_refused() {
    let v = verifier(SECRET);
    assert_eq!(v.verify_header(None).await, Err(AuthError::Missing));
    assert_eq!(v.verify_header(Some("Basic abc")).await, Err(AuthError::Malformed));
    let expired = minter().expired("x", &[Role::Analyst], Duration::from_secs(3600));
    assert_eq!(v.verify(&expired).await, Err(AuthError::Expired));
    let forged = DevTokenMinter::new("another-secret-another-secret-12345", "iss", "aud").mint(
        "x",
        &[Role::Analyst],
        None,
        Duration::from_secs(60),
    );
    assert!(matches!(v.verify(&forged).await, Err(AuthError::Invalid(_))));
}

#[tokio::test]
async fn wrong_issuer_or_audience_is_refused() {
    let v = verifier(SECRET);
    let wrong_iss =
        DevTokenMinter::new(SECRET, "evil", "aud").mint("x", &[Role::Analyst], None, Duration::from_secs(60));
    let wrong_aud =
        DevTokenMinter::new(SECRET, "iss", "other").mint("x", &[Role::Analyst], None, Duration::from_secs(60));
    assert!(matches!(v.verify(&wrong_iss).await, Err(AuthError::Invalid(_))));
    assert!(matches!(v.verify(&wrong_aud).await, Err(AuthError::Invalid(_))));
}

#[tokio::test]
async fn a_borrower_token_without_organisation_is_refused() {
    let token = minter().mint("x", &[Role::Borrower], None, Duration::from_secs(60));
    assert!(matches!(verifier(SECRET).verify(&token).await, Err(AuthError::Invalid(_))));
}

#[test]
fn policy_answers_only_for_its_own_listed_methods() {
    static POLICY: Policy =
        Policy { service: "pkg.FooService", methods: &[("GetFoo", &[Role::Analyst, Role::Auditor])] };
    assert_eq!(POLICY.allowed("/pkg.FooService/GetFoo"), Some(&[Role::Analyst, Role::Auditor][..]));
    assert_eq!(POLICY.allowed("/pkg.FooService/DeleteFoo"), None);
    assert_eq!(POLICY.allowed("/pkg.BarService/GetFoo"), None);
}

#[tokio::test]
async fn an_es256_token_from_the_identity_provider_verifies_against_its_public_key_file() {
    let idp = rcgen::KeyPair::generate().unwrap(); // ECDSA P-256
    let dir = std::env::temp_dir().join(format!("socialloans-es256-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem_file = dir.join("idp.pub.pem");
    std::fs::write(&pem_file, idp.public_key_pem()).unwrap();
    let verifier = Verifier::new(&AuthConfig {
        key: TokenKey::PublicKey { algorithm: Algorithm::ES256, pem_file },
        issuer: "https://idp.example".into(),
        audience: "socialloans".into(),
        leeway: Duration::ZERO,
    })
    .unwrap();
    let claims = Claims {
        sub: "core-banking".into(),
        iss: "https://idp.example".into(),
        aud: "socialloans".into(),
        exp: now_secs() + 60,
        iat: now_secs(),
        nbf: None,
        roles: vec![Role::CoreBanking],
        org: None,
        orgs: Vec::new(),
    };
    let signing = EncodingKey::from_ec_pem(idp.serialize_pem().as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &signing).unwrap();
    assert!(verifier.verify(&token).await.unwrap().has(Role::CoreBanking));

    // An HS256 token made with the public key as "secret" must not pass (algorithm confusion).
    let confused = DevTokenMinter::new(&idp.public_key_pem(), "https://idp.example", "socialloans").sign(&claims);
    assert!(matches!(verifier.verify(&confused).await, Err(AuthError::Invalid(_))));
    let _ = std::fs::remove_dir_all(&dir);
}

fn claims(sub: &str, roles: &[Role], org: Option<&str>) -> Claims {
    Claims {
        sub: sub.into(),
        iss: "iss".into(),
        aud: "aud".into(),
        exp: now_secs() + 60,
        iat: now_secs(),
        nbf: None,
        roles: roles.to_vec(),
        org: org.map(str::to_owned),
        orgs: Vec::new(),
    }
}

#[tokio::test]
async fn an_empty_or_unprintable_subject_is_refused() {
    let v = verifier(SECRET);
    for sub in ["", "   ", "a\0b", &"x".repeat(MAX_CLAIM_CHARS + 1)] {
        let token = minter().sign(&claims(sub, &[Role::CommitteeMember], None));
        assert!(matches!(v.verify(&token).await, Err(AuthError::Invalid(_))), "{sub:?} was accepted");
    }
}

#[tokio::test]
async fn a_token_before_its_not_before_time_is_refused_with_its_own_reason() {
    let v = verifier(SECRET);
    let early = Claims { nbf: Some(now_secs() + 3600), ..claims("anna", &[Role::Analyst], None) };
    assert_eq!(v.verify(&minter().sign(&early)).await, Err(AuthError::NotYetValid));
    let due = Claims { nbf: Some(now_secs().saturating_sub(5)), ..claims("anna", &[Role::Analyst], None) };
    assert!(v.verify(&minter().sign(&due)).await.is_ok());
}

#[tokio::test]
async fn an_audience_list_and_unknown_roles_are_read_as_identity_providers_write_them() {
    let v = verifier(SECRET);
    let now = now_secs();
    let claims = serde_json::json!({
        "sub": "anna", "iss": "iss", "aud": ["other-api", "aud"], "exp": now + 60,
        "roles": ["analyst", "sharepoint_admin"],
    });
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes()))
            .unwrap();
    let caller = v.verify(&token).await.unwrap();
    assert_eq!(caller.roles, [Role::Analyst].into_iter().collect());
    let wrong =
        serde_json::json!({"sub": "anna", "iss": "iss", "aud": ["other-api"], "exp": now + 60, "roles": ["analyst"]});
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &wrong, &EncodingKey::from_secret(SECRET.as_bytes()))
            .unwrap();
    assert!(matches!(v.verify(&token).await, Err(AuthError::Invalid(_))));
}

#[test]
fn a_confined_caller_lists_its_own_organisation_whatever_it_asks_for() {
    let borrower = Caller {
        subject: "eva".into(),
        roles: [Role::Borrower].into_iter().collect(),
        organizations: vec!["556000-0000".into()],
        expires_at: 0,
    };
    assert_eq!(borrower.organization_filter("").unwrap().unwrap(), ["556000-0000"]);
    assert_eq!(borrower.organization_filter("556000-0000").unwrap().unwrap(), ["556000-0000"]);
    assert_eq!(borrower.organization_filter("556000-0001").unwrap_err().field, "organization_number");
    let analyst = Caller { roles: [Role::Analyst].into_iter().collect(), organizations: Vec::new(), ..borrower };
    assert_eq!(analyst.organization_filter("").unwrap(), None);
    assert_eq!(analyst.organization_filter("556000-0001").unwrap().unwrap(), ["556000-0001"]);
}

#[test]
fn a_caller_acts_only_in_the_roles_the_method_allows_and_is_confined_unless_one_is_staff() {
    let mixed = Caller {
        subject: "eva".into(),
        roles: [Role::Borrower, Role::CommitteeMember].into_iter().collect(),
        organizations: vec!["556000-0000".into()],
        expires_at: 0,
    };
    // A method for borrowers and analysts: the committee role does not count.
    let acting = mixed.clone().acting_for(&[Role::Borrower, Role::Analyst]);
    assert_eq!(acting.confined_to().unwrap(), ["556000-0000"]);
    assert!(acting.is_borrower_of("556000-0000") && !acting.is_borrower_of("556000-0001"));
    // A method the committee role may call: unconfined, and not a borrower there.
    let acting = mixed.clone().acting_for(&[Role::CommitteeMember]);
    assert_eq!(acting.confined_to(), None);
    assert!(!acting.is_borrower_of("556000-0000"));
    // Acting in nothing is confined to nothing.
    let staff = Caller { organizations: Vec::new(), ..mixed.clone() }.acting_for(&[]);
    assert_eq!(staff.confined_to(), Some(&[][..]));
    // The context of a replay holds organisation and roles.
    let other_org = Caller { organizations: vec!["556000-0001".into()], ..mixed.clone() };
    assert_ne!(mixed.context(), other_org.context());
}

#[test]
fn roles_round_trip_through_their_claim_names() {
    for role in Role::ALL {
        assert_eq!(role.as_str().parse::<Role>(), Ok(role));
    }
}

/// A key set file in a fresh directory, and a verifier reading it.
struct Provider {
    dir: std::path::PathBuf,
    keys: Vec<(String, String)>, // (kid, private key PEM)
}

impl Provider {
    fn new(label: &str) -> Provider {
        let dir = std::env::temp_dir().join(format!("socialloans-jwks-{label}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Provider { dir, keys: Vec::new() }
    }

    fn file(&self) -> std::path::PathBuf {
        self.dir.join("jwks.json")
    }

    /// Publishes `kids` (new keys are made; P-256, or Ed25519 for kids starting with "ed").
    fn publish(&mut self, kids: &[&str]) {
        for kid in kids {
            if !self.keys.iter().any(|(k, _)| k == kid) {
                let pair = if kid.starts_with("ed") {
                    rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap()
                } else {
                    rcgen::KeyPair::generate().unwrap()
                };
                self.keys.push(((*kid).to_owned(), pair.serialize_pem()));
            }
        }
        let published: Vec<serde_json::Value> = self
            .keys
            .iter()
            .filter(|(kid, _)| kids.contains(&kid.as_str()))
            .map(|(kid, pem)| crate::jwks::public_jwk(pem.as_bytes(), kid).unwrap())
            .collect();
        std::fs::write(self.file(), serde_json::json!({ "keys": published }).to_string()).unwrap();
    }

    fn token(&self, kid: &str) -> String {
        let pem = &self.keys.iter().find(|(k, _)| k == kid).unwrap().1;
        let minter = DevTokenMinter::from_private_key(pem.as_bytes(), kid, "iss", "aud").unwrap();
        minter.mint("core", &[Role::CoreBanking], None, Duration::from_secs(60))
    }

    fn verifier(&self, min_refetch: Duration) -> Verifier {
        Verifier::new(&AuthConfig {
            key: TokenKey::Jwks {
                source: crate::jwks::Source::File(self.file()),
                refresh: Duration::from_secs(300),
                min_refetch,
            },
            issuer: "iss".into(),
            audience: "aud".into(),
            leeway: Duration::ZERO,
        })
        .unwrap()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_key_set_rotates_by_kid_and_forgets_withdrawn_keys() {
    let mut idp = Provider::new("rotate");
    idp.publish(&["a"]);
    let v = idp.verifier(Duration::ZERO);
    let set = v.key_set().unwrap();
    assert_eq!(v.verify(&idp.token("a")).await, Err(AuthError::KeysUnavailable), "nothing loaded yet");
    set.load().await.unwrap();
    assert!(v.verify(&idp.token("a")).await.unwrap().has(Role::CoreBanking));
    // The provider adds a key and signs with it: the unknown kid loads the set again.
    idp.publish(&["a", "ed-b"]);
    assert!(v.verify(&idp.token("ed-b")).await.unwrap().has(Role::CoreBanking), "EdDSA, found on reload");
    // It withdraws the old key: once the set reloads, even a remembered token of it is refused.
    let old = idp.token("a");
    assert!(v.verify(&old).await.is_ok());
    idp.publish(&["ed-b"]);
    set.load().await.unwrap();
    assert!(matches!(v.verify(&old).await, Err(AuthError::Invalid(_))), "withdrawn key, cache or not");
}

#[tokio::test]
async fn unknown_kids_reload_the_set_at_most_once_per_interval() {
    let mut idp = Provider::new("refetch");
    idp.publish(&["a", "b"]);
    let v = idp.verifier(Duration::from_secs(3600));
    let set = v.key_set().unwrap();
    set.load().await.unwrap();
    let forged_kids: Vec<String> = (0..50)
        .map(|n| {
            // A key of the forger's own, under a made-up kid.
            let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
            DevTokenMinter::from_private_key(pem.as_bytes(), &format!("made-up-{n}"), "iss", "aud").unwrap().mint(
                "x",
                &[Role::Analyst],
                None,
                Duration::from_secs(60),
            )
        })
        .collect();
    for token in &forged_kids {
        assert!(matches!(v.verify(token).await, Err(AuthError::Invalid(_))));
    }
    assert_eq!(set.attempts(), 1, "the load at start is recent: none of 50 unknown kids loads again");
    // A kid-less token is refused while the set holds several keys.
    let pem = &idp.keys[0].1;
    let mut kidless = DevTokenMinter::from_private_key(pem.as_bytes(), "a", "iss", "aud").unwrap();
    kidless.kid = None;
    let token = kidless.mint("x", &[Role::Analyst], None, Duration::from_secs(60));
    assert!(matches!(v.verify(&token).await, Err(AuthError::Invalid(_))));
}

#[tokio::test]
async fn a_key_set_never_verifies_an_hs256_token_or_a_token_under_another_algorithm() {
    let mut idp = Provider::new("confusion");
    idp.publish(&["a"]);
    let v = idp.verifier(Duration::ZERO);
    v.key_set().unwrap().load().await.unwrap();
    // HS256 "signed" with the published key material, naming the key's kid.
    let published = std::fs::read_to_string(idp.file()).unwrap();
    let mut hs = DevTokenMinter::new(&published, "iss", "aud");
    hs.kid = Some("a".into());
    let token = hs.mint("x", &[Role::Analyst], None, Duration::from_secs(60));
    assert!(matches!(v.verify(&token).await, Err(AuthError::Invalid(_))));
    // An Ed25519 key's token claiming the P-256 key's kid.
    idp.publish(&["a", "ed-z"]);
    let pem = &idp.keys.iter().find(|(k, _)| k == "ed-z").unwrap().1;
    let lying = DevTokenMinter::from_private_key(pem.as_bytes(), "a", "iss", "aud").unwrap();
    let token = lying.mint("x", &[Role::Analyst], None, Duration::from_secs(60));
    assert!(matches!(v.verify(&token).await, Err(AuthError::Invalid(_))));
}
