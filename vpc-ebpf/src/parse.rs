//! Stage 1, parse: Ethernet, then ARP or IPv4, then the flow (addresses,
//! ports, flags), once per packet; every later stage reads what this one
//! found.
use core::mem::{MaybeUninit, align_of, size_of};

use network_types::{
    arp::ArpHdr,
    eth::{EthHdr, EtherType},
    ip::{IpProto, Ipv4Hdr},
};
use vpc_common::DropReason;

use crate::packet::{Packet, ptr_at, read_addr, read_be16};

/// EtherType values as the header holds them (network order).
const ETH_IPV4: u16 = EtherType::Ipv4 as u16;
const ETH_ARP: u16 = EtherType::Arp as u16;
const ETH_IPV6: u16 = EtherType::Ipv6 as u16;
/// IP protocol numbers.
const TCP: u8 = IpProto::Tcp as u8;
const UDP: u8 = IpProto::Udp as u8;
const ICMP: u8 = IpProto::Icmp as u8;

/// The layer-3 protocol of a frame, with a pointer to its header.
pub enum L3 {
    Ipv4(*mut Ipv4Hdr),
    Arp(*mut ArpHdr),
}

/// Parses Ethernet, then IPv4 or ARP. IPv6 and other ether types are refused
/// with their own drop reason.
#[inline(always)]
pub fn parse<P: Packet>(ctx: &P) -> Result<(*mut EthHdr, L3), DropReason> {
    let eth: *mut EthHdr = ptr_at(ctx, 0)?;
    // SAFETY: `eth` is within the frame (checked by ptr_at).
    let ether_type = unsafe { (*eth).ether_type };
    match ether_type {
        ETH_IPV4 => {
            let ip: *mut Ipv4Hdr = ptr_at(ctx, EthHdr::LEN)?;
            // SAFETY: `ip` is within the frame (checked by ptr_at).
            let vihl = unsafe { (*ip).vihl };
            if vihl >> 4 != 4 || vihl & 0x0f < 5 {
                return Err(DropReason::ParseError);
            }
            // SAFETY: as above.
            check_ipv4(ctx, unsafe { &*ip })?;
            Ok((eth, L3::Ipv4(ip)))
        }
        ETH_ARP => Ok((eth, L3::Arp(ptr_at(ctx, EthHdr::LEN)?))),
        ETH_IPV6 => Err(DropReason::Ipv6),
        _ => Err(DropReason::UnsupportedEtherType),
    }
}

/// Checks what the router relies on of an IPv4 header before forwarding
/// it: its total length covers the header and fits in the packet (an
/// aggregate's covers all its segments), and its checksum is right (over
/// the 20 bytes of a header without options; one with options is checked
/// for its lengths only).
#[inline(always)]
fn check_ipv4<P: Packet>(ctx: &P, ip: &Ipv4Hdr) -> Result<(), DropReason> {
    let total = u16::from_be_bytes(ip.tot_len) as u64;
    let header = ((ip.vihl & 0x0f) as u64) * 4;
    if total < header || total + EthHdr::LEN as u64 > ctx.wire_len() {
        return Err(DropReason::BadIpv4Header);
    }
    if ip.vihl == 0x45 {
        // The header starts 2 bytes past a 4-byte boundary of the frame
        // (after the 14-byte Ethernet header): its first and last 16-bit
        // words, and the four 32-bit words between them at aligned
        // addresses, summed in 64 bits and folded to 16 (a ones'
        // complement sum is the same over words of any width): six loads
        // instead of ten.
        let p = (ip as *const Ipv4Hdr).cast::<u16>();
        // SAFETY: the 20 bytes of `ip`, within the packet (checked by the
        // caller); the 32-bit words at offsets 2, 6, 10 and 14 of the
        // header are 4-byte aligned when the frame is (XDP frames and
        // the socket buffers the router ports receive are), and a BPF
        // packet load needs no alignment on this architecture anyway (the
        // verifier checks it only under strict alignment).
        let mut sum: u64 = unsafe {
            let w = p.add(1).cast::<u32>();
            u64::from(*p) + u64::from(*p.add(9)) + u64::from(*w) + u64::from(*w.add(1)) + u64::from(*w.add(2)) + u64::from(*w.add(3))
        };
        sum = (sum & 0xffff_ffff) + (sum >> 32);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        if sum != 0xffff {
            return Err(DropReason::BadIpv4Header);
        }
    }
    Ok(())
}

/// TCP flags the connection tracker reads.
pub const TCP_FIN: u8 = 0x01;
/// TCP SYN.
pub const TCP_SYN: u8 = 0x02;
/// TCP RST.
pub const TCP_RST: u8 = 0x04;
/// TCP ACK.
pub const TCP_ACK: u8 = 0x10;
/// ICMP echo request.
pub const ICMP_ECHO_REQUEST: u8 = 8;
/// ICMP echo reply.
pub const ICMP_ECHO_REPLY: u8 = 0;

/// What the policies and the connection tracker need of a packet.
#[derive(Clone, Copy)]
pub struct Flow {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    /// Source port (ICMP echo: the identifier).
    pub sport: u16,
    /// Destination port (ICMP echo: the identifier; other ICMP: 0).
    pub dport: u16,
    /// TCP flags; ICMP type for ICMP.
    pub flags: u8,
    /// Router port the packet came in on, once the pipeline recorded it
    /// (else 0; for `crate::monitor`).
    pub ingress: u32,
    /// Router port the route chose, once known (else 0; for `crate::monitor`).
    pub egress: u32,
}

impl Flow {
    /// No flow (all zeros), written in `slot` word by word (volatile
    /// stores LLVM cannot merge): a zeroed `Flow` assigned whole to a flow
    /// whose address the stages that are not inlined take is a call of the
    /// 24-byte memset, a byte loop, on every packet, the flow cache's hits
    /// too.
    #[inline(always)]
    pub fn zeroed_in(slot: &mut MaybeUninit<Flow>) -> &mut Flow {
        const WORDS: usize = size_of::<Flow>() / 4;
        const _: () = assert!(size_of::<Flow>() % 4 == 0 && align_of::<Flow>() >= 4);
        let p = slot.as_mut_ptr() as *mut u32;
        let mut i = 0;
        while i < WORDS {
            // SAFETY: word `i` of `slot` (aligned: see above).
            unsafe { core::ptr::write_volatile(p.add(i), 0) };
            i += 1;
        }
        // SAFETY: every byte written above; zero is a valid value of
        // every field.
        unsafe { slot.assume_init_mut() }
    }
}

/// Reads ports (or the ICMP type and echo identifier) after the IPv4
/// header. A non-first fragment carries no layer-4 header: ports 0.
#[inline(always)]
pub fn flow<P: Packet>(ctx: &P, ip: &Ipv4Hdr) -> Result<Flow, DropReason> {
    // Addresses and ports as 16-bit words: the header sits at an even
    // offset (see `read_addr`), and whole words keep the flow in few
    // registers.
    let mut f = Flow { src: read_addr(&ip.src_addr), dst: read_addr(&ip.dst_addr), proto: ip.proto as u8, sport: 0, dport: 0, flags: 0, ingress: 0, egress: 0 };
    let frag = u16::from_be_bytes(ip.frags) & 0x1fff;
    if frag != 0 {
        return Ok(f);
    }
    // ihl is 5..=15 words (checked by `parse`): the offset is bounded.
    let l4 = EthHdr::LEN + ((ip.vihl & 0x0f) as usize) * 4;
    match f.proto {
        TCP => {
            let ports: *const [[u8; 2]; 7] = ptr_at(ctx, l4)?;
            // SAFETY: 14 bytes of TCP header are within the frame (ptr_at).
            let h = unsafe { &*ports };
            f.sport = read_be16(&h[0]);
            f.dport = read_be16(&h[1]);
            f.flags = h[6][1];
        }
        UDP => {
            let ports: *const [[u8; 2]; 2] = ptr_at(ctx, l4)?;
            // SAFETY: 4 bytes of UDP header are within the frame (ptr_at).
            let h = unsafe { &*ports };
            f.sport = read_be16(&h[0]);
            f.dport = read_be16(&h[1]);
        }
        ICMP => {
            let icmp: *const [u8; 8] = ptr_at(ctx, l4)?;
            // SAFETY: 8 bytes of ICMP header are within the frame (ptr_at).
            let h = unsafe { &*icmp };
            f.flags = h[0];
            if h[0] == ICMP_ECHO_REQUEST || h[0] == ICMP_ECHO_REPLY {
                let id = u16::from_be_bytes([h[4], h[5]]);
                f.sport = id;
                f.dport = id;
            }
        }
        _ => {}
    }
    Ok(f)
}

/// ICMP destination unreachable (fragmentation needed is one of its codes).
pub const ICMP_DEST_UNREACHABLE: u8 = 3;
/// ICMP time exceeded.
pub const ICMP_TIME_EXCEEDED: u8 = 11;
/// ICMP parameter problem.
pub const ICMP_PARAMETER_PROBLEM: u8 = 12;

/// True for the ICMP types that report an error about a packet they quote.
#[inline(always)]
pub fn is_icmp_error(icmp_type: u8) -> bool {
    icmp_type == ICMP_DEST_UNREACHABLE || icmp_type == ICMP_TIME_EXCEEDED || icmp_type == ICMP_PARAMETER_PROBLEM
}

/// The packet an ICMP error is about, as its sender sent it: the
/// connection tracker's view of the quoted header (TCP and UDP ports, an
/// echo's identifier as both).
#[derive(Clone, Copy)]
pub struct Quoted {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

/// Reads the packet quoted by the ICMP error of IPv4 header `ip` (its IPv4
/// header, then at least 8 bytes of its layer 4). `None` if it is cut
/// short, a later fragment, or neither TCP, UDP nor an ICMP echo.
#[inline(always)]
pub fn quoted<P: Packet>(ctx: &P, ip: &Ipv4Hdr) -> Option<Quoted> {
    // Both header lengths are 5..=15 words: every offset is bounded.
    let inner_at = EthHdr::LEN + ((ip.vihl & 0x0f) as usize) * 4 + 8;
    let inner: *const [u8; 20] = ptr_at(ctx, inner_at).ok()?;
    // SAFETY: 20 bytes within the frame (ptr_at).
    let h = unsafe { &*inner };
    let ihl = (h[0] & 0x0f) as usize;
    if h[0] >> 4 != 4 || ihl < 5 || u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0 {
        return None;
    }
    let l4: *const [u8; 8] = ptr_at(ctx, inner_at + ihl * 4).ok()?;
    // SAFETY: 8 bytes within the frame (ptr_at).
    let l4 = unsafe { &*l4 };
    let (sport, dport) = match h[9] {
        TCP | UDP => (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]])),
        ICMP if l4[0] == ICMP_ECHO_REQUEST || l4[0] == ICMP_ECHO_REPLY => {
            let id = u16::from_be_bytes([l4[4], l4[5]]);
            (id, id)
        }
        _ => return None,
    };
    Some(Quoted { src: [h[12], h[13], h[14], h[15]], dst: [h[16], h[17], h[18], h[19]], proto: h[9], sport, dport })
}
