//! Network namespaces and links, through iproute2 (`ip`), and entering a
//! namespace from the calling thread (setns).
use std::{
    fs::File,
    io,
    os::fd::AsRawFd,
    path::Path,
    process::Command,
};

use serde::Deserialize;
use thiserror::Error;

/// Errors of namespace and link handling.
#[derive(Debug, Error)]
pub enum NetnsError {
    /// A command could not be started (is iproute2 installed?).
    #[error("cannot run {cmd}: {source}")]
    Spawn { cmd: String, source: io::Error },
    /// A command exited with an error.
    #[error("{cmd} failed: {stderr}")]
    Command { cmd: String, stderr: String },
    /// The calling thread could not enter or leave a namespace.
    #[error("cannot enter network namespace {ns}: {source}")]
    Enter { ns: String, source: io::Error },
    /// A command printed something that could not be parsed.
    #[error("unexpected output of {cmd}: {detail}")]
    Parse { cmd: String, detail: String },
    /// A sysctl could not be written.
    #[error("cannot set {key} in {ns}: {source}")]
    Sysctl { ns: String, key: String, source: io::Error },
}

fn run(program: &str, args: &[&str]) -> Result<String, NetnsError> {
    let cmd = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| NetnsError::Spawn { cmd: cmd.clone(), source })?;
    if !out.status.success() {
        return Err(NetnsError::Command {
            cmd,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip ARGS...`, returning its standard output.
pub fn ip(args: &[&str]) -> Result<String, NetnsError> {
    run("ip", args)
}

/// Runs `ip netns exec NS PROGRAM ARGS...`.
pub fn exec(ns: &str, program: &str, args: &[&str]) -> Result<String, NetnsError> {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    run("ip", &all)
}

/// True if the named namespace exists.
pub fn exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

/// Creates the named namespace unless it exists, with loopback up.
pub fn add(ns: &str) -> Result<(), NetnsError> {
    if !exists(ns) {
        ip(&["netns", "add", ns])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
    }
    Ok(())
}

/// Deletes the named namespace (and every interface in it) if it exists.
pub fn delete(ns: &str) -> Result<(), NetnsError> {
    if exists(ns) {
        ip(&["netns", "delete", ns])?;
    }
    Ok(())
}

/// A link as `ip -j link show` prints it (the fields used here).
#[derive(Debug, Clone, Deserialize)]
pub struct Link {
    /// ifindex.
    pub ifindex: u32,
    /// Interface name.
    pub ifname: String,
    /// Alias (`ifalias`), if set.
    #[serde(default)]
    pub ifalias: Option<String>,
    /// MAC address.
    #[serde(default)]
    pub address: Option<String>,
}

/// Every link of a namespace.
pub fn links(ns: &str) -> Result<Vec<Link>, NetnsError> {
    let out = ip(&["-n", ns, "-j", "link", "show"])?;
    serde_json::from_str(&out).map_err(|e| NetnsError::Parse {
        cmd: format!("ip -n {ns} -j link show"),
        detail: e.to_string(),
    })
}

/// The IPv4 addresses (`a.b.c.d/len`) of one interface.
pub fn ipv4_addresses(ns: &str, ifname: &str) -> Result<Vec<String>, NetnsError> {
    #[derive(Deserialize)]
    struct Iface {
        #[serde(default)]
        addr_info: Vec<Addr>,
    }
    #[derive(Deserialize)]
    struct Addr {
        family: String,
        local: String,
        prefixlen: u8,
    }
    let out = ip(&["-n", ns, "-j", "-4", "addr", "show", "dev", ifname])?;
    let ifaces: Vec<Iface> = serde_json::from_str(&out).map_err(|e| NetnsError::Parse {
        cmd: format!("ip -n {ns} -j addr show dev {ifname}"),
        detail: e.to_string(),
    })?;
    Ok(ifaces
        .into_iter()
        .flat_map(|i| i.addr_info)
        .filter(|a| a.family == "inet")
        .map(|a| format!("{}/{}", a.local, a.prefixlen))
        .collect())
}

/// While alive, the calling thread is in another network namespace; dropping
/// it returns the thread to the namespace it was in.
pub struct NetnsGuard {
    previous: File,
    ns: String,
}

/// Device and inode of an open namespace file: equal ids, same namespace.
fn ns_id(f: &File) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    f.metadata().ok().map(|m| (m.dev(), m.ino()))
}

fn setns(fd: &File, ns: &str) -> Result<(), NetnsError> {
    // SAFETY: setns only reads the fd, which is open for the whole call.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(NetnsError::Enter { ns: ns.to_string(), source: io::Error::last_os_error() });
    }
    Ok(())
}

impl NetnsGuard {
    /// Moves the calling thread into namespace `ns`.
    pub fn enter(ns: &str) -> Result<Self, NetnsError> {
        let enter_err = |source| NetnsError::Enter { ns: ns.to_string(), source };
        let previous = File::open("/proc/thread-self/ns/net").map_err(enter_err)?;
        let target = File::open(Path::new("/run/netns").join(ns)).map_err(enter_err)?;
        setns(&target, ns)?;
        let guard = Self { previous, ns: ns.to_string() };
        // Check where we are: a device-map entry written from the wrong
        // namespace would point at another namespace's interfaces.
        let now = File::open("/proc/thread-self/ns/net").ok().as_ref().and_then(ns_id);
        if now.is_none() || now != ns_id(&target) {
            return Err(enter_err(io::Error::other("the thread is not in the namespace after setns")));
        }
        Ok(guard)
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        if let Err(e) = setns(&self.previous, "(previous)") {
            // The thread would keep running in the wrong namespace: never
            // acceptable for a router that must not touch the root one.
            panic!("cannot leave network namespace {}: {e}", self.ns);
        }
    }
}

/// Writes a sysctl under /proc/sys/net inside namespace `ns`.
pub fn sysctl(ns: &str, key: &str, value: &str) -> Result<(), NetnsError> {
    let _guard = NetnsGuard::enter(ns)?;
    let path = Path::new("/proc/sys").join(key.replace('.', "/"));
    std::fs::write(&path, value).map_err(|source| NetnsError::Sysctl {
        ns: ns.to_string(),
        key: key.to_string(),
        source,
    })
}
