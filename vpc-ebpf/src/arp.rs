//! ARP: the router answers for the vSwitch's addresses (proxy ARP, as a cloud
//! vSwitch does), so every instance sends all its traffic to the gateway MAC.
use network_types::{arp::ArpHdr, eth::EthHdr};
use vpc_common::{DropReason, Eni};

use crate::packet::{Packet, same_mac};

const ARPHRD_ETHER: u16 = 1;
const ARPOP_REQUEST: u16 = 1;
const ARPOP_REPLY: u16 = 2;

/// Answers an ARP request from `eni` for an address of its vSwitch (other
/// than the sender's own) by rewriting the frame into the reply, sent back
/// out of the port it came in on.
#[inline(always)]
pub fn reply<P: Packet>(pkt: &P, eth: *mut EthHdr, arp: *mut ArpHdr, eni: &Eni) -> Result<u32, DropReason> {
    // SAFETY: both pointers were bounds-checked by the parser.
    let (eth, arp) = unsafe { (&mut *eth, &mut *arp) };
    if u16::from_be_bytes(arp.htype) != ARPHRD_ETHER
        || u16::from_ne_bytes(arp.ptype) != network_types::eth::EtherType::Ipv4 as u16
        || arp.hlen != 6
        || arp.plen != 4
    {
        return Err(DropReason::ParseError);
    }
    if !same_mac(&arp.sha, &eni.mac) || !same_mac(&eth.src_addr, &eni.mac) {
        return Err(DropReason::SpoofedMac);
    }
    if arp.spa == [0; 4] {
        // An ARP probe (RFC 5227, sender 0.0.0.0): the instance checks its
        // address is free; nobody else holds it, nothing to answer.
        return Err(DropReason::ArpIgnored);
    }
    if arp.spa != eni.ip {
        return Err(DropReason::SpoofedIp);
    }
    if u16::from_be_bytes(arp.oper) != ARPOP_REQUEST {
        return Err(DropReason::ArpIgnored);
    }
    let target = u32::from_ne_bytes(arp.tpa);
    let net = u32::from_ne_bytes(eni.vswitch_addr);
    let mask = u32::from_ne_bytes(eni.vswitch_mask);
    if target & mask != net || arp.tpa == eni.ip {
        return Err(DropReason::ArpIgnored);
    }
    eth.dst_addr = eni.mac;
    eth.src_addr = eni.router_mac;
    arp.oper = ARPOP_REPLY.to_be_bytes();
    arp.tha = eni.mac;
    arp.tpa = eni.ip;
    arp.sha = eni.router_mac;
    arp.spa = u32::to_ne_bytes(target);
    Ok(pkt.hairpin())
}
