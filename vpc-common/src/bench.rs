//! The connections bench's run (`tests/bench_tcp_crafted.rs` writes it,
//! `bench_conn_generator` and `bench_conn_sink` of vpc-ebpf/src/bench.rs
//! advance it): one layout for both sides.

/// Bytes of the headers of a frame of the connections bench: Ethernet,
/// IPv4 (no options), TCP (no options).
pub const CONN_HEADERS: usize = 14 + 20 + 20;

/// Most phases of a run.
pub const CONN_MAX_PHASES: usize = 8;

/// One phase of the connections bench: every connection's packet from
/// one side, connection `c`'s being connection 0's (`headers`) with `c *
/// sport_step` added to the source port, `c * dport_step` to the
/// destination port (the client's port is one of the two), `c * seq_step`
/// to the sequence number and `c * ack_step` to the acknowledgment number
/// (each side's initial sequence number grows by a step per connection),
/// the TCP checksum updated to match.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ConnPhase {
    /// Connection 0's headers ([`CONN_HEADERS`] bytes, then 2 unused), both
    /// checksums right (the payload counted as zeros); words, so that the
    /// program copies them a word at a time.
    pub headers: [u64; 7],
    pub sport_step: u32,
    pub dport_step: u32,
    pub seq_step: u32,
    pub ack_step: u32,
    /// 1: the client sends (XDP_TX out of the generator's veth, the
    /// client's); 0: the server (redirected out of the server's veth).
    pub from_client: u8,
    /// 1: the packet carries the bench's payload (else the frame is cut to
    /// its headers).
    pub data: u8,
    /// Explicit padding (to 8 bytes).
    pub pad: [u8; 6],
}

/// A run of the connections bench (index 0 of `CONN_RUN`), written by the
/// bench before it, advanced by `bench_conn_generator` and
/// `bench_conn_sink`: each phase, `count` frames, one per connection; a
/// phase starts only once the sinks counted every frame sent before it
/// (the barrier: until then the generator sends nothing, and the
/// live-frames loop goes on, letting the softirq work run between its
/// batches). Everything runs on one CPU (the bench pins it), so the plain
/// counters need no atomics.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ConnRun {
    pub phases: [ConnPhase; CONN_MAX_PHASES],
    /// Phases in use.
    pub phase_count: u32,
    /// Connections (frames per phase).
    pub count: u32,
    /// Phase of the next frame (`phase_count`: done, nothing more to send).
    pub phase: u32,
    /// Connection of the next frame.
    pub next: u32,
    /// Frames sent to the server and to the client.
    pub sent: [u64; 2],
    /// Frames the sinks counted to the server, to the client (TCP), and
    /// other frames.
    pub sunk: [u64; 3],
    /// Frames the generator held back at a barrier.
    pub waits: u64,
    /// bpf_ktime_get_ns when the generator wrote the first frame, and when
    /// the sinks counted the last one (0: not yet).
    pub start_ns: u64,
    pub end_ns: u64,
    /// bpf_ktime_get_ns when each phase's first frame was written.
    pub phase_ns: [u64; CONN_MAX_PHASES],
}
