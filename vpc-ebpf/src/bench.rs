//! Traffic generator and sink for `cargo xtask bench` (a separate object,
//! never loaded by the router).
//!
//! `bench_generator` runs under BPF_PROG_TEST_RUN in live-frames mode on the
//! generator's veth and XDP_TXes every frame into the router port. The
//! kernel recycles the frames' pages, which keep whatever bytes the
//! receiver's stack wrote, so the program writes the whole Ethernet, IPv4
//! and UDP header of every frame from [`GEN_HEADERS`]; with counts in
//! [`GEN_CONFIG`] it also draws the destination address from [`GEN_DSTS`]
//! and the source port from a range at random (many flows).
//! `bench_sink` counts and drops what reaches the far end;
//! `bench_sink_tc` does the same at the tcx ingress of the sink's veth, for
//! the router's tc mode: a socket buffer the router sends there with
//! bpf_redirect_peer enters the sink's stack directly and never passes its
//! XDP program.
//!
//! The `op_*` programs each do one kind of kernel operation the router
//! does per packet (a map lookup of one type and key size, the clock), for
//! the micro benchmark to time against `op_pass`: what the router's
//! per-packet cost is made of, measured on this machine in the same run.
#![no_std]
#![no_main]

#[path = "csum.rs"]
mod csum;

use vpc_common::bench::{CONN_HEADERS, CONN_MAX_PHASES, ConnPhase, ConnRun};
use aya_ebpf::{
    bindings::{TC_ACT_SHOT, xdp_action},
    helpers::{bpf_get_prandom_u32, bpf_ktime_get_ns, bpf_xdp_adjust_tail},
    macros::{classifier, map, xdp},
    maps::{Array, DevMap, DevMapHash, HashMap, LpmTrie, PerCpuArray, lpm_trie::Key},
    programs::{TcContext, XdpContext},
};

/// Bytes of the headers the generator writes: Ethernet, IPv4 (no options), UDP.
const HEADERS: usize = 14 + 20 + 8;
/// Offset of the IPv4 checksum.
const IP_CHECK: usize = 14 + 10;
/// Offset of the IPv4 destination address.
const IP_DST: usize = 14 + 16;
/// Offset of the UDP source port.
const UDP_SPORT: usize = 14 + 20;

/// The headers of every generated frame (IPv4 checksum included, UDP
/// checksum 0); set by the loader.
#[unsafe(no_mangle)]
static GEN_HEADERS: [u8; HEADERS] = [0; HEADERS];

/// Index 0: how many entries of [`GEN_DSTS`] to draw destinations from (0:
/// keep the destination of [`GEN_HEADERS`]). Index 1: how many source ports,
/// from the one in [`GEN_HEADERS`] up, to draw from (0: keep it). The UDP
/// checksum is 0, so a new port needs no checksum update.
#[map]
static GEN_CONFIG: Array<u32> = Array::with_max_entries(2, 0);

/// Destination addresses (network order) for random-destination runs.
#[map]
static GEN_DSTS: Array<[u8; 4]> = Array::with_max_entries(1 << 20, 0);

/// Frames the sink received (index 0).
#[map]
static SINK_FRAMES: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[xdp]
pub fn bench_generator(ctx: XdpContext) -> u32 {
    let start = ctx.data();
    if start + HEADERS > ctx.data_end() {
        return xdp_action::XDP_ABORTED;
    }
    // SAFETY: a loader-set constant, read whole.
    let headers = unsafe { core::ptr::read_volatile(&GEN_HEADERS) };
    // SAFETY: HEADERS bytes are within the frame (checked above).
    unsafe { core::ptr::write_unaligned(start as *mut [u8; HEADERS], headers) };
    let count = GEN_CONFIG.get(0).copied().unwrap_or(0);
    if count > 0 {
        // SAFETY: a helper without arguments.
        let n = unsafe { bpf_get_prandom_u32() } % count;
        if let Some(dst) = GEN_DSTS.get(n) {
            let old = [headers[IP_DST], headers[IP_DST + 1], headers[IP_DST + 2], headers[IP_DST + 3]];
            let check = u16::from_ne_bytes([headers[IP_CHECK], headers[IP_CHECK + 1]]);
            let check = csum::replace32(check, old, *dst).to_ne_bytes();
            // SAFETY: both fields are within the HEADERS bytes checked above.
            unsafe {
                core::ptr::write_unaligned((start + IP_DST) as *mut [u8; 4], *dst);
                core::ptr::write_unaligned((start + IP_CHECK) as *mut [u8; 2], check);
            }
        }
    }
    let ports = GEN_CONFIG.get(1).copied().unwrap_or(0);
    if ports > 0 {
        let base = u16::from_be_bytes([headers[UDP_SPORT], headers[UDP_SPORT + 1]]);
        // SAFETY: a helper without arguments.
        let sport = base.wrapping_add((unsafe { bpf_get_prandom_u32() } % ports) as u16);
        // SAFETY: the field is within the HEADERS bytes checked above.
        unsafe { core::ptr::write_unaligned((start + UDP_SPORT) as *mut [u8; 2], sport.to_be_bytes()) };
    }
    xdp_action::XDP_TX
}

/// Counts one frame into [`SINK_FRAMES`].
#[inline(always)]
fn count_sink_frame() {
    if let Some(p) = SINK_FRAMES.get_ptr_mut(0) {
        // SAFETY: a per-CPU slot, written only by this CPU.
        unsafe { *p += 1 };
    }
}

#[xdp]
pub fn bench_sink(_ctx: XdpContext) -> u32 {
    count_sink_frame();
    xdp_action::XDP_DROP
}

/// The sink at the tcx ingress of the sink's veth (tc mode of the router).
#[classifier]
pub fn bench_sink_tc(_ctx: TcContext) -> i32 {
    count_sink_frame();
    TC_ACT_SHOT as i32
}

/// Bytes of TCP payload a data packet of the connections bench carries
/// (the generator's writes of it are laid out for 64).
const CONN_PAYLOAD: usize = 64;
/// Offsets of the TCP source port, sequence number, acknowledgment number
/// and checksum.
const TCP_SPORT: usize = 14 + 20;
const TCP_DPORT: usize = TCP_SPORT + 2;
const TCP_SEQ: usize = TCP_SPORT + 4;
const TCP_ACK: usize = TCP_SPORT + 8;
const TCP_CHECK: usize = TCP_SPORT + 16;

#[map]
static CONN_RUN: Array<ConnRun> = Array::with_max_entries(1, 0);

/// Index 0: the server's veth, where the generator redirects the server's
/// packets (the device map holds it across namespaces).
#[map]
static CONN_SERVER_PORT: DevMap = DevMap::with_max_entries(1, 0);

/// The server's address in the connections bench (set by the loader):
/// the sinks count frames to it apart from the others.
#[unsafe(no_mangle)]
static CONN_SERVER: [u8; 4] = [0; 4];

/// Adds `c * step` (wrapping) to the big-endian `N`-byte field at `at` of
/// the headers `h`, keeping the TCP checksum right.
#[inline(always)]
fn conn_shift<const N: usize>(h: &mut [u8; 56], at: usize, c: u32, step: u32) {
    let mut old = [0u8; 4];
    for k in 0..N {
        old[4 - N + k] = h[at + k];
    }
    let new = u32::from_be_bytes(old).wrapping_add(c.wrapping_mul(step)).to_be_bytes();
    let check = u16::from_ne_bytes([h[TCP_CHECK], h[TCP_CHECK + 1]]);
    let check = csum::replace32(check, old, new).to_ne_bytes();
    for k in 0..N {
        h[at + k] = new[4 - N + k];
    }
    h[TCP_CHECK] = check[0];
    h[TCP_CHECK + 1] = check[1];
}

/// Writes `value` at `at`, an address aligned for `T`, in a frame.
///
/// # Safety
/// `at..at + size_of::<T>()` is within the frame (checked against its end)
/// and aligned for `T`.
#[inline(always)]
unsafe fn put<T>(at: usize, value: T) {
    // SAFETY: the caller's.
    unsafe { core::ptr::write(at as *mut T, value) };
}

/// The connections bench's generator, run in live-frames mode on the
/// client's veth with frames of headers + CONN_PAYLOAD bytes: writes the
/// packet of the next connection of the run in [`CONN_RUN`] (headers, and
/// a zero payload or none) and sends it, the client's with XDP_TX, the
/// server's redirected out of the server's veth; XDP_DROP (nothing sent)
/// at a barrier not yet reached and once the run is done.
#[xdp]
pub fn bench_conn_generator(ctx: XdpContext) -> u32 {
    let Some(run) = CONN_RUN.get_ptr_mut(0) else { return xdp_action::XDP_ABORTED };
    // SAFETY: the map's one slot; only this program and the sinks write
    // it, one at a time on the bench's one CPU.
    let run = unsafe { &mut *run };
    let p = run.phase as usize;
    if p >= run.phase_count as usize || p >= CONN_MAX_PHASES {
        return xdp_action::XDP_DROP;
    }
    let c = run.next;
    if c == 0 && (run.sunk[0] != run.sent[0] || run.sunk[1] != run.sent[1]) {
        run.waits += 1;
        return xdp_action::XDP_DROP;
    }
    let phase = &run.phases[p];
    if phase.data == 0 {
        // SAFETY: the context of this program; shrinking the frame by the
        // payload it was made with.
        if unsafe { bpf_xdp_adjust_tail(ctx.ctx, -(CONN_PAYLOAD as i32)) } != 0 {
            return xdp_action::XDP_ABORTED;
        }
    }
    let start = ctx.data();
    if start + CONN_HEADERS > ctx.data_end() {
        return xdp_action::XDP_ABORTED;
    }
    let mut words = phase.headers;
    // SAFETY: 56 bytes either way, u8 aligned anywhere.
    let h = unsafe { &mut *(&mut words as *mut [u64; 7] as *mut [u8; 56]) };
    conn_shift::<2>(h, TCP_SPORT, c, phase.sport_step);
    conn_shift::<2>(h, TCP_DPORT, c, phase.dport_step);
    conn_shift::<4>(h, TCP_SEQ, c, phase.seq_step);
    conn_shift::<4>(h, TCP_ACK, c, phase.ack_step);
    let (tail4, tail2) = (u32::from_ne_bytes([h[48], h[49], h[50], h[51]]), u16::from_ne_bytes([h[52], h[53]]));
    // The 54 header bytes: six words, then 4 and 2 bytes (word writes: a
    // byte copy, which unaligned writes compile to, costs more than the
    // rest of the program).
    // SAFETY: within the frame (CONN_HEADERS checked above), each write
    // aligned: a live frame starts XDP_PACKET_HEADROOM (256) bytes into
    // its page, a test run's as far into its buffer (the verifier allows
    // no alignment check on a packet pointer; x86 would take a misaligned
    // write anyway).
    unsafe {
        for (k, w) in words.iter().take(6).enumerate() {
            put(start + 8 * k, *w);
        }
        put(start + 48, tail4);
        put(start + 52, tail2);
    }
    if phase.data != 0 {
        if start + CONN_HEADERS + CONN_PAYLOAD > ctx.data_end() {
            return xdp_action::XDP_ABORTED;
        }
        // Zeros, as the checksum counts them (recycled pages keep what the
        // last frame's receivers wrote): bytes 54 to 118.
        // SAFETY: within the frame (checked just above), aligned.
        unsafe {
            put(start + 54, 0u16);
            for k in 0..7 {
                put(start + 56 + 8 * k, 0u64);
            }
            put(start + 112, 0u32);
            put(start + 116, 0u16);
        }
    }
    if c == 0 {
        // SAFETY: a helper without arguments.
        let now = unsafe { bpf_ktime_get_ns() };
        run.phase_ns[p] = now;
        if p == 0 {
            run.start_ns = now;
        }
    }
    let from_client = phase.from_client != 0;
    run.sent[usize::from(!from_client)] += 1;
    if c + 1 >= run.count {
        run.phase += 1;
        run.next = 0;
    } else {
        run.next = c + 1;
    }
    if from_client {
        xdp_action::XDP_TX
    } else {
        CONN_SERVER_PORT.redirect(0, 0).unwrap_or(xdp_action::XDP_ABORTED)
    }
}

/// Counts a frame of `data..end` into [`ConnRun::sunk`] by what it is,
/// and marks the run's end when it was the last.
#[inline(always)]
fn count_conn_frame(data: usize, end: usize) {
    let slot = if data + 14 + 20 > end {
        2
    } else {
        // SAFETY: 34 bytes are within the frame (checked above).
        let (ethertype, proto, dst) = unsafe {
            (
                core::ptr::read_unaligned((data + 12) as *const [u8; 2]),
                core::ptr::read_unaligned((data + 14 + 9) as *const u8),
                core::ptr::read_unaligned((data + 14 + 16) as *const [u8; 4]),
            )
        };
        // SAFETY: a loader-set constant.
        let server = unsafe { core::ptr::read_volatile(&CONN_SERVER) };
        if ethertype != [0x08, 0x00] || proto != 6 {
            2
        } else if dst == server {
            0
        } else {
            1
        }
    };
    let Some(run) = CONN_RUN.get_ptr_mut(0) else { return };
    // SAFETY: see `bench_conn_generator`.
    let run = unsafe { &mut *run };
    run.sunk[slot] += 1;
    if run.phase >= run.phase_count && run.end_ns == 0 && run.sunk[0] == run.sent[0] && run.sunk[1] == run.sent[1] {
        // SAFETY: a helper without arguments.
        run.end_ns = unsafe { bpf_ktime_get_ns() };
    }
}

/// The connections bench's sink on both instances' veths: counts and drops.
#[xdp]
pub fn bench_conn_sink(ctx: XdpContext) -> u32 {
    count_conn_frame(ctx.data(), ctx.data_end());
    xdp_action::XDP_DROP
}

/// The same at the tcx ingress of those veths (the router's tc mode).
#[classifier]
pub fn bench_conn_sink_tc(ctx: TcContext) -> i32 {
    count_conn_frame(ctx.data(), ctx.data_end());
    TC_ACT_SHOT as i32
}

/// The maps of the `op_*` programs: each holds the one entry its program
/// looks up (key 1, or the /64 prefix [1, 0]), written by the micro
/// benchmark.
#[map]
static OP_ARRAY: Array<u64> = Array::with_max_entries(2, 0);
#[map]
static OP_HASH_4: HashMap<u32, u64> = HashMap::with_max_entries(1024, 0);
#[map]
static OP_HASH_8: HashMap<[u32; 2], u64> = HashMap::with_max_entries(1024, 0);
#[map]
static OP_HASH_16: HashMap<[u32; 4], u64> = HashMap::with_max_entries(1024, 0);
#[map]
static OP_HASH_20: HashMap<[u32; 5], u64> = HashMap::with_max_entries(1024, 0);
#[map]
static OP_LPM_8: LpmTrie<[u32; 2], u64> = LpmTrie::with_max_entries(1024, 1);
#[map]
static OP_PERCPU: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);
/// One port at the key the benchmark writes (the ifindex of the frame's
/// port, as the router's device map is keyed).
#[map]
static OP_DEVMAP: DevMapHash = DevMapHash::with_max_entries(64, 0);

/// The key every `op_*` lookup uses: 1 for a 60-byte frame (read from the
/// context, so the compiler cannot fold the lookup away).
#[inline(always)]
fn op_key(ctx: &XdpContext) -> u32 {
    (ctx.data_end() - ctx.data()) as u32 / 60
}

/// XDP_PASS if the lookup found its entry, else XDP_DROP (the benchmark
/// checks the verdict).
#[inline(always)]
fn found(hit: bool) -> u32 {
    if hit { xdp_action::XDP_PASS } else { xdp_action::XDP_DROP }
}

#[xdp]
pub fn op_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[xdp]
pub fn op_array(ctx: XdpContext) -> u32 {
    found(OP_ARRAY.get(op_key(&ctx)).is_some())
}

#[xdp]
pub fn op_hash_4(ctx: XdpContext) -> u32 {
    // SAFETY: the value is not kept.
    found(unsafe { OP_HASH_4.get(&op_key(&ctx)) }.is_some())
}

#[xdp]
pub fn op_hash_8(ctx: XdpContext) -> u32 {
    // SAFETY: the value is not kept.
    found(unsafe { OP_HASH_8.get(&[op_key(&ctx); 2]) }.is_some())
}

#[xdp]
pub fn op_hash_16(ctx: XdpContext) -> u32 {
    // SAFETY: the value is not kept.
    found(unsafe { OP_HASH_16.get(&[op_key(&ctx); 4]) }.is_some())
}

#[xdp]
pub fn op_hash_20(ctx: XdpContext) -> u32 {
    // SAFETY: the value is not kept.
    found(unsafe { OP_HASH_20.get(&[op_key(&ctx); 5]) }.is_some())
}

#[xdp]
pub fn op_lpm_8(ctx: XdpContext) -> u32 {
    found(OP_LPM_8.get(&Key::new(64, [op_key(&ctx), 0])).is_some())
}

/// A per-CPU counter bumped, as each of the router's three per packet.
#[xdp]
pub fn op_percpu_count(ctx: XdpContext) -> u32 {
    match OP_PERCPU.get_ptr_mut(op_key(&ctx)) {
        Some(p) => {
            // SAFETY: a per-CPU slot, written only by this CPU.
            unsafe { *p += 1 };
            xdp_action::XDP_PASS
        }
        None => xdp_action::XDP_DROP,
    }
}

/// The send of a forwarded packet: bpf_redirect_map into a device map
/// keyed by ifindex (XDP_REDIRECT when the port is there; the test run
/// does not transmit).
#[xdp]
pub fn op_redirect(ctx: XdpContext) -> u32 {
    OP_DEVMAP.redirect(ctx.ingress_ifindex() as u32, 0).unwrap_or(xdp_action::XDP_DROP)
}

#[xdp]
pub fn op_clock(ctx: XdpContext) -> u32 {
    // SAFETY: a helper without arguments.
    let now = unsafe { aya_ebpf::helpers::generated::bpf_ktime_get_coarse_ns() };
    found(now != 0 || op_key(&ctx) == 1)
}

/// The tick count the datapath's clock is made from (`vpc_common::clock`):
/// the verifier inlines the helper into a load.
#[xdp]
pub fn op_jiffies(ctx: XdpContext) -> u32 {
    // SAFETY: a helper without arguments.
    let now = unsafe { aya_ebpf::helpers::generated::bpf_jiffies64() };
    found(now != 0 || op_key(&ctx) == 1)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
