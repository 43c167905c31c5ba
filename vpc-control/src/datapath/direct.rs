//! The direct stage of big route tables (`vpc_common::direct`) seen from
//! user space: which tables hold a slot, and what each /24 block of a slot
//! says. Pure: [`crate::datapath`] writes what this computes.
use std::{
    collections::HashMap,
    ops::Range,
};

use vpc_common::{NextHop, ROUTE_KEY_TABLE_BITS, direct};

use crate::compile::{RouteTrieKey, Routes};

/// Blocks per slot, as a length.
pub const BLOCKS: usize = direct::BLOCKS as usize;

/// A change touching more blocks than this rebuilds the whole slot (a
/// short route such as 0.0.0.0/0 covers 16M blocks: filling them in order
/// beats answering each).
const MAX_BLOCKS_PER_CHANGE: usize = 1 << 16;

/// The routes of one table, indexed to answer what a block says.
#[derive(Debug, Clone)]
pub struct TableIndex {
    /// Next hop of the routes of each length 0..=24, by network address.
    short: Vec<HashMap<u32, NextHop>>,
    /// Blocks holding routes longer than /24, with how many.
    long: HashMap<u32, u32>,
}

impl Default for TableIndex {
    fn default() -> Self {
        Self { short: vec![HashMap::new(); 25], long: HashMap::new() }
    }
}

/// What a block says, before hop ids are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block<'a> {
    /// No route.
    None,
    /// A route longer than /24 is inside: ask the trie.
    Trie,
    /// The next hop of the longest route of /24 or shorter covering it.
    Hop(&'a NextHop),
}

/// The IPv4 prefix (address, length) of a route trie key.
pub fn prefix_of(key: &RouteTrieKey) -> (u32, u32) {
    (u32::from_be_bytes(key.1.addr), key.0 - ROUTE_KEY_TABLE_BITS)
}

/// Routes per table.
pub fn route_counts(routes: &Routes) -> HashMap<u32, usize> {
    routes.counts().collect()
}

impl TableIndex {
    /// The index of `table`'s routes.
    pub fn of(routes: &Routes, table: u32) -> Self {
        let mut t = Self::default();
        for (k, v) in routes.table(table) {
            let (addr, len) = prefix_of(k);
            t.set(addr, len, Some(*v));
        }
        t
    }

    /// Adds or changes (`Some(next hop)`) or removes (`None`) the route
    /// `addr/len`.
    pub fn set(&mut self, addr: u32, len: u32, hop: Option<NextHop>) {
        if len <= 24 {
            let s = &mut self.short[len as usize];
            match hop {
                Some(h) => s.insert(addr, h),
                None => s.remove(&addr),
            };
            return;
        }
        let block = addr >> 8;
        match hop {
            Some(_) => *self.long.entry(block).or_insert(0) += 1,
            None => {
                if let Some(n) = self.long.get_mut(&block) {
                    *n -= 1;
                    if *n == 0 {
                        self.long.remove(&block);
                    }
                }
            }
        }
    }

    /// What block `block` (a /24, `addr >> 8`) says.
    pub fn block(&self, block: u32) -> Block<'_> {
        if self.long.contains_key(&block) {
            return Block::Trie;
        }
        let addr = block << 8;
        for len in (0..=24u32).rev() {
            let net = addr & u32::MAX.checked_shl(32 - len).unwrap_or(0);
            if let Some(h) = self.short[len as usize].get(&net) {
                return Block::Hop(h);
            }
        }
        Block::None
    }

    /// Every block of the slot, in order (`out.len() == BLOCKS`), with hop
    /// ids from `ids`; `None` if `ids` ran out.
    pub fn fill(&self, out: &mut [u32], ids: &mut HopIds) -> Option<()> {
        out.fill(direct::NONE);
        // Shorter first: a longer route then overwrites the blocks it covers.
        for (len, nets) in self.short.iter().enumerate() {
            for (&net, hop) in nets {
                out[blocks_of(net, len as u32)].fill(direct::encode(ids.id_of(hop)?));
            }
        }
        for &block in self.long.keys() {
            out[block as usize] = direct::TRIE;
        }
        Some(())
    }

    /// The value of block `block`, with hop ids from `ids`; `None` if `ids`
    /// ran out.
    pub fn value(&self, block: u32, ids: &mut HopIds) -> Option<u32> {
        Some(match self.block(block) {
            Block::None => direct::NONE,
            Block::Trie => direct::TRIE,
            Block::Hop(h) => direct::encode(ids.id_of(h)?),
        })
    }
}

/// The hop ids of one slot: each distinct next hop value gets one, for the
/// life of the slot (an id is never given another value, so a block naming
/// it stays right while it is rewritten).
#[derive(Debug, Clone, Default)]
pub struct HopIds {
    by_hop: HashMap<NextHop, u32>,
    /// Ids given since the last [`Self::take_new`]: their `DIRECT_HOPS`
    /// entries must be written before any block naming them.
    new: Vec<(u32, NextHop)>,
}

impl HopIds {
    /// The ids of a slot as its `DIRECT_HOPS` entries hold them (`kind` 0:
    /// a free id).
    pub fn from_entries(entries: impl Iterator<Item = (u32, NextHop)>) -> Self {
        Self { by_hop: entries.filter(|(_, h)| h.kind != 0).map(|(i, h)| (h, i)).collect(), new: Vec::new() }
    }

    /// The id of `hop`, given now if it has none; `None` when the slot has
    /// given all [`direct::MAX_HOPS`].
    pub fn id_of(&mut self, hop: &NextHop) -> Option<u32> {
        if let Some(id) = self.by_hop.get(hop) {
            return Some(*id);
        }
        let id = self.by_hop.len() as u32;
        if id >= direct::MAX_HOPS {
            return None;
        }
        self.by_hop.insert(*hop, id);
        self.new.push((id, *hop));
        Some(id)
    }

    /// The ids given since the last call.
    pub fn take_new(&mut self) -> Vec<(u32, NextHop)> {
        std::mem::take(&mut self.new)
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
    /// The slot has no hop id left for a new next hop.
    OutOfHopIds,
}

/// Applies route changes (`(addr, len, Some(next hop) | None)`) to
/// `index` and returns the block writes they call for.
pub fn change(index: &mut TableIndex, ids: &mut HopIds, changes: &[(u32, u32, Option<NextHop>)]) -> BlockWrites {
    let touched: usize = changes.iter().map(|(a, l, _)| blocks_of(*a, *l).len()).sum();
    for (addr, len, hop) in changes {
        index.set(*addr, *len, *hop);
    }
    if touched > MAX_BLOCKS_PER_CHANGE {
        return BlockWrites::All;
    }
    let mut blocks: Vec<u32> = changes.iter().flat_map(|(a, l, _)| blocks_of(*a, *l)).map(|b| b as u32).collect();
    blocks.sort_unstable();
    blocks.dedup();
    let mut out = Vec::with_capacity(blocks.len());
    for b in blocks {
        match index.value(b, ids) {
            Some(v) => out.push((b, v)),
            None => return BlockWrites::OutOfHopIds,
        }
    }
    BlockWrites::Some(out)
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

    /// What the block of `dst` must say among `routes` of table 1: the next
    /// hop of the longest match of /24 or shorter, or the trie if a longer
    /// route shares the block.
    fn reference(routes: &[(&str, u32)], dst: u32) -> Block<'static> {
        let nets: Vec<(ipnet::Ipv4Net, u32)> = routes.iter().map(|(r, h)| (r.parse().unwrap(), *h)).collect();
        if nets.iter().any(|(n, _)| n.prefix_len() > 24 && u32::from(n.network()) >> 8 == dst >> 8) {
            return Block::Trie;
        }
        match nets
            .iter()
            .filter(|(n, _)| n.prefix_len() <= 24 && n.contains(&std::net::Ipv4Addr::from(dst)))
            .max_by_key(|(n, _)| n.prefix_len())
        {
            Some((_, h)) => Block::Hop(Box::leak(Box::new(hop(*h)))),
            None => Block::None,
        }
    }

    fn table(routes: &[(&str, u32)]) -> Routes {
        routes.iter().map(|(r, h)| (route_key(1, &r.parse().unwrap()), hop(*h))).collect()
    }

    /// A block value as the datapath reads it, back to what it says.
    fn said(v: u32, ids: &HopIds) -> Block<'_> {
        match v {
            direct::NONE => Block::None,
            direct::TRIE => Block::Trie,
            v => Block::Hop(ids.by_hop.iter().find(|(_, i)| **i == v - 1).map(|(h, _)| h).expect("a given id")),
        }
    }

    const ROUTES: &[(&str, u32)] =
        &[("0.0.0.0/0", 1), ("10.0.0.0/8", 2), ("10.1.0.0/16", 3), ("10.1.2.0/24", 4), ("10.1.3.128/25", 5)];

    #[test]
    fn rt_1_a_block_names_the_next_hop_of_the_longest_route_of_24_or_shorter_or_the_trie() {
        let routes = table(ROUTES);
        let idx = TableIndex::of(&routes, 1);
        let mut ids = HopIds::default();
        let mut all = vec![0u32; BLOCKS];
        idx.fill(&mut all, &mut ids).unwrap();
        assert_eq!(ids.take_new().len(), 4, "one id per distinct next hop of /24 or shorter");
        for dst in ["10.1.2.7", "10.1.3.200", "10.1.3.1", "10.1.9.9", "10.2.0.1", "11.0.0.1", "255.255.255.255"] {
            let d = ip(dst);
            assert_eq!(idx.block(d >> 8), reference(ROUTES, d), "{dst}: block()");
            assert_eq!(said(all[(d >> 8) as usize], &ids), reference(ROUTES, d), "{dst}: fill()");
        }
        assert_eq!(idx.block(ip("10.1.3.1") >> 8), Block::Trie, "a /25 inside the block");
        let empty = TableIndex::of(&routes, 2);
        assert_eq!(empty.block(ip("10.1.2.7") >> 8), Block::None, "another table's routes do not count");
    }

    #[test]
    fn rt_1_changes_rewrite_exactly_the_blocks_whose_answer_moves() {
        let mut routes = table(ROUTES);
        let mut idx = TableIndex::of(&routes, 1);
        let mut ids = HopIds::default();
        let mut all = vec![0u32; BLOCKS];
        idx.fill(&mut all, &mut ids).unwrap();
        ids.take_new();
        // Add a /23 over 10.1.4.0-10.1.5.255 (a new next hop), remove the
        // /25 and the /24, move 10.1.0.0/16 to another next hop.
        let changes = [
            (ip("10.1.4.0"), 23, Some(hop(6))),
            (ip("10.1.3.128"), 25, None),
            (ip("10.1.2.0"), 24, None),
            (ip("10.1.0.0"), 16, Some(hop(2))),
        ];
        let BlockWrites::Some(writes) = change(&mut idx, &mut ids, &changes) else { panic!("a few blocks") };
        assert_eq!(ids.take_new(), vec![(4, hop(6))], "one new id, for the new next hop only");
        for (b, v) in &writes {
            all[*b as usize] = *v;
        }
        routes.remove(&route_key(1, &"10.1.3.128/25".parse().unwrap()));
        routes.remove(&route_key(1, &"10.1.2.0/24".parse().unwrap()));
        routes.insert(route_key(1, &"10.1.4.0/23".parse().unwrap()), hop(6));
        routes.insert(route_key(1, &"10.1.0.0/16".parse().unwrap()), hop(2));
        let mut fresh = vec![0u32; BLOCKS];
        TableIndex::of(&routes, 1).fill(&mut fresh, &mut ids).unwrap();
        assert!(all == fresh, "incremental writes == a fresh fill with the same ids");
        assert_eq!(writes.len(), 256, "the blocks of 10.1.0.0/16: {}", writes.len());
        // A default route covers every block: the slot is rebuilt instead.
        assert_eq!(change(&mut idx, &mut ids, &[(0, 0, None)]), BlockWrites::All);
    }

    #[test]
    fn a_slot_gives_each_next_hop_one_id_until_it_runs_out() {
        let mut ids = HopIds::from_entries([(0, hop(9)), (1, NextHop { kind: 0, ..hop(0) })].into_iter());
        assert_eq!(ids.id_of(&hop(9)), Some(0), "an id read back from the map is kept");
        assert_eq!(ids.id_of(&hop(10)), Some(1));
        assert_eq!(ids.id_of(&hop(10)), Some(1));
        for n in 11..(10 + direct::MAX_HOPS - 1) {
            ids.id_of(&hop(n)).unwrap();
        }
        assert_eq!(ids.id_of(&hop(u32::MAX)), None, "out of ids");
        let mut idx = TableIndex::default();
        assert_eq!(change(&mut idx, &mut ids, &[(ip("10.0.0.0"), 24, Some(hop(u32::MAX)))]), BlockWrites::OutOfHopIds);
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
