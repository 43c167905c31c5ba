//! CreateVpc, DeleteVpc, DescribeVpcs, ModifyVpcAttribute (VPC API).
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Action, Draft, Empty, PageInfo, owner_id, paginate, params::refuse_true, tag};
use crate::{
    api::{
        ApiError, Product,
        form::{CommaList, Unsupported},
        new_id,
    },
    model::{RouteTableType, Vpc},
};

/// The CIDR block the cloud gives a VPC created without one.
const DEFAULT_VPC_CIDR: &str = "172.16.0.0/12";

/// Parses a CIDR block parameter in its canonical text (no leading zeros:
/// `010.0.0.0/16` is refused, never rewritten); a malformed one is
/// `InvalidCidrBlock.Malformed` as the cloud answers.
pub fn cidr(name: &str, value: &str) -> Result<Ipv4Net, ApiError> {
    crate::validate::parse_cidr(value, false).ok_or_else(|| {
        ApiError::bad(
            "InvalidCidrBlock.Malformed",
            format!("The specified {name} {value:?} is not a valid IPv4 CIDR block."),
        )
    })
}

/// The VRouterId of a VPC (its router, one per VPC).
pub fn vrouter_id(vpc: &Vpc) -> String {
    format!("vrt-{}", vpc.id.strip_prefix("vpc-").unwrap_or(&vpc.id))
}

/// CreateVpc.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateVpc {
    /// The VPC's IPv4 block (default 172.16.0.0/12).
    cidr_block: Option<String>,
    /// VpcName.
    vpc_name: Option<String>,
    /// Description.
    description: Option<String>,
    /// Instances of the VPC get host names (kept; reported by
    /// DescribeVpcAttribute).
    enable_dns_hostname: Option<bool>,
    /// IPv6 is not forwarded by this router: `true` is refused.
    #[serde(rename = "EnableIpv6")]
    enable_ipv6: Option<bool>,
    /// Tag.N.Key / Tag.N.Value.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// IPAM pools do not exist here.
    #[serde(rename = "Ipv4CidrMask")]
    _ipv4_cidr_mask: Option<Unsupported>,
    /// IPAM pools do not exist here.
    #[serde(rename = "Ipv4IpamPoolId")]
    _ipv4_ipam_pool_id: Option<Unsupported>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "Ipv6CidrBlock")]
    _ipv6_cidr_block: Option<Unsupported>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "Ipv6CidrMask")]
    _ipv6_cidr_mask: Option<Unsupported>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "Ipv6IpamPoolId")]
    _ipv6_ipam_pool_id: Option<Unsupported>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "Ipv6Isp")]
    _ipv6_isp: Option<Unsupported>,
    /// User CIDR blocks are not modelled.
    #[serde(rename = "UserCidr")]
    _user_cidr: Option<Unsupported>,
}

/// CreateVpc's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateVpcResponse {
    vpc_id: String,
    v_router_id: String,
    route_table_id: String,
    resource_group_id: String,
}

impl Action for CreateVpc {
    const NAME: &'static str = "CreateVpc";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates a VPC with its system route table (VPC-1, RT-1).";
    type Response = CreateVpcResponse;

    fn run(self, d: &mut Draft) -> Result<CreateVpcResponse, ApiError> {
        d.require_region()?;
        refuse_true("EnableIpv6", self.enable_ipv6)?;
        let cidr_block = cidr(
            "CidrBlock",
            self.cidr_block
                .as_deref()
                .filter(|c| !c.is_empty())
                .unwrap_or(DEFAULT_VPC_CIDR),
        )?;
        crate::validate::check_vpc_block(&cidr_block)?;
        let mut meta = d.new_meta(self.description.as_deref());
        meta.tags = tag::from_params(&self.tag)?;
        meta.resource_group_id = d.common.resource_group_id.clone().unwrap_or_default();
        let vpc = Vpc {
            id: new_id("vpc"),
            name: self.vpc_name.filter(|n| !n.is_empty()),
            cidr_block,
            dns_hostname: self.enable_dns_hostname.unwrap_or(false),
            meta,
        };
        let response = CreateVpcResponse {
            vpc_id: vpc.id.clone(),
            v_router_id: vrouter_id(&vpc),
            route_table_id: vpc.system_route_table_id(),
            resource_group_id: vpc.meta.resource_group_id.clone(),
        };
        d.model.vpcs.push(vpc);
        Ok(response)
    }
}

/// DeleteVpc.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteVpc {
    vpc_id: String,
    /// Delete the VPC's dependents too; this router refuses `true`: its
    /// dependents are deleted one by one, as without the flag.
    force_delete: Option<bool>,
}

impl Action for DeleteVpc {
    const NAME: &'static str = "DeleteVpc";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes a VPC; refused while vSwitches, custom route tables an IPv4 gateway or a gateway endpoint remain (VPC-1).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        refuse_true("ForceDelete", self.force_delete)?;
        let id = self.vpc_id.as_str();
        let i = d.vpc_index(id)?;
        if let Some(v) = d.model.vswitches.iter().find(|v| v.vpc_id == id) {
            return Err(ApiError::bad(
                "DependencyViolation.VSwitch",
                format!(
                    "The VPC {id} still has vSwitch {}: delete its vSwitches first.",
                    v.id
                ),
            ));
        }
        if let Some(t) = d
            .model
            .route_tables
            .iter()
            .find(|t| t.vpc_id == id && t.route_table_type == RouteTableType::Custom)
        {
            return Err(ApiError::bad(
                "DependencyViolation.RouteTable",
                format!(
                    "The VPC {id} still has custom route table {}: delete it first.",
                    t.id
                ),
            ));
        }
        if let Some(g) = d.model.ipv4_gateway_of(id) {
            return Err(ApiError::bad(
                "DependencyViolation.Ipv4Gateway",
                format!(
                    "The VPC {id} still has IPv4 gateway {}: delete it first.",
                    g.id
                ),
            ));
        }
        if let Some(g) = d.model.gateway_endpoints.iter().find(|g| g.vpc_id == id) {
            return Err(ApiError::bad(
                "DependencyViolation.GatewayEndpoint",
                format!(
                    "The VPC {id} still has gateway endpoint {}: delete it first.",
                    g.id
                ),
            ));
        }
        if let Some(g) = d.model.server_groups.iter().find(|g| g.vpc_id == id) {
            return Err(ApiError::bad(
                "DependencyViolation.ServerGroup",
                format!(
                    "The VPC {id} still has the server group {}: delete it first.",
                    g.id
                ),
            ));
        }
        if let Some(e) = d.model.vpc_endpoints.iter().find(|e| e.vpc_id == id) {
            return Err(ApiError::bad(
                "DependencyViolation.VpcEndpoint",
                format!(
                    "The VPC {id} still has the endpoint {}: delete it first.",
                    e.id
                ),
            ));
        }
        d.model.vpcs.remove(i);
        d.model.route_tables.retain(|t| t.vpc_id != id);
        Ok(Empty {})
    }
}

/// DescribeVpcs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeVpcs {
    /// VPC ids, comma-separated (at most 20).
    vpc_id: Option<CommaList>,
    /// VpcName.
    vpc_name: Option<String>,
    /// Only the default VPC (there is none here: `true` finds nothing).
    is_default: Option<bool>,
    /// Only VPCs with these tags.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// The owner of the VPCs (the caller's own account only).
    vpc_owner_id: Option<String>,
    /// Page, from 1.
    page_number: Option<u32>,
    /// Entries per page (at most 50).
    page_size: Option<u32>,
    /// DHCP option sets do not exist here.
    #[serde(rename = "DhcpOptionsSetId")]
    _dhcp_options_set_id: Option<Unsupported>,
    /// IPv6 is not forwarded by this router: `true` finds nothing.
    #[serde(rename = "EnableIpv6")]
    enable_ipv6: Option<bool>,
}

/// `{"VSwitchId": [...]}`.
#[derive(Debug, Serialize)]
pub struct VSwitchIds {
    #[serde(rename = "VSwitchId")]
    v_switch_id: Vec<String>,
}

/// `{"RouterTableIds": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouterTableIds {
    router_table_ids: Vec<String>,
}

/// `{"NatGatewayIds": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NatGatewayIds {
    nat_gateway_ids: Vec<String>,
}

/// `{"UserCidr": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserCidrs {
    user_cidr: Vec<String>,
}

/// `{"SecondaryCidrBlock": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecondaryCidrBlocks {
    secondary_cidr_block: Vec<String>,
}

/// One VPC in DescribeVpcs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcItem {
    vpc_id: String,
    vpc_name: String,
    cidr_block: String,
    description: String,
    status: &'static str,
    region_id: String,
    creation_time: String,
    owner_id: Value,
    is_default: bool,
    v_router_id: String,
    resource_group_id: String,
    enabled_ipv6: bool,
    ipv6_cidr_block: String,
    dns_hostname_status: &'static str,
    v_switch_ids: VSwitchIds,
    router_table_ids: RouterTableIds,
    nat_gateway_ids: NatGatewayIds,
    user_cidrs: UserCidrs,
    secondary_cidr_blocks: SecondaryCidrBlocks,
    tags: tag::Tags,
}

/// `{"Vpc": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Vpcs {
    vpc: Vec<VpcItem>,
}

/// DescribeVpcs' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeVpcsResponse {
    vpcs: Vpcs,
    #[serde(flatten)]
    page: PageInfo,
}

/// `ENABLED` / `DISABLED`, as the answers spell the DNS hostname status.
fn dns_hostname_status(vpc: &Vpc) -> &'static str {
    if vpc.dns_hostname {
        "ENABLED"
    } else {
        "DISABLED"
    }
}

impl Action for DescribeVpcs {
    const NAME: &'static str = "DescribeVpcs";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Lists the caller's VPCs, filtered by id, name, tags; paged (at most 50).";
    type Response = DescribeVpcsResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeVpcsResponse, ApiError> {
        d.require_region()?;
        let ids = self.vpc_id.map(|l| l.0);
        if ids.as_ref().is_some_and(|ids| ids.len() > 20) {
            return Err(ApiError::invalid("VpcId", "at most 20 VPC ids"));
        }
        let owner_ok = self
            .vpc_owner_id
            .as_deref()
            .is_none_or(|o| o.is_empty() || o == d.caller.account_id || d.caller.admin);
        let vpcs: Vec<&Vpc> = d
            .model
            .vpcs
            .iter()
            .filter(|v| d.in_view(&v.meta))
            .filter(|v| ids.as_ref().is_none_or(|ids| ids.contains(&v.id)))
            .filter(|v| {
                self.vpc_name
                    .as_deref()
                    .is_none_or(|n| n.is_empty() || v.name.as_deref() == Some(n))
            })
            .filter(|v| {
                self.vpc_owner_id
                    .as_deref()
                    .is_none_or(|o| o.is_empty() || v.meta.owner_id == o)
            })
            .filter(|_| owner_ok && self.is_default != Some(true) && self.enable_ipv6 != Some(true))
            .filter(|v| tag::matches(&v.meta.tags, &self.tag))
            .collect();
        let (vpcs, page) = paginate(vpcs, self.page_number, self.page_size, 50)?;
        let vpc = vpcs
            .into_iter()
            .map(|v| VpcItem {
                vpc_id: v.id.clone(),
                vpc_name: v.name.clone().unwrap_or_default(),
                cidr_block: v.cidr_block.to_string(),
                description: v.meta.description.clone(),
                status: "Available",
                region_id: v.meta.region_id.clone(),
                creation_time: v.meta.creation_time.clone(),
                owner_id: owner_id(&v.meta),
                is_default: false,
                v_router_id: vrouter_id(v),
                resource_group_id: v.meta.resource_group_id.clone(),
                enabled_ipv6: false,
                ipv6_cidr_block: String::new(),
                dns_hostname_status: dns_hostname_status(v),
                v_switch_ids: VSwitchIds {
                    v_switch_id: d
                        .model
                        .vswitches
                        .iter()
                        .filter(|s| s.vpc_id == v.id)
                        .map(|s| s.id.clone())
                        .collect(),
                },
                router_table_ids: RouterTableIds {
                    router_table_ids: d
                        .model
                        .route_tables
                        .iter()
                        .filter(|t| t.vpc_id == v.id)
                        .map(|t| t.id.clone())
                        .collect(),
                },
                nat_gateway_ids: NatGatewayIds {
                    nat_gateway_ids: d
                        .model
                        .nat_gateways
                        .iter()
                        .filter(|n| n.vpc_id == v.id)
                        .map(|n| n.id.clone())
                        .collect(),
                },
                user_cidrs: UserCidrs {
                    user_cidr: Vec::new(),
                },
                secondary_cidr_blocks: SecondaryCidrBlocks {
                    secondary_cidr_block: Vec::new(),
                },
                tags: tag::Tags::of(&v.meta.tags),
            })
            .collect();
        Ok(DescribeVpcsResponse {
            vpcs: Vpcs { vpc },
            page,
        })
    }
}

/// ModifyVpcAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyVpcAttribute {
    vpc_id: String,
    /// New name (empty clears it).
    vpc_name: Option<String>,
    /// New description.
    description: Option<String>,
    /// New IPv4 block: every vSwitch must stay inside it.
    cidr_block: Option<String>,
    /// Turns host names of the VPC's instances on or off.
    enable_dns_hostname: Option<bool>,
    /// IPv6 is not forwarded by this router: `true` is refused.
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "Ipv6CidrBlock")]
    _ipv6_cidr_block: Option<Unsupported>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "Ipv6Isp")]
    _ipv6_isp: Option<Unsupported>,
}

impl Action for ModifyVpcAttribute {
    const NAME: &'static str = "ModifyVpcAttribute";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Renames a VPC, changes its description, DNS host names or CIDR block (VPC-1).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        refuse_true("EnableIPv6", self.enable_ipv6)?;
        let i = d.vpc_index(&self.vpc_id)?;
        let cidr_block = self
            .cidr_block
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| cidr("CidrBlock", c))
            .transpose()?;
        if let Some(c) = &cidr_block {
            crate::validate::check_vpc_block(c)?;
        }
        let vpc = &mut d.model.vpcs[i];
        if let Some(name) = self.vpc_name {
            vpc.name = Some(name).filter(|n| !n.is_empty());
        }
        if let Some(desc) = self.description {
            vpc.meta.description = desc;
        }
        if let Some(c) = cidr_block {
            vpc.cidr_block = c;
        }
        if let Some(on) = self.enable_dns_hostname {
            vpc.dns_hostname = on;
        }
        Ok(Empty {})
    }
}

/// DescribeVpcAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeVpcAttribute {
    vpc_id: String,
    /// Only if it is the default VPC: there is none here, `true` finds
    /// nothing.
    is_default: Option<bool>,
}

/// `{"Ipv6CidrBlock": [...]}` (always empty: no IPv6 here).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipv6CidrBlocks {
    ipv6_cidr_block: Vec<Value>,
}

/// DescribeVpcAttribute's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeVpcAttributeResponse {
    vpc_id: String,
    vpc_name: String,
    cidr_block: String,
    description: String,
    /// `Available`.
    status: &'static str,
    region_id: String,
    creation_time: String,
    owner_id: Value,
    is_default: bool,
    #[serde(rename = "VRouterId")]
    vrouter_id: String,
    resource_group_id: String,
    dns_hostname_status: &'static str,
    /// The VPC's IPv4 gateway, empty without one.
    ipv4_gateway_id: String,
    support_ipv4_gateway: bool,
    classic_link_enabled: bool,
    enabled_ipv6: bool,
    ipv6_cidr_block: String,
    ipv6_cidr_blocks: Ipv6CidrBlocks,
    v_switch_ids: VSwitchIds,
    user_cidrs: UserCidrs,
    secondary_cidr_blocks: SecondaryCidrBlocks,
    tags: tag::Tags,
}

impl Action for DescribeVpcAttribute {
    const NAME: &'static str = "DescribeVpcAttribute";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Shows one VPC of the caller in the call's region (VPC-1).";
    type Response = DescribeVpcAttributeResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeVpcAttributeResponse, ApiError> {
        let region = d.require_region()?;
        let not_found = || {
            ApiError::not_found(
                "InvalidVpcId.NotFound",
                format!("The specified VPC {} does not exist.", self.vpc_id),
            )
        };
        let v = &d.model.vpcs[d.vpc_index(&self.vpc_id)?];
        if v.meta.region_id != region || self.is_default == Some(true) {
            return Err(not_found());
        }
        Ok(DescribeVpcAttributeResponse {
            vpc_id: v.id.clone(),
            vpc_name: v.name.clone().unwrap_or_default(),
            cidr_block: v.cidr_block.to_string(),
            description: v.meta.description.clone(),
            status: "Available",
            region_id: v.meta.region_id.clone(),
            creation_time: v.meta.creation_time.clone(),
            owner_id: owner_id(&v.meta),
            is_default: false,
            vrouter_id: vrouter_id(v),
            resource_group_id: v.meta.resource_group_id.clone(),
            dns_hostname_status: dns_hostname_status(v),
            ipv4_gateway_id: d
                .model
                .ipv4_gateway_of(&v.id)
                .map(|g| g.id.clone())
                .unwrap_or_default(),
            support_ipv4_gateway: true,
            classic_link_enabled: false,
            enabled_ipv6: false,
            ipv6_cidr_block: String::new(),
            ipv6_cidr_blocks: Ipv6CidrBlocks {
                ipv6_cidr_block: Vec::new(),
            },
            v_switch_ids: VSwitchIds {
                v_switch_id: d
                    .model
                    .vswitches
                    .iter()
                    .filter(|s| s.vpc_id == v.id)
                    .map(|s| s.id.clone())
                    .collect(),
            },
            user_cidrs: UserCidrs {
                user_cidr: Vec::new(),
            },
            secondary_cidr_blocks: SecondaryCidrBlocks {
                secondary_cidr_block: Vec::new(),
            },
            tags: tag::Tags::of(&v.meta.tags),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::service::tests::Scratch;

    #[test]
    fn vpc_1_create_describe_modify_delete() {
        let mut s = Scratch::new();
        let v = s.ok(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("CidrBlock", "10.0.0.0/16"),
                ("VpcName", "lab"),
            ],
        );
        let id = v["VpcId"].as_str().unwrap().to_string();
        assert!(v["RouteTableId"].as_str().unwrap().starts_with("vtb-"));
        let d = s.ok(
            "DescribeVpcs",
            &[("RegionId", "cn-hangzhou"), ("VpcId", &id)],
        );
        assert_eq!(d["TotalCount"], 1);
        let vpc = &d["Vpcs"]["Vpc"][0];
        assert_eq!(
            (vpc["CidrBlock"].as_str(), vpc["VpcName"].as_str()),
            (Some("10.0.0.0/16"), Some("lab"))
        );
        assert_eq!(
            vpc["RouterTableIds"]["RouterTableIds"][0],
            v["RouteTableId"]
        );
        s.ok(
            "ModifyVpcAttribute",
            &[("VpcId", &id), ("VpcName", "renamed"), ("Description", "d")],
        );
        let d = s.ok(
            "DescribeVpcs",
            &[("RegionId", "cn-hangzhou"), ("VpcName", "renamed")],
        );
        assert_eq!(d["Vpcs"]["Vpc"][0]["Description"], "d");
        s.ok("DeleteVpc", &[("VpcId", &id)]);
        assert_eq!(
            s.ok("DescribeVpcs", &[("RegionId", "cn-hangzhou")])["TotalCount"],
            0
        );
        assert!(s.service.model().route_tables.is_empty());
    }

    #[test]
    fn vpc_1_bad_cidr_and_missing_parameters_are_refused() {
        let mut s = Scratch::new();
        let e = s.err(
            "CreateVpc",
            &[("RegionId", "cn-hangzhou"), ("CidrBlock", "10.0.0.0/33")],
        );
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "InvalidCidrBlock.Malformed")
        );
        let e = s.err(
            "CreateVpc",
            &[("RegionId", "cn-hangzhou"), ("CidrBlock", "10.0.0.0/30")],
        );
        assert_eq!(e.code, "InvalidCirdrBlock.MaskLength");
        let e = s.err("CreateVpc", &[("CidrBlock", "10.0.0.0/16")]);
        assert_eq!(e.code, "MissingParameter");
        let e = s.err("DeleteVpc", &[("VpcId", "vpc-doesnotexist")]);
        assert_eq!((e.status, e.code.as_str()), (404, "InvalidVpcId.NotFound"));
        assert!(s.service.model().vpcs.is_empty());
    }

    #[test]
    fn tag_1_tags_at_creation_are_kept_shown_and_filtered_on() {
        let mut s = Scratch::new();
        let v = s.ok(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "lab"),
                ("Tag.2.Key", "team"),
                ("EnableDnsHostname", "true"),
            ],
        );
        s.ok(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "prod"),
            ],
        );
        let d = s.ok(
            "DescribeVpcs",
            &[
                ("RegionId", "cn-hangzhou"),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "lab"),
            ],
        );
        assert_eq!(d["TotalCount"], 1);
        let vpc = &d["Vpcs"]["Vpc"][0];
        assert_eq!(vpc["VpcId"], v["VpcId"]);
        assert_eq!(
            vpc["Tags"]["Tag"],
            serde_json::json!([{"Key": "env", "Value": "lab"}, {"Key": "team", "Value": ""}])
        );
        assert_eq!(vpc["DnsHostnameStatus"], "ENABLED");
        assert_eq!(
            s.ok(
                "DescribeVpcs",
                &[("RegionId", "cn-hangzhou"), ("Tag.1.Key", "env")]
            )["TotalCount"],
            2
        );
        let e = s.err(
            "CreateVpc",
            &[("RegionId", "cn-hangzhou"), ("Tag.1.Key", "acs:x")],
        );
        assert_eq!(e.code, "InvalidTagKey.Malformed");
        assert_eq!(s.service.model().vpcs.len(), 2);
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
        let e = s.err(
            "ModifyVpcAttribute",
            &[("VpcId", &vpc), ("CidrBlock", "10.1.0.0/16")],
        );
        assert_eq!(e.code, "InvalidParameter");
    }

    #[test]
    fn vpc_1_describe_vpc_attribute_shows_the_vpc_as_the_sdk_reads_it() {
        let mut s = Scratch::new();
        let v = s.ok(
            "CreateVpc",
            &[
                ("RegionId", "cn-hangzhou"),
                ("CidrBlock", "10.0.0.0/16"),
                ("VpcName", "lab"),
                ("Description", "d"),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "lab"),
            ],
        );
        let id = v["VpcId"].as_str().unwrap().to_string();
        let vsw = s.ok(
            "CreateVSwitch",
            &[
                ("VpcId", &id),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        );
        let a = s.ok(
            "DescribeVpcAttribute",
            &[("RegionId", "cn-hangzhou"), ("VpcId", &id)],
        );
        assert_eq!(
            (
                a["VpcId"].as_str(),
                a["VpcName"].as_str(),
                a["CidrBlock"].as_str()
            ),
            (Some(id.as_str()), Some("lab"), Some("10.0.0.0/16"))
        );
        assert_eq!(
            (
                a["Status"].as_str(),
                a["Description"].as_str(),
                a["RegionId"].as_str()
            ),
            (Some("Available"), Some("d"), Some("cn-hangzhou"))
        );
        assert_eq!(a["VRouterId"], v["VRouterId"]);
        assert_eq!(a["OwnerId"], 1000000000000001u64);
        assert_eq!(
            (a["IsDefault"].as_bool(), a["EnabledIpv6"].as_bool()),
            (Some(false), Some(false))
        );
        assert_eq!(
            a["VSwitchIds"]["VSwitchId"],
            serde_json::json!([vsw["VSwitchId"]])
        );
        assert_eq!(
            a["Tags"]["Tag"],
            serde_json::json!([{"Key": "env", "Value": "lab"}])
        );
        assert_eq!(a["DnsHostnameStatus"], "DISABLED");
        assert_eq!(a["Ipv4GatewayId"], "");
        assert!(a["CreationTime"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn vpc_1_describe_vpc_attribute_of_another_account_or_region_is_not_found() {
        let mut s = Scratch::new();
        let (id, _) = s.vpc_with_vswitch();
        let other = crate::api::Caller {
            account_id: "1000000000000002".into(),
            admin: false,
        };
        let e = s
            .call_as(
                &other,
                "DescribeVpcAttribute",
                &[("RegionId", "cn-hangzhou"), ("VpcId", &id)],
            )
            .unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (404, "InvalidVpcId.NotFound"));
        let e = s.err(
            "DescribeVpcAttribute",
            &[("RegionId", "cn-shanghai"), ("VpcId", &id)],
        );
        assert_eq!(e.code, "InvalidVpcId.NotFound");
        let e = s.err(
            "DescribeVpcAttribute",
            &[
                ("RegionId", "cn-hangzhou"),
                ("VpcId", &id),
                ("IsDefault", "true"),
            ],
        );
        assert_eq!(e.code, "InvalidVpcId.NotFound");
        assert_eq!(
            s.err("DescribeVpcAttribute", &[("VpcId", &id)]).code,
            "MissingParameter"
        );
        assert_eq!(
            s.err("DescribeVpcAttribute", &[("RegionId", "cn-hangzhou")])
                .code,
            "MissingParameter"
        );
    }
}
