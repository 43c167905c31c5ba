//! Connection tracking and the flow cache: the flow key, entries, states and idle timeouts.
#[allow(unused_imports)]
use crate::*;

/// Most tracked connections.
pub const MAX_CONNECTIONS: u32 = 1 << 18;

/// The flow cache: per CPU, a two-way set-associative table of the
/// forwarding decisions of established flows inside a VPC. A hit replaces the route
/// lookup, the next-hop lookup, the network ACLs and the connection
/// tracker's hash lookup (about two thirds of a forwarded packet's cost)
/// by one inlined array lookup. The decision is the slow path's, recorded:
/// it is void when the configuration generation moves (every change bumps
/// it, so a change applies to cached flows at once) and after
/// [`flow_cache::REFRESH_NS`], when the packet goes the slow path
/// again and refreshes its connection's timestamp. Packets that change a
/// connection's state (TCP SYN, FIN, RST), fragments and ICMP other than
/// echo are never served from it.
///
/// Admission: a flow enters the cache only once it has shown it is more
/// than a handshake, at its [`flow_cache::ADMIT_AFTER`]th cacheable packet
/// through the slow path; until then its packets do not touch the cache at
/// all (no lookup, no insert). The cache is megabytes per CPU, and a
/// packet's first touch of a cold set costs more than the lookups it would
/// save (a cache and TLB miss, ~250-300 ns on this VM, measured by the tcp
/// bench's router-bound connections): a short connection would pay it and
/// never use the entry. Each flow has a byte in a small table per CPU
/// ([`flow_cache::admission`]): its cacheable slow-path packets counted,
/// and whether it was admitted (only then is the cache looked up for it),
/// under a tag of the time epoch ([`flow_cache::admission_tag`]): a record
/// of an earlier epoch counts as none, so every flow proves itself again
/// once per epoch ([`flow_cache::ADMISSION_EPOCH_SHIFT`]) and the table
/// needs no sweeping. A change of the configuration voids the cached
/// decisions, not the admissions: an admitted flow's next packet takes
/// the slow path once and is cached again. Flows sharing a byte only cost
/// each other a wasted lookup or an early admission, never a wrong
/// decision: every cached decision is still checked by its own key.
pub mod flow_cache {
    /// Most entries per CPU (a power of two): 8 MiB of 64-byte entries,
    /// enough for 64,000 flows on one CPU to hit 97% of the time with two
    /// ways (the pipeline bench's many-flows figure; 16,384 direct-mapped
    /// slots held a port to 8,192 and 64,000 flows hit about one packet in
    /// eight).
    pub const MAX_SLOTS: u32 = 1 << 17;
    /// Fewest entries per CPU.
    pub const MIN_SLOTS: u32 = 1 << 12;
    /// The memory all CPUs' caches may take together (the loader sizes the
    /// per-CPU table by the machine's CPU count, within the bounds above).
    pub const BUDGET_BYTES: u64 = 64 << 20;
    /// Entries of a set: a flow may sit in either of two adjacent slots.
    pub const WAYS: u32 = 2;
    /// Age after which a cached decision is checked again by the slow
    /// path, which refreshes its connection's timestamp: 15 times under
    /// the shortest connection timeout (15 s). Each check is a slow-path
    /// packet: at 100 ticks (0.4 s at HZ=250) they were 7% of the packets
    /// of 64,000 flows at about 2.3 Mpps (the pipeline bench).
    pub const REFRESH_NS: u64 = 1_000_000_000;

    /// [`REFRESH_NS`] in ticks of `ns_per_jiffy` (the datapath's
    /// clock, `crate::clock`): what the established path compares with
    /// (the loader sets it).
    pub const fn refresh_jiffies(ns_per_jiffy: u64) -> u64 {
        REFRESH_NS / if ns_per_jiffy == 0 { 1 } else { ns_per_jiffy }
    }

    /// Entries per CPU for a machine of `cpus` (possible) CPUs: the budget
    /// shared out, a power of two within [`MIN_SLOTS`], [`MAX_SLOTS`].
    pub const fn slots_for(cpus: u32) -> u32 {
        let cpus = if cpus == 0 { 1 } else { cpus as u64 };
        let fit = BUDGET_BYTES / cpus / core::mem::size_of::<super::FlowCacheEntry>() as u64;
        let mut slots = MAX_SLOTS;
        while slots > MIN_SLOTS && slots as u64 > fit {
            slots /= 2;
        }
        slots
    }

    /// Most slots of a CPU's cache of `slots` the flows of one router port
    /// (ENI) may hold (`FLOW_CACHE_PER_PORT` counts them): a flood of new
    /// flows from one instance can evict at most this many of the others'
    /// cached decisions, whose next packets then take the slow path again.
    pub const fn per_port_slots(slots: u32) -> u32 {
        slots / 2
    }

    /// Cacheable slow-path packets a flow takes before its decision is
    /// cached: the third is cached, from the fourth on its packets hit (a
    /// TCP connection's handshake ACK and last ACK, and one answer, do not
    /// make it: seven-packet connections never touch the cache).
    pub const ADMIT_AFTER: u8 = 3;
    /// 64-bit words per CPU of the admission table: a byte per flow slot,
    /// 256 KiB (262,144 slots: 64,000 flows share a byte with another about
    /// one time in four).
    pub const ADMISSION_WORDS: u32 = 1 << 15;
    /// An admission record's time epoch is `jiffies >> this` (4,096 jiffies:
    /// 4 s at HZ=1000, 16 s at HZ=250): a record of an earlier epoch is
    /// void (a cached flow proves itself again once per epoch).
    pub const ADMISSION_EPOCH_SHIFT: u32 = 12;
    /// The admitted bit of an admission byte.
    pub const ADMITTED: u8 = 1 << 2;
    /// The packet count bits of an admission byte.
    pub const ADMISSION_COUNT: u8 = 3;
    /// The tag bits of an admission byte.
    pub const ADMISSION_TAG: u8 = !(ADMITTED | ADMISSION_COUNT);

    /// The tag an admission byte is valid under (its top five bits): the
    /// time epoch at `jiffies`.
    #[inline(always)]
    pub const fn admission_tag(jiffies: u64) -> u8 {
        ((jiffies >> ADMISSION_EPOCH_SHIFT) << 3) as u8 & ADMISSION_TAG
    }

    /// A multiplicative hash of a flow's key words: [`set_of`] and
    /// [`admission_of`] take their slots from its top bits (one hash for
    /// both, computed once per packet).
    #[inline(always)]
    pub const fn hash(k: &super::FlowKey) -> u64 {
        let a = (k.src as u64 | (k.dst as u64) << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let b = (k.ports as u64 | ((k.ifindex ^ k.proto) as u64) << 32).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        a ^ b
    }

    /// Bits of [`hash`] below which [`admission_of`] takes its 18: the
    /// top ones, of which [`set_of`] shares at most the lowest three (a
    /// cache of at most [`MAX_SLOTS`] takes bits 33 to 48), so flows of
    /// one set are spread over the admission table.
    const ADMISSION_SHIFT: u32 = 64 - 18;
    const _: () = assert!(ADMISSION_WORDS * 8 == 1 << (64 - ADMISSION_SHIFT) && MAX_SLOTS <= 1 << 17);

    /// A flow's byte in the admission table: (word, byte in the word).
    #[inline(always)]
    pub const fn admission(k: &super::FlowKey) -> (u32, u32) {
        admission_of(hash(k))
    }

    /// [`admission`] from the flow's [`hash`].
    #[inline(always)]
    pub const fn admission_of(hash: u64) -> (u32, u32) {
        let h = (hash >> ADMISSION_SHIFT) as u32;
        (h >> 3, h & 7)
    }

    /// The admission byte after a cacheable slow-path packet of its flow,
    /// under `tag`, and whether the flow's decision is to be cached now.
    #[inline(always)]
    pub const fn admit(byte: u8, tag: u8) -> (u8, bool) {
        let count = if byte & ADMISSION_TAG == tag { byte & ADMISSION_COUNT } else { 0 };
        let count = if count < ADMISSION_COUNT { count + 1 } else { count };
        if count >= ADMIT_AFTER {
            (tag | ADMITTED | count, true)
        } else {
            (tag | count, false)
        }
    }

    /// True if an admission byte says its flow was admitted under `tag`
    /// (the cache is looked up only for such flows).
    #[inline(always)]
    pub const fn admitted(byte: u8, tag: u8) -> bool {
        byte & (ADMISSION_TAG | ADMITTED) == tag | ADMITTED
    }

    /// The index of entry `index` of CPU `cpu`'s region in an array of
    /// `per_cpu` entries per CPU (`FLOW_CACHE`, `FLOW_CACHE_ADMISSION`):
    /// plain arrays of one region per CPU, each written only by its CPU.
    #[inline(always)]
    pub const fn region(cpu: u32, per_cpu: u32, index: u32) -> u32 {
        cpu.wrapping_mul(per_cpu).wrapping_add(index)
    }

    /// The first slot of a flow's set in a cache of `slots` entries (the
    /// set is this slot and the next).
    #[inline(always)]
    pub const fn set(k: &super::FlowKey, slots: u32) -> u32 {
        set_of(hash(k), slots)
    }

    /// [`set`] from the flow's [`hash`].
    #[inline(always)]
    pub const fn set_of(hash: u64, slots: u32) -> u32 {
        (hash >> 32) as u32 & (slots - WAYS)
    }
}

/// Key of a [`FlowCacheEntry`]: what a forwarding decision depends on
/// besides the configuration (addresses as read from the packet, in
/// network order).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// Router port the packet came in on (ifindex, never 0).
    pub ifindex: u32,
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Source port then destination port, as in the packet (ICMP echo: the
    /// identifier twice).
    pub ports: u32,
    /// IP protocol; for ICMP, the type in bits 8 to 15.
    pub proto: u32,
}

/// Value of `FLOW_CACHE`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowCacheEntry {
    /// The flow (all zeros: an empty slot; no packet has ifindex 0).
    pub key: FlowKey,
    /// `CONFIG_GENERATION` when the decision was taken.
    pub generation: u32,
    /// bpf_jiffies64 when the slow path last took or confirmed it.
    pub checked: u64,
    /// Where the flow's packets go.
    pub egress: Egress,
    /// The frame's destination MAC (the router's) and source MAC (the
    /// ENI's) when the decision was taken, in the header's order: a hit
    /// skips the ingress port's ENI, so its anti-spoofing check is made
    /// against these ([`crate::HeaderMacs`]).
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    /// Explicit padding (to 64 bytes).
    pub pad: u32,
}

crate::header_macs!(FlowCacheEntry, dst_mac, src_mac);
const _: () = assert!(core::mem::size_of::<FlowCacheEntry>() == 64);

/// VPCs whose tracked connections are counted (`CONNTRACK_PER_VPC`);
/// beyond, a VPC's connections are held to its ENIs' quotas only.
pub const MAX_CONNTRACK_VPCS: u32 = 4096;

/// Value of `CONNTRACK_QUOTA` (index 0): how many tracked connections one
/// ENI, and all the ENIs of one VPC, may hold at once, so that no instance
/// fills the table every instance shares. A new flow beyond a quota is
/// refused (`conntrack_eni_quota`, `conntrack_vpc_quota`) and counted on
/// its ENI; other ENIs' flows go on. The counts are the datapath's,
/// corrected to the table's content by the control plane's sweep.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ConntrackQuota {
    /// Most connections counted against one ENI.
    pub per_eni: u32,
    /// Most connections of one VPC.
    pub per_vpc: u32,
}

impl ConntrackQuota {
    /// An eighth of the table per ENI, half of it per VPC.
    pub const DEFAULT: ConntrackQuota = ConntrackQuota { per_eni: MAX_CONNECTIONS / 8, per_vpc: MAX_CONNECTIONS / 2 };
    /// No quota (benchmarks that measure the table itself).
    pub const UNLIMITED: ConntrackQuota = ConntrackQuota { per_eni: u32::MAX, per_vpc: u32::MAX };
}

/// First fragments remembered at once (`FRAGMENTS`, least recently used
/// evicted).
pub const MAX_FRAGMENTED_DATAGRAMS: u32 = 8192;

/// How long the flow of a first fragment is remembered for its datagram's
/// later fragments: the kernel's reassembly timeout (30 s).
pub const FRAGMENT_TIMEOUT_NS: u64 = 30 * 1_000_000_000;

/// Key of `FRAGMENTS`: one IPv4 datagram as it came in on a router port
/// (its fragments share the addresses, protocol and identification).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FragmentKey {
    /// Router port the fragments come in on.
    pub ifindex: u32,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// IPv4 identification, as in the header.
    pub id: [u8; 2],
    /// IP protocol.
    pub proto: u8,
    /// Always 0.
    pub pad: u8,
}

/// Value of `FRAGMENTS`: what the first fragment of a datagram carried
/// that its later fragments do not (the layer-4 header), once the router
/// forwarded it. A later fragment is judged as a packet of that flow; one
/// whose first fragment was not forwarded (refused, or never seen) is
/// dropped (`fragment_without_first`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FragmentFlow {
    /// When the first fragment was forwarded (CLOCK_MONOTONIC ns).
    pub seen_ns: u64,
    /// Source port (ICMP echo: the identifier).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// ICMP type (else 0).
    pub icmp_type: u8,
    /// Always 0.
    pub pad: [u8; 3],
}

/// Key of `CONNTRACK`: a flow in its original direction, inside one VPC.
/// ICMP echo uses the identifier as both ports.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CtKey {
    /// Numeric id of the VPC.
    pub vpc_id: u32,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Source port, big-endian.
    pub sport: [u8; 2],
    /// Destination port, big-endian.
    pub dport: [u8; 2],
    /// IP protocol.
    pub proto: u8,
    /// Always 0.
    pub pad: [u8; 3],
}

/// `CtEntry::state`: the initiator's first packet (a SYN, or a packet a
/// rule allowed mid-stream) and nothing back yet. For UDP and ICMP echo,
/// the only state besides [`CT_STATE_ESTABLISHED`].
pub const CT_STATE_SYN_SENT: u32 = 1;
/// `CtEntry::state`: the responder answered (UDP, ICMP echo; TCP: the
/// initiator acknowledged the responder's SYN, or a connection picked up
/// mid-stream was answered).
pub const CT_STATE_ESTABLISHED: u32 = 2;
/// `CtEntry::state`: FIN or RST seen.
pub const CT_STATE_CLOSING: u32 = 3;
/// `CtEntry::state`: TCP, the responder's SYN (with ACK, or without in a
/// simultaneous open) answered the initiator's; its final ACK not seen yet.
/// Half-open: it keeps the handshake's timeout, never the established one.
pub const CT_STATE_SYN_RECEIVED: u32 = 4;

/// Value of `CONNTRACK`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CtEntry {
    /// The datapath's clock (`clock`, CLOCK_MONOTONIC ns) at the last packet.
    pub last_seen_ns: u64,
    /// `CT_STATE_*`.
    pub state: u32,
    /// The initiator's egress policy id when the flow was allowed.
    pub egress_policy: u32,
    /// The responder's ingress policy id when the flow was allowed (a
    /// policy's default verdict is part of its content-addressed id).
    pub ingress_policy: u32,
    /// The router port the flow's first packet came in on (the
    /// initiator's): a reply must go out of it.
    pub initiator_port: u32,
    /// The router port the flow's first packet went out of (the
    /// responder's): a reply must come in on it.
    pub responder_port: u32,
    /// The router port whose ENI the connection counts against
    /// ([`ConntrackQuota`]): the initiator's, or the responder's for a flow
    /// from the internet.
    pub quota_port: u32,
}

/// Idle timeouts (ns) by state and protocol, as the cloud's ENI connection
/// tracking defaults: TCP established 910 s, closing 15 s, handshake 60 s,
/// UDP 60 s, ICMP 30 s.
pub mod ct_timeout {
    /// TCP established.
    pub const TCP_ESTABLISHED_NS: u64 = 910 * 1_000_000_000;
    /// TCP handshake (SYN sent, SYN received).
    pub const TCP_HANDSHAKE_NS: u64 = 60 * 1_000_000_000;
    /// TCP after FIN or RST.
    pub const TCP_CLOSING_NS: u64 = 15 * 1_000_000_000;
    /// UDP.
    pub const UDP_NS: u64 = 60 * 1_000_000_000;
    /// ICMP echo.
    pub const ICMP_NS: u64 = 30 * 1_000_000_000;
}

/// The idle timeout of a tracked connection of protocol `proto` in `state`.
#[inline(always)]
pub const fn ct_idle_timeout(proto: u8, state: u32) -> u64 {
    match (proto, state) {
        (6, CT_STATE_ESTABLISHED) => ct_timeout::TCP_ESTABLISHED_NS,
        (6, CT_STATE_CLOSING) => ct_timeout::TCP_CLOSING_NS,
        (6, _) => ct_timeout::TCP_HANDSHAKE_NS,
        (17, _) => ct_timeout::UDP_NS,
        _ => ct_timeout::ICMP_NS,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::flow_cache::*;
    use super::FlowKey;

    /// A flow is admitted at its third cacheable slow-path packet, looked
    /// up only then; a record of another epoch counts as none.
    #[test]
    fn a_flow_is_admitted_at_its_third_cacheable_packet_under_one_tag() {
        let tag = admission_tag(5 << ADMISSION_EPOCH_SHIFT);
        let mut byte = 0u8;
        let mut cached_at = None;
        for packet in 1..=5 {
            assert!(!admitted(byte, tag) || cached_at.is_some(), "looked up before admission (packet {packet})");
            let (next, cache) = admit(byte, tag);
            if cache && cached_at.is_none() {
                cached_at = Some(packet);
            }
            byte = next;
        }
        assert_eq!(cached_at, Some(u32::from(ADMIT_AFTER)));
        assert!(admitted(byte, tag));
        // The next epoch: void. Within the epoch: the same tag.
        assert_eq!(admission_tag((6 << ADMISSION_EPOCH_SHIFT) - 1), tag);
        let other = admission_tag(6 << ADMISSION_EPOCH_SHIFT);
        assert_ne!(other, tag);
        assert!(!admitted(byte, other));
        assert_eq!(admit(byte, other), (other | 1, false));
        // The tag never touches the admitted and count bits.
        for e in 0..64u64 {
            assert_eq!(admission_tag(e << ADMISSION_EPOCH_SHIFT) & !ADMISSION_TAG, 0);
        }
    }

    #[test]
    fn a_cached_decision_is_checked_again_after_a_second_at_any_tick_rate() {
        for hz in crate::clock::KERNEL_HZ {
            assert_eq!(refresh_jiffies(1_000_000_000 / hz), hz, "HZ={hz}");
        }
    }

    /// The admission slot is in the table, and flows of one cache set are
    /// spread over it (the two hashes are independent).
    #[test]
    fn admission_slots_spread_the_flows_of_a_cache_set() {
        let key = |n: u32| FlowKey { ifindex: 3, src: 0x0a00_010a, dst: 0x0a00_0200 + n, ports: 1024 << 16 | 5201, proto: 6 };
        let mut slots = std::collections::BTreeSet::new();
        let mut sets = std::collections::BTreeMap::<u32, std::vec::Vec<(u32, u32)>>::new();
        for n in 0..4096 {
            let (word, byte) = admission(&key(n));
            assert!(word < ADMISSION_WORDS && byte < 8);
            slots.insert((word, byte));
            sets.entry(set(&key(n), MAX_SLOTS)).or_default().push((word, byte));
        }
        assert!(slots.len() > 4000, "{} distinct slots of 4096 flows", slots.len());
        for (set, in_it) in sets.iter().filter(|(_, v)| v.len() > 1) {
            let distinct: std::collections::BTreeSet<_> = in_it.iter().collect();
            assert_eq!(distinct.len(), in_it.len(), "set {set}: {in_it:?}");
        }
    }
}
