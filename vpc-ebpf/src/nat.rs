//! Address and port translation at the internet uplink: 1:1 NAT for public
//! IPs and EIPs, port translation for a NAT gateway's SNAT entries, with
//! incremental checksum fix-ups (IPv4 header, TCP/UDP pseudo-header, ICMP).
use aya_ebpf::{helpers::bpf_get_prandom_u32, helpers::generated::bpf_ktime_get_coarse_ns, programs::XdpContext};
use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use vpc_common::{DropReason, NatInKey, NatInValue, NatOutKey, NatOutValue, SnatTarget};

use crate::{
    csum,
    maps::{NAT_IN, NAT_OUT},
    parse::{Flow, ptr_at},
};

/// BPF_NOEXIST: insert only.
const BPF_NOEXIST: u64 = 1;
/// -EEXIST from a map insert.
const EEXIST: i32 = -17;
/// Public ports tried for a new translation before it counts as exhausted.
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

/// Writes `new` (network order) into two bytes of a header and returns the
/// checksum patched for it.
#[inline(always)]
fn patch16(field: &mut [u8; 2], new: [u8; 2], check: u16) -> u16 {
    let old = u16::from_ne_bytes(*field);
    *field = new;
    csum::replace16(check, old, u16::from_ne_bytes(new))
}

/// Rewrites the source or destination address of an IPv4 packet to `addr`
/// and, if given, its port (ICMP echo: identifier) to `port`, fixing every
/// checksum the change touches. Non-first fragments get the address only.
#[inline(always)]
pub fn rewrite(ctx: &XdpContext, ip: &mut Ipv4Hdr, side: Side, addr: [u8; 4], port: Option<u16>) -> Result<(), DropReason> {
    let old = if side == Side::Source { ip.src_addr } else { ip.dst_addr };
    if !is_later_fragment(ip) {
        // ihl is 5..=15 words (checked by the parser): the offset is bounded.
        let l4 = EthHdr::LEN + ((ip.vihl & 0x0f) as usize) * 4;
        let off = if side == Side::Source { 0 } else { 2 };
        match ip.proto as u8 {
            6 => {
                let h: *mut [u8; 18] = ptr_at(ctx, l4)?;
                // SAFETY: 18 bytes of TCP header are within the frame (ptr_at).
                let h = unsafe { &mut *h };
                let mut check = csum::replace32(u16::from_ne_bytes([h[16], h[17]]), old, addr);
                if let Some(p) = port {
                    let mut field = [h[off], h[off + 1]];
                    check = patch16(&mut field, p.to_be_bytes(), check);
                    h[off] = field[0];
                    h[off + 1] = field[1];
                }
                let c = check.to_ne_bytes();
                h[16] = c[0];
                h[17] = c[1];
            }
            17 => {
                let h: *mut [u8; 8] = ptr_at(ctx, l4)?;
                // SAFETY: 8 bytes of UDP header are within the frame (ptr_at).
                let h = unsafe { &mut *h };
                let mut check = u16::from_ne_bytes([h[6], h[7]]);
                let with_checksum = check != 0;
                check = csum::replace32(check, old, addr);
                if let Some(p) = port {
                    let mut field = [h[off], h[off + 1]];
                    check = patch16(&mut field, p.to_be_bytes(), check);
                    h[off] = field[0];
                    h[off + 1] = field[1];
                }
                if with_checksum {
                    // 0 means "no checksum" in UDP: a computed 0 is sent as 0xffff.
                    let c = if check == 0 { 0xffff } else { check }.to_ne_bytes();
                    h[6] = c[0];
                    h[7] = c[1];
                }
            }
            1 => {
                if let Some(p) = port {
                    let h: *mut [u8; 8] = ptr_at(ctx, l4)?;
                    // SAFETY: 8 bytes of ICMP header are within the frame (ptr_at).
                    let h = unsafe { &mut *h };
                    // The echo identifier; ICMP has no pseudo-header.
                    let mut field = [h[4], h[5]];
                    let check = patch16(&mut field, p.to_be_bytes(), u16::from_ne_bytes([h[2], h[3]]));
                    h[4] = field[0];
                    h[5] = field[1];
                    let c = check.to_ne_bytes();
                    h[2] = c[0];
                    h[3] = c[1];
                }
            }
            _ => {}
        }
    }
    ip.check = csum::replace32(u16::from_ne_bytes(ip.check), old, addr).to_ne_bytes();
    if side == Side::Source {
        ip.src_addr = addr;
    } else {
        ip.dst_addr = addr;
    }
    Ok(())
}

/// The port a reply carries as its source: the remote's port, or for ICMP
/// echo the (translated) identifier.
#[inline(always)]
fn remote_port(flow: &Flow, public_port: u16) -> u16 {
    if flow.proto == 1 { public_port } else { flow.dport }
}

/// The public port of an outbound flow from `flow.src` translated behind
/// `target`: the flow's existing translation, or a free port taken for it
/// (tried from a random start; a port is free per remote endpoint).
#[inline(always)]
pub fn snat(flow: &Flow, vpc_id: u32, target: &SnatTarget) -> Result<u16, DropReason> {
    // SAFETY: a helper with no arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
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
    let span = (target.port_max as u32).saturating_sub(target.port_min as u32) + 1;
    // SAFETY: a helper with no arguments.
    let start = unsafe { bpf_get_prandom_u32() } % span;
    let binding = NatInValue { vpc_id, private_ip: flow.src, private_port: flow.sport.to_be_bytes(), pad: [0; 2] };
    for i in 0..PORT_TRIES {
        let port = target.port_min.wrapping_add(((start + i) % span) as u16);
        let in_key = NatInKey {
            public_ip: target.ip,
            remote: flow.dst,
            public_port: port.to_be_bytes(),
            remote_port: remote_port(flow, port).to_be_bytes(),
            proto: flow.proto,
            pad: [0; 3],
        };
        match NAT_IN.insert(&in_key, &binding, BPF_NOEXIST) {
            Ok(()) => {
                let v = NatOutValue { last_seen_ns: now, public_ip: target.ip, public_port: port.to_be_bytes(), pad: [0; 2] };
                return match NAT_OUT.insert(&out_key, &v, BPF_NOEXIST) {
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

/// The private flow a packet from the internet to an SNAT address belongs
/// to (refreshing its translation), or `NatNoMapping`.
#[inline(always)]
pub fn unsnat(flow: &Flow) -> Result<NatInValue, DropReason> {
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
    unsafe { (*v).last_seen_ns = bpf_ktime_get_coarse_ns() };
    Ok(binding)
}
