//! Prefix lists (VPC API 2016-04-28): ListPrefixLists,
//! CreateVpcPrefixList, ModifyVpcPrefixList, DeleteVpcPrefixList,
//! GetVpcPrefixListEntries, GetVpcPrefixListAssociations (RT-1).
//!
//! A route entry may have a prefix list as its destination
//! (`DestinationCidrBlock=pl-...`): it routes every block of the list, and a
//! change to the list changes every such route at once. The cloud's services
//! have system prefix lists (object storage: `pl-<region>-oss`, its blocks
//! `Router.services.object_storage_cidrs`), owned by the system: listed,
//! routed by gateway endpoints (GWE-2), never changed nor deleted.
//! Changes are synchronous here: a list is always `Created`.
use std::collections::BTreeSet;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::{
    Action, Draft,
    ipv4_gateway::token_page,
    params::{given, required},
    tag,
    vpc::cidr,
};
use crate::{
    api::{ApiError, Product, new_id},
    model::{CloudServices, Model, PrefixList, PrefixListEntry},
};

/// The MaxEntries a list may have (the cloud's range).
pub const MAX_ENTRIES: std::ops::RangeInclusive<u32> = 1..=200;

/// The owner shown for a system prefix list.
const SYSTEM_OWNER: &str = "system";

/// A prefix list as the answers see it: one of the model's, or a system
/// list of the cloud's services.
struct View {
    id: String,
    name: String,
    description: String,
    max_entries: u32,
    entries: Vec<PrefixListEntry>,
    owner_id: String,
    region_id: String,
    creation_time: String,
    resource_group_id: String,
    tags: Vec<crate::model::Tag>,
    system: bool,
}

impl View {
    fn of(p: &PrefixList) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone().unwrap_or_default(),
            description: p.meta.description.clone(),
            max_entries: p.max_entries,
            entries: p.entries.clone(),
            owner_id: p.meta.owner_id.clone(),
            region_id: p.meta.region_id.clone(),
            creation_time: p.meta.creation_time.clone(),
            resource_group_id: p.meta.resource_group_id.clone(),
            tags: p.meta.tags.clone(),
            system: false,
        }
    }

    /// The object storage service's system prefix list in `region`.
    fn object_storage(m: &Model, region: &str) -> Self {
        let entries: Vec<PrefixListEntry> = m
            .router
            .services
            .object_storage_cidrs
            .iter()
            .map(|c| PrefixListEntry {
                cidr: *c,
                description: "object storage (OSS)".into(),
            })
            .collect();
        Self {
            id: CloudServices::object_storage_prefix_list_id(region),
            name: CloudServices::object_storage_service_name(region),
            description: "The CIDR blocks of the object storage service (OSS) in the region."
                .into(),
            max_entries: entries.len() as u32,
            entries,
            owner_id: SYSTEM_OWNER.into(),
            region_id: region.to_string(),
            creation_time: String::new(),
            resource_group_id: String::new(),
            tags: Vec::new(),
            system: true,
        }
    }
}

/// The refusal of a list that does not exist (or is another account's).
fn not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "InvalidPrefixListId.NotFound",
        format!("The specified prefix list {id} does not exist."),
    )
}

/// The refusal of changing a system prefix list.
fn system_list(id: &str) -> ApiError {
    ApiError::bad(
        "OperationDenied.SystemPrefixList",
        format!("The prefix list {id} is a system prefix list: it cannot be modified or deleted."),
    )
}

/// The list `id` the caller may read: a system list of the call's region,
/// or one of the caller's.
fn view(d: &Draft, id: &str) -> Result<View, ApiError> {
    if id == CloudServices::object_storage_prefix_list_id(d.region()) {
        return Ok(View::object_storage(&d.model, d.region()));
    }
    d.model
        .prefix_lists
        .iter()
        .find(|p| p.id == id && d.caller.owns(&p.meta.owner_id))
        .map(View::of)
        .ok_or_else(|| not_found(id))
}

/// Index of the caller's list `id` (to change it): a system list is refused.
fn own_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    if CloudServices::is_object_storage_prefix_list(id) {
        return Err(system_list(id));
    }
    d.model
        .prefix_lists
        .iter()
        .position(|p| p.id == id && d.caller.owns(&p.meta.owner_id))
        .ok_or_else(|| not_found(id))
}

/// One `PrefixListEntries.N` / `AddPrefixListEntry.N` /
/// `RemovePrefixListEntry.N`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EntryParam {
    /// The CIDR block.
    cidr: Option<String>,
    /// Its description.
    description: Option<String>,
}

/// The entries of `params` (`field` names them in errors): CIDR blocks
/// without host bits, none twice.
fn entries(field: &str, params: &[EntryParam]) -> Result<Vec<PrefixListEntry>, ApiError> {
    let mut out: Vec<PrefixListEntry> = Vec::new();
    for (n, p) in params.iter().enumerate() {
        let name = format!("{field}.{}.Cidr", n + 1);
        let text = given(&p.cidr).ok_or_else(|| ApiError::missing(&name))?;
        let c = cidr(&name, text)?;
        if c.trunc() != c {
            return Err(ApiError::bad(
                "InvalidCidrBlock.Malformed",
                format!(
                    "The {name} {c} has host bits set: the block is {}.",
                    c.trunc()
                ),
            ));
        }
        if out.iter().any(|e| e.cidr == c) {
            return Err(duplicate(c));
        }
        out.push(PrefixListEntry {
            cidr: c,
            description: p.description.clone().unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The refusal of a CIDR block given twice, or already in the list.
fn duplicate(c: Ipv4Net) -> ApiError {
    ApiError::bad(
        "InvalidCidr.Duplicated",
        format!("The CIDR block {c} is already an entry of the prefix list."),
    )
}

/// The refusal of more entries than MaxEntries.
fn too_many(count: usize, max: u32) -> ApiError {
    ApiError::bad(
        "QuotaExceeded.PrefixListEntry",
        format!("The prefix list would have {count} entries, more than its MaxEntries {max}."),
    )
}

/// MaxEntries in [`MAX_ENTRIES`].
fn check_max_entries(n: u32) -> Result<u32, ApiError> {
    if MAX_ENTRIES.contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::invalid(
            "MaxEntries",
            format!(
                "{n} is outside {}..={}",
                MAX_ENTRIES.start(),
                MAX_ENTRIES.end()
            ),
        ))
    }
}

/// IpVersion: IPV4 (default); IPv6 is not forwarded by this router.
fn check_ip_version(v: Option<&str>) -> Result<(), ApiError> {
    match v {
        None => Ok(()),
        Some(v) if v.eq_ignore_ascii_case("ipv4") => Ok(()),
        Some(v) if v.eq_ignore_ascii_case("ipv6") => Err(ApiError::bad(
            "InvalidIpVersion.NotSupported",
            "IpVersion IPV6 is not supported here: this router forwards IPv4 only.",
        )),
        Some(v) => Err(ApiError::invalid(
            "IpVersion",
            format!("{v:?} is not IPV4 or IPV6"),
        )),
    }
}

/// CreateVpcPrefixList.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateVpcPrefixList {
    /// PrefixListName.
    prefix_list_name: Option<String>,
    /// PrefixListDescription.
    prefix_list_description: Option<String>,
    /// MaxEntries, 1..=200 (default 50).
    max_entries: Option<u32>,
    /// IPV4 (default); IPV6 refused.
    ip_version: Option<String>,
    /// PrefixListEntries.N.Cidr / .Description.
    #[serde(default)]
    prefix_list_entries: Vec<EntryParam>,
    /// Tag.N.Key / Tag.N.Value.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
}

/// CreateVpcPrefixList's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateVpcPrefixListResponse {
    prefix_list_id: String,
    resource_group_id: String,
}

/// MaxEntries of a list created without one.
const DEFAULT_MAX_ENTRIES: u32 = 50;

impl Action for CreateVpcPrefixList {
    const NAME: &'static str = "CreateVpcPrefixList";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Creates a prefix list (IPv4 CIDR blocks, at most MaxEntries) a route entry can route (RT-1).";
    type Response = CreateVpcPrefixListResponse;

    fn run(self, d: &mut Draft) -> Result<CreateVpcPrefixListResponse, ApiError> {
        d.require_region()?;
        check_ip_version(given(&self.ip_version))?;
        let max_entries = check_max_entries(self.max_entries.unwrap_or(DEFAULT_MAX_ENTRIES))?;
        let entries = entries("PrefixListEntries", &self.prefix_list_entries)?;
        if entries.len() > max_entries as usize {
            return Err(too_many(entries.len(), max_entries));
        }
        let mut meta = d.new_meta(self.prefix_list_description.as_deref());
        meta.tags = tag::from_params(&self.tag)?;
        let list = PrefixList {
            id: new_id("pl"),
            name: given(&self.prefix_list_name).map(str::to_string),
            max_entries,
            entries,
            meta,
        };
        let response = CreateVpcPrefixListResponse {
            prefix_list_id: list.id.clone(),
            resource_group_id: list.meta.resource_group_id.clone(),
        };
        d.model.prefix_lists.push(list);
        Ok(response)
    }
}

/// ModifyVpcPrefixList.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyVpcPrefixList {
    /// The list.
    prefix_list_id: String,
    /// New name (empty: unchanged).
    prefix_list_name: Option<String>,
    /// New description.
    prefix_list_description: Option<String>,
    /// New MaxEntries (not below the entries the list will have).
    max_entries: Option<u32>,
    /// Entries to add.
    #[serde(default)]
    add_prefix_list_entry: Vec<EntryParam>,
    /// Entries to remove (by Cidr).
    #[serde(default)]
    remove_prefix_list_entry: Vec<EntryParam>,
}

/// An answer with the list's id.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrefixListIdResponse {
    prefix_list_id: String,
}

impl Action for ModifyVpcPrefixList {
    const NAME: &'static str = "ModifyVpcPrefixList";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Renames a prefix list, changes its MaxEntries, adds and removes entries; every route using it changes at once (RT-1).";
    type Response = PrefixListIdResponse;

    fn run(self, d: &mut Draft) -> Result<PrefixListIdResponse, ApiError> {
        d.require_region()?;
        let id = required("PrefixListId", &self.prefix_list_id)?;
        let i = own_index(d, id)?;
        let add = entries("AddPrefixListEntry", &self.add_prefix_list_entry)?;
        let remove = entries("RemovePrefixListEntry", &self.remove_prefix_list_entry)?;
        let list = &mut d.model.prefix_lists[i];
        let before: BTreeSet<Ipv4Net> = list.entries.iter().map(|e| e.cidr).collect();
        for r in &remove {
            let Some(at) = list.entries.iter().position(|e| e.cidr == r.cidr) else {
                return Err(ApiError::not_found(
                    "InvalidCidr.NotFound",
                    format!(
                        "The CIDR block {} is not an entry of prefix list {id}.",
                        r.cidr
                    ),
                ));
            };
            list.entries.remove(at);
        }
        for a in add {
            if list.entries.iter().any(|e| e.cidr == a.cidr) {
                return Err(duplicate(a.cidr));
            }
            list.entries.push(a);
        }
        if let Some(n) = self.max_entries {
            list.max_entries = check_max_entries(n)?;
        }
        if list.entries.len() > list.max_entries as usize {
            return Err(too_many(list.entries.len(), list.max_entries));
        }
        if let Some(n) = given(&self.prefix_list_name) {
            list.name = Some(n.to_string());
        }
        if let Some(desc) = self.prefix_list_description {
            list.meta.description = desc;
        }
        let after: BTreeSet<Ipv4Net> = list.entries.iter().map(|e| e.cidr).collect();
        if before != after {
            switch_tables_routing(&mut d.model, id);
        }
        Ok(PrefixListIdResponse {
            prefix_list_id: id.to_string(),
        })
    }
}

/// Moves on the route generation of every table routing prefix list `id`
/// (RT-1): the table's routes are then written under a fresh numeric id
/// beside the old ones, its ENIs switch to them in one write each, and the
/// old routes go last (the datapath's write order: upserts, ENIs,
/// removals). A packet reads one ENI, so it sees the table whole: with the
/// old blocks of the list or the new ones, never a mix.
pub fn switch_tables_routing(m: &mut Model, id: &str) {
    for t in &mut m.route_tables {
        if t.route_entries
            .iter()
            .any(|e| e.destination_prefix_list_id.as_deref() == Some(id))
        {
            t.next_generation();
        }
    }
}

/// The route tables routing prefix list `id`.
fn tables_routing<'m>(
    m: &'m Model,
    id: &str,
) -> impl Iterator<Item = &'m crate::model::RouteTable> {
    m.route_tables.iter().filter(move |t| {
        t.route_entries
            .iter()
            .any(|e| e.destination_prefix_list_id.as_deref() == Some(id))
    })
}

/// DeleteVpcPrefixList.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteVpcPrefixList {
    /// The list.
    prefix_list_id: String,
}

impl Action for DeleteVpcPrefixList {
    const NAME: &'static str = "DeleteVpcPrefixList";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes a prefix list; refused while a route entry routes it; system lists cannot be deleted.";
    type Response = super::Empty;

    fn run(self, d: &mut Draft) -> Result<super::Empty, ApiError> {
        d.require_region()?;
        let id = required("PrefixListId", &self.prefix_list_id)?;
        let i = own_index(d, id)?;
        if let Some(t) = tables_routing(&d.model, id).next() {
            return Err(ApiError::bad(
                "DependencyViolation.PrefixListAssociation",
                format!(
                    "The prefix list {id} is the destination of a route entry of route table {}: delete that entry first.",
                    t.id
                ),
            ));
        }
        d.model.prefix_lists.remove(i);
        Ok(super::Empty {})
    }
}

/// ListPrefixLists.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPrefixLists {
    /// Only these lists (PrefixListIds.N).
    #[serde(default)]
    prefix_list_ids: Vec<String>,
    /// Only the lists of this name.
    prefix_list_name: Option<String>,
    /// Only lists with these tags (Tags.N.Key / Tags.N.Value).
    #[serde(default)]
    tags: Vec<tag::TagParam>,
    /// Entries per page, 1..=100 (default 10).
    max_results: Option<u32>,
    /// Where the page starts.
    next_token: Option<String>,
}

/// A tag as these newer actions answer it: `[{Key, Value}]`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagItem {
    key: String,
    value: String,
}

/// The tags of a resource for these newer answers.
pub fn tag_items(tags: &[crate::model::Tag]) -> Vec<TagItem> {
    tags.iter()
        .map(|t| TagItem {
            key: t.key.clone(),
            value: t.value.clone(),
        })
        .collect()
}

/// One list in ListPrefixLists.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrefixListItem {
    prefix_list_id: String,
    prefix_list_name: String,
    prefix_list_description: String,
    prefix_list_type: &'static str,
    ip_version: &'static str,
    max_entries: u32,
    cidr_blocks: Vec<String>,
    owner_id: String,
    region_id: String,
    creation_time: String,
    resource_group_id: String,
    share_type: &'static str,
    /// Changes are synchronous here.
    prefix_list_status: &'static str,
    status: &'static str,
    tags: Vec<TagItem>,
}

impl PrefixListItem {
    fn of(v: View) -> Self {
        Self {
            prefix_list_id: v.id,
            prefix_list_name: v.name,
            prefix_list_description: v.description,
            prefix_list_type: if v.system { "System" } else { "Custom" },
            ip_version: "IPV4",
            max_entries: v.max_entries,
            cidr_blocks: v.entries.iter().map(|e| e.cidr.to_string()).collect(),
            owner_id: v.owner_id,
            region_id: v.region_id,
            creation_time: v.creation_time,
            resource_group_id: v.resource_group_id,
            share_type: "",
            prefix_list_status: "Created",
            status: "Created",
            tags: tag_items(&v.tags),
        }
    }
}

/// ListPrefixLists' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPrefixListsResponse {
    prefix_lists: Vec<PrefixListItem>,
    next_token: String,
    total_count: usize,
    max_results: usize,
}

impl Action for ListPrefixLists {
    const NAME: &'static str = "ListPrefixLists";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the region's system prefix lists (object storage) and the caller's own, by id, name, tags; paged by MaxResults and NextToken.";
    type Response = ListPrefixListsResponse;

    fn run(self, d: &mut Draft) -> Result<ListPrefixListsResponse, ApiError> {
        let region = d.require_region()?.to_string();
        let mut views: Vec<View> = Vec::new();
        // A system list has no tags and no resource group.
        if self.tags.is_empty() && given(&d.common.resource_group_id).is_none() {
            views.push(View::object_storage(&d.model, &region));
        }
        views.extend(
            d.model
                .prefix_lists
                .iter()
                .filter(|p| d.in_view(&p.meta) && tag::matches(&p.meta.tags, &self.tags))
                .map(View::of),
        );
        views.retain(|v| {
            (self.prefix_list_ids.is_empty() || self.prefix_list_ids.contains(&v.id))
                && given(&self.prefix_list_name).is_none_or(|n| v.name == n)
        });
        let max = super::paging::max_results(self.max_results, 1..=100, 10)?;
        let items: Vec<(String, View)> = views.into_iter().map(|v| (v.id.clone(), v)).collect();
        let page = token_page(
            "prefixlist",
            items,
            Some(max as u32),
            self.next_token.as_deref(),
        )?;
        Ok(ListPrefixListsResponse {
            prefix_lists: page.items.into_iter().map(PrefixListItem::of).collect(),
            next_token: page.next_token,
            total_count: page.total_count.parse().unwrap_or_default(),
            max_results: max,
        })
    }
}

/// GetVpcPrefixListEntries.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetVpcPrefixListEntries {
    /// The list.
    prefix_list_id: String,
    /// Entries per page, 1..=100 (default 10).
    max_results: Option<u32>,
    /// Where the page starts.
    next_token: Option<String>,
}

/// One entry in GetVpcPrefixListEntries.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EntryItem {
    cidr: String,
    description: String,
    prefix_list_id: String,
    region_id: String,
}

/// GetVpcPrefixListEntries' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetVpcPrefixListEntriesResponse {
    prefix_list_entry: Vec<EntryItem>,
    next_token: String,
    count: usize,
    total_count: usize,
}

impl Action for GetVpcPrefixListEntries {
    const NAME: &'static str = "GetVpcPrefixListEntries";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the CIDR blocks of a prefix list (a system one too); paged by MaxResults and NextToken.";
    type Response = GetVpcPrefixListEntriesResponse;

    fn run(self, d: &mut Draft) -> Result<GetVpcPrefixListEntriesResponse, ApiError> {
        d.require_region()?;
        let id = required("PrefixListId", &self.prefix_list_id)?;
        let v = view(d, id)?;
        // Keyed by position: entries keep the order they were added in.
        let items: Vec<(usize, EntryItem)> = v
            .entries
            .iter()
            .enumerate()
            .map(|(n, e)| {
                (
                    n,
                    EntryItem {
                        cidr: e.cidr.to_string(),
                        description: e.description.clone(),
                        prefix_list_id: v.id.clone(),
                        region_id: v.region_id.clone(),
                    },
                )
            })
            .collect();
        let page = token_page(
            "prefixlistentry",
            items,
            self.max_results,
            self.next_token.as_deref(),
        )?;
        Ok(GetVpcPrefixListEntriesResponse {
            count: page.items.len(),
            prefix_list_entry: page.items,
            next_token: page.next_token,
            total_count: page.total_count.parse().unwrap_or_default(),
        })
    }
}

/// GetVpcPrefixListAssociations.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetVpcPrefixListAssociations {
    /// The list.
    prefix_list_id: String,
    /// Entries per page, 1..=100 (default 10).
    max_results: Option<u32>,
    /// Where the page starts.
    next_token: Option<String>,
}

/// One route table routing the list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociationItem {
    prefix_list_id: String,
    resource_id: String,
    resource_type: &'static str,
    resource_uid: String,
    owner_id: String,
    region_id: String,
    /// Synchronous here.
    status: &'static str,
    reason: String,
}

/// GetVpcPrefixListAssociations' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetVpcPrefixListAssociationsResponse {
    prefix_list_association: Vec<AssociationItem>,
    next_token: String,
    count: usize,
    total_count: usize,
}

impl Action for GetVpcPrefixListAssociations {
    const NAME: &'static str = "GetVpcPrefixListAssociations";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Lists the caller's route tables routing a prefix list; paged by MaxResults and NextToken.";
    type Response = GetVpcPrefixListAssociationsResponse;

    fn run(self, d: &mut Draft) -> Result<GetVpcPrefixListAssociationsResponse, ApiError> {
        d.require_region()?;
        let id = required("PrefixListId", &self.prefix_list_id)?;
        let v = view(d, id)?;
        let items: Vec<(String, AssociationItem)> = tables_routing(&d.model, id)
            .filter(|t| d.caller.owns(&t.meta.owner_id))
            .map(|t| {
                (
                    t.id.clone(),
                    AssociationItem {
                        prefix_list_id: v.id.clone(),
                        resource_id: t.id.clone(),
                        resource_type: "vpcRouteTable",
                        resource_uid: t.meta.owner_id.clone(),
                        owner_id: t.meta.owner_id.clone(),
                        region_id: t.meta.region_id.clone(),
                        status: "Created",
                        reason: String::new(),
                    },
                )
            })
            .collect();
        let page = token_page(
            "prefixlistassoc",
            items,
            self.max_results,
            self.next_token.as_deref(),
        )?;
        Ok(GetVpcPrefixListAssociationsResponse {
            count: page.items.len(),
            prefix_list_association: page.items,
            next_token: page.next_token,
            total_count: page.total_count.parse().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::service::tests::Scratch;

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");

    fn create(s: &mut Scratch, blocks: &[&str], max: &str) -> String {
        let mut p: Vec<(String, String)> = vec![
            ("RegionId".into(), "cn-hangzhou".into()),
            ("PrefixListName".into(), "lab".into()),
            ("MaxEntries".into(), max.into()),
        ];
        for (n, b) in blocks.iter().enumerate() {
            p.push((format!("PrefixListEntries.{}.Cidr", n + 1), b.to_string()));
        }
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        s.ok("CreateVpcPrefixList", &p)["PrefixListId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn blocks(s: &mut Scratch, id: &str) -> Vec<String> {
        s.ok("GetVpcPrefixListEntries", &[R, ("PrefixListId", id)])["PrefixListEntry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["Cidr"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn rt_1_the_system_list_and_the_callers_lists_are_listed() {
        let mut s = Scratch::new();
        let id = create(&mut s, &["172.16.0.0/24"], "5");
        let v = s.ok("ListPrefixLists", &[R]);
        let lists = v["PrefixLists"].as_array().unwrap();
        assert_eq!(lists.len(), 2);
        let system = lists
            .iter()
            .find(|l| l["PrefixListId"] == "pl-cn-hangzhou-oss")
            .unwrap();
        assert_eq!(
            system["CidrBlocks"],
            serde_json::json!(["100.118.28.0/24", "100.118.29.0/24"])
        );
        assert_eq!(system["PrefixListType"], "System");
        let mine = lists
            .iter()
            .find(|l| l["PrefixListId"] == id.as_str())
            .unwrap();
        assert_eq!(mine["CidrBlocks"], serde_json::json!(["172.16.0.0/24"]));
        assert_eq!(mine["MaxEntries"], 5);
        assert_eq!(mine["PrefixListStatus"], "Created");
        // Filters and paging.
        let v = s.ok("ListPrefixLists", &[R, ("PrefixListIds.1", &id)]);
        assert_eq!(v["TotalCount"], 1);
        let v = s.ok("ListPrefixLists", &[R, ("MaxResults", "1")]);
        assert_eq!(v["PrefixLists"].as_array().unwrap().len(), 1);
        let next = v["NextToken"].as_str().unwrap().to_string();
        let v = s.ok(
            "ListPrefixLists",
            &[R, ("MaxResults", "1"), ("NextToken", &next)],
        );
        assert_eq!(v["PrefixLists"].as_array().unwrap().len(), 1);
        assert_eq!(v["NextToken"], "");
        // Another account sees the system list only.
        let other = crate::api::Caller {
            account_id: "1000000000000002".into(),
            admin: false,
        };
        let v = s.call_as(&other, "ListPrefixLists", &[R]).unwrap();
        assert_eq!(v["TotalCount"], 1);
        assert_eq!(
            s.call_as(
                &other,
                "GetVpcPrefixListEntries",
                &[R, ("PrefixListId", &id)]
            )
            .unwrap_err()
            .code,
            "InvalidPrefixListId.NotFound"
        );
    }

    #[test]
    fn rt_1_prefix_list_refusals_change_nothing() {
        let mut s = Scratch::new();
        let e = s.err("CreateVpcPrefixList", &[R, ("IpVersion", "IPV6")]);
        assert_eq!(
            (e.code.as_str(), e.status),
            ("InvalidIpVersion.NotSupported", 400)
        );
        let e = s.err("CreateVpcPrefixList", &[R, ("MaxEntries", "201")]);
        assert_eq!(e.code, "InvalidParameter");
        let e = s.err(
            "CreateVpcPrefixList",
            &[
                R,
                ("MaxEntries", "1"),
                ("PrefixListEntries.1.Cidr", "172.16.0.0/24"),
                ("PrefixListEntries.2.Cidr", "172.16.1.0/24"),
            ],
        );
        assert_eq!(e.code, "QuotaExceeded.PrefixListEntry");
        let e = s.err(
            "CreateVpcPrefixList",
            &[
                R,
                ("PrefixListEntries.1.Cidr", "172.16.0.0/24"),
                ("PrefixListEntries.2.Cidr", "172.16.0.0/24"),
            ],
        );
        assert_eq!(e.code, "InvalidCidr.Duplicated");
        assert!(s.service.model().prefix_lists.is_empty());

        let id = create(&mut s, &["172.16.0.0/24", "172.16.1.0/24"], "2");
        let before = s.service.model().clone();
        let add = |c| {
            [
                R,
                ("PrefixListId", id.as_str()),
                ("AddPrefixListEntry.1.Cidr", c),
            ]
        };
        assert_eq!(
            s.err("ModifyVpcPrefixList", &add("172.16.2.0/24")).code,
            "QuotaExceeded.PrefixListEntry"
        );
        assert_eq!(
            s.err("ModifyVpcPrefixList", &add("172.16.0.0/24")).code,
            "InvalidCidr.Duplicated"
        );
        let e = s.err(
            "ModifyVpcPrefixList",
            &[
                R,
                ("PrefixListId", &id),
                ("RemovePrefixListEntry.1.Cidr", "10.9.0.0/16"),
            ],
        );
        assert_eq!((e.code.as_str(), e.status), ("InvalidCidr.NotFound", 404));
        assert_eq!(
            s.err(
                "ModifyVpcPrefixList",
                &[R, ("PrefixListId", &id), ("MaxEntries", "1")]
            )
            .code,
            "QuotaExceeded.PrefixListEntry"
        );
        let e = s.err("ModifyVpcPrefixList", &[R, ("PrefixListId", "pl-nope")]);
        assert_eq!(
            (e.code.as_str(), e.status),
            ("InvalidPrefixListId.NotFound", 404)
        );
        for action in ["ModifyVpcPrefixList", "DeleteVpcPrefixList"] {
            let e = s.err(action, &[R, ("PrefixListId", "pl-cn-hangzhou-oss")]);
            assert_eq!(e.code, "OperationDenied.SystemPrefixList", "{action}");
        }
        assert_eq!(s.service.model(), &before);
        // Remove one and add one in a call; then MaxEntries up.
        s.ok(
            "ModifyVpcPrefixList",
            &[
                R,
                ("PrefixListId", &id),
                ("RemovePrefixListEntry.1.Cidr", "172.16.0.0/24"),
                ("AddPrefixListEntry.1.Cidr", "172.16.2.0/24"),
                ("AddPrefixListEntry.1.Description", "new"),
                ("MaxEntries", "3"),
                ("PrefixListName", "renamed"),
            ],
        );
        assert_eq!(blocks(&mut s, &id), ["172.16.1.0/24", "172.16.2.0/24"]);
        s.ok("DeleteVpcPrefixList", &[R, ("PrefixListId", &id)]);
        assert!(s.service.model().prefix_lists.is_empty());
    }

    #[test]
    fn rt_1_a_routed_list_changes_its_tables_and_cannot_be_deleted() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let table = s.ok("CreateRouteTable", &[R, ("VpcId", &vpc)])["RouteTableId"]
            .as_str()
            .unwrap()
            .to_string();
        let inst = s.ok(
            "RunInstances",
            &[
                R,
                ("VSwitchId", &s.service.model().vswitches[0].id.clone()),
                ("ImageId", "i"),
                ("InstanceType", "t"),
            ],
        )["InstanceIdSets"]["InstanceIdSet"][0]
            .as_str()
            .unwrap()
            .to_string();
        let id = create(&mut s, &["172.16.0.0/24"], "5");
        let route = [
            R,
            ("RouteTableId", table.as_str()),
            ("DestinationCidrBlock", id.as_str()),
            ("NextHopId", inst.as_str()),
        ];
        s.ok("CreateRouteEntry", &route);
        // The same list twice in a table: its blocks would be routed twice.
        assert_eq!(
            s.err("CreateRouteEntry", &route).code,
            "InvalidCIDRBlock.Duplicate"
        );
        // A list block that is another entry's destination.
        let e = s.err(
            "CreateRouteEntry",
            &[
                R,
                ("RouteTableId", &table),
                ("DestinationCidrBlock", "172.16.0.0/24"),
                ("NextHopId", &inst),
            ],
        );
        assert_eq!(e.code, "InvalidCIDRBlock.Duplicate");
        let v = s.ok(
            "DescribeRouteEntryList",
            &[R, ("RouteTableId", &table), ("DestinationCidrBlock", &id)],
        );
        let entry = &v["RouteEntrys"]["RouteEntry"][0];
        assert_eq!(entry["DestinationCidrBlock"], id.as_str());
        assert_eq!(entry["Type"], "Custom");
        let v = s.ok("GetVpcPrefixListAssociations", &[R, ("PrefixListId", &id)]);
        assert_eq!(v["PrefixListAssociation"][0]["ResourceId"], table.as_str());
        assert_eq!(
            v["PrefixListAssociation"][0]["ResourceType"],
            "vpcRouteTable"
        );
        let generation = |s: &Scratch| s.service.model().route_table(&table).unwrap().generation;
        let g0 = generation(&s);
        assert_eq!(g0, 1, "the route to the list came in whole");
        // A list change that would clash with the table is refused whole.
        let e = s.err(
            "ModifyVpcPrefixList",
            &[
                R,
                ("PrefixListId", &id),
                ("AddPrefixListEntry.1.Cidr", "10.0.1.0/24"),
            ],
        );
        assert_eq!(e.code, "InvalidCIDRBlock.Duplicate", "the vSwitch's block");
        assert_eq!(generation(&s), g0);
        // A name change keeps the routes; a block change switches the table.
        s.ok(
            "ModifyVpcPrefixList",
            &[R, ("PrefixListId", &id), ("PrefixListName", "x")],
        );
        assert_eq!(generation(&s), g0);
        s.ok(
            "ModifyVpcPrefixList",
            &[
                R,
                ("PrefixListId", &id),
                ("AddPrefixListEntry.1.Cidr", "172.16.1.0/24"),
            ],
        );
        assert_eq!(generation(&s), g0 + 1);
        let e = s.err("DeleteVpcPrefixList", &[R, ("PrefixListId", &id)]);
        assert_eq!(e.code, "DependencyViolation.PrefixListAssociation");
        s.ok(
            "DeleteRouteEntry",
            &[R, ("RouteTableId", &table), ("DestinationCidrBlock", &id)],
        );
        s.ok("DeleteVpcPrefixList", &[R, ("PrefixListId", &id)]);
        // Another account's list, or the system list, is no destination.
        let e = s.err("CreateRouteEntry", &route);
        assert_eq!(e.code, "InvalidPrefixListId.NotFound");
        let mut sys = route;
        sys[2].1 = "pl-cn-hangzhou-oss";
        assert_eq!(
            s.err("CreateRouteEntry", &sys).code,
            "OperationDenied.SystemPrefixList"
        );
    }

    #[test]
    fn rt_1_a_route_to_a_list_counts_one_route_entry_per_block() {
        let mut s = Scratch::new();
        s.service.set_quotas(
            crate::service::quota::Quotas::default()
                .with_settings(&["route_entries_per_table=2", "prefix_lists_per_region=2"])
                .unwrap(),
        );
        let (vpc, _) = s.vpc_with_vswitch();
        let table = s.ok("CreateRouteTable", &[R, ("VpcId", &vpc)])["RouteTableId"]
            .as_str()
            .unwrap()
            .to_string();
        let gw = s.ok("CreateIpv4Gateway", &[R, ("VpcId", &vpc)])["Ipv4GatewayId"]
            .as_str()
            .unwrap()
            .to_string();
        let id = create(&mut s, &["172.16.0.0/24", "172.16.1.0/24"], "5");
        s.ok(
            "CreateRouteEntry",
            &[
                R,
                ("RouteTableId", &table),
                ("DestinationCidrBlock", &id),
                ("NextHopType", "Ipv4Gateway"),
                ("NextHopId", &gw),
            ],
        );
        let e = s.err(
            "ModifyVpcPrefixList",
            &[
                R,
                ("PrefixListId", &id),
                ("AddPrefixListEntry.1.Cidr", "172.16.2.0/24"),
            ],
        );
        assert_eq!(e.code, "QuotaExceeded.VpcRouteEntryNum");
        assert_eq!(blocks(&mut s, &id).len(), 2, "nothing changed");
        create(&mut s, &[], "5");
        let e = s.err("CreateVpcPrefixList", &[R]);
        assert_eq!(e.code, "QuotaExceeded.PrefixList");
    }

    /// A table the validator knows has no route to a list counts its
    /// entries without a walk; a route to a list added to it still counts
    /// one per block.
    #[test]
    fn rt_1_a_list_added_to_a_plain_table_counts_its_blocks() {
        let mut s = Scratch::new();
        s.service.set_quotas(
            crate::service::quota::Quotas::default()
                .with_settings(&["route_entries_per_table=3"])
                .unwrap(),
        );
        let (vpc, _) = s.vpc_with_vswitch();
        let table = s.ok("CreateRouteTable", &[R, ("VpcId", &vpc)])["RouteTableId"]
            .as_str()
            .unwrap()
            .to_string();
        let gw = s.ok("CreateIpv4Gateway", &[R, ("VpcId", &vpc)])["Ipv4GatewayId"]
            .as_str()
            .unwrap()
            .to_string();
        let route = |s: &mut Scratch, dst: &str| {
            s.call(
                "CreateRouteEntry",
                &[
                    R,
                    ("RouteTableId", &table),
                    ("DestinationCidrBlock", dst),
                    ("NextHopType", "Ipv4Gateway"),
                    ("NextHopId", &gw),
                ],
            )
        };
        route(&mut s, "172.17.0.0/24").unwrap();
        route(&mut s, "172.17.1.0/24").unwrap();
        let id = create(&mut s, &["172.16.0.0/24", "172.16.1.0/24"], "5");
        let e = route(&mut s, &id).unwrap_err();
        assert_eq!(e.code, "QuotaExceeded.VpcRouteEntryNum");
        route(&mut s, "172.17.2.0/24").unwrap();
        let e = route(&mut s, "172.17.3.0/24").unwrap_err();
        assert_eq!(e.code, "QuotaExceeded.VpcRouteEntryNum");
    }
}
