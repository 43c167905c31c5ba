//! The reading side of `vpc monitor`: the router's pinned `MONITOR` ring
//! buffer, its switch and budget (`MONITOR_CONFIG`) and its per-CPU counts
//! (`MONITOR_STATE`).
//!
//! Monitoring is on while at least one monitor runs. Each [`Monitor`]
//! registers itself with a pid file under [`registry_dir`]; registering and
//! leaving happen under an exclusive `flock` of that directory's lock file,
//! and the last one to leave (no other registered process alive) turns
//! monitoring off. A monitor killed with SIGKILL leaves its file: the next
//! monitor to leave finds that process gone and still turns monitoring off.
use std::{
    fs, io,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    time::Duration,
};

use aya::maps::{Array, MapData, MapError, PerCpuArray, RingBuf};
use thiserror::Error;
use vpc_common::{MonitorConfig, MonitorEvent, MonitorState, map_names};

use super::{Datapath, DatapathError, map_err, pin_dir};

/// Root of the monitors' registries (tmpfs: as short-lived as the processes).
const REGISTRY_ROOT: &str = "/run/vpc/monitors";

/// Errors of the monitor's reader.
#[derive(Debug, Error)]
pub enum MonitorError {
    /// A map of the router is not pinned (no daemon ever ran for it, or an
    /// older datapath without monitoring is running).
    #[error("no {map} pinned at {path}: is a `vpc daemon --namespace {namespace}` of this version running?")]
    NotPinned { map: &'static str, path: PathBuf, namespace: String },
    /// Opening or using a map failed.
    #[error("map {map}: {source}")]
    Map { map: &'static str, source: MapError },
    /// The registry of running monitors could not be read or written.
    #[error("monitor registry {path}: {source}")]
    Registry { path: PathBuf, source: io::Error },
    /// Waiting for the ring buffer failed.
    #[error("waiting for monitor events: {0}")]
    Poll(io::Error),
    /// A map of a loaded datapath failed.
    #[error(transparent)]
    Datapath(#[from] DatapathError),
}

/// The monitor's counts, summed over the CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitorTotals {
    /// Events written to the ring buffer.
    pub written: u64,
    /// Events over the per-CPU budget, not written.
    pub suppressed: u64,
    /// Events within budget that found the ring buffer full.
    pub lost: u64,
}

fn totals_of(values: &[MonitorState]) -> MonitorTotals {
    values.iter().fold(MonitorTotals::default(), |t, s| MonitorTotals {
        written: t.written + s.written,
        suppressed: t.suppressed + s.suppressed,
        lost: t.lost + s.lost,
    })
}

/// Decodes one ring buffer record (None if it is not one event long).
pub fn decode(bytes: &[u8]) -> Option<MonitorEvent> {
    (bytes.len() >= size_of::<MonitorEvent>())
        // SAFETY: `bytes` holds at least one MonitorEvent, a Pod type (any
        // bit pattern is valid), read unaligned.
        .then(|| unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const MonitorEvent) })
}

/// The monitor maps of a router, opened from their pins (no registration:
/// reading them changes nothing).
pub struct MonitorMaps {
    ring: RingBuf<MapData>,
    config: Array<MapData, MonitorConfig>,
    state: PerCpuArray<MapData, MonitorState>,
}

impl MonitorMaps {
    /// Opens the pinned maps of the router of namespace `router_ns`.
    pub fn open(router_ns: &str) -> Result<Self, MonitorError> {
        let dir = pin_dir(router_ns);
        let open = |map: &'static str| -> Result<aya::maps::Map, MonitorError> {
            let path = dir.join(map);
            if !path.exists() {
                return Err(MonitorError::NotPinned { map, path, namespace: router_ns.to_string() });
            }
            let data = MapData::from_pin(&path).map_err(|source| MonitorError::Map { map, source })?;
            aya::maps::Map::from_map_data(data).map_err(|source| MonitorError::Map { map, source })
        };
        let err = |map: &'static str| move |source| MonitorError::Map { map, source };
        Ok(Self {
            ring: RingBuf::try_from(open(map_names::MONITOR)?).map_err(err(map_names::MONITOR))?,
            config: Array::try_from(open(map_names::MONITOR_CONFIG)?).map_err(err(map_names::MONITOR_CONFIG))?,
            state: PerCpuArray::try_from(open(map_names::MONITOR_STATE)?).map_err(err(map_names::MONITOR_STATE))?,
        })
    }

    /// The switch and budget in force.
    pub fn config(&self) -> Result<MonitorConfig, MonitorError> {
        self.config.get(&0, 0).map_err(|source| MonitorError::Map { map: map_names::MONITOR_CONFIG, source })
    }

    fn set_config(&mut self, c: MonitorConfig) -> Result<(), MonitorError> {
        self.config.set(0, c, 0).map_err(|source| MonitorError::Map { map: map_names::MONITOR_CONFIG, source })
    }

    /// Written, suppressed and lost events, all CPUs.
    pub fn totals(&self) -> Result<MonitorTotals, MonitorError> {
        let v = self.state.get(&0, 0).map_err(|source| MonitorError::Map { map: map_names::MONITOR_STATE, source })?;
        Ok(totals_of(&v))
    }

    /// The next event, waiting at most `timeout` for one.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<MonitorEvent>, MonitorError> {
        if let Some(item) = self.ring.next() {
            return Ok(decode(&item));
        }
        let mut fds = [libc::pollfd { fd: self.ring.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid array of one pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            // A signal (Ctrl-C) ends the wait; the caller checks why.
            return if e.kind() == io::ErrorKind::Interrupted { Ok(None) } else { Err(MonitorError::Poll(e)) };
        }
        Ok(self.ring.next().and_then(|item| decode(&item)))
    }
}

/// Where the monitors of router namespace `router_ns` register.
pub fn registry_dir(router_ns: &str) -> PathBuf {
    Path::new(REGISTRY_ROOT).join(router_ns)
}

/// An exclusive lock of a registry, released on drop (with the file).
struct RegistryLock {
    _file: fs::File,
}

impl RegistryLock {
    fn take(dir: &Path) -> Result<Self, MonitorError> {
        let reg = |source| MonitorError::Registry { path: dir.to_path_buf(), source };
        fs::create_dir_all(dir).map_err(reg)?;
        let f = fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(".lock")).map_err(reg)?;
        // SAFETY: flock on a file descriptor this File owns.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(reg(io::Error::last_os_error()));
        }
        Ok(Self { _file: f })
    }
}

/// True if process `pid` exists.
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let found = unsafe { libc::kill(pid, 0) } == 0;
    found || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A running monitor: monitoring is on from [`Monitor::start`] until the
/// last running monitor is dropped.
pub struct Monitor {
    maps: MonitorMaps,
    registry: PathBuf,
    pid: u32,
}

impl Monitor {
    /// Registers a monitor of router `router_ns` and turns monitoring on,
    /// each CPU writing at most `rate` events per second.
    pub fn start(router_ns: &str, rate: u32) -> Result<Self, MonitorError> {
        let maps = MonitorMaps::open(router_ns)?;
        let registry = registry_dir(router_ns);
        let pid = std::process::id();
        let lock = RegistryLock::take(&registry)?;
        let file = registry.join(pid.to_string());
        fs::write(&file, b"").map_err(|source| MonitorError::Registry { path: file.clone(), source })?;
        let mut monitor = Monitor { maps, registry, pid };
        let on = monitor.maps.set_config(MonitorConfig { enabled: 1, rate });
        // Released before a failed start drops the monitor (which leaves
        // under the lock again).
        drop(lock);
        on?;
        Ok(monitor)
    }

    /// The maps (events, counts, configuration).
    pub fn maps(&mut self) -> &mut MonitorMaps {
        &mut self.maps
    }

    /// Leaves; the last monitor alive turns monitoring off.
    fn leave(&mut self) -> Result<(), MonitorError> {
        let _lock = RegistryLock::take(&self.registry)?;
        let reg = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MonitorError::Registry { path, source }
        };
        let own = self.registry.join(self.pid.to_string());
        match fs::remove_file(&own) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(reg(&own)(e)),
            _ => {}
        }
        let mut others = false;
        for e in fs::read_dir(&self.registry).map_err(reg(&self.registry))?.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
            if alive(pid) {
                others = true;
            } else {
                // A monitor killed before it could leave.
                let _ = fs::remove_file(e.path());
            }
        }
        if !others {
            let rate = self.maps.config().map(|c| c.rate).unwrap_or(0);
            self.maps.set_config(MonitorConfig { enabled: 0, rate })?;
        }
        Ok(())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Err(e) = self.leave() {
            log::warn!("leaving the monitor registry: {e}");
        }
    }
}

impl Datapath {
    /// Sets the monitor's switch and budget on this handle's maps (tests,
    /// benches: a datapath loaded without pins).
    pub fn set_monitor(&mut self, config: MonitorConfig) -> Result<(), DatapathError> {
        self.set_setting(map_names::MONITOR_CONFIG, config)
    }

    /// The monitor's counts on this handle's maps.
    pub fn monitor_totals(&self) -> Result<MonitorTotals, DatapathError> {
        let name = map_names::MONITOR_STATE;
        let a: PerCpuArray<&MapData, MonitorState> = PerCpuArray::try_from(self.map(name)?).map_err(map_err(name))?;
        Ok(totals_of(&a.get(&0, 0).map_err(map_err(name))?))
    }

    /// The events waiting in this handle's ring buffer (at most `max`).
    pub fn monitor_events(&mut self, max: usize) -> Result<Vec<MonitorEvent>, DatapathError> {
        let name = map_names::MONITOR;
        let mut ring: RingBuf<&mut MapData> = RingBuf::try_from(self.map_mut(name)?).map_err(map_err(name))?;
        let mut out = Vec::new();
        while out.len() < max {
            let Some(item) = ring.next() else { break };
            out.extend(decode(&item));
        }
        Ok(out)
    }
}
