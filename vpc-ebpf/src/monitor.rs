//! Events for `vpc monitor`: a drop (with its reason and the policy that
//! decided) and a new connection accepted through connection tracking.
//! With no monitor running an event costs one array read and a branch;
//! with one, a per-CPU budget of events per second (`MonitorConfig::rate`)
//! bounds the ring-buffer writes: events over it are only counted
//! (`MonitorState::suppressed`).
use aya_ebpf::helpers::generated::bpf_ktime_get_ns;
use vpc_common::{
    DropReason, Eni, MonitorEvent, ENI_COPIES, ENI_FLAG_PORT, MONITOR_KIND_DROP, MONITOR_KIND_NEW_CONNECTION, MONITOR_WINDOW_NS,
};

use crate::{
    clock,
    maps::{ENI_BY_PORT, ENI_COPY, MONITOR, MONITOR_CONFIG, MONITOR_STATE},
    parse::Flow,
};

/// The events per second this CPU may still write, if monitoring is on.
#[inline(always)]
fn rate() -> Option<u32> {
    let c = MONITOR_CONFIG.get(0)?;
    if c.enabled == 0 { None } else { Some(c.rate) }
}

/// True if this CPU's budget allows one more event now; else counts it as
/// suppressed.
#[inline(always)]
fn admit(rate: u32) -> bool {
    let Some(state) = MONITOR_STATE.get_ptr_mut(0) else { return false };
    // SAFETY: a per-CPU map slot, written only by this CPU (XDP programs
    // are not preempted on their CPU while they run).
    let state = unsafe { &mut *state };
    // The budget's clock is the datapath's (a tick of a few ms, far below
    // the 1 s window; a load, no kernel call): an event over the budget
    // costs this read and a counter.
    let now = clock::now();
    if now.wrapping_sub(state.window_ns) >= MONITOR_WINDOW_NS {
        state.window_ns = now;
        state.used = 0;
    }
    if state.used >= rate as u64 {
        state.suppressed += 1;
        return false;
    }
    state.used += 1;
    true
}

/// Writes one admitted event (counted as lost if the ring buffer is full).
#[inline(always)]
fn write(ingress: u32, kind: u32, reason: u32, vpc_id: u32, policy_id: u32, flow: &Flow) {
    let Some(state) = MONITOR_STATE.get_ptr_mut(0) else { return };
    // SAFETY: as in `admit`.
    let state = unsafe { &mut *state };
    let Some(mut entry) = MONITOR.reserve::<MonitorEvent>(0) else {
        state.lost += 1;
        return;
    };
    entry.write(MonitorEvent {
        // SAFETY: a helper without arguments or side effects.
        time_ns: unsafe { bpf_ktime_get_ns() },
        ingress,
        egress: flow.egress,
        vpc_id,
        kind,
        reason,
        policy_id,
        src: flow.src,
        dst: flow.dst,
        sport: flow.sport,
        dport: flow.dport,
        proto: flow.proto,
        flags: flow.flags,
        pad: [0; 2],
    });
    entry.submit(0);
    state.written += 1;
}

/// A field of the ENI behind port `ifindex`, 0 if it has none. (Values,
/// not an `Option<&Eni>` kept across: LLVM may turn that into a masked
/// pointer, which the verifier refuses.)
#[inline(always)]
fn eni_field(ifindex: u32, field: impl Fn(&Eni) -> u32) -> u32 {
    let Some(copy) = ENI_COPY.get(ifindex) else { return 0 };
    let Some(eni) = ENI_BY_PORT.get(ifindex.wrapping_mul(ENI_COPIES) | (*copy & (ENI_COPIES - 1))) else { return 0 };
    if eni.flags & ENI_FLAG_PORT == 0 {
        return 0;
    }
    field(eni)
}

/// A frame from port `ifindex` dropped for `reason`; `flow` is what the
/// pipeline parsed of it (all zeros if it got that far, `egress` set once
/// the route was found).
#[inline(always)]
pub fn drop(ifindex: u32, reason: DropReason, flow: &Flow) {
    let Some(rate) = rate() else { return };
    if !admit(rate) {
        return;
    }
    // The policy that decided: the sender's for egress rules, the
    // receiver's for ingress rules.
    let policy_id = match reason {
        DropReason::SgEgress => eni_field(ifindex, |e| e.sg_egress),
        DropReason::AclEgress => eni_field(ifindex, |e| e.acl_egress),
        DropReason::SgIngress => eni_field(flow.egress, |e| e.sg_ingress),
        DropReason::AclIngress => eni_field(flow.egress, |e| e.acl_ingress),
        _ => 0,
    };
    let vpc_id = eni_field(ifindex, |e| e.vpc_id);
    write(ifindex, MONITOR_KIND_DROP, reason as u32, vpc_id, policy_id, flow);
}

/// The first packet of a new connection of `vpc_id`, accepted by the
/// security groups (inbound policy `policy_id` of the responder) and now
/// tracked. Only for flows whose ingress port the pipeline recorded.
#[inline(always)]
pub fn new_connection(flow: &Flow, vpc_id: u32, policy_id: u32) {
    if flow.ingress == 0 {
        return;
    }
    let Some(rate) = rate() else { return };
    if admit(rate) {
        write(flow.ingress, MONITOR_KIND_NEW_CONNECTION, 0, vpc_id, policy_id, flow);
    }
}
