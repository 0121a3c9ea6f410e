//! The applications service's errors: the platform's one error type, with
//! the applications' reasons and the two failures only it has.

use socialloans_platform::error::{self as status, ServiceErrors};
use tonic::{Code, Status};

use crate::domain::IllegalTransition;

/// The applications' place in the shared error type.
#[derive(Debug)]
pub struct Applications;

impl ServiceErrors for Applications {
    const NOT_FOUND: &'static str = "APPLICATION_NOT_FOUND";
    const RESOURCE: &'static str = "the application";
    type Own = Own;
}

/// Everything an applications handler can fail with.
pub type Error = status::Error<Applications>;

/// What only the applications service fails with.
#[derive(Debug, thiserror::Error)]
pub enum Own {
    /// The step is not allowed in the application's state.
    #[error("{0}")]
    IllegalTransition(IllegalTransition),
    /// The loan already finances another application.
    #[error("loan {loan_id} is tagged to {application}")]
    LoanTaggedElsewhere {
        /// Core banking's loan id.
        loan_id: String,
        /// The application it finances.
        application: String,
    },
    /// No loan of that id is tagged to the application.
    #[error("loan {loan_id} is not tagged to {application}")]
    LoanNotFound {
        /// Core banking's loan id.
        loan_id: String,
        /// The application named.
        application: String,
    },
}

impl From<IllegalTransition> for Error {
    fn from(transition: IllegalTransition) -> Self {
        Error::Own(Own::IllegalTransition(transition))
    }
}

impl From<Own> for Status {
    fn from(own: Own) -> Self {
        match own {
            Own::IllegalTransition(t) => status::with_reason(
                Code::FailedPrecondition,
                "ILLEGAL_STATE_TRANSITION",
                t.to_string(),
                &[("state", t.from.as_str_name().to_owned())],
            ),
            Own::LoanTaggedElsewhere { loan_id, application } => status::with_reason(
                Code::AlreadyExists,
                "LOAN_TAGGED_ELSEWHERE",
                format!("loan {loan_id} already finances {application}; a loan is tagged to one application"),
                &[("loan_id", loan_id), ("application", application)],
            ),
            Own::LoanNotFound { loan_id, application } => status::with_reason(
                Code::NotFound,
                "LOAN_NOT_FOUND",
                if application.is_empty() {
                    format!("loan {loan_id} not found")
                } else {
                    format!("loan {loan_id} is not tagged to {application}")
                },
                &[("loan_id", loan_id), ("application", application)],
            ),
        }
    }
}
