//! IPv4 gateways and gateway route tables (VPC API 2016-04-28):
//! CreateIpv4Gateway, EnableVpcIpv4Gateway, ListIpv4Gateways,
//! GetIpv4GatewayAttribute, UpdateIpv4GatewayAttribute, DeleteIpv4Gateway,
//! AssociateRouteTableWithGateway, DissociateRouteTableFromGateway,
//! ListGatewayRouteTableEntries, UpdateGatewayRouteTableEntryAttribute
//! (IGW-1..IGW-5, RT-4).
use std::{fmt::Display, str::FromStr, sync::Arc};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::{Action, Draft, Empty, paging, params::given, tag, vpc::cidr};
use crate::{
    api::{ApiError, Product, new_id},
    model::{AssociateType, Ipv4Gateway, NextHopType, RouteEntry},
};

/// The destination of every gateway's default route (IGW-2).
fn default_route() -> Ipv4Net {
    Ipv4Net::default()
}

fn gateway_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .ipv4_gateways
        .iter()
        .position(|g| g.id == id && d.caller.owns(&g.meta.owner_id))
        .ok_or_else(|| {
            ApiError::not_found(
                "InvalidIpv4GatewayId.NotFound",
                format!("The specified IPv4 gateway {id} does not exist."),
            )
        })
}

/// One page of a List action (MaxResults, NextToken): entries in key
/// order; the NextToken names the last key returned, so the next page
/// starts after it even when entries were added or removed meanwhile.
/// TotalCount is a string in these newer actions.
pub(crate) struct TokenPage<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next_token: String,
    pub(crate) total_count: String,
}

/// Page of `items` (key, entry) after `next_token`, `max_results` (1..=100,
/// default 10) long; a token not of list `kind` is `IllegalParam.NextToken`,
/// as the cloud answers.
pub(crate) fn token_page<K: Ord + Display + FromStr, T>(
    kind: &str,
    mut items: Vec<(K, T)>,
    max_results: Option<u32>,
    next_token: Option<&str>,
) -> Result<TokenPage<T>, ApiError> {
    let max = paging::max_results(max_results, 1..=100, 10)?;
    let after: Option<K> = next_token
        .filter(|t| !t.is_empty())
        .map(|t| {
            paging::decode_token(kind, t, || {
                ApiError::bad(
                    "IllegalParam.NextToken",
                    format!("The param of nextToken {t:?} is illegal."),
                )
            })
        })
        .transpose()?;
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let total_count = items.len().to_string();
    let (items, next_token) = paging::page_after(kind, items, after.as_ref(), max, false);
    Ok(TokenPage {
        items,
        next_token,
        total_count,
    })
}

/// A gateway's attributes, as Get and List answer them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipv4GatewayAttributes {
    ipv4_gateway_id: String,
    ipv4_gateway_name: String,
    ipv4_gateway_description: String,
    ipv4_gateway_route_table_id: String,
    vpc_id: String,
    enabled: bool,
    /// Changes are synchronous here: a gateway is never seen mid-change.
    status: &'static str,
    resource_group_id: String,
    /// `[{Key, Value}]`: these actions answer tags as a bare list.
    tags: Vec<tag::TagOut>,
}

impl Ipv4GatewayAttributes {
    fn of(g: &Ipv4Gateway) -> Self {
        Self {
            ipv4_gateway_id: g.id.clone(),
            ipv4_gateway_name: g.name.clone().unwrap_or_default(),
            ipv4_gateway_description: g.meta.description.clone(),
            ipv4_gateway_route_table_id: g.route_table_id.clone().unwrap_or_default(),
            vpc_id: g.vpc_id.clone(),
            enabled: g.enabled,
            status: "Created",
            resource_group_id: g.meta.resource_group_id.clone(),
            tags: tag::Tags::of(&g.meta.tags).tag,
        }
    }
}

/// CreateIpv4Gateway.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateIpv4Gateway {
    vpc_id: String,
    /// Ipv4GatewayName.
    ipv4_gateway_name: Option<String>,
    /// Ipv4GatewayDescription.
    ipv4_gateway_description: Option<String>,
    /// Tag.N.Key / Tag.N.Value.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
}

/// CreateIpv4Gateway's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateIpv4GatewayResponse {
    ipv4_gateway_id: String,
    resource_group_id: String,
}

impl Action for CreateIpv4Gateway {
    const NAME: &'static str = "CreateIpv4Gateway";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates the IPv4 gateway of a VPC, not yet enabled: one per VPC, no traffic changes (IGW-1, IGW-2).";
    type Response = CreateIpv4GatewayResponse;

    fn run(self, d: &mut Draft) -> Result<CreateIpv4GatewayResponse, ApiError> {
        d.require_region()?;
        let vpc_id = self.vpc_id.as_str();
        let vpc = &d.model.vpcs[d.vpc_index(vpc_id)?];
        let region = vpc.meta.region_id.clone();
        if let Some(g) = d.model.ipv4_gateway_of(vpc_id) {
            return Err(ApiError::bad(
                "QuotaExceeded.Ipv4Gateway",
                format!(
                    "The VPC {vpc_id} already has the IPv4 gateway {}: a VPC has at most one (IGW-1).",
                    g.id
                ),
            ));
        }
        let mut meta = d.new_meta(self.ipv4_gateway_description.as_deref());
        meta.region_id = region;
        meta.tags = tag::from_params(&self.tag)?;
        let g = Ipv4Gateway {
            id: new_id("ipv4gw"),
            vpc_id: self.vpc_id,
            name: self.ipv4_gateway_name.filter(|n| !n.is_empty()),
            enabled: false,
            route_table_id: None,
            meta,
        };
        let response = CreateIpv4GatewayResponse {
            ipv4_gateway_id: g.id.clone(),
            resource_group_id: g.meta.resource_group_id.clone(),
        };
        d.model.ipv4_gateways.push(g);
        Ok(response)
    }
}

/// EnableVpcIpv4Gateway.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableVpcIpv4Gateway {
    ipv4_gateway_id: String,
    /// Route tables (of the gateway's VPC, not gateway route tables) that
    /// get 0.0.0.0/0 -> the gateway.
    #[serde(default)]
    route_table_list: Vec<String>,
}

impl Action for EnableVpcIpv4Gateway {
    const NAME: &'static str = "EnableVpcIpv4Gateway";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Activates an IPv4 gateway and adds 0.0.0.0/0 -> it to each listed route table; one with 0.0.0.0/0 fails the call (IGW-2).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let id = self.ipv4_gateway_id.as_str();
        let gi = gateway_index(d, id)?;
        if d.model.ipv4_gateways[gi].enabled {
            return Err(ApiError::bad(
                "IncorrectStatus.Ipv4Gateway",
                format!("The IPv4 gateway {id} is already enabled."),
            ));
        }
        let vpc_id = d.model.ipv4_gateways[gi].vpc_id.clone();
        let meta = d.new_meta(None);
        for t in &self.route_table_list {
            let ti = d.route_table_index(t)?;
            let table = &d.model.route_tables[ti];
            if table.vpc_id != vpc_id {
                return Err(ApiError::bad(
                    "Forbidden.NotInSameVpc",
                    format!("The route table {t} is not in {vpc_id}."),
                ));
            }
            if table.associate_type == AssociateType::Gateway {
                return Err(ApiError::bad(
                    "IncorrectRouteTableType",
                    format!("The route table {t} is a gateway route table."),
                ));
            }
            if table
                .route_entries
                .iter()
                .any(|e| e.destination_cidr_block == default_route())
            {
                return Err(ApiError::bad(
                    "InvalidRouteEntry.DefaultRouteExists",
                    format!(
                        "The route table {t} already has a 0.0.0.0/0 entry: the gateway's default route cannot be added (IGW-2)."
                    ),
                ));
            }
            d.model.route_tables[ti]
                .route_entries
                .push(Arc::new(RouteEntry {
                    id: new_id("rte"),
                    name: None,
                    destination_cidr_block: default_route(),
                    next_hop_type: NextHopType::Ipv4Gateway,
                    destination_prefix_list_id: None,
                    next_hop_id: id.to_string(),
                    meta: meta.clone(),
                }));
        }
        d.model.ipv4_gateways[gi].enabled = true;
        Ok(Empty {})
    }
}

/// ListIpv4Gateways. `ResourceGroupId` (a common parameter) filters too.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListIpv4Gateways {
    /// Only this gateway.
    ipv4_gateway_id: Option<String>,
    /// Only gateways of this name.
    ipv4_gateway_name: Option<String>,
    /// Only the gateway of this VPC.
    vpc_id: Option<String>,
    /// Entries per page, 1..=100 (default 10).
    max_results: Option<u32>,
    /// Where the page starts: the NextToken of the previous page.
    next_token: Option<String>,
    /// Only gateways with these tags (`Tags.N.Key` / `Tags.N.Value`).
    #[serde(default)]
    tags: Vec<tag::TagParam>,
}

/// One gateway in ListIpv4Gateways.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipv4GatewayModel {
    #[serde(flatten)]
    attributes: Ipv4GatewayAttributes,
    gmt_create: String,
}

/// ListIpv4Gateways' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListIpv4GatewaysResponse {
    ipv4_gateway_models: Vec<Ipv4GatewayModel>,
    next_token: String,
    total_count: String,
}

impl ListIpv4Gateways {
    fn selects(&self, d: &Draft, g: &Ipv4Gateway) -> bool {
        d.in_view(&g.meta)
            && given(&self.ipv4_gateway_id).is_none_or(|x| g.id == x)
            && given(&self.ipv4_gateway_name).is_none_or(|x| g.name.as_deref() == Some(x))
            && given(&self.vpc_id).is_none_or(|x| g.vpc_id == x)
            && given(&d.common.resource_group_id).is_none_or(|x| g.meta.resource_group_id == x)
            && tag::matches(&g.meta.tags, &self.tags)
    }
}

impl Action for ListIpv4Gateways {
    const NAME: &'static str = "ListIpv4Gateways";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists IPv4 gateways by id, name, VPC, resource group, tags; paged by MaxResults and NextToken.";
    type Response = ListIpv4GatewaysResponse;

    fn run(self, d: &mut Draft) -> Result<ListIpv4GatewaysResponse, ApiError> {
        d.require_region()?;
        let items: Vec<(String, &Ipv4Gateway)> = d
            .model
            .ipv4_gateways
            .iter()
            .filter(|g| self.selects(d, g))
            .map(|g| (g.id.clone(), g))
            .collect();
        let page = token_page(
            "ipv4gw",
            items,
            self.max_results,
            self.next_token.as_deref(),
        )?;
        let ipv4_gateway_models = page
            .items
            .into_iter()
            .map(|g| Ipv4GatewayModel {
                attributes: Ipv4GatewayAttributes::of(g),
                gmt_create: g.meta.creation_time.clone(),
            })
            .collect();
        Ok(ListIpv4GatewaysResponse {
            ipv4_gateway_models,
            next_token: page.next_token,
            total_count: page.total_count,
        })
    }
}

/// GetIpv4GatewayAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetIpv4GatewayAttribute {
    ipv4_gateway_id: String,
}

/// GetIpv4GatewayAttribute's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetIpv4GatewayAttributeResponse {
    #[serde(flatten)]
    attributes: Ipv4GatewayAttributes,
    create_time: String,
}

impl Action for GetIpv4GatewayAttribute {
    const NAME: &'static str = "GetIpv4GatewayAttribute";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Shows one IPv4 gateway: VPC, enabled, bound gateway route table, tags.";
    type Response = GetIpv4GatewayAttributeResponse;

    fn run(self, d: &mut Draft) -> Result<GetIpv4GatewayAttributeResponse, ApiError> {
        d.require_region()?;
        let g = &d.model.ipv4_gateways[gateway_index(d, &self.ipv4_gateway_id)?];
        Ok(GetIpv4GatewayAttributeResponse {
            attributes: Ipv4GatewayAttributes::of(g),
            create_time: g.meta.creation_time.clone(),
        })
    }
}

/// UpdateIpv4GatewayAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateIpv4GatewayAttribute {
    ipv4_gateway_id: String,
    /// New name (an empty one changes nothing).
    ipv4_gateway_name: Option<String>,
    /// New description (empty clears it).
    ipv4_gateway_description: Option<String>,
}

impl Action for UpdateIpv4GatewayAttribute {
    const NAME: &'static str = "UpdateIpv4GatewayAttribute";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Renames an IPv4 gateway or changes its description.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let gi = gateway_index(d, &self.ipv4_gateway_id)?;
        let g = &mut d.model.ipv4_gateways[gi];
        if let Some(n) = self.ipv4_gateway_name.filter(|n| !n.is_empty()) {
            g.name = Some(n);
        }
        if let Some(desc) = self.ipv4_gateway_description {
            g.meta.description = desc;
        }
        Ok(Empty {})
    }
}

/// DeleteIpv4Gateway.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteIpv4Gateway {
    ipv4_gateway_id: String,
    /// `private` (default): refused while a route points to the gateway;
    /// `public`: those routes are deleted with it (IGW-5).
    internet_mode: Option<String>,
}

impl Action for DeleteIpv4Gateway {
    const NAME: &'static str = "DeleteIpv4Gateway";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes an IPv4 gateway once its gateway route table is dissociated; InternetMode public deletes the routes to it (IGW-5).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let id = self.ipv4_gateway_id.as_str();
        let public = match given(&self.internet_mode).unwrap_or("private") {
            "private" => false,
            "public" => true,
            other => {
                return Err(ApiError::invalid(
                    "InternetMode",
                    format!("{other:?} is not private or public"),
                ));
            }
        };
        let gi = gateway_index(d, id)?;
        if let Some(t) = &d.model.ipv4_gateways[gi].route_table_id {
            return Err(ApiError::bad(
                "DependencyViolation.GatewayRouteTable",
                format!(
                    "The IPv4 gateway {id} is bound to gateway route table {t}: dissociate it first (IGW-5)."
                ),
            ));
        }
        let points_here =
            |e: &RouteEntry| e.next_hop_type == NextHopType::Ipv4Gateway && e.next_hop_id == id;
        if public {
            for t in &mut d.model.route_tables {
                t.route_entries.retain(|e| !points_here(e));
            }
        } else if let Some((t, e)) = d.model.route_tables.iter().find_map(|t| {
            t.route_entries
                .iter()
                .find(|e| points_here(e))
                .map(|e| (t, e))
        }) {
            return Err(ApiError::bad(
                "DependencyViolation.RouteEntry",
                format!(
                    "The route entry {} of {} points to the IPv4 gateway {id}: delete it first, or delete in InternetMode public (IGW-5).",
                    e.destination_cidr_block, t.id
                ),
            ));
        }
        d.model.ipv4_gateways.remove(gi);
        Ok(Empty {})
    }
}

/// The gateway route table named by a request, checked to be one.
fn gateway_table_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    let ti = d.route_table_index(id)?;
    if d.model.route_tables[ti].associate_type != AssociateType::Gateway {
        return Err(ApiError::bad(
            "IncorrectRouteTableType",
            format!(
                "The route table {id} is not a gateway route table (CreateRouteTable with AssociateType Gateway)."
            ),
        ));
    }
    Ok(ti)
}

/// Checks GatewayType: IPv4 gateways are the only gateways with route
/// tables here.
fn check_gateway_type(gateway_type: &Option<String>) -> Result<(), ApiError> {
    match given(gateway_type) {
        Some(t) if !t.eq_ignore_ascii_case("IPv4Gateway") => Err(ApiError::invalid(
            "GatewayType",
            format!(
                "{t:?} is not IPv4Gateway (the only gateway type with a gateway route table here)"
            ),
        )),
        _ => Ok(()),
    }
}

/// AssociateRouteTableWithGateway.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateRouteTableWithGateway {
    /// A gateway route table (AssociateType Gateway).
    route_table_id: String,
    /// An enabled IPv4 gateway of the table's VPC.
    gateway_id: String,
    /// `IPv4Gateway` (the default, and the only type).
    gateway_type: Option<String>,
}

impl Action for AssociateRouteTableWithGateway {
    const NAME: &'static str = "AssociateRouteTableWithGateway";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Binds a gateway route table to an enabled IPv4 gateway of its VPC, one table per gateway (IGW-1, RT-4).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        check_gateway_type(&self.gateway_type)?;
        let (table_id, gateway_id) = (self.route_table_id.as_str(), self.gateway_id.as_str());
        let ti = gateway_table_index(d, table_id)?;
        let gi = gateway_index(d, gateway_id)?;
        let g = &d.model.ipv4_gateways[gi];
        if d.model.route_tables[ti].vpc_id != g.vpc_id {
            return Err(ApiError::bad(
                "Forbidden.NotInSameVpc",
                format!("The route table {table_id} is not in {}.", g.vpc_id),
            ));
        }
        if !g.enabled {
            return Err(ApiError::bad(
                "IncorrectStatus.Ipv4Gateway",
                format!("The IPv4 gateway {gateway_id} is not enabled (EnableVpcIpv4Gateway)."),
            ));
        }
        match g.route_table_id.as_deref() {
            Some(t) if t == table_id => return Ok(Empty {}),
            Some(t) => {
                return Err(ApiError::bad(
                    "IncorrectStatus.Ipv4Gateway",
                    format!(
                        "The IPv4 gateway {gateway_id} is bound to gateway route table {t}: dissociate it first."
                    ),
                ));
            }
            None => {}
        }
        if let Some(other) = d
            .model
            .ipv4_gateways
            .iter()
            .find(|x| x.route_table_id.as_deref() == Some(table_id))
        {
            return Err(ApiError::bad(
                "OperationConflict",
                format!("The route table {table_id} is bound to {}.", other.id),
            ));
        }
        d.model.ipv4_gateways[gi].route_table_id = Some(self.route_table_id);
        Ok(Empty {})
    }
}

/// DissociateRouteTableFromGateway.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DissociateRouteTableFromGateway {
    /// The gateway route table bound to the gateway.
    route_table_id: String,
    /// The IPv4 gateway.
    gateway_id: String,
    /// `IPv4Gateway` (the default, and the only type).
    gateway_type: Option<String>,
}

impl Action for DissociateRouteTableFromGateway {
    const NAME: &'static str = "DissociateRouteTableFromGateway";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Unbinds a gateway route table from its IPv4 gateway (needed before DeleteIpv4Gateway, IGW-5).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        check_gateway_type(&self.gateway_type)?;
        let (table_id, gateway_id) = (self.route_table_id.as_str(), self.gateway_id.as_str());
        gateway_table_index(d, table_id)?;
        let gi = gateway_index(d, gateway_id)?;
        if d.model.ipv4_gateways[gi].route_table_id.as_deref() != Some(table_id) {
            return Err(ApiError::bad(
                "InvalidAssociation.NotFound",
                format!("The route table {table_id} is not bound to IPv4 gateway {gateway_id}."),
            ));
        }
        d.model.ipv4_gateways[gi].route_table_id = None;
        Ok(Empty {})
    }
}

/// Name of a next hop type in ListGatewayRouteTableEntries.
fn listed_type(t: NextHopType) -> &'static str {
    match t {
        NextHopType::Instance => "EcsInstance",
        other => other.as_str(),
    }
}

/// ListGatewayRouteTableEntries.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGatewayRouteTableEntries {
    gateway_route_table_id: String,
    /// Only the entry of this vSwitch CIDR block.
    destination_cidr_block: Option<String>,
    /// Entries per page, 1..=100 (default 10).
    max_results: Option<u32>,
    /// Where the page starts: the NextToken of the previous page.
    next_token: Option<String>,
}

/// One next hop of a gateway route entry (every field a string, as the
/// SDK model has them).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GatewayNextHop {
    next_hop_id: String,
    next_hop_type: &'static str,
    enabled: &'static str,
    weight: &'static str,
}

/// One entry in ListGatewayRouteTableEntries.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GatewayRouteEntryModel {
    destination_cidr_block: String,
    name: String,
    description: String,
    next_hop_id: String,
    next_hop_type: &'static str,
    status: &'static str,
    next_hops: Vec<GatewayNextHop>,
}

/// ListGatewayRouteTableEntries' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGatewayRouteTableEntriesResponse {
    gateway_route_entry_models: Vec<GatewayRouteEntryModel>,
    next_token: String,
    total_count: String,
}

/// The entry of a vSwitch CIDR block in a gateway route table: the system
/// one (next hop Local) or its edited version.
fn gateway_entry(table: &crate::model::RouteTable, cidr_block: Ipv4Net) -> GatewayRouteEntryModel {
    let edited = table
        .route_entries
        .iter()
        .find(|e| e.destination_cidr_block == cidr_block);
    let (hop_type, hop_id, name, description) = match edited {
        Some(e) => (
            listed_type(e.next_hop_type),
            e.next_hop_id.clone(),
            e.name.clone().unwrap_or_default(),
            e.meta.description.clone(),
        ),
        None => ("Local", String::new(), String::new(), String::new()),
    };
    GatewayRouteEntryModel {
        destination_cidr_block: cidr_block.to_string(),
        name,
        description,
        next_hop_id: hop_id.clone(),
        next_hop_type: hop_type,
        status: "Available",
        next_hops: vec![GatewayNextHop {
            next_hop_id: hop_id,
            next_hop_type: hop_type,
            enabled: "1",
            weight: "",
        }],
    }
}

impl Action for ListGatewayRouteTableEntries {
    const NAME: &'static str = "ListGatewayRouteTableEntries";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists a gateway route table's entries, one per vSwitch of the VPC (system or edited, RT-4); paged by MaxResults and NextToken.";
    type Response = ListGatewayRouteTableEntriesResponse;

    fn run(self, d: &mut Draft) -> Result<ListGatewayRouteTableEntriesResponse, ApiError> {
        d.require_region()?;
        let dest = given(&self.destination_cidr_block)
            .map(|c| cidr("DestinationCidrBlock", c))
            .transpose()?;
        let t = &d.model.route_tables[gateway_table_index(d, &self.gateway_route_table_id)?];
        let items: Vec<(Ipv4Net, Ipv4Net)> = d
            .model
            .vswitches
            .iter()
            .filter(|v| v.vpc_id == t.vpc_id && dest.is_none_or(|x| x == v.cidr_block))
            .map(|v| (v.cidr_block, v.cidr_block))
            .collect();
        let page = token_page("gwrte", items, self.max_results, self.next_token.as_deref())?;
        Ok(ListGatewayRouteTableEntriesResponse {
            gateway_route_entry_models: page
                .items
                .into_iter()
                .map(|c| gateway_entry(t, c))
                .collect(),
            next_token: page.next_token,
            total_count: page.total_count,
        })
    }
}

/// UpdateGatewayRouteTableEntryAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateGatewayRouteTableEntryAttribute {
    /// The gateway route table (or IPv4GatewayRouteTableId, the other
    /// spelling the SDK model has; one of them is required).
    gateway_route_table_id: Option<String>,
    /// The gateway route table, as GatewayRouteTableId.
    #[serde(rename = "IPv4GatewayRouteTableId")]
    ipv4_gateway_route_table_id: Option<String>,
    /// The CIDR block of a vSwitch of the table's VPC.
    destination_cidr_block: String,
    /// `Local`, `Instance` or `NetworkInterface`.
    next_hop_type: String,
    /// The instance or ENI (not for Local).
    next_hop_id: Option<String>,
    /// The entry's name.
    name: Option<String>,
    /// The entry's description.
    description: Option<String>,
}

impl UpdateGatewayRouteTableEntryAttribute {
    /// The table id, under either spelling (the two must agree).
    fn table_id(&self) -> Result<&str, ApiError> {
        match (
            given(&self.gateway_route_table_id),
            given(&self.ipv4_gateway_route_table_id),
        ) {
            (Some(a), Some(b)) if a != b => Err(ApiError::invalid(
                "IPv4GatewayRouteTableId",
                format!("{b:?} is not the GatewayRouteTableId given, {a:?}"),
            )),
            (Some(a), _) | (None, Some(a)) => Ok(a),
            (None, None) => Err(ApiError::missing("GatewayRouteTableId")),
        }
    }

    /// The next hop asked for: its type and id (empty for Local).
    fn next_hop(&self) -> Result<(NextHopType, String), ApiError> {
        let kind = match self.next_hop_type.as_str() {
            "Local" => NextHopType::Local,
            "Instance" => NextHopType::Instance,
            "NetworkInterface" => NextHopType::NetworkInterface,
            "" => return Err(ApiError::missing("NextHopType")),
            other => {
                return Err(ApiError::bad(
                    "InvalidNextHopType.NotSupported",
                    format!(
                        "NextHopType {other} is not supported in a gateway route table (Local, Instance, NetworkInterface are)."
                    ),
                ));
            }
        };
        let id = match kind {
            NextHopType::Local => String::new(),
            _ => given(&self.next_hop_id)
                .ok_or_else(|| ApiError::missing("NextHopId"))?
                .to_string(),
        };
        Ok((kind, id))
    }
}

impl Action for UpdateGatewayRouteTableEntryAttribute {
    const NAME: &'static str = "UpdateGatewayRouteTableEntryAttribute";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Edits a vSwitch's entry of a gateway route table: next hop Local, Instance or NetworkInterface (RT-4).";
    type Response = Empty;

    /// Editing makes the entry custom; a custom entry cannot move straight
    /// to another instance or ENI: delete it (DeleteRouteEntry: back to the
    /// system entry) and edit again (RT-4).
    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let table_id = self.table_id()?;
        let destination = cidr("DestinationCidrBlock", &self.destination_cidr_block)?;
        let (next_hop_type, next_hop_id) = self.next_hop()?;
        let ti = gateway_table_index(d, table_id)?;
        let vpc_id = d.model.route_tables[ti].vpc_id.clone();
        if !d
            .model
            .vswitches
            .iter()
            .any(|v| v.vpc_id == vpc_id && v.cidr_block == destination)
        {
            return Err(ApiError::not_found(
                "InvalidRouteEntry.NotFound",
                format!(
                    "The gateway route table {table_id} has no entry for {destination}: only the vSwitch entries exist, none can be added (RT-4)."
                ),
            ));
        }
        if next_hop_type != NextHopType::Local
            && d.model
                .instance_by_next_hop(next_hop_type, &next_hop_id)
                .is_none_or(|i| !d.caller.owns(&i.meta.owner_id))
        {
            return Err(ApiError::not_found(
                "InvalidNextHopId.NotFound",
                format!("The next hop {next_hop_id} does not exist."),
            ));
        }
        let meta = d.new_meta(self.description.as_deref());
        let table = &mut d.model.route_tables[ti];
        let name = self.name.filter(|n| !n.is_empty());
        let at = table
            .route_entries
            .iter()
            .position(|e| e.destination_cidr_block == destination);
        match at.and_then(|i| table.route_entries.get_mut(i)) {
            Some(e) => {
                let e = Arc::make_mut(e);
                let same = e.next_hop_type == next_hop_type && e.next_hop_id == next_hop_id;
                if !same
                    && matches!(
                        next_hop_type,
                        NextHopType::Instance | NextHopType::NetworkInterface
                    )
                {
                    return Err(ApiError::bad(
                        "OperationUnsupported.NextHopSwap",
                        format!(
                            "The entry {destination} already goes to {} {}: delete it (DeleteRouteEntry) and edit the system entry again to change the next hop to an instance or ENI (RT-4).",
                            e.next_hop_type.as_str(),
                            if e.next_hop_id.is_empty() {
                                "(local)"
                            } else {
                                &e.next_hop_id
                            }
                        ),
                    ));
                }
                e.next_hop_type = next_hop_type;
                e.next_hop_id = next_hop_id;
                if name.is_some() {
                    e.name = name;
                }
                if let Some(desc) = self.description {
                    e.meta.description = desc;
                }
            }
            None => table.route_entries.push(Arc::new(RouteEntry {
                id: new_id("rte"),
                name,
                destination_cidr_block: destination,
                next_hop_type,
                destination_prefix_list_id: None,
                next_hop_id,
                meta,
            })),
        }
        Ok(Empty {})
    }
}

#[cfg(test)]
mod tests {
    use crate::service::tests::Scratch;

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");

    /// A VPC with two vSwitches and an instance: (vpc, system table, vsw, instance).
    fn setup(s: &mut Scratch) -> (String, String, String, String) {
        let v = s.ok("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]);
        let (vpc, table) = (
            v["VpcId"].as_str().unwrap().to_string(),
            v["RouteTableId"].as_str().unwrap().to_string(),
        );
        let vsw = s.ok(
            "CreateVSwitch",
            &[
                R,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        );
        let vsw = vsw["VSwitchId"].as_str().unwrap().to_string();
        s.ok(
            "CreateVSwitch",
            &[
                R,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.2.0/24"),
            ],
        );
        let i = s.ok(
            "RunInstances",
            &[
                R,
                ("VSwitchId", &vsw),
                ("ImageId", "i"),
                ("InstanceType", "t"),
            ],
        );
        (
            vpc,
            table,
            vsw,
            i["InstanceIdSets"]["InstanceIdSet"][0]
                .as_str()
                .unwrap()
                .to_string(),
        )
    }

    #[test]
    fn igw_1_igw_2_igw_5_refused_gateway_actions_change_nothing() {
        let mut s = Scratch::new();
        let (vpc, table, _, inst) = setup(&mut s);
        assert_eq!(
            s.err("CreateIpv4Gateway", &[R, ("VpcId", "vpc-nope")]).code,
            "InvalidVpcId.NotFound"
        );
        let gw = s.ok("CreateIpv4Gateway", &[R, ("VpcId", &vpc)])["Ipv4GatewayId"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            s.err("CreateIpv4Gateway", &[R, ("VpcId", &vpc)]).code,
            "QuotaExceeded.Ipv4Gateway"
        );
        assert_eq!(
            s.err(
                "GetIpv4GatewayAttribute",
                &[R, ("Ipv4GatewayId", "ipv4gw-nope")]
            )
            .code,
            "InvalidIpv4GatewayId.NotFound"
        );
        let gwt = s.ok(
            "CreateRouteTable",
            &[R, ("VpcId", &vpc), ("AssociateType", "Gateway")],
        )["RouteTableId"]
            .as_str()
            .unwrap()
            .to_string();
        // Binding needs an enabled gateway and a gateway route table.
        let e = s.err(
            "AssociateRouteTableWithGateway",
            &[R, ("RouteTableId", &gwt), ("GatewayId", &gw)],
        );
        assert_eq!(e.code, "IncorrectStatus.Ipv4Gateway");
        // IGW-2: a table with 0.0.0.0/0 fails the whole call.
        s.ok(
            "CreateRouteEntry",
            &[
                R,
                ("RouteTableId", &table),
                ("DestinationCidrBlock", "0.0.0.0/0"),
                ("NextHopId", &inst),
            ],
        );
        let e = s.err(
            "EnableVpcIpv4Gateway",
            &[R, ("Ipv4GatewayId", &gw), ("RouteTableList.1", &table)],
        );
        assert_eq!(e.code, "InvalidRouteEntry.DefaultRouteExists");
        assert_eq!(
            s.ok("GetIpv4GatewayAttribute", &[R, ("Ipv4GatewayId", &gw)])["Enabled"],
            false
        );
        let e = s.err(
            "EnableVpcIpv4Gateway",
            &[R, ("Ipv4GatewayId", &gw), ("RouteTableList.1", &gwt)],
        );
        assert_eq!(e.code, "IncorrectRouteTableType");
        s.ok(
            "DeleteRouteEntry",
            &[
                R,
                ("RouteTableId", &table),
                ("DestinationCidrBlock", "0.0.0.0/0"),
            ],
        );
        s.ok(
            "EnableVpcIpv4Gateway",
            &[R, ("Ipv4GatewayId", &gw), ("RouteTableList.1", &table)],
        );
        assert_eq!(
            s.err("EnableVpcIpv4Gateway", &[R, ("Ipv4GatewayId", &gw)])
                .code,
            "IncorrectStatus.Ipv4Gateway"
        );
        let e = s.err(
            "AssociateRouteTableWithGateway",
            &[R, ("RouteTableId", &table), ("GatewayId", &gw)],
        );
        assert_eq!(e.code, "IncorrectRouteTableType");
        // RT-4: no custom entries, only the vSwitch entries; no vSwitch association.
        let e = s.err(
            "CreateRouteEntry",
            &[
                R,
                ("RouteTableId", &gwt),
                ("DestinationCidrBlock", "10.0.9.0/24"),
                ("NextHopId", &inst),
            ],
        );
        assert_eq!(e.code, "IncorrectRouteTableType");
        let e = s.err(
            "UpdateGatewayRouteTableEntryAttribute",
            &[
                R,
                ("GatewayRouteTableId", &gwt),
                ("DestinationCidrBlock", "10.0.9.0/24"),
                ("NextHopType", "Local"),
            ],
        );
        assert_eq!(e.code, "InvalidRouteEntry.NotFound");
        let e = s.err(
            "UpdateGatewayRouteTableEntryAttribute",
            &[
                R,
                ("GatewayRouteTableId", &gwt),
                ("DestinationCidrBlock", "10.0.1.0/24"),
                ("NextHopType", "VpnGateway"),
                ("NextHopId", "x"),
            ],
        );
        assert_eq!(e.code, "InvalidNextHopType.NotSupported");
        let e = s.err(
            "UpdateGatewayRouteTableEntryAttribute",
            &[
                R,
                ("DestinationCidrBlock", "10.0.1.0/24"),
                ("NextHopType", "Local"),
            ],
        );
        assert_eq!(e.code, "MissingParameter");
        // IPv4GatewayRouteTableId is the other spelling the SDK sends.
        s.ok(
            "UpdateGatewayRouteTableEntryAttribute",
            &[
                R,
                ("IPv4GatewayRouteTableId", &gwt),
                ("DestinationCidrBlock", "10.0.1.0/24"),
                ("NextHopType", "Local"),
            ],
        );
        let e = s.err(
            "UpdateGatewayRouteTableEntryAttribute",
            &[
                R,
                ("GatewayRouteTableId", &gwt),
                ("DestinationCidrBlock", "10.0.1.0/24"),
                ("NextHopType", "Instance"),
                ("NextHopId", &inst),
            ],
        );
        assert_eq!(
            e.code, "OperationUnsupported.NextHopSwap",
            "a custom entry moves to an instance only after a delete"
        );
        s.ok(
            "AssociateRouteTableWithGateway",
            &[R, ("RouteTableId", &gwt), ("GatewayId", &gw)],
        );
        // IGW-5.
        assert_eq!(
            s.err("DeleteIpv4Gateway", &[R, ("Ipv4GatewayId", &gw)])
                .code,
            "DependencyViolation.GatewayRouteTable"
        );
        assert_eq!(
            s.err("DeleteRouteTable", &[R, ("RouteTableId", &gwt)]).code,
            "DependencyViolation.Ipv4Gateway"
        );
        s.ok(
            "DissociateRouteTableFromGateway",
            &[R, ("RouteTableId", &gwt), ("GatewayId", &gw)],
        );
        let e = s.err(
            "DissociateRouteTableFromGateway",
            &[R, ("RouteTableId", &gwt), ("GatewayId", &gw)],
        );
        assert_eq!(e.code, "InvalidAssociation.NotFound");
        assert_eq!(
            s.err(
                "DeleteIpv4Gateway",
                &[R, ("Ipv4GatewayId", &gw), ("InternetMode", "sideways")]
            )
            .code,
            "InvalidParameter"
        );
        assert_eq!(
            s.err("DeleteIpv4Gateway", &[R, ("Ipv4GatewayId", &gw)])
                .code,
            "DependencyViolation.RouteEntry"
        );
        assert_eq!(
            s.err("DeleteVpc", &[R, ("VpcId", &vpc)]).code,
            "DependencyViolation.VSwitch"
        );
        s.ok(
            "DeleteIpv4Gateway",
            &[R, ("Ipv4GatewayId", &gw), ("InternetMode", "public")],
        );
        let left = s.ok(
            "DescribeRouteEntryList",
            &[R, ("RouteTableId", &table), ("NextHopType", "Ipv4Gateway")],
        );
        assert_eq!(
            left["TotalCount"], 0,
            "public mode deletes the routes to the gateway"
        );
        assert_eq!(
            s.ok("ListIpv4Gateways", &[R, ("VpcId", &vpc)])["TotalCount"],
            "0"
        );
    }

    #[test]
    fn igw_3_refused_eip_and_nat_actions_change_nothing() {
        let mut s = Scratch::new();
        let (vpc, _, vsw, inst) = setup(&mut s);
        assert_eq!(
            s.err("AllocateEipAddress", &[R, ("IpAddress", "203.0.113.7")])
                .code,
            "InvalidIpAddress"
        );
        let e1 = s.ok("AllocateEipAddress", &[R, ("IpAddress", "192.0.2.7")]);
        assert_eq!(e1["EipAddress"], "192.0.2.7");
        assert_eq!(
            s.err("AllocateEipAddress", &[R, ("IpAddress", "192.0.2.7")])
                .code,
            "InvalidIpAddress.Duplicated"
        );
        let e1 = e1["AllocationId"].as_str().unwrap().to_string();
        let e2 = s.ok("AllocateEipAddress", &[R])["AllocationId"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            s.err(
                "AssociateEipAddress",
                &[R, ("AllocationId", "eip-nope"), ("InstanceId", &inst)]
            )
            .code,
            "InvalidAllocationId.NotFound"
        );
        assert_eq!(
            s.err(
                "AssociateEipAddress",
                &[R, ("AllocationId", &e1), ("InstanceId", "i-nope")]
            )
            .code,
            "InvalidInstanceId.NotFound"
        );
        let e = s.err(
            "AssociateEipAddress",
            &[
                R,
                ("AllocationId", &e1),
                ("InstanceId", &inst),
                ("InstanceType", "HaVip"),
            ],
        );
        assert_eq!(e.code, "InvalidInstanceType.ValueNotSupported");
        assert_eq!(
            s.err("UnassociateEipAddress", &[R, ("AllocationId", &e1)])
                .code,
            "IncorrectEipStatus"
        );
        s.ok(
            "AssociateEipAddress",
            &[R, ("AllocationId", &e1), ("InstanceId", &inst)],
        );
        let eni = crate::model::eni_id_of(&inst);
        let e = s.err(
            "AssociateEipAddress",
            &[
                R,
                ("AllocationId", &e2),
                ("InstanceId", &eni),
                ("InstanceType", "NetworkInterface"),
            ],
        );
        assert_eq!(
            e.code, "InvalidAssociation.Duplicated",
            "one public address per ENI"
        );
        assert_eq!(
            s.err("ReleaseEipAddress", &[R, ("AllocationId", &e1)]).code,
            "IncorrectEipStatus"
        );
        let listed = s.ok(
            "DescribeEipAddresses",
            &[R, ("AssociatedInstanceId", &inst)],
        );
        assert_eq!(listed["EipAddresses"]["EipAddress"][0]["Status"], "InUse");
        // NAT gateways.
        let e = s.err(
            "CreateNatGateway",
            &[
                R,
                ("VpcId", &vpc),
                ("VSwitchId", &vsw),
                ("NetworkType", "intranet"),
            ],
        );
        assert_eq!(e.code, "UnsupportedFeature.VpcNat");
        let n = s.ok(
            "CreateNatGateway",
            &[R, ("VpcId", &vpc), ("VSwitchId", &vsw)],
        );
        let (ngw, table) = (
            n["NatGatewayId"].as_str().unwrap().to_string(),
            n["SnatTableIds"]["SnatTableId"][0]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let ip2 =
            s.ok("DescribeEipAddresses", &[R, ("AllocationId", &e2)])["EipAddresses"]["EipAddress"]
                [0]["IpAddress"]
                .as_str()
                .unwrap()
                .to_string();
        let e = s.err(
            "CreateSnatEntry",
            &[
                R,
                ("SnatTableId", &table),
                ("SnatIp", &ip2),
                ("SourceVSwitchId", &vsw),
            ],
        );
        assert_eq!(e.code, "InvalidSnatIp.NotBelongNatGateway");
        s.ok(
            "AssociateEipAddress",
            &[
                R,
                ("AllocationId", &e2),
                ("InstanceId", &ngw),
                ("InstanceType", "Nat"),
            ],
        );
        assert_eq!(
            s.err(
                "CreateSnatEntry",
                &[R, ("SnatTableId", &table), ("SnatIp", &ip2)]
            )
            .code,
            "MissingParameter"
        );
        let both = [
            R,
            ("SnatTableId", &table),
            ("SnatIp", &ip2),
            ("SourceVSwitchId", &vsw),
            ("SourceCIDR", "10.0.0.0/16"),
        ];
        assert_eq!(
            s.err("CreateSnatEntry", &both).code,
            "InvalidParameter.Conflict"
        );
        assert_eq!(
            s.err(
                "CreateSnatEntry",
                &[
                    R,
                    ("SnatTableId", "stb-nope"),
                    ("SnatIp", &ip2),
                    ("SourceVSwitchId", &vsw)
                ]
            )
            .code,
            "InvalidSnatTableId.NotFound"
        );
        let snat = s.ok(
            "CreateSnatEntry",
            &[
                R,
                ("SnatTableId", &table),
                ("SnatIp", &ip2),
                ("SourceVSwitchId", &vsw),
            ],
        );
        let e = s.err(
            "CreateSnatEntry",
            &[
                R,
                ("SnatTableId", &table),
                ("SnatIp", &ip2),
                ("SourceCIDR", "10.0.1.0/24"),
            ],
        );
        assert_eq!(
            e.code, "InvalidSourceCIDR.Duplicated",
            "the vSwitch's CIDR is already a source"
        );
        assert_eq!(
            s.err("DeleteNatGateway", &[R, ("NatGatewayId", &ngw)]).code,
            "DependencyViolation.SnatEntry"
        );
        assert_eq!(
            s.err("UnassociateEipAddress", &[R, ("AllocationId", &e2)])
                .code,
            "DependencyViolation.SnatEntry"
        );
        let e = s.err(
            "DeleteSnatEntry",
            &[R, ("SnatTableId", &table), ("SnatEntryId", "snat-nope")],
        );
        assert_eq!(e.code, "InvalidSnatEntryId.NotFound");
        s.ok(
            "DeleteSnatEntry",
            &[
                R,
                ("SnatTableId", &table),
                ("SnatEntryId", snat["SnatEntryId"].as_str().unwrap()),
            ],
        );
        assert_eq!(
            s.err("DeleteNatGateway", &[R, ("NatGatewayId", &ngw)]).code,
            "DependencyViolation.Eip"
        );
        s.ok(
            "DeleteNatGateway",
            &[R, ("NatGatewayId", &ngw), ("Force", "true")],
        );
        assert_eq!(
            s.ok("DescribeEipAddresses", &[R, ("AllocationId", &e2)])["EipAddresses"]["EipAddress"]
                [0]["Status"],
            "Available"
        );
    }

    /// A VPC with an IPv4 gateway created with `extra` parameters; returns
    /// (vpc, gateway).
    fn vpc_with_gateway(s: &mut Scratch, extra: &[(&str, &str)]) -> (String, String) {
        let vpc = s.ok("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")])["VpcId"]
            .as_str()
            .unwrap()
            .to_string();
        let mut p = vec![R, ("VpcId", vpc.as_str())];
        p.extend_from_slice(extra);
        let gw = s.ok("CreateIpv4Gateway", &p)["Ipv4GatewayId"]
            .as_str()
            .unwrap()
            .to_string();
        (vpc, gw)
    }

    /// Every Ipv4GatewayId of one ListIpv4Gateways answer.
    fn ids(v: &serde_json::Value) -> Vec<String> {
        v["Ipv4GatewayModels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["Ipv4GatewayId"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn gateway_tags_are_kept_answered_and_filtered_on() {
        let mut s = Scratch::new();
        let (_, tagged) = vpc_with_gateway(
            &mut s,
            &[
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "lab"),
                ("Ipv4GatewayName", "edge"),
            ],
        );
        vpc_with_gateway(&mut s, &[("Tag.1.Key", "env"), ("Tag.1.Value", "prod")]);
        let got = s.ok("GetIpv4GatewayAttribute", &[R, ("Ipv4GatewayId", &tagged)]);
        assert_eq!(
            got["Tags"],
            serde_json::json!([{"Key": "env", "Value": "lab"}])
        );
        assert_eq!(
            (got["Ipv4GatewayName"].as_str(), got["Status"].as_str()),
            (Some("edge"), Some("Created"))
        );
        let listed = s.ok(
            "ListIpv4Gateways",
            &[R, ("Tags.1.Key", "env"), ("Tags.1.Value", "lab")],
        );
        assert_eq!(
            (ids(&listed), listed["TotalCount"].as_str()),
            (vec![tagged.clone()], Some("1"))
        );
        assert_eq!(
            s.ok("ListIpv4Gateways", &[R, ("Tags.1.Key", "env")])["TotalCount"],
            "2"
        );
        assert_eq!(
            s.ok("ListIpv4Gateways", &[R, ("Tags.1.Key", "team")])["TotalCount"],
            "0"
        );
        assert_eq!(
            s.ok("ListIpv4Gateways", &[R, ("ResourceGroupId", "rg-other")])["TotalCount"],
            "0"
        );
        let e = s.err(
            "CreateIpv4Gateway",
            &[R, ("VpcId", "vpc-x"), ("Tag.1.Key", "acs:x")],
        );
        assert_eq!(e.code, "InvalidVpcId.NotFound");
        let vpc = s.ok("CreateVpc", &[R])["VpcId"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            s.err(
                "CreateIpv4Gateway",
                &[R, ("VpcId", &vpc), ("Tag.1.Key", "acs:x")]
            )
            .code,
            "InvalidTagKey.Malformed"
        );
        assert_eq!(s.service.model().ipv4_gateways.len(), 2);
    }

    #[test]
    fn a_next_token_continues_after_the_last_gateway_returned() {
        let mut s = Scratch::new();
        for _ in 0..4 {
            vpc_with_gateway(&mut s, &[]);
        }
        let first = s.ok("ListIpv4Gateways", &[R, ("MaxResults", "2")]);
        let page1 = ids(&first);
        assert_eq!(first["TotalCount"], "4");
        assert!(page1[0] < page1[1], "in id order: {page1:?}");
        let token = first["NextToken"].as_str().unwrap().to_string();
        assert!(!token.is_empty());
        // Between the calls: both gateways of the first page go away, one
        // is added; the next page is every gateway after the last one seen.
        for gw in &page1 {
            let vpc = s.ok("GetIpv4GatewayAttribute", &[R, ("Ipv4GatewayId", gw)])["VpcId"]
                .as_str()
                .unwrap()
                .to_string();
            s.ok("DeleteIpv4Gateway", &[R, ("Ipv4GatewayId", gw)]);
            s.ok("DeleteVpc", &[R, ("VpcId", &vpc)]);
        }
        vpc_with_gateway(&mut s, &[]);
        let mut after: Vec<String> = s
            .service
            .model()
            .ipv4_gateways
            .iter()
            .map(|g| g.id.clone())
            .filter(|id| id > &page1[1])
            .collect();
        after.sort();
        let second = s.ok(
            "ListIpv4Gateways",
            &[R, ("MaxResults", "10"), ("NextToken", &token)],
        );
        assert_eq!(ids(&second), after);
        assert_eq!(second["NextToken"], "", "the last page has no NextToken");
        assert_eq!(second["TotalCount"], "3");
    }

    #[test]
    fn garbled_next_tokens_and_page_sizes_are_refused() {
        let mut s = Scratch::new();
        let (vpc, _) = vpc_with_gateway(&mut s, &[]);
        for token in ["garbled", "2", "zz", &hex::encode("gwrte:10.0.1.0/24")] {
            let e = s.err("ListIpv4Gateways", &[R, ("NextToken", token)]);
            assert_eq!(
                (e.status, e.code.as_str()),
                (400, "IllegalParam.NextToken"),
                "{token}"
            );
        }
        for max in ["0", "101"] {
            assert_eq!(
                s.err("ListIpv4Gateways", &[R, ("MaxResults", max)]).code,
                "InvalidParameter",
                "{max}"
            );
        }
        let gwt = s.ok(
            "CreateRouteTable",
            &[R, ("VpcId", &vpc), ("AssociateType", "Gateway")],
        )["RouteTableId"]
            .as_str()
            .unwrap()
            .to_string();
        let e = s.err(
            "ListGatewayRouteTableEntries",
            &[
                R,
                ("GatewayRouteTableId", &gwt),
                ("NextToken", &hex::encode("ipv4gw:x")),
            ],
        );
        assert_eq!(e.code, "IllegalParam.NextToken");
    }

    #[test]
    fn gateway_route_entries_page_in_cidr_order() {
        let mut s = Scratch::new();
        let (vpc, _, _, _) = setup(&mut s);
        s.ok(
            "CreateVSwitch",
            &[
                R,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.0.0/24"),
            ],
        );
        let gwt = s.ok(
            "CreateRouteTable",
            &[R, ("VpcId", &vpc), ("AssociateType", "Gateway")],
        )["RouteTableId"]
            .as_str()
            .unwrap()
            .to_string();
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let mut p = vec![
                R,
                ("GatewayRouteTableId", gwt.as_str()),
                ("MaxResults", "1"),
            ];
            if !token.is_empty() {
                p.push(("NextToken", token.as_str()));
            }
            let v = s.ok("ListGatewayRouteTableEntries", &p);
            assert_eq!(v["TotalCount"], "3");
            for e in v["GatewayRouteEntryModels"].as_array().unwrap() {
                seen.push(e["DestinationCidrBlock"].as_str().unwrap().to_string());
                assert_eq!(e["NextHops"][0]["Enabled"], "1");
            }
            token = v["NextToken"].as_str().unwrap().to_string();
            if token.is_empty() {
                break;
            }
        }
        assert_eq!(seen, ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]);
    }

    #[test]
    fn gateway_type_and_the_two_table_id_spellings_are_checked() {
        let mut s = Scratch::new();
        let (vpc, table, _, _) = setup(&mut s);
        let gw = s.ok("CreateIpv4Gateway", &[R, ("VpcId", &vpc)])["Ipv4GatewayId"]
            .as_str()
            .unwrap()
            .to_string();
        s.ok(
            "EnableVpcIpv4Gateway",
            &[R, ("Ipv4GatewayId", &gw), ("RouteTableList.1", &table)],
        );
        let gwt = s.ok(
            "CreateRouteTable",
            &[R, ("VpcId", &vpc), ("AssociateType", "Gateway")],
        )["RouteTableId"]
            .as_str()
            .unwrap()
            .to_string();
        let (gwt_ref, gw_ref) = (gwt.as_str(), gw.as_str());
        let bind = |t: &'static str| {
            [
                R,
                ("RouteTableId", gwt_ref),
                ("GatewayId", gw_ref),
                ("GatewayType", t),
            ]
        };
        assert_eq!(
            s.err("AssociateRouteTableWithGateway", &bind("VpnGateway"))
                .code,
            "InvalidParameter"
        );
        assert_eq!(s.service.model().ipv4_gateways[0].route_table_id, None);
        s.ok("AssociateRouteTableWithGateway", &bind("IPv4Gateway"));
        assert_eq!(
            s.err("DissociateRouteTableFromGateway", &bind("VpnGateway"))
                .code,
            "InvalidParameter"
        );
        s.ok("DissociateRouteTableFromGateway", &bind("IPv4Gateway"));
        let e = s.err(
            "UpdateGatewayRouteTableEntryAttribute",
            &[
                R,
                ("GatewayRouteTableId", &gwt),
                ("IPv4GatewayRouteTableId", &table),
                ("DestinationCidrBlock", "10.0.1.0/24"),
                ("NextHopType", "Local"),
            ],
        );
        assert_eq!(e.code, "InvalidParameter");
        assert!(
            s.service
                .model()
                .route_table(&gwt)
                .unwrap()
                .route_entries
                .is_empty()
        );
    }
}
