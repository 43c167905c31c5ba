//! Security groups and network ACLs compiled to policies: keys, classes, verdicts, capacities.
#[allow(unused_imports)]
use crate::*;

/// Most {policy, remote prefix} entries (all policies together).
pub const MAX_POLICY_ADDRESSES: u32 = 1 << 20;
/// Most {policy, class, protocol, port prefix} entries.
pub const MAX_POLICY_PORTS: u32 = 1 << 21;
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

/// The policy cache (`POLICY_CACHE`): per CPU, what the slow path last
/// found in a policy's two tables (`POLICY_ADDRESSES` then `POLICY_PORTS`,
/// two LPM lookups of 8-15 ns each plus their calls on the benches' host)
/// for a remote address, protocol key and port key, each valid under the
/// configuration generation it was found in (as the neighbour cache). The
/// source port is no part of the key: a new connection from a client to a
/// service port this CPU judged before is a hit, an inlined array read.
pub mod policy_cache {
    /// Entries per CPU (a power of two; direct-mapped): 96 KiB.
    pub const SLOTS: u32 = 1 << 12;

    /// The word holding a packet's protocol key and port key (see
    /// [`super::proto_key`], [`super::port_key`]).
    #[inline(always)]
    pub const fn proto_port(proto_key: u8, port_key: u16) -> u32 {
        (proto_key as u32) << 16 | port_key as u32
    }

    /// The slot of {policy, remote address, protocol and port} in a CPU's
    /// region (a multiplicative hash).
    #[inline(always)]
    pub const fn slot(policy_id: u32, addr: u32, proto_port: u32) -> u32 {
        let h = (addr as u64 | (policy_id as u64) << 32) ^ (proto_port as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as u32 & (SLOTS - 1)
    }
}

/// No rule of the policy matched (its default applies): a
/// [`PolicyCacheEntry::verdict`] besides [`VERDICT_ACCEPT`] and
/// [`VERDICT_DROP`].
pub const VERDICT_NO_MATCH: u32 = 0;

/// Value of `POLICY_CACHE`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PolicyCacheEntry {
    /// Policy id (0: an empty slot; ids are never 0).
    pub policy_id: u32,
    /// The remote address, as in the packet.
    pub addr: u32,
    /// [`policy_cache::proto_port`] of the packet.
    pub proto_port: u32,
    /// `CONFIG_GENERATION` when it was found.
    pub generation: u32,
    /// [`VERDICT_ACCEPT`], [`VERDICT_DROP`] or [`VERDICT_NO_MATCH`].
    pub verdict: u32,
    /// Explicit padding.
    pub pad: u32,
}

/// Protocol key of TCP.
pub const PROTO_TCP: u8 = 6;
/// Protocol key of UDP.
pub const PROTO_UDP: u8 = 17;
/// Protocol key of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// Protocol key of every other IP protocol (matched only by All rules).
pub const PROTO_OTHER: u8 = 0;

/// The protocol key a packet is looked up by, and rules are compiled to:
/// 6, 17 and 1 are kept, anything else becomes [`PROTO_OTHER`]. One
/// definition for the compiler (`vpc-control`) and the datapath (`vpc-ebpf`).
#[inline(always)]
pub const fn proto_key(proto: u8) -> u8 {
    match proto {
        PROTO_TCP | PROTO_UDP | PROTO_ICMP => proto,
        _ => PROTO_OTHER,
    }
}

/// The port a packet is looked up by: the port itself for TCP and UDP, 0
/// for ICMP and every other protocol (their rules carry no port).
#[inline(always)]
pub const fn port_key(proto: u8, port: u16) -> u16 {
    match proto_key(proto) {
        PROTO_TCP | PROTO_UDP => port,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::policy_cache::{proto_port, slot, SLOTS};

    /// Each part of the key moves the slot: clients of one service port,
    /// and the ports of one client, spread over most of a CPU's slots.
    #[test]
    fn policy_cache_slots_spread_clients_and_ports() {
        let spread = |f: &dyn Fn(u32) -> u32| {
            let mut used = [false; SLOTS as usize];
            for n in 0..SLOTS {
                used[f(n) as usize] = true;
            }
            used.iter().filter(|u| **u).count()
        };
        let clients = spread(&|n| slot(9, u32::from_ne_bytes([10, 0, (n >> 8) as u8, n as u8]), proto_port(6, 443)));
        let ports = spread(&|n| slot(9, u32::from_ne_bytes([10, 0, 1, 10]), proto_port(6, n as u16)));
        let policies = spread(&|n| slot(n + 1, u32::from_ne_bytes([10, 0, 1, 10]), proto_port(6, 443)));
        for (what, n) in [("clients", clients), ("ports", ports), ("policies", policies)] {
            assert!(n > SLOTS as usize / 2, "{what}: {n} slots used");
        }
    }
}
