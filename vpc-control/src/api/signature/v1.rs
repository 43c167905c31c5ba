//! Alibaba Cloud RPC signature V1 (`SignatureMethod=HMAC-SHA1`,
//! `SignatureVersion=1.0`): what the older SDKs send, among them
//! `aliyun-python-sdk-core` (the base of `aliyun-python-sdk-vpc`/`-ecs`,
//! footmark and Ansible's alicloud modules) and npm `@alicloud/pop-core`.
//!
//! The rules follow those SDKs' sources (`aliyunsdkcore/auth/composer/
//! rpc_signature_composer.py` 2.16.1, `@alicloud/pop-core/lib/rpc.js`
//! 1.8.0), checked against known-answer vectors captured from both (see the
//! tests):
//!
//! ```text
//! Signature        = base64(hmac_sha1(AccessKeySecret + "&", StringToSign))
//! StringToSign     = METHOD "&" percentEncode("/") "&" percentEncode(CanonicalQuery)
//! CanonicalQuery   = every parameter but Signature, from the query string
//!                    AND the form body, sorted by name, each
//!                    percentEncode(name) "=" percentEncode(value), joined by "&"
//! ```
//!
//! * METHOD is the HTTP method actually used: the Python SDK sends GET or
//!   POST as each request class says (the VPC and ECS classes say POST),
//!   pop-core GET unless told POST.
//! * The parameters come from wherever the client put them: the Python SDK
//!   puts the signature parameters in the query and the request's body
//!   parameters (signed too) in an `application/x-www-form-urlencoded`
//!   body; pop-core with POST puts everything, `Signature` included, in the
//!   body. The verifier therefore signs the decoded pairs of both.
//! * percentEncode is RFC 3986: everything but `A-Z a-z 0-9 - _ . ~`
//!   becomes `%XX` (uppercase hex, UTF-8), so a space is `%20`, `*` is
//!   `%2A`, `/` is `%2F`. The SDKs write it as urlencode + `+`→`%20`,
//!   `*`→`%2A`, `%7E`→`~` (Python) or encodeURIComponent plus `!'()*`
//!   (JavaScript): the same strings.
//! * `Timestamp` is `yyyy-MM-ddTHH:mm:ssZ` (UTC), at most 15 minutes off the
//!   server clock either way; `SignatureNonce` may be used once per
//!   AccessKeyId while its request could still be accepted (the nonce cache
//!   is the one V3 uses).
//! * `SignatureType` is optional and empty (the Python SDK sends it empty;
//!   pop-core leaves it out); a non-empty type (bearer tokens) is refused.
//! * `SecurityToken` (STS) is refused: there is no STS here.
//! * `Format` is optional; JSON in any letter case is accepted; XML (the
//!   cloud's default when absent) is refused: every answer here is JSON.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{
    AccessKey, AuthError, DATE_FORMAT, MAX_CLOCK_SKEW_SECS, Verifier, nonce_id,
    percent_encode_bytes, unix_seconds,
};

/// The only `SignatureMethod` accepted.
pub const V1_SIGNATURE_METHOD: &str = "HMAC-SHA1";

/// The only `SignatureVersion` accepted.
pub const V1_SIGNATURE_VERSION: &str = "1.0";

/// The parameters of the signature V1 envelope: removed from the request
/// once it is verified, so that actions never see them.
pub const V1_ENVELOPE: [&str; 9] = [
    "AccessKeyId",
    "Format",
    "SecurityToken",
    "Signature",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureType",
    "SignatureVersion",
    "Timestamp",
];

type HmacSha1 = Hmac<Sha1>;

/// Whether decoded request parameters carry a signature V1 (`Signature`,
/// `SignatureMethod` or `SignatureVersion`), to be checked with
/// [`Verifier::verify_v1`] when there is no `Authorization` header.
pub fn is_v1_request(pairs: &[(String, String)]) -> bool {
    pairs.iter().any(|(k, _)| {
        matches!(
            k.as_str(),
            "Signature" | "SignatureMethod" | "SignatureVersion"
        )
    })
}

/// Removes the [`V1_ENVELOPE`] parameters (after [`Verifier::verify_v1`]
/// accepted them).
pub fn strip_v1_envelope(pairs: &mut Vec<(String, String)>) {
    pairs.retain(|(k, _)| !V1_ENVELOPE.contains(&k.as_str()));
}

/// Client side, as `aliyun-python-sdk-core` signs: `params` plus the
/// envelope (`AccessKeyId`, `Format=JSON`, `SignatureMethod`,
/// `SignatureNonce`, an empty `SignatureType`, `SignatureVersion`,
/// `Timestamp`) and `Signature`, decoded (send them with
/// [`super::canonical_query_string`], in the query or a form body).
pub fn sign_v1(
    method: &str,
    params: &[(&str, &str)],
    key: &AccessKey,
    now: SystemTime,
    nonce: &str,
) -> Vec<(String, String)> {
    let timestamp = chrono::DateTime::<chrono::Utc>::from(now)
        .format(DATE_FORMAT)
        .to_string();
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    pairs.extend(
        [
            ("AccessKeyId", key.id.as_str()),
            ("Format", "JSON"),
            ("SignatureMethod", V1_SIGNATURE_METHOD),
            ("SignatureNonce", nonce),
            ("SignatureType", ""),
            ("SignatureVersion", V1_SIGNATURE_VERSION),
            ("Timestamp", timestamp.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let signature = BASE64.encode(
        mac(&key.secret, &string_to_sign(method, &pairs))
            .finalize()
            .into_bytes(),
    );
    pairs.push(("Signature".to_owned(), signature));
    pairs
}

/// METHOD & %2F & percentEncode(every pair but Signature, sorted, encoded, joined by &).
fn string_to_sign(method: &str, pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> =
        pairs.iter().filter(|(k, _)| k != "Signature").collect();
    sorted.sort_by(|a, b| (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes())));
    let canonical = sorted
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encode_bytes(k.as_bytes()),
                percent_encode_bytes(v.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{method}&{}&{}",
        percent_encode_bytes(b"/"),
        percent_encode_bytes(canonical.as_bytes())
    )
}

fn mac(secret: &str, string_to_sign: &str) -> HmacSha1 {
    let mut key = Vec::with_capacity(secret.len() + 1);
    key.extend_from_slice(secret.as_bytes());
    key.push(b'&');
    let mut mac = HmacSha1::new_from_slice(&key).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac
}

impl Verifier {
    /// Checks a request's signature V1 and returns the key that signed it.
    ///
    /// `method` is the HTTP method; `pairs` are the decoded parameters of
    /// the query string and the form body together, exactly as received.
    /// On success the nonce is remembered (in the cache V3 uses), so the
    /// same request is refused the second time. The caller then drops the
    /// envelope with [`strip_v1_envelope`].
    pub fn verify_v1(
        &self,
        method: &str,
        pairs: &[(String, String)],
        now: SystemTime,
    ) -> Result<&AccessKey, AuthError> {
        let single = |name: &'static str| -> Result<Option<&str>, AuthError> {
            let mut values = pairs
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str());
            let first = values.next();
            if values.next().is_some() {
                return Err(AuthError::IncompleteSignature(format!(
                    "parameter {name} is given more than once."
                )));
            }
            Ok(first)
        };
        let required = |name: &'static str| -> Result<&str, AuthError> {
            single(name)?
                .filter(|v| !v.is_empty())
                .ok_or(AuthError::MissingParameter(name))
        };

        let signature = required("Signature")?;
        let key_id = required("AccessKeyId")?;
        let method_name = required("SignatureMethod")?;
        if method_name != V1_SIGNATURE_METHOD {
            return Err(AuthError::UnsupportedV1Method {
                found: format!("SignatureMethod={}", truncate(method_name)),
            });
        }
        if let Some(t) = single("SignatureType")?.filter(|t| !t.is_empty()) {
            return Err(AuthError::UnsupportedV1Method {
                found: format!("SignatureType={}", truncate(t)),
            });
        }
        let version = required("SignatureVersion")?;
        if version != V1_SIGNATURE_VERSION {
            return Err(AuthError::IncompleteSignature(format!(
                "SignatureVersion {:?} is not supported; signature V1 is SignatureVersion=1.0.",
                truncate(version)
            )));
        }
        let nonce = required("SignatureNonce")?;
        let timestamp = required("Timestamp")?;
        let signed_at = chrono::NaiveDateTime::parse_from_str(timestamp, DATE_FORMAT)
            .map_err(|_| AuthError::InvalidV1Timestamp(truncate(timestamp)))?
            .and_utc()
            .timestamp();
        if single("SecurityToken")?.is_some() {
            return Err(AuthError::SecurityTokenNotSupported);
        }
        if let Some(format) = single("Format")?
            && !format.eq_ignore_ascii_case("JSON")
        {
            return Err(AuthError::UnsupportedFormat(truncate(format)));
        }
        let now_secs = unix_seconds(now);
        let skew_secs = now_secs.saturating_sub(signed_at);
        if skew_secs.unsigned_abs() > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
            return Err(AuthError::StaleV1Timestamp {
                timestamp: timestamp.to_owned(),
                skew_secs,
            });
        }

        let key = self
            .keys
            .get(key_id)
            .ok_or_else(|| AuthError::UnknownAccessKey(truncate(key_id)))?;

        let string_to_sign = string_to_sign(method, pairs);
        let matches = BASE64
            .decode(signature)
            .is_ok_and(|sig| mac(&key.secret, &string_to_sign).verify_slice(&sig).is_ok());
        if !matches {
            return Err(AuthError::SignatureMismatch { string_to_sign });
        }

        let mut cache = self
            .nonces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.insert(
            nonce_id(&key.id, nonce),
            signed_at.saturating_add(MAX_CLOCK_SKEW_SECS),
            now_secs,
            nonce,
        )?;
        Ok(key)
    }
}

/// A client-supplied value, cut to 128 characters for an error message.
fn truncate(s: &str) -> String {
    s.chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    //! Known-answer vectors: a throwaway script ran the official old SDKs
    //! against a local capture server on 127.0.0.1:47112 with the clock and
    //! the nonce fixed (Timestamp 2026-03-04T05:06:07Z), key
    //! `LTAI5tTestKeyId0001` / `TestSecret/with+Chars=0001`:
    //!
    //! * aliyun-python-sdk-core 2.16.1 + aliyun-python-sdk-vpc 3.0.48
    //!   (Python 3.11), `helper.get_iso_8061_date` and `helper.get_uuid`
    //!   patched: `CreateVpcRequest` (POST, everything in the query, empty
    //!   body; its `string_to_sign` printed too), a `CommonRequest`
    //!   DescribeVpcs with GET, a `CommonRequest` ModifyVSwitchAttribute
    //!   with POST and body parameters (form body).
    //! * @alicloud/pop-core 1.8.0 (Node 20), `Date` and `kitx.makeNonce`
    //!   patched: `request('DescribeVpcs', ...)` (GET, query) and
    //!   `request('CreateVpc', ..., {method: 'POST'})` (everything in the body).
    //!
    //! The request lines and bodies below are the bytes the server received.
    use super::super::canonical_query_string;
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    const KEY_ID: &str = "LTAI5tTestKeyId0001";
    const SECRET: &str = "TestSecret/with+Chars=0001";
    /// 2026-03-04T05:06:07Z
    const SIGNED_AT: u64 = 1_772_600_767;

    /// Python SDK, CreateVpcRequest, POST, empty body.
    const PY_CREATE_VPC: &str = "CidrBlock=10.0.0.0%2F8&VpcName=lab%20vpc&Description=a%20b%2Ac~d%2Fe%3Af%2Bg%26h%3Di%20%E4%B8%AD%E6%96%87%C3%A9\
        &Version=2016-04-28&Action=CreateVpc&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-03-04T05%3A06%3A07Z\
        &SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=3f2a9c1e-5b7d-4e6f-8a0b-1c2d3e4f5a6b\
        &AccessKeyId=LTAI5tTestKeyId0001&Signature=LouU7GG%2BWwaDDnvYQP35mW8NZPc%3D";
    /// The SDK's own `string_to_sign` for [`PY_CREATE_VPC`].
    const PY_CREATE_VPC_STS: &str = "POST&%2F&AccessKeyId%3DLTAI5tTestKeyId0001%26Action%3DCreateVpc%26CidrBlock%3D10.0.0.0%252F8\
        %26Description%3Da%2520b%252Ac~d%252Fe%253Af%252Bg%2526h%253Di%2520%25E4%25B8%25AD%25E6%2596%2587%25C3%25A9%26Format%3DJSON\
        %26RegionId%3Dcn-hangzhou%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3f2a9c1e-5b7d-4e6f-8a0b-1c2d3e4f5a6b\
        %26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2026-03-04T05%253A06%253A07Z%26Version%3D2016-04-28%26VpcName%3Dlab%2520vpc";
    const PY_CREATE_VPC_NONCE: &str = "3f2a9c1e-5b7d-4e6f-8a0b-1c2d3e4f5a6b";

    /// Python SDK, CommonRequest DescribeVpcs, GET.
    const PY_GET: &str = "PageSize=10&VpcName=x%20y&Version=2016-04-28&Action=DescribeVpcs&Format=JSON&RegionId=cn-hangzhou\
        &Timestamp=2026-03-04T05%3A06%3A07Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0\
        &SignatureNonce=nonce-0002-7e8d9c&AccessKeyId=LTAI5tTestKeyId0001&Signature=ucy5D0KzamDXzJMZ2v95u9P%2FZok%3D";

    /// Python SDK, CommonRequest ModifyVSwitchAttribute, POST with body parameters.
    const PY_POST_QUERY: &str = "VSwitchId=vsw-1&Version=2016-04-28&Action=ModifyVSwitchAttribute&Format=JSON&RegionId=cn-hangzhou\
        &Timestamp=2026-03-04T05%3A06%3A07Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0\
        &SignatureNonce=nonce-0003&AccessKeyId=LTAI5tTestKeyId0001&Signature=LjThi3Tb%2FI41jZdFO2DNla6j7P4%3D";
    const PY_POST_BODY: &str = "Description=x%3Ay%2Fz+~+%C3%BC&VSwitchName=new+name%2A";

    /// pop-core, DescribeVpcs, GET.
    const POP_GET: &str = "AccessKeyId=LTAI5tTestKeyId0001&Action=DescribeVpcs&Format=JSON&RegionId=cn-hangzhou&SignatureMethod=HMAC-SHA1\
        &SignatureNonce=pop-nonce-0001&SignatureVersion=1.0&Timestamp=2026-03-04T05%3A06%3A07Z&Version=2016-04-28\
        &VpcName=a%20b%2Ac~d%2Fe%3Af%2Bg%21%27%28%29%E4%B8%AD&Signature=9xlFBVvFwE7y%2Foa%2FEq3FQVWAt%2F8%3D";

    /// pop-core, CreateVpc, POST, everything in the body (the path is `/`).
    const POP_POST_BODY: &str = "AccessKeyId=LTAI5tTestKeyId0001&Action=CreateVpc&CidrBlock=10.0.0.0%2F8&Description=x%20y&Format=JSON\
        &RegionId=cn-hangzhou&SignatureMethod=HMAC-SHA1&SignatureNonce=pop-nonce-0002&SignatureVersion=1.0\
        &Timestamp=2026-03-04T05%3A06%3A07Z&Version=2016-04-28&Signature=HMPfxYLqLge5yjc1RXi5vjuMGo8%3D";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn key() -> AccessKey {
        AccessKey::new(KEY_ID, SECRET)
    }

    fn verifier() -> Verifier {
        Verifier::new(vec![key()])
    }

    /// Decoded pairs of a query string and a form body, as the daemon reads them.
    fn pairs(query: &str, body: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .chain(form_urlencoded::parse(body.as_bytes()).into_owned())
            .collect()
    }

    /// A request signed by [`sign_v1`] at [`SIGNED_AT`], with `edit` applied
    /// before signing (so the signature is valid for the edited pairs).
    fn signed(nonce: &str, edit: impl FnOnce(&mut Vec<(String, String)>)) -> Vec<(String, String)> {
        let mut p = sign_v1(
            "POST",
            &[
                ("Action", "DescribeVpcs"),
                ("Version", "2016-04-28"),
                ("RegionId", "cn-hangzhou"),
            ],
            &key(),
            at(SIGNED_AT),
            nonce,
        );
        p.retain(|(k, _)| k != "Signature");
        edit(&mut p);
        let sig = BASE64.encode(
            mac(SECRET, &string_to_sign("POST", &p))
                .finalize()
                .into_bytes(),
        );
        p.push(("Signature".to_owned(), sig));
        p
    }

    fn set(p: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
        p.retain(|(k, _)| k != name);
        if let Some(v) = value {
            p.push((name.to_owned(), v.to_owned()));
        }
    }

    #[test]
    fn python_sdk_vectors_are_accepted() {
        let v = verifier();
        for (method, query, body) in [
            ("POST", PY_CREATE_VPC, ""),
            ("GET", PY_GET, ""),
            ("POST", PY_POST_QUERY, PY_POST_BODY),
        ] {
            let ok = v.verify_v1(method, &pairs(query, body), at(SIGNED_AT + 5));
            assert_eq!(ok.map(|k| k.id.as_str()), Ok(KEY_ID), "{method} {query}");
        }
    }

    #[test]
    fn pop_core_vectors_are_accepted() {
        let v = verifier();
        assert_eq!(
            v.verify_v1("GET", &pairs(POP_GET, ""), at(SIGNED_AT))
                .map(|k| k.id.as_str()),
            Ok(KEY_ID)
        );
        assert_eq!(
            v.verify_v1("POST", &pairs("", POP_POST_BODY), at(SIGNED_AT))
                .map(|k| k.id.as_str()),
            Ok(KEY_ID)
        );
    }

    #[test]
    fn server_string_to_sign_is_the_python_sdks() {
        let wrong = Verifier::new(vec![AccessKey::new(KEY_ID, "not-the-secret")]);
        let err = wrong
            .verify_v1("POST", &pairs(PY_CREATE_VPC, ""), at(SIGNED_AT))
            .unwrap_err();
        assert_eq!(
            err,
            AuthError::SignatureMismatch {
                string_to_sign: PY_CREATE_VPC_STS.to_owned()
            }
        );
        assert_eq!((err.code(), err.status()), ("SignatureDoesNotMatch", 400));
        assert!(
            err.to_string()
                .ends_with(&format!("server string to sign is:{PY_CREATE_VPC_STS}")),
            "{err}"
        );
    }

    #[test]
    fn sign_v1_reproduces_the_python_sdk_signature() {
        let params = [
            ("CidrBlock", "10.0.0.0/8"),
            ("VpcName", "lab vpc"),
            ("Description", "a b*c~d/e:f+g&h=i 中文é"),
            ("Version", "2016-04-28"),
            ("Action", "CreateVpc"),
            ("RegionId", "cn-hangzhou"),
        ];
        let signed = sign_v1("POST", &params, &key(), at(SIGNED_AT), PY_CREATE_VPC_NONCE);
        let sig = signed
            .iter()
            .find(|(k, _)| k == "Signature")
            .map(|(_, v)| v.as_str());
        assert_eq!(sig, Some("LouU7GG+WwaDDnvYQP35mW8NZPc="));
        // And the wire form of it verifies.
        let refs: Vec<(&str, &str)> = signed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let wire = canonical_query_string(&refs);
        assert!(
            verifier()
                .verify_v1("POST", &pairs(&wire, ""), at(SIGNED_AT))
                .is_ok()
        );
    }

    #[test]
    fn body_parameters_and_the_http_method_are_signed() {
        let v = verifier();
        // The body parameters are part of the string to sign.
        let err = v
            .verify_v1("POST", &pairs(PY_POST_QUERY, ""), at(SIGNED_AT))
            .unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch");
        let err = v
            .verify_v1(
                "POST",
                &pairs(
                    PY_POST_QUERY,
                    "Description=x%3Ay%2Fz+~+%C3%BC&VSwitchName=other",
                ),
                at(SIGNED_AT),
            )
            .unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch");
        // The method too.
        let err = v
            .verify_v1("GET", &pairs(PY_CREATE_VPC, ""), at(SIGNED_AT))
            .unwrap_err();
        assert!(
            matches!(&err, AuthError::SignatureMismatch { string_to_sign } if string_to_sign.starts_with("GET&%2F&AccessKeyId%3D")),
            "{err:?}"
        );
        // Where a parameter travels (query or body) does not matter.
        let (q, b) = PY_CREATE_VPC.split_at(PY_CREATE_VPC.find("&Version").expect("split"));
        assert!(
            v.verify_v1("POST", &pairs(&b[1..], q), at(SIGNED_AT))
                .is_ok()
        );
    }

    #[test]
    fn wrong_secret_is_signature_does_not_match() {
        let p = sign_v1(
            "GET",
            &[("Action", "DescribeVpcs")],
            &AccessKey::new(KEY_ID, "wrong"),
            at(SIGNED_AT),
            "n1",
        );
        let err = verifier().verify_v1("GET", &p, at(SIGNED_AT)).unwrap_err();
        assert_eq!((err.code(), err.status()), ("SignatureDoesNotMatch", 400));
        assert!(
            err.to_string()
                .contains("server string to sign is:GET&%2F&AccessKeyId%3D"),
            "{err}"
        );
        // A Signature that is not base64 at all is a mismatch too.
        let mut p = signed("n2", |_| {});
        set(&mut p, "Signature", Some("not base64!"));
        assert_eq!(
            verifier()
                .verify_v1("POST", &p, at(SIGNED_AT))
                .unwrap_err()
                .code(),
            "SignatureDoesNotMatch"
        );
    }

    #[test]
    fn unknown_access_key_is_not_found_404() {
        let v = Verifier::new(vec![AccessKey::new("LTAIsomeoneElse", SECRET)]);
        let err = v
            .verify_v1("POST", &pairs(PY_CREATE_VPC, ""), at(SIGNED_AT))
            .unwrap_err();
        assert_eq!(err, AuthError::UnknownAccessKey(KEY_ID.to_owned()));
        assert_eq!(
            (err.code(), err.status()),
            ("InvalidAccessKeyId.NotFound", 404)
        );
    }

    #[test]
    fn timestamp_more_than_15_minutes_off_either_way_is_expired() {
        let v = verifier();
        let p = pairs(PY_CREATE_VPC, "");
        let err = v.verify_v1("POST", &p, at(SIGNED_AT + 901)).unwrap_err();
        assert_eq!(
            err,
            AuthError::StaleV1Timestamp {
                timestamp: "2026-03-04T05:06:07Z".to_owned(),
                skew_secs: 901
            }
        );
        assert_eq!(
            (err.code(), err.status()),
            ("InvalidTimeStamp.Expired", 400)
        );
        assert!(err.to_string().contains("901 s behind"), "{err}");
        let err = v.verify_v1("POST", &p, at(SIGNED_AT - 901)).unwrap_err();
        assert_eq!(err.code(), "InvalidTimeStamp.Expired");
        assert!(err.to_string().contains("901 s ahead of"), "{err}");
        // Exactly 15 minutes either way is still accepted.
        assert!(v.verify_v1("POST", &p, at(SIGNED_AT - 900)).is_ok());
        let p = pairs(PY_GET, "");
        assert!(v.verify_v1("GET", &p, at(SIGNED_AT + 900)).is_ok());
    }

    #[test]
    fn malformed_timestamp_is_invalid_timestamp_format() {
        for bad in [
            "2026-03-04 05:06:07",
            "2026-03-04T05:06:07",
            "2026-03-04T05:06:07+08:00",
            "1772600767",
            "2026-13-04T05:06:07Z",
        ] {
            let p = signed("n", |p| set(p, "Timestamp", Some(bad)));
            let err = verifier().verify_v1("POST", &p, at(SIGNED_AT)).unwrap_err();
            assert_eq!(
                (err.code(), err.status()),
                ("InvalidTimeStamp.Format", 400),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn reused_nonce_is_refused_per_key_and_failures_do_not_burn_it() {
        let v = verifier();
        let p = pairs(PY_CREATE_VPC, "");
        // A failed check first: the nonce stays usable.
        let tampered = pairs(&PY_CREATE_VPC.replace("VpcName=lab", "VpcName=lob"), "");
        assert!(v.verify_v1("POST", &tampered, at(SIGNED_AT)).is_err());
        assert!(v.verify_v1("POST", &p, at(SIGNED_AT)).is_ok());
        let err = v.verify_v1("POST", &p, at(SIGNED_AT + 600)).unwrap_err();
        assert_eq!(err, AuthError::NonceUsed(PY_CREATE_VPC_NONCE.to_owned()));
        assert_eq!((err.code(), err.status()), ("SignatureNonceUsed", 400));
        // The same nonce from another key is another nonce.
        let other = AccessKey::new("LTAIother", "other-secret");
        let v2 = Verifier::new(vec![key(), other.clone()]);
        assert!(v2.verify_v1("POST", &p, at(SIGNED_AT)).is_ok());
        let q = sign_v1(
            "POST",
            &[("Action", "DescribeVpcs")],
            &other,
            at(SIGNED_AT),
            PY_CREATE_VPC_NONCE,
        );
        assert!(v2.verify_v1("POST", &q, at(SIGNED_AT)).is_ok());
    }

    #[test]
    fn v1_and_v3_share_the_nonce_cache() {
        use axum::http::{HeaderMap, HeaderName, HeaderValue};
        let v = verifier();
        let base = [
            ("host", "h"),
            ("x-acs-action", "DescribeVpcs"),
            ("x-acs-version", "2016-04-28"),
        ];
        let mut headers = HeaderMap::new();
        for (n, val) in base
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .chain(super::super::sign_with_nonce(
                "POST",
                "/",
                &[],
                &base,
                b"",
                &key(),
                at(SIGNED_AT),
                "shared-nonce",
            ))
        {
            headers.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(&val).unwrap(),
            );
        }
        assert!(
            v.verify("POST", "/", None, &headers, b"", at(SIGNED_AT))
                .is_ok()
        );
        let p = signed("shared-nonce", |_| {});
        assert_eq!(
            v.verify_v1("POST", &p, at(SIGNED_AT)).unwrap_err().code(),
            "SignatureNonceUsed"
        );
    }

    #[test]
    fn missing_signature_parts_are_missing_parameter() {
        for name in [
            "Signature",
            "AccessKeyId",
            "SignatureMethod",
            "SignatureVersion",
            "SignatureNonce",
            "Timestamp",
        ] {
            for value in [None, Some("")] {
                let mut p = signed("n", |p| set(p, name, value));
                if name == "Signature" {
                    set(&mut p, name, value);
                }
                let err = verifier().verify_v1("POST", &p, at(SIGNED_AT)).unwrap_err();
                assert_eq!(err, AuthError::MissingParameter(name), "{name}={value:?}");
                assert_eq!((err.code(), err.status()), ("MissingParameter", 400));
                assert!(err.to_string().contains(&format!("\"{name}\"")), "{err}");
            }
        }
        // Optional parts: SignatureType and Format may be left out.
        let p = signed("n", |p| {
            set(p, "SignatureType", None);
            set(p, "Format", None);
        });
        assert!(verifier().verify_v1("POST", &p, at(SIGNED_AT)).is_ok());
    }

    #[test]
    fn duplicated_signature_parameter_is_incomplete_signature() {
        let p = signed("n", |p| {
            p.push(("SignatureNonce".to_owned(), "again".to_owned()))
        });
        let err = verifier().verify_v1("POST", &p, at(SIGNED_AT)).unwrap_err();
        assert_eq!((err.code(), err.status()), ("IncompleteSignature", 400));
        assert!(
            err.to_string()
                .contains("SignatureNonce is given more than once"),
            "{err}"
        );
    }

    #[test]
    fn only_hmac_sha1_with_an_empty_signature_type_is_accepted() {
        for (name, value) in [
            ("SignatureMethod", "HMAC-SHA256"),
            ("SignatureMethod", "hmac-sha1"),
            ("SignatureMethod", "ACS3-HMAC-SHA256"),
            ("SignatureType", "BEARERTOKEN"),
        ] {
            let p = signed("n", |p| set(p, name, Some(value)));
            let err = verifier().verify_v1("POST", &p, at(SIGNED_AT)).unwrap_err();
            assert_eq!(
                (err.code(), err.status()),
                ("InvalidSignatureMethod", 400),
                "{name}={value}"
            );
            assert!(
                err.to_string().contains(&format!("{name}={value}")),
                "{err}"
            );
        }
    }

    #[test]
    fn signature_version_other_than_1_0_is_refused() {
        for version in ["2.0", "1", "3.0"] {
            let p = signed("n", |p| set(p, "SignatureVersion", Some(version)));
            let err = verifier().verify_v1("POST", &p, at(SIGNED_AT)).unwrap_err();
            assert_eq!(
                (err.code(), err.status()),
                ("IncompleteSignature", 400),
                "{version}"
            );
            assert!(err.to_string().contains("SignatureVersion=1.0"), "{err}");
        }
    }

    #[test]
    fn security_token_is_refused_never_ignored() {
        for token in ["CAIS...sts-token", ""] {
            let p = signed("n", |p| set(p, "SecurityToken", Some(token)));
            let err = verifier().verify_v1("POST", &p, at(SIGNED_AT)).unwrap_err();
            assert_eq!(err, AuthError::SecurityTokenNotSupported);
            assert_eq!(
                (err.code(), err.status()),
                ("InvalidSecurityToken.Malformed", 400)
            );
        }
    }

    #[test]
    fn format_json_in_any_case_is_accepted_xml_is_refused() {
        for (i, format) in ["JSON", "json", "Json"].into_iter().enumerate() {
            let p = signed(&format!("n{i}"), |p| set(p, "Format", Some(format)));
            assert!(
                verifier().verify_v1("POST", &p, at(SIGNED_AT)).is_ok(),
                "{format}"
            );
        }
        for format in ["XML", "xml", "yaml"] {
            let p = signed("x", |p| set(p, "Format", Some(format)));
            let err = verifier().verify_v1("POST", &p, at(SIGNED_AT)).unwrap_err();
            assert_eq!(err, AuthError::UnsupportedFormat(format.to_owned()));
            assert_eq!((err.code(), err.status()), ("InvalidParameter", 400));
            assert!(
                err.to_string().contains("\"Format\"") && err.to_string().contains("JSON only"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_envelope_is_recognised_and_stripped() {
        let mut p = pairs(PY_POST_QUERY, PY_POST_BODY);
        assert!(is_v1_request(&p));
        p.push(("SecurityToken".to_owned(), "t".to_owned()));
        strip_v1_envelope(&mut p);
        let mut names: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "Action",
                "Description",
                "RegionId",
                "VSwitchId",
                "VSwitchName",
                "Version"
            ]
        );
        assert!(!is_v1_request(&p));
        assert!(is_v1_request(&[(
            "SignatureMethod".to_owned(),
            "HMAC-SHA1".to_owned()
        )]));
    }
}
