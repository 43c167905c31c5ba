//! The packet as the pipeline sees it, whatever the program type: an XDP
//! frame (XDP mode) or a socket buffer at the tc ingress hook of the router
//! port (tc mode). One pipeline, two thin implementations of what differs:
//! where the bytes are, how a packet leaves, and how a checksum covering a
//! rewritten field is kept right.
//!
//! Why tc mode exists: a socket buffer keeps its segmentation offload (one
//! 64 KiB TCP aggregate is judged and sent as one packet, segmented only if
//! ever needed) and its checksum metadata (an instance's TCP checksum left
//! to offload stays partial until the receiver), where XDP on a veth turns
//! both off and handles every 1,500-byte segment alone.
use core::mem;

use aya_ebpf::{
    EbpfContext,
    bindings::{BPF_F_MARK_MANGLED_0, bpf_adj_room_mode::BPF_ADJ_ROOM_MAC, bpf_check_mtu_ret::BPF_MTU_CHK_RET_FRAG_NEEDED, BPF_F_PSEUDO_HDR, TC_ACT_SHOT, xdp_action},
    helpers::{
        bpf_redirect_peer, bpf_skb_change_tail, bpf_skb_store_bytes, bpf_xdp_adjust_head, bpf_xdp_adjust_tail,
        bpf_xdp_load_bytes, bpf_xdp_store_bytes,
        generated::bpf_check_mtu,
    },
    programs::{TcContext, XdpContext},
};
use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use vpc_common::{DropReason, HeaderMacs};

use crate::{csum, maps::EGRESS_PORTS};

/// Which checksum covers a rewritten field.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Covered {
    /// The IPv4 header checksum.
    Ipv4Header,
    /// A TCP or ICMP checksum over the field itself (a port, an identifier).
    L4,
    /// A TCP checksum over the field as part of the pseudo-header (an address).
    L4PseudoHeader,
    /// A UDP checksum (0: none, left alone) over a port.
    Udp,
    /// A UDP checksum (0: none, left alone) over an address of the pseudo-header.
    UdpPseudoHeader,
}

/// What the pipeline needs of a packet.
pub trait Packet: EbpfContext {
    /// The verdict that drops the packet.
    const DROP: u32;

    /// First byte of the linear part (the Ethernet header).
    fn start(&self) -> usize;
    /// One past the last byte of the linear part.
    fn end(&self) -> usize;
    /// The router port it came in on.
    fn ifindex(&self) -> u32;
    /// Bytes of the whole packet (every segment of an aggregate).
    fn wire_len(&self) -> u64;
    /// Sends the packet out of router port `ifindex`.
    fn redirect(&self, ifindex: u32) -> Result<u32, DropReason>;
    /// Sends the packet back out of the port it came in on.
    fn hairpin(&self) -> u32;
    /// The MTU of router port `ifindex` if the packet's IP length (or, for an
    /// aggregate, each segment's) is larger, else `None`.
    fn exceeds_mtu(&self, ifindex: u32) -> Option<u32>;
    /// Writes `new` (network order, 2 or 4 bytes as `N`) at `offset`,
    /// keeping the checksum at `check` right for the change from `old`. May
    /// move the packet: pointers into it are void afterwards (take them
    /// again with [`headers`]).
    fn rewrite<const N: usize>(&self, offset: usize, old: [u8; N], new: [u8; N], check: usize, covered: Covered) -> Result<(), DropReason>;
    /// Keeps the first `keep` bytes of the packet and makes room for `grow`
    /// bytes after the Ethernet header (what an ICMP error needs: the
    /// offending header quoted behind new IPv4 and ICMP headers). The bytes
    /// before the quote are to be written whole by the caller. Moves the
    /// packet: pointers into it are void afterwards.
    fn reshape(&self, keep: u32, grow: u32) -> Result<(), DropReason>;
}

/// Returns a pointer to a `T` at `offset`, or `ParseError` if the linear part
/// is too short. The check is the one the verifier needs before any access.
#[inline(always)]
pub fn ptr_at<T, P: Packet>(pkt: &P, offset: usize) -> Result<*mut T, DropReason> {
    let start = pkt.start();
    if start + offset + mem::size_of::<T>() > pkt.end() {
        return Err(DropReason::ParseError);
    }
    Ok((start + offset) as *mut T)
}

/// The Ethernet and IPv4 headers of a packet the parser accepted as IPv4,
/// taken again after a rewrite that may have moved it. Raw pointers, not
/// references: a `Result` of references would use a null reference as its
/// error, and the verifier cannot know a packet pointer is never null.
#[inline(always)]
pub fn headers<P: Packet>(pkt: &P) -> Result<(*mut EthHdr, *mut Ipv4Hdr), DropReason> {
    Ok((ptr_at(pkt, 0)?, ptr_at(pkt, EthHdr::LEN)?))
}

/// A MAC address as three 16-bit words, so a copy or a comparison is three
/// loads (and stores): a plain `[u8; 6]` assignment between a map value and
/// the packet may alias, and LLVM makes it a call to a bytewise BPF
/// memmove; an unaligned read is six byte loads and their shifts.
pub type Mac = [u16; 3];

/// Reads a MAC as [`Mac`] words. Every MAC the router reads sits at an even
/// offset: in the Ethernet and ARP headers of a frame (whose start is at
/// least 2-byte aligned, as `parse`'s checksum check relies on too) and in
/// the `repr(C)` map values of `vpc_common` (after 4-byte fields). Unaligned
/// loads are still right where BPF runs them (x86-64, arm64).
#[inline(always)]
pub fn read_mac(m: &[u8; 6]) -> Mac {
    let p = m.as_ptr() as *const u16;
    // SAFETY: the three reads are within the 6 bytes of `m` (see above for
    // their alignment).
    unsafe { [*p, *p.add(1), *p.add(2)] }
}

/// Writes a MAC read by [`read_mac`].
#[inline(always)]
pub fn write_mac(m: &mut [u8; 6], w: Mac) {
    let p = m.as_mut_ptr() as *mut u16;
    // SAFETY: the three writes are within the 6 bytes of `m` (see
    // [`read_mac`] for their alignment).
    unsafe {
        *p = w[0];
        *p.add(1) = w[1];
        *p.add(2) = w[2];
    }
}

/// Reads an IPv4 address of a header as two 16-bit words (at an even
/// offset, as every MAC: see [`read_mac`]): two loads where a `[u8; 4]`
/// copy is four byte loads, their shifts, and a register each, which the
/// parser's flow then spills.
#[inline(always)]
pub fn read_addr(a: &[u8; 4]) -> [u8; 4] {
    let p = a.as_ptr() as *const u16;
    // SAFETY: both reads are within the 4 bytes of `a` (see above for
    // their alignment).
    let (lo, hi) = unsafe { (*p, *p.add(1)) };
    (u32::from(lo) | u32::from(hi) << 16).to_le_bytes()
}

/// Reads a 16-bit big-endian field at an even offset (a port): one load
/// and a byte swap.
#[inline(always)]
pub fn read_be16(b: &[u8; 2]) -> u16 {
    // SAFETY: the read is within the 2 bytes of `b` (even offset, see
    // [`read_addr`]).
    u16::from_be(unsafe { *(b.as_ptr() as *const u16) })
}

/// Both MACs of an Ethernet header, destination then source (its first 12
/// bytes), or a copy of them kept in that order in a map value
/// (`vpc_common::HeaderMacs`: `Egress`, `Eni`, `FlowCacheEntry`): three 32-bit
/// words, so copying or comparing both is three loads (and stores) where
/// two [`Mac`]s take six. The words are 4-byte aligned in the map values
/// and in an XDP frame; in a socket buffer the frame may start at an odd
/// half-word, and the loads are unaligned: right where BPF runs them (see
/// [`read_mac`]).
pub type MacPair = [u32; 3];

/// Reads a [`MacPair`] at `p`. (Plain loads, as for [`Mac`]:
/// `read_unaligned` would be twelve byte loads on BPF.)
///
/// # Safety
/// The 12 bytes at `p` must be readable.
#[inline(always)]
unsafe fn read_mac_pair(p: *const u8) -> MacPair {
    let w = p as *const u32;
    // SAFETY: the caller's (alignment: see [`MacPair`]).
    unsafe { [*w, *w.add(1), *w.add(2)] }
}

/// Writes a [`MacPair`] at `p` (plain stores, as [`read_mac_pair`] loads).
///
/// # Safety
/// The 12 bytes at `p` must be writable and not referred to meanwhile.
#[inline(always)]
unsafe fn write_mac_pair(p: *mut u8, m: MacPair) {
    let w = p as *mut u32;
    // SAFETY: the caller's (alignment: see [`MacPair`]).
    unsafe {
        *w = m[0];
        *w.add(1) = m[1];
        *w.add(2) = m[2];
    }
}

/// The MACs of the frame whose Ethernet header is `eth`.
#[inline(always)]
pub fn frame_macs(eth: &EthHdr) -> MacPair {
    // SAFETY: the first 12 of the header's 14 bytes.
    unsafe { read_mac_pair(eth as *const EthHdr as *const u8) }
}

/// Writes the MACs of the frame whose Ethernet header is `eth`.
#[inline(always)]
pub fn write_frame_macs(eth: &mut EthHdr, m: MacPair) {
    // SAFETY: the first 12 of the header's 14 bytes, exclusively borrowed.
    unsafe { write_mac_pair(eth as *mut EthHdr as *mut u8, m) }
}

/// The MACs map value `v` keeps in header order (`vpc_common::HeaderMacs`):
/// those an `Egress` gives a frame, those an `Eni` admits, those a flow
/// cache entry was decided for.
#[inline(always)]
pub fn value_macs<T: HeaderMacs>(v: &T) -> MacPair {
    // SAFETY: the 12 bytes from `T::MACS` are within `v` (`HeaderMacs`).
    unsafe { read_mac_pair((v as *const T as *const u8).add(T::MACS)) }
}

/// Writes the MACs map value `v` keeps in header order.
///
/// # Safety
/// `v` must be valid for writes and not read meanwhile.
#[inline(always)]
pub unsafe fn write_value_macs<T: HeaderMacs>(v: *mut T, m: MacPair) {
    // SAFETY: as in `value_macs`, and the caller's.
    unsafe { write_mac_pair((v as *mut u8).add(T::MACS), m) }
}

/// True if the two pairs of MACs are the same (three word compares, no
/// branch between them).
#[inline(always)]
pub fn same_macs(a: MacPair, b: MacPair) -> bool {
    (a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) == 0
}

/// True if the two MACs are the same (three word compares, no branch
/// between them).
#[inline(always)]
pub fn same_mac(a: &[u8; 6], b: &[u8; 6]) -> bool {
    let (a, b) = (read_mac(a), read_mac(b));
    (a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) == 0
}

impl Packet for XdpContext {
    const DROP: u32 = xdp_action::XDP_DROP;

    #[inline(always)]
    fn start(&self) -> usize {
        self.data()
    }
    #[inline(always)]
    fn end(&self) -> usize {
        self.data_end()
    }
    #[inline(always)]
    fn ifindex(&self) -> u32 {
        self.ingress_ifindex() as u32
    }
    #[inline(always)]
    fn wire_len(&self) -> u64 {
        (self.data_end() - self.data()) as u64
    }
    #[inline(always)]
    fn redirect(&self, ifindex: u32) -> Result<u32, DropReason> {
        EGRESS_PORTS.redirect(ifindex, 0).map_err(|_| DropReason::RedirectFailed)
    }
    #[inline(always)]
    fn hairpin(&self) -> u32 {
        xdp_action::XDP_TX
    }
    #[inline(always)]
    fn exceeds_mtu(&self, ifindex: u32) -> Option<u32> {
        let mut mtu = 0u32;
        // SAFETY: the program's own context and a local out-parameter.
        let r = unsafe { bpf_check_mtu(self.as_ptr(), ifindex, &mut mtu, 0, 0) };
        (r == i64::from(BPF_MTU_CHK_RET_FRAG_NEEDED)).then_some(mtu)
    }
    #[inline(always)]
    fn rewrite<const N: usize>(&self, offset: usize, old: [u8; N], new: [u8; N], check: usize, covered: Covered) -> Result<(), DropReason> {
        // XDP mode: instances send complete checksums (offload off), so
        // the stored checksum is patched as RFC 1624 says. Through the
        // load/store helpers: offsets that vary per packet are checked by
        // the kernel, not left to the verifier's view of LLVM's pointers.
        let mut c = [0u8; 2];
        // SAFETY: the program's own frame and a 2-byte local buffer.
        if unsafe { bpf_xdp_load_bytes(self.ctx, check as u32, c.as_mut_ptr() as *mut _, 2) } != 0 {
            return Err(DropReason::ParseError);
        }
        let stored = u16::from_ne_bytes(c);
        let udp = matches!(covered, Covered::Udp | Covered::UdpPseudoHeader);
        if !(udp && stored == 0) {
            let mut v = stored;
            let mut i = 0;
            while i + 1 < N {
                v = csum::replace16(v, u16::from_ne_bytes([old[i], old[i + 1]]), u16::from_ne_bytes([new[i], new[i + 1]]));
                i += 2;
            }
            // 0 means "no checksum" in UDP: a computed 0 is sent as 0xffff.
            if udp && v == 0 {
                v = 0xffff;
            }
            let mut c = v.to_ne_bytes();
            // SAFETY: as above.
            if unsafe { bpf_xdp_store_bytes(self.ctx, check as u32, c.as_mut_ptr() as *mut _, 2) } != 0 {
                return Err(DropReason::ParseError);
            }
        }
        let mut f = new;
        // SAFETY: the program's own frame and an N-byte local buffer.
        if unsafe { bpf_xdp_store_bytes(self.ctx, offset as u32, f.as_mut_ptr() as *mut _, N as u32) } != 0 {
            return Err(DropReason::ParseError);
        }
        Ok(())
    }
    #[inline(always)]
    fn reshape(&self, keep: u32, grow: u32) -> Result<(), DropReason> {
        let len = (self.data_end() - self.data()) as i32;
        // SAFETY: the program's own frame; the helpers check the sizes.
        unsafe {
            if bpf_xdp_adjust_tail(self.ctx as *mut _, keep as i32 - len) != 0 {
                return Err(DropReason::ParseError);
            }
            // Room in front; the caller writes the Ethernet header there.
            if bpf_xdp_adjust_head(self.ctx as *mut _, -(grow as i32)) != 0 {
                return Err(DropReason::ParseError);
            }
        }
        Ok(())
    }
}

/// Reads a word of the socket buffer's context at `offset` as the
/// verifier wants it read: one load at a constant offset from the context
/// pointer itself. (Written plainly, LLVM may compute the field's address
/// once and load through it later: a "modified ctx ptr" the verifier
/// refuses.)
macro_rules! skb_word {
    ($skb:expr, $field:ident) => {{
        let v: u64;
        // SAFETY: a 4-byte load of a field of the program's own
        // `__sk_buff`, which the context pointer points to.
        unsafe {
            core::arch::asm!(
                "{v} = *(u32 *)({ctx} + {off})",
                v = out(reg) v,
                ctx = in(reg) $skb,
                off = const core::mem::offset_of!(aya_ebpf::bindings::__sk_buff, $field),
                options(readonly, nostack, preserves_flags),
            )
        };
        v as usize
    }};
}

impl Packet for TcContext {
    const DROP: u32 = TC_ACT_SHOT as u32;

    #[inline(always)]
    fn start(&self) -> usize {
        skb_word!(self.skb.skb, data)
    }
    #[inline(always)]
    fn end(&self) -> usize {
        skb_word!(self.skb.skb, data_end)
    }
    #[inline(always)]
    fn ifindex(&self) -> u32 {
        // SAFETY: the program's own socket buffer.
        unsafe { (*self.skb.skb).ifindex }
    }
    #[inline(always)]
    fn wire_len(&self) -> u64 {
        u64::from(self.len())
    }
    #[inline(always)]
    fn redirect(&self, ifindex: u32) -> Result<u32, DropReason> {
        // Straight into the ingress of the port's peer (the instance's
        // eth0, or the internet's end of the uplink): no pass through the
        // egress queue of the router port and the backlog again.
        // SAFETY: a helper taking plain values.
        Ok(unsafe { bpf_redirect_peer(ifindex, 0) } as u32)
    }
    #[inline(always)]
    fn hairpin(&self) -> u32 {
        // SAFETY: a helper taking plain values.
        unsafe { bpf_redirect_peer(self.ifindex(), 0) as u32 }
    }
    #[inline(always)]
    fn exceeds_mtu(&self, ifindex: u32) -> Option<u32> {
        let mut mtu = 0u32;
        // SAFETY: the program's own context and a local out-parameter. For
        // an aggregate the kernel checks the size of each segment.
        let r = unsafe { bpf_check_mtu(self.as_ptr(), ifindex, &mut mtu, 0, 0) };
        (r == i64::from(BPF_MTU_CHK_RET_FRAG_NEEDED)).then_some(mtu)
    }
    #[inline(always)]
    fn rewrite<const N: usize>(&self, offset: usize, old: [u8; N], new: [u8; N], check: usize, covered: Covered) -> Result<(), DropReason> {
        // The kernel's helpers: a checksum left to offload (CHECKSUM_PARTIAL)
        // holds only the pseudo-header sum, and a received one may carry a
        // complete sum (CHECKSUM_COMPLETE); both are updated as they must be.
        let (from, to) = (word(&old), word(&new));
        let size = N as u64;
        let r = match covered {
            Covered::Ipv4Header => self.l3_csum_replace(check, from, to, size),
            Covered::L4 => self.l4_csum_replace(check, from, to, size),
            Covered::L4PseudoHeader => self.l4_csum_replace(check, from, to, size | BPF_F_PSEUDO_HDR as u64),
            Covered::Udp => self.l4_csum_replace(check, from, to, size | BPF_F_MARK_MANGLED_0 as u64),
            Covered::UdpPseudoHeader => {
                self.l4_csum_replace(check, from, to, size | (BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0) as u64)
            }
        };
        r.map_err(|_| DropReason::ParseError)?;
        // SAFETY: `new` is N bytes on the stack; the helper bounds-checks the offset.
        let r = unsafe { bpf_skb_store_bytes(self.as_ptr() as *mut _, offset as u32, new.as_ptr() as *const _, N as u32, 0) };
        if r != 0 {
            return Err(DropReason::ParseError);
        }
        Ok(())
    }
    #[inline(always)]
    fn reshape(&self, keep: u32, grow: u32) -> Result<(), DropReason> {
        // SAFETY: the program's own socket buffer; the helpers check sizes.
        let r = unsafe { bpf_skb_change_tail(self.as_ptr() as *mut _, keep, 0) };
        if r != 0 {
            return Err(DropReason::ParseError);
        }
        self.adjust_room(grow as i32, BPF_ADJ_ROOM_MAC, 0).map_err(|_| DropReason::ParseError)?;
        self.pull_data(keep + grow).map_err(|_| DropReason::ParseError)
    }
}

/// A 2- or 4-byte field as the checksum helpers take it (its bytes as in
/// memory, in the low bits).
#[inline(always)]
fn word<const N: usize>(b: &[u8; N]) -> u64 {
    if N == 4 {
        u64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    } else {
        u64::from(u16::from_ne_bytes([b[0], b[1]]))
    }
}
