//! Helpers for the integration tests: unique names, namespaces and labs that
//! clean up after themselves (even when a test panics), frame builders,
//! ping and TCP between namespaces.
use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use vpc_control::{apply, model::Model, netns};

/// A name unique to this test run and call: `<prefix><pid>x<n>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}{}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A scratch network namespace, deleted on drop.
pub struct ScratchNs(pub String);

impl ScratchNs {
    /// Creates a namespace named `<prefix><unique>`.
    pub fn new(prefix: &str) -> Self {
        let name = unique(prefix);
        netns::add(&name).unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        ScratchNs(name)
    }

    /// Runs `ip -n <ns> ARGS`, panicking with the error.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.0.as_str()];
        all.extend_from_slice(args);
        netns::ip(&all).unwrap_or_else(|e| panic!("{e}"))
    }

    /// ifindex of an interface of this namespace.
    pub fn ifindex(&self, ifname: &str) -> u32 {
        netns::links(&self.0)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .find(|l| l.ifname == ifname)
            .unwrap_or_else(|| panic!("no {ifname} in {}", self.0))
            .ifindex
    }
}

impl Drop for ScratchNs {
    fn drop(&mut self) {
        let _ = netns::delete(&self.0);
    }
}

/// An applied lab, destroyed on drop (also when the test panics).
pub struct Lab {
    pub model: Model,
    suffix: String,
}

impl Lab {
    /// Applies `toml` (a lab file) after replacing every `@` with a suffix
    /// unique to this run, so ids, namespaces and pins never collide.
    pub fn up(toml: &str) -> Self {
        let suffix = unique("");
        let text = toml.replace('@', &suffix);
        let model = vpc_control::model::Model::from_toml(&text).unwrap_or_else(|e| panic!("lab file: {e}"));
        let lab = Lab { model: model.clone(), suffix };
        apply::apply(model).unwrap_or_else(|e| panic!("apply: {} {e}", e.code()));
        lab
    }

    /// `template` with `@` replaced as in [`Lab::up`].
    pub fn id(&self, template: &str) -> String {
        template.replace('@', &self.suffix)
    }

    /// Applies a changed model.
    pub fn reapply(&mut self, model: Model) -> apply::ApplyReport {
        self.model = model.clone();
        apply::apply(model).unwrap_or_else(|e| panic!("apply: {} {e}", e.code()))
    }

    /// Router counters.
    pub fn counters(&self) -> vpc_control::datapath::Counters {
        let dp = vpc_control::datapath::Datapath::load(Some(&self.model.router.namespace))
            .unwrap_or_else(|e| panic!("{e}"));
        dp.counters().unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = apply::destroy(&self.model) {
            eprintln!("destroy failed: {e}");
        }
    }
}

/// True if `count` pings from namespace `ns` to `dst` all get a reply.
pub fn ping(ns: &str, dst: Ipv4Addr, count: u32) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-q", "-c", &count.to_string(), "-i", "0.1", "-W", "1"])
        .arg(dst.to_string())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// True if no ping from `ns` to `dst` gets a reply.
pub fn ping_fails(ns: &str, dst: Ipv4Addr) -> bool {
    !Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-q", "-c", "2", "-i", "0.2", "-W", "1"])
        .arg(dst.to_string())
        .output()
        .map(|o| o.status.code() != Some(1))
        .unwrap_or(true)
}

/// Opens a TCP connection from namespace `client` to a listener in namespace
/// `server` at `addr:port`, sends a message and reads the echo. True if the
/// bytes came back.
pub fn tcp_echo(server: &str, client: &str, addr: Ipv4Addr, port: u16) -> bool {
    let listener = {
        let _in = netns::NetnsGuard::enter(server).unwrap_or_else(|e| panic!("{e}"));
        TcpListener::bind((addr, port)).unwrap_or_else(|e| panic!("bind in {server}: {e}"))
    };
    let echo = std::thread::spawn(move || {
        use std::io::{Read, Write};
        listener.set_nonblocking(false).ok();
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 64];
            if let Ok(n) = s.read(&mut buf) {
                let _ = s.write_all(&buf[..n]);
            }
        }
    });
    let ok = {
        use std::io::{Read, Write};
        let _in = netns::NetnsGuard::enter(client).unwrap_or_else(|e| panic!("{e}"));
        match TcpStream::connect_timeout(&SocketAddr::from((addr, port)), Duration::from_secs(2)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut buf = [0u8; 5];
                s.write_all(b"hello").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"hello"
            }
            Err(_) => false,
        }
    };
    if !ok {
        // Unblock the echo thread's accept.
        let _in = netns::NetnsGuard::enter(server).ok();
        let _ = TcpStream::connect_timeout(&SocketAddr::from((addr, port)), Duration::from_millis(200));
    }
    let _ = echo.join();
    ok
}

/// The Internet checksum of `data`.
pub fn inet_csum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        sum += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet + IPv4 (correct header checksum) + `payload` of protocol `proto`.
pub fn ipv4_frame(dst_mac: [u8; 6], src_mac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = 20 + payload.len() as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, ttl, proto, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = inet_csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(payload);
    f
}

/// An ICMP echo request frame.
pub fn icmp_echo(dst_mac: [u8; 6], src_mac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x00, 0x01, 0x00, 0x01, b'v', b'p', b'c', b'!'];
    let c = inet_csum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4_frame(dst_mac, src_mac, src, dst, ttl, 1, &icmp)
}

/// An ARP request (`op` 1) or reply (`op` 2) frame.
pub fn arp(op: u16, eth_dst: [u8; 6], sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f
}

#[path = "daemon_helper.rs"]
mod daemon_helper;
pub use daemon_helper::*;
