//! The internet edge: public addresses, NAT gateways, SNAT entries, port translations.
#[allow(unused_imports)]
use crate::*;

/// `PublicAddress::kind`: the public IP or EIP of one ENI (1:1 NAT).
pub const PUBLIC_KIND_ENI: u32 = 1;
/// `PublicAddress::kind`: an SNAT address of a NAT gateway (port translation).
pub const PUBLIC_KIND_SNAT: u32 = 2;
/// `PublicAddress::kind`: the public address of an internet-facing load
/// balancer in one zone (`private_ip`: its address in that zone): new
/// flows go to the listener at their port (`vpc_common::lb`).
pub const PUBLIC_KIND_LB: u32 = 3;
/// `PublicAddress::flags`: the VPC's IPv4 gateway is enabled: new inbound
/// flows follow its gateway route table (IGW-4).
pub const PUBLIC_FLAG_IPV4_GATEWAY: u32 = 1;

/// Value of `PUBLIC_ADDRESSES` (keyed by the public IPv4 address: public
/// addresses and NAT are IPv4 only in the cloud).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PublicAddress {
    /// `PUBLIC_KIND_*`.
    pub kind: u32,
    /// `PUBLIC_FLAG_*`.
    pub flags: u32,
    /// Numeric id of the VPC.
    pub vpc_id: u32,
    /// Numeric id of the gateway route table bound to the VPC's IPv4
    /// gateway; 0 if none (then new inbound flows are dropped).
    pub gateway_route_table_id: u32,
    /// For [`PUBLIC_KIND_ENI`]: the ENI's private address; for
    /// [`PUBLIC_KIND_LB`]: the load balancer's address in the zone.
    pub private_ip: [u8; 4],
}

/// `NatGateway::flags`: the VPC's IPv4 gateway is enabled: the NAT
/// gateway's vSwitch must route the destination to it.
pub const NAT_FLAG_VIA_IPV4_GATEWAY: u32 = 1;

/// Value of `NAT_GATEWAYS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NatGateway {
    /// `NAT_FLAG_*`.
    pub flags: u32,
    /// Route table of the NAT gateway's vSwitch.
    pub route_table_id: u32,
}

/// Data part of a `SNAT_ENTRIES` key: the NAT gateway matched in full, then
/// the source prefix (a vSwitch CIDR, an instance /32 or any CIDR).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnatKey {
    /// Numeric NAT gateway id.
    pub nat_gateway_id: u32,
    /// Private source address.
    pub addr: [u8; 4],
}

/// LPM prefix length of a [`SnatKey`] for a source prefix of `len` bits.
pub const fn snat_prefix_len(len: u32) -> u32 {
    32 + len
}

/// Value of `SNAT_ENTRIES`: the public address and the ports to translate to.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnatTarget {
    /// SnatIp.
    pub ip: [u8; 4],
    /// First public port handed out.
    pub port_min: u16,
    /// Last public port handed out.
    pub port_max: u16,
}

/// Key of `NAT_OUT`: a translated flow in its original (private) direction.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NatOutKey {
    /// Numeric id of the VPC.
    pub vpc_id: u32,
    /// Private source address.
    pub src: [u8; 4],
    /// Remote address.
    pub dst: [u8; 4],
    /// Private source port (ICMP echo: identifier), big-endian.
    pub sport: [u8; 2],
    /// Remote port (ICMP echo: identifier), big-endian.
    pub dport: [u8; 2],
    /// IP protocol.
    pub proto: u8,
    /// Always 0.
    pub pad: [u8; 3],
}

/// Value of `NAT_OUT`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NatOutValue {
    /// The datapath's clock (`clock`, CLOCK_MONOTONIC ns) at the last packet either way.
    pub last_seen_ns: u64,
    /// Public (SNAT) address.
    pub public_ip: [u8; 4],
    /// Public port (ICMP echo: identifier), big-endian.
    pub public_port: [u8; 2],
    /// Always 0.
    pub pad: [u8; 2],
}

/// Key of `NAT_IN`: what a reply from the internet carries.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NatInKey {
    /// Public (SNAT) address.
    pub public_ip: [u8; 4],
    /// Remote address.
    pub remote: [u8; 4],
    /// Public port (ICMP echo: identifier), big-endian.
    pub public_port: [u8; 2],
    /// Remote port (ICMP echo: the public identifier), big-endian.
    pub remote_port: [u8; 2],
    /// IP protocol.
    pub proto: u8,
    /// Always 0.
    pub pad: [u8; 3],
}

/// Value of `NAT_IN`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NatInValue {
    /// Numeric id of the VPC.
    pub vpc_id: u32,
    /// Private address.
    pub private_ip: [u8; 4],
    /// Private port (ICMP echo: identifier), big-endian.
    pub private_port: [u8; 2],
    /// Which side the translation faces: [`NAT_VIA_INTERNET`] (a NAT
    /// gateway, replies come in on the uplink) or
    /// [`NAT_VIA_GATEWAY_ENDPOINT`] (replies come in on the services port).
    /// A reply is taken back only from the side its translation faces.
    pub via: u8,
    /// Always 0.
    pub pad: u8,
}

/// `NatInValue::via`: a NAT gateway's translation (the uplink side).
pub const NAT_VIA_INTERNET: u8 = 0;
/// `NatInValue::via`: a gateway endpoint's translation (the services side).
pub const NAT_VIA_GATEWAY_ENDPOINT: u8 = 1;

/// Value of `GATEWAY_ENDPOINTS` (keyed by the endpoint's numeric id): where
/// a route with next hop kind `GatewayEndpoint` sends its packets.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GatewayEndpointTarget {
    /// The endpoint's own source address (in the services network's
    /// endpoint source block): what the service sees as the source of
    /// every packet through the endpoint, ports translated.
    pub source_ip: [u8; 4],
    /// Numeric id of the endpoint's VPC: only its ENIs may use it.
    pub vpc_id: u32,
}

/// Most gateway endpoints.
pub const MAX_GATEWAY_ENDPOINTS: u32 = 4096;
/// First port a gateway endpoint's source translation hands out.
pub const ENDPOINT_PORT_MIN: u16 = 1024;
/// Last port a gateway endpoint's source translation hands out.
pub const ENDPOINT_PORT_MAX: u16 = 65535;

/// Most port translations in flight (all NAT gateways together).
pub const MAX_NAT_MAPPINGS: u32 = 1 << 18;
/// Most public addresses.
pub const MAX_PUBLIC_ADDRESSES: u32 = 65536;
/// Most SNAT entries (all NAT gateways together).
pub const MAX_SNAT_ENTRIES: u32 = 65536;
/// Most NAT gateways.
pub const MAX_NAT_GATEWAYS: u32 = 4096;
/// Public ports a NAT gateway hands out by default.
pub const SNAT_PORT_MIN: u16 = 1024;
/// Last public port handed out by default.
pub const SNAT_PORT_MAX: u16 = 65535;
