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

// ----- POL-2: the order of decisions -------------------------------------

fn request<'a>(
    account: Option<&'a str>,
    action: &'a str,
    resource: &'a str,
    context: &'a Context,
) -> Request<'a> {
    Request {
        account_id: account,
        action,
        resource,
        context,
    }
}

fn doc(statements: &str) -> String {
    format!(r#"{{"Version":"1","Statement":[{statements}]}}"#)
}

const OBJ: &str = "acs:oss:cn-hangzhou:1234:b/a.txt";

#[test]
fn pol_2_explicit_deny_beats_allow() {
    let allow = r#"{"Effect":"Allow","Action":"oss:*","Resource":"*","Principal":"*"}"#;
    let deny = r#"{"Effect":"Deny","Action":"oss:GetObject","Resource":"acs:oss:*:*:b/*","Principal":["111"]}"#;
    let ctx = Context::default();
    // In either order, for the one account the Deny names.
    for statements in [format!("{allow},{deny}"), format!("{deny},{allow}")] {
        let p = Policy::parse(&doc(&statements)).unwrap();
        assert_eq!(
            p.evaluate(&request(Some("111"), "oss:GetObject", OBJ, &ctx)),
            Decision::ExplicitDeny
        );
        // Other accounts and other actions are still allowed.
        assert_eq!(
            p.evaluate(&request(Some("222"), "oss:GetObject", OBJ, &ctx)),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&request(Some("111"), "oss:PutObject", OBJ, &ctx)),
            Decision::Allow
        );
    }
}

#[test]
fn pol_2_no_matching_allow_is_an_implicit_deny() {
    let p = Policy::parse(&doc(
        r#"{"Effect":"Allow","Action":"oss:GetObject","Resource":"acs:oss:*:*:b/*","Principal":["111"]}"#,
    ))
    .unwrap();
    let ctx = Context::default();
    assert_eq!(
        p.evaluate(&request(Some("111"), "oss:GetObject", OBJ, &ctx)),
        Decision::Allow
    );
    for (account, action, resource) in [
        (Some("222"), "oss:GetObject", OBJ),
        (None, "oss:GetObject", OBJ),
        (Some("111"), "oss:PutObject", OBJ),
        (
            Some("111"),
            "oss:GetObject",
            "acs:oss:cn-hangzhou:1234:c/a.txt",
        ),
    ] {
        assert_eq!(
            p.evaluate(&request(account, action, resource, &ctx)),
            Decision::ImplicitDeny,
            "{account:?} {action} {resource}"
        );
    }
}

#[test]
fn pol_2_default_policy_allows_everything_to_everyone() {
    let p = Policy::allow_all();
    assert_eq!(p.document(), ALLOW_ALL_DOCUMENT);
    // Its document is itself a valid endpoint and bucket policy.
    Policy::parse_for(p.document(), PolicyUse::Endpoint).unwrap();
    Policy::parse_for(p.document(), PolicyUse::Bucket).unwrap();
    let mut ctx = Context::default();
    for account in [None, Some("111"), Some("1746xxxxxx")] {
        for action in ["oss:GetObject", "oss:PutBucketPolicy", "vpc:DeleteVpc"] {
            for resource in [OBJ, "acs:oss:*:*:other", "*"] {
                assert_eq!(
                    p.evaluate(&request(account, action, resource, &ctx)),
                    Decision::Allow
                );
                ctx.set(keys::SOURCE_VPC, "vpc-anything");
            }
        }
    }
}

// ----- matching rules ----------------------------------------------------

#[test]
fn actions_match_case_insensitively_with_wildcards() {
    let p = Policy::parse(&doc(
        r#"{"Effect":"Allow","Action":["OSS:get*","oss:?utObject"],"Resource":"*"}"#,
    ))
    .unwrap();
    let ctx = Context::default();
    let d = |a| p.evaluate(&request(None, a, OBJ, &ctx));
    assert_eq!(d("oss:GetObject"), Decision::Allow);
    assert_eq!(d("oss:getobjectacl"), Decision::Allow);
    assert_eq!(d("oss:PutObject"), Decision::Allow);
    assert_eq!(d("oss:DeleteObject"), Decision::ImplicitDeny);
    assert_eq!(d("ecs:GetObject"), Decision::ImplicitDeny);
}

#[test]
fn resources_match_case_sensitively_with_wildcards() {
    let p = Policy::parse(&doc(
        r#"{"Effect":"Allow","Action":"*","Resource":["acs:oss:*:*:b/dir/*","acs:oss:*:*:b/f?.txt"]}"#,
    ))
    .unwrap();
    let ctx = Context::default();
    let d = |r| p.evaluate(&request(None, "oss:GetObject", r, &ctx));
    assert_eq!(d("acs:oss:cn-hangzhou:1:b/dir/x/y"), Decision::Allow);
    assert_eq!(d("acs:oss:cn-hangzhou:1:b/f1.txt"), Decision::Allow);
    assert_eq!(d("acs:oss:cn-hangzhou:1:b/f12.txt"), Decision::ImplicitDeny);
    assert_eq!(d("acs:oss:cn-hangzhou:1:b/DIR/x"), Decision::ImplicitDeny);
    assert_eq!(d("acs:oss:cn-hangzhou:1:b"), Decision::ImplicitDeny);
}

#[test]
fn not_action_and_not_resource_cover_everything_else() {
    let p = Policy::parse(&doc(
        r#"{"Effect":"Allow","NotAction":"oss:Delete*","NotResource":"acs:oss:*:*:secret/*"}"#,
    ))
    .unwrap();
    let ctx = Context::default();
    let d = |a, r| p.evaluate(&request(None, a, r, &ctx));
    assert_eq!(d("oss:GetObject", OBJ), Decision::Allow);
    assert_eq!(d("oss:DeleteObject", OBJ), Decision::ImplicitDeny);
    assert_eq!(
        d("oss:GetObject", "acs:oss:r:1:secret/x"),
        Decision::ImplicitDeny
    );
}

#[test]
fn principal_forms() {
    let ctx = Context::default();
    let check = |principal: &str, account: Option<&str>| {
        let p = Policy::parse(&doc(&format!(
            r#"{{"Effect":"Allow","Action":"*","Resource":"*","Principal":{principal}}}"#
        )))
        .unwrap();
        p.evaluate(&request(account, "oss:GetObject", OBJ, &ctx)) == Decision::Allow
    };
    // "*", ["*"] and [] (OSS: same as ["*"]) are everyone, anonymous too.
    for anyone in [r#""*""#, r#"["*"]"#, "[]", r#"{"RAM":"*"}"#] {
        assert!(check(anyone, None), "{anyone}");
        assert!(check(anyone, Some("111")), "{anyone}");
    }
    for only_111 in [
        r#""111""#,
        r#"["222","111"]"#,
        r#"{"RAM":["acs:ram::111:root"]}"#,
        r#"{"RAM":"111"}"#,
    ] {
        assert!(check(only_111, Some("111")), "{only_111}");
        assert!(!check(only_111, Some("333")), "{only_111}");
        assert!(!check(only_111, None), "{only_111}");
    }
    // No Principal element (endpoint policies may omit it): anyone.
    let p = Policy::parse_for(
        &doc(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#),
        PolicyUse::Endpoint,
    )
    .unwrap();
    assert_eq!(
        p.evaluate(&request(None, "oss:GetObject", OBJ, &ctx)),
        Decision::Allow
    );
}

fn with_condition(condition: &str) -> Policy {
    Policy::parse(&doc(&format!(
        r#"{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{condition}}}"#
    )))
    .unwrap()
}

fn allowed(p: &Policy, pairs: &[(&str, &str)]) -> bool {
    let mut ctx = Context::default();
    for (k, v) in pairs {
        ctx.set(k, *v);
    }
    p.evaluate(&request(Some("111"), "oss:GetObject", OBJ, &ctx)) == Decision::Allow
}

#[test]
fn string_operators_and_absent_keys() {
    let vpc = keys::SOURCE_VPC;
    let eq = with_condition(r#"{"StringEquals":{"acs:SourceVpc":["vpc-a","vpc-b"]}}"#);
    assert!(allowed(&eq, &[(vpc, "vpc-a")]));
    assert!(allowed(&eq, &[(vpc, "vpc-b")]));
    assert!(!allowed(&eq, &[(vpc, "VPC-A")]));
    assert!(
        !allowed(&eq, &[]),
        "absent key: a positive operator is false"
    );
    let ne = with_condition(r#"{"StringNotEquals":{"acs:SourceVpc":["vpc-a","vpc-b"]}}"#);
    assert!(!allowed(&ne, &[(vpc, "vpc-a")]));
    assert!(allowed(&ne, &[(vpc, "vpc-c")]));
    assert!(allowed(&ne, &[]), "absent key: a negated operator is true");
    let ic = with_condition(r#"{"StringEqualsIgnoreCase":{"acs:SourceVpc":"vpc-a"}}"#);
    assert!(allowed(&ic, &[(vpc, "VPC-A")]));
    let nic = with_condition(r#"{"StringNotEqualsIgnoreCase":{"acs:SourceVpc":"vpc-a"}}"#);
    assert!(!allowed(&nic, &[(vpc, "VPC-A")]));
    assert!(allowed(&nic, &[]));
    let like = with_condition(r#"{"StringLike":{"acs:SourceVpc":"vpc-?x*"}}"#);
    assert!(allowed(&like, &[(vpc, "vpc-1x")]));
    assert!(allowed(&like, &[(vpc, "vpc-1xyz")]));
    assert!(!allowed(&like, &[(vpc, "vpc-x")]));
    assert!(!allowed(&like, &[]));
    let not_like = with_condition(r#"{"StringNotLike":{"acs:SourceVpc":"vpc-*"}}"#);
    assert!(!allowed(&not_like, &[(vpc, "vpc-1")]));
    assert!(allowed(&not_like, &[]), "from the internet: no VPC");
}

#[test]
fn ip_bool_numeric_and_date_operators() {
    let ip = keys::SOURCE_IP;
    let in_net = with_condition(
        r#"{"IpAddress":{"acs:SourceIp":["10.0.0.0/8","192.168.1.7","2001:db8::/32"]}}"#,
    );
    assert!(allowed(&in_net, &[(ip, "10.200.3.4")]));
    assert!(allowed(&in_net, &[(ip, "192.168.1.7")]));
    assert!(allowed(&in_net, &[(ip, "2001:db8::5")]));
    assert!(!allowed(&in_net, &[(ip, "192.168.1.8")]));
    assert!(!allowed(&in_net, &[]));
    let not_in = with_condition(r#"{"NotIpAddress":{"acs:SourceIp":"10.0.0.0/8"}}"#);
    assert!(!allowed(&not_in, &[(ip, "10.1.1.1")]));
    assert!(allowed(&not_in, &[(ip, "11.1.1.1")]));
    assert!(allowed(&not_in, &[]));
    let tls = with_condition(r#"{"Bool":{"acs:SecureTransport":true}}"#);
    assert!(allowed(&tls, &[(keys::SECURE_TRANSPORT, "true")]));
    assert!(allowed(&tls, &[(keys::SECURE_TRANSPORT, "TRUE")]));
    assert!(!allowed(&tls, &[(keys::SECURE_TRANSPORT, "false")]));
    assert!(!allowed(&tls, &[]));
    let num = with_condition(
        r#"{"NumericLessThan":{"oss:max-keys":"100"},"NumericGreaterThanEquals":{"oss:max-keys":10}}"#,
    );
    assert!(allowed(&num, &[("oss:max-keys", "10")]));
    assert!(allowed(&num, &[("oss:max-keys", "99")]));
    assert!(!allowed(&num, &[("oss:max-keys", "100")]));
    assert!(!allowed(&num, &[("oss:max-keys", "9")]));
    assert!(!allowed(&num, &[("oss:max-keys", "many")]));
    let before =
        with_condition(r#"{"DateLessThan":{"acs:CurrentTime":"2026-12-05T00:00:00+08:00"}}"#);
    let t = keys::CURRENT_TIME;
    assert!(allowed(&before, &[(t, "2026-12-04T15:59:59Z")]));
    assert!(!allowed(&before, &[(t, "2026-12-04T16:00:00Z")]));
    assert!(!allowed(&before, &[]));
}

#[test]
fn conditions_are_anded_and_values_ored() {
    let p = with_condition(
        r#"{"StringEquals":{"acs:SourceVpc":["vpc-a","vpc-b"],"acs:SourceVpce":"vpce-1"},
            "IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}"#,
    );
    let all = [
        (keys::SOURCE_VPC, "vpc-b"),
        (keys::SOURCE_VPCE, "vpce-1"),
        (keys::SOURCE_IP, "10.0.0.1"),
    ];
    assert!(allowed(&p, &all));
    for missing in 0..all.len() {
        let mut some = all.to_vec();
        some.remove(missing);
        assert!(!allowed(&p, &some), "without {}", all[missing].0);
    }
    let mut wrong = all;
    wrong[2] = (keys::SOURCE_IP, "11.0.0.1");
    assert!(!allowed(&p, &wrong));
}

#[test]
fn condition_key_names_are_case_insensitive() {
    let p = with_condition(r#"{"StringEquals":{"ACS:sourcevpc":"vpc-a"}}"#);
    assert!(allowed(&p, &[("acs:SourceVpc", "vpc-a")]));
    let mut ctx = Context::default();
    ctx.set("acs:SOURCEVPC", "vpc-a");
    assert_eq!(ctx.get(keys::SOURCE_VPC), Some("vpc-a"));
    ctx.remove("Acs:SourceVpc");
    assert_eq!(ctx.get(keys::SOURCE_VPC), None);
}

#[test]
fn bucket_policy_star_without_condition_does_not_bind_the_owner() {
    let p = Policy::parse_for(
        &doc(r#"{"Effect":"Deny","Action":"oss:*","Resource":"*","Principal":["*"]}"#),
        PolicyUse::Bucket,
    )
    .unwrap();
    let ctx = Context::default();
    let owner = request(Some("999"), "oss:GetObject", OBJ, &ctx);
    let other = request(Some("111"), "oss:GetObject", OBJ, &ctx);
    assert_eq!(
        p.evaluate_bucket_policy(&owner, "999"),
        Decision::ImplicitDeny
    );
    assert_eq!(
        p.evaluate_bucket_policy(&other, "999"),
        Decision::ExplicitDeny
    );
    // With a Condition the statement binds the owner too.
    let p = Policy::parse_for(
        &doc(
            r#"{"Effect":"Deny","Action":"oss:*","Resource":"*","Principal":["*"],
                "Condition":{"StringNotEquals":{"acs:SourceVpc":"vpc-a"}}}"#,
        ),
        PolicyUse::Bucket,
    )
    .unwrap();
    assert_eq!(
        p.evaluate_bucket_policy(&owner, "999"),
        Decision::ExplicitDeny
    );
}

#[test]
fn sid_is_accepted_as_a_label() {
    let p = Policy::parse(&doc(
        r#"{"Sid":"read","Effect":"Allow","Action":"*","Resource":"*"}"#,
    ))
    .unwrap();
    assert_eq!(p.statement_count(), 1);
    let e = Policy::parse(&doc(
        r#"{"Sid":1,"Effect":"Allow","Action":"*","Resource":"*"}"#,
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Statement[0].Sid: expected a string, found a number."
    );
}

#[test]
fn policies_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
    shareable::<Policy>();
    shareable::<PolicyError>();
    shareable::<Context>();
    let p = std::sync::Arc::new(Policy::allow_all());
    let q = p.clone();
    let ctx = Context::default();
    let decided = std::thread::spawn(move || {
        let ctx = Context::default();
        q.evaluate(&request(None, "oss:GetObject", OBJ, &ctx))
    })
    .join()
    .unwrap();
    assert_eq!(
        decided,
        p.evaluate(&request(None, "oss:GetObject", OBJ, &ctx))
    );
}

// ----- refusals: one test per class of error -----------------------------

fn refused(document: &str) -> PolicyError {
    Policy::parse(document).unwrap_err()
}

const OK_STATEMENT: &str = r#"{"Effect":"Allow","Action":"oss:*","Resource":"*"}"#;

#[test]
fn refuses_a_document_over_the_size_limit() {
    let padding = " ".repeat(BUCKET_POLICY_MAX_BYTES);
    let big = format!("{}{padding}", doc(OK_STATEMENT));
    let e = Policy::parse_for(&big, PolicyUse::Bucket).unwrap_err();
    assert!(matches!(
        e,
        PolicyError::TooLong {
            max: BUCKET_POLICY_MAX_BYTES,
            ..
        }
    ));
    assert_eq!(e.oss_ec(), "0030-00000001");
    // RAM counts characters: 6,144 pass, 6,145 do not.
    let base = doc(OK_STATEMENT);
    let fit = format!("{base}{}", " ".repeat(RAM_POLICY_MAX_CHARS - base.len()));
    Policy::parse_for(&fit, PolicyUse::Ram).unwrap();
    let e = Policy::parse_for(&format!("{fit} "), PolicyUse::Ram).unwrap_err();
    assert_eq!(
        e.to_string(),
        "The policy document is too long: 6145 characters, at most 6144 allowed."
    );
}

#[test]
fn refuses_what_is_not_json() {
    for bad in ["", "{", r#"{"Version":"1",}"#, "[1] x", "not json"] {
        assert!(matches!(refused(bad), PolicyError::Json(_)), "{bad:?}");
    }
    // A key twice: {"Effect":"Deny","Effect":"Allow"} must not mean Allow.
    let e = refused(&doc(
        r#"{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}"#,
    ));
    assert!(e.to_string().contains("duplicate key \"Effect\""), "{e}");
}

#[test]
fn refuses_wrong_json_types() {
    let e = refused(&format!(r#"{{"Version":"1","Statement":{OK_STATEMENT}}}"#));
    assert_eq!(
        e.to_string(),
        "Statement: expected a list of statements, found an object."
    );
    let e = refused(r#"["Version"]"#);
    assert!(matches!(e, PolicyError::WrongType { .. }), "{e}");
    let e = refused(&doc(r#"{"Effect":"Allow","Action":[1],"Resource":"*"}"#));
    assert_eq!(
        e.to_string(),
        "Statement[0].Action[0]: expected a string, found a number."
    );
    let e = refused(&doc(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":[]}"#,
    ));
    assert_eq!(
        e.to_string(),
        "Statement[0].Condition: expected an object, found a list."
    );
    let e = refused(&doc(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"acs:SourceVpc":{"a":1}}}}"#,
    ));
    assert!(matches!(e, PolicyError::WrongType { .. }), "{e}");
}

#[test]
fn refuses_unknown_elements() {
    let e = refused(r#"{"Version":"1","Id":"x","Statement":[]}"#);
    assert_eq!(
        e.to_string(),
        "The policy document: unknown element \"Id\"."
    );
    let e = refused(&doc(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","NotPrincipal":"111"}"#,
    ));
    assert_eq!(
        e.to_string(),
        "Statement[0]: unknown element \"NotPrincipal\"."
    );
    // Element names are case-sensitive.
    let e = refused(&doc(r#"{"effect":"Allow","Action":"*","Resource":"*"}"#));
    assert!(matches!(e, PolicyError::UnknownElement { .. }), "{e}");
    let e = refused(&doc(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","Principal":{"Service":"x"}}"#,
    ));
    assert!(matches!(e, PolicyError::UnknownElement { .. }), "{e}");
}

#[test]
fn refuses_missing_elements() {
    let e = refused(r#"{"Statement":[]}"#);
    assert_eq!(
        e.to_string(),
        "The policy document: the element \"Version\" is required."
    );
    let e = refused(r#"{"Version":"1"}"#);
    assert!(matches!(e, PolicyError::MissingElement { .. }), "{e}");
    for (statement, missing) in [
        (r#"{"Action":"*","Resource":"*"}"#, "Effect"),
        (r#"{"Effect":"Allow","Resource":"*"}"#, "Action"),
        (r#"{"Effect":"Allow","Action":"*"}"#, "Resource"),
    ] {
        let e = refused(&doc(statement));
        assert_eq!(
            e.to_string(),
            format!("Statement[0]: the element \"{missing}\" is required.")
        );
    }
    // A bucket policy names its Principal.
    let e = Policy::parse_for(&doc(OK_STATEMENT), PolicyUse::Bucket).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Statement[0]: the element \"Principal\" is required."
    );
}

#[test]
fn refuses_a_principal_in_a_ram_policy() {
    let e = Policy::parse_for(
        &doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}"#),
        PolicyUse::Ram,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Statement[0]: the element \"Principal\" is not allowed in a RAM policy."
    );
    Policy::parse_for(&doc(OK_STATEMENT), PolicyUse::Ram).unwrap();
}

#[test]
fn refuses_action_with_not_action() {
    let e = refused(&doc(
        r#"{"Effect":"Allow","Action":"*","NotAction":"oss:Delete*","Resource":"*"}"#,
    ));
    assert_eq!(
        e.to_string(),
        "Statement[0]: \"Action\" and \"NotAction\" cannot both be given."
    );
    let e = refused(&doc(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}"#,
    ));
    assert!(matches!(e, PolicyError::Conflict { .. }), "{e}");
}

#[test]
fn refuses_other_versions() {
    for (version, shown) in [(r#""2""#, r#""2""#), (r#""2012-10-17""#, r#""2012-10-17""#)] {
        let e = refused(&format!(
            r#"{{"Version":{version},"Statement":[{OK_STATEMENT}]}}"#
        ));
        assert_eq!(
            e.to_string(),
            format!("Version: unsupported version {shown}; the only version is \"1\".")
        );
        assert_eq!(e.oss_ec(), "0030-00000002");
    }
    let e = refused(&format!(r#"{{"Version":1,"Statement":[{OK_STATEMENT}]}}"#));
    assert!(matches!(e, PolicyError::WrongType { .. }), "{e}");
    assert_eq!(e.oss_ec(), "0030-00000005");
}

#[test]
fn refuses_bad_effects() {
    for effect in ["allow", "DENY", "Permit", ""] {
        let e = refused(&doc(&format!(
            r#"{{"Effect":"{effect}","Action":"*","Resource":"*"}}"#
        )));
        assert_eq!(
            e.to_string(),
            format!("Statement[0].Effect: invalid effect {effect:?}; use \"Allow\" or \"Deny\".")
        );
    }
}

#[test]
fn refuses_empty_lists() {
    let e = refused(r#"{"Version":"1","Statement":[]}"#);
    assert_eq!(e.to_string(), "Statement: must not be empty.");
    for (statement, place) in [
        (
            r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#,
            "Statement[0].Action",
        ),
        (
            r#"{"Effect":"Allow","Action":"*","Resource":[]}"#,
            "Statement[0].Resource",
        ),
        (
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{}}}"#,
            "Statement[0].Condition.StringEquals",
        ),
        (
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"acs:SourceVpc":[]}}}"#,
            "Statement[0].Condition.StringEquals.acs:SourceVpc",
        ),
    ] {
        assert_eq!(
            refused(&doc(statement)).to_string(),
            format!("{place}: must not be empty.")
        );
    }
}

#[test]
fn refuses_malformed_actions() {
    for action in [
        "GetObject",
        "oss:",
        ":GetObject",
        "oss:Get Object",
        "oss:a:b",
        "",
    ] {
        let e = refused(&doc(&format!(
            r#"{{"Effect":"Allow","Action":["oss:GetObject","{action}"],"Resource":"*"}}"#
        )));
        assert_eq!(
            e,
            PolicyError::BadAction {
                place: "Statement[0].Action[1]".into(),
                value: action.into()
            },
            "{action:?}"
        );
    }
}

#[test]
fn refuses_malformed_resources() {
    for resource in [
        "examplebucket",
        "arn:aws:s3:::b",
        "acs:oss:*:*",
        "acs::*:*:b",
        "acs:oss:*:*:b c",
        "",
    ] {
        let e = refused(&doc(&format!(
            r#"{{"Effect":"Allow","Action":"*","Resource":"{resource}"}}"#
        )));
        assert!(
            matches!(&e, PolicyError::BadResource { place, .. } if place == "Statement[0].Resource"),
            "{resource:?}: {e}"
        );
    }
}

#[test]
fn refuses_bad_principals() {
    for principal in [
        r#"["17*"]"#,
        r#"[""]"#,
        r#"{"RAM":["acs:ram::111:user/alice"]}"#,
        r#"["a b"]"#,
    ] {
        let e = refused(&doc(&format!(
            r#"{{"Effect":"Allow","Action":"*","Resource":"*","Principal":{principal}}}"#
        )));
        assert!(
            matches!(e, PolicyError::BadPrincipal { .. }),
            "{principal}: {e}"
        );
    }
}

#[test]
fn refuses_unknown_operators() {
    let e = refused(&doc(&format!(
        r#"{OK_STATEMENT},{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"StringEqual":{{"acs:SourceVpc":"vpc-a"}}}}}}"#
    )));
    assert_eq!(
        e.to_string(),
        "Statement[1].Condition: unknown operator \"StringEqual\"."
    );
    // Operator names are case-sensitive.
    let e = refused(&doc(
        r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"stringequals":{"acs:SourceVpc":"vpc-a"}}}"#,
    ));
    assert!(matches!(e, PolicyError::UnknownOperator { .. }), "{e}");
}

#[test]
fn refuses_malformed_condition_keys() {
    for key in ["SourceVpc", "acs:", ":SourceVpc", "acs:Source Vpc"] {
        let e = refused(&doc(&format!(
            r#"{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"StringEquals":{{"{key}":"x"}}}}}}"#
        )));
        assert!(
            matches!(e, PolicyError::BadConditionKey { .. }),
            "{key}: {e}"
        );
    }
}

#[test]
fn refuses_condition_values_the_operator_cannot_read() {
    for (operator, value, expected) in [
        (
            "IpAddress",
            r#""10.0.0.0/33""#,
            "an IP address or CIDR block",
        ),
        (
            "NotIpAddress",
            r#""300.1.1.1""#,
            "an IP address or CIDR block",
        ),
        ("IpAddress", r#""vpc-a""#, "an IP address or CIDR block"),
        ("Bool", r#""yes""#, "true or false"),
        ("NumericEquals", r#""ten""#, "a number"),
        (
            "DateLessThan",
            r#""tomorrow""#,
            "an ISO 8601 time with offset, such as 2026-12-04T21:00:00Z",
        ),
    ] {
        let e = refused(&doc(&format!(
            r#"{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"{operator}":{{"acs:SourceIp":["10.0.0.1",{value}]}}}}}}"#
        )));
        let PolicyError::BadConditionValue {
            place,
            expected: got,
            ..
        } = &e
        else {
            panic!("{operator} {value}: {e}");
        };
        if operator.contains("Ip") {
            assert_eq!(got, &expected);
        } else {
            // "10.0.0.1" is itself unreadable for these operators.
            assert!(!got.is_empty());
        }
        assert_eq!(
            place,
            &format!("Statement[0].Condition.{operator}.acs:SourceIp")
        );
    }
}

#[test]
fn refuses_an_oversized_bucket_statement() {
    let long = "a".repeat(BUCKET_STATEMENT_MAX_BYTES);
    let e = Policy::parse_for(
        &doc(&format!(
            r#"{{"Effect":"Allow","Action":"*","Resource":"acs:oss:*:*:{long}","Principal":"*"}}"#
        )),
        PolicyUse::Bucket,
    )
    .unwrap_err();
    assert!(matches!(e, PolicyError::StatementTooLong { .. }), "{e}");
    assert_eq!(e.oss_ec(), "0030-00000003");
}

#[test]
fn refuses_source_ip_without_source_vpc_in_a_bucket_policy() {
    let ip_only = doc(
        r#"{"Effect":"Allow","Action":"oss:GetObject","Resource":"*","Principal":"*",
            "Condition":{"IpAddress":{"acs:SourceIp":"192.168.1.0/24"}}}"#,
    );
    let e = Policy::parse_for(&ip_only, PolicyUse::Bucket).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Statement[0].Condition: a condition on acs:SourceIp needs a condition on acs:SourceVpc in the same statement."
    );
    assert_eq!(e.oss_ec(), "0030-00000008");
    // Endpoint policies have no such rule; with SourceVpc a bucket policy passes.
    Policy::parse_for(&ip_only, PolicyUse::Endpoint).unwrap();
    Policy::parse_for(
        &doc(
            r#"{"Effect":"Allow","Action":"oss:GetObject","Resource":"*","Principal":"*",
                "Condition":{"IpAddress":{"acs:SourceIp":"140.1.0.0/16"},"StringNotLike":{"acs:SourceVpc":"vpc-*"}}}"#,
        ),
        PolicyUse::Bucket,
    )
    .unwrap();
}

// ----- property test: the evaluator against a plain reference ------------

mod reference {
    //! Random documents over a small alphabet, written as JSON, parsed by
    //! [`Policy::parse`] and decided by [`Policy::evaluate`]; the same
    //! model decided by a deliberately naive evaluator written from the
    //! rules in the module documentation.
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::super::*;

    #[derive(Clone, Debug)]
    enum Principal {
        Absent,
        Star,
        EmptyList,
        Ids(Vec<&'static str>),
        RamRoots(Vec<&'static str>),
    }

    #[derive(Clone, Debug)]
    struct St {
        deny: bool,
        not_action: bool,
        actions: Vec<&'static str>,
        not_resource: bool,
        resources: Vec<&'static str>,
        principal: Principal,
        /// operator -> key -> values
        conditions: BTreeMap<&'static str, BTreeMap<&'static str, Vec<&'static str>>>,
    }

    const ACTIONS: &[&str] = &[
        "*",
        "oss:*",
        "oss:GetObject",
        "oss:PutObject",
        "oss:Get*",
        "OSS:getobject",
        "oss:?utObject",
        "oss:*Object",
    ];
    const RESOURCES: &[&str] = &[
        "*",
        "acs:oss:*:*:b1",
        "acs:oss:*:*:b1/*",
        "acs:oss:*:*:b2/a?",
        "acs:oss:*:*:b*",
        "acs:oss:*:1:B1/*",
    ];
    const ACCOUNTS: &[&str] = &["111", "222", "333"];
    const VPCS: &[&str] = &["vpc-a", "vpc-b", "VPC-A", "vpc-*", "vpc-?"];
    const IPS: &[&str] = &["10.0.0.0/8", "10.1.2.3", "192.168.0.0/16", "0.0.0.0/0"];
    const BOOLS: &[&str] = &["true", "false"];

    /// (operator, key, values it can take)
    const CONDITIONS: &[(&str, &str, &[&str])] = &[
        ("StringEquals", "acs:SourceVpc", VPCS),
        ("StringNotEquals", "acs:SourceVpc", VPCS),
        ("StringEqualsIgnoreCase", "acs:SourceVpc", VPCS),
        ("StringNotEqualsIgnoreCase", "acs:SourceVpc", VPCS),
        ("StringLike", "acs:SourceVpc", VPCS),
        ("StringNotLike", "acs:SourceVpc", VPCS),
        ("StringEquals", "acs:SourceVpce", &["vpce-1", "vpce-2"]),
        ("IpAddress", "acs:SourceIp", IPS),
        ("NotIpAddress", "acs:SourceIp", IPS),
        ("Bool", "acs:SecureTransport", BOOLS),
    ];

    fn pick<T: Clone + std::fmt::Debug + 'static>(
        items: &'static [T],
    ) -> impl Strategy<Value = T> + Clone {
        prop::sample::select(items)
    }

    fn principal() -> impl Strategy<Value = Principal> {
        prop_oneof![
            Just(Principal::Absent),
            Just(Principal::Star),
            Just(Principal::EmptyList),
            prop::collection::vec(pick(ACCOUNTS), 1..3).prop_map(Principal::Ids),
            prop::collection::vec(pick(ACCOUNTS), 1..3).prop_map(Principal::RamRoots),
        ]
    }

    fn conditions()
    -> impl Strategy<Value = BTreeMap<&'static str, BTreeMap<&'static str, Vec<&'static str>>>>
    {
        let one = (0..CONDITIONS.len()).prop_flat_map(|i| {
            let (op, key, values) = CONDITIONS[i];
            (
                Just(op),
                Just(key),
                prop::collection::vec(prop::sample::select(values), 1..3),
            )
        });
        prop::collection::vec(one, 0..3).prop_map(|list| {
            let mut out: BTreeMap<_, BTreeMap<_, _>> = BTreeMap::new();
            for (op, key, values) in list {
                out.entry(op).or_default().insert(key, values);
            }
            out
        })
    }

    fn statement() -> impl Strategy<Value = St> {
        (
            any::<bool>(),
            any::<bool>(),
            prop::collection::vec(pick(ACTIONS), 1..3),
            any::<bool>(),
            prop::collection::vec(pick(RESOURCES), 1..3),
            principal(),
            conditions(),
        )
            .prop_map(
                |(deny, not_action, actions, not_resource, resources, principal, conditions)| St {
                    deny,
                    not_action,
                    actions,
                    not_resource,
                    resources,
                    principal,
                    conditions,
                },
            )
    }

    /// One value or a list (a single value may be written either way).
    fn one_or_list(values: &[&str], as_list: bool) -> Value {
        if values.len() == 1 && !as_list {
            json!(values[0])
        } else {
            json!(values)
        }
    }

    fn to_json(statements: &[St], lists: bool) -> String {
        let sts: Vec<Value> = statements
            .iter()
            .map(|s| {
                let mut m = serde_json::Map::new();
                m.insert(
                    "Effect".into(),
                    json!(if s.deny { "Deny" } else { "Allow" }),
                );
                m.insert(
                    if s.not_action { "NotAction" } else { "Action" }.into(),
                    one_or_list(&s.actions, lists),
                );
                m.insert(
                    if s.not_resource {
                        "NotResource"
                    } else {
                        "Resource"
                    }
                    .into(),
                    one_or_list(&s.resources, lists),
                );
                match &s.principal {
                    Principal::Absent => {}
                    Principal::Star => {
                        m.insert("Principal".into(), one_or_list(&["*"], lists));
                    }
                    Principal::EmptyList => {
                        m.insert("Principal".into(), json!([]));
                    }
                    Principal::Ids(ids) => {
                        m.insert("Principal".into(), one_or_list(ids, lists));
                    }
                    Principal::RamRoots(ids) => {
                        let arns: Vec<String> =
                            ids.iter().map(|i| format!("acs:ram::{i}:root")).collect();
                        m.insert("Principal".into(), json!({ "RAM": arns }));
                    }
                }
                if !s.conditions.is_empty() {
                    let c: serde_json::Map<String, Value> = s
                        .conditions
                        .iter()
                        .map(|(op, keys)| {
                            let k: serde_json::Map<String, Value> = keys
                                .iter()
                                .map(|(key, values)| (key.to_string(), one_or_list(values, lists)))
                                .collect();
                            (op.to_string(), Value::Object(k))
                        })
                        .collect();
                    m.insert("Condition".into(), Value::Object(c));
                }
                Value::Object(m)
            })
            .collect();
        let v = json!({ "Version": "1", "Statement": sts });
        if lists {
            serde_json::to_string_pretty(&v).unwrap()
        } else {
            v.to_string()
        }
    }

    /// Naive glob: `*` any run, `?` one character.
    fn glob(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => glob(rest, t) || (!t.is_empty() && glob(p, &t[1..])),
            Some(('?', rest)) => !t.is_empty() && glob(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && glob(rest, &t[1..]),
        }
    }

    fn glob_str(p: &str, t: &str) -> bool {
        glob(
            &p.chars().collect::<Vec<_>>(),
            &t.chars().collect::<Vec<_>>(),
        )
    }

    /// IPv4 only (the alphabet has no IPv6): address and mask by hand.
    fn in_v4(net: &str, ip: &str) -> bool {
        let to_u32 = |s: &str| -> u32 {
            s.split('.')
                .map(|o| o.parse::<u32>().unwrap())
                .fold(0, |a, o| (a << 8) | o)
        };
        let (addr, len) = match net.split_once('/') {
            Some((a, l)) => (a, l.parse::<u32>().unwrap()),
            None => (net, 32),
        };
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        (to_u32(addr) & mask) == (to_u32(ip) & mask)
    }

    #[derive(Clone, Debug)]
    struct Req {
        account: Option<&'static str>,
        action: &'static str,
        resource: &'static str,
        vpc: Option<&'static str>,
        vpce: Option<&'static str>,
        ip: Option<&'static str>,
        tls: Option<&'static str>,
    }

    fn req() -> impl Strategy<Value = Req> {
        (
            prop::option::of(pick(ACCOUNTS)),
            pick(&[
                "oss:GetObject",
                "oss:PutObject",
                "oss:DeleteObject",
                "oss:getobject",
                "oss:ListObjects",
            ]),
            pick(&[
                "acs:oss:r:1:b1",
                "acs:oss:r:1:b1/a1",
                "acs:oss:r:1:b2/ab",
                "acs:oss:r:1:b3/x",
                "acs:oss:r:1:B1/x",
            ]),
            prop::option::of(pick(&["vpc-a", "vpc-b", "VPC-A", "vpc-1", "vpc-*"])),
            prop::option::of(pick(&["vpce-1", "vpce-2"])),
            prop::option::of(pick(&["10.1.2.3", "10.9.9.9", "192.168.5.5", "8.8.8.8"])),
            prop::option::of(pick(&["true", "false"])),
        )
            .prop_map(|(account, action, resource, vpc, vpce, ip, tls)| Req {
                account,
                action,
                resource,
                vpc,
                vpce,
                ip,
                tls,
            })
    }

    fn context_value(r: &Req, key: &str) -> Option<&'static str> {
        match key {
            "acs:SourceVpc" => r.vpc,
            "acs:SourceVpce" => r.vpce,
            "acs:SourceIp" => r.ip,
            "acs:SecureTransport" => r.tls,
            _ => None,
        }
    }

    /// One condition, each operator spelled out.
    fn condition_holds(op: &str, value: Option<&str>, values: &[&str]) -> bool {
        let Some(v) = value else {
            // Absent key: only the negated operators hold.
            return matches!(
                op,
                "StringNotEquals" | "StringNotEqualsIgnoreCase" | "StringNotLike" | "NotIpAddress"
            );
        };
        match op {
            "StringEquals" => values.contains(&v),
            "StringNotEquals" => !values.contains(&v),
            "StringEqualsIgnoreCase" => values.iter().any(|p| p.to_lowercase() == v.to_lowercase()),
            "StringNotEqualsIgnoreCase" => {
                values.iter().all(|p| p.to_lowercase() != v.to_lowercase())
            }
            "StringLike" => values.iter().any(|p| glob_str(p, v)),
            "StringNotLike" => values.iter().all(|p| !glob_str(p, v)),
            "IpAddress" => values.iter().any(|n| in_v4(n, v)),
            "NotIpAddress" => values.iter().all(|n| !in_v4(n, v)),
            "Bool" => values.iter().any(|b| b.eq_ignore_ascii_case(v)),
            other => panic!("operator {other} not in the alphabet"),
        }
    }

    fn applies(s: &St, r: &Req) -> bool {
        let principal = match &s.principal {
            Principal::Absent | Principal::Star | Principal::EmptyList => true,
            Principal::Ids(ids) | Principal::RamRoots(ids) => {
                r.account.is_some_and(|a| ids.contains(&a))
            }
        };
        let action_listed = s
            .actions
            .iter()
            .any(|p| glob_str(&p.to_lowercase(), &r.action.to_lowercase()));
        let resource_listed = s.resources.iter().any(|p| glob_str(p, r.resource));
        let conditions = s.conditions.iter().all(|(op, keys)| {
            keys.iter()
                .all(|(key, values)| condition_holds(op, context_value(r, key), values))
        });
        principal
            && (action_listed != s.not_action)
            && (resource_listed != s.not_resource)
            && conditions
    }

    fn reference(statements: &[St], r: &Req) -> Decision {
        if statements.iter().any(|s| s.deny && applies(s, r)) {
            Decision::ExplicitDeny
        } else if statements.iter().any(|s| !s.deny && applies(s, r)) {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }

    proptest! {
        // Cases: PROPTEST_CASES (default 256), each with 16 requests.
        #[test]
        fn pol_2_evaluation_matches_a_reference_on_random_policies(
            statements in prop::collection::vec(statement(), 1..5),
            lists in any::<bool>(),
            requests in prop::collection::vec(req(), 16),
        ) {
            let text = to_json(&statements, lists);
            let policy = Policy::parse(&text)
                .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(policy.document(), text.as_str());
            for r in &requests {
                let mut ctx = Context::default();
                for key in ["acs:SourceVpc", "acs:SourceVpce", "acs:SourceIp", "acs:SecureTransport"] {
                    if let Some(v) = context_value(r, key) {
                        ctx.set(key, v);
                    }
                }
                let request = Request {
                    account_id: r.account,
                    action: r.action,
                    resource: r.resource,
                    context: &ctx,
                };
                prop_assert_eq!(
                    policy.evaluate(&request),
                    reference(&statements, r),
                    "request {:?}\npolicy {}", r, text
                );
            }
        }

        /// Arbitrary JSON-ish text: parse answers Ok or Err, never panics.
        #[test]
        fn parse_never_panics_on_arbitrary_text(text in "[{}\\[\\]\":,A-Za-z0-9*?/ .-]{0,200}") {
            let _ = Policy::parse(&text);
        }

        /// Mutations of a valid document (one character changed, dropped or
        /// doubled): refused with an error or parsed, never a panic.
        #[test]
        fn parse_never_panics_on_mutated_documents(
            statements in prop::collection::vec(statement(), 1..3),
            at in any::<prop::sample::Index>(),
            with in prop::char::any(),
            how in 0..3u8,
        ) {
            let text = to_json(&statements, false);
            let mut chars: Vec<char> = text.chars().collect();
            let i = at.index(chars.len());
            match how {
                0 => chars[i] = with,
                1 => { chars.remove(i); }
                _ => chars.insert(i, chars[i]),
            }
            let mutated: String = chars.into_iter().collect();
            for usage in [PolicyUse::Any, PolicyUse::Bucket, PolicyUse::Endpoint, PolicyUse::Ram] {
                let _ = Policy::parse_for(&mutated, usage);
            }
        }
    }
}
