//! Network namespaces and links: links, addresses and routes through
//! rtnetlink (`netlink-packet-route` over a `netlink-sys` socket created
//! inside the namespace), named namespaces themselves through iproute2
//! (`ip netns add/delete`), and entering a namespace from the calling thread
//! (setns).
use std::{
    fs::File,
    io,
    net::{IpAddr, Ipv4Addr},
    os::fd::{AsRawFd, FromRawFd},
    path::Path,
    process::Command,
};

use ipnet::Ipv4Net;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::{
    AddressFamily, RouteNetlinkMessage,
    address::{AddressAttribute, AddressMessage},
    link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage},
    route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType},
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
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
    /// A command printed, or the kernel answered, something that could not
    /// be parsed.
    #[error("unexpected output of {cmd}: {detail}")]
    Parse { cmd: String, detail: String },
    /// A netlink request (or interface ioctl) failed: the kernel refused it
    /// or the socket failed; `op` is the `ip` command it stands for.
    #[error("{op} in {ns}: {source}")]
    Netlink { ns: String, op: String, source: io::Error },
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

/// Creates the named namespace unless it exists, with loopback up. The
/// namespace itself is made by `ip netns add` (a bind mount of a new
/// namespace on /run/netns/NS, with iproute2's mount propagation setup).
pub fn add(ns: &str) -> Result<(), NetnsError> {
    if !exists(ns) {
        ip(&["netns", "add", ns])?;
        Netlink::open(ns)?.set_link_up("lo", None, None)?;
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

/// A link as the kernel lists it (the fields used here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// ifindex.
    pub ifindex: u32,
    /// Interface name.
    pub ifname: String,
    /// Alias (`ifalias`), if set.
    pub ifalias: Option<String>,
    /// MAC address, `aa:bb:cc:dd:ee:ff` (lower case, as `ip` prints it).
    pub address: Option<String>,
    /// The kernel's counters of the link (IFLA_STATS64), if given.
    pub stats: Option<LinkStats>,
}

/// The kernel's counters of one link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

/// Every link of a namespace.
pub fn links(ns: &str) -> Result<Vec<Link>, NetnsError> {
    Netlink::open(ns)?.links()
}

/// The IPv4 addresses (`a.b.c.d/len`) of one interface.
pub fn ipv4_addresses(ns: &str, ifname: &str) -> Result<Vec<String>, NetnsError> {
    Netlink::open(ns)?.ipv4_addresses(ifname)
}

/// Deletes link `ifname` of namespace `ns` (`ip -n NS link del IFNAME`).
pub fn delete_link(ns: &str, ifname: &str) -> Result<(), NetnsError> {
    Netlink::open(ns)?.delete_link(ifname)
}

/// `aa:bb:cc:dd:ee:ff`.
fn format_mac(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The fields of a link message that [`Link`] keeps.
fn link_of(m: &LinkMessage) -> Link {
    let mut l = Link { ifindex: m.header.index, ifname: String::new(), ifalias: None, address: None, stats: None };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.ifname = n.clone(),
            LinkAttribute::IfAlias(n) => l.ifalias = Some(n.clone()),
            LinkAttribute::Address(b) => l.address = Some(format_mac(b)),
            LinkAttribute::Stats64(s) => {
                l.stats = Some(LinkStats {
                    rx_packets: s.rx_packets,
                    rx_bytes: s.rx_bytes,
                    tx_packets: s.tx_packets,
                    tx_bytes: s.tx_bytes,
                    rx_dropped: s.rx_dropped,
                    tx_dropped: s.tx_dropped,
                })
            }
            _ => {}
        }
    }
    l
}

/// The address of an address message, `a.b.c.d/len`, if IPv4: IFA_LOCAL,
/// else IFA_ADDRESS (what `ip` shows as `local`).
fn ipv4_of(m: &AddressMessage) -> Option<(Ipv4Addr, u8)> {
    if m.header.family != AddressFamily::Inet {
        return None;
    }
    let v4 = |a: &IpAddr| match a {
        IpAddr::V4(a) => Some(*a),
        IpAddr::V6(_) => None,
    };
    let local = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(a) => v4(a),
        _ => None,
    });
    let address = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(a) => v4(a),
        _ => None,
    });
    local.or(address).map(|a| (a, m.header.prefix_len))
}

/// An rtnetlink socket of one named namespace. A socket stays in the
/// namespace it was created in: it is created by a short-lived thread that
/// enters the namespace, and then used from any thread; no other thread's
/// namespace changes. Dropping it closes the socket (so it does not keep a
/// deleted namespace alive): open one per piece of work, not for good.
pub struct Netlink {
    socket: Socket,
    ns: String,
    seq: u32,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink").field("ns", &self.ns).finish()
    }
}

/// Runs `f` on a new thread inside namespace `ns` and returns its result.
/// The calling thread (maybe a tokio worker) never changes namespace.
fn in_namespace<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let _guard = NetnsGuard::enter(ns)?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetnsError::Enter { ns: ns.to_string(), source: io::Error::other("the namespace thread panicked") })
        })
    })
}

/// The first `nlmsghdr`-aligned offset at or after `n`.
fn nlmsg_align(n: usize) -> usize {
    (n + 3) & !3
}

impl Netlink {
    /// A socket inside namespace `ns` (`/run/netns/NS`).
    pub fn open(ns: &str) -> Result<Self, NetnsError> {
        let socket = in_namespace(ns, || {
            let mut socket = Socket::new(NETLINK_ROUTE)?;
            socket.bind_auto()?;
            socket.connect(&SocketAddr::new(0, 0))?;
            Ok(socket)
        })?
        .map_err(|source| NetnsError::Netlink { ns: ns.to_string(), op: "netlink socket".to_string(), source })?;
        Ok(Self { socket, ns: ns.to_string(), seq: 0 })
    }

    fn error(&self, op: &str, source: io::Error) -> NetnsError {
        NetnsError::Netlink { ns: self.ns.clone(), op: op.to_string(), source }
    }

    /// Sends one request and collects the answers: every message of a dump
    /// (`NLM_F_DUMP` in `flags`), else none once the kernel acknowledged.
    /// `op` names the request in errors, as the `ip` command it replaces.
    fn request(
        &mut self,
        op: &str,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetnsError> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(message));
        packet.header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        self.seq = self.seq.wrapping_add(1);
        packet.header.sequence_number = self.seq;
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(|e| self.error(op, e))?;
        let mut answers = Vec::new();
        loop {
            let (data, _) = self.socket.recv_from_full().map_err(|e| self.error(op, e))?;
            let mut offset = 0;
            while offset < data.len() {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..]).map_err(|e| {
                    NetnsError::Parse { cmd: format!("{op} (netlink, in {})", self.ns), detail: e.to_string() }
                })?;
                let len = m.header.length as usize;
                if m.header.sequence_number == self.seq {
                    match m.payload {
                        NetlinkPayload::Done(_) => return Ok(answers),
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(answers),
                                Some(_) => Err(self.error(op, e.to_io())),
                            };
                        }
                        NetlinkPayload::InnerMessage(inner) => answers.push(inner),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                offset += nlmsg_align(len);
            }
        }
    }

    /// Every link of the namespace (`ip link show`).
    pub fn links(&mut self) -> Result<Vec<Link>, NetnsError> {
        let answers = self.request("ip link show", RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_DUMP)?;
        Ok(answers
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(l)),
                _ => None,
            })
            .collect())
    }

    /// The link named `ifname` (`ip link show dev IFNAME`).
    pub fn link(&mut self, ifname: &str) -> Result<Link, NetnsError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(ifname.to_string()));
        let op = format!("ip link show dev {ifname}");
        let answers = self.request(&op, RouteNetlinkMessage::GetLink(m), 0)?;
        answers
            .iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(l)),
                _ => None,
            })
            .ok_or_else(|| self.error(&op, io::Error::from_raw_os_error(libc::ENODEV)))
    }

    fn index_of(&mut self, ifname: &str) -> Result<u32, NetnsError> {
        Ok(self.link(ifname)?.ifindex)
    }

    /// The IPv4 addresses (`a.b.c.d/len`) of one interface, in the kernel's
    /// order (`ip -4 addr show dev IFNAME`).
    pub fn ipv4_addresses(&mut self, ifname: &str) -> Result<Vec<String>, NetnsError> {
        let index = self.index_of(ifname)?;
        Ok(self.addresses(index)?.iter().filter_map(ipv4_of).map(|(a, len)| format!("{a}/{len}")).collect())
    }

    /// Every address (all families) of interface `index`.
    fn addresses(&mut self, index: u32) -> Result<Vec<AddressMessage>, NetnsError> {
        let mut m = AddressMessage::default();
        m.header.index = index;
        let answers = self.request("ip addr show", RouteNetlinkMessage::GetAddress(m), NLM_F_DUMP)?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => Some(a),
                _ => None,
            })
            .collect())
    }

    /// Creates a veth pair: `name` here with ifindex `index`, its peer
    /// `peer` in namespace `peer_ns` (`ip link add NAME index INDEX type
    /// veth peer name PEER netns PEER_NS`).
    pub fn add_veth(&mut self, name: &str, index: u32, peer: &str, peer_ns: &str) -> Result<(), NetnsError> {
        let op = format!("ip link add {name} index {index} type veth peer name {peer} netns {peer_ns}");
        let target = File::open(Path::new("/run/netns").join(peer_ns))
            .map_err(|source| NetnsError::Enter { ns: peer_ns.to_string(), source })?;
        let mut peer_msg = LinkMessage::default();
        peer_msg.attributes.push(LinkAttribute::IfName(peer.to_string()));
        peer_msg.attributes.push(LinkAttribute::NetNsFd(target.as_raw_fd()));
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        // `target` stays open until the kernel answered.
        self.request(&op, RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)?;
        drop(target);
        Ok(())
    }

    /// Deletes link `ifname` (`ip link del IFNAME`); a veth takes its peer
    /// with it.
    pub fn delete_link(&mut self, ifname: &str) -> Result<(), NetnsError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(ifname.to_string()));
        self.request(&format!("ip link del {ifname}"), RouteNetlinkMessage::DelLink(m), 0)?;
        Ok(())
    }

    /// Sets the MAC address, the alias if given, and brings link `ifname`
    /// up (`ip link set dev IFNAME address MAC [alias ALIAS] up`).
    pub fn set_link_up(&mut self, ifname: &str, mac: Option<&[u8; 6]>, alias: Option<&str>) -> Result<(), NetnsError> {
        let index = self.index_of(ifname)?;
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        if let Some(mac) = mac {
            m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        if let Some(alias) = alias {
            m.attributes.push(LinkAttribute::IfAlias(alias.to_string()));
        }
        let op = format!(
            "ip link set dev {ifname}{}{} up",
            mac.map(|m| format!(" address {}", format_mac(m))).unwrap_or_default(),
            alias.map(|a| format!(" alias {a}")).unwrap_or_default()
        );
        self.request(&op, RouteNetlinkMessage::SetLink(m), 0)?;
        Ok(())
    }

    /// Sets the MTU of link `ifname` (`ip link set dev IFNAME mtu MTU`).
    pub fn set_mtu(&mut self, ifname: &str, mtu: u32) -> Result<(), NetnsError> {
        let index = self.index_of(ifname)?;
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::Mtu(mtu));
        self.request(&format!("ip link set dev {ifname} mtu {mtu}"), RouteNetlinkMessage::SetLink(m), 0)?;
        Ok(())
    }

    /// Removes every address of link `ifname` (`ip addr flush dev IFNAME`).
    pub fn flush_addresses(&mut self, ifname: &str) -> Result<(), NetnsError> {
        let index = self.index_of(ifname)?;
        let op = format!("ip addr flush dev {ifname}");
        // Deleting a primary address deletes its secondaries (unless
        // promote_secondaries is set): list again until none is left, as
        // iproute2 does, and take a vanished address as deleted.
        for _ in 0..16 {
            let addresses = self.addresses(index)?;
            if addresses.is_empty() {
                return Ok(());
            }
            for a in addresses {
                match self.request(&op, RouteNetlinkMessage::DelAddress(a), 0) {
                    Err(NetnsError::Netlink { source, .. }) if source.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {}
                    other => {
                        other?;
                    }
                }
            }
        }
        Err(self.error(&op, io::Error::other("addresses keep coming back")))
    }

    /// Adds IPv4 address `address` (with its prefix) to link `ifname`
    /// (`ip addr add ADDRESS dev IFNAME`).
    pub fn add_address(&mut self, ifname: &str, address: Ipv4Net) -> Result<(), NetnsError> {
        let index = self.index_of(ifname)?;
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = address.prefix_len();
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(IpAddr::V4(address.addr())));
        m.attributes.push(AddressAttribute::Address(IpAddr::V4(address.addr())));
        let op = format!("ip addr add {address} dev {ifname}");
        self.request(&op, RouteNetlinkMessage::NewAddress(m), NLM_F_CREATE | NLM_F_EXCL)?;
        Ok(())
    }

    /// Adds or replaces the main table's route to `destination` through
    /// `via` on link `ifname` (`ip route replace DESTINATION via VIA dev
    /// IFNAME`; a /0 destination is `default`).
    pub fn replace_route(&mut self, destination: Ipv4Net, via: Ipv4Addr, ifname: &str) -> Result<(), NetnsError> {
        let index = self.index_of(ifname)?;
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.destination_prefix_length = destination.prefix_len();
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        if destination.prefix_len() > 0 {
            m.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(destination.network())));
        }
        m.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(via)));
        m.attributes.push(RouteAttribute::Oif(index));
        let dst = if destination.prefix_len() == 0 { "default".to_string() } else { destination.trunc().to_string() };
        let op = format!("ip route replace {dst} via {via} dev {ifname}");
        self.request(&op, RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_REPLACE)?;
        Ok(())
    }
}

/// Turns transmit checksum offload on or off on link `ifname` of namespace
/// `ns` (`ethtool -K IFNAME tx on|off`: the ETHTOOL_STXCSUM ioctl; off
/// clears every checksum feature and the kernel then drops the features
/// that need them, such as TSO; on gives them back).
pub fn set_tx_checksum(ns: &str, ifname: &str, on: bool) -> Result<(), NetnsError> {
    let op = || format!("ethtool -K {ifname} tx {}", if on { "on" } else { "off" });
    const ETHTOOL_STXCSUM: u32 = 0x17;
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    let name = ifname.as_bytes();
    if name.len() >= libc::IFNAMSIZ || name.contains(&0) {
        return Err(NetnsError::Netlink {
            ns: ns.to_string(),
            op: op(),
            source: io::Error::from_raw_os_error(libc::EINVAL),
        });
    }
    in_namespace(ns, || {
        // SAFETY: a plain socket call; the fd is owned right after.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a new, valid descriptor owned by nobody else.
        let sock = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let mut value = EthtoolValue { cmd: ETHTOOL_STXCSUM, data: u32::from(on) };
        // SAFETY: ifreq is plain data; all zeroes is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in req.ifr_name.iter_mut().zip(name) {
            *d = *s as libc::c_char;
        }
        req.ifr_ifru.ifru_data = (&raw mut value).cast();
        // SAFETY: req names the interface and points at `value`, both alive
        // for the whole call, as SIOCETHTOOL expects.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut req) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    })?
    .map_err(|source| NetnsError::Netlink { ns: ns.to_string(), op: op(), source })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netns_mac_is_lower_case_with_colons() {
        assert_eq!(format_mac(&[0xee, 0xff, 0x0a, 0, 0x5e, 1]), "ee:ff:0a:00:5e:01");
        assert_eq!(format_mac(&[0; 6]), "00:00:00:00:00:00");
    }

    #[test]
    fn netns_messages_are_aligned_to_four_bytes() {
        assert_eq!([0, 1, 3, 4, 5, 20, 21].map(nlmsg_align), [0, 4, 4, 4, 8, 20, 24]);
    }

    #[test]
    fn netns_link_keeps_index_name_alias_mac_and_stats() {
        let mut m = LinkMessage::default();
        m.header.index = 7;
        m.attributes = vec![
            LinkAttribute::IfName("vpc0000beef".into()),
            LinkAttribute::IfAlias("vpc:i-1".into()),
            LinkAttribute::Address(vec![0xee, 0xff, 0xff, 0xff, 0xff, 0xff]),
            LinkAttribute::Mtu(1500),
        ];
        let l = link_of(&m);
        assert_eq!(
            l,
            Link {
                ifindex: 7,
                ifname: "vpc0000beef".into(),
                ifalias: Some("vpc:i-1".into()),
                address: Some("ee:ff:ff:ff:ff:ff".into()),
                stats: None,
            }
        );
        let bare = link_of(&LinkMessage::default());
        assert_eq!((bare.ifalias, bare.address), (None, None));
    }

    #[test]
    fn netns_ipv4_address_prefers_local_and_skips_ipv6() {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = 24;
        m.attributes = vec![
            AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 99))),
            AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 10))),
        ];
        assert_eq!(ipv4_of(&m), Some((Ipv4Addr::new(10, 0, 1, 10), 24)));
        m.attributes.remove(1);
        assert_eq!(ipv4_of(&m), Some((Ipv4Addr::new(10, 0, 1, 99), 24)));
        m.header.family = AddressFamily::Inet6;
        assert_eq!(ipv4_of(&m), None);
    }

    /// A namespace of this test's own, deleted on drop.
    struct Scratch(String);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = delete(&self.0);
        }
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    /// Every write path through netlink, checked against what `ip` reads.
    /// Needs root (and iproute2 for the namespaces); skipped otherwise.
    #[test]
    fn netns_netlink_round_trip_matches_ip() {
        if !is_root() || ip(&["-V"]).is_err() {
            eprintln!("skipped: needs root and iproute2");
            return;
        }
        let tag = format!("{}-{}", std::process::id(), fastrand::u32(..));
        let (a, b) = (Scratch(format!("vpcnl-a-{tag}")), Scratch(format!("vpcnl-b-{tag}")));
        add(&a.0).unwrap();
        add(&b.0).unwrap();
        let lo = links(&a.0).unwrap();
        assert_eq!(lo.len(), 1, "{lo:?}");
        assert_eq!((lo[0].ifindex, lo[0].ifname.as_str()), (1, "lo"));
        assert!(ip(&["-n", &a.0, "link", "show", "lo"]).unwrap().contains("UP"), "lo is up");

        let mut na = Netlink::open(&a.0).unwrap();
        na.add_veth("vpctest0", 5, "eth0", &b.0).unwrap();
        let err = na.add_veth("vpctest0", 6, "eth1", &b.0).unwrap_err();
        assert!(matches!(&err, NetnsError::Netlink { source, .. } if source.raw_os_error() == Some(libc::EEXIST)), "{err}");
        let mac = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
        na.set_link_up("vpctest0", Some(&mac), Some("vpc:i-test")).unwrap();
        na.set_mtu("vpctest0", 1400).unwrap();
        let l = na.link("vpctest0").unwrap();
        assert_eq!(l.ifindex, 5);
        assert_eq!(l.ifalias.as_deref(), Some("vpc:i-test"));
        assert_eq!(l.address.as_deref(), Some("ee:ff:ff:ff:ff:ff"));
        assert!(l.stats.is_some());
        let shown = ip(&["-n", &a.0, "-d", "link", "show", "vpctest0"]).unwrap();
        assert!(shown.contains("mtu 1400") && shown.contains("alias vpc:i-test") && shown.contains("ee:ff:ff:ff:ff:ff"), "{shown}");
        assert!(shown.contains("state UP") || shown.contains(",UP"), "{shown}");

        let mut nb = Netlink::open(&b.0).unwrap();
        let mac_b = [0x02, 0, 0x5e, 0, 0x53, 1];
        nb.set_link_up("eth0", Some(&mac_b), None).unwrap();
        let addr: Ipv4Net = "10.0.1.10/24".parse().unwrap();
        nb.add_address("eth0", addr).unwrap();
        nb.add_address("eth0", "10.0.1.11/24".parse().unwrap()).unwrap();
        assert_eq!(ipv4_addresses(&b.0, "eth0").unwrap(), ["10.0.1.10/24", "10.0.1.11/24"]);
        nb.replace_route(Ipv4Net::default(), Ipv4Addr::new(10, 0, 1, 1), "eth0").unwrap();
        nb.replace_route(Ipv4Net::default(), Ipv4Addr::new(10, 0, 1, 2), "eth0").unwrap();
        nb.replace_route("198.51.100.0/24".parse().unwrap(), Ipv4Addr::new(10, 0, 1, 1), "eth0").unwrap();
        let routes = ip(&["-n", &b.0, "-4", "route", "show"]).unwrap();
        assert!(routes.contains("default via 10.0.1.2 dev eth0"), "{routes}");
        assert!(!routes.contains("default via 10.0.1.1"), "replaced: {routes}");
        assert!(routes.contains("198.51.100.0/24 via 10.0.1.1 dev eth0"), "{routes}");
        nb.flush_addresses("eth0").unwrap();
        assert!(ipv4_addresses(&b.0, "eth0").unwrap().is_empty());
        assert!(matches!(ipv4_addresses(&b.0, "nosuch0"), Err(NetnsError::Netlink { .. })));

        if ip(&["-V"]).is_ok() && exec(&b.0, "ethtool", &["-k", "eth0"]).is_ok() {
            set_tx_checksum(&b.0, "eth0", false).unwrap();
            let k = exec(&b.0, "ethtool", &["-k", "eth0"]).unwrap();
            assert!(k.contains("tx-checksumming: off"), "{k}");
        }

        // Deleting one end takes the peer with it.
        delete_link(&a.0, "vpctest0").unwrap();
        assert!(links(&b.0).unwrap().iter().all(|l| l.ifname != "eth0"));
        assert!(matches!(delete_link(&a.0, "vpctest0"), Err(NetnsError::Netlink { .. })));
        assert!(matches!(Netlink::open("vpcnl-no-such-namespace"), Err(NetnsError::Enter { .. })));
    }
}
