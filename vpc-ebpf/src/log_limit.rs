//! Rate limit for the aya-log records of rare drop paths.
//!
//! Log records are emitted only on paths the forwarding fast path never
//! takes (a frame on a port without an ENI, a failed redirect). Such a path
//! can still be hot: a flood towards an instance whose veth is gone fails
//! every redirect. So each drop reason may emit at most one record per
//! [`INTERVAL_NS`] on each CPU; the record says how many were suppressed
//! since the previous one (the drop counters still count every frame).
use aya_ebpf::{helpers::generated::bpf_ktime_get_ns, macros::map, maps::PerCpuArray};
use vpc_common::DropReason;

/// At most one record per drop reason, per CPU, per second.
pub const INTERVAL_NS: u64 = 1_000_000_000;

/// State of one drop reason on one CPU.
#[repr(C)]
pub struct Limit {
    /// Time of the last record emitted (bpf_ktime_get_ns), 0 if none yet.
    last_ns: u64,
    /// Records not emitted since then.
    suppressed: u64,
}

/// One [`Limit`] per [`DropReason`]; private to each load (not pinned).
#[map]
static LOG_LIMITS: PerCpuArray<Limit> = PerCpuArray::with_max_entries(DropReason::COUNT, 0);

/// If a record for `reason` may be emitted now on this CPU, returns how many
/// were suppressed before it; otherwise counts this one as suppressed.
/// Call it only on a rare path, right before the log statement.
#[inline(always)]
pub fn allow(reason: DropReason) -> Option<u64> {
    let slot = LOG_LIMITS.get_ptr_mut(reason as u32)?;
    // SAFETY: a helper without arguments or side effects.
    let now = unsafe { bpf_ktime_get_ns() };
    // SAFETY: a per-CPU map slot, written only by this CPU (XDP programs
    // are not preempted on their CPU while they run).
    let limit = unsafe { &mut *slot };
    if limit.last_ns != 0 && now.wrapping_sub(limit.last_ns) < INTERVAL_NS {
        limit.suppressed += 1;
        return None;
    }
    let suppressed = limit.suppressed;
    limit.last_ns = now;
    limit.suppressed = 0;
    Some(suppressed)
}
