//! The PrivateLink stage through BPF_PROG_TEST_RUN, in XDP and tc mode: a
//! consumer's packet to an interface endpoint ENI reaches a backend of the
//! service's load balancer in the provider's VPC, as from the load
//! balancer's address (both VPCs use the same CIDR block, EP-4), and the
//! backend's reply comes back as from the endpoint ENI; the endpoint's
//! security groups (SG-4) and its connection's state (CONN-2) decide, and
//! refusals are counted by reason.
use std::net::Ipv4Addr;

use vpc_common::DropReason;
use vpc_control::{datapath::Mode, topology::{ROUTER_MAC, eni_mac}};
use vpc_tests::{DatapathFixture as Fixture, fix_l4_checksum, forwarded_later_fragment, fragment_of, l4_frame, same_verdict, tcp_flags as tcp};

const XDP_DROP: u32 = 1;
const XDP_REDIRECT: u32 = 4;

/// The consumer's VPC and the provider's, both 10.0.0.0/16. The consumer's
/// client 10.0.1.10 has the endpoint ENI 10.0.1.100 (connected, its
/// security group admits TCP 80 from 10.0.1.0/24) and 10.0.1.101 (a second
/// endpoint whose connection was never accepted). The provider's backend
/// holds 10.0.1.10 too; its load balancer is at 10.0.3.5 with listener
/// TCP 80 -> port 8080.
const VPCS_AND_EP2: &str = r#"
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
id = "vsw-p3"
vpc_id = "vpc-provider"
cidr_block = "10.0.3.0/24"
zone_id = "zone-a"
[[instance]]
id = "i-web"
vswitch_id = "vsw-p1"
private_ip_address = "10.0.1.10"
[[vpc_endpoint]]
id = "ep-2"
vpc_id = "vpc-consumer"
service_id = "epsrv-1"
service_name = "com.aliyuncs.privatelink.cn-lab.epsrv-1"
security_group_ids = ["sg-ep"]
[[vpc_endpoint.zone]]
zone_id = "zone-a"
vswitch_id = "vsw-c1"
eni_id = "eni-ep2"
eni_ip = "10.0.1.101"
"#;

/// The whole model: [`VPCS_AND_EP2`] and the shared service and endpoint.
fn model() -> String {
    format!("{VPCS_AND_EP2}{}", vpc_tests::PRIVATELINK_SERVICE_TOML)
}

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

fn run_checked(fx: &mut Fixture, what: &str, eni: &str, frame: &[u8], verdict: u32) -> Vec<u8> {
    let (v, out) = fx.run(eni, frame);
    assert!(same_verdict(v, verdict), "{what} ({}): verdict {v}, expected {verdict}", fx.mode);
    out
}

#[test]
fn ep_3_ep_4_a_consumer_reaches_the_service_backend_through_its_endpoint_eni_across_overlapping_cidrs() {
    let first = Fixture::new(&model());
    for mode in [Mode::Xdp, Mode::Tc] {
        let mut fx = first.twin(mode);
        let (client, web) = ("eni-client", "eni-web");
        let mut ports = std::collections::BTreeSet::new();
        for sport in 40_000..40_010u16 {
            // The SYN reaches the backend as from the load balancer, at a
            // port of the connection's own.
            let syn = tcp_from(client, "10.0.1.10", "10.0.1.100", sport, 80, tcp::SYN);
            let out = run_checked(&mut fx, "SYN to the endpoint ENI", client, &syn, XDP_REDIRECT);
            let lb_port = u16::from_be_bytes([out[34], out[35]]);
            assert_eq!(out, sent(&syn, web, "10.0.3.5", lb_port, "10.0.1.10", 8080), "SYN ({mode})");
            assert!(lb_port >= 1024, "{mode}: source port {lb_port}");
            ports.insert(lb_port);
            // The backend's answer comes back as from the endpoint ENI.
            let syn_ack = tcp_from(web, "10.0.1.10", "10.0.3.5", 8080, lb_port, tcp::SYN | tcp::ACK);
            let out = run_checked(&mut fx, "SYN-ACK from the backend", web, &syn_ack, XDP_REDIRECT);
            assert_eq!(out, sent(&syn_ack, client, "10.0.1.100", 80, "10.0.1.10", sport), "reply ({mode})");
            // The connection keeps its port.
            let ack = tcp_from(client, "10.0.1.10", "10.0.1.100", sport, 80, tcp::ACK);
            let out = run_checked(&mut fx, "ACK to the endpoint ENI", client, &ack, XDP_REDIRECT);
            assert_eq!(out, sent(&ack, web, "10.0.3.5", lb_port, "10.0.1.10", 8080), "ACK ({mode})");
        }
        assert_eq!(ports.len(), 10, "{mode}: one port per connection: {ports:?}");
    }
}

/// EP-3: a request in fragments (a segment its sender's stack fragmented)
/// to the endpoint ENI reaches the service's backend: the first fragment
/// translated both ways as the connection's packets are, the later one
/// (no layer-4 header: its ports are its first fragment's as they
/// arrived) with its addresses only, its bytes untouched; the backend's
/// answer in fragments comes back as from the endpoint ENI alike.
#[test]
fn ep_3_a_request_in_fragments_reaches_the_backend_through_the_endpoint_eni_and_its_answer_comes_back() {
    let first = Fixture::new(&model());
    for (k, mode) in [Mode::Xdp, Mode::Tc].into_iter().enumerate() {
        let mut fx = first.twin(mode);
        let (client, web) = ("eni-client", "eni-web");
        let sport = 40_100 + k as u16;
        let syn = tcp_from(client, "10.0.1.10", "10.0.1.100", sport, 80, tcp::SYN);
        let out = run_checked(&mut fx, "SYN to the endpoint ENI", client, &syn, XDP_REDIRECT);
        let lb_port = u16::from_be_bytes([out[34], out[35]]);
        let syn_ack = tcp_from(web, "10.0.1.10", "10.0.3.5", 8080, lb_port, tcp::SYN | tcp::ACK);
        run_checked(&mut fx, "SYN-ACK from the backend", web, &syn_ack, XDP_REDIRECT);
        let request = |more, offset| fragment_of(tcp_from(client, "10.0.1.10", "10.0.1.100", sport, 80, tcp::ACK), 31, more, offset);
        let head = request(true, 0);
        let out = run_checked(&mut fx, "the request's first fragment", client, &head, XDP_REDIRECT);
        assert_eq!(out, sent(&head, web, "10.0.3.5", lb_port, "10.0.1.10", 8080), "first fragment ({mode})");
        let tail = request(false, 3);
        let out = run_checked(&mut fx, "the request's last fragment", client, &tail, XDP_REDIRECT);
        let expected = forwarded_later_fragment(&tail, ROUTER_MAC, eni_mac(web), ip("10.0.3.5"), ip("10.0.1.10"));
        assert_eq!(out, expected, "last fragment ({mode})");
        let answer = |more, offset| fragment_of(tcp_from(web, "10.0.1.10", "10.0.3.5", 8080, lb_port, tcp::ACK), 32, more, offset);
        let head = answer(true, 0);
        let out = run_checked(&mut fx, "the answer's first fragment", web, &head, XDP_REDIRECT);
        assert_eq!(out, sent(&head, client, "10.0.1.100", 80, "10.0.1.10", sport), "answer's first fragment ({mode})");
        let tail = answer(false, 3);
        let out = run_checked(&mut fx, "the answer's last fragment", web, &tail, XDP_REDIRECT);
        let expected = forwarded_later_fragment(&tail, ROUTER_MAC, eni_mac(client), ip("10.0.1.100"), ip("10.0.1.10"));
        assert_eq!(out, expected, "answer's last fragment ({mode})");
    }
}

#[test]
fn sg_4_conn_2_the_endpoint_security_group_and_the_connection_state_decide_and_are_counted() {
    let first = Fixture::new(&model());
    for mode in [Mode::Xdp, Mode::Tc] {
        let mut fx = first.twin(mode);
        let cases: [(&str, &str, Vec<u8>, DropReason); 3] = [
            (
                "a port the endpoint's security group does not admit (SG-4)",
                "eni-client",
                tcp_from("eni-client", "10.0.1.10", "10.0.1.100", 40_000, 81, tcp::SYN),
                DropReason::SgIngress,
            ),
            (
                "an endpoint whose connection the provider has not accepted (CONN-2)",
                "eni-client",
                tcp_from("eni-client", "10.0.1.10", "10.0.1.101", 40_000, 80, tcp::SYN),
                DropReason::EndpointNotConnected,
            ),
            (
                "a backend's packet to a port of the load balancer no consumer opened",
                "eni-web",
                tcp_from("eni-web", "10.0.1.10", "10.0.3.5", 8080, 50_000, tcp::SYN),
                DropReason::NoNeighbour,
            ),
        ];
        for (what, eni, frame, reason) in cases {
            let before = fx.dropped(reason);
            run_checked(&mut fx, what, eni, &frame, XDP_DROP);
            assert_eq!(fx.dropped(reason), before + 1, "{what} ({mode}): counted as {}", reason.name());
        }
    }
}

/// A connection through an endpoint holds a port at the load balancer's
/// address (64,512 of them per address, for every consumer) only while it
/// lives: a reset connection's port goes to the next connection that tries
/// it (`vpc_common::privatelink_expired`), so 65,535 connections one after
/// the other, each reset by the backend, never run out of ports. (Found by
/// the privatelink bench: `nat_ports_exhausted` on its endpoint path.)
#[test]
fn closed_connections_through_an_endpoint_give_their_port_back() {
    let first = Fixture::new(&model());
    let mut fx = first.twin(Mode::Xdp);
    let mut first_drop = None;
    let mut dropped = 0u32;
    for sport in 1..=65_535u16 {
        if sport % 4096 == 0 {
            eprintln!("connection {sport}: {dropped} dropped so far");
        }
        let syn = tcp_from("eni-client", "10.0.1.10", "10.0.1.100", sport, 80, tcp::SYN);
        let (v, out) = fx.run("eni-client", &syn);
        if !same_verdict(v, XDP_REDIRECT) {
            first_drop.get_or_insert(sport);
            dropped += 1;
            continue;
        }
        // The backend resets the connection: it is over.
        let lb_port = u16::from_be_bytes([out[34], out[35]]);
        let rst = tcp_from("eni-web", "10.0.1.10", "10.0.3.5", 8080, lb_port, tcp::RST | tcp::ACK);
        run_checked(&mut fx, "the backend's RST", "eni-web", &rst, XDP_REDIRECT);
    }
    let exhausted = fx.dropped(DropReason::NatPortsExhausted);
    println!("65,535 connections, one after the other: first SYN dropped at connection {first_drop:?}, {dropped} dropped ({exhausted} nat_ports_exhausted)");
    assert_eq!(dropped, 0, "first at connection {first_drop:?}");
}


/// The same with connections closed both ways (a FIN each way, the last
/// ACK): their ports are taken again once idle a second. Four batches of
/// 20,000 connections (80,000 over the 64,512 ports), a second and a half
/// apart: each batch finds the ports of the ones before it free.
#[test]
fn connections_closed_both_ways_through_an_endpoint_give_their_port_back() {
    let first = Fixture::new(&model());
    let mut fx = first.twin(Mode::Xdp);
    let mut dropped = 0u32;
    let mut sport = 1u16;
    let drops = |fx: &Fixture| fx.dp.counters().unwrap().drops;
    let before = drops(&fx);
    for batch in 0..4 {
        if batch > 0 {
            std::thread::sleep(std::time::Duration::from_millis(1500));
        }
        for _ in 0..20_000 {
            sport = sport.wrapping_add(1).max(1);
            let syn = tcp_from("eni-client", "10.0.1.10", "10.0.1.100", sport, 80, tcp::SYN);
            let (v, out) = fx.run("eni-client", &syn);
            if !same_verdict(v, XDP_REDIRECT) {
                dropped += 1;
                continue;
            }
            let lb_port = u16::from_be_bytes([out[34], out[35]]);
            let fin = tcp_from("eni-client", "10.0.1.10", "10.0.1.100", sport, 80, tcp::FIN | tcp::ACK);
            run_checked(&mut fx, "the client's FIN", "eni-client", &fin, XDP_REDIRECT);
            let fin = tcp_from("eni-web", "10.0.1.10", "10.0.3.5", 8080, lb_port, tcp::FIN | tcp::ACK);
            run_checked(&mut fx, "the backend's FIN", "eni-web", &fin, XDP_REDIRECT);
            let ack = tcp_from("eni-client", "10.0.1.10", "10.0.1.100", sport, 80, tcp::ACK);
            run_checked(&mut fx, "the last ACK", "eni-client", &ack, XDP_REDIRECT);
        }
    }
    // Which reasons, if any (a drop here has been seen once under load).
    let after = drops(&fx);
    let moved: Vec<_> = after.iter().filter(|a| !before.contains(a)).collect();
    assert_eq!(dropped, 0, "SYNs dropped over 80,000 connections closed both ways; drop counters moved: {moved:?}");
}
