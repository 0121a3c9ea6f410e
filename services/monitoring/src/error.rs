//! The monitoring service's one error type and its one mapping to `tonic::Status`.

use socialloans_platform::error::{self as status, FieldViolation};
use tonic::{Code, Status};

/// Everything a monitoring handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; every bad field is listed.
    #[error("invalid request")]
    InvalidArgument(Vec<FieldViolation>),
    /// A rule refuses the step in the current state.
    #[error("{message}")]
    Precondition {
        /// Stable reason a client can branch on.
        reason: &'static str,
        /// For a person.
        message: String,
    },
    /// Not complete enough for the step; every gap listed.
    #[error("incomplete")]
    Incomplete(Vec<FieldViolation>),
    /// The etag the client sent is not the current one.
    #[error("changed since it was read")]
    EtagMismatch {
        /// The current etag.
        current: String,
    },
    /// The caller may not do this to this resource (four eyes).
    #[error("{message}")]
    PermissionDenied {
        /// Stable reason a client can branch on.
        reason: &'static str,
        /// For a person.
        message: String,
    },
    /// Already exists (an indicator code).
    #[error("{0}")]
    AlreadyExists(String),
    /// No such resource, or not one the caller may see.
    #[error("{0} not found")]
    NotFound(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A status made elsewhere (the platform's idempotency).
    #[error("{0}")]
    Status(Box<Status>),
}

impl From<FieldViolation> for Error {
    fn from(violation: FieldViolation) -> Self {
        Error::InvalidArgument(vec![violation])
    }
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Error::Status(Box::new(status))
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument(violations) => {
                status::invalid_argument("INVALID_ARGUMENT", "the request has invalid fields", &violations)
            }
            Error::PermissionDenied { reason, message } => {
                status::with_reason(Code::PermissionDenied, reason, message, &[])
            }
            Error::Precondition { reason, message } => {
                status::with_reason(Code::FailedPrecondition, reason, message, &[])
            }
            Error::Incomplete(violations) => status::with_violations(
                Code::FailedPrecondition,
                "REPORT_INCOMPLETE",
                "the report is not complete enough to submit",
                &violations,
            ),
            Error::EtagMismatch { current } => {
                status::etag_mismatch("changed since it was read; read it again and retry", current)
            }
            Error::AlreadyExists(message) => status::with_reason(Code::AlreadyExists, "ALREADY_EXISTS", message, &[]),
            Error::NotFound(name) => status::not_found("NOT_FOUND", name),
            Error::Database(err) => status::database("monitoring store", &err),
            Error::Status(status) => *status,
        }
    }
}
