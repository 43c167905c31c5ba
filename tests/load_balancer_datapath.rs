//! The load-balancing stage through BPF_PROG_TEST_RUN, in XDP and tc mode:
//! a client's packet to a listener goes to a backend of the server group
//! (destination translated, client address kept, checksums right), the
//! connection keeps its backend, the backend's reply goes back as from the
//! listener, and refusals are counted by reason.
use std::net::Ipv4Addr;

use vpc_common::DropReason;
use vpc_control::{
    datapath::Mode,
    topology::{INTERNET_MAC, ROUTER_MAC, eni_mac},
};
use vpc_tests::{DatapathFixture as Fixture, fix_l4_checksum, forwarded_later_fragment, fragment_of, l4_frame, same_verdict, tcp_flags as tcp};

const XDP_DROP: u32 = 1;
const XDP_REDIRECT: u32 = 4;

/// A client in vsw-1, two backends in vsw-2, the load balancer's address
/// 10.0.3.5 in vsw-3; listener TCP 80 -> server group port 8080. A second
/// listener (TCP 81) has a server group without servers; the load balancer
/// `nlb-sg` admits only vsw-1 through its security group.
const MODEL: &str = r#"
[[vpc]]
id = "vpc-a"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-1"
vpc_id = "vpc-a"
cidr_block = "10.0.1.0/24"
zone_id = "zone-a"
[[vswitch]]
id = "vsw-2"
vpc_id = "vpc-a"
cidr_block = "10.0.2.0/24"
zone_id = "zone-a"
[[vswitch]]
id = "vsw-3"
vpc_id = "vpc-a"
cidr_block = "10.0.3.0/24"
zone_id = "zone-a"
[[vswitch]]
id = "vsw-4"
vpc_id = "vpc-a"
cidr_block = "10.0.4.0/24"
zone_id = "zone-a"
[[instance]]
id = "i-client"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-other"
vswitch_id = "vsw-4"
private_ip_address = "10.0.4.10"
[[instance]]
id = "i-web1"
vswitch_id = "vsw-2"
private_ip_address = "10.0.2.11"
[[instance]]
id = "i-web2"
vswitch_id = "vsw-2"
private_ip_address = "10.0.2.12"
[[security_group]]
id = "sg-lb"
vpc_id = "vpc-a"
[[security_group.rule]]
id = "sgr-1"
direction = "ingress"
ip_protocol = "tcp"
port_range = [90, 90]
peer = { cidr = "10.0.1.0/24" }
priority = 1
[[load_balancer]]
id = "nlb-1"
vpc_id = "vpc-a"
[[load_balancer.zone_mapping]]
zone_id = "zone-a"
vswitch_id = "vsw-3"
private_ipv4 = "10.0.3.5"
[[load_balancer]]
id = "nlb-sg"
vpc_id = "vpc-a"
security_group_ids = ["sg-lb"]
[[load_balancer.zone_mapping]]
zone_id = "zone-a"
vswitch_id = "vsw-3"
private_ipv4 = "10.0.3.6"
[[load_balancer]]
id = "nlb-pub"
vpc_id = "vpc-a"
address_type = "Internet"
[[load_balancer.zone_mapping]]
zone_id = "zone-a"
vswitch_id = "vsw-3"
private_ipv4 = "10.0.3.7"
public_ipv4 = "192.0.2.50"
[[server_group]]
id = "sgp-web"
vpc_id = "vpc-a"
[[server_group.server]]
server_id = "i-web1"
server_type = "Ecs"
server_ip = "10.0.2.11"
port = 8080
zone_id = "zone-a"
[[server_group.server]]
server_id = "i-web2"
server_type = "Ecs"
server_ip = "10.0.2.12"
port = 8080
zone_id = "zone-a"
[[server_group]]
id = "sgp-empty"
vpc_id = "vpc-a"
[[server_group]]
id = "sgp-dns"
vpc_id = "vpc-a"
protocol = "UDP"
[[server_group.server]]
server_id = "i-web2"
server_type = "Ecs"
server_ip = "10.0.2.12"
port = 5353
zone_id = "zone-a"
[[listener]]
id = "lsn-53"
load_balancer_id = "nlb-1"
protocol = "UDP"
port = 53
server_group_id = "sgp-dns"
[[listener]]
id = "lsn-80"
load_balancer_id = "nlb-1"
protocol = "TCP"
port = 80
server_group_id = "sgp-web"
[[listener]]
id = "lsn-81"
load_balancer_id = "nlb-1"
protocol = "TCP"
port = 81
server_group_id = "sgp-empty"
[[listener]]
id = "lsn-82"
load_balancer_id = "nlb-1"
protocol = "TCP"
port = 82
server_group_id = "sgp-web"
status = "Stopped"
[[listener]]
id = "lsn-443"
load_balancer_id = "nlb-pub"
protocol = "TCP"
port = 443
server_group_id = "sgp-web"
[[listener]]
id = "lsn-90"
load_balancer_id = "nlb-sg"
protocol = "TCP"
port = 90
server_group_id = "sgp-web"
"#;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A TCP frame from `eni`'s instance with a right checksum.
fn tcp_from(eni: &str, src: &str, dst: &str, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut f = l4_frame(ROUTER_MAC, eni_mac(eni), ip(src), ip(dst), 6, sport, dport, flags);
    fix_l4_checksum(&mut f);
    f
}

/// `frame` as the router sends it to `to_eni`, its addresses and ports
/// now `src`:`sport` -> `dst`:`dport`, TTL one less, checksums right.
fn sent(frame: &[u8], to_eni: &str, src: &str, sport: u16, dst: &str, dport: u16) -> Vec<u8> {
    let mut f = forwarded_later_fragment(frame, ROUTER_MAC, eni_mac(to_eni), ip(src), ip(dst));
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    fix_l4_checksum(&mut f);
    f
}

/// The backend (ENI, address) a frame the router sent is addressed to.
fn backend_of(out: &[u8]) -> (&'static str, &'static str) {
    match &out[30..34] {
        [10, 0, 2, 11] => ("eni-web1", "10.0.2.11"),
        [10, 0, 2, 12] => ("eni-web2", "10.0.2.12"),
        other => panic!("sent to {other:?}, no backend"),
    }
}

fn run_checked(fx: &mut Fixture, what: &str, eni: &str, frame: &[u8], verdict: u32) -> Vec<u8> {
    let (v, out) = fx.run(eni, frame);
    assert!(same_verdict(v, verdict), "{what} ({}): verdict {v}, expected {verdict}", fx.mode);
    out
}

#[test]
fn nlb_a_listener_balances_connections_over_its_backends_and_replies_come_back_from_it() {
    let first = Fixture::new(MODEL);
    for mode in [Mode::Xdp, Mode::Tc] {
        let mut fx = first.twin(mode);
        let client = "eni-client";
        let mut seen = std::collections::BTreeSet::new();
        for sport in 40_000..40_040u16 {
            // The SYN goes to a backend, translated; the client address kept.
            let syn = tcp_from(client, "10.0.1.10", "10.0.3.5", sport, 80, tcp::SYN);
            let out = run_checked(&mut fx, "SYN to the listener", client, &syn, XDP_REDIRECT);
            let (eni, backend) = backend_of(&out);
            assert_eq!(out, sent(&syn, eni, "10.0.1.10", sport, backend, 8080), "SYN to {backend}");
            seen.insert(backend);
            // The backend's SYN-ACK goes back as from the listener.
            let syn_ack = tcp_from(eni, backend, "10.0.1.10", 8080, sport, tcp::SYN | tcp::ACK);
            let out = run_checked(&mut fx, "SYN-ACK from the backend", eni, &syn_ack, XDP_REDIRECT);
            assert_eq!(out, sent(&syn_ack, client, "10.0.3.5", 80, "10.0.1.10", sport), "reply of {backend}");
            // The rest of the connection keeps its backend.
            let ack = tcp_from(client, "10.0.1.10", "10.0.3.5", sport, 80, tcp::ACK);
            let out = run_checked(&mut fx, "ACK to the listener", client, &ack, XDP_REDIRECT);
            assert_eq!(out, sent(&ack, eni, "10.0.1.10", sport, backend, 8080), "ACK stays on {backend}");
        }
        // Forty connections over two backends of equal weight: both used.
        assert_eq!(seen.len(), 2, "{mode}: backends used {seen:?}");
    }
}

#[test]
fn nlb_refusals_are_counted_by_reason() {
    let first = Fixture::new(MODEL);
    for mode in [Mode::Xdp, Mode::Tc] {
        let mut fx = first.twin(mode);
        let cases: [(&str, &str, Vec<u8>, DropReason); 3] = [
            (
                "a listener whose server group has no server",
                "eni-client",
                tcp_from("eni-client", "10.0.1.10", "10.0.3.5", 40_000, 81, tcp::SYN),
                DropReason::LbNoBackend,
            ),
            (
                "a stopped listener: nothing answers at its port",
                "eni-client",
                tcp_from("eni-client", "10.0.1.10", "10.0.3.5", 40_000, 82, tcp::SYN),
                DropReason::NoNeighbour,
            ),
            (
                "a client the load balancer's security group does not admit",
                "eni-other",
                tcp_from("eni-other", "10.0.4.10", "10.0.3.6", 40_000, 90, tcp::SYN),
                DropReason::LbSecurityGroup,
            ),
        ];
        for (what, eni, frame, reason) in cases {
            let before = fx.dropped(reason);
            run_checked(&mut fx, what, eni, &frame, XDP_DROP);
            assert_eq!(fx.dropped(reason), before + 1, "{what} ({mode}): counted as {}", reason.name());
        }
        // The admitted client passes the same load balancer.
        let syn = tcp_from("eni-client", "10.0.1.10", "10.0.3.6", 40_001, 90, tcp::SYN);
        let out = run_checked(&mut fx, "an admitted client", "eni-client", &syn, XDP_REDIRECT);
        let (eni, backend) = backend_of(&out);
        assert_eq!(out, sent(&syn, eni, "10.0.1.10", 40_001, backend, 8080));
    }
}

#[test]
fn nlb_an_internet_facing_listener_is_reached_at_the_zones_public_address() {
    let first = Fixture::new(MODEL);
    for mode in [Mode::Xdp, Mode::Tc] {
        let mut fx = first.twin(mode);
        let remote = "198.51.100.10";
        for sport in 50_000..50_010u16 {
            let mut syn = l4_frame(ROUTER_MAC, INTERNET_MAC, ip(remote), ip("192.0.2.50"), 6, sport, 443, tcp::SYN);
            fix_l4_checksum(&mut syn);
            let (v, out) = fx.run_from_internet(&syn);
            assert!(same_verdict(v, XDP_REDIRECT), "SYN from the internet ({mode}): verdict {v}");
            let (eni, backend) = backend_of(&out);
            assert_eq!(out, sent(&syn, eni, remote, sport, backend, 8080), "SYN to {backend} ({mode})");
            // The reply leaves by the uplink as from the public address,
            // though the backend's vSwitch has no route to the internet.
            let syn_ack = tcp_from(eni, backend, remote, 8080, sport, tcp::SYN | tcp::ACK);
            let out = run_checked(&mut fx, "SYN-ACK to the internet", eni, &syn_ack, XDP_REDIRECT);
            let mut expected = sent(&syn_ack, eni, "192.0.2.50", 443, remote, sport);
            expected[0..6].copy_from_slice(&INTERNET_MAC);
            assert_eq!(out, expected, "reply of {backend} ({mode})");
        }
        // A port with no listener at the public address is no one's.
        let before = fx.dropped(DropReason::UnknownPublicAddress);
        let mut other = l4_frame(ROUTER_MAC, INTERNET_MAC, ip(remote), ip("192.0.2.50"), 6, 50_000, 444, tcp::SYN);
        fix_l4_checksum(&mut other);
        let (v, _) = fx.run_from_internet(&other);
        assert!(same_verdict(v, XDP_DROP), "no listener ({mode})");
        assert_eq!(fx.dropped(DropReason::UnknownPublicAddress), before + 1, "counted ({mode})");
    }
}

/// The load-balancing stage's scratch is per CPU and outlives a packet:
/// what it decided for a backend's reply to an internet client (leave by
/// the uplink) must not stick to the next packet the CPU handles. Every
/// run on one CPU.
#[test]
fn nlb_a_reply_to_the_internet_leaves_no_trace_on_the_next_packet() {
    pin_to_cpu0();
    let first = Fixture::new(MODEL);
    for mode in [Mode::Xdp, Mode::Tc] {
        let mut fx = first.twin(mode);
        let remote = "198.51.100.10";
        let mut syn = l4_frame(ROUTER_MAC, INTERNET_MAC, ip(remote), ip("192.0.2.50"), 6, 50_100, 443, tcp::SYN);
        fix_l4_checksum(&mut syn);
        let (v, out) = fx.run_from_internet(&syn);
        assert!(same_verdict(v, XDP_REDIRECT), "SYN from the internet ({mode}): verdict {v}");
        let (eni, backend) = backend_of(&out);
        let syn_ack = tcp_from(eni, backend, remote, 8080, 50_100, tcp::SYN | tcp::ACK);
        let out = run_checked(&mut fx, "SYN-ACK to the internet", eni, &syn_ack, XDP_REDIRECT);
        assert_eq!(out[0..6], INTERNET_MAC, "the reply leaves by the uplink ({mode})");
        // Next, the same backend's own packet to an instance of its VPC
        // (no load balancer between them): it takes its route.
        let own = tcp_from(eni, backend, "10.0.1.10", 5555, 22, tcp::ACK);
        let out = run_checked(&mut fx, "the backend's own packet", eni, &own, XDP_REDIRECT);
        assert_eq!(out, sent(&own, "eni-client", backend, 5555, "10.0.1.10", 22), "routed to the instance, not the uplink ({mode})");
    }
}

/// Pins the calling thread (a test's own) to CPU 0.
fn pin_to_cpu0() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes a bit
    // inside it; sched_setaffinity reads it for this thread (pid 0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set), 0, "pinning to CPU 0");
    }
}

#[test]
fn nlb_a_udp_listener_translates_datagrams_both_ways() {
    let first = Fixture::new(MODEL);
    for mode in [Mode::Xdp, Mode::Tc] {
        let mut fx = first.twin(mode);
        let mut query = l4_frame(ROUTER_MAC, eni_mac("eni-client"), ip("10.0.1.10"), ip("10.0.3.5"), 17, 33_000, 53, 0);
        fix_l4_checksum(&mut query);
        let out = run_checked(&mut fx, "UDP to the listener", "eni-client", &query, XDP_REDIRECT);
        assert_eq!(out, sent(&query, "eni-web2", "10.0.1.10", 33_000, "10.0.2.12", 5353), "{mode}");
        let mut answer = l4_frame(ROUTER_MAC, eni_mac("eni-web2"), ip("10.0.2.12"), ip("10.0.1.10"), 17, 5353, 33_000, 0);
        fix_l4_checksum(&mut answer);
        let out = run_checked(&mut fx, "UDP answer", "eni-web2", &answer, XDP_REDIRECT);
        assert_eq!(out, sent(&answer, "eni-client", "10.0.3.5", 53, "10.0.1.10", 33_000), "{mode}");
    }
}

/// A UDP datagram larger than the link, in fragments, through a listener
/// whose backend port is not its own (53 -> 5353): the first fragment is
/// balanced and translated, the later one (no layer-4 header: its ports
/// are its first fragment's as they arrived) follows it to the same
/// backend with only its addresses translated, its bytes untouched; the
/// backend's answer in fragments comes back as from the listener alike.
#[test]
fn nlb_a_udp_datagram_in_fragments_reaches_one_backend_and_its_answer_comes_back() {
    let first = Fixture::new(MODEL);
    for (k, mode) in [Mode::Xdp, Mode::Tc].into_iter().enumerate() {
        let mut fx = first.twin(mode);
        let sport = 33_100 + k as u16;
        let udp = |eni: &str, src: &str, dst: &str, sport: u16, dport: u16, id: u16, more: bool, offset: u16| {
            let mut f = l4_frame(ROUTER_MAC, eni_mac(eni), ip(src), ip(dst), 17, sport, dport, 0);
            fix_l4_checksum(&mut f);
            fragment_of(f, id, more, offset)
        };
        let head = udp("eni-client", "10.0.1.10", "10.0.3.5", sport, 53, 21, true, 0);
        let out = run_checked(&mut fx, "the query's first fragment", "eni-client", &head, XDP_REDIRECT);
        let (backend, backend_ip) = backend_of(&out);
        assert_eq!(out, sent(&head, backend, "10.0.1.10", sport, backend_ip, 5353), "first fragment ({mode})");
        let tail = udp("eni-client", "10.0.1.10", "10.0.3.5", sport, 53, 21, false, 185);
        let out = run_checked(&mut fx, "the query's last fragment", "eni-client", &tail, XDP_REDIRECT);
        let expected = forwarded_later_fragment(&tail, ROUTER_MAC, eni_mac(backend), ip("10.0.1.10"), ip(backend_ip));
        assert_eq!(out, expected, "last fragment ({mode})");
        let head = udp(backend, backend_ip, "10.0.1.10", 5353, sport, 22, true, 0);
        let out = run_checked(&mut fx, "the answer's first fragment", backend, &head, XDP_REDIRECT);
        assert_eq!(out, sent(&head, "eni-client", "10.0.3.5", 53, "10.0.1.10", sport), "answer's first fragment ({mode})");
        let tail = udp(backend, backend_ip, "10.0.1.10", 5353, sport, 22, false, 185);
        let out = run_checked(&mut fx, "the answer's last fragment", backend, &tail, XDP_REDIRECT);
        let expected = forwarded_later_fragment(&tail, ROUTER_MAC, eni_mac("eni-client"), ip("10.0.3.5"), ip("10.0.1.10"));
        assert_eq!(out, expected, "answer's last fragment ({mode})");
    }
}

/// [`MODEL`] with an enabled IPv4 gateway whose route is the VPC's default
/// (so a destination outside the VPC has a route to the internet), and a
/// second VPC with the same addresses and no load balancer.
fn with_gateway_and_second_vpc() -> String {
    format!(
        r#"{MODEL}
[[ipv4_gateway]]
id = "igw-a"
vpc_id = "vpc-a"
enabled = true
[[route_table]]
id = "vtb-a"
vpc_id = "vpc-a"
type = "System"
[[route_table.route_entry]]
destination_cidr_block = "0.0.0.0/0"
next_hop_type = "Ipv4Gateway"
next_hop_id = "igw-a"
[[vpc]]
id = "vpc-b"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-b2"
vpc_id = "vpc-b"
cidr_block = "10.0.2.0/24"
zone_id = "zone-a"
[[instance]]
id = "i-b-web1"
vswitch_id = "vsw-b2"
private_ip_address = "10.0.2.11"
"#
    )
}

#[test]
fn nlb_health_checks_cross_the_vpc_and_only_their_replies_reach_the_health_check_port() {
    let first = Fixture::new(&with_gateway_and_second_vpc());
    for mode in [Mode::Xdp, Mode::Tc] {
        let mut fx = first.twin(mode);
        let hc = "hc-vpc-a";
        // A check's SYN from the health-check address to a backend: routed
        // in the VPC like any packet (only the TTL and MACs change).
        let syn = tcp_from(hc, "100.100.0.1", "10.0.2.11", 50_000, 8080, tcp::SYN);
        let out = run_checked(&mut fx, "a check's SYN", hc, &syn, XDP_REDIRECT);
        assert_eq!(out, sent(&syn, "eni-web1", "100.100.0.1", 50_000, "10.0.2.11", 8080), "{mode}");
        // The backend's answer goes to the health-check port, though the
        // VPC's default route is the internet.
        let syn_ack = tcp_from("eni-web1", "10.0.2.11", "100.100.0.1", 8080, 50_000, tcp::SYN | tcp::ACK);
        let out = run_checked(&mut fx, "the backend's SYN-ACK", "eni-web1", &syn_ack, XDP_REDIRECT);
        assert_eq!(out, sent(&syn_ack, hc, "10.0.2.11", 8080, "100.100.0.1", 50_000), "{mode}");
        // Nothing from the health-check port leaves the VPC.
        let before = fx.dropped(DropReason::NoRoute);
        let out_of_vpc = tcp_from(hc, "100.100.0.1", "198.51.100.10", 50_001, 80, tcp::SYN);
        run_checked(&mut fx, "a packet from the health-check port to the internet", hc, &out_of_vpc, XDP_DROP);
        assert_eq!(fx.dropped(DropReason::NoRoute), before + 1, "{mode}");
        // A VPC without a health-check port has no way to 100.100.0.1.
        let before = fx.dropped(DropReason::NoNeighbour);
        let other = tcp_from("eni-b-web1", "10.0.2.11", "100.100.0.1", 8080, 50_000, tcp::SYN | tcp::ACK);
        run_checked(&mut fx, "an answer to 100.100.0.1 in another VPC", "eni-b-web1", &other, XDP_DROP);
        assert_eq!(fx.dropped(DropReason::NoNeighbour), before + 1, "{mode}");
    }
}

/// A client port that reached a backend through the listener, reused once
/// that connection is over for a direct connection to the same backend
/// port, gets the backend's answers as from the backend: the direct SYN
/// clears the reply state (`LB_REPLIES`, keyed by the backend's side of
/// the tuple) the balanced connection left. Found by the privatelink
/// bench.
#[test]
fn nlb_a_direct_connection_on_a_tuple_once_balanced_gets_its_answers_from_the_backend() {
    let first = Fixture::new(MODEL);
    for mode in [Mode::Xdp, Mode::Tc] {
        let mut fx = first.twin(mode);
        let (client, sport) = ("eni-client", 40_000u16);
        let syn = tcp_from(client, "10.0.1.10", "10.0.3.5", sport, 80, tcp::SYN);
        let out = run_checked(&mut fx, "SYN to the listener", client, &syn, XDP_REDIRECT);
        let (eni, backend) = backend_of(&out);
        // That connection is over.
        let rst = tcp_from(client, "10.0.1.10", "10.0.3.5", sport, 80, tcp::RST);
        run_checked(&mut fx, "RST to the listener", client, &rst, XDP_REDIRECT);
        // The same client port, straight to that backend.
        let syn = tcp_from(client, "10.0.1.10", backend, sport, 8080, tcp::SYN);
        let out = run_checked(&mut fx, "SYN to the backend", client, &syn, XDP_REDIRECT);
        assert_eq!(out, sent(&syn, eni, "10.0.1.10", sport, backend, 8080), "{mode}: direct SYN");
        let syn_ack = tcp_from(eni, backend, "10.0.1.10", 8080, sport, tcp::SYN | tcp::ACK);
        let out = run_checked(&mut fx, "SYN-ACK of the direct connection", eni, &syn_ack, XDP_REDIRECT);
        assert_eq!(out, sent(&syn_ack, client, backend, 8080, "10.0.1.10", sport), "{mode}: the direct connection's SYN-ACK, from the backend");
    }
}
