//! OSS request signatures against the daemon's access keys: V1
//! (`Authorization: OSS AccessKeyId:Signature`, HMAC-SHA1 over the
//! canonical string with OSS's sub-resources, or the same in the query:
//! `OSSAccessKeyId`, `Expires`, `Signature`) and V4 (`OSS4-HMAC-SHA256
//! Credential=ID/DATE/REGION/oss/aliyun_v4_request, AdditionalHeaders=..,
//! Signature=..`, or the `x-oss-signature-version` query form), as oss2
//! and alibabacloud-oss-v2 compute them.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::error::OssError;
use crate::api::signature::AccessKey;

/// How far a request's date may be from the service's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// Query parameters that are sub-resources, signed by V1 (oss2's list).
const SUBRESOURCES: &[&str] = &[
    "acl",
    "uploadId",
    "uploads",
    "partNumber",
    "group",
    "link",
    "delete",
    "website",
    "location",
    "objectInfo",
    "objectMeta",
    "response-expires",
    "response-content-disposition",
    "response-content-type",
    "response-content-language",
    "response-cache-control",
    "response-content-encoding",
    "logging",
    "cors",
    "lifecycle",
    "restore",
    "qos",
    "referer",
    "stat",
    "bucketInfo",
    "append",
    "position",
    "security-token",
    "live",
    "comp",
    "status",
    "vod",
    "startTime",
    "endTime",
    "x-oss-process",
    "symlink",
    "callback",
    "callback-var",
    "tagging",
    "encryption",
    "versions",
    "versioning",
    "versionId",
    "policy",
    "requestPayment",
    "x-oss-traffic-limit",
    "qosInfo",
    "asyncFetch",
    "x-oss-request-payer",
    "sequential",
    "inventory",
    "inventoryId",
    "continuation-token",
    "worm",
    "wormId",
    "wormExtend",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "transferAcceleration",
    "cname",
    "metaQuery",
    "x-oss-ac-source-ip",
    "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id",
    "x-oss-ac-forward-allow",
    "resourceGroup",
    "style",
    "styleName",
    "x-oss-async-process",
    "regionList",
    "x-oss-write-get-object-response",
    "bucketArchiveDirectRead",
    "httpsConfig",
    "redundancyTransition",
    "x-oss-target-redundancy-type",
    "x-oss-redundancy-transition-taskid",
    "accessPoint",
    "accessPointPolicy",
    "publicAccessBlock",
    "x-oss-access-point-name",
    "requesterQosInfo",
    "qosRequester",
    "resourcePoolInfo",
    "resourcePool",
    "resourcePoolBuckets",
];

/// What a signature covers of a request (decoded names and values).
pub struct Signed<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// The bucket addressed (path-style or virtual-host), if any.
    pub bucket: Option<&'a str>,
    /// The object key, decoded ("" for bucket requests).
    pub key: &'a str,
    /// Query parameters, decoded, in order.
    pub query: &'a [(String, String)],
    /// Request headers.
    pub headers: &'a HeaderMap,
}

impl Signed<'_> {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn denied_signature(string_to_sign: &str, key_id: &str) -> OssError {
    OssError::new(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
    .with("StringToSign", string_to_sign)
    .with("OSSAccessKeyId", key_id)
}

fn invalid_key(id: &str) -> OssError {
    OssError::new(
        403,
        "InvalidAccessKeyId",
        "The OSS Access Key Id you provided does not exist in our records.",
    )
    .with("OSSAccessKeyId", id)
}

fn skewed() -> OssError {
    OssError::new(
        403,
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
    )
    .with("MaxAllowedSkewMilliseconds", "900000")
}

/// Equal without an early exit.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// The key a request is signed with, `None` for an anonymous request, or
/// why it is refused.
pub fn authenticate(
    keys: &[AccessKey],
    region: &str,
    req: &Signed<'_>,
    now: SystemTime,
) -> Result<Option<AccessKey>, OssError> {
    let auth = req.header("authorization");
    if let Some(rest) = auth.strip_prefix("OSS4-HMAC-SHA256 ") {
        return v4_header(keys, region, req, rest, now).map(Some);
    }
    if let Some(rest) = auth.strip_prefix("OSS ") {
        return v1_header(keys, req, rest, now).map(Some);
    }
    if !auth.is_empty() {
        return Err(OssError::invalid_argument(
            "Authorization header is invalid: neither OSS nor OSS4-HMAC-SHA256.",
        ));
    }
    if req.param("x-oss-signature-version").is_some() {
        return v4_query(keys, region, req, now).map(Some);
    }
    if req.param("OSSAccessKeyId").is_some() || req.param("Signature").is_some() {
        return v1_query(keys, req, now).map(Some);
    }
    Ok(None)
}

fn key<'k>(keys: &'k [AccessKey], id: &str) -> Result<&'k AccessKey, OssError> {
    keys.iter()
        .find(|k| k.id == id)
        .ok_or_else(|| invalid_key(id))
}

/// V1's canonical resource: `/bucket/key` and the sub-resources.
fn v1_resource(req: &Signed<'_>, skip: &[&str]) -> String {
    let mut sub: Vec<(&str, &str)> = req
        .query
        .iter()
        .filter(|(k, _)| SUBRESOURCES.contains(&k.as_str()) && !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sub.sort();
    let mut s = match req.bucket {
        Some(b) => format!("/{b}/{}", req.key),
        None => "/".to_string(),
    };
    for (i, (k, v)) in sub.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(k);
        if !v.is_empty() {
            s.push('=');
            s.push_str(v);
        }
    }
    s
}

fn v1_string_to_sign(req: &Signed<'_>, date: &str, skip: &[&str]) -> String {
    let mut oss: Vec<(String, &str)> = req
        .headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-oss-"))
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("")))
        .collect();
    oss.sort();
    let mut s = format!(
        "{}\n{}\n{}\n{}\n",
        req.method,
        req.header("content-md5"),
        req.header("content-type"),
        date
    );
    for (k, v) in oss {
        s += &format!("{k}:{v}\n");
    }
    s + &v1_resource(req, skip)
}

fn hmac_sha1_b64(secret: &str, text: &str) -> String {
    use base64::Engine as _;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The V1 signature a client sends (`Authorization: OSS <id>:<this>`) for
/// `req` dated `date` (its `Date` or `x-oss-date` header): HMAC-SHA1 with
/// `secret` over the same canonical string [`authenticate`] checks.
pub fn sign_v1(secret: &str, req: &Signed<'_>, date: &str) -> String {
    hmac_sha1_b64(secret, &v1_string_to_sign(req, date, &[]))
}

/// A date header as OSS reads it: RFC 1123 (`Sat, 05 Dec 2015 11:10:29 GMT`).
pub fn parse_http_date(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|d| d.timestamp())
}

fn check_skew(t: i64, now: SystemTime) -> Result<(), OssError> {
    if (t - secs(now)).unsigned_abs() > MAX_CLOCK_SKEW.as_secs() {
        return Err(skewed());
    }
    Ok(())
}

fn v1_header(
    keys: &[AccessKey],
    req: &Signed<'_>,
    rest: &str,
    now: SystemTime,
) -> Result<AccessKey, OssError> {
    let (id, sig) = rest.trim().rsplit_once(':').ok_or_else(|| {
        OssError::invalid_argument(
            "Authorization header is invalid: expected OSS AccessKeyId:Signature.",
        )
    })?;
    let k = key(keys, id)?;
    let date = if !req.header("x-oss-date").is_empty() {
        req.header("x-oss-date")
    } else {
        req.header("date")
    };
    if date.is_empty() {
        return Err(OssError::access_denied("The Date header is missing."));
    }
    let t = parse_http_date(date).ok_or_else(|| {
        OssError::access_denied(format!("The date {date:?} is not in RFC 1123 format."))
    })?;
    check_skew(t, now)?;
    let sts = v1_string_to_sign(req, date, &[]);
    if !same(hmac_sha1_b64(&k.secret, &sts).as_bytes(), sig.as_bytes()) {
        return Err(denied_signature(&sts, id));
    }
    Ok(k.clone())
}

fn v1_query(keys: &[AccessKey], req: &Signed<'_>, now: SystemTime) -> Result<AccessKey, OssError> {
    let (Some(id), Some(expires), Some(sig)) = (
        req.param("OSSAccessKeyId"),
        req.param("Expires"),
        req.param("Signature"),
    ) else {
        return Err(OssError::access_denied(
            "A signed URL needs OSSAccessKeyId, Expires and Signature.",
        ));
    };
    let k = key(keys, id)?;
    let t: i64 = expires
        .parse()
        .map_err(|_| OssError::invalid_argument(format!("Expires {expires:?} is not a number.")))?;
    if t < secs(now) {
        return Err(OssError::access_denied("Request has expired.").with("Expires", expires));
    }
    let sts = v1_string_to_sign(req, expires, &["OSSAccessKeyId", "Expires", "Signature"]);
    if !same(hmac_sha1_b64(&k.secret, &sts).as_bytes(), sig.as_bytes()) {
        return Err(denied_signature(&sts, id));
    }
    Ok(k.clone())
}

/// V4's encoding: every byte but `A-Za-z0-9-_.~` (and `/` in paths) as %XX.
fn v4_encode(s: &str, keep_slash: bool) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

struct V4Parts<'a> {
    id: &'a str,
    date: &'a str,
    region: &'a str,
    product: &'a str,
    additional: Vec<String>,
    signature: &'a str,
    datetime: &'a str,
}

fn parse_credential(c: &str) -> Option<(&str, &str, &str, &str)> {
    let mut it = c.split('/');
    let (id, date, region, product, term) =
        (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    (it.next().is_none() && term == "aliyun_v4_request").then_some((id, date, region, product))
}

fn v4_verify(
    keys: &[AccessKey],
    region: &str,
    req: &Signed<'_>,
    p: &V4Parts<'_>,
    skip_query: &str,
    now: SystemTime,
) -> Result<AccessKey, OssError> {
    let k = key(keys, p.id)?;
    let t = chrono::NaiveDateTime::parse_from_str(p.datetime, "%Y%m%dT%H%M%SZ")
        .map_err(|_| {
            OssError::access_denied(format!(
                "x-oss-date {:?} is not yyyymmddThhmmssZ.",
                p.datetime
            ))
        })?
        .and_utc()
        .timestamp();
    if !p.datetime.starts_with(p.date) {
        return Err(OssError::invalid_argument(
            "The date of the credential scope does not match x-oss-date.",
        ));
    }
    if p.region != region {
        return Err(OssError::invalid_argument(format!(
            "Invalid signing region in Authorization header: {:?}, expected {region:?}.",
            p.region
        )));
    }
    if p.product != "oss" {
        return Err(OssError::invalid_argument(format!(
            "Invalid signing product in Authorization header: {:?}.",
            p.product
        )));
    }
    if skip_query.is_empty() {
        check_skew(t, now)?;
    }
    let uri = match req.bucket {
        Some(b) => v4_encode(&format!("/{b}/{}", req.key), true),
        None => "/".to_string(),
    };
    let mut q: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| k != skip_query)
        .map(|(k, v)| (v4_encode(k, false), v4_encode(v, false)))
        .collect();
    q.sort();
    let query = q
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    let mut signed: Vec<(String, &str)> = req
        .headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k.starts_with("x-oss-")
                || k == "content-type"
                || k == "content-md5"
                || p.additional.iter().any(|a| a == k)
        })
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("")))
        .collect();
    signed.sort();
    let headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let payload = match req.header("x-oss-content-sha256") {
        "" => "UNSIGNED-PAYLOAD",
        h => h,
    };
    let canonical = format!(
        "{}\n{uri}\n{query}\n{headers}\n{}\n{payload}",
        req.method,
        p.additional.join(";")
    );
    let scope = format!("{}/{}/{}/aliyun_v4_request", p.date, p.region, p.product);
    let sts = format!(
        "OSS4-HMAC-SHA256\n{}\n{scope}\n{}",
        p.datetime,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mac = |key: &[u8], data: &str| {
        let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
        m.update(data.as_bytes());
        m.finalize().into_bytes().to_vec()
    };
    let mut signing = mac(format!("aliyun_v4{}", k.secret).as_bytes(), p.date);
    for part in [p.region, p.product, "aliyun_v4_request"] {
        signing = mac(&signing, part);
    }
    let expected = hex::encode(mac(&signing, &sts));
    if !same(expected.as_bytes(), p.signature.as_bytes()) {
        return Err(denied_signature(&sts, p.id).with("CanonicalRequest", canonical));
    }
    Ok(k.clone())
}

fn v4_header(
    keys: &[AccessKey],
    region: &str,
    req: &Signed<'_>,
    rest: &str,
    now: SystemTime,
) -> Result<AccessKey, OssError> {
    let bad =
        |why: &str| OssError::invalid_argument(format!("Authorization header is invalid: {why}."));
    let (mut credential, mut additional, mut signature) = (None, Vec::new(), None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| bad("expected Name=Value fields"))?;
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "AdditionalHeaders" => {
                additional = v
                    .split(';')
                    .filter(|h| !h.is_empty())
                    .map(|h| h.trim().to_ascii_lowercase())
                    .collect()
            }
            "Signature" => signature = Some(v.trim()),
            other => return Err(bad(&format!("unknown field {other:?}"))),
        }
    }
    let credential = credential.ok_or_else(|| bad("no Credential"))?;
    let signature = signature.ok_or_else(|| bad("no Signature"))?;
    let (id, date, reg, product) = parse_credential(credential)
        .ok_or_else(|| bad("Credential is not ID/DATE/REGION/PRODUCT/aliyun_v4_request"))?;
    let datetime = req.header("x-oss-date");
    if datetime.is_empty() {
        return Err(OssError::access_denied("The x-oss-date header is missing."));
    }
    v4_verify(
        keys,
        region,
        req,
        &V4Parts {
            id,
            date,
            region: reg,
            product,
            additional,
            signature,
            datetime,
        },
        "",
        now,
    )
}

fn v4_query(
    keys: &[AccessKey],
    region: &str,
    req: &Signed<'_>,
    now: SystemTime,
) -> Result<AccessKey, OssError> {
    let need = |n: &str| {
        req.param(n)
            .ok_or_else(|| OssError::access_denied(format!("A V4 signed URL needs {n}.")))
    };
    if need("x-oss-signature-version")? != "OSS4-HMAC-SHA256" {
        return Err(OssError::invalid_argument(
            "x-oss-signature-version must be OSS4-HMAC-SHA256.",
        ));
    }
    let (credential, datetime, expires, signature) = (
        need("x-oss-credential")?,
        need("x-oss-date")?,
        need("x-oss-expires")?,
        need("x-oss-signature")?,
    );
    let (id, date, reg, product) = parse_credential(credential).ok_or_else(|| {
        OssError::invalid_argument(
            "x-oss-credential is not ID/DATE/REGION/PRODUCT/aliyun_v4_request.",
        )
    })?;
    let start = chrono::NaiveDateTime::parse_from_str(datetime, "%Y%m%dT%H%M%SZ")
        .map_err(|_| OssError::access_denied("x-oss-date is not yyyymmddThhmmssZ."))?
        .and_utc()
        .timestamp();
    let expires: i64 = expires
        .parse()
        .map_err(|_| OssError::invalid_argument("x-oss-expires is not a number."))?;
    if start + expires < secs(now) {
        return Err(OssError::access_denied("Request has expired."));
    }
    let additional = req
        .param("x-oss-additional-headers")
        .map(|h| {
            h.split(';')
                .filter(|h| !h.is_empty())
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    v4_verify(
        keys,
        region,
        req,
        &V4Parts {
            id,
            date,
            region: reg,
            product,
            additional,
            signature,
            datetime,
        },
        "x-oss-signature",
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<AccessKey> {
        vec![AccessKey {
            id: "ak".into(),
            secret: "sk".into(),
            account_id: "1".into(),
        }]
    }

    #[test]
    fn v1_header_signature_is_checked_over_subresources() {
        let now = SystemTime::now();
        let date = chrono::DateTime::<chrono::Utc>::from(now)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let query = vec![
            ("acl".to_string(), String::new()),
            ("prefix".to_string(), "x".to_string()),
        ];
        let mut headers = HeaderMap::new();
        headers.insert("date", date.parse().unwrap());
        headers.insert("x-oss-meta-a", "1".parse().unwrap());
        let sts = format!("GET\n\n\n{date}\nx-oss-meta-a:1\n/b/k?acl");
        let sig = hmac_sha1_b64("sk", &sts);
        headers.insert("authorization", format!("OSS ak:{sig}").parse().unwrap());
        let req = Signed {
            method: "GET",
            bucket: Some("b"),
            key: "k",
            query: &query,
            headers: &headers,
        };
        assert_eq!(
            authenticate(&keys(), "cn-hangzhou", &req, now)
                .unwrap()
                .unwrap()
                .id,
            "ak"
        );
        let req = Signed {
            method: "PUT",
            ..req
        };
        assert_eq!(
            authenticate(&keys(), "cn-hangzhou", &req, now)
                .unwrap_err()
                .code,
            "SignatureDoesNotMatch"
        );
        let later = now + Duration::from_secs(3600);
        let req = Signed {
            method: "GET",
            ..req
        };
        assert_eq!(
            authenticate(&keys(), "cn-hangzhou", &req, later)
                .unwrap_err()
                .code,
            "RequestTimeTooSkewed"
        );
    }

    #[test]
    fn a_request_signed_with_sign_v1_is_authenticated() {
        let now = SystemTime::now();
        let date = chrono::DateTime::<chrono::Utc>::from(now)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut headers = HeaderMap::new();
        headers.insert("date", date.parse().unwrap());
        headers.insert("content-type", "application/octet-stream".parse().unwrap());
        let mut req = Signed {
            method: "PUT",
            bucket: Some("b"),
            key: "dir/k",
            query: &[],
            headers: &headers,
        };
        let sig = sign_v1("sk", &req, &date);
        let mut signed = headers.clone();
        signed.insert("authorization", format!("OSS ak:{sig}").parse().unwrap());
        req.headers = &signed;
        let k = authenticate(&keys(), "r", &req, now).unwrap().unwrap();
        assert_eq!(k.id, "ak");
        // Another key's signature of the same request is refused.
        let wrong = sign_v1("other", &req, &date);
        let mut forged = headers.clone();
        forged.insert("authorization", format!("OSS ak:{wrong}").parse().unwrap());
        req.headers = &forged;
        assert_eq!(
            authenticate(&keys(), "r", &req, now).unwrap_err().code,
            "SignatureDoesNotMatch"
        );
    }

    #[test]
    fn unknown_keys_and_anonymous_requests() {
        let headers = HeaderMap::new();
        let req = Signed {
            method: "GET",
            bucket: None,
            key: "",
            query: &[],
            headers: &headers,
        };
        assert!(
            authenticate(&keys(), "r", &req, SystemTime::now())
                .unwrap()
                .is_none()
        );
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "OSS nobody:xyz".parse().unwrap());
        headers.insert("date", "Sat, 05 Dec 2015 11:10:29 GMT".parse().unwrap());
        let req = Signed {
            headers: &headers,
            ..req
        };
        assert_eq!(
            authenticate(&keys(), "r", &req, SystemTime::now())
                .unwrap_err()
                .code,
            "InvalidAccessKeyId"
        );
    }

    #[test]
    fn v4_encoding_matches_the_sdks() {
        assert_eq!(v4_encode("/b/a b/c+d", true), "/b/a%20b/c%2Bd");
        assert_eq!(v4_encode("a/b", false), "a%2Fb");
    }
}
