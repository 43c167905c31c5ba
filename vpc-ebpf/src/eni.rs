//! Stage 3, ENI: what a router port's ENI admits (VPC-4 anti-spoofing, the
//! router's MAC, no martian addresses).
use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use vpc_common::{DropReason, Eni, ENI_FLAG_SOURCE_DEST_CHECK};

use crate::packet::{frame_macs, same_mac, same_macs, value_macs};

/// Checks a frame from `eni`: its source MAC is the ENI's, it is addressed
/// to the router, and its source IP is the ENI's unless the instance forwards
/// for others (`SourceDestCheck` off).
#[inline(always)]
pub fn admit(eth: &EthHdr, ip: &Ipv4Hdr, eni: &Eni) -> Result<(), DropReason> {
    // Both MACs at once (`HeaderMacs`); which one is wrong only if either is.
    if !same_macs(frame_macs(eth), value_macs(eni)) {
        if !same_mac(&eth.src_addr, &eni.mac) {
            return Err(DropReason::SpoofedMac);
        }
        return Err(DropReason::NotForRouter);
    }
    if eni.flags & ENI_FLAG_SOURCE_DEST_CHECK != 0 && ip.src_addr != eni.ip {
        return Err(DropReason::SpoofedIp);
    }
    if is_martian(ip.dst_addr) || is_martian(ip.src_addr) {
        return Err(DropReason::Martian);
    }
    Ok(())
}

/// Addresses a VPC router never forwards: 0/8, 127/8, multicast and the
/// reserved block (224/3, which includes 255.255.255.255).
#[inline(always)]
pub fn is_martian(a: [u8; 4]) -> bool {
    a[0] == 0 || a[0] == 127 || a[0] >= 224
}
