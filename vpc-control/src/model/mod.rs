//! Domain model: VPCs, vSwitches, route tables, instances (one ENI each), in
//! the cloud's words. Plain data; `validate` checks it, `compile` turns it
//! into map entries.
use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
    sync::Arc,
};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

mod load_balancer;
mod privatelink;
mod private_zone;
pub use load_balancer::*;
pub use privatelink::*;
pub use private_zone::*;

/// Default name of the namespace holding the router's ports.
pub const DEFAULT_ROUTER_NAMESPACE: &str = "vpc-router";

/// The whole configuration of one router.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Where the router lives.
    #[serde(default)]
    pub router: Router,
    /// VPCs.
    #[serde(default, rename = "vpc")]
    pub vpcs: Vec<Vpc>,
    /// vSwitches.
    #[serde(default, rename = "vswitch")]
    pub vswitches: Vec<VSwitch>,
    /// Route tables, system and custom. A VPC without a system route table
    /// gets one (see [`Model::with_system_route_tables`]).
    #[serde(default, rename = "route_table")]
    pub route_tables: Vec<RouteTable>,
    /// Instances (network namespaces), one ENI each.
    #[serde(default, rename = "instance")]
    pub instances: Vec<Instance>,
    /// Security groups (SG-1..SG-5).
    #[serde(default, rename = "security_group")]
    pub security_groups: Vec<SecurityGroup>,
    /// Network ACLs (ACL-1, ACL-2).
    #[serde(default, rename = "network_acl")]
    pub network_acls: Vec<NetworkAcl>,
    /// Elastic IP addresses.
    #[serde(default, rename = "eip")]
    pub eips: Vec<Eip>,
    /// IPv4 gateways, at most one per VPC (IGW-1).
    #[serde(default, rename = "ipv4_gateway")]
    pub ipv4_gateways: Vec<Ipv4Gateway>,
    /// Internet NAT gateways.
    #[serde(default, rename = "nat_gateway")]
    pub nat_gateways: Vec<NatGateway>,
    /// Prefix lists of the accounts (RT-1). The system prefix lists of the
    /// cloud's services are not stored: they follow from
    /// [`Router::services`].
    #[serde(default, rename = "prefix_list")]
    pub prefix_lists: Vec<PrefixList>,
    /// Gateway endpoints (GWE-1..GWE-7).
    #[serde(default, rename = "gateway_endpoint")]
    pub gateway_endpoints: Vec<GatewayEndpoint>,
    /// Network load balancers (the NLB API).
    #[serde(default, rename = "load_balancer")]
    pub load_balancers: Vec<LoadBalancer>,
    /// Server groups of network load balancers.
    #[serde(default, rename = "server_group")]
    pub server_groups: Vec<ServerGroup>,
    /// Listeners of network load balancers.
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Listener>,
    /// The NLB API's recent jobs, oldest first (at most [`MAX_NLB_JOBS`]).
    /// Shared: a call's draft of the model copies one pointer; only a call
    /// that records a job copies the list ([`Model::push_nlb_job`]).
    #[serde(default, rename = "nlb_job", skip_serializing_if = "no_jobs")]
    pub nlb_jobs: Arc<Vec<NlbJob>>,
    /// PrivateLink endpoint services (EPS-1..4).
    #[serde(default, rename = "endpoint_service")]
    pub endpoint_services: Vec<EndpointService>,
    /// PrivateLink interface endpoints with their connections (EP-1..7,
    /// CONN-1..4).
    #[serde(default, rename = "vpc_endpoint")]
    pub vpc_endpoints: Vec<VpcEndpoint>,
    /// PrivateZone zones with their records and bound VPCs (docs/dns.md).
    #[serde(default, rename = "private_zone")]
    pub private_zones: Vec<PrivateZone>,
    /// The numbers the datapath's keys name VPCs, vSwitches, route tables
    /// and NAT gateways by, allocated once per id and kept with the model
    /// (see [`Model::allocate_numeric_ids`]). Empty in a lab file: numbers
    /// are then the ids' hashes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub numeric_ids: BTreeMap<String, u32>,
    /// The datapath ring (below `vpc_common::MAX_LB_RINGS`) of each
    /// listener address, by [`Model::lb_ring_names`]: given once and kept,
    /// so a ring never moves under a live listener.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lb_ring_slots: BTreeMap<String, u32>,
}

fn no_jobs(jobs: &Arc<Vec<NlbJob>>) -> bool {
    jobs.is_empty()
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A stable hash of an id, never 0: the number an id is first offered.
pub fn hashed_id(id: &str) -> u32 {
    let h = fnv1a(id.as_bytes());
    match (h ^ (h >> 32)) as u32 {
        0 => 1,
        n => n,
    }
}

/// InstanceType of an EIP association.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EipInstanceType {
    /// An instance (its primary ENI).
    EcsInstance,
    /// An ENI.
    NetworkInterface,
    /// An internet NAT gateway: the EIP becomes an SNAT address.
    Nat,
    /// A zone of an internet-facing network load balancer (InstanceId: the
    /// load balancer's id): the EIP is that zone's public address.
    Nlb,
}

/// What an EIP is associated with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EipAssociation {
    /// InstanceType.
    pub instance_type: EipInstanceType,
    /// InstanceId: instance, ENI or NAT gateway id.
    pub instance_id: String,
}

/// An elastic IP address: a public address of the pool, associated with
/// an instance, an ENI or a NAT gateway (1:1 NAT, or SNAT for a NAT gateway).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eip {
    /// AllocationId (`eip-...`).
    pub id: String,
    /// IpAddress.
    pub ip_address: Ipv4Addr,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Bandwidth (Mbit/s; recorded, not enforced).
    #[serde(default = "default_bandwidth")]
    pub bandwidth: u32,
    /// The association, if any.
    #[serde(default)]
    pub association: Option<EipAssociation>,
    /// API metadata.
    #[serde(default)]
    pub meta: Meta,
}

fn default_bandwidth() -> u32 {
    5
}

/// An IPv4 gateway: the VPC's internet boundary (IGW-1..IGW-5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipv4Gateway {
    /// Ipv4GatewayId (`ipv4gw-...`).
    pub id: String,
    /// VpcId.
    pub vpc_id: String,
    /// Ipv4GatewayName.
    #[serde(default)]
    pub name: Option<String>,
    /// Enabled (activated by EnableVpcIpv4Gateway): internet traffic of the
    /// VPC goes only through it (IGW-3).
    #[serde(default)]
    pub enabled: bool,
    /// The gateway route table bound to it (RT-4), if any.
    #[serde(default)]
    pub route_table_id: Option<String>,
    /// API metadata (Ipv4GatewayDescription is `meta.description`).
    #[serde(default)]
    pub meta: Meta,
}

/// Where an SNAT entry's sources are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnatSource {
    /// SourceVSwitchId: the vSwitch's CIDR.
    VSwitch(String),
    /// SourceCIDR.
    Cidr(Ipv4Net),
}

/// An SNAT entry: sources translated behind one EIP of the NAT gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnatEntry {
    /// SnatEntryId (`snat-...`).
    pub id: String,
    /// SnatEntryName.
    #[serde(default)]
    pub name: Option<String>,
    /// SnatIp: an EIP associated with the NAT gateway.
    pub snat_ip: Ipv4Addr,
    /// SourceVSwitchId or SourceCIDR.
    pub source: SnatSource,
}

/// An internet NAT gateway in a vSwitch of a VPC: many private instances
/// share an EIP through port translation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatGateway {
    /// NatGatewayId (`ngw-...`).
    pub id: String,
    /// VpcId.
    pub vpc_id: String,
    /// VSwitchId.
    pub vswitch_id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// SNAT entries.
    #[serde(default, rename = "snat_entry")]
    pub snat_entries: Vec<SnatEntry>,
    /// Public ports handed out (first, last); the cloud's full range by
    /// default. Model files may narrow it (tests of port exhaustion).
    #[serde(default)]
    pub port_range: Option<(u16, u16)>,
    /// API metadata.
    #[serde(default)]
    pub meta: Meta,
}

impl NatGateway {
    /// SnatTableId: one SNAT table per NAT gateway.
    pub fn snat_table_id(&self) -> String {
        format!("stb-{}", self.id.strip_prefix("ngw-").unwrap_or(&self.id))
    }
}

/// One entry of a network ACL: first match wins, in list order (ACL-2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAclEntry {
    /// NetworkAclEntryId (`nae-...`).
    pub id: String,
    /// NetworkAclEntryName.
    #[serde(default)]
    pub name: String,
    /// Policy.
    #[serde(default)]
    pub policy: RulePolicy,
    /// Protocol.
    pub protocol: IpProtocol,
    /// SourceCidrIp (inbound) or DestinationCidrIp (outbound).
    pub cidr: Ipv4Net,
    /// Port, first and last destination port (1/65535 for icmp and all).
    pub port_range: (u16, u16),
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// A network ACL of a VPC, associated with vSwitches (ACL-1). Traffic no
/// custom entry matches meets the system entries, which accept all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAcl {
    /// NetworkAclId.
    pub id: String,
    /// VpcId.
    pub vpc_id: String,
    /// NetworkAclName.
    #[serde(default)]
    pub name: Option<String>,
    /// Inbound entries, in order.
    #[serde(default)]
    pub ingress: Vec<NetworkAclEntry>,
    /// Outbound entries, in order.
    #[serde(default)]
    pub egress: Vec<NetworkAclEntry>,
    /// API metadata.
    #[serde(default)]
    pub meta: Meta,
}

/// Most security groups an ENI can be in (SG-4).
pub const MAX_GROUPS_PER_ENI: usize = 5;

/// SecurityGroupType.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SecurityGroupType {
    /// A basic group: members reach each other unless InnerAccessPolicy is Drop.
    #[default]
    Normal,
    /// An advanced (enterprise) group: members are isolated from each other (SG-2).
    Enterprise,
}

/// Policy (accept or drop) of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RulePolicy {
    /// Allow.
    #[default]
    Accept,
    /// Deny.
    Drop,
}

/// IpProtocol of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpProtocol {
    /// TCP, with a port range.
    Tcp,
    /// UDP, with a port range.
    Udp,
    /// ICMP (every type).
    Icmp,
    /// Every protocol and port.
    All,
}

/// The other end a rule matches: a CIDR block or the members of a group (SG-3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// SourceCidrIp / DestCidrIp.
    Cidr(Ipv4Net),
    /// SourceGroupId / DestGroupId: the addresses of the group's members.
    Group(String),
}

/// Direction of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Inbound: the peer is the source.
    Ingress,
    /// Outbound: the peer is the destination.
    Egress,
}

/// One security group rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupRule {
    /// SecurityGroupRuleId (`sgr-...`).
    pub id: String,
    /// Direction.
    pub direction: Direction,
    /// IpProtocol.
    pub ip_protocol: IpProtocol,
    /// PortRange, first and last destination port (1/65535 for icmp and all).
    pub port_range: (u16, u16),
    /// The source (inbound) or destination (outbound).
    pub peer: Peer,
    /// Policy.
    #[serde(default)]
    pub policy: RulePolicy,
    /// Priority 1..=100, lower wins; drop wins a tie.
    pub priority: u8,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// CreateTime.
    #[serde(default)]
    pub creation_time: String,
}

/// A security group of a VPC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    /// SecurityGroupId.
    pub id: String,
    /// VpcId.
    pub vpc_id: String,
    /// SecurityGroupName.
    #[serde(default)]
    pub name: Option<String>,
    /// SecurityGroupType.
    #[serde(default)]
    pub security_group_type: SecurityGroupType,
    /// InnerAccessPolicy: members reach each other (basic groups only).
    #[serde(default = "default_true")]
    pub inner_access: bool,
    /// Rules, both directions, in the order they were authorised. Shared
    /// ([`SecurityGroupRules`]): a call's draft of the model copies one
    /// pointer, not 10,000 rules.
    #[serde(default, rename = "rule")]
    pub rules: SecurityGroupRules,
    /// API metadata.
    #[serde(default)]
    pub meta: Meta,
}

/// A security group's rules, one shared list (`Arc`, copy on write): a
/// call's draft of the model copies a pointer per group, and a group whose
/// rules no call touched is told apart by [`SecurityGroupRules::same`]
/// without a look at them (store, compile). Reads go through `Deref` to the
/// list; a write ([`std::ops::DerefMut`]) copies the list first if another
/// model shares it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecurityGroupRules(Arc<Vec<SecurityGroupRule>>);

impl SecurityGroupRules {
    /// True if both are the very same list (then equal without a look).
    pub fn same(&self, other: &SecurityGroupRules) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The list's address while it is held: the same for two handles of
    /// one list (a memo holding a handle keeps its address from reuse).
    pub fn addr(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

impl PartialEq for SecurityGroupRules {
    fn eq(&self, other: &SecurityGroupRules) -> bool {
        self.same(other) || *self.0 == *other.0
    }
}

impl Eq for SecurityGroupRules {}

impl std::ops::Deref for SecurityGroupRules {
    type Target = Vec<SecurityGroupRule>;

    fn deref(&self) -> &Vec<SecurityGroupRule> {
        &self.0
    }
}

impl std::ops::DerefMut for SecurityGroupRules {
    fn deref_mut(&mut self) -> &mut Vec<SecurityGroupRule> {
        Arc::make_mut(&mut self.0)
    }
}

impl From<Vec<SecurityGroupRule>> for SecurityGroupRules {
    fn from(v: Vec<SecurityGroupRule>) -> Self {
        SecurityGroupRules(Arc::new(v))
    }
}

impl FromIterator<SecurityGroupRule> for SecurityGroupRules {
    fn from_iter<I: IntoIterator<Item = SecurityGroupRule>>(iter: I) -> Self {
        SecurityGroupRules(Arc::new(iter.into_iter().collect()))
    }
}

impl<'a> IntoIterator for &'a SecurityGroupRules {
    type Item = &'a SecurityGroupRule;
    type IntoIter = std::slice::Iter<'a, SecurityGroupRule>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl SecurityGroup {
    /// True if members may reach each other by the group's own policy (SG-2).
    pub fn members_reach_each_other(&self) -> bool {
        self.security_group_type == SecurityGroupType::Normal && self.inner_access
    }
}

/// The router itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Router {
    /// Network namespace of the router's ports (never the root namespace).
    #[serde(default = "default_router_namespace")]
    pub namespace: String,
    /// The lab's internet, behind the router's uplink.
    #[serde(default)]
    pub internet: Internet,
    /// The cloud's own services network, behind the router's services port.
    #[serde(default)]
    pub services: CloudServices,
}

/// The cloud's services network (GWE-2): a namespace behind the router's
/// services port, on the reserved range 100.64.0.0/10, where the lab's
/// object storage service runs. VPCs reach it only through the router: by a
/// gateway endpoint, with the source translated into
/// `endpoint_source_block`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudServices {
    /// CIDR blocks of the object storage service in the region: the entries
    /// of its system prefix list.
    #[serde(default = "default_object_storage_cidrs")]
    pub object_storage_cidrs: Vec<Ipv4Net>,
    /// The object storage service's internal address (in the CIDR blocks
    /// above): what `oss-<region>-internal.aliyuncs.com` resolves to.
    #[serde(default = "default_object_storage_internal_ip")]
    pub object_storage_internal_ip: Ipv4Addr,
    /// Its public address, on the lab's internet: what
    /// `oss-<region>.aliyuncs.com` resolves to.
    #[serde(default = "default_object_storage_public_ip")]
    pub object_storage_public_ip: Ipv4Addr,
    /// Where gateway endpoints take their source addresses from: each
    /// endpoint translates its VPC's sources to an address of its own here.
    #[serde(default = "default_endpoint_source_block")]
    pub endpoint_source_block: Ipv4Net,
}

fn default_object_storage_cidrs() -> Vec<Ipv4Net> {
    vec![
        "100.118.28.0/24".parse().expect("a valid CIDR"),
        "100.118.29.0/24".parse().expect("a valid CIDR"),
    ]
}

fn default_object_storage_internal_ip() -> Ipv4Addr {
    Ipv4Addr::new(100, 118, 28, 1)
}

fn default_object_storage_public_ip() -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, 80)
}

fn default_endpoint_source_block() -> Ipv4Net {
    "100.127.0.0/16".parse().expect("a valid CIDR")
}

impl Default for CloudServices {
    fn default() -> Self {
        Self {
            object_storage_cidrs: default_object_storage_cidrs(),
            object_storage_internal_ip: default_object_storage_internal_ip(),
            object_storage_public_ip: default_object_storage_public_ip(),
            endpoint_source_block: default_endpoint_source_block(),
        }
    }
}

impl CloudServices {
    /// The namespace of the cloud's services for the router of `router_namespace`.
    pub fn namespace(router_namespace: &str) -> String {
        format!("{router_namespace}-services")
    }

    /// The id of the object storage service's system prefix list in
    /// `region` (owned by the system: it can be routed, never changed).
    pub fn object_storage_prefix_list_id(region: &str) -> String {
        format!("pl-{region}-oss")
    }

    /// True if `id` is the object storage system prefix list of a region.
    pub fn is_object_storage_prefix_list(id: &str) -> bool {
        id.strip_prefix("pl-")
            .and_then(|r| r.strip_suffix("-oss"))
            .is_some_and(|r| !r.is_empty())
    }

    /// The object storage service's name in `region` (GWE-6).
    pub fn object_storage_service_name(region: &str) -> String {
        format!("com.aliyun.{region}.oss")
    }
}

/// The lab's internet: a namespace behind the router's uplink port, with
/// test hosts on documentation addresses, and the pool public addresses
/// come from. Nothing leaves the machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Internet {
    /// Public addresses for static public IPs and EIPs (TEST-NET-1 by default).
    #[serde(default = "default_public_pool")]
    pub public_pool: Ipv4Net,
    /// Addresses of the internet namespace's hosts (TEST-NET-2 and -3).
    #[serde(default = "default_internet_hosts")]
    pub hosts: Vec<Ipv4Net>,
}

fn default_public_pool() -> Ipv4Net {
    "192.0.2.0/24".parse().expect("a valid CIDR")
}

fn default_internet_hosts() -> Vec<Ipv4Net> {
    vec![
        "198.51.100.10/24".parse().expect("a valid CIDR"),
        "203.0.113.10/24".parse().expect("a valid CIDR"),
    ]
}

impl Default for Internet {
    fn default() -> Self {
        Self {
            public_pool: default_public_pool(),
            hosts: default_internet_hosts(),
        }
    }
}

impl Internet {
    /// The namespace playing the internet for the router of `router_namespace`.
    pub fn namespace(router_namespace: &str) -> String {
        format!("{router_namespace}-internet")
    }
}

fn default_router_namespace() -> String {
    DEFAULT_ROUTER_NAMESPACE.to_string()
}

impl Default for Router {
    fn default() -> Self {
        Self {
            namespace: default_router_namespace(),
            internet: Internet::default(),
            services: CloudServices::default(),
        }
    }
}

/// What the API records about a resource besides its configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Meta {
    /// Description.
    pub description: String,
    /// OwnerId: the account of the access key that created the resource.
    pub owner_id: String,
    /// RegionId the resource was created in.
    pub region_id: String,
    /// CreationTime, UTC, as the cloud writes it (`2026-11-22T10:00:00Z`).
    pub creation_time: String,
    /// Tags, in the order they were added (at most 20, unique keys).
    pub tags: Vec<Tag>,
    /// ResourceGroupId (empty: the account's default group).
    pub resource_group_id: String,
}

/// A tag on a resource.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// Key (1 to 128 characters).
    pub key: String,
    /// Value (0 to 128 characters).
    pub value: String,
}

/// A VPC (VPC-1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    /// VpcId, e.g. `vpc-lab`.
    pub id: String,
    /// VpcName.
    #[serde(default)]
    pub name: Option<String>,
    /// CidrBlock.
    pub cidr_block: Ipv4Net,
    /// EnableDnsHostname: instances of the VPC get host names.
    #[serde(default)]
    pub dns_hostname: bool,
    /// API metadata.
    #[serde(default)]
    pub meta: Meta,
}

/// A vSwitch: a CIDR inside its VPC, in one zone (VPC-1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VSwitch {
    /// VSwitchId.
    pub id: String,
    /// VpcId.
    pub vpc_id: String,
    /// VSwitchName.
    #[serde(default)]
    pub name: Option<String>,
    /// CidrBlock.
    pub cidr_block: Ipv4Net,
    /// ZoneId.
    #[serde(default = "default_zone")]
    pub zone_id: String,
    /// Associated route table; `None`: the VPC's system route table (RT-1).
    #[serde(default)]
    pub route_table_id: Option<String>,
    /// Associated network ACL, if any (ACL-1).
    #[serde(default)]
    pub network_acl_id: Option<String>,
    /// API metadata.
    #[serde(default)]
    pub meta: Meta,
}

fn default_zone() -> String {
    "cn-hangzhou-a".to_string()
}

/// AssociateType of a route table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum AssociateType {
    /// A vSwitch route table.
    #[default]
    VSwitch,
    /// A gateway route table (border gateway, RT-4): bound to an IPv4
    /// gateway, it routes inbound internet traffic.
    Gateway,
}

/// RouteTableType.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum RouteTableType {
    /// The VPC's system route table, created with the VPC.
    System,
    /// A custom route table, associated with vSwitches explicitly.
    #[default]
    Custom,
}

/// A route table (RT-1). System entries (one per vSwitch CIDR, next hop
/// local, RT-2) are implied; `route_entries` are the custom ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    /// RouteTableId.
    pub id: String,
    /// VpcId.
    pub vpc_id: String,
    /// RouteTableName.
    #[serde(default)]
    pub name: Option<String>,
    /// RouteTableType.
    #[serde(default, rename = "type")]
    pub route_table_type: RouteTableType,
    /// AssociateType. A gateway table's system entries (one per vSwitch,
    /// next hop local) are implied; `route_entries` hold the edited ones.
    #[serde(default)]
    pub associate_type: AssociateType,
    /// The table's route generation: moved on whenever a prefix list one
    /// of its entries routes changes, so the table's routes are written
    /// under a fresh numeric id and its ENIs switch to the new routes at
    /// once ([`RouteTable::numeric_key`], RT-1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u32,
    /// Custom route entries. Shared ([`RouteEntries`]): a call's draft of
    /// the model copies one pointer, not 100,000 entries; change one entry
    /// with [`Arc::make_mut`].
    #[serde(default, rename = "route_entry")]
    pub route_entries: RouteEntries,
    /// API metadata.
    #[serde(default)]
    pub meta: Meta,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A route table's custom route entries, shared three times over: the
/// list is one `Arc` (a call's draft of the model copies one pointer per
/// table, and a table no call touched is told apart by
/// [`RouteEntries::same`] without a look at its entries); the list is
/// chunks of at most [`ROUTE_ENTRY_CHUNK`] entries, each its own `Arc` (a
/// write copies the list of chunks and the chunk it changes, not every
/// entry: a call appending to a table of 100,000 entries copies one chunk);
/// and each entry is its own `Arc` (a changed chunk shares its unchanged
/// entries). Reads iterate ([`RouteEntries::iter`]) or index; writes
/// ([`RouteEntries::push`], [`RouteEntries::retain`], ...) copy what another
/// model shares first (copy on write).
#[derive(Clone, Debug, Default)]
pub struct RouteEntries {
    chunks: Arc<Vec<Arc<Vec<Arc<RouteEntry>>>>>,
    len: usize,
}

/// The entries of a [`RouteEntries`] in order, chunk after chunk.
pub type RouteEntriesIter<'a> = std::iter::FlatMap<
    std::slice::Iter<'a, Arc<Vec<Arc<RouteEntry>>>>,
    std::slice::Iter<'a, Arc<RouteEntry>>,
    fn(&'a Arc<Vec<Arc<RouteEntry>>>) -> std::slice::Iter<'a, Arc<RouteEntry>>,
>;

/// Most entries in one chunk of a [`RouteEntries`].
pub const ROUTE_ENTRY_CHUNK: usize = 512;

impl Serialize for RouteEntries {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for RouteEntries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Arc<RouteEntry>>::deserialize(d)?.into())
    }
}

impl RouteEntries {
    /// True if both are the very same list (then equal without a look).
    pub fn same(&self, other: &RouteEntries) -> bool {
        Arc::ptr_eq(&self.chunks, &other.chunks)
    }

    /// True if both hold the same entries (the same `Arc`s), in order:
    /// what one list made from another without touching an entry shares.
    /// Chunks that are the same `Arc` are not looked into.
    pub fn shares_all(&self, other: &RouteEntries) -> bool {
        if self.same(other) {
            return true;
        }
        if self.len != other.len {
            return false;
        }
        let aligned = self.chunks.len() == other.chunks.len()
            && self.chunks.iter().zip(other.chunks.iter()).all(|(a, b)| a.len() == b.len());
        if aligned {
            return self.chunks.iter().zip(other.chunks.iter()).all(|(a, b)| {
                Arc::ptr_eq(a, b) || a.iter().zip(b.iter()).all(|(x, y)| Arc::ptr_eq(x, y))
            });
        }
        self.iter().zip(other.iter()).all(|(a, b)| Arc::ptr_eq(a, b))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries in order.
    pub fn iter(&self) -> RouteEntriesIter<'_> {
        fn chunk<'a>(c: &'a Arc<Vec<Arc<RouteEntry>>>) -> std::slice::Iter<'a, Arc<RouteEntry>> {
            c.iter()
        }
        self.chunks.iter().flat_map(chunk as fn(_) -> _)
    }

    /// The first entry.
    pub fn first(&self) -> Option<&Arc<RouteEntry>> {
        self.iter().next()
    }

    /// The entry at `i`.
    pub fn get(&self, mut i: usize) -> Option<&Arc<RouteEntry>> {
        for c in self.chunks.iter() {
            if i < c.len() {
                return c.get(i);
            }
            i -= c.len();
        }
        None
    }

    /// The entry at `i`, to change (its chunk copied first if shared).
    pub fn get_mut(&mut self, mut i: usize) -> Option<&mut Arc<RouteEntry>> {
        let chunks = Arc::make_mut(&mut self.chunks);
        for c in chunks.iter_mut() {
            if i < c.len() {
                return Arc::make_mut(c).get_mut(i);
            }
            i -= c.len();
        }
        None
    }

    /// Appends an entry (copying only the last chunk, if shared).
    pub fn push(&mut self, e: Arc<RouteEntry>) {
        let chunks = Arc::make_mut(&mut self.chunks);
        match chunks.last_mut() {
            Some(c) if c.len() < ROUTE_ENTRY_CHUNK => Arc::make_mut(c).push(e),
            _ => chunks.push(Arc::new(vec![e])),
        }
        self.len += 1;
    }

    /// Keeps the entries `keep` says to keep, in order; only the chunks
    /// that lose an entry are copied.
    pub fn retain(&mut self, mut keep: impl FnMut(&Arc<RouteEntry>) -> bool) {
        let verdicts: Vec<Vec<bool>> = self.chunks.iter().map(|c| c.iter().map(&mut keep).collect()).collect();
        if verdicts.iter().all(|v| v.iter().all(|k| *k)) {
            return;
        }
        let chunks = Arc::make_mut(&mut self.chunks);
        for (c, v) in chunks.iter_mut().zip(&verdicts) {
            if v.iter().all(|k| *k) {
                continue;
            }
            let mut it = v.iter();
            Arc::make_mut(c).retain(|_| *it.next().expect("one verdict per entry"));
        }
        chunks.retain(|c| !c.is_empty());
        self.len = chunks.iter().map(|c| c.len()).sum();
    }

    /// Removes and returns the entry at `i`.
    pub fn remove(&mut self, mut i: usize) -> Arc<RouteEntry> {
        assert!(i < self.len, "removal index {i} beyond {} entries", self.len);
        let chunks = Arc::make_mut(&mut self.chunks);
        let mut at = 0;
        for (n, c) in chunks.iter().enumerate() {
            if i < c.len() {
                at = n;
                break;
            }
            i -= c.len();
        }
        let e = Arc::make_mut(&mut chunks[at]).remove(i);
        if chunks[at].is_empty() {
            chunks.remove(at);
        }
        self.len -= 1;
        e
    }

}

/// Removed entries in a row the walk of [`RouteEntries::changes_from`]
/// skips (a batch call removes at most 50).
const REMOVED_RUN: usize = 64;

/// Changed entries beyond which [`RouteEntries::changes_from`] gives up.
const MAX_CHANGED: usize = 256;

/// Where each chunk of a list starts (and its length, last).
fn chunk_starts(chunks: &[Arc<Vec<Arc<RouteEntry>>>]) -> Vec<usize> {
    let mut at = 0;
    let mut starts = Vec::with_capacity(chunks.len() + 1);
    for c in chunks {
        starts.push(at);
        at += c.len();
    }
    starts.push(at);
    starts
}

/// Random access to a chunked list by flat index.
struct Flat<'a> {
    chunks: &'a [Arc<Vec<Arc<RouteEntry>>>],
    starts: Vec<usize>,
}

impl<'a> Flat<'a> {
    fn new(l: &'a RouteEntries) -> Self {
        Self { chunks: &l.chunks, starts: chunk_starts(&l.chunks) }
    }

    fn len(&self) -> usize {
        *self.starts.last().expect("one start at least")
    }

    fn get(&self, i: usize) -> &'a Arc<RouteEntry> {
        let c = self.starts.partition_point(|s| *s <= i) - 1;
        &self.chunks[c][i - self.starts[c]]
    }

    /// The chunk starting at `i`, if one does.
    fn chunk_at(&self, i: usize) -> Option<&'a Arc<Vec<Arc<RouteEntry>>>> {
        let c = self.starts.binary_search(&i).ok()?;
        self.chunks.get(c)
    }
}

impl RouteEntries {
    /// The entries `old` had and these lack, and those these gained (a
    /// tail), when these are `old` with some entries removed and some
    /// appended, the others the same `Arc`s in their order: what one call
    /// does to a table. None when that is not so, or the change is large:
    /// then a table is checked or compiled whole. Chunks both lists share
    /// (the same `Arc`, at the same place) are skipped unread.
    #[allow(clippy::type_complexity)]
    pub fn changes_from<'a>(
        &'a self,
        old: &'a RouteEntries,
    ) -> Option<(Vec<&'a Arc<RouteEntry>>, Vec<&'a Arc<RouteEntry>>)> {
        let (old, new) = (Flat::new(old), Flat::new(self));
        let (mut i, mut j) = (0, 0);
        let mut removed = Vec::new();
        while i < old.len() && j < new.len() {
            if let (Some(a), Some(b)) = (old.chunk_at(i), new.chunk_at(j))
                && Arc::ptr_eq(a, b)
            {
                i += a.len();
                j += b.len();
            } else if Arc::ptr_eq(old.get(i), new.get(j)) {
                i += 1;
                j += 1;
            } else if let Some(k) = (i..old.len().min(i + REMOVED_RUN)).position(|o| Arc::ptr_eq(old.get(o), new.get(j))) {
                removed.extend((i..i + k).map(|o| old.get(o)));
                i += k;
            } else {
                break;
            }
            if removed.len() > MAX_CHANGED {
                return None;
            }
        }
        if (old.len() - i) + removed.len() + (new.len() - j) > MAX_CHANGED {
            return None;
        }
        removed.extend((i..old.len()).map(|o| old.get(o)));
        Some((removed, (j..new.len()).map(|n| new.get(n)).collect()))
    }
}

impl PartialEq for RouteEntries {
    fn eq(&self, other: &RouteEntries) -> bool {
        self.same(other) || (self.len == other.len && self.iter().eq(other.iter()))
    }
}

impl std::ops::Index<usize> for RouteEntries {
    type Output = Arc<RouteEntry>;

    fn index(&self, i: usize) -> &Arc<RouteEntry> {
        self.get(i).unwrap_or_else(|| panic!("route entry {i} of {}", self.len))
    }
}

impl std::ops::IndexMut<usize> for RouteEntries {
    fn index_mut(&mut self, i: usize) -> &mut Arc<RouteEntry> {
        let len = self.len;
        self.get_mut(i).unwrap_or_else(|| panic!("route entry {i} of {len}"))
    }
}

impl From<Vec<Arc<RouteEntry>>> for RouteEntries {
    fn from(v: Vec<Arc<RouteEntry>>) -> Self {
        let len = v.len();
        let chunks = v.chunks(ROUTE_ENTRY_CHUNK).map(|c| Arc::new(c.to_vec())).collect();
        RouteEntries { chunks: Arc::new(chunks), len }
    }
}

impl FromIterator<Arc<RouteEntry>> for RouteEntries {
    fn from_iter<I: IntoIterator<Item = Arc<RouteEntry>>>(iter: I) -> Self {
        iter.into_iter().collect::<Vec<_>>().into()
    }
}

impl<'a> IntoIterator for &'a RouteEntries {
    type Item = &'a Arc<RouteEntry>;
    type IntoIter = RouteEntriesIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The DestinationCidrBlock stored in an entry whose destination is a
/// prefix list (the list's blocks are its destinations).
pub const PREFIX_LIST_DESTINATION: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(0, 0, 0, 0), 32);

impl RouteTable {
    /// Moves the table's route generation on: its routes are written whole
    /// under a fresh numeric id and its ENIs switch to them at once (a route
    /// to a prefix list added, removed, or its list changed: RT-1).
    pub fn next_generation(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// The id the table's numeric id (in the datapath's route keys) is
    /// allocated for: its id, then `#<generation>` once a prefix list it
    /// routes has changed.
    pub fn numeric_key(&self) -> String {
        if self.generation == 0 {
            self.id.clone()
        } else {
            format!("{}#{}", self.id, self.generation)
        }
    }
}

impl RouteEntry {
    /// True if the entry's destination is a prefix list.
    pub fn is_prefix_list(&self) -> bool {
        self.destination_prefix_list_id.is_some()
    }

    /// The destination as the API shows it: the CIDR block, or the prefix
    /// list id.
    pub fn destination_text(&self) -> String {
        match &self.destination_prefix_list_id {
            Some(pl) => pl.clone(),
            None => self.destination_cidr_block.to_string(),
        }
    }
}

/// NextHopType of a custom route entry (RT-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NextHopType {
    /// An instance: its primary ENI.
    Instance,
    /// An ENI, by its id.
    NetworkInterface,
    /// The VPC's IPv4 gateway (IGW-2).
    Ipv4Gateway,
    /// An internet NAT gateway.
    NatGateway,
    /// Local delivery (an edited gateway route table entry, RT-4).
    Local,
    /// A gateway endpoint (GWE-2): added by associating a route table with
    /// it, destination its service's system prefix list.
    GatewayEndpoint,
}

impl NextHopType {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            NextHopType::Instance => "Instance",
            NextHopType::NetworkInterface => "NetworkInterface",
            NextHopType::Ipv4Gateway => "Ipv4Gateway",
            NextHopType::NatGateway => "NatGateway",
            NextHopType::Local => "Local",
            NextHopType::GatewayEndpoint => "GatewayEndpoint",
        }
    }
}

/// A prefix list (RT-1): named CIDR blocks a route entry may have as its
/// destination. Entries are kept in the order they were added.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixList {
    /// PrefixListId (`pl-...`).
    pub id: String,
    /// PrefixListName.
    #[serde(default)]
    pub name: Option<String>,
    /// MaxEntries.
    pub max_entries: u32,
    /// Entries: CIDR block and its description.
    #[serde(default, rename = "entry")]
    pub entries: Vec<PrefixListEntry>,
    /// API metadata (PrefixListDescription is `meta.description`).
    #[serde(default)]
    pub meta: Meta,
}

/// One entry of a prefix list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixListEntry {
    /// Cidr.
    pub cidr: Ipv4Net,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// A gateway endpoint (GWE-1): how a VPC reaches a cloud service (object
/// storage) without the internet. Its route tables hold the route {service's
/// system prefix list -> endpoint} (GWE-2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayEndpoint {
    /// EndpointId (`vpce-...`).
    pub id: String,
    /// VpcId.
    pub vpc_id: String,
    /// ServiceName (e.g. `com.aliyun.cn-hangzhou.oss`).
    pub service_name: String,
    /// EndpointName.
    #[serde(default)]
    pub name: Option<String>,
    /// PolicyDocument (RAM policy language, POL-1); None: the default,
    /// full access (POL-2).
    #[serde(default)]
    pub policy_document: Option<String>,
    /// Associated route tables (GWE-3: each with no other endpoint).
    #[serde(default)]
    pub route_table_ids: Vec<String>,
    /// The address its traffic takes in the services network (in the
    /// router's `endpoint_source_block`), allocated once and kept with the
    /// model ([`Model::allocate_numeric_ids`]); None in a lab file (then
    /// [`Model::endpoint_sources`] derives one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<Ipv4Addr>,
    /// API metadata (EndpointDescription is `meta.description`).
    #[serde(default)]
    pub meta: Meta,
}

/// A custom route entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// RouteEntryId (`rte-...`); empty in hand-written model files.
    #[serde(default)]
    pub id: String,
    /// RouteEntryName.
    #[serde(default)]
    pub name: Option<String>,
    /// DestinationCidrBlock. For an entry whose destination is a prefix
    /// list ([`RouteEntry::destination_prefix_list_id`]) it is not a
    /// destination: [`PREFIX_LIST_DESTINATION`], never compiled.
    pub destination_cidr_block: Ipv4Net,
    /// The prefix list (`pl-...`) this entry routes (RT-1): one route per
    /// CIDR block of the list, changing when the list does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_prefix_list_id: Option<String>,
    /// NextHopType.
    pub next_hop_type: NextHopType,
    /// NextHopId: an instance id or an ENI id.
    pub next_hop_id: String,
    /// API metadata.
    #[serde(default)]
    pub meta: Meta,
}

/// An instance with one ENI (VPC-2, VPC-4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// InstanceId; also the name of its network namespace.
    pub id: String,
    /// InstanceName.
    #[serde(default)]
    pub name: Option<String>,
    /// VSwitchId.
    pub vswitch_id: String,
    /// PrivateIpAddress; `None`: the first free address of the vSwitch.
    #[serde(default)]
    pub private_ip_address: Option<Ipv4Addr>,
    /// When false the ENI may send packets whose source is not its own
    /// address (a firewall or router appliance used as a route next hop).
    #[serde(default = "default_true")]
    pub source_dest_check: bool,
    /// Security groups of the instance's ENI (0..=5, SG-4). Without any,
    /// nothing is filtered.
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// InternetMaxBandwidthOut (Mbit/s; recorded, not enforced): above 0
    /// the instance gets a static public IP.
    #[serde(default)]
    pub internet_max_bandwidth_out: u32,
    /// The static public IP (allocated from the pool at RunInstances).
    #[serde(default)]
    pub public_ip_address: Option<Ipv4Addr>,
    /// ImageId: accepted and recorded, an instance is a namespace.
    #[serde(default)]
    pub image_id: String,
    /// InstanceType: accepted and recorded.
    #[serde(default)]
    pub instance_type: String,
    /// HostName (`None`: the instance id).
    #[serde(default)]
    pub host_name: Option<String>,
    /// UserData, base64 as given (recorded and answered, never run).
    #[serde(default)]
    pub user_data: String,
    /// InternetMaxBandwidthIn (Mbit/s; recorded, not enforced; `None`: the
    /// cloud's default).
    #[serde(default)]
    pub internet_max_bandwidth_in: Option<u32>,
    /// InternetChargeType of the public bandwidth (recorded; empty: the
    /// cloud's default, PayByTraffic).
    #[serde(default)]
    pub internet_charge_type: String,
    /// The system disk as asked for (recorded; nothing boots from it).
    #[serde(default)]
    pub system_disk: SystemDisk,
    /// API metadata.
    #[serde(default)]
    pub meta: Meta,
}

/// An instance's system disk as RunInstances recorded it (`SystemDisk.*`);
/// empty fields are the cloud's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemDisk {
    /// Category (empty: cloud_essd).
    #[serde(default)]
    pub category: String,
    /// Size in GiB (0: 40).
    #[serde(default)]
    pub size: u32,
    /// DiskName.
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// PerformanceLevel of an ESSD (empty: PL1).
    #[serde(default)]
    pub performance_level: String,
}

fn default_true() -> bool {
    true
}

impl Instance {
    /// Id of the instance's primary ENI.
    pub fn eni_id(&self) -> String {
        eni_id_of(&self.id)
    }
}

/// Id of the primary ENI of the instance `instance_id`.
pub fn eni_id_of(instance_id: &str) -> String {
    format!(
        "eni-{}",
        instance_id.strip_prefix("i-").unwrap_or(instance_id)
    )
}

impl Vpc {
    /// Id of the system route table created with the VPC.
    pub fn system_route_table_id(&self) -> String {
        format!("vtb-{}", self.id.strip_prefix("vpc-").unwrap_or(&self.id))
    }
}

impl Model {
    /// Parses a model file (TOML, ids given by hand: the format of the unit
    /// and datapath tests and of `vpc daemon`'s state dump).
    pub fn from_toml(text: &str) -> Result<Model, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Returns the model with a system route table added to every VPC that
    /// has none, as the cloud creates one with each VPC.
    /// Gives every VPC, vSwitch, route table and NAT gateway without one a
    /// number unused by any other (its hash if free, so numbers of models
    /// stored before the allocator existed do not change; else the next
    /// free one), and forgets the numbers of ids gone. Two ids never share
    /// a number, whatever their names.
    pub fn allocate_numeric_ids(&mut self) {
        let live: BTreeSet<String> = self
            .vpcs
            .iter()
            .map(|v| v.id.as_str())
            .chain(self.vswitches.iter().map(|v| v.id.as_str()))
            .map(str::to_string)
            .chain(self.route_tables.iter().map(|t| t.numeric_key()))
            .chain(self.nat_gateways.iter().map(|g| g.id.clone()))
            .chain(self.gateway_endpoints.iter().map(|g| g.id.clone()))
            .chain(self.server_groups.iter().map(|g| g.id.clone()))
            .chain(self.listeners.iter().map(|l| l.id.clone()))
            .chain(self.vpc_endpoints.iter().map(|e| e.id.clone()))
            .collect();
        self.numeric_ids.retain(|id, _| live.contains(id));
        let mut taken: BTreeSet<u32> = self.numeric_ids.values().copied().collect();
        for id in live {
            if self.numeric_ids.contains_key(&id) {
                continue;
            }
            let mut n = hashed_id(&id);
            while n == 0 || taken.contains(&n) {
                n = n.wrapping_add(1);
            }
            taken.insert(n);
            self.numeric_ids.insert(id, n);
        }
        // Each listener address's ring, kept once given (lowest free).
        let rings = self.lb_ring_names();
        self.lb_ring_slots.retain(|name, _| rings.contains(name));
        let mut used: BTreeSet<u32> = self.lb_ring_slots.values().copied().collect();
        for name in rings {
            if self.lb_ring_slots.contains_key(&name) {
                continue;
            }
            let Some(slot) = (0..vpc_common::MAX_LB_RINGS).find(|s| !used.contains(s)) else {
                break;
            };
            used.insert(slot);
            self.lb_ring_slots.insert(name, slot);
        }
        // Each gateway endpoint's source address, kept once given.
        let sources = self.endpoint_sources();
        for e in &mut self.gateway_endpoints {
            e.source_ip = sources.get(&e.id).copied();
        }
        for e in &mut self.vpc_endpoints {
            e.source_ip = sources.get(&e.id).copied();
        }
    }

    /// The name of the ring of `listener`'s address in `zone_id`.
    pub fn lb_ring_name(listener: &str, zone_id: &str) -> String {
        format!("{listener}@{zone_id}")
    }

    /// The rings listeners need: one per listener and zone of its load
    /// balancer, in the model's order.
    pub fn lb_ring_names(&self) -> Vec<String> {
        self.listeners
            .iter()
            .filter_map(|l| Some((l, self.load_balancer(&l.load_balancer_id)?)))
            .flat_map(|(l, lb)| {
                lb.zone_mappings
                    .iter()
                    .map(move |z| Self::lb_ring_name(&l.id, &z.zone_id))
            })
            .collect()
    }

    /// The source address of each gateway endpoint and of each interface
    /// endpoint of a cloud service (by endpoint id) in the
    /// services network's `endpoint_source_block`, never the block's network
    /// or broadcast address: the one it was given (kept with the model,
    /// [`GatewayEndpoint::source_ip`]) while it is a free host of the block,
    /// else the first free host from a hash of its id on, in the model's
    /// order of endpoints (creation order). So an endpoint's address never
    /// moves while it lives, whatever the others do. An endpoint the block
    /// has no room left for gets none (its routes then reach nothing).
    pub fn endpoint_sources(&self) -> BTreeMap<String, Ipv4Addr> {
        let block = self.router.services.endpoint_source_block;
        let hosts: u64 = (1u64 << (32 - block.prefix_len() as u32)).saturating_sub(2);
        let base = u32::from(block.network());
        let mut taken = BTreeSet::new();
        let mut out = BTreeMap::new();
        if hosts == 0 {
            return out;
        }
        // The offset (0..hosts) of a host address of the block.
        let offset = |ip: Ipv4Addr| -> Option<u64> {
            let o = u64::from(u32::from(ip).wrapping_sub(base));
            (block.contains(&ip) && (1..=hosts).contains(&o)).then(|| o - 1)
        };
        // Gateway endpoints, then interface endpoints of cloud services.
        let cloud: BTreeSet<&str> = self
            .endpoint_services
            .iter()
            .filter(|s| s.cloud_service.is_some())
            .map(|s| s.id.as_str())
            .collect();
        let holders: Vec<(&str, Option<Ipv4Addr>)> = self
            .gateway_endpoints
            .iter()
            .map(|e| (e.id.as_str(), e.source_ip))
            .chain(
                self.vpc_endpoints
                    .iter()
                    .filter(|e| cloud.contains(e.service_id.as_str()))
                    .map(|e| (e.id.as_str(), e.source_ip)),
            )
            .collect();
        for (id, source_ip) in &holders {
            if let Some(o) = source_ip.and_then(offset)
                && taken.insert(o)
            {
                out.insert(id.to_string(), Ipv4Addr::from(base.wrapping_add(1 + o as u32)));
            }
        }
        for (id, _) in &holders {
            if out.contains_key(*id) {
                continue;
            }
            let start = hashed_id(id) as u64 % hosts;
            let free = (0..hosts.min(1 << 16))
                .map(|i| (start + i) % hosts)
                .find(|o| !taken.contains(o));
            if let Some(o) = free {
                taken.insert(o);
                out.insert(id.to_string(), Ipv4Addr::from(base.wrapping_add(1 + o as u32)));
            }
        }
        out
    }

    /// Adds the cloud's own PrivateLink services of `region` (the object
    /// storage service, POL-4) unless the model has them: every account
    /// sees them, so every call's model holds them.
    pub fn ensure_cloud_endpoint_services(&mut self, region: &str) {
        let have = self.endpoint_services.iter().any(|s| {
            s.cloud_service == Some(CloudService::ObjectStorage) && s.meta.region_id == region
        });
        if !have {
            self.endpoint_services.push(object_storage_endpoint_service(region));
        }
    }

    /// The number of an id in the datapath's keys: allocated, else its hash.
    pub fn numeric_id(&self, id: &str) -> u32 {
        self.numeric_ids
            .get(id)
            .copied()
            .unwrap_or_else(|| hashed_id(id))
    }

    pub fn with_system_route_tables(mut self) -> Self {
        for vpc in &self.vpcs {
            let has_system = self
                .route_tables
                .iter()
                .any(|t| t.vpc_id == vpc.id && t.route_table_type == RouteTableType::System);
            if !has_system {
                self.route_tables.push(RouteTable {
                    id: vpc.system_route_table_id(),
                    vpc_id: vpc.id.clone(),
                    name: None,
                    route_table_type: RouteTableType::System,
                    generation: 0,
                    associate_type: AssociateType::VSwitch,
                    route_entries: RouteEntries::default(),
                    meta: vpc.meta.clone(),
                });
            }
        }
        self
    }

    /// The VPC with this id.
    pub fn vpc(&self, id: &str) -> Option<&Vpc> {
        self.vpcs.iter().find(|v| v.id == id)
    }

    /// The vSwitch with this id.
    pub fn vswitch(&self, id: &str) -> Option<&VSwitch> {
        self.vswitches.iter().find(|v| v.id == id)
    }

    /// The CIDR blocks of prefix list `id`: a list of the model's, or a
    /// system list of the cloud's services; None if there is no such list.
    pub fn prefix_list_cidrs(&self, id: &str) -> Option<Vec<Ipv4Net>> {
        if CloudServices::is_object_storage_prefix_list(id) {
            return Some(self.router.services.object_storage_cidrs.clone());
        }
        self.prefix_lists
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.entries.iter().map(|e| e.cidr).collect())
    }

    /// The gateway endpoint with this id.
    pub fn gateway_endpoint(&self, id: &str) -> Option<&GatewayEndpoint> {
        self.gateway_endpoints.iter().find(|g| g.id == id)
    }

    /// The gateway endpoint with this numeric id (a route's `gateway_id`,
    /// NextHopKind::GatewayEndpoint).
    pub fn gateway_endpoint_by_number(&self, n: u32) -> Option<&GatewayEndpoint> {
        self.gateway_endpoints
            .iter()
            .find(|g| self.numeric_id(&g.id) == n)
    }

    /// The route table with this id.
    pub fn route_table(&self, id: &str) -> Option<&RouteTable> {
        self.route_tables.iter().find(|t| t.id == id)
    }

    /// The network ACL with this id.
    pub fn network_acl(&self, id: &str) -> Option<&NetworkAcl> {
        self.network_acls.iter().find(|a| a.id == id)
    }

    /// The security group with this id.
    pub fn security_group(&self, id: &str) -> Option<&SecurityGroup> {
        self.security_groups.iter().find(|g| g.id == id)
    }

    /// The instance with this id, or owning the ENI with this id.
    pub fn instance_by_next_hop(&self, kind: NextHopType, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| match kind {
            NextHopType::Instance => i.id == id,
            NextHopType::NetworkInterface => i.eni_id() == id,
            _ => false,
        })
    }

    /// The IPv4 gateway of a VPC, if any (IGW-1).
    pub fn ipv4_gateway_of(&self, vpc_id: &str) -> Option<&Ipv4Gateway> {
        self.ipv4_gateways.iter().find(|g| g.vpc_id == vpc_id)
    }

    /// The NAT gateway with this id.
    pub fn nat_gateway(&self, id: &str) -> Option<&NatGateway> {
        self.nat_gateways.iter().find(|g| g.id == id)
    }

    /// The public address of an instance's ENI: its static public IP or
    /// the EIP associated with the instance or its ENI.
    pub fn public_ip_of(&self, inst: &Instance) -> Option<Ipv4Addr> {
        inst.public_ip_address.or_else(|| {
            self.eips.iter().find_map(|e| {
                let a = e.association.as_ref()?;
                let hit = match a.instance_type {
                    EipInstanceType::EcsInstance => a.instance_id == inst.id,
                    EipInstanceType::NetworkInterface => a.instance_id == inst.eni_id(),
                    EipInstanceType::Nat | EipInstanceType::Nlb => false,
                };
                hit.then_some(e.ip_address)
            })
        })
    }

    /// The network load balancer with this id.
    pub fn load_balancer(&self, id: &str) -> Option<&LoadBalancer> {
        self.load_balancers.iter().find(|l| l.id == id)
    }

    /// The server group with this id.
    pub fn server_group(&self, id: &str) -> Option<&ServerGroup> {
        self.server_groups.iter().find(|g| g.id == id)
    }

    /// The listener with this id.
    pub fn listener(&self, id: &str) -> Option<&Listener> {
        self.listeners.iter().find(|l| l.id == id)
    }

    /// The listeners of a load balancer, in creation order.
    pub fn listeners_of<'a>(&'a self, load_balancer_id: &'a str) -> impl Iterator<Item = &'a Listener> + 'a {
        self.listeners
            .iter()
            .filter(move |l| l.load_balancer_id == load_balancer_id)
    }

    /// The job with this id.
    pub fn nlb_job(&self, id: &str) -> Option<&NlbJob> {
        self.nlb_jobs.iter().find(|j| j.id == id)
    }

    /// Records a job, forgetting the oldest beyond [`MAX_NLB_JOBS`].
    pub fn push_nlb_job(&mut self, job: NlbJob) {
        let jobs = Arc::make_mut(&mut self.nlb_jobs);
        jobs.push(job);
        let excess = jobs.len().saturating_sub(MAX_NLB_JOBS);
        if excess > 0 {
            jobs.drain(..excess);
        }
    }

    /// Every private address a load balancer holds in a vSwitch:
    /// (address, vSwitch id, load balancer id).
    pub fn load_balancer_addresses(&self) -> impl Iterator<Item = (Ipv4Addr, &str, &str)> + '_ {
        self.load_balancers.iter().flat_map(|l| {
            l.zone_mappings
                .iter()
                .map(move |z| (z.private_ipv4, z.vswitch_id.as_str(), l.id.as_str()))
        })
    }

    /// Every public address in use: (address, holder id).
    pub fn public_addresses(&self) -> Vec<(Ipv4Addr, String)> {
        let mut out: Vec<(Ipv4Addr, String)> = self
            .instances
            .iter()
            .filter_map(|i| Some((i.public_ip_address?, i.id.clone())))
            .collect();
        out.extend(self.eips.iter().map(|e| (e.ip_address, e.id.clone())));
        out
    }

    /// The lowest address of the public pool nobody holds (not the pool's
    /// network or broadcast address).
    pub fn free_public_address(&self) -> Option<Ipv4Addr> {
        let pool = self.router.internet.public_pool;
        let taken: std::collections::BTreeSet<Ipv4Addr> = self
            .public_addresses()
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        pool.hosts().find(|a| !taken.contains(a))
    }

    /// The route table a vSwitch uses: its associated one or the VPC's
    /// system table.
    pub fn route_table_of(&self, vswitch: &VSwitch) -> Option<&RouteTable> {
        match &vswitch.route_table_id {
            Some(id) => self.route_table(id),
            None => self.route_tables.iter().find(|t| {
                t.vpc_id == vswitch.vpc_id && t.route_table_type == RouteTableType::System
            }),
        }
    }
}

/// Addresses of a vSwitch the cloud keeps for itself: the first address and
/// the last three. The gateway is the third from last (x.x.x.253 in a /24).
pub fn vswitch_gateway(cidr: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(cidr.broadcast()) - 2)
}

/// True if `addr` is one of the vSwitch's reserved addresses.
pub fn is_reserved(cidr: &Ipv4Net, addr: Ipv4Addr) -> bool {
    let a = u32::from(addr);
    a == u32::from(cidr.network()) || a + 3 > u32::from(cidr.broadcast())
}

/// The private address of every instance: the given one, or the lowest free
/// address of its vSwitch, in declaration order (deterministic).
pub fn instance_addresses(model: &Model) -> Vec<(String, Option<Ipv4Addr>)> {
    use std::collections::BTreeSet;
    let taken: BTreeSet<Ipv4Addr> = model
        .instances
        .iter()
        .filter_map(|i| i.private_ip_address)
        .chain(model.load_balancer_addresses().map(|(a, _, _)| a))
        .chain(model.endpoint_eni_addresses().map(|(a, _, _)| a))
        .collect();
    let mut allocated = BTreeSet::new();
    model
        .instances
        .iter()
        .map(|i| {
            let addr = i.private_ip_address.or_else(|| {
                let vsw = model.vswitch(&i.vswitch_id)?;
                let first = u32::from(vsw.cidr_block.network()) + 1;
                let last = u32::from(vsw.cidr_block.broadcast()) - 3;
                let free = (first..=last)
                    .map(Ipv4Addr::from)
                    .find(|a| !taken.contains(a) && !allocated.contains(a))?;
                allocated.insert(free);
                Some(free)
            });
            (i.id.clone(), addr)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: u32) -> Arc<RouteEntry> {
        Arc::new(RouteEntry {
            id: format!("rte-{n}"),
            name: None,
            destination_cidr_block: Ipv4Net::new(Ipv4Addr::from(0x1400_0000 + (n << 8)), 24).unwrap(),
            next_hop_type: NextHopType::Instance,
            destination_prefix_list_id: None,
            next_hop_id: "i-fw".into(),
            meta: Default::default(),
        })
    }

    #[test]
    fn route_entries_in_chunks_behave_as_a_list_and_a_call_s_change_is_found_across_chunks() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut list = RouteEntries::default();
        let mut reference: Vec<Arc<RouteEntry>> = Vec::new();
        let mut next = 0u32;
        let mut found = 0;
        for step in 0..400 {
            let before = list.clone();
            let before_ref = reference.clone();
            // One call: some removals anywhere, some appends (or an entry
            // changed in place).
            match rng.u8(..10) {
                0 if !reference.is_empty() => {
                    let i = rng.usize(..reference.len());
                    let e = Arc::new(RouteEntry { next_hop_id: format!("i-{step}"), ..(*reference[i]).clone() });
                    reference[i] = e.clone();
                    list[i] = e;
                }
                _ => {
                    for _ in 0..rng.usize(..4) {
                        if reference.is_empty() {
                            break;
                        }
                        let i = rng.usize(..reference.len());
                        if rng.bool() {
                            reference.remove(i);
                            list.remove(i);
                        } else {
                            let gone = reference.remove(i);
                            list.retain(|e| !Arc::ptr_eq(e, &gone));
                        }
                    }
                    for _ in 0..rng.usize(..60) {
                        let e = numbered(next);
                        next += 1;
                        reference.push(e.clone());
                        list.push(e);
                    }
                }
            }
            assert_eq!(list.len(), reference.len(), "step {step}");
            assert!(list.iter().zip(&reference).all(|(a, b)| Arc::ptr_eq(a, b)), "step {step}");
            assert!(list.iter().eq(RouteEntries::from(reference.clone()).iter()));
            assert!(before.shares_all(&RouteEntries::from(before_ref.clone())));
            assert_eq!(list.shares_all(&before), reference.len() == before_ref.len() && reference.iter().zip(&before_ref).all(|(a, b)| Arc::ptr_eq(a, b)));
            // What changed, as the walk of the two plain lists finds it.
            if let Some((removed, added)) = list.changes_from(&before) {
                found += 1;
                let mut rebuilt: Vec<&Arc<RouteEntry>> = before_ref.iter().filter(|e| !removed.iter().any(|r| Arc::ptr_eq(r, e))).collect();
                rebuilt.extend(added.iter().copied());
                assert_eq!(rebuilt.len(), reference.len(), "step {step}");
                assert!(rebuilt.iter().zip(&reference).all(|(a, b)| Arc::ptr_eq(a, b)), "step {step}");
            }
        }
        assert!(list.len() > 3 * ROUTE_ENTRY_CHUNK, "{} entries", list.len());
        assert!(found > 300, "{found} changes found");
    }

    #[test]
    fn vpc_2_gateway_and_reserved_addresses_follow_the_cloud() {
        let cidr: Ipv4Net = "10.0.1.0/24".parse().unwrap();
        assert_eq!(vswitch_gateway(&cidr), Ipv4Addr::new(10, 0, 1, 253));
        assert!(is_reserved(&cidr, Ipv4Addr::new(10, 0, 1, 0)));
        assert!(is_reserved(&cidr, Ipv4Addr::new(10, 0, 1, 253)));
        assert!(is_reserved(&cidr, Ipv4Addr::new(10, 0, 1, 255)));
        assert!(!is_reserved(&cidr, Ipv4Addr::new(10, 0, 1, 1)));
        assert!(!is_reserved(&cidr, Ipv4Addr::new(10, 0, 1, 252)));
    }

    #[test]
    fn rt_1_every_vpc_gets_a_system_route_table() {
        let model = Model {
            vpcs: vec![Vpc {
                id: "vpc-a".into(),
                name: None,
                cidr_block: "10.0.0.0/16".parse().unwrap(),
                dns_hostname: false,
                meta: Meta::default(),
            }],
            ..Model::default()
        }
        .with_system_route_tables();
        assert_eq!(model.route_tables.len(), 1);
        assert_eq!(model.route_tables[0].id, "vtb-a");
        assert_eq!(
            model.route_tables[0].route_table_type,
            RouteTableType::System
        );
    }
}
