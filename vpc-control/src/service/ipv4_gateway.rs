//! IPv4 gateways and gateway route tables (VPC API 2016-04-28):
//! CreateIpv4Gateway, EnableVpcIpv4Gateway, ListIpv4Gateways,
//! GetIpv4GatewayAttribute, UpdateIpv4GatewayAttribute, DeleteIpv4Gateway,
//! AssociateRouteTableWithGateway, DissociateRouteTableFromGateway,
//! ListGatewayRouteTableEntries, UpdateGatewayRouteTableEntryAttribute
//! (IGW-1..IGW-5, RT-4).
use std::sync::Arc;

use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::{Draft, vpc::cidr};
use crate::{
    api::{ApiError, new_id, params::Params},
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
        .ok_or_else(|| ApiError::not_found("InvalidIpv4GatewayId.NotFound", format!("The specified IPv4 gateway {id} does not exist.")))
}

/// The gateway's attributes, as Get and List return them.
fn attributes(g: &Ipv4Gateway) -> Value {
    json!({
        "Ipv4GatewayId": g.id,
        "Ipv4GatewayName": g.name.clone().unwrap_or_default(),
        "Ipv4GatewayDescription": g.meta.description,
        "Ipv4GatewayRouteTableId": g.route_table_id.clone().unwrap_or_default(),
        "VpcId": g.vpc_id,
        "Enabled": g.enabled,
        // Changes are synchronous here: a gateway is never seen mid-change.
        "Status": "Created",
        "ResourceGroupId": "",
        "Tags": [],
    })
}

/// CreateIpv4Gateway: one per VPC (IGW-1); changes no traffic (IGW-2).
pub fn create(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(&["Tag."]);
    let vpc_id = p.required("VpcId")?;
    let vpc = &d.model.vpcs[d.vpc_index(vpc_id)?];
    if let Some(g) = d.model.ipv4_gateway_of(vpc_id) {
        return Err(ApiError::bad(
            "QuotaExceeded.Ipv4Gateway",
            format!("The VPC {vpc_id} already has the IPv4 gateway {}: a VPC has at most one (IGW-1).", g.id),
        ));
    }
    let mut meta = d.meta(p);
    meta.region_id = vpc.meta.region_id.clone();
    meta.description = p.get("Ipv4GatewayDescription").unwrap_or_default().to_string();
    let g = Ipv4Gateway {
        id: new_id("ipv4gw"),
        vpc_id: vpc_id.to_string(),
        name: p.str("Ipv4GatewayName").map(str::to_string),
        enabled: false,
        route_table_id: None,
        meta,
    };
    let body = json!({ "Ipv4GatewayId": g.id, "ResourceGroupId": "" });
    d.model.ipv4_gateways.push(g);
    Ok(body)
}

/// EnableVpcIpv4Gateway: activates the gateway and adds 0.0.0.0/0 -> it to
/// each route table of RouteTableList; a table that already has 0.0.0.0/0
/// fails the whole call (IGW-2).
pub fn enable(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("Ipv4GatewayId")?;
    let tables = p.list("RouteTableList")?;
    let gi = gateway_index(d, id)?;
    if d.model.ipv4_gateways[gi].enabled {
        return Err(ApiError::bad("IncorrectStatus.Ipv4Gateway", format!("The IPv4 gateway {id} is already enabled.")));
    }
    let vpc_id = d.model.ipv4_gateways[gi].vpc_id.clone();
    let meta = d.meta(p);
    for t in &tables {
        let ti = d.route_table_index(t)?;
        let table = &d.model.route_tables[ti];
        if table.vpc_id != vpc_id {
            return Err(ApiError::bad("Forbidden.NotInSameVpc", format!("The route table {t} is not in {vpc_id}.")));
        }
        if table.associate_type == AssociateType::Gateway {
            return Err(ApiError::bad("IncorrectRouteTableType", format!("The route table {t} is a gateway route table.")));
        }
        if table.route_entries.iter().any(|e| e.destination_cidr_block == default_route()) {
            return Err(ApiError::bad(
                "InvalidRouteEntry.DefaultRouteExists",
                format!("The route table {t} already has a 0.0.0.0/0 entry: the gateway's default route cannot be added (IGW-2)."),
            ));
        }
        d.model.route_tables[ti].route_entries.push(Arc::new(RouteEntry {
            id: new_id("rte"),
            name: None,
            destination_cidr_block: default_route(),
            next_hop_type: NextHopType::Ipv4Gateway,
            next_hop_id: id.to_string(),
            meta: meta.clone(),
        }));
    }
    d.model.ipv4_gateways[gi].enabled = true;
    Ok(json!({}))
}

/// ListIpv4Gateways: filters Ipv4GatewayId, Ipv4GatewayName, VpcId; paged
/// by MaxResults and NextToken.
pub fn list(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(&["Tags."]);
    let id = p.str("Ipv4GatewayId");
    let name = p.str("Ipv4GatewayName");
    let vpc = p.str("VpcId");
    let items: Vec<Value> = d
        .model
        .ipv4_gateways
        .iter()
        .filter(|g| d.visible(&g.meta, p))
        .filter(|g| id.is_none_or(|x| g.id == x) && name.is_none_or(|x| g.name.as_deref() == Some(x)) && vpc.is_none_or(|x| g.vpc_id == x))
        .map(|g| {
            let mut v = attributes(g);
            v["GmtCreate"] = json!(g.meta.creation_time);
            v
        })
        .collect();
    token_page(p, items, "Ipv4GatewayModels")
}

/// One page of a List action: MaxResults (1..100, default 10) from
/// NextToken; TotalCount is a string in these newer actions.
fn token_page(p: &Params, items: Vec<Value>, field: &str) -> Result<Value, ApiError> {
    let max = p.int_in("MaxResults", 1..=100, 10)? as usize;
    let start: usize = match p.str("NextToken") {
        None => 0,
        Some(t) => t.parse().map_err(|_| ApiError::bad("InvalidNextToken", format!("The NextToken {t:?} is not valid.")))?,
    };
    let total = items.len();
    let next = if start + max < total { (start + max).to_string() } else { String::new() };
    let page: Vec<Value> = items.into_iter().skip(start).take(max).collect();
    Ok(json!({ field: page, "NextToken": next, "TotalCount": total.to_string() }))
}

/// GetIpv4GatewayAttribute.
pub fn get(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("Ipv4GatewayId")?;
    let g = &d.model.ipv4_gateways[gateway_index(d, id)?];
    let mut v = attributes(g);
    v["CreateTime"] = json!(g.meta.creation_time);
    Ok(v)
}

/// UpdateIpv4GatewayAttribute: Ipv4GatewayName, Ipv4GatewayDescription.
pub fn update(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("Ipv4GatewayId")?;
    let gi = gateway_index(d, id)?;
    let g = &mut d.model.ipv4_gateways[gi];
    if let Some(n) = p.str("Ipv4GatewayName") {
        g.name = Some(n.to_string());
    }
    if let Some(desc) = p.get("Ipv4GatewayDescription") {
        g.meta.description = desc.to_string();
    }
    Ok(json!({}))
}

/// DeleteIpv4Gateway: the gateway route table must be dissociated first;
/// InternetMode private (default) requires that no route points to the
/// gateway, public deletes those routes, so instances reach the internet
/// through their public IPs again (IGW-5).
pub fn delete(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("Ipv4GatewayId")?;
    let public = match p.str("InternetMode").unwrap_or("private") {
        "private" => false,
        "public" => true,
        other => return Err(ApiError::invalid("InternetMode", format!("{other:?} is not private or public"))),
    };
    let gi = gateway_index(d, id)?;
    if let Some(t) = &d.model.ipv4_gateways[gi].route_table_id {
        return Err(ApiError::bad(
            "DependencyViolation.GatewayRouteTable",
            format!("The IPv4 gateway {id} is bound to gateway route table {t}: dissociate it first (IGW-5)."),
        ));
    }
    let points_here = |e: &RouteEntry| e.next_hop_type == NextHopType::Ipv4Gateway && e.next_hop_id == id;
    if public {
        for t in &mut d.model.route_tables {
            t.route_entries.retain(|e| !points_here(e));
        }
    } else if let Some((t, e)) =
        d.model.route_tables.iter().find_map(|t| t.route_entries.iter().find(|e| points_here(e)).map(|e| (t, e)))
    {
        return Err(ApiError::bad(
            "DependencyViolation.RouteEntry",
            format!(
                "The route entry {} of {} points to the IPv4 gateway {id}: delete it first, or delete in InternetMode public (IGW-5).",
                e.destination_cidr_block, t.id
            ),
        ));
    }
    d.model.ipv4_gateways.remove(gi);
    Ok(json!({}))
}

/// The gateway route table named by a request, checked to be one.
fn gateway_table_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    let ti = d.route_table_index(id)?;
    if d.model.route_tables[ti].associate_type != AssociateType::Gateway {
        return Err(ApiError::bad(
            "IncorrectRouteTableType",
            format!("The route table {id} is not a gateway route table (CreateRouteTable with AssociateType Gateway)."),
        ));
    }
    Ok(ti)
}

/// AssociateRouteTableWithGateway: binds a gateway route table to an
/// enabled IPv4 gateway of its VPC (one table per gateway, IGW-1).
pub fn associate_route_table(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(&["GatewayType"]);
    let table_id = p.required("RouteTableId")?;
    let gateway_id = p.required("GatewayId")?;
    let ti = gateway_table_index(d, table_id)?;
    let gi = gateway_index(d, gateway_id)?;
    let g = &d.model.ipv4_gateways[gi];
    if d.model.route_tables[ti].vpc_id != g.vpc_id {
        return Err(ApiError::bad("Forbidden.NotInSameVpc", format!("The route table {table_id} is not in {}.", g.vpc_id)));
    }
    if !g.enabled {
        return Err(ApiError::bad("IncorrectStatus.Ipv4Gateway", format!("The IPv4 gateway {gateway_id} is not enabled (EnableVpcIpv4Gateway).")));
    }
    match g.route_table_id.as_deref() {
        Some(t) if t == table_id => return Ok(json!({})),
        Some(t) => {
            return Err(ApiError::bad(
                "IncorrectStatus.Ipv4Gateway",
                format!("The IPv4 gateway {gateway_id} is bound to gateway route table {t}: dissociate it first."),
            ));
        }
        None => {}
    }
    if let Some(other) = d.model.ipv4_gateways.iter().find(|x| x.route_table_id.as_deref() == Some(table_id)) {
        return Err(ApiError::bad("OperationConflict", format!("The route table {table_id} is bound to {}.", other.id)));
    }
    d.model.ipv4_gateways[gi].route_table_id = Some(table_id.to_string());
    Ok(json!({}))
}

/// DissociateRouteTableFromGateway.
pub fn dissociate_route_table(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(&["GatewayType"]);
    let table_id = p.required("RouteTableId")?;
    let gateway_id = p.required("GatewayId")?;
    gateway_table_index(d, table_id)?;
    let gi = gateway_index(d, gateway_id)?;
    if d.model.ipv4_gateways[gi].route_table_id.as_deref() != Some(table_id) {
        return Err(ApiError::bad(
            "InvalidAssociation.NotFound",
            format!("The route table {table_id} is not bound to IPv4 gateway {gateway_id}."),
        ));
    }
    d.model.ipv4_gateways[gi].route_table_id = None;
    Ok(json!({}))
}

/// Name of a next hop type in ListGatewayRouteTableEntries.
fn listed_type(t: NextHopType) -> &'static str {
    match t {
        NextHopType::Instance => "EcsInstance",
        other => other.as_str(),
    }
}

/// ListGatewayRouteTableEntries: one entry per vSwitch of the VPC, the
/// system one (next hop Local) or its edited (custom) version (RT-4).
pub fn list_entries(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let table_id = p.required("GatewayRouteTableId")?;
    let dest = p.str("DestinationCidrBlock").map(|c| cidr("DestinationCidrBlock", c)).transpose()?;
    let t = &d.model.route_tables[gateway_table_index(d, table_id)?];
    let items: Vec<Value> = d
        .model
        .vswitches
        .iter()
        .filter(|v| v.vpc_id == t.vpc_id && dest.is_none_or(|x| x == v.cidr_block))
        .map(|v| {
            let edited = t.route_entries.iter().find(|e| e.destination_cidr_block == v.cidr_block);
            let (hop_type, hop_id, name, description) = match edited {
                Some(e) => (listed_type(e.next_hop_type), e.next_hop_id.clone(), e.name.clone().unwrap_or_default(), e.meta.description.clone()),
                None => ("Local", String::new(), String::new(), String::new()),
            };
            json!({
                "DestinationCidrBlock": v.cidr_block.to_string(),
                "Name": name,
                "Description": description,
                "NextHopId": hop_id,
                "NextHopType": hop_type,
                "Status": "Available",
                "NextHops": [{ "NextHopId": hop_id, "NextHopType": hop_type, "Enabled": "1", "Weight": "" }],
            })
        })
        .collect();
    token_page(p, items, "GatewayRouteEntryModels")
}

/// UpdateGatewayRouteTableEntryAttribute: edits the entry of a vSwitch
/// (next hop Local, Instance or NetworkInterface), which makes it custom;
/// a custom entry cannot move straight to another instance or ENI: delete
/// it (DeleteRouteEntry: back to the system entry) and edit again (RT-4).
pub fn update_entry(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let table_id = p
        .str("GatewayRouteTableId")
        .or_else(|| p.str("IPv4GatewayRouteTableId"))
        .ok_or_else(|| ApiError::missing("GatewayRouteTableId"))?;
    let destination = cidr("DestinationCidrBlock", p.required("DestinationCidrBlock")?)?;
    let next_hop_type = match p.required("NextHopType")? {
        "Local" => NextHopType::Local,
        "Instance" => NextHopType::Instance,
        "NetworkInterface" => NextHopType::NetworkInterface,
        other => {
            return Err(ApiError::bad(
                "InvalidNextHopType.NotSupported",
                format!("NextHopType {other} is not supported in a gateway route table (Local, Instance, NetworkInterface are)."),
            ));
        }
    };
    let next_hop_id = match next_hop_type {
        NextHopType::Local => String::new(),
        _ => p.required("NextHopId")?.to_string(),
    };
    let ti = gateway_table_index(d, table_id)?;
    let vpc_id = d.model.route_tables[ti].vpc_id.clone();
    if !d.model.vswitches.iter().any(|v| v.vpc_id == vpc_id && v.cidr_block == destination) {
        return Err(ApiError::not_found(
            "InvalidRouteEntry.NotFound",
            format!("The gateway route table {table_id} has no entry for {destination}: only the vSwitch entries exist, none can be added (RT-4)."),
        ));
    }
    if next_hop_type != NextHopType::Local
        && d.model.instance_by_next_hop(next_hop_type, &next_hop_id).is_none_or(|i| !d.caller.owns(&i.meta.owner_id))
    {
        return Err(ApiError::not_found("InvalidNextHopId.NotFound", format!("The next hop {next_hop_id} does not exist.")));
    }
    let meta = d.meta(p);
    let table = &mut d.model.route_tables[ti];
    let name = p.str("Name").map(str::to_string);
    match table.route_entries.iter_mut().find(|e| e.destination_cidr_block == destination) {
        Some(e) => {
            let e = Arc::make_mut(e);
            let same = e.next_hop_type == next_hop_type && e.next_hop_id == next_hop_id;
            if !same && matches!(next_hop_type, NextHopType::Instance | NextHopType::NetworkInterface) {
                return Err(ApiError::bad(
                    "OperationUnsupported.NextHopSwap",
                    format!(
                        "The entry {destination} already goes to {} {}: delete it (DeleteRouteEntry) and edit the system entry again to change the next hop to an instance or ENI (RT-4).",
                        e.next_hop_type.as_str(),
                        if e.next_hop_id.is_empty() { "(local)" } else { &e.next_hop_id }
                    ),
                ));
            }
            e.next_hop_type = next_hop_type;
            e.next_hop_id = next_hop_id;
            if name.is_some() {
                e.name = name;
            }
            if let Some(desc) = p.get("Description") {
                e.meta.description = desc.to_string();
            }
        }
        None => table.route_entries.push(Arc::new(RouteEntry {
            id: new_id("rte"),
            name,
            destination_cidr_block: destination,
            next_hop_type,
            next_hop_id,
            meta,
        })),
    }
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use crate::service::tests::Scratch;

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");

    /// A VPC with two vSwitches and an instance: (vpc, system table, vsw, instance).
    fn setup(s: &mut Scratch) -> (String, String, String, String) {
        let v = s.ok("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]);
        let (vpc, table) = (v["VpcId"].as_str().unwrap().to_string(), v["RouteTableId"].as_str().unwrap().to_string());
        let vsw = s.ok("CreateVSwitch", &[R, ("VpcId", &vpc), ("ZoneId", "a"), ("CidrBlock", "10.0.1.0/24")]);
        let vsw = vsw["VSwitchId"].as_str().unwrap().to_string();
        s.ok("CreateVSwitch", &[R, ("VpcId", &vpc), ("ZoneId", "a"), ("CidrBlock", "10.0.2.0/24")]);
        let i = s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("ImageId", "i"), ("InstanceType", "t")]);
        (vpc, table, vsw, i["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string())
    }

    #[test]
    fn igw_1_igw_2_igw_5_refused_gateway_actions_change_nothing() {
        let mut s = Scratch::new();
        let (vpc, table, _, inst) = setup(&mut s);
        assert_eq!(s.err("CreateIpv4Gateway", &[R, ("VpcId", "vpc-nope")]).code, "InvalidVpcId.NotFound");
        let gw = s.ok("CreateIpv4Gateway", &[R, ("VpcId", &vpc)])["Ipv4GatewayId"].as_str().unwrap().to_string();
        assert_eq!(s.err("CreateIpv4Gateway", &[R, ("VpcId", &vpc)]).code, "QuotaExceeded.Ipv4Gateway");
        assert_eq!(s.err("GetIpv4GatewayAttribute", &[R, ("Ipv4GatewayId", "ipv4gw-nope")]).code, "InvalidIpv4GatewayId.NotFound");
        let gwt = s.ok("CreateRouteTable", &[R, ("VpcId", &vpc), ("AssociateType", "Gateway")])["RouteTableId"].as_str().unwrap().to_string();
        // Binding needs an enabled gateway and a gateway route table.
        let e = s.err("AssociateRouteTableWithGateway", &[R, ("RouteTableId", &gwt), ("GatewayId", &gw)]);
        assert_eq!(e.code, "IncorrectStatus.Ipv4Gateway");
        // IGW-2: a table with 0.0.0.0/0 fails the whole call.
        s.ok("CreateRouteEntry", &[R, ("RouteTableId", &table), ("DestinationCidrBlock", "0.0.0.0/0"), ("NextHopId", &inst)]);
        let e = s.err("EnableVpcIpv4Gateway", &[R, ("Ipv4GatewayId", &gw), ("RouteTableList.1", &table)]);
        assert_eq!(e.code, "InvalidRouteEntry.DefaultRouteExists");
        assert_eq!(s.ok("GetIpv4GatewayAttribute", &[R, ("Ipv4GatewayId", &gw)])["Enabled"], false);
        let e = s.err("EnableVpcIpv4Gateway", &[R, ("Ipv4GatewayId", &gw), ("RouteTableList.1", &gwt)]);
        assert_eq!(e.code, "IncorrectRouteTableType");
        s.ok("DeleteRouteEntry", &[R, ("RouteTableId", &table), ("DestinationCidrBlock", "0.0.0.0/0")]);
        s.ok("EnableVpcIpv4Gateway", &[R, ("Ipv4GatewayId", &gw), ("RouteTableList.1", &table)]);
        assert_eq!(s.err("EnableVpcIpv4Gateway", &[R, ("Ipv4GatewayId", &gw)]).code, "IncorrectStatus.Ipv4Gateway");
        let e = s.err("AssociateRouteTableWithGateway", &[R, ("RouteTableId", &table), ("GatewayId", &gw)]);
        assert_eq!(e.code, "IncorrectRouteTableType");
        // RT-4: no custom entries, only the vSwitch entries; no vSwitch association.
        let e = s.err("CreateRouteEntry", &[R, ("RouteTableId", &gwt), ("DestinationCidrBlock", "10.0.9.0/24"), ("NextHopId", &inst)]);
        assert_eq!(e.code, "IncorrectRouteTableType");
        let e = s.err("UpdateGatewayRouteTableEntryAttribute", &[R, ("GatewayRouteTableId", &gwt), ("DestinationCidrBlock", "10.0.9.0/24"), ("NextHopType", "Local")]);
        assert_eq!(e.code, "InvalidRouteEntry.NotFound");
        let e = s.err("UpdateGatewayRouteTableEntryAttribute", &[R, ("GatewayRouteTableId", &gwt), ("DestinationCidrBlock", "10.0.1.0/24"), ("NextHopType", "VpnGateway"), ("NextHopId", "x")]);
        assert_eq!(e.code, "InvalidNextHopType.NotSupported");
        let e = s.err("UpdateGatewayRouteTableEntryAttribute", &[R, ("DestinationCidrBlock", "10.0.1.0/24"), ("NextHopType", "Local")]);
        assert_eq!(e.code, "MissingParameter");
        // IPv4GatewayRouteTableId is the other spelling the SDK sends.
        s.ok("UpdateGatewayRouteTableEntryAttribute", &[R, ("IPv4GatewayRouteTableId", &gwt), ("DestinationCidrBlock", "10.0.1.0/24"), ("NextHopType", "Local")]);
        let e = s.err("UpdateGatewayRouteTableEntryAttribute", &[R, ("GatewayRouteTableId", &gwt), ("DestinationCidrBlock", "10.0.1.0/24"), ("NextHopType", "Instance"), ("NextHopId", &inst)]);
        assert_eq!(e.code, "OperationUnsupported.NextHopSwap", "a custom entry moves to an instance only after a delete");
        s.ok("AssociateRouteTableWithGateway", &[R, ("RouteTableId", &gwt), ("GatewayId", &gw)]);
        // IGW-5.
        assert_eq!(s.err("DeleteIpv4Gateway", &[R, ("Ipv4GatewayId", &gw)]).code, "DependencyViolation.GatewayRouteTable");
        assert_eq!(s.err("DeleteRouteTable", &[R, ("RouteTableId", &gwt)]).code, "DependencyViolation.Ipv4Gateway");
        s.ok("DissociateRouteTableFromGateway", &[R, ("RouteTableId", &gwt), ("GatewayId", &gw)]);
        let e = s.err("DissociateRouteTableFromGateway", &[R, ("RouteTableId", &gwt), ("GatewayId", &gw)]);
        assert_eq!(e.code, "InvalidAssociation.NotFound");
        assert_eq!(s.err("DeleteIpv4Gateway", &[R, ("Ipv4GatewayId", &gw), ("InternetMode", "sideways")]).code, "InvalidParameter");
        assert_eq!(s.err("DeleteIpv4Gateway", &[R, ("Ipv4GatewayId", &gw)]).code, "DependencyViolation.RouteEntry");
        assert_eq!(s.err("DeleteVpc", &[R, ("VpcId", &vpc)]).code, "DependencyViolation.VSwitch");
        s.ok("DeleteIpv4Gateway", &[R, ("Ipv4GatewayId", &gw), ("InternetMode", "public")]);
        let left = s.ok("DescribeRouteEntryList", &[R, ("RouteTableId", &table), ("NextHopType", "Ipv4Gateway")]);
        assert_eq!(left["TotalCount"], 0, "public mode deletes the routes to the gateway");
        assert_eq!(s.ok("ListIpv4Gateways", &[R, ("VpcId", &vpc)])["TotalCount"], "0");
    }

    #[test]
    fn igw_3_refused_eip_and_nat_actions_change_nothing() {
        let mut s = Scratch::new();
        let (vpc, _, vsw, inst) = setup(&mut s);
        assert_eq!(s.err("AllocateEipAddress", &[R, ("IpAddress", "203.0.113.7")]).code, "InvalidIpAddress");
        let e1 = s.ok("AllocateEipAddress", &[R, ("IpAddress", "192.0.2.7")]);
        assert_eq!(e1["EipAddress"], "192.0.2.7");
        assert_eq!(s.err("AllocateEipAddress", &[R, ("IpAddress", "192.0.2.7")]).code, "InvalidIpAddress.Duplicated");
        let e1 = e1["AllocationId"].as_str().unwrap().to_string();
        let e2 = s.ok("AllocateEipAddress", &[R])["AllocationId"].as_str().unwrap().to_string();
        assert_eq!(s.err("AssociateEipAddress", &[R, ("AllocationId", "eip-nope"), ("InstanceId", &inst)]).code, "InvalidAllocationId.NotFound");
        assert_eq!(s.err("AssociateEipAddress", &[R, ("AllocationId", &e1), ("InstanceId", "i-nope")]).code, "InvalidInstanceId.NotFound");
        let e = s.err("AssociateEipAddress", &[R, ("AllocationId", &e1), ("InstanceId", &inst), ("InstanceType", "HaVip")]);
        assert_eq!(e.code, "InvalidInstanceType.ValueNotSupported");
        assert_eq!(s.err("UnassociateEipAddress", &[R, ("AllocationId", &e1)]).code, "IncorrectEipStatus");
        s.ok("AssociateEipAddress", &[R, ("AllocationId", &e1), ("InstanceId", &inst)]);
        let eni = crate::model::eni_id_of(&inst);
        let e = s.err("AssociateEipAddress", &[R, ("AllocationId", &e2), ("InstanceId", &eni), ("InstanceType", "NetworkInterface")]);
        assert_eq!(e.code, "InvalidAssociation.Duplicated", "one public address per ENI");
        assert_eq!(s.err("ReleaseEipAddress", &[R, ("AllocationId", &e1)]).code, "IncorrectEipStatus");
        let listed = s.ok("DescribeEipAddresses", &[R, ("AssociatedInstanceId", &inst)]);
        assert_eq!(listed["EipAddresses"]["EipAddress"][0]["Status"], "InUse");
        // NAT gateways.
        let e = s.err("CreateNatGateway", &[R, ("VpcId", &vpc), ("VSwitchId", &vsw), ("NetworkType", "intranet")]);
        assert_eq!(e.code, "UnsupportedFeature.VpcNat");
        let n = s.ok("CreateNatGateway", &[R, ("VpcId", &vpc), ("VSwitchId", &vsw)]);
        let (ngw, table) = (n["NatGatewayId"].as_str().unwrap().to_string(), n["SnatTableIds"]["SnatTableId"][0].as_str().unwrap().to_string());
        let ip2 = s.ok("DescribeEipAddresses", &[R, ("AllocationId", &e2)])["EipAddresses"]["EipAddress"][0]["IpAddress"].as_str().unwrap().to_string();
        let e = s.err("CreateSnatEntry", &[R, ("SnatTableId", &table), ("SnatIp", &ip2), ("SourceVSwitchId", &vsw)]);
        assert_eq!(e.code, "InvalidSnatIp.NotBelongNatGateway");
        s.ok("AssociateEipAddress", &[R, ("AllocationId", &e2), ("InstanceId", &ngw), ("InstanceType", "Nat")]);
        assert_eq!(s.err("CreateSnatEntry", &[R, ("SnatTableId", &table), ("SnatIp", &ip2)]).code, "MissingParameter");
        let both = [R, ("SnatTableId", &table), ("SnatIp", &ip2), ("SourceVSwitchId", &vsw), ("SourceCIDR", "10.0.0.0/16")];
        assert_eq!(s.err("CreateSnatEntry", &both).code, "InvalidParameter.Conflict");
        assert_eq!(s.err("CreateSnatEntry", &[R, ("SnatTableId", "stb-nope"), ("SnatIp", &ip2), ("SourceVSwitchId", &vsw)]).code, "InvalidSnatTableId.NotFound");
        let snat = s.ok("CreateSnatEntry", &[R, ("SnatTableId", &table), ("SnatIp", &ip2), ("SourceVSwitchId", &vsw)]);
        let e = s.err("CreateSnatEntry", &[R, ("SnatTableId", &table), ("SnatIp", &ip2), ("SourceCIDR", "10.0.1.0/24")]);
        assert_eq!(e.code, "InvalidSourceCIDR.Duplicated", "the vSwitch's CIDR is already a source");
        assert_eq!(s.err("DeleteNatGateway", &[R, ("NatGatewayId", &ngw)]).code, "DependencyViolation.SnatEntry");
        assert_eq!(s.err("UnassociateEipAddress", &[R, ("AllocationId", &e2)]).code, "DependencyViolation.SnatEntry");
        let e = s.err("DeleteSnatEntry", &[R, ("SnatTableId", &table), ("SnatEntryId", "snat-nope")]);
        assert_eq!(e.code, "InvalidSnatEntryId.NotFound");
        s.ok("DeleteSnatEntry", &[R, ("SnatTableId", &table), ("SnatEntryId", snat["SnatEntryId"].as_str().unwrap())]);
        assert_eq!(s.err("DeleteNatGateway", &[R, ("NatGatewayId", &ngw)]).code, "DependencyViolation.Eip");
        s.ok("DeleteNatGateway", &[R, ("NatGatewayId", &ngw), ("Force", "true")]);
        assert_eq!(s.ok("DescribeEipAddresses", &[R, ("AllocationId", &e2)])["EipAddresses"]["EipAddress"][0]["Status"], "Available");
    }
}
