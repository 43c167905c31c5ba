//! Stage 4, route: the route of the source vSwitch's table for a
//! destination (RT-1), through the direct stage of a big table or one LPM
//! lookup, and a local destination's ENI (VPC-3), through the neighbour
//! cache. No loop over configuration.
use aya_ebpf::maps::lpm_trie::Key;
use vpc_common::{direct, neighbour_cache, route_key_prefix_len_v4, Egress, Eni, EniAddressKey, NextHop, RouteKey};

use crate::maps::{cpu, DIRECT_HOPS, ENI_BY_ADDRESS, NEIGHBOUR_CACHE, ROUTES, ROUTES_DIRECT};

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

/// The ENI holding `addr` in VPC `vpc_id` (next hop local: VPC-3), through
/// this CPU's neighbour cache (`vpc_common::neighbour_cache`) under
/// configuration generation `generation` (read before any lookup of the
/// slow path: an ENI found while the control plane changes the maps is
/// recorded under the generation it bumps away from), else
/// `ENI_BY_ADDRESS` (then cached).
#[inline(always)]
pub fn neighbour(vpc_id: u32, addr: [u8; 4], generation: u32) -> Option<Egress> {
    let a = u32::from_ne_bytes(addr);
    let slot = cpu().wrapping_mul(neighbour_cache::SLOTS).wrapping_add(neighbour_cache::slot(vpc_id, a));
    let e = NEIGHBOUR_CACHE.get_ptr_mut(slot)?;
    // SAFETY: this CPU's slot (`cpu`): nothing else writes it meanwhile.
    let e = unsafe { &mut *e };
    if e.vpc_id == vpc_id && e.addr == a && e.generation == generation {
        return Some(e.egress);
    }
    // SAFETY: read-only use of a value the control plane writes whole.
    let found = *unsafe { ENI_BY_ADDRESS.get(EniAddressKey { vpc_id, addr }) }?;
    e.vpc_id = vpc_id;
    e.addr = a;
    e.generation = generation;
    e.egress = found;
    Some(found)
}
