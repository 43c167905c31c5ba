//! `cargo xtask bench` (part): real TCP through the router, against the
//! Linux stack on the same namespaces and veths, interleaved within each
//! round (ratios taken per round).
//!
//! Three namespaces joined by two veth pairs, addressed as the cloud's:
//! client (eth0 10.0.1.10/24, gateway 10.0.1.253), router (r0 towards the
//! client, r1 towards the server, both with the router's MAC), server (eth0
//! 10.0.2.10/24, gateway 10.0.2.253). The same namespaces and veths in every
//! mode:
//!
//! - ours (tc): `vpc_router_tc` at the tcx ingress of r0 and r1, instances
//!   with transmit checksum offload on (as the daemon's default mode);
//! - ours (XDP): `vpc_router` on r0 and r1, the XDP_PASS instance program
//!   on each eth0, instances with transmit checksum offload off (as the
//!   daemon's XDP mode);
//! - Linux forwarding: no program, the router ports hold the gateway
//!   addresses, ip_forward=1, checksum offload on.
//!
//! And a reference ceiling in two namespaces of their own: the client and
//! the server joined by one veth pair, no router.
//!
//! Bulk TCP: iperf3 (`-t 5`, 1 flow and `-P 8`), the server instance in a
//! security group allowing TCP 5201 from 10.0.1.0/24, the client in one
//! with no rules (egress default accept), so conntrack runs both ways. The
//! figure is iperf3's `sum_received`; in our modes the router's tx bytes of
//! the server's port must have grown by at least as many bytes (the
//! transfer crossed the router).
//!
//! New connections per second: K client threads (setns into the client),
//! each connect / write 64 B / read the 64 B reply / close in a loop; a
//! server thread per client accepting, reading, replying and closing after
//! the client's FIN, so every connection is SYN, SYN-ACK, ACK, data both
//! ways, FIN both ways, through conntrack. Ours (tc, XDP) with the security
//! groups above grown to 100 rules on the server plus a network ACL of 100
//! entries on its vSwitch (the flow allowed by the last of each), against
//! Linux + nftables with the same rules (bench::nftables_ruleset:
//! conntrack, established accepted, then the linear rules), Linux
//! forwarding without rules and the one-veth pair. The client namespaces
//! have a wide ephemeral port range and tcp_tw_reuse=1 (the client closes
//! first and keeps the TIME_WAIT). Besides the rate, the CPU time of this
//! process per connection: client and server threads, and the kernel's
//! work on them (veth, the router's program, netfilter: softirq work runs
//! on the thread that raised it, and is charged to it, unless ksoftirqd
//! takes it over); against the one-veth pair's, it would show what the
//! router hop costs, which the rate hides when the end hosts' TCP
//! stacks, sharing the same two cores, dominate (on this 2-core VM the
//! difference stays within the figure's noise). These socket figures are
//! end-to-end, bound by the endpoints: every mode comes out about the
//! same. The router-bound figures come from crafted packets instead
//! ([`crafted`], tests/bench_tcp_crafted.rs): the same connections, SYN to
//! last ACK, from an XDP generator on each side, one core, so that the
//! rate is the router's.
//!
//! `cargo bench -p vpc-tests --bench tcp -- --router-bound-only` runs only
//! the crafted part; `--smoke` makes every part tiny. With
//! `VPC_BENCH_ONLY=crafted VPC_BENCH_PROFILE_MODE=xdp` (or `tc`) it runs
//! only that mode of ours, 12 rounds, printed, nothing recorded: for
//! `perf record -a`, or to compare two builds quickly.
use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use aya::programs::{
    LinkOrder, TcAttachType, XdpMode,
    tc::{SchedClassifierLinkId, TcAttachOptions},
    xdp::XdpLinkId,
};
use ipnet::Ipv4Net;
use vpc_control::{
    compile,
    datapath::Datapath,
    model::{IpProtocol, Model, eni_id_of},
    netns::{self, NetnsGuard},
    topology::{ROUTER_MAC, eni_mac},
};
use vpc_tests::{
    ScratchNs,
    bench::{self, Report, ratios},
};

#[path = "bench_tcp_crafted.rs"]
mod crafted;

const MODEL: &str = r#"
[[vpc]]
id = "vpc-a"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-client"
vpc_id = "vpc-a"
cidr_block = "10.0.1.0/24"
[[vswitch]]
id = "vsw-server"
vpc_id = "vpc-a"
cidr_block = "10.0.2.0/24"
[[network_acl]]
id = "nacl-server"
vpc_id = "vpc-a"
[[instance]]
id = "i-client"
vswitch_id = "vsw-client"
private_ip_address = "10.0.1.10"
security_group_ids = ["sg-client"]
[[instance]]
id = "i-server"
vswitch_id = "vsw-server"
private_ip_address = "10.0.2.10"
security_group_ids = ["sg-server"]
[[security_group]]
id = "sg-client"
vpc_id = "vpc-a"
[[security_group]]
id = "sg-server"
vpc_id = "vpc-a"
"#;

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 10);
const PORT: u16 = 5201;
/// Concurrent client threads of the connections bench.
const WORKERS: usize = 8;
/// Bytes each connection sends, and the reply.
const MESSAGE: usize = 64;

/// How the router namespace forwards.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// `vpc_router_tc` at the tcx ingress of r0 and r1.
    Tc,
    /// `vpc_router` (XDP) on r0 and r1, `vpc_instance_rx` on the instances.
    Xdp,
    /// The Linux stack (gateway addresses on r0 and r1, ip_forward=1).
    Linux,
}

/// A program attached by [`Bench::set_mode`], with the namespace of its device.
enum Link {
    RouterXdp(XdpLinkId),
    RouterTc(SchedClassifierLinkId),
    InstanceXdp(String, XdpLinkId),
}

/// A child process (an iperf3 server) killed and reaped on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The bench topology. Dropped (also on a panic): the iperf3 servers are
/// killed, then the namespaces deleted (and with them the veths and the
/// attachments).
struct Bench {
    iperf_servers: Vec<Process>,
    client: ScratchNs,
    router: ScratchNs,
    server: ScratchNs,
    /// The reference: client and server joined by one veth pair.
    direct_client: ScratchNs,
    direct_server: ScratchNs,
    dp: Datapath,
    ports: BTreeMap<String, u32>,
    /// ifindex of r1 (the server's port).
    r1: u32,
    base: Model,
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
        netns::sysctl(&ns.0, key, "1").unwrap_or_else(|e| panic!("{e}"));
    }
    ns
}

fn sysctl(ns: &ScratchNs, key: &str, value: &str) {
    netns::sysctl(&ns.0, key, value).unwrap_or_else(|e| panic!("{e}"));
}

impl Bench {
    fn new() -> Self {
        let client = namespace("vpcb-tcpc");
        let router = namespace("vpcb-tcpr");
        let server = namespace("vpcb-tcps");
        client.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "r0", "netns", &router.0]);
        server.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "r1", "netns", &router.0]);
        for (ns, id, addr, gw) in [(&client, "i-client", "10.0.1.10/24", "10.0.1.253"), (&server, "i-server", "10.0.2.10/24", "10.0.2.253")] {
            ns.ip(&["link", "set", "lo", "up"]);
            ns.ip(&["link", "set", "eth0", "address", &mac(eni_mac(&eni_id_of(id))), "up"]);
            ns.ip(&["addr", "add", addr, "dev", "eth0"]);
            ns.ip(&["route", "add", "default", "via", gw, "dev", "eth0"]);
        }
        for port in ["r0", "r1"] {
            router.ip(&["link", "set", port, "address", &mac(ROUTER_MAC), "up"]);
        }
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
        ] {
            sysctl(&router, key, value);
        }

        let direct_client = namespace("vpcb-tcpdc");
        let direct_server = namespace("vpcb-tcpds");
        direct_client.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", &direct_server.0]);
        for (ns, addr) in [(&direct_client, "10.0.1.10/16"), (&direct_server, "10.0.2.10/16")] {
            ns.ip(&["link", "set", "lo", "up"]);
            ns.ip(&["link", "set", "eth0", "up"]);
            ns.ip(&["addr", "add", addr, "dev", "eth0"]);
        }
        // Many short connections from one address to one port: every
        // ephemeral port, and TIME_WAIT ports reused after a second.
        for ns in [&client, &direct_client] {
            sysctl(ns, "net.ipv4.ip_local_port_range", "1024 65535");
            sysctl(ns, "net.ipv4.tcp_tw_reuse", "1");
        }

        let base = Model::from_toml(MODEL).unwrap().with_system_route_tables();
        let (dp, ports, r1) = {
            let _in = NetnsGuard::enter(&router.0).unwrap();
            let mut dp = Datapath::load(None).unwrap_or_else(|e| panic!("loading the router: {e}"));
            // The table itself is measured (the baselines have no quota):
            // the default quota would refuse one client's flows beyond an
            // eighth of it.
            dp.set_conntrack_quota(vpc_common::ConntrackQuota::UNLIMITED).unwrap_or_else(|e| panic!("quota: {e}"));
            let r1 = router.ifindex("r1");
            let ports: BTreeMap<String, u32> = [(eni_id_of("i-client"), router.ifindex("r0")), (eni_id_of("i-server"), r1)].into();
            (dp, ports, r1)
        };
        let mut b = Bench {
            iperf_servers: Vec::new(),
            client,
            router,
            server,
            direct_client,
            direct_server,
            dp,
            ports,
            r1,
            base,
            mode: None,
            links: Vec::new(),
        };
        b.set_policies(1, false);
        b
    }

    /// Writes the model: the server's security group with `n` rules (the
    /// last allowing TCP 5201 from the client's vSwitch), the client's with
    /// none; with `acl`, a network ACL of `n` inbound entries on the
    /// server's vSwitch (the last allowing the same).
    fn set_policies(&mut self, n: usize, acl: bool) {
        let mut m = self.base.clone();
        let allow = (client_net(), IpProtocol::Tcp, PORT);
        m.security_groups.iter_mut().find(|g| g.id == "sg-server").unwrap().rules = bench::sg_rules_allowing(n, Some(allow));
        if acl {
            m.network_acls[0].ingress = bench::acl_entries_allowing(n, allow);
            m.vswitches.iter_mut().find(|v| v.id == "vsw-server").unwrap().network_acl_id = Some("nacl-server".into());
        }
        vpc_control::validate::validate(&m).unwrap_or_else(|e| panic!("{e}"));
        let desired = compile::compile(&m, &self.ports).unwrap_or_else(|e| panic!("{e}"));
        let _in = NetnsGuard::enter(&self.router.0).unwrap();
        let current = self.dp.read().unwrap();
        self.dp.write(&current, &desired).unwrap_or_else(|e| panic!("writing the router maps: {e}"));
    }

    /// Puts `mode` on the router namespace and the instances.
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
            for (port, gateway) in [("r0", "10.0.1.253/24"), ("r1", "10.0.2.253/24")] {
                self.router.ip(&["addr", "flush", "dev", port]);
                if mode == Mode::Linux {
                    self.router.ip(&["addr", "add", gateway, "dev", port]);
                }
            }
        }
        for ns in [&self.client.0, &self.server.0] {
            netns::set_tx_checksum(ns, "eth0", mode != Mode::Xdp).unwrap_or_else(|e| panic!("{e}"));
        }
        match mode {
            Mode::Tc => {
                let _in = NetnsGuard::enter(&self.router.0).unwrap();
                for port in ["r0", "r1"] {
                    let tcx = TcAttachOptions::TcxOrder(LinkOrder::default());
                    let id = self.dp.router_tc_program().unwrap().attach_with_options(port, TcAttachType::Ingress, tcx).unwrap();
                    self.links.push(Link::RouterTc(id));
                }
            }
            Mode::Xdp => {
                {
                    let _in = NetnsGuard::enter(&self.router.0).unwrap();
                    for port in ["r0", "r1"] {
                        let id = self.dp.router_program().unwrap().attach(port, XdpMode::Driver).unwrap();
                        self.links.push(Link::RouterXdp(id));
                    }
                }
                for ns in [self.client.0.clone(), self.server.0.clone()] {
                    let _in = NetnsGuard::enter(&ns).unwrap();
                    let id = self.dp.instance_program().unwrap().attach("eth0", XdpMode::Driver).unwrap();
                    self.links.push(Link::InstanceXdp(ns, id));
                }
            }
            Mode::Linux => {}
        }
        self.mode = Some(mode);
    }

    /// Bytes the router sent out of the server's port.
    fn server_port_tx_bytes(&self) -> u64 {
        self.dp.counters().unwrap().ports.get(&self.r1).map_or(0, |c| c.tx_bytes)
    }

    /// Starts an iperf3 server in the server namespace and in the direct
    /// one (killed when the bench drops, or by [`Self::stop_iperf_servers`]).
    fn start_iperf_servers(&mut self) {
        for ns in [self.server.0.clone(), self.direct_server.0.clone()] {
            let child = Command::new("ip")
                .args(["netns", "exec", &ns, "iperf3", "-s", "-4", "-p", &PORT.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting iperf3 -s in {ns}: {e}"));
            self.iperf_servers.push(Process(child));
            wait_listening(&ns, PORT);
        }
    }

    fn stop_iperf_servers(&mut self) {
        self.iperf_servers.clear();
    }

    /// Bulk TCP from the client to the server in `mode` (None: the direct
    /// pair) for `seconds` with `flows` parallel streams: Gbit/s received.
    fn bulk(&mut self, mode: Option<Mode>, seconds: u32, flows: u32) -> f64 {
        let client = match mode {
            Some(m) => {
                self.set_mode(m);
                self.client.0.clone()
            }
            None => self.direct_client.0.clone(),
        };
        let before = self.server_port_tx_bytes();
        let (gbps, bytes) = iperf3(&client, seconds, flows);
        let crossed = self.server_port_tx_bytes() - before;
        match mode {
            Some(Mode::Tc | Mode::Xdp) => assert!(
                crossed >= bytes,
                "{mode:?}: iperf3 reports {bytes} bytes received but the router sent only {crossed} bytes to the server"
            ),
            _ => assert_eq!(crossed, 0, "{mode:?}: the router's program saw the traffic"),
        }
        gbps
    }
}

fn client_net() -> Ipv4Net {
    "10.0.1.0/24".parse().unwrap()
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

/// Runs the iperf3 client in `ns` against the server for `seconds` with
/// `flows` streams: Gbit/s and bytes of `sum_received`.
fn iperf3(ns: &str, seconds: u32, flows: u32) -> (f64, u64) {
    let child = Command::new("ip")
        .args(["netns", "exec", ns, "iperf3", "-4", "-c", &SERVER.to_string(), "-p", &PORT.to_string()])
        .args(["-t", &seconds.to_string(), "-P", &flows.to_string(), "-J", "--connect-timeout", "3000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting iperf3 -c in {ns}: {e}"));
    let mut child = Process(child);
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds) + 20);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "iperf3 -c in {ns} did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = String::new();
    child.0.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("iperf3 -J output in {ns} ({e}):\n{stdout}"));
    if let Some(err) = v.get("error") {
        panic!("iperf3 in {ns}: {err}");
    }
    let sum = &v["end"]["sum_received"];
    let bps = sum["bits_per_second"].as_f64().unwrap_or_else(|| panic!("no sum_received in:\n{stdout}"));
    (bps / 1e9, sum["bytes"].as_u64().unwrap_or(0))
}

/// The server of the connections bench: one thread per client worker,
/// accepting, reading the message, replying, then closing once the client
/// has (so the client holds the TIME_WAIT).
struct ConnServer {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    ns: String,
}

impl ConnServer {
    fn start(ns: &str) -> Self {
        let listener = {
            let _in = NetnsGuard::enter(ns).unwrap();
            TcpListener::bind((SERVER, PORT)).unwrap_or_else(|e| panic!("bind in {ns}: {e}"))
        };
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..WORKERS)
            .map(|_| {
                let listener = listener.try_clone().unwrap();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let Ok((mut s, _)) = listener.accept() else { continue };
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
        ConnServer { stop, threads, ns: ns.to_string() }
    }
}

impl Drop for ConnServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake every accepting thread.
        if let Ok(_in) = NetnsGuard::enter(&self.ns) {
            for _ in 0..self.threads.len() {
                let _ = TcpStream::connect_timeout(&SocketAddr::from((SERVER, PORT)), Duration::from_millis(200));
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// True if a connection from namespace `client` to the server's port
/// `port` (which has a listener) is set up within 300 ms.
fn connects(client: &str, port: u16) -> bool {
    let _in = NetnsGuard::enter(client).unwrap();
    TcpStream::connect_timeout(&SocketAddr::from((SERVER, port)), Duration::from_millis(300)).is_ok()
}

/// CPU time (user + system) this process has used, in microseconds.
fn process_cpu_us() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut u), 0, "getrusage");
        u
    };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    us(u.ru_utime) + us(u.ru_stime)
}

/// One run of the connections bench.
struct ConnRun {
    /// Completed connections per second.
    rate: f64,
    /// Connections that failed (refused, reset or timed out).
    failed: u64,
    /// CPU time of this process (client and server threads, and the
    /// softirq work the kernel did on them: veth, the router's program or
    /// netfilter) per completed connection, in microseconds.
    cpu_us: f64,
}

/// Connections per second from `WORKERS` threads in namespace `ns` to the
/// server for `seconds`.
fn connections(ns: &str, seconds: f64) -> ConnRun {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let cpu = process_cpu_us();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (ns, done, failed) = (ns.to_string(), done.clone(), failed.clone());
            std::thread::spawn(move || {
                let _in = NetnsGuard::enter(&ns).unwrap();
                let message = [7u8; MESSAGE];
                let mut reply = [0u8; MESSAGE];
                while Instant::now() < deadline {
                    let ok = TcpStream::connect_timeout(&SocketAddr::from((SERVER, PORT)), Duration::from_secs(1))
                        .and_then(|mut s| {
                            s.set_read_timeout(Some(Duration::from_secs(1)))?;
                            s.set_nodelay(true)?;
                            s.write_all(&message)?;
                            s.read_exact(&mut reply)
                        })
                        .is_ok();
                    if ok { &done } else { &failed }.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = process_cpu_us() - cpu;
    let done = done.load(Ordering::Relaxed) as f64;
    ConnRun { rate: done / elapsed, failed: failed.load(Ordering::Relaxed), cpu_us: cpu / done.max(1.0) }
}

/// Values of one figure over the rounds (and the CPU per connection),
/// with failures noted.
#[derive(Default)]
struct Series {
    values: Vec<f64>,
    cpu_us: Vec<f64>,
    failed: u64,
}

impl Series {
    fn note(&self) -> String {
        if self.failed == 0 { String::new() } else { format!("{} connections failed", self.failed) }
    }
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke") || std::env::var_os("VPC_BENCH_SMOKE").is_some();
    let (rounds, seconds) = if smoke { (1, 1) } else { (3, 5) };
    let report = Report::new("tcp");
    if !std::env::args().any(|a| a == "--router-bound-only") {
        end_to_end(&report, smoke, rounds, seconds);
    }
    // Last: they pin this thread to CPU 0.
    if bench::wanted("crafted") {
        crafted::run(&report, smoke);
    }
    if bench::wanted("nlb") {
        crafted::run_lb(&report, smoke);
    }
}

/// The socket-based figures: bulk TCP and new connections per second
/// through real TCP stacks.
fn end_to_end(report: &Report, smoke: bool, rounds: usize, seconds: u32) {
    let mut b = Bench::new();

    // Bulk TCP.
    b.start_iperf_servers();
    if !smoke {
        // Warm-up: each mode once (neighbours resolved, caches filled).
        for mode in [Some(Mode::Tc), Some(Mode::Xdp), Some(Mode::Linux), None] {
            b.bulk(mode, 1, 1);
        }
    }
    const MODES: [(Option<Mode>, &str); 4] = [
        (Some(Mode::Tc), "ours (tc)"),
        (Some(Mode::Xdp), "ours (XDP)"),
        (Some(Mode::Linux), "Linux forwarding"),
        (None, "no router (one veth)"),
    ];
    let mut bulk: BTreeMap<(u32, &str), Vec<f64>> = BTreeMap::new();
    for _ in 0..rounds {
        for flows in [1, 8] {
            for (mode, name) in MODES {
                let gbps = b.bulk(mode, seconds, flows);
                bulk.entry((flows, name)).or_default().push(gbps);
            }
        }
    }
    b.stop_iperf_servers();
    for flows in [1, 8] {
        let what = if flows == 1 { "bulk TCP, 1 flow".to_string() } else { format!("bulk TCP, {flows} flows (-P {flows})") };
        for (_, name) in MODES {
            report.figure("tcp", &format!("{what}: {name}"), "Gbit/s", &bulk[&(flows, name)], "");
        }
        let linux = &bulk[&(flows, "Linux forwarding")];
        let direct = &bulk[&(flows, "no router (one veth)")];
        for ours in ["ours (tc)", "ours (XDP)"] {
            report.figure("ratios", &format!("{what}: {ours} / Linux forwarding"), "x", &ratios(&bulk[&(flows, ours)], linux), "");
        }
        report.figure("ratios", &format!("{what}: Linux forwarding / no router (one veth)"), "x", &ratios(linux, direct), "");
        report.figure("ratios", &format!("{what}: ours (tc) / no router (one veth)"), "x", &ratios(&bulk[&(flows, "ours (tc)")], direct), "");
    }

    // New connections per second through the policies.
    let n = 100;
    let allow = (client_net(), IpProtocol::Tcp, PORT);
    let nft = bench::nftables_ruleset(
        "vpcbench",
        "r1",
        &bench::acl_entries_allowing(n, allow),
        &bench::sg_rules_allowing(n, Some(allow)),
    );
    b.set_policies(n, true);
    let server = ConnServer::start(&b.server.0);
    let direct_server = ConnServer::start(&b.direct_server.0);
    // A port the rules do not open, with a listener: connections to it
    // show the policies are in force.
    let closed_port = PORT + 1;
    let _closed = {
        let _in = NetnsGuard::enter(&b.server.0).unwrap();
        TcpListener::bind((SERVER, closed_port)).unwrap_or_else(|e| panic!("bind: {e}"))
    };
    // (router mode, nftables rules loaded, name); no mode: the one-veth pair.
    let conn_modes: [(Option<Mode>, bool, String); 5] = [
        (Some(Mode::Tc), false, format!("ours (tc), ACL + SG {n} rules each")),
        (Some(Mode::Xdp), false, format!("ours (XDP), ACL + SG {n} rules each")),
        (Some(Mode::Linux), true, format!("Linux + nftables, conntrack + {n} + {n} rules")),
        (Some(Mode::Linux), false, "Linux forwarding (no rules)".to_string()),
        (None, false, "no router (one veth)".to_string()),
    ];
    let mut conns: Vec<Series> = conn_modes.iter().map(|_| Series::default()).collect();
    for round in 0..=rounds {
        for (k, (mode, nftables, name)) in conn_modes.iter().enumerate() {
            let client = match mode {
                Some(mode) => {
                    b.set_mode(*mode);
                    bench::nftables(&b.router.0, nftables.then_some(nft.as_str()));
                    if round == 0 {
                        let filtered = *mode != Mode::Linux || *nftables;
                        assert_eq!(connects(&b.client.0, closed_port), !filtered, "{name}: port {closed_port} (not allowed by the rules)");
                    }
                    &b.client.0
                }
                None => &b.direct_client.0,
            };
            // Round 0 warms up (a short run, not recorded).
            let run = connections(client, if round == 0 { 0.2 } else { seconds as f64 });
            if round > 0 {
                conns[k].values.push(run.rate);
                conns[k].cpu_us.push(run.cpu_us);
                conns[k].failed += run.failed;
            }
        }
    }
    bench::nftables(&b.router.0, None);
    drop(server);
    drop(direct_server);
    for (k, (_, _, name)) in conn_modes.iter().enumerate() {
        report.figure("tcp", &format!("new TCP connections/s, end-to-end (sockets, endpoint-bound): {name}"), "conn/s", &conns[k].values, &conns[k].note());
    }
    // CPU per connection: this process's (client, server, and the softirq
    // work done on their threads, where the router runs). Context for the
    // rates: the router hop's share, against the one-veth pair, is a few
    // microseconds, below what this figure resolves between rounds.
    for (k, (_, _, name)) in conn_modes.iter().enumerate() {
        report.figure("tcp", &format!("CPU per new TCP connection: {name}"), "us", &conns[k].cpu_us, "client + server + kernel work on their threads");
    }
    let what = "new TCP connections/s, end-to-end (sockets, endpoint-bound)";
    report.figure("ratios", &format!("{what}: ours (tc) / nftables"), "x", &ratios(&conns[0].values, &conns[2].values), "");
    report.figure("ratios", &format!("{what}: ours (XDP) / nftables"), "x", &ratios(&conns[1].values, &conns[2].values), "");
    report.figure("ratios", &format!("{what}: ours (tc) / Linux forwarding (no rules)"), "x", &ratios(&conns[0].values, &conns[3].values), "");
    report.figure("ratios", &format!("{what}: ours (XDP) / Linux forwarding (no rules)"), "x", &ratios(&conns[1].values, &conns[3].values), "");
}
