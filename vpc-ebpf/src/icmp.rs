//! ICMP errors the router sends like a real one: time exceeded when a TTL
//! runs out (so traceroute shows the hop) and fragmentation needed when a
//! packet with DF set is larger than the egress MTU (so path MTU discovery
//! works). Sent from the gateway address of the vSwitch the packet came
//! from, back out of the port it came in on, rate-limited per CPU.
//! What stays silent (as in the cloud): no route, refused by a security
//! group or network ACL, no such neighbour; and, as RFC 1122 says, errors
//! about ICMP errors, about non-first fragments, and about packets with
//! IPv4 options (this router quotes a plain 20-byte header only).
use aya_ebpf::{helpers::generated::bpf_ktime_get_ns, macros::map, maps::PerCpuArray};
use network_types::eth::EthHdr;
use vpc_common::{Action, DropReason};

use crate::{
    maps,
    packet::{Mac, Packet, headers, ptr_at, read_mac, write_mac},
    parse::{ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST},
    stats,
};

/// Errors each CPU may send per second (Linux's `icmp_msgs_per_sec` default).
pub const PER_SECOND: u64 = 1000;
/// Errors each CPU may send at once after a quiet spell.
pub const BURST: u64 = 50;

/// ICMP destination unreachable.
const DEST_UNREACHABLE: u8 = 3;
/// Code of destination unreachable: fragmentation needed and DF set.
const FRAG_NEEDED: u8 = 4;
/// ICMP time exceeded (code 0: TTL exceeded in transit).
const TIME_EXCEEDED: u8 = 11;
/// Bytes of the new IPv4 and ICMP headers put in front of the quote.
const GROW: u32 = 28;
/// Bytes of the offending packet quoted: its IPv4 header and 8 bytes more
/// (RFC 792), or for TCP its whole 20-byte header: a socket buffer whose
/// TCP checksum is left to offload cannot be cut inside that header.
const QUOTE: usize = 28;
const QUOTE_TCP: usize = 40;

/// Credit one error costs, in ns of elapsed time.
const COST_NS: u64 = 1_000_000_000 / PER_SECOND;

/// Token bucket of one CPU, counted in ns of credit.
#[repr(C)]
pub struct Bucket {
    credit_ns: u64,
    last_ns: u64,
}

/// One bucket per CPU; private to each load (not pinned).
#[map]
static ICMP_BUCKET: PerCpuArray<Bucket> = PerCpuArray::with_max_entries(1, 0);

/// True if this CPU may send an error now (takes a token).
#[inline(always)]
fn allowed() -> bool {
    let Some(b) = ICMP_BUCKET.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: this CPU's slot; programs do not nest on a CPU.
    let b = unsafe { &mut *b };
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let full = BURST * COST_NS;
    let elapsed = if b.last_ns == 0 { full } else { now.wrapping_sub(b.last_ns).min(full) };
    b.credit_ns = (b.credit_ns + elapsed).min(full);
    b.last_ns = now;
    if b.credit_ns < COST_NS {
        return false;
    }
    b.credit_ns -= COST_NS;
    true
}

/// Answers a packet whose TTL ran out with ICMP time exceeded from
/// `gateway` (the ingress vSwitch's gateway address); counts the packet
/// as dropped (`ttl_exceeded`) either way.
#[inline(always)]
pub fn time_exceeded<P: Packet>(pkt: &P, ifindex: u32, gateway: [u8; 4]) -> Result<u32, DropReason> {
    answer(pkt, ifindex, gateway, TIME_EXCEEDED, 0, 0, DropReason::TtlExceeded, Action::IcmpTimeExceededSent)
}

/// Answers a packet larger than `mtu` with DF set with ICMP fragmentation
/// needed (RFC 1191: the next-hop MTU in it); counts it as dropped
/// (`fragmentation_needed`) either way.
#[inline(always)]
pub fn fragmentation_needed<P: Packet>(pkt: &P, ifindex: u32, mtu: u32) -> Result<u32, DropReason> {
    let gateway = match maps::eni_of_port(ifindex) {
        Some(eni) => eni.gateway_ip,
        None => return Err(DropReason::UnknownPort),
    };
    answer(pkt, ifindex, gateway, DEST_UNREACHABLE, FRAG_NEEDED, mtu as u16, DropReason::FragmentationNeeded, Action::IcmpFragNeededSent)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn answer<P: Packet>(
    pkt: &P,
    ifindex: u32,
    gateway: [u8; 4],
    kind: u8,
    code: u8,
    mtu: u16,
    reason: DropReason,
    sent: Action,
) -> Result<u32, DropReason> {
    let (eth, ip) = headers(pkt)?;
    // SAFETY: both within the packet (headers); read before the reshape.
    let (eth, ip) = unsafe { (&*eth, &*ip) };
    if ip.vihl != 0x45 || u16::from_be_bytes(ip.frags) & 0x1fff != 0 || gateway == [0; 4] {
        return Err(reason);
    }
    if ip.proto == 1 {
        // No error about an ICMP error: only about echo.
        let t: *const u8 = ptr_at(pkt, EthHdr::LEN + 20)?;
        // SAFETY: within the packet (ptr_at).
        let t = unsafe { *t };
        if t != ICMP_ECHO_REQUEST && t != ICMP_ECHO_REPLY {
            return Err(reason);
        }
    }
    if !allowed() {
        stats::action(Action::IcmpErrorRateLimited);
        return Err(reason);
    }
    let (to_mac, from_mac) = (read_mac(&eth.src_addr), read_mac(&eth.dst_addr));
    let to_ip = ip.src_addr;
    let header = Header { to_mac, from_mac, from_ip: gateway, to_ip, kind, code, mtu };
    let len = if ip.proto == 6 {
        write::<P, QUOTE_TCP, { EthHdr::LEN + 28 + QUOTE_TCP }>(pkt, &header)?
    } else {
        write::<P, QUOTE, { EthHdr::LEN + 28 + QUOTE }>(pkt, &header)?
    };
    stats::drop(ifindex, reason);
    stats::action(sent);
    stats::tx(ifindex, len);
    Ok(pkt.hairpin())
}

/// What an error says, besides the quote.
struct Header {
    to_mac: Mac,
    from_mac: Mac,
    from_ip: [u8; 4],
    to_ip: [u8; 4],
    kind: u8,
    code: u8,
    mtu: u16,
}

/// Turns the packet into the error frame of `FRAME` bytes quoting its
/// first `Q` bytes from the IPv4 header on; returns the frame's length.
#[inline(always)]
fn write<P: Packet, const Q: usize, const FRAME: usize>(pkt: &P, h: &Header) -> Result<u64, DropReason> {
    pkt.reshape((EthHdr::LEN + Q) as u32, GROW)?;
    let frame: *mut [u8; FRAME] = ptr_at(pkt, 0)?;
    // SAFETY: FRAME bytes are within the packet (ptr_at); the two MACs are
    // its first 12 bytes.
    let f = unsafe {
        write_mac(&mut *(frame as *mut [u8; 6]), h.to_mac);
        write_mac(&mut *((frame as *mut u8).add(6) as *mut [u8; 6]), h.from_mac);
        &mut *frame
    };
    f[12] = 0x08;
    f[13] = 0x00;
    let total = (20 + 8 + Q) as u16;
    let (g, t) = (h.from_ip, h.to_ip);
    let ipb: [u8; 20] = [
        0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 64, 1, 0, 0, g[0], g[1], g[2], g[3], t[0], t[1], t[2], t[3],
    ];
    let mut i = 0;
    while i < 20 {
        f[EthHdr::LEN + i] = ipb[i];
        i += 1;
    }
    let c = checksum(&f[EthHdr::LEN..EthHdr::LEN + 20]);
    f[EthHdr::LEN + 10] = c[0];
    f[EthHdr::LEN + 11] = c[1];
    let o = EthHdr::LEN + 20;
    let icmpb: [u8; 8] = [h.kind, h.code, 0, 0, 0, 0, (h.mtu >> 8) as u8, h.mtu as u8];
    let mut i = 0;
    while i < 8 {
        f[o + i] = icmpb[i];
        i += 1;
    }
    let c = checksum(&f[o..FRAME]);
    f[o + 2] = c[0];
    f[o + 3] = c[1];
    Ok(FRAME as u64)
}

/// The Internet checksum of `b` (an even number of bytes), as stored.
#[inline(always)]
fn checksum(b: &[u8]) -> [u8; 2] {
    let mut sum: u32 = 0;
    let mut i = 0;
    while i + 1 < b.len() {
        sum += u32::from(u16::from_ne_bytes([b[i], b[i + 1]]));
        i += 2;
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    (!(sum as u16)).to_ne_bytes()
}
