//! The committee service's errors: the platform's one error type, with its
//! default reasons; the committee has no failures of its own.

/// Everything a committee handler can fail with.
pub type Error = socialloans_platform::error::Error<socialloans_platform::error::Plain>;
