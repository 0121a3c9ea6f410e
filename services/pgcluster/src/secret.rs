//! Passwords and URL encoding.
//!
//! The superuser password is random so that a cluster left listening on
//! 127.0.0.1 is not an open door for other local users. No crates: 16 bytes
//! from `/dev/urandom`, hex-encoded (hex is also URL-safe, so the admin URL
//! needs no escaping).

use std::io::Read;

use crate::error::{Error, Result};

/// 32 hex characters of fresh randomness.
pub(crate) fn random_password() -> Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("reading /dev/urandom for a password", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Percent-encodes everything except RFC 3986 "unreserved" characters, which
/// is safe in any URL component (user, password, path).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hex_and_differ() {
        let a = random_password().unwrap();
        let b = random_password().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn encodes_reserved_and_non_ascii() {
        assert_eq!(percent_encode("plain-pw_1.~"), "plain-pw_1.~");
        assert_eq!(percent_encode("p@ss:w/rd %"), "p%40ss%3Aw%2Frd%20%25");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
