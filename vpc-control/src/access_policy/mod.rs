//! Access policies in the RAM policy language (POL-1, POL-2): parse and
//! validate a document, then decide requests against it. Pure: no I/O.
//!
//! Used for VPC endpoint policies (PolicyDocument of the gateway endpoint
//! actions) and OSS bucket policies (Put/GetBucketPolicy).
//!
//! # Grammar accepted
//!
//! ```text
//! policy     = { "Version": "1", "Statement": [ statement, ... ] }      (one or more)
//! statement  = { "Sid"?: string,                  (a label, kept in the text only)
//!                "Effect": "Allow" | "Deny",
//!                ("Action" | "NotAction"): action | [ action, ... ],
//!                ("Resource" | "NotResource"): resource | [ resource, ... ],
//!                "Principal"?: principal,
//!                "Condition"?: { operator: { key: value | [ value, ... ] } } }
//! action     = "*" | "<service>:<name>"            (wildcards * ? in both parts)
//! resource   = "*" | "acs:<service>:<region>:<account>:<relative id>"  (wildcards)
//! principal  = "*" | "<account id>" | [ ... ] | { "RAM": "acs:ram::<account>:root" | [ ... ] }
//! value      = string | number | boolean
//! ```
//!
//! Element names, `Effect` values and operator names are case-sensitive, as
//! in the RAM documentation's grammar. Action names are matched
//! case-insensitively (RAM: "the values are generally case-insensitive");
//! resources, principals and condition values case-sensitively (object names
//! are). Condition key names are matched case-insensitively.
//!
//! # Evaluation (POL-2)
//!
//! A statement applies to a request when its Principal, Action, Resource and
//! every condition match. Any applying Deny gives [`Decision::ExplicitDeny`];
//! otherwise any applying Allow gives [`Decision::Allow`]; otherwise
//! [`Decision::ImplicitDeny`]. Within a Condition the operators and keys are
//! AND'ed, the values of one key OR'ed. A key absent from the request makes
//! its condition false, except for the negated operators (StringNotEquals,
//! StringNotEqualsIgnoreCase, StringNotLike, NumericNotEquals, DateNotEquals,
//! NotIpAddress), which are the exact negation of their positive operator and
//! so are true when the key is absent. RAM's documents do not spell this
//! rule out; it is the one the other cloud's IAM documents for the same
//! language, and it is what makes POL-3's bucket policy deny a request from
//! the internet (no `acs:SourceVpc`): "StringNotEquals acs:SourceVpc vpc-x"
//! then holds, as OSS's walkthrough expects.
//!
//! Bucket policies ([`PolicyUse::Bucket`]) add OSS's rules: every statement
//! names its Principal, a statement conditioned on `acs:SourceIp` also
//! conditions `acs:SourceVpc`, a statement is at most 4,095 bytes, and
//! [`Policy::evaluate_bucket_policy`] leaves the bucket owner out of
//! statements with Principal `*` and no Condition.
mod json;
mod wildcard;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, FixedOffset};
use ipnet::IpNet;

use json::Json;

/// The condition keys the router's services fill in.
pub mod keys {
    /// The VPC a request came from (`vpc-...`), absent from the internet.
    pub const SOURCE_VPC: &str = "acs:SourceVpc";
    /// The source IP address of a request (an instance's private address
    /// through an endpoint, the public address from the internet).
    pub const SOURCE_IP: &str = "acs:SourceIp";
    /// The VPC endpoint a request crossed (`vpce-...`), absent otherwise.
    /// Alibaba Cloud documents no key for the endpoint id; this is the
    /// router's name for it, after the other cloud's `aws:SourceVpce`.
    pub const SOURCE_VPCE: &str = "acs:SourceVpce";
    /// `"true"` when the request came over HTTPS, else `"false"`.
    pub const SECURE_TRANSPORT: &str = "acs:SecureTransport";
    /// The time of the request, ISO 8601 (`2026-12-04T21:00:00Z`).
    pub const CURRENT_TIME: &str = "acs:CurrentTime";
    /// The AccessKey id that signed the request, absent when anonymous.
    pub const ACCESS_ID: &str = "acs:AccessId";
}

/// Longest OSS bucket policy, in bytes (PutBucketPolicy: 16 KB).
pub const BUCKET_POLICY_MAX_BYTES: usize = 16 * 1024;
/// Longest statement of a bucket policy, in bytes written compactly (OSS
/// EC 0030-00000003).
pub const BUCKET_STATEMENT_MAX_BYTES: usize = 4095;
/// Longest RAM policy document, in characters (CreatePolicy: 6,144).
pub const RAM_POLICY_MAX_CHARS: usize = 6144;
/// Longest VPC endpoint policy, in characters. The VPC API documents no
/// figure for PolicyDocument; endpoint policies are RAM policy documents, so
/// they get RAM's limit.
pub const ENDPOINT_POLICY_MAX_CHARS: usize = RAM_POLICY_MAX_CHARS;

/// The document of [`Policy::allow_all`]: everything to everyone (POL-2).
pub const ALLOW_ALL_DOCUMENT: &str = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Principal":"*","Resource":"*"}]}"#;

/// Where a policy is used: decides its size limit and whether statements
/// name a Principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyUse {
    /// An OSS bucket policy: at most [`BUCKET_POLICY_MAX_BYTES`] bytes and
    /// every statement names its Principal (OSS: "required for bucket
    /// policies").
    Bucket,
    /// A VPC endpoint policy: at most [`ENDPOINT_POLICY_MAX_CHARS`]
    /// characters; a statement without Principal applies to everyone.
    Endpoint,
    /// A RAM identity policy: at most [`RAM_POLICY_MAX_CHARS`] characters,
    /// no Principal (the identity it is attached to is the principal).
    Ram,
    /// No particular use ([`Policy::parse`]): the largest limit (bucket
    /// policies' 16 KiB) and an optional Principal.
    Any,
}

impl PolicyUse {
    /// The limit and the length of `document` in the limit's unit.
    fn measure(self, document: &str) -> (usize, usize, &'static str) {
        match self {
            PolicyUse::Bucket | PolicyUse::Any => {
                (document.len(), BUCKET_POLICY_MAX_BYTES, "bytes")
            }
            PolicyUse::Endpoint => (
                document.chars().count(),
                ENDPOINT_POLICY_MAX_CHARS,
                "characters",
            ),
            PolicyUse::Ram => (document.chars().count(), RAM_POLICY_MAX_CHARS, "characters"),
        }
    }
}

/// Why a policy document is refused. The Display text is the message of the
/// API error; it names the place (`Statement[1].Condition`, 0-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The document is longer than its use allows.
    #[error("The policy document is too long: {len} {unit}, at most {max} allowed.")]
    TooLong {
        len: usize,
        max: usize,
        unit: &'static str,
    },
    /// A bucket policy statement longer than OSS allows.
    #[error("{place}: the statement is too long: {len} bytes, at most {max} allowed.")]
    StatementTooLong {
        place: String,
        len: usize,
        max: usize,
    },
    /// A bucket policy statement conditioned on acs:SourceIp but not on
    /// acs:SourceVpc.
    #[error(
        "{place}: a condition on acs:SourceIp needs a condition on acs:SourceVpc in the same statement."
    )]
    SourceIpWithoutSourceVpc { place: String },
    /// The document is not JSON (a key given twice in one object counts).
    #[error("The policy document is not valid JSON: {0}.")]
    Json(String),
    /// A value has the wrong JSON type.
    #[error("{place}: expected {expected}, found {found}.")]
    WrongType {
        place: String,
        expected: &'static str,
        found: &'static str,
    },
    /// An element the policy language does not have (names are case-sensitive).
    #[error("{place}: unknown element \"{name}\".")]
    UnknownElement { place: String, name: String },
    /// A required element is missing.
    #[error("{place}: the element \"{name}\" is required.")]
    MissingElement { place: String, name: String },
    /// An element this use of policies does not allow (Principal in a RAM policy).
    #[error("{place}: the element \"{name}\" is not allowed in {what}.")]
    NotAllowed {
        place: String,
        name: &'static str,
        what: &'static str,
    },
    /// Two elements that exclude each other (Action and NotAction).
    #[error("{place}: \"{first}\" and \"{second}\" cannot both be given.")]
    Conflict {
        place: String,
        first: &'static str,
        second: &'static str,
    },
    /// A Version other than "1".
    #[error("Version: unsupported version {found}; the only version is \"1\".")]
    BadVersion { found: String },
    /// An Effect other than Allow or Deny.
    #[error("{place}: invalid effect {found}; use \"Allow\" or \"Deny\".")]
    BadEffect { place: String, found: String },
    /// A list that needs at least one entry is empty (Statement, Action, ...).
    #[error("{place}: must not be empty.")]
    Empty { place: String },
    /// An action not of the form `service:Name` (or `*`).
    #[error("{place}: invalid action {value:?}; use \"*\" or \"<service>:<action>\".")]
    BadAction { place: String, value: String },
    /// A resource not of the form `acs:service:region:account:id` (or `*`).
    #[error(
        "{place}: invalid resource {value:?}; use \"*\" or \"acs:<service>:<region>:<account>:<resource>\"."
    )]
    BadResource { place: String, value: String },
    /// A principal this language has no meaning for.
    #[error("{place}: invalid principal {value:?}: {reason}.")]
    BadPrincipal {
        place: String,
        value: String,
        reason: &'static str,
    },
    /// A condition operator the language does not have (names are case-sensitive).
    #[error("{place}: unknown operator {operator:?}.")]
    UnknownOperator { place: String, operator: String },
    /// A condition key not of the form `prefix:Name`.
    #[error(
        "{place}: invalid condition key {key:?}; use \"<prefix>:<name>\" such as \"acs:SourceVpc\"."
    )]
    BadConditionKey { place: String, key: String },
    /// A condition value its operator cannot read (a malformed CIDR block, a
    /// Bool that is not true or false, ...).
    #[error("{place}: invalid value {value:?}; expected {expected}.")]
    BadConditionValue {
        place: String,
        value: String,
        expected: &'static str,
    },
}

impl PolicyError {
    /// The OSS error detail code (EC) PutBucketPolicy gives for this
    /// refusal: 0030-00000001 too long, 0030-00000002 a Version other than
    /// "1", 0030-00000003 a statement too long, 0030-00000008 acs:SourceIp
    /// without acs:SourceVpc, 0030-00000005 any other departure from the
    /// grammar (OSS's own example: `"Version": 1`, a number). A body that is
    /// not UTF-8 (0030-00000004) never reaches the parser: the caller
    /// refuses it while reading the body into a `&str`.
    pub fn oss_ec(&self) -> &'static str {
        match self {
            PolicyError::TooLong { .. } => "0030-00000001",
            PolicyError::BadVersion { .. } => "0030-00000002",
            PolicyError::StatementTooLong { .. } => "0030-00000003",
            PolicyError::SourceIpWithoutSourceVpc { .. } => "0030-00000008",
            _ => "0030-00000005",
        }
    }
}

/// Condition keys and their values for one request (single-valued). Key
/// names are case-insensitive.
#[derive(Default, Clone, Debug)]
pub struct Context {
    values: HashMap<String, String>,
}

impl Context {
    /// Sets `key` (replacing an earlier value).
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_ascii_lowercase(), value.into());
    }

    /// The value of `key`, if the request has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.values.remove(&key.to_ascii_lowercase());
    }
}

/// What is asked: who, which action, on what, in which context.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The requester's account id; None: anonymous.
    pub account_id: Option<&'a str>,
    /// The action, `oss:GetObject`.
    pub action: &'a str,
    /// The resource, `acs:oss:cn-hangzhou:1234:examplebucket/a.txt`.
    pub resource: &'a str,
    /// The condition keys.
    pub context: &'a Context,
}

/// The answer of a policy to a request (POL-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An Allow statement applies and no Deny does.
    Allow,
    /// A Deny statement applies (beats any Allow).
    ExplicitDeny,
    /// No statement applies.
    ImplicitDeny,
}

/// A parsed and validated policy, with the document it came from.
#[derive(Clone, Debug)]
pub struct Policy {
    document: String,
    statements: Vec<Statement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// Patterns of Action/NotAction or Resource/NotResource.
#[derive(Clone, Debug)]
struct Patterns {
    /// NotAction / NotResource: the statement covers everything else.
    negated: bool,
    /// Lower-cased for actions.
    patterns: Vec<String>,
}

#[derive(Clone, Debug)]
enum Principals {
    /// No Principal element: the statement is about any requester.
    Unspecified,
    /// `*` (or an empty list, which OSS treats as `*`): anyone, anonymous too.
    Anyone,
    /// These account ids.
    Accounts(Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    NotIpAddress,
}

/// Every operator with its name, as written in documents.
const OPERATORS: &[(&str, Operator)] = &[
    ("StringEquals", Operator::StringEquals),
    ("StringNotEquals", Operator::StringNotEquals),
    ("StringEqualsIgnoreCase", Operator::StringEqualsIgnoreCase),
    (
        "StringNotEqualsIgnoreCase",
        Operator::StringNotEqualsIgnoreCase,
    ),
    ("StringLike", Operator::StringLike),
    ("StringNotLike", Operator::StringNotLike),
    ("NumericEquals", Operator::NumericEquals),
    ("NumericNotEquals", Operator::NumericNotEquals),
    ("NumericLessThan", Operator::NumericLessThan),
    ("NumericLessThanEquals", Operator::NumericLessThanEquals),
    ("NumericGreaterThan", Operator::NumericGreaterThan),
    (
        "NumericGreaterThanEquals",
        Operator::NumericGreaterThanEquals,
    ),
    ("DateEquals", Operator::DateEquals),
    ("DateNotEquals", Operator::DateNotEquals),
    ("DateLessThan", Operator::DateLessThan),
    ("DateLessThanEquals", Operator::DateLessThanEquals),
    ("DateGreaterThan", Operator::DateGreaterThan),
    ("DateGreaterThanEquals", Operator::DateGreaterThanEquals),
    ("Bool", Operator::Bool),
    ("IpAddress", Operator::IpAddress),
    ("NotIpAddress", Operator::NotIpAddress),
];

impl Operator {
    /// The negated operators: true when their positive form is false, so
    /// also when the key is absent.
    fn negated(self) -> bool {
        matches!(
            self,
            Operator::StringNotEquals
                | Operator::StringNotEqualsIgnoreCase
                | Operator::StringNotLike
                | Operator::NumericNotEquals
                | Operator::DateNotEquals
                | Operator::NotIpAddress
        )
    }
}

/// The policy values of one condition key, read for its operator.
#[derive(Clone, Debug)]
enum Values {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Dates(Vec<DateTime<FixedOffset>>),
    Bools(Vec<bool>),
    Nets(Vec<IpNet>),
}

#[derive(Clone, Debug)]
struct Condition {
    operator: Operator,
    key: String,
    values: Values,
}

#[derive(Clone, Debug)]
struct Statement {
    effect: Effect,
    action: Patterns,
    resource: Patterns,
    principal: Principals,
    conditions: Vec<Condition>,
}

impl Policy {
    /// Parses and validates `document` for no particular use
    /// ([`PolicyUse::Any`]); services call [`Policy::parse_for`].
    pub fn parse(document: &str) -> Result<Policy, PolicyError> {
        Policy::parse_for(document, PolicyUse::Any)
    }

    /// Parses and validates `document` with the limit and Principal rule of
    /// `usage`.
    pub fn parse_for(document: &str, usage: PolicyUse) -> Result<Policy, PolicyError> {
        let (len, max, unit) = usage.measure(document);
        if len > max {
            return Err(PolicyError::TooLong { len, max, unit });
        }
        let tree: Json = serde_json::from_str(document).map_err(|e| {
            let text = e.to_string();
            PolicyError::Json(text.trim_end_matches('.').to_string())
        })?;
        let statements = parse_policy(&tree, usage)?;
        Ok(Policy {
            document: document.to_string(),
            statements,
        })
    }

    /// The default endpoint policy: everything to everyone (POL-2).
    pub fn allow_all() -> Policy {
        Policy::parse(ALLOW_ALL_DOCUMENT).expect("the allow-all document parses")
    }

    /// The document as it was given (for Get* answers).
    pub fn document(&self) -> &str {
        &self.document
    }

    /// Decides `request`: explicit Deny over Allow over implicit deny.
    pub fn evaluate(&self, request: &Request<'_>) -> Decision {
        self.decide(request, |_| true)
    }

    /// Decides `request` as OSS decides with a bucket policy of a bucket
    /// owned by `bucket_owner`: a statement whose Principal is `*` and that
    /// has no Condition does not apply to the owner (OSS: it "applies only to
    /// users other than the bucket owner"); with a Condition it applies to
    /// everyone, owner included.
    pub fn evaluate_bucket_policy(&self, request: &Request<'_>, bucket_owner: &str) -> Decision {
        let is_owner = request.account_id == Some(bucket_owner);
        self.decide(request, |s| {
            !(is_owner && matches!(s.principal, Principals::Anyone) && s.conditions.is_empty())
        })
    }

    /// How many statements the policy has.
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    fn decide(&self, request: &Request<'_>, considered: impl Fn(&Statement) -> bool) -> Decision {
        let action = request.action.to_ascii_lowercase();
        let mut allowed = false;
        for statement in &self.statements {
            if considered(statement) && statement.applies(request, &action) {
                match statement.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

impl Statement {
    /// Whether the statement is about this request (`action` lower-cased).
    fn applies(&self, request: &Request<'_>, action: &str) -> bool {
        self.principal.matches(request.account_id)
            && self.action.matches(action)
            && self.resource.matches(request.resource)
            && self
                .conditions
                .iter()
                .all(|c| c.holds(request.context.get(&c.key)))
    }
}

impl Patterns {
    fn matches(&self, text: &str) -> bool {
        let any = self.patterns.iter().any(|p| wildcard::matches(p, text));
        any != self.negated
    }
}

impl Principals {
    fn matches(&self, account_id: Option<&str>) -> bool {
        match self {
            Principals::Unspecified | Principals::Anyone => true,
            Principals::Accounts(ids) => account_id.is_some_and(|a| ids.iter().any(|i| i == a)),
        }
    }
}

impl Condition {
    /// Whether the condition holds for the request's value of its key.
    fn holds(&self, value: Option<&str>) -> bool {
        let negated = self.operator.negated();
        match value {
            None => negated,
            Some(v) => self.positive(v) != negated,
        }
    }

    /// The positive form of the operator: does `v` match any value?
    fn positive(&self, v: &str) -> bool {
        use Operator::*;
        match (&self.values, self.operator) {
            (Values::Strings(vals), StringEquals | StringNotEquals) => vals.iter().any(|p| p == v),
            (Values::Strings(vals), StringEqualsIgnoreCase | StringNotEqualsIgnoreCase) => {
                let v = v.to_lowercase();
                vals.iter().any(|p| p.to_lowercase() == v)
            }
            (Values::Strings(vals), StringLike | StringNotLike) => {
                vals.iter().any(|p| wildcard::matches(p, v))
            }
            (Values::Numbers(vals), op) => {
                let Ok(n) = v.trim().parse::<f64>() else {
                    return false;
                };
                vals.iter().any(|&p| match op {
                    NumericEquals | NumericNotEquals => n == p,
                    NumericLessThan => n < p,
                    NumericLessThanEquals => n <= p,
                    NumericGreaterThan => n > p,
                    _ => n >= p,
                })
            }
            (Values::Dates(vals), op) => {
                let Some(t) = parse_date(v) else {
                    return false;
                };
                vals.iter().any(|&p| match op {
                    DateEquals | DateNotEquals => t == p,
                    DateLessThan => t < p,
                    DateLessThanEquals => t <= p,
                    DateGreaterThan => t > p,
                    _ => t >= p,
                })
            }
            (Values::Bools(vals), _) => {
                let b = if v.eq_ignore_ascii_case("true") {
                    true
                } else if v.eq_ignore_ascii_case("false") {
                    false
                } else {
                    return false;
                };
                vals.contains(&b)
            }
            (Values::Nets(nets), _) => match v.trim().parse::<IpAddr>() {
                Ok(ip) => nets.iter().any(|n| n.contains(&ip)),
                Err(_) => false,
            },
            // parse_condition pairs each operator with its kind of values.
            (Values::Strings(_), _) => false,
        }
    }
}

/// An ISO 8601 time with its offset (`2026-12-04T21:00:00Z`,
/// `2019-08-12T17:00:00+08:00`).
fn parse_date(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s.trim()).ok()
}

// ----- parsing ---------------------------------------------------------------

fn wrong_type(place: &str, expected: &'static str, found: &Json) -> PolicyError {
    PolicyError::WrongType {
        place: place.to_string(),
        expected,
        found: found.kind(),
    }
}

fn object<'j>(v: &'j Json, place: &str) -> Result<&'j [(String, Json)], PolicyError> {
    match v {
        Json::Object(m) => Ok(m),
        other => Err(wrong_type(place, "an object", other)),
    }
}

fn get<'j>(members: &'j [(String, Json)], name: &str) -> Option<&'j Json> {
    members.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Refuses a member not in `known`.
fn only(members: &[(String, Json)], known: &[&str], place: &str) -> Result<(), PolicyError> {
    match members.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        Some((k, _)) => Err(PolicyError::UnknownElement {
            place: place.to_string(),
            name: k.clone(),
        }),
        None => Ok(()),
    }
}

/// A string or a non-empty list of strings.
fn strings(v: &Json, place: &str) -> Result<Vec<String>, PolicyError> {
    const EXPECTED: &str = "a string or a list of strings";
    match v {
        Json::String(s) => Ok(vec![s.clone()]),
        Json::Array(items) => {
            if items.is_empty() {
                return Err(PolicyError::Empty {
                    place: place.to_string(),
                });
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Json::String(s) => Ok(s.clone()),
                    other => Err(wrong_type(&format!("{place}[{i}]"), "a string", other)),
                })
                .collect()
        }
        other => Err(wrong_type(place, EXPECTED, other)),
    }
}

fn parse_policy(tree: &Json, usage: PolicyUse) -> Result<Vec<Statement>, PolicyError> {
    let top = object(tree, "The policy document")?;
    only(top, &["Version", "Statement"], "The policy document")?;
    match get(top, "Version") {
        None => {
            return Err(PolicyError::MissingElement {
                place: "The policy document".into(),
                name: "Version".into(),
            });
        }
        Some(Json::String(v)) if v == "1" => {}
        Some(Json::String(v)) => {
            return Err(PolicyError::BadVersion {
                found: format!("{v:?}"),
            });
        }
        Some(other) => return Err(wrong_type("Version", "the string \"1\"", other)),
    }
    let statements = match get(top, "Statement") {
        None => {
            return Err(PolicyError::MissingElement {
                place: "The policy document".into(),
                name: "Statement".into(),
            });
        }
        Some(Json::Array(items)) => items,
        Some(other) => return Err(wrong_type("Statement", "a list of statements", other)),
    };
    if statements.is_empty() {
        return Err(PolicyError::Empty {
            place: "Statement".into(),
        });
    }
    statements
        .iter()
        .enumerate()
        .map(|(i, s)| parse_statement(s, &format!("Statement[{i}]"), usage))
        .collect()
}

fn parse_statement(v: &Json, place: &str, usage: PolicyUse) -> Result<Statement, PolicyError> {
    let members = object(v, place)?;
    only(
        members,
        &[
            "Sid",
            "Effect",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Principal",
            "Condition",
        ],
        place,
    )?;
    match get(members, "Sid") {
        None | Some(Json::String(_)) => {}
        Some(other) => return Err(wrong_type(&format!("{place}.Sid"), "a string", other)),
    }
    let effect = match get(members, "Effect") {
        None => {
            return Err(PolicyError::MissingElement {
                place: place.to_string(),
                name: "Effect".into(),
            });
        }
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        Some(Json::String(e)) => {
            return Err(PolicyError::BadEffect {
                place: format!("{place}.Effect"),
                found: format!("{e:?}"),
            });
        }
        Some(other) => return Err(wrong_type(&format!("{place}.Effect"), "a string", other)),
    };
    let action = either(members, place, "Action", "NotAction", |value, p| {
        parse_action(value, p)
    })?;
    let resource = either(members, place, "Resource", "NotResource", |value, p| {
        parse_resource(value, p)
    })?;
    let principal = match (get(members, "Principal"), usage) {
        (Some(_), PolicyUse::Ram) => {
            return Err(PolicyError::NotAllowed {
                place: place.to_string(),
                name: "Principal",
                what: "a RAM policy",
            });
        }
        (None, PolicyUse::Bucket) => {
            return Err(PolicyError::MissingElement {
                place: place.to_string(),
                name: "Principal".into(),
            });
        }
        (None, _) => Principals::Unspecified,
        (Some(p), _) => parse_principal(p, &format!("{place}.Principal"))?,
    };
    let conditions = match get(members, "Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c, &format!("{place}.Condition"))?,
    };
    if usage == PolicyUse::Bucket {
        check_bucket_statement(v, &conditions, place)?;
    }
    Ok(Statement {
        effect,
        action,
        resource,
        principal,
        conditions,
    })
}

/// The rules OSS adds for bucket policies (its EC codes in brackets): a
/// statement of at most 4,095 bytes written compactly (0030-00000003), and
/// acs:SourceIp only together with acs:SourceVpc (0030-00000008), since a
/// private address says nothing without its VPC.
fn check_bucket_statement(
    v: &Json,
    conditions: &[Condition],
    place: &str,
) -> Result<(), PolicyError> {
    let len = v.compact_len();
    if len > BUCKET_STATEMENT_MAX_BYTES {
        return Err(PolicyError::StatementTooLong {
            place: place.to_string(),
            len,
            max: BUCKET_STATEMENT_MAX_BYTES,
        });
    }
    let has = |key: &str| conditions.iter().any(|c| c.key.eq_ignore_ascii_case(key));
    if has(keys::SOURCE_IP) && !has(keys::SOURCE_VPC) {
        return Err(PolicyError::SourceIpWithoutSourceVpc {
            place: format!("{place}.Condition"),
        });
    }
    Ok(())
}

/// Exactly one of `name` / `not_name`, its values checked by `check`.
fn either(
    members: &[(String, Json)],
    place: &str,
    name: &'static str,
    not_name: &'static str,
    check: impl Fn(&str, &str) -> Result<String, PolicyError>,
) -> Result<Patterns, PolicyError> {
    let (negated, used, value) = match (get(members, name), get(members, not_name)) {
        (Some(_), Some(_)) => {
            return Err(PolicyError::Conflict {
                place: place.to_string(),
                first: name,
                second: not_name,
            });
        }
        (None, None) => {
            return Err(PolicyError::MissingElement {
                place: place.to_string(),
                name: name.to_string(),
            });
        }
        (Some(v), None) => (false, name, v),
        (None, Some(v)) => (true, not_name, v),
    };
    let element = format!("{place}.{used}");
    let values = strings(value, &element)?;
    let patterns = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let p = if matches!(value, Json::Array(_)) {
                format!("{element}[{i}]")
            } else {
                element.clone()
            };
            check(v, &p)
        })
        .collect::<Result<_, _>>()?;
    Ok(Patterns { negated, patterns })
}

/// `*` or `service:Name`, both parts made of letters, digits, `-`, `_`,
/// and the wildcards. Lower-cased: actions match case-insensitively.
fn parse_action(value: &str, place: &str) -> Result<String, PolicyError> {
    let part_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '?'))
    };
    let ok = value == "*"
        || value
            .split_once(':')
            .is_some_and(|(service, name)| part_ok(service) && part_ok(name));
    if ok {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(PolicyError::BadAction {
            place: place.to_string(),
            value: value.to_string(),
        })
    }
}

/// `*` or `acs:<service>:<region>:<account>:<relative id>`, no blanks or
/// control characters; the relative id may hold `:` and `/`.
fn parse_resource(value: &str, place: &str) -> Result<String, PolicyError> {
    let clean = !value.chars().any(|c| c.is_control() || c.is_whitespace());
    let ok = clean
        && (value == "*" || {
            let parts: Vec<&str> = value.splitn(5, ':').collect();
            parts.len() == 5 && parts[0] == "acs" && !parts[1].is_empty() && !parts[4].is_empty()
        });
    if ok {
        Ok(value.to_string())
    } else {
        Err(PolicyError::BadResource {
            place: place.to_string(),
            value: value.to_string(),
        })
    }
}

fn parse_principal(v: &Json, place: &str) -> Result<Principals, PolicyError> {
    let (ids, from_ram) = match v {
        Json::Array(items) if items.is_empty() => return Ok(Principals::Anyone),
        Json::Object(members) => {
            only(members, &["RAM"], place)?;
            match get(members, "RAM") {
                Some(r) => (strings(r, &format!("{place}.RAM"))?, true),
                None => {
                    return Err(PolicyError::MissingElement {
                        place: place.to_string(),
                        name: "RAM".into(),
                    });
                }
            }
        }
        other => (strings(other, place)?, false),
    };
    let mut accounts = Vec::new();
    let mut anyone = false;
    for id in ids {
        let bad = |reason| PolicyError::BadPrincipal {
            place: place.to_string(),
            value: id.clone(),
            reason,
        };
        if id == "*" {
            anyone = true;
            continue;
        }
        let account = if from_ram {
            match id
                .strip_prefix("acs:ram::")
                .and_then(|rest| rest.strip_suffix(":root"))
            {
                Some(a) => a.to_string(),
                None if !id.contains(':') => id.clone(),
                None => {
                    return Err(bad(
                        "only whole accounts (\"acs:ram::<account>:root\") are principals here",
                    ));
                }
            }
        } else {
            id.clone()
        };
        if account.is_empty() {
            return Err(bad("an account id is required"));
        }
        if account.contains(['*', '?']) {
            return Err(bad("wildcards are only allowed as \"*\" alone"));
        }
        if account
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':')
        {
            return Err(bad("an account id has no blanks or ':'"));
        }
        accounts.push(account);
    }
    Ok(if anyone {
        Principals::Anyone
    } else {
        Principals::Accounts(accounts)
    })
}

fn parse_conditions(v: &Json, place: &str) -> Result<Vec<Condition>, PolicyError> {
    let operators = object(v, place)?;
    let mut out = Vec::new();
    for (name, block) in operators {
        let Some(&(_, operator)) = OPERATORS.iter().find(|(n, _)| n == name) else {
            return Err(PolicyError::UnknownOperator {
                place: place.to_string(),
                operator: name.clone(),
            });
        };
        let op_place = format!("{place}.{name}");
        let keys = object(block, &op_place)?;
        if keys.is_empty() {
            return Err(PolicyError::Empty { place: op_place });
        }
        for (key, values) in keys {
            let key_ok = key.split_once(':').is_some_and(|(prefix, rest)| {
                !prefix.is_empty()
                    && !rest.is_empty()
                    && !key.chars().any(|c| c.is_whitespace() || c.is_control())
            });
            if !key_ok {
                return Err(PolicyError::BadConditionKey {
                    place: op_place,
                    key: key.clone(),
                });
            }
            let key_place = format!("{op_place}.{key}");
            let raw = condition_values(values, &key_place)?;
            out.push(Condition {
                operator,
                key: key.clone(),
                values: typed_values(operator, raw, &key_place)?,
            });
        }
    }
    Ok(out)
}

/// A value or a non-empty list of values (strings, numbers, booleans), as text.
fn condition_values(v: &Json, place: &str) -> Result<Vec<String>, PolicyError> {
    fn scalar(v: &Json, place: &str) -> Result<String, PolicyError> {
        match v {
            Json::String(s) | Json::Number(s) => Ok(s.clone()),
            Json::Bool(b) => Ok(b.to_string()),
            other => Err(wrong_type(place, "a string, number or boolean", other)),
        }
    }
    match v {
        Json::Array(items) if items.is_empty() => Err(PolicyError::Empty {
            place: place.to_string(),
        }),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| scalar(item, &format!("{place}[{i}]")))
            .collect(),
        other => scalar(other, place).map(|s| vec![s]),
    }
}

fn typed_values(op: Operator, raw: Vec<String>, place: &str) -> Result<Values, PolicyError> {
    use Operator::*;
    let bad = |value: &str, expected| PolicyError::BadConditionValue {
        place: place.to_string(),
        value: value.to_string(),
        expected,
    };
    Ok(match op {
        StringEquals
        | StringNotEquals
        | StringEqualsIgnoreCase
        | StringNotEqualsIgnoreCase
        | StringLike
        | StringNotLike => Values::Strings(raw),
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => Values::Numbers(
            raw.iter()
                .map(|s| match s.trim().parse::<f64>() {
                    Ok(n) if n.is_finite() => Ok(n),
                    _ => Err(bad(s, "a number")),
                })
                .collect::<Result<_, _>>()?,
        ),
        DateEquals
        | DateNotEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => Values::Dates(
            raw.iter()
                .map(|s| {
                    parse_date(s).ok_or_else(|| {
                        bad(
                            s,
                            "an ISO 8601 time with offset, such as 2026-12-04T21:00:00Z",
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        Bool => Values::Bools(
            raw.iter()
                .map(|s| {
                    if s.eq_ignore_ascii_case("true") {
                        Ok(true)
                    } else if s.eq_ignore_ascii_case("false") {
                        Ok(false)
                    } else {
                        Err(bad(s, "true or false"))
                    }
                })
                .collect::<Result<_, _>>()?,
        ),
        IpAddress | NotIpAddress => Values::Nets(
            raw.iter()
                .map(|s| {
                    let s = s.trim();
                    s.parse::<IpNet>()
                        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                        .map(|n| n.trunc())
                        .map_err(|_| bad(s, "an IP address or CIDR block"))
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}
