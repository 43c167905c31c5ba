//! The cloud's RPC-style API: one action per call, flat parameters
//! (`Name.1`, `Name.1.Field`), JSON answers carrying a RequestId, errors as
//! {RequestId, Code, Message}. [`signature`] checks who is calling;
//! [`form`] decodes the parameters into an action's typed request;
//! [`crate::service`] runs the actions. Each action belongs to one
//! [`Product`] and is served only under that product's API version.
pub mod form;
pub mod signature;

use serde_json::{Value, json};

use crate::{apply::ApplyError, store::StoreError, validate::ValidationError};

/// An API product of the cloud, named by its API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// The VPC API, 2016-04-28 (vpc.aliyuncs.com).
    Vpc,
    /// The ECS API, 2014-05-26 (ecs.aliyuncs.com): instances, security groups.
    Ecs,
    /// The NLB API, 2022-04-30 (nlb.<region>.aliyuncs.com): network load
    /// balancers, server groups, listeners.
    Nlb,
    /// The PrivateLink API, 2020-04-15 (privatelink.<region>.aliyuncs.com):
    /// endpoint services, interface endpoints, their connections.
    PrivateLink,
    /// The PrivateZone API, 2018-01-01 (pvtz.aliyuncs.com): private DNS
    /// zones, their records and the VPCs they answer in.
    Pvtz,
}

impl Product {
    /// Every product served.
    pub const ALL: [Product; 5] = [Product::Vpc, Product::Ecs, Product::Nlb, Product::PrivateLink, Product::Pvtz];

    /// The API version that names this product in a call.
    pub const fn version(self) -> &'static str {
        match self {
            Product::Vpc => "2016-04-28",
            Product::Ecs => "2014-05-26",
            Product::Nlb => "2022-04-30",
            Product::PrivateLink => "2020-04-15",
            Product::Pvtz => "2018-01-01",
        }
    }

    /// The product's code, as the cloud's endpoints and SDKs name it.
    pub const fn code(self) -> &'static str {
        match self {
            Product::Vpc => "Vpc",
            Product::Ecs => "Ecs",
            Product::Nlb => "Nlb",
            Product::PrivateLink => "Privatelink",
            Product::Pvtz => "pvtz",
        }
    }

    /// The product whose API version is `version`.
    pub fn from_version(version: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.version() == version)
    }

    /// Every version served.
    pub fn versions() -> Vec<&'static str> {
        Self::ALL.iter().map(|p| p.version()).collect()
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The account id (owner) of the caller's access key.
    pub account_id: String,
    /// True for the root-only Unix socket: the local administrator sees and
    /// may change the resources of every account.
    pub admin: bool,
}

impl Caller {
    /// True if the caller may see a resource owned by `owner_id`.
    pub fn owns(&self, owner_id: &str) -> bool {
        self.admin || self.account_id == owner_id
    }
}

/// An error as the cloud reports it: HTTP status, Code and Message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The cloud's error code, e.g. `InvalidVpcId.NotFound`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into() }
    }

    /// 400 with `code`.
    pub fn bad(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 404 `<What>.NotFound`.
    pub fn not_found(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    /// `MissingParameter`.
    pub fn missing(name: &str) -> Self {
        Self::bad("MissingParameter", format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."))
    }

    /// `InvalidParameter` naming the parameter.
    pub fn invalid(name: &str, why: impl std::fmt::Display) -> Self {
        Self::bad("InvalidParameter", format!("The specified parameter \"{name}\" is not valid: {why}"))
    }

    /// `UnsupportedParameter`: a parameter of the action's SDK model that
    /// this router does not implement.
    pub fn unsupported(name: &str) -> Self {
        Self::bad(
            "UnsupportedParameter",
            format!("The parameter \"{name}\" is not supported by this router (see docs/api.md); leave it out."),
        )
    }

    /// 503 `ServiceUnavailable`: the router cannot take the call now (its
    /// state store cannot write); retrying later may succeed.
    pub fn unavailable(message: impl std::fmt::Display) -> Self {
        Self::new(503, "ServiceUnavailable", format!("The request has failed due to a temporary failure of the server: {message}"))
    }

    /// 500 `InternalError`.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(500, "InternalError", format!("The request processing has failed due to some unknown error: {message}"))
    }

    /// The cloud's answer to a DryRun call that would have succeeded.
    pub fn dry_run_passed() -> Self {
        Self::bad("DryRunOperation", "Request validation has been passed with DryRun flag set.")
    }

    /// The error body.
    pub fn body(&self, request_id: &str) -> Value {
        json!({
            "RequestId": request_id,
            "HostId": "vpc-router",
            "Code": self.code,
            "Message": self.message,
            "Recommend": "",
        })
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let code = e.code();
        let status = if code.ends_with(".NotFound") { 404 } else { 400 };
        Self::new(status, code, e.to_string())
    }
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Invalid(v) => v.into(),
            other => Self::new(if other.code() == "InternalError" { 500 } else { 400 }, other.code(), other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Flush(_) => Self::unavailable(format!(
                "the state store could not make the change durable ({e}): it may not have been kept; retry once the state directory's disk has space"
            )),
            _ if e.is_storage() => Self::unavailable(format!(
                "the state store could not write the change ({e}): it was not kept; retry once the state directory's disk has space"
            )),
            _ => Self::internal(e),
        }
    }
}

/// A RequestId in the cloud's shape (`6E3BD5F2-0A0C-5C24-9F3E-3B4B0C1D2E3F`).
pub fn new_request_id() -> String {
    let hex = |n: usize| (0..n).map(|_| std::char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0').to_ascii_uppercase()).collect::<String>();
    format!("{}-{}-{}-{}-{}", hex(8), hex(4), hex(4), hex(4), hex(12))
}

/// A new resource id: `prefix-` and 20 lowercase letters and digits, as the
/// cloud's ids (`vpc-bp1...`). Also the instance's namespace name.
pub fn new_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let tail: String = (0..20).map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char).collect();
    format!("{prefix}-{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_the_clouds() {
        let id = new_id("vpc");
        assert!(id.starts_with("vpc-") && id.len() == 24, "{id}");
        let r = new_request_id();
        assert_eq!(r.len(), 36, "{r}");
        assert!(r.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase()), "{r}");
    }

    #[test]
    fn not_found_codes_are_404() {
        let e: ApiError = ValidationError::UnknownVpc { id: "vpc-x".into(), by: "x".into() }.into();
        assert_eq!((e.status, e.code.as_str()), (404, "InvalidVpcId.NotFound"));
    }
}
