//! Health checks of load balancer backends (NLB): the state of each checked
//! server, and one check made from its VPC's health-check namespace.
//!
//! The daemon checks every server of each server group a running listener
//! sends to ([`crate::compile::health_checked_groups`]) on the group's
//! interval, from [`vpc_common::HEALTH_CHECK_ADDR`] in a namespace the
//! router makes per VPC: the checks cross the router as any traffic does,
//! judged by the backends' security groups and network ACLs. A server is
//! `Initial` until `healthy_threshold` checks in a row succeed
//! (`Available`) or `unhealthy_threshold` in a row fail (`Unavailable`);
//! the [`Table`] is shared by the checker, the router (which leaves the
//! unavailable servers out of the rings) and the readers (API, metrics).
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddr},
    sync::Mutex,
    time::Duration,
};

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    compile::{ServerKey, Unavailable},
    model::{HealthCheck, HealthCheckType},
    netns::NetnsGuard,
};

/// Why one check failed.
#[derive(Debug, Error)]
pub enum HealthError {
    /// The socket could not be made in the health-check namespace.
    #[error("no socket in namespace {ns}: {detail}")]
    Namespace { ns: String, detail: String },
    /// No connection (refused, unreachable, or dropped on the way).
    #[error("connecting to {target}: {source}")]
    Connect {
        target: SocketAddr,
        source: std::io::Error,
    },
    /// No connection, or no answer, within the connect timeout.
    #[error("no answer from {0} within the timeout")]
    Timeout(SocketAddr),
    /// The HTTP exchange failed.
    #[error("HTTP check of {target}: {detail}")]
    Http { target: SocketAddr, detail: String },
}

/// The health of a server (the cloud's spellings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthStatus {
    /// Not yet decided (as many checks as a threshold not yet made): kept
    /// in the rings.
    #[default]
    Initial,
    /// Healthy: in the rings.
    Available,
    /// Unhealthy: out of the rings.
    Unavailable,
}

impl HealthStatus {
    /// Every status, in a fixed order (metrics).
    pub const ALL: [HealthStatus; 3] = [
        HealthStatus::Initial,
        HealthStatus::Available,
        HealthStatus::Unavailable,
    ];

    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Initial => "Initial",
            HealthStatus::Available => "Available",
            HealthStatus::Unavailable => "Unavailable",
        }
    }
}

/// One server's checks: its status and the run of equal results behind it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tracker {
    /// The status.
    pub status: HealthStatus,
    /// Successes in a row (0 after a failure).
    pub successes: u32,
    /// Failures in a row (0 after a success).
    pub failures: u32,
    /// Checks that succeeded, in all.
    pub checks_ok: u64,
    /// Checks that failed, in all.
    pub checks_failed: u64,
}

impl Tracker {
    /// Records one check's result under the thresholds (each at least 1);
    /// returns the status it changed from, if it changed.
    pub fn record(&mut self, ok: bool, healthy: u32, unhealthy: u32) -> Option<HealthStatus> {
        let before = self.status;
        if ok {
            self.checks_ok += 1;
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            if self.successes >= healthy.max(1) {
                self.status = HealthStatus::Available;
            }
        } else {
            self.checks_failed += 1;
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            if self.failures >= unhealthy.max(1) {
                self.status = HealthStatus::Unavailable;
            }
        }
        (self.status != before).then_some(before)
    }
}

/// One server's state as read by the API and the metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHealth {
    /// The server.
    pub key: ServerKey,
    /// Its checks.
    pub tracker: Tracker,
}

/// The health of every checked server, shared (behind an `Arc`) by the
/// checker, the router and the readers.
#[derive(Debug, Default)]
pub struct Table {
    servers: Mutex<BTreeMap<ServerKey, Tracker>>,
}

impl Table {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ServerKey, Tracker>> {
        // A panic while holding it left a consistent map (every write is
        // one insert or one field update).
        self.servers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The status of a server of a group: `Initial` if it is not checked
    /// (yet). A group whose health check is disabled has its servers set
    /// `Available` by the checker ([`Table::set_available`]).
    pub fn status(&self, group_id: &str, server_ip: Ipv4Addr, port: u16) -> HealthStatus {
        let key = ServerKey {
            group_id: group_id.to_string(),
            ip: server_ip,
            port,
        };
        self.lock().get(&key).map(|t| t.status).unwrap_or_default()
    }

    /// Records a check of `key`; returns the status it changed from, if it
    /// changed.
    pub fn record(
        &self,
        key: &ServerKey,
        ok: bool,
        healthy: u32,
        unhealthy: u32,
    ) -> Option<HealthStatus> {
        self.lock()
            .entry(key.clone())
            .or_default()
            .record(ok, healthy, unhealthy)
    }

    /// Marks `key` available without checks (health check disabled).
    pub fn set_available(&self, key: &ServerKey) {
        let mut s = self.lock();
        let t = s.entry(key.clone()).or_default();
        *t = Tracker {
            status: HealthStatus::Available,
            ..*t
        };
    }

    /// Forgets every server `keep` says no to (removed, or no longer
    /// checked): a server checked again starts `Initial`.
    pub fn retain(&self, mut keep: impl FnMut(&ServerKey) -> bool) {
        self.lock().retain(|k, _| keep(k));
    }

    /// The servers found unavailable: what the rings leave out.
    pub fn unavailable(&self) -> Unavailable {
        self.lock()
            .iter()
            .filter(|(_, t)| t.status == HealthStatus::Unavailable)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Every server's state, by group, address and port.
    pub fn snapshot(&self) -> Vec<ServerHealth> {
        self.lock()
            .iter()
            .map(|(k, t)| ServerHealth {
                key: k.clone(),
                tracker: *t,
            })
            .collect()
    }
}

/// The status the API reports for `server` of `group`: `Available` when
/// the group's health check is disabled (the cloud's), else what the checks
/// found in `table` (`Initial` before any, or without a checker).
pub fn server_status(
    table: Option<&Table>,
    group: &crate::model::ServerGroup,
    server: &crate::model::Server,
) -> HealthStatus {
    if !group.health_check.enabled {
        return HealthStatus::Available;
    }
    table.map_or(HealthStatus::Initial, |t| {
        t.status(&group.id, server.server_ip, server.port)
    })
}

/// What one check of a server needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The health-check namespace of the server's VPC.
    pub namespace: String,
    /// The server's address and check port.
    pub target: SocketAddr,
    /// The group's configuration.
    pub check: HealthCheck,
}

impl Probe {
    /// The probe of a server at `ip`:`port` under `check`, from `namespace`.
    pub fn new(namespace: String, ip: Ipv4Addr, port: u16, check: &HealthCheck) -> Self {
        let port = if check.connect_port != 0 {
            check.connect_port
        } else {
            port
        };
        Self {
            namespace,
            target: SocketAddr::from((ip, port)),
            check: check.clone(),
        }
    }

    /// The time between two checks.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.check.interval_s.max(1)))
    }

    /// Runs one check: a TCP connection (and for HTTP, a request whose
    /// answer's status class is one of the configured ones), all within
    /// the connect timeout.
    pub async fn run(&self) -> Result<(), HealthError> {
        let socket = socket_in(&self.namespace).await?;
        let timeout = Duration::from_secs(u64::from(self.check.connect_timeout_s.max(1)));
        let target = self.target;
        let exchange = async {
            let mut stream = socket
                .connect(target)
                .await
                .map_err(|source| HealthError::Connect { target, source })?;
            if self.check.check_type == HealthCheckType::Http {
                http_check(&mut stream, target, &self.check).await?;
            }
            Ok(())
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HealthError::Timeout(target))?
    }
}

/// A TCP socket made inside namespace `ns` (on a thread of its own that
/// enters it; the socket stays in that namespace once the thread is back).
async fn socket_in(ns: &str) -> Result<tokio::net::TcpSocket, HealthError> {
    let name = ns.to_string();
    let err = |detail: String| HealthError::Namespace {
        ns: ns.to_string(),
        detail,
    };
    tokio::task::spawn_blocking(move || {
        std::thread::scope(|s| {
            s.spawn(|| {
                let _guard = NetnsGuard::enter(&name).map_err(|e| e.to_string())?;
                tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())
            })
            .join()
            .unwrap_or_else(|_| Err("the socket thread panicked".to_string()))
        })
    })
    .await
    .map_err(|e| err(e.to_string()))?
    .map_err(err)
}

/// Whether `code` is in one of the status classes `classes` names
/// (`http_2xx` .. `http_5xx`, case-insensitive).
pub fn code_matches(code: u16, classes: &[String]) -> bool {
    let class = format!("http_{}xx", code / 100);
    classes.iter().any(|c| c.eq_ignore_ascii_case(&class))
}

/// The status code of an HTTP answer's status line (`HTTP/1.x NNN ...`).
pub fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

/// The request of an HTTP check: method, URL and version as configured,
/// `Host` the configured domain or the server's address.
pub fn http_request(target: SocketAddr, check: &HealthCheck) -> String {
    let h = &check.http;
    let host = if h.domain.is_empty() || h.domain == "$SERVER_IP" {
        target.ip().to_string()
    } else {
        h.domain.clone()
    };
    let version = if h.version.eq_ignore_ascii_case("HTTP1.1") {
        "HTTP/1.1"
    } else {
        "HTTP/1.0"
    };
    let method = if h.method.eq_ignore_ascii_case("HEAD") {
        "HEAD"
    } else {
        "GET"
    };
    let url = if h.url.starts_with('/') {
        h.url.as_str()
    } else {
        "/"
    };
    format!(
        "{method} {url} {version}\r\nHost: {host}\r\nUser-Agent: vpc-router-health-check\r\nConnection: close\r\n\r\n"
    )
}

async fn http_check(
    stream: &mut tokio::net::TcpStream,
    target: SocketAddr,
    check: &HealthCheck,
) -> Result<(), HealthError> {
    let fail = |detail: String| HealthError::Http { target, detail };
    stream
        .write_all(http_request(target, check).as_bytes())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let code = status_code(&head).ok_or_else(|| fail("no HTTP status line".into()))?;
    if code_matches(code, &check.http.http_codes) {
        Ok(())
    } else {
        Err(fail(format!(
            "status {code} is none of {:?}",
            check.http.http_codes
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> ServerKey {
        ServerKey {
            group_id: "sgp-1".into(),
            ip: Ipv4Addr::new(10, 0, 2, n),
            port: 8080,
        }
    }

    #[test]
    fn a_server_turns_after_as_many_results_in_a_row_as_its_threshold() {
        let mut t = Tracker::default();
        assert_eq!(t.status, HealthStatus::Initial);
        // Healthy threshold 3: two successes are not enough.
        assert_eq!(t.record(true, 3, 2), None);
        assert_eq!(t.record(true, 3, 2), None);
        assert_eq!(t.record(true, 3, 2), Some(HealthStatus::Initial));
        assert_eq!(t.status, HealthStatus::Available);
        // A failure between failures resets the run: fail, ok, fail stays.
        assert_eq!(t.record(false, 3, 2), None);
        assert_eq!(t.record(true, 3, 2), None);
        assert_eq!(t.record(false, 3, 2), None);
        assert_eq!(t.status, HealthStatus::Available);
        assert_eq!(t.record(false, 3, 2), Some(HealthStatus::Available));
        assert_eq!(t.status, HealthStatus::Unavailable);
        // Back after three successes in a row, not before.
        assert_eq!(t.record(true, 3, 2), None);
        assert_eq!(t.record(true, 3, 2), None);
        assert_eq!(t.status, HealthStatus::Unavailable);
        assert_eq!(t.record(true, 3, 2), Some(HealthStatus::Unavailable));
        assert_eq!((t.checks_ok, t.checks_failed), (7, 3));
        // From Initial straight to Unavailable.
        let mut t = Tracker::default();
        assert_eq!(t.record(false, 2, 2), None);
        assert_eq!(t.record(false, 2, 2), Some(HealthStatus::Initial));
        assert_eq!(t.status, HealthStatus::Unavailable);
    }

    #[test]
    fn the_table_gives_status_unavailable_set_and_forgets() {
        let t = Table::default();
        assert_eq!(
            t.status("sgp-1", Ipv4Addr::new(10, 0, 2, 1), 8080),
            HealthStatus::Initial
        );
        for _ in 0..2 {
            t.record(&key(1), false, 2, 2);
            t.record(&key(2), true, 2, 2);
        }
        t.set_available(&key(3));
        assert_eq!(
            t.status("sgp-1", Ipv4Addr::new(10, 0, 2, 1), 8080),
            HealthStatus::Unavailable
        );
        assert_eq!(
            t.status("sgp-1", Ipv4Addr::new(10, 0, 2, 2), 8080),
            HealthStatus::Available
        );
        assert_eq!(
            t.status("sgp-1", Ipv4Addr::new(10, 0, 2, 3), 8080),
            HealthStatus::Available
        );
        assert_eq!(
            t.status("sgp-2", Ipv4Addr::new(10, 0, 2, 2), 8080),
            HealthStatus::Initial
        );
        assert_eq!(
            t.unavailable().into_iter().collect::<Vec<_>>(),
            vec![key(1)]
        );
        t.retain(|k| *k != key(1));
        assert!(t.unavailable().is_empty());
        assert_eq!(t.snapshot().len(), 2);
    }

    #[test]
    fn the_api_status_is_available_without_checks_else_the_tables() {
        let mut group: crate::model::ServerGroup = toml::from_str(
            r#"
            id = "sgp-1"
            vpc_id = "vpc-a"
            [[server]]
            server_id = "10.0.2.1"
            server_type = "Ip"
            server_ip = "10.0.2.1"
            port = 8080
            "#,
        )
        .unwrap();
        let server = group.servers[0].clone();
        let t = Table::default();
        assert_eq!(server_status(None, &group, &server), HealthStatus::Initial);
        assert_eq!(
            server_status(Some(&t), &group, &server),
            HealthStatus::Initial
        );
        t.record(&key(1), false, 2, 2);
        t.record(&key(1), false, 2, 2);
        assert_eq!(
            server_status(Some(&t), &group, &server),
            HealthStatus::Unavailable
        );
        group.health_check.enabled = false;
        assert_eq!(
            server_status(Some(&t), &group, &server),
            HealthStatus::Available
        );
    }

    #[test]
    fn http_checks_send_the_configured_request_and_judge_the_status_class() {
        let mut check = HealthCheck::default();
        let target = SocketAddr::from(([10, 0, 2, 1], 80));
        assert_eq!(
            http_request(target, &check),
            "GET / HTTP/1.0\r\nHost: 10.0.2.1\r\nUser-Agent: vpc-router-health-check\r\nConnection: close\r\n\r\n"
        );
        check.http.domain = "www.example.com".into();
        check.http.method = "HEAD".into();
        check.http.url = "/healthz".into();
        check.http.version = "HTTP1.1".into();
        assert!(
            http_request(target, &check)
                .starts_with("HEAD /healthz HTTP/1.1\r\nHost: www.example.com\r\n")
        );
        assert_eq!(status_code(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(status_code(b"HTTP/1.0 404\r\n"), Some(404));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        let classes = vec!["http_2xx".to_string(), "HTTP_3XX".to_string()];
        assert!(code_matches(200, &classes) && code_matches(302, &classes));
        assert!(!code_matches(404, &classes) && !code_matches(500, &classes));
    }

    /// A namespace of this test's own, deleted on drop.
    struct Scratch(String);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = crate::netns::delete(&self.0);
        }
    }

    /// An HTTP server on `listener` answering every request with `status`.
    fn http_server(listener: std::net::TcpListener, status: &'static str) {
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(mut s) = s else { return };
                let mut buf = [0u8; 1024];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match std::io::Read::read(&mut s, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!("HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n");
                let _ = std::io::Write::write_all(&mut s, answer.as_bytes());
            }
        });
    }

    /// Real checks from a namespace: TCP to a listener and to a closed
    /// port, HTTP judged by status class, an answer that never comes, a
    /// namespace that does not exist. Needs root (skipped otherwise).
    #[test]
    fn probes_from_a_namespace_judge_connections_and_http_answers() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 || crate::netns::ip(&["-V"]).is_err() {
            eprintln!("skipped: needs root and iproute2");
            return;
        }
        let ns = format!("vpct-hc{}-{}", std::process::id(), fastrand::u32(..));
        crate::netns::add(&ns).unwrap();
        let _scratch = Scratch(ns.clone());
        crate::netns::ip(&["-n", &ns, "link", "set", "lo", "up"]).unwrap();
        let bind = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (ok, failing, silent, closed) = {
            let _in = NetnsGuard::enter(&ns).unwrap();
            (bind(), bind(), bind(), bind())
        };
        let port = |l: &std::net::TcpListener| l.local_addr().unwrap().port();
        let (ok_port, failing_port, silent_port, closed_port) =
            (port(&ok), port(&failing), port(&silent), port(&closed));
        drop(closed);
        http_server(ok, "200 OK");
        http_server(failing, "503 Service Unavailable");
        let lo = Ipv4Addr::LOCALHOST;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut check = HealthCheck {
                connect_timeout_s: 1,
                ..HealthCheck::default()
            };
            let run = |port: u16, check: &HealthCheck| Probe::new(ns.clone(), lo, port, check);
            // TCP: a listener, a closed port.
            run(ok_port, &check).run().await.unwrap();
            let e = run(closed_port, &check).run().await.unwrap_err();
            assert!(matches!(e, HealthError::Connect { .. }), "{e}");
            // HTTP: 200 is http_2xx, 503 is not (until 5xx is allowed); a
            // server that never answers runs out of the timeout.
            check.check_type = HealthCheckType::Http;
            run(ok_port, &check).run().await.unwrap();
            let e = run(failing_port, &check).run().await.unwrap_err();
            assert!(matches!(e, HealthError::Http { .. }), "{e}");
            let e = run(silent_port, &check).run().await.unwrap_err();
            assert!(matches!(e, HealthError::Timeout(_)), "{e}");
            check.http.http_codes = vec!["http_5xx".into()];
            run(failing_port, &check).run().await.unwrap();
            // No such namespace: the router's trouble, not the server's.
            let p = Probe::new(format!("{ns}-gone"), lo, ok_port, &check);
            let e = p.run().await.unwrap_err();
            assert!(matches!(e, HealthError::Namespace { .. }), "{e}");
        });
        drop(silent);
    }

    #[test]
    fn the_check_port_is_the_configured_one_else_the_servers() {
        let mut check = HealthCheck::default();
        let p = Probe::new("ns".into(), Ipv4Addr::new(10, 0, 2, 1), 8080, &check);
        assert_eq!(p.target.port(), 8080);
        assert_eq!(p.interval(), Duration::from_secs(5));
        check.connect_port = 9000;
        let p = Probe::new("ns".into(), Ipv4Addr::new(10, 0, 2, 1), 8080, &check);
        assert_eq!(p.target.port(), 9000);
    }
}
