//! The lab's object storage service: the OSS REST API as the official SDKs
//! (oss2, alibabacloud-oss-v2) speak it, on the daemon's access keys (an
//! account owns its buckets). See docs/object-storage.md.
//!
//! - [`storage`]: buckets and objects on disk, durable before the answer;
//! - [`signature`]: V1 and V4 signatures, headers and signed URLs;
//! - [`http`]: requests in, answers out (addressing, operations, errors);
//! - [`listing`]: ListObjects and ListObjectsV2;
//! - [`xml`]: answers' XML, request bodies' XML, `encoding-type=url`.
//!
//! The host (the daemon) accepts connections and tells, through
//! [`Origins`], where each came from: a gateway endpoint (its VPC, its id
//! and its policy) or the internet; [`serve`] does the rest.
pub mod error;
pub mod http;
pub mod listing;
pub mod policy;
pub mod signature;
pub mod storage;
pub mod xml;

use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
    sync::Arc,
    time::Duration,
};

pub use error::OssError;
use tokio::net::TcpListener;

use crate::api::signature::AccessKey;

/// Largest object this lab service stores (OSS's own limit for PutObject
/// is 5 GiB; the lab keeps its disk).
pub const MAX_OBJECT_BYTES: u64 = 1 << 30;

/// Where one connection came from, as the host tells it.
#[derive(Clone, Debug)]
pub struct RequestOrigin {
    /// The client's address as the service should see it (for endpoint
    /// traffic: the instance's own address, not the translated one).
    pub source_ip: IpAddr,
    /// The VPC, when the connection came through a gateway endpoint.
    pub vpc_id: Option<String>,
    /// The gateway endpoint it came through.
    pub endpoint_id: Option<String>,
    /// That endpoint's policy (None: the default, allow everything).
    pub endpoint_policy: Option<Arc<crate::access_policy::Policy>>,
}

impl RequestOrigin {
    /// A connection from the internet (or a test on the loopback).
    pub fn direct(source_ip: IpAddr) -> Self {
        Self {
            source_ip,
            vpc_id: None,
            endpoint_id: None,
            endpoint_policy: None,
        }
    }
}

impl RequestOrigin {
    /// A connection that came through gateway endpoint `endpoint_id` of
    /// `vpc_id` from the instance address `source_ip`, with the endpoint's
    /// policy document (None: none set, allow everything). Parsed documents
    /// are kept (a few dozen), so that a request does not parse its
    /// endpoint's policy again; a document that does not parse (it was
    /// validated when set) denies everything rather than nothing.
    pub fn through_endpoint(
        source_ip: IpAddr,
        vpc_id: String,
        endpoint_id: String,
        policy_document: Option<&str>,
    ) -> Self {
        use crate::access_policy::{Policy, PolicyUse};
        static PARSED: std::sync::Mutex<Vec<(String, Arc<Policy>)>> =
            std::sync::Mutex::new(Vec::new());
        let endpoint_policy = policy_document.map(|doc| {
            let mut parsed = PARSED.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, p)) = parsed.iter().find(|(d, _)| d == doc) {
                return p.clone();
            }
            let p = Arc::new(Policy::parse_for(doc, PolicyUse::Endpoint).unwrap_or_else(|e| {
                tracing::warn!(endpoint = endpoint_id, error = %e, "an endpoint policy does not parse: it denies everything");
                Policy::parse(r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"*","Principal":"*","Resource":"*"}]}"#)
                    .expect("the deny-all document parses")
            }));
            if parsed.len() >= 64 {
                parsed.remove(0);
            }
            parsed.push((doc.to_string(), p.clone()));
            p
        });
        Self {
            source_ip,
            vpc_id: Some(vpc_id),
            endpoint_id: Some(endpoint_id),
            endpoint_policy,
        }
    }
}

impl RequestOrigin {
    /// A connection from the endpoint block that no endpoint accounts for
    /// (deleted meanwhile, or the lookup failed): refused by an endpoint
    /// policy that denies everything, never taken for the internet.
    pub fn unattributed_endpoint(source_ip: IpAddr) -> Self {
        use crate::access_policy::Policy;
        static DENY_ALL: std::sync::OnceLock<Arc<Policy>> = std::sync::OnceLock::new();
        let deny = DENY_ALL.get_or_init(|| {
            Arc::new(
                Policy::parse(
                    r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"*","Principal":"*","Resource":"*"}]}"#,
                )
                .expect("the deny-all document parses"),
            )
        });
        Self {
            source_ip,
            vpc_id: None,
            endpoint_id: Some(String::new()),
            endpoint_policy: Some(deny.clone()),
        }
    }
}

/// The host's knowledge of where connections come from.
pub trait Origins: Send + Sync + 'static {
    /// Where the connection from `peer` to `local` came from: looked up
    /// once, when it is accepted (it may block: [`serve`] calls it off the
    /// async workers).
    fn connection(&self, peer: SocketAddr, local: SocketAddr) -> Arc<dyn ConnectionOrigin>;
}

/// One connection's origin, asked again for each request on it: what
/// depends on the host's configuration (an endpoint's policy, an endpoint
/// deleted meanwhile) applies from the next request on.
pub trait ConnectionOrigin: Send + Sync {
    /// The origin of the connection's next request. `wait` false: `None`
    /// if it cannot be had without blocking (the host's configuration is
    /// being changed), then [`serve`] asks again with `wait` true, off the
    /// async workers, which always gives `Some`.
    fn request(&self, wait: bool) -> Option<RequestOrigin>;
}

/// A connection whose origin is the same for every request.
pub struct FixedOrigin(pub RequestOrigin);

impl ConnectionOrigin for FixedOrigin {
    fn request(&self, _wait: bool) -> Option<RequestOrigin> {
        Some(self.0.clone())
    }
}

/// Connections straight to the service: the source is the peer, no VPC.
pub struct DirectOrigins;

impl Origins for DirectOrigins {
    fn connection(&self, peer: SocketAddr, _local: SocketAddr) -> Arc<dyn ConnectionOrigin> {
        Arc::new(FixedOrigin(RequestOrigin::direct(peer.ip())))
    }
}

/// The service: its storage, the access keys it accepts and its region.
pub struct ObjectStore {
    storage: storage::Storage,
    keys: Vec<AccessKey>,
    region: String,
    max_object_bytes: u64,
    /// Told every bucket's name after a bucket is created or deleted.
    buckets_changed: std::sync::OnceLock<BucketsChanged>,
}

/// What the host does with the names of the buckets (e.g. names them in
/// the instances' hosts files for virtual-host addressing).
type BucketsChanged = Box<dyn Fn(Vec<String>) + Send + Sync>;

impl ObjectStore {
    /// Opens the service's storage under `dir` (created if missing).
    pub fn open(dir: &Path, keys: Vec<AccessKey>, region: &str) -> std::io::Result<Self> {
        Ok(Self {
            storage: storage::Storage::open(dir)?,
            keys,
            region: region.to_string(),
            max_object_bytes: MAX_OBJECT_BYTES,
            buckets_changed: std::sync::OnceLock::new(),
        })
    }

    /// Calls `f` with every bucket's name now, and again each time a
    /// bucket is created or deleted, before that request is answered (so a
    /// client may use the bucket's own host name at once). Set once.
    pub fn on_buckets_changed(&self, f: impl Fn(Vec<String>) + Send + Sync + 'static) {
        if self.buckets_changed.set(Box::new(f)).is_ok() {
            self.buckets_changed_now();
        }
    }

    /// Tells [`Self::on_buckets_changed`]'s callback the buckets there are.
    pub(crate) fn buckets_changed_now(&self) {
        if let Some(f) = self.buckets_changed.get() {
            f(self.storage.read(|b| b.keys().cloned().collect()));
        }
    }

    /// The region the service runs in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The public endpoint's host name, `oss-<region>.aliyuncs.com`.
    pub fn public_host(&self) -> String {
        format!("oss-{}.aliyuncs.com", self.region)
    }

    /// The internal endpoint's host name, `oss-<region>-internal.aliyuncs.com`.
    pub fn internal_host(&self) -> String {
        format!("oss-{}-internal.aliyuncs.com", self.region)
    }
}

/// Connections served at once by one listener.
const MAX_CONNECTIONS: usize = 512;
/// From a request's first byte to the end of its headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `listener` until the future is dropped (which ends its
/// connections too): HTTP/1.1 with keep-alive,
/// the origin of each request asked of `origins` (by the connection's peer
/// and local addresses). On a multi-thread runtime the fsyncs of a write
/// leave the worker's other tasks to the other workers.
pub async fn serve(listener: TcpListener, service: Arc<ObjectStore>, origins: Arc<dyn Origins>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    // The connections, ended with the listener when this future is dropped
    // (a namespace going away must not be held alive by them).
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(_) = connections.join_next() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "object storage: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Full: the connection is closed unread.
            drop(stream);
            continue;
        };
        let local = stream.local_addr().unwrap_or(peer);
        let service = service.clone();
        let origins = origins.clone();
        connections.spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            // Looked up once per connection, off the async workers (the
            // host may read the kernel's maps).
            let connection: Arc<dyn ConnectionOrigin> =
                match tokio::task::spawn_blocking(move || origins.connection(peer, local)).await {
                    Ok(c) => c,
                    Err(_) => Arc::new(FixedOrigin(RequestOrigin::unattributed_endpoint(peer.ip()))),
                };
            let svc = hyper::service::service_fn(move |req| {
                let (service, connection) = (service.clone(), connection.clone());
                async move {
                    // Asked per request (an endpoint policy changed while a
                    // connection stays open applies to its next request);
                    // when that needs the host's lock, off the async workers.
                    let origin = match connection.request(false) {
                        Some(o) => o,
                        None => tokio::task::spawn_blocking(move || connection.request(true))
                            .await
                            .ok()
                            .flatten()
                            .unwrap_or_else(|| RequestOrigin::unattributed_endpoint(peer.ip())),
                    };
                    Ok::<_, std::convert::Infallible>(http::handle(&service, &origin, req).await)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "object storage connection ended");
            }
        });
    }
}
