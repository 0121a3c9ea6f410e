//! The monitoring service's errors: the platform's one error type, with
//! monitoring's reasons.

use socialloans_platform::error::{self, NoOwnErrors, ServiceErrors};

/// Monitoring's place in the shared error type.
#[derive(Debug)]
pub struct Monitoring;

impl ServiceErrors for Monitoring {
    const NOT_FOUND: &'static str = "NOT_FOUND";
    const STORE: &'static str = "monitoring store";
    const RESOURCE: &'static str = "the resource";
    type Own = NoOwnErrors;
}

/// Everything a monitoring handler can fail with.
pub type Error = error::Error<Monitoring>;
