//! Traffic generator and sink for `cargo xtask bench` (a separate object,
//! never loaded by the router).
//!
//! `bench_generator` runs under BPF_PROG_TEST_RUN in live-frames mode on the
//! generator's veth and XDP_TXes every frame into the router port. The
//! kernel recycles the frames' pages, which keep whatever bytes the
//! receiver's stack wrote, so the program writes the whole Ethernet, IPv4
//! and UDP header of every frame from [`GEN_HEADERS`]; with a count in
//! [`GEN_CONFIG`] it also draws the destination address from [`GEN_DSTS`] at random.
//! `bench_sink` counts and drops what reaches the far end.
#![no_std]
#![no_main]

#[path = "csum.rs"]
mod csum;

use aya_ebpf::{
    bindings::xdp_action,
    helpers::bpf_get_prandom_u32,
    macros::{map, xdp},
    maps::{Array, PerCpuArray},
    programs::XdpContext,
};

/// Bytes of the headers the generator writes: Ethernet, IPv4 (no options), UDP.
const HEADERS: usize = 14 + 20 + 8;
/// Offset of the IPv4 checksum.
const IP_CHECK: usize = 14 + 10;
/// Offset of the IPv4 destination address.
const IP_DST: usize = 14 + 16;

/// The headers of every generated frame (IPv4 checksum included, UDP
/// checksum 0); set by the loader.
#[unsafe(no_mangle)]
static GEN_HEADERS: [u8; HEADERS] = [0; HEADERS];

/// Index 0: how many entries of [`GEN_DSTS`] to draw destinations from (0:
/// keep the destination of [`GEN_HEADERS`]).
#[map]
static GEN_CONFIG: Array<u32> = Array::with_max_entries(1, 0);

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
    xdp_action::XDP_TX
}

#[xdp]
pub fn bench_sink(_ctx: XdpContext) -> u32 {
    if let Some(p) = SINK_FRAMES.get_ptr_mut(0) {
        // SAFETY: a per-CPU slot, written only by this CPU.
        unsafe { *p += 1 };
    }
    xdp_action::XDP_DROP
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
