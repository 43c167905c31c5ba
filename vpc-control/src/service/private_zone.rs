//! The PrivateZone API (2018-01-01, the official SDK
//! `alibabacloud_pvtz20180101`): private zones (AddZone, DeleteZone,
//! DescribeZones, DescribeZoneInfo), the VPCs they answer in (BindZoneVpc)
//! and their records (AddZoneRecord, UpdateZoneRecord, DeleteZoneRecord,
//! SetZoneRecordStatus, DescribeZoneRecords). What the VPC resolvers answer
//! from them is `compile::dns` (docs/dns.md).
use serde::{Deserialize, Serialize};

use super::{Action, Draft, params::given};
use crate::{
    api::{ApiError, Product, form::Unsupported},
    compile::dns::{RData, is_domain_name, normalize},
    model::{MAX_ZONE_RECORDS, PrivateZone, ZoneRecord, ZoneRecordType, ZoneVpc},
};

/// Most zones one account holds.
pub const MAX_ZONES: usize = 1000;
/// Most VPCs one zone is bound to.
pub const MAX_ZONE_VPCS: usize = 100;

fn zone_not_found(id: &str) -> ApiError {
    ApiError::bad(
        "Zone.Invalid.Id",
        format!("The specified zone {id} does not exist."),
    )
}

fn record_not_found(id: u64) -> ApiError {
    ApiError::bad(
        "Record.Invalid.Id",
        format!("The specified record {id} does not exist."),
    )
}

/// Index of the zone `id` the caller has, or `Zone.Invalid.Id`.
fn zone_index(d: &Draft, id: &str) -> Result<usize, ApiError> {
    d.model
        .private_zones
        .iter()
        .position(|z| z.id == id && d.caller.owns(&z.meta.owner_id))
        .ok_or_else(|| zone_not_found(id))
}

/// (zone index, record index) of the record `id` the caller has, or
/// `Record.Invalid.Id`.
fn record_index(d: &Draft, id: Option<u64>) -> Result<(usize, usize), ApiError> {
    let id = id.ok_or_else(|| ApiError::missing("RecordId"))?;
    d.model
        .private_zones
        .iter()
        .enumerate()
        .filter(|(_, z)| d.caller.owns(&z.meta.owner_id))
        .find_map(|(zi, z)| z.records.iter().position(|r| r.id == id).map(|ri| (zi, ri)))
        .ok_or_else(|| record_not_found(id))
}

/// A new ZoneId: 32 hexadecimal digits, as the cloud's.
fn new_zone_id() -> String {
    (0..32)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).expect("a hex digit"))
        .collect()
}

/// A new RecordId (a number, as the cloud's).
fn new_record_id(d: &Draft) -> u64 {
    loop {
        let id = fastrand::u64(1_000_000_000..9_000_000_000);
        if !d
            .model
            .private_zones
            .iter()
            .any(|z| z.records.iter().any(|r| r.id == id))
        {
            return id;
        }
    }
}

/// A record's checked fields (AddZoneRecord, UpdateZoneRecord).
struct RecordInput {
    rr: String,
    record_type: ZoneRecordType,
    value: String,
    ttl: u32,
    priority: Option<u32>,
}

/// Checks a record's parameters: Rr a host record (`@`, `*`, labels), Type
/// one of the answered types (`Record.Invalid.Type` for any other), Value
/// valid for the type, Ttl 5..=86400 (default 60), Priority 1..=99 (MX
/// only, default 5).
fn record_input(
    rr: &Option<String>,
    kind: &Option<String>,
    value: &Option<String>,
    ttl: Option<u32>,
    priority: Option<u32>,
) -> Result<RecordInput, ApiError> {
    let rr = given(rr)
        .ok_or_else(|| ApiError::missing("Rr"))?
        .trim()
        .to_ascii_lowercase();
    let kind = given(kind).ok_or_else(|| ApiError::missing("Type"))?;
    let value = given(value)
        .ok_or_else(|| ApiError::missing("Value"))?
        .trim()
        .to_string();
    let record_type = ZoneRecordType::parse(kind).ok_or_else(|| {
        ApiError::bad(
            "Record.Invalid.Type",
            format!(
                "The record type {kind:?} is not supported: A, AAAA, CNAME, TXT, MX, PTR or SRV."
            ),
        )
    })?;
    let rr_ok = rr == "@" || rr == "*" || is_domain_name(rr.strip_prefix("*.").unwrap_or(&rr));
    if !rr_ok {
        return Err(ApiError::bad(
            "Record.Invalid.Rr",
            format!("The host record {rr:?} is not valid."),
        ));
    }
    let ttl = ttl.unwrap_or(60);
    if !(5..=86_400).contains(&ttl) {
        return Err(ApiError::bad(
            "Record.Invalid.Ttl",
            format!("The TTL {ttl} is outside 5..=86400."),
        ));
    }
    let priority = match (record_type, priority) {
        (ZoneRecordType::MX, p) => {
            let p = p.unwrap_or(5);
            if !(1..=99).contains(&p) {
                return Err(ApiError::bad(
                    "Record.Invalid.Priority",
                    format!("The priority {p} is outside 1..=99."),
                ));
            }
            Some(p)
        }
        _ => None,
    };
    if RData::parse(record_type, &value, priority).is_none() {
        return Err(ApiError::bad(
            "Record.Invalid.Value",
            format!(
                "The value {value:?} is not valid for a {} record.",
                record_type.as_str()
            ),
        ));
    }
    Ok(RecordInput {
        rr,
        record_type,
        value,
        ttl,
        priority,
    })
}

/// AddZone.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddZone {
    zone_name: Option<String>,
    /// ZONE (default) or RECORD.
    proxy_pattern: Option<String>,
    lang: Option<String>,
    /// Cloud-product zones and DNS groups are not served.
    zone_type: Option<String>,
    dns_group: Option<String>,
    /// Tags of zones are not served.
    #[serde(rename = "ZoneTag")]
    _zone_tag: Option<Unsupported>,
}

/// AddZone's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddZoneResponse {
    success: bool,
    zone_id: String,
    zone_name: String,
}

impl Action for AddZone {
    const NAME: &'static str = "AddZone";
    const PRODUCT: Product = Product::Pvtz;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Adds a private zone; it answers in the VPCs bound to it (BindZoneVpc).";
    type Response = AddZoneResponse;

    fn run(self, d: &mut Draft) -> Result<AddZoneResponse, ApiError> {
        let _ = &self.lang;
        if given(&self.zone_type).is_some_and(|t| t != "AUTH_ZONE") {
            return Err(ApiError::unsupported("ZoneType"));
        }
        if given(&self.dns_group).is_some_and(|g| g != "NORMAL_ZONE") {
            return Err(ApiError::unsupported("DnsGroup"));
        }
        let name = normalize(given(&self.zone_name).ok_or_else(|| ApiError::missing("ZoneName"))?);
        if !is_domain_name(&name) || name.contains('_') {
            return Err(ApiError::bad(
                "Zone.Invalid.Name",
                format!("The zone name {name:?} is not a valid domain name."),
            ));
        }
        let pattern = given(&self.proxy_pattern)
            .unwrap_or("ZONE")
            .to_ascii_uppercase();
        if pattern != "ZONE" && pattern != "RECORD" {
            return Err(ApiError::invalid("ProxyPattern", "ZONE or RECORD"));
        }
        let mine = d
            .model
            .private_zones
            .iter()
            .filter(|z| z.meta.owner_id == d.caller.account_id);
        if mine.clone().any(|z| z.name == name) {
            return Err(ApiError::bad(
                "Zone.Exists",
                format!("The zone {name} already exists in this account."),
            ));
        }
        if mine.count() >= MAX_ZONES {
            return Err(ApiError::bad(
                "QuotaExceeded.Zone",
                format!("An account holds at most {MAX_ZONES} zones."),
            ));
        }
        let id = new_zone_id();
        let meta = d.new_meta(None);
        d.model.private_zones.push(PrivateZone {
            id: id.clone(),
            name: name.clone(),
            proxy_pattern: pattern,
            vpcs: Vec::new(),
            records: Vec::new(),
            meta,
        });
        Ok(AddZoneResponse {
            success: true,
            zone_id: id,
            zone_name: name,
        })
    }
}

/// DeleteZone.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteZone {
    zone_id: Option<String>,
    lang: Option<String>,
    user_client_ip: Option<String>,
}

/// DeleteZone's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteZoneResponse {
    zone_id: String,
}

impl Action for DeleteZone {
    const NAME: &'static str = "DeleteZone";
    const PRODUCT: Product = Product::Pvtz;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Deletes a private zone with its records; refused while it is bound to a VPC.";
    type Response = DeleteZoneResponse;

    fn run(self, d: &mut Draft) -> Result<DeleteZoneResponse, ApiError> {
        let _ = (&self.lang, &self.user_client_ip);
        let id = given(&self.zone_id)
            .ok_or_else(|| ApiError::missing("ZoneId"))?
            .to_string();
        let i = zone_index(d, &id)?;
        if !d.model.private_zones[i].vpcs.is_empty() {
            return Err(ApiError::bad(
                "Zone.VpcExists",
                format!(
                    "The zone {id} is bound to VPCs; unbind them first (BindZoneVpc without Vpcs)."
                ),
            ));
        }
        d.model.private_zones.remove(i);
        Ok(DeleteZoneResponse { zone_id: id })
    }
}

/// One zone in DescribeZones.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ZoneOut {
    zone_id: String,
    zone_name: String,
    remark: String,
    record_count: i32,
    proxy_pattern: String,
    is_ptr: bool,
    zone_type: String,
    resource_group_id: String,
    create_time: String,
    create_timestamp: i64,
    update_time: String,
    update_timestamp: i64,
}

fn zone_out(z: &PrivateZone) -> ZoneOut {
    let ts = chrono::DateTime::parse_from_rfc3339(&z.meta.creation_time)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0);
    ZoneOut {
        zone_id: z.id.clone(),
        zone_name: z.name.clone(),
        remark: z.meta.description.clone(),
        record_count: z.records.len() as i32,
        proxy_pattern: z.proxy_pattern.clone(),
        is_ptr: z.name.ends_with("in-addr.arpa"),
        zone_type: "AUTH_ZONE".into(),
        resource_group_id: z.meta.resource_group_id.clone(),
        create_time: z.meta.creation_time.clone(),
        create_timestamp: ts,
        update_time: z.meta.creation_time.clone(),
        update_timestamp: ts,
    }
}

/// DescribeZones.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeZones {
    keyword: Option<String>,
    /// LIKE (default) or EXACT.
    search_mode: Option<String>,
    query_vpc_id: Option<String>,
    query_region_id: Option<String>,
    page_number: Option<u32>,
    page_size: Option<u32>,
    lang: Option<String>,
    zone_type: Option<String>,
    /// Tags of zones are not served.
    #[serde(rename = "ResourceTag")]
    _resource_tag: Option<Unsupported>,
    #[serde(rename = "ZoneTag")]
    _zone_tag: Option<Unsupported>,
}

/// The zones of a DescribeZones page.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ZoneList {
    zone: Vec<ZoneOut>,
}

/// DescribeZones' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeZonesResponse {
    page_number: i32,
    page_size: i32,
    total_items: i32,
    total_pages: i32,
    zones: ZoneList,
}

/// PageNumber (from 1) and PageSize (1..=100, default 20) of a list: the
/// page's range and the answer's numbers.
fn paging(
    number: Option<u32>,
    size: Option<u32>,
    total: usize,
) -> Result<(std::ops::Range<usize>, i32, i32, i32), ApiError> {
    let number = number.unwrap_or(1);
    let size = size.unwrap_or(20);
    if number == 0 {
        return Err(ApiError::invalid("PageNumber", "it starts at 1"));
    }
    if !(1..=100).contains(&size) {
        return Err(ApiError::invalid("PageSize", "1..=100"));
    }
    let start = ((number - 1) as usize * size as usize).min(total);
    let end = (start + size as usize).min(total);
    let pages = total.div_ceil(size as usize);
    Ok((start..end, number as i32, size as i32, pages as i32))
}

/// Whether `text` matches `keyword` (LIKE: contains; EXACT: equal).
fn matches(text: &str, keyword: Option<&str>, exact: bool) -> bool {
    match keyword {
        None => true,
        Some(k) if exact => text.eq_ignore_ascii_case(k),
        Some(k) => text.to_ascii_lowercase().contains(&k.to_ascii_lowercase()),
    }
}

impl Action for DescribeZones {
    const NAME: &'static str = "DescribeZones";
    const PRODUCT: Product = Product::Pvtz;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the caller's private zones, by name (Keyword, SearchMode) or bound VPC (QueryVpcId).";
    type Response = DescribeZonesResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeZonesResponse, ApiError> {
        let _ = &self.lang;
        if given(&self.zone_type).is_some_and(|t| t != "AUTH_ZONE") {
            return Err(ApiError::unsupported("ZoneType"));
        }
        let exact = given(&self.search_mode).is_some_and(|m| m.eq_ignore_ascii_case("EXACT"));
        let zones: Vec<&PrivateZone> = d
            .model
            .private_zones
            .iter()
            .filter(|z| d.caller.owns(&z.meta.owner_id))
            .filter(|z| matches(&z.name, given(&self.keyword), exact))
            .filter(|z| given(&self.query_vpc_id).is_none_or(|v| z.bound_to(v)))
            .filter(|z| {
                given(&self.query_region_id).is_none_or(|r| z.vpcs.iter().any(|v| v.region_id == r))
            })
            .collect();
        let (range, page_number, page_size, total_pages) =
            paging(self.page_number, self.page_size, zones.len())?;
        Ok(DescribeZonesResponse {
            page_number,
            page_size,
            total_items: zones.len() as i32,
            total_pages,
            zones: ZoneList {
                zone: zones[range].iter().map(|z| zone_out(z)).collect(),
            },
        })
    }
}

/// DescribeZoneInfo.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeZoneInfo {
    zone_id: Option<String>,
    lang: Option<String>,
}

/// A bound VPC in DescribeZoneInfo.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BindVpcOut {
    region_id: String,
    region_name: String,
    vpc_id: String,
    vpc_name: String,
    vpc_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpc_user_id: Option<u64>,
}

/// BindVpcs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BindVpcs {
    vpc: Vec<BindVpcOut>,
}

/// DescribeZoneInfo's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeZoneInfoResponse {
    #[serde(flatten)]
    zone: ZoneOut,
    bind_vpcs: BindVpcs,
    creator: String,
    creator_type: String,
}

impl Action for DescribeZoneInfo {
    const NAME: &'static str = "DescribeZoneInfo";
    const PRODUCT: Product = Product::Pvtz;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Shows a private zone with the VPCs it is bound to.";
    type Response = DescribeZoneInfoResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeZoneInfoResponse, ApiError> {
        let _ = &self.lang;
        let id = given(&self.zone_id).ok_or_else(|| ApiError::missing("ZoneId"))?;
        let z = &d.model.private_zones[zone_index(d, id)?];
        let vpc = z
            .vpcs
            .iter()
            .map(|v| {
                let m = d.model.vpcs.iter().find(|m| m.id == v.vpc_id);
                BindVpcOut {
                    region_id: v.region_id.clone(),
                    region_name: v.region_id.clone(),
                    vpc_id: v.vpc_id.clone(),
                    vpc_name: m.and_then(|m| m.name.clone()).unwrap_or_default(),
                    vpc_type: "STANDARD".into(),
                    vpc_user_id: m.and_then(|m| m.meta.owner_id.parse().ok()),
                }
            })
            .collect();
        Ok(DescribeZoneInfoResponse {
            zone: zone_out(z),
            bind_vpcs: BindVpcs { vpc },
            creator: z.meta.owner_id.clone(),
            creator_type: "USER".into(),
        })
    }
}

/// One Vpcs.N of BindZoneVpc.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcParam {
    region_id: Option<String>,
    vpc_id: Option<String>,
    /// STANDARD (default); EDS VPCs are not served.
    vpc_type: Option<String>,
}

/// BindZoneVpc: the zone answers in exactly the VPCs given (none: unbound
/// from all).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BindZoneVpc {
    zone_id: Option<String>,
    #[serde(default)]
    vpcs: Vec<VpcParam>,
    lang: Option<String>,
    user_client_ip: Option<String>,
}

/// BindZoneVpc's answer (RequestId only).
#[derive(Debug, Serialize)]
pub struct Empty {}

impl Action for BindZoneVpc {
    const NAME: &'static str = "BindZoneVpc";
    const PRODUCT: Product = Product::Pvtz;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Binds a private zone to exactly the VPCs given (Vpcs.N.VpcId, Vpcs.N.RegionId); none unbinds it from all.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let _ = (&self.lang, &self.user_client_ip);
        let id = given(&self.zone_id)
            .ok_or_else(|| ApiError::missing("ZoneId"))?
            .to_string();
        let zi = zone_index(d, &id)?;
        if self.vpcs.len() > MAX_ZONE_VPCS {
            return Err(ApiError::bad(
                "QuotaExceeded.Vpc",
                format!("A zone is bound to at most {MAX_ZONE_VPCS} VPCs."),
            ));
        }
        let mut vpcs: Vec<ZoneVpc> = Vec::new();
        for (n, v) in self.vpcs.iter().enumerate() {
            if given(&v.vpc_type).is_some_and(|t| t != "STANDARD") {
                return Err(ApiError::unsupported(&format!("Vpcs.{}.VpcType", n + 1)));
            }
            let vpc_id = given(&v.vpc_id)
                .ok_or_else(|| ApiError::missing(&format!("Vpcs.{}.VpcId", n + 1)))?;
            let vi = d.vpc_index(vpc_id)?;
            let region = d.model.vpcs[vi].meta.region_id.clone();
            if let Some(r) = given(&v.region_id).filter(|r| !region.is_empty() && *r != region) {
                return Err(ApiError::invalid(
                    &format!("Vpcs.{}.RegionId", n + 1),
                    format!("the VPC {vpc_id} is in {region}, not {r}"),
                ));
            }
            if !vpcs.iter().any(|x| x.vpc_id == vpc_id) {
                vpcs.push(ZoneVpc {
                    vpc_id: vpc_id.to_string(),
                    region_id: region,
                });
            }
        }
        // Two zones of one name may not answer in the same VPC.
        let name = d.model.private_zones[zi].name.clone();
        if let Some(v) = vpcs.iter().find(|v| {
            d.model
                .private_zones
                .iter()
                .enumerate()
                .any(|(i, z)| i != zi && z.name == name && z.bound_to(&v.vpc_id))
        }) {
            return Err(ApiError::bad(
                "Zone.VpcConflict",
                format!(
                    "Another zone named {name} is already bound to {}.",
                    v.vpc_id
                ),
            ));
        }
        d.model.private_zones[zi].vpcs = vpcs;
        Ok(Empty {})
    }
}

/// AddZoneRecord.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddZoneRecord {
    zone_id: Option<String>,
    rr: Option<String>,
    r#type: Option<String>,
    value: Option<String>,
    ttl: Option<u32>,
    priority: Option<u32>,
    remark: Option<String>,
    /// `default` only (no resolution lines).
    line: Option<String>,
    /// Weighted records are not served.
    weight: Option<u32>,
    lang: Option<String>,
    user_client_ip: Option<String>,
}

/// AddZoneRecord's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddZoneRecordResponse {
    success: bool,
    record_id: u64,
}

impl Action for AddZoneRecord {
    const NAME: &'static str = "AddZoneRecord";
    const PRODUCT: Product = Product::Pvtz;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Adds a record (A, AAAA, CNAME, TXT, MX, PTR, SRV) to a private zone; answered at once in its bound VPCs.";
    type Response = AddZoneRecordResponse;

    fn run(self, d: &mut Draft) -> Result<AddZoneRecordResponse, ApiError> {
        let _ = (&self.lang, &self.user_client_ip);
        if given(&self.line).is_some_and(|l| l != "default") {
            return Err(ApiError::unsupported("Line"));
        }
        if self.weight.is_some_and(|w| w != 1) {
            return Err(ApiError::unsupported("Weight"));
        }
        let zone_id = given(&self.zone_id)
            .ok_or_else(|| ApiError::missing("ZoneId"))?
            .to_string();
        let zi = zone_index(d, &zone_id)?;
        let r = record_input(&self.rr, &self.r#type, &self.value, self.ttl, self.priority)?;
        check_fits(&d.model.private_zones[zi], None, &r)?;
        let id = new_record_id(d);
        let zone = &mut d.model.private_zones[zi];
        zone.records.push(ZoneRecord {
            id,
            rr: r.rr,
            record_type: r.record_type,
            value: r.value,
            ttl: r.ttl,
            priority: r.priority,
            enabled: true,
            remark: self.remark.unwrap_or_default(),
        });
        Ok(AddZoneRecordResponse {
            success: true,
            record_id: id,
        })
    }
}

/// Refuses a record that repeats one of the zone's (`Record.Exists`), a
/// CNAME beside other records of its name or another record beside a CNAME
/// (`Record.Conflict`), a full zone (`QuotaExceeded.Record`). `except`: the
/// record being updated.
fn check_fits(zone: &PrivateZone, except: Option<u64>, r: &RecordInput) -> Result<(), ApiError> {
    let others: Vec<&ZoneRecord> = zone
        .records
        .iter()
        .filter(|x| Some(x.id) != except && x.rr == r.rr)
        .collect();
    if others
        .iter()
        .any(|x| x.record_type == r.record_type && x.value.eq_ignore_ascii_case(&r.value))
    {
        return Err(ApiError::bad(
            "Record.Exists",
            format!(
                "The zone already has this {} record of {}.",
                r.record_type.as_str(),
                r.rr
            ),
        ));
    }
    let cname = ZoneRecordType::CNAME;
    if !others.is_empty()
        && (r.record_type == cname || others.iter().any(|x| x.record_type == cname))
    {
        return Err(ApiError::bad(
            "Record.Conflict",
            format!(
                "A CNAME record of {} cannot stand beside another record of that name.",
                r.rr
            ),
        ));
    }
    if except.is_none() && zone.records.len() >= MAX_ZONE_RECORDS {
        return Err(ApiError::bad(
            "QuotaExceeded.Record",
            format!("A zone holds at most {MAX_ZONE_RECORDS} records."),
        ));
    }
    Ok(())
}

/// UpdateZoneRecord.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateZoneRecord {
    record_id: Option<u64>,
    rr: Option<String>,
    r#type: Option<String>,
    value: Option<String>,
    ttl: Option<u32>,
    priority: Option<u32>,
    line: Option<String>,
    weight: Option<u32>,
    lang: Option<String>,
    user_client_ip: Option<String>,
}

/// The answer of a change to one record.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecordIdResponse {
    record_id: u64,
}

impl Action for UpdateZoneRecord {
    const NAME: &'static str = "UpdateZoneRecord";
    const PRODUCT: Product = Product::Pvtz;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Changes a record of a private zone (Rr, Type, Value, Ttl, Priority).";
    type Response = RecordIdResponse;

    fn run(self, d: &mut Draft) -> Result<RecordIdResponse, ApiError> {
        let _ = (&self.lang, &self.user_client_ip);
        if given(&self.line).is_some_and(|l| l != "default") {
            return Err(ApiError::unsupported("Line"));
        }
        if self.weight.is_some_and(|w| w != 1) {
            return Err(ApiError::unsupported("Weight"));
        }
        let (zi, ri) = record_index(d, self.record_id)?;
        let r = record_input(&self.rr, &self.r#type, &self.value, self.ttl, self.priority)?;
        let id = d.model.private_zones[zi].records[ri].id;
        check_fits(&d.model.private_zones[zi], Some(id), &r)?;
        let rec = &mut d.model.private_zones[zi].records[ri];
        (rec.rr, rec.record_type, rec.value, rec.ttl, rec.priority) =
            (r.rr, r.record_type, r.value, r.ttl, r.priority);
        Ok(RecordIdResponse { record_id: id })
    }
}

/// DeleteZoneRecord.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteZoneRecord {
    record_id: Option<u64>,
    lang: Option<String>,
    user_client_ip: Option<String>,
}

impl Action for DeleteZoneRecord {
    const NAME: &'static str = "DeleteZoneRecord";
    const PRODUCT: Product = Product::Pvtz;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes a record of a private zone.";
    type Response = RecordIdResponse;

    fn run(self, d: &mut Draft) -> Result<RecordIdResponse, ApiError> {
        let _ = (&self.lang, &self.user_client_ip);
        let (zi, ri) = record_index(d, self.record_id)?;
        let r = d.model.private_zones[zi].records.remove(ri);
        Ok(RecordIdResponse { record_id: r.id })
    }
}

/// SetZoneRecordStatus.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetZoneRecordStatus {
    record_id: Option<u64>,
    /// ENABLE or DISABLE.
    status: Option<String>,
    lang: Option<String>,
    user_client_ip: Option<String>,
}

/// SetZoneRecordStatus' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetZoneRecordStatusResponse {
    record_id: u64,
    status: String,
}

fn status_of(enabled: bool) -> &'static str {
    if enabled { "ENABLE" } else { "DISABLE" }
}

impl Action for SetZoneRecordStatus {
    const NAME: &'static str = "SetZoneRecordStatus";
    const PRODUCT: Product = Product::Pvtz;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Enables or disables a record (ENABLE, DISABLE); a disabled record is not answered.";
    type Response = SetZoneRecordStatusResponse;

    fn run(self, d: &mut Draft) -> Result<SetZoneRecordStatusResponse, ApiError> {
        let _ = (&self.lang, &self.user_client_ip);
        let status = given(&self.status).ok_or_else(|| ApiError::missing("Status"))?;
        let on = match status.to_ascii_uppercase().as_str() {
            "ENABLE" => true,
            "DISABLE" => false,
            _ => {
                return Err(ApiError::bad(
                    "Record.Invalid.Status",
                    format!("The status {status:?} is not ENABLE or DISABLE."),
                ));
            }
        };
        let (zi, ri) = record_index(d, self.record_id)?;
        let rec = &mut d.model.private_zones[zi].records[ri];
        rec.enabled = on;
        Ok(SetZoneRecordStatusResponse {
            record_id: rec.id,
            status: status_of(on).into(),
        })
    }
}

/// DescribeZoneRecords.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeZoneRecords {
    zone_id: Option<String>,
    keyword: Option<String>,
    search_mode: Option<String>,
    page_number: Option<u32>,
    page_size: Option<u32>,
    /// Tagged (ecs) records are not served.
    tag: Option<String>,
    lang: Option<String>,
    user_client_ip: Option<String>,
}

/// One record in DescribeZoneRecords.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecordOut {
    record_id: u64,
    zone_id: String,
    rr: String,
    r#type: String,
    value: String,
    ttl: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<i32>,
    status: String,
    line: String,
    weight: i32,
    remark: String,
}

/// The records of a DescribeZoneRecords page.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecordList {
    record: Vec<RecordOut>,
}

/// DescribeZoneRecords' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeZoneRecordsResponse {
    page_number: i32,
    page_size: i32,
    total_items: i32,
    total_pages: i32,
    records: RecordList,
}

impl Action for DescribeZoneRecords {
    const NAME: &'static str = "DescribeZoneRecords";
    const PRODUCT: Product = Product::Pvtz;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Lists the records of a private zone, by host record (Keyword, SearchMode).";
    type Response = DescribeZoneRecordsResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeZoneRecordsResponse, ApiError> {
        let _ = (&self.lang, &self.user_client_ip);
        if given(&self.tag).is_some() {
            return Err(ApiError::unsupported("Tag"));
        }
        let id = given(&self.zone_id).ok_or_else(|| ApiError::missing("ZoneId"))?;
        let z = &d.model.private_zones[zone_index(d, id)?];
        let exact = given(&self.search_mode).is_some_and(|m| m.eq_ignore_ascii_case("EXACT"));
        let records: Vec<&ZoneRecord> = z
            .records
            .iter()
            .filter(|r| matches(&r.rr, given(&self.keyword), exact))
            .collect();
        let (range, page_number, page_size, total_pages) =
            paging(self.page_number, self.page_size, records.len())?;
        Ok(DescribeZoneRecordsResponse {
            page_number,
            page_size,
            total_items: records.len() as i32,
            total_pages,
            records: RecordList {
                record: records[range]
                    .iter()
                    .map(|r| RecordOut {
                        record_id: r.id,
                        zone_id: z.id.clone(),
                        rr: r.rr.clone(),
                        r#type: r.record_type.as_str().into(),
                        value: r.value.clone(),
                        ttl: r.ttl as i32,
                        priority: r.priority.map(|p| p as i32),
                        status: status_of(r.enabled).into(),
                        line: "default".into(),
                        weight: 1,
                        remark: r.remark.clone(),
                    })
                    .collect(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::{
        api::{ApiError, Caller, Product, form::Form},
        service::tests::Scratch,
    };

    fn caller(account: &str) -> Caller {
        Caller {
            account_id: account.into(),
            admin: false,
        }
    }

    fn pvtz(
        s: &mut Scratch,
        who: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, ApiError> {
        let f =
            Form::from_pairs(params.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
        s.service
            .call(Some(Product::Pvtz.version()), action, &f, &caller(who))
    }

    const ME: &str = "1000000000000001";

    fn ok(s: &mut Scratch, action: &str, params: &[(&str, &str)]) -> Value {
        pvtz(s, ME, action, params).unwrap_or_else(|e| panic!("{action}: {e:?}"))
    }

    #[test]
    fn zones_bind_only_the_callers_vpcs_and_records_keep_their_status() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let zone = ok(&mut s, "AddZone", &[("ZoneName", "corp.example")])["ZoneId"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(zone.len(), 32);
        // Another account can neither see the zone nor bind it.
        let other = pvtz(
            &mut s,
            "2000000000000002",
            "DescribeZoneInfo",
            &[("ZoneId", &zone)],
        )
        .unwrap_err();
        assert_eq!(other.code, "Zone.Invalid.Id");
        ok(
            &mut s,
            "BindZoneVpc",
            &[
                ("ZoneId", &zone),
                ("Vpcs.1.VpcId", &vpc),
                ("Vpcs.1.RegionId", "cn-hangzhou"),
            ],
        );
        assert_eq!(s.service.model().private_zones[0].vpcs[0].vpc_id, vpc);
        let rid = ok(
            &mut s,
            "AddZoneRecord",
            &[
                ("ZoneId", &zone),
                ("Rr", "db"),
                ("Type", "A"),
                ("Value", "10.0.1.5"),
            ],
        )["RecordId"]
            .as_u64()
            .unwrap();
        let rid = rid.to_string();
        let v = ok(
            &mut s,
            "SetZoneRecordStatus",
            &[("RecordId", &rid), ("Status", "DISABLE")],
        );
        assert_eq!(v["Status"], "DISABLE");
        assert!(!s.service.model().private_zones[0].records[0].enabled);
        let listed = ok(&mut s, "DescribeZoneRecords", &[("ZoneId", &zone)]);
        assert_eq!(listed["Records"]["Record"][0]["Status"], "DISABLE");
        // Bound: not deleted; unbound (no Vpcs), deleted with its records.
        assert_eq!(
            pvtz(&mut s, ME, "DeleteZone", &[("ZoneId", &zone)])
                .unwrap_err()
                .code,
            "Zone.VpcExists"
        );
        ok(&mut s, "BindZoneVpc", &[("ZoneId", &zone)]);
        ok(&mut s, "DeleteZone", &[("ZoneId", &zone)]);
        assert!(s.service.model().private_zones.is_empty());
    }

    #[test]
    fn records_of_other_types_and_bad_values_are_refused_by_code() {
        let mut s = Scratch::new();
        let zone = ok(&mut s, "AddZone", &[("ZoneName", "corp.example")])["ZoneId"]
            .as_str()
            .unwrap()
            .to_string();
        let add = |s: &mut Scratch, rr: &str, t: &str, v: &str| {
            pvtz(
                s,
                ME,
                "AddZoneRecord",
                &[("ZoneId", &zone), ("Rr", rr), ("Type", t), ("Value", v)],
            )
            .map_err(|e| e.code)
        };
        for t in ["NS", "CAA", "SOA", "NAPTR"] {
            assert_eq!(
                add(&mut s, "x", t, "a.example").unwrap_err(),
                "Record.Invalid.Type",
                "{t}"
            );
        }
        assert_eq!(
            add(&mut s, "x", "A", "300.1.1.1").unwrap_err(),
            "Record.Invalid.Value"
        );
        assert_eq!(
            add(&mut s, "x", "SRV", "1 2 port t.example").unwrap_err(),
            "Record.Invalid.Value"
        );
        assert_eq!(
            add(&mut s, "-", "A", "10.0.0.1").unwrap_err(),
            "Record.Invalid.Rr"
        );
        add(&mut s, "www", "CNAME", "db.corp.example").unwrap();
        assert_eq!(
            add(&mut s, "www", "A", "10.0.0.1").unwrap_err(),
            "Record.Conflict"
        );
        add(&mut s, "db", "A", "10.0.0.1").unwrap();
        add(&mut s, "db", "A", "10.0.0.2").unwrap();
        assert_eq!(
            add(&mut s, "db", "A", "10.0.0.2").unwrap_err(),
            "Record.Exists"
        );
        let code = pvtz(&mut s, ME, "AddZone", &[("ZoneName", "Corp.Example.")])
            .unwrap_err()
            .code;
        assert_eq!(code, "Zone.Exists");
    }
}
