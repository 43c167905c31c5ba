//! The PrivateLink API (2020-04-15) through the daemon with the official
//! PrivateLink SDK (alibabacloud_privatelink20200415, unmodified;
//! tests/sdk/privatelink.py), three accounts: a provider's NLB in two
//! zones behind an endpoint service that does not auto-accept and
//! whitelists the consumer; the third account neither sees nor connects;
//! the consumer's endpoint waits, is accepted, cut by zone and whole;
//! tags filter endpoints; refusals by code and status; deleting the
//! service leaves the endpoint ServiceDeleted. Every answer is checked
//! against the SDK's response models (conformance.py).
use vpc_tests::*;

/// The third account's key (not on the service's whitelist), given to this
/// test's daemon besides the two every test daemon accepts.
const STRANGER_KEY_ID: &str = "LTAIplstranger";
const STRANGER_KEY_SECRET: &str = "stranger-secret-2468013579";
const STRANGER_ACCOUNT_ID: &str = "2468013579246801";

#[test]
fn privatelink_official_sdk_walkthrough_across_three_accounts() {
    let mut d = Daemon::new(true);
    d.args.extend([
        "--access-key".to_string(),
        format!("{STRANGER_KEY_ID}:{STRANGER_KEY_SECRET}:{STRANGER_ACCOUNT_ID}"),
    ]);
    d.spawn(&[]);
    let out = d.sdk_script_with(
        "privatelink.py",
        &["walkthrough"],
        &[
            ("PL_CONSUMER_KEY_ID", OTHER_KEY_ID),
            ("PL_CONSUMER_KEY_SECRET", OTHER_KEY_SECRET),
            ("PL_CONSUMER_ACCOUNT", OTHER_ACCOUNT_ID),
            ("PL_STRANGER_KEY_ID", STRANGER_KEY_ID),
            ("PL_STRANGER_KEY_SECRET", STRANGER_KEY_SECRET),
            ("PL_STRANGER_ACCOUNT", STRANGER_ACCOUNT_ID),
        ],
    );
    assert_eq!(out["ok"], true, "{out}");
    assert!(out["refusals"].as_array().unwrap().len() >= 15, "{out}");
    // Everything the walkthrough made is gone from the daemon's model.
    let v = d.call("DescribeVpcs", &[("RegionId", "cn-hangzhou")]);
    assert_eq!(v["TotalCount"], 0, "{v}");
    // `vpc <Action> --help` lists the typed action's parameters.
    let help = d.cli(&["CreateVpcEndpoint", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    for p in [
        "ServiceId",
        "ServiceName",
        "SecurityGroupId",
        "Zone",
        "PolicyDocument",
    ] {
        assert!(
            text.contains(p),
            "vpc CreateVpcEndpoint --help lacks {p}:\n{text}"
        );
    }
}
