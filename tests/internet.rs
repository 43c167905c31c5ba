//! The internet edge in the datapath through BPF_PROG_TEST_RUN (IGW-3,
//! IGW-4): 1:1 NAT of public IPs and EIPs, an IPv4 gateway's routes and
//! gateway route table, a NAT gateway's SNAT port translation and its
//! exhaustion. Every frame the router emits is compared byte for byte with
//! one built from scratch (addresses, ports, TTL, MACs), and its IPv4
//! header and layer-4 checksums (pseudo-header included) are verified
//! independently of the incremental fix-ups the datapath makes.
use std::net::Ipv4Addr;

use vpc_common::{Action, DropReason};
use vpc_control::{
    datapath::Mode,
    model::{Model, NextHopType, RouteEntry, eni_id_of},
    topology::{INTERNET_MAC, ROUTER_MAC, eni_mac},
};
use vpc_tests::{
    DatapathFixture, inet_csum, ipv4_frame, same_verdict, stay_on_this_cpu,
    tcp_flags::{ACK, SYN},
};

const XDP_DROP: u32 = 1;
const XDP_REDIRECT: u32 = 4;

/// An internet host (TEST-NET-2).
const REMOTE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// Another internet host (TEST-NET-3).
const REMOTE_2: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 11);
const C: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 12);
const D: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 10);
const EIP_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const EIP_C: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const PUBLIC_D: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
const SNAT_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

/// One VPC, no IPv4 gateway. i-a has an EIP (associated with the
/// instance), i-c an EIP associated with its ENI, i-d a static public IP,
/// i-b nothing public.
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
id = "i-a"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-b"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.11"
[[instance]]
id = "i-c"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.12"
[[instance]]
id = "i-d"
vswitch_id = "vsw-2"
private_ip_address = "10.0.2.10"
public_ip_address = "192.0.2.12"
[[eip]]
id = "eip-a"
ip_address = "192.0.2.10"
association = { instance_type = "EcsInstance", instance_id = "i-a" }
[[eip]]
id = "eip-c"
ip_address = "192.0.2.11"
association = { instance_type = "NetworkInterface", instance_id = "eni-c" }
"#;

/// What enabling an IPv4 gateway for vsw-1 adds to [`MODEL`] (IGW-2): the
/// gateway, and a vSwitch route table with 0.0.0.0/0 pointing to it.
const GATEWAY: &str = r#"
[[route_table]]
id = "vtb-pub"
vpc_id = "vpc-a"
[[route_table.route_entry]]
destination_cidr_block = "0.0.0.0/0"
next_hop_type = "Ipv4Gateway"
next_hop_id = "ipv4gw-a"
[[route_table]]
id = "vtb-border"
vpc_id = "vpc-a"
associate_type = "Gateway"
[[ipv4_gateway]]
id = "ipv4gw-a"
vpc_id = "vpc-a"
enabled = true
"#;

/// i-a and i-b without public addresses in vsw-1, whose table sends
/// 0.0.0.0/0 to the NAT gateway; the NAT gateway (in vsw-nat) holds an
/// EIP and translates `SOURCE` behind it. `PORTS`: its port range line.
const NAT_MODEL: &str = r#"
[[vpc]]
id = "vpc-n"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-1"
vpc_id = "vpc-n"
cidr_block = "10.0.1.0/24"
route_table_id = "vtb-priv"
[[vswitch]]
id = "vsw-nat"
vpc_id = "vpc-n"
cidr_block = "10.0.9.0/24"
[[route_table]]
id = "vtb-priv"
vpc_id = "vpc-n"
[[route_table.route_entry]]
destination_cidr_block = "0.0.0.0/0"
next_hop_type = "NatGateway"
next_hop_id = "ngw-1"
[[instance]]
id = "i-a"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-b"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.11"
[[eip]]
id = "eip-nat"
ip_address = "192.0.2.100"
association = { instance_type = "Nat", instance_id = "ngw-1" }
[[nat_gateway]]
id = "ngw-1"
vpc_id = "vpc-n"
vswitch_id = "vsw-nat"
PORTS
[[nat_gateway.snat_entry]]
id = "snat-1"
snat_ip = "192.0.2.100"
source = SOURCE
"#;

fn nat_model(ports: &str, source: &str) -> String {
    NAT_MODEL.replace("PORTS", ports).replace("SOURCE", source)
}

// ---------------------------------------------------------------------------
// Packets built from scratch, with every checksum computed over the whole
// header (and pseudo-header).

/// An IPv4 packet: addresses, protocol and a layer-4 segment whose checksum
/// is already computed for these addresses.
#[derive(Clone, Debug)]
struct Packet {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    l4: Vec<u8>,
}

/// The TCP/UDP pseudo-header followed by `l4`.
fn with_pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(12 + l4.len());
    v.extend_from_slice(&src.octets());
    v.extend_from_slice(&dst.octets());
    v.extend_from_slice(&[0, proto]);
    v.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    v.extend_from_slice(l4);
    v
}

/// A TCP segment `src:sport -> dst:dport` with `flags` and a short
/// (odd-length) payload.
fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> Packet {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&dport.to_be_bytes());
    l4.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]); // sequence
    l4.extend_from_slice(
        &(if flags & ACK != 0 {
            [0, 0, 0, 1]
        } else {
            [0; 4]
        }),
    ); // ack
    l4.extend_from_slice(&[0x50, flags, 0xfa, 0xf0, 0, 0, 0, 0]); // offset, flags, window, checksum, urgent
    l4.extend_from_slice(b"hello");
    let c = inet_csum(&with_pseudo_header(src, dst, 6, &l4));
    l4[16..18].copy_from_slice(&c.to_be_bytes());
    Packet {
        src,
        dst,
        proto: 6,
        l4,
    }
}

/// A UDP datagram; `checksum` false: checksum 0 ("none").
fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, checksum: bool) -> Packet {
    let payload = b"dns?q";
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&dport.to_be_bytes());
    l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.extend_from_slice(payload);
    if checksum {
        let c = match inet_csum(&with_pseudo_header(src, dst, 17, &l4)) {
            0 => 0xffff,
            c => c,
        };
        l4[6..8].copy_from_slice(&c.to_be_bytes());
    }
    Packet {
        src,
        dst,
        proto: 17,
        l4,
    }
}

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

/// An ICMP echo request or reply with identifier `id`.
fn icmp(src: Ipv4Addr, dst: Ipv4Addr, kind: u8, id: u16, seq: u16) -> Packet {
    let mut l4 = vec![kind, 0, 0, 0];
    l4.extend_from_slice(&id.to_be_bytes());
    l4.extend_from_slice(&seq.to_be_bytes());
    l4.extend_from_slice(b"vpc!ping");
    let c = inet_csum(&l4);
    l4[2..4].copy_from_slice(&c.to_be_bytes());
    Packet {
        src,
        dst,
        proto: 1,
        l4,
    }
}

fn mac(instance: &str) -> [u8; 6] {
    eni_mac(&eni_id_of(instance))
}

/// `p` as sent by `instance` to the router.
fn from_instance(instance: &str, p: &Packet) -> Vec<u8> {
    ipv4_frame(ROUTER_MAC, mac(instance), p.src, p.dst, 64, p.proto, &p.l4)
}

/// `p` as the router must send it to the internet (TTL 64 - 1).
fn to_internet(p: &Packet) -> Vec<u8> {
    ipv4_frame(INTERNET_MAC, ROUTER_MAC, p.src, p.dst, 63, p.proto, &p.l4)
}

/// `p` as it arrives from the internet on the uplink.
fn from_internet(p: &Packet) -> Vec<u8> {
    ipv4_frame(ROUTER_MAC, INTERNET_MAC, p.src, p.dst, 64, p.proto, &p.l4)
}

/// `p` as the router must send it to `instance`'s port (TTL 64 - 1).
fn to_instance(instance: &str, p: &Packet) -> Vec<u8> {
    ipv4_frame(mac(instance), ROUTER_MAC, p.src, p.dst, 63, p.proto, &p.l4)
}

/// Verifies, from scratch, the IPv4 header checksum and the layer-4
/// checksum (TCP and UDP over the pseudo-header, ICMP over its message) of
/// a frame. A UDP checksum of 0 means none and is accepted as such.
fn assert_valid_checksums(what: &str, f: &[u8]) {
    assert!(
        f.len() >= 34 && f[12..14] == [0x08, 0x00],
        "{what}: not an IPv4 frame: {f:02x?}"
    );
    let ihl = (f[14] & 0x0f) as usize * 4;
    assert_eq!(
        inet_csum(&f[14..14 + ihl]),
        0,
        "{what}: IPv4 header checksum is wrong: {:02x?}",
        &f[14..14 + ihl]
    );
    let total = u16::from_be_bytes([f[16], f[17]]) as usize;
    let l4 = &f[14 + ihl..14 + total];
    let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
    let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
    match f[23] {
        6 => assert_eq!(
            inet_csum(&with_pseudo_header(src, dst, 6, l4)),
            0,
            "{what}: TCP checksum is wrong: {l4:02x?}"
        ),
        17 if l4[6..8] == [0, 0] => {}
        17 => assert_eq!(
            inet_csum(&with_pseudo_header(src, dst, 17, l4)),
            0,
            "{what}: UDP checksum is wrong: {l4:02x?}"
        ),
        1 => assert_eq!(
            inet_csum(l4),
            0,
            "{what}: ICMP checksum is wrong: {l4:02x?}"
        ),
        _ => {}
    }
}

/// The source port (ICMP echo: identifier) of an IPv4 frame with a
/// 20-byte header.
fn sport_of(f: &[u8]) -> u16 {
    if f[23] == 1 {
        u16::from_be_bytes([f[38], f[39]])
    } else {
        u16::from_be_bytes([f[34], f[35]])
    }
}

// ---------------------------------------------------------------------------
// Running frames.

/// Where a frame enters the router.
#[derive(Clone, Copy, Debug)]
enum In {
    /// The port of an instance's ENI.
    Instance(&'static str),
    /// The uplink.
    Internet,
}

/// One row of a table.
struct Case {
    what: &'static str,
    port: In,
    frame: Vec<u8>,
    verdict: u32,
    /// Expected frame out (for REDIRECT).
    out: Option<Vec<u8>>,
    /// The drop counter that must move by one (for DROP).
    drop: Option<DropReason>,
}

/// A case whose frame must be redirected as `out`.
fn pass(what: &'static str, port: In, frame: Vec<u8>, out: Vec<u8>) -> Case {
    Case {
        what,
        port,
        frame,
        verdict: XDP_REDIRECT,
        out: Some(out),
        drop: None,
    }
}

/// A case whose frame must be dropped for `reason`.
fn reject(what: &'static str, port: In, frame: Vec<u8>, reason: DropReason) -> Case {
    Case {
        what,
        port,
        frame,
        verdict: XDP_DROP,
        out: None,
        drop: Some(reason),
    }
}

/// Runs one frame, asserts the verdict, the drop counter (moved by exactly
/// one) and, for a redirect, valid checksums; returns the frame out.
fn run(
    fx: &mut DatapathFixture,
    what: &str,
    port: In,
    frame: &[u8],
    verdict: u32,
    reason: Option<DropReason>,
) -> Vec<u8> {
    let before = reason.map(|r| fx.dropped(r));
    let (got, out) = match port {
        In::Instance(i) => fx.run(&eni_id_of(i), frame),
        In::Internet => fx.run_from_internet(frame),
    };
    let drops: Vec<_> = fx
        .dp
        .counters()
        .unwrap()
        .drops
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(
        same_verdict(got, verdict),
        "{what} ({}): verdict {got}, expected {verdict} (drop counters now {drops:?}); frame in {frame:02x?}",
        fx.mode
    );
    if let (Some(r), Some(b)) = (reason, before) {
        assert_eq!(
            fx.dropped(r),
            b + 1,
            "{what}: drop counter {} did not move by one",
            r.name()
        );
    }
    if same_verdict(got, XDP_REDIRECT) {
        assert_valid_checksums(what, &out);
    }
    out
}

fn check(fx: &mut DatapathFixture, cases: Vec<Case>) {
    run_table(fx, &cases);
}

/// [`check`] through `fx` (XDP), then through a twin of it running the tc
/// program: one pipeline, both program types, the same frames out. Only
/// for tables whose expected frames do not depend on what an earlier run
/// chose (a NAT gateway's public port is drawn at random per fixture).
fn check_both_modes(fx: &mut DatapathFixture, cases: Vec<Case>) {
    let mut twin = fx.twin(Mode::Tc);
    run_table(fx, &cases);
    run_table(&mut twin, &cases);
}

/// Runs every case of a table in order; asserts verdicts, counters and frames out.
fn run_table(fx: &mut DatapathFixture, cases: &[Case]) {
    for c in cases {
        let out = run(fx, c.what, c.port, &c.frame, c.verdict, c.drop);
        if let Some(expected) = &c.out {
            assert_eq!(
                out, *expected,
                "{} ({}): frame out\n got      {out:02x?}\n expected {expected:02x?}",
                c.what, fx.mode
            );
        }
    }
}

fn actions(fx: &DatapathFixture, a: Action) -> u64 {
    fx.dp.counters().unwrap().action(a)
}

// ---------------------------------------------------------------------------

#[test]
fn igw_3_eip_one_to_one_nat_both_ways_with_valid_checksums() {
    use In::{Instance, Internet};
    let mut fx = DatapathFixture::new(MODEL);
    let (to_inet, from_inet) = (
        actions(&fx, Action::ToInternet),
        actions(&fx, Action::FromInternet),
    );
    let cases = vec![
        // Out: the source becomes the EIP, nothing else changes but the TTL.
        pass(
            "tcp syn out: source 10.0.1.10 -> EIP 192.0.2.10",
            Instance("i-a"),
            from_instance("i-a", &tcp(A, 40001, REMOTE, 443, SYN)),
            to_internet(&tcp(EIP_A, 40001, REMOTE, 443, SYN)),
        ),
        pass(
            "udp out with a checksum",
            Instance("i-a"),
            from_instance("i-a", &udp(A, 40002, REMOTE, 53, true)),
            to_internet(&udp(EIP_A, 40002, REMOTE, 53, true)),
        ),
        pass(
            "udp out without a checksum keeps checksum 0",
            Instance("i-a"),
            from_instance("i-a", &udp(A, 40003, REMOTE, 5353, false)),
            to_internet(&udp(EIP_A, 40003, REMOTE, 5353, false)),
        ),
        pass(
            "icmp echo out: identifier unchanged (1:1 NAT)",
            Instance("i-a"),
            from_instance("i-a", &icmp(A, REMOTE, ECHO_REQUEST, 0x0101, 1)),
            to_internet(&icmp(EIP_A, REMOTE, ECHO_REQUEST, 0x0101, 1)),
        ),
        // In: the destination becomes the private address, to the ENI's port.
        pass(
            "tcp syn-ack back to the EIP reaches i-a",
            Internet,
            from_internet(&tcp(REMOTE, 443, EIP_A, 40001, SYN | ACK)),
            to_instance("i-a", &tcp(REMOTE, 443, A, 40001, SYN | ACK)),
        ),
        pass(
            "udp reply with a checksum",
            Internet,
            from_internet(&udp(REMOTE, 53, EIP_A, 40002, true)),
            to_instance("i-a", &udp(REMOTE, 53, A, 40002, true)),
        ),
        pass(
            "udp reply without a checksum keeps checksum 0",
            Internet,
            from_internet(&udp(REMOTE, 5353, EIP_A, 40003, false)),
            to_instance("i-a", &udp(REMOTE, 5353, A, 40003, false)),
        ),
        pass(
            "icmp echo reply",
            Internet,
            from_internet(&icmp(REMOTE, EIP_A, ECHO_REPLY, 0x0101, 1)),
            to_instance("i-a", &icmp(REMOTE, A, ECHO_REPLY, 0x0101, 1)),
        ),
        pass(
            "a new inbound flow to the EIP (no IPv4 gateway: nothing to follow but the 1:1 mapping)",
            Internet,
            from_internet(&tcp(REMOTE_2, 50000, EIP_A, 22, SYN)),
            to_instance("i-a", &tcp(REMOTE_2, 50000, A, 22, SYN)),
        ),
        // The other two kinds of public address.
        pass(
            "EIP associated with the ENI (NetworkInterface): out",
            Instance("i-c"),
            from_instance("i-c", &tcp(C, 40004, REMOTE, 80, SYN)),
            to_internet(&tcp(EIP_C, 40004, REMOTE, 80, SYN)),
        ),
        pass(
            "EIP associated with the ENI (NetworkInterface): back",
            Internet,
            from_internet(&tcp(REMOTE, 80, EIP_C, 40004, SYN | ACK)),
            to_instance("i-c", &tcp(REMOTE, 80, C, 40004, SYN | ACK)),
        ),
        pass(
            "static public IP (vsw-2): out",
            Instance("i-d"),
            from_instance("i-d", &udp(D, 40005, REMOTE_2, 123, true)),
            to_internet(&udp(PUBLIC_D, 40005, REMOTE_2, 123, true)),
        ),
        pass(
            "static public IP (vsw-2): back",
            Internet,
            from_internet(&udp(REMOTE_2, 123, PUBLIC_D, 40005, true)),
            to_instance("i-d", &udp(REMOTE_2, 123, D, 40005, true)),
        ),
    ];
    check_both_modes(&mut fx, cases);
    assert_eq!(
        actions(&fx, Action::ToInternet),
        to_inet + 6,
        "to_internet counter"
    );
    assert_eq!(
        actions(&fx, Action::FromInternet),
        from_inet + 7,
        "from_internet counter"
    );
}

#[test]
fn igw_3_instance_without_public_address_cannot_reach_the_internet() {
    use In::{Instance, Internet};
    let mut fx = DatapathFixture::new(MODEL);
    check_both_modes(
        &mut fx,
        vec![
            reject(
                "no gateway, no public address, no route: no route",
                Instance("i-b"),
                from_instance("i-b", &tcp(B, 40001, REMOTE, 443, SYN)),
                DropReason::NoRoute,
            ),
            reject(
                "icmp likewise",
                Instance("i-b"),
                from_instance("i-b", &icmp(B, REMOTE, ECHO_REQUEST, 7, 1)),
                DropReason::NoRoute,
            ),
            reject(
                "the internet cannot name the private address",
                Internet,
                from_internet(&tcp(REMOTE, 443, B, 40001, SYN | ACK)),
                DropReason::UnknownPublicAddress,
            ),
        ],
    );

    // Enable an IPv4 gateway with 0.0.0.0/0 to it in vsw-1's table (IGW-2).
    let mut m = fx.model.clone();
    let extra = Model::from_toml(GATEWAY).unwrap();
    m.route_tables.extend(extra.route_tables);
    m.ipv4_gateways.extend(extra.ipv4_gateways);
    m.vswitches
        .iter_mut()
        .find(|v| v.id == "vsw-1")
        .unwrap()
        .route_table_id = Some("vtb-pub".into());
    fx.reapply(m);
    check(
        &mut fx,
        vec![
            reject(
                "route to the IPv4 gateway, but no public address",
                Instance("i-b"),
                from_instance("i-b", &tcp(B, 40002, REMOTE, 443, SYN)),
                DropReason::NoPublicAddress,
            ),
            reject(
                "udp likewise",
                Instance("i-b"),
                from_instance("i-b", &udp(B, 40003, REMOTE, 53, true)),
                DropReason::NoPublicAddress,
            ),
            pass(
                "an EIP holder in the public vSwitch goes out through the gateway",
                Instance("i-a"),
                from_instance("i-a", &tcp(A, 40004, REMOTE, 443, SYN)),
                to_internet(&tcp(EIP_A, 40004, REMOTE, 443, SYN)),
            ),
            reject(
                "a public IP in a private vSwitch (no route to the gateway) no longer reaches the internet",
                Instance("i-d"),
                from_instance("i-d", &tcp(D, 40005, REMOTE, 443, SYN)),
                DropReason::NoRoute,
            ),
        ],
    );
}

#[test]
fn igw_4_inbound_follows_the_gateway_route_table() {
    use In::{Instance, Internet};
    // i-a (EIP) in vsw-1 and an appliance i-fw in vsw-2, both behind an
    // enabled IPv4 gateway; the gateway route table exists but is unbound.
    let model = r#"
[[vpc]]
id = "vpc-a"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-1"
vpc_id = "vpc-a"
cidr_block = "10.0.1.0/24"
route_table_id = "vtb-pub"
[[vswitch]]
id = "vsw-2"
vpc_id = "vpc-a"
cidr_block = "10.0.2.0/24"
route_table_id = "vtb-pub"
[[instance]]
id = "i-a"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-fw"
vswitch_id = "vsw-2"
private_ip_address = "10.0.2.20"
source_dest_check = false
[[eip]]
id = "eip-a"
ip_address = "192.0.2.10"
association = { instance_type = "EcsInstance", instance_id = "i-a" }
"#;
    let mut fx = DatapathFixture::new(&format!("{model}{GATEWAY}"));
    check(
        &mut fx,
        vec![
            reject(
                "new inbound flow, no gateway route table bound",
                Internet,
                from_internet(&tcp(REMOTE, 50001, EIP_A, 22, SYN)),
                DropReason::Ipv4GatewayNoRoute,
            ),
            reject(
                "new inbound ping, no gateway route table bound",
                Internet,
                from_internet(&icmp(REMOTE, EIP_A, ECHO_REQUEST, 9, 1)),
                DropReason::Ipv4GatewayNoRoute,
            ),
            pass(
                "i-a opens a flow through the gateway",
                Instance("i-a"),
                from_instance("i-a", &tcp(A, 40001, REMOTE, 443, SYN)),
                to_internet(&tcp(EIP_A, 40001, REMOTE, 443, SYN)),
            ),
            pass(
                "its reply passes without a gateway route",
                Internet,
                from_internet(&tcp(REMOTE, 443, EIP_A, 40001, SYN | ACK)),
                to_instance("i-a", &tcp(REMOTE, 443, A, 40001, SYN | ACK)),
            ),
            pass(
                "i-a pings out",
                Instance("i-a"),
                from_instance("i-a", &icmp(A, REMOTE, ECHO_REQUEST, 0x0202, 1)),
                to_internet(&icmp(EIP_A, REMOTE, ECHO_REQUEST, 0x0202, 1)),
            ),
            pass(
                "the echo reply passes",
                Internet,
                from_internet(&icmp(REMOTE, EIP_A, ECHO_REPLY, 0x0202, 1)),
                to_instance("i-a", &icmp(REMOTE, A, ECHO_REPLY, 0x0202, 1)),
            ),
            reject(
                "another new flow from the same host is still dropped",
                Internet,
                from_internet(&tcp(REMOTE, 443, EIP_A, 40002, SYN)),
                DropReason::Ipv4GatewayNoRoute,
            ),
        ],
    );

    // Bind the gateway route table: its system entries route every vSwitch
    // CIDR locally.
    let mut m = fx.model.clone();
    m.ipv4_gateways[0].route_table_id = Some("vtb-border".into());
    fx.reapply(m.clone());
    check(
        &mut fx,
        vec![
            pass(
                "new inbound flow, system entry 10.0.1.0/24 local",
                Internet,
                from_internet(&tcp(REMOTE, 50002, EIP_A, 22, SYN)),
                to_instance("i-a", &tcp(REMOTE, 50002, A, 22, SYN)),
            ),
            pass(
                "new inbound ping",
                Internet,
                from_internet(&icmp(REMOTE, EIP_A, ECHO_REQUEST, 10, 1)),
                to_instance("i-a", &icmp(REMOTE, A, ECHO_REQUEST, 10, 1)),
            ),
        ],
    );

    // Edit the system entry of vsw-1: next hop the appliance i-fw (IGW-8
    // style service insertion).
    m.route_tables
        .iter_mut()
        .find(|t| t.id == "vtb-border")
        .unwrap()
        .route_entries
        .push(std::sync::Arc::new(RouteEntry {
            id: String::new(),
            name: None,
            destination_cidr_block: "10.0.1.0/24".parse().unwrap(),
            next_hop_type: NextHopType::Instance,
            destination_prefix_list_id: None,
            next_hop_id: "i-fw".into(),
            meta: Default::default(),
        }));
    fx.reapply(m.clone());
    check(
        &mut fx,
        vec![
            pass(
                "new inbound flow goes to the appliance's port, destination already private",
                Internet,
                from_internet(&tcp(REMOTE, 50003, EIP_A, 22, SYN)),
                to_instance("i-fw", &tcp(REMOTE, 50003, A, 22, SYN)),
            ),
            pass(
                "a reply of i-a's own tracked flow still goes straight to i-a",
                Internet,
                from_internet(&tcp(REMOTE, 443, EIP_A, 40001, ACK)),
                to_instance("i-a", &tcp(REMOTE, 443, A, 40001, ACK)),
            ),
        ],
    );

    // Unbinding the table stops new inbound flows again.
    m.ipv4_gateways[0].route_table_id = None;
    fx.reapply(m);
    check(
        &mut fx,
        vec![reject(
            "unbound again",
            Internet,
            from_internet(&tcp(REMOTE, 50004, EIP_A, 22, SYN)),
            DropReason::Ipv4GatewayNoRoute,
        )],
    );
}

#[test]
fn igw_3_nat_gateway_snat_port_translation_and_replies() {
    use In::{Instance, Internet};
    let mut fx = DatapathFixture::new(&nat_model("", r#"{ v_switch = "vsw-1" }"#));
    let range = vpc_common::SNAT_PORT_MIN..=vpc_common::SNAT_PORT_MAX;

    // Two instances, the same source port, the same remote endpoint.
    let out_a = run(
        &mut fx,
        "i-a opens tcp to the internet",
        Instance("i-a"),
        &from_instance("i-a", &tcp(A, 33000, REMOTE, 443, SYN)),
        XDP_REDIRECT,
        None,
    );
    let pa = sport_of(&out_a);
    assert!(
        range.contains(&pa),
        "i-a's public port {pa} outside {range:?}"
    );
    assert_eq!(
        out_a,
        to_internet(&tcp(SNAT_IP, pa, REMOTE, 443, SYN)),
        "i-a's flow: source = SNAT IP:{pa}"
    );

    let out_b = run(
        &mut fx,
        "i-b opens tcp from the same port",
        Instance("i-b"),
        &from_instance("i-b", &tcp(B, 33000, REMOTE, 443, SYN)),
        XDP_REDIRECT,
        None,
    );
    let pb = sport_of(&out_b);
    assert!(
        range.contains(&pb),
        "i-b's public port {pb} outside {range:?}"
    );
    assert_ne!(
        pa, pb,
        "two instances behind one SNAT IP got the same public port for the same remote endpoint"
    );
    assert_eq!(
        out_b,
        to_internet(&tcp(SNAT_IP, pb, REMOTE, 443, SYN)),
        "i-b's flow: source = SNAT IP:{pb}"
    );

    // Udp from i-a, with a checksum.
    let out_u = run(
        &mut fx,
        "i-a sends udp",
        Instance("i-a"),
        &from_instance("i-a", &udp(A, 33001, REMOTE, 53, true)),
        XDP_REDIRECT,
        None,
    );
    let pu = sport_of(&out_u);
    assert!(range.contains(&pu));
    assert_eq!(
        out_u,
        to_internet(&udp(SNAT_IP, pu, REMOTE, 53, true)),
        "udp: source = SNAT IP:{pu}"
    );

    let unused = (2000u16..).find(|p| ![pa, pb, pu].contains(p)).unwrap();
    check(
        &mut fx,
        vec![
            pass(
                "the next packet of i-a's flow keeps its public port",
                Instance("i-a"),
                from_instance("i-a", &tcp(A, 33000, REMOTE, 443, ACK)),
                to_internet(&tcp(SNAT_IP, pa, REMOTE, 443, ACK)),
            ),
            pass(
                "the reply to i-a's public port goes back to i-a:33000",
                Internet,
                from_internet(&tcp(REMOTE, 443, SNAT_IP, pa, SYN | ACK)),
                to_instance("i-a", &tcp(REMOTE, 443, A, 33000, SYN | ACK)),
            ),
            pass(
                "the reply to i-b's public port goes back to i-b:33000",
                Internet,
                from_internet(&tcp(REMOTE, 443, SNAT_IP, pb, SYN | ACK)),
                to_instance("i-b", &tcp(REMOTE, 443, B, 33000, SYN | ACK)),
            ),
            pass(
                "the udp reply goes back to i-a:33001",
                Internet,
                from_internet(&udp(REMOTE, 53, SNAT_IP, pu, true)),
                to_instance("i-a", &udp(REMOTE, 53, A, 33001, true)),
            ),
            reject(
                "unsolicited tcp to the SNAT IP",
                Internet,
                from_internet(&tcp(REMOTE, 443, SNAT_IP, unused, SYN)),
                DropReason::NatNoMapping,
            ),
            reject(
                "another remote endpoint cannot use i-a's public port",
                Internet,
                from_internet(&tcp(REMOTE_2, 443, SNAT_IP, pa, SYN)),
                DropReason::NatNoMapping,
            ),
            reject(
                "nor another remote port of the same host",
                Internet,
                from_internet(&tcp(REMOTE, 444, SNAT_IP, pa, SYN)),
                DropReason::NatNoMapping,
            ),
            reject(
                "udp to i-a's tcp public port",
                Internet,
                from_internet(&udp(REMOTE, 443, SNAT_IP, pa, true)),
                DropReason::NatNoMapping,
            ),
            reject(
                "unsolicited ping to the SNAT IP",
                Internet,
                from_internet(&icmp(REMOTE, SNAT_IP, ECHO_REQUEST, 5, 1)),
                DropReason::NatNoMapping,
            ),
            reject(
                "the internet cannot name a private address behind the NAT gateway",
                Internet,
                from_internet(&tcp(REMOTE, 443, A, 33000, SYN | ACK)),
                DropReason::UnknownPublicAddress,
            ),
        ],
    );
}

#[test]
fn igw_3_snat_port_exhaustion_is_a_counted_drop() {
    use In::{Instance, Internet};
    let mut fx = DatapathFixture::new(&nat_model(
        "port_range = [40000, 40003]",
        r#"{ cidr = "10.0.0.0/16" }"#,
    ));
    let range = 40000u16..=40003;
    let mut taken = Vec::new();
    for n in 0..4u16 {
        let sport = 50000 + n;
        let out = run(
            &mut fx,
            "flow within the range",
            Instance("i-a"),
            &from_instance("i-a", &tcp(A, sport, REMOTE, 80, SYN)),
            XDP_REDIRECT,
            None,
        );
        let p = sport_of(&out);
        assert!(
            range.contains(&p),
            "flow {n}: public port {p} outside {range:?}"
        );
        assert!(
            !taken.contains(&p),
            "flow {n}: public port {p} handed out twice ({taken:?})"
        );
        assert_eq!(
            out,
            to_internet(&tcp(SNAT_IP, p, REMOTE, 80, SYN)),
            "flow {n}"
        );
        taken.push(p);
    }
    check(
        &mut fx,
        vec![
            reject(
                "a fifth flow to the same remote endpoint: every port taken",
                Instance("i-a"),
                from_instance("i-a", &tcp(A, 50004, REMOTE, 80, SYN)),
                DropReason::NatPortsExhausted,
            ),
            reject(
                "from the other instance too",
                Instance("i-b"),
                from_instance("i-b", &tcp(B, 50000, REMOTE, 80, SYN)),
                DropReason::NatPortsExhausted,
            ),
            pass(
                "an existing flow keeps its port",
                Instance("i-a"),
                from_instance("i-a", &tcp(A, 50000, REMOTE, 80, ACK)),
                to_internet(&tcp(SNAT_IP, taken[0], REMOTE, 80, ACK)),
            ),
            pass(
                "and its replies still map back",
                Internet,
                from_internet(&tcp(REMOTE, 80, SNAT_IP, taken[3], SYN | ACK)),
                to_instance("i-a", &tcp(REMOTE, 80, A, 50003, SYN | ACK)),
            ),
        ],
    );
    // Ports are free per remote endpoint: another remote port still works.
    let out = run(
        &mut fx,
        "same host, another port",
        Instance("i-b"),
        &from_instance("i-b", &tcp(B, 50000, REMOTE, 8080, SYN)),
        XDP_REDIRECT,
        None,
    );
    let p = sport_of(&out);
    assert!(range.contains(&p));
    assert_eq!(out, to_internet(&tcp(SNAT_IP, p, REMOTE, 8080, SYN)));

    // ICMP echo: the identifier is the port.
    let out = run(
        &mut fx,
        "ping through SNAT",
        Instance("i-a"),
        &from_instance("i-a", &icmp(A, REMOTE, ECHO_REQUEST, 0x0101, 7)),
        XDP_REDIRECT,
        None,
    );
    let id = sport_of(&out);
    assert!(
        range.contains(&id),
        "echo identifier {id} not translated into {range:?}"
    );
    assert_eq!(
        out,
        to_internet(&icmp(SNAT_IP, REMOTE, ECHO_REQUEST, id, 7)),
        "echo request out"
    );
    check(
        &mut fx,
        vec![
            pass(
                "the echo reply maps back to i-a's identifier",
                Internet,
                from_internet(&icmp(REMOTE, SNAT_IP, ECHO_REPLY, id, 7)),
                to_instance("i-a", &icmp(REMOTE, A, ECHO_REPLY, 0x0101, 7)),
            ),
            reject(
                "an echo reply with another identifier has no mapping",
                Internet,
                from_internet(&icmp(
                    REMOTE,
                    SNAT_IP,
                    ECHO_REPLY,
                    if id == 40000 { 40001 } else { 40000 },
                    7,
                )),
                DropReason::NatNoMapping,
            ),
        ],
    );
}

#[test]
fn igw_3_idle_port_translations_are_swept_and_their_ports_reused() {
    use In::{Instance, Internet};
    use vpc_common::ct_timeout::{TCP_ESTABLISHED_NS, UDP_NS};
    use vpc_control::{datapath::monotonic_ns, sweep::Swept};
    const S: u64 = 1_000_000_000;
    let mut fx = DatapathFixture::new(&nat_model(
        "port_range = [40000, 40003]",
        r#"{ cidr = "10.0.0.0/16" }"#,
    ));
    let range = 40000u16..=40003;
    let taken: Vec<u16> = (0..4u16)
        .map(|n| {
            sport_of(&run(
                &mut fx,
                "a flow taking a port",
                Instance("i-a"),
                &from_instance("i-a", &tcp(A, 50000 + n, REMOTE, 80, SYN)),
                XDP_REDIRECT,
                None,
            ))
        })
        .collect();
    let dns = sport_of(&run(
        &mut fx,
        "a udp flow",
        Instance("i-b"),
        &from_instance("i-b", &udp(B, 50000, REMOTE, 53, true)),
        XDP_REDIRECT,
        None,
    ));
    let opened = monotonic_ns();
    run(
        &mut fx,
        "every port to REMOTE:80 taken",
        Instance("i-b"),
        &from_instance("i-b", &tcp(B, 50100, REMOTE, 80, SYN)),
        XDP_DROP,
        Some(DropReason::NatPortsExhausted),
    );

    let mut sweeper = fx.dp.sweeper().unwrap_or_else(|e| panic!("sweeper: {e}"));
    let mut sweep = |at: u64| sweeper.nat(at).unwrap_or_else(|e| panic!("sweep: {e}"));
    assert_eq!(
        sweep(opened),
        Swept {
            live: 5,
            removed: 0
        },
        "nothing is idle yet"
    );
    assert_eq!(
        sweep(opened + UDP_NS + S),
        Swept {
            live: 4,
            removed: 1
        },
        "past 60 s only the udp translation is idle"
    );
    run(
        &mut fx,
        "the swept udp flow's reply has no mapping",
        Internet,
        &from_internet(&udp(REMOTE, 53, SNAT_IP, dns, true)),
        XDP_DROP,
        Some(DropReason::NatNoMapping),
    );
    // The datapath's clock is coarse (a tick): let ticks pass so the reply
    // below is seen clearly later than the flows opened.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let replied = monotonic_ns();
    check(
        &mut fx,
        vec![pass(
            "a tcp flow is still mapped back",
            Internet,
            from_internet(&tcp(REMOTE, 80, SNAT_IP, taken[1], SYN | ACK)),
            to_instance("i-a", &tcp(REMOTE, 80, A, 50001, SYN | ACK)),
        )],
    );
    // That reply refreshed taken[1]'s translation: 910 s after it (less a
    // tick or two) only the other three are idle.
    let swept = sweep(replied + TCP_ESTABLISHED_NS - 20_000_000);
    assert_eq!(
        swept,
        Swept {
            live: 1,
            removed: 3
        },
        "past 910 s the tcp translations not seen since are idle"
    );
    run(
        &mut fx,
        "a swept tcp flow's reply has no mapping",
        Internet,
        &from_internet(&tcp(REMOTE, 80, SNAT_IP, taken[0], ACK)),
        XDP_DROP,
        Some(DropReason::NatNoMapping),
    );
    for n in 0..3u16 {
        let out = run(
            &mut fx,
            "a new flow gets a freed port",
            Instance("i-b"),
            &from_instance("i-b", &tcp(B, 50200 + n, REMOTE, 80, SYN)),
            XDP_REDIRECT,
            None,
        );
        let p = sport_of(&out);
        assert!(
            range.contains(&p) && p != taken[1],
            "new flow {n}: port {p} is not one of the freed ports"
        );
        assert_eq!(
            out,
            to_internet(&tcp(SNAT_IP, p, REMOTE, 80, SYN)),
            "new flow {n}"
        );
    }
    run(
        &mut fx,
        "and the range is full again",
        Instance("i-b"),
        &from_instance("i-b", &tcp(B, 50300, REMOTE, 80, SYN)),
        XDP_DROP,
        Some(DropReason::NatPortsExhausted),
    );
}

#[test]
fn igw_3_internet_flows_are_translated_at_every_packet_never_from_the_flow_cache() {
    use In::{Instance, Internet};
    // The cache is per CPU: one CPU, so a cached decision would be seen.
    stay_on_this_cpu();
    let mut fx = DatapathFixture::new(MODEL);
    for n in 0..3 {
        let what = format!("udp out via the EIP, packet {n}");
        let out = run(
            &mut fx,
            &what,
            Instance("i-a"),
            &from_instance("i-a", &udp(A, 40100, REMOTE, 53, true)),
            XDP_REDIRECT,
            None,
        );
        assert_eq!(
            out,
            to_internet(&udp(EIP_A, 40100, REMOTE, 53, true)),
            "{what}"
        );
        let what = format!("its reply, packet {n}");
        let out = run(
            &mut fx,
            &what,
            Internet,
            &from_internet(&udp(REMOTE, 53, EIP_A, 40100, true)),
            XDP_REDIRECT,
            None,
        );
        assert_eq!(
            out,
            to_instance("i-a", &udp(REMOTE, 53, A, 40100, true)),
            "{what}"
        );
    }
    assert_eq!(
        fx.flow_cache_hits(),
        0,
        "an internet flow was served by the flow cache"
    );
    // The cache is on in this fixture: a flow inside the VPC is served by
    // it once admitted (its third packet, flow_cache::ADMIT_AFTER).
    for n in 0..u32::from(vpc_common::flow_cache::ADMIT_AFTER) + 2 {
        run(
            &mut fx,
            &format!("inside the VPC, packet {n}"),
            Instance("i-a"),
            &from_instance("i-a", &udp(A, 40101, D, 53, true)),
            XDP_REDIRECT,
            None,
        );
    }
    assert_eq!(
        fx.flow_cache_hits(),
        2,
        "the two packets after admission inside the VPC are cache hits"
    );

    // Port translation too: every packet through the NAT gateway is
    // translated (and refreshes its translation).
    let mut fx = DatapathFixture::new(&nat_model("", r#"{ cidr = "10.0.0.0/16" }"#));
    let first = run(
        &mut fx,
        "through SNAT",
        Instance("i-a"),
        &from_instance("i-a", &tcp(A, 40200, REMOTE, 443, SYN)),
        XDP_REDIRECT,
        None,
    );
    let port = sport_of(&first);
    for n in 0..3 {
        let what = format!("through SNAT, packet {n}");
        let out = run(
            &mut fx,
            &what,
            Instance("i-a"),
            &from_instance("i-a", &tcp(A, 40200, REMOTE, 443, ACK)),
            XDP_REDIRECT,
            None,
        );
        assert_eq!(
            out,
            to_internet(&tcp(SNAT_IP, port, REMOTE, 443, ACK)),
            "{what}"
        );
    }
    assert_eq!(
        fx.flow_cache_hits(),
        0,
        "a translated flow was served by the flow cache"
    );
}

#[test]
fn igw_3_unknown_public_address_from_the_internet_is_dropped() {
    use In::Internet;
    let mut fx = DatapathFixture::new(MODEL);
    check_both_modes(
        &mut fx,
        vec![
            reject(
                "a pool address nobody holds",
                Internet,
                from_internet(&tcp(REMOTE, 443, Ipv4Addr::new(192, 0, 2, 99), 40001, SYN)),
                DropReason::UnknownPublicAddress,
            ),
            reject(
                "an address outside the pool",
                Internet,
                from_internet(&udp(REMOTE, 53, REMOTE_2, 40001, true)),
                DropReason::UnknownPublicAddress,
            ),
            reject(
                "a private address of the VPC",
                Internet,
                from_internet(&icmp(REMOTE, A, ECHO_REQUEST, 1, 1)),
                DropReason::UnknownPublicAddress,
            ),
            reject(
                "the uplink's frames must come from the internet side's MAC",
                Internet,
                ipv4_frame(
                    ROUTER_MAC,
                    [2, 0, 0, 0, 0, 9],
                    REMOTE,
                    EIP_A,
                    64,
                    1,
                    &icmp(REMOTE, EIP_A, ECHO_REQUEST, 1, 1).l4,
                ),
                DropReason::SpoofedMac,
            ),
        ],
    );
}

#[test]
fn igw_3_security_groups_judge_internet_traffic_on_the_private_side() {
    use In::{Instance, Internet};
    // i-a (EIP 192.0.2.10) joins a group that lets in tcp 22 from
    // 198.51.100.0/24 only, and sends no smtp out.
    let model = format!(
        "{MODEL}\n{}",
        r#"
[[security_group]]
id = "sg-edge"
vpc_id = "vpc-a"
[[security_group.rule]]
id = "sgr-ssh"
direction = "ingress"
ip_protocol = "tcp"
port_range = [22, 22]
peer = { cidr = "198.51.100.0/24" }
priority = 1
[[security_group.rule]]
id = "sgr-no-smtp"
direction = "egress"
ip_protocol = "tcp"
port_range = [25, 25]
peer = { cidr = "0.0.0.0/0" }
policy = "drop"
priority = 1
"#
    )
    .replace(
        "id = \"i-a\"\nvswitch_id = \"vsw-1\"",
        "id = \"i-a\"\nvswitch_id = \"vsw-1\"\nsecurity_group_ids = [\"sg-edge\"]",
    );
    assert!(
        model.contains("security_group_ids = [\"sg-edge\"]"),
        "the group was not attached to i-a"
    );
    let mut fx = DatapathFixture::new(&model);
    check_both_modes(
        &mut fx,
        vec![
            pass(
                "tcp 22 from an allowed internet prefix reaches the EIP's instance",
                Internet,
                from_internet(&tcp(REMOTE, 50001, EIP_A, 22, SYN)),
                to_instance("i-a", &tcp(REMOTE, 50001, A, 22, SYN)),
            ),
            reject(
                "tcp 80 from the internet: not allowed inbound (judged on the private address)",
                Internet,
                from_internet(&tcp(REMOTE, 50002, EIP_A, 80, SYN)),
                DropReason::SgIngress,
            ),
            reject(
                "tcp 22 from outside the allowed prefix",
                Internet,
                from_internet(&tcp(REMOTE_2, 50003, EIP_A, 22, SYN)),
                DropReason::SgIngress,
            ),
            reject(
                "smtp out to the internet: refused by the egress rule",
                Instance("i-a"),
                from_instance("i-a", &tcp(A, 40025, REMOTE, 25, SYN)),
                DropReason::SgEgress,
            ),
            pass(
                "a flow i-a opens passes out",
                Instance("i-a"),
                from_instance("i-a", &tcp(A, 40443, REMOTE_2, 443, SYN)),
                to_internet(&tcp(EIP_A, 40443, REMOTE_2, 443, SYN)),
            ),
            pass(
                "and its reply comes back in, though no inbound rule allows it (stateful)",
                Internet,
                from_internet(&tcp(REMOTE_2, 443, EIP_A, 40443, SYN | ACK)),
                to_instance("i-a", &tcp(REMOTE_2, 443, A, 40443, SYN | ACK)),
            ),
        ],
    );
}

#[test]
fn checksum_checker_catches_a_stale_pseudo_header() {
    // The checker itself: a translated address without the layer-4 fix-up
    // (the classic NAT bug) must fail it, though the IPv4 header is right.
    for (what, p) in [
        ("tcp", tcp(A, 40001, REMOTE, 443, SYN)),
        ("udp", udp(A, 40002, REMOTE, 53, true)),
    ] {
        let good = to_internet(&p);
        assert_valid_checksums(what, &good);
        let mut stale = ipv4_frame(INTERNET_MAC, ROUTER_MAC, EIP_A, REMOTE, 63, p.proto, &p.l4);
        assert_eq!(inet_csum(&stale[14..34]), 0);
        assert!(
            std::panic::catch_unwind(|| assert_valid_checksums(what, &stale)).is_err(),
            "{what}: stale checksum not caught"
        );
        // A wrong port without its fix-up, likewise.
        stale = good.clone();
        stale[34] ^= 0x01;
        assert!(
            std::panic::catch_unwind(|| assert_valid_checksums(what, &stale)).is_err(),
            "{what}: stale port not caught"
        );
    }
    let mut bad_icmp = to_internet(&icmp(EIP_A, REMOTE, ECHO_REQUEST, 1, 1));
    bad_icmp[38] ^= 0x01;
    assert!(std::panic::catch_unwind(|| assert_valid_checksums("icmp", &bad_icmp)).is_err());
    let mut bad_ip = to_internet(&udp(EIP_A, 1, REMOTE, 2, false));
    bad_ip[22] -= 1;
    assert!(std::panic::catch_unwind(|| assert_valid_checksums("ttl", &bad_ip)).is_err());
}

// ---------------------------------------------------------------------------
// Gateway endpoints: the services port (GWE-2, GWE-5).

/// The object storage service's internal address (in the services network).
const OSS: Ipv4Addr = Ipv4Addr::new(100, 118, 28, 1);

/// vsw-1's table routes the object storage block to the gateway endpoint
/// vpce-1; vsw-2 keeps the system table (no such route). i-d in vsw-2 has
/// a public IP (a route miss is the internet for it, IGW-3).
const ENDPOINT_MODEL: &str = r#"
[[vpc]]
id = "vpc-g"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-1"
vpc_id = "vpc-g"
cidr_block = "10.0.1.0/24"
route_table_id = "vtb-gwe"
[[vswitch]]
id = "vsw-2"
vpc_id = "vpc-g"
cidr_block = "10.0.2.0/24"
[[route_table]]
id = "vtb-gwe"
vpc_id = "vpc-g"
[[route_table.route_entry]]
destination_cidr_block = "100.118.28.0/24"
next_hop_type = "GatewayEndpoint"
next_hop_id = "vpce-1"
[[gateway_endpoint]]
id = "vpce-1"
vpc_id = "vpc-g"
service_name = "com.aliyun.cn-hangzhou.oss"
route_table_ids = ["vtb-gwe"]
[[instance]]
id = "i-a"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-b"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.11"
[[instance]]
id = "i-c"
vswitch_id = "vsw-2"
private_ip_address = "10.0.2.11"
[[instance]]
id = "i-d"
vswitch_id = "vsw-2"
private_ip_address = "10.0.2.10"
public_ip_address = "192.0.2.12"
[[instance]]
id = "i-s"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.20"
security_group_ids = ["sg-strict"]
[[security_group]]
id = "sg-strict"
vpc_id = "vpc-g"
[[security_group.rule]]
id = "sgr-no-oss-http"
direction = "egress"
ip_protocol = "tcp"
port_range = [80, 80]
peer = { cidr = "100.118.28.0/24" }
policy = "drop"
priority = 1
"#;

/// `p` as the router must send it to the services network (TTL 64 - 1).
fn to_services(p: &Packet) -> Vec<u8> {
    ipv4_frame(
        vpc_control::topology::SERVICES_MAC,
        ROUTER_MAC,
        p.src,
        p.dst,
        63,
        p.proto,
        &p.l4,
    )
}

/// `p` as it arrives from the services network on the services port.
fn from_services(p: &Packet) -> Vec<u8> {
    ipv4_frame(
        ROUTER_MAC,
        vpc_control::topology::SERVICES_MAC,
        p.src,
        p.dst,
        64,
        p.proto,
        &p.l4,
    )
}

/// Runs a frame from the services port; asserts the verdict and, for a
/// drop, the counter.
fn run_services(
    fx: &mut DatapathFixture,
    what: &str,
    frame: &[u8],
    verdict: u32,
    reason: Option<DropReason>,
) -> Vec<u8> {
    let before = reason.map(|r| fx.dropped(r));
    let (got, out) = fx.run_from_services(frame);
    assert!(
        same_verdict(got, verdict),
        "{what} ({}): verdict {got}, expected {verdict}",
        fx.mode
    );
    if let (Some(r), Some(b)) = (reason, before) {
        assert_eq!(
            fx.dropped(r),
            b + 1,
            "{what}: drop counter {} did not move by one",
            r.name()
        );
    }
    if same_verdict(got, XDP_REDIRECT) {
        assert_valid_checksums(what, &out);
    }
    out
}

/// One pass of the endpoint table through `fx` (either program type).
fn gateway_endpoint_table(fx: &mut DatapathFixture) {
    use In::Instance;
    stay_on_this_cpu();
    let source = vpc_control::compile::endpoint_sources(&fx.model)["vpce-1"];
    assert!(
        fx.model
            .router
            .services
            .endpoint_source_block
            .contains(&source),
        "{source} is not in the endpoint source block"
    );
    let (to_svc, from_svc) = (
        actions(fx, Action::ToServices),
        actions(fx, Action::FromServices),
    );

    // Out: the source becomes the endpoint's, the port a translated one.
    let out = run(
        fx,
        "tcp syn from i-a to the object storage through the endpoint",
        Instance("i-a"),
        &from_instance("i-a", &tcp(A, 40001, OSS, 80, SYN)),
        XDP_REDIRECT,
        None,
    );
    let port_a = sport_of(&out);
    assert_eq!(
        out,
        to_services(&tcp(source, port_a, OSS, 80, SYN)),
        "{}: frame out",
        fx.mode
    );
    // Back: the service's answer to the endpoint's address and port reaches i-a.
    let back = run_services(
        fx,
        "syn-ack from the object storage",
        &from_services(&tcp(OSS, 80, source, port_a, SYN | ACK)),
        XDP_REDIRECT,
        None,
    );
    assert_eq!(
        back,
        to_instance("i-a", &tcp(OSS, 80, A, 40001, SYN | ACK)),
        "{}: frame back",
        fx.mode
    );
    // The same flow keeps its port.
    let out = run(
        fx,
        "ack from i-a",
        Instance("i-a"),
        &from_instance("i-a", &tcp(A, 40001, OSS, 80, ACK)),
        XDP_REDIRECT,
        None,
    );
    assert_eq!(out, to_services(&tcp(source, port_a, OSS, 80, ACK)));
    // Another instance with the same source port shares the address, not the port.
    let out = run(
        fx,
        "tcp syn from i-b, same source port",
        Instance("i-b"),
        &from_instance("i-b", &tcp(B, 40001, OSS, 80, SYN)),
        XDP_REDIRECT,
        None,
    );
    let port_b = sport_of(&out);
    assert_ne!(
        port_a, port_b,
        "two instances behind one endpoint share a port"
    );
    assert_eq!(out, to_services(&tcp(source, port_b, OSS, 80, SYN)));
    // ICMP echo: the identifier is translated.
    let out = run(
        fx,
        "ping the object storage",
        Instance("i-a"),
        &from_instance("i-a", &icmp(A, OSS, ECHO_REQUEST, 0x0707, 1)),
        XDP_REDIRECT,
        None,
    );
    let id = sport_of(&out);
    assert_eq!(out, to_services(&icmp(source, OSS, ECHO_REQUEST, id, 1)));
    let back = run_services(
        fx,
        "echo reply",
        &from_services(&icmp(OSS, source, ECHO_REPLY, id, 1)),
        XDP_REDIRECT,
        None,
    );
    assert_eq!(
        back,
        to_instance("i-a", &icmp(OSS, A, ECHO_REPLY, 0x0707, 1))
    );

    // Where a request came from: the peer the service accepted -> i-a.
    let origin = fx
        .dp
        .gateway_endpoint_origin(
            std::net::SocketAddrV4::new(source, port_a),
            std::net::SocketAddrV4::new(OSS, 80),
        )
        .unwrap()
        .expect("the origin of the endpoint's connection");
    assert_eq!(origin.source_ip, A);
    assert_eq!(origin.source_port, 40001);
    assert_eq!(origin.endpoint_numeric_id, fx.model.numeric_id("vpce-1"));
    assert_eq!(origin.vpc_numeric_id, fx.model.numeric_id("vpc-g"));
    assert_eq!(
        fx.dp
            .gateway_endpoint_origin(
                std::net::SocketAddrV4::new(source, port_a.wrapping_add(1)),
                std::net::SocketAddrV4::new(OSS, 80),
            )
            .unwrap(),
        None,
        "a peer no flow translated to has no origin"
    );

    // The services side never opens a connection into a VPC.
    run_services(
        fx,
        "syn from the services network to an endpoint port no flow holds",
        &from_services(&tcp(OSS, 80, source, port_a.wrapping_add(1), SYN)),
        XDP_DROP,
        Some(DropReason::ServicesUnsolicited),
    );
    run_services(
        fx,
        "syn from the services network straight to an instance",
        &from_services(&tcp(OSS, 5000, A, 22, SYN)),
        XDP_DROP,
        Some(DropReason::ServicesUnsolicited),
    );
    run_services(
        fx,
        "a reply from another service port than the flow's",
        &from_services(&tcp(OSS, 81, source, port_a, SYN | ACK)),
        XDP_DROP,
        Some(DropReason::ServicesUnsolicited),
    );

    // GWE-5: without the route, nothing in 100.64.0.0/10 is reached.
    run(
        fx,
        "i-c (vsw-2, no endpoint route) to the object storage",
        Instance("i-c"),
        &from_instance(
            "i-c",
            &tcp(Ipv4Addr::new(10, 0, 2, 11), 40001, OSS, 80, SYN),
        ),
        XDP_DROP,
        Some(DropReason::NoRoute),
    );
    run(
        fx,
        "i-d (public IP, no endpoint route): 100.64.0.0/10 is not the internet",
        Instance("i-d"),
        &from_instance("i-d", &tcp(D, 40001, OSS, 80, SYN)),
        XDP_DROP,
        Some(DropReason::NoRoute),
    );
    // An instance cannot claim the endpoint's source address.
    run(
        fx,
        "i-a sending as the endpoint's source",
        Instance("i-a"),
        &from_instance("i-a", &tcp(source, 40009, OSS, 80, SYN)),
        XDP_DROP,
        Some(DropReason::SpoofedIp),
    );
    // TTL as everywhere: a SYN with TTL 1 gets time exceeded from the
    // vSwitch gateway, nothing goes to the services network.
    let syn = tcp(A, 40002, OSS, 80, SYN);
    let expiring = ipv4_frame(ROUTER_MAC, mac("i-a"), A, OSS, 1, 6, &syn.l4);
    let sent = fx
        .dp
        .counters()
        .unwrap()
        .action(Action::IcmpTimeExceededSent);
    let error = run(
        fx,
        "TTL 1 through the endpoint",
        Instance("i-a"),
        &expiring,
        3,
        Some(DropReason::TtlExceeded),
    );
    assert_eq!(error[23], 1, "an ICMP message");
    assert_eq!(error[34], 11, "time exceeded");
    assert_eq!(&error[26..30], &[10, 0, 1, 253], "from vsw-1's gateway");
    assert_eq!(
        fx.dp
            .counters()
            .unwrap()
            .action(Action::IcmpTimeExceededSent),
        sent + 1
    );

    // Security groups judge the private side, statefully: i-s's group
    // refuses HTTP to the object storage and admits nothing inbound, yet
    // the reply of an allowed flow comes back.
    const S: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 20);
    run(
        fx,
        "i-s: its group refuses tcp/80 to the object storage",
        Instance("i-s"),
        &from_instance("i-s", &tcp(S, 40001, OSS, 80, SYN)),
        XDP_DROP,
        Some(DropReason::SgEgress),
    );
    let out = run(
        fx,
        "i-s: tcp/443 is allowed out",
        Instance("i-s"),
        &from_instance("i-s", &tcp(S, 40001, OSS, 443, SYN)),
        XDP_REDIRECT,
        None,
    );
    let port_s = sport_of(&out);
    let back = run_services(
        fx,
        "the reply to i-s passes though its group admits nothing inbound",
        &from_services(&tcp(OSS, 443, source, port_s, SYN | ACK)),
        XDP_REDIRECT,
        None,
    );
    assert_eq!(
        back,
        to_instance("i-s", &tcp(OSS, 443, S, 40001, SYN | ACK))
    );
    assert_eq!(
        actions(fx, Action::ToServices),
        to_svc + 5,
        "to_services counter"
    );
    assert_eq!(
        actions(fx, Action::FromServices),
        from_svc + 3,
        "from_services counter"
    );
}

#[test]
fn gwe_5_endpoint_route_translates_to_the_endpoint_source_and_only_replies_come_back() {
    let mut fx = DatapathFixture::new(ENDPOINT_MODEL);
    let mut twin = fx.twin(Mode::Tc);
    gateway_endpoint_table(&mut fx);
    gateway_endpoint_table(&mut twin);
}

/// The network ACL of the instance's vSwitch judges endpoint traffic on the
/// private side, as any other (stateless).
#[test]
fn network_acl_of_the_vswitch_judges_traffic_through_the_endpoint() {
    use vpc_control::model::{IpProtocol, NetworkAcl, NetworkAclEntry, RulePolicy};
    let fx = DatapathFixture::new(ENDPOINT_MODEL);
    let mut m = fx.model.clone();
    m.network_acls.push(NetworkAcl {
        id: "nacl-no-8080".into(),
        vpc_id: "vpc-g".into(),
        name: None,
        ingress: Vec::new(),
        egress: vec![NetworkAclEntry {
            id: "nae-no-8080".into(),
            name: String::new(),
            policy: RulePolicy::Drop,
            protocol: IpProtocol::Tcp,
            cidr: "100.118.28.0/24".parse().unwrap(),
            port_range: (8080, 8080),
            description: String::new(),
        }],
        meta: Default::default(),
    });
    m.vswitches
        .iter_mut()
        .find(|v| v.id == "vsw-1")
        .unwrap()
        .network_acl_id = Some("nacl-no-8080".into());
    for mode in [Mode::Xdp, Mode::Tc] {
        let mut fx = fx.twin(mode);
        fx.reapply(m.clone());
        run(
            &mut fx,
            "tcp/8080 to the object storage: the vSwitch's ACL refuses it",
            In::Instance("i-a"),
            &from_instance("i-a", &tcp(A, 40001, OSS, 8080, SYN)),
            XDP_DROP,
            Some(DropReason::AclEgress),
        );
        run(
            &mut fx,
            "tcp/80 passes",
            In::Instance("i-a"),
            &from_instance("i-a", &tcp(A, 40001, OSS, 80, SYN)),
            XDP_REDIRECT,
            None,
        );
    }
}
