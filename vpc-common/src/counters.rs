//! Counters: per-port counters, actions and drop reasons, declared once for the datapath, `vpc stats` and /metrics.
#[allow(unused_imports)]
use crate::*;

/// Per-port counters (per CPU; summed by the control plane).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortCounters {
    /// Frames received from the ENI.
    pub rx_packets: u64,
    /// Bytes received from the ENI.
    pub rx_bytes: u64,
    /// Frames forwarded to the ENI.
    pub tx_packets: u64,
    /// Bytes forwarded to the ENI.
    pub tx_bytes: u64,
    /// Frames from the ENI that were dropped.
    pub dropped: u64,
    /// Frames from the ENI forwarded on a decision of the flow cache (also
    /// counted as received and, on their egress port, sent).
    pub flow_cache_hits: u64,
    /// New flows of the ENI refused by the connection tracker: its quota,
    /// its VPC's or the whole table full (`conntrack_eni_quota`,
    /// `conntrack_vpc_quota`, `conntrack_full`), counted on the ENI the
    /// connection would have counted against.
    pub conntrack_refused: u64,
}

/// What the datapath did with a frame that was not dropped.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Routed and redirected to an egress port.
    Forwarded = 0,
    /// ARP request for a vSwitch address answered with XDP_TX.
    ArpReplied = 1,
    /// Sent to the internet, source translated to a public address.
    ToInternet = 2,
    /// Received from the internet, destination translated to a private address.
    FromInternet = 3,
    /// TTL expired: answered with ICMP time exceeded from the vSwitch gateway.
    IcmpTimeExceededSent = 4,
    /// Larger than the egress MTU with DF set: answered with ICMP
    /// fragmentation needed (the egress MTU in it) from the vSwitch gateway.
    IcmpFragNeededSent = 5,
    /// An ICMP error not sent: over the rate limit (the frame is still
    /// counted under its drop reason).
    IcmpErrorRateLimited = 6,
    /// Sent to the cloud's services network through a gateway endpoint,
    /// source translated to the endpoint's address.
    ToServices = 7,
    /// A reply from the services network, destination translated back to
    /// the instance.
    FromServices = 8,
}

impl Action {
    /// Number of variants (size of the `ACTIONS` array).
    pub const COUNT: u32 = 9;
    /// Every variant, in index order.
    pub const ALL: [Action; 9] = [
        Action::Forwarded,
        Action::ArpReplied,
        Action::ToInternet,
        Action::FromInternet,
        Action::IcmpTimeExceededSent,
        Action::IcmpFragNeededSent,
        Action::IcmpErrorRateLimited,
        Action::ToServices,
        Action::FromServices,
    ];

    /// Stable snake_case name (CLI, metrics).
    pub const fn name(self) -> &'static str {
        match self {
            Action::Forwarded => "forwarded",
            Action::ArpReplied => "arp_replied",
            Action::ToInternet => "to_internet",
            Action::FromInternet => "from_internet",
            Action::IcmpTimeExceededSent => "icmp_time_exceeded_sent",
            Action::IcmpFragNeededSent => "icmp_frag_needed_sent",
            Action::IcmpErrorRateLimited => "icmp_error_rate_limited",
            Action::ToServices => "to_services",
            Action::FromServices => "from_services",
        }
    }
}

/// Why the datapath dropped a frame. Each has its own counter.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Truncated or malformed Ethernet, ARP or IPv4 header.
    ParseError = 0,
    /// IPv6 frame: not routed yet.
    Ipv6 = 1,
    /// Neither IPv4, ARP nor IPv6 (VLAN tags, LLDP...).
    UnsupportedEtherType = 2,
    /// Received on a port with no ENI configured.
    UnknownPort = 3,
    /// Unicast frame not addressed to the router's MAC.
    NotForRouter = 4,
    /// Source MAC is not the ENI's.
    SpoofedMac = 5,
    /// Source IP (or ARP sender) is not the ENI's.
    SpoofedIp = 6,
    /// ARP that the router does not answer (reply, or target outside the vSwitch).
    ArpIgnored = 7,
    /// Destination or source address that is never routed (multicast, broadcast, loopback...).
    Martian = 8,
    /// No route in the route table of the source vSwitch.
    NoRoute = 9,
    /// Route says local, but no ENI holds the destination address.
    NoNeighbour = 10,
    /// TTL would reach zero.
    TtlExceeded = 11,
    /// The egress port is gone from the device map.
    RedirectFailed = 12,
    /// Refused by the destination ENI's security groups (inbound).
    SgIngress = 13,
    /// Refused by the source ENI's security groups (outbound).
    SgEgress = 14,
    /// Refused by the destination vSwitch's network ACL (inbound).
    AclIngress = 15,
    /// Refused by the source vSwitch's network ACL (outbound).
    AclEgress = 16,
    /// A new flow found the connection table full.
    ConntrackFull = 17,
    /// From the internet to a public address nobody holds.
    UnknownPublicAddress = 18,
    /// New inbound internet flow with no route in the gateway route table
    /// (or none bound) while the IPv4 gateway is enabled (IGW-4).
    Ipv4GatewayNoRoute = 19,
    /// To the internet from an ENI without a public IP, EIP or SNAT entry.
    NoPublicAddress = 20,
    /// Every public port of the SNAT address is taken for that destination.
    NatPortsExhausted = 21,
    /// The port-translation table is full.
    NatTableFull = 22,
    /// From the internet to an SNAT address with no translation for it.
    NatNoMapping = 23,
    /// Larger than the egress port's MTU with DF set (answered with ICMP
    /// fragmentation needed unless rate-limited).
    FragmentationNeeded = 24,
    /// An IPv4 header that does not hold: total length beyond the frame or
    /// shorter than the header, or a wrong header checksum.
    BadIpv4Header = 25,
    /// A new flow of an ENI that already holds its quota of tracked
    /// connections (`ConntrackQuota::per_eni`).
    ConntrackEniQuota = 26,
    /// A new flow of a VPC whose ENIs already hold its quota of tracked
    /// connections (`ConntrackQuota::per_vpc`).
    ConntrackVpcQuota = 27,
    /// A non-first IPv4 fragment whose first fragment the router has not
    /// seen (or no longer remembers): nothing says which flow it is of.
    FragmentWithoutFirst = 28,
    /// A frame from the services network that is no reply of a flow an
    /// instance opened through a gateway endpoint: the services side never
    /// opens a connection into a VPC.
    ServicesUnsolicited = 29,
    /// A new connection to a listener whose ring names no backend (the
    /// server group has none, or none healthy).
    LbNoBackend = 30,
    /// A new connection to a listener refused by the load balancer's
    /// security groups.
    LbSecurityGroup = 31,
    /// A packet to (or a reply from the service through) an interface
    /// endpoint whose connection or zone is not Connected (CONN-2): not
    /// accepted yet, disabled, or the service deleted.
    EndpointNotConnected = 32,
    /// A new connection to an endpoint at a port where the service's load
    /// balancer runs no listener (or not TCP/UDP).
    EndpointNoListener = 33,
}

impl DropReason {
    /// Number of variants (size of the `DROPS` array).
    pub const COUNT: u32 = 34;
    /// Every variant, in index order.
    pub const ALL: [DropReason; 34] = [
        DropReason::ParseError,
        DropReason::Ipv6,
        DropReason::UnsupportedEtherType,
        DropReason::UnknownPort,
        DropReason::NotForRouter,
        DropReason::SpoofedMac,
        DropReason::SpoofedIp,
        DropReason::ArpIgnored,
        DropReason::Martian,
        DropReason::NoRoute,
        DropReason::NoNeighbour,
        DropReason::TtlExceeded,
        DropReason::RedirectFailed,
        DropReason::SgIngress,
        DropReason::SgEgress,
        DropReason::AclIngress,
        DropReason::AclEgress,
        DropReason::ConntrackFull,
        DropReason::UnknownPublicAddress,
        DropReason::Ipv4GatewayNoRoute,
        DropReason::NoPublicAddress,
        DropReason::NatPortsExhausted,
        DropReason::NatTableFull,
        DropReason::NatNoMapping,
        DropReason::FragmentationNeeded,
        DropReason::BadIpv4Header,
        DropReason::ConntrackEniQuota,
        DropReason::ConntrackVpcQuota,
        DropReason::FragmentWithoutFirst,
        DropReason::ServicesUnsolicited,
        DropReason::LbNoBackend,
        DropReason::LbSecurityGroup,
        DropReason::EndpointNotConnected,
        DropReason::EndpointNoListener,
    ];

    /// Stable snake_case name (CLI, metrics).
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::ParseError => "parse_error",
            DropReason::Ipv6 => "ipv6",
            DropReason::UnsupportedEtherType => "unsupported_ether_type",
            DropReason::UnknownPort => "unknown_port",
            DropReason::NotForRouter => "not_for_router",
            DropReason::SpoofedMac => "spoofed_mac",
            DropReason::SpoofedIp => "spoofed_ip",
            DropReason::ArpIgnored => "arp_ignored",
            DropReason::Martian => "martian",
            DropReason::NoRoute => "no_route",
            DropReason::NoNeighbour => "no_neighbour",
            DropReason::TtlExceeded => "ttl_exceeded",
            DropReason::RedirectFailed => "redirect_failed",
            DropReason::SgIngress => "sg_ingress",
            DropReason::SgEgress => "sg_egress",
            DropReason::AclIngress => "acl_ingress",
            DropReason::AclEgress => "acl_egress",
            DropReason::ConntrackFull => "conntrack_full",
            DropReason::UnknownPublicAddress => "unknown_public_address",
            DropReason::Ipv4GatewayNoRoute => "ipv4_gateway_no_route",
            DropReason::NoPublicAddress => "no_public_address",
            DropReason::NatPortsExhausted => "nat_ports_exhausted",
            DropReason::NatTableFull => "nat_table_full",
            DropReason::NatNoMapping => "nat_no_mapping",
            DropReason::FragmentationNeeded => "fragmentation_needed",
            DropReason::BadIpv4Header => "bad_ipv4_header",
            DropReason::ConntrackEniQuota => "conntrack_eni_quota",
            DropReason::ConntrackVpcQuota => "conntrack_vpc_quota",
            DropReason::FragmentWithoutFirst => "fragment_without_first",
            DropReason::ServicesUnsolicited => "services_unsolicited",
            DropReason::LbNoBackend => "lb_no_backend",
            DropReason::LbSecurityGroup => "lb_security_group",
            DropReason::EndpointNotConnected => "endpoint_not_connected",
            DropReason::EndpointNoListener => "endpoint_no_listener",
        }
    }
}
