//! PrivateLink, before load balancing: a consumer's packet to an interface
//! endpoint ENI is judged in the consumer's VPC as a packet to that ENI,
//! moved into the provider's VPC as from the service's load balancer
//! (its address in the zone, a port of the connection's own) to the
//! listener at the same port, balanced to a backend and judged again
//! there; the backend's reply takes the way back (`vpc_common::privatelink`).
//! The pipeline translates both ends just before the send. Neither
//! direction is cached: the endpoint's state is read on every packet, so a
//! connection disabled by the provider stops at once (CONN-2).
use vpc_common::{
    privatelink_expired, DropReason, Eni, EndpointEni, PRIVATELINK_FIN_CONSUMER, PRIVATELINK_FIN_PROVIDER, PRIVATELINK_RST, ENDPOINT_FLAG_CLOUD_SERVICE, ENDPOINT_FLAG_CONNECTED, LB_VIA_PRIVATELINK,
    PRIVATELINK_PORT_MAX, PRIVATELINK_PORT_MIN,
};

use crate::{
    clock,
    conntrack, lb,
    ports::PortSearch,
    maps::{self, ENDPOINT_ENIS, ENI_BY_ADDRESS, PRIVATELINK_IN, PRIVATELINK_OUT, SERVICES},
    parse::{Flow, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN},
    policy,
};

/// [`to_endpoint`], [`from_service`]: decided; the translations and the
/// port to send to are in [`lb::pending`] (side `lb::LB_PRIVATELINK`).
pub const DECIDED: u32 = 0x1000;
/// [`to_endpoint`]: the packet is not addressed to an endpoint ENI.
pub const NOT_ENDPOINT: u32 = 0x1001;

/// Source ports tried for a new connection before it counts as exhausted
/// ([`PortSearch`]).
const PORT_TRIES: u32 = 16;
/// -EEXIST from a map insert.
const EEXIST: i32 = -17;

/// The drop reason a code of [`to_endpoint`] or [`from_service`] other than
/// [`DECIDED`] and [`NOT_ENDPOINT`] stands for.
#[inline(always)]
pub fn reason(code: u32) -> DropReason {
    if code < DropReason::COUNT {
        // SAFETY: `DropReason` is `repr(u32)` with the values
        // 0..DropReason::COUNT, and codes below it are only ever made by
        // `DropReason as u32` (`outcome`).
        unsafe { core::mem::transmute::<u32, DropReason>(code) }
    } else {
        DropReason::ParseError
    }
}

#[inline(always)]
fn outcome(r: Result<(), DropReason>) -> u32 {
    match r {
        Ok(()) => DECIDED,
        Err(e) => e as u32,
    }
}

/// The PrivateLink stage for a packet of `eni` (an ENI of a VPC with
/// endpoint ENIs), first half: [`NOT_ENDPOINT`], or a packet to an
/// endpoint ENI that the consumer's side admits ([`ADMITTED`]: then
/// [`to_service`]) or refuses (a drop reason, [`reason`]). Not inlined, as
/// `lb::decide` (and in four parts: the verifier allows a call no more
/// than 512 bytes of stack with the pipeline's).
#[inline(never)]
pub fn to_endpoint(flow: &Flow, eni: &Eni) -> u32 {
    let Ok(s) = lb::pending() else {
        return DropReason::ParseError as u32;
    };
    s.side = lb::LB_NONE;
    s.eni_key.vpc_id = eni.vpc_id;
    s.eni_key.addr = flow.dst;
    // SAFETY: read-only use of a value the control plane writes whole.
    let Some(ep) = (unsafe { ENDPOINT_ENIS.get(&s.eni_key) }) else {
        return NOT_ENDPOINT;
    };
    match admit(flow, eni, ep) {
        Ok(()) => ADMITTED,
        Err(e) => e as u32,
    }
}

/// [`to_endpoint`]: the consumer's side admits the packet.
pub const ADMITTED: u32 = 0x1002;

#[inline(always)]
fn admit(flow: &Flow, eni: &Eni, ep: &EndpointEni) -> Result<(), DropReason> {
    if ep.flags & ENDPOINT_FLAG_CONNECTED == 0 {
        return Err(DropReason::EndpointNotConnected);
    }
    if flow.proto != 6 && flow.proto != 17 {
        return Err(DropReason::EndpointNoListener);
    }
    // The consumer's side: its network ACLs, its outbound security groups
    // and the endpoint's inbound ones (SG-4), on every packet (the
    // connection's translation is its state: only what passed here has
    // one, and only a translated connection's replies come back).
    policy::network_acls::<{ policy::IN_SUBPROGRAM }>(flow, eni, &ep.eni)?;
    conntrack::judge::<{ policy::IN_SUBPROGRAM }>(eni, &ep.eni, flow.src, flow.dst, flow.proto, flow.dport)
}

/// The second part, for a packet [`to_endpoint`] admitted (its key still
/// in the scratch): the connection's address and port at the load
/// balancer, its source now ([`DECIDED`]: then [`balance`]), or a drop
/// reason.
#[inline(never)]
pub fn to_service(flow: &mut Flow, eni: &Eni) -> u32 {
    outcome(forward(flow, eni))
}

#[inline(always)]
fn forward(flow: &mut Flow, eni: &Eni) -> Result<(), DropReason> {
    let s = lb::pending()?;
    // SAFETY: read-only use of a value the control plane writes whole.
    let ep = unsafe { ENDPOINT_ENIS.get(&s.eni_key) }.ok_or(DropReason::EndpointNotConnected)?;
    // (Few values live across the map helpers: each more is a spill, and
    // this function may have no more than 96 bytes of stack.)
    conntrack::write_key(&mut s.ct, eni.vpc_id, flow.src, flow.dst, flow.sport, flow.dport, flow.proto);
    s.pl_in.vpc_id = eni.vpc_id;
    s.pl_in.client = flow.src;
    s.pl_in.endpoint = flow.dst;
    s.pl_in.client_port = flow.sport.to_be_bytes();
    s.pl_in.endpoint_port = flow.dport.to_be_bytes();
    s.pl_in.endpoint_id = ep.endpoint_id;
    s.pl_in_key.vpc_id = ep.provider.vpc_id;
    s.pl_in_key.addr = ep.provider.ip;
    s.pl_in_key.proto = flow.proto;
    s.pl_in_key.pad = 0;
    // The connection's port at the load balancer (or the services
    // network's address): kept while this connection still holds it, or
    // taken.
    s.pl_in.last_seen_ns = clock::now();
    s.pl_in.closing = closing_after(flow, 0, PRIVATELINK_FIN_CONSUMER);
    s.src_addr = ep.provider.ip;
    s.src_port = 0;
    // SAFETY: read-only use of a value written whole.
    if let Some(o) = unsafe { PRIVATELINK_OUT.get(&s.ct) } {
        if o.endpoint_id == s.pl_in.endpoint_id && o.addr == s.src_addr {
            s.pl_in_key.port = o.port;
            if still_holds(s, flow) {
                s.src_port = u16::from_be_bytes(o.port);
            }
        }
    }
    if s.src_port == 0 {
        s.src_port = take_port(s)?;
        s.pl_out.addr = s.src_addr;
        s.pl_out.port = s.src_port.to_be_bytes();
        s.pl_out.pad = [0; 2];
        s.pl_out.endpoint_id = s.pl_in.endpoint_id;
        let _ = PRIVATELINK_OUT.insert(&s.ct, &s.pl_out, 0);
    }
    flow.src = s.src_addr;
    flow.sport = s.src_port;
    Ok(())
}

/// The third part, for a packet [`to_service`] translated the source of:
/// its destination, the listener's backend (or the cloud's service)
/// ([`DECIDED`]: then [`to_backend`]), or a drop reason.
#[inline(never)]
pub fn balance(flow: &mut Flow) -> u32 {
    outcome(to_destination(flow))
}

#[inline(always)]
fn to_destination(flow: &mut Flow) -> Result<(), DropReason> {
    let s = lb::pending()?;
    // SAFETY: read-only use of a value the control plane writes whole.
    let ep = unsafe { ENDPOINT_ENIS.get(&s.eni_key) }.ok_or(DropReason::EndpointNotConnected)?;
    if ep.flags & ENDPOINT_FLAG_CLOUD_SERVICE != 0 {
        // Into the services network, to the cloud's service.
        flow.dst = ep.service_ip;
        return Ok(());
    }
    // Into the provider's VPC: from the load balancer's address to its
    // listener at the port the client asked for, then to a backend.
    flow.dst = s.src_addr;
    s.address_key.vpc_id = ep.provider.vpc_id;
    if lb::to_listener(flow, s.address_key.vpc_id, s.src_addr, LB_VIA_PRIVATELINK, s, false)?.is_none() {
        return Err(DropReason::EndpointNoListener);
    }
    s.address_key.addr = flow.dst;
    Ok(())
}

/// The last part, for a packet [`balance`] addressed (to the backend, in
/// the provider's VPC, or to the cloud's service): [`DECIDED`], or a drop
/// reason.
#[inline(never)]
pub fn to_backend(flow: &mut Flow) -> u32 {
    outcome(judge_backend(flow))
}

#[inline(always)]
fn judge_backend(flow: &mut Flow) -> Result<(), DropReason> {
    let s = lb::pending()?;
    // SAFETY: read-only use of a value the control plane writes whole.
    let ep = unsafe { ENDPOINT_ENIS.get(&s.eni_key) }.ok_or(DropReason::EndpointNotConnected)?;
    if ep.flags & ENDPOINT_FLAG_CLOUD_SERVICE != 0 {
        // The services port; the service judges by its own policies
        // (the endpoint's, POL-4).
        let port = SERVICES.get(0).ok_or(DropReason::NoRoute)?;
        if port.ifindex == 0 {
            return Err(DropReason::NoRoute);
        }
        s.egress = *port;
        s.side = lb::LB_PRIVATELINK;
        s.addr = flow.dst;
        s.port = flow.dport;
        flow.egress = s.egress.ifindex;
        return Ok(());
    }
    // SAFETY: as above.
    s.egress = *unsafe { ENI_BY_ADDRESS.get(s.address_key) }.ok_or(DropReason::NoNeighbour)?;
    let backend = maps::eni_of_port(s.egress.ifindex).ok_or(DropReason::NoNeighbour)?;
    // The provider's side: the backend's groups judge the load balancer's
    // address, on every packet.
    policy::network_acls::<{ policy::IN_SUBPROGRAM }>(flow, &ep.provider, backend)?;
    conntrack::judge::<{ policy::IN_SUBPROGRAM }>(&ep.provider, backend, flow.src, flow.dst, flow.proto, flow.dport)?;
    s.side = lb::LB_PRIVATELINK;
    s.addr = flow.dst;
    s.port = flow.dport;
    flow.egress = s.egress.ifindex;
    Ok(())
}

/// The `PrivateLinkIn::closing` bits of a connection after a packet of
/// `flow` from the side whose FIN bit is `fin` (`PRIVATELINK_FIN_*`): a SYN
/// opens it (again), a FIN or a RST adds its bit.
#[inline(always)]
fn closing_after(flow: &Flow, closing: u32, fin: u32) -> u32 {
    if flow.proto != 6 {
        closing
    } else if flow.flags & TCP_RST != 0 {
        closing | PRIVATELINK_RST
    } else if flow.flags & (TCP_SYN | TCP_ACK) == TCP_SYN {
        0
    } else if flow.flags & TCP_FIN != 0 {
        closing | fin
    } else {
        closing
    }
}

/// Whether the connection in `s.pl_in` still holds the port
/// `s.pl_in_key` names (refreshing it), or has it again: its translation
/// may have been evicted (LRU), or expired and been given to another
/// connection.
#[inline(always)]
fn still_holds(s: &mut vpc_common::LbPending, flow: &Flow) -> bool {
    if let Some(e) = PRIVATELINK_IN.get_ptr_mut(&s.pl_in_key) {
        // SAFETY: a map value; other CPUs only refresh its timestamp and
        // state.
        let e = unsafe { &mut *e };
        if e.vpc_id != s.pl_in.vpc_id
            || e.client != s.pl_in.client
            || e.client_port != s.pl_in.client_port
            || e.endpoint_port != s.pl_in.endpoint_port
        {
            return false;
        }
        e.last_seen_ns = s.pl_in.last_seen_ns;
        e.closing = closing_after(flow, e.closing, PRIVATELINK_FIN_CONSUMER);
        return true;
    }
    PRIVATELINK_IN.insert(&s.pl_in_key, &s.pl_in, aya_ebpf::bindings::BPF_NOEXIST as u64).is_ok()
}

/// A free source port at the load balancer's address for the connection
/// in `s.pl_in` (the ports [`PortSearch`] tries; a port whose
/// connection has expired is free), taken in `PRIVATELINK_IN`.
#[inline(always)]
fn take_port(s: &mut vpc_common::LbPending) -> Result<u16, DropReason> {
    let search = PortSearch::new(PRIVATELINK_PORT_MIN, PRIVATELINK_PORT_MAX, PORT_TRIES);
    for i in 0..PORT_TRIES {
        let port = search.port(i);
        s.pl_in_key.port = port.to_be_bytes();
        match PRIVATELINK_IN.insert(&s.pl_in_key, &s.pl_in, aya_ebpf::bindings::BPF_NOEXIST as u64) {
            Ok(()) => return Ok(port),
            Err(EEXIST) => {
                // SAFETY: read-only use of a value written whole.
                let expired = unsafe { PRIVATELINK_IN.get(&s.pl_in_key) }.is_some_and(|e| {
                    privatelink_expired(e.closing, s.pl_in_key.proto, s.pl_in.last_seen_ns.saturating_sub(e.last_seen_ns))
                });
                if expired && PRIVATELINK_IN.insert(&s.pl_in_key, &s.pl_in, 0).is_ok() {
                    return Ok(port);
                }
            }
            Err(_) => return Err(DropReason::NatTableFull),
        }
    }
    Err(DropReason::NatPortsExhausted)
}

/// The PrivateLink stage for a backend's reply (from `eni`)
/// that `lb::decide` found answers a connection through an endpoint:
/// [`DECIDED`] (`flow` then as the consumer's client receives it), or a
/// drop reason ([`reason`]). Not inlined, as `lb::decide`.
#[inline(never)]
pub fn from_service(flow: &mut Flow, eni: &Eni) -> u32 {
    outcome(backward(flow, eni))
}

#[inline(always)]
fn backward(flow: &mut Flow, eni: &Eni) -> Result<(), DropReason> {
    let s = lb::pending()?;
    s.side = lb::LB_NONE;
    s.pl_in_key.vpc_id = eni.vpc_id;
    s.pl_in_key.addr = flow.dst;
    s.pl_in_key.port = flow.dport.to_be_bytes();
    s.pl_in_key.proto = flow.proto;
    s.pl_in_key.pad = 0;
    let e = PRIVATELINK_IN.get_ptr_mut(&s.pl_in_key).ok_or(DropReason::NatNoMapping)?;
    // SAFETY: a map value; other CPUs only refresh its timestamp and state.
    let e = unsafe { &mut *e };
    e.last_seen_ns = clock::now();
    e.closing = closing_after(flow, e.closing, PRIVATELINK_FIN_PROVIDER);
    s.pl_in = *e;
    s.eni_key.vpc_id = s.pl_in.vpc_id;
    s.eni_key.addr = s.pl_in.endpoint;
    // SAFETY: read-only use of a value the control plane writes whole.
    let ep = unsafe { ENDPOINT_ENIS.get(&s.eni_key) }.ok_or(DropReason::EndpointNotConnected)?;
    if ep.flags & ENDPOINT_FLAG_CONNECTED == 0 || ep.endpoint_id != s.pl_in.endpoint_id {
        return Err(DropReason::EndpointNotConnected);
    }
    // A reply of a connection the consumer opened (its translation says
    // so): the network ACLs judge it, stateless, on both sides.
    policy::network_acls::<{ policy::IN_SUBPROGRAM }>(flow, eni, &ep.provider)?;
    // Back into the consumer's VPC: from the endpoint ENI to the client.
    flow.src = s.pl_in.endpoint;
    flow.sport = u16::from_be_bytes(s.pl_in.endpoint_port);
    flow.dst = s.pl_in.client;
    flow.dport = u16::from_be_bytes(s.pl_in.client_port);
    s.eni_key.addr = s.pl_in.client;
    // SAFETY: read-only use of a value the control plane writes whole.
    s.egress = *unsafe { ENI_BY_ADDRESS.get(s.eni_key) }.ok_or(DropReason::NoNeighbour)?;
    let client = maps::eni_of_port(s.egress.ifindex).ok_or(DropReason::NoNeighbour)?;
    policy::network_acls::<{ policy::IN_SUBPROGRAM }>(flow, &ep.eni, client)?;
    s.side = lb::LB_PRIVATELINK;
    s.src_addr = flow.src;
    s.src_port = flow.sport;
    s.addr = flow.dst;
    s.port = flow.dport;
    flow.egress = s.egress.ifindex;
    Ok(())
}
