//! CreateVSwitch, DeleteVSwitch, DescribeVSwitches, ModifyVSwitchAttribute.
use serde_json::{Value, json};

use super::{Draft, owner_id, page, vpc::cidr, with};
use crate::{
    api::{ApiError, new_id, params::Params},
    model::{RouteTableType, VSwitch},
};

/// CreateVSwitch: VpcId, ZoneId, CidrBlock, VSwitchName, Description.
pub fn create(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    let vpc_id = p.required("VpcId")?;
    let zone_id = p.required("ZoneId")?;
    let cidr_block = cidr("CidrBlock", p.required("CidrBlock")?)?;
    let vpc = &d.model.vpcs[d.vpc_index(vpc_id)?];
    let mut meta = d.meta(p);
    meta.region_id = vpc.meta.region_id.clone();
    let vsw = VSwitch {
        id: new_id("vsw"),
        vpc_id: vpc_id.to_string(),
        name: p.str("VSwitchName").map(str::to_string),
        cidr_block,
        zone_id: zone_id.to_string(),
        route_table_id: None,
        network_acl_id: None,
        meta,
    };
    let body = json!({ "VSwitchId": vsw.id });
    d.model.vswitches.push(vsw);
    Ok(body)
}

/// DeleteVSwitch: refused while instances remain in it.
pub fn delete(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    let id = p.required("VSwitchId")?;
    p.accept(&["RegionId"]);
    let i = d.vswitch_index(id)?;
    if let Some(inst) = d.model.instances.iter().find(|x| x.vswitch_id == id) {
        return Err(ApiError::bad(
            "DependencyViolation.Instance",
            format!("The vSwitch {id} still has instance {}: delete its instances first.", inst.id),
        ));
    }
    if let Some(n) = d.model.nat_gateways.iter().find(|n| {
        n.vswitch_id == id || n.snat_entries.iter().any(|e| e.source == crate::model::SnatSource::VSwitch(id.to_string()))
    }) {
        return Err(ApiError::bad(
            "DependencyViolation.NatGateway",
            format!("The vSwitch {id} holds NAT gateway {} or is the source of one of its SNAT entries: delete them first.", n.id),
        ));
    }
    let removed = d.model.vswitches.remove(i);
    // Its gateway route table entries go with it (RT-4: one per vSwitch).
    for t in d.model.route_tables.iter_mut().filter(|t| t.associate_type == crate::model::AssociateType::Gateway) {
        t.route_entries.retain(|e| e.destination_cidr_block != removed.cidr_block);
    }
    Ok(json!({}))
}

/// DescribeVSwitches: filters VpcId, VSwitchId, ZoneId, VSwitchName,
/// RouteTableId, IsDefault.
pub fn describe(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    let vpc_id = p.str("VpcId");
    let id = p.str("VSwitchId");
    let zone = p.str("ZoneId");
    let name = p.str("VSwitchName");
    let table = p.str("RouteTableId");
    let is_default = p.bool("IsDefault")?;
    let m = &d.model;
    let list: Vec<(&VSwitch, String, RouteTableType)> = m
        .vswitches
        .iter()
        .filter(|v| d.visible(&v.meta, p))
        .filter_map(|v| {
            let t = m.route_table_of(v)?;
            Some((v, t.id.clone(), t.route_table_type))
        })
        .filter(|(v, t, _)| {
            vpc_id.is_none_or(|x| v.vpc_id == x)
                && id.is_none_or(|x| v.id == x)
                && zone.is_none_or(|x| v.zone_id == x)
                && name.is_none_or(|x| v.name.as_deref() == Some(x))
                && table.is_none_or(|x| *t == x)
                && is_default != Some(true)
        })
        .collect();
    let (list, paging) = page(p, list, 50)?;
    let items: Vec<Value> = list
        .into_iter()
        .map(|(v, table_id, table_type)| {
            let used = m.instances.iter().filter(|i| i.vswitch_id == v.id).count() as u64;
            let total = 1u64 << (32 - v.cidr_block.prefix_len());
            json!({
                "VSwitchId": v.id,
                "VpcId": v.vpc_id,
                "VSwitchName": v.name.clone().unwrap_or_default(),
                "CidrBlock": v.cidr_block.to_string(),
                "ZoneId": v.zone_id,
                "Status": "Available",
                "Description": v.meta.description,
                "CreationTime": v.meta.creation_time,
                "OwnerId": owner_id(&v.meta),
                "IsDefault": false,
                "AvailableIpAddressCount": total.saturating_sub(4 + used),
                "ResourceGroupId": "",
                "NetworkAclId": v.network_acl_id.clone().unwrap_or_default(),
                "EnabledIpv6": false,
                "Ipv6CidrBlock": "",
                "ShareType": "",
                "RouteTable": {
                    "RouteTableId": table_id,
                    "RouteTableType": match table_type { RouteTableType::System => "System", RouteTableType::Custom => "Custom" },
                },
                "Tags": { "Tag": [] },
            })
        })
        .collect();
    Ok(with(json!({ "VSwitches": { "VSwitch": items } }), paging))
}

/// ModifyVSwitchAttribute: VSwitchName, Description.
pub fn modify(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    let id = p.required("VSwitchId")?;
    p.accept(&["RegionId"]);
    let i = d.vswitch_index(id)?;
    let v = &mut d.model.vswitches[i];
    if let Some(name) = p.get("VSwitchName") {
        v.name = Some(name.to_string()).filter(|n| !n.is_empty());
    }
    if let Some(desc) = p.get("Description") {
        v.meta.description = desc.to_string();
    }
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use crate::service::tests::Scratch;

    #[test]
    fn vpc_1_vswitch_must_fit_its_vpc_and_not_overlap() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let e = s.err("CreateVSwitch", &[("VpcId", &vpc), ("ZoneId", "a"), ("CidrBlock", "10.1.0.0/24")]);
        assert_eq!(e.code, "InvalidParameter");
        let e = s.err("CreateVSwitch", &[("VpcId", &vpc), ("ZoneId", "a"), ("CidrBlock", "10.0.1.128/25")]);
        assert_eq!(e.code, "InvalidCidrBlock.Overlapped");
        let e = s.err("CreateVSwitch", &[("VpcId", &vpc), ("CidrBlock", "10.0.2.0/24")]);
        assert_eq!(e.code, "MissingParameter");
        let e = s.err("CreateVSwitch", &[("VpcId", "vpc-nope"), ("ZoneId", "a"), ("CidrBlock", "10.0.2.0/24")]);
        assert_eq!(e.code, "InvalidVpcId.NotFound");
        assert_eq!(s.service.model().vswitches.len(), 1);
    }

    #[test]
    fn vpc_2_describe_reports_free_addresses_and_route_table() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        s.ok("RunInstances", &[("RegionId", "cn-hangzhou"), ("VSwitchId", &vsw), ("ImageId", "img"), ("InstanceType", "t")]);
        let d = s.ok("DescribeVSwitches", &[("VpcId", &vpc)]);
        let v = &d["VSwitches"]["VSwitch"][0];
        assert_eq!(v["AvailableIpAddressCount"], 256 - 4 - 1);
        assert_eq!(v["RouteTable"]["RouteTableType"], "System");
        let e = s.err("DeleteVSwitch", &[("VSwitchId", &vsw)]);
        assert_eq!(e.code, "DependencyViolation.Instance");
    }
}
