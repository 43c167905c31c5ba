//! The declarative lab file (`vpc apply -f lab.toml`): VPCs, vSwitches,
//! route tables and instances by name. `apply` converges a running daemon to
//! it and `destroy` removes its VPCs, both through the API's own actions
//! (the same a script or SDK would call), so the file is a client, not a
//! back door.
use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
    path::Path,
};

use ipnet::Ipv4Net;
use serde::Deserialize;
use serde_json::{Value, json};
use thiserror::Error;

use crate::client::{Client, ClientError};

/// Why a lab file could not be read or applied.
#[derive(Debug, Error)]
pub enum LabError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The file is not valid TOML of the lab schema.
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    /// The file contradicts itself (unknown or duplicate names).
    #[error("{0}")]
    Invalid(String),
    /// The daemon's state cannot be matched to the file (e.g. two VPCs with
    /// the file's VPC name).
    #[error("{0}")]
    Conflict(String),
    /// An action failed.
    #[error("{action}: {source}")]
    Call { action: String, source: ClientError },
}

impl LabError {
    /// The cloud-style error code.
    pub fn code(&self) -> String {
        match self {
            LabError::Read { .. } | LabError::Invalid(_) => "InvalidParameter".into(),
            LabError::Syntax { .. } => "InvalidParameter.Malformed".into(),
            LabError::Conflict(_) => "OperationConflict".into(),
            LabError::Call { source, .. } => source.code().to_string(),
        }
    }
}

/// A lab file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    /// RegionId of everything in the lab.
    #[serde(default = "default_region")]
    pub region_id: String,
    /// VPCs.
    #[serde(default)]
    pub vpc: Vec<LabVpc>,
    /// vSwitches.
    #[serde(default)]
    pub vswitch: Vec<LabVSwitch>,
    /// Custom route tables.
    #[serde(default)]
    pub route_table: Vec<LabRouteTable>,
    /// Instances.
    #[serde(default)]
    pub instance: Vec<LabInstance>,
}

fn default_region() -> String {
    crate::service::DEFAULT_REGION_ID.to_string()
}

fn default_true() -> bool {
    true
}

/// A VPC of the lab.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabVpc {
    /// VpcName (the key).
    pub name: String,
    /// CidrBlock.
    pub cidr_block: Ipv4Net,
}

/// A vSwitch of the lab.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabVSwitch {
    /// VSwitchName (the key, unique in the file).
    pub name: String,
    /// Name of its VPC.
    pub vpc: String,
    /// CidrBlock.
    pub cidr_block: Ipv4Net,
    /// ZoneId.
    pub zone_id: String,
    /// Name of the custom route table it uses; none: the system table.
    #[serde(default)]
    pub route_table: Option<String>,
}

/// A custom route table of the lab.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabRouteTable {
    /// RouteTableName (the key, unique in the file).
    pub name: String,
    /// Name of its VPC.
    pub vpc: String,
    /// Custom route entries.
    #[serde(default)]
    pub route_entry: Vec<LabRouteEntry>,
}

/// A custom route entry: a destination to an instance of the lab (RT-3).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabRouteEntry {
    /// DestinationCidrBlock.
    pub destination_cidr_block: Ipv4Net,
    /// Name of the instance that is the next hop.
    pub next_hop_instance: String,
}

/// An instance of the lab.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabInstance {
    /// InstanceName (the key, unique in the file).
    pub name: String,
    /// Name of its vSwitch.
    pub vswitch: String,
    /// PrivateIpAddress; none: the lowest free one.
    #[serde(default)]
    pub private_ip_address: Option<Ipv4Addr>,
    /// SourceDestCheck of its ENI (false for an appliance).
    #[serde(default = "default_true")]
    pub source_dest_check: bool,
}

/// Reads a lab file.
pub fn load(path: &Path) -> Result<Lab, LabError> {
    let text = std::fs::read_to_string(path).map_err(|source| LabError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text).map_err(|e| match e {
        LabError::Syntax { message, .. } => LabError::Syntax {
            path: path.display().to_string(),
            message,
        },
        other => other,
    })
}

/// Parses lab TOML and checks its references.
pub fn parse(text: &str) -> Result<Lab, LabError> {
    let lab: Lab = toml::from_str(text).map_err(|e| LabError::Syntax {
        path: "lab".into(),
        message: e.to_string(),
    })?;
    lab.check()?;
    Ok(lab)
}

impl Lab {
    fn check(&self) -> Result<(), LabError> {
        fn unique<'a>(
            kind: &str,
            names: impl Iterator<Item = &'a str>,
        ) -> Result<BTreeSet<&'a str>, LabError> {
            let mut seen = BTreeSet::new();
            for n in names {
                if !seen.insert(n) {
                    return Err(LabError::Invalid(format!(
                        "The {kind} name {n} is used more than once in the lab file."
                    )));
                }
            }
            Ok(seen)
        }
        let vpcs = unique("VPC", self.vpc.iter().map(|v| v.name.as_str()))?;
        let vswitches = unique("vSwitch", self.vswitch.iter().map(|v| v.name.as_str()))?;
        let tables = unique(
            "route table",
            self.route_table.iter().map(|v| v.name.as_str()),
        )?;
        let instances = unique("instance", self.instance.iter().map(|v| v.name.as_str()))?;
        let missing = |kind: &str, name: &str, by: &str| {
            LabError::Invalid(format!(
                "The {kind} {name} named by {by} is not in the lab file."
            ))
        };
        for v in &self.vswitch {
            if !vpcs.contains(v.vpc.as_str()) {
                return Err(missing("VPC", &v.vpc, &v.name));
            }
            if let Some(t) = &v.route_table
                && !tables.contains(t.as_str())
            {
                return Err(missing("route table", t, &v.name));
            }
        }
        for t in &self.route_table {
            if !vpcs.contains(t.vpc.as_str()) {
                return Err(missing("VPC", &t.vpc, &t.name));
            }
            for e in &t.route_entry {
                if !instances.contains(e.next_hop_instance.as_str()) {
                    return Err(missing("instance", &e.next_hop_instance, &t.name));
                }
            }
        }
        for i in &self.instance {
            if !vswitches.contains(i.vswitch.as_str()) {
                return Err(missing("vSwitch", &i.vswitch, &i.name));
            }
        }
        Ok(())
    }
}

/// Something that runs API actions: the daemon's socket, or a service in
/// process (unit tests).
pub trait Api {
    /// Runs `action` with `params`.
    fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<Value, ClientError>;
}

impl Api for Client {
    fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<Value, ClientError> {
        Client::call(self, action, params)
    }
}

/// Runs one action, naming it in the error.
fn act(api: &dyn Api, action: &str, params: &[(&str, &str)]) -> Result<Value, LabError> {
    api.call(action, params).map_err(|source| LabError::Call {
        action: action.to_string(),
        source,
    })
}

/// Every item of a paged Describe action.
fn all(
    api: &dyn Api,
    action: &str,
    params: &[(&str, &str)],
    path: [&str; 2],
) -> Result<Vec<Value>, LabError> {
    let mut out = Vec::new();
    for page in 1.. {
        let n = page.to_string();
        let mut p = params.to_vec();
        p.extend([("PageNumber", n.as_str()), ("PageSize", "50")]);
        let v = act(api, action, &p)?;
        let items = v[path[0]][path[1]].as_array().cloned().unwrap_or_default();
        let got = items.len();
        out.extend(items);
        if got == 0 || out.len() as u64 >= v["TotalCount"].as_u64().unwrap_or(0) {
            break;
        }
    }
    Ok(out)
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

/// Every custom entry of a route table: (RouteEntryId, destination, next hop id).
fn custom_entries(
    api: &dyn Api,
    region: &str,
    table: &str,
) -> Result<Vec<(String, String, String)>, LabError> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let mut p = vec![
            ("RegionId", region),
            ("RouteTableId", table),
            ("RouteEntryType", "Custom"),
            ("MaxResult", "100"),
        ];
        if !token.is_empty() {
            p.push(("NextToken", token.as_str()));
        }
        let v = act(api, "DescribeRouteEntryList", &p)?;
        for e in v["RouteEntrys"]["RouteEntry"]
            .as_array()
            .into_iter()
            .flatten()
        {
            // A gateway endpoint's route is its endpoint's (GWE-2), not the
            // lab file's: dissociating the table removes it.
            if e["NextHops"]["NextHop"][0]["NextHopType"] == "GatewayEndpoint" {
                continue;
            }
            let hop = e["NextHops"]["NextHop"][0]["NextHopId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            out.push((s(e, "RouteEntryId"), s(e, "DestinationCidrBlock"), hop));
        }
        token = s(&v, "NextToken");
        if token.is_empty() {
            return Ok(out);
        }
    }
}

/// The VpcId of each lab VPC that exists (by VpcName); two VPCs with one
/// name are a conflict.
fn find_vpcs(api: &dyn Api, lab: &Lab) -> Result<BTreeMap<String, (String, String)>, LabError> {
    let mut found = BTreeMap::new();
    for v in all(
        api,
        "DescribeVpcs",
        &[("RegionId", &lab.region_id)],
        ["Vpcs", "Vpc"],
    )? {
        let name = s(&v, "VpcName");
        if lab.vpc.iter().any(|l| l.name == name)
            && found
                .insert(name.clone(), (s(&v, "VpcId"), s(&v, "CidrBlock")))
                .is_some()
        {
            return Err(LabError::Conflict(format!(
                "More than one VPC is named {name}: the lab cannot tell which is its own."
            )));
        }
    }
    Ok(found)
}

/// What `apply` did, and the ids of the lab's resources by name.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    /// Actions that changed something.
    pub changes: Vec<String>,
    /// VpcId by name.
    pub vpcs: BTreeMap<String, String>,
    /// VSwitchId by name.
    #[serde(rename = "VSwitches")]
    pub vswitches: BTreeMap<String, String>,
    /// RouteTableId by name.
    pub route_tables: BTreeMap<String, String>,
    /// InstanceId by name (also the instance's namespace).
    pub instances: BTreeMap<String, String>,
}

/// The state of one VPC as the API describes it.
struct Existing {
    /// name -> (id, cidr, zone)
    vswitches: BTreeMap<String, (String, String, String)>,
    /// vSwitch id -> its custom route table id
    associations: BTreeMap<String, String>,
    /// name -> (id, vswitch id, address)
    instances: BTreeMap<String, (String, String, String)>,
    /// instance id -> (eni id, source/dest check)
    enis: BTreeMap<String, (String, bool)>,
    /// name -> id
    tables: BTreeMap<String, String>,
}

fn describe_vpc(api: &dyn Api, region: &str, vpc_id: &str) -> Result<Existing, LabError> {
    let r = [("RegionId", region), ("VpcId", vpc_id)];
    let mut e = Existing {
        vswitches: BTreeMap::new(),
        associations: BTreeMap::new(),
        instances: BTreeMap::new(),
        enis: BTreeMap::new(),
        tables: BTreeMap::new(),
    };
    for v in all(api, "DescribeVSwitches", &r, ["VSwitches", "VSwitch"])? {
        let id = s(&v, "VSwitchId");
        if v["RouteTable"]["RouteTableType"] == "Custom" {
            e.associations
                .insert(id.clone(), s(&v["RouteTable"], "RouteTableId"));
        }
        e.vswitches.insert(
            s(&v, "VSwitchName"),
            (id, s(&v, "CidrBlock"), s(&v, "ZoneId")),
        );
    }
    for i in all(api, "DescribeInstances", &r, ["Instances", "Instance"])? {
        let addr = i["VpcAttributes"]["PrivateIpAddress"]["IpAddress"][0]
            .as_str()
            .unwrap_or_default()
            .to_string();
        e.instances.insert(
            s(&i, "InstanceName"),
            (
                s(&i, "InstanceId"),
                s(&i["VpcAttributes"], "VSwitchId"),
                addr,
            ),
        );
    }
    for n in all(
        api,
        "DescribeNetworkInterfaces",
        &r,
        ["NetworkInterfaceSets", "NetworkInterfaceSet"],
    )? {
        e.enis.insert(
            s(&n, "InstanceId"),
            (
                s(&n, "NetworkInterfaceId"),
                n["SourceDestCheck"].as_bool().unwrap_or(true),
            ),
        );
    }
    let rt = [
        ("RegionId", region),
        ("VpcId", vpc_id),
        ("RouteTableType", "Custom"),
    ];
    for t in all(
        api,
        "DescribeRouteTableList",
        &rt,
        ["RouterTableList", "RouterTableListType"],
    )? {
        e.tables
            .insert(s(&t, "RouteTableName"), s(&t, "RouteTableId"));
    }
    Ok(e)
}

/// Converges the daemon to the lab: creates what is missing, recreates what
/// differs (a vSwitch's block or zone, an instance's vSwitch or address),
/// deletes what a lab VPC holds beyond the file. VPCs not named in the file
/// are not touched.
pub fn apply(api: &dyn Api, lab: &Lab) -> Result<Report, LabError> {
    let region = lab.region_id.as_str();
    let mut report = Report::default();
    let found = find_vpcs(api, lab)?;
    for vpc in &lab.vpc {
        let cidr = vpc.cidr_block.to_string();
        let vpc_id = match found.get(&vpc.name) {
            Some((id, existing)) => {
                if *existing != cidr {
                    act(
                        api,
                        "ModifyVpcAttribute",
                        &[("RegionId", region), ("VpcId", id), ("CidrBlock", &cidr)],
                    )?;
                    report
                        .changes
                        .push(format!("ModifyVpcAttribute {}", vpc.name));
                }
                id.clone()
            }
            None => {
                let v = act(
                    api,
                    "CreateVpc",
                    &[
                        ("RegionId", region),
                        ("CidrBlock", &cidr),
                        ("VpcName", &vpc.name),
                    ],
                )?;
                report.changes.push(format!("CreateVpc {}", vpc.name));
                s(&v, "VpcId")
            }
        };
        report.vpcs.insert(vpc.name.clone(), vpc_id.clone());
        converge_vpc(api, lab, &vpc.name, &vpc_id, &mut report)?;
    }
    Ok(report)
}

fn converge_vpc(
    api: &dyn Api,
    lab: &Lab,
    vpc_name: &str,
    vpc_id: &str,
    report: &mut Report,
) -> Result<(), LabError> {
    let region = lab.region_id.as_str();
    let r = ("RegionId", region);
    let ex = describe_vpc(api, region, vpc_id)?;
    let want_vsw: BTreeMap<&str, &LabVSwitch> = lab
        .vswitch
        .iter()
        .filter(|v| v.vpc == vpc_name)
        .map(|v| (v.name.as_str(), v))
        .collect();
    let want_tables: BTreeMap<&str, &LabRouteTable> = lab
        .route_table
        .iter()
        .filter(|t| t.vpc == vpc_name)
        .map(|t| (t.name.as_str(), t))
        .collect();
    let want_inst: BTreeMap<&str, &LabInstance> = lab
        .instance
        .iter()
        .filter(|i| want_vsw.contains_key(i.vswitch.as_str()))
        .map(|i| (i.name.as_str(), i))
        .collect();

    // What stays: vSwitches with the same block and zone; instances in a
    // staying vSwitch of the right name with the right address.
    let keep_vsw: BTreeMap<&str, String> = ex
        .vswitches
        .iter()
        .filter_map(|(name, (id, cidr, zone))| {
            let w = want_vsw.get(name.as_str())?;
            (w.cidr_block.to_string() == *cidr && w.zone_id == *zone)
                .then_some((w.name.as_str(), id.clone()))
        })
        .collect();
    let keep_inst: BTreeMap<&str, String> = ex
        .instances
        .iter()
        .filter_map(|(name, (id, vsw, addr))| {
            let w = want_inst.get(name.as_str())?;
            let same_vsw = keep_vsw.get(w.vswitch.as_str()) == Some(vsw);
            let same_addr = w.private_ip_address.is_none_or(|a| a.to_string() == *addr);
            (same_vsw && same_addr).then_some((w.name.as_str(), id.clone()))
        })
        .collect();
    let keep_tables: BTreeMap<&str, String> = ex
        .tables
        .iter()
        .filter_map(|(name, id)| {
            want_tables
                .get(name.as_str())
                .map(|t| (t.name.as_str(), id.clone()))
        })
        .collect();

    // 1. Route entries that are unwanted or point at an instance that goes.
    let mut kept_entries: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for (name, table_id) in &ex.tables {
        for (entry_id, dest, hop) in custom_entries(api, region, table_id)? {
            let wanted = want_tables.get(name.as_str()).is_some_and(|t| {
                t.route_entry.iter().any(|e| {
                    e.destination_cidr_block.to_string() == dest
                        && keep_inst
                            .get(e.next_hop_instance.as_str())
                            .is_some_and(|id| *id == hop)
                })
            });
            if wanted {
                kept_entries
                    .entry(table_id.clone())
                    .or_default()
                    .insert((dest, hop));
            } else {
                act(
                    api,
                    "DeleteRouteEntry",
                    &[("RouteEntryId", &entry_id), ("RouteTableId", table_id)],
                )?;
                report
                    .changes
                    .push(format!("DeleteRouteEntry {dest} in {name}"));
            }
        }
    }
    // 2. Associations that change or whose vSwitch or table goes.
    let table_name_of = |id: &str| {
        ex.tables
            .iter()
            .find(|(_, t)| *t == id)
            .map(|(n, _)| n.clone())
    };
    for (vsw_id, table_id) in &ex.associations {
        let vsw_name = ex
            .vswitches
            .iter()
            .find(|(_, v)| v.0 == *vsw_id)
            .map(|(n, _)| n.as_str())
            .unwrap_or("");
        let stays = keep_vsw.get(vsw_name) == Some(vsw_id)
            && want_vsw.get(vsw_name).and_then(|w| w.route_table.clone())
                == table_name_of(table_id)
            && table_name_of(table_id).is_some_and(|n| keep_tables.contains_key(n.as_str()));
        if !stays {
            act(
                api,
                "UnassociateRouteTable",
                &[r, ("RouteTableId", table_id), ("VSwitchId", vsw_id)],
            )?;
            report
                .changes
                .push(format!("UnassociateRouteTable {vsw_name}"));
        }
    }
    // 3. Instances, tables and vSwitches that go.
    for (name, (id, _, _)) in &ex.instances {
        if keep_inst.get(name.as_str()) != Some(id) {
            act(
                api,
                "DeleteInstance",
                &[("InstanceId", id), ("Force", "true")],
            )?;
            report.changes.push(format!("DeleteInstance {name}"));
        }
    }
    for (name, id) in &ex.tables {
        if !keep_tables.contains_key(name.as_str()) {
            act(api, "DeleteRouteTable", &[r, ("RouteTableId", id)])?;
            report.changes.push(format!("DeleteRouteTable {name}"));
        }
    }
    for (name, (id, _, _)) in &ex.vswitches {
        if keep_vsw.get(name.as_str()) != Some(id) {
            act(api, "DeleteVSwitch", &[("VSwitchId", id)])?;
            report.changes.push(format!("DeleteVSwitch {name}"));
        }
    }
    // 4. Create what is missing: vSwitches, instances, tables, entries,
    // associations.
    for (name, w) in &want_vsw {
        let id = match keep_vsw.get(name) {
            Some(id) => id.clone(),
            None => {
                let cidr = w.cidr_block.to_string();
                let v = act(
                    api,
                    "CreateVSwitch",
                    &[
                        r,
                        ("VpcId", vpc_id),
                        ("ZoneId", &w.zone_id),
                        ("CidrBlock", &cidr),
                        ("VSwitchName", name),
                    ],
                )?;
                report.changes.push(format!("CreateVSwitch {name}"));
                s(&v, "VSwitchId")
            }
        };
        report.vswitches.insert(name.to_string(), id);
    }
    for (name, w) in &want_inst {
        let id = match keep_inst.get(name) {
            Some(id) => id.clone(),
            None => {
                let vsw = report.vswitches[&w.vswitch].clone();
                let addr = w.private_ip_address.map(|a| a.to_string());
                let mut p = vec![
                    r,
                    ("VSwitchId", vsw.as_str()),
                    ("InstanceName", name),
                    ("Amount", "1"),
                ];
                if let Some(a) = &addr {
                    p.push(("PrivateIpAddress", a));
                }
                let v = act(api, "RunInstances", &p)?;
                report.changes.push(format!("RunInstances {name}"));
                v["InstanceIdSets"]["InstanceIdSet"][0]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            }
        };
        let check = ex.enis.get(&id).map(|e| e.1);
        if check != Some(w.source_dest_check) && (check.is_some() || !w.source_dest_check) {
            let eni = match ex.enis.get(&id) {
                Some((eni, _)) => eni.clone(),
                None => {
                    let n = act(api, "DescribeNetworkInterfaces", &[r, ("InstanceId", &id)])?;
                    s(
                        &n["NetworkInterfaceSets"]["NetworkInterfaceSet"][0],
                        "NetworkInterfaceId",
                    )
                }
            };
            let flag = if w.source_dest_check { "true" } else { "false" };
            act(
                api,
                "ModifyNetworkInterfaceAttribute",
                &[r, ("NetworkInterfaceId", &eni), ("SourceDestCheck", flag)],
            )?;
            report.changes.push(format!(
                "ModifyNetworkInterfaceAttribute {name} SourceDestCheck={flag}"
            ));
        }
        report.instances.insert(name.to_string(), id);
    }
    for (name, t) in &want_tables {
        let id = match keep_tables.get(name) {
            Some(id) => id.clone(),
            None => {
                let v = act(
                    api,
                    "CreateRouteTable",
                    &[r, ("VpcId", vpc_id), ("RouteTableName", name)],
                )?;
                report.changes.push(format!("CreateRouteTable {name}"));
                s(&v, "RouteTableId")
            }
        };
        for e in &t.route_entry {
            let dest = e.destination_cidr_block.to_string();
            let hop = report.instances[&e.next_hop_instance].clone();
            if kept_entries
                .get(&id)
                .is_some_and(|k| k.contains(&(dest.clone(), hop.clone())))
            {
                continue;
            }
            act(
                api,
                "CreateRouteEntry",
                &[
                    ("RouteTableId", &id),
                    ("DestinationCidrBlock", &dest),
                    ("NextHopType", "Instance"),
                    ("NextHopId", &hop),
                ],
            )?;
            report
                .changes
                .push(format!("CreateRouteEntry {dest} in {name}"));
        }
        report.route_tables.insert(name.to_string(), id);
    }
    for (name, w) in &want_vsw {
        let Some(table) = &w.route_table else {
            continue;
        };
        let vsw_id = &report.vswitches[*name];
        let table_id = &report.route_tables[table];
        if ex.associations.get(vsw_id) == Some(table_id) && keep_vsw.contains_key(name) {
            continue;
        }
        act(
            api,
            "AssociateRouteTable",
            &[r, ("RouteTableId", table_id), ("VSwitchId", vsw_id)],
        )?;
        report
            .changes
            .push(format!("AssociateRouteTable {name} {table}"));
    }
    Ok(())
}

/// Deletes the lab's VPCs (found by name) and everything in them, through
/// the API. Returns the actions run.
pub fn destroy(api: &dyn Api, lab: &Lab) -> Result<Vec<String>, LabError> {
    let empty = Lab {
        region_id: lab.region_id.clone(),
        vpc: Vec::new(),
        vswitch: Vec::new(),
        route_table: Vec::new(),
        instance: Vec::new(),
    };
    let mut report = Report::default();
    for (name, (vpc_id, _)) in find_vpcs(api, lab)? {
        converge_vpc(api, &empty, &name, &vpc_id, &mut report)?;
        act(
            api,
            "DeleteVpc",
            &[("RegionId", &lab.region_id), ("VpcId", &vpc_id)],
        )?;
        report.changes.push(format!("DeleteVpc {name}"));
    }
    Ok(report.changes)
}

/// The lab as JSON (for `vpc validate`).
pub fn summary(lab: &Lab) -> Value {
    json!({
        "Vpcs": lab.vpc.len(),
        "VSwitches": lab.vswitch.len(),
        "RouteTables": lab.route_table.len(),
        "Instances": lab.instance.len(),
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::{
        api::{Caller, form::Form},
        service::tests::Scratch,
    };

    /// The API in process, over a scratch store.
    struct InProcess(RefCell<Scratch>);

    impl Api for InProcess {
        fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<Value, ClientError> {
            let f = Form::from_pairs(params.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .unwrap();
            let caller = Caller {
                account_id: "1000000000000000".into(),
                admin: true,
            };
            self.0
                .borrow_mut()
                .service
                .call(None, action, &f, &caller)
                .map_err(|e| ClientError::Api {
                    status: e.status,
                    code: e.code.clone(),
                    message: e.message.clone(),
                    body: e.body("test"),
                })
        }
    }

    const APPLIANCE: &str = r#"
        [[vpc]]
        name = "lab"
        cidr_block = "10.0.0.0/16"
        [[vswitch]]
        name = "web"
        vpc = "lab"
        cidr_block = "10.0.1.0/24"
        zone_id = "cn-hangzhou-a"
        route_table = "via-fw"
        [[vswitch]]
        name = "app"
        vpc = "lab"
        cidr_block = "10.0.2.0/24"
        zone_id = "cn-hangzhou-b"
        [[route_table]]
        name = "via-fw"
        vpc = "lab"
        [[route_table.route_entry]]
        destination_cidr_block = "192.168.0.0/16"
        next_hop_instance = "fw"
        [[instance]]
        name = "web"
        vswitch = "web"
        private_ip_address = "10.0.1.10"
        [[instance]]
        name = "fw"
        vswitch = "app"
        source_dest_check = false
    "#;

    #[test]
    fn the_example_lab_parses() {
        let lab = parse(include_str!("../../examples/lab.toml")).unwrap();
        assert_eq!((lab.vswitch.len(), lab.instance.len()), (2, 3));
    }

    #[test]
    fn bad_lab_files_are_refused() {
        assert_eq!(
            parse("[[vpc]]\nname = \"a\"\ncidr_block = \"10.0.0.0/33\"\n")
                .unwrap_err()
                .code(),
            "InvalidParameter.Malformed"
        );
        assert_eq!(
            parse("[[vpc]]\nname = \"a\"\ncidr_block = \"10.0.0.0/16\"\ncolour = 1\n")
                .unwrap_err()
                .code(),
            "InvalidParameter.Malformed"
        );
        let e = parse("[[vswitch]]\nname = \"w\"\nvpc = \"nope\"\ncidr_block = \"10.0.0.0/24\"\nzone_id = \"a\"\n").unwrap_err();
        assert_eq!(e.code(), "InvalidParameter");
    }

    #[test]
    fn lab_apply_converges_and_is_idempotent() {
        let api = InProcess(RefCell::new(Scratch::new()));
        let lab = parse(APPLIANCE).unwrap();
        let first = apply(&api, &lab).unwrap();
        assert!(first.changes.len() >= 8, "{:?}", first.changes);
        let m = api.0.borrow().service.model().clone();
        assert_eq!((m.vswitches.len(), m.instances.len()), (2, 2));
        let fw = m
            .instances
            .iter()
            .find(|i| i.name.as_deref() == Some("fw"))
            .unwrap();
        assert!(!fw.source_dest_check);
        let web_vsw = m
            .vswitches
            .iter()
            .find(|v| v.name.as_deref() == Some("web"))
            .unwrap();
        assert!(web_vsw.route_table_id.is_some());
        let again = apply(&api, &lab).unwrap();
        assert!(
            again.changes.is_empty(),
            "second apply changed {:?}",
            again.changes
        );
        assert_eq!(again.instances, first.instances);

        // Move web to another address: recreated; the rest stays.
        let moved = parse(&APPLIANCE.replace("10.0.1.10", "10.0.1.20")).unwrap();
        let r = apply(&api, &moved).unwrap();
        assert_eq!(r.changes, ["DeleteInstance web", "RunInstances web"]);
        assert_eq!(r.instances["fw"], first.instances["fw"]);

        let gone = destroy(&api, &lab).unwrap();
        assert_eq!(gone.last().map(String::as_str), Some("DeleteVpc lab"));
        assert!(api.0.borrow().service.model().vpcs.is_empty());
    }

    #[test]
    fn lab_apply_leaves_a_gateway_endpoints_route_alone() {
        let api = InProcess(RefCell::new(Scratch::new()));
        let lab = parse(APPLIANCE).unwrap();
        apply(&api, &lab).unwrap();
        let (vpc, table) = {
            let m = api.0.borrow().service.model().clone();
            let t = m
                .route_tables
                .iter()
                .find(|t| t.name.as_deref() == Some("via-fw"))
                .unwrap();
            (t.vpc_id.clone(), t.id.clone())
        };
        let r = ("RegionId", "cn-hangzhou");
        let ep = api
            .call(
                "CreateVpcGatewayEndpoint",
                &[
                    r,
                    ("VpcId", &vpc),
                    ("ServiceName", "com.aliyun.cn-hangzhou.oss"),
                ],
            )
            .unwrap()["EndpointId"]
            .as_str()
            .unwrap()
            .to_string();
        api.call(
            "AssociateRouteTablesWithVpcGatewayEndpoint",
            &[r, ("EndpointId", &ep), ("RouteTableIds.1", &table)],
        )
        .unwrap();
        let again = apply(&api, &lab).unwrap();
        assert!(again.changes.is_empty(), "{:?}", again.changes);
        let m = api.0.borrow().service.model().clone();
        assert_eq!(m.route_table(&table).unwrap().route_entries.len(), 2);
    }
}
