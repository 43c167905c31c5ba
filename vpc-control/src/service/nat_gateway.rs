//! Internet NAT gateways (VPC API 2016-04-28): CreateNatGateway,
//! DescribeNatGateways, DeleteNatGateway, CreateSnatEntry,
//! DescribeSnatTableEntries, DeleteSnatEntry. Many private instances share
//! an EIP through port translation in XDP (IGW-3).
use std::{net::Ipv4Addr, sync::Arc};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::{
    Action, Draft, Empty, PageInfo, paginate,
    params::{given, refuse_true},
    tag,
    vpc::cidr,
};
use crate::{
    api::{ApiError, Product, form::Unsupported, new_id},
    model::{
        Eip, EipInstanceType, NatGateway, NextHopType, RouteEntry, RouteTableType, SnatEntry,
        SnatSource,
    },
};

/// Checks that `value`, if given, is one of `valid` (the cloud's values).
fn one_of(name: &str, value: &Option<String>, valid: &[&str]) -> Result<(), ApiError> {
    match given(value) {
        Some(v) if !valid.contains(&v) => Err(ApiError::invalid(
            name,
            format!("{v:?} is not one of {valid:?}"),
        )),
        _ => Ok(()),
    }
}

fn nat_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .nat_gateways
        .iter()
        .position(|g| g.id == id && d.caller.owns(&g.meta.owner_id))
        .ok_or_else(|| {
            ApiError::not_found(
                "InvalidNatGatewayId.NotFound",
                format!("The specified NAT gateway {id} does not exist."),
            )
        })
}

/// The NAT gateway owning SNAT table `id`.
fn by_snat_table(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .nat_gateways
        .iter()
        .position(|g| g.snat_table_id() == id && d.caller.owns(&g.meta.owner_id))
        .ok_or_else(|| {
            ApiError::not_found(
                "InvalidSnatTableId.NotFound",
                format!("The specified SNAT table {id} does not exist."),
            )
        })
}

/// True if the EIP is associated with NAT gateway `id`.
fn bound_to(e: &Eip, id: &str) -> bool {
    e.association
        .as_ref()
        .is_some_and(|a| a.instance_type == EipInstanceType::Nat && a.instance_id == id)
}

/// `{"SnatTableId": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnatTableIds {
    snat_table_id: Vec<String>,
}

/// `{"ForwardTableId": [...]}` (DNAT tables do not exist here: empty).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ForwardTableIds {
    forward_table_id: Vec<String>,
}

/// `{"FullNatTableId": [...]}` (FULLNAT tables do not exist here: empty).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FullNatTableIds {
    full_nat_table_id: Vec<String>,
}

/// The table ids a NAT gateway has, as Create and Describe answer them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NatTables {
    snat_table_ids: SnatTableIds,
    forward_table_ids: ForwardTableIds,
    full_nat_table_ids: FullNatTableIds,
}

impl NatTables {
    fn of(g: &NatGateway) -> Self {
        Self {
            snat_table_ids: SnatTableIds {
                snat_table_id: vec![g.snat_table_id()],
            },
            forward_table_ids: ForwardTableIds {
                forward_table_id: Vec::new(),
            },
            full_nat_table_ids: FullNatTableIds {
                full_nat_table_id: Vec::new(),
            },
        }
    }
}

/// CreateNatGateway: an internet NAT gateway (NatType Enhanced, billed
/// pay-as-you-go by LCU as the cloud now sells them).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateNatGateway {
    vpc_id: String,
    /// The vSwitch the gateway is in (required here: the cloud picks one
    /// without it).
    v_switch_id: String,
    /// Name.
    name: Option<String>,
    /// Description.
    description: Option<String>,
    /// `Enhanced` (the only type).
    nat_type: Option<String>,
    /// `internet`; VPC NAT gateways (`intranet`) are refused.
    network_type: Option<String>,
    /// Tag.N.Key / Tag.N.Value.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// Billing: `PostPaid` (pay-as-you-go, the default and what the cloud
    /// sells); anything else is refused.
    instance_charge_type: Option<String>,
    /// Metering: `PayByLcu` (the default, the only one for enhanced
    /// gateways); anything else is refused.
    internet_charge_type: Option<String>,
    /// Subscription ordering, which the cloud ignores for pay-as-you-go
    /// ("no longer used"): validated as a bool, then ignored.
    #[serde(rename = "AutoPay")]
    _auto_pay: Option<bool>,
    /// Subscription length, ignored by the cloud for pay-as-you-go: checked
    /// (1..=9 months, 1..=3 years), then ignored.
    duration: Option<String>,
    /// Subscription period unit (`Month` or `Year`), ignored by the cloud
    /// for pay-as-you-go: checked, then ignored.
    pricing_cycle: Option<String>,
    /// Subscription size (`Small`, `Middle`, `Large`, `XLarge.1`), ignored by
    /// the cloud for pay-as-you-go, LCU-metered gateways: checked, then
    /// ignored.
    spec: Option<String>,
    /// `MULTI_BINDED` (the default: EIPs translate in the gateway, as here);
    /// `NAT` (one vSwitch address per EIP) is refused.
    eip_bind_mode: Option<String>,
    /// This router does not answer pings to a gateway's EIPs: `false` is
    /// accepted, `true` refused.
    icmp_reply_enabled: Option<bool>,
    /// PrivateLink does not exist here: `true` is refused.
    private_link_enabled: Option<bool>,
    /// The (deprecated) firewall feature does not exist here: `true` is
    /// refused.
    security_protection_enabled: Option<bool>,
    /// Reverse access to VPC NAT gateways (not implemented).
    #[serde(rename = "AccessMode")]
    _access_mode: Option<Unsupported>,
    /// Zone availability modes are not modelled.
    #[serde(rename = "AvailabilityMode")]
    _availability_mode: Option<Unsupported>,
    /// NAT IP prefixes are not implemented.
    #[serde(rename = "Ipv4Prefix")]
    _ipv4_prefix: Option<Unsupported>,
    /// A gateway has no private address of its own here.
    #[serde(rename = "NatIp")]
    _nat_ip: Option<Unsupported>,
}

/// CreateNatGateway's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateNatGatewayResponse {
    nat_gateway_id: String,
    #[serde(flatten)]
    tables: NatTables,
}

impl CreateNatGateway {
    /// Checks the type, billing and feature parameters: what this router
    /// is (or what the cloud ignores) passes, the rest is refused.
    fn check_options(&self) -> Result<(), ApiError> {
        if let Some(t) = given(&self.nat_type)
            && t != "Enhanced"
        {
            return Err(ApiError::invalid(
                "NatType",
                format!("{t:?} is not Enhanced"),
            ));
        }
        if let Some(t) = given(&self.network_type)
            && t != "internet"
        {
            return Err(ApiError::bad(
                "UnsupportedFeature.VpcNat",
                format!("NetworkType {t} is not supported: only internet NAT gateways are."),
            ));
        }
        one_of(
            "InstanceChargeType",
            &self.instance_charge_type,
            &["PostPaid"],
        )?;
        one_of(
            "InternetChargeType",
            &self.internet_charge_type,
            &["PayByLcu"],
        )?;
        one_of("PricingCycle", &self.pricing_cycle, &["Month", "Year"])?;
        one_of(
            "Spec",
            &self.spec,
            &["Small", "Middle", "Large", "XLarge.1"],
        )?;
        self.check_duration()?;
        if let Some(m) = given(&self.eip_bind_mode)
            && m != "MULTI_BINDED"
        {
            return Err(if m == "NAT" {
                ApiError::unsupported("EipBindMode")
            } else {
                ApiError::invalid("EipBindMode", format!("{m:?} is not MULTI_BINDED or NAT"))
            });
        }
        refuse_true("IcmpReplyEnabled", self.icmp_reply_enabled)?;
        refuse_true("PrivateLinkEnabled", self.private_link_enabled)?;
        refuse_true(
            "SecurityProtectionEnabled",
            self.security_protection_enabled,
        )
    }

    /// Duration: 1..=9 (months) or 1..=3 (PricingCycle Year).
    fn check_duration(&self) -> Result<(), ApiError> {
        let Some(v) = given(&self.duration) else {
            return Ok(());
        };
        let max = if given(&self.pricing_cycle) == Some("Year") {
            3
        } else {
            9
        };
        match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(()),
            _ => Err(ApiError::invalid(
                "Duration",
                format!("{v:?} is not a whole number in 1..={max}"),
            )),
        }
    }
}

impl Action for CreateNatGateway {
    const NAME: &'static str = "CreateNatGateway";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates an internet NAT gateway in a vSwitch and, as the cloud does, 0.0.0.0/0 -> it in a system table without one (IGW-3).";
    type Response = CreateNatGatewayResponse;

    fn run(self, d: &mut Draft) -> Result<CreateNatGatewayResponse, ApiError> {
        d.require_region()?;
        self.check_options()?;
        let (vpc_id, vsw_id) = (self.vpc_id.as_str(), self.v_switch_id.as_str());
        let region = d.model.vpcs[d.vpc_index(vpc_id)?].meta.region_id.clone();
        let vsw = &d.model.vswitches[d.vswitch_index(vsw_id)?];
        if vsw.vpc_id != vpc_id {
            return Err(ApiError::bad(
                "Forbidden.NotInSameVpc",
                format!("The vSwitch {vsw_id} is not in {vpc_id}."),
            ));
        }
        let mut meta = d.new_meta(self.description.as_deref());
        meta.region_id = region;
        meta.tags = tag::from_params(&self.tag)?;
        let g = NatGateway {
            id: new_id("ngw"),
            vpc_id: self.vpc_id.clone(),
            vswitch_id: self.v_switch_id.clone(),
            name: self.name.filter(|n| !n.is_empty()),
            snat_entries: Vec::new(),
            port_range: None,
            meta,
        };
        add_default_route(d, &g);
        let response = CreateNatGatewayResponse {
            nat_gateway_id: g.id.clone(),
            tables: NatTables::of(&g),
        };
        d.model.nat_gateways.push(g);
        Ok(response)
    }
}

/// 0.0.0.0/0 -> the gateway in its VPC's system route table, if that table
/// has no 0.0.0.0/0 entry (as the cloud does).
fn add_default_route(d: &mut Draft, g: &NatGateway) {
    let mut meta = g.meta.clone();
    meta.tags = Vec::new();
    if let Some(system) = d
        .model
        .route_tables
        .iter_mut()
        .find(|t| t.vpc_id == g.vpc_id && t.route_table_type == RouteTableType::System)
        && !system
            .route_entries
            .iter()
            .any(|e| e.destination_cidr_block == Ipv4Net::default())
    {
        system.route_entries.push(Arc::new(RouteEntry {
            id: new_id("rte"),
            name: None,
            destination_cidr_block: Ipv4Net::default(),
            next_hop_type: NextHopType::NatGateway,
            destination_prefix_list_id: None,
            next_hop_id: g.id.clone(),
            meta,
        }));
    }
}

/// DeleteNatGateway.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteNatGateway {
    nat_gateway_id: String,
    /// Delete its SNAT entries and unassociate its EIPs too (without it,
    /// either refuses the call).
    force: Option<bool>,
}

impl Action for DeleteNatGateway {
    const NAME: &'static str = "DeleteNatGateway";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes a NAT gateway and the routes to it; refused while it has SNAT entries or EIPs, unless Force.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let id = self.nat_gateway_id.as_str();
        let i = nat_index(d, id)?;
        if !self.force.unwrap_or(false) {
            if let Some(e) = d.model.nat_gateways[i].snat_entries.first() {
                return Err(ApiError::bad(
                    "DependencyViolation.SnatEntry",
                    format!(
                        "The NAT gateway {id} has SNAT entry {}: delete it first, or pass Force.",
                        e.id
                    ),
                ));
            }
            if let Some(e) = d.model.eips.iter().find(|e| bound_to(e, id)) {
                return Err(ApiError::bad(
                    "DependencyViolation.Eip",
                    format!(
                        "The EIP {} is associated with {id}: unassociate it first, or pass Force.",
                        e.id
                    ),
                ));
            }
        }
        for e in &mut d.model.eips {
            if bound_to(e, id) {
                e.association = None;
            }
        }
        for t in &mut d.model.route_tables {
            t.route_entries
                .retain(|e| !(e.next_hop_type == NextHopType::NatGateway && e.next_hop_id == id));
        }
        d.model.nat_gateways.remove(i);
        Ok(Empty {})
    }
}

/// DescribeNatGateways. `ResourceGroupId` (a common parameter) filters too.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNatGateways {
    /// Only this gateway.
    nat_gateway_id: Option<String>,
    /// Only gateways of this VPC.
    vpc_id: Option<String>,
    /// Only gateways of this name.
    name: Option<String>,
    /// Only gateways of this type (all are `Enhanced`).
    nat_type: Option<String>,
    /// Only gateways of this network type (all are `internet`).
    network_type: Option<String>,
    /// Only gateways in this status (all are `Available`).
    status: Option<String>,
    /// Only gateways billed so (all are `PostPaid`).
    instance_charge_type: Option<String>,
    /// Only gateways of this subscription size (none has one: LCU-metered).
    spec: Option<String>,
    /// Only gateways in this zone (their vSwitch's).
    zone_id: Option<String>,
    /// Only gateways with these tags.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// Page, from 1.
    page_number: Option<u32>,
    /// Entries per page (at most 50).
    page_size: Option<u32>,
    /// Zone availability modes are not modelled.
    #[serde(rename = "AvailabilityMode")]
    _availability_mode: Option<Unsupported>,
}

/// One EIP of a NAT gateway.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpListItem {
    allocation_id: String,
    ip_address: String,
    private_ip_address: String,
    snat_entry_enabled: bool,
    using_status: &'static str,
}

/// `{"IpList": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpLists {
    ip_list: Vec<IpListItem>,
}

/// `{"VswitchId": ...}`: where the gateway is.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NatGatewayPrivateInfo {
    vswitch_id: String,
}

/// One gateway in DescribeNatGateways.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NatGatewayItem {
    nat_gateway_id: String,
    name: String,
    description: String,
    vpc_id: String,
    region_id: String,
    status: &'static str,
    business_status: &'static str,
    nat_type: &'static str,
    network_type: &'static str,
    eip_bind_mode: &'static str,
    instance_charge_type: &'static str,
    internet_charge_type: &'static str,
    creation_time: String,
    expired_time: String,
    auto_pay: bool,
    deletion_protection: bool,
    /// False: this router does not answer pings to the gateway's EIPs.
    icmp_reply_enabled: bool,
    resource_group_id: String,
    #[serde(flatten)]
    tables: NatTables,
    ip_lists: IpLists,
    nat_gateway_private_info: NatGatewayPrivateInfo,
    tags: tag::EcsTags,
}

/// `{"NatGateway": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NatGateways {
    nat_gateway: Vec<NatGatewayItem>,
}

/// DescribeNatGateways' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNatGatewaysResponse {
    nat_gateways: NatGateways,
    #[serde(flatten)]
    page: PageInfo,
}

impl DescribeNatGateways {
    fn selects(&self, d: &Draft, g: &NatGateway) -> bool {
        let zone = d.model.vswitch(&g.vswitch_id).map(|v| v.zone_id.as_str());
        d.in_view(&g.meta)
            && given(&self.nat_gateway_id).is_none_or(|x| g.id == x)
            && given(&self.vpc_id).is_none_or(|x| g.vpc_id == x)
            && given(&self.name).is_none_or(|x| g.name.as_deref() == Some(x))
            && given(&self.nat_type).is_none_or(|x| x == "Enhanced")
            && given(&self.network_type).is_none_or(|x| x == "internet")
            && given(&self.status).is_none_or(|x| x == "Available")
            && given(&self.instance_charge_type).is_none_or(|x| x == "PostPaid")
            && given(&self.spec).is_none()
            && given(&self.zone_id).is_none_or(|x| zone == Some(x))
            && given(&d.common.resource_group_id).is_none_or(|x| g.meta.resource_group_id == x)
            && tag::matches(&g.meta.tags, &self.tag)
    }
}

/// The EIPs of a gateway, and whether its SNAT entries use them.
fn ip_list(d: &Draft, g: &NatGateway) -> Vec<IpListItem> {
    d.model
        .eips
        .iter()
        .filter(|e| bound_to(e, &g.id))
        .map(|e| {
            let used = g.snat_entries.iter().any(|s| s.snat_ip == e.ip_address);
            IpListItem {
                allocation_id: e.id.clone(),
                ip_address: e.ip_address.to_string(),
                private_ip_address: String::new(),
                snat_entry_enabled: used,
                using_status: if used { "UsedBySnatTable" } else { "Idle" },
            }
        })
        .collect()
}

fn nat_gateway_item(d: &Draft, g: &NatGateway) -> NatGatewayItem {
    NatGatewayItem {
        nat_gateway_id: g.id.clone(),
        name: g.name.clone().unwrap_or_default(),
        description: g.meta.description.clone(),
        vpc_id: g.vpc_id.clone(),
        region_id: g.meta.region_id.clone(),
        status: "Available",
        business_status: "Normal",
        nat_type: "Enhanced",
        network_type: "internet",
        eip_bind_mode: "MULTI_BINDED",
        instance_charge_type: "PostPaid",
        internet_charge_type: "PayByLcu",
        creation_time: g.meta.creation_time.clone(),
        expired_time: String::new(),
        auto_pay: false,
        deletion_protection: false,
        icmp_reply_enabled: false,
        resource_group_id: g.meta.resource_group_id.clone(),
        tables: NatTables::of(g),
        ip_lists: IpLists {
            ip_list: ip_list(d, g),
        },
        nat_gateway_private_info: NatGatewayPrivateInfo {
            vswitch_id: g.vswitch_id.clone(),
        },
        tags: tag::EcsTags::of(&g.meta.tags),
    }
}

impl Action for DescribeNatGateways {
    const NAME: &'static str = "DescribeNatGateways";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists NAT gateways by id, VPC, name, type, zone, resource group, tags, with their EIPs; paged (at most 50).";
    type Response = DescribeNatGatewaysResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeNatGatewaysResponse, ApiError> {
        d.require_region()?;
        let list: Vec<&NatGateway> = d
            .model
            .nat_gateways
            .iter()
            .filter(|g| self.selects(d, g))
            .collect();
        let (list, page) = paginate(list, self.page_number, self.page_size, 50)?;
        let nat_gateway = list.into_iter().map(|g| nat_gateway_item(d, g)).collect();
        Ok(DescribeNatGatewaysResponse {
            nat_gateways: NatGateways { nat_gateway },
            page,
        })
    }
}

/// CreateSnatEntry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSnatEntry {
    snat_table_id: String,
    /// One EIP associated with the gateway (address pools are refused).
    snat_ip: Option<String>,
    /// The vSwitch whose CIDR block is translated (or SourceCIDR, not both).
    #[serde(rename = "SourceVSwitchId")]
    source_vswitch_id: Option<String>,
    /// The CIDR block translated (or SourceVSwitchId, not both).
    #[serde(rename = "SourceCIDR")]
    source_cidr: Option<String>,
    /// SnatEntryName.
    snat_entry_name: Option<String>,
    /// EIP affinity across an entry's EIPs: `0`; `1` is refused (an entry
    /// has one EIP here).
    eip_affinity: Option<u8>,
    /// ENI addresses as SNAT addresses (VPC NAT gateways) are not
    /// implemented.
    #[serde(rename = "NetworkInterfaceId")]
    _network_interface_id: Option<Unsupported>,
}

/// CreateSnatEntry's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSnatEntryResponse {
    snat_entry_id: String,
}

impl CreateSnatEntry {
    /// The one SNAT address.
    fn snat_ip(&self) -> Result<Ipv4Addr, ApiError> {
        let ip = given(&self.snat_ip).ok_or_else(|| ApiError::missing("SnatIp"))?;
        if ip.contains(',') {
            return Err(ApiError::bad(
                "UnsupportedFeature.SnatIpPool",
                "Give one SnatIp per SNAT entry: address pools are not supported.",
            ));
        }
        ip.parse().map_err(|_| {
            ApiError::bad(
                "InvalidSnatIp.Malformed",
                format!("{ip:?} is not an IPv4 address."),
            )
        })
    }

    /// What is translated: a vSwitch or a CIDR block.
    fn source(&self, d: &Draft) -> Result<SnatSource, ApiError> {
        match (given(&self.source_vswitch_id), given(&self.source_cidr)) {
            (Some(v), None) => {
                d.vswitch_index(v)?;
                Ok(SnatSource::VSwitch(v.to_string()))
            }
            (None, Some(c)) => {
                let c = cidr("SourceCIDR", c)?;
                if c.trunc() != c {
                    return Err(ApiError::bad(
                        "InvalidSourceCIDR.Malformed",
                        format!("The source {c} has host bits set."),
                    ));
                }
                Ok(SnatSource::Cidr(c))
            }
            (Some(_), Some(_)) => Err(ApiError::bad(
                "InvalidParameter.Conflict",
                "Give SourceVSwitchId or SourceCIDR, not both.",
            )),
            (None, None) => Err(ApiError::missing("SourceVSwitchId")),
        }
    }
}

impl Action for CreateSnatEntry {
    const NAME: &'static str = "CreateSnatEntry";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Translates a vSwitch or CIDR block behind one EIP of the NAT gateway (IGW-3).";
    type Response = CreateSnatEntryResponse;

    fn run(self, d: &mut Draft) -> Result<CreateSnatEntryResponse, ApiError> {
        d.require_region()?;
        match self.eip_affinity {
            None | Some(0) => {}
            Some(1) => return Err(ApiError::unsupported("EipAffinity")),
            Some(n) => {
                return Err(ApiError::invalid(
                    "EipAffinity",
                    format!("{n} is not 0 or 1"),
                ));
            }
        }
        let snat_ip = self.snat_ip()?;
        let source = self.source(d)?;
        let i = by_snat_table(d, &self.snat_table_id)?;
        let entry = SnatEntry {
            id: new_id("snat"),
            name: self.snat_entry_name.filter(|n| !n.is_empty()),
            snat_ip,
            source,
        };
        let response = CreateSnatEntryResponse {
            snat_entry_id: entry.id.clone(),
        };
        // An address that is no EIP of this gateway, or a source given
        // twice, is refused by validation.
        d.model.nat_gateways[i].snat_entries.push(entry);
        Ok(response)
    }
}

/// DescribeSnatTableEntries: by SnatTableId or NatGatewayId.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSnatTableEntries {
    /// The SNAT table (or NatGatewayId).
    snat_table_id: Option<String>,
    /// The NAT gateway (or SnatTableId).
    nat_gateway_id: Option<String>,
    /// Only this entry.
    snat_entry_id: Option<String>,
    /// Only entries of this name.
    snat_entry_name: Option<String>,
    /// Only entries behind this address.
    snat_ip: Option<String>,
    /// Only entries translating this CIDR block (a vSwitch's counts).
    #[serde(rename = "SourceCIDR")]
    source_cidr: Option<String>,
    /// Only entries of this vSwitch.
    #[serde(rename = "SourceVSwitchId")]
    source_vswitch_id: Option<String>,
    /// Only entries using these ENIs' addresses (none does here).
    #[serde(default)]
    network_interface_ids: Vec<String>,
    /// Page, from 1.
    page_number: Option<u32>,
    /// Entries per page (at most 50).
    page_size: Option<u32>,
}

/// One entry in DescribeSnatTableEntries.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnatTableEntry {
    snat_entry_id: String,
    snat_entry_name: String,
    snat_table_id: String,
    nat_gateway_id: String,
    snat_ip: String,
    #[serde(rename = "SourceCIDR")]
    source_cidr: String,
    #[serde(rename = "SourceVSwitchId")]
    source_vswitch_id: String,
    network_interface_id: String,
    eip_affinity: &'static str,
    status: &'static str,
}

/// `{"SnatTableEntry": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnatTableEntries {
    snat_table_entry: Vec<SnatTableEntry>,
}

/// DescribeSnatTableEntries' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSnatTableEntriesResponse {
    snat_table_entries: SnatTableEntries,
    #[serde(flatten)]
    page: PageInfo,
}

/// The CIDR block an entry translates.
fn source_cidr(d: &Draft, e: &SnatEntry) -> String {
    match &e.source {
        SnatSource::Cidr(c) => c.to_string(),
        SnatSource::VSwitch(v) => d
            .model
            .vswitch(v)
            .map(|v| v.cidr_block.to_string())
            .unwrap_or_default(),
    }
}

impl DescribeSnatTableEntries {
    fn selects(&self, d: &Draft, e: &SnatEntry) -> bool {
        given(&self.snat_entry_id).is_none_or(|x| e.id == x)
            && given(&self.snat_entry_name).is_none_or(|x| e.name.as_deref() == Some(x))
            && given(&self.snat_ip).is_none_or(|x| e.snat_ip.to_string() == x)
            && given(&self.source_cidr).is_none_or(|x| source_cidr(d, e) == x)
            && given(&self.source_vswitch_id)
                .is_none_or(|x| matches!(&e.source, SnatSource::VSwitch(v) if v == x))
            && self.network_interface_ids.is_empty()
    }

    /// The gateway asked for.
    fn gateway(&self, d: &Draft) -> Result<usize, ApiError> {
        match (given(&self.snat_table_id), given(&self.nat_gateway_id)) {
            (Some(t), _) => by_snat_table(d, t),
            (None, Some(n)) => nat_index(d, n),
            (None, None) => Err(ApiError::missing("SnatTableId")),
        }
    }
}

impl Action for DescribeSnatTableEntries {
    const NAME: &'static str = "DescribeSnatTableEntries";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the SNAT entries of a NAT gateway, filtered by id, name, address, source; paged (at most 50).";
    type Response = DescribeSnatTableEntriesResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeSnatTableEntriesResponse, ApiError> {
        d.require_region()?;
        let g = &d.model.nat_gateways[self.gateway(d)?];
        let list: Vec<&SnatEntry> = g
            .snat_entries
            .iter()
            .filter(|e| self.selects(d, e))
            .collect();
        let (list, page) = paginate(list, self.page_number, self.page_size, 50)?;
        let snat_table_entry = list
            .into_iter()
            .map(|e| SnatTableEntry {
                snat_entry_id: e.id.clone(),
                snat_entry_name: e.name.clone().unwrap_or_default(),
                snat_table_id: g.snat_table_id(),
                nat_gateway_id: g.id.clone(),
                snat_ip: e.snat_ip.to_string(),
                source_cidr: source_cidr(d, e),
                source_vswitch_id: match &e.source {
                    SnatSource::VSwitch(v) => v.clone(),
                    SnatSource::Cidr(_) => String::new(),
                },
                network_interface_id: String::new(),
                eip_affinity: "0",
                status: "Available",
            })
            .collect();
        Ok(DescribeSnatTableEntriesResponse {
            snat_table_entries: SnatTableEntries { snat_table_entry },
            page,
        })
    }
}

/// DeleteSnatEntry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSnatEntry {
    snat_table_id: String,
    snat_entry_id: String,
}

impl Action for DeleteSnatEntry {
    const NAME: &'static str = "DeleteSnatEntry";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Deletes an SNAT entry: its sources lose the internet through the gateway.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let id = self.snat_entry_id.as_str();
        let i = by_snat_table(d, &self.snat_table_id)?;
        let entries = &mut d.model.nat_gateways[i].snat_entries;
        let at = entries.iter().position(|e| e.id == id).ok_or_else(|| {
            ApiError::not_found(
                "InvalidSnatEntryId.NotFound",
                format!("The specified SNAT entry {id} does not exist."),
            )
        })?;
        entries.remove(at);
        Ok(Empty {})
    }
}

#[cfg(test)]
mod tests {
    use crate::service::tests::Scratch;

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");

    /// CreateNatGateway in a fresh VPC's vSwitch with `extra` parameters.
    fn create(
        s: &mut Scratch,
        vpc: &str,
        vsw: &str,
        extra: &[(&str, &str)],
    ) -> Result<serde_json::Value, crate::api::ApiError> {
        let mut p = vec![R, ("VpcId", vpc), ("VSwitchId", vsw)];
        p.extend_from_slice(extra);
        s.call("CreateNatGateway", &p)
    }

    #[test]
    fn billing_parameters_the_cloud_ignores_are_checked_and_the_rest_refused() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let refused: &[(&[(&str, &str)], &str)] = &[
            (&[("InstanceChargeType", "PrePaid")], "InvalidParameter"),
            (&[("InternetChargeType", "PayBySpec")], "InvalidParameter"),
            (&[("PricingCycle", "Week")], "InvalidParameter"),
            (&[("Duration", "10")], "InvalidParameter"),
            (
                &[("Duration", "4"), ("PricingCycle", "Year")],
                "InvalidParameter",
            ),
            (&[("Duration", "one")], "InvalidParameter"),
            (&[("Spec", "Huge")], "InvalidParameter"),
            (&[("AutoPay", "maybe")], "InvalidParameter"),
            (&[("EipBindMode", "NAT")], "UnsupportedParameter"),
            (&[("EipBindMode", "SOME")], "InvalidParameter"),
            (&[("IcmpReplyEnabled", "true")], "UnsupportedParameter"),
            (&[("PrivateLinkEnabled", "true")], "UnsupportedParameter"),
            (
                &[("SecurityProtectionEnabled", "true")],
                "UnsupportedParameter",
            ),
            (&[("NatIp", "10.0.1.9")], "UnsupportedParameter"),
            (&[("Ipv4Prefix", "10.0.1.16/28")], "UnsupportedParameter"),
            (&[("AvailabilityMode", "MultiZone")], "UnsupportedParameter"),
            (&[("AccessMode.ModeValue", "route")], "UnsupportedParameter"),
            (&[("NatType", "Normal")], "InvalidParameter"),
        ];
        for (extra, code) in refused {
            let e = create(&mut s, &vpc, &vsw, extra).unwrap_err();
            assert_eq!(e.code, *code, "{extra:?}: {e:?}");
        }
        assert!(s.service.model().nat_gateways.is_empty());
        let accepted = [
            ("InstanceChargeType", "PostPaid"),
            ("InternetChargeType", "PayByLcu"),
            ("AutoPay", "false"),
            ("Duration", "3"),
            ("PricingCycle", "Year"),
            ("Spec", "Small"),
            ("EipBindMode", "MULTI_BINDED"),
            ("IcmpReplyEnabled", "false"),
            ("PrivateLinkEnabled", "false"),
            ("SecurityProtectionEnabled", "false"),
            ("NatType", "Enhanced"),
            ("NetworkType", "internet"),
        ];
        create(&mut s, &vpc, &vsw, &accepted).unwrap();
        let g = &s.ok("DescribeNatGateways", &[R])["NatGateways"]["NatGateway"][0];
        assert_eq!(
            (
                g["InstanceChargeType"].as_str(),
                g["InternetChargeType"].as_str()
            ),
            (Some("PostPaid"), Some("PayByLcu"))
        );
        assert_eq!(g["IcmpReplyEnabled"], false);
    }

    #[test]
    fn nat_gateway_tags_are_kept_answered_and_filtered_on() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let tagged = create(
            &mut s,
            &vpc,
            &vsw,
            &[("Tag.1.Key", "env"), ("Tag.1.Value", "lab"), ("Name", "a")],
        )
        .unwrap();
        create(
            &mut s,
            &vpc,
            &vsw,
            &[("Tag.1.Key", "env"), ("Tag.1.Value", "prod")],
        )
        .unwrap();
        let d = s.ok(
            "DescribeNatGateways",
            &[R, ("Tag.1.Key", "env"), ("Tag.1.Value", "lab")],
        );
        assert_eq!(d["TotalCount"], 1);
        let g = &d["NatGateways"]["NatGateway"][0];
        assert_eq!(g["NatGatewayId"], tagged["NatGatewayId"]);
        assert_eq!(
            g["Tags"]["Tag"],
            serde_json::json!([{"TagKey": "env", "TagValue": "lab"}])
        );
        assert_eq!(
            g["SnatTableIds"]["SnatTableId"],
            tagged["SnatTableIds"]["SnatTableId"]
        );
        assert_eq!(
            s.ok("DescribeNatGateways", &[R, ("Tag.1.Key", "env")])["TotalCount"],
            2
        );
        assert_eq!(
            s.ok("DescribeNatGateways", &[R, ("ZoneId", "cn-hangzhou-a")])["TotalCount"],
            2
        );
        assert_eq!(
            s.ok("DescribeNatGateways", &[R, ("ZoneId", "cn-hangzhou-b")])["TotalCount"],
            0
        );
        assert_eq!(
            s.ok("DescribeNatGateways", &[R, ("Spec", "Small")])["TotalCount"],
            0,
            "LCU-metered: no spec"
        );
        assert_eq!(
            s.ok(
                "DescribeNatGateways",
                &[R, ("InstanceChargeType", "PrePaid")]
            )["TotalCount"],
            0
        );
        assert_eq!(
            s.ok(
                "DescribeNatGateways",
                &[R, ("InstanceChargeType", "PostPaid")]
            )["TotalCount"],
            2
        );
        assert_eq!(
            s.ok(
                "DescribeNatGateways",
                &[R, ("PageSize", "1"), ("PageNumber", "2")]
            )["NatGateways"]["NatGateway"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            s.err("DescribeNatGateways", &[R, ("PageSize", "51")]).code,
            "InvalidParameter"
        );
        assert_eq!(
            s.err("DescribeNatGateways", &[R, ("AvailabilityMode", "x")])
                .code,
            "UnsupportedParameter"
        );
        let e = create(&mut s, &vpc, &vsw, &[("Tag.1.Key", "aliyun-x")]).unwrap_err();
        assert_eq!(e.code, "InvalidTagKey.Malformed");
        assert_eq!(s.service.model().nat_gateways.len(), 2);
    }

    #[test]
    fn snat_features_this_router_lacks_are_refused() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let n = create(&mut s, &vpc, &vsw, &[]).unwrap();
        let (ngw, table) = (
            n["NatGatewayId"].as_str().unwrap().to_string(),
            n["SnatTableIds"]["SnatTableId"][0]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let eip = s.ok("AllocateEipAddress", &[R]);
        let (alloc, ip) = (
            eip["AllocationId"].as_str().unwrap().to_string(),
            eip["EipAddress"].as_str().unwrap().to_string(),
        );
        s.ok(
            "AssociateEipAddress",
            &[
                R,
                ("AllocationId", &alloc),
                ("InstanceId", &ngw),
                ("InstanceType", "Nat"),
            ],
        );
        let entry = [
            R,
            ("SnatTableId", table.as_str()),
            ("SnatIp", ip.as_str()),
            ("SourceVSwitchId", vsw.as_str()),
        ];
        for (extra, code) in [
            (("EipAffinity", "1"), "UnsupportedParameter"),
            (("EipAffinity", "2"), "InvalidParameter"),
            (("NetworkInterfaceId", "eni-x"), "UnsupportedParameter"),
        ] {
            let mut p = entry.to_vec();
            p.push(extra);
            assert_eq!(s.err("CreateSnatEntry", &p).code, code, "{extra:?}");
        }
        assert!(s.service.model().nat_gateways[0].snat_entries.is_empty());
        let mut p = entry.to_vec();
        p.extend([("EipAffinity", "0"), ("SnatEntryName", "out")]);
        let id = s.ok("CreateSnatEntry", &p)["SnatEntryId"]
            .as_str()
            .unwrap()
            .to_string();
        let d = s.ok(
            "DescribeSnatTableEntries",
            &[R, ("NatGatewayId", &ngw), ("SourceCIDR", "10.0.1.0/24")],
        );
        assert_eq!(
            (
                d["TotalCount"].as_u64(),
                d["SnatTableEntries"]["SnatTableEntry"][0]["SnatEntryId"].as_str()
            ),
            (Some(1), Some(id.as_str()))
        );
        assert_eq!(
            d["SnatTableEntries"]["SnatTableEntry"][0]["SnatEntryName"],
            "out"
        );
        let d = s.ok(
            "DescribeSnatTableEntries",
            &[
                R,
                ("SnatTableId", &table),
                ("NetworkInterfaceIds.1", "eni-x"),
            ],
        );
        assert_eq!(d["TotalCount"], 0, "no entry uses an ENI's addresses");
        assert_eq!(
            s.err("DescribeSnatTableEntries", &[R]).code,
            "MissingParameter"
        );
    }
}
