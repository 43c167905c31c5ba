//! Network load balancers: listener addresses, the consistent-hash ring of
//! each listener address, and the connections translated to a backend.
//!
//! A client's packet to a listener (`LB_LISTENERS`: {VPC, address, port,
//! protocol}) is sent to the backend its connection already has
//! (`LB_FLOWS`), else to the one the listener's ring names at
//! [`lb_hash`] of its 5-tuple (`LB_RINGS`, Maglev: each backend holds a
//! share of the ring's entries by weight, and a change of the backend set
//! moves only the entries it must). Its destination is translated to the
//! backend; the client's address is kept (the cloud's NLB preserves it by
//! default). The backend's replies (`LB_REPLIES`) get the listener's
//! address and port back as their source.
#[allow(unused_imports)]
use crate::*;

/// Entries of each ring (a prime: Maglev's permutations need it; at least
/// 100 times the backends of a server group keeps their shares within 1%).
pub const LB_RING_SIZE: u32 = 8191;
/// Rings at most: one per listener address (each zone's address of each
/// listener; with cross-zone balancing off, each zone has its own backends).
pub const MAX_LB_RINGS: u32 = 512;
/// Listener addresses at most (`LB_LISTENERS`).
pub const MAX_LB_LISTENERS: u32 = 4096;
/// Connections through load balancers tracked at most (`LB_FLOWS`, and as
/// many replies in `LB_REPLIES`).
pub const MAX_LB_FLOWS: u32 = 1 << 18;

/// Key of `LB_LISTENERS`: a listener as its clients reach it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ListenerKey {
    /// Numeric id of the VPC the address is in.
    pub vpc_id: u32,
    /// The load balancer's address in one zone.
    pub addr: [u8; 4],
    /// The listener port, big-endian.
    pub port: [u8; 2],
    /// IP protocol (6 or 17).
    pub proto: u8,
    /// Always 0.
    pub pad: u8,
}

/// `Listener::flags`: the load balancer is in security groups: a new
/// connection must be accepted by `sg_ingress` (the client's address,
/// protocol and listener port).
pub const LISTENER_FLAG_SECURITY_GROUPS: u32 = 1;
/// `Listener::flags`: what the ingress policy gives a connection no rule
/// matches is accept.
pub const LISTENER_FLAG_SG_DEFAULT_ACCEPT: u32 = 1 << 1;
/// `Listener::flags`: the server group's scheduler is source hashing
/// (`Sch`): the ring position follows the client's address alone, so a
/// client's connections all go to one backend.
pub const LISTENER_FLAG_SOURCE_HASH: u32 = 1 << 2;

/// Value of `LB_LISTENERS`: a running listener's address.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Listener {
    /// Numeric id of the listener.
    pub listener_id: u32,
    /// The ring of this address (below [`MAX_LB_RINGS`]).
    pub ring: u32,
    /// Inbound security-group policy id of the load balancer (if
    /// [`LISTENER_FLAG_SECURITY_GROUPS`]).
    pub sg_ingress: u32,
    /// `LISTENER_FLAG_*`.
    pub flags: u32,
    /// Seconds the connections of a backend that leaves the ring (removed,
    /// or failing its health checks) are kept (the server group's
    /// connection draining; 0: closed at once). Read by the control plane
    /// only.
    pub drain_s: u32,
}

/// `Backend::flags`: the ring entry names a backend (else the ring has no
/// healthy backend: new connections are dropped, counted).
pub const BACKEND_FLAG_PRESENT: u16 = 1;

/// Value of `LB_RINGS` (at `ring * LB_RING_SIZE + index`): a backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Backend {
    /// The backend's address (in the listener's VPC).
    pub addr: [u8; 4],
    /// The backend's port, big-endian.
    pub port: [u8; 2],
    /// `BACKEND_FLAG_*`.
    pub flags: u16,
}

/// Value of `LB_FLOWS` (keyed by the client's [`CtKey`]: client ->
/// listener address): the backend of a connection.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LbFlow {
    /// The backend.
    pub backend: Backend,
    /// Numeric id of the listener (a connection of a listener since
    /// deleted and made again is balanced anew).
    pub listener_id: u32,
    /// The load balancer's inbound policy id that admitted the connection:
    /// when it changes, the next packet is judged again.
    pub sg_ingress: u32,
}

/// Value of `LB_REPLIES` (keyed by the backend's [`CtKey`]: backend ->
/// client): the listener address the client knows.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LbReply {
    /// The listener address.
    pub addr: [u8; 4],
    /// The listener port, big-endian.
    pub port: [u8; 2],
    /// Where the client is: [`LB_VIA_VPC`] or [`LB_VIA_INTERNET`] (then
    /// `addr` is the zone's public address and the reply leaves by the
    /// uplink).
    pub via: u8,
    /// Always 0.
    pub pad: u8,
    /// Numeric id of the listener.
    pub listener_id: u32,
}

/// `LbReply::via`: the client is in the listener's VPC.
pub const LB_VIA_VPC: u8 = 0;
/// `LbReply::via`: the client is on the internet (an internet-facing load
/// balancer reached at a zone's public address).
pub const LB_VIA_INTERNET: u8 = 1;
/// `LbReply::via`: the client is a consumer VPC's, through an interface
/// endpoint (`vpc_common::privatelink`): `addr` is the load balancer's own
/// address, and the reply goes back through `PRIVATELINK_IN`.
pub const LB_VIA_PRIVATELINK: u8 = 2;

/// The ring position of a connection (addresses as in the packet, ports in
/// host order): the same function in the datapath and in the control
/// plane's tests of how many connections a change moves.
#[inline(always)]
pub const fn lb_hash(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, proto: u8) -> u32 {
    let a = (u32::from_le_bytes(src) as u64) | ((u32::from_le_bytes(dst) as u64) << 32);
    let b = (sport as u64) | ((dport as u64) << 16) | ((proto as u64) << 32);
    let h = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    let h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (h ^ (h >> 32)) as u32
}

/// Index in `LB_RINGS` of position `hash` of ring `ring`.
#[inline(always)]
pub const fn lb_ring_index(ring: u32, hash: u32) -> u32 {
    ring * LB_RING_SIZE + hash % LB_RING_SIZE
}

/// Value of `LB_PENDING` (one per CPU): what the load-balancing stage
/// decided for the packet in hand, applied just before it is sent. Kept in
/// a map rather than in the program's registers so the verifier walks the
/// rest of the pipeline once whatever was decided.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LbPending {
    /// 0: nothing; 1: the destination becomes `addr`:`port`; 2: the
    /// source does.
    pub side: u32,
    /// `LB_VIA_*` of a reply.
    pub via: u32,
    /// The address to translate to.
    pub addr: [u8; 4],
    /// The port to translate to (host order).
    pub port: u16,
    /// Always 0.
    pub pad: u16,
    /// Scratch: the keys and values the stage hands to map helpers, kept
    /// here rather than on the program's stack (512 bytes for the whole
    /// pipeline).
    pub listener_key: ListenerKey,
    /// Scratch: the client's connection key.
    pub ct: CtKey,
    /// Scratch: the backend's reply key.
    pub back: CtKey,
    /// Scratch: a new `LB_FLOWS` value.
    pub flow: LbFlow,
    /// Scratch: a new `LB_REPLIES` value.
    pub reply: LbReply,
    /// Scratch: the listener's ring.
    pub ring: u32,
    /// Scratch: the listener's flags.
    pub flags: u32,
    /// PrivateLink (both ends translated): the source address to
    /// translate to.
    pub src_addr: [u8; 4],
    /// PrivateLink: the source port to translate to (host order).
    pub src_port: u16,
    /// Always 0.
    pub pad2: u16,
    /// PrivateLink: the port and MACs to send to (the route was taken in
    /// the other VPC).
    pub egress: Egress,
    /// Scratch: a `PRIVATELINK_IN` value (8-byte aligned here).
    pub pl_in: PrivateLinkIn,
    /// Scratch: a `PRIVATELINK_IN` key.
    pub pl_in_key: PrivateLinkInKey,
    /// Scratch: a `PRIVATELINK_OUT` value.
    pub pl_out: PrivateLinkOut,
    /// Scratch: the `ENDPOINT_ENIS` key of the packet's endpoint ENI.
    pub eni_key: EniAddressKey,
    /// Scratch: an `ENI_BY_ADDRESS` key.
    pub address_key: EniAddressKey,
}
