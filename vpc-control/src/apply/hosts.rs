//! Names of the cloud's services inside instances: `ip netns exec NS`
//! bind-mounts `/etc/netns/NS/hosts` over `/etc/hosts`, so each instance
//! namespace the router makes gets a hosts file naming the object storage
//! endpoints (`oss-<region>-internal.aliyuncs.com` -> the internal address,
//! `oss-<region>.aliyuncs.com` -> the public one) and, for virtual-host
//! addressing, `<bucket>.` each of them for every bucket published. This is
//! a hosts file, not a resolver: only programs started with `ip netns exec`
//! (or that read `/etc/netns/NS/hosts` themselves) see it, and a name not
//! listed does not resolve (the VPC's own resolver is another issue).
//!
//! The router's current list lives in `/run/vpc/service-hosts/<router ns>`
//! (tmpfs, as long-lived as the namespaces): [`publish`] rewrites it and
//! every instance's file; a namespace made later copies it.
use std::{
    fmt::Write as _,
    io::Write as _,
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use thiserror::Error;

use crate::model::CloudServices;

/// Why a hosts file could not be written or removed.
#[derive(Debug, Error)]
pub enum HostsError {
    /// Writing, renaming or removing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A bucket name that cannot be a host name label (refused, nothing written).
    #[error("the bucket name {0:?} is not a valid host name label")]
    BadBucket(String),
}

/// Where `ip netns exec` looks for a namespace's own files.
const NETNS_ETC: &str = "/etc/netns";
/// Where each router's current hosts file is kept.
const STATE_ROOT: &str = "/run/vpc/service-hosts";

/// The region whose endpoint names a router without one set uses (the
/// daemon's default RegionId).
pub const DEFAULT_REGION: &str = "cn-hangzhou";

/// The internal endpoint's name in `region`.
pub fn internal_endpoint(region: &str) -> String {
    format!("oss-{region}-internal.aliyuncs.com")
}

/// The public endpoint's name in `region`.
pub fn public_endpoint(region: &str) -> String {
    format!("oss-{region}.aliyuncs.com")
}

/// True for a name the object store accepts for a bucket and a host name
/// label can carry: 3 to 63 lowercase letters, digits and hyphens, not
/// starting or ending with a hyphen.
pub fn is_bucket_label(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !b.starts_with('-')
        && !b.ends_with('-')
}

/// The hosts file of an instance: localhost, the two endpoints of `region`
/// and `<bucket>.` each of them for every bucket.
pub fn content(
    region: &str,
    services: &CloudServices,
    buckets: &[String],
) -> Result<String, HostsError> {
    if let Some(b) = buckets.iter().find(|b| !is_bucket_label(b)) {
        return Err(HostsError::BadBucket(b.clone()));
    }
    let mut out = String::from("# Written by the VPC router: the cloud's service names.\n");
    out.push_str("127.0.0.1\tlocalhost\n");
    let mut line = |ip: Ipv4Addr, name: &str| {
        let _ = writeln!(out, "{ip}\t{name}");
    };
    let (internal, public) = (internal_endpoint(region), public_endpoint(region));
    line(services.object_storage_internal_ip, &internal);
    line(services.object_storage_public_ip, &public);
    for b in buckets {
        line(
            services.object_storage_internal_ip,
            &format!("{b}.{internal}"),
        );
        line(services.object_storage_public_ip, &format!("{b}.{public}"));
    }
    Ok(out)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HostsError + '_ {
    move |source| HostsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `text` to `path` whole (a temporary file renamed over it).
fn write_whole(path: &Path, text: &str) -> Result<(), HostsError> {
    let dir = path.parent().expect("a file in a directory");
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(text.as_bytes()).map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// The router's current hosts file.
fn state_path(router_ns: &str) -> PathBuf {
    Path::new(STATE_ROOT).join(router_ns)
}

/// The hosts file `ip netns exec` shows in namespace `ns`.
pub fn hosts_path(ns: &str) -> PathBuf {
    Path::new(NETNS_ETC).join(ns).join("hosts")
}

/// Makes `text` the router's hosts file and every listed instance
/// namespace's (`instances`: those the router made).
pub fn publish(router_ns: &str, text: &str, instances: &[String]) -> Result<(), HostsError> {
    write_whole(&state_path(router_ns), text)?;
    for inst in instances {
        write_whole(&hosts_path(inst), text)?;
    }
    Ok(())
}

/// The resolv.conf `ip netns exec` shows in namespace `ns`.
pub fn resolv_conf_path(ns: &str) -> PathBuf {
    Path::new(NETNS_ETC).join(ns).join("resolv.conf")
}

/// An instance's resolv.conf: the VPC's resolver at the cloud's two
/// addresses, with the cloud's options (docs/dns.md).
pub fn resolv_conf() -> String {
    let mut out = String::from("# Written by the VPC router: the VPC's resolver.\n");
    out.push_str("options timeout:2 attempts:3 rotate single-request-reopen\n");
    for a in crate::compile::dns::DNS_ADDRS {
        let _ = writeln!(out, "nameserver {a}");
    }
    out
}

/// Gives a new (or repaired) instance namespace the router's current hosts
/// file, or `default` while the router has published none, and the VPC's
/// resolver in its resolv.conf.
pub fn install(router_ns: &str, inst: &str, default: &str) -> Result<(), HostsError> {
    let resolv = resolv_conf_path(inst);
    let want = resolv_conf();
    if std::fs::read_to_string(&resolv).map_or(true, |t| t != want) {
        write_whole(&resolv, &want)?;
    }
    let state = state_path(router_ns);
    let text = match std::fs::read_to_string(&state) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => default.to_string(),
        Err(e) => return Err(io(&state)(e)),
    };
    let path = hosts_path(inst);
    if std::fs::read_to_string(&path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    write_whole(&path, &text)
}

/// Removes namespace `ns`'s files (its hosts file, resolv.conf and directory).
pub fn remove(ns: &str) -> Result<(), HostsError> {
    let dir = Path::new(NETNS_ETC).join(ns);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&dir)(e)),
        _ => Ok(()),
    }
}

/// Forgets the router's hosts file.
pub fn forget(router_ns: &str) -> Result<(), HostsError> {
    let p = state_path(router_ns);
    match std::fs::remove_file(&p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&p)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_names_both_endpoints_and_each_bucket_for_virtual_host_addressing() {
        let s = CloudServices::default();
        let text = content("cn-hangzhou", &s, &["logs-1".to_string()]).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "127.0.0.1\tlocalhost",
                "100.118.28.1\toss-cn-hangzhou-internal.aliyuncs.com",
                "198.51.100.80\toss-cn-hangzhou.aliyuncs.com",
                "100.118.28.1\tlogs-1.oss-cn-hangzhou-internal.aliyuncs.com",
                "198.51.100.80\tlogs-1.oss-cn-hangzhou.aliyuncs.com",
            ]
        );
    }

    #[test]
    fn resolv_conf_names_the_vpc_resolver_at_both_addresses() {
        let text = resolv_conf();
        let servers: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("nameserver "))
            .collect();
        assert_eq!(servers, ["100.100.2.136", "100.100.2.138"]);
    }

    #[test]
    fn a_bucket_name_that_is_no_host_label_is_refused() {
        let s = CloudServices::default();
        for bad in [
            "a",
            "UPPER",
            "-lead",
            "tail-",
            "has space",
            "x\n1.2.3.4 evil",
        ] {
            assert!(
                matches!(
                    content("cn-hangzhou", &s, &[bad.to_string()]),
                    Err(HostsError::BadBucket(_))
                ),
                "{bad:?} accepted"
            );
        }
    }
}
