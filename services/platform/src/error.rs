//! Building blocks for the one `From<Error> for tonic::Status` each service writes.
//!
//! Statuses carry `google.rpc` details a client can branch on: `BadRequest`
//! field violations for bad input, and `ErrorInfo` with a stable reason in the
//! `socialloans` domain. Internal errors are logged with their cause and sent
//! without it.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every Social Loans error.
pub const DOMAIN: &str = "socialloans";

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
pub fn with_violations(code: Code, reason: &str, message: &str, violations: &[FieldViolation]) -> Status {
    let mut details = ErrorDetails::with_error_info(reason, DOMAIN, []);
    for v in violations {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    Status::with_error_details(code, message, details)
}

/// A status of `code` with an `ErrorInfo` of `reason` and its metadata.
pub fn with_reason(code: Code, reason: &str, message: impl Into<String>, metadata: &[(&str, String)]) -> Status {
    let metadata =
        metadata.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect::<std::collections::HashMap<_, _>>();
    Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, DOMAIN, metadata))
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
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
            database_unavailable(err)
        }
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
    fn internal_errors_do_not_leak_their_cause() {
        let cause = std::io::Error::other("password=hunter2 at db-7");
        let status = internal("loading", &cause);
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
    }
}
