//! Paging of lists. Two schemes, as the cloud has them:
//!
//! * PageNumber / PageSize ([`paginate`]): the older actions.
//! * MaxResults / NextToken ([`page_after`]): a token names the last key
//!   a page returned (hex of `kind:key`, opaque to callers), the next page
//!   continues after that key, so pages stay right when entries come and
//!   go between calls. A token that does not name a key of the list is
//!   refused with the error of the call site (`InvalidNextToken`,
//!   `IllegalParam.NextToken`...), passed in as `bad`.
//!
//! DescribeRouteEntryList (route_table.rs) and ListTagResources
//! (tagging.rs) keep offset tokens (the row number to start at): their
//! answers list rows in the model's order (a table's system rows then its
//! custom ones; resources in creation order, each with its tags), not in
//! the order of a key, so "after the last key" would reorder them.
use std::{fmt::Display, ops::RangeInclusive, str::FromStr};

use serde::Serialize;

use crate::api::ApiError;

/// The paging fields of a list's answer.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PageInfo {
    /// Entries in the whole list.
    pub total_count: usize,
    /// This page's number, from 1.
    pub page_number: u32,
    /// Entries per page.
    pub page_size: u32,
}

/// Page `number` (from 1, default 1) of `items`, `size` per page (default
/// 10, at most `max`), as the cloud pages its lists.
pub fn paginate<T>(items: Vec<T>, number: Option<u32>, size: Option<u32>, max: u32) -> Result<(Vec<T>, PageInfo), ApiError> {
    let number = number.unwrap_or(1);
    if number == 0 {
        return Err(ApiError::invalid("PageNumber", "0 is outside 1..=4294967295"));
    }
    let size = size.unwrap_or(10);
    if !(1..=max).contains(&size) {
        return Err(ApiError::invalid("PageSize", format!("{size} is outside 1..={max}")));
    }
    let total_count = items.len();
    let start = (number as usize - 1).saturating_mul(size as usize);
    let out = items.into_iter().skip(start).take(size as usize).collect();
    Ok((out, PageInfo { total_count, page_number: number, page_size: size }))
}

/// MaxResults within `range`, or `default` when not given
/// (`InvalidParameter` otherwise).
pub(crate) fn max_results(v: Option<u32>, range: RangeInclusive<u32>, default: u32) -> Result<usize, ApiError> {
    match v {
        None => Ok(default as usize),
        Some(n) if range.contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::invalid("MaxResults", format!("{n} is outside {}..={}", range.start(), range.end()))),
    }
}

/// The NextToken of list `kind` continuing after key `last`.
pub(crate) fn encode_token(kind: &str, last: &impl Display) -> String {
    hex::encode(format!("{kind}:{last}"))
}

/// The key a NextToken of list `kind` continues after; any other token is
/// the call site's error `bad`.
pub(crate) fn decode_token<K: FromStr>(kind: &str, token: &str, bad: impl Fn() -> ApiError) -> Result<K, ApiError> {
    let text = hex::decode(token).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(&bad)?;
    text.strip_prefix(kind).and_then(|r| r.strip_prefix(':')).and_then(|k| k.parse().ok()).ok_or_else(bad)
}

/// One page of `items` (key, entry), already in token order (ascending
/// keys, or descending when `descending`): those after key `after`, at
/// most `max`, and the NextToken of the next page (empty on the last).
pub(crate) fn page_after<K: Ord + Display, T>(
    kind: &str,
    items: Vec<(K, T)>,
    after: Option<&K>,
    max: usize,
    descending: bool,
) -> (Vec<T>, String) {
    let mut rest: Vec<(K, T)> =
        items.into_iter().filter(|(k, _)| after.is_none_or(|a| if descending { k < a } else { k > a })).collect();
    let more = rest.len() > max;
    rest.truncate(max);
    let next = match rest.last() {
        Some((last, _)) if more => encode_token(kind, last),
        _ => String::new(),
    };
    (rest.into_iter().map(|(_, t)| t).collect(), next)
}
