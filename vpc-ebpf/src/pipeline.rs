//! The pipeline, in the order packets flow through it: parse -> flow cache
//! -> ENI -> fragment -> load balancing -> route -> policy (network ACLs) -> conntrack (security groups)
//! -> edge (NAT, for the internet) -> transmit. One code base for both
//! program types ([`Packet`]); no loop over configuration.
use core::mem::MaybeUninit;

use aya_log_ebpf::debug;
use vpc_common::{Action, DropReason, Egress, Eni, NextHopKind, ENI_FLAG_DIRECT_INTERNET, ENI_FLAG_ENDPOINT_CLIENT, ENI_FLAG_HEALTH_CHECK, ENI_FLAG_LB_BACKEND, ENI_FLAG_LB_CLIENT, ENI_FLAG_NETWORK_ACL, HEALTH_CHECK_ADDR, HEALTH_CHECK_ROUTE_TABLE, LB_VIA_INTERNET, LB_VIA_VPC, ENI_FLAG_SECURITY_GROUPS, ENI_FLAG_SERVICES, ENI_FLAG_UPLINK};

use crate::{
    arp, conntrack,
    edge::{self, Via},
    eni, flow_cache, fragment, icmp, lb, log_limit,
    nat::{self, Side},
    maps,
    packet::{headers, Packet},
    parse::{self, Flow, L3},
    policy, privatelink, route, stats,
    transmit::send,
};

use crate::lb::{LB_NONE, LB_TO_BACKEND};

/// Handles one packet received on router port `ifindex`: returns the
/// verdict, or the reason to drop it. `slot` holds the flow before any
/// error is returned (the caller reports drops with it): zeroed, then
/// filled in as soon as the packet is parsed; a flow cache hit writes it
/// only if it is dropped.
#[inline(always)]
pub fn run<P: Packet>(pkt: &P, ifindex: u32, slot: &mut MaybeUninit<Flow>) -> Result<u32, DropReason> {
    // 1, 2. The flow cache (`vpc_common::flow_cache`): an established
    // flow's packets are parsed only as far as its key and skip the ENI,
    // route, next-hop, ACL and conntrack lookups.
    let len = pkt.wire_len();
    if let Some(hit) = flow_cache::established(pkt, ifindex) {
        // SAFETY: bounds-checked by `established`.
        let (eth, ip) = unsafe { (&mut *hit.eth, &mut *hit.ip) };
        stats::rx_flow_cache_hit(ifindex, len);
        let sent = send(pkt, ifindex, eth, ip, &hit.entry.egress, len, Action::Forwarded);
        if sent.is_err() {
            // Only a drop reports the flow.
            // SAFETY: `slot` is valid for a write of a `Flow`.
            unsafe { core::ptr::write_volatile(slot.as_mut_ptr(), hit.flow()) };
        }
        return sent;
    }
    // 1. Parse, once (the slow path).
    let parsed = parse::parse(pkt);
    // 2. The generation the slow path's decision is recorded under, read
    // before any of its lookups.
    let generation = maps::config_generation();
    // (Plain values, not a Result<Flow> kept across: a partly undefined
    // value can make LLVM spill a pointer register bytewise, which the
    // verifier refuses.)
    let mut flow_error = DropReason::ParseError;
    let mut flow_ok = false;
    let mut cache_key = None;
    if let Ok((_, L3::Ipv4(ip))) = &parsed {
        // SAFETY: `ip` was bounds-checked by the parser.
        let ip = unsafe { &**ip };
        match parse::flow(pkt, ip) {
            Ok(f) => {
                let f = Flow { ingress: ifindex, ..f };
                flow_ok = true;
                cache_key = flow_cache::key(ifindex, ip, &f);
                // Volatile: `flow` stays one value in memory (its fields
                // live until the entry point's drop path; kept in
                // registers, LLVM spills partly undefined ones, which the
                // verifier refuses).
                // SAFETY: `slot` is valid for a write of a `Flow`.
                unsafe { core::ptr::write_volatile(slot.as_mut_ptr(), f) };
            }
            Err(e) => flow_error = e,
        }
    }
    // No flow: zeroed (only then: a parsed packet's was written whole).
    if !flow_ok {
        Flow::zeroed_in(slot);
    }
    // SAFETY: written whole just above, one way or the other.
    let flow = unsafe { slot.assume_init_mut() };

    // 3. ENI: the port's, and what it admits.
    let Some(eni) = maps::eni_of_port(ifindex) else {
        // Rare: a port the control plane attached but has no ENI for.
        if let Some(suppressed) = log_limit::allow(DropReason::UnknownPort) {
            debug!(pkt, "port {}: no ENI, frame dropped ({} similar records suppressed)", ifindex, suppressed);
        }
        return Err(DropReason::UnknownPort);
    };
    stats::rx(ifindex, len);

    let (eth, l3) = parsed?;
    let ip = match l3 {
        L3::Arp(a) => {
            let verdict = arp::reply(pkt, eth, a, eni)?;
            stats::action(Action::ArpReplied);
            stats::tx(ifindex, len);
            return Ok(verdict);
        }
        L3::Ipv4(ip) => ip,
    };
    // SAFETY: `eth` and `ip` were bounds-checked by the parser.
    let (eth, ip) = unsafe { (&mut *eth, &mut *ip) };
    if !flow_ok {
        return Err(flow_error);
    }
    // A later fragment takes the ports of its first one (or goes).
    fragment::follow(ifindex, ip, flow)?;
    // Its ports as it carries them: load balancing and PrivateLink
    // translate `flow`, and a later fragment follows the untranslated ones.
    let carried = fragment::carried(flow);
    if eni.flags & ENI_FLAG_UPLINK != 0 {
        return edge::inbound(pkt, ifindex, eth, ip, flow, eni, len);
    }
    // Decided by the PrivateLink stage (both ends translated, the port to
    // send to chosen): sent by one call site below (each inlined `send`
    // grows the program past what the verifier's stack limit allows).
    // This CPU's scratch of the load-balancing stage (`lb::pending`), found
    // once for the stage and what follows it.
    let pending = lb::pending_slot()?;
    let privatelink_decided = 'privatelink: {
        if eni.flags & ENI_FLAG_SERVICES != 0 {
            // A cloud service's reply to a connection through an interface
            // endpoint, else a gateway endpoint's.
            match privatelink::from_service(flow, eni) {
                privatelink::DECIDED => break 'privatelink true,
                code if privatelink::reason(code) != DropReason::NatNoMapping => return Err(privatelink::reason(code)),
                _ => {}
            }
            return edge::from_services(pkt, ifindex, eth, ip, flow, eni, len);
        }
        eni::admit(eth, ip, eni)?;

        // 4. PrivateLink: a packet to an interface endpoint ENI goes into the
        // service's VPC, to its load balancer and on to a backend.
        if eni.flags & ENI_FLAG_ENDPOINT_CLIENT != 0 {
            match privatelink::to_endpoint(flow, eni) {
                privatelink::NOT_ENDPOINT => {}
                privatelink::ADMITTED => match privatelink::to_service(flow, eni) {
                    privatelink::DECIDED => match privatelink::balance(flow) {
                        privatelink::DECIDED => match privatelink::to_backend(flow) {
                            privatelink::DECIDED => break 'privatelink true,
                            code => return Err(privatelink::reason(code)),
                        },
                        code => return Err(privatelink::reason(code)),
                    },
                    code => return Err(privatelink::reason(code)),
                },
                code => return Err(privatelink::reason(code)),
            }
        }

        // 4. Load balancing: a packet to a running listener goes to a backend,
        // a backend's reply goes back as from the listener. The route, the
        // policies and conntrack see the flow as the backend has it
        // (`flow`); the packet itself is translated once, just before it is
        // sent. Neither is cached.
        // (The decision is taken by a function of its own, not inlined, and
        // kept in a per-CPU map, not in registers: the verifier then walks the
        // rest of the pipeline once whatever was decided.)
        // Only for an ENI of a load balancer's client or backend: the others
        // (most) skip the call and write "none" in its place (read back from
        // the map like a decision, so the verifier's view of the rest is the
        // same either way).
        if eni.flags & (ENI_FLAG_LB_CLIENT | ENI_FLAG_LB_BACKEND) != 0 {
            match lb::decide(flow, eni) {
                lb::DECIDED => {}
                lb::PRIVATELINK_REPLY => match privatelink::from_service(flow, eni) {
                    privatelink::DECIDED => break 'privatelink true,
                    code => return Err(privatelink::reason(code)),
                },
                lb::REFUSED_BY_SECURITY_GROUP => return Err(DropReason::LbSecurityGroup),
                _ => return Err(DropReason::LbNoBackend),
            }
        } else {
            // SAFETY: this CPU's scratch (`lb::pending_slot`).
            unsafe { ((*pending).side, (*pending).via) = (LB_NONE, u32::from(LB_VIA_VPC)) };
        }
        false
    };
    if privatelink_decided {
        fragment::remember_carried(ifindex, ip, carried, flow);
        return send_privatelink(pkt, ifindex, ip, eni, len);
    }
    // Read back from the map (volatile: LLVM does not carry the constants
    // written above past this point, so the verifier sees the same unknown
    // values whatever was decided).
    // SAFETY: as above; `lb::decide` has returned, nothing else refers to it.
    let (lb_side, lb_via) = unsafe { (core::ptr::read_volatile(&(*pending).side), core::ptr::read_volatile(&(*pending).via)) };

    // 5. Route, in the table of the source vSwitch (a reply to an internet
    // client of a load balancer leaves by the uplink, as it came; a reply
    // to the VPC's health checks, and a query to its resolver, go to its
    // services port: 100.100.0.0/16 is looked up in their own table, whose
    // local routes are the port's addresses, whatever the VPC's routes say).
    let next_hop = if lb_via == u32::from(LB_VIA_INTERNET) {
        edge::uplink_hop()
    } else if flow.dst[0] == HEALTH_CHECK_ADDR[0] && flow.dst[1] == HEALTH_CHECK_ADDR[1] {
        route::lookup(HEALTH_CHECK_ROUTE_TABLE, flow.dst).copied()
    } else {
        route::cached_from(eni, flow.dst, generation)
    };
    let Some(next_hop) = next_hop else {
        // IGW-3: without an enabled IPv4 gateway, an ENI with a public IP or
        // EIP reaches the internet directly.
        if eni.flags & ENI_FLAG_DIRECT_INTERNET != 0 && lb_side == LB_NONE {
            return edge::outbound(pkt, ifindex, ip, flow, eni, Via::Direct, len);
        }
        return Err(DropReason::NoRoute);
    };
    // The destination ENI comes with a local next hop's neighbour (its
    // copy in the neighbour cache); a route to an ENI reads its port's.
    let (egress, neighbour_eni): (Egress, Option<&Eni>) = if next_hop.kind == NextHopKind::Eni as u32 {
        (next_hop.egress, None)
    } else if (lb_side != LB_NONE || eni.flags & ENI_FLAG_HEALTH_CHECK != 0) && next_hop.kind != NextHopKind::Local as u32 {
        // A load-balanced flow, and a health check, stay inside the VPC.
        return Err(DropReason::NoRoute);
    } else if next_hop.kind == NextHopKind::Ipv4Gateway as u32 {
        return edge::outbound(pkt, ifindex, ip, flow, eni, Via::Ipv4Gateway, len);
    } else if next_hop.kind == NextHopKind::NatGateway as u32 {
        return edge::outbound(pkt, ifindex, ip, flow, eni, Via::NatGateway(next_hop.gateway_id), len);
    } else if next_hop.kind == NextHopKind::GatewayEndpoint as u32 {
        return edge::to_services(pkt, ifindex, ip, flow, eni, next_hop.gateway_id, len);
    } else {
        let (egress, dst_eni) = route::neighbour(eni.vpc_id, flow.dst, generation).ok_or(DropReason::NoNeighbour)?;
        (egress, Some(dst_eni))
    };

    flow.egress = egress.ifindex;
    if ip.ttl <= 1 {
        return icmp::time_exceeded(pkt, ifindex, eni.gateway_ip);
    }
    // 6, 7. Policy and conntrack, with the destination ENI's view (flags,
    // policy ids): one consistent value.
    let dst_eni = match neighbour_eni {
        Some(dst_eni) => dst_eni,
        None => maps::eni_of_port(egress.ifindex).ok_or(DropReason::NoNeighbour)?,
    };
    if (eni.flags | dst_eni.flags) & (ENI_FLAG_SECURITY_GROUPS | ENI_FLAG_NETWORK_ACL) != 0 {
        policy::network_acls::<{ policy::IN_MAIN }>(flow, eni, dst_eni)?;
        // An ICMP error about a tracked connection passes as related.
        let related = flow.proto == 1
            && parse::is_icmp_error(flow.flags)
            && parse::quoted(pkt, ip).is_some_and(|q| conntrack::is_related(&q, ip.dst_addr, eni.vpc_id, ifindex, egress.ifindex));
        if !related {
            conntrack::check(flow, eni.vpc_id, eni, dst_eni, ifindex, egress.ifindex, false)?;
        }
    }
    fragment::remember_carried(ifindex, ip, carried, flow);
    if lb_side != LB_NONE {
        // Translated, never cached.
        let side = if lb_side == LB_TO_BACKEND { Side::Destination } else { Side::Source };
        // SAFETY: as above.
        let (addr, port) = unsafe { ((*pending).addr, (*pending).port) };
        nat::rewrite(pkt, ip, side, addr, Some(port))?;
        let (eth, ip) = headers(pkt)?;
        // SAFETY: both within the packet (headers); nothing else refers to them.
        let (eth, ip) = unsafe { (&mut *eth, &mut *ip) };
        let action = if lb_via == u32::from(LB_VIA_INTERNET) { Action::ToInternet } else { Action::Forwarded };
        return send(pkt, ifindex, eth, ip, &egress, len, action);
    }
    if let Some(k) = &cache_key {
        if flow_cache::admit(k) {
            flow_cache::insert(k, generation, eth, &egress);
        }
    }
    // 9. Transmit.
    send(pkt, ifindex, eth, ip, &egress, len, Action::Forwarded)
}

/// Sends a packet the PrivateLink stage decided (`lb::pending`): both ends
/// translated, out of the port it chose. Never cached.
#[inline(always)]
fn send_privatelink<P: Packet>(pkt: &P, ifindex: u32, ip: &mut network_types::ip::Ipv4Hdr, eni: &Eni, len: u64) -> Result<u32, DropReason> {
    if ip.ttl <= 1 {
        return icmp::time_exceeded(pkt, ifindex, eni.gateway_ip);
    }
    let s = lb::pending()?;
    let (src, src_port, dst, dst_port, egress) = (s.src_addr, s.src_port, s.addr, s.port, s.egress);
    nat::rewrite(pkt, ip, Side::Source, src, Some(src_port))?;
    let (_, ip) = headers(pkt)?;
    // SAFETY: within the packet (headers); nothing else refers to it.
    nat::rewrite(pkt, unsafe { &*ip }, Side::Destination, dst, Some(dst_port))?;
    let (eth, ip) = headers(pkt)?;
    // SAFETY: both within the packet (headers); nothing else refers to them.
    let (eth, ip) = unsafe { (&mut *eth, &mut *ip) };
    send(pkt, ifindex, eth, ip, &egress, len, Action::Forwarded)
}
