//! The committee service's errors: the platform's one error type, with the
//! committee's reasons.

use socialloans_platform::error::{self, NoOwnErrors, ServiceErrors};

/// The committee's place in the shared error type.
#[derive(Debug)]
pub struct Committee;

impl ServiceErrors for Committee {
    const NOT_FOUND: &'static str = "NOT_FOUND";
    const STORE: &'static str = "committee store";
    const RESOURCE: &'static str = "the resource";
    type Own = NoOwnErrors;
}

/// Everything a committee handler can fail with.
pub type Error = error::Error<Committee>;
