//! The datapath's clock (`vpc_common::clock`): CLOCK_MONOTONIC nanoseconds
//! from the kernel's tick count, which the verifier inlines into a load,
//! and the base the loader set.
use aya_ebpf::helpers::generated::bpf_jiffies64;
use vpc_common::clock::ClockBase;

/// Set by the loader (`vpc_common::clock::CLOCK_BASE_GLOBAL`): a read-only
/// global, so the verifier knows it.
#[unsafe(no_mangle)]
static CLOCK_BASE: ClockBase = ClockBase { jiffies: 0, ns: 0, ns_per_jiffy: 0 };

/// CLOCK_MONOTONIC nanoseconds now, within a tick.
#[inline(always)]
pub fn now() -> u64 {
    // SAFETY: a loader-set constant.
    let base = unsafe { core::ptr::read_volatile(&CLOCK_BASE) };
    // SAFETY: a helper with no arguments (inlined by the verifier).
    base.ns_at(unsafe { bpf_jiffies64() })
}
