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

/// Cuts `rows` (a list query's `size + 1` rows) to one page: at most `size`
/// rows within the page's byte budget ([`crate::limits::page_len`] of
/// `bytes`). Returns the token of the next page, the [`encode_position`] of
/// the last row kept, or "" when this page is the last.
pub fn cut_page<T, K: std::fmt::Display>(
    query: &str,
    rows: &mut Vec<T>,
    size: u32,
    bytes: impl Fn(&T) -> usize,
    position: impl Fn(&T) -> (chrono::DateTime<chrono::Utc>, K),
) -> String {
    let take = crate::limits::page_len(rows.iter().map(bytes), size as usize);
    if rows.len() <= take {
        return String::new();
    }
    rows.truncate(take);
    rows.last()
        .map(|last| {
            let (time, key) = position(last);
            encode_position(query, time, &key)
        })
        .unwrap_or_default()
}

/// As [`cut_page`], for lists in sequence order (a history, a chain): the
/// token holds the last row's sequence number.
pub fn cut_sequence_page<T>(query: &str, rows: &mut Vec<T>, size: u32, sequence: impl Fn(&T) -> i64) -> String {
    if rows.len() <= size as usize {
        return String::new();
    }
    rows.truncate(size as usize);
    rows.last().map(|last| encode_token(query, &sequence(last).to_string())).unwrap_or_default()
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

    #[test]
    fn a_page_is_cut_at_its_size_or_byte_budget_and_names_the_last_row_kept() {
        let at = |n: i64| chrono::DateTime::from_timestamp(1_700_000_000 + n, 0).unwrap();
        // Three rows for a page of two: two are kept, the token points after the second.
        let mut rows = vec![(1, 10), (2, 10), (3, 10)];
        let token = cut_page("q", &mut rows, 2, |r| r.1, |r| (at(r.0), r.0));
        assert_eq!(rows, [(1, 10), (2, 10)]);
        assert_eq!(decode_position::<i64>("q", &token).unwrap(), Some((at(2), 2)));
        // The last page has no token.
        let mut rows = vec![(1, 10), (2, 10)];
        assert_eq!(cut_page("q", &mut rows, 2, |r| r.1, |r| (at(r.0), r.0)), "");
        assert_eq!(rows.len(), 2);
        // Large rows end the page early, but never empty.
        let big = crate::limits::PAGE_BYTES;
        let mut rows = vec![(1, big), (2, big), (3, 1)];
        let token = cut_page("q", &mut rows, 50, |r| r.1, |r| (at(r.0), r.0));
        assert_eq!(rows.len(), 1);
        assert_eq!(decode_position::<i64>("q", &token).unwrap(), Some((at(1), 1)));
        // In sequence order.
        let mut rows = vec![7_i64, 8, 9];
        let token = cut_sequence_page("history", &mut rows, 2, |r| *r);
        assert_eq!((rows.as_slice(), decode_token("history", &token).unwrap()), (&[7, 8][..], Some("8".to_owned())));
    }
}
