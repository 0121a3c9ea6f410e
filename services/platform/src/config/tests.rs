use super::*;

fn read(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut env = Env::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let config = Config::from_env(&mut env, DefaultPorts { grpc: 50051, metrics: 9091 });
    env.finish()?;
    Ok(config.expect("no error means a config"))
}

const SECRET: &str = "9f1c2a7be04d6c5318e2b7a9d0f4c6e1a3b5d7f9e2c4a6b8";

/// A local run's environment, with `extra`.
fn dev<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut pairs =
        vec![("DATABASE_URL", "postgres://a@b/c"), ("AUTH_HS256_SECRET", SECRET), ("AUTH_ALLOW_HS256", "development")];
    pairs.extend_from_slice(extra);
    pairs
}

#[test]
fn minimal_environment_gives_documented_defaults() {
    let config = read(&dev(&[])).unwrap();
    assert_eq!(config.grpc_addr.port(), 50051);
    assert_eq!(config.metrics_addr.port(), 9091);
    assert_eq!(config.max_message_bytes, 4 << 20);
    // 64 at once: 64 × 4 MiB × 2 + 64 MiB fits a 768 Mi pod; deploy/ sizes its own.
    assert_eq!(config.max_concurrent_requests, 64);
    assert!(config.tls.is_none());
    assert!(!config.migrate_on_start);
    assert_eq!(config.auth.issuer, "socialloans-dev");
}

#[test]
fn every_bad_variable_is_named_at_once() {
    let err =
        read(&[("GRPC_ADDR", "not-an-address"), ("GRPC_MAX_MESSAGE_BYTES", "12"), ("MIGRATE_ON_START", "perhaps")])
            .unwrap_err();
    let text = err.to_string();
    for name in ["GRPC_ADDR", "DATABASE_URL", "GRPC_MAX_MESSAGE_BYTES", "MIGRATE_ON_START", "AUTH_JWKS_URL"] {
        assert!(text.contains(name), "{name} missing from: {text}");
    }
}

#[test]
fn request_ids_are_remembered_at_least_the_promised_week() {
    let days = |d: &str| read(&dev(&[("REQUEST_LOG_RETENTION_DAYS", d)]));
    assert_eq!(read(&dev(&[])).unwrap().request_log_retention, std::time::Duration::from_secs(30 * 86_400));
    assert_eq!(days("7").unwrap().request_log_retention, std::time::Duration::from_secs(7 * 86_400));
    assert!(days("0").unwrap().request_log_retention.is_zero(), "0 keeps them for ever");
    let short = days("3").unwrap_err().to_string();
    assert!(short.contains("REQUEST_LOG_RETENTION_DAYS=3") && short.contains("at least 7 days"), "{short}");
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let mut pairs = dev(&[]);
    pairs[0].1 = "postgres://u:hunter2@h/d";
    let config = read(&pairs).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2") && !debug.contains(SECRET), "{debug}");
}

#[test]
fn tls_needs_both_certificate_and_key() {
    let err = read(&dev(&[("TLS_CERT_FILE", "/etc/hostname")])).unwrap_err();
    assert!(err.to_string().contains("TLS_CERT_FILE and TLS_KEY_FILE must be set together"), "{err}");
}

#[test]
fn hs256_is_refused_unless_development_is_said_out_loud() {
    for allow in [None, Some("true"), Some("yes"), Some("production"), Some("")] {
        let mut pairs = vec![("DATABASE_URL", "postgres://a@b/c"), ("AUTH_HS256_SECRET", SECRET)];
        if let Some(allow) = allow {
            pairs.push(("AUTH_ALLOW_HS256", allow));
        }
        let err = read(&pairs).unwrap_err().to_string();
        assert!(err.contains("AUTH_HS256_SECRET is for development only"), "{allow:?}: {err}");
    }
}

#[test]
fn a_placeholder_or_weak_secret_is_refused() {
    for (secret, why) in [
        ("short", "too short"),
        ("REPLACE-with-at-least-32-random-bytes-from-the-vault", "placeholder"),
        ("changeme-changeme-0a8f3c91d2e4b5f6a7c8d9e0", "placeholder"),
        ("0123456789abcdef0123456789abcdef", "repeats a pattern"),
        ("abababababababababababababababababab", "repeats a pattern"),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "randomness"),
        ("1111111111111111222222222222222233333333", "randomness"),
    ] {
        let err = read(&dev(&[("AUTH_HS256_SECRET", secret)][..])[..]).unwrap_err().to_string();
        assert!(err.contains("AUTH_HS256_SECRET is refused") && err.contains(why), "{secret}: {err}");
    }
    // What `openssl rand -hex 32` and the launcher make passes.
    assert!(strong_secret(SECRET).is_ok());
    assert!(strong_secret("3b0e9a6c51f2d84e7a1c0b9d6e3f5a2847c1d0e9b8a7f6e5d4c3b2a1908f7e6d").is_ok());
}

#[test]
fn one_source_of_token_keys_and_jwks_over_https_or_loopback() {
    let base = [("DATABASE_URL", "postgres://a@b/c")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(extra);
        read(&pairs)
    };
    let url = with(&[("AUTH_JWKS_URL", "https://idp.bank.example/.well-known/jwks.json")]).unwrap();
    assert!(matches!(
        url.auth.key,
        TokenKey::Jwks { source: crate::jwks::Source::Url { .. }, refresh, min_refetch }
            if refresh == Duration::from_secs(300) && min_refetch == Duration::from_secs(10)
    ));
    let file = with(&[("AUTH_JWKS_FILE", "/etc/hostname"), ("AUTH_JWKS_REFRESH_SECONDS", "60")]).unwrap();
    assert!(matches!(file.auth.key, TokenKey::Jwks { source: crate::jwks::Source::File(_), .. }));
    let plain = with(&[("AUTH_JWKS_URL", "http://idp.bank.example/jwks")]).unwrap_err().to_string();
    assert!(plain.contains("only for a provider on this machine"), "{plain}");
    assert!(with(&[("AUTH_JWKS_URL", "http://127.0.0.1:8080/jwks")]).is_ok());
    let two = with(&[("AUTH_JWKS_URL", "https://idp/jwks"), ("AUTH_PUBLIC_KEY_FILE", "/etc/hostname")])
        .unwrap_err()
        .to_string();
    assert!(two.contains("choose one source of token keys"), "{two}");
    let eddsa = with(&[("AUTH_PUBLIC_KEY_FILE", "/etc/hostname"), ("AUTH_ALGORITHM", "EdDSA")]).unwrap();
    assert!(matches!(eddsa.auth.key, TokenKey::PublicKey { algorithm: jsonwebtoken::Algorithm::EdDSA, .. }));
}

#[test]
fn a_choice_is_one_of_its_names_the_first_when_unset_and_anything_else_is_named_as_malformed() {
    let choices = [("json", true), ("text", false)];
    let mut env = Env::from_map([("LOG_FORMAT".to_owned(), "text".to_owned())].into());
    assert_eq!(env.choice("LOG_FORMAT", &choices), Some(false));
    assert_eq!(env.choice("UNSET", &choices), Some(true));
    assert!(env.finish().is_ok());
    let mut env = Env::from_map([("LOG_FORMAT".to_owned(), "xml".to_owned())].into());
    assert_eq!(env.choice("LOG_FORMAT", &[("a", 1), ("b", 2), ("c", 3)]), None);
    let err = env.finish().unwrap_err().to_string();
    assert!(err.contains("LOG_FORMAT=\"xml\" is malformed: expected a, b or c"), "{err}");
}
