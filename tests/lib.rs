//! Helpers for the integration tests: unique names, namespaces and labs that
//! clean up after themselves (even when a test panics), frame builders,
//! ping and TCP between namespaces.
use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use std::collections::BTreeMap;

use aya::programs::{TestRun, TestRunOptions};
use vpc_common::DropReason;
use vpc_control::{
    apply, compile,
    datapath::{Datapath, Mode},
    model::Model,
    netns,
    netns::NetnsGuard,
};

/// A name unique to this test run and call: `<prefix><pid>x<n>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A scratch network namespace, deleted on drop.
pub struct ScratchNs(pub String);

impl ScratchNs {
    /// Creates a namespace named `<prefix><unique>`.
    pub fn new(prefix: &str) -> Self {
        let name = unique(prefix);
        netns::add(&name).unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        ScratchNs(name)
    }

    /// Runs `ip -n <ns> ARGS`, panicking with the error.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.0.as_str()];
        all.extend_from_slice(args);
        netns::ip(&all).unwrap_or_else(|e| panic!("{e}"))
    }

    /// ifindex of an interface of this namespace.
    pub fn ifindex(&self, ifname: &str) -> u32 {
        netns::links(&self.0)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .find(|l| l.ifname == ifname)
            .unwrap_or_else(|| panic!("no {ifname} in {}", self.0))
            .ifindex
    }
}

impl Drop for ScratchNs {
    fn drop(&mut self) {
        let _ = netns::delete(&self.0);
    }
}

/// An applied lab, destroyed on drop (also when the test panics).
pub struct Lab {
    pub model: Model,
    suffix: String,
}

impl Lab {
    /// Applies `toml` (a lab file) after replacing every `@` with a suffix
    /// unique to this run, so ids, namespaces and pins never collide.
    pub fn up(toml: &str) -> Self {
        Self::up_in_mode(toml, Mode::default())
    }

    /// [`Lab::up`] with the router program attached in `mode`.
    pub fn up_in_mode(toml: &str, mode: Mode) -> Self {
        let suffix = unique("");
        let text = toml.replace('@', &suffix);
        let model =
            vpc_control::model::Model::from_toml(&text).unwrap_or_else(|e| panic!("lab file: {e}"));
        let lab = Lab {
            model: model.clone(),
            suffix,
        };
        apply::apply_in_mode(model, mode).unwrap_or_else(|e| panic!("apply: {} {e}", e.code()));
        lab
    }

    /// `template` with `@` replaced as in [`Lab::up`].
    pub fn id(&self, template: &str) -> String {
        template.replace('@', &self.suffix)
    }

    /// Applies a changed model.
    pub fn reapply(&mut self, model: Model) -> apply::ApplyReport {
        self.model = model.clone();
        apply::apply(model).unwrap_or_else(|e| panic!("apply: {} {e}", e.code()))
    }

    /// Router counters.
    pub fn counters(&self) -> vpc_control::datapath::Counters {
        let dp = vpc_control::datapath::Datapath::load(Some(&self.model.router.namespace))
            .unwrap_or_else(|e| panic!("{e}"));
        dp.counters().unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = apply::destroy(&self.model) {
            eprintln!("destroy failed: {e}");
        }
    }
}

/// True if `count` pings from namespace `ns` to `dst` all get a reply
/// (the replies are counted: ping's own status is a success on one).
pub fn ping(ns: &str, dst: Ipv4Addr, count: u32) -> bool {
    replies(ns, dst, count).0 == Some(count)
}

/// Pings `count` times from `ns` to `dst` (0.1 s apart); the replies
/// received (none when `ns` has no route to `dst` yet).
pub fn ping_replies(ns: &str, dst: Ipv4Addr, count: u32) -> u32 {
    match replies(ns, dst, count) {
        (Some(n), _) => n,
        (None, out) => panic!("no ping summary from {ns} to {dst}:\n{out}"),
    }
}

/// The replies to `count` pings, if ping got to send them (none when it
/// cannot: no route, no interface), and its output.
fn replies(ns: &str, dst: Ipv4Addr, count: u32) -> (Option<u32>, String) {
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "ping",
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            "0.1",
            "-W",
            "1",
        ])
        .arg(dst.to_string())
        .output()
        .expect("running ping");
    let text = String::from_utf8_lossy(&o.stdout);
    let n = text.split(',').find_map(|part| {
        part.trim()
            .strip_suffix(" received")
            .and_then(|n| n.trim().parse().ok())
    });
    (n, format!("{text}{}", String::from_utf8_lossy(&o.stderr)))
}

/// True if no ping from `ns` to `dst` gets a reply.
pub fn ping_fails(ns: &str, dst: Ipv4Addr) -> bool {
    !Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-q", "-c", "2", "-i", "0.2", "-W", "1",
        ])
        .arg(dst.to_string())
        .output()
        .map(|o| o.status.code() != Some(1))
        .unwrap_or(true)
}

/// Sends `bytes` over TCP from `client` to `addr:port` in `server` (a
/// listener there counts what arrives until the sender closes); the bytes
/// the server received (0 if the connection failed), within 20 s.
pub fn tcp_bulk(server: &str, client: &str, addr: Ipv4Addr, port: u16, bytes: usize) -> usize {
    use std::io::{Read, Write};
    let listener = {
        let _in = netns::NetnsGuard::enter(server).unwrap_or_else(|e| panic!("{e}"));
        TcpListener::bind((addr, port)).unwrap_or_else(|e| panic!("bind in {server}: {e}"))
    };
    let sink = std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return 0;
        };
        s.set_read_timeout(Some(Duration::from_secs(20))).ok();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0;
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    });
    let sent = {
        let _in = netns::NetnsGuard::enter(client).unwrap_or_else(|e| panic!("{e}"));
        match TcpStream::connect_timeout(&SocketAddr::from((addr, port)), Duration::from_secs(2)) {
            Ok(mut s) => {
                s.set_write_timeout(Some(Duration::from_secs(20))).ok();
                let chunk = vec![0x5au8; 1 << 16];
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if s.write_all(&chunk[..n]).is_err() {
                        break;
                    }
                    left -= n;
                }
                let _ = s.shutdown(std::net::Shutdown::Write);
                true
            }
            Err(_) => false,
        }
    };
    if !sent {
        let _in = netns::NetnsGuard::enter(server).ok();
        let _ =
            TcpStream::connect_timeout(&SocketAddr::from((addr, port)), Duration::from_millis(200));
    }
    sink.join().unwrap_or(0)
}

/// Opens a TCP connection from namespace `client` to a listener in namespace
/// `server` at `addr:port`, sends a message and reads the echo. True if the
/// bytes came back.
pub fn tcp_echo(server: &str, client: &str, addr: Ipv4Addr, port: u16) -> bool {
    let listener = {
        let _in = netns::NetnsGuard::enter(server).unwrap_or_else(|e| panic!("{e}"));
        TcpListener::bind((addr, port)).unwrap_or_else(|e| panic!("bind in {server}: {e}"))
    };
    let echo = std::thread::spawn(move || {
        use std::io::{Read, Write};
        listener.set_nonblocking(false).ok();
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 64];
            if let Ok(n) = s.read(&mut buf) {
                let _ = s.write_all(&buf[..n]);
            }
        }
    });
    let ok = {
        use std::io::{Read, Write};
        let _in = netns::NetnsGuard::enter(client).unwrap_or_else(|e| panic!("{e}"));
        match TcpStream::connect_timeout(&SocketAddr::from((addr, port)), Duration::from_secs(2)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut buf = [0u8; 5];
                s.write_all(b"hello").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"hello"
            }
            Err(_) => false,
        }
    };
    if !ok {
        // Unblock the echo thread's accept.
        let _in = netns::NetnsGuard::enter(server).ok();
        let _ =
            TcpStream::connect_timeout(&SocketAddr::from((addr, port)), Duration::from_millis(200));
    }
    let _ = echo.join();
    ok
}

/// The Internet checksum of `data`.
pub fn inet_csum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        sum += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Makes the IPv4 header checksum of frame `f` right again (over the
/// header length the header gives) after a test changed the header.
pub fn fix_ipv4_checksum(f: &mut [u8]) {
    let end = 14 + usize::from(f[14] & 0x0f) * 4;
    f[24..26].copy_from_slice(&[0, 0]);
    let c = inet_csum(&f[14..end]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

/// `f` made a fragment of datagram `id`: more fragments to come or not,
/// at `offset` (8-byte units); the IPv4 checksum made right. At an offset
/// other than 0 the bytes after the IPv4 header are payload, not a
/// layer-4 header.
pub fn fragment_of(mut f: Vec<u8>, id: u16, more: bool, offset: u16) -> Vec<u8> {
    f[18..20].copy_from_slice(&id.to_be_bytes());
    f[20..22].copy_from_slice(&((if more { 0x2000 } else { 0 }) | offset).to_be_bytes());
    fix_ipv4_checksum(&mut f);
    f
}

/// A later fragment `f` (no layer-4 header) as the router sends it, from
/// `router_mac` to `to_mac`: its addresses now `src` -> `dst`, TTL one
/// less, the IPv4 checksum right, every byte after the IPv4 header as it
/// came (a translated packet's ports and layer-4 checksum are the
/// caller's to write after).
pub fn forwarded_later_fragment(f: &[u8], router_mac: [u8; 6], to_mac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut out = f.to_vec();
    out[0..6].copy_from_slice(&to_mac);
    out[6..12].copy_from_slice(&router_mac);
    out[22] -= 1;
    out[26..30].copy_from_slice(&src.octets());
    out[30..34].copy_from_slice(&dst.octets());
    fix_ipv4_checksum(&mut out);
    out
}

/// Ethernet + IPv4 (correct header checksum) + `payload` of protocol `proto`.
pub fn ipv4_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    proto: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = 20 + payload.len() as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, ttl, proto, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = inet_csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(payload);
    f
}

/// An ICMP echo request frame.
pub fn icmp_echo(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x00, 0x01, 0x00, 0x01, b'v', b'p', b'c', b'!'];
    let c = inet_csum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4_frame(dst_mac, src_mac, src, dst, ttl, 1, &icmp)
}

/// The ICMP error (`kind`, `code`, and for fragmentation needed the
/// next-hop `mtu`) the router sends back for `offending` (a frame it
/// received from `to_mac`), from the vSwitch gateway `from`: its IPv4
/// header and 8 bytes more quoted, as RFC 792 says (TCP: its 20-byte header).
pub fn icmp_error(offending: &[u8], from: Ipv4Addr, kind: u8, code: u8, mtu: u16) -> Vec<u8> {
    let to_mac: [u8; 6] = offending[6..12].try_into().unwrap();
    let router_mac: [u8; 6] = offending[0..6].try_into().unwrap();
    let to = Ipv4Addr::new(offending[26], offending[27], offending[28], offending[29]);
    let mut icmp = vec![kind, code, 0, 0, 0, 0];
    icmp.extend_from_slice(&mtu.to_be_bytes());
    let quote = if offending[23] == 6 { 40 } else { 28 };
    icmp.extend_from_slice(&offending[14..14 + quote]);
    let c = inet_csum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = ipv4_frame(to_mac, router_mac, from, to, 64, 1, &icmp);
    // Identification 0, no DF: as the router writes its errors.
    f[18..22].copy_from_slice(&[0, 0, 0, 0]);
    fix_ipv4_checksum(&mut f);
    f
}

/// An ARP request (`op` 1) or reply (`op` 2) frame.
pub fn arp(
    op: u16,
    eth_dst: [u8; 6],
    sha: [u8; 6],
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f
}

#[path = "bench_report.rs"]
pub mod bench;
pub mod echo;

/// The provider's side of the PrivateLink fixtures, as a lab file's
/// tables: in VPC `vpc-provider`, the NLB `nlb-1` at 10.0.3.5 (vSwitch
/// `vsw-p3`, zone `zone-a`) with listener TCP 80 -> `i-web` (10.0.1.10)
/// port 8080, behind the auto-accepting endpoint service `epsrv-1`; and the
/// consumer's connected endpoint `ep-1` in VPC `vpc-consumer`, ENI
/// 10.0.1.100 in vSwitch `vsw-c1`, security group `sg-ep`. The VPCs,
/// vSwitches, instances and groups are the caller's.
pub const PRIVATELINK_SERVICE_TOML: &str = r#"
[[load_balancer]]
id = "nlb-1"
vpc_id = "vpc-provider"
[[load_balancer.zone_mapping]]
zone_id = "zone-a"
vswitch_id = "vsw-p3"
private_ipv4 = "10.0.3.5"
[[server_group]]
id = "sgp-web"
vpc_id = "vpc-provider"
[[server_group.server]]
server_id = "i-web"
server_type = "Ecs"
server_ip = "10.0.1.10"
port = 8080
zone_id = "zone-a"
[[listener]]
id = "lsn-80"
load_balancer_id = "nlb-1"
protocol = "TCP"
port = 80
server_group_id = "sgp-web"
[[endpoint_service]]
id = "epsrv-1"
name = "com.aliyuncs.privatelink.cn-lab.epsrv-1"
auto_accept_enabled = true
[[endpoint_service.resource]]
resource_id = "nlb-1"
zone_id = "zone-a"
[[vpc_endpoint]]
id = "ep-1"
vpc_id = "vpc-consumer"
service_id = "epsrv-1"
service_name = "com.aliyuncs.privatelink.cn-lab.epsrv-1"
security_group_ids = ["sg-ep"]
connection_status = "Connected"
[[vpc_endpoint.zone]]
zone_id = "zone-a"
vswitch_id = "vsw-c1"
eni_id = "eni-ep1"
eni_ip = "10.0.1.100"
status = "Connected"
"#;
#[path = "daemon_helper.rs"]
mod daemon_helper;
pub use daemon_helper::*;

/// The router program loaded with private maps, filled for a model file, with
/// one veth pair per ENI in a scratch namespace (the ifindexes the device
/// map and the test-run context need).
pub struct DatapathFixture {
    _links: Vec<aya::programs::xdp::XdpLink>,
    /// The loaded datapath.
    pub dp: Datapath,
    /// Router port ifindex by ENI id.
    pub ports: BTreeMap<String, u32>,
    /// The model the maps hold.
    pub model: Model,
    _in_ns: NetnsGuard,
    /// The maps' pins, once [`Self::restart`] made them (removed on drop,
    /// before the namespace).
    _pins: Option<PinDir>,
    _ns: ScratchNs,
    /// Which router program [`Self::run`] runs frames through.
    pub mode: Mode,
}

/// A directory of bpffs pins, removed on drop.
struct PinDir(std::path::PathBuf);

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The caches a benchmark's datapath runs with
/// (`Datapath::load_keeping_headers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchCaches {
    /// The flow cache and the slow path's lookup caches: as a router runs.
    All,
    /// The slow path's lookup caches (neighbour, route, policy) only:
    /// every packet takes the slow path.
    LookupOnly,
    /// None: every packet takes the slow path and every table lookup.
    None,
}

impl DatapathFixture {
    /// Loads the datapath for `model` (a model file).
    pub fn new(model: &str) -> Self {
        Self::build(model, None)
    }

    /// As [`Self::new`], with the benchmark flag: forwarded frames leave
    /// with the headers they came in with, so a repeated test run times the
    /// forward path every time (see `Datapath::load_keeping_headers`).
    /// `caches` says which caches are on, so that every repeat takes the
    /// slow path, with or without its lookup caches.
    pub fn keeping_headers(model: &str, caches: BenchCaches) -> Self {
        Self::build(model, Some(caches))
    }

    /// A fixture of its own for the same model (fresh maps and ports),
    /// running frames through the router program of `mode`.
    pub fn twin(&self, mode: Mode) -> Self {
        let mut fx = Self::build_model(self.model.clone(), None);
        fx.mode = mode;
        fx
    }

    /// `keep_headers`: `Some(caches on)` loads with the benchmark flags.
    fn build(model: &str, keep_headers: Option<BenchCaches>) -> Self {
        Self::build_model(
            vpc_control::model::Model::from_toml(model).unwrap(),
            keep_headers,
        )
    }

    fn build_model(model: Model, keep_headers: Option<BenchCaches>) -> Self {
        let ns = ScratchNs::new("vpct-dp");
        let model = model.with_system_route_tables();
        vpc_control::validate::validate(&model).unwrap();
        let mut ports = BTreeMap::new();
        for (n, inst) in model.instances.iter().enumerate() {
            let (p, q) = (format!("p{n}"), format!("q{n}"));
            ns.ip(&["link", "add", &p, "type", "veth", "peer", "name", &q]);
            ns.ip(&["link", "set", &p, "up"]);
            ns.ip(&["link", "set", &q, "up"]);
            ports.insert(inst.eni_id(), ns.ifindex(&p));
        }
        // The internet uplink, as the router has one.
        ns.ip(&["link", "add", "pu", "type", "veth", "peer", "name", "qu"]);
        ns.ip(&["link", "set", "pu", "up"]);
        ns.ip(&["link", "set", "qu", "up"]);
        ports.insert(
            vpc_control::topology::UPLINK_PORT.to_string(),
            ns.ifindex("pu"),
        );
        // The services port, as the router has one.
        ns.ip(&["link", "add", "ps", "type", "veth", "peer", "name", "qs"]);
        ns.ip(&["link", "set", "ps", "up"]);
        ns.ip(&["link", "set", "qs", "up"]);
        ports.insert(
            vpc_control::topology::SERVICES_PORT.to_string(),
            ns.ifindex("ps"),
        );
        // A health-check port per VPC whose load balancers' backends are
        // checked, as the router has one.
        let health: Vec<String> = compile::health_check_vpcs(&model).into_iter().collect();
        for (n, vpc) in health.iter().enumerate() {
            let (p, q) = (format!("ph{n}"), format!("qh{n}"));
            ns.ip(&["link", "add", &p, "type", "veth", "peer", "name", &q]);
            ns.ip(&["link", "set", &p, "up"]);
            ns.ip(&["link", "set", &q, "up"]);
            ports.insert(vpc_control::topology::health_check_eni(vpc), ns.ifindex(&p));
        }
        let in_ns = NetnsGuard::enter(&ns.0).unwrap();
        let mut dp = match keep_headers {
            Some(BenchCaches::All) => Datapath::load_keeping_headers(true, true),
            Some(BenchCaches::LookupOnly) => Datapath::load_keeping_headers(false, true),
            Some(BenchCaches::None) => Datapath::load_keeping_headers(false, false),
            None => Datapath::load(None),
        }
        .unwrap();
        let desired = compile::compile(&model, &ports).unwrap();
        dp.write(&Default::default(), &desired).unwrap();
        let model_kept = model.clone();
        // BPF_PROG_TEST_RUN with an ingress ifindex needs the device's XDP
        // receive queue registered, i.e. an XDP program on it.
        let prog = dp.router_program().unwrap();
        let links = (0..model.instances.len())
            .map(|n| format!("p{n}"))
            .chain(["pu".to_string(), "ps".to_string()])
            .chain((0..health.len()).map(|n| format!("ph{n}")))
            .map(|port| {
                let id = prog.attach(&port, aya::programs::XdpMode::Driver).unwrap();
                prog.take_link(id).unwrap()
            })
            .collect();
        DatapathFixture {
            _links: links,
            dp,
            ports,
            model: model_kept,
            _in_ns: in_ns,
            _pins: None,
            _ns: ns,
            mode: Mode::Xdp,
        }
    }

    /// Simulates a daemon restart: pins the maps, drops this handle and
    /// loads a new one on the pins (as `vpc daemon` does after a crash).
    /// The XDP attachments stay.
    pub fn restart(&mut self) {
        let dir = vpc_control::datapath::pin_dir(&self._ns.0);
        vpc_control::datapath::ensure_bpffs().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        self._pins = Some(PinDir(dir.clone()));
        for name in vpc_common::map_names::ALL {
            if !dir.join(name).exists() {
                self.dp
                    .pin_map(name, &dir.join(name))
                    .unwrap_or_else(|e| panic!("pinning {name}: {e}"));
            }
        }
        self.dp = Datapath::load(Some(&self._ns.0))
            .unwrap_or_else(|e| panic!("reloading on the pins: {e}"));
    }

    /// The router port of an ENI.
    pub fn port(&self, eni: &str) -> u32 {
        self.ports[eni]
    }

    /// Runs one frame in on the port of `eni`: verdict and frame out.
    pub fn run(&mut self, eni: &str, frame: &[u8]) -> (u32, Vec<u8>) {
        let ifindex = self.port(eni);
        self.run_on(ifindex, frame)
    }

    /// Runs one frame in on port `ifindex` through the program of
    /// [`Self::mode`]. tc verdicts are given as the XDP verdict of the same
    /// meaning (TC_ACT_SHOT: XDP_DROP; TC_ACT_REDIRECT: XDP_REDIRECT, or
    /// XDP_TX when the frame goes back out of its own port, which a tc test
    /// run does not tell apart: see [`Verdict`]).
    /// [`Self::run`], or `None` where the kernel refuses to test-run the
    /// frame as a socket buffer (tc; see [`try_test_run_tc_gso`]).
    pub fn try_run(&mut self, eni: &str, frame: &[u8]) -> Option<(u32, Vec<u8>)> {
        let ifindex = self.port(eni);
        match self.mode {
            Mode::Xdp => Some(self.run_on(ifindex, frame)),
            Mode::Tc => {
                let (v, out) =
                    try_test_run_tc_gso(self.dp.router_tc_program().unwrap(), ifindex, frame, 0)
                        .ok()?;
                let v = match v {
                    TC_ACT_SHOT => XDP_DROP_VERDICT,
                    TC_ACT_REDIRECT => TC_REDIRECT_AS_XDP,
                    other => panic!("tc verdict {other}"),
                };
                Some((v, out))
            }
        }
    }

    fn run_on(&mut self, ifindex: u32, frame: &[u8]) -> (u32, Vec<u8>) {
        match self.mode {
            Mode::Xdp => test_run(self.dp.router_program().unwrap(), ifindex, frame),
            Mode::Tc => {
                let (v, out) = test_run_tc(self.dp.router_tc_program().unwrap(), ifindex, frame);
                let v = match v {
                    TC_ACT_SHOT => XDP_DROP_VERDICT,
                    TC_ACT_REDIRECT => TC_REDIRECT_AS_XDP,
                    other => panic!("tc verdict {other}"),
                };
                (v, out)
            }
        }
    }

    /// Runs an aggregate in on the port of `eni` through the tc program
    /// (whatever [`Self::mode`]): segments of `gso_size` bytes of payload.
    pub fn run_aggregate(&mut self, eni: &str, frame: &[u8], gso_size: u32) -> (u32, Vec<u8>) {
        let ifindex = self.port(eni);
        test_run_tc_gso(
            self.dp.router_tc_program().unwrap(),
            ifindex,
            frame,
            gso_size,
        )
    }

    /// The uplink port (the internet side).
    pub fn uplink(&self) -> u32 {
        self.ports[vpc_control::topology::UPLINK_PORT]
    }

    /// Runs one frame in from the internet (on the uplink port).
    pub fn run_from_internet(&mut self, frame: &[u8]) -> (u32, Vec<u8>) {
        let ifindex = self.uplink();
        self.run_on(ifindex, frame)
    }

    /// Runs one frame in from the cloud's services network (on the services
    /// port).
    pub fn run_from_services(&mut self, frame: &[u8]) -> (u32, Vec<u8>) {
        let ifindex = self.ports[vpc_control::topology::SERVICES_PORT];
        self.run_on(ifindex, frame)
    }

    /// The scratch namespace the ports live in (a thread that runs frames
    /// through the program must be in it: the kernel resolves the ingress
    /// ifindex there).
    pub fn namespace(&self) -> &str {
        &self._ns.0
    }
    /// Forwarded frames the flow cache decided, all ports.
    pub fn flow_cache_hits(&self) -> u64 {
        self.dp
            .counters()
            .unwrap()
            .ports
            .values()
            .map(|p| p.flow_cache_hits)
            .sum()
    }

    /// A drop counter.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dp.counters().unwrap().dropped(reason)
    }

    /// Rewrites the maps for a changed model (only the difference).
    pub fn reapply(&mut self, model: Model) {
        let model = model.with_system_route_tables();
        vpc_control::validate::validate(&model).unwrap_or_else(|e| panic!("{e}"));
        let current = self.dp.read().unwrap();
        let desired = compile::compile(&model, &self.ports).unwrap_or_else(|e| panic!("{e}"));
        self.dp.write(&current, &desired).unwrap();
        self.model = model;
    }
}

/// The `struct xdp_md` context of a test run: a frame of `len` bytes
/// received on `ifindex` (the device must have an XDP program attached).
pub fn xdp_md(ifindex: u32, len: usize) -> [u8; 24] {
    let mut ctx = [0u8; 24];
    ctx[4..8].copy_from_slice(&(len as u32).to_ne_bytes());
    ctx[12..16].copy_from_slice(&ifindex.to_ne_bytes());
    ctx
}

/// Runs one frame through `prog` (BPF_PROG_TEST_RUN) as if received on
/// `ifindex`: the verdict and the frame out.
pub fn test_run(prog: &aya::programs::Xdp, ifindex: u32, frame: &[u8]) -> (u32, Vec<u8>) {
    let ctx = xdp_md(ifindex, frame.len());
    let mut out = vec![0u8; frame.len() + 256];
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    opts.data_out = Some(&mut out);
    opts.ctx_in = Some(&ctx);
    let r = prog
        .test_run(opts)
        .unwrap_or_else(|e| panic!("test run: {e}"));
    out.truncate(r.data_size_out as usize);
    (r.return_value, out)
}

/// TC_ACT_SHOT.
pub const TC_ACT_SHOT: u32 = 2;
/// TC_ACT_REDIRECT.
pub const TC_ACT_REDIRECT: u32 = 7;
/// XDP_DROP.
const XDP_DROP_VERDICT: u32 = 1;
/// What [`DatapathFixture::run`] answers for TC_ACT_REDIRECT in tc mode:
/// a verdict of its own, which [`same_verdict`] takes as XDP_TX or
/// XDP_REDIRECT (bpf_redirect_peer out of another port or back out of the
/// ingress port: a tc test run returns the same code for both).
pub const TC_REDIRECT_AS_XDP: u32 = 0x100 | TC_ACT_REDIRECT;

/// True if `got` (from [`DatapathFixture::run`] in either mode) is the
/// XDP verdict `expected`.
pub fn same_verdict(got: u32, expected: u32) -> bool {
    got == expected || (got == TC_REDIRECT_AS_XDP && (expected == 3 || expected == 4))
}

/// Runs one frame through the tc router program (BPF_PROG_TEST_RUN on a
/// socket buffer) as if received on `ifindex`: the verdict and the frame out.
pub fn test_run_tc(
    prog: &aya::programs::SchedClassifier,
    ifindex: u32,
    frame: &[u8],
) -> (u32, Vec<u8>) {
    test_run_tc_gso(prog, ifindex, frame, 0)
}

/// [`test_run_tc`] for an aggregate: the socket buffer says it holds
/// segments of `gso_size` bytes of payload (0: a plain packet), as one a
/// TCP sender's segmentation offload hands over.
pub fn test_run_tc_gso(
    prog: &aya::programs::SchedClassifier,
    ifindex: u32,
    frame: &[u8],
    gso_size: u32,
) -> (u32, Vec<u8>) {
    try_test_run_tc_gso(prog, ifindex, frame, gso_size)
        .unwrap_or_else(|e| panic!("tc test run of {} bytes: {e:?}", frame.len()))
}

/// [`test_run_tc_gso`], or the kernel's refusal: it refuses (EINVAL) some
/// frames it would never hand to a tc program (an IPv6 type without an
/// IPv6 header, an IPv4 header cut short...).
pub fn try_test_run_tc_gso(
    prog: &aya::programs::SchedClassifier,
    ifindex: u32,
    frame: &[u8],
    gso_size: u32,
) -> Result<(u32, Vec<u8>), aya::programs::ProgramError> {
    // struct __sk_buff, zero but for ifindex (offset 40), gso_segs (164)
    // and gso_size (176): the kernel makes the test's socket buffer come in
    // on that device. Longer than the struct: the kernel wants the tail zero.
    let mut ctx = [0u8; 256];
    ctx[40..44].copy_from_slice(&ifindex.to_ne_bytes());
    if gso_size != 0 {
        let segs = (frame.len() as u32).div_ceil(gso_size);
        ctx[164..168].copy_from_slice(&segs.to_ne_bytes());
        ctx[176..180].copy_from_slice(&gso_size.to_ne_bytes());
    }
    let mut out = vec![0u8; frame.len() + 256];
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    opts.data_out = Some(&mut out);
    opts.ctx_in = Some(&ctx);
    let r = prog.test_run(opts)?;
    out.truncate(r.data_size_out as usize);
    Ok((r.return_value, out))
}

/// TCP flag bits.
/// Pins the calling thread to the CPU it is on: the flow cache is per CPU,
/// so a test that counts its hits must not move between runs.
pub fn stay_on_this_cpu() {
    // SAFETY: plain libc calls; a zeroed cpu_set_t is a valid empty set,
    // CPU_SET writes inside it, and pid 0 names the calling thread.
    let r = unsafe {
        let cpu = libc::sched_getcpu().max(0) as usize;
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    assert_eq!(
        r,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}

pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

#[allow(clippy::too_many_arguments)]
/// An IPv4 frame with a layer-4 header: TCP (flags), UDP, or any other
/// protocol (ports ignored). ICMP: use [`icmp_echo`].
pub fn l4_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    sport: u16,
    dport: u16,
    flags: u8,
) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&dport.to_be_bytes());
    match proto {
        6 => {
            l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        }
        17 => l4.extend_from_slice(&[0, 8, 0, 0]),
        _ => l4.extend_from_slice(&[0; 4]),
    }
    ipv4_frame(dst_mac, src_mac, src, dst, 64, proto, &l4)
}

/// Writes the right TCP or UDP checksum (pseudo-header included) into an
/// Ethernet + IPv4 frame without options, as a sender with checksum
/// offload off does.
pub fn fix_l4_checksum(f: &mut [u8]) {
    let (proto, at) = match f[23] {
        6 => (6u8, 34 + 16),
        17 => (17u8, 34 + 6),
        _ => return,
    };
    f[at..at + 2].copy_from_slice(&[0, 0]);
    let l4 = &f[34..];
    let mut pseudo = Vec::with_capacity(12 + l4.len());
    pseudo.extend_from_slice(&f[26..34]);
    pseudo.extend_from_slice(&[0, proto]);
    pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(l4);
    let mut c = inet_csum(&pseudo);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
}
