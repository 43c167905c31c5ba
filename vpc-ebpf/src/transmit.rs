//! Last stage, transmit: decrement the TTL, write the MACs of the egress
//! port, send. A packet larger than the egress MTU with DF set is answered
//! with ICMP fragmentation needed instead.
use aya_log_ebpf::warn;
use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use vpc_common::{Action, DropReason, Egress};

use crate::{
    csum, icmp, log_limit,
    packet::{Packet, frame_macs, value_macs, write_frame_macs},
    stats,
};

/// An IPv4 packet of at most this many bytes fits every link (RFC 791's
/// minimum MTU): only longer ones are checked against the egress MTU.
const MIN_MTU: u64 = 68;
/// IPv4 "don't fragment" in the flags and fragment offset word.
const IP_DF: u16 = 0x4000;

/// Decrements the TTL, writes the MACs of `egress` and sends the packet
/// out of its port, counting `action`.
#[inline(always)]
pub fn send<P: Packet>(
    pkt: &P,
    ifindex: u32,
    eth: &mut EthHdr,
    ip: &mut Ipv4Hdr,
    egress: &Egress,
    len: u64,
    action: Action,
) -> Result<u32, DropReason> {
    if len > EthHdr::LEN as u64 + MIN_MTU {
        if let Some(mtu) = pkt.exceeds_mtu(egress.ifindex) {
            if u16::from_be_bytes(ip.frags) & IP_DF != 0 {
                return icmp::fragmentation_needed(pkt, ifindex, mtu);
            }
            // The router does not fragment (no XDP program can): the
            // sender learns nothing; counted.
            return Err(DropReason::FragmentationNeeded);
        }
    }
    if keep_headers() {
        // Benchmarks: rewrite, then put back what came in (the verifier
        // drops this branch for a router).
        let came_in = (frame_macs(eth), ip.ttl, ip.check);
        rewrite(eth, ip, egress);
        write_frame_macs(eth, came_in.0);
        (ip.ttl, ip.check) = (came_in.1, came_in.2);
    } else {
        rewrite(eth, ip, egress);
    }

    match pkt.redirect(egress.ifindex) {
        Ok(verdict) => {
            stats::action(action);
            stats::tx(egress.ifindex, len);
            Ok(verdict)
        }
        Err(reason) => {
            // Rare: the egress port left the device map (its veth is gone).
            if let Some(suppressed) = log_limit::allow(reason) {
                warn!(
                    pkt,
                    "redirect from port {} to port {} failed, frame dropped ({} similar records suppressed)",
                    ifindex,
                    egress.ifindex,
                    suppressed
                );
            }
            Err(reason)
        }
    }
}

/// Decrements the TTL and writes the MACs of `egress`.
#[inline(always)]
fn rewrite(eth: &mut EthHdr, ip: &mut Ipv4Hdr, egress: &Egress) {
    decrement_ttl(ip);
    write_frame_macs(eth, value_macs(egress));
}

/// Set to 1 only by `Datapath::load_keeping_headers` (benchmarks): a
/// read-only global, so the verifier drops the branch it disables.
#[unsafe(no_mangle)]
static BENCH_KEEP_HEADERS: u8 = 0;

/// True if forwarded frames must leave with the headers they came in with.
#[inline(always)]
fn keep_headers() -> bool {
    // SAFETY: a loader-set constant.
    let keep = unsafe { core::ptr::read_volatile(&BENCH_KEEP_HEADERS) };
    keep != 0
}

/// Decrements the TTL and patches the header checksum incrementally: the
/// TTL and protocol as one 16-bit word and the checksum as another (two
/// loads, two stores; bytewise, LLVM makes each field a load and the
/// checksum two byte stores).
#[inline(always)]
fn decrement_ttl(ip: &mut Ipv4Hdr) {
    // Offsets 8 (TTL, protocol) and 10 (checksum): even (see `read_mac`).
    let w = (ip as *mut Ipv4Hdr).cast::<u16>();
    // SAFETY: both words are within the 20 bytes of `ip`.
    unsafe {
        let old = *w.add(4);
        let [ttl, proto] = old.to_ne_bytes();
        let new = u16::from_ne_bytes([ttl.wrapping_sub(1), proto]);
        *w.add(4) = new;
        *w.add(5) = csum::replace16(*w.add(5), old, new);
    }
}
