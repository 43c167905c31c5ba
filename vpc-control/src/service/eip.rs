//! Elastic IP addresses (VPC API 2016-04-28): AllocateEipAddress,
//! AssociateEipAddress, UnassociateEipAddress, ReleaseEipAddress,
//! DescribeEipAddresses. An EIP is an address of the lab's public pool; the
//! datapath translates it 1:1 to its instance or ENI, or uses it as an SNAT
//! address of a NAT gateway (IGW-3). Every EIP here is pay-as-you-go
//! (PostPaid), billed by bandwidth, on the BGP line, in NAT mode.
use std::net::Ipv4Addr;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::{Action, Draft, Empty, PageInfo, paginate, params::given, tag};
use crate::{
    api::{
        ApiError, Product, new_id,
        form::{CommaList, Unsupported},
    },
    model::{Eip, EipAssociation, EipInstanceType, Model},
};

/// Bandwidth of an EIP allocated without one, Mbit/s.
const DEFAULT_BANDWIDTH: u32 = 5;
/// Most bandwidth of a pay-as-you-go EIP billed by bandwidth, Mbit/s.
const MAX_BANDWIDTH: u32 = 500;
/// Most EIPs per page of DescribeEipAddresses.
const MAX_PAGE_SIZE: u32 = 100;
/// Most ids (or addresses) in one DescribeEipAddresses filter.
const MAX_IDS: usize = 50;

fn eip_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .eips
        .iter()
        .position(|e| e.id == id && d.caller.owns(&e.meta.owner_id))
        .ok_or_else(|| ApiError::not_found("InvalidAllocationId.NotFound", format!("The specified EIP {id} does not exist.")))
}

/// Checks a parameter whose values the cloud enumerates: `served` (the
/// default) is what this router does; the cloud's `others` are refused as
/// unsupported; anything else is invalid.
fn one_of(name: &str, value: &Option<String>, served: &str, others: &[&str]) -> Result<(), ApiError> {
    match given(value) {
        None => Ok(()),
        Some(v) if v.eq_ignore_ascii_case(served) => Ok(()),
        Some(v) if others.iter().any(|o| v.eq_ignore_ascii_case(o)) => Err(ApiError::unsupported(name)),
        Some(v) => Err(ApiError::invalid(name, format!("{v:?} is not one of {served}, {}", others.join(", ")))),
    }
}

fn instance_type_name(t: EipInstanceType) -> &'static str {
    match t {
        EipInstanceType::EcsInstance => "EcsInstance",
        EipInstanceType::NetworkInterface => "NetworkInterface",
        EipInstanceType::Nat => "Nat",
        EipInstanceType::Nlb => "Nlb",
    }
}

/// InstanceType: EcsInstance (the default), NetworkInterface or Nat.
fn instance_type(value: &Option<String>) -> Result<EipInstanceType, ApiError> {
    match given(value).unwrap_or("EcsInstance") {
        "EcsInstance" => Ok(EipInstanceType::EcsInstance),
        "NetworkInterface" => Ok(EipInstanceType::NetworkInterface),
        "Nat" => Ok(EipInstanceType::Nat),
        other => Err(ApiError::bad(
            "InvalidInstanceType.ValueNotSupported",
            format!("InstanceType {other} is not supported (EcsInstance, NetworkInterface and Nat are)."),
        )),
    }
}

/// What an EIP is (or would be) associated with.
struct Target {
    owner_id: String,
    region_id: String,
    vpc_id: String,
    /// The instance's or ENI's private address (none for a NAT gateway).
    private_ip: Option<Ipv4Addr>,
}

fn target(model: &Model, kind: EipInstanceType, id: &str) -> Option<Target> {
    let instance = match kind {
        EipInstanceType::EcsInstance => model.instances.iter().find(|x| x.id == id),
        EipInstanceType::NetworkInterface => model.instances.iter().find(|x| x.eni_id() == id),
        EipInstanceType::Nlb => {
            return model.load_balancer(id).map(|l| Target {
                owner_id: l.meta.owner_id.clone(),
                region_id: l.meta.region_id.clone(),
                vpc_id: l.vpc_id.clone(),
                private_ip: None,
            });
        }
        EipInstanceType::Nat => {
            return model.nat_gateway(id).map(|n| Target {
                owner_id: n.meta.owner_id.clone(),
                region_id: n.meta.region_id.clone(),
                vpc_id: n.vpc_id.clone(),
                private_ip: None,
            });
        }
    }?;
    Some(Target {
        owner_id: instance.meta.owner_id.clone(),
        region_id: instance.meta.region_id.clone(),
        vpc_id: model.vswitch(&instance.vswitch_id).map(|v| v.vpc_id.clone()).unwrap_or_default(),
        private_ip: instance.private_ip_address,
    })
}

/// Refuses a PrivateIpAddress that is not the target's.
fn check_private_ip(given_ip: Option<&str>, t: &Target, instance_id: &str) -> Result<(), ApiError> {
    match given_ip {
        Some(p) if t.private_ip.is_none_or(|a| a.to_string() != p) => {
            Err(ApiError::bad("InvalidPrivateIpAddress", format!("{p} is not the private address of {instance_id}.")))
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------- AllocateEipAddress

/// AllocateEipAddress: a pay-as-you-go EIP, the lowest free address of the
/// public pool or the one asked for. Subscription (PrePaid), pay-by-traffic,
/// other lines, IP address pools and Anti-DDoS are refused.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocateEipAddress {
    /// A free address of the public pool (default: the lowest free one).
    ip_address: Option<String>,
    /// Name.
    name: Option<String>,
    /// Description.
    description: Option<String>,
    /// Most bandwidth, Mbit/s: 1 to 500 as the cloud allows a pay-as-you-go
    /// EIP billed by bandwidth (default 5). Recorded, not enforced.
    bandwidth: Option<u32>,
    /// `PostPaid` (pay-as-you-go, the default); `PrePaid` is refused.
    instance_charge_type: Option<String>,
    /// `PayByBandwidth` (the default, as DescribeEipAddresses reports);
    /// `PayByTraffic` is refused.
    internet_charge_type: Option<String>,
    /// The line: `BGP` (the default); the cloud's other lines are refused.
    #[serde(rename = "ISP")]
    isp: Option<String>,
    /// `public`, the only network type the cloud has.
    netmode: Option<String>,
    /// Billing only: pays a subscription order automatically. The cloud
    /// ignores it for pay-as-you-go EIPs (the only kind here); validated as
    /// true/false and accepted.
    #[serde(rename = "AutoPay")]
    _auto_pay: Option<bool>,
    /// Billing only: the subscription's length. The cloud ignores it for
    /// pay-as-you-go EIPs (the only kind here); validated as the cloud
    /// does (1 to 9 months, 1 to 5 years) and accepted.
    period: Option<u32>,
    /// Billing only: `Month` (default) or `Year`, the unit of Period. The
    /// cloud ignores it for pay-as-you-go EIPs (the only kind here);
    /// validated and accepted.
    pricing_cycle: Option<String>,
    /// Tag.N.Key / Tag.N.Value.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// Promotions do not exist here.
    #[serde(rename = "ActivityId")]
    _activity_id: Option<Unsupported>,
    /// Re-allocating a released EIP by its id is not supported.
    #[serde(rename = "InstanceId")]
    _instance_id: Option<Unsupported>,
    /// IP address pools do not exist here: the lab has one public pool.
    #[serde(rename = "PublicIpAddressPoolId")]
    _public_ip_address_pool_id: Option<Unsupported>,
    /// Anti-DDoS (Enhanced) does not exist here.
    #[serde(rename = "SecurityProtectionTypes")]
    _security_protection_types: Option<Unsupported>,
    /// Zones of CloudBox address pools do not exist here.
    #[serde(rename = "Zone")]
    _zone: Option<Unsupported>,
}

/// AllocateEipAddress' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocateEipAddressResponse {
    allocation_id: String,
    eip_address: String,
    /// No order: pay-as-you-go.
    order_id: u64,
    resource_group_id: String,
}

impl AllocateEipAddress {
    /// The billing parameters, checked as the cloud checks them for a
    /// pay-as-you-go EIP billed by bandwidth.
    fn check_billing(&self) -> Result<u32, ApiError> {
        one_of("InstanceChargeType", &self.instance_charge_type, "PostPaid", &["PrePaid"])?;
        one_of("InternetChargeType", &self.internet_charge_type, "PayByBandwidth", &["PayByTraffic"])?;
        one_of("ISP", &self.isp, "BGP", &[
            "BGP_PRO", "ChinaTelecom", "ChinaUnicom", "ChinaMobile", "ChinaTelecom_L2", "ChinaUnicom_L2", "ChinaMobile_L2",
            "BGP_FinanceCloud",
        ])?;
        one_of("Netmode", &self.netmode, "public", &[])?;
        let months = match given(&self.pricing_cycle).unwrap_or("Month") {
            "Month" => 9,
            "Year" => 5,
            other => return Err(ApiError::invalid("PricingCycle", format!("{other:?} is not Month or Year"))),
        };
        if let Some(p) = self.period
            && !(1..=months).contains(&p)
        {
            return Err(ApiError::invalid("Period", format!("{p} is outside 1..={months}")));
        }
        let bandwidth = self.bandwidth.unwrap_or(DEFAULT_BANDWIDTH);
        if !(1..=MAX_BANDWIDTH).contains(&bandwidth) {
            return Err(ApiError::invalid("Bandwidth", format!("{bandwidth} is outside 1..={MAX_BANDWIDTH}")));
        }
        Ok(bandwidth)
    }

    /// The address asked for, checked free and in the pool, or the lowest
    /// free one.
    fn address(&self, model: &Model) -> Result<Ipv4Addr, ApiError> {
        let pool = model.router.internet.public_pool;
        let Some(text) = given(&self.ip_address) else {
            return model
                .free_public_address()
                .ok_or_else(|| ApiError::bad("QuotaExceeded.Eip", format!("The public address pool {pool} has no free address.")));
        };
        let a: Ipv4Addr = text.parse().map_err(|e| ApiError::invalid("IpAddress", format!("{text:?}: {e}")))?;
        if !pool.contains(&a) {
            return Err(ApiError::bad("InvalidIpAddress", format!("The address {a} is not in the public address pool {pool}.")));
        }
        if model.public_addresses().iter().any(|(x, _)| *x == a) {
            return Err(ApiError::bad("InvalidIpAddress.Duplicated", format!("The address {a} is already in use.")));
        }
        Ok(a)
    }
}

impl Action for AllocateEipAddress {
    const NAME: &'static str = "AllocateEipAddress";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Allocates a pay-as-you-go EIP from the public pool (the lowest free address, or IpAddress).";
    type Response = AllocateEipAddressResponse;

    fn run(self, d: &mut Draft) -> Result<AllocateEipAddressResponse, ApiError> {
        d.require_region()?;
        let bandwidth = self.check_billing()?;
        let ip_address = self.address(&d.model)?;
        let mut meta = d.new_meta(self.description.as_deref());
        meta.tags = tag::from_params(&self.tag)?;
        let eip = Eip {
            id: new_id("eip"),
            ip_address,
            name: given(&self.name).map(str::to_string),
            bandwidth,
            association: None,
            meta,
        };
        let response = AllocateEipAddressResponse {
            allocation_id: eip.id.clone(),
            eip_address: ip_address.to_string(),
            order_id: 0,
            resource_group_id: eip.meta.resource_group_id.clone(),
        };
        d.model.eips.push(eip);
        Ok(response)
    }
}

// ---------------------------------------------------------------- AssociateEipAddress

/// AssociateEipAddress: the EIP becomes the 1:1 public address of an
/// instance or ENI, or an SNAT address of a NAT gateway.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateEipAddress {
    allocation_id: String,
    /// The instance, ENI or NAT gateway.
    instance_id: String,
    /// `EcsInstance` (default), `NetworkInterface` or `Nat`.
    instance_type: Option<String>,
    /// If given, must be the instance's or ENI's private address.
    private_ip_address: Option<String>,
    /// `NAT` (the default, 1:1 NAT); the ENI modes `BINDED` and
    /// `MULTI_BINDED` are refused.
    mode: Option<String>,
    /// If given, must be the EIP's own region (associating across regions
    /// through Global Accelerator is refused).
    instance_region_id: Option<String>,
    /// If given, must be the VPC of the instance, ENI or NAT gateway.
    vpc_id: Option<String>,
}

impl AssociateEipAddress {
    /// Mode, InstanceRegionId, PrivateIpAddress and VpcId against the target.
    fn check_target(&self, t: &Target, eip_region: &str) -> Result<(), ApiError> {
        one_of("Mode", &self.mode, "NAT", &["BINDED", "MULTI_BINDED"])?;
        if given(&self.instance_region_id).is_some_and(|r| r != eip_region) {
            return Err(ApiError::unsupported("InstanceRegionId"));
        }
        check_private_ip(given(&self.private_ip_address), t, &self.instance_id)?;
        if let Some(v) = given(&self.vpc_id)
            && v != t.vpc_id
        {
            return Err(ApiError::invalid("VpcId", format!("{} is in VPC {}, not {v}", self.instance_id, t.vpc_id)));
        }
        Ok(())
    }
}

impl Action for AssociateEipAddress {
    const NAME: &'static str = "AssociateEipAddress";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Associates an EIP with an instance or ENI (1:1 NAT) or a NAT gateway (an SNAT address), IGW-3.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let kind = instance_type(&self.instance_type)?;
        let i = eip_index(d, &self.allocation_id)?;
        let instance_id = self.instance_id.as_str();
        let t = target(&d.model, kind, instance_id).filter(|t| d.caller.owns(&t.owner_id)).ok_or_else(|| {
            ApiError::not_found("InvalidInstanceId.NotFound", format!("The instance {instance_id} does not exist."))
        })?;
        self.check_target(&t, &d.model.eips[i].meta.region_id)?;
        let eip = &mut d.model.eips[i];
        match &eip.association {
            Some(a) if a.instance_id == instance_id => return Ok(Empty {}),
            Some(a) => {
                return Err(ApiError::bad(
                    "IncorrectEipStatus",
                    format!("The EIP {} is associated with {}: unassociate it first.", eip.id, a.instance_id),
                ));
            }
            None => {}
        }
        eip.association = Some(EipAssociation { instance_type: kind, instance_id: instance_id.to_string() });
        // A second public address for one ENI is refused by validation.
        Ok(Empty {})
    }
}

// ---------------------------------------------------------------- UnassociateEipAddress

/// UnassociateEipAddress: refused while an SNAT entry uses the address,
/// unless Force.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnassociateEipAddress {
    allocation_id: String,
    /// If given, must be what the EIP is associated with.
    instance_id: Option<String>,
    /// If given, must be the type of the association.
    instance_type: Option<String>,
    /// If given, must be the associated instance's or ENI's private address.
    private_ip_address: Option<String>,
    /// Also delete the SNAT entries of a NAT gateway that use the address.
    force: Option<bool>,
}

impl UnassociateEipAddress {
    /// InstanceId, InstanceType and PrivateIpAddress against the association.
    fn check_association(&self, d: &Draft, a: &EipAssociation) -> Result<(), ApiError> {
        let id = &self.allocation_id;
        if let Some(x) = given(&self.instance_id)
            && x != a.instance_id
        {
            return Err(ApiError::bad(
                "InvalidInstanceId.NotFound",
                format!("The EIP {id} is associated with {}, not {x}.", a.instance_id),
            ));
        }
        if given(&self.instance_type).is_some() && instance_type(&self.instance_type)? != a.instance_type {
            return Err(ApiError::invalid(
                "InstanceType",
                format!("the EIP {id} is associated with a {}", instance_type_name(a.instance_type)),
            ));
        }
        if let Some(t) = target(&d.model, a.instance_type, &a.instance_id) {
            check_private_ip(given(&self.private_ip_address), &t, &a.instance_id)?;
        }
        Ok(())
    }
}

impl Action for UnassociateEipAddress {
    const NAME: &'static str = "UnassociateEipAddress";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Removes an EIP from its instance, ENI or NAT gateway; refused while SNAT entries use it, unless Force.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let id = self.allocation_id.as_str();
        let i = eip_index(d, id)?;
        let eip = &d.model.eips[i];
        let Some(a) = eip.association.clone() else {
            return Err(ApiError::bad("IncorrectEipStatus", format!("The EIP {id} is not associated.")));
        };
        if a.instance_type == EipInstanceType::Nlb {
            return Err(ApiError::bad(
                "InvalidInstanceType.ValueNotSupported",
                format!("The EIP {id} is a zone address of the network load balancer {}: change it with the NLB API (UpdateLoadBalancerZones, DeleteLoadBalancer).", a.instance_id),
            ));
        }
        self.check_association(d, &a)?;
        let address = eip.ip_address;
        if a.instance_type == EipInstanceType::Nat
            && let Some(n) = d.model.nat_gateways.iter_mut().find(|n| n.id == a.instance_id)
        {
            let used: Vec<String> = n.snat_entries.iter().filter(|e| e.snat_ip == address).map(|e| e.id.clone()).collect();
            if !used.is_empty() && !self.force.unwrap_or(false) {
                return Err(ApiError::bad(
                    "DependencyViolation.SnatEntry",
                    format!("The EIP {address} is the SNAT IP of {}: delete those entries first, or pass Force.", used.join(", ")),
                ));
            }
            n.snat_entries.retain(|e| e.snat_ip != address);
        }
        d.model.eips[i].association = None;
        Ok(Empty {})
    }
}

// ---------------------------------------------------------------- ReleaseEipAddress

/// ReleaseEipAddress: only an unassociated EIP.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReleaseEipAddress {
    allocation_id: String,
}

impl Action for ReleaseEipAddress {
    const NAME: &'static str = "ReleaseEipAddress";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Releases an EIP back to the public pool; refused while it is associated.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let id = self.allocation_id.as_str();
        let i = eip_index(d, id)?;
        if let Some(a) = &d.model.eips[i].association {
            return Err(ApiError::bad(
                "IncorrectEipStatus",
                format!("The EIP {id} is associated with {}: unassociate it first.", a.instance_id),
            ));
        }
        d.model.eips.remove(i);
        Ok(Empty {})
    }
}

// ---------------------------------------------------------------- DescribeEipAddresses

/// One `Filter.N` of DescribeEipAddresses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FilterParam {
    /// `CreationStartTime`, the only key the cloud takes.
    key: Option<String>,
    /// UTC, `YYYY-MM-DDThh:mmZ`: only EIPs allocated at or after it.
    value: Option<String>,
}

/// DescribeEipAddresses: the caller's EIPs, filtered; paged (at most 100).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeEipAddresses {
    /// EIP ids, comma-separated (at most 50).
    allocation_id: Option<CommaList>,
    /// Addresses, comma-separated (at most 50).
    eip_address: Option<CommaList>,
    /// Name.
    eip_name: Option<String>,
    /// The instance, ENI or NAT gateway an EIP is associated with.
    associated_instance_id: Option<String>,
    /// EcsInstance, NetworkInterface or Nat.
    associated_instance_type: Option<String>,
    /// `Available` or `InUse`.
    status: Option<String>,
    /// Every EIP here is `PostPaid`: `PrePaid` finds nothing.
    charge_type: Option<String>,
    /// Every EIP here is on the `BGP` line: another line finds nothing.
    #[serde(rename = "ISP")]
    isp: Option<String>,
    /// No EIP here is ever locked: any lock reason finds nothing.
    lock_reason: Option<String>,
    /// No EIP here has Anti-DDoS (Enhanced): `true` finds nothing.
    security_protection_enabled: Option<bool>,
    /// No EIP here is managed by a service: `true` finds nothing.
    service_managed: Option<bool>,
    /// Subscription data not yet in effect: there is none here (every EIP
    /// is pay-as-you-go); `true` is refused.
    include_reservation_data: Option<bool>,
    /// Tag.N.Key / Tag.N.Value: only EIPs with these tags.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// Filter.N.Key / Filter.N.Value (CreationStartTime).
    #[serde(default)]
    filter: Vec<FilterParam>,
    /// Page, from 1.
    page_number: Option<u32>,
    /// Entries per page (at most 100).
    page_size: Option<u32>,
    /// IP address pools do not exist here.
    #[serde(rename = "PublicIpAddressPoolId")]
    _public_ip_address_pool_id: Option<Unsupported>,
    /// Contiguous EIP groups do not exist here.
    #[serde(rename = "SegmentInstanceId")]
    _segment_instance_id: Option<Unsupported>,
}

/// `{"LockReason": "..."}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LockReason {
    lock_reason: String,
}

/// `{"LockReason": [...]}`: an EIP here is never locked.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationLocks {
    lock_reason: Vec<LockReason>,
}

/// `{"SecurityProtectionType": [...]}`: none here.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityProtectionTypes {
    security_protection_type: Vec<String>,
}

/// One EIP in DescribeEipAddresses.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EipItem {
    allocation_id: String,
    ip_address: String,
    name: String,
    description: String,
    /// `Available` or `InUse`.
    status: &'static str,
    instance_id: String,
    instance_type: &'static str,
    instance_region_id: String,
    private_ip_address: String,
    vpc_id: String,
    mode: &'static str,
    region_id: String,
    /// Mbit/s, as a string (the cloud's type).
    bandwidth: String,
    eip_bandwidth: String,
    internet_charge_type: &'static str,
    charge_type: &'static str,
    #[serde(rename = "ISP")]
    isp: &'static str,
    netmode: &'static str,
    allocation_time: String,
    expired_time: String,
    deletion_protection: bool,
    resource_group_id: String,
    service_managed: u32,
    operation_locks: OperationLocks,
    security_protection_types: SecurityProtectionTypes,
    tags: tag::Tags,
}

/// `{"EipAddress": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EipAddresses {
    eip_address: Vec<EipItem>,
}

/// DescribeEipAddresses' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeEipAddressesResponse {
    eip_addresses: EipAddresses,
    #[serde(flatten)]
    page: PageInfo,
}

fn status_of(e: &Eip) -> &'static str {
    if e.association.is_some() { "InUse" } else { "Available" }
}

/// The earliest creation time of `Filter.N` (CreationStartTime), if any.
fn creation_start(filters: &[FilterParam]) -> Result<Option<NaiveDateTime>, ApiError> {
    let mut start = None;
    for (n, f) in filters.iter().enumerate() {
        let name = |field: &str| format!("Filter.{}.{field}", n + 1);
        let key = given(&f.key).ok_or_else(|| ApiError::missing(&name("Key")))?;
        if key != "CreationStartTime" {
            return Err(ApiError::invalid(&name("Key"), format!("{key:?} is not CreationStartTime")));
        }
        let value = given(&f.value).ok_or_else(|| ApiError::missing(&name("Value")))?;
        let t = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%MZ")
            .map_err(|_| ApiError::invalid(&name("Value"), format!("{value:?} is not a UTC time YYYY-MM-DDThh:mmZ")))?;
        start = start.max(Some(t));
    }
    Ok(start)
}

fn created(e: &Eip) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(&e.meta.creation_time, "%Y-%m-%dT%H:%M:%SZ").ok()
}

impl DescribeEipAddresses {
    /// Refuses what cannot be asked: too many ids, reservation data.
    fn check(&self) -> Result<(), ApiError> {
        for (name, list) in [("AllocationId", &self.allocation_id), ("EipAddress", &self.eip_address)] {
            if list.as_ref().is_some_and(|l| l.0.len() > MAX_IDS) {
                return Err(ApiError::invalid(name, format!("at most {MAX_IDS} values")));
            }
        }
        if self.include_reservation_data == Some(true) {
            return Err(ApiError::unsupported("IncludeReservationData"));
        }
        Ok(())
    }

    /// True if `e` passes every filter given.
    fn selects(&self, d: &Draft, e: &Eip, start: Option<NaiveDateTime>) -> bool {
        let is = |filter: &Option<String>, value: &str| given(filter).is_none_or(|f| f == value);
        let listed = |filter: &Option<CommaList>, value: &str| {
            filter.as_ref().filter(|l| !l.0.is_empty()).is_none_or(|l| l.0.iter().any(|x| x == value))
        };
        let assoc = e.association.as_ref();
        listed(&self.allocation_id, &e.id)
            && listed(&self.eip_address, &e.ip_address.to_string())
            && is(&self.eip_name, e.name.as_deref().unwrap_or_default())
            && given(&self.associated_instance_id).is_none_or(|x| assoc.is_some_and(|a| a.instance_id == x))
            && given(&self.associated_instance_type)
                .is_none_or(|x| assoc.is_some_and(|a| instance_type_name(a.instance_type) == x))
            && is(&self.status, status_of(e))
            && is(&self.charge_type, "PostPaid")
            && is(&self.isp, "BGP")
            && given(&self.lock_reason).is_none()
            && self.security_protection_enabled != Some(true)
            && self.service_managed != Some(true)
            && d.common.resource_group_id.as_deref().filter(|g| !g.is_empty()).is_none_or(|g| e.meta.resource_group_id == g)
            && start.is_none_or(|s| created(e).is_some_and(|c| c >= s))
            && tag::matches(&e.meta.tags, &self.tag)
    }
}

fn item(model: &Model, e: &Eip) -> EipItem {
    let assoc = e.association.as_ref();
    let t = assoc.and_then(|a| target(model, a.instance_type, &a.instance_id));
    EipItem {
        allocation_id: e.id.clone(),
        ip_address: e.ip_address.to_string(),
        name: e.name.clone().unwrap_or_default(),
        description: e.meta.description.clone(),
        status: status_of(e),
        instance_id: assoc.map(|a| a.instance_id.clone()).unwrap_or_default(),
        instance_type: assoc.map(|a| instance_type_name(a.instance_type)).unwrap_or_default(),
        instance_region_id: t.as_ref().map(|t| t.region_id.clone()).unwrap_or_default(),
        private_ip_address: t.as_ref().and_then(|t| t.private_ip).map(|a| a.to_string()).unwrap_or_default(),
        vpc_id: t.as_ref().map(|t| t.vpc_id.clone()).unwrap_or_default(),
        mode: "NAT",
        region_id: e.meta.region_id.clone(),
        bandwidth: e.bandwidth.to_string(),
        eip_bandwidth: e.bandwidth.to_string(),
        internet_charge_type: "PayByBandwidth",
        charge_type: "PostPaid",
        isp: "BGP",
        netmode: "public",
        allocation_time: e.meta.creation_time.clone(),
        expired_time: String::new(),
        deletion_protection: false,
        resource_group_id: e.meta.resource_group_id.clone(),
        service_managed: 0,
        operation_locks: OperationLocks { lock_reason: Vec::new() },
        security_protection_types: SecurityProtectionTypes { security_protection_type: Vec::new() },
        tags: tag::Tags::of(&e.meta.tags),
    }
}

impl Action for DescribeEipAddresses {
    const NAME: &'static str = "DescribeEipAddresses";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Lists the caller's EIPs with what they are associated with; filtered by id, address, name, status, tags; paged.";
    type Response = DescribeEipAddressesResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeEipAddressesResponse, ApiError> {
        d.require_region()?;
        self.check()?;
        let start = creation_start(&self.filter)?;
        let list: Vec<&Eip> = d.model.eips.iter().filter(|e| d.in_view(&e.meta) && self.selects(d, e, start)).collect();
        let (list, page) = paginate(list, self.page_number, self.page_size, MAX_PAGE_SIZE)?;
        let eip_address = list.into_iter().map(|e| item(&d.model, e)).collect();
        Ok(DescribeEipAddressesResponse { eip_addresses: EipAddresses { eip_address }, page })
    }
}

#[cfg(test)]
mod tests {
    use crate::service::tests::Scratch;

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");

    /// `base` and `extra` parameters together.
    fn with<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        base.iter().chain(extra).copied().collect()
    }

    fn allocate(s: &mut Scratch, extra: &[(&str, &str)]) -> (String, String) {
        let mut p = vec![R];
        p.extend_from_slice(extra);
        let e = s.ok("AllocateEipAddress", &p);
        (e["AllocationId"].as_str().unwrap().to_string(), e["EipAddress"].as_str().unwrap().to_string())
    }

    #[test]
    fn pay_as_you_go_billing_parameters_are_checked_and_the_rest_refused() {
        let mut s = Scratch::new();
        let (id, _) = allocate(&mut s, &[("InstanceChargeType", "PostPaid"), ("InternetChargeType", "PayByBandwidth"), ("ISP", "BGP"),
            ("Netmode", "public"), ("AutoPay", "false"), ("Period", "3"), ("PricingCycle", "Month"), ("Bandwidth", "500")]);
        assert_eq!(s.service.model().eips[0].bandwidth, 500);
        let code = |s: &mut Scratch, p: &[(&str, &str)]| {
            let mut all = vec![R];
            all.extend_from_slice(p);
            s.err("AllocateEipAddress", &all).code
        };
        for (name, value) in [("InstanceChargeType", "PrePaid"), ("InternetChargeType", "PayByTraffic"), ("ISP", "BGP_PRO"),
            ("Zone", "cn-hangzhou-a"), ("PublicIpAddressPoolId", "pippool-1"), ("SecurityProtectionTypes.1", "AntiDDoS_Enhanced"),
            ("InstanceId", "eip-old"), ("ActivityId", "1")]
        {
            assert_eq!(code(&mut s, &[(name, value)]), "UnsupportedParameter", "{name}={value}");
        }
        for (name, value) in [("ISP", "Dialup"), ("Netmode", "private"), ("Period", "10"), ("Period", "6"), ("Bandwidth", "501"),
            ("Bandwidth", "0"), ("PricingCycle", "Week"), ("AutoPay", "maybe"), ("IpAddress", "x")]
        {
            let p: &[(&str, &str)] = if value == "6" { &[(name, value), ("PricingCycle", "Year")] } else { &[(name, value)] };
            assert_eq!(code(&mut s, p), "InvalidParameter", "{name}={value}");
        }
        assert_eq!(code(&mut s, &[("Tag.1.Key", "aliyun")]), "InvalidTagKey.Malformed");
        assert_eq!(s.service.model().eips.len(), 1);
        assert_eq!(s.service.model().eips[0].id, id);
    }

    #[test]
    fn tags_at_creation_are_kept_shown_and_filtered_on() {
        let mut s = Scratch::new();
        let (lab, ip) = allocate(&mut s, &[("Tag.1.Key", "env"), ("Tag.1.Value", "lab"), ("Name", "one"), ("Description", "d")]);
        let (prod, _) = allocate(&mut s, &[("Tag.1.Key", "env"), ("Tag.1.Value", "prod")]);
        let d = s.ok("DescribeEipAddresses", &[R, ("Tag.1.Key", "env"), ("Tag.1.Value", "lab")]);
        assert_eq!(d["TotalCount"], 1);
        let e = &d["EipAddresses"]["EipAddress"][0];
        assert_eq!((e["AllocationId"].as_str(), e["IpAddress"].as_str()), (Some(lab.as_str()), Some(ip.as_str())));
        assert_eq!(e["Tags"]["Tag"], serde_json::json!([{"Key": "env", "Value": "lab"}]));
        assert_eq!((e["Name"].as_str(), e["Description"].as_str(), e["Bandwidth"].as_str()), (Some("one"), Some("d"), Some("5")));
        assert_eq!((e["Status"].as_str(), e["ChargeType"].as_str(), e["ISP"].as_str()), (Some("Available"), Some("PostPaid"), Some("BGP")));
        assert_eq!(s.ok("DescribeEipAddresses", &[R, ("Tag.1.Key", "env")])["TotalCount"], 2);
        let both = format!("{lab},{prod}");
        assert_eq!(s.ok("DescribeEipAddresses", &[R, ("AllocationId", &both)])["TotalCount"], 2);
        assert_eq!(s.ok("DescribeEipAddresses", &[R, ("EipAddress", &ip)])["TotalCount"], 1);
        assert_eq!(s.ok("DescribeEipAddresses", &[R, ("EipName", "one")])["TotalCount"], 1);
    }

    #[test]
    fn filters_on_what_no_eip_here_has_find_nothing() {
        let mut s = Scratch::new();
        allocate(&mut s, &[]);
        let count = |s: &mut Scratch, p: (&str, &str)| s.ok("DescribeEipAddresses", &[R, p])["TotalCount"].as_u64().unwrap();
        for p in [("ChargeType", "PostPaid"), ("ISP", "BGP"), ("SecurityProtectionEnabled", "false"), ("ServiceManaged", "false"),
            ("Status", "Available"), ("IncludeReservationData", "false")]
        {
            assert_eq!(count(&mut s, p), 1, "{p:?}");
        }
        let since = |s: &mut Scratch, t: &str| {
            s.ok("DescribeEipAddresses", &[R, ("Filter.1.Key", "CreationStartTime"), ("Filter.1.Value", t)])["TotalCount"].as_u64()
        };
        assert_eq!((since(&mut s, "2000-01-01T00:00Z"), since(&mut s, "2999-01-01T00:00Z")), (Some(1), Some(0)));
        for p in [("ChargeType", "PrePaid"), ("ISP", "BGP_PRO"), ("LockReason", "financial"), ("SecurityProtectionEnabled", "true"),
            ("ServiceManaged", "true"), ("Status", "InUse"), ("ResourceGroupId", "rg-other")]
        {
            assert_eq!(count(&mut s, p), 0, "{p:?}");
        }
        for p in [("IncludeReservationData", "true"), ("PublicIpAddressPoolId", "pippool-1"), ("SegmentInstanceId", "eipsg-1")] {
            assert_eq!(s.err("DescribeEipAddresses", &[R, p]).code, "UnsupportedParameter", "{p:?}");
        }
        let e = s.err("DescribeEipAddresses", &[R, ("Filter.1.Key", "Colour"), ("Filter.1.Value", "x")]);
        assert!(e.message.contains("Filter.1.Key"), "{e:?}");
        let e = s.err("DescribeEipAddresses", &[R, ("Filter.1.Key", "CreationStartTime"), ("Filter.1.Value", "yesterday")]);
        assert!(e.message.contains("Filter.1.Value"), "{e:?}");
        assert_eq!(s.err("DescribeEipAddresses", &[R, ("PageSize", "101")]).code, "InvalidParameter");
        assert_eq!(s.err("DescribeEipAddresses", &[]).code, "MissingParameter");
    }

    #[test]
    fn associate_checks_the_target_and_unassociate_the_association() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let i = s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("PrivateIpAddress", "10.0.1.10")]);
        let inst = i["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
        let (id, _) = allocate(&mut s, &[]);
        let base = [R, ("AllocationId", id.as_str()), ("InstanceId", inst.as_str())];
        assert_eq!(s.err("AssociateEipAddress", &with(&base, &[("Mode", "BINDED")])).code, "UnsupportedParameter");
        assert_eq!(s.err("AssociateEipAddress", &with(&base, &[("InstanceRegionId", "cn-beijing")])).code, "UnsupportedParameter");
        assert_eq!(s.err("AssociateEipAddress", &with(&base, &[("VpcId", "vpc-other")])).code, "InvalidParameter");
        assert_eq!(s.err("AssociateEipAddress", &with(&base, &[("PrivateIpAddress", "10.0.1.11")])).code, "InvalidPrivateIpAddress");
        assert_eq!(s.err("AssociateEipAddress", &with(&base, &[("InstanceType", "SlbInstance")])).code, "InvalidInstanceType.ValueNotSupported");
        assert!(s.service.model().eips[0].association.is_none());
        s.ok("AssociateEipAddress", &with(&base, &[("Mode", "NAT"), ("InstanceRegionId", "cn-hangzhou"), ("VpcId", &vpc),
            ("PrivateIpAddress", "10.0.1.10"), ("InstanceType", "EcsInstance")]));
        let d = s.ok("DescribeEipAddresses", &[R, ("AssociatedInstanceId", &inst), ("AssociatedInstanceType", "EcsInstance")]);
        let e = &d["EipAddresses"]["EipAddress"][0];
        assert_eq!((e["Status"].as_str(), e["VpcId"].as_str(), e["PrivateIpAddress"].as_str()), (Some("InUse"), Some(vpc.as_str()), Some("10.0.1.10")));
        assert_eq!(e["InstanceRegionId"], "cn-hangzhou");
        assert_eq!(s.err("ReleaseEipAddress", &[R, ("AllocationId", &id)]).code, "IncorrectEipStatus");
        let base = [R, ("AllocationId", id.as_str())];
        assert_eq!(s.err("UnassociateEipAddress", &with(&base, &[("InstanceType", "Nat")])).code, "InvalidParameter");
        assert_eq!(s.err("UnassociateEipAddress", &with(&base, &[("PrivateIpAddress", "10.0.1.11")])).code, "InvalidPrivateIpAddress");
        assert_eq!(s.err("UnassociateEipAddress", &with(&base, &[("InstanceId", "i-other")])).code, "InvalidInstanceId.NotFound");
        s.ok("UnassociateEipAddress", &with(&base, &[("InstanceId", &inst), ("InstanceType", "EcsInstance"), ("PrivateIpAddress", "10.0.1.10")]));
        assert_eq!(s.err("UnassociateEipAddress", &with(&base, &[])).code, "IncorrectEipStatus");
        s.ok("ReleaseEipAddress", &[R, ("AllocationId", &id)]);
        assert!(s.service.model().eips.is_empty());
    }
}
