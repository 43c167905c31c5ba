//! Map keys, values and enums shared by the XDP datapath (`vpc-ebpf`) and the
//! control plane (`vpc-control`).
//!
//! Every type is `#[repr(C)]` with no implicit padding, so both sides agree on
//! the bytes. Addresses in keys are IPv4, 4 bytes: a map lookup costs more
//! the longer its key (the micro bench's "kernel operations": a hash lookup
//! with a 20-byte key takes ~1.6 times one with a 4- or 8-byte key), so IPv6
//! will get maps of its own beside these (as Cilium keeps its IPv4 and IPv6
//! maps apart) instead of widening every IPv4 key to an IPv4-mapped 16
//! bytes.
#![no_std]

/// Names of the maps in the eBPF object, as the control plane opens them.
pub mod map_names {
    /// `Array<Eni>` of `2 * MAX_PORTS`: two copies per router port, at
    /// `2 * ifindex` and `2 * ifindex + 1`; [`ENI_COPY`] says which is current.
    pub const ENI_BY_PORT: &str = "ENI_BY_PORT";
    /// `Array<u32>` indexed by router port ifindex: which copy (0 or 1) of
    /// its ENI in [`ENI_BY_PORT`] is current. An ENI changes by writing the
    /// other copy whole, then this one word: a packet sees the old ENI or
    /// the new one, never a mix.
    pub const ENI_COPY: &str = "ENI_COPY";
    /// `HashMap<EniAddressKey, Egress>`: {VPC, address} -> where to send.
    pub const ENI_BY_ADDRESS: &str = "ENI_BY_ADDRESS";
    /// `LpmTrie<RouteKey, NextHop>`: every route table in one trie.
    pub const ROUTES: &str = "ROUTES";
    /// `Array<u64>` (mmapable) of `slots << 23`: the direct stage of big
    /// route tables, one /24 block per entry (see [`super::direct`]).
    pub const ROUTES_DIRECT: &str = "ROUTES_DIRECT";
    /// `Array<NextHop>` of `slots * direct::MAX_HOPS`: the next hops the
    /// blocks of each direct slot name, by hop id.
    pub const DIRECT_HOPS: &str = "DIRECT_HOPS";
    /// `DevMapHash`: egress ports, keyed by ifindex.
    pub const EGRESS_PORTS: &str = "EGRESS_PORTS";
    /// `PerCpuArray<PortCounters>` indexed by router port ifindex.
    pub const PORT_COUNTERS: &str = "PORT_COUNTERS";
    /// `PerCpuArray<u64>` indexed by [`super::Action`].
    pub const ACTIONS: &str = "ACTIONS";
    /// `PerCpuArray<u64>` indexed by [`super::DropReason`].
    pub const DROPS: &str = "DROPS";
    /// `LpmTrie<PolicyAddrKey, PolicyClass>`: {policy, remote prefix} -> address class.
    pub const POLICY_ADDRESSES: &str = "POLICY_ADDRESSES";
    /// `LpmTrie<PolicyPortKey, PolicyVerdict>`: {policy, class, protocol, port prefix} -> verdict.
    pub const POLICY_PORTS: &str = "POLICY_PORTS";
    /// `HashMap<CtKey, CtEntry>`: connection tracking (security groups are stateful).
    pub const CONNTRACK: &str = "CONNTRACK";
    /// `Array<Egress>` of one entry: the internet uplink port and its MACs.
    pub const UPLINK: &str = "UPLINK";
    /// `HashMap<[u8; 4], PublicAddress>`: public IPv4 address -> what holds it.
    pub const PUBLIC_ADDRESSES: &str = "PUBLIC_ADDRESSES";
    /// `HashMap<u32, NatGateway>`: numeric NAT gateway id -> its configuration.
    pub const NAT_GATEWAYS: &str = "NAT_GATEWAYS";
    /// `LpmTrie<SnatKey, SnatTarget>`: {NAT gateway, source prefix} -> SNAT address.
    pub const SNAT_ENTRIES: &str = "SNAT_ENTRIES";
    /// `HashMap<NatOutKey, NatOutValue>`: a private flow -> its public address and port.
    pub const NAT_OUT: &str = "NAT_OUT";
    /// `HashMap<NatInKey, NatInValue>`: a public address and port, per remote -> the private flow.
    pub const NAT_IN: &str = "NAT_IN";
    /// `PerCpuArray<FlowCacheEntry>` of [`super::flow_cache::SLOTS`]: each
    /// CPU's cache of forwarding decisions for established flows.
    pub const FLOW_CACHE: &str = "FLOW_CACHE";
    /// `Array<u32>` of one entry: the configuration generation, bumped by
    /// the control plane after every change; a cached decision of another
    /// generation is void.
    pub const CONFIG_GENERATION: &str = "CONFIG_GENERATION";
    /// All of the above, for pinning.
    pub const ALL: [&str; 21] = [
        ENI_BY_PORT,
        ENI_COPY,
        ENI_BY_ADDRESS,
        ROUTES,
        ROUTES_DIRECT,
        DIRECT_HOPS,
        EGRESS_PORTS,
        PORT_COUNTERS,
        ACTIONS,
        DROPS,
        POLICY_ADDRESSES,
        POLICY_PORTS,
        CONNTRACK,
        UPLINK,
        PUBLIC_ADDRESSES,
        NAT_GATEWAYS,
        SNAT_ENTRIES,
        NAT_OUT,
        NAT_IN,
        FLOW_CACHE,
        CONFIG_GENERATION,
    ];
}

/// Name of the router program (attached to every router port).
pub const ROUTER_PROGRAM: &str = "vpc_router";

/// Name of the program attached to the instance end of each ENI veth.
pub const INSTANCE_PROGRAM: &str = "vpc_instance_rx";

/// Capacity of the route trie (all route tables together).
pub const MAX_ROUTES: u32 = 1 << 20;

/// The direct stage in front of the route trie, for big route tables (the
/// DIR-24 idea of DPDK's LPM): a table given a slot has one `u32` per /24
/// block of the IPv4 space (two to an entry, see [`direct::entry`]), saying
/// what a destination in that block matches:
///
/// - [`direct::NONE`]: no route (none of /24 or shorter covers the block,
///   none longer is inside it);
/// - [`direct::TRIE`]: a route longer than /24 is inside the block: ask the
///   trie;
/// - else the next hop of the longest route of /24 or shorter covering the
///   block, as a hop id ([`direct::encode`]) into the slot's part of
///   `DIRECT_HOPS` (a route table has few distinct next hops).
///
/// One cache line per packet instead of a walk of ~20 trie nodes (each a
/// cache miss in a table of 1M routes). The trie keeps every route: the
/// direct stage only answers sooner. A hop id names one next hop value for
/// the life of the slot (never rewritten while a block may name it).
pub mod direct {
    /// Blocks per slot: one per /24.
    pub const BLOCKS: u32 = 1 << 24;
    /// Block value: no route for any address of the block.
    pub const NONE: u32 = 0;
    /// Block value: the block holds a route longer than /24: ask the trie.
    pub const TRIE: u32 = u32::MAX;
    /// Fewest routes for a table to get a slot (smaller tables: the trie).
    pub const MIN_ROUTES: usize = 1024;
    /// Distinct next hops a slot can name (`DIRECT_HOPS` entries per slot).
    pub const MAX_HOPS: u32 = 1 << 16;

    /// The block value naming hop id `id` (< MAX_HOPS).
    #[inline(always)]
    pub const fn encode(id: u32) -> u32 {
        id + 1
    }

    /// The `DIRECT_HOPS` index of a block value other than NONE/TRIE, in
    /// slot `slot`.
    #[inline(always)]
    pub const fn hop_index(slot: u32, v: u32) -> u32 {
        slot.wrapping_mul(MAX_HOPS).wrapping_add(v.wrapping_sub(1) & (MAX_HOPS - 1))
    }

    /// Entries of `ROUTES_DIRECT` per slot: a BPF array stores each value
    /// in 8 bytes, so an entry is a `u64` holding two blocks (the even one
    /// in its low half): 64 MiB per slot, 4 bytes a block.
    pub const ENTRIES: u32 = BLOCKS / 2;

    /// The `ROUTES_DIRECT` entry holding `dst`'s block in slot `slot`.
    #[inline(always)]
    pub const fn entry(slot: u32, dst: [u8; 4]) -> u32 {
        slot.wrapping_mul(ENTRIES) | (u32::from_be_bytes(dst) >> 9)
    }

    /// `dst`'s block in its entry (see [`entry`]).
    #[inline(always)]
    pub const fn block_of_entry(entry: u64, dst: [u8; 4]) -> u32 {
        (entry >> ((dst[2] as u32 & 1) * 32)) as u32
    }
}

/// Capacity of the port maps, which are arrays indexed by ifindex: a router
/// port's ifindex is below it (the control plane chooses each port's
/// ifindex when it creates the veth).
pub const MAX_PORTS: u32 = 4096;
/// Capacity of the {VPC, address} -> ENI map.
pub const MAX_ENI_ADDRESSES: u32 = 65536;

/// Bits of a [`RouteKey`] before the address: the route table id.
pub const ROUTE_KEY_TABLE_BITS: u32 = 32;
/// Prefix length of an LPM key for an IPv4 prefix of `len` bits.
#[inline(always)]
pub const fn route_key_prefix_len_v4(len: u32) -> u32 {
    ROUTE_KEY_TABLE_BITS + len
}

/// Data part of the LPM trie key (the trie adds the prefix length in front).
/// One trie holds every route table: the table id is matched in full, then
/// the destination prefix (RT-1).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    /// Numeric id of the route table (matched in full).
    pub route_table_id: u32,
    /// Destination address.
    pub addr: [u8; 4],
}

/// What a route entry sends to (RT-3).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NextHopKind {
    /// Deliver inside the VPC: look the destination up in `ENI_BY_ADDRESS`.
    Local = 1,
    /// Send to one ENI (an instance such as a firewall appliance): `egress`.
    Eni = 2,
    /// The VPC's IPv4 gateway: to the internet through the uplink, from
    /// the ENI's public IP or EIP (IGW-3).
    Ipv4Gateway = 3,
    /// An internet NAT gateway (`gateway_id`): source NAT through its SNAT
    /// entries, unless the ENI has a public IP or EIP of its own.
    NatGateway = 4,
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
    /// For [`NextHopKind::NatGateway`]: its numeric id; zero otherwise.
    pub gateway_id: u32,
}

/// Key of `ENI_BY_ADDRESS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EniAddressKey {
    /// Numeric id of the VPC: the same address in two VPCs is two ENIs (VPC-3).
    pub vpc_id: u32,
    /// The ENI's private address.
    pub addr: [u8; 4],
}

/// `Eni::flags`: drop frames whose source IP is not the ENI's (anti-spoofing).
/// Cleared for appliances that forward other hosts' traffic (route next hop).
pub const ENI_FLAG_SOURCE_DEST_CHECK: u32 = 1;
/// `Eni::flags`: the ENI is in security groups: `sg_ingress`/`sg_egress`
/// apply, and conntrack keeps their verdicts (SG-1). Without it, no filter.
pub const ENI_FLAG_SECURITY_GROUPS: u32 = 1 << 1;
/// `Eni::flags`: what the ingress security-group policy gives a packet no
/// rule matches is accept (else drop: the cloud's default inbound).
pub const ENI_FLAG_SG_INGRESS_DEFAULT_ACCEPT: u32 = 1 << 2;
/// `Eni::flags`: the egress security-group default is accept (the cloud's).
pub const ENI_FLAG_SG_EGRESS_DEFAULT_ACCEPT: u32 = 1 << 3;
/// `Eni::flags`: the vSwitch has a network ACL: `acl_ingress`/`acl_egress`
/// apply to traffic crossing its boundary (stateless, ACL-2).
pub const ENI_FLAG_NETWORK_ACL: u32 = 1 << 4;
/// `Eni::flags`: the ACL's inbound default is accept.
pub const ENI_FLAG_ACL_INGRESS_DEFAULT_ACCEPT: u32 = 1 << 5;
/// `Eni::flags`: the ACL's outbound default is accept.
pub const ENI_FLAG_ACL_EGRESS_DEFAULT_ACCEPT: u32 = 1 << 6;

/// `Eni::flags`: this port is the internet uplink (not an ENI): frames from
/// it go to public addresses.
pub const ENI_FLAG_UPLINK: u32 = 1 << 7;
/// `Eni::flags`: the VPC has no enabled IPv4 gateway and the ENI has a public
/// IP or EIP: a destination no route matches is the internet (IGW-3).
pub const ENI_FLAG_DIRECT_INTERNET: u32 = 1 << 8;
/// `Eni::flags`: set on every ENI (and the uplink) the control plane writes:
/// an entry of `ENI_BY_PORT` without it is an empty slot (no port).
pub const ENI_FLAG_PORT: u32 = 1 << 9;

/// Most {policy, remote prefix} entries (all policies together).
pub const MAX_POLICY_ADDRESSES: u32 = 1 << 20;
/// Most {policy, class, protocol, port prefix} entries.
pub const MAX_POLICY_PORTS: u32 = 1 << 21;
/// Most tracked connections.
pub const MAX_CONNECTIONS: u32 = 1 << 18;

/// The flow cache: per CPU, a direct-mapped table of the forwarding
/// decisions of established flows inside a VPC. A hit replaces the route
/// lookup, the next-hop lookup, the network ACLs and the connection
/// tracker's hash lookup (about two thirds of a forwarded packet's cost)
/// by one inlined array lookup. The decision is the slow path's, recorded:
/// it is void when the configuration generation moves (every change bumps
/// it, so a change applies to cached flows at once) and after
/// [`flow_cache::REFRESH_JIFFIES`], when the packet goes the slow path
/// again and refreshes its connection's timestamp. Packets that change a
/// connection's state (TCP SYN, FIN, RST), fragments and ICMP other than
/// echo are never served from it.
pub mod flow_cache {
    /// Entries per CPU (a power of two).
    pub const SLOTS: u32 = 1 << 14;
    /// Age (jiffies) after which a cached decision is checked again by the
    /// slow path: at most 1 s (HZ <= 1000 gives 100 ms; HZ = 100, 1 s),
    /// far below the shortest connection timeout (15 s).
    pub const REFRESH_JIFFIES: u64 = 100;

    /// The slot of a flow: a multiplicative hash of its key words.
    #[inline(always)]
    pub const fn slot(k: &super::FlowKey) -> u32 {
        let a = (k.src as u64 | (k.dst as u64) << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let b = (k.ports as u64 | ((k.ifindex ^ k.proto) as u64) << 32).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        ((a ^ b) >> 40) as u32 & (SLOTS - 1)
    }
}

/// Key of a [`FlowCacheEntry`]: what a forwarding decision depends on
/// besides the configuration (addresses as read from the packet, in
/// network order).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// Router port the packet came in on (ifindex, never 0).
    pub ifindex: u32,
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Source port then destination port, as in the packet (ICMP echo: the
    /// identifier twice).
    pub ports: u32,
    /// IP protocol.
    pub proto: u32,
}

/// Value of `FLOW_CACHE`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowCacheEntry {
    /// The flow (all zeros: an empty slot; no packet has ifindex 0).
    pub key: FlowKey,
    /// `CONFIG_GENERATION` when the decision was taken.
    pub generation: u32,
    /// bpf_jiffies64 when the slow path last took or confirmed it.
    pub checked: u64,
    /// Where the flow's packets go.
    pub egress: Egress,
    /// The frame's source MAC (the ENI's) and destination MAC (the
    /// router's) when the decision was taken: a hit skips the ingress
    /// port's ENI, so its anti-spoofing check is made against these.
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// Explicit padding (to 64 bytes).
    pub pad: u32,
}

/// Data part of a `POLICY_ADDRESSES` key: a policy id matched in full, then
/// the remote address prefix.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyAddrKey {
    /// Policy id (content-addressed; never 0).
    pub policy_id: u32,
    /// Remote address.
    pub addr: [u8; 4],
}

/// LPM prefix length of a [`PolicyAddrKey`] for an IPv4 prefix of `len` bits.
pub const fn policy_addr_prefix_len_v4(len: u32) -> u32 {
    32 + len
}

/// Value of `POLICY_ADDRESSES`: the class of remote addresses (the set of
/// rules whose source or destination contains them).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyClass {
    /// Class id within the policy (from 1).
    pub class: u32,
}

/// Data part of a `POLICY_PORTS` key: policy and class matched in full,
/// then the protocol, then the destination port prefix (big-endian).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyPortKey {
    /// Policy id.
    pub policy_id: u32,
    /// Address class from `POLICY_ADDRESSES`.
    pub class: u32,
    /// 6 tcp, 17 udp, 1 icmp, 0 any other protocol.
    pub proto: u8,
    /// Always 0 (matched in full).
    pub pad: u8,
    /// Destination port, big-endian (0 for icmp and other protocols).
    pub port: [u8; 2],
}

/// LPM prefix length of a [`PolicyPortKey`] for a port prefix of `len` bits.
pub const fn policy_port_prefix_len(len: u32) -> u32 {
    32 + 32 + 8 + 8 + len
}

/// A policy's verdict.
pub const VERDICT_ACCEPT: u32 = 1;
/// A policy's verdict.
pub const VERDICT_DROP: u32 = 2;

/// Value of `POLICY_PORTS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyVerdict {
    /// [`VERDICT_ACCEPT`] or [`VERDICT_DROP`].
    pub verdict: u32,
}

/// Key of `CONNTRACK`: a flow in its original direction, inside one VPC.
/// ICMP echo uses the identifier as both ports.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CtKey {
    /// Numeric id of the VPC.
    pub vpc_id: u32,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Source port, big-endian.
    pub sport: [u8; 2],
    /// Destination port, big-endian.
    pub dport: [u8; 2],
    /// IP protocol.
    pub proto: u8,
    /// Always 0.
    pub pad: [u8; 3],
}

/// `CtEntry::state`: TCP handshake seen from the initiator only.
pub const CT_STATE_NEW: u32 = 1;
/// `CtEntry::state`: the responder answered.
pub const CT_STATE_ESTABLISHED: u32 = 2;
/// `CtEntry::state`: FIN or RST seen.
pub const CT_STATE_CLOSING: u32 = 3;

/// Value of `CONNTRACK`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CtEntry {
    /// bpf_ktime_get_ns() of the last packet.
    pub last_seen_ns: u64,
    /// `CT_STATE_*`.
    pub state: u32,
    /// The initiator's egress policy id when the flow was allowed.
    pub egress_policy: u32,
    /// The responder's ingress policy id when the flow was allowed (a
    /// policy's default verdict is part of its content-addressed id).
    pub ingress_policy: u32,
    /// Always 0 (keeps the value 8-byte aligned without implicit padding).
    pub pad: u32,
}

/// Idle timeouts (ns) by state and protocol, as the cloud's ENI connection
/// tracking defaults: TCP established 910 s, closing 15 s, handshake 60 s,
/// UDP 60 s, ICMP 30 s.
pub mod ct_timeout {
    /// TCP established.
    pub const TCP_ESTABLISHED_NS: u64 = 910 * 1_000_000_000;
    /// TCP handshake.
    pub const TCP_NEW_NS: u64 = 60 * 1_000_000_000;
    /// TCP after FIN or RST.
    pub const TCP_CLOSING_NS: u64 = 15 * 1_000_000_000;
    /// UDP.
    pub const UDP_NS: u64 = 60 * 1_000_000_000;
    /// ICMP echo.
    pub const ICMP_NS: u64 = 30 * 1_000_000_000;
}

/// The idle timeout of a tracked connection of protocol `proto` in `state`.
#[inline(always)]
pub const fn ct_idle_timeout(proto: u8, state: u32) -> u64 {
    match (proto, state) {
        (6, CT_STATE_ESTABLISHED) => ct_timeout::TCP_ESTABLISHED_NS,
        (6, CT_STATE_CLOSING) => ct_timeout::TCP_CLOSING_NS,
        (6, _) => ct_timeout::TCP_NEW_NS,
        (17, _) => ct_timeout::UDP_NS,
        _ => ct_timeout::ICMP_NS,
    }
}

/// Value of `ENI_BY_PORT`: the ENI behind a router port, as ingress needs it
/// (all zeros: no port).
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
    /// Inbound security-group policy id (if `ENI_FLAG_SECURITY_GROUPS`).
    pub sg_ingress: u32,
    /// Outbound security-group policy id.
    pub sg_egress: u32,
    /// Inbound network ACL policy id of the vSwitch (if `ENI_FLAG_NETWORK_ACL`).
    pub acl_ingress: u32,
    /// Outbound network ACL policy id of the vSwitch.
    pub acl_egress: u32,
    /// The ENI's public IPv4 address (static public IP or EIP), or zeros.
    pub public_ip: [u8; 4],
    /// 1 + the direct-stage slot of the route table (see [`direct`]), or 0
    /// if it has none. Set by the datapath layer, not by compile.
    pub route_slot: u32,
}

/// `PublicAddress::kind`: the public IP or EIP of one ENI (1:1 NAT).
pub const PUBLIC_KIND_ENI: u32 = 1;
/// `PublicAddress::kind`: an SNAT address of a NAT gateway (port translation).
pub const PUBLIC_KIND_SNAT: u32 = 2;
/// `PublicAddress::flags`: the VPC's IPv4 gateway is enabled: new inbound
/// flows follow its gateway route table (IGW-4).
pub const PUBLIC_FLAG_IPV4_GATEWAY: u32 = 1;

/// Value of `PUBLIC_ADDRESSES` (keyed by the public IPv4 address: public
/// addresses and NAT are IPv4 only in the cloud).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PublicAddress {
    /// `PUBLIC_KIND_*`.
    pub kind: u32,
    /// `PUBLIC_FLAG_*`.
    pub flags: u32,
    /// Numeric id of the VPC.
    pub vpc_id: u32,
    /// Numeric id of the gateway route table bound to the VPC's IPv4
    /// gateway; 0 if none (then new inbound flows are dropped).
    pub gateway_route_table_id: u32,
    /// For [`PUBLIC_KIND_ENI`]: the ENI's private address.
    pub private_ip: [u8; 4],
}

/// `NatGateway::flags`: the VPC's IPv4 gateway is enabled: the NAT
/// gateway's vSwitch must route the destination to it.
pub const NAT_FLAG_VIA_IPV4_GATEWAY: u32 = 1;

/// Value of `NAT_GATEWAYS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NatGateway {
    /// `NAT_FLAG_*`.
    pub flags: u32,
    /// Route table of the NAT gateway's vSwitch.
    pub route_table_id: u32,
}

/// Data part of a `SNAT_ENTRIES` key: the NAT gateway matched in full, then
/// the source prefix (a vSwitch CIDR, an instance /32 or any CIDR).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnatKey {
    /// Numeric NAT gateway id.
    pub nat_gateway_id: u32,
    /// Private source address.
    pub addr: [u8; 4],
}

/// LPM prefix length of a [`SnatKey`] for a source prefix of `len` bits.
pub const fn snat_prefix_len(len: u32) -> u32 {
    32 + len
}

/// Value of `SNAT_ENTRIES`: the public address and the ports to translate to.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnatTarget {
    /// SnatIp.
    pub ip: [u8; 4],
    /// First public port handed out.
    pub port_min: u16,
    /// Last public port handed out.
    pub port_max: u16,
}

/// Key of `NAT_OUT`: a translated flow in its original (private) direction.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NatOutKey {
    /// Numeric id of the VPC.
    pub vpc_id: u32,
    /// Private source address.
    pub src: [u8; 4],
    /// Remote address.
    pub dst: [u8; 4],
    /// Private source port (ICMP echo: identifier), big-endian.
    pub sport: [u8; 2],
    /// Remote port (ICMP echo: identifier), big-endian.
    pub dport: [u8; 2],
    /// IP protocol.
    pub proto: u8,
    /// Always 0.
    pub pad: [u8; 3],
}

/// Value of `NAT_OUT`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NatOutValue {
    /// bpf_ktime_get_ns() of the last packet either way.
    pub last_seen_ns: u64,
    /// Public (SNAT) address.
    pub public_ip: [u8; 4],
    /// Public port (ICMP echo: identifier), big-endian.
    pub public_port: [u8; 2],
    /// Always 0.
    pub pad: [u8; 2],
}

/// Key of `NAT_IN`: what a reply from the internet carries.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NatInKey {
    /// Public (SNAT) address.
    pub public_ip: [u8; 4],
    /// Remote address.
    pub remote: [u8; 4],
    /// Public port (ICMP echo: identifier), big-endian.
    pub public_port: [u8; 2],
    /// Remote port (ICMP echo: the public identifier), big-endian.
    pub remote_port: [u8; 2],
    /// IP protocol.
    pub proto: u8,
    /// Always 0.
    pub pad: [u8; 3],
}

/// Value of `NAT_IN`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NatInValue {
    /// Numeric id of the VPC.
    pub vpc_id: u32,
    /// Private address.
    pub private_ip: [u8; 4],
    /// Private port (ICMP echo: identifier), big-endian.
    pub private_port: [u8; 2],
    /// Always 0.
    pub pad: [u8; 2],
}

/// Most port translations in flight (all NAT gateways together).
pub const MAX_NAT_MAPPINGS: u32 = 1 << 18;
/// Most public addresses.
pub const MAX_PUBLIC_ADDRESSES: u32 = 65536;
/// Most SNAT entries (all NAT gateways together).
pub const MAX_SNAT_ENTRIES: u32 = 65536;
/// Most NAT gateways.
pub const MAX_NAT_GATEWAYS: u32 = 4096;
/// Public ports a NAT gateway hands out by default.
pub const SNAT_PORT_MIN: u16 = 1024;
/// Last public port handed out by default.
pub const SNAT_PORT_MAX: u16 = 65535;

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
    /// Frames from the ENI forwarded on a decision of the flow cache (also
    /// counted as received and, on their egress port, sent).
    pub flow_cache_hits: u64,
}

/// What the datapath did with a frame that was not dropped.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Routed and redirected to an egress port.
    Forwarded = 0,
    /// ARP request for a vSwitch address answered with XDP_TX.
    ArpReplied = 1,
    /// Sent to the internet, source translated to a public address.
    ToInternet = 2,
    /// Received from the internet, destination translated to a private address.
    FromInternet = 3,
}

impl Action {
    /// Number of variants (size of the `ACTIONS` array).
    pub const COUNT: u32 = 4;
    /// Every variant, in index order.
    pub const ALL: [Action; 4] = [Action::Forwarded, Action::ArpReplied, Action::ToInternet, Action::FromInternet];

    /// Stable snake_case name (CLI, metrics).
    pub const fn name(self) -> &'static str {
        match self {
            Action::Forwarded => "forwarded",
            Action::ArpReplied => "arp_replied",
            Action::ToInternet => "to_internet",
            Action::FromInternet => "from_internet",
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
    /// Refused by the destination ENI's security groups (inbound).
    SgIngress = 13,
    /// Refused by the source ENI's security groups (outbound).
    SgEgress = 14,
    /// Refused by the destination vSwitch's network ACL (inbound).
    AclIngress = 15,
    /// Refused by the source vSwitch's network ACL (outbound).
    AclEgress = 16,
    /// A new flow found the connection table full.
    ConntrackFull = 17,
    /// From the internet to a public address nobody holds.
    UnknownPublicAddress = 18,
    /// New inbound internet flow with no route in the gateway route table
    /// (or none bound) while the IPv4 gateway is enabled (IGW-4).
    Ipv4GatewayNoRoute = 19,
    /// To the internet from an ENI without a public IP, EIP or SNAT entry.
    NoPublicAddress = 20,
    /// Every public port of the SNAT address is taken for that destination.
    NatPortsExhausted = 21,
    /// The port-translation table is full.
    NatTableFull = 22,
    /// From the internet to an SNAT address with no translation for it.
    NatNoMapping = 23,
}

impl DropReason {
    /// Number of variants (size of the `DROPS` array).
    pub const COUNT: u32 = 24;
    /// Every variant, in index order.
    pub const ALL: [DropReason; 24] = [
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
        DropReason::SgIngress,
        DropReason::SgEgress,
        DropReason::AclIngress,
        DropReason::AclEgress,
        DropReason::ConntrackFull,
        DropReason::UnknownPublicAddress,
        DropReason::Ipv4GatewayNoRoute,
        DropReason::NoPublicAddress,
        DropReason::NatPortsExhausted,
        DropReason::NatTableFull,
        DropReason::NatNoMapping,
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
            DropReason::SgIngress => "sg_ingress",
            DropReason::SgEgress => "sg_egress",
            DropReason::AclIngress => "acl_ingress",
            DropReason::AclEgress => "acl_egress",
            DropReason::ConntrackFull => "conntrack_full",
            DropReason::UnknownPublicAddress => "unknown_public_address",
            DropReason::Ipv4GatewayNoRoute => "ipv4_gateway_no_route",
            DropReason::NoPublicAddress => "no_public_address",
            DropReason::NatPortsExhausted => "nat_ports_exhausted",
            DropReason::NatTableFull => "nat_table_full",
            DropReason::NatNoMapping => "nat_no_mapping",
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
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PolicyAddrKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PolicyClass {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PolicyPortKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PolicyVerdict {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::CtKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::FlowKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::FlowCacheEntry {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::CtEntry {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PublicAddress {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NatGateway {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::SnatKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::SnatTarget {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NatOutKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NatOutValue {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NatInKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NatInValue {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn layouts_have_no_padding() {
        assert_eq!(size_of::<RouteKey>(), 4 + 4);
        assert_eq!(size_of::<Egress>(), 4 + 6 + 6);
        assert_eq!(size_of::<NextHop>(), 4 + 16 + 4);
        assert_eq!(size_of::<EniAddressKey>(), 4 + 4);
        assert_eq!(size_of::<Eni>(), 4 * 8 + 12 + 4 * 4 + 4 + 4);
        assert_eq!(size_of::<PublicAddress>(), 5 * 4);
        assert_eq!(size_of::<NatGateway>(), 2 * 4);
        assert_eq!(size_of::<SnatKey>(), 8);
        assert_eq!(size_of::<SnatTarget>(), 8);
        assert_eq!(size_of::<NatOutKey>(), 4 * 3 + 2 + 2 + 4);
        assert_eq!(size_of::<NatOutValue>(), 16);
        assert_eq!(size_of::<NatInKey>(), 16);
        assert_eq!(size_of::<NatInValue>(), 12);
        assert_eq!(size_of::<PortCounters>(), 6 * 8);
        assert_eq!(size_of::<PolicyAddrKey>(), 4 + 4);
        assert_eq!(size_of::<PolicyPortKey>(), 4 + 4 + 1 + 1 + 2);
        assert_eq!(size_of::<CtKey>(), 4 + 4 + 4 + 2 + 2 + 1 + 3);
        assert_eq!(size_of::<CtEntry>(), 8 + 4 * 4);
        assert_eq!(size_of::<FlowKey>(), 5 * 4);
        assert_eq!(size_of::<FlowCacheEntry>(), 20 + 4 + 8 + 16 + 6 + 6 + 4);
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
    fn direct_block_values_round_trip_and_never_collide_with_markers() {
        for id in [0, 1, direct::MAX_HOPS - 1] {
            let v = direct::encode(id);
            assert_ne!(v, direct::NONE);
            assert_ne!(v, direct::TRIE);
            assert_eq!(direct::hop_index(0, v), id);
            assert_eq!(direct::hop_index(2, v), 2 * direct::MAX_HOPS + id);
        }
        assert_eq!(direct::entry(0, [10, 1, 2, 3]), 0x0a0102 >> 1);
        assert_eq!(direct::entry(1, [10, 1, 3, 3]), (1 << 23) | (0x0a0103 >> 1));
        let entry = u64::from(direct::encode(7)) << 32 | u64::from(direct::encode(5));
        assert_eq!(direct::block_of_entry(entry, [10, 1, 2, 9]), direct::encode(5), "even block: low half");
        assert_eq!(direct::block_of_entry(entry, [10, 1, 3, 9]), direct::encode(7), "odd block: high half");
    }

    #[test]
    fn ipv4_route_prefix_covers_table_then_address() {
        assert_eq!(route_key_prefix_len_v4(24), 56);
        assert_eq!(policy_addr_prefix_len_v4(32), 64);
    }
}
