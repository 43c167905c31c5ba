//! The datapath of the VPC router: thin entry points over one pipeline
//! ([`pipeline`]), one concern per module in the order packets flow:
//! parse, flow_cache, eni, fragment, lb, route, policy, conntrack, edge (with nat),
//! transmit (with icmp); arp beside them; packet, stats, monitor, maps,
//! csum, clock and log_limit underneath.
#![no_std]
#![no_main]
// `core::intrinsics::atomic_xadd`: the counters of `conntrack::quota`.
#![allow(internal_features)]
#![feature(core_intrinsics)]
// `asm!` on BPF: loads of the socket buffer's packet pointers (`packet`).
#![feature(asm_experimental_arch)]

mod arp;
mod clock;
mod conntrack;
mod csum;
mod edge;
mod eni;
mod flow_cache;
mod fragment;
mod icmp;
mod lb;
mod log_limit;
mod maps;
mod monitor;
mod nat;
mod packet;
mod parse;
mod pipeline;
mod policy;
mod ports;
mod privatelink;
mod route;
mod stats;
mod transmit;

use aya_ebpf::{
    bindings::xdp_action,
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};

use crate::{packet::Packet, parse::Flow};

/// XDP mode: attached to every router port (the router-side end of each
/// ENI's veth). `inline(always)`: the macro wraps this body in the
/// program's entry function; inlined, a packet saves a BPF-to-BPF call.
#[xdp]
#[inline(always)]
pub fn vpc_router(ctx: XdpContext) -> u32 {
    route(&ctx)
}

/// tc mode: attached to the tcx ingress of every router port. Socket
/// buffers keep their offloads: an instance's TCP aggregate (up to 64 KiB)
/// is judged once for all its segments, which share every header field
/// the pipeline reads, and checksums left to offload stay so.
#[classifier]
#[inline(always)]
pub fn vpc_router_tc(ctx: TcContext) -> i32 {
    // The headers the pipeline reads must be in the linear part (they
    // are for what a local stack sends; pull them if not).
    if ctx.data() + HEADERS > ctx.data_end() && ctx.len() as usize > ctx.data_end() - ctx.data() {
        let _ = ctx.pull_data(HEADERS.min(ctx.len() as usize) as u32);
    }
    route(&ctx) as i32
}

/// Ethernet, IPv4 with the longest options, and a TCP header with its flags.
const HEADERS: usize = 14 + 60 + 20;

#[inline(always)]
fn route<P: Packet>(ctx: &P) -> u32 {
    let ifindex = ctx.ifindex();
    let mut slot = core::mem::MaybeUninit::<Flow>::uninit();
    match pipeline::run(ctx, ifindex, &mut slot) {
        Ok(verdict) => verdict,
        Err(reason) => {
            stats::drop(ifindex, reason);
            // SAFETY: `run` writes the flow before it returns an error.
            let flow = unsafe { slot.assume_init_ref() };
            monitor::drop(ifindex, reason, flow);
            P::DROP
        }
    }
}

/// Attached to the instance end of each ENI veth in XDP mode. It passes
/// every frame to the instance's stack; its presence is what makes the veth
/// accept frames the router redirects (or XDP_TXes) into its peer.
#[xdp]
pub fn vpc_instance_rx(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
