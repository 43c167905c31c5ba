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
    parse::{self, L3},
    stats,
};

/// Handles one frame received on router port `ifindex`: returns the XDP
/// action, or the reason to drop it.
#[inline(always)]
pub fn handle(ctx: &XdpContext, ifindex: u32) -> Result<u32, DropReason> {
    let Some(eni) = maps::eni_of_port(ifindex) else {
        // Rare: a port the control plane attached but has no ENI for.
        if let Some(suppressed) = log_limit::allow(DropReason::UnknownPort) {
            debug!(ctx, "port {}: no ENI, frame dropped ({} similar records suppressed)", ifindex, suppressed);
        }
        return Err(DropReason::UnknownPort);
    };
    let len = (ctx.data_end() - ctx.data()) as u64;
    stats::rx(ifindex, len);

    let (eth, l3) = parse::parse(ctx)?;
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
    // The flow cache first (`vpc_common::flow_cache`): an established flow's
    // packets skip the route, next-hop, ACL and conntrack lookups.
    let flow = parse::flow(ctx, ip);
    let generation = flow_cache::generation();
    let cache_key = match &flow {
        Ok(f) => flow_cache::key(ifindex, ip, f),
        Err(_) => None,
    };
    if let Some(k) = &cache_key {
        if let Some(egress) = flow_cache::lookup(k, generation) {
            if ip.ttl <= 1 {
                return Err(DropReason::TtlExceeded);
            }
            stats::action(Action::FlowCacheHit);
            return send(ctx, ifindex, eth, ip, &egress, len, Action::Forwarded);
        }
    }
    // (A cached flow's addresses passed this when its decision was taken.)
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

    if ip.ttl <= 1 {
        return Err(DropReason::TtlExceeded);
    }
    // The destination ENI's view (flags, policy ids): one consistent value.
    let dst_eni = maps::eni_of_port(egress.ifindex).ok_or(DropReason::NoNeighbour)?;
    if (eni.flags | dst_eni.flags) & (ENI_FLAG_SECURITY_GROUPS | ENI_FLAG_NETWORK_ACL) != 0 {
        let flow = flow?;
        policy::network_acls(&flow, eni, dst_eni)?;
        conntrack::check(&flow, eni.vpc_id, eni, dst_eni, false)?;
    }
    if let Some(k) = &cache_key {
        flow_cache::insert(k, generation, &egress);
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
    let came_in = (eth.dst_addr, eth.src_addr, ip.ttl, ip.check);
    decrement_ttl(ip);
    eth.dst_addr = egress.dst_mac;
    eth.src_addr = egress.src_mac;
    if keep_headers() {
        (eth.dst_addr, eth.src_addr, ip.ttl, ip.check) = came_in;
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

