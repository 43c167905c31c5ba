//! CreateRouteTable, DeleteRouteTable, AssociateRouteTable,
//! UnassociateRouteTable, CreateRouteEntry, DeleteRouteEntry,
//! CreateRouteEntries, DeleteRouteEntries, DescribeRouteTableList,
//! DescribeRouteEntryList (VPC API; RT-1..RT-4).
use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::Ipv4Addr,
    sync::Arc,
};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Action, Draft, Empty, PageInfo, owner_id, paginate,
    params::{given, required},
    tag,
    vpc::cidr,
    vpc::vrouter_id,
};
use crate::{
    api::{ApiError, Product, form::Unsupported, new_id},
    model::{
        AssociateType, CloudServices, Meta, Model, NextHopType, PREFIX_LIST_DESTINATION,
        RouteEntry, RouteTable, RouteTableType,
    },
    topology,
    validate::{self, ValidationError},
};

/// RouteTableType as the API names it.
fn table_type(t: RouteTableType) -> &'static str {
    match t {
        RouteTableType::System => "System",
        RouteTableType::Custom => "Custom",
    }
}

/// AssociateType as the API names it.
fn associate_type(t: AssociateType) -> &'static str {
    match t {
        AssociateType::VSwitch => "VSwitch",
        AssociateType::Gateway => "Gateway",
    }
}

/// CreateRouteTable: a custom table of a VPC.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRouteTable {
    /// The VPC the table is made in.
    vpc_id: String,
    /// `VSwitch` (default: a table vSwitches are associated with, RT-1) or
    /// `Gateway` (a gateway route table, bound to an IPv4 gateway, RT-4).
    associate_type: Option<String>,
    /// RouteTableName.
    route_table_name: Option<String>,
    /// Description.
    description: Option<String>,
    /// Tag.N.Key / Tag.N.Value.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
}

/// CreateRouteTable's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRouteTableResponse {
    route_table_id: String,
}

impl Action for CreateRouteTable {
    const NAME: &'static str = "CreateRouteTable";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Creates a custom route table of a VPC, for vSwitches or a gateway (RT-1, RT-4).";
    type Response = CreateRouteTableResponse;

    fn run(self, d: &mut Draft) -> Result<CreateRouteTableResponse, ApiError> {
        d.require_region()?;
        let vpc_id = required("VpcId", &self.vpc_id)?;
        let vpc = &d.model.vpcs[d.vpc_index(vpc_id)?];
        let associate_type = match given(&self.associate_type).unwrap_or("VSwitch") {
            "VSwitch" => AssociateType::VSwitch,
            "Gateway" => AssociateType::Gateway,
            other => {
                return Err(ApiError::invalid(
                    "AssociateType",
                    format!("{other:?} is not VSwitch or Gateway"),
                ));
            }
        };
        let mut meta = d.new_meta(self.description.as_deref());
        meta.region_id = vpc.meta.region_id.clone();
        meta.tags = tag::from_params(&self.tag)?;
        let table = RouteTable {
            id: new_id("vtb"),
            vpc_id: vpc_id.to_string(),
            name: given(&self.route_table_name).map(str::to_string),
            route_table_type: RouteTableType::Custom,
            generation: 0,
            associate_type,
            route_entries: Default::default(),
            meta,
        };
        let response = CreateRouteTableResponse {
            route_table_id: table.id.clone(),
        };
        d.model.route_tables.push(table);
        Ok(response)
    }
}

/// DeleteRouteTable: custom tables only, with no vSwitch, no gateway and no
/// custom entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRouteTable {
    route_table_id: String,
}

impl Action for DeleteRouteTable {
    const NAME: &'static str = "DeleteRouteTable";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes a custom route table; refused while a vSwitch, an IPv4 gateway or a custom entry uses it.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let id = required("RouteTableId", &self.route_table_id)?;
        let i = d.route_table_index(id)?;
        check_deletable(&d.model, &d.model.route_tables[i])?;
        d.model.route_tables.remove(i);
        Ok(Empty {})
    }
}

/// Refuses deleting table `t` while it is the system table, or bound to a
/// gateway or a vSwitch, or holds a custom entry.
fn check_deletable(m: &Model, t: &RouteTable) -> Result<(), ApiError> {
    let id = t.id.as_str();
    if t.route_table_type == RouteTableType::System {
        return Err(ApiError::bad(
            "IncorrectRouteTableType",
            format!(
                "The route table {id} is the VPC's system route table: it is deleted with its VPC."
            ),
        ));
    }
    if let Some(g) = m
        .ipv4_gateways
        .iter()
        .find(|g| g.route_table_id.as_deref() == Some(id))
    {
        return Err(ApiError::bad(
            "DependencyViolation.Ipv4Gateway",
            format!(
                "The gateway route table {id} is bound to IPv4 gateway {}: dissociate it first.",
                g.id
            ),
        ));
    }
    if let Some(v) = m
        .vswitches
        .iter()
        .find(|v| v.route_table_id.as_deref() == Some(id))
    {
        return Err(ApiError::bad(
            "DependencyViolation.VSwitch",
            format!(
                "The route table {id} is associated with vSwitch {}: unassociate it first.",
                v.id
            ),
        ));
    }
    if let Some(e) = t.route_entries.first() {
        return Err(ApiError::bad(
            "DependencyViolation.RouteEntry",
            format!(
                "The route table {id} still has custom route entry {}: delete it first.",
                e.destination_text()
            ),
        ));
    }
    Ok(())
}

/// AssociateRouteTable: a vSwitch uses this custom table instead of the
/// system one (RT-1). A vSwitch has at most one custom table.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateRouteTable {
    route_table_id: String,
    #[serde(rename = "VSwitchId")]
    v_switch_id: String,
}

impl Action for AssociateRouteTable {
    const NAME: &'static str = "AssociateRouteTable";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Makes a vSwitch use a custom route table instead of the system one (RT-1).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let table_id = required("RouteTableId", &self.route_table_id)?;
        let vsw_id = required("VSwitchId", &self.v_switch_id)?;
        let t = &d.model.route_tables[d.route_table_index(table_id)?];
        let vi = d.vswitch_index(vsw_id)?;
        if t.route_table_type == RouteTableType::System {
            return Err(ApiError::bad(
                "InvalidRouteTableType.System",
                format!(
                    "The system route table {table_id} is used by every vSwitch without a custom table."
                ),
            ));
        }
        let v = &mut d.model.vswitches[vi];
        match v.route_table_id.as_deref() {
            Some(current) if current == table_id => Ok(Empty {}),
            Some(current) => Err(ApiError::bad(
                "OperationConflict",
                format!(
                    "The vSwitch {vsw_id} is already associated with route table {current}: unassociate it first."
                ),
            )),
            None => {
                // A table of another VPC is refused by validation (Forbidden.NotInSameVpc).
                v.route_table_id = Some(table_id.to_string());
                Ok(Empty {})
            }
        }
    }
}

/// UnassociateRouteTable: the vSwitch goes back to the system table.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnassociateRouteTable {
    route_table_id: String,
    #[serde(rename = "VSwitchId")]
    v_switch_id: String,
}

impl Action for UnassociateRouteTable {
    const NAME: &'static str = "UnassociateRouteTable";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Sends a vSwitch back to its VPC's system route table (RT-1).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        let table_id = required("RouteTableId", &self.route_table_id)?;
        let vsw_id = required("VSwitchId", &self.v_switch_id)?;
        d.route_table_index(table_id)?;
        let vi = d.vswitch_index(vsw_id)?;
        let v = &mut d.model.vswitches[vi];
        if v.route_table_id.as_deref() != Some(table_id) {
            return Err(ApiError::bad(
                "InvalidAssociation.NotFound",
                format!("The vSwitch {vsw_id} is not associated with route table {table_id}."),
            ));
        }
        v.route_table_id = None;
        Ok(Empty {})
    }
}

/// NextHopType as the API names it.
fn next_hop_type(name: &str) -> Result<NextHopType, ApiError> {
    match name {
        "Instance" => Ok(NextHopType::Instance),
        "NetworkInterface" => Ok(NextHopType::NetworkInterface),
        "Ipv4Gateway" => Ok(NextHopType::Ipv4Gateway),
        "NatGateway" => Ok(NextHopType::NatGateway),
        other => Err(ApiError::bad(
            "InvalidNextHopType.NotSupported",
            format!(
                "NextHopType {other} is not supported here (Instance, NetworkInterface, Ipv4Gateway and NatGateway are)."
            ),
        )),
    }
}

/// A new custom entry of table `ti`, after the checks that need the caller
/// (the table and next hop are the caller's) and the table's kind; the
/// rest is [`validate::RouteEntryCheck`]'s.
fn new_entry(
    d: &Draft,
    ti: usize,
    destination: Ipv4Net,
    next_hop_type: NextHopType,
    next_hop_id: &str,
    name: Option<String>,
    meta: Meta,
) -> Result<RouteEntry, ApiError> {
    let table = &d.model.route_tables[ti];
    if destination.trunc() != destination {
        return Err(ApiError::bad(
            "InvalidDestinationCidrBlock.Malformed",
            format!("The destination {destination} has host bits set."),
        ));
    }
    if table.associate_type == AssociateType::Gateway {
        return Err(ApiError::bad(
            "IncorrectRouteTableType",
            format!(
                "The route table {} is a gateway route table: its entries are edited (UpdateGatewayRouteTableEntryAttribute), none can be added (RT-4).",
                table.id
            ),
        ));
    }
    let owner = match next_hop_type {
        NextHopType::Ipv4Gateway => d
            .model
            .ipv4_gateways
            .iter()
            .find(|g| g.id == next_hop_id)
            .map(|g| &g.meta.owner_id),
        NextHopType::NatGateway => d.model.nat_gateway(next_hop_id).map(|g| &g.meta.owner_id),
        _ => d
            .model
            .instance_by_next_hop(next_hop_type, next_hop_id)
            .map(|i| &i.meta.owner_id),
    };
    if owner.is_none_or(|o| !d.caller.owns(o)) {
        return Err(ApiError::not_found(
            "InvalidNextHopId.NotFound",
            format!("The next hop {next_hop_id} does not exist."),
        ));
    }
    Ok(RouteEntry {
        id: new_id("rte"),
        name,
        destination_cidr_block: destination,
        next_hop_type,
        destination_prefix_list_id: None,
        next_hop_id: next_hop_id.to_string(),
        meta,
    })
}

/// CreateRouteEntry: DestinationCidrBlock -> NextHopType NextHopId in a
/// custom table (RT-3).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRouteEntry {
    route_table_id: String,
    /// The destination: a CIDR block, or the id of one of the caller's
    /// prefix lists (`pl-...`, RT-1).
    destination_cidr_block: String,
    /// Instance (default), NetworkInterface, Ipv4Gateway or NatGateway.
    next_hop_type: Option<String>,
    /// The next hop's id (of the kind NextHopType says).
    next_hop_id: String,
    /// RouteEntryName.
    route_entry_name: Option<String>,
    /// Description.
    description: Option<String>,
    /// Several next hops (ECMP) are not forwarded by this router: one
    /// NextHopId.
    #[serde(rename = "NextHopList")]
    _next_hop_list: Option<Unsupported>,
}

/// CreateRouteEntry's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRouteEntryResponse {
    route_entry_id: String,
}

impl Action for CreateRouteEntry {
    const NAME: &'static str = "CreateRouteEntry";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Adds a custom route entry to a route table: destination -> next hop (RT-3).";
    type Response = CreateRouteEntryResponse;

    fn run(self, d: &mut Draft) -> Result<CreateRouteEntryResponse, ApiError> {
        let table_id = required("RouteTableId", &self.route_table_id)?;
        let dest_text = required("DestinationCidrBlock", &self.destination_cidr_block)?;
        let prefix_list = destination_prefix_list(d, dest_text)?;
        let destination = match prefix_list {
            Some(_) => PREFIX_LIST_DESTINATION,
            None => cidr("DestinationCidrBlock", dest_text)?,
        };
        let next_hop_type = next_hop_type(given(&self.next_hop_type).unwrap_or("Instance"))?;
        let next_hop_id = required("NextHopId", &self.next_hop_id)?;
        let ti = d.route_table_index(table_id)?;
        let meta = d.new_meta(self.description.as_deref());
        let name = given(&self.route_entry_name).map(str::to_string);
        let mut entry = new_entry(d, ti, destination, next_hop_type, next_hop_id, name, meta)?;
        entry.destination_prefix_list_id = prefix_list;
        let response = CreateRouteEntryResponse {
            route_entry_id: entry.id.clone(),
        };
        let table = &mut d.model.route_tables[ti];
        if entry.is_prefix_list() {
            // Its routes (one per block) appear at once (RT-1).
            table.next_generation();
        }
        table.route_entries.push(Arc::new(entry));
        Ok(response)
    }
}

/// The prefix list a destination names (`pl-...`): one of the caller's
/// (RT-1); None for a CIDR block. A system list is routed only by
/// associating a gateway endpoint (GWE-2).
fn destination_prefix_list(d: &Draft, text: &str) -> Result<Option<String>, ApiError> {
    if !text.starts_with("pl-") {
        return Ok(None);
    }
    if CloudServices::is_object_storage_prefix_list(text) {
        return Err(ApiError::bad(
            "OperationDenied.SystemPrefixList",
            format!(
                "The prefix list {text} is a system prefix list: it is routed by associating the route table with a gateway endpoint (AssociateRouteTablesWithVpcGatewayEndpoint)."
            ),
        ));
    }
    match d.model.prefix_lists.iter().find(|p| p.id == text) {
        Some(p) if d.caller.owns(&p.meta.owner_id) => Ok(Some(text.to_string())),
        _ => Err(ApiError::not_found(
            "InvalidPrefixListId.NotFound",
            format!("The specified prefix list {text} does not exist."),
        )),
    }
}

/// Most entries one CreateRouteEntries or DeleteRouteEntries call takes.
pub const MAX_BATCH_ENTRIES: usize = 50;

/// Checks a batch's size: at least one entry, at most [`MAX_BATCH_ENTRIES`].
fn check_batch<T>(entries: &[T]) -> Result<(), ApiError> {
    if entries.is_empty() {
        return Err(ApiError::missing("RouteEntries.1.RouteTableId"));
    }
    if entries.len() > MAX_BATCH_ENTRIES {
        return Err(ApiError::invalid(
            "RouteEntries",
            format!("at most {MAX_BATCH_ENTRIES} route entries per call"),
        ));
    }
    Ok(())
}

/// A destination as the batch actions take it: a CIDR block, or an
/// address (a /32).
fn batch_destination(name: &str, value: &str) -> Result<Ipv4Net, ApiError> {
    match value.parse::<Ipv4Addr>() {
        Ok(a) => Ok(Ipv4Net::from(a)),
        Err(_) => cidr(name, value),
    }
}

/// One `RouteEntries.N` of CreateRouteEntries. Every field is optional
/// here: an entry lacking one fails on its own (in `FailedRouteEntries`),
/// not the whole call.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteEntryParam {
    /// The table the entry is added to.
    route_table_id: Option<String>,
    /// The destination: a CIDR block, or an address (a /32).
    dst_cidr_block: Option<String>,
    /// The next hop's id.
    next_hop: Option<String>,
    /// Instance (default), NetworkInterface, Ipv4Gateway or NatGateway.
    next_hop_type: Option<String>,
    /// The entry's name.
    name: Option<String>,
    /// The entry's description.
    description: Option<String>,
    /// 4 (`ipv4`) only: IPv6 is not forwarded by this router.
    ip_version: Option<String>,
}

/// CreateRouteEntries: up to 50 `RouteEntries.N` (RT-3). Each entry is
/// checked on its own: the valid ones are added (all in this one change),
/// the others are listed in `FailedRouteEntries` with their code.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRouteEntries {
    /// The entries to add.
    #[serde(default)]
    route_entries: Vec<RouteEntryParam>,
}

/// One entry CreateRouteEntries did not add, and why.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailedCreate {
    dst_cidr_block: String,
    next_hop: String,
    failed_code: String,
    failed_message: String,
}

/// CreateRouteEntries' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRouteEntriesResponse {
    success_count: usize,
    failed_count: usize,
    route_entry_ids: Vec<String>,
    failed_route_entries: Vec<FailedCreate>,
}

/// Table index and new entry of `RouteEntries.{n+1}`, after every check of
/// it alone (duplicates among the batch are checked after).
fn batch_entry(
    d: &Draft,
    check: &validate::RouteEntryCheck,
    n: usize,
    p: &RouteEntryParam,
) -> Result<(usize, RouteEntry), ApiError> {
    let field = |f: &str| format!("RouteEntries.{}.{f}", n + 1);
    let table_id =
        given(&p.route_table_id).ok_or_else(|| ApiError::missing(&field("RouteTableId")))?;
    let dst = given(&p.dst_cidr_block).ok_or_else(|| ApiError::missing(&field("DstCidrBlock")))?;
    let destination = batch_destination(&field("DstCidrBlock"), dst)?;
    if let Some(v) = given(&p.ip_version)
        && !matches!(v, "4" | "ipv4" | "IPv4")
    {
        return Err(ApiError::bad(
            "InvalidIpVersion.NotSupported",
            format!("IpVersion {v} is not supported here (4 is)."),
        ));
    }
    let hop_type = next_hop_type(given(&p.next_hop_type).unwrap_or("Instance"))?;
    let hop_id = given(&p.next_hop).ok_or_else(|| ApiError::missing(&field("NextHop")))?;
    let ti = d.route_table_index(table_id)?;
    let mut meta = d.new_meta(None);
    meta.description = p.description.clone().unwrap_or_default();
    let entry = new_entry(
        d,
        ti,
        destination,
        hop_type,
        hop_id,
        given(&p.name).map(str::to_string),
        meta,
    )?;
    let table = &d.model.route_tables[ti];
    check.entry(table, &check.vswitches_of(table), &entry)?;
    Ok((ti, entry))
}

impl Action for CreateRouteEntries {
    const NAME: &'static str = "CreateRouteEntries";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Adds up to 50 custom route entries in one change; the ones that fail are listed with their code (RT-3).";
    type Response = CreateRouteEntriesResponse;

    fn run(self, d: &mut Draft) -> Result<CreateRouteEntriesResponse, ApiError> {
        d.require_region()?;
        check_batch(&self.route_entries)?;
        let mut candidates: Vec<(usize, usize, RouteEntry)> = Vec::new();
        // (position in the call, DstCidrBlock, NextHop, error)
        let mut failed: Vec<(usize, String, String, ApiError)> = Vec::new();
        {
            let check = validate::RouteEntryCheck::new(&d.model);
            for (n, p) in self.route_entries.iter().enumerate() {
                match batch_entry(d, &check, n, p) {
                    Ok((ti, entry)) => candidates.push((n, ti, entry)),
                    Err(e) => failed.push((
                        n,
                        p.dst_cidr_block.clone().unwrap_or_default(),
                        p.next_hop.clone().unwrap_or_default(),
                        e,
                    )),
                }
            }
        }
        // Destinations already in their table, or twice in this call.
        let mut taken = taken_destinations(d, &candidates);
        let mut added = Vec::new();
        for (n, ti, entry) in candidates {
            let destination = entry.destination_cidr_block;
            if !taken.insert((ti, destination)) {
                let table = &d.model.route_tables[ti];
                let e: ApiError = ValidationError::DuplicateRouteEntry {
                    route_table_id: table.id.clone(),
                    destination,
                }
                .into();
                failed.push((n, destination.to_string(), entry.next_hop_id.clone(), e));
                continue;
            }
            added.push((ti, entry));
        }
        failed.sort_by_key(|(n, ..)| *n);
        let route_entry_ids: Vec<String> = added.iter().map(|(_, e)| e.id.clone()).collect();
        for (ti, entry) in added {
            d.model.route_tables[ti].route_entries.push(Arc::new(entry));
        }
        let failed_route_entries: Vec<FailedCreate> = failed
            .into_iter()
            .map(|(_, dst_cidr_block, next_hop, e)| FailedCreate {
                dst_cidr_block,
                next_hop,
                failed_code: e.code,
                failed_message: e.message,
            })
            .collect();
        Ok(CreateRouteEntriesResponse {
            success_count: route_entry_ids.len(),
            failed_count: failed_route_entries.len(),
            route_entry_ids,
            failed_route_entries,
        })
    }
}

/// The (table, destination) pairs of `candidates` already in their table:
/// one pass over each table touched, each entry looked up among the (at
/// most 50) candidates.
fn taken_destinations(
    d: &Draft,
    candidates: &[(usize, usize, RouteEntry)],
) -> HashSet<(usize, Ipv4Net)> {
    let m = &d.model;
    let key = |c: &Ipv4Net| (u64::from(u32::from(c.network())) << 8) | u64::from(c.prefix_len());
    let mut taken: HashSet<(usize, Ipv4Net)> = HashSet::new();
    let tables: BTreeSet<usize> = candidates.iter().map(|(_, ti, _)| *ti).collect();
    for ti in tables {
        // The validator's set of the table's destinations, when it holds
        // one for these entries: each candidate looked up in it.
        if let Some(set) = d.destinations(&m.route_tables[ti]) {
            for (_, t, e) in candidates.iter().filter(|(_, t, _)| *t == ti) {
                let c = e.destination_cidr_block;
                if set.contains(&crate::validate::destination_key(&c)) {
                    taken.insert((*t, c));
                }
            }
            continue;
        }
        let mut wanted: Vec<u64> = candidates
            .iter()
            .filter(|(_, t, _)| *t == ti)
            .map(|(_, _, e)| key(&e.destination_cidr_block))
            .collect();
        wanted.sort_unstable();
        for e in &m.route_tables[ti].route_entries {
            if wanted
                .binary_search(&key(&e.destination_cidr_block))
                .is_ok()
            {
                taken.insert((ti, e.destination_cidr_block));
            }
        }
    }
    taken
}

/// One `RouteEntries.N` of DeleteRouteEntries: a table's entry by
/// RouteEntryId, or by DstCidrBlock and NextHop.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteEntryRef {
    /// The table holding the entry.
    route_table_id: Option<String>,
    /// The entry's id.
    route_entry_id: Option<String>,
    /// The entry's destination (without RouteEntryId).
    dst_cidr_block: Option<String>,
    /// The entry's next hop (without RouteEntryId).
    next_hop: Option<String>,
}

/// DeleteRouteEntries: up to 50 `RouteEntries.N`. The entries found are
/// deleted (all in this one change), the others are listed in
/// `FailedRouteEntries` with their code. On a gateway route table a deleted
/// entry turns back into the system entry (RT-4).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRouteEntries {
    /// The entries to delete.
    #[serde(default)]
    route_entries: Vec<RouteEntryRef>,
}

/// One entry DeleteRouteEntries did not delete, and why.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailedDelete {
    route_entry_id: String,
    dst_cidr_block: String,
    next_hop: String,
    failed_code: String,
    failed_message: String,
}

/// DeleteRouteEntries' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRouteEntriesResponse {
    success_count: usize,
    failed_count: usize,
    failed_route_entries: Vec<FailedDelete>,
}

/// What one `RouteEntries.N` of DeleteRouteEntries names.
enum Target {
    Id(String),
    Hop(Ipv4Net, String),
}

/// Table index and target of `RouteEntries.{n+1}`.
fn delete_target(d: &Draft, n: usize, r: &RouteEntryRef) -> Result<(usize, Target), ApiError> {
    let field = |f: &str| format!("RouteEntries.{}.{f}", n + 1);
    let table_id =
        given(&r.route_table_id).ok_or_else(|| ApiError::missing(&field("RouteTableId")))?;
    let ti = d.route_table_index(table_id)?;
    Ok(match given(&r.route_entry_id) {
        Some(id) => (ti, Target::Id(id.to_string())),
        None => {
            let dst = given(&r.dst_cidr_block)
                .ok_or_else(|| ApiError::missing(&field("DstCidrBlock")))?;
            let destination = batch_destination(&field("DstCidrBlock"), dst)?;
            let hop = given(&r.next_hop).ok_or_else(|| ApiError::missing(&field("NextHop")))?;
            (ti, Target::Hop(destination, hop.to_string()))
        }
    })
}

/// First match wins: inserts unless `k` is there; true if inserted.
trait InsertIfAbsent<K, V> {
    fn insert_if_absent(&mut self, k: K, v: V) -> bool;
}

impl<K: std::hash::Hash + Eq, V> InsertIfAbsent<K, V> for HashMap<K, V> {
    fn insert_if_absent(&mut self, k: K, v: V) -> bool {
        match self.entry(k) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(v);
                true
            }
        }
    }
}

/// For each request (by position), the (table, entry) indexes it names:
/// one pass over each table touched, ended once each request is answered.
fn find_targets(m: &Model, targets: &[(usize, usize, Target)]) -> HashMap<usize, (usize, usize)> {
    let tables: BTreeSet<usize> = targets.iter().map(|(_, ti, _)| *ti).collect();
    let mut found: HashMap<usize, (usize, usize)> = HashMap::new();
    for ti in tables {
        let mine: Vec<&(usize, usize, Target)> =
            targets.iter().filter(|(_, t, _)| *t == ti).collect();
        let mut ids: HashMap<&str, Vec<usize>> = HashMap::new();
        for (n, _, t) in &mine {
            if let Target::Id(id) = t {
                ids.entry(id.as_str()).or_default().push(*n);
            }
        }
        // By destination, sorted: an entry is looked up among them, not
        // compared with each.
        let key = |c: &Ipv4Net| (u32::from(c.network()), c.prefix_len());
        let mut hops: Vec<((u32, u8), &str, usize)> = mine
            .iter()
            .filter_map(|(n, _, t)| {
                if let Target::Hop(c, h) = t {
                    Some((key(c), h.as_str(), *n))
                } else {
                    None
                }
            })
            .collect();
        hops.sort_by_key(|(k, _, n)| (*k, *n));
        // Requests of this table not answered yet: the walk stops once
        // each is (an entry is found at its first match in any case).
        let mut left = mine.len();
        for (ei, e) in m.route_tables[ti].route_entries.iter().enumerate() {
            if left == 0 {
                break;
            }
            if !ids.is_empty()
                && let Some(ns) = ids.get(e.id.as_str())
            {
                for n in ns {
                    if found.insert_if_absent(*n, (ti, ei)) {
                        left -= 1;
                    }
                }
            }
            let k = key(&e.destination_cidr_block);
            let from = hops.partition_point(|(h, _, _)| *h < k);
            for (_, h, n) in hops[from..].iter().take_while(|(h, _, _)| *h == k) {
                if *h == e.next_hop_id && found.insert_if_absent(*n, (ti, ei)) {
                    left -= 1;
                }
            }
        }
    }
    found
}

impl Action for DeleteRouteEntries {
    const NAME: &'static str = "DeleteRouteEntries";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes up to 50 custom route entries in one change; the ones not found are listed with their code (RT-4).";
    type Response = DeleteRouteEntriesResponse;

    fn run(self, d: &mut Draft) -> Result<DeleteRouteEntriesResponse, ApiError> {
        d.require_region()?;
        check_batch(&self.route_entries)?;
        let mut targets: Vec<(usize, usize, Target)> = Vec::new();
        let mut failed: Vec<(usize, ApiError)> = Vec::new();
        for (n, r) in self.route_entries.iter().enumerate() {
            match delete_target(d, n, r) {
                Ok((ti, t)) => targets.push((n, ti, t)),
                Err(e) => failed.push((n, e)),
            }
        }
        let found = find_targets(&d.model, &targets);
        let mut doomed: HashMap<usize, HashSet<usize>> = HashMap::new();
        for (n, _, _) in &targets {
            match found.get(n) {
                Some((ti, ei))
                    if let Err(e) =
                        refuse_endpoint_entry(&d.model.route_tables[*ti].route_entries[*ei]) =>
                {
                    failed.push((*n, e))
                }
                Some((ti, ei)) if doomed.entry(*ti).or_default().insert(*ei) => {}
                Some(_) => failed.push((*n, ApiError::not_found("InvalidRouteEntry.NotFound", "The route entry is named twice in this call."))),
                None => failed.push((
                    *n,
                    ApiError::not_found("InvalidRouteEntry.NotFound", "The specified route entry does not exist (system entries cannot be deleted)."),
                )),
            }
        }
        failed.sort_by_key(|(n, _)| *n);
        let success_count: usize = doomed.values().map(HashSet::len).sum();
        for (ti, gone) in doomed {
            let table = &mut d.model.route_tables[ti];
            if gone
                .iter()
                .any(|ei| table.route_entries[*ei].is_prefix_list())
            {
                table.next_generation();
            }
            let mut i = 0;
            table.route_entries.retain(|_| {
                i += 1;
                !gone.contains(&(i - 1))
            });
        }
        let failed_route_entries: Vec<FailedDelete> = failed
            .into_iter()
            .map(|(n, e)| {
                let r = &self.route_entries[n];
                FailedDelete {
                    route_entry_id: given(&r.route_entry_id).unwrap_or_default().to_string(),
                    dst_cidr_block: r.dst_cidr_block.clone().unwrap_or_default(),
                    next_hop: r.next_hop.clone().unwrap_or_default(),
                    failed_code: e.code,
                    failed_message: e.message,
                }
            })
            .collect();
        Ok(DeleteRouteEntriesResponse {
            success_count,
            failed_count: failed_route_entries.len(),
            failed_route_entries,
        })
    }
}

/// DeleteRouteEntry: by RouteEntryId, or by RouteTableId and
/// DestinationCidrBlock (and NextHopId).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRouteEntry {
    /// The entry's id.
    route_entry_id: Option<String>,
    /// The table holding the entry (with DestinationCidrBlock, instead of
    /// RouteEntryId).
    route_table_id: Option<String>,
    /// The entry's destination.
    destination_cidr_block: Option<String>,
    /// The entry's next hop (optional: narrows the match).
    next_hop_id: Option<String>,
    /// Several next hops (ECMP) are not forwarded by this router.
    #[serde(rename = "NextHopList")]
    _next_hop_list: Option<Unsupported>,
}

impl Action for DeleteRouteEntry {
    const NAME: &'static str = "DeleteRouteEntry";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes a custom route entry, by id or by table and destination; system entries cannot be deleted.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let entry_id = given(&self.route_entry_id);
        let table_id = given(&self.route_table_id);
        let destination = given(&self.destination_cidr_block)
            .map(|c| {
                if c.starts_with("pl-") {
                    Ok(c.to_string())
                } else {
                    cidr("DestinationCidrBlock", c).map(|c| c.to_string())
                }
            })
            .transpose()?;
        let next_hop = given(&self.next_hop_id);
        if entry_id.is_none() && (table_id.is_none() || destination.is_none()) {
            return Err(ApiError::missing(if table_id.is_none() {
                "RouteEntryId"
            } else {
                "DestinationCidrBlock"
            }));
        }
        if let Some(t) = table_id {
            d.route_table_index(t)?;
        }
        let found = d.model.route_tables.iter().enumerate().find_map(|(ti, t)| {
            if table_id.is_some_and(|x| x != t.id) || !d.caller.owns(&t.meta.owner_id) {
                return None;
            }
            let ei = t.route_entries.iter().position(|e| {
                entry_id.is_none_or(|x| e.id == x)
                    && destination
                        .as_ref()
                        .is_none_or(|x| e.destination_text() == *x)
                    && next_hop.is_none_or(|x| e.next_hop_id == x)
            })?;
            Some((ti, ei))
        });
        let (ti, ei) = found.ok_or_else(|| {
            ApiError::not_found(
                "InvalidRouteEntry.NotFound",
                "The specified route entry does not exist (system entries cannot be deleted).",
            )
        })?;
        refuse_endpoint_entry(&d.model.route_tables[ti].route_entries[ei])?;
        let table = &mut d.model.route_tables[ti];
        if table.route_entries.remove(ei).is_prefix_list() {
            // Its routes go at once (RT-1).
            table.next_generation();
        }
        Ok(Empty {})
    }
}

/// The cloud's refusal of deleting a route entry a gateway endpoint added
/// (GWE-4: dissociating the table removes it).
fn refuse_endpoint_entry(e: &RouteEntry) -> Result<(), ApiError> {
    if e.next_hop_type == NextHopType::GatewayEndpoint {
        return Err(ApiError::bad(
            "OperationDenied.GatewayEndpointRouteEntry",
            format!(
                "The route entry {} was added by gateway endpoint {}: dissociate the route table from the endpoint (DissociateRouteTablesFromVpcGatewayEndpoint) to remove it.",
                e.id, e.next_hop_id
            ),
        ));
    }
    Ok(())
}

/// DescribeRouteTableList.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRouteTableList {
    /// Only the tables of this VPC.
    vpc_id: Option<String>,
    /// Only this table.
    route_table_id: Option<String>,
    /// Only the tables with this name.
    route_table_name: Option<String>,
    /// Only `System` or `Custom` tables.
    route_table_type: Option<String>,
    /// Only the tables of this router (a VPC's VRouterId).
    router_id: Option<String>,
    /// Only the tables of this kind of router: every table here is a
    /// `VRouter`'s (`VBR` finds nothing).
    router_type: Option<String>,
    /// Only tables with these tags.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// Page, from 1.
    page_number: Option<u32>,
    /// Entries per page (at most 50).
    page_size: Option<u32>,
}

/// `{"VSwitchId": [...]}`.
#[derive(Debug, Serialize)]
pub struct VSwitchIds {
    #[serde(rename = "VSwitchId")]
    v_switch_id: Vec<String>,
}

/// `{"GatewayIds": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GatewayIds {
    gateway_ids: Vec<String>,
}

/// One table in DescribeRouteTableList.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteTableItem {
    route_table_id: String,
    route_table_name: String,
    route_table_type: &'static str,
    vpc_id: String,
    router_id: String,
    router_type: &'static str,
    associate_type: &'static str,
    status: &'static str,
    description: String,
    creation_time: String,
    owner_id: Value,
    resource_group_id: String,
    route_propagation_enable: bool,
    #[serde(rename = "VSwitchIds")]
    v_switch_ids: VSwitchIds,
    gateway_ids: GatewayIds,
    tags: tag::Tags,
}

impl RouteTableItem {
    /// The answer's view of `t`.
    fn of(m: &Model, t: &RouteTable) -> Self {
        let v_switch_id = m
            .vswitches
            .iter()
            .filter(|v| m.route_table_of(v).is_some_and(|x| x.id == t.id))
            .map(|v| v.id.clone())
            .collect();
        let gateway_ids = m
            .ipv4_gateways
            .iter()
            .filter(|g| g.route_table_id.as_deref() == Some(t.id.as_str()))
            .map(|g| g.id.clone())
            .collect();
        Self {
            route_table_id: t.id.clone(),
            route_table_name: t.name.clone().unwrap_or_default(),
            route_table_type: table_type(t.route_table_type),
            vpc_id: t.vpc_id.clone(),
            router_id: m.vpc(&t.vpc_id).map(vrouter_id).unwrap_or_default(),
            router_type: "VRouter",
            associate_type: associate_type(t.associate_type),
            status: "Available",
            description: t.meta.description.clone(),
            creation_time: t.meta.creation_time.clone(),
            owner_id: owner_id(&t.meta),
            resource_group_id: t.meta.resource_group_id.clone(),
            route_propagation_enable: false,
            v_switch_ids: VSwitchIds { v_switch_id },
            gateway_ids: GatewayIds { gateway_ids },
            tags: tag::Tags::of(&t.meta.tags),
        }
    }
}

/// `{"RouterTableListType": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouterTableList {
    router_table_list_type: Vec<RouteTableItem>,
}

/// DescribeRouteTableList's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRouteTableListResponse {
    router_table_list: RouterTableList,
    #[serde(flatten)]
    page: PageInfo,
}

impl DescribeRouteTableList {
    /// True if table `t` passes every filter given.
    fn wants(&self, m: &Model, t: &RouteTable) -> bool {
        given(&self.vpc_id).is_none_or(|x| t.vpc_id == x)
            && given(&self.route_table_id).is_none_or(|x| t.id == x)
            && given(&self.route_table_name).is_none_or(|x| t.name.as_deref() == Some(x))
            && given(&self.route_table_type).is_none_or(|x| table_type(t.route_table_type) == x)
            && given(&self.router_id)
                .is_none_or(|x| m.vpc(&t.vpc_id).is_some_and(|v| vrouter_id(v) == x))
            && given(&self.router_type).is_none_or(|x| x == "VRouter")
            && tag::matches(&t.meta.tags, &self.tag)
    }
}

impl Action for DescribeRouteTableList {
    const NAME: &'static str = "DescribeRouteTableList";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the caller's route tables, filtered by VPC, id, name, type, router, tags; paged (at most 50).";
    type Response = DescribeRouteTableListResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeRouteTableListResponse, ApiError> {
        d.require_region()?;
        let m = &d.model;
        let tables: Vec<&RouteTable> = m
            .route_tables
            .iter()
            .filter(|t| d.in_view(&t.meta))
            .filter(|t| self.wants(m, t))
            .collect();
        let (tables, page) = paginate(tables, self.page_number, self.page_size, 50)?;
        Ok(DescribeRouteTableListResponse {
            router_table_list: RouterTableList {
                router_table_list_type: tables
                    .into_iter()
                    .map(|t| RouteTableItem::of(m, t))
                    .collect(),
            },
            page,
        })
    }
}

/// DescribeRouteEntryList: the system entries (one per vSwitch of the VPC,
/// next hop local, RT-2) and the custom ones of one table; paged by
/// MaxResult and NextToken.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRouteEntryList {
    /// The table.
    route_table_id: String,
    /// Only this entry.
    route_entry_id: Option<String>,
    /// Only the entries with this name.
    route_entry_name: Option<String>,
    /// Only the entries to this destination.
    destination_cidr_block: Option<String>,
    /// Only the entries to these destinations.
    #[serde(default)]
    dest_cidr_block_list: Vec<String>,
    /// Only the entries via this next hop.
    next_hop_id: Option<String>,
    /// Only the entries via this kind of next hop (`local` for system
    /// entries).
    next_hop_type: Option<String>,
    /// Only `System` or `Custom` entries.
    route_entry_type: Option<String>,
    /// `ipv4` (any case) lists the entries; any other version finds none.
    ip_version: Option<String>,
    /// Only entries of this service type: no entry here has one, so a
    /// value finds none.
    service_type: Option<String>,
    /// Entries per page, 1 to 100 (default 10).
    max_result: Option<u32>,
    /// Where the page starts (from the previous answer's NextToken).
    next_token: Option<String>,
}

/// One row of DescribeRouteEntryList.
struct Row {
    id: String,
    name: String,
    destination: String,
    kind: &'static str,
    next_hop_type: &'static str,
    next_hop_id: String,
    description: String,
}

/// One next hop of an entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NextHopItem {
    next_hop_type: &'static str,
    next_hop_id: String,
    /// 1: enabled.
    enabled: u32,
    weight: u32,
    next_hop_region_id: String,
}

/// `{"NextHop": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NextHops {
    next_hop: Vec<NextHopItem>,
}

/// One entry in DescribeRouteEntryList.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteEntryItem {
    route_entry_id: String,
    route_entry_name: String,
    route_table_id: String,
    destination_cidr_block: String,
    #[serde(rename = "Type")]
    kind: &'static str,
    status: &'static str,
    ip_version: &'static str,
    description: String,
    origin: &'static str,
    service_type: &'static str,
    next_hops: NextHops,
}

/// `{"RouteEntry": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteEntrys {
    route_entry: Vec<RouteEntryItem>,
}

/// DescribeRouteEntryList's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRouteEntryListResponse {
    route_entrys: RouteEntrys,
    /// Where the next page starts; empty on the last page.
    next_token: String,
    total_count: usize,
}

/// The rows of table `t`: its system entries (the vSwitch CIDRs of its VPC
/// not edited into custom entries, RT-2, RT-4), then its custom ones.
fn rows_of(m: &Model, t: &RouteTable) -> Vec<Row> {
    let mut rows: Vec<Row> = m
        .vswitches
        .iter()
        .filter(|v| v.vpc_id == t.vpc_id)
        .filter(|v| {
            !t.route_entries
                .iter()
                .any(|e| e.destination_cidr_block == v.cidr_block)
        })
        .map(|v| Row {
            id: format!(
                "rte-sys{:08x}",
                topology::numeric_id(&format!("{}/{}", t.id, v.id))
            ),
            name: String::new(),
            destination: v.cidr_block.to_string(),
            kind: "System",
            next_hop_type: "local",
            next_hop_id: String::new(),
            description: String::new(),
        })
        .collect();
    rows.extend(t.route_entries.iter().map(|e| Row {
        id: e.id.clone(),
        name: e.name.clone().unwrap_or_default(),
        destination: e.destination_text(),
        kind: "Custom",
        next_hop_type: e.next_hop_type.as_str(),
        next_hop_id: e.next_hop_id.clone(),
        description: e.meta.description.clone(),
    }));
    rows
}

impl DescribeRouteEntryList {
    /// Keeps the rows passing every filter given.
    fn filter(&self, rows: &mut Vec<Row>) -> Result<(), ApiError> {
        let dest = given(&self.destination_cidr_block)
            .map(|c| {
                if c.starts_with("pl-") {
                    Ok(c.to_string())
                } else {
                    cidr("DestinationCidrBlock", c).map(|c| c.to_string())
                }
            })
            .transpose()?;
        let ipv4 = given(&self.ip_version).is_none_or(|v| v.eq_ignore_ascii_case("ipv4"));
        if !ipv4 || given(&self.service_type).is_some() {
            rows.clear();
        }
        let dests = &self.dest_cidr_block_list;
        rows.retain(|r| {
            given(&self.route_entry_id).is_none_or(|x| r.id == x)
                && given(&self.route_entry_name).is_none_or(|x| r.name == x)
                && dest.as_ref().is_none_or(|x| r.destination == *x)
                && (dests.is_empty() || dests.contains(&r.destination))
                && given(&self.next_hop_id).is_none_or(|x| r.next_hop_id == x)
                && given(&self.next_hop_type).is_none_or(|x| r.next_hop_type == x)
                && given(&self.route_entry_type).is_none_or(|x| r.kind == x)
        });
        Ok(())
    }

    /// The page's first row (from NextToken) and size (MaxResult).
    fn window(&self) -> Result<(usize, usize), ApiError> {
        let max = self.max_result.unwrap_or(10);
        if !(1..=100).contains(&max) {
            return Err(ApiError::invalid(
                "MaxResult",
                format!("{max} is outside 1..=100"),
            ));
        }
        // An offset token, not paging::page_after's key token: the rows are in
        // the table's order (system, then custom), not a key's (see service/paging.rs).
        let start = match given(&self.next_token) {
            None => 0,
            Some(tok) => tok.parse().map_err(|_| {
                ApiError::bad(
                    "InvalidNextToken",
                    format!("The NextToken {tok:?} is not valid."),
                )
            })?,
        };
        Ok((start, max as usize))
    }
}

impl Action for DescribeRouteEntryList {
    const NAME: &'static str = "DescribeRouteEntryList";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists a route table's system and custom entries, filtered by id, name, destination, next hop, type; paged by NextToken.";
    type Response = DescribeRouteEntryListResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeRouteEntryListResponse, ApiError> {
        d.require_region()?;
        let table_id = required("RouteTableId", &self.route_table_id)?;
        let t = &d.model.route_tables[d.route_table_index(table_id)?];
        let mut rows = rows_of(&d.model, t);
        self.filter(&mut rows)?;
        let (start, max) = self.window()?;
        let total_count = rows.len();
        let next_token = if start + max < total_count {
            (start + max).to_string()
        } else {
            String::new()
        };
        let route_entry = rows
            .into_iter()
            .skip(start)
            .take(max)
            .map(|r| RouteEntryItem {
                route_entry_id: r.id,
                route_entry_name: r.name,
                route_table_id: t.id.clone(),
                destination_cidr_block: r.destination,
                kind: r.kind,
                status: "Available",
                ip_version: "ipv4",
                description: r.description,
                origin: "",
                service_type: "",
                next_hops: NextHops {
                    next_hop: vec![NextHopItem {
                        next_hop_type: r.next_hop_type,
                        next_hop_id: r.next_hop_id,
                        enabled: 1,
                        weight: 0,
                        next_hop_region_id: t.meta.region_id.clone(),
                    }],
                },
            })
            .collect();
        Ok(DescribeRouteEntryListResponse {
            route_entrys: RouteEntrys { route_entry },
            next_token,
            total_count,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::service::tests::Scratch;

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");

    #[test]
    fn rt_3_custom_table_with_instance_next_hop() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let fw = s.ok(
            "RunInstances",
            &[
                R,
                ("VSwitchId", &vsw),
                ("ImageId", "i"),
                ("InstanceType", "t"),
            ],
        );
        let fw = fw["InstanceIdSets"]["InstanceIdSet"][0]
            .as_str()
            .unwrap()
            .to_string();
        let t = s.ok(
            "CreateRouteTable",
            &[R, ("VpcId", &vpc), ("RouteTableName", "via-fw")],
        );
        let t = t["RouteTableId"].as_str().unwrap().to_string();
        let e = s.ok(
            "CreateRouteEntry",
            &[
                ("RouteTableId", &t),
                ("DestinationCidrBlock", "192.168.0.0/16"),
                ("NextHopId", &fw),
            ],
        );
        assert!(e["RouteEntryId"].as_str().unwrap().starts_with("rte-"));
        let dup = s.err(
            "CreateRouteEntry",
            &[
                ("RouteTableId", &t),
                ("DestinationCidrBlock", "192.168.0.0/16"),
                ("NextHopId", &fw),
            ],
        );
        assert_eq!(dup.code, "InvalidCIDRBlock.Duplicate");
        let sys = s.err(
            "CreateRouteEntry",
            &[
                ("RouteTableId", &t),
                ("DestinationCidrBlock", "10.0.1.0/24"),
                ("NextHopId", &fw),
            ],
        );
        assert_eq!(sys.code, "InvalidCidrBlock");
        let nope = s.err(
            "CreateRouteEntry",
            &[
                ("RouteTableId", &t),
                ("DestinationCidrBlock", "10.9.0.0/16"),
                ("NextHopId", "i-nope"),
            ],
        );
        assert_eq!(nope.code, "InvalidNextHopId.NotFound");
        s.ok(
            "AssociateRouteTable",
            &[R, ("RouteTableId", &t), ("VSwitchId", &vsw)],
        );
        let l = s.ok(
            "DescribeRouteTableList",
            &[R, ("VpcId", &vpc), ("RouteTableType", "Custom")],
        );
        assert_eq!(
            l["RouterTableList"]["RouterTableListType"][0]["VSwitchIds"]["VSwitchId"][0],
            vsw.as_str()
        );
        let entries = s.ok("DescribeRouteEntryList", &[R, ("RouteTableId", &t)]);
        let kinds: Vec<&str> = entries["RouteEntrys"]["RouteEntry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["Type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["System", "Custom"]);
        assert_eq!(
            s.err("DeleteRouteTable", &[R, ("RouteTableId", &t)]).code,
            "DependencyViolation.VSwitch"
        );
        s.ok(
            "UnassociateRouteTable",
            &[R, ("RouteTableId", &t), ("VSwitchId", &vsw)],
        );
        assert_eq!(
            s.err("DeleteRouteTable", &[R, ("RouteTableId", &t)]).code,
            "DependencyViolation.RouteEntry"
        );
        s.ok(
            "DeleteRouteEntry",
            &[
                ("RouteTableId", &t),
                ("DestinationCidrBlock", "192.168.0.0/16"),
            ],
        );
        s.ok("DeleteRouteTable", &[R, ("RouteTableId", &t)]);
    }

    /// A VPC with a vSwitch, an instance `fw` in it and a custom table: (vsw, fw, table).
    fn table_with_appliance(s: &mut Scratch) -> (String, String, String) {
        let (vpc, vsw) = s.vpc_with_vswitch();
        let fw = s.ok(
            "RunInstances",
            &[
                R,
                ("VSwitchId", &vsw),
                ("ImageId", "i"),
                ("InstanceType", "t"),
            ],
        );
        let fw = fw["InstanceIdSets"]["InstanceIdSet"][0]
            .as_str()
            .unwrap()
            .to_string();
        let t = s.ok("CreateRouteTable", &[R, ("VpcId", &vpc)]);
        (vsw, fw, t["RouteTableId"].as_str().unwrap().to_string())
    }

    fn custom_destinations(s: &mut Scratch, t: &str) -> Vec<String> {
        let l = s.ok(
            "DescribeRouteEntryList",
            &[
                R,
                ("RouteTableId", t),
                ("RouteEntryType", "Custom"),
                ("MaxResult", "100"),
            ],
        );
        l["RouteEntrys"]["RouteEntry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["DestinationCidrBlock"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn rt_3_create_route_entries_adds_the_valid_entries_and_lists_the_failed_ones() {
        let mut s = Scratch::new();
        let (_, fw, t) = table_with_appliance(&mut s);
        let owned: Vec<(String, String)> = [
            ("1", "192.168.0.0/16", fw.as_str()),
            ("2", "172.16.5.7", fw.as_str()),  // an address: a /32
            ("3", "10.0.1.0/24", fw.as_str()), // the vSwitch's CIDR (RT-2)
            ("4", "192.168.0.0/16", fw.as_str()), // twice in one call
            ("5", "10.9.0.0/16", "i-nope"),    // no such next hop
            ("6", "10.8.0.1/16", fw.as_str()), // host bits
        ]
        .iter()
        .flat_map(|(n, dst, hop)| {
            [
                (format!("RouteEntries.{n}.RouteTableId"), t.clone()),
                (format!("RouteEntries.{n}.DstCidrBlock"), dst.to_string()),
                (format!("RouteEntries.{n}.NextHop"), hop.to_string()),
                (
                    format!("RouteEntries.{n}.NextHopType"),
                    "Instance".to_string(),
                ),
            ]
        })
        .collect();
        let mut params: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        params.push(R);
        params.push(("RouteEntries.1.Name", "to-fw"));
        let r = s.ok("CreateRouteEntries", &params);
        assert_eq!(
            (r["SuccessCount"].as_u64(), r["FailedCount"].as_u64()),
            (Some(2), Some(4)),
            "{r}"
        );
        assert_eq!(r["RouteEntryIds"].as_array().unwrap().len(), 2);
        let codes: Vec<&str> = r["FailedRouteEntries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["FailedCode"].as_str().unwrap())
            .collect();
        assert_eq!(
            codes,
            [
                "InvalidCidrBlock",
                "InvalidCIDRBlock.Duplicate",
                "InvalidNextHopId.NotFound",
                "InvalidDestinationCidrBlock.Malformed"
            ]
        );
        assert_eq!(r["FailedRouteEntries"][2]["DstCidrBlock"], "10.9.0.0/16");
        assert_eq!(r["FailedRouteEntries"][2]["NextHop"], "i-nope");
        assert_eq!(
            custom_destinations(&mut s, &t),
            ["192.168.0.0/16", "172.16.5.7/32"]
        );
        // Already there: a failure of its own, nothing else changes.
        let again = s.ok(
            "CreateRouteEntries",
            &[
                R,
                ("RouteEntries.1.RouteTableId", &t),
                ("RouteEntries.1.DstCidrBlock", "192.168.0.0/16"),
                ("RouteEntries.1.NextHop", &fw),
            ],
        );
        assert_eq!(
            again["FailedRouteEntries"][0]["FailedCode"],
            "InvalidCIDRBlock.Duplicate"
        );
        assert_eq!(again["SuccessCount"], 0);
    }

    #[test]
    fn rt_3_route_entry_batches_hold_at_most_50_and_refuse_unknown_fields() {
        let mut s = Scratch::new();
        let (_, fw, t) = table_with_appliance(&mut s);
        let owned: Vec<(String, String)> = (1..=51)
            .flat_map(|n| {
                [
                    (format!("RouteEntries.{n}.RouteTableId"), t.clone()),
                    (
                        format!("RouteEntries.{n}.DstCidrBlock"),
                        format!("100.{n}.0.0/16"),
                    ),
                    (format!("RouteEntries.{n}.NextHop"), fw.clone()),
                ]
            })
            .collect();
        let mut params: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        params.push(R);
        assert_eq!(
            s.err("CreateRouteEntries", &params).code,
            "InvalidParameter"
        );
        params.retain(|(k, _)| !k.starts_with("RouteEntries.51."));
        assert_eq!(s.ok("CreateRouteEntries", &params)["SuccessCount"], 50);
        let bogus = s.err(
            "CreateRouteEntries",
            &[
                R,
                ("RouteEntries.1.RouteTableId", &t),
                ("RouteEntries.1.DstCidrBlock", "1.0.0.0/8"),
                ("RouteEntries.1.NextHop", &fw),
                ("RouteEntries.1.Bogus", "x"),
            ],
        );
        assert_eq!(bogus.code, "InvalidParameter");
        assert_eq!(s.err("CreateRouteEntries", &[R]).code, "MissingParameter");
    }

    #[test]
    fn rt_3_delete_route_entries_by_id_or_by_destination_and_next_hop() {
        let mut s = Scratch::new();
        let (_, fw, t) = table_with_appliance(&mut s);
        let r = s.ok(
            "CreateRouteEntries",
            &[
                R,
                ("RouteEntries.1.RouteTableId", &t),
                ("RouteEntries.1.DstCidrBlock", "192.168.0.0/16"),
                ("RouteEntries.1.NextHop", &fw),
                ("RouteEntries.2.RouteTableId", &t),
                ("RouteEntries.2.DstCidrBlock", "172.16.0.0/12"),
                ("RouteEntries.2.NextHop", &fw),
                ("RouteEntries.3.RouteTableId", &t),
                ("RouteEntries.3.DstCidrBlock", "100.64.0.0/10"),
                ("RouteEntries.3.NextHop", &fw),
            ],
        );
        let first = r["RouteEntryIds"][0].as_str().unwrap().to_string();
        let d = s.ok(
            "DeleteRouteEntries",
            &[
                R,
                ("RouteEntries.1.RouteTableId", &t),
                ("RouteEntries.1.RouteEntryId", &first),
                ("RouteEntries.2.RouteTableId", &t),
                ("RouteEntries.2.DstCidrBlock", "100.64.0.0/10"),
                ("RouteEntries.2.NextHop", &fw),
                ("RouteEntries.3.RouteTableId", &t),
                ("RouteEntries.3.RouteEntryId", "rte-nope"),
                ("RouteEntries.4.RouteTableId", &t),
                ("RouteEntries.4.RouteEntryId", &first),
            ],
        );
        assert_eq!(
            (d["SuccessCount"].as_u64(), d["FailedCount"].as_u64()),
            (Some(2), Some(2)),
            "{d}"
        );
        assert_eq!(d["FailedRouteEntries"][0]["RouteEntryId"], "rte-nope");
        assert_eq!(
            d["FailedRouteEntries"][0]["FailedCode"],
            "InvalidRouteEntry.NotFound"
        );
        assert_eq!(custom_destinations(&mut s, &t), ["172.16.0.0/12"]);
        let none = s.ok(
            "DeleteRouteEntries",
            &[
                R,
                ("RouteEntries.1.RouteTableId", "vtb-nope"),
                ("RouteEntries.1.RouteEntryId", &first),
            ],
        );
        assert_eq!(
            none["FailedRouteEntries"][0]["FailedCode"],
            "InvalidRouteTableId.NotFound"
        );
        let dry = s.err(
            "DeleteRouteEntries",
            &[
                R,
                ("DryRun", "true"),
                ("RouteEntries.1.RouteTableId", &t),
                ("RouteEntries.1.DstCidrBlock", "172.16.0.0/12"),
                ("RouteEntries.1.NextHop", &fw),
            ],
        );
        assert_eq!(dry.code, "DryRunOperation");
        assert_eq!(custom_destinations(&mut s, &t), ["172.16.0.0/12"]);
    }

    #[test]
    fn rt_1_table_of_another_vpc_cannot_be_associated() {
        let mut s = Scratch::new();
        let (_, vsw) = s.vpc_with_vswitch();
        let other = s.ok("CreateVpc", &[R, ("CidrBlock", "10.1.0.0/16")]);
        let t = s.ok(
            "CreateRouteTable",
            &[R, ("VpcId", other["VpcId"].as_str().unwrap())],
        );
        let e = s.err(
            "AssociateRouteTable",
            &[
                R,
                ("RouteTableId", t["RouteTableId"].as_str().unwrap()),
                ("VSwitchId", &vsw),
            ],
        );
        assert_eq!(e.code, "Forbidden.NotInSameVpc");
        let sys = other["RouteTableId"].as_str().unwrap();
        assert_eq!(
            s.err("DeleteRouteTable", &[R, ("RouteTableId", sys)]).code,
            "IncorrectRouteTableType"
        );
    }

    #[test]
    fn route_table_tags_are_kept_shown_and_filtered_on() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let t = s.ok(
            "CreateRouteTable",
            &[
                R,
                ("VpcId", &vpc),
                ("Description", "d"),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "lab"),
            ],
        );
        let t = t["RouteTableId"].as_str().unwrap();
        let l = s.ok(
            "DescribeRouteTableList",
            &[
                R,
                ("VpcId", &vpc),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "lab"),
            ],
        );
        assert_eq!(l["TotalCount"], 1);
        let item = &l["RouterTableList"]["RouterTableListType"][0];
        assert_eq!(item["RouteTableId"], t);
        assert_eq!(
            item["Tags"]["Tag"],
            serde_json::json!([{"Key": "env", "Value": "lab"}])
        );
        assert_eq!(
            (item["Description"].as_str(), item["AssociateType"].as_str()),
            (Some("d"), Some("VSwitch"))
        );
        assert!(item["OwnerId"].is_u64());
        assert_eq!(
            s.ok("DescribeRouteTableList", &[R, ("VpcId", &vpc)])["TotalCount"],
            2
        );
        assert_eq!(
            s.ok(
                "DescribeRouteTableList",
                &[R, ("VpcId", &vpc), ("RouterType", "VRouter")]
            )["TotalCount"],
            2
        );
        assert_eq!(
            s.ok(
                "DescribeRouteTableList",
                &[R, ("VpcId", &vpc), ("RouterType", "VBR")]
            )["TotalCount"],
            0
        );
        let e = s.err(
            "CreateRouteTable",
            &[R, ("VpcId", &vpc), ("Tag.1.Key", "aliyun-x")],
        );
        assert_eq!(e.code, "InvalidTagKey.Malformed");
        assert_eq!(
            s.err("CreateRouteTable", &[("VpcId", &vpc)]).code,
            "MissingParameter"
        );
    }

    #[test]
    fn several_next_hops_are_refused_by_name() {
        let mut s = Scratch::new();
        let (_, fw, t) = table_with_appliance(&mut s);
        let e = s.err(
            "CreateRouteEntry",
            &[
                ("RouteTableId", &t),
                ("DestinationCidrBlock", "192.168.0.0/16"),
                ("NextHopId", &fw),
                ("NextHopList.1.NextHopId", &fw),
                ("NextHopList.1.NextHopType", "Instance"),
            ],
        );
        assert_eq!(e.code, "UnsupportedParameter");
        assert!(e.message.contains("NextHopList"), "{e:?}");
        let e = s.err(
            "DeleteRouteEntry",
            &[
                ("RouteTableId", &t),
                ("DestinationCidrBlock", "192.168.0.0/16"),
                ("NextHopList.1.NextHopId", &fw),
            ],
        );
        assert_eq!(e.code, "UnsupportedParameter");
        assert!(custom_destinations(&mut s, &t).is_empty());
    }

    #[test]
    fn route_entry_list_is_filtered_and_paged_by_next_token() {
        let mut s = Scratch::new();
        let (_, fw, t) = table_with_appliance(&mut s);
        let owned: Vec<(String, String)> = (1..=3)
            .flat_map(|n| {
                [
                    (format!("RouteEntries.{n}.RouteTableId"), t.clone()),
                    (
                        format!("RouteEntries.{n}.DstCidrBlock"),
                        format!("100.{n}.0.0/16"),
                    ),
                    (format!("RouteEntries.{n}.NextHop"), fw.clone()),
                    (format!("RouteEntries.{n}.IpVersion"), "4".into()),
                ]
            })
            .collect();
        let mut params: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        params.push(R);
        assert_eq!(s.ok("CreateRouteEntries", &params)["SuccessCount"], 3);
        let page = |s: &mut Scratch, token: &str| {
            s.ok(
                "DescribeRouteEntryList",
                &[
                    R,
                    ("RouteTableId", &t),
                    ("MaxResult", "3"),
                    ("NextToken", token),
                ],
            )
        };
        let first = page(&mut s, "");
        assert_eq!(first["TotalCount"], 4);
        assert_eq!(first["RouteEntrys"]["RouteEntry"][0]["Type"], "System");
        assert_eq!(
            first["RouteEntrys"]["RouteEntry"][0]["NextHops"]["NextHop"][0]["NextHopType"],
            "local"
        );
        assert_eq!(
            first["RouteEntrys"]["RouteEntry"][0]["NextHops"]["NextHop"][0]["Enabled"],
            1
        );
        let rest = page(&mut s, first["NextToken"].as_str().unwrap());
        assert_eq!(
            rest["RouteEntrys"]["RouteEntry"][0]["DestinationCidrBlock"],
            "100.3.0.0/16"
        );
        assert_eq!(rest["NextToken"], "");
        let only = |s: &mut Scratch, f: (&str, &str)| {
            s.ok("DescribeRouteEntryList", &[R, ("RouteTableId", &t), f])["TotalCount"].clone()
        };
        assert_eq!(only(&mut s, ("DestCidrBlockList.1", "100.2.0.0/16")), 1);
        assert_eq!(only(&mut s, ("DestinationCidrBlock", "10.0.1.0/24")), 1);
        assert_eq!(only(&mut s, ("NextHopType", "Instance")), 3);
        assert_eq!(only(&mut s, ("IpVersion", "IPv6")), 0);
        assert_eq!(only(&mut s, ("ServiceType", "TRF")), 0);
        assert_eq!(
            s.err(
                "DescribeRouteEntryList",
                &[R, ("RouteTableId", &t), ("MaxResult", "101")]
            )
            .code,
            "InvalidParameter"
        );
        assert_eq!(
            s.err(
                "DescribeRouteEntryList",
                &[R, ("RouteTableId", &t), ("NextToken", "x")]
            )
            .code,
            "InvalidNextToken"
        );
        assert_eq!(
            s.err("DescribeRouteEntryList", &[R]).code,
            "MissingParameter"
        );
    }
}
