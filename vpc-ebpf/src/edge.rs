//! The internet edge (the stage after policy for traffic leaving or entering
//! the VPCs through the uplink): traffic between ENIs and the uplink. Outbound, the
//! source becomes the ENI's public IP or EIP (1:1) or an SNAT address of a
//! NAT gateway (port translation); inbound, a public address leads back to
//! the private one. With the VPC's IPv4 gateway enabled, new inbound flows
//! follow its gateway route table (IGW-4) and outbound ones need a route to
//! it (IGW-3); replies of tracked flows pass either way. Network ACLs and
//! security groups judge the private side, as for any other traffic.
use aya_ebpf::maps::lpm_trie::Key;
use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use vpc_common::{
    Action, DropReason, Egress, Eni, EniAddressKey, NextHopKind, SnatKey, SnatTarget, snat_prefix_len, ENDPOINT_PORT_MAX, ENDPOINT_PORT_MIN,
    NAT_FLAG_VIA_IPV4_GATEWAY, NAT_VIA_GATEWAY_ENDPOINT, NAT_VIA_INTERNET, PUBLIC_FLAG_IPV4_GATEWAY, PUBLIC_KIND_ENI, PUBLIC_KIND_LB, PUBLIC_KIND_SNAT, NextHop,
};

use crate::{
    conntrack, fragment, lb,
    eni::is_martian,
    icmp,
    maps::{self, ENI_BY_ADDRESS, GATEWAY_ENDPOINTS, NAT_GATEWAYS, PUBLIC_ADDRESSES, SERVICES, SNAT_ENTRIES, UPLINK},
    nat::{self, Side},
    packet::{Packet, headers, same_mac},
    parse::Flow,
    policy,
    route::lookup,
    transmit::send,
};

/// How a packet reached the internet edge.
#[derive(Clone, Copy)]
pub enum Via {
    /// No route matched and the VPC has no enabled IPv4 gateway (IGW-3).
    Direct,
    /// A route to the VPC's IPv4 gateway.
    Ipv4Gateway,
    /// A route to a NAT gateway (its numeric id).
    NatGateway(u32),
}

/// The internet as the policies see it: no groups, no vSwitch.
#[inline(always)]
fn internet() -> Eni {
    Eni::default()
}

/// True for an address of 100.64.0.0/10 (the cloud's services range).
#[inline(always)]
fn is_shared_space(a: [u8; 4]) -> bool {
    a[0] == 100 && a[1] & 0xc0 == 64
}

/// The uplink port, if one is configured.
#[inline(always)]
fn uplink() -> Result<Egress, DropReason> {
    match UPLINK.get(0) {
        Some(u) if u.ifindex != 0 => Ok(*u),
        _ => Err(DropReason::NoRoute),
    }
}

/// The uplink as a next hop (a load balancer's reply to an internet
/// client leaves the way the request came in, whatever the backend's
/// routes say), if there is an uplink.
#[inline(always)]
pub fn uplink_hop() -> Option<NextHop> {
    let u = uplink().ok()?;
    Some(NextHop { kind: NextHopKind::Eni as u32, egress: u, gateway_id: 0 })
}

/// A packet from `eni` to an internet address.
#[inline(always)]
pub fn outbound<P: Packet>(
    ctx: &P,
    ifindex: u32,
    ip: &Ipv4Hdr,
    flow: &Flow,
    eni: &Eni,
    via: Via,
    len: u64,
) -> Result<u32, DropReason> {
    let uplink = uplink()?;
    if is_shared_space(ip.dst_addr) {
        // 100.64.0.0/10 is the cloud's own (services): never the internet;
        // a VPC reaches it only through a gateway endpoint (GWE-5).
        return Err(DropReason::NoRoute);
    }
    if ip.ttl <= 1 {
        return icmp::time_exceeded(ctx, ifindex, eni.gateway_ip);
    }
    // The public side: the ENI's own public IP or EIP wins over a NAT
    // gateway; a NAT gateway translates the sources its SNAT entries cover.
    let mut snat = None;
    if eni.public_ip == [0; 4] {
        let Via::NatGateway(id) = via else {
            return Err(DropReason::NoPublicAddress);
        };
        // SAFETY: read-only use of a value the control plane writes whole.
        let gateway = unsafe { NAT_GATEWAYS.get(id) }.ok_or(DropReason::NoPublicAddress)?;
        if gateway.flags & NAT_FLAG_VIA_IPV4_GATEWAY != 0 {
            // IGW-3: the NAT gateway's vSwitch must be a public one.
            match lookup(gateway.route_table_id, flow.dst) {
                Some(h) if h.kind == NextHopKind::Ipv4Gateway as u32 => {}
                _ => return Err(DropReason::NoRoute),
            }
        }
        let key = Key::new(snat_prefix_len(32), SnatKey { nat_gateway_id: id, addr: flow.src });
        let target = *SNAT_ENTRIES.get(&key).ok_or(DropReason::NoPublicAddress)?;
        if nat::is_later_fragment(ip) {
            // No ports to translate by.
            return Err(DropReason::ParseError);
        }
        snat = Some(target);
    }
    let outside = internet();
    policy::network_acls::<{ policy::IN_MAIN }>(flow, eni, &outside)?;
    conntrack::check(flow, eni.vpc_id, eni, &outside, ifindex, uplink.ifindex, true)?;
    fragment::remember(ifindex, ip, flow);
    match snat {
        None => nat::rewrite(ctx, ip, Side::Source, eni.public_ip, None)?,
        Some(target) => {
            let port = nat::snat(flow, eni.vpc_id, &target, NAT_VIA_INTERNET)?;
            nat::rewrite(ctx, ip, Side::Source, target.ip, Some(port))?;
        }
    }
    let (eth, ip) = headers(ctx)?;
    // SAFETY: both within the packet (headers); nothing else refers to them.
    let (eth, ip) = unsafe { (&mut *eth, &mut *ip) };
    send(ctx, ifindex, eth, ip, &uplink, len, Action::ToInternet)
}

/// What a frame arriving on an edge port (the uplink or the services
/// port, whose `Eni` record holds the far side's MAC) must be: from that
/// side's MAC, to the router's, with no martian address.
#[inline(always)]
fn from_link(eth: &EthHdr, ip: &Ipv4Hdr, link: &Eni) -> Result<(), DropReason> {
    if !same_mac(&eth.src_addr, &link.mac) {
        return Err(DropReason::SpoofedMac);
    }
    if !same_mac(&eth.dst_addr, &link.router_mac) {
        return Err(DropReason::NotForRouter);
    }
    if is_martian(ip.dst_addr) || is_martian(ip.src_addr) {
        return Err(DropReason::Martian);
    }
    Ok(())
}

/// A packet from the internet (received on the uplink port, whose `Eni`
/// record holds the internet side's MAC and link address).
#[inline(always)]
pub fn inbound<P: Packet>(
    ctx: &P,
    ifindex: u32,
    eth: &EthHdr,
    ip: &Ipv4Hdr,
    flow: &Flow,
    link: &Eni,
    len: u64,
) -> Result<u32, DropReason> {
    from_link(eth, ip, link)?;
    if ip.ttl <= 1 {
        return icmp::time_exceeded(ctx, ifindex, link.gateway_ip);
    }
    // SAFETY: read-only copy of a value the control plane writes whole.
    let public = *unsafe { PUBLIC_ADDRESSES.get(ip.dst_addr) }.ok_or(DropReason::UnknownPublicAddress)?;
    let arrived = *flow;
    let mut flow = *flow;
    let (private_ip, private_port, vpc_id, mut egress_override) = if public.kind == PUBLIC_KIND_ENI {
        (public.private_ip, None, public.vpc_id, None)
    } else if public.kind == PUBLIC_KIND_SNAT {
        if nat::is_later_fragment(ip) {
            return Err(DropReason::NatNoMapping);
        }
        let b = nat::unsnat(&flow, NAT_VIA_INTERNET)?;
        (b.private_ip, Some(u16::from_be_bytes(b.private_port)), b.vpc_id, None)
    } else if public.kind == PUBLIC_KIND_LB {
        // An internet-facing load balancer: the listener at this port of its
        // address in the zone; replies leave as from the public address.
        flow.dst = public.private_ip;
        match lb::from_internet(&mut flow, public.vpc_id, &ip.dst_addr) {
            lb::DECIDED => {}
            lb::REFUSED_BY_SECURITY_GROUP => return Err(DropReason::LbSecurityGroup),
            lb::NO_BACKEND => return Err(DropReason::LbNoBackend),
            _ => return Err(DropReason::UnknownPublicAddress),
        }
        let p = lb::pending()?;
        (p.addr, Some(p.port), public.vpc_id, None)
    } else {
        return Err(DropReason::UnknownPublicAddress);
    };
    // The flow as the VPC sees it.
    flow.dst = private_ip;
    if let Some(p) = private_port {
        flow.dport = p;
        if flow.proto == 1 {
            flow.sport = p;
        }
    }
    if public.kind == PUBLIC_KIND_ENI && public.flags & PUBLIC_FLAG_IPV4_GATEWAY != 0 && !conntrack::is_reply(&flow, vpc_id, ifindex) {
        // IGW-4: a new inbound flow follows the gateway route table.
        if public.gateway_route_table_id == 0 {
            return Err(DropReason::Ipv4GatewayNoRoute);
        }
        let hop = lookup(public.gateway_route_table_id, private_ip).ok_or(DropReason::Ipv4GatewayNoRoute)?;
        if hop.kind == NextHopKind::Eni as u32 {
            egress_override = Some(hop.egress);
        } else if hop.kind != NextHopKind::Local as u32 {
            return Err(DropReason::Ipv4GatewayNoRoute);
        }
    }
    let egress = match egress_override {
        Some(e) => e,
        None => {
            let key = EniAddressKey { vpc_id, addr: private_ip };
            // SAFETY: read-only copy of a value the control plane writes whole.
            *unsafe { ENI_BY_ADDRESS.get(key) }.ok_or(DropReason::NoNeighbour)?
        }
    };
    let dst_eni = maps::eni_of_port(egress.ifindex).ok_or(DropReason::NoNeighbour)?;
    let outside = internet();
    policy::network_acls::<{ policy::IN_MAIN }>(&flow, &outside, dst_eni)?;
    conntrack::check(&flow, vpc_id, &outside, dst_eni, ifindex, egress.ifindex, true)?;
    fragment::remember(ifindex, ip, &arrived);
    nat::rewrite(ctx, ip, Side::Destination, private_ip, private_port)?;
    let (eth, ip) = headers(ctx)?;
    // SAFETY: both within the packet (headers); nothing else refers to them.
    let (eth, ip) = unsafe { (&mut *eth, &mut *ip) };
    send(ctx, ifindex, eth, ip, &egress, len, Action::FromInternet)
}

/// The services port, if one is configured.
#[inline(always)]
fn services() -> Result<Egress, DropReason> {
    match SERVICES.get(0) {
        Some(s) if s.ifindex != 0 => Ok(*s),
        _ => Err(DropReason::NoRoute),
    }
}

/// A packet from `eni` routed to gateway endpoint `endpoint_id` (its
/// numeric id): out of the services port, its source translated to the
/// endpoint's own address, ports translated (the NAT gateway's machinery,
/// facing the services side). The services network is judged like the
/// internet: no groups, no vSwitch; the private side's network ACLs and
/// security groups apply.
#[inline(always)]
pub fn to_services<P: Packet>(
    ctx: &P,
    ifindex: u32,
    ip: &Ipv4Hdr,
    flow: &Flow,
    eni: &Eni,
    endpoint_id: u32,
    len: u64,
) -> Result<u32, DropReason> {
    let port = services()?;
    // SAFETY: read-only copy of a value the control plane writes whole.
    let endpoint = *unsafe { GATEWAY_ENDPOINTS.get(endpoint_id) }.ok_or(DropReason::NoRoute)?;
    if endpoint.vpc_id != eni.vpc_id {
        // An endpoint of another VPC (compile never writes such a route).
        return Err(DropReason::NoRoute);
    }
    if ip.ttl <= 1 {
        return icmp::time_exceeded(ctx, ifindex, eni.gateway_ip);
    }
    if nat::is_later_fragment(ip) {
        // No ports to translate by.
        return Err(DropReason::ParseError);
    }
    let outside = internet();
    policy::network_acls::<{ policy::IN_MAIN }>(flow, eni, &outside)?;
    conntrack::check(flow, eni.vpc_id, eni, &outside, ifindex, port.ifindex, true)?;
    fragment::remember(ifindex, ip, flow);
    let target = SnatTarget { ip: endpoint.source_ip, port_min: ENDPOINT_PORT_MIN, port_max: ENDPOINT_PORT_MAX };
    let sport = nat::snat(flow, eni.vpc_id, &target, NAT_VIA_GATEWAY_ENDPOINT)?;
    nat::rewrite(ctx, ip, Side::Source, target.ip, Some(sport))?;
    let (eth, ip) = headers(ctx)?;
    // SAFETY: both within the packet (headers); nothing else refers to them.
    let (eth, ip) = unsafe { (&mut *eth, &mut *ip) };
    send(ctx, ifindex, eth, ip, &port, len, Action::ToServices)
}

/// A packet from the services network (received on the services port,
/// whose `Eni` record holds the services side's MAC and link address):
/// only a reply of a flow an instance opened through a gateway endpoint
/// passes, its destination translated back to the instance; anything else
/// is `ServicesUnsolicited` (the services side never opens a connection
/// into a VPC).
#[inline(always)]
pub fn from_services<P: Packet>(
    ctx: &P,
    ifindex: u32,
    eth: &EthHdr,
    ip: &Ipv4Hdr,
    flow: &Flow,
    link: &Eni,
    len: u64,
) -> Result<u32, DropReason> {
    from_link(eth, ip, link)?;
    if nat::is_later_fragment(ip) {
        return Err(DropReason::ServicesUnsolicited);
    }
    let b = nat::unsnat(flow, NAT_VIA_GATEWAY_ENDPOINT).map_err(|_| DropReason::ServicesUnsolicited)?;
    if ip.ttl <= 1 {
        return icmp::time_exceeded(ctx, ifindex, link.gateway_ip);
    }
    let arrived = *flow;
    let mut flow = *flow;
    let private_port = u16::from_be_bytes(b.private_port);
    flow.dst = b.private_ip;
    flow.dport = private_port;
    if flow.proto == 1 {
        flow.sport = private_port;
    }
    let key = EniAddressKey { vpc_id: b.vpc_id, addr: b.private_ip };
    // SAFETY: read-only copy of a value the control plane writes whole.
    let egress = *unsafe { ENI_BY_ADDRESS.get(key) }.ok_or(DropReason::NoNeighbour)?;
    let dst_eni = maps::eni_of_port(egress.ifindex).ok_or(DropReason::NoNeighbour)?;
    let outside = internet();
    policy::network_acls::<{ policy::IN_MAIN }>(&flow, &outside, dst_eni)?;
    conntrack::check(&flow, b.vpc_id, &outside, dst_eni, ifindex, egress.ifindex, true)?;
    fragment::remember(ifindex, ip, &arrived);
    nat::rewrite(ctx, ip, Side::Destination, b.private_ip, Some(private_port))?;
    let (eth, ip) = headers(ctx)?;
    // SAFETY: both within the packet (headers); nothing else refers to them.
    let (eth, ip) = unsafe { (&mut *eth, &mut *ip) };
    send(ctx, ifindex, eth, ip, &egress, len, Action::FromServices)
}
