//! CreateVSwitch, DeleteVSwitch, DescribeVSwitches, DescribeVSwitchAttributes,
//! ModifyVSwitchAttribute (VPC API).
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Action, Draft, Empty, PageInfo, owner_id, paginate, params::{given, required, refuse_true}, tag, vpc::cidr};
use crate::{
    api::{ApiError, Product, form::Unsupported, new_id},
    model::{AssociateType, Model, RouteTableType, SnatSource, VSwitch},
};

/// CreateVSwitch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateVSwitch {
    /// The VPC the vSwitch is made in.
    vpc_id: String,
    /// The zone (any name: zones are labels here).
    zone_id: String,
    /// The vSwitch's IPv4 block, inside its VPC's and overlapping no other
    /// vSwitch's (VPC-1).
    cidr_block: String,
    /// VSwitchName.
    #[serde(rename = "VSwitchName")]
    v_switch_name: Option<String>,
    /// Description.
    description: Option<String>,
    /// Tag.N.Key / Tag.N.Value.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// IPAM pools do not exist here: the block is given as CidrBlock.
    #[serde(rename = "CidrMask")]
    _cidr_mask: Option<Unsupported>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "Ipv6CidrBlock")]
    _ipv6_cidr_block: Option<Unsupported>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "Ipv6CidrMask")]
    _ipv6_cidr_mask: Option<Unsupported>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "VpcIpv6CidrBlock")]
    _vpc_ipv6_cidr_block: Option<Unsupported>,
}

/// CreateVSwitch's answer.
#[derive(Debug, Serialize)]
pub struct CreateVSwitchResponse {
    #[serde(rename = "VSwitchId")]
    v_switch_id: String,
}

impl Action for CreateVSwitch {
    const NAME: &'static str = "CreateVSwitch";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates a vSwitch: a CIDR block inside its VPC's, in one zone (VPC-1).";
    type Response = CreateVSwitchResponse;

    fn run(self, d: &mut Draft) -> Result<CreateVSwitchResponse, ApiError> {
        let vpc_id = required("VpcId", &self.vpc_id)?;
        required("ZoneId", &self.zone_id)?;
        d.check_zone(&self.zone_id)?;
        let cidr_block = cidr("CidrBlock", required("CidrBlock", &self.cidr_block)?)?;
        let vpc = &d.model.vpcs[d.vpc_index(vpc_id)?];
        let mut meta = d.new_meta(self.description.as_deref());
        meta.region_id = vpc.meta.region_id.clone();
        meta.tags = tag::from_params(&self.tag)?;
        let vsw = VSwitch {
            id: new_id("vsw"),
            vpc_id: self.vpc_id,
            name: self.v_switch_name.filter(|n| !n.is_empty()),
            cidr_block,
            zone_id: self.zone_id,
            route_table_id: None,
            network_acl_id: None,
            meta,
        };
        let response = CreateVSwitchResponse { v_switch_id: vsw.id.clone() };
        d.model.vswitches.push(vsw);
        Ok(response)
    }
}

/// DeleteVSwitch.
#[derive(Debug, Deserialize)]
pub struct DeleteVSwitch {
    #[serde(rename = "VSwitchId")]
    v_switch_id: String,
}

impl Action for DeleteVSwitch {
    const NAME: &'static str = "DeleteVSwitch";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Deletes a vSwitch; refused while instances or a NAT gateway (or its SNAT entry) use it.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let id = required("VSwitchId", &self.v_switch_id)?;
        let i = d.vswitch_index(id)?;
        check_unused(&d.model, id)?;
        let removed = d.model.vswitches.remove(i);
        // Its gateway route table entries go with it (RT-4: one per vSwitch).
        for t in d.model.route_tables.iter_mut().filter(|t| t.associate_type == AssociateType::Gateway) {
            t.route_entries.retain(|e| e.destination_cidr_block != removed.cidr_block);
        }
        Ok(Empty {})
    }
}

/// Refuses deleting vSwitch `id` while an instance is in it or a NAT
/// gateway is in it or translates it.
fn check_unused(m: &Model, id: &str) -> Result<(), ApiError> {
    if let Some(inst) = m.instances.iter().find(|x| x.vswitch_id == id) {
        return Err(ApiError::bad(
            "DependencyViolation.Instance",
            format!("The vSwitch {id} still has instance {}: delete its instances first.", inst.id),
        ));
    }
    if let Some(l) = m.load_balancers.iter().find(|l| l.zone_mappings.iter().any(|z| z.vswitch_id == id)) {
        return Err(ApiError::bad(
            "DependencyViolation.LoadBalancer",
            format!("The vSwitch {id} holds a zone of the load balancer {}: delete it or move its zone first.", l.id),
        ));
    }
    if let Some(e) = m.vpc_endpoints.iter().find(|e| e.zones.iter().any(|z| z.vswitch_id == id)) {
        return Err(ApiError::bad(
            "DependencyViolation.VpcEndpoint",
            format!("The vSwitch {id} holds an ENI of the endpoint {}: delete it or remove its zone first.", e.id),
        ));
    }
    let source = SnatSource::VSwitch(id.to_string());
    if let Some(n) = m.nat_gateways.iter().find(|n| n.vswitch_id == id || n.snat_entries.iter().any(|e| e.source == source)) {
        return Err(ApiError::bad(
            "DependencyViolation.NatGateway",
            format!("The vSwitch {id} holds NAT gateway {} or is the source of one of its SNAT entries: delete them first.", n.id),
        ));
    }
    Ok(())
}

/// DescribeVSwitches.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeVSwitches {
    /// Only the vSwitches of this VPC.
    vpc_id: Option<String>,
    /// Only this vSwitch.
    #[serde(rename = "VSwitchId")]
    v_switch_id: Option<String>,
    /// Only the vSwitches of this zone.
    zone_id: Option<String>,
    /// Only the vSwitches with this name.
    #[serde(rename = "VSwitchName")]
    v_switch_name: Option<String>,
    /// Only the vSwitches using this route table (custom or system).
    route_table_id: Option<String>,
    /// Only default vSwitches (there is none here: `true` finds nothing).
    is_default: Option<bool>,
    /// Only IPv6-enabled vSwitches (there is none here: `true` finds
    /// nothing).
    enable_ipv6: Option<bool>,
    /// The owner of the vSwitches (the caller's own account only).
    #[serde(rename = "VSwitchOwnerId")]
    v_switch_owner_id: Option<String>,
    /// Only vSwitches with these tags.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// Page, from 1.
    page_number: Option<u32>,
    /// Entries per page (at most 50).
    page_size: Option<u32>,
}

/// `{"RouteTableId", "RouteTableType"}`: the table a vSwitch uses.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteTableRef {
    route_table_id: String,
    route_table_type: &'static str,
}

/// One vSwitch, as DescribeVSwitches lists it and DescribeVSwitchAttributes
/// answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VSwitchItem {
    #[serde(rename = "VSwitchId")]
    v_switch_id: String,
    vpc_id: String,
    #[serde(rename = "VSwitchName")]
    v_switch_name: String,
    cidr_block: String,
    zone_id: String,
    status: &'static str,
    description: String,
    creation_time: String,
    owner_id: Value,
    is_default: bool,
    available_ip_address_count: u64,
    resource_group_id: String,
    network_acl_id: String,
    enabled_ipv6: bool,
    ipv6_cidr_block: String,
    share_type: &'static str,
    route_table: RouteTableRef,
    tags: tag::Tags,
}

impl VSwitchItem {
    /// The answer's view of `v`, or `None` while its VPC has no system
    /// route table yet (never in a committed model).
    fn of(m: &Model, v: &VSwitch) -> Option<Self> {
        let t = m.route_table_of(v)?;
        let used = m.instances.iter().filter(|i| i.vswitch_id == v.id).count() as u64;
        let total = 1u64 << (32 - v.cidr_block.prefix_len());
        Some(Self {
            v_switch_id: v.id.clone(),
            vpc_id: v.vpc_id.clone(),
            v_switch_name: v.name.clone().unwrap_or_default(),
            cidr_block: v.cidr_block.to_string(),
            zone_id: v.zone_id.clone(),
            status: "Available",
            description: v.meta.description.clone(),
            creation_time: v.meta.creation_time.clone(),
            owner_id: owner_id(&v.meta),
            is_default: false,
            available_ip_address_count: total.saturating_sub(4 + used),
            resource_group_id: v.meta.resource_group_id.clone(),
            network_acl_id: v.network_acl_id.clone().unwrap_or_default(),
            enabled_ipv6: false,
            ipv6_cidr_block: String::new(),
            share_type: "",
            route_table: RouteTableRef { route_table_id: t.id.clone(), route_table_type: table_type(t.route_table_type) },
            tags: tag::Tags::of(&v.meta.tags),
        })
    }
}

/// RouteTableType as the API names it.
fn table_type(t: RouteTableType) -> &'static str {
    match t {
        RouteTableType::System => "System",
        RouteTableType::Custom => "Custom",
    }
}

/// `{"VSwitch": [...]}`.
#[derive(Debug, Serialize)]
pub struct VSwitches {
    #[serde(rename = "VSwitch")]
    v_switch: Vec<VSwitchItem>,
}

/// DescribeVSwitches' answer.
#[derive(Debug, Serialize)]
pub struct DescribeVSwitchesResponse {
    #[serde(rename = "VSwitches")]
    v_switches: VSwitches,
    #[serde(flatten)]
    page: PageInfo,
}

impl DescribeVSwitches {
    /// True if the listed vSwitch `v` passes every filter given.
    fn wants(&self, v: &VSwitchItem, tags: &[crate::model::Tag]) -> bool {
        given(&self.vpc_id).is_none_or(|x| v.vpc_id == x)
            && given(&self.v_switch_id).is_none_or(|x| v.v_switch_id == x)
            && given(&self.zone_id).is_none_or(|x| v.zone_id == x)
            && given(&self.v_switch_name).is_none_or(|x| v.v_switch_name == x)
            && given(&self.route_table_id).is_none_or(|x| v.route_table.route_table_id == x)
            && self.is_default != Some(true)
            && self.enable_ipv6 != Some(true)
            && tag::matches(tags, &self.tag)
    }
}

impl Action for DescribeVSwitches {
    const NAME: &'static str = "DescribeVSwitches";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Lists the caller's vSwitches, filtered by VPC, id, zone, name, route table, tags; paged (at most 50).";
    type Response = DescribeVSwitchesResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeVSwitchesResponse, ApiError> {
        let owner_ok = given(&self.v_switch_owner_id).is_none_or(|o| o == d.caller.account_id || d.caller.admin);
        let m = &d.model;
        let list: Vec<VSwitchItem> = m
            .vswitches
            .iter()
            .filter(|v| owner_ok && d.in_view(&v.meta))
            .filter(|v| given(&self.v_switch_owner_id).is_none_or(|o| v.meta.owner_id == o))
            .filter_map(|v| VSwitchItem::of(m, v).filter(|item| self.wants(item, &v.meta.tags)))
            .collect();
        let (v_switch, page) = paginate(list, self.page_number, self.page_size, 50)?;
        Ok(DescribeVSwitchesResponse { v_switches: VSwitches { v_switch }, page })
    }
}

/// DescribeVSwitchAttributes: one vSwitch by id.
#[derive(Debug, Deserialize)]
pub struct DescribeVSwitchAttributes {
    #[serde(rename = "VSwitchId")]
    v_switch_id: String,
}

impl Action for DescribeVSwitchAttributes {
    const NAME: &'static str = "DescribeVSwitchAttributes";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Describes one vSwitch: its block, zone, free addresses, route table, ACL, tags.";
    type Response = VSwitchItem;

    fn run(self, d: &mut Draft) -> Result<VSwitchItem, ApiError> {
        let v = &d.model.vswitches[d.vswitch_index(required("VSwitchId", &self.v_switch_id)?)?];
        let not_found = || {
            ApiError::not_found(
                "InvalidVSwitchId.NotFound",
                format!("The specified vSwitch {} does not exist.", self.v_switch_id),
            )
        };
        if !d.in_view(&v.meta) {
            return Err(not_found());
        }
        VSwitchItem::of(&d.model, v).ok_or_else(not_found)
    }
}

/// ModifyVSwitchAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyVSwitchAttribute {
    #[serde(rename = "VSwitchId")]
    v_switch_id: String,
    /// New name (empty clears it).
    #[serde(rename = "VSwitchName")]
    v_switch_name: Option<String>,
    /// New description.
    description: Option<String>,
    /// IPv6 is not forwarded by this router: `true` is refused.
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "Ipv6CidrBlock")]
    _ipv6_cidr_block: Option<Unsupported>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "Ipv6CidrMask")]
    _ipv6_cidr_mask: Option<Unsupported>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "VpcIpv6CidrBlock")]
    _vpc_ipv6_cidr_block: Option<Unsupported>,
}

impl Action for ModifyVSwitchAttribute {
    const NAME: &'static str = "ModifyVSwitchAttribute";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Renames a vSwitch or changes its description.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        refuse_true("EnableIPv6", self.enable_ipv6)?;
        let i = d.vswitch_index(required("VSwitchId", &self.v_switch_id)?)?;
        let v = &mut d.model.vswitches[i];
        if let Some(name) = self.v_switch_name {
            v.name = Some(name).filter(|n| !n.is_empty());
        }
        if let Some(desc) = self.description {
            v.meta.description = desc;
        }
        Ok(Empty {})
    }
}

#[cfg(test)]
mod tests {
    use crate::{api::Caller, service::tests::Scratch};

    #[test]
    fn vpc_1_vswitch_must_fit_its_vpc_and_not_overlap() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let e = s.err("CreateVSwitch", &[("VpcId", &vpc), ("ZoneId", "cn-hangzhou-a"), ("CidrBlock", "10.1.0.0/24")]);
        assert_eq!(e.code, "InvalidParameter");
        let e = s.err("CreateVSwitch", &[("VpcId", &vpc), ("ZoneId", "cn-hangzhou-a"), ("CidrBlock", "10.0.1.128/25")]);
        assert_eq!(e.code, "InvalidCidrBlock.Overlapped");
        let e = s.err("CreateVSwitch", &[("VpcId", &vpc), ("CidrBlock", "10.0.2.0/24")]);
        assert_eq!(e.code, "MissingParameter");
        let e = s.err("CreateVSwitch", &[("VpcId", "vpc-nope"), ("ZoneId", "cn-hangzhou-a"), ("CidrBlock", "10.0.2.0/24")]);
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

    #[test]
    fn vswitch_tags_are_kept_shown_and_filtered_on() {
        let mut s = Scratch::new();
        let (vpc, plain) = s.vpc_with_vswitch();
        let v = s.ok(
            "CreateVSwitch",
            &[("VpcId", &vpc), ("ZoneId", "cn-hangzhou-b"), ("CidrBlock", "10.0.2.0/24"), ("VSwitchName", "web"),
              ("Tag.1.Key", "env"), ("Tag.1.Value", "lab")],
        );
        let tagged = v["VSwitchId"].as_str().unwrap();
        let d = s.ok("DescribeVSwitches", &[("VpcId", &vpc), ("Tag.1.Key", "env")]);
        assert_eq!(d["TotalCount"], 1);
        assert_eq!(d["VSwitches"]["VSwitch"][0]["VSwitchId"], tagged);
        assert_eq!(d["VSwitches"]["VSwitch"][0]["Tags"]["Tag"], serde_json::json!([{"Key": "env", "Value": "lab"}]));
        assert_eq!(s.ok("DescribeVSwitches", &[("ZoneId", "cn-hangzhou-a")])["VSwitches"]["VSwitch"][0]["VSwitchId"], plain.as_str());
        assert_eq!(s.ok("DescribeVSwitches", &[("VpcId", &vpc), ("IsDefault", "true")])["TotalCount"], 0);
        assert_eq!(s.ok("DescribeVSwitches", &[("VpcId", &vpc), ("PageSize", "1"), ("PageNumber", "2")])["VSwitches"]["VSwitch"]
            .as_array().unwrap().len(), 1);
        let e = s.err("CreateVSwitch", &[("VpcId", &vpc), ("ZoneId", "cn-hangzhou-a"), ("CidrBlock", "10.0.3.0/24"), ("Tag.1.Key", "acs:x")]);
        assert_eq!(e.code, "InvalidTagKey.Malformed");
        assert_eq!(s.service.model().vswitches.len(), 2);
    }

    #[test]
    fn ipv6_and_ipam_parameters_are_refused_by_name() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let e = s.err("CreateVSwitch", &[("VpcId", &vpc), ("ZoneId", "cn-hangzhou-a"), ("CidrBlock", "10.0.2.0/24"), ("Ipv6CidrBlock", "1")]);
        assert_eq!(e.code, "UnsupportedParameter");
        assert!(e.message.contains("Ipv6CidrBlock"), "{e:?}");
        let e = s.err("ModifyVSwitchAttribute", &[("VSwitchId", &vsw), ("EnableIPv6", "true")]);
        assert_eq!(e.code, "UnsupportedParameter");
        s.ok("ModifyVSwitchAttribute", &[("VSwitchId", &vsw), ("EnableIPv6", "false"), ("VSwitchName", "renamed")]);
        assert_eq!(s.ok("DescribeVSwitches", &[("VSwitchName", "renamed")])["TotalCount"], 1);
        assert_eq!(s.service.model().vswitches.len(), 1);
    }

    #[test]
    fn describe_vswitch_attributes_answers_one_vswitch() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        s.ok("ModifyVSwitchAttribute", &[("VSwitchId", &vsw), ("VSwitchName", "app"), ("Description", "d")]);
        let a = s.ok("DescribeVSwitchAttributes", &[("RegionId", "cn-hangzhou"), ("VSwitchId", &vsw)]);
        assert_eq!(a["VSwitchId"], vsw.as_str());
        assert_eq!(a["VpcId"], vpc.as_str());
        assert_eq!((a["Status"].as_str(), a["CidrBlock"].as_str(), a["ZoneId"].as_str()), (Some("Available"), Some("10.0.1.0/24"), Some("cn-hangzhou-a")));
        assert_eq!((a["VSwitchName"].as_str(), a["Description"].as_str()), (Some("app"), Some("d")));
        assert_eq!(a["AvailableIpAddressCount"], 256 - 4);
        assert_eq!(a["IsDefault"], false);
        assert_eq!(a["OwnerId"], 1000000000000001u64);
        assert_eq!(a["RouteTable"]["RouteTableType"], "System");
        assert!(a["RouteTable"]["RouteTableId"].as_str().unwrap().starts_with("vtb-"));
        assert_eq!(a["Tags"]["Tag"], serde_json::json!([]));
        assert_eq!(a["NetworkAclId"], "");
        assert!(a["CreationTime"].as_str().unwrap().ends_with('Z'));
        let e = s.err("DescribeVSwitchAttributes", &[("VSwitchId", "vsw-nope")]);
        assert_eq!((e.status, e.code.as_str()), (404, "InvalidVSwitchId.NotFound"));
        let e = s.err("DescribeVSwitchAttributes", &[("RegionId", "cn-beijing"), ("VSwitchId", &vsw)]);
        assert_eq!(e.code, "InvalidVSwitchId.NotFound");
        let other = Caller { account_id: "1000000000000002".into(), admin: false };
        let e = s.call_as(&other, "DescribeVSwitchAttributes", &[("VSwitchId", &vsw)]).unwrap_err();
        assert_eq!(e.code, "InvalidVSwitchId.NotFound");
        assert_eq!(s.err("DescribeVSwitchAttributes", &[]).code, "MissingParameter");
    }
}
