//! XDP datapath of the VPC router: a thin entry point; one concern per module.
#![no_std]
#![no_main]

mod arp;
mod conntrack;
mod csum;
mod flow_cache;
mod internet;
mod log_limit;
mod maps;
mod monitor;
mod nat;
mod parse;
mod policy;
mod route;
mod stats;

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

/// Attached to every router port (the router-side end of each ENI's veth).
/// `inline(always)`: the macro wraps this body in the program's entry
/// function; inlined, a packet saves a BPF-to-BPF call and its return.
#[xdp]
#[inline(always)]
pub fn vpc_router(ctx: XdpContext) -> u32 {
    let ifindex = ctx.ingress_ifindex() as u32;
    let mut flow = parse::Flow::NONE;
    match route::handle(&ctx, ifindex, &mut flow) {
        Ok(action) => action,
        Err(reason) => {
            stats::drop(ifindex, reason);
            monitor::drop(ifindex, reason, &flow);
            xdp_action::XDP_DROP
        }
    }
}

/// Attached to the instance end of each ENI veth. It passes every frame to
/// the instance's stack; its presence is what makes the veth accept frames
/// the router redirects (or XDP_TXes) into its peer.
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
