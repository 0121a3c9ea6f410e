//! Development tokens: HS256, signed with a secret kept in the local home
//! (made on first use), accepted by the services `socialloans up` starts.

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
    let org = if role == Role::Borrower { Some(org.unwrap_or(EXAMPLE_ORG)) } else { org };
    let subject = match org {
        Some(org) => format!("dev-{role}-{org}"),
        None => format!("dev-{role}"),
    };
    DevTokenMinter::new(secret, ISSUER, AUDIENCE).mint(&subject, &[role], org, TTL)
}

/// `socialloans token ROLE [ORG]`.
pub fn print(home: &Path, role: &str, org: Option<&str>) -> Result<(), String> {
    let role: Role = role.parse().map_err(|e| {
        let all = Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
        format!("{e}; roles: {all}")
    })?;
    println!("{}", mint(&secret(home)?, role, org));
    Ok(())
}
