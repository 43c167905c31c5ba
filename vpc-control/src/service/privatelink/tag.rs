//! Tags of the PrivateLink API's resources (TAG-1..3): TagResources,
//! UntagResources, ListTagResources with ResourceType `vpcendpoint` or
//! `vpcendpointservice`. The limits are the cloud's
//! ([`crate::service::tag`]); tags are regional and go with their resource.
use serde::{Deserialize, Serialize};

use super::{endpoint_not_found, illegal, page, service_not_found};
use crate::{
    api::{ApiError, Product},
    model::Meta,
    service::{
        Action, Draft, Empty,
        tag::{TagParam, from_params, matches, merge},
    },
};

/// Most resources one call tags.
const MAX_RESOURCES: usize = 50;

/// A ResourceType of the PrivateLink API, as answers spell it.
fn resource_type(v: &str) -> Result<&'static str, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "vpcendpoint" => Ok("vpcendpoint"),
        "vpcendpointservice" => Ok("vpcendpointservice"),
        "" => Err(ApiError::missing("ResourceType")),
        other => Err(illegal(
            "ResourceType",
            format!("{other:?} is not vpcendpoint or vpcendpointservice"),
        )),
    }
}

/// Every resource of `kind` the caller has, in the call's region: (id, meta).
fn resources<'a>(d: &'a Draft, kind: &str) -> Vec<(&'a str, &'a Meta)> {
    let m = &d.model;
    let all: Vec<(&str, &Meta)> = match kind {
        "vpcendpoint" => m
            .vpc_endpoints
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
        _ => m
            .endpoint_services
            .iter()
            .map(|x| (x.id.as_str(), &x.meta))
            .collect(),
    };
    all.into_iter()
        .filter(|(_, meta)| d.in_view(meta))
        .collect()
}

/// The metadata of the caller's resource `id` of `kind`, in the call's
/// region (TAG-3), to change.
fn meta_mut<'a>(d: &'a mut Draft, kind: &str, id: &str) -> Result<&'a mut Meta, ApiError> {
    let caller = d.caller;
    let region = d.region().to_string();
    let m = &mut d.model;
    let meta = match kind {
        "vpcendpoint" => m
            .vpc_endpoints
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
        _ => m
            .endpoint_services
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.meta),
    };
    meta.filter(|m| caller.owns(&m.owner_id) && m.region_id == region)
        .ok_or_else(|| match kind {
            "vpcendpoint" => endpoint_not_found(id),
            _ => service_not_found(id),
        })
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
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    resource_id: Vec<String>,
    #[serde(default)]
    tag: Vec<TagParam>,
}

impl Action for TagResources {
    const NAME: &'static str = "TagResources";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str = "Adds tags to endpoints or endpoint services (a key given again takes the new value; at most 20 tags, TAG-1..2).";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
        let kind = resource_type(&self.resource_type)?;
        check_ids(&self.resource_id)?;
        if self.tag.is_empty() {
            return Err(ApiError::missing("Tag"));
        }
        let tags = from_params(&self.tag)?;
        for id in &self.resource_id {
            merge(&mut meta_mut(d, kind, id)?.tags, &tags)?;
        }
        Ok(Empty {})
    }
}

/// UntagResources.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResources {
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    resource_id: Vec<String>,
    #[serde(default)]
    tag_key: Vec<String>,
    all: Option<bool>,
}

impl Action for UntagResources {
    const NAME: &'static str = "UntagResources";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = true;
    const SUMMARY: &'static str =
        "Removes tags (by key, or All) from endpoints or endpoint services.";
    type Response = Empty;

    fn run(self, d: &mut Draft) -> Result<Empty, ApiError> {
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
        Ok(Empty {})
    }
}

/// ListTagResources.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagResources {
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    resource_id: Vec<String>,
    #[serde(default)]
    tag: Vec<TagParam>,
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
}

/// ListTagResources' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagResourcesResponse {
    tag_resources: Vec<TagResource>,
    next_token: String,
}

impl Action for ListTagResources {
    const NAME: &'static str = "ListTagResources";
    const PRODUCT: Product = Product::PrivateLink;
    const MUTATES: bool = false;
    const SUMMARY: &'static str = "Lists the tags of endpoints or endpoint services, by resource id and tag; paged by NextToken (50 a page).";
    type Response = ListTagResourcesResponse;

    fn run(self, d: &mut Draft) -> Result<Self::Response, ApiError> {
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
                    },
                ));
            }
        }
        let (tag_resources, next_token, _) = page("pltag", items, None, &self.next_token)?;
        Ok(ListTagResourcesResponse {
            tag_resources,
            next_token,
        })
    }
}
