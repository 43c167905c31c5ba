//! Router counters in the Prometheus text exposition format, version 0.0.4,
//! rendered by `prometheus-client` (the Prometheus project's Rust client).
//!
//! Every family is a counter named `vpc_*_total`, with its `# HELP` and
//! `# TYPE` lines, always present (also with no sample, e.g. no ports):
//! - one family per [`Action`]: `vpc_forwarded_packets_total`,
//!   `vpc_arp_replies_total`;
//! - `vpc_dropped_packets_total{reason="..."}`: one sample per
//!   [`DropReason`], zeros included, `reason` = [`DropReason::name`];
//! - per router port: `vpc_port_{rx,tx}_{packets,bytes}_total` and
//!   `vpc_port_dropped_packets_total`, labelled `port`, `eni_id` and
//!   `instance_id`.
//!
//! Then the gauges of table use, as the last sweep found them:
//! `vpc_conntrack_entries` and `vpc_nat_mappings`, each beside its
//! capacity (`vpc_conntrack_entries_max`, `vpc_nat_mappings_max`).
//!
//! Then the load balancers' health checks (issue 20): the gauge
//! `vpc_nlb_server_health_status{server_group_id, server_ip, port, status}`
//! (1 for the server's status, 0 for the others; `status` Initial,
//! Available or Unavailable) and the counter
//! `vpc_nlb_health_checks_total{server_group_id, server_ip, port, result}`
//! (`result` success or failure), one sample each per checked server.
//!
//! The values live in the datapath's maps, not in this process: each scrape
//! builds a [`Registry`] holding one [`Collector`] over a snapshot of them,
//! which writes constant counters and gauges (`ConstCounter`, `ConstGauge`)
//! in a fixed order.
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, prometheus_text},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};
use vpc_common::{Action, DropReason};

use crate::{
    apply::health::{HealthStatus, ServerHealth},
    datapath::Counters,
    stats::PortStats,
    sweep::TableUse,
};

/// The `Content-Type` of [`render`]'s output (the crate's Prometheus text
/// format, version 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Name and help of the family counting `action`. Exhaustive on purpose: a
/// new action must be given its metric here.
fn action_family(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Forwarded => (
            "vpc_forwarded_packets_total",
            "Frames routed and redirected to an egress port.",
        ),
        Action::ArpReplied => (
            "vpc_arp_replies_total",
            "ARP requests for vSwitch addresses answered by the router.",
        ),
        Action::ToInternet => (
            "vpc_to_internet_packets_total",
            "Frames sent to the internet uplink, source translated to a public address.",
        ),
        Action::FromInternet => (
            "vpc_from_internet_packets_total",
            "Frames from the internet uplink, destination translated to a private address.",
        ),
        Action::ToServices => (
            "vpc_to_services_packets_total",
            "Frames sent to the cloud's services network through a gateway endpoint, source translated to the endpoint's address.",
        ),
        Action::FromServices => (
            "vpc_from_services_packets_total",
            "Replies from the cloud's services network, destination translated back to the instance.",
        ),
        Action::IcmpTimeExceededSent => (
            "vpc_icmp_time_exceeded_sent_total",
            "ICMP time exceeded answers sent from a vSwitch gateway for packets whose TTL ran out.",
        ),
        Action::IcmpFragNeededSent => (
            "vpc_icmp_frag_needed_sent_total",
            "ICMP fragmentation needed answers sent for packets with DF set larger than the egress MTU.",
        ),
        Action::IcmpErrorRateLimited => (
            "vpc_icmp_errors_rate_limited_total",
            "ICMP errors not sent: over the per-CPU rate limit.",
        ),
    }
}

/// A per-port family: name, help, and the counter it reads.
type PortFamily = (&'static str, &'static str, fn(&PortStats) -> u64);

/// The per-port families.
const PORT_FAMILIES: [PortFamily; 8] = [
    (
        "vpc_port_rx_packets_total",
        "Frames received by the router from the ENI.",
        |p| p.rx_packets,
    ),
    (
        "vpc_port_rx_bytes_total",
        "Bytes received by the router from the ENI.",
        |p| p.rx_bytes,
    ),
    (
        "vpc_port_tx_packets_total",
        "Frames the router sent to the ENI.",
        |p| p.tx_packets,
    ),
    (
        "vpc_port_tx_bytes_total",
        "Bytes the router sent to the ENI.",
        |p| p.tx_bytes,
    ),
    (
        "vpc_port_dropped_packets_total",
        "Frames from the ENI that the router dropped.",
        |p| p.dropped,
    ),
    (
        "vpc_port_flow_cache_hits_total",
        "Frames from the ENI forwarded on a decision of the flow cache (established flows).",
        |p| p.flow_cache_hits,
    ),
    (
        "vpc_port_conntrack_refused_total",
        "New flows of the ENI refused by the connection tracker: its quota, its VPC's or the table full.",
        |p| p.conntrack_refused,
    ),
    (
        "vpc_port_kernel_dropped_total",
        "Frames the kernel dropped on the router port (its link's rx and tx drops), unseen by the datapath's counters.",
        |p| p.kernel_dropped,
    ),
];

/// The gauges of table use: name, help, value.
fn table_gauges(t: &TableUse) -> [(&'static str, &'static str, u64); 4] {
    [
        (
            "vpc_conntrack_entries",
            "Connections tracked for security groups, at the last sweep.",
            t.connections,
        ),
        (
            "vpc_conntrack_entries_max",
            "Capacity of the connection table (full: new flows dropped, conntrack_full).",
            TableUse::CONNECTIONS_MAX,
        ),
        (
            "vpc_nat_mappings",
            "Port translations of NAT gateways, at the last sweep.",
            t.nat_mappings,
        ),
        (
            "vpc_nat_mappings_max",
            "Capacity of the port-translation table (full: nat_table_full drops).",
            TableUse::NAT_MAPPINGS_MAX,
        ),
    ]
}

/// The crate appends `_total` to a counter's name itself: the family is
/// declared without it.
fn counter_base(name: &'static str) -> &'static str {
    name.strip_suffix("_total")
        .expect("a counter's name ends with _total")
}

/// What one scrape exports, copied out of the maps.
#[derive(Debug)]
struct Snapshot {
    /// Per action, in [`Action::ALL`] order.
    actions: Vec<(Action, u64)>,
    /// Per drop reason, in [`DropReason::ALL`] order, zeros included.
    drops: Vec<(DropReason, u64)>,
    ports: Vec<PortStats>,
    tables: Option<TableUse>,
    /// The checked servers of load balancers.
    health: Vec<ServerHealth>,
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for &(action, n) in &self.actions {
            let (name, help) = action_family(action);
            let m =
                encoder.encode_descriptor(counter_base(name), help, None, MetricType::Counter)?;
            ConstCounter::new(n).encode(m)?;
        }

        let mut m = encoder.encode_descriptor(
            counter_base("vpc_dropped_packets_total"),
            "Frames dropped by the router, by reason.",
            None,
            MetricType::Counter,
        )?;
        for &(reason, n) in &self.drops {
            ConstCounter::new(n).encode(m.encode_family(&[("reason", reason.name())])?)?;
        }

        let eni_ids: Vec<String> = self
            .ports
            .iter()
            .map(|p| crate::model::eni_id_of(&p.instance_id))
            .collect();
        for (name, help, value) in PORT_FAMILIES {
            let mut m =
                encoder.encode_descriptor(counter_base(name), help, None, MetricType::Counter)?;
            for (p, eni_id) in self.ports.iter().zip(&eni_ids) {
                let labels = [
                    ("port", p.port.as_str()),
                    ("eni_id", eni_id.as_str()),
                    ("instance_id", p.instance_id.as_str()),
                ];
                ConstCounter::new(value(p)).encode(m.encode_family(&labels)?)?;
            }
        }

        if let Some(t) = &self.tables {
            for (name, help, value) in table_gauges(t) {
                let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(value).encode(m)?;
            }
        }

        let labels = |h: &ServerHealth| {
            (
                h.key.group_id.clone(),
                h.key.ip.to_string(),
                h.key.port.to_string(),
            )
        };
        let mut m = encoder.encode_descriptor(
            "vpc_nlb_server_health_status",
            "Health-check status of each load balancer backend (1 for its status).",
            None,
            MetricType::Gauge,
        )?;
        for h in &self.health {
            let (group, ip, port) = labels(h);
            for status in HealthStatus::ALL {
                let l = [
                    ("server_group_id", group.as_str()),
                    ("server_ip", ip.as_str()),
                    ("port", port.as_str()),
                    ("status", status.as_str()),
                ];
                ConstGauge::new(i64::from(h.tracker.status == status))
                    .encode(m.encode_family(&l)?)?;
            }
        }
        let mut m = encoder.encode_descriptor(
            counter_base("vpc_nlb_health_checks_total"),
            "Health checks of each load balancer backend, by result.",
            None,
            MetricType::Counter,
        )?;
        for h in &self.health {
            let (group, ip, port) = labels(h);
            for (result, n) in [
                ("success", h.tracker.checks_ok),
                ("failure", h.tracker.checks_failed),
            ] {
                let l = [
                    ("server_group_id", group.as_str()),
                    ("server_ip", ip.as_str()),
                    ("port", port.as_str()),
                    ("result", result),
                ];
                ConstCounter::new(n).encode(m.encode_family(&l)?)?;
            }
        }
        Ok(())
    }
}

/// Renders the router's counters: `counters` for the global families,
/// `ports` for the per-port ones, `tables` (none before the first sweep)
/// for the gauges. Output ends with a newline; serve it with
/// [`CONTENT_TYPE`].
pub fn render(counters: &Counters, ports: &[PortStats], tables: Option<&TableUse>) -> String {
    render_with_health(counters, ports, tables, &[])
}

/// [`render`], with the health of the load balancers' checked servers.
pub fn render_with_health(
    counters: &Counters,
    ports: &[PortStats],
    tables: Option<&TableUse>,
    health: &[ServerHealth],
) -> String {
    let snapshot = Snapshot {
        health: health.to_vec(),
        actions: Action::ALL
            .iter()
            .map(|a| (*a, counters.action(*a)))
            .collect(),
        drops: DropReason::ALL
            .iter()
            .map(|r| (*r, counters.dropped(*r)))
            .collect(),
        ports: ports.to_vec(),
        tables: tables.copied(),
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    let mut out = String::new();
    // Writing into a String cannot fail; the collector itself never fails.
    prometheus_text::encode(&mut out, &registry).expect("encoding into a String");
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use vpc_common::PortCounters;

    use super::*;

    /// One parsed sample line.
    #[derive(Debug, PartialEq)]
    struct Sample {
        name: String,
        labels: BTreeMap<String, String>,
        value: f64,
    }

    /// What a scraper sees: families (HELP, TYPE) and samples, in order.
    #[derive(Debug, Default)]
    struct Exposition {
        help: BTreeMap<String, String>,
        types: BTreeMap<String, String>,
        samples: Vec<Sample>,
    }

    fn valid_name(s: &str, colon: bool) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
    }

    fn unescape(s: &str, quote: bool) -> String {
        let mut out = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match it.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if quote => out.push('"'),
                other => panic!("bad escape \\{other:?} in {s:?}"),
            }
        }
        out
    }

    /// Parses the labels between `{` and `}` (exclusive) of `line`; returns
    /// them and the rest of the line after `}`.
    fn parse_labels(s: &str) -> (BTreeMap<String, String>, &str) {
        let mut labels = BTreeMap::new();
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                return (labels, r);
            }
            let eq = rest
                .find('=')
                .unwrap_or_else(|| panic!("no '=' in labels {s:?}"));
            let key = &rest[..eq];
            assert!(valid_name(key, false), "label name {key:?}");
            let body = rest[eq + 1..]
                .strip_prefix('"')
                .unwrap_or_else(|| panic!("unquoted value in {s:?}"));
            // The closing quote is the first one not escaped.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in body.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    (false, '\n') => panic!("raw line feed in a label value"),
                    _ => {}
                }
            }
            let end = end.unwrap_or_else(|| panic!("unterminated value in {s:?}"));
            assert!(
                labels
                    .insert(key.to_string(), unescape(&body[..end], true))
                    .is_none(),
                "label {key} twice"
            );
            rest = &body[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }

    /// A line-by-line parser of the 0.0.4 text format, strict about what
    /// [`render`] must produce.
    fn parse(text: &str) -> Exposition {
        assert!(text.ends_with('\n'), "output ends with a line feed");
        let mut e = Exposition::default();
        let mut done_families = BTreeSet::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP name text");
                assert!(valid_name(name, true), "metric name {name:?}");
                assert!(
                    e.help
                        .insert(name.to_string(), unescape(help, false))
                        .is_none(),
                    "HELP {name} twice"
                );
                if let Some(prev) = current.replace(name.to_string()) {
                    done_families.insert(prev);
                }
                assert!(
                    !done_families.contains(name),
                    "family {name} is not contiguous"
                );
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').expect("TYPE name type");
                assert_eq!(current.as_deref(), Some(name), "TYPE follows its HELP");
                assert!(
                    e.samples.iter().all(|s| s.name != name),
                    "TYPE {name} after its samples"
                );
                assert!(
                    e.types.insert(name.to_string(), ty.to_string()).is_none(),
                    "TYPE {name} twice"
                );
            } else {
                assert!(
                    !line.starts_with('#') && !line.is_empty(),
                    "unexpected line {line:?}"
                );
                let split = line.find(['{', ' ']).expect("a sample has a value");
                let name = &line[..split];
                assert!(valid_name(name, true), "metric name {name:?}");
                assert_eq!(
                    current.as_deref(),
                    Some(name),
                    "sample {name} outside its family"
                );
                let (labels, rest) = match line[split..].strip_prefix('{') {
                    Some(l) => parse_labels(l),
                    None => (BTreeMap::new(), &line[split..]),
                };
                let value = rest.strip_prefix(' ').expect("space before the value");
                let value: f64 = value.parse().unwrap_or_else(|_| panic!("value {value:?}"));
                e.samples.push(Sample {
                    name: name.to_string(),
                    labels,
                    value,
                });
            }
        }
        let mut series = BTreeSet::new();
        for s in &e.samples {
            assert!(
                series.insert((s.name.clone(), s.labels.clone())),
                "duplicate series {s:?}"
            );
        }
        e
    }

    fn port(name: &str, instance_id: &str, base: u64) -> PortStats {
        PortStats {
            port: name.to_string(),
            instance_id: instance_id.to_string(),
            rx_packets: base + 1,
            rx_bytes: base + 2,
            tx_packets: base + 3,
            tx_bytes: base + 4,
            dropped: base + 5,
            flow_cache_hits: base + 6,
            conntrack_refused: base + 7,
            kernel_dropped: base + 8,
            connections: base + 9,
        }
    }

    fn counters() -> Counters {
        Counters {
            actions: vec![(Action::Forwarded, 42), (Action::ArpReplied, 7)],
            drops: DropReason::ALL
                .iter()
                .map(|r| (*r, if *r == DropReason::NoRoute { 3 } else { 0 }))
                .collect(),
            ports: [(5, PortCounters::default())].into_iter().collect(),
            connections: [(5, 0)].into_iter().collect(),
        }
    }

    fn value(e: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        e.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .unwrap_or_else(|| panic!("no sample {name} {want:?}"))
            .value
    }

    #[test]
    fn metrics_every_family_is_a_vpc_counter_or_gauge_with_help_and_type() {
        let tables = TableUse {
            connections: 3,
            nat_mappings: 1,
        };
        let e = parse(&render(
            &counters(),
            &[port("vpc0000beef", "i-1", 0)],
            Some(&tables),
        ));
        assert_eq!(
            e.help.keys().collect::<Vec<_>>(),
            e.types.keys().collect::<Vec<_>>()
        );
        for (name, ty) in &e.types {
            assert!(name.starts_with("vpc_"), "{name}");
            let counter = name.ends_with("_total");
            assert_eq!(ty, if counter { "counter" } else { "gauge" }, "{name}");
            assert!(!e.help[name].is_empty(), "{name} has help");
        }
        for s in &e.samples {
            assert!(e.types.contains_key(&s.name), "{} has a TYPE", s.name);
        }
    }

    #[test]
    fn metrics_health_of_each_checked_server_by_status_and_result() {
        use crate::apply::health::Tracker;
        use crate::compile::ServerKey;
        let health = [ServerHealth {
            key: ServerKey {
                group_id: "sgp-1".into(),
                ip: std::net::Ipv4Addr::new(10, 0, 2, 11),
                port: 8080,
            },
            tracker: Tracker {
                status: HealthStatus::Unavailable,
                checks_ok: 5,
                checks_failed: 2,
                ..Tracker::default()
            },
        }];
        let e = parse(&render_with_health(&counters(), &[], None, &health));
        let server = [
            ("server_group_id", "sgp-1"),
            ("server_ip", "10.0.2.11"),
            ("port", "8080"),
        ];
        let with = |k: &'static str, v: &'static str| {
            let mut l = server.to_vec();
            l.push((k, v));
            l
        };
        for (status, want) in [("Initial", 0.0), ("Available", 0.0), ("Unavailable", 1.0)] {
            let l = with("status", status);
            assert_eq!(
                value(&e, "vpc_nlb_server_health_status", &l),
                want,
                "{status}"
            );
        }
        let ok = with("result", "success");
        assert_eq!(value(&e, "vpc_nlb_health_checks_total", &ok), 5.0);
        let failed = with("result", "failure");
        assert_eq!(value(&e, "vpc_nlb_health_checks_total", &failed), 2.0);
        // No checked server: the families are there, without samples.
        let e = parse(&render(&counters(), &[], None));
        assert_eq!(e.types["vpc_nlb_server_health_status"], "gauge");
        assert!(!e.samples.iter().any(|s| s.name.starts_with("vpc_nlb_")));
    }

    #[test]
    fn metrics_one_family_per_action_with_its_count() {
        let e = parse(&render(&counters(), &[], None));
        assert_eq!(value(&e, "vpc_forwarded_packets_total", &[]), 42.0);
        assert_eq!(value(&e, "vpc_arp_replies_total", &[]), 7.0);
        let names: BTreeSet<&str> = Action::ALL.iter().map(|a| action_family(*a).0).collect();
        assert_eq!(names.len(), Action::ALL.len(), "distinct names");
    }

    #[test]
    fn metrics_every_drop_reason_is_present_zeros_included() {
        for c in [counters(), Counters::default()] {
            let e = parse(&render(&c, &[], None));
            let reasons: Vec<&str> = e
                .samples
                .iter()
                .filter(|s| s.name == "vpc_dropped_packets_total")
                .map(|s| s.labels["reason"].as_str())
                .collect();
            let all: Vec<&str> = DropReason::ALL.iter().map(|r| r.name()).collect();
            assert_eq!(reasons, all);
            for r in DropReason::ALL {
                assert_eq!(
                    value(&e, "vpc_dropped_packets_total", &[("reason", r.name())]),
                    c.dropped(r) as f64
                );
            }
        }
        let e = parse(&render(&counters(), &[], None));
        assert_eq!(
            value(&e, "vpc_dropped_packets_total", &[("reason", "no_route")]),
            3.0
        );
        assert_eq!(
            value(
                &e,
                "vpc_dropped_packets_total",
                &[("reason", "redirect_failed")]
            ),
            0.0
        );
    }

    #[test]
    fn metrics_ports_are_labelled_with_port_eni_and_instance() {
        let ports = [
            port("vpc0000beef", "i-1", 0),
            port("vpc0000cafe", "i-fw", 100),
        ];
        let e = parse(&render(&counters(), &ports, None));
        let one = [
            ("port", "vpc0000beef"),
            ("eni_id", "eni-1"),
            ("instance_id", "i-1"),
        ];
        let fw = [
            ("port", "vpc0000cafe"),
            ("eni_id", "eni-fw"),
            ("instance_id", "i-fw"),
        ];
        for (i, (name, _, _)) in PORT_FAMILIES.iter().enumerate() {
            assert_eq!(value(&e, name, &one), (i + 1) as f64, "{name}");
            assert_eq!(value(&e, name, &fw), (100 + i + 1) as f64, "{name}");
            assert_eq!(e.samples.iter().filter(|s| s.name == *name).count(), 2);
        }
        // With no port, the families are still declared.
        let e = parse(&render(&counters(), &[], None));
        assert!(e.types.contains_key("vpc_port_rx_packets_total"));
    }

    #[test]
    fn metrics_connection_and_nat_table_use_beside_capacity() {
        let tables = TableUse {
            connections: 1234,
            nat_mappings: 56,
        };
        let e = parse(&render(&counters(), &[], Some(&tables)));
        assert_eq!(value(&e, "vpc_conntrack_entries", &[]), 1234.0);
        assert_eq!(
            value(&e, "vpc_conntrack_entries_max", &[]),
            vpc_common::MAX_CONNECTIONS as f64
        );
        assert_eq!(value(&e, "vpc_nat_mappings", &[]), 56.0);
        assert_eq!(
            value(&e, "vpc_nat_mappings_max", &[]),
            vpc_common::MAX_NAT_MAPPINGS as f64
        );
        assert_eq!(e.types["vpc_conntrack_entries"], "gauge");
        // Before the first sweep nothing is claimed.
        let e = parse(&render(&counters(), &[], None));
        assert!(!e.types.contains_key("vpc_conntrack_entries"));
    }

    #[test]
    fn metrics_label_values_are_escaped_and_parse_back() {
        let nasty = "i-a\"b\\c\nd,e}f=g";
        let e = parse(&render(
            &Counters::default(),
            &[port("p\"0\\", nasty, 0)],
            None,
        ));
        let s = e
            .samples
            .iter()
            .find(|s| s.name == "vpc_port_rx_bytes_total")
            .unwrap();
        assert_eq!(s.labels["instance_id"], nasty);
        assert_eq!(s.labels["port"], "p\"0\\");
        assert_eq!(s.labels["eni_id"], "eni-a\"b\\c\nd,e}f=g");
        let text = render(&Counters::default(), &[port("p\"0\\", nasty, 0)], None);
        assert!(
            text.contains(r#"instance_id="i-a\"b\\c\nd,e}f=g""#),
            "{text}"
        );
    }

    #[test]
    fn metrics_text_is_unchanged_by_the_crate() {
        // The exact lines the hand-written renderer produced: names keep
        // `_total` on HELP, TYPE and samples; HELP texts are not altered.
        let tables = TableUse {
            connections: 3,
            nat_mappings: 1,
        };
        let text = render(&counters(), &[port("vpc0000beef", "i-1", 0)], Some(&tables));
        for want in [
            "# HELP vpc_forwarded_packets_total Frames routed and redirected to an egress port.\n\
             # TYPE vpc_forwarded_packets_total counter\n\
             vpc_forwarded_packets_total 42\n",
            "# TYPE vpc_dropped_packets_total counter\nvpc_dropped_packets_total{reason=\"",
            "vpc_dropped_packets_total{reason=\"no_route\"} 3\n",
            "vpc_port_rx_packets_total{port=\"vpc0000beef\",eni_id=\"eni-1\",instance_id=\"i-1\"} 1\n",
            "# HELP vpc_conntrack_entries Connections tracked for security groups, at the last sweep.\n\
             # TYPE vpc_conntrack_entries gauge\n\
             vpc_conntrack_entries 3\n",
        ] {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
        assert!(
            text.starts_with("# HELP vpc_forwarded_packets_total "),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "Prometheus text, not OpenMetrics");
        assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    }
}
