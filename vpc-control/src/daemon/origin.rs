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
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
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
    /// The endpoint (gateway, or interface of the cloud's service) the
    /// request came through, else None.
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
        // Gateway endpoints, and interface endpoints (of the cloud's
        // services: the others never reach the object store), with their
        // policies (POL-1, POL-4).
        let endpoints = model
            .gateway_endpoints
            .iter()
            .map(|e| (&e.id, &e.policy_document))
            .chain(model.vpc_endpoints.iter().map(|e| (&e.id, &e.policy_document)))
            .map(|(id, document)| {
                let n = model.numeric_id(id);
                let reused = previous
                    .and_then(|p| p.endpoints.get(&n))
                    .filter(|old| old.id == *id && old.document == *document)
                    .map(|old| old.policy.clone());
                let policy = reused.unwrap_or_else(|| {
                    document.as_deref().map(|d| {
                        match Policy::parse_for(d, PolicyUse::Endpoint) {
                            Ok(p) => Arc::new(p),
                            Err(err) => {
                                tracing::error!(endpoint = %id, error = %err, "the endpoint's stored policy does not parse: requests through it are denied");
                                deny_all()
                            }
                        }
                    })
                });
                (
                    n,
                    EndpointEntry {
                        id: id.clone(),
                        document: document.clone(),
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

/// The model's attribution table, rebuilt only when the committed model
/// changed (its generation, bumped by the service at each commit).
pub struct AttributionCache {
    /// The table and the model generation it was built at (None: never).
    table: RwLock<(Option<u64>, Arc<Attribution>)>,
    /// The committed model's generation ([`crate::service::Service::model_generation`]).
    generation: Arc<AtomicU64>,
    /// Calls its argument with the committed model; `wait` false: only if
    /// it can be had without waiting. Says whether it did.
    model: Box<ModelAccess>,
}

/// How [`AttributionCache`] reads the committed model: `(wait, f)` calls
/// `f` with it (`wait` false: only if it is at hand without waiting, e.g.
/// `try_lock` on the service) and says whether it did.
pub type ModelAccess = dyn Fn(bool, &dyn Fn(&Model)) -> bool + Send + Sync;

impl AttributionCache {
    /// A cache of the model `with_model` reads, whose changes `generation`
    /// counts.
    pub fn new(
        generation: Arc<AtomicU64>,
        with_model: impl Fn(bool, &dyn Fn(&Model)) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            table: RwLock::new((None, Arc::new(Attribution::default()))),
            generation,
            model: Box::new(with_model),
        }
    }

    /// The table of the committed model: the one at hand while the model's
    /// generation is the same (no lock), else rebuilt from the model
    /// (`force`: rebuilt whatever the generation). `None` when that needs
    /// the model and `wait` is false and the model is busy.
    fn table(&self, wait: bool, force: bool) -> Option<Arc<Attribution>> {
        // Read before the model: a model newer than `now` is rebuilt
        // again next time, never an older one kept.
        let now = self.generation.load(Ordering::Acquire);
        let current = {
            let t = self.table.read().unwrap_or_else(|e| e.into_inner());
            if t.0 == Some(now) && !force {
                return Some(t.1.clone());
            }
            t.1.clone()
        };
        let fresh = std::cell::RefCell::new(None);
        let read = (self.model)(wait, &|m: &Model| {
            *fresh.borrow_mut() = Some(Arc::new(Attribution::of(m, Some(&current))));
        });
        let fresh = fresh.into_inner().filter(|_| read)?;
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = (Some(now), fresh.clone());
        Some(fresh)
    }

    /// The source of a request on a connection from `peer` that came
    /// through the datapath as `origin` (None: not through an endpoint),
    /// in the committed model's terms. `wait` false: `None` if the table
    /// must be rebuilt and the model is busy.
    pub fn request(
        &self,
        peer: IpAddr,
        origin: Option<EndpointOrigin>,
        wait: bool,
    ) -> Option<RequestSource> {
        let Some(o) = origin else {
            return Some(RequestSource::direct(peer));
        };
        let mut table = self.table(wait, false)?;
        if !table.knows(&o) {
            // A VPC or endpoint newer than the committed model (the kernel
            // runs a change before its commit ends): wait for the commit
            // rather than judge without its policy.
            if !wait {
                return None;
            }
            table = self.table(true, true)?;
        }
        Some(table.attribute(peer, origin))
    }
}

/// The datapath lookup of the router the daemon drives (opened once) and
/// the model's attribution table ([`AttributionCache`]).
pub struct RouterOrigins {
    maps: EndpointOrigins<MapData>,
    attribution: AttributionCache,
}

impl RouterOrigins {
    /// Opens the pinned maps of the router of `router_ns`; `generation`
    /// changes whenever the committed model does, `with_model` reads it
    /// (see [`ModelAccess`]).
    pub fn open(
        router_ns: &str,
        generation: Arc<AtomicU64>,
        with_model: impl Fn(bool, &dyn Fn(&Model)) -> bool + Send + Sync + 'static,
    ) -> Result<Self, OriginError> {
        Ok(Self {
            maps: EndpointOrigins::open(router_ns)?,
            attribution: AttributionCache::new(generation, with_model),
        })
    }

    /// Where the TCP connection the service accepted from `peer` on `local`
    /// came in: the datapath's translation (None: not through an endpoint),
    /// fixed for the connection's life. A failed map read is logged and
    /// the peer taken as it is (no VPC: a policy conditioned on a VPC or
    /// endpoint then denies).
    pub fn connection(&self, peer: SocketAddr, local: SocketAddr) -> Option<EndpointOrigin> {
        let (SocketAddr::V4(p), SocketAddr::V4(l)) = (peer, local) else {
            return None;
        };
        match self.maps.lookup(
            SocketAddrV4::new(*p.ip(), p.port()),
            SocketAddrV4::new(*l.ip(), l.port()),
        ) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "gateway endpoint origin lookup failed: taken as a direct peer");
                None
            }
        }
    }

    /// The model's side: what a [`Self::connection`]'s origin is for
    /// each request ([`AttributionCache::request`]).
    pub fn attribution(&self) -> &AttributionCache {
        &self.attribution
    }

    /// [`Self::connection`] then the attribution's request, waiting: the source of
    /// one request on a connection from `peer` to `local`.
    pub fn source(&self, peer: SocketAddr, local: SocketAddr) -> RequestSource {
        let origin = self.connection(peer, local);
        self.attribution
            .request(peer.ip(), origin, true)
            .unwrap_or_else(|| RequestSource::direct(peer.ip()))
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

    /// A cache over a model behind a mutex, counting its reads; `busy`
    /// makes a read without waiting fail.
    struct Host {
        model: Arc<std::sync::Mutex<Model>>,
        generation: Arc<AtomicU64>,
        reads: Arc<std::sync::atomic::AtomicUsize>,
        busy: Arc<std::sync::atomic::AtomicBool>,
        cache: AttributionCache,
    }

    fn host(m: Model) -> Host {
        let model = Arc::new(std::sync::Mutex::new(m));
        let generation = Arc::new(AtomicU64::new(0));
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cache = {
            let (model, reads, busy) = (model.clone(), reads.clone(), busy.clone());
            AttributionCache::new(generation.clone(), move |wait, f| {
                if !wait && busy.load(Ordering::Relaxed) {
                    return false;
                }
                reads.fetch_add(1, Ordering::Relaxed);
                f(&model.lock().unwrap());
                true
            })
        };
        Host { model, generation, reads, busy, cache }
    }

    #[test]
    fn the_table_is_read_from_the_model_again_only_when_its_generation_changed() {
        let m = Model::from_toml(MODEL).unwrap();
        let o = origin(&m, "vpce-b");
        let h = host(m);
        let peer = IpAddr::V4(Ipv4Addr::new(100, 127, 3, 5));
        for _ in 0..3 {
            let s = h.cache.request(peer, Some(o), false).expect("not busy");
            assert_eq!(s.endpoint_id.as_deref(), Some("vpce-b"));
            assert!(s.endpoint_policy.is_none());
        }
        assert_eq!(h.reads.load(Ordering::Relaxed), 1, "one read for three requests");
        // A policy set on vpce-b applies to the next request once the
        // generation says the model changed.
        h.model.lock().unwrap().gateway_endpoints[1].policy_document = Some(
            r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"oss:*","Resource":"*","Principal":"*"}]}"#.into(),
        );
        h.generation.fetch_add(1, Ordering::Release);
        let s = h.cache.request(peer, Some(o), false).unwrap();
        assert!(s.endpoint_policy.is_some(), "the new policy");
        assert_eq!(h.reads.load(Ordering::Relaxed), 2);
        // A peer that came through no endpoint needs no table at all.
        let s = h.cache.request(peer, None, false).unwrap();
        assert!(s.endpoint_id.is_none() && s.vpc_id.is_none());
        assert_eq!(h.reads.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_stale_table_and_a_busy_model_wait_rather_than_judge_by_the_old_policy() {
        let m = Model::from_toml(MODEL).unwrap();
        let o = origin(&m, "vpce-a");
        let h = host(m);
        let peer = IpAddr::V4(Ipv4Addr::new(100, 127, 3, 4));
        assert!(h.cache.request(peer, Some(o), false).is_some());
        h.generation.fetch_add(1, Ordering::Release);
        h.busy.store(true, Ordering::Relaxed);
        assert!(h.cache.request(peer, Some(o), false).is_none(), "must wait");
        let s = h.cache.request(peer, Some(o), true).expect("waited");
        assert_eq!(s.endpoint_id.as_deref(), Some("vpce-a"));
    }

    #[test]
    fn an_endpoint_newer_than_the_table_is_read_from_the_model_whatever_the_generation() {
        let m = Model::from_toml(MODEL).unwrap();
        let h = host(m);
        let peer = IpAddr::V4(Ipv4Addr::new(100, 127, 3, 6));
        let first = origin(&h.model.lock().unwrap(), "vpce-a");
        assert!(h.cache.request(peer, Some(first), false).is_some());
        // The kernel runs an endpoint before the service's commit ends (and
        // bumps the generation): the table does not know it yet.
        let newer = {
            let mut m = h.model.lock().unwrap();
            let mut e = m.gateway_endpoints[1].clone();
            e.id = "vpce-c".into();
            m.gateway_endpoints.push(e);
            m.allocate_numeric_ids();
            origin(&m, "vpce-c")
        };
        assert!(h.cache.request(peer, Some(newer), false).is_none(), "not judged without it");
        let s = h.cache.request(peer, Some(newer), true).unwrap();
        assert_eq!(s.endpoint_id.as_deref(), Some("vpce-c"));
    }
}
