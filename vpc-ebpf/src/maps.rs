//! The maps the control plane fills (see `vpc_common::map_names`).
use aya_ebpf::{
    macros::map,
    maps::{DevMapHash, HashMap, LpmTrie, PerCpuArray, PerCpuHashMap},
};
use vpc_common::{
    Action, CtEntry, CtKey, DropReason, Egress, Eni, EniAddressKey, NextHop, PolicyAddrKey,
    PolicyClass, PolicyPortKey, PolicyVerdict, PortCounters, RouteKey, MAX_CONNECTIONS,
    MAX_ENI_ADDRESSES, MAX_POLICY_ADDRESSES, MAX_POLICY_PORTS, MAX_PORTS, MAX_ROUTES,
};

/// Router port ifindex -> the ENI behind it.
#[map]
pub static ENI_BY_PORT: HashMap<u32, Eni> = HashMap::with_max_entries(MAX_PORTS, 0);

/// {VPC, address} -> egress port and MACs of the ENI holding that address.
#[map]
pub static ENI_BY_ADDRESS: HashMap<EniAddressKey, Egress> =
    HashMap::with_max_entries(MAX_ENI_ADDRESSES, 0);

/// Every route table in one trie, keyed {table id, destination prefix}.
#[map]
pub static ROUTES: LpmTrie<RouteKey, NextHop> = LpmTrie::with_max_entries(MAX_ROUTES, 0);

/// Egress ports for bpf_redirect_map, keyed by ifindex.
#[map]
pub static EGRESS_PORTS: DevMapHash = DevMapHash::with_max_entries(MAX_PORTS, 0);

/// Per-port counters; entries are created by the control plane.
#[map]
pub static PORT_COUNTERS: PerCpuHashMap<u32, PortCounters> =
    PerCpuHashMap::with_max_entries(MAX_PORTS, 0);

/// Frames handled, by [`Action`].
#[map]
pub static ACTIONS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Action::COUNT, 0);

/// Frames dropped, by [`DropReason`].
#[map]
pub static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(DropReason::COUNT, 0);

/// Every security-group and ACL policy: {policy, remote prefix} -> class.
#[map]
pub static POLICY_ADDRESSES: LpmTrie<PolicyAddrKey, PolicyClass> =
    LpmTrie::with_max_entries(MAX_POLICY_ADDRESSES, 0);

/// {policy, class, protocol, port prefix} -> verdict (entries only where
/// the verdict is not the policy's default).
#[map]
pub static POLICY_PORTS: LpmTrie<PolicyPortKey, PolicyVerdict> =
    LpmTrie::with_max_entries(MAX_POLICY_PORTS, 0);

/// Tracked connections (SG-1). A plain hash, not LRU: a full table refuses
/// new flows (counted) instead of silently evicting live ones; the control
/// plane sweeps expired entries.
#[map]
pub static CONNTRACK: HashMap<CtKey, CtEntry> = HashMap::with_max_entries(MAX_CONNECTIONS, 0);
