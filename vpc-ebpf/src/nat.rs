//! Address and port translation at the internet uplink: 1:1 NAT for public
//! IPs and EIPs, port translation for a NAT gateway's SNAT entries, with
//! incremental checksum fix-ups (IPv4 header, TCP/UDP pseudo-header, ICMP).
use aya_ebpf::bindings::BPF_NOEXIST;
use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use vpc_common::{DropReason, NatInKey, NatInValue, NatOutKey, NatOutValue, SnatTarget};

use crate::{
    clock,
    csum,
    maps::{NAT_IN, NAT_OUT},
    packet::{Covered, Packet, ptr_at},
    ports::PortSearch,
    parse::Flow,
};

/// -EEXIST from a map insert.
const EEXIST: i32 = -17;
/// Public ports tried for a new translation before it counts as exhausted
/// ([`PortSearch`]).
const PORT_TRIES: u32 = 8;

/// Which end of a packet is translated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The source (outbound: private -> public).
    Source,
    /// The destination (inbound: public -> private).
    Destination,
}

/// True for a non-first fragment (no layer-4 header to translate).
#[inline(always)]
pub fn is_later_fragment(ip: &Ipv4Hdr) -> bool {
    u16::from_be_bytes(ip.frags) & 0x1fff != 0
}

/// Rewrites the source or destination address of an IPv4 packet to `addr`
/// and, if given, its port (ICMP echo: identifier) to `port`, fixing every
/// checksum the change touches. Non-first fragments get the address only.
/// Moves the packet (see [`Packet::rewrite`]): take the headers again after.
#[inline(always)]
pub fn rewrite<P: Packet>(pkt: &P, ip: &Ipv4Hdr, side: Side, addr: [u8; 4], port: Option<u16>) -> Result<(), DropReason> {
    // Everything read from the header first: the rewrites move the packet.
    let (old, addr_at) = if side == Side::Source { (ip.src_addr, IP_SRC) } else { (ip.dst_addr, IP_DST) };
    let later_fragment = is_later_fragment(ip);
    let proto = ip.proto as u8;
    // ihl is 5..=15 words (checked by the parser): the offset is bounded.
    let l4 = EthHdr::LEN + ((ip.vihl & 0x0f) as usize) * 4;
    let port_at = l4 + if side == Side::Source { 0 } else { 2 };
    if !later_fragment {
        match proto {
            6 => {
                let check = l4 + 16;
                pkt.rewrite(addr_at, old, addr, check, Covered::L4PseudoHeader)?;
                if let Some(p) = port {
                    let was: *const [u8; 2] = ptr_at(pkt, port_at)?;
                    // SAFETY: within the packet (ptr_at).
                    let was = unsafe { *was };
                    pkt.rewrite(port_at, was, p.to_be_bytes(), check, Covered::L4)?;
                }
            }
            17 => {
                let check = l4 + 6;
                pkt.rewrite(addr_at, old, addr, check, Covered::UdpPseudoHeader)?;
                if let Some(p) = port {
                    let was: *const [u8; 2] = ptr_at(pkt, port_at)?;
                    // SAFETY: within the packet (ptr_at).
                    let was = unsafe { *was };
                    pkt.rewrite(port_at, was, p.to_be_bytes(), check, Covered::Udp)?;
                }
            }
            1 => {
                // ICMP has no pseudo-header: only the echo identifier counts.
                pkt.rewrite(addr_at, old, addr, IP_CHECK, Covered::Ipv4Header)?;
                if let Some(p) = port {
                    let id_at = l4 + 4;
                    let was: *const [u8; 2] = ptr_at(pkt, id_at)?;
                    // SAFETY: within the packet (ptr_at).
                    let was = unsafe { *was };
                    pkt.rewrite(id_at, was, p.to_be_bytes(), l4 + 2, Covered::L4)?;
                }
                return Ok(());
            }
            _ => {}
        }
        // The address is written; the IPv4 header checksum follows it.
        return fix_header_checksum(pkt, old, addr);
    }
    pkt.rewrite(addr_at, old, addr, IP_CHECK, Covered::Ipv4Header)
}

/// Patches the IPv4 header checksum for an address already rewritten.
#[inline(always)]
fn fix_header_checksum<P: Packet>(pkt: &P, old: [u8; 4], new: [u8; 4]) -> Result<(), DropReason> {
    let c: *mut [u8; 2] = ptr_at(pkt, IP_CHECK)?;
    // SAFETY: within the packet (ptr_at); no helper moved it since.
    let c = unsafe { &mut *c };
    *c = csum::replace32(u16::from_ne_bytes(*c), old, new).to_ne_bytes();
    Ok(())
}

/// Offsets in the frame of the IPv4 header checksum and addresses.
const IP_CHECK: usize = EthHdr::LEN + 10;
const IP_SRC: usize = EthHdr::LEN + 12;
const IP_DST: usize = EthHdr::LEN + 16;

/// The port a reply carries as its source: the remote's port, or for ICMP
/// echo the (translated) identifier.
#[inline(always)]
fn remote_port(flow: &Flow, public_port: u16) -> u16 {
    if flow.proto == 1 { public_port } else { flow.dport }
}

/// The public port of an outbound flow from `flow.src` translated behind
/// `target`: the flow's existing translation, or a free port taken for it
/// (tried from a random start; a port is free per remote endpoint).
/// `via`: the side replies come back from (`NAT_VIA_*`).
#[inline(always)]
pub fn snat(flow: &Flow, vpc_id: u32, target: &SnatTarget, via: u8) -> Result<u16, DropReason> {
    let now = clock::now();
    let out_key = NatOutKey {
        vpc_id,
        src: flow.src,
        dst: flow.dst,
        sport: flow.sport.to_be_bytes(),
        dport: flow.dport.to_be_bytes(),
        proto: flow.proto,
        pad: [0; 3],
    };
    if let Some(v) = NAT_OUT.get_ptr_mut(&out_key) {
        // SAFETY: a map value; other CPUs only refresh its timestamp.
        let v = unsafe { &mut *v };
        let port = u16::from_be_bytes(v.public_port);
        if v.public_ip == target.ip {
            v.last_seen_ns = now;
            return Ok(port);
        }
        // The SNAT entry now names another address: the old translation goes.
        let in_key = NatInKey {
            public_ip: v.public_ip,
            remote: flow.dst,
            public_port: v.public_port,
            remote_port: remote_port(flow, port).to_be_bytes(),
            proto: flow.proto,
            pad: [0; 3],
        };
        let _ = NAT_IN.remove(&in_key);
        let _ = NAT_OUT.remove(&out_key);
    }
    let binding = NatInValue { vpc_id, private_ip: flow.src, private_port: flow.sport.to_be_bytes(), via, pad: 0 };
    let search = PortSearch::new(target.port_min, target.port_max, PORT_TRIES);
    for i in 0..PORT_TRIES {
        let port = search.port(i);
        let in_key = NatInKey {
            public_ip: target.ip,
            remote: flow.dst,
            public_port: port.to_be_bytes(),
            remote_port: remote_port(flow, port).to_be_bytes(),
            proto: flow.proto,
            pad: [0; 3],
        };
        match NAT_IN.insert(&in_key, &binding, BPF_NOEXIST as u64) {
            Ok(()) => {
                let v = NatOutValue { last_seen_ns: now, public_ip: target.ip, public_port: port.to_be_bytes(), pad: [0; 2] };
                return match NAT_OUT.insert(&out_key, &v, BPF_NOEXIST as u64) {
                    Ok(()) => Ok(port),
                    Err(e) => {
                        let _ = NAT_IN.remove(&in_key);
                        // Another CPU translated the same flow first: use its port.
                        match (e, NAT_OUT.get_ptr(&out_key)) {
                            // SAFETY: a map value, read whole.
                            (EEXIST, Some(v)) => Ok(u16::from_be_bytes(unsafe { (*v).public_port })),
                            _ => Err(DropReason::NatTableFull),
                        }
                    }
                };
            }
            Err(EEXIST) => continue,
            Err(_) => return Err(DropReason::NatTableFull),
        }
    }
    Err(DropReason::NatPortsExhausted)
}

/// The private flow a packet to a translated address belongs to
/// (refreshing its translation), or `NatNoMapping`: from the internet to
/// an SNAT address, or from the services network to a gateway endpoint's
/// address (`via`, `NAT_VIA_*`: a translation is taken back only from the
/// side it faces).
#[inline(always)]
pub fn unsnat(flow: &Flow, via: u8) -> Result<NatInValue, DropReason> {
    let in_key = NatInKey {
        public_ip: flow.dst,
        remote: flow.src,
        public_port: flow.dport.to_be_bytes(),
        remote_port: flow.sport.to_be_bytes(),
        proto: flow.proto,
        pad: [0; 3],
    };
    // SAFETY: read-only copy of a value written whole.
    let binding = *unsafe { NAT_IN.get(&in_key) }.ok_or(DropReason::NatNoMapping)?;
    if binding.via != via {
        return Err(DropReason::NatNoMapping);
    }
    let out_key = NatOutKey {
        vpc_id: binding.vpc_id,
        src: binding.private_ip,
        dst: flow.src,
        sport: binding.private_port,
        dport: if flow.proto == 1 { binding.private_port } else { flow.sport.to_be_bytes() },
        proto: flow.proto,
        pad: [0; 3],
    };
    let Some(v) = NAT_OUT.get_ptr_mut(&out_key) else {
        // Half of a translation being swept: gone.
        let _ = NAT_IN.remove(&in_key);
        return Err(DropReason::NatNoMapping);
    };
    // SAFETY: a map value; a timestamp store.
    unsafe { (*v).last_seen_ns = clock::now() };
    Ok(binding)
}
