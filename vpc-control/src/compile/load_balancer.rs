//! Network load balancers -> `LB_LISTENERS` and `LB_RINGS` (pure): each
//! running listener's address in each zone of its load balancer, and that
//! address's Maglev ring of the server group's backends, weighted. The
//! ENIs of a VPC with listeners are flagged to look listeners and replies
//! up. An internet-facing
//! load balancer's public address in each zone (`PUBLIC_ADDRESSES`) leads
//! to its listeners there.
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use vpc_common::{
    BACKEND_FLAG_PRESENT, Backend, ENI_FLAG_LB_BACKEND, ENI_FLAG_LB_CLIENT, LB_RING_SIZE,
    LISTENER_FLAG_SECURITY_GROUPS, LISTENER_FLAG_SOURCE_HASH, Listener, ListenerKey,
    MAX_LB_RINGS, PUBLIC_KIND_LB, PublicAddress,
};

use super::{CompileError, MapEntries, Policies, PolicyKey, groups_policies};
use crate::model::{self, ListenerStatus, Model, NlbAddressType, Scheduler};

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
/// ENIs. `vpc_ids` maps VPC ids to their numbers.
pub(super) fn compile(
    model: &Model,
    vpc_ids: &BTreeMap<&str, u32>,
    members: &BTreeMap<String, Vec<ipnet::Ipv4Net>>,
    policies: &mut Policies,
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
            let weighted: Vec<Weighted> = servers
                .map(|s| Weighted {
                    backend: backend_of(s),
                    // Rr: every server alike; the others by weight.
                    weight: if group.scheduler == Scheduler::Rr { u32::from(s.weight > 0) } else { s.weight },
                })
                .collect();
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
