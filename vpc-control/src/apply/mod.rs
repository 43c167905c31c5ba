//! Apply: converge the kernel (namespaces, veths, maps, XDP attachments) to
//! a model, writing only the difference; destroy: remove all of it.
//!
//! The kernel is the record of what was applied: router ports carry the id
//! of their instance in their alias, maps are pinned in bpffs. Nothing is
//! touched before the model has validated and compiled.

pub mod fault;
pub mod health;
pub mod hosts;
pub mod stats;
pub mod watch;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use ipnet::Ipv4Net;

use thiserror::Error;

use crate::{
    compile::{self, CompileError},
    datapath::{self, Datapath, DatapathError, Mode, PortAttachment, WriteStats},
    model::{self, Model},
    netns::{self, NetnsError},
    topology::{
        self, INSTANCE_IFNAME, INTERNET_IFNAME, PORT_ALIAS_PREFIX, PortPlan, ROUTER_MAC,
        SERVICES_IFNAME, SERVICES_NS_IFNAME, UPLINK_IFNAME,
    },
    validate::{self, ValidationError},
};

/// Why an apply or destroy failed.
#[derive(Debug, Error)]
pub enum ApplyError {
    /// The model is refused; nothing was changed.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The model could not be compiled; nothing was changed.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// Creating or changing namespaces or links failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// Loading the datapath or writing maps failed.
    #[error(transparent)]
    Datapath(#[from] DatapathError),
    /// Writing or removing an instance's hosts file failed.
    #[error(transparent)]
    Hosts(#[from] hosts::HostsError),
    /// Recording (or forgetting) an instance namespace the router owns failed.
    #[error("instance namespace record {path}: {source}")]
    Claim {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ApplyError {
    /// The cloud-style error code.
    pub fn code(&self) -> &'static str {
        match self {
            ApplyError::Invalid(e) => e.code(),
            ApplyError::Compile(e) => e.code(),
            ApplyError::Netns(_)
            | ApplyError::Datapath(_)
            | ApplyError::Claim { .. }
            | ApplyError::Hosts(_) => "InternalError",
        }
    }
}

/// What an apply changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Instance ports created.
    pub ports_created: usize,
    /// Instance ports (and their namespaces) removed.
    pub ports_removed: usize,
    /// Map writes.
    pub writes: WriteStats,
}

/// A router port found in the router namespace.
#[derive(Debug, Clone)]
pub struct ExistingPort {
    /// Interface name.
    pub name: String,
    /// ifindex.
    pub ifindex: u32,
    /// Instance id from the alias.
    pub instance_id: String,
    /// Frames the kernel dropped on the port (rx_dropped + tx_dropped of
    /// the link: e.g. a redirect the veth could not take), which the
    /// datapath's own counters cannot see.
    pub kernel_dropped: u64,
}

/// The router ports of a namespace (interfaces carrying our alias).
pub fn router_ports(router_namespace: &str) -> Result<Vec<ExistingPort>, NetnsError> {
    if !netns::exists(router_namespace) {
        return Ok(Vec::new());
    }
    Ok(ports_of(&netns::links(router_namespace)?))
}

/// Creates the router namespace if needed (true if it did) and sets it up.
fn ensure_router_namespace(ns: &str) -> Result<bool, NetnsError> {
    let created = !netns::exists(ns);
    netns::add(ns)?;
    // The router namespace forwards nothing itself: every routed packet is XDP's.
    netns::sysctl(ns, "net.ipv4.ip_forward", "0")?;
    netns::sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")?;
    netns::sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")?;
    Ok(created)
}

/// The lowest ifindex below `MAX_PORTS` no link of the router namespace
/// has: the port maps are arrays indexed by ifindex, so the control plane
/// chooses each port's ifindex instead of taking the kernel's next one
/// (which only grows as ports come and go).
fn free_port_index(used: &BTreeSet<u32>) -> Result<u32, ApplyError> {
    // 1 is the namespace's loopback.
    (2..vpc_common::MAX_PORTS)
        .find(|i| !used.contains(i))
        .ok_or_else(|| {
            CompileError::Capacity {
                map: "ENI_BY_PORT",
                entries: used.len() + 1,
                max: vpc_common::MAX_PORTS as usize - 2,
            }
            .into()
        })
}

/// Where a router records the instance namespaces it owns: one empty file
/// per instance, written before the namespace is made and removed after it
/// is deleted, so a namespace left by a crash or a failure half-way (made,
/// but its veth not yet) is still known as this router's and removed by
/// the next full converge or by `vpc purge`.
pub fn claims_dir(router_ns: &str) -> PathBuf {
    Path::new(CLAIMS_ROOT).join(router_ns)
}

/// Root of the records of [`claims_dir`] (tmpfs: as long-lived as the
/// namespaces themselves).
const CLAIMS_ROOT: &str = "/run/vpc/instance-namespaces";

fn claim_err(path: PathBuf) -> impl FnOnce(std::io::Error) -> ApplyError {
    move |source| ApplyError::Claim { path, source }
}

/// Records that `router_ns` owns the instance namespace `inst` (before
/// making it).
pub fn claim_namespace(router_ns: &str, inst: &str) -> Result<(), ApplyError> {
    let dir = claims_dir(router_ns);
    std::fs::create_dir_all(&dir).map_err(claim_err(dir.clone()))?;
    let path = dir.join(inst);
    std::fs::write(&path, b"").map_err(claim_err(path))
}

/// Deletes the instance namespace `inst`, then its record.
fn release_namespace(router_ns: &str, inst: &str) -> Result<(), ApplyError> {
    netns::delete(inst)?;
    hosts::remove(inst)?;
    fault::point("remove:namespace");
    let path = claims_dir(router_ns).join(inst);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(claim_err(path)(e)),
        _ => Ok(()),
    }
}

/// Publishes the cloud's service names for the router of `router_ns`: the
/// object storage endpoints of `region` and `<bucket>.` each of them for
/// every bucket, in the hosts file of every instance namespace the router
/// made (and of those it makes later). Call it again whenever the buckets
/// change; a bucket name that is no host label is refused, nothing changed.
pub fn publish_service_names(
    router_ns: &str,
    region: &str,
    services: &model::CloudServices,
    buckets: &[String],
) -> Result<(), ApplyError> {
    let text = hosts::content(region, services, buckets)?;
    hosts::publish(router_ns, &text, &claimed_namespaces(router_ns)?)?;
    Ok(())
}

/// The instance namespaces `router_ns` has recorded as its own.
pub fn claimed_namespaces(router_ns: &str) -> Result<Vec<String>, ApplyError> {
    let dir = claims_dir(router_ns);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(claim_err(dir)(e)),
    };
    Ok(entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect())
}

/// Converges one instance's namespace and veth; creates the pair with router
/// port ifindex `create` if given (the port does not exist). Returns whether
/// it created the pair. A namespace it made is deleted again if a later
/// step fails.
fn converge_port(
    router_ns: &str,
    p: &PortPlan,
    create: Option<u32>,
    mode: Mode,
    default_hosts: &str,
) -> Result<bool, ApplyError> {
    let inst = p.instance_id.as_str();
    let made = !netns::exists(inst);
    claim_namespace(router_ns, inst)?;
    fault::point("port:claimed");
    let result = converge_port_in(router_ns, p, create, mode)
        .map_err(ApplyError::from)
        .and_then(|created| {
            hosts::install(router_ns, inst, default_hosts)?;
            Ok(created)
        });
    if result.is_err() && made {
        if let Err(e) = release_namespace(router_ns, inst) {
            tracing::warn!(instance = inst, error = %e, "removing a half-made instance namespace failed");
        }
    }
    result
}

/// [`converge_port`] once the namespace is recorded.
fn converge_port_in(
    router_ns: &str,
    p: &PortPlan,
    create: Option<u32>,
    mode: Mode,
) -> Result<bool, NetnsError> {
    let inst = p.instance_id.as_str();
    netns::add(inst)?;
    netns::sysctl(inst, "net.ipv6.conf.all.disable_ipv6", "1")?;
    netns::sysctl(inst, "net.ipv6.conf.default.disable_ipv6", "1")?;
    if !p.extra_addresses.is_empty() {
        // ARP for the gateway from the port's own address (the router
        // answers that one), not from an extra address a reply came from.
        netns::sysctl(inst, "net.ipv4.conf.all.arp_announce", "2")?;
    }
    fault::point("port:namespace");
    let mut router = netns::Netlink::open(router_ns)?;
    let mut instance = netns::Netlink::open(inst)?;
    if let Some(index) = create {
        // A leftover eth0 (its router end is gone) would block the new pair.
        if instance
            .links()?
            .iter()
            .any(|l| l.ifname == INSTANCE_IFNAME)
        {
            instance.delete_link(INSTANCE_IFNAME)?;
        }
        router.add_veth(&p.port_name, index, INSTANCE_IFNAME, inst)?;
        fault::point("port:veth");
    }
    let alias = format!("{PORT_ALIAS_PREFIX}{inst}");
    router.set_link_up(&p.port_name, Some(&ROUTER_MAC), Some(&alias))?;
    instance.set_link_up(INSTANCE_IFNAME, Some(&p.mac), None)?;
    let want: BTreeSet<String> = std::iter::once(p.address).chain(p.extra_addresses.iter().copied()).map(|a| a.to_string()).collect();
    let have = instance.ipv4_addresses(INSTANCE_IFNAME)?;
    if have.len() != want.len() || have.iter().any(|a| !want.contains(a)) {
        instance.flush_addresses(INSTANCE_IFNAME)?;
        instance.add_address(INSTANCE_IFNAME, p.address)?;
        for a in &p.extra_addresses {
            instance.add_address(INSTANCE_IFNAME, *a)?;
        }
    }
    instance.replace_route(Ipv4Net::default(), p.gateway, INSTANCE_IFNAME)?;
    // XDP sees the bytes on the wire: a TCP/UDP checksum left for offload
    // (CHECKSUM_PARTIAL) would reach the peer incomplete, so in XDP mode
    // instances compute their checksums in software (as a VM's virtio NIC
    // without offload does). tc mode keeps the offload metadata: on.
    netns::set_tx_checksum(inst, INSTANCE_IFNAME, mode == Mode::Tc)?;
    fault::point("port:configured");
    Ok(create.is_some())
}

/// Creates the lab's internet if needed: a namespace behind the router's
/// uplink veth, holding the test hosts' addresses, routing the public pool
/// to the router. Returns nothing; the uplink's ifindex is read with the
/// router's other links.
fn ensure_internet(
    router_ns: &str,
    internet: &model::Internet,
    services: &model::CloudServices,
    mode: Mode,
) -> Result<(), ApplyError> {
    let inet = model::Internet::namespace(router_ns);
    let made = !netns::exists(&inet);
    netns::add(&inet)?;
    netns::sysctl(&inet, "net.ipv6.conf.all.disable_ipv6", "1")?;
    netns::sysctl(&inet, "net.ipv6.conf.default.disable_ipv6", "1")?;
    // ARP for the router's link address from the link address (the router
    // answers only its link peer), not from a host address of the packet.
    netns::sysctl(&inet, "net.ipv4.conf.all.arp_announce", "2")?;
    let mut router = netns::Netlink::open(router_ns)?;
    let mut internet_ns = netns::Netlink::open(&inet)?;
    let links = router.links()?;
    let uplink = links.iter().find(|l| l.ifname == UPLINK_IFNAME);
    if let Some(l) = uplink.filter(|l| l.ifindex >= vpc_common::MAX_PORTS || made) {
        // Made before the port maps were arrays: beyond them, so made
        // again; or its other end is in a namespace whose name is gone.
        router.delete_link(&l.ifname)?;
    }
    let uplink = uplink.filter(|_| !made);
    if uplink.is_none_or(|l| l.ifindex >= vpc_common::MAX_PORTS) {
        if internet_ns
            .links()?
            .iter()
            .any(|l| l.ifname == INTERNET_IFNAME)
        {
            internet_ns.delete_link(INTERNET_IFNAME)?;
        }
        let index = free_port_index(&links.iter().map(|l| l.ifindex).collect())?;
        router.add_veth(UPLINK_IFNAME, index, INTERNET_IFNAME, &inet)?;
    }
    router.set_link_up(UPLINK_IFNAME, Some(&ROUTER_MAC), Some("vpc-uplink"))?;
    internet_ns.set_link_up(INTERNET_IFNAME, Some(&topology::INTERNET_MAC), None)?;
    let uplink_net = Ipv4Net::new(topology::UPLINK_INTERNET_IP, topology::UPLINK_PREFIX_LEN)
        .expect("UPLINK_PREFIX_LEN is a valid prefix length");
    let mut want: Vec<Ipv4Net> = vec![uplink_net];
    want.extend(internet.hosts.iter().copied());
    // The object storage service's public endpoint, on the lab internet.
    want.push(Ipv4Net::from(services.object_storage_public_ip));
    let have = internet_ns.ipv4_addresses(INTERNET_IFNAME)?;
    let want_text: BTreeSet<String> = want.iter().map(|a| a.to_string()).collect();
    if have.into_iter().collect::<BTreeSet<_>>() != want_text {
        internet_ns.flush_addresses(INTERNET_IFNAME)?;
        for a in &want {
            internet_ns.add_address(INTERNET_IFNAME, *a)?;
        }
    }
    internet_ns.replace_route(
        internet.public_pool,
        topology::UPLINK_ROUTER_IP,
        INTERNET_IFNAME,
    )?;
    netns::set_tx_checksum(&inet, INTERNET_IFNAME, mode == Mode::Tc)?;
    Ok(())
}

/// Creates the cloud's services network if needed (GWE-2): a namespace
/// behind the router's services port, holding the object storage service's
/// internal address, routing the endpoint source block back to the router.
/// Reached from VPCs only through the router (gateway endpoints).
fn ensure_services(
    router_ns: &str,
    services: &model::CloudServices,
    mode: Mode,
) -> Result<(), ApplyError> {
    let svc = model::CloudServices::namespace(router_ns);
    let made = !netns::exists(&svc);
    netns::add(&svc)?;
    netns::sysctl(&svc, "net.ipv6.conf.all.disable_ipv6", "1")?;
    netns::sysctl(&svc, "net.ipv6.conf.default.disable_ipv6", "1")?;
    // ARP for the router's link address from the link address (the router
    // answers only its link peer), not from the service's address.
    netns::sysctl(&svc, "net.ipv4.conf.all.arp_announce", "2")?;
    let mut router = netns::Netlink::open(router_ns)?;
    let mut svc_ns = netns::Netlink::open(&svc)?;
    let links = router.links()?;
    let port = links.iter().find(|l| l.ifname == SERVICES_IFNAME);
    if let Some(l) = port.filter(|l| l.ifindex >= vpc_common::MAX_PORTS || made) {
        // Beyond the port maps, or its other end is in a namespace whose
        // name is gone (kept alive by a socket in it): made again.
        router.delete_link(&l.ifname)?;
    }
    let port = port.filter(|_| !made);
    if port.is_none_or(|l| l.ifindex >= vpc_common::MAX_PORTS) {
        if svc_ns
            .links()?
            .iter()
            .any(|l| l.ifname == SERVICES_NS_IFNAME)
        {
            svc_ns.delete_link(SERVICES_NS_IFNAME)?;
        }
        let index = free_port_index(&links.iter().map(|l| l.ifindex).collect())?;
        router.add_veth(SERVICES_IFNAME, index, SERVICES_NS_IFNAME, &svc)?;
    }
    router.set_link_up(SERVICES_IFNAME, Some(&ROUTER_MAC), Some("vpc-services"))?;
    svc_ns.set_link_up(SERVICES_NS_IFNAME, Some(&topology::SERVICES_MAC), None)?;
    let link = Ipv4Net::new(topology::SERVICES_LINK_IP, topology::SERVICES_PREFIX_LEN)
        .expect("SERVICES_PREFIX_LEN is a valid prefix length");
    let want = [link, Ipv4Net::from(services.object_storage_internal_ip)];
    let want_text: BTreeSet<String> = want.iter().map(|a| a.to_string()).collect();
    let have = svc_ns.ipv4_addresses(SERVICES_NS_IFNAME)?;
    if have.into_iter().collect::<BTreeSet<_>>() != want_text {
        svc_ns.flush_addresses(SERVICES_NS_IFNAME)?;
        for a in &want {
            svc_ns.add_address(SERVICES_NS_IFNAME, *a)?;
        }
    }
    svc_ns.replace_route(
        services.endpoint_source_block,
        topology::SERVICES_ROUTER_IP,
        SERVICES_NS_IFNAME,
    )?;
    netns::set_tx_checksum(&svc, SERVICES_NS_IFNAME, mode == Mode::Tc)?;
    Ok(())
}

/// Checks a model and compiles it with placeholder ifindexes: an error here
/// means nothing may be touched.
pub fn check(model: &Model) -> Result<(), ApplyError> {
    validate::validate(model)?;
    check_compiles(model)
}

/// Compiles an already validated model with placeholder ifindexes (the
/// compile errors: id collisions, map capacity), discarding the result.
pub fn check_compiles(model: &Model) -> Result<(), ApplyError> {
    let plan = topology::plan(model);
    let mut dry_ports: BTreeMap<String, u32> =
        plan.ports.iter().map(|p| (p.eni_id.clone(), 0)).collect();
    dry_ports.insert(topology::UPLINK_PORT.to_string(), 0);
    dry_ports.insert(topology::SERVICES_PORT.to_string(), 0);
    compile::compile(model, &dry_ports)?;
    Ok(())
}

/// A validated model made ready to install by [`Router::prepare`]: compiled
/// against the router's existing ports when it needs no new one (then
/// [`Router::install`] only writes the difference), else only checked.
#[derive(Debug)]
pub struct Prepared {
    /// The map entries, if every port of the model exists already.
    compiled: Option<Compiled>,
}

/// A model compiled against the existing ports.
#[derive(Debug)]
struct Compiled {
    desired: compile::MapEntries,
    attach: Vec<PortAttachment>,
}

/// A router: its namespace and its loaded datapath, kept for the life of a
/// process (the daemon) so each change only writes the difference.
pub struct Router {
    namespace: String,
    datapath: Datapath,
    /// Ports (name, instance) checked or created by this process: later
    /// converges trust them instead of re-running iproute2 for each (an
    /// instance's address and vSwitch never change once created).
    verified: BTreeSet<(String, String)>,
    /// The router namespace's links as last listed, while no port has been
    /// created or removed since: a change that needs no new port and
    /// removes none reuses them instead of listing again.
    links: Option<Vec<netns::Link>>,
    /// The configuration entries the maps hold, as this process last wrote
    /// them (read from the kernel once, and again after a failed write):
    /// each change diffs against them instead of reading every map back.
    current: Option<compile::MapEntries>,
    /// Identity of the router namespace as last set up by this process: a
    /// namespace deleted (and maybe made again) behind its back differs.
    namespace_id: Option<(u64, u64)>,
    /// Each route table's compiled routes as last compiled: a change
    /// compiles only the tables it touched ([`compile::compile_with`]).
    memo: compile::RouteMemo,
    /// The health of the load balancers' backends (the daemon's checks
    /// write it): each compile leaves the unavailable ones out of the rings.
    health: std::sync::Arc<health::Table>,
    /// This router's own watch of the kernel (see [`watch`]): while it
    /// runs, a change checks for what vanished behind the daemon's back
    /// (namespaces, veths, pinned attachments: a dozen system calls that
    /// grow with the instances) only after it saw something (the kernel
    /// queues the event before the deleting call returns), instead of at
    /// every change. None: at every change.
    watcher: Option<watch::Watcher>,
    /// Nothing vanished at the last check, and no event came since.
    trusted: bool,
    /// The attachments [`Datapath::attach`] last made sure of, while
    /// trusted.
    attached_for: Option<Vec<datapath::PortAttachment>>,
}

/// Device and inode of a named namespace (`/run/netns/NAME`), if it exists.
fn namespace_id(ns: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(std::path::Path::new("/run/netns").join(ns))
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

impl Router {
    /// Creates the router namespace if needed and loads the datapath, reusing
    /// maps already pinned for it (their entries keep forwarding meanwhile).
    pub fn open(namespace: &str) -> Result<Self, ApplyError> {
        Self::open_with_direct_slots(namespace, datapath::DIRECT_SLOTS)
    }

    /// [`Self::open`] with `slots` slots of the direct route stage.
    pub fn open_with_direct_slots(namespace: &str, slots: u32) -> Result<Self, ApplyError> {
        Self::open_with(namespace, slots, Mode::default())
    }

    /// [`Self::open`] with `slots` slots of the direct route stage, the
    /// router program attached in `mode` (ports attached in the other mode
    /// are switched at the next converge).
    pub fn open_with(namespace: &str, slots: u32, mode: Mode) -> Result<Self, ApplyError> {
        if validate::check_id("router namespace", namespace).is_err() {
            return Err(ValidationError::InvalidRouterNamespace(namespace.to_string()).into());
        }
        let created = ensure_router_namespace(namespace)?;
        if created && datapath::pin_dir(namespace).exists() {
            tracing::warn!(
                namespace,
                "the router namespace was gone (deleted while no daemon ran): it is made again, and its ports from the stored state"
            );
        }
        // Load drops link pins whose interface is gone; then the maps lose
        // the ports whose interface is gone. Live ports keep forwarding.
        let mut datapath = Datapath::load_router(namespace, slots, mode)?;
        let live: BTreeSet<u32> = netns::links(namespace)?.iter().map(|l| l.ifindex).collect();
        let dropped = datapath.drop_vanished_ports(&live)?;
        if !dropped.is_empty() {
            tracing::warn!(
                namespace,
                ifindexes = ?dropped,
                "dropped the map entries of router ports whose interface is gone (namespace or veth deleted while no daemon ran); they are made again from the stored state"
            );
        }
        Ok(Self {
            namespace: namespace.to_string(),
            datapath,
            verified: BTreeSet::new(),
            links: None,
            current: None,
            namespace_id: namespace_id(namespace),
            memo: compile::RouteMemo::default(),
            health: Default::default(),
            watcher: watch::Watcher::open(namespace)
                .inspect_err(|e| tracing::warn!(error = %e, "every change checks the router's namespaces and ports"))
                .ok(),
            trusted: false,
            attached_for: None,
        })
    }

    /// True if the kernel may have changed behind the daemon's back since
    /// the last call: the watch saw something (or cannot tell), or there
    /// is no watch.
    fn kernel_moved(&mut self) -> bool {
        match &mut self.watcher {
            Some(w) => w.wait(std::time::Duration::ZERO).unwrap_or(true),
            None => true,
        }
    }

    /// True if something this process set up vanished behind its back: the
    /// router namespace was deleted (or made again), or a port's interface
    /// went (the kernel drops it from the device map then; an instance's
    /// namespace deleted takes its veth with it).
    fn vanished(&self) -> Result<Option<&'static str>, ApplyError> {
        if namespace_id(&self.namespace) != self.namespace_id {
            return Ok(Some("the router namespace was deleted"));
        }
        // The kernel tears a deleted namespace down a little later: its
        // name is gone at once, its veths only then.
        if self
            .verified
            .iter()
            .any(|(_, inst)| !inst.is_empty() && !netns::exists(inst))
        {
            return Ok(Some("an instance namespace was deleted"));
        }
        // The internet's and the services' too (a socket a service holds
        // in one keeps it, and its veth, alive after its name is gone).
        for (port, ns, why) in [
            (
                UPLINK_IFNAME,
                model::Internet::namespace(&self.namespace),
                "the internet namespace was deleted",
            ),
            (
                SERVICES_IFNAME,
                model::CloudServices::namespace(&self.namespace),
                "the services namespace was deleted",
            ),
        ] {
            if self.verified.contains(&(port.to_string(), String::new())) && !netns::exists(&ns) {
                return Ok(Some(why));
            }
        }
        if let Some(current) = &self.current {
            let egress = self.datapath.egress_ports()?;
            if current.eni_by_port.keys().any(|p| !egress.contains(p)) {
                return Ok(Some(
                    "a router port's interface is gone (veth or instance namespace deleted)",
                ));
            }
        }
        Ok(None)
    }

    /// Converges the kernel to `model` (the committed one) again if
    /// something this process set up vanished behind its back (see
    /// [`watch`]): what went is made again, the rest is left as it is.
    /// Returns what vanished, or None (nothing touched).
    pub fn repair(&mut self, model: &Model) -> Result<Option<&'static str>, ApplyError> {
        let Some(why) = self.vanished()? else {
            return Ok(None);
        };
        tracing::warn!(namespace = %self.namespace, "{why} behind the daemon's back: made again now");
        self.forget();
        let report = self.converge(model)?;
        tracing::info!(namespace = %self.namespace, ports_created = report.ports_created, "repaired: the kernel is the model again");
        Ok(Some(why))
    }

    /// Forgets every port, link and map entry this process trusted: the
    /// next install checks (and makes again) each from the kernel.
    fn forget(&mut self) {
        self.verified.clear();
        self.links = None;
        self.current = None;
        // A repair compiles everything again.
        self.memo = compile::RouteMemo::default();
        self.datapath.forget_attached();
        self.trusted = false;
        self.attached_for = None;
    }

    /// The router namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The loaded datapath.
    pub fn datapath(&self) -> &Datapath {
        &self.datapath
    }

    /// The health of the load balancers' backends: what the daemon's
    /// checks found (`status(group, server_ip, port)`), and what the rings
    /// leave out at the next converge.
    pub fn health(&self) -> &std::sync::Arc<health::Table> {
        &self.health
    }

    /// The loaded datapath, mutable (e.g. to take its logger).
    pub fn datapath_mut(&mut self) -> &mut Datapath {
        &mut self.datapath
    }

    /// Converges the kernel to `model` (whose router namespace must be this
    /// router's). Validates and compiles first: an invalid model changes
    /// nothing.
    pub fn converge(&mut self, model: &Model) -> Result<ApplyReport, ApplyError> {
        let model = model.clone().with_system_route_tables();
        validate::validate(&model)?;
        let prepared = self.prepare(&model)?;
        let report = self.install(&model, prepared)?;
        // Converged means no entry of a replaced policy is left either.
        self.datapath.remove_retired(true)?;
        Ok(report)
    }

    /// Leaves the entries of replaced policies to
    /// [`Self::remove_retired`] after [`Self::install`], instead of
    /// waiting out their grace there (see `Datapath::set_defer_retired`).
    pub fn set_defer_retired(&mut self, on: bool) {
        self.datapath.set_defer_retired(on);
    }

    /// When entries of replaced policies are due for removal, if any are
    /// kept.
    pub fn retired_due(&self) -> Option<std::time::Instant> {
        self.datapath.retired_due()
    }

    /// Removes the entries of replaced policies whose grace has passed;
    /// when the next ones are due, if any.
    pub fn remove_retired(&mut self) -> Result<Option<std::time::Instant>, ApplyError> {
        Ok(self.datapath.remove_retired(false)?)
    }

    /// Compiles a validated model (with system route tables) against the
    /// router's ports, touching nothing: when the model needs a port that
    /// does not exist yet, it is only checked (compiled with placeholder
    /// ifindexes) and [`Self::install`] compiles it again once the port is
    /// made. An error here means nothing may be touched.
    pub fn prepare(&mut self, model: &Model) -> Result<Prepared, ApplyError> {
        let plan = topology::plan(model);
        if plan.router_namespace != self.namespace {
            return Err(ValidationError::InvalidRouterNamespace(plan.router_namespace).into());
        }
        if self.kernel_moved() || !self.trusted {
            self.trusted = false;
            self.attached_for = None;
            if let Some(why) = self.vanished()? {
                tracing::warn!(namespace = %self.namespace, "{why} behind the daemon's back: its ports are checked and made again at this change");
                self.forget();
            } else {
                self.trusted = true;
            }
            // The router namespace made again: its link events.
            if let Some(w) = &mut self.watcher
                && let Err(e) = w.follow()
            {
                tracing::warn!(error = %e, "watching the router namespace again failed");
                self.watcher = None;
            }
        }
        let links = match &self.links {
            Some(l) => l,
            None => self.links.insert(if netns::exists(&self.namespace) {
                netns::links(&self.namespace)?
            } else {
                Vec::new()
            }),
        };
        let existing = ports_of(links);
        let all_there = plan.ports.iter().all(|p| {
            self.verified
                .contains(&(p.port_name.clone(), p.instance_id.clone()))
                && existing
                    .iter()
                    .any(|e| e.name == p.port_name && e.instance_id == p.instance_id)
        });
        if !all_there {
            check_compiles(model)?;
            return Ok(Prepared { compiled: None });
        }
        let ifindex: BTreeMap<&str, u32> = links
            .iter()
            .map(|l| (l.ifname.as_str(), l.ifindex))
            .collect();
        let (ports, attach) = port_map(&self.namespace, &plan, &ifindex)?;
        let unavailable = self.health.unavailable();
        let desired = compile::compile_with_health(model, &ports, &mut self.memo, &unavailable)?;
        Ok(Prepared {
            compiled: Some(Compiled { desired, attach }),
        })
    }

    /// Brings the kernel to a model [`Self::prepare`]d (and validated):
    /// creates missing ports, writes only the difference to the maps,
    /// attaches, removes ports the model no longer has.
    pub fn install(
        &mut self,
        model: &Model,
        prepared: Prepared,
    ) -> Result<ApplyReport, ApplyError> {
        let router_ns = self.namespace.clone();
        let router_ns = router_ns.as_str();
        // Made (and its sysctls set) once per namespace: again only if it
        // is gone or another namespace took its name.
        if self.namespace_id.is_none() || namespace_id(router_ns) != self.namespace_id {
            ensure_router_namespace(router_ns)?;
            self.namespace_id = namespace_id(router_ns);
        }
        if !self
            .verified
            .contains(&(UPLINK_IFNAME.to_string(), String::new()))
        {
            ensure_internet(
                router_ns,
                &model.router.internet,
                &model.router.services,
                self.datapath.mode(),
            )?;
            self.verified
                .insert((UPLINK_IFNAME.to_string(), String::new()));
            self.links = None;
        }
        if !self
            .verified
            .contains(&(SERVICES_IFNAME.to_string(), String::new()))
        {
            ensure_services(router_ns, &model.router.services, self.datapath.mode())?;
            self.verified
                .insert((SERVICES_IFNAME.to_string(), String::new()));
            self.links = None;
        }
        let plan = topology::plan(model);
        let mut report = ApplyReport::default();
        // Until the daemon publishes its region's names and the buckets.
        let default_hosts = hosts::content(hosts::DEFAULT_REGION, &model.router.services, &[])?;
        let compiled = match prepared.compiled {
            Some(c) if self.links.is_some() => c,
            _ => {
                let links = netns::links(router_ns)?;
                let existing = ports_of(&links);
                let mut used: BTreeSet<u32> = links.iter().map(|l| l.ifindex).collect();
                for p in &plan.ports {
                    let key = (p.port_name.clone(), p.instance_id.clone());
                    let mut found = existing
                        .iter()
                        .find(|e| e.name == p.port_name && e.instance_id == p.instance_id);
                    if found.is_some() && self.verified.contains(&key) {
                        continue;
                    }
                    if let Some(e) = found.filter(|_| !netns::exists(&p.instance_id)) {
                        // Its instance's namespace was deleted and its veth
                        // is not torn down yet: make the pair again.
                        if let Err(err) = netns::delete_link(router_ns, &e.name) {
                            tracing::debug!("{err} (the kernel removed it meanwhile)");
                        }
                        used.remove(&e.ifindex);
                        found = None;
                    }
                    let create = match found {
                        Some(e) if e.ifindex < vpc_common::MAX_PORTS => None,
                        Some(e) => {
                            // Made before the port maps were arrays: beyond
                            // them, so made again with an ifindex they hold.
                            netns::delete_link(router_ns, &e.name)?;
                            used.remove(&e.ifindex);
                            Some(free_port_index(&used)?)
                        }
                        None => Some(free_port_index(&used)?),
                    };
                    if converge_port(router_ns, p, create, self.datapath.mode(), &default_hosts)? {
                        report.ports_created += 1;
                    }
                    used.extend(create);
                    self.verified.insert(key);
                }
                // Interfaces named as ports but with no instance recorded
                // on them (a crash between making a veth and naming it)
                // that no port of the model is: this namespace is the
                // router's alone, so nobody else's.
                for l in &links {
                    let unnamed = l.ifname.starts_with(topology::PORT_PREFIX)
                        && !existing.iter().any(|e| e.name == l.ifname)
                        && !plan.ports.iter().any(|p| p.port_name == l.ifname);
                    if unnamed {
                        tracing::warn!(port = %l.ifname, "removing a router port no instance has (left half-made)");
                        if let Err(err) = netns::delete_link(router_ns, &l.ifname) {
                            tracing::debug!("{err} (the kernel removed it meanwhile)");
                        }
                    }
                }
                // Namespaces this router made whose instance is gone and
                // that have no port (a crash between making one and its
                // veth): those with a port go with it below.
                for inst in claimed_namespaces(router_ns)? {
                    if !plan.ports.iter().any(|p| p.instance_id == inst)
                        && !existing.iter().any(|e| e.instance_id == inst)
                    {
                        tracing::warn!(instance = %inst, "removing an instance namespace no instance has");
                        release_namespace(router_ns, &inst)?;
                    }
                }
                let links = self.links.insert(netns::links(router_ns)?);
                let ifindex: BTreeMap<&str, u32> = links
                    .iter()
                    .map(|l| (l.ifname.as_str(), l.ifindex))
                    .collect();
                let (ports, attach) = port_map(router_ns, &plan, &ifindex)?;
                let unavailable = self.health.unavailable();
                Compiled {
                    desired: compile::compile_with_health(
                        model,
                        &ports,
                        &mut self.memo,
                        &unavailable,
                    )?,
                    attach,
                }
            }
        };
        let current = match self.current.take() {
            Some(c) => c,
            None => self.datapath.read()?,
        };
        match self.datapath.write(&current, &compiled.desired) {
            Ok(w) => {
                report.writes = w;
                let mut desired = compiled.desired;
                // What the maps hold now: how its routes were made (and
                // the routes they were made from) no longer matters.
                desired.routes.forget_changes();
                self.current = Some(desired);
            }
            // What the maps hold now is unknown: read them back next time.
            Err(e) => return Err(e.into()),
        }
        fault::point("install:maps");
        let unchanged = self.trusted
            && self.watcher.is_some()
            && self.attached_for.as_ref() == Some(&compiled.attach);
        if !unchanged {
            self.attached_for = None;
            self.datapath.attach(&compiled.attach)?;
            self.attached_for = Some(compiled.attach);
        }
        fault::point("install:attached");

        let existing = ports_of(self.links.as_deref().unwrap_or_default());
        let mut removed = false;
        for e in &existing {
            if !plan
                .ports
                .iter()
                .any(|p| p.port_name == e.name && p.instance_id == e.instance_id)
            {
                netns::delete_link(router_ns, &e.name)?;
                fault::point("remove:link");
                release_namespace(router_ns, &e.instance_id)?;
                self.verified
                    .remove(&(e.name.clone(), e.instance_id.clone()));
                report.ports_removed += 1;
                removed = true;
            }
        }
        if removed {
            self.links = None;
        }
        Ok(report)
    }
}

/// The router ports (interfaces carrying our alias) among `links`.
fn ports_of(links: &[netns::Link]) -> Vec<ExistingPort> {
    links
        .iter()
        .filter_map(|l| {
            let instance_id = l
                .ifalias
                .as_deref()?
                .strip_prefix(PORT_ALIAS_PREFIX)?
                .to_string();
            let kernel_dropped = l.stats.map_or(0, |s| s.rx_dropped + s.tx_dropped);
            Some(ExistingPort {
                name: l.ifname.clone(),
                ifindex: l.ifindex,
                instance_id,
                kernel_dropped,
            })
        })
        .collect()
}

/// The ifindex of each ENI's port (and the uplink's), and the attachments
/// of the router's programs.
fn port_map(
    router_ns: &str,
    plan: &topology::Plan,
    ifindex: &BTreeMap<&str, u32>,
) -> Result<(BTreeMap<String, u32>, Vec<PortAttachment>), ApplyError> {
    let mut ports = BTreeMap::new();
    let mut attach = Vec::new();
    for p in &plan.ports {
        let idx = *ifindex
            .get(p.port_name.as_str())
            .ok_or_else(|| NetnsError::Parse {
                cmd: format!("ip -n {router_ns} link show"),
                detail: format!("port {} missing after creation", p.port_name),
            })?;
        ports.insert(p.eni_id.clone(), idx);
        attach.push(PortAttachment {
            port_name: p.port_name.clone(),
            ifindex: idx,
            instance_namespace: p.instance_id.clone(),
            instance_ifname: INSTANCE_IFNAME.to_string(),
        });
    }
    if let Some(&uplink) = ifindex.get(UPLINK_IFNAME) {
        ports.insert(topology::UPLINK_PORT.to_string(), uplink);
        attach.push(PortAttachment {
            port_name: UPLINK_IFNAME.to_string(),
            ifindex: uplink,
            instance_namespace: model::Internet::namespace(router_ns),
            instance_ifname: INTERNET_IFNAME.to_string(),
        });
    }
    if let Some(&services) = ifindex.get(SERVICES_IFNAME) {
        ports.insert(topology::SERVICES_PORT.to_string(), services);
        attach.push(PortAttachment {
            port_name: SERVICES_IFNAME.to_string(),
            ifindex: services,
            instance_namespace: model::CloudServices::namespace(router_ns),
            instance_ifname: SERVICES_NS_IFNAME.to_string(),
        });
    }
    Ok((ports, attach))
}

/// Converges the kernel to `model` in one shot (load, write, attach). An
/// invalid model changes nothing.
pub fn apply(model: Model) -> Result<ApplyReport, ApplyError> {
    apply_in_mode(model, Mode::default())
}

/// [`apply`] with the router program attached in `mode`.
pub fn apply_in_mode(model: Model, mode: Mode) -> Result<ApplyReport, ApplyError> {
    let model = model.with_system_route_tables();
    check(&model)?;
    Router::open_with(&model.router.namespace, datapath::DIRECT_SLOTS, mode)?.converge(&model)
}

/// Removes everything `apply` made for this model's router: instance
/// namespaces (those named in the model and those recorded on router ports),
/// the router namespace, and the pinned maps and links.
pub fn destroy(model: &Model) -> Result<usize, ApplyError> {
    let router_ns = model.router.namespace.as_str();
    if validate::check_id("router namespace", router_ns).is_err() {
        return Err(ValidationError::InvalidRouterNamespace(router_ns.to_string()).into());
    }
    for inst in &model.instances {
        validate::check_id("instance", &inst.id)?;
    }
    let mut removed = 0;
    let mut instances: Vec<String> = router_ports(router_ns)?
        .into_iter()
        .map(|p| p.instance_id)
        .collect();
    instances.extend(model.instances.iter().map(|i| i.id.clone()));
    instances.extend(claimed_namespaces(router_ns)?);
    instances.sort();
    instances.dedup();
    for inst in instances {
        if netns::exists(&inst) {
            removed += 1;
        }
        release_namespace(router_ns, &inst)?;
    }
    let dir = claims_dir(router_ns);
    match std::fs::remove_dir(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(claim_err(dir)(e)),
        _ => {}
    }
    let inet = model::Internet::namespace(router_ns);
    if netns::exists(&inet) {
        netns::delete(&inet)?;
    }
    let svc = model::CloudServices::namespace(router_ns);
    if netns::exists(&svc) {
        netns::delete(&svc)?;
    }
    hosts::forget(router_ns)?;
    netns::delete(router_ns)?;
    datapath::unpin(router_ns)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_port_takes_the_lowest_free_ifindex_the_port_maps_hold() {
        let used: BTreeSet<u32> = [1, 2, 3, 5].into();
        assert_eq!(free_port_index(&used).unwrap(), 4);
        let full: BTreeSet<u32> = (1..vpc_common::MAX_PORTS).collect();
        let err = free_port_index(&full).unwrap_err();
        assert_eq!(err.code(), "QuotaExceeded.MapCapacity", "{err}");
        let beyond: BTreeSet<u32> = (1..vpc_common::MAX_PORTS)
            .filter(|i| *i != 7)
            .chain([5000])
            .collect();
        assert_eq!(
            free_port_index(&beyond).unwrap(),
            7,
            "ifindexes beyond the maps do not count"
        );
    }
}
