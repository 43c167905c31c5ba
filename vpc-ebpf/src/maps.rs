//! The maps the control plane fills (see `vpc_common::map_names`).
use aya_ebpf::{
    bindings::BPF_F_MMAPABLE,
    macros::map,
    maps::{Array, DevMapHash, HashMap, LpmTrie, LruHashMap, PerCpuArray, RingBuf},
};
use vpc_common::{
    Action, ConntrackQuota, CtEntry, CtKey, FragmentFlow, FragmentKey, MAX_FRAGMENTED_DATAGRAMS, FlowCacheEntry, DropReason, Egress, Eni, EniAddressKey, NatGateway, NatInKey, NatInValue,
    NatOutKey, NatOutValue, NextHop, GatewayEndpointTarget, MAX_GATEWAY_ENDPOINTS, PolicyAddrKey, PolicyClass, PolicyPortKey, PolicyVerdict, PortCounters,
    PublicAddress, RouteKey, SnatKey, SnatTarget, MAX_CONNECTIONS, MAX_CONNTRACK_VPCS, MAX_ENI_ADDRESSES, MAX_NAT_GATEWAYS,
    MAX_NAT_MAPPINGS, MAX_POLICY_ADDRESSES, MAX_POLICY_PORTS, MAX_PORTS, MAX_PUBLIC_ADDRESSES, MAX_ROUTES,
    MAX_SNAT_ENTRIES, ENI_COPIES, ENI_FLAG_PORT, flow_cache, MonitorConfig, MonitorState, MONITOR_RING_BYTES,
    Backend, LbFlow, LbPending, LbReply, Listener, ListenerKey, LB_RING_SIZE, MAX_LB_FLOWS, MAX_LB_LISTENERS, MAX_LB_RINGS,
    NeighbourEntry, neighbour_cache, PolicyCacheEntry, policy_cache, RouteCacheEntry, route_cache,
    EndpointEni, PrivateLinkIn, PrivateLinkInKey, PrivateLinkOut, MAX_ENDPOINT_ENIS, MAX_PRIVATELINK_FLOWS,
};

/// `ENI_COPIES` copies of the ENI behind each router port, at
/// `ENI_COPIES * ifindex + copy`
/// (arrays: a lookup is an inlined bounds check and an add, where a hash
/// lookup is a kernel call costing ~25 ns here; bench/results).
#[map]
pub static ENI_BY_PORT: Array<Eni> = Array::with_max_entries(ENI_COPIES * MAX_PORTS, 0);

/// Router port ifindex -> which copy of its ENI is current (below
/// `ENI_COPIES`): the control plane writes the next copy whole, then flips
/// this word.
#[map]
pub static ENI_COPY: Array<u32> = Array::with_max_entries(MAX_PORTS, 0);

/// The ENI behind router port `ifindex`, if the control plane put one there.
#[inline(always)]
pub fn eni_of_port(ifindex: u32) -> Option<&'static Eni> {
    let copy = *ENI_COPY.get(ifindex)? & (ENI_COPIES - 1);
    let eni = ENI_BY_PORT.get(ifindex.wrapping_mul(ENI_COPIES) | copy)?;
    (eni.flags & ENI_FLAG_PORT != 0).then_some(eni)
}

/// {VPC, address} -> egress port and MACs of the ENI holding that address.
#[map]
pub static ENI_BY_ADDRESS: HashMap<EniAddressKey, Egress> =
    HashMap::with_max_entries(MAX_ENI_ADDRESSES, 0);

/// Every CPU's neighbour cache (`vpc_common::neighbour_cache`), one region
/// of `neighbour_cache::SLOTS` entries per CPU; the loader sets its size by
/// the CPU count.
#[map]
pub static NEIGHBOUR_CACHE: Array<NeighbourEntry> = Array::with_max_entries(neighbour_cache::SLOTS, 0);

/// Every CPU's route cache (`vpc_common::route_cache`), one region of
/// `route_cache::SLOTS` entries per CPU; the loader sets its size by the
/// CPU count.
#[map]
pub static ROUTE_CACHE: Array<RouteCacheEntry> = Array::with_max_entries(route_cache::SLOTS, 0);

/// Every CPU's policy cache (`vpc_common::policy_cache`), one region of
/// `policy_cache::SLOTS` entries per CPU; the loader sets its size by the
/// CPU count.
#[map]
pub static POLICY_CACHE: Array<PolicyCacheEntry> = Array::with_max_entries(policy_cache::SLOTS, 0);

/// The CPU this program runs on (a helper the verifier inlines): its
/// region of the per-CPU caches kept in plain arrays (`FLOW_CACHE`,
/// `FLOW_CACHE_ADMISSION`, `NEIGHBOUR_CACHE`, `ROUTE_CACHE`,
/// `POLICY_CACHE`). Programs never nest on a CPU, so nothing else writes
/// the region meanwhile.
#[inline(always)]
pub fn cpu() -> u32 {
    // SAFETY: a helper with no arguments.
    unsafe { aya_ebpf::helpers::generated::bpf_get_smp_processor_id() }
}

/// Slot `slot` of this CPU's region of `slots` entries in `cache` (one of
/// the direct-mapped lookup caches: `NEIGHBOUR_CACHE`, `ROUTE_CACHE`,
/// `POLICY_CACHE`), unless the benchmarks turned them off.
#[inline(always)]
pub fn lookup_cache_slot<T>(cache: &Array<T>, slots: u32, slot: u32) -> Option<&'static mut T> {
    if lookup_caches_off() {
        return None;
    }
    let e = cache.get_ptr_mut(cpu().wrapping_mul(slots).wrapping_add(slot))?;
    // SAFETY: a map value in this CPU's region (`cpu`): nothing else
    // writes it meanwhile.
    Some(unsafe { &mut *e })
}

/// Set to 1 only by the benchmark that times the slow path with cold
/// lookup caches: a read-only global, so the verifier drops the caches
/// when it is set.
#[unsafe(no_mangle)]
static BENCH_NO_LOOKUP_CACHES: u8 = 0;

#[inline(always)]
fn lookup_caches_off() -> bool {
    // SAFETY: a loader-set constant.
    unsafe { core::ptr::read_volatile(&BENCH_NO_LOOKUP_CACHES) != 0 }
}

/// Every route table in one trie, keyed {table id, destination prefix}.
#[map]
pub static ROUTES: LpmTrie<RouteKey, NextHop> = LpmTrie::with_max_entries(MAX_ROUTES, 0);

/// The direct stage of big route tables (`vpc_common::direct`): one entry
/// here, no slot; the loader sets `slots * direct::ENTRIES` entries.
/// Mmapable: the control plane writes it through a shared mapping (16M
/// entries per slot: one syscall each would take seconds).
#[map]
pub static ROUTES_DIRECT: Array<u64> = Array::with_max_entries(1, BPF_F_MMAPABLE);

/// The next hops direct blocks name, `MAX_HOPS` per slot (one entry here,
/// no slot; the loader sets `slots * direct::MAX_HOPS`).
#[map]
pub static DIRECT_HOPS: Array<NextHop> = Array::with_max_entries(1, 0);

/// Egress ports for bpf_redirect_map, keyed by ifindex.
#[map]
pub static EGRESS_PORTS: DevMapHash = DevMapHash::with_max_entries(MAX_PORTS, 0);

/// Per-port counters, indexed by ifindex (zeroed by the control plane when
/// it creates or removes a port).
#[map]
pub static PORT_COUNTERS: PerCpuArray<PortCounters> = PerCpuArray::with_max_entries(MAX_PORTS, 0);

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

/// Index 0: the connections one ENI and one VPC may hold (written by the
/// control plane at load).
#[map]
pub static CONNTRACK_QUOTA: Array<ConntrackQuota> = Array::with_max_entries(1, 0);

/// Router port ifindex -> connections counted against its ENI.
#[map]
pub static CONNTRACK_PER_PORT: Array<u64> = Array::with_max_entries(MAX_PORTS, 0);

/// Numeric VPC id -> its connections.
#[map]
pub static CONNTRACK_PER_VPC: HashMap<u32, u64> = HashMap::with_max_entries(MAX_CONNTRACK_VPCS, 0);

/// The flows of datagrams whose first fragment was forwarded, for their
/// later fragments (`vpc_common::FragmentFlow`).
#[map]
pub static FRAGMENTS: LruHashMap<FragmentKey, FragmentFlow> = LruHashMap::with_max_entries(MAX_FRAGMENTED_DATAGRAMS, 0);

/// The internet uplink: its port and the MACs frames to the internet carry
/// (index 0; ifindex 0 while there is no uplink).
#[map]
pub static UPLINK: Array<Egress> = Array::with_max_entries(1, 0);

/// Public IPv4 address -> the ENI (1:1) or NAT gateway (SNAT) holding it.
#[map]
pub static PUBLIC_ADDRESSES: HashMap<[u8; 4], PublicAddress> =
    HashMap::with_max_entries(MAX_PUBLIC_ADDRESSES, 0);

/// Numeric NAT gateway id -> its configuration.
#[map]
pub static NAT_GATEWAYS: HashMap<u32, NatGateway> = HashMap::with_max_entries(MAX_NAT_GATEWAYS, 0);

/// {NAT gateway, private source prefix} -> SNAT address and port range.
#[map]
pub static SNAT_ENTRIES: LpmTrie<SnatKey, SnatTarget> = LpmTrie::with_max_entries(MAX_SNAT_ENTRIES, 0);

/// Port translations, private side -> public address and port. A plain
/// hash like the connection table: full is a counted drop, never an
/// eviction; the control plane sweeps idle entries.
#[map]
pub static NAT_OUT: HashMap<NatOutKey, NatOutValue> = HashMap::with_max_entries(MAX_NAT_MAPPINGS, 0);

/// Port translations, public side (per remote endpoint) -> private flow.
#[map]
pub static NAT_IN: HashMap<NatInKey, NatInValue> = HashMap::with_max_entries(MAX_NAT_MAPPINGS, 0);

/// The services port (the cloud's services network): its port and the
/// MACs frames to it carry (index 0; ifindex 0 while there is none).
#[map]
pub static SERVICES: Array<Egress> = Array::with_max_entries(1, 0);

/// Numeric gateway endpoint id -> its source address and VPC.
#[map]
pub static GATEWAY_ENDPOINTS: HashMap<u32, GatewayEndpointTarget> = HashMap::with_max_entries(MAX_GATEWAY_ENDPOINTS, 0);

/// Every CPU's flow cache (`vpc_common::flow_cache`), one region of
/// `FLOW_CACHE_SLOTS` entries per CPU (`flow_cache::region`), two slots per
/// set from `flow_cache::set`; the loader sets its size by the CPU count.
/// A plain array, not a per-CPU one: a per-CPU array's lookup first loads
/// the entry's pointer from a table as large as the array (1 MiB here);
/// one load instead of two, though the benches of 2026-12-05 showed no
/// difference either way.
#[map]
pub static FLOW_CACHE: Array<FlowCacheEntry> = Array::with_max_entries(flow_cache::MAX_SLOTS, 0);

/// Router port ifindex -> slots of this CPU's flow cache its flows hold.
#[map]
pub static FLOW_CACHE_PER_PORT: PerCpuArray<u32> = PerCpuArray::with_max_entries(MAX_PORTS, 0);

/// Every CPU's admission records of the flow cache, a byte per flow slot
/// (`vpc_common::flow_cache::admission`), one region of
/// `flow_cache::ADMISSION_WORDS` words per CPU (a plain array, as
/// `FLOW_CACHE`); the loader sets its size by the CPU count.
#[map]
pub static FLOW_CACHE_ADMISSION: Array<u64> = Array::with_max_entries(flow_cache::ADMISSION_WORDS, 0);

/// Index 0: the configuration generation (`vpc_common::map_names::CONFIG_GENERATION`).
#[map]
pub static CONFIG_GENERATION: Array<u32> = Array::with_max_entries(1, 0);

/// The configuration generation now. Read before the lookups whose answer
/// a cache keeps (the flow cache's, the lookup caches'): an answer found
/// in maps the control plane is changing is recorded under the generation
/// it bumps away from.
#[inline(always)]
pub fn config_generation() -> u32 {
    CONFIG_GENERATION.get(0).copied().unwrap_or(0)
}

/// Drop and verdict events for `vpc monitor` (`vpc_common::MonitorEvent`).
#[map]
pub static MONITOR: RingBuf = RingBuf::with_byte_size(MONITOR_RING_BYTES, 0);

/// Index 0: monitoring on or off and its budget (`vpc_common::MonitorConfig`).
#[map]
pub static MONITOR_CONFIG: Array<MonitorConfig> = Array::with_max_entries(1, 0);

/// Index 0, per CPU: the monitor's budget window and event counts.
#[map]
pub static MONITOR_STATE: PerCpuArray<MonitorState> = PerCpuArray::with_max_entries(1, 0);

/// {VPC, address, port, protocol} -> the running listener there
/// (`vpc_common::lb`).
#[map]
pub static LB_LISTENERS: HashMap<ListenerKey, Listener> = HashMap::with_max_entries(MAX_LB_LISTENERS, 0);

/// Each listener address's ring of backends, `LB_RING_SIZE` entries per
/// ring (an array: a lookup is a bounds check and an add).
#[map]
pub static LB_RINGS: Array<Backend> = Array::with_max_entries(MAX_LB_RINGS * LB_RING_SIZE, 0);

/// The backend of each connection through a load balancer (client ->
/// listener address).
#[map]
pub static LB_FLOWS: LruHashMap<CtKey, LbFlow> = LruHashMap::with_max_entries(MAX_LB_FLOWS, 0);

/// The listener address of each such connection, as its backend answers.
#[map]
pub static LB_REPLIES: LruHashMap<CtKey, LbReply> = LruHashMap::with_max_entries(MAX_LB_FLOWS, 0);

/// Index 0, per CPU: the load-balancing stage's decision for the packet in
/// hand (`vpc_common::LbPending`).
#[map]
pub static LB_PENDING: PerCpuArray<LbPending> = PerCpuArray::with_max_entries(1, 0);

/// {consumer VPC, address} -> the interface endpoint ENI there
/// (`vpc_common::privatelink`).
#[map]
pub static ENDPOINT_ENIS: HashMap<EniAddressKey, EndpointEni> = HashMap::with_max_entries(MAX_ENDPOINT_ENIS, 0);

/// Each connection through an endpoint (client -> endpoint ENI): its
/// address and port at the service's load balancer.
#[map]
pub static PRIVATELINK_OUT: LruHashMap<CtKey, PrivateLinkOut> = LruHashMap::with_max_entries(MAX_PRIVATELINK_FLOWS, 0);

/// The same connections by their address and port at the load balancer:
/// the consumer's end.
#[map]
pub static PRIVATELINK_IN: LruHashMap<PrivateLinkInKey, PrivateLinkIn> = LruHashMap::with_max_entries(MAX_PRIVATELINK_FLOWS, 0);
