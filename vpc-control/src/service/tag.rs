//! Tags on resources (TAG rules of the cloud): `Tag.N.Key` / `Tag.N.Value`
//! at creation and in filters, the limits the cloud checks, and the shapes
//! the answers carry them in.
use serde::{Deserialize, Serialize};

use crate::{api::ApiError, model::Tag};

/// Most tags on one resource.
pub const MAX_TAGS: usize = 20;
/// Longest key or value.
pub const MAX_LEN: usize = 128;

/// One `Tag.N` of a request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagParam {
    /// Tag.N.Key.
    pub key: Option<String>,
    /// Tag.N.Value.
    pub value: Option<String>,
}

/// A tag as the VPC API's answers carry it (`Tags.Tag[{Key, Value}]`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagOut {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// `{"Tag": [...]}`, the wrapper the answers put tags in.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tags {
    /// The tags.
    #[serde(rename = "Tag")]
    pub tag: Vec<TagOut>,
}

impl Tags {
    /// A resource's tags for an answer.
    pub fn of(tags: &[Tag]) -> Self {
        Self { tag: tags.iter().map(|t| TagOut { key: t.key.clone(), value: t.value.clone() }).collect() }
    }
}

/// A tag as the ECS API's answers (and DescribeNatGateways) carry it
/// (`{TagKey, TagValue}`; the VPC API spells them `Key`, `Value`: [`TagOut`]).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsTag {
    /// TagKey.
    pub tag_key: String,
    /// TagValue.
    pub tag_value: String,
}

/// `{"Tag": [{TagKey, TagValue}]}`, the ECS spelling of [`Tags`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct EcsTags {
    /// The tags.
    #[serde(rename = "Tag")]
    pub tag: Vec<EcsTag>,
}

impl EcsTags {
    /// A resource's tags for an ECS-style answer.
    pub fn of(tags: &[Tag]) -> Self {
        Self { tag: tags.iter().map(|t| EcsTag { tag_key: t.key.clone(), tag_value: t.value.clone() }).collect() }
    }
}

/// Checks one key as the cloud does.
pub fn check_key(key: &str) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::bad("InvalidTagKey.Malformed", format!("The tag key {key:?} is not valid: {why}."));
    if key.is_empty() || key.chars().count() > MAX_LEN {
        return Err(bad("a key has 1 to 128 characters"));
    }
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("aliyun") || lower.starts_with("acs:") {
        return Err(bad("a key cannot start with aliyun or acs:"));
    }
    if lower.contains("http://") || lower.contains("https://") {
        return Err(bad("a key cannot contain http:// or https://"));
    }
    Ok(())
}

/// Checks one value as the cloud does.
pub fn check_value(value: &str) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::bad("InvalidTagValue.Malformed", format!("The tag value {value:?} is not valid: {why}."));
    if value.chars().count() > MAX_LEN {
        return Err(bad("a value has at most 128 characters"));
    }
    let lower = value.to_ascii_lowercase();
    if lower.contains("http://") || lower.contains("https://") {
        return Err(bad("a value cannot contain http:// or https://"));
    }
    Ok(())
}

/// The tags given at creation (`Tag.N`), checked: keys given, unique, at
/// most 20, within the cloud's limits.
pub fn from_params(params: &[TagParam]) -> Result<Vec<Tag>, ApiError> {
    let mut out: Vec<Tag> = Vec::new();
    for (n, p) in params.iter().enumerate() {
        let key = p.key.as_deref().ok_or_else(|| ApiError::missing(&format!("Tag.{}.Key", n + 1)))?;
        let value = p.value.as_deref().unwrap_or_default();
        check_key(key)?;
        check_value(value)?;
        if out.iter().any(|t| t.key == key) {
            return Err(ApiError::bad("Duplicate.TagKey", format!("The tag key {key:?} is given more than once.")));
        }
        out.push(Tag { key: key.to_string(), value: value.to_string() });
    }
    if out.len() > MAX_TAGS {
        return Err(ApiError::bad("QuotaExceeded.TagNum", format!("{} tags given; a resource has at most {MAX_TAGS}.", out.len())));
    }
    Ok(out)
}

/// Adds (or overwrites the values of) `new` on `tags`, within the limit.
pub fn merge(tags: &mut Vec<Tag>, new: &[Tag]) -> Result<(), ApiError> {
    let mut next = tags.clone();
    for t in new {
        match next.iter_mut().find(|x| x.key == t.key) {
            Some(x) => x.value = t.value.clone(),
            None => next.push(t.clone()),
        }
    }
    if next.len() > MAX_TAGS {
        return Err(ApiError::bad("QuotaExceeded.TagNum", format!("A resource has at most {MAX_TAGS} tags; this would make {}.", next.len())));
    }
    *tags = next;
    Ok(())
}

/// True if `tags` has every filter tag: a filter with a value matches that
/// key and value, one without a value matches the key alone.
pub fn matches(tags: &[Tag], filter: &[TagParam]) -> bool {
    filter.iter().all(|f| {
        tags.iter().any(|t| {
            f.key.as_deref().is_none_or(|k| k == t.key) && f.value.as_deref().is_none_or(|v| v == t.value)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> TagParam {
        TagParam { key: Some(k.into()), value: Some(v.into()) }
    }

    #[test]
    fn tag_limits_are_the_clouds() {
        assert_eq!(from_params(&[p("env", "lab"), p("team", "")]).unwrap().len(), 2);
        let twenty_one: Vec<TagParam> = (0..21).map(|i| p(&format!("k{i}"), "v")).collect();
        assert_eq!(from_params(&twenty_one).unwrap_err().code, "QuotaExceeded.TagNum");
        assert_eq!(from_params(&[p("a", "1"), p("a", "2")]).unwrap_err().code, "Duplicate.TagKey");
        for key in ["", "aliyun-x", "acs:x", "http://x", "https://x", &"k".repeat(129)] {
            assert_eq!(from_params(&[p(key, "v")]).unwrap_err().code, "InvalidTagKey.Malformed", "{key}");
        }
        for value in ["http://x", &"v".repeat(129)] {
            assert_eq!(from_params(&[p("k", value)]).unwrap_err().code, "InvalidTagValue.Malformed", "{value}");
        }
        assert_eq!(from_params(&[TagParam { key: None, value: Some("v".into()) }]).unwrap_err().code, "MissingParameter");
    }

    #[test]
    fn filters_match_key_and_value() {
        let tags = from_params(&[p("env", "lab"), p("team", "net")]).unwrap();
        assert!(matches(&tags, &[p("env", "lab")]));
        assert!(matches(&tags, &[TagParam { key: Some("team".into()), value: None }]));
        assert!(!matches(&tags, &[p("env", "prod")]));
        assert!(!matches(&tags, &[p("env", "lab"), p("owner", "x")]));
    }
}
