//! Who may do what: the gateway endpoint's policy (for requests that came
//! through one), then the bucket policy (an explicit Deny refuses; the
//! bucket owner is allowed unless denied; another account needs an Allow),
//! then the bucket's canned ACL for everyone else.
use super::{ObjectStore, RequestOrigin, error::OssError, storage::BucketMeta};

/// Actions a `public-read` ACL opens to anyone.
const READ_ACTIONS: &[&str] = &["oss:GetObject", "oss:ListObjects"];
/// Actions `public-read-write` opens too.
const WRITE_ACTIONS: &[&str] = &["oss:PutObject", "oss:DeleteObject"];

/// Checks a bucket policy document when it is put.
pub fn validate(doc: &str) -> Result<(), OssError> {
    let _ = doc;
    Err(OssError::not_implemented(
        "PutBucketPolicy (waiting for the policy language)",
    ))
}

/// Whether `caller` (an account id; None: anonymous) may do `action` on
/// `resource` of `bucket` (None: no bucket yet, ListBuckets and PutBucket).
pub fn authorize(
    store: &ObjectStore,
    caller: Option<&str>,
    origin: &RequestOrigin,
    action: &str,
    bucket: Option<&BucketMeta>,
    resource: &str,
) -> Result<(), OssError> {
    let _ = (store, origin, resource);
    let denied = || {
        OssError::access_denied(format!(
            "You have no right to access this object because of bucket acl or policy ({action})."
        ))
    };
    let Some(b) = bucket else {
        return caller.map(|_| ()).ok_or_else(denied);
    };
    if caller == Some(b.owner.as_str()) {
        return Ok(());
    }
    let acl_allows = match b.acl.as_str() {
        "public-read" => READ_ACTIONS.contains(&action),
        "public-read-write" => READ_ACTIONS.contains(&action) || WRITE_ACTIONS.contains(&action),
        _ => false,
    };
    if acl_allows {
        return Ok(());
    }
    Err(denied())
}
