//! The routes of every route table as the route trie holds them, kept per
//! table ([`Routes`]): a change shares the compiled routes of each table it
//! did not touch (the same `Arc`), and [`diff_routes`] walks only the
//! tables whose routes are not those shared ones.
use std::collections::BTreeMap;
use std::sync::Arc;

use vpc_common::NextHop;

use super::{Diff, RouteTrieKey};

/// One table's routes, sorted by key, one value a key.
pub type TableRoutes = Arc<Vec<(RouteTrieKey, NextHop)>>;

/// Every route of every table: by numeric table id, that table's routes
/// sorted by key (prefix length, then address: the trie key's order). A
/// table without routes has no entry.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    tables: BTreeMap<u32, TableRoutes>,
    /// Tables whose routes were made from others by a known change
    /// ([`Routes::set_table_changed`]): [`diff_routes`] takes the change
    /// instead of walking the table, against those routes.
    changes: BTreeMap<u32, TableChange>,
}

/// A table's routes as `base` with a change: the writes that turn `base`
/// into them.
#[derive(Clone, Debug)]
struct TableChange {
    base: TableRoutes,
    upserts: Vec<(RouteTrieKey, NextHop)>,
    removals: Vec<RouteTrieKey>,
}

impl PartialEq for Routes {
    /// The routes alone (not how they were made).
    fn eq(&self, other: &Routes) -> bool {
        self.tables == other.tables
    }
}

impl Eq for Routes {}

impl Routes {
    /// The number of routes.
    pub fn len(&self) -> usize {
        self.tables.values().map(|t| t.len()).sum()
    }

    /// True if there is no route.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The routes of table `table` (sorted by key).
    pub fn table(&self, table: u32) -> &[(RouteTrieKey, NextHop)] {
        self.tables.get(&table).map_or(&[], |t| t.as_slice())
    }

    /// Routes per table.
    pub fn counts(&self) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.tables.iter().map(|(t, r)| (*t, r.len()))
    }

    /// Sets the routes of `table`, made from `base` by removing the routes
    /// of `removed` and adding (or changing) `added` (each sorted by key):
    /// a diff against `base` is then the change itself.
    pub fn set_table_changed(
        &mut self,
        table: u32,
        routes: TableRoutes,
        base: &TableRoutes,
        removed: &[RouteTrieKey],
        added: &[(RouteTrieKey, NextHop)],
    ) {
        let in_base = |k: &RouteTrieKey| {
            base.binary_search_by(|(b, _)| b.cmp(k))
                .ok()
                .map(|i| base[i].1)
        };
        let upserts: Vec<(RouteTrieKey, NextHop)> = added
            .iter()
            .filter(|(k, v)| in_base(k) != Some(*v))
            .copied()
            .collect();
        let removals: Vec<RouteTrieKey> = removed
            .iter()
            .filter(|k| added.binary_search_by(|(a, _)| a.cmp(k)).is_err())
            .copied()
            .collect();
        self.set_table(table, routes);
        self.changes.insert(
            table,
            TableChange {
                base: base.clone(),
                upserts,
                removals,
            },
        );
    }

    /// Forgets how tables were made (their bases are released).
    pub fn forget_changes(&mut self) {
        self.changes.clear();
    }

    /// Sets the routes of `table` (sorted by key, one value a key).
    pub fn set_table(&mut self, table: u32, routes: TableRoutes) {
        self.changes.remove(&table);
        debug_assert!(routes.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert!(routes.iter().all(|(k, _)| k.1.route_table_id == table));
        if routes.is_empty() {
            self.tables.remove(&table);
        } else {
            self.tables.insert(table, routes);
        }
    }

    fn position(&self, key: &RouteTrieKey) -> Option<(&TableRoutes, Result<usize, usize>)> {
        let t = self.tables.get(&key.1.route_table_id)?;
        Some((t, t.binary_search_by(|(k, _)| k.cmp(key))))
    }

    /// The next hop of `key`.
    pub fn get(&self, key: &RouteTrieKey) -> Option<&NextHop> {
        match self.position(key)? {
            (t, Ok(i)) => Some(&t[i].1),
            _ => None,
        }
    }

    /// True if `key` is routed.
    pub fn contains_key(&self, key: &RouteTrieKey) -> bool {
        self.get(key).is_some()
    }

    /// Adds or changes one route; the value it had.
    pub fn insert(&mut self, key: RouteTrieKey, hop: NextHop) -> Option<NextHop> {
        self.changes.remove(&key.1.route_table_id);
        let t = Arc::make_mut(self.tables.entry(key.1.route_table_id).or_default());
        match t.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => Some(std::mem::replace(&mut t[i].1, hop)),
            Err(i) => {
                t.insert(i, (key, hop));
                None
            }
        }
    }

    /// Removes one route; the value it had.
    pub fn remove(&mut self, key: &RouteTrieKey) -> Option<NextHop> {
        let table = key.1.route_table_id;
        self.changes.remove(&table);
        let i = match self.position(key)? {
            (_, Ok(i)) => i,
            _ => return None,
        };
        let t = Arc::make_mut(self.tables.get_mut(&table).expect("found above"));
        let (_, hop) = t.remove(i);
        if t.is_empty() {
            self.tables.remove(&table);
        }
        Some(hop)
    }

    /// Every route, table by table.
    pub fn iter(&self) -> impl Iterator<Item = (&RouteTrieKey, &NextHop)> {
        self.tables
            .values()
            .flat_map(|t| t.iter().map(|(k, v)| (k, v)))
    }

    /// Every routed key, table by table.
    pub fn keys(&self) -> impl Iterator<Item = &RouteTrieKey> {
        self.iter().map(|(k, _)| k)
    }
}

impl std::ops::Index<&RouteTrieKey> for Routes {
    type Output = NextHop;

    fn index(&self, key: &RouteTrieKey) -> &NextHop {
        self.get(key).expect("no route with this key")
    }
}

impl FromIterator<(RouteTrieKey, NextHop)> for Routes {
    /// Routes in any order; of two with one key, the later is kept.
    fn from_iter<I: IntoIterator<Item = (RouteTrieKey, NextHop)>>(iter: I) -> Self {
        let mut by_table: BTreeMap<u32, Vec<(RouteTrieKey, NextHop)>> = BTreeMap::new();
        for (k, v) in iter {
            by_table.entry(k.1.route_table_id).or_default().push((k, v));
        }
        let mut out = Routes::default();
        for (table, mut routes) in by_table {
            // Stable: of equal keys the later stays last, and is kept.
            routes.sort_by(|a, b| a.0.cmp(&b.0));
            let mut sorted: Vec<(RouteTrieKey, NextHop)> = Vec::with_capacity(routes.len());
            for r in routes {
                match sorted.last_mut() {
                    Some(last) if last.0 == r.0 => *last = r,
                    _ => sorted.push(r),
                }
            }
            out.set_table(table, Arc::new(sorted));
        }
        out
    }
}

impl From<BTreeMap<RouteTrieKey, NextHop>> for Routes {
    fn from(m: BTreeMap<RouteTrieKey, NextHop>) -> Self {
        m.into_iter().collect()
    }
}

/// Only the difference between two route sets ([`super::diff`]'s result):
/// a table whose routes are shared (the same `Arc`) is skipped without a
/// look at its routes; the others are walked once, in key order.
pub fn diff_routes(current: &Routes, desired: &Routes) -> Diff<RouteTrieKey, NextHop> {
    let (mut upserts, mut removals) = (Vec::new(), Vec::new());
    let empty: Vec<(RouteTrieKey, NextHop)> = Vec::new();
    let tables: std::collections::BTreeSet<u32> = current
        .tables
        .keys()
        .chain(desired.tables.keys())
        .copied()
        .collect();
    for t in tables {
        let (c, d) = (current.tables.get(&t), desired.tables.get(&t));
        if let (Some(c), Some(d)) = (c, d)
            && Arc::ptr_eq(c, d)
        {
            continue;
        }
        // Made from what is current by a known change: that change.
        if let Some(change) = desired.changes.get(&t)
            && c.is_some_and(|c| Arc::ptr_eq(c, &change.base))
        {
            upserts.extend_from_slice(&change.upserts);
            removals.extend_from_slice(&change.removals);
            continue;
        }
        let c = c.map_or(empty.as_slice(), |c| c.as_slice());
        let d = d.map_or(empty.as_slice(), |d| d.as_slice());
        let (mut i, mut j) = (0, 0);
        while i < c.len() || j < d.len() {
            match (c.get(i), d.get(j)) {
                (Some((ck, _)), None) => {
                    removals.push(*ck);
                    i += 1;
                }
                (None, Some(r)) => {
                    upserts.push(*r);
                    j += 1;
                }
                (Some((ck, cv)), Some((dk, dv))) => match ck.cmp(dk) {
                    std::cmp::Ordering::Less => {
                        removals.push(*ck);
                        i += 1;
                    }
                    std::cmp::Ordering::Greater => {
                        upserts.push((*dk, *dv));
                        j += 1;
                    }
                    std::cmp::Ordering::Equal => {
                        if cv != dv {
                            upserts.push((*dk, *dv));
                        }
                        i += 1;
                        j += 1;
                    }
                },
                (None, None) => unreachable!("the loop's condition"),
            }
        }
    }
    Diff { upserts, removals }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{diff, route_key};
    use vpc_common::{Egress, NextHopKind};

    fn hop(n: u32) -> NextHop {
        NextHop {
            kind: NextHopKind::Eni as u32,
            egress: Egress::default(),
            gateway_id: n,
        }
    }

    /// A pseudo-random route set: tables 1..=3, prefixes of any length.
    fn random(seed: &mut u64, n: usize) -> BTreeMap<RouteTrieKey, NextHop> {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        (0..n)
            .map(|_| {
                let r = next();
                let len = (r % 33) as u8;
                let addr = std::net::Ipv4Addr::from((r >> 8) as u32 & 0x0f0f_ff00);
                let net = ipnet::Ipv4Net::new(addr, len).unwrap().trunc();
                (
                    route_key(1 + (r >> 40) as u32 % 3, &net),
                    hop((r >> 50) as u32 % 4),
                )
            })
            .collect()
    }

    /// Per-table routes answer, and diff, as one map of every route does.
    #[test]
    fn routes_per_table_are_the_map_of_every_route() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..50 {
            let a = random(&mut seed, 200);
            let b = random(&mut seed, 200);
            let (ra, rb) = (Routes::from(a.clone()), Routes::from(b.clone()));
            assert_eq!(ra.len(), a.len());
            assert!(ra.iter().all(|(k, v)| a.get(k) == Some(v)));
            assert!(a.iter().all(|(k, v)| ra.get(k) == Some(v)));
            let mut want = diff(&a, &b);
            let mut got = diff_routes(&ra, &rb);
            for d in [&mut want, &mut got] {
                d.upserts.sort_by(|x, y| x.0.cmp(&y.0));
                d.removals.sort();
            }
            assert_eq!(got, want);
            assert!(diff_routes(&ra, &ra.clone()).is_empty());
            // Edits one at a time stay sorted and equal to the map's.
            let mut m = a.clone();
            let mut r = ra.clone();
            for (k, v) in b.iter().take(50) {
                assert_eq!(r.insert(*k, *v), m.insert(*k, *v));
            }
            for k in a.keys().take(50) {
                assert_eq!(r.remove(k), m.remove(k));
            }
            assert_eq!(r, Routes::from(m));
        }
    }
}
