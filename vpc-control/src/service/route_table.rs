//! CreateRouteTable, DeleteRouteTable, AssociateRouteTable,
//! UnassociateRouteTable, CreateRouteEntry, DeleteRouteEntry,
//! DescribeRouteTableList, DescribeRouteEntryList (RT-1..RT-3).
use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::Ipv4Addr,
    sync::Arc,
};

use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::{Draft, owner_id, page, vpc::cidr, vpc::vrouter_id, with};
use crate::{
    api::{ApiError, new_id, params::Params},
    model::{AssociateType, Meta, NextHopType, RouteEntry, RouteTable, RouteTableType},
    topology,
    validate::{self, ValidationError},
};

fn table_type(t: RouteTableType) -> &'static str {
    match t {
        RouteTableType::System => "System",
        RouteTableType::Custom => "Custom",
    }
}

/// CreateRouteTable: a custom table of a VPC (AssociateType VSwitch).
pub fn create(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let vpc_id = p.required("VpcId")?;
    let vpc = &d.model.vpcs[d.vpc_index(vpc_id)?];
    let associate_type = match p.str("AssociateType").unwrap_or("VSwitch") {
        "VSwitch" => AssociateType::VSwitch,
        "Gateway" => AssociateType::Gateway,
        other => return Err(ApiError::invalid("AssociateType", format!("{other:?} is not VSwitch or Gateway"))),
    };
    let mut meta = d.meta(p);
    meta.region_id = vpc.meta.region_id.clone();
    let table = RouteTable {
        id: new_id("vtb"),
        vpc_id: vpc_id.to_string(),
        name: p.str("RouteTableName").map(str::to_string),
        route_table_type: RouteTableType::Custom,
        associate_type,
        route_entries: Vec::new(),
        meta,
    };
    let body = json!({ "RouteTableId": table.id });
    d.model.route_tables.push(table);
    Ok(body)
}

/// DeleteRouteTable: custom tables only, with no vSwitch and no custom entry.
pub fn delete(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let id = p.required("RouteTableId")?;
    let i = d.route_table_index(id)?;
    let t = &d.model.route_tables[i];
    if t.route_table_type == RouteTableType::System {
        return Err(ApiError::bad(
            "IncorrectRouteTableType",
            format!("The route table {id} is the VPC's system route table: it is deleted with its VPC."),
        ));
    }
    if let Some(g) = d.model.ipv4_gateways.iter().find(|g| g.route_table_id.as_deref() == Some(id)) {
        return Err(ApiError::bad(
            "DependencyViolation.Ipv4Gateway",
            format!("The gateway route table {id} is bound to IPv4 gateway {}: dissociate it first.", g.id),
        ));
    }
    if let Some(v) = d.model.vswitches.iter().find(|v| v.route_table_id.as_deref() == Some(id)) {
        return Err(ApiError::bad(
            "DependencyViolation.VSwitch",
            format!("The route table {id} is associated with vSwitch {}: unassociate it first.", v.id),
        ));
    }
    if let Some(e) = t.route_entries.first() {
        return Err(ApiError::bad(
            "DependencyViolation.RouteEntry",
            format!("The route table {id} still has custom route entry {}: delete it first.", e.destination_cidr_block),
        ));
    }
    d.model.route_tables.remove(i);
    Ok(json!({}))
}

/// AssociateRouteTable: a vSwitch uses this custom table instead of the
/// system one (RT-1). A vSwitch has at most one custom table.
pub fn associate(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let table_id = p.required("RouteTableId")?;
    let vsw_id = p.required("VSwitchId")?;
    let t = &d.model.route_tables[d.route_table_index(table_id)?];
    let vi = d.vswitch_index(vsw_id)?;
    if t.route_table_type == RouteTableType::System {
        return Err(ApiError::bad(
            "InvalidRouteTableType.System",
            format!("The system route table {table_id} is used by every vSwitch without a custom table."),
        ));
    }
    let v = &mut d.model.vswitches[vi];
    match v.route_table_id.as_deref() {
        Some(current) if current == table_id => Ok(json!({})),
        Some(current) => Err(ApiError::bad(
            "OperationConflict",
            format!("The vSwitch {vsw_id} is already associated with route table {current}: unassociate it first."),
        )),
        None => {
            // A table of another VPC is refused by validation (Forbidden.NotInSameVpc).
            v.route_table_id = Some(table_id.to_string());
            Ok(json!({}))
        }
    }
}

/// UnassociateRouteTable: the vSwitch goes back to the system table.
pub fn unassociate(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let table_id = p.required("RouteTableId")?;
    let vsw_id = p.required("VSwitchId")?;
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
    Ok(json!({}))
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
            format!("NextHopType {other} is not supported here (Instance, NetworkInterface, Ipv4Gateway and NatGateway are)."),
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
            format!("The route table {} is a gateway route table: its entries are edited (UpdateGatewayRouteTableEntryAttribute), none can be added (RT-4).", table.id),
        ));
    }
    let owner = match next_hop_type {
        NextHopType::Ipv4Gateway => d.model.ipv4_gateways.iter().find(|g| g.id == next_hop_id).map(|g| &g.meta.owner_id),
        NextHopType::NatGateway => d.model.nat_gateway(next_hop_id).map(|g| &g.meta.owner_id),
        _ => d.model.instance_by_next_hop(next_hop_type, next_hop_id).map(|i| &i.meta.owner_id),
    };
    if owner.is_none_or(|o| !d.caller.owns(o)) {
        return Err(ApiError::not_found("InvalidNextHopId.NotFound", format!("The next hop {next_hop_id} does not exist.")));
    }
    Ok(RouteEntry {
        id: new_id("rte"),
        name,
        destination_cidr_block: destination,
        next_hop_type,
        next_hop_id: next_hop_id.to_string(),
        meta,
    })
}

/// CreateRouteEntry: DestinationCidrBlock -> NextHopType (Instance,
/// NetworkInterface) NextHopId (RT-3).
pub fn create_entry(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.accept(&["RegionId"]);
    let table_id = p.required("RouteTableId")?;
    let destination = cidr("DestinationCidrBlock", p.required("DestinationCidrBlock")?)?;
    let next_hop_type = next_hop_type(p.str("NextHopType").unwrap_or("Instance"))?;
    let next_hop_id = p.required("NextHopId")?;
    let ti = d.route_table_index(table_id)?;
    let entry = new_entry(d, ti, destination, next_hop_type, next_hop_id, p.str("RouteEntryName").map(str::to_string), d.meta(p))?;
    let body = json!({ "RouteEntryId": entry.id });
    d.model.route_tables[ti].route_entries.push(Arc::new(entry));
    Ok(body)
}

/// Most entries one CreateRouteEntries or DeleteRouteEntries call takes.
pub const MAX_BATCH_ENTRIES: usize = 50;

/// The `RouteEntries.N.` prefixes given (1, 2, ... without gaps), at most
/// [`MAX_BATCH_ENTRIES`].
fn batch_prefixes(p: &Params) -> Result<Vec<String>, ApiError> {
    let mut prefixes = Vec::new();
    while p.has_prefix(&format!("RouteEntries.{}.", prefixes.len() + 1)) {
        prefixes.push(format!("RouteEntries.{}.", prefixes.len() + 1));
    }
    if prefixes.is_empty() {
        return Err(ApiError::missing("RouteEntries.1.RouteTableId"));
    }
    if prefixes.len() > MAX_BATCH_ENTRIES {
        return Err(ApiError::invalid("RouteEntries", format!("at most {MAX_BATCH_ENTRIES} route entries per call")));
    }
    Ok(prefixes)
}

/// A destination as the batch actions take it: a CIDR block, or an
/// address (a /32).
fn batch_destination(name: &str, value: &str) -> Result<Ipv4Net, ApiError> {
    match value.parse::<Ipv4Addr>() {
        Ok(a) => Ok(Ipv4Net::from(a)),
        Err(_) => cidr(name, value),
    }
}

/// CreateRouteEntries: up to 50 `RouteEntries.N.{RouteTableId, DstCidrBlock,
/// NextHop, NextHopType, Name, Description, IpVersion}` (RT-3). Each entry
/// is checked on its own: the valid ones are added (all in this one
/// change), the others are listed in `FailedRouteEntries` with their code.
pub fn create_entries(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let prefixes = batch_prefixes(p)?;
    let mut candidates: Vec<(usize, usize, RouteEntry)> = Vec::new();
    // (position in the call, DstCidrBlock, NextHop, error)
    let mut failed: Vec<(usize, String, String, ApiError)> = Vec::new();
    {
        let check = validate::RouteEntryCheck::new(&d.model);
        for (n, pre) in prefixes.iter().enumerate() {
            let field = |f: &str| format!("{pre}{f}");
            p.accept(&[&field("RouteTableId"), &field("NextHopType"), &field("Name"), &field("Description"), &field("IpVersion")]);
            let dst = p.get(&field("DstCidrBlock")).unwrap_or_default().to_string();
            let hop = p.get(&field("NextHop")).unwrap_or_default().to_string();
            let attempt = (|| -> Result<(usize, RouteEntry), ApiError> {
                let table_id = p.required(&field("RouteTableId"))?;
                let destination = batch_destination(&field("DstCidrBlock"), p.required(&field("DstCidrBlock"))?)?;
                if let Some(v) = p.str(&field("IpVersion"))
                    && !matches!(v, "4" | "ipv4" | "IPv4")
                {
                    return Err(ApiError::bad("InvalidIpVersion.NotSupported", format!("IpVersion {v} is not supported here (4 is).")));
                }
                let hop_type = next_hop_type(p.str(&field("NextHopType")).unwrap_or("Instance"))?;
                let hop_id = p.required(&field("NextHop"))?;
                let ti = d.route_table_index(table_id)?;
                let mut meta = d.meta(p);
                meta.description = p.get(&field("Description")).unwrap_or_default().to_string();
                let entry = new_entry(d, ti, destination, hop_type, hop_id, p.str(&field("Name")).map(str::to_string), meta)?;
                let table = &d.model.route_tables[ti];
                check.entry(table, &check.vswitches_of(table), &entry)?;
                Ok((ti, entry))
            })();
            match attempt {
                Ok((ti, entry)) => candidates.push((n, ti, entry)),
                Err(e) => failed.push((n, dst, hop, e)),
            }
        }
    }
    // Destinations already in their table, or twice in this call: one pass
    // over each table touched, each entry looked up among the (at most 50)
    // candidates.
    let key = |c: &Ipv4Net| (u64::from(u32::from(c.network())) << 8) | u64::from(c.prefix_len());
    let mut taken: HashSet<(usize, Ipv4Net)> = HashSet::new();
    let tables: BTreeSet<usize> = candidates.iter().map(|(_, ti, _)| *ti).collect();
    for ti in tables {
        let mut wanted: Vec<u64> =
            candidates.iter().filter(|(_, t, _)| *t == ti).map(|(_, _, e)| key(&e.destination_cidr_block)).collect();
        wanted.sort_unstable();
        for e in &d.model.route_tables[ti].route_entries {
            if wanted.binary_search(&key(&e.destination_cidr_block)).is_ok() {
                taken.insert((ti, e.destination_cidr_block));
            }
        }
    }
    let mut added = Vec::new();
    for (n, ti, entry) in candidates {
        let destination = entry.destination_cidr_block;
        if !taken.insert((ti, destination)) {
            let table = &d.model.route_tables[ti];
            let e: ApiError = ValidationError::DuplicateRouteEntry { route_table_id: table.id.clone(), destination }.into();
            failed.push((n, destination.to_string(), entry.next_hop_id.clone(), e));
            continue;
        }
        added.push((ti, entry));
    }
    failed.sort_by_key(|(n, ..)| *n);
    let ids: Vec<String> = added.iter().map(|(_, e)| e.id.clone()).collect();
    for (ti, entry) in added {
        d.model.route_tables[ti].route_entries.push(Arc::new(entry));
    }
    let failed: Vec<Value> = failed
        .into_iter()
        .map(|(_, dst, hop, e)| json!({ "DstCidrBlock": dst, "NextHop": hop, "FailedCode": e.code, "FailedMessage": e.message }))
        .collect();
    Ok(json!({
        "SuccessCount": ids.len(),
        "FailedCount": failed.len(),
        "RouteEntryIds": ids,
        "FailedRouteEntries": failed,
    }))
}

/// DeleteRouteEntries: up to 50 `RouteEntries.N.{RouteTableId,
/// RouteEntryId}` (or `DstCidrBlock` and `NextHop` instead of the id). The
/// entries found are deleted (all in this one change), the others are
/// listed in `FailedRouteEntries` with their code. On a gateway route table
/// a deleted entry turns back into the system entry (RT-4).
pub fn delete_entries(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    /// What one `RouteEntries.N.` names.
    enum Target {
        Id(String),
        Hop(Ipv4Net, String),
    }
    p.required("RegionId")?;
    let prefixes = batch_prefixes(p)?;
    // (position, id, DstCidrBlock, NextHop) of each request, for the answer.
    let mut asked: Vec<(String, String, String)> = Vec::new();
    let mut targets: Vec<(usize, usize, Target)> = Vec::new();
    let mut failed: Vec<(usize, ApiError)> = Vec::new();
    for (n, pre) in prefixes.iter().enumerate() {
        let field = |f: &str| format!("{pre}{f}");
        p.accept(&[&field("RouteTableId")]);
        let id = p.str(&field("RouteEntryId"));
        asked.push((
            id.unwrap_or_default().to_string(),
            p.get(&field("DstCidrBlock")).unwrap_or_default().to_string(),
            p.get(&field("NextHop")).unwrap_or_default().to_string(),
        ));
        let attempt = (|| -> Result<(usize, Target), ApiError> {
            let ti = d.route_table_index(p.required(&field("RouteTableId"))?)?;
            Ok(match id {
                Some(id) => (ti, Target::Id(id.to_string())),
                None => {
                    let destination = batch_destination(&field("DstCidrBlock"), p.required(&field("DstCidrBlock"))?)?;
                    (ti, Target::Hop(destination, p.required(&field("NextHop"))?.to_string()))
                }
            })
        })();
        match attempt {
            Ok((ti, t)) => targets.push((n, ti, t)),
            Err(e) => failed.push((n, e)),
        }
    }
    // One pass over each table touched: entry -> the request naming it.
    let mut doomed: HashMap<usize, HashSet<usize>> = HashMap::new();
    let tables: BTreeSet<usize> = targets.iter().map(|(_, ti, _)| *ti).collect();
    let mut found: HashMap<usize, (usize, usize)> = HashMap::new();
    for ti in tables {
        let mine: Vec<&(usize, usize, Target)> = targets.iter().filter(|(_, t, _)| *t == ti).collect();
        let mut ids: HashMap<&str, Vec<usize>> = HashMap::new();
        for (n, _, t) in &mine {
            if let Target::Id(id) = t {
                ids.entry(id.as_str()).or_default().push(*n);
            }
        }
        let hops: Vec<(Ipv4Net, &str, usize)> =
            mine.iter().filter_map(|(n, _, t)| if let Target::Hop(c, h) = t { Some((*c, h.as_str(), *n)) } else { None }).collect();
        for (ei, e) in d.model.route_tables[ti].route_entries.iter().enumerate() {
            if !ids.is_empty()
                && let Some(ns) = ids.get(e.id.as_str())
            {
                for n in ns {
                    found.entry(*n).or_insert((ti, ei));
                }
            }
            for (c, h, n) in &hops {
                if *c == e.destination_cidr_block && *h == e.next_hop_id {
                    found.entry(*n).or_insert((ti, ei));
                }
            }
        }
    }
    for (n, _, _) in &targets {
        match found.get(n) {
            Some((ti, ei)) if doomed.entry(*ti).or_default().insert(*ei) => {}
            Some(_) => failed.push((*n, ApiError::not_found("InvalidRouteEntry.NotFound", "The route entry is named twice in this call."))),
            None => failed.push((
                *n,
                ApiError::not_found("InvalidRouteEntry.NotFound", "The specified route entry does not exist (system entries cannot be deleted)."),
            )),
        }
    }
    failed.sort_by_key(|(n, _)| *n);
    let deleted: usize = doomed.values().map(HashSet::len).sum();
    for (ti, gone) in doomed {
        let mut i = 0;
        d.model.route_tables[ti].route_entries.retain(|_| {
            i += 1;
            !gone.contains(&(i - 1))
        });
    }
    let failed: Vec<Value> = failed
        .into_iter()
        .map(|(n, e)| {
            let (id, dst, hop) = &asked[n];
            json!({ "RouteEntryId": id, "DstCidrBlock": dst, "NextHop": hop, "FailedCode": e.code, "FailedMessage": e.message })
        })
        .collect();
    Ok(json!({ "SuccessCount": deleted, "FailedCount": failed.len(), "FailedRouteEntries": failed }))
}

/// DeleteRouteEntry: by RouteEntryId, or by RouteTableId and
/// DestinationCidrBlock (and NextHopId).
pub fn delete_entry(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.accept(&["RegionId"]);
    let entry_id = p.str("RouteEntryId");
    let table_id = p.str("RouteTableId");
    let destination = p.str("DestinationCidrBlock").map(|c| cidr("DestinationCidrBlock", c)).transpose()?;
    let next_hop = p.str("NextHopId");
    if entry_id.is_none() && (table_id.is_none() || destination.is_none()) {
        return Err(ApiError::missing(if table_id.is_none() { "RouteEntryId" } else { "DestinationCidrBlock" }));
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
                && destination.is_none_or(|x| e.destination_cidr_block == x)
                && next_hop.is_none_or(|x| e.next_hop_id == x)
        })?;
        Some((ti, ei))
    });
    let (ti, ei) = found.ok_or_else(|| {
        ApiError::not_found("InvalidRouteEntry.NotFound", "The specified route entry does not exist (system entries cannot be deleted).")
    })?;
    d.model.route_tables[ti].route_entries.remove(ei);
    Ok(json!({}))
}

/// DescribeRouteTableList: filters VpcId, RouteTableId, RouteTableName,
/// RouteTableType, RouterId.
pub fn describe(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let vpc_id = p.str("VpcId");
    let id = p.str("RouteTableId");
    let name = p.str("RouteTableName");
    let ty = p.str("RouteTableType");
    let router = p.str("RouterId");
    p.accept(&["RouterType"]);
    let m = &d.model;
    let tables: Vec<&RouteTable> = m
        .route_tables
        .iter()
        .filter(|t| d.visible(&t.meta, p))
        .filter(|t| {
            vpc_id.is_none_or(|x| t.vpc_id == x)
                && id.is_none_or(|x| t.id == x)
                && name.is_none_or(|x| t.name.as_deref() == Some(x))
                && ty.is_none_or(|x| table_type(t.route_table_type) == x)
                && router.is_none_or(|x| m.vpc(&t.vpc_id).is_some_and(|v| vrouter_id(v) == x))
        })
        .collect();
    let (tables, paging) = page(p, tables, 50)?;
    let items: Vec<Value> = tables
        .into_iter()
        .map(|t| {
            let vswitches: Vec<&str> = m
                .vswitches
                .iter()
                .filter(|v| m.route_table_of(v).is_some_and(|x| x.id == t.id))
                .map(|v| v.id.as_str())
                .collect();
            json!({
                "RouteTableId": t.id,
                "RouteTableName": t.name.clone().unwrap_or_default(),
                "RouteTableType": table_type(t.route_table_type),
                "VpcId": t.vpc_id,
                "RouterId": m.vpc(&t.vpc_id).map(vrouter_id).unwrap_or_default(),
                "RouterType": "VRouter",
                "AssociateType": match t.associate_type { AssociateType::VSwitch => "VSwitch", AssociateType::Gateway => "Gateway" },
                "Status": "Available",
                "Description": t.meta.description,
                "CreationTime": t.meta.creation_time,
                "OwnerId": owner_id(&t.meta),
                "ResourceGroupId": "",
                "RoutePropagationEnable": false,
                "VSwitchIds": { "VSwitchId": vswitches },
                "GatewayIds": { "GatewayIds": m.ipv4_gateways.iter().filter(|g| g.route_table_id.as_deref() == Some(t.id.as_str())).map(|g| g.id.as_str()).collect::<Vec<_>>() },
                "Tags": { "Tag": [] },
            })
        })
        .collect();
    Ok(with(json!({ "RouterTableList": { "RouterTableListType": items }, "Success": true, "Code": "200", "Message": "successful" }), paging))
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

/// DescribeRouteEntryList: the system entries (one per vSwitch of the VPC,
/// next hop local, RT-2) and the custom ones; filters RouteEntryId,
/// RouteEntryName, DestinationCidrBlock, NextHopId, NextHopType,
/// RouteEntryType, IpVersion; paged by MaxResult and NextToken.
pub fn describe_entries(d: &mut Draft, p: &Params) -> Result<Value, ApiError> {
    p.required("RegionId")?;
    let table_id = p.required("RouteTableId")?;
    let t = &d.model.route_tables[d.route_table_index(table_id)?];
    let mut rows: Vec<Row> = d
        .model
        .vswitches
        .iter()
        .filter(|v| v.vpc_id == t.vpc_id)
        .filter(|v| !t.route_entries.iter().any(|e| e.destination_cidr_block == v.cidr_block))
        .map(|v| Row {
            id: format!("rte-sys{:08x}", topology::numeric_id(&format!("{}/{}", t.id, v.id))),
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
        destination: e.destination_cidr_block.to_string(),
        kind: "Custom",
        next_hop_type: e.next_hop_type.as_str(),
        next_hop_id: e.next_hop_id.clone(),
        description: e.meta.description.clone(),
    }));
    let id = p.str("RouteEntryId");
    let name = p.str("RouteEntryName");
    let dest = p.str("DestinationCidrBlock").map(|c| cidr("DestinationCidrBlock", c)).transpose()?.map(|c| c.to_string());
    let dests = p.list("DestCidrBlockList")?;
    let hop = p.str("NextHopId");
    let hop_type = p.str("NextHopType");
    let kind = p.str("RouteEntryType");
    if let Some(v) = p.str("IpVersion")
        && !v.eq_ignore_ascii_case("ipv4")
    {
        rows.clear();
    }
    rows.retain(|r| {
        id.is_none_or(|x| r.id == x)
            && name.is_none_or(|x| r.name == x)
            && dest.as_ref().is_none_or(|x| r.destination == *x)
            && (dests.is_empty() || dests.contains(&r.destination))
            && hop.is_none_or(|x| r.next_hop_id == x)
            && hop_type.is_none_or(|x| r.next_hop_type == x)
            && kind.is_none_or(|x| r.kind == x)
    });
    let max = p.int_in("MaxResult", 1..=100, 10)? as usize;
    let start: usize = match p.str("NextToken") {
        None => 0,
        Some(tok) => tok.parse().map_err(|_| ApiError::bad("InvalidNextToken", format!("The NextToken {tok:?} is not valid.")))?,
    };
    let total = rows.len();
    let next = if start + max < total { (start + max).to_string() } else { String::new() };
    let items: Vec<Value> = rows
        .into_iter()
        .skip(start)
        .take(max)
        .map(|r| {
            json!({
                "RouteEntryId": r.id,
                "RouteEntryName": r.name,
                "RouteTableId": t.id,
                "DestinationCidrBlock": r.destination,
                "Type": r.kind,
                "Status": "Available",
                "IpVersion": "ipv4",
                "Description": r.description,
                "Origin": "",
                "ServiceType": "",
                "NextHops": { "NextHop": [{
                    "NextHopType": r.next_hop_type,
                    "NextHopId": r.next_hop_id,
                    "Enabled": 1,
                    "Weight": 0,
                    "NextHopRegionId": t.meta.region_id,
                }] },
            })
        })
        .collect();
    Ok(json!({ "RouteEntrys": { "RouteEntry": items }, "NextToken": next, "TotalCount": total }))
}

#[cfg(test)]
mod tests {
    use crate::service::tests::Scratch;

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");

    #[test]
    fn rt_3_custom_table_with_instance_next_hop() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let fw = s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("ImageId", "i"), ("InstanceType", "t")]);
        let fw = fw["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
        let t = s.ok("CreateRouteTable", &[R, ("VpcId", &vpc), ("RouteTableName", "via-fw")]);
        let t = t["RouteTableId"].as_str().unwrap().to_string();
        let e = s.ok("CreateRouteEntry", &[("RouteTableId", &t), ("DestinationCidrBlock", "192.168.0.0/16"), ("NextHopId", &fw)]);
        assert!(e["RouteEntryId"].as_str().unwrap().starts_with("rte-"));
        let dup = s.err("CreateRouteEntry", &[("RouteTableId", &t), ("DestinationCidrBlock", "192.168.0.0/16"), ("NextHopId", &fw)]);
        assert_eq!(dup.code, "InvalidCIDRBlock.Duplicate");
        let sys = s.err("CreateRouteEntry", &[("RouteTableId", &t), ("DestinationCidrBlock", "10.0.1.0/24"), ("NextHopId", &fw)]);
        assert_eq!(sys.code, "InvalidCidrBlock");
        let nope = s.err("CreateRouteEntry", &[("RouteTableId", &t), ("DestinationCidrBlock", "10.9.0.0/16"), ("NextHopId", "i-nope")]);
        assert_eq!(nope.code, "InvalidNextHopId.NotFound");
        s.ok("AssociateRouteTable", &[R, ("RouteTableId", &t), ("VSwitchId", &vsw)]);
        let l = s.ok("DescribeRouteTableList", &[R, ("VpcId", &vpc), ("RouteTableType", "Custom")]);
        assert_eq!(l["RouterTableList"]["RouterTableListType"][0]["VSwitchIds"]["VSwitchId"][0], vsw.as_str());
        let entries = s.ok("DescribeRouteEntryList", &[R, ("RouteTableId", &t)]);
        let kinds: Vec<&str> =
            entries["RouteEntrys"]["RouteEntry"].as_array().unwrap().iter().map(|e| e["Type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["System", "Custom"]);
        assert_eq!(s.err("DeleteRouteTable", &[R, ("RouteTableId", &t)]).code, "DependencyViolation.VSwitch");
        s.ok("UnassociateRouteTable", &[R, ("RouteTableId", &t), ("VSwitchId", &vsw)]);
        assert_eq!(s.err("DeleteRouteTable", &[R, ("RouteTableId", &t)]).code, "DependencyViolation.RouteEntry");
        s.ok("DeleteRouteEntry", &[("RouteTableId", &t), ("DestinationCidrBlock", "192.168.0.0/16")]);
        s.ok("DeleteRouteTable", &[R, ("RouteTableId", &t)]);
    }

    /// A VPC with a vSwitch, an instance `fw` in it and a custom table: (vsw, fw, table).
    fn table_with_appliance(s: &mut Scratch) -> (String, String, String) {
        let (vpc, vsw) = s.vpc_with_vswitch();
        let fw = s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("ImageId", "i"), ("InstanceType", "t")]);
        let fw = fw["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
        let t = s.ok("CreateRouteTable", &[R, ("VpcId", &vpc)]);
        (vsw, fw, t["RouteTableId"].as_str().unwrap().to_string())
    }

    fn custom_destinations(s: &mut Scratch, t: &str) -> Vec<String> {
        let l = s.ok("DescribeRouteEntryList", &[R, ("RouteTableId", t), ("RouteEntryType", "Custom"), ("MaxResult", "100")]);
        l["RouteEntrys"]["RouteEntry"].as_array().unwrap().iter().map(|e| e["DestinationCidrBlock"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn rt_3_create_route_entries_adds_the_valid_entries_and_lists_the_failed_ones() {
        let mut s = Scratch::new();
        let (_, fw, t) = table_with_appliance(&mut s);
        let owned: Vec<(String, String)> = [
            ("1", "192.168.0.0/16", fw.as_str()),
            ("2", "172.16.5.7", fw.as_str()),       // an address: a /32
            ("3", "10.0.1.0/24", fw.as_str()),      // the vSwitch's CIDR (RT-2)
            ("4", "192.168.0.0/16", fw.as_str()),   // twice in one call
            ("5", "10.9.0.0/16", "i-nope"),         // no such next hop
            ("6", "10.8.0.1/16", fw.as_str()),      // host bits
        ]
        .iter()
        .flat_map(|(n, dst, hop)| {
            [
                (format!("RouteEntries.{n}.RouteTableId"), t.clone()),
                (format!("RouteEntries.{n}.DstCidrBlock"), dst.to_string()),
                (format!("RouteEntries.{n}.NextHop"), hop.to_string()),
                (format!("RouteEntries.{n}.NextHopType"), "Instance".to_string()),
            ]
        })
        .collect();
        let mut params: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        params.push(R);
        params.push(("RouteEntries.1.Name", "to-fw"));
        let r = s.ok("CreateRouteEntries", &params);
        assert_eq!((r["SuccessCount"].as_u64(), r["FailedCount"].as_u64()), (Some(2), Some(4)), "{r}");
        assert_eq!(r["RouteEntryIds"].as_array().unwrap().len(), 2);
        let codes: Vec<&str> = r["FailedRouteEntries"].as_array().unwrap().iter().map(|f| f["FailedCode"].as_str().unwrap()).collect();
        assert_eq!(codes, ["InvalidCidrBlock", "InvalidCIDRBlock.Duplicate", "InvalidNextHopId.NotFound", "InvalidDestinationCidrBlock.Malformed"]);
        assert_eq!(r["FailedRouteEntries"][2]["DstCidrBlock"], "10.9.0.0/16");
        assert_eq!(r["FailedRouteEntries"][2]["NextHop"], "i-nope");
        assert_eq!(custom_destinations(&mut s, &t), ["192.168.0.0/16", "172.16.5.7/32"]);
        // Already there: a failure of its own, nothing else changes.
        let again = s.ok("CreateRouteEntries", &[R, ("RouteEntries.1.RouteTableId", &t), ("RouteEntries.1.DstCidrBlock", "192.168.0.0/16"), ("RouteEntries.1.NextHop", &fw)]);
        assert_eq!(again["FailedRouteEntries"][0]["FailedCode"], "InvalidCIDRBlock.Duplicate");
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
                    (format!("RouteEntries.{n}.DstCidrBlock"), format!("100.{n}.0.0/16")),
                    (format!("RouteEntries.{n}.NextHop"), fw.clone()),
                ]
            })
            .collect();
        let mut params: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        params.push(R);
        assert_eq!(s.err("CreateRouteEntries", &params).code, "InvalidParameter");
        params.retain(|(k, _)| !k.starts_with("RouteEntries.51."));
        assert_eq!(s.ok("CreateRouteEntries", &params)["SuccessCount"], 50);
        let bogus = s.err("CreateRouteEntries", &[R, ("RouteEntries.1.RouteTableId", &t), ("RouteEntries.1.DstCidrBlock", "1.0.0.0/8"), ("RouteEntries.1.NextHop", &fw), ("RouteEntries.1.Bogus", "x")]);
        assert_eq!(bogus.code, "InvalidParameter");
        assert_eq!(s.err("CreateRouteEntries", &[R]).code, "MissingParameter");
    }

    #[test]
    fn rt_3_delete_route_entries_by_id_or_by_destination_and_next_hop() {
        let mut s = Scratch::new();
        let (_, fw, t) = table_with_appliance(&mut s);
        let r = s.ok("CreateRouteEntries", &[R,
            ("RouteEntries.1.RouteTableId", &t), ("RouteEntries.1.DstCidrBlock", "192.168.0.0/16"), ("RouteEntries.1.NextHop", &fw),
            ("RouteEntries.2.RouteTableId", &t), ("RouteEntries.2.DstCidrBlock", "172.16.0.0/12"), ("RouteEntries.2.NextHop", &fw),
            ("RouteEntries.3.RouteTableId", &t), ("RouteEntries.3.DstCidrBlock", "100.64.0.0/10"), ("RouteEntries.3.NextHop", &fw)]);
        let first = r["RouteEntryIds"][0].as_str().unwrap().to_string();
        let d = s.ok("DeleteRouteEntries", &[R,
            ("RouteEntries.1.RouteTableId", &t), ("RouteEntries.1.RouteEntryId", &first),
            ("RouteEntries.2.RouteTableId", &t), ("RouteEntries.2.DstCidrBlock", "100.64.0.0/10"), ("RouteEntries.2.NextHop", &fw),
            ("RouteEntries.3.RouteTableId", &t), ("RouteEntries.3.RouteEntryId", "rte-nope"),
            ("RouteEntries.4.RouteTableId", &t), ("RouteEntries.4.RouteEntryId", &first)]);
        assert_eq!((d["SuccessCount"].as_u64(), d["FailedCount"].as_u64()), (Some(2), Some(2)), "{d}");
        assert_eq!(d["FailedRouteEntries"][0]["RouteEntryId"], "rte-nope");
        assert_eq!(d["FailedRouteEntries"][0]["FailedCode"], "InvalidRouteEntry.NotFound");
        assert_eq!(custom_destinations(&mut s, &t), ["172.16.0.0/12"]);
        let none = s.ok("DeleteRouteEntries", &[R, ("RouteEntries.1.RouteTableId", "vtb-nope"), ("RouteEntries.1.RouteEntryId", &first)]);
        assert_eq!(none["FailedRouteEntries"][0]["FailedCode"], "InvalidRouteTableId.NotFound");
        let dry = s.err("DeleteRouteEntries", &[R, ("DryRun", "true"), ("RouteEntries.1.RouteTableId", &t), ("RouteEntries.1.DstCidrBlock", "172.16.0.0/12"), ("RouteEntries.1.NextHop", &fw)]);
        assert_eq!(dry.code, "DryRunOperation");
        assert_eq!(custom_destinations(&mut s, &t), ["172.16.0.0/12"]);
    }

    #[test]
    fn rt_1_table_of_another_vpc_cannot_be_associated() {
        let mut s = Scratch::new();
        let (_, vsw) = s.vpc_with_vswitch();
        let other = s.ok("CreateVpc", &[R, ("CidrBlock", "10.1.0.0/16")]);
        let t = s.ok("CreateRouteTable", &[R, ("VpcId", other["VpcId"].as_str().unwrap())]);
        let e = s.err("AssociateRouteTable", &[R, ("RouteTableId", t["RouteTableId"].as_str().unwrap()), ("VSwitchId", &vsw)]);
        assert_eq!(e.code, "Forbidden.NotInSameVpc");
        let sys = other["RouteTableId"].as_str().unwrap();
        assert_eq!(s.err("DeleteRouteTable", &[R, ("RouteTableId", sys)]).code, "IncorrectRouteTableType");
    }
}
