//! The small checks on request parameters every service module makes.
use crate::api::ApiError;

/// An optional text parameter, `None` when absent or empty (an empty value
/// is as if not given, as the cloud reads it; an empty filter is none).
pub(crate) fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// A required text parameter: empty is `MissingParameter` as absent is.
pub(crate) fn required<'a>(name: &str, v: &'a str) -> Result<&'a str, ApiError> {
    if v.is_empty() { Err(ApiError::missing(name)) } else { Ok(v) }
}

/// Refuses `true` for a feature this router does not have (`false` is what
/// it does anyway): `UnsupportedParameter`.
pub(crate) fn refuse_true(name: &str, value: Option<bool>) -> Result<(), ApiError> {
    if value == Some(true) { Err(ApiError::unsupported(name)) } else { Ok(()) }
}
