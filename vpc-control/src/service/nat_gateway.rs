//! Internet NAT gateways (VPC API 2016-04-28): CreateNatGateway,
//! DescribeNatGateways, DeleteNatGateway, CreateSnatEntry,
//! DescribeSnatTableEntries, DeleteSnatEntry. Many private instances share
//! an EIP through port translation in XDP (IGW-3).
use std::sync::Arc;

use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::{Draft, page, vpc::cidr, with};
use crate::{
    api::{ApiError, new_id, params::Params},
    model::{EipInstanceType, NatGateway, NextHopType, RouteEntry, RouteTableType, SnatEntry, SnatSource},
};

/// Parameters of CreateNatGateway that mean nothing on one host.
const IGNORED_CREATE_PARAMS: &[&str] = &[
    "EipBindMode", "InstanceChargeType", "InternetChargeType", "NatIp", "Ipv4Prefix", "IcmpReplyEnabled",
    "PrivateLinkEnabled", "AccessMode", "AvailabilityMode", "SecurityProtectionEnabled", "AutoPay", "Duration",
    "PricingCycle", "Spec", "Tag.",
];

fn nat_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .nat_gateways
        .iter()
        .position(|g| g.id == id && d.caller.owns(&g.meta.owner_id))
        .ok_or_else(|| ApiError::not_found("InvalidNatGatewayId.NotFound", format!("The specified NAT gateway {id} does not exist.")))
}

/// The NAT gateway owning SNAT table `id`.
fn by_snat_table(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .nat_gateways
        .iter()
        .position(|g| g.snat_table_id() == id && d.caller.owns(&g.meta.owner_id))
        .ok_or_else(|| ApiError::not_found("InvalidSnatTableId.NotFound", format!("The specified SNAT table {id} does not exist.")))
}

/// CreateNatGateway: an internet NAT gateway (NatType Enhanced) in
/// VSwitchId. As the cloud does, a 0.0.0.0/0 route to it is added to the
/// VPC's system route table if that table has none.
pub fn create(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(IGNORED_CREATE_PARAMS);
    let vpc_id = p.required("VpcId")?;
    let vsw_id = p.required("VSwitchId")?;
    if let Some(t) = p.str("NatType")
        && t != "Enhanced"
    {
        return Err(ApiError::invalid("NatType", format!("{t:?} is not Enhanced")));
    }
    if let Some(t) = p.str("NetworkType")
        && t != "internet"
    {
        return Err(ApiError::bad("UnsupportedFeature.VpcNat", format!("NetworkType {t} is not supported: only internet NAT gateways are.")));
    }
    let vpc = &d.model.vpcs[d.vpc_index(vpc_id)?];
    let region = vpc.meta.region_id.clone();
    let vsw = &d.model.vswitches[d.vswitch_index(vsw_id)?];
    if vsw.vpc_id != vpc_id {
        return Err(ApiError::bad("Forbidden.NotInSameVpc", format!("The vSwitch {vsw_id} is not in {vpc_id}.")));
    }
    let mut meta = d.meta(p);
    meta.region_id = region;
    let g = NatGateway {
        id: new_id("ngw"),
        vpc_id: vpc_id.to_string(),
        vswitch_id: vsw_id.to_string(),
        name: p.str("Name").map(str::to_string),
        snat_entries: Vec::new(),
        port_range: None,
        meta: meta.clone(),
    };
    if let Some(system) = d
        .model
        .route_tables
        .iter_mut()
        .find(|t| t.vpc_id == vpc_id && t.route_table_type == RouteTableType::System)
        && !system.route_entries.iter().any(|e| e.destination_cidr_block == Ipv4Net::default())
    {
        system.route_entries.push(Arc::new(RouteEntry {
            id: new_id("rte"),
            name: None,
            destination_cidr_block: Ipv4Net::default(),
            next_hop_type: NextHopType::NatGateway,
            next_hop_id: g.id.clone(),
            meta,
        }));
    }
    let body = json!({
        "NatGatewayId": g.id,
        "SnatTableIds": { "SnatTableId": [g.snat_table_id()] },
        "ForwardTableIds": { "ForwardTableId": [] },
        "FullNatTableIds": { "FullNatTableId": [] },
    });
    d.model.nat_gateways.push(g);
    Ok(body)
}

/// DeleteNatGateway: refused while it has SNAT entries or EIPs, unless
/// Force (which deletes the entries and unassociates the EIPs); routes to it
/// are deleted with it.
pub fn delete(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("NatGatewayId")?;
    let force = p.bool("Force")?.unwrap_or(false);
    let i = nat_index(d, id)?;
    let bound = |a: &Option<crate::model::EipAssociation>| {
        a.as_ref().is_some_and(|a| a.instance_type == EipInstanceType::Nat && a.instance_id == id)
    };
    if !force {
        if let Some(e) = d.model.nat_gateways[i].snat_entries.first() {
            return Err(ApiError::bad("DependencyViolation.SnatEntry", format!("The NAT gateway {id} has SNAT entry {}: delete it first, or pass Force.", e.id)));
        }
        if let Some(e) = d.model.eips.iter().find(|e| bound(&e.association)) {
            return Err(ApiError::bad("DependencyViolation.Eip", format!("The EIP {} is associated with {id}: unassociate it first, or pass Force.", e.id)));
        }
    }
    for e in &mut d.model.eips {
        if bound(&e.association) {
            e.association = None;
        }
    }
    for t in &mut d.model.route_tables {
        t.route_entries.retain(|e| !(e.next_hop_type == NextHopType::NatGateway && e.next_hop_id == id));
    }
    d.model.nat_gateways.remove(i);
    Ok(json!({}))
}

/// DescribeNatGateways: filters NatGatewayId, VpcId, Name, NatType,
/// NetworkType, Status.
pub fn describe(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(&["InstanceChargeType", "Spec", "ZoneId", "AvailabilityMode", "Tag."]);
    let id = p.str("NatGatewayId");
    let vpc = p.str("VpcId");
    let name = p.str("Name");
    let nat_type = p.str("NatType");
    let network = p.str("NetworkType");
    let status = p.str("Status");
    let list: Vec<&NatGateway> = d
        .model
        .nat_gateways
        .iter()
        .filter(|g| d.visible(&g.meta, p))
        .filter(|g| {
            id.is_none_or(|x| g.id == x)
                && vpc.is_none_or(|x| g.vpc_id == x)
                && name.is_none_or(|x| g.name.as_deref() == Some(x))
                && nat_type.is_none_or(|x| x == "Enhanced")
                && network.is_none_or(|x| x == "internet")
                && status.is_none_or(|x| x == "Available")
        })
        .collect();
    let (list, paging) = page(p, list, 50)?;
    let items: Vec<Value> = list
        .into_iter()
        .map(|g| {
            let ips: Vec<Value> = d
                .model
                .eips
                .iter()
                .filter(|e| e.association.as_ref().is_some_and(|a| a.instance_type == EipInstanceType::Nat && a.instance_id == g.id))
                .map(|e| {
                    json!({
                        "AllocationId": e.id,
                        "IpAddress": e.ip_address.to_string(),
                        "PrivateIpAddress": "",
                        "SnatEntryEnabled": g.snat_entries.iter().any(|s| s.snat_ip == e.ip_address),
                        "UsingStatus": if g.snat_entries.iter().any(|s| s.snat_ip == e.ip_address) { "UsedBySnatTable" } else { "Idle" },
                    })
                })
                .collect();
            json!({
                "NatGatewayId": g.id,
                "Name": g.name.clone().unwrap_or_default(),
                "Description": g.meta.description,
                "VpcId": g.vpc_id,
                "RegionId": g.meta.region_id,
                "Status": "Available",
                "BusinessStatus": "Normal",
                "NatType": "Enhanced",
                "NetworkType": "internet",
                "EipBindMode": "MULTI_BINDED",
                "InstanceChargeType": "PostPaid",
                "InternetChargeType": "PayByLcu",
                "CreationTime": g.meta.creation_time,
                "ExpiredTime": "",
                "AutoPay": false,
                "DeletionProtection": false,
                "IcmpReplyEnabled": true,
                "ResourceGroupId": "",
                "SnatTableIds": { "SnatTableId": [g.snat_table_id()] },
                "ForwardTableIds": { "ForwardTableId": [] },
                "FullNatTableIds": { "FullNatTableId": [] },
                "IpLists": { "IpList": ips },
                "NatGatewayPrivateInfo": { "VswitchId": g.vswitch_id },
                "Tags": { "Tag": [] },
            })
        })
        .collect();
    Ok(with(json!({ "NatGateways": { "NatGateway": items } }), paging))
}

/// CreateSnatEntry: SourceVSwitchId or SourceCIDR behind SnatIp (one EIP
/// associated with the NAT gateway).
pub fn create_snat(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(&["EipAffinity"]);
    let table = p.required("SnatTableId")?;
    let snat_ip = p.required("SnatIp")?;
    if snat_ip.contains(',') {
        return Err(ApiError::bad("UnsupportedFeature.SnatIpPool", "Give one SnatIp per SNAT entry: address pools are not supported."));
    }
    let snat_ip: std::net::Ipv4Addr =
        snat_ip.parse().map_err(|_| ApiError::bad("InvalidSnatIp.Malformed", format!("{snat_ip:?} is not an IPv4 address.")))?;
    let source = match (p.str("SourceVSwitchId"), p.str("SourceCIDR")) {
        (Some(v), None) => {
            d.vswitch_index(v)?;
            SnatSource::VSwitch(v.to_string())
        }
        (None, Some(c)) => {
            let c = cidr("SourceCIDR", c)?;
            if c.trunc() != c {
                return Err(ApiError::bad("InvalidSourceCIDR.Malformed", format!("The source {c} has host bits set.")));
            }
            SnatSource::Cidr(c)
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::bad("InvalidParameter.Conflict", "Give SourceVSwitchId or SourceCIDR, not both."));
        }
        (None, None) => return Err(ApiError::missing("SourceVSwitchId")),
    };
    let i = by_snat_table(d, table)?;
    let entry = SnatEntry { id: new_id("snat"), name: p.str("SnatEntryName").map(str::to_string), snat_ip, source };
    let body = json!({ "SnatEntryId": entry.id });
    // An address that is no EIP of this gateway, or a source given twice,
    // is refused by validation.
    d.model.nat_gateways[i].snat_entries.push(entry);
    Ok(body)
}

/// DescribeSnatTableEntries: by SnatTableId or NatGatewayId; filters
/// SnatEntryId, SnatEntryName, SnatIp, SourceCIDR, SourceVSwitchId.
pub fn describe_snat(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(&["NetworkInterfaceIds."]);
    let i = match (p.str("SnatTableId"), p.str("NatGatewayId")) {
        (Some(t), _) => by_snat_table(d, t)?,
        (None, Some(n)) => nat_index(d, n)?,
        (None, None) => return Err(ApiError::missing("SnatTableId")),
    };
    let g = &d.model.nat_gateways[i];
    let id = p.str("SnatEntryId");
    let name = p.str("SnatEntryName");
    let ip = p.str("SnatIp");
    let cidr_filter = p.str("SourceCIDR");
    let vsw = p.str("SourceVSwitchId");
    let source_cidr = |e: &SnatEntry| match &e.source {
        SnatSource::Cidr(c) => c.to_string(),
        SnatSource::VSwitch(v) => d.model.vswitch(v).map(|v| v.cidr_block.to_string()).unwrap_or_default(),
    };
    let list: Vec<&SnatEntry> = g
        .snat_entries
        .iter()
        .filter(|e| {
            id.is_none_or(|x| e.id == x)
                && name.is_none_or(|x| e.name.as_deref() == Some(x))
                && ip.is_none_or(|x| e.snat_ip.to_string() == x)
                && cidr_filter.is_none_or(|x| source_cidr(e) == x)
                && vsw.is_none_or(|x| matches!(&e.source, SnatSource::VSwitch(v) if v == x))
        })
        .collect();
    let (list, paging) = page(p, list, 50)?;
    let items: Vec<Value> = list
        .into_iter()
        .map(|e| {
            json!({
                "SnatEntryId": e.id,
                "SnatEntryName": e.name.clone().unwrap_or_default(),
                "SnatTableId": g.snat_table_id(),
                "NatGatewayId": g.id,
                "SnatIp": e.snat_ip.to_string(),
                "SourceCIDR": source_cidr(e),
                "SourceVSwitchId": match &e.source { SnatSource::VSwitch(v) => v.clone(), SnatSource::Cidr(_) => String::new() },
                "NetworkInterfaceId": "",
                "EipAffinity": "0",
                "Status": "Available",
            })
        })
        .collect();
    Ok(with(json!({ "SnatTableEntries": { "SnatTableEntry": items } }), paging))
}

/// DeleteSnatEntry.
pub fn delete_snat(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let table = p.required("SnatTableId")?;
    let id = p.required("SnatEntryId")?;
    let i = by_snat_table(d, table)?;
    let entries = &mut d.model.nat_gateways[i].snat_entries;
    let at = entries
        .iter()
        .position(|e| e.id == id)
        .ok_or_else(|| ApiError::not_found("InvalidSnatEntryId.NotFound", format!("The specified SNAT entry {id} does not exist.")))?;
    entries.remove(at);
    Ok(json!({}))
}
