//! The flow cache (`vpc_common::flow_cache`): the forwarding decision of an
//! established flow, taken once by the slow path (route, next hop, network
//! ACLs, security groups and connection tracking) and reused by its next
//! packets while the configuration generation stays the same.
use aya_ebpf::helpers::generated::bpf_jiffies64;
use network_types::{
    eth::{EthHdr, EtherType},
    ip::Ipv4Hdr,
};
use vpc_common::{flow_cache, Egress, FlowCacheEntry, FlowKey};

use crate::{
    maps::{config_generation as generation, cpu, FLOW_CACHE, FLOW_CACHE_ADMISSION, FLOW_CACHE_PER_PORT},
    packet::{Packet, frame_macs, read_addr, read_be16, same_macs, value_macs, write_value_macs},
    parse::{Flow, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, TCP_FIN, TCP_RST, TCP_SYN},
};

/// Set to 1 only by the benchmarks that time the slow path: a read-only
/// global, so the verifier drops the cache when it is set.
#[unsafe(no_mangle)]
static BENCH_NO_FLOW_CACHE: u8 = 0;

#[inline(always)]
fn disabled() -> bool {
    // SAFETY: a loader-set constant.
    unsafe { core::ptr::read_volatile(&BENCH_NO_FLOW_CACHE) != 0 }
}

/// EtherType IPv4 as the header holds it (network order).
const ETH_IPV4: u16 = EtherType::Ipv4 as u16;
/// The bytes the established path reads: Ethernet, IPv4 without options
/// and the first 8 bytes of layer 4 (14 for TCP, up to its flags).
const HIT_HEADERS: usize = EthHdr::LEN + Ipv4Hdr::LEN + 8;
const HIT_HEADERS_TCP: usize = EthHdr::LEN + Ipv4Hdr::LEN + 14;

/// A packet of a flow whose decision this CPU's cache holds: its headers
/// (bounds-checked) and the decision.
pub struct Hit {
    pub eth: *mut EthHdr,
    pub ip: *mut Ipv4Hdr,
    pub entry: &'static FlowCacheEntry,
    key: FlowKey,
    flags: u8,
}

impl Hit {
    /// The flow, for a drop report.
    #[inline(always)]
    pub fn flow(&self) -> Flow {
        let k = &self.key;
        Flow {
            src: k.src.to_ne_bytes(),
            dst: k.dst.to_ne_bytes(),
            proto: k.proto as u8,
            sport: (k.ports >> 16) as u16,
            dport: k.ports as u16,
            flags: self.flags,
            ingress: k.ifindex,
            egress: 0,
        }
    }
}

/// The established path's lookup: the headers are read once (one bounds
/// check, an IPv4 header without options), checked as the parser checks
/// them (version, lengths, header checksum), and the cache key is made
/// from them, with no [`Flow`] built. `None`: not a hit, or not a packet
/// this path judges (options, a fragment, TCP SYN/FIN/RST, ICMP other than
/// echo, a TTL expiring, anything the parser would refuse): the slow path
/// decides it, from the start.
#[inline(always)]
pub fn established<P: Packet>(pkt: &P, ifindex: u32) -> Option<Hit> {
    if disabled() {
        return None;
    }
    let start = pkt.start();
    if start + HIT_HEADERS > pkt.end() {
        return None;
    }
    let eth = start as *mut EthHdr;
    let ip = (start + EthHdr::LEN) as *mut Ipv4Hdr;
    let l4 = start + EthHdr::LEN + Ipv4Hdr::LEN;
    // SAFETY: the HIT_HEADERS bytes are within the packet (checked above);
    // every read below is at an even offset from the frame's start (see
    // `packet::read_mac` for alignment).
    let (e, h) = unsafe { (&*eth, &*ip) };
    if e.ether_type != ETH_IPV4 || h.vihl != 0x45 || read_be16(&h.frags) & 0x3fff != 0 || h.ttl <= 1 {
        return None;
    }
    // The key as `key` makes it: ports as sport << 16 | dport (host order).
    // (Layer 4 first: a SYN leaves before the checksum is summed.)
    let (ports, proto, flags) = match h.proto as u8 {
        6 => {
            if start + HIT_HEADERS_TCP > pkt.end() {
                return None;
            }
            // SAFETY: within the packet (checked above).
            let flags = unsafe { *((l4 + 13) as *const u8) };
            if flags & (TCP_SYN | TCP_FIN | TCP_RST) != 0 {
                return None;
            }
            // SAFETY: as above.
            (u32::from_be(unsafe { *(l4 as *const u32) }), 6, flags)
        }
        // SAFETY: within the packet (HIT_HEADERS).
        17 => (u32::from_be(unsafe { *(l4 as *const u32) }), 17, 0),
        1 => {
            // SAFETY: within the packet (HIT_HEADERS).
            let (ty, id) = unsafe { (*(l4 as *const u8), u16::from_be(*((l4 + 4) as *const u16))) };
            if ty != ICMP_ECHO_REQUEST && ty != ICMP_ECHO_REPLY {
                return None;
            }
            (u32::from(id) << 16 | u32::from(id), 1 | u32::from(ty) << 8, ty)
        }
        p => (0, u32::from(p), 0),
    };
    let total = read_be16(&h.tot_len) as u64;
    if total < Ipv4Hdr::LEN as u64 || total + EthHdr::LEN as u64 > pkt.wire_len() {
        return None;
    }
    if !ipv4_checksum_ok(start + EthHdr::LEN) {
        return None;
    }
    let src = u32::from_ne_bytes(read_addr(&h.src_addr));
    let dst = u32::from_ne_bytes(read_addr(&h.dst_addr));
    let key = FlowKey { ifindex, src, dst, ports, proto };
    // One hash and one CPU number for the admission byte and the set.
    let (hash, cpu) = (flow_cache::hash(&key), cpu());
    let generation = generation();
    // SAFETY: a helper with no arguments (inlined by the verifier).
    let now = unsafe { bpf_jiffies64() };
    // Not admitted (yet): the cache is not touched for it at all.
    let admission = admission_byte(hash, cpu)?;
    // SAFETY: this CPU's admission byte (see `admission_byte`).
    if !flow_cache::admitted(unsafe { *admission }, flow_cache::admission_tag(now)) {
        return None;
    }
    let entry = lookup(&key, first_slot(hash, cpu), generation, now, e)?;
    Some(Hit { eth, ip, entry, key, flags })
}

/// The IPv4 header checksum check of `parse` for a header without options
/// at `ip` (20 bytes within the packet): a 2-byte, four 4-byte and a
/// 2-byte load summed, then folded (the one's complement sum does not
/// depend on how the words are grouped). The 4-byte loads are aligned
/// when the frame's start is (XDP); where not (a socket buffer whose IP
/// header is aligned), unaligned loads are right where BPF runs them
/// (x86-64, arm64; see `packet::read_mac`).
#[inline(always)]
fn ipv4_checksum_ok(ip: usize) -> bool {
    // SAFETY: the 20 bytes at `ip` are within the packet (the caller's
    // bounds check).
    let mut sum = unsafe {
        u64::from(*(ip as *const u16))
            + u64::from(*((ip + 2) as *const u32))
            + u64::from(*((ip + 6) as *const u32))
            + u64::from(*((ip + 10) as *const u32))
            + u64::from(*((ip + 14) as *const u32))
            + u64::from(*((ip + 18) as *const u16))
    };
    // At most 2 * 0xffff + 4 * 0xffff_ffff: folded to 16 bits.
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum == 0xffff
}

/// The cache key of a packet received on `ifindex`, if its flow may be
/// served from the cache: any but TCP with SYN, FIN or RST (they change
/// the connection's state) and ICMP other than echo (judged by the rules
/// every time, never tracked); never a fragment (a later fragment has no
/// ports, and its first one decides for all), nor an IPv4 header with
/// options (the established path reads only headers without: rare, such
/// packets take the slow path every time).
#[inline(always)]
pub fn key(ifindex: u32, ip: &Ipv4Hdr, flow: &Flow) -> Option<FlowKey> {
    if disabled() {
        return None;
    }
    // MF set or a fragment offset: a fragment.
    if ip.vihl != 0x45 || u16::from_be_bytes(ip.frags) & 0x3fff != 0 {
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

/// `flow_cache::REFRESH_NS` in ticks (`flow_cache::refresh_jiffies`): a
/// read-only global the loader sets from the clock's base.
#[unsafe(no_mangle)]
static FLOW_CACHE_REFRESH_JIFFIES: u64 = 100;

#[inline(always)]
fn refresh_jiffies() -> u64 {
    // SAFETY: a loader-set constant.
    unsafe { core::ptr::read_volatile(&FLOW_CACHE_REFRESH_JIFFIES) }
}

/// The first slot of the set of a flow of hash `hash` (`flow_cache::hash`),
/// in CPU `cpu`'s region of `FLOW_CACHE`.
#[inline(always)]
fn first_slot(hash: u64, cpu: u32) -> u32 {
    let slots = slots();
    flow_cache::region(cpu, slots, flow_cache::set_of(hash, slots))
}

/// The slot of this CPU's cache holding `key`'s flow, if any: one of the
/// two of its set, which starts at `first` (a flow is never in both).
#[inline(always)]
fn find(key: &FlowKey, first: u32) -> Option<&'static FlowCacheEntry> {
    let e = FLOW_CACHE.get(first)?;
    if same(&e.key, key) {
        return Some(e);
    }
    let e = FLOW_CACHE.get(first + 1)?;
    same(&e.key, key).then_some(e)
}

/// The cached decision for `key` (its `egress` says where the packet
/// goes), if this CPU holds one of generation `generation` confirmed less
/// than `flow_cache::REFRESH_NS` ago, for a frame with the MACs of
/// `eth`. A reference into this CPU's slot: nothing else writes it while
/// this program runs.
#[inline(always)]
fn lookup(key: &FlowKey, first: u32, generation: u32, now: u64, eth: &EthHdr) -> Option<&'static FlowCacheEntry> {
    let e = find(key, first)?;
    if e.generation != generation || !same_macs(value_macs(e), frame_macs(eth)) {
        return None;
    }
    (now.wrapping_sub(e.checked) < refresh_jiffies()).then_some(e)
}

/// CPU `cpu`'s admission byte for a flow of hash `hash`
/// (`flow_cache::admission_of`): per CPU, written only by this CPU's runs,
/// which never nest.
#[inline(always)]
fn admission_byte(hash: u64, cpu: u32) -> Option<*mut u8> {
    let (word, byte) = flow_cache::admission_of(hash);
    let w = FLOW_CACHE_ADMISSION.get_ptr_mut(flow_cache::region(cpu, flow_cache::ADMISSION_WORDS, word))?;
    // SAFETY: `byte` < 8: within the word's 8 bytes.
    Some(unsafe { (w as *mut u8).add(byte as usize) })
}

/// Counts a cacheable packet of `key` that the slow path decided: true if
/// its decision is to be cached now (the flow is
/// admitted, `flow_cache::ADMIT_AFTER`); before that, the cache is not
/// touched. A function of its own (not inlined, a few bytes of stack): the
/// verifier sees one unknown answer, whatever the byte held.
#[inline(never)]
pub fn admit(key: &FlowKey) -> bool {
    let Some(b) = admission_byte(flow_cache::hash(key), cpu()) else { return false };
    // SAFETY: a helper with no arguments (inlined by the verifier).
    let now = unsafe { bpf_jiffies64() };
    // SAFETY: this CPU's admission byte (see `admission_byte`).
    let (next, cache) = flow_cache::admit(unsafe { *b }, flow_cache::admission_tag(now));
    // SAFETY: as above.
    unsafe { *b = next };
    cache
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
    let first = first_slot(flow_cache::hash(key), cpu());
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
    // SAFETY: this CPU's slots. Field by field, straight into the map: no
    // 64-byte entry built on the program's stack (its 512 bytes are nearly
    // all taken).
    unsafe {
        if demote {
            core::ptr::copy_nonoverlapping(a, b, 1);
        }
        (*e).key = *key;
        (*e).generation = generation;
        // SAFETY: a helper with no arguments (inlined by the verifier).
        (*e).checked = bpf_jiffies64();
        (*e).egress = *egress;
        write_value_macs(e, frame_macs(eth));
        (*e).pad = 0;
    }
}
