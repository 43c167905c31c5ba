//! Network ACLs (VPC API 2016-04-28): CreateNetworkAcl, DeleteNetworkAcl,
//! UpdateNetworkAclEntries, AssociateNetworkAcl, UnassociateNetworkAcl,
//! DescribeNetworkAcls, DescribeNetworkAclAttributes (ACL-1, ACL-2).
use std::collections::BTreeSet;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Action, Draft, Empty, owner_id, paginate, params::given, tag};
use crate::{
    api::{ApiError, Product, new_id},
    model::{IpProtocol, NetworkAcl, NetworkAclEntry, RulePolicy},
};

/// Most custom entries per direction, as the cloud's.
const MAX_ENTRIES: usize = 100;

/// Most network ACLs per page of DescribeNetworkAcls.
const MAX_PAGE_SIZE: u32 = 50;

fn acl_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .network_acls
        .iter()
        .position(|a| a.id == id && d.caller.owns(&a.meta.owner_id))
        .ok_or_else(|| ApiError::not_found("InvalidNetworkAclId.NotFound", format!("The specified network ACL {id} does not exist.")))
}

// ---------------------------------------------------------------- answers

/// The fields an inbound and an outbound entry share in the answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EntryOut {
    network_acl_entry_id: String,
    network_acl_entry_name: String,
    /// `accept` or `drop`.
    policy: &'static str,
    /// `tcp`, `udp`, `icmp` or `all`.
    protocol: &'static str,
    /// `first/last`, or `-1/-1` for icmp and all.
    port: String,
    /// `custom`, or `system` for the accept-all entry ending each list
    /// (not in CreateNetworkAcl's answer, whose SDK model lacks it).
    #[serde(skip_serializing_if = "Option::is_none")]
    entry_type: Option<&'static str>,
    /// `IPv4` (not in CreateNetworkAcl's answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_version: Option<&'static str>,
    description: String,
}

/// One inbound entry of an answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IngressEntryOut {
    #[serde(flatten)]
    entry: EntryOut,
    source_cidr_ip: String,
}

/// One outbound entry of an answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EgressEntryOut {
    #[serde(flatten)]
    entry: EntryOut,
    destination_cidr_ip: String,
}

/// `{"IngressAclEntry": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IngressAclEntries {
    ingress_acl_entry: Vec<IngressEntryOut>,
}

/// `{"EgressAclEntry": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EgressAclEntries {
    egress_acl_entry: Vec<EgressEntryOut>,
}

/// A vSwitch the ACL is associated with.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceOut {
    resource_id: String,
    resource_type: &'static str,
    status: &'static str,
}

/// `{"Resource": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resources {
    resource: Vec<ResourceOut>,
}

/// A network ACL as the answers carry it (`NetworkAclAttribute`, and each
/// `NetworkAcls.NetworkAcl`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attribute {
    network_acl_id: String,
    network_acl_name: String,
    vpc_id: String,
    region_id: String,
    description: String,
    creation_time: String,
    status: &'static str,
    /// Not in CreateNetworkAcl's answer (its SDK model lacks it).
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_id: Option<Value>,
    ingress_acl_entries: IngressAclEntries,
    egress_acl_entries: EgressAclEntries,
    resources: Resources,
    /// Not in CreateNetworkAcl's answer (its SDK model lacks it).
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<tag::Tags>,
}

impl Attribute {
    /// The attribute as CreateNetworkAcl answers it: the fields its SDK
    /// model has.
    fn for_create(mut self) -> Self {
        self.owner_id = None;
        self.tags = None;
        for e in &mut self.ingress_acl_entries.ingress_acl_entry {
            (e.entry.entry_type, e.entry.ip_version) = (None, None);
        }
        for e in &mut self.egress_acl_entries.egress_acl_entry {
            (e.entry.entry_type, e.entry.ip_version) = (None, None);
        }
        self
    }
}

fn policy_name(p: RulePolicy) -> &'static str {
    match p {
        RulePolicy::Accept => "accept",
        RulePolicy::Drop => "drop",
    }
}

fn protocol_name(p: IpProtocol) -> &'static str {
    match p {
        IpProtocol::Tcp => "tcp",
        IpProtocol::Udp => "udp",
        IpProtocol::Icmp => "icmp",
        IpProtocol::All => "all",
    }
}

fn entry_out(e: &NetworkAclEntry) -> EntryOut {
    EntryOut {
        network_acl_entry_id: e.id.clone(),
        network_acl_entry_name: e.name.clone(),
        policy: policy_name(e.policy),
        protocol: protocol_name(e.protocol),
        port: match e.protocol {
            IpProtocol::Tcp | IpProtocol::Udp => format!("{}/{}", e.port_range.0, e.port_range.1),
            _ => "-1/-1".to_string(),
        },
        entry_type: Some("custom"),
        ip_version: Some("IPv4"),
        description: e.description.clone(),
    }
}

/// The system entry ending each list: accept everything else.
fn system_entry(acl: &NetworkAcl, ingress: bool) -> EntryOut {
    EntryOut {
        network_acl_entry_id: format!("nae-sys-{}-{}", if ingress { "in" } else { "out" }, acl.id.trim_start_matches("nacl-")),
        network_acl_entry_name: "system".to_string(),
        policy: "accept",
        protocol: "all",
        port: "-1/-1".to_string(),
        entry_type: Some("system"),
        ip_version: Some("IPv4"),
        description: String::new(),
    }
}

/// The entries of one direction with their CIDR blocks, custom ones in
/// order, then the system entry.
fn listed(acl: &NetworkAcl, ingress: bool) -> impl Iterator<Item = (EntryOut, String)> + '_ {
    let custom = if ingress { &acl.ingress } else { &acl.egress };
    custom
        .iter()
        .map(|e| (entry_out(e), e.cidr.to_string()))
        .chain(std::iter::once((system_entry(acl, ingress), "0.0.0.0/0".to_string())))
}

fn attribute(d: &Draft, acl: &NetworkAcl) -> Attribute {
    let resource = d
        .model
        .vswitches
        .iter()
        .filter(|v| v.network_acl_id.as_deref() == Some(acl.id.as_str()))
        .map(|v| ResourceOut { resource_id: v.id.clone(), resource_type: "VSwitch", status: "BINDED" })
        .collect();
    Attribute {
        network_acl_id: acl.id.clone(),
        network_acl_name: acl.name.clone().unwrap_or_default(),
        vpc_id: acl.vpc_id.clone(),
        region_id: acl.meta.region_id.clone(),
        description: acl.meta.description.clone(),
        creation_time: acl.meta.creation_time.clone(),
        status: "Available",
        owner_id: Some(owner_id(&acl.meta)),
        ingress_acl_entries: IngressAclEntries {
            ingress_acl_entry: listed(acl, true).map(|(entry, source_cidr_ip)| IngressEntryOut { entry, source_cidr_ip }).collect(),
        },
        egress_acl_entries: EgressAclEntries {
            egress_acl_entry: listed(acl, false)
                .map(|(entry, destination_cidr_ip)| EgressEntryOut { entry, destination_cidr_ip })
                .collect(),
        },
        resources: Resources { resource },
        tags: Some(tag::Tags::of(&acl.meta.tags)),
    }
}

// ---------------------------------------------------------------- CreateNetworkAcl

/// CreateNetworkAcl: an ACL of a VPC, with no custom entries (ACL-1).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateNetworkAcl {
    /// The VPC the ACL belongs to (and takes its region from).
    vpc_id: String,
    /// NetworkAclName.
    network_acl_name: Option<String>,
    /// Description.
    description: Option<String>,
    /// Tag.N.Key / Tag.N.Value.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
}

/// CreateNetworkAcl's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateNetworkAclResponse {
    network_acl_id: String,
    network_acl_attribute: Attribute,
}

impl Action for CreateNetworkAcl {
    const NAME: &'static str = "CreateNetworkAcl";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates a network ACL in a VPC; it accepts everything until entries are set (ACL-1).";
    type Response = CreateNetworkAclResponse;

    fn run(self, d: &mut Draft) -> Result<CreateNetworkAclResponse, ApiError> {
        d.require_region()?;
        let vpc_region = d.model.vpcs[d.vpc_index(&self.vpc_id)?].meta.region_id.clone();
        let mut meta = d.new_meta(self.description.as_deref());
        meta.region_id = vpc_region;
        meta.tags = tag::from_params(&self.tag)?;
        let acl = NetworkAcl {
            id: new_id("nacl"),
            vpc_id: self.vpc_id,
            name: given(&self.network_acl_name).map(str::to_owned),
            ingress: Vec::new(),
            egress: Vec::new(),
            meta,
        };
        let response = CreateNetworkAclResponse { network_acl_id: acl.id.clone(), network_acl_attribute: attribute(d, &acl).for_create() };
        d.model.network_acls.push(acl);
        Ok(response)
    }
}

// ---------------------------------------------------------------- DeleteNetworkAcl

/// DeleteNetworkAcl: refused while a vSwitch is associated.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteNetworkAcl {
    network_acl_id: String,
}

impl Action for DeleteNetworkAcl {
    const NAME: &'static str = "DeleteNetworkAcl";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes a network ACL; refused while it is associated with a vSwitch.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let id = self.network_acl_id.as_str();
        let i = acl_index(d, id)?;
        if let Some(v) = d.model.vswitches.iter().find(|v| v.network_acl_id.as_deref() == Some(id)) {
            return Err(ApiError::bad(
                "DependencyViolation.NetworkAcl",
                format!("The network ACL {id} is associated with vSwitch {}.", v.id),
            ));
        }
        d.model.network_acls.remove(i);
        Ok(Empty {})
    }
}

// ---------------------------------------------------------------- UpdateNetworkAclEntries

/// One `IngressAclEntries.N` of UpdateNetworkAclEntries. Policy, Protocol,
/// Port and SourceCidrIp are required (checked in that order with the
/// entry's other fields, so the first wrong field is the one named).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IngressEntryParam {
    /// The id of an existing inbound entry of this ACL: the entry given
    /// replaces it and keeps its id (default: a new id).
    network_acl_entry_id: Option<String>,
    /// NetworkAclEntryName.
    network_acl_entry_name: Option<String>,
    /// `accept` or `drop`.
    policy: Option<String>,
    /// `tcp`, `udp`, `icmp` or `all`.
    protocol: Option<String>,
    /// `first/last` for tcp and udp, `-1/-1` for icmp and all.
    port: Option<String>,
    /// The source block the entry matches.
    source_cidr_ip: Option<String>,
    /// `custom` only: system entries cannot be set.
    entry_type: Option<String>,
    /// `IPv4` only.
    ip_version: Option<String>,
    /// Description.
    description: Option<String>,
}

/// One `EgressAclEntries.N` of UpdateNetworkAclEntries: as an inbound
/// entry, with DestinationCidrIp for SourceCidrIp.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EgressEntryParam {
    /// The id of an existing outbound entry of this ACL: the entry given
    /// replaces it and keeps its id (default: a new id).
    network_acl_entry_id: Option<String>,
    /// NetworkAclEntryName.
    network_acl_entry_name: Option<String>,
    /// `accept` or `drop`.
    policy: Option<String>,
    /// `tcp`, `udp`, `icmp` or `all`.
    protocol: Option<String>,
    /// `first/last` for tcp and udp, `-1/-1` for icmp and all.
    port: Option<String>,
    /// The destination block the entry matches.
    destination_cidr_ip: Option<String>,
    /// `custom` only: system entries cannot be set.
    entry_type: Option<String>,
    /// `IPv4` only.
    ip_version: Option<String>,
    /// Description.
    description: Option<String>,
}

/// An entry of either direction, as given.
struct EntryFields {
    id: Option<String>,
    name: Option<String>,
    policy: Option<String>,
    protocol: Option<String>,
    port: Option<String>,
    cidr: Option<String>,
    entry_type: Option<String>,
    ip_version: Option<String>,
    description: Option<String>,
}

impl From<IngressEntryParam> for EntryFields {
    fn from(e: IngressEntryParam) -> Self {
        Self {
            id: e.network_acl_entry_id,
            name: e.network_acl_entry_name,
            policy: e.policy,
            protocol: e.protocol,
            port: e.port,
            cidr: e.source_cidr_ip,
            entry_type: e.entry_type,
            ip_version: e.ip_version,
            description: e.description,
        }
    }
}

impl From<EgressEntryParam> for EntryFields {
    fn from(e: EgressEntryParam) -> Self {
        Self {
            id: e.network_acl_entry_id,
            name: e.network_acl_entry_name,
            policy: e.policy,
            protocol: e.protocol,
            port: e.port,
            cidr: e.destination_cidr_ip,
            entry_type: e.entry_type,
            ip_version: e.ip_version,
            description: e.description,
        }
    }
}

/// UpdateNetworkAclEntries: replaces the inbound entries (with
/// UpdateIngressAclEntries=true) and/or the outbound ones, in the order
/// given: first match wins (ACL-2).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateNetworkAclEntries {
    network_acl_id: String,
    /// True: the inbound entries become IngressAclEntries (none given
    /// clears them). Inbound entries without it are refused.
    update_ingress_acl_entries: Option<bool>,
    /// True: the outbound entries become EgressAclEntries (none given
    /// clears them). Outbound entries without it are refused.
    update_egress_acl_entries: Option<bool>,
    /// IngressAclEntries.N.Field, in evaluation order.
    #[serde(default)]
    ingress_acl_entries: Vec<IngressEntryParam>,
    /// EgressAclEntries.N.Field, in evaluation order.
    #[serde(default)]
    egress_acl_entries: Vec<EgressEntryParam>,
}

fn parse_protocol(value: &str) -> Result<IpProtocol, ApiError> {
    match value.to_ascii_lowercase().as_str() {
        "tcp" => Ok(IpProtocol::Tcp),
        "udp" => Ok(IpProtocol::Udp),
        "icmp" => Ok(IpProtocol::Icmp),
        "all" => Ok(IpProtocol::All),
        _ => Err(ApiError::bad("IllegalParam.Protocol", format!("Protocol {value:?} is not supported here (tcp, udp, icmp, all)."))),
    }
}

/// `first/last` (1 <= first <= last) for tcp and udp; `-1/-1` (every
/// port) for icmp and all.
fn parse_ports(protocol: IpProtocol, protocol_name: &str, port: &str) -> Result<(u16, u16), ApiError> {
    let bad = || ApiError::bad("IllegalParam.Port", format!("Port {port:?} is not valid for {protocol_name}."));
    let (a, b) = port.split_once('/').ok_or_else(bad)?;
    match protocol {
        IpProtocol::Tcp | IpProtocol::Udp => {
            let a: u16 = a.trim().parse().map_err(|_| bad())?;
            let b: u16 = b.trim().parse().map_err(|_| bad())?;
            if a == 0 || a > b {
                return Err(bad());
            }
            Ok((a, b))
        }
        _ if a.trim() == "-1" && b.trim() == "-1" => Ok((1, 65535)),
        _ => Err(bad()),
    }
}

fn parse_policy(name: &str, value: &str) -> Result<RulePolicy, ApiError> {
    match value.to_ascii_lowercase().as_str() {
        "accept" => Ok(RulePolicy::Accept),
        "drop" => Ok(RulePolicy::Drop),
        other => Err(ApiError::invalid(name, format!("{other:?} is not accept or drop"))),
    }
}

/// One entry, `prefix` naming it (`IngressAclEntries.2.`) in errors;
/// `existing` are the ACL's entries of that direction (for a kept id).
fn entry(prefix: &str, cidr_field: &str, f: EntryFields, existing: &[NetworkAclEntry]) -> Result<NetworkAclEntry, ApiError> {
    let field = |name: &str| format!("{prefix}{name}");
    let required = |name: &str, v: Option<String>| given(&v).map(str::to_owned).ok_or_else(|| ApiError::missing(&field(name)));
    if let Some(t) = given(&f.entry_type)
        && !t.eq_ignore_ascii_case("custom")
    {
        return Err(ApiError::invalid(&field("EntryType"), "only custom entries can be set"));
    }
    if let Some(v) = given(&f.ip_version)
        && !v.eq_ignore_ascii_case("ipv4")
    {
        return Err(ApiError::bad("UnsupportedFeature.IPv6", "IPv6 entries are not supported yet."));
    }
    let protocol_name = required("Protocol", f.protocol)?;
    let protocol = parse_protocol(&protocol_name)?;
    let port_range = parse_ports(protocol, &protocol_name, &required("Port", f.port)?)?;
    let cidr_text = required(cidr_field, f.cidr)?;
    let cidr: Ipv4Net = cidr_text.parse().map_err(|_| {
        ApiError::bad("IllegalParam.CidrIp", format!("{} {cidr_text:?} is not an IPv4 CIDR block.", field(cidr_field)))
    })?;
    let policy = parse_policy(&field("Policy"), &required("Policy", f.policy)?)?;
    let id = match given(&f.id).map(str::to_owned) {
        Some(id) if existing.iter().any(|e| e.id == id) => id,
        Some(id) => {
            return Err(ApiError::not_found(
                "InvalidNetworkAclEntryId.NotFound",
                format!("{} {id} is not an entry of this direction of the network ACL.", field("NetworkAclEntryId")),
            ));
        }
        None => new_id("nae"),
    };
    Ok(NetworkAclEntry {
        id,
        name: f.name.unwrap_or_default(),
        policy,
        protocol,
        cidr: cidr.trunc(),
        port_range,
        description: f.description.unwrap_or_default(),
    })
}

/// The entries of `list` (`IngressAclEntries`), checked: at most
/// [`MAX_ENTRIES`], a kept id at most once.
fn entries(
    list: &str,
    cidr_field: &str,
    fields: impl IntoIterator<Item = EntryFields>,
    existing: &[NetworkAclEntry],
) -> Result<Vec<NetworkAclEntry>, ApiError> {
    let out = fields
        .into_iter()
        .enumerate()
        .map(|(n, f)| entry(&format!("{list}.{}.", n + 1), cidr_field, f, existing))
        .collect::<Result<Vec<_>, _>>()?;
    if out.len() > MAX_ENTRIES {
        return Err(ApiError::bad("QuotaExceeded.NetworkAclEntry", format!("At most {MAX_ENTRIES} entries per direction.")));
    }
    let mut ids = BTreeSet::new();
    if let Some(dup) = out.iter().find(|e| !ids.insert(e.id.as_str())) {
        return Err(ApiError::invalid(list, format!("the entry {} is given more than once", dup.id)));
    }
    Ok(out)
}

impl Action for UpdateNetworkAclEntries {
    const NAME: &'static str = "UpdateNetworkAclEntries";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Replaces a network ACL's inbound and/or outbound entries, evaluated in order, first match wins (ACL-2).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let i = acl_index(d, &self.network_acl_id)?;
        let acl = &d.model.network_acls[i];
        let ingress = entries(
            "IngressAclEntries",
            "SourceCidrIp",
            self.ingress_acl_entries.into_iter().map(EntryFields::from),
            &acl.ingress,
        )?;
        let egress = entries(
            "EgressAclEntries",
            "DestinationCidrIp",
            self.egress_acl_entries.into_iter().map(EntryFields::from),
            &acl.egress,
        )?;
        let acl = &mut d.model.network_acls[i];
        if self.update_ingress_acl_entries.unwrap_or(false) {
            acl.ingress = ingress;
        } else if !ingress.is_empty() {
            return Err(ApiError::invalid("UpdateIngressAclEntries", "set it to true to replace the inbound entries"));
        }
        if self.update_egress_acl_entries.unwrap_or(false) {
            acl.egress = egress;
        } else if !egress.is_empty() {
            return Err(ApiError::invalid("UpdateEgressAclEntries", "set it to true to replace the outbound entries"));
        }
        Ok(Empty {})
    }
}

// ---------------------------------------------------------------- (Un)AssociateNetworkAcl

/// One `Resource.N` of AssociateNetworkAcl / UnassociateNetworkAcl.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceParam {
    /// The vSwitch id.
    resource_id: Option<String>,
    /// `VSwitch` (the default, and the only type).
    resource_type: Option<String>,
}

/// The vSwitch ids of `Resource.N` (at least one).
fn vswitch_ids(resources: Vec<ResourceParam>) -> Result<Vec<String>, ApiError> {
    if resources.is_empty() {
        return Err(ApiError::missing("Resource.1.ResourceId"));
    }
    resources
        .into_iter()
        .enumerate()
        .map(|(n, r)| {
            let prefix = format!("Resource.{}.", n + 1);
            if given(&r.resource_type).is_some_and(|t| t != "VSwitch") {
                return Err(ApiError::invalid(&format!("{prefix}ResourceType"), "only VSwitch"));
            }
            given(&r.resource_id).map(str::to_owned).ok_or_else(|| ApiError::missing(&format!("{prefix}ResourceId")))
        })
        .collect()
}

/// AssociateNetworkAcl: the vSwitches of Resource.N take the ACL (ACL-1).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateNetworkAcl {
    network_acl_id: String,
    /// Resource.N.ResourceId / Resource.N.ResourceType: the vSwitches.
    #[serde(default)]
    resource: Vec<ResourceParam>,
}

impl Action for AssociateNetworkAcl {
    const NAME: &'static str = "AssociateNetworkAcl";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Associates vSwitches of its VPC with a network ACL (one ACL per vSwitch, ACL-1).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let id = self.network_acl_id.as_str();
        acl_index(d, id)?;
        for vsw in vswitch_ids(self.resource)? {
            let i = d.vswitch_index(&vsw)?;
            let v = &mut d.model.vswitches[i];
            match v.network_acl_id.as_deref() {
                Some(current) if current != id => {
                    return Err(ApiError::bad(
                        "OperationConflict",
                        format!("The vSwitch {vsw} is already associated with network ACL {current}."),
                    ));
                }
                // A network ACL of another VPC is refused by validation.
                _ => v.network_acl_id = Some(id.to_string()),
            }
        }
        Ok(Empty {})
    }
}

/// UnassociateNetworkAcl: the vSwitches of Resource.N leave the ACL.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnassociateNetworkAcl {
    network_acl_id: String,
    /// Resource.N.ResourceId / Resource.N.ResourceType: the vSwitches.
    #[serde(default)]
    resource: Vec<ResourceParam>,
}

impl Action for UnassociateNetworkAcl {
    const NAME: &'static str = "UnassociateNetworkAcl";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Removes a network ACL from vSwitches associated with it.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let id = self.network_acl_id.as_str();
        acl_index(d, id)?;
        for vsw in vswitch_ids(self.resource)? {
            let i = d.vswitch_index(&vsw)?;
            let v = &mut d.model.vswitches[i];
            if v.network_acl_id.as_deref() != Some(id) {
                return Err(ApiError::bad("InvalidAssociation.NotFound", format!("The vSwitch {vsw} is not associated with {id}.")));
            }
            v.network_acl_id = None;
        }
        Ok(Empty {})
    }
}

// ---------------------------------------------------------------- Describe

/// DescribeNetworkAcls: the caller's ACLs, filtered; paged (at most 50).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNetworkAcls {
    /// NetworkAclId.
    network_acl_id: Option<String>,
    /// NetworkAclName.
    network_acl_name: Option<String>,
    /// VpcId.
    vpc_id: Option<String>,
    /// Only the ACL associated with this vSwitch.
    resource_id: Option<String>,
    /// The type of ResourceId: `VSwitch`, the only one.
    resource_type: Option<String>,
    /// Tags.N.Key / Tags.N.Value: only ACLs with these tags.
    #[serde(default)]
    tags: Vec<tag::TagParam>,
    /// Page, from 1.
    page_number: Option<u32>,
    /// Entries per page (at most 50).
    page_size: Option<u32>,
}

/// `{"NetworkAcl": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkAcls {
    network_acl: Vec<Attribute>,
}

/// DescribeNetworkAcls' answer; its paging fields are strings, as the
/// cloud's.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNetworkAclsResponse {
    network_acls: NetworkAcls,
    total_count: String,
    page_number: String,
    page_size: String,
}

impl DescribeNetworkAcls {
    /// True if `acl` passes every filter given.
    fn selects(&self, d: &Draft, acl: &NetworkAcl) -> bool {
        let is = |filter: &Option<String>, value: &str| filter.as_deref().filter(|f| !f.is_empty()).is_none_or(|f| f == value);
        is(&self.network_acl_id, &acl.id)
            && is(&self.vpc_id, &acl.vpc_id)
            && is(&self.network_acl_name, acl.name.as_deref().unwrap_or_default())
            && self.resource_id.as_deref().filter(|r| !r.is_empty()).is_none_or(|r| {
                d.model.vswitch(r).is_some_and(|v| v.network_acl_id.as_deref() == Some(acl.id.as_str()))
            })
            && tag::matches(&acl.meta.tags, &self.tags)
    }
}

impl Action for DescribeNetworkAcls {
    const NAME: &'static str = "DescribeNetworkAcls";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Lists the caller's network ACLs with their entries, by id, name, VPC, vSwitch, tags; paged (at most 50).";
    type Response = DescribeNetworkAclsResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeNetworkAclsResponse, ApiError> {
        d.require_region()?;
        if self.resource_type.as_deref().is_some_and(|t| !t.is_empty() && t != "VSwitch") {
            return Err(ApiError::invalid("ResourceType", "only VSwitch"));
        }
        let acls: Vec<&NetworkAcl> =
            d.model.network_acls.iter().filter(|a| d.in_view(&a.meta) && self.selects(d, a)).collect();
        let (acls, page) = paginate(acls, self.page_number, self.page_size, MAX_PAGE_SIZE)?;
        Ok(DescribeNetworkAclsResponse {
            network_acls: NetworkAcls { network_acl: acls.into_iter().map(|a| attribute(d, a)).collect() },
            total_count: page.total_count.to_string(),
            page_number: page.page_number.to_string(),
            page_size: page.page_size.to_string(),
        })
    }
}

/// DescribeNetworkAclAttributes: one ACL with its entries and vSwitches.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNetworkAclAttributes {
    network_acl_id: String,
}

/// DescribeNetworkAclAttributes' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNetworkAclAttributesResponse {
    network_acl_attribute: Attribute,
}

impl Action for DescribeNetworkAclAttributes {
    const NAME: &'static str = "DescribeNetworkAclAttributes";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Shows one network ACL: its entries in order, system entries last, and its vSwitches.";
    type Response = DescribeNetworkAclAttributesResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeNetworkAclAttributesResponse, ApiError> {
        d.require_region()?;
        let acl = &d.model.network_acls[acl_index(d, &self.network_acl_id)?];
        Ok(DescribeNetworkAclAttributesResponse { network_acl_attribute: attribute(d, acl) })
    }
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

    fn acl_of(s: &mut Scratch, vpc: &str, extra: &[(&str, &str)]) -> String {
        let mut p = vec![R, ("VpcId", vpc)];
        p.extend_from_slice(extra);
        s.ok("CreateNetworkAcl", &p)["NetworkAclId"].as_str().unwrap().to_string()
    }

    #[test]
    fn tags_at_creation_are_kept_shown_and_filtered_on() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let lab = acl_of(&mut s, &vpc, &[("Tag.1.Key", "env"), ("Tag.1.Value", "lab"), ("Description", "d")]);
        acl_of(&mut s, &vpc, &[("Tag.1.Key", "env"), ("Tag.1.Value", "prod")]);
        let d = s.ok("DescribeNetworkAcls", &[R, ("Tags.1.Key", "env"), ("Tags.1.Value", "lab")]);
        assert_eq!(d["TotalCount"], "1");
        let a = &d["NetworkAcls"]["NetworkAcl"][0];
        assert_eq!(a["NetworkAclId"], lab.as_str());
        assert_eq!(a["Tags"]["Tag"], serde_json::json!([{"Key": "env", "Value": "lab"}]));
        assert_eq!(a["Description"], "d");
        assert_eq!(a["OwnerId"], 1000000000000001u64);
        assert_eq!(s.ok("DescribeNetworkAcls", &[R, ("Tags.1.Key", "env")])["TotalCount"], "2");
        let attr = s.ok("DescribeNetworkAclAttributes", &[R, ("NetworkAclId", &lab)]);
        assert_eq!(attr["NetworkAclAttribute"]["Tags"]["Tag"][0]["Key"], "env");
        assert_eq!(s.err("CreateNetworkAcl", &[R, ("VpcId", &vpc), ("Tag.1.Key", "acs:x")]).code, "InvalidTagKey.Malformed");
        assert_eq!(s.service.model().network_acls.len(), 2);
    }

    #[test]
    fn acl_2_both_directions_are_replaced_in_order_and_kept_ids_survive() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let acl = acl_of(&mut s, &vpc, &[]);
        s.ok("UpdateNetworkAclEntries", &[R, ("NetworkAclId", &acl), ("UpdateIngressAclEntries", "true"), ("UpdateEgressAclEntries", "true"),
            ("IngressAclEntries.1.Policy", "accept"), ("IngressAclEntries.1.Protocol", "tcp"), ("IngressAclEntries.1.Port", "22/22"),
            ("IngressAclEntries.1.SourceCidrIp", "10.0.2.0/24"), ("IngressAclEntries.1.NetworkAclEntryName", "ssh"),
            ("EgressAclEntries.1.Policy", "drop"), ("EgressAclEntries.1.Protocol", "udp"), ("EgressAclEntries.1.Port", "53/53"),
            ("EgressAclEntries.1.DestinationCidrIp", "0.0.0.0/0"), ("EgressAclEntries.1.EntryType", "custom"), ("EgressAclEntries.1.IpVersion", "IPv4")]);
        let ssh = s.service.model().network_acls[0].ingress[0].id.clone();
        // The kept entry moves after a new one and keeps its id.
        s.ok("UpdateNetworkAclEntries", &[R, ("NetworkAclId", &acl), ("UpdateIngressAclEntries", "true"),
            ("IngressAclEntries.1.Policy", "drop"), ("IngressAclEntries.1.Protocol", "icmp"), ("IngressAclEntries.1.Port", "-1/-1"),
            ("IngressAclEntries.1.SourceCidrIp", "10.0.3.0/24"),
            ("IngressAclEntries.2.NetworkAclEntryId", &ssh), ("IngressAclEntries.2.Policy", "accept"), ("IngressAclEntries.2.Protocol", "tcp"),
            ("IngressAclEntries.2.Port", "22/23"), ("IngressAclEntries.2.SourceCidrIp", "10.0.2.0/24")]);
        let a = s.ok("DescribeNetworkAclAttributes", &[R, ("NetworkAclId", &acl)]);
        let a = &a["NetworkAclAttribute"];
        let ingress = a["IngressAclEntries"]["IngressAclEntry"].as_array().unwrap();
        assert_eq!(ingress.len(), 3);
        assert_eq!((ingress[0]["Protocol"].as_str(), ingress[1]["NetworkAclEntryId"].as_str()), (Some("icmp"), Some(ssh.as_str())));
        assert_eq!((ingress[1]["Port"].as_str(), ingress[2]["EntryType"].as_str()), (Some("22/23"), Some("system")));
        let egress = &a["EgressAclEntries"]["EgressAclEntry"][0];
        assert_eq!((egress["DestinationCidrIp"].as_str(), egress["Policy"].as_str()), (Some("0.0.0.0/0"), Some("drop")));
        let e = s.err("UpdateNetworkAclEntries", &[R, ("NetworkAclId", &acl), ("UpdateIngressAclEntries", "true"),
            ("IngressAclEntries.1.NetworkAclEntryId", "nae-other"), ("IngressAclEntries.1.Policy", "accept"), ("IngressAclEntries.1.Protocol", "all"),
            ("IngressAclEntries.1.Port", "-1/-1"), ("IngressAclEntries.1.SourceCidrIp", "0.0.0.0/0")]);
        assert_eq!(e.code, "InvalidNetworkAclEntryId.NotFound");
        let e = s.err("UpdateNetworkAclEntries", &[R, ("NetworkAclId", &acl), ("UpdateIngressAclEntries", "true"),
            ("IngressAclEntries.1.Policy", "accept"), ("IngressAclEntries.1.Protocol", "all"), ("IngressAclEntries.1.Port", "-1/-1"),
            ("IngressAclEntries.1.DestinationCidrIp", "0.0.0.0/0")]);
        assert_eq!(e.code, "InvalidParameter", "an outbound field in an inbound entry: {e:?}");
        let e = s.err("UpdateNetworkAclEntries", &[R, ("NetworkAclId", &acl),
            ("EgressAclEntries.1.Policy", "accept"), ("EgressAclEntries.1.Protocol", "all"), ("EgressAclEntries.1.Port", "-1/-1"),
            ("EgressAclEntries.1.DestinationCidrIp", "0.0.0.0/0")]);
        assert!(e.message.contains("UpdateEgressAclEntries"), "{e:?}");
        let e = s.err("UpdateNetworkAclEntries", &[R, ("NetworkAclId", &acl), ("UpdateEgressAclEntries", "true"),
            ("EgressAclEntries.1.Policy", "accept"), ("EgressAclEntries.1.Protocol", "all"), ("EgressAclEntries.1.Port", "-1/-1"),
            ("EgressAclEntries.1.DestinationCidrIp", "0.0.0.0/0"), ("EgressAclEntries.1.IpVersion", "IPv6")]);
        assert_eq!(e.code, "UnsupportedFeature.IPv6");
        // Clearing: the flag without entries.
        s.ok("UpdateNetworkAclEntries", &[R, ("NetworkAclId", &acl), ("UpdateEgressAclEntries", "true")]);
        let m = s.service.model();
        assert_eq!((m.network_acls[0].ingress.len(), m.network_acls[0].egress.len()), (2, 0));
    }

    #[test]
    fn describe_filters_by_vswitch_and_pages_with_string_counts() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let acl = acl_of(&mut s, &vpc, &[("NetworkAclName", "a")]);
        acl_of(&mut s, &vpc, &[("NetworkAclName", "b")]);
        s.ok("AssociateNetworkAcl", &[R, ("NetworkAclId", &acl), ("Resource.1.ResourceId", &vsw)]);
        let d = s.ok("DescribeNetworkAcls", &[R, ("ResourceId", &vsw), ("ResourceType", "VSwitch")]);
        assert_eq!((d["TotalCount"].as_str(), d["NetworkAcls"]["NetworkAcl"][0]["NetworkAclId"].as_str()), (Some("1"), Some(acl.as_str())));
        let d = s.ok("DescribeNetworkAcls", &[R, ("PageSize", "1"), ("PageNumber", "2")]);
        assert_eq!((d["TotalCount"].as_str(), d["PageNumber"].as_str(), d["PageSize"].as_str()), (Some("2"), Some("2"), Some("1")));
        assert_eq!(d["NetworkAcls"]["NetworkAcl"][0]["NetworkAclName"], "b");
        assert_eq!(s.err("DescribeNetworkAcls", &[R, ("ResourceType", "Eni")]).code, "InvalidParameter");
        assert_eq!(s.err("DescribeNetworkAcls", &[R, ("PageSize", "51")]).code, "InvalidParameter");
        assert_eq!(s.err("DescribeNetworkAcls", &[]).code, "MissingParameter");
        let e = s.err("AssociateNetworkAcl", &[R, ("NetworkAclId", &acl), ("Resource.1.ResourceId", &vsw), ("Resource.1.ResourceType", "Eni")]);
        assert!(e.message.contains("Resource.1.ResourceType"), "{e:?}");
        let e = s.err("AssociateNetworkAcl", &[R, ("NetworkAclId", &acl)]);
        assert_eq!(e.code, "MissingParameter");
        assert_eq!(s.err("UnassociateNetworkAcl", &[R, ("NetworkAclId", &acl), ("Resource.1.ResourceType", "VSwitch")]).code, "MissingParameter");
    }
}
