//! Security groups (ECS API 2014-05-26): CreateSecurityGroup,
//! DeleteSecurityGroup, AuthorizeSecurityGroup[Egress],
//! RevokeSecurityGroup[Egress], ModifySecurityGroupPolicy,
//! DescribeSecurityGroups, DescribeSecurityGroupAttribute,
//! JoinSecurityGroup, LeaveSecurityGroup (SG-1..SG-5).
use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::{Draft, page, with};
use crate::{
    api::{ApiError, new_id, params::Params},
    model::{self, Direction, IpProtocol, Peer, RulePolicy, SecurityGroup, SecurityGroupRule, SecurityGroupType},
};

fn group_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .security_groups
        .iter()
        .position(|g| g.id == id && d.caller.owns(&g.meta.owner_id))
        .ok_or_else(|| {
            ApiError::not_found("InvalidSecurityGroupId.NotFound", format!("The specified security group {id} does not exist."))
        })
}

/// CreateSecurityGroup: VpcId, SecurityGroupName, Description,
/// SecurityGroupType (normal, enterprise).
pub fn create(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let vpc_id = p.required("VpcId")?;
    let vpc = &d.model.vpcs[d.vpc_index(vpc_id)?];
    let ty = match p.str("SecurityGroupType").unwrap_or("normal") {
        t if t.eq_ignore_ascii_case("normal") => SecurityGroupType::Normal,
        t if t.eq_ignore_ascii_case("enterprise") => SecurityGroupType::Enterprise,
        other => return Err(ApiError::invalid("SecurityGroupType", format!("{other:?} is not normal or enterprise"))),
    };
    let mut meta = d.meta(p);
    meta.region_id = vpc.meta.region_id.clone();
    let g = SecurityGroup {
        id: new_id("sg"),
        vpc_id: vpc_id.to_string(),
        name: p.str("SecurityGroupName").map(str::to_string),
        security_group_type: ty,
        inner_access: ty == SecurityGroupType::Normal,
        rules: Vec::new(),
        meta,
    };
    let body = json!({ "SecurityGroupId": g.id });
    d.model.security_groups.push(g);
    Ok(body)
}

/// DeleteSecurityGroup: refused while an instance is in it or another
/// group's rule names it.
pub fn delete(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("SecurityGroupId")?;
    let i = group_index(d, id)?;
    if let Some(inst) = d.model.instances.iter().find(|x| x.security_group_ids.iter().any(|g| g == id)) {
        return Err(ApiError::bad(
            "DependencyViolation",
            format!("There is still instance {} in the specified security group {id}.", inst.id),
        ));
    }
    if let Some(g) = d.model.security_groups.iter().find(|g| {
        g.id != id && g.rules.iter().any(|r| r.peer == Peer::Group(id.to_string()))
    }) {
        return Err(ApiError::bad(
            "DependencyViolation",
            format!("The security group {id} is referenced by a rule of {}.", g.id),
        ));
    }
    d.model.security_groups.remove(i);
    Ok(json!({}))
}

/// The rules one Authorize or Revoke call names: the deprecated flat
/// fields, or `Permissions.N.*`.
fn rules_from(p: &Params, direction: Direction) -> Result<Vec<SecurityGroupRule>, ApiError> {
    let (cidr_field, group_field) = match direction {
        Direction::Ingress => ("SourceCidrIp", "SourceGroupId"),
        Direction::Egress => ("DestCidrIp", "DestGroupId"),
    };
    let mut prefixes: Vec<String> = Vec::new();
    for n in 1..=100 {
        let prefix = format!("Permissions.{n}.");
        if p.has_prefix(&prefix) {
            prefixes.push(prefix);
        } else {
            break;
        }
    }
    if prefixes.is_empty() && p.str("IpProtocol").is_some() {
        prefixes.push(String::new());
    }
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    prefixes
        .iter()
        .map(|pre| {
            let field = |f: &str| format!("{pre}{f}");
            p.accept(&[&field("NicType"), &field("SourceGroupOwnerAccount"), &field("SourceGroupOwnerId")]);
            p.accept(&[&field("DestGroupOwnerAccount"), &field("DestGroupOwnerId")]);
            if let Some(nic) = p.str(&field("NicType"))
                && !nic.eq_ignore_ascii_case("intranet")
            {
                return Err(ApiError::invalid(&field("NicType"), "only intranet exists in a VPC"));
            }
            let proto_name = p.required(&field("IpProtocol"))?;
            let ip_protocol = match proto_name.to_ascii_lowercase().as_str() {
                "tcp" => IpProtocol::Tcp,
                "udp" => IpProtocol::Udp,
                "icmp" => IpProtocol::Icmp,
                "all" => IpProtocol::All,
                _ => {
                    return Err(ApiError::bad(
                        "InvalidIpProtocol.Malformed",
                        format!("IpProtocol {proto_name:?} is not supported here (tcp, udp, icmp, all)."),
                    ));
                }
            };
            let range = p.required(&field("PortRange"))?;
            let port_range = port_range(ip_protocol, range)?;
            let peer = match (p.str(&field(cidr_field)), p.str(&field(group_field))) {
                (Some(c), _) => Peer::Cidr(
                    c.parse::<Ipv4Net>()
                        .or_else(|_| c.parse::<std::net::Ipv4Addr>().map(Ipv4Net::from))
                        .map_err(|_| {
                            ApiError::bad("InvalidSourceCidrIp.Malformed", format!("{} {c:?} is not an IPv4 CIDR block.", field(cidr_field)))
                        })?
                        .trunc(),
                ),
                (None, Some(g)) => Peer::Group(g.to_string()),
                (None, None) => return Err(ApiError::missing(&field(cidr_field))),
            };
            let policy = match p.str(&field("Policy")).unwrap_or("accept").to_ascii_lowercase().as_str() {
                "accept" => RulePolicy::Accept,
                "drop" => RulePolicy::Drop,
                other => return Err(ApiError::invalid(&field("Policy"), format!("{other:?} is not accept or drop"))),
            };
            let priority: u8 = match p.str(&field("Priority")) {
                None => 1,
                Some(v) => v.parse::<u8>().ok().filter(|n| (1..=100).contains(n)).ok_or_else(|| {
                    ApiError::bad("InvalidPriority.Malformed", format!("Priority {v:?} must be 1 to 100."))
                })?,
            };
            Ok(SecurityGroupRule {
                id: new_id("sgr"),
                direction,
                ip_protocol,
                port_range,
                peer,
                policy,
                priority,
                description: p.get(&field("Description")).unwrap_or_default().to_string(),
                creation_time: now.clone(),
            })
        })
        .collect()
}

/// Parses PortRange: `from/to` for tcp and udp (1..=65535), `-1/-1` for
/// icmp and all.
fn port_range(proto: IpProtocol, v: &str) -> Result<(u16, u16), ApiError> {
    let bad = || ApiError::bad("InvalidPortRange.Malformed", format!("PortRange {v:?} is not valid for this protocol."));
    let (a, b) = v.split_once('/').ok_or_else(bad)?;
    match proto {
        IpProtocol::Tcp | IpProtocol::Udp => {
            let a: u16 = a.trim().parse().map_err(|_| bad())?;
            let b: u16 = b.trim().parse().map_err(|_| bad())?;
            if a == 0 || a > b {
                return Err(bad());
            }
            Ok((a, b))
        }
        IpProtocol::Icmp | IpProtocol::All => {
            if a.trim() == "-1" && b.trim() == "-1" { Ok((1, 65535)) } else { Err(bad()) }
        }
    }
}

fn same_rule(a: &SecurityGroupRule, b: &SecurityGroupRule) -> bool {
    a.direction == b.direction
        && a.ip_protocol == b.ip_protocol
        && a.port_range == b.port_range
        && a.peer == b.peer
        && a.policy == b.policy
        && a.priority == b.priority
}

fn authorize(d: &mut Draft, p: &Params, direction: Direction) -> Result<Value, ApiError> {
    p.accept(&["RegionId"]);
    let id = p.required("SecurityGroupId")?;
    let i = group_index(d, id)?;
    let rules = rules_from(p, direction)?;
    if rules.is_empty() {
        return Err(ApiError::missing("Permissions.1.IpProtocol"));
    }
    let g = &mut d.model.security_groups[i];
    for r in rules {
        if g.rules.iter().any(|x| same_rule(x, &r)) {
            return Err(ApiError::bad("InvalidPermission.Duplicate", "The specified rule already exists in the security group."));
        }
        g.rules.push(r);
    }
    Ok(json!({}))
}

/// AuthorizeSecurityGroup: inbound rules.
pub fn authorize_ingress(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    authorize(d, p, Direction::Ingress)
}

/// AuthorizeSecurityGroupEgress: outbound rules.
pub fn authorize_egress(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    authorize(d, p, Direction::Egress)
}

fn revoke(d: &mut Draft, p: &Params, direction: Direction) -> Result<Value, ApiError> {
    p.accept(&["RegionId"]);
    let id = p.required("SecurityGroupId")?;
    let i = group_index(d, id)?;
    let ids = p.list("SecurityGroupRuleId")?;
    let rules = rules_from(p, direction)?;
    if ids.is_empty() && rules.is_empty() {
        return Err(ApiError::missing("SecurityGroupRuleId.1"));
    }
    let g = &mut d.model.security_groups[i];
    // As the cloud: revoking a rule that is not there changes nothing.
    g.rules.retain(|x| x.direction != direction || !(ids.contains(&x.id) || rules.iter().any(|r| same_rule(x, r))));
    Ok(json!({}))
}

/// RevokeSecurityGroup: removes inbound rules (by id or by fields).
pub fn revoke_ingress(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    revoke(d, p, Direction::Ingress)
}

/// RevokeSecurityGroupEgress: removes outbound rules.
pub fn revoke_egress(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    revoke(d, p, Direction::Egress)
}

/// ModifySecurityGroupPolicy: InnerAccessPolicy Accept or Drop (basic
/// groups; enterprise groups always isolate their members, SG-2).
pub fn modify_policy(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("SecurityGroupId")?;
    let policy = p.required("InnerAccessPolicy")?;
    let i = group_index(d, id)?;
    let accept = match policy.to_ascii_lowercase().as_str() {
        "accept" => true,
        "drop" => false,
        _ => return Err(ApiError::invalid("InnerAccessPolicy", format!("{policy:?} is not Accept or Drop"))),
    };
    let g = &mut d.model.security_groups[i];
    if accept && g.security_group_type == SecurityGroupType::Enterprise {
        return Err(ApiError::bad(
            "InvalidSecurityGroup.InnerAccessPolicy",
            "An enterprise security group always isolates its members.",
        ));
    }
    g.inner_access = accept;
    Ok(json!({}))
}

fn type_name(t: SecurityGroupType) -> &'static str {
    match t {
        SecurityGroupType::Normal => "normal",
        SecurityGroupType::Enterprise => "enterprise",
    }
}

/// DescribeSecurityGroups: VpcId, SecurityGroupId, SecurityGroupIds (JSON
/// array), SecurityGroupName, SecurityGroupType, paging.
pub fn describe(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(&["IsQueryEcsCount", "NetworkType", "FuzzyQuery"]);
    let vpc_id = p.str("VpcId");
    let mut ids = p.list_or_json("SecurityGroupIds")?;
    ids.extend(p.str("SecurityGroupId").map(str::to_string));
    let name = p.str("SecurityGroupName");
    let ty = p.str("SecurityGroupType");
    let m = &d.model;
    let groups: Vec<&SecurityGroup> = m
        .security_groups
        .iter()
        .filter(|g| d.visible(&g.meta, p))
        .filter(|g| {
            vpc_id.is_none_or(|x| g.vpc_id == x)
                && (ids.is_empty() || ids.contains(&g.id))
                && name.is_none_or(|x| g.name.as_deref() == Some(x))
                && ty.is_none_or(|x| type_name(g.security_group_type) == x)
        })
        .collect();
    let (groups, paging) = page(p, groups, 100)?;
    let items: Vec<Value> = groups
        .into_iter()
        .map(|g| {
            let members = m.instances.iter().filter(|i| i.security_group_ids.contains(&g.id)).count();
            json!({
                "SecurityGroupId": g.id,
                "SecurityGroupName": g.name.clone().unwrap_or_default(),
                "SecurityGroupType": type_name(g.security_group_type),
                "VpcId": g.vpc_id,
                "Description": g.meta.description,
                "CreationTime": g.meta.creation_time,
                "ResourceGroupId": "",
                "EcsCount": members,
                "AvailableInstanceAmount": 2000usize.saturating_sub(members),
                "RuleCount": g.rules.len(),
                "GroupToGroupRuleCount": g.rules.iter().filter(|r| matches!(r.peer, Peer::Group(_))).count(),
                "ServiceManaged": false,
                "Tags": { "Tag": [] },
            })
        })
        .collect();
    Ok(with(json!({ "SecurityGroups": { "SecurityGroup": items }, "RegionId": d.region_id, "NextToken": "" }), paging))
}

/// DescribeSecurityGroupAttribute: the group's rules (Direction all,
/// ingress or egress) and InnerAccessPolicy.
pub fn describe_attribute(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    p.accept(&["NicType", "MaxResults", "NextToken"]);
    let id = p.required("SecurityGroupId")?;
    let dir = p.str("Direction").unwrap_or("all").to_ascii_lowercase();
    if !["all", "ingress", "egress"].contains(&dir.as_str()) {
        return Err(ApiError::invalid("Direction", format!("{dir:?} is not all, ingress or egress")));
    }
    let g = &d.model.security_groups[group_index(d, id)?];
    let group_name = |gid: &str| d.model.security_group(gid).and_then(|x| x.name.clone()).unwrap_or_default();
    let rules: Vec<Value> = g
        .rules
        .iter()
        .filter(|r| match dir.as_str() {
            "ingress" => r.direction == Direction::Ingress,
            "egress" => r.direction == Direction::Egress,
            _ => true,
        })
        .map(|r| {
            let (cidr, group) = match &r.peer {
                Peer::Cidr(c) => (c.to_string(), String::new()),
                Peer::Group(g) => (String::new(), g.clone()),
            };
            let ingress = r.direction == Direction::Ingress;
            json!({
                "SecurityGroupRuleId": r.id,
                "Direction": if ingress { "ingress" } else { "egress" },
                "IpProtocol": match r.ip_protocol { IpProtocol::Tcp => "TCP", IpProtocol::Udp => "UDP", IpProtocol::Icmp => "ICMP", IpProtocol::All => "ALL" },
                "PortRange": match r.ip_protocol {
                    IpProtocol::Tcp | IpProtocol::Udp => format!("{}/{}", r.port_range.0, r.port_range.1),
                    _ => "-1/-1".to_string(),
                },
                "SourceCidrIp": if ingress { cidr.clone() } else { String::new() },
                "DestCidrIp": if ingress { String::new() } else { cidr },
                "SourceGroupId": if ingress { group.clone() } else { String::new() },
                "SourceGroupName": if ingress { group_name(&group) } else { String::new() },
                "DestGroupId": if ingress { String::new() } else { group.clone() },
                "DestGroupName": if ingress { String::new() } else { group_name(&group) },
                "Policy": match r.policy { RulePolicy::Accept => "Accept", RulePolicy::Drop => "Drop" },
                "Priority": r.priority.to_string(),
                "NicType": "intranet",
                "Description": r.description,
                "CreateTime": r.creation_time,
                "SourcePortRange": "",
                "Ipv6SourceCidrIp": "",
                "Ipv6DestCidrIp": "",
            })
        })
        .collect();
    Ok(json!({
        "SecurityGroupId": g.id,
        "SecurityGroupName": g.name.clone().unwrap_or_default(),
        "VpcId": g.vpc_id,
        "Description": g.meta.description,
        "RegionId": g.meta.region_id,
        "InnerAccessPolicy": if g.members_reach_each_other() { "Accept" } else { "Drop" },
        "Permissions": { "Permission": rules },
        "NextToken": "",
    }))
}

/// The instance a Join/Leave call names (InstanceId or NetworkInterfaceId).
fn member(d: &Draft, p: &Params) -> Result<usize, ApiError> {
    match (p.str("InstanceId"), p.str("NetworkInterfaceId")) {
        (Some(id), None) => d.instance_index(id),
        (None, Some(eni)) => d
            .model
            .instances
            .iter()
            .position(|i| i.eni_id() == eni && d.caller.owns(&i.meta.owner_id))
            .ok_or_else(|| ApiError::not_found("InvalidEniId.NotFound", format!("The specified network interface {eni} does not exist."))),
        (Some(_), Some(_)) => Err(ApiError::bad("InvalidParameter.Conflict", "Give InstanceId or NetworkInterfaceId, not both.")),
        (None, None) => Err(ApiError::missing("InstanceId")),
    }
}

/// JoinSecurityGroup: the instance's ENI joins the group (at most 5, SG-4).
pub fn join(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.accept(&["RegionId"]);
    let id = p.required("SecurityGroupId")?;
    group_index(d, id)?;
    let i = member(d, p)?;
    let inst = &mut d.model.instances[i];
    if inst.security_group_ids.iter().any(|g| g == id) {
        return Err(ApiError::bad("InvalidInstanceId.AlreadyExists", format!("The instance is already in {id}.")));
    }
    if inst.security_group_ids.len() >= model::MAX_GROUPS_PER_ENI {
        return Err(ApiError::bad("JoinedGroupLimitExceed", format!("An ENI can be in at most {} security groups.", model::MAX_GROUPS_PER_ENI)));
    }
    inst.security_group_ids.push(id.to_string());
    Ok(json!({}))
}

/// LeaveSecurityGroup: the instance's ENI leaves the group; it must stay in
/// at least one, as in the cloud.
pub fn leave(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.accept(&["RegionId"]);
    let id = p.required("SecurityGroupId")?;
    group_index(d, id)?;
    let i = member(d, p)?;
    let inst = &mut d.model.instances[i];
    let Some(pos) = inst.security_group_ids.iter().position(|g| g == id) else {
        return Err(ApiError::bad("InvalidSecurityGroupId.NotFound", format!("The instance is not in {id}.")));
    };
    if inst.security_group_ids.len() == 1 {
        return Err(ApiError::bad("InvalidOperation.LastSecurityGroup", "An instance must stay in at least one security group."));
    }
    inst.security_group_ids.remove(pos);
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use crate::{
        compile,
        policy::{self, Verdict},
        service::tests::Scratch,
    };

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");

    fn ingress_verdict(s: &Scratch, inst: usize, remote: &str, proto: u8, port: u16) -> Verdict {
        let m = s.service.model().clone().with_system_route_tables();
        let addrs: std::collections::BTreeMap<String, _> = crate::model::instance_addresses(&m).into_iter().collect();
        let mut members: std::collections::BTreeMap<String, Vec<ipnet::Ipv4Net>> = Default::default();
        for i in &m.instances {
            for g in &i.security_group_ids {
                members.entry(g.clone()).or_default().push(ipnet::Ipv4Net::from(addrs[&i.id].unwrap()));
            }
        }
        let (ingress, _) = compile::security_group_policies(&m, &m.instances[inst], &members);
        policy::evaluate(&ingress, remote.parse::<Ipv4Addr>().unwrap(), proto, port)
    }

    #[test]
    fn sg_5_example_rules_through_the_api() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let sg = s.ok("CreateSecurityGroup", &[R, ("VpcId", &vpc), ("SecurityGroupName", "web")]);
        let sg = sg["SecurityGroupId"].as_str().unwrap().to_string();
        s.ok("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("Permissions.1.IpProtocol", "ICMP"), ("Permissions.1.PortRange", "-1/-1"), ("Permissions.1.SourceCidrIp", "0.0.0.0/0"),
            ("Permissions.2.IpProtocol", "TCP"), ("Permissions.2.PortRange", "22/22"), ("Permissions.2.SourceCidrIp", "0.0.0.0/0"),
            ("Permissions.3.IpProtocol", "tcp"), ("Permissions.3.PortRange", "80/80"), ("Permissions.3.SourceCidrIp", "0.0.0.0/0"), ("Permissions.3.Priority", "10")]);
        s.ok("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("IpProtocol", "tcp"), ("PortRange", "443/443"), ("SourceCidrIp", "0.0.0.0/0")]);
        s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("SecurityGroupId", &sg)]);
        assert_eq!(ingress_verdict(&s, 0, "192.0.2.1", 1, 0), Verdict::Accept);
        assert_eq!(ingress_verdict(&s, 0, "192.0.2.1", 6, 22), Verdict::Accept);
        assert_eq!(ingress_verdict(&s, 0, "192.0.2.1", 6, 443), Verdict::Accept);
        assert_eq!(ingress_verdict(&s, 0, "192.0.2.1", 6, 23), Verdict::Drop);
        assert_eq!(ingress_verdict(&s, 0, "192.0.2.1", 17, 53), Verdict::Drop);
        let a = s.ok("DescribeSecurityGroupAttribute", &[R, ("SecurityGroupId", &sg), ("Direction", "ingress")]);
        let perms = a["Permissions"]["Permission"].as_array().unwrap();
        assert_eq!(perms.len(), 4);
        assert_eq!((perms[0]["IpProtocol"].as_str(), perms[1]["PortRange"].as_str()), (Some("ICMP"), Some("22/22")));
        assert_eq!(a["InnerAccessPolicy"], "Accept");
        let dup = s.err("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("IpProtocol", "tcp"), ("PortRange", "443/443"), ("SourceCidrIp", "0.0.0.0/0")]);
        assert_eq!(dup.code, "InvalidPermission.Duplicate");
        // Revoke by fields, then by id.
        s.ok("RevokeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("IpProtocol", "tcp"), ("PortRange", "443/443"), ("SourceCidrIp", "0.0.0.0/0")]);
        assert_eq!(ingress_verdict(&s, 0, "192.0.2.1", 6, 443), Verdict::Drop);
        let id = perms[1]["SecurityGroupRuleId"].as_str().unwrap();
        s.ok("RevokeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("SecurityGroupRuleId.1", id)]);
        assert_eq!(ingress_verdict(&s, 0, "192.0.2.1", 6, 22), Verdict::Drop);
    }

    #[test]
    fn sg_1_bad_rules_are_refused() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let sg = s.ok("CreateSecurityGroup", &[R, ("VpcId", &vpc)])["SecurityGroupId"].as_str().unwrap().to_string();
        let base = [R, ("SecurityGroupId", sg.as_str()), ("SourceCidrIp", "0.0.0.0/0")];
        let err = |s: &mut Scratch, extra: &[(&str, &str)]| {
            let mut p = base.to_vec();
            p.extend_from_slice(extra);
            s.err("AuthorizeSecurityGroup", &p).code
        };
        assert_eq!(err(&mut s, &[("IpProtocol", "tcp"), ("PortRange", "0/22")]), "InvalidPortRange.Malformed");
        assert_eq!(err(&mut s, &[("IpProtocol", "tcp"), ("PortRange", "30/22")]), "InvalidPortRange.Malformed");
        assert_eq!(err(&mut s, &[("IpProtocol", "icmp"), ("PortRange", "1/2")]), "InvalidPortRange.Malformed");
        assert_eq!(err(&mut s, &[("IpProtocol", "gre"), ("PortRange", "-1/-1")]), "InvalidIpProtocol.Malformed");
        assert_eq!(err(&mut s, &[("IpProtocol", "tcp"), ("PortRange", "22/22"), ("Priority", "101")]), "InvalidPriority.Malformed");
        assert_eq!(err(&mut s, &[("IpProtocol", "tcp"), ("PortRange", "22/22"), ("Policy", "maybe")]), "InvalidParameter");
        let e = s.err("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("IpProtocol", "tcp"), ("PortRange", "22/22"), ("SourceGroupId", "sg-nope")]);
        assert_eq!(e.code, "InvalidSecurityGroupId.NotFound");
        assert!(s.service.model().security_groups[0].rules.is_empty(), "a refused rule was kept");
    }

    #[test]
    fn sg_2_basic_groups_connect_members_enterprise_groups_isolate_them() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let basic = s.ok("CreateSecurityGroup", &[R, ("VpcId", &vpc)])["SecurityGroupId"].as_str().unwrap().to_string();
        let ent = s.ok("CreateSecurityGroup", &[R, ("VpcId", &vpc), ("SecurityGroupType", "enterprise")])["SecurityGroupId"].as_str().unwrap().to_string();
        for g in [&basic, &basic, &ent, &ent] {
            s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("SecurityGroupId", g)]);
        }
        // 10.0.1.1 and .2 are basic members, .3 and .4 enterprise members.
        assert_eq!(ingress_verdict(&s, 0, "10.0.1.2", 6, 5432), Verdict::Accept);
        assert_eq!(ingress_verdict(&s, 2, "10.0.1.4", 6, 5432), Verdict::Drop);
        assert_eq!(ingress_verdict(&s, 0, "10.0.1.3", 6, 5432), Verdict::Drop);
        s.ok("ModifySecurityGroupPolicy", &[R, ("SecurityGroupId", &basic), ("InnerAccessPolicy", "Drop")]);
        assert_eq!(ingress_verdict(&s, 0, "10.0.1.2", 6, 5432), Verdict::Drop);
        let e = s.err("ModifySecurityGroupPolicy", &[R, ("SecurityGroupId", &ent), ("InnerAccessPolicy", "Accept")]);
        assert_eq!(e.code, "InvalidSecurityGroup.InnerAccessPolicy");
    }

    #[test]
    fn sg_3_group_reference_follows_membership() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let db = s.ok("CreateSecurityGroup", &[R, ("VpcId", &vpc)])["SecurityGroupId"].as_str().unwrap().to_string();
        let app = s.ok("CreateSecurityGroup", &[R, ("VpcId", &vpc)])["SecurityGroupId"].as_str().unwrap().to_string();
        s.ok("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &db), ("IpProtocol", "tcp"), ("PortRange", "5432/5432"), ("SourceGroupId", &app)]);
        s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("SecurityGroupId", &db)]); // 10.0.1.1
        let other = s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("SecurityGroupId", &db)]); // 10.0.1.2
        let other = other["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
        s.ok("ModifySecurityGroupPolicy", &[R, ("SecurityGroupId", &db), ("InnerAccessPolicy", "Drop")]);
        assert_eq!(ingress_verdict(&s, 0, "10.0.1.2", 6, 5432), Verdict::Drop);
        s.ok("JoinSecurityGroup", &[R, ("SecurityGroupId", &app), ("InstanceId", &other)]);
        assert_eq!(ingress_verdict(&s, 0, "10.0.1.2", 6, 5432), Verdict::Accept);
        assert_eq!(ingress_verdict(&s, 0, "10.0.1.2", 6, 5433), Verdict::Drop);
        assert_eq!(s.err("DeleteSecurityGroup", &[R, ("SecurityGroupId", &app)]).code, "DependencyViolation");
        s.ok("LeaveSecurityGroup", &[R, ("SecurityGroupId", &app), ("InstanceId", &other)]);
        assert_eq!(s.err("LeaveSecurityGroup", &[R, ("SecurityGroupId", &db), ("InstanceId", &other)]).code, "InvalidOperation.LastSecurityGroup");
        assert_eq!(s.err("DeleteSecurityGroup", &[R, ("SecurityGroupId", &app)]).code, "DependencyViolation", "still referenced by db's rule");
    }

    #[test]
    fn sg_4_an_eni_is_in_at_most_five_groups() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let groups: Vec<String> = (0..6)
            .map(|_| s.ok("CreateSecurityGroup", &[R, ("VpcId", &vpc)])["SecurityGroupId"].as_str().unwrap().to_string())
            .collect();
        let mut p = vec![R, ("VSwitchId", vsw.as_str())];
        let names: Vec<String> = (1..=6).map(|n| format!("SecurityGroupIds.{n}")).collect();
        for (n, g) in names.iter().zip(&groups) {
            p.push((n.as_str(), g.as_str()));
        }
        assert_eq!(s.err("RunInstances", &p).code, "JoinedGroupLimitExceed");
        p.pop();
        let id = s.ok("RunInstances", &p)["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
        let e = s.err("JoinSecurityGroup", &[R, ("SecurityGroupId", &groups[5]), ("InstanceId", &id)]);
        assert_eq!(e.code, "JoinedGroupLimitExceed");
    }
}
