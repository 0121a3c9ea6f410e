//! The bonds service's errors: the platform's one error type, with its
//! default reasons.

/// Everything a bonds handler can fail with.
pub type Error = socialloans_platform::error::Error<socialloans_platform::error::Plain>;
