//! Interface endpoints, the consumer's side (EP-1..7): CreateVpcEndpoint,
//! GetVpcEndpointAttribute, ListVpcEndpoints, UpdateVpcEndpointAttribute,
//! DeleteVpcEndpoint, Add/RemoveZoneToVpcEndpoint, ListVpcEndpointZones,
//! Attach/DetachSecurityGroupToVpcEndpoint, ListVpcEndpointSecurityGroups.
use std::{collections::BTreeSet, net::Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::{
    endpoint_denied,
    endpoint_service::{KeyValue, key_values, service_for_consumer},
    eni_address, eq_or_any, illegal, ipv4_only, own_endpoint, page, refuse_on, service_domain,
};
use crate::{
    api::{ApiError, Product, form::Unsupported, new_id},
    model::{
        ConnectionStatus, EndpointStatus, EndpointType, EndpointZone, EndpointZoneStatus,
        MAX_ENDPOINT_SECURITY_GROUPS, VpcEndpoint,
    },
    service::{
        Action, Draft, Empty,
        gateway_endpoint::{DEFAULT_POLICY_DOCUMENT, check_policy},
        params::given,
        tag::{self, TagParam},
    },
};

/// PolicyDocument (POL-4): only endpoints of the cloud's services carry an
/// access policy (VpcEndpointPolicySupported); for them a document is
/// checked as an endpoint policy (POL-1) and kept, for others refused.
fn policy_for(cloud: bool, v: &Option<String>) -> Result<Option<String>, ApiError> {
    match given(v) {
        None => Ok(None),
        Some(doc) if cloud => {
            check_policy(doc)?;
            Ok(Some(doc.to_string()))
        }
        Some(_) => Err(illegal(
            "PolicyDocument",
            "the endpoint service does not support endpoint policies (VpcEndpointPolicySupported is false)",
        )),
    }
}

/// Whether endpoint service `service_id` is one of the cloud's own.
fn is_cloud_service(d: &Draft, service_id: &str) -> bool {
    d.model.endpoint_services.iter().any(|s| s.id == service_id && s.cloud_service.is_some())
}

/// The security groups asked for: the caller's, in `vpc_id`, each once,
/// at most five with `have` (SG-4).
fn security_groups(
    d: &Draft,
    vpc_id: &str,
    ids: &[String],
    have: &[String],
) -> Result<(), ApiError> {
    let mut seen: BTreeSet<&str> = have.iter().map(String::as_str).collect();
    for g in ids {
        let group = d
            .model
            .security_groups
            .iter()
            .find(|x| x.id == *g && d.caller.owns(&x.meta.owner_id))
            .ok_or_else(|| {
                ApiError::not_found(
                    "InvalidSecurityGroupId.NotFound",
                    format!("The specified security group {g} does not exist."),
                )
            })?;
        if group.vpc_id != vpc_id {
            return Err(ApiError::bad(
                "InvalidSecurityGroup.VpcMismatch",
                format!("The security group {g} is not in the endpoint's VPC {vpc_id}."),
            ));
        }
        if !seen.insert(g) {
            return Err(ApiError::bad(
                "SecurityGroupAlreadyAttached",
                format!("The endpoint is already in the security group {g}."),
            ));
        }
    }
    if seen.len() > MAX_ENDPOINT_SECURITY_GROUPS {
        return Err(ApiError::bad(
            "QuotaExceeded.SecurityGroupsNum",
            format!(
                "An endpoint is in at most {MAX_ENDPOINT_SECURITY_GROUPS} security groups (SG-4)."
            ),
        ));
    }
    Ok(())
}

/// One zone asked for: a vSwitch of `vpc_id` in `zone_id`, a zone where
/// the service has a resource, not one the endpoint has; its ENI address.
#[allow(clippy::too_many_arguments)]
fn zone(
    d: &Draft,
    at: &str,
    vpc_id: &str,
    service_zones: &[String],
    vswitch_id: &str,
    zone_id: &str,
    ip: Option<&str>,
    have: &[EndpointZone],
    chosen: &BTreeSet<Ipv4Addr>,
) -> Result<EndpointZone, ApiError> {
    if vswitch_id.is_empty() {
        return Err(ApiError::missing(&format!("{at}VSwitchId")));
    }
    let vsw = &d.model.vswitches[d.vswitch_index(vswitch_id)?];
    if vsw.vpc_id != vpc_id {
        return Err(illegal(
            &format!("{at}VSwitchId"),
            format!("the vSwitch {vswitch_id} is not in the VPC {vpc_id}"),
        ));
    }
    let zone_id = if zone_id.is_empty() {
        vsw.zone_id.as_str()
    } else {
        zone_id
    };
    if vsw.zone_id != zone_id {
        return Err(illegal(
            &format!("{at}ZoneId"),
            format!(
                "the vSwitch {vswitch_id} is in zone {}, not {zone_id}",
                vsw.zone_id
            ),
        ));
    }
    if !service_zones.iter().any(|z| z == zone_id) {
        return Err(ApiError::bad(
            "EndpointServiceZoneNotSupported",
            format!("The endpoint service has no resource in zone {zone_id}."),
        ));
    }
    if have.iter().any(|z| z.zone_id == zone_id) {
        return Err(illegal(
            &format!("{at}ZoneId"),
            format!("the endpoint already has zone {zone_id}: one vSwitch per zone"),
        ));
    }
    let eni_ip = eni_address(&d.model, vswitch_id, ip, &format!("{at}ip"), chosen)?;
    Ok(EndpointZone {
        zone_id: zone_id.to_string(),
        vswitch_id: vswitch_id.to_string(),
        eni_id: new_id("eni"),
        eni_ip,
        status: EndpointZoneStatus::Wait,
    })
}

/// The zones of the service an endpoint connects to.
fn service_zones(d: &Draft, service_id: &str) -> Vec<String> {
    match d.model.endpoint_services.iter().find(|s| s.id == service_id) {
        // The cloud's service is in every zone of its region.
        Some(s) if s.cloud_service.is_some() => d.zones(&s.meta.region_id),
        Some(s) => s.resources.iter().map(|r| r.zone_id.clone()).collect(),
        None => Vec::new(),
    }
}

/// One `Zone.N` of CreateVpcEndpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ZoneParam {
    #[serde(default, rename = "VSwitchId")]
    v_switch_id: String,
    #[serde(default)]
    zone_id: String,
    /// ip: the ENI's address (else allocated from the vSwitch).
    #[serde(rename = "ip")]
    ip: Option<String>,
    #[serde(rename = "Ipv6Address")]
    _ipv6_address: Option<Unsupported>,
}

/// CreateVpcEndpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateVpcEndpoint {
    #[serde(default)]
    vpc_id: String,
    /// ServiceId or ServiceName.
    service_id: Option<String>,
    service_name: Option<String>,
    /// SecurityGroupId.N: 1 to 5 groups of the VPC (SG-4).
    #[serde(default)]
    security_group_id: Vec<String>,
    /// Zone.N: one vSwitch per zone, in zones the service has.
    #[serde(default)]
    zone: Vec<ZoneParam>,
    endpoint_name: Option<String>,
    endpoint_description: Option<String>,
    /// EndpointType: Interface (Reverse and GatewayLoadBalancer are not
    /// served).
    endpoint_type: Option<String>,
    zone_affinity_enabled: Option<bool>,
    /// PolicyDocument: refused (see [`no_policy`]).
    policy_document: Option<String>,
    /// ProtectedEnabled: not served.
    protected_enabled: Option<bool>,
    /// ZonePrivateIpAddressCount: 1.
    zone_private_ip_address_count: Option<u64>,
    address_ip_version: Option<String>,
    /// ServiceRegionId: the call's region (no cross-region connections).
    service_region_id: Option<String>,
    #[serde(rename = "CrossRegionBandwidth")]
    _cross_region_bandwidth: Option<Unsupported>,
    #[serde(default)]
    tag: Vec<TagParam>,
}

/// The attributes Create, Get and List answer for an endpoint.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointAttributes {
    address_ip_version: &'static str,
    bandwidth: u32,
    connection_status: &'static str,
    create_time: String,
    endpoint_business_status: &'static str,
    endpoint_description: String,
    endpoint_domain: String,
    endpoint_id: String,
    endpoint_name: String,
    endpoint_status: &'static str,
    service_id: String,
    service_name: String,
    service_region_id: String,
    vpc_id: String,
    zone_affinity_enabled: bool,
}

impl EndpointAttributes {
    fn of(d: &Draft, e: &VpcEndpoint) -> Self {
        Self {
            address_ip_version: "IPv4",
            bandwidth: e.bandwidth,
            connection_status: e.connection_status.as_str(),
            create_time: e.meta.creation_time.clone(),
            endpoint_business_status: "Normal",
            endpoint_description: e.meta.description.clone(),
            endpoint_domain: e.domain(&service_domain(&d.model, e)),
            endpoint_id: e.id.clone(),
            endpoint_name: e.name.clone().unwrap_or_default(),
            endpoint_status: e.status.as_str(),
            service_id: e.service_id.clone(),
            service_name: e.service_name.clone(),
            service_region_id: e.meta.region_id.clone(),
            vpc_id: e.vpc_id.clone(),
            zone_affinity_enabled: e.zone_affinity_enabled,
        }
    }
}

/// The attributes Get and List add.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointDetail {
    #[serde(flatten)]
    attributes: EndpointAttributes,
    endpoint_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_document: Option<String>,
    protected_enabled: bool,
    region_id: String,
    resource_group_id: String,
    resource_owner: bool,
}

impl EndpointDetail {
    fn of(d: &Draft, e: &VpcEndpoint) -> Self {
        Self {
            attributes: EndpointAttributes::of(d, e),
            endpoint_type: e.endpoint_type.as_str(),
            // The cloud's services show the default policy (full access,
            // POL-2) while none is set.
            policy_document: e.policy_document.clone().or_else(|| {
                is_cloud_service(d, &e.service_id).then(|| DEFAULT_POLICY_DOCUMENT.to_string())
            }),
            protected_enabled: e.protected_enabled,
            region_id: e.meta.region_id.clone(),
            resource_group_id: e.meta.resource_group_id.clone(),
            resource_owner: false,
        }
    }
}

impl Action for CreateVpcEndpoint {
    const NAME: &'static str = "CreateVpcEndpoint";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates an interface endpoint in a VPC to an endpoint service the caller is whitelisted for, one ENI per zone (given ip or allocated); the connection is Connected at once if the service auto-accepts, else Disconnected with its zones Wait.";
    type Response = EndpointAttributes;

    fn run(self, d: &mut Draft) -> Result<EndpointAttributes, ApiError> {
        match given(&self.endpoint_type) {
            None | Some("Interface") => {}
            Some("Reverse") | Some("GatewayLoadBalancer") => {
                return Err(ApiError::unsupported("EndpointType"));
            }
            Some(x) => return Err(illegal("EndpointType", format!("{x:?} is not Interface"))),
        }
        ipv4_only(&self.address_ip_version)?;
        refuse_on("ProtectedEnabled", self.protected_enabled)?;
        match self.zone_private_ip_address_count {
            None | Some(1) => {}
            Some(_) => return Err(ApiError::unsupported("ZonePrivateIpAddressCount")),
        }
        if given(&self.service_region_id).is_some_and(|r| r != d.region()) {
            return Err(ApiError::unsupported("ServiceRegionId"));
        }
        if self.vpc_id.is_empty() {
            return Err(ApiError::missing("VpcId"));
        }
        let vi = d.vpc_index(&self.vpc_id)?;
        let si = service_for_consumer(d, &self.service_id, &self.service_name)?;
        if self.security_group_id.is_empty() {
            return Err(ApiError::missing("SecurityGroupId"));
        }
        security_groups(d, &self.vpc_id, &self.security_group_id, &[])?;
        if self.zone.is_empty() {
            return Err(ApiError::missing("Zone"));
        }
        let s = &d.model.endpoint_services[si];
        let policy_document = policy_for(s.cloud_service.is_some(), &self.policy_document)?;
        let szones = service_zones(d, &s.id);
        let mut zones: Vec<EndpointZone> = Vec::new();
        let mut chosen = BTreeSet::new();
        for (n, z) in self.zone.iter().enumerate() {
            let at = format!("Zone.{}.", n + 1);
            let made = zone(
                d,
                &at,
                &self.vpc_id,
                &szones,
                &z.v_switch_id,
                &z.zone_id,
                given(&z.ip),
                &zones,
                &chosen,
            )?;
            chosen.insert(made.eni_ip);
            zones.push(made);
        }
        // CONN-1, CONN-3, EPS-4: the request is accepted at once or waits.
        let connected = s.auto_accept_enabled;
        for z in &mut zones {
            z.status = if connected {
                EndpointZoneStatus::Connected
            } else {
                EndpointZoneStatus::Wait
            };
        }
        let mut meta = d.new_meta(given(&self.endpoint_description));
        meta.region_id = d.model.vpcs[vi].meta.region_id.clone();
        meta.tags = tag::from_params(&self.tag)?;
        let e = VpcEndpoint {
            id: new_id("ep"),
            name: self.endpoint_name.filter(|n| !n.is_empty()),
            endpoint_type: EndpointType::Interface,
            vpc_id: self.vpc_id,
            service_id: s.id.clone(),
            service_name: s.name.clone(),
            security_group_ids: self.security_group_id,
            zones,
            status: EndpointStatus::Active,
            connection_status: if connected {
                ConnectionStatus::Connected
            } else {
                ConnectionStatus::Disconnected
            },
            bandwidth: s.connect_bandwidth,
            policy_document,
            zone_affinity_enabled: self
                .zone_affinity_enabled
                .unwrap_or(s.zone_affinity_enabled),
            protected_enabled: false,
            source_ip: None,
            meta,
        };
        let out = EndpointAttributes::of(d, &e);
        d.model.vpc_endpoints.push(e);
        Ok(out)
    }
}

/// GetVpcEndpointAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetVpcEndpointAttribute {
    #[serde(default)]
    endpoint_id: String,
}

/// GetVpcEndpointAttribute's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetVpcEndpointAttributeResponse {
    #[serde(flatten)]
    detail: EndpointDetail,
    payer: &'static str,
    zone_private_ip_address_count: u32,
}

impl Action for GetVpcEndpointAttribute {
    const NAME: &'static str = "GetVpcEndpointAttribute";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Shows one of the caller's endpoints: status, connection status, domain, service, bandwidth.";
    type Response = GetVpcEndpointAttributeResponse;

    fn run(self, d: &mut Draft) -> Result<Self::Response, ApiError> {
        let e = &d.model.vpc_endpoints[own_endpoint(d, &self.endpoint_id)?];
        Ok(GetVpcEndpointAttributeResponse {
            detail: EndpointDetail::of(d, e),
            payer: "Endpoint",
            zone_private_ip_address_count: 1,
        })
    }
}

/// ListVpcEndpoints.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpoints {
    endpoint_id: Option<String>,
    endpoint_name: Option<String>,
    endpoint_status: Option<String>,
    endpoint_type: Option<String>,
    connection_status: Option<String>,
    vpc_id: Option<String>,
    service_name: Option<String>,
    service_region_id: Option<String>,
    address_ip_version: Option<String>,
    /// Tag.N (TAG-3): endpoints with every tag given.
    #[serde(default)]
    tag: Vec<TagParam>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// One endpoint in ListVpcEndpoints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedEndpoint {
    #[serde(flatten)]
    detail: EndpointDetail,
    tags: Vec<KeyValue>,
}

/// ListVpcEndpoints' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointsResponse {
    endpoints: Vec<ListedEndpoint>,
    max_results: u32,
    next_token: String,
    total_count: usize,
}

impl Action for ListVpcEndpoints {
    const NAME: &'static str = "ListVpcEndpoints";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the caller's endpoints by id, name, status, connection status, VPC, service, resource group, tags (TAG-3); paged by MaxResults and NextToken.";
    type Response = ListVpcEndpointsResponse;

    fn run(self, d: &mut Draft) -> Result<Self::Response, ApiError> {
        let ci = |f: &Option<String>, v: &str| given(f).is_none_or(|x| x.eq_ignore_ascii_case(v));
        let items: Vec<(String, &VpcEndpoint)> = d
            .model
            .vpc_endpoints
            .iter()
            .filter(|e| {
                d.in_view(&e.meta)
                    && eq_or_any(&self.endpoint_id, &e.id)
                    && given(&self.endpoint_name).is_none_or(|n| e.name.as_deref() == Some(n))
                    && ci(&self.endpoint_status, e.status.as_str())
                    && ci(&self.endpoint_type, e.endpoint_type.as_str())
                    && ci(&self.connection_status, e.connection_status.as_str())
                    && eq_or_any(&self.vpc_id, &e.vpc_id)
                    && eq_or_any(&self.service_name, &e.service_name)
                    && eq_or_any(&self.service_region_id, &e.meta.region_id)
                    && ci(&self.address_ip_version, "IPv4")
                    && tag::matches(&e.meta.tags, &self.tag)
            })
            .map(|e| (e.id.clone(), e))
            .collect();
        let (items, next_token, total_count) =
            page("ep", items, self.max_results, &self.next_token)?;
        Ok(ListVpcEndpointsResponse {
            endpoints: items
                .into_iter()
                .map(|e| ListedEndpoint {
                    detail: EndpointDetail::of(d, e),
                    tags: key_values(&e.meta.tags),
                })
                .collect(),
            max_results: self.max_results.unwrap_or(super::DEFAULT_PAGE),
            next_token,
            total_count,
        })
    }
}

/// UpdateVpcEndpointAttribute (EP-6).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateVpcEndpointAttribute {
    #[serde(default)]
    endpoint_id: String,
    endpoint_name: Option<String>,
    endpoint_description: Option<String>,
    zone_affinity_enabled: Option<bool>,
    policy_document: Option<String>,
    /// ResetPolicy: back to the default (full access): what an endpoint
    /// without a policy has already.
    reset_policy: Option<bool>,
    address_ip_version: Option<String>,
    #[serde(rename = "CrossRegionBandwidth")]
    _cross_region_bandwidth: Option<Unsupported>,
}

impl Action for UpdateVpcEndpointAttribute {
    const NAME: &'static str = "UpdateVpcEndpointAttribute";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Changes an endpoint's name, description, zone affinity (EP-6) and, for the cloud's services, its access policy (POL-4).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        ipv4_only(&self.address_ip_version)?;
        let ei = own_endpoint(d, &self.endpoint_id)?;
        let cloud = is_cloud_service(d, &d.model.vpc_endpoints[ei].service_id);
        let policy = policy_for(cloud, &self.policy_document)?;
        let e = &mut d.model.vpc_endpoints[ei];
        if let Some(doc) = policy {
            e.policy_document = Some(doc);
        }
        if let Some(n) = self.endpoint_name {
            e.name = Some(n).filter(|n| !n.is_empty());
        }
        if let Some(t) = self.endpoint_description {
            e.meta.description = t;
        }
        if let Some(z) = self.zone_affinity_enabled {
            e.zone_affinity_enabled = z;
        }
        if self.reset_policy == Some(true) {
            e.policy_document = None;
        }
        Ok(Empty {})
    }
}

/// DeleteVpcEndpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteVpcEndpoint {
    #[serde(default)]
    endpoint_id: String,
}

impl Action for DeleteVpcEndpoint {
    const NAME: &'static str = "DeleteVpcEndpoint";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Deletes an endpoint with its ENIs, connection and tags (EP-6, TAG-3).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let ei = own_endpoint(d, &self.endpoint_id)?;
        d.model.vpc_endpoints.remove(ei);
        Ok(Empty {})
    }
}

/// The endpoint's connection must not be ServiceDeleted for its zones to
/// change.
fn service_alive(e: &VpcEndpoint) -> Result<(), ApiError> {
    if e.connection_status == ConnectionStatus::ServiceDeleted {
        return Err(endpoint_denied(format!(
            "The service of the endpoint {} was deleted (ServiceDeleted): delete the endpoint.",
            e.id
        )));
    }
    Ok(())
}

/// AddZoneToVpcEndpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddZoneToVpcEndpoint {
    #[serde(default)]
    endpoint_id: String,
    #[serde(default, rename = "VSwitchId")]
    v_switch_id: String,
    #[serde(default)]
    zone_id: String,
    #[serde(rename = "ip")]
    ip: Option<String>,
    #[serde(rename = "Ipv6Address")]
    _ipv6_address: Option<Unsupported>,
}

impl Action for AddZoneToVpcEndpoint {
    const NAME: &'static str = "AddZoneToVpcEndpoint";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Adds a zone (a vSwitch of the endpoint's VPC, one where the service has a resource) to an endpoint, with an ENI; Connected if the connection is.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let ei = own_endpoint(d, &self.endpoint_id)?;
        let e = &d.model.vpc_endpoints[ei];
        service_alive(e)?;
        let szones = service_zones(d, &e.service_id);
        let mut z = zone(
            d,
            "",
            &e.vpc_id,
            &szones,
            &self.v_switch_id,
            &self.zone_id,
            given(&self.ip),
            &e.zones,
            &BTreeSet::new(),
        )?;
        if e.connection_status == ConnectionStatus::Connected {
            z.status = EndpointZoneStatus::Connected;
        }
        d.model.vpc_endpoints[ei].zones.push(z);
        Ok(Empty {})
    }
}

/// RemoveZoneFromVpcEndpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveZoneFromVpcEndpoint {
    #[serde(default)]
    endpoint_id: String,
    #[serde(default)]
    zone_id: String,
}

impl Action for RemoveZoneFromVpcEndpoint {
    const NAME: &'static str = "RemoveZoneFromVpcEndpoint";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Removes a zone (and its ENI) from an endpoint; its last zone stays.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        if self.zone_id.is_empty() {
            return Err(ApiError::missing("ZoneId"));
        }
        let ei = own_endpoint(d, &self.endpoint_id)?;
        let e = &mut d.model.vpc_endpoints[ei];
        let Some(at) = e.zones.iter().position(|z| z.zone_id == self.zone_id) else {
            return Err(ApiError::bad(
                "EndpointZoneNotFound",
                format!("The endpoint {} has no zone {}.", e.id, self.zone_id),
            ));
        };
        if e.zones.len() == 1 {
            return Err(endpoint_denied(format!(
                "The zone {} is the last of the endpoint {}: delete the endpoint instead.",
                self.zone_id, e.id
            )));
        }
        e.zones.remove(at);
        Ok(Empty {})
    }
}

/// ListVpcEndpointZones.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointZones {
    #[serde(default)]
    endpoint_id: String,
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// One zone in ListVpcEndpointZones.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedZone {
    eni_id: String,
    eni_ip: String,
    region_id: String,
    #[serde(rename = "VSwitchId")]
    v_switch_id: String,
    zone_domain: String,
    zone_id: String,
    zone_status: &'static str,
}

/// ListVpcEndpointZones' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointZonesResponse {
    zones: Vec<ListedZone>,
    max_results: u32,
    next_token: String,
    total_count: usize,
}

impl Action for ListVpcEndpointZones {
    const NAME: &'static str = "ListVpcEndpointZones";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the zones of one of the caller's endpoints: vSwitch, ENI and its address, zone domain, zone status.";
    type Response = ListVpcEndpointZonesResponse;

    fn run(self, d: &mut Draft) -> Result<Self::Response, ApiError> {
        let e = &d.model.vpc_endpoints[own_endpoint(d, &self.endpoint_id)?];
        let domain = service_domain(&d.model, e);
        let items: Vec<(String, ListedZone)> = e
            .zones
            .iter()
            .map(|z| {
                (
                    z.zone_id.clone(),
                    ListedZone {
                        eni_id: z.eni_id.clone(),
                        eni_ip: z.eni_ip.to_string(),
                        region_id: e.meta.region_id.clone(),
                        v_switch_id: z.vswitch_id.clone(),
                        zone_domain: e.zone_domain(&z.zone_id, &domain),
                        zone_id: z.zone_id.clone(),
                        zone_status: z.status.as_str(),
                    },
                )
            })
            .collect();
        let (zones, next_token, total_count) =
            page("epzone", items, self.max_results, &self.next_token)?;
        Ok(ListVpcEndpointZonesResponse {
            zones,
            max_results: self.max_results.unwrap_or(super::DEFAULT_PAGE),
            next_token,
            total_count,
        })
    }
}

/// AttachSecurityGroupToVpcEndpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachSecurityGroupToVpcEndpoint {
    #[serde(default)]
    endpoint_id: String,
    #[serde(default)]
    security_group_id: String,
}

impl Action for AttachSecurityGroupToVpcEndpoint {
    const NAME: &'static str = "AttachSecurityGroupToVpcEndpoint";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Puts an endpoint in a security group of its VPC (at most five, SG-4): its rules filter what reaches the endpoint's ENIs.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        if self.security_group_id.is_empty() {
            return Err(ApiError::missing("SecurityGroupId"));
        }
        let ei = own_endpoint(d, &self.endpoint_id)?;
        let e = &d.model.vpc_endpoints[ei];
        security_groups(
            d,
            &e.vpc_id,
            std::slice::from_ref(&self.security_group_id),
            &e.security_group_ids,
        )?;
        d.model.vpc_endpoints[ei]
            .security_group_ids
            .push(self.security_group_id);
        Ok(Empty {})
    }
}

/// DetachSecurityGroupFromVpcEndpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetachSecurityGroupFromVpcEndpoint {
    #[serde(default)]
    endpoint_id: String,
    #[serde(default)]
    security_group_id: String,
}

impl Action for DetachSecurityGroupFromVpcEndpoint {
    const NAME: &'static str = "DetachSecurityGroupFromVpcEndpoint";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Takes an endpoint out of a security group; its last group stays.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        if self.security_group_id.is_empty() {
            return Err(ApiError::missing("SecurityGroupId"));
        }
        let ei = own_endpoint(d, &self.endpoint_id)?;
        let e = &mut d.model.vpc_endpoints[ei];
        let Some(at) = e
            .security_group_ids
            .iter()
            .position(|g| *g == self.security_group_id)
        else {
            return Err(ApiError::bad(
                "SecurityGroupNotAttached",
                format!(
                    "The endpoint {} is not in the security group {}.",
                    e.id, self.security_group_id
                ),
            ));
        };
        if e.security_group_ids.len() == 1 {
            return Err(endpoint_denied(format!(
                "The security group {} is the last of the endpoint {}: an interface endpoint is in at least one.",
                self.security_group_id, e.id
            )));
        }
        e.security_group_ids.remove(at);
        Ok(Empty {})
    }
}

/// ListVpcEndpointSecurityGroups.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointSecurityGroups {
    #[serde(default)]
    endpoint_id: String,
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// One group in ListVpcEndpointSecurityGroups.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedGroup {
    security_group_id: String,
    security_group_status: &'static str,
}

/// ListVpcEndpointSecurityGroups' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointSecurityGroupsResponse {
    security_groups: Vec<ListedGroup>,
    max_results: u32,
    next_token: String,
    total_count: usize,
}

impl Action for ListVpcEndpointSecurityGroups {
    const NAME: &'static str = "ListVpcEndpointSecurityGroups";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the security groups of one of the caller's endpoints.";
    type Response = ListVpcEndpointSecurityGroupsResponse;

    fn run(self, d: &mut Draft) -> Result<Self::Response, ApiError> {
        let e = &d.model.vpc_endpoints[own_endpoint(d, &self.endpoint_id)?];
        let items: Vec<(String, ListedGroup)> = e
            .security_group_ids
            .iter()
            .map(|g| {
                (
                    g.clone(),
                    ListedGroup {
                        security_group_id: g.clone(),
                        security_group_status: "Attached",
                    },
                )
            })
            .collect();
        let (security_groups, next_token, total_count) =
            page("epsg", items, self.max_results, &self.next_token)?;
        Ok(ListVpcEndpointSecurityGroupsResponse {
            security_groups,
            max_results: self.max_results.unwrap_or(super::DEFAULT_PAGE),
            next_token,
            total_count,
        })
    }
}
