//! Per-CPU counters: by action, by drop reason, per port.
use vpc_common::{Action, DropReason};

use crate::maps::{ACTIONS, DROPS, PORT_COUNTERS};

#[inline(always)]
fn bump(slot: Option<*mut u64>) {
    if let Some(p) = slot {
        // SAFETY: a per-CPU map slot, written only by this CPU.
        unsafe { *p += 1 };
    }
}

/// Counts a dropped frame, globally by reason and on its ingress port.
#[inline(always)]
pub fn drop(ifindex: u32, reason: DropReason) {
    bump(DROPS.get_ptr_mut(reason as u32));
    if let Some(c) = PORT_COUNTERS.get_ptr_mut(ifindex) {
        // SAFETY: per-CPU value, written only by this CPU.
        unsafe { (*c).dropped += 1 };
    }
}

/// Counts a frame handled without a drop.
#[inline(always)]
pub fn action(action: Action) {
    bump(ACTIONS.get_ptr_mut(action as u32));
}

/// Counts a frame received on a router port.
#[inline(always)]
pub fn rx(ifindex: u32, bytes: u64) {
    if let Some(c) = PORT_COUNTERS.get_ptr_mut(ifindex) {
        // SAFETY: per-CPU value, written only by this CPU.
        unsafe {
            (*c).rx_packets += 1;
            (*c).rx_bytes += bytes;
        }
    }
}

/// Counts a frame received on a router port and forwarded on a decision
/// of the flow cache.
#[inline(always)]
pub fn rx_flow_cache_hit(ifindex: u32, bytes: u64) {
    if let Some(c) = PORT_COUNTERS.get_ptr_mut(ifindex) {
        // SAFETY: per-CPU value, written only by this CPU.
        unsafe {
            (*c).rx_packets += 1;
            (*c).rx_bytes += bytes;
            (*c).flow_cache_hits += 1;
        }
    }
}

/// Counts a frame sent out of a router port.
#[inline(always)]
pub fn tx(ifindex: u32, bytes: u64) {
    if let Some(c) = PORT_COUNTERS.get_ptr_mut(ifindex) {
        // SAFETY: per-CPU value, written only by this CPU.
        unsafe {
            (*c).tx_packets += 1;
            (*c).tx_bytes += bytes;
        }
    }
}

/// Counts a new flow the connection tracker refused on the ENI of router
/// port `ifindex` (the one it would have counted against).
#[inline(always)]
pub fn conntrack_refused(ifindex: u32) {
    if let Some(c) = PORT_COUNTERS.get_ptr_mut(ifindex) {
        // SAFETY: per-CPU value, written only by this CPU.
        unsafe { (*c).conntrack_refused += 1 };
    }
}
