//! Who may do what, per request: first the gateway endpoint's policy, for
//! requests that came through one (none set: allow everything); then the
//! bucket policy: an explicit Deny refuses, an Allow grants; then the bucket
//! owner is allowed, and everyone else only what the bucket's canned ACL
//! opens. Condition keys: `acs:SourceIp` (the client's own address),
//! `acs:SourceVpc` and `acs:SourceVpce` (only for endpoint traffic),
//! `acs:AccessId`, `acs:SecureTransport` (false: the lab serves HTTP),
//! `acs:CurrentTime`.
use crate::access_policy::{Context, Decision, Policy, PolicyUse, Request, keys};
use crate::api::signature::AccessKey;

use super::{RequestOrigin, error::OssError, storage::BucketMeta};

/// Actions a `public-read` ACL opens to anyone.
const READ_ACTIONS: &[&str] = &["oss:GetObject", "oss:ListObjects"];
/// Actions `public-read-write` opens too.
const WRITE_ACTIONS: &[&str] = &["oss:PutObject", "oss:DeleteObject"];

/// Checks a bucket policy document when it is put: InvalidPolicyDocument
/// (400) with OSS's EC code and the place of the mistake.
pub fn validate(doc: &str) -> Result<Policy, OssError> {
    Policy::parse_for(doc, PolicyUse::Bucket).map_err(|e| {
        OssError::new(
            400,
            "InvalidPolicyDocument",
            format!("Invalid policy document: {e}"),
        )
        .with("EC", e.oss_ec())
    })
}

/// The condition keys of a request.
fn context(caller: Option<&AccessKey>, origin: &RequestOrigin) -> Context {
    let mut c = Context::default();
    c.set(keys::SOURCE_IP, origin.source_ip.to_string());
    if let Some(v) = &origin.vpc_id {
        c.set(keys::SOURCE_VPC, v.clone());
    }
    if let Some(e) = &origin.endpoint_id {
        c.set(keys::SOURCE_VPCE, e.clone());
    }
    if let Some(k) = caller {
        c.set(keys::ACCESS_ID, k.id.clone());
    }
    c.set(keys::SECURE_TRANSPORT, "false");
    c.set(
        keys::CURRENT_TIME,
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    c
}

/// Whether `caller` (None: anonymous) may do `action` on `resource` of
/// `bucket` (None: no bucket yet: ListBuckets, PutBucket).
pub fn authorize(
    caller: Option<&AccessKey>,
    origin: &RequestOrigin,
    action: &str,
    bucket: Option<&BucketMeta>,
    resource: &str,
) -> Result<(), OssError> {
    let account = caller.map(|k| k.account_id.as_str());
    let ctx = context(caller, origin);
    let request = Request {
        account_id: account,
        action,
        resource,
        context: &ctx,
    };
    if origin.endpoint_id.is_some()
        && let Some(p) = &origin.endpoint_policy
        && p.evaluate(&request) != Decision::Allow
    {
        return Err(OssError::access_denied(format!(
            "You have no right to access this resource because of the VPC endpoint policy ({action} on {resource})."
        ))
        .with("EC", "0003-00000201"));
    }
    let denied = || {
        OssError::access_denied(format!(
            "You have no right to access this resource because of bucket acl or policy ({action} on {resource})."
        ))
        .with("EC", "0003-00000001")
    };
    let Some(b) = bucket else {
        // ListBuckets and PutBucket: any signed caller, for itself.
        return account.map(|_| ()).ok_or_else(denied);
    };
    if let Some(doc) = &b.policy {
        // Validated when put; a document that no longer parses (a newer
        // grammar's) denies rather than opens.
        let policy = Policy::parse_for(doc, PolicyUse::Bucket).map_err(|_| denied())?;
        match policy.evaluate_bucket_policy(&request, &b.owner) {
            Decision::ExplicitDeny => return Err(denied()),
            Decision::Allow => return Ok(()),
            Decision::ImplicitDeny => {}
        }
    }
    if account == Some(b.owner.as_str()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "1746000000000001";
    const OTHER: &str = "1999000000000002";

    fn key(account: &str) -> AccessKey {
        AccessKey {
            id: format!("LTAI{account}"),
            secret: "s".into(),
            account_id: account.into(),
        }
    }

    fn bucket(name: &str, policy: Option<&str>) -> BucketMeta {
        BucketMeta {
            name: name.into(),
            owner: OWNER.into(),
            created_ms: 0,
            region: "cn-hangzhou".into(),
            storage_class: "Standard".into(),
            acl: "private".into(),
            policy: policy.map(str::to_string),
        }
    }

    fn through(vpc: &str, endpoint_policy: &str) -> RequestOrigin {
        RequestOrigin::through_endpoint(
            "10.0.1.10".parse().unwrap(),
            vpc.into(),
            "vpce-1".into(),
            Some(endpoint_policy),
        )
    }

    /// POL-3, the documents' two-sided example: the endpoint allows only the
    /// owner's account on examplebucket; the bucket denies object actions
    /// outside vpc-a and allows the owner from vpc-a.
    #[test]
    fn pol_3_only_the_authorised_account_vpc_and_bucket_pass() {
        let endpoint = format!(
            r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"oss:*","Principal":["{OWNER}"],
               "Resource":["acs:oss:*:*:examplebucket","acs:oss:*:*:examplebucket/*"]}}]}}"#
        );
        let bucket_policy = format!(
            r#"{{"Version":"1","Statement":[
              {{"Effect":"Deny","Action":["oss:GetObject","oss:PutObject"],"Principal":["*"],
                "Resource":["acs:oss:*:*:examplebucket/*"],"Condition":{{"StringNotEquals":{{"acs:SourceVpc":["vpc-a"]}}}}}},
              {{"Effect":"Allow","Action":["oss:GetObject","oss:PutObject"],"Principal":["{OWNER}"],
                "Resource":["acs:oss:*:*:examplebucket/*"],"Condition":{{"StringEquals":{{"acs:SourceVpc":["vpc-a"]}}}}}}]}}"#
        );
        validate(&bucket_policy).unwrap();
        let example = bucket("examplebucket", Some(&bucket_policy));
        let other_bucket = bucket("otherbucket", None);
        let obj = |b: &str| format!("acs:oss:cn-hangzhou:{OWNER}:{b}/k");
        let from_a = through("vpc-a", &endpoint);
        let from_b = through("vpc-b", &endpoint);
        let internet = RequestOrigin::direct("198.51.100.10".parse().unwrap());
        let (owner, other) = (key(OWNER), key(OTHER));
        let ok = |k: &AccessKey, o: &RequestOrigin, b: &BucketMeta| {
            authorize(Some(k), o, "oss:GetObject", Some(b), &obj(&b.name))
        };
        assert!(ok(&owner, &from_a, &example).is_ok());
        assert_eq!(
            ok(&other, &from_a, &example).unwrap_err().code,
            "AccessDenied"
        );
        assert_eq!(
            ok(&owner, &from_b, &example).unwrap_err().code,
            "AccessDenied"
        );
        assert_eq!(
            ok(&owner, &from_a, &other_bucket).unwrap_err().code,
            "AccessDenied"
        );
        assert_eq!(
            ok(&owner, &internet, &example).unwrap_err().code,
            "AccessDenied"
        );
    }

    /// A request through an endpoint carries its endpoint id
    /// (`acs:SourceVpce`) and the instance's address (`acs:SourceIp`) to
    /// the bucket policy; a direct one carries its peer and no endpoint.
    #[test]
    fn endpoint_id_and_instance_address_reach_the_bucket_policy() {
        let policy = r#"{"Version":"1","Statement":[
          {"Effect":"Allow","Action":["oss:GetObject"],"Principal":["*"],"Resource":["acs:oss:*:*:b/*"],
           "Condition":{"StringEquals":{"acs:SourceVpce":["vpce-1"],"acs:SourceVpc":["vpc-a"]},
                        "IpAddress":{"acs:SourceIp":["10.0.1.0/24"]}}}]}"#;
        validate(policy).unwrap();
        let b = bucket("b", Some(policy));
        let res = format!("acs:oss:cn-hangzhou:{OWNER}:b/k");
        let allow_all = crate::access_policy::ALLOW_ALL_DOCUMENT;
        let get = |o: &RequestOrigin| authorize(Some(&key(OTHER)), o, "oss:GetObject", Some(&b), &res);
        assert!(get(&through("vpc-a", allow_all)).is_ok());
        let other_endpoint = RequestOrigin::through_endpoint(
            "10.0.1.10".parse().unwrap(),
            "vpc-a".into(),
            "vpce-2".into(),
            Some(allow_all),
        );
        assert_eq!(get(&other_endpoint).unwrap_err().code, "AccessDenied");
        let other_address = RequestOrigin::through_endpoint(
            "10.0.2.10".parse().unwrap(),
            "vpc-a".into(),
            "vpce-1".into(),
            Some(allow_all),
        );
        assert_eq!(get(&other_address).unwrap_err().code, "AccessDenied");
        let direct = RequestOrigin::direct("10.0.1.10".parse().unwrap());
        assert_eq!(get(&direct).unwrap_err().code, "AccessDenied");
    }

    #[test]
    fn owner_acl_and_bucket_policy_grants() {
        let direct = RequestOrigin::direct("127.0.0.1".parse().unwrap());
        let mut b = bucket("b", None);
        let res = format!("acs:oss:cn-hangzhou:{OWNER}:b/k");
        assert!(authorize(Some(&key(OWNER)), &direct, "oss:PutObject", Some(&b), &res).is_ok());
        assert!(authorize(Some(&key(OTHER)), &direct, "oss:GetObject", Some(&b), &res).is_err());
        assert!(authorize(None, &direct, "oss:GetObject", Some(&b), &res).is_err());
        b.acl = "public-read".into();
        assert!(authorize(None, &direct, "oss:GetObject", Some(&b), &res).is_ok());
        assert!(authorize(None, &direct, "oss:PutObject", Some(&b), &res).is_err());
        b.acl = "private".into();
        b.policy = Some(format!(
            r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"oss:GetObject","Principal":["{OTHER}"],"Resource":"acs:oss:*:*:b/*"}}]}}"#
        ));
        assert!(authorize(Some(&key(OTHER)), &direct, "oss:GetObject", Some(&b), &res).is_ok());
        assert!(authorize(Some(&key(OTHER)), &direct, "oss:PutObject", Some(&b), &res).is_err());
        assert_eq!(validate("{").unwrap_err().code, "InvalidPolicyDocument");
        // Through an endpoint with no policy set: allowed as the bucket says.
        let open = RequestOrigin::through_endpoint(
            "10.0.1.10".parse().unwrap(),
            "vpc-a".into(),
            "vpce-1".into(),
            None,
        );
        assert!(authorize(Some(&key(OTHER)), &open, "oss:GetObject", Some(&b), &res).is_ok());
        // A translated source no endpoint accounts for: refused, even the owner.
        let unknown = RequestOrigin::unattributed_endpoint("100.127.0.9".parse().unwrap());
        let e =
            authorize(Some(&key(OWNER)), &unknown, "oss:GetObject", Some(&b), &res).unwrap_err();
        assert_eq!(e.code, "AccessDenied");
    }
}
