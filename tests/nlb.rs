//! The NLB API (2022-04-30) through the daemon with the official NLB SDK
//! (alibabacloud_nlb20220430, unmodified; tests/sdk/nlb.py): load balancers
//! in two zones, a server group with servers, a listener started and
//! stopped, list and get answers, jobs, tags and refusals by code. Every
//! answer is checked against the SDK's response models (conformance.py).
use vpc_tests::*;

#[test]
fn nlb_official_sdk_drives_load_balancers_server_groups_listeners_jobs_and_refusals() {
    let d = Daemon::start();
    let out = d.sdk_script("nlb.py", &["nlb"]);
    assert_eq!(out["ok"], true, "{out}");
    assert!(out["jobs"].as_u64().unwrap() >= 12, "{out}");
    assert!(out["refusals"].as_array().unwrap().len() >= 15, "{out}");
    // The internal load balancer is in the daemon's stored model with its
    // zones, as the datapath reads it.
    let lb = out["load_balancer"].as_str().unwrap();
    let v = d.call("GetLoadBalancerAttribute", &[("LoadBalancerId", lb)]);
    assert_eq!(v["ZoneMappings"].as_array().unwrap().len(), 2, "{v}");
    // The NLB API's TagResources over the socket, by its version.
    d.cli_ok(&[
        "TagResources",
        "--Version",
        "2022-04-30",
        "--ResourceType",
        "loadbalancer",
        "--ResourceId.1",
        lb,
        "--Tag.1.Key",
        "tier",
        "--Tag.1.Value",
        "web",
    ]);
    let v = d.call("GetLoadBalancerAttribute", &[("LoadBalancerId", lb)]);
    assert!(
        v["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["TagKey"] == "tier"),
        "{v}"
    );
    // `vpc <Action> --help` lists the typed action's parameters.
    let help = d.cli(&["CreateLoadBalancer", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    for p in [
        "AddressType",
        "VpcId",
        "ZoneMappings",
        "DeletionProtectionConfig",
    ] {
        assert!(
            text.contains(p),
            "vpc CreateLoadBalancer --help lacks {p}:\n{text}"
        );
    }
}
