//! Gateway endpoints (VPC API 2016-04-28): ListVpcEndpointServicesByEndUser,
//! CreateVpcGatewayEndpoint, ListVpcGatewayEndpoints,
//! GetVpcGatewayEndpointAttribute, UpdateVpcGatewayEndpointAttribute,
//! AssociateRouteTablesWithVpcGatewayEndpoint,
//! DissociateRouteTablesFromVpcGatewayEndpoint, DeleteVpcGatewayEndpoint
//! (GWE-1..GWE-7).
//!
//! Associating a route table adds the custom entry {the service's system
//! prefix list -> the endpoint, NextHopType GatewayEndpoint} (GWE-2);
//! dissociating removes it, and only it (GWE-4). Changes are synchronous:
//! an endpoint is `Created` as soon as CreateVpcGatewayEndpoint answers, and
//! its tables are associated when Associate... answers.
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{
    Action, Draft, Empty,
    ipv4_gateway::token_page,
    params::{given, required},
    prefix_list::{TagItem, tag_items},
    tag,
};
use crate::{
    access_policy::{self, Policy, PolicyUse},
    api::{ApiError, Product, new_id},
    model::{
        AssociateType, CloudServices, GatewayEndpoint, NextHopType, PREFIX_LIST_DESTINATION,
        RouteEntry,
    },
};

/// The endpoint policy of an endpoint created without one (POL-2: full
/// access), as ListVpcEndpointServicesByEndUser shows it.
pub const DEFAULT_POLICY_DOCUMENT: &str = access_policy::ALLOW_ALL_DOCUMENT;

/// The endpoint services a gateway endpoint can reach in `region`: object
/// storage only (GWE-1).
fn services(region: &str) -> Vec<String> {
    vec![CloudServices::object_storage_service_name(region)]
}

/// Checks a PolicyDocument (POL-1) with the policy language's parser, as an
/// endpoint policy (its length limit; a statement without Principal applies
/// to everyone): `IllegalParam.PolicyDocument` with the parser's reason.
pub fn check_policy(doc: &str) -> Result<(), ApiError> {
    Policy::parse_for(doc, PolicyUse::Endpoint)
        .map(|_| ())
        .map_err(|e| {
            ApiError::bad(
                "IllegalParam.PolicyDocument",
                format!("The PolicyDocument is not a valid policy: {e}"),
            )
        })
}

/// Index of the caller's endpoint `id`, or `ResourceNotFound.GatewayEndpoint`.
fn endpoint_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .gateway_endpoints
        .iter()
        .position(|g| g.id == id && d.caller.owns(&g.meta.owner_id))
        .ok_or_else(|| {
            ApiError::not_found(
                "ResourceNotFound.GatewayEndpoint",
                format!("The specified gateway endpoint {id} does not exist."),
            )
        })
}

/// ListVpcEndpointServicesByEndUser (the VPC API's): the services a gateway
/// endpoint can reach.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointServicesByEndUser {
    /// Only this service.
    service_name: Option<String>,
    /// Entries per page, 1..=100 (default 10).
    max_results: Option<u32>,
    /// Where the page starts.
    next_token: Option<String>,
}

/// One service.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceItem {
    service_name: String,
    service_id: String,
    service_domain: String,
    default_policy_document: &'static str,
    support_policy: bool,
}

/// ListVpcEndpointServicesByEndUser's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointServicesByEndUserResponse {
    services: Vec<ServiceItem>,
    next_token: String,
    total_count: String,
    max_results: u32,
}

impl Action for ListVpcEndpointServicesByEndUser {
    const NAME: &'static str = "ListVpcEndpointServicesByEndUser";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the cloud services a gateway endpoint can reach (object storage) with their default policy (GWE-6).";
    type Response = ListVpcEndpointServicesByEndUserResponse;

    fn run(self, d: &mut Draft) -> Result<ListVpcEndpointServicesByEndUserResponse, ApiError> {
        let region = d.require_region()?.to_string();
        let items: Vec<(String, ServiceItem)> = services(&region)
            .into_iter()
            .filter(|s| given(&self.service_name).is_none_or(|x| x == s))
            .map(|s| {
                (
                    s.clone(),
                    ServiceItem {
                        service_id: format!("epsrv-{region}-oss"),
                        service_domain: format!("oss-{region}-internal.aliyuncs.com"),
                        service_name: s,
                        default_policy_document: DEFAULT_POLICY_DOCUMENT,
                        support_policy: true,
                    },
                )
            })
            .collect();
        let page = token_page(
            "endpointservice",
            items,
            self.max_results,
            self.next_token.as_deref(),
        )?;
        Ok(ListVpcEndpointServicesByEndUserResponse {
            services: page.items,
            next_token: page.next_token,
            total_count: page.total_count,
            max_results: self.max_results.unwrap_or(10),
        })
    }
}

/// CreateVpcGatewayEndpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateVpcGatewayEndpoint {
    /// The VPC.
    vpc_id: String,
    /// The service (ListVpcEndpointServicesByEndUser).
    service_name: String,
    /// EndpointName.
    endpoint_name: Option<String>,
    /// EndpointDescription.
    endpoint_description: Option<String>,
    /// The endpoint policy (default: full access, POL-2).
    policy_document: Option<String>,
    /// Tag.N.Key / Tag.N.Value.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
}

/// CreateVpcGatewayEndpoint's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateVpcGatewayEndpointResponse {
    endpoint_id: String,
    endpoint_name: String,
    service_name: String,
    creation_time: String,
    resource_group_id: String,
}

impl Action for CreateVpcGatewayEndpoint {
    const NAME: &'static str = "CreateVpcGatewayEndpoint";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates a gateway endpoint of a VPC to a cloud service (object storage), with an endpoint policy; one per service per VPC (GWE-1, GWE-3).";
    type Response = CreateVpcGatewayEndpointResponse;

    fn run(self, d: &mut Draft) -> Result<CreateVpcGatewayEndpointResponse, ApiError> {
        d.require_region()?;
        let vpc_id = required("VpcId", &self.vpc_id)?;
        let service = required("ServiceName", &self.service_name)?;
        let vi = d.vpc_index(vpc_id)?;
        let region = d.model.vpcs[vi].meta.region_id.clone();
        if !services(&region).iter().any(|s| s == service) {
            return Err(ApiError::not_found(
                "InvalidServiceName.NotFound",
                format!(
                    "The endpoint service {service} does not exist in region {region} (ListVpcEndpointServicesByEndUser lists them)."
                ),
            ));
        }
        if let Some(g) = d
            .model
            .gateway_endpoints
            .iter()
            .find(|g| g.vpc_id == vpc_id && g.service_name == service)
        {
            return Err(ApiError::bad(
                "ResourceAlreadyExist.GatewayEndpoint",
                format!(
                    "The VPC {vpc_id} already has gateway endpoint {} to {service}: a VPC has one gateway endpoint per service (GWE-3).",
                    g.id
                ),
            ));
        }
        if let Some(doc) = given(&self.policy_document) {
            check_policy(doc)?;
        }
        let mut meta = d.new_meta(self.endpoint_description.as_deref());
        meta.region_id = region;
        meta.tags = tag::from_params(&self.tag)?;
        let g = GatewayEndpoint {
            id: new_id("vpce"),
            vpc_id: vpc_id.to_string(),
            service_name: service.to_string(),
            name: given(&self.endpoint_name).map(str::to_string),
            policy_document: given(&self.policy_document).map(str::to_string),
            route_table_ids: Vec::new(),
            // Given by the commit's allocation (`allocate_numeric_ids`).
            source_ip: None,
            meta,
        };
        let response = CreateVpcGatewayEndpointResponse {
            endpoint_id: g.id.clone(),
            endpoint_name: g.name.clone().unwrap_or_default(),
            service_name: g.service_name.clone(),
            creation_time: g.meta.creation_time.clone(),
            resource_group_id: g.meta.resource_group_id.clone(),
        };
        d.model.gateway_endpoints.push(g);
        Ok(response)
    }
}

/// An endpoint's attributes, as Get and List answer them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointAttributes {
    endpoint_id: String,
    endpoint_name: String,
    endpoint_description: String,
    vpc_id: String,
    service_name: String,
    policy_document: String,
    /// Synchronous here: `Created` from the answer of the creation on.
    endpoint_status: &'static str,
    creation_time: String,
    resource_group_id: String,
    tags: Vec<TagItem>,
}

impl EndpointAttributes {
    fn of(g: &GatewayEndpoint) -> Self {
        Self {
            endpoint_id: g.id.clone(),
            endpoint_name: g.name.clone().unwrap_or_default(),
            endpoint_description: g.meta.description.clone(),
            vpc_id: g.vpc_id.clone(),
            service_name: g.service_name.clone(),
            policy_document: g
                .policy_document
                .clone()
                .unwrap_or_else(|| DEFAULT_POLICY_DOCUMENT.to_string()),
            endpoint_status: "Created",
            creation_time: g.meta.creation_time.clone(),
            resource_group_id: g.meta.resource_group_id.clone(),
            tags: tag_items(&g.meta.tags),
        }
    }
}

/// ListVpcGatewayEndpoints.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcGatewayEndpoints {
    /// Only this endpoint.
    endpoint_id: Option<String>,
    /// Only endpoints of this name.
    endpoint_name: Option<String>,
    /// Only endpoints to this service.
    service_name: Option<String>,
    /// Only endpoints of this VPC.
    vpc_id: Option<String>,
    /// Only endpoints with these tags (Tags.N.Key / Tags.N.Value).
    #[serde(default)]
    tags: Vec<tag::TagParam>,
    /// Entries per page, 1..=100 (default 10).
    max_results: Option<u32>,
    /// Where the page starts.
    next_token: Option<String>,
}

/// One endpoint in ListVpcGatewayEndpoints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointItem {
    #[serde(flatten)]
    attributes: EndpointAttributes,
    associated_route_tables: Vec<String>,
}

/// ListVpcGatewayEndpoints' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcGatewayEndpointsResponse {
    endpoints: Vec<EndpointItem>,
    next_token: String,
    total_count: usize,
    max_results: u32,
}

impl Action for ListVpcGatewayEndpoints {
    const NAME: &'static str = "ListVpcGatewayEndpoints";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists gateway endpoints by id, name, service, VPC, resource group, tags; paged by MaxResults and NextToken.";
    type Response = ListVpcGatewayEndpointsResponse;

    fn run(self, d: &mut Draft) -> Result<ListVpcGatewayEndpointsResponse, ApiError> {
        d.require_region()?;
        let items: Vec<(String, &GatewayEndpoint)> = d
            .model
            .gateway_endpoints
            .iter()
            .filter(|g| {
                d.in_view(&g.meta)
                    && given(&self.endpoint_id).is_none_or(|x| g.id == x)
                    && given(&self.endpoint_name).is_none_or(|x| g.name.as_deref() == Some(x))
                    && given(&self.service_name).is_none_or(|x| g.service_name == x)
                    && given(&self.vpc_id).is_none_or(|x| g.vpc_id == x)
                    && tag::matches(&g.meta.tags, &self.tags)
            })
            .map(|g| (g.id.clone(), g))
            .collect();
        let page = token_page(
            "gatewayendpoint",
            items,
            self.max_results,
            self.next_token.as_deref(),
        )?;
        Ok(ListVpcGatewayEndpointsResponse {
            endpoints: page
                .items
                .into_iter()
                .map(|g| EndpointItem {
                    attributes: EndpointAttributes::of(g),
                    associated_route_tables: g.route_table_ids.clone(),
                })
                .collect(),
            next_token: page.next_token,
            total_count: page.total_count.parse().unwrap_or_default(),
            max_results: self.max_results.unwrap_or(10),
        })
    }
}

/// GetVpcGatewayEndpointAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetVpcGatewayEndpointAttribute {
    /// The endpoint.
    endpoint_id: String,
}

/// GetVpcGatewayEndpointAttribute's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetVpcGatewayEndpointAttributeResponse {
    #[serde(flatten)]
    attributes: EndpointAttributes,
    route_tables: Vec<String>,
}

impl Action for GetVpcGatewayEndpointAttribute {
    const NAME: &'static str = "GetVpcGatewayEndpointAttribute";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Shows one gateway endpoint: VPC, service, policy, associated route tables, status.";
    type Response = GetVpcGatewayEndpointAttributeResponse;

    fn run(self, d: &mut Draft) -> Result<GetVpcGatewayEndpointAttributeResponse, ApiError> {
        d.require_region()?;
        let id = required("EndpointId", &self.endpoint_id)?;
        let g = &d.model.gateway_endpoints[endpoint_index(d, id)?];
        Ok(GetVpcGatewayEndpointAttributeResponse {
            attributes: EndpointAttributes::of(g),
            route_tables: g.route_table_ids.clone(),
        })
    }
}

/// UpdateVpcGatewayEndpointAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateVpcGatewayEndpointAttribute {
    /// The endpoint.
    endpoint_id: String,
    /// New name (empty: unchanged).
    endpoint_name: Option<String>,
    /// New description.
    endpoint_description: Option<String>,
    /// New endpoint policy (a bad one is refused, nothing changed).
    policy_document: Option<String>,
}

impl Action for UpdateVpcGatewayEndpointAttribute {
    const NAME: &'static str = "UpdateVpcGatewayEndpointAttribute";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Renames a gateway endpoint, changes its description or its endpoint policy (GWE-6, POL-1).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let id = required("EndpointId", &self.endpoint_id)?;
        let i = endpoint_index(d, id)?;
        if let Some(doc) = given(&self.policy_document) {
            check_policy(doc)?;
        }
        let g = &mut d.model.gateway_endpoints[i];
        if let Some(n) = given(&self.endpoint_name) {
            g.name = Some(n.to_string());
        }
        if let Some(desc) = self.endpoint_description {
            g.meta.description = desc;
        }
        if let Some(doc) = given(&self.policy_document) {
            g.policy_document = Some(doc.to_string());
        }
        Ok(Empty {})
    }
}

/// AssociateRouteTablesWithVpcGatewayEndpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateRouteTablesWithVpcGatewayEndpoint {
    /// The endpoint.
    endpoint_id: String,
    /// RouteTableIds.N.
    #[serde(default)]
    route_table_ids: Vec<String>,
}

/// DissociateRouteTablesFromVpcGatewayEndpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DissociateRouteTablesFromVpcGatewayEndpoint {
    /// The endpoint.
    endpoint_id: String,
    /// RouteTableIds.N.
    #[serde(default)]
    route_table_ids: Vec<String>,
}

/// The endpoint and the table indexes a call names: every table the
/// caller's, none twice.
fn endpoint_and_tables(
    d: &Draft,
    endpoint_id: &str,
    route_table_ids: &[String],
) -> Result<(usize, Vec<usize>), ApiError> {
    let id = required("EndpointId", endpoint_id)?;
    let gi = endpoint_index(d, id)?;
    if route_table_ids.is_empty() {
        return Err(ApiError::missing("RouteTableIds.1"));
    }
    let mut tables = Vec::new();
    for t in route_table_ids {
        let ti = d.route_table_index(t)?;
        if tables.contains(&ti) {
            return Err(ApiError::invalid(
                "RouteTableIds",
                format!("{t} is given twice"),
            ));
        }
        tables.push(ti);
    }
    Ok((gi, tables))
}

impl Action for AssociateRouteTablesWithVpcGatewayEndpoint {
    const NAME: &'static str = "AssociateRouteTablesWithVpcGatewayEndpoint";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Associates route tables with a gateway endpoint: each gets the route {service's system prefix list -> endpoint} (GWE-2, GWE-3).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let (gi, tables) = endpoint_and_tables(d, &self.endpoint_id, &self.route_table_ids)?;
        let g = &d.model.gateway_endpoints[gi];
        for &ti in &tables {
            let t = &d.model.route_tables[ti];
            if t.vpc_id != g.vpc_id {
                return Err(ApiError::bad(
                    "Forbidden.NotInSameVpc",
                    format!(
                        "The route table {} is of VPC {}, the gateway endpoint {} of VPC {}.",
                        t.id, t.vpc_id, g.id, g.vpc_id
                    ),
                ));
            }
            if t.associate_type == AssociateType::Gateway {
                return Err(ApiError::bad(
                    "IncorrectRouteTableType",
                    format!(
                        "The route table {} is a gateway route table: a gateway endpoint is associated with vSwitch route tables.",
                        t.id
                    ),
                ));
            }
            if let Some(other) = d
                .model
                .gateway_endpoints
                .iter()
                .find(|o| o.route_table_ids.contains(&t.id))
            {
                return Err(ApiError::bad(
                    "ResourceAlreadyAssociated.RouteTable",
                    format!(
                        "The route table {} is already associated with gateway endpoint {}: a route table has one gateway endpoint (GWE-3).",
                        t.id, other.id
                    ),
                ));
            }
        }
        let endpoint_id = g.id.clone();
        let prefix_list = CloudServices::object_storage_prefix_list_id(&g.meta.region_id);
        for &ti in &tables {
            let mut meta = d.new_meta(None);
            let t = &mut d.model.route_tables[ti];
            meta.owner_id = t.meta.owner_id.clone();
            meta.region_id = t.meta.region_id.clone();
            // The service's blocks are routed at once (RT-1).
            t.next_generation();
            t.route_entries.push(Arc::new(RouteEntry {
                id: new_id("rte"),
                name: None,
                destination_cidr_block: PREFIX_LIST_DESTINATION,
                destination_prefix_list_id: Some(prefix_list.clone()),
                next_hop_type: NextHopType::GatewayEndpoint,
                next_hop_id: endpoint_id.clone(),
                meta,
            }));
            let table_id = t.id.clone();
            d.model.gateway_endpoints[gi].route_table_ids.push(table_id);
        }
        Ok(Empty {})
    }
}

impl Action for DissociateRouteTablesFromVpcGatewayEndpoint {
    const NAME: &'static str = "DissociateRouteTablesFromVpcGatewayEndpoint";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Dissociates route tables from a gateway endpoint, removing the route it added to each (GWE-4).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let (gi, tables) = endpoint_and_tables(d, &self.endpoint_id, &self.route_table_ids)?;
        let g = &d.model.gateway_endpoints[gi];
        for &ti in &tables {
            let t = &d.model.route_tables[ti];
            if !g.route_table_ids.contains(&t.id) {
                return Err(ApiError::bad(
                    "ResourceNotAssociated.RouteTable",
                    format!(
                        "The route table {} is not associated with gateway endpoint {}.",
                        t.id, g.id
                    ),
                ));
            }
        }
        let endpoint_id = g.id.clone();
        for &ti in &tables {
            let t = &mut d.model.route_tables[ti];
            t.route_entries.retain(|e| {
                !(e.next_hop_type == NextHopType::GatewayEndpoint && e.next_hop_id == endpoint_id)
            });
            t.next_generation();
            let table_id = t.id.clone();
            d.model.gateway_endpoints[gi]
                .route_table_ids
                .retain(|x| *x != table_id);
        }
        Ok(Empty {})
    }
}

/// DeleteVpcGatewayEndpoint.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteVpcGatewayEndpoint {
    /// The endpoint.
    endpoint_id: String,
}

impl Action for DeleteVpcGatewayEndpoint {
    const NAME: &'static str = "DeleteVpcGatewayEndpoint";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Deletes a gateway endpoint; refused while route tables are associated with it (GWE-4).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let id = required("EndpointId", &self.endpoint_id)?;
        let i = endpoint_index(d, id)?;
        if let Some(t) = d.model.gateway_endpoints[i].route_table_ids.first() {
            return Err(ApiError::bad(
                "DependencyViolation.RouteTable",
                format!(
                    "The gateway endpoint {id} is associated with route table {t}: dissociate its route tables first (GWE-4)."
                ),
            ));
        }
        d.model.gateway_endpoints.remove(i);
        Ok(Empty {})
    }
}

#[cfg(test)]
mod tests {
    use crate::{model::NextHopType, service::tests::Scratch};

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");
    const OSS: &str = "com.aliyun.cn-hangzhou.oss";
    const POLICY: &str = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:*"],"Principal":["1746000000000000"],"Resource":["acs:oss:*:*:examplebucket","acs:oss:*:*:examplebucket/*"]}]}"#;

    /// A VPC with a vSwitch and a custom table: (vpc, system table, custom table).
    fn setup(s: &mut Scratch) -> (String, String, String) {
        let (vpc, _) = s.vpc_with_vswitch();
        let system = s.service.model().vpc(&vpc).unwrap().system_route_table_id();
        let custom = s.ok("CreateRouteTable", &[R, ("VpcId", &vpc)])["RouteTableId"]
            .as_str()
            .unwrap()
            .to_string();
        (vpc, system, custom)
    }

    fn endpoint(s: &mut Scratch, vpc: &str) -> String {
        s.ok(
            "CreateVpcGatewayEndpoint",
            &[
                R,
                ("VpcId", vpc),
                ("ServiceName", OSS),
                ("EndpointName", "oss"),
                ("PolicyDocument", POLICY),
            ],
        )["EndpointId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn associate(
        s: &mut Scratch,
        action: &str,
        ep: &str,
        tables: &[&str],
    ) -> Result<(), crate::api::ApiError> {
        let mut p = vec![R, ("EndpointId", ep)];
        let names: Vec<String> = (1..=tables.len())
            .map(|n| format!("RouteTableIds.{n}"))
            .collect();
        for (n, t) in names.iter().zip(tables) {
            p.push((n.as_str(), t));
        }
        s.call(action, &p).map(|_| ())
    }

    /// The custom entries of `table` whose next hop is a gateway endpoint.
    fn endpoint_routes(s: &Scratch, table: &str) -> Vec<(Option<String>, String)> {
        s.service
            .model()
            .route_table(table)
            .unwrap()
            .route_entries
            .iter()
            .filter(|e| e.next_hop_type == NextHopType::GatewayEndpoint)
            .map(|e| (e.destination_prefix_list_id.clone(), e.next_hop_id.clone()))
            .collect()
    }

    #[test]
    fn gwe_1_the_object_storage_service_is_listed_with_its_default_policy() {
        let mut s = Scratch::new();
        let v = s.ok("ListVpcEndpointServicesByEndUser", &[R]);
        assert_eq!(v["Services"][0]["ServiceName"], OSS);
        assert_eq!(v["Services"][0]["SupportPolicy"], true);
        let doc: serde_json::Value =
            serde_json::from_str(v["Services"][0]["DefaultPolicyDocument"].as_str().unwrap())
                .unwrap();
        assert_eq!(doc["Statement"][0]["Effect"], "Allow");
        let v = s.ok(
            "ListVpcEndpointServicesByEndUser",
            &[R, ("ServiceName", "com.aliyun.cn-hangzhou.nas")],
        );
        assert_eq!(v["Services"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn gwe_1_an_endpoint_is_created_listed_updated_and_deleted() {
        let mut s = Scratch::new();
        let (vpc, _, _) = setup(&mut s);
        let ep = endpoint(&mut s, &vpc);
        let v = s.ok("GetVpcGatewayEndpointAttribute", &[R, ("EndpointId", &ep)]);
        assert_eq!(v["EndpointStatus"], "Created");
        assert_eq!(v["PolicyDocument"], POLICY);
        assert_eq!(v["VpcId"], vpc.as_str());
        assert_eq!(v["ServiceName"], OSS);
        assert_eq!(v["RouteTables"], serde_json::json!([]));
        let v = s.ok("ListVpcGatewayEndpoints", &[R, ("VpcId", &vpc)]);
        assert_eq!(v["TotalCount"], 1);
        assert_eq!(v["Endpoints"][0]["EndpointName"], "oss");
        assert_eq!(
            s.ok("ListVpcGatewayEndpoints", &[R, ("EndpointName", "x")])["TotalCount"],
            0
        );
        s.ok(
            "UpdateVpcGatewayEndpointAttribute",
            &[
                R,
                ("EndpointId", &ep),
                ("EndpointName", "renamed"),
                ("PolicyDocument", super::DEFAULT_POLICY_DOCUMENT),
            ],
        );
        let v = s.ok("GetVpcGatewayEndpointAttribute", &[R, ("EndpointId", &ep)]);
        assert_eq!(v["EndpointName"], "renamed");
        assert_eq!(v["PolicyDocument"], super::DEFAULT_POLICY_DOCUMENT);
        s.ok("DeleteVpcGatewayEndpoint", &[R, ("EndpointId", &ep)]);
        let e = s.err("GetVpcGatewayEndpointAttribute", &[R, ("EndpointId", &ep)]);
        assert_eq!(
            (e.code.as_str(), e.status),
            ("ResourceNotFound.GatewayEndpoint", 404)
        );
    }

    #[test]
    fn gwe_1_pol_1_refused_endpoint_calls_change_nothing() {
        let mut s = Scratch::new();
        let (vpc, _, _) = setup(&mut s);
        let e = s.err(
            "CreateVpcGatewayEndpoint",
            &[
                R,
                ("VpcId", &vpc),
                ("ServiceName", "com.aliyun.cn-hangzhou.nas"),
            ],
        );
        assert_eq!(
            (e.code.as_str(), e.status),
            ("InvalidServiceName.NotFound", 404)
        );
        let e = s.err(
            "CreateVpcGatewayEndpoint",
            &[R, ("VpcId", "vpc-nope"), ("ServiceName", OSS)],
        );
        assert_eq!(e.code, "InvalidVpcId.NotFound");
        assert_eq!(
            s.err("CreateVpcGatewayEndpoint", &[R, ("VpcId", &vpc)])
                .code,
            "MissingParameter"
        );
        let bad_effect = POLICY.replace("Allow", "Permit");
        let bad_operator = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqualz":{"acs:SourceVpc":"vpc-1"}}}]}"#;
        let too_long = format!("{}{}", &POLICY[..POLICY.len() - 1], " ".repeat(7000) + "}");
        for bad in [
            "{",
            "{\"Version\":\"1\"}",
            "[]",
            &bad_effect,
            bad_operator,
            &too_long,
        ] {
            let e = s.err(
                "CreateVpcGatewayEndpoint",
                &[
                    R,
                    ("VpcId", &vpc),
                    ("ServiceName", OSS),
                    ("PolicyDocument", bad),
                ],
            );
            assert_eq!(
                (e.code.as_str(), e.status),
                ("IllegalParam.PolicyDocument", 400),
                "{bad}"
            );
        }
        assert!(s.service.model().gateway_endpoints.is_empty());
        let ep = endpoint(&mut s, &vpc);
        let before = s.service.model().clone();
        let e = s.err(
            "UpdateVpcGatewayEndpointAttribute",
            &[
                R,
                ("EndpointId", &ep),
                ("EndpointName", "x"),
                ("PolicyDocument", "{"),
            ],
        );
        assert_eq!(e.code, "IllegalParam.PolicyDocument");
        assert_eq!(s.service.model(), &before, "a bad document changes nothing");
        // A VPC cannot go while it has an endpoint.
        let v2 = s.ok("CreateVpc", &[R, ("CidrBlock", "192.168.0.0/16")])["VpcId"]
            .as_str()
            .unwrap()
            .to_string();
        let ep2 = endpoint(&mut s, &v2);
        let e = s.err("DeleteVpc", &[R, ("VpcId", &v2)]);
        assert_eq!(e.code, "DependencyViolation.GatewayEndpoint");
        s.ok("DeleteVpcGatewayEndpoint", &[R, ("EndpointId", &ep2)]);
        s.ok("DeleteVpc", &[R, ("VpcId", &v2)]);
    }

    #[test]
    fn gwe_2_associating_adds_the_system_prefix_list_route_to_each_table() {
        let mut s = Scratch::new();
        let (vpc, system, custom) = setup(&mut s);
        let ep = endpoint(&mut s, &vpc);
        associate(
            &mut s,
            "AssociateRouteTablesWithVpcGatewayEndpoint",
            &ep,
            &[&system, &custom],
        )
        .unwrap();
        for t in [&system, &custom] {
            assert_eq!(
                endpoint_routes(&s, t),
                [(Some("pl-cn-hangzhou-oss".to_string()), ep.clone())]
            );
            let v = s.ok(
                "DescribeRouteEntryList",
                &[R, ("RouteTableId", t), ("NextHopType", "GatewayEndpoint")],
            );
            let entry = &v["RouteEntrys"]["RouteEntry"][0];
            assert_eq!(entry["DestinationCidrBlock"], "pl-cn-hangzhou-oss");
            assert_eq!(entry["Type"], "Custom");
            assert_eq!(entry["NextHops"]["NextHop"][0]["NextHopId"], ep.as_str());
        }
        let v = s.ok("GetVpcGatewayEndpointAttribute", &[R, ("EndpointId", &ep)]);
        assert_eq!(v["RouteTables"], serde_json::json!([system, custom]));
        let v = s.ok(
            "GetVpcPrefixListAssociations",
            &[R, ("PrefixListId", "pl-cn-hangzhou-oss")],
        );
        assert_eq!(v["TotalCount"], 2);
    }

    #[test]
    fn gwe_2_a_route_clashing_with_the_services_blocks_is_refused() {
        let mut s = Scratch::new();
        let (vpc, system, _) = setup(&mut s);
        let inst = s.ok(
            "RunInstances",
            &[
                R,
                ("VSwitchId", &s.service.model().vswitches[0].id.clone()),
                ("ImageId", "i"),
                ("InstanceType", "t"),
            ],
        )["InstanceIdSets"]["InstanceIdSet"][0]
            .as_str()
            .unwrap()
            .to_string();
        s.ok(
            "CreateRouteEntry",
            &[
                R,
                ("RouteTableId", &system),
                ("DestinationCidrBlock", "100.118.28.0/24"),
                ("NextHopId", &inst),
            ],
        );
        let ep = endpoint(&mut s, &vpc);
        let e = associate(
            &mut s,
            "AssociateRouteTablesWithVpcGatewayEndpoint",
            &ep,
            &[&system],
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidCIDRBlock.Duplicate");
        assert!(endpoint_routes(&s, &system).is_empty());
    }

    #[test]
    fn gwe_3_one_endpoint_per_service_per_vpc_and_per_route_table() {
        let mut s = Scratch::new();
        let (vpc, system, custom) = setup(&mut s);
        let ep = endpoint(&mut s, &vpc);
        let e = s.err(
            "CreateVpcGatewayEndpoint",
            &[R, ("VpcId", &vpc), ("ServiceName", OSS)],
        );
        assert_eq!(e.code, "ResourceAlreadyExist.GatewayEndpoint");
        associate(
            &mut s,
            "AssociateRouteTablesWithVpcGatewayEndpoint",
            &ep,
            &[&system],
        )
        .unwrap();
        let e = associate(
            &mut s,
            "AssociateRouteTablesWithVpcGatewayEndpoint",
            &ep,
            &[&custom, &system],
        )
        .unwrap_err();
        assert_eq!(e.code, "ResourceAlreadyAssociated.RouteTable");
        assert!(
            endpoint_routes(&s, &custom).is_empty(),
            "the whole call is refused"
        );
        // Another VPC's endpoint cannot take this VPC's tables; nor a gateway table.
        let v2 = s.ok("CreateVpc", &[R, ("CidrBlock", "192.168.0.0/16")])["VpcId"]
            .as_str()
            .unwrap()
            .to_string();
        let ep2 = endpoint(&mut s, &v2);
        let e = associate(
            &mut s,
            "AssociateRouteTablesWithVpcGatewayEndpoint",
            &ep2,
            &[&custom],
        )
        .unwrap_err();
        assert_eq!(e.code, "Forbidden.NotInSameVpc");
        let gwt = s.ok(
            "CreateRouteTable",
            &[R, ("VpcId", &vpc), ("AssociateType", "Gateway")],
        )["RouteTableId"]
            .as_str()
            .unwrap()
            .to_string();
        let e = associate(
            &mut s,
            "AssociateRouteTablesWithVpcGatewayEndpoint",
            &ep,
            &[&gwt],
        )
        .unwrap_err();
        assert_eq!(e.code, "IncorrectRouteTableType");
        let e = associate(
            &mut s,
            "AssociateRouteTablesWithVpcGatewayEndpoint",
            &ep,
            &["vtb-nope"],
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidRouteTableId.NotFound");
        let e = associate(
            &mut s,
            "AssociateRouteTablesWithVpcGatewayEndpoint",
            &ep,
            &[],
        )
        .unwrap_err();
        assert_eq!(e.code, "MissingParameter");
        // An endpoint takes several tables.
        associate(
            &mut s,
            "AssociateRouteTablesWithVpcGatewayEndpoint",
            &ep,
            &[&custom],
        )
        .unwrap();
        assert_eq!(
            s.service.model().gateway_endpoints[0].route_table_ids,
            [system, custom]
        );
    }

    #[test]
    fn gwe_4_dissociating_removes_the_route_and_delete_waits_for_it() {
        let mut s = Scratch::new();
        let (vpc, system, custom) = setup(&mut s);
        let ep = endpoint(&mut s, &vpc);
        associate(
            &mut s,
            "AssociateRouteTablesWithVpcGatewayEndpoint",
            &ep,
            &[&system, &custom],
        )
        .unwrap();
        let e = s.err("DeleteVpcGatewayEndpoint", &[R, ("EndpointId", &ep)]);
        assert_eq!(
            (e.code.as_str(), e.status),
            ("DependencyViolation.RouteTable", 400)
        );
        // The route the endpoint added is not the user's to delete.
        let rte = s
            .service
            .model()
            .route_table(&system)
            .unwrap()
            .route_entries[0]
            .id
            .clone();
        let e = s.err("DeleteRouteEntry", &[R, ("RouteEntryId", &rte)]);
        assert_eq!(e.code, "OperationDenied.GatewayEndpointRouteEntry");
        let e = s.err(
            "DeleteRouteEntry",
            &[
                R,
                ("RouteTableId", &system),
                ("DestinationCidrBlock", "pl-cn-hangzhou-oss"),
            ],
        );
        assert_eq!(e.code, "OperationDenied.GatewayEndpointRouteEntry");
        let v = s.ok(
            "DeleteRouteEntries",
            &[
                R,
                ("RouteEntries.1.RouteTableId", &system),
                ("RouteEntries.1.RouteEntryId", &rte),
            ],
        );
        assert_eq!(
            v["FailedRouteEntries"][0]["FailedCode"],
            "OperationDenied.GatewayEndpointRouteEntry"
        );
        assert_eq!(endpoint_routes(&s, &system).len(), 1);
        associate(
            &mut s,
            "DissociateRouteTablesFromVpcGatewayEndpoint",
            &ep,
            &[&system],
        )
        .unwrap();
        assert!(endpoint_routes(&s, &system).is_empty());
        assert_eq!(
            endpoint_routes(&s, &custom).len(),
            1,
            "only the tables named"
        );
        let e = associate(
            &mut s,
            "DissociateRouteTablesFromVpcGatewayEndpoint",
            &ep,
            &[&system],
        )
        .unwrap_err();
        assert_eq!(e.code, "ResourceNotAssociated.RouteTable");
        assert_eq!(
            s.err("DeleteVpcGatewayEndpoint", &[R, ("EndpointId", &ep)])
                .code,
            "DependencyViolation.RouteTable"
        );
        associate(
            &mut s,
            "DissociateRouteTablesFromVpcGatewayEndpoint",
            &ep,
            &[&custom],
        )
        .unwrap();
        s.ok("DeleteVpcGatewayEndpoint", &[R, ("EndpointId", &ep)]);
        assert!(s.service.model().gateway_endpoints.is_empty());
        assert!(
            s.service
                .model()
                .route_tables
                .iter()
                .all(|t| t.route_entries.is_empty())
        );
    }

    #[test]
    fn endpoints_and_lists_take_tags_dry_runs_client_tokens_and_text_rules() {
        let mut s = Scratch::new();
        let (vpc, _, _) = setup(&mut s);
        let create = [R, ("VpcId", vpc.as_str()), ("ServiceName", OSS)];
        let mut dry = create.to_vec();
        dry.push(("DryRun", "true"));
        assert_eq!(
            s.err("CreateVpcGatewayEndpoint", &dry).code,
            "DryRunOperation"
        );
        assert!(s.service.model().gateway_endpoints.is_empty());
        let mut named = create.to_vec();
        named.push(("EndpointName", "http://x"));
        assert_eq!(
            s.err("CreateVpcGatewayEndpoint", &named).code,
            "IllegalParam.EndpointName"
        );
        let mut token = create.to_vec();
        token.push(("ClientToken", "t-1"));
        let a = s.ok("CreateVpcGatewayEndpoint", &token);
        let b = s.ok("CreateVpcGatewayEndpoint", &token);
        assert_eq!(
            a["EndpointId"], b["EndpointId"],
            "a retry gets the same answer"
        );
        let ep = a["EndpointId"].as_str().unwrap().to_string();
        let pl = s.ok("CreateVpcPrefixList", &[R])["PrefixListId"]
            .as_str()
            .unwrap()
            .to_string();
        for (kind, id) in [("GATEWAYENDPOINT", &ep), ("PREFIXLIST", &pl)] {
            s.ok(
                "TagResources",
                &[
                    R,
                    ("ResourceType", kind),
                    ("ResourceId.1", id),
                    ("Tag.1.Key", "env"),
                    ("Tag.1.Value", "lab"),
                ],
            );
        }
        let tagged = [R, ("Tags.1.Key", "env"), ("Tags.1.Value", "lab")];
        let v = s.ok("ListVpcGatewayEndpoints", &tagged);
        assert_eq!(v["Endpoints"][0]["EndpointId"], ep.as_str());
        assert_eq!(v["Endpoints"][0]["Tags"][0]["Key"], "env");
        let v = s.ok("ListPrefixLists", &tagged);
        assert_eq!(v["PrefixLists"].as_array().unwrap().len(), 1);
        assert_eq!(v["PrefixLists"][0]["PrefixListId"], pl.as_str());
    }
}
