//! Security groups and network ACLs, at a flat cost: each policy is answered
//! by two LPM lookups whatever its rule count (remote address -> class, then
//! {class, protocol, port} -> verdict); the control plane compiled the rules
//! into those tables, and each CPU keeps their answers in its policy cache
//! (`vpc_common::policy_cache`). Network ACLs are stateless (ACL-2);
//! security groups go through [`crate::conntrack`] (SG-1).
use aya_ebpf::maps::lpm_trie::Key;
use vpc_common::{
    policy_addr_prefix_len_v4, policy_cache, policy_port_prefix_len, port_key, proto_key, DropReason, Eni,
    PolicyAddrKey, PolicyPortKey, ENI_FLAG_ACL_EGRESS_DEFAULT_ACCEPT,
    ENI_FLAG_ACL_INGRESS_DEFAULT_ACCEPT, ENI_FLAG_NETWORK_ACL, VERDICT_ACCEPT, VERDICT_NO_MATCH,
};

use crate::{
    maps::{config_generation, lookup_cache_slot, POLICY_ADDRESSES, POLICY_CACHE, POLICY_PORTS},
    parse::Flow,
};

/// Where a policy is judged from: the const parameter of [`accepts`],
/// [`network_acls`] and `conntrack::judge`. In the router's main program,
/// through the policy cache: a hit read inline, a miss left to
/// [`policy_verdict`]. In a subprogram (load balancing, PrivateLink), the
/// tables' two lookups inline, uncached: a call from there to the global
/// function would count the subprogram's frame with the main program's
/// and the function's, over the verifier's 512 bytes.
pub const IN_MAIN: bool = true;
/// See [`IN_MAIN`].
pub const IN_SUBPROGRAM: bool = false;

/// True if policy `policy_id` accepts a packet to or from `remote` with
/// protocol `proto` and destination port `port`; `default_accept` when no
/// rule matches. `MAIN`: through this CPU's policy cache
/// (`vpc_common::policy_cache`), see [`IN_MAIN`].
#[inline(always)]
pub fn accepts<const MAIN: bool>(policy_id: u32, default_accept: bool, remote: [u8; 4], proto: u8, port: u16) -> bool {
    let (proto, port) = (proto_key(proto), port_key(proto, port));
    let (remote, proto_port) = (u32::from_ne_bytes(remote), policy_cache::proto_port(proto, port));
    let verdict = if MAIN {
        let generation = config_generation();
        let hit = lookup_cache_slot(&POLICY_CACHE, policy_cache::SLOTS, policy_cache::slot(policy_id, remote, proto_port))
            .filter(|e| e.policy_id == policy_id && e.addr == remote && e.proto_port == proto_port && e.generation == generation);
        match hit {
            Some(e) => e.verdict,
            None => policy_verdict(policy_id, remote, proto_port),
        }
    } else {
        lookup(policy_id, remote, proto_port)
    };
    match verdict {
        VERDICT_NO_MATCH => default_accept,
        v => v == VERDICT_ACCEPT,
    }
}

/// What policy `policy_id`'s tables say of remote address `remote` (as
/// in the packet) and `proto_port` (`policy_cache::proto_port`): its
/// rules' verdict, or `VERDICT_NO_MATCH`, from the two LPM lookups, then
/// kept in this CPU's policy cache (`vpc_common::policy_cache`; [`accepts`]
/// reads a hit inline and calls this on a miss). A global function: the
/// verifier checks it once, not at each of the many places the pipeline
/// judges (inlined there, or as a static function, the cache took the
/// program past the verifier's million instructions).
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C" fn policy_verdict(policy_id: u32, remote: u32, proto_port: u32) -> u32 {
    // Read before the lookups (`config_generation`).
    let generation = config_generation();
    let verdict = lookup(policy_id, remote, proto_port);
    if let Some(e) = lookup_cache_slot(&POLICY_CACHE, policy_cache::SLOTS, policy_cache::slot(policy_id, remote, proto_port)) {
        e.policy_id = policy_id;
        e.addr = remote;
        e.proto_port = proto_port;
        e.generation = generation;
        e.verdict = verdict;
    }
    verdict
}

/// [`policy_verdict`] from the policy's tables: remote address -> class, then
/// {class, protocol, port} -> verdict. One key on the stack for both
/// lookups (the frame of [`policy_verdict`] counts against every
/// subprogram that judges, within the verifier's 512 bytes): the address
/// key is its first 12 bytes.
#[inline(always)]
fn lookup(policy_id: u32, remote: u32, proto_port: u32) -> u32 {
    let mut key = Key::new(
        policy_addr_prefix_len_v4(32),
        PolicyPortKey { policy_id, class: remote, proto: 0, pad: 0, port: [0; 2] },
    );
    // SAFETY: both keys are repr(C) behind the same u32 prefix length;
    // `Key<PolicyAddrKey>` is {prefix length, policy id, address}, the
    // first 12 bytes of `key` as written (`class` holds the address's
    // bytes), at the same alignment.
    let addr_key = unsafe { &*(&key as *const Key<PolicyPortKey>).cast::<Key<PolicyAddrKey>>() };
    let Some(class) = POLICY_ADDRESSES.get(addr_key) else {
        return VERDICT_NO_MATCH;
    };
    key.prefix_len = policy_port_prefix_len(16);
    key.data.class = class.class;
    key.data.proto = (proto_port >> 16) as u8;
    key.data.port = (proto_port as u16).to_be_bytes();
    POLICY_PORTS.get(&key).map_or(VERDICT_NO_MATCH, |v| v.verdict)
}

const _: () = assert!(
    core::mem::size_of::<PolicyAddrKey>() == 8
        && core::mem::offset_of!(PolicyAddrKey, addr) == core::mem::offset_of!(PolicyPortKey, class)
        && core::mem::offset_of!(PolicyAddrKey, policy_id) == core::mem::offset_of!(PolicyPortKey, policy_id)
);

/// Network ACLs of the vSwitches a packet leaves and enters (only when it
/// crosses from one vSwitch to another, ACL-1), on every packet: stateless.
#[inline(always)]
pub fn network_acls<const MAIN: bool>(flow: &Flow, src: &Eni, dst: &Eni) -> Result<(), DropReason> {
    if src.vswitch_id == dst.vswitch_id {
        return Ok(());
    }
    if src.flags & ENI_FLAG_NETWORK_ACL != 0
        && !accepts::<MAIN>(src.acl_egress, src.flags & ENI_FLAG_ACL_EGRESS_DEFAULT_ACCEPT != 0, flow.dst, flow.proto, flow.dport)
    {
        return Err(DropReason::AclEgress);
    }
    if dst.flags & ENI_FLAG_NETWORK_ACL != 0
        && !accepts::<MAIN>(dst.acl_ingress, dst.flags & ENI_FLAG_ACL_INGRESS_DEFAULT_ACCEPT != 0, flow.src, flow.proto, flow.dport)
    {
        return Err(DropReason::AclIngress);
    }
    Ok(())
}
