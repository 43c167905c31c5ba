//! `vpc monitor`: streams the datapath's drop and new-connection events,
//! each resolved to the cloud's ids (port, instance, ENI, the security
//! groups or network ACL that decided) through the daemon's
//! `DescribeRouterPorts`; filtered by instance or ENI and by reason; one
//! line per event for people, or one JSON object per line.
use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    net::Ipv4Addr,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use thiserror::Error;
use vpc_common::{DropReason, MONITOR_KIND_DROP, MONITOR_KIND_NEW_CONNECTION, MonitorEvent};

use crate::{
    cli::client::{Client, ClientError},
    datapath::{
        self,
        monitor::{Monitor, MonitorError, MonitorTotals},
    },
};

/// The name of the new-connection event in `--reason` and in the output.
pub const NEW_CONNECTION: &str = "new_connection";

/// Errors of `vpc monitor`.
#[derive(Debug, Error)]
pub enum MonitorCliError {
    /// The daemon did not answer DescribeRouterPorts.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Opening or reading the router's monitor maps failed.
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    /// A `--reason` that is neither a drop reason nor `new_connection`.
    #[error("unknown reason {0:?}: one of {1}")]
    Reason(String, String),
    /// `--instance` or `--eni` names no port of the router.
    #[error("{0} has no port on this router")]
    NoSuchPort(String),
    /// The daemon's answer lacks a field.
    #[error("unexpected DescribeRouterPorts answer: {0}")]
    Answer(String),
}

impl MonitorCliError {
    /// The cloud-style error code.
    pub fn code(&self) -> String {
        match self {
            MonitorCliError::Client(e) => e.code().to_string(),
            MonitorCliError::Reason(..) | MonitorCliError::NoSuchPort(_) => "InvalidParameter".into(),
            MonitorCliError::Monitor(_) | MonitorCliError::Answer(_) => "InternalError".into(),
        }
    }
}

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Router namespace (default: the one the daemon drives).
    pub namespace: Option<String>,
    /// Only events whose ingress or egress port is this instance's.
    pub instance: Option<String>,
    /// Only events whose ingress or egress port is this ENI's.
    pub eni: Option<String>,
    /// Only these reasons (drop reason names, `new_connection`); empty: all.
    pub reasons: Vec<String>,
    /// One JSON object per line.
    pub json: bool,
    /// Stop after this many events shown.
    pub count: Option<u64>,
    /// Events each CPU may write per second.
    pub rate: u32,
    /// Stop after this long.
    pub duration: Option<Duration>,
}

/// A router port as DescribeRouterPorts describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub instance_id: String,
    pub eni_id: String,
    pub security_group_ids: Vec<String>,
    pub network_acl_id: String,
}

/// Ports by ifindex, from a DescribeRouterPorts answer; and the router namespace.
pub fn ports_of(answer: &Value) -> Result<(String, BTreeMap<u32, Port>), MonitorCliError> {
    let ns = answer["RouterNamespace"].as_str().ok_or_else(|| MonitorCliError::Answer(answer.to_string()))?;
    let mut out = BTreeMap::new();
    for p in answer["Ports"].as_array().ok_or_else(|| MonitorCliError::Answer(answer.to_string()))? {
        let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
        let Some(ifindex) = p["Ifindex"].as_u64() else { continue };
        out.insert(
            ifindex as u32,
            Port {
                name: s("Port"),
                instance_id: s("InstanceId"),
                eni_id: s("NetworkInterfaceId"),
                security_group_ids: p["SecurityGroupIds"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
                network_acl_id: s("NetworkAclId"),
            },
        );
    }
    Ok((ns.to_string(), out))
}

/// The reason names `--reason` takes, as event filter codes: a drop
/// reason's index, or `u32::MAX` for a new connection.
pub fn parse_reasons(names: &[String]) -> Result<BTreeSet<u32>, MonitorCliError> {
    let mut out = BTreeSet::new();
    for n in names.iter().flat_map(|n| n.split(',')).map(str::trim).filter(|n| !n.is_empty()) {
        if n == NEW_CONNECTION {
            out.insert(u32::MAX);
            continue;
        }
        let r = DropReason::ALL.iter().find(|r| r.name() == n).ok_or_else(|| {
            let known: Vec<&str> = DropReason::ALL.iter().map(|r| r.name()).chain([NEW_CONNECTION]).collect();
            MonitorCliError::Reason(n.to_string(), known.join(", "))
        })?;
        out.insert(*r as u32);
    }
    Ok(out)
}

/// The filter code of an event (see [`parse_reasons`]).
fn reason_code(e: &MonitorEvent) -> u32 {
    if e.kind == MONITOR_KIND_NEW_CONNECTION { u32::MAX } else { e.reason }
}

/// The event's reason or verdict name.
pub fn reason_name(e: &MonitorEvent) -> &'static str {
    match e.kind {
        MONITOR_KIND_DROP => DropReason::ALL.get(e.reason as usize).map_or("unknown", |r| r.name()),
        MONITOR_KIND_NEW_CONNECTION => NEW_CONNECTION,
        _ => "unknown",
    }
}

fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        n => n.to_string(),
    }
}

/// The port whose policy decided: the receiver's for inbound rules and new
/// connections, the sender's for outbound rules.
fn decider(e: &MonitorEvent) -> Option<u32> {
    if e.policy_id == 0 {
        return None;
    }
    match reason_name(e) {
        "sg_ingress" | "acl_ingress" | NEW_CONNECTION => Some(e.egress),
        "sg_egress" | "acl_egress" => Some(e.ingress),
        _ => None,
    }
}

/// True if `e` passes the filters: `ports` (ingress or egress port among
/// them; `None`: any) and `reasons` (empty: any).
pub fn selected(e: &MonitorEvent, ports: Option<&BTreeSet<u32>>, reasons: &BTreeSet<u32>) -> bool {
    let port_ok = ports.is_none_or(|p| p.contains(&e.ingress) || (e.egress != 0 && p.contains(&e.egress)));
    port_ok && (reasons.is_empty() || reasons.contains(&reason_code(e)))
}

/// An event as one JSON object. `wall_ns` is its time on the real-time clock.
pub fn event_json(e: &MonitorEvent, wall_ns: i64, ports: &BTreeMap<u32, Port>) -> Value {
    let port = |i: u32| -> Value {
        if i == 0 {
            return Value::Null;
        }
        match ports.get(&i) {
            Some(p) => json!({ "Ifindex": i, "Port": p.name, "InstanceId": p.instance_id, "NetworkInterfaceId": p.eni_id }),
            None => json!({ "Ifindex": i }),
        }
    };
    let mut decided = json!({ "PolicyId": e.policy_id });
    if let Some(p) = decider(e).and_then(|i| ports.get(&i)) {
        decided["InstanceId"] = p.instance_id.clone().into();
        decided["NetworkInterfaceId"] = p.eni_id.clone().into();
        if reason_name(e).starts_with("acl_") {
            decided["NetworkAclId"] = p.network_acl_id.clone().into();
        } else {
            decided["SecurityGroupIds"] = p.security_group_ids.clone().into();
        }
    }
    json!({
        "Time": chrono::DateTime::from_timestamp_nanos(wall_ns).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "Event": if e.kind == MONITOR_KIND_DROP { "drop" } else { "accept" },
        "Reason": reason_name(e),
        "Protocol": proto_name(e.proto),
        "Source": Ipv4Addr::from(e.src).to_string(),
        "SourcePort": e.sport,
        "Destination": Ipv4Addr::from(e.dst).to_string(),
        "DestinationPort": e.dport,
        "Ingress": port(e.ingress),
        "Egress": port(e.egress),
        "DecidedBy": decided,
    })
}

/// An event as one line for people.
pub fn event_line(e: &MonitorEvent, wall_ns: i64, ports: &BTreeMap<u32, Port>) -> String {
    let v = event_json(e, wall_ns, ports);
    let side = |s: &Value| match s["Port"].as_str() {
        Some(p) => format!("{p} {} {}", s["InstanceId"].as_str().unwrap_or(""), s["NetworkInterfaceId"].as_str().unwrap_or("")),
        None => s["Ifindex"].as_u64().map_or("-".to_string(), |i| format!("ifindex {i}")),
    };
    let d = &v["DecidedBy"];
    let by = if let Some(acl) = d["NetworkAclId"].as_str() {
        format!(" by {acl} (policy {})", e.policy_id)
    } else if let Some(groups) = d["SecurityGroupIds"].as_array() {
        let g: Vec<&str> = groups.iter().filter_map(|g| g.as_str()).collect();
        format!(" by {} of {} (policy {})", g.join(","), d["InstanceId"].as_str().unwrap_or(""), e.policy_id)
    } else if e.policy_id != 0 {
        format!(" by policy {}", e.policy_id)
    } else {
        String::new()
    };
    format!(
        "{} {} {} {} {}:{} -> {}:{} in [{}] out [{}]{}",
        v["Time"].as_str().unwrap_or(""),
        v["Event"].as_str().unwrap_or(""),
        reason_name(e),
        proto_name(e.proto),
        v["Source"].as_str().unwrap_or(""),
        e.sport,
        v["Destination"].as_str().unwrap_or(""),
        e.dport,
        side(&v["Ingress"]),
        side(&v["Egress"]),
        by
    )
}

/// Set by SIGINT and SIGTERM: the loop ends and the monitor leaves.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns (to date events).
fn wall_offset() -> i64 {
    let wall = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    wall - datapath::monotonic_ns() as i64
}

/// Runs the monitor until `--count` events were shown, `--duration`
/// passed, SIGINT or SIGTERM, or `out` refuses a line; returns the events
/// shown and the router's counts while it ran (all monitors' events).
pub fn run(client: &Client, opts: &Options, out: &mut dyn Write) -> Result<(u64, MonitorTotals), MonitorCliError> {
    let reasons = parse_reasons(&opts.reasons)?;
    let describe = || -> Result<(String, BTreeMap<u32, Port>), MonitorCliError> {
        ports_of(&client.call(crate::service::ROUTER_PORTS, &[])?)
    };
    let (daemon_ns, mut ports) = describe()?;
    let namespace = opts.namespace.clone().unwrap_or(daemon_ns);
    let wanted = |ports: &BTreeMap<u32, Port>| -> Option<BTreeSet<u32>> {
        let (by, id) = match (&opts.instance, &opts.eni) {
            (Some(i), _) => (true, i),
            (None, Some(e)) => (false, e),
            (None, None) => return None,
        };
        Some(ports.iter().filter(|(_, p)| if by { &p.instance_id == id } else { &p.eni_id == id }).map(|(i, _)| *i).collect())
    };
    let mut filter = wanted(&ports);
    if let Some(f) = &filter
        && f.is_empty()
    {
        return Err(MonitorCliError::NoSuchPort(opts.instance.clone().or(opts.eni.clone()).unwrap_or_default()));
    }
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
    let mut monitor = Monitor::start(&namespace, opts.rate)?;
    let before = monitor.maps().totals()?;
    let offset = wall_offset();
    let started = Instant::now();
    let mut shown = 0u64;
    let mut refreshed = Instant::now();
    while !STOP.load(Ordering::SeqCst)
        && opts.count.is_none_or(|c| shown < c)
        && opts.duration.is_none_or(|d| started.elapsed() < d)
    {
        let Some(e) = monitor.maps().next(Duration::from_millis(200))? else { continue };
        // A port added since: ask the daemon again (at most once a second).
        let unknown = |i: u32| i != 0 && !ports.contains_key(&i);
        if (unknown(e.ingress) || unknown(e.egress)) && refreshed.elapsed() > Duration::from_secs(1) {
            refreshed = Instant::now();
            if let Ok((_, p)) = describe() {
                ports = p;
                if filter.is_some() {
                    filter = wanted(&ports);
                }
            }
        }
        if !selected(&e, filter.as_ref(), &reasons) {
            continue;
        }
        let wall = e.time_ns as i64 + offset;
        let line = if opts.json { event_json(&e, wall, &ports).to_string() } else { event_line(&e, wall, &ports) };
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            break;
        }
        shown += 1;
    }
    let after = monitor.maps().totals()?;
    drop(monitor);
    let totals = MonitorTotals {
        written: after.written.saturating_sub(before.written),
        suppressed: after.suppressed.saturating_sub(before.suppressed),
        lost: after.lost.saturating_sub(before.lost),
    };
    Ok((shown, totals))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> BTreeMap<u32, Port> {
        ports_of(&json!({
            "RouterNamespace": "rt",
            "Ports": [
                { "Port": "eniA", "Ifindex": 5, "InstanceId": "i-web", "NetworkInterfaceId": "eni-web",
                  "SecurityGroupIds": ["sg-web"], "NetworkAclId": "" },
                { "Port": "eniB", "Ifindex": 7, "InstanceId": "i-app", "NetworkInterfaceId": "eni-app",
                  "SecurityGroupIds": ["sg-app", "sg-all"], "NetworkAclId": "nacl-1" },
            ]
        }))
        .unwrap()
        .1
    }

    fn refused_ping() -> MonitorEvent {
        MonitorEvent {
            time_ns: 1,
            ingress: 5,
            egress: 7,
            vpc_id: 3,
            kind: MONITOR_KIND_DROP,
            reason: DropReason::SgIngress as u32,
            policy_id: 99,
            src: [10, 0, 1, 10],
            dst: [10, 0, 2, 10],
            sport: 42,
            dport: 42,
            proto: 1,
            flags: 8,
            pad: [0; 2],
        }
    }

    #[test]
    fn an_inbound_drop_names_the_receivers_groups_and_both_ports() {
        let v = event_json(&refused_ping(), 0, &ports());
        assert_eq!(v["Reason"], "sg_ingress");
        assert_eq!(v["Protocol"], "icmp");
        assert_eq!(v["Source"], "10.0.1.10");
        assert_eq!(v["Destination"], "10.0.2.10");
        assert_eq!(v["Ingress"]["InstanceId"], "i-web");
        assert_eq!(v["Egress"]["NetworkInterfaceId"], "eni-app");
        assert_eq!(v["DecidedBy"]["InstanceId"], "i-app");
        assert_eq!(v["DecidedBy"]["SecurityGroupIds"], json!(["sg-app", "sg-all"]));
        assert_eq!(v["DecidedBy"]["PolicyId"], 99);
        let line = event_line(&refused_ping(), 0, &ports());
        assert!(line.contains("drop sg_ingress icmp 10.0.1.10:42 -> 10.0.2.10:42"), "{line}");
        assert!(line.contains("by sg-app,sg-all of i-app (policy 99)"), "{line}");
    }

    #[test]
    fn an_outbound_acl_drop_names_the_senders_network_acl() {
        let mut e = refused_ping();
        (e.ingress, e.egress, e.reason) = (7, 5, DropReason::AclEgress as u32);
        let v = event_json(&e, 0, &ports());
        assert_eq!(v["DecidedBy"]["NetworkAclId"], "nacl-1");
        assert_eq!(v["DecidedBy"]["InstanceId"], "i-app");
        assert!(v["DecidedBy"].get("SecurityGroupIds").is_none(), "{v}");
    }

    #[test]
    fn filters_by_port_on_either_side_and_by_reason() {
        let e = refused_ping();
        let none = BTreeSet::new();
        assert!(selected(&e, None, &none));
        assert!(selected(&e, Some(&BTreeSet::from([7])), &none), "the receiver's port");
        assert!(selected(&e, Some(&BTreeSet::from([5])), &none), "the sender's port");
        assert!(!selected(&e, Some(&BTreeSet::from([9])), &none), "another instance");
        let sg_in = parse_reasons(&["sg_ingress".into()]).unwrap();
        assert!(selected(&e, None, &sg_in));
        let others = parse_reasons(&["sg_egress,new_connection".into()]).unwrap();
        assert!(!selected(&e, None, &others));
        let mut accepted = e;
        accepted.kind = MONITOR_KIND_NEW_CONNECTION;
        assert!(selected(&accepted, None, &others));
        assert!(matches!(parse_reasons(&["sg_ingres".into()]), Err(MonitorCliError::Reason(..))));
    }
}
