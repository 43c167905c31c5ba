//! NLB health checks through the real daemon (issue 20 item 3): backends
//! in namespaces running a TCP service behind a listener, checked by the
//! daemon from its health-check namespace through the router (judged by
//! the backends' security groups like any traffic). A backend whose service
//! dies leaves the ring within interval x unhealthy threshold (+ margin),
//! /metrics shows it Unavailable, and it comes back once healthy; a
//! backend whose security group does not admit 100.64.0.0/10 is never
//! Available; the listener stopped, the health-check port goes.
use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use vpc_control::{model::Model, netns, netns::NetnsGuard, store::Store, topology};
use vpc_tests::{ACCOUNT_ID, Daemon, assert_kernel_is_model, unique};

/// The listener address and port.
const LISTENER: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 0, 1, 5), 80);
/// The backends' service port.
const SERVICE_PORT: u16 = 8080;
/// Health check: every second, unavailable after 2 failures, available
/// after 2 successes.
const INTERVAL_S: u64 = 1;
const THRESHOLD: u64 = 2;

/// A client in vsw-1, backends web1 and web2 in vsw-2 (security group
/// admitting the clients and the health checks), web3 in vsw-2 in a group
/// admitting the clients only.
fn model(client: &str, web: [&str; 3]) -> Model {
    let text = format!(
        r#"
[[vpc]]
id = "vpc-hc"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-1"
vpc_id = "vpc-hc"
cidr_block = "10.0.1.0/24"
zone_id = "cn-hangzhou-a"
[[vswitch]]
id = "vsw-2"
vpc_id = "vpc-hc"
cidr_block = "10.0.2.0/24"
zone_id = "cn-hangzhou-a"
[[security_group]]
id = "sg-web"
vpc_id = "vpc-hc"
[[security_group.rule]]
id = "sgr-clients"
direction = "ingress"
ip_protocol = "tcp"
port_range = [{SERVICE_PORT}, {SERVICE_PORT}]
peer = {{ cidr = "10.0.1.0/24" }}
priority = 1
[[security_group.rule]]
id = "sgr-health"
direction = "ingress"
ip_protocol = "tcp"
port_range = [{SERVICE_PORT}, {SERVICE_PORT}]
peer = {{ cidr = "100.64.0.0/10" }}
priority = 1
[[security_group]]
id = "sg-closed"
vpc_id = "vpc-hc"
[[security_group.rule]]
id = "sgr-clients-only"
direction = "ingress"
ip_protocol = "tcp"
port_range = [{SERVICE_PORT}, {SERVICE_PORT}]
peer = {{ cidr = "10.0.1.0/24" }}
priority = 1
[[instance]]
id = "{client}"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.10"
[[instance]]
id = "{w1}"
vswitch_id = "vsw-2"
private_ip_address = "10.0.2.11"
security_group_ids = ["sg-web"]
[[instance]]
id = "{w2}"
vswitch_id = "vsw-2"
private_ip_address = "10.0.2.12"
security_group_ids = ["sg-web"]
[[instance]]
id = "{w3}"
vswitch_id = "vsw-2"
private_ip_address = "10.0.2.13"
security_group_ids = ["sg-closed"]
[[load_balancer]]
id = "nlb-hc"
vpc_id = "vpc-hc"
[[load_balancer.zone_mapping]]
zone_id = "cn-hangzhou-a"
vswitch_id = "vsw-1"
private_ipv4 = "{lb}"
[[server_group]]
id = "sgp-web"
vpc_id = "vpc-hc"
[server_group.health_check]
interval_s = {INTERVAL_S}
connect_timeout_s = 1
healthy_threshold = {THRESHOLD}
unhealthy_threshold = {THRESHOLD}
[[server_group.server]]
server_id = "{w1}"
server_type = "Ecs"
server_ip = "10.0.2.11"
port = {SERVICE_PORT}
zone_id = "cn-hangzhou-a"
[[server_group.server]]
server_id = "{w2}"
server_type = "Ecs"
server_ip = "10.0.2.12"
port = {SERVICE_PORT}
zone_id = "cn-hangzhou-a"
[[server_group.server]]
server_id = "{w3}"
server_type = "Ecs"
server_ip = "10.0.2.13"
port = {SERVICE_PORT}
zone_id = "cn-hangzhou-a"
[[listener]]
id = "lsn-hc"
load_balancer_id = "nlb-hc"
protocol = "TCP"
port = {port}
server_group_id = "sgp-web"
"#,
        w1 = web[0],
        w2 = web[1],
        w3 = web[2],
        lb = LISTENER.0,
        port = LISTENER.1,
    );
    Model::from_toml(&text).unwrap_or_else(|e| panic!("{e}"))
}

/// A TCP service in an instance namespace: answers each connection with
/// its name, until dropped (then its port refuses).
struct Service {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    fn start(ns: &str, name: &str) -> Self {
        let listener = {
            let _in = NetnsGuard::enter(ns).unwrap_or_else(|e| panic!("{e}"));
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, SERVICE_PORT))
                .unwrap_or_else(|e| panic!("bind in {ns}: {e}"))
        };
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, name) = (stop.clone(), name.to_string());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.write_all(name.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Service {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `n` new connections from the client namespace to the listener: how
/// many each backend answered (`refused`/`timeout` for failures).
fn spread(client: &str, n: usize) -> BTreeMap<String, usize> {
    let _in = NetnsGuard::enter(client).unwrap_or_else(|e| panic!("{e}"));
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let who =
            match TcpStream::connect_timeout(&SocketAddr::from(LISTENER), Duration::from_secs(1)) {
                Ok(mut s) => {
                    s.set_read_timeout(Some(Duration::from_secs(1))).ok();
                    let mut name = String::new();
                    match s.read_to_string(&mut name) {
                        Ok(_) if !name.is_empty() => name,
                        _ => "timeout".to_string(),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    "refused".to_string()
                }
                Err(_) => "timeout".to_string(),
            };
        *out.entry(who).or_default() += 1;
    }
    out
}

/// GET /metrics on the daemon's metrics address.
fn scrape(d: &Daemon) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", d.metrics_port)).expect("metrics connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw
}

/// The health status /metrics gives the backend at `ip`, if any.
fn status(metrics: &str, ip: &str) -> Option<String> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix("vpc_nlb_server_health_status{")?;
        let (labels, value) = rest.split_once("} ")?;
        if value.trim() != "1" || !labels.contains(&format!("server_ip=\"{ip}\"")) {
            return None;
        }
        let s = labels.split("status=\"").nth(1)?;
        Some(s.split('"').next()?.to_string())
    })
}

/// The number of checks of the backend at `ip` with `result`.
fn checks(metrics: &str, ip: &str, result: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("vpc_nlb_health_checks_total{"))
        .filter(|l| {
            l.contains(&format!("server_ip=\"{ip}\""))
                && l.contains(&format!("result=\"{result}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Waits (up to `limit`) until /metrics shows `want` for each backend;
/// the time it took.
fn wait_status(d: &Daemon, want: &[(&str, &str)], limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let m = scrape(d);
        if want
            .iter()
            .all(|(ip, s)| status(&m, ip).as_deref() == Some(*s))
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "backends not {want:?} within {limit:?}:\n{}\nlog:\n{}",
            m.lines()
                .filter(|l| l.starts_with("vpc_nlb_"))
                .collect::<Vec<_>>()
                .join("\n"),
            d.log(d.starts())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn nlb_health_checks_take_a_dead_backend_out_of_the_ring_and_back() {
    let mut d = Daemon::new(true);
    let client = format!("i-{}", unique("hcc"));
    let web = [
        format!("i-{}", unique("hcw")),
        format!("i-{}", unique("hcw")),
        format!("i-{}", unique("hcw")),
    ];
    // The daemon starts on a stored model with the load balancer.
    {
        std::fs::create_dir_all(d.state_dir()).unwrap();
        let mut store = Store::open(&d.state_dir()).unwrap_or_else(|e| panic!("{e}"));
        let mut m = model(&client, [&web[0], &web[1], &web[2]]);
        // The test account's, in the region DescribeInstances asks for.
        let metas = (m.instances.iter_mut().map(|i| &mut i.meta))
            .chain(m.load_balancers.iter_mut().map(|l| &mut l.meta))
            .chain(m.server_groups.iter_mut().map(|g| &mut g.meta))
            .chain(m.listeners.iter_mut().map(|l| &mut l.meta));
        for meta in metas {
            meta.owner_id = ACCOUNT_ID.to_string();
            meta.region_id = "cn-hangzhou".to_string();
        }
        store
            .save(&Model::default(), &m)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    d.spawn(&[]);
    let hc_ns = topology::health_check_namespace(&d.namespace, "vpc-hc");
    assert!(netns::exists(&hc_ns), "the health-check namespace {hc_ns}");
    let _web1 = Service::start(&web[0], "web1");
    let web2 = Service::start(&web[1], "web2");
    let _web3 = Service::start(&web[2], "web3");
    let window = Duration::from_secs(INTERVAL_S * THRESHOLD);
    let margin = Duration::from_secs(3);

    // Both healthy backends become Available; web3's group does not admit
    // the checks' source: Unavailable, though its service answers clients.
    wait_status(
        &d,
        &[
            ("10.0.2.11", "Available"),
            ("10.0.2.12", "Available"),
            ("10.0.2.13", "Unavailable"),
        ],
        Duration::from_secs(20),
    );
    let m = scrape(&d);
    assert!(checks(&m, "10.0.2.11", "success") >= THRESHOLD, "{m}");
    assert!(checks(&m, "10.0.2.13", "failure") >= THRESHOLD, "{m}");
    // New connections spread over the available ones only.
    let deadline = Instant::now() + window + margin;
    let seen = loop {
        let seen = spread(&client, 40);
        if seen.keys().all(|k| k == "web1" || k == "web2") || Instant::now() > deadline {
            break seen;
        }
    };
    assert!(
        seen.get("web1").is_some() && seen.get("web2").is_some(),
        "{seen:?}"
    );
    assert_eq!(
        seen.values().sum::<usize>(),
        seen["web1"] + seen["web2"],
        "{seen:?}"
    );

    // web2's service dies: Unavailable within interval x threshold (+
    // margin), and then every new connection goes to web1.
    let killed = Instant::now();
    drop(web2);
    let took = wait_status(&d, &[("10.0.2.12", "Unavailable")], window + margin);
    let seen = loop {
        let seen = spread(&client, 40);
        if seen.keys().all(|k| k == "web1") {
            break seen;
        }
        assert!(
            killed.elapsed() < window + margin,
            "connections still not all on web1 {:?} after the kill: {seen:?}",
            killed.elapsed()
        );
    };
    let out_of_ring = killed.elapsed();
    eprintln!(
        "web2 killed: Unavailable in /metrics after {took:?}, all new connections on web1 after {out_of_ring:?} (interval {INTERVAL_S} s x threshold {THRESHOLD}); {seen:?}"
    );
    assert_eq!(
        status(&scrape(&d), "10.0.2.11").as_deref(),
        Some("Available")
    );
    // ListServerGroupServers says the same.
    let listed = d.call(
        "ListServerGroupServers",
        &[("RegionId", "cn-hangzhou")],
    );
    let by_ip: BTreeMap<String, String> = listed["Servers"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .map(|s| (s["ServerIp"].as_str().unwrap().to_string(), s["Status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(by_ip.get("10.0.2.12").map(String::as_str), Some("Unavailable"), "{listed}");
    assert_eq!(by_ip.get("10.0.2.11").map(String::as_str), Some("Available"), "{listed}");

    // It comes back once healthy again.
    let _web2 = Service::start(&web[1], "web2");
    let back = wait_status(&d, &[("10.0.2.12", "Available")], window + margin);
    let deadline = Instant::now() + margin;
    let seen = loop {
        let seen = spread(&client, 40);
        if seen.contains_key("web2") || Instant::now() > deadline {
            break seen;
        }
    };
    assert!(
        seen.contains_key("web2") && seen.contains_key("web1"),
        "{seen:?}"
    );
    assert!(
        !seen.contains_key("web3") && !seen.contains_key("refused"),
        "{seen:?}"
    );
    eprintln!("web2 started again: Available after {back:?}; {seen:?}");
    // The health-check port is a router port like an instance's: recorded,
    // attached, in the port map.
    assert_kernel_is_model(&d, "with a health-check port");

    // Its listener stopped, the VPC needs no checks: the servers leave
    // /metrics. The port and its namespace stay: they are the VPC's
    // services port, where its instances' resolver answers (docs/dns.md).
    d.call(
        "StopListener",
        &[("RegionId", "cn-hangzhou"), ("ListenerId", "lsn-hc")],
    );
    assert!(netns::exists(&hc_ns), "{hc_ns} kept for the VPC's resolver");
    assert_kernel_is_model(&d, "with the services port, no checks");
    let deadline = Instant::now() + Duration::from_secs(5);
    while status(&scrape(&d), "10.0.2.11").is_some() {
        assert!(Instant::now() < deadline, "servers still in /metrics");
        std::thread::sleep(Duration::from_millis(100));
    }
}
