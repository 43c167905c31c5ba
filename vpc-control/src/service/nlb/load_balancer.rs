//! Load balancers: CreateLoadBalancer, GetLoadBalancerAttribute,
//! ListLoadBalancers, DeleteLoadBalancer, UpdateLoadBalancerZones,
//! LoadBalancerJoinSecurityGroup, LoadBalancerLeaveSecurityGroup.
use std::{collections::BTreeSet, net::Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::{JobAnswer, any_or, illegal, mismatch, not_found, page, record_job};
use crate::{
    api::{ApiError, Product, form::Unsupported, new_id},
    model::{
        DeletionProtection, Eip, EipAssociation, EipInstanceType, LoadBalancer, LoadBalancerStatus,
        Model, ModificationProtection, ModificationProtectionStatus, NlbAddressType, ZoneMapping,
        is_reserved,
    },
    service::{Action, Draft, params::given, tag},
};

/// Most zones of one load balancer.
pub const MAX_ZONES: usize = 10;
/// Most security groups one load balancer is in.
pub const MAX_SECURITY_GROUPS: usize = 4;

/// Index of the load balancer `id` the caller has, or
/// `ResourceNotFound.loadBalancer`.
pub(super) fn lb_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .load_balancers
        .iter()
        .position(|l| l.id == id && d.caller.owns(&l.meta.owner_id))
        .ok_or_else(|| not_found("loadBalancer", id))
}

/// One `ZoneMappings.N` of CreateLoadBalancer and UpdateLoadBalancerZones.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ZoneMappingParam {
    /// VSwitchId: a vSwitch of the load balancer's VPC in ZoneId.
    #[serde(rename = "VSwitchId")]
    v_switch_id: String,
    /// ZoneId.
    zone_id: String,
    /// PrivateIPv4Address: given, or the lowest free address of the vSwitch.
    #[serde(rename = "PrivateIPv4Address")]
    private_ipv4_address: Option<String>,
    /// AllocationId: an EIP of the account (internet-facing only); without
    /// one, the service allocates an EIP, as the cloud does.
    allocation_id: Option<String>,
    /// EipType (UpdateLoadBalancerZones): `Common` only.
    eip_type: Option<String>,
    /// IPv6 is not served.
    #[serde(rename = "Ipv6Address")]
    _ipv6_address: Option<Unsupported>,
    /// Local addresses are the router's own business.
    #[serde(rename = "Ipv4LocalAddresses")]
    _ipv4_local_addresses: Option<Unsupported>,
    #[serde(rename = "Ipv6LocalAddresses")]
    _ipv6_local_addresses: Option<Unsupported>,
}

/// DeletionProtectionConfig of CreateLoadBalancer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeletionProtectionParam {
    enabled: Option<bool>,
    reason: Option<String>,
}

/// ModificationProtectionConfig of CreateLoadBalancer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModificationProtectionParam {
    status: Option<String>,
    reason: Option<String>,
}

/// LoadBalancerBillingConfig: pay-as-you-go only.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BillingParam {
    pay_type: Option<String>,
}

/// The vSwitch's lowest free host address: not reserved, not held by an
/// instance or a load balancer, nor in `also_taken`.
fn free_address(
    model: &Model,
    vswitch_id: &str,
    also_taken: &BTreeSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let vsw = model.vswitch(vswitch_id)?;
    let taken: BTreeSet<Ipv4Addr> = crate::model::instance_addresses(model)
        .into_iter()
        .filter_map(|(_, a)| a)
        .chain(model.load_balancer_addresses().map(|(a, _, _)| a))
        .chain(model.endpoint_eni_addresses().map(|(a, _, _)| a))
        .collect();
    let first = u32::from(vsw.cidr_block.network()) + 1;
    let last = u32::from(vsw.cidr_block.broadcast()).saturating_sub(3);
    (first..=last)
        .map(Ipv4Addr::from)
        .find(|a| !taken.contains(a) && !also_taken.contains(a))
}

/// The zone mappings asked for, checked against the VPC and given
/// addresses (or allocated ones); `keep` are the load balancer's current
/// mappings, whose addresses and EIPs a zone kept on the same vSwitch keeps.
fn zone_mappings(
    d: &mut Draft,
    lb_id: &str,
    vpc_id: &str,
    address_type: NlbAddressType,
    params: Vec<ZoneMappingParam>,
    keep: &[ZoneMapping],
) -> Result<Vec<ZoneMapping>, ApiError> {
    if params.is_empty() {
        return Err(ApiError::missing("ZoneMappings"));
    }
    if params.len() > MAX_ZONES {
        return Err(illegal(
            "ZoneMappings",
            format!("{} zones; at most {MAX_ZONES}", params.len()),
        ));
    }
    let zones_of_region = d.zones(d.region()).len();
    if zones_of_region >= 2 && params.len() < 2 {
        return Err(illegal(
            "ZoneMappings",
            "the region has two or more zones: a load balancer needs at least two",
        ));
    }
    let mut seen_zones = BTreeSet::new();
    let mut chosen = BTreeSet::new();
    let mut out = Vec::new();
    for (n, p) in params.into_iter().enumerate() {
        let at = |f: &str| format!("ZoneMappings.{}.{f}", n + 1);
        if p.zone_id.is_empty() {
            return Err(ApiError::missing(&at("ZoneId")));
        }
        if p.v_switch_id.is_empty() {
            return Err(ApiError::missing(&at("VSwitchId")));
        }
        if given(&p.eip_type).is_some_and(|t| t != "Common") {
            return Err(ApiError::unsupported(&at("EipType")));
        }
        let vi = d
            .vswitch_index(&p.v_switch_id)
            .map_err(|_| not_found("vSwitch", &p.v_switch_id))?;
        let vsw = &d.model.vswitches[vi];
        if vsw.vpc_id != vpc_id {
            return Err(mismatch(
                "VpcId",
                format!("The vSwitch {} is not in the VPC {vpc_id}.", vsw.id),
            ));
        }
        if vsw.zone_id != p.zone_id {
            return Err(mismatch(
                "ZoneId",
                format!(
                    "The vSwitch {} is in zone {}, not {}.",
                    vsw.id, vsw.zone_id, p.zone_id
                ),
            ));
        }
        if !seen_zones.insert(p.zone_id.clone()) {
            return Err(illegal(
                &at("ZoneId"),
                format!(
                    "the zone {} is mapped twice: one vSwitch per zone",
                    p.zone_id
                ),
            ));
        }
        let cidr = vsw.cidr_block;
        let kept = keep
            .iter()
            .find(|z| z.zone_id == p.zone_id && z.vswitch_id == p.v_switch_id);
        let private_ipv4 = match given(&p.private_ipv4_address) {
            Some(text) => {
                let a: Ipv4Addr = text.parse().map_err(|_| {
                    illegal(
                        &at("PrivateIPv4Address"),
                        format!("{text:?} is not an IPv4 address"),
                    )
                })?;
                if !cidr.contains(&a) || is_reserved(&cidr, a) {
                    return Err(illegal(
                        &at("PrivateIPv4Address"),
                        format!(
                            "{a} is not a usable address of the vSwitch {} ({cidr})",
                            p.v_switch_id
                        ),
                    ));
                }
                let held_by_other = d
                    .model
                    .load_balancer_addresses()
                    .any(|(x, _, l)| x == a && l != lb_id)
                    || crate::model::instance_addresses(&d.model)
                        .iter()
                        .any(|(_, x)| *x == Some(a))
                    || d.model
                        .endpoint_eni_addresses()
                        .any(|(x, v, _)| x == a && v == p.v_switch_id);
                if held_by_other || chosen.contains(&a) {
                    return Err(ApiError::bad(
                        "Conflict.PrivateIPv4Address",
                        format!(
                            "The address {a} of the vSwitch {} is in use.",
                            p.v_switch_id
                        ),
                    ));
                }
                a
            }
            None => match kept {
                Some(z) => z.private_ipv4,
                None => free_address(&d.model, &p.v_switch_id, &chosen).ok_or_else(|| {
                    ApiError::bad(
                        "QuotaExceeded.PrivateIpAddress",
                        format!("The vSwitch {} has no free private address.", p.v_switch_id),
                    )
                })?,
            },
        };
        chosen.insert(private_ipv4);
        let (allocation_id, public_ipv4) = match address_type {
            NlbAddressType::Intranet => {
                if given(&p.allocation_id).is_some() {
                    return Err(illegal(
                        &at("AllocationId"),
                        "an internal-facing load balancer has no EIP",
                    ));
                }
                (None, None)
            }
            NlbAddressType::Internet => {
                let (id, ip) = zone_eip(d, lb_id, given(&p.allocation_id), kept)?;
                (Some(id), Some(ip))
            }
        };
        out.push(ZoneMapping {
            zone_id: p.zone_id,
            vswitch_id: p.v_switch_id,
            private_ipv4,
            allocation_id,
            public_ipv4,
        });
    }
    Ok(out)
}

/// The EIP of an internet-facing zone: the one given (the caller's, not
/// associated elsewhere), the zone's current one, or a new one allocated
/// for the load balancer (named after it: it is released with it).
fn zone_eip(
    d: &mut Draft,
    lb_id: &str,
    given_id: Option<&str>,
    kept: Option<&ZoneMapping>,
) -> Result<(String, Ipv4Addr), ApiError> {
    let mine = |a: &Option<EipAssociation>| {
        a.as_ref()
            .is_some_and(|a| a.instance_type == EipInstanceType::Nlb && a.instance_id == lb_id)
    };
    if let Some(id) = given_id {
        let ei = d
            .model
            .eips
            .iter()
            .position(|e| e.id == id && d.caller.owns(&e.meta.owner_id))
            .ok_or_else(|| not_found("eip", id))?;
        let e = &mut d.model.eips[ei];
        if e.association.is_some()
            && !(mine(&e.association)
                && kept.is_some_and(|z| z.allocation_id.as_deref() == Some(id)))
        {
            return Err(ApiError::bad(
                "IncorrectStatus.eip",
                format!("The EIP {id} is associated with another resource."),
            ));
        }
        e.association = Some(EipAssociation {
            instance_type: EipInstanceType::Nlb,
            instance_id: lb_id.to_string(),
        });
        return Ok((e.id.clone(), e.ip_address));
    }
    if let Some(z) = kept
        && let (Some(id), Some(ip)) = (&z.allocation_id, z.public_ipv4)
    {
        return Ok((id.clone(), ip));
    }
    let ip = d.model.free_public_address().ok_or_else(|| {
        ApiError::bad(
            "QuotaExceeded.EipCount",
            "The public address pool has no free address for the load balancer's EIP.",
        )
    })?;
    let e = Eip {
        id: new_id("eip"),
        ip_address: ip,
        name: Some(lb_id.to_string()),
        bandwidth: 5,
        association: Some(EipAssociation {
            instance_type: EipInstanceType::Nlb,
            instance_id: lb_id.to_string(),
        }),
        meta: d.new_meta(Some("allocated for a network load balancer")),
    };
    let id = e.id.clone();
    d.model.eips.push(e);
    Ok((id, ip))
}

/// Frees the EIPs of `lb_id`'s zones not in `keep`: those the service
/// allocated for it are released, the caller's are disassociated.
fn free_eips(model: &mut Model, lb_id: &str, keep: &[ZoneMapping]) {
    let kept: BTreeSet<&str> = keep
        .iter()
        .filter_map(|z| z.allocation_id.as_deref())
        .collect();
    let ours = |e: &Eip| {
        e.association
            .as_ref()
            .is_some_and(|a| a.instance_type == EipInstanceType::Nlb && a.instance_id == lb_id)
            && !kept.contains(e.id.as_str())
    };
    model
        .eips
        .retain(|e| !(ours(e) && e.name.as_deref() == Some(lb_id)));
    for e in &mut model.eips {
        if ours(e) {
            e.association = None;
        }
    }
}

/// CreateLoadBalancer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateLoadBalancer {
    /// Internet or Intranet.
    address_type: String,
    /// VpcId.
    vpc_id: String,
    /// ZoneMappings.N: one vSwitch per zone (at least two where the region
    /// has two zones, at most ten).
    #[serde(default)]
    zone_mappings: Vec<ZoneMappingParam>,
    /// LoadBalancerName.
    load_balancer_name: Option<String>,
    /// LoadBalancerType: `Network`.
    load_balancer_type: Option<String>,
    /// AddressIpVersion: `ipv4` (DualStack is not served).
    address_ip_version: Option<String>,
    /// Internet shared bandwidth is not served.
    #[serde(rename = "BandwidthPackageId")]
    _bandwidth_package_id: Option<Unsupported>,
    /// DeletionProtectionConfig.
    #[serde(default)]
    deletion_protection_config: DeletionProtectionParam,
    /// ModificationProtectionConfig.
    #[serde(default)]
    modification_protection_config: ModificationProtectionParam,
    /// LoadBalancerBillingConfig.
    #[serde(default)]
    load_balancer_billing_config: BillingParam,
    /// Tag.N.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
}

/// CreateLoadBalancer's answer (the SDK model spells LoadbalancerId so).
#[derive(Debug, Serialize)]
pub struct CreateLoadBalancerResponse {
    #[serde(rename = "LoadbalancerId")]
    load_balancer_id: String,
    /// OrderId (a number): none, pay-as-you-go has no order.
    #[serde(rename = "OrderId", skip_serializing_if = "Option::is_none")]
    order_id: Option<u64>,
}

fn address_type(v: &str) -> Result<NlbAddressType, ApiError> {
    match v {
        "Internet" => Ok(NlbAddressType::Internet),
        "Intranet" => Ok(NlbAddressType::Intranet),
        "" => Err(ApiError::missing("AddressType")),
        other => Err(illegal(
            "AddressType",
            format!("{other:?} is not Internet or Intranet"),
        )),
    }
}

fn ip_version(v: &Option<String>) -> Result<(), ApiError> {
    match given(v) {
        None => Ok(()),
        Some(x) if x.eq_ignore_ascii_case("ipv4") => Ok(()),
        Some(x) if x.eq_ignore_ascii_case("DualStack") => {
            Err(ApiError::unsupported("AddressIpVersion"))
        }
        Some(x) => Err(illegal(
            "AddressIpVersion",
            format!("{x:?} is not ipv4 or DualStack"),
        )),
    }
}

impl Action for CreateLoadBalancer {
    const NAME: &'static str = "CreateLoadBalancer";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates a network load balancer in a VPC, one address per zone (given or allocated from the zone's vSwitch), an EIP per zone if internet-facing.";
    type Response = CreateLoadBalancerResponse;

    fn run(self, d: &mut Draft) -> Result<CreateLoadBalancerResponse, ApiError> {
        let kind = address_type(&self.address_type)?;
        ip_version(&self.address_ip_version)?;
        if let Some(t) = given(&self.load_balancer_type)
            && !t.eq_ignore_ascii_case("Network")
        {
            return Err(illegal("LoadBalancerType", format!("{t:?} is not Network")));
        }
        if let Some(p) = given(&self.load_balancer_billing_config.pay_type)
            && p != "PostPay"
        {
            return Err(illegal(
                "LoadBalancerBillingConfig.PayType",
                format!("{p:?} is not PostPay"),
            ));
        }
        let modification_status = match given(&self.modification_protection_config.status) {
            None | Some("NonProtection") => ModificationProtectionStatus::NonProtection,
            Some("ConsoleProtection") => ModificationProtectionStatus::ConsoleProtection,
            Some(other) => {
                return Err(illegal(
                    "ModificationProtectionConfig.Status",
                    format!("{other:?} is not NonProtection or ConsoleProtection"),
                ));
            }
        };
        if self.vpc_id.is_empty() {
            return Err(ApiError::missing("VpcId"));
        }
        let vi = d
            .vpc_index(&self.vpc_id)
            .map_err(|_| not_found("vpc", &self.vpc_id))?;
        let region = d.model.vpcs[vi].meta.region_id.clone();
        let id = new_id("nlb");
        let zones = zone_mappings(d, &id, &self.vpc_id, kind, self.zone_mappings, &[])?;
        let now = super::now();
        let mut meta = d.new_meta(None);
        if !region.is_empty() {
            meta.region_id = region;
        }
        meta.tags = tag::from_params(&self.tag)?;
        let deletion = self.deletion_protection_config;
        let enabled = deletion.enabled.unwrap_or(false);
        let lb = LoadBalancer {
            id: id.clone(),
            name: self.load_balancer_name.filter(|n| !n.is_empty()),
            vpc_id: self.vpc_id,
            address_type: kind,
            zone_mappings: zones,
            security_group_ids: Vec::new(),
            cross_zone_enabled: true,
            status: LoadBalancerStatus::Active,
            deletion_protection: DeletionProtection {
                enabled,
                reason: if enabled {
                    deletion.reason.unwrap_or_default()
                } else {
                    String::new()
                },
                enabled_time: if enabled { now.clone() } else { String::new() },
            },
            modification_protection: ModificationProtection {
                status: modification_status,
                reason: match modification_status {
                    ModificationProtectionStatus::ConsoleProtection => self
                        .modification_protection_config
                        .reason
                        .unwrap_or_default(),
                    ModificationProtectionStatus::NonProtection => String::new(),
                },
                enabled_time: match modification_status {
                    ModificationProtectionStatus::ConsoleProtection => now,
                    ModificationProtectionStatus::NonProtection => String::new(),
                },
            },
            dns_name: format!("{id}.{}.nlb.aliyuncs.com", meta.region_id),
            meta,
        };
        d.model.load_balancers.push(lb);
        // The SDK's answer has no JobId: the load balancer is Active at once.
        Ok(CreateLoadBalancerResponse {
            load_balancer_id: id,
            order_id: None,
        })
    }
}

/// A tag as GetLoadBalancerAttribute answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagKeyValue {
    tag_key: String,
    tag_value: String,
}

/// One address of a zone.
#[derive(Debug, Serialize)]
pub struct LoadBalancerAddress {
    #[serde(rename = "AllocationId", skip_serializing_if = "Option::is_none")]
    allocation_id: Option<String>,
    #[serde(rename = "EniId")]
    eni_id: String,
    #[serde(rename = "PrivateIPv4Address")]
    private_ipv4_address: String,
    #[serde(rename = "PublicIPv4Address", skip_serializing_if = "Option::is_none")]
    public_ipv4_address: Option<String>,
    #[serde(rename = "PrivateIPv4HcStatus")]
    private_ipv4_hc_status: &'static str,
}

/// One zone of a load balancer in an answer.
#[derive(Debug, Serialize)]
pub struct ZoneMappingOut {
    #[serde(rename = "ZoneId")]
    zone_id: String,
    #[serde(rename = "VSwitchId")]
    v_switch_id: String,
    #[serde(rename = "Status")]
    status: &'static str,
    #[serde(rename = "LoadBalancerAddresses")]
    load_balancer_addresses: Vec<LoadBalancerAddress>,
}

/// DeletionProtectionConfig in an answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeletionProtectionOut {
    enabled: bool,
    enabled_time: String,
    reason: String,
}

/// ModificationProtectionConfig in an answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModificationProtectionOut {
    enabled_time: String,
    reason: String,
    status: &'static str,
}

/// LoadBalancerBillingConfig in an answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BillingOut {
    pay_type: &'static str,
}

/// A load balancer's attributes, as Get and List answer them (tags apart:
/// the two spell them differently).
#[derive(Debug, Serialize)]
pub struct LoadBalancerAttributes {
    #[serde(rename = "LoadBalancerId")]
    load_balancer_id: String,
    #[serde(rename = "LoadBalancerName")]
    load_balancer_name: String,
    #[serde(rename = "LoadBalancerType")]
    load_balancer_type: &'static str,
    #[serde(rename = "LoadBalancerStatus")]
    load_balancer_status: &'static str,
    #[serde(rename = "LoadBalancerBusinessStatus")]
    load_balancer_business_status: &'static str,
    #[serde(rename = "AddressType")]
    address_type: &'static str,
    #[serde(rename = "AddressIpVersion")]
    address_ip_version: &'static str,
    #[serde(rename = "VpcId")]
    vpc_id: String,
    #[serde(rename = "RegionId")]
    region_id: String,
    #[serde(rename = "ResourceGroupId")]
    resource_group_id: String,
    #[serde(rename = "CreateTime")]
    create_time: String,
    #[serde(rename = "CrossZoneEnabled")]
    cross_zone_enabled: bool,
    #[serde(rename = "DNSName")]
    dns_name: String,
    #[serde(rename = "SecurityGroupIds")]
    security_group_ids: Vec<String>,
    #[serde(rename = "ZoneMappings")]
    zone_mappings: Vec<ZoneMappingOut>,
    #[serde(rename = "DeletionProtectionConfig")]
    deletion_protection_config: DeletionProtectionOut,
    #[serde(rename = "ModificationProtectionConfig")]
    modification_protection_config: ModificationProtectionOut,
    #[serde(rename = "LoadBalancerBillingConfig")]
    load_balancer_billing_config: BillingOut,
}

impl LoadBalancerAttributes {
    fn of(l: &LoadBalancer) -> Self {
        Self {
            load_balancer_id: l.id.clone(),
            load_balancer_name: l.name.clone().unwrap_or_default(),
            load_balancer_type: "Network",
            load_balancer_status: l.status.as_str(),
            load_balancer_business_status: "Normal",
            address_type: l.address_type.as_str(),
            address_ip_version: "ipv4",
            vpc_id: l.vpc_id.clone(),
            region_id: l.meta.region_id.clone(),
            resource_group_id: l.meta.resource_group_id.clone(),
            create_time: l.meta.creation_time.clone(),
            cross_zone_enabled: l.cross_zone_enabled,
            dns_name: l.dns_name.clone(),
            security_group_ids: l.security_group_ids.clone(),
            zone_mappings: l
                .zone_mappings
                .iter()
                .map(|z| ZoneMappingOut {
                    zone_id: z.zone_id.clone(),
                    v_switch_id: z.vswitch_id.clone(),
                    status: "Active",
                    load_balancer_addresses: vec![LoadBalancerAddress {
                        allocation_id: z.allocation_id.clone(),
                        eni_id: String::new(),
                        private_ipv4_address: z.private_ipv4.to_string(),
                        public_ipv4_address: z.public_ipv4.map(|a| a.to_string()),
                        private_ipv4_hc_status: "Healthy",
                    }],
                })
                .collect(),
            deletion_protection_config: DeletionProtectionOut {
                enabled: l.deletion_protection.enabled,
                enabled_time: l.deletion_protection.enabled_time.clone(),
                reason: l.deletion_protection.reason.clone(),
            },
            modification_protection_config: ModificationProtectionOut {
                enabled_time: l.modification_protection.enabled_time.clone(),
                reason: l.modification_protection.reason.clone(),
                status: l.modification_protection.status.as_str(),
            },
            load_balancer_billing_config: BillingOut {
                pay_type: "PostPay",
            },
        }
    }
}

/// GetLoadBalancerAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetLoadBalancerAttribute {
    load_balancer_id: String,
}

/// GetLoadBalancerAttribute's answer.
#[derive(Debug, Serialize)]
pub struct GetLoadBalancerAttributeResponse {
    #[serde(flatten)]
    attributes: LoadBalancerAttributes,
    #[serde(rename = "Tags")]
    tags: Vec<TagKeyValue>,
}

impl Action for GetLoadBalancerAttribute {
    const NAME: &'static str = "GetLoadBalancerAttribute";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Shows one network load balancer: status, zones and their addresses, security groups, protection, tags.";
    type Response = GetLoadBalancerAttributeResponse;

    fn run(self, d: &mut Draft) -> Result<GetLoadBalancerAttributeResponse, ApiError> {
        let l = &d.model.load_balancers[lb_index(d, &self.load_balancer_id)?];
        Ok(GetLoadBalancerAttributeResponse {
            attributes: LoadBalancerAttributes::of(l),
            tags: l
                .meta
                .tags
                .iter()
                .map(|t| TagKeyValue {
                    tag_key: t.key.clone(),
                    tag_value: t.value.clone(),
                })
                .collect(),
        })
    }
}

/// ListLoadBalancers. `ResourceGroupId` (a common parameter) filters too.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListLoadBalancers {
    #[serde(default)]
    load_balancer_ids: Vec<String>,
    #[serde(default)]
    load_balancer_names: Vec<String>,
    #[serde(default)]
    vpc_ids: Vec<String>,
    zone_id: Option<String>,
    address_type: Option<String>,
    address_ip_version: Option<String>,
    /// IPv6 is not served: a load balancer has no IPv6 address type.
    ipv6_address_type: Option<String>,
    load_balancer_status: Option<String>,
    load_balancer_business_status: Option<String>,
    load_balancer_type: Option<String>,
    #[serde(rename = "DNSName")]
    dns_name: Option<String>,
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// One load balancer in ListLoadBalancers.
#[derive(Debug, Serialize)]
pub struct ListedLoadBalancer {
    #[serde(flatten)]
    attributes: LoadBalancerAttributes,
    #[serde(rename = "Tags")]
    tags: Vec<tag::TagOut>,
}

/// ListLoadBalancers' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListLoadBalancersResponse {
    load_balancers: Vec<ListedLoadBalancer>,
    max_results: u32,
    next_token: String,
    total_count: usize,
}

impl ListLoadBalancers {
    fn selects(&self, d: &Draft, l: &LoadBalancer) -> bool {
        let eq = |f: &Option<String>, v: &str| given(f).is_none_or(|x| x.eq_ignore_ascii_case(v));
        d.in_view(&l.meta)
            && any_or(&self.load_balancer_ids, &l.id)
            && (self.load_balancer_names.is_empty()
                || l.name
                    .as_deref()
                    .is_some_and(|n| any_or(&self.load_balancer_names, n)))
            && any_or(&self.vpc_ids, &l.vpc_id)
            && given(&self.zone_id).is_none_or(|z| l.zone(z).is_some())
            && eq(&self.address_type, l.address_type.as_str())
            && eq(&self.address_ip_version, "ipv4")
            && given(&self.ipv6_address_type).is_none()
            && eq(&self.load_balancer_status, l.status.as_str())
            && eq(&self.load_balancer_business_status, "Normal")
            && eq(&self.load_balancer_type, "Network")
            && eq(&self.dns_name, &l.dns_name)
            && tag::matches(&l.meta.tags, &self.tag)
    }
}

impl Action for ListLoadBalancers {
    const NAME: &'static str = "ListLoadBalancers";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists network load balancers by id, name, VPC, zone, type, status, DNS name, resource group, tags; paged by MaxResults and NextToken.";
    type Response = ListLoadBalancersResponse;

    fn run(self, d: &mut Draft) -> Result<ListLoadBalancersResponse, ApiError> {
        let items: Vec<(String, &LoadBalancer)> = d
            .model
            .load_balancers
            .iter()
            .filter(|l| self.selects(d, l))
            .map(|l| (l.id.clone(), l))
            .collect();
        let (items, next_token, total_count) =
            page("nlb", items, self.max_results, &self.next_token)?;
        Ok(ListLoadBalancersResponse {
            load_balancers: items
                .into_iter()
                .map(|l| ListedLoadBalancer {
                    attributes: LoadBalancerAttributes::of(l),
                    tags: tag::Tags::of(&l.meta.tags).tag,
                })
                .collect(),
            max_results: self.max_results.unwrap_or(20),
            next_token,
            total_count,
        })
    }
}

/// DeleteLoadBalancer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteLoadBalancer {
    load_balancer_id: String,
}

impl Action for DeleteLoadBalancer {
    const NAME: &'static str = "DeleteLoadBalancer";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes a network load balancer with its listeners (refused under deletion protection); EIPs it was given are disassociated, those allocated for it released.";
    type Response = JobAnswer;

    fn run(self, d: &mut Draft) -> Result<JobAnswer, ApiError> {
        let li = lb_index(d, &self.load_balancer_id)?;
        let l = &d.model.load_balancers[li];
        if l.deletion_protection.enabled {
            return Err(ApiError::bad(
                "OperationDenied.DeletionProtectionEnabled",
                format!(
                    "The load balancer {} has deletion protection enabled.",
                    l.id
                ),
            ));
        }
        if let Some(s) = d
            .model
            .endpoint_services
            .iter()
            .find(|s| s.resources.iter().any(|r| r.resource_id == l.id))
        {
            return Err(ApiError::bad(
                "ResourceInUse.loadBalancer",
                format!(
                    "The load balancer {} is a resource of the endpoint service {}: detach it first.",
                    l.id, s.id
                ),
            ));
        }
        let id = l.id.clone();
        d.model.listeners.retain(|x| x.load_balancer_id != id);
        free_eips(&mut d.model, &id, &[]);
        d.model.load_balancers.remove(li);
        Ok(JobAnswer::new(record_job(d, &id, Self::NAME)))
    }
}

/// UpdateLoadBalancerZones.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateLoadBalancerZones {
    load_balancer_id: String,
    /// The zones the load balancer is to have, all of them: a zone kept on
    /// the same vSwitch keeps its addresses.
    #[serde(default)]
    zone_mappings: Vec<ZoneMappingParam>,
}

impl Action for UpdateLoadBalancerZones {
    const NAME: &'static str = "UpdateLoadBalancerZones";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Sets the zones of a network load balancer: zones added get an address (and an EIP if internet-facing), zones left free theirs.";
    type Response = JobAnswer;

    fn run(self, d: &mut Draft) -> Result<JobAnswer, ApiError> {
        let li = lb_index(d, &self.load_balancer_id)?;
        let l = &d.model.load_balancers[li];
        let (id, vpc_id, kind, current) = (
            l.id.clone(),
            l.vpc_id.clone(),
            l.address_type,
            l.zone_mappings.clone(),
        );
        let zones = zone_mappings(d, &id, &vpc_id, kind, self.zone_mappings, &current)?;
        // A zone an endpoint service serves from stays.
        for s in &d.model.endpoint_services {
            if let Some(r) = s
                .resources
                .iter()
                .find(|r| r.resource_id == id && !zones.iter().any(|z| z.zone_id == r.zone_id))
            {
                return Err(ApiError::bad(
                    "ResourceInUse.loadBalancer",
                    format!(
                        "The zone {} of the load balancer {id} is a resource of the endpoint service {}: detach it first.",
                        r.zone_id, s.id
                    ),
                ));
            }
        }
        free_eips(&mut d.model, &id, &zones);
        d.model.load_balancers[li].zone_mappings = zones;
        Ok(JobAnswer::new(record_job(d, &id, Self::NAME)))
    }
}

/// LoadBalancerJoinSecurityGroup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancerJoinSecurityGroup {
    load_balancer_id: String,
    #[serde(default)]
    security_group_ids: Vec<String>,
}

impl Action for LoadBalancerJoinSecurityGroup {
    const NAME: &'static str = "LoadBalancerJoinSecurityGroup";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Puts a network load balancer in security groups of its VPC (at most four): their rules then filter what reaches its listeners.";
    type Response = JobAnswer;

    fn run(self, d: &mut Draft) -> Result<JobAnswer, ApiError> {
        if self.security_group_ids.is_empty() {
            return Err(ApiError::missing("SecurityGroupIds"));
        }
        let li = lb_index(d, &self.load_balancer_id)?;
        let vpc_id = d.model.load_balancers[li].vpc_id.clone();
        for g in &self.security_group_ids {
            let group = d
                .model
                .security_groups
                .iter()
                .find(|x| x.id == *g && d.caller.owns(&x.meta.owner_id))
                .ok_or_else(|| not_found("securityGroup", g))?;
            if group.vpc_id != vpc_id {
                return Err(mismatch(
                    "VpcId",
                    format!("The security group {g} is not in the VPC {vpc_id}."),
                ));
            }
            let l = &mut d.model.load_balancers[li];
            if l.security_group_ids.contains(g) {
                return Err(ApiError::bad(
                    "ResourceAlreadyAssociated.securityGroup",
                    format!(
                        "The load balancer {} is already in the security group {g}.",
                        l.id
                    ),
                ));
            }
            l.security_group_ids.push(g.clone());
        }
        if d.model.load_balancers[li].security_group_ids.len() > MAX_SECURITY_GROUPS {
            return Err(ApiError::bad(
                "QuotaExceeded.SecurityGroupsNum",
                format!("A load balancer is in at most {MAX_SECURITY_GROUPS} security groups."),
            ));
        }
        let id = self.load_balancer_id;
        Ok(JobAnswer::new(record_job(d, &id, Self::NAME)))
    }
}

/// LoadBalancerLeaveSecurityGroup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancerLeaveSecurityGroup {
    load_balancer_id: String,
    #[serde(default)]
    security_group_ids: Vec<String>,
}

impl Action for LoadBalancerLeaveSecurityGroup {
    const NAME: &'static str = "LoadBalancerLeaveSecurityGroup";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Takes a network load balancer out of security groups.";
    type Response = JobAnswer;

    fn run(self, d: &mut Draft) -> Result<JobAnswer, ApiError> {
        if self.security_group_ids.is_empty() {
            return Err(ApiError::missing("SecurityGroupIds"));
        }
        let li = lb_index(d, &self.load_balancer_id)?;
        let l = &mut d.model.load_balancers[li];
        for g in &self.security_group_ids {
            let Some(at) = l.security_group_ids.iter().position(|x| x == g) else {
                return Err(ApiError::bad(
                    "ResourceNotAssociated.securityGroup",
                    format!(
                        "The load balancer {} is not in the security group {g}.",
                        l.id
                    ),
                ));
            };
            l.security_group_ids.remove(at);
        }
        let id = self.load_balancer_id;
        Ok(JobAnswer::new(record_job(d, &id, Self::NAME)))
    }
}
