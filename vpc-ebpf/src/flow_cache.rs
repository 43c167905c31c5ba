//! The flow cache (`vpc_common::flow_cache`): the forwarding decision of an
//! established flow, taken once by the slow path (route, next hop, network
//! ACLs, security groups and connection tracking) and reused by its next
//! packets while the configuration generation stays the same.
use aya_ebpf::helpers::generated::bpf_jiffies64;
use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use vpc_common::{flow_cache, Egress, FlowCacheEntry, FlowKey};

use crate::{
    maps::{CONFIG_GENERATION, FLOW_CACHE, FLOW_CACHE_PER_PORT},
    packet::same_mac,
    parse::{Flow, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, TCP_FIN, TCP_RST, TCP_SYN},
};

/// Set to 1 only by the benchmarks that time the slow path: a read-only
/// global, so the verifier drops the cache when it is set.
#[unsafe(no_mangle)]
static BENCH_NO_FLOW_CACHE: u8 = 0;

/// The configuration generation now. Read before any lookup of the slow
/// path: a decision taken with maps the control plane is changing is
/// recorded under the generation it bumps away from.
#[inline(always)]
pub fn generation() -> u32 {
    CONFIG_GENERATION.get(0).copied().unwrap_or(0)
}

/// The cache key of a packet received on `ifindex`, if its flow may be
/// served from the cache: any but TCP with SYN, FIN or RST (they change
/// the connection's state) and ICMP other than echo (judged by the rules
/// every time, never tracked); never a fragment (a later fragment has no
/// ports, and its first one decides for all).
#[inline(always)]
pub fn key(ifindex: u32, ip: &Ipv4Hdr, flow: &Flow) -> Option<FlowKey> {
    // SAFETY: a loader-set constant.
    if unsafe { core::ptr::read_volatile(&BENCH_NO_FLOW_CACHE) } != 0 {
        return None;
    }
    // MF set or a fragment offset: a fragment.
    if u16::from_be_bytes(ip.frags) & 0x3fff != 0 {
        return None;
    }
    let cacheable = match flow.proto {
        6 => flow.flags & (TCP_SYN | TCP_FIN | TCP_RST) == 0,
        1 => flow.flags == ICMP_ECHO_REQUEST || flow.flags == ICMP_ECHO_REPLY,
        _ => true,
    };
    cacheable.then(|| FlowKey {
        ifindex,
        src: u32::from_ne_bytes(flow.src),
        dst: u32::from_ne_bytes(flow.dst),
        ports: u32::from(flow.sport) << 16 | u32::from(flow.dport),
        // ICMP: the type too (an echo reply is not an echo request).
        proto: u32::from(flow.proto) | if flow.proto == 1 { u32::from(flow.flags) << 8 } else { 0 },
    })
}

/// Entries of each CPU's cache (`vpc_common::flow_cache::slots_for` the
/// machine's CPUs): a read-only global the loader sets with the map's size,
/// so the verifier knows it.
#[unsafe(no_mangle)]
static FLOW_CACHE_SLOTS: u32 = flow_cache::MAX_SLOTS;

#[inline(always)]
fn slots() -> u32 {
    // SAFETY: a loader-set constant.
    unsafe { core::ptr::read_volatile(&FLOW_CACHE_SLOTS) }
}

/// The slot of this CPU's cache holding `key`'s flow, if any: one of the
/// two of its set (a flow is never in both).
#[inline(always)]
fn find(key: &FlowKey) -> Option<&'static FlowCacheEntry> {
    let first = flow_cache::set(key, slots());
    let e = FLOW_CACHE.get(first)?;
    if same(&e.key, key) {
        return Some(e);
    }
    let e = FLOW_CACHE.get(first + 1)?;
    same(&e.key, key).then_some(e)
}

/// The cached decision for `key` (its `egress` says where the packet
/// goes), if this CPU holds one of generation `generation` confirmed less
/// than `flow_cache::REFRESH_JIFFIES` ago, for a frame with the MACs of
/// `eth`. A reference into this CPU's slot: nothing else writes it while
/// this program runs.
#[inline(always)]
pub fn lookup(key: &FlowKey, generation: u32, eth: &EthHdr) -> Option<&'static FlowCacheEntry> {
    let e = find(key)?;
    if e.generation != generation || !same_mac(&e.src_mac, &eth.src_addr) || !same_mac(&e.dst_mac, &eth.dst_addr) {
        return None;
    }
    // SAFETY: a helper with no arguments (inlined by the verifier).
    let now = unsafe { bpf_jiffies64() };
    (now.wrapping_sub(e.checked) < flow_cache::REFRESH_JIFFIES).then_some(e)
}

/// Word-wise equality (no memcmp call in BPF).
#[inline(always)]
fn same(a: &FlowKey, b: &FlowKey) -> bool {
    (a.ifindex ^ b.ifindex) | (a.src ^ b.src) | (a.dst ^ b.dst) | (a.ports ^ b.ports) | (a.proto ^ b.proto) == 0
}

/// Records the slow path's decision for `key`, taken under `generation`
/// for a frame with the MACs of `eth`. Per CPU, and XDP runs never nest on
/// a CPU: no other writer can tear it. The flow's set holds the two flows
/// the slow path decided last: the decision goes in place of the flow's
/// own slot, else of an empty or void (other generation) one, else into
/// the first slot, whose flow moves to the second (whose flow leaves). A
/// slot held by another port's flow (or empty) is taken only within this
/// port's share of the cache (`flow_cache::per_port_slots`); beyond it the
/// flow takes the first slot only if its own port's flow holds it, or goes
/// on without a cached decision.
#[inline(always)]
pub fn insert(key: &FlowKey, generation: u32, eth: &EthHdr, egress: &Egress) {
    let first = flow_cache::set(key, slots());
    let Some(a) = FLOW_CACHE.get_ptr_mut(first) else { return };
    let Some(b) = FLOW_CACHE.get_ptr_mut(first + 1) else { return };
    let void = |e: *mut FlowCacheEntry| {
        // SAFETY: this CPU's slot (see above).
        let e = unsafe { &*e };
        e.key.ifindex == 0 || e.generation != generation
    };
    // SAFETY: as above.
    let (in_a, in_b) = unsafe { (same(&(*a).key, key), same(&(*b).key, key)) };
    let (e, mut demote) = if in_a {
        (a, false)
    } else if in_b {
        (b, false)
    } else if void(a) {
        (a, false)
    } else if void(b) {
        (b, false)
    } else {
        (a, true)
    };
    // The slot whose flow leaves the cache.
    let gone = if demote { b } else { e };
    // SAFETY: as above.
    let held_by = unsafe { (*gone).key.ifindex };
    if held_by != key.ifindex {
        let Some(mine) = FLOW_CACHE_PER_PORT.get_ptr_mut(key.ifindex) else { return };
        // SAFETY: per-CPU values, written only by this CPU (see above).
        unsafe {
            if *mine >= flow_cache::per_port_slots(slots()) {
                // At its share: only in place of one of its own flows.
                if !demote || (*a).key.ifindex != key.ifindex {
                    return;
                }
                demote = false;
            } else {
                *mine += 1;
                if held_by != 0 {
                    if let Some(theirs) = FLOW_CACHE_PER_PORT.get_ptr_mut(held_by) {
                        *theirs = (*theirs).saturating_sub(1);
                    }
                }
            }
        }
    }
    // SAFETY: this CPU's slots; a helper with no arguments.
    unsafe {
        if demote {
            let moved = *a;
            *b = moved;
        }
        *e = FlowCacheEntry {
            key: *key,
            generation,
            checked: bpf_jiffies64(),
            egress: *egress,
            src_mac: eth.src_addr,
            dst_mac: eth.dst_addr,
            pad: 0,
        };
    }
}
