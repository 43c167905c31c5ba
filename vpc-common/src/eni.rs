//! ENIs: the value behind each router port, the {VPC, address} key, ENI flags.
#[allow(unused_imports)]
use crate::*;

/// Key of `ENI_BY_ADDRESS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EniAddressKey {
    /// Numeric id of the VPC: the same address in two VPCs is two ENIs (VPC-3).
    pub vpc_id: u32,
    /// The ENI's private address.
    pub addr: [u8; 4],
}

/// `Eni::flags`: drop frames whose source IP is not the ENI's (anti-spoofing).
/// Cleared for appliances that forward other hosts' traffic (route next hop).
pub const ENI_FLAG_SOURCE_DEST_CHECK: u32 = 1;
/// `Eni::flags`: the ENI is in security groups: `sg_ingress`/`sg_egress`
/// apply, and conntrack keeps their verdicts (SG-1). Without it, no filter.
pub const ENI_FLAG_SECURITY_GROUPS: u32 = 1 << 1;
/// `Eni::flags`: what the ingress security-group policy gives a packet no
/// rule matches is accept (else drop: the cloud's default inbound).
pub const ENI_FLAG_SG_INGRESS_DEFAULT_ACCEPT: u32 = 1 << 2;
/// `Eni::flags`: the egress security-group default is accept (the cloud's).
pub const ENI_FLAG_SG_EGRESS_DEFAULT_ACCEPT: u32 = 1 << 3;
/// `Eni::flags`: the vSwitch has a network ACL: `acl_ingress`/`acl_egress`
/// apply to traffic crossing its boundary (stateless, ACL-2).
pub const ENI_FLAG_NETWORK_ACL: u32 = 1 << 4;
/// `Eni::flags`: the ACL's inbound default is accept.
pub const ENI_FLAG_ACL_INGRESS_DEFAULT_ACCEPT: u32 = 1 << 5;
/// `Eni::flags`: the ACL's outbound default is accept.
pub const ENI_FLAG_ACL_EGRESS_DEFAULT_ACCEPT: u32 = 1 << 6;

/// `Eni::flags`: this port is the internet uplink (not an ENI): frames from
/// it go to public addresses.
pub const ENI_FLAG_UPLINK: u32 = 1 << 7;
/// `Eni::flags`: the VPC has no enabled IPv4 gateway and the ENI has a public
/// IP or EIP: a destination no route matches is the internet (IGW-3).
pub const ENI_FLAG_DIRECT_INTERNET: u32 = 1 << 8;
/// `Eni::flags`: set on every ENI (and the uplink) the control plane writes:
/// an entry of `ENI_BY_PORT` without it is an empty slot (no port).
pub const ENI_FLAG_PORT: u32 = 1 << 9;
/// `Eni::flags`: this port is the services port (not an ENI): the cloud's
/// services network, reached from VPCs only through gateway endpoints;
/// frames from it are replies to endpoint flows or dropped.
pub const ENI_FLAG_SERVICES: u32 = 1 << 10;
/// `Eni::flags`: the ENI may be (or have been) a backend of a load
/// balancer: its packets are looked up in `LB_REPLIES` (a reply to a client
/// gets the listener's address back). Set on every ENI of a VPC with
/// listeners, so a backend that left a ring keeps answering the
/// connections it drains.
pub const ENI_FLAG_LB_BACKEND: u32 = 1 << 11;
/// `Eni::flags`: the ENI's VPC has running listeners: its packets are
/// looked up in `LB_LISTENERS` (other VPCs never pay for the lookup).
pub const ENI_FLAG_LB_CLIENT: u32 = 1 << 12;
/// `Eni::flags`: this port is its VPC's health-check port (the daemon's
/// checks of load balancer backends come from it, from
/// [`HEALTH_CHECK_ADDR`]): its packets stay in the VPC (a route to anything
/// but the VPC's own addresses is no route).
pub const ENI_FLAG_HEALTH_CHECK: u32 = 1 << 13;

/// `Eni::flags`: the ENI's VPC has interface endpoint ENIs: its packets
/// are looked up in `ENDPOINT_ENIS` (other VPCs never pay for the lookup).
pub const ENI_FLAG_ENDPOINT_CLIENT: u32 = 1 << 14;

/// Source address of the health checks in every VPC (the cloud's come from
/// 100.64.0.0/10): packets to it go to the VPC's health-check port (its
/// `ENI_BY_ADDRESS` entry), never to a route.
pub const HEALTH_CHECK_ADDR: [u8; 4] = [100, 100, 0, 1];
/// The route table (no VPC's: numeric ids are never 0) a packet to
/// [`HEALTH_CHECK_ADDR`] is routed by: its one route, that address, is
/// local (the VPC's `ENI_BY_ADDRESS` entry, its health-check port).
pub const HEALTH_CHECK_ROUTE_TABLE: u32 = 0;

/// Copies of each router port's ENI in `ENI_BY_PORT` (a power of two). An
/// ENI changes by writing a copy packets do not read, then flipping
/// `ENI_COPY` to it; a copy is written again only once a grace has passed
/// since the flip away from it (a packet that read the old index finishes
/// within microseconds). With more copies than two, changes to one port in
/// quick succession (a security group changed twice within the grace) need
/// not wait for it.
pub const ENI_COPIES: u32 = 8;

/// Value of `ENI_BY_PORT`: the ENI behind a router port, as ingress needs it
/// (all zeros: no port).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Eni {
    /// Numeric id of the VPC.
    pub vpc_id: u32,
    /// Numeric id of the vSwitch.
    pub vswitch_id: u32,
    /// Numeric id of the route table associated with the vSwitch.
    pub route_table_id: u32,
    /// `ENI_FLAG_*` bits.
    pub flags: u32,
    /// The ENI's primary private IPv4 address.
    pub ip: [u8; 4],
    /// The vSwitch gateway address (answered by ARP in XDP).
    pub gateway_ip: [u8; 4],
    /// The vSwitch CIDR: network address.
    pub vswitch_addr: [u8; 4],
    /// The vSwitch CIDR: netmask.
    pub vswitch_mask: [u8; 4],
    /// The router port's MAC (gateway MAC given in ARP replies), then the
    /// ENI's (anti-spoofing): a frame from the ENI carries the two in this
    /// order ([`crate::HeaderMacs`]).
    pub router_mac: [u8; 6],
    /// The ENI's MAC.
    pub mac: [u8; 6],
    /// Inbound security-group policy id (if `ENI_FLAG_SECURITY_GROUPS`).
    pub sg_ingress: u32,
    /// Outbound security-group policy id.
    pub sg_egress: u32,
    /// Inbound network ACL policy id of the vSwitch (if `ENI_FLAG_NETWORK_ACL`).
    pub acl_ingress: u32,
    /// Outbound network ACL policy id of the vSwitch.
    pub acl_egress: u32,
    /// The ENI's public IPv4 address (static public IP or EIP), or zeros.
    pub public_ip: [u8; 4],
    /// 1 + the direct-stage slot of the route table (see [`direct`]), or 0
    /// if it has none. Set by the datapath layer, not by compile.
    pub route_slot: u32,
}

crate::header_macs!(Eni, router_mac, mac);
