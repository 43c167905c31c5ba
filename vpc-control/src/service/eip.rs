//! Elastic IP addresses (VPC API 2016-04-28): AllocateEipAddress,
//! AssociateEipAddress, UnassociateEipAddress, ReleaseEipAddress,
//! DescribeEipAddresses. An EIP is an address of the lab's public pool; the
//! datapath translates it 1:1 to its instance or ENI, or uses it as an SNAT
//! address of a NAT gateway (IGW-3).
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::{Draft, page, with};
use crate::{
    api::{ApiError, new_id, params::Params},
    model::{Eip, EipAssociation, EipInstanceType},
};

/// Parameters of AllocateEipAddress that mean nothing on one host.
const IGNORED_ALLOCATE_PARAMS: &[&str] = &[
    "InternetChargeType", "InstanceChargeType", "ISP", "Netmode", "AutoPay", "Period", "PricingCycle", "ActivityId",
    "PublicIpAddressPoolId", "SecurityProtectionTypes.", "Tag.", "Zone",
];

fn eip_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .eips
        .iter()
        .position(|e| e.id == id && d.caller.owns(&e.meta.owner_id))
        .ok_or_else(|| ApiError::not_found("InvalidAllocationId.NotFound", format!("The specified EIP {id} does not exist.")))
}

fn instance_type_name(t: EipInstanceType) -> &'static str {
    match t {
        EipInstanceType::EcsInstance => "EcsInstance",
        EipInstanceType::NetworkInterface => "NetworkInterface",
        EipInstanceType::Nat => "Nat",
    }
}

/// AllocateEipAddress: the lowest free address of the pool, or IpAddress.
pub fn allocate(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(IGNORED_ALLOCATE_PARAMS);
    let bandwidth = p.int_in("Bandwidth", 1..=1000, 5)? as u32;
    let wanted: Option<Ipv4Addr> = p.parse("IpAddress")?;
    let pool = d.model.router.internet.public_pool;
    let ip_address = match wanted {
        Some(a) => {
            if !pool.contains(&a) {
                return Err(ApiError::bad("InvalidIpAddress", format!("The address {a} is not in the public address pool {pool}.")));
            }
            if d.model.public_addresses().iter().any(|(x, _)| *x == a) {
                return Err(ApiError::bad("InvalidIpAddress.Duplicated", format!("The address {a} is already in use.")));
            }
            a
        }
        None => d
            .model
            .free_public_address()
            .ok_or_else(|| ApiError::bad("QuotaExceeded.Eip", format!("The public address pool {pool} has no free address.")))?,
    };
    let eip = Eip {
        id: new_id("eip"),
        ip_address,
        name: p.str("Name").map(str::to_string),
        bandwidth,
        association: None,
        meta: d.meta(p),
    };
    let body = json!({ "AllocationId": eip.id, "EipAddress": ip_address.to_string(), "OrderId": 0, "ResourceGroupId": "" });
    d.model.eips.push(eip);
    Ok(body)
}

/// AssociateEipAddress: InstanceId with InstanceType EcsInstance (default),
/// NetworkInterface or Nat.
pub fn associate(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.accept(&["Mode", "InstanceRegionId"]);
    let id = p.required("AllocationId")?;
    let instance_id = p.required("InstanceId")?;
    let instance_type = match p.str("InstanceType").unwrap_or("EcsInstance") {
        "EcsInstance" => EipInstanceType::EcsInstance,
        "NetworkInterface" => EipInstanceType::NetworkInterface,
        "Nat" => EipInstanceType::Nat,
        other => {
            return Err(ApiError::bad(
                "InvalidInstanceType.ValueNotSupported",
                format!("InstanceType {other} is not supported (EcsInstance, NetworkInterface and Nat are)."),
            ));
        }
    };
    let i = eip_index(d, id)?;
    let owned = match instance_type {
        EipInstanceType::EcsInstance => d.model.instances.iter().find(|x| x.id == instance_id).map(|x| &x.meta.owner_id),
        EipInstanceType::NetworkInterface => {
            d.model.instances.iter().find(|x| x.eni_id() == instance_id).map(|x| &x.meta.owner_id)
        }
        EipInstanceType::Nat => d.model.nat_gateway(instance_id).map(|x| &x.meta.owner_id),
    };
    if owned.is_none_or(|o| !d.caller.owns(o)) {
        return Err(ApiError::not_found("InvalidInstanceId.NotFound", format!("The instance {instance_id} does not exist.")));
    }
    if let Some(private) = p.str("PrivateIpAddress") {
        let matches = d.model.instances.iter().any(|x| {
            (x.id == instance_id || x.eni_id() == instance_id) && x.private_ip_address.is_some_and(|a| a.to_string() == private)
        });
        if !matches {
            return Err(ApiError::bad("InvalidPrivateIpAddress", format!("{private} is not the private address of {instance_id}.")));
        }
    }
    let eip = &mut d.model.eips[i];
    match &eip.association {
        Some(a) if a.instance_id == instance_id => return Ok(json!({})),
        Some(a) => {
            return Err(ApiError::bad(
                "IncorrectEipStatus",
                format!("The EIP {id} is associated with {}: unassociate it first.", a.instance_id),
            ));
        }
        None => {}
    }
    eip.association = Some(EipAssociation { instance_type, instance_id: instance_id.to_string() });
    // A second public address for one ENI is refused by validation.
    Ok(json!({}))
}

/// UnassociateEipAddress: refused while an SNAT entry uses the address,
/// unless Force.
pub fn unassociate(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.accept(&["InstanceType", "PrivateIpAddress"]);
    let id = p.required("AllocationId")?;
    let instance_id = p.str("InstanceId");
    let force = p.bool("Force")?.unwrap_or(false);
    let i = eip_index(d, id)?;
    let eip = &d.model.eips[i];
    let Some(a) = eip.association.clone() else {
        return Err(ApiError::bad("IncorrectEipStatus", format!("The EIP {id} is not associated.")));
    };
    if instance_id.is_some_and(|x| x != a.instance_id) {
        return Err(ApiError::bad("InvalidInstanceId.NotFound", format!("The EIP {id} is associated with {}, not {}.", a.instance_id, instance_id.unwrap_or_default())));
    }
    let address = eip.ip_address;
    if a.instance_type == EipInstanceType::Nat
        && let Some(n) = d.model.nat_gateways.iter_mut().find(|n| n.id == a.instance_id)
    {
        let used: Vec<String> = n.snat_entries.iter().filter(|e| e.snat_ip == address).map(|e| e.id.clone()).collect();
        if !used.is_empty() && !force {
            return Err(ApiError::bad(
                "DependencyViolation.SnatEntry",
                format!("The EIP {address} is the SNAT IP of {}: delete those entries first, or pass Force.", used.join(", ")),
            ));
        }
        n.snat_entries.retain(|e| e.snat_ip != address);
    }
    d.model.eips[i].association = None;
    Ok(json!({}))
}

/// ReleaseEipAddress: only an unassociated EIP.
pub fn release(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    let id = p.required("AllocationId")?;
    let i = eip_index(d, id)?;
    if let Some(a) = &d.model.eips[i].association {
        return Err(ApiError::bad("IncorrectEipStatus", format!("The EIP {id} is associated with {}: unassociate it first.", a.instance_id)));
    }
    d.model.eips.remove(i);
    Ok(json!({}))
}

/// DescribeEipAddresses: filters AllocationId, EipAddress, EipName,
/// AssociatedInstanceId, AssociatedInstanceType, Status.
pub fn describe(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(&["ChargeType", "ISP", "LockReason", "PublicIpAddressPoolId", "SegmentInstanceId", "IncludeReservationData",
        "SecurityProtectionEnabled", "ServiceManaged", "Tag.", "Filter."]);
    let id = p.str("AllocationId");
    let address = p.str("EipAddress");
    let name = p.str("EipName");
    let assoc_id = p.str("AssociatedInstanceId");
    let assoc_type = p.str("AssociatedInstanceType");
    let status = p.str("Status");
    let status_of = |e: &Eip| if e.association.is_some() { "InUse" } else { "Available" };
    let list: Vec<&Eip> = d
        .model
        .eips
        .iter()
        .filter(|e| d.visible(&e.meta, p))
        .filter(|e| {
            id.is_none_or(|x| e.id == x)
                && address.is_none_or(|x| e.ip_address.to_string() == x)
                && name.is_none_or(|x| e.name.as_deref() == Some(x))
                && assoc_id.is_none_or(|x| e.association.as_ref().is_some_and(|a| a.instance_id == x))
                && assoc_type.is_none_or(|x| e.association.as_ref().is_some_and(|a| instance_type_name(a.instance_type) == x))
                && status.is_none_or(|x| status_of(e) == x)
        })
        .collect();
    let (list, paging) = page(p, list, 100)?;
    let items: Vec<Value> = list
        .into_iter()
        .map(|e| {
            let (instance_id, instance_type, private, vpc) = match &e.association {
                Some(a) => {
                    let inst = d.model.instances.iter().find(|i| i.id == a.instance_id || i.eni_id() == a.instance_id);
                    let vpc = match a.instance_type {
                        EipInstanceType::Nat => d.model.nat_gateway(&a.instance_id).map(|n| n.vpc_id.clone()),
                        _ => inst.and_then(|i| d.model.vswitch(&i.vswitch_id)).map(|v| v.vpc_id.clone()),
                    };
                    (
                        a.instance_id.clone(),
                        instance_type_name(a.instance_type),
                        inst.and_then(|i| i.private_ip_address).map(|x| x.to_string()).unwrap_or_default(),
                        vpc.unwrap_or_default(),
                    )
                }
                None => (String::new(), "", String::new(), String::new()),
            };
            json!({
                "AllocationId": e.id,
                "IpAddress": e.ip_address.to_string(),
                "Name": e.name.clone().unwrap_or_default(),
                "Description": e.meta.description,
                "Status": status_of(e),
                "InstanceId": instance_id,
                "InstanceType": instance_type,
                "PrivateIpAddress": private,
                "VpcId": vpc,
                "Mode": "NAT",
                "RegionId": e.meta.region_id,
                "Bandwidth": e.bandwidth.to_string(),
                "EipBandwidth": e.bandwidth.to_string(),
                "InternetChargeType": "PayByBandwidth",
                "ChargeType": "PostPaid",
                "ISP": "BGP",
                "Netmode": "public",
                "AllocationTime": e.meta.creation_time,
                "ExpiredTime": "",
                "DeletionProtection": false,
                "ResourceGroupId": "",
                "OperationLocks": { "LockReason": [] },
                "Tags": { "Tag": [] },
            })
        })
        .collect();
    Ok(with(json!({ "EipAddresses": { "EipAddress": items } }), paging))
}
