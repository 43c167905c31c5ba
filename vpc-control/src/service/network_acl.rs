//! Network ACLs (VPC API 2016-04-28): CreateNetworkAcl, DeleteNetworkAcl,
//! UpdateNetworkAclEntries, AssociateNetworkAcl, UnassociateNetworkAcl,
//! DescribeNetworkAcls, DescribeNetworkAclAttributes (ACL-1, ACL-2).
use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::{Draft, page};
use crate::{
    api::{ApiError, new_id, params::Params},
    model::{IpProtocol, NetworkAcl, NetworkAclEntry, RulePolicy},
};

/// Most custom entries per direction, as the cloud's.
const MAX_ENTRIES: usize = 100;

fn acl_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .network_acls
        .iter()
        .position(|a| a.id == id && d.caller.owns(&a.meta.owner_id))
        .ok_or_else(|| ApiError::not_found("InvalidNetworkAclId.NotFound", format!("The specified network ACL {id} does not exist.")))
}

/// CreateNetworkAcl: VpcId, NetworkAclName, Description.
pub fn create(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let vpc_id = p.required("VpcId")?;
    let vpc = &d.model.vpcs[d.vpc_index(vpc_id)?];
    let mut meta = d.meta(p);
    meta.region_id = vpc.meta.region_id.clone();
    let acl = NetworkAcl {
        id: new_id("nacl"),
        vpc_id: vpc_id.to_string(),
        name: p.str("NetworkAclName").map(str::to_string),
        ingress: Vec::new(),
        egress: Vec::new(),
        meta,
    };
    let body = json!({ "NetworkAclId": acl.id, "NetworkAclAttribute": attribute(d, &acl) });
    d.model.network_acls.push(acl);
    Ok(body)
}

/// DeleteNetworkAcl: refused while a vSwitch is associated.
pub fn delete(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("NetworkAclId")?;
    let i = acl_index(d, id)?;
    if let Some(v) = d.model.vswitches.iter().find(|v| v.network_acl_id.as_deref() == Some(id)) {
        return Err(ApiError::bad("DependencyViolation.NetworkAcl", format!("The network ACL {id} is associated with vSwitch {}.", v.id)));
    }
    d.model.network_acls.remove(i);
    Ok(json!({}))
}

fn entries(p: &Params, list: &str, cidr_field: &str) -> Result<Vec<NetworkAclEntry>, ApiError> {
    let mut out = Vec::new();
    for n in 1.. {
        let prefix = format!("{list}.{n}.");
        if !p.has_prefix(&prefix) {
            break;
        }
        let field = |f: &str| format!("{prefix}{f}");
        p.accept(&[&field("NetworkAclEntryId")]);
        if let Some(t) = p.str(&field("EntryType"))
            && !t.eq_ignore_ascii_case("custom")
        {
            return Err(ApiError::invalid(&field("EntryType"), "only custom entries can be set"));
        }
        if let Some(v) = p.str(&field("IpVersion"))
            && !v.eq_ignore_ascii_case("ipv4")
        {
            return Err(ApiError::bad("UnsupportedFeature.IPv6", "IPv6 entries are not supported yet."));
        }
        let proto_name = p.required(&field("Protocol"))?;
        let protocol = match proto_name.to_ascii_lowercase().as_str() {
            "tcp" => IpProtocol::Tcp,
            "udp" => IpProtocol::Udp,
            "icmp" => IpProtocol::Icmp,
            "all" => IpProtocol::All,
            _ => return Err(ApiError::bad("IllegalParam.Protocol", format!("Protocol {proto_name:?} is not supported here (tcp, udp, icmp, all)."))),
        };
        let port = p.required(&field("Port"))?;
        let bad_port = || ApiError::bad("IllegalParam.Port", format!("Port {port:?} is not valid for {proto_name}."));
        let (a, b) = port.split_once('/').ok_or_else(bad_port)?;
        let port_range = match protocol {
            IpProtocol::Tcp | IpProtocol::Udp => {
                let a: u16 = a.trim().parse().map_err(|_| bad_port())?;
                let b: u16 = b.trim().parse().map_err(|_| bad_port())?;
                if a == 0 || a > b {
                    return Err(bad_port());
                }
                (a, b)
            }
            _ if a.trim() == "-1" && b.trim() == "-1" => (1, 65535),
            _ => return Err(bad_port()),
        };
        let cidr_text = p.required(&field(cidr_field))?;
        let cidr: Ipv4Net = cidr_text
            .parse()
            .map_err(|_| ApiError::bad("IllegalParam.CidrIp", format!("{} {cidr_text:?} is not an IPv4 CIDR block.", field(cidr_field))))?;
        let policy = match p.required(&field("Policy"))?.to_ascii_lowercase().as_str() {
            "accept" => RulePolicy::Accept,
            "drop" => RulePolicy::Drop,
            other => return Err(ApiError::invalid(&field("Policy"), format!("{other:?} is not accept or drop"))),
        };
        out.push(NetworkAclEntry {
            id: new_id("nae"),
            name: p.get(&field("NetworkAclEntryName")).unwrap_or_default().to_string(),
            policy,
            protocol,
            cidr: cidr.trunc(),
            port_range,
            description: p.get(&field("Description")).unwrap_or_default().to_string(),
        });
    }
    if out.len() > MAX_ENTRIES {
        return Err(ApiError::bad("QuotaExceeded.NetworkAclEntry", format!("At most {MAX_ENTRIES} entries per direction.")));
    }
    Ok(out)
}

/// UpdateNetworkAclEntries: replaces the inbound entries (with
/// UpdateIngressAclEntries=true) and/or the outbound ones, in order.
pub fn update_entries(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("NetworkAclId")?;
    let i = acl_index(d, id)?;
    let ingress = entries(p, "IngressAclEntries", "SourceCidrIp")?;
    let egress = entries(p, "EgressAclEntries", "DestinationCidrIp")?;
    let acl = &mut d.model.network_acls[i];
    if p.bool("UpdateIngressAclEntries")?.unwrap_or(false) {
        acl.ingress = ingress;
    } else if !ingress.is_empty() {
        return Err(ApiError::invalid("UpdateIngressAclEntries", "set it to true to replace the inbound entries"));
    }
    if p.bool("UpdateEgressAclEntries")?.unwrap_or(false) {
        acl.egress = egress;
    } else if !egress.is_empty() {
        return Err(ApiError::invalid("UpdateEgressAclEntries", "set it to true to replace the outbound entries"));
    }
    Ok(json!({}))
}

fn resources(p: &Params) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for n in 1.. {
        let prefix = format!("Resource.{n}.");
        if !p.has_prefix(&prefix) {
            break;
        }
        let ty = p.str(&format!("{prefix}ResourceType")).unwrap_or("VSwitch");
        if ty != "VSwitch" {
            return Err(ApiError::invalid(&format!("{prefix}ResourceType"), "only VSwitch"));
        }
        out.push(p.required(&format!("{prefix}ResourceId"))?.to_string());
    }
    if out.is_empty() {
        return Err(ApiError::missing("Resource.1.ResourceId"));
    }
    Ok(out)
}

/// AssociateNetworkAcl: Resource.N.ResourceId vSwitches take the ACL.
pub fn associate(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("NetworkAclId")?;
    acl_index(d, id)?;
    for vsw in resources(p)? {
        let i = d.vswitch_index(&vsw)?;
        let v = &mut d.model.vswitches[i];
        match v.network_acl_id.as_deref() {
            Some(current) if current != id => {
                return Err(ApiError::bad("OperationConflict", format!("The vSwitch {vsw} is already associated with network ACL {current}.")));
            }
            // A network ACL of another VPC is refused by validation.
            _ => v.network_acl_id = Some(id.to_string()),
        }
    }
    Ok(json!({}))
}

/// UnassociateNetworkAcl.
pub fn unassociate(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("NetworkAclId")?;
    acl_index(d, id)?;
    for vsw in resources(p)? {
        let i = d.vswitch_index(&vsw)?;
        let v = &mut d.model.vswitches[i];
        if v.network_acl_id.as_deref() != Some(id) {
            return Err(ApiError::bad("InvalidAssociation.NotFound", format!("The vSwitch {vsw} is not associated with {id}.")));
        }
        v.network_acl_id = None;
    }
    Ok(json!({}))
}

fn entry_json(e: &NetworkAclEntry, ingress: bool) -> Value {
    let mut v = json!({
        "NetworkAclEntryId": e.id,
        "NetworkAclEntryName": e.name,
        "Policy": match e.policy { RulePolicy::Accept => "accept", RulePolicy::Drop => "drop" },
        "Protocol": match e.protocol { IpProtocol::Tcp => "tcp", IpProtocol::Udp => "udp", IpProtocol::Icmp => "icmp", IpProtocol::All => "all" },
        "Port": match e.protocol {
            IpProtocol::Tcp | IpProtocol::Udp => format!("{}/{}", e.port_range.0, e.port_range.1),
            _ => "-1/-1".to_string(),
        },
        "EntryType": "custom",
        "IpVersion": "IPv4",
        "Description": e.description,
    });
    v[if ingress { "SourceCidrIp" } else { "DestinationCidrIp" }] = Value::from(e.cidr.to_string());
    v
}

/// The system entry ending each list: accept everything else.
fn system_entry(acl: &NetworkAcl, ingress: bool) -> Value {
    let mut v = json!({
        "NetworkAclEntryId": format!("nae-sys-{}-{}", if ingress { "in" } else { "out" }, acl.id.trim_start_matches("nacl-")),
        "NetworkAclEntryName": "system",
        "Policy": "accept",
        "Protocol": "all",
        "Port": "-1/-1",
        "EntryType": "system",
        "IpVersion": "IPv4",
        "Description": "",
    });
    v[if ingress { "SourceCidrIp" } else { "DestinationCidrIp" }] = Value::from("0.0.0.0/0");
    v
}

fn attribute(d: &Draft, acl: &NetworkAcl) -> Value {
    let mut ingress: Vec<Value> = acl.ingress.iter().map(|e| entry_json(e, true)).collect();
    ingress.push(system_entry(acl, true));
    let mut egress: Vec<Value> = acl.egress.iter().map(|e| entry_json(e, false)).collect();
    egress.push(system_entry(acl, false));
    let resources: Vec<Value> = d
        .model
        .vswitches
        .iter()
        .filter(|v| v.network_acl_id.as_deref() == Some(acl.id.as_str()))
        .map(|v| json!({ "ResourceId": v.id, "ResourceType": "VSwitch", "Status": "BINDED" }))
        .collect();
    json!({
        "NetworkAclId": acl.id,
        "NetworkAclName": acl.name.clone().unwrap_or_default(),
        "VpcId": acl.vpc_id,
        "RegionId": acl.meta.region_id,
        "Description": acl.meta.description,
        "CreationTime": acl.meta.creation_time,
        "Status": "Available",
        "IngressAclEntries": { "IngressAclEntry": ingress },
        "EgressAclEntries": { "EgressAclEntry": egress },
        "Resources": { "Resource": resources },
        "Tags": { "Tag": [] },
    })
}

/// DescribeNetworkAcls: NetworkAclId, VpcId, NetworkAclName, ResourceId,
/// paging (PageSize <= 50). Paging fields are strings, as the cloud's.
pub fn describe(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(&["ResourceType"]);
    let id = p.str("NetworkAclId");
    let vpc_id = p.str("VpcId");
    let name = p.str("NetworkAclName");
    let resource = p.str("ResourceId");
    let acls: Vec<&NetworkAcl> = d
        .model
        .network_acls
        .iter()
        .filter(|a| d.visible(&a.meta, p))
        .filter(|a| {
            id.is_none_or(|x| a.id == x)
                && vpc_id.is_none_or(|x| a.vpc_id == x)
                && name.is_none_or(|x| a.name.as_deref() == Some(x))
                && resource.is_none_or(|x| d.model.vswitch(x).is_some_and(|v| v.network_acl_id.as_deref() == Some(a.id.as_str())))
        })
        .collect();
    let (acls, paging) = page(p, acls, 50)?;
    let items: Vec<Value> = acls.into_iter().map(|a| attribute(d, a)).collect();
    Ok(json!({
        "NetworkAcls": { "NetworkAcl": items },
        "TotalCount": paging["TotalCount"].to_string(),
        "PageNumber": paging["PageNumber"].to_string(),
        "PageSize": paging["PageSize"].to_string(),
    }))
}

/// DescribeNetworkAclAttributes: one ACL.
pub fn describe_attributes(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("NetworkAclId")?;
    let acl = &d.model.network_acls[acl_index(d, id)?];
    Ok(json!({ "NetworkAclAttribute": attribute(d, acl) }))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use crate::{compile, policy::{self, Verdict}, service::tests::Scratch};

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");

    #[test]
    fn acl_2_entries_are_ordered_first_match_and_default_accept() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let acl = s.ok("CreateNetworkAcl", &[R, ("VpcId", &vpc), ("NetworkAclName", "guard")]);
        let acl = acl["NetworkAclId"].as_str().unwrap().to_string();
        s.ok("UpdateNetworkAclEntries", &[R, ("NetworkAclId", &acl), ("UpdateIngressAclEntries", "True"),
            ("IngressAclEntries.1.Policy", "accept"), ("IngressAclEntries.1.Protocol", "tcp"), ("IngressAclEntries.1.Port", "22/22"), ("IngressAclEntries.1.SourceCidrIp", "10.0.2.0/24"),
            ("IngressAclEntries.2.Policy", "drop"), ("IngressAclEntries.2.Protocol", "all"), ("IngressAclEntries.2.Port", "-1/-1"), ("IngressAclEntries.2.SourceCidrIp", "10.0.2.0/24")]);
        s.ok("AssociateNetworkAcl", &[R, ("NetworkAclId", &acl), ("Resource.1.ResourceId", &vsw), ("Resource.1.ResourceType", "VSwitch")]);
        let m = s.service.model().clone();
        let (ingress, _) = compile::network_acl_policies(&m.network_acls[0]);
        let from = |a: &str| a.parse::<Ipv4Addr>().unwrap();
        assert_eq!(policy::evaluate(&ingress, from("10.0.2.5"), 6, 22), Verdict::Accept, "first match");
        assert_eq!(policy::evaluate(&ingress, from("10.0.2.5"), 6, 80), Verdict::Drop);
        assert_eq!(policy::evaluate(&ingress, from("10.0.3.5"), 6, 80), Verdict::Accept, "system entry");
        let d = s.ok("DescribeNetworkAcls", &[R, ("VpcId", &vpc)]);
        let a = &d["NetworkAcls"]["NetworkAcl"][0];
        assert_eq!(a["IngressAclEntries"]["IngressAclEntry"].as_array().unwrap().len(), 3);
        assert_eq!(a["Resources"]["Resource"][0]["ResourceId"], vsw.as_str());
        assert_eq!(d["TotalCount"], "1");
        assert_eq!(s.err("DeleteNetworkAcl", &[R, ("NetworkAclId", &acl)]).code, "DependencyViolation.NetworkAcl");
        s.ok("UnassociateNetworkAcl", &[R, ("NetworkAclId", &acl), ("Resource.1.ResourceId", &vsw)]);
        s.ok("DeleteNetworkAcl", &[R, ("NetworkAclId", &acl)]);
    }

    #[test]
    fn acl_1_bad_entries_are_refused() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let acl = s.ok("CreateNetworkAcl", &[R, ("VpcId", &vpc)])["NetworkAclId"].as_str().unwrap().to_string();
        let base = [R, ("NetworkAclId", acl.as_str()), ("UpdateIngressAclEntries", "true"), ("IngressAclEntries.1.Policy", "accept"), ("IngressAclEntries.1.SourceCidrIp", "0.0.0.0/0")];
        let err = |s: &mut Scratch, extra: &[(&str, &str)]| {
            let mut p = base.to_vec();
            p.extend_from_slice(extra);
            s.err("UpdateNetworkAclEntries", &p).code
        };
        assert_eq!(err(&mut s, &[("IngressAclEntries.1.Protocol", "tcp"), ("IngressAclEntries.1.Port", "-1/-1")]), "IllegalParam.Port");
        assert_eq!(err(&mut s, &[("IngressAclEntries.1.Protocol", "gre"), ("IngressAclEntries.1.Port", "-1/-1")]), "IllegalParam.Protocol");
        assert_eq!(err(&mut s, &[("IngressAclEntries.1.Protocol", "tcp")]), "MissingParameter");
        assert!(s.service.model().network_acls[0].ingress.is_empty());
    }
}
