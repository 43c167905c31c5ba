//! Load balancing (NLB), between the ENI and the route: a packet to a
//! running listener goes to a backend of its ring (`vpc_common::lb`), its
//! destination translated, the client's address kept; the route, the
//! policies and conntrack then see the packet as the backend receives it.
//! A backend's reply gets the listener's address back as its source. The
//! pipeline translates the packet once, just before it is sent.
use vpc_common::{
    lb_hash, lb_ring_index, Backend, DropReason, LbFlow, LbReply, ListenerKey, BACKEND_FLAG_PRESENT,
    LISTENER_FLAG_SECURITY_GROUPS, LISTENER_FLAG_SG_DEFAULT_ACCEPT, LISTENER_FLAG_SOURCE_HASH,
};

use crate::{
    conntrack,
    maps::{LB_FLOWS, LB_LISTENERS, LB_REPLIES, LB_RINGS},
    parse::{Flow, TCP_ACK, TCP_SYN},
    policy,
};

/// If `flow` (from an ENI of `vpc_id`, or from the internet to a public
/// address of a load balancer, then addressed to its address in the VPC)
/// is addressed to a running listener: the connection's backend (chosen on
/// its first packet), with `flow` now addressed to it. The backend's
/// replies will leave as from `facing` (the address the client used) by
/// `via` (`LB_VIA_*`). The caller translates the packet.
#[inline(always)]
pub fn to_listener(flow: &mut Flow, vpc_id: u32, facing: [u8; 4], via: u8) -> Result<Option<Backend>, DropReason> {
    if flow.proto != 6 && flow.proto != 17 {
        return Ok(None);
    }
    let key = ListenerKey { vpc_id, addr: flow.dst, port: flow.dport.to_be_bytes(), proto: flow.proto, pad: 0 };
    // SAFETY: read-only use of a value the control plane writes whole.
    let Some(listener) = (unsafe { LB_LISTENERS.get(&key) }) else {
        return Ok(None);
    };
    let listener = *listener;
    let ct = conntrack::key(vpc_id, flow.src, flow.dst, flow.sport, flow.dport, flow.proto);
    // A TCP SYN opens a connection again (a reused tuple is balanced anew:
    // its old backend may be gone); other packets keep their backend while
    // the listener and the load balancer's policy are the same.
    let opening = flow.proto == 6 && flow.flags & (TCP_SYN | TCP_ACK) == TCP_SYN;
    // SAFETY: read-only use of a value written whole.
    let known = match unsafe { LB_FLOWS.get(&ct) } {
        Some(f) if !opening && f.listener_id == listener.listener_id && f.sg_ingress == listener.sg_ingress => Some(f.backend),
        _ => None,
    };
    let backend = match known {
        Some(b) => b,
        None => {
            if listener.flags & LISTENER_FLAG_SECURITY_GROUPS != 0
                && !policy::accepts(
                    listener.sg_ingress,
                    listener.flags & LISTENER_FLAG_SG_DEFAULT_ACCEPT != 0,
                    flow.src,
                    flow.proto,
                    flow.dport,
                )
            {
                return Err(DropReason::LbSecurityGroup);
            }
            let hash = if listener.flags & LISTENER_FLAG_SOURCE_HASH != 0 {
                lb_hash(flow.src, [0; 4], 0, 0, 0)
            } else {
                lb_hash(flow.src, flow.dst, flow.sport, flow.dport, flow.proto)
            };
            let b: Backend = *LB_RINGS.get(lb_ring_index(listener.ring, hash)).ok_or(DropReason::LbNoBackend)?;
            if b.flags & BACKEND_FLAG_PRESENT == 0 {
                return Err(DropReason::LbNoBackend);
            }
            let entry = LbFlow { backend: b, listener_id: listener.listener_id, sg_ingress: listener.sg_ingress };
            let back = conntrack::key(vpc_id, b.addr, flow.src, u16::from_be_bytes(b.port), flow.sport, flow.proto);
            let reply = LbReply { addr: facing, port: flow.dport.to_be_bytes(), via, pad: 0, listener_id: listener.listener_id };
            // LRU maps: a full table makes room (an evicted connection is
            // balanced again by the same ring, to the same backend while the
            // backends stay the same).
            let _ = LB_REPLIES.insert(&back, &reply, 0);
            let _ = LB_FLOWS.insert(&ct, &entry, 0);
            b
        }
    };
    flow.dst = backend.addr;
    flow.dport = u16::from_be_bytes(backend.port);
    Ok(Some(backend))
}

/// The listener address a packet of a backend (an ENI of `vpc_id`) answers
/// for, if it is a reply of a connection through a load balancer.
#[inline(always)]
pub fn reply_of(flow: &Flow, vpc_id: u32) -> Option<LbReply> {
    if flow.proto != 6 && flow.proto != 17 {
        return None;
    }
    let key = conntrack::key(vpc_id, flow.src, flow.dst, flow.sport, flow.dport, flow.proto);
    // SAFETY: read-only use of a value written whole.
    unsafe { LB_REPLIES.get(&key) }.copied()
}
