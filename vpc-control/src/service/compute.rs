//! The compute side (ECS API 2014-05-26): RunInstances, DeleteInstance,
//! DescribeInstances, ModifyNetworkInterfaceAttribute,
//! DescribeNetworkInterfaces. An instance is a network namespace with one
//! ENI (VPC-2, VPC-4); image and type are recorded, nothing boots.
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::{Draft, page, with};
use crate::{
    api::{ApiError, new_id, params::Params},
    model::{self, Instance},
    topology,
};

/// Parameters RunInstances accepts that mean nothing for a namespace.
const IGNORED_RUN_PARAMS: &[&str] = &[
    "ImageId", "InstanceType", "InstanceChargeType", "InternetChargeType", "InternetMaxBandwidthIn", "IoOptimized", "Password",
    "PasswordInherit", "KeyPairName", "HostName", "SystemDisk.", "DataDisk.", "SecurityEnhancementStrategy",
    "SpotStrategy", "CreditSpecification", "DeletionProtection", "AutoReleaseTime",
];

/// RunInstances: Amount instances (1..100) in VSwitchId, each with one ENI;
/// PrivateIpAddress (Amount 1 only) or the lowest free address.
pub fn run_instances(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(IGNORED_RUN_PARAMS);
    let vsw_id = p.required("VSwitchId")?;
    let amount = p.int_in("Amount", 1..=100, 1)? as usize;
    let min_amount = p.int_in("MinAmount", 1..=100, amount as u64)? as usize;
    if min_amount > amount {
        return Err(ApiError::invalid("MinAmount", "it is larger than Amount"));
    }
    let address: Option<Ipv4Addr> = p.parse("PrivateIpAddress")?;
    if address.is_some() && amount > 1 {
        return Err(ApiError::bad("InvalidParameter.Conflict", "PrivateIpAddress can only be given with Amount 1."));
    }
    let bandwidth_out = p.int_in("InternetMaxBandwidthOut", 0..=100, 0)? as u32;
    let mut groups = p.list("SecurityGroupIds")?;
    groups.extend(p.str("SecurityGroupId").map(str::to_string));
    for g in &groups {
        if !d.model.security_groups.iter().any(|x| x.id == *g && d.caller.owns(&x.meta.owner_id)) {
            return Err(ApiError::not_found("InvalidSecurityGroupId.NotFound", format!("The security group {g} does not exist.")));
        }
    }
    let vsw = &d.model.vswitches[d.vswitch_index(vsw_id)?];
    if let Some(zone) = p.str("ZoneId")
        && zone != vsw.zone_id
    {
        return Err(ApiError::bad("InvalidVSwitchId.ZoneMismatch", format!("The vSwitch {vsw_id} is in zone {}, not {zone}.", vsw.zone_id)));
    }
    let name = p.str("InstanceName");
    let unique_suffix = p.bool("UniqueSuffix")?.unwrap_or(false);
    let image_id = p.get("ImageId").unwrap_or_default().to_string();
    let instance_type = p.get("InstanceType").unwrap_or_default().to_string();
    let meta = d.meta(p);
    let first_new = d.model.instances.len();
    for n in 1..=amount {
        let id = new_id("i");
        let name = match name {
            Some(base) if unique_suffix && amount > 1 => Some(format!("{base}{n:03}")),
            Some(base) => Some(base.to_string()),
            None => Some(id.clone()),
        };
        d.model.instances.push(Instance {
            id,
            name,
            vswitch_id: vsw_id.to_string(),
            private_ip_address: address,
            source_dest_check: true,
            security_group_ids: groups.clone(),
            image_id: image_id.clone(),
            instance_type: instance_type.clone(),
            internet_max_bandwidth_out: bandwidth_out,
            public_ip_address: None,
            meta: meta.clone(),
        });
        // A static public IP with the instance (released with it).
        if bandwidth_out > 0 {
            let public = d.model.free_public_address().ok_or_else(|| {
                ApiError::bad("QuotaExceeded.PublicIpAddress", "The public address pool has no free address.")
            })?;
            if let Some(last) = d.model.instances.last_mut() {
                last.public_ip_address = Some(public);
            }
        }
    }
    // Fix each new instance's address now: it must not move when another
    // instance is deleted later.
    let allocated = model::instance_addresses(&d.model);
    for (inst, (_, addr)) in d.model.instances.iter_mut().zip(allocated).skip(first_new) {
        inst.private_ip_address = Some(addr.ok_or_else(|| {
            ApiError::bad("QuotaExceeded.PrivateIpAddress", format!("The vSwitch {vsw_id} has no free private IP address."))
        })?);
    }
    let ids: Vec<&str> = d.model.instances[first_new..].iter().map(|i| i.id.as_str()).collect();
    Ok(json!({ "InstanceIdSets": { "InstanceIdSet": ids }, "OrderId": "", "TradePrice": 0.0 }))
}

/// DeleteInstance: refused while a route entry uses it as next hop.
pub fn delete_instance(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    let id = p.required("InstanceId")?;
    p.accept(&["Force", "ForceStop", "TerminateSubscription", "RegionId"]);
    let i = d.instance_index(id)?;
    let eni = d.model.instances[i].eni_id();
    for t in &d.model.route_tables {
        if let Some(e) = t.route_entries.iter().find(|e| e.next_hop_id == id || e.next_hop_id == eni) {
            return Err(ApiError::bad(
                "DependencyViolation.RouteEntry",
                format!("The instance {id} is the next hop of route entry {} in {}: delete the entry first.", e.destination_cidr_block, t.id),
            ));
        }
    }
    // Its EIPs are released from it (they stay allocated).
    for e in &mut d.model.eips {
        if e.association.as_ref().is_some_and(|a| a.instance_id == id || a.instance_id == eni) {
            e.association = None;
        }
    }
    d.model.instances.remove(i);
    Ok(json!({}))
}

/// The instances the caller may see, with their vSwitch, filtered by the
/// VpcId, VSwitchId and SecurityGroupId parameters both Describe actions take.
fn located<'m>(d: &'m Draft, p: &Params) -> Vec<(&'m Instance, &'m model::VSwitch)> {
    let vpc_id = p.str("VpcId");
    let vsw_id = p.str("VSwitchId");
    let group = p.str("SecurityGroupId");
    d.model
        .instances
        .iter()
        .filter(|i| d.visible(&i.meta, p))
        .filter_map(|i| Some((i, d.model.vswitch(&i.vswitch_id)?)))
        .filter(|(i, v)| {
            vpc_id.is_none_or(|x| v.vpc_id == x)
                && vsw_id.is_none_or(|x| v.id == x)
                && group.is_none_or(|g| i.security_group_ids.iter().any(|x| x == g))
        })
        .collect()
}

fn address(i: &Instance) -> String {
    i.private_ip_address.map(|a| a.to_string()).unwrap_or_default()
}

fn mac(i: &Instance) -> String {
    topology::format_mac(&topology::eni_mac(&i.eni_id()))
}

/// DescribeInstances: filters InstanceIds (JSON array), VpcId, VSwitchId,
/// ZoneId, InstanceName, PrivateIpAddresses (JSON array), Status.
pub fn describe_instances(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let ids = p.list_or_json("InstanceIds")?;
    let addrs = p.list_or_json("PrivateIpAddresses")?;
    let zone = p.str("ZoneId");
    let name = p.str("InstanceName");
    let status = p.str("Status");
    let list: Vec<(&Instance, &model::VSwitch)> = located(d, p)
        .into_iter()
        .filter(|(i, v)| {
            (ids.is_empty() || ids.contains(&i.id))
                && (addrs.is_empty() || addrs.contains(&address(i)))
                && zone.is_none_or(|x| v.zone_id == x)
                && name.is_none_or(|x| name_matches(x, i.name.as_deref().unwrap_or_default()))
                && status.is_none_or(|x| x == "Running")
        })
        .collect();
    let (list, paging) = page(p, list, 100)?;
    let items: Vec<Value> = list
        .into_iter()
        .map(|(i, v)| {
            json!({
                "InstanceId": i.id,
                "InstanceName": i.name.clone().unwrap_or_default(),
                "HostName": i.id,
                "Status": "Running",
                "RegionId": i.meta.region_id,
                "ZoneId": v.zone_id,
                "ImageId": i.image_id,
                "InstanceType": i.instance_type,
                "InstanceNetworkType": "vpc",
                "Description": i.meta.description,
                "CreationTime": i.meta.creation_time,
                "StartTime": i.meta.creation_time,
                "ResourceGroupId": "",
                "VpcAttributes": {
                    "VpcId": v.vpc_id,
                    "VSwitchId": v.id,
                    "PrivateIpAddress": { "IpAddress": [address(i)] },
                    "NatIpAddress": "",
                },
                "NetworkInterfaces": { "NetworkInterface": [{
                    "NetworkInterfaceId": i.eni_id(),
                    "MacAddress": mac(i),
                    "PrimaryIpAddress": address(i),
                    "Type": "Primary",
                    "PrivateIpSets": { "PrivateIpSet": [{ "Primary": true, "PrivateIpAddress": address(i) }] },
                }] },
                "SecurityGroupIds": { "SecurityGroupId": i.security_group_ids },
                "PublicIpAddress": { "IpAddress": i.public_ip_address.map(|a| vec![a.to_string()]).unwrap_or_default() },
                "EipAddress": eip_of(d, i),
                "InternetMaxBandwidthOut": i.internet_max_bandwidth_out,
                "InternetChargeType": "PayByTraffic",
                "InnerIpAddress": { "IpAddress": [] },
                "Tags": { "Tag": [] },
            })
        })
        .collect();
    Ok(with(json!({ "Instances": { "Instance": items }, "NextToken": "" }), paging))
}

/// The EipAddress block of DescribeInstances: the EIP associated with the
/// instance or its ENI (empty fields if none).
fn eip_of(d: &Draft, i: &Instance) -> Value {
    let eni = i.eni_id();
    match d.model.eips.iter().find(|e| e.association.as_ref().is_some_and(|a| a.instance_id == i.id || a.instance_id == eni)) {
        Some(e) => json!({
            "AllocationId": e.id, "IpAddress": e.ip_address.to_string(), "Bandwidth": e.bandwidth,
            "InternetChargeType": "PayByBandwidth", "IsSupportUnassociate": true,
        }),
        None => json!({ "AllocationId": "", "IpAddress": "", "Bandwidth": 0, "InternetChargeType": "", "IsSupportUnassociate": true }),
    }
}

/// InstanceName filters accept `*` as a wildcard, as the cloud's do.
fn name_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn instance_by_eni(d: &Draft, eni: &str) -> Result<usize, ApiError> {
    d.model
        .instances
        .iter()
        .position(|i| i.eni_id() == eni && d.caller.owns(&i.meta.owner_id))
        .ok_or_else(|| {
            ApiError::not_found("InvalidEniId.NotFound", format!("The specified network interface {eni} does not exist."))
        })
}

/// ModifyNetworkInterfaceAttribute: SourceDestCheck (off for a firewall or
/// router appliance used as a route next hop, RT-3).
pub fn modify_eni(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let eni = p.required("NetworkInterfaceId")?;
    let i = instance_by_eni(d, eni)?;
    let check = p.bool("SourceDestCheck")?;
    if let Some(check) = check {
        d.model.instances[i].source_dest_check = check;
    }
    // SecurityGroupId.N replaces the ENI's groups.
    let groups = p.list("SecurityGroupId")?;
    if !groups.is_empty() {
        for g in &groups {
            if !d.model.security_groups.iter().any(|x| x.id == *g && d.caller.owns(&x.meta.owner_id)) {
                return Err(ApiError::not_found("InvalidSecurityGroupId.NotFound", format!("The security group {g} does not exist.")));
            }
        }
        d.model.instances[i].security_group_ids = groups;
    }
    Ok(json!({}))
}

/// DescribeNetworkInterfaces: filters NetworkInterfaceId.N, InstanceId,
/// VpcId, VSwitchId, PrimaryIpAddress, Type.
pub fn describe_enis(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let ids = p.list("NetworkInterfaceId")?;
    let instance = p.str("InstanceId");
    let primary = p.str("PrimaryIpAddress");
    let ty = p.str("Type");
    let list: Vec<(&Instance, &model::VSwitch)> = located(d, p)
        .into_iter()
        .filter(|(i, _)| {
            (ids.is_empty() || ids.contains(&i.eni_id()))
                && instance.is_none_or(|x| i.id == x)
                && primary.is_none_or(|x| address(i) == x)
                && ty.is_none_or(|x| x == "Primary")
        })
        .collect();
    let (list, paging) = page(p, list, 100)?;
    let items: Vec<Value> = list
        .into_iter()
        .map(|(i, v)| {
            json!({
                "NetworkInterfaceId": i.eni_id(),
                "NetworkInterfaceName": "",
                "InstanceId": i.id,
                "VpcId": v.vpc_id,
                "VSwitchId": v.id,
                "ZoneId": v.zone_id,
                "PrivateIpAddress": address(i),
                "MacAddress": mac(i),
                "Type": "Primary",
                "Status": "InUse",
                "SourceDestCheck": i.source_dest_check,
                "CreationTime": i.meta.creation_time,
                "OwnerId": i.meta.owner_id,
                "Description": "",
                "ResourceGroupId": "",
                "DeleteOnRelease": true,
                "Attachment": { "InstanceId": i.id, "DeviceIndex": 0 },
                "PrivateIpSets": { "PrivateIpSet": [{ "Primary": true, "PrivateIpAddress": address(i) }] },
                "SecurityGroupIds": { "SecurityGroupId": i.security_group_ids },
                "Tags": { "Tag": [] },
            })
        })
        .collect();
    Ok(with(json!({ "NetworkInterfaceSets": { "NetworkInterfaceSet": items }, "NextToken": "" }), paging))
}

#[cfg(test)]
mod tests {
    use crate::service::tests::Scratch;

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");

    #[test]
    fn vpc_2_run_instances_allocates_fixed_addresses() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let r = s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("Amount", "3"), ("InstanceName", "web"), ("UniqueSuffix", "True")]);
        let ids: Vec<String> =
            r["InstanceIdSets"]["InstanceIdSet"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        assert_eq!(ids.len(), 3);
        s.ok("DeleteInstance", &[("InstanceId", &ids[0]), ("Force", "True")]);
        let d = s.ok("DescribeInstances", &[R, ("VpcId", &vpc), ("InstanceName", "web*")]);
        let addrs: Vec<&str> = d["Instances"]["Instance"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["VpcAttributes"]["PrivateIpAddress"]["IpAddress"][0].as_str().unwrap())
            .collect();
        assert_eq!(addrs, ["10.0.1.2", "10.0.1.3"], "addresses stay put after a delete");
        let ids_json = format!("[\"{}\"]", ids[2]);
        let d = s.ok("DescribeInstances", &[R, ("InstanceIds", &ids_json)]);
        assert_eq!(d["Instances"]["Instance"][0]["InstanceName"], "web003");
    }

    #[test]
    fn vpc_2_taken_or_outside_addresses_are_refused() {
        let mut s = Scratch::new();
        let (_, vsw) = s.vpc_with_vswitch();
        s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("PrivateIpAddress", "10.0.1.10")]);
        let e = s.err("RunInstances", &[R, ("VSwitchId", &vsw), ("PrivateIpAddress", "10.0.1.10")]);
        assert_eq!(e.code, "InvalidPrivateIpAddress.Duplicated");
        let e = s.err("RunInstances", &[R, ("VSwitchId", &vsw), ("PrivateIpAddress", "10.0.2.10")]);
        assert_eq!(e.code, "InvalidPrivateIpAddress");
        let e = s.err("RunInstances", &[R, ("VSwitchId", &vsw), ("PrivateIpAddress", "10.0.1.10"), ("Amount", "2")]);
        assert_eq!(e.code, "InvalidParameter.Conflict");
        assert_eq!(s.service.model().instances.len(), 1);
    }

    #[test]
    fn rt_3_source_dest_check_and_next_hop_dependency() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let r = s.ok("RunInstances", &[R, ("VSwitchId", &vsw)]);
        let id = r["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
        let eni = s.ok("DescribeNetworkInterfaces", &[R, ("InstanceId", &id)]);
        let eni = eni["NetworkInterfaceSets"]["NetworkInterfaceSet"][0]["NetworkInterfaceId"].as_str().unwrap().to_string();
        s.ok("ModifyNetworkInterfaceAttribute", &[R, ("NetworkInterfaceId", &eni), ("SourceDestCheck", "False")]);
        assert!(!s.service.model().instances[0].source_dest_check);
        let t = s.ok("CreateRouteTable", &[R, ("VpcId", &vpc)]);
        let t = t["RouteTableId"].as_str().unwrap();
        s.ok("CreateRouteEntry", &[("RouteTableId", t), ("DestinationCidrBlock", "0.0.0.0/0"), ("NextHopType", "NetworkInterface"), ("NextHopId", &eni)]);
        assert_eq!(s.err("DeleteInstance", &[("InstanceId", &id)]).code, "DependencyViolation.RouteEntry");
    }

    #[test]
    fn name_wildcards() {
        assert!(super::name_matches("web*", "web001"));
        assert!(super::name_matches("*b0*1", "web001"));
        assert!(!super::name_matches("app*", "web001"));
        assert!(super::name_matches("web", "web"));
    }
}
