//! The notices service's errors: the platform's one error type, with its
//! default reasons.

/// Everything a notices handler can fail with.
pub type Error = socialloans_platform::error::Error<socialloans_platform::error::Plain>;
