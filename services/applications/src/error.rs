//! The service's one error type and its one mapping to `tonic::Status`.

use socialloans_platform::error::{self as status, FieldViolation};
use tonic::{Code, Status};

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; every bad field is listed.
    #[error("invalid request")]
    InvalidArgument(Vec<FieldViolation>),
    /// No such application, or not one the caller may see.
    #[error("{0} not found")]
    NotFound(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<FieldViolation> for Error {
    fn from(violation: FieldViolation) -> Self {
        Error::InvalidArgument(vec![violation])
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument(violations) => {
                status::invalid_argument("INVALID_ARGUMENT", "the request has invalid fields", &violations)
            }
            Error::NotFound(name) => status::with_reason(
                Code::NotFound,
                "APPLICATION_NOT_FOUND",
                format!("{name} not found"),
                &[("name", name)],
            ),
            Error::Database(err) => status::database("applications store", &err),
        }
    }
}
