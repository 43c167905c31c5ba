//! `vpc monitor`: the drop and verdict events the datapath writes to the
//! `MONITOR` ring buffer while a monitor runs, its switch and budget
//! (`MONITOR_CONFIG`) and its per-CPU accounting (`MONITOR_STATE`).
#[allow(unused_imports)]
use crate::*;

/// Size of the `MONITOR` ring buffer in bytes (a power of two, a multiple
/// of the page size): 4,096 events of [`MonitorEvent`] and its header.
pub const MONITOR_RING_BYTES: u32 = 1 << 18;

/// Default events per second each CPU may write (`vpc monitor --rate`).
pub const MONITOR_DEFAULT_RATE: u32 = 1_000;

/// Length of one budget window of [`MonitorState`] (1 s).
pub const MONITOR_WINDOW_NS: u64 = 1_000_000_000;

/// `MonitorEvent::kind`: the frame was dropped; `reason` is a [`DropReason`].
pub const MONITOR_KIND_DROP: u32 = 0;
/// `MonitorEvent::kind`: the first packet of a new connection was accepted
/// through connection tracking (the security groups let it in); `reason`
/// is 0.
pub const MONITOR_KIND_NEW_CONNECTION: u32 = 1;

/// One event of the `MONITOR` ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MonitorEvent {
    /// bpf_ktime_get_ns (CLOCK_MONOTONIC) when the datapath decided.
    pub time_ns: u64,
    /// Router port the frame came in on (ifindex).
    pub ingress: u32,
    /// Router port it was bound for, once the route was found (else 0).
    pub egress: u32,
    /// Numeric id of the ingress ENI's VPC (0 if none: uplink, unknown port).
    pub vpc_id: u32,
    /// `MONITOR_KIND_*`.
    pub kind: u32,
    /// [`DropReason`] as u32 for a drop; 0 for a new connection.
    pub reason: u32,
    /// The numeric policy id that decided: for a drop by `sg_ingress`,
    /// `sg_egress`, `acl_ingress` or `acl_egress` the ENI's policy of that
    /// name (the egress port's for the ingress ones, the ingress port's for
    /// the egress ones); for a new connection the responder's inbound
    /// security-group policy; 0 otherwise.
    pub policy_id: u32,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Source port (ICMP echo: the identifier).
    pub sport: u16,
    /// Destination port (ICMP echo: the identifier).
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
    /// TCP flags; the ICMP type for ICMP.
    pub flags: u8,
    /// Always 0.
    pub pad: [u8; 2],
}

/// Index 0 of `MONITOR_CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MonitorConfig {
    /// Non-zero while at least one `vpc monitor` runs: events are written.
    /// At 0 (no monitor) an event costs one array read and a branch.
    pub enabled: u32,
    /// Events each CPU may write per second; more are counted as
    /// suppressed in [`MonitorState`] and not written.
    pub rate: u32,
}

/// Value of `MONITOR_STATE` (per CPU, index 0): the budget window and what
/// became of the events.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MonitorState {
    /// Start of the current budget window (the datapath's clock, `clock`).
    pub window_ns: u64,
    /// Events written in it.
    pub used: u64,
    /// Events written to the ring buffer, ever.
    pub written: u64,
    /// Events over the budget, not written.
    pub suppressed: u64,
    /// Events within budget that found the ring buffer full.
    pub lost: u64,
}
