//! IPv4 fragments: a later fragment carries no layer-4 header, so it
//! follows its datagram's first fragment. When the pipeline forwards a
//! first fragment, its ports (ICMP: type and identifier) are remembered
//! under {port, addresses, protocol, identification}; a later fragment of
//! the datagram takes them and is judged as a packet of that flow (route,
//! network ACLs, the connection it belongs to). One whose first fragment
//! was not forwarded, or is forgotten, is dropped (`fragment_without_first`).
use network_types::ip::Ipv4Hdr;
use vpc_common::{DropReason, FragmentFlow, FragmentKey, FRAGMENT_TIMEOUT_NS};

use crate::{clock, maps::FRAGMENTS, parse::Flow};

/// IPv4 flags and offset: more fragments.
const MORE_FRAGMENTS: u16 = 0x2000;
/// IPv4 flags and offset: the offset.
const OFFSET: u16 = 0x1fff;

#[inline(always)]
fn key(ifindex: u32, ip: &Ipv4Hdr) -> FragmentKey {
    FragmentKey { ifindex, src: ip.src_addr, dst: ip.dst_addr, id: ip.id, proto: ip.proto as u8, pad: 0 }
}

/// For a later fragment (offset not 0) received on `ifindex`: fills
/// `flow`'s ports (and ICMP type) from its first fragment, or refuses it.
/// Any other packet passes unchanged.
#[inline(always)]
pub fn follow(ifindex: u32, ip: &Ipv4Hdr, flow: &mut Flow) -> Result<(), DropReason> {
    if u16::from_be_bytes(ip.frags) & OFFSET == 0 {
        return Ok(());
    }
    // SAFETY: read-only copy of a map value.
    let Some(first) = (unsafe { FRAGMENTS.get(&key(ifindex, ip)) }).copied() else {
        return Err(DropReason::FragmentWithoutFirst);
    };
    if clock::now().wrapping_sub(first.seen_ns) >= FRAGMENT_TIMEOUT_NS {
        return Err(DropReason::FragmentWithoutFirst);
    }
    flow.sport = first.sport;
    flow.dport = first.dport;
    flow.flags = first.icmp_type;
    Ok(())
}

/// The ports `flow`'s packet carries (ICMP: its identifier where a port
/// is), packed for [`remember_carried`]: taken before a stage translates
/// the flow (load balancing, PrivateLink), since a later fragment follows
/// its first fragment as it arrived, not as it left.
#[inline(always)]
pub fn carried(flow: &Flow) -> u32 {
    u32::from(flow.sport) << 16 | u32::from(flow.dport)
}

/// Remembers the flow of a first fragment (more fragments set, offset 0)
/// received on `ifindex`, once the pipeline decided to forward it, with
/// the ports it came with (`flow` untranslated).
#[inline(always)]
pub fn remember(ifindex: u32, ip: &Ipv4Hdr, flow: &Flow) {
    remember_carried(ifindex, ip, carried(flow), flow);
}

/// [`remember`] with the ports the packet came with, taken by [`carried`]
/// before `flow` was translated (its protocol and ICMP type never are).
#[inline(always)]
pub fn remember_carried(ifindex: u32, ip: &Ipv4Hdr, carried: u32, flow: &Flow) {
    if u16::from_be_bytes(ip.frags) & (MORE_FRAGMENTS | OFFSET) != MORE_FRAGMENTS {
        return;
    }
    let first = FragmentFlow {
        seen_ns: clock::now(),
        sport: (carried >> 16) as u16,
        dport: carried as u16,
        icmp_type: if flow.proto == 1 { flow.flags } else { 0 },
        pad: [0; 3],
    };
    let _ = FRAGMENTS.insert(&key(ifindex, ip), &first, 0);
}
