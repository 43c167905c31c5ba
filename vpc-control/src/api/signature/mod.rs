//! Alibaba Cloud request signatures: V3 (`ACS3-HMAC-SHA256`, this file) and
//! the RPC signature V1 of the older SDKs (`SignatureMethod=HMAC-SHA1`,
//! [`v1`]); verification on the server, signing for our own clients. Both
//! share the keys, the error enum [`AuthError`] and the bounded nonce cache.
//!
//! ## Signature V3
//!
//! The rules follow what the official SDKs actually send (Python
//! `alibabacloud_tea_openapi` / `alibabacloud_openapi_util`, Go
//! `alibabacloud-go/openapi-util`), checked against known-answer vectors
//! captured from the Python SDK (see the tests):
//!
//! ```text
//! Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<h1;h2;...>,Signature=<hex>
//! CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n HashedPayload
//! StringToSign     = "ACS3-HMAC-SHA256" \n hex(sha256(CanonicalRequest))
//! Signature        = hex(hmac_sha256(AccessKeySecret, StringToSign))
//! ```
//!
//! * CanonicalURI: the request path as sent (`/` when empty).
//! * CanonicalQuery: the query parameters (decoded from the wire, where `+`
//!   is a space), sorted by name (bytewise, then by value), each written
//!   `name=value` with RFC 3986 percent-encoding (everything but
//!   `A-Z a-z 0-9 - _ . ~` becomes `%XX`, uppercase hex, UTF-8; so a space
//!   is `%20`, `*` is `%2A`, `/` is `%2F`), joined by `&`; an empty value
//!   still gets its `=`. The SDKs leave names unencoded; for every real
//!   parameter name (unreserved characters only) that is the same string,
//!   and for exotic names the verifier also accepts the SDKs' raw form.
//! * CanonicalHeaders: for each name in SignedHeaders (lowercase, sorted,
//!   unique), `name:value\n`, the value trimmed; repeated headers have their
//!   trimmed values sorted and joined with `,`. The Python SDK signs every
//!   header it sends (including `accept` and `user-agent`), Go signs
//!   `host`, `content-type` and `x-acs-*`: the verifier therefore uses the
//!   client's SignedHeaders list, and requires it to cover `host`,
//!   `x-acs-action`, `x-acs-version`, `x-acs-date`, `x-acs-signature-nonce`,
//!   `x-acs-content-sha256` (all SDKs always sign them), every other
//!   `x-acs-*` header present, and `content-type` when there is a body.
//! * HashedPayload: the `x-acs-content-sha256` header, which must equal
//!   `hex(sha256(body))`.
//! * `x-acs-date` is `yyyy-MM-ddTHH:mm:ssZ` (UTC) and may be at most 15
//!   minutes off the server clock either way; `x-acs-signature-nonce` may be
//!   used once per AccessKeyId while its request could still be accepted.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode};
use sha2::{Digest, Sha256};

#[cfg(test)]
mod fuzz;
pub mod v1;
pub use v1::{
    V1_ENVELOPE, V1_SIGNATURE_METHOD, V1_SIGNATURE_VERSION, is_v1_request, sign_v1,
    strip_v1_envelope,
};

/// The only signature algorithm accepted.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Largest accepted difference between `x-acs-date` and the server clock, in seconds.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

/// Most nonces remembered at once; beyond it requests are throttled.
pub const MAX_REMEMBERED_NONCES: usize = 250_000;

/// Format of `x-acs-date`.
const DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Headers every official SDK sends and signs; a request must sign them.
const REQUIRED_SIGNED_HEADERS: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
];

/// Headers that [`sign`] computes itself (caller-supplied copies are dropped).
const COMPUTED_HEADERS: [&str; 4] = [
    "authorization",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
];

/// RFC 3986 unreserved characters stay, everything else is percent-encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

type HmacSha256 = Hmac<Sha256>;

/// One access key: AccessKeyId, AccessKeySecret and the account (owner) it belongs to.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// The AccessKeyId, sent in `Credential=`.
    pub id: String,
    /// The AccessKeySecret, the HMAC key.
    pub secret: String,
    /// The account (owner) id, a decimal number string.
    pub account_id: String,
}

impl AccessKey {
    /// A key whose account id is [`default_account_id`] of its id.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        let id = id.into();
        let account_id = default_account_id(&id);
        Self {
            id,
            secret: secret.into(),
            account_id,
        }
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("account_id", &self.account_id)
            .finish()
    }
}

/// The account id given to a key that names none: a 16-digit number derived
/// from the AccessKeyId (stable across runs and machines).
pub fn default_account_id(key_id: &str) -> String {
    let digest = Sha256::digest(format!("vpc-account-id:{key_id}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let n = u64::from_be_bytes(first) % 9_000_000_000_000_000;
    (1_000_000_000_000_000 + n).to_string()
}

/// Why an `ID:SECRET[:ACCOUNT_ID]` string is not an access key (never echoes the secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid access key: {reason} (expected ID:SECRET[:ACCOUNT_ID], e.g. LTAI5tExample:s3cr3t:1234567890123456)"
)]
pub struct ParseAccessKeyError {
    /// What is wrong with the input.
    pub reason: String,
}

impl FromStr for AccessKey {
    type Err = ParseAccessKeyError;

    /// Parses `ID:SECRET[:ACCOUNT_ID]`: the id is letters, digits, `.`, `_`
    /// or `-`; the secret is non-empty printable ASCII without `:`; the
    /// account id, when given, is 1 to 20 digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ParseAccessKeyError {
            reason: reason.to_owned(),
        };
        let mut parts = s.trim().splitn(3, ':');
        let id = parts.next().unwrap_or_default();
        if id.is_empty() {
            return Err(err("empty AccessKeyId"));
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(err(
                "AccessKeyId may contain only letters, digits, '.', '_' and '-'",
            ));
        }
        let secret = parts
            .next()
            .ok_or_else(|| err("missing ':' between AccessKeyId and AccessKeySecret"))?;
        let account = parts.next();
        if secret.is_empty() {
            return Err(err("empty AccessKeySecret"));
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(err(
                "AccessKeySecret must be printable ASCII without spaces",
            ));
        }
        let account_id = match account {
            None => default_account_id(id),
            Some(a) if !a.is_empty() && a.len() <= 20 && a.bytes().all(|b| b.is_ascii_digit()) => {
                a.to_owned()
            }
            Some(_) => {
                return Err(err(
                    "account id must be 1 to 20 digits (and the secret may not contain ':')",
                ));
            }
        };
        Ok(Self {
            id: id.to_owned(),
            secret: secret.to_owned(),
            account_id,
        })
    }
}

/// Why a request's signature is refused; [`AuthError::code`] and
/// [`AuthError::status`] give the cloud's error code and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header (and no V2 signature either).
    #[error(
        "Authorization is mandatory for this action: sign the request with signature V3 (ACS3-HMAC-SHA256)."
    )]
    MissingAuthorization,
    /// Another signature scheme: V2 (`Signature=` parameter, HMAC-SHA1), ROA `acs` V1, SM3, RSA...
    #[error(
        "Specified signature method is not supported: {found}. This endpoint accepts only signature V3, \
             'Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<h1;h2;...>,Signature=<hex>' \
             (the default of current Alibaba Cloud SDKs)."
    )]
    UnsupportedAlgorithm {
        /// What the request used.
        found: String,
    },
    /// The `Authorization` header or a signed header is not well formed.
    #[error("The request signature does not conform to Aliyun standards: {0}")]
    MalformedAuthorization(String),
    /// A mandatory signature-V3 request header is absent.
    #[error("{0} is mandatory for this action (a common request header of signature V3).")]
    MissingHeader(&'static str),
    /// A header that must be signed is not listed in SignedHeaders.
    #[error(
        "The request signature does not conform to Aliyun standards: header {0} must be listed in SignedHeaders."
    )]
    HeaderNotSigned(String),
    /// The AccessKeyId in `Credential=` is not known.
    #[error("Specified access key is not found: {0}")]
    UnknownAccessKey(String),
    /// `x-acs-date` is not `yyyy-MM-ddTHH:mm:ssZ`.
    #[error(
        "Specified time stamp or date value is not well formatted: x-acs-date {0:?} must be yyyy-MM-ddTHH:mm:ssZ (UTC)."
    )]
    InvalidTimestamp(String),
    /// `x-acs-date` is more than 15 minutes before or after the server clock.
    #[error("Specified time stamp or date value is expired: x-acs-date {date} is {} s {} the server clock (at most {MAX_CLOCK_SKEW_SECS} s either way).",
            skew_secs.unsigned_abs(), if *skew_secs >= 0 { "behind" } else { "ahead of" })]
    StaleTimestamp {
        /// The `x-acs-date` received.
        date: String,
        /// Server time minus request time, in seconds.
        skew_secs: i64,
    },
    /// `x-acs-content-sha256` is not the SHA-256 of the body received.
    #[error(
        "Specified signature is not matched with our calculation: x-acs-content-sha256 {claimed} is not the SHA-256 of the received body ({actual})."
    )]
    ContentHashMismatch {
        /// The `x-acs-content-sha256` received.
        claimed: String,
        /// hex(sha256(body)).
        actual: String,
    },
    /// The signature is not the one computed with the key's secret.
    #[error(
        "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
    )]
    SignatureMismatch {
        /// The server's string to sign, for the client to compare with its own.
        string_to_sign: String,
    },
    /// The `x-acs-signature-nonce` was already used with this key within the window.
    #[error("Specified signature nonce was used already: {0}")]
    NonceUsed(String),
    /// Too many nonces to remember: the request rate exceeds what the replay cache holds.
    #[error(
        "Request was denied due to request throttling: more than {MAX_REMEMBERED_NONCES} signed requests within 15 minutes."
    )]
    TooManyRequests,
    /// The nonce could not be recorded in the nonce journal (the state
    /// directory is not writable or full): refused, since a replay after a
    /// restart could not be recognised.
    #[error("The request could not be accepted now: recording its signature nonce failed ({0}); retry later.")]
    NonceJournal(String),
    /// Signature V1 (RPC): a mandatory signature parameter (`AccessKeyId`,
    /// `Signature`, `SignatureMethod`, `SignatureVersion`, `SignatureNonce`,
    /// `Timestamp`) is absent or empty.
    #[error(
        "The input parameter \"{0}\" that is mandatory for processing this request is not supplied."
    )]
    MissingParameter(&'static str),
    /// Signature V1: a signature parameter is given twice, or
    /// `SignatureVersion` is not `1.0`.
    #[error("The request signature does not conform to Aliyun standards: {0}")]
    IncompleteSignature(String),
    /// Signature V1: `SignatureMethod` is not `HMAC-SHA1`, or `SignatureType` is not empty.
    #[error(
        "Specified signature method is not supported: {found}. Signature V1 (RPC) requests must use SignatureMethod=HMAC-SHA1, \
             SignatureVersion=1.0 and an empty SignatureType; signature V3 (ACS3-HMAC-SHA256, Authorization header) is accepted too."
    )]
    UnsupportedV1Method {
        /// What the request used (`SignatureMethod=...` or `SignatureType=...`).
        found: String,
    },
    /// Signature V1: `Timestamp` is not `yyyy-MM-ddTHH:mm:ssZ`.
    #[error(
        "Specified time stamp or date value is not well formatted: Timestamp {0:?} must be yyyy-MM-ddTHH:mm:ssZ (UTC)."
    )]
    InvalidV1Timestamp(String),
    /// Signature V1: `Timestamp` is more than 15 minutes before or after the server clock.
    #[error("Specified time stamp or date value is expired: Timestamp {timestamp} is {} s {} the server clock (at most {MAX_CLOCK_SKEW_SECS} s either way).",
            skew_secs.unsigned_abs(), if *skew_secs >= 0 { "behind" } else { "ahead of" })]
    StaleV1Timestamp {
        /// The `Timestamp` received.
        timestamp: String,
        /// Server time minus request time, in seconds.
        skew_secs: i64,
    },
    /// Signature V1: a `SecurityToken` (STS credentials) was sent; this
    /// endpoint has no STS, so no token can be valid (refused, never ignored).
    #[error(
        "Specified SecurityToken is malformed: this endpoint has no Security Token Service; sign with a permanent AccessKey pair and send no SecurityToken."
    )]
    SecurityTokenNotSupported,
    /// Signature V1: `Format` is not JSON (in any letter case); answers are JSON only.
    #[error(
        "The specified parameter \"Format\" is not valid: {0:?}; this endpoint answers in JSON only (Format=JSON)."
    )]
    UnsupportedFormat(String),
}

impl AuthError {
    /// The cloud's error code (the `Code` of the error response).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthorization => "MissingAuthorization",
            Self::UnsupportedAlgorithm { .. } => "InvalidSignatureMethod",
            Self::MalformedAuthorization(_) | Self::HeaderNotSigned(_) => "IncompleteSignature",
            Self::MissingHeader(_) => "MissingParameter",
            Self::UnknownAccessKey(_) => "InvalidAccessKeyId.NotFound",
            Self::InvalidTimestamp(_) => "InvalidTimeStamp.Format",
            Self::StaleTimestamp { .. } => "InvalidTimeStamp.Expired",
            Self::ContentHashMismatch { .. } | Self::SignatureMismatch { .. } => {
                "SignatureDoesNotMatch"
            }
            Self::NonceUsed(_) => "SignatureNonceUsed",
            Self::TooManyRequests => "Throttling",
            Self::NonceJournal(_) => "ServiceUnavailable",
            Self::MissingParameter(_) => "MissingParameter",
            Self::IncompleteSignature(_) => "IncompleteSignature",
            Self::InvalidV1Timestamp(_) => "InvalidTimeStamp.Format",
            Self::StaleV1Timestamp { .. } => "InvalidTimeStamp.Expired",
            Self::SecurityTokenNotSupported => "InvalidSecurityToken.Malformed",
            Self::UnsupportedFormat(_) => "InvalidParameter",
            Self::UnsupportedV1Method { .. } => "InvalidSignatureMethod",
        }
    }

    /// The HTTP status of the error response.
    pub fn status(&self) -> u16 {
        match self {
            Self::UnknownAccessKey(_) => 404,
            Self::NonceJournal(_) => 503,
            _ => 400,
        }
    }
}

/// Verifies requests against a set of keys; remembers nonces for 15 minutes
/// (bounded memory; expired nonces evicted).
pub struct Verifier {
    keys: HashMap<String, AccessKey>,
    nonces: Mutex<NonceCache>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("Verifier")
            .field("keys", &ids)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier accepting these keys (a later duplicate id replaces an earlier one).
    pub fn new(keys: Vec<AccessKey>) -> Self {
        let keys = keys.into_iter().map(|k| (k.id.clone(), k)).collect();
        Self {
            keys,
            nonces: Mutex::new(NonceCache::default()),
        }
    }

    /// A verifier whose nonces survive a restart: each accepted nonce is
    /// appended to the journal at `path` before its request runs, and the
    /// journal's unexpired nonces are remembered from the start (expired
    /// ones are dropped when it is rewritten, which keeps it bounded).
    pub fn with_journal(keys: Vec<AccessKey>, path: &Path, now: SystemTime) -> std::io::Result<Self> {
        let v = Self::new(keys);
        {
            let mut guard = v.nonces.lock().unwrap_or_else(|p| p.into_inner());
            let cache = &mut *guard;
            cache.journal = Some(Journal::open(path, unix_seconds(now), &mut cache.seen, &mut cache.by_expiry)?);
        }
        Ok(v)
    }

    /// Whether no key is configured (then every request is refused).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key with this AccessKeyId, if configured.
    pub fn key(&self, id: &str) -> Option<&AccessKey> {
        self.keys.get(id)
    }

    /// Checks a request's V3 signature and returns the key that signed it.
    ///
    /// `path` and `raw_query` are as on the wire (still percent-encoded);
    /// `headers` must include `host` (for HTTP/2, copy `:authority` into it).
    /// On success the nonce is remembered, so the same request is refused
    /// the second time.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        raw_query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<&AccessKey, AuthError> {
        let query = raw_query.map(parse_query).unwrap_or_default();
        let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(if is_v2_request(&query, headers, body) {
                AuthError::UnsupportedAlgorithm {
                    found: "signature V2 (Signature/SignatureMethod parameters, HMAC-SHA1)"
                        .to_owned(),
                }
            } else {
                AuthError::MissingAuthorization
            });
        };
        let auth = auth.to_str().map_err(|_| {
            AuthError::MalformedAuthorization("Authorization must be visible ASCII".to_owned())
        })?;
        let auth = parse_authorization(auth)?;

        for name in REQUIRED_SIGNED_HEADERS {
            if !headers.contains_key(name) {
                return Err(AuthError::MissingHeader(name));
            }
            if !auth.signed_headers.iter().any(|h| h == name) {
                return Err(AuthError::HeaderNotSigned(name.to_owned()));
            }
        }
        for name in headers.keys() {
            let name = name.as_str();
            let must_sign =
                name.starts_with("x-acs-") || (name == "content-type" && !body.is_empty());
            if must_sign && !auth.signed_headers.iter().any(|h| h == name) {
                return Err(AuthError::HeaderNotSigned(name.to_owned()));
            }
        }

        let date = single_header(headers, "x-acs-date")?;
        let timestamp = chrono::NaiveDateTime::parse_from_str(&date, DATE_FORMAT)
            .map_err(|_| AuthError::InvalidTimestamp(date.clone()))?
            .and_utc()
            .timestamp();
        let now_secs = unix_seconds(now);
        let skew_secs = now_secs.saturating_sub(timestamp);
        if skew_secs.unsigned_abs() > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
            return Err(AuthError::StaleTimestamp { date, skew_secs });
        }

        let key = self
            .keys
            .get(&auth.credential)
            .ok_or_else(|| AuthError::UnknownAccessKey(auth.credential.clone()))?;

        let claimed = single_header(headers, "x-acs-content-sha256")?;
        let actual = hex::encode(Sha256::digest(body));
        if !claimed.eq_ignore_ascii_case(&actual) {
            return Err(AuthError::ContentHashMismatch { claimed, actual });
        }

        let canonical_headers = canonical_headers_from_map(&auth.signed_headers, headers)?;
        let signed_list = auth.signed_headers.join(";");
        let sts_for = |keys: KeyEncoding| {
            let request = canonical_request(
                method.as_bytes(),
                path.as_bytes(),
                &canonical_query(&query, keys),
                canonical_headers.as_bytes(),
                &signed_list,
                &claimed,
            );
            string_to_sign(&request)
        };
        let primary = sts_for(KeyEncoding::Rfc3986);
        let matches = |sts: &str| mac(&key.secret, sts).verify_slice(&auth.signature).is_ok();
        let accepted =
            matches(&primary) || (raw_keys_differ(&query) && matches(&sts_for(KeyEncoding::Raw)));
        if !accepted {
            return Err(AuthError::SignatureMismatch {
                string_to_sign: primary,
            });
        }

        let nonce = single_header(headers, "x-acs-signature-nonce")?;
        if nonce.is_empty() {
            return Err(AuthError::MissingHeader("x-acs-signature-nonce"));
        }
        let mut cache = self
            .nonces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.insert(
            nonce_id(&key.id, &nonce),
            timestamp.saturating_add(MAX_CLOCK_SKEW_SECS),
            now_secs,
            &nonce,
        )?;
        Ok(key)
    }
}

/// Client side: the headers to add to a request (`x-acs-date`,
/// `x-acs-signature-nonce`, `x-acs-content-sha256`, `authorization`), with
/// a fresh random nonce.
///
/// `query` holds the decoded parameters (send them as
/// [`canonical_query_string`]); `headers` the other headers to sign (at
/// least `host`, `x-acs-action`, `x-acs-version`, and `content-type` when
/// there is a body); every one of them is signed. See [`sign_with_nonce`].
pub fn sign(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: &[u8],
    key: &AccessKey,
    now: SystemTime,
) -> Vec<(String, String)> {
    let nonce = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    sign_with_nonce(method, path, query, headers, body, key, now, &nonce)
}

/// [`sign`] with a given `x-acs-signature-nonce` (deterministic, for tests
/// and known-answer checks). Caller-supplied `authorization`, `x-acs-date`,
/// `x-acs-signature-nonce` and `x-acs-content-sha256` headers are replaced.
#[allow(clippy::too_many_arguments)]
pub fn sign_with_nonce(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: &[u8],
    key: &AccessKey,
    now: SystemTime,
    nonce: &str,
) -> Vec<(String, String)> {
    let date = chrono::DateTime::<chrono::Utc>::from(now)
        .format(DATE_FORMAT)
        .to_string();
    let payload = hex::encode(Sha256::digest(body));
    let added = [
        ("x-acs-date".to_owned(), date),
        ("x-acs-signature-nonce".to_owned(), nonce.to_owned()),
        ("x-acs-content-sha256".to_owned(), payload.clone()),
    ];

    let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.trim().to_ascii_lowercase();
        if !COMPUTED_HEADERS.contains(&name.as_str()) {
            all.entry(name).or_default().push(value.trim().to_owned());
        }
    }
    for (name, value) in &added {
        all.insert(name.clone(), vec![value.clone()]);
    }
    let mut canonical_headers = String::new();
    for (name, values) in &mut all {
        values.sort();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let signed_list = all.keys().map(String::as_str).collect::<Vec<_>>().join(";");

    let pairs: Vec<(Vec<u8>, Vec<u8>)> = query
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    let request = canonical_request(
        method.as_bytes(),
        path.as_bytes(),
        &canonical_query(&pairs, KeyEncoding::Rfc3986),
        canonical_headers.as_bytes(),
        &signed_list,
        &payload,
    );
    let signature = hex::encode(
        mac(&key.secret, &string_to_sign(&request))
            .finalize()
            .into_bytes(),
    );
    let authorization = format!(
        "{ALGORITHM} Credential={},SignedHeaders={signed_list},Signature={signature}",
        key.id
    );

    let mut out = added.to_vec();
    out.push(("authorization".to_owned(), authorization));
    out
}

/// The canonical (and wire-ready) query string of these decoded parameters:
/// sorted by name, RFC 3986 percent-encoded, `name=value` joined by `&`.
pub fn canonical_query_string(query: &[(&str, &str)]) -> String {
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = query
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    // Fully percent-encoded, hence ASCII.
    String::from_utf8_lossy(&canonical_query(&pairs, KeyEncoding::Rfc3986)).into_owned()
}

/// How parameter names are written in the canonical query.
#[derive(Clone, Copy)]
enum KeyEncoding {
    /// RFC 3986 percent-encoded, like the values (the documented rule).
    Rfc3986,
    /// As decoded, unencoded (what the Python and Go SDKs write).
    Raw,
}

/// The canonical query of decoded `(name, value)` pairs.
fn canonical_query(pairs: &[(Vec<u8>, Vec<u8>)], keys: KeyEncoding) -> Vec<u8> {
    let mut sorted: Vec<&(Vec<u8>, Vec<u8>)> = pairs.iter().collect();
    sorted.sort();
    let mut out = Vec::new();
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        match keys {
            KeyEncoding::Rfc3986 => out.extend(percent_encode_bytes(name).bytes()),
            KeyEncoding::Raw => out.extend_from_slice(name),
        }
        out.push(b'=');
        out.extend(percent_encode_bytes(value).bytes());
    }
    out
}

/// RFC 3986 percent-encoding of raw bytes (uppercase hex).
fn percent_encode_bytes(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, RFC3986).to_string()
}

/// Whether the SDKs' unencoded names give a different canonical query, and
/// an unambiguous one (no name contains `&`, `=` or a control character).
fn raw_keys_differ(pairs: &[(Vec<u8>, Vec<u8>)]) -> bool {
    let reserved = |b: &u8| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    let ambiguous = |b: &u8| matches!(b, b'&' | b'=') || b.is_ascii_control();
    pairs.iter().any(|(k, _)| k.iter().any(reserved))
        && !pairs.iter().any(|(k, _)| k.iter().any(ambiguous))
}

/// Decodes a raw query (`application/x-www-form-urlencoded`: `+` is a
/// space, then percent-decoding) into byte pairs; a piece without `=` has
/// an empty value.
fn parse_query(raw: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let decode = |s: &str| -> Vec<u8> {
        let plus_as_space: Vec<u8> = s
            .bytes()
            .map(|b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_decode(&plus_as_space).collect()
    };
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// Whether an unsigned-by-V3 request carries a V2 signature (in the query or a form body).
fn is_v2_request(query: &[(Vec<u8>, Vec<u8>)], headers: &HeaderMap, body: &[u8]) -> bool {
    let has_v2 = |pairs: &[(Vec<u8>, Vec<u8>)]| {
        pairs.iter().any(|(k, _)| {
            matches!(
                k.as_slice(),
                b"Signature" | b"SignatureMethod" | b"SignatureVersion"
            )
        })
    };
    let form_body = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    has_v2(query) || (form_body && std::str::from_utf8(body).is_ok_and(|b| has_v2(&parse_query(b))))
}

/// The parts of `Authorization: ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`.
struct Authorization {
    credential: String,
    signed_headers: Vec<String>,
    signature: Vec<u8>,
}

fn parse_authorization(value: &str) -> Result<Authorization, AuthError> {
    let malformed = |why: &str| AuthError::MalformedAuthorization(why.to_owned());
    let value = value.trim();
    let (algorithm, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        let mut found: String = algorithm.chars().take(40).collect();
        if found.eq_ignore_ascii_case("acs") {
            found.push_str(" (ROA signature V1, HMAC-SHA1)");
        }
        return Err(AuthError::UnsupportedAlgorithm { found });
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let (name, field) = part.split_once('=').ok_or_else(|| {
            malformed("Authorization must be 'ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<h1;h2;...>,Signature=<hex>'")
        })?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => {
                return Err(malformed(&format!(
                    "unknown Authorization field {:?}",
                    name.chars().take(40).collect::<String>()
                )));
            }
        };
        if slot.replace(field).is_some() {
            return Err(malformed(&format!(
                "Authorization field {name} appears twice"
            )));
        }
    }
    let credential = credential
        .filter(|c| !c.is_empty())
        .ok_or_else(|| malformed("Authorization lacks Credential=<AccessKeyId>"))?;
    let signed = signed
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed("Authorization lacks SignedHeaders=<h1;h2;...>"))?;
    let signature = signature.ok_or_else(|| malformed("Authorization lacks Signature=<hex>"))?;
    let signature = hex::decode(signature)
        .ok()
        .filter(|s| s.len() == 32)
        .ok_or_else(|| malformed("Signature must be 64 hexadecimal digits (hex of HMAC-SHA256)"))?;
    let signed_headers: Vec<String> = signed.split(';').map(str::to_owned).collect();
    let well_formed = signed_headers
        .iter()
        .all(|h| HeaderName::from_bytes(h.as_bytes()).is_ok_and(|n| n.as_str() == h))
        && signed_headers.windows(2).all(|w| w[0] < w[1]);
    if !well_formed {
        return Err(malformed(
            "SignedHeaders must be lowercase header names, sorted, without duplicates, separated by ';'",
        ));
    }
    Ok(Authorization {
        credential: credential.to_owned(),
        signed_headers,
        signature,
    })
}

/// A header value as the client signed it: UTF-8 when valid, otherwise
/// Latin-1 (how Python's http.client puts non-ASCII text on the wire).
fn header_text(value: &HeaderValue) -> String {
    match std::str::from_utf8(value.as_bytes()) {
        Ok(text) => text.to_owned(),
        Err(_) => value.as_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}

/// The trimmed value of a header that must appear at most once (`""` when absent).
fn single_header(headers: &HeaderMap, name: &'static str) -> Result<String, AuthError> {
    let mut values = headers.get_all(name).iter();
    let first = values
        .next()
        .map(|v| header_text(v).trim().to_owned())
        .unwrap_or_default();
    if values.next().is_some() {
        return Err(AuthError::MalformedAuthorization(format!(
            "header {name} appears more than once"
        )));
    }
    Ok(first)
}

/// `name:value\n` for every signed header (values trimmed, sorted, joined by `,`).
fn canonical_headers_from_map(signed: &[String], headers: &HeaderMap) -> Result<String, AuthError> {
    let mut out = String::new();
    for name in signed {
        let mut values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| header_text(v).trim().to_owned())
            .collect();
        if values.is_empty() {
            return Err(AuthError::MalformedAuthorization(format!(
                "header {name} is listed in SignedHeaders but absent from the request"
            )));
        }
        values.sort();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Ok(out)
}

/// METHOD \n URI \n QUERY \n HEADERS(each ending in \n) \n SIGNED \n PAYLOAD
fn canonical_request(
    method: &[u8],
    path: &[u8],
    query: &[u8],
    headers: &[u8],
    signed: &str,
    payload: &str,
) -> Vec<u8> {
    let path: &[u8] = if path.is_empty() { b"/" } else { path };
    let mut out = Vec::with_capacity(
        method.len() + path.len() + query.len() + headers.len() + signed.len() + payload.len() + 5,
    );
    for (i, part) in [
        method,
        path,
        query,
        headers,
        signed.as_bytes(),
        payload.as_bytes(),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(part);
    }
    out
}

fn string_to_sign(canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{}",
        hex::encode(Sha256::digest(canonical_request))
    )
}

fn mac(secret: &str, string_to_sign: &str) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Fixed-size identity of (AccessKeyId, nonce), so long nonces cost no memory.
fn nonce_id(key_id: &str, nonce: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(key_id.as_bytes());
    h.update([0u8]);
    h.update(nonce.as_bytes());
    h.finalize().into()
}

/// Nonces seen, each kept until its request's `x-acs-date` leaves the window.
#[derive(Default)]
struct NonceCache {
    /// nonce id -> last second at which its request could still be accepted.
    seen: HashMap<[u8; 32], i64>,
    /// The same entries, soonest expiry first (stale duplicates skipped on pop).
    by_expiry: BinaryHeap<Reverse<(i64, [u8; 32])>>,
    /// Where they are also written, to outlive a restart (none: memory only).
    journal: Option<Journal>,
}

/// The nonce journal: a magic line, then records of a nonce id (32 bytes)
/// and its expiry (i64, little-endian seconds). Appended per nonce;
/// rewritten with only the unexpired ones when it holds twice as many
/// records as are remembered (or after a failed write, which may have left
/// part of a record).
struct Journal {
    path: PathBuf,
    file: Option<std::fs::File>,
    records: usize,
}

const JOURNAL_MAGIC: &[u8; 16] = b"vpc-nonces-v1\n\0\0";
const JOURNAL_RECORD: usize = 40;

impl Journal {
    /// Opens (or creates) the journal at `path`, loading its unexpired nonces.
    fn open(
        path: &Path,
        now: i64,
        seen: &mut HashMap<[u8; 32], i64>,
        by_expiry: &mut BinaryHeap<Reverse<(i64, [u8; 32])>>,
    ) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) if bytes.starts_with(JOURNAL_MAGIC) => {
                for r in bytes[JOURNAL_MAGIC.len()..].chunks_exact(JOURNAL_RECORD) {
                    let mut id = [0u8; 32];
                    id.copy_from_slice(&r[..32]);
                    let mut e = [0u8; 8];
                    e.copy_from_slice(&r[32..]);
                    let expires = i64::from_le_bytes(e);
                    if expires >= now && seen.len() < MAX_REMEMBERED_NONCES && seen.insert(id, expires).is_none() {
                        by_expiry.push(Reverse((expires, id)));
                    }
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut j = Self { path: path.to_path_buf(), file: None, records: 0 };
        if let Err(e) = j.rewrite(seen) {
            // A full or read-only disk must not keep the daemon from
            // starting: what was read is remembered, and the journal is
            // written anew by the first nonce that can be recorded (until
            // then signed requests are refused, see [`AuthError::NonceJournal`]).
            tracing::warn!(path = %path.display(), error = %e, "the nonce journal could not be rewritten");
        }
        Ok(j)
    }

    /// Writes the journal anew with `seen` (to a temporary file, renamed).
    fn rewrite(&mut self, seen: &HashMap<[u8; 32], i64>) -> std::io::Result<()> {
        use std::io::Write as _;
        self.file = None;
        let tmp = self.path.with_extension("tmp");
        let mut bytes = Vec::with_capacity(JOURNAL_MAGIC.len() + seen.len() * JOURNAL_RECORD);
        bytes.extend_from_slice(JOURNAL_MAGIC);
        for (id, expires) in seen {
            bytes.extend_from_slice(id);
            bytes.extend_from_slice(&expires.to_le_bytes());
        }
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, &self.path)?;
        self.file = Some(std::fs::OpenOptions::new().append(true).open(&self.path)?);
        self.records = seen.len();
        Ok(())
    }

    /// Records one nonce (in the file before this returns; the kernel keeps
    /// it across a crash of the daemon).
    fn append(&mut self, id: [u8; 32], expires: i64, seen: &HashMap<[u8; 32], i64>) -> std::io::Result<()> {
        use std::io::Write as _;
        if self.file.is_none() || self.records > 2 * seen.len() + 1024 {
            let mut live = seen.clone();
            live.insert(id, expires);
            return self.rewrite(&live);
        }
        let mut record = [0u8; JOURNAL_RECORD];
        record[..32].copy_from_slice(&id);
        record[32..].copy_from_slice(&expires.to_le_bytes());
        let written = self.file.as_mut().map_or(Ok(()), |f| f.write_all(&record));
        if written.is_err() {
            // Part of a record may be in the file: rewrite it next time.
            self.file = None;
        }
        written?;
        self.records += 1;
        Ok(())
    }
}

impl NonceCache {
    fn evict(&mut self, now: i64) {
        while let Some(Reverse((expires, id))) = self.by_expiry.peek().copied() {
            if expires >= now {
                break;
            }
            self.by_expiry.pop();
            if self.seen.get(&id) == Some(&expires) {
                self.seen.remove(&id);
            }
        }
    }

    fn insert(
        &mut self,
        id: [u8; 32],
        expires: i64,
        now: i64,
        nonce: &str,
    ) -> Result<(), AuthError> {
        self.evict(now);
        if self.seen.get(&id).is_some_and(|&e| e >= now) {
            return Err(AuthError::NonceUsed(nonce.chars().take(128).collect()));
        }
        if self.seen.len() >= MAX_REMEMBERED_NONCES {
            return Err(AuthError::TooManyRequests);
        }
        if let Some(j) = &mut self.journal {
            j.append(id, expires, &self.seen).map_err(|e| AuthError::NonceJournal(e.to_string()))?;
        }
        self.seen.insert(id, expires);
        self.by_expiry.push(Reverse((expires, id)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Known-answer vectors: /tmp throwaway script ran the official Python
    //! SDK (alibabacloud_tea_openapi 0.4.6, alibabacloud_vpc20160428,
    //! Python 3.11) against a local capture server on 127.0.0.1:47111 with
    //! `Utils.get_timestamp` fixed to 2026-03-04T05:06:07Z and
    //! `Utils.get_nonce` fixed: vector 1 is `vpc.create_vpc(...)` (all
    //! parameters in the query, `Tag` list, empty body), vector 2 is
    //! `call_api` of ModifyVSwitchAttribute with `VSwitchId` list, an empty
    //! value and a form body. The request line, headers and body below are
    //! the bytes the capture server received.
    use super::*;
    use std::time::Duration;

    const KEY_ID: &str = "LTAI5tTestKeyId0001";
    const SECRET: &str = "TestSecret/with+Chars=0001";
    /// 2026-03-04T05:06:07Z
    const SIGNED_AT: u64 = 1_772_600_767;
    const UA: &str = "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2";

    const V1_QUERY: &str = "CidrBlock=10.0.0.0%2F8&Description=a+b%2Ac~d%2Fe%3Af%2Bg%26h%3Di+%E4%B8%AD%E6%96%87%C3%A9\
        &RegionId=cn-hangzhou&Tag.1.Key=env&Tag.1.Value=prod+test&Tag.2.Key=k%2A&Tag.2.Value=&VpcName=lab+vpc";
    const V1_AUTH: &str = "ACS3-HMAC-SHA256 Credential=LTAI5tTestKeyId0001,SignedHeaders=accept;host;user-agent;\
        x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,\
        Signature=3945adcccc19caee14e98db8945beecd42f4828aea665a249b7b5795d4d99002";
    const V1_NONCE: &str = "3f2a9c1e5b7d4e6f8a0b1c2d3e4f5a6b";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    const V2_QUERY: &str =
        "RegionId=cn-hangzhou&VSwitchId.1=vsw-1&VSwitchId.2=vsw-2&Empty=&Path=%2Fa%2Fb~c";
    const V2_BODY: &str = "Description=x%3Ay%2Fz+~+%C3%BC&Ipv6CidrBlock=12&VSwitchName=new+name%2A";
    const V2_SHA256: &str = "357f436cf76079ffba18062076b249da2caf50dfc6807b86b3ff24c01fbff1b2";
    const V2_AUTH: &str = "ACS3-HMAC-SHA256 Credential=LTAI5tTestKeyId0001,SignedHeaders=accept;content-type;host;\
        user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;\
        x-acs-version,Signature=9327c9233403e085df630b6fe6c24bef7d726368b1e2fb5c42a8a379c708d90e";
    const V2_NONCE: &str = "nonce-0002-7e8d9c";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn key() -> AccessKey {
        AccessKey::new(KEY_ID, SECRET)
    }

    fn verifier() -> Verifier {
        Verifier::new(vec![key()])
    }

    fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("test header name");
            map.append(
                name,
                HeaderValue::from_str(value).expect("test header value"),
            );
        }
        map
    }

    /// Headers of vector 1 exactly as received (including unsigned ones).
    fn v1_headers() -> HeaderMap {
        header_map(&[
            ("Accept-Encoding", "identity"),
            ("host", "127.0.0.1:47111"),
            ("x-acs-version", "2016-04-28"),
            ("x-acs-action", "CreateVpc"),
            ("user-agent", UA),
            ("x-acs-date", "2026-03-04T05:06:07Z"),
            ("x-acs-signature-nonce", V1_NONCE),
            ("accept", "application/json"),
            ("x-acs-content-sha256", EMPTY_SHA256),
            ("x-acs-credentials-provider", "static_ak"),
            ("Authorization", V1_AUTH),
            ("Content-Length", "0"),
        ])
    }

    fn v2_headers() -> HeaderMap {
        header_map(&[
            ("Accept-Encoding", "identity"),
            ("host", "127.0.0.1:47111"),
            ("x-acs-version", "2016-04-28"),
            ("x-acs-action", "ModifyVSwitchAttribute"),
            ("user-agent", UA),
            ("x-acs-date", "2026-03-04T05:06:07Z"),
            ("x-acs-signature-nonce", V2_NONCE),
            ("accept", "application/json"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-acs-content-sha256", V2_SHA256),
            ("x-acs-credentials-provider", "static_ak"),
            ("Authorization", V2_AUTH),
            ("Content-Length", "71"),
        ])
    }

    fn authorization_of(signed: &[(String, String)]) -> &str {
        signed
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.as_str())
            .expect("authorization header")
    }

    /// Builds a request signed by [`sign_with_nonce`] as a HeaderMap.
    fn signed_request(
        query: &[(&str, &str)],
        body: &[u8],
        nonce: &str,
        signed_at: u64,
    ) -> HeaderMap {
        let base = [
            ("host", "vpc.lab.internal"),
            ("x-acs-action", "DescribeVpcs"),
            ("x-acs-version", "2016-04-28"),
        ];
        let mut all: Vec<(String, String)> = base
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        all.extend(sign_with_nonce(
            "POST",
            "/",
            query,
            &base,
            body,
            &key(),
            at(signed_at),
            nonce,
        ));
        let refs: Vec<(&str, &str)> = all.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        header_map(&refs)
    }

    #[test]
    fn python_sdk_vector_create_vpc_query_is_accepted_and_reproduced() {
        let v = verifier();
        let ok = v.verify(
            "POST",
            "/",
            Some(V1_QUERY),
            &v1_headers(),
            b"",
            at(SIGNED_AT + 3),
        );
        assert_eq!(ok.map(|k| k.id.as_str()), Ok(KEY_ID));

        let query = [
            ("CidrBlock", "10.0.0.0/8"),
            ("Description", "a b*c~d/e:f+g&h=i 中文é"),
            ("RegionId", "cn-hangzhou"),
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "prod test"),
            ("Tag.2.Key", "k*"),
            ("Tag.2.Value", ""),
            ("VpcName", "lab vpc"),
        ];
        let headers = [
            ("host", "127.0.0.1:47111"),
            ("x-acs-version", "2016-04-28"),
            ("x-acs-action", "CreateVpc"),
            ("user-agent", UA),
            ("accept", "application/json"),
            ("x-acs-credentials-provider", "static_ak"),
        ];
        let signed = sign_with_nonce(
            "POST",
            "/",
            &query,
            &headers,
            b"",
            &key(),
            at(SIGNED_AT),
            V1_NONCE,
        );
        assert_eq!(authorization_of(&signed), V1_AUTH);
        assert!(signed.contains(&("x-acs-content-sha256".to_owned(), EMPTY_SHA256.to_owned())));
        assert!(signed.contains(&("x-acs-date".to_owned(), "2026-03-04T05:06:07Z".to_owned())));
    }

    #[test]
    fn python_sdk_vector_form_body_and_list_params_is_accepted_and_reproduced() {
        let v = verifier();
        let ok = v.verify(
            "POST",
            "/",
            Some(V2_QUERY),
            &v2_headers(),
            V2_BODY.as_bytes(),
            at(SIGNED_AT - 60),
        );
        assert_eq!(ok.map(|k| k.id.as_str()), Ok(KEY_ID));

        let query = [
            ("RegionId", "cn-hangzhou"),
            ("VSwitchId.1", "vsw-1"),
            ("VSwitchId.2", "vsw-2"),
            ("Empty", ""),
            ("Path", "/a/b~c"),
        ];
        let headers = [
            ("host", "127.0.0.1:47111"),
            ("x-acs-version", "2016-04-28"),
            ("x-acs-action", "ModifyVSwitchAttribute"),
            ("user-agent", UA),
            ("accept", "application/json"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-acs-credentials-provider", "static_ak"),
        ];
        let signed = sign_with_nonce(
            "POST",
            "/",
            &query,
            &headers,
            V2_BODY.as_bytes(),
            &key(),
            at(SIGNED_AT),
            V2_NONCE,
        );
        assert_eq!(authorization_of(&signed), V2_AUTH);
        assert!(signed.contains(&("x-acs-content-sha256".to_owned(), V2_SHA256.to_owned())));
    }

    #[test]
    fn canonical_query_sorts_and_percent_encodes_like_the_sdk() {
        let q = canonical_query_string(&[("b", "x y*~/:"), ("a", ""), ("c", "中"), ("a.1", "+&=")]);
        assert_eq!(q, "a=&a.1=%2B%26%3D&b=x%20y%2A~%2F%3A&c=%E4%B8%AD");
        // What goes on the wire decodes back to the same canonical query.
        let pairs = parse_query(&q);
        assert_eq!(canonical_query(&pairs, KeyEncoding::Rfc3986), q.as_bytes());
    }

    #[test]
    fn tampered_query_value_is_signature_mismatch_with_server_string_to_sign() {
        let tampered = V1_QUERY.replace("VpcName=lab+vpc", "VpcName=lab+vpc2");
        let v = verifier();
        let err = v.verify(
            "POST",
            "/",
            Some(&tampered),
            &v1_headers(),
            b"",
            at(SIGNED_AT),
        );
        let Err(err @ AuthError::SignatureMismatch { .. }) = err else {
            panic!("expected mismatch, got {err:?}")
        };
        assert_eq!(err.code(), "SignatureDoesNotMatch");
        assert_eq!(err.status(), 400);
        assert!(
            err.to_string()
                .contains("server string to sign is:ACS3-HMAC-SHA256\n"),
            "{err}"
        );
    }

    #[test]
    fn added_or_dropped_query_parameter_is_signature_mismatch() {
        let v = verifier();
        let added = format!("{V1_QUERY}&Extra=1");
        let err = v
            .verify("POST", "/", Some(&added), &v1_headers(), b"", at(SIGNED_AT))
            .unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch");
        let err = v
            .verify("POST", "/", None, &v1_headers(), b"", at(SIGNED_AT))
            .unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch");
    }

    #[test]
    fn tampered_body_is_content_hash_mismatch() {
        let body = V2_BODY.replace("new+name", "evil+name");
        let v = verifier();
        let err = v.verify(
            "POST",
            "/",
            Some(V2_QUERY),
            &v2_headers(),
            body.as_bytes(),
            at(SIGNED_AT),
        );
        assert!(
            matches!(err, Err(AuthError::ContentHashMismatch { ref claimed, .. }) if claimed == V2_SHA256),
            "{err:?}"
        );
    }

    #[test]
    fn tampered_signed_header_or_method_or_path_is_signature_mismatch() {
        let v = verifier();
        let mut headers = v1_headers();
        headers.insert("x-acs-action", HeaderValue::from_static("DeleteVpc"));
        let err = v
            .verify("POST", "/", Some(V1_QUERY), &headers, b"", at(SIGNED_AT))
            .unwrap_err();
        assert!(
            matches!(err, AuthError::SignatureMismatch { .. }),
            "{err:?}"
        );
        let err = v
            .verify(
                "GET",
                "/",
                Some(V1_QUERY),
                &v1_headers(),
                b"",
                at(SIGNED_AT),
            )
            .unwrap_err();
        assert!(
            matches!(err, AuthError::SignatureMismatch { .. }),
            "{err:?}"
        );
        let err = v
            .verify(
                "POST",
                "/x",
                Some(V1_QUERY),
                &v1_headers(),
                b"",
                at(SIGNED_AT),
            )
            .unwrap_err();
        assert!(
            matches!(err, AuthError::SignatureMismatch { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn wrong_secret_is_signature_mismatch() {
        let v = Verifier::new(vec![AccessKey::new(KEY_ID, "another-secret")]);
        let err = v
            .verify(
                "POST",
                "/",
                Some(V1_QUERY),
                &v1_headers(),
                b"",
                at(SIGNED_AT),
            )
            .unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch");
    }

    #[test]
    fn unsigned_extra_header_is_ignored_but_unsigned_x_acs_header_is_refused() {
        let v = verifier();
        let mut headers = v1_headers();
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        assert!(
            v.verify("POST", "/", Some(V1_QUERY), &headers, b"", at(SIGNED_AT))
                .is_ok()
        );
        let mut headers = v2_headers();
        headers.insert("x-acs-security-token", HeaderValue::from_static("t"));
        let err = v
            .verify(
                "POST",
                "/",
                Some(V2_QUERY),
                &headers,
                V2_BODY.as_bytes(),
                at(SIGNED_AT),
            )
            .unwrap_err();
        assert_eq!(
            err,
            AuthError::HeaderNotSigned("x-acs-security-token".to_owned())
        );
        assert_eq!(err.code(), "IncompleteSignature");
    }

    #[test]
    fn required_header_not_signed_is_incomplete_signature() {
        let mut headers = v1_headers();
        let auth = V1_AUTH.replace("x-acs-action;", "");
        headers.insert(
            "authorization",
            HeaderValue::from_str(&auth).expect("ascii"),
        );
        // x-acs-action is present but no longer signed.
        let err = verifier()
            .verify("POST", "/", Some(V1_QUERY), &headers, b"", at(SIGNED_AT))
            .unwrap_err();
        assert_eq!(err, AuthError::HeaderNotSigned("x-acs-action".to_owned()));
        let mut headers = v1_headers();
        headers.remove("x-acs-date");
        let err = verifier()
            .verify("POST", "/", Some(V1_QUERY), &headers, b"", at(SIGNED_AT))
            .unwrap_err();
        assert_eq!((err.code(), err.status()), ("MissingParameter", 400));
    }

    #[test]
    fn unknown_access_key_is_not_found_404() {
        let v = Verifier::new(vec![AccessKey::new("LTAIsomeoneElse", SECRET)]);
        let err = v
            .verify(
                "POST",
                "/",
                Some(V1_QUERY),
                &v1_headers(),
                b"",
                at(SIGNED_AT),
            )
            .unwrap_err();
        assert_eq!(err, AuthError::UnknownAccessKey(KEY_ID.to_owned()));
        assert_eq!(
            (err.code(), err.status()),
            ("InvalidAccessKeyId.NotFound", 404)
        );
        assert!(Verifier::new(vec![]).is_empty());
    }

    #[test]
    fn timestamp_more_than_15_minutes_old_is_expired() {
        let v = verifier();
        let err = v
            .verify(
                "POST",
                "/",
                Some(V1_QUERY),
                &v1_headers(),
                b"",
                at(SIGNED_AT + 901),
            )
            .unwrap_err();
        assert_eq!(
            err,
            AuthError::StaleTimestamp {
                date: "2026-03-04T05:06:07Z".to_owned(),
                skew_secs: 901
            }
        );
        assert_eq!(
            (err.code(), err.status()),
            ("InvalidTimeStamp.Expired", 400)
        );
        assert!(err.to_string().contains("901 s behind"), "{err}");
        // Exactly 15 minutes is still accepted.
        assert!(
            v.verify(
                "POST",
                "/",
                Some(V1_QUERY),
                &v1_headers(),
                b"",
                at(SIGNED_AT + 900)
            )
            .is_ok()
        );
    }

    #[test]
    fn timestamp_more_than_15_minutes_ahead_is_expired() {
        let v = verifier();
        let err = v
            .verify(
                "POST",
                "/",
                Some(V1_QUERY),
                &v1_headers(),
                b"",
                at(SIGNED_AT - 16 * 60),
            )
            .unwrap_err();
        assert_eq!(err.code(), "InvalidTimeStamp.Expired");
        assert!(err.to_string().contains("960 s ahead of"), "{err}");
        assert!(
            v.verify(
                "POST",
                "/",
                Some(V1_QUERY),
                &v1_headers(),
                b"",
                at(SIGNED_AT - 900)
            )
            .is_ok()
        );
    }

    #[test]
    fn unparseable_date_is_invalid_timestamp_format() {
        let mut headers = v1_headers();
        headers.insert(
            "x-acs-date",
            HeaderValue::from_static("2026-03-04 05:06:07"),
        );
        let err = verifier()
            .verify("POST", "/", Some(V1_QUERY), &headers, b"", at(SIGNED_AT))
            .unwrap_err();
        assert_eq!(err.code(), "InvalidTimeStamp.Format");
    }

    #[test]
    fn replayed_nonce_is_refused() {
        let v = verifier();
        assert!(
            v.verify(
                "POST",
                "/",
                Some(V1_QUERY),
                &v1_headers(),
                b"",
                at(SIGNED_AT)
            )
            .is_ok()
        );
        let err = v
            .verify(
                "POST",
                "/",
                Some(V1_QUERY),
                &v1_headers(),
                b"",
                at(SIGNED_AT + 600),
            )
            .unwrap_err();
        assert_eq!(err, AuthError::NonceUsed(V1_NONCE.to_owned()));
        assert_eq!((err.code(), err.status()), ("SignatureNonceUsed", 400));
        // A different nonce from the same key is fine.
        let headers = signed_request(&[], b"", "other-nonce", SIGNED_AT);
        assert!(
            v.verify("POST", "/", None, &headers, b"", at(SIGNED_AT))
                .is_ok()
        );
    }

    #[test]
    fn hardening_a_nonce_is_refused_after_a_restart_from_its_journal() {
        let dir = std::env::temp_dir().join(format!("vpc-nonce-journal-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nonces");
        let keys = || vec![key()];
        let v = Verifier::with_journal(keys(), &path, at(SIGNED_AT)).unwrap();
        assert!(v.verify("POST", "/", Some(V1_QUERY), &v1_headers(), b"", at(SIGNED_AT)).is_ok());
        drop(v);
        // The restarted daemon: the same request within its window is a replay.
        let v = Verifier::with_journal(keys(), &path, at(SIGNED_AT + 60)).unwrap();
        let err = v.verify("POST", "/", Some(V1_QUERY), &v1_headers(), b"", at(SIGNED_AT + 60)).unwrap_err();
        assert_eq!(err, AuthError::NonceUsed(V1_NONCE.to_owned()));
        drop(v);
        // Started after the window: the expired nonce is dropped from the journal.
        let later = SIGNED_AT + 2 * MAX_CLOCK_SKEW_SECS as u64;
        let v = Verifier::with_journal(keys(), &path, at(later)).unwrap();
        assert!(v.nonces.lock().unwrap().seen.is_empty());
        drop(v);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), JOURNAL_MAGIC.len() as u64, "expired records were rewritten away");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn hardening_the_nonce_journal_is_rewritten_when_it_grows() {
        let dir = std::env::temp_dir().join(format!("vpc-nonce-journal-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nonces");
        let mut cache = NonceCache::default();
        cache.journal = Some(Journal::open(&path, 0, &mut cache.seen, &mut cache.by_expiry).unwrap());
        // 3,000 nonces, each expiring before the next arrives: at most
        // 2 x live + 1,024 records are ever in the file.
        for i in 0..3_000i64 {
            cache.insert(nonce_id("k", &i.to_string()), i * 10, i * 10, "n").unwrap();
            let records = (std::fs::metadata(&path).unwrap().len() as usize - JOURNAL_MAGIC.len()) / JOURNAL_RECORD;
            assert!(records <= 2 * cache.seen.len() + 1_025, "{records} records for {} live nonces", cache.seen.len());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn failed_verification_does_not_burn_the_nonce() {
        let v = verifier();
        let tampered = format!("{V1_QUERY}&Extra=1");
        assert!(
            v.verify(
                "POST",
                "/",
                Some(&tampered),
                &v1_headers(),
                b"",
                at(SIGNED_AT)
            )
            .is_err()
        );
        assert!(
            v.verify(
                "POST",
                "/",
                Some(V1_QUERY),
                &v1_headers(),
                b"",
                at(SIGNED_AT)
            )
            .is_ok()
        );
    }

    #[test]
    fn expired_nonces_are_evicted() {
        let v = verifier();
        for i in 0..10 {
            let headers = signed_request(&[], b"", &format!("n{i}"), SIGNED_AT);
            assert!(
                v.verify("POST", "/", None, &headers, b"", at(SIGNED_AT))
                    .is_ok()
            );
        }
        let later = SIGNED_AT + 2 * 900;
        let headers = signed_request(&[], b"", "n0", later);
        // Same nonce, new request 30 minutes on: the old entry has expired.
        assert!(
            v.verify("POST", "/", None, &headers, b"", at(later))
                .is_ok()
        );
        let cache = v.nonces.lock().expect("not poisoned");
        assert_eq!(cache.seen.len(), 1);
        assert_eq!(cache.by_expiry.len(), 1);
    }

    #[test]
    fn nonce_cache_is_bounded() {
        let mut cache = NonceCache::default();
        for i in 0..MAX_REMEMBERED_NONCES {
            let id = nonce_id("k", &i.to_string());
            assert!(cache.insert(id, 1_000, 0, "n").is_ok());
        }
        assert_eq!(
            cache.insert(nonce_id("k", "x"), 1_000, 0, "x"),
            Err(AuthError::TooManyRequests)
        );
        // Once they expire there is room again.
        assert!(cache.insert(nonce_id("k", "x"), 3_000, 1_001, "x").is_ok());
        assert_eq!(cache.seen.len(), 1);
    }

    #[test]
    fn v2_query_signature_is_refused_as_unsupported_method() {
        let query = "AccessKeyId=LTAI5tTestKeyId0001&Action=DescribeVpcs&Format=JSON&RegionId=cn-hangzhou\
            &SignatureMethod=HMAC-SHA1&SignatureNonce=1&SignatureVersion=1.0&Timestamp=2026-03-04T05%3A06%3A07Z\
            &Version=2016-04-28&Signature=abc%3D";
        let headers = header_map(&[("host", "vpc.lab.internal")]);
        let err = verifier()
            .verify("GET", "/", Some(query), &headers, b"", at(SIGNED_AT))
            .unwrap_err();
        assert!(
            matches!(err, AuthError::UnsupportedAlgorithm { .. }),
            "{err:?}"
        );
        assert_eq!((err.code(), err.status()), ("InvalidSignatureMethod", 400));
        assert!(err.to_string().contains("ACS3-HMAC-SHA256"), "{err}");
        // The same in a form body (V2 RPC over POST).
        let headers = header_map(&[
            ("host", "h"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        let err = verifier()
            .verify("POST", "/", None, &headers, query.as_bytes(), at(SIGNED_AT))
            .unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureMethod");
    }

    #[test]
    fn other_authorization_schemes_are_refused_as_unsupported_method() {
        for auth in [
            "acs LTAI5tTestKeyId0001:c2lnbmF0dXJl",
            "ACS3-HMAC-SM3 Credential=a,SignedHeaders=host,Signature=00",
            "ACS3-RSA-SHA256 Credential=a,SignedHeaders=host,Signature=00",
        ] {
            let mut headers = v1_headers();
            headers.insert("authorization", HeaderValue::from_str(auth).expect("ascii"));
            let err = verifier()
                .verify("POST", "/", Some(V1_QUERY), &headers, b"", at(SIGNED_AT))
                .unwrap_err();
            assert_eq!(err.code(), "InvalidSignatureMethod", "{auth}: {err:?}");
        }
    }

    #[test]
    fn missing_or_malformed_authorization_is_refused() {
        let mut headers = v1_headers();
        headers.remove("authorization");
        let err = verifier()
            .verify("POST", "/", Some(V1_QUERY), &headers, b"", at(SIGNED_AT))
            .unwrap_err();
        assert_eq!((err.code(), err.status()), ("MissingAuthorization", 400));
        for auth in [
            "ACS3-HMAC-SHA256",
            "ACS3-HMAC-SHA256 Credential=LTAI5tTestKeyId0001,SignedHeaders=host",
            "ACS3-HMAC-SHA256 Credential=LTAI5tTestKeyId0001,SignedHeaders=host,Signature=xyz",
            "ACS3-HMAC-SHA256 Credential=a,Credential=b,SignedHeaders=host,Signature=00",
            &V1_AUTH.replace("accept;host", "host;accept"),
            &V1_AUTH.replace("accept;host", "Accept;host"),
        ] {
            headers.insert("authorization", HeaderValue::from_str(auth).expect("ascii"));
            let err = verifier()
                .verify("POST", "/", Some(V1_QUERY), &headers, b"", at(SIGNED_AT))
                .unwrap_err();
            assert_eq!(err.code(), "IncompleteSignature", "{auth}: {err:?}");
        }
    }

    #[test]
    fn sign_then_verify_round_trips_with_reserved_characters_and_body() {
        let query = [("Name", "a b/c*d~e:é"), ("Tag.1.Key", ""), ("sp ace", "1")];
        let body = b"{\"x\":1}";
        let base = [
            ("host", "vpc.lab.internal"),
            ("x-acs-action", "CreateVpc"),
            ("x-acs-version", "2016-04-28"),
            ("content-type", "application/json; charset=utf-8"),
        ];
        let mut all: Vec<(String, String)> = base
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        all.extend(sign(
            "POST",
            "/",
            &query,
            &base,
            body,
            &key(),
            at(SIGNED_AT),
        ));
        let refs: Vec<(&str, &str)> = all.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let raw = canonical_query_string(&query);
        let v = verifier();
        let ok = v.verify(
            "POST",
            "/",
            Some(&raw),
            &header_map(&refs),
            body,
            at(SIGNED_AT),
        );
        assert_eq!(ok.map(|k| k.id.as_str()), Ok(KEY_ID));
    }

    #[test]
    fn sdk_style_unencoded_parameter_names_are_accepted() {
        // The Python and Go SDKs write names unencoded; "sp ace" shows it.
        let pairs = vec![
            (b"sp ace".to_vec(), b"1".to_vec()),
            (b"A".to_vec(), b"x y".to_vec()),
        ];
        let headers = [("host", "h"), ("x-acs-action", "A"), ("x-acs-version", "v")];
        let date = "2026-03-04T05:06:07Z";
        let mut canonical_headers = String::new();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.extend([
            ("x-acs-content-sha256", EMPTY_SHA256),
            ("x-acs-date", date),
            ("x-acs-signature-nonce", "n"),
        ]);
        all.sort();
        for (n, v) in &all {
            canonical_headers.push_str(&format!("{n}:{v}\n"));
        }
        let signed = all.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(";");
        let request = canonical_request(
            b"POST",
            b"/",
            &canonical_query(&pairs, KeyEncoding::Raw),
            canonical_headers.as_bytes(),
            &signed,
            EMPTY_SHA256,
        );
        assert!(request.starts_with(b"POST\n/\nA=x%20y&sp ace=1\n"));
        let sig = hex::encode(
            mac(SECRET, &string_to_sign(&request))
                .finalize()
                .into_bytes(),
        );
        let auth =
            format!("{ALGORITHM} Credential={KEY_ID},SignedHeaders={signed},Signature={sig}");
        all.push(("authorization", &auth));
        let v = verifier();
        let ok = v.verify(
            "POST",
            "/",
            Some("sp+ace=1&A=x%20y"),
            &header_map(&all),
            b"",
            at(SIGNED_AT),
        );
        assert_eq!(ok.map(|k| k.id.as_str()), Ok(KEY_ID));
    }

    #[test]
    fn access_key_parses_id_secret_and_optional_account() {
        let k: AccessKey = "LTAI5tabc:sec/ret+=:1234567890123456"
            .parse()
            .expect("valid");
        assert_eq!(
            (k.id.as_str(), k.secret.as_str(), k.account_id.as_str()),
            ("LTAI5tabc", "sec/ret+=", "1234567890123456")
        );
        let k: AccessKey = "LTAI5tabc:secret".parse().expect("valid");
        assert_eq!(k.account_id, default_account_id("LTAI5tabc"));
        assert_eq!(k.account_id.len(), 16);
        assert!(k.account_id.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            default_account_id("LTAI5tabc"),
            default_account_id("LTAI5tabc")
        );
        assert_ne!(
            default_account_id("LTAI5tabc"),
            default_account_id("LTAI5tabd")
        );
        assert!(
            !format!("{k:?}").contains("secret\""),
            "Debug must not print the secret"
        );
    }

    #[test]
    fn access_key_rejects_bad_input_with_clear_text() {
        for (input, needle) in [
            ("", "empty AccessKeyId"),
            ("LTAI5tabc", "missing ':'"),
            (":secret", "empty AccessKeyId"),
            ("LTAI5tabc:", "empty AccessKeySecret"),
            ("LT AI:secret", "letters, digits"),
            ("LTAI5tabc:sec ret", "printable ASCII"),
            ("LTAI5tabc:secret:12ab", "1 to 20 digits"),
        ] {
            let err = input.parse::<AccessKey>().expect_err(input);
            assert!(err.to_string().contains(needle), "{input:?}: {err}");
            assert!(err.to_string().contains("ID:SECRET[:ACCOUNT_ID]"));
        }
    }
}
