//! PrivateLink (the cloud's PrivateLink API, 2020-04-15): endpoint services
//! a provider offers from its load balancers (EPS-1..4), interface endpoints
//! a consumer creates in its VPC with one ENI per zone (EP-1..7), and the
//! connection between the two (CONN-1..4), kept on the endpoint. Plain data,
//! in the cloud's words; the service checks it, `compile` turns connected
//! endpoints into the datapath's endpoint table.
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::Meta;

/// Most security groups an interface endpoint may be in (SG-4).
pub const MAX_ENDPOINT_SECURITY_GROUPS: usize = 5;

/// The domain every PrivateLink name lives under (DNS-1): service domains
/// are `<service id>.<region>.privatelink.aliyuncs.com`, an endpoint's
/// `<endpoint id>-<hash>.<service id>.<region>.privatelink.aliyuncs.com`.
pub const PRIVATELINK_DOMAIN: &str = "privatelink.aliyuncs.com";

/// ServiceStatus of an endpoint service (EPS-3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointServiceStatus {
    /// Being created.
    Creating,
    /// Being changed.
    Pending,
    /// Available: the only state that accepts endpoints (EPS-3).
    #[default]
    Active,
    /// Being deleted.
    Deleting,
}

impl EndpointServiceStatus {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointServiceStatus::Creating => "Creating",
            EndpointServiceStatus::Pending => "Pending",
            EndpointServiceStatus::Active => "Active",
            EndpointServiceStatus::Deleting => "Deleting",
        }
    }
}

/// ResourceType of a service resource. Only network load balancers are
/// built; the API refuses the others (CLB, ALB, GWLB).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceResourceType {
    /// A network load balancer of the NLB API (`nlb`).
    #[default]
    Nlb,
}

impl ServiceResourceType {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceResourceType::Nlb => "nlb",
        }
    }
}

/// A service the cloud itself offers through PrivateLink (POL-4): every
/// account sees it and connects at once, and its endpoints carry an access
/// policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloudService {
    /// The lab's object storage service, in the services network.
    ObjectStorage,
}

/// One service resource: a load balancer in one of its zones (EPS-1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceResource {
    /// ResourceId (`nlb-...`).
    pub resource_id: String,
    /// ResourceType.
    #[serde(default)]
    pub resource_type: ServiceResourceType,
    /// ZoneId: the zone of the load balancer this resource serves.
    pub zone_id: String,
}

/// An endpoint service (EPS-1): load balancers a provider offers to other
/// VPCs, by a unique service name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointService {
    /// ServiceId (`epsrv-...`).
    pub id: String,
    /// ServiceName (`com.aliyuncs.privatelink.<region>.<service id>`).
    pub name: String,
    /// ServiceResourceType (all resources are of this type).
    #[serde(default)]
    pub resource_type: ServiceResourceType,
    /// Resources (load balancers per zone).
    #[serde(default, rename = "resource")]
    pub resources: Vec<ServiceResource>,
    /// AutoAcceptEnabled (EPS-4): connection requests are accepted at once.
    #[serde(default)]
    pub auto_accept_enabled: bool,
    /// ZoneAffinityEnabled: an endpoint ENI's traffic goes to the service's
    /// resource in its own zone (EP-3); off, to any zone's.
    #[serde(default)]
    pub zone_affinity_enabled: bool,
    /// The whitelist (EPS-2): account ids besides the owner's, which is
    /// always on it ([`EndpointService::allows`]).
    #[serde(default)]
    pub users: Vec<String>,
    /// ServiceStatus.
    #[serde(default)]
    pub status: EndpointServiceStatus,
    /// ConnectBandwidth (Mbit/s) given to new connections.
    #[serde(default = "default_bandwidth")]
    pub connect_bandwidth: u32,
    /// The cloud's own service this is (no resources, no owner), if it is
    /// one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_service: Option<CloudService>,
    /// API metadata (ServiceDescription is `meta.description`).
    #[serde(default)]
    pub meta: Meta,
}

fn default_bandwidth() -> u32 {
    3072
}

/// ServiceName of the object storage service's endpoint service in
/// `region`.
pub fn object_storage_endpoint_service_name(region: &str) -> String {
    format!("com.aliyuncs.privatelink.{region}.oss")
}

/// The object storage service offered through PrivateLink in `region`
/// (the cloud's: no owner, everyone on its whitelist, accepted at once).
pub fn object_storage_endpoint_service(region: &str) -> EndpointService {
    EndpointService {
        id: format!("epsrv-oss-{region}"),
        name: object_storage_endpoint_service_name(region),
        resource_type: ServiceResourceType::Nlb,
        resources: Vec::new(),
        auto_accept_enabled: true,
        zone_affinity_enabled: false,
        users: vec!["*".to_string()],
        status: EndpointServiceStatus::Active,
        connect_bandwidth: default_bandwidth(),
        cloud_service: Some(CloudService::ObjectStorage),
        meta: Meta {
            description: "Object Storage Service".to_string(),
            region_id: region.to_string(),
            ..Meta::default()
        },
    }
}

impl EndpointService {
    /// Whether `account_id` may see the service and connect to it (EPS-2):
    /// the owner's account, or one on the whitelist (`*`: everyone).
    pub fn allows(&self, account_id: &str) -> bool {
        self.meta.owner_id == account_id || self.users.iter().any(|u| u == account_id || u == "*")
    }

    /// ServiceDomain (DNS-1): `<service id>.<region>.privatelink.aliyuncs.com`.
    pub fn domain(&self) -> String {
        format!("{}.{}.{PRIVATELINK_DOMAIN}", self.id, self.meta.region_id)
    }

    /// The service's resource in `zone_id`, if it has one there.
    pub fn resource_in(&self, zone_id: &str) -> Option<&ServiceResource> {
        self.resources.iter().find(|r| r.zone_id == zone_id)
    }
}

/// EndpointStatus (EP-5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointStatus {
    /// Being created.
    Creating,
    /// Being changed.
    Pending,
    /// Available.
    #[default]
    Active,
    /// Being deleted.
    Deleting,
}

impl EndpointStatus {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointStatus::Creating => "Creating",
            EndpointStatus::Pending => "Pending",
            EndpointStatus::Active => "Active",
            EndpointStatus::Deleting => "Deleting",
        }
    }
}

/// ConnectionStatus (CONN-2): traffic flows only while `Connected`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionStatus {
    /// Being modified.
    Pending,
    /// Being established.
    Connecting,
    /// Connected: the only state traffic flows in.
    Connected,
    /// Being disconnected.
    Disconnecting,
    /// Not accepted (yet), rejected, or disabled by the provider (CONN-3).
    #[default]
    Disconnected,
    /// Being deleted.
    Deleting,
    /// The service was deleted (CONN-4): the endpoint should be deleted.
    ServiceDeleted,
}

impl ConnectionStatus {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Pending => "Pending",
            ConnectionStatus::Connecting => "Connecting",
            ConnectionStatus::Connected => "Connected",
            ConnectionStatus::Disconnecting => "Disconnecting",
            ConnectionStatus::Disconnected => "Disconnected",
            ConnectionStatus::Deleting => "Deleting",
            ConnectionStatus::ServiceDeleted => "ServiceDeleted",
        }
    }
}

/// ZoneStatus of one zone of an endpoint (the zone-level connection).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointZoneStatus {
    /// Being created.
    Creating,
    /// Waiting for the connection to be accepted.
    #[default]
    Wait,
    /// Connected: traffic to this zone's ENI flows (while the endpoint's
    /// connection is `Connected` too).
    Connected,
    /// Being deleted.
    Deleting,
    /// Being disconnected.
    Disconnecting,
    /// Disconnected by the provider (DisableVpcEndpointZoneConnection).
    Disconnected,
    /// Being connected.
    Connecting,
}

impl EndpointZoneStatus {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointZoneStatus::Creating => "Creating",
            EndpointZoneStatus::Wait => "Wait",
            EndpointZoneStatus::Connected => "Connected",
            EndpointZoneStatus::Deleting => "Deleting",
            EndpointZoneStatus::Disconnecting => "Disconnecting",
            EndpointZoneStatus::Disconnected => "Disconnected",
            EndpointZoneStatus::Connecting => "Connecting",
        }
    }
}

/// One zone of an interface endpoint: its ENI in the consumer's vSwitch
/// (EP-3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointZone {
    /// ZoneId (the vSwitch's zone).
    pub zone_id: String,
    /// VSwitchId (of the consumer's VPC).
    pub vswitch_id: String,
    /// EniId (`eni-...`): the endpoint ENI.
    pub eni_id: String,
    /// EniIp: given (Zone.N.ip), or allocated from the vSwitch; never an
    /// address an instance, a load balancer or another endpoint holds.
    pub eni_ip: Ipv4Addr,
    /// ZoneStatus.
    #[serde(default)]
    pub status: EndpointZoneStatus,
}

/// EndpointType. Only interface endpoints are built; the API refuses
/// reverse and Gateway Load Balancer endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointType {
    /// An interface endpoint (EP-1).
    #[default]
    Interface,
}

impl EndpointType {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointType::Interface => "Interface",
        }
    }
}

/// An interface endpoint (EP-1): a consumer VPC's way to one endpoint
/// service, with the connection to it (CONN-1..4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcEndpoint {
    /// EndpointId (`ep-...`).
    pub id: String,
    /// EndpointName.
    #[serde(default)]
    pub name: Option<String>,
    /// EndpointType.
    #[serde(default)]
    pub endpoint_type: EndpointType,
    /// VpcId (the consumer's VPC).
    pub vpc_id: String,
    /// ServiceId. Kept after the service is deleted (then the connection
    /// is `ServiceDeleted`, CONN-4).
    pub service_id: String,
    /// ServiceName, as it was when the endpoint was created.
    pub service_name: String,
    /// SecurityGroupId.N (SG-4: at most 5, of the endpoint's VPC).
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// Zones, one ENI each.
    #[serde(default, rename = "zone")]
    pub zones: Vec<EndpointZone>,
    /// EndpointStatus.
    #[serde(default)]
    pub status: EndpointStatus,
    /// ConnectionStatus (CONN-2).
    #[serde(default)]
    pub connection_status: ConnectionStatus,
    /// Bandwidth of the connection (Mbit/s), set by the provider.
    #[serde(default = "default_bandwidth")]
    pub bandwidth: u32,
    /// PolicyDocument (POL-4); None: the default, full access.
    #[serde(default)]
    pub policy_document: Option<String>,
    /// ZoneAffinityEnabled (the endpoint's own switch).
    #[serde(default)]
    pub zone_affinity_enabled: bool,
    /// ProtectedEnabled.
    #[serde(default)]
    pub protected_enabled: bool,
    /// For an endpoint of a cloud service: the address its connections
    /// take in the services network (in the router's
    /// `endpoint_source_block`, shared with the gateway endpoints),
    /// allocated once and kept ([`super::Model::endpoint_sources`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<Ipv4Addr>,
    /// API metadata (EndpointDescription is `meta.description`).
    #[serde(default)]
    pub meta: Meta,
}

impl VpcEndpoint {
    /// EndpointDomain (DNS-1): `<endpoint id>.<service domain>`.
    pub fn domain(&self, service_domain: &str) -> String {
        format!("{}.{service_domain}", self.id)
    }

    /// ZoneDomain of one zone (DNS-1): `<endpoint id>-<zone id>.<service domain>`.
    pub fn zone_domain(&self, zone_id: &str, service_domain: &str) -> String {
        format!("{}-{zone_id}.{service_domain}", self.id)
    }

    /// Whether traffic to the ENI of `zone` flows (CONN-2): the connection
    /// and the zone are both connected.
    pub fn zone_connected(&self, zone: &EndpointZone) -> bool {
        self.connection_status == ConnectionStatus::Connected && zone.status == EndpointZoneStatus::Connected
    }
}

impl super::Model {
    /// Every address an endpoint ENI holds: (address, vSwitch id, endpoint
    /// id). No instance, load balancer zone or other ENI may hold it (EP-3).
    pub fn endpoint_eni_addresses(&self) -> impl Iterator<Item = (Ipv4Addr, &str, &str)> + '_ {
        self.vpc_endpoints
            .iter()
            .flat_map(|e| e.zones.iter().map(move |z| (z.eni_ip, z.vswitch_id.as_str(), e.id.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(owner: &str, users: &[&str]) -> EndpointService {
        EndpointService {
            id: "epsrv-abc".into(),
            name: "com.aliyuncs.privatelink.cn-hangzhou.epsrv-abc".into(),
            resource_type: ServiceResourceType::Nlb,
            resources: vec![],
            auto_accept_enabled: false,
            zone_affinity_enabled: true,
            users: users.iter().map(|s| s.to_string()).collect(),
            status: EndpointServiceStatus::Active,
            connect_bandwidth: 3072,
            cloud_service: None,
            meta: Meta { owner_id: owner.into(), region_id: "cn-hangzhou".into(), ..Meta::default() },
        }
    }

    #[test]
    fn eps_2_the_owner_is_always_whitelisted() {
        let s = service("1111", &["2222"]);
        assert!(s.allows("1111"));
        assert!(s.allows("2222"));
        assert!(!s.allows("3333"));
        assert!(service("1111", &["*"]).allows("3333"));
    }

    #[test]
    fn dns_1_service_domain_names_the_service_and_region() {
        assert_eq!(service("1", &[]).domain(), "epsrv-abc.cn-hangzhou.privatelink.aliyuncs.com");
    }
}
