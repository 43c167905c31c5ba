//! Serving one listener so that no client can lock the daemon out:
//! connections are counted per listener and per source address and refused
//! at accept, before anything is read (a 503 in the cloud's JSON shape, then
//! closed); each connection has an idle (keep-alive) timeout, counted from
//! the end of its last answer, and a header timeout, counted from the first
//! byte of a request to the end of its headers (a client sending one header
//! line every few seconds is closed once it is over). Headers are bounded by
//! hyper's read buffer; bodies are bounded and timed by the API handler.
//! The file-descriptor budget ([`raise_nofile`], [`fd_budget`]) keeps TCP
//! accepts from ever using the descriptors the Unix socket needs.
use std::{
    collections::HashMap,
    io,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::Router as HttpRouter;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, UnixListener},
    sync::{Notify, watch},
};
use tower::ServiceExt as _;

use crate::api::{ApiError, new_request_id};

/// Descriptors kept free beyond the listeners' own limits: the state store,
/// netlink and BPF handles, log files, the runtime's own.
pub const FD_RESERVE: u64 = 128;

/// How one listener is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once on this listener; more are refused at accept.
    pub max_connections: usize,
    /// Connections open at once from one source address (0: no such limit;
    /// the Unix socket has no source address).
    pub max_per_source: usize,
    /// From the first byte of a request to the end of its headers.
    pub header_timeout: Duration,
    /// A connection with no request for this long (after its last answer,
    /// or since it was accepted) is closed.
    pub idle_timeout: Duration,
    /// Bytes of a request line and headers (hyper's read buffer; at least 8 KiB).
    pub max_header_bytes: usize,
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The listener holds its most connections.
    Listener,
    /// The source address holds its most connections.
    Source,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// The connections a listener holds, by source address.
pub struct Admission {
    limits: Limits,
    counts: Mutex<Counts>,
    released: Notify,
}

/// A held connection slot; released when dropped.
pub struct Permit {
    admission: Arc<Admission>,
    source: Option<IpAddr>,
}

impl Admission {
    /// An empty listener with these limits.
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self { limits, counts: Mutex::new(Counts::default()), released: Notify::new() })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a connection from `source`, or why not. IPv6 sources
    /// count per /64 (one host may hold a whole /64), IPv4-mapped ones as
    /// their IPv4 address.
    pub fn admit(self: &Arc<Self>, source: Option<IpAddr>) -> Result<Permit, Refused> {
        let source = source.map(source_key);
        let mut c = self.counts();
        if c.total >= self.limits.max_connections {
            return Err(Refused::Listener);
        }
        if let Some(ip) = source
            && self.limits.max_per_source > 0
        {
            let n = c.by_source.entry(ip).or_default();
            if *n >= self.limits.max_per_source {
                return Err(Refused::Source);
            }
            *n += 1;
        }
        c.total += 1;
        Ok(Permit { admission: self.clone(), source })
    }

    /// Connections held.
    pub fn open(&self) -> usize {
        self.counts().total
    }
}

/// What the per-source limit counts a source address as.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(v6.to_bits() & !((1u128 << 64) - 1))),
        },
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self.admission.counts();
        c.total = c.total.saturating_sub(1);
        if let Some(ip) = self.source
            && let Some(n) = c.by_source.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.by_source.remove(&ip);
            }
        }
        drop(c);
        self.admission.released.notify_waiters();
    }
}

/// What a connection is doing, for its timeouts.
struct ClockState {
    /// Requests being answered.
    in_flight: usize,
    /// No byte of a next request has come yet.
    idle: bool,
    /// When it became idle, or when the first byte of the request came.
    since: Instant,
}

/// A connection's timeouts, fed by its reads and its requests.
struct Clock {
    limits: Limits,
    state: Mutex<ClockState>,
    changed: Notify,
}

impl Clock {
    fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            state: Mutex::new(ClockState { in_flight: 0, idle: true, since: Instant::now() }),
            changed: Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes came: the first of a request starts its header timeout.
    fn read(&self) {
        let mut s = self.state();
        if s.idle && s.in_flight == 0 {
            s.idle = false;
            s.since = Instant::now();
            drop(s);
            self.changed.notify_waiters();
        }
    }

    /// A request's headers are in: no timeout of this clock while it is
    /// answered (its body has the handler's own).
    fn begin(self: &Arc<Self>) -> Busy {
        self.state().in_flight += 1;
        self.changed.notify_waiters();
        Busy(self.clone())
    }

    /// When the connection is to be closed, if nothing happens meanwhile.
    fn deadline(&self) -> Option<Instant> {
        let s = self.state();
        (s.in_flight == 0).then(|| s.since + if s.idle { self.limits.idle_timeout } else { self.limits.header_timeout })
    }

    /// Resolves when the connection has been idle, or reading headers, for too long.
    async fn expired(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.deadline() {
                Some(d) if Instant::now() >= d => return,
                Some(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(d.into()) => {}
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// A request being answered; the connection idles again when it is dropped.
struct Busy(Arc<Clock>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle = true;
            s.since = Instant::now();
        }
        drop(s);
        self.0.changed.notify_waiters();
    }
}

/// A stream that tells its clock when bytes come.
struct Watched<I> {
    inner: I,
    clock: Arc<Clock>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.read();
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A listener of either kind.
pub enum Listener {
    /// HTTP over TCP: connections counted per source address too.
    Tcp(TcpListener),
    /// The root-only Unix socket.
    Unix(UnixListener),
}

/// Serves `listener` with `router` until `shutdown` turns true, then lets
/// open connections finish their request (at most 5 s).
pub async fn serve(listener: Listener, router: HttpRouter, limits: Limits, mut shutdown: watch::Receiver<bool>, what: &'static str) {
    let admission = Admission::new(limits);
    let mut warned = false;
    loop {
        let accepted = tokio::select! {
            a = accept(&listener) => a,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let (stream, source) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or memory: the pending connection stays
                // in the backlog; try again shortly, never give up serving.
                if !warned {
                    tracing::warn!(listener = what, error = %e, "accept failed; retrying");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        warned = false;
        match admission.admit(source.as_ref().map(|(ip, _)| *ip)) {
            Ok(permit) => {
                let router = router.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    match stream {
                        Stream::Tcp(s) => connection(s, permit, router, limits, shutdown).await,
                        Stream::Unix(s) => connection(s, permit, router, limits, shutdown).await,
                    }
                });
            }
            Err(why) => {
                tracing::debug!(listener = what, source = ?source, ?why, "connection refused");
                refuse(stream, why);
            }
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let released = admission.released.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        if admission.open() == 0 || tokio::time::timeout_at(deadline, released).await.is_err() {
            break;
        }
    }
}

enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &Listener) -> io::Result<(Stream, Option<(IpAddr, u16)>)> {
    match listener {
        Listener::Tcp(l) => l.accept().await.map(|(s, a)| (Stream::Tcp(s), Some((a.ip(), a.port())))),
        Listener::Unix(l) => l.accept().await.map(|(s, _)| (Stream::Unix(s), None)),
    }
}

/// The answer to a connection beyond a limit, written without waiting
/// (the socket's buffer is empty), then the connection is closed.
fn refuse(stream: Stream, why: Refused) {
    let message = match why {
        Refused::Listener => "The server holds its most connections; retry later.",
        Refused::Source => "Your address holds its most connections to this server; close idle ones and retry.",
    };
    let body = ApiError::new(503, "ServiceUnavailable", message).body(&new_request_id()).to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json;charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = match &stream {
        Stream::Tcp(s) => s.try_write(answer.as_bytes()),
        Stream::Unix(s) => s.try_write(answer.as_bytes()),
    };
}

/// One connection: HTTP/1.1 with keep-alive, closed when its clock expires.
async fn connection<I>(io: I, permit: Permit, router: HttpRouter, limits: Limits, mut shutdown: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let clock = Clock::new(limits);
    let io = TokioIo::new(Watched { inner: io, clock: clock.clone() });
    let requests = clock.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let router = router.clone();
        let busy = requests.begin();
        async move {
            let answer = router.oneshot(req).await;
            drop(busy);
            answer
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The clock keeps the header timeout (from a request's first byte, not
    // from the end of the previous answer).
    builder.header_read_timeout(None).keep_alive(true).max_buf_size(limits.max_header_bytes.max(8192));
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended");
                }
                break;
            }
            _ = clock.expired() => {
                tracing::debug!("connection closed: idle or headers too slow");
                break;
            }
            _ = shutdown.wait_for(|s| *s), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    drop(permit);
}

/// Raises the soft limit of open files to the hard limit; the soft limit now.
pub fn raise_nofile() -> io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: setrlimit reads the struct we own; raising the soft limit
        // up to the hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    Ok(lim.rlim_cur)
}

/// Descriptors the process holds now.
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0)
}

/// The most TCP connections the descriptors allow: the soft limit, less what
/// is open, the other listeners' limits and [`FD_RESERVE`].
pub fn fd_budget(soft_limit: u64, open: u64, other_listeners: u64) -> usize {
    soft_limit.saturating_sub(open).saturating_sub(other_listeners).saturating_sub(FD_RESERVE) as usize
}

/// Parses a duration in seconds (`2`, `0.5`).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} must be a positive number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_source: usize) -> Limits {
        Limits {
            max_connections: max,
            max_per_source: per_source,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(2),
            max_header_bytes: 8192,
        }
    }

    #[test]
    fn hardening_admission_counts_per_source_and_per_listener_and_releases() {
        let a = Admission::new(limits(3, 2));
        let one: IpAddr = "127.0.0.1".parse().unwrap();
        let two: IpAddr = "127.0.0.2".parse().unwrap();
        let p1 = a.admit(Some(one)).unwrap();
        let _p2 = a.admit(Some(one)).unwrap();
        assert_eq!(a.admit(Some(one)).err(), Some(Refused::Source));
        let _p3 = a.admit(Some(two)).unwrap();
        assert_eq!(a.admit(Some(two)).err(), Some(Refused::Listener));
        drop(p1);
        assert_eq!(a.open(), 2);
        assert!(a.admit(Some(one)).is_ok(), "a released slot is free again");
        // IPv6: one /64 is one source; IPv4-mapped is the IPv4 address.
        let v6 = Admission::new(limits(10, 1));
        let _a = v6.admit(Some("2001:db8::1".parse().unwrap())).unwrap();
        assert_eq!(v6.admit(Some("2001:db8::ffff:2".parse().unwrap())).err(), Some(Refused::Source));
        assert!(v6.admit(Some("2001:db8:0:1::1".parse().unwrap())).is_ok());
        let _b = v6.admit(Some("::ffff:192.0.2.1".parse().unwrap())).unwrap();
        assert_eq!(v6.admit(Some("192.0.2.1".parse().unwrap())).err(), Some(Refused::Source));
        // No source address (the Unix socket): only the listener's limit.
        let u = Admission::new(limits(1, 1));
        let _h = u.admit(None).unwrap();
        assert_eq!(u.admit(None).err(), Some(Refused::Listener));
    }

    #[test]
    fn hardening_clock_idle_then_header_then_busy() {
        let c = Clock::new(limits(1, 1));
        let idle = c.deadline().unwrap();
        c.read();
        let header = c.deadline().unwrap();
        assert!(header < idle + Duration::from_millis(10), "a request's first byte starts the shorter header timeout");
        let busy = c.begin();
        assert_eq!(c.deadline(), None, "no timeout while a request is answered");
        c.read();
        drop(busy);
        let again = c.deadline().unwrap();
        assert!(again >= Instant::now() + Duration::from_millis(1500), "idle again after the answer");
    }

    #[test]
    fn hardening_fd_budget_keeps_the_reserve() {
        assert_eq!(fd_budget(1024, 40, 64), 1024 - 40 - 64 - FD_RESERVE as usize);
        assert_eq!(fd_budget(100, 40, 64), 0);
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_seconds("0").is_err() && parse_seconds("x").is_err() && parse_seconds("-1").is_err());
    }
}
