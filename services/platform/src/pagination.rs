//! `page_size` / `page_token` pagination in the style of AIP-158.
//!
//! Tokens are opaque to clients: the service's keyset cursor, base64url-encoded
//! and bound to the query it came from, so a token cannot be replayed against a
//! different filter. A page size of 0 means the default; sizes above the maximum
//! are clamped, negative ones refused.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::error::FieldViolation;

/// Page size used when the client sends 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page served.
pub const MAX_PAGE_SIZE: u32 = 200;

/// The page size to serve for a requested `page_size`.
pub fn page_size(requested: i32) -> Result<u32, FieldViolation> {
    match requested {
        n if n < 0 => Err(FieldViolation::new("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as u32).min(MAX_PAGE_SIZE)),
    }
}

/// Encodes `cursor` for the query described by `query` (e.g. the filter).
pub fn encode_token(query: &str, cursor: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{query}\u{1f}{cursor}"))
}

/// Decodes a token for `query`; an empty token is the first page (`None`).
pub fn decode_token(query: &str, token: &str) -> Result<Option<String>, FieldViolation> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || FieldViolation::new("page_token", "is not a token this list returned for this query");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (token_query, cursor) = text.split_once('\u{1f}').ok_or_else(invalid)?;
    if token_query != query {
        return Err(invalid());
    }
    Ok(Some(cursor.to_owned()))
}

/// Encodes a keyset position — a creation time, then a unique key — for `query`.
pub fn encode_position<K: std::fmt::Display>(query: &str, time: chrono::DateTime<chrono::Utc>, key: &K) -> String {
    encode_token(query, &format!("{}|{key}", time.timestamp_micros()))
}

/// Decodes a position made by [`encode_position`]; an empty token is the first page.
pub fn decode_position<K: std::str::FromStr>(
    query: &str,
    token: &str,
) -> Result<Option<(chrono::DateTime<chrono::Utc>, K)>, FieldViolation> {
    let Some(cursor) = decode_token(query, token)? else { return Ok(None) };
    let parse = || {
        let (micros, key) = cursor.split_once('|')?;
        let time = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        // Only a time PostgreSQL can compare with: years 1 to 9999.
        let time = crate::limits::time(&crate::timestamp(time))?;
        Some((time, key.parse().ok()?))
    };
    parse().map(Some).ok_or_else(|| FieldViolation::new("page_token", "is not a token this list returned"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_clamps_and_refuses_negatives() {
        assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(10), Ok(10));
        assert_eq!(page_size(10_000), Ok(MAX_PAGE_SIZE));
        assert_eq!(page_size(-1).unwrap_err().field, "page_size");
    }

    #[test]
    fn a_token_round_trips_only_for_its_own_query() {
        let token = encode_token("state=DRAFT", "2026-01-01T00:00:00Z|abc");
        assert_eq!(decode_token("state=DRAFT", &token).unwrap().as_deref(), Some("2026-01-01T00:00:00Z|abc"));
        assert!(decode_token("state=SUBMITTED", &token).is_err());
        assert!(decode_token("state=DRAFT", "%%%not-base64").is_err());
        assert_eq!(decode_token("any", ""), Ok(None));
    }

    #[test]
    fn a_position_round_trips_with_its_time_and_key() {
        let time = chrono::DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let token = encode_position("q", time, &"code_1");
        assert_eq!(decode_position::<String>("q", &token), Ok(Some((time, "code_1".to_owned()))));
        let garbled = encode_token("q", "not-a-position");
        assert_eq!(decode_position::<String>("q", &garbled).unwrap_err().field, "page_token");
    }
}
