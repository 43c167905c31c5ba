//! Datapath fixtures through the real eBPF object and BPF_PROG_TEST_RUN:
//! a table of {frame in, description, expected verdict, expected frame out,
//! expected drop counter}. Maps are filled by the control plane's own
//! compile and write, for a model of two VPCs.
use std::net::Ipv4Addr;

use aya::programs::{TestRun, TestRunOptions};
use vpc_common::{Action, DropReason};
use vpc_control::{
    datapath::{Datapath, Mode},
    topology::{ROUTER_MAC, eni_mac},
};
use vpc_tests::{
    DatapathFixture as Fixture, arp, fix_ipv4_checksum, icmp_echo, icmp_error, inet_csum,
    ipv4_frame, l4_frame, same_verdict, stay_on_this_cpu,
};

const XDP_DROP: u32 = 1;
const XDP_TX: u32 = 3;
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
route_table_id = "vtb-appliance"
[[route_table]]
id = "vtb-appliance"
vpc_id = "vpc-a"
[[route_table.route_entry]]
destination_cidr_block = "192.168.0.0/16"
next_hop_type = "Instance"
next_hop_id = "i-fw"
[[instance]]
id = "i-1"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-2"
vswitch_id = "vsw-2"
private_ip_address = "10.0.2.10"
[[instance]]
id = "i-fw"
vswitch_id = "vsw-2"
private_ip_address = "10.0.2.20"
source_dest_check = false

# A second VPC with the same CIDR and the same addresses (VPC-3).
[[vpc]]
id = "vpc-b"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-b"
vpc_id = "vpc-b"
cidr_block = "10.0.1.0/24"
[[instance]]
id = "i-b"
vswitch_id = "vsw-b"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-b2"
vswitch_id = "vsw-b"
private_ip_address = "10.0.1.11"
"#;

/// One row of a fixture table.
struct Case {
    what: &'static str,
    eni: &'static str,
    frame: Vec<u8>,
    verdict: u32,
    /// Expected frame out (for TX and REDIRECT).
    out: Option<Vec<u8>>,
    /// The drop counter that must move by one (for DROP).
    drop: Option<DropReason>,
}

/// Runs the table through `fx` (XDP), then through a twin of it running
/// the tc program: one pipeline, both program types, the same answers.
fn check(fx: &mut Fixture, cases: Vec<Case>) {
    let mut twin = fx.twin(Mode::Tc);
    for fx in [fx, &mut twin] {
        for c in &cases {
            if fx.mode == Mode::Tc
                && (c.frame.get(12..14) == Some(&[0x86, 0xdd]) || c.frame.len() < 34)
            {
                // The kernel's test run of a socket buffer refuses (EINVAL)
                // a frame typed IPv6 whose IPv6 header is not one, and a
                // truncated IPv4 header: such frames never reach tc.
                continue;
            }
            let what = format!("{} ({})", c.what, fx.mode);
            let before = c.drop.map(|r| fx.dropped(r));
            let (verdict, out) = fx.run(c.eni, &c.frame);
            assert!(
                same_verdict(verdict, c.verdict),
                "{what}: verdict {verdict}, expected {}",
                c.verdict
            );
            if let Some(expected) = &c.out {
                assert_eq!(&out, expected, "{what}: frame out");
            }
            if let (Some(r), Some(b)) = (c.drop, before) {
                assert_eq!(fx.dropped(r), b + 1, "{what}: counter {}", r.name());
            }
        }
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// What the router must emit for `frame` forwarded to `dst_mac`: MACs
/// rewritten, TTL decremented, header checksum still valid.
fn forwarded(frame: &[u8], dst_mac: [u8; 6]) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&ROUTER_MAC);
    f[22] -= 1;
    fix_ipv4_checksum(&mut f);
    f
}

#[test]
fn rt_1_rt_2_forward_between_vswitches_rewrites_macs_ttl_and_checksum() {
    let mut fx = Fixture::new(MODEL);
    let m1 = eni_mac("eni-1");
    let m2 = eni_mac("eni-2");
    let to_2 = icmp_echo(ROUTER_MAC, m1, ip("10.0.1.10"), ip("10.0.2.10"), 64);
    let back = icmp_echo(ROUTER_MAC, m2, ip("10.0.2.10"), ip("10.0.1.10"), 1 + 1);
    let to_fw = icmp_echo(ROUTER_MAC, m1, ip("10.0.1.10"), ip("10.0.2.20"), 7);
    check(
        &mut fx,
        vec![
            Case {
                what: "vsw-1 -> vsw-2",
                eni: "eni-1",
                out: Some(forwarded(&to_2, m2)),
                frame: to_2,
                verdict: XDP_REDIRECT,
                drop: None,
            },
            Case {
                what: "vsw-2 -> vsw-1, TTL 2 -> 1",
                eni: "eni-2",
                out: Some(forwarded(&back, m1)),
                frame: back,
                verdict: XDP_REDIRECT,
                drop: None,
            },
            Case {
                what: "to the appliance's own address",
                eni: "eni-1",
                out: Some(forwarded(&to_fw, eni_mac("eni-fw"))),
                frame: to_fw,
                verdict: XDP_REDIRECT,
                drop: None,
            },
        ],
    );
    let out = fx
        .run(
            "eni-1",
            &icmp_echo(ROUTER_MAC, m1, ip("10.0.1.10"), ip("10.0.2.10"), 64),
        )
        .1;
    assert_eq!(inet_csum(&out[14..34]), 0, "incremental checksum verifies");
    assert!(fx.dp.counters().unwrap().ports[&fx.port("eni-2")].tx_packets >= 2);
}

#[test]
fn rt_3_instance_next_hop_sends_to_the_appliance_eni() {
    let mut fx = Fixture::new(MODEL);
    let m2 = eni_mac("eni-2");
    let f = icmp_echo(ROUTER_MAC, m2, ip("10.0.2.10"), ip("192.168.7.7"), 64);
    // The appliance forwards traffic that is not its own (source/dest check off).
    let from_fw = icmp_echo(
        ROUTER_MAC,
        eni_mac("eni-fw"),
        ip("192.168.7.7"),
        ip("10.0.2.10"),
        64,
    );
    let from_1 = icmp_echo(
        ROUTER_MAC,
        eni_mac("eni-1"),
        ip("10.0.1.10"),
        ip("192.168.7.7"),
        64,
    );
    check(
        &mut fx,
        vec![
            Case {
                what: "custom entry 192.168.0.0/16 -> i-fw",
                eni: "eni-2",
                out: Some(forwarded(&f, eni_mac("eni-fw"))),
                frame: f,
                verdict: XDP_REDIRECT,
                drop: None,
            },
            Case {
                what: "appliance forwards a foreign source",
                eni: "eni-fw",
                out: Some(forwarded(&from_fw, m2)),
                frame: from_fw,
                verdict: XDP_REDIRECT,
                drop: None,
            },
            Case {
                what: "vsw-1's system table has no such entry",
                eni: "eni-1",
                frame: from_1,
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::NoRoute),
            },
        ],
    );
}

#[test]
fn rt_3_a_route_change_applies_to_a_flow_the_flow_cache_holds() {
    stay_on_this_cpu();
    let mut fx = Fixture::new(MODEL);
    let f = l4_frame(
        ROUTER_MAC,
        eni_mac("eni-2"),
        ip("10.0.2.10"),
        ip("192.168.7.7"),
        17,
        4000,
        53,
        0,
    );
    let hits = |fx: &Fixture| fx.dp.counters().unwrap().ports[&fx.port("eni-2")].flow_cache_hits;
    let before = hits(&fx);
    // Admitted at its third packet (flow_cache::ADMIT_AFTER): the next two
    // come from the cache.
    let admit_after = u64::from(vpc_common::flow_cache::ADMIT_AFTER);
    for _ in 0..admit_after + 2 {
        let (verdict, out) = fx.run("eni-2", &f);
        assert_eq!(
            (verdict, out),
            (XDP_REDIRECT, forwarded(&f, eni_mac("eni-fw"))),
            "192.168.0.0/16 -> i-fw"
        );
    }
    assert_eq!(
        hits(&fx),
        before + 2,
        "the flow comes from the flow cache once admitted"
    );
    let mut m = fx.model.clone();
    let table = m
        .route_tables
        .iter_mut()
        .find(|t| t.id == "vtb-appliance")
        .unwrap();
    let mut entry = (*table.route_entries[0]).clone();
    entry.next_hop_id = "i-1".into();
    table.route_entries[0] = entry.into();
    fx.reapply(m);
    let before = hits(&fx);
    let (verdict, out) = fx.run("eni-2", &f);
    assert_eq!(
        (verdict, out),
        (XDP_REDIRECT, forwarded(&f, eni_mac("eni-1"))),
        "the next packet takes the new next hop"
    );
    assert_eq!(hits(&fx), before, "the next packet takes the slow path");
    // The flow stays admitted across the change: its decision is cached
    // again at once.
    let (verdict, out) = fx.run("eni-2", &f);
    assert_eq!(
        (verdict, out),
        (XDP_REDIRECT, forwarded(&f, eni_mac("eni-1"))),
        "the packet after it, from the flow cache"
    );
    assert_eq!(hits(&fx), before + 1, "the packet after it is a hit");
}

/// An id `<prefix><n>` whose cache slot (`slot_of`) is `taken`'s: two
/// objects that meet in one slot of a direct-mapped cache.
fn id_sharing_slot(prefix: &str, taken: &str, slot_of: impl Fn(&str) -> u32) -> String {
    let want = slot_of(taken);
    (0..1_000_000)
        .map(|n| format!("{prefix}{n}"))
        .find(|id| slot_of(id) == want)
        .unwrap_or_else(|| panic!("an id {prefix}<n> sharing {taken}'s slot"))
}

/// Each vSwitch is routed by its own table (RT-1), also through the route
/// cache (`vpc_common::route_cache`, keyed by table and destination):
/// vsw-2's route to 192.168.0.0/16, found first on this CPU, is not
/// vsw-1's, whose table has none; vsw-2's table id is chosen so that both
/// tables' answers for the address sit in the same slot of the cache.
#[test]
fn rt_1_each_vswitch_is_routed_by_its_own_table_also_through_the_route_cache() {
    use vpc_common::route_cache::slot;
    use vpc_control::model::hashed_id;
    stay_on_this_cpu();
    let dst = u32::from_ne_bytes([192, 168, 7, 7]);
    let table = id_sharing_slot("vtb-appliance", "vtb-a", |id| slot(hashed_id(id), dst));
    let mut fx = Fixture::new(&MODEL.replace("\"vtb-appliance\"", &format!("\"{table}\"")));
    for id in ["vtb-a", table.as_str()] {
        assert_eq!(fx.model.numeric_id(id), hashed_id(id), "the fixture's table ids are their hashes");
    }
    let from_2 = l4_frame(ROUTER_MAC, eni_mac("eni-2"), ip("10.0.2.10"), ip("192.168.7.7"), 17, 4000, 53, 0);
    let from_1 = l4_frame(ROUTER_MAC, eni_mac("eni-1"), ip("10.0.1.10"), ip("192.168.7.7"), 17, 4000, 53, 0);
    check(
        &mut fx,
        vec![
            Case {
                what: "vsw-2's table: 192.168.0.0/16 -> i-fw",
                eni: "eni-2",
                out: Some(forwarded(&from_2, eni_mac("eni-fw"))),
                frame: from_2.clone(),
                verdict: XDP_REDIRECT,
                drop: None,
            },
            Case {
                what: "vsw-1's table has no route to it",
                eni: "eni-1",
                frame: from_1,
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::NoRoute),
            },
            Case {
                what: "vsw-2's again",
                eni: "eni-2",
                out: Some(forwarded(&from_2, eni_mac("eni-fw"))),
                frame: from_2,
                verdict: XDP_REDIRECT,
                drop: None,
            },
        ],
    );
}

/// The flow cache's established path (`flow_cache::established`) judges
/// what the parser judges: in both program types, a cached flow's packet
/// comes out as the slow path's did (TTL, checksum, MACs), one with a bad
/// header checksum is dropped as such, and one whose TTL runs out takes
/// the full path (ICMP time exceeded).
#[test]
fn rt_3_a_flow_cache_hit_is_checked_and_rewritten_as_the_slow_path() {
    stay_on_this_cpu();
    let mut xdp = Fixture::new(MODEL);
    let mut tc = xdp.twin(Mode::Tc);
    for fx in [&mut xdp, &mut tc] {
        let mode = fx.mode;
        let f = l4_frame(
            ROUTER_MAC,
            eni_mac("eni-2"),
            ip("10.0.2.10"),
            ip("192.168.7.7"),
            17,
            4001,
            53,
            0,
        );
        let hits =
            |fx: &Fixture| fx.dp.counters().unwrap().ports[&fx.port("eni-2")].flow_cache_hits;
        let expected = forwarded(&f, eni_mac("eni-fw"));
        // The slow path until the flow is admitted (flow_cache::ADMIT_AFTER).
        let h = hits(fx);
        for n in 1..=vpc_common::flow_cache::ADMIT_AFTER {
            let first = fx.run("eni-2", &f);
            assert!(same_verdict(first.0, XDP_REDIRECT), "{mode}: packet {n}");
            assert_eq!(first.1, expected, "{mode}: packet {n} (slow path)");
        }
        assert_eq!(hits(fx), h, "{mode}: no hit before admission");
        let h = hits(fx);
        let second = fx.run("eni-2", &f);
        assert!(
            same_verdict(second.0, XDP_REDIRECT),
            "{mode}: second packet"
        );
        assert_eq!(second.1, expected, "{mode}: next packet (flow cache)");
        assert_eq!(hits(fx), h + 1, "{mode}: the packet after admission is a hit");

        let mut bad = f.clone();
        bad[24] ^= 0x40;
        let before = fx.dropped(DropReason::BadIpv4Header);
        assert!(
            same_verdict(fx.run("eni-2", &bad).0, XDP_DROP),
            "{mode}: bad checksum, cached flow"
        );
        assert_eq!(
            fx.dropped(DropReason::BadIpv4Header),
            before + 1,
            "{mode}: counted as a bad header"
        );

        let mut last_hop = f.clone();
        last_hop[22] = 1;
        fix_ipv4_checksum(&mut last_hop);
        let h = hits(fx);
        let (v, out) = fx.run("eni-2", &last_hop);
        assert!(!same_verdict(v, XDP_DROP), "{mode}: TTL 1 is answered");
        assert_eq!(
            out[23], 1,
            "{mode}: TTL 1 of a cached flow: ICMP time exceeded"
        );
        assert_eq!(hits(fx), h, "{mode}: TTL 1 is not served from the cache");
    }
}

/// Equal addresses in two VPCs are two ENIs, also to the neighbour cache
/// (`vpc_common::neighbour_cache`, keyed by VPC and address): vpc-a's
/// 10.0.1.10, found first on this CPU, is not the other VPC's, whose id
/// is chosen so that both sit in the same slot of the cache.
#[test]
fn vpc_3_same_address_in_another_vpc_is_another_eni() {
    use vpc_common::neighbour_cache::slot;
    use vpc_control::model::hashed_id;
    stay_on_this_cpu();
    let addr = u32::from_ne_bytes([10, 0, 1, 10]);
    let other = id_sharing_slot("vpc-b", "vpc-a", |id| slot(hashed_id(id), addr));
    let mut fx = Fixture::new(&MODEL.replace("\"vpc-b\"", &format!("\"{other}\"")));
    assert_eq!(fx.model.numeric_id(&other), hashed_id(&other), "the fixture's VPC ids are their hashes");
    let mb2 = eni_mac("eni-b2");
    let in_a = icmp_echo(ROUTER_MAC, eni_mac("eni-2"), ip("10.0.2.10"), ip("10.0.1.10"), 64);
    let in_b = icmp_echo(ROUTER_MAC, mb2, ip("10.0.1.11"), ip("10.0.1.10"), 64);
    let to_a = icmp_echo(ROUTER_MAC, mb2, ip("10.0.1.11"), ip("10.0.2.10"), 64);
    check(
        &mut fx,
        vec![
            Case {
                what: "10.0.1.10 in vpc-a is i-1",
                eni: "eni-2",
                out: Some(forwarded(&in_a, eni_mac("eni-1"))),
                frame: in_a,
                verdict: XDP_REDIRECT,
                drop: None,
            },
            Case {
                what: "10.0.1.10 in vpc-b is i-b, not i-1",
                eni: "eni-b2",
                out: Some(forwarded(&in_b, eni_mac("eni-b"))),
                frame: in_b,
                verdict: XDP_REDIRECT,
                drop: None,
            },
            Case {
                what: "vpc-b has no route to vpc-a's 10.0.2.0/24",
                eni: "eni-b2",
                frame: to_a,
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::NoRoute),
            },
        ],
    );
}

/// An address given to another instance (the first deleted, a new one
/// created with its address: VPC-2) is reached at the new instance's ENI
/// from the next packet on: the ENI this CPU's slow path found for it
/// before (`vpc_common::neighbour_cache`) is void once the configuration
/// changed.
#[test]
fn vpc_2_an_address_given_to_another_instance_is_reached_at_its_eni() {
    stay_on_this_cpu();
    // A second instance in vsw-1 (its router port made with the fixture's).
    let model = format!("{MODEL}\n[[instance]]\nid = \"i-9\"\nvswitch_id = \"vsw-1\"\nprivate_ip_address = \"10.0.1.30\"\n");
    let mut fx = Fixture::new(&model);
    // UDP (no flow cache before its third packet; two here).
    let f = l4_frame(ROUTER_MAC, eni_mac("eni-2"), ip("10.0.2.10"), ip("10.0.1.10"), 17, 4000, 53, 0);
    for n in 0..2 {
        let (verdict, out) = fx.run("eni-2", &f);
        assert_eq!((verdict, out), (XDP_REDIRECT, forwarded(&f, eni_mac("eni-1"))), "packet {n}: 10.0.1.10 is i-1");
    }
    let mut m = fx.model.clone();
    m.instances.retain(|i| i.id != "i-1");
    m.instances.iter_mut().find(|i| i.id == "i-9").unwrap().private_ip_address = Some(ip("10.0.1.10"));
    fx.reapply(m);
    let (verdict, out) = fx.run("eni-2", &f);
    assert_eq!(
        (verdict, out),
        (XDP_REDIRECT, forwarded(&f, eni_mac("eni-9"))),
        "the next packet goes to i-9, which holds 10.0.1.10 now"
    );
}

#[test]
fn vpc_4_anti_spoofing_drops_foreign_source_mac_and_ip() {
    let mut fx = Fixture::new(MODEL);
    let m1 = eni_mac("eni-1");
    check(
        &mut fx,
        vec![
            Case {
                what: "source IP of another instance",
                eni: "eni-1",
                frame: icmp_echo(ROUTER_MAC, m1, ip("10.0.1.99"), ip("10.0.2.10"), 64),
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::SpoofedIp),
            },
            Case {
                what: "source MAC not the ENI's",
                eni: "eni-1",
                frame: icmp_echo(
                    ROUTER_MAC,
                    [2, 0, 0, 0, 0, 9],
                    ip("10.0.1.10"),
                    ip("10.0.2.10"),
                    64,
                ),
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::SpoofedMac),
            },
            Case {
                what: "ARP with a foreign sender IP",
                eni: "eni-1",
                frame: arp(1, [0xff; 6], m1, ip("10.0.1.77"), [0; 6], ip("10.0.1.253")),
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::SpoofedIp),
            },
            Case {
                what: "unicast to another MAC",
                eni: "eni-1",
                frame: icmp_echo([2, 1, 1, 1, 1, 1], m1, ip("10.0.1.10"), ip("10.0.2.10"), 64),
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::NotForRouter),
            },
        ],
    );
}

#[test]
fn vpc_2_arp_for_vswitch_addresses_is_answered_in_xdp() {
    let mut fx = Fixture::new(MODEL);
    let m1 = eni_mac("eni-1");
    let gw = ip("10.0.1.253");
    let reply = arp(2, m1, ROUTER_MAC, gw, m1, ip("10.0.1.10"));
    let peer = ip("10.0.1.20");
    check(
        &mut fx,
        vec![
            Case {
                what: "who-has gateway",
                eni: "eni-1",
                frame: arp(1, [0xff; 6], m1, ip("10.0.1.10"), [0; 6], gw),
                verdict: XDP_TX,
                out: Some(reply),
                drop: None,
            },
            Case {
                what: "who-has a neighbour in the vSwitch (proxy ARP)",
                eni: "eni-1",
                frame: arp(1, [0xff; 6], m1, ip("10.0.1.10"), [0; 6], peer),
                verdict: XDP_TX,
                out: Some(arp(2, m1, ROUTER_MAC, peer, m1, ip("10.0.1.10"))),
                drop: None,
            },
            Case {
                what: "who-has outside the vSwitch",
                eni: "eni-1",
                frame: arp(1, [0xff; 6], m1, ip("10.0.1.10"), [0; 6], ip("10.0.2.10")),
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::ArpIgnored),
            },
            Case {
                what: "duplicate-address probe for its own address",
                eni: "eni-1",
                frame: arp(1, [0xff; 6], m1, ip("10.0.1.10"), [0; 6], ip("10.0.1.10")),
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::ArpIgnored),
            },
            Case {
                what: "ARP probe (RFC 5227, sender 0.0.0.0): ignored, not spoofed",
                eni: "eni-1",
                frame: arp(1, [0xff; 6], m1, ip("0.0.0.0"), [0; 6], ip("10.0.1.10")),
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::ArpIgnored),
            },
            Case {
                what: "ARP reply from the instance",
                eni: "eni-1",
                frame: arp(2, ROUTER_MAC, m1, ip("10.0.1.10"), ROUTER_MAC, gw),
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::ArpIgnored),
            },
        ],
    );
}

#[test]
fn rt_1_no_route_and_no_neighbour_are_counted_drops() {
    let mut fx = Fixture::new(MODEL);
    let m1 = eni_mac("eni-1");
    check(
        &mut fx,
        vec![
            Case {
                what: "no route",
                eni: "eni-1",
                frame: icmp_echo(ROUTER_MAC, m1, ip("10.0.1.10"), ip("172.16.0.1"), 64),
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::NoRoute),
            },
            Case {
                what: "local route, no ENI at that address",
                eni: "eni-1",
                frame: icmp_echo(ROUTER_MAC, m1, ip("10.0.1.10"), ip("10.0.2.99"), 64),
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::NoNeighbour),
            },
            Case {
                what: "multicast is never routed",
                eni: "eni-1",
                frame: icmp_echo(ROUTER_MAC, m1, ip("10.0.1.10"), ip("224.0.0.1"), 64),
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::Martian),
            },
        ],
    );
}

/// A TTL that runs out is answered with ICMP time exceeded, and a packet
/// with DF set larger than the egress port's MTU with fragmentation needed
/// (carrying that MTU), both from the gateway of the sender's vSwitch, back
/// out of the port it came in on; each still counts as a drop. Without DF
/// the oversize packet is dropped silently (the router does not fragment);
/// an ICMP error about an ICMP error is never sent.
#[test]
fn datapath_answers_ttl_expiry_and_oversize_df_packets_with_icmp_errors_from_the_gateway() {
    let mut fx = Fixture::new(MODEL);
    let m1 = eni_mac("eni-1");
    let gw = ip("10.0.1.253");
    let expired = icmp_echo(ROUTER_MAC, m1, ip("10.0.1.10"), ip("10.0.2.10"), 1);
    let expired_udp = l4_frame(
        ROUTER_MAC,
        m1,
        ip("10.0.1.10"),
        ip("10.0.2.10"),
        17,
        33434,
        33434,
        0,
    );
    let mut expired_udp = expired_udp;
    expired_udp[22] = 1;
    fix_ipv4_checksum(&mut expired_udp);
    let big = ipv4_frame(
        ROUTER_MAC,
        m1,
        ip("10.0.1.10"),
        ip("10.0.2.10"),
        64,
        17,
        &[0u8; 1600],
    );
    let mut big_no_df = big.clone();
    big_no_df[20] = 0;
    fix_ipv4_checksum(&mut big_no_df);
    let mut error_in = icmp_error(&expired, ip("10.0.1.10"), 11, 0, 0);
    error_in[0..6].copy_from_slice(&ROUTER_MAC);
    error_in[6..12].copy_from_slice(&m1);
    error_in[30..34].copy_from_slice(&ip("10.0.2.10").octets());
    error_in[22] = 1;
    fix_ipv4_checksum(&mut error_in);
    check(
        &mut fx,
        vec![
            Case {
                what: "TTL 1 (ping): time exceeded",
                eni: "eni-1",
                out: Some(icmp_error(&expired, gw, 11, 0, 0)),
                frame: expired,
                verdict: XDP_TX,
                drop: Some(DropReason::TtlExceeded),
            },
            Case {
                what: "TTL 1 (traceroute's UDP probe): time exceeded",
                eni: "eni-1",
                out: Some(icmp_error(&expired_udp, gw, 11, 0, 0)),
                frame: expired_udp,
                verdict: XDP_TX,
                drop: Some(DropReason::TtlExceeded),
            },
            Case {
                what: "1,620 bytes with DF to a 1,500-byte port: fragmentation needed",
                eni: "eni-1",
                out: Some(icmp_error(&big, gw, 3, 4, 1500)),
                frame: big,
                verdict: XDP_TX,
                drop: Some(DropReason::FragmentationNeeded),
            },
            Case {
                what: "1,620 bytes without DF: dropped, no error",
                eni: "eni-1",
                out: None,
                frame: big_no_df,
                verdict: XDP_DROP,
                drop: Some(DropReason::FragmentationNeeded),
            },
            Case {
                what: "an ICMP error with TTL 1: no error about it",
                eni: "eni-1",
                out: None,
                frame: error_in,
                verdict: XDP_DROP,
                drop: Some(DropReason::TtlExceeded),
            },
        ],
    );
    let sent = |fx: &Fixture, a: Action| fx.dp.counters().unwrap().action(a);
    assert_eq!(
        sent(&fx, Action::IcmpTimeExceededSent),
        2,
        "time exceeded sent, XDP"
    );
    assert_eq!(
        sent(&fx, Action::IcmpFragNeededSent),
        1,
        "fragmentation needed sent, XDP"
    );
}

#[test]
fn datapath_drops_ipv6_malformed_and_unknown_port_frames_by_reason() {
    let mut fx = Fixture::new(MODEL);
    let m1 = eni_mac("eni-1");
    let mut v6 = icmp_echo(ROUTER_MAC, m1, ip("10.0.1.10"), ip("10.0.2.10"), 64);
    v6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let mut lldp = v6.clone();
    lldp[12..14].copy_from_slice(&0x88ccu16.to_be_bytes());
    let full = icmp_echo(ROUTER_MAC, m1, ip("10.0.1.10"), ip("10.0.2.10"), 64);
    let mut bad_version = full.clone();
    bad_version[14] = 0x65;
    // Headers that do not hold, each with a right checksum but the last.
    let with_total = |total: u16| {
        let mut f = full.clone();
        f[16..18].copy_from_slice(&total.to_be_bytes());
        fix_ipv4_checksum(&mut f);
        f
    };
    let long_total = with_total(full.len() as u16 - 14 + 1);
    let short_total = with_total(19);
    let mut bad_checksum = full.clone();
    bad_checksum[24] ^= 0x55;
    let udp = ipv4_frame(
        ROUTER_MAC,
        m1,
        ip("10.0.1.10"),
        ip("10.0.2.10"),
        64,
        17,
        &[0, 53, 0, 53, 0, 8, 0, 0],
    );
    check(
        &mut fx,
        vec![
            Case {
                what: "IPv6 is counted and dropped",
                eni: "eni-1",
                frame: v6,
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::Ipv6),
            },
            Case {
                what: "LLDP",
                eni: "eni-1",
                frame: lldp,
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::UnsupportedEtherType),
            },
            Case {
                what: "truncated IPv4 header",
                eni: "eni-1",
                frame: full[..30].to_vec(),
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::ParseError),
            },
            Case {
                what: "IP version 6 in an IPv4 frame",
                eni: "eni-1",
                frame: bad_version,
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::ParseError),
            },
            Case {
                what: "IPv4 total length beyond the frame",
                eni: "eni-1",
                frame: long_total,
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::BadIpv4Header),
            },
            Case {
                what: "IPv4 total length shorter than the header",
                eni: "eni-1",
                frame: short_total,
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::BadIpv4Header),
            },
            Case {
                what: "IPv4 header checksum wrong",
                eni: "eni-1",
                frame: bad_checksum,
                verdict: XDP_DROP,
                out: None,
                drop: Some(DropReason::BadIpv4Header),
            },
            Case {
                what: "UDP is routed like ICMP",
                eni: "eni-1",
                out: Some(forwarded(&udp, eni_mac("eni-2"))),
                frame: udp,
                verdict: XDP_REDIRECT,
                drop: None,
            },
        ],
    );
    // A port the control plane does not know.
    let before = fx.dropped(DropReason::UnknownPort);
    // No ingress ifindex: the kernel runs the program as if on loopback.
    let mut ctx = [0u8; 24];
    let frame = icmp_echo(ROUTER_MAC, m1, ip("10.0.1.10"), ip("10.0.2.10"), 64);
    ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    let prog = fx.dp.router_program().unwrap();
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(&frame);
    opts.ctx_in = Some(&ctx);
    let r = prog.test_run(opts).unwrap();
    assert_eq!(r.return_value, XDP_DROP, "no ingress ifindex: unknown port");
    assert_eq!(fx.dropped(DropReason::UnknownPort), before + 1);
}

/// A router namespace name of its own and its pin directory, made (and
/// removed when the guard drops), for pins put there by hand.
fn pin_dir_of_its_own() -> (String, std::path::PathBuf, impl Drop) {
    struct RmDir(std::path::PathBuf);
    impl Drop for RmDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let router = vpc_tests::unique("vpct-pin");
    let dir = vpc_control::datapath::pin_dir(&router);
    vpc_control::datapath::ensure_bpffs().unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let cleanup = RmDir(dir.clone());
    (router, dir, cleanup)
}

#[test]
fn datapath_refuses_maps_pinned_by_another_layout() {
    let (router, dir, _cleanup) = pin_dir_of_its_own();
    // A map of another shape where ACTIONS is expected: DROPS has 13 slots.
    let mut other = Datapath::load(None).unwrap();
    other
        .pin_map(
            vpc_common::map_names::DROPS,
            &dir.join(vpc_common::map_names::ACTIONS),
        )
        .unwrap();
    let err = Datapath::load(Some(&router))
        .err()
        .expect("load must refuse the foreign map");
    assert!(err.to_string().contains("another version"), "{err}");
}

#[test]
fn datapath_replaces_a_lookup_cache_pinned_by_another_layout() {
    let (router, dir, _cleanup) = pin_dir_of_its_own();
    // An older neighbour cache's shape (the route cache's values are
    // another size): a cache holds nothing to keep, so it is replaced.
    let path = dir.join(vpc_common::map_names::NEIGHBOUR_CACHE);
    let mut other = Datapath::load(None).unwrap();
    other.pin_map(vpc_common::map_names::ROUTE_CACHE, &path).unwrap();
    let size = |p: &std::path::Path| aya::maps::MapInfo::from_pin(p).unwrap().value_size();
    assert_eq!(size(&path), std::mem::size_of::<vpc_common::RouteCacheEntry>() as u32);
    drop(Datapath::load(Some(&router)).expect("load replaces the cache"));
    assert_eq!(size(&path), std::mem::size_of::<vpc_common::NeighbourEntry>() as u32);
}

const BIG_TABLE_MODEL: &str = r#"
[[vpc]]
id = "vpc-a"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-1"
vpc_id = "vpc-a"
cidr_block = "10.0.1.0/24"
route_table_id = "vtb-big"
[[route_table]]
id = "vtb-big"
vpc_id = "vpc-a"
[[instance]]
id = "i-src"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-fw1"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.21"
source_dest_check = false
[[instance]]
id = "i-fw2"
vswitch_id = "vsw-1"
private_ip_address = "10.0.1.22"
source_dest_check = false
"#;

/// `n` distinct routes outside 10/8 of lengths /8 to /32 (a third longer
/// than /24, inside blocks other routes cover), next hops alternating.
fn big_table_routes(n: usize) -> Vec<(ipnet::Ipv4Net, &'static str)> {
    const LENGTHS: [u8; 12] = [8, 12, 16, 20, 22, 23, 24, 24, 25, 26, 28, 32];
    let mut rng = vpc_tests::bench::XorShift(0x9e37_79b9_7f4a_7c15);
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    while out.len() < n {
        let x = rng.next();
        // Few first octets, so short and long routes overlap.
        let addr = (((x >> 40) as u32 % 4 + 100) << 24) | ((x >> 8) as u32 & 0x00ff_ffff);
        let len = LENGTHS[(x as usize >> 3) % LENGTHS.len()];
        let net = ipnet::Ipv4Net::new(Ipv4Addr::from(addr), len)
            .unwrap()
            .trunc();
        if seen.insert(net) {
            out.push((net, if out.len() % 2 == 0 { "i-fw1" } else { "i-fw2" }));
        }
    }
    out
}

/// The next hop the trie's longest match gives `dst` (None: no route).
fn longest_match(routes: &[(ipnet::Ipv4Net, &'static str)], dst: Ipv4Addr) -> Option<&'static str> {
    routes
        .iter()
        .filter(|(n, _)| n.contains(&dst))
        .max_by_key(|(n, _)| n.prefix_len())
        .map(|(_, h)| *h)
}

fn with_big_table(
    fx: &Fixture,
    routes: &[(ipnet::Ipv4Net, &'static str)],
) -> vpc_control::model::Model {
    let mut m = fx.model.clone();
    let t = m
        .route_tables
        .iter_mut()
        .find(|t| t.id == "vtb-big")
        .expect("vtb-big");
    t.route_entries = routes
        .iter()
        .map(|(net, hop)| {
            std::sync::Arc::new(vpc_control::model::RouteEntry {
                id: String::new(),
                name: None,
                destination_cidr_block: *net,
                next_hop_type: vpc_control::model::NextHopType::Instance,
                destination_prefix_list_id: None,
                next_hop_id: hop.to_string(),
                meta: Default::default(),
            })
        })
        .collect();
    m
}

/// Sends frames from i-src to destinations in and around `routes` and
/// checks each leaves for the longest match's next hop, or is dropped.
fn check_forwarding(fx: &mut Fixture, routes: &[(ipnet::Ipv4Net, &'static str)], what: &str) {
    let src = eni_mac("eni-src");
    let mut rng = vpc_tests::bench::XorShift(12345);
    for (k, (net, _)) in routes.iter().enumerate().take(600) {
        let x = rng.next() as u32;
        let inside = u32::from(net.network()) | (x & !u32::from(net.netmask()));
        // Every third one: a neighbour block (maybe no route at all).
        let dst = Ipv4Addr::from(if k % 3 == 0 {
            inside ^ 0x0000_0100
        } else {
            inside
        });
        let frame = icmp_echo(ROUTER_MAC, src, ip("10.0.1.10"), dst, 64);
        let (verdict, out) = fx.run("eni-src", &frame);
        match longest_match(routes, dst) {
            Some(hop) => {
                let eni = format!("eni-{}", hop.trim_start_matches("i-"));
                assert_eq!(verdict, XDP_REDIRECT, "{what}: {dst} goes to {hop}");
                assert_eq!(out[..6], eni_mac(&eni), "{what}: {dst} goes to {hop}");
            }
            None => assert_eq!(verdict, XDP_DROP, "{what}: {dst} has no route"),
        }
    }
}

#[test]
fn rt_1_a_big_route_table_is_answered_through_the_direct_stage_as_by_the_trie() {
    let mut fx = Fixture::new(BIG_TABLE_MODEL);
    let table = vpc_control::topology::numeric_id("vtb-big");
    assert!(
        !fx.dp.direct_tables().contains(&Some(table)),
        "a small table uses the trie alone"
    );

    let routes = big_table_routes(3000);
    fx.reapply(with_big_table(&fx, &routes));
    assert!(
        fx.dp.direct_tables().contains(&Some(table)),
        "3000 routes: the table holds a direct slot"
    );
    check_forwarding(&mut fx, &routes, "3000 routes");

    // Remove every other route and add a default route: the slot is
    // rebuilt whole (0.0.0.0/0 covers every block), then changed in place.
    let mut fewer: Vec<_> = routes.iter().step_by(2).copied().collect();
    fewer.push(("0.0.0.0/0".parse().unwrap(), "i-fw2"));
    fx.reapply(with_big_table(&fx, &fewer));
    check_forwarding(&mut fx, &fewer, "1500 routes and a default route");
    fewer.pop();
    fewer.truncate(1200);
    fx.reapply(with_big_table(&fx, &fewer));
    assert!(fx.dp.direct_tables().contains(&Some(table)));
    check_forwarding(&mut fx, &fewer, "1200 routes");

    // Below half the threshold, the table leaves its slot: the trie answers.
    let few: Vec<_> = fewer[..100].to_vec();
    fx.reapply(with_big_table(&fx, &few));
    assert!(
        !fx.dp.direct_tables().contains(&Some(table)),
        "100 routes: the slot is released"
    );
    check_forwarding(&mut fx, &few, "100 routes");
}

#[test]
fn direct_route_stage_is_sized_at_load_and_bounded() {
    let none = Datapath::load_with_direct_slots(None, 0)
        .expect("no direct slot: every table through the trie");
    assert!(none.direct_tables().is_empty());
    let two = Datapath::load_with_direct_slots(None, 2).expect("two slots");
    assert_eq!(two.direct_tables(), &[None, None]);
    let err = Datapath::load_with_direct_slots(None, vpc_control::datapath::MAX_DIRECT_SLOTS + 1)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("direct route slots"), "{err}");
}

#[test]
fn direct_route_stage_a_restarted_datapath_keeps_its_slot_and_checks_it_at_the_first_write() {
    let mut fx = Fixture::new(BIG_TABLE_MODEL);
    let table = vpc_control::topology::numeric_id("vtb-big");
    let routes = big_table_routes(2000);
    fx.reapply(with_big_table(&fx, &routes));
    fx.restart();
    assert!(
        fx.dp.direct_tables().contains(&Some(table)),
        "the slot is read back from the ENIs"
    );
    check_forwarding(&mut fx, &routes, "after a restart, before any write");
    // The first write checks the slot whole, with the hop ids read back.
    let mut changed: Vec<_> = routes[..1500].to_vec();
    changed.push(("104.0.0.0/8".parse().unwrap(), "i-fw2"));
    fx.reapply(with_big_table(&fx, &changed));
    assert!(fx.dp.direct_tables().contains(&Some(table)));
    check_forwarding(&mut fx, &changed, "after a restart and a change");
}

/// The datapath reads as its pipeline: each module of vpc-ebpf/src may
/// use only modules before it in this order (what runs underneath, then
/// the stages as packets meet them), so there is no cycle and the stages
/// are named as they run.
#[test]
fn datapath_modules_follow_the_pipeline_order_without_cycles() {
    const ORDER: [&str; 24] = [
        "maps",
        "clock",
        "csum",
        "stats",
        "log_limit",
        "ports",
        "packet",
        "parse",
        "monitor",
        "arp",
        "flow_cache",
        "eni",
        "fragment",
        "route",
        "policy",
        "conntrack",
        // Load balancing runs before the route, but judges a new
        // connection with the policy and conntrack helpers.
        "lb",
        // PrivateLink runs before load balancing, and hands its packets to
        // the listener there.
        "privatelink",
        "nat",
        "icmp",
        "transmit",
        "edge",
        "pipeline",
        "main",
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vpc-ebpf/src");
    let mut seen = 0;
    for (i, module) in ORDER.iter().enumerate() {
        let source = std::fs::read_to_string(dir.join(format!("{module}.rs")))
            .unwrap_or_else(|e| panic!("{module}.rs: {e}"));
        // Code only (comments may name any module).
        let text: String = source
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        // Every `crate::` path, and the names inside `use crate::{...};`.
        let mut used = Vec::new();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            let names = if let Some(group) = rest.strip_prefix('{') {
                &group[..group.find("};").unwrap_or(group.len())]
            } else {
                &rest[..rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len())]
            };
            used.extend(
                names
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .filter(|n| ORDER.contains(n))
                    .map(str::to_string),
            );
        }
        for u in used.iter().filter(|u| u.as_str() != *module) {
            let j = ORDER.iter().position(|m| m == u).unwrap();
            assert!(
                j < i,
                "{module}.rs uses {u}, which comes after it in the pipeline order {ORDER:?}"
            );
        }
        seen += 1;
    }
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "rs")
        })
        .count();
    // bench.rs is a program of its own (the bench generator and sink).
    assert_eq!(
        seen + 1,
        files,
        "every module of vpc-ebpf/src is in the order"
    );
}

/// ICMP errors are rate-limited per CPU (a token bucket of 1,000 per second,
/// bursts of 50) and counted: of a burst of expired packets, the first 50
/// and one per elapsed millisecond are answered, the rest only counted;
/// every packet still counts as `ttl_exceeded`.
#[test]
fn datapath_icmp_errors_are_rate_limited_and_counted() {
    let mut fx = Fixture::new(MODEL);
    stay_on_this_cpu();
    let m1 = eni_mac("eni-1");
    let expired = icmp_echo(ROUTER_MAC, m1, ip("10.0.1.10"), ip("10.0.2.10"), 1);
    let counters = |fx: &Fixture| {
        let c = fx.dp.counters().unwrap();
        (
            c.action(Action::IcmpTimeExceededSent),
            c.action(Action::IcmpErrorRateLimited),
            c.dropped(DropReason::TtlExceeded),
        )
    };
    let before = counters(&fx);
    let n = 300;
    let start = std::time::Instant::now();
    let mut answered = 0;
    for _ in 0..n {
        let (v, _) = fx.run("eni-1", &expired);
        answered += u64::from(v == XDP_TX);
    }
    let elapsed_ms = start.elapsed().as_millis() as u64;
    let after = counters(&fx);
    let (sent, limited, dropped) = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    assert_eq!(sent, answered, "each answer counted");
    assert_eq!(
        sent + limited,
        n,
        "every error is sent or counted as rate-limited"
    );
    assert_eq!(dropped, n, "every expired packet counts as ttl_exceeded");
    assert!(sent >= 50, "the burst is answered ({sent})");
    assert!(
        sent <= 50 + elapsed_ms + 1,
        "at most the burst plus one per ms ({sent} in {elapsed_ms} ms)"
    );
    assert!(limited > 0, "the rest is rate-limited ({limited})");
}

/// What the pipeline must do with a frame from eni-1 (i-1, 10.0.1.10, in
/// vsw-1 of [`MODEL`], no groups): the reference the fuzzer compares the
/// programs with, written from the rules (docs/datapath.md), not from the
/// code.
#[derive(Debug, PartialEq)]
enum Expected {
    Drop(DropReason),
    /// Forwarded to the ENI of this MAC: MACs rewritten, TTL one less,
    /// header checksum updated.
    Forward([u8; 6]),
    /// TTL expiry: ICMP time exceeded from the gateway, or (over the rate
    /// limit) a drop counted as ttl_exceeded.
    TimeExceeded,
    /// Typed ARP by a mutation: answered or dropped by the ARP stage (its
    /// own fixtures check how), never forwarded.
    Arp,
}

/// Datagrams whose first fragment was forwarded: {src, dst, id, proto} ->
/// the first fragment's layer-4 bytes (what later fragments follow).
type FirstFragments = std::collections::BTreeMap<([u8; 4], [u8; 4], [u8; 2], u8), ()>;

fn reference(f: &[u8], first: &FirstFragments) -> Expected {
    use DropReason::*;
    use Expected::*;
    match u16::from_be_bytes([f[12], f[13]]) {
        0x0800 => {}
        0x0806 => return Arp,
        0x86dd => return Drop(Ipv6),
        _ => return Drop(UnsupportedEtherType),
    }
    if f.len() < 34 || f[14] >> 4 != 4 || f[14] & 0x0f < 5 {
        return Drop(ParseError);
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    if total < ihl || total + 14 > f.len() || (f[14] == 0x45 && inet_csum(&f[14..34]) != 0) {
        return Drop(BadIpv4Header);
    }
    let later_fragment = u16::from_be_bytes([f[20], f[21]]) & 0x1fff != 0;
    let (proto, src, dst): (u8, [u8; 4], [u8; 4]) = (
        f[23],
        f[26..30].try_into().unwrap(),
        f[30..34].try_into().unwrap(),
    );
    let l4 = 14 + ihl;
    let needs = match proto {
        6 => 14,
        17 => 4,
        1 => 8,
        _ => 0,
    };
    if !later_fragment && f.len() < l4 + needs {
        return Drop(ParseError);
    }
    if later_fragment && !first.contains_key(&(src, dst, [f[18], f[19]], proto)) {
        return Drop(FragmentWithoutFirst);
    }
    if f[6..12] != eni_mac("eni-1") {
        return Drop(SpoofedMac);
    }
    if f[0..6] != ROUTER_MAC {
        return Drop(NotForRouter);
    }
    if src != [10, 0, 1, 10] {
        return Drop(SpoofedIp);
    }
    let martian = |a: [u8; 4]| a[0] == 0 || a[0] == 127 || a[0] >= 224;
    if martian(src) || martian(dst) {
        return Drop(Martian);
    }
    // vsw-1's system table: each vSwitch of vpc-a local.
    if !matches!(dst, [10, 0, 1 | 2, _]) {
        return Drop(NoRoute);
    }
    let mac = match dst {
        [10, 0, 1, 10] => eni_mac("eni-1"),
        [10, 0, 2, 10] => eni_mac("eni-2"),
        [10, 0, 2, 20] => eni_mac("eni-fw"),
        _ => return Drop(NoNeighbour),
    };
    if f[22] <= 1 {
        return TimeExceeded;
    }
    Forward(mac)
}

/// Frames from eni-1 a fuzzer starts from: each path of [`reference`].
fn fuzz_bases() -> Vec<Vec<u8>> {
    let m1 = eni_mac("eni-1");
    let from = ip("10.0.1.10");
    let mut bases = Vec::new();
    for dst in [
        "10.0.2.10",
        "10.0.2.20",
        "10.0.1.10",
        "10.0.1.77",
        "10.9.0.1",
        "8.8.8.8",
    ] {
        bases.push(l4_frame(ROUTER_MAC, m1, from, ip(dst), 17, 40_000, 53, 0));
    }
    bases.push(l4_frame(
        ROUTER_MAC,
        m1,
        from,
        ip("10.0.2.10"),
        6,
        40_001,
        22,
        0x02,
    ));
    bases.push(l4_frame(
        ROUTER_MAC,
        m1,
        from,
        ip("10.0.2.20"),
        6,
        40_002,
        443,
        0x10,
    ));
    bases.push(icmp_echo(ROUTER_MAC, m1, from, ip("10.0.2.10"), 64));
    bases
}

/// One to three random changes to the header fields the pipeline reads,
/// the checksum and total length put right most of the time so that the
/// later stages are reached too.
fn mutate(base: &[u8], rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut f = base.to_vec();
    for _ in 0..rng.usize(1..=3) {
        match rng.u8(0..11) {
            0 => {
                let i = rng.usize(0..f.len().min(64));
                f[i] = rng.u8(..);
            }
            1 => f.truncate(rng.usize(34..=f.len())),
            2 => f.extend((0..rng.usize(1..40)).map(|_| rng.u8(..))),
            3 => f[22] = [0, 1, 2, 64][rng.usize(0..4)],
            4 => {
                let frags: u16 = [
                    0,
                    0x2000,
                    0x2000 | rng.u16(1..0x1fff),
                    rng.u16(1..0x1fff),
                    0x4000,
                ][rng.usize(0..5)];
                f[20..22].copy_from_slice(&frags.to_be_bytes());
                f[18..20].copy_from_slice(&[0, rng.u8(1..4)]);
            }
            5 => f[14] = [0x45, 0x46, 0x4f, 0x44, 0x55, 0x65, rng.u8(..)][rng.usize(0..7)],
            6 => {
                let near = (f.len() - 14) as i32 + rng.i32(-8..=8);
                let total = if rng.bool() {
                    near.clamp(0, 0xffff) as u16
                } else {
                    rng.u16(..)
                };
                f[16..18].copy_from_slice(&total.to_be_bytes());
            }
            7 => {
                let t: u16 = [0x86dd, 0x8100, 0x88cc, rng.u16(0x0900..0x8000)][rng.usize(0..4)];
                f[12..14].copy_from_slice(&t.to_be_bytes());
            }
            8 => {
                let a: [u8; 4] = [
                    [10, 0, 1, 11],
                    [0, 0, 0, 1],
                    [127, 0, 0, 1],
                    [224, 0, 0, 1],
                    [255, 255, 255, 255],
                    [10, 0, 1, 10],
                ][rng.usize(0..6)];
                let at = if rng.bool() { 26 } else { 30 };
                f[at..at + 4].copy_from_slice(&a);
            }
            9 => {
                if rng.bool() {
                    f[6..12].copy_from_slice(&eni_mac("eni-2"));
                } else {
                    f[0..6].copy_from_slice(&[0xff; 6]);
                }
            }
            _ => f[23] = [6, 17, 1, 47, rng.u8(..)][rng.usize(0..5)],
        }
    }
    if rng.u8(0..10) < 7 {
        if rng.bool() {
            let total = (f.len() - 14).min(0xffff) as u16;
            f[16..18].copy_from_slice(&total.to_be_bytes());
        }
        let ihl = usize::from(f[14] & 0x0f) * 4;
        if ihl >= 20 && 14 + ihl <= f.len() {
            fix_ipv4_checksum(&mut f);
        }
    }
    f
}

/// Fuzzing the packet parser and the pipeline behind it (issue 18):
/// mutated frames through both programs (BPF_PROG_TEST_RUN) against the
/// user-space [`reference`]: the same verdict, the same counted drop
/// reason, the same rewrite. `VPC_FUZZ_CASES` frames (default 3,000; `cargo
/// xtask fuzz` runs many more), seed `VPC_FUZZ_SEED` (default random,
/// printed so a failure can be replayed).
#[test]
fn fuzz_frames_get_the_reference_verdict_drop_reason_and_rewrite() {
    stay_on_this_cpu();
    let cases: usize = std::env::var("VPC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let seed: u64 = std::env::var("VPC_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("fuzz: {cases} frames, VPC_FUZZ_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let bases = fuzz_bases();
    let mut tally: std::collections::BTreeMap<String, usize> = Default::default();
    let mut done = 0;
    let mut refused_by_the_kernel = 0;
    while done < cases {
        // A fresh router every 2,000 frames: the table of first fragments
        // (least recently used, 8,192) never evicts what the reference
        // still remembers.
        let mut xdp = Fixture::new(MODEL);
        let mut tc = xdp.twin(Mode::Tc);
        let mut first = FirstFragments::new();
        for _ in 0..2_000.min(cases - done) {
            done += 1;
            let f = mutate(&bases[rng.usize(0..bases.len())], &mut rng);
            let expected = reference(&f, &first);
            *tally
                .entry(
                    format!("{expected:?}")
                        .split('(')
                        .next()
                        .unwrap()
                        .to_string()
                        + &match &expected {
                            Expected::Drop(r) => format!(" {}", r.name()),
                            _ => String::new(),
                        },
                )
                .or_default() += 1;
            for fx in [&mut xdp, &mut tc] {
                let what = format!("seed {seed}, frame {done} ({}): {f:02x?}", fx.mode);
                let drops_before = match &expected {
                    Expected::Drop(r) => Some(fx.dropped(*r)),
                    Expected::TimeExceeded => Some(fx.dropped(DropReason::TtlExceeded)),
                    _ => None,
                };
                let Some((verdict, out)) = fx.try_run("eni-1", &f) else {
                    // The kernel never hands tc such a frame.
                    refused_by_the_kernel += 1;
                    continue;
                };
                match &expected {
                    Expected::Drop(r) => {
                        assert!(
                            same_verdict(verdict, XDP_DROP),
                            "{what}: verdict {verdict}, expected a drop ({})",
                            r.name()
                        );
                        // (The fixture's ports are real veths: their own
                        // IPv6 chatter may be counted meanwhile.)
                        let moved = fx.dropped(*r) - drops_before.unwrap();
                        assert!(
                            moved == 1 || (*r == DropReason::Ipv6 && moved >= 1),
                            "{what}: drop counted as {} ({moved})",
                            r.name()
                        );
                    }
                    Expected::Forward(mac) => {
                        assert!(
                            same_verdict(verdict, XDP_REDIRECT),
                            "{what}: verdict {verdict}, expected a redirect"
                        );
                        let mut want = f.clone();
                        want[0..6].copy_from_slice(mac);
                        want[6..12].copy_from_slice(&ROUTER_MAC);
                        want[22] -= 1;
                        assert_eq!(out.len(), want.len(), "{what}: length out");
                        // The checksum: valid if it was (header without
                        // options, checked on the way in); else anything.
                        if f[14] == 0x45 {
                            assert_eq!(inet_csum(&out[14..34]), 0, "{what}: header checksum out");
                        }
                        want[24..26].copy_from_slice(&out[24..26]);
                        assert_eq!(out, want, "{what}: frame out");
                    }
                    Expected::Arp => {
                        assert!(
                            same_verdict(verdict, XDP_DROP) || same_verdict(verdict, XDP_TX),
                            "{what}: verdict {verdict} for ARP"
                        );
                    }
                    Expected::TimeExceeded => {
                        if same_verdict(verdict, XDP_TX) {
                            assert_eq!(out[26..30], [10, 0, 1, 253], "{what}: from the gateway");
                            assert_eq!(out[30..34], f[26..30], "{what}: back to the sender");
                            assert_eq!((out[23], out[34]), (1, 11), "{what}: ICMP time exceeded");
                            assert_eq!(inet_csum(&out[14..34]), 0, "{what}: its header checksum");
                        } else {
                            assert!(
                                same_verdict(verdict, XDP_DROP),
                                "{what}: verdict {verdict}, expected time exceeded"
                            );
                            assert_eq!(
                                fx.dropped(DropReason::TtlExceeded),
                                drops_before.unwrap() + 1,
                                "{what}: rate-limited, counted"
                            );
                        }
                    }
                }
            }
            if matches!(expected, Expected::Forward(_))
                && u16::from_be_bytes([f[20], f[21]]) & 0x3fff == 0x2000
            {
                first.insert(
                    (
                        f[26..30].try_into().unwrap(),
                        f[30..34].try_into().unwrap(),
                        [f[18], f[19]],
                        f[23],
                    ),
                    (),
                );
            }
        }
    }
    eprintln!(
        "fuzz: {done} frames ({refused_by_the_kernel} not test-run on tc: refused by the kernel), by expected outcome: {tally:?}"
    );
    assert!(
        tally.len() >= 12,
        "the mutations reach most outcomes: {tally:?}"
    );
}
