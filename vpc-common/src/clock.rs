//! The datapath's clock: what connections, port translations, PrivateLink
//! flows, fragments and the monitor's budget are stamped with.
//!
//! It is `jiffies64` (the kernel's tick count, which the verifier inlines
//! into a load: ~1 ns) turned into CLOCK_MONOTONIC nanoseconds by a
//! [`ClockBase`] the loader takes from the kernel once per load and sets as
//! a read-only global. The helper it replaces, `bpf_ktime_get_coarse_ns`,
//! is a kernel call: 15 ns per packet on the benches' host (micro bench,
//! "kernel operations"). Both move once a tick (1 to 10 ms); timeouts are
//! seconds. The control plane compares the stamps with its own
//! CLOCK_MONOTONIC, as before: they agree within a tick.

/// The name of the read-only global of the datapath holding its
/// [`ClockBase`].
pub const CLOCK_BASE_GLOBAL: &str = "CLOCK_BASE";

/// The tick rates (CONFIG_HZ) a kernel may be built with on x86-64 and
/// arm64.
pub const KERNEL_HZ: [u64; 4] = [100, 250, 300, 1000];

/// A reading of the kernel's tick count (`jiffies`) and the CLOCK_MONOTONIC
/// time it stood for, and the length of a tick.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockBase {
    pub jiffies: u64,
    pub ns: u64,
    pub ns_per_jiffy: u64,
}

impl ClockBase {
    /// CLOCK_MONOTONIC nanoseconds at tick count `jiffies` (within a tick).
    #[inline(always)]
    pub const fn ns_at(&self, jiffies: u64) -> u64 {
        self.ns.wrapping_add(jiffies.wrapping_sub(self.jiffies).wrapping_mul(self.ns_per_jiffy))
    }
}

/// The kernel's tick rate, from `jiffies` ticks counted over `ns`
/// nanoseconds: the rate of [`KERNEL_HZ`] nearest to the one measured, if
/// within 10% of it (a count may be a tick off at either end; over 100
/// ms, the rates stay apart).
pub fn hz_from(jiffies: u64, ns: u64) -> Option<u64> {
    // Compared as ticks x 1e9 against rate x ns (integers: no floating
    // point in BPF, whose target builds this crate too).
    let counted = jiffies.saturating_mul(1_000_000_000);
    let off = |hz: u64| counted.abs_diff(hz.saturating_mul(ns));
    let nearest = KERNEL_HZ.iter().copied().min_by_key(|hz| off(*hz))?;
    (ns != 0 && off(nearest) <= nearest.saturating_mul(ns) / 10).then_some(nearest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_count_is_read_as_the_time_it_stands_for() {
        let base = ClockBase { jiffies: 4_297_910_728, ns: 12_073_993_994_211, ns_per_jiffy: 4_000_000 };
        assert_eq!(base.ns_at(base.jiffies), base.ns);
        assert_eq!(base.ns_at(base.jiffies + 250), base.ns + 1_000_000_000, "250 ticks of 4 ms: a second");
        // A stamp taken a tick before the base (another load's): earlier.
        assert_eq!(base.ns_at(base.jiffies - 1), base.ns - 4_000_000);
    }

    #[test]
    fn the_tick_rate_is_the_kernel_rate_nearest_the_count() {
        // 100 ms, a tick off either way.
        assert_eq!(hz_from(25, 100_000_000), Some(250));
        assert_eq!(hz_from(24, 100_000_000), Some(250));
        assert_eq!(hz_from(26, 100_000_000), Some(250));
        assert_eq!(hz_from(29, 100_000_000), Some(300));
        assert_eq!(hz_from(31, 100_000_000), Some(300));
        assert_eq!(hz_from(11, 100_000_000), Some(100));
        assert_eq!(hz_from(99, 100_000_000), Some(1000));
        // Nothing a kernel is built with, or no time at all.
        assert_eq!(hz_from(50, 100_000_000), None);
        assert_eq!(hz_from(0, 100_000_000), None);
        assert_eq!(hz_from(25, 0), None);
    }
}
