//! `cargo xtask bench` (part): packets per second through a real pipeline,
//! our XDP router against the Linux stack on the same topology, same core,
//! same run.
//!
//! Three namespaces: generator (veth g0), router (r0 towards the generator,
//! r1 towards the sink), sink (s0). The generator is `bench_generator`
//! (vpc-ebpf/src/bench.rs) run by BPF_PROG_TEST_RUN in live-frames mode on
//! g0: every frame is XDP_TXed into r0. The sink is `bench_sink` on s0,
//! counting and dropping what arrives (its XDP program is also what makes
//! veth s0 accept frames redirected into r1); in the router's tc mode,
//! `bench_sink_tc` at s0's tcx ingress counts instead (a socket buffer
//! bpf_redirect_peer'd into s0 never passes its XDP program). The whole
//! loop runs on CPU 0 (this thread pinned; veth NAPI runs where the frames
//! are sent), so it is closed: no queue overflows, rate = frames received /
//! wall time.
//!
//! Modes, interleaved within each round (the ratio is taken per round):
//! XDP_DROP on r0 (the ceiling); our router, routes only, as XDP and as tc
//! (`vpc_router_tc` at the tcx ingress of r0 and r1: the generator's frames
//! reach r0 as XDP frames, and with GRO on r0 the kernel makes socket
//! buffers of them, which tc sees), against Linux
//! forwarding (GRO on r0, ip_forward=1); our router with a network ACL of N
//! entries on the sink's vSwitch and a security group of N rules on the sink
//! against nftables with the same rules (conntrack + N linear rules), one
//! flow and then 64,000 (more than the flow cache holds); random
//! destinations over 1k/100k/1M prefixes against the kernel FIB holding the
//! same routes. Every figure checks sent = received; a loss is marked.
use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, PerCpuArray},
    programs::{
        LinkOrder, SchedClassifier, TcAttachType, TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode,
        tc::{SchedClassifierLinkId, TcAttachOptions},
        xdp::XdpLinkId,
    },
};
use ipnet::Ipv4Net;
use vpc_control::{
    compile::{self, MapEntries},
    datapath::{BENCH_OBJECT, Datapath},
    model::{Model, eni_id_of},
    netns::NetnsGuard,
    topology::{ROUTER_MAC, eni_mac},
};
use vpc_tests::{
    ScratchNs,
    bench::{self, Report, median, ratios},
    inet_csum,
};

const MODEL: &str = r#"
[[vpc]]
id = "vpc-a"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-gen"
vpc_id = "vpc-a"
cidr_block = "10.0.1.0/24"
route_table_id = "vtb-gen"
[[vswitch]]
id = "vsw-sink"
vpc_id = "vpc-a"
cidr_block = "10.0.2.0/24"
[[route_table]]
id = "vtb-gen"
vpc_id = "vpc-a"
[[route_table.route_entry]]
destination_cidr_block = "100.64.0.0/10"
next_hop_type = "Instance"
next_hop_id = "i-sink"
[[network_acl]]
id = "nacl-sink"
vpc_id = "vpc-a"
[[instance]]
id = "i-gen"
vswitch_id = "vsw-gen"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-sink"
vswitch_id = "vsw-sink"
private_ip_address = "10.0.2.10"
source_dest_check = false
[[security_group]]
id = "sg-sink"
vpc_id = "vpc-a"
"#;

const GEN: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const SINK: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 10);
const BENCH_PORT: u16 = 5000;
/// The load balancer's address in the `nlb` runs.
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 5);
/// Backends of the load balancer in the `nlb` runs.
const LB_BACKENDS: u16 = 8;
/// Frames per live-frames batch.
const BATCH: u32 = 64;

/// The 42 header bytes every generated frame carries: Ethernet to the
/// router's MAC, IPv4 10.0.1.10 -> 10.0.2.10 (TTL 64, checksum), UDP 40000
/// -> 5000 (length for a 60-byte frame, checksum 0).
fn headers() -> [u8; 42] {
    let mut h = [0u8; 42];
    h[0..6].copy_from_slice(&ROUTER_MAC);
    h[6..12].copy_from_slice(&eni_mac(&eni_id_of("i-gen")));
    h[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut h[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&46u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&GEN.octets());
    ip[16..20].copy_from_slice(&SINK.octets());
    let c = inet_csum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    // Source port: the first of the range the generator draws from in the
    // many-flows runs.
    h[34..36].copy_from_slice(&1024u16.to_be_bytes());
    h[36..38].copy_from_slice(&BENCH_PORT.to_be_bytes());
    h[38..40].copy_from_slice(&26u16.to_be_bytes());
    h
}

/// Pins the calling thread to CPU 0.
fn pin_to_cpu0() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes a bit
    // inside it; sched_setaffinity reads it for this thread (pid 0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set), 0, "pinning to CPU 0");
    }
}

/// Where the frames go after r0.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Router {
    /// XDP_DROP (the sink program) on r0.
    XdpDrop,
    /// Our router's XDP program on r0 and r1.
    Ours,
    /// Our router's tc program at the tcx ingress of r0 and r1 (and the tc
    /// sink at s0's).
    OursTc,
    /// No XDP on r0: the Linux stack forwards.
    Linux,
}

/// A program attached by [`Pipeline::set_mode`].
enum Link {
    /// An XDP program: "router" (ours) or a bench program by name.
    Xdp(&'static str, XdpLinkId),
    /// A tcx program: "router" (ours) or a bench program by name.
    Tc(&'static str, SchedClassifierLinkId),
}

/// The bench topology. Its namespaces (and with them the veths, XDP
/// attachments, routes and nftables rules) are deleted when it drops, also
/// on a panic.
struct Pipeline {
    generator: ScratchNs,
    router: ScratchNs,
    sink: ScratchNs,
    g0: u32,
    tools: Ebpf,
    dp: Datapath,
    ports: BTreeMap<String, u32>,
    base: Model,
    /// The entries written for the current model (without extra routes).
    written: MapEntries,
    mode: Option<Router>,
    links: Vec<Link>,
    /// Frames sent per second in the last measurement of each mode (to size the next).
    last_rate: BTreeMap<String, f64>,
    seconds: f64,
}

impl Pipeline {
    fn new(seconds: f64) -> Self {
        let generator = ScratchNs::new("vpcb-gen");
        let router = ScratchNs::new("vpcb-rt");
        let sink = ScratchNs::new("vpcb-sink");
        generator.ip(&["link", "add", "g0", "type", "veth", "peer", "name", "r0", "netns", &router.0]);
        sink.ip(&["link", "add", "s0", "type", "veth", "peer", "name", "r1", "netns", &router.0]);
        let mac = |m: [u8; 6]| m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
        generator.ip(&["link", "set", "g0", "address", &mac(eni_mac(&eni_id_of("i-gen"))), "up"]);
        sink.ip(&["link", "set", "s0", "address", &mac(eni_mac(&eni_id_of("i-sink"))), "up"]);
        for port in ["r0", "r1"] {
            router.ip(&["link", "set", port, "address", &mac(ROUTER_MAC), "up"]);
        }
        // The Linux side of the router, used when no XDP program is on r0.
        router.ip(&["addr", "add", "10.0.1.1/24", "dev", "r0"]);
        router.ip(&["addr", "add", "10.0.2.1/24", "dev", "r1"]);
        router.ip(&["neigh", "replace", &SINK.to_string(), "lladdr", &mac(eni_mac(&eni_id_of("i-sink"))), "dev", "r1", "nud", "permanent"]);
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv4.conf.r0.rp_filter", "0"),
        ] {
            vpc_control::netns::sysctl(&router.0, key, value).unwrap_or_else(|e| panic!("{e}"));
        }
        // Without GRO (or an XDP program) veth r0 drops what g0 XDP_TXes.
        vpc_control::netns::exec(&router.0, "ethtool", &["-K", "r0", "gro", "on"]).unwrap_or_else(|e| panic!("{e}"));
        let g0 = generator.ifindex("g0");

        let headers = headers();
        let mut tools = EbpfLoader::new()
            .override_global("GEN_HEADERS", &headers, true)
            .load(BENCH_OBJECT)
            .unwrap_or_else(|e| panic!("loading the bench programs: {e}"));
        for name in ["bench_generator", "bench_sink"] {
            let p: &mut Xdp = tools.program_mut(name).unwrap().try_into().unwrap();
            p.load().unwrap_or_else(|e| panic!("loading {name}: {e}"));
        }
        {
            let p: &mut SchedClassifier = tools.program_mut("bench_sink_tc").unwrap().try_into().unwrap();
            p.load().unwrap_or_else(|e| panic!("loading bench_sink_tc: {e}"));
        }
        {
            let _in = NetnsGuard::enter(&generator.0).unwrap();
            let p: &mut Xdp = tools.program_mut("bench_generator").unwrap().try_into().unwrap();
            // Live frames need an XDP program on the device they are sent from.
            p.attach("g0", XdpMode::Driver).unwrap_or_else(|e| panic!("attaching the generator: {e}"));
        }
        {
            let _in = NetnsGuard::enter(&sink.0).unwrap();
            let p: &mut Xdp = tools.program_mut("bench_sink").unwrap().try_into().unwrap();
            p.attach("s0", XdpMode::Driver).unwrap_or_else(|e| panic!("attaching the sink: {e}"));
        }

        let base = Model::from_toml(MODEL).unwrap().with_system_route_tables();
        let (dp, ports) = {
            let _in = NetnsGuard::enter(&router.0).unwrap();
            let mut dp = Datapath::load(None).unwrap_or_else(|e| panic!("loading the router: {e}"));
            // The table itself is measured (the baselines have no quota):
            // the default quota would refuse one client's flows beyond an
            // eighth of it.
            dp.set_conntrack_quota(vpc_common::ConntrackQuota::UNLIMITED).unwrap_or_else(|e| panic!("quota: {e}"));
            let ports: BTreeMap<String, u32> =
                [(eni_id_of("i-gen"), router.ifindex("r0")), (eni_id_of("i-sink"), router.ifindex("r1"))].into();
            (dp, ports)
        };
        let mut p = Pipeline {
            generator,
            router,
            sink,
            g0,
            tools,
            dp,
            ports,
            base: base.clone(),
            written: MapEntries::default(),
            mode: None,
            links: Vec::new(),
            last_rate: BTreeMap::new(),
            seconds,
        };
        p.set_policies(None);
        p
    }

    /// Writes the model: without policies, or with a network ACL of `n`
    /// entries on the sink's vSwitch and a security group of `n` rules on the
    /// sink (the bench flow allowed by the last of each).
    fn set_policies(&mut self, n: Option<usize>) {
        let mut m = self.base.clone();
        if let Some(n) = n {
            let gen_net: Ipv4Net = "10.0.1.0/24".parse().unwrap();
            m.network_acls[0].ingress = bench::acl_entries(n, (gen_net, BENCH_PORT));
            m.vswitches.iter_mut().find(|v| v.id == "vsw-sink").unwrap().network_acl_id = Some("nacl-sink".into());
            m.security_groups[0].rules = bench::sg_rules(n, Some((gen_net, BENCH_PORT)));
            m.instances.iter_mut().find(|i| i.id == "i-sink").unwrap().security_group_ids = vec!["sg-sink".into()];
        }
        vpc_control::validate::validate(&m).unwrap_or_else(|e| panic!("{e}"));
        let desired = compile::compile(&m, &self.ports).unwrap_or_else(|e| panic!("{e}"));
        self.write(&desired);
        self.written = desired;
    }

    /// Writes the model with a load balancer (address [`VIP`] in its own
    /// vSwitch) whose UDP listener on [`BENCH_PORT`] balances over
    /// `backends` ports of the sink (`BENCH_PORT` and up), or without it.
    fn set_load_balancer(&mut self, backends: Option<u16>) {
        let Some(n) = backends else {
            self.set_policies(None);
            return;
        };
        let sink = SINK.to_string();
        let servers: Vec<(&str, &str, Ipv4Addr, u16)> = (0..n).map(|i| ("Ip", sink.as_str(), SINK, BENCH_PORT + i)).collect();
        let lb = bench::load_balancer_toml(VIP, "UDP", BENCH_PORT, &servers);
        let mut m = Model::from_toml(&(MODEL.to_string() + &lb)).unwrap().with_system_route_tables();
        m.allocate_numeric_ids();
        vpc_control::validate::validate(&m).unwrap_or_else(|e| panic!("{e}"));
        let desired = compile::compile(&m, &self.ports).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(desired.lb_listeners.len(), 1, "the listener is compiled");
        self.write(&desired);
        self.written = desired;
    }

    /// Adds `prefixes` to the generator's route table (next hop: the sink).
    fn set_routes(&mut self, prefixes: &[(Ipv4Net, Ipv4Addr)]) {
        let desired = bench::with_routes_like_100_64(&self.written, prefixes);
        self.write(&desired);
    }

    fn write(&mut self, desired: &MapEntries) {
        let _in = NetnsGuard::enter(&self.router.0).unwrap();
        let current = self.dp.read().unwrap();
        self.dp.write(&current, desired).unwrap_or_else(|e| panic!("writing the router maps: {e}"));
    }

    /// Puts `mode` on r0 (and r1).
    fn set_mode(&mut self, mode: Router) {
        if self.mode == Some(mode) {
            return;
        }
        let _in = NetnsGuard::enter(&self.router.0).unwrap();
        for link in self.links.drain(..) {
            match link {
                Link::Xdp("router", id) => self.dp.router_program().unwrap().detach(id).unwrap(),
                Link::Xdp(name, id) => {
                    let p: &mut Xdp = self.tools.program_mut(name).unwrap().try_into().unwrap();
                    p.detach(id).unwrap();
                }
                Link::Tc("router", id) => self.dp.router_tc_program().unwrap().detach(id).unwrap(),
                Link::Tc(name, id) => {
                    let p: &mut SchedClassifier = self.tools.program_mut(name).unwrap().try_into().unwrap();
                    p.detach(id).unwrap();
                }
            }
        }
        match mode {
            Router::XdpDrop => {
                let p: &mut Xdp = self.tools.program_mut("bench_sink").unwrap().try_into().unwrap();
                self.links.push(Link::Xdp("bench_sink", p.attach("r0", XdpMode::Driver).unwrap()));
            }
            Router::Ours => {
                for port in ["r0", "r1"] {
                    let id = self.dp.router_program().unwrap().attach(port, XdpMode::Driver).unwrap();
                    self.links.push(Link::Xdp("router", id));
                }
            }
            Router::OursTc => {
                let tcx = || TcAttachOptions::TcxOrder(LinkOrder::default());
                for port in ["r0", "r1"] {
                    let id = self.dp.router_tc_program().unwrap().attach_with_options(port, TcAttachType::Ingress, tcx()).unwrap();
                    self.links.push(Link::Tc("router", id));
                }
                // Attaching resolves the name in the thread's namespace
                // (detaching goes by the link, wherever it is).
                let _in_sink = NetnsGuard::enter(&self.sink.0).unwrap();
                let p: &mut SchedClassifier = self.tools.program_mut("bench_sink_tc").unwrap().try_into().unwrap();
                let id = p.attach_with_options("s0", TcAttachType::Ingress, tcx()).unwrap();
                self.links.push(Link::Tc("bench_sink_tc", id));
            }
            Router::Linux => {}
        }
        self.mode = Some(mode);
    }

    /// Frames the sink programs have counted (r0 in XDP_DROP mode, else s0).
    fn received(&self) -> u64 {
        let m: PerCpuArray<_, u64> = PerCpuArray::try_from(self.tools.map("SINK_FRAMES").unwrap()).unwrap();
        m.get(&0, 0).unwrap().iter().sum()
    }

    /// Sends through `mode` for about `self.seconds`: Mpps and frames lost.
    fn measure(&mut self, key: &str, mode: Router) -> (f64, u64) {
        self.set_mode(mode);
        let frames = match self.last_rate.get(key) {
            Some(rate) => (rate * self.seconds) as u32,
            None => 20_000,
        }
        .clamp(10_000, 50_000_000);
        let mut frame = vec![0u8; 60];
        frame[..42].copy_from_slice(&headers());
        let ctx = vpc_tests::xdp_md(self.g0, frame.len());
        let before = self.received();
        let elapsed = {
            let _in = NetnsGuard::enter(&self.generator.0).unwrap();
            let p: &Xdp = self.tools.program("bench_generator").unwrap().try_into().unwrap();
            let mut opts = TestRunOptions::new();
            opts.data_in = Some(&frame);
            opts.ctx_in = Some(&ctx);
            opts.repeat = frames;
            opts.attrs = TestRunAttrs::new().xdp_live_frames(BATCH);
            let t = Instant::now();
            p.test_run(opts).unwrap_or_else(|e| panic!("live frames: {e}"));
            t.elapsed()
        };
        // Let the last batch drain (softirq on this CPU).
        std::thread::sleep(Duration::from_millis(20));
        let received = self.received() - before;
        let rate = received as f64 / elapsed.as_secs_f64();
        self.last_rate.insert(key.to_string(), frames as f64 / elapsed.as_secs_f64());
        (rate / 1e6, (frames as u64).saturating_sub(received))
    }

    /// Loads an nftables ruleset into the router namespace (None: flush).
    fn nftables(&self, ruleset: Option<&str>) {
        bench::nftables(&self.router.0, ruleset);
    }

    /// Installs `prefixes` in the router namespace's FIB via the sink (None:
    /// removes them).
    fn kernel_routes(&self, prefixes: Option<&[(Ipv4Net, Ipv4Addr)]>) {
        match prefixes {
            None => {
                self.router.ip(&["route", "flush", "proto", "static"]);
            }
            Some(p) => {
                let mut batch = String::with_capacity(p.len() * 48);
                for (net, _) in p {
                    batch += &format!("route add {net} via {SINK} dev r1 proto static\n");
                }
                let file = std::env::temp_dir().join(format!("{}.routes", self.router.0));
                std::fs::write(&file, batch).unwrap();
                let out = vpc_control::netns::ip(&["-n", &self.router.0, "-batch", file.to_str().unwrap()]);
                let _ = std::fs::remove_file(&file);
                out.unwrap_or_else(|e| panic!("ip -batch: {e}"));
            }
        }
    }

    /// Destinations the generator draws from (empty: always the sink).
    fn destinations(&mut self, dsts: &[Ipv4Addr]) {
        {
            let mut a: Array<_, [u8; 4]> = Array::try_from(self.tools.map_mut("GEN_DSTS").unwrap()).unwrap();
            for (k, d) in dsts.iter().enumerate() {
                a.set(k as u32, d.octets(), 0).unwrap();
            }
        }
        let mut c: Array<_, u32> = Array::try_from(self.tools.map_mut("GEN_CONFIG").unwrap()).unwrap();
        c.set(0, dsts.len() as u32, 0).unwrap();
    }

    /// How many source ports (from 1024 up) the generator draws from: that
    /// many flows (0: one).
    fn source_ports(&mut self, n: u32) {
        let mut c: Array<_, u32> = Array::try_from(self.tools.map_mut("GEN_CONFIG").unwrap()).unwrap();
        c.set(1, n, 0).unwrap();
    }

    /// Our router against the Linux stack as configured now, interleaved
    /// over `rounds` rounds after a warm-up round (`key` names the
    /// configuration, for sizing each mode's runs).
    fn ours_vs_linux(&mut self, key: &str, rounds: usize) -> (Series, Series) {
        let (mut ours, mut linux) = (Series::new(), Series::new());
        for round in 0..=rounds {
            let o = self.measure(&format!("ours-{key}"), Router::Ours);
            let l = self.measure(&format!("linux-{key}"), Router::Linux);
            if round > 0 {
                ours.push(o);
                linux.push(l);
            }
        }
        (ours, linux)
    }

    /// (packets received, of which forwarded on a flow cache decision) on
    /// the generator's router port so far.
    fn flow_cache_use(&self) -> (u64, u64) {
        let port = self.ports[&eni_id_of("i-gen")];
        let c = self.dp.counters().unwrap_or_else(|e| panic!("counters: {e}"));
        c.ports.get(&port).map_or((0, 0), |p| (p.rx_packets, p.flow_cache_hits))
    }

    /// Our router with a network ACL and a security group of `n` rules each
    /// against nftables with the same rules, `flows` source ports (0: one
    /// flow), interleaved over `rounds` rounds (after a warm-up round).
    fn ours_vs_nftables(&mut self, n: usize, flows: u32, rounds: usize) -> (Series, Series) {
        let gen_net: Ipv4Net = "10.0.1.0/24".parse().unwrap();
        let acl = bench::acl_entries(n, (gen_net, BENCH_PORT));
        let sg = bench::sg_rules(n, Some((gen_net, BENCH_PORT)));
        self.set_policies(Some(n));
        self.nftables(Some(&bench::nftables_ruleset("vpcbench", "r1", &acl, &sg)));
        self.source_ports(flows);
        let (ours, nft) = self.ours_vs_linux(&format!("{n}-{flows}"), rounds);
        self.source_ports(0);
        self.nftables(None);
        self.set_policies(None);
        (ours, nft)
    }
}

/// One figure per mode: Mpps each round; the note says if frames were lost.
struct Series {
    values: Vec<f64>,
    lost: u64,
}

impl Series {
    fn new() -> Self {
        Series { values: Vec::new(), lost: 0 }
    }
    fn push(&mut self, (mpps, lost): (f64, u64)) {
        self.values.push(mpps);
        self.lost += lost;
    }
    fn note(&self) -> String {
        if self.lost == 0 { "no loss".into() } else { format!("LOSS: {} frames not received", self.lost) }
    }
}

fn ratio(a: &Series, b: &Series) -> Vec<f64> {
    ratios(&a.values, &b.values)
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke") || std::env::var_os("VPC_BENCH_SMOKE").is_some();
    let (rounds, seconds) = if smoke { (1, 0.05) } else { (3, 1.0) };
    let rule_counts: &[usize] = if smoke { &[1, 100] } else { &[1, 100, 10_000] };
    let prefix_counts: &[usize] = if smoke { &[1_000] } else { &[1_000, 100_000, 1_000_000] };
    pin_to_cpu0();
    let report = Report::new("pipeline");
    let mut p = Pipeline::new(seconds);

    if bench::wanted("routes-only") {
        // Warm-up: size each mode's run (the first measurement of a key only calibrates).
        let mut drop = Series::new();
        let mut ours = Series::new();
        let mut ours_tc = Series::new();
        let mut linux = Series::new();
        for round in 0..=rounds {
            let d = p.measure("drop", Router::XdpDrop);
            let o = p.measure("ours", Router::Ours);
            let t = p.measure("ours-tc", Router::OursTc);
            let l = p.measure("linux", Router::Linux);
            if round > 0 {
                drop.push(d);
                ours.push(o);
                ours_tc.push(t);
                linux.push(l);
            }
        }
        report.figure("pipeline", "XDP_DROP on the router port (ceiling)", "Mpps", &drop.values, &drop.note());
        report.figure("pipeline", "our router (XDP), routes only", "Mpps", &ours.values, &ours.note());
        report.figure("pipeline", "our router (tc), routes only", "Mpps", &ours_tc.values, &ours_tc.note());
        report.figure("pipeline", "Linux forwarding", "Mpps", &linux.values, &linux.note());
        report.figure("ratios", "our router (XDP) / Linux forwarding", "x", &ratio(&ours, &linux), "");
        report.figure("ratios", "our router (tc) / Linux forwarding", "x", &ratio(&ours_tc, &linux), "");
        report.figure("ratios", "our router (XDP) / XDP_DROP ceiling", "x", &ratio(&ours, &drop), "");
        println!("median ours (XDP) / linux: {:.2}", median(&ratio(&ours, &linux)));
        println!("median ours (tc) / linux: {:.2}", median(&ratio(&ours_tc, &linux)));
    }

    if bench::wanted("rules") {
        for n in rule_counts {
            let (ours, nft) = p.ours_vs_nftables(*n, 0, rounds);
            report.figure("pipeline", &format!("our router, ACL + SG, {n} rules each"), "Mpps", &ours.values, &ours.note());
            report.figure("pipeline", &format!("Linux + nftables, conntrack + {n} + {n} rules"), "Mpps", &nft.values, &nft.note());
            report.figure("ratios", &format!("ACL + SG {n} rules: ours / nftables"), "x", &ratio(&ours, &nft), "");
            report.point("pipeline: rules", "our router (ACL + SG)", *n as f64, "Mpps", &ours.values);
            report.point("pipeline: rules", "Linux + nftables", *n as f64, "Mpps", &nft.values);
        }
    }

    // Many flows: every packet from one of `flows` source ports, more than
    // the flow cache holds, so most packets take the slow path (connection
    // lookup and all) while nftables looks each up in its conntrack.
    if bench::wanted("flows") {
        let (n, flows) = (100, if smoke { 1_000 } else { 64_000 });
        let (rx, hits) = p.flow_cache_use();
        let (ours, nft) = p.ours_vs_nftables(n, flows, rounds);
        let (rx2, hits2) = p.flow_cache_use();
        let hit_share = (hits2 - hits) as f64 / (rx2 - rx).max(1) as f64;
        let what = format!("ACL + SG, {n} rules each, {flows} flows");
        report.figure("pipeline", &format!("our router, {what}"), "Mpps", &ours.values, &ours.note());
        report.figure("pipeline", &format!("Linux + nftables, {what}"), "Mpps", &nft.values, &nft.note());
        report.figure("ratios", &format!("{what}: ours / nftables"), "x", &ratio(&ours, &nft), "");
        report.figure("pipeline", &format!("{what}: packets forwarded by the flow cache"), "share", &[hit_share], "all rounds and the warm-up");
    }

    // A network load balancer: a UDP listener over 8 backends (ports of
    // the sink), every packet translated to its flow's backend, against
    // nftables doing the same (conntrack, dnat by jhash of the source over
    // the same backends; this kernel has no IPVS). One flow, then 64,000.
    if bench::wanted("nlb") {
        p.set_load_balancer(Some(LB_BACKENDS));
        let map = (0..LB_BACKENDS).map(|i| format!("{i} : {SINK} . {}", BENCH_PORT + i)).collect::<Vec<_>>().join(", ");
        p.nftables(Some(&format!(
            "table ip vpcbench {{\n chain pre {{\n  type nat hook prerouting priority dstnat; policy accept;\n  ip daddr {VIP} udp dport {BENCH_PORT} dnat ip to jhash ip saddr . udp sport mod {LB_BACKENDS} map {{ {map} }}\n }}\n}}\n"
        )));
        p.destinations(&[VIP]);
        for flows in [0, if smoke { 1_000 } else { 64_000 }] {
            p.source_ports(flows);
            let (mut ours, mut ours_tc, mut nft) = (Series::new(), Series::new(), Series::new());
            for round in 0..=rounds {
                let o = p.measure(&format!("nlb-ours-{flows}"), Router::Ours);
                let t = p.measure(&format!("nlb-ours-tc-{flows}"), Router::OursTc);
                let l = p.measure(&format!("nlb-nft-{flows}"), Router::Linux);
                if round > 0 {
                    ours.push(o);
                    ours_tc.push(t);
                    nft.push(l);
                }
            }
            let what = format!("load balancer, UDP listener over {LB_BACKENDS} backends, {} flow{}", flows.max(1), if flows > 1 { "s" } else { "" });
            report.figure("pipeline", &format!("our router (XDP), {what}"), "Mpps", &ours.values, &ours.note());
            report.figure("pipeline", &format!("our router (tc), {what}"), "Mpps", &ours_tc.values, &ours_tc.note());
            report.figure("pipeline", &format!("Linux + nftables dnat (jhash), {what}"), "Mpps", &nft.values, &nft.note());
            report.figure("ratios", &format!("{what}: ours (XDP) / nftables"), "x", &ratio(&ours, &nft), "");
            report.figure("ratios", &format!("{what}: ours (tc) / nftables"), "x", &ratio(&ours_tc, &nft), "");
            println!("median {what}: ours (XDP) / nftables {:.2}", median(&ratio(&ours, &nft)));
        }
        p.source_ports(0);
        p.destinations(&[]);
        p.nftables(None);
        p.set_load_balancer(None);
    }

    if bench::wanted("prefixes") {
        for n in prefix_counts {
            let prefixes = bench::internet_prefixes(*n, 11);
            let t = Instant::now();
            p.set_routes(&prefixes);
            let ours_load = t.elapsed();
            let t = Instant::now();
            p.kernel_routes(Some(&prefixes));
            let kernel_load = t.elapsed();
            println!("{n} routes written: ours {ours_load:?}, kernel (ip -batch) {kernel_load:?}");
            let dsts: Vec<Ipv4Addr> = prefixes.iter().map(|(_, d)| *d).collect();
            p.destinations(&dsts);
            let (ours, fib) = p.ours_vs_linux(&format!("routes-{n}"), rounds);
            p.destinations(&[]);
            p.kernel_routes(None);
            p.set_policies(None);
            report.figure("pipeline", &format!("our router, random destinations over {n} prefixes"), "Mpps", &ours.values, &ours.note());
            report.figure("pipeline", &format!("Linux FIB, random destinations over {n} prefixes"), "Mpps", &fib.values, &fib.note());
            report.figure("ratios", &format!("{n} prefixes: ours / kernel FIB"), "x", &ratio(&ours, &fib), "");
            report.point("pipeline: routes", "our router", *n as f64, "Mpps", &ours.values);
            report.point("pipeline: routes", "Linux FIB", *n as f64, "Mpps", &fib.values);
        }
    }
}
