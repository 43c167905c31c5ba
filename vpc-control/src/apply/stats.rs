//! Router counters as a report: JSON for scripts, a table for people.
use std::{collections::BTreeMap, fmt::Write as _};

use serde::Serialize;

use crate::{
    apply::{self, ApplyError},
    datapath::Datapath,
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
            "\n  {:<14} {:<24} {:>10} {:>12} {:>10} {:>12} {:>8} {:>10}",
            "PORT", "INSTANCE", "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES", "DROPPED", "CACHE_HITS"
        );
        for p in &self.ports {
            let _ = writeln!(
                s,
                "  {:<14} {:<24} {:>10} {:>12} {:>10} {:>12} {:>8} {:>10}",
                p.port, p.instance_id, p.rx_packets, p.rx_bytes, p.tx_packets, p.tx_bytes, p.dropped, p.flow_cache_hits
            );
        }
        s
    }
}
