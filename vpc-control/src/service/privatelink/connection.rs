//! Endpoint connections, the provider's side (CONN-1..4):
//! ListVpcEndpointConnections, Enable/DisableVpcEndpointConnection,
//! Enable/DisableVpcEndpointZoneConnection,
//! UpdateVpcEndpointConnectionAttribute. The connection is kept on the
//! endpoint (`connection_status`, each zone's `status`).
use serde::{Deserialize, Serialize};

use super::{
    bandwidth, connection, connection_denied, count_text, eq_or_any, illegal, own_service, page,
};
use crate::{
    api::{ApiError, Product},
    model::{ConnectionStatus, EndpointZoneStatus, VpcEndpoint},
    service::{Action, Draft, Empty, params::given},
};

/// TrafficControlMode: NoRestriction only (no per-connection rate limit).
fn traffic_control_mode(v: &Option<String>) -> Result<(), ApiError> {
    match given(v) {
        None | Some("NoRestriction") => Ok(()),
        Some("SimpleRestriction") => Err(ApiError::unsupported("TrafficControlMode")),
        Some(x) => Err(illegal(
            "TrafficControlMode",
            format!("{x:?} is not NoRestriction or SimpleRestriction"),
        )),
    }
}

/// ListVpcEndpointConnections: the connections of every account's
/// endpoints to one of the caller's services.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointConnections {
    #[serde(default)]
    service_id: String,
    endpoint_id: Option<String>,
    endpoint_owner_id: Option<u64>,
    connection_status: Option<String>,
    eni_id: Option<String>,
    resource_id: Option<String>,
    replaced_resource_id: Option<String>,
    /// ResourceGroupId is a common parameter: the endpoints' group.
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// One zone of a connection.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectionZone {
    eni_id: String,
    replaced_eni_id: String,
    replaced_resource_id: String,
    resource_id: String,
    #[serde(rename = "VSwitchId")]
    v_switch_id: String,
    zone_domain: String,
    zone_id: String,
    zone_status: &'static str,
}

/// One connection.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Connection {
    bandwidth: u32,
    connection_status: &'static str,
    endpoint_id: String,
    endpoint_owner_id: serde_json::Value,
    endpoint_region_id: String,
    endpoint_vpc_id: String,
    modified_time: String,
    resource_group_id: String,
    resource_owner: bool,
    service_id: String,
    service_region_id: String,
    traffic_control_mode: &'static str,
    zones: Vec<ConnectionZone>,
}

/// ListVpcEndpointConnections' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVpcEndpointConnectionsResponse {
    connections: Vec<Connection>,
    max_results: u32,
    next_token: String,
    total_count: String,
}

impl Action for ListVpcEndpointConnections {
    const NAME: &'static str = "ListVpcEndpointConnections";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the connections of endpoints (of any account) to one of the caller's services, by endpoint, owner, status, ENI, resource.";
    type Response = ListVpcEndpointConnectionsResponse;

    fn run(self, d: &mut Draft) -> Result<Self::Response, ApiError> {
        let s = &d.model.endpoint_services[own_service(d, &self.service_id)?];
        let domain = s.domain();
        let resource_in = |zone: &str| {
            s.resource_in(zone)
                .map(|r| r.resource_id.clone())
                .unwrap_or_default()
        };
        let group = d.common.resource_group_id.clone().filter(|g| !g.is_empty());
        let owner = self.endpoint_owner_id.map(|o| o.to_string());
        let items: Vec<(String, &VpcEndpoint)> = d
            .model
            .vpc_endpoints
            .iter()
            .filter(|e| {
                e.service_id == s.id
                    && eq_or_any(&self.endpoint_id, &e.id)
                    && owner.as_ref().is_none_or(|o| *o == e.meta.owner_id)
                    && given(&self.connection_status)
                        .is_none_or(|c| c.eq_ignore_ascii_case(e.connection_status.as_str()))
                    && given(&self.eni_id).is_none_or(|n| e.zones.iter().any(|z| z.eni_id == n))
                    && given(&self.resource_id)
                        .is_none_or(|r| e.zones.iter().any(|z| resource_in(&z.zone_id) == r))
                    && given(&self.replaced_resource_id).is_none()
                    && group
                        .as_ref()
                        .is_none_or(|g| *g == e.meta.resource_group_id)
            })
            .map(|e| (e.id.clone(), e))
            .collect();
        let (items, next_token, total) = page("epconn", items, self.max_results, &self.next_token)?;
        let connections = items
            .into_iter()
            .map(|e| Connection {
                bandwidth: e.bandwidth,
                connection_status: e.connection_status.as_str(),
                endpoint_id: e.id.clone(),
                endpoint_owner_id: crate::service::owner_id(&e.meta),
                endpoint_region_id: e.meta.region_id.clone(),
                endpoint_vpc_id: e.vpc_id.clone(),
                modified_time: e.meta.creation_time.clone(),
                resource_group_id: e.meta.resource_group_id.clone(),
                resource_owner: e.meta.owner_id == s.meta.owner_id,
                service_id: s.id.clone(),
                service_region_id: s.meta.region_id.clone(),
                traffic_control_mode: "NoRestriction",
                zones: e
                    .zones
                    .iter()
                    .map(|z| ConnectionZone {
                        eni_id: z.eni_id.clone(),
                        replaced_eni_id: String::new(),
                        replaced_resource_id: String::new(),
                        resource_id: resource_in(&z.zone_id),
                        v_switch_id: z.vswitch_id.clone(),
                        zone_domain: e.zone_domain(&z.zone_id, &domain),
                        zone_id: z.zone_id.clone(),
                        zone_status: z.status.as_str(),
                    })
                    .collect(),
            })
            .collect();
        Ok(ListVpcEndpointConnectionsResponse {
            connections,
            max_results: self.max_results.unwrap_or(super::DEFAULT_PAGE),
            next_token,
            total_count: count_text(total),
        })
    }
}

/// EnableVpcEndpointConnection.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableVpcEndpointConnection {
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    endpoint_id: String,
    /// Bandwidth of the connection (default: the service's ConnectBandwidth).
    bandwidth: Option<u32>,
    traffic_control_mode: Option<String>,
}

impl Action for EnableVpcEndpointConnection {
    const NAME: &'static str = "EnableVpcEndpointConnection";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Accepts an endpoint's connection to the caller's service (CONN-1): Disconnected becomes Connected, with every zone; the endpoint's account must be whitelisted.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        traffic_control_mode(&self.traffic_control_mode)?;
        let bw = bandwidth("Bandwidth", self.bandwidth)?;
        let (si, ei) = connection(d, &self.service_id, &self.endpoint_id)?;
        let s = &d.model.endpoint_services[si];
        let e = &d.model.vpc_endpoints[ei];
        if e.connection_status != ConnectionStatus::Disconnected {
            return Err(connection_denied(format!(
                "The connection of the endpoint {} is {}, not Disconnected.",
                e.id,
                e.connection_status.as_str()
            )));
        }
        if !s.allows(&e.meta.owner_id) {
            return Err(connection_denied(format!(
                "The account {} of the endpoint {} is not on the whitelist of {}.",
                e.meta.owner_id, e.id, s.id
            )));
        }
        let bw = bw.unwrap_or(s.connect_bandwidth);
        let e = &mut d.model.vpc_endpoints[ei];
        e.connection_status = ConnectionStatus::Connected;
        e.bandwidth = bw;
        for z in &mut e.zones {
            z.status = EndpointZoneStatus::Connected;
        }
        Ok(Empty {})
    }
}

/// DisableVpcEndpointConnection.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DisableVpcEndpointConnection {
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    endpoint_id: String,
}

impl Action for DisableVpcEndpointConnection {
    const NAME: &'static str = "DisableVpcEndpointConnection";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Rejects or cuts an endpoint's connection to the caller's service (CONN-3): Connected becomes Disconnected, with every zone; traffic stops.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let (_, ei) = connection(d, &self.service_id, &self.endpoint_id)?;
        let e = &mut d.model.vpc_endpoints[ei];
        if e.connection_status != ConnectionStatus::Connected {
            return Err(connection_denied(format!(
                "The connection of the endpoint {} is {}, not Connected.",
                e.id,
                e.connection_status.as_str()
            )));
        }
        e.connection_status = ConnectionStatus::Disconnected;
        for z in &mut e.zones {
            z.status = EndpointZoneStatus::Disconnected;
        }
        Ok(Empty {})
    }
}

/// The zone `zone_id` of a connected endpoint, for the zone-level pair.
fn connected_zone(e: &mut VpcEndpoint, zone_id: &str) -> Result<usize, ApiError> {
    if zone_id.is_empty() {
        return Err(ApiError::missing("ZoneId"));
    }
    if e.connection_status != ConnectionStatus::Connected {
        return Err(connection_denied(format!(
            "The connection of the endpoint {} is {}: zones change only while it is Connected.",
            e.id,
            e.connection_status.as_str()
        )));
    }
    e.zones
        .iter()
        .position(|z| z.zone_id == zone_id)
        .ok_or_else(|| {
            ApiError::bad(
                "EndpointZoneNotFound",
                format!("The endpoint {} has no zone {zone_id}.", e.id),
            )
        })
}

/// EnableVpcEndpointZoneConnection.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableVpcEndpointZoneConnection {
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    endpoint_id: String,
    #[serde(default)]
    zone_id: String,
}

impl Action for EnableVpcEndpointZoneConnection {
    const NAME: &'static str = "EnableVpcEndpointZoneConnection";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Accepts one zone of a Connected endpoint again: the zone becomes Connected.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let (_, ei) = connection(d, &self.service_id, &self.endpoint_id)?;
        let e = &mut d.model.vpc_endpoints[ei];
        let zi = connected_zone(e, &self.zone_id)?;
        let z = &mut e.zones[zi];
        if z.status == EndpointZoneStatus::Connected {
            return Err(connection_denied(format!(
                "The zone {} of the endpoint {} is already Connected.",
                z.zone_id, e.id
            )));
        }
        z.status = EndpointZoneStatus::Connected;
        Ok(Empty {})
    }
}

/// DisableVpcEndpointZoneConnection.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DisableVpcEndpointZoneConnection {
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    endpoint_id: String,
    #[serde(default)]
    zone_id: String,
    /// ReplacedResource (migrate the zone's resource): not served.
    replaced_resource: Option<bool>,
}

impl Action for DisableVpcEndpointZoneConnection {
    const NAME: &'static str = "DisableVpcEndpointZoneConnection";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Cuts one zone of a Connected endpoint: the zone becomes Disconnected, its ENI carries no traffic; the other zones keep theirs.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        super::refuse_on("ReplacedResource", self.replaced_resource)?;
        let (_, ei) = connection(d, &self.service_id, &self.endpoint_id)?;
        let e = &mut d.model.vpc_endpoints[ei];
        let zi = connected_zone(e, &self.zone_id)?;
        let z = &mut e.zones[zi];
        if z.status != EndpointZoneStatus::Connected {
            return Err(connection_denied(format!(
                "The zone {} of the endpoint {} is {}, not Connected.",
                z.zone_id,
                e.id,
                z.status.as_str()
            )));
        }
        z.status = EndpointZoneStatus::Disconnected;
        Ok(Empty {})
    }
}

/// UpdateVpcEndpointConnectionAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateVpcEndpointConnectionAttribute {
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    endpoint_id: String,
    bandwidth: Option<u32>,
    traffic_control_mode: Option<String>,
}

impl Action for UpdateVpcEndpointConnectionAttribute {
    const NAME: &'static str = "UpdateVpcEndpointConnectionAttribute";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Sets the bandwidth of an endpoint's connection to the caller's service (100 to 10240 Mbit/s; recorded, not enforced).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        traffic_control_mode(&self.traffic_control_mode)?;
        let bw = bandwidth("Bandwidth", self.bandwidth)?;
        let (_, ei) = connection(d, &self.service_id, &self.endpoint_id)?;
        if let Some(b) = bw {
            d.model.vpc_endpoints[ei].bandwidth = b;
        }
        Ok(Empty {})
    }
}
