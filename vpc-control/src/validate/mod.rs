//! Validation of a [`Model`]: every rule the cloud enforces on VPCs,
//! vSwitches, route tables and instances, with its error code.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use thiserror::Error;

use crate::model::{self, Model, NextHopType, RouteTableType};

/// A configuration the cloud would refuse. `code()` gives the cloud's code.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValidationError {
    /// An id is empty, too long, or has characters a namespace name cannot have.
    #[error("The {kind} id {id:?} is invalid: use 1 to 64 letters, digits, '-', '_' or '.'.")]
    InvalidId { kind: &'static str, id: String },
    /// Two resources of one kind share an id.
    #[error("The {kind} id {id} is declared more than once.")]
    DuplicateId { kind: &'static str, id: String },
    /// A CIDR block has host bits set or a mask length the cloud refuses.
    #[error("The CIDR block {cidr} of {id} is malformed: {reason}.")]
    MalformedCidr {
        id: String,
        cidr: Ipv4Net,
        reason: String,
    },
    /// A CIDR block's mask length is outside what the cloud accepts (the
    /// cloud's code really is spelled `Cirdr`).
    #[error("The mask length of {cidr} ({id}) must be {min} to {max}.")]
    CidrMaskLength {
        id: String,
        cidr: Ipv4Net,
        min: u8,
        max: u8,
    },
    /// A vSwitch CIDR block is not inside its VPC's block.
    #[error(
        "The CIDR block {cidr} of vSwitch {vswitch_id} is not inside the CIDR block {vpc_cidr} of {vpc_id}."
    )]
    VSwitchCidrNotInVpc {
        vswitch_id: String,
        cidr: Ipv4Net,
        vpc_id: String,
        vpc_cidr: Ipv4Net,
    },
    /// Two vSwitches of one VPC have overlapping CIDR blocks.
    #[error(
        "The CIDR block {cidr} of vSwitch {vswitch_id} overlaps {other_cidr} of vSwitch {other_id}."
    )]
    VSwitchCidrOverlap {
        vswitch_id: String,
        cidr: Ipv4Net,
        other_id: String,
        other_cidr: Ipv4Net,
    },
    /// A reference to a VPC that does not exist.
    #[error("The VPC {id} referenced by {by} does not exist.")]
    UnknownVpc { id: String, by: String },
    /// A reference to a vSwitch that does not exist.
    #[error("The vSwitch {id} referenced by {by} does not exist.")]
    UnknownVSwitch { id: String, by: String },
    /// A reference to a route table that does not exist.
    #[error("The route table {id} referenced by {by} does not exist.")]
    UnknownRouteTable { id: String, by: String },
    /// A route entry's next hop is no instance or ENI of the model.
    #[error("The next hop {id} of route entry {destination} in {route_table_id} does not exist.")]
    UnknownNextHop {
        id: String,
        destination: Ipv4Net,
        route_table_id: String,
    },
    /// A vSwitch is associated with a route table of another VPC.
    #[error("{what} {id} is in {actual_vpc}, not in {expected_vpc}.")]
    VpcMismatch {
        what: &'static str,
        id: String,
        expected_vpc: String,
        actual_vpc: String,
    },
    /// A route entry's next hop is in another VPC than its route table.
    #[error("The next hop {id} is in {actual_vpc}, not in {expected_vpc}.")]
    NextHopInOtherVpc {
        id: String,
        expected_vpc: String,
        actual_vpc: String,
    },
    /// A VPC has more than one system route table.
    #[error("The VPC {vpc_id} has more than one system route table.")]
    DuplicateSystemRouteTable { vpc_id: String },
    /// A vSwitch is associated with a system route table by id.
    #[error(
        "The vSwitch {vswitch_id} cannot be associated with the system route table {route_table_id}: it is used by default."
    )]
    AssociateSystemRouteTable {
        vswitch_id: String,
        route_table_id: String,
    },
    /// Two custom entries of one table have the same destination.
    #[error("The route table {route_table_id} has more than one entry for {destination}.")]
    DuplicateRouteEntry {
        route_table_id: String,
        destination: Ipv4Net,
    },
    /// A route entry's destination prefix list does not exist, or belongs
    /// to another account than the table (RT-1).
    #[error("The prefix list {id} routed by {route_table_id} does not exist.")]
    UnknownPrefixList { id: String, route_table_id: String },
    /// A CIDR block of a prefix list a table routes is also another entry's
    /// destination in that table (or a vSwitch's, routed locally).
    #[error(
        "The CIDR block {destination} of prefix list {prefix_list_id} is already a destination in route table {route_table_id} ({other})."
    )]
    PrefixListRouteConflict {
        route_table_id: String,
        prefix_list_id: String,
        destination: Ipv4Net,
        other: String,
    },
    /// A custom entry has the destination of a system (vSwitch) entry.
    #[error(
        "The destination {destination} in {route_table_id} is the CIDR block of vSwitch {vswitch_id}, routed by a system entry."
    )]
    RouteEntryConflictsWithSystem {
        route_table_id: String,
        destination: Ipv4Net,
        vswitch_id: String,
    },
    /// An instance's private address is outside its vSwitch.
    #[error(
        "The private IP address {address} of {instance_id} is not in the CIDR block {cidr} of {vswitch_id}."
    )]
    AddressNotInVSwitch {
        instance_id: String,
        address: Ipv4Addr,
        vswitch_id: String,
        cidr: Ipv4Net,
    },
    /// An instance's private address is one the vSwitch reserves.
    #[error(
        "The private IP address {address} of {instance_id} is reserved by {vswitch_id} (first and last three addresses)."
    )]
    AddressReserved {
        instance_id: String,
        address: Ipv4Addr,
        vswitch_id: String,
    },
    /// Two instances of one VPC have the same private address.
    #[error("The private IP address {address} of {instance_id} is already used by {other_id}.")]
    AddressTaken {
        instance_id: String,
        address: Ipv4Addr,
        other_id: String,
    },
    /// No free address left in a vSwitch.
    #[error("The vSwitch {vswitch_id} has no free private IP address for {instance_id}.")]
    VSwitchFull {
        vswitch_id: String,
        instance_id: String,
    },
    /// A reference to a security group that does not exist.
    #[error("The security group {id} referenced by {by} does not exist.")]
    UnknownSecurityGroup { id: String, by: String },
    /// A reference to a network ACL that does not exist.
    #[error("The network ACL {id} referenced by {by} does not exist.")]
    UnknownNetworkAcl { id: String, by: String },
    /// An ENI is in more security groups than the cloud allows (SG-4).
    #[error("The instance {instance_id} would be in {count} security groups; at most {max}.")]
    TooManySecurityGroups {
        instance_id: String,
        count: usize,
        max: usize,
    },
    /// A rule's priority is outside 1..=100.
    #[error("The priority {priority} of rule {rule_id} is outside 1 to 100.")]
    InvalidPriority { rule_id: String, priority: u8 },
    /// A listener of a load balancer that does not exist.
    #[error("The load balancer {id} referenced by {by} does not exist.")]
    UnknownLoadBalancer { id: String, by: String },
    /// A listener's server group that does not exist.
    #[error("The server group {id} referenced by {by} does not exist.")]
    UnknownServerGroup { id: String, by: String },
    /// A load balancer maps a zone twice, or a zone its vSwitch is not in.
    #[error("The zone mapping {zone_id} of load balancer {load_balancer_id} is invalid: {why}.")]
    BadZoneMapping {
        load_balancer_id: String,
        zone_id: String,
        why: &'static str,
    },
    /// A listener and its server group of different protocols.
    #[error(
        "The listener {listener_id} and its server group {server_group_id} have different protocols."
    )]
    ListenerProtocolMismatch {
        listener_id: String,
        server_group_id: String,
    },
    /// Two listeners of a load balancer on one protocol and port.
    #[error(
        "The listeners {listener_id} and {other_id} of {load_balancer_id} share protocol and port {port}."
    )]
    DuplicateListener {
        load_balancer_id: String,
        listener_id: String,
        other_id: String,
        port: u16,
    },
    /// A gateway route table entry whose destination is no vSwitch CIDR of
    /// the VPC (custom entries cannot be added, RT-4).
    #[error(
        "The gateway route table {route_table_id} has no system entry for {destination}: only the vSwitch entries can be edited."
    )]
    GatewayEntryNotSystem {
        route_table_id: String,
        destination: Ipv4Net,
    },
    /// A route entry's next hop type does not fit its table.
    #[error(
        "The next hop type {next_hop_type} of {destination} is not allowed in route table {route_table_id}."
    )]
    NextHopTypeNotAllowed {
        route_table_id: String,
        destination: Ipv4Net,
        next_hop_type: &'static str,
    },
    /// A vSwitch is associated with a gateway route table.
    #[error(
        "The route table {route_table_id} is a gateway route table: it cannot be associated with vSwitch {vswitch_id}."
    )]
    AssociateGatewayRouteTable {
        vswitch_id: String,
        route_table_id: String,
    },
    /// A VPC has more than one IPv4 gateway (IGW-1).
    #[error("The VPC {vpc_id} already has the IPv4 gateway {other_id}.")]
    DuplicateIpv4Gateway { vpc_id: String, other_id: String },
    /// An IPv4 gateway is bound to a table that is not a gateway route
    /// table of its VPC, or two gateways share one.
    #[error(
        "The route table {route_table_id} cannot be bound to IPv4 gateway {gateway_id}: {reason}."
    )]
    InvalidGatewayRouteTable {
        gateway_id: String,
        route_table_id: String,
        reason: &'static str,
    },
    /// Two holders of one public address, or an address outside the pool.
    #[error("The public address {address} of {holder}: {reason}.")]
    InvalidPublicAddress {
        address: Ipv4Addr,
        holder: String,
        reason: String,
    },
    /// An EIP's association names nothing that exists.
    #[error("The EIP {eip_id} is associated with {instance_id}, which does not exist.")]
    UnknownEipTarget { eip_id: String, instance_id: String },
    /// An ENI would get two public addresses.
    #[error("The instance {instance_id} already has the public address {existing}.")]
    SecondPublicAddress {
        instance_id: String,
        existing: Ipv4Addr,
    },
    /// A NAT gateway reference that does not exist.
    #[error("The NAT gateway {id} referenced by {by} does not exist.")]
    UnknownNatGateway { id: String, by: String },
    /// An SNAT entry's address is no EIP of its NAT gateway.
    #[error(
        "The SNAT IP {address} of {snat_entry_id} is not an EIP associated with NAT gateway {nat_gateway_id}."
    )]
    SnatIpNotOfGateway {
        snat_entry_id: String,
        address: Ipv4Addr,
        nat_gateway_id: String,
    },
    /// Two SNAT entries of one NAT gateway have the same source.
    #[error("The SNAT entries of {nat_gateway_id} have the source {cidr} twice.")]
    DuplicateSnatSource {
        nat_gateway_id: String,
        cidr: Ipv4Net,
    },
    /// A VPC's block overlaps a block the cloud reserves (this network,
    /// loopback, link-local, shared address space, multicast, reserved).
    #[error(
        "The CIDR block {cidr} cannot be a VPC's: it overlaps {reserved}, which is reserved ({what})."
    )]
    ReservedCidr {
        cidr: Ipv4Net,
        reserved: Ipv4Net,
        what: &'static str,
    },
    /// The router namespace name is missing or is not a valid namespace name.
    #[error("The router namespace {0:?} is invalid.")]
    InvalidRouterNamespace(String),
}

impl ValidationError {
    /// The cloud's error code for this error.
    pub fn code(&self) -> &'static str {
        use ValidationError::*;
        match self {
            InvalidId { .. } => "InvalidParameter",
            DuplicateId { .. } => "InvalidParameter.Duplicated",
            MalformedCidr { .. } | ReservedCidr { .. } => "InvalidCidrBlock.Malformed",
            CidrMaskLength { .. } => "InvalidCirdrBlock.MaskLength",
            VSwitchCidrNotInVpc { .. } => "InvalidParameter",
            VSwitchCidrOverlap { .. } => "InvalidCidrBlock.Overlapped",
            UnknownVpc { .. } => "InvalidVpcId.NotFound",
            UnknownVSwitch { .. } => "InvalidVSwitchId.NotFound",
            UnknownRouteTable { .. } => "InvalidRouteTableId.NotFound",
            UnknownNextHop { .. } => "InvalidNextHopId.NotFound",
            VpcMismatch { .. } => "Forbidden.NotInSameVpc",
            NextHopInOtherVpc { .. } => "OperationFailed.InstanceDismatchCurrentVpc",
            DuplicateSystemRouteTable { .. } => "InvalidRouteTable.Duplicated",
            AssociateSystemRouteTable { .. } => "InvalidRouteTableType.System",
            DuplicateRouteEntry { .. } => "InvalidCIDRBlock.Duplicate",
            RouteEntryConflictsWithSystem { .. } => "InvalidCidrBlock",
            UnknownPrefixList { .. } => "InvalidPrefixListId.NotFound",
            PrefixListRouteConflict { .. } => "InvalidCIDRBlock.Duplicate",
            AddressNotInVSwitch { .. } => "InvalidPrivateIpAddress",
            AddressReserved { .. } => "InvalidPrivateIpAddress",
            AddressTaken { .. } => "InvalidPrivateIpAddress.Duplicated",
            VSwitchFull { .. } => "QuotaExceeded.PrivateIpAddress",
            InvalidRouterNamespace(_) => "InvalidParameter",
            GatewayEntryNotSystem { .. } => "IncorrectRouteTableType",
            NextHopTypeNotAllowed { .. } => "InvalidNextHopType.NotSupported",
            AssociateGatewayRouteTable { .. } => "IncorrectRouteTableType",
            DuplicateIpv4Gateway { .. } => "QuotaExceeded.Ipv4Gateway",
            InvalidGatewayRouteTable { .. } => "IncorrectRouteTableType",
            InvalidPublicAddress { .. } => "InvalidIpAddress",
            UnknownEipTarget { .. } => "InvalidInstanceId.NotFound",
            SecondPublicAddress { .. } => "InvalidAssociation.Duplicated",
            UnknownNatGateway { .. } => "InvalidNatGatewayId.NotFound",
            SnatIpNotOfGateway { .. } => "InvalidSnatIp.NotBelongNatGateway",
            DuplicateSnatSource { .. } => "InvalidSourceCIDR.Duplicated",
            UnknownSecurityGroup { .. } => "InvalidSecurityGroupId.NotFound",
            UnknownNetworkAcl { .. } => "InvalidNetworkAclId.NotFound",
            TooManySecurityGroups { .. } => "JoinedGroupLimitExceed",
            InvalidPriority { .. } => "InvalidPriority.Malformed",
            // The NLB API's codes.
            UnknownLoadBalancer { .. } => "ResourceNotFound.loadBalancer",
            UnknownServerGroup { .. } => "ResourceNotFound.serverGroup",
            BadZoneMapping { .. } => "IllegalParam.ZoneMappings",
            ListenerProtocolMismatch { .. } => "Mismatch.Protocol",
            DuplicateListener { .. } => "ResourceAlreadyExist.listener",
        }
    }
}

/// Mask lengths the cloud accepts for a VPC block.
pub const VPC_PREFIX_LEN: std::ops::RangeInclusive<u8> = 8..=28;
/// Mask lengths the cloud accepts for a vSwitch block.
pub const VSWITCH_PREFIX_LEN: std::ops::RangeInclusive<u8> = 16..=29;

/// Blocks a VPC's CIDR block may not overlap: the cloud takes 10/8,
/// 172.16/12, 192.168/16 and public blocks but these.
pub const RESERVED_BLOCKS: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this network"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    (
        "100.64.0.0/10",
        "shared address space, used by the cloud's services",
    ),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved, and the broadcast address"),
];

/// Checks that a new VPC's block overlaps no [`RESERVED_BLOCKS`] entry.
pub fn check_vpc_block(cidr: &Ipv4Net) -> Result<(), ValidationError> {
    for (block, what) in RESERVED_BLOCKS {
        let reserved: Ipv4Net = block.parse().expect("a reserved block");
        if reserved.contains(&cidr.network()) || cidr.contains(&reserved.network()) {
            return Err(ValidationError::ReservedCidr {
                cidr: *cidr,
                reserved,
                what,
            });
        }
    }
    Ok(())
}

/// Parses a CIDR block (`a.b.c.d/n`, or an address alone when
/// `address_alone`) in its canonical text only: decimal octets and mask
/// without leading zeros or signs (`010.0.0.0/16` would otherwise be read
/// as 10.0.0.0/16, or by other parsers as octal 8.0.0.0/16). `None` if it
/// is not one.
pub fn parse_cidr(text: &str, address_alone: bool) -> Option<Ipv4Net> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None if address_alone => (text, None),
        None => return None,
    };
    let canonical = |part: &str, max: u32| {
        !part.is_empty()
            && part.len() <= 3
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
            && part.parse::<u32>().is_ok_and(|n| n <= max)
    };
    let octets: Vec<&str> = addr.split('.').collect();
    if octets.len() != 4
        || !octets.iter().all(|o| canonical(o, 255))
        || !len.is_none_or(|l| canonical(l, 32))
    {
        return None;
    }
    let addr: Ipv4Addr = addr.parse().ok()?;
    Ipv4Net::new(addr, len.map_or(Some(32), |l| l.parse().ok())?).ok()
}

/// Checks that an id can name a namespace: 1 to 64 of `[A-Za-z0-9._-]`.
pub fn check_id(kind: &'static str, id: &str) -> Result<(), ValidationError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::InvalidId {
            kind,
            id: id.to_string(),
        })
    }
}

fn check_cidr(
    id: &str,
    cidr: &Ipv4Net,
    lens: std::ops::RangeInclusive<u8>,
) -> Result<(), ValidationError> {
    let malformed = |reason: String| ValidationError::MalformedCidr {
        id: id.to_string(),
        cidr: *cidr,
        reason,
    };
    if cidr.addr() != cidr.network() {
        return Err(malformed(format!(
            "host bits are set, the block is {}",
            cidr.trunc()
        )));
    }
    if !lens.contains(&cidr.prefix_len()) {
        return Err(ValidationError::CidrMaskLength {
            id: id.to_string(),
            cidr: *cidr,
            min: *lens.start(),
            max: *lens.end(),
        });
    }
    Ok(())
}

fn unique_ids<'a>(
    kind: &'static str,
    ids: impl Iterator<Item = &'a str>,
) -> Result<(), ValidationError> {
    let mut seen = BTreeSet::new();
    for id in ids {
        check_id(kind, id)?;
        if !seen.insert(id) {
            return Err(ValidationError::DuplicateId {
                kind,
                id: id.to_string(),
            });
        }
    }
    Ok(())
}

/// Checks the whole model; the first error found is returned. The model is
/// expected to have gone through [`Model::with_system_route_tables`].
pub fn validate(model: &Model) -> Result<(), ValidationError> {
    validate_with(model, None, &mut 0)
}

/// The route tables that passed their checks, and what those checks read
/// besides the table ([`RouteCheckContext`]): [`Validator::validate`]
/// skips a table whose entries (the same `Arc`s) and fields are those
/// that passed, in an unchanged context.
#[derive(Debug, Default)]
pub struct RouteCheckMemo {
    context: Option<RouteCheckContext>,
    /// By route table id.
    tables: HashMap<String, PassedTable>,
    /// The security groups' rules that passed ([`validate_security_groups`]).
    groups: PassedGroups,
}

/// Security group rules as they passed their checks: a group whose rules
/// are the same list, among the same groups (ids and VPCs), is not walked
/// again.
#[derive(Debug, Default)]
struct PassedGroups {
    /// Each group's id and VPC, in the model's order.
    vpcs: Vec<(String, String)>,
    /// By group id; held, so the pointers compared stay these rules'.
    rules: HashMap<String, model::SecurityGroupRules>,
}

/// A route table as it passed its checks.
#[derive(Debug)]
struct PassedTable {
    vpc_id: String,
    associate_type: model::AssociateType,
    owner_id: String,
    /// Held, so the pointers compared stay these entries'.
    entries: model::RouteEntries,
    /// The destinations of its entries (none a prefix list), when it is
    /// to be checked by its change next time ([`PassedTable::check_change`]).
    destinations: Option<HashSet<(u32, u8)>>,
}

/// A destination as the duplicate check sorts it (and
/// [`Validator::destinations`] holds it).
pub fn destination_key(c: &Ipv4Net) -> (u32, u8) {
    (u32::from(c.network()), c.prefix_len())
}

impl PassedTable {
    fn of(rt: &model::RouteTable) -> Self {
        let destinations = (!rt.route_entries.iter().any(|e| e.is_prefix_list())).then(|| {
            rt.route_entries
                .iter()
                .map(|e| destination_key(&e.destination_cidr_block))
                .collect()
        });
        PassedTable {
            vpc_id: rt.vpc_id.clone(),
            associate_type: rt.associate_type,
            owner_id: rt.meta.owner_id.clone(),
            entries: rt.route_entries.clone(),
            destinations,
        }
    }

    /// Checks `rt`, which passed as this table and since only lost and
    /// gained entries (none a prefix list), by its change alone, in the
    /// context it passed in: the result [`check_route_table`] gives (the
    /// smallest duplicate destination first, then the first entry that
    /// fails), in time of the change. On success this becomes `rt`. None:
    /// not such a change (check the table whole).
    fn check_change(
        &mut self,
        check: &RouteEntryCheck,
        rt: &model::RouteTable,
    ) -> Option<Result<(), ValidationError>> {
        if self.vpc_id != rt.vpc_id
            || self.associate_type != rt.associate_type
            || self.owner_id != rt.meta.owner_id
        {
            return None;
        }
        let destinations = self.destinations.as_mut()?;
        let (removed, added) = rt.route_entries.changes_from(&self.entries)?;
        if removed.iter().any(|e| e.is_prefix_list()) || added.iter().any(|e| e.is_prefix_list()) {
            return None;
        }
        let gone: HashSet<(u32, u8)> = removed
            .iter()
            .map(|e| destination_key(&e.destination_cidr_block))
            .collect();
        let mut seen: HashSet<(u32, u8)> = HashSet::new();
        let duplicate = added
            .iter()
            .map(|e| destination_key(&e.destination_cidr_block))
            .filter(|d| !seen.insert(*d) || (destinations.contains(d) && !gone.contains(d)))
            .min();
        if let Some((addr, len)) = duplicate {
            return Some(Err(ValidationError::DuplicateRouteEntry {
                route_table_id: rt.id.clone(),
                destination: Ipv4Net::new(addr.into(), len).unwrap_or_default(),
            }));
        }
        let vswitches = check.vswitches_of(rt);
        for entry in added {
            if let Err(e) = check.entry(rt, &vswitches, entry) {
                return Some(Err(e));
            }
        }
        for d in &gone {
            destinations.remove(d);
        }
        destinations.extend(seen);
        self.entries = rt.route_entries.clone();
        Some(Ok(()))
    }

    fn is(&self, rt: &model::RouteTable) -> bool {
        self.vpc_id == rt.vpc_id
            && self.associate_type == rt.associate_type
            && self.owner_id == rt.meta.owner_id
            && self.entries.shares_all(&rt.route_entries)
    }
}

/// Everything a route table's checks read besides the table: VPCs,
/// vSwitches, next hops and their VPCs, prefix lists. Small (no route
/// entry, no rule in it): compared whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RouteCheckContext {
    vpcs: Vec<String>,
    vswitches: Vec<(String, String, Ipv4Net)>,
    ipv4_gateways: Vec<(String, String)>,
    nat_gateways: Vec<(String, String)>,
    gateway_endpoints: Vec<(String, String)>,
    instance_vpc: BTreeMap<String, String>,
    eni_vpc: BTreeMap<String, String>,
    prefix_lists: Vec<(String, String, Vec<Ipv4Net>)>,
    object_storage: Vec<Ipv4Net>,
}

impl RouteCheckContext {
    fn of(model: &Model, check: &RouteEntryCheck) -> Self {
        let pairs = |v: &mut dyn Iterator<Item = (&String, &String)>| {
            v.map(|(a, b)| (a.clone(), b.clone())).collect::<Vec<_>>()
        };
        RouteCheckContext {
            vpcs: model.vpcs.iter().map(|v| v.id.clone()).collect(),
            vswitches: model
                .vswitches
                .iter()
                .map(|v| (v.id.clone(), v.vpc_id.clone(), v.cidr_block))
                .collect(),
            ipv4_gateways: pairs(&mut model.ipv4_gateways.iter().map(|g| (&g.id, &g.vpc_id))),
            nat_gateways: pairs(&mut model.nat_gateways.iter().map(|g| (&g.id, &g.vpc_id))),
            gateway_endpoints: pairs(
                &mut model.gateway_endpoints.iter().map(|g| (&g.id, &g.vpc_id)),
            ),
            instance_vpc: check
                .instance_vpc
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            eni_vpc: check
                .eni_vpc
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            prefix_lists: model
                .prefix_lists
                .iter()
                .map(|p| {
                    (
                        p.id.clone(),
                        p.meta.owner_id.clone(),
                        p.entries.iter().map(|e| e.cidr).collect(),
                    )
                })
                .collect(),
            object_storage: model.router.services.object_storage_cidrs.clone(),
        }
    }
}

/// [`validate`] for a sequence of models, each a change of the last: the
/// route tables a change did not touch (and whose context it did not
/// change) are not checked again. The same result as [`validate`].
#[derive(Debug, Default)]
pub struct Validator {
    memo: RouteCheckMemo,
    /// Tables checked by their change alone.
    by_change: usize,
}

impl Validator {
    /// Checks `model` as [`validate`] does.
    pub fn validate(&mut self, model: &Model) -> Result<(), ValidationError> {
        validate_with(model, Some(&mut self.memo), &mut self.by_change)
    }

    /// The destinations of `rt`'s entries, when `rt` is a table that
    /// passed with these very entries (the same list) and none of them is
    /// a prefix list: a set to look destinations up in instead of walking
    /// the entries.
    pub fn destinations(&self, rt: &model::RouteTable) -> Option<&HashSet<(u32, u8)>> {
        let t = self.memo.tables.get(&rt.id)?;
        if !t.entries.same(&rt.route_entries) {
            return None;
        }
        t.destinations.as_ref()
    }

    /// How many times a table was checked by the entries a change added
    /// and removed alone.
    pub fn checked_by_change(&self) -> usize {
        self.by_change
    }

    /// The number of route tables known to have passed.
    pub fn passed_tables(&self) -> usize {
        self.memo.tables.len()
    }
}

fn validate_with(
    model: &Model,
    mut memo: Option<&mut RouteCheckMemo>,
    by_change: &mut usize,
) -> Result<(), ValidationError> {
    let ns = &model.router.namespace;
    if check_id("router namespace", ns).is_err() {
        return Err(ValidationError::InvalidRouterNamespace(ns.clone()));
    }
    unique_ids("VPC", model.vpcs.iter().map(|v| v.id.as_str()))?;
    unique_ids("vSwitch", model.vswitches.iter().map(|v| v.id.as_str()))?;
    unique_ids(
        "route table",
        model.route_tables.iter().map(|v| v.id.as_str()),
    )?;
    unique_ids("instance", model.instances.iter().map(|v| v.id.as_str()))?;
    unique_ids(
        "security group",
        model.security_groups.iter().map(|v| v.id.as_str()),
    )?;
    unique_ids(
        "network ACL",
        model.network_acls.iter().map(|v| v.id.as_str()),
    )?;

    for vpc in &model.vpcs {
        check_cidr(&vpc.id, &vpc.cidr_block, VPC_PREFIX_LEN)?;
        let systems = model
            .route_tables
            .iter()
            .filter(|t| t.vpc_id == vpc.id && t.route_table_type == RouteTableType::System)
            .count();
        if systems > 1 {
            return Err(ValidationError::DuplicateSystemRouteTable {
                vpc_id: vpc.id.clone(),
            });
        }
    }

    for vsw in &model.vswitches {
        let vpc = model
            .vpc(&vsw.vpc_id)
            .ok_or_else(|| ValidationError::UnknownVpc {
                id: vsw.vpc_id.clone(),
                by: vsw.id.clone(),
            })?;
        check_cidr(&vsw.id, &vsw.cidr_block, VSWITCH_PREFIX_LEN)?;
        if !vpc.cidr_block.contains(&vsw.cidr_block) {
            return Err(ValidationError::VSwitchCidrNotInVpc {
                vswitch_id: vsw.id.clone(),
                cidr: vsw.cidr_block,
                vpc_id: vpc.id.clone(),
                vpc_cidr: vpc.cidr_block,
            });
        }
        if let Some(other) = model.vswitches.iter().find(|o| {
            o.id != vsw.id
                && o.vpc_id == vsw.vpc_id
                && (o.cidr_block.contains(&vsw.cidr_block)
                    || vsw.cidr_block.contains(&o.cidr_block))
        }) {
            return Err(ValidationError::VSwitchCidrOverlap {
                vswitch_id: vsw.id.clone(),
                cidr: vsw.cidr_block,
                other_id: other.id.clone(),
                other_cidr: other.cidr_block,
            });
        }
        if let Some(rt_id) = &vsw.route_table_id {
            let rt =
                model
                    .route_table(rt_id)
                    .ok_or_else(|| ValidationError::UnknownRouteTable {
                        id: rt_id.clone(),
                        by: vsw.id.clone(),
                    })?;
            if rt.vpc_id != vsw.vpc_id {
                return Err(ValidationError::VpcMismatch {
                    what: "The route table",
                    id: rt.id.clone(),
                    expected_vpc: vsw.vpc_id.clone(),
                    actual_vpc: rt.vpc_id.clone(),
                });
            }
            if rt.associate_type == model::AssociateType::Gateway {
                return Err(ValidationError::AssociateGatewayRouteTable {
                    vswitch_id: vsw.id.clone(),
                    route_table_id: rt.id.clone(),
                });
            }
            if rt.route_table_type == RouteTableType::System {
                return Err(ValidationError::AssociateSystemRouteTable {
                    vswitch_id: vsw.id.clone(),
                    route_table_id: rt.id.clone(),
                });
            }
        }
    }

    validate_instances(model)?;
    validate_security_groups(model, memo.as_deref_mut().map(|m| &mut m.groups))?;
    validate_load_balancers(model)?;

    let check = RouteEntryCheck::new(model);
    if let Some(m) = memo.as_deref_mut() {
        let context = RouteCheckContext::of(model, &check);
        if m.context.as_ref() != Some(&context) {
            m.tables.clear();
            m.context = Some(context);
        }
        let ids: BTreeSet<&str> = model.route_tables.iter().map(|t| t.id.as_str()).collect();
        m.tables.retain(|id, _| ids.contains(id.as_str()));
    }
    for rt in &model.route_tables {
        if let Some(m) = memo.as_deref_mut()
            && let Some(t) = m.tables.get_mut(&rt.id)
        {
            if t.is(rt) {
                continue;
            }
            // Only entries added or removed since it passed: those checked.
            if let Some(result) = t.check_change(&check, rt) {
                *by_change += 1;
                result?;
                continue;
            }
        }
        check_route_table(model, &check, rt)?;
        if let Some(m) = memo.as_deref_mut() {
            m.tables.insert(rt.id.clone(), PassedTable::of(rt));
        }
    }
    validate_internet(model)?;
    Ok(())
}

/// The checks of one route table and its entries (RT-1 to RT-4).
fn check_route_table(
    model: &Model,
    check: &RouteEntryCheck,
    rt: &model::RouteTable,
) -> Result<(), ValidationError> {
    {
        if model.vpc(&rt.vpc_id).is_none() {
            return Err(ValidationError::UnknownVpc {
                id: rt.vpc_id.clone(),
                by: rt.id.clone(),
            });
        }
        // Duplicates: one sort of the destinations, not a set insert each.
        let mut destinations: Vec<(u32, u8)> = rt
            .route_entries
            .iter()
            .filter(|e| !e.is_prefix_list())
            .map(|e| {
                (
                    u32::from(e.destination_cidr_block.network()),
                    e.destination_cidr_block.prefix_len(),
                )
            })
            .collect();
        check_prefix_list_routes(model, rt)?;
        destinations.sort_unstable();
        if let Some(w) = destinations.windows(2).find(|w| w[0] == w[1]) {
            return Err(ValidationError::DuplicateRouteEntry {
                route_table_id: rt.id.clone(),
                destination: Ipv4Net::new(w[0].0.into(), w[0].1).unwrap_or_default(),
            });
        }
        let vswitches = check.vswitches_of(rt);
        for entry in &rt.route_entries {
            check.entry(rt, &vswitches, entry)?;
        }
    }
    Ok(())
}

/// The entries of `rt` whose destination is a prefix list (RT-1): each
/// list exists and is the table's owner's (or the system's), is routed once,
/// and none of its blocks is another destination of the table (another
/// entry's, another list's, a vSwitch's).
fn check_prefix_list_routes(model: &Model, rt: &model::RouteTable) -> Result<(), ValidationError> {
    if !rt.route_entries.iter().any(|e| e.is_prefix_list()) {
        return Ok(());
    }
    let mut taken: HashMap<Ipv4Net, String> = HashMap::new();
    for v in model.vswitches.iter().filter(|v| v.vpc_id == rt.vpc_id) {
        taken.insert(v.cidr_block, format!("vSwitch {}", v.id));
    }
    for e in rt.route_entries.iter().filter(|e| !e.is_prefix_list()) {
        taken.insert(
            e.destination_cidr_block,
            format!("route entry {}", e.destination_cidr_block),
        );
    }
    for e in &rt.route_entries {
        let Some(pl) = &e.destination_prefix_list_id else {
            continue;
        };
        let unknown = || ValidationError::UnknownPrefixList {
            id: pl.clone(),
            route_table_id: rt.id.clone(),
        };
        if !model::CloudServices::is_object_storage_prefix_list(pl) {
            let list = model
                .prefix_lists
                .iter()
                .find(|p| &p.id == pl)
                .ok_or_else(unknown)?;
            if list.meta.owner_id != rt.meta.owner_id {
                return Err(unknown());
            }
        }
        for cidr in model.prefix_list_cidrs(pl).ok_or_else(unknown)? {
            if let Some(other) = taken.insert(cidr, format!("prefix list {pl}")) {
                return Err(ValidationError::PrefixListRouteConflict {
                    route_table_id: rt.id.clone(),
                    prefix_list_id: pl.clone(),
                    destination: cidr,
                    other,
                });
            }
        }
    }
    Ok(())
}

/// The checks of one route entry against the model (all but duplicates in
/// its table), with the model's next hops indexed once: validating 100,000
/// entries, or each entry of a batch call, looks up instead of scanning.
pub struct RouteEntryCheck<'a> {
    model: &'a Model,
    /// Instance id -> VPC id.
    instance_vpc: HashMap<&'a str, &'a str>,
    /// ENI id -> VPC id.
    eni_vpc: HashMap<String, &'a str>,
    /// The last next hop looked up, and its VPC: entries mostly share one.
    last_hop: std::cell::RefCell<Option<(NextHopType, String, Option<&'a str>)>>,
}

impl<'a> RouteEntryCheck<'a> {
    /// Indexes the model's next hops.
    pub fn new(model: &'a Model) -> Self {
        let mut instance_vpc = HashMap::new();
        let mut eni_vpc = HashMap::new();
        for i in &model.instances {
            let vpc = model
                .vswitch(&i.vswitch_id)
                .map(|v| v.vpc_id.as_str())
                .unwrap_or("");
            instance_vpc.entry(i.id.as_str()).or_insert(vpc);
            eni_vpc.entry(i.eni_id()).or_insert(vpc);
        }
        Self {
            model,
            instance_vpc,
            eni_vpc,
            last_hop: Default::default(),
        }
    }

    /// The vSwitches of a table's VPC (their CIDRs are its system entries).
    pub fn vswitches_of(&self, rt: &model::RouteTable) -> Vec<&'a model::VSwitch> {
        self.model
            .vswitches
            .iter()
            .filter(|v| v.vpc_id == rt.vpc_id)
            .collect()
    }

    /// Checks one entry of `rt` (`vswitches` from [`Self::vswitches_of`]):
    /// a network address, no vSwitch CIDR in a VSwitch table (RT-2), only
    /// vSwitch CIDRs in a gateway table (RT-4), a next hop type the table
    /// allows, a next hop that exists in the table's VPC (RT-3).
    pub fn entry(
        &self,
        rt: &model::RouteTable,
        vswitches: &[&model::VSwitch],
        entry: &model::RouteEntry,
    ) -> Result<(), ValidationError> {
        let dest = entry.destination_cidr_block;
        if entry.is_prefix_list() {
            // RT-1: a prefix list is routed by a vSwitch table only; its
            // blocks are checked with the table's other destinations.
            if rt.associate_type == model::AssociateType::Gateway {
                return Err(ValidationError::NextHopTypeNotAllowed {
                    route_table_id: rt.id.clone(),
                    destination: dest,
                    next_hop_type: entry.next_hop_type.as_str(),
                });
            }
            return self.hop(rt, entry);
        }
        if dest.addr() != dest.network() {
            return Err(ValidationError::MalformedCidr {
                id: rt.id.clone(),
                cidr: dest,
                reason: format!("host bits are set, the block is {}", dest.trunc()),
            });
        }
        let system = vswitches.iter().find(|v| v.cidr_block == dest);
        let gateway_table = rt.associate_type == model::AssociateType::Gateway;
        match (gateway_table, system) {
            // RT-4: only a vSwitch's system entry can be edited.
            (true, None) => {
                return Err(ValidationError::GatewayEntryNotSystem {
                    route_table_id: rt.id.clone(),
                    destination: dest,
                });
            }
            (false, Some(vsw)) => {
                return Err(ValidationError::RouteEntryConflictsWithSystem {
                    route_table_id: rt.id.clone(),
                    destination: dest,
                    vswitch_id: vsw.id.clone(),
                });
            }
            _ => {}
        }
        let allowed = match entry.next_hop_type {
            NextHopType::Instance | NextHopType::NetworkInterface => true,
            NextHopType::Local => gateway_table,
            NextHopType::Ipv4Gateway | NextHopType::NatGateway | NextHopType::GatewayEndpoint => {
                !gateway_table
            }
        };
        if !allowed {
            return Err(ValidationError::NextHopTypeNotAllowed {
                route_table_id: rt.id.clone(),
                destination: dest,
                next_hop_type: entry.next_hop_type.as_str(),
            });
        }
        self.hop(rt, entry)
    }

    /// The next hop of an entry of `rt` exists in the table's VPC (RT-3).
    fn hop(
        &self,
        rt: &model::RouteTable,
        entry: &model::RouteEntry,
    ) -> Result<(), ValidationError> {
        let dest = entry.destination_cidr_block;
        let model = self.model;
        let hop_vpc = match entry.next_hop_type {
            NextHopType::Local => return Ok(()),
            NextHopType::Ipv4Gateway => model
                .ipv4_gateways
                .iter()
                .find(|g| g.id == entry.next_hop_id)
                .map(|g| g.vpc_id.as_str()),
            NextHopType::NatGateway => model
                .nat_gateway(&entry.next_hop_id)
                .map(|g| g.vpc_id.as_str()),
            NextHopType::GatewayEndpoint => model
                .gateway_endpoints
                .iter()
                .find(|g| g.id == entry.next_hop_id)
                .map(|g| g.vpc_id.as_str()),
            kind @ (NextHopType::Instance | NextHopType::NetworkInterface) => {
                let mut last = self.last_hop.borrow_mut();
                match &*last {
                    Some((k, id, vpc)) if *k == kind && *id == entry.next_hop_id => *vpc,
                    _ => {
                        let vpc = if kind == NextHopType::Instance {
                            self.instance_vpc.get(entry.next_hop_id.as_str()).copied()
                        } else {
                            self.eni_vpc.get(entry.next_hop_id.as_str()).copied()
                        };
                        *last = Some((kind, entry.next_hop_id.clone(), vpc));
                        vpc
                    }
                }
            }
        }
        .ok_or_else(|| ValidationError::UnknownNextHop {
            id: entry.next_hop_id.clone(),
            destination: dest,
            route_table_id: rt.id.clone(),
        })?;
        if hop_vpc != rt.vpc_id {
            return Err(ValidationError::NextHopInOtherVpc {
                id: entry.next_hop_id.clone(),
                expected_vpc: rt.vpc_id.clone(),
                actual_vpc: hop_vpc.to_string(),
            });
        }
        Ok(())
    }
}

/// Public addresses, EIPs, IPv4 gateways and NAT gateways.
fn validate_internet(model: &Model) -> Result<(), ValidationError> {
    let pool = model.router.internet.public_pool;
    let mut holders: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
    for (address, holder) in model.public_addresses() {
        if !pool.contains(&address) {
            return Err(ValidationError::InvalidPublicAddress {
                address,
                holder,
                reason: format!("it is outside the public address pool {pool}"),
            });
        }
        if let Some(other) = holders.insert(address, holder.clone()) {
            return Err(ValidationError::InvalidPublicAddress {
                address,
                holder,
                reason: format!("it is also held by {other}"),
            });
        }
    }
    let mut public_of: BTreeMap<String, Ipv4Addr> = model
        .instances
        .iter()
        .filter_map(|i| Some((i.id.clone(), i.public_ip_address?)))
        .collect();
    for e in &model.eips {
        check_id("EIP", &e.id)?;
        let Some(a) = &e.association else { continue };
        let instance = match a.instance_type {
            model::EipInstanceType::EcsInstance => {
                model.instances.iter().find(|i| i.id == a.instance_id)
            }
            model::EipInstanceType::NetworkInterface => {
                model.instances.iter().find(|i| i.eni_id() == a.instance_id)
            }
            model::EipInstanceType::Nlb => {
                if model.load_balancer(&a.instance_id).is_none() {
                    return Err(ValidationError::UnknownEipTarget {
                        eip_id: e.id.clone(),
                        instance_id: a.instance_id.clone(),
                    });
                }
                continue;
            }
            model::EipInstanceType::Nat => {
                if model.nat_gateway(&a.instance_id).is_none() {
                    return Err(ValidationError::UnknownEipTarget {
                        eip_id: e.id.clone(),
                        instance_id: a.instance_id.clone(),
                    });
                }
                continue;
            }
        };
        let instance = instance.ok_or_else(|| ValidationError::UnknownEipTarget {
            eip_id: e.id.clone(),
            instance_id: a.instance_id.clone(),
        })?;
        if let Some(existing) = public_of.insert(instance.id.clone(), e.ip_address) {
            return Err(ValidationError::SecondPublicAddress {
                instance_id: instance.id.clone(),
                existing,
            });
        }
    }
    let mut gateway_of_vpc: BTreeMap<&str, &str> = BTreeMap::new();
    let mut bound_tables: BTreeSet<&str> = BTreeSet::new();
    for g in &model.ipv4_gateways {
        check_id("IPv4 gateway", &g.id)?;
        if model.vpc(&g.vpc_id).is_none() {
            return Err(ValidationError::UnknownVpc {
                id: g.vpc_id.clone(),
                by: g.id.clone(),
            });
        }
        if let Some(other) = gateway_of_vpc.insert(&g.vpc_id, &g.id) {
            return Err(ValidationError::DuplicateIpv4Gateway {
                vpc_id: g.vpc_id.clone(),
                other_id: other.to_string(),
            });
        }
        if let Some(t) = &g.route_table_id {
            let table = model
                .route_table(t)
                .ok_or_else(|| ValidationError::UnknownRouteTable {
                    id: t.clone(),
                    by: g.id.clone(),
                })?;
            let reason = if table.associate_type != model::AssociateType::Gateway {
                Some("it is not a gateway route table (AssociateType Gateway)")
            } else if table.vpc_id != g.vpc_id {
                Some("it is in another VPC")
            } else if !bound_tables.insert(t) {
                Some("it is bound to another gateway")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(ValidationError::InvalidGatewayRouteTable {
                    gateway_id: g.id.clone(),
                    route_table_id: t.clone(),
                    reason,
                });
            }
        }
    }
    for n in &model.nat_gateways {
        check_id("NAT gateway", &n.id)?;
        let vsw = model
            .vswitch(&n.vswitch_id)
            .ok_or_else(|| ValidationError::UnknownVSwitch {
                id: n.vswitch_id.clone(),
                by: n.id.clone(),
            })?;
        if vsw.vpc_id != n.vpc_id {
            return Err(ValidationError::VpcMismatch {
                what: "The vSwitch",
                id: vsw.id.clone(),
                expected_vpc: n.vpc_id.clone(),
                actual_vpc: vsw.vpc_id.clone(),
            });
        }
        let mut sources = BTreeSet::new();
        for e in &n.snat_entries {
            let own = model.eips.iter().any(|x| {
                x.ip_address == e.snat_ip
                    && x.association.as_ref().is_some_and(|a| {
                        a.instance_type == model::EipInstanceType::Nat && a.instance_id == n.id
                    })
            });
            if !own {
                return Err(ValidationError::SnatIpNotOfGateway {
                    snat_entry_id: e.id.clone(),
                    address: e.snat_ip,
                    nat_gateway_id: n.id.clone(),
                });
            }
            let source = match &e.source {
                model::SnatSource::Cidr(c) => *c,
                model::SnatSource::VSwitch(v) => {
                    let v = model
                        .vswitch(v)
                        .ok_or_else(|| ValidationError::UnknownVSwitch {
                            id: v.clone(),
                            by: e.id.clone(),
                        })?;
                    if v.vpc_id != n.vpc_id {
                        return Err(ValidationError::VpcMismatch {
                            what: "The vSwitch",
                            id: v.id.clone(),
                            expected_vpc: n.vpc_id.clone(),
                            actual_vpc: v.vpc_id.clone(),
                        });
                    }
                    v.cidr_block
                }
            };
            if !sources.insert(source) {
                return Err(ValidationError::DuplicateSnatSource {
                    nat_gateway_id: n.id.clone(),
                    cidr: source,
                });
            }
        }
    }
    Ok(())
}

fn validate_security_groups(
    model: &Model,
    passed: Option<&mut PassedGroups>,
) -> Result<(), ValidationError> {
    let same_groups = passed.as_deref().is_some_and(|p| {
        p.vpcs.len() == model.security_groups.len()
            && p.vpcs
                .iter()
                .zip(&model.security_groups)
                .all(|(a, g)| a.0 == g.id && a.1 == g.vpc_id)
    });
    let vpc_of_group = |id: &str, by: &str| -> Result<&str, ValidationError> {
        model
            .security_group(id)
            .map(|g| g.vpc_id.as_str())
            .ok_or_else(|| ValidationError::UnknownSecurityGroup {
                id: id.to_string(),
                by: by.to_string(),
            })
    };
    for g in &model.security_groups {
        if model.vpc(&g.vpc_id).is_none() {
            return Err(ValidationError::UnknownVpc {
                id: g.vpc_id.clone(),
                by: g.id.clone(),
            });
        }
        if same_groups
            && passed
                .as_deref()
                .and_then(|p| p.rules.get(&g.id))
                .is_some_and(|r| r.same(&g.rules))
        {
            continue;
        }
        for r in &g.rules {
            if !(1..=100).contains(&r.priority) {
                return Err(ValidationError::InvalidPriority {
                    rule_id: r.id.clone(),
                    priority: r.priority,
                });
            }
            if let model::Peer::Group(other) = &r.peer {
                let vpc = vpc_of_group(other, &g.id)?;
                if vpc != g.vpc_id {
                    return Err(ValidationError::VpcMismatch {
                        what: "Security group",
                        id: other.clone(),
                        expected_vpc: g.vpc_id.clone(),
                        actual_vpc: vpc.to_string(),
                    });
                }
            }
        }
    }
    if let Some(p) = passed {
        if !same_groups {
            p.vpcs = model
                .security_groups
                .iter()
                .map(|g| (g.id.clone(), g.vpc_id.clone()))
                .collect();
        }
        p.rules = model
            .security_groups
            .iter()
            .map(|g| (g.id.clone(), g.rules.clone()))
            .collect();
    }
    for acl in &model.network_acls {
        if model.vpc(&acl.vpc_id).is_none() {
            return Err(ValidationError::UnknownVpc {
                id: acl.vpc_id.clone(),
                by: acl.id.clone(),
            });
        }
    }
    for vsw in &model.vswitches {
        let Some(id) = &vsw.network_acl_id else {
            continue;
        };
        let acl = model
            .network_acl(id)
            .ok_or_else(|| ValidationError::UnknownNetworkAcl {
                id: id.clone(),
                by: vsw.id.clone(),
            })?;
        if acl.vpc_id != vsw.vpc_id {
            return Err(ValidationError::VpcMismatch {
                what: "Network ACL",
                id: id.clone(),
                expected_vpc: vsw.vpc_id.clone(),
                actual_vpc: acl.vpc_id.clone(),
            });
        }
    }
    for inst in &model.instances {
        let groups: BTreeSet<&str> = inst.security_group_ids.iter().map(String::as_str).collect();
        if groups.len() != inst.security_group_ids.len() {
            return Err(ValidationError::DuplicateId {
                kind: "security group of an instance",
                id: inst.id.clone(),
            });
        }
        if groups.len() > model::MAX_GROUPS_PER_ENI {
            return Err(ValidationError::TooManySecurityGroups {
                instance_id: inst.id.clone(),
                count: groups.len(),
                max: model::MAX_GROUPS_PER_ENI,
            });
        }
        let Some(vsw) = model.vswitch(&inst.vswitch_id) else {
            continue;
        };
        for g in groups {
            let vpc = vpc_of_group(g, &inst.id)?;
            if vpc != vsw.vpc_id {
                return Err(ValidationError::VpcMismatch {
                    what: "Security group",
                    id: g.to_string(),
                    expected_vpc: vsw.vpc_id.clone(),
                    actual_vpc: vpc.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Network load balancers, server groups and listeners: ids unique, every
/// reference resolved, zones and groups in the load balancer's VPC, one
/// vSwitch per zone, protocols matched, one listener per (load balancer,
/// protocol, port). (Zone addresses: [`validate_instances`].)
fn validate_load_balancers(model: &Model) -> Result<(), ValidationError> {
    let mut ids = BTreeSet::new();
    let kinds = model
        .load_balancers
        .iter()
        .map(|l| ("load balancer", l.id.as_str()))
        .chain(
            model
                .server_groups
                .iter()
                .map(|g| ("server group", g.id.as_str())),
        )
        .chain(model.listeners.iter().map(|l| ("listener", l.id.as_str())));
    for (kind, id) in kinds {
        check_id(kind, id)?;
        if !ids.insert(id) {
            return Err(ValidationError::DuplicateId {
                kind,
                id: id.to_string(),
            });
        }
    }
    let mismatch = |what, id: &str, expected: &str, actual: &str| ValidationError::VpcMismatch {
        what,
        id: id.to_string(),
        expected_vpc: expected.to_string(),
        actual_vpc: actual.to_string(),
    };
    for l in &model.load_balancers {
        model
            .vpc(&l.vpc_id)
            .ok_or_else(|| ValidationError::UnknownVpc {
                id: l.vpc_id.clone(),
                by: l.id.clone(),
            })?;
        let mut zones = BTreeSet::new();
        for z in &l.zone_mappings {
            let bad = |why| ValidationError::BadZoneMapping {
                load_balancer_id: l.id.clone(),
                zone_id: z.zone_id.clone(),
                why,
            };
            if !zones.insert(z.zone_id.as_str()) {
                return Err(bad("the zone is mapped twice"));
            }
            let vsw =
                model
                    .vswitch(&z.vswitch_id)
                    .ok_or_else(|| ValidationError::UnknownVSwitch {
                        id: z.vswitch_id.clone(),
                        by: l.id.clone(),
                    })?;
            if vsw.vpc_id != l.vpc_id {
                return Err(mismatch("The vSwitch", &vsw.id, &l.vpc_id, &vsw.vpc_id));
            }
            if vsw.zone_id != z.zone_id {
                return Err(bad("its vSwitch is in another zone"));
            }
        }
        for g in &l.security_group_ids {
            let group =
                model
                    .security_group(g)
                    .ok_or_else(|| ValidationError::UnknownSecurityGroup {
                        id: g.clone(),
                        by: l.id.clone(),
                    })?;
            if group.vpc_id != l.vpc_id {
                return Err(mismatch("The security group", g, &l.vpc_id, &group.vpc_id));
            }
        }
    }
    for g in &model.server_groups {
        model
            .vpc(&g.vpc_id)
            .ok_or_else(|| ValidationError::UnknownVpc {
                id: g.vpc_id.clone(),
                by: g.id.clone(),
            })?;
    }
    let mut ports: BTreeMap<(&str, model::NlbProtocol, u16), &str> = BTreeMap::new();
    for lsn in &model.listeners {
        let lb = model.load_balancer(&lsn.load_balancer_id).ok_or_else(|| {
            ValidationError::UnknownLoadBalancer {
                id: lsn.load_balancer_id.clone(),
                by: lsn.id.clone(),
            }
        })?;
        let group = model.server_group(&lsn.server_group_id).ok_or_else(|| {
            ValidationError::UnknownServerGroup {
                id: lsn.server_group_id.clone(),
                by: lsn.id.clone(),
            }
        })?;
        if group.vpc_id != lb.vpc_id {
            return Err(mismatch(
                "The server group",
                &group.id,
                &lb.vpc_id,
                &group.vpc_id,
            ));
        }
        if group.protocol != lsn.protocol {
            return Err(ValidationError::ListenerProtocolMismatch {
                listener_id: lsn.id.clone(),
                server_group_id: group.id.clone(),
            });
        }
        if let Some(other) = ports.insert((lb.id.as_str(), lsn.protocol, lsn.port), lsn.id.as_str())
        {
            return Err(ValidationError::DuplicateListener {
                load_balancer_id: lb.id.clone(),
                listener_id: lsn.id.clone(),
                other_id: other.to_string(),
                port: lsn.port,
            });
        }
    }
    Ok(())
}

fn validate_instances(model: &Model) -> Result<(), ValidationError> {
    let mut used: BTreeMap<(&str, Ipv4Addr), &str> = BTreeMap::new();
    for (inst, (_, addr)) in model.instances.iter().zip(model::instance_addresses(model)) {
        let vsw =
            model
                .vswitch(&inst.vswitch_id)
                .ok_or_else(|| ValidationError::UnknownVSwitch {
                    id: inst.vswitch_id.clone(),
                    by: inst.id.clone(),
                })?;
        let addr = addr.ok_or_else(|| ValidationError::VSwitchFull {
            vswitch_id: vsw.id.clone(),
            instance_id: inst.id.clone(),
        })?;
        if !vsw.cidr_block.contains(&addr) {
            return Err(ValidationError::AddressNotInVSwitch {
                instance_id: inst.id.clone(),
                address: addr,
                vswitch_id: vsw.id.clone(),
                cidr: vsw.cidr_block,
            });
        }
        if model::is_reserved(&vsw.cidr_block, addr) {
            return Err(ValidationError::AddressReserved {
                instance_id: inst.id.clone(),
                address: addr,
                vswitch_id: vsw.id.clone(),
            });
        }
        if let Some(other) = used.insert((vsw.vpc_id.as_str(), addr), inst.id.as_str()) {
            return Err(ValidationError::AddressTaken {
                instance_id: inst.id.clone(),
                address: addr,
                other_id: other.to_string(),
            });
        }
    }
    // A load balancer's zone addresses: in their vSwitch, not reserved,
    // never an address an instance or another zone holds.
    // ... and so are the addresses of PrivateLink endpoint ENIs (EP-3).
    for (addr, vswitch_id, lb_id) in model.load_balancer_addresses().chain(model.endpoint_eni_addresses()) {
        let vsw = model
            .vswitch(vswitch_id)
            .ok_or_else(|| ValidationError::UnknownVSwitch {
                id: vswitch_id.to_string(),
                by: lb_id.to_string(),
            })?;
        if !vsw.cidr_block.contains(&addr) {
            return Err(ValidationError::AddressNotInVSwitch {
                instance_id: lb_id.to_string(),
                address: addr,
                vswitch_id: vsw.id.clone(),
                cidr: vsw.cidr_block,
            });
        }
        if model::is_reserved(&vsw.cidr_block, addr) {
            return Err(ValidationError::AddressReserved {
                instance_id: lb_id.to_string(),
                address: addr,
                vswitch_id: vsw.id.clone(),
            });
        }
        if let Some(other) = used.insert((vsw.vpc_id.as_str(), addr), lb_id) {
            return Err(ValidationError::AddressTaken {
                instance_id: lb_id.to_string(),
                address: addr,
                other_id: other.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::test_fixtures::lab;

    #[test]
    fn sg_rules_unchanged_are_not_walked_again_and_changed_ones_are_checked() {
        let mut m = lab();
        let vpc = m.vpcs[0].id.clone();
        let rule = |id: &str, peer: Peer| SecurityGroupRule {
            id: id.into(),
            direction: Direction::Ingress,
            ip_protocol: IpProtocol::Tcp,
            port_range: (22, 22),
            peer,
            policy: RulePolicy::Accept,
            priority: 1,
            description: String::new(),
            creation_time: String::new(),
        };
        for (g, rules) in [
            ("sg-a", vec![rule("sgr-1", Peer::Cidr("10.9.0.0/16".parse().unwrap()))]),
            ("sg-b", vec![rule("sgr-2", Peer::Group("sg-a".into()))]),
        ] {
            m.security_groups.push(SecurityGroup {
                id: g.into(),
                vpc_id: vpc.clone(),
                name: None,
                security_group_type: Default::default(),
                inner_access: true,
                rules: rules.into(),
                meta: Default::default(),
            });
        }
        let mut v = Validator::default();
        v.validate(&m).unwrap();
        // A changed list is checked again.
        let mut bad = m.clone();
        bad.security_groups[0].rules[0].priority = 0;
        assert!(matches!(v.validate(&bad), Err(ValidationError::InvalidPriority { .. })));
        // An unchanged list naming a group that is gone is checked again.
        let mut gone = m.clone();
        gone.security_groups.remove(0);
        assert!(matches!(v.validate(&gone), Err(ValidationError::UnknownSecurityGroup { .. })));
        v.validate(&m).unwrap();
    }

    fn code(model: &Model) -> &'static str {
        validate(model).unwrap_err().code()
    }

    #[test]
    fn nlb_references_zones_protocols_and_ports_are_checked() {
        let base = r#"
            [[vpc]]
            id = "vpc-a"
            cidr_block = "10.0.0.0/16"
            [[vswitch]]
            id = "vsw-1"
            vpc_id = "vpc-a"
            cidr_block = "10.0.1.0/24"
            [[load_balancer]]
            id = "nlb-1"
            vpc_id = "vpc-a"
            [[load_balancer.zone_mapping]]
            zone_id = "cn-hangzhou-a"
            vswitch_id = "vsw-1"
            private_ipv4 = "10.0.1.5"
            [[server_group]]
            id = "sgp-1"
            vpc_id = "vpc-a"
            [[listener]]
            id = "lsn-1"
            load_balancer_id = "nlb-1"
            protocol = "TCP"
            port = 80
            server_group_id = "sgp-1"
        "#;
        let model = |extra: &str| {
            Model::from_toml(&format!("{base}{extra}"))
                .unwrap()
                .with_system_route_tables()
        };
        assert!(validate(&model("")).is_ok());
        let second = |proto: &str, port: u16, group: &str| {
            format!(
                "[[listener]]\nid = \"lsn-2\"\nload_balancer_id = \"nlb-1\"\nprotocol = \"{proto}\"\nport = {port}\nserver_group_id = \"{group}\"\n"
            )
        };
        assert_eq!(
            code(&model(&second("TCP", 80, "sgp-1"))),
            "ResourceAlreadyExist.listener"
        );
        assert!(validate(&model(&second("TCP", 81, "sgp-1"))).is_ok());
        assert_eq!(
            code(&model(&second("UDP", 80, "sgp-1"))),
            "Mismatch.Protocol"
        );
        assert_eq!(
            code(&model(&second("TCP", 81, "sgp-9"))),
            "ResourceNotFound.serverGroup"
        );
        let mut m = model("");
        m.load_balancers[0].zone_mappings[0].zone_id = "cn-hangzhou-b".into();
        assert_eq!(code(&m), "IllegalParam.ZoneMappings");
        let mut m = model("");
        m.listeners[0].load_balancer_id = "nlb-9".into();
        assert_eq!(code(&m), "ResourceNotFound.loadBalancer");
    }

    #[test]
    fn nlb_zone_address_never_collides_with_an_instance() {
        let mut m = lab();
        m.load_balancers.push(LoadBalancer {
            id: "nlb-1".into(),
            name: None,
            vpc_id: "vpc-a".into(),
            address_type: NlbAddressType::Intranet,
            zone_mappings: vec![ZoneMapping {
                zone_id: "cn-hangzhou-a".into(),
                vswitch_id: "vsw-1".into(),
                private_ipv4: "10.0.1.11".parse().unwrap(),
                allocation_id: None,
                public_ipv4: None,
            }],
            security_group_ids: vec![],
            cross_zone_enabled: true,
            status: LoadBalancerStatus::Active,
            deletion_protection: DeletionProtection::default(),
            modification_protection: ModificationProtection::default(),
            dns_name: String::new(),
            meta: Meta::default(),
        });
        assert!(validate(&m).is_ok());
        m.load_balancers[0].zone_mappings[0].private_ipv4 = "10.0.1.10".parse().unwrap();
        assert_eq!(code(&m), "InvalidPrivateIpAddress.Duplicated");
        m.load_balancers[0].zone_mappings[0].private_ipv4 = "10.0.1.253".parse().unwrap();
        assert_eq!(code(&m), "InvalidPrivateIpAddress");
    }

    #[test]
    fn vpc_1_valid_lab_passes() {
        validate(&lab()).unwrap();
    }

    #[test]
    fn vpc_1_vswitch_cidr_outside_vpc_is_refused() {
        let mut m = lab();
        m.vswitches[1].cidr_block = "10.1.2.0/24".parse().unwrap();
        assert_eq!(code(&m), "InvalidParameter");
    }

    #[test]
    fn vpc_1_overlapping_vswitches_are_refused() {
        let mut m = lab();
        m.vswitches[1].cidr_block = "10.0.0.0/22".parse().unwrap();
        assert_eq!(code(&m), "InvalidCidrBlock.Overlapped");
    }

    #[test]
    fn vpc_1_cidr_with_host_bits_or_bad_mask_is_malformed() {
        let mut m = lab();
        m.vpcs[0].cidr_block = "10.0.0.1/16".parse().unwrap();
        assert_eq!(code(&m), "InvalidCidrBlock.Malformed");
        let mut m = lab();
        m.vswitches[0].cidr_block = "10.0.1.0/30".parse().unwrap();
        assert_eq!(code(&m), "InvalidCirdrBlock.MaskLength");
    }

    #[test]
    fn hardening_cidr_blocks_are_read_in_their_canonical_text_only() {
        for ok in [
            "10.0.0.0/16",
            "0.0.0.0/0",
            "192.168.1.0/24",
            "255.255.255.255/32",
        ] {
            assert_eq!(parse_cidr(ok, false).unwrap().to_string(), ok);
        }
        assert_eq!(
            parse_cidr("10.0.0.1", true).unwrap().to_string(),
            "10.0.0.1/32"
        );
        for bad in [
            "010.0.0.0/16",
            "10.0.0.0/016",
            "10.0.0.00/16",
            "+10.0.0.0/16",
            "10.0.0.0/+16",
            "10.0.0/16",
            "10.0.0.0.0/8",
            "10.0.0.0/33",
            "256.0.0.0/8",
            " 10.0.0.0/16",
            "10.0.0.0/16 ",
            "0x0a.0.0.0/8",
            "10.0.0.0",
            "10.0.0.0/",
            "1e1.0.0.0/8",
        ] {
            assert!(parse_cidr(bad, false).is_none(), "{bad}");
        }
    }

    #[test]
    fn hardening_reserved_blocks_cannot_be_a_vpcs() {
        for bad in [
            "127.0.0.0/16",
            "169.254.0.0/16",
            "0.0.0.0/8",
            "224.0.0.0/16",
            "240.0.0.0/16",
            "100.64.0.0/16",
            "100.0.0.0/8",
            "255.255.255.0/24",
            "239.1.0.0/16",
        ] {
            let e = check_vpc_block(&bad.parse().unwrap()).unwrap_err();
            assert_eq!(e.code(), "InvalidCidrBlock.Malformed", "{bad}");
        }
        for ok in [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "30.0.0.0/16",
            "100.128.0.0/16",
            "1.0.0.0/8",
            "223.255.0.0/16",
        ] {
            check_vpc_block(&ok.parse().unwrap()).unwrap();
        }
    }

    #[test]
    fn vpc_2_address_outside_vswitch_reserved_or_taken_is_refused() {
        let mut m = lab();
        m.instances[0].private_ip_address = Some("10.0.2.10".parse().unwrap());
        assert_eq!(code(&m), "InvalidPrivateIpAddress");
        let mut m = lab();
        m.instances[0].private_ip_address = Some("10.0.1.253".parse().unwrap());
        assert_eq!(code(&m), "InvalidPrivateIpAddress");
        let mut m = lab();
        m.instances[1].vswitch_id = "vsw-1".into();
        m.instances[1].private_ip_address = Some("10.0.1.10".parse().unwrap());
        assert_eq!(code(&m), "InvalidPrivateIpAddress.Duplicated");
    }

    #[test]
    fn vpc_2_addresses_are_allocated_lowest_free_first() {
        let mut m = lab();
        m.instances[1].vswitch_id = "vsw-1".into();
        m.instances[0].private_ip_address = Some("10.0.1.1".parse().unwrap());
        let addrs = instance_addresses(&m);
        assert_eq!(addrs[1].1, Some("10.0.1.2".parse().unwrap()));
    }

    #[test]
    fn vpc_2_full_vswitch_is_refused() {
        let mut m = lab();
        m.vswitches[0].cidr_block = "10.0.1.0/29".parse().unwrap();
        m.instances[0].private_ip_address = None;
        for n in 0..5 {
            m.instances.push(Instance {
                id: format!("i-x{n}"),
                name: None,
                vswitch_id: "vsw-1".into(),
                private_ip_address: None,
                source_dest_check: true,
                security_group_ids: Vec::new(),
                image_id: String::new(),
                instance_type: String::new(),
                internet_max_bandwidth_out: 0,
                public_ip_address: None,
                host_name: None,
                user_data: String::new(),
                internet_max_bandwidth_in: None,
                internet_charge_type: String::new(),
                system_disk: Default::default(),
                meta: Default::default(),
            });
        }
        assert_eq!(code(&m), "QuotaExceeded.PrivateIpAddress");
    }

    #[test]
    fn vpc_1_unknown_references_and_duplicates_are_refused() {
        let mut m = lab();
        m.instances[0].vswitch_id = "vsw-nope".into();
        assert_eq!(code(&m), "InvalidVSwitchId.NotFound");
        let mut m = lab();
        m.vswitches[0].vpc_id = "vpc-nope".into();
        assert_eq!(code(&m), "InvalidVpcId.NotFound");
        let mut m = lab();
        m.vswitches[0].route_table_id = Some("vtb-nope".into());
        assert_eq!(code(&m), "InvalidRouteTableId.NotFound");
        let mut m = lab();
        m.vswitches[1].id = "vsw-1".into();
        assert_eq!(code(&m), "InvalidParameter.Duplicated");
        let mut m = lab();
        m.instances[0].id = "i-bad/name".into();
        assert_eq!(code(&m), "InvalidParameter");
    }

    #[test]
    fn rt_3_route_entries_are_checked() {
        let mut m = lab();
        let entry = RouteEntry {
            id: String::new(),
            meta: Default::default(),
            name: None,
            destination_cidr_block: "10.0.2.0/24".parse().unwrap(),
            next_hop_type: NextHopType::Instance,
            destination_prefix_list_id: None,
            next_hop_id: "i-1".into(),
        };
        m.route_tables[0].route_entries.push(entry.clone().into());
        assert_eq!(code(&m), "InvalidCidrBlock");
        let mut m = lab();
        let mut e = entry.clone();
        e.destination_cidr_block = "192.168.0.0/24".parse().unwrap();
        e.next_hop_id = "i-nope".into();
        m.route_tables[0].route_entries.push(e.into());
        assert_eq!(code(&m), "InvalidNextHopId.NotFound");
        let mut m = lab();
        let mut e = entry.clone();
        e.destination_cidr_block = "192.168.0.0/24".parse().unwrap();
        m.route_tables[0].route_entries.push(e.clone().into());
        m.route_tables[0].route_entries.push(e.into());
        assert_eq!(code(&m), "InvalidCIDRBlock.Duplicate");
        let mut m = lab();
        let mut e = entry;
        e.destination_cidr_block = "192.168.0.0/24".parse().unwrap();
        e.next_hop_type = NextHopType::NetworkInterface;
        e.next_hop_id = "eni-1".into();
        m.route_tables[0].route_entries.push(e.into());
        validate(&m).unwrap();
    }
}
