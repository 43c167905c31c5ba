//! Security groups and network ACLs, at a flat cost: each policy is answered
//! by two LPM lookups whatever its rule count (remote address -> class, then
//! {class, protocol, port} -> verdict); the control plane compiled the rules
//! into those tables. Network ACLs are stateless (ACL-2); security groups go
//! through [`crate::conntrack`] (SG-1).
use aya_ebpf::maps::lpm_trie::Key;
use vpc_common::{
    policy_addr_prefix_len_v4, policy_port_prefix_len, port_key, proto_key, DropReason, Eni,
    PolicyAddrKey, PolicyPortKey, ENI_FLAG_ACL_EGRESS_DEFAULT_ACCEPT,
    ENI_FLAG_ACL_INGRESS_DEFAULT_ACCEPT, ENI_FLAG_NETWORK_ACL, VERDICT_ACCEPT,
};

use crate::{
    maps::{POLICY_ADDRESSES, POLICY_PORTS},
    parse::Flow,
};

/// True if policy `policy_id` accepts a packet to or from `remote` with
/// protocol `proto` and destination port `port`; `default_accept` when no
/// rule matches.
#[inline(always)]
pub fn accepts(policy_id: u32, default_accept: bool, remote: [u8; 4], proto: u8, port: u16) -> bool {
    let key = Key::new(policy_addr_prefix_len_v4(32), PolicyAddrKey { policy_id, addr: remote });
    let Some(class) = POLICY_ADDRESSES.get(&key) else {
        return default_accept;
    };
    let (proto, port) = (proto_key(proto), port_key(proto, port));
    let key = Key::new(
        policy_port_prefix_len(16),
        PolicyPortKey { policy_id, class: class.class, proto, pad: 0, port: port.to_be_bytes() },
    );
    match POLICY_PORTS.get(&key) {
        Some(v) => v.verdict == VERDICT_ACCEPT,
        None => default_accept,
    }
}

/// Network ACLs of the vSwitches a packet leaves and enters (only when it
/// crosses from one vSwitch to another, ACL-1), on every packet: stateless.
#[inline(always)]
pub fn network_acls(flow: &Flow, src: &Eni, dst: &Eni) -> Result<(), DropReason> {
    if src.vswitch_id == dst.vswitch_id {
        return Ok(());
    }
    if src.flags & ENI_FLAG_NETWORK_ACL != 0
        && !accepts(src.acl_egress, src.flags & ENI_FLAG_ACL_EGRESS_DEFAULT_ACCEPT != 0, flow.dst, flow.proto, flow.dport)
    {
        return Err(DropReason::AclEgress);
    }
    if dst.flags & ENI_FLAG_NETWORK_ACL != 0
        && !accepts(dst.acl_ingress, dst.flags & ENI_FLAG_ACL_INGRESS_DEFAULT_ACCEPT != 0, flow.src, flow.proto, flow.dport)
    {
        return Err(DropReason::AclIngress);
    }
    Ok(())
}
