//! Load balancing (NLB), between the ENI and the route: a packet to a
//! running listener goes to a backend of its ring (`vpc_common::lb`), its
//! destination translated, the client's address kept; the route, the
//! policies and conntrack then see the packet as the backend receives it.
//! A backend's reply gets the listener's address back as its source. The
//! pipeline translates the packet once, just before it is sent.
use vpc_common::{
    Eni, ENI_FLAG_LB_BACKEND, ENI_FLAG_LB_CLIENT, LB_VIA_INTERNET, LB_VIA_PRIVATELINK, LB_VIA_VPC,
    lb_hash, lb_ring_index, Backend, DropReason, LbPending, LbReply, BACKEND_FLAG_PRESENT,
    LISTENER_FLAG_SECURITY_GROUPS, LISTENER_FLAG_SG_DEFAULT_ACCEPT, LISTENER_FLAG_SOURCE_HASH,
};

use crate::{
    conntrack,
    maps::{LB_FLOWS, LB_LISTENERS, LB_PENDING, LB_REPLIES, LB_RINGS},
    parse::{Flow, TCP_ACK, TCP_SYN},
    policy,
};

/// If `flow` (from an ENI of `vpc_id`, or from the internet to a public
/// address of a load balancer, then addressed to its address in the VPC)
/// is addressed to a running listener: the connection's backend (chosen on
/// its first packet), with `flow` now addressed to it. The backend's
/// replies will leave as from `facing` (the address the client used) by
/// `via` (`LB_VIA_*`). The caller translates the packet. `s`: this CPU's
/// scratch ([`pending`]). `security_groups`: the load balancer's security
/// groups judge a new connection (not for one through an interface
/// endpoint: its own groups judged it, SG-4, and its source here is the
/// load balancer's own address).
#[inline(always)]
pub fn to_listener(flow: &mut Flow, vpc_id: u32, facing: [u8; 4], via: u8, s: &mut LbPending, security_groups: bool) -> Result<Option<Backend>, DropReason> {
    if flow.proto != 6 && flow.proto != 17 {
        return Ok(None);
    }
    // (Everything the stage carries from one lookup to the next is kept in
    // the scratch, field by field: in registers it would be spilled to a
    // stack the whole pipeline shares, 512 bytes.)
    s.reply.addr = facing;
    s.reply.port = flow.dport.to_be_bytes();
    s.reply.via = via;
    s.reply.pad = 0;
    s.listener_key.vpc_id = vpc_id;
    s.listener_key.addr = flow.dst;
    s.listener_key.port = flow.dport.to_be_bytes();
    s.listener_key.proto = flow.proto;
    s.listener_key.pad = 0;
    // SAFETY: read-only use of a value the control plane writes whole.
    let Some(listener) = (unsafe { LB_LISTENERS.get(&s.listener_key) }) else {
        return Ok(None);
    };
    s.reply.listener_id = listener.listener_id;
    s.flow.listener_id = listener.listener_id;
    s.flow.sg_ingress = listener.sg_ingress;
    s.ring = listener.ring;
    s.flags = listener.flags;
    conntrack::write_key(&mut s.ct, vpc_id, flow.src, flow.dst, flow.sport, flow.dport, flow.proto);
    // A TCP SYN opens a connection again (a reused tuple is balanced anew:
    // its old backend may be gone); other packets keep their backend while
    // the listener and the load balancer's policy are the same.
    let opening = flow.proto == 6 && flow.flags & (TCP_SYN | TCP_ACK) == TCP_SYN;
    if !opening {
        // SAFETY: read-only use of a value written whole.
        if let Some(f) = unsafe { LB_FLOWS.get(&s.ct) } {
            if f.listener_id == s.flow.listener_id && f.sg_ingress == s.flow.sg_ingress {
                let b = f.backend;
                flow.dst = b.addr;
                flow.dport = u16::from_be_bytes(b.port);
                return Ok(Some(b));
            }
        }
    }
    if security_groups
        && s.flags & LISTENER_FLAG_SECURITY_GROUPS != 0
        && !policy::accepts::<{ policy::IN_SUBPROGRAM }>(s.flow.sg_ingress, s.flags & LISTENER_FLAG_SG_DEFAULT_ACCEPT != 0, flow.src, flow.proto, flow.dport)
    {
        return Err(DropReason::LbSecurityGroup);
    }
    let hash = if s.flags & LISTENER_FLAG_SOURCE_HASH != 0 {
        lb_hash(flow.src, [0; 4], 0, 0, 0)
    } else {
        lb_hash(flow.src, flow.dst, flow.sport, flow.dport, flow.proto)
    };
    let b: Backend = *LB_RINGS.get(lb_ring_index(s.ring, hash)).ok_or(DropReason::LbNoBackend)?;
    if b.flags & BACKEND_FLAG_PRESENT == 0 {
        return Err(DropReason::LbNoBackend);
    }
    s.flow.backend = b;
    conntrack::write_key(&mut s.back, vpc_id, b.addr, flow.src, u16::from_be_bytes(b.port), flow.sport, flow.proto);
    // LRU maps: a full table makes room (an evicted connection is balanced
    // again by the same ring, to the same backend while the backends stay
    // the same).
    let _ = LB_REPLIES.insert(&s.back, &s.reply, 0);
    let _ = LB_FLOWS.insert(&s.ct, &s.flow, 0);
    flow.dst = b.addr;
    flow.dport = u16::from_be_bytes(b.port);
    Ok(Some(b))
}

/// The listener address a packet of a backend (an ENI of `vpc_id`) answers
/// for, if it is a reply of a connection through a load balancer.
#[inline(always)]
pub fn reply_of(flow: &Flow, vpc_id: u32, s: &mut LbPending) -> Option<LbReply> {
    if flow.proto != 6 && flow.proto != 17 {
        return None;
    }
    conntrack::write_key(&mut s.ct, vpc_id, flow.src, flow.dst, flow.sport, flow.dport, flow.proto);
    // SAFETY: read-only use of a value written whole.
    unsafe { LB_REPLIES.get(&s.ct) }.copied()
}

/// `LbPending::side`: no load balancer on the packet.
pub const LB_NONE: u32 = 0;
/// A client's packet to a listener: its destination becomes the backend.
pub const LB_TO_BACKEND: u32 = 1;
/// A backend's reply: its source becomes the listener.
pub const LB_FROM_BACKEND: u32 = 2;
/// Through an interface endpoint, either way: both ends are translated,
/// and the port to send to is decided (`crate::privatelink`).
pub const LB_PRIVATELINK: u32 = 3;

/// What the stage decided for the packet in hand (this CPU's entry of
/// `LB_PENDING`): the translation the pipeline makes before the send.
#[inline(always)]
pub fn pending() -> Result<&'static mut vpc_common::LbPending, DropReason> {
    // SAFETY: this CPU's own entry, used by one packet at a time (a BPF
    // program is not preempted by another on the same CPU mid-run for
    // XDP/tc ingress), and only within this run.
    pending_slot().map(|p| unsafe { &mut *p })
}

/// [`pending`] as a pointer, for a caller that holds it across [`decide`]
/// (which takes the entry itself).
#[inline(always)]
pub fn pending_slot() -> Result<*mut vpc_common::LbPending, DropReason> {
    LB_PENDING.get_ptr_mut(0).ok_or(DropReason::ParseError)
}

/// [`decide`]: the decision is in [`pending`].
pub const DECIDED: u32 = 0;
/// [`decide`]: a new connection the load balancer's security groups refuse.
pub const REFUSED_BY_SECURITY_GROUP: u32 = 1;
/// [`decide`]: a new connection to a listener with no backend.
pub const NO_BACKEND: u32 = 2;
/// [`decide`]: a backend's reply to a connection through an interface
/// endpoint (`crate::privatelink::from_service` takes it on).
pub const PRIVATELINK_REPLY: u32 = 4;

/// The load-balancing stage for a packet from `eni` (its flow `flow`):
/// writes into [`pending`] whether and how to translate it (a client's
/// packet to a listener, then `flow` is addressed to the backend; a
/// backend's reply), or says why it is refused. Not inlined: its branches
/// end here (the caller continues from three outcomes, not from every path
/// through it).
#[inline(never)]
pub fn decide(flow: &mut Flow, eni: &Eni) -> u32 {
    let Ok(pending) = pending() else {
        return NO_BACKEND;
    };
    // `via` too: a reply's leaves no trace on the next packet's route.
    (pending.side, pending.via) = (LB_NONE, u32::from(LB_VIA_VPC));
    if eni.flags & ENI_FLAG_LB_CLIENT != 0 {
        match to_listener(flow, eni.vpc_id, flow.dst, LB_VIA_VPC, pending, true) {
            Ok(Some(b)) => {
                (pending.side, pending.addr, pending.port, pending.via) = (LB_TO_BACKEND, b.addr, u16::from_be_bytes(b.port), u32::from(LB_VIA_VPC));
                return DECIDED;
            }
            Ok(None) => {}
            Err(DropReason::LbSecurityGroup) => return REFUSED_BY_SECURITY_GROUP,
            Err(_) => return NO_BACKEND,
        }
    }
    if eni.flags & ENI_FLAG_LB_BACKEND != 0 {
        if let Some(r) = reply_of(flow, eni.vpc_id, pending) {
            if r.via == LB_VIA_PRIVATELINK {
                return PRIVATELINK_REPLY;
            }
            (pending.side, pending.addr, pending.port, pending.via) = (LB_FROM_BACKEND, r.addr, u16::from_be_bytes(r.port), u32::from(r.via));
            return DECIDED;
        }
    }
    if eni.flags & ENI_FLAG_LB_CLIENT != 0 && flow.proto == 6 && flow.flags & (TCP_SYN | TCP_ACK) == TCP_SYN {
        // A connection opened straight to an address: the backend side of
        // its tuple answers as itself from now on, even if the same tuple
        // once reached it through a listener (that reply state would
        // outlive its connection).
        conntrack::write_key(&mut pending.back, eni.vpc_id, flow.dst, flow.src, flow.dport, flow.sport, flow.proto);
        let _ = LB_REPLIES.remove(&pending.back);
    }
    DECIDED
}

/// [`to_listener`] for a packet from the internet to a load balancer's
/// public address `facing` (`flow` addressed to its address in the zone,
/// in VPC `vpc_id`): [`DECIDED`] with the backend in [`pending`]'s `addr`
/// and `port` (and `flow` addressed to it), or why not ([`NO_LISTENER`],
/// [`REFUSED_BY_SECURITY_GROUP`], [`NO_BACKEND`]). Not inlined, for the
/// same reason as [`decide`].
#[inline(never)]
pub fn from_internet(flow: &mut Flow, vpc_id: u32, facing: &[u8; 4]) -> u32 {
    let Ok(pending) = pending() else {
        return NO_BACKEND;
    };
    match to_listener(flow, vpc_id, *facing, LB_VIA_INTERNET, pending, true) {
        Ok(Some(b)) => {
            (pending.addr, pending.port) = (b.addr, u16::from_be_bytes(b.port));
            DECIDED
        }
        Ok(None) => NO_LISTENER,
        Err(DropReason::LbSecurityGroup) => REFUSED_BY_SECURITY_GROUP,
        Err(_) => NO_BACKEND,
    }
}

/// [`from_internet`]: no running listener at that port.
pub const NO_LISTENER: u32 = 3;
