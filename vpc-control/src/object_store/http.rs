//! One request: addressing (virtual-host `<bucket>.oss-<region>[-internal].aliyuncs.com`
//! or path-style `/<bucket>/<key>`), authentication, authorization, the
//! operation, and the answer with OSS's headers (`x-oss-request-id`,
//! `ETag`, `x-oss-hash-crc64ecma`, ...) or OSS's XML error.
use std::{
    io::{Read, Seek, SeekFrom, Write},
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, SystemTime},
};

use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Frame, Incoming};
use md5::{Digest as _, Md5};

use super::{
    ObjectStore, RequestOrigin,
    error::OssError,
    listing,
    signature::{self, Signed},
    storage::{BucketMeta, Created, ObjectMeta, PartMeta, UploadMeta},
    xml::{self, esc},
};
use crate::api::signature::AccessKey;

/// CRC-64 as OSS computes it (ECMA-182 polynomial, reflected, all ones in
/// and out: the XZ variant).
pub const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_XZ);

/// Largest XML or JSON request body (DeleteMultipleObjects of 1,000 keys
/// of 1,023 bytes fits).
const MAX_SMALL_BODY: usize = 2 << 20;
/// Largest bucket policy (OSS's limit).
const MAX_POLICY_BYTES: usize = 16 << 10;
/// Silence allowed while a body is received.
const BODY_IDLE: Duration = Duration::from_secs(60);
/// Bytes gathered before they are written to disk.
const WRITE_CHUNK: usize = 1 << 20;

/// The answer's body: whole, or streamed from a file.
pub enum Body {
    /// Nothing or a small body.
    Full(Option<Bytes>),
    /// Chunks read from a file by a task.
    Stream(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Full(Some(b)) => hyper::body::SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => hyper::body::SizeHint::with_exact(0),
            Body::Stream(_) => hyper::body::SizeHint::default(),
        }
    }
}

type Answer = Response<Body>;

/// Runs disk work (fsync) off the runtime's async duty where it can: on a
/// multi-thread runtime the worker hands its other tasks over meanwhile.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

fn new_request_id() -> String {
    crate::api::new_request_id().replace('-', "")[..24].to_string()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn iso8601(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string()
}

fn http_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn answer(status: u16, body: Body) -> Answer {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    r
}

fn xml_answer(status: u16, body: String) -> Answer {
    let mut r = answer(status, Body::Full(Some(Bytes::from(body))));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

fn set(r: &mut Answer, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        header::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        r.headers_mut().insert(n, v);
    }
}

/// A request as the operations see it.
struct Req<'a> {
    method: Method,
    bucket: Option<String>,
    key: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    caller: Option<AccessKey>,
    origin: &'a RequestOrigin,
}

impl Req<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.param(name).is_some()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or("")
    }
}

/// Serves one request.
pub async fn handle(store: &ObjectStore, origin: &RequestOrigin, req: Request<Incoming>) -> Answer {
    let request_id = new_request_id();
    let head = req.method() == Method::HEAD;
    // A body an error leaves unread cannot be skipped: the connection goes.
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut r = match handle_inner(store, origin, req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(%method, path, code = e.code, status = e.status, "object storage refused: {}", e.message);
            let body = e.xml(&request_id, &store.public_host());
            let mut r = if head {
                let mut r = answer(e.status, Body::Full(None));
                set(
                    &mut r,
                    "x-oss-err",
                    &base64::engine::general_purpose::STANDARD.encode(&body),
                );
                r
            } else {
                xml_answer(e.status, body)
            };
            if has_body {
                set(&mut r, "connection", "close");
            }
            r
        }
    };
    set(&mut r, "x-oss-request-id", &request_id);
    set(&mut r, "server", "AliyunOSS");
    set(&mut r, "date", &http_date(now_ms()));
    r
}

fn decode(s: &str) -> Result<String, OssError> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| OssError::new(400, "InvalidObjectName", "The name is not valid UTF-8."))
}

/// Query pairs, percent-decoded (`+` stays `+`, as OSS reads it).
fn query_pairs(q: Option<&str>) -> Result<Vec<(String, String)>, OssError> {
    let mut out = Vec::new();
    for part in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        // `+` is a space, as in forms (the SDKs send `%2B` for a plus).
        let (k, v) = (k.replace('+', " "), v.replace('+', " "));
        let (k, v) = (k.as_str(), v.as_str());
        out.push((
            decode(k)
                .map_err(|_| OssError::invalid_argument("A query parameter is not valid UTF-8."))?,
            decode(v)
                .map_err(|_| OssError::invalid_argument("A query parameter is not valid UTF-8."))?,
        ));
    }
    Ok(out)
}

/// Bucket names as OSS takes them: 3 to 63 lowercase letters, digits and
/// hyphens, not starting or ending with a hyphen.
pub fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn invalid_bucket(name: &str) -> OssError {
    OssError::new(
        400,
        "InvalidBucketName",
        "The specified bucket is not valid.",
    )
    .with_bucket(name)
}

/// Bucket and key of a request: virtual-host when the host is
/// `<bucket>.<endpoint>`, path-style otherwise.
fn address(
    store: &ObjectStore,
    host: &str,
    raw_path: &str,
) -> Result<(Option<String>, String), OssError> {
    let host = host
        .rsplit_once(':')
        .map(|(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
        .unwrap_or(host);
    let host = host.to_ascii_lowercase();
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    for endpoint in [store.public_host(), store.internal_host()] {
        if let Some(bucket) = host.strip_suffix(&format!(".{endpoint}")) {
            return Ok((Some(bucket.to_string()), decode(path)?));
        }
    }
    if path.is_empty() {
        return Ok((None, String::new()));
    }
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    Ok((Some(decode(bucket)?), decode(key)?))
}

async fn handle_inner(
    store: &ObjectStore,
    origin: &RequestOrigin,
    req: Request<Incoming>,
) -> Result<Answer, OssError> {
    let (parts, body) = req.into_parts();
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let (bucket, key) = address(store, &host, parts.uri.path())?;
    if let Some(b) = &bucket
        && !valid_bucket_name(b)
    {
        return Err(invalid_bucket(b));
    }
    if key.starts_with('/') || key.starts_with('\\') {
        return Err(OssError::new(
            400,
            "InvalidObjectName",
            "The object key must not start with / or \\.",
        ));
    }
    if key.len() > 1023 {
        return Err(OssError::new(
            400,
            "InvalidObjectName",
            "The object key is longer than 1023 bytes.",
        ));
    }
    let query = query_pairs(parts.uri.query())?;
    let caller = signature::authenticate(
        &store.keys,
        &store.region,
        &Signed {
            method: parts.method.as_str(),
            bucket: bucket.as_deref(),
            key: &key,
            query: &query,
            headers: &parts.headers,
        },
        SystemTime::now(),
    )?;
    let req = Req {
        method: parts.method,
        bucket,
        key,
        query,
        headers: parts.headers,
        caller,
        origin,
    };
    route(store, req, body).await
}

/// Request headers of OSS features this service does not have: refused
/// by name on any request, never ignored.
const REFUSED_HEADERS: &[&str] = &[
    "x-oss-request-payer",
    "x-oss-bypass-governance-retention",
    "x-oss-server-side-encryption",
    "x-oss-server-side-encryption-key-id",
    "x-oss-server-side-data-encryption",
    "x-oss-tagging",
    "x-oss-tagging-directive",
    "x-oss-traffic-limit",
    "x-oss-callback",
    "x-oss-callback-var",
    "x-oss-object-worm-retain-until-date",
    "x-oss-object-worm-mode",
    "x-oss-object-worm-legal-hold",
    "x-oss-resource-group-id",
    "x-oss-bucket-tagging",
    "x-oss-agentic-bucket",
    "x-oss-security-token",
];

/// Sub-resources this service does not serve: refused by name, never
/// taken for a plain GET or PUT.
const REFUSED_SUBRESOURCES: &[&str] = &[
    "security-token",
    "x-oss-security-token",
    "acl",
    "website",
    "logging",
    "cors",
    "lifecycle",
    "referer",
    "tagging",
    "encryption",
    "versioning",
    "versions",
    "versionId",
    "symlink",
    "append",
    "restore",
    "replication",
    "worm",
    "inventory",
    "stat",
    "qos",
    "requestPayment",
    "transferAcceleration",
    "cname",
    "x-oss-process",
    "accessPoint",
    "publicAccessBlock",
    "resourceGroup",
    "comp",
    "live",
    "x-oss-async-process",
    "objectInfo",
    "metaQuery",
    "style",
    "httpsConfig",
];

async fn route(store: &ObjectStore, req: Req<'_>, body: Incoming) -> Result<Answer, OssError> {
    if let Some(h) = REFUSED_HEADERS
        .iter()
        .find(|h| req.headers.contains_key(**h))
    {
        return Err(OssError::not_implemented(format!("The header {h}")));
    }
    if req.bucket.is_some() && req.key.is_empty() && req.has("acl") {
        return match req.method {
            Method::GET => get_bucket_acl(store, &req),
            Method::PUT => put_bucket_acl(store, &req),
            _ => Err(method_not_allowed(&req.method)),
        };
    }
    if let Some(sub) = REFUSED_SUBRESOURCES.iter().find(|s| req.has(s)) {
        return Err(OssError::not_implemented(format!(
            "The sub-resource ?{sub}"
        )));
    }
    let m = &req.method;
    match (&req.bucket, req.key.is_empty()) {
        (None, _) if *m == Method::GET => list_buckets(store, &req),
        (None, _) => Err(OssError::new(
            405,
            "MethodNotAllowed",
            format!("{m} is not allowed on the service."),
        )),
        (Some(_), true) => {
            if req.has("policy") {
                return match *m {
                    Method::PUT => put_bucket_policy(store, &req, body).await,
                    Method::GET => get_bucket_policy(store, &req),
                    Method::DELETE => delete_bucket_policy(store, &req),
                    _ => Err(method_not_allowed(m)),
                };
            }
            match *m {
                Method::PUT => put_bucket(store, &req, body).await,
                Method::DELETE => delete_bucket(store, &req),
                Method::GET if req.has("bucketInfo") => get_bucket_info(store, &req),
                Method::GET if req.has("uploads") => list_multipart_uploads(store, &req),
                Method::GET if req.has("location") => get_bucket_location(store, &req),
                Method::GET if req.param("list-type") == Some("2") => {
                    list_objects(store, &req, true)
                }
                Method::GET if req.has("list-type") => {
                    Err(OssError::invalid_argument("list-type must be 2."))
                }
                Method::GET => list_objects(store, &req, false),
                Method::POST if req.has("delete") => delete_multiple(store, &req, body).await,
                _ => Err(method_not_allowed(m)),
            }
        }
        (Some(_), false) if req.has("uploads") || req.has("uploadId") => match *m {
            Method::POST if req.has("uploads") => initiate_multipart(store, &req).await,
            Method::PUT if req.has("uploadId") => upload_part(store, &req, body).await,
            Method::POST => complete_multipart(store, &req, body).await,
            Method::DELETE => abort_multipart(store, &req),
            Method::GET => list_parts(store, &req),
            _ => Err(method_not_allowed(m)),
        },
        (Some(_), false) => match *m {
            Method::PUT if req.headers.contains_key("x-oss-copy-source") => {
                copy_object(store, &req).await
            }
            Method::PUT => put_object(store, &req, body).await,
            Method::GET if req.has("objectMeta") => Err(method_not_allowed(m)),
            Method::GET => get_object(store, &req, false).await,
            Method::HEAD => get_object(store, &req, true).await,
            Method::DELETE => delete_object(store, &req),
            _ => Err(method_not_allowed(m)),
        },
    }
}

fn method_not_allowed(m: &Method) -> OssError {
    OssError::new(
        405,
        "MethodNotAllowed",
        format!("The specified method {m} is not allowed against this resource."),
    )
}

// ---------------------------------------------------------------- authorization

/// The resource ARN of a bucket or an object.
fn arn(store: &ObjectStore, owner: &str, bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("acs:oss:{}:{owner}:{bucket}/{k}", store.region),
        None => format!("acs:oss:{}:{owner}:{bucket}", store.region),
    }
}

/// Whether `req`'s caller may do `action` on `resource` of `bucket`
/// (None: a request on no bucket, ListBuckets or PutBucket).
fn authorize(
    req: &Req<'_>,
    action: &str,
    bucket: Option<&BucketMeta>,
    resource: &str,
) -> Result<(), OssError> {
    super::policy::authorize(req.caller.as_ref(), req.origin, action, bucket, resource)
}

/// The bucket a request names, or NoSuchBucket.
fn existing(store: &ObjectStore, req: &Req<'_>) -> Result<BucketMeta, OssError> {
    store
        .storage
        .bucket(req.bucket())
        .ok_or_else(|| OssError::no_such_bucket(req.bucket()))
}

/// The bucket, once the caller may do `action` on it (or on its object).
fn authorized(
    store: &ObjectStore,
    req: &Req<'_>,
    action: &str,
    object: bool,
) -> Result<BucketMeta, OssError> {
    let b = existing(store, req)?;
    let resource = arn(store, &b.owner, &b.name, object.then_some(req.key.as_str()));
    authorize(req, action, Some(&b), &resource)?;
    Ok(b)
}

fn caller_account<'r>(req: &'r Req<'_>) -> Result<&'r str, OssError> {
    req.caller
        .as_ref()
        .map(|k| k.account_id.as_str())
        .ok_or_else(|| OssError::access_denied("Anonymous access is forbidden for this operation."))
}

// ---------------------------------------------------------------- bodies

/// A small body (XML, JSON), at most `max` bytes.
async fn small_body(body: Incoming, headers: &HeaderMap, max: usize) -> Result<Bytes, OssError> {
    let too_big = || {
        OssError::new(
            400,
            "EntityTooLarge",
            format!("The request body exceeds {max} bytes."),
        )
    };
    if declared_length(headers)?.is_some_and(|n| n > max as u64) {
        return Err(too_big());
    }
    let limited = http_body_util::Limited::new(body, max);
    match tokio::time::timeout(BODY_IDLE, limited.collect()).await {
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_big())
        }
        Ok(Err(e)) => Err(OssError::invalid_argument(format!(
            "The request body could not be read: {e}"
        ))),
        Err(_) => Err(OssError::new(
            400,
            "RequestTimeout",
            "The request body was not received in time.",
        )),
    }
}

fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, OssError> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| OssError::invalid_argument("Content-Length is not a number.")),
    }
}

/// Content-MD5, decoded: InvalidDigest when it is not base64 of 16 bytes.
fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, OssError> {
    let Some(v) = headers.get("content-md5") else {
        return Ok(None);
    };
    let invalid = || {
        OssError::new(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified was invalid.",
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.to_str().map_err(|_| invalid())?.trim())
        .map_err(|_| invalid())?;
    bytes.try_into().map(Some).map_err(|_| invalid())
}

fn bad_digest() -> OssError {
    OssError::new(
        400,
        "BadDigest",
        "The Content-MD5 you specified did not match what we received.",
    )
}

// ---------------------------------------------------------------- service and buckets

fn bucket_xml(store: &ObjectStore, b: &BucketMeta) -> String {
    format!(
        "<Bucket><CreationDate>{}</CreationDate><ExtranetEndpoint>{}</ExtranetEndpoint><IntranetEndpoint>{}</IntranetEndpoint><Location>oss-{}</Location><Name>{}</Name><Region>{}</Region><StorageClass>{}</StorageClass></Bucket>",
        iso8601(b.created_ms),
        store.public_host(),
        store.internal_host(),
        esc(&b.region),
        esc(&b.name),
        esc(&b.region),
        esc(&b.storage_class),
    )
}

fn list_buckets(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    let account = caller_account(req)?.to_string();
    for p in ["tag-key", "tag-value", "tagging", "resource-group-id"] {
        if req.has(p) {
            return Err(OssError::not_implemented(format!("Listing buckets by {p}")));
        }
    }
    let resource = format!("acs:oss:{}:{account}:*", store.region);
    authorize(req, "oss:ListBuckets", None, &resource)?;
    let prefix = req.param("prefix").unwrap_or("");
    let marker = req.param("marker").unwrap_or("");
    let max = listing::max_keys(req.param("max-keys"))?;
    let mine: Vec<BucketMeta> = store.storage.read(|all| {
        all.values()
            .filter(|b| {
                b.meta.owner == account
                    && b.meta.name.starts_with(prefix)
                    && b.meta.name.as_str() > marker
            })
            .map(|b| b.meta.clone())
            .collect()
    });
    let truncated = mine.len() > max;
    let page = &mine[..mine.len().min(max)];
    let mut s =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult>");
    if req.has("prefix") {
        s += &format!("<Prefix>{}</Prefix>", esc(prefix));
    }
    if req.has("marker") {
        s += &format!("<Marker>{}</Marker>", esc(marker));
    }
    if req.has("max-keys") {
        s += &format!("<MaxKeys>{max}</MaxKeys>");
    }
    if req.has("max-keys") || truncated {
        s += &format!("<IsTruncated>{truncated}</IsTruncated>");
    }
    if truncated && let Some(last) = page.last() {
        s += &format!("<NextMarker>{}</NextMarker>", esc(&last.name));
    }
    s += &format!("<Owner><ID>{account}</ID><DisplayName>{account}</DisplayName></Owner><Buckets>");
    for b in page {
        s += &bucket_xml(store, b);
    }
    s += "</Buckets></ListAllMyBucketsResult>";
    Ok(xml_answer(200, s))
}

async fn put_bucket(
    store: &ObjectStore,
    req: &Req<'_>,
    body: Incoming,
) -> Result<Answer, OssError> {
    let account = caller_account(req)?.to_string();
    let name = req.bucket().to_string();
    authorize(
        req,
        "oss:PutBucket",
        None,
        &arn(store, &account, &name, None),
    )?;
    let acl = canned_acl(req)?;
    let body = small_body(body, &req.headers, MAX_SMALL_BODY).await?;
    let mut storage_class = "Standard".to_string();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let doc = xml::parse(&body).map_err(OssError::malformed_xml)?;
        if doc.name != "CreateBucketConfiguration" {
            return Err(OssError::malformed_xml(
                "the root element must be CreateBucketConfiguration",
            ));
        }
        for c in &doc.children {
            match (c.name.as_str(), c.text.trim()) {
                ("StorageClass", "Standard") => storage_class = "Standard".into(),
                ("StorageClass", other) => {
                    return Err(OssError::not_implemented(format!(
                        "Storage class {other:?} (only Standard)"
                    )));
                }
                ("DataRedundancyType", "LRS") => {}
                ("DataRedundancyType", other) => {
                    return Err(OssError::not_implemented(format!(
                        "Data redundancy type {other:?} (only LRS)"
                    )));
                }
                ("LocationConstraint", loc)
                    if loc == format!("oss-{}", store.region) || loc.is_empty() => {}
                ("LocationConstraint", loc) => {
                    return Err(OssError::invalid_argument(format!(
                        "LocationConstraint {loc:?}: this endpoint serves oss-{} only.",
                        store.region
                    )));
                }
                (other, _) => {
                    return Err(OssError::malformed_xml(format!("unknown element {other}")));
                }
            }
        }
    }
    let created = store.storage.create_bucket(BucketMeta {
        name: name.clone(),
        owner: account,
        created_ms: now_ms(),
        region: store.region.clone(),
        storage_class,
        acl,
        policy: None,
    })?;
    if created == Created::New {
        tracing::info!(bucket = name, "bucket created");
        store.buckets_changed_now();
    }
    let mut r = answer(200, Body::Full(None));
    set(&mut r, "location", &format!("/{name}"));
    Ok(r)
}

fn delete_bucket(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    authorized(store, req, "oss:DeleteBucket", false)?;
    store.storage.delete_bucket(req.bucket())?;
    store.buckets_changed_now();
    Ok(answer(204, Body::Full(None)))
}

fn get_bucket_info(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:GetBucketInfo", false)?;
    let s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BucketInfo><Bucket><AccessMonitor>Disabled</AccessMonitor><CreationDate>{}</CreationDate><CrossRegionReplication>Disabled</CrossRegionReplication><DataRedundancyType>LRS</DataRedundancyType><ExtranetEndpoint>{}</ExtranetEndpoint><IntranetEndpoint>{}</IntranetEndpoint><Location>oss-{}</Location><Name>{}</Name><StorageClass>{}</StorageClass><TransferAcceleration>Disabled</TransferAcceleration><Owner><DisplayName>{}</DisplayName><ID>{}</ID></Owner><AccessControlList><Grant>{}</Grant></AccessControlList><ServerSideEncryptionRule><SSEAlgorithm>None</SSEAlgorithm></ServerSideEncryptionRule><BucketPolicy><LogBucket></LogBucket><LogPrefix></LogPrefix></BucketPolicy></Bucket></BucketInfo>",
        iso8601(b.created_ms),
        store.public_host(),
        store.internal_host(),
        esc(&b.region),
        esc(&b.name),
        esc(&b.storage_class),
        esc(&b.owner),
        esc(&b.owner),
        esc(&b.acl),
    );
    Ok(xml_answer(200, s))
}

fn get_bucket_acl(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:GetBucketAcl", false)?;
    Ok(xml_answer(
        200,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy><Owner><ID>{0}</ID><DisplayName>{0}</DisplayName></Owner><AccessControlList><Grant>{1}</Grant></AccessControlList></AccessControlPolicy>",
            esc(&b.owner),
            esc(&b.acl)
        ),
    ))
}

fn put_bucket_acl(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    authorized(store, req, "oss:PutBucketAcl", false)?;
    let acl = canned_acl(req)?;
    store.storage.update_bucket(req.bucket(), |b| b.acl = acl)?;
    Ok(answer(200, Body::Full(None)))
}

/// `x-oss-acl`: private (the default), public-read or public-read-write.
fn canned_acl(req: &Req<'_>) -> Result<String, OssError> {
    let acl = req.header("x-oss-acl").unwrap_or("private");
    if !matches!(acl, "private" | "public-read" | "public-read-write") {
        return Err(OssError::invalid_argument(format!(
            "x-oss-acl {acl:?} is not private, public-read or public-read-write."
        ))
        .with("ArgumentName", "x-oss-acl"));
    }
    Ok(acl.to_string())
}

fn get_bucket_location(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:GetBucketLocation", false)?;
    Ok(xml_answer(
        200,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint>oss-{}</LocationConstraint>",
            esc(&b.region)
        ),
    ))
}

async fn put_bucket_policy(
    store: &ObjectStore,
    req: &Req<'_>,
    body: Incoming,
) -> Result<Answer, OssError> {
    authorized(store, req, "oss:PutBucketPolicy", false)?;
    let body = small_body(body, &req.headers, MAX_POLICY_BYTES).await?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        OssError::new(
            400,
            "InvalidPolicyDocument",
            "The policy document is not UTF-8.",
        )
    })?;
    super::policy::validate(text)?;
    let doc = text.to_string();
    store
        .storage
        .update_bucket(req.bucket(), |b| b.policy = Some(doc))?;
    Ok(answer(200, Body::Full(None)))
}

fn get_bucket_policy(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:GetBucketPolicy", false)?;
    let Some(p) = b.policy else {
        return Err(OssError::new(
            404,
            "NoSuchBucketPolicy",
            "The bucket policy does not exist.",
        )
        .with_bucket(&b.name));
    };
    let mut r = answer(200, Body::Full(Some(Bytes::from(p))));
    set(&mut r, "content-type", "application/json");
    Ok(r)
}

fn delete_bucket_policy(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    authorized(store, req, "oss:DeleteBucketPolicy", false)?;
    store
        .storage
        .update_bucket(req.bucket(), |b| b.policy = None)?;
    Ok(answer(204, Body::Full(None)))
}

// ---------------------------------------------------------------- listing

fn encoding_url(req: &Req<'_>) -> Result<bool, OssError> {
    match req.param("encoding-type") {
        None => Ok(false),
        Some("url") => Ok(true),
        Some(other) => Err(OssError::invalid_argument(format!(
            "encoding-type {other:?} is not url."
        ))
        .with("ArgumentName", "encoding-type")),
    }
}

fn list_objects(store: &ObjectStore, req: &Req<'_>, v2: bool) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:ListObjects", false)?;
    let url = encoding_url(req)?;
    let enc = |s: &str| {
        if url {
            esc(&xml::url_encode(s))
        } else {
            esc(s)
        }
    };
    let prefix = req.param("prefix").unwrap_or("").to_string();
    let delimiter = req.param("delimiter").unwrap_or("").to_string();
    let max_keys = listing::max_keys(req.param("max-keys"))?;
    let after = if v2 {
        match req.param("continuation-token").filter(|t| !t.is_empty()) {
            Some(t) => {
                let bytes = hex::decode(t).map_err(|_| {
                    OssError::invalid_argument(
                        "The continuation-token is not one this service gave.",
                    )
                    .with("ArgumentName", "continuation-token")
                })?;
                String::from_utf8(bytes).map_err(|_| {
                    OssError::invalid_argument(
                        "The continuation-token is not one this service gave.",
                    )
                })?
            }
            None => req.param("start-after").unwrap_or("").to_string(),
        }
    } else {
        req.param("marker").unwrap_or("").to_string()
    };
    let fetch_owner = match (v2, req.param("fetch-owner")) {
        (false, _) => true,
        (true, None | Some("false")) => false,
        (true, Some("true")) => true,
        (true, Some(o)) => {
            return Err(OssError::invalid_argument(format!(
                "fetch-owner {o:?} is not true or false."
            )));
        }
    };
    let q = listing::Query {
        prefix: prefix.clone(),
        delimiter: delimiter.clone(),
        after: after.clone(),
        max_keys,
    };
    let page = store.storage.read(|all| {
        all.get(&b.name)
            .map(|bucket| listing::list(&bucket.objects, &q))
            .ok_or_else(|| OssError::no_such_bucket(&b.name))
    })?;
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>");
    s += &format!(
        "<Name>{}</Name><Prefix>{}</Prefix>",
        esc(&b.name),
        enc(&prefix)
    );
    if v2 {
        if let Some(t) = req.param("continuation-token").filter(|t| !t.is_empty()) {
            s += &format!("<ContinuationToken>{}</ContinuationToken>", esc(t));
        }
        if let Some(sa) = req.param("start-after") {
            s += &format!("<StartAfter>{}</StartAfter>", enc(sa));
        }
    } else {
        s += &format!("<Marker>{}</Marker>", enc(&after));
    }
    s += &format!(
        "<MaxKeys>{max_keys}</MaxKeys><Delimiter>{}</Delimiter>",
        enc(&delimiter)
    );
    if url {
        s += "<EncodingType>url</EncodingType>";
    }
    s += &format!("<IsTruncated>{}</IsTruncated>", page.truncated);
    if page.truncated {
        if v2 {
            s += &format!(
                "<NextContinuationToken>{}</NextContinuationToken>",
                hex::encode(&page.next)
            );
        } else {
            s += &format!("<NextMarker>{}</NextMarker>", enc(&page.next));
        }
    }
    if v2 {
        s += &format!(
            "<KeyCount>{}</KeyCount>",
            page.objects.len() + page.prefixes.len()
        );
    }
    for o in &page.objects {
        s += &format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Type>{}</Type><Size>{}</Size><StorageClass>Standard</StorageClass>",
            enc(&o.key),
            iso8601(o.modified_ms),
            esc(&o.etag()),
            if o.parts > 0 { "Multipart" } else { "Normal" },
            o.size
        );
        if fetch_owner {
            s += &format!(
                "<Owner><ID>{0}</ID><DisplayName>{0}</DisplayName></Owner>",
                esc(&b.owner)
            );
        }
        s += "</Contents>";
    }
    for p in &page.prefixes {
        s += &format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            enc(p)
        );
    }
    s += "</ListBucketResult>";
    Ok(xml_answer(200, s))
}

// ---------------------------------------------------------------- objects

/// Standard headers kept with an object and given back.
const KEPT_HEADERS: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// The object ACL and storage class of an object write: only the defaults.
fn refuse_unsupported_headers(req: &Req<'_>) -> Result<(), OssError> {
    if let Some(acl) = req.header("x-oss-object-acl")
        && acl != "default"
    {
        return Err(OssError::not_implemented(format!(
            "x-oss-object-acl {acl:?} (objects inherit the bucket's ACL)"
        )));
    }
    if let Some(c) = req.header("x-oss-storage-class")
        && c != "Standard"
    {
        return Err(OssError::not_implemented(format!(
            "Storage class {c:?} (only Standard)"
        )));
    }
    Ok(())
}

fn forbid_overwrite(req: &Req<'_>) -> Result<bool, OssError> {
    match req.header("x-oss-forbid-overwrite") {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(o) => Err(OssError::invalid_argument(format!(
            "x-oss-forbid-overwrite {o:?} is not true or false."
        ))),
    }
}

fn overwrite_check(forbid: bool) -> impl FnOnce(Option<&ObjectMeta>) -> Result<(), OssError> {
    move |current| {
        if forbid && current.is_some() {
            return Err(OssError::new(
                409,
                "FileAlreadyExists",
                "The object you specified already exists and can not be overwritten.",
            ));
        }
        Ok(())
    }
}

/// Header names and values.
type Headers = Vec<(String, String)>;

/// Content-Type, kept headers and user metadata of a request.
fn object_headers(req: &Req<'_>) -> (String, Headers, Headers) {
    let content_type = req
        .header("content-type")
        .unwrap_or("application/octet-stream")
        .to_string();
    let kept = KEPT_HEADERS
        .iter()
        .filter_map(|h| req.header(h).map(|v| (h.to_string(), v.to_string())))
        .collect();
    let meta = req
        .headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-oss-meta-"))
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect();
    (content_type, kept, meta)
}

fn object_answer_headers(r: &mut Answer, o: &ObjectMeta) {
    set(r, "etag", &o.etag());
    set(r, "x-oss-hash-crc64ecma", &o.crc64.to_string());
    set(r, "last-modified", &http_date(o.modified_ms));
    set(r, "content-type", &o.content_type);
    set(
        r,
        "x-oss-object-type",
        if o.parts > 0 { "Multipart" } else { "Normal" },
    );
    set(r, "x-oss-storage-class", "Standard");
    set(r, "accept-ranges", "bytes");
    for (k, v) in o.headers.iter().chain(&o.user_meta) {
        set(r, k, v);
    }
}

/// A body received into a file.
struct Received {
    file: std::fs::File,
    size: u64,
    md5: [u8; 16],
    crc64: u64,
}

fn too_large(max: u64) -> OssError {
    OssError::new(
        400,
        "EntityTooLarge",
        format!("Your proposed upload exceeds the maximum allowed size of {max} bytes."),
    )
}

/// Streams a request body into `file` (at most `max` bytes, written in
/// chunks off the async workers, never held whole), checked against
/// Content-Length and Content-MD5; the file is written, not yet synced.
async fn receive(
    req: &Req<'_>,
    mut body: Incoming,
    mut file: std::fs::File,
    max: u64,
) -> Result<Received, OssError> {
    let expected_md5 = content_md5(&req.headers)?;
    let declared = declared_length(&req.headers)?;
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let mut md5 = Md5::new();
    let mut crc = CRC64.digest();
    let mut size: u64 = 0;
    let mut pending: Vec<u8> =
        Vec::with_capacity(WRITE_CHUNK.min(declared.unwrap_or(0) as usize + 1));
    loop {
        let frame = match tokio::time::timeout(BODY_IDLE, body.frame()).await {
            Err(_) => {
                return Err(OssError::new(
                    400,
                    "RequestTimeout",
                    "The request body was not received in time.",
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(OssError::invalid_argument(format!(
                    "The request body could not be read: {e}"
                )));
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        size += data.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        md5.update(&data);
        crc.update(&data);
        pending.extend_from_slice(&data);
        if pending.len() >= WRITE_CHUNK {
            let chunk = std::mem::replace(&mut pending, Vec::with_capacity(WRITE_CHUNK));
            file = tokio::task::spawn_blocking(move || file.write_all(&chunk).map(|_| file))
                .await
                .map_err(OssError::internal)??;
        }
    }
    if declared.is_some_and(|n| n != size) {
        return Err(OssError::new(
            400,
            "IncompleteBody",
            "The request body is shorter than Content-Length.",
        ));
    }
    let md5: [u8; 16] = md5.finalize().into();
    if expected_md5.is_some_and(|e| e != md5) {
        return Err(bad_digest());
    }
    blocking(|| file.write_all(&pending))?;
    Ok(Received {
        file,
        size,
        md5,
        crc64: crc.finalize(),
    })
}

async fn put_object(
    store: &ObjectStore,
    req: &Req<'_>,
    body: Incoming,
) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:PutObject", true)?;
    refuse_unsupported_headers(req)?;
    let forbid = forbid_overwrite(req)?;
    let (content_type, kept, user_meta) = object_headers(req);
    let mut upload = store.storage.begin_upload(&b.name)?;
    let file = upload.file.take().expect("a new upload has a file");
    let got = receive(req, body, file, store.max_object_bytes).await?;
    let meta = ObjectMeta {
        key: req.key.clone(),
        data: String::new(),
        size: got.size,
        md5: hex::encode(got.md5),
        crc64: got.crc64,
        modified_ms: now_ms(),
        content_type,
        headers: kept,
        user_meta,
        parts: 0,
    };
    let storage = &store.storage;
    // fsync and the commit off the runtime's async duty.
    let committed = blocking(|| -> Result<_, OssError> {
        upload.file = Some(got.file);
        storage.commit(&b.name, upload, meta, overwrite_check(forbid))
    })?;
    let mut r = answer(200, Body::Full(None));
    set(&mut r, "etag", &committed.etag());
    set(&mut r, "x-oss-hash-crc64ecma", &committed.crc64.to_string());
    set(
        &mut r,
        "content-md5",
        &base64::engine::general_purpose::STANDARD.encode(got.md5),
    );
    Ok(r)
}

// ---------------------------------------------------------------- multipart uploads

/// Parts of a multipart upload: at most this many, numbered from 1.
const MAX_PARTS: u32 = 10_000;
/// Every part but the last has at least this many bytes (OSS: 100 KiB).
const MIN_PART_BYTES: u64 = 100 << 10;

fn upload_id<'r>(req: &'r Req<'_>) -> &'r str {
    req.param("uploadId").unwrap_or("")
}

async fn initiate_multipart(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:PutObject", true)?;
    refuse_unsupported_headers(req)?;
    if forbid_overwrite(req)? && store.storage.object(&b.name, &req.key).is_ok() {
        return Err(OssError::new(
            409,
            "FileAlreadyExists",
            "The object you specified already exists and can not be overwritten.",
        ));
    }
    let url = encoding_url(req)?;
    let (content_type, headers, user_meta) = object_headers(req);
    let u = blocking(|| {
        store.storage.create_multipart(
            &b.name,
            UploadMeta {
                key: req.key.clone(),
                id: String::new(),
                initiated_ms: now_ms(),
                content_type,
                headers,
                user_meta,
            },
        )
    })?;
    let key = if url {
        esc(&xml::url_encode(&u.key))
    } else {
        esc(&u.key)
    };
    let enc = if url {
        "<EncodingType>url</EncodingType>"
    } else {
        ""
    };
    Ok(xml_answer(
        200,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult>{enc}<Bucket>{}</Bucket><Key>{key}</Key><UploadId>{}</UploadId></InitiateMultipartUploadResult>",
            esc(&b.name),
            u.id
        ),
    ))
}

/// The upload a request names, for the key it names.
fn named_upload(store: &ObjectStore, req: &Req<'_>, bucket: &str) -> Result<UploadMeta, OssError> {
    let u = store.storage.multipart(bucket, upload_id(req))?;
    if u.key != req.key {
        return Err(OssError::new(
            404,
            "NoSuchUpload",
            "The specified upload does not exist for this key.",
        ));
    }
    Ok(u)
}

async fn upload_part(
    store: &ObjectStore,
    req: &Req<'_>,
    body: Incoming,
) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:PutObject", true)?;
    if req.headers.contains_key("x-oss-copy-source") {
        return Err(OssError::not_implemented("UploadPartCopy"));
    }
    let number = req
        .param("partNumber")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            OssError::invalid_argument(format!(
                "Part number must be an integer between 1 and {MAX_PARTS}."
            ))
            .with("ArgumentName", "partNumber")
        })?;
    named_upload(store, req, &b.name)?;
    let (file, tmp) = store.storage.begin_part(&b.name, upload_id(req))?;
    let got = match receive(req, body, file, store.max_object_bytes).await {
        Ok(g) => g,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let part = PartMeta {
        number,
        size: got.size,
        md5: hex::encode(got.md5),
        crc64: got.crc64,
        modified_ms: now_ms(),
    };
    blocking(|| -> Result<(), OssError> {
        got.file.sync_all()?;
        store
            .storage
            .commit_part(&b.name, upload_id(req), &tmp, &part)
    })?;
    let mut r = answer(200, Body::Full(None));
    set(&mut r, "etag", &format!("\"{}\"", part.md5.to_uppercase()));
    set(&mut r, "x-oss-hash-crc64ecma", &part.crc64.to_string());
    set(
        &mut r,
        "content-md5",
        &base64::engine::general_purpose::STANDARD.encode(got.md5),
    );
    Ok(r)
}

async fn complete_multipart(
    store: &ObjectStore,
    req: &Req<'_>,
    body: Incoming,
) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:PutObject", true)?;
    let forbid = forbid_overwrite(req)?;
    let url = encoding_url(req)?;
    let u = named_upload(store, req, &b.name)?;
    let stored = store.storage.parts(&b.name, &u.id)?;
    let body = small_body(body, &req.headers, MAX_SMALL_BODY).await?;
    let invalid_part = |why: String| OssError::new(400, "InvalidPart", why);
    let chosen: Vec<PartMeta> = match req.header("x-oss-complete-all") {
        Some("yes") => {
            if !body.iter().all(u8::is_ascii_whitespace) {
                return Err(OssError::invalid_argument(
                    "x-oss-complete-all: yes takes no body.",
                ));
            }
            stored.clone()
        }
        Some(o) => {
            return Err(OssError::invalid_argument(format!(
                "x-oss-complete-all {o:?} is not yes."
            )));
        }
        None => {
            let doc = xml::parse(&body).map_err(OssError::malformed_xml)?;
            if doc.name != "CompleteMultipartUpload" {
                return Err(OssError::malformed_xml(
                    "the root element must be CompleteMultipartUpload",
                ));
            }
            let mut chosen = Vec::new();
            for p in doc.all("Part") {
                let n: u32 = p
                    .child("PartNumber")
                    .and_then(|n| n.text.trim().parse().ok())
                    .ok_or_else(|| OssError::malformed_xml("a Part without a PartNumber"))?;
                let etag = p
                    .child("ETag")
                    .map(|e| e.text.trim().trim_matches('"').to_string())
                    .unwrap_or_default();
                if chosen.last().is_some_and(|l: &PartMeta| l.number >= n) {
                    return Err(OssError::new(
                        400,
                        "InvalidPartOrder",
                        "The list of parts was not in ascending order.",
                    ));
                }
                let part = stored
                    .iter()
                    .find(|s| s.number == n)
                    .ok_or_else(|| invalid_part(format!("Part {n} was not uploaded.")))?;
                if !etag.eq_ignore_ascii_case(&part.md5) {
                    return Err(invalid_part(format!(
                        "The ETag of part {n} does not match."
                    )));
                }
                chosen.push(part.clone());
            }
            chosen
        }
    };
    if chosen.is_empty() {
        return Err(OssError::malformed_xml(
            "a CompleteMultipartUpload names at least one part",
        ));
    }
    if let Some(small) = chosen[..chosen.len() - 1]
        .iter()
        .find(|p| p.size < MIN_PART_BYTES)
    {
        return Err(OssError::new(
            400,
            "EntityTooSmall",
            format!(
                "Part {} is smaller than {MIN_PART_BYTES} bytes and is not the last.",
                small.number
            ),
        ));
    }
    let total: u64 = chosen.iter().map(|p| p.size).sum();
    if total > store.max_object_bytes {
        return Err(too_large(store.max_object_bytes));
    }
    let storage = &store.storage;
    let committed = blocking(|| -> Result<_, OssError> {
        let mut upload = storage.begin_upload(&b.name)?;
        let mut out = upload.file.take().expect("a new upload has a file");
        let mut crc = CRC64.digest();
        let mut of_md5s = Md5::new();
        let mut buf = vec![0u8; 256 << 10];
        for p in &chosen {
            let mut f = std::fs::File::open(storage.part_path(&b.name, &u.id, p.number))?;
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                crc.update(&buf[..n]);
                out.write_all(&buf[..n])?;
            }
            of_md5s.update(hex::decode(&p.md5).unwrap_or_default());
        }
        upload.file = Some(out);
        let meta = ObjectMeta {
            key: u.key.clone(),
            data: String::new(),
            size: total,
            md5: hex::encode(of_md5s.finalize()),
            crc64: crc.finalize(),
            modified_ms: now_ms(),
            content_type: u.content_type.clone(),
            headers: u.headers.clone(),
            user_meta: u.user_meta.clone(),
            parts: chosen.len() as u32,
        };
        let committed = storage.commit(&b.name, upload, meta, overwrite_check(forbid))?;
        storage.remove_multipart(&b.name, &u.id)?;
        Ok(committed)
    })?;
    let key = if url {
        esc(&xml::url_encode(&u.key))
    } else {
        esc(&u.key)
    };
    let enc = if url {
        "<EncodingType>url</EncodingType>"
    } else {
        ""
    };
    let mut r = xml_answer(
        200,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>{enc}<Location>http://{}.{}/{key}</Location><Bucket>{}</Bucket><Key>{key}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
            esc(&b.name),
            store.public_host(),
            esc(&b.name),
            esc(&committed.etag()),
        ),
    );
    set(&mut r, "etag", &committed.etag());
    set(&mut r, "x-oss-hash-crc64ecma", &committed.crc64.to_string());
    Ok(r)
}

fn abort_multipart(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:AbortMultipartUpload", true)?;
    let u = named_upload(store, req, &b.name)?;
    blocking(|| store.storage.remove_multipart(&b.name, &u.id))?;
    Ok(answer(204, Body::Full(None)))
}

fn list_parts(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:ListParts", true)?;
    let url = encoding_url(req)?;
    let u = named_upload(store, req, &b.name)?;
    let max = match req.param("max-parts") {
        None => 1000,
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|m| (1..=1000).contains(m))
            .ok_or_else(|| {
                OssError::invalid_argument("max-parts must be an integer from 1 to 1000.")
            })?,
    };
    let marker: u32 = match req.param("part-number-marker").filter(|m| !m.is_empty()) {
        None => 0,
        Some(m) => m
            .parse()
            .map_err(|_| OssError::invalid_argument("part-number-marker must be an integer."))?,
    };
    let all: Vec<PartMeta> = store
        .storage
        .parts(&b.name, &u.id)?
        .into_iter()
        .filter(|p| p.number > marker)
        .collect();
    let truncated = all.len() > max;
    let page = &all[..all.len().min(max)];
    let key = if url {
        esc(&xml::url_encode(&u.key))
    } else {
        esc(&u.key)
    };
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult>");
    if url {
        s += "<EncodingType>url</EncodingType>";
    }
    s += &format!(
        "<Bucket>{}</Bucket><Key>{key}</Key><UploadId>{}</UploadId><PartNumberMarker>{marker}</PartNumberMarker><NextPartNumberMarker>{}</NextPartNumberMarker><MaxParts>{max}</MaxParts><IsTruncated>{truncated}</IsTruncated>",
        esc(&b.name),
        u.id,
        page.last().map(|p| p.number).unwrap_or(marker),
    );
    for p in page {
        s += &format!(
            "<Part><PartNumber>{}</PartNumber><LastModified>{}</LastModified><ETag>\"{}\"</ETag><HashCrc64ecma>{}</HashCrc64ecma><Size>{}</Size></Part>",
            p.number,
            iso8601(p.modified_ms),
            p.md5.to_uppercase(),
            p.crc64,
            p.size
        );
    }
    s += "</ListPartsResult>";
    Ok(xml_answer(200, s))
}

fn list_multipart_uploads(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:ListMultipartUploads", false)?;
    let url = encoding_url(req)?;
    let enc = |s: &str| {
        if url {
            esc(&xml::url_encode(s))
        } else {
            esc(s)
        }
    };
    let prefix = req.param("prefix").unwrap_or("");
    let key_marker = req.param("key-marker").unwrap_or("");
    let id_marker = req.param("upload-id-marker").unwrap_or("");
    if !req.param("delimiter").unwrap_or("").is_empty() {
        return Err(OssError::not_implemented(
            "ListMultipartUploads with a delimiter",
        ));
    }
    let max = match req.param("max-uploads") {
        None => 1000,
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|m| (1..=1000).contains(m))
            .ok_or_else(|| {
                OssError::invalid_argument("max-uploads must be an integer from 1 to 1000.")
            })?,
    };
    let all: Vec<UploadMeta> = store
        .storage
        .multiparts(&b.name)
        .into_iter()
        .filter(|u| u.key.starts_with(prefix))
        .filter(|u| {
            u.key.as_str() > key_marker
                || (u.key == key_marker && !id_marker.is_empty() && u.id.as_str() > id_marker)
        })
        .collect();
    let truncated = all.len() > max;
    let page = &all[..all.len().min(max)];
    let mut s =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult>");
    if url {
        s += "<EncodingType>url</EncodingType>";
    }
    s += &format!(
        "<Bucket>{}</Bucket><KeyMarker>{}</KeyMarker><UploadIdMarker>{}</UploadIdMarker><NextKeyMarker>{}</NextKeyMarker><NextUploadIdMarker>{}</NextUploadIdMarker><Delimiter></Delimiter><Prefix>{}</Prefix><MaxUploads>{max}</MaxUploads><IsTruncated>{truncated}</IsTruncated>",
        esc(&b.name),
        enc(key_marker),
        esc(id_marker),
        page.last().map(|u| enc(&u.key)).unwrap_or_default(),
        page.last().map(|u| u.id.clone()).unwrap_or_default(),
        enc(prefix),
    );
    for u in page {
        s += &format!(
            "<Upload><Key>{}</Key><UploadId>{}</UploadId><StorageClass>Standard</StorageClass><Initiated>{}</Initiated></Upload>",
            enc(&u.key),
            u.id,
            iso8601(u.initiated_ms)
        );
    }
    s += "</ListMultipartUploadsResult>";
    Ok(xml_answer(200, s))
}

/// The byte range a `Range` header asks of an object of `size` bytes:
/// None for the whole object (no header, or one OSS ignores).
fn range(req: &Req<'_>, size: u64) -> Result<Option<(u64, u64)>, OssError> {
    let Some(h) = req.header("range") else {
        return Ok(None);
    };
    let standard = req.header("x-oss-range-behavior") == Some("standard");
    let unsatisfiable = || {
        OssError::new(
            416,
            "InvalidRange",
            "The requested range cannot be satisfied.",
        )
        .with("RangeRequested", h)
        .with("ActualObjectSize", size.to_string())
    };
    let parsed = (|| {
        let spec = h.trim().strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        let (a, b) = (a.trim(), b.trim());
        match (a.is_empty(), b.is_empty()) {
            (true, false) => Some((None, Some(b.parse::<u64>().ok()?))),
            (false, true) => Some((Some(a.parse::<u64>().ok()?), None)),
            (false, false) => Some((Some(a.parse::<u64>().ok()?), Some(b.parse::<u64>().ok()?))),
            (true, true) => None,
        }
    })();
    let resolved = match parsed {
        // A suffix: the last n bytes (all of them when n is larger).
        Some((None, Some(n))) if n > 0 && size > 0 => Some((size.saturating_sub(n), size - 1)),
        Some((Some(a), None)) if a < size => Some((a, size - 1)),
        Some((Some(a), Some(b))) if a <= b && a < size => Some((a, b.min(size - 1))),
        _ => None,
    };
    match resolved {
        Some(r) => Ok(Some(r)),
        // OSS ignores a range it cannot serve and answers the whole object,
        // unless the client asks for the standard behaviour.
        None if standard => Err(unsatisfiable()),
        None => Ok(None),
    }
}

/// If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since.
fn preconditions(req: &Req<'_>, o: &ObjectMeta, prefix: &str) -> Result<Option<u16>, OssError> {
    let h = |n: &str| req.header(&format!("{prefix}{n}"));
    let etag_matches = |v: &str| {
        v.split(',').any(|e| {
            e.trim() == "*"
                || e.trim()
                    .trim_matches('"')
                    .eq_ignore_ascii_case(o.etag().trim_matches('"'))
        })
    };
    let modified = o.modified_ms / 1000;
    let failed = || {
        OssError::new(
            412,
            "PreconditionFailed",
            "At least one of the preconditions you specified did not hold.",
        )
    };
    if let Some(v) = h("if-match")
        && !etag_matches(v)
    {
        return Err(failed());
    }
    if let Some(v) = h("if-unmodified-since")
        && signature::parse_http_date(v).is_some_and(|t| modified > t)
    {
        return Err(failed());
    }
    if let Some(v) = h("if-none-match")
        && etag_matches(v)
    {
        return if prefix.is_empty() {
            Ok(Some(304))
        } else {
            Err(failed())
        };
    }
    if let Some(v) = h("if-modified-since")
        && signature::parse_http_date(v).is_some_and(|t| modified <= t)
    {
        return if prefix.is_empty() {
            Ok(Some(304))
        } else {
            Err(failed())
        };
    }
    Ok(None)
}

async fn get_object(store: &ObjectStore, req: &Req<'_>, head: bool) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:GetObject", true)?;
    for p in [
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
    ] {
        if req.has(p) {
            return Err(OssError::not_implemented(format!(
                "The query parameter {p}"
            )));
        }
    }
    let (o, mut file) = store.storage.open_object(&b.name, &req.key)?;
    if let Some(status) = preconditions(req, &o, "")? {
        let mut r = answer(status, Body::Full(None));
        set(&mut r, "etag", &o.etag());
        set(&mut r, "last-modified", &http_date(o.modified_ms));
        return Ok(r);
    }
    let range = range(req, o.size)?;
    let (status, start, len) = match range {
        Some((a, z)) => (206, a, z - a + 1),
        None => (200, 0, o.size),
    };
    let mut r = if head {
        answer(status, Body::Full(None))
    } else {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = file.seek(SeekFrom::Start(start)) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            let mut left = len;
            while left > 0 {
                let mut buf = vec![0u8; left.min(256 << 10) as usize];
                match file.read(&mut buf) {
                    Ok(0) => {
                        let _ = tx.blocking_send(Err(std::io::Error::other(
                            "the object's file ended early",
                        )));
                        return;
                    }
                    Ok(n) => {
                        buf.truncate(n);
                        left -= n as u64;
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        answer(status, Body::Stream(rx))
    };
    object_answer_headers(&mut r, &o);
    set(&mut r, "content-length", &len.to_string());
    if let Some((a, z)) = range {
        set(
            &mut r,
            "content-range",
            &format!("bytes {a}-{z}/{}", o.size),
        );
    }
    if head && o.parts == 0 {
        set(
            &mut r,
            "content-md5",
            &base64::engine::general_purpose::STANDARD
                .encode(hex::decode(&o.md5).unwrap_or_default()),
        );
    }
    Ok(r)
}

fn delete_object(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    let b = authorized(store, req, "oss:DeleteObject", true)?;
    store.storage.delete_object(&b.name, &req.key)?;
    Ok(answer(204, Body::Full(None)))
}

async fn delete_multiple(
    store: &ObjectStore,
    req: &Req<'_>,
    body: Incoming,
) -> Result<Answer, OssError> {
    let b = existing(store, req)?;
    let url = encoding_url(req)?;
    let expected = content_md5(&req.headers)?.ok_or_else(|| {
        OssError::new(
            400,
            "MissingArgument",
            "Missing Some Required Arguments: Content-MD5.",
        )
        .with("ArgumentName", "Content-MD5")
    })?;
    let body = small_body(body, &req.headers, MAX_SMALL_BODY).await?;
    let md5: [u8; 16] = Md5::digest(&body).into();
    if md5 != expected {
        return Err(bad_digest());
    }
    let doc = xml::parse(&body).map_err(OssError::malformed_xml)?;
    if doc.name != "Delete" {
        return Err(OssError::malformed_xml("the root element must be Delete"));
    }
    let quiet = match doc.child("Quiet").map(|q| q.text.trim()) {
        None | Some("false") => false,
        Some("true") => true,
        Some(o) => {
            return Err(OssError::malformed_xml(format!(
                "Quiet {o:?} is not true or false"
            )));
        }
    };
    let mut keys = Vec::new();
    for o in doc.all("Object") {
        if o.child("VersionId").is_some() {
            return Err(OssError::not_implemented("Deleting object versions"));
        }
        let k = o
            .child("Key")
            .ok_or_else(|| OssError::malformed_xml("an Object without a Key"))?;
        if k.text.is_empty() || k.text.len() > 1023 {
            return Err(OssError::malformed_xml("a Key must have 1 to 1023 bytes"));
        }
        keys.push(k.text.clone());
    }
    if keys.is_empty() || keys.len() > 1000 {
        return Err(OssError::malformed_xml("a Delete names 1 to 1,000 objects"));
    }
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult>");
    if url {
        s += "<EncodingType>url</EncodingType>";
    }
    for k in keys {
        let resource = arn(store, &b.owner, &b.name, Some(&k));
        let result = authorize(req, "oss:DeleteObject", Some(&b), &resource)
            .and_then(|_| store.storage.delete_object(&b.name, &k).map(|_| ()));
        let k = if url {
            esc(&xml::url_encode(&k))
        } else {
            esc(&k)
        };
        match result {
            Ok(()) if !quiet => s += &format!("<Deleted><Key>{k}</Key></Deleted>"),
            Ok(()) => {}
            Err(e) => {
                s += &format!(
                    "<Error><Key>{k}</Key><Code>{}</Code><Message>{}</Message></Error>",
                    e.code,
                    esc(&e.message)
                )
            }
        }
    }
    s += "</DeleteResult>";
    Ok(xml_answer(200, s))
}

async fn copy_object(store: &ObjectStore, req: &Req<'_>) -> Result<Answer, OssError> {
    let dst = authorized(store, req, "oss:PutObject", true)?;
    refuse_unsupported_headers(req)?;
    let forbid = forbid_overwrite(req)?;
    let source = req.header("x-oss-copy-source").unwrap_or("");
    let bad_source =
        || OssError::invalid_argument(format!("x-oss-copy-source {source:?} is not /bucket/key."));
    let decoded = decode(source).map_err(|_| bad_source())?;
    let (src_bucket, src_key) = decoded
        .strip_prefix('/')
        .unwrap_or(&decoded)
        .split_once('/')
        .ok_or_else(bad_source)?;
    if !valid_bucket_name(src_bucket) || src_key.is_empty() {
        return Err(bad_source());
    }
    if req.has("versionId") || source.contains("?versionId=") {
        return Err(OssError::not_implemented("Copying an object version"));
    }
    let src = store
        .storage
        .bucket(src_bucket)
        .ok_or_else(|| OssError::no_such_bucket(src_bucket))?;
    authorize(
        req,
        "oss:GetObject",
        Some(&src),
        &arn(store, &src.owner, &src.name, Some(src_key)),
    )?;
    let o = store.storage.object(src_bucket, src_key)?;
    if let Some(status) = preconditions(req, &o, "x-oss-copy-source-")? {
        return Err(OssError::new(
            status,
            "PreconditionFailed",
            "A copy-source precondition did not hold.",
        ));
    }
    let replace = match req.header("x-oss-metadata-directive") {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(o) => {
            return Err(OssError::invalid_argument(format!(
                "x-oss-metadata-directive {o:?} is not COPY or REPLACE."
            )));
        }
    };
    let (content_type, headers, user_meta) = if replace {
        object_headers(req)
    } else {
        (
            o.content_type.clone(),
            o.headers.clone(),
            o.user_meta.clone(),
        )
    };
    let meta = ObjectMeta {
        key: req.key.clone(),
        data: String::new(),
        size: o.size,
        md5: o.md5.clone(),
        crc64: o.crc64,
        modified_ms: now_ms(),
        content_type,
        headers,
        user_meta,
        parts: o.parts,
    };
    let storage = &store.storage;
    let committed = blocking(|| -> Result<_, OssError> {
        let upload = storage.link_upload(src_bucket, &o, &dst.name)?;
        storage.commit(&dst.name, upload, meta, overwrite_check(forbid))
    })?;
    let mut r = xml_answer(
        200,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult><ETag>{}</ETag><LastModified>{}</LastModified></CopyObjectResult>",
            esc(&committed.etag()),
            iso8601(committed.modified_ms)
        ),
    );
    set(&mut r, "etag", &committed.etag());
    set(&mut r, "x-oss-hash-crc64ecma", &committed.crc64.to_string());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_the_ecma_xz_variant() {
        // The check value of CRC-64/XZ, which OSS's crc64ecma is.
        assert_eq!(CRC64.checksum(b"123456789"), 0x995D_C9BB_DF19_39FA);
    }

    #[test]
    fn bucket_names_as_oss_takes_them() {
        for ok in ["abc", "a-1", &"a".repeat(63)] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in ["ab", "-ab", "ab-", "Abc", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
