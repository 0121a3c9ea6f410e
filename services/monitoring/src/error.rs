//! The monitoring service's errors: the platform's one error type, with its
//! default reasons; the monitoring has no failures of its own.

/// Everything a monitoring handler can fail with.
pub type Error = socialloans_platform::error::Error<socialloans_platform::error::Plain>;
