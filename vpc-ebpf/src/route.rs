//! The routing pipeline: ingress port -> ENI (anti-spoofing) -> route lookup
//! in the source vSwitch's table -> next hop -> MAC and TTL rewrite -> redirect.
//! No loop over configuration: a fixed number of map lookups per frame.
use aya_ebpf::{maps::lpm_trie::Key, programs::XdpContext};
use aya_log_ebpf::{debug, warn};
use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use vpc_common::{
    Action, DropReason, Egress, Eni, direct, EniAddressKey, NextHop, NextHopKind, RouteKey, ENI_FLAG_DIRECT_INTERNET,
    ENI_FLAG_NETWORK_ACL, ENI_FLAG_SECURITY_GROUPS, ENI_FLAG_SOURCE_DEST_CHECK, ENI_FLAG_UPLINK,
    route_key_prefix_len_v4,
};

use crate::{
    arp, conntrack, csum, flow_cache, internet::{self, Via}, log_limit, policy,
    maps::{self, DIRECT_HOPS, EGRESS_PORTS, ENI_BY_ADDRESS, ROUTES, ROUTES_DIRECT},
    parse::{self, Flow, L3},
    stats,
};

/// Handles one frame received on router port `ifindex`: returns the XDP
/// action, or the reason to drop it. `flow` (all zeros on entry) receives
/// the parsed flow, its ingress port and, once routed, its egress port.
#[inline(always)]
pub fn handle(ctx: &XdpContext, ifindex: u32, flow: &mut Flow) -> Result<u32, DropReason> {
    let len = (ctx.data_end() - ctx.data()) as u64;
    let parsed = parse::parse(ctx);
    // The flow cache first (`vpc_common::flow_cache`): an established flow's
    // packets skip the ENI, route, next-hop, ACL and conntrack lookups. The
    // generation is read before any of them.
    let generation = flow_cache::generation();
    // (Plain values, not a Result<Flow> kept across: a partly undefined
    // value can make LLVM spill a pointer register bytewise, which the
    // verifier refuses.)
    let mut flow_error = DropReason::ParseError;
    let mut flow_ok = false;
    let mut cache_key = None;
    if let Ok((eth, L3::Ipv4(ip))) = &parsed {
        // SAFETY: `eth` and `ip` were bounds-checked by the parser.
        let (eth, ip) = unsafe { (&mut **eth, &mut **ip) };
        match parse::flow(ctx, ip) {
            Ok(f) => {
                // Volatile: `flow` stays one value in memory (its fields
                // live until the entry point's drop path; kept in
                // registers, LLVM spills partly undefined ones, which the
                // verifier refuses).
                // SAFETY: `flow` is a valid, exclusive reference.
                unsafe { core::ptr::write_volatile(flow, Flow { ingress: ifindex, ..f }) };
                flow_ok = true;
                cache_key = flow_cache::key(ifindex, ip, flow);
            }
            Err(e) => flow_error = e,
        }
        if let Some(k) = &cache_key {
            // (TTL expiry: the slow path drops and counts it.)
            if ip.ttl > 1 {
                if let Some(hit) = flow_cache::lookup(k, generation, eth) {
                    stats::rx_flow_cache_hit(ifindex, len);
                    return send(ctx, ifindex, eth, ip, &hit.egress, len, Action::Forwarded);
                }
            }
        }
    }

    let Some(eni) = maps::eni_of_port(ifindex) else {
        // Rare: a port the control plane attached but has no ENI for.
        if let Some(suppressed) = log_limit::allow(DropReason::UnknownPort) {
            debug!(ctx, "port {}: no ENI, frame dropped ({} similar records suppressed)", ifindex, suppressed);
        }
        return Err(DropReason::UnknownPort);
    };
    stats::rx(ifindex, len);

    let (eth, l3) = parsed?;
    let ip = match l3 {
        L3::Arp(a) => {
            let action = arp::reply(eth, a, eni)?;
            stats::action(Action::ArpReplied);
            stats::tx(ifindex, len);
            return Ok(action);
        }
        L3::Ipv4(ip) => ip,
    };
    // SAFETY: `eth` and `ip` were bounds-checked by the parser.
    let (eth, ip) = unsafe { (&mut *eth, &mut *ip) };
    if eni.flags & ENI_FLAG_UPLINK != 0 {
        return internet::inbound(ctx, ifindex, eth, ip, eni, len);
    }

    if eth.src_addr != eni.mac {
        return Err(DropReason::SpoofedMac);
    }
    if eth.dst_addr != eni.router_mac {
        return Err(DropReason::NotForRouter);
    }
    if eni.flags & ENI_FLAG_SOURCE_DEST_CHECK != 0 && ip.src_addr != eni.ip {
        return Err(DropReason::SpoofedIp);
    }
    if is_martian(ip.dst_addr) || is_martian(ip.src_addr) {
        return Err(DropReason::Martian);
    }

    let Some(next_hop) = lookup_from(eni, ip.dst_addr) else {
        // IGW-3: without an enabled IPv4 gateway, an ENI with a public IP or
        // EIP reaches the internet directly.
        if eni.flags & ENI_FLAG_DIRECT_INTERNET != 0 {
            return internet::outbound(ctx, ifindex, eth, ip, eni, Via::Direct, len);
        }
        return Err(DropReason::NoRoute);
    };
    let egress: Egress = if next_hop.kind == NextHopKind::Eni as u32 {
        next_hop.egress
    } else if next_hop.kind == NextHopKind::Ipv4Gateway as u32 {
        return internet::outbound(ctx, ifindex, eth, ip, eni, Via::Ipv4Gateway, len);
    } else if next_hop.kind == NextHopKind::NatGateway as u32 {
        return internet::outbound(ctx, ifindex, eth, ip, eni, Via::NatGateway(next_hop.gateway_id), len);
    } else {
        let key = EniAddressKey { vpc_id: eni.vpc_id, addr: ip.dst_addr };
        // SAFETY: read-only use of a value the control plane writes whole.
        *unsafe { ENI_BY_ADDRESS.get(key) }.ok_or(DropReason::NoNeighbour)?
    };

    flow.egress = egress.ifindex;
    if ip.ttl <= 1 {
        return Err(DropReason::TtlExceeded);
    }
    // The destination ENI's view (flags, policy ids): one consistent value.
    let dst_eni = maps::eni_of_port(egress.ifindex).ok_or(DropReason::NoNeighbour)?;
    if (eni.flags | dst_eni.flags) & (ENI_FLAG_SECURITY_GROUPS | ENI_FLAG_NETWORK_ACL) != 0 {
        if !flow_ok {
            return Err(flow_error);
        }
        policy::network_acls(flow, eni, dst_eni)?;
        conntrack::check(flow, eni.vpc_id, eni, dst_eni, false)?;
    }
    if let Some(k) = &cache_key {
        flow_cache::insert(k, generation, eth, &egress);
    }
    send(ctx, ifindex, eth, ip, &egress, len, Action::Forwarded)
}

/// The route of `eni`'s table for `dst` (RT-1): through the direct stage if
/// the table has a slot (`vpc_common::direct`), else one LPM lookup.
#[inline(always)]
pub fn lookup_from(eni: &Eni, dst: [u8; 4]) -> Option<&'static NextHop> {
    if eni.route_slot != 0 {
        let slot = eni.route_slot - 1;
        let entry = ROUTES_DIRECT.get(direct::entry(slot, dst));
        match entry.map(|e| direct::block_of_entry(*e, dst)) {
            Some(direct::NONE) => return None,
            Some(direct::TRIE) | None => {}
            Some(v) => return DIRECT_HOPS.get(direct::hop_index(slot, v)),
        }
    }
    lookup(eni.route_table_id, dst)
}

/// The route of `table` for `dst` (one LPM lookup, RT-1).
#[inline(always)]
pub fn lookup(table: u32, dst: [u8; 4]) -> Option<&'static NextHop> {
    let key = Key::new(route_key_prefix_len_v4(32), RouteKey { route_table_id: table, addr: dst });
    ROUTES.get(&key)
}

/// Decrements the TTL, writes the MACs of `egress` and redirects the frame
/// to its port, counting `action`.
#[inline(always)]
pub fn send(
    ctx: &XdpContext,
    ifindex: u32,
    eth: &mut EthHdr,
    ip: &mut Ipv4Hdr,
    egress: &Egress,
    len: u64,
    action: Action,
) -> Result<u32, DropReason> {
    if keep_headers() {
        // Benchmarks: rewrite, then put back what came in (the verifier
        // drops this branch for a router).
        let came_in = (read_mac(&eth.dst_addr), read_mac(&eth.src_addr), ip.ttl, ip.check);
        rewrite(eth, ip, egress);
        write_mac(&mut eth.dst_addr, came_in.0);
        write_mac(&mut eth.src_addr, came_in.1);
        (ip.ttl, ip.check) = (came_in.2, came_in.3);
    } else {
        rewrite(eth, ip, egress);
    }

    match EGRESS_PORTS.redirect(egress.ifindex, 0) {
        Ok(action_code) => {
            stats::action(action);
            stats::tx(egress.ifindex, len);
            Ok(action_code)
        }
        Err(_) => {
            // Rare: the egress port left the device map (its veth is gone).
            if let Some(suppressed) = log_limit::allow(DropReason::RedirectFailed) {
                warn!(
                    ctx,
                    "redirect from port {} to port {} failed, frame dropped ({} similar records suppressed)",
                    ifindex,
                    egress.ifindex,
                    suppressed
                );
            }
            Err(DropReason::RedirectFailed)
        }
    }
}

/// Decrements the TTL and writes the MACs of `egress`.
#[inline(always)]
fn rewrite(eth: &mut EthHdr, ip: &mut Ipv4Hdr, egress: &Egress) {
    decrement_ttl(ip);
    write_mac(&mut eth.dst_addr, read_mac(&egress.dst_mac));
    write_mac(&mut eth.src_addr, read_mac(&egress.src_mac));
}

/// A MAC address as two words (4 + 2 bytes), so a copy is four loads and
/// stores: a plain `[u8; 6]` assignment between a map value and the packet
/// may alias, and LLVM makes it a call to a bytewise BPF memmove.
#[inline(always)]
fn read_mac(m: &[u8; 6]) -> (u32, u16) {
    let p = m.as_ptr();
    // SAFETY: both reads are within the 6 bytes of `m`.
    unsafe { (core::ptr::read_unaligned(p as *const u32), core::ptr::read_unaligned(p.add(4) as *const u16)) }
}

#[inline(always)]
fn write_mac(m: &mut [u8; 6], (a, b): (u32, u16)) {
    let p = m.as_mut_ptr();
    // SAFETY: both writes are within the 6 bytes of `m`.
    unsafe {
        core::ptr::write_unaligned(p as *mut u32, a);
        core::ptr::write_unaligned(p.add(4) as *mut u16, b);
    }
}

/// Set to 1 only by `Datapath::load_keeping_headers` (benchmarks): a
/// read-only global, so the verifier drops the branch it disables.
#[unsafe(no_mangle)]
static BENCH_KEEP_HEADERS: u8 = 0;

/// True if forwarded frames must leave with the headers they came in with.
#[inline(always)]
fn keep_headers() -> bool {
    // SAFETY: a loader-set constant.
    let keep = unsafe { core::ptr::read_volatile(&BENCH_KEEP_HEADERS) };
    keep != 0
}

/// Decrements the TTL and patches the header checksum incrementally.
#[inline(always)]
fn decrement_ttl(ip: &mut Ipv4Hdr) {
    let old = u16::from_ne_bytes([ip.ttl, ip.proto]);
    ip.ttl -= 1;
    let new = u16::from_ne_bytes([ip.ttl, ip.proto]);
    let check = u16::from_ne_bytes(ip.check);
    ip.check = csum::replace16(check, old, new).to_ne_bytes();
}

/// Addresses a VPC router never forwards: 0/8, 127/8, multicast and the
/// reserved block (224/3, which includes 255.255.255.255).
#[inline(always)]
pub fn is_martian(a: [u8; 4]) -> bool {
    a[0] == 0 || a[0] == 127 || a[0] >= 224
}

