//! PrivateZone (the cloud's PrivateZone API, 2018-01-01): private DNS zones
//! an account adds, fills with records and binds to VPCs; a zone answers
//! only inside the VPCs bound to it (docs/dns.md). Plain data, in the
//! cloud's words; the service checks it, `compile::dns` turns it into each
//! VPC's answers.
use serde::{Deserialize, Serialize};

use super::Meta;

/// Most records one zone holds.
pub const MAX_ZONE_RECORDS: usize = 10_000;

/// Type of a record: the ones the resolver answers (others are refused by
/// the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ZoneRecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    #[allow(clippy::upper_case_acronyms)]
    AAAA,
    /// Alias of another name.
    #[allow(clippy::upper_case_acronyms)]
    CNAME,
    /// Text.
    #[allow(clippy::upper_case_acronyms)]
    TXT,
    /// Mail exchanger (with a priority).
    MX,
    /// Pointer (reverse lookup).
    #[allow(clippy::upper_case_acronyms)]
    PTR,
    /// Service: `priority weight port target` in the value.
    #[allow(clippy::upper_case_acronyms)]
    SRV,
}

impl ZoneRecordType {
    /// Every type, in the API's spelling.
    pub const ALL: [ZoneRecordType; 7] = [
        ZoneRecordType::A,
        ZoneRecordType::AAAA,
        ZoneRecordType::CNAME,
        ZoneRecordType::TXT,
        ZoneRecordType::MX,
        ZoneRecordType::PTR,
        ZoneRecordType::SRV,
    ];

    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneRecordType::A => "A",
            ZoneRecordType::AAAA => "AAAA",
            ZoneRecordType::CNAME => "CNAME",
            ZoneRecordType::TXT => "TXT",
            ZoneRecordType::MX => "MX",
            ZoneRecordType::PTR => "PTR",
            ZoneRecordType::SRV => "SRV",
        }
    }

    /// The type spelled `s` (case-insensitive), if it is one answered.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// One record of a zone (`Rr` is the name relative to the zone, `@` the
/// zone itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneRecord {
    /// RecordId.
    pub id: u64,
    /// Rr: the host record (`www`, `@`, `*`).
    pub rr: String,
    /// Type.
    pub record_type: ZoneRecordType,
    /// Value, as given (an address, a name, text, `prio weight port target`).
    pub value: String,
    /// Ttl, seconds.
    pub ttl: u32,
    /// Priority (MX only).
    #[serde(default)]
    pub priority: Option<u32>,
    /// Status: false after SetZoneRecordStatus `DISABLE` (not answered).
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Remark.
    #[serde(default)]
    pub remark: String,
}

fn enabled() -> bool {
    true
}

/// A VPC a zone is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneVpc {
    /// VpcId.
    pub vpc_id: String,
    /// RegionId of the VPC.
    pub region_id: String,
}

/// A private zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateZone {
    /// ZoneId.
    pub id: String,
    /// ZoneName (lowercase, no trailing dot).
    pub name: String,
    /// ProxyPattern: `ZONE` (a name the zone lacks is NXDOMAIN) or `RECORD`
    /// (recursion: a name the zone lacks is resolved as outside the zone).
    #[serde(default = "zone_pattern")]
    pub proxy_pattern: String,
    /// The VPCs the zone is bound to (BindZoneVpc).
    #[serde(default, rename = "vpc")]
    pub vpcs: Vec<ZoneVpc>,
    /// Records.
    #[serde(default, rename = "record")]
    pub records: Vec<ZoneRecord>,
    /// API metadata (Remark is `meta.description`).
    #[serde(default)]
    pub meta: Meta,
}

fn zone_pattern() -> String {
    "ZONE".to_string()
}

impl PrivateZone {
    /// The full name of a record's `rr` (`@`: the zone).
    pub fn full_name(&self, rr: &str) -> String {
        if rr == "@" || rr.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", rr.to_ascii_lowercase(), self.name)
        }
    }

    /// Whether the zone answers in `vpc_id`.
    pub fn bound_to(&self, vpc_id: &str) -> bool {
        self.vpcs.iter().any(|v| v.vpc_id == vpc_id)
    }
}
