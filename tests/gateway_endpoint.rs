//! Prefix lists and gateway endpoints through the daemon's API (RT-1,
//! GWE-1..GWE-4): the official VPC SDK drives every action and its
//! refusals (tests/sdk/gateway_endpoint.py); the kernel's route maps follow
//! the endpoints' routes and the lists' changes; a ping through a route
//! whose list changes.
//!
//! The datapath of NextHopKind::GatewayEndpoint (the services namespace,
//! the source translation) is not tested here: these tests stop at the
//! routes the kernel holds for it.
use std::{net::Ipv4Addr, path::PathBuf, process::Command};

use serde_json::Value;
use vpc_control::{compile::route_key, datapath};
use vpc_tests::*;

const R: (&str, &str) = ("RegionId", "cn-hangzhou");

fn s(v: &Value, path: &[&str]) -> String {
    let mut at = v;
    for p in path {
        at = &at[*p];
    }
    at.as_str()
        .unwrap_or_else(|| panic!("no {path:?} in {v}"))
        .to_string()
}

/// Runs tests/sdk/gateway_endpoint.py `cmd`; its JSON line.
fn sdk_script(d: &Daemon, cmd: &str) -> Value {
    d.sdk_script("gateway_endpoint.py", &[cmd])
}

#[test]
fn rt_1_official_sdk_drives_prefix_lists_and_their_refusals() {
    let d = Daemon::start();
    let out = sdk_script(&d, "prefix-lists");
    assert_eq!(out["ok"], true, "{out}");
    assert!(out["refusals"].as_array().unwrap().len() >= 12, "{out}");
}

#[test]
fn gwe_2_gwe_3_gwe_4_official_sdk_drives_gateway_endpoints_and_their_refusals() {
    let d = Daemon::start();
    let out = sdk_script(&d, "gateway-endpoints");
    assert_eq!(out["ok"], true, "{out}");
    assert!(out["refusals"].as_array().unwrap().len() >= 12, "{out}");
}

/// The kernel's routes and ENIs.
fn maps(d: &Daemon) -> vpc_control::compile::MapEntries {
    datapath::Datapath::load(Some(&d.namespace))
        .expect("loading the pinned maps")
        .read()
        .expect("reading the maps")
}

/// The route table id (in the datapath) of the ENI of the instance at `ip`.
fn table_of(m: &vpc_control::compile::MapEntries, ip: Ipv4Addr) -> u32 {
    m.eni_by_port
        .values()
        .find(|e| e.ip == ip.octets())
        .unwrap_or_else(|| panic!("no ENI of {ip}"))
        .route_table_id
}

fn run_instance(d: &Daemon, vsw: &str, ip: &str) -> String {
    let v = d.call(
        "RunInstances",
        &[
            R,
            ("VSwitchId", vsw),
            ("PrivateIpAddress", ip),
            ("ImageId", "img"),
            ("InstanceType", "t"),
        ],
    );
    v["InstanceIdSets"]["InstanceIdSet"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string()
}

fn in_ns(ns: &str, args: &[&str]) {
    let o = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("running ip netns exec");
    assert!(
        o.status.success(),
        "{args:?} in {ns}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn rt_1_a_ping_follows_a_route_whose_prefix_list_changes() {
    let d = Daemon::start();
    let vpc = d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]);
    let vpc = s(&vpc, &["VpcId"]);
    let vsw = |cidr: &str| {
        s(
            &d.call(
                "CreateVSwitch",
                &[
                    R,
                    ("VpcId", &vpc),
                    ("ZoneId", "cn-hangzhou-a"),
                    ("CidrBlock", cidr),
                ],
            ),
            &["VSwitchId"],
        )
    };
    let (vsw_c, vsw_a) = (vsw("10.0.1.0/24"), vsw("10.0.2.0/24"));
    let client = run_instance(&d, &vsw_c, "10.0.1.10");
    let appliance = run_instance(&d, &vsw_a, "10.0.2.10");
    // The appliance answers for the list's first addresses.
    let eni = d.call(
        "DescribeNetworkInterfaces",
        &[R, ("InstanceId", &appliance)],
    );
    let eni = s(
        &eni["NetworkInterfaceSets"]["NetworkInterfaceSet"][0],
        &["NetworkInterfaceId"],
    );
    d.call(
        "ModifyNetworkInterfaceAttribute",
        &[
            R,
            ("NetworkInterfaceId", &eni),
            ("SourceDestCheck", "False"),
        ],
    );
    in_ns(&appliance, &["ip", "link", "set", "lo", "up"]);
    for a in ["172.16.4.1/32", "172.16.5.1/32"] {
        in_ns(&appliance, &["ip", "addr", "add", a, "dev", "lo"]);
    }
    let table = s(
        &d.call("CreateRouteTable", &[R, ("VpcId", &vpc)]),
        &["RouteTableId"],
    );
    d.call(
        "AssociateRouteTable",
        &[R, ("RouteTableId", &table), ("VSwitchId", &vsw_c)],
    );
    let pl = s(
        &d.call(
            "CreateVpcPrefixList",
            &[
                R,
                ("MaxEntries", "5"),
                ("PrefixListEntries.1.Cidr", "172.16.4.0/24"),
            ],
        ),
        &["PrefixListId"],
    );
    d.call(
        "CreateRouteEntry",
        &[
            R,
            ("RouteTableId", &table),
            ("DestinationCidrBlock", &pl),
            ("NextHopType", "Instance"),
            ("NextHopId", &appliance),
        ],
    );
    let (old, new) = (Ipv4Addr::new(172, 16, 4, 1), Ipv4Addr::new(172, 16, 5, 1));
    // Both ends up (and their neighbours resolved) before the list is tried.
    assert!(
        ping(&client, Ipv4Addr::new(10, 0, 2, 10), 3),
        "to the appliance"
    );
    assert!(ping(&client, old, 3), "through the list's block");
    assert!(ping_fails(&client, new), "not in the list yet");
    let before = maps(&d);
    let old_table = table_of(&before, Ipv4Addr::new(10, 0, 1, 10));
    assert!(
        before
            .routes
            .contains_key(&route_key(old_table, &"172.16.4.0/24".parse().unwrap()))
    );

    // One call: the old block out, the new one in.
    d.call(
        "ModifyVpcPrefixList",
        &[
            R,
            ("PrefixListId", &pl),
            ("RemovePrefixListEntry.1.Cidr", "172.16.4.0/24"),
            ("AddPrefixListEntry.1.Cidr", "172.16.5.0/24"),
        ],
    );
    let after = maps(&d);
    let new_table = table_of(&after, Ipv4Addr::new(10, 0, 1, 10));
    assert_ne!(new_table, old_table, "the table's routes moved to a new id");
    assert!(
        after
            .routes
            .contains_key(&route_key(new_table, &"172.16.5.0/24".parse().unwrap()))
    );
    assert!(
        !after
            .routes
            .keys()
            .any(|(_, k)| k.route_table_id == old_table),
        "the old table's routes are gone"
    );
    assert!(
        !after
            .routes
            .contains_key(&route_key(new_table, &"172.16.4.0/24".parse().unwrap()))
    );
    assert!(ping(&client, new, 3), "through the new block");
    assert!(
        ping_fails(&client, old),
        "the old block is no longer routed"
    );
    assert_kernel_is_model(&d, "after the list changed");
}

#[test]
fn gwe_2_gwe_4_the_kernel_routes_the_services_blocks_to_the_endpoint_while_associated() {
    let mut d = Daemon::start();
    let v = d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]);
    let (vpc, system) = (s(&v, &["VpcId"]), s(&v, &["RouteTableId"]));
    let vsw = s(
        &d.call(
            "CreateVSwitch",
            &[
                R,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        ),
        &["VSwitchId"],
    );
    run_instance(&d, &vsw, "10.0.1.10");
    let ep = s(
        &d.call(
            "CreateVpcGatewayEndpoint",
            &[
                R,
                ("VpcId", &vpc),
                ("ServiceName", "com.aliyun.cn-hangzhou.oss"),
            ],
        ),
        &["EndpointId"],
    );
    let blocks = vpc_control::model::CloudServices::default().object_storage_cidrs;
    let endpoint_routes = |m: &vpc_control::compile::MapEntries| -> Vec<(String, u32)> {
        let table = table_of(m, Ipv4Addr::new(10, 0, 1, 10));
        blocks
            .iter()
            .filter_map(|b| {
                m.routes
                    .get(&route_key(table, b))
                    .map(|h| (b.to_string(), h.kind))
            })
            .collect()
    };
    assert!(
        endpoint_routes(&maps(&d)).is_empty(),
        "no route before association"
    );
    d.call(
        "AssociateRouteTablesWithVpcGatewayEndpoint",
        &[R, ("EndpointId", &ep), ("RouteTableIds.1", &system)],
    );
    let kind = vpc_common::NextHopKind::GatewayEndpoint as u32;
    let m = maps(&d);
    assert_eq!(
        endpoint_routes(&m),
        blocks
            .iter()
            .map(|b| (b.to_string(), kind))
            .collect::<Vec<_>>(),
        "GWE-2: the system prefix list's blocks -> the endpoint"
    );
    let table = table_of(&m, Ipv4Addr::new(10, 0, 1, 10));
    let gateway_ids: Vec<u32> = blocks
        .iter()
        .map(|b| m.routes[&route_key(table, b)].gateway_id)
        .collect();
    assert!(gateway_ids.iter().all(|g| *g != 0 && *g == gateway_ids[0]));
    // A kill -9 and a restart keep the endpoint, its route and its policy.
    d.kill9();
    d.spawn(&[]);
    assert_eq!(
        endpoint_routes(&maps(&d)),
        blocks
            .iter()
            .map(|b| (b.to_string(), kind))
            .collect::<Vec<_>>(),
        "after a restart"
    );
    let v = d.call("GetVpcGatewayEndpointAttribute", &[R, ("EndpointId", &ep)]);
    assert_eq!(v["RouteTables"][0], system.as_str());
    let e = d.call_err("DeleteVpcGatewayEndpoint", &[R, ("EndpointId", &ep)]);
    assert_eq!(e.code(), "DependencyViolation.RouteTable");
    d.call(
        "DissociateRouteTablesFromVpcGatewayEndpoint",
        &[R, ("EndpointId", &ep), ("RouteTableIds.1", &system)],
    );
    assert!(
        endpoint_routes(&maps(&d)).is_empty(),
        "GWE-4: the route is gone"
    );
    d.call("DeleteVpcGatewayEndpoint", &[R, ("EndpointId", &ep)]);
}

/// tests/sdk/seed_000.py with `args`; its JSON line.
/// Seed 000's walkthrough on one host, with the official SDKs only: the VPC
/// SDK creates the gateway endpoint with the seed's endpoint policy and
/// associates the VPC's route table (GWE-2: the system-added route to the
/// endpoint); oss2 (signature V1) and alibabacloud-oss-v2 (V4), run inside
/// instances, create the bucket, set the seed's bucket policy, put and get
/// objects. The authorised account from the authorised VPC to the
/// authorised bucket succeeds; another account, another VPC (same CIDR
/// block, its own endpoint), another bucket, and the same account over
/// the internet each get AccessDenied (POL-3).
#[test]
fn pol_3_gwe_2_seed_000_walkthrough_with_the_vpc_sdk_oss2_and_oss_v2() {
    let d = Daemon::start();
    let vpc = |cidr: &str| {
        let v = d.call("CreateVpc", &[R, ("CidrBlock", cidr)]);
        let (vpc, table) = (s(&v, &["VpcId"]), s(&v, &["RouteTableId"]));
        let vsw = s(
            &d.call(
                "CreateVSwitch",
                &[
                    R,
                    ("VpcId", &vpc),
                    ("ZoneId", "cn-hangzhou-a"),
                    ("CidrBlock", "10.0.1.0/24"),
                ],
            ),
            &["VSwitchId"],
        );
        (vpc, table, vsw)
    };
    // The authorised VPC and another one with the same CIDR block.
    let (vpc_a, table_a, vsw_a) = vpc("10.0.0.0/16");
    let (vpc_b, table_b, vsw_b) = vpc("10.0.0.0/16");
    let inst_a = run_instance(&d, &vsw_a, "10.0.1.10");
    let inst_b = run_instance(&d, &vsw_b, "10.0.1.10");
    // The same account over the internet: an instance of the authorised
    // VPC with an EIP, talking to the public endpoint.
    let inst_net = run_instance(&d, &vsw_a, "10.0.1.20");
    let e = d.call("AllocateEipAddress", &[R]);
    d.call(
        "AssociateEipAddress",
        &[
            R,
            ("AllocationId", &s(&e, &["AllocationId"])),
            ("InstanceId", &inst_net),
        ],
    );

    let bucket = format!(
        "examplebucket-{}",
        unique("s").to_ascii_lowercase().replace('_', "-")
    );
    let other_bucket = format!("{bucket}-other");
    // Step 1: the endpoints, through the official VPC SDK (the authorised
    // VPC's with the seed's policy; the other VPC's with the default one).
    let ep = seed_000(
        &d,
        None,
        &[],
        &["endpoint", &vpc_a, &table_a, &bucket, ACCOUNT_ID],
    );
    assert!(s(&ep, &["EndpointId"]).starts_with("vpce-"), "{ep}");
    let ep_b = s(
        &d.call(
            "CreateVpcGatewayEndpoint",
            &[
                R,
                ("VpcId", &vpc_b),
                ("ServiceName", "com.aliyun.cn-hangzhou.oss"),
            ],
        ),
        &["EndpointId"],
    );
    d.call(
        "AssociateRouteTablesWithVpcGatewayEndpoint",
        &[R, ("EndpointId", &ep_b), ("RouteTableIds.1", &table_b)],
    );

    let internal = "oss-cn-hangzhou-internal.aliyuncs.com";
    let public = "oss-cn-hangzhou.aliyuncs.com";
    let owner = [
        ("OSS_AK", ACCESS_KEY_ID),
        ("OSS_SK", ACCESS_KEY_SECRET),
        ("OSS_ACCOUNT", ACCOUNT_ID),
    ];
    let other = [
        ("OSS_AK", OTHER_KEY_ID),
        ("OSS_SK", OTHER_KEY_SECRET),
        ("OSS_ACCOUNT", ACCOUNT_ID),
    ];
    // The listeners in the services and internet namespaces come up with
    // the router: wait for the first answer.
    let oss =
        |ns: &str,
         keys: &[(&str, &str)],
         sdk: &str,
         host: &str,
         bucket: &str,
         op: &str,
         arg: &str| { seed_000(&d, Some(ns), keys, &["oss", sdk, host, bucket, op, arg]) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk/seed_000.py");
        let o = Command::new("ip")
            .args(["netns", "exec", &inst_a])
            .arg(sdk_python())
            .arg(&script)
            .args(["oss", "oss2", internal, &bucket, "create"])
            .envs(owner)
            .output()
            .expect("running seed_000.py");
        if o.status.success() {
            let v: Value = serde_json::from_slice(
                o.stdout
                    .rsplit(|b| *b == b'\n')
                    .find(|l| !l.is_empty())
                    .unwrap_or_default(),
            )
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
            assert_eq!(v["ok"], true, "PutBucket through the endpoint: {v}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the object storage never answered through the endpoint:\n{}\n{}",
            String::from_utf8_lossy(&o.stderr),
            d.log(1)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // Step 2: the bucket policy, set from the authorised VPC.
    let set = oss(&inst_a, &owner, "v2", internal, &bucket, "policy", &vpc_a);
    assert_eq!(set["ok"], true, "PutBucketPolicy: {set}");
    // The other bucket, the same account's, made over the internet (the
    // endpoint's policy covers only the authorised bucket).
    let made = oss(
        &inst_net,
        &owner,
        "oss2",
        public,
        &other_bucket,
        "create",
        "",
    );
    assert_eq!(made["ok"], true, "PutBucket over the internet: {made}");

    // Step 3: the checks, with both SDKs.
    let mut allowed = 0;
    for sdk in ["oss2", "v2"] {
        let key = format!("{sdk}.txt");
        let put = oss(&inst_a, &owner, sdk, internal, &bucket, "put", &key);
        assert_eq!(
            put["ok"], true,
            "{sdk}: the authorised account, VPC and bucket: PutObject: {put}"
        );
        let get = oss(&inst_a, &owner, sdk, internal, &bucket, "get", &key);
        assert_eq!(
            get["ok"], true,
            "{sdk}: the authorised account, VPC and bucket: GetObject: {get}"
        );
        let list = oss(&inst_a, &owner, sdk, internal, &bucket, "list", "");
        assert!(
            list["keys"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == key.as_str())),
            "{sdk}: {list}"
        );
        allowed += 3;

        let denied = [
            (
                "another account",
                oss(&inst_a, &other, sdk, internal, &bucket, "get", &key),
            ),
            (
                "another VPC",
                oss(&inst_b, &owner, sdk, internal, &bucket, "get", &key),
            ),
            (
                "another VPC, put",
                oss(&inst_b, &owner, sdk, internal, &bucket, "put", "intruder"),
            ),
            (
                "another bucket",
                oss(&inst_a, &owner, sdk, internal, &other_bucket, "put", &key),
            ),
            (
                "over the internet",
                oss(&inst_net, &owner, sdk, public, &bucket, "get", &key),
            ),
            (
                "over the internet, put",
                oss(&inst_net, &owner, sdk, public, &bucket, "put", "intruder"),
            ),
        ];
        for (what, v) in denied {
            assert_eq!(
                (v["ok"].as_bool(), v["code"].as_str(), v["status"].as_u64()),
                (Some(false), Some("AccessDenied"), Some(403)),
                "{sdk}: {what}: {v}"
            );
        }
    }
    assert_eq!(allowed, 6);
    // Nothing the refused calls tried was written.
    let list = oss(&inst_a, &owner, "oss2", internal, &bucket, "list", "");
    assert_eq!(
        list["keys"],
        serde_json::json!(["oss2.txt", "v2.txt"]),
        "{list}"
    );
}
