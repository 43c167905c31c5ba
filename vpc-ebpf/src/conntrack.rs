//! Stateful security groups (SG-1): a flow allowed by the initiator's
//! outbound rules and the responder's inbound rules is tracked, and its
//! packets pass both ways without another rule lookup. Each entry records the
//! two policy ids that allowed it: when either ENI's policy changes (the
//! control plane switches ids atomically), the next packet of the flow is
//! judged again by the new rules, so revoked access stops at once.
use aya_ebpf::bindings::BPF_NOEXIST;
use vpc_common::{
    ct_idle_timeout, CtEntry, CtKey, DropReason, Eni, CT_STATE_CLOSING, CT_STATE_ESTABLISHED,
    CT_STATE_SYN_RECEIVED, CT_STATE_SYN_SENT, ENI_FLAG_PORT, ENI_FLAG_SECURITY_GROUPS, ENI_FLAG_SG_EGRESS_DEFAULT_ACCEPT,
    ENI_FLAG_SG_INGRESS_DEFAULT_ACCEPT,
};

use crate::{
    clock,
    maps::CONNTRACK,
    monitor,
    parse::{Flow, Quoted, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN},
    policy, stats,
};

// Timestamps are the datapath's clock (`clock::now`: CLOCK_MONOTONIC
// within a tick, read with no kernel call; idle timeouts are seconds), the
// time base the control plane's sweeper reads with CLOCK_MONOTONIC.

/// -EEXIST from a map insert.
const EEXIST: i32 = -17;

/// Policy id in force for an ENI's side (0: not in any group = accept all).
#[inline(always)]
fn egress_id(e: &Eni) -> u32 {
    if e.flags & ENI_FLAG_SECURITY_GROUPS != 0 { e.sg_egress } else { 0 }
}

#[inline(always)]
fn ingress_id(e: &Eni) -> u32 {
    if e.flags & ENI_FLAG_SECURITY_GROUPS != 0 { e.sg_ingress } else { 0 }
}

/// Judges a packet from `initiator` (src, sport) to `responder` (dst,
/// dport) by the security groups: outbound of the initiator, inbound of the
/// responder (`MAIN`: see `policy::IN_MAIN`).
#[inline(always)]
pub fn judge<const MAIN: bool>(initiator: &Eni, responder: &Eni, src: [u8; 4], dst: [u8; 4], proto: u8, dport: u16) -> Result<(), DropReason> {
    if initiator.flags & ENI_FLAG_SECURITY_GROUPS != 0
        && !policy::accepts::<MAIN>(initiator.sg_egress, initiator.flags & ENI_FLAG_SG_EGRESS_DEFAULT_ACCEPT != 0, dst, proto, dport)
    {
        return Err(DropReason::SgEgress);
    }
    if responder.flags & ENI_FLAG_SECURITY_GROUPS != 0
        && !policy::accepts::<MAIN>(responder.sg_ingress, responder.flags & ENI_FLAG_SG_INGRESS_DEFAULT_ACCEPT != 0, src, proto, dport)
    {
        return Err(DropReason::SgIngress);
    }
    Ok(())
}

/// The state after `flow`'s packet (`reply`: it came from the responder).
/// TCP as a stateful firewall keeps it: FIN or RST close; the responder's
/// SYN answers the initiator's (SYN received, still half-open) and the
/// initiator's ACK then establishes; a connection picked up mid-stream (its
/// first packet was no SYN) is established by any answer; a SYN (without
/// ACK) of the initiator on a closing entry opens the tuple again (a new
/// connection reusing it). UDP and ICMP echo: any answer establishes.
#[inline(always)]
fn next_state(flow: &Flow, state: u32, reply: bool) -> u32 {
    if flow.proto != 6 {
        return if reply { CT_STATE_ESTABLISHED } else { state };
    }
    let handshake = flow.flags & (TCP_SYN | TCP_ACK);
    if flow.flags & (TCP_FIN | TCP_RST) != 0 {
        CT_STATE_CLOSING
    } else if reply {
        match state {
            CT_STATE_SYN_SENT if flow.flags & TCP_SYN != 0 => CT_STATE_SYN_RECEIVED,
            CT_STATE_SYN_SENT => CT_STATE_ESTABLISHED,
            s => s,
        }
    } else {
        match state {
            CT_STATE_CLOSING if handshake == TCP_SYN => CT_STATE_SYN_SENT,
            CT_STATE_SYN_RECEIVED if handshake == TCP_ACK => CT_STATE_ESTABLISHED,
            s => s,
        }
    }
}

/// The router port whose ENI a connection from `src` (in on `in_port`, out
/// of `out_port`) counts against: the initiator's; for a flow from the
/// internet (no port of its own), the responder's.
#[inline(always)]
fn quota_port(src: &Eni, in_port: u32, out_port: u32) -> u32 {
    if src.flags & ENI_FLAG_PORT != 0 { in_port } else { out_port }
}

/// The key of a connection of `vpc_id` opened from `src`:`sport` to
/// `dst`:`dport`. Made of five words: written as a struct, its three
/// bytes of padding (`[0; 3]`) compile to a call of a byte-by-byte
/// memset, twice per packet on the slow path.
#[inline(always)]
pub fn key(vpc_id: u32, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, proto: u8) -> CtKey {
    let [s0, s1] = sport.to_be_bytes();
    let [d0, d1] = dport.to_be_bytes();
    // The last word: the protocol, then the padding's three zero bytes
    // (little-endian: the eBPF target's byte order).
    let words = [vpc_id, u32::from_ne_bytes(src), u32::from_ne_bytes(dst), u32::from_ne_bytes([s0, s1, d0, d1]), u32::from(proto)];
    // SAFETY: CtKey is repr(C), 20 bytes at 4-byte alignment with no
    // implicit padding (checked below), every bit pattern valid; the words
    // hold its fields in order.
    unsafe { core::mem::transmute::<[u32; 5], CtKey>(words) }
}

/// Writes the key of [`key`] into `out` word by word (into map memory:
/// no copy of it on the program's stack).
#[inline(always)]
pub fn write_key(out: &mut CtKey, vpc_id: u32, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, proto: u8) {
    let [s0, s1] = sport.to_be_bytes();
    let [d0, d1] = dport.to_be_bytes();
    let w = out as *mut CtKey as *mut u32;
    // SAFETY: CtKey is five u32-aligned words (checked below); `out` is a
    // valid, exclusive reference.
    unsafe {
        w.write(vpc_id);
        w.add(1).write(u32::from_ne_bytes(src));
        w.add(2).write(u32::from_ne_bytes(dst));
        w.add(3).write(u32::from_ne_bytes([s0, s1, d0, d1]));
        w.add(4).write(u32::from(proto));
    }
}

const _: () = assert!(core::mem::size_of::<CtKey>() == 20 && core::mem::align_of::<CtKey>() == 4 && cfg!(target_endian = "little"));

/// The key of the flow `flow` replies to.
#[inline(always)]
fn reverse_key(flow: &Flow, vpc_id: u32) -> CtKey {
    key(vpc_id, flow.dst, flow.src, flow.dport, flow.sport, flow.proto)
}

/// True if `e`, a connection of protocol `proto`, was last seen within its
/// idle timeout at `now`.
#[inline(always)]
fn live(e: &CtEntry, proto: u8, now: u64) -> bool {
    now.wrapping_sub(e.last_seen_ns) < ct_idle_timeout(proto, e.state)
}

/// Records a packet of connection `e` seen at `now`, leaving it in `state`.
/// Writes only what changed: the clock moves once a tick (a few
/// ms), so most packets of a busy connection write nothing, and the entry's
/// cache line is not taken from the other CPUs that read it.
#[inline(always)]
fn touch(e: &mut CtEntry, now: u64, state: u32) {
    if e.last_seen_ns != now {
        e.last_seen_ns = now;
    }
    if e.state != state {
        e.state = state;
    }
}

/// True if `flow`, which came in on router port `in_port`, answers a live
/// tracked flow (opened the other way, out of that port).
#[inline(always)]
pub fn is_reply(flow: &Flow, vpc_id: u32, in_port: u32) -> bool {
    // SAFETY: read-only use of a map value.
    unsafe { CONNTRACK.get(&reverse_key(flow, vpc_id)) }
        .is_some_and(|e| e.responder_port == in_port && live(e, flow.proto, clock::now()))
}

/// True if an ICMP error to `to`, in on router port `in_port` and out of
/// `out_port`, is about a live tracked connection of `vpc_id` (`quoted`,
/// which `to` sent), and comes from that connection's other side: it
/// passes as related, whatever the rules say of ICMP (so path MTU
/// discovery and unreachable reports work across security groups).
#[inline(always)]
pub fn is_related(quoted: &Quoted, to: [u8; 4], vpc_id: u32, in_port: u32, out_port: u32) -> bool {
    if quoted.src != to {
        return false;
    }
    let q = quoted;
    let now = clock::now();
    // `to` opened the connection: the error comes from the responder's side;
    // or `to` answered it: the error comes from the initiator's side.
    let opened = key(vpc_id, q.src, q.dst, q.sport, q.dport, q.proto);
    let answered = key(vpc_id, q.dst, q.src, q.dport, q.sport, q.proto);
    // SAFETY: read-only use of map values.
    unsafe { CONNTRACK.get(&opened) }
        .is_some_and(|e| e.responder_port == in_port && e.initiator_port == out_port && live(e, q.proto, now))
        // SAFETY: as above.
        || unsafe { CONNTRACK.get(&answered) }
            .is_some_and(|e| e.initiator_port == in_port && e.responder_port == out_port && live(e, q.proto, now))
}

/// Applies the security groups of `src` (outbound) and `dst` (inbound) to
/// a packet of `vpc_id` that came in on router port `in_port` and goes out
/// of `out_port`, with connection tracking. `always`: track the flow even
/// if neither end is in a group (internet flows: the IPv4 gateway lets
/// replies in without a gateway route).
///
/// State is matched with its ports: a flow's packets pass on its state
/// only from the port it was opened from, its replies only back from the
/// port it went out of towards the one it came from. A packet whose
/// addresses match an entry but whose ports do not is judged by the rules
/// as a new flow (and makes no state unless they allow it): so an instance
/// allowed to send with other addresses (SourceDestCheck off) cannot
/// plant state that lets anyone into a third instance its groups refuse.
#[inline(always)]
pub fn check(flow: &Flow, vpc_id: u32, src: &Eni, dst: &Eni, in_port: u32, out_port: u32, always: bool) -> Result<(), DropReason> {
    if !always && (src.flags | dst.flags) & ENI_FLAG_SECURITY_GROUPS == 0 {
        return Ok(());
    }
    // ICMP other than echo (errors...): judged by the rules, never tracked.
    if flow.proto == 1 && flow.flags != ICMP_ECHO_REQUEST && flow.flags != ICMP_ECHO_REPLY {
        return judge::<{ policy::IN_MAIN }>(src, dst, flow.src, flow.dst, flow.proto, 0);
    }
    let now = clock::now();
    let forward = key(vpc_id, flow.src, flow.dst, flow.sport, flow.dport, flow.proto);
    // ICMP echo: only a request continues or opens a flow, only a reply
    // answers one (an echo request from the peer is no reply).
    let (may_continue, may_answer) = if flow.proto == 1 {
        (flow.flags == ICMP_ECHO_REQUEST, flow.flags == ICMP_ECHO_REPLY)
    } else {
        (true, true)
    };
    if let Some(e) = CONNTRACK.get_ptr_mut(&forward).filter(|_| may_continue) {
        // SAFETY: a map value; concurrent updates from other CPUs only make
        // a field momentarily stale, never invalid.
        let e = unsafe { &mut *e };
        let same_ports = e.initiator_port == in_port && e.responder_port == out_port;
        if same_ports
            && live(e, flow.proto, now)
            && e.egress_policy == egress_id(src)
            && e.ingress_policy == ingress_id(dst)
        {
            touch(e, now, next_state(flow, e.state, false));
            return Ok(());
        }
        // Expired, a policy changed, or the same addresses between other
        // ports (a route changed, or another sender): judged again as the
        // initiator; the state then holds the ports it was judged for.
        if let Err(r) = judge::<{ policy::IN_MAIN }>(src, dst, flow.src, flow.dst, flow.proto, flow.dport) {
            if same_ports {
                let _ = CONNTRACK.remove(&forward);
            }
            return Err(r);
        }
        e.last_seen_ns = now;
        e.egress_policy = egress_id(src);
        e.ingress_policy = ingress_id(dst);
        e.initiator_port = in_port;
        e.responder_port = out_port;
        // (Its counts move with it at the next sweep.)
        e.quota_port = quota_port(src, in_port, out_port);
        e.state = next_state(flow, e.state, false);
        return Ok(());
    }
    let reverse = reverse_key(flow, vpc_id);
    if let Some(e) = CONNTRACK.get_ptr_mut(&reverse).filter(|_| may_answer) {
        // SAFETY: as above.
        let e = unsafe { &mut *e };
        // A reply comes in on the port the flow went out of and goes out
        // of the one it came in on; anything else is judged below as a
        // new flow of its own.
        if e.responder_port == in_port && e.initiator_port == out_port {
            if live(e, flow.proto, now) {
                // A reply: the initiator is `dst`, the responder `src`.
                if e.egress_policy != egress_id(dst) || e.ingress_policy != ingress_id(src) {
                    // Judge the flow's original direction by the new rules.
                    if let Err(r) = judge::<{ policy::IN_MAIN }>(dst, src, flow.dst, flow.src, flow.proto, flow.sport) {
                        let _ = CONNTRACK.remove(&reverse);
                        return Err(r);
                    }
                    e.egress_policy = egress_id(dst);
                    e.ingress_policy = ingress_id(src);
                }
                touch(e, now, next_state(flow, e.state, true));
                return Ok(());
            }
            let _ = CONNTRACK.remove(&reverse);
        }
    }
    // A new flow, initiated by `src`.
    judge::<{ policy::IN_MAIN }>(src, dst, flow.src, flow.dst, flow.proto, flow.dport)?;
    if !may_continue {
        // An echo reply the rules let through answers nothing: no state.
        return Ok(());
    }
    let quota_port = quota_port(src, in_port, out_port);
    let counts = quota::admit(quota_port, vpc_id)?;
    let entry = CtEntry {
        last_seen_ns: now,
        state: next_state(flow, CT_STATE_SYN_SENT, false),
        egress_policy: egress_id(src),
        ingress_policy: ingress_id(dst),
        initiator_port: in_port,
        responder_port: out_port,
        quota_port,
    };
    match CONNTRACK.insert(&forward, &entry, BPF_NOEXIST as u64) {
        Ok(()) => {
            quota::count(&counts, vpc_id);
            monitor::new_connection(flow, vpc_id, entry.ingress_policy);
            Ok(())
        }
        Err(EEXIST) => Ok(()),
        Err(_) => {
            stats::conntrack_refused(quota_port);
            Err(DropReason::ConntrackFull)
        }
    }
}

/// Quotas of tracked connections per ENI and per VPC
/// (`vpc_common::ConntrackQuota`): no instance fills the table all share.
mod quota {
    use core::intrinsics::{AtomicOrdering, atomic_xadd};

    use aya_ebpf::bindings::BPF_NOEXIST;
    use vpc_common::DropReason;

    use crate::{
        maps::{CONNTRACK_PER_PORT, CONNTRACK_PER_VPC, CONNTRACK_QUOTA},
        stats,
    };

    /// The counters a new connection counts against, found by
    /// [`admit`]: the ENI's, and the VPC's if it has one yet.
    pub struct Counts {
        port: Option<*mut u64>,
        vpc: Option<*mut u64>,
    }

    /// Ok if one more connection may count against router port `port`'s
    /// ENI and VPC `vpc_id` (and their counters, for [`count`]); else the
    /// reason, counted on the ENI.
    #[inline(always)]
    pub fn admit(port: u32, vpc_id: u32) -> Result<Counts, DropReason> {
        let counts = Counts { port: CONNTRACK_PER_PORT.get_ptr_mut(port), vpc: CONNTRACK_PER_VPC.get_ptr_mut(&vpc_id) };
        let Some(q) = CONNTRACK_QUOTA.get(0) else { return Ok(counts) };
        // SAFETY: reads of map values, alive while the program runs.
        if counts.port.is_some_and(|n| unsafe { *n } >= u64::from(q.per_eni)) {
            stats::conntrack_refused(port);
            return Err(DropReason::ConntrackEniQuota);
        }
        // SAFETY: as above.
        if counts.vpc.is_some_and(|n| unsafe { *n } >= u64::from(q.per_vpc)) {
            stats::conntrack_refused(port);
            return Err(DropReason::ConntrackVpcQuota);
        }
        Ok(counts)
    }

    /// Counts a connection just created against the counters [`admit`]
    /// found for VPC `vpc_id` (atomic adds: every CPU counts into the same
    /// words).
    #[inline(always)]
    pub fn count(counts: &Counts, vpc_id: u32) {
        // (An atomic add whose result is unused: BPF_XADD, which every
        // kernel's BPF has; core's AtomicU64 offers no fetch_add on a
        // target without compare-and-swap.)
        if let Some(n) = counts.port {
            // SAFETY: a map value, aligned, alive while the program runs.
            unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(n, 1) };
        }
        match counts.vpc {
            // SAFETY: as above (an entry the sweep removes meanwhile stays
            // readable until the program ends; the count is put right by
            // the next sweep).
            Some(n) => {
                unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(n, 1) };
            }
            None => {
                // The VPC's first (a racing CPU's insert wins; one count
                // lost, put right by the next sweep). Full: not counted.
                let _ = CONNTRACK_PER_VPC.insert(&vpc_id, &1u64, BPF_NOEXIST as u64);
            }
        }
    }
}
