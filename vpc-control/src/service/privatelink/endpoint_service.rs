//! Endpoint services, the provider's side (EPS-1..4):
//! CreateVpcEndpointService, GetVpcEndpointServiceAttribute,
//! ListVpcEndpointServices, UpdateVpcEndpointServiceAttribute,
//! DeleteVpcEndpointService, Attach/DetachResourceToVpcEndpointService,
//! ListVpcEndpointServiceResources, the whitelist
//! (Add/RemoveUserToVpcEndpointService, ListVpcEndpointServiceUsers) and
//! the consumer's ListVpcEndpointServicesByEndUser.
use serde::{Deserialize, Serialize};

use super::{
    bandwidth, count_text, eq_or_any, illegal, ipv4_only, own_service, page, refuse_on,
    service_not_found, visible,
};
use crate::{
    api::{ApiError, Product, form::Unsupported, new_id},
    model::{
        ConnectionStatus, EndpointService, EndpointServiceStatus, EndpointZoneStatus,
        ServiceResource, ServiceResourceType,
    },
    service::{
        Action, Draft, Empty,
        params::given,
        tag::{self, TagParam},
    },
};

/// Most resources one service has.
const MAX_RESOURCES: usize = 20;

/// ServiceResourceType / ResourceType: `nlb` only; the cloud's others
/// (slb, alb, gwlb, vpc) are refused as not supported.
fn resource_type(name: &str, v: &Option<String>) -> Result<ServiceResourceType, ApiError> {
    match given(v) {
        None => Ok(ServiceResourceType::Nlb),
        Some(x) if x.eq_ignore_ascii_case("nlb") => Ok(ServiceResourceType::Nlb),
        Some(x)
            if ["slb", "alb", "gwlb", "vpc"]
                .iter()
                .any(|t| x.eq_ignore_ascii_case(t)) =>
        {
            Err(ApiError::unsupported(name))
        }
        Some(x) => Err(illegal(name, format!("{x:?} is not nlb, slb, alb or gwlb"))),
    }
}

/// A service resource checked: a network load balancer of the caller with
/// a zone `zone_id`.
fn resource(
    d: &Draft,
    at: &str,
    id: &str,
    kind: &Option<String>,
    zone_id: &str,
) -> Result<ServiceResource, ApiError> {
    let resource_type = resource_type(&format!("{at}ResourceType"), kind)?;
    if id.is_empty() {
        return Err(ApiError::missing(&format!("{at}ResourceId")));
    }
    if zone_id.is_empty() {
        return Err(ApiError::missing(&format!("{at}ZoneId")));
    }
    let lb = d
        .model
        .load_balancers
        .iter()
        .find(|l| l.id == id && d.caller.owns(&l.meta.owner_id))
        .ok_or_else(|| {
            ApiError::bad(
                "NlbNotFound",
                format!("The specified network load balancer {id} does not exist."),
            )
        })?;
    if lb.zone(zone_id).is_none() {
        return Err(illegal(
            &format!("{at}ZoneId"),
            format!("the load balancer {id} has no zone {zone_id}"),
        ));
    }
    Ok(ServiceResource {
        resource_id: id.to_string(),
        resource_type,
        zone_id: zone_id.to_string(),
    })
}

/// One `Resource.N` of CreateVpcEndpointService.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceParam {
    #[serde(default)]
    resource_id: String,
    resource_type: Option<String>,
    #[serde(default)]
    zone_id: String,
}

/// CreateVpcEndpointService.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateVpcEndpointService {
    /// Resource.N: load balancers of the caller, each in one of its zones.
    #[serde(default)]
    resource: Vec<ResourceParam>,
    /// ServiceResourceType: nlb.
    service_resource_type: Option<String>,
    /// AutoAcceptEnabled (EPS-4; default false).
    auto_accept_enabled: Option<bool>,
    /// ZoneAffinityEnabled (default false).
    zone_affinity_enabled: Option<bool>,
    /// ServiceDescription.
    service_description: Option<String>,
    /// Payer: Endpoint (the consumer pays); EndpointService is refused.
    payer: Option<String>,
    /// AddressIpVersion: IPv4.
    address_ip_version: Option<String>,
    /// ServiceSupportIPv6: false.
    #[serde(rename = "ServiceSupportIPv6")]
    service_support_ipv6: Option<bool>,
    /// SupportedRegionList: cross-region services are not served.
    #[serde(rename = "SupportedRegionList")]
    _supported_region_list: Option<Unsupported>,
    /// Tag.N.
    #[serde(default)]
    tag: Vec<TagParam>,
}

/// One SupportedRegionSet entry: the service's own region.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SupportedRegion {
    region_business_status: &'static str,
    region_service_status: &'static str,
    service_region_id: String,
    supported_region_id: String,
}

/// The attributes Create, Get and List answer for a service.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceAttributes {
    address_ip_version: &'static str,
    auto_accept_enabled: bool,
    create_time: String,
    resource_group_id: String,
    service_business_status: &'static str,
    service_description: String,
    service_domain: String,
    service_id: String,
    service_name: String,
    service_status: &'static str,
    #[serde(rename = "ServiceSupportIPv6")]
    service_support_ipv6: bool,
    supported_region_set: Vec<SupportedRegion>,
    zone_affinity_enabled: bool,
}

impl ServiceAttributes {
    fn of(s: &EndpointService) -> Self {
        Self {
            address_ip_version: "IPv4",
            auto_accept_enabled: s.auto_accept_enabled,
            create_time: s.meta.creation_time.clone(),
            resource_group_id: s.meta.resource_group_id.clone(),
            service_business_status: "Normal",
            service_description: s.meta.description.clone(),
            service_domain: s.domain(),
            service_id: s.id.clone(),
            service_name: s.name.clone(),
            service_status: s.status.as_str(),
            service_support_ipv6: false,
            supported_region_set: vec![SupportedRegion {
                region_business_status: "Normal",
                region_service_status: "Active",
                service_region_id: s.meta.region_id.clone(),
                supported_region_id: s.meta.region_id.clone(),
            }],
            zone_affinity_enabled: s.zone_affinity_enabled,
        }
    }
}

/// The attributes Get and List add (ServiceDetail).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceDetail {
    #[serde(flatten)]
    attributes: ServiceAttributes,
    connect_bandwidth: u32,
    max_bandwidth: u32,
    min_bandwidth: u32,
    payer: &'static str,
    region_id: String,
    service_resource_type: &'static str,
    service_type: &'static str,
}

impl ServiceDetail {
    fn of(s: &EndpointService) -> Self {
        Self {
            attributes: ServiceAttributes::of(s),
            connect_bandwidth: s.connect_bandwidth,
            max_bandwidth: *super::BANDWIDTH.end(),
            min_bandwidth: *super::BANDWIDTH.start(),
            payer: "Endpoint",
            region_id: s.meta.region_id.clone(),
            service_resource_type: s.resource_type.as_str(),
            service_type: "Interface",
        }
    }
}

/// A tag as the PrivateLink lists answer it (`{Key, Value}`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyValue {
    key: String,
    value: String,
}

/// A resource's tags for a PrivateLink list.
pub(super) fn key_values(tags: &[crate::model::Tag]) -> Vec<KeyValue> {
    tags.iter()
        .map(|t| KeyValue {
            key: t.key.clone(),
            value: t.value.clone(),
        })
        .collect()
}

impl Action for CreateVpcEndpointService {
    const NAME: &'static str = "CreateVpcEndpointService";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates an endpoint service of the caller's network load balancers, each in one of its zones (Active at once); the owner's account is on its whitelist.";
    type Response = ServiceAttributes;

    fn run(self, d: &mut Draft) -> Result<ServiceAttributes, ApiError> {
        let kind = resource_type("ServiceResourceType", &self.service_resource_type)?;
        ipv4_only(&self.address_ip_version)?;
        refuse_on("ServiceSupportIPv6", self.service_support_ipv6)?;
        match given(&self.payer) {
            None | Some("Endpoint") => {}
            Some("EndpointService") => return Err(ApiError::unsupported("Payer")),
            Some(p) => {
                return Err(illegal(
                    "Payer",
                    format!("{p:?} is not Endpoint or EndpointService"),
                ));
            }
        }
        if self.resource.len() > MAX_RESOURCES {
            return Err(illegal(
                "Resource",
                format!("at most {MAX_RESOURCES} resources"),
            ));
        }
        let mut resources: Vec<ServiceResource> = Vec::new();
        for (n, r) in self.resource.iter().enumerate() {
            let at = format!("Resource.{}.", n + 1);
            let res = resource(d, &at, &r.resource_id, &r.resource_type, &r.zone_id)?;
            if resources.contains(&res) {
                return Err(illegal(
                    &format!("{at}ResourceId"),
                    "the resource is given twice in that zone",
                ));
            }
            resources.push(res);
        }
        let id = new_id("epsrv");
        let mut meta = d.new_meta(given(&self.service_description));
        meta.tags = tag::from_params(&self.tag)?;
        let s = EndpointService {
            name: format!("com.aliyuncs.privatelink.{}.{id}", meta.region_id),
            id,
            resource_type: kind,
            resources,
            auto_accept_enabled: self.auto_accept_enabled.unwrap_or(false),
            zone_affinity_enabled: self.zone_affinity_enabled.unwrap_or(false),
            users: Vec::new(),
            status: EndpointServiceStatus::Active,
            connect_bandwidth: 3072,
            cloud_service: None,
            meta,
        };
        let out = ServiceAttributes::of(&s);
        d.model.endpoint_services.push(s);
        Ok(out)
    }
}

/// GetVpcEndpointServiceAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetVpcEndpointServiceAttribute {
    #[serde(default)]
    service_id: String,
}

/// GetVpcEndpointServiceAttribute's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetVpcEndpointServiceAttributeResponse {
    #[serde(flatten)]
    detail: ServiceDetail,
    zones: Vec<String>,
}

/// The zones a service has resources in, each once.
fn zones_of(d: &Draft, s: &EndpointService) -> Vec<String> {
    if s.cloud_service.is_some() {
        // The cloud's service is in every zone of its region.
        return d.zones(&s.meta.region_id);
    }
    let mut zones: Vec<String> = Vec::new();
    for r in &s.resources {
        if !zones.contains(&r.zone_id) {
            zones.push(r.zone_id.clone());
        }
    }
    zones
}

impl Action for GetVpcEndpointServiceAttribute {
    const NAME: &'static str = "GetVpcEndpointServiceAttribute";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Shows one of the caller's endpoint services: status, name and domain, acceptance, zones.";
    type Response = GetVpcEndpointServiceAttributeResponse;

    fn run(self, d: &mut Draft) -> Result<Self::Response, ApiError> {
        let s = &d.model.endpoint_services[own_service(d, &self.service_id)?];
        Ok(GetVpcEndpointServiceAttributeResponse {
            detail: ServiceDetail::of(s),
            zones: zones_of(d, s),
        })
    }
}

/// ListVpcEndpointServices (the provider's own services).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointServices {
    service_id: Option<String>,
    service_name: Option<String>,
    service_status: Option<String>,
    service_business_status: Option<String>,
    service_resource_type: Option<String>,
    resource_id: Option<String>,
    auto_accept_enabled: Option<bool>,
    zone_affinity_enabled: Option<bool>,
    address_ip_version: Option<String>,
    #[serde(default)]
    tag: Vec<TagParam>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// One service in ListVpcEndpointServices.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedService {
    #[serde(flatten)]
    detail: ServiceDetail,
    tags: Vec<KeyValue>,
}

/// ListVpcEndpointServices' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointServicesResponse {
    services: Vec<ListedService>,
    max_results: u32,
    next_token: String,
    total_count: usize,
}

impl Action for ListVpcEndpointServices {
    const NAME: &'static str = "ListVpcEndpointServices";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the caller's endpoint services by id, name, status, resource, acceptance, zone affinity, resource group, tags; paged by MaxResults and NextToken.";
    type Response = ListVpcEndpointServicesResponse;

    fn run(self, d: &mut Draft) -> Result<Self::Response, ApiError> {
        let ci = |f: &Option<String>, v: &str| given(f).is_none_or(|x| x.eq_ignore_ascii_case(v));
        let items: Vec<(String, &EndpointService)> = d
            .model
            .endpoint_services
            .iter()
            .filter(|s| {
                d.in_view(&s.meta)
                    && eq_or_any(&self.service_id, &s.id)
                    && eq_or_any(&self.service_name, &s.name)
                    && ci(&self.service_status, s.status.as_str())
                    && ci(&self.service_business_status, "Normal")
                    && ci(&self.service_resource_type, s.resource_type.as_str())
                    && ci(&self.address_ip_version, "IPv4")
                    && given(&self.resource_id)
                        .is_none_or(|r| s.resources.iter().any(|x| x.resource_id == r))
                    && self
                        .auto_accept_enabled
                        .is_none_or(|a| a == s.auto_accept_enabled)
                    && self
                        .zone_affinity_enabled
                        .is_none_or(|a| a == s.zone_affinity_enabled)
                    && tag::matches(&s.meta.tags, &self.tag)
            })
            .map(|s| (s.id.clone(), s))
            .collect();
        let (items, next_token, total_count) =
            page("epsrv", items, self.max_results, &self.next_token)?;
        Ok(ListVpcEndpointServicesResponse {
            services: items
                .into_iter()
                .map(|s| ListedService {
                    detail: ServiceDetail::of(s),
                    tags: key_values(&s.meta.tags),
                })
                .collect(),
            max_results: self.max_results.unwrap_or(super::DEFAULT_PAGE),
            next_token,
            total_count,
        })
    }
}

/// UpdateVpcEndpointServiceAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateVpcEndpointServiceAttribute {
    #[serde(default)]
    service_id: String,
    auto_accept_enabled: Option<bool>,
    zone_affinity_enabled: Option<bool>,
    service_description: Option<String>,
    /// ConnectBandwidth given to connections accepted from now on.
    connect_bandwidth: Option<u32>,
    address_ip_version: Option<String>,
    #[serde(rename = "ServiceSupportIPv6")]
    service_support_ipv6: Option<bool>,
    #[serde(rename = "AddSupportedRegionSet")]
    _add_supported_region_set: Option<Unsupported>,
    #[serde(rename = "DeleteSupportedRegionSet")]
    _delete_supported_region_set: Option<Unsupported>,
}

impl Action for UpdateVpcEndpointServiceAttribute {
    const NAME: &'static str = "UpdateVpcEndpointServiceAttribute";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Changes an endpoint service's description, automatic acceptance (for requests to come), zone affinity, connection bandwidth.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        ipv4_only(&self.address_ip_version)?;
        refuse_on("ServiceSupportIPv6", self.service_support_ipv6)?;
        let bw = bandwidth("ConnectBandwidth", self.connect_bandwidth)?;
        let si = own_service(d, &self.service_id)?;
        let s = &mut d.model.endpoint_services[si];
        if let Some(a) = self.auto_accept_enabled {
            s.auto_accept_enabled = a;
        }
        if let Some(z) = self.zone_affinity_enabled {
            s.zone_affinity_enabled = z;
        }
        if let Some(t) = self.service_description {
            s.meta.description = t;
        }
        if let Some(b) = bw {
            s.connect_bandwidth = b;
        }
        Ok(Empty {})
    }
}

/// DeleteVpcEndpointService.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteVpcEndpointService {
    #[serde(default)]
    service_id: String,
}

impl Action for DeleteVpcEndpointService {
    const NAME: &'static str = "DeleteVpcEndpointService";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes an endpoint service: the connections of its endpoints become ServiceDeleted (CONN-4) and carry no more traffic.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let si = own_service(d, &self.service_id)?;
        let id = d.model.endpoint_services.remove(si).id;
        for e in d
            .model
            .vpc_endpoints
            .iter_mut()
            .filter(|e| e.service_id == id)
        {
            e.connection_status = ConnectionStatus::ServiceDeleted;
            for z in &mut e.zones {
                z.status = EndpointZoneStatus::Disconnected;
            }
        }
        Ok(Empty {})
    }
}

/// AttachResourceToVpcEndpointService.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachResourceToVpcEndpointService {
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    resource_id: String,
    resource_type: Option<String>,
    #[serde(default)]
    zone_id: String,
}

impl Action for AttachResourceToVpcEndpointService {
    const NAME: &'static str = "AttachResourceToVpcEndpointService";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Adds a network load balancer of the caller, in one of its zones, to an endpoint service.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let si = own_service(d, &self.service_id)?;
        let r = resource(d, "", &self.resource_id, &self.resource_type, &self.zone_id)?;
        let s = &mut d.model.endpoint_services[si];
        if s.resources.contains(&r) {
            return Err(ApiError::bad(
                "EndpointServiceResourceAlreadyExists",
                format!(
                    "The resource {} in zone {} is already a resource of {}.",
                    r.resource_id, r.zone_id, s.id
                ),
            ));
        }
        if s.resources.len() >= MAX_RESOURCES {
            return Err(ApiError::bad(
                "QuotaExceeded.ServiceResource",
                format!("An endpoint service has at most {MAX_RESOURCES} resources."),
            ));
        }
        s.resources.push(r);
        Ok(Empty {})
    }
}

/// DetachResourceFromVpcEndpointService.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetachResourceFromVpcEndpointService {
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    resource_id: String,
    resource_type: Option<String>,
    zone_id: Option<String>,
}

impl Action for DetachResourceFromVpcEndpointService {
    const NAME: &'static str = "DetachResourceFromVpcEndpointService";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Removes a resource (in one zone, or in all) from an endpoint service; refused for a zone's last resource while an endpoint has that zone.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        resource_type("ResourceType", &self.resource_type)?;
        let si = own_service(d, &self.service_id)?;
        if self.resource_id.is_empty() {
            return Err(ApiError::missing("ResourceId"));
        }
        let s = &d.model.endpoint_services[si];
        let zone = given(&self.zone_id);
        let gone = |r: &ServiceResource| {
            r.resource_id == self.resource_id && zone.is_none_or(|z| z == r.zone_id)
        };
        if !s.resources.iter().any(gone) {
            return Err(ApiError::bad(
                "EndpointServiceResourceNotFound",
                format!(
                    "The resource {} is not a resource of {}.",
                    self.resource_id, s.id
                ),
            ));
        }
        let kept: Vec<ServiceResource> = s.resources.iter().filter(|r| !gone(r)).cloned().collect();
        for e in d
            .model
            .vpc_endpoints
            .iter()
            .filter(|e| e.service_id == s.id)
        {
            if let Some(z) = e
                .zones
                .iter()
                .find(|z| !kept.iter().any(|r| r.zone_id == z.zone_id))
            {
                return Err(ApiError::bad(
                    "DependencyViolation.EndpointZone",
                    format!(
                        "The endpoint {} has zone {} of the service, which would have no resource left: remove the zone first.",
                        e.id, z.zone_id
                    ),
                ));
            }
        }
        d.model.endpoint_services[si].resources = kept;
        Ok(Empty {})
    }
}

/// ListVpcEndpointServiceResources.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointServiceResources {
    #[serde(default)]
    service_id: String,
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// One resource in ListVpcEndpointServiceResources.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedResource {
    auto_allocated_enabled: bool,
    ip: String,
    region_id: String,
    related_deprecated_endpoint_count: u32,
    related_endpoint_count: usize,
    resource_id: String,
    #[serde(rename = "ResourceSupportIPv6")]
    resource_support_ipv6: bool,
    resource_type: &'static str,
    #[serde(rename = "VSwitchId")]
    v_switch_id: String,
    vpc_id: String,
    zone_id: String,
}

/// ListVpcEndpointServiceResources' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointServiceResourcesResponse {
    resources: Vec<ListedResource>,
    max_results: u32,
    next_token: String,
}

impl Action for ListVpcEndpointServiceResources {
    const NAME: &'static str = "ListVpcEndpointServiceResources";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the resources of one of the caller's endpoint services: load balancer, zone, its address and vSwitch there, endpoints using the zone.";
    type Response = ListVpcEndpointServiceResourcesResponse;

    fn run(self, d: &mut Draft) -> Result<Self::Response, ApiError> {
        let s = &d.model.endpoint_services[own_service(d, &self.service_id)?];
        let items: Vec<(String, ListedResource)> = s
            .resources
            .iter()
            .enumerate()
            .map(|(n, r)| {
                let lb = d.model.load_balancer(&r.resource_id);
                let zone = lb.and_then(|l| l.zone(&r.zone_id));
                let related = d
                    .model
                    .vpc_endpoints
                    .iter()
                    .filter(|e| {
                        e.service_id == s.id && e.zones.iter().any(|z| z.zone_id == r.zone_id)
                    })
                    .count();
                (
                    format!("{n:04}"),
                    ListedResource {
                        auto_allocated_enabled: false,
                        ip: zone.map(|z| z.private_ipv4.to_string()).unwrap_or_default(),
                        region_id: s.meta.region_id.clone(),
                        related_deprecated_endpoint_count: 0,
                        related_endpoint_count: related,
                        resource_id: r.resource_id.clone(),
                        resource_support_ipv6: false,
                        resource_type: r.resource_type.as_str(),
                        v_switch_id: zone.map(|z| z.vswitch_id.clone()).unwrap_or_default(),
                        vpc_id: lb.map(|l| l.vpc_id.clone()).unwrap_or_default(),
                        zone_id: r.zone_id.clone(),
                    },
                )
            })
            .collect();
        let (resources, next_token, _) =
            page("epsrvres", items, self.max_results, &self.next_token)?;
        Ok(ListVpcEndpointServiceResourcesResponse {
            resources,
            max_results: self.max_results.unwrap_or(super::DEFAULT_PAGE),
            next_token,
        })
    }
}

/// A whitelist entry: UserId, an account id (a number).
fn user_id(v: Option<u64>) -> Result<String, ApiError> {
    v.map(|u| u.to_string())
        .ok_or_else(|| ApiError::missing("UserId"))
}

/// AddUserToVpcEndpointService.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddUserToVpcEndpointService {
    #[serde(default)]
    service_id: String,
    user_id: Option<u64>,
    /// RAM principals (ARNs) are not served: accounts only.
    #[serde(rename = "UserARN")]
    _user_arn: Option<Unsupported>,
}

impl Action for AddUserToVpcEndpointService {
    const NAME: &'static str = "AddUserToVpcEndpointService";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Adds an account to an endpoint service's whitelist (EPS-2): it may then see the service and connect to it.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let user = user_id(self.user_id)?;
        let si = own_service(d, &self.service_id)?;
        let s = &mut d.model.endpoint_services[si];
        if s.meta.owner_id == user || s.users.contains(&user) {
            return Err(ApiError::bad(
                "EndpointServiceUserAlreadyExists",
                format!(
                    "The account {user} is already on the whitelist of {}.",
                    s.id
                ),
            ));
        }
        s.users.push(user);
        Ok(Empty {})
    }
}

/// RemoveUserFromVpcEndpointService.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveUserFromVpcEndpointService {
    #[serde(default)]
    service_id: String,
    user_id: Option<u64>,
    #[serde(rename = "UserARN")]
    _user_arn: Option<Unsupported>,
}

impl Action for RemoveUserFromVpcEndpointService {
    const NAME: &'static str = "RemoveUserFromVpcEndpointService";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Removes an account from an endpoint service's whitelist; its endpoints' connections to the service are cut (Disconnected).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let user = user_id(self.user_id)?;
        let si = own_service(d, &self.service_id)?;
        let s = &mut d.model.endpoint_services[si];
        if s.meta.owner_id == user {
            return Err(ApiError::bad(
                "EndpointServiceOperationDenied",
                "The owner's account is always on the whitelist of its service (EPS-2).",
            ));
        }
        let Some(at) = s.users.iter().position(|u| *u == user) else {
            return Err(ApiError::bad(
                "EndpointServiceUserNotFound",
                format!("The account {user} is not on the whitelist of {}.", s.id),
            ));
        };
        s.users.remove(at);
        let s = &d.model.endpoint_services[si];
        let (id, cut): (String, Vec<bool>) = (
            s.id.clone(),
            d.model
                .vpc_endpoints
                .iter()
                .map(|e| !s.allows(&e.meta.owner_id))
                .collect(),
        );
        for (e, cut) in d.model.vpc_endpoints.iter_mut().zip(cut) {
            if e.service_id == id && cut && e.connection_status == ConnectionStatus::Connected {
                e.connection_status = ConnectionStatus::Disconnected;
                for z in &mut e.zones {
                    z.status = EndpointZoneStatus::Disconnected;
                }
            }
        }
        Ok(Empty {})
    }
}

/// ListVpcEndpointServiceUsers.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointServiceUsers {
    #[serde(default)]
    service_id: String,
    user_id: Option<u64>,
    /// UserListType: Uid (accounts); Arn is not served.
    user_list_type: Option<String>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// One account of the whitelist.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    user_id: serde_json::Value,
}

/// ListVpcEndpointServiceUsers' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointServiceUsersResponse {
    users: Vec<User>,
    max_results: u32,
    next_token: String,
    total_count: String,
}

impl Action for ListVpcEndpointServiceUsers {
    const NAME: &'static str = "ListVpcEndpointServiceUsers";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the whitelist of one of the caller's endpoint services: the owner's account and those added.";
    type Response = ListVpcEndpointServiceUsersResponse;

    fn run(self, d: &mut Draft) -> Result<Self::Response, ApiError> {
        match given(&self.user_list_type) {
            None | Some("Uid") => {}
            Some("Arn") => return Err(ApiError::unsupported("UserListType")),
            Some(x) => return Err(illegal("UserListType", format!("{x:?} is not Uid or Arn"))),
        }
        let s = &d.model.endpoint_services[own_service(d, &self.service_id)?];
        let want = self.user_id.map(|u| u.to_string());
        let items: Vec<(String, User)> = std::iter::once(&s.meta.owner_id)
            .chain(&s.users)
            .filter(|u| want.as_ref().is_none_or(|w| w == *u))
            .map(|u| {
                let v = u
                    .parse::<u64>()
                    .map(serde_json::Value::from)
                    .unwrap_or_else(|_| serde_json::Value::from(u.clone()));
                (u.clone(), User { user_id: v })
            })
            .collect();
        let (users, next_token, total) =
            page("epsrvuser", items, self.max_results, &self.next_token)?;
        Ok(ListVpcEndpointServiceUsersResponse {
            users,
            max_results: self.max_results.unwrap_or(super::DEFAULT_PAGE),
            next_token,
            total_count: count_text(total),
        })
    }
}

/// ListVpcEndpointServicesByEndUser: the services the caller may connect
/// to (its own and those whose whitelist has it), Active ones.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointServicesByEndUser {
    service_id: Option<String>,
    service_name: Option<String>,
    /// ServiceType: Interface.
    service_type: Option<String>,
    /// ServiceRegionId: the call's region only (no cross-region services).
    service_region_id: Option<String>,
    #[serde(default)]
    tag: Vec<TagParam>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// One service in ListVpcEndpointServicesByEndUser.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndUserService {
    address_ip_version: &'static str,
    auto_accept_enabled: bool,
    payer: &'static str,
    resource_group_id: String,
    service_domain: String,
    service_id: String,
    service_name: String,
    service_resource_type: &'static str,
    #[serde(rename = "ServiceSupportIPv6")]
    service_support_ipv6: bool,
    service_type: &'static str,
    tags: Vec<KeyValue>,
    vpc_endpoint_policy_supported: bool,
    zone_affinity_enabled: bool,
    zones: Vec<String>,
}

/// ListVpcEndpointServicesByEndUser's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointServicesByEndUserResponse {
    services: Vec<EndUserService>,
    max_results: u32,
    next_token: String,
    total_count: String,
}

impl Action for ListVpcEndpointServicesByEndUser {
    const NAME: &'static str = "ListVpcEndpointServicesByEndUser";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the endpoint services the caller may connect to: its own and those whose whitelist has its account (EPS-2).";
    type Response = ListVpcEndpointServicesByEndUserResponse;

    fn run(self, d: &mut Draft) -> Result<Self::Response, ApiError> {
        match given(&self.service_type) {
            None | Some("Interface") => {}
            Some(x) => return Err(illegal("ServiceType", format!("{x:?} is not Interface"))),
        }
        let region = d.region().to_string();
        if given(&self.service_region_id).is_some_and(|r| r != region) {
            return Err(ApiError::unsupported("ServiceRegionId"));
        }
        // ResourceGroupId (a common parameter): the service's group.
        let group = d.common.resource_group_id.clone().filter(|g| !g.is_empty());
        let items: Vec<(String, &EndpointService)> = d
            .model
            .endpoint_services
            .iter()
            .filter(|s| {
                visible(d, s)
                    && s.status == EndpointServiceStatus::Active
                    && s.meta.region_id == region
                    && eq_or_any(&self.service_id, &s.id)
                    && eq_or_any(&self.service_name, &s.name)
                    && group
                        .as_ref()
                        .is_none_or(|g| *g == s.meta.resource_group_id)
                    && tag::matches(&s.meta.tags, &self.tag)
            })
            .map(|s| (s.id.clone(), s))
            .collect();
        let (items, next_token, total) =
            page("epsrvuser", items, self.max_results, &self.next_token)?;
        Ok(ListVpcEndpointServicesByEndUserResponse {
            services: items
                .into_iter()
                .map(|s| EndUserService {
                    address_ip_version: "IPv4",
                    auto_accept_enabled: s.auto_accept_enabled,
                    payer: "Endpoint",
                    resource_group_id: s.meta.resource_group_id.clone(),
                    service_domain: s.domain(),
                    service_id: s.id.clone(),
                    service_name: s.name.clone(),
                    service_resource_type: s.resource_type.as_str(),
                    service_support_ipv6: false,
                    service_type: "Interface",
                    tags: key_values(&s.meta.tags),
                    vpc_endpoint_policy_supported: s.cloud_service.is_some(),
                    zone_affinity_enabled: s.zone_affinity_enabled,
                    zones: zones_of(d, s),
                })
                .collect(),
            max_results: self.max_results.unwrap_or(super::DEFAULT_PAGE),
            next_token,
            total_count: count_text(total),
        })
    }
}

/// Whether the service `id` (any account's) exists and the caller may not
/// see it: for `Forbidden.NotInWhitelist`.
pub(super) fn hidden(d: &Draft, s: &EndpointService) -> bool {
    !visible(d, s)
}

/// The service a consumer names by ServiceId or ServiceName, if it may
/// connect to it (EPS-2) and it is Active (EPS-3).
pub(super) fn service_for_consumer(
    d: &Draft,
    service_id: &Option<String>,
    service_name: &Option<String>,
) -> Result<usize, ApiError> {
    let (by, key) = match (given(service_id), given(service_name)) {
        (Some(id), _) => ("ServiceId", id),
        (None, Some(name)) => ("ServiceName", name),
        (None, None) => return Err(ApiError::missing("ServiceId")),
    };
    let si = d
        .model
        .endpoint_services
        .iter()
        .position(|s| {
            if by == "ServiceId" {
                s.id == key
            } else {
                s.name == key
            }
        })
        .ok_or_else(|| service_not_found(key))?;
    let s = &d.model.endpoint_services[si];
    if given(service_name).is_some_and(|n| n != s.name) {
        return Err(illegal("ServiceName", format!("{key} is not named so")));
    }
    if hidden(d, s) {
        return Err(ApiError::new(
            403,
            "Forbidden.NotInWhitelist",
            format!(
                "The account {} is not on the whitelist of the endpoint service {key}.",
                d.caller.account_id
            ),
        ));
    }
    if s.status != EndpointServiceStatus::Active {
        return Err(ApiError::bad(
            "IncorrectStatus.EndpointService",
            format!(
                "The endpoint service {key} is {}, not Active.",
                s.status.as_str()
            ),
        ));
    }
    Ok(si)
}
