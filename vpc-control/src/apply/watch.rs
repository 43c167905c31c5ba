//! Noticing what is deleted behind a running daemon's back: interfaces of
//! the router namespace (rtnetlink link events, `RTNLGRP_LINK`, on a socket
//! inside it) and named namespaces (inotify on `/run/netns`). The daemon
//! waits on a [`Watcher`] and then repairs ([`super::Router::repair`]):
//! what vanished is made again at once, without waiting for an API change.
use std::{
    ffi::OsString,
    io,
    os::fd::{AsFd, AsRawFd},
    path::Path,
    time::{Duration, Instant},
};

use inotify::{EventMask, Inotify, WatchMask};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use thiserror::Error;

use crate::{model, netns::NetnsGuard};

/// Why watching failed.
#[derive(Debug, Error)]
pub enum WatchError {
    /// The inotify watch on the namespaces' directory failed.
    #[error("watching {dir} for deleted namespaces: {source}")]
    Inotify { dir: String, source: io::Error },
    /// The link event socket in the router namespace failed.
    #[error("link events of namespace {ns}: {source}")]
    Netlink { ns: String, source: io::Error },
    /// Waiting for events (or starting the thread that waits) failed.
    #[error("waiting for kernel events: {0}")]
    Poll(io::Error),
}

/// The directory of named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// rtnetlink multicast group of link changes (`RTNLGRP_LINK`).
const RTNLGRP_LINK: u32 = 1;

/// Device and inode of a named namespace.
fn identity(ns: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(Path::new(NETNS_DIR).join(ns))
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Watches one router's namespaces and links.
pub struct Watcher {
    router_ns: String,
    inotify: Inotify,
    /// Link events of the router namespace (none while it does not exist);
    /// the namespace it was opened in.
    links: Option<(Socket, Option<(u64, u64)>)>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("router_ns", &self.router_ns)
            .finish()
    }
}

/// A link event socket inside `ns` (made by a thread that enters it).
fn link_events(ns: &str) -> Result<Socket, WatchError> {
    let err = |source| WatchError::Netlink {
        ns: ns.to_string(),
        source,
    };
    let socket = std::thread::scope(|s| {
        s.spawn(|| -> io::Result<Socket> {
            let _guard = NetnsGuard::enter(ns).map_err(io::Error::other)?;
            let mut socket = Socket::new(NETLINK_ROUTE)?;
            socket.bind(&SocketAddr::new(0, 0))?;
            socket.add_membership(RTNLGRP_LINK)?;
            socket.set_non_blocking(true)?;
            Ok(socket)
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
    })
    .map_err(err)?;
    Ok(socket)
}

impl Watcher {
    /// Starts watching `router_ns` (and the namespaces in `/run/netns`).
    pub fn open(router_ns: &str) -> Result<Self, WatchError> {
        let err = |source| WatchError::Inotify {
            dir: NETNS_DIR.to_string(),
            source,
        };
        std::fs::create_dir_all(NETNS_DIR).map_err(err)?;
        let inotify = Inotify::init().map_err(err)?;
        inotify
            .watches()
            .add(NETNS_DIR, WatchMask::DELETE | WatchMask::MOVED_FROM)
            .map_err(err)?;
        let mut w = Self {
            router_ns: router_ns.to_string(),
            inotify,
            links: None,
        };
        w.follow()?;
        Ok(w)
    }

    /// Listens to the link events of the router namespace as it is now:
    /// after it was deleted and made again, the socket in the old one
    /// (which would keep it alive, with its ports) is closed.
    pub fn follow(&mut self) -> Result<(), WatchError> {
        let now = identity(&self.router_ns);
        if self.links.as_ref().is_some_and(|(_, id)| *id == now) {
            return Ok(());
        }
        self.links = None;
        if now.is_some() {
            let socket = link_events(&self.router_ns)?;
            // The namespace may have changed while the socket was made: the
            // next call looks again.
            self.links = Some((socket, now));
        }
        Ok(())
    }

    /// Blocks until something of the router may have gone: a link of the
    /// router namespace deleted, or a namespace deleted that is the
    /// router's, its internet's or one it recorded for an instance. Events
    /// of other namespaces are read and ignored. Returns after `timeout`
    /// with false if nothing went.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool, WatchError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.drain()? {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let mut fds = vec![libc::pollfd {
                fd: self.inotify.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            if let Some((s, _)) = &self.links {
                fds.push(libc::pollfd {
                    fd: s.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: `fds` is a live array of `fds.len()` pollfd structs
            // whose descriptors this value owns; poll only writes `revents`.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(WatchError::Poll(e));
                }
            }
        }
    }

    /// Waits `quiet` after an event, reading whatever else comes meanwhile
    /// (a namespace deleted goes with several events, its veths a little
    /// later): one repair then covers them all.
    pub fn settle(&mut self, quiet: Duration) -> Result<(), WatchError> {
        while self.wait(quiet)? {}
        Ok(())
    }

    /// Reads every pending event; true if one concerns the router.
    fn drain(&mut self) -> Result<bool, WatchError> {
        let mut hit = false;
        let mut buffer = [0u8; 4096];
        loop {
            let names: Vec<OsString> = match self.inotify.read_events(&mut buffer) {
                Ok(events) => events
                    .filter_map(|e| {
                        // Events were lost: something of the router may have gone.
                        if e.mask.contains(EventMask::Q_OVERFLOW) {
                            hit = true;
                        }
                        e.name.map(|n| n.to_os_string())
                    })
                    .collect(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(source) => {
                    return Err(WatchError::Inotify {
                        dir: NETNS_DIR.to_string(),
                        source,
                    });
                }
            };
            if names.is_empty() {
                break;
            }
            hit |= names
                .iter()
                .any(|n| n.to_str().is_some_and(|n| self.concerns(n)));
        }
        if let Some((socket, _)) = &self.links {
            loop {
                let data = match socket.recv_from_full() {
                    Ok((data, _)) => data,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // Events were lost (ENOBUFS): something may have gone.
                    Err(_) => {
                        hit = true;
                        break;
                    }
                };
                hit |= has_deleted_link(&data);
            }
        }
        Ok(hit)
    }

    /// True if namespace `name` is the router's, its internet's, or one it
    /// recorded for an instance.
    fn concerns(&self, name: &str) -> bool {
        name == self.router_ns
            || name == model::Internet::namespace(&self.router_ns)
            || name == model::CloudServices::namespace(&self.router_ns)
            || super::claims_dir(&self.router_ns).join(name).exists()
    }
}

/// Watches `router_ns` on a thread of its own and calls `repair` (which
/// converges the committed model if something vanished) each time
/// something of the router may have gone, once the kernel's events have
/// settled; follows the router namespace when it is made again.
pub fn spawn(router_ns: &str, mut repair: impl FnMut() + Send + 'static) -> Result<(), WatchError> {
    let mut watcher = Watcher::open(router_ns)?;
    std::thread::Builder::new()
        .name("vpc-watch".into())
        .spawn(move || {
            loop {
                let woke = watcher.wait(Duration::from_secs(3600)).and_then(|w| {
                    watcher.settle(Duration::from_millis(100))?;
                    Ok(w)
                });
                match woke {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "watching the kernel failed");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
                repair();
                if let Err(e) = watcher.follow() {
                    tracing::warn!(error = %e, "watching the router namespace again failed");
                }
            }
        })
        .map_err(WatchError::Poll)?;
    Ok(())
}

/// True if the netlink messages in `data` include a link deletion (or
/// cannot be read).
fn has_deleted_link(data: &[u8]) -> bool {
    let mut offset = 0;
    while offset < data.len() {
        let Ok(m) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..]) else {
            return true;
        };
        if matches!(
            m.payload,
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(_))
        ) {
            return true;
        }
        let len = m.header.length as usize;
        if len == 0 {
            break;
        }
        offset += (len + 3) & !3;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions and touches no memory.
        unsafe { libc::geteuid() == 0 }
    }

    /// A veth deleted in the watched namespace, and a recorded instance
    /// namespace deleted, each wake the watcher; another namespace does not.
    #[test]
    fn hardening_the_watcher_sees_a_deleted_link_and_a_deleted_recorded_namespace() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let tag = format!("{}x{}", std::process::id(), fastrand::u32(..));
        let router = format!("vw{tag}-rt");
        let inst = format!("i-vw{tag}");
        let other = format!("vw{tag}-other");
        struct Cleanup(Vec<String>);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                for ns in &self.0 {
                    let _ = crate::netns::delete(ns);
                }
            }
        }
        let _cleanup = Cleanup(vec![router.clone(), inst.clone(), other.clone()]);
        for ns in [&router, &inst, &other] {
            crate::netns::add(ns).unwrap();
        }
        crate::netns::ip(&[
            "-n", &router, "link", "add", "vwa", "type", "veth", "peer", "name", "vwb",
        ])
        .unwrap();
        let mut w = Watcher::open(&router).unwrap();
        assert!(
            !w.wait(Duration::from_millis(100)).unwrap(),
            "an event before anything went"
        );
        crate::netns::delete(&other).unwrap();
        assert!(
            !w.wait(Duration::from_millis(200)).unwrap(),
            "another namespace's deletion concerns the router"
        );
        crate::netns::ip(&["-n", &router, "link", "del", "vwa"]).unwrap();
        assert!(
            w.wait(Duration::from_secs(2)).unwrap(),
            "a deleted link went unnoticed"
        );
        w.settle(Duration::from_millis(50)).unwrap();
        super::super::claim_namespace(&router, &inst).unwrap();
        crate::netns::delete(&inst).unwrap();
        assert!(
            w.wait(Duration::from_secs(2)).unwrap(),
            "a deleted instance namespace went unnoticed"
        );
        let _ = std::fs::remove_dir_all(super::super::claims_dir(&router));
    }
}
