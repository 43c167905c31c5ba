//! Network load balancers -> `LB_LISTENERS` and `LB_RINGS` (pure): each
//! running listener's address in each zone of its load balancer, and that
//! address's Maglev ring of the server group's backends, weighted. The
//! ENIs of a VPC with listeners are flagged to look listeners and replies
//! up. An internet-facing
//! load balancer's public address in each zone (`PUBLIC_ADDRESSES`) leads
//! to its listeners there.
//!
//! Health checks: the servers the daemon found unavailable (an input beside
//! the model, never stored) are left out of the rings; each VPC whose
//! backends are checked gets a health-check port ([`health_ports`]).
use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
    sync::Arc,
};

use vpc_common::{
    BACKEND_FLAG_PRESENT, Backend, ENI_FLAG_HEALTH_CHECK, ENI_FLAG_LB_BACKEND, ENI_FLAG_LB_CLIENT,
    ENI_FLAG_PORT, Egress, Eni, EniAddressKey, HEALTH_CHECK_ADDR,
    HEALTH_CHECK_ROUTE_TABLE, LB_RING_SIZE, NextHop, NextHopKind, LISTENER_FLAG_SECURITY_GROUPS, LISTENER_FLAG_SOURCE_HASH, Listener, ListenerKey,
    MAX_LB_RINGS, PUBLIC_KIND_LB, PublicAddress,
};

use super::{CompileError, MapEntries, Policies, PolicyKey, groups_policies, topology};
use crate::model::{
    self, ListenerStatus, Model, NlbAddressType, RouteTableType, Scheduler, ServerGroup,
};

/// A server of a server group as health checks know it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerKey {
    /// ServerGroupId.
    pub group_id: String,
    /// ServerIp.
    pub ip: Ipv4Addr,
    /// Port.
    pub port: u16,
}

/// The servers the health checks found unavailable: left out of the rings.
pub type Unavailable = BTreeSet<ServerKey>;

/// The server groups whose servers the daemon checks: health check enabled
/// and sent to by a running listener of a load balancer of the group's VPC.
pub fn health_checked_groups(model: &Model) -> Vec<&ServerGroup> {
    // (Linear in the model: every compile asks.)
    let vpc_of: BTreeMap<&str, &str> = model
        .load_balancers
        .iter()
        .map(|lb| (lb.id.as_str(), lb.vpc_id.as_str()))
        .collect();
    let sent_to: BTreeSet<(&str, &str)> = model
        .listeners
        .iter()
        .filter(|l| l.status == ListenerStatus::Running)
        .filter_map(|l| Some((l.server_group_id.as_str(), *vpc_of.get(l.load_balancer_id.as_str())?)))
        .collect();
    model
        .server_groups
        .iter()
        .filter(|g| g.health_check.enabled && sent_to.contains(&(g.id.as_str(), g.vpc_id.as_str())))
        .collect()
}

/// The VPCs that need a health-check port: those of
/// [`health_checked_groups`] with servers.
pub fn health_check_vpcs(model: &Model) -> BTreeSet<String> {
    health_checked_groups(model)
        .into_iter()
        .filter(|g| !g.servers.is_empty())
        .map(|g| g.vpc_id.clone())
        .collect()
}

/// The VPCs that get a services port (docs/dns.md): those of
/// [`health_check_vpcs`], and those with an instance or an interface
/// endpoint (their resolver is there). A VPC with neither has none (no
/// namespace for an empty VPC).
pub fn services_vpcs(model: &Model) -> BTreeSet<String> {
    let mut out = health_check_vpcs(model);
    for i in &model.instances {
        if let Some(v) = model.vswitch(&i.vswitch_id) {
            out.insert(v.vpc_id.clone());
        }
    }
    out.extend(model.vpc_endpoints.iter().map(|e| e.vpc_id.clone()));
    out.retain(|v| model.vpcs.iter().any(|m| &m.id == v));
    out
}

/// The services port of each VPC that has one in `ports` (the "health-check
/// port"; it holds the VPC's resolver too): an ENI of the VPC holding
/// [`HEALTH_CHECK_ADDR`] and the DNS addresses, routed by the VPC's system
/// route table, in no vSwitch (a backend's network ACL judges its checks),
/// in no security group (the backends' judge them), without the source
/// check (it answers from all of its addresses; the router made it).
pub(super) fn health_ports(
    model: &Model,
    ports: &BTreeMap<String, u32>,
    vpc_ids: &BTreeMap<&str, u32>,
    table_ids: &BTreeMap<&str, u32>,
    out: &mut MapEntries,
) {
    for vpc in services_vpcs(model) {
        let eni_id = topology::health_check_eni(&vpc);
        let (Some(&ifindex), Some(&vpc_id)) = (ports.get(&eni_id), vpc_ids.get(vpc.as_str())) else {
            continue;
        };
        let Some(table) = model
            .route_tables
            .iter()
            .find(|t| t.vpc_id == vpc && t.route_table_type == RouteTableType::System)
            .and_then(|t| table_ids.get(t.id.as_str()))
        else {
            continue;
        };
        let mac = topology::eni_mac(&eni_id);
        let net = ipnet::Ipv4Net::new(topology::HEALTH_CHECK_IP, topology::HEALTH_CHECK_PREFIX_LEN)
            .expect("HEALTH_CHECK_PREFIX_LEN is a valid prefix length");
        out.eni_by_port.insert(
            ifindex,
            Eni {
                vpc_id,
                vswitch_id: 0,
                route_table_id: *table,
                flags: ENI_FLAG_PORT | ENI_FLAG_HEALTH_CHECK,
                ip: HEALTH_CHECK_ADDR,
                gateway_ip: topology::HEALTH_CHECK_GATEWAY.octets(),
                vswitch_addr: net.network().octets(),
                vswitch_mask: net.netmask().octets(),
                mac,
                router_mac: topology::ROUTER_MAC,
                ..Eni::default()
            },
        );
        // Replies to the checks and queries to the resolver: the routes of
        // their own table (the datapath looks 100.100.0.0/16 up there),
        // local, one per address.
        let local = NextHop { kind: NextHopKind::Local as u32, egress: Egress::default(), gateway_id: 0 };
        let mut routes = Vec::new();
        for ip in std::iter::once(topology::HEALTH_CHECK_IP).chain(super::dns::DNS_ADDRS) {
            out.eni_by_address.insert(
                EniAddressKey { vpc_id, addr: ip.octets() },
                Egress { ifindex, dst_mac: mac, src_mac: topology::ROUTER_MAC },
            );
            routes.push((super::route_key(HEALTH_CHECK_ROUTE_TABLE, &ipnet::Ipv4Net::from(ip)), local));
        }
        out.routes.set_table(HEALTH_CHECK_ROUTE_TABLE, Arc::new(routes));
    }
}

/// One ring: `LB_RING_SIZE` backends (shared: rings are compared, not
/// copied, between compiles).
pub type Ring = Arc<Vec<Backend>>;

/// A backend and its weight, as the ring is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weighted {
    /// The backend.
    pub backend: Backend,
    /// Its weight (0: none of the ring).
    pub weight: u32,
}

/// FNV-1a of `bytes` from `seed`: the backends' places in the ring follow
/// from their address and port alone, so the same backend keeps them
/// whatever the others do.
fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The Maglev lookup table (Eisenbud et al., NSDI 2016) of `backends`, of
/// `size` entries (a prime): each backend walks its own permutation of the
/// positions and takes the next free one in turn, as often as its weight
/// says (a backend of half the greatest weight takes a position every other
/// turn). Adding or removing one of N backends moves about 1/N of the
/// positions. No backend of positive weight: every entry empty.
pub fn maglev(backends: &[Weighted], size: u32) -> Vec<Backend> {
    let m = size as u64;
    let live: Vec<&Weighted> = backends.iter().filter(|b| b.weight > 0).collect();
    let Some(max_weight) = live.iter().map(|b| b.weight).max() else {
        return vec![Backend::default(); size as usize];
    };
    let perm: Vec<(u64, u64)> = live
        .iter()
        .map(|b| {
            let key = [&b.backend.addr[..], &b.backend.port[..]].concat();
            let offset = fnv(0xcbf2_9ce4_8422_2325, &key) % m;
            let skip = fnv(0x8422_2325_cbf2_9ce4, &key) % (m - 1) + 1;
            (offset, skip)
        })
        .collect();
    let mut next = vec![0u64; live.len()];
    let mut credit = vec![0u64; live.len()];
    let mut table: Vec<Option<usize>> = vec![None; size as usize];
    let mut filled = 0u64;
    while filled < m {
        for (i, b) in live.iter().enumerate() {
            credit[i] += u64::from(b.weight);
            while credit[i] >= u64::from(max_weight) && filled < m {
                credit[i] -= u64::from(max_weight);
                let (offset, skip) = perm[i];
                loop {
                    let c = ((offset + next[i] * skip) % m) as usize;
                    next[i] += 1;
                    if table[c].is_none() {
                        table[c] = Some(i);
                        filled += 1;
                        break;
                    }
                }
            }
        }
    }
    table
        .into_iter()
        .map(|i| live[i.expect("every position filled")].backend)
        .collect()
}

/// Compiles the running listeners of `model` into `out`, and flags its
/// ENIs. `vpc_ids` maps VPC ids to their numbers. The servers in
/// `unavailable` take no position in a ring, unless none of the ring's
/// would be left: then all of them keep theirs (fail open, as AWS's and the
/// cloud's NLBs do when every backend fails its checks).
pub(super) fn compile(
    model: &Model,
    vpc_ids: &BTreeMap<&str, u32>,
    members: &BTreeMap<String, Vec<ipnet::Ipv4Net>>,
    policies: &mut Policies,
    unavailable: &Unavailable,
    out: &mut MapEntries,
) -> Result<(), CompileError> {
    let mut client_vpcs = BTreeSet::new();
    // Rings a model read from a file (no allocator run) lacks take the
    // lowest free slots, in order.
    let mut slots = model.lb_ring_slots.clone();
    let taken: BTreeSet<u32> = slots.values().copied().collect();
    let mut free = (0..MAX_LB_RINGS).filter(move |s| !taken.contains(s));
    for l in model.listeners.iter().filter(|l| l.status == ListenerStatus::Running) {
        let (Some(lb), Some(group)) = (
            model.load_balancer(&l.load_balancer_id),
            model.server_group(&l.server_group_id),
        ) else {
            continue;
        };
        let Some(&vpc_id) = vpc_ids.get(lb.vpc_id.as_str()) else {
            continue;
        };
        let (mut flags, mut sg_ingress) = (0, 0);
        if !lb.security_group_ids.is_empty() {
            let (ingress, _) = groups_policies(model, &lb.security_group_ids, members);
            sg_ingress = policies.install(&PolicyKey::of(ingress), out)?;
            flags |= LISTENER_FLAG_SECURITY_GROUPS;
        }
        if group.scheduler == Scheduler::Sch {
            flags |= LISTENER_FLAG_SOURCE_HASH;
        }
        for z in &lb.zone_mappings {
            let name = Model::lb_ring_name(&l.id, &z.zone_id);
            let ring = match slots.get(&name) {
                Some(s) => *s,
                None => {
                    let s = free.next().ok_or(CompileError::Capacity {
                        map: "LB_RINGS",
                        entries: model.lb_ring_names().len(),
                        max: MAX_LB_RINGS as usize,
                    })?;
                    slots.insert(name, s);
                    s
                }
            };
            let servers = group.servers.iter().filter(|s| {
                lb.cross_zone_enabled || s.zone_id.is_empty() || s.zone_id == z.zone_id
            });
            let mut weighted: Vec<(Weighted, bool)> = servers
                .map(|s| {
                    let down = !unavailable.is_empty()
                        && unavailable.contains(&ServerKey {
                            group_id: group.id.clone(),
                            ip: s.server_ip,
                            port: s.port,
                        });
                    let w = Weighted {
                        backend: backend_of(s),
                        // Rr: every server alike; the others by weight.
                        weight: if group.scheduler == Scheduler::Rr { u32::from(s.weight > 0) } else { s.weight },
                    };
                    (w, down)
                })
                .collect();
            if weighted.iter().any(|(w, down)| w.weight > 0 && !down) {
                for (w, down) in &mut weighted {
                    if *down {
                        w.weight = 0;
                    }
                }
            }
            let weighted: Vec<Weighted> = weighted.into_iter().map(|(w, _)| w).collect();
            out.lb_rings.insert(ring, Arc::new(maglev(&weighted, LB_RING_SIZE)));
            out.lb_listeners.insert(
                ListenerKey {
                    vpc_id,
                    addr: z.private_ipv4.octets(),
                    port: l.port.to_be_bytes(),
                    proto: l.protocol.ip_protocol(),
                    pad: 0,
                },
                Listener {
                    listener_id: model.numeric_id(&l.id),
                    ring,
                    sg_ingress,
                    flags,
                    drain_s: if group.connection_drain.enabled { group.connection_drain.timeout_s } else { 0 },
                },
            );
            client_vpcs.insert(vpc_id);
        }
    }
    // Internet-facing load balancers: each zone's public address leads to
    // the listeners of its address in the zone.
    for lb in model.load_balancers.iter().filter(|lb| lb.address_type == NlbAddressType::Internet) {
        let Some(&vpc_id) = vpc_ids.get(lb.vpc_id.as_str()) else {
            continue;
        };
        for z in &lb.zone_mappings {
            if let Some(public) = z.public_ipv4 {
                out.public_addresses.insert(
                    public.octets(),
                    PublicAddress {
                        kind: PUBLIC_KIND_LB,
                        flags: 0,
                        vpc_id,
                        gateway_route_table_id: 0,
                        private_ip: z.private_ipv4.octets(),
                    },
                );
            }
        }
    }
    // Every ENI of a VPC with listeners looks replies up, not only the
    // backends of today's rings: a backend removed or failing its health
    // checks keeps answering its connections while they drain.
    for eni in out.eni_by_port.values_mut() {
        if client_vpcs.contains(&eni.vpc_id) {
            eni.flags |= ENI_FLAG_LB_CLIENT | ENI_FLAG_LB_BACKEND;
        }
    }
    Ok(())
}

/// The ring entry of a server.
fn backend_of(s: &model::Server) -> Backend {
    Backend { addr: s.server_ip.octets(), port: s.port.to_be_bytes(), flags: BACKEND_FLAG_PRESENT }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{compile_with_health, health_check_vpcs};
    use vpc_common::{lb_hash, lb_ring_index};

    fn backend(n: u8) -> Backend {
        Backend { addr: [10, 0, 2, n], port: 8080u16.to_be_bytes(), flags: BACKEND_FLAG_PRESENT }
    }

    fn weighted(ns: &[u8], weight: u32) -> Vec<Weighted> {
        ns.iter().map(|n| Weighted { backend: backend(*n), weight }).collect()
    }

    fn shares(ring: &[Backend]) -> BTreeMap<[u8; 4], usize> {
        let mut m = BTreeMap::new();
        for b in ring {
            *m.entry(b.addr).or_default() += 1;
        }
        m
    }

    /// The backend the datapath picks for each of `n` client connections.
    fn picks(ring: &[Backend], n: u16) -> Vec<[u8; 4]> {
        (0..n)
            .map(|i| {
                let h = lb_hash([10, 0, 1, (i % 200) as u8], [10, 0, 3, 5], 10_000 + i, 80, 6);
                ring[(lb_ring_index(0, h)) as usize].addr
            })
            .collect()
    }

    /// Two backends (type Ip) behind a listener, a client instance.
    const HC_MODEL: &str = r#"
        [router]
        namespace = "rt-hc"
        [[vpc]]
        id = "vpc-a"
        cidr_block = "10.0.0.0/16"
        [[vswitch]]
        id = "vsw-1"
        vpc_id = "vpc-a"
        cidr_block = "10.0.1.0/24"
        zone_id = "zone-a"
        [[instance]]
        id = "i-client"
        vswitch_id = "vsw-1"
        private_ip_address = "10.0.1.10"
        [[load_balancer]]
        id = "nlb-1"
        vpc_id = "vpc-a"
        [[load_balancer.zone_mapping]]
        zone_id = "zone-a"
        vswitch_id = "vsw-1"
        private_ipv4 = "10.0.1.5"
        [[server_group]]
        id = "sgp-1"
        vpc_id = "vpc-a"
        [[server_group.server]]
        server_id = "10.0.1.20"
        server_type = "Ip"
        server_ip = "10.0.1.20"
        port = 80
        [[server_group.server]]
        server_id = "10.0.1.21"
        server_type = "Ip"
        server_ip = "10.0.1.21"
        port = 80
        [[listener]]
        id = "lsn-1"
        load_balancer_id = "nlb-1"
        protocol = "TCP"
        port = 80
        server_group_id = "sgp-1"
    "#;

    fn hc_model() -> Model {
        let mut m = Model::from_toml(HC_MODEL).unwrap().with_system_route_tables();
        m.allocate_numeric_ids();
        m
    }

    fn down(ns: &[u8]) -> Unavailable {
        ns.iter()
            .map(|n| ServerKey { group_id: "sgp-1".into(), ip: Ipv4Addr::new(10, 0, 1, *n), port: 80 })
            .collect()
    }

    #[test]
    fn a_vpc_with_checked_backends_gets_a_health_check_port() {
        let m = hc_model();
        assert_eq!(health_check_vpcs(&m).into_iter().collect::<Vec<_>>(), ["vpc-a"]);
        let plan = topology::plan(&m);
        let hc = plan.ports.iter().find(|p| p.eni_id == "hc-vpc-a").expect("a health-check port");
        assert_eq!(hc.instance_id, topology::health_check_namespace("rt-hc", "vpc-a"));
        assert!(hc.instance_id.starts_with("rt-hc-hc-"));
        assert_eq!(hc.address.to_string(), "100.100.0.1/30");
        assert_eq!(hc.gateway, topology::HEALTH_CHECK_GATEWAY);
        let ports: BTreeMap<String, u32> = [("eni-client".to_string(), 3), ("hc-vpc-a".to_string(), 4)].into();
        let out = crate::compile::compile(&m, &ports).unwrap();
        let eni = out.eni_by_port[&4];
        assert_eq!(eni.ip, HEALTH_CHECK_ADDR);
        assert_ne!(eni.flags & ENI_FLAG_HEALTH_CHECK, 0);
        assert_eq!(eni.flags & vpc_common::ENI_FLAG_SECURITY_GROUPS, 0);
        // Routed by the VPC's system table, as the client (in a vSwitch
        // bound to none) is.
        assert_eq!(eni.route_table_id, out.eni_by_port[&3].route_table_id);
        let key = EniAddressKey { vpc_id: eni.vpc_id, addr: HEALTH_CHECK_ADDR };
        assert_eq!(out.eni_by_address[&key].ifindex, 4);
        // The VPC's resolver addresses are the port's too, without the
        // source check (it answers from them).
        for a in crate::compile::dns::DNS_ADDRS {
            assert_eq!(out.eni_by_address[&EniAddressKey { vpc_id: eni.vpc_id, addr: a.octets() }].ifindex, 4);
        }
        assert_eq!(eni.flags & vpc_common::ENI_FLAG_SOURCE_DEST_CHECK, 0);
        assert_eq!(hc.extra_addresses.len(), 2);
        // Health check disabled, or no running listener: no port.
        let mut off = m.clone();
        off.server_groups[0].health_check.enabled = false;
        assert!(health_check_vpcs(&off).is_empty());
        // The port stays for the resolver of the VPC's instance; without
        // instances (nor endpoints), none.
        assert!(topology::plan(&off).ports.iter().any(|p| p.eni_id == "hc-vpc-a"));
        off.instances.clear();
        assert!(!topology::plan(&off).ports.iter().any(|p| p.eni_id == "hc-vpc-a"));
        let mut stopped = m.clone();
        stopped.listeners[0].status = ListenerStatus::Stopped;
        assert!(health_check_vpcs(&stopped).is_empty());
    }

    #[test]
    fn unavailable_servers_leave_the_ring_and_only_their_positions_move() {
        let m = hc_model();
        let ports: BTreeMap<String, u32> = [("eni-client".to_string(), 3)].into();
        let ring = |unavailable: &Unavailable| {
            let out = compile_with_health(&m, &ports, &mut super::super::RouteMemo::default(), unavailable).unwrap();
            let r = out.lb_rings.values().next().unwrap().clone();
            r
        };
        let all = ring(&Unavailable::new());
        assert_eq!(shares(&all).len(), 2);
        let one = ring(&down(&[20]));
        assert_eq!(shares(&one).keys().collect::<Vec<_>>(), [&[10, 0, 1, 21]]);
        // Only the positions of the server gone changed.
        for (a, b) in all.iter().zip(one.iter()) {
            if a.addr != [10, 0, 1, 20] {
                assert_eq!(a, b);
            }
        }
        // Back: the first ring again.
        assert_eq!(ring(&Unavailable::new()), all);
        // None available: every server keeps its place (fail open).
        assert_eq!(ring(&down(&[20, 21])), all);
        // Another group's server of the same address changes nothing.
        let other: Unavailable = [ServerKey { group_id: "sgp-2".into(), ip: Ipv4Addr::new(10, 0, 1, 20), port: 80 }].into();
        assert_eq!(ring(&other), all);
    }

    /// The lab with a load balancer in two zones (vsw-1 in zone-a, vsw-2 in
    /// zone-b) over one server in each zone, cross-zone balancing `cross`.
    fn two_zones(cross: bool) -> Model {
        let mut m = crate::test_fixtures::lab();
        m.vswitches[0].zone_id = "zone-a".into();
        m.vswitches[1].zone_id = "zone-b".into();
        let more: Model = toml::from_str(&format!(
            r#"
            [[load_balancer]]
            id = "nlb-1"
            vpc_id = "vpc-a"
            cross_zone_enabled = {cross}
            [[load_balancer.zone_mapping]]
            zone_id = "zone-a"
            vswitch_id = "vsw-1"
            private_ipv4 = "10.0.1.5"
            [[load_balancer.zone_mapping]]
            zone_id = "zone-b"
            vswitch_id = "vsw-2"
            private_ipv4 = "10.0.2.5"
            [[server_group]]
            id = "sgp-1"
            vpc_id = "vpc-a"
            [[server_group.server]]
            server_id = "i-1"
            server_type = "Ecs"
            server_ip = "10.0.1.10"
            port = 80
            zone_id = "zone-a"
            [[server_group.server]]
            server_id = "10.0.2.9"
            server_type = "Ip"
            server_ip = "10.0.2.9"
            port = 80
            zone_id = "zone-b"
            [[listener]]
            id = "lsn-1"
            load_balancer_id = "nlb-1"
            protocol = "TCP"
            port = 80
            server_group_id = "sgp-1"
            "#
        ))
        .unwrap();
        m.load_balancers = more.load_balancers;
        m.server_groups = more.server_groups;
        m.listeners = more.listeners;
        m.allocate_numeric_ids();
        m
    }

    /// The backends of the ring of the listener address `addr`.
    fn ring_backends(e: &MapEntries, addr: [u8; 4]) -> BTreeSet<[u8; 4]> {
        let l = e.lb_listeners.iter().find(|(k, _)| k.addr == addr).map(|(_, l)| l).unwrap();
        e.lb_rings[&l.ring].iter().map(|b| b.addr).collect()
    }

    #[test]
    fn nlb_cross_zone_balancing_off_keeps_each_zone_address_on_its_zones_servers() {
        let ports: BTreeMap<String, u32> =
            [("eni-1".to_string(), 7), ("eni-fw".to_string(), 9)].into_iter().collect();
        let e = crate::compile::compile(&two_zones(false), &ports).unwrap();
        assert_eq!(ring_backends(&e, [10, 0, 1, 5]), BTreeSet::from([[10, 0, 1, 10]]));
        assert_eq!(ring_backends(&e, [10, 0, 2, 5]), BTreeSet::from([[10, 0, 2, 9]]));
        // On (the cloud's default): every zone's address reaches every server.
        let e = crate::compile::compile(&two_zones(true), &ports).unwrap();
        let both = BTreeSet::from([[10, 0, 1, 10], [10, 0, 2, 9]]);
        assert_eq!(ring_backends(&e, [10, 0, 1, 5]), both);
        assert_eq!(ring_backends(&e, [10, 0, 2, 5]), both);
    }

    #[test]
    fn maglev_shares_the_ring_by_weight() {
        let ring = maglev(&weighted(&[1, 2, 3, 4], 100), LB_RING_SIZE);
        assert_eq!(ring.len(), LB_RING_SIZE as usize);
        let even = LB_RING_SIZE as f64 / 4.0;
        for (_, n) in shares(&ring) {
            assert!((n as f64 - even).abs() / even < 0.01, "{n} of {even}");
        }
        // Weights 100 and 50: two thirds and one third.
        let mut w = weighted(&[1], 100);
        w.extend(weighted(&[2], 50));
        let s = shares(&maglev(&w, LB_RING_SIZE));
        let third = LB_RING_SIZE as f64 / 3.0;
        assert!((s[&[10, 0, 2, 2]] as f64 - third).abs() / third < 0.01, "{s:?}");
        // Weight 0 takes nothing; nobody: every entry empty.
        let mut w = weighted(&[1, 2], 100);
        w.extend(weighted(&[3], 0));
        assert!(!shares(&maglev(&w, LB_RING_SIZE)).contains_key(&[10, 0, 2, 3]));
        assert!(maglev(&[], LB_RING_SIZE).iter().all(|b| b.flags & BACKEND_FLAG_PRESENT == 0));
    }

    #[test]
    fn maglev_moves_only_the_connections_of_a_removed_or_added_backend() {
        let before = maglev(&weighted(&[1, 2, 3, 4, 5, 6, 7, 8], 100), LB_RING_SIZE);
        let after = maglev(&weighted(&[1, 2, 3, 4, 5, 6, 8], 100), LB_RING_SIZE);
        let (a, b) = (picks(&before, 20_000), picks(&after, 20_000));
        let gone = a.iter().filter(|x| **x == [10, 0, 2, 7]).count();
        assert!(gone > 0);
        // Every connection of a remaining backend stays; others move only
        // a little beyond the removed one's (1/N) share.
        let moved = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        let moved_others = a.iter().zip(&b).filter(|(x, y)| **x != [10, 0, 2, 7] && x != y).count();
        assert!(moved_others as f64 / a.len() as f64 <= 0.02, "{moved_others} of others moved");
        assert!(moved as f64 / a.len() as f64 <= 1.0 / 8.0 + 0.02, "{moved} moved");
        // Adding it back restores the first table exactly.
        assert_eq!(maglev(&weighted(&[1, 2, 3, 4, 5, 6, 7, 8], 100), LB_RING_SIZE), before);
    }
}
