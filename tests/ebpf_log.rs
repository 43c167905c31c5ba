//! The datapath's log records (aya-log) reach the `log` crate: rare drop
//! paths are run through BPF_PROG_TEST_RUN, and the records are read back
//! through the logger `Datapath::load` opened, by `ebpf_log::forward` (Tokio)
//! or `ebpf_log::drain`, into a capturing `log::Log`.
use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    sync::{Mutex, Once},
    time::{Duration, Instant},
};

use aya::programs::{TestRun, TestRunOptions, XdpMode, xdp::XdpLink};
use vpc_common::DropReason;
use vpc_control::{
    compile,
    datapath::Datapath,
    ebpf_log,
    model::Model,
    netns::NetnsGuard,
    topology::{ROUTER_MAC, eni_mac},
};
use vpc_tests::{ScratchNs, icmp_echo};

const XDP_DROP: u32 = 1;
const XDP_REDIRECT: u32 = 4;

const MODEL: &str = r#"
[[vpc]]
id = "vpc-a"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-1"
vpc_id = "vpc-a"
cidr_block = "10.0.1.0/24"
[[vswitch]]
id = "vsw-2"
vpc_id = "vpc-a"
cidr_block = "10.0.2.0/24"
[[instance]]
id = "i-1"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-2"
vswitch_id = "vsw-2"
private_ip_address = "10.0.2.10"
"#;

/// A record as the `log` crate handed it to the installed logger.
#[derive(Debug, Clone)]
struct Captured {
    level: log::Level,
    target: String,
    message: String,
}

static RECORDS: Mutex<Vec<Captured>> = Mutex::new(Vec::new());

/// The process's `log` logger in these tests: keeps every record.
struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        RECORDS.lock().unwrap().push(Captured {
            level: record.level(),
            target: record.target().to_string(),
            message: record.args().to_string(),
        });
    }

    fn flush(&self) {}
}

fn install_capture() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Captured records whose message contains `needle` (tests run in parallel
/// and share the logger: each looks for its own ports).
fn captured(needle: &str) -> Vec<Captured> {
    RECORDS.lock().unwrap().iter().filter(|r| r.message.contains(needle)).cloned().collect()
}

/// The router program with private maps filled for [`MODEL`] in a scratch
/// namespace: ports p0 (eni-1), p1 (eni-2), and p9, a port with no ENI.
/// The program is attached to p0 and p9 (BPF_PROG_TEST_RUN with an ingress
/// ifindex needs an XDP program on that device).
struct Fixture {
    _links: Vec<XdpLink>,
    dp: Datapath,
    ports: BTreeMap<&'static str, u32>,
    _in_ns: NetnsGuard,
    ns: ScratchNs,
}

impl Fixture {
    fn new() -> Self {
        install_capture();
        let ns = ScratchNs::new("vpct-log");
        let model = Model::from_toml(MODEL).unwrap().with_system_route_tables();
        vpc_control::validate::validate(&model).unwrap();
        // No IPv6: the veths then send nothing by themselves, so the only
        // frames the program sees are the test's.
        for key in ["net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"] {
            vpc_control::netns::sysctl(&ns.0, key, "1").unwrap();
        }
        let mut ports = BTreeMap::new();
        for (p, q) in [("p0", "q0"), ("p1", "q1"), ("p9", "q9")] {
            ns.ip(&["link", "add", p, "type", "veth", "peer", "name", q]);
            ns.ip(&["link", "set", p, "up"]);
            ns.ip(&["link", "set", q, "up"]);
            ports.insert(p, ns.ifindex(p));
        }
        let in_ns = NetnsGuard::enter(&ns.0).unwrap();
        let mut dp = Datapath::load(None).unwrap();
        let enis = [("eni-1".to_string(), ports["p0"]), ("eni-2".to_string(), ports["p1"])].into_iter().collect();
        let desired = compile::compile(&model, &enis).unwrap();
        dp.write(&Default::default(), &desired).unwrap();
        let prog = dp.router_program().unwrap();
        let links = ["p0", "p9"]
            .iter()
            .map(|p| {
                let id = prog.attach(p, XdpMode::Driver).unwrap();
                prog.take_link(id).unwrap()
            })
            .collect();
        Fixture { _links: links, dp, ports, _in_ns: in_ns, ns }
    }

    /// Runs `frame` in on `port`, `repeat` times in one BPF_PROG_TEST_RUN
    /// (so on one CPU): the verdict.
    fn run(&mut self, port: &str, frame: &[u8], repeat: u32) -> u32 {
        let ctx = vpc_tests::xdp_md(self.ports[port], frame.len());
        let mut out = vec![0u8; frame.len() + 256];
        let prog = self.dp.router_program().unwrap();
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(frame);
        opts.data_out = Some(&mut out);
        opts.ctx_in = Some(&ctx);
        opts.repeat = repeat;
        prog.test_run(opts).unwrap_or_else(|e| panic!("test run: {e}")).return_value
    }

    fn dropped(&self, reason: DropReason) -> u64 {
        self.dp.counters().unwrap().dropped(reason)
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Waits up to 5 s for `n` records containing `needle`.
async fn wait_for(needle: &str, n: usize) -> Vec<Captured> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = captured(needle);
        if found.len() >= n || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn ebpf_warn_on_redirect_failure_reaches_the_log_crate_through_forward() {
    let mut fx = Fixture::new();
    let logger = fx.dp.take_logger().expect("Datapath::load opened the log ring buffer");
    assert!(fx.dp.take_logger().is_none(), "the logger is taken once");
    let (p0, p1) = (fx.ports["p0"], fx.ports["p1"]);
    let frame = icmp_echo(ROUTER_MAC, eni_mac("eni-1"), ip("10.0.1.10"), ip("10.0.2.10"), 64);
    assert_eq!(fx.run("p0", &frame, 1), XDP_REDIRECT, "eni-2 reachable while its port exists");

    // eni-2's veth disappears: the kernel removes it from the device map,
    // while ENI_BY_ADDRESS still sends 10.0.2.10 there.
    fx.ns.ip(&["link", "del", "p1"]);
    assert!(!fx.dp.egress_ports().unwrap().contains(&p1), "the device map dropped the port");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let needle = format!("redirect from port {p0} to port {p1} failed");
    let found = rt.block_on(async {
        let forwarder = tokio::spawn(ebpf_log::forward(logger));
        tokio::task::yield_now().await;
        let before = fx.dropped(DropReason::RedirectFailed);
        assert_eq!(fx.run("p0", &frame, 1), XDP_DROP);
        assert_eq!(fx.dropped(DropReason::RedirectFailed), before + 1);
        let found = wait_for(&needle, 1).await;
        assert!(!forwarder.is_finished(), "the forwarder keeps running");
        forwarder.abort();
        found
    });
    assert_eq!(found.len(), 1, "one record: {found:?}");
    let r = &found[0];
    assert_eq!(r.level, log::Level::Warn);
    assert_eq!(r.target, "vpc_ebpf::transmit");
    assert!(r.message.ends_with("frame dropped (0 similar records suppressed)"), "{}", r.message);
}

#[test]
fn ebpf_debug_on_unknown_port_is_rate_limited_and_read_by_drain() {
    // One CPU, so the per-CPU rate limit sees every frame.
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes bit 0 of it, and
    // sched_setaffinity reads it for the calling thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        assert_eq!(libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set), 0);
    }
    let mut fx = Fixture::new();
    let mut logger = fx.dp.take_logger().expect("Datapath::load opened the log ring buffer");
    let p9 = fx.ports["p9"];
    let needle = format!("port {p9}: no ENI");
    let frame = icmp_echo(ROUTER_MAC, eni_mac("eni-1"), ip("10.0.1.10"), ip("10.0.2.10"), 64);

    assert_eq!(fx.run("p9", &frame, 3), XDP_DROP);
    assert_eq!(fx.dropped(DropReason::UnknownPort), 3, "every frame is counted");
    ebpf_log::drain(&mut logger).unwrap();
    let found = captured(&needle);
    assert_eq!(found.len(), 1, "one record for three frames within a second: {found:?}");
    assert_eq!(found[0].level, log::Level::Debug);
    assert_eq!(found[0].target, "vpc_ebpf::pipeline");
    assert!(found[0].message.ends_with("(0 similar records suppressed)"), "{}", found[0].message);

    // After the interval, the next record says how many were left out.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(fx.run("p9", &frame, 1), XDP_DROP);
    ebpf_log::drain(&mut logger).unwrap();
    let found = captured(&needle);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[1].message.ends_with("(2 similar records suppressed)"), "{}", found[1].message);
}
