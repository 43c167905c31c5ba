//! Map keys, values and enums shared by the XDP datapath (`vpc-ebpf`) and the
//! control plane (`vpc-control`).
//!
//! Every type is `#[repr(C)]` with no implicit padding, so both sides agree on
//! the bytes. Addresses in keys are 16 bytes wide: IPv4 is stored IPv4-mapped
//! (`::ffff:a.b.c.d`), so IPv6 entries can share the same maps later.
#![no_std]

/// Names of the maps in the eBPF object, as the control plane opens them.
pub mod map_names {
    /// `HashMap<u32 ifindex, Eni>`: router port -> the ENI behind it.
    pub const ENI_BY_PORT: &str = "ENI_BY_PORT";
    /// `HashMap<EniAddressKey, Egress>`: {VPC, address} -> where to send.
    pub const ENI_BY_ADDRESS: &str = "ENI_BY_ADDRESS";
    /// `LpmTrie<RouteKey, NextHop>`: every route table in one trie.
    pub const ROUTES: &str = "ROUTES";
    /// `DevMapHash`: egress ports, keyed by ifindex.
    pub const EGRESS_PORTS: &str = "EGRESS_PORTS";
    /// `PerCpuHashMap<u32 ifindex, PortCounters>`.
    pub const PORT_COUNTERS: &str = "PORT_COUNTERS";
    /// `PerCpuArray<u64>` indexed by [`super::Action`].
    pub const ACTIONS: &str = "ACTIONS";
    /// `PerCpuArray<u64>` indexed by [`super::DropReason`].
    pub const DROPS: &str = "DROPS";
    /// All of the above, for pinning.
    pub const ALL: [&str; 7] = [
        ENI_BY_PORT,
        ENI_BY_ADDRESS,
        ROUTES,
        EGRESS_PORTS,
        PORT_COUNTERS,
        ACTIONS,
        DROPS,
    ];
}

/// Name of the router program (attached to every router port).
pub const ROUTER_PROGRAM: &str = "vpc_router";

/// Name of the program attached to the instance end of each ENI veth.
pub const INSTANCE_PROGRAM: &str = "vpc_instance_rx";

/// Capacity of the route trie (all route tables together).
pub const MAX_ROUTES: u32 = 1 << 20;
/// Capacity of the port and ENI maps.
pub const MAX_PORTS: u32 = 4096;
/// Capacity of the {VPC, address} -> ENI map.
pub const MAX_ENI_ADDRESSES: u32 = 65536;

/// Bits of a [`RouteKey`] before the address: the route table id.
pub const ROUTE_KEY_TABLE_BITS: u32 = 32;
/// Bits of the IPv4-mapped prefix `::ffff:0:0/96` inside the address.
pub const IPV4_MAPPED_BITS: u32 = 96;

/// Returns `a.b.c.d` as the IPv4-mapped IPv6 address `::ffff:a.b.c.d`.
#[inline(always)]
pub const fn ipv4_mapped(a: [u8; 4]) -> [u8; 16] {
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a[0], a[1], a[2], a[3]]
}

/// Prefix length of an LPM key for an IPv4 prefix of `len` bits.
#[inline(always)]
pub const fn route_key_prefix_len_v4(len: u32) -> u32 {
    ROUTE_KEY_TABLE_BITS + IPV4_MAPPED_BITS + len
}

/// Data part of the LPM trie key (the trie adds the prefix length in front).
/// One trie holds every route table: the table id is matched in full, then
/// the destination prefix (RT-1).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    /// Numeric id of the route table (matched in full).
    pub route_table_id: u32,
    /// Destination address, IPv4-mapped for IPv4.
    pub addr: [u8; 16],
}

/// What a route entry sends to (RT-3).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NextHopKind {
    /// Deliver inside the VPC: look the destination up in `ENI_BY_ADDRESS`.
    Local = 1,
    /// Send to one ENI (an instance such as a firewall appliance): `egress`.
    Eni = 2,
}

/// Where to send a frame: the router port and the MACs to write.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Egress {
    /// ifindex of the router port (key of `EGRESS_PORTS`).
    pub ifindex: u32,
    /// Destination MAC: the ENI's.
    pub dst_mac: [u8; 6],
    /// Source MAC: the router port's (the vSwitch gateway MAC).
    pub src_mac: [u8; 6],
}

/// Value of a route entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NextHop {
    /// A [`NextHopKind`] as u32.
    pub kind: u32,
    /// For [`NextHopKind::Eni`]: the ENI to send to; zero otherwise.
    pub egress: Egress,
}

/// Key of `ENI_BY_ADDRESS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EniAddressKey {
    /// Numeric id of the VPC: the same address in two VPCs is two ENIs (VPC-3).
    pub vpc_id: u32,
    /// The ENI's private address, IPv4-mapped for IPv4.
    pub addr: [u8; 16],
}

/// `Eni::flags`: drop frames whose source IP is not the ENI's (anti-spoofing).
/// Cleared for appliances that forward other hosts' traffic (route next hop).
pub const ENI_FLAG_SOURCE_DEST_CHECK: u32 = 1;

/// Value of `ENI_BY_PORT`: the ENI behind a router port, as ingress needs it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Eni {
    /// Numeric id of the VPC.
    pub vpc_id: u32,
    /// Numeric id of the vSwitch.
    pub vswitch_id: u32,
    /// Numeric id of the route table associated with the vSwitch.
    pub route_table_id: u32,
    /// `ENI_FLAG_*` bits.
    pub flags: u32,
    /// The ENI's primary private IPv4 address.
    pub ip: [u8; 4],
    /// The vSwitch gateway address (answered by ARP in XDP).
    pub gateway_ip: [u8; 4],
    /// The vSwitch CIDR: network address.
    pub vswitch_addr: [u8; 4],
    /// The vSwitch CIDR: netmask.
    pub vswitch_mask: [u8; 4],
    /// The ENI's MAC (anti-spoofing).
    pub mac: [u8; 6],
    /// The router port's MAC (gateway MAC given in ARP replies).
    pub router_mac: [u8; 6],
}

/// Per-port counters (per CPU; summed by the control plane).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortCounters {
    /// Frames received from the ENI.
    pub rx_packets: u64,
    /// Bytes received from the ENI.
    pub rx_bytes: u64,
    /// Frames forwarded to the ENI.
    pub tx_packets: u64,
    /// Bytes forwarded to the ENI.
    pub tx_bytes: u64,
    /// Frames from the ENI that were dropped.
    pub dropped: u64,
}

/// What the datapath did with a frame that was not dropped.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Routed and redirected to an egress port.
    Forwarded = 0,
    /// ARP request for a vSwitch address answered with XDP_TX.
    ArpReplied = 1,
}

impl Action {
    /// Number of variants (size of the `ACTIONS` array).
    pub const COUNT: u32 = 2;
    /// Every variant, in index order.
    pub const ALL: [Action; 2] = [Action::Forwarded, Action::ArpReplied];

    /// Stable snake_case name (CLI, metrics).
    pub const fn name(self) -> &'static str {
        match self {
            Action::Forwarded => "forwarded",
            Action::ArpReplied => "arp_replied",
        }
    }
}

/// Why the datapath dropped a frame. Each has its own counter.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Truncated or malformed Ethernet, ARP or IPv4 header.
    ParseError = 0,
    /// IPv6 frame: not routed yet.
    Ipv6 = 1,
    /// Neither IPv4, ARP nor IPv6 (VLAN tags, LLDP...).
    UnsupportedEtherType = 2,
    /// Received on a port with no ENI configured.
    UnknownPort = 3,
    /// Unicast frame not addressed to the router's MAC.
    NotForRouter = 4,
    /// Source MAC is not the ENI's.
    SpoofedMac = 5,
    /// Source IP (or ARP sender) is not the ENI's.
    SpoofedIp = 6,
    /// ARP that the router does not answer (reply, or target outside the vSwitch).
    ArpIgnored = 7,
    /// Destination or source address that is never routed (multicast, broadcast, loopback...).
    Martian = 8,
    /// No route in the route table of the source vSwitch.
    NoRoute = 9,
    /// Route says local, but no ENI holds the destination address.
    NoNeighbour = 10,
    /// TTL would reach zero.
    TtlExceeded = 11,
    /// The egress port is gone from the device map.
    RedirectFailed = 12,
}

impl DropReason {
    /// Number of variants (size of the `DROPS` array).
    pub const COUNT: u32 = 13;
    /// Every variant, in index order.
    pub const ALL: [DropReason; 13] = [
        DropReason::ParseError,
        DropReason::Ipv6,
        DropReason::UnsupportedEtherType,
        DropReason::UnknownPort,
        DropReason::NotForRouter,
        DropReason::SpoofedMac,
        DropReason::SpoofedIp,
        DropReason::ArpIgnored,
        DropReason::Martian,
        DropReason::NoRoute,
        DropReason::NoNeighbour,
        DropReason::TtlExceeded,
        DropReason::RedirectFailed,
    ];

    /// Stable snake_case name (CLI, metrics).
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::ParseError => "parse_error",
            DropReason::Ipv6 => "ipv6",
            DropReason::UnsupportedEtherType => "unsupported_ether_type",
            DropReason::UnknownPort => "unknown_port",
            DropReason::NotForRouter => "not_for_router",
            DropReason::SpoofedMac => "spoofed_mac",
            DropReason::SpoofedIp => "spoofed_ip",
            DropReason::ArpIgnored => "arp_ignored",
            DropReason::Martian => "martian",
            DropReason::NoRoute => "no_route",
            DropReason::NoNeighbour => "no_neighbour",
            DropReason::TtlExceeded => "ttl_exceeded",
            DropReason::RedirectFailed => "redirect_failed",
        }
    }
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: every type below is #[repr(C)], made only of integers and byte
    // arrays, with no padding (sizes checked by the tests below), so any bit
    // pattern is a valid value.
    unsafe impl aya::Pod for super::RouteKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NextHop {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::Egress {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::EniAddressKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::Eni {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PortCounters {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn layouts_have_no_padding() {
        assert_eq!(size_of::<RouteKey>(), 4 + 16);
        assert_eq!(size_of::<Egress>(), 4 + 6 + 6);
        assert_eq!(size_of::<NextHop>(), 4 + 16);
        assert_eq!(size_of::<EniAddressKey>(), 4 + 16);
        assert_eq!(size_of::<Eni>(), 4 * 8 + 12);
        assert_eq!(size_of::<PortCounters>(), 5 * 8);
    }

    #[test]
    fn enum_tables_are_in_index_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
        }
        assert_eq!(DropReason::ALL.len() as u32, DropReason::COUNT);
    }

    #[test]
    fn ipv4_route_prefix_covers_table_and_mapping() {
        assert_eq!(route_key_prefix_len_v4(24), 152);
        assert_eq!(ipv4_mapped([10, 0, 1, 2])[10..], [0xff, 0xff, 10, 0, 1, 2]);
    }
}
