//! Tags added to and removed from existing resources, and listed by
//! resource or by tag: TagResources, UnTagResources, ListTagResources of
//! the VPC API and TagResources, UntagResources, ListTagResources of the
//! ECS API (TAG-1..TAG-3). Tags live in each resource's `meta.tags`; they
//! are regional: a resource of another region than the call's is not found.
use serde::{Deserialize, Serialize};

use super::{Action, Draft, Empty, tag};
use crate::{
    api::{ApiError, Product, form::Unsupported},
    model::{Meta, Model, Tag},
};

/// Most resources in one call.
const MAX_RESOURCES: usize = 50;
/// Most entries in one page of ListTagResources (and its default).
const MAX_RESULTS: u32 = 50;

/// The resource types of the VPC API's tag actions (the SDK's list), as the
/// answers spell them; matched case-insensitively.
const VPC_TYPES: &[&str] = &[
    "VPC",
    "VSWITCH",
    "ROUTETABLE",
    "EIP",
    "VPNGATEWAY",
    "NATGATEWAY",
    "COMMONBANDWIDTHPACKAGE",
    "PREFIXLIST",
    "PUBLICIPADDRESSPOOL",
    "IPV4GATEWAY",
    "IPV6GATEWAY",
    "NETWORKACL",
    "TRAFFICMIRRORFILTER",
    "TRAFFICMIRRORSESSION",
    "FLOWLOG",
    "HAVIP",
    "DHCPOPTIONSSET",
    "GATEWAYENDPOINT",
    "IPV6ADDRESS",
];

/// The resource types of the ECS API's tag actions (the SDK's list).
const ECS_TYPES: &[&str] = &[
    "instance",
    "disk",
    "snapshot",
    "image",
    "securitygroup",
    "volume",
    "eni",
    "ddh",
    "ddhcluster",
    "keypair",
    "launchtemplate",
    "reservedinstance",
    "snapshotpolicy",
    "elasticityassurance",
    "capacityreservation",
    "command",
    "invocation",
    "activation",
    "managedinstance",
];

/// What a `ResourceType` names in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Vpc,
    VSwitch,
    RouteTable,
    Eip,
    NatGateway,
    Ipv4Gateway,
    NetworkAcl,
    PrefixList,
    GatewayEndpoint,
    Instance,
    SecurityGroup,
    /// An instance's primary ENI: it has no tags of its own here.
    Eni,
    /// A type of the cloud's that this router has no resources of.
    Absent,
}

/// A `ResourceType` of `product`, with its spelling in answers.
fn resource_type(product: Product, given: &str) -> Result<(Kind, &'static str), ApiError> {
    let types = match product {
        Product::Vpc => VPC_TYPES,
        Product::Ecs => ECS_TYPES,
        // The NLB and PrivateLink APIs tag through their own actions
        // (service/nlb/tag.rs, service/privatelink/tag.rs).
        Product::Nlb | Product::PrivateLink => &[],
        // The PrivateZone API's tags are not served.
        Product::Pvtz => &[],
    };
    let name = types
        .iter()
        .copied()
        .find(|t| t.eq_ignore_ascii_case(given))
        .ok_or_else(|| {
            ApiError::not_found(
                "InvalidResourceType.NotFound",
                format!("The ResourceType {given:?} does not exist in our records."),
            )
        })?;
    let kind = match name {
        "VPC" => Kind::Vpc,
        "VSWITCH" => Kind::VSwitch,
        "ROUTETABLE" => Kind::RouteTable,
        "EIP" => Kind::Eip,
        "NATGATEWAY" => Kind::NatGateway,
        "IPV4GATEWAY" => Kind::Ipv4Gateway,
        "NETWORKACL" => Kind::NetworkAcl,
        "PREFIXLIST" => Kind::PrefixList,
        "GATEWAYENDPOINT" => Kind::GatewayEndpoint,
        "instance" => Kind::Instance,
        "securitygroup" => Kind::SecurityGroup,
        "eni" => Kind::Eni,
        _ => Kind::Absent,
    };
    Ok((kind, name))
}

/// Every resource of `kind` with its metadata, in model order.
fn resources(m: &Model, kind: Kind) -> Vec<(&str, &Meta)> {
    match kind {
        Kind::Vpc => m.vpcs.iter().map(|x| (x.id.as_str(), &x.meta)).collect(),
        Kind::VSwitch => m
            .vswitches
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
        Kind::RouteTable => m
            .route_tables
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
        Kind::Eip => m.eips.iter().map(|x| (x.id.as_str(), &x.meta)).collect(),
        Kind::NatGateway => m
            .nat_gateways
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
        Kind::Ipv4Gateway => m
            .ipv4_gateways
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
        Kind::NetworkAcl => m
            .network_acls
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
        Kind::Instance => m
            .instances
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
        Kind::SecurityGroup => m
            .security_groups
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
        Kind::PrefixList => m
            .prefix_lists
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
        Kind::GatewayEndpoint => m
            .gateway_endpoints
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
        Kind::Eni | Kind::Absent => Vec::new(),
    }
}

/// The metadata of the resource `id` of `kind`, to change.
fn meta_mut<'m>(m: &'m mut Model, kind: Kind, id: &str) -> Option<&'m mut Meta> {
    match kind {
        Kind::Vpc => m.vpcs.iter_mut().find(|x| x.id == id).map(|x| &mut x.meta),
        Kind::VSwitch => m
            .vswitches
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
        Kind::RouteTable => m
            .route_tables
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
        Kind::Eip => m.eips.iter_mut().find(|x| x.id == id).map(|x| &mut x.meta),
        Kind::NatGateway => m
            .nat_gateways
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
        Kind::Ipv4Gateway => m
            .ipv4_gateways
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
        Kind::NetworkAcl => m
            .network_acls
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
        Kind::Instance => m
            .instances
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
        Kind::SecurityGroup => m
            .security_groups
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
        Kind::PrefixList => m
            .prefix_lists
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
        Kind::GatewayEndpoint => m
            .gateway_endpoints
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
        Kind::Eni | Kind::Absent => None,
    }
}

/// True if the caller may see a resource with this metadata in `region`
/// (tags are regional, TAG-3).
fn visible(d: &Draft, meta: &Meta, region: &str) -> bool {
    d.caller.owns(&meta.owner_id) && meta.region_id == region
}

/// Checks the ids of a call: given, at most 50, each a resource of `kind`
/// the caller sees in `region`. The primary ENI of such an instance
/// exists but cannot be tagged here.
fn check_ids(d: &Draft, kind: Kind, ids: &[String], region: &str) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Err(ApiError::missing("ResourceId.1"));
    }
    if ids.len() > MAX_RESOURCES {
        return Err(ApiError::bad(
            "NumberExceed.ResourceIds",
            format!("{} ResourceId given; at most {MAX_RESOURCES}.", ids.len()),
        ));
    }
    let known = resources(&d.model, kind);
    for id in ids {
        if kind == Kind::Eni && is_visible_eni(d, id, region) {
            return Err(ApiError::new(
                403,
                "InvalidResourceId.NotSupported",
                format!(
                    "The ENI {id} does not support tagging: this router's ENIs are their instances' (tag the instance)."
                ),
            ));
        }
        if !known
            .iter()
            .any(|(k, meta)| k == id && visible(d, meta, region))
        {
            return Err(ApiError::not_found(
                "InvalidResourceId.NotFound",
                format!("The specified ResourceIds are not found in our records: {id}."),
            ));
        }
    }
    Ok(())
}

/// True if `id` is the primary ENI of an instance the caller sees.
fn is_visible_eni(d: &Draft, id: &str, region: &str) -> bool {
    d.model
        .instances
        .iter()
        .any(|i| i.eni_id() == id && visible(d, &i.meta, region))
}

/// Adds `tags` (overwriting the values of keys already there) to the
/// resources `ids` of `given_type`: TagResources of either product.
fn tag_resources(
    d: &mut Draft,
    product: Product,
    given_type: &str,
    ids: &[String],
    tags: &[tag::TagParam],
) -> Result<(), ApiError> {
    let region = d.require_region()?.to_string();
    let (kind, _) = resource_type(product, given_type)?;
    if tags.is_empty() {
        return Err(ApiError::missing("Tag.1.Key"));
    }
    if tags.len() > tag::MAX_TAGS {
        return Err(ApiError::bad(
            "NumberExceed.Tags",
            format!("{} tags given; at most {}.", tags.len(), tag::MAX_TAGS),
        ));
    }
    let tags = tag::from_params(tags)?;
    check_ids(d, kind, ids, &region)?;
    for id in ids {
        let meta = meta_mut(&mut d.model, kind, id)
            .ok_or_else(|| ApiError::internal(format!("{id} vanished")))?;
        tag::merge(&mut meta.tags, &tags)?;
    }
    Ok(())
}

/// Removes the tags `keys` (every tag with `all` and no keys) from the
/// resources `ids` of `given_type`: UnTagResources / UntagResources.
fn untag_resources(
    d: &mut Draft,
    product: Product,
    given_type: &str,
    ids: &[String],
    keys: &[String],
    all: bool,
) -> Result<(), ApiError> {
    let region = d.require_region()?.to_string();
    let (kind, _) = resource_type(product, given_type)?;
    if keys.len() > tag::MAX_TAGS {
        return Err(ApiError::bad(
            "NumberExceed.Tags",
            format!("{} tag keys given; at most {}.", keys.len(), tag::MAX_TAGS),
        ));
    }
    if let Some(k) = keys.iter().find(|k| k.chars().count() > tag::MAX_LEN) {
        return Err(ApiError::bad(
            "InvalidTagKey.Malformed",
            format!(
                "The tag key {k:?} is longer than {} characters.",
                tag::MAX_LEN
            ),
        ));
    }
    check_ids(d, kind, ids, &region)?;
    for id in ids {
        let meta = meta_mut(&mut d.model, kind, id)
            .ok_or_else(|| ApiError::internal(format!("{id} vanished")))?;
        if !keys.is_empty() {
            meta.tags.retain(|t| !keys.contains(&t.key));
        } else if all {
            meta.tags.clear();
        }
    }
    Ok(())
}

/// One tag of one resource in ListTagResources' answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResource {
    resource_id: String,
    resource_type: &'static str,
    tag_key: String,
    tag_value: String,
}

/// `{"TagResource": [...]}`.
#[derive(Debug, Serialize)]
pub struct TagResourceList {
    #[serde(rename = "TagResource")]
    tag_resource: Vec<TagResource>,
}

/// ListTagResources' answer (both products).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagResourcesResponse {
    /// Where the next page starts; empty on the last page.
    next_token: String,
    tag_resources: TagResourceList,
}

/// What a ListTagResources call asks for.
struct ListQuery<'a> {
    given_type: &'a str,
    ids: &'a [String],
    tags: &'a [tag::TagParam],
    next_token: Option<&'a str>,
    max_results: u32,
}

/// Every tag of the resources of the type that are among `ids` (if given)
/// and carry every filter tag (if given), one entry per tag, paged by
/// `NextToken` (the index of the page's first entry).
fn list_tag_resources(
    d: &Draft,
    product: Product,
    q: ListQuery,
) -> Result<ListTagResourcesResponse, ApiError> {
    let region = d.require_region()?;
    let (kind, type_name) = resource_type(product, q.given_type)?;
    if q.ids.is_empty() && q.tags.is_empty() {
        return Err(ApiError::bad(
            "MissingParameter",
            "Specify ResourceId.N or Tag.N (or both).",
        ));
    }
    if q.ids.len() > MAX_RESOURCES {
        return Err(ApiError::bad(
            "NumberExceed.ResourceIds",
            format!("{} ResourceId given; at most {MAX_RESOURCES}.", q.ids.len()),
        ));
    }
    if q.tags.len() > tag::MAX_TAGS {
        return Err(ApiError::bad(
            "NumberExceed.Tags",
            format!("{} tags given; at most {}.", q.tags.len(), tag::MAX_TAGS),
        ));
    }
    if let Some(n) = q
        .tags
        .iter()
        .position(|t| t.key.as_deref().is_none_or(str::is_empty))
    {
        return Err(ApiError::bad(
            "InvalidParameter.TagValue",
            format!("Tag.{}.Key is required to filter by tag.", n + 1),
        ));
    }
    if !(1..=MAX_RESULTS).contains(&q.max_results) {
        return Err(ApiError::invalid(
            "MaxResults",
            format!("{} is outside 1..={MAX_RESULTS}", q.max_results),
        ));
    }
    let entries: Vec<TagResource> = resources(&d.model, kind)
        .into_iter()
        .filter(|(id, meta)| {
            visible(d, meta, region) && (q.ids.is_empty() || q.ids.iter().any(|i| i == id))
        })
        .filter(|(_, meta)| tag::matches(&meta.tags, q.tags))
        .flat_map(|(id, meta)| meta.tags.iter().map(move |t| entry(id, type_name, t)))
        .collect();
    // An offset token, not paging::page_after's key token: the entries are
    // in the model's order, not a key's (see service/paging.rs).
    let start = match q.next_token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|&n| n <= entries.len())
            .ok_or_else(|| {
                ApiError::invalid("NextToken", format!("{t:?} is not a token this list gave"))
            })?,
    };
    let end = (start + q.max_results as usize).min(entries.len());
    let next_token = if end < entries.len() {
        end.to_string()
    } else {
        String::new()
    };
    let tag_resource = entries.into_iter().skip(start).take(end - start).collect();
    Ok(ListTagResourcesResponse {
        next_token,
        tag_resources: TagResourceList { tag_resource },
    })
}

/// One entry of ListTagResources.
fn entry(id: &str, type_name: &'static str, t: &Tag) -> TagResource {
    TagResource {
        resource_id: id.to_string(),
        resource_type: type_name,
        tag_key: t.key.clone(),
        tag_value: t.value.clone(),
    }
}

/// TagResources of the VPC API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResources {
    /// VPC, VSWITCH, ROUTETABLE, EIP, NATGATEWAY, IPV4GATEWAY, NETWORKACL
    /// (any case); the cloud's other types have no resources here.
    resource_type: String,
    /// ResourceId.N: 1 to 50 resources of the call's region.
    #[serde(default)]
    resource_id: Vec<String>,
    /// Tag.N.Key / Tag.N.Value: 1 to 20 tags, added or overwritten.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
}

impl Action for TagResources {
    const NAME: &'static str = "TagResources";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Adds tags to VPC resources, overwriting values of keys already there (TAG-1, TAG-2).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        tag_resources(
            d,
            Self::PRODUCT,
            &self.resource_type,
            &self.resource_id,
            &self.tag,
        )?;
        Ok(Empty {})
    }
}

/// UnTagResources of the VPC API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnTagResources {
    /// As TagResources' ResourceType.
    resource_type: String,
    /// ResourceId.N: 1 to 50 resources of the call's region.
    #[serde(default)]
    resource_id: Vec<String>,
    /// TagKey.N: the keys to remove (at most 20); keys not there are
    /// ignored.
    #[serde(default)]
    tag_key: Vec<String>,
    /// Remove every tag (only without TagKey.N).
    all: Option<bool>,
}

impl Action for UnTagResources {
    const NAME: &'static str = "UnTagResources";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Removes tags (by key, or all) from VPC resources.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let all = self.all.unwrap_or(false);
        untag_resources(
            d,
            Self::PRODUCT,
            &self.resource_type,
            &self.resource_id,
            &self.tag_key,
            all,
        )?;
        Ok(Empty {})
    }
}

/// ListTagResources of the VPC API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagResources {
    /// As TagResources' ResourceType.
    resource_type: String,
    /// ResourceId.N: only these resources (at most 50).
    #[serde(default)]
    resource_id: Vec<String>,
    /// Tag.N: only resources with every one of these tags (a key alone
    /// matches any value).
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// Entries per page, 1 to 50 (default 50).
    max_results: Option<u32>,
    /// The previous page's NextToken.
    next_token: Option<String>,
}

impl Action for ListTagResources {
    const NAME: &'static str = "ListTagResources";
    const PRODUCT: Product = Product::Vpc;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Lists the tags of VPC resources, by resource id and/or tag; paged by NextToken.";
    type Response = ListTagResourcesResponse;

    fn run(self, d: &mut Draft) -> Result<ListTagResourcesResponse, ApiError> {
        let q = ListQuery {
            given_type: &self.resource_type,
            ids: &self.resource_id,
            tags: &self.tag,
            next_token: self.next_token.as_deref(),
            max_results: self.max_results.unwrap_or(MAX_RESULTS),
        };
        list_tag_resources(d, Self::PRODUCT, q)
    }
}

/// TagResources of the ECS API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsTagResources {
    /// instance, securitygroup (eni: the primary ENI of an instance cannot
    /// be tagged apart from it); the cloud's other types have no resources
    /// here.
    resource_type: String,
    /// ResourceId.N: 1 to 50 resources of the call's region.
    #[serde(default)]
    resource_id: Vec<String>,
    /// Tag.N.Key / Tag.N.Value: 1 to 20 tags, added or overwritten.
    #[serde(default)]
    tag: Vec<tag::TagParam>,
}

impl Action for EcsTagResources {
    const NAME: &'static str = "TagResources";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Adds tags to instances or security groups, overwriting values of keys already there.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        tag_resources(
            d,
            Self::PRODUCT,
            &self.resource_type,
            &self.resource_id,
            &self.tag,
        )?;
        Ok(Empty {})
    }
}

/// UntagResources of the ECS API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResources {
    /// As EcsTagResources' ResourceType.
    resource_type: String,
    /// ResourceId.N: 1 to 50 resources of the call's region.
    #[serde(default)]
    resource_id: Vec<String>,
    /// TagKey.N: the keys to remove (at most 20).
    #[serde(default)]
    tag_key: Vec<String>,
    /// Remove every tag (only without TagKey.N).
    all: Option<bool>,
}

impl Action for UntagResources {
    const NAME: &'static str = "UntagResources";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Removes tags (by key, or all) from instances or security groups.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let all = self.all.unwrap_or(false);
        untag_resources(
            d,
            Self::PRODUCT,
            &self.resource_type,
            &self.resource_id,
            &self.tag_key,
            all,
        )?;
        Ok(Empty {})
    }
}

/// ListTagResources of the ECS API (50 entries a page).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsListTagResources {
    /// As EcsTagResources' ResourceType.
    resource_type: String,
    /// ResourceId.N: only these resources (at most 50).
    #[serde(default)]
    resource_id: Vec<String>,
    /// Tag.N: only resources with every one of these tags (a key alone
    /// matches any value).
    #[serde(default)]
    tag: Vec<tag::TagParam>,
    /// The previous page's NextToken.
    next_token: Option<String>,
    /// Fuzzy tag search (the cloud's invitational preview) is not here.
    #[serde(rename = "TagFilter")]
    _tag_filter: Option<Unsupported>,
}

impl Action for EcsListTagResources {
    const NAME: &'static str = "ListTagResources";
    const PRODUCT: Product = Product::Ecs;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Lists the tags of instances or security groups, by id and/or tag; paged by NextToken.";
    type Response = ListTagResourcesResponse;

    fn run(self, d: &mut Draft) -> Result<ListTagResourcesResponse, ApiError> {
        let q = ListQuery {
            given_type: &self.resource_type,
            ids: &self.resource_id,
            tags: &self.tag,
            next_token: self.next_token.as_deref(),
            max_results: MAX_RESULTS,
        };
        list_tag_resources(d, Self::PRODUCT, q)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::{
        api::{ApiError, Caller, Product, form::Form},
        service::tests::Scratch,
    };

    /// Calls `action` of `product` as the scratch service's usual caller.
    fn call(
        s: &mut Scratch,
        product: Product,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, ApiError> {
        call_as(s, "1000000000000001", product, action, params)
    }

    fn call_as(
        s: &mut Scratch,
        account: &str,
        product: Product,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, ApiError> {
        let f =
            Form::from_pairs(params.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
        let caller = Caller {
            account_id: account.into(),
            admin: false,
        };
        s.service.call(Some(product.version()), action, &f, &caller)
    }

    fn vpc_ok(s: &mut Scratch, action: &str, params: &[(&str, &str)]) -> Value {
        call(s, Product::Vpc, action, params).unwrap_or_else(|e| panic!("{action}: {e:?}"))
    }

    fn vpc_err(s: &mut Scratch, action: &str, params: &[(&str, &str)]) -> ApiError {
        call(s, Product::Vpc, action, params).expect_err(action)
    }

    fn tags_of_vpc(s: &Scratch, id: &str) -> Vec<(String, String)> {
        s.service
            .model()
            .vpc(id)
            .unwrap()
            .meta
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }

    const R: (&str, &str) = ("RegionId", "cn-hangzhou");

    #[test]
    fn tag_1_tags_are_added_overwritten_listed_and_removed() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        vpc_ok(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "vpc"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "lab"),
                ("Tag.2.Key", "team"),
                ("Tag.2.Value", "net"),
            ],
        );
        vpc_ok(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "prod"),
            ],
        );
        assert_eq!(
            tags_of_vpc(&s, &vpc),
            [("env".into(), "prod".into()), ("team".into(), "net".into())]
        );
        let l = vpc_ok(
            &mut s,
            "ListTagResources",
            &[R, ("ResourceType", "VPC"), ("ResourceId.1", &vpc)],
        );
        assert_eq!(
            l["TagResources"]["TagResource"],
            json!([
                {"ResourceId": vpc, "ResourceType": "VPC", "TagKey": "env", "TagValue": "prod"},
                {"ResourceId": vpc, "ResourceType": "VPC", "TagKey": "team", "TagValue": "net"},
            ])
        );
        assert_eq!(l["NextToken"], "");
        // The vSwitch is found by its tag, the VPC is not (its type differs).
        vpc_ok(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "VSWITCH"),
                ("ResourceId.1", &vsw),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "prod"),
            ],
        );
        let l = vpc_ok(
            &mut s,
            "ListTagResources",
            &[R, ("ResourceType", "VSWITCH"), ("Tag.1.Key", "env")],
        );
        assert_eq!(
            l["TagResources"]["TagResource"],
            json!([
                {"ResourceId": vsw, "ResourceType": "VSWITCH", "TagKey": "env", "TagValue": "prod"},
            ])
        );
        vpc_ok(
            &mut s,
            "UnTagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("TagKey.1", "env"),
            ],
        );
        assert_eq!(tags_of_vpc(&s, &vpc), [("team".into(), "net".into())]);
        // Neither keys nor All: nothing removed.
        vpc_ok(
            &mut s,
            "UnTagResources",
            &[R, ("ResourceType", "VPC"), ("ResourceId.1", &vpc)],
        );
        assert_eq!(tags_of_vpc(&s, &vpc).len(), 1);
        vpc_ok(
            &mut s,
            "UnTagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("All", "true"),
            ],
        );
        assert!(tags_of_vpc(&s, &vpc).is_empty());
    }

    #[test]
    fn tag_1_at_most_20_tags_per_resource_with_unique_keys() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let keys: Vec<(String, String)> = (1..=20)
            .map(|i| (format!("Tag.{i}.Key"), format!("k{i}")))
            .collect();
        let mut p: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        p.extend([R, ("ResourceType", "VPC"), ("ResourceId.1", vpc.as_str())]);
        vpc_ok(&mut s, "TagResources", &p);
        assert_eq!(tags_of_vpc(&s, &vpc).len(), 20);
        // Overwriting keeps 20; a 21st key is refused and changes nothing.
        vpc_ok(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "k3"),
                ("Tag.1.Value", "x"),
            ],
        );
        let e = vpc_err(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "k21"),
            ],
        );
        assert_eq!(e.code, "QuotaExceeded.TagNum");
        assert_eq!(tags_of_vpc(&s, &vpc).len(), 20);
        let e = vpc_err(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "a"),
                ("Tag.2.Key", "a"),
            ],
        );
        assert_eq!(e.code, "Duplicate.TagKey");
    }

    #[test]
    fn tag_2_keys_and_values_within_the_clouds_limits() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let long = "k".repeat(129);
        for key in ["aliyun-x", "acs:x", "http://x", "a-https://x", &long] {
            let e = vpc_err(
                &mut s,
                "TagResources",
                &[
                    R,
                    ("ResourceType", "VPC"),
                    ("ResourceId.1", &vpc),
                    ("Tag.1.Key", key),
                ],
            );
            assert_eq!(e.code, "InvalidTagKey.Malformed", "{key}");
        }
        let e = vpc_err(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "k"),
                ("Tag.1.Value", "see https://x"),
            ],
        );
        assert_eq!(e.code, "InvalidTagValue.Malformed");
        assert!(tags_of_vpc(&s, &vpc).is_empty());
    }

    #[test]
    fn tag_3_tags_are_regional() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        let other = [
            ("RegionId", "cn-shanghai"),
            ("ResourceType", "VPC"),
            ("ResourceId.1", vpc.as_str()),
            ("Tag.1.Key", "env"),
        ];
        // This router changes only its own region's resources.
        let e = vpc_err(&mut s, "TagResources", &other);
        assert_eq!(
            (e.status, e.code.as_str()),
            (404, "InvalidRegionId.NotFound")
        );
        vpc_ok(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "env"),
            ],
        );
        let l = vpc_ok(
            &mut s,
            "ListTagResources",
            &[
                ("RegionId", "cn-shanghai"),
                ("ResourceType", "VPC"),
                ("Tag.1.Key", "env"),
            ],
        );
        assert_eq!(l["TagResources"]["TagResource"], json!([]));
        let e = vpc_err(
            &mut s,
            "TagResources",
            &[
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "env"),
            ],
        );
        assert_eq!(e.code, "MissingParameter");
    }

    #[test]
    fn unknown_ids_types_and_other_accounts_resources_are_not_found() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let e = vpc_err(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("ResourceId.2", "vpc-nope"),
                ("Tag.1.Key", "env"),
            ],
        );
        assert_eq!(
            (e.status, e.code.as_str()),
            (404, "InvalidResourceId.NotFound")
        );
        assert!(tags_of_vpc(&s, &vpc).is_empty());
        // A vSwitch id under the VPC type is not a VPC.
        let e = vpc_err(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vsw),
                ("Tag.1.Key", "env"),
            ],
        );
        assert_eq!(e.code, "InvalidResourceId.NotFound");
        let e = vpc_err(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "UNIVERSE"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "env"),
            ],
        );
        assert_eq!(
            (e.status, e.code.as_str()),
            (404, "InvalidResourceType.NotFound")
        );
        // A type of the cloud's that has no resources here.
        let e = vpc_err(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "VPNGATEWAY"),
                ("ResourceId.1", "vpn-1"),
                ("Tag.1.Key", "env"),
            ],
        );
        assert_eq!(e.code, "InvalidResourceId.NotFound");
        let e = call_as(
            &mut s,
            "1000000000000002",
            Product::Vpc,
            "TagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "env"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidResourceId.NotFound");
        let e = vpc_err(
            &mut s,
            "TagResources",
            &[R, ("ResourceType", "VPC"), ("ResourceId.1", &vpc)],
        );
        assert_eq!(e.code, "MissingParameter");
        let fifty_one: Vec<(String, String)> = (1..=51)
            .map(|i| (format!("ResourceId.{i}"), vpc.clone()))
            .collect();
        let mut p: Vec<(&str, &str)> = fifty_one
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        p.extend([R, ("ResourceType", "VPC"), ("Tag.1.Key", "env")]);
        assert_eq!(
            vpc_err(&mut s, "TagResources", &p).code,
            "NumberExceed.ResourceIds"
        );
        // ECS types are not the VPC API's.
        let e = vpc_err(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "instance"),
                ("ResourceId.1", "i-1"),
                ("Tag.1.Key", "env"),
            ],
        );
        assert_eq!(e.code, "InvalidResourceType.NotFound");
    }

    #[test]
    fn list_tag_resources_pages_by_next_token() {
        let mut s = Scratch::new();
        let (vpc, _) = s.vpc_with_vswitch();
        vpc_ok(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "a"),
                ("Tag.2.Key", "b"),
                ("Tag.3.Key", "c"),
            ],
        );
        let base = [
            R,
            ("ResourceType", "VPC"),
            ("ResourceId.1", vpc.as_str()),
            ("MaxResults", "2"),
        ];
        let l = vpc_ok(&mut s, "ListTagResources", &base);
        assert_eq!(
            l["TagResources"]["TagResource"].as_array().unwrap().len(),
            2
        );
        let token = l["NextToken"].as_str().unwrap().to_string();
        assert!(!token.is_empty());
        let mut next = base.to_vec();
        next.push(("NextToken", &token));
        let l = vpc_ok(&mut s, "ListTagResources", &next);
        assert_eq!(l["TagResources"]["TagResource"][0]["TagKey"], "c");
        assert_eq!(l["NextToken"], "");
        let mut bad = base.to_vec();
        bad.push(("NextToken", "x"));
        assert_eq!(
            vpc_err(&mut s, "ListTagResources", &bad).code,
            "InvalidParameter"
        );
        let e = vpc_err(&mut s, "ListTagResources", &[R, ("ResourceType", "VPC")]);
        assert_eq!(e.code, "MissingParameter");
        let e = vpc_err(
            &mut s,
            "ListTagResources",
            &[R, ("ResourceType", "VPC"), ("Tag.1.Value", "x")],
        );
        assert_eq!(e.code, "InvalidParameter.TagValue");
        let e = vpc_err(
            &mut s,
            "ListTagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("MaxResults", "51"),
            ],
        );
        assert_eq!(e.code, "InvalidParameter");
    }

    #[test]
    fn ecs_tags_instances_and_security_groups_under_its_own_version() {
        let mut s = Scratch::new();
        let (vpc, vsw) = s.vpc_with_vswitch();
        let i = s.ok(
            "RunInstances",
            &[
                R,
                ("VSwitchId", &vsw),
                ("ImageId", "img"),
                ("InstanceType", "t"),
            ],
        );
        let instance = i["InstanceIdSets"]["InstanceIdSet"][0]
            .as_str()
            .unwrap()
            .to_string();
        let g = s.ok("CreateSecurityGroup", &[R, ("VpcId", &vpc)]);
        let group = g["SecurityGroupId"].as_str().unwrap().to_string();
        let ecs =
            |s: &mut Scratch, action: &str, p: &[(&str, &str)]| call(s, Product::Ecs, action, p);
        ecs(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "instance"),
                ("ResourceId.1", &instance),
                ("Tag.1.Key", "role"),
                ("Tag.1.Value", "web"),
            ],
        )
        .unwrap();
        ecs(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "securitygroup"),
                ("ResourceId.1", &group),
                ("Tag.1.Key", "role"),
                ("Tag.1.Value", "web"),
            ],
        )
        .unwrap();
        let l = ecs(
            &mut s,
            "ListTagResources",
            &[
                R,
                ("ResourceType", "instance"),
                ("Tag.1.Key", "role"),
                ("Tag.1.Value", "web"),
            ],
        )
        .unwrap();
        assert_eq!(
            l["TagResources"]["TagResource"],
            json!([
                {"ResourceId": instance, "ResourceType": "instance", "TagKey": "role", "TagValue": "web"},
            ])
        );
        assert_eq!(l["NextToken"], "");
        // The VPC API's TagResources does not know ECS types, nor the ECS API VPC ones.
        let e = call(
            &mut s,
            Product::Vpc,
            "TagResources",
            &[
                R,
                ("ResourceType", "instance"),
                ("ResourceId.1", &instance),
                ("Tag.1.Key", "x"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidResourceType.NotFound");
        let e = ecs(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "x"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidResourceType.NotFound");
        // Spelt UntagResources under ECS, UnTagResources under VPC.
        assert_eq!(
            ecs(&mut s, "UnTagResources", &[]).unwrap_err().code,
            "InvalidAction.NotFound"
        );
        ecs(
            &mut s,
            "UntagResources",
            &[
                R,
                ("ResourceType", "instance"),
                ("ResourceId.1", &instance),
                ("All", "true"),
            ],
        )
        .unwrap();
        assert!(s.service.model().instances[0].meta.tags.is_empty());
        let eni = s.service.model().instances[0].eni_id();
        let e = ecs(
            &mut s,
            "TagResources",
            &[
                R,
                ("ResourceType", "eni"),
                ("ResourceId.1", &eni),
                ("Tag.1.Key", "x"),
            ],
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (403, "InvalidResourceId.NotSupported")
        );
        let e = ecs(
            &mut s,
            "ListTagResources",
            &[
                R,
                ("ResourceType", "instance"),
                ("Tag.1.Key", "x"),
                ("TagFilter.1.TagKey", "r*"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.code, "UnsupportedParameter");
    }

    #[test]
    fn without_a_version_the_shared_names_are_the_vpc_apis() {
        let mut s = Scratch::new();
        let vpc = s.ok("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")])["VpcId"]
            .as_str()
            .unwrap()
            .to_string();
        // The VPC API's TagResources (ResourceType VPC), not the ECS one.
        s.ok(
            "TagResources",
            &[
                R,
                ("ResourceType", "VPC"),
                ("ResourceId.1", &vpc),
                ("Tag.1.Key", "env"),
            ],
        );
        assert_eq!(s.service.model().vpcs[0].meta.tags[0].key, "env");
    }
}
