//! End to end: labs applied with the control plane's own `apply`, instances
//! in namespaces pinging and talking TCP through the XDP router. Every lab
//! uses names unique to the run and is destroyed on drop, even on failure.
use std::net::Ipv4Addr;

use vpc_common::{Action, DropReason};
use vpc_control::{apply, datapath, netns};
use vpc_tests::{Lab, ping, ping_fails, tcp_echo};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Two VPCs with the same CIDR: vpc-a has two vSwitches, vpc-b one.
const TWO_VPCS: &str = r#"
[router]
namespace = "vpct-r@"
[[vpc]]
id = "vpc-a@"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-a1@"
vpc_id = "vpc-a@"
cidr_block = "10.0.1.0/24"
[[vswitch]]
id = "vsw-a2@"
vpc_id = "vpc-a@"
cidr_block = "10.0.2.0/24"
[[instance]]
id = "i-a1@"
vswitch_id = "vsw-a1@"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-a2@"
vswitch_id = "vsw-a2@"
private_ip_address = "10.0.2.10"
[[vpc]]
id = "vpc-b@"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-b1@"
vpc_id = "vpc-b@"
cidr_block = "10.0.1.0/24"
[[instance]]
id = "i-b1@"
vswitch_id = "vsw-b1@"
private_ip_address = "10.0.1.20"
"#;

#[test]
fn rt_2_instances_in_two_vswitches_ping_and_talk_tcp_through_xdp() {
    let lab = Lab::up(TWO_VPCS);
    let (a1, a2) = (lab.id("i-a1@"), lab.id("i-a2@"));
    let before = lab.counters().action(Action::Forwarded);
    assert!(ping(&a1, ip("10.0.2.10"), 5), "i-a1 -> i-a2 ping across vSwitches");
    assert!(ping(&a2, ip("10.0.1.10"), 3), "i-a2 -> i-a1 ping");
    assert!(tcp_echo(&a2, &a1, ip("10.0.2.10"), 8080), "TCP i-a1 -> i-a2:8080");
    let c = lab.counters();
    // 5 + 3 echo requests and their replies at least, plus the TCP exchange.
    assert!(
        c.action(Action::Forwarded) >= before + 16 + 6,
        "XDP forwarded the packets: {} forwarded",
        c.action(Action::Forwarded)
    );
    assert!(c.action(Action::ArpReplied) >= 2, "gateway ARP answered in XDP");
    let out = netns::exec(&a1, "ping", &["-c", "1", "10.0.2.10"]).unwrap();
    assert!(out.contains("ttl=63"), "one routed hop decrements TTL: {out}");
}

#[test]
fn vpc_3_instance_of_another_vpc_with_the_same_cidr_cannot_reach_them() {
    let lab = Lab::up(TWO_VPCS);
    let b1 = lab.id("i-b1@");
    let before = lab.counters();
    assert!(ping_fails(&b1, ip("10.0.2.10")), "vpc-b has no route to vpc-a's vSwitch");
    assert!(ping_fails(&b1, ip("10.0.1.10")), "10.0.1.10 is nobody in vpc-b");
    assert!(!tcp_echo(&lab.id("i-a1@"), &b1, ip("10.0.1.10"), 8081), "no TCP across VPCs");
    let after = lab.counters();
    assert!(after.dropped(DropReason::NoRoute) > before.dropped(DropReason::NoRoute));
    assert!(after.dropped(DropReason::NoNeighbour) > before.dropped(DropReason::NoNeighbour));
    // Inside vpc-a everything still works.
    assert!(ping(&lab.id("i-a1@"), ip("10.0.2.10"), 2));
}

/// vsw-1's custom table sends 10.0.2.0/25 through a firewall appliance in
/// vsw-fw; the appliance's ENI has source/dest check off.
const APPLIANCE: &str = r#"
[router]
namespace = "vpct-r@"
[[vpc]]
id = "vpc-fw@"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-1@"
vpc_id = "vpc-fw@"
cidr_block = "10.0.1.0/24"
route_table_id = "vtb-via-fw@"
[[vswitch]]
id = "vsw-2@"
vpc_id = "vpc-fw@"
cidr_block = "10.0.2.0/24"
[[vswitch]]
id = "vsw-fw@"
vpc_id = "vpc-fw@"
cidr_block = "10.0.3.0/24"
[[route_table]]
id = "vtb-via-fw@"
vpc_id = "vpc-fw@"
[[route_table.route_entry]]
destination_cidr_block = "10.0.2.0/25"
next_hop_type = "Instance"
next_hop_id = "i-fw@"
[[instance]]
id = "i-c@"
vswitch_id = "vsw-1@"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-s@"
vswitch_id = "vsw-2@"
private_ip_address = "10.0.2.10"
[[instance]]
id = "i-fw@"
vswitch_id = "vsw-fw@"
private_ip_address = "10.0.3.10"
source_dest_check = false
"#;

#[test]
fn rt_3_custom_route_with_instance_next_hop_goes_through_the_appliance() {
    let lab = Lab::up(APPLIANCE);
    let (c, fw) = (lab.id("i-c@"), lab.id("i-fw@"));
    // The appliance routes (and does not tell the client to go around it).
    netns::sysctl(&fw, "net.ipv4.ip_forward", "1").unwrap();
    netns::sysctl(&fw, "net.ipv4.conf.all.send_redirects", "0").unwrap();
    netns::sysctl(&fw, "net.ipv4.conf.eth0.send_redirects", "0").unwrap();
    let fw_port = apply::router_ports(&lab.model.router.namespace)
        .unwrap()
        .into_iter()
        .find(|p| p.instance_id == fw)
        .unwrap()
        .ifindex;
    let before = lab.counters().ports[&fw_port];
    assert!(ping(&c, ip("10.0.2.10"), 4), "client reaches the server through the appliance");
    let after = lab.counters().ports[&fw_port];
    assert!(after.tx_packets >= before.tx_packets + 4, "the router sent the requests to the appliance");
    assert!(after.rx_packets >= before.rx_packets + 4, "the appliance sent them back to the router");
    let out = netns::exec(&c, "ping", &["-c", "1", "10.0.2.10"]).unwrap();
    assert!(out.contains("ttl=63"), "the reply comes straight back (system table of vsw-2): {out}");
    // Stop the appliance forwarding: the path through it is the only one.
    netns::sysctl(&fw, "net.ipv4.ip_forward", "0").unwrap();
    assert!(ping_fails(&c, ip("10.0.2.10")), "no appliance, no path");
}

#[test]
fn rt_1_apply_converges_to_a_changed_file_and_destroy_removes_everything() {
    let mut lab = Lab::up(TWO_VPCS);
    let router = lab.model.router.namespace.clone();
    let again = apply::apply(lab.model.clone()).unwrap();
    assert_eq!((again.ports_created, again.writes.upserts, again.writes.removals), (0, 0, 0), "re-apply is a no-op");

    // Move i-a2 to another address and drop i-b1.
    let mut model = lab.model.clone();
    let b1 = lab.id("i-b1@");
    model.instances.retain(|i| i.id != b1);
    model.instances[1].private_ip_address = Some(ip("10.0.2.77"));
    let r = lab.reapply(model);
    // i-b1's port, and vpc-b's services port (its resolver): vpc-b has no
    // instance left.
    assert_eq!(r.ports_removed, 2);
    assert!(r.writes.upserts > 0 && r.writes.removals > 0, "only the difference is written: {r:?}");
    assert!(!netns::exists(&b1), "removed instance's namespace is gone");
    assert!(ping(&lab.id("i-a1@"), ip("10.0.2.77"), 2), "moved address answers");
    assert!(ping_fails(&lab.id("i-a1@"), ip("10.0.2.10")), "old address is gone");

    apply::destroy(&lab.model).unwrap();
    assert!(!netns::exists(&router));
    assert!(!netns::exists(&lab.id("i-a1@")));
    assert!(!datapath::pin_dir(&router).exists(), "pins removed");
}

#[test]
fn vpc_1_invalid_file_is_refused_and_changes_nothing() {
    let text = TWO_VPCS.replace("10.0.2.0/24", "10.9.2.0/24").replace('@', &vpc_tests::unique(""));
    let model = vpc_control::model::Model::from_toml(&text).unwrap();
    let err = apply::apply(model.clone()).unwrap_err();
    assert_eq!(err.code(), "InvalidParameter", "{err}");
    assert!(err.to_string().contains("not inside"), "{err}");
    assert!(!netns::exists(&model.router.namespace), "nothing was created");
    assert!(model.instances.iter().all(|i| !netns::exists(&i.id)));
}

/// The router port of instance `inst` (its veth end in the router namespace).
fn port_of(lab: &Lab, inst: &str) -> String {
    let links = netns::links(&lab.model.router.namespace).unwrap_or_else(|e| panic!("{e}"));
    let alias = format!("{}{inst}", vpc_control::topology::PORT_ALIAS_PREFIX);
    links
        .into_iter()
        .find(|l| l.ifalias.as_deref() == Some(alias.as_str()))
        .unwrap_or_else(|| panic!("no router port for {inst}"))
        .ifname
}

fn in_ns(ns: &str, args: &[&str]) -> String {
    let o = std::process::Command::new("ip").args(["netns", "exec", ns]).args(args).output().expect("ip netns exec");
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// traceroute from an instance shows the router as one hop: its first
/// probe's TTL runs out at the router, which answers ICMP time exceeded from
/// the gateway address of the sender's vSwitch; the second reaches the
/// instance. In both datapath modes.
#[test]
fn datapath_traceroute_shows_the_vswitch_gateway_as_a_hop() {
    for mode in [datapath::Mode::Tc, datapath::Mode::Xdp] {
        let lab = Lab::up_in_mode(TWO_VPCS, mode);
        let a1 = lab.id("i-a1@");
        let before = lab.counters().action(Action::IcmpTimeExceededSent);
        let out = in_ns(&a1, &["traceroute", "-n", "-q", "1", "-w", "2", "-m", "4", "10.0.2.10"]);
        let hops: Vec<&str> = out.lines().skip(1).map(str::trim).collect();
        assert!(hops.first().is_some_and(|h| h.starts_with("1  10.0.1.253 ")), "{mode}: hop 1 is the vSwitch gateway:\n{out}");
        assert!(hops.get(1).is_some_and(|h| h.starts_with("2  10.0.2.10 ")), "{mode}: hop 2 is the instance:\n{out}");
        assert_eq!(hops.len(), 2, "{mode}: two hops:\n{out}");
        let sent = lab.counters().action(Action::IcmpTimeExceededSent) - before;
        assert!(sent >= 1, "{mode}: time exceeded counted ({sent})");
    }
}

/// Path MTU discovery across ports with different MTUs: with the router
/// port towards i-a2 at 1,400 bytes, a 1,500-byte packet with DF from i-a1
/// is answered with fragmentation needed (mtu 1400) from the gateway, the
/// sender's kernel lowers its path MTU for the destination, and a TCP
/// transfer (whose MSS, from the instances' own 1,500-byte MTUs, does not
/// fit) completes. In both datapath modes.
#[test]
fn datapath_path_mtu_discovery_works_across_ports_with_different_mtus() {
    for mode in [datapath::Mode::Tc, datapath::Mode::Xdp] {
        let lab = Lab::up_in_mode(TWO_VPCS, mode);
        let (a1, a2) = (lab.id("i-a1@"), lab.id("i-a2@"));
        let port = port_of(&lab, &a2);
        let mut nl = netns::Netlink::open(&lab.model.router.namespace).unwrap_or_else(|e| panic!("{e}"));
        nl.set_mtu(&port, 1400).unwrap_or_else(|e| panic!("{e}"));
        let before = lab.counters().action(Action::IcmpFragNeededSent);
        let out = in_ns(&a1, &["ping", "-n", "-M", "do", "-s", "1472", "-c", "2", "-i", "0.2", "-W", "1", "10.0.2.10"]);
        assert!(out.contains("mtu = 1400") || out.contains("mtu=1400"), "{mode}: fragmentation needed with mtu 1400:\n{out}");
        let route = in_ns(&a1, &["ip", "route", "get", "10.0.2.10"]);
        assert!(route.contains("mtu 1400"), "{mode}: path MTU learnt:\n{route}");
        let sent = lab.counters().action(Action::IcmpFragNeededSent) - before;
        assert!(sent >= 1, "{mode}: fragmentation needed counted ({sent})");
        // A new connection after the path MTU is learnt, and one whose
        // first big segment must learn it: flush the cache first.
        in_ns(&a1, &["ip", "route", "flush", "cache"]);
        let moved = vpc_tests::tcp_bulk(&a2, &a1, ip("10.0.2.10"), 8090, 4 << 20);
        assert_eq!(moved, 4 << 20, "{mode}: 4 MiB through the 1,400-byte port");
    }
}

/// A flooder and its sink, two more instances in its VPC, two in another;
/// every group lets TCP in, so every SYN makes a tracked connection.
const FLOOD: &str = r#"
[router]
namespace = "vpct-r@"
[[vpc]]
id = "vpc-f@"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-f@"
vpc_id = "vpc-f@"
cidr_block = "10.0.1.0/24"
[[instance]]
id = "i-flood@"
vswitch_id = "vsw-f@"
private_ip_address = "10.0.1.30"
security_group_ids = ["sg-f@"]
[[instance]]
id = "i-sink@"
vswitch_id = "vsw-f@"
private_ip_address = "10.0.1.40"
security_group_ids = ["sg-f@"]
[[instance]]
id = "i-f1@"
vswitch_id = "vsw-f@"
private_ip_address = "10.0.1.10"
security_group_ids = ["sg-f@"]
[[instance]]
id = "i-f2@"
vswitch_id = "vsw-f@"
private_ip_address = "10.0.1.20"
security_group_ids = ["sg-f@"]
[[security_group]]
id = "sg-f@"
vpc_id = "vpc-f@"
[[security_group.rule]]
id = "sgr-f@"
direction = "ingress"
ip_protocol = "tcp"
port_range = [1, 65535]
peer = { cidr = "0.0.0.0/0" }
priority = 1
[[vpc]]
id = "vpc-o@"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-o@"
vpc_id = "vpc-o@"
cidr_block = "10.0.1.0/24"
[[instance]]
id = "i-o1@"
vswitch_id = "vsw-o@"
private_ip_address = "10.0.1.10"
security_group_ids = ["sg-o@"]
[[instance]]
id = "i-o2@"
vswitch_id = "vsw-o@"
private_ip_address = "10.0.1.20"
security_group_ids = ["sg-o@"]
[[security_group]]
id = "sg-o@"
vpc_id = "vpc-o@"
[[security_group.rule]]
id = "sgr-o@"
direction = "ingress"
ip_protocol = "tcp"
port_range = [1, 65535]
peer = { cidr = "0.0.0.0/0" }
priority = 1
"#;

/// Sends TCP SYNs from namespace `ns` (address `src`) to `dst`, every one
/// a new tuple, until `stop`; returns how many were sent. A raw socket:
/// the flood needs no handshake, only the router's connection entries.
fn syn_flood(
    ns: String,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let _in = netns::NetnsGuard::enter(&ns).unwrap_or_else(|e| panic!("{e}"));
        // SAFETY: plain socket(2); the descriptor is closed below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let to = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: 0,
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(dst.octets()) },
            sin_zero: [0; 8],
        };
        let mut sent = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            // 64,512 source ports times 255 destination ports: never a tuple twice.
            let sport = 1024 + (sent % 64_512) as u16;
            let dport = 1 + (sent / 64_512 % 255) as u16;
            let mut p = [0u8; 40];
            p[0] = 0x45;
            p[2..4].copy_from_slice(&40u16.to_be_bytes());
            p[6] = 0x40;
            p[8] = 64;
            p[9] = 6;
            p[12..16].copy_from_slice(&src.octets());
            p[16..20].copy_from_slice(&dst.octets());
            p[20..22].copy_from_slice(&sport.to_be_bytes());
            p[22..24].copy_from_slice(&dport.to_be_bytes());
            p[32] = 0x50;
            p[33] = 0x02;
            p[34..36].copy_from_slice(&1024u16.to_be_bytes());
            // SAFETY: `p` and `to` are valid for the lengths given.
            let n = unsafe {
                libc::sendto(fd, p.as_ptr().cast(), p.len(), 0, (&to as *const libc::sockaddr_in).cast(), size_of::<libc::sockaddr_in>() as u32)
            };
            if n == 40 {
                sent += 1;
                progress.store(sent, std::sync::atomic::Ordering::Relaxed);
            }
        }
        // SAFETY: our descriptor, closed once.
        unsafe { libc::close(fd) };
        sent
    })
}

/// Connects `count` times from `client` to a listener in `server` at
/// `addr:port` (one second each); returns how many connections were
/// accepted and echoed.
fn connections_that_work(server: &str, client: &str, addr: Ipv4Addr, port: u16, count: usize) -> usize {
    use std::{io::{Read, Write}, net::{SocketAddr, TcpListener, TcpStream}, time::Duration};
    let listener = {
        let _in = netns::NetnsGuard::enter(server).unwrap_or_else(|e| panic!("{e}"));
        TcpListener::bind((addr, port)).unwrap_or_else(|e| panic!("bind in {server}: {e}"))
    };
    listener.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = stop.clone();
    let echo = std::thread::spawn(move || {
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).ok();
                    s.set_read_timeout(Some(Duration::from_secs(1))).ok();
                    let mut buf = [0u8; 5];
                    if s.read_exact(&mut buf).is_ok() {
                        let _ = s.write_all(&buf);
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    });
    let _in = netns::NetnsGuard::enter(client).unwrap_or_else(|e| panic!("{e}"));
    let ok = (0..count)
        .filter(|_| match TcpStream::connect_timeout(&SocketAddr::from((addr, port)), Duration::from_secs(1)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(1))).ok();
                let mut buf = [0u8; 5];
                s.write_all(b"hello").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"hello"
            }
            Err(_) => false,
        })
        .count();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = echo.join();
    ok
}

/// No shared exhaustion (issue 18): one instance floods new connections
/// (more SYNs than the whole connection table holds) toward a sink of its
/// own; its ENI's quota refuses its new flows beyond its share, counted on
/// its ENI, and new connections between other instances, in its VPC and in
/// another, all work meanwhile. (Before the quotas the flood filled the
/// table and every other new connection failed.)
#[test]
fn conntrack_a_flood_from_one_instance_leaves_other_instances_connecting() {
    let lab = Lab::up(FLOOD);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let flood = syn_flood(lab.id("i-flood@"), ip("10.0.1.30"), ip("10.0.1.40"), stop.clone(), progress.clone());
    // Until the flood has sent more SYNs than the table holds.
    let started = std::time::Instant::now();
    let quota = vpc_common::ConntrackQuota::DEFAULT;
    while progress.load(std::sync::atomic::Ordering::Relaxed) < u64::from(vpc_common::MAX_CONNECTIONS) + 10_000 {
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "the flood is too slow");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let same_vpc = connections_that_work(&lab.id("i-f2@"), &lab.id("i-f1@"), ip("10.0.1.20"), 8081, 100);
    let other_vpc = connections_that_work(&lab.id("i-o2@"), &lab.id("i-o1@"), ip("10.0.1.20"), 8082, 100);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = flood.join().unwrap();
    let c = lab.counters();
    let flood_port = c
        .connections
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(p, _)| *p)
        .unwrap_or_else(|| panic!("no port counts connections"));
    eprintln!("flood: {sent} SYNs; same VPC {same_vpc}/100, other VPC {other_vpc}/100; refused on the flooder's ENI {}", c.ports[&flood_port].conntrack_refused);
    assert!(sent > u64::from(vpc_common::MAX_CONNECTIONS), "the flood sent more SYNs than the table holds: {sent}");
    assert!(same_vpc >= 99, "new connections in the flooder's VPC: {same_vpc}/100 worked");
    assert!(other_vpc >= 99, "new connections in another VPC: {other_vpc}/100 worked");
    assert_eq!(c.connections[&flood_port], u64::from(quota.per_eni), "the flooder holds exactly its quota");
    assert!(
        c.ports[&flood_port].conntrack_refused + u64::from(quota.per_eni) >= u64::from(vpc_common::MAX_CONNECTIONS),
        "the refusals are counted on the flooder's ENI"
    );
    assert_eq!(c.dropped(DropReason::ConntrackFull), 0, "the table never filled");
}

/// A client whose group lets nothing in, a server whose group lets UDP 53 in.
const RELATED: &str = r#"
[router]
namespace = "vpct-r@"
[[vpc]]
id = "vpc-r@"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-r1@"
vpc_id = "vpc-r@"
cidr_block = "10.0.1.0/24"
[[vswitch]]
id = "vsw-r2@"
vpc_id = "vpc-r@"
cidr_block = "10.0.2.0/24"
[[instance]]
id = "i-rc@"
vswitch_id = "vsw-r1@"
private_ip_address = "10.0.1.10"
security_group_ids = ["sg-rc@"]
[[instance]]
id = "i-rs@"
vswitch_id = "vsw-r2@"
private_ip_address = "10.0.2.10"
security_group_ids = ["sg-rs@"]
[[security_group]]
id = "sg-rc@"
vpc_id = "vpc-r@"
[[security_group]]
id = "sg-rs@"
vpc_id = "vpc-r@"
[[security_group.rule]]
id = "sgr-dns@"
direction = "ingress"
ip_protocol = "udp"
port_range = [53, 53]
peer = { cidr = "10.0.0.0/8" }
priority = 1
"#;

/// ICMP errors about a tracked flow pass as related (issue 18): a datagram
/// to a UDP port the server's group allows but nothing listens on is
/// answered by the server's kernel with port unreachable, which reaches
/// the client (whose group lets no ICMP in) as the error of its flow: the
/// connected socket's next receive fails at once with "connection
/// refused" instead of waiting out its timeout.
#[test]
fn sg_1_a_port_unreachable_about_a_tracked_flow_reaches_its_sender() {
    use std::{net::UdpSocket, time::Duration};
    let lab = Lab::up(RELATED);
    let _in = netns::NetnsGuard::enter(&lab.id("i-rc@")).unwrap_or_else(|e| panic!("{e}"));
    let socket = UdpSocket::bind("10.0.1.10:0").unwrap();
    socket.connect("10.0.2.10:53").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut refused = 0;
    for _ in 0..3 {
        socket.send(b"query").unwrap();
        let mut buf = [0u8; 16];
        match socket.recv(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
            other => panic!("expected connection refused (ICMP port unreachable), got {other:?}"),
        }
    }
    assert_eq!(refused, 3, "every datagram was answered by a port unreachable");
}

/// Drops the kernel makes on a router port are exported (issue 18: veth
/// oversize drops were not): an instance whose interface MTU is raised
/// above its router port's sends frames the veth cannot pass; none
/// arrives, and the port's `kernel_dropped` (DescribeRouterStats
/// `KernelDropped`, /metrics `vpc_port_kernel_dropped_total`) counts each.
#[test]
fn router_ports_export_the_frames_the_kernel_dropped() {
    let lab = Lab::up(TWO_VPCS);
    let a1 = lab.id("i-a1@");
    let router = lab.model.router.namespace.clone();
    let port = |ports: &[apply::ExistingPort]| ports.iter().find(|p| p.instance_id == a1).map(|p| p.kernel_dropped).unwrap();
    let before = port(&apply::router_ports(&router).unwrap());
    netns::exec(&a1, "ip", &["link", "set", "eth0", "mtu", "9000"]).unwrap();
    let out = netns::exec(&a1, "ping", &["-c", "3", "-W", "1", "-M", "do", "-s", "3000", "10.0.2.10"]);
    assert!(out.is_err() || !out.as_deref().unwrap_or("").contains(" 0% packet loss"), "no oversize frame passes: {out:?}");
    let after = port(&apply::router_ports(&router).unwrap());
    assert!(after >= before + 3, "the three oversize frames are counted on the port: {before} -> {after}");
}
