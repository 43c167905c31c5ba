//! Map keys, values and enums shared by the XDP datapath (`vpc-ebpf`) and the
//! control plane (`vpc-control`).
//!
//! Every type is `#[repr(C)]` with no implicit padding, so both sides agree on
//! the bytes. Addresses in keys are IPv4, 4 bytes: a map lookup costs more
//! the longer its key (the micro bench's "kernel operations": a hash lookup
//! with a 16- or 20-byte key takes ~1.4 times one with an 8-byte key), so IPv6
//! will get maps of its own beside these (as Cilium keeps its IPv4 and IPv6
//! maps apart) instead of widening every IPv4 key to an IPv4-mapped 16
//! bytes.
#![no_std]

pub mod bench;
pub mod clock;
pub mod conntrack;
pub mod counters;
pub mod eni;
pub mod lb;
pub mod maps;
pub mod monitor;
pub mod nat;
pub mod policy;
pub mod privatelink;
pub mod route;

pub use conntrack::*;
pub use counters::*;
pub use eni::*;
pub use lb::*;
pub use maps::*;
pub use monitor::*;
pub use nat::*;
pub use policy::*;
pub use privatelink::*;
pub use route::*;

/// A map value that keeps a frame's two MACs as its Ethernet header holds
/// them, destination then source (12 bytes), at byte [`HeaderMacs::MACS`],
/// a multiple of 4: the datapath reads, writes or compares them as three
/// 32-bit words. Implemented with [`header_macs!`], which checks the layout
/// at compile time.
///
/// # Safety
/// `MACS + 12` is within the type, and the 12 bytes from `MACS` are its
/// destination then source MAC fields.
pub unsafe trait HeaderMacs {
    /// The offset of the destination MAC, followed by the source MAC.
    const MACS: usize;
}

/// Implements [`HeaderMacs`] for `$t`, whose `$dst` field (`[u8; 6]`) is
/// followed by its `$src` field at a 4-byte aligned offset (checked).
macro_rules! header_macs {
    ($t:ty, $dst:ident, $src:ident) => {
        const _: () = assert!(
            core::mem::offset_of!($t, $dst) % 4 == 0
                && core::mem::offset_of!($t, $src) == core::mem::offset_of!($t, $dst) + 6
                && core::mem::offset_of!($t, $src) + 6 <= core::mem::size_of::<$t>()
        );
        // SAFETY: the layout is checked just above.
        unsafe impl $crate::HeaderMacs for $t {
            const MACS: usize = core::mem::offset_of!($t, $dst);
        }
    };
}
pub(crate) use header_macs;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: every type below is #[repr(C)], made only of integers and byte
    // arrays, with no padding (sizes checked by the tests below), so any bit
    // pattern is a valid value.
    unsafe impl aya::Pod for super::RouteKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NextHop {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::Egress {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::EniAddressKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::Eni {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PortCounters {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PolicyAddrKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PolicyClass {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PolicyPortKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PolicyVerdict {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::CtKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::FlowKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::FlowCacheEntry {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::CtEntry {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PublicAddress {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NatGateway {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::SnatKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::SnatTarget {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NatOutKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NatOutValue {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NatInKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NatInValue {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::GatewayEndpointTarget {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::bench::ConnRun {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::MonitorEvent {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::MonitorConfig {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::MonitorState {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::ConntrackQuota {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::FragmentKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::FragmentFlow {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::ListenerKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::Listener {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::Backend {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::LbFlow {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::LbReply {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::LbPending {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::EndpointEni {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PrivateLinkOut {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PrivateLinkInKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PrivateLinkIn {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::clock::ClockBase {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::NeighbourEntry {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::RouteCacheEntry {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::PolicyCacheEntry {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn layouts_have_no_padding() {
        assert_eq!(size_of::<RouteKey>(), 4 + 4);
        assert_eq!(size_of::<bench::ConnPhase>(), 56 + 16 + 8);
        assert_eq!(
            size_of::<bench::ConnRun>(),
            8 * 80 + 16 + 16 + 24 + 8 + 16 + 8 * 8
        );
        assert_eq!(size_of::<Egress>(), 4 + 6 + 6);
        assert_eq!(size_of::<NeighbourEntry>(), 4 * 4 + size_of::<Egress>() + size_of::<Eni>());
        assert_eq!(size_of::<NextHop>(), 4 + 16 + 4);
        assert_eq!(size_of::<RouteCacheEntry>(), 4 * 4 + size_of::<NextHop>());
        assert_eq!(size_of::<PolicyCacheEntry>(), 6 * 4);
        assert_eq!(size_of::<EniAddressKey>(), 4 + 4);
        assert_eq!(size_of::<EndpointEni>(), 2 * size_of::<Eni>() + 4 + 4 + 4);
        assert_eq!(size_of::<PrivateLinkOut>(), 4 + 2 + 2 + 4);
        assert_eq!(size_of::<PrivateLinkInKey>(), 4 + 4 + 2 + 1 + 1);
        assert_eq!(size_of::<PrivateLinkIn>(), 8 + 4 + 4 + 4 + 2 + 2 + 4 + 4);
        assert_eq!(size_of::<Eni>(), 4 * 8 + 12 + 4 * 4 + 4 + 4);
        assert_eq!(size_of::<PublicAddress>(), 5 * 4);
        assert_eq!(size_of::<NatGateway>(), 2 * 4);
        assert_eq!(size_of::<SnatKey>(), 8);
        assert_eq!(size_of::<SnatTarget>(), 8);
        assert_eq!(size_of::<NatOutKey>(), 4 * 3 + 2 + 2 + 4);
        assert_eq!(size_of::<NatOutValue>(), 16);
        assert_eq!(size_of::<NatInValue>(), 12);
        assert_eq!(size_of::<GatewayEndpointTarget>(), 8);
        assert_eq!(size_of::<NatInKey>(), 16);
        assert_eq!(size_of::<NatInValue>(), 12);
        assert_eq!(size_of::<PortCounters>(), 7 * 8);
        assert_eq!(size_of::<FragmentKey>(), 4 + 4 + 4 + 2 + 1 + 1);
        assert_eq!(size_of::<FragmentFlow>(), 8 + 2 + 2 + 1 + 3);
        assert_eq!(size_of::<PolicyAddrKey>(), 4 + 4);
        assert_eq!(size_of::<PolicyPortKey>(), 4 + 4 + 1 + 1 + 2);
        assert_eq!(size_of::<CtKey>(), 4 + 4 + 4 + 2 + 2 + 1 + 3);
        assert_eq!(size_of::<CtEntry>(), 8 + 6 * 4);
        assert_eq!(size_of::<FlowKey>(), 5 * 4);
        assert_eq!(size_of::<FlowCacheEntry>(), 20 + 4 + 8 + 16 + 6 + 6 + 4);
        assert_eq!(
            size_of::<MonitorEvent>(),
            8 + 6 * 4 + 4 + 4 + 2 + 2 + 1 + 1 + 2
        );
        assert_eq!(size_of::<MonitorConfig>(), 2 * 4);
        assert_eq!(size_of::<ListenerKey>(), 4 + 4 + 2 + 1 + 1);
        assert_eq!(size_of::<Listener>(), 5 * 4);
        assert_eq!(size_of::<Backend>(), 4 + 2 + 2);
        assert_eq!(size_of::<LbFlow>(), 8 + 4 + 4);
        assert_eq!(size_of::<LbReply>(), 4 + 2 + 2 + 4);
        assert_eq!(size_of::<LbPending>(), 4 + 4 + 4 + 2 + 2 + 12 + 20 + 20 + 16 + 12 + 4 + 4 + 4 + 2 + 2 + 16 + 32 + 12 + 12 + 8 + 8);
        assert_eq!(size_of::<MonitorState>(), 5 * 8);
    }

    #[test]
    fn enum_tables_are_in_index_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
        }
        assert_eq!(DropReason::ALL.len() as u32, DropReason::COUNT);
    }

    #[test]
    fn direct_block_values_round_trip_and_never_collide_with_markers() {
        for id in [0, 1, direct::MAX_HOPS - 1] {
            let v = direct::encode(id);
            assert_ne!(v, direct::NONE);
            assert_ne!(v, direct::TRIE);
            assert_eq!(direct::hop_index(0, v), id);
            assert_eq!(direct::hop_index(2, v), 2 * direct::MAX_HOPS + id);
        }
        assert_eq!(direct::entry(0, [10, 1, 2, 3]), 0x0a0102 >> 1);
        assert_eq!(direct::entry(1, [10, 1, 3, 3]), (1 << 23) | (0x0a0103 >> 1));
        let entry = u64::from(direct::encode(7)) << 32 | u64::from(direct::encode(5));
        assert_eq!(
            direct::block_of_entry(entry, [10, 1, 2, 9]),
            direct::encode(5),
            "even block: low half"
        );
        assert_eq!(
            direct::block_of_entry(entry, [10, 1, 3, 9]),
            direct::encode(7),
            "odd block: high half"
        );
    }

    #[test]
    fn flow_cache_is_sized_by_the_cpus_and_every_set_lies_inside_it() {
        use flow_cache::{MAX_SLOTS, MIN_SLOTS, WAYS, set, slots_for};
        assert_eq!(slots_for(0), MAX_SLOTS);
        assert_eq!(slots_for(2), MAX_SLOTS, "8 MiB per CPU on this machine kind");
        assert_eq!(slots_for(8), MAX_SLOTS);
        assert_eq!(slots_for(64), 1 << 14, "the budget shared out");
        assert_eq!(slots_for(1_000_000), MIN_SLOTS);
        for slots in [MIN_SLOTS, 1 << 14, MAX_SLOTS] {
            for i in 0..4096u32 {
                let k = FlowKey { ifindex: 3 + i % 5, src: i.wrapping_mul(7919), dst: !i, ports: i << 16 | 53, proto: 17 };
                let s = set(&k, slots);
                assert!(s % WAYS == 0 && s + WAYS <= slots, "set {s} of {slots} slots");
            }
        }
    }

    #[test]
    fn ipv4_route_prefix_covers_table_then_address() {
        assert_eq!(route_key_prefix_len_v4(24), 56);
        assert_eq!(policy_addr_prefix_len_v4(32), 64);
    }
}
