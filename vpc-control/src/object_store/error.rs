//! OSS's errors: a code, a message and an HTTP status, answered as OSS's
//! XML (`<Error><Code>..</Code><Message>..</Message><RequestId>..`).
use thiserror::Error;

/// One refusal, as OSS words it. `status` is the HTTP status.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{code} ({status}): {message}")]
pub struct OssError {
    /// HTTP status.
    pub status: u16,
    /// OSS error code (`NoSuchBucket`, `AccessDenied`, ...).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The bucket named by the request, when the error is about it.
    pub bucket: Option<String>,
    /// Extra elements of the error body, e.g. `StringToSign` (name, value).
    pub extra: Vec<(&'static str, String)>,
}

impl OssError {
    /// An error of `status` and `code`.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            bucket: None,
            extra: Vec::new(),
        }
    }

    /// The same error, naming `bucket`.
    pub fn with_bucket(mut self, bucket: &str) -> Self {
        self.bucket = Some(bucket.to_string());
        self
    }

    /// The same error with one more element in its body.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// 400 InvalidArgument.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidArgument", message)
    }

    /// 403 AccessDenied.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(403, "AccessDenied", message)
    }

    /// 404 NoSuchBucket.
    pub fn no_such_bucket(bucket: &str) -> Self {
        Self::new(404, "NoSuchBucket", "The specified bucket does not exist.").with_bucket(bucket)
    }

    /// 404 NoSuchKey.
    pub fn no_such_key() -> Self {
        Self::new(404, "NoSuchKey", "The specified key does not exist.")
    }

    /// 400 MalformedXML.
    pub fn malformed_xml(why: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "MalformedXML",
            format!(
                "The XML you provided was not well-formed or did not validate against our published schema: {why}"
            ),
        )
    }

    /// 501 NotImplemented: an OSS feature this service refuses by name.
    pub fn not_implemented(what: impl std::fmt::Display) -> Self {
        Self::new(
            501,
            "NotImplemented",
            format!("{what} is not implemented by the lab's object storage service."),
        )
    }

    /// 500 InternalError (a disk failure).
    pub fn internal(why: impl std::fmt::Display) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("We encountered an internal error. Please try again. ({why})"),
        )
    }

    /// The XML body, with the request id and the host id.
    pub fn xml(&self, request_id: &str, host_id: &str) -> String {
        use super::xml::esc;
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n");
        s += &format!("  <Code>{}</Code>\n", esc(self.code));
        s += &format!("  <Message>{}</Message>\n", esc(&self.message));
        s += &format!("  <RequestId>{}</RequestId>\n", esc(request_id));
        s += &format!("  <HostId>{}</HostId>\n", esc(host_id));
        if let Some(b) = &self.bucket {
            s += &format!("  <BucketName>{}</BucketName>\n", esc(b));
        }
        for (k, v) in &self.extra {
            s += &format!("  <{k}>{}</{k}>\n", esc(v));
        }
        s += "</Error>\n";
        s
    }
}

impl From<std::io::Error> for OssError {
    fn from(e: std::io::Error) -> Self {
        OssError::internal(e)
    }
}
