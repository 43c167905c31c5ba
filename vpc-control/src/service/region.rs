//! DescribeRegions and DescribeZones of the VPC API and of the ECS API: the
//! daemon's region (its default RegionId) and the zones it is configured
//! with, plus the zones vSwitches already use.
use serde::{Deserialize, Serialize};

use super::Draft;
use super::Action;
use crate::api::{ApiError, Product};

/// Names of regions of the cloud: (RegionId, Chinese, English). Other
/// regions (the lab's own) are named by their id.
const REGION_NAMES: &[(&str, &str, &str)] = &[
    ("cn-hangzhou", "华东1（杭州）", "China (Hangzhou)"),
    ("cn-shanghai", "华东2（上海）", "China (Shanghai)"),
    ("cn-qingdao", "华北1（青岛）", "China (Qingdao)"),
    ("cn-beijing", "华北2（北京）", "China (Beijing)"),
    ("cn-zhangjiakou", "华北3（张家口）", "China (Zhangjiakou)"),
    ("cn-shenzhen", "华南1（深圳）", "China (Shenzhen)"),
    ("cn-hongkong", "中国香港", "China (Hong Kong)"),
    ("ap-southeast-1", "新加坡", "Singapore"),
    ("ap-northeast-1", "日本（东京）", "Japan (Tokyo)"),
    ("us-west-1", "美国（硅谷）", "US (Silicon Valley)"),
    ("us-east-1", "美国（弗吉尼亚）", "US (Virginia)"),
    ("eu-central-1", "德国（法兰克福）", "Germany (Frankfurt)"),
    ("eu-west-1", "英国（伦敦）", "UK (London)"),
];

/// The RegionIds of the cloud: a read in one of them that is not the
/// daemon's answers an empty list; any other RegionId is not found.
pub(crate) const CLOUD_REGIONS: &[&str] = &{
    let mut ids = [""; REGION_NAMES.len()];
    let mut i = 0;
    while i < ids.len() {
        ids[i] = REGION_NAMES[i].0;
        i += 1;
    }
    ids
};

/// The languages AcceptLanguage takes (any case).
const LANGUAGES: &[&str] = &["zh-CN", "zh-TW", "en-US", "ja", "fr", "de", "ko"];

/// The language of LocalName: Chinese, or English for every other one
/// (this router has no other names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Chinese,
    English,
}

/// Reads AcceptLanguage (default zh-CN, as the cloud's).
fn language(given: Option<&str>) -> Result<Language, ApiError> {
    let Some(l) = given.filter(|l| !l.is_empty()) else { return Ok(Language::Chinese) };
    if !LANGUAGES.iter().any(|x| x.eq_ignore_ascii_case(l)) {
        return Err(ApiError::invalid("AcceptLanguage", format!("{l:?} is not one of {LANGUAGES:?}")));
    }
    Ok(if l.to_ascii_lowercase().starts_with("zh") { Language::Chinese } else { Language::English })
}

/// A region's LocalName.
fn region_name(region: &str, lang: Language) -> String {
    match REGION_NAMES.iter().find(|(id, ..)| *id == region) {
        Some((_, zh, _)) if lang == Language::Chinese => zh.to_string(),
        Some((_, _, en)) => en.to_string(),
        None => region.to_string(),
    }
}

/// A zone's LocalName: `<region name> Zone X` for `<region>-x`, else its id.
fn zone_name(region: &str, zone: &str, lang: Language) -> String {
    let letter = zone.strip_prefix(region).and_then(|s| s.strip_prefix('-')).filter(|s| s.len() == 1);
    match (letter, lang) {
        (Some(x), Language::Chinese) => format!("{} 可用区{}", region_name(region, lang), x.to_ascii_uppercase()),
        (Some(x), Language::English) => format!("{} Zone {}", region_name(region, lang), x.to_ascii_uppercase()),
        (None, _) => zone.to_string(),
    }
}

/// Checks a value of a parameter taking one of `allowed` (any case).
fn one_of(name: &str, given: Option<&str>, allowed: &[&str]) -> Result<(), ApiError> {
    match given.filter(|v| !v.is_empty()) {
        Some(v) if !allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) => {
            Err(ApiError::invalid(name, format!("{v:?} is not one of {allowed:?}")))
        }
        _ => Ok(()),
    }
}

/// One region in the VPC API's DescribeRegions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegionItem {
    region_id: String,
    local_name: String,
    /// The address this API is served at (empty when not known).
    region_endpoint: String,
}

/// `{"Region": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Regions {
    region: Vec<RegionItem>,
}

/// The VPC API's DescribeRegions answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRegionsResponse {
    regions: Regions,
}

/// DescribeRegions of the VPC API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRegions {
    /// The language of LocalName: zh-CN (default) or en-US (other
    /// languages answer English names).
    accept_language: Option<String>,
    /// VPC (the default) only: this router serves no other product's
    /// regions.
    product_type: Option<String>,
}

/// The daemon's region (the one region this router serves).
fn home_region(d: &Draft, lang: Language) -> RegionItem {
    RegionItem { region_id: d.region_id.to_string(), local_name: region_name(d.region_id, lang), region_endpoint: d.endpoint.to_string() }
}

impl Action for DescribeRegions {
    const NAME: &'static str = "DescribeRegions";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the region this router serves (its default RegionId).";
    type Response = DescribeRegionsResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeRegionsResponse, ApiError> {
        let lang = language(self.accept_language.as_deref())?;
        if self.product_type.as_deref().is_some_and(|p| !p.is_empty() && !p.eq_ignore_ascii_case("VPC")) {
            return Err(ApiError::unsupported("ProductType"));
        }
        Ok(DescribeRegionsResponse { regions: Regions { region: vec![home_region(d, lang)] } })
    }
}

/// One region in the ECS API's DescribeRegions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsRegionItem {
    #[serde(flatten)]
    region: RegionItem,
    /// `available`.
    status: &'static str,
}

/// `{"Region": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsRegions {
    region: Vec<EcsRegionItem>,
}

/// The ECS API's DescribeRegions answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsDescribeRegionsResponse {
    regions: EcsRegions,
}

/// The billing methods the cloud's InstanceChargeType takes.
const CHARGE_TYPES: &[&str] = &["PrePaid", "PostPaid", "SpotWithPriceLimit", "SpotAsPriceGo"];

/// DescribeRegions of the ECS API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsDescribeRegions {
    /// The language of LocalName: zh-CN (default) or en-US (other
    /// languages answer English names).
    accept_language: Option<String>,
    /// A billing method, validated as the cloud does; every one is offered
    /// in the region, so it filters nothing.
    instance_charge_type: Option<String>,
    /// instance (the default) only: this router has no disks, reserved
    /// instances or storage capacity units.
    resource_type: Option<String>,
}

impl Action for EcsDescribeRegions {
    const NAME: &'static str = "DescribeRegions";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the region this router serves (its default RegionId).";
    type Response = EcsDescribeRegionsResponse;

    fn run(self, d: &mut Draft) -> Result<EcsDescribeRegionsResponse, ApiError> {
        let lang = language(self.accept_language.as_deref())?;
        one_of("InstanceChargeType", self.instance_charge_type.as_deref(), CHARGE_TYPES)?;
        one_of("ResourceType", self.resource_type.as_deref(), &["instance", "disk", "reservedinstance", "scu"])?;
        if self.resource_type.as_deref().is_some_and(|r| !r.is_empty() && !r.eq_ignore_ascii_case("instance")) {
            return Err(ApiError::unsupported("ResourceType"));
        }
        let region = EcsRegionItem { region: home_region(d, lang), status: "available" };
        Ok(EcsDescribeRegionsResponse { regions: EcsRegions { region: vec![region] } })
    }
}

/// One zone in the VPC API's DescribeZones.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ZoneItem {
    zone_id: String,
    local_name: String,
    /// `AvailabilityZone`.
    zone_type: &'static str,
}

/// `{"Zone": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Zones {
    zone: Vec<ZoneItem>,
}

/// The VPC API's DescribeZones answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeZonesResponse {
    zones: Zones,
}

/// The zones of the call's region as answered.
fn zones(d: &Draft, lang: Language) -> Result<Vec<ZoneItem>, ApiError> {
    let region = d.require_region()?;
    Ok(d.zones(region)
        .into_iter()
        .map(|z| ZoneItem { local_name: zone_name(region, &z, lang), zone_id: z, zone_type: "AvailabilityZone" })
        .collect())
}

/// DescribeZones of the VPC API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeZones {
    /// The language of LocalName: zh-cn (default), en-us or ja (English
    /// names).
    accept_language: Option<String>,
    /// AvailabilityZone (the default) lists the zones; any other type
    /// (edge zones) finds none here.
    zone_type: Option<String>,
}

impl Action for DescribeZones {
    const NAME: &'static str = "DescribeZones";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the zones of the region: those the daemon is configured with and those vSwitches use.";
    type Response = DescribeZonesResponse;

    fn run(self, d: &mut Draft) -> Result<DescribeZonesResponse, ApiError> {
        let lang = language(self.accept_language.as_deref())?;
        let mut zone = zones(d, lang)?;
        if self.zone_type.as_deref().is_some_and(|t| !t.is_empty() && t != "AvailabilityZone") {
            zone.clear();
        }
        Ok(DescribeZonesResponse { zones: Zones { zone } })
    }
}

/// `{"ResourceTypes": [...]}`: what can be created in a zone.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceCreation {
    resource_types: Vec<&'static str>,
}

/// One zone in the ECS API's DescribeZones.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsZoneItem {
    #[serde(flatten)]
    zone: ZoneItem,
    /// With Verbose (the default): Instance and VSwitch.
    #[serde(skip_serializing_if = "Option::is_none")]
    available_resource_creation: Option<ResourceCreation>,
}

/// `{"Zone": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsZones {
    zone: Vec<EcsZoneItem>,
}

/// The ECS API's DescribeZones answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsDescribeZonesResponse {
    zones: EcsZones,
}

/// DescribeZones of the ECS API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsDescribeZones {
    /// The language of LocalName: zh-CN (default) or en-US (other
    /// languages answer English names).
    accept_language: Option<String>,
    /// PrePaid or PostPaid, validated as the cloud does; both are offered
    /// in every zone, so it filters nothing.
    instance_charge_type: Option<String>,
    /// NoSpot, SpotWithPriceLimit or SpotAsPriceGo, validated as the cloud
    /// does; it filters nothing (billing only).
    spot_strategy: Option<String>,
    /// With the resources that can be created (default true).
    verbose: Option<bool>,
}

impl Action for EcsDescribeZones {
    const NAME: &'static str = "DescribeZones";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the zones of the region: those the daemon is configured with and those vSwitches use.";
    type Response = EcsDescribeZonesResponse;

    fn run(self, d: &mut Draft) -> Result<EcsDescribeZonesResponse, ApiError> {
        let lang = language(self.accept_language.as_deref())?;
        one_of("InstanceChargeType", self.instance_charge_type.as_deref(), &["PrePaid", "PostPaid"])?;
        one_of("SpotStrategy", self.spot_strategy.as_deref(), &["NoSpot", "SpotWithPriceLimit", "SpotAsPriceGo"])?;
        let verbose = self.verbose.unwrap_or(true);
        let zone = zones(d, lang)?
            .into_iter()
            .map(|zone| EcsZoneItem {
                zone,
                available_resource_creation: verbose.then(|| ResourceCreation { resource_types: vec!["Instance", "VSwitch"] }),
            })
            .collect();
        Ok(EcsDescribeZonesResponse { zones: EcsZones { zone } })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::{
        api::{ApiError, Caller, Product, form::Form},
        service::tests::Scratch,
    };

    fn call(s: &mut Scratch, product: Product, action: &str, params: &[(&str, &str)]) -> Result<Value, ApiError> {
        let f = Form::from_pairs(params.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
        let caller = Caller { account_id: "1000000000000001".into(), admin: false };
        s.service.call(Some(product.version()), action, &f, &caller)
    }

    #[test]
    fn regions_are_the_daemons_in_each_products_shape() {
        let mut s = Scratch::new();
        let v = call(&mut s, Product::Vpc, "DescribeRegions", &[("AcceptLanguage", "en-US")]).unwrap();
        assert_eq!(v["Regions"]["Region"], json!([{"RegionId": "cn-hangzhou", "LocalName": "China (Hangzhou)", "RegionEndpoint": ""}]));
        s.service.set_endpoint("127.0.0.1:8080");
        let v = call(&mut s, Product::Ecs, "DescribeRegions", &[]).unwrap();
        assert_eq!(
            v["Regions"]["Region"],
            json!([{"RegionId": "cn-hangzhou", "LocalName": "华东1（杭州）", "RegionEndpoint": "127.0.0.1:8080", "Status": "available"}])
        );
        let e = call(&mut s, Product::Ecs, "DescribeRegions", &[("InstanceChargeType", "Free")]).unwrap_err();
        assert_eq!(e.code, "InvalidParameter");
        let e = call(&mut s, Product::Ecs, "DescribeRegions", &[("ResourceType", "disk")]).unwrap_err();
        assert_eq!(e.code, "UnsupportedParameter");
        let e = call(&mut s, Product::Vpc, "DescribeRegions", &[("AcceptLanguage", "xx")]).unwrap_err();
        assert_eq!(e.code, "InvalidParameter");
        let e = call(&mut s, Product::Vpc, "DescribeRegions", &[("ProductType", "CEN")]).unwrap_err();
        assert_eq!(e.code, "UnsupportedParameter");
    }

    #[test]
    fn zones_are_the_configured_ones_and_those_in_use() {
        let mut s = Scratch::new();
        let ids = |v: &Value| -> Vec<String> {
            v["Zones"]["Zone"].as_array().unwrap().iter().map(|z| z["ZoneId"].as_str().unwrap().to_string()).collect()
        };
        let r = ("RegionId", "cn-hangzhou");
        let v = call(&mut s, Product::Vpc, "DescribeZones", &[r, ("AcceptLanguage", "en-us")]).unwrap();
        assert_eq!(ids(&v), ["cn-hangzhou-a", "cn-hangzhou-b"]);
        assert_eq!(v["Zones"]["Zone"][0], json!({"ZoneId": "cn-hangzhou-a", "LocalName": "China (Hangzhou) Zone A", "ZoneType": "AvailabilityZone"}));
        s.service.set_zones(vec!["lab-a".into(), "lab-b".into()]);
        assert_eq!(s.service.zones(), ["lab-a", "lab-b"]);
        let vpc = s.ok("CreateVpc", &[r, ("CidrBlock", "10.0.0.0/16")])["VpcId"].as_str().unwrap().to_string();
        s.ok("CreateVSwitch", &[r, ("VpcId", &vpc), ("ZoneId", "lab-a"), ("CidrBlock", "10.0.1.0/24")]);
        s.service.set_zones(vec!["lab-b".into()]);
        // lab-a stays listed while a vSwitch is in it.
        assert_eq!(s.service.zones(), ["lab-b", "lab-a"]);
        let v = call(&mut s, Product::Ecs, "DescribeZones", &[r]).unwrap();
        assert_eq!(ids(&v), ["lab-b", "lab-a"]);
        assert_eq!(v["Zones"]["Zone"][0]["AvailableResourceCreation"]["ResourceTypes"], json!(["Instance", "VSwitch"]));
        assert_eq!(v["Zones"]["Zone"][0]["LocalName"], "lab-b");
        let v = call(&mut s, Product::Ecs, "DescribeZones", &[r, ("Verbose", "false")]).unwrap();
        assert!(v["Zones"]["Zone"][0].get("AvailableResourceCreation").is_none());
        // Another region has only the zones its vSwitches use.
        let v = call(&mut s, Product::Vpc, "DescribeZones", &[("RegionId", "cn-shanghai")]).unwrap();
        assert!(ids(&v).is_empty());
        let v = call(&mut s, Product::Vpc, "DescribeZones", &[r, ("ZoneType", "EdgeZone")]).unwrap();
        assert!(ids(&v).is_empty());
        assert_eq!(call(&mut s, Product::Vpc, "DescribeZones", &[]).unwrap_err().code, "MissingParameter");
        let e = call(&mut s, Product::Ecs, "DescribeZones", &[r, ("SpotStrategy", "Cheap")]).unwrap_err();
        assert_eq!(e.code, "InvalidParameter");
    }
}
