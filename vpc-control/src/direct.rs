//! The direct stage of big route tables (`vpc_common::direct`) seen from
//! user space: which tables hold a slot, and what each /24 block of a slot
//! says. Pure: [`crate::datapath`] writes what this computes.
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    ops::Range,
};

use vpc_common::{NextHop, ROUTE_KEY_TABLE_BITS, RouteKey, direct};

use crate::compile::RouteTrieKey;

/// Blocks per slot, as a length.
pub const BLOCKS: usize = direct::BLOCKS as usize;

/// A change touching more blocks than this rebuilds the whole slot (a
/// short route such as 0.0.0.0/0 covers 16M blocks: filling them in order
/// beats answering each).
const MAX_BLOCKS_PER_CHANGE: usize = 1 << 16;

/// The routes of one table, indexed to answer what a block says.
#[derive(Debug, Clone)]
pub struct TableIndex {
    /// Network addresses of the routes of each length 0..=24.
    short: Vec<HashSet<u32>>,
    /// Blocks holding routes longer than /24, with how many.
    long: HashMap<u32, u32>,
}

impl Default for TableIndex {
    fn default() -> Self {
        Self { short: vec![HashSet::new(); 25], long: HashMap::new() }
    }
}

/// The IPv4 prefix (address, length) of a route trie key.
pub fn prefix_of(key: &RouteTrieKey) -> (u32, u32) {
    (u32::from_be_bytes(key.1.addr), key.0 - ROUTE_KEY_TABLE_BITS)
}

/// The routes of `table` among `routes` (sorted by length, then table).
pub fn table_routes(routes: &BTreeMap<RouteTrieKey, NextHop>, table: u32) -> impl Iterator<Item = (&RouteTrieKey, &NextHop)> {
    (0..=32u32).flat_map(move |len| {
        let len = ROUTE_KEY_TABLE_BITS + len;
        let lo = (len, RouteKey { route_table_id: table, addr: [0; 4] });
        let hi = (len, RouteKey { route_table_id: table, addr: [255; 4] });
        routes.range(lo..=hi)
    })
}

/// Routes per table.
pub fn route_counts(routes: &BTreeMap<RouteTrieKey, NextHop>) -> HashMap<u32, usize> {
    let mut out = HashMap::new();
    for (_, k) in routes.keys() {
        *out.entry(k.route_table_id).or_insert(0) += 1;
    }
    out
}

impl TableIndex {
    /// The index of `table`'s routes.
    pub fn of(routes: &BTreeMap<RouteTrieKey, NextHop>, table: u32) -> Self {
        let mut t = Self::default();
        for (k, _) in table_routes(routes, table) {
            let (addr, len) = prefix_of(k);
            t.set(addr, len, true);
        }
        t
    }

    /// Adds (`present`) or removes the route `addr/len`.
    pub fn set(&mut self, addr: u32, len: u32, present: bool) {
        if len <= 24 {
            let s = &mut self.short[len as usize];
            if present { s.insert(addr) } else { s.remove(&addr) };
        } else if present {
            *self.long.entry(addr >> 8).or_insert(0) += 1;
        } else if let Some(n) = self.long.get_mut(&(addr >> 8)) {
            *n -= 1;
            if *n == 0 {
                self.long.remove(&(addr >> 8));
            }
        }
    }

    /// What block `block` (a /24, `addr >> 8`) says.
    pub fn block(&self, block: u32) -> u32 {
        if self.long.contains_key(&block) {
            return direct::TRIE;
        }
        let addr = block << 8;
        for len in (0..=24u32).rev() {
            let net = addr & u32::MAX.checked_shl(32 - len).unwrap_or(0);
            if self.short[len as usize].contains(&net) {
                return direct::encode(net.to_be_bytes(), len);
            }
        }
        direct::NONE
    }

    /// Every block of the slot, in order (`out.len() == BLOCKS`).
    pub fn fill(&self, out: &mut [u32]) {
        out.fill(direct::NONE);
        // Shorter first: a longer route then overwrites the blocks it covers.
        for (len, nets) in self.short.iter().enumerate() {
            for &net in nets {
                out[blocks_of(net, len as u32)].fill(direct::encode(net.to_be_bytes(), len as u32));
            }
        }
        for &block in self.long.keys() {
            out[block as usize] = direct::TRIE;
        }
    }
}

/// The blocks a route `addr/len` covers (the one block holding it if longer
/// than /24).
pub fn blocks_of(addr: u32, len: u32) -> Range<usize> {
    let first = (addr >> 8) as usize;
    if len >= 24 { first..first + 1 } else { first..first + (1usize << (24 - len)) }
}

/// What a change to a slotted table's routes rewrites.
#[derive(Debug, PartialEq, Eq)]
pub enum BlockWrites {
    /// These blocks, with their new values.
    Some(Vec<(u32, u32)>),
    /// The whole slot (too many blocks to answer one by one).
    All,
}

/// Applies route changes (`(addr, len, present)`) to `index` and returns
/// the block writes they call for.
pub fn change(index: &mut TableIndex, changes: &[(u32, u32, bool)]) -> BlockWrites {
    let touched: usize = changes.iter().map(|(a, l, _)| blocks_of(*a, *l).len()).sum();
    for (addr, len, present) in changes {
        index.set(*addr, *len, *present);
    }
    if touched > MAX_BLOCKS_PER_CHANGE {
        return BlockWrites::All;
    }
    let mut blocks: Vec<u32> = changes.iter().flat_map(|(a, l, _)| blocks_of(*a, *l)).map(|b| b as u32).collect();
    blocks.sort_unstable();
    blocks.dedup();
    BlockWrites::Some(blocks.into_iter().map(|b| (b, index.block(b))).collect())
}

/// The slot of each table after a change: a table keeps its slot while it
/// has at least half of [`direct::MIN_ROUTES`] routes; free slots go to
/// the biggest tables with at least `MIN_ROUTES` (ties: lower table id).
pub fn assign(slots: &[Option<u32>], counts: &HashMap<u32, usize>) -> Vec<Option<u32>> {
    let mut out: Vec<Option<u32>> = slots
        .iter()
        .map(|t| t.filter(|t| counts.get(t).copied().unwrap_or(0) >= direct::MIN_ROUTES / 2))
        .collect();
    let mut waiting: Vec<(usize, u32)> = counts
        .iter()
        .filter(|(t, n)| **n >= direct::MIN_ROUTES && !out.contains(&Some(**t)))
        .map(|(t, n)| (*n, *t))
        .collect();
    waiting.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut waiting = waiting.into_iter();
    for slot in out.iter_mut().filter(|s| s.is_none()) {
        match waiting.next() {
            Some((_, t)) => *slot = Some(t),
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::route_key;
    use vpc_common::{Egress, NextHopKind};

    fn hop(n: u32) -> NextHop {
        NextHop { kind: NextHopKind::Eni as u32, egress: Egress { ifindex: n, ..Egress::default() }, gateway_id: 0 }
    }

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
    }

    /// The trie's answer for `dst` among `routes` of table 1, as the block
    /// of `dst` should give it (TRIE if a longer route shares the block).
    fn reference(routes: &[(&str, u32)], dst: u32) -> u32 {
        let nets: Vec<ipnet::Ipv4Net> = routes.iter().map(|(r, _)| r.parse().unwrap()).collect();
        if nets.iter().any(|n| n.prefix_len() > 24 && u32::from(n.network()) >> 8 == dst >> 8) {
            return direct::TRIE;
        }
        nets.iter()
            .filter(|n| n.prefix_len() <= 24 && n.contains(&std::net::Ipv4Addr::from(dst)))
            .max_by_key(|n| n.prefix_len())
            .map_or(direct::NONE, |n| direct::encode(n.network().octets(), n.prefix_len() as u32))
    }

    fn table(routes: &[(&str, u32)]) -> BTreeMap<RouteTrieKey, NextHop> {
        routes.iter().map(|(r, h)| (route_key(1, &r.parse().unwrap()), hop(*h))).collect()
    }

    const ROUTES: &[(&str, u32)] =
        &[("0.0.0.0/0", 1), ("10.0.0.0/8", 2), ("10.1.0.0/16", 3), ("10.1.2.0/24", 4), ("10.1.3.128/25", 5)];

    #[test]
    fn rt_1_a_block_names_the_longest_route_of_24_or_shorter_or_the_trie() {
        let routes = table(ROUTES);
        let idx = TableIndex::of(&routes, 1);
        let mut all = vec![0u32; BLOCKS];
        idx.fill(&mut all);
        for dst in ["10.1.2.7", "10.1.3.200", "10.1.3.1", "10.1.9.9", "10.2.0.1", "11.0.0.1", "255.255.255.255"] {
            let d = ip(dst);
            assert_eq!(idx.block(d >> 8), reference(ROUTES, d), "{dst}: block()");
            assert_eq!(all[(d >> 8) as usize], reference(ROUTES, d), "{dst}: fill()");
        }
        assert_eq!(idx.block(ip("10.1.3.1") >> 8), direct::TRIE, "a /25 inside the block");
        let empty = TableIndex::of(&routes, 2);
        assert_eq!(empty.block(ip("10.1.2.7") >> 8), direct::NONE, "another table's routes do not count");
    }

    #[test]
    fn rt_1_changes_rewrite_exactly_the_blocks_whose_answer_moves() {
        let mut routes = table(ROUTES);
        let mut idx = TableIndex::of(&routes, 1);
        let mut all = vec![0u32; BLOCKS];
        idx.fill(&mut all);
        // Add a /23 over 10.1.4.0-10.1.5.255, remove the /25 and the /24.
        let writes = change(
            &mut idx,
            &[(ip("10.1.4.0"), 23, true), (ip("10.1.3.128"), 25, false), (ip("10.1.2.0"), 24, false)],
        );
        let BlockWrites::Some(writes) = writes else { panic!("a few blocks") };
        for (b, v) in &writes {
            all[*b as usize] = *v;
        }
        routes.remove(&route_key(1, &"10.1.3.128/25".parse().unwrap()));
        routes.remove(&route_key(1, &"10.1.2.0/24".parse().unwrap()));
        routes.insert(route_key(1, &"10.1.4.0/23".parse().unwrap()), hop(6));
        let mut fresh = vec![0u32; BLOCKS];
        TableIndex::of(&routes, 1).fill(&mut fresh);
        assert!(all == fresh, "incremental writes == a fresh fill");
        assert_eq!(writes.len(), 4, "blocks 10.1.2, 10.1.3, 10.1.4, 10.1.5: {writes:?}");
        // A default route covers every block: the slot is rebuilt instead.
        assert_eq!(change(&mut idx, &[(0, 0, false)]), BlockWrites::All);
    }

    #[test]
    fn big_tables_take_free_slots_and_keep_them_until_half_the_threshold() {
        let min = direct::MIN_ROUTES;
        let counts: HashMap<u32, usize> = [(1, min), (2, min * 3), (3, min - 1), (4, min * 2)].into();
        assert_eq!(assign(&[None, None], &counts), vec![Some(2), Some(4)], "the two biggest");
        assert_eq!(assign(&[Some(1), None], &counts), vec![Some(1), Some(2)], "a held slot is kept");
        let shrunk: HashMap<u32, usize> = [(1, min / 2), (2, min / 2 - 1)].into();
        assert_eq!(assign(&[Some(1), Some(2)], &shrunk), vec![Some(1), None], "released below half");
        assert_eq!(assign(&[], &counts), Vec::<Option<u32>>::new(), "no slots configured");
    }
}
