//! Real TCP connections through a network load balancer made with the
//! official NLB SDK (tests/sdk/nlb_lab.py) on a daemon: backends in two
//! zones, each running a TCP service that names itself; many client
//! connections spread over them by their weights; a backend whose service
//! dies leaves the tables within the health checks' window and comes back
//! when it answers again, the other's connections untouched; a backend
//! removed by the API takes only its own connections with it (the others keep working,
//! new ones go to the backends left); an internet-facing load balancer is
//! reached from the lab internet at a zone's public address.
use std::{collections::BTreeMap, net::{Ipv4Addr, SocketAddr}, time::Duration};

use serde_json::{Value, json};
use vpc_tests::{echo::{Conn, SERVICE_PORT, Service}, *};

const R: (&str, &str) = ("RegionId", "cn-hangzhou");
/// The listener port.
const LISTENER_PORT: u16 = 80;

fn s(v: &Value, path: &[&str]) -> String {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_str().unwrap_or_else(|| panic!("{path:?} in {v}")).to_string()
}

/// Runs tests/sdk/nlb_lab.py `cmd` with `arg`; its JSON line.
fn nlb_lab(d: &Daemon, cmd: &str, arg: &Value) -> Value {
    d.sdk_script("nlb_lab.py", &[cmd, &arg.to_string()])
}

fn shares(conns: &[Conn]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in conns {
        *m.entry(c.backend.clone()).or_default() += 1;
    }
    m
}

#[test]
fn nlb_connections_spread_by_weight_and_a_removed_backend_takes_only_its_own() {
    let d = Daemon::start();
    let v = d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]);
    let vpc = s(&v, &["VpcId"]);
    let vsw = |zone: &str, cidr: &str| {
        s(&d.call("CreateVSwitch", &[R, ("VpcId", &vpc), ("ZoneId", zone), ("CidrBlock", cidr)]), &["VSwitchId"])
    };
    let (vsw_a, vsw_b, vsw_c) = (vsw("cn-hangzhou-a", "10.0.1.0/24"), vsw("cn-hangzhou-b", "10.0.2.0/24"), vsw("cn-hangzhou-a", "10.0.3.0/24"));
    let run = |vsw: &str, ip: &str| -> String {
        let r = d.call("RunInstances", &[R, ("VSwitchId", vsw), ("PrivateIpAddress", ip), ("ImageId", "img"), ("InstanceType", "t")]);
        r["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap_or_else(|| panic!("{r}")).to_string()
    };
    let web_a = run(&vsw_a, "10.0.1.11");
    let web_b = run(&vsw_b, "10.0.2.12");
    let client = run(&vsw_c, "10.0.3.10");
    // Another client for the second zone's address: one client reaching a
    // backend through two addresses could use one source port for both,
    // and the backend would see one connection (docs/nlb.md).
    let client_b = run(&vsw_c, "10.0.3.11");
    let _svc_a = Service::start(&web_a, "web-a");
    let svc_b = Service::start(&web_b, "web-b");
    // Both backends answer directly first (their namespaces are up).
    for (ip, name) in [("10.0.1.11", "web-a"), ("10.0.2.12", "web-b")] {
        let c = Conn::open(&client, SocketAddr::new(ip.parse().unwrap(), SERVICE_PORT));
        assert_eq!(c.backend, name);
    }

    // The load balancer, through the official NLB SDK: weights 100 and 50.
    let lb = nlb_lab(&d, "create", &json!({
        "vpc": vpc, "zones": {"cn-hangzhou-a": vsw_a, "cn-hangzhou-b": vsw_b},
        "servers": [{"id": web_a, "weight": 100, "port": SERVICE_PORT}, {"id": web_b, "weight": 50, "port": SERVICE_PORT}],
        "address_type": "Intranet", "port": LISTENER_PORT,
    }));
    let vip = |zone: &str| -> SocketAddr {
        SocketAddr::new(lb["addresses"][zone].as_str().unwrap_or_else(|| panic!("{lb}")).parse().unwrap(), LISTENER_PORT)
    };

    // Many connections, spread by weight (2:1) within a tolerance, through
    // either zone's address (cross-zone balancing is the default).
    let mut conns: Vec<Conn> = (0..300).map(|_| Conn::open(&client, vip("cn-hangzhou-a"))).collect();
    conns.extend((0..60).map(|_| Conn::open(&client_b, vip("cn-hangzhou-b"))));
    let share = shares(&conns);
    let a = share.get("web-a").copied().unwrap_or(0) as f64 / conns.len() as f64;
    assert!((a - 2.0 / 3.0).abs() < 0.08, "web-a took {a:.2} of the connections, weight says 0.67: {share:?}");
    assert_eq!(share.len(), 2, "{share:?}");
    for (n, c) in conns.iter_mut().enumerate() {
        if !c.echoes(&format!("hello {n}")) {
            let stats = d.call("DescribeRouterStats", &[]);
            panic!("connection {n} to {} does not work; drops {}", c.backend, stats["Drops"]);
        }
    }

    // web-b's service dies: the health checks (TCP, every second, two
    // failures) take it out of the tables within the window, every new
    // connection then goes to web-a, and web-a's connections go on.
    drop(svc_b);
    let killed = std::time::Instant::now();
    let window = Duration::from_secs(2) + Duration::from_secs(3);
    loop {
        let probe: Vec<Option<Conn>> = (0..20).map(|_| Conn::try_open(&client, vip("cn-hangzhou-a"))).collect();
        if probe.iter().all(|c| c.as_ref().is_some_and(|c| c.backend == "web-a")) {
            break;
        }
        assert!(killed.elapsed() < window, "new connections still reach web-b {:?} after its service died", killed.elapsed());
    }
    for (n, c) in conns.iter_mut().filter(|c| c.backend == "web-a").enumerate() {
        if !c.echoes(&format!("after the kill {n}")) {
            let servers = d.call("ListServerGroupServers", &[R, ("ServerGroupId", lb["server_group"].as_str().unwrap())]);
            panic!("connection {n} of web-a broke when web-b died; servers: {servers}");
        }
    }
    // Back up: healthy again within the window, new connections reach it.
    let _svc_b = Service::start(&web_b, "web-b");
    let back = std::time::Instant::now();
    loop {
        let probe: Vec<Conn> = (0..20).map(|_| Conn::open(&client, vip("cn-hangzhou-a"))).collect();
        if shares(&probe).contains_key("web-b") {
            break;
        }
        assert!(back.elapsed() < window, "web-b not back {:?} after its service started again", back.elapsed());
    }
    // Its connections from before its death were closed: only web-a's and
    // new ones are kept for the removal below.
    conns.retain(|c| c.backend == "web-a");
    conns.extend((0..60).map(|_| Conn::open(&client, vip("cn-hangzhou-a"))));
    assert!(conns.iter().any(|c| c.backend == "web-b"), "new connections reach web-b again");

    // web-b removed by the API: its own connections go (connection draining
    // is off), every connection of web-a keeps working, and new ones all go
    // to web-a.
    nlb_lab(&d, "remove", &json!({"server_group": lb["server_group"], "servers": [{"id": web_b, "port": SERVICE_PORT}]}));
    let (mut kept, gone): (Vec<Conn>, Vec<Conn>) = conns.into_iter().partition(|c| c.backend == "web-a");
    assert!(!gone.is_empty() && !kept.is_empty());
    for (n, c) in kept.iter_mut().enumerate() {
        assert!(c.echoes(&format!("still {n}")), "a connection of web-a broke when web-b was removed");
    }
    for mut c in gone {
        assert!(c.is_closed(), "a connection of the removed backend was not closed");
    }
    let fresh: Vec<Conn> = (0..50).map(|_| Conn::open(&client, vip("cn-hangzhou-a"))).collect();
    assert_eq!(shares(&fresh), BTreeMap::from([("web-a".to_string(), 50)]), "new connections after the removal");
}

#[test]
fn nlb_an_internet_facing_load_balancer_is_reached_from_the_lab_internet() {
    let d = Daemon::start();
    let inet = vpc_control::model::Internet::namespace(&d.namespace);
    let v = d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]);
    let vpc = s(&v, &["VpcId"]);
    let vsw_a = s(&d.call("CreateVSwitch", &[R, ("VpcId", &vpc), ("ZoneId", "cn-hangzhou-a"), ("CidrBlock", "10.0.1.0/24")]), &["VSwitchId"]);
    let vsw_b = s(&d.call("CreateVSwitch", &[R, ("VpcId", &vpc), ("ZoneId", "cn-hangzhou-b"), ("CidrBlock", "10.0.2.0/24")]), &["VSwitchId"]);
    let run = |vsw: &str, ip: &str| -> String {
        let r = d.call("RunInstances", &[R, ("VSwitchId", vsw), ("PrivateIpAddress", ip), ("ImageId", "img"), ("InstanceType", "t")]);
        r["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap_or_else(|| panic!("{r}")).to_string()
    };
    let web_a = run(&vsw_a, "10.0.1.11");
    let web_b = run(&vsw_b, "10.0.2.12");
    let _svc_a = Service::start(&web_a, "web-a");
    let _svc_b = Service::start(&web_b, "web-b");
    let lb = nlb_lab(&d, "create", &json!({
        "vpc": vpc, "zones": {"cn-hangzhou-a": vsw_a, "cn-hangzhou-b": vsw_b},
        "servers": [{"id": web_a, "weight": 100, "port": SERVICE_PORT}, {"id": web_b, "weight": 100, "port": SERVICE_PORT}],
        "address_type": "Internet", "port": LISTENER_PORT,
    }));
    let public = lb["public"].as_object().unwrap_or_else(|| panic!("{lb}"));
    assert_eq!(public.len(), 2, "a public address per zone: {lb}");
    let mut seen = BTreeMap::new();
    for (zone, addr) in public {
        let addr: Ipv4Addr = addr.as_str().unwrap().parse().unwrap();
        for n in 0..20 {
            let mut c = Conn::open(&inet, SocketAddr::new(addr.into(), LISTENER_PORT));
            assert!(c.echoes(&format!("from the internet {n}")), "through {zone}'s public address {addr}");
            *seen.entry(c.backend).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 2, "both backends answer internet clients: {seen:?}");
}
