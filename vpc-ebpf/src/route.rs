//! Stage 4, route: the route of the source vSwitch's table for a
//! destination (RT-1), through the direct stage of a big table or one LPM
//! lookup. No loop over configuration.
use aya_ebpf::maps::lpm_trie::Key;
use vpc_common::{direct, route_key_prefix_len_v4, Eni, NextHop, RouteKey};

use crate::maps::{DIRECT_HOPS, ROUTES, ROUTES_DIRECT};

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
