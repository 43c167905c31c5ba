//! Security groups (ECS API 2014-05-26): CreateSecurityGroup,
//! DeleteSecurityGroup, ModifySecurityGroupAttribute,
//! AuthorizeSecurityGroup[Egress], RevokeSecurityGroup[Egress],
//! ModifySecurityGroupRule / ModifySecurityGroupEgressRule,
//! ModifySecurityGroupPolicy, DescribeSecurityGroups,
//! DescribeSecurityGroupAttribute, JoinSecurityGroup, LeaveSecurityGroup
//! (SG-1..SG-5).
//!
//! A rule is given either as `Permissions.N.Field` or, in the deprecated
//! form the older SDKs and tools send, as flat fields of the call
//! (`IpProtocol`, `PortRange`, `SourceCidrIp`...). Both decode into
//! [`PermissionParam`] and go through one parser ([`rule_of`]).
use std::collections::BTreeSet;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::{Action, Draft, Empty, PageInfo, paginate, paging, params::{given, refuse_true}, tag};
use crate::{
    api::{ApiError, Product, form::Unsupported, new_id},
    model::{self, Direction, IpProtocol, Peer, RulePolicy, SecurityGroup, SecurityGroupRule, SecurityGroupType},
    validate::ValidationError,
};

/// Most rules one Authorize or Revoke call takes in `Permissions.N`.
const MAX_PERMISSIONS: usize = 100;

fn group_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .security_groups
        .iter()
        .position(|g| g.id == id && d.caller.owns(&g.meta.owner_id))
        .ok_or_else(|| {
            ApiError::not_found("InvalidSecurityGroupId.NotFound", format!("The specified security group {id} does not exist."))
        })
}

/// `normal` or `enterprise`, as the cloud spells a group's type.
fn type_name(t: SecurityGroupType) -> &'static str {
    match t {
        SecurityGroupType::Normal => "normal",
        SecurityGroupType::Enterprise => "enterprise",
    }
}

// ---------------------------------------------------------------- paging tokens

/// The id a NextToken of list `kind` continues after; a token this router
/// did not make is `InvalidNextToken`.
fn id_of_token(token: &str, kind: &str) -> Result<String, ApiError> {
    paging::decode_token(kind, token, || {
        ApiError::bad(
            "InvalidNextToken",
            format!("The NextToken {token:?} is not valid: pass the NextToken of the previous answer unchanged."),
        )
    })
}

// ---------------------------------------------------------------- CreateSecurityGroup

/// CreateSecurityGroup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecurityGroup {
    /// The VPC the group belongs to.
    vpc_id: String,
    /// SecurityGroupName.
    security_group_name: Option<String>,
    /// Description.
    description: Option<String>,
    /// normal (default: members reach each other) or enterprise (members
    /// isolated), SG-2.
    security_group_type: Option<String>,
    /// Groups managed by a cloud service do not exist here: `true` is
    /// refused.
    service_managed: Option<bool>,
    /// Tag.N.Key / Tag.N.Value.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
}

/// CreateSecurityGroup's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecurityGroupResponse {
    security_group_id: String,
}

impl Action for CreateSecurityGroup {
    const NAME: &'static str = "CreateSecurityGroup";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates a security group in a VPC: normal or enterprise (SG-1, SG-2).";
    type Response = CreateSecurityGroupResponse;

    fn run(self, d: &mut Draft) -> Result<CreateSecurityGroupResponse, ApiError> {
        d.require_region()?;
        refuse_true("ServiceManaged", self.service_managed)?;
        let vpc = &d.model.vpcs[d.vpc_index(&self.vpc_id)?];
        let ty = match given(&self.security_group_type).unwrap_or("normal") {
            t if t.eq_ignore_ascii_case("normal") => SecurityGroupType::Normal,
            t if t.eq_ignore_ascii_case("enterprise") => SecurityGroupType::Enterprise,
            other => return Err(ApiError::invalid("SecurityGroupType", format!("{other:?} is not normal or enterprise"))),
        };
        let region_id = vpc.meta.region_id.clone();
        let mut meta = d.new_meta(self.description.as_deref());
        meta.region_id = region_id;
        meta.tags = tag::from_params(&self.tag)?;
        let g = SecurityGroup {
            id: new_id("sg"),
            vpc_id: self.vpc_id,
            name: self.security_group_name.filter(|n| !n.is_empty()),
            security_group_type: ty,
            inner_access: ty == SecurityGroupType::Normal,
            rules: Default::default(),
            meta,
        };
        let response = CreateSecurityGroupResponse { security_group_id: g.id.clone() };
        d.model.security_groups.push(g);
        Ok(response)
    }
}

// ---------------------------------------------------------------- DeleteSecurityGroup

/// DeleteSecurityGroup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSecurityGroup {
    security_group_id: String,
}

impl Action for DeleteSecurityGroup {
    const NAME: &'static str = "DeleteSecurityGroup";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Deletes a security group; refused while an instance is in it or another group's rule names it (SG-3).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let id = self.security_group_id.as_str();
        let i = group_index(d, id)?;
        if let Some(inst) = d.model.instances.iter().find(|x| x.security_group_ids.iter().any(|g| g == id)) {
            return Err(ApiError::bad(
                "DependencyViolation",
                format!("There is still instance {} in the specified security group {id}.", inst.id),
            ));
        }
        if let Some(l) = d.model.load_balancers.iter().find(|l| l.security_group_ids.iter().any(|g| g == id)) {
            return Err(ApiError::bad(
                "DependencyViolation",
                format!("The load balancer {} is still in the specified security group {id}.", l.id),
            ));
        }
        if let Some(e) = d.model.vpc_endpoints.iter().find(|e| e.security_group_ids.iter().any(|g| g == id)) {
            return Err(ApiError::bad(
                "DependencyViolation",
                format!("The endpoint {} is still in the specified security group {id}.", e.id),
            ));
        }
        if let Some(g) =
            d.model.security_groups.iter().find(|g| g.id != id && g.rules.iter().any(|r| r.peer == Peer::Group(id.to_string())))
        {
            return Err(ApiError::bad(
                "DependencyViolation",
                format!("The security group {id} is referenced by a rule of {}.", g.id),
            ));
        }
        d.model.security_groups.remove(i);
        Ok(Empty {})
    }
}

// ---------------------------------------------------------------- ModifySecurityGroupAttribute

/// ModifySecurityGroupAttribute.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifySecurityGroupAttribute {
    security_group_id: String,
    /// New name (empty clears it).
    security_group_name: Option<String>,
    /// New description.
    description: Option<String>,
}

impl Action for ModifySecurityGroupAttribute {
    const NAME: &'static str = "ModifySecurityGroupAttribute";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Renames a security group or changes its description.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let i = group_index(d, &self.security_group_id)?;
        let g = &mut d.model.security_groups[i];
        if let Some(name) = self.security_group_name {
            g.name = Some(name).filter(|n| !n.is_empty());
        }
        if let Some(desc) = self.description {
            g.meta.description = desc;
        }
        Ok(Empty {})
    }
}

// ---------------------------------------------------------------- rules

/// One rule as `Permissions.N` gives it: the fields of both directions'
/// SDK models (an inbound rule names its source, an outbound rule its
/// destination). The fields of the other direction are unknown parameters
/// of the call (see [`other_side`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionParam {
    /// tcp, udp, icmp or all (any case).
    pub ip_protocol: Option<String>,
    /// `from/to` for tcp and udp (1..=65535), `-1/-1` for icmp and all.
    pub port_range: Option<String>,
    /// Inbound: the source block (an address is a /32). Outbound: the
    /// address inside the group, which this router does not filter on
    /// (refused).
    pub source_cidr_ip: Option<String>,
    /// Outbound: the destination block. Inbound: the address inside the
    /// group (refused).
    pub dest_cidr_ip: Option<String>,
    /// Inbound: the members of this group are the source (SG-3).
    pub source_group_id: Option<String>,
    /// The account owning SourceGroupId: only the group's own owner.
    pub source_group_owner_id: Option<String>,
    /// Outbound: the members of this group are the destination (SG-3).
    pub dest_group_id: Option<String>,
    /// The account owning DestGroupId: only the group's own owner.
    pub dest_group_owner_id: Option<String>,
    /// accept (default) or drop, any case.
    pub policy: Option<String>,
    /// 1..=100 (default 1), lower wins; text, as the SDK types it.
    pub priority: Option<String>,
    /// The rule's description.
    pub description: Option<String>,
    /// Only intranet exists in a VPC.
    pub nic_type: Option<String>,
    /// Accounts are known here by id only.
    #[serde(rename = "SourceGroupOwnerAccount")]
    pub _source_group_owner_account: Option<Unsupported>,
    /// Accounts are known here by id only.
    #[serde(rename = "DestGroupOwnerAccount")]
    pub _dest_group_owner_account: Option<Unsupported>,
    /// Prefix lists do not exist here.
    #[serde(rename = "SourcePrefixListId")]
    pub _source_prefix_list_id: Option<Unsupported>,
    /// Prefix lists do not exist here.
    #[serde(rename = "DestPrefixListId")]
    pub _dest_prefix_list_id: Option<Unsupported>,
    /// Port lists do not exist here.
    #[serde(rename = "PortRangeListId")]
    pub _port_range_list_id: Option<Unsupported>,
    /// Rules match destination ports only.
    #[serde(rename = "SourcePortRange")]
    pub _source_port_range: Option<Unsupported>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "Ipv6SourceCidrIp")]
    pub _ipv6_source_cidr_ip: Option<Unsupported>,
    /// IPv6 is not forwarded by this router.
    #[serde(rename = "Ipv6DestCidrIp")]
    pub _ipv6_dest_cidr_ip: Option<Unsupported>,
}

/// The parameter names of `p` (under `prefix`) that belong to the other
/// direction's model: unknown parameters of the call.
fn other_side(p: &PermissionParam, prefix: &str, direction: Direction) -> BTreeSet<String> {
    let fields = match direction {
        Direction::Ingress => [("DestGroupId", &p.dest_group_id), ("DestGroupOwnerId", &p.dest_group_owner_id)],
        Direction::Egress => [("SourceGroupId", &p.source_group_id), ("SourceGroupOwnerId", &p.source_group_owner_id)],
    };
    fields.into_iter().filter(|(_, v)| v.is_some()).map(|(n, _)| format!("{prefix}{n}")).collect()
}

/// Parses IpProtocol.
fn ip_protocol(name: &str, v: &str) -> Result<IpProtocol, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "tcp" => Ok(IpProtocol::Tcp),
        "udp" => Ok(IpProtocol::Udp),
        "icmp" => Ok(IpProtocol::Icmp),
        "all" => Ok(IpProtocol::All),
        _ => Err(ApiError::bad(
            "InvalidIpProtocol.Malformed",
            format!("{name} {v:?} is not supported here (tcp, udp, icmp, all)."),
        )),
    }
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

/// Parses a rule's CIDR block (an address alone is a /32).
fn peer_cidr(name: &str, c: &str) -> Result<Ipv4Net, ApiError> {
    crate::validate::parse_cidr(c, true)
        .map(|n| n.trunc())
        .ok_or_else(|| ApiError::bad("InvalidSourceCidrIp.Malformed", format!("{name} {c:?} is not an IPv4 CIDR block.")))
}

/// The rule's other end: the direction's CIDR block, else its group (whose
/// owner, if given, must be the group's).
fn peer(d: &Draft, p: &PermissionParam, prefix: &str, direction: Direction) -> Result<Peer, ApiError> {
    let (cidr_name, owner_name, cidr, group, owner) = match direction {
        Direction::Ingress => ("SourceCidrIp", "SourceGroupOwnerId", &p.source_cidr_ip, &p.source_group_id, &p.source_group_owner_id),
        Direction::Egress => ("DestCidrIp", "DestGroupOwnerId", &p.dest_cidr_ip, &p.dest_group_id, &p.dest_group_owner_id),
    };
    if let Some(c) = given(cidr) {
        return Ok(Peer::Cidr(peer_cidr(&format!("{prefix}{cidr_name}"), c)?));
    }
    let Some(g) = given(group) else { return Err(ApiError::missing(&format!("{prefix}{cidr_name}"))) };
    // Only the caller's groups are looked at: another account's answers as
    // a group that does not exist (see [`foreign_peers_unknown`]).
    let visible = d.model.security_group(g).filter(|x| d.caller.owns(&x.meta.owner_id));
    if let (Some(o), Some(other)) = (given(owner), visible)
        && other.meta.owner_id != o
    {
        return Err(ApiError::invalid(
            &format!("{prefix}{owner_name}"),
            format!("{o} does not own {g}; rules naming another account's group are not supported"),
        ));
    }
    Ok(Peer::Group(g.to_string()))
}

/// Refuses a new rule of group `group_id` naming another account's group exactly as
/// validation refuses one naming a group that does not exist (same code,
/// message and status): in a VPC a rule may only name a group of the same
/// VPC, hence of the same account, and another account's ids must not be
/// probed. The administrator (the Unix socket) sees every group.
fn foreign_peers_unknown<'a>(d: &Draft, group_id: &str, rules: impl IntoIterator<Item = &'a SecurityGroupRule>) -> Result<(), ApiError> {
    for r in rules {
        if let Peer::Group(other) = &r.peer
            && d.model.security_group(other).is_some_and(|x| !d.caller.owns(&x.meta.owner_id))
        {
            return Err(ValidationError::UnknownSecurityGroup { id: other.clone(), by: group_id.to_string() }.into());
        }
    }
    Ok(())
}

/// The rule `p` describes for `direction`; parameter names in errors start
/// with `prefix` (`Permissions.2.`, or empty for the flat fields).
fn rule_of(d: &Draft, p: &PermissionParam, prefix: &str, direction: Direction) -> Result<SecurityGroupRule, ApiError> {
    let name = |f: &str| format!("{prefix}{f}");
    let local = match direction {
        Direction::Ingress => ("DestCidrIp", &p.dest_cidr_ip),
        Direction::Egress => ("SourceCidrIp", &p.source_cidr_ip),
    };
    if given(local.1).is_some() {
        return Err(ApiError::unsupported(&name(local.0)));
    }
    if let Some(nic) = given(&p.nic_type)
        && !nic.eq_ignore_ascii_case("intranet")
    {
        return Err(ApiError::invalid(&name("NicType"), "only intranet exists in a VPC"));
    }
    let proto_name = given(&p.ip_protocol).ok_or_else(|| ApiError::missing(&name("IpProtocol")))?;
    let ip_protocol = ip_protocol("IpProtocol", proto_name)?;
    let range = given(&p.port_range).ok_or_else(|| ApiError::missing(&name("PortRange")))?;
    let port_range = port_range(ip_protocol, range)?;
    let peer = peer(d, p, prefix, direction)?;
    let policy = match given(&p.policy).unwrap_or("accept").to_ascii_lowercase().as_str() {
        "accept" => RulePolicy::Accept,
        "drop" => RulePolicy::Drop,
        other => return Err(ApiError::invalid(&name("Policy"), format!("{other:?} is not accept or drop"))),
    };
    let priority: u8 = match given(&p.priority) {
        None => 1,
        Some(v) => v.trim().parse::<u8>().ok().filter(|n| (1..=100).contains(n)).ok_or_else(|| {
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
        description: p.description.clone().unwrap_or_default(),
        creation_time: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })
}

/// The rules a call names: `Permissions.N` (at most 100), or the flat
/// fields as one rule; both at once are refused. Fields of the other
/// direction are unknown parameters (refused in strict mode, else logged).
fn rules_from(
    d: &Draft,
    action: &str,
    permissions: &[PermissionParam],
    flat: PermissionParam,
    direction: Direction,
) -> Result<Vec<SecurityGroupRule>, ApiError> {
    let flat_given = flat != PermissionParam::default();
    if flat_given && !permissions.is_empty() {
        return Err(ApiError::bad(
            "InvalidParameter",
            "Give the rules as Permissions.N or as the deprecated flat fields (IpProtocol, PortRange...), not both.",
        ));
    }
    if permissions.len() > MAX_PERMISSIONS {
        return Err(ApiError::invalid("Permissions", format!("at most {MAX_PERMISSIONS} rules in one call")));
    }
    let given: Vec<(String, &PermissionParam)> = if flat_given {
        vec![(String::new(), &flat)]
    } else {
        permissions.iter().enumerate().map(|(n, p)| (format!("Permissions.{}.", n + 1), p)).collect()
    };
    let unknown: BTreeSet<String> = given.iter().flat_map(|(prefix, p)| other_side(p, prefix, direction)).collect();
    d.unknown_parameters(action, unknown)?;
    given.iter().map(|(prefix, p)| rule_of(d, p, prefix, direction)).collect()
}

fn same_rule(a: &SecurityGroupRule, b: &SecurityGroupRule) -> bool {
    a.direction == b.direction
        && a.ip_protocol == b.ip_protocol
        && a.port_range == b.port_range
        && a.peer == b.peer
        && a.policy == b.policy
        && a.priority == b.priority
}

fn duplicate() -> ApiError {
    ApiError::bad("InvalidPermission.Duplicate", "The specified rule already exists in the security group.")
}

/// Adds the rules of an Authorize call; a rule the group has already is
/// `InvalidPermission.Duplicate`.
fn authorize(
    d: &mut Draft,
    action: &str,
    group_id: &str,
    permissions: &[PermissionParam],
    flat: PermissionParam,
    direction: Direction,
) -> Result<Empty, ApiError> {
    let i = group_index(d, group_id)?;
    let rules = rules_from(d, action, permissions, flat, direction)?;
    if rules.is_empty() {
        return Err(ApiError::missing("Permissions.1.IpProtocol"));
    }
    let added = rules.clone();
    let g = &mut d.model.security_groups[i];
    for r in rules {
        if g.rules.iter().any(|x| same_rule(x, &r)) {
            return Err(duplicate());
        }
        g.rules.push(r);
    }
    foreign_peers_unknown(d, group_id, &added)?;
    Ok(Empty {})
}

/// Removes the rules of a Revoke call, named by id or by their fields; as
/// the cloud, revoking a rule that is not there changes nothing.
fn revoke(
    d: &mut Draft,
    action: &str,
    group_id: &str,
    ids: &[String],
    permissions: &[PermissionParam],
    flat: PermissionParam,
    direction: Direction,
) -> Result<Empty, ApiError> {
    let i = group_index(d, group_id)?;
    let rules = rules_from(d, action, permissions, flat, direction)?;
    if ids.is_empty() && rules.is_empty() {
        return Err(ApiError::missing("SecurityGroupRuleId.1"));
    }
    let g = &mut d.model.security_groups[i];
    g.rules.retain(|x| x.direction != direction || !(ids.contains(&x.id) || rules.iter().any(|r| same_rule(x, r))));
    Ok(Empty {})
}

/// A rule as parameters (the fields its direction's model names).
fn params_of(r: &SecurityGroupRule) -> PermissionParam {
    let mut p = PermissionParam {
        ip_protocol: Some(protocol_name(r.ip_protocol).to_string()),
        port_range: Some(port_range_text(r)),
        policy: Some(policy_name(r.policy).to_string()),
        priority: Some(r.priority.to_string()),
        description: Some(r.description.clone()),
        ..PermissionParam::default()
    };
    let (cidr, group) = match r.direction {
        Direction::Ingress => (&mut p.source_cidr_ip, &mut p.source_group_id),
        Direction::Egress => (&mut p.dest_cidr_ip, &mut p.dest_group_id),
    };
    match &r.peer {
        Peer::Cidr(c) => *cidr = Some(c.to_string()),
        Peer::Group(g) => *group = Some(g.clone()),
    }
    p
}

/// Sets on `base` the fields `new` gives. The rule's other end keeps its
/// kind (a CIDR block stays a block, a group a group), as in the cloud.
fn overlay(base: &mut PermissionParam, new: PermissionParam, direction: Direction) -> Result<(), ApiError> {
    let (cidr_name, group_name) = match direction {
        Direction::Ingress => ("SourceCidrIp", "SourceGroupId"),
        Direction::Egress => ("DestCidrIp", "DestGroupId"),
    };
    let (old_cidr, old_group, new_cidr, new_group) = match direction {
        Direction::Ingress => (&base.source_cidr_ip, &base.source_group_id, &new.source_cidr_ip, &new.source_group_id),
        Direction::Egress => (&base.dest_cidr_ip, &base.dest_group_id, &new.dest_cidr_ip, &new.dest_group_id),
    };
    if given(old_cidr).is_some() && given(new_group).is_some() {
        return Err(ApiError::invalid(group_name, "the rule names a CIDR block; its kind of peer cannot change"));
    }
    if given(old_group).is_some() && given(new_cidr).is_some() {
        return Err(ApiError::invalid(cidr_name, "the rule names a security group; its kind of peer cannot change"));
    }
    let set = |to: &mut Option<String>, from: Option<String>| {
        if from.as_deref().is_some_and(|v| !v.is_empty()) {
            *to = from;
        }
    };
    set(&mut base.ip_protocol, new.ip_protocol);
    set(&mut base.port_range, new.port_range);
    set(&mut base.source_cidr_ip, new.source_cidr_ip);
    set(&mut base.dest_cidr_ip, new.dest_cidr_ip);
    set(&mut base.source_group_id, new.source_group_id);
    set(&mut base.source_group_owner_id, new.source_group_owner_id);
    set(&mut base.dest_group_id, new.dest_group_id);
    set(&mut base.dest_group_owner_id, new.dest_group_owner_id);
    set(&mut base.policy, new.policy);
    set(&mut base.priority, new.priority);
    set(&mut base.nic_type, new.nic_type);
    if new.description.is_some() {
        base.description = new.description;
    }
    Ok(())
}

/// Changes the fields of rule `rule_id` that `new` gives; the result must
/// not be another rule of the group.
fn modify_rule(
    d: &mut Draft,
    group_id: &str,
    rule_id: &str,
    new: PermissionParam,
    direction: Direction,
) -> Result<Empty, ApiError> {
    let i = group_index(d, group_id)?;
    let g = &d.model.security_groups[i];
    let pos = g.rules.iter().position(|r| r.id == rule_id && r.direction == direction).ok_or_else(|| {
        ApiError::not_found(
            "InvalidSecurityGroupRuleId.NotFound",
            format!("The security group {group_id} has no {} rule {rule_id}.", direction_name(direction)),
        )
    })?;
    let old = &g.rules[pos];
    let mut p = params_of(old);
    overlay(&mut p, new, direction)?;
    let rule = SecurityGroupRule { id: old.id.clone(), creation_time: old.creation_time.clone(), ..rule_of(d, &p, "", direction)? };
    if g.rules.iter().enumerate().any(|(n, x)| n != pos && same_rule(x, &rule)) {
        return Err(duplicate());
    }
    foreign_peers_unknown(d, group_id, [&rule])?;
    d.model.security_groups[i].rules[pos] = rule;
    Ok(Empty {})
}

/// A request carrying one rule as flat fields: the fields both directions
/// share, the ones of `$peer` (copied into [`PermissionParam`] by name),
/// then the action's own.
macro_rules! rule_request {
    ($(#[$doc:meta])* $name:ident { peer: [$($peer:ident),*], $($own:tt)* }) => {
        $(#[$doc])*
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            /// The group whose rules change.
            security_group_id: String,
            /// Deprecated flat form of one rule: tcp, udp, icmp or all.
            ip_protocol: Option<String>,
            /// Flat form: `from/to`, or `-1/-1` for icmp and all.
            port_range: Option<String>,
            /// Flat form: accept (default) or drop.
            policy: Option<String>,
            /// Flat form: 1..=100 (default 1), text as the SDK types it.
            priority: Option<String>,
            /// Flat form: the rule's description.
            description: Option<String>,
            /// Flat form: only intranet exists in a VPC.
            nic_type: Option<String>,
            $(
                /// Flat form: see [`PermissionParam`].
                $peer: Option<String>,
            )*
            /// Rules match destination ports only.
            #[serde(rename = "SourcePortRange")]
            _source_port_range: Option<Unsupported>,
            /// IPv6 is not forwarded by this router.
            #[serde(rename = "Ipv6SourceCidrIp")]
            _ipv6_source_cidr_ip: Option<Unsupported>,
            /// IPv6 is not forwarded by this router.
            #[serde(rename = "Ipv6DestCidrIp")]
            _ipv6_dest_cidr_ip: Option<Unsupported>,
            $($own)*
        }

        impl $name {
            /// The flat fields as one rule (all empty when none is given).
            fn flat(&self) -> PermissionParam {
                PermissionParam {
                    ip_protocol: self.ip_protocol.clone(),
                    port_range: self.port_range.clone(),
                    policy: self.policy.clone(),
                    priority: self.priority.clone(),
                    description: self.description.clone(),
                    nic_type: self.nic_type.clone(),
                    $($peer: self.$peer.clone(),)*
                    ..PermissionParam::default()
                }
            }
        }
    };
}

rule_request! {
    /// AuthorizeSecurityGroup: inbound rules.
    AuthorizeSecurityGroup {
        peer: [source_cidr_ip, dest_cidr_ip, source_group_id, source_group_owner_id],
        /// Accounts are known here by id only.
        #[serde(rename = "SourceGroupOwnerAccount")]
        _source_group_owner_account: Option<Unsupported>,
        /// Prefix lists do not exist here.
        #[serde(rename = "SourcePrefixListId")]
        _source_prefix_list_id: Option<Unsupported>,
        /// The rules (Permissions.N.Field), as the current SDKs send them.
        #[serde(default)]
        permissions: Vec<PermissionParam>,
    }
}

rule_request! {
    /// AuthorizeSecurityGroupEgress: outbound rules.
    AuthorizeSecurityGroupEgress {
        peer: [source_cidr_ip, dest_cidr_ip, dest_group_id, dest_group_owner_id],
        /// Accounts are known here by id only.
        #[serde(rename = "DestGroupOwnerAccount")]
        _dest_group_owner_account: Option<Unsupported>,
        /// Prefix lists do not exist here.
        #[serde(rename = "DestPrefixListId")]
        _dest_prefix_list_id: Option<Unsupported>,
        /// The rules (Permissions.N.Field), as the current SDKs send them.
        #[serde(default)]
        permissions: Vec<PermissionParam>,
    }
}

rule_request! {
    /// RevokeSecurityGroup: removes inbound rules, by id or by fields.
    RevokeSecurityGroup {
        peer: [source_cidr_ip, dest_cidr_ip, source_group_id, source_group_owner_id],
        /// Accounts are known here by id only.
        #[serde(rename = "SourceGroupOwnerAccount")]
        _source_group_owner_account: Option<Unsupported>,
        /// Prefix lists do not exist here.
        #[serde(rename = "SourcePrefixListId")]
        _source_prefix_list_id: Option<Unsupported>,
        /// The rules to remove by their fields.
        #[serde(default)]
        permissions: Vec<PermissionParam>,
        /// The rules to remove by id (SecurityGroupRuleId.N).
        #[serde(default)]
        security_group_rule_id: Vec<String>,
    }
}

rule_request! {
    /// RevokeSecurityGroupEgress: removes outbound rules, by id or by fields.
    RevokeSecurityGroupEgress {
        peer: [source_cidr_ip, dest_cidr_ip, dest_group_id, dest_group_owner_id],
        /// Accounts are known here by id only.
        #[serde(rename = "DestGroupOwnerAccount")]
        _dest_group_owner_account: Option<Unsupported>,
        /// Prefix lists do not exist here.
        #[serde(rename = "DestPrefixListId")]
        _dest_prefix_list_id: Option<Unsupported>,
        /// The rules to remove by their fields.
        #[serde(default)]
        permissions: Vec<PermissionParam>,
        /// The rules to remove by id (SecurityGroupRuleId.N).
        #[serde(default)]
        security_group_rule_id: Vec<String>,
    }
}

rule_request! {
    /// ModifySecurityGroupRule: changes the given fields of one inbound rule.
    ModifySecurityGroupRule {
        peer: [source_cidr_ip, dest_cidr_ip, source_group_id, source_group_owner_id],
        /// Accounts are known here by id only.
        #[serde(rename = "SourceGroupOwnerAccount")]
        _source_group_owner_account: Option<Unsupported>,
        /// Prefix lists do not exist here.
        #[serde(rename = "SourcePrefixListId")]
        _source_prefix_list_id: Option<Unsupported>,
        /// Port lists do not exist here.
        #[serde(rename = "PortRangeListId")]
        _port_range_list_id: Option<Unsupported>,
        /// The rule (required here: the cloud's older form, naming the
        /// rule by its fields to change its description, is refused).
        security_group_rule_id: Option<String>,
    }
}

rule_request! {
    /// ModifySecurityGroupEgressRule: changes the given fields of one
    /// outbound rule.
    ModifySecurityGroupEgressRule {
        peer: [source_cidr_ip, dest_cidr_ip, dest_group_id, dest_group_owner_id],
        /// Accounts are known here by id only.
        #[serde(rename = "DestGroupOwnerAccount")]
        _dest_group_owner_account: Option<Unsupported>,
        /// Prefix lists do not exist here.
        #[serde(rename = "DestPrefixListId")]
        _dest_prefix_list_id: Option<Unsupported>,
        /// Port lists do not exist here.
        #[serde(rename = "PortRangeListId")]
        _port_range_list_id: Option<Unsupported>,
        /// The rule (required here, as for ModifySecurityGroupRule).
        security_group_rule_id: Option<String>,
    }
}

impl Action for AuthorizeSecurityGroup {
    const NAME: &'static str = "AuthorizeSecurityGroup";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Adds inbound rules to a security group (SG-1, SG-3, SG-5).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let flat = self.flat();
        authorize(d, Self::NAME, &self.security_group_id, &self.permissions, flat, Direction::Ingress)
    }
}

impl Action for AuthorizeSecurityGroupEgress {
    const NAME: &'static str = "AuthorizeSecurityGroupEgress";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Adds outbound rules to a security group (SG-1, SG-3).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let flat = self.flat();
        authorize(d, Self::NAME, &self.security_group_id, &self.permissions, flat, Direction::Egress)
    }
}

impl Action for RevokeSecurityGroup {
    const NAME: &'static str = "RevokeSecurityGroup";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Removes inbound rules of a security group, by id or by fields.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let flat = self.flat();
        let ids = self.security_group_rule_id;
        revoke(d, Self::NAME, &self.security_group_id, &ids, &self.permissions, flat, Direction::Ingress)
    }
}

impl Action for RevokeSecurityGroupEgress {
    const NAME: &'static str = "RevokeSecurityGroupEgress";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Removes outbound rules of a security group, by id or by fields.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let flat = self.flat();
        let ids = self.security_group_rule_id;
        revoke(d, Self::NAME, &self.security_group_id, &ids, &self.permissions, flat, Direction::Egress)
    }
}

impl Action for ModifySecurityGroupRule {
    const NAME: &'static str = "ModifySecurityGroupRule";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Changes an inbound rule named by SecurityGroupRuleId: the fields given, its kind of peer kept.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let flat = self.flat();
        let rule = given(&self.security_group_rule_id).ok_or_else(|| ApiError::missing("SecurityGroupRuleId"))?;
        modify_rule(d, &self.security_group_id, rule, flat, Direction::Ingress)
    }
}

impl Action for ModifySecurityGroupEgressRule {
    const NAME: &'static str = "ModifySecurityGroupEgressRule";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Changes an outbound rule named by SecurityGroupRuleId: the fields given, its kind of peer kept.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let flat = self.flat();
        let rule = given(&self.security_group_rule_id).ok_or_else(|| ApiError::missing("SecurityGroupRuleId"))?;
        modify_rule(d, &self.security_group_id, rule, flat, Direction::Egress)
    }
}

// ---------------------------------------------------------------- ModifySecurityGroupPolicy

/// ModifySecurityGroupPolicy.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifySecurityGroupPolicy {
    security_group_id: String,
    /// Accept (members reach each other) or Drop (isolated), any case.
    inner_access_policy: String,
}

impl Action for ModifySecurityGroupPolicy {
    const NAME: &'static str = "ModifySecurityGroupPolicy";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Sets InnerAccessPolicy (Accept, Drop) of a basic group; enterprise groups always isolate members (SG-2).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let policy = self.inner_access_policy.as_str();
        if policy.is_empty() {
            return Err(ApiError::missing("InnerAccessPolicy"));
        }
        let i = group_index(d, &self.security_group_id)?;
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
        Ok(Empty {})
    }
}

// ---------------------------------------------------------------- DescribeSecurityGroups

/// DescribeSecurityGroups. Paged by PageNumber/PageSize (the groups in the
/// order they were made) or by MaxResults/NextToken (in descending id
/// order, as the cloud lists them; a NextToken continues after the last id
/// returned, so groups added or removed between calls neither repeat nor
/// shift the rest). A NextToken this router did not make is
/// `InvalidNextToken`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSecurityGroups {
    /// Only the groups of this VPC.
    vpc_id: Option<String>,
    /// Only this group.
    security_group_id: Option<String>,
    /// Only these groups: a JSON array (or SecurityGroupIds.N), at most 100.
    #[serde(default)]
    security_group_ids: Vec<String>,
    /// Only the groups of this name.
    security_group_name: Option<String>,
    /// SecurityGroupName matches any group whose name contains it.
    fuzzy_query: Option<bool>,
    /// normal or enterprise.
    security_group_type: Option<String>,
    /// vpc (every group here) or classic (none).
    network_type: Option<String>,
    /// No group here is managed by a cloud service: `true` finds none.
    service_managed: Option<bool>,
    /// `false` leaves EcsCount and AvailableInstanceAmount out.
    is_query_ecs_count: Option<bool>,
    /// Only groups with these tags.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// Page, from 1.
    page_number: Option<u32>,
    /// Entries per page (at most 100).
    page_size: Option<u32>,
    /// Entries per token page (10 by default, at most 100).
    max_results: Option<u32>,
    /// The previous answer's NextToken.
    next_token: Option<String>,
}

/// One group in DescribeSecurityGroups.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroupItem {
    security_group_id: String,
    security_group_name: String,
    security_group_type: &'static str,
    vpc_id: String,
    description: String,
    creation_time: String,
    resource_group_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ecs_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_instance_amount: Option<usize>,
    rule_count: usize,
    group_to_group_rule_count: usize,
    service_managed: bool,
    tags: tag::EcsTags,
}

/// `{"SecurityGroup": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroups {
    security_group: Vec<SecurityGroupItem>,
}

/// DescribeSecurityGroups' answer: PageNumber, PageSize and TotalCount in
/// the page-number form only (as the cloud).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSecurityGroupsResponse {
    security_groups: SecurityGroups,
    region_id: String,
    next_token: String,
    #[serde(flatten)]
    page: Option<PageInfo>,
}

/// Most instances a basic group takes (AvailableInstanceAmount).
const GROUP_CAPACITY: usize = 2000;

impl DescribeSecurityGroups {
    fn matches(&self, d: &Draft, g: &SecurityGroup) -> bool {
        let name_ok = given(&self.security_group_name).is_none_or(|n| {
            let name = g.name.as_deref().unwrap_or_default();
            if self.fuzzy_query == Some(true) { name.contains(n) } else { name == n }
        });
        d.in_view(&g.meta)
            && given(&d.common.resource_group_id).is_none_or(|r| g.meta.resource_group_id == r)
            && given(&self.vpc_id).is_none_or(|v| g.vpc_id == v)
            && given(&self.security_group_id).is_none_or(|id| g.id == id)
            && (self.security_group_ids.is_empty() || self.security_group_ids.contains(&g.id))
            && name_ok
            && given(&self.security_group_type).is_none_or(|t| type_name(g.security_group_type).eq_ignore_ascii_case(t))
            && given(&self.network_type).is_none_or(|t| t.eq_ignore_ascii_case("vpc"))
            && self.service_managed != Some(true)
            && tag::matches(&g.meta.tags, &self.tag)
    }

    fn item(&self, d: &Draft, g: &SecurityGroup) -> SecurityGroupItem {
        let members = d.model.instances.iter().filter(|i| i.security_group_ids.contains(&g.id)).count();
        let counts = self.is_query_ecs_count != Some(false);
        SecurityGroupItem {
            security_group_id: g.id.clone(),
            security_group_name: g.name.clone().unwrap_or_default(),
            security_group_type: type_name(g.security_group_type),
            vpc_id: g.vpc_id.clone(),
            description: g.meta.description.clone(),
            creation_time: g.meta.creation_time.clone(),
            resource_group_id: g.meta.resource_group_id.clone(),
            ecs_count: counts.then_some(members),
            available_instance_amount: counts.then_some(GROUP_CAPACITY.saturating_sub(members)),
            rule_count: g.rules.len(),
            group_to_group_rule_count: g.rules.iter().filter(|r| matches!(r.peer, Peer::Group(_))).count(),
            service_managed: false,
            tags: tag::EcsTags::of(&g.meta.tags),
        }
    }

    fn check(&self) -> Result<(), ApiError> {
        if self.security_group_ids.len() > 100 {
            return Err(ApiError::invalid("SecurityGroupIds", "at most 100 security group ids"));
        }
        if let Some(t) = given(&self.network_type)
            && !t.eq_ignore_ascii_case("vpc")
            && !t.eq_ignore_ascii_case("classic")
        {
            return Err(ApiError::invalid("NetworkType", format!("{t:?} is not vpc or classic")));
        }
        let by_token = self.max_results.is_some() || given(&self.next_token).is_some();
        if by_token && (self.page_number.is_some() || self.page_size.is_some()) {
            return Err(ApiError::bad(
                "InvalidParameter",
                "Page by MaxResults and NextToken or by PageNumber and PageSize, not both.",
            ));
        }
        Ok(())
    }
}

impl Action for DescribeSecurityGroups {
    const NAME: &'static str = "DescribeSecurityGroups";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Lists security groups by VPC, id(s), name, type, tags; paged by PageNumber or by NextToken (at most 100).";
    type Response = DescribeSecurityGroupsResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeSecurityGroupsResponse, ApiError> {
        let region_id = d.require_region()?.to_string();
        self.check()?;
        let mut groups: Vec<&SecurityGroup> = d.model.security_groups.iter().filter(|g| self.matches(d, g)).collect();
        let (groups, next_token, page) = if self.max_results.is_some() || given(&self.next_token).is_some() {
            let max = paging::max_results(self.max_results, 1..=100, 10)?;
            let after = given(&self.next_token).map(|t| id_of_token(t, "sg")).transpose()?;
            groups.sort_by(|a, b| b.id.cmp(&a.id));
            let keyed = groups.into_iter().map(|g| (g.id.as_str(), g)).collect();
            let (groups, next) = paging::page_after("sg", keyed, after.as_deref().as_ref(), max, true);
            (groups, next, None)
        } else {
            let (groups, page) = paginate(groups, self.page_number, self.page_size, 100)?;
            (groups, String::new(), Some(page))
        };
        let security_group = groups.into_iter().map(|g| self.item(d, g)).collect();
        Ok(DescribeSecurityGroupsResponse { security_groups: SecurityGroups { security_group }, region_id, next_token, page })
    }
}

// ---------------------------------------------------------------- DescribeSecurityGroupAttribute

/// DescribeSecurityGroupAttribute. Without MaxResults and NextToken every
/// rule is answered, in the order authorised; with them, a page of rules in
/// rule-id order (a NextToken continues after the last id returned; one
/// this router did not make is `InvalidNextToken`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSecurityGroupAttribute {
    security_group_id: String,
    /// all (default), ingress or egress.
    direction: Option<String>,
    /// intranet (internet is read as intranet in a VPC, as the cloud does).
    nic_type: Option<String>,
    /// Rules per token page: 10..=1000 (default 500).
    max_results: Option<u32>,
    /// The previous answer's NextToken.
    next_token: Option<String>,
    /// snapshotPolicyIds: also answer the group's snapshot policies (there
    /// are none here).
    attribute: Option<String>,
}

/// One rule in DescribeSecurityGroupAttribute, with the cloud's spelling:
/// IpProtocol upper case (`TCP`), PortRange `22/22` (`-1/-1` for ICMP and
/// ALL), Policy `Accept`/`Drop`, Priority a string (the SDK types it str).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionItem {
    security_group_rule_id: String,
    direction: &'static str,
    ip_protocol: &'static str,
    port_range: String,
    source_cidr_ip: String,
    dest_cidr_ip: String,
    source_group_id: String,
    source_group_name: String,
    source_group_owner_account: String,
    dest_group_id: String,
    dest_group_name: String,
    dest_group_owner_account: String,
    source_prefix_list_id: String,
    dest_prefix_list_id: String,
    policy: &'static str,
    priority: String,
    nic_type: &'static str,
    description: String,
    create_time: String,
    source_port_range: String,
    ipv6_source_cidr_ip: String,
    ipv6_dest_cidr_ip: String,
}

/// `{"Permission": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Permissions {
    permission: Vec<PermissionItem>,
}

/// `{"SnapshotPolicyId": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapshotPolicyIds {
    snapshot_policy_id: Vec<String>,
}

/// DescribeSecurityGroupAttribute's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSecurityGroupAttributeResponse {
    security_group_id: String,
    security_group_name: String,
    vpc_id: String,
    description: String,
    region_id: String,
    inner_access_policy: &'static str,
    permissions: Permissions,
    next_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot_policy_ids: Option<SnapshotPolicyIds>,
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    }
}

/// IpProtocol as the answers spell it.
fn protocol_name(p: IpProtocol) -> &'static str {
    match p {
        IpProtocol::Tcp => "TCP",
        IpProtocol::Udp => "UDP",
        IpProtocol::Icmp => "ICMP",
        IpProtocol::All => "ALL",
    }
}

/// Policy as the answers spell it.
fn policy_name(p: RulePolicy) -> &'static str {
    match p {
        RulePolicy::Accept => "Accept",
        RulePolicy::Drop => "Drop",
    }
}

/// PortRange as the answers spell it.
fn port_range_text(r: &SecurityGroupRule) -> String {
    match r.ip_protocol {
        IpProtocol::Tcp | IpProtocol::Udp => format!("{}/{}", r.port_range.0, r.port_range.1),
        IpProtocol::Icmp | IpProtocol::All => "-1/-1".to_string(),
    }
}

fn permission_item(d: &Draft, r: &SecurityGroupRule) -> PermissionItem {
    let group_name = |gid: &str| d.model.security_group(gid).and_then(|x| x.name.clone()).unwrap_or_default();
    let (cidr, group) = match &r.peer {
        Peer::Cidr(c) => (c.to_string(), String::new()),
        Peer::Group(g) => (String::new(), g.clone()),
    };
    let (source, dest) = match r.direction {
        Direction::Ingress => ((cidr, group), (String::new(), String::new())),
        Direction::Egress => ((String::new(), String::new()), (cidr, group)),
    };
    PermissionItem {
        security_group_rule_id: r.id.clone(),
        direction: direction_name(r.direction),
        ip_protocol: protocol_name(r.ip_protocol),
        port_range: port_range_text(r),
        source_group_name: if source.1.is_empty() { String::new() } else { group_name(&source.1) },
        dest_group_name: if dest.1.is_empty() { String::new() } else { group_name(&dest.1) },
        source_cidr_ip: source.0,
        source_group_id: source.1,
        dest_cidr_ip: dest.0,
        dest_group_id: dest.1,
        source_group_owner_account: String::new(),
        dest_group_owner_account: String::new(),
        source_prefix_list_id: String::new(),
        dest_prefix_list_id: String::new(),
        policy: policy_name(r.policy),
        priority: r.priority.to_string(),
        nic_type: "intranet",
        description: r.description.clone(),
        create_time: r.creation_time.clone(),
        source_port_range: String::new(),
        ipv6_source_cidr_ip: String::new(),
        ipv6_dest_cidr_ip: String::new(),
    }
}

impl DescribeSecurityGroupAttribute {
    /// The directions asked for (None: both).
    fn direction(&self) -> Result<Option<Direction>, ApiError> {
        match given(&self.direction).unwrap_or("all").to_ascii_lowercase().as_str() {
            "all" => Ok(None),
            "ingress" => Ok(Some(Direction::Ingress)),
            "egress" => Ok(Some(Direction::Egress)),
            other => Err(ApiError::invalid("Direction", format!("{other:?} is not all, ingress or egress"))),
        }
    }

    /// True if the snapshot policies are asked for.
    fn snapshot_policies(&self) -> Result<bool, ApiError> {
        match given(&self.attribute) {
            None => Ok(false),
            Some(a) if a.eq_ignore_ascii_case("snapshotPolicyIds") => Ok(true),
            Some(a) => Err(ApiError::invalid("Attribute", format!("{a:?} is not snapshotPolicyIds"))),
        }
    }
}

impl Action for DescribeSecurityGroupAttribute {
    const NAME: &'static str = "DescribeSecurityGroupAttribute";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "A security group's rules (Direction all, ingress, egress) and InnerAccessPolicy.";
    type Response = DescribeSecurityGroupAttributeResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeSecurityGroupAttributeResponse, ApiError> {
        d.require_region()?;
        let dir = self.direction()?;
        if let Some(nic) = given(&self.nic_type)
            && !nic.eq_ignore_ascii_case("intranet")
            && !nic.eq_ignore_ascii_case("internet")
        {
            return Err(ApiError::invalid("NicType", format!("{nic:?} is not intranet or internet")));
        }
        let snapshots = self.snapshot_policies()?;
        let g = &d.model.security_groups[group_index(d, &self.security_group_id)?];
        let mut rules: Vec<&SecurityGroupRule> = g.rules.iter().filter(|r| dir.is_none_or(|x| r.direction == x)).collect();
        let mut next_token = String::new();
        if self.max_results.is_some() || given(&self.next_token).is_some() {
            let max = paging::max_results(self.max_results, 10..=1000, 500)?;
            let after = given(&self.next_token).map(|t| id_of_token(t, "sgr")).transpose()?;
            rules.sort_by(|a, b| a.id.cmp(&b.id));
            let keyed = rules.into_iter().map(|r| (r.id.as_str(), r)).collect();
            (rules, next_token) = paging::page_after("sgr", keyed, after.as_deref().as_ref(), max, false);
        }
        Ok(DescribeSecurityGroupAttributeResponse {
            security_group_id: g.id.clone(),
            security_group_name: g.name.clone().unwrap_or_default(),
            vpc_id: g.vpc_id.clone(),
            description: g.meta.description.clone(),
            region_id: g.meta.region_id.clone(),
            inner_access_policy: if g.members_reach_each_other() { "Accept" } else { "Drop" },
            permissions: Permissions { permission: rules.into_iter().map(|r| permission_item(d, r)).collect() },
            next_token,
            snapshot_policy_ids: snapshots.then(|| SnapshotPolicyIds { snapshot_policy_id: Vec::new() }),
        })
    }
}

// ---------------------------------------------------------------- Join / Leave

/// The instance a Join/Leave call names (InstanceId or NetworkInterfaceId).
fn member(d: &Draft, instance_id: &Option<String>, eni_id: &Option<String>) -> Result<usize, ApiError> {
    match (given(instance_id), given(eni_id)) {
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

/// JoinSecurityGroup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinSecurityGroup {
    security_group_id: String,
    /// The instance whose ENI joins (or NetworkInterfaceId).
    instance_id: Option<String>,
    /// The ENI that joins (or InstanceId).
    network_interface_id: Option<String>,
}

impl Action for JoinSecurityGroup {
    const NAME: &'static str = "JoinSecurityGroup";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Puts an instance's ENI in a security group (at most 5 groups, SG-4).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let id = self.security_group_id.as_str();
        group_index(d, id)?;
        let i = member(d, &self.instance_id, &self.network_interface_id)?;
        let inst = &mut d.model.instances[i];
        if inst.security_group_ids.iter().any(|g| g == id) {
            return Err(ApiError::bad("InvalidInstanceId.AlreadyExists", format!("The instance is already in {id}.")));
        }
        if inst.security_group_ids.len() >= model::MAX_GROUPS_PER_ENI {
            return Err(ApiError::bad(
                "JoinedGroupLimitExceed",
                format!("An ENI can be in at most {} security groups.", model::MAX_GROUPS_PER_ENI),
            ));
        }
        inst.security_group_ids.push(id.to_string());
        Ok(Empty {})
    }
}

/// LeaveSecurityGroup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LeaveSecurityGroup {
    security_group_id: String,
    /// The instance whose ENI leaves (or NetworkInterfaceId).
    instance_id: Option<String>,
    /// The ENI that leaves (or InstanceId).
    network_interface_id: Option<String>,
}

impl Action for LeaveSecurityGroup {
    const NAME: &'static str = "LeaveSecurityGroup";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Takes an instance's ENI out of a security group; it stays in at least one.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let id = self.security_group_id.as_str();
        group_index(d, id)?;
        let i = member(d, &self.instance_id, &self.network_interface_id)?;
        let inst = &mut d.model.instances[i];
        let Some(pos) = inst.security_group_ids.iter().position(|g| g == id) else {
            return Err(ApiError::bad("InvalidSecurityGroupId.NotFound", format!("The instance is not in {id}.")));
        };
        if inst.security_group_ids.len() == 1 {
            return Err(ApiError::bad(
                "InvalidOperation.LastSecurityGroup",
                "An instance must stay in at least one security group.",
            ));
        }
        inst.security_group_ids.remove(pos);
        Ok(Empty {})
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use serde_json::json;

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
    fn sg_1_a_rule_sent_back_as_described_with_its_empty_fields_is_revoked() {
        // footmark (Ansible's ali_security_group) revokes a rule by sending
        // every field DescribeSecurityGroupAttribute gave, the empty ones too.
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let sg = group(&mut s, &vpc, &[]);
        s.ok("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("IpProtocol", "tcp"), ("PortRange", "22/22"),
            ("SourceCidrIp", "10.0.0.0/16"), ("Policy", "accept"), ("Priority", "1")]);
        let a = s.ok("DescribeSecurityGroupAttribute", &[R, ("SecurityGroupId", &sg)]);
        let rule = a["Permissions"]["Permission"][0].as_object().unwrap().clone();
        let takes = ["NicType", "SourcePrefixListId", "SourcePortRange", "SourceGroupOwnerAccount", "PortRange", "IpProtocol",
            "SourceCidrIp", "Priority", "DestCidrIp", "SourceGroupId", "Description", "Policy", "Ipv6SourceCidrIp", "Ipv6DestCidrIp"];
        let echoed: Vec<(String, String)> =
            takes.iter().map(|k| (k.to_string(), rule[*k].as_str().unwrap_or_else(|| panic!("{k} in {rule:?}")).to_string())).collect();
        assert!(echoed.iter().any(|(k, v)| k == "Ipv6SourceCidrIp" && v.is_empty()), "{echoed:?}");
        let call = |extra: &[(&str, &str)]| {
            let mut p: Vec<(&str, &str)> = vec![R, ("SecurityGroupId", &sg)];
            p.extend(echoed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            p.extend_from_slice(extra);
            p.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()
        };
        // A value where there is none here is still refused, naming it.
        for (k, v) in [("Ipv6SourceCidrIp", "2001:db8::/32"), ("SourcePrefixListId", "pl-1"), ("SourcePortRange", "1/2")] {
            let mut p = call(&[]);
            p.retain(|(n, _)| n != k);
            p.push((k.into(), v.into()));
            let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let e = s.err("RevokeSecurityGroup", &p);
            assert_eq!(e.code, "UnsupportedParameter", "{k}={v}: {e:?}");
            assert!(e.message.contains(k), "{e:?}");
            let e = s.err("AuthorizeSecurityGroup", &p);
            assert_eq!(e.code, "UnsupportedParameter", "{k}={v}: {e:?}");
        }
        assert_eq!(s.service.model().security_groups[0].rules.len(), 1);
        let p = call(&[]);
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        s.ok("RevokeSecurityGroup", &p);
        assert!(s.service.model().security_groups[0].rules.is_empty(), "the rule was not revoked");
        // The same empty fields in Permissions.N and on an outbound rule.
        s.ok("AuthorizeSecurityGroupEgress", &[R, ("SecurityGroupId", &sg), ("Permissions.1.IpProtocol", "icmp"),
            ("Permissions.1.PortRange", "-1/-1"), ("Permissions.1.DestCidrIp", "10.0.0.0/16"), ("Permissions.1.Ipv6DestCidrIp", ""),
            ("Permissions.1.DestPrefixListId", ""), ("Permissions.1.DestGroupOwnerAccount", "")]);
        s.ok("RevokeSecurityGroupEgress", &[R, ("SecurityGroupId", &sg), ("IpProtocol", "ICMP"), ("PortRange", "-1/-1"),
            ("DestCidrIp", "10.0.0.0/16"), ("Ipv6DestCidrIp", ""), ("Ipv6SourceCidrIp", ""), ("DestPrefixListId", ""),
            ("DestGroupOwnerAccount", ""), ("SourcePortRange", ""), ("SourceCidrIp", "")]);
        assert!(s.service.model().security_groups[0].rules.is_empty(), "the outbound rule was not revoked");
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

    fn group(s: &mut Scratch, vpc: &str, extra: &[(&str, &str)]) -> String {
        let mut p = vec![R, ("VpcId", vpc)];
        p.extend_from_slice(extra);
        s.ok("CreateSecurityGroup", &p)["SecurityGroupId"].as_str().unwrap().to_string()
    }

    #[test]
    fn tags_at_creation_are_filtered_on_and_answered_as_ecs_spells_them() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let web = group(&mut s, &vpc, &[("Tag.1.Key", "env"), ("Tag.1.Value", "lab"), ("Tag.2.Key", "team")]);
        group(&mut s, &vpc, &[("Tag.1.Key", "env"), ("Tag.1.Value", "prod")]);
        let v = s.ok("DescribeSecurityGroups", &[R, ("Tag.1.Key", "env"), ("Tag.1.Value", "lab")]);
        assert_eq!(v["TotalCount"], 1);
        let g = &v["SecurityGroups"]["SecurityGroup"][0];
        assert_eq!(g["SecurityGroupId"], web.as_str());
        assert_eq!(g["Tags"]["Tag"], json!([{"TagKey": "env", "TagValue": "lab"}, {"TagKey": "team", "TagValue": ""}]));
        assert_eq!(s.ok("DescribeSecurityGroups", &[R, ("Tag.1.Key", "env")])["TotalCount"], 2);
        assert_eq!(s.err("CreateSecurityGroup", &[R, ("VpcId", &vpc), ("Tag.1.Key", "acs:x")]).code, "InvalidTagKey.Malformed");
        assert_eq!(s.err("CreateSecurityGroup", &[R, ("VpcId", &vpc), ("ServiceManaged", "true")]).code, "UnsupportedParameter");
        assert_eq!(s.service.model().security_groups.len(), 2);
    }

    #[test]
    fn describe_filters_name_fuzzily_and_counts_on_request() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        group(&mut s, &vpc, &[("SecurityGroupName", "web-front")]);
        group(&mut s, &vpc, &[("SecurityGroupName", "db")]);
        let n = |s: &mut Scratch, p: &[(&str, &str)]| {
            let mut q = vec![R];
            q.extend_from_slice(p);
            s.ok("DescribeSecurityGroups", &q)["TotalCount"].as_u64().unwrap()
        };
        assert_eq!(n(&mut s, &[("SecurityGroupName", "web")]), 0);
        assert_eq!(n(&mut s, &[("SecurityGroupName", "web"), ("FuzzyQuery", "true")]), 1);
        assert_eq!(n(&mut s, &[("NetworkType", "classic")]), 0);
        assert_eq!(n(&mut s, &[("NetworkType", "vpc")]), 2);
        assert_eq!(n(&mut s, &[("ServiceManaged", "true")]), 0);
        let v = s.ok("DescribeSecurityGroups", &[R, ("IsQueryEcsCount", "false")]);
        assert!(v["SecurityGroups"]["SecurityGroup"][0].get("EcsCount").is_none());
        let v = s.ok("DescribeSecurityGroups", &[R]);
        assert_eq!(v["SecurityGroups"]["SecurityGroup"][0]["EcsCount"], 0);
        assert_eq!(s.err("DescribeSecurityGroups", &[R, ("NetworkType", "wan")]).code, "InvalidParameter");
    }

    #[test]
    fn next_token_pages_stay_right_when_groups_come_and_go() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        for _ in 0..5 {
            group(&mut s, &vpc, &[]);
        }
        let page = |s: &mut Scratch, token: &str| {
            let mut p = vec![R, ("MaxResults", "2")];
            if !token.is_empty() {
                p.push(("NextToken", token));
            }
            let v = s.ok("DescribeSecurityGroups", &p);
            assert!(v.get("TotalCount").is_none(), "{v}");
            let ids: Vec<String> =
                v["SecurityGroups"]["SecurityGroup"].as_array().unwrap().iter().map(|g| g["SecurityGroupId"].as_str().unwrap().to_string()).collect();
            (ids, v["NextToken"].as_str().unwrap().to_string())
        };
        let (first, token) = page(&mut s, "");
        assert_eq!(first.len(), 2);
        assert!(first[0] > first[1], "descending id order");
        // Between calls: a group already returned goes, a new one comes.
        s.ok("DeleteSecurityGroup", &[R, ("SecurityGroupId", &first[1])]);
        let added = group(&mut s, &vpc, &[]);
        let mut seen = first.clone();
        let mut token = token;
        while !token.is_empty() {
            let (ids, next) = page(&mut s, &token);
            seen.extend(ids);
            token = next;
        }
        let mut all: Vec<String> = s.service.model().security_groups.iter().map(|g| g.id.clone()).collect();
        all.push(first[1].clone());
        // Every group that existed throughout is listed exactly once; the new
        // one is listed only if its id sorts after the point reached.
        let expected: Vec<&String> = all.iter().filter(|id| **id != added || id.as_str() < first[1].as_str()).collect();
        let mut got = seen.clone();
        got.sort();
        got.dedup();
        assert_eq!(got.len(), seen.len(), "a group was listed twice: {seen:?}");
        let mut want: Vec<String> = expected.into_iter().cloned().collect();
        want.sort();
        assert_eq!(got, want);
        let e = s.err("DescribeSecurityGroups", &[R, ("NextToken", "garbled")]);
        assert_eq!((e.status, e.code.as_str()), (400, "InvalidNextToken"));
        let e = s.err("DescribeSecurityGroups", &[R, ("MaxResults", "2"), ("PageNumber", "1")]);
        assert_eq!(e.code, "InvalidParameter");
    }

    #[test]
    fn modify_attribute_renames_and_describes() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let sg = group(&mut s, &vpc, &[("SecurityGroupName", "old"), ("Description", "d0")]);
        s.ok("ModifySecurityGroupAttribute", &[R, ("SecurityGroupId", &sg), ("SecurityGroupName", "new"), ("Description", "d1")]);
        let a = s.ok("DescribeSecurityGroupAttribute", &[R, ("SecurityGroupId", &sg)]);
        assert_eq!((a["SecurityGroupName"].as_str(), a["Description"].as_str()), (Some("new"), Some("d1")));
        let e = s.err("ModifySecurityGroupAttribute", &[R, ("SecurityGroupId", "sg-nope"), ("SecurityGroupName", "xx")]);
        assert_eq!(e.code, "InvalidSecurityGroupId.NotFound");
    }

    #[test]
    fn attribute_answers_rules_in_the_clouds_spelling_and_types() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let sg = group(&mut s, &vpc, &[]);
        let peer = group(&mut s, &vpc, &[("SecurityGroupName", "peer")]);
        s.ok("AuthorizeSecurityGroupEgress", &[R, ("SecurityGroupId", &sg), ("Permissions.1.IpProtocol", "udp"),
            ("Permissions.1.PortRange", "53/53"), ("Permissions.1.DestGroupId", &peer), ("Permissions.1.Policy", "drop"),
            ("Permissions.1.Priority", "7"), ("Permissions.1.Description", "dns")]);
        let a = s.ok("DescribeSecurityGroupAttribute", &[R, ("SecurityGroupId", &sg), ("Direction", "egress")]);
        let r = &a["Permissions"]["Permission"][0];
        assert_eq!(r["IpProtocol"], "UDP");
        assert_eq!(r["PortRange"], "53/53");
        assert_eq!(r["Policy"], "Drop");
        assert_eq!(r["Priority"], "7", "Priority is a string in the SDK model");
        assert_eq!(r["Direction"], "egress");
        assert_eq!(r["NicType"], "intranet");
        assert_eq!((r["DestGroupId"].as_str(), r["DestGroupName"].as_str()), (Some(peer.as_str()), Some("peer")));
        assert_eq!((r["SourceCidrIp"].as_str(), r["DestCidrIp"].as_str()), (Some(""), Some("")));
        assert_eq!(r["Description"], "dns");
        assert!(a.get("SnapshotPolicyIds").is_none());
        let a = s.ok("DescribeSecurityGroupAttribute", &[R, ("SecurityGroupId", &sg), ("Attribute", "snapshotPolicyIds")]);
        assert_eq!(a["SnapshotPolicyIds"]["SnapshotPolicyId"], json!([]));
        assert_eq!(s.ok("DescribeSecurityGroupAttribute", &[R, ("SecurityGroupId", &sg), ("Direction", "ingress")])["Permissions"]["Permission"], json!([]));
    }

    #[test]
    fn attribute_rules_are_paged_by_token() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let sg = group(&mut s, &vpc, &[]);
        for port in 1..=25 {
            let range = format!("{port}/{port}");
            s.ok("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("IpProtocol", "tcp"), ("PortRange", &range), ("SourceCidrIp", "10.0.0.0/8")]);
        }
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let mut p = vec![R, ("SecurityGroupId", sg.as_str()), ("MaxResults", "10")];
            if !token.is_empty() {
                p.push(("NextToken", token.as_str()));
            }
            let a = s.ok("DescribeSecurityGroupAttribute", &p);
            let page = a["Permissions"]["Permission"].as_array().unwrap().clone();
            assert!(page.len() <= 10);
            seen.extend(page.iter().map(|r| r["SecurityGroupRuleId"].as_str().unwrap().to_string()));
            token = a["NextToken"].as_str().unwrap().to_string();
            if token.is_empty() {
                break;
            }
        }
        assert_eq!(seen.len(), 25);
        seen.dedup();
        assert_eq!(seen.len(), 25);
        assert_eq!(s.err("DescribeSecurityGroupAttribute", &[R, ("SecurityGroupId", &sg), ("MaxResults", "5")]).code, "InvalidParameter");
        assert_eq!(s.err("DescribeSecurityGroupAttribute", &[R, ("SecurityGroupId", &sg), ("NextToken", "zz")]).code, "InvalidNextToken");
    }

    #[test]
    fn rule_parameters_this_router_lacks_are_refused() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let sg = group(&mut s, &vpc, &[]);
        let rule = [R, ("SecurityGroupId", sg.as_str()), ("IpProtocol", "tcp"), ("PortRange", "22/22"), ("SourceCidrIp", "10.0.0.0/8")];
        let with = |s: &mut Scratch, extra: (&str, &str)| {
            let mut p = rule.to_vec();
            p.push(extra);
            s.err("AuthorizeSecurityGroup", &p)
        };
        for extra in [("Ipv6SourceCidrIp", "::/0"), ("SourcePortRange", "1/2"), ("DestCidrIp", "10.0.1.1"), ("SourcePrefixListId", "pl-1"),
            ("SourceGroupOwnerAccount", "x")]
        {
            let e = with(&mut s, extra);
            assert_eq!(e.code, "UnsupportedParameter", "{extra:?}");
            assert!(e.message.contains(extra.0), "{e:?}");
        }
        // A field of the outbound model in an inbound rule is unknown (strict: refused).
        let e = s.err("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("Permissions.1.IpProtocol", "tcp"),
            ("Permissions.1.PortRange", "22/22"), ("Permissions.1.SourceCidrIp", "10.0.0.0/8"), ("Permissions.1.DestGroupId", &sg)]);
        assert_eq!(e.code, "InvalidParameter");
        assert!(e.message.contains("Permissions.1.DestGroupId"), "{e:?}");
        let e = s.err("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("Permissions.1.IpProtocol", "tcp"),
            ("Permissions.1.PortRange", "22/22"), ("Permissions.1.SourceCidrIp", "10.0.0.0/8"), ("Permissions.1.PortRangeListId", "prl-1")]);
        assert_eq!(e.code, "UnsupportedParameter");
        // Both forms at once.
        let e = s.err("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("Permissions.1.IpProtocol", "tcp"),
            ("Permissions.1.PortRange", "22/22"), ("Permissions.1.SourceCidrIp", "10.0.0.0/8"), ("Policy", "drop")]);
        assert_eq!(e.code, "InvalidParameter");
        let e = s.err("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("PortRange", "22/22"), ("SourceCidrIp", "10.0.0.0/8")]);
        assert_eq!((e.code.as_str(), e.message.contains("IpProtocol")), ("MissingParameter", true));
        let e = s.err("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("IpProtocol", "tcp"), ("PortRange", "22/22"),
            ("SourceGroupId", &sg), ("SourceGroupOwnerId", "1000000000000002")]);
        assert_eq!(e.code, "InvalidParameter");
        s.ok("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("IpProtocol", "tcp"), ("PortRange", "22/22"),
            ("SourceGroupId", &sg), ("SourceGroupOwnerId", "1000000000000001"), ("NicType", "intranet")]);
        assert_eq!(s.service.model().security_groups[0].rules.len(), 1);
    }

    #[test]
    fn sg_1_modify_rule_changes_given_fields_and_keeps_the_peer_kind() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let sg = group(&mut s, &vpc, &[]);
        s.ok("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("Permissions.1.IpProtocol", "tcp"), ("Permissions.1.PortRange", "22/22"),
            ("Permissions.1.SourceCidrIp", "0.0.0.0/0"), ("Permissions.2.IpProtocol", "tcp"), ("Permissions.2.PortRange", "80/80"),
            ("Permissions.2.SourceCidrIp", "0.0.0.0/0")]);
        s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("SecurityGroupId", &sg)]);
        let id = s.service.model().security_groups[0].rules[0].id.clone();
        s.ok("ModifySecurityGroupRule", &[R, ("SecurityGroupId", &sg), ("SecurityGroupRuleId", &id), ("PortRange", "2222/2222"),
            ("SourceCidrIp", "192.0.2.0/24"), ("Description", "ssh")]);
        assert_eq!(ingress_verdict(&s, 0, "192.0.2.1", 6, 2222), Verdict::Accept);
        assert_eq!(ingress_verdict(&s, 0, "192.0.2.1", 6, 22), Verdict::Drop);
        assert_eq!(ingress_verdict(&s, 0, "198.51.100.1", 6, 2222), Verdict::Drop);
        let r = &s.service.model().security_groups[0].rules[0];
        assert_eq!((r.id.as_str(), r.description.as_str(), r.priority), (id.as_str(), "ssh", 1));
        let e = s.err("ModifySecurityGroupRule", &[R, ("SecurityGroupId", &sg), ("SecurityGroupRuleId", &id), ("SourceGroupId", &sg)]);
        assert_eq!(e.code, "InvalidParameter");
        let e = s.err("ModifySecurityGroupRule", &[R, ("SecurityGroupId", &sg), ("SecurityGroupRuleId", &id), ("PortRange", "80/80"),
            ("SourceCidrIp", "0.0.0.0/0")]);
        assert_eq!(e.code, "InvalidPermission.Duplicate");
        let e = s.err("ModifySecurityGroupRule", &[R, ("SecurityGroupId", &sg), ("Description", "x")]);
        assert_eq!(e.code, "MissingParameter");
        let e = s.err("ModifySecurityGroupEgressRule", &[R, ("SecurityGroupId", &sg), ("SecurityGroupRuleId", &id), ("Priority", "3")]);
        assert_eq!(e.code, "InvalidSecurityGroupRuleId.NotFound", "an inbound rule is not an outbound one");
    }
}
