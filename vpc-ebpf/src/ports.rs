//! A search for a free port in a range (SNAT's public ports,
//! `privatelink::take_port`'s ports at a load balancer's address).
use aya_ebpf::helpers::bpf_get_prandom_u32;

/// The ports a search for a free one tries in `min..=max`, at most
/// `tries` of them (`nat::snat`, `privatelink::take_port`): a range no
/// larger than the tries is walked whole from a random port; in a larger
/// one each try is drawn at random. (Consecutive ports, or ports a fixed
/// step apart, from one random start walk along the runs of taken ports
/// every earlier search left: with well under a third of the range taken,
/// 16 tries a prime stride apart sometimes found only taken ports (2 runs
/// in 54 of the port-reuse test through an endpoint, under load, dropped a
/// SYN of their 80,000); drawn independently, all are taken with
/// probability (taken share)^tries.)
#[derive(Clone, Copy)]
pub struct PortSearch {
    min: u16,
    span: u32,
    tries: u32,
    start: u32,
}

impl PortSearch {
    /// A search of `min..=max` in `tries` tries.
    #[inline(always)]
    pub fn new(min: u16, max: u16, tries: u32) -> Self {
        let span = (max as u32).saturating_sub(min as u32) + 1;
        // SAFETY: a helper with no arguments.
        let start = if span <= tries { (unsafe { bpf_get_prandom_u32() }) % span } else { 0 };
        Self { min, span, tries, start }
    }

    /// The port to try `i`-th.
    #[inline(always)]
    pub fn port(&self, i: u32) -> u16 {
        let offset = if self.span <= self.tries {
            (self.start + i) % self.span
        } else {
            // SAFETY: a helper with no arguments.
            (unsafe { bpf_get_prandom_u32() }) % self.span
        };
        self.min.wrapping_add(offset as u16)
    }
}
