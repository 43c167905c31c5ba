//! What each VPC's resolver answers (docs/dns.md): a pure function of the
//! model and the backends' health, compiled whole on every change and
//! looked up per query by the daemon's resolver ([`Records::resolve`]).
//!
//! Per VPC, in this order of precedence:
//! - PrivateZone zones bound to the VPC (enabled records only);
//! - interface endpoints of the VPC (DNS-1): the endpoint domain to the ENI
//!   addresses of its connected zones, leaving out a zone whose load
//!   balancer has no healthy backend (EP-7; all of them while none is
//!   healthy), and each zone domain to its zone's address;
//! - instance names, while the VPC's DNS hostname switch is on
//!   (EnableDnsHostname): `<instance id>.<region>.ecs.internal`,
//!   `ip-a-b-c-d.<region>.ecs.internal`, the instance's host name, and the
//!   PTR of its address;
//! - the lab upstream: the object storage service's names (public and
//!   internal, any bucket under them). Anything else does not exist
//!   (NXDOMAIN): nothing is ever asked of a server off the machine.
use std::{
    collections::{BTreeMap, BTreeSet},
    net::{Ipv4Addr, Ipv6Addr},
    sync::Arc,
};

use thiserror::Error;

use super::{ServerKey, Unavailable};
use crate::model::{self, Model, ZoneRecordType};

/// The cloud's VPC DNS addresses, in every VPC.
pub const DNS_ADDRS: [Ipv4Addr; 2] = [
    Ipv4Addr::new(100, 100, 2, 136),
    Ipv4Addr::new(100, 100, 2, 138),
];
/// The region a VPC without one (a lab file's) is in.
pub const DEFAULT_REGION: &str = "cn-hangzhou";
/// TTL of the names the router makes itself (instances, endpoints, upstream).
pub const SYSTEM_TTL: u32 = 60;
/// Most CNAMEs followed for one answer.
const MAX_CNAME_CHAIN: usize = 8;

/// A record value the compile could not read (a PrivateZone record the API
/// let through in another form): left out, reported.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// The value does not parse for its type.
    #[error("record {name} {kind}: the value {value:?} is not valid for the type")]
    BadValue {
        name: String,
        kind: &'static str,
        value: String,
    },
}

/// The data of one record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Canonical name (followed inside the VPC's data).
    Cname(String),
    /// Text.
    Txt(String),
    /// Mail exchanger.
    Mx { preference: u16, exchange: String },
    /// Pointer.
    Ptr(String),
    /// Service.
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
}

impl RData {
    /// The record type this data answers.
    pub fn kind(&self) -> ZoneRecordType {
        match self {
            RData::A(_) => ZoneRecordType::A,
            RData::Aaaa(_) => ZoneRecordType::AAAA,
            RData::Cname(_) => ZoneRecordType::CNAME,
            RData::Txt(_) => ZoneRecordType::TXT,
            RData::Mx { .. } => ZoneRecordType::MX,
            RData::Ptr(_) => ZoneRecordType::PTR,
            RData::Srv { .. } => ZoneRecordType::SRV,
        }
    }

    /// Parses a PrivateZone record's value (and MX priority).
    pub fn parse(kind: ZoneRecordType, value: &str, priority: Option<u32>) -> Option<Self> {
        let value = value.trim();
        let name = |v: &str| {
            let n = normalize(v);
            (!n.is_empty() && is_domain_name(&n)).then_some(n)
        };
        Some(match kind {
            ZoneRecordType::A => RData::A(value.parse().ok()?),
            ZoneRecordType::AAAA => RData::Aaaa(value.parse().ok()?),
            ZoneRecordType::CNAME => RData::Cname(name(value)?),
            ZoneRecordType::TXT => {
                if value.is_empty() || value.len() > 255 {
                    return None;
                }
                RData::Txt(value.to_string())
            }
            ZoneRecordType::MX => RData::Mx {
                preference: u16::try_from(priority.unwrap_or(5)).ok()?,
                exchange: name(value)?,
            },
            ZoneRecordType::PTR => RData::Ptr(name(value)?),
            ZoneRecordType::SRV => {
                let f: Vec<&str> = value.split_whitespace().collect();
                let [p, w, port, target] = f.as_slice() else {
                    return None;
                };
                RData::Srv {
                    priority: p.parse().ok()?,
                    weight: w.parse().ok()?,
                    port: port.parse().ok()?,
                    target: name(target)?,
                }
            }
        })
    }
}

/// One resource record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rr {
    /// Owner name (lowercase, no trailing dot).
    pub name: String,
    /// TTL, seconds.
    pub ttl: u32,
    /// Data.
    pub data: RData,
}

/// The names one VPC's resolver answers for itself, and the zones it is
/// authoritative for (a name under one of them that it lacks does not
/// exist).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameSet {
    /// Records by owner name.
    pub names: BTreeMap<String, Vec<Rr>>,
    /// Zones answered whole (a missing name is NXDOMAIN there).
    pub zones: BTreeSet<String>,
    /// Wildcards: any name under the key (not the key itself) answers the
    /// value's records, renamed.
    pub wildcards: BTreeMap<String, Vec<RData>>,
}

impl NameSet {
    fn add(&mut self, name: &str, ttl: u32, data: RData) {
        let name = normalize(name);
        let v = self.names.entry(name.clone()).or_default();
        let rr = Rr { name, ttl, data };
        if !v.contains(&rr) {
            v.push(rr);
        }
    }

    /// The records of `name` (exact, then the nearest wildcard).
    fn get(&self, name: &str) -> Option<Vec<Rr>> {
        if let Some(v) = self.names.get(name) {
            return Some(v.clone());
        }
        let mut rest = name;
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(d) = self.wildcards.get(parent) {
                return Some(
                    d.iter()
                        .map(|d| Rr {
                            name: name.to_string(),
                            ttl: SYSTEM_TTL,
                            data: d.clone(),
                        })
                        .collect(),
                );
            }
            rest = parent;
        }
        None
    }

    /// Whether `name` is in one of the zones answered whole.
    fn authoritative_for(&self, name: &str) -> bool {
        let mut rest = name;
        loop {
            if self.zones.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return false,
            }
        }
    }
}

/// Everything the resolvers answer: one name set per VPC, the lab upstream
/// shared by all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Records {
    /// Per VPC id.
    pub vpcs: BTreeMap<String, NameSet>,
    /// The lab upstream (names outside every VPC's own).
    pub upstream: NameSet,
    /// Records left out, with why.
    pub skipped: Vec<DnsError>,
}

/// Response code of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcode {
    /// The name exists (the answer may still be empty: no record of the type).
    NoError,
    /// The name does not exist.
    NxDomain,
}

/// The answer to one question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Response code.
    pub rcode: Rcode,
    /// The CNAME chain followed, then the records of the type asked.
    pub records: Vec<Rr>,
}

impl Records {
    /// Answers `name` (any case, trailing dot or not) of type `kind`
    /// (`None`: a type no record has, e.g. NS) asked in VPC `vpc_id`,
    /// following CNAMEs through the VPC's own names and the upstream.
    pub fn resolve(&self, vpc_id: &str, name: &str, kind: Option<ZoneRecordType>) -> Answer {
        let empty = NameSet::default();
        let own = self.vpcs.get(vpc_id).unwrap_or(&empty);
        let mut name = normalize(name);
        let mut out = Vec::new();
        for _ in 0..=MAX_CNAME_CHAIN {
            let found = match own.get(&name) {
                Some(rrs) => Some(rrs),
                None if own.authoritative_for(&name) => None,
                None => self.upstream.get(&name),
            };
            let Some(rrs) = found else {
                return Answer {
                    rcode: Rcode::NxDomain,
                    records: out,
                };
            };
            let wanted: Vec<Rr> = rrs
                .iter()
                .filter(|r| Some(r.data.kind()) == kind)
                .cloned()
                .collect();
            if !wanted.is_empty() {
                out.extend(wanted);
                return Answer {
                    rcode: Rcode::NoError,
                    records: out,
                };
            }
            match rrs.iter().find_map(|r| match &r.data {
                RData::Cname(target) => Some((r.clone(), target.clone())),
                _ => None,
            }) {
                Some((rr, target)) if !out.contains(&rr) => {
                    out.push(rr);
                    name = target;
                }
                _ => {
                    return Answer {
                        rcode: Rcode::NoError,
                        records: out,
                    };
                }
            }
        }
        Answer {
            rcode: Rcode::NoError,
            records: out,
        }
    }
}

/// Lowercase, without the trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `name` (normalized) is a domain name of letter-digit-hyphen
/// (and underscore, for SRV owners) labels of 1 to 63 characters, not
/// starting or ending with a hyphen, at most
/// 253 in all.
pub fn is_domain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        })
}

/// The reverse-lookup name of `ip` (`d.c.b.a.in-addr.arpa`).
pub fn reverse_name(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

/// The region of a resource's metadata (a lab file's: the default).
fn region(meta: &model::Meta) -> &str {
    if meta.region_id.is_empty() {
        DEFAULT_REGION
    } else {
        &meta.region_id
    }
}

/// The instances' domain of `region`.
pub fn ecs_domain(region: &str) -> String {
    format!("{region}.ecs.internal")
}

/// Whether the load balancer `lb_id` has a backend that takes traffic in
/// `zone_id`: a server with weight of a group one of its listeners sends
/// to, not unavailable, in that zone unless cross-zone balancing is on.
fn zone_healthy(model: &Model, lb_id: &str, zone_id: &str, unavailable: &Unavailable) -> bool {
    let Some(lb) = model.load_balancers.iter().find(|l| l.id == lb_id) else {
        return false;
    };
    let groups: BTreeSet<&str> = model
        .listeners
        .iter()
        .filter(|l| l.load_balancer_id == lb_id)
        .map(|l| l.server_group_id.as_str())
        .collect();
    model
        .server_groups
        .iter()
        .filter(|g| groups.contains(g.id.as_str()))
        .any(|g| {
            g.servers.iter().any(|s| {
                s.weight > 0
                    && (lb.cross_zone_enabled || s.zone_id.is_empty() || s.zone_id == zone_id)
                    && !unavailable.contains(&ServerKey {
                        group_id: g.id.clone(),
                        ip: s.server_ip,
                        port: s.port,
                    })
            })
        })
}

/// Compiles every VPC's names and the lab upstream (see the module doc).
pub fn compile(model: &Model, unavailable: &Unavailable) -> Records {
    let mut out = Records::default();
    for vpc in &model.vpcs {
        out.vpcs.insert(vpc.id.clone(), NameSet::default());
    }
    // Instance names, in VPCs whose DNS hostname switch is on.
    let hostnames: BTreeSet<&str> = model
        .vpcs
        .iter()
        .filter(|v| v.dns_hostname)
        .map(|v| v.id.as_str())
        .collect();
    for (inst, (_, addr)) in model.instances.iter().zip(model::instance_addresses(model)) {
        let (Some(addr), Some(vsw)) = (addr, model.vswitch(&inst.vswitch_id)) else {
            continue;
        };
        if !hostnames.contains(vsw.vpc_id.as_str()) {
            continue;
        }
        let set = out.vpcs.entry(vsw.vpc_id.clone()).or_default();
        let domain = ecs_domain(region(&inst.meta));
        set.zones.insert(domain.clone());
        let by_id = format!("{}.{domain}", inst.id.to_ascii_lowercase());
        let [a, b, c, d] = addr.octets();
        set.add(&by_id, SYSTEM_TTL, RData::A(addr));
        set.add(
            &format!("ip-{a}-{b}-{c}-{d}.{domain}"),
            SYSTEM_TTL,
            RData::A(addr),
        );
        let host = normalize(inst.host_name.as_deref().unwrap_or(&inst.id));
        if is_domain_name(&host) {
            set.add(&host, SYSTEM_TTL, RData::A(addr));
        }
        set.add(&reverse_name(addr), SYSTEM_TTL, RData::Ptr(by_id));
    }
    // Interface endpoints (DNS-1, EP-7).
    for ep in &model.vpc_endpoints {
        let Some(service) = model
            .endpoint_services
            .iter()
            .find(|s| s.id == ep.service_id)
        else {
            continue;
        };
        let service_domain = service.domain();
        let set = out.vpcs.entry(ep.vpc_id.clone()).or_default();
        let connected: Vec<_> = ep.zones.iter().filter(|z| ep.zone_connected(z)).collect();
        let healthy: Vec<_> = connected
            .iter()
            .filter(|z| {
                service
                    .resource_in(&z.zone_id)
                    .is_some_and(|r| zone_healthy(model, &r.resource_id, &z.zone_id, unavailable))
            })
            .collect();
        // No zone healthy: every connected zone (a client then fails as it
        // would, rather than on a name that vanished).
        let answered: Vec<_> = if healthy.is_empty() {
            connected.iter().collect()
        } else {
            healthy
        };
        let domain = ep.domain(&service_domain);
        for z in &answered {
            set.add(&domain, SYSTEM_TTL, RData::A(z.eni_ip));
        }
        for z in &connected {
            set.add(
                &ep.zone_domain(&z.zone_id, &service_domain),
                SYSTEM_TTL,
                RData::A(z.eni_ip),
            );
        }
    }
    // PrivateZone: bound zones, enabled records.
    for zone in &model.private_zones {
        let name = normalize(&zone.name);
        for v in &zone.vpcs {
            let Some(set) = out.vpcs.get_mut(&v.vpc_id) else {
                continue;
            };
            if zone.proxy_pattern != "RECORD" {
                set.zones.insert(name.clone());
            }
            // Names the zone holds replace what the VPC had for them.
            for r in zone.records.iter().filter(|r| r.enabled) {
                set.names.remove(&zone.full_name(&r.rr));
            }
        }
        for r in zone.records.iter().filter(|r| r.enabled) {
            let owner = zone.full_name(&r.rr);
            let Some(data) = RData::parse(r.record_type, &r.value, r.priority) else {
                out.skipped.push(DnsError::BadValue {
                    name: owner,
                    kind: r.record_type.as_str(),
                    value: r.value.clone(),
                });
                continue;
            };
            for v in &zone.vpcs {
                let Some(set) = out.vpcs.get_mut(&v.vpc_id) else {
                    continue;
                };
                if r.rr == "*" {
                    set.wildcards
                        .entry(name.clone())
                        .or_default()
                        .push(data.clone());
                } else {
                    set.add(&owner, r.ttl, data.clone());
                }
            }
        }
    }
    // The lab upstream: the object storage names of every region in use.
    let mut regions: BTreeSet<&str> = model.vpcs.iter().map(|v| region(&v.meta)).collect();
    regions.insert(DEFAULT_REGION);
    let services = &model.router.services;
    for r in regions {
        for (name, ip) in [
            (
                format!("oss-{r}-internal.aliyuncs.com"),
                services.object_storage_internal_ip,
            ),
            (
                format!("oss-{r}.aliyuncs.com"),
                services.object_storage_public_ip,
            ),
        ] {
            out.upstream.add(&name, SYSTEM_TTL, RData::A(ip));
            out.upstream.wildcards.insert(name, vec![RData::A(ip)]);
        }
    }
    out
}

/// Shared, swapped whole on every compile.
pub type SharedRecords = Arc<Records>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ConnectionStatus, EndpointService, EndpointZone, EndpointZoneStatus, Meta, PrivateZone,
        ServiceResource, Vpc, VpcEndpoint, ZoneRecord, ZoneVpc,
    };

    fn vpc(id: &str, cidr: &str, hostnames: bool) -> Vpc {
        Vpc {
            id: id.into(),
            name: None,
            cidr_block: cidr.parse().unwrap(),
            dns_hostname: hostnames,
            meta: Meta::default(),
        }
    }

    fn model() -> Model {
        let mut m: Model = toml::from_str(
            r#"
            [[vpc]]
            id = "vpc-a"
            cidr_block = "10.0.0.0/16"
            [[vswitch]]
            id = "vsw-a"
            vpc_id = "vpc-a"
            cidr_block = "10.0.1.0/24"
            zone_id = "cn-hangzhou-a"
            [[vswitch]]
            id = "vsw-a2"
            vpc_id = "vpc-a"
            cidr_block = "10.0.2.0/24"
            zone_id = "cn-hangzhou-b"
            [[vswitch]]
            id = "vsw-b"
            vpc_id = "vpc-b"
            cidr_block = "10.0.1.0/24"
            [[instance]]
            id = "i-web"
            vswitch_id = "vsw-a"
            private_ip_address = "10.0.1.10"
            host_name = "web001"
            [[instance]]
            id = "i-app"
            vswitch_id = "vsw-a"
            private_ip_address = "10.0.1.20"
            [[instance]]
            id = "i-other"
            vswitch_id = "vsw-b"
            private_ip_address = "10.0.1.10"
            host_name = "web001"
            "#,
        )
        .unwrap();
        m.vpcs = vec![
            vpc("vpc-a", "10.0.0.0/16", true),
            vpc("vpc-b", "10.0.0.0/16", true),
        ];
        m
    }

    fn a(ans: &Answer) -> Vec<Ipv4Addr> {
        ans.records
            .iter()
            .filter_map(|r| match r.data {
                RData::A(ip) => Some(ip),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn instances_resolve_each_other_by_host_name_only_in_their_vpc() {
        let m = model();
        let r = compile(&m, &Unavailable::new());
        let q = |vpc: &str, n: &str| r.resolve(vpc, n, Some(ZoneRecordType::A));
        assert_eq!(a(&q("vpc-a", "web001")), [Ipv4Addr::new(10, 0, 1, 10)]);
        assert_eq!(a(&q("vpc-a", "WEB001.")), [Ipv4Addr::new(10, 0, 1, 10)]);
        assert_eq!(
            a(&q("vpc-a", "i-app")),
            [Ipv4Addr::new(10, 0, 1, 20)],
            "the host name defaults to the id"
        );
        assert_eq!(
            a(&q("vpc-a", "i-app.cn-hangzhou.ecs.internal")),
            [Ipv4Addr::new(10, 0, 1, 20)]
        );
        assert_eq!(
            a(&q("vpc-a", "ip-10-0-1-20.cn-hangzhou.ecs.internal")),
            [Ipv4Addr::new(10, 0, 1, 20)]
        );
        // The same host name and address in another VPC: its own, never the other's.
        assert_eq!(q("vpc-b", "i-app").rcode, Rcode::NxDomain);
        assert_eq!(
            q("vpc-b", "i-app.cn-hangzhou.ecs.internal").rcode,
            Rcode::NxDomain
        );
        assert_eq!(a(&q("vpc-b", "web001")), [Ipv4Addr::new(10, 0, 1, 10)]);
        assert_eq!(
            a(&q("vpc-b", "i-other.cn-hangzhou.ecs.internal")),
            [Ipv4Addr::new(10, 0, 1, 10)]
        );
        let ptr = r.resolve("vpc-a", "20.1.0.10.in-addr.arpa", Some(ZoneRecordType::PTR));
        assert_eq!(
            ptr.records[0].data,
            RData::Ptr("i-app.cn-hangzhou.ecs.internal".into())
        );
        // The switch off: no instance names.
        let mut off = model();
        off.vpcs[0].dns_hostname = false;
        let r = compile(&off, &Unavailable::new());
        assert_eq!(
            r.resolve("vpc-a", "web001", Some(ZoneRecordType::A)).rcode,
            Rcode::NxDomain
        );
    }

    #[test]
    fn names_outside_the_vpc_come_from_the_lab_upstream_only() {
        let r = compile(&model(), &Unavailable::new());
        let q = |n: &str| r.resolve("vpc-a", n, Some(ZoneRecordType::A));
        assert_eq!(
            a(&q("oss-cn-hangzhou-internal.aliyuncs.com")),
            [Ipv4Addr::new(100, 118, 28, 1)]
        );
        assert_eq!(
            a(&q("bucket-1.oss-cn-hangzhou.aliyuncs.com")),
            [Ipv4Addr::new(198, 51, 100, 80)]
        );
        assert_eq!(q("example.com").rcode, Rcode::NxDomain);
        // The name exists, without a record of the type: no error, no record.
        let aaaa = r.resolve("vpc-a", "web001", Some(ZoneRecordType::AAAA));
        assert_eq!((aaaa.rcode, aaaa.records.len()), (Rcode::NoError, 0));
    }

    fn zone(
        name: &str,
        vpcs: &[&str],
        records: &[(&str, ZoneRecordType, &str, bool)],
    ) -> PrivateZone {
        PrivateZone {
            id: format!("z-{name}"),
            name: name.into(),
            proxy_pattern: "ZONE".into(),
            vpcs: vpcs
                .iter()
                .map(|v| ZoneVpc {
                    vpc_id: v.to_string(),
                    region_id: DEFAULT_REGION.into(),
                })
                .collect(),
            records: records
                .iter()
                .enumerate()
                .map(|(i, (rr, t, v, on))| ZoneRecord {
                    id: i as u64 + 1,
                    rr: rr.to_string(),
                    record_type: *t,
                    value: v.to_string(),
                    ttl: 60,
                    priority: None,
                    enabled: *on,
                    remark: String::new(),
                })
                .collect(),
            meta: Meta::default(),
        }
    }

    #[test]
    fn private_zone_answers_only_in_bound_vpcs_and_not_its_disabled_records() {
        use ZoneRecordType::*;
        let mut m = model();
        m.private_zones.push(zone(
            "corp.example",
            &["vpc-a"],
            &[
                ("db", A, "10.0.1.99", true),
                ("off", A, "10.0.1.98", false),
                ("@", TXT, "v=1", true),
                ("*", A, "10.0.1.97", true),
            ],
        ));
        let r = compile(&m, &Unavailable::new());
        assert_eq!(
            a(&r.resolve("vpc-a", "db.corp.example", Some(A))),
            [Ipv4Addr::new(10, 0, 1, 99)]
        );
        assert_eq!(
            r.resolve("vpc-a", "corp.example", Some(TXT)).records[0].data,
            RData::Txt("v=1".into())
        );
        // Disabled: the wildcard answers instead, as if it were absent.
        assert_eq!(
            a(&r.resolve("vpc-a", "off.corp.example", Some(A))),
            [Ipv4Addr::new(10, 0, 1, 97)]
        );
        // Not bound: nothing, even with the same CIDR.
        assert_eq!(
            r.resolve("vpc-b", "db.corp.example", Some(A)).rcode,
            Rcode::NxDomain
        );
        // Authoritative: a name the zone lacks does not exist.
        let mut m2 = model();
        m2.private_zones.push(zone(
            "corp.example",
            &["vpc-a"],
            &[("db", A, "10.0.1.99", true)],
        ));
        let r2 = compile(&m2, &Unavailable::new());
        assert_eq!(
            r2.resolve("vpc-a", "nope.corp.example", Some(A)).rcode,
            Rcode::NxDomain
        );
    }

    #[test]
    fn private_zone_cname_is_followed_and_every_type_parses() {
        use ZoneRecordType::*;
        let mut m = model();
        let mut z = zone(
            "corp.example",
            &["vpc-a"],
            &[
                ("www", CNAME, "web001", true),
                ("oss", CNAME, "oss-cn-hangzhou-internal.aliyuncs.com.", true),
                ("loop", CNAME, "loop.corp.example", true),
                ("mail", MX, "mx.corp.example", true),
                ("_sip._tcp", SRV, "10 60 5060 sip.corp.example", true),
                ("v6", AAAA, "fd00::1", true),
                ("bad", AAAA, "10.0.0.1", true),
            ],
        );
        z.records[3].priority = Some(10);
        m.private_zones.push(z);
        let r = compile(&m, &Unavailable::new());
        let www = r.resolve("vpc-a", "www.corp.example", Some(A));
        assert_eq!(www.records[0].data, RData::Cname("web001".into()));
        assert_eq!(a(&www), [Ipv4Addr::new(10, 0, 1, 10)]);
        assert_eq!(
            a(&r.resolve("vpc-a", "oss.corp.example", Some(A))),
            [Ipv4Addr::new(100, 118, 28, 1)]
        );
        assert_eq!(
            r.resolve("vpc-a", "loop.corp.example", Some(A))
                .records
                .len(),
            1,
            "a loop stops"
        );
        assert_eq!(
            r.resolve("vpc-a", "mail.corp.example", Some(MX)).records[0].data,
            RData::Mx {
                preference: 10,
                exchange: "mx.corp.example".into()
            }
        );
        assert_eq!(
            r.resolve("vpc-a", "_sip._tcp.corp.example", Some(SRV))
                .records[0]
                .data,
            RData::Srv {
                priority: 10,
                weight: 60,
                port: 5060,
                target: "sip.corp.example".into()
            }
        );
        assert_eq!(
            r.resolve("vpc-a", "v6.corp.example", Some(AAAA)).records[0].data,
            RData::Aaaa("fd00::1".parse().unwrap())
        );
        assert_eq!(r.skipped.len(), 1);
    }

    /// A provider NLB in two zones behind a service, a consumer endpoint with
    /// an ENI in each.
    fn endpoint_model() -> Model {
        let mut m = model();
        let lb: Model = toml::from_str(
            r#"
            [[load_balancer]]
            id = "nlb-1"
            vpc_id = "vpc-b"
            cross_zone_enabled = false
            [[load_balancer.zone_mapping]]
            zone_id = "cn-hangzhou-a"
            vswitch_id = "vsw-b"
            private_ipv4 = "10.0.1.200"
            [[load_balancer.zone_mapping]]
            zone_id = "cn-hangzhou-b"
            vswitch_id = "vsw-b"
            private_ipv4 = "10.0.1.201"
            [[server_group]]
            id = "sgp-1"
            vpc_id = "vpc-b"
            protocol = "TCP"
            [[server_group.server]]
            server_id = "10.0.1.30"
            server_type = "Ip"
            server_ip = "10.0.1.30"
            port = 80
            zone_id = "cn-hangzhou-a"
            [[server_group.server]]
            server_id = "10.0.1.31"
            server_type = "Ip"
            server_ip = "10.0.1.31"
            port = 80
            zone_id = "cn-hangzhou-b"
            [[listener]]
            id = "lsn-1"
            load_balancer_id = "nlb-1"
            protocol = "TCP"
            port = 80
            server_group_id = "sgp-1"
            "#,
        )
        .expect("the NLB fixture parses");
        m.load_balancers = lb.load_balancers;
        m.server_groups = lb.server_groups;
        m.listeners = lb.listeners;
        let meta = Meta {
            region_id: "cn-hangzhou".into(),
            ..Meta::default()
        };
        m.endpoint_services.push(EndpointService {
            id: "epsrv-1".into(),
            name: "com.aliyuncs.privatelink.cn-hangzhou.epsrv-1".into(),
            resource_type: Default::default(),
            resources: ["cn-hangzhou-a", "cn-hangzhou-b"]
                .iter()
                .map(|z| ServiceResource {
                    resource_id: "nlb-1".into(),
                    resource_type: Default::default(),
                    zone_id: z.to_string(),
                })
                .collect(),
            auto_accept_enabled: true,
            zone_affinity_enabled: true,
            users: vec![],
            status: Default::default(),
            connect_bandwidth: 3072,
            cloud_service: None,
            meta: meta.clone(),
        });
        m.vpc_endpoints.push(VpcEndpoint {
            id: "ep-1".into(),
            name: None,
            endpoint_type: Default::default(),
            vpc_id: "vpc-a".into(),
            service_id: "epsrv-1".into(),
            service_name: "com.aliyuncs.privatelink.cn-hangzhou.epsrv-1".into(),
            security_group_ids: vec![],
            zones: [
                ("cn-hangzhou-a", "vsw-a", "10.0.1.50"),
                ("cn-hangzhou-b", "vsw-a2", "10.0.2.50"),
            ]
            .iter()
            .map(|(z, v, ip)| EndpointZone {
                zone_id: z.to_string(),
                vswitch_id: v.to_string(),
                eni_id: format!("eni-ep-{z}"),
                eni_ip: ip.parse().unwrap(),
                status: EndpointZoneStatus::Connected,
            })
            .collect(),
            status: Default::default(),
            connection_status: ConnectionStatus::Connected,
            source_ip: None,
            bandwidth: 3072,
            policy_document: None,
            zone_affinity_enabled: true,
            protected_enabled: false,
            meta,
        });
        m
    }

    const EP_DOMAIN: &str = "ep-1.epsrv-1.cn-hangzhou.privatelink.aliyuncs.com";

    #[test]
    fn dns_1_endpoint_and_zone_domains_resolve_to_the_eni_addresses_in_the_consumer_vpc_only() {
        let m = endpoint_model();
        let r = compile(&m, &Unavailable::new());
        let mut all = a(&r.resolve("vpc-a", EP_DOMAIN, Some(ZoneRecordType::A)));
        all.sort();
        assert_eq!(
            all,
            [Ipv4Addr::new(10, 0, 1, 50), Ipv4Addr::new(10, 0, 2, 50)]
        );
        let zone_b = "ep-1-cn-hangzhou-b.epsrv-1.cn-hangzhou.privatelink.aliyuncs.com";
        assert_eq!(
            a(&r.resolve("vpc-a", zone_b, Some(ZoneRecordType::A))),
            [Ipv4Addr::new(10, 0, 2, 50)]
        );
        assert_eq!(
            r.resolve("vpc-b", EP_DOMAIN, Some(ZoneRecordType::A)).rcode,
            Rcode::NxDomain
        );
        // A zone not (yet) connected is not answered; no connection, no name.
        let mut m2 = endpoint_model();
        m2.vpc_endpoints[0].zones[1].status = EndpointZoneStatus::Wait;
        let r2 = compile(&m2, &Unavailable::new());
        assert_eq!(
            a(&r2.resolve("vpc-a", EP_DOMAIN, Some(ZoneRecordType::A))),
            [Ipv4Addr::new(10, 0, 1, 50)]
        );
        m2.vpc_endpoints[0].connection_status = ConnectionStatus::Disconnected;
        let r3 = compile(&m2, &Unavailable::new());
        assert_eq!(
            r3.resolve("vpc-a", EP_DOMAIN, Some(ZoneRecordType::A))
                .rcode,
            Rcode::NxDomain
        );
    }

    #[test]
    fn ep_7_a_zone_without_a_healthy_backend_drops_out_of_the_endpoint_domain() {
        let m = endpoint_model();
        let down = |ip: &str| ServerKey {
            group_id: "sgp-1".into(),
            ip: ip.parse().unwrap(),
            port: 80,
        };
        let r = compile(&m, &[down("10.0.1.30")].into_iter().collect());
        assert_eq!(
            a(&r.resolve("vpc-a", EP_DOMAIN, Some(ZoneRecordType::A))),
            [Ipv4Addr::new(10, 0, 2, 50)]
        );
        // The zone's own domain still names its ENI.
        let zone_a = "ep-1-cn-hangzhou-a.epsrv-1.cn-hangzhou.privatelink.aliyuncs.com";
        assert_eq!(
            a(&r.resolve("vpc-a", zone_a, Some(ZoneRecordType::A))),
            [Ipv4Addr::new(10, 0, 1, 50)]
        );
        // Both down: both answered (nothing better to give).
        let r = compile(
            &m,
            &[down("10.0.1.30"), down("10.0.1.31")].into_iter().collect(),
        );
        assert_eq!(
            a(&r.resolve("vpc-a", EP_DOMAIN, Some(ZoneRecordType::A))).len(),
            2
        );
        // Cross-zone balancing on: a zone's ENI reaches the other zone's backend.
        let mut cross = endpoint_model();
        cross.load_balancers[0].cross_zone_enabled = true;
        let r = compile(&cross, &[down("10.0.1.30")].into_iter().collect());
        assert_eq!(
            a(&r.resolve("vpc-a", EP_DOMAIN, Some(ZoneRecordType::A))).len(),
            2
        );
    }

    #[test]
    fn dns_2_a_custom_service_domain_resolves_to_the_endpoint_through_a_bound_private_zone() {
        let mut m = endpoint_model();
        m.private_zones.push(zone(
            "service.example.com",
            &["vpc-a"],
            &[("@", ZoneRecordType::CNAME, EP_DOMAIN, true)],
        ));
        let r = compile(&m, &Unavailable::new());
        let ans = r.resolve("vpc-a", "service.example.com", Some(ZoneRecordType::A));
        assert_eq!(ans.records[0].data, RData::Cname(EP_DOMAIN.into()));
        assert_eq!(a(&ans).len(), 2);
        assert_eq!(
            r.resolve("vpc-b", "service.example.com", Some(ZoneRecordType::A))
                .rcode,
            Rcode::NxDomain
        );
    }
}
