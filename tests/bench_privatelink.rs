//! `cargo bench -p vpc-tests --bench privatelink` (part of `cargo xtask
//! bench`): what the PrivateLink path costs. Real TCP from a consumer's
//! instance through an interface endpoint to the service's backend, against
//! clients of the provider's own VPC reaching the same backend, interleaved
//! within each round (ratios taken per round, in each mode).
//!
//! Five namespaces, each instance joined to the router namespace by a veth
//! pair: the consumer's client (eth0 10.0.1.10/24, consumer VPC, port r0),
//! two clients of the provider's VPC (10.0.2.10/24 on r1, 10.0.2.11/24 on
//! r3) and the backend (10.0.1.10/24 as well: both VPCs are 10.0.0.0/16,
//! EP-4; provider VPC, r2). The provider's load balancer is at 10.0.3.5
//! with listener TCP 80 -> the backend's port 8080; the consumer's endpoint
//! ENI is 10.0.1.100 (endpoint service over that load balancer, connection
//! accepted). The paths:
//!
//! - endpoint: consumer client -> 10.0.1.100:80 (the endpoint ENI) -> the
//!   load balancer's listener -> backend 10.0.1.10:8080, which sees the
//!   load balancer's address 10.0.3.5 as the source;
//! - direct: provider client -> backend 10.0.1.10:8080 (the baseline);
//! - NLB: the second provider client -> 10.0.3.5:80 -> backend (client
//!   address kept), so the endpoint's own cost shows apart from the load
//!   balancer's. A client of its own: a client port that went through the
//!   listener, reused for a direct connection to the same backend port,
//!   has its SYN-ACK rewritten as from the listener (the load balancer's
//!   reply state, `LB_REPLIES`, keyed by the backend's side of the tuple),
//!   and the direct connection never opens.
//!
//! Policies: the backend's security group admits TCP 8080 from
//! 10.0.0.0/16, the endpoint's admits TCP 80 from 10.0.1.0/24 (SG-4), the
//! clients are in groups without rules (egress default accept): conntrack
//! on the direct and NLB paths, the endpoint path judged on every packet
//! on both sides (its translation is its state).
//!
//! Modes: tc (`vpc_router_tc` at the tcx ingress of the router ports,
//! instances with transmit checksum offload on, the daemon's default) and
//! XDP (`vpc_router` on the router ports, the XDP_PASS instance program on
//! each eth0, checksum offload off).
//!
//! Figures: new TCP connections per second (K client threads, each connect
//! / write 64 B / read the 64 B reply / close in a loop; the backend's
//! server accepts, replies and closes after the client's FIN) and bulk TCP
//! (iperf3 `-t 5`, 1 flow and `-P 8`, `sum_received`). Checks, so that the
//! figures cannot be vacuous: the router sent at least the bytes iperf3
//! received out of the backend's port (the transfer crossed the router),
//! the backend saw the expected source address on every connection
//! (iperf3 server's peer addresses, the connections server's `accept`),
//! the router sent the backend at least 3 packets per completed connection,
//! and no drop counter of the router moved during a measured run, except
//! `nat_ports_exhausted` on the endpoint path's connections, noted with
//! the figure: the endpoint's port translations at the load balancer's
//! address are never freed (no expiry, no sweep; 64,512 ports per load
//! balancer address and protocol) and a new connection tries 8 consecutive
//! ports from a random one, so SYNs start to be dropped at about a third
//! of the ports taken, and more as they fill (each costs the client a 1 s
//! connect timeout here).
//!
//! `--smoke` makes every part tiny.
use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use aya::programs::{
    LinkOrder, TcAttachType, XdpMode,
    tc::{SchedClassifierLinkId, TcAttachOptions},
    xdp::XdpLinkId,
};
use vpc_common::DropReason;
use vpc_control::{
    compile,
    datapath::Datapath,
    model::{Model, eni_id_of},
    netns::{self, NetnsGuard},
    topology::{ROUTER_MAC, eni_mac},
};
use vpc_tests::{
    ScratchNs,
    bench::{Report, ratios, wanted},
};

const VPCS: &str = r#"
[[vpc]]
id = "vpc-consumer"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-c1"
vpc_id = "vpc-consumer"
cidr_block = "10.0.1.0/24"
zone_id = "zone-a"
[[instance]]
id = "i-client"
vswitch_id = "vsw-c1"
private_ip_address = "10.0.1.10"
security_group_ids = ["sg-client"]
[[security_group]]
id = "sg-client"
vpc_id = "vpc-consumer"
[[security_group]]
id = "sg-ep"
vpc_id = "vpc-consumer"
[[security_group.rule]]
id = "sgr-ep"
direction = "ingress"
ip_protocol = "tcp"
port_range = [80, 80]
peer = { cidr = "10.0.1.0/24" }
priority = 1

[[vpc]]
id = "vpc-provider"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-p1"
vpc_id = "vpc-provider"
cidr_block = "10.0.1.0/24"
zone_id = "zone-a"
[[vswitch]]
id = "vsw-p2"
vpc_id = "vpc-provider"
cidr_block = "10.0.2.0/24"
zone_id = "zone-a"
[[vswitch]]
id = "vsw-p3"
vpc_id = "vpc-provider"
cidr_block = "10.0.3.0/24"
zone_id = "zone-a"
[[instance]]
id = "i-web"
vswitch_id = "vsw-p1"
private_ip_address = "10.0.1.10"
security_group_ids = ["sg-web"]
[[instance]]
id = "i-pclient"
vswitch_id = "vsw-p2"
private_ip_address = "10.0.2.10"
security_group_ids = ["sg-pclient"]
[[instance]]
id = "i-pclient2"
vswitch_id = "vsw-p2"
private_ip_address = "10.0.2.11"
security_group_ids = ["sg-pclient"]
[[security_group]]
id = "sg-pclient"
vpc_id = "vpc-provider"
[[security_group]]
id = "sg-web"
vpc_id = "vpc-provider"
[[security_group.rule]]
id = "sgr-web"
direction = "ingress"
ip_protocol = "tcp"
port_range = [8080, 8080]
peer = { cidr = "10.0.0.0/16" }
priority = 1
"#;

const BACKEND: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const BACKEND_PORT: u16 = 8080;
const PROVIDER_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 10);
const PROVIDER_CLIENT2: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 11);
const ENDPOINT_ENI: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
const LB: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 5);
const LB_PORT: u16 = 80;
/// Concurrent client threads of the connections bench.
const WORKERS: usize = 8;
/// Bytes each connection sends, and the reply.
const MESSAGE: usize = 64;

/// How the router namespace forwards.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// `vpc_router_tc` at the tcx ingress of the router ports.
    Tc,
    /// `vpc_router` (XDP) on the router ports, `vpc_instance_rx` on the instances.
    Xdp,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Tc => "tc",
            Mode::Xdp => "XDP",
        }
    }
}

/// The paths measured.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    /// Consumer client -> endpoint ENI -> load balancer -> backend.
    Endpoint,
    /// Provider client -> backend.
    Direct,
    /// Provider client -> load balancer -> backend.
    Nlb,
}

const PATHS: [Path; 3] = [Path::Endpoint, Path::Direct, Path::Nlb];

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Endpoint => "consumer -> endpoint ENI -> NLB -> backend",
            Path::Direct => "provider client -> backend (direct)",
            Path::Nlb => "provider client 2 -> NLB -> backend",
        }
    }

    /// Where the client connects.
    fn target(self) -> SocketAddrV4 {
        match self {
            Path::Endpoint => SocketAddrV4::new(ENDPOINT_ENI, LB_PORT),
            Path::Direct => SocketAddrV4::new(BACKEND, BACKEND_PORT),
            Path::Nlb => SocketAddrV4::new(LB, LB_PORT),
        }
    }

    /// The source address the backend must see.
    fn seen_source(self) -> Ipv4Addr {
        match self {
            Path::Endpoint => LB,
            Path::Direct => PROVIDER_CLIENT,
            Path::Nlb => PROVIDER_CLIENT2,
        }
    }
}

/// A program attached by [`Bench::set_mode`], with the namespace of its device.
enum Link {
    RouterXdp(XdpLinkId),
    RouterTc(SchedClassifierLinkId),
    InstanceXdp(String, XdpLinkId),
}

/// A child process killed and reaped on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The bench topology; dropping it (also on a panic) deletes the
/// namespaces, and with them the veths and the attachments.
struct Bench {
    consumer: ScratchNs,
    provider: ScratchNs,
    /// The client of the load balancer path (see [`Bench::new`]).
    provider2: ScratchNs,
    backend: ScratchNs,
    router: ScratchNs,
    dp: Datapath,
    /// ifindex of r2 (the backend's port).
    r2: u32,
    mode: Option<Mode>,
    links: Vec<Link>,
}

fn mac(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// A namespace without IPv6 (no router solicitations or DAD in the figures).
fn namespace(prefix: &str) -> ScratchNs {
    let ns = ScratchNs::new(prefix);
    for key in ["net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"] {
        sysctl(&ns, key, "1");
    }
    ns
}

fn sysctl(ns: &ScratchNs, key: &str, value: &str) {
    netns::sysctl(&ns.0, key, value).unwrap_or_else(|e| panic!("{e}"));
}

impl Bench {
    fn new() -> Self {
        let consumer = namespace("vpcb-plc");
        let provider = namespace("vpcb-plp");
        let provider2 = namespace("vpcb-plq");
        let backend = namespace("vpcb-plb");
        let router = namespace("vpcb-plr");
        let instances = [
            (&consumer, "i-client", "r0", "10.0.1.10/24", "10.0.1.253"),
            (&provider, "i-pclient", "r1", "10.0.2.10/24", "10.0.2.253"),
            (&provider2, "i-pclient2", "r3", "10.0.2.11/24", "10.0.2.253"),
            (&backend, "i-web", "r2", "10.0.1.10/24", "10.0.1.253"),
        ];
        for (ns, id, port, addr, gw) in instances {
            ns.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", &router.0]);
            ns.ip(&["link", "set", "lo", "up"]);
            ns.ip(&["link", "set", "eth0", "address", &mac(eni_mac(&eni_id_of(id))), "up"]);
            ns.ip(&["addr", "add", addr, "dev", "eth0"]);
            ns.ip(&["route", "add", "default", "via", gw, "dev", "eth0"]);
            router.ip(&["link", "set", port, "address", &mac(ROUTER_MAC), "up"]);
        }
        // Many short connections from one address to one port: every
        // ephemeral port, and TIME_WAIT ports reused after a second.
        for ns in [&consumer, &provider, &provider2] {
            sysctl(ns, "net.ipv4.ip_local_port_range", "1024 65535");
            sysctl(ns, "net.ipv4.tcp_tw_reuse", "1");
        }
        let model = Model::from_toml(&format!("{VPCS}{}", vpc_tests::PRIVATELINK_SERVICE_TOML)).unwrap().with_system_route_tables();
        vpc_control::validate::validate(&model).unwrap_or_else(|e| panic!("{e}"));
        let _in = NetnsGuard::enter(&router.0).unwrap();
        let ports: BTreeMap<String, u32> = instances.iter().map(|(_, id, port, _, _)| (eni_id_of(id), router.ifindex(port))).collect();
        let mut dp = Datapath::load(None).unwrap_or_else(|e| panic!("loading the router: {e}"));
        // The table itself is measured: the default quota would refuse one
        // client's flows beyond an eighth of it.
        dp.set_conntrack_quota(vpc_common::ConntrackQuota::UNLIMITED).unwrap_or_else(|e| panic!("quota: {e}"));
        let desired = compile::compile(&model, &ports).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(desired.endpoint_enis.len(), 1, "the endpoint ENI is compiled");
        assert_eq!(desired.lb_listeners.len(), 1, "the listener is compiled");
        let current = dp.read().unwrap();
        dp.write(&current, &desired).unwrap_or_else(|e| panic!("writing the router maps: {e}"));
        let r2 = router.ifindex("r2");
        drop(_in);
        Bench { consumer, provider, provider2, backend, router, dp, r2, mode: None, links: Vec::new() }
    }

    /// The namespace of `path`'s client.
    fn client(&self, path: Path) -> &str {
        match path {
            Path::Endpoint => &self.consumer.0,
            Path::Direct => &self.provider.0,
            Path::Nlb => &self.provider2.0,
        }
    }

    /// Puts `mode` on the router ports and the instances.
    fn set_mode(&mut self, mode: Mode) {
        if self.mode == Some(mode) {
            return;
        }
        {
            let _in = NetnsGuard::enter(&self.router.0).unwrap();
            for link in self.links.drain(..) {
                match link {
                    Link::RouterXdp(id) => self.dp.router_program().unwrap().detach(id).unwrap(),
                    Link::RouterTc(id) => self.dp.router_tc_program().unwrap().detach(id).unwrap(),
                    Link::InstanceXdp(ns, id) => {
                        let _in_instance = NetnsGuard::enter(&ns).unwrap();
                        self.dp.instance_program().unwrap().detach(id).unwrap();
                    }
                }
            }
        }
        let instances = [self.consumer.0.clone(), self.provider.0.clone(), self.provider2.0.clone(), self.backend.0.clone()];
        for ns in &instances {
            netns::set_tx_checksum(ns, "eth0", mode != Mode::Xdp).unwrap_or_else(|e| panic!("{e}"));
        }
        {
            let _in = NetnsGuard::enter(&self.router.0).unwrap();
            for port in ["r0", "r1", "r2", "r3"] {
                let link = match mode {
                    Mode::Tc => {
                        let tcx = TcAttachOptions::TcxOrder(LinkOrder::default());
                        Link::RouterTc(self.dp.router_tc_program().unwrap().attach_with_options(port, TcAttachType::Ingress, tcx).unwrap())
                    }
                    Mode::Xdp => Link::RouterXdp(self.dp.router_program().unwrap().attach(port, XdpMode::Driver).unwrap()),
                };
                self.links.push(link);
            }
        }
        if mode == Mode::Xdp {
            for ns in instances {
                let _in = NetnsGuard::enter(&ns).unwrap();
                let id = self.dp.instance_program().unwrap().attach("eth0", XdpMode::Driver).unwrap();
                self.links.push(Link::InstanceXdp(ns, id));
            }
        }
        self.mode = Some(mode);
    }

    /// Bytes the router sent out of the backend's port, and the drop
    /// counters by reason.
    fn counters(&self) -> (u64, Vec<(DropReason, u64)>) {
        let c = self.dp.counters().unwrap_or_else(|e| panic!("counters: {e}"));
        let tx = c.ports.get(&self.r2).map_or(0, |p| p.tx_bytes);
        (tx, c.drops)
    }

    /// Packets the router sent out of the backend's port.
    fn backend_tx_packets(&self) -> u64 {
        let c = self.dp.counters().unwrap_or_else(|e| panic!("counters: {e}"));
        c.ports.get(&self.r2).map_or(0, |p| p.tx_packets)
    }

    /// The drop counters that grew since `before`, by how much.
    fn drops_since(&self, before: &[(DropReason, u64)]) -> Vec<(DropReason, u64)> {
        let (_, after) = self.counters();
        after.iter().zip(before).filter(|((_, n), (_, m))| n > m).map(|((r, n), (_, m))| (*r, n - m)).collect()
    }

    /// Panics if a drop counter grew since `before`.
    fn assert_no_drops(&self, before: &[(DropReason, u64)], what: &str) {
        let grown = self.drops_since(before);
        assert!(grown.is_empty(), "{what}: the router dropped packets: {}", names(&grown));
    }

    /// Bulk TCP over `path` in `mode` for `seconds` with `flows` parallel
    /// streams: Gbit/s received.
    fn bulk(&mut self, mode: Mode, path: Path, seconds: u32, flows: u32) -> f64 {
        self.set_mode(mode);
        let what = format!("bulk TCP ({}, -P {flows}): {}", mode.name(), path.name());
        let (tx_before, drops) = self.counters();
        // A one-off server: its report names the peers it saw.
        let server = Command::new("ip")
            .args(["netns", "exec", &self.backend.0, "iperf3", "-s", "-1", "-J", "-4", "-p", &BACKEND_PORT.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting iperf3 -s: {e}"));
        let mut server = Process(server);
        wait_listening(&self.backend.0, BACKEND_PORT);
        let (gbps, bytes) = iperf3(self.client(path), path.target(), seconds, flows);
        let report = wait_output(&mut server, Duration::from_secs(10));
        let (tx_after, _) = self.counters();
        let crossed = tx_after - tx_before;
        assert!(crossed >= bytes, "{what}: iperf3 reports {bytes} bytes received but the router sent only {crossed} bytes to the backend");
        let peers = iperf3_peers(&report);
        assert!(!peers.is_empty(), "{what}: no peer in the server's report:\n{report}");
        assert!(peers.iter().all(|p| *p == path.seen_source()), "{what}: the backend saw {peers:?}, expected {}", path.seen_source());
        if path == Path::Nlb {
            // The baseline paths' drops are reported, not fatal: at the end
            // of a bulk run through the NLB a few packets towards the
            // client have been dropped as sg_ingress (2 or 3 per run in the
            // 08:10 runs; not explained yet), which says nothing of the
            // endpoint path this bench measures.
            let grown = self.drops_since(&drops);
            if !grown.is_empty() {
                println!("note: {what}: the router dropped packets: {}", names(&grown));
            }
        } else {
            self.assert_no_drops(&drops, &what);
        }
        gbps
    }
}

fn names(drops: &[(DropReason, u64)]) -> String {
    drops.iter().map(|(r, n)| format!("{} +{n}", r.name())).collect::<Vec<_>>().join(", ")
}

/// Waits until something listens on TCP `port` in `ns` (at most 5 s).
fn wait_listening(ns: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = netns::exec(ns, "ss", &["-Hltn", &format!("sport = :{port}")]).unwrap_or_default();
        if !out.trim().is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on port {port} in {ns}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The standard output of `child` once it has exited (at most `timeout`).
fn wait_output(child: &mut Process, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "iperf3 did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut out = String::new();
    child.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    out
}

/// The peer addresses an iperf3 server's JSON report names: the control
/// connection's and every stream's.
fn iperf3_peers(report: &str) -> Vec<Ipv4Addr> {
    let v: serde_json::Value = serde_json::from_str(report).unwrap_or_else(|e| panic!("iperf3 -s -J output ({e}):\n{report}"));
    let start = &v["start"];
    let control = start["accepted_connection"]["host"].as_str();
    let streams = start["connected"].as_array().into_iter().flatten().map(|c| c["remote_host"].as_str());
    control.into_iter().map(Some).chain(streams).map(|h| h.and_then(|h| h.parse().ok()).unwrap_or(Ipv4Addr::UNSPECIFIED)).collect()
}

/// Runs the iperf3 client in `ns` against `target` for `seconds` with
/// `flows` streams: Gbit/s and bytes of `sum_received`.
fn iperf3(ns: &str, target: SocketAddrV4, seconds: u32, flows: u32) -> (f64, u64) {
    let child = Command::new("ip")
        .args(["netns", "exec", ns, "iperf3", "-4", "-c", &target.ip().to_string(), "-p", &target.port().to_string()])
        .args(["-t", &seconds.to_string(), "-P", &flows.to_string(), "-J", "--connect-timeout", "3000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting iperf3 -c in {ns}: {e}"));
    let mut child = Process(child);
    let stdout = wait_output(&mut child, Duration::from_secs(u64::from(seconds) + 20));
    let v: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("iperf3 -J output in {ns} ({e}):\n{stdout}"));
    if let Some(err) = v.get("error") {
        panic!("iperf3 in {ns} to {target}: {err}");
    }
    let sum = &v["end"]["sum_received"];
    let bps = sum["bits_per_second"].as_f64().unwrap_or_else(|| panic!("no sum_received in:\n{stdout}"));
    (bps / 1e9, sum["bytes"].as_u64().unwrap_or(0))
}

/// The backend's server of the connections bench: one thread per client
/// worker, accepting, reading the message, replying, then closing once the
/// client has (so the client holds the TIME_WAIT); it counts the
/// connections by the source address it saw.
struct ConnServer {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    peers: Arc<Mutex<BTreeMap<Ipv4Addr, u64>>>,
    ns: String,
}

impl ConnServer {
    fn start(ns: &str) -> Self {
        let listener = {
            let _in = NetnsGuard::enter(ns).unwrap();
            TcpListener::bind((BACKEND, BACKEND_PORT)).unwrap_or_else(|e| panic!("bind in {ns}: {e}"))
        };
        let stop = Arc::new(AtomicBool::new(false));
        let peers = Arc::new(Mutex::new(BTreeMap::new()));
        let threads = (0..WORKERS)
            .map(|_| {
                let (listener, stop, peers) = (listener.try_clone().unwrap(), stop.clone(), peers.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let Ok((mut s, peer)) = listener.accept() else { continue };
                        if let SocketAddr::V4(p) = peer {
                            *peers.lock().unwrap().entry(*p.ip()).or_insert(0) += 1;
                        }
                        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                        let _ = s.set_nodelay(true);
                        let mut buf = [0u8; MESSAGE];
                        if s.read_exact(&mut buf).is_ok() && s.write_all(&buf).is_ok() {
                            // Until the client's FIN.
                            let _ = s.read(&mut buf);
                        }
                    }
                })
            })
            .collect();
        ConnServer { stop, threads, peers, ns: ns.to_string() }
    }

    /// The connections accepted by source address since the last call.
    fn take_peers(&self) -> BTreeMap<Ipv4Addr, u64> {
        std::mem::take(&mut *self.peers.lock().unwrap())
    }
}

impl Drop for ConnServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake every accepting thread.
        if let Ok(_in) = NetnsGuard::enter(&self.ns) {
            for _ in 0..self.threads.len() {
                let _ = TcpStream::connect_timeout(&SocketAddr::from((BACKEND, BACKEND_PORT)), Duration::from_millis(200));
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One run of the connections bench.
struct ConnRun {
    /// Completed connections per second.
    rate: f64,
    /// Completed connections.
    done: u64,
    /// Connections that failed (refused, reset or timed out).
    failed: u64,
    /// The failures by step and error kind.
    errors: BTreeMap<String, u64>,
}

/// Connections per second from `WORKERS` threads in namespace `ns` to
/// `target` for `seconds`.
fn connections(ns: &str, target: SocketAddrV4, seconds: f64) -> ConnRun {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(Mutex::new(BTreeMap::new()));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (ns, done, failed, errors) = (ns.to_string(), done.clone(), failed.clone(), errors.clone());
            std::thread::spawn(move || {
                let _in = NetnsGuard::enter(&ns).unwrap();
                let message = [7u8; MESSAGE];
                let mut reply = [0u8; MESSAGE];
                while Instant::now() < deadline {
                    let r = TcpStream::connect_timeout(&SocketAddr::V4(target), Duration::from_secs(1))
                        .map_err(|e| ("connect", e))
                        .and_then(|mut s| {
                            s.set_read_timeout(Some(Duration::from_secs(1))).map_err(|e| ("set", e))?;
                            s.set_nodelay(true).map_err(|e| ("set", e))?;
                            s.write_all(&message).map_err(|e| ("write", e))?;
                            s.read_exact(&mut reply).map_err(|e| ("read", e))
                        });
                    match r {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err((step, e)) => {
                            *errors.lock().unwrap().entry(format!("{step}: {}", e.kind())).or_insert(0u64) += 1;
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let done = done.load(Ordering::Relaxed);
    let errors = std::mem::take(&mut *errors.lock().unwrap());
    ConnRun { rate: done as f64 / elapsed, done, failed: failed.load(Ordering::Relaxed), errors }
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke") || std::env::var_os("VPC_BENCH_SMOKE").is_some();
    let (rounds, seconds) = if smoke { (1, 1) } else { (3, 5) };
    let report = Report::new("privatelink");
    let mut b = Bench::new();
    const MODES: [Mode; 2] = [Mode::Tc, Mode::Xdp];

    // Bulk TCP: (mode, flows, path) -> Gbit/s per round.
    let (bulk_rounds, conn_rounds) = (if wanted("bulk") { rounds } else { 0 }, if wanted("connections") { rounds } else { 0 });
    if !smoke && bulk_rounds > 0 {
        // Warm-up: every path in every mode once (neighbours resolved).
        for mode in MODES {
            for path in PATHS {
                b.bulk(mode, path, 1, 1);
            }
        }
    }
    let mut bulk: BTreeMap<(&str, u32, usize), Vec<f64>> = BTreeMap::new();
    for _ in 0..bulk_rounds {
        for flows in [1, 8] {
            for mode in MODES {
                for (k, path) in PATHS.iter().enumerate() {
                    let gbps = b.bulk(mode, *path, seconds, flows);
                    bulk.entry((mode.name(), flows, k)).or_default().push(gbps);
                }
            }
        }
    }

    // New connections per second. Round 0 warms up (short, not recorded).
    let server = ConnServer::start(&b.backend.0);
    let mut conns: BTreeMap<(&str, usize), Vec<f64>> = BTreeMap::new();
    // Failed connections, SYNs dropped as nat_ports_exhausted.
    let mut failed: BTreeMap<(&str, usize), (u64, u64, BTreeMap<String, u64>)> = BTreeMap::new();
    // The endpoint path's SYNs dropped as nat_ports_exhausted, per round.
    let mut syn_drops: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for round in (0..=conn_rounds).filter(|_| conn_rounds > 0) {
        for mode in MODES {
            for (k, path) in PATHS.iter().enumerate() {
                b.set_mode(mode);
                let what = format!("new TCP connections ({}): {}", mode.name(), path.name());
                let (_, drops) = b.counters();
                let tx_before = b.backend_tx_packets();
                server.take_peers();
                let run = connections(b.client(*path), path.target(), if round == 0 { 0.2 } else { seconds as f64 });
                // The server may still be closing the last ones.
                std::thread::sleep(Duration::from_millis(100));
                let peers = server.take_peers();
                // Every connection crossed the router: at least its SYN,
                // data and FIN went out of the backend's port.
                let crossed = b.backend_tx_packets() - tx_before;
                assert!(crossed >= 3 * run.done, "{what}: {} connections, but the router sent only {crossed} packets to the backend", run.done);
                assert!(run.done > 0, "{what}: no connection completed ({} failed: {:?})", run.failed, run.errors);
                assert_eq!(peers.keys().copied().collect::<Vec<_>>(), vec![path.seen_source()], "{what}: the backend saw {peers:?}");
                assert!(peers[&path.seen_source()] >= run.done, "{what}: {} completed, the backend accepted {peers:?}", run.done);
                // The endpoint path's translations never expire and a new
                // connection tries 8 ports only: SYNs it cannot translate
                // are dropped as nat_ports_exhausted (counted, noted).
                let (exhausted, other): (Vec<_>, Vec<_>) = b
                    .drops_since(&drops)
                    .into_iter()
                    .partition(|(r, _)| *path == Path::Endpoint && *r == DropReason::NatPortsExhausted);
                assert!(other.is_empty(), "{what}: the router dropped packets: {}", names(&other));
                if round > 0 {
                    conns.entry((mode.name(), k)).or_default().push(run.rate);
                    let e = failed.entry((mode.name(), k)).or_default();
                    e.0 += run.failed;
                    for (k, n) in run.errors {
                        *e.2.entry(k).or_insert(0) += n;
                    }
                    let n = exhausted.iter().map(|(_, n)| n).sum::<u64>();
                    e.1 += n;
                    if *path == Path::Endpoint {
                        syn_drops.entry(mode.name()).or_default().push(n as f64);
                    }
                }
            }
        }
    }
    drop(server);

    for mode in MODES {
        let m = mode.name();
        for flows in [1, 8].into_iter().filter(|_| bulk_rounds > 0) {
            let what = if flows == 1 { "bulk TCP, 1 flow".to_string() } else { format!("bulk TCP, {flows} flows (-P {flows})") };
            for (k, path) in PATHS.iter().enumerate() {
                report.figure("privatelink", &format!("{what} ({m}): {}", path.name()), "Gbit/s", &bulk[&(m, flows, k)], "");
            }
            let [ep, direct, nlb] = [0, 1, 2].map(|k| &bulk[&(m, flows, k)]);
            report.figure("ratios", &format!("{what} ({m}): endpoint path / direct"), "x", &ratios(ep, direct), "");
            report.figure("ratios", &format!("{what} ({m}): endpoint path / NLB"), "x", &ratios(ep, nlb), "");
            report.figure("ratios", &format!("{what} ({m}): NLB / direct"), "x", &ratios(nlb, direct), "");
        }
        if conn_rounds == 0 {
            continue;
        }
        let what = "new TCP connections/s (sockets, end-to-end)";
        for (k, path) in PATHS.iter().enumerate() {
            let (f, exhausted, errors) = &failed[&(m, k)];
            let mut note = Vec::new();
            if *f > 0 {
                let errors: Vec<String> = errors.iter().map(|(e, n)| format!("{e} {n}")).collect();
                note.push(format!("{f} connections failed ({})", errors.join(", ")));
            }
            if *exhausted > 0 {
                note.push(format!("{exhausted} SYNs dropped: nat_ports_exhausted"));
            }
            let note = note.join("; ");
            report.figure("privatelink", &format!("{what} ({m}): {}", path.name()), "conn/s", &conns[&(m, k)], &note);
        }
        let note = "each costs its client a 1 s connect timeout; rounds without any: their ratios are the path's cost";
        report.figure("privatelink", &format!("{what} ({m}): endpoint path, SYNs dropped (nat_ports_exhausted)"), "SYNs", &syn_drops[m], note);
        let [ep, direct, nlb] = [0, 1, 2].map(|k| &conns[&(m, k)]);
        report.figure("ratios", &format!("{what} ({m}): endpoint path / direct"), "x", &ratios(ep, direct), "");
        report.figure("ratios", &format!("{what} ({m}): endpoint path / NLB"), "x", &ratios(ep, nlb), "");
        report.figure("ratios", &format!("{what} ({m}): NLB / direct"), "x", &ratios(nlb, direct), "");
    }
}
