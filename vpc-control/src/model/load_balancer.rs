//! Network load balancers (the cloud's NLB API, 2022-04-30): load balancers
//! with one address per zone, server groups of backends, listeners that
//! join the two, and the asynchronous jobs the API reports. Plain data, in
//! the cloud's words; the service checks it, `compile` turns it into the
//! datapath's load balancing tables.
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::Meta;

/// Most jobs the model keeps (the oldest are forgotten first): GetJobStatus
/// answers for the recent ones, as the cloud keeps its jobs for a while.
/// Bounded low: the model's document is written at every commit.
pub const MAX_NLB_JOBS: usize = 256;

/// AddressType of a load balancer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NlbAddressType {
    /// Internet-facing: each zone has an EIP as well as its private address.
    Internet,
    /// Internal-facing: private addresses only.
    #[default]
    Intranet,
}

impl NlbAddressType {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NlbAddressType::Internet => "Internet",
            NlbAddressType::Intranet => "Intranet",
        }
    }
}

/// LoadBalancerStatus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadBalancerStatus {
    /// Being created.
    Provisioning,
    /// Running.
    #[default]
    Active,
    /// Disabled: its listeners forward nothing.
    Inactive,
    /// Being changed.
    Configuring,
    /// Creation failed; it can only be deleted.
    CreateFailed,
}

impl LoadBalancerStatus {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalancerStatus::Provisioning => "Provisioning",
            LoadBalancerStatus::Active => "Active",
            LoadBalancerStatus::Inactive => "Inactive",
            LoadBalancerStatus::Configuring => "Configuring",
            LoadBalancerStatus::CreateFailed => "CreateFailed",
        }
    }
}

/// DeletionProtectionConfig: while enabled, DeleteLoadBalancer is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeletionProtection {
    /// Enabled.
    pub enabled: bool,
    /// Reason.
    pub reason: String,
    /// EnabledTime (as the cloud writes it), empty while disabled.
    pub enabled_time: String,
}

/// ModificationProtectionConfig.Status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModificationProtectionStatus {
    /// NonProtection.
    #[default]
    NonProtection,
    /// ConsoleProtection: read-only in the console (the API may still change
    /// the load balancer, as the cloud's).
    ConsoleProtection,
}

impl ModificationProtectionStatus {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ModificationProtectionStatus::NonProtection => "NonProtection",
            ModificationProtectionStatus::ConsoleProtection => "ConsoleProtection",
        }
    }
}

/// ModificationProtectionConfig.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModificationProtection {
    /// Status.
    pub status: ModificationProtectionStatus,
    /// Reason (ConsoleProtection only).
    pub reason: String,
    /// EnabledTime, empty under NonProtection.
    pub enabled_time: String,
}

/// One zone of a load balancer: its vSwitch and its addresses there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneMapping {
    /// ZoneId (the vSwitch's zone).
    pub zone_id: String,
    /// VSwitchId.
    pub vswitch_id: String,
    /// PrivateIPv4Address: given, or allocated from the vSwitch; never an
    /// address an instance, an ENI or another load balancer holds.
    pub private_ipv4: Ipv4Addr,
    /// AllocationId: the EIP of an internet-facing load balancer in this
    /// zone (given, or allocated by the service as the cloud does).
    #[serde(default)]
    pub allocation_id: Option<String>,
    /// PublicIPv4Address: the EIP's address.
    #[serde(default)]
    pub public_ipv4: Option<Ipv4Addr>,
}

/// A network load balancer in a VPC, one address per zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// LoadBalancerId (`nlb-...`).
    pub id: String,
    /// LoadBalancerName.
    #[serde(default)]
    pub name: Option<String>,
    /// VpcId.
    pub vpc_id: String,
    /// AddressType.
    #[serde(default)]
    pub address_type: NlbAddressType,
    /// ZoneMappings, one per zone.
    #[serde(default, rename = "zone_mapping")]
    pub zone_mappings: Vec<ZoneMapping>,
    /// SecurityGroupIds (LoadBalancerJoinSecurityGroup).
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// CrossZoneEnabled: a zone's address also sends to backends of other
    /// zones (the cloud's default).
    #[serde(default = "default_true")]
    pub cross_zone_enabled: bool,
    /// LoadBalancerStatus.
    #[serde(default)]
    pub status: LoadBalancerStatus,
    /// DeletionProtectionConfig.
    #[serde(default)]
    pub deletion_protection: DeletionProtection,
    /// ModificationProtectionConfig.
    #[serde(default)]
    pub modification_protection: ModificationProtection,
    /// DNSName.
    #[serde(default)]
    pub dns_name: String,
    /// API metadata.
    #[serde(default)]
    pub meta: Meta,
}

impl LoadBalancer {
    /// The zone mapping of `zone_id`, if the load balancer is in that zone.
    pub fn zone(&self, zone_id: &str) -> Option<&ZoneMapping> {
        self.zone_mappings.iter().find(|z| z.zone_id == zone_id)
    }
}

fn default_true() -> bool {
    true
}

/// ServerGroupType.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerGroupType {
    /// Instance: backends are instances and ENIs (the default).
    #[default]
    Instance,
    /// Ip: backends are addresses of the VPC.
    Ip,
}

impl ServerGroupType {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerGroupType::Instance => "Instance",
            ServerGroupType::Ip => "Ip",
        }
    }
}

/// Protocol of a server group or listener (TCPSSL is refused).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum NlbProtocol {
    /// TCP.
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
}

impl NlbProtocol {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NlbProtocol::Tcp => "TCP",
            NlbProtocol::Udp => "UDP",
        }
    }

    /// The IP protocol number.
    pub fn ip_protocol(self) -> u8 {
        match self {
            NlbProtocol::Tcp => 6,
            NlbProtocol::Udp => 17,
        }
    }
}

/// Scheduler of a server group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scheduler {
    /// Wrr: weighted round robin (the default; a weighted consistent hash
    /// in the datapath).
    #[default]
    Wrr,
    /// Rr: round robin (weights ignored).
    Rr,
    /// Sch: consistent hash of the source address.
    Sch,
    /// Tch: consistent hash of the four-tuple (and protocol).
    Tch,
    /// Qch: consistent hash of the QUIC connection id.
    Qch,
}

impl Scheduler {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduler::Wrr => "Wrr",
            Scheduler::Rr => "Rr",
            Scheduler::Sch => "Sch",
            Scheduler::Tch => "Tch",
            Scheduler::Qch => "Qch",
        }
    }

    /// The scheduler the cloud spells `s` (case-insensitive, as the cloud
    /// accepts it).
    pub fn parse(s: &str) -> Option<Scheduler> {
        [
            Scheduler::Wrr,
            Scheduler::Rr,
            Scheduler::Sch,
            Scheduler::Tch,
            Scheduler::Qch,
        ]
        .into_iter()
        .find(|x| x.as_str().eq_ignore_ascii_case(s))
    }
}

/// HealthCheckType.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthCheckType {
    /// TCP: a connection to the check port (the default).
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// HTTP: a request whose status must be one of the given classes.
    #[serde(rename = "HTTP")]
    Http,
}

impl HealthCheckType {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthCheckType::Tcp => "TCP",
            HealthCheckType::Http => "HTTP",
        }
    }
}

/// The HTTP part of a health check (HealthCheckType HTTP).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpCheck {
    /// HealthCheckDomain: `$SERVER_IP` (the default) or a host name.
    pub domain: String,
    /// HealthCheckUrl (default `/`).
    pub url: String,
    /// HealthCheckHttpCode: classes `http_2xx` .. `http_5xx` (default `http_2xx`).
    pub http_codes: Vec<String>,
    /// HttpCheckMethod: GET (the default) or HEAD.
    pub method: String,
    /// HealthCheckHttpVersion: HTTP1.0 (the default) or HTTP1.1.
    pub version: String,
}

impl Default for HttpCheck {
    fn default() -> Self {
        Self {
            domain: "$SERVER_IP".to_string(),
            url: "/".to_string(),
            http_codes: vec!["http_2xx".to_string()],
            method: "GET".to_string(),
            version: "HTTP1.0".to_string(),
        }
    }
}

/// HealthCheckConfig of a server group, with the cloud's defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthCheck {
    /// HealthCheckEnabled (default true).
    pub enabled: bool,
    /// HealthCheckType.
    pub check_type: HealthCheckType,
    /// HealthCheckConnectPort: 0 (the default) is each server's own port.
    pub connect_port: u16,
    /// HealthCheckConnectTimeout, seconds (1..=300, default 5).
    pub connect_timeout_s: u32,
    /// HealthCheckInterval, seconds (1..=50, default 5).
    pub interval_s: u32,
    /// HealthyThreshold (2..=10, default 2).
    pub healthy_threshold: u32,
    /// UnhealthyThreshold (2..=10, default 2).
    pub unhealthy_threshold: u32,
    /// The HTTP settings (used by HTTP checks only).
    pub http: HttpCheck,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            enabled: true,
            check_type: HealthCheckType::Tcp,
            connect_port: 0,
            connect_timeout_s: 5,
            interval_s: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            http: HttpCheck::default(),
        }
    }
}

/// ConnectionDrainEnabled and ConnectionDrainTimeout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionDrain {
    /// ConnectionDrainEnabled (default false).
    pub enabled: bool,
    /// ConnectionDrainTimeout, seconds (0..=900, default 10).
    pub timeout_s: u32,
}

impl Default for ConnectionDrain {
    fn default() -> Self {
        Self {
            enabled: false,
            timeout_s: 10,
        }
    }
}

/// ServerType of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerType {
    /// Ecs: an instance (its primary ENI's address).
    Ecs,
    /// Eni: an ENI.
    Eni,
    /// Ip: an address of the VPC.
    Ip,
}

impl ServerType {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerType::Ecs => "Ecs",
            ServerType::Eni => "Eni",
            ServerType::Ip => "Ip",
        }
    }
}

/// Weight of a server when none is given.
pub const DEFAULT_SERVER_WEIGHT: u32 = 100;

/// A backend of a server group: (server id, address, port) is unique in
/// the group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// ServerId: an instance id, an ENI id, or the address (type Ip).
    pub server_id: String,
    /// ServerType.
    pub server_type: ServerType,
    /// ServerIp: for an instance or ENI, its primary address when added.
    pub server_ip: Ipv4Addr,
    /// Port (1..=65535).
    pub port: u16,
    /// Weight (0..=100; 0 takes no new connections).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// ZoneId of the server (its vSwitch's zone).
    #[serde(default)]
    pub zone_id: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

fn default_weight() -> u32 {
    DEFAULT_SERVER_WEIGHT
}

/// A server group: backends, how connections are spread over them and how
/// their health is checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerGroup {
    /// ServerGroupId (`sgp-...`).
    pub id: String,
    /// ServerGroupName.
    #[serde(default)]
    pub name: Option<String>,
    /// VpcId.
    pub vpc_id: String,
    /// ServerGroupType.
    #[serde(default)]
    pub server_group_type: ServerGroupType,
    /// Protocol.
    #[serde(default)]
    pub protocol: NlbProtocol,
    /// Scheduler.
    #[serde(default)]
    pub scheduler: Scheduler,
    /// PreserveClientIpEnabled (default true): backends see the client's
    /// address.
    #[serde(default = "default_true")]
    pub preserve_client_ip_enabled: bool,
    /// Connection draining.
    #[serde(default)]
    pub connection_drain: ConnectionDrain,
    /// HealthCheckConfig.
    #[serde(default)]
    pub health_check: HealthCheck,
    /// Servers, in the order they were added.
    #[serde(default, rename = "server")]
    pub servers: Vec<Server>,
    /// API metadata.
    #[serde(default)]
    pub meta: Meta,
}

/// ListenerStatus (settled values; the transient ones are never stored).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListenerStatus {
    /// Running: forwards.
    #[default]
    Running,
    /// Stopped: forwards nothing.
    Stopped,
}

impl ListenerStatus {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerStatus::Running => "Running",
            ListenerStatus::Stopped => "Stopped",
        }
    }
}

/// A listener: a protocol and port of a load balancer's addresses, sent to
/// a server group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// ListenerId (`lsn-...`).
    pub id: String,
    /// LoadBalancerId.
    pub load_balancer_id: String,
    /// ListenerProtocol.
    pub protocol: NlbProtocol,
    /// ListenerPort (1..=65535), unique per (load balancer, protocol).
    pub port: u16,
    /// ServerGroupId (same protocol and VPC as the load balancer).
    pub server_group_id: String,
    /// ListenerStatus.
    #[serde(default)]
    pub status: ListenerStatus,
    /// ListenerDescription.
    #[serde(default)]
    pub description: String,
    /// IdleTimeout, seconds (1..=900, default 900).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: u32,
    /// API metadata.
    #[serde(default)]
    pub meta: Meta,
}

fn default_idle_timeout() -> u32 {
    900
}

/// Status of a job (the cloud's spellings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    /// Succeeded.
    #[default]
    Succeeded,
    /// Failed.
    Failed,
    /// Processing.
    Processing,
}

impl JobStatus {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Succeeded => "Succeeded",
            JobStatus::Failed => "Failed",
            JobStatus::Processing => "Processing",
        }
    }
}

/// An asynchronous job of the NLB API: what a mutating action answered
/// with its JobId.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NlbJob {
    /// JobId.
    pub id: String,
    /// The resource the job changed.
    pub resource_id: String,
    /// The action (e.g. `CreateLoadBalancer`).
    pub operation: String,
    /// Status.
    #[serde(default)]
    pub status: JobStatus,
    /// When it was created, as the cloud writes times.
    #[serde(default)]
    pub created: String,
    /// OwnerId: the account that started it.
    #[serde(default)]
    pub owner_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    const LB: &str = r#"
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
        address_type = "Internet"
        [[load_balancer.zone_mapping]]
        zone_id = "cn-hangzhou-a"
        vswitch_id = "vsw-1"
        private_ipv4 = "10.0.1.5"
        [[server_group]]
        id = "sgp-1"
        vpc_id = "vpc-a"
        protocol = "UDP"
        scheduler = "Sch"
        [[server_group.server]]
        server_id = "10.0.1.20"
        server_type = "Ip"
        server_ip = "10.0.1.20"
        port = 53
        [[listener]]
        id = "lsn-1"
        load_balancer_id = "nlb-1"
        protocol = "UDP"
        port = 53
        server_group_id = "sgp-1"
    "#;

    #[test]
    fn nlb_model_reads_with_the_clouds_defaults() {
        let mut m = Model::from_toml(LB).unwrap();
        let lb = m.load_balancer("nlb-1").unwrap();
        assert_eq!(lb.address_type, NlbAddressType::Internet);
        assert!(lb.cross_zone_enabled);
        assert_eq!(lb.status, LoadBalancerStatus::Active);
        assert_eq!(
            lb.zone("cn-hangzhou-a").unwrap().private_ipv4,
            Ipv4Addr::new(10, 0, 1, 5)
        );
        let g = m.server_group("sgp-1").unwrap();
        assert_eq!(g.protocol, NlbProtocol::Udp);
        assert_eq!(g.scheduler, Scheduler::Sch);
        assert!(g.preserve_client_ip_enabled);
        assert_eq!(g.health_check, HealthCheck::default());
        assert_eq!(g.servers[0].weight, DEFAULT_SERVER_WEIGHT);
        assert_eq!(m.listener("lsn-1").unwrap().status, ListenerStatus::Running);
        assert_eq!(m.listeners_of("nlb-1").count(), 1);
        // Listeners and server groups get numbers, as VPCs do.
        m.allocate_numeric_ids();
        assert!(m.numeric_ids.contains_key("lsn-1") && m.numeric_ids.contains_key("sgp-1"));
        // A model written back reads the same.
        let again: Model = toml::from_str(&toml::to_string(&m).unwrap()).unwrap();
        assert_eq!(again, m);
        // An instance allocated an address never takes the load balancer's.
        let addrs = crate::model::instance_addresses(&m);
        assert!(addrs.is_empty());
    }

    #[test]
    fn nlb_jobs_are_bounded_oldest_first() {
        let mut m = Model::default();
        for n in 0..MAX_NLB_JOBS + 5 {
            m.push_nlb_job(NlbJob {
                id: format!("job-{n}"),
                resource_id: "nlb-1".into(),
                operation: "CreateLoadBalancer".into(),
                status: JobStatus::Succeeded,
                created: String::new(),
                owner_id: String::new(),
            });
        }
        assert_eq!(m.nlb_jobs.len(), MAX_NLB_JOBS);
        assert!(m.nlb_job("job-4").is_none());
        assert!(m.nlb_job("job-5").is_some());
    }

    #[test]
    fn scheduler_parses_the_clouds_spellings() {
        assert_eq!(Scheduler::parse("wrr"), Some(Scheduler::Wrr));
        assert_eq!(Scheduler::parse("Qch"), Some(Scheduler::Qch));
        assert_eq!(Scheduler::parse("Lc"), None);
    }
}
