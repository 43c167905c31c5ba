//! Per-account quotas, with the cloud's default values and QuotaExceeded
//! codes, in one place. A change is checked against them after its action
//! ran ([`check`]): any count it raised above its quota refuses the whole
//! change. A count already above its quota (a lowered quota, an older
//! store) is left as it is: only a change that would raise it is refused.
//!
//! The operator can change a quota for the whole daemon (`vpc daemon
//! --quota NAME=N`, or `VPC_QUOTAS=NAME=N,...`), as the cloud raises a quota
//! on request: the benches, for instance, put 100,000 route entries in one
//! table.
use std::{
    collections::{BTreeMap, HashMap},
    sync::OnceLock,
};

use crate::{
    api::ApiError,
    model::{Model, RouteTable},
};

/// One quota: what it counts, its default, the cloud's code and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSpec {
    /// Its name for `--quota`.
    pub name: &'static str,
    /// What is counted, per what.
    pub what: &'static str,
    /// The cloud's default value.
    pub default: usize,
    /// The cloud's code when a change would exceed it.
    pub code: &'static str,
    /// The HTTP status of that code.
    pub status: u16,
}

/// Every quota, with the cloud's defaults (VPC and ECS quota pages).
pub const QUOTAS: &[QuotaSpec] = &[
    QuotaSpec {
        name: "vpcs_per_region",
        what: "VPCs per account and region",
        default: 10,
        code: "QuotaExceeded.Vpc",
        status: 400,
    },
    QuotaSpec {
        name: "vswitches_per_vpc",
        what: "vSwitches per VPC",
        default: 150,
        code: "QuotaExceeded.VSwitch",
        status: 400,
    },
    QuotaSpec {
        name: "route_tables_per_vpc",
        what: "custom route tables per VPC",
        default: 9,
        code: "QuotaExceeded.RouteTable",
        status: 400,
    },
    QuotaSpec {
        name: "route_entries_per_table",
        what: "custom route entries per route table",
        default: 200,
        code: "QuotaExceeded.VpcRouteEntryNum",
        status: 400,
    },
    QuotaSpec {
        name: "security_groups_per_region",
        what: "security groups per account and region",
        default: 100,
        code: "QuotaExceed.SecurityGroup",
        status: 403,
    },
    QuotaSpec {
        name: "rules_per_security_group",
        what: "rules per security group",
        default: 200,
        code: "AuthorizationLimitExceed",
        status: 403,
    },
    QuotaSpec {
        name: "network_acls_per_vpc",
        what: "network ACLs per VPC",
        default: 20,
        code: "QuotaExceeded.NetworkAcl",
        status: 400,
    },
    QuotaSpec {
        name: "prefix_lists_per_region",
        what: "prefix lists per account and region",
        default: 100,
        code: "QuotaExceeded.PrefixList",
        status: 400,
    },
    QuotaSpec {
        name: "eips_per_region",
        what: "EIPs per account and region",
        default: 20,
        code: "QuotaExceeded.Eip",
        status: 400,
    },
];

/// The value of every quota, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quotas {
    values: BTreeMap<&'static str, usize>,
}

impl Default for Quotas {
    /// The cloud's defaults.
    fn default() -> Self {
        Self {
            values: QUOTAS.iter().map(|q| (q.name, q.default)).collect(),
        }
    }
}

/// Why a quota setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// The setting is not `NAME=N`, or N is not a number.
    #[error("a quota is set as NAME=N, not {0:?}")]
    Malformed(String),
    /// No quota has this name.
    #[error("there is no quota {name:?}; quotas: {known}")]
    Unknown { name: String, known: String },
}

impl Quotas {
    /// The value of the quota `name` (0 for no such quota).
    pub fn get(&self, name: &str) -> usize {
        self.values.get(name).copied().unwrap_or(0)
    }

    /// Applies settings `NAME=N` over these values.
    pub fn with_settings<S: AsRef<str>>(mut self, settings: &[S]) -> Result<Self, QuotaError> {
        for s in settings {
            let s = s.as_ref().trim();
            if s.is_empty() {
                continue;
            }
            let (name, n) = s
                .split_once('=')
                .ok_or_else(|| QuotaError::Malformed(s.to_string()))?;
            let n: usize = n
                .trim()
                .parse()
                .map_err(|_| QuotaError::Malformed(s.to_string()))?;
            let spec = QUOTAS
                .iter()
                .find(|q| q.name == name.trim())
                .ok_or_else(|| QuotaError::Unknown {
                    name: name.to_string(),
                    known: QUOTAS.iter().map(|q| q.name).collect::<Vec<_>>().join(", "),
                })?;
            self.values.insert(spec.name, n);
        }
        Ok(self)
    }

    /// The quotas the daemon was configured with ([`configure`]), else the
    /// cloud's defaults.
    pub fn configured() -> Self {
        CONFIGURED.get().cloned().unwrap_or_default()
    }
}

static CONFIGURED: OnceLock<Quotas> = OnceLock::new();

/// Sets the quotas of every service opened from now on in this process
/// (`vpc daemon --quota`); once.
pub fn configure(quotas: Quotas) -> Result<(), Quotas> {
    CONFIGURED.set(quotas)
}

/// Counts, per quota and per what it is counted by (account and region, a
/// VPC, a table, a group); the route entries of the tables `skip` names
/// are not counted.
fn counts(
    m: &Model,
    skip: &dyn Fn(&RouteTable) -> bool,
    plain: &dyn Fn(&RouteTable) -> bool,
) -> BTreeMap<(&'static str, String), usize> {
    let mut c: BTreeMap<(&'static str, String), usize> = BTreeMap::new();
    let mut add =
        |quota: &'static str, key: String, n: usize| *c.entry((quota, key)).or_default() += n;
    for v in &m.vpcs {
        add(
            "vpcs_per_region",
            format!("{}/{}", v.meta.owner_id, v.meta.region_id),
            1,
        );
    }
    for v in &m.vswitches {
        add("vswitches_per_vpc", v.vpc_id.clone(), 1);
    }
    for t in &m.route_tables {
        if t.route_table_type == crate::model::RouteTableType::Custom {
            add("route_tables_per_vpc", t.vpc_id.clone(), 1);
        }
        if skip(t) {
            continue;
        }
        // A route to a prefix list counts as the routes it makes: one per
        // block of the list (RT-1). A table known to route none counts
        // its entries.
        if plain(t) {
            add(
                "route_entries_per_table",
                t.id.clone(),
                t.route_entries.len(),
            );
            continue;
        }
        let routes: usize = t
            .route_entries
            .iter()
            .map(|e| match &e.destination_prefix_list_id {
                Some(pl) => m.prefix_list_cidrs(pl).map_or(1, |c| c.len().max(1)),
                None => 1,
            })
            .sum();
        add("route_entries_per_table", t.id.clone(), routes);
    }
    for g in &m.security_groups {
        add(
            "security_groups_per_region",
            format!("{}/{}", g.meta.owner_id, g.meta.region_id),
            1,
        );
        add("rules_per_security_group", g.id.clone(), g.rules.len());
    }
    for a in &m.network_acls {
        add("network_acls_per_vpc", a.vpc_id.clone(), 1);
    }
    for p in &m.prefix_lists {
        add(
            "prefix_lists_per_region",
            format!("{}/{}", p.meta.owner_id, p.meta.region_id),
            1,
        );
    }
    for e in &m.eips {
        add(
            "eips_per_region",
            format!("{}/{}", e.meta.owner_id, e.meta.region_id),
            1,
        );
    }
    c
}

/// Refuses the change from `prev` to `next` if it raises a count above its
/// quota, with the cloud's code for that quota.
pub fn check(quotas: &Quotas, prev: &Model, next: &Model) -> Result<(), ApiError> {
    check_with(quotas, prev, next, &|_| false)
}

/// [`check`], told by `plain` which tables of `prev` have no entry to a
/// prefix list (so count their entries without a walk); a table of
/// `next` is plain when its table in `prev` is and the change only
/// removed entries and added plain ones.
pub fn check_with(
    quotas: &Quotas,
    prev: &Model,
    next: &Model,
    plain: &dyn Fn(&RouteTable) -> bool,
) -> Result<(), ApiError> {
    // A table whose entries are those it had (the same list) and whose
    // prefix lists are unchanged counts what it counted: it cannot raise
    // its count, and is not walked (100,000 entries are not counted twice
    // for a change elsewhere).
    let lists_same = prev.prefix_lists == next.prefix_lists;
    let prev_tables: HashMap<&str, &RouteTable> = prev
        .route_tables
        .iter()
        .map(|t| (t.id.as_str(), t))
        .collect();
    let unchanged = |t: &RouteTable| {
        lists_same
            && prev_tables
                .get(t.id.as_str())
                .is_some_and(|p| p.route_entries.same(&t.route_entries))
    };
    let next_tables: HashMap<&str, &RouteTable> = next
        .route_tables
        .iter()
        .map(|t| (t.id.as_str(), t))
        .collect();
    let plain_next = |t: &RouteTable| {
        prev_tables.get(t.id.as_str()).is_some_and(|p| {
            plain(p)
                && t.route_entries
                    .changes_from(&p.route_entries)
                    .is_some_and(|(_, added)| added.iter().all(|e| !e.is_prefix_list()))
        })
    };
    let before = counts(
        prev,
        &|t| next_tables.get(t.id.as_str()).is_some_and(|n| unchanged(n)),
        plain,
    );
    for ((quota, key), n) in counts(next, &unchanged, &plain_next) {
        let limit = quotas.get(quota);
        if n > limit && n > before.get(&(quota, key.clone())).copied().unwrap_or(0) {
            let spec = QUOTAS
                .iter()
                .find(|q| q.name == quota)
                .expect("a quota counted is specified");
            return Err(ApiError::new(
                spec.status,
                spec.code,
                format!(
                    "The quota of {} is exceeded ({key}): at most {limit}, the change makes {n}.",
                    spec.what
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_settings_are_parsed_and_checked() {
        let q = Quotas::default()
            .with_settings(&["route_entries_per_table=100000", " vpcs_per_region = 3 "])
            .unwrap();
        assert_eq!(
            (
                q.get("route_entries_per_table"),
                q.get("vpcs_per_region"),
                q.get("vswitches_per_vpc")
            ),
            (100_000, 3, 150)
        );
        assert!(matches!(
            Quotas::default().with_settings(&["vpcs=1"]),
            Err(QuotaError::Unknown { .. })
        ));
        assert!(matches!(
            Quotas::default().with_settings(&["vpcs_per_region"]),
            Err(QuotaError::Malformed(_))
        ));
        assert!(matches!(
            Quotas::default().with_settings(&["vpcs_per_region=-1"]),
            Err(QuotaError::Malformed(_))
        ));
    }
}
