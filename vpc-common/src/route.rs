//! Route tables: the trie key, next hops, the direct /24 stage, port capacities.
#[allow(unused_imports)]
use crate::*;

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
        slot.wrapping_mul(MAX_HOPS)
            .wrapping_add(v.wrapping_sub(1) & (MAX_HOPS - 1))
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
    /// A gateway endpoint (`gateway_id`: its numeric id): to a cloud service
    /// in the services network, the source translated to the endpoint's
    /// address so the service knows the VPC and the endpoint (GWE-1, GWE-2).
    GatewayEndpoint = 5,
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

crate::header_macs!(Egress, dst_mac, src_mac);

/// Value of a route entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NextHop {
    /// A [`NextHopKind`] as u32.
    pub kind: u32,
    /// For [`NextHopKind::Eni`]: the ENI to send to; zero otherwise.
    pub egress: Egress,
    /// For [`NextHopKind::NatGateway`]: its numeric id; zero otherwise.
    pub gateway_id: u32,
}

/// The slot of the pair {`hi`, `lo`} in a CPU's region of a direct-mapped
/// cache of `slots` entries (a power of two): a multiplicative hash, the
/// neighbour and route caches' one definition.
#[inline(always)]
pub const fn pair_slot(hi: u32, lo: u32, slots: u32) -> u32 {
    let h = (lo as u64 | (hi as u64) << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 40) as u32 & (slots - 1)
}

/// The neighbour cache (`NEIGHBOUR_CACHE`): per CPU, the ENI the slow
/// path last found by address ({VPC, address} -> egress, a next hop local:
/// `ENI_BY_ADDRESS`, a hash lookup of ~25 ns on the benches' host), with a
/// copy of that ENI as its port holds it (`ENI_BY_PORT`: the policy and
/// conntrack stages judge with it), each valid under the configuration
/// generation it was found in (the control plane bumps it after every
/// change, ENIs included, as for the flow cache). A hit is an inlined
/// array read, the destination ENI's two array reads saved with it.
pub mod neighbour_cache {
    /// Entries per CPU (a power of two; direct-mapped): 416 KiB.
    pub const SLOTS: u32 = 1 << 12;

    /// The slot of {VPC, address} in a CPU's region (a multiplicative
    /// hash).
    #[inline(always)]
    pub const fn slot(vpc_id: u32, addr: u32) -> u32 {
        super::pair_slot(vpc_id, addr, SLOTS)
    }
}

/// Value of `NEIGHBOUR_CACHE`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NeighbourEntry {
    /// Numeric VPC id (0: an empty slot).
    pub vpc_id: u32,
    /// The address, as in the packet.
    pub addr: u32,
    /// `CONFIG_GENERATION` when it was found.
    pub generation: u32,
    /// Explicit padding.
    pub pad: u32,
    /// Where frames to it go.
    pub egress: Egress,
    /// The ENI behind `egress`'s port when it was found.
    pub eni: Eni,
}

/// The route cache (`ROUTE_CACHE`): per CPU, the routes the slow path last
/// found (`ROUTES`, an LPM lookup of 10-15 ns plus its call on the benches'
/// host), by route table and destination address, each valid under the
/// configuration generation it was found in (as the neighbour cache). The
/// source port is no part of the key: the first packet of a new flow to a
/// destination this CPU routed before is a hit, an inlined array read. No
/// route is not cached (a drop).
pub mod route_cache {
    /// Entries per CPU (a power of two; direct-mapped): 160 KiB.
    pub const SLOTS: u32 = 1 << 12;

    /// The slot of {route table, address} in a CPU's region (a
    /// multiplicative hash).
    #[inline(always)]
    pub const fn slot(route_table_id: u32, addr: u32) -> u32 {
        super::pair_slot(route_table_id, addr, SLOTS)
    }
}

/// Value of `ROUTE_CACHE`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RouteCacheEntry {
    /// Numeric route table id (0: an empty slot; the health checks' table,
    /// id 0, is never cached).
    pub route_table_id: u32,
    /// The destination address, as in the packet.
    pub addr: u32,
    /// `CONFIG_GENERATION` when it was found.
    pub generation: u32,
    /// Explicit padding.
    pub pad: u32,
    /// The route's next hop, as `ROUTES` holds it.
    pub hop: NextHop,
}

#[cfg(test)]
mod tests {
    use super::route_cache;

    /// A /20 of destinations in one table spreads over most of a CPU's
    /// slots (a direct-mapped cache: collisions only evict).
    #[test]
    fn route_cache_slots_spread_a_subnet() {
        let mut used = [false; route_cache::SLOTS as usize];
        for host in 0..route_cache::SLOTS {
            let addr = u32::from_ne_bytes([10, 0, (host >> 8) as u8, host as u8]);
            used[route_cache::slot(7, addr) as usize] = true;
        }
        let n = used.iter().filter(|u| **u).count();
        assert!(n > route_cache::SLOTS as usize / 2, "{n} slots used");
    }
}
