//! The IPv4 gateway walkthrough of the product documents, end to end
//! through the daemon's API, with real pings between instance namespaces
//! and the lab's internet namespace (IGW-1..IGW-5, RT-4), and an internet
//! NAT gateway shared by private instances.
use std::net::Ipv4Addr;

use serde_json::Value;
use vpc_tests::*;

const R: (&str, &str) = ("RegionId", "cn-hangzhou");
/// A host of the lab's internet (TEST-NET-2).
const INTERNET_HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

fn s<'a>(v: &'a Value, path: &[&str]) -> String {
    let mut at = v;
    for p in path {
        at = &at[*p];
    }
    at.as_str().unwrap_or_else(|| panic!("no {path:?} in {v}")).to_string()
}

fn addr(s: &str) -> Ipv4Addr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// The namespace playing the internet for this daemon's router.
fn internet(d: &Daemon) -> String {
    vpc_control::model::Internet::namespace(&d.namespace)
}

fn code(e: vpc_control::client::ClientError) -> String {
    e.code().to_string()
}

fn dropped(d: &Daemon, reason: &str) -> u64 {
    d.call("DescribeRouterStats", &[])["Drops"][reason].as_u64().unwrap_or(0)
}

/// A VPC with two vSwitches; returns (vpc, vsw-a, vsw-b, system route table).
fn vpc(d: &Daemon) -> (String, String, String, String) {
    let v = d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]);
    let (vpc, table) = (s(&v, &["VpcId"]), s(&v, &["RouteTableId"]));
    let a = s(&d.call("CreateVSwitch", &[R, ("VpcId", &vpc), ("ZoneId", "cn-hangzhou-a"), ("CidrBlock", "10.0.1.0/24")]), &["VSwitchId"]);
    let b = s(&d.call("CreateVSwitch", &[R, ("VpcId", &vpc), ("ZoneId", "cn-hangzhou-a"), ("CidrBlock", "10.0.2.0/24")]), &["VSwitchId"]);
    (vpc, a, b, table)
}

fn run(d: &Daemon, vsw: &str, ip: &str) -> String {
    let v = d.call("RunInstances", &[R, ("VSwitchId", vsw), ("PrivateIpAddress", ip), ("ImageId", "img"), ("InstanceType", "t")]);
    v["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap_or_else(|| panic!("{v}")).to_string()
}

/// Allocates an EIP and associates it with `instance`: its address.
fn eip_for(d: &Daemon, instance: &str) -> Ipv4Addr {
    let e = d.call("AllocateEipAddress", &[R]);
    d.call("AssociateEipAddress", &[R, ("AllocationId", &s(&e, &["AllocationId"])), ("InstanceId", instance)]);
    addr(&s(&e, &["EipAddress"]))
}

#[test]
fn igw_1_to_igw_5_rt_4_the_ipv4_gateway_walkthrough() {
    let d = Daemon::start();
    let inet = internet(&d);
    let (vpc, vsw_a, vsw_b, system_table) = vpc(&d);
    let a = run(&d, &vsw_a, "10.0.1.10");
    let b = run(&d, &vsw_b, "10.0.2.10");
    // "Other addresses of the VPC": a third instance with an EIP in vsw-a.
    let c = run(&d, &vsw_a, "10.0.1.20");
    let (eip_a, eip_b, eip_c) = (eip_for(&d, &a), eip_for(&d, &b), eip_for(&d, &c));

    // IGW-3: without a gateway, an EIP reaches the internet directly.
    assert!(ping(&a, INTERNET_HOST, 2), "a -> internet through its EIP, no gateway");
    assert!(ping(&inet, eip_a, 2), "internet -> EIP of a, no gateway");

    // IGW-1, IGW-2: creating the gateway changes no traffic; one per VPC.
    let gw = s(&d.call("CreateIpv4Gateway", &[R, ("VpcId", &vpc), ("Ipv4GatewayName", "edge")]), &["Ipv4GatewayId"]);
    assert_eq!(code(d.call_err("CreateIpv4Gateway", &[R, ("VpcId", &vpc)])), "QuotaExceeded.Ipv4Gateway");
    assert!(ping(&inet, eip_a, 2), "creating the gateway must change no traffic");
    let listed = d.call("ListIpv4Gateways", &[R, ("VpcId", &vpc)]);
    assert_eq!(listed["Ipv4GatewayModels"][0]["Enabled"], false, "{listed}");

    // IGW-2: enabling adds 0.0.0.0/0 -> gateway; a table that has one fails
    // the whole call and changes nothing.
    let other = s(&d.call("CreateRouteTable", &[R, ("VpcId", &vpc)]), &["RouteTableId"]);
    d.call("CreateRouteEntry", &[R, ("RouteTableId", &other), ("DestinationCidrBlock", "0.0.0.0/0"), ("NextHopId", &c)]);
    let e = d.call_err("EnableVpcIpv4Gateway", &[R, ("Ipv4GatewayId", &gw), ("RouteTableList.1", &system_table), ("RouteTableList.2", &other)]);
    assert_eq!(code(e), "InvalidRouteEntry.DefaultRouteExists");
    assert_eq!(d.call("GetIpv4GatewayAttribute", &[R, ("Ipv4GatewayId", &gw)])["Enabled"], false);
    d.call("DeleteRouteEntry", &[R, ("RouteTableId", &other), ("DestinationCidrBlock", "0.0.0.0/0")]);
    d.call("DeleteRouteTable", &[R, ("RouteTableId", &other)]);
    d.call("EnableVpcIpv4Gateway", &[R, ("Ipv4GatewayId", &gw), ("RouteTableList.1", &system_table)]);
    let entries = d.call("DescribeRouteEntryList", &[R, ("RouteTableId", &system_table), ("NextHopType", "Ipv4Gateway")]);
    assert_eq!(entries["RouteEntrys"]["RouteEntry"][0]["DestinationCidrBlock"], "0.0.0.0/0", "{entries}");

    // IGW-3: outbound through the gateway; IGW-4: no gateway route table,
    // so inbound is dropped and counted.
    assert!(ping(&a, INTERNET_HOST, 2), "a -> internet through the gateway");
    assert!(ping(&b, INTERNET_HOST, 2), "b -> internet through the gateway");
    let before = dropped(&d, "ipv4_gateway_no_route");
    assert!(ping_fails(&inet, eip_a), "internet -> a must be dropped without a gateway route table");
    assert!(dropped(&d, "ipv4_gateway_no_route") > before, "the drop was not counted");

    // RT-4: a gateway route table, one system entry per vSwitch; edit the
    // two vSwitches' entries to the two instances; none can be added.
    let gwt = s(&d.call("CreateRouteTable", &[R, ("VpcId", &vpc), ("AssociateType", "Gateway")]), &["RouteTableId"]);
    let listed = d.call("ListGatewayRouteTableEntries", &[R, ("GatewayRouteTableId", &gwt)]);
    assert_eq!(listed["GatewayRouteEntryModels"].as_array().map(Vec::len), Some(2), "{listed}");
    assert_eq!(listed["GatewayRouteEntryModels"][0]["NextHopType"], "Local", "{listed}");
    let e = d.call_err("CreateRouteEntry", &[R, ("RouteTableId", &gwt), ("DestinationCidrBlock", "10.0.9.0/24"), ("NextHopId", &a)]);
    assert_eq!(code(e), "IncorrectRouteTableType");
    let e = d.call_err("AssociateRouteTable", &[R, ("RouteTableId", &gwt), ("VSwitchId", &vsw_a)]);
    assert_eq!(code(e), "IncorrectRouteTableType");
    for (cidr, hop) in [("10.0.1.0/24", &a), ("10.0.2.0/24", &b)] {
        d.call("UpdateGatewayRouteTableEntryAttribute", &[R, ("GatewayRouteTableId", &gwt), ("DestinationCidrBlock", cidr), ("NextHopType", "Instance"), ("NextHopId", hop)]);
    }
    // No direct swap to another instance: delete (back to system), edit again.
    let e = d.call_err("UpdateGatewayRouteTableEntryAttribute", &[R, ("GatewayRouteTableId", &gwt), ("DestinationCidrBlock", "10.0.1.0/24"), ("NextHopType", "Instance"), ("NextHopId", &c)]);
    assert_eq!(code(e), "OperationUnsupported.NextHopSwap");
    d.call("DeleteRouteEntry", &[R, ("RouteTableId", &gwt), ("DestinationCidrBlock", "10.0.1.0/24")]);
    let back = d.call("ListGatewayRouteTableEntries", &[R, ("GatewayRouteTableId", &gwt), ("DestinationCidrBlock", "10.0.1.0/24")]);
    assert_eq!(back["GatewayRouteEntryModels"][0]["NextHopType"], "Local", "deleting the edit restores the system entry: {back}");
    d.call("UpdateGatewayRouteTableEntryAttribute", &[R, ("GatewayRouteTableId", &gwt), ("DestinationCidrBlock", "10.0.1.0/24"), ("NextHopType", "Instance"), ("NextHopId", &a)]);
    let edited = d.call("ListGatewayRouteTableEntries", &[R, ("GatewayRouteTableId", &gwt)]);
    for m in edited["GatewayRouteEntryModels"].as_array().unwrap() {
        assert_eq!(m["NextHopType"], "EcsInstance", "{edited}");
    }
    assert!(ping_fails(&inet, eip_a), "still dropped until the table is bound");
    d.call("AssociateRouteTableWithGateway", &[R, ("RouteTableId", &gwt), ("GatewayId", &gw)]);
    assert_eq!(d.call("GetIpv4GatewayAttribute", &[R, ("Ipv4GatewayId", &gw)])["Ipv4GatewayRouteTableId"], gwt.as_str());

    // IGW-4: the two instances are reachable, other addresses are not.
    assert!(ping(&inet, eip_a, 2), "internet -> a through the gateway route table");
    assert!(ping(&inet, eip_b, 2), "internet -> b through the gateway route table");
    assert!(ping_fails(&inet, eip_c), "internet -> c must not be reachable (its vSwitch's entry goes to a)");

    // IGW-5: the table must be dissociated first; private mode refuses
    // while routes point to the gateway.
    let e = d.call_err("DeleteIpv4Gateway", &[R, ("Ipv4GatewayId", &gw)]);
    assert_eq!(code(e), "DependencyViolation.GatewayRouteTable");
    assert_eq!(code(d.call_err("DeleteRouteTable", &[R, ("RouteTableId", &gwt)])), "DependencyViolation.Ipv4Gateway");
    d.call("DissociateRouteTableFromGateway", &[R, ("RouteTableId", &gwt), ("GatewayId", &gw)]);
    let e = d.call_err("DeleteIpv4Gateway", &[R, ("Ipv4GatewayId", &gw), ("InternetMode", "private")]);
    assert_eq!(code(e), "DependencyViolation.RouteEntry");
    assert!(ping_fails(&inet, eip_b), "dissociated: inbound is dropped again");
    // Public mode deletes the routes and restores direct EIP access.
    d.call("DeleteIpv4Gateway", &[R, ("Ipv4GatewayId", &gw), ("InternetMode", "public")]);
    let left = d.call("DescribeRouteEntryList", &[R, ("RouteTableId", &system_table), ("NextHopType", "Ipv4Gateway")]);
    assert_eq!(left["TotalCount"], 0, "{left}");
    assert!(ping(&inet, eip_c, 2), "internet -> c directly again after the public-mode delete");
    assert!(ping(&c, INTERNET_HOST, 2), "c -> internet directly again");
    // Its edited entries are custom entries: delete them, then the table.
    assert_eq!(code(d.call_err("DeleteRouteTable", &[R, ("RouteTableId", &gwt)])), "DependencyViolation.RouteEntry");
    for cidr in ["10.0.1.0/24", "10.0.2.0/24"] {
        d.call("DeleteRouteEntry", &[R, ("RouteTableId", &gwt), ("DestinationCidrBlock", cidr)]);
    }
    d.call("DeleteRouteTable", &[R, ("RouteTableId", &gwt)]);
}

#[test]
fn igw_3_a_nat_gateway_shares_one_eip_and_refused_actions_change_nothing() {
    let d = Daemon::start();
    let inet = internet(&d);
    let (vpc, vsw_a, vsw_b, system_table) = vpc(&d);
    let a = run(&d, &vsw_a, "10.0.1.10");
    let b = run(&d, &vsw_b, "10.0.2.10");
    assert!(ping_fails(&a, INTERNET_HOST), "a private instance has no internet");
    assert!(dropped(&d, "no_route") > 0);

    let n = d.call("CreateNatGateway", &[R, ("VpcId", &vpc), ("VSwitchId", &vsw_a), ("NatType", "Enhanced"), ("NetworkType", "internet")]);
    let ngw = s(&n, &["NatGatewayId"]);
    let snat_table = n["SnatTableIds"]["SnatTableId"][0].as_str().unwrap().to_string();
    // The cloud adds 0.0.0.0/0 -> NAT gateway to the system table.
    let routes = d.call("DescribeRouteEntryList", &[R, ("RouteTableId", &system_table), ("NextHopType", "NatGateway")]);
    assert_eq!(routes["TotalCount"], 1, "{routes}");
    assert!(ping_fails(&a, INTERNET_HOST), "no SNAT entry yet: counted, not translated");
    assert!(dropped(&d, "no_public_address") > 0);

    let e = d.call("AllocateEipAddress", &[R]);
    let (eip_id, eip) = (s(&e, &["AllocationId"]), s(&e, &["EipAddress"]));
    // An address that is no EIP of the gateway is refused, nothing changes.
    assert_eq!(
        code(d.call_err("CreateSnatEntry", &[R, ("SnatTableId", &snat_table), ("SnatIp", &eip), ("SourceVSwitchId", &vsw_a)])),
        "InvalidSnatIp.NotBelongNatGateway"
    );
    d.call("AssociateEipAddress", &[R, ("AllocationId", &eip_id), ("InstanceId", &ngw), ("InstanceType", "Nat")]);
    d.call("CreateSnatEntry", &[R, ("SnatTableId", &snat_table), ("SnatIp", &eip), ("SourceVSwitchId", &vsw_a)]);
    d.call("CreateSnatEntry", &[R, ("SnatTableId", &snat_table), ("SnatIp", &eip), ("SourceCIDR", "10.0.2.0/24")]);
    assert_eq!(
        code(d.call_err("CreateSnatEntry", &[R, ("SnatTableId", &snat_table), ("SnatIp", &eip), ("SourceCIDR", "10.0.2.0/24")])),
        "InvalidSourceCIDR.Duplicated"
    );
    assert!(ping(&a, INTERNET_HOST, 3), "a -> internet through the NAT gateway");
    assert!(ping(&b, INTERNET_HOST, 3), "b -> internet through the same EIP");
    assert!(tcp_echo(&inet, &a, INTERNET_HOST, 7101), "TCP a -> internet through SNAT");
    assert!(ping_fails(&inet, addr(&eip)), "nothing answers unsolicited traffic to an SNAT address");
    let entries = d.call("DescribeSnatTableEntries", &[R, ("SnatTableId", &snat_table)]);
    assert_eq!(entries["TotalCount"], 2, "{entries}");

    // Refused while in use; Force takes everything down with it.
    assert_eq!(code(d.call_err("ReleaseEipAddress", &[R, ("AllocationId", &eip_id)])), "IncorrectEipStatus");
    assert_eq!(code(d.call_err("UnassociateEipAddress", &[R, ("AllocationId", &eip_id)])), "DependencyViolation.SnatEntry");
    assert_eq!(code(d.call_err("DeleteNatGateway", &[R, ("NatGatewayId", &ngw)])), "DependencyViolation.SnatEntry");
    assert_eq!(code(d.call_err("DeleteVSwitch", &[R, ("VSwitchId", &vsw_a)])), "DependencyViolation.Instance");
    d.call("DeleteNatGateway", &[R, ("NatGatewayId", &ngw), ("Force", "true")]);
    assert!(ping_fails(&a, INTERNET_HOST), "the NAT gateway is gone");
    let routes = d.call("DescribeRouteEntryList", &[R, ("RouteTableId", &system_table), ("NextHopType", "NatGateway")]);
    assert_eq!(routes["TotalCount"], 0, "{routes}");
    d.call("ReleaseEipAddress", &[R, ("AllocationId", &eip_id)]);
    assert_eq!(d.call("DescribeEipAddresses", &[R])["TotalCount"], 0);

    // A static public IP at RunInstances reaches the internet directly.
    let v = d.call("RunInstances", &[R, ("VSwitchId", &vsw_b), ("InternetMaxBandwidthOut", "5"), ("ImageId", "i"), ("InstanceType", "t")]);
    let p = v["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
    let described = d.call("DescribeInstances", &[R, ("InstanceIds", &format!("[\"{p}\"]"))]);
    let public = described["Instances"]["Instance"][0]["PublicIpAddress"]["IpAddress"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no public IP: {described}"))
        .to_string();
    assert!(ping(&inet, addr(&public), 2), "internet -> static public IP");
    assert!(ping(&p, INTERNET_HOST, 2), "static public IP -> internet");
}

#[test]
fn igw_4_official_sdk_drives_the_gateway_walkthrough_and_a_nat_gateway() {
    let d = Daemon::start();
    let inet = internet(&d);
    // One JSON line from a successful run of tests/sdk/vpc_lab.py.
    let sdk_json = |args: &[&str]| -> Value {
        let o = sdk(&d, args, ACCESS_KEY_SECRET);
        assert!(
            o.status.success(),
            "SDK {args:?} failed ({}): {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("SDK {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)));
        assert_eq!(v["ok"], true, "SDK {args:?}: {v}");
        v
    };

    // IGW-1..IGW-4, RT-4 through the SDKs: a gateway route table sends the
    // vSwitches' inbound traffic to a and b; c's EIP is not reachable.
    let built = sdk_json(&["igw-build"]);
    let (a, eip_a, eip_b, eip_c) =
        (s(&built, &["InstanceIds", "a"]), addr(&s(&built, &["Eips", "a"])), addr(&s(&built, &["Eips", "b"])), addr(&s(&built, &["Eips", "c"])));
    assert!(ping(&a, INTERNET_HOST, 2), "a -> internet through the IPv4 gateway (SDK-built): {built}");
    assert!(ping(&inet, eip_a, 2), "internet -> EIP of a through the gateway route table (SDK-built): {built}");
    assert!(ping(&inet, eip_b, 2), "internet -> EIP of b through the gateway route table (SDK-built): {built}");
    assert!(ping_fails(&inet, eip_c), "internet -> EIP of c must not be reachable: its vSwitch's entry goes to a: {built}");

    // IGW-5 through the SDKs: refused deletes, dissociate, public-mode delete.
    let (gw, gwt) = (s(&built, &["Ipv4GatewayId"]), s(&built, &["GatewayRouteTableId"]));
    sdk_json(&["igw-teardown", "--gateway-id", &gw, "--table-id", &gwt]);
    assert!(ping(&inet, eip_c, 2), "internet -> EIP of c directly again after the SDK's public-mode DeleteIpv4Gateway");

    // A private instance reaches the internet through a NAT gateway's SNAT
    // entry, and no longer once it is torn down.
    let nat = sdk_json(&["nat"]);
    let private = s(&nat, &["InstanceId"]);
    assert!(ping(&private, INTERNET_HOST, 3), "private instance -> internet through the SDK-built NAT gateway: {nat}");
    let ids = [("--nat-gateway-id", "NatGatewayId"), ("--snat-table-id", "SnatTableId"), ("--snat-entry-id", "SnatEntryId"), ("--allocation-id", "EipAllocationId")]
        .map(|(flag, key)| (flag, s(&nat, &[key])));
    let mut args = vec!["nat-teardown"];
    for (flag, id) in &ids {
        args.extend([*flag, id.as_str()]);
    }
    sdk_json(&args);
    assert!(ping_fails(&private, INTERNET_HOST), "private instance must lose the internet after the SDK's nat-teardown");
}
