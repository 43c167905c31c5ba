//! The maps and programs of the eBPF object, by name: declared once, opened by the loader, the writer and the reader.
#[allow(unused_imports)]
use crate::*;

/// Names of the maps in the eBPF object, as the control plane opens them.
pub mod map_names {
    /// `Array<Eni>` of `ENI_COPIES * MAX_PORTS`: [`crate::ENI_COPIES`]
    /// copies per router port, at `ENI_COPIES * ifindex + copy`;
    /// [`ENI_COPY`] says which is current.
    pub const ENI_BY_PORT: &str = "ENI_BY_PORT";
    /// `Array<u32>` indexed by router port ifindex: which copy (below
    /// `ENI_COPIES`) of its ENI in [`ENI_BY_PORT`] is current. An ENI
    /// changes by writing the next copy whole, then this one word: a packet
    /// sees the old ENI or the new one, never a mix.
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
    /// `Array<ConntrackQuota>` of one entry: the connections one ENI and
    /// one VPC may hold.
    pub const CONNTRACK_QUOTA: &str = "CONNTRACK_QUOTA";
    /// `Array<u64>` indexed by router port ifindex: the connections counted
    /// against the port's ENI (`CtEntry::quota_port`). The datapath adds
    /// the ones it creates; the control plane's sweep writes the count it
    /// found.
    pub const CONNTRACK_PER_PORT: &str = "CONNTRACK_PER_PORT";
    /// `HashMap<u32, u64>` of [`super::MAX_CONNTRACK_VPCS`]: numeric VPC id
    /// -> its connections, kept like [`CONNTRACK_PER_PORT`].
    pub const CONNTRACK_PER_VPC: &str = "CONNTRACK_PER_VPC";
    /// `LruHashMap<FragmentKey, FragmentFlow>` of
    /// [`super::MAX_FRAGMENTED_DATAGRAMS`]: the flow of each datagram whose
    /// first fragment the router forwarded, for its later fragments.
    pub const FRAGMENTS: &str = "FRAGMENTS";
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
    /// `Array<Egress>` of one entry: the services port (the cloud's services
    /// network) and its MACs (ifindex 0 while there is none).
    pub const SERVICES: &str = "SERVICES";
    /// `HashMap<u32, GatewayEndpointTarget>` of
    /// [`super::MAX_GATEWAY_ENDPOINTS`]: numeric gateway endpoint id -> its
    /// source address and VPC.
    pub const GATEWAY_ENDPOINTS: &str = "GATEWAY_ENDPOINTS";
    /// `Array<FlowCacheEntry>` of [`super::flow_cache::slots_for`] the CPU
    /// count, times the CPU count (the loader sets it): each CPU's cache of
    /// forwarding decisions for established flows, two ways per set, in
    /// its own region ([`super::flow_cache::region`]).
    pub const FLOW_CACHE: &str = "FLOW_CACHE";
    /// `PerCpuArray<u32>` indexed by router port ifindex: the slots of each
    /// CPU's flow cache holding that port's flows (at most
    /// [`super::flow_cache::per_port_slots`]).
    pub const FLOW_CACHE_PER_PORT: &str = "FLOW_CACHE_PER_PORT";
    /// `Array<u64>` of [`super::flow_cache::ADMISSION_WORDS`] times the CPU
    /// count (a region per CPU): each CPU's admission records, a byte per
    /// flow slot
    /// ([`super::flow_cache::admission`]): packets counted and whether the
    /// flow's decision may be looked up in the flow cache.
    pub const FLOW_CACHE_ADMISSION: &str = "FLOW_CACHE_ADMISSION";
    /// `Array<NeighbourEntry>` of [`super::neighbour_cache::SLOTS`] times
    /// the CPU count (a region per CPU, the loader sets it): the ENI each
    /// CPU's slow path last found by address, under a configuration
    /// generation.
    pub const NEIGHBOUR_CACHE: &str = "NEIGHBOUR_CACHE";
    /// `Array<RouteCacheEntry>` of [`super::route_cache::SLOTS`] times the
    /// CPU count (a region per CPU, the loader sets it): the routes each
    /// CPU's slow path last found, under a configuration generation.
    pub const ROUTE_CACHE: &str = "ROUTE_CACHE";
    /// `Array<PolicyCacheEntry>` of [`super::policy_cache::SLOTS`] times
    /// the CPU count (a region per CPU, the loader sets it): what each
    /// CPU's slow path last found in a policy's tables, under a
    /// configuration generation.
    pub const POLICY_CACHE: &str = "POLICY_CACHE";
    /// `Array<u32>` of one entry: the configuration generation, bumped by
    /// the control plane after every change; a cached decision of another
    /// generation is void.
    pub const CONFIG_GENERATION: &str = "CONFIG_GENERATION";
    /// `RingBuf` of [`super::MONITOR_RING_BYTES`]: drop and verdict events
    /// ([`super::MonitorEvent`]) while `vpc monitor` runs.
    pub const MONITOR: &str = "MONITOR";
    /// `Array<MonitorConfig>` of one entry: monitoring on or off, and the
    /// events each CPU may write per second.
    pub const MONITOR_CONFIG: &str = "MONITOR_CONFIG";
    /// `PerCpuArray<MonitorState>` of one entry: each CPU's budget window
    /// and its written, suppressed and lost events.
    pub const MONITOR_STATE: &str = "MONITOR_STATE";
    /// `HashMap<ListenerKey, Listener>` of [`super::MAX_LB_LISTENERS`]:
    /// the address of each running listener in each zone.
    pub const LB_LISTENERS: &str = "LB_LISTENERS";
    /// `Array<Backend>` of `MAX_LB_RINGS * LB_RING_SIZE`: each listener
    /// address's consistent-hash ring of backends.
    pub const LB_RINGS: &str = "LB_RINGS";
    /// `LruHashMap<CtKey, LbFlow>` of [`super::MAX_LB_FLOWS`]: the backend
    /// of each connection to a listener (client -> listener address).
    pub const LB_FLOWS: &str = "LB_FLOWS";
    /// `LruHashMap<CtKey, LbReply>` of [`super::MAX_LB_FLOWS`]: the
    /// listener address of each connection, keyed as its backend answers.
    pub const LB_REPLIES: &str = "LB_REPLIES";
    /// `PerCpuArray<LbPending>` of one entry: the load-balancing stage's
    /// decision for the packet in hand (datapath scratch, never written by
    /// the control plane).
    pub const LB_PENDING: &str = "LB_PENDING";
    /// `HashMap<EniAddressKey, EndpointEni>` of
    /// [`super::MAX_ENDPOINT_ENIS`]: each interface endpoint ENI, by its
    /// consumer VPC and address.
    pub const ENDPOINT_ENIS: &str = "ENDPOINT_ENIS";
    /// `LruHashMap<CtKey, PrivateLinkOut>` of
    /// [`super::MAX_PRIVATELINK_FLOWS`]: each connection through an
    /// endpoint, as the consumer opened it.
    pub const PRIVATELINK_OUT: &str = "PRIVATELINK_OUT";
    /// `LruHashMap<PrivateLinkInKey, PrivateLinkIn>` of
    /// [`super::MAX_PRIVATELINK_FLOWS`]: the same connections, by their
    /// address and port at the load balancer.
    pub const PRIVATELINK_IN: &str = "PRIVATELINK_IN";
    /// All of the above, for pinning.
    pub const ALL: [&str; 43] = [
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
        CONNTRACK_QUOTA,
        CONNTRACK_PER_PORT,
        CONNTRACK_PER_VPC,
        FRAGMENTS,
        UPLINK,
        PUBLIC_ADDRESSES,
        NAT_GATEWAYS,
        SNAT_ENTRIES,
        NAT_OUT,
        NAT_IN,
        SERVICES,
        GATEWAY_ENDPOINTS,
        FLOW_CACHE,
        FLOW_CACHE_PER_PORT,
        FLOW_CACHE_ADMISSION,
        NEIGHBOUR_CACHE,
        ROUTE_CACHE,
        POLICY_CACHE,
        CONFIG_GENERATION,
        MONITOR,
        MONITOR_CONFIG,
        MONITOR_STATE,
        LB_LISTENERS,
        LB_RINGS,
        LB_FLOWS,
        LB_REPLIES,
        LB_PENDING,
        ENDPOINT_ENIS,
        PRIVATELINK_OUT,
        PRIVATELINK_IN,
    ];

    /// The per-CPU lookup caches: nothing in them outlives a configuration
    /// generation, so a pinned one of another layout (an upgrade) is
    /// replaced by an empty one, never reused or refused.
    pub const LOOKUP_CACHES: [&str; 3] = [NEIGHBOUR_CACHE, ROUTE_CACHE, POLICY_CACHE];
}

/// Name of the router program in XDP mode (attached to every router port).
pub const ROUTER_PROGRAM: &str = "vpc_router";

/// Name of the router program in tc mode (attached to the tcx ingress of
/// every router port): the same pipeline over socket buffers, which keep
/// their segmentation offload (GSO) and checksum metadata.
pub const ROUTER_TC_PROGRAM: &str = "vpc_router_tc";

/// Name of the program attached to the instance end of each ENI veth.
pub const INSTANCE_PROGRAM: &str = "vpc_instance_rx";
