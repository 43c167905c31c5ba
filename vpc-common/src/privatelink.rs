//! PrivateLink: interface endpoint ENIs and the connections through them.
//!
//! A consumer's packet to an endpoint ENI (`ENDPOINT_ENIS`: {consumer VPC,
//! ENI address}) is judged as a packet to that ENI (the network ACLs, the
//! consumer's outbound security groups, the endpoint's security groups
//! inbound, SG-4), then, while the connection is Connected (CONN-2), moved
//! into the provider's VPC: its
//! source becomes the service's load balancer address in the zone with a
//! port of its own (`PRIVATELINK_OUT`, `PRIVATELINK_IN`), its destination
//! that address at the same port, and the load balancer's listener there
//! sends it on to a backend (`vpc_common::lb`), judged again by the
//! backend's security groups. Every packet is judged (stateless, as the
//! ACLs are); a connection's translation is its state: only what passed has
//! one, and only a translated connection's replies go back (judged by the
//! ACLs only), so nothing from the provider opens a connection into the
//! consumer VPC. Backends see addresses of their own VPC only; both VPCs
//! may use the same CIDR blocks (EP-4).
#[allow(unused_imports)]
use crate::*;

/// Endpoint ENIs at most (`ENDPOINT_ENIS`).
pub const MAX_ENDPOINT_ENIS: u32 = 4096;
/// Connections through endpoints tracked at most (`PRIVATELINK_OUT`, and
/// as many in `PRIVATELINK_IN`).
pub const MAX_PRIVATELINK_FLOWS: u32 = 1 << 18;
/// First source port a connection takes at the load balancer's address.
pub const PRIVATELINK_PORT_MIN: u16 = 1024;
/// Last source port a connection takes at the load balancer's address.
pub const PRIVATELINK_PORT_MAX: u16 = 65535;

/// `EndpointEni::flags`: the endpoint's connection and this zone are
/// Connected (CONN-2): traffic flows. Without it, every packet either way
/// is dropped (`EndpointNotConnected`), live flows included (CONN-4).
pub const ENDPOINT_FLAG_CONNECTED: u32 = 1;
/// `EndpointEni::flags`: the endpoint's service is the cloud's (the lab's
/// object storage, POL-4), in the services network: its connections leave
/// by the services port as from the endpoint's address there
/// (`provider.ip`, in the router's endpoint source block), to
/// `service_ip` at the port the client asked for; `provider.vpc_id` is 0
/// (the services port's).
pub const ENDPOINT_FLAG_CLOUD_SERVICE: u32 = 1 << 1;

/// Value of `ENDPOINT_ENIS` (keyed by [`EniAddressKey`]: the consumer's VPC
/// and the endpoint ENI's address).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EndpointEni {
    /// The endpoint ENI as the consumer's VPC sees it: its vSwitch (network
    /// ACLs), its security groups (`sg_ingress`, SG-4) and address. Not a
    /// router port (`ENI_FLAG_PORT` clear).
    pub eni: Eni,
    /// The service's side in the provider's VPC: `vpc_id`, the load
    /// balancer's vSwitch (its network ACLs) and `ip`, the load balancer's
    /// address in the zone the connection goes to. No security groups of
    /// its own (the backend's judge what reaches them).
    pub provider: Eni,
    /// Numeric id of the endpoint.
    pub endpoint_id: u32,
    /// `ENDPOINT_FLAG_*`.
    pub flags: u32,
    /// With [`ENDPOINT_FLAG_CLOUD_SERVICE`]: the service's address in the
    /// services network.
    pub service_ip: [u8; 4],
}

/// Value of `PRIVATELINK_OUT` (keyed by the consumer's [`CtKey`]: client
/// -> endpoint ENI): the connection's address and port at the load
/// balancer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PrivateLinkOut {
    /// The load balancer's address (the source the backend sees).
    pub addr: [u8; 4],
    /// The source port taken there, big-endian.
    pub port: [u8; 2],
    /// Always 0.
    pub pad: [u8; 2],
    /// Numeric id of the endpoint (a connection of an endpoint since
    /// deleted and made again takes a new translation).
    pub endpoint_id: u32,
}

/// Key of `PRIVATELINK_IN`: a connection as the provider's side knows it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PrivateLinkInKey {
    /// Numeric id of the provider's VPC.
    pub vpc_id: u32,
    /// The load balancer's address.
    pub addr: [u8; 4],
    /// The source port taken there, big-endian.
    pub port: [u8; 2],
    /// IP protocol.
    pub proto: u8,
    /// Always 0.
    pub pad: u8,
}

/// Value of `PRIVATELINK_IN`: the consumer's end of a connection, and
/// how long ago it was last used: the port it holds at the load balancer
/// goes to another connection once the translation has expired
/// ([`privatelink_expired`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PrivateLinkIn {
    /// The datapath's clock (`clock`) at the last packet either way.
    pub last_seen_ns: u64,
    /// Numeric id of the consumer's VPC.
    pub vpc_id: u32,
    /// The client's address.
    pub client: [u8; 4],
    /// The endpoint ENI's address.
    pub endpoint: [u8; 4],
    /// The client's port, big-endian.
    pub client_port: [u8; 2],
    /// The port the client reached the endpoint at, big-endian.
    pub endpoint_port: [u8; 2],
    /// Numeric id of the endpoint.
    pub endpoint_id: u32,
    /// `PRIVATELINK_FIN_*` and [`PRIVATELINK_RST`]: the FINs and RSTs
    /// seen (a new SYN clears them).
    pub closing: u32,
}

/// `PrivateLinkIn::closing`: the consumer's side sent a FIN.
pub const PRIVATELINK_FIN_CONSUMER: u32 = 1;
/// `PrivateLinkIn::closing`: the provider's side sent a FIN.
pub const PRIVATELINK_FIN_PROVIDER: u32 = 1 << 1;
/// `PrivateLinkIn::closing`: either side sent a RST.
pub const PRIVATELINK_RST: u32 = 1 << 2;

/// Idle time after which a connection closed both ways (a FIN each way)
/// gives its port back: its last ACK has gone (the side that closed first
/// keeps the old connection's TIME_WAIT; a new one on the same port is
/// told apart by its sequence numbers and timestamps).
pub const PRIVATELINK_CLOSED_NS: u64 = 1_000_000_000;

/// Whether a connection through an endpoint of protocol `proto`, idle for
/// `idle_ns`, whose `closing` bits (`PRIVATELINK_FIN_*`,
/// [`PRIVATELINK_RST`]) are as given, has expired: its port at the load
/// balancer may go to another connection. Reset: at once; closed both
/// ways: [`PRIVATELINK_CLOSED_NS`]; half-closed: connection tracking's
/// closing timeout; else its established or UDP timeout ([`ct_timeout`]).
#[inline(always)]
pub const fn privatelink_expired(closing: u32, proto: u8, idle_ns: u64) -> bool {
    if closing & PRIVATELINK_RST != 0 {
        return true;
    }
    let both = PRIVATELINK_FIN_CONSUMER | PRIVATELINK_FIN_PROVIDER;
    let timeout = if closing & both == both {
        PRIVATELINK_CLOSED_NS
    } else if closing != 0 {
        ct_timeout::TCP_CLOSING_NS
    } else if proto == 6 {
        ct_timeout::TCP_ESTABLISHED_NS
    } else {
        ct_timeout::UDP_NS
    };
    idle_ns > timeout
}
