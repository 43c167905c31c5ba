//! `vpc daemon`: owns the router namespace, its programs and maps, and
//! serves the cloud's RPC-style API over HTTP (`--listen`, signed with
//! ACS3-HMAC-SHA256 or with the older SDKs' RPC signature V1) and over a
//! root-only Unix socket (the local administrator, no signature).
//! Readiness (the listeners, and sd_notify READY=1) comes only after the
//! stored state is in the kernel and the programs are attached.
pub mod metrics;
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
        ApiError, Caller, new_request_id,
        form::Form,
        signature::{self, AccessKey, Verifier},
    },
    apply::Router,
    ebpf_log,
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
}

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
    Io { what: String, source: std::io::Error },
    /// A blocking task panicked.
    #[error("start-up task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
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
}

impl App {
    fn service(&self) -> std::sync::MutexGuard<'_, Service> {
        // A panic inside a call left the committed model intact (calls work
        // on a draft): carry on with it.
        self.service.lock().unwrap_or_else(|e| e.into_inner())
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
    let store = Store::open(&config.state_dir)?;
    let ns = config.namespace.clone();
    let slots = config.direct_route_slots;
    let mode = config.datapath_mode;
    let mut router = tokio::task::spawn_blocking(move || Router::open_with(&ns, slots, mode)).await??;
    let mut sweeper = router.datapath().sweeper()?;
    if let Some(logger) = router.datapath_mut().take_logger() {
        tokio::spawn(async move {
            let Err(e) = ebpf_log::forward(logger).await;
            tracing::warn!(error = %e, "eBPF log forwarding stopped");
        });
    }
    let region = config.region_id.clone();
    let mut service = tokio::task::spawn_blocking(move || Service::open(store, Some(router), &region)).await??;
    // Start-up converge done: a fault injected for the tests hits an action.
    crate::apply::fault::arm();
    service.set_strict(config.strict_parameters);
    service.set_zones(config.zones.clone());
    service.set_endpoint(config.listen.to_string());
    {
        let m = service.model();
        tracing::info!(
            vpcs = m.vpcs.len(),
            vswitches = m.vswitches.len(),
            instances = m.instances.len(),
            namespace = %config.namespace,
            "state rebuilt into the kernel; programs attached"
        );
    }
    let admin_account =
        config.access_keys.first().map(|k| k.account_id.clone()).unwrap_or_else(|| "1000000000000000".to_string());
    let app = Arc::new(App {
        service: Mutex::new(service),
        verifier: Verifier::new(config.access_keys),
        admin_account,
        tables: Mutex::new(None),
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
                    Ok(s) if s.removed > 0 => tracing::debug!(live = s.live, removed = s.removed, "{what} sweep"),
                    Err(e) => tracing::warn!(error = %e, "{what} sweep failed"),
                    _ => {}
                }
            }
            let tables = match (conntrack, nat) {
                (Ok(c), Ok(n)) => Some(TableUse { connections: c.live as u64, nat_mappings: n.live as u64 }),
                _ => None,
            };
            *sweeps.tables.lock().unwrap_or_else(|e| e.into_inner()) = tables;
        }
    });

    spawn_watcher(&config.namespace, app.clone());

    let tcp = TcpListener::bind(config.listen).await.map_err(io(format!("binding {}", config.listen)))?;
    let unix = bind_unix(&config.socket)?;
    let routes = |origin: Origin| {
        HttpRouter::new()
            .route("/", any(api))
            .route("/metrics", get(metrics_handler))
            .route("/readyz", get(|| async { "ready\n" }))
            .layer(Extension(origin))
            .with_state(app.clone())
    };
    tracing::info!(listen = %config.listen, socket = %config.socket.display(), "serving the API");
    notify_ready();
    let http = axum::serve(tcp, routes(Origin::Http)).with_graceful_shutdown(shutdown());
    let local = axum::serve(unix, routes(Origin::Unix)).with_graceful_shutdown(shutdown());
    let (a, b) = tokio::join!(http.into_future(), local.into_future());
    let _ = std::fs::remove_file(&config.socket);
    a.map_err(io("serving HTTP"))?;
    b.map_err(io("serving the Unix socket"))?;
    tracing::info!("stopped; programs stay attached and keep forwarding");
    Ok(())
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
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

/// Tells systemd (if it started us with NOTIFY_SOCKET) that we are ready.
fn notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
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
    (status, [(header::CONTENT_TYPE, "application/json;charset=utf-8")], body.to_string()).into_response()
}

async fn api(
    State(app): State<Arc<App>>,
    Extension(origin): Extension<Origin>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = new_request_id();
    let action = headers.get("x-acs-action").and_then(|v| v.to_str().ok()).map(str::to_string);
    let result = call(app, origin, method, uri, headers, body).await;
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

async fn call(
    app: Arc<App>,
    origin: Origin,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Value, ApiError> {
    if method != Method::POST && method != Method::GET {
        return Err(ApiError::new(405, "UnsupportedHTTPMethod", format!("{method} is not supported: use POST or GET.")));
    }
    let mut pairs: Vec<(String, String)> =
        uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    if !body.is_empty() {
        let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !ctype.starts_with("application/x-www-form-urlencoded") {
            return Err(ApiError::bad(
                "InvalidParameter.ContentType",
                format!("A request body must be application/x-www-form-urlencoded, not {ctype:?}."),
            ));
        }
        pairs.extend(form_urlencoded::parse(&body).into_owned());
    }
    let caller = match origin {
        Origin::Unix => Caller { account_id: app.admin_account.clone(), admin: true },
        Origin::Http => {
            let now = std::time::SystemTime::now();
            let key = if !headers.contains_key(header::AUTHORIZATION) && signature::is_v1_request(&pairs) {
                // Signature V1 (older SDKs): over the decoded pairs as signed,
                // then the envelope goes, so that actions never see it.
                let key = app.verifier.verify_v1(method.as_str(), &pairs, now);
                signature::strip_v1_envelope(&mut pairs);
                key
            } else {
                app.verifier.verify(method.as_str(), uri.path(), uri.query(), &headers, &body, now)
            }
            .map_err(|e| ApiError::new(e.status(), e.code(), e.to_string()))?;
            Caller { account_id: key.account_id.clone(), admin: false }
        }
    };
    let header_action = headers.get("x-acs-action").map(|v| v.to_str().unwrap_or("").to_string());
    let form = Form::from_pairs(pairs)?;
    let action = match (header_action, form.get("Action")) {
        (Some(h), Some(q)) if h != q => {
            return Err(ApiError::bad("InvalidParameter.Action", format!("x-acs-action {h:?} and Action {q:?} differ.")));
        }
        (Some(h), _) if !h.is_empty() => h,
        (_, Some(q)) if !q.is_empty() => q.to_string(),
        _ => return Err(ApiError::missing("Action")),
    };
    let header_version = headers.get("x-acs-version").and_then(|v| v.to_str().ok()).map(str::to_string);
    let version = match (header_version, form.get("Version")) {
        (Some(h), Some(q)) if h != q => {
            return Err(ApiError::bad("InvalidParameter.Version", format!("x-acs-version {h:?} and Version {q:?} differ.")));
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
    let done = tokio::task::spawn_blocking(move || {
        let result = app.service().submit(version.as_deref(), &action, &form, &caller);
        (action, result)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the call failed: {e}")))?;
    let (action, pending) = done;
    let result = pending?.durable().await;
    if result.is_ok() {
        tracing::debug!(action, elapsed_ms = started.elapsed().as_millis() as u64, "served");
    }
    result
}

async fn metrics_handler(State(app): State<Arc<App>>) -> Response {
    let text = tokio::task::spawn_blocking(move || {
        let service = app.service();
        let router = service.router().ok_or_else(|| "no router".to_string())?;
        let counters = router.datapath().counters().map_err(|e| e.to_string())?;
        let ports = stats::of(router).map_err(|e| e.to_string())?.ports;
        drop(service);
        let tables = *app.tables.lock().unwrap_or_else(|e| e.into_inner());
        Ok::<_, String>(metrics::render(&counters, &ports, tables.as_ref()))
    })
    .await;
    match text {
        Ok(Ok(t)) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], t).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("# reading the maps failed: {e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("# {e}\n")).into_response(),
    }
}
