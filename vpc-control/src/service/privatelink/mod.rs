//! The PrivateLink API (2020-04-15, the official SDK
//! `alibabacloud_privatelink20200415`): endpoint services a provider makes
//! of its network load balancers ([`endpoint_service`]), interface
//! endpoints a consumer makes in its VPC ([`vpc_endpoint`]), the
//! connections between them that the provider accepts or refuses
//! ([`connection`]), and their tags ([`tag`]).
//!
//! **Settled answers.** The cloud runs these actions in the background
//! (Creating, Connecting, Disconnecting...). Here a change is applied
//! (kernel and disk) before the answer, so a caller only ever sees settled
//! states: services `Active`, endpoints `Active`, connections `Connected`,
//! `Disconnected` or `ServiceDeleted`, zones `Wait`, `Connected` or
//! `Disconnected`.
//!
//! **Accounts.** Resources belong to the account that made them
//! (`meta.owner_id`): a provider sees and changes its own services and the
//! connections of every account's endpoints to them; a consumer its own
//! endpoints, and the services whose whitelist has it (EPS-2).
pub(super) mod connection;
pub(super) mod endpoint_service;
pub(super) mod tag;
pub(super) mod vpc_endpoint;

use std::{collections::BTreeSet, net::Ipv4Addr};

use super::{Draft, ipv4_gateway::token_page, params::given};
use crate::{
    api::ApiError,
    model::{EndpointService, Model, PRIVATELINK_DOMAIN, VpcEndpoint, is_reserved},
};

/// The default and largest page of a list: the cloud's MaxResults goes to
/// 1000; pages here hold at most 100 entries (a larger MaxResults gives
/// pages of 100, each with a NextToken).
const MAX_PAGE: u32 = 100;
/// The default page size of the cloud's lists.
const DEFAULT_PAGE: u32 = 50;
/// ConnectBandwidth and Bandwidth of a connection, Mbit/s.
const BANDWIDTH: std::ops::RangeInclusive<u32> = 100..=10240;

/// `EndpointServiceNotFound`: no service of that id the caller may see.
pub(super) fn service_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "EndpointServiceNotFound",
        format!("The specified endpoint service {id} does not exist."),
    )
}

/// `EndpointNotFound`: no endpoint of that id the caller has.
pub(super) fn endpoint_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "EndpointNotFound",
        format!("The specified endpoint {id} does not exist."),
    )
}

/// `IllegalParam.<name>`: a parameter refused by its value.
pub(super) fn illegal(name: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad(
        format!("IllegalParam.{name}"),
        format!("The parameter {name} is illegal: {why}."),
    )
}

/// `EndpointConnectionOperationDenied`: the connection is not in a state
/// the operation applies to.
pub(super) fn connection_denied(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad("EndpointConnectionOperationDenied", format!("{why}"))
}

/// `EndpointOperationDenied`: the endpoint cannot be changed so.
pub(super) fn endpoint_denied(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad("EndpointOperationDenied", format!("{why}"))
}

/// Index of the caller's own service `id` (the provider's actions).
pub(super) fn own_service(d: &Draft, id: &str) -> Result<usize, ApiError> {
    if id.is_empty() {
        return Err(ApiError::missing("ServiceId"));
    }
    d.model
        .endpoint_services
        .iter()
        .position(|s| s.id == id && d.caller.owns(&s.meta.owner_id))
        .ok_or_else(|| service_not_found(id))
}

/// Index of the caller's own endpoint `id`.
pub(super) fn own_endpoint(d: &Draft, id: &str) -> Result<usize, ApiError> {
    if id.is_empty() {
        return Err(ApiError::missing("EndpointId"));
    }
    d.model
        .vpc_endpoints
        .iter()
        .position(|e| e.id == id && d.caller.owns(&e.meta.owner_id))
        .ok_or_else(|| endpoint_not_found(id))
}

/// Index of endpoint `endpoint_id` connected to the caller's service
/// `service_id` (the provider's connection actions): (service, endpoint).
pub(super) fn connection(
    d: &Draft,
    service_id: &str,
    endpoint_id: &str,
) -> Result<(usize, usize), ApiError> {
    let si = own_service(d, service_id)?;
    if endpoint_id.is_empty() {
        return Err(ApiError::missing("EndpointId"));
    }
    let ei = d
        .model
        .vpc_endpoints
        .iter()
        .position(|e| e.id == endpoint_id && e.service_id == service_id)
        .ok_or_else(|| endpoint_not_found(endpoint_id))?;
    Ok((si, ei))
}

/// Whether the caller may see (and connect to) a service: the admin, its
/// owner, or an account on its whitelist (EPS-2).
pub(super) fn visible(d: &Draft, s: &EndpointService) -> bool {
    d.caller.admin || s.allows(&d.caller.account_id)
}

/// The service domain of an endpoint's service, also once the service is
/// deleted (its id and region are kept on the endpoint).
pub(super) fn service_domain(m: &Model, e: &VpcEndpoint) -> String {
    m.endpoint_services
        .iter()
        .find(|s| s.id == e.service_id)
        .map(EndpointService::domain)
        .unwrap_or_else(|| format!("{}.{}.{PRIVATELINK_DOMAIN}", e.service_id, e.meta.region_id))
}

/// A Bandwidth / ConnectBandwidth parameter: within 100..=10240 Mbit/s.
pub(super) fn bandwidth(name: &str, v: Option<u32>) -> Result<Option<u32>, ApiError> {
    match v {
        Some(n) if !BANDWIDTH.contains(&n) => Err(illegal(
            name,
            format!("{n} is outside {}..={}", BANDWIDTH.start(), BANDWIDTH.end()),
        )),
        v => Ok(v),
    }
}

/// AddressIpVersion: IPv4 only (IPv6 and DualStack are refused).
pub(super) fn ipv4_only(v: &Option<String>) -> Result<(), ApiError> {
    match given(v) {
        None => Ok(()),
        Some(x) if x.eq_ignore_ascii_case("IPv4") => Ok(()),
        Some(x) if x.eq_ignore_ascii_case("DualStack") || x.eq_ignore_ascii_case("IPv6") => {
            Err(ApiError::unsupported("AddressIpVersion"))
        }
        Some(x) => Err(illegal(
            "AddressIpVersion",
            format!("{x:?} is not IPv4 or DualStack"),
        )),
    }
}

/// Refuses a switch this router does not implement when turned on.
pub(super) fn refuse_on(name: &str, v: Option<bool>) -> Result<(), ApiError> {
    match v {
        Some(true) => Err(ApiError::unsupported(name)),
        _ => Ok(()),
    }
}

/// One page of a list (MaxResults, default 50, pages of at most 100;
/// NextToken) in key order: (entries, NextToken, TotalCount).
pub(super) fn page<T>(
    kind: &str,
    items: Vec<(String, T)>,
    max_results: Option<u32>,
    next_token: &Option<String>,
) -> Result<(Vec<T>, String, usize), ApiError> {
    let max = match max_results {
        None => DEFAULT_PAGE,
        Some(0) => return Err(illegal("MaxResults", "0 is outside 1..=1000")),
        Some(n) if n > 1000 => {
            return Err(illegal("MaxResults", format!("{n} is outside 1..=1000")));
        }
        Some(n) => n.min(MAX_PAGE),
    };
    let p = token_page(kind, items, Some(max), given(next_token))?;
    let total = p.total_count.parse().unwrap_or(0);
    Ok((p.items, p.next_token, total))
}

/// The id lists and single-id filters: empty or absent is "any".
pub(super) fn eq_or_any(filter: &Option<String>, value: &str) -> bool {
    given(filter).is_none_or(|f| f == value)
}

/// Every address of vSwitch `vswitch_id` someone holds: instances, load
/// balancer zones, endpoint ENIs (EP-3: never held twice).
pub(super) fn taken_in(m: &Model, vswitch_id: &str) -> BTreeSet<Ipv4Addr> {
    let mut taken: BTreeSet<Ipv4Addr> = crate::model::instance_addresses(m)
        .into_iter()
        .zip(&m.instances)
        .filter(|(_, i)| i.vswitch_id == vswitch_id)
        .filter_map(|((_, a), _)| a)
        .collect();
    taken.extend(
        m.load_balancer_addresses()
            .chain(m.endpoint_eni_addresses())
            .filter(|(_, v, _)| *v == vswitch_id)
            .map(|(a, _, _)| a),
    );
    taken
}

/// An endpoint ENI's address in vSwitch `vswitch_id`: `given` (in the
/// vSwitch, not reserved, free), or the lowest free one; `also` are
/// addresses chosen earlier in the same call.
pub(super) fn eni_address(
    m: &Model,
    vswitch_id: &str,
    given_ip: Option<&str>,
    param: &str,
    also: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr, ApiError> {
    let vsw = m
        .vswitch(vswitch_id)
        .ok_or_else(|| illegal("VSwitchId", format!("no vSwitch {vswitch_id}")))?;
    let cidr = vsw.cidr_block;
    let taken = taken_in(m, vswitch_id);
    match given_ip {
        Some(text) => {
            let a: Ipv4Addr = text
                .parse()
                .map_err(|_| illegal(param, format!("{text:?} is not an IPv4 address")))?;
            if !cidr.contains(&a) || is_reserved(&cidr, a) {
                return Err(illegal(
                    param,
                    format!("{a} is not a usable address of the vSwitch {vswitch_id} ({cidr})"),
                ));
            }
            if taken.contains(&a) || also.contains(&a) {
                return Err(ApiError::bad(
                    "IpConflict",
                    format!("The address {a} of the vSwitch {vswitch_id} is in use."),
                ));
            }
            Ok(a)
        }
        None => {
            let first = u32::from(cidr.network()) + 1;
            let last = u32::from(cidr.broadcast()).saturating_sub(3);
            (first..=last)
                .map(Ipv4Addr::from)
                .find(|a| !taken.contains(a) && !also.contains(a))
                .ok_or_else(|| {
                    ApiError::bad(
                        "QuotaExceeded.PrivateIpAddress",
                        format!("The vSwitch {vswitch_id} has no free private address."),
                    )
                })
        }
    }
}

/// A TotalCount the SDK models as a string.
pub(super) fn count_text(n: usize) -> String {
    n.to_string()
}

#[cfg(test)]
mod tests;
