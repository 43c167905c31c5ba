//! The XDP datapath from user space: load the embedded object (maps pinned in
//! bpffs so they outlive the process), read and write map entries, attach the
//! router program to ports, read the counters.
pub mod direct;
pub mod ebpf_log;
pub mod monitor;
pub mod netns;
pub mod origin;
pub mod sweep;
pub mod clock;
use std::{
    collections::{BTreeMap, BTreeSet},
    fs, io,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::Instant,
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{
        Array, DevMapHash, HashMap, LpmTrie, MapData, MapType, PerCpuArray, PerCpuValues,
        lpm_trie::Key,
    },
    programs::{
        LinkOrder, ProgramError, SchedClassifier, TcAttachType, Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        tc::{SchedClassifierLink, TcAttachOptions},
        xdp::XdpLink,
    },
};
use thiserror::Error;
use vpc_common::{
    Action, ConntrackQuota, CtEntry, CtKey, DropReason, ENI_COPIES, ENI_FLAG_PORT, Egress, Eni, EniAddressKey,
    FlowCacheEntry, INSTANCE_PROGRAM, NatGateway as NatGatewayConfig, NatInKey, NatInValue,
    NatOutKey, NatOutValue, NextHop, PolicyAddrKey, PolicyClass, PolicyPortKey, PolicyVerdict,
    PortCounters, PublicAddress, ROUTER_PROGRAM, ROUTER_TC_PROGRAM, RouteKey, SnatKey, SnatTarget,
    flow_cache, map_names,
};

use crate::{
    compile::{Diff, MapEntries, RouteTrieKey, diff, diff_policies, diff_routes},
    direct::{BlockWrites, HopIds, TableIndex},
    ebpf_log::EbpfLogger,
};

/// The datapath object built from `vpc-ebpf` by build.rs.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vpc-ebpf.o"));

/// The traffic generator and sink of the pipeline benchmark (`bench_generator`,
/// `bench_sink`; built from `vpc-ebpf/src/bench.rs`). The router never loads it.
pub static BENCH_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vpc-bench.o"));

/// Global of the router object that makes the forward path restore the
/// headers it rewrote (see [`Datapath::load_keeping_headers`]).
const BENCH_KEEP_HEADERS: &str = "BENCH_KEEP_HEADERS";

/// Global of the router object that turns the flow cache off (see
/// [`Datapath::load_keeping_headers`]).
const BENCH_NO_FLOW_CACHE: &str = "BENCH_NO_FLOW_CACHE";

/// Global of the router object that turns the slow path's lookup caches
/// off (see [`Datapath::load_keeping_headers`]).
const BENCH_NO_LOOKUP_CACHES: &str = "BENCH_NO_LOOKUP_CACHES";

/// Global of the router object holding the flow cache's size per CPU (the
/// map's entries, set at load: [`flow_cache_slots`]).
const FLOW_CACHE_SLOTS: &str = "FLOW_CACHE_SLOTS";
/// The read-only global of `flow_cache::REFRESH_NS` in ticks.
const FLOW_CACHE_REFRESH_JIFFIES: &str = "FLOW_CACHE_REFRESH_JIFFIES";

/// Entries of each CPU's flow cache on this machine
/// (`flow_cache::slots_for` its possible CPUs).
pub fn flow_cache_slots() -> Result<u32, DatapathError> {
    Ok(flow_cache::slots_for(possible_cpus()?))
}

/// The machine's possible CPUs: the flow cache and its admission records
/// are arrays of one region per CPU (`vpc_common::flow_cache`).
fn possible_cpus() -> Result<u32, DatapathError> {
    let cpus = aya::util::nr_cpus().map_err(|(s, e)| DatapathError::Cpus(format!("{s}: {e}")))?;
    Ok(u32::try_from(cpus).unwrap_or(u32::MAX))
}

/// Root of this project's pins in bpffs.
pub const BPFFS_ROOT: &str = "/sys/fs/bpf/vpc";

/// Errors of the datapath layer.
#[derive(Debug, Error)]
pub enum DatapathError {
    /// The eBPF object could not be loaded (verifier, permissions, pins).
    #[error("cannot load the XDP datapath: {0}")]
    Load(#[from] aya::EbpfError),
    /// A program operation failed.
    #[error("XDP program: {0}")]
    Program(#[from] ProgramError),
    /// A map operation failed.
    #[error("map {map}: {source}")]
    Map {
        map: &'static str,
        source: aya::maps::MapError,
    },
    /// The device map refused an entry.
    #[error("device map: {0}")]
    DevMap(#[from] aya::maps::xdp::XdpMapError),
    /// The object lacks a map or program this code expects.
    #[error("the eBPF object has no {0}")]
    Missing(&'static str),
    /// The direct route stage could not be mapped into this process.
    #[error("mapping ROUTES_DIRECT: {0}")]
    Mmap(io::Error),
    /// More direct-stage slots were asked for than the map can index.
    #[error("{0} direct route slots asked for; at most {max}", max = MAX_DIRECT_SLOTS)]
    DirectSlots(u32),
    /// The datapath clock's base could not be taken from the kernel.
    #[error("the datapath's clock: {0}")]
    Clock(#[from] clock::ClockError),
    /// A router port's ifindex is beyond the port maps (arrays indexed by it).
    #[error("router port ifindex {0} is beyond the port maps (MAX_PORTS)")]
    PortIndex(u32),
    /// A pinned map has another layout than this version's datapath.
    #[error(
        "map {map} pinned at {path} was made by another version of the datapath ({detail}); stop the daemon and run `vpc purge --namespace {namespace}` (forwarding stops), then start it again"
    )]
    PinnedLayout {
        map: &'static str,
        path: PathBuf,
        namespace: String,
        detail: String,
    },
    /// A pinned XDP link can neither take the new program nor be dropped
    /// as stale (its interface is still there).
    #[error(
        "XDP link pinned at {path} cannot take the new program ({source}); stop the daemon and run `vpc purge --namespace {namespace}` (forwarding stops), then start it again"
    )]
    StuckLink {
        path: PathBuf,
        namespace: String,
        source: ProgramError,
    },
    /// Pinning or unpinning failed.
    #[error("bpffs {path}: {source}")]
    Pin { path: PathBuf, source: io::Error },
    /// A link operation failed.
    #[error("XDP link: {0}")]
    Link(#[from] aya::programs::links::LinkError),
    /// Pinning a link failed.
    #[error("pin: {0}")]
    PinLink(#[from] aya::pin::PinError),
    /// Counting CPUs failed.
    #[error("cannot count CPUs: {0}")]
    Cpus(String),
    /// Entering the router namespace failed.
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
    /// This build has no eBPF object (built with VPC_SKIP_EBPF).
    #[error(
        "this build of vpc has no XDP datapath (it was built with VPC_SKIP_EBPF set): rebuild without it"
    )]
    NoObject,
}

fn map_err(map: &'static str) -> impl FnOnce(aya::maps::MapError) -> DatapathError {
    move |source| DatapathError::Map { map, source }
}

/// Mounts bpffs on /sys/fs/bpf if it is not mounted.
pub fn ensure_bpffs() -> Result<(), DatapathError> {
    let mounts = fs::read_to_string("/proc/self/mounts").map_err(|source| DatapathError::Pin {
        path: "/proc/self/mounts".into(),
        source,
    })?;
    if mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf"))
    {
        return Ok(());
    }
    let status = std::process::Command::new("mount")
        .args(["-t", "bpf", "bpf", "/sys/fs/bpf"])
        .status()
        .map_err(|source| DatapathError::Pin {
            path: "/sys/fs/bpf".into(),
            source,
        })?;
    if !status.success() {
        return Err(DatapathError::Pin {
            path: "/sys/fs/bpf".into(),
            source: io::Error::other("mount -t bpf failed"),
        });
    }
    Ok(())
}

/// The maps whose size the loader sets (by the direct stage's slots, the
/// flow cache's size and the CPU count): their object definitions hold
/// one entry or the most.
const SIZED_AT_LOAD: [&str; 7] = [
    map_names::ROUTES_DIRECT,
    map_names::DIRECT_HOPS,
    map_names::FLOW_CACHE,
    map_names::FLOW_CACHE_ADMISSION,
    map_names::NEIGHBOUR_CACHE,
    map_names::ROUTE_CACHE,
    map_names::POLICY_CACHE,
];

/// (type, key size, value size, max entries) of each map, as the datapath
/// defines it; the value size of the device map is the kernel's (4 or 8
/// bytes).
fn expected_layout(
    name: &str,
    direct_slots: u32,
    flow_cache_slots: u32,
    cpus: u32,
) -> Option<(MapType, u32, Option<u32>, u32)> {
    use MapType::{Array, DevMapHash, Hash, LpmTrie, LruHash, PerCpuArray, RingBuf};
    use std::mem::size_of;
    use vpc_common::{
        MAX_CONNECTIONS, MAX_ENI_ADDRESSES, MAX_NAT_GATEWAYS, MAX_NAT_MAPPINGS,
        MAX_POLICY_ADDRESSES, MAX_POLICY_PORTS, MAX_PORTS, MAX_PUBLIC_ADDRESSES, MAX_ROUTES,
        MAX_SNAT_ENTRIES,
    };
    let sz = |n: usize| n as u32;
    Some(match name {
        map_names::ENI_BY_PORT => (Array, 4, Some(sz(size_of::<Eni>())), ENI_COPIES * MAX_PORTS),
        map_names::ENI_COPY => (Array, 4, Some(4), MAX_PORTS),
        map_names::ENI_BY_ADDRESS => (
            Hash,
            sz(size_of::<EniAddressKey>()),
            Some(sz(size_of::<Egress>())),
            MAX_ENI_ADDRESSES,
        ),
        map_names::ROUTES => (
            LpmTrie,
            4 + sz(size_of::<RouteKey>()),
            Some(sz(size_of::<NextHop>())),
            MAX_ROUTES,
        ),
        map_names::ROUTES_DIRECT => (Array, 4, Some(8), direct_entries(direct_slots)),
        map_names::DIRECT_HOPS => (
            Array,
            4,
            Some(sz(size_of::<NextHop>())),
            direct_hop_entries(direct_slots),
        ),
        map_names::EGRESS_PORTS => (DevMapHash, 4, None, MAX_PORTS),
        map_names::PORT_COUNTERS => (
            PerCpuArray,
            4,
            Some(sz(size_of::<PortCounters>())),
            MAX_PORTS,
        ),
        map_names::ACTIONS => (PerCpuArray, 4, Some(8), Action::COUNT),
        map_names::DROPS => (PerCpuArray, 4, Some(8), DropReason::COUNT),
        map_names::POLICY_ADDRESSES => (
            LpmTrie,
            4 + sz(size_of::<PolicyAddrKey>()),
            Some(sz(size_of::<PolicyClass>())),
            MAX_POLICY_ADDRESSES,
        ),
        map_names::POLICY_PORTS => (
            LpmTrie,
            4 + sz(size_of::<PolicyPortKey>()),
            Some(sz(size_of::<PolicyVerdict>())),
            MAX_POLICY_PORTS,
        ),
        map_names::CONNTRACK => (
            Hash,
            sz(size_of::<CtKey>()),
            Some(sz(size_of::<CtEntry>())),
            MAX_CONNECTIONS,
        ),
        map_names::CONNTRACK_QUOTA => (
            Array,
            4,
            Some(sz(size_of::<vpc_common::ConntrackQuota>())),
            1,
        ),
        map_names::CONNTRACK_PER_PORT => (Array, 4, Some(8), MAX_PORTS),
        map_names::CONNTRACK_PER_VPC => (Hash, 4, Some(8), vpc_common::MAX_CONNTRACK_VPCS),
        map_names::FRAGMENTS => (
            LruHash,
            sz(size_of::<vpc_common::FragmentKey>()),
            Some(sz(size_of::<vpc_common::FragmentFlow>())),
            vpc_common::MAX_FRAGMENTED_DATAGRAMS,
        ),
        map_names::UPLINK => (Array, 4, Some(sz(size_of::<Egress>())), 1),
        map_names::SERVICES => (Array, 4, Some(sz(size_of::<Egress>())), 1),
        map_names::GATEWAY_ENDPOINTS => (
            Hash,
            4,
            Some(sz(size_of::<vpc_common::GatewayEndpointTarget>())),
            vpc_common::MAX_GATEWAY_ENDPOINTS,
        ),
        map_names::PUBLIC_ADDRESSES => (
            Hash,
            4,
            Some(sz(size_of::<PublicAddress>())),
            MAX_PUBLIC_ADDRESSES,
        ),
        map_names::NAT_GATEWAYS => (
            Hash,
            4,
            Some(sz(size_of::<NatGatewayConfig>())),
            MAX_NAT_GATEWAYS,
        ),
        map_names::SNAT_ENTRIES => (
            LpmTrie,
            4 + sz(size_of::<SnatKey>()),
            Some(sz(size_of::<SnatTarget>())),
            MAX_SNAT_ENTRIES,
        ),
        map_names::NAT_OUT => (
            Hash,
            sz(size_of::<NatOutKey>()),
            Some(sz(size_of::<NatOutValue>())),
            MAX_NAT_MAPPINGS,
        ),
        map_names::NAT_IN => (
            Hash,
            sz(size_of::<NatInKey>()),
            Some(sz(size_of::<NatInValue>())),
            MAX_NAT_MAPPINGS,
        ),
        map_names::FLOW_CACHE => (
            Array,
            4,
            Some(sz(size_of::<FlowCacheEntry>())),
            flow_cache_slots.saturating_mul(cpus),
        ),
        map_names::FLOW_CACHE_PER_PORT => (PerCpuArray, 4, Some(4), MAX_PORTS),
        map_names::NEIGHBOUR_CACHE => (
            Array,
            4,
            Some(sz(size_of::<vpc_common::NeighbourEntry>())),
            vpc_common::neighbour_cache::SLOTS.saturating_mul(cpus),
        ),
        map_names::ROUTE_CACHE => (
            Array,
            4,
            Some(sz(size_of::<vpc_common::RouteCacheEntry>())),
            vpc_common::route_cache::SLOTS.saturating_mul(cpus),
        ),
        map_names::POLICY_CACHE => (
            Array,
            4,
            Some(sz(size_of::<vpc_common::PolicyCacheEntry>())),
            vpc_common::policy_cache::SLOTS.saturating_mul(cpus),
        ),
        map_names::FLOW_CACHE_ADMISSION => (
            Array,
            4,
            Some(8),
            vpc_common::flow_cache::ADMISSION_WORDS.saturating_mul(cpus),
        ),
        map_names::CONFIG_GENERATION => (Array, 4, Some(4), 1),
        map_names::MONITOR => (RingBuf, 0, Some(0), vpc_common::MONITOR_RING_BYTES),
        map_names::MONITOR_CONFIG => (
            Array,
            4,
            Some(sz(size_of::<vpc_common::MonitorConfig>())),
            1,
        ),
        map_names::MONITOR_STATE => (
            PerCpuArray,
            4,
            Some(sz(size_of::<vpc_common::MonitorState>())),
            1,
        ),
        map_names::LB_LISTENERS => (
            Hash,
            sz(size_of::<vpc_common::ListenerKey>()),
            Some(sz(size_of::<vpc_common::Listener>())),
            vpc_common::MAX_LB_LISTENERS,
        ),
        map_names::LB_RINGS => (
            Array,
            4,
            Some(sz(size_of::<vpc_common::Backend>())),
            vpc_common::MAX_LB_RINGS * vpc_common::LB_RING_SIZE,
        ),
        map_names::LB_FLOWS => (
            LruHash,
            sz(size_of::<CtKey>()),
            Some(sz(size_of::<vpc_common::LbFlow>())),
            vpc_common::MAX_LB_FLOWS,
        ),
        map_names::LB_PENDING => (
            PerCpuArray,
            4,
            Some(sz(size_of::<vpc_common::LbPending>())),
            1,
        ),
        map_names::LB_REPLIES => (
            LruHash,
            sz(size_of::<CtKey>()),
            Some(sz(size_of::<vpc_common::LbReply>())),
            vpc_common::MAX_LB_FLOWS,
        ),
        map_names::ENDPOINT_ENIS => (
            Hash,
            sz(size_of::<EniAddressKey>()),
            Some(sz(size_of::<vpc_common::EndpointEni>())),
            vpc_common::MAX_ENDPOINT_ENIS,
        ),
        map_names::PRIVATELINK_OUT => (
            LruHash,
            sz(size_of::<CtKey>()),
            Some(sz(size_of::<vpc_common::PrivateLinkOut>())),
            vpc_common::MAX_PRIVATELINK_FLOWS,
        ),
        map_names::PRIVATELINK_IN => (
            LruHash,
            sz(size_of::<vpc_common::PrivateLinkInKey>()),
            Some(sz(size_of::<vpc_common::PrivateLinkIn>())),
            vpc_common::MAX_PRIVATELINK_FLOWS,
        ),
        _ => return None,
    })
}

/// Attempts at loading a program (see [`load_retrying`]), as libbpf makes.
const LOAD_ATTEMPTS: u32 = 5;

/// Runs `load` (a program's `BPF_PROG_LOAD`) again while the kernel answers
/// EAGAIN, at most [`LOAD_ATTEMPTS`] times: the verifier gives up with
/// EAGAIN whenever the loading thread has a signal pending (a child process
/// of the daemon or of a test exiting meanwhile), which says nothing of the
/// program. Any other answer is returned as it is.
fn load_retrying(mut load: impl FnMut() -> Result<(), ProgramError>) -> Result<(), ProgramError> {
    let mut attempt = 1;
    loop {
        match load() {
            Err(ProgramError::LoadError { io_error, .. })
                if io_error.raw_os_error() == Some(libc::EAGAIN) && attempt < LOAD_ATTEMPTS =>
            {
                tracing::info!("program verification interrupted by a signal (attempt {attempt}): loading it again");
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// A map pinned by another version of the datapath would be reused as is
/// and misread: refuse it with a clear error instead.
fn check_pinned_layout(
    name: &'static str,
    path: &Path,
    direct_slots: u32,
    flow_cache_slots: u32,
    cpus: u32,
) -> Result<(), DatapathError> {
    if !path.exists() {
        return Ok(());
    }
    let info = aya::maps::MapInfo::from_pin(path).map_err(map_err(name))?;
    let found = (
        info.map_type().ok(),
        info.key_size(),
        info.value_size(),
        info.max_entries(),
    );
    match expected_layout(name, direct_slots, flow_cache_slots, cpus) {
        Some((t, k, v, n))
            if found.0 == Some(t)
                && k == found.1
                && v.is_none_or(|v| v == found.2)
                && n == found.3 =>
        {
            Ok(())
        }
        expected => Err(DatapathError::PinnedLayout {
            map: name,
            path: path.to_path_buf(),
            namespace: namespace_of_pin(path),
            detail: format!(
                "found type/key/value/entries {found:?}, this version needs {expected:?}"
            ),
        }),
    }
}

/// The router namespace a pin under [`BPFFS_ROOT`] belongs to (its
/// directory's name), for error messages.
fn namespace_of_pin(path: &Path) -> String {
    path.strip_prefix(BPFFS_ROOT)
        .ok()
        .and_then(|p| p.iter().next())
        .map_or_else(
            || "NAMESPACE".to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
}

/// `bpf(2)` with an attribute block of 128 bytes (zero beyond the fields
/// set, as the kernel requires).
fn bpf_syscall(cmd: libc::c_long, attr: &mut [u64; 16]) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, writable, zero-padded bpf_attr of its size
    // for the whole call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// The ifindex the XDP or tcx link pinned at `path` runs on: 0 once its
/// interface is gone (the kernel detaches the link, the pin stays: such a
/// link can take no program any more). `Ok(None)` if the pin is neither.
pub fn pinned_link_ifindex(path: &Path) -> io::Result<Option<u32>> {
    use std::os::{fd::FromRawFd, unix::ffi::OsStrExt};
    const BPF_OBJ_GET: libc::c_long = 7;
    const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
    const BPF_LINK_TYPE_XDP: u32 = 6;
    const BPF_LINK_TYPE_TCX: u32 = 11;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut attr = [0u64; 16];
    attr[0] = c_path.as_ptr() as u64;
    let fd = bpf_syscall(BPF_OBJ_GET, &mut attr)?;
    // SAFETY: BPF_OBJ_GET returned a new descriptor, owned from here on.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    // struct bpf_link_info: type, id, prog_id (u32 each), then the union
    // at offset 16, whose xdp and tcx members start with the ifindex.
    let mut info = [0u32; 64];
    let mut attr = [0u64; 16];
    use std::os::fd::AsRawFd;
    attr[0] = fd.as_raw_fd() as u32 as u64 | ((std::mem::size_of_val(&info) as u64) << 32);
    attr[1] = info.as_mut_ptr() as u64;
    bpf_syscall(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(matches!(info[0], BPF_LINK_TYPE_XDP | BPF_LINK_TYPE_TCX).then_some(info[4]))
}

/// Where a router's maps and links are pinned.
pub fn pin_dir(router_namespace: &str) -> PathBuf {
    Path::new(BPFFS_ROOT).join(router_namespace)
}

/// Summed counters of the datapath.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// By [`Action`], in index order.
    pub actions: Vec<(Action, u64)>,
    /// By [`DropReason`], in index order.
    pub drops: Vec<(DropReason, u64)>,
    /// By router port ifindex.
    pub ports: BTreeMap<u32, PortCounters>,
    /// Tracked connections counted against each port's ENI (as of the
    /// datapath's count, put right by every sweep).
    pub connections: BTreeMap<u32, u64>,
}

impl Counters {
    /// The count of one action.
    pub fn action(&self, a: Action) -> u64 {
        self.actions
            .iter()
            .find(|(x, _)| *x == a)
            .map_or(0, |(_, n)| *n)
    }
    /// The count of one drop reason.
    pub fn dropped(&self, r: DropReason) -> u64 {
        self.drops
            .iter()
            .find(|(x, _)| *x == r)
            .map_or(0, |(_, n)| *n)
    }
}

/// Benchmark settings of a load (read-only globals of the object; all off
/// for a router).
#[derive(Debug, Clone, Copy, Default)]
struct Bench {
    /// Forwarded frames leave with the headers they came in with.
    keep_headers: bool,
    /// Every packet takes the slow path.
    no_flow_cache: bool,
    /// The slow path's lookup caches (neighbour, route, policy) are off:
    /// every lookup goes to its table.
    no_lookup_caches: bool,
}

/// Number of map writes an apply made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Entries inserted or overwritten.
    pub upserts: usize,
    /// Entries deleted.
    pub removals: usize,
}

/// One ENI veth to attach programs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAttachment {
    /// Router-side interface name (in the router namespace).
    pub port_name: String,
    /// Its ifindex (recorded in the pin name, so a recreated port is noticed).
    pub ifindex: u32,
    /// Namespace of the instance end.
    pub instance_namespace: String,
    /// Interface name of the instance end.
    pub instance_ifname: String,
}

/// How long a replaced policy's entries outlive the switch to the new one.
pub const POLICY_GRACE: std::time::Duration = std::time::Duration::from_millis(5);

/// Which program type runs the pipeline on the router ports (one
/// pipeline code base, two entry points; see docs/datapath.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `vpc_router_tc` at the tcx ingress of each router port: socket
    /// buffers keep segmentation offload and checksum metadata, so bulk
    /// TCP moves 64 KiB aggregates; instances keep checksum offload on.
    #[default]
    Tc,
    /// `vpc_router` as the XDP program of each router port (and an
    /// XDP_PASS program on each instance's end): the highest packet rate
    /// for small packets, but every 1,500-byte segment handled alone and
    /// instances with checksum offload off.
    Xdp,
}

/// Every program of the object.
const ALL_PROGRAMS: &[&str] = &[ROUTER_PROGRAM, INSTANCE_PROGRAM, ROUTER_TC_PROGRAM];

impl Mode {
    /// The name `--datapath` takes.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Tc => "tc",
            Mode::Xdp => "xdp",
        }
    }

    /// The programs this mode attaches ([`Datapath::attach`]).
    pub const fn programs(self) -> &'static [&'static str] {
        match self {
            Mode::Tc => &[ROUTER_TC_PROGRAM],
            Mode::Xdp => &[ROUTER_PROGRAM, INSTANCE_PROGRAM],
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tc" => Ok(Mode::Tc),
            "xdp" => Ok(Mode::Xdp),
            _ => Err(format!("datapath mode {s:?}: expected tc or xdp")),
        }
    }
}

/// A loaded datapath: the router program and its maps.
pub struct Datapath {
    ebpf: Ebpf,
    /// The program type [`Self::attach`] uses.
    mode: Mode,
    router_namespace: Option<String>,
    pin_dir: Option<PathBuf>,
    /// Reader of the programs' log records, until taken (see [`Self::take_logger`]).
    logger: Option<EbpfLogger>,
    /// Link pins that run this handle's programs already (attached or
    /// swapped by it): later attaches leave them alone.
    attached: BTreeSet<PathBuf>,
    /// The ports the device map holds as this handle's last write left it
    /// (None: read them from the kernel at the next write).
    egress_written: Option<BTreeSet<u32>>,
    /// When this handle last flipped away from each (port, ENI copy) (see
    /// [`Self::set_eni`]).
    eni_flips: BTreeMap<(u32, u32), Instant>,
    /// The direct stage of big route tables.
    direct: DirectStage,
    /// Entries of policies no ENI points at any more, removed once
    /// [`POLICY_GRACE`] has passed since the switch away from them.
    retired: Vec<RetiredPolicies>,
    /// Leave retired policy entries to [`Self::remove_retired`] instead of
    /// waiting out the grace in [`Self::write`].
    defer_retired: bool,
    /// Backends that left a listener's ring while its server group drains
    /// connections: (when their connections are closed, listener, backend),
    /// by time (see [`Self::remove_retired`]).
    lb_draining: Vec<(Instant, u32, vpc_common::Backend)>,
}

/// Policy entries a write switched away from, at one time.
struct RetiredPolicies {
    at: Instant,
    addresses: Vec<(u32, PolicyAddrKey)>,
    ports: Vec<(u32, PolicyPortKey)>,
}

/// Slots of the direct stage (`vpc_common::direct`) a datapath has: one
/// route table of at least `direct::MIN_ROUTES` routes each (64 MiB each).
pub const DIRECT_SLOTS: u32 = 1;

/// Most slots of the direct stage (`ROUTES_DIRECT` indexes are u32).
pub const MAX_DIRECT_SLOTS: u32 = 64;

/// Entries of `DIRECT_HOPS` for `slots` slots (an array has at least one).
fn direct_hop_entries(slots: u32) -> u32 {
    (slots * vpc_common::direct::MAX_HOPS).max(1)
}

/// `enis` with the direct slot of their route table (`slots[i]` is the
/// table of slot `i`).
fn with_route_slots(enis: &BTreeMap<u32, Eni>, slots: &[Option<u32>]) -> BTreeMap<u32, Eni> {
    enis.iter()
        .map(|(k, e)| {
            let slot = slots
                .iter()
                .position(|t| *t == Some(e.route_table_id))
                .map_or(0, |s| s as u32 + 1);
            (
                *k,
                Eni {
                    route_slot: slot,
                    ..*e
                },
            )
        })
        .collect()
}

/// Entries of `ROUTES_DIRECT` for `slots` slots (an array has at least one).
fn direct_entries(slots: u32) -> u32 {
    (slots * vpc_common::direct::ENTRIES).max(1)
}

/// The direct stage as this handle keeps it.
struct DirectStage {
    /// `ROUTES_DIRECT`, mapped (none without slots).
    mem: Option<DirectMem>,
    /// The route table holding each slot.
    slots: Vec<Option<u32>>,
    /// Index of each slotted table's routes; `None` until the slot is
    /// known to match them (after a load: rebuilt at the next write).
    index: Vec<Option<TableIndex>>,
    /// The hop ids each slot has given.
    hops: Vec<HopIds>,
    /// When each slot was last released (it is given again only after
    /// [`POLICY_GRACE`]).
    released: Vec<Option<Instant>>,
}

/// `ROUTES_DIRECT` mapped into this process: entries written here are what
/// XDP reads, without a syscall each.
struct DirectMem {
    ptr: std::ptr::NonNull<AtomicU32>,
    len: usize,
}

// SAFETY: the mapping is owned by this value and only accessed through
// atomics, so it may move to and be shared with other threads.
unsafe impl Send for DirectMem {}
// SAFETY: as above.
unsafe impl Sync for DirectMem {}

impl DirectMem {
    fn map(ebpf: &Ebpf, slots: u32) -> Result<Self, DatapathError> {
        use std::os::fd::{AsFd, AsRawFd};
        let name = map_names::ROUTES_DIRECT;
        let Some(aya::maps::Map::Array(data)) = ebpf.map(name) else {
            return Err(DatapathError::Missing(name));
        };
        // Two u32 blocks per u64 entry (the even block in the low half, as
        // both sides are little-endian).
        let len = slots as usize * direct::BLOCKS;
        let bytes = len * std::mem::size_of::<u32>();
        let fd = data.fd().as_fd().as_raw_fd();
        // SAFETY: a shared mapping of a BPF_F_MMAPABLE array of `len` u32s,
        // owned by the returned value (unmapped on drop); the kernel keeps
        // the map alive while it is mapped.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(DatapathError::Mmap(io::Error::last_os_error()));
        }
        let ptr =
            std::ptr::NonNull::new(ptr.cast::<AtomicU32>()).ok_or(DatapathError::Missing(name))?;
        Ok(Self { ptr, len })
    }

    /// The blocks of slot `slot`.
    fn slot(&self, slot: usize) -> &[AtomicU32] {
        // SAFETY: the mapping holds `len` u32s (AtomicU32 has the layout
        // of u32) for the life of `self`; the range is within it.
        let all = unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) };
        &all[slot * direct::BLOCKS..(slot + 1) * direct::BLOCKS]
    }
}

impl Drop for DirectMem {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping made in `map`, used by nothing after.
        unsafe {
            libc::munmap(
                self.ptr.as_ptr().cast(),
                self.len * std::mem::size_of::<u32>(),
            )
        };
    }
}

impl Datapath {
    /// Loads the object for the router of `router_namespace`: maps already
    /// pinned for it are reused (their entries survive restarts), new ones are
    /// pinned. Device-map entries are written from inside that namespace
    /// (the kernel resolves their ifindexes in the writer's namespace).
    /// With `None`, the maps are private to this handle and the caller's
    /// thread must already be in a namespace of its own (tests).
    pub fn load(router_namespace: Option<&str>) -> Result<Self, DatapathError> {
        Self::load_with(router_namespace, Bench::default(), DIRECT_SLOTS, None)
    }

    /// [`Self::load`] with `slots` slots of the direct route stage (64 MiB
    /// each; 0: every table through the trie alone). Maps pinned with
    /// another count are refused.
    pub fn load_with_direct_slots(
        router_namespace: Option<&str>,
        slots: u32,
    ) -> Result<Self, DatapathError> {
        Self::load_with(router_namespace, Bench::default(), slots, None)
    }

    /// A router's datapath: [`Self::load_with_direct_slots`], with only the
    /// programs `mode` attaches loaded (each costs the verifier's time at
    /// every start: the other mode's would be loaded for nothing).
    pub fn load_router(router_namespace: &str, slots: u32, mode: Mode) -> Result<Self, DatapathError> {
        Self::load_with(Some(router_namespace), Bench::default(), slots, Some(mode))
    }

    /// Loads private maps (as `load(None)`) with the benchmark flag set: a
    /// forwarded frame leaves the program with the TTL, checksum and MACs it
    /// came in with (the rewrite is done, then undone), so BPF_PROG_TEST_RUN
    /// can repeat one frame and time the forward path every time instead of
    /// TTL expiry. Never for a router: forwarded frames would loop.
    /// `flow_cache: false` turns the flow cache off, to time the slow path
    /// with repeated frames; `lookup_caches: false` turns the slow path's
    /// lookup caches off too (neighbour, route, policy), so every repeat
    /// takes every table lookup.
    pub fn load_keeping_headers(flow_cache: bool, lookup_caches: bool) -> Result<Self, DatapathError> {
        Self::load_with(
            None,
            Bench {
                keep_headers: true,
                no_flow_cache: !flow_cache,
                no_lookup_caches: !lookup_caches,
            },
            DIRECT_SLOTS,
            None,
        )
    }

    /// Loads the object, its maps (pinned under the router namespace's
    /// directory, if any) and the programs `mode` attaches (all of them
    /// without one).
    fn load_with(
        router_namespace: Option<&str>,
        bench: Bench,
        direct_slots: u32,
        mode: Option<Mode>,
    ) -> Result<Self, DatapathError> {
        if direct_slots > MAX_DIRECT_SLOTS {
            return Err(DatapathError::DirectSlots(direct_slots));
        }
        if OBJECT.is_empty() {
            return Err(DatapathError::NoObject);
        }
        let pin_dir = router_namespace.map(pin_dir);
        let mut loader = EbpfLoader::new();
        let keep = u8::from(bench.keep_headers);
        loader.override_global(BENCH_KEEP_HEADERS, &keep, true);
        let no_cache = u8::from(bench.no_flow_cache);
        loader.override_global(BENCH_NO_FLOW_CACHE, &no_cache, true);
        let no_lookup_caches = u8::from(bench.no_lookup_caches);
        loader.override_global(BENCH_NO_LOOKUP_CACHES, &no_lookup_caches, true);
        let cache_slots = flow_cache_slots()?;
        let cpus = possible_cpus()?;
        // The sizes of the maps sized at load: the layout a pinned map is
        // checked against, one definition.
        for name in SIZED_AT_LOAD {
            let (_, _, _, entries) =
                expected_layout(name, direct_slots, cache_slots, cpus).ok_or(DatapathError::Missing(name))?;
            loader.map_max_entries(name, entries);
        }
        loader.override_global(FLOW_CACHE_SLOTS, &cache_slots, true);
        let clock_base = clock::base()?;
        loader.override_global(vpc_common::clock::CLOCK_BASE_GLOBAL, &clock_base, true);
        let refresh = flow_cache::refresh_jiffies(clock_base.ns_per_jiffy);
        loader.override_global(FLOW_CACHE_REFRESH_JIFFIES, &refresh, true);
        let paths: Vec<(&str, PathBuf)> = match &pin_dir {
            Some(dir) => {
                ensure_bpffs()?;
                fs::create_dir_all(dir.join("links")).map_err(|source| DatapathError::Pin {
                    path: dir.to_path_buf(),
                    source,
                })?;
                map_names::ALL.iter().map(|n| (*n, dir.join(n))).collect()
            }
            None => Vec::new(),
        };
        for (name, path) in &paths {
            match check_pinned_layout(name, path, direct_slots, cache_slots, cpus) {
                // A lookup cache of another layout: a new, empty one takes
                // its pin (programs still attached keep the old one until
                // they are replaced).
                Err(DatapathError::PinnedLayout { .. }) if map_names::LOOKUP_CACHES.contains(name) => {
                    tracing::info!("map {name} pinned by another version of the datapath: replaced by an empty one");
                    fs::remove_file(path).map_err(|source| DatapathError::Pin { path: path.clone(), source })?;
                }
                result => result?,
            }
            loader.map_pin_path(name, path.as_path());
        }
        let mut ebpf = loader.load(OBJECT)?;
        let programs = mode.map_or(ALL_PROGRAMS, Mode::programs);
        for name in [ROUTER_PROGRAM, INSTANCE_PROGRAM].into_iter().filter(|n| programs.contains(n)) {
            let prog: &mut Xdp = ebpf
                .program_mut(name)
                .ok_or(DatapathError::Missing(name))?
                .try_into()?;
            load_retrying(|| prog.load())?;
        }
        if programs.contains(&ROUTER_TC_PROGRAM) {
            let tc: &mut SchedClassifier = ebpf
                .program_mut(ROUTER_TC_PROGRAM)
                .ok_or(DatapathError::Missing(ROUTER_TC_PROGRAM))?
                .try_into()?;
            load_retrying(|| tc.load())?;
        }
        // After the programs are loaded, so they hold the ring buffer too. A
        // failure costs the log records, never the datapath.
        let logger = match ebpf_log::init(&mut ebpf) {
            Ok(logger) => Some(logger),
            Err(e) => {
                tracing::warn!("datapath log records will not be read: {e}");
                None
            }
        };
        if let Some(dir) = &pin_dir {
            drop_detached_links(&dir.join("links"))?;
        }
        let direct_mem = if direct_slots == 0 {
            None
        } else {
            Some(DirectMem::map(&ebpf, direct_slots)?)
        };
        let mut datapath = Self {
            ebpf,
            mode: mode.unwrap_or_default(),
            router_namespace: router_namespace.map(str::to_string),
            pin_dir,
            logger,
            attached: BTreeSet::new(),
            egress_written: None,
            eni_flips: BTreeMap::new(),
            retired: Vec::new(),
            defer_retired: false,
            lb_draining: Vec::new(),
            direct: DirectStage {
                mem: direct_mem,
                slots: vec![None; direct_slots as usize],
                index: vec![None; direct_slots as usize],
                hops: vec![HopIds::default(); direct_slots as usize],
                released: vec![None; direct_slots as usize],
            },
        };
        datapath.direct_from_kernel()?;
        if datapath.conntrack_quota()? == ConntrackQuota::default() {
            datapath.set_conntrack_quota(ConntrackQuota::DEFAULT)?;
        }
        Ok(datapath)
    }

    /// Takes the reader of the datapath's log records (once; `None` after,
    /// or if it could not be opened at load). Hand it to
    /// [`ebpf_log::forward`] (`tokio::spawn(ebpf_log::forward(logger))`) or
    /// [`ebpf_log::forward_blocking`]; dropping it only loses the records.
    pub fn take_logger(&mut self) -> Option<EbpfLogger> {
        self.logger.take()
    }


    /// The program type [`Self::attach`] uses.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The router program of tc mode (for BPF_PROG_TEST_RUN).
    pub fn router_tc_program(&mut self) -> Result<&mut SchedClassifier, DatapathError> {
        Ok(self
            .ebpf
            .program_mut(ROUTER_TC_PROGRAM)
            .ok_or(DatapathError::Missing("router tc program"))?
            .try_into()?)
    }

    /// The XDP_PASS instance program (a baseline for BPF_PROG_TEST_RUN).
    pub fn instance_program(&mut self) -> Result<&mut Xdp, DatapathError> {
        Ok(self
            .ebpf
            .program_mut(INSTANCE_PROGRAM)
            .ok_or(DatapathError::Missing("instance program"))?
            .try_into()?)
    }

    /// The router program (for BPF_PROG_TEST_RUN).
    pub fn router_program(&mut self) -> Result<&mut Xdp, DatapathError> {
        Ok(self
            .ebpf
            .program_mut(ROUTER_PROGRAM)
            .ok_or(DatapathError::Missing("router program"))?
            .try_into()?)
    }

    fn map(&self, name: &'static str) -> Result<&aya::maps::Map, DatapathError> {
        self.ebpf.map(name).ok_or(DatapathError::Missing(name))
    }

    fn map_mut(&mut self, name: &'static str) -> Result<&mut aya::maps::Map, DatapathError> {
        self.ebpf.map_mut(name).ok_or(DatapathError::Missing(name))
    }

    fn hash_map<K: aya::Pod, V: aya::Pod>(
        &mut self,
        name: &'static str,
    ) -> Result<HashMap<&mut MapData, K, V>, DatapathError> {
        HashMap::try_from(self.map_mut(name)?).map_err(map_err(name))
    }

    fn routes(&mut self) -> Result<LpmTrie<&mut MapData, RouteKey, NextHop>, DatapathError> {
        LpmTrie::try_from(self.map_mut(map_names::ROUTES)?).map_err(map_err(map_names::ROUTES))
    }

    /// Removes the tracked connections through load balancers of each
    /// (listener, backend) of `gone` (their next packet is balanced anew,
    /// and the backend it reaches answers it with a reset): how many.
    fn close_lb_connections(
        &mut self,
        gone: &BTreeSet<(u32, vpc_common::Backend)>,
    ) -> Result<usize, DatapathError> {
        if gone.is_empty() {
            return Ok(0);
        }
        let (flows, replies) = (map_names::LB_FLOWS, map_names::LB_REPLIES);
        let mut removed = 0;
        let mut m: HashMap<&mut MapData, CtKey, vpc_common::LbFlow> =
            HashMap::try_from(self.map_mut(flows)?).map_err(map_err(flows))?;
        let keys: Vec<CtKey> = m
            .iter()
            .filter_map(Result::ok)
            .filter(|(_, f)| gone.contains(&(f.listener_id, f.backend)))
            .map(|(k, _)| k)
            .collect();
        for k in &keys {
            absent_ok(m.remove(k)).map_err(map_err(flows))?;
        }
        removed += keys.len();
        let mut m: HashMap<&mut MapData, CtKey, vpc_common::LbReply> =
            HashMap::try_from(self.map_mut(replies)?).map_err(map_err(replies))?;
        let keys: Vec<CtKey> = m
            .iter()
            .filter_map(Result::ok)
            .filter(|(k, r)| {
                gone.iter().any(|(l, b)| *l == r.listener_id && b.addr == k.src && b.port == k.sport)
            })
            .map(|(k, _)| k)
            .collect();
        for k in &keys {
            absent_ok(m.remove(k)).map_err(map_err(replies))?;
        }
        Ok(removed + keys.len())
    }

    /// Writes the rings of `desired` that differ from `current`, entry by
    /// entry (a backend added or removed rewrites about 1/N of a ring).
    /// Rings no listener names any more are left as they are: no packet
    /// reads them, and the next listener given the slot rewrites it whole.
    fn write_lb_rings(
        &mut self,
        current: &MapEntries,
        desired: &MapEntries,
        stats: &mut WriteStats,
    ) -> Result<(), DatapathError> {
        let name = map_names::LB_RINGS;
        let mut a: Array<&mut MapData, vpc_common::Backend> =
            Array::try_from(self.map_mut(name)?).map_err(map_err(name))?;
        for (slot, ring) in &desired.lb_rings {
            let old = current.lb_rings.get(slot);
            if old.is_some_and(|o| std::sync::Arc::ptr_eq(o, ring) || o == ring) {
                continue;
            }
            for (i, b) in ring.iter().enumerate() {
                if old.is_some_and(|o| o.get(i) == Some(b)) {
                    continue;
                }
                a.set(vpc_common::lb_ring_index(*slot, i as u32), *b, 0)
                    .map_err(map_err(name))?;
                stats.upserts += 1;
            }
        }
        Ok(())
    }

    /// The load balancers' entries the maps hold now: the listeners, and
    /// the rings they name.
    fn read_lb(&self) -> Result<MapEntries, DatapathError> {
        let mut out = MapEntries::default();
        let m: HashMap<&MapData, vpc_common::ListenerKey, vpc_common::Listener> =
            HashMap::try_from(self.map(map_names::LB_LISTENERS)?)
                .map_err(map_err(map_names::LB_LISTENERS))?;
        for kv in m.iter() {
            let (k, v) = kv.map_err(map_err(map_names::LB_LISTENERS))?;
            out.lb_listeners.insert(k, v);
        }
        let rings: BTreeSet<u32> = out.lb_listeners.values().map(|l| l.ring).collect();
        let a: Array<&MapData, vpc_common::Backend> =
            Array::try_from(self.map(map_names::LB_RINGS)?)
                .map_err(map_err(map_names::LB_RINGS))?;
        for ring in rings.into_iter().filter(|r| *r < vpc_common::MAX_LB_RINGS) {
            let entries = (0..vpc_common::LB_RING_SIZE)
                .map(|i| a.get(&vpc_common::lb_ring_index(ring, i), 0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err(map_names::LB_RINGS))?;
            out.lb_rings.insert(ring, std::sync::Arc::new(entries));
        }
        Ok(out)
    }

    /// Reads every configuration entry the maps hold now.
    pub fn read(&self) -> Result<MapEntries, DatapathError> {
        let mut out = MapEntries::default();
        for (ifindex, eni) in self.port_enis()? {
            // The direct slot is the datapath layer's, not the model's.
            out.eni_by_port.insert(
                ifindex,
                Eni {
                    route_slot: 0,
                    ..eni
                },
            );
        }
        let m: HashMap<&MapData, EniAddressKey, Egress> =
            HashMap::try_from(self.map(map_names::ENI_BY_ADDRESS)?)
                .map_err(map_err(map_names::ENI_BY_ADDRESS))?;
        for kv in m.iter() {
            let (k, v) = kv.map_err(map_err(map_names::ENI_BY_ADDRESS))?;
            out.eni_by_address.insert(k, v);
        }
        let m: LpmTrie<&MapData, RouteKey, NextHop> =
            LpmTrie::try_from(self.map(map_names::ROUTES)?).map_err(map_err(map_names::ROUTES))?;
        out.routes = m
            .iter()
            .map(|kv| kv.map(|(k, v)| ((k.prefix_len(), k.data()), v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err(map_names::ROUTES))?
            .into_iter()
            .collect();
        let m: LpmTrie<&MapData, PolicyAddrKey, PolicyClass> =
            LpmTrie::try_from(self.map(map_names::POLICY_ADDRESSES)?)
                .map_err(map_err(map_names::POLICY_ADDRESSES))?;
        for kv in m.iter() {
            let (k, v) = kv.map_err(map_err(map_names::POLICY_ADDRESSES))?;
            out.policies.insert_address((k.prefix_len(), k.data()), v);
        }
        let m: LpmTrie<&MapData, PolicyPortKey, PolicyVerdict> =
            LpmTrie::try_from(self.map(map_names::POLICY_PORTS)?)
                .map_err(map_err(map_names::POLICY_PORTS))?;
        for kv in m.iter() {
            let (k, v) = kv.map_err(map_err(map_names::POLICY_PORTS))?;
            out.policies.insert_port((k.prefix_len(), k.data()), v);
        }
        let a: Array<&MapData, Egress> =
            Array::try_from(self.map(map_names::UPLINK)?).map_err(map_err(map_names::UPLINK))?;
        let uplink = a.get(&0, 0).map_err(map_err(map_names::UPLINK))?;
        out.uplink = (uplink.ifindex != 0).then_some(uplink);
        let a: Array<&MapData, Egress> = Array::try_from(self.map(map_names::SERVICES)?)
            .map_err(map_err(map_names::SERVICES))?;
        let services = a.get(&0, 0).map_err(map_err(map_names::SERVICES))?;
        out.services = (services.ifindex != 0).then_some(services);
        let m: HashMap<&MapData, u32, vpc_common::GatewayEndpointTarget> =
            HashMap::try_from(self.map(map_names::GATEWAY_ENDPOINTS)?)
                .map_err(map_err(map_names::GATEWAY_ENDPOINTS))?;
        for kv in m.iter() {
            let (k, v) = kv.map_err(map_err(map_names::GATEWAY_ENDPOINTS))?;
            out.gateway_endpoints.insert(k, v);
        }
        let lb = self.read_lb()?;
        out.lb_listeners = lb.lb_listeners;
        out.lb_rings = lb.lb_rings;
        let m: HashMap<&MapData, EniAddressKey, vpc_common::EndpointEni> =
            HashMap::try_from(self.map(map_names::ENDPOINT_ENIS)?)
                .map_err(map_err(map_names::ENDPOINT_ENIS))?;
        for kv in m.iter() {
            let (k, v) = kv.map_err(map_err(map_names::ENDPOINT_ENIS))?;
            out.endpoint_enis.insert(k, v);
        }
        let m: HashMap<&MapData, [u8; 4], PublicAddress> =
            HashMap::try_from(self.map(map_names::PUBLIC_ADDRESSES)?)
                .map_err(map_err(map_names::PUBLIC_ADDRESSES))?;
        for kv in m.iter() {
            let (k, v) = kv.map_err(map_err(map_names::PUBLIC_ADDRESSES))?;
            out.public_addresses.insert(k, v);
        }
        let m: HashMap<&MapData, u32, NatGatewayConfig> =
            HashMap::try_from(self.map(map_names::NAT_GATEWAYS)?)
                .map_err(map_err(map_names::NAT_GATEWAYS))?;
        for kv in m.iter() {
            let (k, v) = kv.map_err(map_err(map_names::NAT_GATEWAYS))?;
            out.nat_gateways.insert(k, v);
        }
        let m: LpmTrie<&MapData, SnatKey, SnatTarget> =
            LpmTrie::try_from(self.map(map_names::SNAT_ENTRIES)?)
                .map_err(map_err(map_names::SNAT_ENTRIES))?;
        for kv in m.iter() {
            let (k, v) = kv.map_err(map_err(map_names::SNAT_ENTRIES))?;
            out.snat_entries.insert((k.prefix_len(), k.data()), v);
        }
        Ok(out)
    }

    /// Pins one map at `path` (tools and tests).
    pub fn pin_map(&mut self, name: &'static str, path: &Path) -> Result<(), DatapathError> {
        self.map_mut(name)?.pin(path).map_err(DatapathError::from)
    }

    /// The route table holding each slot of the direct stage (numeric ids).
    pub fn direct_tables(&self) -> &[Option<u32>] {
        &self.direct.slots
    }

    /// Clears the ENI (and device-map entry) of every router port whose
    /// ifindex is not in `live` (the router namespace's links now): its
    /// interface is gone, so no packet can come in or go out on it, and the
    /// next write starts from maps that hold only live ports. Ports in
    /// `live` keep their entries (and forward meanwhile). Returns the
    /// ifindexes cleared; forgets which links this handle attached (a
    /// recreated port may carry an old ifindex).
    pub fn drop_vanished_ports(&mut self, live: &BTreeSet<u32>) -> Result<Vec<u32>, DatapathError> {
        let gone: Vec<u32> = self
            .port_enis()?
            .into_iter()
            .map(|(i, _)| i)
            .filter(|i| !live.contains(i))
            .collect();
        for ifindex in &gone {
            self.set_eni(*ifindex, &Eni::default())?;
        }
        let stale: Vec<u32> = self
            .egress_ports()?
            .into_iter()
            .filter(|i| !live.contains(i))
            .collect();
        if !stale.is_empty() {
            let mut devmap = DevMapHash::try_from(self.map_mut(map_names::EGRESS_PORTS)?)
                .map_err(map_err(map_names::EGRESS_PORTS))?;
            for p in &stale {
                devmap
                    .remove(*p)
                    .map_err(map_err(map_names::EGRESS_PORTS))?;
            }
        }
        if !gone.is_empty() || !stale.is_empty() {
            self.bump_generation()?;
            self.direct_from_kernel()?;
            self.forget_attached();
        }
        let mut all: Vec<u32> = gone.into_iter().chain(stale).collect();
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    /// Forgets which links this handle attached: the next attach checks
    /// every pin again (after interfaces vanished behind its back).
    pub fn forget_attached(&mut self) {
        self.attached.clear();
        self.egress_written = None;
    }

    /// Ports present in the device map.
    pub fn egress_ports(&self) -> Result<BTreeSet<u32>, DatapathError> {
        let m = DevMapHash::try_from(self.map(map_names::EGRESS_PORTS)?)
            .map_err(map_err(map_names::EGRESS_PORTS))?;
        m.keys()
            .map(|k| k.map_err(map_err(map_names::EGRESS_PORTS)))
            .collect()
    }

    /// Writes only the difference between `current` and `desired`, in an
    /// order that never leaves a dangling reference for a packet in flight:
    /// egress ports and counters first, then addresses, routes, and ingress
    /// ENIs last; removals in the reverse order.
    /// Every write ends by bumping the configuration generation, which
    /// voids the decisions the flow cache holds (see
    /// `vpc_common::flow_cache`), also after a failed write.
    pub fn write(
        &mut self,
        current: &MapEntries,
        desired: &MapEntries,
    ) -> Result<WriteStats, DatapathError> {
        let written = self.write_all(current, desired);
        self.bump_generation()?;
        if written.is_err() {
            // Which slot each table holds is unknown now: read it back.
            self.direct_from_kernel()?;
        }
        written
    }

    /// Moves the configuration generation on (never to 0, the value of an
    /// empty flow cache slot): packets take the slow path again and see the
    /// maps as they are now.
    fn bump_generation(&mut self) -> Result<(), DatapathError> {
        let name = map_names::CONFIG_GENERATION;
        let mut a: Array<&mut MapData, u32> =
            Array::try_from(self.map_mut(name)?).map_err(map_err(name))?;
        let g = a.get(&0, 0).map_err(map_err(name))?;
        a.set(0, g.wrapping_add(1).max(1), 0)
            .map_err(map_err(name))?;
        Ok(())
    }

    /// Forgets every flow's admission to the flow cache, on every CPU
    /// (`vpc_common::flow_cache::admission`): each flow proves itself again
    /// before its decision is cached. For benches that replay the same
    /// flows as new ones; the datapath ages the records by itself.
    pub fn clear_flow_cache_admission(&mut self) -> Result<(), DatapathError> {
        let name = map_names::FLOW_CACHE_ADMISSION;
        let mut a: Array<&mut MapData, u64> =
            Array::try_from(self.map_mut(name)?).map_err(map_err(name))?;
        for word in 0..a.len() {
            a.set(word, 0, 0).map_err(map_err(name))?;
        }
        Ok(())
    }

    /// Leaves the entries of replaced policies in the maps after a write
    /// (`on`), for [`Self::remove_retired`] to remove once their grace has
    /// passed, instead of waiting for it in [`Self::write`]: the daemon's
    /// writer is then not held up by it.
    pub fn set_defer_retired(&mut self, on: bool) {
        self.defer_retired = on;
    }

    /// Removes the entries of replaced policies whose grace
    /// ([`POLICY_GRACE`]) has passed (`wait`: all of them, after waiting
    /// for the last grace to pass). When the next of those still kept is
    /// due, if any.
    pub fn remove_retired(&mut self, wait: bool) -> Result<Option<Instant>, DatapathError> {
        if wait && let Some(last) = self.retired.iter().map(|r| r.at).max() {
            if let Some(left) = POLICY_GRACE.checked_sub(last.elapsed()) {
                std::thread::sleep(left);
            }
        }
        let due = self.retired.partition_point(|r| r.at.elapsed() >= POLICY_GRACE);
        if due > 0 {
            let gone: Vec<RetiredPolicies> = self.retired.drain(..due).collect();
            use map_names::{POLICY_ADDRESSES, POLICY_PORTS};
            let mut m: LpmTrie<&mut MapData, PolicyAddrKey, PolicyClass> =
                LpmTrie::try_from(self.map_mut(POLICY_ADDRESSES)?)
                    .map_err(map_err(POLICY_ADDRESSES))?;
            for k in gone.iter().flat_map(|r| &r.addresses) {
                absent_ok(m.remove(&Key::new(k.0, k.1))).map_err(map_err(POLICY_ADDRESSES))?;
            }
            let mut m: LpmTrie<&mut MapData, PolicyPortKey, PolicyVerdict> =
                LpmTrie::try_from(self.map_mut(POLICY_PORTS)?).map_err(map_err(POLICY_PORTS))?;
            for k in gone.iter().flat_map(|r| &r.ports) {
                absent_ok(m.remove(&Key::new(k.0, k.1))).map_err(map_err(POLICY_PORTS))?;
            }
        }
        // Backends whose drain period has passed: their connections close,
        // unless the backend is in its listener's ring again.
        let due = self.lb_draining.partition_point(|d| d.0 <= Instant::now());
        if due > 0 {
            let ended: Vec<_> = self.lb_draining.drain(..due).collect();
            let current = self.read_lb()?;
            let back = lb_backends_of(&current);
            let close: BTreeSet<(u32, vpc_common::Backend)> = ended
                .into_iter()
                .map(|(_, l, b)| (l, b))
                .filter(|lb| !back.contains(lb))
                .collect();
            self.close_lb_connections(&close)?;
        }
        Ok(self.retired_due())
    }

    /// When the next entries of replaced policies, or the connections of
    /// the next drained backend, are due for [`Self::remove_retired`], if
    /// any are kept.
    pub fn retired_due(&self) -> Option<Instant> {
        let policies = self.retired.first().map(|r| r.at + POLICY_GRACE);
        let drains = self.lb_draining.first().map(|d| d.0);
        policies.into_iter().chain(drains).min()
    }

    /// Retired entries this write upserts again stay.
    fn keep_retired(
        &mut self,
        addresses: &Diff<(u32, PolicyAddrKey), PolicyClass>,
        ports: &Diff<(u32, PolicyPortKey), PolicyVerdict>,
    ) {
        if self.retired.is_empty() {
            return;
        }
        let addresses: BTreeSet<&(u32, PolicyAddrKey)> = addresses.upserts.iter().map(|(k, _)| k).collect();
        let ports: BTreeSet<&(u32, PolicyPortKey)> = ports.upserts.iter().map(|(k, _)| k).collect();
        for r in &mut self.retired {
            r.addresses.retain(|k| !addresses.contains(k));
            r.ports.retain(|k| !ports.contains(k));
        }
    }

    fn write_all(
        &mut self,
        current: &MapEntries,
        desired: &MapEntries,
    ) -> Result<WriteStats, DatapathError> {
        let mut stats = WriteStats::default();
        // Taken: a write that fails leaves it unknown.
        let current_ports = match self.egress_written.take() {
            Some(p) => p,
            None => self.egress_ports()?,
        };
        let ports: BTreeSet<u32> = desired.eni_by_port.keys().copied().collect();
        let nr_cpus =
            aya::util::nr_cpus().map_err(|(s, e)| DatapathError::Cpus(format!("{s}: {e}")))?;

        if ports.difference(&current_ports).next().is_some() {
            let _in_router = match &self.router_namespace {
                Some(ns) => Some(crate::netns::NetnsGuard::enter(ns)?),
                None => None,
            };
            let mut devmap = DevMapHash::try_from(self.map_mut(map_names::EGRESS_PORTS)?)
                .map_err(map_err(map_names::EGRESS_PORTS))?;
            for p in ports.difference(&current_ports) {
                devmap.insert(*p, *p, None, 0)?;
                stats.upserts += 1;
            }
        }
        // A new port counts from zero (its ifindex may have been another's).
        self.zero_port_counters(ports.difference(&current_ports).copied(), nr_cpus)?;

        let addr = diff(&current.eni_by_address, &desired.eni_by_address);
        let routes = diff_routes(&current.routes, &desired.routes);
        let old_slots = self.direct.slots.clone();
        let new_slots = self.direct_slots(desired);
        let (policy_addresses, policy_ports) = diff_policies(&current.policies, &desired.policies);
        let public = diff(&current.public_addresses, &desired.public_addresses);
        let nat_gateways = diff(&current.nat_gateways, &desired.nat_gateways);
        // A new NAT gateway is written before the routes leading to it; a
        // changed one after the route upserts, since its value names route
        // tables (a table switching route generation must have its new
        // routes in before a gateway points at them).
        let (changed_nat_gateways, new_nat_gateways): (Vec<_>, Vec<_>) = nat_gateways
            .upserts
            .iter()
            .cloned()
            .partition(|(k, _)| current.nat_gateways.contains_key(k));
        let snat = diff(&current.snat_entries, &desired.snat_entries);
        let endpoints = diff(&current.gateway_endpoints, &desired.gateway_endpoints);
        use map_names::{
            ENI_BY_ADDRESS, NAT_GATEWAYS, POLICY_ADDRESSES, POLICY_PORTS, PUBLIC_ADDRESSES, ROUTES,
            SNAT_ENTRIES, UPLINK,
        };
        use map_names::{GATEWAY_ENDPOINTS, SERVICES};
        // The internet edge: uplink, NAT gateways and SNAT entries before the
        // routes and public addresses that lead to them.
        if current.uplink != desired.uplink {
            let mut a: Array<&mut MapData, Egress> =
                Array::try_from(self.map_mut(UPLINK)?).map_err(map_err(UPLINK))?;
            a.set(0, desired.uplink.unwrap_or_default(), 0)
                .map_err(map_err(UPLINK))?;
            stats.upserts += 1;
        }
        // The services network: its port and the endpoints before the
        // routes that lead to them.
        if current.services != desired.services {
            let mut a: Array<&mut MapData, Egress> =
                Array::try_from(self.map_mut(SERVICES)?).map_err(map_err(SERVICES))?;
            a.set(0, desired.services.unwrap_or_default(), 0)
                .map_err(map_err(SERVICES))?;
            stats.upserts += 1;
        }
        {
            let mut m =
                self.hash_map::<u32, vpc_common::GatewayEndpointTarget>(GATEWAY_ENDPOINTS)?;
            upsert_all(&endpoints, &mut stats, |k, v| m.insert(k, v, 0))
                .map_err(map_err(GATEWAY_ENDPOINTS))?;
        }
        {
            let mut m = self.hash_map::<u32, NatGatewayConfig>(NAT_GATEWAYS)?;
            let new = Diff { upserts: new_nat_gateways, removals: Vec::new() };
            upsert_all(&new, &mut stats, |k, v| m.insert(k, v, 0))
                .map_err(map_err(NAT_GATEWAYS))?;
        }
        {
            let mut m: LpmTrie<&mut MapData, SnatKey, SnatTarget> =
                LpmTrie::try_from(self.map_mut(SNAT_ENTRIES)?).map_err(map_err(SNAT_ENTRIES))?;
            upsert_all(&snat, &mut stats, |k, v| {
                m.insert(&Key::new(k.0, k.1), v, 0)
            })
            .map_err(map_err(SNAT_ENTRIES))?;
        }
        // Policies are content-addressed: a changed rule set is a new policy
        // id, written beside the old one before any ENI points at it; the
        // ENI update switches to it atomically; the old one goes last
        // (retired, see `remove_retired`). A retired policy in use again
        // keeps its entries.
        self.remove_retired(false)?;
        self.keep_retired(&policy_addresses, &policy_ports);
        {
            let mut m: LpmTrie<&mut MapData, PolicyPortKey, PolicyVerdict> =
                LpmTrie::try_from(self.map_mut(POLICY_PORTS)?).map_err(map_err(POLICY_PORTS))?;
            upsert_all(&policy_ports, &mut stats, |k, v| {
                m.insert(&Key::new(k.0, k.1), v, 0)
            })
            .map_err(map_err(POLICY_PORTS))?;
        }
        {
            let mut m: LpmTrie<&mut MapData, PolicyAddrKey, PolicyClass> =
                LpmTrie::try_from(self.map_mut(POLICY_ADDRESSES)?)
                    .map_err(map_err(POLICY_ADDRESSES))?;
            upsert_all(&policy_addresses, &mut stats, |k, v| {
                m.insert(&Key::new(k.0, k.1), v, 0)
            })
            .map_err(map_err(POLICY_ADDRESSES))?;
        }
        {
            let mut m = self.hash_map::<EniAddressKey, Egress>(ENI_BY_ADDRESS)?;
            upsert_all(&addr, &mut stats, |k, v| m.insert(k, v, 0))
                .map_err(map_err(ENI_BY_ADDRESS))?;
        }
        {
            let mut m = self.routes()?;
            upsert_all(&routes, &mut stats, |k, v| {
                m.insert(&Key::new(k.0, k.1), v, 0)
            })
            .map_err(map_err(ROUTES))?;
        }
        {
            let mut m = self.hash_map::<u32, NatGatewayConfig>(NAT_GATEWAYS)?;
            let changed = Diff { upserts: changed_nat_gateways, removals: Vec::new() };
            upsert_all(&changed, &mut stats, |k, v| m.insert(k, v, 0))
                .map_err(map_err(NAT_GATEWAYS))?;
        }
        let new_slots = self.write_direct(current, desired, &routes, new_slots, &mut stats)?;
        // Load balancers: rings before the listeners naming them, which go
        // before the ENIs told to look them up (below).
        let listeners = diff(&current.lb_listeners, &desired.lb_listeners);
        let gone_backends = lb_backends_gone(current, desired);
        self.write_lb_rings(current, desired, &mut stats)?;
        {
            let mut m = self.hash_map::<vpc_common::ListenerKey, vpc_common::Listener>(
                map_names::LB_LISTENERS,
            )?;
            upsert_all(&listeners, &mut stats, |k, v| m.insert(k, v, 0))
                .map_err(map_err(map_names::LB_LISTENERS))?;
            remove_all(&listeners, &mut stats, |k| m.remove(k))
                .map_err(map_err(map_names::LB_LISTENERS))?;
        }
        // Endpoint ENIs, before the ENIs told to look them up (below).
        let endpoint_enis = diff(&current.endpoint_enis, &desired.endpoint_enis);
        {
            let mut m = self.hash_map::<EniAddressKey, vpc_common::EndpointEni>(map_names::ENDPOINT_ENIS)?;
            upsert_all(&endpoint_enis, &mut stats, |k, v| m.insert(k, v, 0))
                .map_err(map_err(map_names::ENDPOINT_ENIS))?;
            remove_all(&endpoint_enis, &mut stats, |k| m.remove(k))
                .map_err(map_err(map_names::ENDPOINT_ENIS))?;
        }
        // The connections of backends that left a ring: closed now, or
        // once their server group's drain period has passed.
        let now = Instant::now();
        let (drained, close_now): (Vec<_>, Vec<_>) = gone_backends.into_iter().partition(|g| g.2 > 0);
        for (listener, backend, drain_s) in drained {
            self.lb_draining.push((now + std::time::Duration::from_secs(drain_s.into()), listener, backend));
        }
        self.lb_draining.sort_by_key(|d| d.0);
        let close: BTreeSet<(u32, vpc_common::Backend)> = close_now.into_iter().map(|g| (g.0, g.1)).collect();
        stats.removals += self.close_lb_connections(&close)?;
        let enis = diff(
            &with_route_slots(&current.eni_by_port, &old_slots),
            &with_route_slots(&desired.eni_by_port, &new_slots),
        );
        for (ifindex, eni) in &enis.upserts {
            self.set_eni(*ifindex, eni)?;
            stats.upserts += 1;
        }
        for ifindex in &enis.removals {
            self.set_eni(*ifindex, &Eni::default())?;
            stats.removals += 1;
        }
        // Every upsert is in: cached decisions go now, not after the grace
        // before the removals below (`write` bumps again after those).
        self.bump_generation()?;
        {
            let mut m = self.hash_map::<[u8; 4], PublicAddress>(PUBLIC_ADDRESSES)?;
            upsert_all(&public, &mut stats, |k, v| m.insert(k, v, 0))
                .map_err(map_err(PUBLIC_ADDRESSES))?;
            remove_all(&public, &mut stats, |k| m.remove(k)).map_err(map_err(PUBLIC_ADDRESSES))?;
        }
        {
            let mut m = self.routes()?;
            remove_all(&routes, &mut stats, |k| m.remove(&Key::new(k.0, k.1)))
                .map_err(map_err(ROUTES))?;
        }
        {
            let mut m = self.hash_map::<EniAddressKey, Egress>(ENI_BY_ADDRESS)?;
            remove_all(&addr, &mut stats, |k| m.remove(k)).map_err(map_err(ENI_BY_ADDRESS))?;
        }
        {
            let mut m: LpmTrie<&mut MapData, SnatKey, SnatTarget> =
                LpmTrie::try_from(self.map_mut(SNAT_ENTRIES)?).map_err(map_err(SNAT_ENTRIES))?;
            remove_all(&snat, &mut stats, |k| m.remove(&Key::new(k.0, k.1)))
                .map_err(map_err(SNAT_ENTRIES))?;
            let mut m = self.hash_map::<u32, NatGatewayConfig>(NAT_GATEWAYS)?;
            remove_all(&nat_gateways, &mut stats, |k| m.remove(k))
                .map_err(map_err(NAT_GATEWAYS))?;
            let mut m =
                self.hash_map::<u32, vpc_common::GatewayEndpointTarget>(GATEWAY_ENDPOINTS)?;
            remove_all(&endpoints, &mut stats, |k| m.remove(k))
                .map_err(map_err(GATEWAY_ENDPOINTS))?;
        }
        if !policy_addresses.removals.is_empty() || !policy_ports.removals.is_empty() {
            // A packet that read an ENI before the switch finishes within
            // microseconds (one XDP run); give it far more before its policy
            // entries go, so no packet is judged half by the old rules.
            self.retired.push(RetiredPolicies {
                at: Instant::now(),
                addresses: policy_addresses.removals.clone(),
                ports: policy_ports.removals.clone(),
            });
            stats.removals += policy_addresses.removals.len() + policy_ports.removals.len();
            if !self.defer_retired {
                self.remove_retired(true)?;
            }
        }

        {
            let mut devmap = DevMapHash::try_from(self.map_mut(map_names::EGRESS_PORTS)?)
                .map_err(map_err(map_names::EGRESS_PORTS))?;
            for p in current_ports.difference(&ports) {
                devmap
                    .remove(*p)
                    .map_err(map_err(map_names::EGRESS_PORTS))?;
                stats.removals += 1;
            }
        }
        self.zero_port_counters(current_ports.difference(&ports).copied(), nr_cpus)?;
        for (i, (o, n)) in old_slots.iter().zip(&new_slots).enumerate() {
            if o.is_some() && o != n {
                self.direct.released[i] = Some(Instant::now());
            }
        }
        self.egress_written = Some(ports);
        Ok(stats)
    }

    /// The slot of each table after this write (`direct::assign`, among the
    /// tables some ENI routes by); a slot released now is given to another
    /// table only at a later write, once no ENI points at it.
    fn direct_slots(&self, desired: &MapEntries) -> Vec<Option<u32>> {
        let old = &self.direct.slots;
        if old.is_empty() {
            return Vec::new();
        }
        // Only tables ENIs route by (a gateway route table is looked up by
        // the trie alone).
        let used: BTreeSet<u32> = desired
            .eni_by_port
            .values()
            .map(|e| e.route_table_id)
            .collect();
        let mut counts = direct::route_counts(&desired.routes);
        counts.retain(|t, _| used.contains(t));
        let mut new = direct::assign(old, &counts);
        for (o, n) in old.iter().zip(new.iter_mut()) {
            if o.is_some() && n != o {
                *n = None;
            }
        }
        new
    }

    /// Brings each slot of `slots` to its table's routes in `desired`, before
    /// any ENI points at a new slot, and returns the slots the ENIs are to
    /// point at: a new slot (or one not checked since the load) gets every
    /// block; a kept one only the blocks `routes` (the route diff) moves.
    /// The next hop of a new hop id is written before any block names it. A
    /// slot out of hop ids is released (the trie answers; a later write
    /// gives the table a slot with fresh ids).
    fn write_direct(
        &mut self,
        current: &MapEntries,
        desired: &MapEntries,
        routes: &Diff<RouteTrieKey, NextHop>,
        mut slots: Vec<Option<u32>>,
        stats: &mut WriteStats,
    ) -> Result<Vec<Option<u32>>, DatapathError> {
        for i in 0..slots.len() {
            let Some(table) = slots[i] else {
                self.direct.index[i] = None;
                continue;
            };
            let held = self.direct.slots[i] == Some(table);
            if held && let Some(mut index) = self.direct.index[i].take() {
                let mine = |k: &RouteTrieKey| k.1.route_table_id == table;
                let changed = routes
                    .upserts
                    .iter()
                    .filter(|(k, _)| mine(k))
                    .map(|(k, v)| (k, Some(*v)));
                let removed = routes
                    .removals
                    .iter()
                    .filter(|k| mine(k))
                    .map(|k| (k, None));
                let changes: Vec<(u32, u32, Option<NextHop>)> = changed
                    .chain(removed)
                    // A longer route's next hop is the trie's business alone.
                    .filter(|(k, hop)| {
                        hop.is_none()
                            || direct::prefix_of(k).1 <= 24
                            || !current.routes.contains_key(k)
                    })
                    .map(|(k, hop)| {
                        let (addr, len) = direct::prefix_of(k);
                        (addr, len, hop)
                    })
                    .collect();
                let mut ids = std::mem::take(&mut self.direct.hops[i]);
                let writes = match changes.is_empty() {
                    true => BlockWrites::Some(Vec::new()),
                    false => direct::change(&mut index, &mut ids, &changes),
                };
                let done = match writes {
                    BlockWrites::Some(writes) => {
                        self.write_hops(i, &mut ids, stats)?;
                        let blocks = self
                            .direct
                            .mem
                            .as_ref()
                            .expect("slots come with the mapping")
                            .slot(i);
                        for (b, v) in writes {
                            blocks[b as usize].store(v, Ordering::Relaxed);
                            stats.upserts += 1;
                        }
                        true
                    }
                    BlockWrites::All => self.fill_slot(i, &index, &mut ids, stats)?,
                    BlockWrites::OutOfHopIds => false,
                };
                self.direct.hops[i] = ids;
                if done {
                    self.direct.index[i] = Some(index);
                } else {
                    slots[i] = None;
                }
                continue;
            }
            // A new slot, or one to check against the routes after a load.
            let mut ids = if held {
                self.read_hop_ids(i)?
            } else {
                HopIds::default()
            };
            if !held
                && let Some(wait) =
                    self.direct.released[i].and_then(|at| POLICY_GRACE.checked_sub(at.elapsed()))
            {
                std::thread::sleep(wait);
            }
            let index = TableIndex::of(&desired.routes, table);
            if self.fill_slot(i, &index, &mut ids, stats)? {
                self.direct.index[i] = Some(index);
                self.direct.hops[i] = ids;
            } else {
                slots[i] = None;
            }
        }
        self.direct.slots = slots.clone();
        Ok(slots)
    }

    /// Writes every block of slot `slot` that differs from `index`'s answer
    /// (new hop ids first); false if `ids` ran out (nothing written).
    fn fill_slot(
        &mut self,
        slot: usize,
        index: &TableIndex,
        ids: &mut HopIds,
        stats: &mut WriteStats,
    ) -> Result<bool, DatapathError> {
        let mut want = vec![0u32; direct::BLOCKS];
        if index.fill(&mut want, ids).is_none() {
            ids.take_new();
            return Ok(false);
        }
        self.write_hops(slot, ids, stats)?;
        let blocks = self
            .direct
            .mem
            .as_ref()
            .expect("slots come with the mapping")
            .slot(slot);
        for (b, v) in blocks.iter().zip(want) {
            if b.load(Ordering::Relaxed) != v {
                b.store(v, Ordering::Relaxed);
                stats.upserts += 1;
            }
        }
        Ok(true)
    }

    /// Writes the next hops of the hop ids `ids` gave since the last call.
    fn write_hops(
        &mut self,
        slot: usize,
        ids: &mut HopIds,
        stats: &mut WriteStats,
    ) -> Result<(), DatapathError> {
        let new = ids.take_new();
        if new.is_empty() {
            return Ok(());
        }
        let name = map_names::DIRECT_HOPS;
        let mut hops: Array<&mut MapData, NextHop> =
            Array::try_from(self.map_mut(name)?).map_err(map_err(name))?;
        for (id, hop) in new {
            hops.set(
                vpc_common::direct::hop_index(slot as u32, vpc_common::direct::encode(id)),
                hop,
                0,
            )
            .map_err(map_err(name))?;
            stats.upserts += 1;
        }
        Ok(())
    }

    /// The hop ids slot `slot` has given, read back from `DIRECT_HOPS`.
    fn read_hop_ids(&self, slot: usize) -> Result<HopIds, DatapathError> {
        let name = map_names::DIRECT_HOPS;
        let hops: Array<&MapData, NextHop> =
            Array::try_from(self.map(name)?).map_err(map_err(name))?;
        let first = slot as u32 * vpc_common::direct::MAX_HOPS;
        let mut entries = Vec::new();
        for id in 0..vpc_common::direct::MAX_HOPS {
            let hop = hops.get(&(first + id), 0).map_err(map_err(name))?;
            if hop.kind == 0 {
                // Ids are given in order: the first free one ends them.
                break;
            }
            entries.push((id, hop));
        }
        Ok(HopIds::from_entries(entries.into_iter()))
    }

    /// Reads which table holds each slot from the ENIs in the maps (at load,
    /// and after a failed write); each slot is checked whole at the next
    /// write.
    fn direct_from_kernel(&mut self) -> Result<(), DatapathError> {
        let n = self.direct.slots.len();
        let mut slots = vec![None; n];
        for (_, eni) in self.port_enis()? {
            if let Some(s) = eni
                .route_slot
                .checked_sub(1)
                .map(|s| s as usize)
                .filter(|s| *s < n)
            {
                slots[s] = Some(eni.route_table_id);
            }
        }
        self.direct.slots = slots;
        self.direct.index = vec![None; n];
        Ok(())
    }

    /// The current ENI of every router port, as the maps hold it.
    pub fn port_enis(&self) -> Result<Vec<(u32, Eni)>, DatapathError> {
        let copies: Array<&MapData, u32> = Array::try_from(self.map(map_names::ENI_COPY)?)
            .map_err(map_err(map_names::ENI_COPY))?;
        let enis: Array<&MapData, Eni> = Array::try_from(self.map(map_names::ENI_BY_PORT)?)
            .map_err(map_err(map_names::ENI_BY_PORT))?;
        let mut out = Vec::new();
        for (ifindex, copy) in copies.iter().enumerate() {
            let copy = copy.map_err(map_err(map_names::ENI_COPY))? & (ENI_COPIES - 1);
            let eni = enis
                .get(&(ENI_COPIES * ifindex as u32 + copy), 0)
                .map_err(map_err(map_names::ENI_BY_PORT))?;
            if eni.flags & ENI_FLAG_PORT != 0 {
                out.push((ifindex as u32, eni));
            }
        }
        Ok(out)
    }

    /// Makes `eni` (all zeros: no port) the ENI of router port `ifindex`,
    /// atomically for packets: the next copy (of [`ENI_COPIES`]), which
    /// packets do not read, is written whole, then the one-word copy index
    /// flips to it. A copy is written again only after [`POLICY_GRACE`] has
    /// passed since the flip away from it (a packet that read the old index
    /// finishes within microseconds): with several copies, only the
    /// `ENI_COPIES`th change to one port within the grace waits.
    fn set_eni(&mut self, ifindex: u32, eni: &Eni) -> Result<(), DatapathError> {
        use map_names::{ENI_BY_PORT, ENI_COPY};
        if ifindex >= vpc_common::MAX_PORTS {
            return Err(DatapathError::PortIndex(ifindex));
        }
        let copies: Array<&MapData, u32> =
            Array::try_from(self.map(ENI_COPY)?).map_err(map_err(ENI_COPY))?;
        let current = copies.get(&ifindex, 0).map_err(map_err(ENI_COPY))? & (ENI_COPIES - 1);
        let next = (current + 1) & (ENI_COPIES - 1);
        if let Some(at) = self.eni_flips.get(&(ifindex, next)) {
            if let Some(wait) = POLICY_GRACE.checked_sub(at.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let mut enis: Array<&mut MapData, Eni> =
            Array::try_from(self.map_mut(ENI_BY_PORT)?).map_err(map_err(ENI_BY_PORT))?;
        enis.set(ENI_COPIES * ifindex + next, eni, 0)
            .map_err(map_err(ENI_BY_PORT))?;
        let mut copies: Array<&mut MapData, u32> =
            Array::try_from(self.map_mut(ENI_COPY)?).map_err(map_err(ENI_COPY))?;
        copies.set(ifindex, next, 0).map_err(map_err(ENI_COPY))?;
        self.eni_flips.insert((ifindex, current), Instant::now());
        Ok(())
    }

    /// Zeroes the counters of router ports `ports`.
    fn zero_port_counters(
        &mut self,
        ports: impl Iterator<Item = u32>,
        nr_cpus: usize,
    ) -> Result<(), DatapathError> {
        let mut counters: PerCpuArray<&mut MapData, PortCounters> =
            PerCpuArray::try_from(self.map_mut(map_names::PORT_COUNTERS)?)
                .map_err(map_err(map_names::PORT_COUNTERS))?;
        for p in ports {
            let zeros = PerCpuValues::try_from(vec![PortCounters::default(); nr_cpus])
                .map_err(|e| DatapathError::Cpus(e.to_string()))?;
            counters
                .set(p, zeros, 0)
                .map_err(map_err(map_names::PORT_COUNTERS))?;
        }
        Ok(())
    }

    /// Attaches the router program of the current [`Mode`] to each router
    /// port (tc: at its tcx ingress; XDP: as its XDP program, with the
    /// instance program on the instance end of its veth), pinning every
    /// link so it outlives this process. A link already pinned gets the
    /// newly loaded program swapped in atomically (bpf_link_update): the
    /// port is never without a program (tests/daemon.rs pings across a
    /// restart and loses none). Links this handle attached or swapped
    /// already are skipped. Pins of ports not listed (or recreated: new
    /// ifindex), or of the other mode, are removed (which detaches them).
    pub fn attach(&mut self, ports: &[PortAttachment]) -> Result<(), DatapathError> {
        let (Some(router_namespace), Some(pin_dir)) =
            (self.router_namespace.clone(), &self.pin_dir)
        else {
            return Err(DatapathError::Missing(
                "router namespace (attach needs one)",
            ));
        };
        let links_dir = pin_dir.join("links");
        let sides: &[&str] = match self.mode {
            Mode::Tc => &["router-tc"],
            Mode::Xdp => &["router", "instance"],
        };
        let pin_of = |p: &PortAttachment, side: &str| {
            links_dir.join(format!("{}-{}-{side}", p.port_name, p.ifindex))
        };
        let wanted: BTreeSet<PathBuf> = ports
            .iter()
            .flat_map(|p| sides.iter().map(move |s| pin_of(p, s)))
            .collect();
        let entries = fs::read_dir(&links_dir).map_err(|source| DatapathError::Pin {
            path: links_dir.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            if !wanted.contains(&entry.path()) {
                fs::remove_file(entry.path()).map_err(|source| DatapathError::Pin {
                    path: entry.path(),
                    source,
                })?;
                self.attached.remove(&entry.path());
            }
        }
        for p in ports {
            for side in sides {
                let path = pin_of(p, side);
                if self.attached.contains(&path) && path.exists() {
                    continue;
                }
                let ns = if *side == "instance" {
                    p.instance_namespace.as_str()
                } else {
                    router_namespace.as_str()
                };
                let ifname = if *side == "instance" {
                    p.instance_ifname.as_str()
                } else {
                    p.port_name.as_str()
                };
                if *side == "router-tc" {
                    self.attach_tc(&path, ns, ifname, &router_namespace)?;
                } else {
                    let program = if *side == "router" {
                        ROUTER_PROGRAM
                    } else {
                        INSTANCE_PROGRAM
                    };
                    self.attach_xdp(&path, program, ns, ifname, &router_namespace)?;
                }
                self.attached.insert(path);
            }
        }
        Ok(())
    }

    /// Attaches (or swaps into the pinned link) the XDP `program` of `ifname` in `ns`.
    fn attach_xdp(
        &mut self,
        path: &Path,
        program: &'static str,
        ns: &str,
        ifname: &str,
        router_namespace: &str,
    ) -> Result<(), DatapathError> {
        let prog: &mut Xdp = self
            .ebpf
            .program_mut(program)
            .ok_or(DatapathError::Missing(program))?
            .try_into()?;
        if path.exists() {
            let link = XdpLink::try_from(FdLink::from(PinnedLink::from_pin(path)?))?;
            match prog.attach_to_link(link) {
                Ok(id) => {
                    // Dropping our handle leaves the pinned link attached.
                    drop(prog.take_link(id)?);
                    return Ok(());
                }
                Err(source) => drop_dead_pin(path, router_namespace, source)?,
            }
        }
        let _in_ns = crate::netns::NetnsGuard::enter(ns)?;
        let id = prog.attach(ifname, XdpMode::Driver)?;
        FdLink::try_from(prog.take_link(id)?)?.pin(path)?;
        Ok(())
    }

    /// Attaches (or swaps into the pinned link) the tc router program at the tcx ingress of `ifname` in `ns`.
    fn attach_tc(
        &mut self,
        path: &Path,
        ns: &str,
        ifname: &str,
        router_namespace: &str,
    ) -> Result<(), DatapathError> {
        let prog: &mut SchedClassifier = self
            .ebpf
            .program_mut(ROUTER_TC_PROGRAM)
            .ok_or(DatapathError::Missing(ROUTER_TC_PROGRAM))?
            .try_into()?;
        if path.exists() {
            let link = SchedClassifierLink::try_from(FdLink::from(PinnedLink::from_pin(path)?))?;
            match prog.attach_to_link(link) {
                Ok(id) => {
                    drop(prog.take_link(id)?);
                    return Ok(());
                }
                Err(source) => drop_dead_pin(path, router_namespace, source)?,
            }
        }
        let _in_ns = crate::netns::NetnsGuard::enter(ns)?;
        let id = prog.attach_with_options(
            ifname,
            TcAttachType::Ingress,
            TcAttachOptions::TcxOrder(LinkOrder::default()),
        )?;
        FdLink::try_from(prog.take_link(id)?)?.pin(path)?;
        Ok(())
    }

    /// Handles of its own on the connection and port-translation tables,
    /// to sweep them apart from this handle (see [`crate::sweep`]).
    pub fn sweeper(&self) -> Result<crate::sweep::Sweeper, crate::sweep::SweepError> {
        crate::sweep::Sweeper::open(|name| self.ebpf.map(name))
    }

    /// Sums the per-CPU counters.
    pub fn counters(&self) -> Result<Counters, DatapathError> {
        let sum = |name: &'static str| -> Result<Vec<u64>, DatapathError> {
            let a: PerCpuArray<&MapData, u64> =
                PerCpuArray::try_from(self.map(name)?).map_err(map_err(name))?;
            a.iter()
                .map(|v| v.map(|v| v.iter().sum()).map_err(map_err(name)))
                .collect()
        };
        let actions = sum(map_names::ACTIONS)?;
        let drops = sum(map_names::DROPS)?;
        let m: PerCpuArray<&MapData, PortCounters> =
            PerCpuArray::try_from(self.map(map_names::PORT_COUNTERS)?)
                .map_err(map_err(map_names::PORT_COUNTERS))?;
        let mut ports = BTreeMap::new();
        for k in self.egress_ports()? {
            let per_cpu = m.get(&k, 0).map_err(map_err(map_names::PORT_COUNTERS))?;
            let total = per_cpu.iter().fold(PortCounters::default(), |mut t, c| {
                t.rx_packets += c.rx_packets;
                t.rx_bytes += c.rx_bytes;
                t.tx_packets += c.tx_packets;
                t.tx_bytes += c.tx_bytes;
                t.dropped += c.dropped;
                t.flow_cache_hits += c.flow_cache_hits;
                t.conntrack_refused += c.conntrack_refused;
                t
            });
            ports.insert(k, total);
        }
        let name = map_names::CONNTRACK_PER_PORT;
        let per_port: Array<&MapData, u64> =
            Array::try_from(self.map(name)?).map_err(map_err(name))?;
        let mut connections = BTreeMap::new();
        for k in ports.keys() {
            connections.insert(*k, per_port.get(k, 0).map_err(map_err(name))?);
        }
        Ok(Counters {
            actions: Action::ALL
                .iter()
                .map(|a| (*a, actions.get(*a as usize).copied().unwrap_or(0)))
                .collect(),
            drops: DropReason::ALL
                .iter()
                .map(|r| (*r, drops.get(*r as usize).copied().unwrap_or(0)))
                .collect(),
            ports,
            connections,
        })
    }

    /// The slots of the flow caches (all CPUs together) holding each
    /// router port's flows, read from the caches themselves.
    pub fn flow_cache_holders(&self) -> Result<BTreeMap<u32, u64>, DatapathError> {
        let name = map_names::FLOW_CACHE;
        let a: Array<&MapData, FlowCacheEntry> =
            Array::try_from(self.map(name)?).map_err(map_err(name))?;
        let mut holders = BTreeMap::new();
        for slot in 0..a.len() {
            let e = a.get(&slot, 0).map_err(map_err(name))?;
            if e.key.ifindex != 0 {
                *holders.entry(e.key.ifindex).or_default() += 1;
            }
        }
        Ok(holders)
    }

    /// Sets how many tracked connections one ENI and one VPC may hold
    /// (every load sets [`ConntrackQuota::DEFAULT`] on a table that has
    /// none yet).
    pub fn set_conntrack_quota(&mut self, quota: ConntrackQuota) -> Result<(), DatapathError> {
        self.set_setting(map_names::CONNTRACK_QUOTA, quota)
    }

    /// The quota of tracked connections in force.
    pub fn conntrack_quota(&self) -> Result<ConntrackQuota, DatapathError> {
        self.setting(map_names::CONNTRACK_QUOTA)
    }

    /// Writes the one entry of the settings array `name`.
    fn set_setting<T: aya::Pod>(
        &mut self,
        name: &'static str,
        value: T,
    ) -> Result<(), DatapathError> {
        let mut a: Array<&mut MapData, T> =
            Array::try_from(self.map_mut(name)?).map_err(map_err(name))?;
        a.set(0, value, 0).map_err(map_err(name))
    }

    /// Reads the one entry of the settings array `name`.
    fn setting<T: aya::Pod>(&self, name: &'static str) -> Result<T, DatapathError> {
        let a: Array<&MapData, T> = Array::try_from(self.map(name)?).map_err(map_err(name))?;
        a.get(&0, 0).map_err(map_err(name))
    }
}

/// CLOCK_MONOTONIC in ns: the clock the datapath stamps connections and
/// port translations with, within a tick (`vpc_common::clock`).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec the call writes into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn upsert_all<K: Clone, V: Clone, E>(
    d: &Diff<K, V>,
    stats: &mut WriteStats,
    mut f: impl FnMut(K, V) -> Result<(), E>,
) -> Result<(), E> {
    for (k, v) in &d.upserts {
        f(k.clone(), v.clone())?;
        stats.upserts += 1;
    }
    Ok(())
}

/// A removal of a key that is gone already (ENOENT) counts as done.
fn absent_ok(r: Result<(), aya::maps::MapError>) -> Result<(), aya::maps::MapError> {
    match r {
        Err(aya::maps::MapError::KeyNotFound) => Ok(()),
        Err(aya::maps::MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}

fn remove_all<K, V, E>(
    d: &Diff<K, V>,
    stats: &mut WriteStats,
    mut f: impl FnMut(&K) -> Result<(), E>,
) -> Result<(), E> {
    for k in &d.removals {
        f(k)?;
        stats.removals += 1;
    }
    Ok(())
}

/// A pinned link refused the new program: if its interface went since the
/// load (or the check) the link is dead and its pin is removed (the caller
/// attaches afresh); otherwise the link is stuck.
fn drop_dead_pin(
    path: &Path,
    router_namespace: &str,
    source: ProgramError,
) -> Result<(), DatapathError> {
    if matches!(pinned_link_ifindex(path), Ok(Some(0) | None)) {
        fs::remove_file(path).map_err(|source| DatapathError::Pin {
            path: path.to_path_buf(),
            source,
        })?;
        tracing::warn!(pin = %path.display(), "dropped a stale link pin: its interface is gone (namespace deleted or veth removed); attaching afresh");
        Ok(())
    } else {
        Err(DatapathError::StuckLink {
            path: path.to_path_buf(),
            namespace: router_namespace.to_string(),
            source,
        })
    }
}

/// Removes the link pins of `links_dir` whose interface is gone (the
/// namespace was deleted or the veth removed while no daemon ran): such a
/// link is detached for good and refuses a new program (bpf_link_update
/// fails), so the port is attached afresh at the next attach. Logs a
/// warning for each; returns the pins removed.
pub fn drop_detached_links(links_dir: &Path) -> Result<Vec<PathBuf>, DatapathError> {
    let mut dropped = Vec::new();
    let entries = match fs::read_dir(links_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(dropped),
        Err(source) => {
            return Err(DatapathError::Pin {
                path: links_dir.to_path_buf(),
                source,
            });
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let why = match pinned_link_ifindex(&path) {
            Ok(Some(0)) => "its interface is gone (namespace deleted or veth removed)",
            Ok(Some(_)) => continue,
            Ok(None) => "it is no XDP or tcx link",
            Err(source) => return Err(DatapathError::Pin { path, source }),
        };
        fs::remove_file(&path).map_err(|source| DatapathError::Pin {
            path: path.clone(),
            source,
        })?;
        tracing::warn!(pin = %path.display(), "dropped a stale XDP link pin: {why}; the port is attached again when the stored state is converged");
        dropped.push(path);
    }
    Ok(dropped)
}

/// Removes a router's pins (maps and links) from bpffs.
pub fn unpin(router_namespace: &str) -> Result<(), DatapathError> {
    // The registry of its monitors goes with the router (nothing to stop:
    // without the pins they read nothing).
    let _ = fs::remove_dir_all(monitor::registry_dir(router_namespace));
    let dir = pin_dir(router_namespace);
    match fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(DatapathError::Pin { path: dir, source }),
    }
}

/// The backends of each listener's rings in `entries`.
fn lb_backends_of(entries: &MapEntries) -> BTreeSet<(u32, vpc_common::Backend)> {
    entries
        .lb_listeners
        .values()
        .filter_map(|l| Some((l.listener_id, entries.lb_rings.get(&l.ring)?)))
        .flat_map(|(l, ring)| {
            ring.iter()
                .filter(|b| b.flags & vpc_common::BACKEND_FLAG_PRESENT != 0)
                .map(move |b| (l, *b))
        })
        .collect()
}

/// The (listener, backend, drain seconds) of every backend in a ring of
/// `current` but in none of its listener's rings in `desired`.
fn lb_backends_gone(current: &MapEntries, desired: &MapEntries) -> Vec<(u32, vpc_common::Backend, u32)> {
    let now = lb_backends_of(desired);
    let drain: BTreeMap<u32, u32> = current
        .lb_listeners
        .values()
        .chain(desired.lb_listeners.values())
        .map(|l| (l.listener_id, l.drain_s))
        .collect();
    lb_backends_of(current)
        .into_iter()
        .filter(|lb| !now.contains(lb))
        .map(|(l, b)| (l, b, drain.get(&l).copied().unwrap_or(0)))
        .collect()
}

#[cfg(test)]
mod load_tests {
    use std::{cell::Cell, io};

    use aya::programs::ProgramError;

    use super::{LOAD_ATTEMPTS, load_retrying};

    fn refused(errno: i32) -> ProgramError {
        ProgramError::LoadError {
            io_error: io::Error::from_raw_os_error(errno),
            verifier_log: aya_obj::VerifierLog::new(String::new()),
        }
    }

    #[test]
    fn a_load_interrupted_by_a_signal_is_made_again_and_a_refusal_is_not() {
        let calls = Cell::new(0);
        let twice_interrupted = load_retrying(|| {
            calls.set(calls.get() + 1);
            if calls.get() <= 2 { Err(refused(libc::EAGAIN)) } else { Ok(()) }
        });
        assert!(twice_interrupted.is_ok());
        assert_eq!(calls.get(), 3);

        calls.set(0);
        let always = load_retrying(|| {
            calls.set(calls.get() + 1);
            Err(refused(libc::EAGAIN))
        });
        assert!(matches!(always, Err(ProgramError::LoadError { .. })));
        assert_eq!(calls.get(), LOAD_ATTEMPTS);

        calls.set(0);
        let verifier_refused = load_retrying(|| {
            calls.set(calls.get() + 1);
            Err(refused(libc::EACCES))
        });
        assert!(matches!(verifier_refused, Err(ProgramError::LoadError { .. })));
        assert_eq!(calls.get(), 1, "a verifier's refusal is final");
    }
}
