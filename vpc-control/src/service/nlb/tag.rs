//! Tags of the NLB API's resources: TagResources, UntagResources,
//! ListTagResources (ResourceType loadbalancer, servergroup, listener).
//! The tag rules (keys, values, at most 20) are the cloud's
//! ([`crate::service::tag`]), re-exported here for the other NLB modules.
use serde::{Deserialize, Serialize};

use super::{illegal, not_found, page};
pub use crate::service::tag::{TagParam, from_params, matches};
use crate::{
    api::{ApiError, Product},
    model::Meta,
    service::{Action, Draft, tag::merge},
};

/// Most resources one call tags.
const MAX_RESOURCES: usize = 50;

/// The ResourceType values of the NLB API (security policies, for TCPSSL,
/// do not exist here).
fn resource_type(v: &str) -> Result<&'static str, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "loadbalancer" => Ok("loadbalancer"),
        "servergroup" => Ok("servergroup"),
        "listener" => Ok("listener"),
        "securitypolicy" => Err(ApiError::unsupported("ResourceType")),
        "" => Err(ApiError::missing("ResourceType")),
        other => Err(illegal(
            "ResourceType",
            format!("{other:?} is not loadbalancer, servergroup or listener"),
        )),
    }
}

/// The metadata of every resource of `kind` the caller sees: (id, meta).
fn resources<'a>(d: &'a Draft, kind: &str) -> Vec<(&'a str, &'a Meta)> {
    let m = &d.model;
    let all: Vec<(&str, &Meta)> = match kind {
        "loadbalancer" => m
            .load_balancers
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
        "servergroup" => m
            .server_groups
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
        _ => m
            .listeners
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
    };
    all.into_iter()
        .filter(|(_, meta)| d.caller.owns(&meta.owner_id))
        .collect()
}

/// The metadata of the resource `id` of `kind`, to change.
fn meta_mut<'a>(d: &'a mut Draft, kind: &str, id: &str) -> Result<&'a mut Meta, ApiError> {
    let caller = d.caller;
    let m = &mut d.model;
    let meta = match kind {
        "loadbalancer" => m
            .load_balancers
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
        "servergroup" => m
            .server_groups
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
        _ => m
            .listeners
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
    };
    let what = match kind {
        "loadbalancer" => "loadBalancer",
        "servergroup" => "serverGroup",
        _ => "listener",
    };
    meta.filter(|m| caller.owns(&m.owner_id))
        .ok_or_else(|| not_found(what, id))
}

fn check_ids(ids: &[String]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Err(ApiError::missing("ResourceId"));
    }
    if ids.len() > MAX_RESOURCES {
        return Err(illegal(
            "ResourceId",
            format!("at most {MAX_RESOURCES} resources per call"),
        ));
    }
    Ok(())
}

/// TagResources.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResources {
    resource_type: String,
    #[serde(default)]
    resource_id: Vec<String>,
    #[serde(default)]
    tag: Vec<TagParam>,
}

impl Action for TagResources {
    const NAME: &'static str = "TagResources";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Adds tags to load balancers, server groups or listeners (a key given again takes the new value; at most 20 tags).";
    type Response = super::super::Empty;

    fn run(self, d: &mut Draft) -> Result<super::super::Empty, ApiError> {
        let kind = resource_type(&self.resource_type)?;
        check_ids(&self.resource_id)?;
        if self.tag.is_empty() {
            return Err(ApiError::missing("Tag"));
        }
        let tags = from_params(&self.tag)?;
        for id in &self.resource_id {
            merge(&mut meta_mut(d, kind, id)?.tags, &tags)?;
        }
        Ok(super::super::Empty {})
    }
}

/// UntagResources.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResources {
    resource_type: String,
    #[serde(default)]
    resource_id: Vec<String>,
    #[serde(default)]
    tag_key: Vec<String>,
    /// Remove every tag.
    all: Option<bool>,
}

impl Action for UntagResources {
    const NAME: &'static str = "UntagResources";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Removes tags (by key, or All) from load balancers, server groups or listeners.";
    type Response = super::super::Empty;

    fn run(self, d: &mut Draft) -> Result<super::super::Empty, ApiError> {
        let kind = resource_type(&self.resource_type)?;
        check_ids(&self.resource_id)?;
        let all = self.all.unwrap_or(false);
        if !all && self.tag_key.is_empty() {
            return Err(ApiError::missing("TagKey"));
        }
        for id in &self.resource_id {
            let meta = meta_mut(d, kind, id)?;
            if all {
                meta.tags.clear();
            } else {
                meta.tags.retain(|t| !self.tag_key.contains(&t.key));
            }
        }
        Ok(super::super::Empty {})
    }
}

/// ListTagResources.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagResources {
    resource_type: String,
    #[serde(default)]
    resource_id: Vec<String>,
    #[serde(default)]
    tag: Vec<TagParam>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// One (resource, tag) of ListTagResources.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResource {
    resource_id: String,
    resource_type: &'static str,
    tag_key: String,
    tag_value: String,
    category: &'static str,
    scope: &'static str,
    region_no: String,
    ali_uid: serde_json::Value,
}

/// ListTagResources' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagResourcesResponse {
    tag_resources: Vec<TagResource>,
    max_results: u32,
    next_token: String,
    total_count: usize,
}

impl Action for ListTagResources {
    const NAME: &'static str = "ListTagResources";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the tags of load balancers, server groups or listeners, by resource id and tag; paged by MaxResults and NextToken.";
    type Response = ListTagResourcesResponse;

    fn run(self, d: &mut Draft) -> Result<ListTagResourcesResponse, ApiError> {
        let kind = resource_type(&self.resource_type)?;
        if self.resource_id.is_empty() && self.tag.is_empty() {
            return Err(ApiError::missing("ResourceId"));
        }
        let mut items = Vec::new();
        for (id, meta) in resources(d, kind) {
            if !self.resource_id.is_empty() && !self.resource_id.iter().any(|x| x == id) {
                continue;
            }
            if !matches(&meta.tags, &self.tag) {
                continue;
            }
            for (n, t) in meta.tags.iter().enumerate() {
                items.push((
                    format!("{id}/{n:02}"),
                    TagResource {
                        resource_id: id.to_string(),
                        resource_type: kind,
                        tag_key: t.key.clone(),
                        tag_value: t.value.clone(),
                        category: "Custom",
                        scope: "Public",
                        region_no: meta.region_id.clone(),
                        ali_uid: meta
                            .owner_id
                            .parse::<u64>()
                            .map(serde_json::Value::from)
                            .unwrap_or(serde_json::Value::from(0)),
                    },
                ));
            }
        }
        let (tag_resources, next_token, total_count) =
            page("nlbtag", items, self.max_results, &self.next_token)?;
        Ok(ListTagResourcesResponse {
            tag_resources,
            max_results: self.max_results.unwrap_or(20),
            next_token,
            total_count,
        })
    }
}
