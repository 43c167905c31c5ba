//! Server groups: CreateServerGroup, AddServersToServerGroup,
//! RemoveServersFromServerGroup, UpdateServerGroupServersAttribute,
//! ListServerGroups, ListServerGroupServers, DeleteServerGroup.
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::{
    JobAnswer, any_or, illegal, in_range, mismatch, not_found, page, protocol, record_job,
    refuse_unless,
};
use crate::{
    api::{ApiError, Product, form::Unsupported, new_id},
    model::{
        ConnectionDrain, DEFAULT_SERVER_WEIGHT, HealthCheck, HealthCheckType, HttpCheck, Scheduler,
        Server, ServerGroup, ServerGroupType, ServerType,
    },
    service::{Action, Draft, params::given, tag},
};

/// Most servers in one server group.
pub const MAX_SERVERS_PER_GROUP: usize = 200;
/// Most servers one call adds, removes or changes.
pub const MAX_SERVERS_PER_CALL: usize = 200;

/// Index of the server group `id` the caller has, or
/// `ResourceNotFound.serverGroup`.
pub(super) fn sg_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .server_groups
        .iter()
        .position(|g| g.id == id && d.caller.owns(&g.meta.owner_id))
        .ok_or_else(|| not_found("serverGroup", id))
}

/// HealthCheckConfig of CreateServerGroup.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheckParam {
    health_check_enabled: Option<bool>,
    health_check_type: Option<String>,
    health_check_connect_port: Option<u32>,
    health_check_connect_timeout: Option<u32>,
    health_check_interval: Option<u32>,
    healthy_threshold: Option<u32>,
    unhealthy_threshold: Option<u32>,
    health_check_domain: Option<String>,
    health_check_url: Option<String>,
    #[serde(default)]
    health_check_http_code: Vec<String>,
    http_check_method: Option<String>,
    health_check_http_version: Option<String>,
    /// UDP checks (request and expected answer) are not run here.
    #[serde(rename = "HealthCheckReq")]
    _health_check_req: Option<Unsupported>,
    #[serde(rename = "HealthCheckExp")]
    _health_check_exp: Option<Unsupported>,
}

const HTTP_CODES: &[&str] = &["http_2xx", "http_3xx", "http_4xx", "http_5xx"];

impl HealthCheckParam {
    fn check(self) -> Result<HealthCheck, ApiError> {
        let d = HealthCheck::default();
        let name = |f: &str| format!("HealthCheckConfig.{f}");
        let check_type = match given(&self.health_check_type)
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("TCP") => HealthCheckType::Tcp,
            Some("HTTP") => HealthCheckType::Http,
            Some("UDP") => return Err(ApiError::unsupported(&name("HealthCheckType"))),
            Some(other) => {
                return Err(illegal(
                    &name("HealthCheckType"),
                    format!("{other:?} is not TCP, HTTP or UDP"),
                ));
            }
        };
        let port = in_range(
            &name("HealthCheckConnectPort"),
            self.health_check_connect_port,
            0..=65535,
            0,
        )?;
        let mut http = HttpCheck::default();
        if let Some(v) = given(&self.health_check_domain) {
            if v != "$SERVER_IP"
                && (v.len() > 80
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
            {
                return Err(illegal(
                    &name("HealthCheckDomain"),
                    format!("{v:?} is not $SERVER_IP or a domain name"),
                ));
            }
            http.domain = v.to_string();
        }
        if let Some(v) = given(&self.health_check_url) {
            if !v.starts_with('/') || v.len() > 80 {
                return Err(illegal(
                    &name("HealthCheckUrl"),
                    format!("{v:?} does not start with / or is longer than 80"),
                ));
            }
            http.url = v.to_string();
        }
        if !self.health_check_http_code.is_empty() {
            let mut codes = Vec::new();
            for c in self
                .health_check_http_code
                .iter()
                .flat_map(|c| c.split(','))
                .map(str::trim)
            {
                if !HTTP_CODES.contains(&c) {
                    return Err(illegal(
                        &name("HealthCheckHttpCode"),
                        format!("{c:?} is not one of {HTTP_CODES:?}"),
                    ));
                }
                if !codes.iter().any(|x: &String| x == c) {
                    codes.push(c.to_string());
                }
            }
            http.http_codes = codes;
        }
        if let Some(v) = given(&self.http_check_method) {
            let up = v.to_ascii_uppercase();
            if up != "GET" && up != "HEAD" {
                return Err(illegal(
                    &name("HttpCheckMethod"),
                    format!("{v:?} is not GET or HEAD"),
                ));
            }
            http.method = up;
        }
        if let Some(v) = given(&self.health_check_http_version) {
            if v != "HTTP1.0" && v != "HTTP1.1" {
                return Err(illegal(
                    &name("HealthCheckHttpVersion"),
                    format!("{v:?} is not HTTP1.0 or HTTP1.1"),
                ));
            }
            http.version = v.to_string();
        }
        Ok(HealthCheck {
            enabled: self.health_check_enabled.unwrap_or(d.enabled),
            check_type,
            connect_port: port as u16,
            connect_timeout_s: in_range(
                &name("HealthCheckConnectTimeout"),
                self.health_check_connect_timeout,
                1..=300,
                d.connect_timeout_s,
            )?,
            interval_s: in_range(
                &name("HealthCheckInterval"),
                self.health_check_interval,
                1..=50,
                d.interval_s,
            )?,
            healthy_threshold: in_range(
                &name("HealthyThreshold"),
                self.healthy_threshold,
                2..=10,
                d.healthy_threshold,
            )?,
            unhealthy_threshold: in_range(
                &name("UnhealthyThreshold"),
                self.unhealthy_threshold,
                2..=10,
                d.unhealthy_threshold,
            )?,
            http,
        })
    }
}

/// CreateServerGroup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateServerGroup {
    server_group_name: String,
    vpc_id: String,
    /// Instance (default) or Ip.
    server_group_type: Option<String>,
    /// TCP (default) or UDP; TCPSSL is not served.
    protocol: Option<String>,
    /// Wrr (default), Rr, Sch, Tch, Qch.
    scheduler: Option<String>,
    /// Default true.
    preserve_client_ip_enabled: Option<bool>,
    connection_drain_enabled: Option<bool>,
    /// 0..=900 seconds (default 10).
    connection_drain_timeout: Option<u32>,
    #[serde(default)]
    health_check_config: HealthCheckParam,
    /// `ipv4` only.
    #[serde(rename = "AddressIPVersion")]
    address_ip_version: Option<String>,
    /// All-port forwarding is not served: `true` is refused.
    any_port_enabled: Option<bool>,
    #[serde(rename = "IpVersionAffinityMode")]
    _ip_version_affinity_mode: Option<Unsupported>,
    #[serde(default)]
    tag: Vec<tag::TagParam>,
}

/// CreateServerGroup's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateServerGroupResponse {
    job_id: String,
    server_group_id: String,
}

impl Action for CreateServerGroup {
    const NAME: &'static str = "CreateServerGroup";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates a server group in a VPC: protocol, scheduler, client address preserved, connection draining, health check configuration.";
    type Response = CreateServerGroupResponse;

    fn run(self, d: &mut Draft) -> Result<CreateServerGroupResponse, ApiError> {
        if self.server_group_name.is_empty() {
            return Err(ApiError::missing("ServerGroupName"));
        }
        if self.vpc_id.is_empty() {
            return Err(ApiError::missing("VpcId"));
        }
        refuse_unless("AnyPortEnabled", self.any_port_enabled, false)?;
        // The datapath always keeps the client's address (the cloud's
        // default); translating it to the load balancer's is not built.
        refuse_unless("PreserveClientIpEnabled", self.preserve_client_ip_enabled, true)?;
        match given(&self.address_ip_version) {
            None => {}
            Some(v) if v.eq_ignore_ascii_case("ipv4") => {}
            Some(v) if v.eq_ignore_ascii_case("DualStack") => {
                return Err(ApiError::unsupported("AddressIPVersion"));
            }
            Some(v) => {
                return Err(illegal(
                    "AddressIPVersion",
                    format!("{v:?} is not ipv4 or DualStack"),
                ));
            }
        }
        let server_group_type = match given(&self.server_group_type) {
            None | Some("Instance") => ServerGroupType::Instance,
            Some("Ip") => ServerGroupType::Ip,
            Some(other) => {
                return Err(illegal(
                    "ServerGroupType",
                    format!("{other:?} is not Instance or Ip"),
                ));
            }
        };
        let protocol = protocol("Protocol", given(&self.protocol).unwrap_or("TCP"))?;
        let scheduler = match given(&self.scheduler) {
            None => Scheduler::Wrr,
            Some(s) => Scheduler::parse(s).ok_or_else(|| {
                illegal(
                    "Scheduler",
                    format!("{s:?} is not Wrr, Rr, Sch, Tch or Qch"),
                )
            })?,
        };
        let drain_timeout = in_range(
            "ConnectionDrainTimeout",
            self.connection_drain_timeout,
            0..=900,
            10,
        )?;
        let health_check = self.health_check_config.check()?;
        let vi = d
            .vpc_index(&self.vpc_id)
            .map_err(|_| not_found("vpc", &self.vpc_id))?;
        let region = d.model.vpcs[vi].meta.region_id.clone();
        let mut meta = d.new_meta(None);
        if !region.is_empty() {
            meta.region_id = region;
        }
        meta.tags = tag::from_params(&self.tag)?;
        let id = new_id("sgp");
        d.model.server_groups.push(ServerGroup {
            id: id.clone(),
            name: Some(self.server_group_name),
            vpc_id: self.vpc_id,
            server_group_type,
            protocol,
            scheduler,
            preserve_client_ip_enabled: true,
            connection_drain: ConnectionDrain {
                enabled: self.connection_drain_enabled.unwrap_or(false),
                timeout_s: drain_timeout,
            },
            health_check,
            servers: Vec::new(),
            meta,
        });
        let job_id = record_job(d, &id, Self::NAME);
        Ok(CreateServerGroupResponse {
            job_id,
            server_group_id: id,
        })
    }
}

/// One `Servers.N` of the server actions.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerParam {
    server_id: String,
    /// Ecs, Eni (Instance groups) or Ip (Ip groups); Eci is not served.
    server_type: String,
    /// For an instance or ENI, its primary address (checked); for Ip, the
    /// address (ServerId otherwise).
    server_ip: Option<String>,
    port: Option<u32>,
    /// 0..=100 (default 100).
    weight: Option<u32>,
    description: Option<String>,
}

/// The server a `Servers.N` names, resolved against the model: its type,
/// address and zone (weight and description left at defaults).
fn resolve(d: &Draft, group: &ServerGroup, n: usize, p: &ServerParam) -> Result<Server, ApiError> {
    let at = |f: &str| format!("Servers.{}.{f}", n + 1);
    if p.server_id.is_empty() {
        return Err(ApiError::missing(&at("ServerId")));
    }
    let server_type = match p.server_type.as_str() {
        "Ecs" => ServerType::Ecs,
        "Eni" => ServerType::Eni,
        "Ip" => ServerType::Ip,
        "Eci" => return Err(ApiError::unsupported(&at("ServerType"))),
        "" => return Err(ApiError::missing(&at("ServerType"))),
        other => {
            return Err(illegal(
                &at("ServerType"),
                format!("{other:?} is not Ecs, Eni, Eci or Ip"),
            ));
        }
    };
    let fits = match group.server_group_type {
        ServerGroupType::Instance => server_type != ServerType::Ip,
        ServerGroupType::Ip => server_type == ServerType::Ip,
    };
    if !fits {
        return Err(mismatch(
            "ServerType",
            format!(
                "A server group of type {} cannot hold a server of type {}.",
                group.server_group_type.as_str(),
                server_type.as_str()
            ),
        ));
    }
    let port = match p.port {
        Some(port @ 1..=65535) => port as u16,
        Some(other) => {
            return Err(illegal(
                &at("Port"),
                format!("{other} is outside 1..=65535"),
            ));
        }
        None => return Err(ApiError::missing(&at("Port"))),
    };
    let (server_ip, zone_id) = match server_type {
        ServerType::Ecs | ServerType::Eni => {
            let inst = d
                .model
                .instances
                .iter()
                .find(|i| {
                    d.caller.owns(&i.meta.owner_id)
                        && match server_type {
                            ServerType::Ecs => i.id == p.server_id,
                            _ => i.eni_id() == p.server_id,
                        }
                })
                .ok_or_else(|| {
                    not_found(
                        if server_type == ServerType::Ecs {
                            "ecs"
                        } else {
                            "eni"
                        },
                        &p.server_id,
                    )
                })?;
            let vsw = d.model.vswitch(&inst.vswitch_id);
            if vsw.is_none_or(|v| v.vpc_id != group.vpc_id) {
                return Err(mismatch(
                    "VpcId",
                    format!(
                        "The server {} is not in the VPC {} of the server group.",
                        p.server_id, group.vpc_id
                    ),
                ));
            }
            let ip = inst
                .private_ip_address
                .ok_or_else(|| ApiError::internal(format!("{} has no address", inst.id)))?;
            if let Some(given_ip) = given(&p.server_ip)
                && given_ip != ip.to_string()
            {
                return Err(mismatch(
                    "ServerIp",
                    format!(
                        "The server {} has the address {ip}, not {given_ip}.",
                        p.server_id
                    ),
                ));
            }
            (ip, vsw.map(|v| v.zone_id.clone()).unwrap_or_default())
        }
        ServerType::Ip => {
            let text = given(&p.server_ip).unwrap_or(&p.server_id);
            let ip: Ipv4Addr = text.parse().map_err(|_| {
                illegal(&at("ServerIp"), format!("{text:?} is not an IPv4 address"))
            })?;
            if p.server_id != text {
                return Err(mismatch(
                    "ServerIp",
                    format!(
                        "The ServerId of an Ip server is its address: {} is not {text}.",
                        p.server_id
                    ),
                ));
            }
            let vpc = d.model.vpc(&group.vpc_id);
            if vpc.is_none_or(|v| !v.cidr_block.contains(&ip)) {
                return Err(illegal(
                    &at("ServerIp"),
                    format!("{ip} is not an address of the VPC {}", group.vpc_id),
                ));
            }
            let zone = d
                .model
                .vswitches
                .iter()
                .find(|v| v.vpc_id == group.vpc_id && v.cidr_block.contains(&ip))
                .map(|v| v.zone_id.clone())
                .unwrap_or_default();
            (ip, zone)
        }
    };
    Ok(Server {
        server_id: p.server_id.clone(),
        server_type,
        server_ip,
        port,
        weight: DEFAULT_SERVER_WEIGHT,
        zone_id,
        description: String::new(),
    })
}

/// The index in `group` of the server a `Servers.N` names: same id, type
/// and port (and address, when given).
fn position(group: &ServerGroup, s: &Server) -> Option<usize> {
    group.servers.iter().position(|x| {
        x.server_id == s.server_id && x.server_type == s.server_type && x.port == s.port
    })
}

fn weight(n: usize, w: Option<u32>) -> Result<Option<u32>, ApiError> {
    match w {
        Some(w) if w > 100 => Err(illegal(
            &format!("Servers.{}.Weight", n + 1),
            format!("{w} is outside 0..=100"),
        )),
        other => Ok(other),
    }
}

fn check_count(servers: &[ServerParam]) -> Result<(), ApiError> {
    if servers.is_empty() {
        return Err(ApiError::missing("Servers"));
    }
    if servers.len() > MAX_SERVERS_PER_CALL {
        return Err(illegal(
            "Servers",
            format!(
                "{} servers; at most {MAX_SERVERS_PER_CALL} per call",
                servers.len()
            ),
        ));
    }
    Ok(())
}

/// AddServersToServerGroup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddServersToServerGroup {
    server_group_id: String,
    #[serde(default)]
    servers: Vec<ServerParam>,
}

/// The answer of the server actions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServersAnswer {
    job_id: String,
    server_group_id: String,
}

impl Action for AddServersToServerGroup {
    const NAME: &'static str = "AddServersToServerGroup";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Adds backends (instances, ENIs or addresses of the VPC; port, weight) to a server group.";
    type Response = ServersAnswer;

    fn run(self, d: &mut Draft) -> Result<ServersAnswer, ApiError> {
        check_count(&self.servers)?;
        let gi = sg_index(d, &self.server_group_id)?;
        let mut group = d.model.server_groups[gi].clone();
        for (n, p) in self.servers.iter().enumerate() {
            let mut s = resolve(d, &group, n, p)?;
            s.weight = weight(n, p.weight)?.unwrap_or(DEFAULT_SERVER_WEIGHT);
            s.description = p.description.clone().unwrap_or_default();
            if position(&group, &s).is_some() {
                return Err(ApiError::bad(
                    "ResourceAlreadyAssociated.backendServer",
                    format!(
                        "The server {} port {} is already in the server group {}.",
                        s.server_id, s.port, group.id
                    ),
                ));
            }
            group.servers.push(s);
        }
        if group.servers.len() > MAX_SERVERS_PER_GROUP {
            return Err(ApiError::bad(
                "QuotaExceeded.ServersNum",
                format!("A server group holds at most {MAX_SERVERS_PER_GROUP} servers."),
            ));
        }
        d.model.server_groups[gi] = group;
        let job_id = record_job(d, &self.server_group_id, Self::NAME);
        Ok(ServersAnswer {
            job_id,
            server_group_id: self.server_group_id,
        })
    }
}

/// RemoveServersFromServerGroup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveServersFromServerGroup {
    server_group_id: String,
    #[serde(default)]
    servers: Vec<ServerParam>,
}

/// The index of the server `p` names in `group`, or
/// `ResourceNotFound.backendServer`.
fn existing(group: &ServerGroup, n: usize, p: &ServerParam) -> Result<usize, ApiError> {
    let at = |f: &str| format!("Servers.{}.{f}", n + 1);
    if p.server_id.is_empty() {
        return Err(ApiError::missing(&at("ServerId")));
    }
    group
        .servers
        .iter()
        .position(|x| {
            x.server_id == p.server_id
                && x.server_type.as_str() == p.server_type
                && p.port.is_none_or(|port| u32::from(x.port) == port)
                && given(&p.server_ip).is_none_or(|ip| x.server_ip.to_string() == ip)
        })
        .ok_or_else(|| not_found("backendServer", &p.server_id))
}

impl Action for RemoveServersFromServerGroup {
    const NAME: &'static str = "RemoveServersFromServerGroup";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Removes backends from a server group: only their connections move.";
    type Response = ServersAnswer;

    fn run(self, d: &mut Draft) -> Result<ServersAnswer, ApiError> {
        check_count(&self.servers)?;
        let gi = sg_index(d, &self.server_group_id)?;
        let mut group = d.model.server_groups[gi].clone();
        for (n, p) in self.servers.iter().enumerate() {
            let at = existing(&group, n, p)?;
            group.servers.remove(at);
        }
        d.model.server_groups[gi] = group;
        let job_id = record_job(d, &self.server_group_id, Self::NAME);
        Ok(ServersAnswer {
            job_id,
            server_group_id: self.server_group_id,
        })
    }
}

/// UpdateServerGroupServersAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateServerGroupServersAttribute {
    server_group_id: String,
    #[serde(default)]
    servers: Vec<ServerParam>,
}

impl Action for UpdateServerGroupServersAttribute {
    const NAME: &'static str = "UpdateServerGroupServersAttribute";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Changes the weight or description of backends of a server group.";
    type Response = ServersAnswer;

    fn run(self, d: &mut Draft) -> Result<ServersAnswer, ApiError> {
        check_count(&self.servers)?;
        let gi = sg_index(d, &self.server_group_id)?;
        let mut group = d.model.server_groups[gi].clone();
        for (n, p) in self.servers.iter().enumerate() {
            let at = existing(&group, n, p)?;
            if let Some(w) = weight(n, p.weight)? {
                group.servers[at].weight = w;
            }
            if let Some(desc) = &p.description {
                group.servers[at].description = desc.clone();
            }
        }
        d.model.server_groups[gi] = group;
        let job_id = record_job(d, &self.server_group_id, Self::NAME);
        Ok(ServersAnswer {
            job_id,
            server_group_id: self.server_group_id,
        })
    }
}

/// DeleteServerGroup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteServerGroup {
    server_group_id: String,
}

impl Action for DeleteServerGroup {
    const NAME: &'static str = "DeleteServerGroup";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes a server group no listener uses.";
    type Response = JobAnswer;

    fn run(self, d: &mut Draft) -> Result<JobAnswer, ApiError> {
        let gi = sg_index(d, &self.server_group_id)?;
        if let Some(l) = d
            .model
            .listeners
            .iter()
            .find(|l| l.server_group_id == self.server_group_id)
        {
            return Err(ApiError::bad(
                "ResourceInUse.serverGroup",
                format!(
                    "The server group {} is used by the listener {}.",
                    self.server_group_id, l.id
                ),
            ));
        }
        d.model.server_groups.remove(gi);
        Ok(JobAnswer::new(record_job(
            d,
            &self.server_group_id,
            Self::NAME,
        )))
    }
}

/// ListServerGroups. `ResourceGroupId` (a common parameter) filters too.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListServerGroups {
    #[serde(default)]
    server_group_ids: Vec<String>,
    #[serde(default)]
    server_group_names: Vec<String>,
    server_group_type: Option<String>,
    vpc_id: Option<String>,
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// HealthCheck in ListServerGroups.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheckOut {
    health_check_enabled: bool,
    health_check_type: &'static str,
    health_check_connect_port: u16,
    health_check_connect_timeout: u32,
    health_check_interval: u32,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    health_check_domain: String,
    health_check_url: String,
    health_check_http_code: Vec<String>,
    http_check_method: String,
    health_check_http_version: String,
}

/// One server group in ListServerGroups.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedServerGroup {
    server_group_id: String,
    server_group_name: String,
    server_group_status: &'static str,
    server_group_type: &'static str,
    #[serde(rename = "AddressIPVersion")]
    address_ip_version: &'static str,
    any_port_enabled: bool,
    ali_uid: serde_json::Value,
    connection_drain_enabled: bool,
    connection_drain_timeout: u32,
    preserve_client_ip_enabled: bool,
    protocol: &'static str,
    region_id: String,
    resource_group_id: String,
    scheduler: &'static str,
    server_count: usize,
    related_load_balancer_ids: Vec<String>,
    vpc_id: String,
    health_check: HealthCheckOut,
    tags: Vec<tag::TagOut>,
}

impl ListedServerGroup {
    fn of(d: &Draft, g: &ServerGroup) -> Self {
        let h = &g.health_check;
        let mut related: Vec<String> = d
            .model
            .listeners
            .iter()
            .filter(|l| l.server_group_id == g.id)
            .map(|l| l.load_balancer_id.clone())
            .collect();
        related.sort();
        related.dedup();
        Self {
            server_group_id: g.id.clone(),
            server_group_name: g.name.clone().unwrap_or_default(),
            server_group_status: "Available",
            server_group_type: g.server_group_type.as_str(),
            address_ip_version: "ipv4",
            any_port_enabled: false,
            ali_uid: g
                .meta
                .owner_id
                .parse::<u64>()
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::from(0)),
            connection_drain_enabled: g.connection_drain.enabled,
            connection_drain_timeout: g.connection_drain.timeout_s,
            preserve_client_ip_enabled: g.preserve_client_ip_enabled,
            protocol: g.protocol.as_str(),
            region_id: g.meta.region_id.clone(),
            resource_group_id: g.meta.resource_group_id.clone(),
            scheduler: g.scheduler.as_str(),
            server_count: g.servers.len(),
            related_load_balancer_ids: related,
            vpc_id: g.vpc_id.clone(),
            health_check: HealthCheckOut {
                health_check_enabled: h.enabled,
                health_check_type: h.check_type.as_str(),
                health_check_connect_port: h.connect_port,
                health_check_connect_timeout: h.connect_timeout_s,
                health_check_interval: h.interval_s,
                healthy_threshold: h.healthy_threshold,
                unhealthy_threshold: h.unhealthy_threshold,
                health_check_domain: h.http.domain.clone(),
                health_check_url: h.http.url.clone(),
                health_check_http_code: h.http.http_codes.clone(),
                http_check_method: h.http.method.clone(),
                health_check_http_version: h.http.version.clone(),
            },
            tags: tag::Tags::of(&g.meta.tags).tag,
        }
    }
}

/// ListServerGroups' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListServerGroupsResponse {
    server_groups: Vec<ListedServerGroup>,
    max_results: u32,
    next_token: String,
    total_count: usize,
}

impl Action for ListServerGroups {
    const NAME: &'static str = "ListServerGroups";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists server groups by id, name, type, VPC, resource group, tags; paged by MaxResults and NextToken.";
    type Response = ListServerGroupsResponse;

    fn run(self, d: &mut Draft) -> Result<ListServerGroupsResponse, ApiError> {
        let items: Vec<(String, &ServerGroup)> = d
            .model
            .server_groups
            .iter()
            .filter(|g| {
                d.in_view(&g.meta)
                    && any_or(&self.server_group_ids, &g.id)
                    && (self.server_group_names.is_empty()
                        || g.name
                            .as_deref()
                            .is_some_and(|n| any_or(&self.server_group_names, n)))
                    && given(&self.server_group_type)
                        .is_none_or(|t| t == g.server_group_type.as_str())
                    && given(&self.vpc_id).is_none_or(|v| v == g.vpc_id)
                    && tag::matches(&g.meta.tags, &self.tag)
            })
            .map(|g| (g.id.clone(), g))
            .collect();
        let (items, next_token, total_count) =
            page("sgp", items, self.max_results, &self.next_token)?;
        Ok(ListServerGroupsResponse {
            server_groups: items
                .into_iter()
                .map(|g| ListedServerGroup::of(d, g))
                .collect(),
            max_results: self.max_results.unwrap_or(20),
            next_token,
            total_count,
        })
    }
}

/// ListServerGroupServers.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListServerGroupServers {
    server_group_id: Option<String>,
    #[serde(default)]
    server_ids: Vec<String>,
    #[serde(default)]
    server_ips: Vec<String>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// One server in ListServerGroupServers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedServer {
    server_group_id: String,
    server_id: String,
    server_ip: String,
    server_type: &'static str,
    port: u16,
    weight: u32,
    zone_id: String,
    description: String,
    /// The server is in the group (changes are settled before answers).
    status: &'static str,
}

/// ListServerGroupServers' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListServerGroupServersResponse {
    servers: Vec<ListedServer>,
    max_results: u32,
    next_token: String,
    total_count: usize,
}

impl Action for ListServerGroupServers {
    const NAME: &'static str = "ListServerGroupServers";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the backends of server groups (by group, server id, address); paged by MaxResults and NextToken.";
    type Response = ListServerGroupServersResponse;

    fn run(self, d: &mut Draft) -> Result<ListServerGroupServersResponse, ApiError> {
        if let Some(id) = given(&self.server_group_id) {
            sg_index(d, id)?;
        }
        let mut items = Vec::new();
        for g in d.model.server_groups.iter().filter(|g| {
            d.caller.owns(&g.meta.owner_id)
                && given(&self.server_group_id).is_none_or(|x| x == g.id)
        }) {
            for s in &g.servers {
                if any_or(&self.server_ids, &s.server_id)
                    && any_or(&self.server_ips, &s.server_ip.to_string())
                {
                    // Keys sort by group, server and port: a page starts
                    // after the last server listed even when servers come
                    // and go between calls.
                    let key = format!("{}/{}/{:05}", g.id, s.server_id, s.port);
                    items.push((
                        key,
                        ListedServer {
                            server_group_id: g.id.clone(),
                            server_id: s.server_id.clone(),
                            server_ip: s.server_ip.to_string(),
                            server_type: s.server_type.as_str(),
                            port: s.port,
                            weight: s.weight,
                            zone_id: s.zone_id.clone(),
                            description: s.description.clone(),
                            // Its health: Available, Initial (not decided
                            // yet) or Unavailable (out of the tables).
                            status: crate::apply::health::server_status(d.health, g, s).as_str(),
                        },
                    ));
                }
            }
        }
        let (servers, next_token, total_count) =
            page("sgps", items, self.max_results, &self.next_token)?;
        Ok(ListServerGroupServersResponse {
            servers,
            max_results: self.max_results.unwrap_or(20),
            next_token,
            total_count,
        })
    }
}
