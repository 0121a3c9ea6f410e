//! The service's one error type and its one mapping to `tonic::Status`.

use socialloans_platform::error::{self as status, FieldViolation};
use tonic::{Code, Status};

use crate::domain::IllegalTransition;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; every bad field is listed.
    #[error("invalid request")]
    InvalidArgument(Vec<FieldViolation>),
    /// The application lacks what the step needs; every gap is listed.
    #[error("{message}")]
    Incomplete {
        /// Stable reason, e.g. `APPLICATION_INCOMPLETE`.
        reason: &'static str,
        /// For a person.
        message: String,
        /// What is missing.
        violations: Vec<FieldViolation>,
    },
    /// The step is not allowed in the application's state.
    #[error("{0}")]
    IllegalTransition(IllegalTransition),
    /// A rule other than the state machine refuses the step.
    #[error("{message}")]
    Precondition {
        /// Stable reason, e.g. `CREDIT_NOT_APPROVED`.
        reason: &'static str,
        /// For a person.
        message: String,
    },
    /// The etag the client sent is not the current one.
    #[error("the application changed since it was read")]
    EtagMismatch {
        /// The current etag.
        current: String,
    },
    /// The caller may not do this to this application.
    #[error("{message}")]
    PermissionDenied {
        /// Stable reason.
        reason: &'static str,
        /// For a person.
        message: String,
    },
    /// The loan already finances another application.
    #[error("loan {loan_id} is tagged to {application}")]
    LoanTaggedElsewhere {
        /// Core banking's loan id.
        loan_id: String,
        /// The application it finances.
        application: String,
    },
    /// No such application, or not one the caller may see.
    #[error("{0} not found")]
    NotFound(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A status made elsewhere (the platform's idempotency, say).
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
                let message = format!("{} field(s) invalid: {}", violations.len(), status::field_names(&violations));
                status::invalid_argument("INVALID_ARGUMENT", &message, &violations)
            }
            Error::Incomplete { reason, message, violations } => {
                status::with_violations(Code::FailedPrecondition, reason, &message, &violations)
            }
            Error::IllegalTransition(t) => status::with_reason(
                Code::FailedPrecondition,
                "ILLEGAL_STATE_TRANSITION",
                t.to_string(),
                &[("state", t.from.as_str_name().to_owned())],
            ),
            Error::Precondition { reason, message } => {
                status::with_reason(Code::FailedPrecondition, reason, message, &[])
            }
            Error::EtagMismatch { current } => {
                status::etag_mismatch("the application changed since it was read; read it again and retry", current)
            }
            Error::PermissionDenied { reason, message } => {
                status::with_reason(Code::PermissionDenied, reason, message, &[])
            }
            Error::LoanTaggedElsewhere { loan_id, application } => status::with_reason(
                Code::AlreadyExists,
                "LOAN_TAGGED_ELSEWHERE",
                format!("loan {loan_id} already finances {application}; a loan is tagged to one application"),
                &[("loan_id", loan_id), ("application", application)],
            ),
            Error::NotFound(name) => status::not_found("APPLICATION_NOT_FOUND", name),
            Error::Database(err) => status::database("applications store", &err),
            Error::Status(status) => *status,
        }
    }
}
