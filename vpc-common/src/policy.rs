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
