//! Frees the slots of idle connections and port translations. The datapath
//! already ignores an expired connection; the tables are plain hashes (a
//! full table refuses new flows, counted, instead of evicting live ones), so
//! something has to delete what went idle.
//!
//! A [`Sweeper`] holds handles of its own on the three tables, so the daemon
//! sweeps without holding the service: a sweep of a full table (262,144
//! connections) never delays an API call. Tables are read in batches
//! (BPF_MAP_LOOKUP_BATCH, a few thousand entries per system call) rather
//! than a key at a time.
use std::{
    io,
    mem::MaybeUninit,
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use std::collections::BTreeMap;

use aya::maps::{Array, HashMap, IterableMap, Map, MapData, MapError};
use thiserror::Error;
use vpc_common::{
    CT_STATE_ESTABLISHED, CtEntry, CtKey, NatInKey, NatInValue, NatOutKey, NatOutValue, ct_idle_timeout, map_names,
};

/// What can go wrong while sweeping.
#[derive(Debug, Error)]
pub enum SweepError {
    /// The loaded datapath has no map of this name.
    #[error("the datapath has no map {0}")]
    Missing(&'static str),
    /// The map is not of the type (hash map or array) the sweeper needs.
    #[error("map {0} is not of the expected type")]
    WrongType(&'static str),
    /// A table of the loaded datapath could not be opened a second time.
    #[error("opening a second handle on map {map}: {source}")]
    Handle {
        /// The map.
        map: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The second handle is not the hash map it should be.
    #[error("map {map}: {source}")]
    Map {
        /// The map.
        map: &'static str,
        /// Why.
        source: MapError,
    },
    /// A batch read of a table failed.
    #[error("reading map {map} (BPF_MAP_LOOKUP_BATCH): {source}")]
    Read {
        /// The map.
        map: &'static str,
        /// Why.
        source: io::Error,
    },
}

/// What one sweep of a table found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Entries still live.
    pub live: usize,
    /// Entries deleted (idle longer than their timeout).
    pub removed: usize,
}

/// How full the tables were after a sweep (live entries and capacity), for
/// `/metrics`: a table that fills refuses new flows (counted drops), so its
/// use is worth watching before that.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableUse {
    /// Tracked connections.
    pub connections: u64,
    /// Port translations (NAT gateways).
    pub nat_mappings: u64,
}

impl TableUse {
    /// Capacity of the connection table.
    pub const CONNECTIONS_MAX: u64 = vpc_common::MAX_CONNECTIONS as u64;
    /// Capacity of the port-translation table.
    pub const NAT_MAPPINGS_MAX: u64 = vpc_common::MAX_NAT_MAPPINGS as u64;
}

/// Handles on the connection and port-translation tables.
pub struct Sweeper {
    conntrack: HashMap<MapData, CtKey, CtEntry>,
    per_port: Array<MapData, u64>,
    per_vpc: HashMap<MapData, u32, u64>,
    nat_out: HashMap<MapData, NatOutKey, NatOutValue>,
    nat_in: HashMap<MapData, NatInKey, NatInValue>,
}

impl Sweeper {
    /// Opens handles of its own on the tables `map_of` gives (the loaded
    /// datapath's maps by name).
    pub fn open<'a>(map_of: impl Fn(&'static str) -> Option<&'a Map>) -> Result<Self, SweepError> {
        Ok(Self {
            conntrack: own(&map_of, map_names::CONNTRACK)?,
            per_port: own(&map_of, map_names::CONNTRACK_PER_PORT)?,
            per_vpc: own(&map_of, map_names::CONNTRACK_PER_VPC)?,
            nat_out: own(&map_of, map_names::NAT_OUT)?,
            nat_in: own(&map_of, map_names::NAT_IN)?,
        })
    }

    /// Deletes tracked connections idle longer than their timeout at `now`
    /// (CLOCK_MONOTONIC ns, the datapath's clock:
    /// [`crate::datapath::monotonic_ns`]), then sets the counts the
    /// quotas are held to (`vpc_common::ConntrackQuota`) to the live
    /// connections found per ENI and per VPC. (The datapath adds the ones it
    /// creates meanwhile; one created between the read and the write is
    /// missed until the next sweep, a bounded, self-correcting error.)
    pub fn conntrack(&mut self, now: u64) -> Result<Swept, SweepError> {
        let mut expired = Vec::new();
        let mut live = 0;
        let mut per_port: BTreeMap<u32, u64> = BTreeMap::new();
        let mut per_vpc: BTreeMap<u32, u64> = BTreeMap::new();
        scan(self.conntrack.map().fd().as_fd(), map_names::CONNTRACK, |k: &CtKey, v: &CtEntry| {
            if now.saturating_sub(v.last_seen_ns) > ct_idle_timeout(k.proto, v.state) {
                expired.push(*k);
            } else {
                live += 1;
                *per_port.entry(v.quota_port).or_default() += 1;
                *per_vpc.entry(k.vpc_id).or_default() += 1;
            }
        })?;
        // A key gone meanwhile is fine. One refreshed since the read is
        // deleted all the same: the flow's next packet is judged as new.
        let removed = expired.iter().filter(|k| self.conntrack.remove(k).is_ok()).count();
        self.recount(&per_port, &per_vpc)?;
        Ok(Swept { live, removed })
    }

    /// Every tracked connection the table holds now, read in batches
    /// (entries created or deleted meanwhile may be seen or not).
    pub fn connections(&self) -> Result<Vec<(CtKey, CtEntry)>, SweepError> {
        let mut out = Vec::new();
        scan(self.conntrack.map().fd().as_fd(), map_names::CONNTRACK, |k: &CtKey, v: &CtEntry| out.push((*k, *v)))?;
        Ok(out)
    }

    /// Writes the live counts found, where they differ from the datapath's.
    fn recount(&mut self, per_port: &BTreeMap<u32, u64>, per_vpc: &BTreeMap<u32, u64>) -> Result<(), SweepError> {
        let mut stale: Vec<(u32, u64)> = Vec::new();
        scan(self.per_port.map().fd().as_fd(), map_names::CONNTRACK_PER_PORT, |k: &u32, v: &u64| {
            let found = per_port.get(k).copied().unwrap_or(0);
            if *v != found {
                stale.push((*k, found));
            }
        })?;
        for (port, n) in stale {
            self.per_port
                .set(port, n, 0)
                .map_err(|source| SweepError::Map { map: map_names::CONNTRACK_PER_PORT, source })?;
        }
        let mut stored: BTreeMap<u32, u64> = BTreeMap::new();
        scan(self.per_vpc.map().fd().as_fd(), map_names::CONNTRACK_PER_VPC, |k: &u32, v: &u64| {
            stored.insert(*k, *v);
        })?;
        for (vpc, n) in &stored {
            match per_vpc.get(vpc) {
                // A VPC with no connection left: its slot freed (the
                // datapath makes it again with its next one).
                None => {
                    let _ = self.per_vpc.remove(vpc);
                }
                Some(found) if found != n => {
                    let _ = self.per_vpc.insert(vpc, found, 0);
                }
                Some(_) => {}
            }
        }
        for (vpc, n) in per_vpc.iter().filter(|(v, _)| !stored.contains_key(v)) {
            let _ = self.per_vpc.insert(vpc, n, 0);
        }
        Ok(())
    }

    /// Deletes port translations idle longer than their protocol's timeout
    /// (TCP 910 s, UDP 60 s, ICMP 30 s) at `now`, both halves, so their
    /// public ports can be handed out again.
    pub fn nat(&mut self, now: u64) -> Result<Swept, SweepError> {
        let mut expired = Vec::new();
        let mut live = 0;
        scan(self.nat_out.map().fd().as_fd(), map_names::NAT_OUT, |k: &NatOutKey, v: &NatOutValue| {
            if now.saturating_sub(v.last_seen_ns) > ct_idle_timeout(k.proto, CT_STATE_ESTABLISHED) {
                expired.push((*k, *v));
            } else {
                live += 1;
            }
        })?;
        for (k, v) in &expired {
            // The public half first, as the datapath creates it first.
            let _ = self.nat_in.remove(&NatInKey {
                public_ip: v.public_ip,
                remote: k.dst,
                public_port: v.public_port,
                remote_port: if k.proto == 1 { v.public_port } else { k.dport },
                proto: k.proto,
                pad: [0; 3],
            });
        }
        let removed = expired.iter().filter(|(k, _)| self.nat_out.remove(k).is_ok()).count();
        Ok(Swept { live, removed })
    }
}

/// A handle of our own (a duplicated descriptor) on the hash map or array
/// `name`, typed as `M` (`HashMap<MapData, K, V>`, `Array<MapData, V>`).
fn own<'a, M: TryFrom<Map, Error = MapError>>(
    map_of: &impl Fn(&'static str) -> Option<&'a Map>,
    name: &'static str,
) -> Result<M, SweepError> {
    let (Map::HashMap(data) | Map::Array(data)) = map_of(name).ok_or(SweepError::Missing(name))? else {
        return Err(SweepError::WrongType(name));
    };
    let fd = data.fd().as_fd().try_clone_to_owned().map_err(|source| SweepError::Handle { map: name, source })?;
    let data = MapData::from_fd(fd).map_err(|source| SweepError::Map { map: name, source })?;
    let map = Map::from_map_data(data).map_err(|source| SweepError::Map { map: name, source })?;
    M::try_from(map).map_err(|source| SweepError::Map { map: name, source })
}

/// `bpf(2)` command BPF_MAP_LOOKUP_BATCH (`enum bpf_cmd` in linux/bpf.h).
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// The `batch` member of `union bpf_attr` (linux/bpf.h).
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Entries per BPF_MAP_LOOKUP_BATCH call (a hash bucket never holds more).
const CHUNK: usize = 4096;

/// Calls `each` on every entry of the hash map `fd` (keys `K`, values `V`:
/// exactly the map's key and value sizes, as the datapath's layout check at
/// load guarantees). Entries added or deleted meanwhile may be seen or not.
fn scan<K: aya::Pod, V: aya::Pod>(fd: BorrowedFd<'_>, map: &'static str, mut each: impl FnMut(&K, &V)) -> Result<(), SweepError> {
    let mut keys: Vec<MaybeUninit<K>> = std::iter::repeat_with(MaybeUninit::uninit).take(CHUNK).collect();
    let mut values: Vec<MaybeUninit<V>> = std::iter::repeat_with(MaybeUninit::uninit).take(CHUNK).collect();
    // The hash map's cursor is a bucket index (a u32); room to spare.
    let mut cursor = [0u64; 2];
    let mut next = [0u64; 2];
    let mut first = true;
    loop {
        let mut attr = BatchAttr {
            in_batch: if first { 0 } else { cursor.as_ptr() as u64 },
            out_batch: next.as_mut_ptr() as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: CHUNK as u32,
            map_fd: fd.as_raw_fd() as u32,
            ..Default::default()
        };
        // SAFETY: `attr` is a valid `bpf_attr` batch member of the size
        // passed; the kernel writes at most `count` keys of the map's key
        // size (= size_of::<K>()) and values of its value size (=
        // size_of::<V>(), a non-per-CPU map) into buffers of CHUNK elements,
        // and 4 bytes into `next`.
        let rc = unsafe {
            libc::syscall(libc::SYS_bpf, BPF_MAP_LOOKUP_BATCH, &mut attr as *mut BatchAttr, size_of::<BatchAttr>())
        };
        let error = (rc < 0).then(io::Error::last_os_error);
        let copied = (attr.count as usize).min(CHUNK);
        for (k, v) in keys.iter().zip(&values).take(copied) {
            // SAFETY: the kernel initialised the first `count` elements;
            // K and V are plain data (Pod), valid for any bytes.
            each(unsafe { k.assume_init_ref() }, unsafe { v.assume_init_ref() });
        }
        match error {
            None => {}
            Some(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Some(source) => return Err(SweepError::Read { map, source }),
        }
        cursor = next;
        first = false;
    }
}
