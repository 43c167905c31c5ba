//! CreateVpc, DeleteVpc, DescribeVpcs, ModifyVpcAttribute.
use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::{Draft, owner_id, page, with};
use crate::{
    api::{ApiError, new_id, params::Params},
    model::{RouteTableType, Vpc},
};

/// The CIDR block the cloud gives a VPC created without one.
const DEFAULT_VPC_CIDR: &str = "172.16.0.0/12";

/// Parses a CIDR block parameter; a malformed one is
/// `InvalidCidrBlock.Malformed` as the cloud answers.
pub fn cidr(name: &str, value: &str) -> Result<Ipv4Net, ApiError> {
    value.parse::<Ipv4Net>().map_err(|_| {
        ApiError::bad("InvalidCidrBlock.Malformed", format!("The specified {name} {value:?} is not a valid IPv4 CIDR block."))
    })
}

/// The VRouterId of a VPC (its router, one per VPC).
pub fn vrouter_id(vpc: &Vpc) -> String {
    format!("vrt-{}", vpc.id.strip_prefix("vpc-").unwrap_or(&vpc.id))
}

/// CreateVpc: CidrBlock (default 172.16.0.0/12), VpcName, Description.
pub fn create(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let cidr_block = cidr("CidrBlock", p.str("CidrBlock").unwrap_or(DEFAULT_VPC_CIDR))?;
    let vpc = Vpc { id: new_id("vpc"), name: p.str("VpcName").map(str::to_string), cidr_block, meta: d.meta(p) };
    let body = json!({
        "VpcId": vpc.id,
        "VRouterId": vrouter_id(&vpc),
        "RouteTableId": vpc.system_route_table_id(),
        "ResourceGroupId": "",
    });
    d.model.vpcs.push(vpc);
    Ok(body)
}

/// DeleteVpc: refused while vSwitches or custom route tables remain
/// (`DependencyViolation.*`), as the cloud does.
pub fn delete(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    let id = p.required("VpcId")?;
    p.accept(&["RegionId", "ForceDelete"]);
    let i = d.vpc_index(id)?;
    if let Some(v) = d.model.vswitches.iter().find(|v| v.vpc_id == id) {
        return Err(ApiError::bad(
            "DependencyViolation.VSwitch",
            format!("The VPC {id} still has vSwitch {}: delete its vSwitches first.", v.id),
        ));
    }
    if let Some(t) =
        d.model.route_tables.iter().find(|t| t.vpc_id == id && t.route_table_type == RouteTableType::Custom)
    {
        return Err(ApiError::bad(
            "DependencyViolation.RouteTable",
            format!("The VPC {id} still has custom route table {}: delete it first.", t.id),
        ));
    }
    if let Some(g) = d.model.ipv4_gateway_of(id) {
        return Err(ApiError::bad(
            "DependencyViolation.Ipv4Gateway",
            format!("The VPC {id} still has IPv4 gateway {}: delete it first.", g.id),
        ));
    }
    d.model.vpcs.remove(i);
    d.model.route_tables.retain(|t| t.vpc_id != id);
    Ok(json!({}))
}

/// DescribeVpcs: filters VpcId (comma-separated), VpcName, IsDefault.
pub fn describe(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let ids: Option<Vec<&str>> = p.str("VpcId").map(|v| v.split(',').map(str::trim).collect());
    let name = p.str("VpcName");
    let is_default = p.bool("IsDefault")?;
    let vpcs: Vec<&Vpc> = d
        .model
        .vpcs
        .iter()
        .filter(|v| d.visible(&v.meta, p))
        .filter(|v| ids.as_ref().is_none_or(|ids| ids.contains(&v.id.as_str())))
        .filter(|v| name.is_none_or(|n| v.name.as_deref() == Some(n)))
        .filter(|_| is_default != Some(true))
        .collect();
    let (vpcs, paging) = page(p, vpcs, 50)?;
    let items: Vec<Value> = vpcs
        .into_iter()
        .map(|v| {
            let vswitches: Vec<&str> =
                d.model.vswitches.iter().filter(|s| s.vpc_id == v.id).map(|s| s.id.as_str()).collect();
            let tables: Vec<&str> =
                d.model.route_tables.iter().filter(|t| t.vpc_id == v.id).map(|t| t.id.as_str()).collect();
            json!({
                "VpcId": v.id,
                "VpcName": v.name.clone().unwrap_or_default(),
                "CidrBlock": v.cidr_block.to_string(),
                "Description": v.meta.description,
                "Status": "Available",
                "RegionId": v.meta.region_id,
                "CreationTime": v.meta.creation_time,
                "OwnerId": owner_id(&v.meta),
                "IsDefault": false,
                "VRouterId": vrouter_id(v),
                "ResourceGroupId": "",
                "EnabledIpv6": false,
                "Ipv6CidrBlock": "",
                "VSwitchIds": { "VSwitchId": vswitches },
                "RouterTableIds": { "RouterTableIds": tables },
                "NatGatewayIds": { "NatGatewayIds": [] },
                "UserCidrs": { "UserCidr": [] },
                "SecondaryCidrBlocks": { "SecondaryCidrBlock": [] },
                "Tags": { "Tag": [] },
            })
        })
        .collect();
    Ok(with(json!({ "Vpcs": { "Vpc": items } }), paging))
}

/// ModifyVpcAttribute: VpcName, Description, CidrBlock (every vSwitch must
/// stay inside the new block).
pub fn modify(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    let id = p.required("VpcId")?;
    p.accept(&["RegionId"]);
    let i = d.vpc_index(id)?;
    let cidr_block = p.str("CidrBlock").map(|c| cidr("CidrBlock", c)).transpose()?;
    let vpc = &mut d.model.vpcs[i];
    if let Some(name) = p.get("VpcName") {
        vpc.name = Some(name.to_string()).filter(|n| !n.is_empty());
    }
    if let Some(desc) = p.get("Description") {
        vpc.meta.description = desc.to_string();
    }
    if let Some(c) = cidr_block {
        vpc.cidr_block = c;
    }
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use crate::service::tests::Scratch;

    #[test]
    fn vpc_1_create_describe_modify_delete() {
        let mut s = Scratch::new();
        let v = s.ok("CreateVpc", &[("RegionId", "cn-hangzhou"), ("CidrBlock", "10.0.0.0/16"), ("VpcName", "lab")]);
        let id = v["VpcId"].as_str().unwrap().to_string();
        assert!(v["RouteTableId"].as_str().unwrap().starts_with("vtb-"));
        let d = s.ok("DescribeVpcs", &[("RegionId", "cn-hangzhou"), ("VpcId", &id)]);
        assert_eq!(d["TotalCount"], 1);
        let vpc = &d["Vpcs"]["Vpc"][0];
        assert_eq!((vpc["CidrBlock"].as_str(), vpc["VpcName"].as_str()), (Some("10.0.0.0/16"), Some("lab")));
        assert_eq!(vpc["RouterTableIds"]["RouterTableIds"][0], v["RouteTableId"]);
        s.ok("ModifyVpcAttribute", &[("VpcId", &id), ("VpcName", "renamed"), ("Description", "d")]);
        let d = s.ok("DescribeVpcs", &[("RegionId", "cn-hangzhou"), ("VpcName", "renamed")]);
        assert_eq!(d["Vpcs"]["Vpc"][0]["Description"], "d");
        s.ok("DeleteVpc", &[("VpcId", &id)]);
        assert_eq!(s.ok("DescribeVpcs", &[("RegionId", "cn-hangzhou")])["TotalCount"], 0);
        assert!(s.service.model().route_tables.is_empty());
    }

    #[test]
    fn vpc_1_bad_cidr_and_missing_parameters_are_refused() {
        let mut s = Scratch::new();
        let e = s.err("CreateVpc", &[("RegionId", "cn-hangzhou"), ("CidrBlock", "10.0.0.0/33")]);
        assert_eq!((e.status, e.code.as_str()), (400, "InvalidCidrBlock.Malformed"));
        let e = s.err("CreateVpc", &[("RegionId", "cn-hangzhou"), ("CidrBlock", "10.0.0.0/30")]);
        assert_eq!(e.code, "InvalidCirdrBlock.MaskLength");
        let e = s.err("CreateVpc", &[("CidrBlock", "10.0.0.0/16")]);
        assert_eq!(e.code, "MissingParameter");
        let e = s.err("DeleteVpc", &[("VpcId", "vpc-doesnotexist")]);
        assert_eq!((e.status, e.code.as_str()), (404, "InvalidVpcId.NotFound"));
        assert!(s.service.model().vpcs.is_empty());
    }

    #[test]
    fn vpc_1_vpc_with_vswitches_cannot_be_deleted() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let e = s.err("DeleteVpc", &[("VpcId", &vpc)]);
        assert_eq!(e.code, "DependencyViolation.VSwitch");
        assert_eq!(s.service.model().vpcs.len(), 1);
    }

    #[test]
    fn vpc_1_shrinking_below_a_vswitch_is_refused() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let e = s.err("ModifyVpcAttribute", &[("VpcId", &vpc), ("CidrBlock", "10.1.0.0/16")]);
        assert_eq!(e.code, "InvalidParameter");
    }
}
