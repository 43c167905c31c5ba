//! Bounds-checked access to packet headers.
use core::mem;

use aya_ebpf::programs::XdpContext;
use network_types::{arp::ArpHdr, eth::EthHdr, ip::Ipv4Hdr};
use vpc_common::DropReason;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;

/// Returns a pointer to a `T` at `offset`, or `ParseError` if the frame is
/// too short. The check is the one the verifier needs before any access.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Result<*mut T, DropReason> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + mem::size_of::<T>() > end {
        return Err(DropReason::ParseError);
    }
    Ok((start + offset) as *mut T)
}

/// The layer-3 protocol of a frame, with a pointer to its header.
pub enum L3 {
    Ipv4(*mut Ipv4Hdr),
    Arp(*mut ArpHdr),
}

/// Parses Ethernet, then IPv4 or ARP. IPv6 and other ether types are refused
/// with their own drop reason.
#[inline(always)]
pub fn parse(ctx: &XdpContext) -> Result<(*mut EthHdr, L3), DropReason> {
    let eth: *mut EthHdr = ptr_at(ctx, 0)?;
    // SAFETY: `eth` is within the frame (checked by ptr_at).
    let ether_type = u16::from_be(unsafe { (*eth).ether_type });
    match ether_type {
        ETH_P_IP => {
            let ip: *mut Ipv4Hdr = ptr_at(ctx, EthHdr::LEN)?;
            // SAFETY: `ip` is within the frame (checked by ptr_at).
            let vihl = unsafe { (*ip).vihl };
            if vihl >> 4 != 4 || vihl & 0x0f < 5 {
                return Err(DropReason::ParseError);
            }
            Ok((eth, L3::Ipv4(ip)))
        }
        ETH_P_ARP => Ok((eth, L3::Arp(ptr_at(ctx, EthHdr::LEN)?))),
        ETH_P_IPV6 => Err(DropReason::Ipv6),
        _ => Err(DropReason::UnsupportedEtherType),
    }
}
