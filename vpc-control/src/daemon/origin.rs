//! Where a request to the object storage service came from, in the
//! model's terms: the datapath's lookup
//! ([`crate::datapath::origin::EndpointOrigins`]) gives the instance's
//! address and the numeric ids of its VPC and endpoint; an [`Attribution`]
//! (built from the committed model) maps them to the VPC id, the endpoint
//! id and the endpoint's parsed policy. A peer no endpoint translated (the
//! internet, the services network itself) keeps its own address and has no
//! VPC.
//!
//! Wiring into the object store (its `Origins` trait): hold a
//! [`RouterOrigins`], call [`RouterOrigins::source`] from `origin(peer,
//! local)` and copy the four fields into its `RequestOrigin`.
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4},
    sync::{Arc, RwLock},
};

use aya::maps::MapData;

use crate::{
    access_policy::{Policy, PolicyUse},
    datapath::origin::{EndpointOrigin, EndpointOrigins, OriginError},
    model::Model,
};

/// A request's source as the policies see it (`acs:SourceIp`,
/// `acs:SourceVpc`, the endpoint id and the endpoint's policy).
#[derive(Clone, Debug)]
pub struct RequestSource {
    /// The instance's private address through an endpoint; else the peer's
    /// address (e.g. a public IP over the lab internet).
    pub source_ip: IpAddr,
    /// The instance's VPC (through an endpoint), else None.
    pub vpc_id: Option<String>,
    /// The gateway endpoint the request came through, else None.
    pub endpoint_id: Option<String>,
    /// That endpoint's policy; None: none set (the default, full access,
    /// POL-2) or no endpoint.
    pub endpoint_policy: Option<Arc<Policy>>,
}

impl RequestSource {
    /// A request straight from `ip` (no endpoint).
    pub fn direct(ip: IpAddr) -> Self {
        Self {
            source_ip: ip,
            vpc_id: None,
            endpoint_id: None,
            endpoint_policy: None,
        }
    }
}

/// One gateway endpoint as requests through it are judged.
#[derive(Clone, Debug)]
struct EndpointEntry {
    id: String,
    /// The stored document, to reuse its parse while it is unchanged.
    document: Option<String>,
    policy: Option<Arc<Policy>>,
}

/// The model's VPCs and gateway endpoints by numeric id.
#[derive(Clone, Debug, Default)]
pub struct Attribution {
    vpcs: BTreeMap<u32, String>,
    endpoints: BTreeMap<u32, EndpointEntry>,
}

/// The policy that denies everything (an explicit Deny of every OSS
/// action), for a stored endpoint document that no longer parses: fail
/// closed.
fn deny_all() -> Arc<Policy> {
    Arc::new(
        Policy::parse_for(
            r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"oss:*","Resource":"*"}]}"#,
            PolicyUse::Endpoint,
        )
        .expect("the deny-all policy parses"),
    )
}

impl Attribution {
    /// The table of `model`, reusing the parsed policies of `previous`
    /// whose documents did not change.
    pub fn of(model: &Model, previous: Option<&Attribution>) -> Self {
        let vpcs = model
            .vpcs
            .iter()
            .map(|v| (model.numeric_id(&v.id), v.id.clone()))
            .collect();
        let endpoints = model
            .gateway_endpoints
            .iter()
            .map(|e| {
                let n = model.numeric_id(&e.id);
                let reused = previous
                    .and_then(|p| p.endpoints.get(&n))
                    .filter(|old| old.id == e.id && old.document == e.policy_document)
                    .map(|old| old.policy.clone());
                let policy = reused.unwrap_or_else(|| {
                    e.policy_document.as_deref().map(|d| {
                        match Policy::parse_for(d, PolicyUse::Endpoint) {
                            Ok(p) => Arc::new(p),
                            Err(err) => {
                                tracing::error!(endpoint = %e.id, error = %err, "the endpoint's stored policy does not parse: requests through it are denied");
                                deny_all()
                            }
                        }
                    })
                });
                (
                    n,
                    EndpointEntry {
                        id: e.id.clone(),
                        document: e.policy_document.clone(),
                        policy,
                    },
                )
            })
            .collect();
        Self { vpcs, endpoints }
    }

    /// True if the table names `o`'s VPC and endpoint.
    fn knows(&self, o: &EndpointOrigin) -> bool {
        self.vpcs.contains_key(&o.vpc_numeric_id)
            && self.endpoints.contains_key(&o.endpoint_numeric_id)
    }

    /// Maps a datapath origin (or none) of a connection from `peer` to the
    /// model's ids. An endpoint or VPC deleted since the connection opened
    /// leaves its field None (the request is then judged as from no VPC).
    pub fn attribute(&self, peer: IpAddr, origin: Option<EndpointOrigin>) -> RequestSource {
        let Some(o) = origin else {
            return RequestSource::direct(peer);
        };
        let endpoint = self.endpoints.get(&o.endpoint_numeric_id);
        RequestSource {
            source_ip: IpAddr::V4(o.source_ip),
            vpc_id: self.vpcs.get(&o.vpc_numeric_id).cloned(),
            endpoint_id: endpoint.map(|e| e.id.clone()),
            endpoint_policy: endpoint.and_then(|e| e.policy.clone()),
        }
    }
}

/// The datapath lookup of the router the daemon drives (opened once) and
/// the model's attribution table (refreshed from the committed model).
pub struct RouterOrigins {
    maps: EndpointOrigins<MapData>,
    table: RwLock<Arc<Attribution>>,
    /// Calls its argument with the committed model; `wait` false: only if
    /// it can be had without waiting. Says whether it did.
    model: Box<ModelAccess>,
}

/// How [`RouterOrigins`] reads the committed model: `(wait, f)` calls `f`
/// with it (`wait` false: only if it is at hand without waiting, e.g.
/// `try_lock` on the service) and says whether it did.
pub type ModelAccess = dyn Fn(bool, &dyn Fn(&Model)) -> bool + Send + Sync;

impl RouterOrigins {
    /// Opens the pinned maps of the router of `router_ns`; `with_model`
    /// reads the committed model (see [`ModelAccess`]).
    pub fn open(
        router_ns: &str,
        with_model: impl Fn(bool, &dyn Fn(&Model)) -> bool + Send + Sync + 'static,
    ) -> Result<Self, OriginError> {
        Ok(Self {
            maps: EndpointOrigins::open(router_ns)?,
            table: RwLock::new(Arc::new(Attribution::default())),
            model: Box::new(with_model),
        })
    }

    /// The table, refreshed from the committed model when it is at hand
    /// (`wait`: waiting for it).
    fn table(&self, wait: bool) -> Arc<Attribution> {
        let current = self.table.read().unwrap_or_else(|e| e.into_inner()).clone();
        let fresh = std::cell::RefCell::new(None);
        (self.model)(wait, &|m: &Model| {
            *fresh.borrow_mut() = Some(Arc::new(Attribution::of(m, Some(&current))));
        });
        match fresh.into_inner() {
            Some(t) => {
                *self.table.write().unwrap_or_else(|e| e.into_inner()) = t.clone();
                t
            }
            None => current,
        }
    }

    /// The source of a TCP connection the service accepted from `peer` on
    /// `local`. A failed map read is logged and the peer taken as it is (no
    /// VPC: a policy conditioned on a VPC or endpoint then denies).
    pub fn source(&self, peer: SocketAddr, local: SocketAddr) -> RequestSource {
        let (SocketAddr::V4(p), SocketAddr::V4(l)) = (peer, local) else {
            return RequestSource::direct(peer.ip());
        };
        let origin = match self.maps.lookup(
            SocketAddrV4::new(*p.ip(), p.port()),
            SocketAddrV4::new(*l.ip(), l.port()),
        ) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "gateway endpoint origin lookup failed: taken as a direct peer");
                None
            }
        };
        let Some(o) = origin else {
            return RequestSource::direct(IpAddr::V4(*p.ip()));
        };
        let mut table = self.table(false);
        if !table.knows(&o) {
            // A VPC or endpoint newer than the table (the service was busy):
            // wait for the model rather than judge without its policy.
            table = self.table(true);
        }
        table.attribute(IpAddr::V4(*p.ip()), origin)
    }
}

/// [`Attribution::attribute`] of a one-off table of `model`.
pub fn attribute(model: &Model, peer: Ipv4Addr, origin: Option<EndpointOrigin>) -> RequestSource {
    Attribution::of(model, None).attribute(IpAddr::V4(peer), origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = r#"
[[vpc]]
id = "vpc-a"
cidr_block = "10.0.0.0/16"
[[gateway_endpoint]]
id = "vpce-a"
vpc_id = "vpc-a"
service_name = "com.aliyun.cn-hangzhou.oss"
policy_document = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:GetObject","Resource":"*","Principal":"*"}]}'
[[gateway_endpoint]]
id = "vpce-b"
vpc_id = "vpc-a"
service_name = "com.aliyun.cn-hangzhou.oss"
"#;

    fn origin(m: &Model, endpoint: &str) -> EndpointOrigin {
        EndpointOrigin {
            source_ip: Ipv4Addr::new(10, 0, 1, 10),
            source_port: 40000,
            vpc_numeric_id: m.numeric_id("vpc-a"),
            endpoint_numeric_id: m.numeric_id(endpoint),
        }
    }

    #[test]
    fn an_endpoint_origin_names_the_vpc_the_endpoint_and_its_parsed_policy() {
        let m = Model::from_toml(MODEL).unwrap();
        let s = attribute(
            &m,
            Ipv4Addr::new(100, 127, 3, 4),
            Some(origin(&m, "vpce-a")),
        );
        assert_eq!(s.source_ip, IpAddr::V4(Ipv4Addr::new(10, 0, 1, 10)));
        assert_eq!(s.vpc_id.as_deref(), Some("vpc-a"));
        assert_eq!(s.endpoint_id.as_deref(), Some("vpce-a"));
        assert!(s.endpoint_policy.is_some(), "the endpoint's policy");
        let s = attribute(
            &m,
            Ipv4Addr::new(100, 127, 3, 5),
            Some(origin(&m, "vpce-b")),
        );
        assert_eq!(s.endpoint_id.as_deref(), Some("vpce-b"));
        assert!(
            s.endpoint_policy.is_none(),
            "no document: the default, full access"
        );
    }

    #[test]
    fn a_peer_no_endpoint_translated_keeps_its_address_and_has_no_vpc() {
        let m = Model::from_toml(MODEL).unwrap();
        let s = attribute(&m, Ipv4Addr::new(192, 0, 2, 31), None);
        assert_eq!(s.source_ip, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 31)));
        assert!(s.vpc_id.is_none() && s.endpoint_id.is_none() && s.endpoint_policy.is_none());
    }

    #[test]
    fn an_unchanged_document_keeps_its_parse_and_a_changed_one_is_parsed_again() {
        let m = Model::from_toml(MODEL).unwrap();
        let first = Attribution::of(&m, None);
        let again = Attribution::of(&m, Some(&first));
        let n = m.numeric_id("vpce-a");
        assert!(Arc::ptr_eq(
            first.endpoints[&n].policy.as_ref().unwrap(),
            again.endpoints[&n].policy.as_ref().unwrap()
        ));
        let mut changed = m.clone();
        changed.gateway_endpoints[0].policy_document = Some(
            r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"oss:*","Resource":"*","Principal":"*"}]}"#.into(),
        );
        let after = Attribution::of(&changed, Some(&again));
        assert!(!Arc::ptr_eq(
            again.endpoints[&n].policy.as_ref().unwrap(),
            after.endpoints[&n].policy.as_ref().unwrap()
        ));
    }

    #[test]
    fn a_stored_document_that_does_not_parse_denies_instead_of_allowing() {
        let mut m = Model::from_toml(MODEL).unwrap();
        m.gateway_endpoints[0].policy_document = Some("{not json".into());
        let s = attribute(
            &m,
            Ipv4Addr::new(100, 127, 3, 4),
            Some(origin(&m, "vpce-a")),
        );
        assert!(
            s.endpoint_policy.is_some(),
            "a deny-all policy, not the default allow"
        );
    }
}
