//! New TCP connections per second, router-bound (part of the tcp bench):
//! the router's work for a connection, measured the way the pipeline bench
//! measures packets, so that the end hosts' TCP stacks do not hide it.
//!
//! Three namespaces of their own: client (eth0, the client instance's MAC)
//! and server (eth0, the server instance's) joined to the router
//! namespace's r0 and r1 (the router's MAC). Nothing runs a TCP stack:
//! `bench_conn_generator` (vpc-ebpf/src/bench.rs), run by
//! BPF_PROG_TEST_RUN in live-frames mode on the client's eth0, writes one
//! crafted packet per connection and sends it into the router, the
//! client's with XDP_TX (into r0), the server's redirected through a
//! device map out of the server's eth0 (into r1, as the server would
//! send it); `bench_conn_sink` (XDP) and `bench_conn_sink_tc` (tcx
//! ingress, for our tc mode, whose bpf_redirect_peer passes the XDP
//! program by) on both eth0 count and drop what arrives. A connection is
//! seven packets with consistent sequence and acknowledgment numbers (each
//! side's initial sequence number grows by a step per connection), sent
//! phase by phase, each phase every connection's packet from one side,
//! with a barrier before the next: the generator sends nothing (its
//! live-frames loop goes on, the softirq work running between its
//! batches) until the sinks counted every frame sent. Client SYN; server
//! SYN-ACK; client ACK with 64 bytes; server ACK with 64 bytes; client
//! FIN; server FIN; client's last ACK. Connection `c` is client port
//! 1024 + c to the server's port 5201, so a run holds at most 64,512
//! connections; between runs (outside the timed part) the connection
//! tables are emptied (ours: deleted through the sweeper's handle, the
//! flow cache voided by a generation bump and its admission records
//! cleared; Linux: a ctnetlink flush), so
//! every run's connections are new to the router. The time of a run is
//! taken in the kernel: from the generator's first frame to the sinks'
//! last (a test run's own setup, tens of ms of RCU waits, stays out).
//!
//! The whole loop runs on CPU 0 (this thread pinned; veth NAPI runs where
//! the frames are sent): closed, rate = connections / time of the seven
//! phases with their barriers; stdout shows the ns per packet of each
//! phase. Modes, interleaved within each round
//! (ratios per round): ours, XDP and tc, with the server's security group
//! of N rules and a network ACL of N inbound entries on its vSwitch (the
//! flow allowed by the last of each, the client in a group without rules:
//! conntrack both ways), as the end-to-end part; Linux forwarding (GRO on
//! both router ports, ip_forward=1, permanent neighbours) with nftables
//! holding the same rules (`bench::nftables_ruleset`: conntrack, the ACL
//! on every packet towards the server, `ct state established,related
//! accept`, then the SG rules); Linux forwarding without rules.
//!
//! Checked, besides sent = received for every phase: the generator's
//! frames are the ones built here (checksums right) before anything else;
//! a SYN to a port the rules refuse (5202) is dropped in the filtered
//! modes (ours: counted as an ACL or SG drop, no connection made) and
//! reaches the server in the unfiltered one; in our modes every run left
//! exactly its connections in the table, each closing, with no drop and
//! every packet sent out by the router; with nftables, the first run's
//! SYNs, and only they, reached the SG chain (a counter on the jump: the
//! other packets were judged established by conntrack, as on a real
//! host).
use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, DevMap},
    programs::{
        LinkOrder, SchedClassifier, TcAttachType, TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode,
        tc::{SchedClassifierLinkId, TcAttachOptions},
        xdp::XdpLinkId,
    },
};
use vpc_common::{
    CT_STATE_CLOSING, DropReason,
    bench::{CONN_HEADERS, CONN_MAX_PHASES, ConnPhase, ConnRun},
};
use vpc_control::{
    compile::{self, MapEntries},
    datapath::{BENCH_OBJECT, Datapath},
    model::{IpProtocol, Model, eni_id_of},
    netns::NetnsGuard,
    topology::{ROUTER_MAC, eni_mac},
};
use vpc_tests::{
    ScratchNs,
    bench::{self, Report, ratios},
    inet_csum, ipv4_frame,
};

use super::{MODEL, Mode, PORT, SERVER, client_net, mac, namespace, sysctl};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
/// The client port of connection 0.
const FIRST_PORT: u16 = 1024;
/// Most connections in one run: one per client port.
const MAX_CONNECTIONS: u32 = 65_536 - FIRST_PORT as u32;
/// Frames per live-frames batch.
const BATCH: u32 = 64;
/// Bytes of data each side sends.
const PAYLOAD: usize = 64;
/// Header bytes of a frame: Ethernet, IPv4, TCP (no options).
const HEADERS: usize = CONN_HEADERS;
/// Initial sequence numbers of connection 0 and their step per connection.
const CLIENT_ISN: u32 = 0x1000_0000;
const CLIENT_ISN_STEP: u32 = 0x0001_0003;
const SERVER_ISN: u32 = 0x8000_0000;
const SERVER_ISN_STEP: u32 = 0x0002_0005;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// One packet of every connection.
#[derive(Clone, Copy, Debug)]
struct Phase {
    name: &'static str,
    from_client: bool,
    flags: u8,
    /// Sequence number: the sender's initial one plus this.
    seq: u32,
    /// Acknowledgment number: the receiver's initial one plus this (None:
    /// no ACK flag, field 0).
    ack: Option<u32>,
    /// Carries PAYLOAD bytes.
    data: bool,
}

const P: u32 = PAYLOAD as u32;
const PHASES: [Phase; 7] = [
    Phase { name: "SYN", from_client: true, flags: SYN, seq: 0, ack: None, data: false },
    Phase { name: "SYN-ACK", from_client: false, flags: SYN | ACK, seq: 0, ack: Some(1), data: false },
    Phase { name: "ACK + data", from_client: true, flags: PSH | ACK, seq: 1, ack: Some(1), data: true },
    Phase { name: "data + ACK", from_client: false, flags: PSH | ACK, seq: 1, ack: Some(1 + P), data: true },
    Phase { name: "client FIN", from_client: true, flags: FIN | ACK, seq: 1 + P, ack: Some(1 + P), data: false },
    Phase { name: "server FIN", from_client: false, flags: FIN | ACK, seq: 1 + P, ack: Some(2 + P), data: false },
    Phase { name: "last ACK", from_client: true, flags: ACK, seq: 2 + P, ack: Some(2 + P), data: false },
];

/// The TCP checksum of the IPv4 frame `f` is right.
fn tcp_checksum_ok(f: &[u8]) -> bool {
    let tcp = &f[34..];
    let mut pseudo = Vec::with_capacity(12 + tcp.len());
    pseudo.extend_from_slice(&f[26..34]);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(tcp);
    inet_csum(&pseudo) == 0
}

/// Connection `c`'s packet of phase `p`, to server port `port`; the
/// client's packets go to `to` (a load balancer's listener) if given, else
/// to the server.
fn frame(p: &Phase, c: u32, port: u16, to: Option<(Ipv4Addr, u16)>) -> Vec<u8> {
    let client_port = FIRST_PORT + c as u16;
    let client_isn = CLIENT_ISN.wrapping_add(c.wrapping_mul(CLIENT_ISN_STEP));
    let server_isn = SERVER_ISN.wrapping_add(c.wrapping_mul(SERVER_ISN_STEP));
    let (to_addr, to_port) = to.unwrap_or((SERVER, port));
    let (sport, dport, own_isn, peer_isn) =
        if p.from_client { (client_port, to_port, client_isn, server_isn) } else { (port, client_port, server_isn, client_isn) };
    let mut tcp = Vec::with_capacity(20 + PAYLOAD);
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&dport.to_be_bytes());
    tcp.extend_from_slice(&own_isn.wrapping_add(p.seq).to_be_bytes());
    tcp.extend_from_slice(&p.ack.map_or(0, |a| peer_isn.wrapping_add(a)).to_be_bytes());
    tcp.extend_from_slice(&[0x50, p.flags]);
    tcp.extend_from_slice(&64_240u16.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]);
    if p.data {
        tcp.extend_from_slice(&[0; PAYLOAD]);
    }
    let (src, dst) = if p.from_client { (CLIENT, to_addr) } else { (SERVER, CLIENT) };
    let mut pseudo = Vec::with_capacity(12 + tcp.len());
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(&tcp);
    let c = inet_csum(&pseudo);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let from = eni_mac(&eni_id_of(if p.from_client { "i-client" } else { "i-server" }));
    ipv4_frame(ROUTER_MAC, from, src, dst, 64, 6, &tcp)
}

/// Phase `p` of a run, to server port `port`: connection 0's headers and
/// the steps per connection (the client's port is the source port of the
/// client's packets, the destination of the server's).
fn conn_phase(p: &Phase, port: u16, to: Option<(Ipv4Addr, u16)>) -> ConnPhase {
    let mut bytes = [0u8; 56];
    bytes[..HEADERS].copy_from_slice(&frame(p, 0, port, to)[..HEADERS]);
    let headers = std::array::from_fn(|k| u64::from_ne_bytes(bytes[8 * k..8 * k + 8].try_into().unwrap()));
    let (own, peer) = if p.from_client { (CLIENT_ISN_STEP, SERVER_ISN_STEP) } else { (SERVER_ISN_STEP, CLIENT_ISN_STEP) };
    ConnPhase {
        headers,
        sport_step: u32::from(p.from_client),
        dport_step: u32::from(!p.from_client),
        seq_step: own,
        ack_step: if p.ack.is_some() { peer } else { 0 },
        from_client: u8::from(p.from_client),
        data: u8::from(p.data),
        pad: [0; 6],
    }
}

/// A run of `count` connections through `phases` (to server port `port`,
/// the client's packets to `to` if given), from its first phase and
/// connection, nothing counted yet.
fn conn_run(phases: &[Phase], port: u16, count: u32, to: Option<(Ipv4Addr, u16)>) -> ConnRun {
    assert!(phases.len() <= CONN_MAX_PHASES && (1..=MAX_CONNECTIONS).contains(&count));
    let mut all = [ConnPhase::default(); CONN_MAX_PHASES];
    for (k, p) in phases.iter().enumerate() {
        all[k] = conn_phase(p, port, to);
    }
    ConnRun {
        phases: all,
        phase_count: phases.len() as u32,
        count,
        phase: 0,
        next: 0,
        sent: [0; 2],
        sunk: [0; 3],
        waits: 0,
        start_ns: 0,
        end_ns: 0,
        phase_ns: [0; CONN_MAX_PHASES],
    }
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

/// Empties the connection tracking table of namespace `ns` (a ctnetlink
/// IPCTNL_MSG_CT_DELETE without attributes: what `conntrack -F` sends).
fn flush_linux_conntrack(ns: &str) {
    const NFNL_SUBSYS_CTNETLINK: u16 = 1;
    const IPCTNL_MSG_CT_DELETE: u16 = 2;
    let _in = NetnsGuard::enter(ns).unwrap();
    // SAFETY: socket(2) with constant arguments; the descriptor is owned
    // from here on.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_NETFILTER) };
    assert!(fd >= 0, "netlink socket: {}", std::io::Error::last_os_error());
    // SAFETY: a descriptor just opened, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // struct nlmsghdr (16 bytes) then struct nfgenmsg (4): family AF_INET,
    // version NFNETLINK_V0, resource id 0.
    let mut msg = [0u8; 20];
    msg[0..4].copy_from_slice(&20u32.to_ne_bytes());
    msg[4..6].copy_from_slice(&(NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE).to_ne_bytes());
    msg[6..8].copy_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    msg[8..12].copy_from_slice(&1u32.to_ne_bytes());
    msg[16] = libc::AF_INET as u8;
    // SAFETY: a zeroed sockaddr_nl is valid (pid 0: the kernel); `msg` and
    // `reply` outlive the calls, which get their true lengths.
    let (sent, got, reply) = unsafe {
        let mut to: libc::sockaddr_nl = std::mem::zeroed();
        to.nl_family = libc::AF_NETLINK as u16;
        let sent = libc::sendto(
            fd.as_raw_fd(),
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&to as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        );
        let mut reply = [0u8; 256];
        let got = libc::recv(fd.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len(), 0);
        (sent, got, reply)
    };
    assert_eq!(sent, 20, "ctnetlink flush: {}", std::io::Error::last_os_error());
    assert!(got >= 20, "ctnetlink flush: no answer ({})", std::io::Error::last_os_error());
    // NLMSG_ERROR (2) with error 0: done.
    let kind = u16::from_ne_bytes([reply[4], reply[5]]);
    let error = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
    assert!(kind == libc::NLMSG_ERROR as u16 && error == 0, "ctnetlink flush in {ns}: type {kind}, error {error}");
}

/// Entries in namespace `ns`'s connection tracking table.
fn linux_conntrack_count(ns: &str) -> u64 {
    let _in = NetnsGuard::enter(ns).unwrap();
    std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_count")
        .unwrap_or_else(|e| panic!("nf_conntrack_count in {ns}: {e}"))
        .trim()
        .parse()
        .unwrap()
}

/// The packets of `nftables`'s SG chain jump counter (see [`counted`]).
fn nft_sg_jumps(ns: &str) -> u64 {
    let out = vpc_control::netns::exec(ns, "nft", &["list", "chain", "ip", "vpcbench", "forward"]).unwrap_or_else(|e| panic!("{e}"));
    let line = out.lines().find(|l| l.contains("jump sg_ingress")).unwrap_or_else(|| panic!("no SG jump in:\n{out}"));
    let n = line.split("counter packets ").nth(1).unwrap_or_else(|| panic!("no counter in {line:?}"));
    n.split_whitespace().next().unwrap().parse().unwrap()
}

/// `ruleset` with a counter on the jump to the SG chain.
fn counted(ruleset: &str) -> String {
    let r = ruleset.replace("jump sg_ingress", "counter jump sg_ingress");
    assert_ne!(r, ruleset, "the ruleset has a jump to sg_ingress");
    r
}

/// A program attached by [`Crafted::set_mode`].
enum Link {
    Xdp(XdpLinkId),
    Tc(SchedClassifierLinkId),
}

/// What one run of connections did.
struct Run {
    /// From the generator's first frame to the sinks' last.
    seconds: f64,
    /// Frames not received (all phases).
    lost: u64,
    /// Frames the generator held back at barriers.
    waits: u64,
    /// ns per connection of each phase (first frame to the next phase's
    /// first frame, the last to the end).
    phase_ns: [f64; 7],
}

/// The topology; namespaces (veths, programs, rules) deleted on drop.
struct Crafted {
    client: ScratchNs,
    router: ScratchNs,
    /// Kept for its drop (the generator reaches its veth through the
    /// device map).
    _server: ScratchNs,
    /// ifindex of the client's eth0 (where the generator runs).
    c0: u32,
    tools: Ebpf,
    dp: Datapath,
    ports: BTreeMap<String, u32>,
    written: MapEntries,
    mode: Option<Mode>,
    links: Vec<Link>,
    /// Where the client's packets go: a load balancer's listener, or (None)
    /// the server itself.
    to: Option<(Ipv4Addr, u16)>,
}

impl Crafted {
    fn new() -> Self {
        let client = namespace("vpcb-ccl");
        let router = namespace("vpcb-crt");
        let server = namespace("vpcb-csv");
        client.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "r0", "netns", &router.0]);
        server.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "r1", "netns", &router.0]);
        for (ns, id) in [(&client, "i-client"), (&server, "i-server")] {
            ns.ip(&["link", "set", "eth0", "address", &mac(eni_mac(&eni_id_of(id))), "up"]);
        }
        for port in ["r0", "r1"] {
            router.ip(&["link", "set", port, "address", &mac(ROUTER_MAC), "up"]);
        }
        // The Linux side of the router (what Linux forwarding uses; our
        // programs take every frame before it).
        router.ip(&["addr", "add", "10.0.1.253/24", "dev", "r0"]);
        router.ip(&["addr", "add", "10.0.2.253/24", "dev", "r1"]);
        for (addr, id, port) in [(CLIENT, "i-client", "r0"), (SERVER, "i-server", "r1")] {
            router.ip(&["neigh", "replace", &addr.to_string(), "lladdr", &mac(eni_mac(&eni_id_of(id))), "dev", port, "nud", "permanent"]);
        }
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv4.conf.r0.rp_filter", "0"),
            ("net.ipv4.conf.r1.rp_filter", "0"),
        ] {
            sysctl(&router, key, value);
        }
        // Without GRO (or an XDP program) a router port drops what its
        // peer XDP_TXes.
        for port in ["r0", "r1"] {
            vpc_control::netns::exec(&router.0, "ethtool", &["-K", port, "gro", "on"]).unwrap_or_else(|e| panic!("{e}"));
        }
        let (c0, s0) = (client.ifindex("eth0"), server.ifindex("eth0"));

        let mut tools = EbpfLoader::new()
            .override_global("CONN_SERVER", &SERVER.octets(), true)
            .load(BENCH_OBJECT)
            .unwrap_or_else(|e| panic!("loading the bench programs: {e}"));
        for name in ["bench_conn_generator", "bench_conn_sink"] {
            let p: &mut Xdp = tools.program_mut(name).unwrap().try_into().unwrap();
            p.load().unwrap_or_else(|e| panic!("loading {name}: {e}"));
        }
        {
            let p: &mut SchedClassifier = tools.program_mut("bench_conn_sink_tc").unwrap().try_into().unwrap();
            p.load().unwrap_or_else(|e| panic!("loading bench_conn_sink_tc: {e}"));
        }
        {
            // The server's veth, for the generator's redirects (resolved
            // in the namespace the entry is written from).
            let _in = NetnsGuard::enter(&server.0).unwrap();
            let mut m: DevMap<_> = DevMap::try_from(tools.map_mut("CONN_SERVER_PORT").unwrap()).unwrap();
            m.set(0, s0, None, 0).unwrap_or_else(|e| panic!("the server's veth in the device map: {e}"));
        }
        // The sinks stay on both eth0 in every mode: the XDP one also makes
        // the veth accept frames redirected into its peer; the tc one sees
        // what our tc mode's bpf_redirect_peer hands it past XDP.
        for ns in [&client, &server] {
            let _in = NetnsGuard::enter(&ns.0).unwrap();
            let p: &mut Xdp = tools.program_mut("bench_conn_sink").unwrap().try_into().unwrap();
            p.attach("eth0", XdpMode::Driver).unwrap_or_else(|e| panic!("attaching the sink: {e}"));
            let p: &mut SchedClassifier = tools.program_mut("bench_conn_sink_tc").unwrap().try_into().unwrap();
            p.attach_with_options("eth0", TcAttachType::Ingress, TcAttachOptions::TcxOrder(LinkOrder::default()))
                .unwrap_or_else(|e| panic!("attaching the tc sink: {e}"));
        }

        let (dp, ports) = {
            let _in = NetnsGuard::enter(&router.0).unwrap();
            let mut dp = Datapath::load(None).unwrap_or_else(|e| panic!("loading the router: {e}"));
            // The table itself is measured (the baselines have no quota).
            dp.set_conntrack_quota(vpc_common::ConntrackQuota::UNLIMITED).unwrap_or_else(|e| panic!("quota: {e}"));
            let ports: BTreeMap<String, u32> =
                [(eni_id_of("i-client"), router.ifindex("r0")), (eni_id_of("i-server"), router.ifindex("r1"))].into();
            (dp, ports)
        };
        Crafted { client, router, _server: server, c0, tools, dp, ports, written: MapEntries::default(), mode: None, links: Vec::new(), to: None }
    }

    /// Writes the model: the server's security group with `n` rules and a
    /// network ACL of `n` inbound entries on its vSwitch, the last of each
    /// allowing TCP 5201 from the client's vSwitch; the client in a group
    /// without rules.
    fn set_policies(&mut self, n: usize) {
        self.set_model(n, "");
    }

    /// [`Self::set_policies`], with `more` (model text) added.
    fn set_model(&mut self, n: usize, more: &str) {
        let mut m = Model::from_toml(&(MODEL.to_string() + more)).unwrap().with_system_route_tables();
        m.allocate_numeric_ids();
        let allow = (client_net(), IpProtocol::Tcp, PORT);
        m.security_groups.iter_mut().find(|g| g.id == "sg-server").unwrap().rules = bench::sg_rules_allowing(n, Some(allow));
        m.network_acls[0].ingress = bench::acl_entries_allowing(n, allow);
        m.vswitches.iter_mut().find(|v| v.id == "vsw-server").unwrap().network_acl_id = Some("nacl-server".into());
        vpc_control::validate::validate(&m).unwrap_or_else(|e| panic!("{e}"));
        let desired = compile::compile(&m, &self.ports).unwrap_or_else(|e| panic!("{e}"));
        let _in = NetnsGuard::enter(&self.router.0).unwrap();
        let current = self.dp.read().unwrap();
        self.dp.write(&current, &desired).unwrap_or_else(|e| panic!("writing the router maps: {e}"));
        self.written = desired;
    }

    /// Puts `mode` on r0 and r1.
    fn set_mode(&mut self, mode: Mode) {
        if self.mode == Some(mode) {
            return;
        }
        let _in = NetnsGuard::enter(&self.router.0).unwrap();
        for link in self.links.drain(..) {
            match link {
                Link::Xdp(id) => self.dp.router_program().unwrap().detach(id).unwrap(),
                Link::Tc(id) => self.dp.router_tc_program().unwrap().detach(id).unwrap(),
            }
        }
        for port in ["r0", "r1"] {
            match mode {
                Mode::Xdp => self.links.push(Link::Xdp(self.dp.router_program().unwrap().attach(port, XdpMode::Driver).unwrap())),
                Mode::Tc => {
                    let tcx = TcAttachOptions::TcxOrder(LinkOrder::default());
                    let id = self.dp.router_tc_program().unwrap().attach_with_options(port, TcAttachType::Ingress, tcx).unwrap();
                    self.links.push(Link::Tc(id));
                }
                Mode::Linux => {}
            }
        }
        self.mode = Some(mode);
    }

    fn read_run(&self) -> ConnRun {
        let a: Array<_, ConnRun> = Array::try_from(self.tools.map("CONN_RUN").unwrap()).unwrap();
        a.get(&0, 0).unwrap()
    }

    fn write_run(&mut self, run: ConnRun) {
        let mut a: Array<_, ConnRun> = Array::try_from(self.tools.map_mut("CONN_RUN").unwrap()).unwrap();
        a.set(0, run, 0).unwrap();
    }

    /// Runs the generator on `run` (live frames, on the client's veth) until
    /// it sent every phase: the run as the generator and the sinks left it.
    fn generate(&mut self, run: ConnRun) -> ConnRun {
        let frames = run.phase_count * run.count;
        self.write_run(run);
        let data = [0u8; HEADERS + PAYLOAD];
        let ctx = vpc_tests::xdp_md(self.c0, data.len());
        // Room for the frames held back at the barriers (the rest of the
        // batch that ends a phase, and more while softirq work waits for
        // ksoftirqd): if they run out, the generator goes on in another
        // test run (the gap between the two is then in the figure: noted).
        let mut calls = 0;
        loop {
            {
                let _in = NetnsGuard::enter(&self.client.0).unwrap();
                let g: &Xdp = self.tools.program("bench_conn_generator").unwrap().try_into().unwrap();
                let mut opts = TestRunOptions::new();
                opts.data_in = Some(&data);
                opts.ctx_in = Some(&ctx);
                opts.repeat = frames + frames / 4 + 10_000;
                opts.attrs = TestRunAttrs::new().xdp_live_frames(BATCH);
                g.test_run(opts).unwrap_or_else(|e| panic!("live frames: {e}"));
            }
            calls += 1;
            let now = self.read_run();
            if now.phase >= now.phase_count {
                if calls > 1 {
                    println!("crafted connections: a run took {calls} test runs (its time includes the gaps)");
                }
                break;
            }
            assert!(calls < 5, "crafted connections: stuck in phase {} (sent {:?}, counted {:?})", now.phase, now.sent, now.sunk);
        }
        // The last frames are counted as their batch is flushed; a moment
        // for any softirq work left to ksoftirqd.
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let now = self.read_run();
            if now.sunk[..2] == now.sent[..] || Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The generator writes the frames built here: for every phase and a
    /// few connections, one test run (not live) of the generator compared
    /// with [`frame`] (the TCP checksum checked for being right: a zero
    /// has two forms).
    fn check_generator(&mut self) {
        for (k, p) in PHASES.iter().enumerate() {
            for c in [0, 1, 4_660, MAX_CONNECTIONS - 1] {
                let mut run = conn_run(&PHASES, PORT, MAX_CONNECTIONS, self.to);
                (run.phase, run.next) = (k as u32, c);
                self.write_run(run);
                let expected = frame(p, c, PORT, self.to);
                let junk = [0xa5u8; HEADERS + PAYLOAD];
                let _in = NetnsGuard::enter(&self.client.0).unwrap();
                let g: &Xdp = self.tools.program("bench_conn_generator").unwrap().try_into().unwrap();
                let (verdict, out) = vpc_tests::test_run(g, self.c0, &junk);
                assert_eq!(verdict, if p.from_client { 3 } else { 4 }, "{}: XDP_TX from the client, XDP_REDIRECT from the server", p.name);
                assert!(tcp_checksum_ok(&out), "{} of connection {c}: TCP checksum", p.name);
                let strip = |f: &[u8]| [&f[..50], &f[52..]].concat();
                assert_eq!(strip(&out), strip(&expected), "{} of connection {c}: the generator's frame", p.name);
            }
        }
    }

    /// Sends `count` SYNs to the server's port 5202, which the rules do
    /// not open: the frames that reached the server.
    fn syns_to_refused_port(&mut self, count: u32) -> u64 {
        let run = self.generate(conn_run(&PHASES[..1], PORT + 1, count, self.to));
        assert_eq!(run.sent, [u64::from(count), 0], "SYNs sent");
        // Those that pass arrive at once; give the refused a moment too.
        std::thread::sleep(Duration::from_millis(50));
        let run = self.read_run();
        assert_eq!(run.sunk[1..], [0, 0], "frames to the client or not TCP");
        run.sunk[0]
    }

    /// One run of `count` connections (the tables empty before). Checks
    /// what the router's tables and counters say, then empties them.
    fn connections(&mut self, count: u32, nft: bool, check_nft_counter: bool) -> Run {
        let counters = self.dp.counters().unwrap();
        let run = self.generate(conn_run(&PHASES, PORT, count, self.to));
        let mode = self.mode.unwrap();
        let n = u64::from(count);
        assert_eq!(run.sent, [4 * n, 3 * n], "{mode:?}: frames sent (to the server, to the client)");
        assert_eq!(run.sunk[2], 0, "{mode:?}: frames other than TCP reached the sinks");
        let lost = (run.sent[0] + run.sent[1]).saturating_sub(run.sunk[0] + run.sunk[1]);
        assert!(lost > 0 || run.end_ns > run.start_ns, "{mode:?}: the run has no end time");
        match mode {
            Mode::Xdp | Mode::Tc => {
                let now = self.dp.counters().unwrap();
                let dropped = |c: &vpc_control::datapath::Counters| c.drops.iter().map(|(_, n)| n).sum::<u64>();
                assert_eq!(dropped(&now), dropped(&counters), "{mode:?}: the router dropped frames");
                let sent = |c: &vpc_control::datapath::Counters| c.ports.values().map(|p| p.tx_packets).sum::<u64>();
                assert_eq!(sent(&now) - sent(&counters), 7 * n, "{mode:?}: frames the router sent");
                let mut sweeper = self.dp.sweeper().unwrap();
                let table = sweeper.connections().unwrap();
                let ours = |k: &vpc_common::CtKey| {
                    k.src == CLIENT.octets() && k.dst == SERVER.octets() && u16::from_be_bytes(k.dport) == PORT && k.proto == 6
                };
                let closing = table.iter().filter(|(k, e)| ours(k) && e.state == CT_STATE_CLOSING).count();
                assert_eq!((table.len(), closing), (count as usize, count as usize), "{mode:?}: connections made, all closing");
                // Emptied for the next run (all of them past any timeout
                // at the end of time), and the flow cache's decisions
                // voided, as a sweep only deletes what the cache no longer
                // holds (idle beyond its refresh).
                let swept = sweeper.conntrack(u64::MAX).unwrap();
                assert_eq!(swept.removed, count as usize);
                let _in = NetnsGuard::enter(&self.router.0).unwrap();
                self.dp.write(&self.written, &self.written).unwrap();
                // And the flows' admissions to the flow cache forgotten:
                // the next run's connections are new ones.
                self.dp.clear_flow_cache_admission().unwrap();
            }
            Mode::Linux if nft => {
                if check_nft_counter {
                    assert_eq!(nft_sg_jumps(&self.router.0), n, "nftables: only the SYNs are judged by the SG rules");
                }
                assert!(linux_conntrack_count(&self.router.0) >= n, "nftables: conntrack holds the connections");
                flush_linux_conntrack(&self.router.0);
            }
            Mode::Linux => {}
        }
        let mut phase_ns = [0.0; 7];
        for (k, t) in phase_ns.iter_mut().enumerate() {
            let next = if k + 1 < PHASES.len() { run.phase_ns[k + 1] } else { run.end_ns };
            *t = next.saturating_sub(run.phase_ns[k]) as f64 / f64::from(count);
        }
        Run { seconds: run.end_ns.saturating_sub(run.start_ns) as f64 / 1e9, lost, waits: run.waits, phase_ns }
    }
}

/// One figure: connections per second each round, frames lost noted.
#[derive(Default)]
struct Series {
    values: Vec<f64>,
    lost: u64,
}

impl Series {
    fn note(&self) -> String {
        if self.lost == 0 { "no loss".into() } else { format!("LOSS: {} frames not received", self.lost) }
    }
}

impl Crafted {
    /// Connections through each of `modes` (nftables `rulesets[k]` loaded
    /// for mode k, none if None; `names[k]` for stdout), interleaved over
    /// `rounds` rounds after a warm-up round that sizes each mode's runs
    /// (`first_ruleset`, if given, replaces the rulesets in the warm-up:
    /// the SG counter check): connections per second each round.
    #[allow(clippy::too_many_arguments)]
    fn rounds(
        &mut self,
        modes: &[Mode],
        rulesets: &[Option<String>],
        names: &[String],
        first_ruleset: Option<&str>,
        rounds: usize,
        count: u32,
        seconds: f64,
    ) -> Vec<Series> {
        let b = self;
        let mut series: Vec<Series> = modes.iter().map(|_| Series::default()).collect();
        let mut rate: Vec<f64> = vec![0.0; modes.len()];
        for round in 0..=rounds {
            for (k, (mode, name)) in modes.iter().zip(names).enumerate() {
                b.set_mode(*mode);
                // Round 0 warms up and sizes each mode's measurement; with
                // nftables it counts the SYNs judged by the SG rules.
                let nftables = rulesets[k].is_some();
                let ruleset = match (round, first_ruleset) {
                    (0, Some(first)) if nftables => Some(first.to_string()),
                    _ => rulesets[k].clone(),
                };
                bench::nftables(&b.router.0, ruleset.as_deref());
                let runs = if round == 0 { 1 } else { ((seconds * rate[k] / f64::from(count)).round() as usize).max(1) };
                let (mut secs, mut lost, mut waits, mut phase_ns) = (0.0, 0, 0, [0.0; 7]);
                for _ in 0..runs {
                    let r = b.connections(count, nftables, round == 0 && first_ruleset.is_some());
                    secs += r.seconds;
                    lost += r.lost;
                    waits += r.waits;
                    for (t, p) in phase_ns.iter_mut().zip(r.phase_ns) {
                        *t += p / runs as f64;
                    }
                }
                rate[k] = (runs as f64 * f64::from(count)) / secs;
                // Where the time goes: ns per connection in each phase (the
                // whole loop: generator, veths, router, sink).
                println!(
                    "crafted connections, round {round}, {name}: {:.0} conn/s over {runs} runs; ns per packet by phase {:?} ({}); {waits} frames held at barriers, {lost} lost",
                    rate[k],
                    phase_ns.map(|t| t.round() as u64),
                    PHASES.map(|p| p.name).join(", "),
                );
                if round > 0 {
                    series[k].values.push(rate[k]);
                    series[k].lost += lost;
                }
            }
        }
        series
    }
}

/// Runs the router-bound connections bench and records its figures.
pub fn run(report: &Report, smoke: bool) {
    let (rounds, count, seconds) = if smoke { (1, 2_000, 0.0) } else { (3, 64_000, 1.0) };
    pin_to_cpu0();
    let n = 100;
    let allow = (client_net(), IpProtocol::Tcp, PORT);
    let nft = bench::nftables_ruleset(
        "vpcbench",
        "r1",
        &bench::acl_entries_allowing(n, allow),
        &bench::sg_rules_allowing(n, Some(allow)),
    );
    let mut b = Crafted::new();
    b.set_policies(n);
    b.check_generator();
    // (mode, nftables rules loaded, name)
    let modes: [(Mode, bool, String); 4] = [
        (Mode::Xdp, false, format!("ours (XDP), ACL + SG {n} rules each")),
        (Mode::Tc, false, format!("ours (tc), ACL + SG {n} rules each")),
        (Mode::Linux, true, format!("Linux + nftables, conntrack + {n} + {n} rules")),
        (Mode::Linux, false, "Linux forwarding (no rules)".to_string()),
    ];
    let refused = 1_000;
    for (mode, nftables, name) in &modes {
        b.set_mode(*mode);
        bench::nftables(&b.router.0, nftables.then_some(nft.as_str()));
        let before = b.dp.counters().unwrap();
        let passed = b.syns_to_refused_port(refused);
        let filtered = *mode != Mode::Linux || *nftables;
        assert_eq!(passed, if filtered { 0 } else { u64::from(refused) }, "{name}: SYNs to port {} (not allowed by the rules)", PORT + 1);
        if *mode != Mode::Linux {
            let now = b.dp.counters().unwrap();
            let refusals = |c: &vpc_control::datapath::Counters| c.dropped(DropReason::AclIngress) + c.dropped(DropReason::SgIngress);
            assert_eq!(refusals(&now) - refusals(&before), u64::from(refused), "{name}: the refused SYNs are counted as ACL or SG drops");
            assert!(b.dp.sweeper().unwrap().connections().unwrap().is_empty(), "{name}: a refused SYN makes no connection");
        } else if *nftables {
            flush_linux_conntrack(&b.router.0);
        }
    }
    // `VPC_BENCH_PROFILE_MODE=xdp|tc`: only that mode of ours, 12 rounds
    // printed and nothing recorded (for `perf record`, or to compare two
    // builds quickly; the ratio needs the interleaved rounds below).
    if let Ok(m) = std::env::var("VPC_BENCH_PROFILE_MODE") {
        let k = match m.as_str() {
            "xdp" => 0,
            "tc" => 1,
            other => panic!("VPC_BENCH_PROFILE_MODE={other}: xdp or tc"),
        };
        b.rounds(&[modes[k].0], &[None], &[modes[k].2.clone()], None, 12, count, seconds);
        return;
    }
    let rulesets: Vec<Option<String>> = modes.iter().map(|(_, on, _)| on.then(|| nft.clone())).collect();
    let names: Vec<String> = modes.iter().map(|(_, _, name)| name.clone()).collect();
    let modes_only: Vec<Mode> = modes.iter().map(|(m, _, _)| *m).collect();
    let series = b.rounds(&modes_only, &rulesets, &names, Some(&counted(&nft)), rounds, count, seconds);
    bench::nftables(&b.router.0, None);
    let what = "new TCP connections/s, router-bound (crafted packets, one core)";
    for (k, (_, _, name)) in modes.iter().enumerate() {
        report.figure("tcp", &format!("{what}: {name}"), "conn/s", &series[k].values, &series[k].note());
    }
    let what = "new TCP connections/s, router-bound";
    let goal = "goal >= 3x (issue 17)";
    report.figure("ratios", &format!("{what}: ours (XDP) / nftables"), "x", &ratios(&series[0].values, &series[2].values), goal);
    report.figure("ratios", &format!("{what}: ours (tc) / nftables"), "x", &ratios(&series[1].values, &series[2].values), goal);
    report.figure("ratios", &format!("{what}: ours (XDP) / Linux forwarding (no rules)"), "x", &ratios(&series[0].values, &series[3].values), "");
    report.figure("ratios", &format!("{what}: ours (tc) / Linux forwarding (no rules)"), "x", &ratios(&series[1].values, &series[3].values), "");
    report.figure("ratios", &format!("{what}: nftables / Linux forwarding (no rules)"), "x", &ratios(&series[2].values, &series[3].values), "");
}

/// The load balancer's address in the load-balancer runs.
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 5);
/// Its listener port.
const LB_PORT: u16 = 80;

/// New connections through a network load balancer (a TCP listener whose
/// server group is the server, port 5201), router-bound as above, ours
/// (XDP, tc) against Linux with nftables translating the same (`dnat` in
/// prerouting, conntrack): the connections of each run are new to the
/// router (its conntrack emptied; each SYN balanced anew).
pub fn run_lb(report: &Report, smoke: bool) {
    let (rounds, count, seconds) = if smoke { (1, 2_000, 0.0) } else { (3, 64_000, 1.0) };
    pin_to_cpu0();
    let mut b = Crafted::new();
    b.set_model(1, &bench::load_balancer_toml(VIP, "TCP", LB_PORT, &[("Ecs", "i-server", SERVER, PORT)]));
    assert_eq!(b.written.lb_listeners.len(), 1, "the listener is compiled");
    b.to = Some((VIP, LB_PORT));
    b.check_generator();
    let dnat = format!(
        "table ip vpcbench {{\n chain pre {{\n  type nat hook prerouting priority dstnat; policy accept;\n  ip daddr {VIP} tcp dport {LB_PORT} dnat ip to {SERVER}:{PORT}\n }}\n}}\n"
    );
    let modes = [Mode::Xdp, Mode::Tc, Mode::Linux];
    let names = ["ours (XDP), load balancer", "ours (tc), load balancer", "Linux + nftables dnat"].map(String::from);
    let rulesets = [None, None, Some(dnat)];
    let series = b.rounds(&modes, &rulesets, &names, None, rounds, count, seconds);
    bench::nftables(&b.router.0, None);
    let what = "new TCP connections/s through a load balancer, router-bound (crafted packets, one core)";
    for (k, name) in names.iter().enumerate() {
        report.figure("tcp", &format!("{what}: {name}"), "conn/s", &series[k].values, &series[k].note());
    }
    let what = "new TCP connections/s through a load balancer";
    report.figure("ratios", &format!("{what}: ours (XDP) / nftables dnat"), "x", &ratios(&series[0].values, &series[2].values), "");
    report.figure("ratios", &format!("{what}: ours (tc) / nftables dnat"), "x", &ratios(&series[1].values, &series[2].values), "");
}
