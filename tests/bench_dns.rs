//! `cargo bench -p vpc-tests --bench dns` (`-- --smoke`, or
//! `VPC_BENCH_SMOKE=1`, for a short run): DNS queries per second answered by
//! the VPC resolver (docs/dns.md), against dnsmasq serving the same record
//! on the same path, interleaved within each round (ratios per round).
//!
//! Setup: a `vpc daemon` (release build, tc mode, its own router namespace
//! and state directory) with a VPC (DNS hostname switch on), a vSwitch and
//! two instances, `client` (10.0.1.10) and `app001` (10.0.1.20).
//!
//! - **Ours**: the daemon's resolver (hickory-server on the daemon's
//!   runtime) at 100.100.2.136:53 in the VPC's services namespace.
//! - **dnsmasq** (the baseline): `dnsmasq --host-record=app001,10.0.1.20`,
//!   nothing else (no upstream, no hosts file, no cache of other names),
//!   started by the bench in the same services namespace on
//!   100.100.2.136:5353. The queries cross the router the same way (the
//!   services route table takes 100.100.0.0/16 whatever the port): only the
//!   server differs.
//!
//! Client: T = 2 threads in the client instance's namespace, each with one
//! UDP socket and W = 32 queries in flight (closed loop: an answer sends
//! the next query), `app001. IN A` with a fresh id each; an answer counts
//! when its id is one in flight, its RCODE is NOERROR and it has one answer.
//! A query unanswered for 200 ms is counted lost and replaced. Per round
//! each server runs A B B A for D = 2 s (smoke: 0.5 s; which one is A
//! alternates), a server's figure is the mean of its two runs, and the
//! ratio ours / dnsmasq is taken per round; 5 rounds (smoke: 1).
use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use vpc_control::{netns::NetnsGuard, topology};
use vpc_tests::{Daemon, bench::Report};

const R: (&str, &str) = ("RegionId", "cn-hangzhou");
const GROUP: &str = "dns";
const THREADS: usize = 2;
const WINDOW: usize = 32;
const NAME: &str = "app001";
const ANSWER: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 20);

fn s(v: &serde_json::Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_string()
}

/// The query `NAME. IN A` with id `id` (recursion desired).
fn query(id: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(32);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    q.push(NAME.len() as u8);
    q.extend_from_slice(NAME.as_bytes());
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// (id, whether the answer is NOERROR with one answer record).
fn answer(b: &[u8]) -> Option<(u16, bool)> {
    if b.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([b[0], b[1]]);
    let rcode = b[3] & 0x0f;
    let ancount = u16::from_be_bytes([b[6], b[7]]);
    // The address: the last 4 bytes of a one-A answer.
    let ok = rcode == 0 && ancount == 1 && b[b.len() - 4..] == ANSWER.octets();
    Some((id, ok))
}

/// One client thread: answers counted and queries lost in `d`, against `server`.
fn client(ns: &str, server: SocketAddr, d: Duration, seed: u16) -> (u64, u64) {
    let _in = NetnsGuard::enter(ns).unwrap_or_else(|e| panic!("entering {ns}: {e}"));
    let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
    sock.connect(server).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut next = seed;
    let mut flight: HashMap<u16, Instant> = HashMap::new();
    let (mut answered, mut lost) = (0u64, 0u64);
    let mut buf = [0u8; 512];
    let start = Instant::now();
    let end = start + d;
    while Instant::now() < end {
        while flight.len() < WINDOW {
            next = next.wrapping_add(1);
            if sock.send(&query(next)).is_ok() {
                flight.insert(next, Instant::now());
            }
        }
        match sock.recv(&mut buf) {
            Ok(n) => {
                if let Some((id, ok)) = answer(&buf[..n]) {
                    if flight.remove(&id).is_some() {
                        assert!(ok, "a wrong answer from {server}: {:?}", &buf[..n]);
                        answered += 1;
                    }
                }
            }
            Err(_) => {
                let now = Instant::now();
                let before = flight.len();
                flight.retain(|_, t| now.duration_since(*t) < Duration::from_millis(200));
                lost += (before - flight.len()) as u64;
            }
        }
    }
    (answered, lost)
}

/// Queries answered per second by `server`, from `THREADS` threads in `ns`.
fn run(ns: &str, server: SocketAddr, d: Duration) -> (f64, u64) {
    let start = Instant::now();
    let results: Vec<(u64, u64)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..THREADS)
            .map(|t| sc.spawn(move || client(ns, server, d, (t as u16) << 14)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let answered: u64 = results.iter().map(|r| r.0).sum();
    (answered as f64 / secs, results.iter().map(|r| r.1).sum())
}

/// dnsmasq in `ns` on 100.100.2.136:5353, serving the one record.
struct Dnsmasq(Child);

impl Dnsmasq {
    fn start(ns: &str) -> Self {
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
            ])
            .args([
                "--no-hosts",
                "--port=5353",
                "--listen-address=100.100.2.136",
                "--bind-interfaces",
            ])
            .args([
                &format!("--host-record={NAME},{ANSWER}"),
                "--user=root",
                "--pid-file=",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq runs (Debian dnsmasq-base)");
        Dnsmasq(child)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let smoke =
        std::env::args().any(|a| a == "--smoke") || std::env::var_os("VPC_BENCH_SMOKE").is_some();
    let (rounds, d) = if smoke {
        (1, Duration::from_millis(500))
    } else {
        (5, Duration::from_secs(2))
    };
    let report = Report::new("dns");
    let daemon = Daemon::start();
    let v = daemon.call(
        "CreateVpc",
        &[
            R,
            ("CidrBlock", "10.0.0.0/16"),
            ("EnableDnsHostname", "true"),
        ],
    );
    let vpc = s(&v, "VpcId");
    let vsw = s(
        &daemon.call(
            "CreateVSwitch",
            &[
                R,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        ),
        "VSwitchId",
    );
    let mut ids = Vec::new();
    for (host, ip) in [("client", "10.0.1.10"), (NAME, "10.0.1.20")] {
        let v = daemon.call(
            "RunInstances",
            &[
                R,
                ("VSwitchId", &vsw),
                ("PrivateIpAddress", ip),
                ("HostName", host),
                ("ImageId", "img"),
                ("InstanceType", "t"),
            ],
        );
        ids.push(
            v["InstanceIdSets"]["InstanceIdSet"][0]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let client_ns = ids[0].clone();
    let services_ns = topology::health_check_namespace(&daemon.namespace, &vpc);
    let _dnsmasq = Dnsmasq::start(&services_ns);
    let ours: SocketAddr = "100.100.2.136:53".parse().unwrap();
    let theirs: SocketAddr = "100.100.2.136:5353".parse().unwrap();
    // Both answer before anything is measured (the resolver starts within
    // a supervisor round, dnsmasq within its start-up).
    let ready = Instant::now();
    for server in [ours, theirs] {
        while run(&client_ns, server, Duration::from_millis(100)).0 == 0.0 {
            assert!(
                ready.elapsed() < Duration::from_secs(20),
                "{server} does not answer"
            );
        }
    }
    if !smoke {
        run(&client_ns, ours, Duration::from_secs(1));
        run(&client_ns, theirs, Duration::from_secs(1));
    }
    let (mut q_ours, mut q_theirs, mut ratios, mut lost) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [0, 1, 1, 0]
        } else {
            [1, 0, 0, 1]
        };
        let mut sum = [0.0; 2];
        for which in order {
            let (qps, l) = run(&client_ns, [ours, theirs][which], d);
            sum[which] += qps / 2.0;
            lost += l;
        }
        q_ours.push(sum[0]);
        q_theirs.push(sum[1]);
        ratios.push(sum[0] / sum[1]);
    }
    let note = format!("{THREADS} threads x {WINDOW} in flight, UDP, lost {lost}");
    report.figure(
        GROUP,
        "queries/s: VPC resolver (hickory-server)",
        "q/s",
        &q_ours,
        &note,
    );
    report.figure(
        GROUP,
        "queries/s: dnsmasq, same record, same path",
        "q/s",
        &q_theirs,
        &note,
    );
    report.figure(GROUP, "ratio resolver / dnsmasq", "x", &ratios, "per round");
}
