//! The one error type of every service ([`Error`], with the service's own
//! reasons through [`ServiceErrors`]) and its one mapping to `tonic::Status`,
//! and the building blocks of that mapping.
//!
//! Statuses carry `google.rpc` details a client can branch on: `BadRequest`
//! field violations for bad input, and `ErrorInfo` with a stable reason in the
//! `socialloans` domain. Internal errors are logged with their cause and sent
//! without it.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every Social Loans error.
pub const DOMAIN: &str = "socialloans";

/// Field violations an error lists at most; the rest are counted in the
/// `ErrorInfo` metadata (`violations_total`, `violations_omitted`).
pub const MAX_VIOLATIONS: usize = 50;
/// Bytes of field paths and descriptions an error lists at most.
const VIOLATION_BYTES: usize = 3_000;
/// The longest field path, description, message and metadata value sent.
const MAX_FIELD: usize = 120;
const MAX_DESCRIPTION: usize = 200;
const MAX_MESSAGE: usize = 300;
const MAX_METADATA: usize = 160;

/// `text` cut to at most `max` bytes on a character boundary, marked when cut.
/// An error's trailers stay under 8 KiB whatever the request held, so every
/// gRPC client (grpcio's default header limit is 16 KiB) can read them.
pub fn shortened(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// One invalid field: its path (e.g. `investment.total_amount.minor_units`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, dot-separated.
    pub field: String,
    /// What is wrong, for a person to read.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: description.into() }
    }
}

/// INVALID_ARGUMENT with every violation listed and reason `reason`.
pub fn invalid_argument(reason: &str, message: &str, violations: &[FieldViolation]) -> Status {
    with_violations(Code::InvalidArgument, reason, message, violations)
}

/// A status of `code` listing every violation (a `BadRequest`) with reason `reason`:
/// FAILED_PRECONDITION uses it for "not complete enough for this step".
/// At most [`MAX_VIOLATIONS`] violations are listed, each shortened; the
/// `ErrorInfo` metadata then says how many there were in all.
pub fn with_violations(code: Code, reason: &str, message: &str, violations: &[FieldViolation]) -> Status {
    let mut shown = Vec::new();
    let mut bytes = 0;
    for v in violations.iter().take(MAX_VIOLATIONS) {
        let (field, description) = (shortened(&v.field, MAX_FIELD), shortened(&v.description, MAX_DESCRIPTION));
        bytes += field.len() + description.len();
        if bytes > VIOLATION_BYTES {
            break;
        }
        shown.push((field, description));
    }
    let mut metadata = std::collections::HashMap::new();
    if shown.len() < violations.len() {
        metadata.insert("violations_total".to_owned(), violations.len().to_string());
        metadata.insert("violations_omitted".to_owned(), (violations.len() - shown.len()).to_string());
    }
    let mut details = ErrorDetails::with_error_info(reason, DOMAIN, metadata);
    for (field, description) in shown {
        details.add_bad_request_violation(field, description);
    }
    Status::with_error_details(code, shortened(message, MAX_MESSAGE), details)
}

/// A status of `code` with an `ErrorInfo` of `reason` and its metadata
/// (values shortened: they may echo what the client sent).
pub fn with_reason(code: Code, reason: &str, message: impl Into<String>, metadata: &[(&str, String)]) -> Status {
    let metadata = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), shortened(v, MAX_METADATA)))
        .collect::<std::collections::HashMap<_, _>>();
    let message = shortened(&message.into(), MAX_MESSAGE);
    Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, DOMAIN, metadata))
}

/// The names of the first few `violations`' fields, for an error message.
pub fn field_names(violations: &[FieldViolation]) -> String {
    let mut names = violations.iter().take(5).map(|v| shortened(&v.field, 60)).collect::<Vec<_>>().join(", ");
    if violations.len() > 5 {
        names.push_str(&format!(" and {} more", violations.len() - 5));
    }
    names
}

/// ABORTED (`ETAG_MISMATCH`): the resource changed since the client read it;
/// `current` is its etag now.
pub fn etag_mismatch(message: &str, current: String) -> Status {
    with_reason(Code::Aborted, "ETAG_MISMATCH", message, &[("current_etag", current)])
}

/// NOT_FOUND with `reason`, naming the resource (also when it exists but the
/// caller may not see it).
pub fn not_found(reason: &str, name: String) -> Status {
    with_reason(Code::NotFound, reason, format!("{name} not found"), &[("name", name)])
}

/// INTERNAL: logs `cause` with `context` and returns a status that names neither.
pub fn internal(context: &str, cause: &dyn std::error::Error) -> Status {
    tracing::error!(context, error = %cause, "internal error");
    with_reason(Code::Internal, "INTERNAL", "internal error; the service logged the cause", &[])
}

/// UNAVAILABLE for a database that cannot be reached now; clients may retry.
pub fn database_unavailable(cause: &dyn std::error::Error) -> Status {
    tracing::warn!(error = %cause, "database unavailable");
    with_reason(Code::Unavailable, "DATABASE_UNAVAILABLE", "the database is unavailable; retry later", &[])
}

/// Maps a database error that no service rule explained: connection problems
/// become UNAVAILABLE (retryable); a transaction PostgreSQL aborted because a
/// concurrent one touched the same rows (deadlock, serialization failure,
/// lock not available) becomes ABORTED — nothing of it was kept, so the
/// client retries with the same request_id; anything else INTERNAL.
pub fn database(context: &str, err: &sqlx::Error) -> Status {
    match err {
        sqlx::Error::Io(_) => {
            // A broken connection: the pool's others may be broken alike.
            crate::db::connection_lost();
            database_unavailable(err)
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => database_unavailable(err),
        // The server ended the session (a shutdown, a restart, a crash of another backend).
        sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")) => {
            crate::db::connection_lost();
            database_unavailable(err)
        }
        sqlx::Error::Database(db)
            if db.code().as_deref() == Some("23514")
                && let Some((resource, limit)) = db.constraint().and_then(crate::limits::size_constraint) =>
        {
            with_reason(
                Code::InvalidArgument,
                "TOO_LARGE",
                format!("the change would make the {resource} larger than the {limit} bytes allowed; nothing was kept"),
                &[("resource", resource.to_owned()), ("limit", limit.to_string())],
            )
        }
        // The statement outlived the call's deadline or the session's limit:
        // the server ended it, and nothing of it was kept.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => with_reason(
            Code::DeadlineExceeded,
            "STATEMENT_TIMEOUT",
            "the database work took longer than the call's deadline allows; nothing was kept",
            &[],
        ),
        // A text the database cannot store (NUL) that no check caught: the
        // client's input, so INVALID_ARGUMENT, never INTERNAL.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("22021") => with_reason(
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            "a text in the request holds a character that cannot be stored (NUL)",
            &[],
        ),
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001" | "55P03")) => {
            tracing::info!(error = %err, context, "a concurrent change aborted the transaction");
            with_reason(
                Code::Aborted,
                "CONCURRENT_CHANGE",
                "a concurrent change to the same records aborted this one; nothing was kept: retry with the same request_id",
                &[],
            )
        }
        _ => internal(context, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_every_field_violation_and_the_reason() {
        let status = invalid_argument(
            "INCOMPLETE_APPLICATION",
            "2 fields are invalid",
            &[FieldViolation::new("a", "missing"), FieldViolation::new("b.c", "too long")],
        );
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details.bad_request().unwrap().field_violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["a", "b.c"]);
        assert_eq!(details.error_info().unwrap().reason, "INCOMPLETE_APPLICATION");
    }

    #[test]
    fn an_error_lists_at_most_fifty_violations_and_stays_small_whatever_the_request_held() {
        let many: Vec<FieldViolation> = (0..100_000)
            .map(|i| FieldViolation::new(format!("sdg_targets[{i}]{}", "é".repeat(500)), "x".repeat(10_000)))
            .collect();
        let status = invalid_argument("INVALID_ARGUMENT", &"m".repeat(100_000), &many);
        let details = status.get_error_details();
        let listed = details.bad_request().unwrap().field_violations.len();
        assert!((1..=MAX_VIOLATIONS).contains(&listed), "{listed}");
        let info = details.error_info().unwrap();
        assert_eq!(info.metadata["violations_total"], "100000");
        assert_eq!(info.metadata["violations_omitted"], (100_000 - listed).to_string());
        let mut trailers = http::HeaderMap::new();
        status.add_header(&mut trailers).unwrap();
        let bytes: usize = trailers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
        assert!(bytes < 8 * 1024, "{bytes} bytes of trailers");
        // A few violations are listed whole, with no counts.
        let few = invalid_argument("INVALID_ARGUMENT", "2", &many[..0]);
        assert!(few.get_error_details().error_info().unwrap().metadata.is_empty());
    }

    #[test]
    fn shortening_cuts_on_a_character_boundary() {
        assert_eq!(shortened("åäö", 100), "åäö");
        let cut = shortened(&"å".repeat(100), 10);
        assert!(cut.len() <= 10 && cut.ends_with("..."), "{cut}");
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let cause = std::io::Error::other("password=hunter2 at db-7");
        let status = internal("loading", &cause);
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
    }
}

/// What one service adds to the shared [`Error`]: its NOT_FOUND reason and
/// how its messages name the resource, where it has better words than the
/// defaults, and failures of its own.
pub trait ServiceErrors: std::fmt::Debug + 'static {
    /// The `ErrorInfo` reason of NOT_FOUND (`APPLICATION_NOT_FOUND`).
    const NOT_FOUND: &'static str = "NOT_FOUND";
    /// How a message names the resource a call works on (`the application`).
    const RESOURCE: &'static str = "the resource";
    /// Failures only this service has (a state machine's refusal, say).
    type Own: std::fmt::Debug + std::fmt::Display + Into<Status>;
}

/// A service with the default reasons and no failures of its own.
#[derive(Debug)]
pub struct Plain;

impl ServiceErrors for Plain {
    type Own = NoOwnErrors;
}

/// For a service with no failures of its own.
#[derive(Debug)]
pub enum NoOwnErrors {}

impl std::fmt::Display for NoOwnErrors {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

impl From<NoOwnErrors> for Status {
    fn from(never: NoOwnErrors) -> Self {
        match never {}
    }
}

/// Everything a handler of service `S` can fail with.
#[derive(Debug)]
pub enum Error<S: ServiceErrors> {
    /// The request is malformed; every bad field is listed.
    InvalidArgument(Vec<FieldViolation>),
    /// The resource lacks what the step needs; every gap is listed.
    Incomplete {
        /// Stable reason, e.g. `APPLICATION_INCOMPLETE`.
        reason: &'static str,
        /// For a person.
        message: String,
        /// What is missing.
        violations: Vec<FieldViolation>,
    },
    /// A rule refuses the step in the current state.
    Precondition {
        /// Stable reason a client can branch on.
        reason: &'static str,
        /// For a person.
        message: String,
    },
    /// The etag the client sent is not the current one.
    EtagMismatch {
        /// The current etag.
        current: String,
    },
    /// The caller may not do this to this resource (four eyes, say).
    PermissionDenied {
        /// Stable reason a client can branch on.
        reason: &'static str,
        /// For a person.
        message: String,
    },
    /// It exists already (a member's subject, an indicator code).
    AlreadyExists(String),
    /// No such resource, or not one the caller may see.
    NotFound(String),
    /// The database failed.
    Database(sqlx::Error),
    /// A status made elsewhere (the platform's idempotency, say).
    Status(Box<Status>),
    /// A failure of the service's own.
    Own(S::Own),
}

impl<S: ServiceErrors> std::fmt::Display for Error<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidArgument(violations) => write!(f, "invalid request: {}", field_names(violations)),
            Error::Incomplete { message, .. }
            | Error::Precondition { message, .. }
            | Error::PermissionDenied { message, .. }
            | Error::AlreadyExists(message) => f.write_str(message),
            Error::EtagMismatch { .. } => write!(f, "{} changed since it was read", S::RESOURCE),
            Error::NotFound(name) => write!(f, "{name} not found"),
            Error::Database(err) => write!(f, "database: {err}"),
            Error::Status(status) => write!(f, "{status}"),
            Error::Own(own) => write!(f, "{own}"),
        }
    }
}

impl<S: ServiceErrors> std::error::Error for Error<S> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Database(err) => Some(err),
            _ => None,
        }
    }
}

impl<S: ServiceErrors> From<sqlx::Error> for Error<S> {
    fn from(err: sqlx::Error) -> Self {
        Error::Database(err)
    }
}

impl<S: ServiceErrors> From<FieldViolation> for Error<S> {
    fn from(violation: FieldViolation) -> Self {
        Error::InvalidArgument(vec![violation])
    }
}

impl<S: ServiceErrors> From<Status> for Error<S> {
    fn from(status: Status) -> Self {
        Error::Status(Box::new(status))
    }
}

impl<S: ServiceErrors> From<Error<S>> for Status {
    fn from(err: Error<S>) -> Self {
        match err {
            Error::InvalidArgument(violations) => {
                let message = format!("{} field(s) invalid: {}", violations.len(), field_names(&violations));
                invalid_argument("INVALID_ARGUMENT", &message, &violations)
            }
            Error::Incomplete { reason, message, violations } => {
                with_violations(Code::FailedPrecondition, reason, &message, &violations)
            }
            Error::Precondition { reason, message } => with_reason(Code::FailedPrecondition, reason, message, &[]),
            Error::EtagMismatch { current } => {
                etag_mismatch(&format!("{} changed since it was read; read it again and retry", S::RESOURCE), current)
            }
            Error::PermissionDenied { reason, message } => with_reason(Code::PermissionDenied, reason, message, &[]),
            Error::AlreadyExists(message) => with_reason(Code::AlreadyExists, "ALREADY_EXISTS", message, &[]),
            Error::NotFound(name) => not_found(S::NOT_FOUND, name),
            Error::Database(err) => database("store", &err),
            Error::Status(status) => *status,
            Error::Own(own) => own.into(),
        }
    }
}
