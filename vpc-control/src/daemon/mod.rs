//! `vpc daemon`: owns the router namespace, its programs and maps, and
//! serves the cloud's RPC-style API over HTTP (`--listen`, signed with
//! ACS3-HMAC-SHA256 or with the older SDKs' RPC signature V1) and over a
//! root-only Unix socket (the local administrator, no signature), served
//! on a thread and runtime of its own; `/metrics` on `--metrics-listen` and
//! the socket, never on the API listener. [`serve`] keeps the connection
//! limits and timeouts that let no client lock the daemon out.
//! Readiness (the listeners, and sd_notify READY=1) comes only after the
//! stored state is in the kernel and the programs are attached.
mod dns;
mod health;
pub mod metrics;
pub mod origin;
pub mod serve;
use std::{
    net::SocketAddr,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use axum::{
    Router as HttpRouter,
    body::Bytes,
    extract::{Extension, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use serde_json::Value;
use thiserror::Error;
use tokio::net::{TcpListener, UnixListener};

use crate::{
    api::{
        ApiError, Caller,
        form::Form,
        new_request_id,
        signature::{self, AccessKey, Verifier},
    },
    apply::Router,
    ebpf_log,
    object_store::{self, DirectOrigins, ObjectStore},
    service::{Service, ServiceError},
    stats,
    store::Store,
    sweep::TableUse,
};

/// How the daemon is started.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Unix socket path (created mode 0600).
    pub socket: PathBuf,
    /// Directory of the state database.
    pub state_dir: PathBuf,
    /// Router namespace.
    pub namespace: String,
    /// RegionId of resources created without one.
    pub region_id: String,
    /// The zones of that region (DescribeZones); empty: `<region>-a` and
    /// `<region>-b`.
    pub zones: Vec<String>,
    /// Access keys accepted on HTTP.
    pub access_keys: Vec<AccessKey>,
    /// Slots of the direct route stage (see [`crate::datapath::DIRECT_SLOTS`]).
    pub direct_route_slots: u32,
    /// The program type of the router ports.
    pub datapath_mode: crate::datapath::Mode,
    /// Refuse parameters no action has (else logged and ignored).
    pub strict_parameters: bool,
    /// Tracked connections one ENI and one VPC may hold.
    pub conntrack_quota: vpc_common::ConntrackQuota,
    /// Where `/metrics` is served on its own (None: only on the Unix socket).
    pub metrics_listen: Option<SocketAddr>,
    /// Connections, timeouts and sizes of the listeners.
    pub bounds: Bounds,
    /// Where the object storage service is also served, straight (no
    /// router in the way: requests come from the internet, no VPC).
    pub object_store_listen: Vec<SocketAddr>,
}

/// What one client may hold of the daemon (also `vpc daemon`'s flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Bounds {
    /// HTTP connections open at once (lowered to what the open-file
    /// limit allows beside the Unix socket's).
    #[arg(long, env = "VPC_MAX_CONNECTIONS", default_value_t = Bounds::default().max_connections)]
    pub max_connections: usize,
    /// HTTP connections open at once from one source address; more are
    /// refused (503) before anything is read.
    #[arg(long, env = "VPC_MAX_CONNECTIONS_PER_SOURCE", default_value_t = Bounds::default().max_connections_per_source)]
    pub max_connections_per_source: usize,
    /// Unix socket connections open at once (served apart from HTTP).
    #[arg(long, env = "VPC_SOCKET_MAX_CONNECTIONS", default_value_t = Bounds::default().socket_max_connections)]
    pub socket_max_connections: usize,
    /// Seconds from a request's first byte to the end of its headers.
    #[arg(long, env = "VPC_HEADER_TIMEOUT", default_value = "10", value_parser = serve::parse_seconds)]
    pub header_timeout: std::time::Duration,
    /// Seconds to receive a request's body (408 after them).
    #[arg(long, env = "VPC_BODY_TIMEOUT", default_value = "30", value_parser = serve::parse_seconds)]
    pub body_timeout: std::time::Duration,
    /// Seconds a connection may wait for its next request.
    #[arg(long, env = "VPC_IDLE_TIMEOUT", default_value = "60", value_parser = serve::parse_seconds)]
    pub idle_timeout: std::time::Duration,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, env = "VPC_MAX_BODY_BYTES", default_value_t = Bounds::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Largest request line and headers in bytes (at least 8192).
    #[arg(long, env = "VPC_MAX_HEADER_BYTES", default_value_t = Bounds::default().max_header_bytes)]
    pub max_header_bytes: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_connections_per_source: 64,
            socket_max_connections: 64,
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(30),
            idle_timeout: std::time::Duration::from_secs(60),
            max_body_bytes: 1 << 20,
            max_header_bytes: 64 << 10,
        }
    }
}

/// Connections the metrics listener holds at once.
const METRICS_MAX_CONNECTIONS: usize = 16;

/// Why the daemon stopped.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The state or the kernel could not be brought up.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The router could not be opened.
    #[error("opening the router failed: {0}")]
    Router(#[from] crate::apply::ApplyError),
    /// The state store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The sweeper's handles on the connection tables could not be opened.
    #[error(transparent)]
    Sweep(#[from] crate::sweep::SweepError),
    /// A listener could not be bound or served.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// A blocking task panicked.
    #[error("start-up task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The router's gateway endpoint origins could not be opened.
    #[error("opening the gateway endpoint origins: {0}")]
    Origins(#[from] crate::datapath::origin::OriginError),
    /// The object storage service's files could not be opened.
    #[error("opening the object storage under {dir}: {source}")]
    ObjectStore {
        dir: PathBuf,
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// Shared by every connection.
struct App {
    service: Mutex<Service>,
    verifier: Verifier,
    admin_account: String,
    /// Table use as the last sweep found it (none before the first).
    tables: Mutex<Option<TableUse>>,
    /// A task removes the entries of replaced policies once their grace
    /// has passed (set and cleared under the service lock).
    retired_cleanup: std::sync::atomic::AtomicBool,
    /// Request bodies: largest size and time to read.
    max_body_bytes: usize,
    body_timeout: std::time::Duration,
}

impl App {
    fn service(&self) -> std::sync::MutexGuard<'_, Service> {
        // A panic inside a call left the committed model intact (calls work
        // on a draft): carry on with it.
        self.service.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The object store's view of where connections come from: the router's
/// gateway endpoint origins ([`origin::RouterOrigins`]). A peer from the
/// endpoint source block that no endpoint accounts for (deleted meanwhile,
/// or the lookup failed) is refused by an endpoint policy that denies
/// everything, never taken for the internet.
struct EndpointOrigins {
    router: Arc<origin::RouterOrigins>,
    endpoint_block: ipnet::Ipv4Net,
}

/// One connection as [`EndpointOrigins`] saw it when it was accepted.
struct EndpointConnection {
    router: Arc<origin::RouterOrigins>,
    endpoint_block: ipnet::Ipv4Net,
    peer: SocketAddr,
    origin: Option<crate::datapath::origin::EndpointOrigin>,
}

impl object_store::Origins for EndpointOrigins {
    fn connection(
        &self,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Arc<dyn object_store::ConnectionOrigin> {
        Arc::new(EndpointConnection {
            router: self.router.clone(),
            endpoint_block: self.endpoint_block,
            peer,
            origin: self.router.connection(peer, local),
        })
    }
}

impl object_store::ConnectionOrigin for EndpointConnection {
    fn request(&self, wait: bool) -> Option<object_store::RequestOrigin> {
        let s = self
            .router
            .attribution()
            .request(self.peer.ip(), self.origin, wait)?;
        if s.endpoint_id.is_none()
            && matches!(self.peer.ip(), std::net::IpAddr::V4(ip) if self.endpoint_block.contains(&ip))
        {
            tracing::warn!(peer = %self.peer, "an endpoint connection no endpoint accounts for: refused");
            return Some(object_store::RequestOrigin::unattributed_endpoint(self.peer.ip()));
        }
        Some(object_store::RequestOrigin {
            source_ip: s.source_ip,
            vpc_id: s.vpc_id,
            endpoint_id: s.endpoint_id,
            endpoint_policy: s.endpoint_policy,
        })
    }
}

/// Which listener a request came in on.
#[derive(Clone, Copy)]
enum Origin {
    Http,
    Unix,
}

/// Runs the daemon until SIGINT or SIGTERM. The programs stay attached and
/// the maps pinned when it stops: forwarding goes on without it.
pub async fn run(config: Config) -> Result<(), DaemonError> {
    let started = std::time::Instant::now();
    // The datapath's clock is measured while the store opens.
    crate::datapath::clock::prime();
    let store = Store::open(&config.state_dir)?;
    let store_opened = started.elapsed();
    let ns = config.namespace.clone();
    let slots = config.direct_route_slots;
    let mode = config.datapath_mode;
    let mut router =
        tokio::task::spawn_blocking(move || Router::open_with(&ns, slots, mode)).await??;
    router
        .datapath_mut()
        .set_conntrack_quota(config.conntrack_quota)
        .map_err(crate::apply::ApplyError::from)?;
    let router_opened = started.elapsed();
    let mut sweeper = router.datapath().sweeper()?;
    if let Some(logger) = router.datapath_mut().take_logger() {
        tokio::spawn(async move {
            let Err(e) = ebpf_log::forward(logger).await;
            tracing::warn!(error = %e, "eBPF log forwarding stopped");
        });
    }
    let region = config.region_id.clone();
    let mut service =
        tokio::task::spawn_blocking(move || Service::open(store, Some(router), &region)).await??;
    // Start-up converge done: a fault injected for the tests hits an action.
    crate::apply::fault::arm();
    service.set_strict(config.strict_parameters);
    // A security group change is not held up by the grace its replaced
    // policy's entries get: a task removes them after it.
    if let Some(r) = service.router_mut() {
        r.set_defer_retired(true);
    }
    service.set_zones(config.zones.clone());
    service.set_endpoint(config.listen.to_string());
    {
        let m = service.model();
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        tracing::info!(
            vpcs = m.vpcs.len(),
            vswitches = m.vswitches.len(),
            instances = m.instances.len(),
            namespace = %config.namespace,
            store_ms = ms(store_opened),
            programs_ms = ms(router_opened - store_opened),
            state_ms = ms(started.elapsed() - router_opened),
            "state rebuilt into the kernel; programs attached"
        );
    }
    let object_store_dir = config.state_dir.join("object-store");
    let keys = config.access_keys.clone();
    let region = config.region_id.clone();
    let dir = object_store_dir.clone();
    let object_store = Arc::new(
        tokio::task::spawn_blocking(move || ObjectStore::open(&dir, keys, &region))
            .await?
            .map_err(|source| DaemonError::ObjectStore {
                dir: object_store_dir,
                source,
            })?,
    );
    let services = service.model().router.services.clone();
    // The service names inside instances, for this daemon's region, with
    // `<bucket>.` each endpoint for every bucket, published again before a
    // PutBucket or DeleteBucket is answered.
    {
        let (ns, region, services) = (
            config.namespace.clone(),
            config.region_id.clone(),
            services.clone(),
        );
        object_store.on_buckets_changed(move |buckets| {
            let names: Vec<String> = buckets
                .into_iter()
                .filter(|b| crate::apply::hosts::is_bucket_label(b))
                .collect();
            if let Err(e) = crate::apply::publish_service_names(&ns, &region, &services, &names) {
                tracing::warn!(error = %e, "publishing the service names in the instances' hosts files failed");
            }
        });
    }
    let admin_account = config
        .access_keys
        .first()
        .map(|k| k.account_id.clone())
        .unwrap_or_else(|| "1000000000000000".to_string());
    // Nonces outlive a restart: a signed request replayed within its 15
    // minutes is refused by the next daemon too.
    let journal = config.state_dir.join("nonces");
    let verifier =
        Verifier::with_journal(config.access_keys, &journal, std::time::SystemTime::now())
            .map_err(io(format!(
                "opening the nonce journal {}",
                journal.display()
            )))?;
    let app = Arc::new(App {
        service: Mutex::new(service),
        verifier,
        admin_account,
        tables: Mutex::new(None),
        retired_cleanup: std::sync::atomic::AtomicBool::new(false),
        max_body_bytes: config.bounds.max_body_bytes,
        body_timeout: config.bounds.body_timeout,
    });

    // Free the slots of expired connections (the datapath already ignores
    // them) and of idle port translations, on handles of the sweeper's own:
    // the service stays free for API calls meanwhile.
    let sweeps = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            let swept = tokio::task::spawn_blocking(move || {
                let now = crate::datapath::monotonic_ns();
                let swept = (sweeper.conntrack(now), sweeper.nat(now));
                (sweeper, swept)
            })
            .await;
            let Ok((back, (conntrack, nat))) = swept else {
                tracing::error!("the sweeper panicked; idle connections are no longer swept");
                *sweeps.tables.lock().unwrap_or_else(|e| e.into_inner()) = None;
                return;
            };
            sweeper = back;
            for (what, result) in [("conntrack", &conntrack), ("nat", &nat)] {
                match result {
                    Ok(s) if s.removed > 0 => {
                        tracing::debug!(live = s.live, removed = s.removed, "{what} sweep")
                    }
                    Err(e) => tracing::warn!(error = %e, "{what} sweep failed"),
                    _ => {}
                }
            }
            let tables = match (conntrack, nat) {
                (Ok(c), Ok(n)) => Some(TableUse {
                    connections: c.live as u64,
                    nat_mappings: n.live as u64,
                }),
                _ => None,
            };
            *sweeps.tables.lock().unwrap_or_else(|e| e.into_inner()) = tables;
        }
    });

    let b = config.bounds;
    // Descriptors: the soft limit raised to the hard one; TCP connections
    // stop where the Unix socket, the metrics listener and a reserve would
    // run short, so that no number of TCP clients locks out the socket.
    let soft = serve::raise_nofile().map_err(io("raising RLIMIT_NOFILE"))?;
    let others = (b.socket_max_connections + METRICS_MAX_CONNECTIONS) as u64;
    let budget = serve::fd_budget(soft, serve::open_fds(), others);
    let max_connections = b.max_connections.min(budget).max(1);
    if max_connections < b.max_connections {
        tracing::warn!(
            soft_limit = soft,
            configured = b.max_connections,
            max_connections,
            "the open-file limit lowers the HTTP connection limit"
        );
    }
    let limits = |max_connections: usize, max_per_source: usize| serve::Limits {
        max_connections,
        max_per_source,
        header_timeout: b.header_timeout,
        idle_timeout: b.idle_timeout,
        max_header_bytes: b.max_header_bytes,
    };
    spawn_watcher(&config.namespace, app.clone());
    health::spawn(app.clone());
    dns::spawn(app.clone());

    let tcp = TcpListener::bind(config.listen)
        .await
        .map_err(io(format!("binding {}", config.listen)))?;
    let metrics_tcp = match config.metrics_listen {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .map_err(io(format!("binding {a} (metrics)")))?,
        ),
        None => None,
    };
    let unix = bind_unix(&config.socket)?;
    for addr in &config.object_store_listen {
        let l = TcpListener::bind(addr)
            .await
            .map_err(io(format!("binding {addr} (object storage)")))?;
        tracing::info!(listen = %addr, "serving object storage");
        tokio::spawn(object_store::serve(
            l,
            object_store.clone(),
            Arc::new(DirectOrigins),
        ));
    }
    // Where a connection comes from: through a gateway endpoint, the
    // datapath's translation leads back to the instance, its VPC and the
    // endpoint (with its policy); a translated peer no endpoint accounts
    // for is refused; any other peer is taken as it is.
    let origins: Arc<dyn object_store::Origins> = {
        let weak = Arc::downgrade(&app);
        let generation = app.service().model_generation();
        let router = origin::RouterOrigins::open(&config.namespace, generation, move |wait, f| {
            let Some(app) = weak.upgrade() else {
                return false;
            };
            let service = if wait {
                app.service()
            } else {
                match app.service.try_lock() {
                    Ok(s) => s,
                    Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => return false,
                }
            };
            f(service.model());
            true
        })?;
        Arc::new(EndpointOrigins {
            router: Arc::new(router),
            endpoint_block: services.endpoint_source_block,
        })
    };
    spawn_object_store_endpoints(&config.namespace, &services, object_store.clone(), origins);
    let routes = |origin: Origin| {
        let r = HttpRouter::new()
            .route("/", any(api))
            .route("/readyz", get(|| async { "ready\n" }));
        // /metrics: an operator's, on its own address and on the root socket,
        // never on the tenants' API listener.
        let r = if matches!(origin, Origin::Unix) {
            r.route("/metrics", get(metrics_handler))
        } else {
            r
        };
        r.fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(Extension(origin))
            .with_state(app.clone())
    };
    let metrics_routes = HttpRouter::new()
        .route("/metrics", get(metrics_handler))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);

    // The Unix socket on a thread and runtime of its own, with its own
    // connection limit: whatever HTTP clients do, the administrator gets in.
    let unix_router = routes(Origin::Unix);
    let unix_limits = limits(b.socket_max_connections, 0);
    let unix_stopped = stopped.clone();
    let (unix_done, unix_finished) = tokio::sync::oneshot::channel();
    let socket_path = config.socket.clone();
    std::thread::Builder::new()
        .name("vpc-unix-socket".into())
        .spawn(move || {
            let served = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| {
                    rt.block_on(serve::serve(
                        serve::Listener::Unix(unix),
                        unix_router,
                        unix_limits,
                        unix_stopped,
                        "unix",
                    ));
                });
            let _ = std::fs::remove_file(&socket_path);
            let _ = unix_done.send(served);
        })
        .map_err(io("starting the Unix socket's thread"))?;

    tracing::info!(
        listen = %config.listen,
        socket = %config.socket.display(),
        metrics = %config.metrics_listen.map(|a| a.to_string()).unwrap_or_else(|| "socket only".into()),
        max_connections,
        max_connections_per_source = b.max_connections_per_source,
        "serving the API"
    );
    notify_ready();
    let http = serve::serve(
        serve::Listener::Tcp(tcp),
        routes(Origin::Http),
        limits(max_connections, b.max_connections_per_source),
        stopped.clone(),
        "http",
    );
    let metrics = async {
        if let Some(l) = metrics_tcp {
            serve::serve(
                serve::Listener::Tcp(l),
                metrics_routes,
                limits(METRICS_MAX_CONNECTIONS, 0),
                stopped.clone(),
                "metrics",
            )
            .await;
        }
    };
    let signal = async {
        shutdown().await;
        let _ = stop.send(true);
    };
    tokio::join!(http, metrics, signal);
    match unix_finished.await {
        Ok(Ok(())) | Err(_) => {}
        Ok(Err(e)) => {
            return Err(DaemonError::Io {
                what: "the Unix socket's runtime".into(),
                source: e,
            });
        }
    }
    tracing::info!("stopped; programs stay attached and keep forwarding");
    Ok(())
}

/// The object storage service's own endpoints: the internal address on
/// port 80 inside the services namespace, the public one inside the
/// internet namespace. Bound as soon as each namespace has its address
/// (checked every second; a namespace deleted is let go at once, and bound anew once made again),
/// entering the namespace on a thread of its own so that no runtime thread
/// changes namespace.
fn spawn_object_store_endpoints(
    router_ns: &str,
    services: &crate::model::CloudServices,
    store: Arc<ObjectStore>,
    origins: Arc<dyn object_store::Origins>,
) {
    let endpoints = [
        (
            crate::model::CloudServices::namespace(router_ns),
            SocketAddr::from((services.object_storage_internal_ip, 80)),
        ),
        (
            crate::model::Internet::namespace(router_ns),
            SocketAddr::from((services.object_storage_public_ip, 80)),
        ),
    ];
    for (ns, addr) in endpoints {
        let (store, origins) = (store.clone(), origins.clone());
        tokio::spawn(async move {
            // The namespace served (its inode) and the task serving it.
            let mut serving: Option<(u64, tokio::task::JoinHandle<()>)> = None;
            let mut logged = false;
            loop {
                let current = namespace_inode(&ns);
                let alive = serving
                    .as_ref()
                    .is_some_and(|(ino, task)| Some(*ino) == current && !task.is_finished());
                if !alive && let Some((_, old)) = serving.take() {
                    // The namespace went (or was made again): its listener
                    // and connections go at once, so that they do not hold
                    // a deleted namespace alive.
                    old.abort();
                }
                if !alive && let Some(ino) = current {
                    let n = ns.clone();
                    match tokio::task::spawn_blocking(move || bind_in_namespace(&n, addr)).await {
                        Ok(Ok(l)) => match TcpListener::from_std(l) {
                            Ok(l) => {
                                tracing::info!(namespace = ns, listen = %addr, "serving object storage");
                                let task = tokio::spawn(object_store::serve(
                                    l,
                                    store.clone(),
                                    origins.clone(),
                                ));
                                serving = Some((ino, task));
                                logged = false;
                            }
                            Err(e) => {
                                tracing::warn!(namespace = ns, error = %e, "object storage listener")
                            }
                        },
                        Ok(Err(e)) if !logged => {
                            tracing::debug!(namespace = ns, listen = %addr, error = %e, "object storage endpoint not bound yet");
                            logged = true;
                        }
                        _ => {}
                    }
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
    }
}

/// The inode of namespace `ns` (another one: the namespace was made again).
fn namespace_inode(ns: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(Path::new("/run/netns").join(ns))
        .ok()
        .map(|m| m.ino())
}

/// A listener on `addr` inside namespace `ns` (it stays there once the
/// thread is back in its own).
fn bind_in_namespace(ns: &str, addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    if !crate::netns::exists(ns) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no namespace {ns}"),
        ));
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let _guard = crate::netns::NetnsGuard::enter(ns).map_err(std::io::Error::other)?;
            let l = std::net::TcpListener::bind(addr)?;
            l.set_nonblocking(true)?;
            Ok(l)
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the binding thread panicked")))
    })
}

/// Repairs what is deleted behind the daemon's back as soon as the kernel
/// says so (see [`crate::apply::watch`]), on a thread of its own.
fn spawn_watcher(namespace: &str, app: Arc<App>) {
    let repair = move || {
        if let Err(e) = app.service().repair() {
            tracing::warn!(code = %e.code, "repairing what was deleted failed: {}", e.message);
        }
    };
    if let Err(e) = crate::apply::watch::spawn(namespace, repair) {
        tracing::warn!(error = %e, "deleted interfaces are repaired only by the next change");
    }
}

fn bind_unix(path: &Path) -> Result<UnixListener, DaemonError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    }
    // A socket left by a killed daemon: nobody answers on it any more.
    if std::os::unix::net::UnixStream::connect(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path).map_err(io(format!("binding {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io(format!("chmod {}", path.display())))?;
    Ok(listener)
}

async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

/// Tells systemd (if it started us with NOTIFY_SOCKET) that we are ready.
fn notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = (|| -> std::io::Result<()> {
        let sock = std::os::unix::net::UnixDatagram::unbound()?;
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(b"READY=1", &addr)?;
        } else {
            sock.send_to(b"READY=1", Path::new(&path))?;
        }
        Ok(())
    })();
    if let Err(e) = sent {
        tracing::warn!(error = %e, "sd_notify READY=1 failed");
    }
}

fn json_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

async fn api(
    State(app): State<Arc<App>>,
    Extension(origin): Extension<Origin>,
    request: axum::extract::Request,
) -> Response {
    let request_id = new_request_id();
    let (parts, body) = request.into_parts();
    let action = parts
        .headers
        .get("x-acs-action")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match read_body(&app, &parts.headers, body).await {
        Ok(b) => b,
        Err(e) => {
            tracing::info!(action = action.as_deref().unwrap_or("-"), code = %e.code, status = e.status, "refused: {}", e.message);
            // The rest of the body is not read: the connection goes.
            let mut r = json_response(e.status, e.body(&request_id));
            r.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            return r;
        }
    };
    let result = call(app, origin, parts.method, parts.uri, parts.headers, body).await;
    match result {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.insert("RequestId".into(), Value::from(request_id));
            }
            json_response(200, v)
        }
        Err(e) => {
            tracing::info!(action = action.as_deref().unwrap_or("-"), code = %e.code, status = e.status, "refused: {}", e.message);
            json_response(e.status, e.body(&request_id))
        }
    }
}

/// A request's body, at most `max_body_bytes` (413 beyond: at once when
/// Content-Length says so), read within `body_timeout` (408 after it).
async fn read_body(
    app: &App,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt as _;
    let max = app.max_body_bytes;
    let too_large = |n: Option<u64>| {
        let size = n.map(|n| format!("of {n} bytes ")).unwrap_or_default();
        ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("The request body {size}exceeds the limit of {max} bytes."),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large(declared));
    }
    let limited = http_body_util::Limited::new(body, max);
    match tokio::time::timeout(app.body_timeout, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large(None))
        }
        Ok(Err(e)) => Err(ApiError::bad(
            "InvalidParameter.Body",
            format!("The request body could not be read: {e}"),
        )),
        Err(_) => Err(ApiError::new(
            408,
            "RequestTimeout",
            format!(
                "The request body was not received within {} s.",
                app.body_timeout.as_secs_f64()
            ),
        )),
    }
}

/// Any path but the API's.
async fn not_found(uri: Uri) -> Response {
    let e = ApiError::not_found(
        "InvalidAction.NotFound",
        format!(
            "Specified api is not found, please check your url and method: {:?} is not served.",
            uri.path()
        ),
    );
    json_response(e.status, e.body(&new_request_id()))
}

/// A method a path does not serve.
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let e = ApiError::new(
        405,
        "UnsupportedHTTPMethod",
        format!("{method} is not supported on {:?}.", uri.path()),
    );
    json_response(e.status, e.body(&new_request_id()))
}

async fn call(
    app: Arc<App>,
    origin: Origin,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Value, ApiError> {
    if method != Method::POST && method != Method::GET {
        return Err(ApiError::new(
            405,
            "UnsupportedHTTPMethod",
            format!("{method} is not supported: use POST or GET."),
        ));
    }
    let mut pairs: Vec<(String, String)> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if !body.is_empty() {
        let ctype = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ctype.starts_with("application/x-www-form-urlencoded") {
            return Err(ApiError::bad(
                "InvalidParameter.ContentType",
                format!("A request body must be application/x-www-form-urlencoded, not {ctype:?}."),
            ));
        }
        pairs.extend(form_urlencoded::parse(&body).into_owned());
    }
    let caller = match origin {
        Origin::Unix => Caller {
            account_id: app.admin_account.clone(),
            admin: true,
        },
        Origin::Http => {
            let now = std::time::SystemTime::now();
            let key = if !headers.contains_key(header::AUTHORIZATION)
                && signature::is_v1_request(&pairs)
            {
                // Signature V1 (older SDKs): over the decoded pairs as signed,
                // then the envelope goes, so that actions never see it.
                let key = app.verifier.verify_v1(method.as_str(), &pairs, now);
                signature::strip_v1_envelope(&mut pairs);
                key
            } else {
                app.verifier.verify(
                    method.as_str(),
                    uri.path(),
                    uri.query(),
                    &headers,
                    &body,
                    now,
                )
            }
            .map_err(|e| ApiError::new(e.status(), e.code(), e.to_string()))?;
            Caller {
                account_id: key.account_id.clone(),
                admin: false,
            }
        }
    };
    let header_action = headers
        .get("x-acs-action")
        .map(|v| v.to_str().unwrap_or("").to_string());
    let form = Form::from_pairs(pairs)?;
    let action = match (header_action, form.get("Action")) {
        (Some(h), Some(q)) if h != q => {
            return Err(ApiError::bad(
                "InvalidParameter.Action",
                format!("x-acs-action {h:?} and Action {q:?} differ."),
            ));
        }
        (Some(h), _) if !h.is_empty() => h,
        (_, Some(q)) if !q.is_empty() => q.to_string(),
        _ => return Err(ApiError::missing("Action")),
    };
    let header_version = headers
        .get("x-acs-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let version = match (header_version, form.get("Version")) {
        (Some(h), Some(q)) if h != q => {
            return Err(ApiError::bad(
                "InvalidParameter.Version",
                format!("x-acs-version {h:?} and Version {q:?} differ."),
            ));
        }
        (Some(h), _) if !h.is_empty() => Some(h),
        (_, Some(q)) if !q.is_empty() => Some(q.to_string()),
        _ => None,
    };
    // A signed call names its product; only the root socket may leave it out.
    if version.is_none() && matches!(origin, Origin::Http) {
        return Err(ApiError::missing("Version"));
    }
    let started = std::time::Instant::now();
    // The call runs under the service lock; its answer is given once its
    // change (or what it read) is on disk, waited for without the lock so
    // that one flush serves every call committed meanwhile.
    let cleaner = app.clone();
    let done = tokio::task::spawn_blocking(move || {
        let mut service = app.service();
        let mut result = service.submit(version.as_deref(), &action, &form, &caller);
        let cleanup = service
            .router()
            .and_then(|r| r.retired_due())
            .filter(|_| !app.retired_cleanup.swap(true, std::sync::atomic::Ordering::SeqCst));
        drop(service);
        // The replaced model is freed after the lock, while the next call runs.
        if let Ok(p) = &mut result {
            p.release_replaced();
        }
        (action, result, cleanup)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the call failed: {e}")))?;
    let (action, pending, cleanup) = done;
    if let Some(due) = cleanup {
        spawn_retired_cleanup(cleaner, due);
    }
    let result = pending?.durable().await;
    if result.is_ok() {
        tracing::debug!(
            action,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "served"
        );
    }
    result
}

/// Removes the entries of replaced policies once their grace has passed
/// (the first at `due`), until none is left; the next change that
/// retires some starts it again.
fn spawn_retired_cleanup(app: Arc<App>, mut due: std::time::Instant) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep_until(due.into()).await;
            let a = app.clone();
            let next = tokio::task::spawn_blocking(move || {
                let mut service = a.service();
                let next = match service.router_mut() {
                    Some(r) => r.remove_retired(),
                    None => Ok(None),
                };
                if !matches!(next, Ok(Some(_))) {
                    a.retired_cleanup.store(false, std::sync::atomic::Ordering::SeqCst);
                }
                next
            })
            .await;
            match next {
                Ok(Ok(Some(d))) => due = d,
                Ok(Ok(None)) => return,
                Ok(Err(e)) => {
                    // Left for the next write, which removes what is due.
                    tracing::warn!(error = %e, "removing the entries of replaced policies failed");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "removing the entries of replaced policies panicked");
                    app.retired_cleanup.store(false, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
            }
        }
    });
}

async fn metrics_handler(State(app): State<Arc<App>>) -> Response {
    let text = tokio::task::spawn_blocking(move || {
        let service = app.service();
        let router = service.router().ok_or_else(|| "no router".to_string())?;
        let counters = router.datapath().counters().map_err(|e| e.to_string())?;
        let ports = stats::of(router).map_err(|e| e.to_string())?.ports;
        let health = router.health().snapshot();
        drop(service);
        let tables = *app.tables.lock().unwrap_or_else(|e| e.into_inner());
        Ok::<_, String>(metrics::render_with_health(
            &counters,
            &ports,
            tables.as_ref(),
            &health,
        ))
    })
    .await;
    let e = match text {
        Ok(Ok(t)) => return ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], t).into_response(),
        Ok(Err(e)) => ApiError::internal(format!("reading the maps failed: {e}")),
        Err(e) => ApiError::internal(e),
    };
    json_response(e.status, e.body(&new_request_id()))
}
