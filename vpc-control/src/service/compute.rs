//! The compute side (ECS API 2014-05-26): RunInstances, DeleteInstance,
//! DescribeInstances, ModifyInstanceAttribute, ModifyInstanceChargeType,
//! DescribeUserData, DescribeDisks, ModifyNetworkInterfaceAttribute,
//! DescribeNetworkInterfaces. An instance is a network namespace with one
//! ENI (VPC-2, VPC-4); image, type, system disk and user data are recorded,
//! nothing boots. Every instance is pay-as-you-go (PostPaid) and Running.
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::{Action, Draft, Empty, PageInfo, paginate, paging, params::{given, required, refuse_true}, tag};
use crate::{
    api::{ApiError, Product, form::Unsupported, new_id},
    model::{self, Instance},
    topology,
};

/// The one status an instance has here: its namespace exists.
const RUNNING: &str = "Running";
/// The billing method of every instance here.
const POST_PAID: &str = "PostPaid";
/// What DescribeInstances answers as ExpiredTime for a pay-as-you-go
/// instance, as the cloud does.
const NEVER_EXPIRES: &str = "2099-12-31T15:59Z";
/// The cloud's InternetChargeType when RunInstances is given none.
const DEFAULT_INTERNET_CHARGE_TYPE: &str = "PayByTraffic";
/// The cloud's InternetMaxBandwidthIn when RunInstances is given none.
const DEFAULT_BANDWIDTH_IN: u32 = 200;
/// The system disk's category when RunInstances is given none.
const DEFAULT_DISK_CATEGORY: &str = "cloud_essd";
/// The system disk's size (GiB) when RunInstances is given none.
const DEFAULT_DISK_SIZE: u32 = 40;
/// An ESSD's performance level when RunInstances is given none.
const DEFAULT_PERFORMANCE_LEVEL: &str = "PL1";
/// The device name of the system disk.
const SYSTEM_DEVICE: &str = "/dev/xvda";
/// Largest UserData, in bytes before base64 encoding.
const MAX_USER_DATA: usize = 32 * 1024;

// ---------------------------------------------------------------- helpers

/// Checks an enumerated value: one of `valid` (else `InvalidParameter`),
/// and one of `supported` (else `UnsupportedParameter`: a value the cloud
/// takes but this router cannot honour).
fn one_of(name: &str, value: Option<&str>, valid: &[&str], supported: &[&str]) -> Result<(), ApiError> {
    let Some(v) = value.filter(|v| !v.is_empty()) else { return Ok(()) };
    if !valid.contains(&v) {
        return Err(ApiError::invalid(name, format!("{v:?} is not one of {valid:?}")));
    }
    if !supported.contains(&v) {
        return Err(ApiError::unsupported(name));
    }
    Ok(())
}

/// Subscription billing (`InstanceChargeType=PrePaid`) is not offered:
/// every instance here is pay-as-you-go. Refused with 400
/// `InvalidInstanceChargeType.ValueNotSupported`.
fn prepaid_refused(name: &str) -> ApiError {
    ApiError::bad(
        "InvalidInstanceChargeType.ValueNotSupported",
        format!("The specified {name} \"PrePaid\" is not supported: this router's instances are pay-as-you-go (PostPaid) only."),
    )
}

/// An InstanceChargeType parameter: PostPaid (or absent: `default`) is
/// what every instance is; PrePaid is refused with [`prepaid_refused`].
fn post_paid_only(name: &str, value: Option<&str>, default: &str) -> Result<(), ApiError> {
    match value.filter(|v| !v.is_empty()).unwrap_or(default) {
        POST_PAID => Ok(()),
        "PrePaid" => Err(prepaid_refused(name)),
        v => Err(ApiError::invalid(name, format!("{v:?} is not PrePaid or PostPaid"))),
    }
}

/// Validates the subscription terms (Period, PeriodUnit, AutoRenewPeriod)
/// as the cloud does. They only apply to PrePaid, which is refused, so for
/// a PostPaid call the cloud (and this router) ignores valid values.
fn subscription_terms(period: Option<u32>, unit: Option<&str>, auto_renew_period: Option<u32>) -> Result<(), ApiError> {
    let unit = unit.filter(|u| !u.is_empty()).unwrap_or("Month");
    let (periods, renewals): (&[u32], &[u32]) = match unit {
        "Month" => (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 24, 36, 48, 60], &[1, 2, 3, 6, 12, 24, 36, 48, 60]),
        "Week" => (&[1, 2, 3, 4], &[1, 2, 3]),
        u => return Err(ApiError::invalid("PeriodUnit", format!("{u:?} is not Week or Month"))),
    };
    if let Some(p) = period.filter(|p| !periods.contains(p)) {
        return Err(ApiError::invalid("Period", format!("{p} is not one of {periods:?} for PeriodUnit {unit}")));
    }
    if let Some(p) = auto_renew_period.filter(|p| !renewals.contains(p)) {
        return Err(ApiError::invalid("AutoRenewPeriod", format!("{p} is not one of {renewals:?} for PeriodUnit {unit}")));
    }
    Ok(())
}

/// Checks UserData as the cloud does: base64, at most 32 KiB decoded.
fn check_user_data(data: &str) -> Result<(), ApiError> {
    let bytes = data.as_bytes();
    let alphabet = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    let body = data.trim_end_matches('=');
    let padding = bytes.len() - body.len();
    if !bytes.len().is_multiple_of(4) || padding > 2 || !body.as_bytes().iter().all(alphabet) {
        return Err(ApiError::bad("InvalidUserData.Base64FormatInvalid", "The specified UserData is not base64 encoded."));
    }
    if bytes.len() / 4 * 3 - padding > MAX_USER_DATA {
        return Err(ApiError::bad("InvalidUserData.SizeExceeded", format!("UserData is at most {MAX_USER_DATA} bytes before encoding.")));
    }
    Ok(())
}

/// Checks a HostName as the cloud does for Linux: 2 to 64 characters,
/// letters, digits, `.` and `-`, not starting or ending with `.` or `-`,
/// no two of them in a row.
fn check_host_name(name: &str) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::bad("InvalidHostName.Malformed", format!("The specified HostName {name:?} is not valid: {why}."));
    if !(2..=64).contains(&name.len()) {
        return Err(bad("a host name has 2 to 64 characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
        return Err(bad("only letters, digits, '.' and '-' are allowed"));
    }
    let sep = |b: u8| b == b'.' || b == b'-';
    let b = name.as_bytes();
    if sep(b[0]) || sep(b[b.len() - 1]) || b.windows(2).any(|w| sep(w[0]) && sep(w[1])) {
        return Err(bad("'.' and '-' cannot start or end it, nor follow each other"));
    }
    Ok(())
}

/// Checks that every group exists and is the caller's.
fn check_groups(d: &Draft, groups: &[String]) -> Result<(), ApiError> {
    for g in groups {
        if !d.model.security_groups.iter().any(|x| x.id == *g && d.caller.owns(&x.meta.owner_id)) {
            return Err(ApiError::not_found("InvalidSecurityGroupId.NotFound", format!("The security group {g} does not exist.")));
        }
    }
    Ok(())
}

/// InstanceName filters accept `*` as a wildcard, as the cloud's do.
fn name_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if name.len() < first.len() + last.len() || !name.starts_with(first) || !name.ends_with(last) {
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

fn address(i: &Instance) -> String {
    i.private_ip_address.map(|a| a.to_string()).unwrap_or_default()
}

fn mac(i: &Instance) -> String {
    topology::format_mac(&topology::eni_mac(&i.eni_id()))
}

/// The host name an instance answers with (its id when none was given).
fn host_name(i: &Instance) -> String {
    i.host_name.clone().unwrap_or_else(|| i.id.clone())
}

/// Id of the instance's system disk.
fn disk_id(i: &Instance) -> String {
    format!("d-{}", i.id.strip_prefix("i-").unwrap_or(&i.id))
}

/// The instances the caller may see (in the call's region), with their
/// vSwitch, filtered by VPC, vSwitch and security group.
fn located<'m>(
    d: &'m Draft,
    vpc_id: Option<&str>,
    vsw_id: Option<&str>,
    group: Option<&str>,
) -> Vec<(&'m Instance, &'m model::VSwitch)> {
    d.model
        .instances
        .iter()
        .filter(|i| d.in_view(&i.meta))
        .filter_map(|i| Some((i, d.model.vswitch(&i.vswitch_id)?)))
        .filter(|(i, v)| {
            vpc_id.is_none_or(|x| v.vpc_id == x)
                && vsw_id.is_none_or(|x| v.id == x)
                && group.is_none_or(|g| i.security_group_ids.iter().any(|x| x == g))
        })
        .collect()
}

// ----------------------------------------------------------------- shapes

/// `{"IpAddress": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpAddresses {
    ip_address: Vec<String>,
}

/// `{"SecurityGroupId": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroupIds {
    security_group_id: Vec<String>,
}

/// One private address of an ENI.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrivateIpSet {
    primary: bool,
    private_ip_address: String,
}

/// `{"PrivateIpSet": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrivateIpSets {
    private_ip_set: Vec<PrivateIpSet>,
}

impl PrivateIpSets {
    fn of(i: &Instance) -> Self {
        Self { private_ip_set: vec![PrivateIpSet { primary: true, private_ip_address: address(i) }] }
    }
}

/// How a list was paged: by page number, or by token (MaxResults /
/// NextToken, where the cloud's TotalCount is only informative).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Paged {
    /// PageNumber / PageSize.
    Pages(PageInfo),
    /// MaxResults / NextToken.
    Token {
        /// Entries in the whole list.
        #[serde(rename = "TotalCount")]
        total_count: usize,
    },
}

/// The paging parameters of a list action.
struct Paging {
    page_number: Option<u32>,
    page_size: Option<u32>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

impl Paging {
    /// One page of `items` (each with its id), and the NextToken of the
    /// rest. By token, the list runs in id order and a token names the last
    /// id returned: the next page starts after it, so it stays right when
    /// entries are added or removed between calls. PageNumber/PageSize
    /// cannot be combined with MaxResults/NextToken.
    fn page<T>(self, mut items: Vec<(String, T)>, max_size: u32, max_results: u32) -> Result<(Vec<T>, Paged, String), ApiError> {
        let token = self.next_token.filter(|t| !t.is_empty());
        if token.is_none() && self.max_results.is_none() {
            let (page, info) = paginate(items, self.page_number, self.page_size, max_size)?;
            return Ok((page.into_iter().map(|(_, t)| t).collect(), Paged::Pages(info), String::new()));
        }
        if self.page_number.is_some() || self.page_size.is_some() {
            return Err(ApiError::bad(
                "InvalidParameter",
                "PageNumber and PageSize cannot be combined with MaxResults or NextToken.",
            ));
        }
        let size = paging::max_results(self.max_results, 1..=max_results, 10)?;
        let after = token.as_deref().map(decode_token).transpose()?;
        let total_count = items.len();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let (page, next) = paging::page_after(TOKEN_KIND, items, after.as_ref(), size, false);
        Ok((page, Paged::Token { total_count }, next))
    }
}

/// The list kind compute's NextTokens name (instances, disks, ENIs).
const TOKEN_KIND: &str = "ecs";

/// A NextToken naming the last id of a page.
#[cfg(test)]
fn encode_token(id: &str) -> String {
    paging::encode_token(TOKEN_KIND, &id)
}

/// The id a NextToken names, or `InvalidNextToken` for one this router did
/// not hand out.
fn decode_token(token: &str) -> Result<String, ApiError> {
    paging::decode_token(TOKEN_KIND, token, || {
        ApiError::bad("InvalidNextToken", format!("The specified NextToken {token:?} is not valid."))
    })
}

// ----------------------------------------------------------- RunInstances

/// RunInstances' `SystemDisk.*`: recorded and described by DescribeDisks.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemDiskParam {
    /// cloud_essd (default), cloud_efficiency, cloud_ssd, cloud, cloud_auto,
    /// cloud_essd_entry: recorded.
    category: Option<String>,
    /// GiB, 20..=2048 (default 40): recorded.
    size: Option<u32>,
    /// Recorded.
    disk_name: Option<String>,
    /// Recorded.
    description: Option<String>,
    /// PL0..PL3 for an ESSD (default PL1): recorded.
    performance_level: Option<String>,
    /// Disks are not encrypted here: `true` is refused.
    encrypted: Option<bool>,
    /// Performance bursting does not exist here: `true` is refused.
    bursting_enabled: Option<bool>,
    #[serde(rename = "AutoSnapshotPolicyId")]
    _auto_snapshot_policy_id: Option<Unsupported>,
    #[serde(rename = "EncryptAlgorithm")]
    _encrypt_algorithm: Option<Unsupported>,
    #[serde(rename = "KMSKeyId")]
    _kms_key_id: Option<Unsupported>,
    #[serde(rename = "ProvisionedIops")]
    _provisioned_iops: Option<Unsupported>,
    #[serde(rename = "StorageClusterId")]
    _storage_cluster_id: Option<Unsupported>,
}

const DISK_CATEGORIES: &[&str] = &["cloud", "cloud_efficiency", "cloud_ssd", "cloud_essd", "cloud_auto", "cloud_essd_entry"];

impl SystemDiskParam {
    fn record(self) -> Result<model::SystemDisk, ApiError> {
        refuse_true("SystemDisk.Encrypted", self.encrypted)?;
        refuse_true("SystemDisk.BurstingEnabled", self.bursting_enabled)?;
        let category = given(&self.category).unwrap_or(DEFAULT_DISK_CATEGORY).to_string();
        one_of("SystemDisk.Category", Some(&category), DISK_CATEGORIES, DISK_CATEGORIES)?;
        let size = self.size.unwrap_or(DEFAULT_DISK_SIZE);
        if !(20..=2048).contains(&size) {
            return Err(ApiError::invalid("SystemDisk.Size", format!("{size} is outside 20..=2048")));
        }
        let level = given(&self.performance_level);
        one_of("SystemDisk.PerformanceLevel", level, &["PL0", "PL1", "PL2", "PL3"], &["PL0", "PL1", "PL2", "PL3"])?;
        if level.is_some() && category != "cloud_essd" {
            return Err(ApiError::invalid("SystemDisk.PerformanceLevel", "only a cloud_essd disk has a performance level"));
        }
        Ok(model::SystemDisk {
            category,
            size,
            name: self.disk_name.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            performance_level: level.unwrap_or_default().to_string(),
        })
    }
}

/// RunInstances: Amount instances (1..=100) in VSwitchId, each with one ENI.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunInstances {
    v_switch_id: String,
    /// Must be the vSwitch's zone if given.
    zone_id: Option<String>,
    /// 1..=100 (default 1).
    amount: Option<u32>,
    /// At least this many (default Amount): as many instances as can be
    /// made up to Amount are, or none if fewer than MinAmount can.
    min_amount: Option<u32>,
    /// The address (Amount 1 only); else the lowest free one.
    private_ip_address: Option<String>,
    /// One group for every instance's ENI.
    security_group_id: Option<String>,
    /// Groups (SecurityGroupIds.N) for every instance's ENI.
    #[serde(default)]
    security_group_ids: Vec<String>,
    /// Name; with UniqueSuffix and Amount > 1, numbered 001, 002...
    instance_name: Option<String>,
    /// Host name; with UniqueSuffix and Amount > 1, numbered as names are.
    host_name: Option<String>,
    /// One host name per instance (HostNames.N, as many as Amount).
    #[serde(default)]
    host_names: Vec<String>,
    description: Option<String>,
    /// Number the names and host names of several instances.
    unique_suffix: Option<bool>,
    /// Recorded.
    image_id: Option<String>,
    /// Recorded.
    instance_type: Option<String>,
    /// Mbit/s, 0..=100 (recorded, not enforced): above 0 the instance gets
    /// a static public IP.
    internet_max_bandwidth_out: Option<u32>,
    /// Mbit/s, 1..=200 (recorded, not enforced).
    internet_max_bandwidth_in: Option<u32>,
    /// PayByTraffic (default) or PayByBandwidth: recorded and answered.
    internet_charge_type: Option<String>,
    /// Base64, at most 32 KiB decoded: recorded, answered by
    /// DescribeUserData, never run.
    user_data: Option<String>,
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    system_disk: Option<SystemDiskParam>,
    /// `optimized` is what every instance is; `none` is refused.
    io_optimized: Option<String>,
    /// `NoSpot` is what every instance is; spot instances are refused.
    spot_strategy: Option<String>,
    /// PostPaid (default) only; PrePaid is refused with
    /// `InvalidInstanceChargeType.ValueNotSupported`.
    instance_charge_type: Option<String>,
    /// Subscription term, PrePaid only: validated as the cloud does and, as
    /// the cloud does for PostPaid, ignored.
    period: Option<u32>,
    /// Week or Month; PrePaid only: validated, ignored for PostPaid.
    period_unit: Option<String>,
    /// Renew a subscription; PrePaid only: validated, ignored for PostPaid.
    auto_renew: Option<bool>,
    /// Renewal term; PrePaid only: validated, ignored for PostPaid.
    auto_renew_period: Option<u32>,
    /// Pay orders automatically; the cloud ignores it for PostPaid (no
    /// order is placed).
    auto_pay: Option<bool>,
    /// Protection from DeleteInstance does not exist here: `true` is refused.
    deletion_protection: Option<bool>,
    /// Images carry no password here: `true` is refused.
    password_inherit: Option<bool>,
    #[serde(rename = "Affinity")]
    _affinity: Option<Unsupported>,
    #[serde(rename = "Arn")]
    _arn: Option<Unsupported>,
    #[serde(rename = "AutoReleaseTime")]
    _auto_release_time: Option<Unsupported>,
    #[serde(rename = "ClockOptions")]
    _clock_options: Option<Unsupported>,
    #[serde(rename = "CpuOptions")]
    _cpu_options: Option<Unsupported>,
    #[serde(rename = "CreditSpecification")]
    _credit_specification: Option<Unsupported>,
    #[serde(rename = "DataDisk")]
    _data_disk: Option<Unsupported>,
    #[serde(rename = "DedicatedHostId")]
    _dedicated_host_id: Option<Unsupported>,
    #[serde(rename = "DeploymentSetGroupNo")]
    _deployment_set_group_no: Option<Unsupported>,
    #[serde(rename = "DeploymentSetId")]
    _deployment_set_id: Option<Unsupported>,
    #[serde(rename = "HibernationOptions")]
    _hibernation_options: Option<Unsupported>,
    #[serde(rename = "HpcClusterId")]
    _hpc_cluster_id: Option<Unsupported>,
    #[serde(rename = "HttpEndpoint")]
    _http_endpoint: Option<Unsupported>,
    #[serde(rename = "HttpPutResponseHopLimit")]
    _http_put_response_hop_limit: Option<Unsupported>,
    #[serde(rename = "HttpTokens")]
    _http_tokens: Option<Unsupported>,
    #[serde(rename = "ImageFamily")]
    _image_family: Option<Unsupported>,
    #[serde(rename = "ImageOptions")]
    _image_options: Option<Unsupported>,
    #[serde(rename = "Ipv6Address")]
    _ipv6_address: Option<Unsupported>,
    #[serde(rename = "Ipv6AddressCount")]
    _ipv6_address_count: Option<Unsupported>,
    #[serde(rename = "Isp")]
    _isp: Option<Unsupported>,
    #[serde(rename = "KeyPairName")]
    _key_pair_name: Option<Unsupported>,
    #[serde(rename = "LaunchTemplateId")]
    _launch_template_id: Option<Unsupported>,
    #[serde(rename = "LaunchTemplateName")]
    _launch_template_name: Option<Unsupported>,
    #[serde(rename = "LaunchTemplateVersion")]
    _launch_template_version: Option<Unsupported>,
    #[serde(rename = "ManagedHostId")]
    _managed_host_id: Option<Unsupported>,
    #[serde(rename = "NetworkInterface")]
    _network_interface: Option<Unsupported>,
    #[serde(rename = "NetworkInterfaceQueueNumber")]
    _network_interface_queue_number: Option<Unsupported>,
    #[serde(rename = "NetworkOptions")]
    _network_options: Option<Unsupported>,
    #[serde(rename = "Password")]
    _password: Option<Unsupported>,
    #[serde(rename = "PrivateDnsNameOptions")]
    _private_dns_name_options: Option<Unsupported>,
    #[serde(rename = "PrivatePoolOptions")]
    _private_pool_options: Option<Unsupported>,
    #[serde(rename = "RamRoleName")]
    _ram_role_name: Option<Unsupported>,
    #[serde(rename = "SchedulerOptions")]
    _scheduler_options: Option<Unsupported>,
    #[serde(rename = "SecurityEnhancementStrategy")]
    _security_enhancement_strategy: Option<Unsupported>,
    #[serde(rename = "SecurityOptions")]
    _security_options: Option<Unsupported>,
    #[serde(rename = "SpotDuration")]
    _spot_duration: Option<Unsupported>,
    #[serde(rename = "SpotInterruptionBehavior")]
    _spot_interruption_behavior: Option<Unsupported>,
    #[serde(rename = "SpotPriceLimit")]
    _spot_price_limit: Option<Unsupported>,
    #[serde(rename = "StorageSetId")]
    _storage_set_id: Option<Unsupported>,
    #[serde(rename = "StorageSetPartitionNumber")]
    _storage_set_partition_number: Option<Unsupported>,
    #[serde(rename = "Tenancy")]
    _tenancy: Option<Unsupported>,
}

/// `{"InstanceIdSet": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceIdSets {
    instance_id_set: Vec<String>,
}

/// RunInstances' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunInstancesResponse {
    instance_id_sets: InstanceIdSets,
    order_id: String,
    trade_price: f64,
}

impl RunInstances {
    /// Validates the billing and the flags this router takes only as it is.
    fn check_terms(&self) -> Result<(), ApiError> {
        post_paid_only("InstanceChargeType", self.instance_charge_type.as_deref(), POST_PAID)?;
        subscription_terms(self.period, self.period_unit.as_deref(), self.auto_renew_period)?;
        let _ = (self.auto_renew, self.auto_pay);
        one_of("InternetChargeType", self.internet_charge_type.as_deref(), &["PayByTraffic", "PayByBandwidth"], &[
            "PayByTraffic",
            "PayByBandwidth",
        ])?;
        one_of("IoOptimized", self.io_optimized.as_deref(), &["none", "optimized"], &["optimized"])?;
        one_of("SpotStrategy", self.spot_strategy.as_deref(), &["NoSpot", "SpotWithPriceLimit", "SpotAsPriceGo"], &["NoSpot"])?;
        refuse_true("DeletionProtection", self.deletion_protection)?;
        refuse_true("PasswordInherit", self.password_inherit)?;
        if let Some(b) = self.internet_max_bandwidth_in.filter(|b| !(1..=200).contains(b)) {
            return Err(ApiError::invalid("InternetMaxBandwidthIn", format!("{b} is outside 1..=200")));
        }
        if let Some(data) = given(&self.user_data) {
            check_user_data(data)?;
        }
        Ok(())
    }

    /// The name and host name of instance `n` of `amount` (`id` for a
    /// default name).
    fn names(&self, n: usize, amount: usize, id: &str) -> (String, Option<String>) {
        let suffix = |base: &str| {
            if self.unique_suffix == Some(true) && amount > 1 { format!("{base}{n:03}") } else { base.to_string() }
        };
        let name = given(&self.instance_name).map(suffix).unwrap_or_else(|| id.to_string());
        let host = match self.host_names.get(n - 1) {
            Some(h) => Some(h.clone()),
            None => given(&self.host_name).map(suffix),
        };
        (name, host)
    }
}

impl Action for RunInstances {
    const NAME: &'static str = "RunInstances";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Creates Amount instances in a vSwitch, each with one ENI and a fixed private address (VPC-2, VPC-4).";
    type Response = RunInstancesResponse;

    fn run(mut self, d: &mut Draft) -> Result<RunInstancesResponse, ApiError> {
        d.require_region()?;
        let vsw_id = required("VSwitchId", &self.v_switch_id)?.to_string();
        self.check_terms()?;
        let amount = self.amount.unwrap_or(1);
        if !(1..=100).contains(&amount) {
            return Err(ApiError::invalid("Amount", format!("{amount} is outside 1..=100")));
        }
        let min_amount = self.min_amount.unwrap_or(amount);
        if !(1..=100).contains(&min_amount) {
            return Err(ApiError::invalid("MinAmount", format!("{min_amount} is outside 1..=100")));
        }
        if min_amount > amount {
            return Err(ApiError::invalid("MinAmount", "it is larger than Amount"));
        }
        let amount = amount as usize;
        let address: Option<Ipv4Addr> = given(&self.private_ip_address)
            .map(|a| a.parse().map_err(|_| ApiError::invalid("PrivateIpAddress", format!("{a:?} is not an IPv4 address"))))
            .transpose()?;
        if address.is_some() && amount > 1 {
            return Err(ApiError::bad("InvalidParameter.Conflict", "PrivateIpAddress can only be given with Amount 1."));
        }
        let bandwidth_out = self.internet_max_bandwidth_out.unwrap_or(0);
        if bandwidth_out > 100 {
            return Err(ApiError::invalid("InternetMaxBandwidthOut", format!("{bandwidth_out} is outside 0..=100")));
        }
        if !self.host_names.is_empty() {
            if given(&self.host_name).is_some() {
                return Err(ApiError::bad("InvalidParameter.Conflict", "HostName and HostNames cannot both be given."));
            }
            if self.host_names.len() != amount {
                return Err(ApiError::invalid("HostNames", "give as many host names as Amount"));
            }
        }
        let mut groups = std::mem::take(&mut self.security_group_ids);
        groups.extend(given(&self.security_group_id).map(str::to_string));
        check_groups(d, &groups)?;
        let vsw = &d.model.vswitches[d.vswitch_index(&vsw_id)?];
        if let Some(zone) = given(&self.zone_id)
            && zone != vsw.zone_id
        {
            return Err(ApiError::bad(
                "InvalidVSwitchId.ZoneMismatch",
                format!("The vSwitch {vsw_id} is in zone {}, not {zone}.", vsw.zone_id),
            ));
        }
        let system_disk = self.system_disk.take().unwrap_or_default().record()?;
        let mut meta = d.new_meta(self.description.as_deref());
        meta.tags = tag::from_params(&self.tag)?;
        let first_new = d.model.instances.len();
        for n in 1..=amount {
            let id = new_id("i");
            let (name, host) = self.names(n, amount, &id);
            if let Some(h) = &host {
                check_host_name(h)?;
            }
            d.model.instances.push(Instance {
                id,
                name: Some(name),
                vswitch_id: vsw_id.clone(),
                private_ip_address: address,
                source_dest_check: true,
                security_group_ids: groups.clone(),
                image_id: self.image_id.clone().unwrap_or_default(),
                instance_type: self.instance_type.clone().unwrap_or_default(),
                internet_max_bandwidth_out: bandwidth_out,
                public_ip_address: None,
                host_name: host,
                user_data: self.user_data.clone().unwrap_or_default(),
                internet_max_bandwidth_in: self.internet_max_bandwidth_in,
                internet_charge_type: self.internet_charge_type.clone().unwrap_or_default(),
                system_disk: system_disk.clone(),
                meta: meta.clone(),
            });
            // A static public IP with the instance (released with it).
            if bandwidth_out > 0 {
                let Some(public) = d.model.free_public_address() else {
                    // No more can be made: as many as were, if MinAmount allows.
                    d.model.instances.pop();
                    if n - 1 < min_amount as usize {
                        return Err(ApiError::bad(
                            "QuotaExceeded.PublicIpAddress",
                            format!("The public address pool has no free address: {} of MinAmount {min_amount} instances can be made.", n - 1),
                        ));
                    }
                    break;
                };
                if let Some(last) = d.model.instances.last_mut() {
                    last.public_ip_address = Some(public);
                }
            }
        }
        // Fix each new instance's address now: it must not move when another
        // instance is deleted later. Those the vSwitch has no address for
        // are not made (MinAmount: at least that many must be).
        let allocated = model::instance_addresses(&d.model);
        let mut made = d.model.instances.len() - first_new;
        for (n, (inst, (_, addr))) in d.model.instances.iter_mut().zip(allocated).skip(first_new).enumerate() {
            match addr {
                Some(a) => inst.private_ip_address = Some(a),
                None => {
                    made = n;
                    break;
                }
            }
        }
        if made < min_amount as usize {
            return Err(ApiError::bad(
                "QuotaExceeded.PrivateIpAddress",
                format!("The vSwitch {vsw_id} has no free private IP address: {made} of MinAmount {min_amount} instances can be made."),
            ));
        }
        d.model.instances.truncate(first_new + made);
        let ids = d.model.instances[first_new..].iter().map(|i| i.id.clone()).collect();
        Ok(RunInstancesResponse { instance_id_sets: InstanceIdSets { instance_id_set: ids }, order_id: String::new(), trade_price: 0.0 })
    }
}

// --------------------------------------------------------- DeleteInstance

/// DeleteInstance.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteInstance {
    instance_id: String,
    /// Delete a Running instance. An instance here is a namespace with
    /// nothing to shut down, so it is deleted with or without Force.
    force: Option<bool>,
    /// Stop forcibly before deleting: nothing runs in the namespace, so
    /// both ways of stopping are the same.
    force_stop: Option<bool>,
    /// End a subscription instance's term; the cloud ignores it for
    /// pay-as-you-go instances, which every instance here is.
    terminate_subscription: Option<bool>,
}

impl Action for DeleteInstance {
    const NAME: &'static str = "DeleteInstance";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Deletes an instance and its ENI; refused while a route entry uses it as next hop (RT-3).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let _ = (self.force, self.force_stop, self.terminate_subscription);
        let id = required("InstanceId", &self.instance_id)?;
        let i = d.instance_index(id)?;
        let eni = d.model.instances[i].eni_id();
        for t in &d.model.route_tables {
            if let Some(e) = t.route_entries.iter().find(|e| e.next_hop_id == id || e.next_hop_id == eni) {
                return Err(ApiError::bad(
                    "DependencyViolation.RouteEntry",
                    format!(
                        "The instance {id} is the next hop of route entry {} in {}: delete the entry first.",
                        e.destination_cidr_block, t.id
                    ),
                ));
            }
        }
        // Its EIPs are released from it (they stay allocated).
        for e in &mut d.model.eips {
            if e.association.as_ref().is_some_and(|a| a.instance_id == id || a.instance_id == eni) {
                e.association = None;
            }
        }
        // As the cloud's: a released instance leaves the server groups of
        // network load balancers it was a backend of.
        for g in &mut d.model.server_groups {
            g.servers.retain(|s| match s.server_type {
                crate::model::ServerType::Ecs => s.server_id != id,
                crate::model::ServerType::Eni => s.server_id != eni,
                crate::model::ServerType::Ip => true,
            });
        }
        d.model.instances.remove(i);
        Ok(Empty {})
    }
}

// ------------------------------------------------------ DescribeInstances

/// DescribeInstances: the caller's instances, filtered; paged by
/// PageNumber/PageSize or by MaxResults/NextToken.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeInstances {
    /// A JSON array of ids (at most 100).
    #[serde(default)]
    instance_ids: Vec<String>,
    vpc_id: Option<String>,
    v_switch_id: Option<String>,
    zone_id: Option<String>,
    security_group_id: Option<String>,
    /// A name, `*` as wildcard.
    instance_name: Option<String>,
    /// Running is the one status an instance has here.
    status: Option<String>,
    /// A JSON array of private addresses.
    #[serde(default)]
    private_ip_addresses: Vec<String>,
    /// A JSON array of static public addresses.
    #[serde(default)]
    public_ip_addresses: Vec<String>,
    /// A JSON array of associated EIP addresses.
    #[serde(default)]
    eip_addresses: Vec<String>,
    /// Classic-network addresses: VPC instances have none, so a non-empty
    /// list finds nothing.
    #[serde(default)]
    inner_ip_addresses: Vec<String>,
    image_id: Option<String>,
    instance_type: Option<String>,
    /// PostPaid finds every instance, PrePaid none.
    instance_charge_type: Option<String>,
    internet_charge_type: Option<String>,
    /// vpc finds every instance, classic none.
    instance_network_type: Option<String>,
    /// Every instance is I/O optimized: false finds none.
    io_optimized: Option<bool>,
    /// Key pairs do not exist here: a name finds nothing.
    key_pair_name: Option<String>,
    /// Instances are never locked here: a reason finds nothing.
    lock_reason: Option<String>,
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    page_number: Option<u32>,
    /// At most 100 (default 10).
    page_size: Option<u32>,
    /// 1..=100 (default 10), paging by token.
    max_results: Option<u32>,
    next_token: Option<String>,
    /// Sale cycles are for subscriptions: `true` is refused.
    need_sale_cycle: Option<bool>,
    #[serde(rename = "AdditionalAttributes")]
    _additional_attributes: Option<Unsupported>,
    #[serde(rename = "DeviceAvailable")]
    _device_available: Option<Unsupported>,
    #[serde(rename = "Filter")]
    _filter: Option<Unsupported>,
    #[serde(rename = "HpcClusterId")]
    _hpc_cluster_id: Option<Unsupported>,
    #[serde(rename = "HttpEndpoint")]
    _http_endpoint: Option<Unsupported>,
    #[serde(rename = "HttpPutResponseHopLimit")]
    _http_put_response_hop_limit: Option<Unsupported>,
    #[serde(rename = "HttpTokens")]
    _http_tokens: Option<Unsupported>,
    #[serde(rename = "InstanceTypeFamily")]
    _instance_type_family: Option<Unsupported>,
    #[serde(rename = "Ipv6Address")]
    _ipv6_address: Option<Unsupported>,
    #[serde(rename = "RdmaIpAddresses")]
    _rdma_ip_addresses: Option<Unsupported>,
}

/// VpcAttributes of an instance.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcAttributes {
    vpc_id: String,
    v_switch_id: String,
    private_ip_address: IpAddresses,
    nat_ip_address: String,
}

/// The primary ENI in DescribeInstances.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceEni {
    network_interface_id: String,
    mac_address: String,
    primary_ip_address: String,
    r#type: &'static str,
    private_ip_sets: PrivateIpSets,
}

/// `{"NetworkInterface": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceEnis {
    network_interface: Vec<InstanceEni>,
}

/// The EIP associated with an instance (empty fields if none).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EipAddress {
    allocation_id: String,
    ip_address: String,
    bandwidth: u32,
    internet_charge_type: String,
    is_support_unassociate: bool,
}

/// One instance in DescribeInstances.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceItem {
    instance_id: String,
    instance_name: String,
    host_name: String,
    status: &'static str,
    region_id: String,
    zone_id: String,
    image_id: String,
    instance_type: String,
    instance_network_type: &'static str,
    instance_charge_type: &'static str,
    expired_time: &'static str,
    description: String,
    creation_time: String,
    start_time: String,
    resource_group_id: String,
    vpc_attributes: VpcAttributes,
    network_interfaces: InstanceEnis,
    security_group_ids: SecurityGroupIds,
    public_ip_address: IpAddresses,
    eip_address: EipAddress,
    internet_max_bandwidth_out: u32,
    internet_max_bandwidth_in: u32,
    internet_charge_type: String,
    inner_ip_address: IpAddresses,
    io_optimized: bool,
    deletion_protection: bool,
    spot_strategy: &'static str,
    key_pair_name: String,
    tags: tag::EcsTags,
}

/// `{"Instance": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Instances {
    instance: Vec<InstanceItem>,
}

/// DescribeInstances' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeInstancesResponse {
    instances: Instances,
    next_token: String,
    #[serde(flatten)]
    page: Paged,
}

/// The EIP associated with the instance or its ENI.
fn eip_of(d: &Draft, i: &Instance) -> EipAddress {
    let eni = i.eni_id();
    match d.model.eips.iter().find(|e| e.association.as_ref().is_some_and(|a| a.instance_id == i.id || a.instance_id == eni)) {
        Some(e) => EipAddress {
            allocation_id: e.id.clone(),
            ip_address: e.ip_address.to_string(),
            bandwidth: e.bandwidth,
            internet_charge_type: "PayByBandwidth".into(),
            is_support_unassociate: true,
        },
        None => EipAddress {
            allocation_id: String::new(),
            ip_address: String::new(),
            bandwidth: 0,
            internet_charge_type: String::new(),
            is_support_unassociate: true,
        },
    }
}

fn internet_charge_type(i: &Instance) -> String {
    if i.internet_charge_type.is_empty() { DEFAULT_INTERNET_CHARGE_TYPE.to_string() } else { i.internet_charge_type.clone() }
}

fn instance_item(d: &Draft, i: &Instance, v: &model::VSwitch) -> InstanceItem {
    InstanceItem {
        instance_id: i.id.clone(),
        instance_name: i.name.clone().unwrap_or_default(),
        host_name: host_name(i),
        status: RUNNING,
        region_id: i.meta.region_id.clone(),
        zone_id: v.zone_id.clone(),
        image_id: i.image_id.clone(),
        instance_type: i.instance_type.clone(),
        instance_network_type: "vpc",
        instance_charge_type: POST_PAID,
        expired_time: NEVER_EXPIRES,
        description: i.meta.description.clone(),
        creation_time: i.meta.creation_time.clone(),
        start_time: i.meta.creation_time.clone(),
        resource_group_id: i.meta.resource_group_id.clone(),
        vpc_attributes: VpcAttributes {
            vpc_id: v.vpc_id.clone(),
            v_switch_id: v.id.clone(),
            private_ip_address: IpAddresses { ip_address: vec![address(i)] },
            nat_ip_address: String::new(),
        },
        network_interfaces: InstanceEnis {
            network_interface: vec![InstanceEni {
                network_interface_id: i.eni_id(),
                mac_address: mac(i),
                primary_ip_address: address(i),
                r#type: "Primary",
                private_ip_sets: PrivateIpSets::of(i),
            }],
        },
        security_group_ids: SecurityGroupIds { security_group_id: i.security_group_ids.clone() },
        public_ip_address: IpAddresses { ip_address: i.public_ip_address.iter().map(|a| a.to_string()).collect() },
        eip_address: eip_of(d, i),
        internet_max_bandwidth_out: i.internet_max_bandwidth_out,
        internet_max_bandwidth_in: i.internet_max_bandwidth_in.unwrap_or(DEFAULT_BANDWIDTH_IN),
        internet_charge_type: internet_charge_type(i),
        inner_ip_address: IpAddresses { ip_address: Vec::new() },
        io_optimized: true,
        deletion_protection: false,
        spot_strategy: "NoSpot",
        key_pair_name: String::new(),
        tags: tag::EcsTags::of(&i.meta.tags),
    }
}

impl DescribeInstances {
    fn matches(&self, d: &Draft, i: &Instance, v: &model::VSwitch) -> bool {
        let eip = eip_of(d, i).ip_address;
        let public = i.public_ip_address.map(|a| a.to_string()).unwrap_or_default();
        (self.instance_ids.is_empty() || self.instance_ids.contains(&i.id))
            && (self.private_ip_addresses.is_empty() || self.private_ip_addresses.contains(&address(i)))
            && (self.public_ip_addresses.is_empty() || self.public_ip_addresses.contains(&public))
            && (self.eip_addresses.is_empty() || self.eip_addresses.contains(&eip))
            && self.inner_ip_addresses.is_empty()
            && given(&self.zone_id).is_none_or(|x| v.zone_id == x)
            && given(&self.instance_name).is_none_or(|x| name_matches(x, i.name.as_deref().unwrap_or_default()))
            && given(&self.status).is_none_or(|x| x == RUNNING)
            && given(&self.image_id).is_none_or(|x| i.image_id == x)
            && given(&self.instance_type).is_none_or(|x| i.instance_type == x)
            && given(&self.instance_charge_type).is_none_or(|x| x == POST_PAID)
            && given(&self.internet_charge_type).is_none_or(|x| internet_charge_type(i) == x)
            && given(&self.instance_network_type).is_none_or(|x| x == "vpc")
            && self.io_optimized != Some(false)
            && given(&self.key_pair_name).is_none()
            && given(&self.lock_reason).is_none()
            && tag::matches(&i.meta.tags, &self.tag)
    }
}

impl Action for DescribeInstances {
    const NAME: &'static str = "DescribeInstances";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Lists the caller's instances, filtered by ids, VPC, vSwitch, zone, name, addresses, tags...; paged (at most 100).";
    type Response = DescribeInstancesResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeInstancesResponse, ApiError> {
        d.require_region()?;
        refuse_true("NeedSaleCycle", self.need_sale_cycle)?;
        if self.instance_ids.len() > 100 {
            return Err(ApiError::invalid("InstanceIds", "at most 100 instance ids"));
        }
        let items: Vec<(String, InstanceItem)> =
            located(d, given(&self.vpc_id), given(&self.v_switch_id), given(&self.security_group_id))
                .into_iter()
                .filter(|(i, v)| self.matches(d, i, v))
                .map(|(i, v)| (i.id.clone(), instance_item(d, i, v)))
                .collect();
        let paging = Paging {
            page_number: self.page_number,
            page_size: self.page_size,
            max_results: self.max_results,
            next_token: self.next_token,
        };
        let (instance, page, next_token) = paging.page(items, 100, 100)?;
        Ok(DescribeInstancesResponse { instances: Instances { instance }, next_token, page })
    }
}

// ------------------------------------------------ ModifyInstanceAttribute

/// ModifyInstanceAttribute: name, description, host name, user data,
/// security groups.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyInstanceAttribute {
    instance_id: String,
    instance_name: Option<String>,
    description: Option<String>,
    host_name: Option<String>,
    /// Base64, at most 32 KiB decoded (empty clears it).
    user_data: Option<String>,
    /// Replaces the groups of the instance's ENI (SecurityGroupIds.N).
    #[serde(default)]
    security_group_ids: Vec<String>,
    /// Instances have no password here (empty, as Ansible's alicloud
    /// modules send it, says none).
    #[serde(rename = "Password")]
    _password: Option<Unsupported>,
    /// Protection from DeleteInstance does not exist here: `true` is refused.
    deletion_protection: Option<bool>,
    /// Jumbo frames are not forwarded: `true` is refused.
    enable_jumbo_frame: Option<bool>,
    /// Traffic is not encrypted here: `true` is refused.
    enable_network_encryption: Option<bool>,
    /// Pay-as-you-go instances are not recycled: `true` is refused.
    recyclable: Option<bool>,
    #[serde(rename = "CpuOptions")]
    _cpu_options: Option<Unsupported>,
    #[serde(rename = "CreditSpecification")]
    _credit_specification: Option<Unsupported>,
    #[serde(rename = "NetworkInterfaceQueueNumber")]
    _network_interface_queue_number: Option<Unsupported>,
    #[serde(rename = "PrivateDnsNameOptions")]
    _private_dns_name_options: Option<Unsupported>,
    #[serde(rename = "RemoteConnectionOptions")]
    _remote_connection_options: Option<Unsupported>,
}

impl Action for ModifyInstanceAttribute {
    const NAME: &'static str = "ModifyInstanceAttribute";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Changes an instance's name, description, host name, user data or security groups.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        refuse_true("DeletionProtection", self.deletion_protection)?;
        refuse_true("EnableJumboFrame", self.enable_jumbo_frame)?;
        refuse_true("EnableNetworkEncryption", self.enable_network_encryption)?;
        refuse_true("Recyclable", self.recyclable)?;
        let i = d.instance_index(required("InstanceId", &self.instance_id)?)?;
        if let Some(h) = given(&self.host_name) {
            check_host_name(h)?;
        }
        if let Some(data) = given(&self.user_data) {
            check_user_data(data)?;
        }
        check_groups(d, &self.security_group_ids)?;
        let inst = &mut d.model.instances[i];
        if let Some(name) = given(&self.instance_name) {
            inst.name = Some(name.to_string());
        }
        if let Some(desc) = self.description {
            inst.meta.description = desc;
        }
        if let Some(h) = given(&self.host_name) {
            inst.host_name = Some(h.to_string());
        }
        if let Some(data) = self.user_data {
            inst.user_data = data;
        }
        if !self.security_group_ids.is_empty() {
            inst.security_group_ids = self.security_group_ids;
        }
        Ok(Empty {})
    }
}

// ----------------------------------------------- ModifyInstanceChargeType

/// ModifyInstanceChargeType: every instance is PostPaid already, so
/// PostPaid changes nothing; PrePaid (the cloud's default) is refused with
/// `InvalidInstanceChargeType.ValueNotSupported`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyInstanceChargeType {
    /// A JSON array of ids (at most 20).
    instance_ids: Vec<String>,
    /// PostPaid; absent means PrePaid, as in the cloud.
    instance_charge_type: Option<String>,
    /// Pay the order automatically; no order is placed for PostPaid.
    auto_pay: Option<bool>,
    /// Convert the data disks too: instances have none here, so either
    /// value does the same.
    include_data_disks: Option<bool>,
    /// Answer the fee of each instance (0 here).
    is_detail_fee: Option<bool>,
    /// Subscription term, PrePaid only: validated, ignored for PostPaid.
    period: Option<u32>,
    /// Week or Month, PrePaid only: validated, ignored for PostPaid.
    period_unit: Option<String>,
}

/// The fee of one instance's change.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FeeOfInstance {
    instance_id: String,
    fee: String,
    currency: &'static str,
}

/// `{"FeeOfInstance": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FeeOfInstances {
    fee_of_instance: Vec<FeeOfInstance>,
}

/// ModifyInstanceChargeType's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyInstanceChargeTypeResponse {
    order_id: String,
    fee_of_instances: FeeOfInstances,
}

impl Action for ModifyInstanceChargeType {
    const NAME: &'static str = "ModifyInstanceChargeType";
    const PRODUCT: Product = Product::Ecs;
    // Nothing changes: every instance is PostPaid already.
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Sets instances to pay-as-you-go (PostPaid, what they are); PrePaid is refused.";
    type Response = ModifyInstanceChargeTypeResponse;

    fn run(self, d: &mut Draft) -> Result<ModifyInstanceChargeTypeResponse, ApiError> {
        d.require_region()?;
        let _ = (self.auto_pay, self.include_data_disks);
        post_paid_only("InstanceChargeType", self.instance_charge_type.as_deref(), "PrePaid")?;
        subscription_terms(self.period, self.period_unit.as_deref(), None)?;
        if self.instance_ids.is_empty() {
            return Err(ApiError::missing("InstanceIds"));
        }
        if self.instance_ids.len() > 20 {
            return Err(ApiError::invalid("InstanceIds", "at most 20 instance ids"));
        }
        for id in &self.instance_ids {
            d.instance_index(id)?;
        }
        let fee_of_instance = match self.is_detail_fee {
            Some(true) => self
                .instance_ids
                .into_iter()
                .map(|instance_id| FeeOfInstance { instance_id, fee: "0".into(), currency: "CNY" })
                .collect(),
            _ => Vec::new(),
        };
        Ok(ModifyInstanceChargeTypeResponse { order_id: String::new(), fee_of_instances: FeeOfInstances { fee_of_instance } })
    }
}

// ------------------------------------------------------- DescribeUserData

/// DescribeUserData: the UserData RunInstances or ModifyInstanceAttribute
/// recorded (empty if none).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeUserData {
    instance_id: String,
}

/// DescribeUserData's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeUserDataResponse {
    instance_id: String,
    region_id: String,
    /// Base64 as given.
    user_data: String,
}

impl Action for DescribeUserData {
    const NAME: &'static str = "DescribeUserData";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Answers an instance's user data (base64, as given; empty if none).";
    type Response = DescribeUserDataResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeUserDataResponse, ApiError> {
        d.require_region()?;
        let i = &d.model.instances[d.instance_index(required("InstanceId", &self.instance_id)?)?];
        Ok(DescribeUserDataResponse { instance_id: i.id.clone(), region_id: i.meta.region_id.clone(), user_data: i.user_data.clone() })
    }
}

// ---------------------------------------------------------- DescribeDisks

/// DescribeDisks: each instance's system disk, as RunInstances recorded it
/// (read-only: disks come and go with their instances).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeDisks {
    instance_id: Option<String>,
    /// A JSON array of disk ids (at most 100).
    #[serde(default)]
    disk_ids: Vec<String>,
    disk_name: Option<String>,
    /// system finds every disk, data none, all every disk.
    disk_type: Option<String>,
    category: Option<String>,
    /// In_use finds every disk (each is attached to its instance).
    status: Option<String>,
    zone_id: Option<String>,
    /// PostPaid finds every disk, PrePaid none.
    disk_charge_type: Option<String>,
    /// System disks are not portable: true finds none.
    portable: Option<bool>,
    /// System disks go with their instance: false finds none.
    delete_with_instance: Option<bool>,
    /// Disks are not encrypted here: true finds none.
    encrypted: Option<bool>,
    /// The instance's tags (a system disk has its instance's tags).
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    page_number: Option<u32>,
    /// At most 100 (default 10).
    page_size: Option<u32>,
    /// 1..=500 (default 10), paging by token.
    max_results: Option<u32>,
    next_token: Option<String>,
    #[serde(rename = "AdditionalAttributes")]
    _additional_attributes: Option<Unsupported>,
    #[serde(rename = "AutoSnapshotPolicyId")]
    _auto_snapshot_policy_id: Option<Unsupported>,
    #[serde(rename = "DeleteAutoSnapshot")]
    _delete_auto_snapshot: Option<Unsupported>,
    #[serde(rename = "EnableAutoSnapshot")]
    _enable_auto_snapshot: Option<Unsupported>,
    #[serde(rename = "EnableAutomatedSnapshotPolicy")]
    _enable_automated_snapshot_policy: Option<Unsupported>,
    #[serde(rename = "EnableShared")]
    _enable_shared: Option<Unsupported>,
    #[serde(rename = "Filter")]
    _filter: Option<Unsupported>,
    #[serde(rename = "KMSKeyId")]
    _kms_key_id: Option<Unsupported>,
    #[serde(rename = "LockReason")]
    _lock_reason: Option<Unsupported>,
    #[serde(rename = "MultiAttach")]
    _multi_attach: Option<Unsupported>,
    #[serde(rename = "PerformanceLevel")]
    _performance_level: Option<Unsupported>,
    #[serde(rename = "SnapshotId")]
    _snapshot_id: Option<Unsupported>,
}

/// A disk's attachment to an instance.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attachment {
    instance_id: String,
    device: &'static str,
    attached_time: String,
}

/// `{"Attachment": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attachments {
    attachment: Vec<Attachment>,
}

/// One disk in DescribeDisks.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskItem {
    disk_id: String,
    disk_name: String,
    description: String,
    r#type: &'static str,
    category: String,
    size: u32,
    performance_level: String,
    #[serde(rename = "IOPS")]
    iops: u32,
    status: &'static str,
    instance_id: String,
    device: &'static str,
    image_id: String,
    region_id: String,
    zone_id: String,
    creation_time: String,
    attached_time: String,
    disk_charge_type: &'static str,
    delete_with_instance: bool,
    delete_auto_snapshot: bool,
    enable_auto_snapshot: bool,
    encrypted: bool,
    portable: bool,
    bursting_enabled: bool,
    multi_attach: &'static str,
    resource_group_id: String,
    attachments: Attachments,
    tags: tag::EcsTags,
}

/// `{"Disk": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Disks {
    disk: Vec<DiskItem>,
}

/// DescribeDisks' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeDisksResponse {
    disks: Disks,
    next_token: String,
    #[serde(flatten)]
    page: Paged,
}

/// The system disk of `i` as the cloud describes it.
fn disk_item(i: &Instance, v: &model::VSwitch) -> DiskItem {
    let s = &i.system_disk;
    let category = if s.category.is_empty() { DEFAULT_DISK_CATEGORY.to_string() } else { s.category.clone() };
    let size = if s.size == 0 { DEFAULT_DISK_SIZE } else { s.size };
    let essd = category == "cloud_essd";
    let performance_level = match (essd, s.performance_level.as_str()) {
        (false, _) => String::new(),
        (true, "") => DEFAULT_PERFORMANCE_LEVEL.to_string(),
        (true, l) => l.to_string(),
    };
    DiskItem {
        disk_id: disk_id(i),
        disk_name: s.name.clone(),
        description: s.description.clone(),
        r#type: "system",
        iops: if essd { essd_iops(&performance_level, size) } else { 0 },
        category,
        size,
        performance_level,
        status: "In_use",
        instance_id: i.id.clone(),
        device: SYSTEM_DEVICE,
        image_id: i.image_id.clone(),
        region_id: i.meta.region_id.clone(),
        zone_id: v.zone_id.clone(),
        creation_time: i.meta.creation_time.clone(),
        attached_time: i.meta.creation_time.clone(),
        disk_charge_type: POST_PAID,
        delete_with_instance: true,
        delete_auto_snapshot: true,
        enable_auto_snapshot: false,
        encrypted: false,
        portable: false,
        bursting_enabled: false,
        multi_attach: "Disabled",
        resource_group_id: i.meta.resource_group_id.clone(),
        attachments: Attachments {
            attachment: vec![Attachment {
                instance_id: i.id.clone(),
                device: SYSTEM_DEVICE,
                attached_time: i.meta.creation_time.clone(),
            }],
        },
        tags: tag::EcsTags::of(&i.meta.tags),
    }
}

/// The IOPS the cloud gives an ESSD of `size` GiB at `level`.
fn essd_iops(level: &str, size: u32) -> u32 {
    let (base, per_gib, max) = match level {
        "PL0" => (1800, 12, 10_000),
        "PL2" => (1800, 50, 100_000),
        "PL3" => (1800, 50, 1_000_000),
        _ => (1800, 50, 50_000),
    };
    (base + per_gib * size).min(max)
}

impl DescribeDisks {
    fn matches(&self, i: &Instance, v: &model::VSwitch) -> bool {
        let category = if i.system_disk.category.is_empty() { DEFAULT_DISK_CATEGORY } else { &i.system_disk.category };
        given(&self.instance_id).is_none_or(|x| i.id == x)
            && (self.disk_ids.is_empty() || self.disk_ids.contains(&disk_id(i)))
            && given(&self.disk_name).is_none_or(|x| i.system_disk.name == x)
            && given(&self.disk_type).is_none_or(|x| x == "system" || x == "all")
            && given(&self.category).is_none_or(|x| x == category || x == "all")
            && given(&self.status).is_none_or(|x| x == "In_use" || x == "All")
            && given(&self.zone_id).is_none_or(|x| v.zone_id == x)
            && given(&self.disk_charge_type).is_none_or(|x| x == POST_PAID)
            && self.portable != Some(true)
            && self.delete_with_instance != Some(false)
            && self.encrypted != Some(true)
            && tag::matches(&i.meta.tags, &self.tag)
    }
}

impl Action for DescribeDisks {
    const NAME: &'static str = "DescribeDisks";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the caller's instances' system disks (read-only), filtered by instance, ids, tags...";
    type Response = DescribeDisksResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeDisksResponse, ApiError> {
        d.require_region()?;
        if self.disk_ids.len() > 100 {
            return Err(ApiError::invalid("DiskIds", "at most 100 disk ids"));
        }
        one_of("DiskType", given(&self.disk_type), &["all", "system", "data"], &["all", "system", "data"])?;
        let items: Vec<(String, DiskItem)> = located(d, None, None, None)
            .into_iter()
            .filter(|(i, v)| self.matches(i, v))
            .map(|(i, v)| (disk_id(i), disk_item(i, v)))
            .collect();
        let paging = Paging {
            page_number: self.page_number,
            page_size: self.page_size,
            max_results: self.max_results,
            next_token: self.next_token,
        };
        let (disk, page, next_token) = paging.page(items, 100, 500)?;
        Ok(DescribeDisksResponse { disks: Disks { disk }, next_token, page })
    }
}

// ---------------------------------------- ModifyNetworkInterfaceAttribute

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
/// router appliance used as a route next hop, RT-3) and security groups.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyNetworkInterfaceAttribute {
    network_interface_id: String,
    source_dest_check: Option<bool>,
    /// Replaces the ENI's groups (SecurityGroupId.N).
    #[serde(default)]
    security_group_id: Vec<String>,
    /// The primary ENI is always released with its instance: `false` is
    /// refused.
    delete_on_release: Option<bool>,
    /// IPv6 is not forwarded by this router: `true` is refused.
    #[serde(rename = "EnablePrimaryIPv6")]
    enable_primary_ipv6: Option<bool>,
    #[serde(rename = "ConnectionTrackingConfiguration")]
    _connection_tracking_configuration: Option<Unsupported>,
    #[serde(rename = "Description")]
    _description: Option<Unsupported>,
    #[serde(rename = "EnhancedNetwork")]
    _enhanced_network: Option<Unsupported>,
    #[serde(rename = "NetworkInterfaceName")]
    _network_interface_name: Option<Unsupported>,
    #[serde(rename = "NetworkInterfaceTrafficConfig")]
    _network_interface_traffic_config: Option<Unsupported>,
    #[serde(rename = "QueueNumber")]
    _queue_number: Option<Unsupported>,
    #[serde(rename = "RxQueueSize")]
    _rx_queue_size: Option<Unsupported>,
    #[serde(rename = "TxQueueSize")]
    _tx_queue_size: Option<Unsupported>,
}

impl Action for ModifyNetworkInterfaceAttribute {
    const NAME: &'static str = "ModifyNetworkInterfaceAttribute";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Turns an ENI's source/destination check on or off (RT-3), replaces its security groups.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        d.require_region()?;
        if self.delete_on_release == Some(false) {
            return Err(ApiError::unsupported("DeleteOnRelease"));
        }
        refuse_true("EnablePrimaryIPv6", self.enable_primary_ipv6)?;
        let i = instance_by_eni(d, required("NetworkInterfaceId", &self.network_interface_id)?)?;
        check_groups(d, &self.security_group_id)?;
        if let Some(check) = self.source_dest_check {
            d.model.instances[i].source_dest_check = check;
        }
        if !self.security_group_id.is_empty() {
            d.model.instances[i].security_group_ids = self.security_group_id;
        }
        Ok(Empty {})
    }
}

// -------------------------------------------- DescribeNetworkInterfaces

/// DescribeNetworkInterfaces: the primary ENI of each of the caller's
/// instances, filtered; paged by PageNumber/PageSize or MaxResults/NextToken.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNetworkInterfaces {
    /// ENI ids (NetworkInterfaceId.N).
    #[serde(default)]
    network_interface_id: Vec<String>,
    instance_id: Option<String>,
    vpc_id: Option<String>,
    v_switch_id: Option<String>,
    security_group_id: Option<String>,
    primary_ip_address: Option<String>,
    /// Addresses (PrivateIpAddress.N): an ENI with any of them.
    #[serde(default)]
    private_ip_address: Vec<String>,
    /// Primary finds every ENI, Secondary none.
    r#type: Option<String>,
    /// InUse finds every ENI (each is attached to its instance).
    status: Option<String>,
    /// ENIs have no names here: a name finds nothing.
    network_interface_name: Option<String>,
    /// No ENI is managed by a service here: true finds none.
    service_managed: Option<bool>,
    /// The instance's tags (the primary ENI has its instance's tags).
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    page_number: Option<u32>,
    /// At most 100 (default 10).
    page_size: Option<u32>,
    /// 1..=500 (default 10), paging by token.
    max_results: Option<u32>,
    next_token: Option<String>,
    #[serde(rename = "Ipv6Address")]
    _ipv6_address: Option<Unsupported>,
}

/// The instance an ENI is attached to.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EniAttachment {
    instance_id: String,
    device_index: u32,
}

/// The public address an ENI is reached by (empty fields if none).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociatedPublicIp {
    public_ip_address: String,
    allocation_id: String,
}

/// One ENI in DescribeNetworkInterfaces.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EniItem {
    network_interface_id: String,
    network_interface_name: String,
    instance_id: String,
    vpc_id: String,
    v_switch_id: String,
    zone_id: String,
    private_ip_address: String,
    mac_address: String,
    r#type: &'static str,
    status: &'static str,
    source_dest_check: bool,
    creation_time: String,
    owner_id: String,
    description: String,
    resource_group_id: String,
    delete_on_release: bool,
    service_managed: bool,
    associated_public_ip: AssociatedPublicIp,
    attachment: EniAttachment,
    private_ip_sets: PrivateIpSets,
    security_group_ids: SecurityGroupIds,
    tags: tag::EcsTags,
}

/// `{"NetworkInterfaceSet": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInterfaceSets {
    network_interface_set: Vec<EniItem>,
}

/// DescribeNetworkInterfaces' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNetworkInterfacesResponse {
    network_interface_sets: NetworkInterfaceSets,
    next_token: String,
    #[serde(flatten)]
    page: Paged,
}

fn eni_item(d: &Draft, i: &Instance, v: &model::VSwitch) -> EniItem {
    let eip = eip_of(d, i);
    let associated_public_ip = match i.public_ip_address {
        Some(a) => AssociatedPublicIp { public_ip_address: a.to_string(), allocation_id: String::new() },
        None => AssociatedPublicIp { public_ip_address: eip.ip_address, allocation_id: eip.allocation_id },
    };
    EniItem {
        network_interface_id: i.eni_id(),
        network_interface_name: String::new(),
        instance_id: i.id.clone(),
        vpc_id: v.vpc_id.clone(),
        v_switch_id: v.id.clone(),
        zone_id: v.zone_id.clone(),
        private_ip_address: address(i),
        mac_address: mac(i),
        r#type: "Primary",
        status: "InUse",
        source_dest_check: i.source_dest_check,
        creation_time: i.meta.creation_time.clone(),
        owner_id: i.meta.owner_id.clone(),
        description: String::new(),
        resource_group_id: i.meta.resource_group_id.clone(),
        delete_on_release: true,
        service_managed: false,
        associated_public_ip,
        attachment: EniAttachment { instance_id: i.id.clone(), device_index: 0 },
        private_ip_sets: PrivateIpSets::of(i),
        security_group_ids: SecurityGroupIds { security_group_id: i.security_group_ids.clone() },
        tags: tag::EcsTags::of(&i.meta.tags),
    }
}

impl DescribeNetworkInterfaces {
    fn matches(&self, i: &Instance) -> bool {
        (self.network_interface_id.is_empty() || self.network_interface_id.contains(&i.eni_id()))
            && (self.private_ip_address.is_empty() || self.private_ip_address.contains(&address(i)))
            && given(&self.instance_id).is_none_or(|x| i.id == x)
            && given(&self.primary_ip_address).is_none_or(|x| address(i) == x)
            && given(&self.r#type).is_none_or(|x| x == "Primary")
            && given(&self.status).is_none_or(|x| x == "InUse")
            && given(&self.network_interface_name).is_none()
            && self.service_managed != Some(true)
            && tag::matches(&i.meta.tags, &self.tag)
    }
}

impl Action for DescribeNetworkInterfaces {
    const NAME: &'static str = "DescribeNetworkInterfaces";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the primary ENIs of the caller's instances, filtered by ids, instance, VPC, vSwitch, address...";
    type Response = DescribeNetworkInterfacesResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeNetworkInterfacesResponse, ApiError> {
        d.require_region()?;
        let items: Vec<(String, EniItem)> =
            located(d, given(&self.vpc_id), given(&self.v_switch_id), given(&self.security_group_id))
                .into_iter()
                .filter(|(i, _)| self.matches(i))
                .map(|(i, v)| (i.eni_id(), eni_item(d, i, v)))
                .collect();
        let paging = Paging {
            page_number: self.page_number,
            page_size: self.page_size,
            max_results: self.max_results,
            next_token: self.next_token,
        };
        let (network_interface_set, page, next_token) = paging.page(items, 100, 500)?;
        Ok(DescribeNetworkInterfacesResponse { network_interface_sets: NetworkInterfaceSets { network_interface_set }, next_token, page })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::service::tests::Scratch;

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");

    fn ids(v: &Value) -> Vec<String> {
        v["InstanceIdSets"]["InstanceIdSet"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
    }

    fn listed(v: &Value) -> Vec<String> {
        v["Instances"]["Instance"].as_array().unwrap().iter().map(|i| i["InstanceId"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn vpc_2_run_instances_allocates_fixed_addresses() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let r = s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("Amount", "3"), ("InstanceName", "web"), ("UniqueSuffix", "True")]);
        let ids = ids(&r);
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
        let id = ids(&r)[0].clone();
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
        assert!(!super::name_matches("ab*ba", "aba"));
    }

    #[test]
    fn run_instances_records_what_describe_answers() {
        let mut s = Scratch::new();
        let (_, vsw) = s.vpc_with_vswitch();
        let r = s.ok(
            "RunInstances",
            &[R, ("VSwitchId", &vsw), ("ZoneId", "cn-hangzhou-a"), ("ImageId", "ubuntu_22"), ("InstanceType", "ecs.g7.large"),
              ("InstanceName", "web"), ("HostName", "web-1"), ("Description", "front"), ("Tag.1.Key", "env"),
              ("Tag.1.Value", "lab"), ("InternetChargeType", "PayByBandwidth"), ("InternetMaxBandwidthIn", "50"),
              ("IoOptimized", "optimized"), ("SpotStrategy", "NoSpot"), ("InstanceChargeType", "PostPaid"),
              ("Period", "1"), ("PeriodUnit", "Month"), ("AutoRenew", "false"), ("AutoPay", "true"),
              ("SystemDisk.Category", "cloud_efficiency"), ("SystemDisk.Size", "60"), ("UserData", "ZWNobyBoaQ==")],
        );
        let id = ids(&r)[0].clone();
        let d = s.ok("DescribeInstances", &[R, ("InstanceIds", &format!("[\"{id}\"]"))]);
        let i = &d["Instances"]["Instance"][0];
        assert_eq!(i["InstanceChargeType"], "PostPaid");
        assert_eq!(i["Tags"], json!({"Tag": [{"TagKey": "env", "TagValue": "lab"}]}));
        assert_eq!((i["HostName"].as_str(), i["Description"].as_str()), (Some("web-1"), Some("front")));
        assert_eq!((i["ImageId"].as_str(), i["InstanceType"].as_str()), (Some("ubuntu_22"), Some("ecs.g7.large")));
        assert_eq!((i["InternetChargeType"].as_str(), i["InternetMaxBandwidthIn"].as_u64()), (Some("PayByBandwidth"), Some(50)));
        assert_eq!(i["IoOptimized"], true);
        let u = s.ok("DescribeUserData", &[R, ("InstanceId", &id)]);
        assert_eq!((u["UserData"].as_str(), u["InstanceId"].as_str()), (Some("ZWNobyBoaQ=="), Some(id.as_str())));
        let disks = s.ok("DescribeDisks", &[R, ("InstanceId", &id)]);
        let disk = &disks["Disks"]["Disk"][0];
        assert_eq!((disk["Category"].as_str(), disk["Size"].as_u64(), disk["Type"].as_str()), (Some("cloud_efficiency"), Some(60), Some("system")));
        assert_eq!(disk["Tags"]["Tag"][0]["TagKey"], "env");
    }

    #[test]
    fn run_instances_refuses_what_it_cannot_honour() {
        let mut s = Scratch::new();
        let (_, vsw) = s.vpc_with_vswitch();
        let v = vsw.as_str();
        for (name, value) in [
            ("DataDisk.1.Size", "100"),
            ("Ipv6AddressCount", "1"),
            ("KeyPairName", "k"),
            ("Password", "Secret123!"),
            ("SystemDisk.KMSKeyId", "k"),
            ("SystemDisk.Encrypted", "true"),
            ("IoOptimized", "none"),
            ("SpotStrategy", "SpotAsPriceGo"),
            ("DeletionProtection", "true"),
        ] {
            let e = s.err("RunInstances", &[R, ("VSwitchId", v), (name, value)]);
            assert_eq!(e.code, "UnsupportedParameter", "{name}: {e:?}");
        }
        let e = s.err("RunInstances", &[R, ("VSwitchId", v), ("InstanceChargeType", "PrePaid"), ("Period", "1")]);
        assert_eq!(e.code, "InvalidInstanceChargeType.ValueNotSupported");
        for (name, value) in [("Period", "10"), ("PeriodUnit", "Year"), ("InstanceChargeType", "Free"), ("SystemDisk.Size", "4")] {
            assert_eq!(s.err("RunInstances", &[R, ("VSwitchId", v), (name, value)]).code, "InvalidParameter", "{name}");
        }
        let e = s.err("RunInstances", &[R, ("VSwitchId", v), ("UserData", "not base64!")]);
        assert_eq!(e.code, "InvalidUserData.Base64FormatInvalid");
        assert!(s.service.model().instances.is_empty());
    }

    #[test]
    fn host_names_are_per_instance_and_numbered() {
        let mut s = Scratch::new();
        let (_, vsw) = s.vpc_with_vswitch();
        let r = s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("Amount", "2"), ("HostNames.1", "a1"), ("HostNames.2", "b2")]);
        let hosts: Vec<Option<String>> = s.service.model().instances.iter().map(|i| i.host_name.clone()).collect();
        assert_eq!(hosts, [Some("a1".to_string()), Some("b2".to_string())]);
        assert_eq!(ids(&r).len(), 2);
        s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("Amount", "2"), ("HostName", "db"), ("UniqueSuffix", "true")]);
        assert_eq!(s.service.model().instances[3].host_name.as_deref(), Some("db002"));
        let e = s.err("RunInstances", &[R, ("VSwitchId", &vsw), ("Amount", "2"), ("HostNames.1", "a1")]);
        assert_eq!(e.code, "InvalidParameter");
        let e = s.err("RunInstances", &[R, ("VSwitchId", &vsw), ("HostName", "-bad")]);
        assert_eq!(e.code, "InvalidHostName.Malformed");
    }

    #[test]
    fn hardening_run_instances_honours_min_amount() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        // A /29: 8 addresses, the first and the last three reserved: 4 free.
        let small = s.ok("CreateVSwitch", &[R, ("VpcId", &vpc), ("ZoneId", "cn-hangzhou-a"), ("CidrBlock", "10.0.9.0/29")])["VSwitchId"]
            .as_str()
            .unwrap()
            .to_string();
        let run = |s: &mut Scratch, p: &[(&str, &str)]| {
            let mut all = vec![R, ("VSwitchId", small.as_str())];
            all.extend_from_slice(p);
            s.call("RunInstances", &all)
        };
        // Without MinAmount: all of Amount or none.
        let e = run(&mut s, &[("Amount", "6")]).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "QuotaExceeded.PrivateIpAddress"), "{e:?}");
        // More than can be made at the least: none.
        let e = run(&mut s, &[("Amount", "6"), ("MinAmount", "5")]).unwrap_err();
        assert_eq!(e.code, "QuotaExceeded.PrivateIpAddress", "{e:?}");
        assert!(e.message.contains("4 of MinAmount 5"), "{e:?}");
        assert!(s.service.model().instances.is_empty());
        // Between MinAmount and Amount: as many as can be.
        let made = ids(&run(&mut s, &[("Amount", "6"), ("MinAmount", "3"), ("InstanceName", "web"), ("UniqueSuffix", "true")]).unwrap());
        assert_eq!(made.len(), 4, "{made:?}");
        assert_eq!(s.service.model().instances.len(), 4);
        assert!(s.service.model().instances.iter().all(|i| i.private_ip_address.is_some()));
        let e = run(&mut s, &[("Amount", "2"), ("MinAmount", "1")]).unwrap_err();
        assert_eq!(e.code, "QuotaExceeded.PrivateIpAddress");
        assert_eq!(s.service.model().instances.len(), 4);
    }

    #[test]
    fn describe_instances_filters() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let sg = s.ok("CreateSecurityGroup", &[R, ("VpcId", &vpc)])["SecurityGroupId"].as_str().unwrap().to_string();
        let a = ids(&s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("InstanceName", "ia"), ("Tag.1.Key", "role"), ("Tag.1.Value", "web")]))[0].clone();
        let b = ids(&s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("InstanceName", "ib"), ("SecurityGroupId", &sg), ("ImageId", "img")]))[0].clone();
        let find = |s: &mut Scratch, p: &[(&str, &str)]| {
            let mut all = vec![R];
            all.extend_from_slice(p);
            listed(&s.ok("DescribeInstances", &all))
        };
        assert_eq!(find(&mut s, &[("Tag.1.Key", "role"), ("Tag.1.Value", "web")]), [a.as_str()]);
        assert_eq!(find(&mut s, &[("Tag.1.Key", "role"), ("Tag.1.Value", "db")]), Vec::<String>::new());
        assert_eq!(find(&mut s, &[("SecurityGroupId", &sg)]), [b.as_str()]);
        assert_eq!(find(&mut s, &[("ImageId", "img")]), [b.as_str()]);
        assert_eq!(find(&mut s, &[("PrivateIpAddresses", "[\"10.0.1.1\"]")]), [a.as_str()]);
        assert_eq!(find(&mut s, &[("VSwitchId", &vsw), ("ZoneId", "cn-hangzhou-a"), ("Status", "Running")]).len(), 2);
        assert_eq!(find(&mut s, &[("Status", "Stopped")]).len(), 0);
        assert_eq!(find(&mut s, &[("InstanceChargeType", "PostPaid")]).len(), 2);
        assert_eq!(find(&mut s, &[("InstanceChargeType", "PrePaid")]).len(), 0);
        assert_eq!(find(&mut s, &[("InstanceName", "ib")]), [b.as_str()]);
        let e = s.err("DescribeInstances", &[R, ("Ipv6Address.1", "2001:db8::1")]);
        assert_eq!(e.code, "UnsupportedParameter");
        let e = s.err("DescribeInstances", &[R, ("NeedSaleCycle", "true")]);
        assert_eq!(e.code, "UnsupportedParameter");
    }

    #[test]
    fn paging_by_token_survives_changes_between_calls() {
        let mut s = Scratch::new();
        let (_, vsw) = s.vpc_with_vswitch();
        let mut all = ids(&s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("Amount", "5")]));
        all.sort();
        let first = s.ok("DescribeInstances", &[R, ("MaxResults", "2")]);
        assert_eq!(listed(&first), all[..2]);
        assert_eq!(first["TotalCount"], 5);
        let token = first["NextToken"].as_str().unwrap().to_string();
        assert!(!token.is_empty());
        // The last one returned and one not yet returned go; a new one comes.
        s.ok("DeleteInstance", &[("InstanceId", &all[1])]);
        s.ok("DeleteInstance", &[("InstanceId", &all[2])]);
        let added = ids(&s.ok("RunInstances", &[R, ("VSwitchId", &vsw)]))[0].clone();
        let mut rest: Vec<String> = vec![all[3].clone(), all[4].clone()];
        if added > all[1] {
            rest.push(added);
            rest.sort();
        }
        let mut got = Vec::new();
        let mut token = token;
        while !token.is_empty() {
            let page = s.ok("DescribeInstances", &[R, ("MaxResults", "2"), ("NextToken", &token)]);
            got.extend(listed(&page));
            token = page["NextToken"].as_str().unwrap().to_string();
        }
        assert_eq!(got, rest);
        for bad in ["garbage", "0000000069", &format!("{}x", &first["NextToken"].as_str().unwrap()[1..])] {
            let e = s.err("DescribeInstances", &[R, ("MaxResults", "2"), ("NextToken", bad)]);
            assert_eq!(e.code, "InvalidNextToken", "{bad}");
        }
        let e = s.err("DescribeInstances", &[R, ("MaxResults", "2"), ("PageNumber", "1")]);
        assert_eq!(e.code, "InvalidParameter");
    }

    #[test]
    fn page_sizes_default_to_ten() {
        let mut s = Scratch::new();
        let (_, vsw) = s.vpc_with_vswitch();
        s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("Amount", "12")]);
        let d = s.ok("DescribeInstances", &[R]);
        assert_eq!((listed(&d).len(), d["PageSize"].as_u64(), d["TotalCount"].as_u64()), (10, Some(10), Some(12)));
        let d = s.ok("DescribeInstances", &[R, ("PageNumber", "2")]);
        assert_eq!(listed(&d).len(), 2);
        let d = s.ok("DescribeNetworkInterfaces", &[R, ("MaxResults", "10")]);
        assert_eq!(d["NetworkInterfaceSets"]["NetworkInterfaceSet"].as_array().unwrap().len(), 10);
        assert!(!d["NextToken"].as_str().unwrap().is_empty());
        let d = s.ok("DescribeDisks", &[R]);
        assert_eq!((d["Disks"]["Disk"].as_array().unwrap().len(), d["TotalCount"].as_u64()), (10, Some(12)));
        assert_eq!(s.err("DescribeInstances", &[R, ("PageSize", "101")]).code, "InvalidParameter");
    }

    #[test]
    fn modify_instance_attribute_changes_what_it_can() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let sg = s.ok("CreateSecurityGroup", &[R, ("VpcId", &vpc)])["SecurityGroupId"].as_str().unwrap().to_string();
        let id = ids(&s.ok("RunInstances", &[R, ("VSwitchId", &vsw)]))[0].clone();
        s.ok(
            "ModifyInstanceAttribute",
            &[("InstanceId", &id), ("InstanceName", "renamed"), ("Description", "dd"), ("HostName", "h1"),
              ("UserData", "aGk="), ("Password", ""), ("SecurityGroupIds.1", &sg)],
        );
        let i = &s.service.model().instances[0];
        assert_eq!((i.name.as_deref(), i.host_name.as_deref(), i.user_data.as_str()), (Some("renamed"), Some("h1"), "aGk="));
        assert_eq!((i.meta.description.as_str(), i.security_group_ids.clone()), ("dd", vec![sg]));
        assert_eq!(s.ok("DescribeUserData", &[R, ("InstanceId", &id)])["UserData"], "aGk=");
        let e = s.err("ModifyInstanceAttribute", &[("InstanceId", &id), ("Password", "Secret123!")]);
        assert_eq!(e.code, "UnsupportedParameter");
        let e = s.err("ModifyInstanceAttribute", &[("InstanceId", &id), ("CpuOptions.Core", "2")]);
        assert_eq!(e.code, "UnsupportedParameter");
        let e = s.err("ModifyInstanceAttribute", &[("InstanceId", "i-nope"), ("InstanceName", "xx")]);
        assert_eq!(e.code, "InvalidInstanceId.NotFound");
        assert_eq!(s.service.model().instances[0].name.as_deref(), Some("renamed"));
    }

    #[test]
    fn charge_type_is_post_paid_only() {
        let mut s = Scratch::new();
        let (_, vsw) = s.vpc_with_vswitch();
        let id = ids(&s.ok("RunInstances", &[R, ("VSwitchId", &vsw)]))[0].clone();
        let list = format!("[\"{id}\"]");
        let r = s.ok(
            "ModifyInstanceChargeType",
            &[R, ("InstanceIds", &list), ("InstanceChargeType", "PostPaid"), ("AutoPay", "true"), ("IsDetailFee", "true")],
        );
        assert_eq!(r["FeeOfInstances"]["FeeOfInstance"][0]["InstanceId"], id.as_str());
        let e = s.err("ModifyInstanceChargeType", &[R, ("InstanceIds", &list), ("InstanceChargeType", "PrePaid"), ("Period", "1")]);
        assert_eq!(e.code, "InvalidInstanceChargeType.ValueNotSupported");
        let e = s.err("ModifyInstanceChargeType", &[R, ("InstanceIds", &list)]);
        assert_eq!(e.code, "InvalidInstanceChargeType.ValueNotSupported", "the cloud's default is PrePaid");
        let e = s.err("ModifyInstanceChargeType", &[R, ("InstanceIds", "[\"i-nope\"]"), ("InstanceChargeType", "PostPaid")]);
        assert_eq!(e.code, "InvalidInstanceId.NotFound");
    }

    #[test]
    fn user_data_is_empty_unless_given() {
        let mut s = Scratch::new();
        let (_, vsw) = s.vpc_with_vswitch();
        let id = ids(&s.ok("RunInstances", &[R, ("VSwitchId", &vsw)]))[0].clone();
        let u = s.ok("DescribeUserData", &[R, ("InstanceId", &id)]);
        assert_eq!((u["UserData"].as_str(), u["RegionId"].as_str()), (Some(""), Some("cn-hangzhou")));
        assert_eq!(s.err("DescribeUserData", &[R, ("InstanceId", "i-nope")]).code, "InvalidInstanceId.NotFound");
        assert!(super::check_user_data(&"A".repeat(44_000)).is_err());
        assert!(super::check_user_data("aGk=").is_ok());
    }

    #[test]
    fn describe_disks_describes_the_system_disk() {
        let mut s = Scratch::new();
        let (_, vsw) = s.vpc_with_vswitch();
        let id = ids(&s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("ImageId", "img")]))[0].clone();
        s.ok("RunInstances", &[R, ("VSwitchId", &vsw)]);
        let d = s.ok("DescribeDisks", &[R, ("InstanceId", &id)]);
        assert_eq!(d["TotalCount"], 1);
        let disk = &d["Disks"]["Disk"][0];
        assert_eq!((disk["Category"].as_str(), disk["Size"].as_u64()), (Some("cloud_essd"), Some(40)));
        assert_eq!((disk["PerformanceLevel"].as_str(), disk["Status"].as_str()), (Some("PL1"), Some("In_use")));
        assert_eq!((disk["InstanceId"].as_str(), disk["ImageId"].as_str()), (Some(id.as_str()), Some("img")));
        assert_eq!(disk["Attachments"]["Attachment"][0]["Device"], "/dev/xvda");
        let disk_id = disk["DiskId"].as_str().unwrap().to_string();
        let by_id = s.ok("DescribeDisks", &[R, ("DiskIds", &format!("[\"{disk_id}\"]"))]);
        assert_eq!(by_id["Disks"]["Disk"][0]["InstanceId"], id.as_str());
        assert_eq!(s.ok("DescribeDisks", &[R, ("DiskType", "data")])["TotalCount"], 0);
        assert_eq!(s.ok("DescribeDisks", &[R])["TotalCount"], 2);
        assert_eq!(s.err("DescribeDisks", &[R, ("SnapshotId", "s-1")]).code, "UnsupportedParameter");
    }

    #[test]
    fn describe_network_interfaces_answers_tags_and_filters() {
        let mut s = Scratch::new();
        let (_, vsw) = s.vpc_with_vswitch();
        let id = ids(&s.ok("RunInstances", &[R, ("VSwitchId", &vsw), ("Tag.1.Key", "k"), ("Tag.1.Value", "v")]))[0].clone();
        s.ok("RunInstances", &[R, ("VSwitchId", &vsw)]);
        let d = s.ok("DescribeNetworkInterfaces", &[R, ("Tag.1.Key", "k")]);
        let set = &d["NetworkInterfaceSets"]["NetworkInterfaceSet"];
        assert_eq!(set.as_array().unwrap().len(), 1);
        assert_eq!(set[0]["InstanceId"], id.as_str());
        assert_eq!(set[0]["Tags"], json!({"Tag": [{"TagKey": "k", "TagValue": "v"}]}));
        let d = s.ok("DescribeNetworkInterfaces", &[R, ("PrivateIpAddress.1", "10.0.1.2")]);
        assert_eq!(d["TotalCount"], 1);
        let eni = set[0]["NetworkInterfaceId"].as_str().unwrap().to_string();
        let e = s.err("ModifyNetworkInterfaceAttribute", &[R, ("NetworkInterfaceId", &eni), ("QueueNumber", "2")]);
        assert_eq!(e.code, "UnsupportedParameter");
        let e = s.err("ModifyNetworkInterfaceAttribute", &[R, ("NetworkInterfaceId", &eni), ("DeleteOnRelease", "false")]);
        assert_eq!(e.code, "UnsupportedParameter");
    }

    #[test]
    fn tokens_round_trip_and_refuse_garbage() {
        let t = super::encode_token("i-abc");
        assert_eq!(super::decode_token(&t).unwrap(), "i-abc");
        assert_eq!(super::decode_token("zz").unwrap_err().code, "InvalidNextToken");
    }
}
