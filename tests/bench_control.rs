//! `cargo xtask bench` (part): the control plane through its API, as a
//! client sees it (a `vpc daemon` in a scratch router namespace, calls over
//! its Unix socket, each accepted change on disk and in the maps before the
//! reply):
//! - durable API actions per second (ModifyVpcAttribute, one client);
//! - seconds to add route entries one CreateRouteEntry call at a time, at
//!   growing table sizes (the per-call cost grows with the model: every
//!   call validates and compiles the whole model and saves it whole);
//! - seconds to add security-group rules, 100 per AuthorizeSecurityGroup call.
use std::time::Instant;

use vpc_tests::{
    Daemon,
    bench::{self, Report},
};

const R: (&str, &str) = ("RegionId", "cn-hangzhou");

fn id(v: &serde_json::Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}")).to_string()
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke") || std::env::var_os("VPC_BENCH_SMOKE").is_some();
    let rounds = if smoke { 1 } else { 3 };
    let actions = if smoke { 20 } else { 200 };
    let route_steps: &[usize] = if smoke { &[20, 40] } else { &[250, 500, 1_000, 2_000] };
    let rule_counts: &[usize] = if smoke { &[100] } else { &[100, 1_000, 10_000] };
    let report = Report::new("control");
    let d = Daemon::start();
    let vpc = id(&d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]), "VpcId");
    let vsw = id(&d.call("CreateVSwitch", &[R, ("VpcId", &vpc), ("ZoneId", "a"), ("CidrBlock", "10.0.1.0/24")]), "VSwitchId");
    let run = d.call("RunInstances", &[R, ("VSwitchId", &vsw), ("InstanceName", "hop")]);
    let hop = run["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap_or_else(|| panic!("{run}")).to_string();

    let mut per_s = Vec::new();
    for r in 0..rounds {
        let t = Instant::now();
        for n in 0..actions {
            d.call("ModifyVpcAttribute", &[R, ("VpcId", &vpc), ("Description", &format!("round {r} call {n}"))]);
        }
        per_s.push(actions as f64 / t.elapsed().as_secs_f64());
    }
    report.figure("control", "durable API actions (ModifyVpcAttribute, 1 client)", "actions/s", &per_s, "");

    let table = id(&d.call("CreateRouteTable", &[R, ("VpcId", &vpc)]), "RouteTableId");
    let prefixes = bench::internet_prefixes(*route_steps.last().unwrap(), 5);
    let mut done = 0;
    for step in route_steps {
        let t = Instant::now();
        for (net, _) in &prefixes[done..*step] {
            d.call("CreateRouteEntry", &[R, ("RouteTableId", &table), ("DestinationCidrBlock", &net.to_string()),
                ("NextHopType", "Instance"), ("NextHopId", &hop)]);
        }
        let calls = step - done;
        let secs = t.elapsed().as_secs_f64();
        report.point("control: route entries", "ms per CreateRouteEntry", *step as f64, "ms", &[secs * 1e3 / calls as f64]);
        report.figure("control", &format!("CreateRouteEntry, table growing {done} -> {step}"), "entries/s", &[calls as f64 / secs], "one round");
        done = *step;
    }

    for n in rule_counts {
        let sg = id(&d.call("CreateSecurityGroup", &[R, ("VpcId", &vpc)]), "SecurityGroupId");
        // Random rules can repeat one another; the API refuses a duplicate
        // (InvalidPermission.Duplicate), so each is sent once.
        let mut seen = std::collections::HashSet::new();
        let rules: Vec<_> = bench::sg_rules(*n, None)
            .into_iter()
            .filter(|r| seen.insert((format!("{:?}", r.ip_protocol), r.port_range, format!("{:?}", r.peer))))
            .collect();
        let t = Instant::now();
        for chunk in rules.chunks(100) {
            let mut owned: Vec<(String, String)> = vec![("SecurityGroupId".into(), sg.clone())];
            for (k, r) in chunk.iter().enumerate() {
                let p = |f: &str| format!("Permissions.{}.{f}", k + 1);
                let vpc_control::model::Peer::Cidr(cidr) = &r.peer else { continue };
                let proto = format!("{:?}", r.ip_protocol).to_uppercase();
                let ports = match r.ip_protocol {
                    vpc_control::model::IpProtocol::Tcp | vpc_control::model::IpProtocol::Udp => format!("{}/{}", r.port_range.0, r.port_range.1),
                    _ => "-1/-1".into(),
                };
                owned.push((p("IpProtocol"), proto));
                owned.push((p("PortRange"), ports));
                owned.push((p("SourceCidrIp"), cidr.to_string()));
                owned.push((p("Policy"), format!("{:?}", r.policy).to_lowercase()));
                owned.push((p("Priority"), r.priority.to_string()));
            }
            let mut params: Vec<(&str, &str)> = vec![R];
            params.extend(owned.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            d.call("AuthorizeSecurityGroup", &params);
        }
        let secs = t.elapsed().as_secs_f64();
        let note = format!("one round; {} distinct rules sent", rules.len());
        report.figure("control", &format!("{n} security-group rules, 100 per AuthorizeSecurityGroup"), "s", &[secs], &note);
    }
}
