//! Pure compile: a validated [`Model`] plus the ifindex of each router port
//! -> the exact set of map entries the datapath needs. No kernel involved.
pub mod dns;
mod load_balancer;
pub mod policy;
mod privatelink;
mod routes;
pub mod topology;

pub use load_balancer::{
    ServerKey, Unavailable, health_check_vpcs, health_checked_groups, services_vpcs,
};
pub use routes::{Routes, diff_routes};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use ipnet::Ipv4Net;
use thiserror::Error;
use vpc_common::{
    ENI_FLAG_ACL_EGRESS_DEFAULT_ACCEPT, ENI_FLAG_ACL_INGRESS_DEFAULT_ACCEPT,
    ENI_FLAG_DIRECT_INTERNET, ENI_FLAG_NETWORK_ACL, ENI_FLAG_PORT, ENI_FLAG_SECURITY_GROUPS,
    ENI_FLAG_SERVICES, ENI_FLAG_SG_EGRESS_DEFAULT_ACCEPT, ENI_FLAG_SOURCE_DEST_CHECK,
    ENI_FLAG_UPLINK, Egress, Eni, EniAddressKey, GatewayEndpointTarget, NAT_FLAG_VIA_IPV4_GATEWAY,
    NatGateway as NatGatewayConfig, NextHop, NextHopKind, PUBLIC_FLAG_IPV4_GATEWAY,
    PUBLIC_KIND_ENI, PUBLIC_KIND_SNAT, PolicyAddrKey, PolicyClass, PolicyPortKey, PolicyVerdict,
    PublicAddress, RouteKey, SNAT_PORT_MAX, SNAT_PORT_MIN, SnatKey, SnatTarget, VERDICT_ACCEPT,
    VERDICT_DROP, policy_addr_prefix_len_v4, policy_port_prefix_len, route_key_prefix_len_v4,
    snat_prefix_len,
};

use crate::model::{self, Model, NextHopType};
use crate::policy::{Combine, Protocol, Verdict};
use crate::topology::ROUTER_MAC;

/// Why a model could not be compiled.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CompileError {
    /// Two ids hash to the same numeric id; rename one of them.
    #[error("The ids {a} and {b} map to the same numeric id {id}; rename one of them.")]
    IdCollision { a: String, b: String, id: u32 },
    /// An instance has no router port yet (apply creates ports before compiling).
    #[error("The instance {0} has no router port.")]
    MissingPort(String),
    /// An instance has no address (the model was not validated).
    #[error("The instance {0} has no private IP address.")]
    MissingAddress(String),
    /// Two different policies hash to the same id (change a rule).
    #[error("Two different rule sets map to the same policy id {0}; change a rule.")]
    PolicyIdCollision(u32),
    /// The change needs more entries than a map holds.
    #[error(
        "The change needs {entries} entries in {map}, which holds {max} (half of its size, so old and new rules fit side by side during a switch)."
    )]
    Capacity {
        map: &'static str,
        entries: usize,
        max: usize,
    },
    /// A router port's ifindex is beyond the port maps (arrays indexed by it).
    #[error(
        "The router port of {eni} has ifindex {ifindex}, beyond the port maps ({max} entries)."
    )]
    PortIndex { eni: String, ifindex: u32, max: u32 },
}

impl CompileError {
    /// The cloud-style error code.
    pub fn code(&self) -> &'static str {
        match self {
            CompileError::Capacity { .. } | CompileError::PortIndex { .. } => {
                "QuotaExceeded.MapCapacity"
            }
            _ => "InvalidParameter",
        }
    }
}

/// Key of the route trie as the control plane handles it: prefix length
/// first (bits of table id + address), then the key data.
pub type RouteTrieKey = (u32, RouteKey);

/// Every entry of every map, as the datapath must see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapEntries {
    /// Router port ifindex -> ENI (its keys are also the egress ports and the
    /// port counters).
    pub eni_by_port: BTreeMap<u32, Eni>,
    /// {VPC, address} -> egress.
    pub eni_by_address: BTreeMap<EniAddressKey, Egress>,
    /// {prefix length, {table, address}} -> next hop, kept per table.
    pub routes: Routes,
    /// The entries of POLICY_ADDRESSES and POLICY_PORTS, kept per policy.
    pub policies: PolicyEntries,
    /// The uplink port and the MACs of frames to the internet.
    pub uplink: Option<Egress>,
    /// Public address -> what holds it.
    pub public_addresses: BTreeMap<[u8; 4], PublicAddress>,
    /// Numeric NAT gateway id -> its configuration.
    pub nat_gateways: BTreeMap<u32, NatGatewayConfig>,
    /// {prefix length, {NAT gateway, source prefix}} -> SNAT address.
    pub snat_entries: BTreeMap<(u32, SnatKey), SnatTarget>,
    /// The services port and the MACs of frames to the services network.
    pub services: Option<Egress>,
    /// Numeric gateway endpoint id -> its source address and VPC.
    pub gateway_endpoints: BTreeMap<u32, GatewayEndpointTarget>,
    /// Each running listener's address -> the listener and its ring.
    pub lb_listeners: BTreeMap<vpc_common::ListenerKey, vpc_common::Listener>,
    /// Ring slot -> its backends (`LB_RING_SIZE` of them).
    pub lb_rings: BTreeMap<u32, load_balancer::Ring>,
    /// {consumer VPC, address} -> each interface endpoint ENI.
    pub endpoint_enis: BTreeMap<EniAddressKey, vpc_common::EndpointEni>,
}

/// One policy's map entries: {prefix length, {policy, remote prefix}} ->
/// address class, and {prefix length, {policy, class, protocol, port
/// prefix}} -> verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyTable {
    /// POLICY_ADDRESSES entries of the policy.
    pub addresses: BTreeMap<(u32, PolicyAddrKey), PolicyClass>,
    /// POLICY_PORTS entries of the policy.
    pub ports: BTreeMap<(u32, PolicyPortKey), PolicyVerdict>,
}

/// The POLICY_ADDRESSES and POLICY_PORTS entries, by policy id. Each
/// policy's entries are one shared `Arc` (a compiled policy's, kept by the
/// compile memo), so the map diff ([`diff_policies`]) skips a policy whose
/// entries are the very same and walks only the policies that changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyEntries {
    /// Policy id -> its entries.
    pub by_policy: BTreeMap<u32, Arc<PolicyTable>>,
}

impl PolicyEntries {
    /// Adds one POLICY_ADDRESSES entry (read back from the kernel).
    pub fn insert_address(&mut self, k: (u32, PolicyAddrKey), v: PolicyClass) {
        let t = self.by_policy.entry(k.1.policy_id).or_default();
        Arc::make_mut(t).addresses.insert(k, v);
    }

    /// Adds one POLICY_PORTS entry (read back from the kernel).
    pub fn insert_port(&mut self, k: (u32, PolicyPortKey), v: PolicyVerdict) {
        let t = self.by_policy.entry(k.1.policy_id).or_default();
        Arc::make_mut(t).ports.insert(k, v);
    }

    /// Every POLICY_ADDRESSES entry.
    pub fn addresses(&self) -> impl Iterator<Item = (&(u32, PolicyAddrKey), &PolicyClass)> {
        self.by_policy.values().flat_map(|t| t.addresses.iter())
    }

    /// Every POLICY_PORTS entry.
    pub fn ports(&self) -> impl Iterator<Item = (&(u32, PolicyPortKey), &PolicyVerdict)> {
        self.by_policy.values().flat_map(|t| t.ports.iter())
    }

    /// The number of POLICY_ADDRESSES entries.
    pub fn addresses_len(&self) -> usize {
        self.by_policy.values().map(|t| t.addresses.len()).sum()
    }

    /// The number of POLICY_PORTS entries.
    pub fn ports_len(&self) -> usize {
        self.by_policy.values().map(|t| t.ports.len()).sum()
    }
}

/// The writes that turn the policy entries `current` into `desired`:
/// (POLICY_ADDRESSES, POLICY_PORTS). A policy whose entries are the same
/// `Arc` in both is not walked.
#[allow(clippy::type_complexity)]
pub fn diff_policies(
    current: &PolicyEntries,
    desired: &PolicyEntries,
) -> (
    Diff<(u32, PolicyAddrKey), PolicyClass>,
    Diff<(u32, PolicyPortKey), PolicyVerdict>,
) {
    let empty = PolicyTable::default();
    let mut addresses = Diff { upserts: Vec::new(), removals: Vec::new() };
    let mut ports = Diff { upserts: Vec::new(), removals: Vec::new() };
    let ids: BTreeSet<u32> = current.by_policy.keys().chain(desired.by_policy.keys()).copied().collect();
    for id in ids {
        let (c, d) = (current.by_policy.get(&id), desired.by_policy.get(&id));
        if let (Some(c), Some(d)) = (c, d)
            && Arc::ptr_eq(c, d)
        {
            continue;
        }
        let c = c.map_or(&empty, |t| t.as_ref());
        let d = d.map_or(&empty, |t| t.as_ref());
        let a = diff(&c.addresses, &d.addresses);
        addresses.upserts.extend(a.upserts);
        addresses.removals.extend(a.removals);
        let p = diff(&c.ports, &d.ports);
        ports.upserts.extend(p.upserts);
        ports.removals.extend(p.removals);
    }
    (addresses, ports)
}

/// The source address of each gateway endpoint (by endpoint id):
/// [`Model::endpoint_sources`].
pub fn endpoint_sources(model: &Model) -> BTreeMap<String, std::net::Ipv4Addr> {
    model.endpoint_sources()
}

/// The trie key of an IPv4 prefix in a route table.
pub fn route_key(route_table_id: u32, prefix: &Ipv4Net) -> RouteTrieKey {
    (
        route_key_prefix_len_v4(prefix.prefix_len() as u32),
        RouteKey {
            route_table_id,
            addr: prefix.network().octets(),
        },
    )
}

/// Numeric ids of VPCs, vSwitches and route tables (allocated by the model,
/// or hashed for a lab file's model), checked for collisions.
fn numeric_ids<'a>(
    model: &Model,
    ids: impl Iterator<Item = &'a str>,
) -> Result<BTreeMap<&'a str, u32>, CompileError> {
    let mut by_num: BTreeMap<u32, &str> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for id in ids {
        let n = model.numeric_id(id);
        if let Some(other) = by_num.insert(n, id) {
            return Err(CompileError::IdCollision {
                a: other.to_string(),
                b: id.to_string(),
                id: n,
            });
        }
        out.insert(id, n);
    }
    Ok(out)
}

/// The order of the route trie's keys (prefix length, table, address
/// bytes), on integers rather than byte-wise compares.
fn route_order(k: &RouteTrieKey) -> (u32, u32, u32) {
    (k.0, k.1.route_table_id, u32::from_be_bytes(k.1.addr))
}

/// What a table's routes compile against besides the table itself: the
/// numeric ids of gateway next hops, the port of each instance and ENI
/// next hop, the blocks of prefix lists. Small (no route entry in it), so
/// [`RouteMemo`] compares it whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct HopContext {
    nat_ids: BTreeMap<String, u32>,
    endpoint_ids: BTreeMap<String, u32>,
    /// Instance id -> its port (the model's first instance of an id).
    hop_egress: BTreeMap<String, Egress>,
    /// ENI id -> its port.
    eni_egress: BTreeMap<String, Egress>,
    /// Prefix list id -> its blocks (the model's first list of an id).
    prefix_lists: BTreeMap<String, Vec<Ipv4Net>>,
    /// The blocks of the object storage prefix lists.
    object_storage: Vec<Ipv4Net>,
}

impl HopContext {
    fn of(
        model: &Model,
        nat_ids: &BTreeMap<&str, u32>,
        endpoint_ids: &BTreeMap<&str, u32>,
        egress_of: &BTreeMap<&str, Egress>,
    ) -> Self {
        let mut c = HopContext {
            nat_ids: nat_ids.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            endpoint_ids: endpoint_ids.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            object_storage: model.router.services.object_storage_cidrs.clone(),
            ..HopContext::default()
        };
        for inst in &model.instances {
            if let Some(egress) = egress_of.get(inst.id.as_str()) {
                c.hop_egress.entry(inst.id.clone()).or_insert(*egress);
                c.eni_egress.entry(inst.eni_id()).or_insert(*egress);
            }
        }
        for p in &model.prefix_lists {
            c.prefix_lists
                .entry(p.id.clone())
                .or_insert_with(|| p.entries.iter().map(|e| e.cidr).collect());
        }
        c
    }

    /// The blocks of prefix list `id` ([`Model::prefix_list_cidrs`]).
    fn prefix_list(&self, id: &str) -> &[Ipv4Net] {
        if model::CloudServices::is_object_storage_prefix_list(id) {
            return &self.object_storage;
        }
        self.prefix_lists.get(id).map_or(&[], Vec::as_slice)
    }
}

/// One table's compiled routes and what they were compiled from.
#[derive(Debug)]
struct TableRoutes {
    /// The table's entries (held, so the pointers compared stay theirs).
    entries: model::RouteEntries,
    table: u32,
    system: BTreeSet<Ipv4Net>,
    /// True if an entry's destination is a prefix list, or two routes had
    /// one key: the table is then compiled whole at its next change.
    whole: bool,
    /// Sorted by key, one value a key.
    routes: Arc<Vec<(RouteTrieKey, NextHop)>>,
}

/// The compiled routes of each route table, kept between compiles
/// ([`compile_with`]): a change compiles only the tables it touched (or
/// every table, when the next hops' context changed). A fresh memo compiles
/// everything, as [`compile`] does.
#[derive(Debug, Default)]
pub struct RouteMemo {
    context: Option<HopContext>,
    /// By route table id.
    tables: HashMap<String, TableRoutes>,
    /// Tables compiled from their last routes and their change.
    merged: usize,
    /// The policies the last compile used.
    policies: PolicyMemo,
    /// The members of each security group the last compile saw.
    members: Option<BTreeMap<String, Vec<Ipv4Net>>>,
    /// Each instance's security-group policies the last compile built, by
    /// instance id: kept while its groups' rules (the same lists) and the
    /// groups' members stay, so a change that touches no group builds no
    /// policy and walks no rule.
    enis: HashMap<String, EniPolicies>,
}

/// The security-group policies of one instance and what they were built
/// from.
#[derive(Debug)]
struct EniPolicies {
    /// Each group: id, its rules (held, so the pointers compared stay
    /// theirs), whether its members reach each other.
    groups: Vec<(String, model::SecurityGroupRules, bool)>,
    ingress: PolicyKey,
    egress: PolicyKey,
}

impl EniPolicies {
    /// The groups of `inst` as [`EniPolicies::groups`] holds them.
    fn groups_of(
        model: &Model,
        inst: &model::Instance,
    ) -> Vec<(String, model::SecurityGroupRules, bool)> {
        inst.security_group_ids
            .iter()
            .filter_map(|id| model.security_group(id))
            .map(|g| (g.id.clone(), g.rules.clone(), g.members_reach_each_other()))
            .collect()
    }

    /// True if `groups` are those these policies were built from (the same
    /// rule lists).
    fn built_from(&self, groups: &[(String, model::SecurityGroupRules, bool)]) -> bool {
        self.groups.len() == groups.len()
            && self
                .groups
                .iter()
                .zip(groups)
                .all(|(a, b)| a.0 == b.0 && a.1.same(&b.1) && a.2 == b.2)
    }
}

impl RouteMemo {
    /// How many times a table was compiled from its last routes and the
    /// entries a change added and removed.
    pub fn merged(&self) -> usize {
        self.merged
    }

    /// The number of tables whose routes are kept.
    pub fn tables(&self) -> usize {
        self.tables.len()
    }
}

/// The routes of one table (RT-2, RT-3, RT-4, RT-1), sorted by key; of two
/// routes with one key, the later (an entry editing a system block) wins.
/// Also whether two routes had one key (then [`table_routes_changed`]
/// cannot tell which route a removed entry's key falls back to).
fn table_routes(
    rt: &model::RouteTable,
    table: u32,
    system: &BTreeSet<Ipv4Net>,
    context: &HopContext,
) -> (Vec<(RouteTrieKey, NextHop)>, bool) {
    let mut routes: Vec<(RouteTrieKey, NextHop)> =
        Vec::with_capacity(rt.route_entries.len() + system.len());
    let local = NextHop {
        kind: NextHopKind::Local as u32,
        egress: Egress::default(),
        gateway_id: 0,
    };
    for cidr in system {
        routes.push((route_key(table, cidr), local));
    }
    let mut last_hop: Option<(NextHopType, &str, Option<Egress>)> = None;
    // RT-3: custom entries (and edited gateway entries).
    for entry in &rt.route_entries {
        let Some(hop) = entry_hop(entry, context, &mut last_hop) else {
            continue;
        };
        match &entry.destination_prefix_list_id {
            // RT-1: one route per block of the list.
            Some(pl) => {
                for cidr in context.prefix_list(pl) {
                    routes.push((route_key(table, cidr), hop));
                }
            }
            None => routes.push((route_key(table, &entry.destination_cidr_block), hop)),
        }
    }
    // Stable: of equal keys the later stays last, and is the one kept.
    routes.sort_by_key(|(k, _)| route_order(k));
    let mut out: Vec<(RouteTrieKey, NextHop)> = Vec::with_capacity(routes.len());
    let mut collided = false;
    for r in routes {
        match out.last_mut() {
            Some(last) if last.0 == r.0 => {
                *last = r;
                collided = true;
            }
            _ => out.push(r),
        }
    }
    (out, collided)
}

/// The next hop of one entry (None: it leads nowhere, and has no route);
/// `last_hop` remembers the last instance or ENI looked up.
fn entry_hop<'a>(
    entry: &'a model::RouteEntry,
    context: &HopContext,
    last_hop: &mut Option<(NextHopType, &'a str, Option<Egress>)>,
) -> Option<NextHop> {
    let local = NextHop {
        kind: NextHopKind::Local as u32,
        egress: Egress::default(),
        gateway_id: 0,
    };
    let hop = match entry.next_hop_type {
            NextHopType::Local => local,
            NextHopType::Ipv4Gateway => NextHop {
                kind: NextHopKind::Ipv4Gateway as u32,
                egress: Egress::default(),
                gateway_id: 0,
            },
            NextHopType::NatGateway => {
                let id = context.nat_ids.get(entry.next_hop_id.as_str())?;
                NextHop {
                    kind: NextHopKind::NatGateway as u32,
                    egress: Egress::default(),
                    gateway_id: *id,
                }
            }
            NextHopType::GatewayEndpoint => {
                let id = context.endpoint_ids.get(entry.next_hop_id.as_str())?;
                NextHop {
                    kind: NextHopKind::GatewayEndpoint as u32,
                    egress: Egress::default(),
                    gateway_id: *id,
                }
            }
            NextHopType::Instance | NextHopType::NetworkInterface => {
                // Entries mostly share a next hop: look it up once.
                let egress = match *last_hop {
                    Some((kind, id, egress))
                        if kind == entry.next_hop_type && id == entry.next_hop_id =>
                    {
                        egress
                    }
                    _ => {
                        let egress = if entry.next_hop_type == NextHopType::Instance {
                            context.hop_egress.get(entry.next_hop_id.as_str()).copied()
                        } else {
                            context.eni_egress.get(entry.next_hop_id.as_str()).copied()
                        };
                        *last_hop = Some((entry.next_hop_type, entry.next_hop_id.as_str(), egress));
                        egress
                    }
                };
                NextHop {
                    kind: NextHopKind::Eni as u32,
                    egress: egress?,
                    gateway_id: 0,
                }
            }
        };
    Some(hop)
}

/// A table's routes from those `prev` compiled of it, when the table only
/// lost and gained entries since ([`model::RouteEntries::changes_from`]) whose destinations
/// are plain blocks, none a system block or routed twice: the same result
/// as [`table_routes`], in time of the change (a merge, no sort of the
/// table). None when that does not hold.
fn table_routes_changed(
    prev: &TableRoutes,
    rt: &model::RouteTable,
    table: u32,
    system: &BTreeSet<Ipv4Net>,
    context: &HopContext,
) -> Option<MergedRoutes> {
    if prev.whole || prev.table != table || prev.system != *system {
        return None;
    }
    let (removed, added) = rt.route_entries.changes_from(&prev.entries)?;
    let plain = |e: &model::RouteEntry| {
        !e.is_prefix_list() && !system.contains(&e.destination_cidr_block)
    };
    if !removed.iter().all(|e| plain(e)) || !added.iter().all(|e| plain(e)) {
        return None;
    }
    // A removed entry that led nowhere had no route (the context is the
    // one it was compiled in): its key may be another entry's.
    let mut last_hop = None;
    let mut gone: Vec<RouteTrieKey> = removed
        .iter()
        .filter(|e| entry_hop(e, context, &mut last_hop).is_some())
        .map(|e| route_key(table, &e.destination_cidr_block))
        .collect();
    gone.sort_by_key(route_order);
    let mut add: Vec<(RouteTrieKey, NextHop)> = Vec::with_capacity(added.len());
    for e in added {
        if let Some(hop) = entry_hop(e, context, &mut last_hop) {
            add.push((route_key(table, &e.destination_cidr_block), hop));
        }
    }
    add.sort_by_key(|(k, _)| route_order(k));
    if add.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    // Where each change goes in the last routes (sorted, found by binary
    // search), then the runs between copied whole: a call's few changes
    // cost a copy of the table's routes, not a comparison per route.
    let base: &[(RouteTrieKey, NextHop)] = &prev.routes;
    let find = |k: &RouteTrieKey| base.binary_search_by_key(&route_order(k), |r| route_order(&r.0));
    // (index in base, 0: insert before it / 1: remove it, the route).
    let mut edits: Vec<(usize, u8, Option<(RouteTrieKey, NextHop)>)> = Vec::with_capacity(gone.len() + add.len());
    for k in &gone {
        if let Ok(i) = find(k) {
            edits.push((i, 1, None));
        }
    }
    for r in &add {
        match find(&r.0) {
            // Routed by an entry kept: not a table a call made.
            Ok(i) if !edits.iter().any(|e| e.0 == i && e.1 == 1) => return None,
            Ok(i) | Err(i) => edits.push((i, 0, Some(*r))),
        }
    }
    edits.sort_by_key(|e| (e.0, e.1));
    let mut out: Vec<(RouteTrieKey, NextHop)> = Vec::with_capacity(base.len() + add.len());
    let mut next = 0;
    for (i, kind, route) in edits {
        if i > next {
            out.extend_from_slice(&base[next..i]);
            next = i;
        }
        match route {
            Some(r) => out.push(r),
            None if kind == 1 => next = next.max(i + 1),
            None => {}
        }
    }
    out.extend_from_slice(&base[next.min(base.len())..]);
    Some(MergedRoutes {
        routes: out,
        removed: gone,
        added: add,
    })
}

/// A table's routes made by [`table_routes_changed`], and the change from
/// its last ones: the keys of the routes removed and the routes added,
/// each sorted by key.
struct MergedRoutes {
    routes: Vec<(RouteTrieKey, NextHop)>,
    removed: Vec<RouteTrieKey>,
    added: Vec<(RouteTrieKey, NextHop)>,
}

/// Compiles the model. `ports` maps each ENI id to its router port ifindex.
/// Everything is compiled (a fresh [`RouteMemo`]): start-up and recovery.
pub fn compile(model: &Model, ports: &BTreeMap<String, u32>) -> Result<MapEntries, CompileError> {
    compile_with(model, ports, &mut RouteMemo::default())
}

/// [`compile`], reusing from `memo` the routes of every table that did not
/// change since `memo` last saw it (and keeping the new ones in it): the
/// same result, without walking an unchanged table's entries.
pub fn compile_with(
    model: &Model,
    ports: &BTreeMap<String, u32>,
    memo: &mut RouteMemo,
) -> Result<MapEntries, CompileError> {
    compile_with_health(model, ports, memo, &Unavailable::new())
}

/// [`compile_with`], the servers in `unavailable` (found so by the health
/// checks) left out of the load balancers' rings.
pub fn compile_with_health(
    model: &Model,
    ports: &BTreeMap<String, u32>,
    memo: &mut RouteMemo,
    unavailable: &Unavailable,
) -> Result<MapEntries, CompileError> {
    if let Some((eni, &ifindex)) = ports.iter().find(|(_, i)| **i >= vpc_common::MAX_PORTS) {
        return Err(CompileError::PortIndex {
            eni: eni.clone(),
            ifindex,
            max: vpc_common::MAX_PORTS,
        });
    }
    let vpc_ids = numeric_ids(model, model.vpcs.iter().map(|v| v.id.as_str()))?;
    let vswitch_ids = numeric_ids(model, model.vswitches.iter().map(|v| v.id.as_str()))?;
    // A table's numeric id is its current generation's (RT-1: routes of a
    // changed prefix list are written under a fresh id, see
    // `model::RouteTable::numeric_key`).
    let table_keys: Vec<String> = model.route_tables.iter().map(|t| t.numeric_key()).collect();
    let by_key = numeric_ids(model, table_keys.iter().map(String::as_str))?;
    let table_ids: BTreeMap<&str, u32> = model
        .route_tables
        .iter()
        .zip(&table_keys)
        .map(|(t, k)| (t.id.as_str(), by_key[k.as_str()]))
        .collect();
    let nat_ids = numeric_ids(model, model.nat_gateways.iter().map(|g| g.id.as_str()))?;
    let endpoint_ids = numeric_ids(model, model.gateway_endpoints.iter().map(|g| g.id.as_str()))?;
    // Per VPC: is its IPv4 gateway enabled, and which gateway route table is bound.
    let gateway_of = |vpc_id: &str| -> (bool, u32) {
        match model.ipv4_gateway_of(vpc_id) {
            Some(g) if g.enabled => (
                true,
                g.route_table_id
                    .as_deref()
                    .and_then(|t| table_ids.get(t).copied())
                    .unwrap_or(0),
            ),
            _ => (false, 0),
        }
    };
    let addresses: BTreeMap<String, _> = model::instance_addresses(model).into_iter().collect();
    let mut out = MapEntries::default();
    let mut policies = Policies::with(std::mem::take(&mut memo.policies));
    let members = group_members(model, &addresses);
    let members_kept = memo.members.as_ref() == Some(&members);
    let mut previous_enis = std::mem::take(&mut memo.enis);
    let mut enis = HashMap::new();

    let mut egress_of = BTreeMap::new();
    for inst in &model.instances {
        let eni_id = inst.eni_id();
        let ifindex = *ports
            .get(&eni_id)
            .ok_or_else(|| CompileError::MissingPort(inst.id.clone()))?;
        let ip = addresses
            .get(&inst.id)
            .copied()
            .flatten()
            .ok_or_else(|| CompileError::MissingAddress(inst.id.clone()))?;
        let Some(vsw) = model.vswitch(&inst.vswitch_id) else {
            continue;
        };
        let Some(rt) = model.route_table_of(vsw) else {
            continue;
        };
        let mac = topology::eni_mac(&eni_id);
        let egress = Egress {
            ifindex,
            dst_mac: mac,
            src_mac: ROUTER_MAC,
        };
        let vpc_id = vpc_ids[vsw.vpc_id.as_str()];
        let mut flags = if inst.source_dest_check {
            ENI_FLAG_SOURCE_DEST_CHECK
        } else {
            0
        };
        let (mut sg_ingress, mut sg_egress) = (0, 0);
        if !inst.security_group_ids.is_empty() {
            let groups = EniPolicies::groups_of(model, inst);
            let kept = match previous_enis.remove(&inst.id) {
                Some(e) if members_kept && e.built_from(&groups) => e,
                _ => {
                    let (ingress, egress) = security_group_policies(model, inst, &members);
                    EniPolicies {
                        groups,
                        ingress: PolicyKey::of(ingress),
                        egress: PolicyKey::of(egress),
                    }
                }
            };
            sg_ingress = policies.install(&kept.ingress, &mut out)?;
            sg_egress = policies.install(&kept.egress, &mut out)?;
            enis.insert(inst.id.clone(), kept);
            flags |= ENI_FLAG_SECURITY_GROUPS | ENI_FLAG_SG_EGRESS_DEFAULT_ACCEPT;
        }
        let public_ip = model.public_ip_of(inst);
        let (igw_enabled, gateway_table) = gateway_of(&vsw.vpc_id);
        if let Some(p) = public_ip {
            if !igw_enabled {
                flags |= ENI_FLAG_DIRECT_INTERNET;
            }
            out.public_addresses.insert(
                p.octets(),
                PublicAddress {
                    kind: PUBLIC_KIND_ENI,
                    flags: if igw_enabled {
                        PUBLIC_FLAG_IPV4_GATEWAY
                    } else {
                        0
                    },
                    vpc_id,
                    gateway_route_table_id: gateway_table,
                    private_ip: ip.octets(),
                },
            );
        }
        let (acl_flags, acl_ingress, acl_egress) = vswitch_acl(model, vsw, &mut policies, &mut out)?;
        flags |= acl_flags;
        out.eni_by_port.insert(
            ifindex,
            Eni {
                vpc_id,
                vswitch_id: vswitch_ids[vsw.id.as_str()],
                route_table_id: table_ids[rt.id.as_str()],
                flags: flags | ENI_FLAG_PORT,
                ip: ip.octets(),
                gateway_ip: model::vswitch_gateway(&vsw.cidr_block).octets(),
                vswitch_addr: vsw.cidr_block.network().octets(),
                vswitch_mask: vsw.cidr_block.netmask().octets(),
                mac,
                router_mac: ROUTER_MAC,
                sg_ingress,
                sg_egress,
                acl_ingress,
                acl_egress,
                public_ip: public_ip.map(|p| p.octets()).unwrap_or_default(),
                // The datapath layer sets it (a table's direct slot).
                route_slot: 0,
            },
        );
        out.eni_by_address.insert(
            EniAddressKey {
                vpc_id,
                addr: ip.octets(),
            },
            egress,
        );
        egress_of.insert(inst.id.as_str(), egress);
    }

    // The routes, table by table: a table whose entries (the same `Arc`s),
    // numeric id, system blocks and next-hop context are those `memo` saw
    // last reuses its compiled routes without walking its entries.
    let context = HopContext::of(model, &nat_ids, &endpoint_ids, &egress_of);
    if memo.context.as_ref() != Some(&context) {
        memo.tables.clear();
        memo.context = Some(context);
    }
    let context = memo.context.as_ref().expect("set above");
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for rt in &model.route_tables {
        let table = table_ids[rt.id.as_str()];
        // RT-2 (and RT-4 for a gateway table): every vSwitch CIDR of the VPC
        // is routed locally unless an entry edits it.
        let system: BTreeSet<Ipv4Net> = model
            .vswitches
            .iter()
            .filter(|v| v.vpc_id == rt.vpc_id)
            .map(|v| v.cidr_block)
            .collect();
        seen.insert(rt.id.as_str());
        let prev = memo.tables.get(&rt.id);
        let hit = prev.filter(|t| {
            t.table == table && t.system == system && t.entries.shares_all(&rt.route_entries)
        });
        let routes = match hit {
            Some(t) => t.routes.clone(),
            None => {
                // Only entries added or removed since: merged into the
                // table's last routes (and the map diff is that change);
                // else the table compiled whole.
                let merged = prev.and_then(|p| {
                    table_routes_changed(p, rt, table, &system, context).map(|m| (p.routes.clone(), m))
                });
                let (routes, whole) = match merged {
                    Some((base, m)) => {
                        memo.merged += 1;
                        let routes = Arc::new(m.routes);
                        out.routes
                            .set_table_changed(table, routes.clone(), &base, &m.removed, &m.added);
                        (routes, false)
                    }
                    None => {
                        let (routes, collided) = table_routes(rt, table, &system, context);
                        let lists = rt.route_entries.iter().any(|e| e.is_prefix_list());
                        let routes = Arc::new(routes);
                        out.routes.set_table(table, routes.clone());
                        (routes, collided || lists)
                    }
                };
                memo.tables.insert(
                    rt.id.clone(),
                    TableRoutes {
                        entries: rt.route_entries.clone(),
                        table,
                        system,
                        whole,
                        routes,
                    },
                );
                continue;
            }
        };
        // Numeric ids are unique (checked above): no key is in two tables.
        out.routes.set_table(table, routes);
    }
    memo.tables.retain(|id, _| seen.contains(id.as_str()));

    // The internet edge: the uplink port, NAT gateways and their SNAT entries.
    if let Some(&ifindex) = ports.get(topology::UPLINK_PORT) {
        out.uplink = Some(edge_port(
            &mut out,
            ifindex,
            ENI_FLAG_UPLINK,
            topology::UPLINK_INTERNET_IP,
            topology::UPLINK_ROUTER_IP,
            topology::UPLINK_PREFIX_LEN,
            topology::INTERNET_MAC,
        ));
    }
    for ngw in &model.nat_gateways {
        let id = nat_ids[ngw.id.as_str()];
        let Some(vsw) = model.vswitch(&ngw.vswitch_id) else {
            continue;
        };
        let Some(rt) = model.route_table_of(vsw) else {
            continue;
        };
        let (igw_enabled, _) = gateway_of(&ngw.vpc_id);
        out.nat_gateways.insert(
            id,
            NatGatewayConfig {
                flags: if igw_enabled {
                    NAT_FLAG_VIA_IPV4_GATEWAY
                } else {
                    0
                },
                route_table_id: table_ids[rt.id.as_str()],
            },
        );
        let (port_min, port_max) = ngw.port_range.unwrap_or((SNAT_PORT_MIN, SNAT_PORT_MAX));
        for e in &model.eips {
            if e.association.as_ref().is_some_and(|a| {
                a.instance_type == model::EipInstanceType::Nat && a.instance_id == ngw.id
            }) {
                out.public_addresses.insert(
                    e.ip_address.octets(),
                    PublicAddress {
                        kind: PUBLIC_KIND_SNAT,
                        vpc_id: vpc_ids[ngw.vpc_id.as_str()],
                        ..PublicAddress::default()
                    },
                );
            }
        }
        for entry in &ngw.snat_entries {
            let source = match &entry.source {
                model::SnatSource::Cidr(c) => *c,
                model::SnatSource::VSwitch(v) => match model.vswitch(v) {
                    Some(v) => v.cidr_block,
                    None => continue,
                },
            };
            out.snat_entries.insert(
                (
                    snat_prefix_len(source.prefix_len() as u32),
                    SnatKey {
                        nat_gateway_id: id,
                        addr: source.network().octets(),
                    },
                ),
                SnatTarget {
                    ip: entry.snat_ip.octets(),
                    port_min,
                    port_max,
                },
            );
        }
    }
    // The services network: its port and the gateway endpoints' sources.
    if let Some(&ifindex) = ports.get(topology::SERVICES_PORT) {
        out.services = Some(edge_port(
            &mut out,
            ifindex,
            ENI_FLAG_SERVICES,
            topology::SERVICES_LINK_IP,
            topology::SERVICES_ROUTER_IP,
            topology::SERVICES_PREFIX_LEN,
            topology::SERVICES_MAC,
        ));
    }
    let sources = endpoint_sources(model);
    for e in &model.gateway_endpoints {
        let (Some(source), Some(vpc)) = (sources.get(&e.id), vpc_ids.get(e.vpc_id.as_str())) else {
            continue;
        };
        out.gateway_endpoints.insert(
            endpoint_ids[e.id.as_str()],
            GatewayEndpointTarget {
                source_ip: source.octets(),
                vpc_id: *vpc,
            },
        );
    }
    load_balancer::health_ports(model, ports, &vpc_ids, &table_ids, &mut out);
    load_balancer::compile(model, &vpc_ids, &members, &mut policies, unavailable, &mut out)?;
    let ids = privatelink::Ids { vpcs: &vpc_ids, vswitches: &vswitch_ids, tables: &table_ids };
    privatelink::compile(model, &ids, &members, &mut policies, &mut out)?;
    memo.policies = policies.now;
    memo.enis = enis;
    memo.members = Some(members);
    check_capacity(&out)?;
    Ok(out)
}

/// The network ACL of vSwitch `vsw`, as an ENI in it carries it: its
/// `ENI_FLAG_*` ACL flags and its inbound and outbound policy ids (zeros
/// without an ACL).
fn vswitch_acl(
    model: &Model,
    vsw: &model::VSwitch,
    policies: &mut Policies,
    out: &mut MapEntries,
) -> Result<(u32, u32, u32), CompileError> {
    let Some(acl) = vsw.network_acl_id.as_deref().and_then(|id| model.network_acl(id)) else {
        return Ok((0, 0, 0));
    };
    let (ingress, egress) = network_acl_policies(acl);
    let acl_ingress = policies.install(&PolicyKey::of(ingress), out)?;
    let acl_egress = policies.install(&PolicyKey::of(egress), out)?;
    let flags = ENI_FLAG_NETWORK_ACL | ENI_FLAG_ACL_INGRESS_DEFAULT_ACCEPT | ENI_FLAG_ACL_EGRESS_DEFAULT_ACCEPT;
    Ok((flags, acl_ingress, acl_egress))
}

/// Addresses (/32) of the members of each security group (SG-3): its
/// instances and the interface endpoint ENIs in it (SG-4).
fn group_members(
    model: &Model,
    addresses: &BTreeMap<String, Option<std::net::Ipv4Addr>>,
) -> BTreeMap<String, Vec<Ipv4Net>> {
    let mut out: BTreeMap<String, Vec<Ipv4Net>> = BTreeMap::new();
    for inst in &model.instances {
        let Some(Some(ip)) = addresses.get(&inst.id) else {
            continue;
        };
        for g in &inst.security_group_ids {
            out.entry(g.clone()).or_default().push(Ipv4Net::from(*ip));
        }
    }
    for ep in &model.vpc_endpoints {
        for z in &ep.zones {
            for g in &ep.security_group_ids {
                out.entry(g.clone()).or_default().push(Ipv4Net::from(z.eni_ip));
            }
        }
    }
    out
}

/// The combined inbound and outbound policies of an instance's ENI: the
/// rules of all its groups pooled (lowest priority wins, drop wins a tie,
/// SG-1), plus, for each basic group that allows it, accept from the other
/// members at the weakest priority (SG-2). Inbound default drop, outbound
/// default accept.
pub fn security_group_policies(
    model: &Model,
    inst: &model::Instance,
    members: &BTreeMap<String, Vec<Ipv4Net>>,
) -> (policy::Policy, policy::Policy) {
    groups_policies(model, &inst.security_group_ids, members)
}

/// The inbound and outbound policies of the security groups `ids` (those
/// of an instance, or of a load balancer), as [`security_group_policies`].
pub fn groups_policies(
    model: &Model,
    ids: &[String],
    members: &BTreeMap<String, Vec<Ipv4Net>>,
) -> (policy::Policy, policy::Policy) {
    let mut ingress = policy::Policy {
        rules: Vec::new(),
        default: Verdict::Drop,
        combine: Combine::Priority,
    };
    let mut egress = policy::Policy {
        rules: Vec::new(),
        default: Verdict::Accept,
        combine: Combine::Priority,
    };
    let none = Vec::new();
    for g in ids.iter().filter_map(|id| model.security_group(id))
    {
        for r in &g.rules {
            let remotes = match &r.peer {
                model::Peer::Cidr(c) => vec![*c],
                model::Peer::Group(id) => members.get(id).unwrap_or(&none).clone(),
            };
            let rule = policy::Rule {
                priority: r.priority as u32,
                verdict: verdict(r.policy),
                protocol: protocol(r.ip_protocol),
                ports: r.port_range.0..=r.port_range.1,
                remotes,
            };
            match r.direction {
                model::Direction::Ingress => ingress.rules.push(rule),
                model::Direction::Egress => egress.rules.push(rule),
            }
        }
        if g.members_reach_each_other() {
            ingress.rules.push(policy::Rule {
                priority: 100,
                verdict: Verdict::Accept,
                protocol: Protocol::All,
                ports: 0..=u16::MAX,
                remotes: members.get(&g.id).unwrap_or(&none).clone(),
            });
        }
    }
    (ingress, egress)
}

fn protocol(p: model::IpProtocol) -> Protocol {
    match p {
        model::IpProtocol::Tcp => Protocol::Tcp,
        model::IpProtocol::Udp => Protocol::Udp,
        model::IpProtocol::Icmp => Protocol::Icmp,
        model::IpProtocol::All => Protocol::All,
    }
}

fn verdict(p: model::RulePolicy) -> Verdict {
    match p {
        model::RulePolicy::Accept => Verdict::Accept,
        model::RulePolicy::Drop => Verdict::Drop,
    }
}

/// The inbound and outbound policies of a network ACL: stateless, first
/// match wins (ACL-2); what no custom entry matches meets the system
/// entries, which accept all.
pub fn network_acl_policies(acl: &model::NetworkAcl) -> (policy::Policy, policy::Policy) {
    let policy = |entries: &[model::NetworkAclEntry]| policy::Policy {
        rules: entries
            .iter()
            .enumerate()
            .map(|(n, e)| policy::Rule {
                priority: n as u32,
                verdict: verdict(e.policy),
                protocol: protocol(e.protocol),
                ports: e.port_range.0..=e.port_range.1,
                remotes: vec![e.cidr],
            })
            .collect(),
        default: Verdict::Accept,
        combine: Combine::FirstMatch,
    };
    (policy(&acl.ingress), policy(&acl.egress))
}

/// One policy compiled: its tables, their bytes and the content-addressed
/// id taken from them.
#[derive(Debug)]
struct CompiledPolicy {
    id: u32,
    bytes: Vec<u8>,
    /// Its map entries, under its id.
    table: Arc<PolicyTable>,
}

impl CompiledPolicy {
    fn of(p: &policy::Policy) -> Self {
        let compiled = policy::compile(p);
        let mut bytes = vec![p.default as u8];
        for (net, class) in &compiled.classes {
            bytes.extend_from_slice(&net.network().octets());
            bytes.push(net.prefix_len());
            bytes.extend_from_slice(&class.to_be_bytes());
        }
        bytes.push(0xff);
        for e in &compiled.ports {
            bytes.extend_from_slice(&e.class.to_be_bytes());
            bytes.extend_from_slice(&[e.proto, e.prefix_len, e.verdict as u8]);
            bytes.extend_from_slice(&e.port.to_be_bytes());
        }
        let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
        });
        let id = match (h ^ (h >> 32)) as u32 {
            0 => 1,
            n => n,
        };
        let mut table = PolicyTable::default();
        for (net, class) in &compiled.classes {
            table.addresses.insert(
                (
                    policy_addr_prefix_len_v4(net.prefix_len() as u32),
                    PolicyAddrKey {
                        policy_id: id,
                        addr: net.network().octets(),
                    },
                ),
                PolicyClass { class: *class },
            );
        }
        for e in &compiled.ports {
            table.ports.insert(
                (
                    policy_port_prefix_len(e.prefix_len as u32),
                    PolicyPortKey {
                        policy_id: id,
                        class: e.class,
                        proto: e.proto,
                        pad: 0,
                        port: e.port.to_be_bytes(),
                    },
                ),
                PolicyVerdict {
                    verdict: match e.verdict {
                        Verdict::Accept => VERDICT_ACCEPT,
                        Verdict::Drop => VERDICT_DROP,
                    },
                },
            );
        }
        Self {
            id,
            bytes,
            table: Arc::new(table),
        }
    }
}

/// A policy as the memo's key: shared, its hash taken once (a policy of
/// 10,000 rules is not walked again to be looked up; the same `Arc` is
/// equal without a walk).
#[derive(Clone, Debug)]
struct PolicyKey {
    hash: u64,
    policy: Arc<policy::Policy>,
}

impl PolicyKey {
    fn of(p: policy::Policy) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        p.hash(&mut h);
        Self {
            hash: h.finish(),
            policy: Arc::new(p),
        }
    }
}

impl PartialEq for PolicyKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && (Arc::ptr_eq(&self.policy, &other.policy) || self.policy == other.policy)
    }
}

impl Eq for PolicyKey {}

impl std::hash::Hash for PolicyKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The policies a compile used, by their rules: kept in the [`RouteMemo`]
/// so that the next compile does not compile an unchanged rule set again.
type PolicyMemo = HashMap<PolicyKey, Arc<CompiledPolicy>>;

/// Compiled policies by content-addressed id: an unchanged rule set keeps
/// its id (nothing rewritten); a changed one gets a new id, so the datapath
/// switches atomically from the old tables to the new.
#[derive(Default)]
struct Policies {
    by_id: BTreeMap<u32, Arc<CompiledPolicy>>,
    /// The last compile's policies, and this one's.
    previous: PolicyMemo,
    now: PolicyMemo,
}

impl Policies {
    /// Over the policies a previous compile left.
    fn with(previous: PolicyMemo) -> Self {
        Self {
            previous,
            ..Self::default()
        }
    }

    /// Compiles `p` (unless this compile or the previous one did), adds its
    /// entries to `out` (once per distinct policy) and returns its id.
    fn install(&mut self, p: &PolicyKey, out: &mut MapEntries) -> Result<u32, CompileError> {
        let c = match self.now.get(p) {
            Some(c) => c.clone(),
            None => {
                let c = match self.previous.remove(p) {
                    Some(c) => c,
                    None => Arc::new(CompiledPolicy::of(&p.policy)),
                };
                self.now.insert(p.clone(), c.clone());
                c
            }
        };
        self.install_compiled(c, out)
    }

    /// Adds the entries of a compiled policy to `out` (once per distinct
    /// policy) and returns its id.
    fn install_compiled(
        &mut self,
        c: Arc<CompiledPolicy>,
        out: &mut MapEntries,
    ) -> Result<u32, CompileError> {
        let id = c.id;
        match self.by_id.get(&id) {
            Some(existing) if existing.bytes == c.bytes => return Ok(id),
            Some(_) => return Err(CompileError::PolicyIdCollision(id)),
            None => {}
        }
        out.policies.by_policy.insert(id, c.table.clone());
        self.by_id.insert(id, c);
        Ok(id)
    }
}

/// Refuses entries beyond a map's capacity: nothing is written then.
fn check_capacity(out: &MapEntries) -> Result<(), CompileError> {
    use vpc_common::{
        MAX_ENI_ADDRESSES, MAX_POLICY_ADDRESSES, MAX_POLICY_PORTS, MAX_PORTS, MAX_ROUTES,
    };
    for (map, have, max) in [
        ("ENI_BY_PORT", out.eni_by_port.len(), MAX_PORTS),
        (
            "ENI_BY_ADDRESS",
            out.eni_by_address.len(),
            MAX_ENI_ADDRESSES,
        ),
        ("ROUTES", out.routes.len(), MAX_ROUTES),
        (
            "POLICY_ADDRESSES",
            out.policies.addresses_len(),
            MAX_POLICY_ADDRESSES,
        ),
        ("POLICY_PORTS", out.policies.ports_len(), MAX_POLICY_PORTS),
        (
            "PUBLIC_ADDRESSES",
            out.public_addresses.len(),
            vpc_common::MAX_PUBLIC_ADDRESSES,
        ),
        (
            "NAT_GATEWAYS",
            out.nat_gateways.len(),
            vpc_common::MAX_NAT_GATEWAYS,
        ),
        (
            "GATEWAY_ENDPOINTS",
            out.gateway_endpoints.len(),
            vpc_common::MAX_GATEWAY_ENDPOINTS,
        ),
        (
            "LB_LISTENERS",
            out.lb_listeners.len(),
            vpc_common::MAX_LB_LISTENERS,
        ),
        (
            "ENDPOINT_ENIS",
            out.endpoint_enis.len(),
            vpc_common::MAX_ENDPOINT_ENIS,
        ),
        (
            "SNAT_ENTRIES",
            out.snat_entries.len(),
            vpc_common::MAX_SNAT_ENTRIES,
        ),
    ] {
        // Old and new policy entries live side by side during a switch.
        let max = if map.starts_with("POLICY") {
            max as usize / 2
        } else {
            max as usize
        };
        if have > max {
            return Err(CompileError::Capacity {
                map,
                entries: have,
                max,
            });
        }
    }
    Ok(())
}

/// The writes that turn `current` into `desired` for one map.
#[derive(Debug, PartialEq, Eq)]
pub struct Diff<K, V> {
    /// Entries to insert or overwrite.
    pub upserts: Vec<(K, V)>,
    /// Keys to delete.
    pub removals: Vec<K>,
}

impl<K, V> Diff<K, V> {
    /// True if nothing changes.
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.removals.is_empty()
    }
}

/// Only the difference: entries new or changed in `desired`, keys gone from
/// it. One pass over both maps in key order (no lookup per key).
pub fn diff<K: Ord + Clone, V: PartialEq + Clone>(
    current: &BTreeMap<K, V>,
    desired: &BTreeMap<K, V>,
) -> Diff<K, V> {
    let (mut upserts, mut removals) = (Vec::new(), Vec::new());
    let (mut c, mut d) = (current.iter().peekable(), desired.iter().peekable());
    loop {
        match (c.peek(), d.peek()) {
            (None, None) => break,
            (Some((ck, _)), None) => {
                removals.push((*ck).clone());
                c.next();
            }
            (None, Some((dk, dv))) => {
                upserts.push(((*dk).clone(), (*dv).clone()));
                d.next();
            }
            (Some((ck, cv)), Some((dk, dv))) => match ck.cmp(dk) {
                std::cmp::Ordering::Less => {
                    removals.push((*ck).clone());
                    c.next();
                }
                std::cmp::Ordering::Greater => {
                    upserts.push(((*dk).clone(), (*dv).clone()));
                    d.next();
                }
                std::cmp::Ordering::Equal => {
                    if cv != dv {
                        upserts.push(((*dk).clone(), (*dv).clone()));
                    }
                    c.next();
                    d.next();
                }
            },
        }
    }
    Diff { upserts, removals }
}

/// The `Eni` record of an edge port (the uplink or the services port:
/// `flag`), a /`prefix_len` link with the far side at `far_ip` (MAC
/// `far_mac`) and the router at `router_ip`, put in `out`; the egress that
/// sends to the far side.
fn edge_port(
    out: &mut MapEntries,
    ifindex: u32,
    flag: u32,
    far_ip: std::net::Ipv4Addr,
    router_ip: std::net::Ipv4Addr,
    prefix_len: u8,
    far_mac: [u8; 6],
) -> Egress {
    let link = Ipv4Net::new(router_ip, prefix_len).expect("a valid prefix");
    out.eni_by_port.insert(
        ifindex,
        Eni {
            flags: flag | ENI_FLAG_PORT,
            ip: far_ip.octets(),
            gateway_ip: router_ip.octets(),
            vswitch_addr: link.network().octets(),
            vswitch_mask: link.netmask().octets(),
            mac: far_mac,
            router_mac: ROUTER_MAC,
            ..Eni::default()
        },
    );
    Egress { ifindex, dst_mac: far_mac, src_mac: ROUTER_MAC }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::lab;

    fn ports() -> BTreeMap<String, u32> {
        [("eni-1".to_string(), 7), ("eni-fw".to_string(), 9)]
            .into_iter()
            .collect()
    }

    #[test]
    fn rt_2_every_table_routes_every_vswitch_locally() {
        let m = lab();
        crate::validate::validate(&m).unwrap();
        let e = compile(&m, &ports()).unwrap();
        let custom = topology::numeric_id("vtb-custom");
        let system = topology::numeric_id("vtb-a");
        for table in [custom, system] {
            for cidr in ["10.0.1.0/24", "10.0.2.0/24"] {
                let hop = e.routes[&route_key(table, &cidr.parse().unwrap())];
                assert_eq!(hop.kind, NextHopKind::Local as u32);
            }
        }
        // 2 tables x 2 vSwitches + 1 custom entry, nothing else.
        assert_eq!(e.routes.len(), 5);
    }

    #[test]
    fn rt_3_instance_next_hop_compiles_to_its_eni() {
        let e = compile(&lab(), &ports()).unwrap();
        let key = route_key(
            topology::numeric_id("vtb-custom"),
            &"192.168.0.0/16".parse().unwrap(),
        );
        let hop = e.routes[&key];
        assert_eq!(hop.kind, NextHopKind::Eni as u32);
        assert_eq!(hop.egress.ifindex, 9);
        assert_eq!(hop.egress.dst_mac, topology::eni_mac("eni-fw"));
        assert_eq!(hop.egress.src_mac, ROUTER_MAC);
        assert_eq!(key.0, 32 + 16, "table id, then the /16");
    }

    #[test]
    fn rt_1_eni_uses_route_table_of_its_vswitch() {
        let e = compile(&lab(), &ports()).unwrap();
        let eni1 = e.eni_by_port[&7];
        assert_eq!(eni1.route_table_id, topology::numeric_id("vtb-a"));
        assert_eq!(eni1.ip, [10, 0, 1, 10]);
        assert_eq!(eni1.gateway_ip, [10, 0, 1, 253]);
        assert_eq!(eni1.vswitch_mask, [255, 255, 255, 0]);
        assert_eq!(eni1.flags, ENI_FLAG_PORT | ENI_FLAG_SOURCE_DEST_CHECK);
        let fw = e.eni_by_port[&9];
        assert_eq!(fw.route_table_id, topology::numeric_id("vtb-custom"));
        assert_eq!(fw.ip, [10, 0, 2, 1], "first free address of vsw-2");
        assert_eq!(fw.flags, ENI_FLAG_PORT, "source/dest check off");
    }

    #[test]
    fn a_port_beyond_the_port_maps_is_refused() {
        let mut p = ports();
        let eni = p.keys().next().unwrap().clone();
        p.insert(eni, vpc_common::MAX_PORTS);
        let err = compile(&lab(), &p).unwrap_err();
        assert!(matches!(err, CompileError::PortIndex { .. }), "{err}");
        assert_eq!(err.code(), "QuotaExceeded.MapCapacity");
    }

    #[test]
    fn vpc_3_addresses_are_keyed_by_vpc() {
        let e = compile(&lab(), &ports()).unwrap();
        let vpc = topology::numeric_id("vpc-a");
        let key = EniAddressKey {
            vpc_id: vpc,
            addr: [10, 0, 1, 10],
        };
        assert_eq!(e.eni_by_address[&key].ifindex, 7);
        assert_eq!(e.eni_by_address.len(), 2);
    }

    #[test]
    fn compile_is_deterministic_and_diff_is_minimal() {
        let a = compile(&lab(), &ports()).unwrap();
        assert_eq!(a, compile(&lab(), &ports()).unwrap());
        assert!(diff_routes(&a.routes, &a.routes).is_empty());
        let mut m = lab();
        std::sync::Arc::make_mut(&mut m.route_tables[0].route_entries[0]).destination_cidr_block =
            "192.168.0.0/24".parse().unwrap();
        let b = compile(&m, &ports()).unwrap();
        let d = diff_routes(&a.routes, &b.routes);
        assert_eq!(d.upserts.len(), 1);
        assert_eq!(d.removals.len(), 1);
        assert!(diff(&a.eni_by_port, &b.eni_by_port).is_empty());
    }

    #[test]
    fn missing_port_is_an_error() {
        let err = compile(&lab(), &BTreeMap::new()).unwrap_err();
        assert!(matches!(err, CompileError::MissingPort(_)));
    }

    #[test]
    fn ids_whose_hashes_collide_get_numbers_of_their_own() {
        // Two route table ids with the same hash, found by search.
        let mut seen = std::collections::HashMap::new();
        let (a, b) = (0u32..)
            .find_map(|n| {
                let id = format!("vtb-{n}");
                seen.insert(crate::model::hashed_id(&id), id.clone())
                    .map(|other| (other, id))
            })
            .unwrap();
        let mut model = lab().with_system_route_tables();
        let vpc_id = model.vpcs[0].id.clone();
        for id in [&a, &b] {
            model.route_tables.push(crate::model::RouteTable {
                id: id.clone(),
                vpc_id: vpc_id.clone(),
                ..model.route_tables[0].clone()
            });
            model.route_tables.last_mut().unwrap().route_table_type =
                crate::model::RouteTableType::Custom;
        }
        let ports = ports();
        assert!(
            matches!(
                compile(&model, &ports),
                Err(CompileError::IdCollision { .. })
            ),
            "hashed ids collide"
        );
        model.allocate_numeric_ids();
        let (na, nb) = (model.numeric_id(&a), model.numeric_id(&b));
        assert_ne!(na, nb);
        compile(&model, &ports).expect("allocated numbers never collide");
        // Numbers stay with their ids; a removed id's number is forgotten.
        let before = model.numeric_ids.clone();
        model.route_tables.retain(|t| t.id != a);
        model.allocate_numeric_ids();
        assert_eq!(model.numeric_id(&b), nb);
        assert!(!model.numeric_ids.contains_key(&a));
        assert_eq!(model.numeric_ids.len(), before.len() - 1);
    }

    /// The lab with prefix list `pl-1` (`blocks`) routed by vtb-custom to
    /// the appliance i-fw.
    fn lab_with_prefix_list(blocks: &[&str]) -> Model {
        let mut m = lab();
        m.prefix_lists.push(model::PrefixList {
            id: "pl-1".into(),
            name: None,
            max_entries: 10,
            entries: blocks
                .iter()
                .map(|b| model::PrefixListEntry {
                    cidr: b.parse().unwrap(),
                    description: String::new(),
                })
                .collect(),
            meta: Default::default(),
        });
        let t = m
            .route_tables
            .iter_mut()
            .find(|t| t.id == "vtb-custom")
            .unwrap();
        t.route_entries.push(std::sync::Arc::new(model::RouteEntry {
            id: "rte-pl".into(),
            name: None,
            destination_cidr_block: model::PREFIX_LIST_DESTINATION,
            destination_prefix_list_id: Some("pl-1".into()),
            next_hop_type: NextHopType::Instance,
            next_hop_id: "i-fw".into(),
            meta: Default::default(),
        }));
        m
    }

    #[test]
    fn rt_1_prefix_list_destination_compiles_to_one_route_per_block() {
        let m = lab_with_prefix_list(&["172.16.0.0/24", "172.16.8.0/21"]);
        crate::validate::validate(&m).unwrap();
        let e = compile(&m, &ports()).unwrap();
        let table = topology::numeric_id("vtb-custom");
        for block in ["172.16.0.0/24", "172.16.8.0/21"] {
            let hop = e.routes[&route_key(table, &block.parse().unwrap())];
            assert_eq!(hop.kind, NextHopKind::Eni as u32);
            assert_eq!(hop.egress.ifindex, 9);
        }
        // 2 tables x 2 vSwitches + 1 custom entry + 2 blocks of the list.
        assert_eq!(e.routes.len(), 7);
        // The placeholder destination is never a route.
        assert!(
            !e.routes
                .contains_key(&route_key(table, &model::PREFIX_LIST_DESTINATION))
        );
    }

    #[test]
    fn rt_1_gateway_endpoint_route_compiles_the_system_list_to_the_endpoint() {
        let mut m = lab();
        m.gateway_endpoints.push(model::GatewayEndpoint {
            id: "vpce-1".into(),
            vpc_id: "vpc-a".into(),
            service_name: "com.aliyun.cn-hangzhou.oss".into(),
            name: None,
            policy_document: None,
            route_table_ids: vec!["vtb-custom".into()],
            source_ip: None,
            meta: Default::default(),
        });
        let t = m
            .route_tables
            .iter_mut()
            .find(|t| t.id == "vtb-custom")
            .unwrap();
        t.route_entries.push(std::sync::Arc::new(model::RouteEntry {
            id: "rte-gwe".into(),
            name: None,
            destination_cidr_block: model::PREFIX_LIST_DESTINATION,
            destination_prefix_list_id: Some(model::CloudServices::object_storage_prefix_list_id(
                "cn-hangzhou",
            )),
            next_hop_type: NextHopType::GatewayEndpoint,
            next_hop_id: "vpce-1".into(),
            meta: Default::default(),
        }));
        crate::validate::validate(&m).unwrap();
        let e = compile(&m, &ports()).unwrap();
        let table = topology::numeric_id("vtb-custom");
        for block in &m.router.services.object_storage_cidrs {
            let hop = e.routes[&route_key(table, block)];
            assert_eq!(hop.kind, NextHopKind::GatewayEndpoint as u32);
            assert_eq!(hop.gateway_id, m.numeric_id("vpce-1"));
            assert_eq!(
                m.gateway_endpoint_by_number(hop.gateway_id)
                    .map(|g| g.id.as_str()),
                Some("vpce-1")
            );
        }
    }

    #[test]
    fn rt_1_a_changed_list_is_a_new_table_the_enis_switch_to_at_once() {
        let old = lab_with_prefix_list(&["172.16.0.0/24", "172.16.1.0/24"]);
        let mut new = lab_with_prefix_list(&["172.16.1.0/24", "172.16.2.0/24"]);
        // What ModifyVpcPrefixList does to every table routing the list.
        new.route_tables
            .iter_mut()
            .find(|t| t.id == "vtb-custom")
            .unwrap()
            .generation = 1;
        let (a, b) = (
            compile(&old, &ports()).unwrap(),
            compile(&new, &ports()).unwrap(),
        );
        let old_table = topology::numeric_id("vtb-custom");
        let new_table = new.numeric_id("vtb-custom#1");
        assert_ne!(old_table, new_table);
        let routes = diff_routes(&a.routes, &b.routes);
        // The datapath writes route upserts, then the ENIs, then the route
        // removals (Datapath::write). Upserts only add the new table, whole:
        // nothing an ENI routes by before the switch changes.
        assert!(
            routes
                .upserts
                .iter()
                .all(|((_, k), _)| k.route_table_id == new_table)
        );
        let upserted: BTreeSet<_> = routes.upserts.iter().map(|(k, _)| *k).collect();
        let wanted: BTreeSet<_> = b
            .routes
            .keys()
            .filter(|(_, k)| k.route_table_id == new_table)
            .copied()
            .collect();
        assert_eq!(upserted, wanted, "the new table is written whole");
        assert!(wanted.contains(&route_key(new_table, &"172.16.2.0/24".parse().unwrap())));
        assert!(!wanted.contains(&route_key(new_table, &"172.16.0.0/24".parse().unwrap())));
        // The switch: one ENI write each.
        let enis = diff(&a.eni_by_port, &b.eni_by_port);
        assert_eq!(enis.upserts.len(), 1);
        assert_eq!(enis.upserts[0].0, 9, "i-fw's port, on vsw-2 (vtb-custom)");
        assert_eq!(a.eni_by_port[&9].route_table_id, old_table);
        assert_eq!(enis.upserts[0].1.route_table_id, new_table);
        // Removals only take the old table, after the switch.
        let removed: BTreeSet<_> = routes.removals.iter().copied().collect();
        let old_keys: BTreeSet<_> = a
            .routes
            .keys()
            .filter(|(_, k)| k.route_table_id == old_table)
            .copied()
            .collect();
        assert_eq!(removed, old_keys, "the old table goes whole");
    }

    fn with_endpoints(ids: &[&str]) -> Model {
        let mut m = lab();
        for id in ids {
            m.gateway_endpoints.push(model::GatewayEndpoint {
                id: id.to_string(),
                vpc_id: "vpc-a".into(),
                service_name: "com.aliyun.cn-hangzhou.oss".into(),
                name: None,
                policy_document: None,
                route_table_ids: Vec::new(),
                source_ip: None,
                meta: Default::default(),
            });
        }
        m
    }

    #[test]
    fn each_endpoint_gets_its_own_stable_source_in_the_block() {
        let m = with_endpoints(&["vpce-1", "vpce-2", "vpce-3"]);
        let block = m.router.services.endpoint_source_block;
        let a = endpoint_sources(&m);
        assert_eq!(a.len(), 3);
        let distinct: BTreeSet<_> = a.values().collect();
        assert_eq!(distinct.len(), 3, "one address each: {a:?}");
        for ip in a.values() {
            assert!(block.contains(ip), "{ip} in {block}");
            assert_ne!(*ip, block.network());
            assert_ne!(*ip, block.broadcast());
        }
        // Another endpoint added (or one removed) leaves the others' alone.
        let more = endpoint_sources(&with_endpoints(&["vpce-1", "vpce-2", "vpce-3", "vpce-4"]));
        let fewer = endpoint_sources(&with_endpoints(&["vpce-1", "vpce-3"]));
        for id in ["vpce-1", "vpce-3"] {
            assert_eq!(a[id], more[id]);
            assert_eq!(a[id], fewer[id]);
        }
        // Small blocks: as many endpoints as host addresses.
        let mut tiny = with_endpoints(&["vpce-1", "vpce-2"]);
        tiny.router.services.endpoint_source_block = "100.127.0.0/30".parse().unwrap();
        let t = endpoint_sources(&tiny);
        assert_eq!(t.len(), 2, "a /30 has two hosts: {t:?}");
        tiny.router.services.endpoint_source_block = "100.127.0.0/31".parse().unwrap();
        assert!(
            endpoint_sources(&tiny).is_empty(),
            "a /31 has no host address"
        );
    }

    #[test]
    fn an_endpoint_keeps_its_allocated_source_when_one_it_collided_with_goes() {
        // Two endpoints whose ids hash to the same host of a block of two:
        // the second takes the other host.
        let slot = |id: &str| model::hashed_id(id) % 2;
        let second = (2..)
            .map(|n| format!("vpce-{n}"))
            .find(|id| slot(id) == slot("vpce-1"))
            .unwrap();
        let mut m = with_endpoints(&["vpce-1", &second]);
        m.router.services.endpoint_source_block = "100.127.0.0/30".parse().unwrap();
        m.allocate_numeric_ids();
        let given: Vec<_> = m.gateway_endpoints.iter().map(|e| e.source_ip).collect();
        assert!(given.iter().all(Option::is_some), "both allocated: {given:?}");
        assert_ne!(given[0], given[1]);
        // The first goes; the second keeps its address (kept in the model,
        // not derived again from its id's hash).
        m.gateway_endpoints.remove(0);
        m.allocate_numeric_ids();
        assert_eq!(m.gateway_endpoints[0].source_ip, given[1]);
        assert_eq!(endpoint_sources(&m)[&second], given[1].unwrap());
        // Kept across the store's round trip.
        let back: model::Model = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.gateway_endpoints[0].source_ip, given[1]);
        // An address outside a changed block is given again, in the block.
        m.router.services.endpoint_source_block = "100.126.0.0/24".parse().unwrap();
        m.allocate_numeric_ids();
        let now = m.gateway_endpoints[0].source_ip.unwrap();
        assert!(m.router.services.endpoint_source_block.contains(&now), "{now}");
    }

    #[test]
    fn gateway_endpoints_and_the_services_port_are_compiled() {
        let m = with_endpoints(&["vpce-1"]);
        let mut p = ports();
        p.insert(topology::SERVICES_PORT.to_string(), 11);
        let e = compile(&m, &p).unwrap();
        let source = endpoint_sources(&m)["vpce-1"];
        assert_eq!(
            e.gateway_endpoints[&m.numeric_id("vpce-1")],
            GatewayEndpointTarget {
                source_ip: source.octets(),
                vpc_id: m.numeric_id("vpc-a"),
            }
        );
        let svc = e.services.expect("the services port");
        assert_eq!(svc.ifindex, 11);
        assert_eq!(svc.dst_mac, topology::SERVICES_MAC);
        assert_eq!(e.eni_by_port[&11].flags, ENI_FLAG_SERVICES | ENI_FLAG_PORT);
        // Without the port: the endpoints, no services egress.
        let e = compile(&m, &ports()).unwrap();
        assert!(e.services.is_none());
        assert_eq!(e.gateway_endpoints.len(), 1);
    }

    /// Compiling (and validating) change after change with the memos gives
    /// exactly what a full compile (validate) of each model gives: random
    /// entries added, removed and edited, vSwitches, instances and a table
    /// generation changing the tables' context.
    #[test]
    fn an_unchanged_rule_set_is_not_compiled_again_and_a_changed_one_is() {
        // The shared lab, i-1 in one security group.
        let mut m = lab();
        m.security_groups = toml::from_str::<Model>(
            r#"
            [[security_group]]
            id = "sg-1"
            vpc_id = "vpc-a"
            [[security_group.rule]]
            id = "sgr-ssh"
            direction = "ingress"
            ip_protocol = "tcp"
            port_range = [22, 22]
            peer = { cidr = "198.51.100.0/24" }
            priority = 1
            "#,
        )
        .unwrap()
        .security_groups;
        m.instances[0].security_group_ids = vec!["sg-1".into()];
        let ports = ports();
        let mut memo = RouteMemo::default();
        let first = compile_with(&m, &ports, &mut memo).unwrap();
        assert_eq!(first, compile(&m, &ports).unwrap());
        let kept: Vec<Arc<CompiledPolicy>> = memo.policies.values().cloned().collect();
        assert_eq!(kept.len(), 2, "the group's ingress and egress policies");
        // A change elsewhere (a route table's generation): the same compiled
        // policies, not compiled again.
        m.route_tables[0].generation += 1;
        let built: Vec<Arc<policy::Policy>> = memo.enis.values().map(|e| e.ingress.policy.clone()).collect();
        assert_eq!(built.len(), 1, "the instance's policies kept");
        let again = compile_with(&m, &ports, &mut memo).unwrap();
        assert_eq!(again, compile(&m, &ports).unwrap());
        for c in &kept {
            assert!(memo.policies.values().any(|k| Arc::ptr_eq(k, c)), "policy {} reused", c.id);
        }
        // The instance's groups kept their rule lists: its policies were not
        // built again, and their entries are the same (the map diff skips
        // them).
        assert!(memo.enis.values().all(|e| built.iter().any(|b| Arc::ptr_eq(b, &e.ingress.policy))), "policy built again");
        assert!(again.policies.by_policy.values().all(|t| first.policies.by_policy.values().any(|f| Arc::ptr_eq(f, t))));
        let (a, p) = diff_policies(&first.policies, &again.policies);
        assert!(a.is_empty() && p.is_empty());
        // A rule changed: compiled again, as a full compile does, and the
        // policy the rule set had before is forgotten.
        m.security_groups[0].rules[0].port_range = (2222, 2222);
        let changed = compile_with(&m, &ports, &mut memo).unwrap();
        assert_eq!(changed, compile(&m, &ports).unwrap());
        assert_ne!(changed.policies, first.policies);
        assert_eq!(memo.policies.len(), 2);
        assert!(memo.policies.values().any(|k| kept.iter().any(|c| Arc::ptr_eq(k, c))), "egress unchanged, reused");
        assert!(!memo.policies.values().all(|k| kept.iter().any(|c| Arc::ptr_eq(k, c))), "ingress compiled again");
    }

    #[test]
    fn incremental_compile_and_validate_equal_full_on_random_changes() {
        let mut rng = fastrand::Rng::with_seed(16);
        let mut m = lab();
        m.route_tables.push(model::RouteTable {
            id: "vtb-second".into(),
            vpc_id: "vpc-a".into(),
            name: None,
            route_table_type: model::RouteTableType::Custom,
            associate_type: model::AssociateType::VSwitch,
            generation: 0,
            route_entries: Default::default(),
            meta: Default::default(),
        });
        let mut ports = ports();
        ports.insert("eni-2".into(), 11);
        let mut memo = RouteMemo::default();
        let mut validator = crate::validate::Validator::default();
        let hops = ["i-fw", "i-1", "i-2", "i-none"];
        let (mut hits, mut errors) = (0, 0);
        let mut last = Routes::default();
        for step in 0..600 {
            let custom: Vec<usize> = (0..m.route_tables.len())
                .filter(|&i| m.route_tables[i].id.starts_with("vtb-") && m.route_tables[i].id != "vtb-a")
                .collect();
            let t = custom[rng.usize(..custom.len())];
            let entries = &mut m.route_tables[t].route_entries;
            match rng.u8(..10) {
                0..=2 => entries.push(Arc::new(model::RouteEntry {
                    id: String::new(),
                    name: None,
                    destination_cidr_block: format!("20.0.{}.0/24", rng.u8(..200)).parse().unwrap(),
                    destination_prefix_list_id: None,
                    next_hop_type: NextHopType::Instance,
                    next_hop_id: hops[if rng.u8(..20) == 0 { 3 } else { rng.usize(..3) }].into(),
                    meta: Default::default(),
                })),
                3..=5 if !entries.is_empty() => {
                    let i = rng.usize(..entries.len());
                    entries.remove(i);
                }
                6 if !entries.is_empty() => {
                    let i = rng.usize(..entries.len());
                    Arc::make_mut(&mut entries[i]).next_hop_id = hops[rng.usize(..hops.len())].into();
                }
                7 => match m.vswitches.iter().position(|v| v.id == "vsw-3") {
                    Some(i) => {
                        m.vswitches.remove(i);
                    }
                    None => {
                        let mut v = m.vswitches[0].clone();
                        v.id = "vsw-3".into();
                        v.cidr_block = "10.0.3.0/24".parse().unwrap();
                        m.vswitches.push(v);
                    }
                },
                8 => match m.instances.iter().position(|i| i.id == "i-2") {
                    Some(i) => {
                        m.instances.remove(i);
                    }
                    None => {
                        let mut i = m.instances[0].clone();
                        i.id = "i-2".into();
                        i.vswitch_id = "vsw-2".into();
                        i.private_ip_address = Some("10.0.2.20".parse().unwrap());
                        m.instances.push(i);
                    }
                },
                _ => m.route_tables[t].generation += 1,
            }
            let full = compile(&m, &ports);
            let incremental = compile_with(&m, &ports, &mut memo);
            assert_eq!(incremental, full, "compile, step {step}");
            // The route diff from the last compile taken from the change
            // the merge knows is the one a walk of the tables finds.
            if let Ok(now) = &incremental {
                let sorted = |mut d: Diff<RouteTrieKey, NextHop>| {
                    d.upserts.sort_by(|a, b| a.0.cmp(&b.0));
                    d.removals.sort();
                    d
                };
                let mut walked = now.routes.clone();
                walked.forget_changes();
                assert_eq!(
                    sorted(diff_routes(&last, &now.routes)),
                    sorted(diff_routes(&last, &walked)),
                    "route diff, step {step}"
                );
                last = now.routes.clone();
                last.forget_changes();
            }
            let full = crate::validate::validate(&m);
            let incremental = validator.validate(&m);
            assert_eq!(incremental, full, "validate, step {step}");
            errors += full.is_err() as usize;
            hits += memo.tables();
        }
        // Both outcomes were seen, and the memos were in use: tables
        // skipped, compiled and checked by their change alone.
        assert!(errors > 0 && errors < 600, "{errors} invalid models of 600");
        assert!(hits > 0);
        assert!(memo.merged() > 50, "{} tables merged", memo.merged());
        assert!(validator.checked_by_change() > 50, "{} tables checked by change", validator.checked_by_change());
    }
}
