//! Fuzzing the signature check (issue 18): a validly signed request,
//! V3 (ACS3-HMAC-SHA256) or V1 (the older SDKs'), verifies; the same
//! request with any one signed part changed (method, path, a query
//! parameter, a signed header, the body, the authorization itself, the
//! key) never does, and no input makes the check panic. `VPC_FUZZ_CASES`
//! requests (default 2,000), seed `VPC_FUZZ_SEED`.
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::{AccessKey, Verifier, canonical_query_string, sign_v1, sign_with_nonce};

fn headers(pairs: &[(String, String)]) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_str(value).ok()?,
        );
    }
    Some(map)
}

/// A random change of one character of `s` (never the same string, nor
/// one that differs only in case: a hex signature reads the same in either).
fn changed(rng: &mut fastrand::Rng, s: &str) -> String {
    let mut b: Vec<char> = s.chars().collect();
    if b.is_empty() {
        return "x".into();
    }
    let i = rng.usize(0..b.len());
    let c = loop {
        let c = char::from(rng.u8(0x21..0x7f));
        if !c.eq_ignore_ascii_case(&b[i]) {
            break c;
        }
    };
    b[i] = c;
    b.into_iter().collect()
}

#[test]
fn fuzz_a_signed_request_verifies_and_any_change_to_what_it_signs_does_not() {
    let cases: usize = std::env::var("VPC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let seed: u64 = std::env::var("VPC_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("fuzz: {cases} requests, VPC_FUZZ_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let key = AccessKey::new("LTAI5tFuzzKeyId0001", "FuzzSecret/with+Chars=1");
    let other = AccessKey::new("LTAI5tFuzzKeyId0002", "AnotherSecret0002");
    let verifier = Verifier::new(vec![key.clone(), other.clone()]);
    let now = SystemTime::now();
    let mut refused = std::collections::BTreeMap::<&str, usize>::new();
    for n in 0..cases {
        let nonce = format!("fuzz-{seed}-{n}");
        let query_owned: Vec<(String, String)> = vec![
            ("RegionId".into(), "cn-hangzhou".into()),
            ("VpcName".into(), format!("lab {n}")),
            ("Tag.1.Key".into(), "k*~/".into()),
        ];
        let body = format!("CidrBlock=10.{}.0.0%2F16&Description=a+b", n % 200).into_bytes();
        if rng.bool() {
            // V3.
            let query: Vec<(&str, &str)> = query_owned
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let base = [
                ("host", "vpc.cn-hangzhou.aliyuncs.com"),
                ("x-acs-action", "CreateVpc"),
                ("x-acs-version", "2016-04-28"),
                ("content-type", "application/x-www-form-urlencoded"),
            ];
            let mut hs: Vec<(String, String)> = base
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            hs.extend(sign_with_nonce(
                "POST", "/", &query, &base, &body, &key, now, &nonce,
            ));
            let (mut method, mut path, mut raw_query, mut body) = (
                "POST".to_string(),
                "/".to_string(),
                canonical_query_string(&query),
                body,
            );
            let what = match rng.u8(0..9) {
                0 => {
                    method = ["GET", "PUT", "post", "POST "][rng.usize(0..4)].to_string();
                    "method"
                }
                1 => {
                    path = ["/x", "//", "/?", "/%2F"][rng.usize(0..4)].to_string();
                    "path"
                }
                2 => {
                    raw_query = match rng.u8(0..3) {
                        0 => changed(&mut rng, &raw_query),
                        1 => format!("{raw_query}&Extra=1"),
                        _ => raw_query.split('&').skip(1).collect::<Vec<_>>().join("&"),
                    };
                    "query"
                }
                3 => {
                    let i = rng.usize(0..body.len());
                    body[i] ^= 1 << rng.u8(0..7);
                    "body"
                }
                4 | 5 => {
                    // A signed header (the authorization excepted).
                    let signed: Vec<usize> = (0..hs.len())
                        .filter(|i| hs[*i].0 != "authorization")
                        .collect();
                    let i = signed[rng.usize(0..signed.len())];
                    hs[i].1 = changed(&mut rng, &hs[i].1);
                    "signed header"
                }
                6 => {
                    let i = hs.iter().position(|(k, _)| k == "authorization").unwrap();
                    hs[i].1 = match rng.u8(0..4) {
                        0 => changed(&mut rng, &hs[i].1),
                        1 => hs[i].1[..rng.usize(0..hs[i].1.len())].to_string(),
                        2 => hs[i].1.replace(&key.id, &other.id),
                        _ => hs[i].1.replace("x-acs-version", "").replace(";;", ";"),
                    };
                    "authorization"
                }
                7 => {
                    // The same request again: its nonce is used.
                    let h = headers(&hs).unwrap();
                    assert!(
                        verifier
                            .verify(&method, &path, Some(&raw_query), &h, &body, now)
                            .is_ok(),
                        "seed {seed}, request {n}: a valid V3 request refused"
                    );
                    "replay"
                }
                _ => {
                    let i = hs.iter().position(|(k, _)| k == "x-acs-date").unwrap();
                    let shifted = chrono::DateTime::<chrono::Utc>::from(
                        now + Duration::from_secs(rng.u64(1..3600)),
                    );
                    hs[i].1 = shifted.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                    "date"
                }
            };
            let Some(h) = headers(&hs) else { continue };
            let result = verifier.verify(&method, &path, Some(&raw_query), &h, &body, now);
            assert!(
                result.is_err(),
                "seed {seed}, request {n}: V3 with its {what} changed was accepted: {hs:?}"
            );
            *refused.entry(what).or_default() += 1;
        } else {
            // V1: the envelope and the signature among the parameters.
            let params: Vec<(&str, &str)> = query_owned
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain([("Action", "CreateVpc"), ("Version", "2016-04-28")])
                .collect();
            let mut pairs = sign_v1("POST", &params, &key, now, &nonce);
            let mut method = "POST";
            let what = match rng.u8(0..5) {
                0 => {
                    let i = rng.usize(0..pairs.len());
                    pairs[i].1 = changed(&mut rng, &pairs[i].1);
                    "a value"
                }
                1 => {
                    pairs.push(("Extra".into(), "1".into()));
                    "an added parameter"
                }
                2 => {
                    let i = pairs
                        .iter()
                        .position(|(k, _)| k != "Signature" && k != "SignatureVersion")
                        .unwrap();
                    pairs.remove(i);
                    "a removed parameter"
                }
                3 => {
                    method = "GET";
                    "method"
                }
                _ => {
                    assert!(
                        verifier.verify_v1("POST", &pairs, now).is_ok(),
                        "seed {seed}, request {n}: a valid V1 request refused"
                    );
                    "replay"
                }
            };
            let result = verifier.verify_v1(method, &pairs, now);
            assert!(
                result.is_err(),
                "seed {seed}, request {n}: V1 with {what} changed was accepted: {pairs:?}"
            );
            *refused.entry(what).or_default() += 1;
        }
        // And garbage, which must neither pass nor panic.
        let garbage: String = (0..rng.usize(0..200))
            .map(|_| char::from(rng.u8(0x20..0x7f)))
            .collect();
        if let Some(h) = headers(&[
            ("authorization".into(), garbage.clone()),
            ("host".into(), "h".into()),
        ]) {
            assert!(
                verifier
                    .verify("POST", "/", Some(&garbage), &h, garbage.as_bytes(), now)
                    .is_err()
            );
        }
        let pairs = vec![
            ("SignatureVersion".to_string(), "1.0".to_string()),
            ("Signature".into(), garbage.clone()),
            ("AccessKeyId".into(), key.id.clone()),
        ];
        assert!(verifier.verify_v1("GET", &pairs, now).is_err());
    }
    eprintln!("fuzz: refused, by what was changed: {refused:?}");
    assert!(
        refused.len() >= 11,
        "every kind of change was tried: {refused:?}"
    );
}
