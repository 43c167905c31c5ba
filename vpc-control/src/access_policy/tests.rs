//! Tests of the policy language: seed 000's documents (POL-3), the order of
//! decisions (POL-2), one refusal per class of error, and a property test
//! against a plain reference evaluator.
use super::*;

/// Seed 000's endpoint policy: only account 1746xxxxxx, only examplebucket.
const POL3_ENDPOINT: &str = r#"{
  "Version": "1",
  "Statement":
    [
      {
        "Effect": "Allow",
        "Action": "oss:*",
        "Resource": ["acs:oss:*:*:examplebucket",
                     "acs:oss:*:*:examplebucket/*"],
        "Principal": ["1746xxxxxx"]
      }
    ]
}"#;

/// Seed 000's bucket policy (with the seed's tab characters): deny the
/// object actions from any VPC but vpc-bp******, allow 1746xxxxxx from it.
const POL3_BUCKET: &str = "{\n  \"Version\": \"1\",\n  \"Statement\":\n    [\n      {\n        \"Effect\": \"Deny\",\n        \"Action\": [\"oss:ListObjects\",\"oss:GetObject\",\"oss:PutObject\",\"oss:DeleteObject\"],\n        \"Resource\": [\"acs:oss:*:*:examplebucket\",\n                     \"acs:oss:*:*:examplebucket/*\"],\n        \"Principal\": [\"*\"],\n\t\"Condition\": {\n\t  \"StringNotEquals\": {\n            \"acs:SourceVpc\": [\n\t      \"vpc-bp******\"\n\t    ]\n\t  }\n\t}\n      },{\n        \"Effect\": \"Allow\",\n        \"Action\": [\"oss:*\"],\n        \"Resource\": [\"acs:oss:*:*:examplebucket\",\n                     \"acs:oss:*:*:examplebucket/*\"],\n        \"Principal\": [\"1746xxxxxx\"],\n\t\"Condition\": {\n\t  \"StringEquals\": {\n            \"acs:SourceVpc\": [\n\t      \"vpc-bp******\"\n\t    ]\n\t  }\n\t}\n      }\n    ]\n}";

const ACCOUNT: &str = "1746xxxxxx";
const OTHER_ACCOUNT: &str = "1999xxxxxx";
const VPC: &str = "vpc-bp******";
const OTHER_VPC: &str = "vpc-other";

fn ctx(vpc: Option<&str>) -> Context {
    let mut c = Context::default();
    if let Some(v) = vpc {
        c.set(keys::SOURCE_VPC, v);
        c.set(keys::SOURCE_IP, "192.168.0.10");
        c.set(keys::SOURCE_VPCE, "vpce-example");
    } else {
        c.set(keys::SOURCE_IP, "203.0.113.7");
    }
    c
}

/// Both POL-3 policies for one request: through the endpoint (a VPC) both
/// must allow; from the internet only the bucket policy applies.
fn pol3(account: Option<&str>, vpc: Option<&str>, bucket: &str, action: &str) -> bool {
    let endpoint = Policy::parse_for(POL3_ENDPOINT, PolicyUse::Endpoint).unwrap();
    let bucket_policy = Policy::parse_for(POL3_BUCKET, PolicyUse::Bucket).unwrap();
    let context = ctx(vpc);
    let resource = format!("acs:oss:cn-hangzhou:1234567890:{bucket}/a.txt");
    let request = Request {
        account_id: account,
        action,
        resource: &resource,
        context: &context,
    };
    let through_endpoint = vpc.is_none() || endpoint.evaluate(&request) == Decision::Allow;
    through_endpoint && bucket_policy.evaluate(&request) == Decision::Allow
}

#[test]
fn pol_3_seed_documents_parse_and_keep_their_text() {
    let e = Policy::parse_for(POL3_ENDPOINT, PolicyUse::Endpoint).unwrap();
    assert_eq!(e.document(), POL3_ENDPOINT);
    let b = Policy::parse_for(POL3_BUCKET, PolicyUse::Bucket).unwrap();
    assert_eq!(b.document(), POL3_BUCKET);
    assert_eq!(b.statements.len(), 2);
}

#[test]
fn pol_3_authorised_account_vpc_and_bucket_is_allowed() {
    for action in [
        "oss:GetObject",
        "oss:PutObject",
        "oss:ListObjects",
        "oss:DeleteObject",
    ] {
        assert!(
            pol3(Some(ACCOUNT), Some(VPC), "examplebucket", action),
            "{action}"
        );
    }
}

#[test]
fn pol_3_other_account_is_denied() {
    assert!(!pol3(
        Some(OTHER_ACCOUNT),
        Some(VPC),
        "examplebucket",
        "oss:GetObject"
    ));
    assert!(!pol3(None, Some(VPC), "examplebucket", "oss:GetObject"));
}

#[test]
fn pol_3_other_vpc_is_denied() {
    assert!(!pol3(
        Some(ACCOUNT),
        Some(OTHER_VPC),
        "examplebucket",
        "oss:GetObject"
    ));
    // The bucket policy alone denies explicitly (not merely no Allow).
    let b = Policy::parse_for(POL3_BUCKET, PolicyUse::Bucket).unwrap();
    let context = ctx(Some(OTHER_VPC));
    let r = Request {
        account_id: Some(ACCOUNT),
        action: "oss:GetObject",
        resource: "acs:oss:cn-hangzhou:1234567890:examplebucket/a.txt",
        context: &context,
    };
    assert_eq!(b.evaluate(&r), Decision::ExplicitDeny);
}

#[test]
fn pol_3_other_bucket_is_denied() {
    assert!(!pol3(
        Some(ACCOUNT),
        Some(VPC),
        "otherbucket",
        "oss:GetObject"
    ));
    // The endpoint policy alone: no statement for the other bucket.
    let e = Policy::parse_for(POL3_ENDPOINT, PolicyUse::Endpoint).unwrap();
    let context = ctx(Some(VPC));
    let r = Request {
        account_id: Some(ACCOUNT),
        action: "oss:GetObject",
        resource: "acs:oss:cn-hangzhou:1234567890:otherbucket/a.txt",
        context: &context,
    };
    assert_eq!(e.evaluate(&r), Decision::ImplicitDeny);
}

#[test]
fn pol_3_same_account_over_the_internet_is_denied() {
    assert!(!pol3(Some(ACCOUNT), None, "examplebucket", "oss:GetObject"));
    let b = Policy::parse_for(POL3_BUCKET, PolicyUse::Bucket).unwrap();
    let context = ctx(None);
    let r = Request {
        account_id: Some(ACCOUNT),
        action: "oss:GetObject",
        resource: "acs:oss:cn-hangzhou:1234567890:examplebucket/a.txt",
        context: &context,
    };
    // No acs:SourceVpc: StringNotEquals holds, so the Deny applies.
    assert_eq!(b.evaluate(&r), Decision::ExplicitDeny);
}

#[test]
fn pol_3_every_unauthorised_combination_is_denied() {
    let accounts = [Some(ACCOUNT), Some(OTHER_ACCOUNT), None];
    let vpcs = [Some(VPC), Some(OTHER_VPC), None];
    let buckets = ["examplebucket", "otherbucket"];
    for account in accounts {
        for vpc in vpcs {
            for bucket in buckets {
                let authorised =
                    account == Some(ACCOUNT) && vpc == Some(VPC) && bucket == "examplebucket";
                assert_eq!(
                    pol3(account, vpc, bucket, "oss:GetObject"),
                    authorised,
                    "{account:?} {vpc:?} {bucket}"
                );
            }
        }
    }
}
