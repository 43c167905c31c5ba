//! Router counters as a report: JSON for scripts, a table for people.
use std::{collections::BTreeMap, fmt::Write as _};

use serde::Serialize;

use crate::{
    apply::{self, ApplyError},
    datapath::Datapath,
    model::Model,
};

/// Counters of one router port.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PortStats {
    /// Router-side interface name.
    pub port: String,
    /// Instance behind the port.
    pub instance_id: String,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub dropped: u64,
    /// Received frames the flow cache decided (established flows).
    pub flow_cache_hits: u64,
    /// Tracked connections counted against the ENI (its quota:
    /// `vpc daemon --conntrack-per-eni`).
    pub connections: u64,
    /// New flows refused by the connection tracker on the ENI's account:
    /// its quota, its VPC's or the whole table full.
    pub conntrack_refused: u64,
    /// Frames the kernel dropped on the port (the link's rx and tx drops).
    pub kernel_dropped: u64,
}

/// Every counter of a router.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RouterStats {
    /// Router namespace.
    pub router_namespace: String,
    /// Frames by action (forwarded, arp_replied).
    pub actions: BTreeMap<String, u64>,
    /// Frames dropped, by reason.
    pub drops: BTreeMap<String, u64>,
    /// Per port.
    pub ports: Vec<PortStats>,
}

/// Reads the counters of a running router.
pub fn of(router: &apply::Router) -> Result<RouterStats, ApplyError> {
    collect(router.datapath(), router.namespace())
}

fn collect(dp: &Datapath, router_namespace: &str) -> Result<RouterStats, ApplyError> {
    let c = dp.counters()?;
    let mut ports = Vec::new();
    for p in apply::router_ports(router_namespace)? {
        let k = c.ports.get(&p.ifindex).copied().unwrap_or_default();
        ports.push(PortStats {
            port: p.name,
            instance_id: p.instance_id,
            rx_packets: k.rx_packets,
            rx_bytes: k.rx_bytes,
            tx_packets: k.tx_packets,
            tx_bytes: k.tx_bytes,
            dropped: k.dropped,
            flow_cache_hits: k.flow_cache_hits,
            connections: c.connections.get(&p.ifindex).copied().unwrap_or(0),
            conntrack_refused: k.conntrack_refused,
            kernel_dropped: p.kernel_dropped,
        });
    }
    ports.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    Ok(RouterStats {
        router_namespace: router_namespace.to_string(),
        actions: c.actions.iter().map(|(a, n)| (a.name().to_string(), *n)).collect(),
        drops: c.drops.iter().map(|(r, n)| (r.name().to_string(), *n)).collect(),
        ports,
    })
}

impl RouterStats {
    /// A table for people.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "router {}", self.router_namespace);
        for (k, v) in &self.actions {
            let _ = writeln!(s, "  {k:<24} {v:>12}");
        }
        for (k, v) in self.drops.iter().filter(|(_, v)| **v > 0) {
            let _ = writeln!(s, "  drop {k:<19} {v:>12}");
        }
        let _ = writeln!(
            s,
            "\n  {:<14} {:<24} {:>10} {:>12} {:>10} {:>12} {:>8} {:>10} {:>8} {:>10}",
            "PORT", "INSTANCE", "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES", "DROPPED", "CACHE_HITS", "CONNS", "CT_REFUSED"
        );
        for p in &self.ports {
            let _ = writeln!(
                s,
                "  {:<14} {:<24} {:>10} {:>12} {:>10} {:>12} {:>8} {:>10} {:>8} {:>10}",
                p.port,
                p.instance_id,
                p.rx_packets,
                p.rx_bytes,
                p.tx_packets,
                p.tx_bytes,
                p.dropped,
                p.flow_cache_hits,
                p.connections,
                p.conntrack_refused
            );
        }
        s
    }
}

/// The numeric policy ids an ENI's port holds in the datapath (0: none).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct PortPolicies {
    pub sg_ingress: u32,
    pub sg_egress: u32,
    pub acl_ingress: u32,
    pub acl_egress: u32,
}

/// A router port and what it stands for in the cloud's ids (for `vpc
/// monitor`, which sees ifindexes and numeric policy ids).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RouterPort {
    /// Router-side interface name.
    pub port: String,
    /// Its ifindex.
    pub ifindex: u32,
    /// Instance behind the port.
    pub instance_id: String,
    /// Its ENI.
    pub network_interface_id: String,
    /// Its VPC and vSwitch ("" if the model no longer has the instance).
    pub vpc_id: String,
    pub v_switch_id: String,
    /// The ENI's security groups (the policy ids are compiled from all of them).
    pub security_group_ids: Vec<String>,
    /// The network ACL of the vSwitch ("" if none).
    pub network_acl_id: String,
    /// Policy ids in the datapath.
    pub policies: PortPolicies,
}

/// The router's ports.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RouterPorts {
    /// Router namespace.
    pub router_namespace: String,
    pub ports: Vec<RouterPort>,
}

/// The ports of a running router, with the ids `model` gives them.
pub fn ports(router: &apply::Router, model: &Model) -> Result<RouterPorts, ApplyError> {
    let enis: BTreeMap<u32, vpc_common::Eni> = router.datapath().port_enis()?.into_iter().collect();
    let mut ports = Vec::new();
    for p in apply::router_ports(router.namespace())? {
        let eni = enis.get(&p.ifindex).copied().unwrap_or_default();
        let inst = model.instances.iter().find(|i| i.id == p.instance_id);
        let vsw = inst.and_then(|i| model.vswitch(&i.vswitch_id));
        ports.push(RouterPort {
            port: p.name,
            ifindex: p.ifindex,
            network_interface_id: inst.map(|i| i.eni_id()).unwrap_or_default(),
            instance_id: p.instance_id,
            vpc_id: vsw.map(|v| v.vpc_id.clone()).unwrap_or_default(),
            v_switch_id: vsw.map(|v| v.id.clone()).unwrap_or_default(),
            security_group_ids: inst.map(|i| i.security_group_ids.clone()).unwrap_or_default(),
            network_acl_id: vsw.and_then(|v| v.network_acl_id.clone()).unwrap_or_default(),
            policies: PortPolicies {
                sg_ingress: eni.sg_ingress,
                sg_egress: eni.sg_egress,
                acl_ingress: eni.acl_ingress,
                acl_egress: eni.acl_egress,
            },
        });
    }
    ports.sort_by_key(|p| p.ifindex);
    Ok(RouterPorts { router_namespace: router.namespace().to_string(), ports })
}
