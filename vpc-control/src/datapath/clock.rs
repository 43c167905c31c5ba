//! The base of the datapath's clock (`vpc_common::clock`): a reading of the
//! kernel's tick count and CLOCK_MONOTONIC together, from
//! `/proc/timer_list` (its "now at N nsecs" and "jiffies: N" lines), and
//! the tick's length. Nothing user space can call returns the tick rate
//! (CONFIG_HZ): it is measured, once per process, from two readings 100
//! ms apart.
use std::{fs, sync::OnceLock, thread, time::Duration};

use thiserror::Error;
use vpc_common::clock::{hz_from, ClockBase};

/// Where the kernel prints its timers, the tick count and the time.
const TIMER_LIST: &str = "/proc/timer_list";

/// How long the tick rate is measured over (the rates stay apart when a
/// count is a tick off at either end: `hz_from`).
const MEASURE: Duration = Duration::from_millis(100);

/// Why the clock's base could not be taken.
#[derive(Debug, Error, Clone)]
pub enum ClockError {
    /// `/proc/timer_list` could not be read (it needs root, and procfs).
    #[error("reading {TIMER_LIST}: {0}")]
    Read(String),
    /// `/proc/timer_list` lacks the time or the tick count.
    #[error("{TIMER_LIST} has no \"{0}\" line")]
    Format(&'static str),
    /// The tick rate measured is none a kernel is built with.
    #[error("{jiffies} ticks in {ns} ns: no kernel tick rate (100, 250, 300, 1000 Hz)")]
    Rate { jiffies: u64, ns: u64 },
}

/// One reading: (CLOCK_MONOTONIC ns, jiffies).
fn reading() -> Result<(u64, u64), ClockError> {
    let text = fs::read_to_string(TIMER_LIST).map_err(|e| ClockError::Read(e.to_string()))?;
    parse(&text)
}

/// The first "now at N nsecs" and the first "jiffies: N" of a timer list.
fn parse(text: &str) -> Result<(u64, u64), ClockError> {
    let now = text
        .lines()
        .find_map(|l| l.strip_prefix("now at ")?.strip_suffix(" nsecs")?.trim().parse().ok())
        .ok_or(ClockError::Format("now at"))?;
    let jiffies = text
        .lines()
        .find_map(|l| l.strip_prefix("jiffies:")?.trim().parse().ok())
        .ok_or(ClockError::Format("jiffies:"))?;
    Ok((now, jiffies))
}

/// The kernel's tick length in ns, measured on first use.
fn ns_per_jiffy() -> Result<u64, ClockError> {
    static MEASURED: OnceLock<Result<u64, ClockError>> = OnceLock::new();
    MEASURED
        .get_or_init(|| {
            let (ns0, j0) = reading()?;
            thread::sleep(MEASURE);
            let (ns1, j1) = reading()?;
            let (jiffies, ns) = (j1.wrapping_sub(j0), ns1.saturating_sub(ns0));
            let hz = hz_from(jiffies, ns).ok_or(ClockError::Rate { jiffies, ns })?;
            Ok(1_000_000_000 / hz)
        })
        .clone()
}

/// Starts measuring the tick rate on a thread of its own, so that a
/// daemon's start-up work overlaps the 100 ms (the first [`base`] waits
/// for the result).
pub fn prime() {
    thread::spawn(|| {
        let _ = ns_per_jiffy();
    });
}

/// The datapath clock's base now.
pub fn base() -> Result<ClockBase, ClockError> {
    let ns_per_jiffy = ns_per_jiffy()?;
    let (ns, jiffies) = reading()?;
    Ok(ClockBase { jiffies, ns, ns_per_jiffy })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_list_is_read_for_its_time_and_tick_count() {
        let text = "Timer List Version: v0.10\nHRTIMER_MAX_CLOCK_BASES: 8\nnow at 12073993994211 nsecs\n\ncpu: 0\n  .last_jiffies   : 4297908167\njiffies: 4297910728\n\ncpu: 1\njiffies: 4297910729\n";
        assert_eq!(parse(text).unwrap(), (12_073_993_994_211, 4_297_910_728));
        assert!(matches!(parse("now at 5 nsecs\n"), Err(ClockError::Format("jiffies:"))));
        assert!(matches!(parse("jiffies: 5\n"), Err(ClockError::Format("now at"))));
    }

    /// On this machine: a tick of a kernel tick rate, and a base taken
    /// now (CLOCK_MONOTONIC read just after it; 100 ms of slack for a
    /// loaded machine).
    #[test]
    fn the_base_stands_for_now() {
        let before = crate::datapath::monotonic_ns();
        let base = base().unwrap_or_else(|e| panic!("the clock's base (as root): {e}"));
        let after = crate::datapath::monotonic_ns();
        assert!(vpc_common::clock::KERNEL_HZ.iter().any(|hz| 1_000_000_000 / hz == base.ns_per_jiffy), "{base:?}");
        assert!(base.ns >= before && base.ns <= after + 100_000_000, "{base:?}: read between {before} and {after}");
    }
}
