//! Pure firewall-policy compiler: an ordered set of rules (security group or
//! network ACL) -> the entries of two longest-prefix-match tables, so the XDP
//! datapath answers any packet with exactly two lookups whatever the number
//! of rules. No kernel, no I/O.
//!
//! Stage 1 (address): LPM over the remote address gives a class id.
//! Stage 2 (port): LPM over (class, protocol key, port) gives the verdict;
//! a miss at either stage means the policy's default verdict.
//!
//! Why stage 1 is exact. Let S be the set of all (truncated) prefixes that
//! appear in the rules' remotes, and for P in S let R(P) be the rules having a
//! remote that contains P. For an address `a` whose longest matching prefix in
//! S is P, the rules whose remotes match `a` are exactly R(P):
//! * if a rule has a remote q containing P, q contains `a` (P contains `a`);
//! * if a rule has a remote q containing `a`, then q is in S and matches `a`,
//!   so q is no longer than P; two prefixes that both contain `a` are nested,
//!   so q contains P.
//!
//! If no prefix of S contains `a`, no rule matches and the default applies.
//! Hence the verdict for `a` depends only on R(P), and prefixes whose rule
//! sets give the same port-stage verdict function share a class id. Since
//! R(P) = R(parent(P)) ∪ {rules with remote exactly P}, where parent(P) is
//! the longest proper ancestor of P in S, the per-prefix functions are built
//! top-down by merging the parent's function with the prefix's own rules.
//! A prefix whose verdict function equals that of its parent (or, with no
//! parent, is the all-default function) is left out of the address table: an
//! LPM lookup then falls back to the ancestor, which answers the same.
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use ipnet::Ipv4Net;

/// The outcome of a policy for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// Let the packet through.
    Accept,
    /// Discard the packet.
    Drop,
}

impl Verdict {
    /// The other verdict.
    fn opposite(self) -> Verdict {
        match self {
            Verdict::Accept => Verdict::Drop,
            Verdict::Drop => Verdict::Accept,
        }
    }
}

/// The protocol a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// IP protocol 6; the rule's port range applies.
    Tcp,
    /// IP protocol 17; the rule's port range applies.
    Udp,
    /// IP protocol 1; the port range is ignored (every port).
    Icmp,
    /// Every IP protocol and every port; the port range is ignored.
    All,
}

/// How the verdicts of the matching rules combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Combine {
    /// Security groups: the matching rule with the lowest priority number
    /// wins; on a tie between accept and drop, drop wins.
    Priority,
    /// Network ACLs: the first matching rule in list order wins; priorities
    /// are ignored.
    FirstMatch,
}

/// One firewall rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Lower wins in [`Combine::Priority`]; ignored in [`Combine::FirstMatch`].
    pub priority: u32,
    /// The verdict when this rule wins.
    pub verdict: Verdict,
    /// The protocol matched.
    pub protocol: Protocol,
    /// The ports matched for [`Protocol::Tcp`] and [`Protocol::Udp`] (an
    /// empty range matches nothing); ignored for ICMP and All.
    pub ports: RangeInclusive<u16>,
    /// The rule matches a remote address in any of these; empty matches
    /// nothing. Host bits are ignored.
    pub remotes: Vec<Ipv4Net>,
}

impl Rule {
    /// Whether the rule matches a packet (remote address, IP protocol number
    /// as on the wire, port).
    pub fn matches(&self, remote: Ipv4Addr, proto: u8, port: u16) -> bool {
        let proto_ok = match self.protocol {
            Protocol::Tcp => proto == PROTO_TCP && self.ports.contains(&port),
            Protocol::Udp => proto == PROTO_UDP && self.ports.contains(&port),
            Protocol::Icmp => proto == PROTO_ICMP,
            Protocol::All => true,
        };
        proto_ok && self.remotes.iter().any(|net| net.contains(&remote))
    }
}

/// A policy: ordered rules, a default verdict and a combining mode.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    /// The rules, in list order (significant for [`Combine::FirstMatch`]).
    pub rules: Vec<Rule>,
    /// The verdict when no rule matches.
    pub default: Verdict,
    /// How matching rules combine.
    pub combine: Combine,
}

// The protocol and port keys, shared with the datapath (one definition).
pub use vpc_common::{PROTO_ICMP, PROTO_OTHER, PROTO_TCP, PROTO_UDP, port_key, proto_key};

/// One entry of the port stage: (class, protocol key, the first
/// `prefix_len` bits of `port`) -> verdict. Entries never overlap and never
/// carry the policy's default verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortEntry {
    /// Class id from the address stage (>= 1).
    pub class: u32,
    /// Protocol key: 6, 17, 1 or 0 (see [`proto_key`]).
    pub proto: u8,
    /// The port prefix (bits beyond `prefix_len` are zero); always 0 for
    /// protocol keys 1 and 0.
    pub port: u16,
    /// Significant leading bits of `port`, 0..=16; 16 for protocol keys 1 and 0.
    pub prefix_len: u8,
    /// The verdict (never the policy default).
    pub verdict: Verdict,
}

/// The two tables of a compiled policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compiled {
    /// Address stage: truncated prefix -> class id (ids start at 1), sorted
    /// by (network address, prefix length). A miss means the default verdict.
    pub classes: Vec<(Ipv4Net, u32)>,
    /// Port stage, sorted by (class, proto, port, prefix_len). A miss means
    /// the default verdict.
    pub ports: Vec<PortEntry>,
}

/// The reference evaluator: the verdict of `p` for a packet, straight from
/// the semantics, looping over the rules.
pub fn evaluate(p: &Policy, remote: Ipv4Addr, proto: u8, port: u16) -> Verdict {
    let mut matching = p.rules.iter().filter(|r| r.matches(remote, proto, port));
    let winner = match p.combine {
        Combine::FirstMatch => matching.next(),
        Combine::Priority => matching.min_by_key(|r| (r.priority, r.verdict != Verdict::Drop)),
    };
    winner.map_or(p.default, |r| r.verdict)
}

/// Simulates the datapath over compiled tables: longest-prefix match of the
/// remote over `classes`, then longest-prefix match of (class,
/// [`proto_key`], [`port_key`]) over `ports`; `default` on a miss. A linear
/// scan: a test oracle of the tables, not the datapath.
pub fn lookup(c: &Compiled, default: Verdict, remote: Ipv4Addr, proto: u8, port: u16) -> Verdict {
    let class = c
        .classes
        .iter()
        .filter(|(net, _)| net.contains(&remote))
        .max_by_key(|(net, _)| net.prefix_len())
        .map(|&(_, id)| id);
    let Some(class) = class else { return default };
    let key = proto_key(proto);
    let port = port_key(proto, port);
    c.ports
        .iter()
        .filter(|e| e.class == class && e.proto == key && port_prefix_matches(e.port, e.prefix_len, port))
        .max_by_key(|e| e.prefix_len)
        .map_or(default, |e| e.verdict)
}

/// Whether `port` starts with the first `len` bits of `prefix`.
fn port_prefix_matches(prefix: u16, len: u8, port: u16) -> bool {
    let len = u32::from(len.min(16));
    len == 0 || (u32::from(prefix ^ port) >> (16 - len)) == 0
}

/// One past the last port.
const PORT_END: u32 = 1 << 16;

/// A candidate winner: its rank (lower wins) and verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Win {
    rank: u64,
    verdict: Verdict,
}

/// The winner at a point, `None` when no rule matches.
type Cell = Option<Win>;

/// The better of two cells.
fn best(a: Cell, b: Cell) -> Cell {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.rank < x.rank { y } else { x }),
        (None, y) => y,
        (x, None) => x,
    }
}

/// A step function over ports: sorted segment starts (the first is 0), each
/// segment running to the next start or to [`PORT_END`]; adjacent segments
/// differ.
type Steps = Vec<(u32, Cell)>;

/// The winner function of a set of rules (a prefix's rule set).
#[derive(Clone, Debug)]
struct RankFn {
    tcp: Steps,
    udp: Steps,
    icmp: Cell,
    other: Cell,
}

impl RankFn {
    fn empty() -> RankFn {
        RankFn { tcp: vec![(0, None)], udp: vec![(0, None)], icmp: None, other: None }
    }
}

/// Pointwise best of two step functions (linear merge).
fn merge_steps(a: &[(u32, Cell)], b: &[(u32, Cell)]) -> Steps {
    let mut out: Steps = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j, mut pos) = (0, 0, 0u32);
    while i < a.len() && j < b.len() {
        let v = best(a[i].1, b[j].1);
        if out.last().is_none_or(|&(_, last)| last != v) {
            out.push((pos, v));
        }
        let na = a.get(i + 1).map_or(PORT_END, |s| s.0);
        let nb = b.get(j + 1).map_or(PORT_END, |s| s.0);
        let next = na.min(nb);
        if next >= PORT_END {
            break;
        }
        if na == next {
            i += 1;
        }
        if nb == next {
            j += 1;
        }
        pos = next;
    }
    out
}

/// The step function of intervals `(lo, hi, win)`: at each port, the best
/// win among the intervals covering it.
fn sweep(mut intervals: Vec<(u32, u32, Win)>) -> Steps {
    if intervals.is_empty() {
        return vec![(0, None)];
    }
    intervals.sort_unstable_by_key(|&(lo, _, _)| lo);
    let mut bounds: Vec<u32> = Vec::with_capacity(intervals.len() * 2 + 1);
    bounds.push(0);
    for &(lo, hi, _) in &intervals {
        bounds.push(lo);
        if hi + 1 < PORT_END {
            bounds.push(hi + 1);
        }
    }
    bounds.sort_unstable();
    bounds.dedup();
    // Min-heap on rank; expired intervals are dropped lazily from the top.
    let mut heap: BinaryHeap<Reverse<(u64, u32, usize)>> = BinaryHeap::new();
    let mut next = 0;
    let mut out: Steps = Vec::new();
    for b in bounds {
        while next < intervals.len() && intervals[next].0 <= b {
            let (_, hi, win) = intervals[next];
            heap.push(Reverse((win.rank, hi, next)));
            next += 1;
        }
        while heap.peek().is_some_and(|Reverse((_, hi, _))| *hi < b) {
            heap.pop();
        }
        let v = heap.peek().map(|Reverse((_, _, k))| intervals[*k].2);
        if out.last().is_none_or(|&(_, last)| last != v) {
            out.push((b, v));
        }
    }
    out
}

/// The winner function of the rules with indices `own` alone.
fn own_fn(p: &Policy, own: &[usize]) -> RankFn {
    let (mut tcp, mut udp) = (Vec::new(), Vec::new());
    let (mut icmp, mut other) = (None, None);
    for &i in own {
        let Some(r) = p.rules.get(i) else { continue };
        let rank = match p.combine {
            Combine::Priority => (u64::from(r.priority) << 1) | u64::from(r.verdict == Verdict::Accept),
            Combine::FirstMatch => i as u64,
        };
        let win = Win { rank, verdict: r.verdict };
        let (lo, hi) = (u32::from(*r.ports.start()), u32::from(*r.ports.end()));
        match r.protocol {
            Protocol::Tcp if lo <= hi => tcp.push((lo, hi, win)),
            Protocol::Udp if lo <= hi => udp.push((lo, hi, win)),
            Protocol::Tcp | Protocol::Udp => {}
            Protocol::Icmp => icmp = best(icmp, Some(win)),
            Protocol::All => {
                tcp.push((0, PORT_END - 1, win));
                udp.push((0, PORT_END - 1, win));
                icmp = best(icmp, Some(win));
                other = best(other, Some(win));
            }
        }
    }
    RankFn { tcp: sweep(tcp), udp: sweep(udp), icmp, other }
}

/// The port-stage verdict function of a class, relative to the default:
/// the maximal port intervals whose verdict is not the default, and whether
/// ICMP / other protocols get the non-default verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct ClassKey {
    tcp: Vec<(u32, u32)>,
    udp: Vec<(u32, u32)>,
    icmp: bool,
    other: bool,
}

/// The maximal intervals of `steps` whose verdict is not `default`.
fn non_default(steps: &[(u32, Cell)], default: Verdict) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (k, &(lo, cell)) in steps.iter().enumerate() {
        if cell.map_or(default, |w| w.verdict) == default {
            continue;
        }
        let hi = steps.get(k + 1).map_or(PORT_END, |s| s.0) - 1;
        match out.last_mut() {
            Some(last) if last.1 + 1 == lo => last.1 = hi,
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn class_key(f: &RankFn, default: Verdict) -> ClassKey {
    let differs = |c: Cell| c.is_some_and(|w| w.verdict != default);
    ClassKey {
        tcp: non_default(&f.tcp, default),
        udp: non_default(&f.udp, default),
        icmp: differs(f.icmp),
        other: differs(f.other),
    }
}

/// The minimal aligned port prefixes covering `lo..=hi` (both < 65536), as
/// (port, prefix length).
fn port_prefixes(lo: u32, hi: u32, mut emit: impl FnMut(u16, u8)) {
    let mut lo = lo;
    while lo <= hi && hi < PORT_END {
        let mut size = if lo == 0 { PORT_END } else { 1u32 << lo.trailing_zeros() };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        emit(lo as u16, (16 - size.trailing_zeros()) as u8);
        lo += size;
    }
}

/// Network mask of a prefix length (0..=32).
fn mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len.min(32))) }
}

/// Compiles a policy into its two LPM tables. Deterministic; roughly linear
/// in the rules plus the output (each prefix merges its parent's function
/// with its own rules).
pub fn compile(p: &Policy) -> Compiled {
    // The distinct truncated prefixes, each with the rules naming it.
    let mut index: HashMap<(u32, u8), usize> = HashMap::new();
    let mut prefixes: Vec<(u32, u8)> = Vec::new();
    let mut own: Vec<Vec<usize>> = Vec::new();
    for (i, r) in p.rules.iter().enumerate() {
        for net in &r.remotes {
            let len = net.prefix_len();
            let key = (u32::from(net.network()) & mask(len), len);
            let k = *index.entry(key).or_insert_with(|| {
                prefixes.push(key);
                own.push(Vec::new());
                prefixes.len() - 1
            });
            if own[k].last() != Some(&i) {
                own[k].push(i);
            }
        }
    }
    // Parent of each prefix: its longest proper ancestor in the set.
    let parent: Vec<Option<usize>> = prefixes
        .iter()
        .map(|&(addr, len)| (0..len).rev().find_map(|l| index.get(&(addr & mask(l), l)).copied()))
        .collect();
    // Winner functions top-down (shorter prefixes first), then class keys.
    let mut by_len: Vec<usize> = (0..prefixes.len()).collect();
    by_len.sort_unstable_by_key(|&k| prefixes[k].1);
    let mut fns: Vec<Option<RankFn>> = vec![None; prefixes.len()];
    let mut key_ids: HashMap<ClassKey, usize> = HashMap::new();
    let mut keys: Vec<ClassKey> = vec![ClassKey::default()];
    key_ids.insert(ClassKey::default(), 0);
    let mut key_of: Vec<usize> = vec![0; prefixes.len()];
    let empty = RankFn::empty();
    for &k in &by_len {
        let up = parent[k].and_then(|q| fns[q].as_ref()).unwrap_or(&empty);
        let mine = own_fn(p, &own[k]);
        let f = RankFn {
            tcp: merge_steps(&up.tcp, &mine.tcp),
            udp: merge_steps(&up.udp, &mine.udp),
            icmp: best(up.icmp, mine.icmp),
            other: best(up.other, mine.other),
        };
        let key = class_key(&f, p.default);
        key_of[k] = *key_ids.entry(key).or_insert_with_key(|key| {
            keys.push(key.clone());
            keys.len() - 1
        });
        fns[k] = Some(f);
    }
    drop(fns);
    // Emit, in address order, the prefixes that change the answer.
    let mut order: Vec<usize> = (0..prefixes.len()).collect();
    order.sort_unstable_by_key(|&k| prefixes[k]);
    let mut out = Compiled::default();
    let mut class_of_key: HashMap<usize, u32> = HashMap::new();
    let other = p.default.opposite();
    for k in order {
        let inherited = parent[k].map_or(0, |q| key_of[q]);
        if key_of[k] == inherited {
            continue;
        }
        let (addr, len) = prefixes[k];
        let Ok(net) = Ipv4Net::new(Ipv4Addr::from(addr), len) else { continue };
        let class = match class_of_key.get(&key_of[k]) {
            Some(&c) => c,
            None => {
                let c = class_of_key.len() as u32 + 1;
                class_of_key.insert(key_of[k], c);
                let key = &keys[key_of[k]];
                for (proto, intervals) in [(PROTO_TCP, &key.tcp), (PROTO_UDP, &key.udp)] {
                    for &(lo, hi) in intervals {
                        port_prefixes(lo, hi, |port, prefix_len| {
                            out.ports.push(PortEntry { class: c, proto, port, prefix_len, verdict: other });
                        });
                    }
                }
                for (proto, on) in [(PROTO_ICMP, key.icmp), (PROTO_OTHER, key.other)] {
                    if on {
                        out.ports.push(PortEntry { class: c, proto, port: 0, prefix_len: 16, verdict: other });
                    }
                }
                c
            }
        };
        out.classes.push((net, class));
    }
    out.ports.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn rule(priority: u32, verdict: Verdict, protocol: Protocol, ports: RangeInclusive<u16>, remotes: &[&str]) -> Rule {
        Rule { priority, verdict, protocol, ports, remotes: remotes.iter().map(|s| net(s)).collect() }
    }

    /// Checks the table invariants and, for each packet, that the tables
    /// agree with the reference evaluator.
    fn check(p: &Policy, packets: &[(Ipv4Addr, u8, u16)]) -> Compiled {
        let c = compile(p);
        assert_invariants(p, &c);
        for &(remote, proto, port) in packets {
            assert_eq!(
                lookup(&c, p.default, remote, proto, port),
                evaluate(p, remote, proto, port),
                "packet {remote} proto {proto} port {port}\npolicy {p:#?}\ncompiled {c:#?}"
            );
        }
        c
    }

    fn assert_invariants(p: &Policy, c: &Compiled) {
        // Address stage: unique truncated prefixes, ids 1..=n all used.
        let mut nets: Vec<Ipv4Net> = c.classes.iter().map(|&(n, _)| n).collect();
        assert!(nets.iter().all(|n| n.trunc() == *n), "untruncated prefix");
        nets.sort();
        nets.dedup();
        assert_eq!(nets.len(), c.classes.len(), "duplicate prefix");
        let mut ids: Vec<u32> = c.classes.iter().map(|&(_, id)| id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids, (1..=ids.len() as u32).collect::<Vec<_>>(), "class ids not 1..=n");
        // Port stage: known keys, no default verdict, pairwise disjoint.
        let mut spans: Vec<(u32, u8, u32, u32)> = Vec::new();
        for e in &c.ports {
            assert_ne!(e.verdict, p.default, "entry with the default verdict: {e:?}");
            assert!(ids.binary_search(&e.class).is_ok(), "entry of an unknown class: {e:?}");
            assert!(e.prefix_len <= 16);
            match e.proto {
                PROTO_TCP | PROTO_UDP => {}
                PROTO_ICMP | PROTO_OTHER => assert!(e.port == 0 && e.prefix_len == 16, "{e:?}"),
                _ => panic!("unknown proto key: {e:?}"),
            }
            let size = 1u32 << (16 - e.prefix_len);
            let lo = u32::from(e.port);
            assert_eq!(lo % size, 0, "port prefix with host bits: {e:?}");
            spans.push((e.class, e.proto, lo, lo + size - 1));
        }
        spans.sort_unstable();
        for w in spans.windows(2) {
            if (w[0].0, w[0].1) == (w[1].0, w[1].1) {
                assert!(w[0].3 < w[1].2, "overlapping port entries {:?} {:?}", w[0], w[1]);
            }
        }
        // Determinism.
        assert_eq!(compile(p), *c);
    }

    #[test]
    fn sg_1_lowest_priority_wins_and_drop_wins_a_tie() {
        let p = Policy {
            rules: vec![
                rule(100, Verdict::Accept, Protocol::Tcp, 1..=65535, &["10.0.0.0/8"]),
                rule(10, Verdict::Drop, Protocol::Tcp, 22..=22, &["10.1.0.0/16"]),
                rule(10, Verdict::Accept, Protocol::Tcp, 22..=22, &["10.1.2.0/24"]),
                rule(5, Verdict::Accept, Protocol::Tcp, 80..=80, &["10.1.2.3/32"]),
                rule(5, Verdict::Drop, Protocol::Tcp, 80..=80, &["10.1.2.0/24"]),
            ],
            default: Verdict::Drop,
            combine: Combine::Priority,
        };
        let cases = [
            ("10.9.9.9", 22, Verdict::Accept),  // only priority 100
            ("10.1.9.9", 22, Verdict::Drop),    // 10 beats 100
            ("10.1.2.9", 22, Verdict::Drop),    // 10 drop ties 10 accept: drop
            ("10.1.2.3", 80, Verdict::Drop),    // 5 drop ties 5 accept: drop
            ("10.1.2.3", 443, Verdict::Accept), // priority 100
            ("11.0.0.1", 443, Verdict::Drop),   // no match: default
        ];
        let packets: Vec<_> = cases.iter().map(|&(a, port, _)| (ip(a), PROTO_TCP, port)).collect();
        let c = check(&p, &packets);
        for (a, port, want) in cases {
            assert_eq!(evaluate(&p, ip(a), PROTO_TCP, port), want, "{a}:{port}");
            assert_eq!(lookup(&c, p.default, ip(a), PROTO_TCP, port), want, "{a}:{port}");
        }
    }

    #[test]
    fn sg_1_default_inbound_drop_outbound_accept() {
        let inbound = Policy {
            rules: vec![rule(1, Verdict::Accept, Protocol::Tcp, 443..=443, &["0.0.0.0/0"])],
            default: Verdict::Drop,
            combine: Combine::Priority,
        };
        let outbound = Policy {
            rules: vec![rule(1, Verdict::Drop, Protocol::Udp, 53..=53, &["192.0.2.0/24"])],
            default: Verdict::Accept,
            combine: Combine::Priority,
        };
        let packets = [(ip("198.51.100.7"), PROTO_TCP, 443), (ip("198.51.100.7"), PROTO_TCP, 80), (ip("192.0.2.1"), PROTO_UDP, 53)];
        let ci = check(&inbound, &packets);
        let co = check(&outbound, &packets);
        assert_eq!(lookup(&ci, Verdict::Drop, ip("1.2.3.4"), PROTO_TCP, 443), Verdict::Accept);
        assert_eq!(lookup(&ci, Verdict::Drop, ip("1.2.3.4"), PROTO_TCP, 80), Verdict::Drop);
        assert_eq!(lookup(&co, Verdict::Accept, ip("192.0.2.1"), PROTO_UDP, 53), Verdict::Drop);
        assert_eq!(lookup(&co, Verdict::Accept, ip("192.0.2.1"), PROTO_TCP, 53), Verdict::Accept);
        // Entries only for the non-default verdict.
        assert_eq!(ci.ports, vec![PortEntry { class: 1, proto: PROTO_TCP, port: 443, prefix_len: 16, verdict: Verdict::Accept }]);
        assert_eq!(co.ports, vec![PortEntry { class: 1, proto: PROTO_UDP, port: 53, prefix_len: 16, verdict: Verdict::Drop }]);
        // No rules: no entries at all, everything is the default.
        let empty = Policy { rules: vec![], default: Verdict::Drop, combine: Combine::Priority };
        assert_eq!(compile(&empty), Compiled::default());
    }

    #[test]
    fn acl_2_first_match_wins() {
        let p = Policy {
            rules: vec![
                rule(900, Verdict::Drop, Protocol::Tcp, 22..=22, &["10.0.0.0/8"]),
                rule(1, Verdict::Accept, Protocol::Tcp, 0..=1023, &["10.0.0.0/8"]),
                rule(1, Verdict::Accept, Protocol::All, 0..=0, &["10.1.0.0/16"]),
            ],
            default: Verdict::Drop,
            combine: Combine::FirstMatch,
        };
        let cases = [
            ("10.1.1.1", PROTO_TCP, 22, Verdict::Drop), // rule 0 first despite priority 900
            ("10.1.1.1", PROTO_TCP, 80, Verdict::Accept),
            ("10.1.1.1", PROTO_TCP, 2000, Verdict::Accept), // rule 2 (All)
            ("10.2.1.1", PROTO_TCP, 2000, Verdict::Drop),   // default
            ("10.1.1.1", 47, 0, Verdict::Accept),            // GRE via All
        ];
        let packets: Vec<_> = cases.iter().map(|&(a, pr, po, _)| (ip(a), pr, po)).collect();
        let c = check(&p, &packets);
        for (a, pr, po, want) in cases {
            assert_eq!(lookup(&c, p.default, ip(a), pr, po), want, "{a} {pr}:{po}");
        }
    }

    #[test]
    fn sg_5_example_rules_icmp_ssh_web() {
        let p = Policy {
            rules: vec![
                rule(1, Verdict::Accept, Protocol::Icmp, 0..=0, &["0.0.0.0/0"]),
                rule(1, Verdict::Accept, Protocol::Tcp, 22..=22, &["203.0.113.0/24"]),
                rule(1, Verdict::Accept, Protocol::Tcp, 80..=80, &["0.0.0.0/0"]),
                rule(1, Verdict::Accept, Protocol::Tcp, 443..=443, &["0.0.0.0/0"]),
            ],
            default: Verdict::Drop,
            combine: Combine::Priority,
        };
        let packets = [
            (ip("8.8.8.8"), PROTO_ICMP, 0),
            (ip("8.8.8.8"), PROTO_TCP, 22),
            (ip("203.0.113.9"), PROTO_TCP, 22),
            (ip("8.8.8.8"), PROTO_TCP, 443),
            (ip("8.8.8.8"), PROTO_UDP, 443),
        ];
        let c = check(&p, &packets);
        assert_eq!(c.classes, vec![(net("0.0.0.0/0"), 1), (net("203.0.113.0/24"), 2)]);
        let e = |class, proto, port| PortEntry { class, proto, port, prefix_len: 16, verdict: Verdict::Accept };
        assert_eq!(
            c.ports,
            vec![e(1, PROTO_ICMP, 0), e(1, PROTO_TCP, 80), e(1, PROTO_TCP, 443), e(2, PROTO_ICMP, 0), e(2, PROTO_TCP, 22), e(2, PROTO_TCP, 80), e(2, PROTO_TCP, 443)]
        );
        assert_eq!(lookup(&c, p.default, ip("203.0.113.9"), PROTO_TCP, 22), Verdict::Accept);
        assert_eq!(lookup(&c, p.default, ip("8.8.8.8"), PROTO_TCP, 22), Verdict::Drop);
        assert_eq!(lookup(&c, p.default, ip("8.8.8.8"), PROTO_ICMP, 0), Verdict::Accept);
        assert_eq!(lookup(&c, p.default, ip("8.8.8.8"), PROTO_UDP, 80), Verdict::Drop);
    }

    #[test]
    fn sg_1_icmp_and_other_protocols_ignore_ports() {
        let p = Policy {
            rules: vec![
                rule(1, Verdict::Accept, Protocol::Icmp, 5..=6, &["10.0.0.0/8"]),
                rule(2, Verdict::Accept, Protocol::All, 100..=100, &["10.1.0.0/16"]),
                #[allow(clippy::reversed_empty_ranges)]
                rule(3, Verdict::Accept, Protocol::Tcp, 9..=3, &["0.0.0.0/0"]), // empty range
            ],
            default: Verdict::Drop,
            combine: Combine::Priority,
        };
        let c = check(&p, &[]);
        for port in [0, 1, 5, 100, 65535] {
            assert_eq!(lookup(&c, p.default, ip("10.9.0.1"), PROTO_ICMP, port), Verdict::Accept);
            assert_eq!(lookup(&c, p.default, ip("10.9.0.1"), 47, port), Verdict::Drop);
            assert_eq!(lookup(&c, p.default, ip("10.1.0.1"), 47, port), Verdict::Accept);
            assert_eq!(lookup(&c, p.default, ip("10.1.0.1"), PROTO_UDP, port), Verdict::Accept);
            assert_eq!(lookup(&c, p.default, ip("10.9.0.1"), PROTO_TCP, port), Verdict::Drop);
        }
        // The All rule covers every TCP/UDP port with one /0 entry each.
        assert!(c.ports.iter().any(|e| e.proto == PROTO_TCP && e.prefix_len == 0));
        assert_eq!(proto_key(47), PROTO_OTHER);
        assert_eq!(port_key(PROTO_ICMP, 8), 0);
        assert_eq!(port_key(PROTO_UDP, 8), 8);
    }

    #[test]
    fn sg_1_empty_remotes_match_nothing() {
        let p = Policy {
            rules: vec![rule(1, Verdict::Accept, Protocol::All, 0..=65535, &[])],
            default: Verdict::Drop,
            combine: Combine::Priority,
        };
        assert_eq!(evaluate(&p, ip("1.2.3.4"), PROTO_TCP, 1), Verdict::Drop);
        assert_eq!(compile(&p), Compiled::default());
    }

    #[test]
    fn sg_1_port_ranges_decompose_into_minimal_aligned_prefixes() {
        let mut got = Vec::new();
        port_prefixes(1, 65535, |port, len| got.push((port, len)));
        assert_eq!(got.len(), 16);
        assert_eq!(got[0], (1, 16));
        assert_eq!(got[15], (32768, 1));
        got.clear();
        port_prefixes(0, 65535, |port, len| got.push((port, len)));
        assert_eq!(got, vec![(0, 0)]);
        got.clear();
        port_prefixes(1000, 1999, |port, len| got.push((port, len)));
        // 1000-1023 (8+16), 1024-1535, 1536-1791, 1792-1919, 1920-1983, 1984-1999 (16)
        assert_eq!(got, vec![(1000, 13), (1008, 12), (1024, 7), (1536, 8), (1792, 9), (1920, 10), (1984, 12)]);
    }

    #[test]
    fn sg_1_nested_prefixes_carry_every_containing_rule_and_equal_classes_share_an_id() {
        let p = Policy {
            rules: vec![
                rule(1, Verdict::Accept, Protocol::Tcp, 22..=22, &["10.0.0.0/8", "192.168.0.0/16"]),
                rule(2, Verdict::Accept, Protocol::Tcp, 80..=80, &["10.1.0.0/16"]),
                rule(3, Verdict::Accept, Protocol::Tcp, 22..=22, &["10.2.0.0/16"]), // redundant with /8
                rule(4, Verdict::Accept, Protocol::Tcp, 80..=80, &["192.168.1.0/24"]),
            ],
            default: Verdict::Drop,
            combine: Combine::Priority,
        };
        let c = check(&p, &[(ip("10.1.5.5"), PROTO_TCP, 22), (ip("10.1.5.5"), PROTO_TCP, 80), (ip("10.2.0.1"), PROTO_TCP, 22)]);
        // 10.2/16 adds nothing to 10/8 and is left out; 10.1/16 and
        // 192.168.1/24 have the same function {22, 80} and share a class,
        // as do 10/8 and 192.168/16 ({22}).
        assert_eq!(
            c.classes,
            vec![(net("10.0.0.0/8"), 1), (net("10.1.0.0/16"), 2), (net("192.168.0.0/16"), 1), (net("192.168.1.0/24"), 2)]
        );
        assert_eq!(c.ports.len(), 3);
    }

    /// Random policies biased towards overlaps, nesting, ties and boundaries.
    struct Gen {
        rng: fastrand::Rng,
    }

    const PORTS: [u16; 12] = [0, 1, 21, 22, 53, 80, 443, 1023, 1024, 8080, 65534, 65535];

    impl Gen {
        fn port(&mut self) -> u16 {
            if self.rng.bool() { PORTS[self.rng.usize(..PORTS.len())] } else { self.rng.u16(..) }
        }

        fn prefix(&mut self) -> Ipv4Net {
            let len = match self.rng.u8(0..10) {
                0 => 0,
                1..=3 => self.rng.u8(8..=16),
                4..=6 => self.rng.u8(16..=24),
                _ => self.rng.u8(24..=32),
            };
            // Mostly inside 10.0.0.0/14 so prefixes nest and overlap.
            let addr = if self.rng.u8(0..10) < 8 { 0x0a00_0000 | self.rng.u32(..1 << 18) } else { self.rng.u32(..) };
            Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap()
        }

        fn rule(&mut self, pool: &[Ipv4Net]) -> Rule {
            let protocol = match self.rng.u8(0..10) {
                0..=3 => Protocol::Tcp,
                4..=6 => Protocol::Udp,
                7 => Protocol::Icmp,
                _ => Protocol::All,
            };
            let (a, b) = (self.port(), self.port());
            let ports = match self.rng.u8(0..10) {
                0..=3 => a..=a,
                4 => b.max(a)..=b.min(a), // possibly empty
                _ => a.min(b)..=a.max(b),
            };
            let n = if self.rng.u8(0..20) == 0 { 0 } else { self.rng.usize(1..=3) };
            let remotes = (0..n)
                .map(|_| if !pool.is_empty() && self.rng.bool() { pool[self.rng.usize(..pool.len())] } else { self.prefix() })
                .collect();
            let verdict = if self.rng.bool() { Verdict::Accept } else { Verdict::Drop };
            Rule { priority: self.rng.u32(1..=5), verdict, protocol, ports, remotes }
        }

        fn policy(&mut self, max_rules: usize) -> Policy {
            let pool: Vec<Ipv4Net> = (0..self.rng.usize(1..=6)).map(|_| self.prefix()).collect();
            let rules = (0..self.rng.usize(0..=max_rules)).map(|_| self.rule(&pool)).collect();
            let default = if self.rng.bool() { Verdict::Accept } else { Verdict::Drop };
            let combine = if self.rng.bool() { Combine::Priority } else { Combine::FirstMatch };
            Policy { rules, default, combine }
        }

        fn packet(&mut self, p: &Policy) -> (Ipv4Addr, u8, u16) {
            let nets: Vec<Ipv4Net> = p.rules.iter().flat_map(|r| r.remotes.iter().copied()).collect();
            let addr = if nets.is_empty() || self.rng.u8(0..10) == 0 {
                self.rng.u32(..)
            } else {
                let n = nets[self.rng.usize(..nets.len())];
                let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
                match self.rng.u8(0..5) {
                    0 => lo,
                    1 => hi,
                    2 => lo.wrapping_sub(1),
                    3 => hi.wrapping_add(1),
                    _ => lo + self.rng.u32(..=hi - lo),
                }
            };
            let proto = match self.rng.u8(0..10) {
                0..=3 => PROTO_TCP,
                4..=6 => PROTO_UDP,
                7 => PROTO_ICMP,
                8 => [0, 47, 255][self.rng.usize(..3)],
                _ => self.rng.u8(..),
            };
            let port = if p.rules.is_empty() || self.rng.u8(0..5) == 0 {
                self.port()
            } else {
                let r = &p.rules[self.rng.usize(..p.rules.len())];
                let edge = if self.rng.bool() { *r.ports.start() } else { *r.ports.end() };
                match self.rng.u8(0..3) {
                    0 => edge.wrapping_sub(1),
                    1 => edge,
                    _ => edge.wrapping_add(1),
                }
            };
            (Ipv4Addr::from(addr), proto, port)
        }
    }

    #[test]
    fn sg_1_compiled_tables_agree_with_the_reference_evaluator() {
        let mut g = Gen { rng: fastrand::Rng::with_seed(0x5eed_0001) };
        let mut modes = [0usize; 2];
        for i in 0..400 {
            let p = g.policy(if i % 4 == 0 { 40 } else { 12 });
            modes[usize::from(p.combine == Combine::FirstMatch)] += 1;
            let packets: Vec<_> = (0..200).map(|_| g.packet(&p)).collect();
            let c = check(&p, &packets);
            // Now and then, every TCP and UDP port for a few remotes.
            if i % 40 == 0 {
                for _ in 0..3 {
                    let (remote, _, _) = g.packet(&p);
                    for proto in [PROTO_TCP, PROTO_UDP] {
                        for port in 0..=u16::MAX {
                            assert_eq!(lookup(&c, p.default, remote, proto, port), evaluate(&p, remote, proto, port));
                        }
                    }
                }
            }
        }
        assert!(modes[0] > 100 && modes[1] > 100, "{modes:?}");
    }

    /// A realistic mix: CIDRs /8..=/32 weighted towards long prefixes inside
    /// private ranges, single well-known ports, ranges, a few ICMP and All.
    fn realistic(n: usize, seed: u64) -> Policy {
        let mut rng = fastrand::Rng::with_seed(seed);
        let well_known = [22u16, 80, 443, 3306, 5432, 6379, 8080, 8443, 53, 123];
        let rules = (0..n)
            .map(|i| {
                let protocol = match rng.u8(0..100) {
                    0..=2 => Protocol::All,
                    3..=5 => Protocol::Icmp,
                    6..=75 => Protocol::Tcp,
                    _ => Protocol::Udp,
                };
                let ports = match rng.u8(0..10) {
                    0..=5 => {
                        let p = well_known[rng.usize(..well_known.len())];
                        p..=p
                    }
                    6..=7 => {
                        let p = rng.u16(1024..);
                        p..=p
                    }
                    _ => {
                        let lo = rng.u16(1024..60000);
                        lo..=lo.saturating_add(rng.u16(1..2000))
                    }
                };
                let remotes = (0..rng.usize(1..=2))
                    .map(|_| {
                        let len = match rng.u8(0..100) {
                            0..=4 => rng.u8(8..16),
                            5..=29 => rng.u8(16..24),
                            _ => rng.u8(24..=32),
                        };
                        let addr = match rng.u8(0..10) {
                            0..=3 => 0x0a00_0000 | rng.u32(..1 << 24),
                            4..=5 => 0xac10_0000 | rng.u32(..1 << 20),
                            _ => rng.u32(..),
                        };
                        Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap().trunc()
                    })
                    .collect();
                let verdict = if rng.u8(0..10) < 8 { Verdict::Accept } else { Verdict::Drop };
                Rule { priority: (i as u32 % 100) + 1, verdict, protocol, ports, remotes }
            })
            .collect();
        Policy { rules, default: Verdict::Drop, combine: Combine::Priority }
    }

    #[test]
    fn compile_scales_to_10000_security_group_rules() {
        let mut g = Gen { rng: fastrand::Rng::with_seed(7) };
        for (n, samples) in [(10, 500), (1_000, 300), (10_000, 40)] {
            for combine in [Combine::Priority, Combine::FirstMatch] {
                let p = Policy { combine, ..realistic(n, n as u64) };
                let t = Instant::now();
                let c = compile(&p);
                let dt = t.elapsed();
                let prefixes: std::collections::HashSet<Ipv4Net> = p.rules.iter().flat_map(|r| r.remotes.iter().copied()).collect();
                let class_ids = c.classes.iter().map(|&(_, id)| id).max().unwrap_or(0);
                println!(
                    "{n:>6} rules {combine:?}: {} distinct prefixes -> {} address entries, {class_ids} classes, {} port entries; compile {dt:?}",
                    prefixes.len(),
                    c.classes.len(),
                    c.ports.len()
                );
                let packets: Vec<_> = (0..samples).map(|_| g.packet(&p)).collect();
                for (remote, proto, port) in packets {
                    assert_eq!(lookup(&c, p.default, remote, proto, port), evaluate(&p, remote, proto, port));
                }
            }
        }
    }
}
