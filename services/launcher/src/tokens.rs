//! Tokens for the story and for people trying the suite: HS256 with a
//! development secret kept in the local home (made on first use), which the
//! services `socialloans up` starts accept; or, for a suite that takes only
//! an identity provider's tokens (deploy/container/scale-out.sh), signed
//! with a stand-in provider's private key.

use std::{path::Path, time::Duration};

use socialloans_platform::{Role, auth::DevTokenMinter};

/// The issuer the services expect by default.
pub const ISSUER: &str = "socialloans-dev";
/// The audience the services expect by default.
pub const AUDIENCE: &str = "socialloans";
/// How long a development token is valid.
pub const TTL: Duration = Duration::from_secs(12 * 3600);
/// A well-formed example organisation number (Luhn check digit valid).
pub const EXAMPLE_ORG: &str = "212000-0142";

/// The development secret, made and stored on first use.
pub fn secret(home: &Path) -> Result<String, String> {
    let path = home.join("dev-auth-secret");
    if let Ok(secret) = std::fs::read_to_string(&path)
        && secret.trim().len() >= 32
    {
        return Ok(secret.trim().to_owned());
    }
    std::fs::create_dir_all(home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    let mut bytes = [0u8; 24];
    let mut urandom = std::fs::File::open("/dev/urandom").map_err(|e| format!("/dev/urandom: {e}"))?;
    std::io::Read::read_exact(&mut urandom, &mut bytes).map_err(|e| format!("/dev/urandom: {e}"))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Readable by its owner only: whoever reads it can mint any role.
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| file.write_all(secret.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(secret)
}

/// A token for `role`, bound to `org` for a borrower. Its subject names the
/// role and the organisation (`dev-borrower-556543-2109`): each organisation's
/// portal user is a person of its own.
pub fn mint(secret: &str, role: Role, org: Option<&str>) -> String {
    mint_with(&DevTokenMinter::new(secret, ISSUER, AUDIENCE), role, org)
}

/// A token for `role` as [`mint`] makes it, signed by `minter`.
pub fn mint_with(minter: &DevTokenMinter, role: Role, org: Option<&str>) -> String {
    let org = if role == Role::Borrower { Some(org.unwrap_or(EXAMPLE_ORG)) } else { org };
    let subject = match org {
        Some(org) => format!("dev-{role}-{org}"),
        None => format!("dev-{role}"),
    };
    match org.filter(|org| org.contains(',')) {
        // "212000-0142,556111-1112": a token for a municipality and its housing companies.
        Some(orgs) => minter.mint_orgs(&subject, &[role], &orgs.split(',').collect::<Vec<_>>(), TTL),
        None => minter.mint(&subject, &[role], org, TTL),
    }
}

/// Who signs: the private key in `SOCIALLOANS_TOKEN_KEY_FILE` (ES256 or
/// EdDSA, PKCS#8 PEM), named by `SOCIALLOANS_TOKEN_KID` (default
/// `socialloans`), when it is set, as a stand-in for the bank's identity
/// provider; otherwise the development secret.
pub fn minter(home: &Path) -> Result<DevTokenMinter, String> {
    match std::env::var("SOCIALLOANS_TOKEN_KEY_FILE").ok().filter(|f| !f.is_empty()) {
        Some(file) => {
            let pem = std::fs::read(&file).map_err(|e| format!("SOCIALLOANS_TOKEN_KEY_FILE {file}: {e}"))?;
            let kid = std::env::var("SOCIALLOANS_TOKEN_KID").unwrap_or_else(|_| "socialloans".to_owned());
            DevTokenMinter::from_private_key(&pem, &kid, ISSUER, AUDIENCE)
                .map_err(|e| format!("SOCIALLOANS_TOKEN_KEY_FILE {file}: {e}"))
        }
        None => Ok(DevTokenMinter::new(&secret(home)?, ISSUER, AUDIENCE)),
    }
}

/// `socialloans token ROLE [ORG]`.
pub fn print(home: &Path, role: &str, org: Option<&str>) -> Result<(), String> {
    let role: Role = role.parse().map_err(|e| {
        let all = Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
        format!("{e}; roles: {all}")
    })?;
    println!("{}", mint_with(&minter(home)?, role, org));
    Ok(())
}

/// `socialloans jwks KEYFILE [KID]`: the JWKS document with the public half
/// of a private key, for services given `AUTH_JWKS_FILE`.
pub fn print_jwks(key_file: &str, kid: Option<&str>) -> Result<(), String> {
    let pem = std::fs::read(key_file).map_err(|e| format!("{key_file}: {e}"))?;
    let key = socialloans_platform::jwks::public_jwk(&pem, kid.unwrap_or("socialloans"))
        .map_err(|e| format!("{key_file}: {e}"))?;
    println!("{}", serde_json::json!({ "keys": [key] }));
    Ok(())
}
