//! Stage 4, route: the route of the source vSwitch's table for a
//! destination (RT-1), through the route cache, then the direct stage of a
//! big table or one LPM lookup, and a local destination's ENI (VPC-3) with
//! its port's copy of it, through the neighbour cache. No loop over configuration.
use aya_ebpf::maps::lpm_trie::Key;
use vpc_common::{direct, neighbour_cache, route_cache, route_key_prefix_len_v4, Egress, Eni, EniAddressKey, NextHop, RouteKey};

use crate::maps::{eni_of_port, lookup_cache_slot, DIRECT_HOPS, ENI_BY_ADDRESS, NEIGHBOUR_CACHE, ROUTES, ROUTES_DIRECT, ROUTE_CACHE};

/// The route of `eni`'s table for `dst` (RT-1), through this CPU's route
/// cache (`vpc_common::route_cache`) under configuration generation
/// `generation` (read before any lookup of the slow path, see
/// [`neighbour`]), else [`lookup_from`] (then cached).
#[inline(always)]
pub fn cached_from(eni: &Eni, dst: [u8; 4], generation: u32) -> Option<NextHop> {
    let a = u32::from_ne_bytes(dst);
    let table = eni.route_table_id;
    let Some(e) = lookup_cache_slot(&ROUTE_CACHE, route_cache::SLOTS, route_cache::slot(table, a)) else {
        return lookup_from(eni, dst).copied();
    };
    if e.route_table_id == table && e.addr == a && e.generation == generation {
        return Some(e.hop);
    }
    let found = *lookup_from(eni, dst)?;
    e.route_table_id = table;
    e.addr = a;
    e.generation = generation;
    e.hop = found;
    Some(found)
}

/// The route of `eni`'s table for `dst` (RT-1): through the direct stage if
/// the table has a slot (`vpc_common::direct`), else one LPM lookup.
#[inline(always)]
pub fn lookup_from(eni: &Eni, dst: [u8; 4]) -> Option<&'static NextHop> {
    if eni.route_slot != 0 {
        let slot = eni.route_slot - 1;
        let entry = ROUTES_DIRECT.get(direct::entry(slot, dst));
        match entry.map(|e| direct::block_of_entry(*e, dst)) {
            Some(direct::NONE) => return None,
            Some(direct::TRIE) | None => {}
            Some(v) => return DIRECT_HOPS.get(direct::hop_index(slot, v)),
        }
    }
    lookup(eni.route_table_id, dst)
}

/// The route of `table` for `dst` (one LPM lookup, RT-1).
#[inline(always)]
pub fn lookup(table: u32, dst: [u8; 4]) -> Option<&'static NextHop> {
    let key = Key::new(route_key_prefix_len_v4(32), RouteKey { route_table_id: table, addr: dst });
    ROUTES.get(&key)
}

/// The ENI holding `addr` in VPC `vpc_id` (next hop local: VPC-3): where
/// frames to it go, and the ENI as its port holds it, through this CPU's
/// neighbour cache (`vpc_common::neighbour_cache`) under configuration
/// generation `generation` (read before any lookup of the slow path: an
/// ENI found while the control plane changes the maps is recorded under
/// the generation it bumps away from), else `ENI_BY_ADDRESS` and
/// `ENI_BY_PORT` (then cached). None if either has nothing.
#[inline(always)]
pub fn neighbour(vpc_id: u32, addr: [u8; 4], generation: u32) -> Option<(Egress, &'static Eni)> {
    let a = u32::from_ne_bytes(addr);
    let Some(e) = lookup_cache_slot(&NEIGHBOUR_CACHE, neighbour_cache::SLOTS, neighbour_cache::slot(vpc_id, a)) else {
        // SAFETY: read-only use of a value the control plane writes whole.
        let egress = *unsafe { ENI_BY_ADDRESS.get(EniAddressKey { vpc_id, addr }) }?;
        return Some((egress, eni_of_port(egress.ifindex)?));
    };
    if e.vpc_id == vpc_id && e.addr == a && e.generation == generation {
        return Some((e.egress, &e.eni));
    }
    // SAFETY: read-only use of a value the control plane writes whole.
    let egress = *unsafe { ENI_BY_ADDRESS.get(EniAddressKey { vpc_id, addr }) }?;
    let eni = eni_of_port(egress.ifindex)?;
    e.vpc_id = vpc_id;
    e.addr = a;
    e.generation = generation;
    e.egress = egress;
    e.eni = *eni;
    Some((egress, &e.eni))
}
