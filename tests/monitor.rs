//! `vpc monitor` against a running daemon: a ping refused by a security
//! group is streamed with its 5-tuple, ports, instances and the group that
//! decided; a filter by another instance shows none of it; with no monitor
//! running nothing is written to the ring buffer; the last monitor to leave
//! (Ctrl-C included) turns monitoring off.
use std::{
    io::Read,
    net::Ipv4Addr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use vpc_control::datapath::monitor::MonitorMaps;
use vpc_tests::*;

const LAB: &str = include_str!("../vpc-control/examples/lab.toml");
const R: (&str, &str) = ("RegionId", "cn-hangzhou");
const APP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 10);
const WEB: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);

/// The demo lab through the daemon, with app in a security group that lets
/// nothing in (the cloud's default inbound drop): (web, app, db, group).
fn lab_with_closed_app(d: &Daemon) -> (String, String, String, String) {
    let path = d.dir.join("lab.toml");
    std::fs::write(&path, LAB).expect("writing the lab file");
    let report = d.cli_ok(&["apply", "-f", &path.display().to_string()]);
    let id = |k: &str, n: &str| report[k][n].as_str().unwrap_or_else(|| panic!("no {k}.{n} in {report}")).to_string();
    let (web, app, db, vpc) = (id("Instances", "web"), id("Instances", "app"), id("Instances", "db"), id("Vpcs", "lab"));
    let sg = d.call("CreateSecurityGroup", &[R, ("VpcId", &vpc)])["SecurityGroupId"].as_str().expect("SecurityGroupId").to_string();
    let eni = vpc_control::model::eni_id_of(&app);
    d.call("ModifyNetworkInterfaceAttribute", &[R, ("NetworkInterfaceId", &eni), ("SecurityGroupId.1", &sg)]);
    (web, app, db, sg)
}

/// A `vpc monitor` process, killed on drop if still running.
struct MonitorProc(Option<Child>);

impl MonitorProc {
    fn spawn(d: &Daemon, args: &[&str]) -> Self {
        let child = Command::new(vpc_binary())
            .arg("--socket")
            .arg(d.socket())
            .arg("monitor")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting vpc monitor: {e}"));
        MonitorProc(Some(child))
    }

    fn pid(&self) -> i32 {
        self.0.as_ref().expect("running").id() as i32
    }

    /// Sends SIGINT (Ctrl-C).
    fn interrupt(&self) {
        // SAFETY: a signal to our own child process.
        assert_eq!(unsafe { libc::kill(self.pid(), libc::SIGINT) }, 0);
    }

    /// Waits (at most `limit`) for the process to end: success, stdout, stderr.
    fn wait(mut self, limit: Duration) -> (bool, String, String) {
        let mut c = self.0.take().expect("running");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = c.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("vpc monitor did not end within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (mut out, mut err) = (String::new(), String::new());
        c.stdout.take().expect("stdout").read_to_string(&mut out).expect("stdout");
        c.stderr.take().expect("stderr").read_to_string(&mut err).expect("stderr");
        (status.success(), out, err)
    }
}

impl Drop for MonitorProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits until monitoring is `on` (or off) in the router's MONITOR_CONFIG.
fn wait_monitoring(d: &Daemon, on: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let enabled = MonitorMaps::open(&d.namespace).and_then(|m| m.config()).map(|c| c.enabled != 0);
        if enabled.as_ref().is_ok_and(|e| *e == on) {
            return;
        }
        assert!(Instant::now() < deadline, "monitoring never became {on}: {enabled:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sg_ingress_drops(d: &Daemon) -> u64 {
    d.call("DescribeRouterStats", &[])["Drops"]["sg_ingress"].as_u64().unwrap_or(0)
}

/// The port of `instance` in DescribeRouterPorts.
fn port_of(d: &Daemon, instance: &str) -> Value {
    let ports = d.call("DescribeRouterPorts", &[]);
    ports["Ports"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["InstanceId"] == instance).cloned())
        .unwrap_or_else(|| panic!("no port of {instance} in {ports}"))
}

#[test]
fn a_ping_refused_by_a_security_group_shows_in_vpc_monitor_with_its_5_tuple_ports_and_group() {
    let d = Daemon::start();
    let (web, app, _db, sg) = lab_with_closed_app(&d);
    let m = MonitorProc::spawn(&d, &["--json", "--count", "3", "--reason", "sg_ingress"]);
    wait_monitoring(&d, true);
    let before = sg_ingress_drops(&d);
    assert_eq!(ping_replies(&web, APP, 4), 0, "app's group let web's ping in");
    assert!(sg_ingress_drops(&d) >= before + 3, "the pings were not dropped by sg_ingress");
    let (ok, out, err) = m.wait(Duration::from_secs(10));
    assert!(ok, "vpc monitor failed: {out}{err}");
    let events: Vec<Value> =
        out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert_eq!(events.len(), 3, "--count 3: {out}");
    let app_port = port_of(&d, &app);
    let web_port = port_of(&d, &web);
    let policy = app_port["Policies"]["SgIngress"].as_u64().expect("SgIngress");
    assert_ne!(policy, 0, "app has an inbound policy: {app_port}");
    for e in &events {
        assert_eq!(e["Event"], "drop", "{e}");
        assert_eq!(e["Reason"], "sg_ingress", "{e}");
        assert_eq!(e["Protocol"], "icmp", "{e}");
        assert_eq!(e["Source"], WEB.to_string(), "{e}");
        assert_eq!(e["Destination"], APP.to_string(), "{e}");
        assert_eq!(e["SourcePort"], e["DestinationPort"], "ICMP echo: the identifier both ways: {e}");
        assert_eq!(e["Ingress"]["InstanceId"], web.as_str(), "{e}");
        assert_eq!(e["Ingress"]["Port"], web_port["Port"], "{e}");
        assert_eq!(e["Ingress"]["NetworkInterfaceId"], vpc_control::model::eni_id_of(&web), "{e}");
        assert_eq!(e["Egress"]["InstanceId"], app.as_str(), "{e}");
        assert_eq!(e["DecidedBy"]["InstanceId"], app.as_str(), "{e}");
        assert_eq!(e["DecidedBy"]["NetworkInterfaceId"], vpc_control::model::eni_id_of(&app), "{e}");
        assert_eq!(e["DecidedBy"]["SecurityGroupIds"], serde_json::json!([sg]), "{e}");
        assert_eq!(e["DecidedBy"]["PolicyId"].as_u64(), Some(policy), "{e}");
        let t = chrono_free_year(e["Time"].as_str().unwrap_or(""));
        assert!(t >= 2024, "event time {e}");
    }
    // Echo requests of one ping run: one identifier.
    assert!(events.windows(2).all(|w| w[0]["SourcePort"] == w[1]["SourcePort"]), "{out}");
    wait_monitoring(&d, false);
}

/// The year of an RFC 3339 time.
fn chrono_free_year(t: &str) -> u32 {
    t.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0)
}

#[test]
fn a_monitor_of_another_instance_shows_none_and_without_a_monitor_nothing_is_written() {
    let d = Daemon::start();
    let (web, _app, db, _sg) = lab_with_closed_app(&d);
    let maps = MonitorMaps::open(&d.namespace).expect("the monitor maps are pinned");
    let m = MonitorProc::spawn(&d, &["--json", "--instance", &db, "--duration", "4"]);
    wait_monitoring(&d, true);
    let written = maps.totals().expect("totals").written;
    assert_eq!(ping_replies(&web, APP, 3), 0);
    let (ok, out, err) = m.wait(Duration::from_secs(15));
    assert!(ok, "vpc monitor failed: {out}{err}");
    assert!(maps.totals().expect("totals").written >= written + 3, "the drops were not written to the ring: {err}");
    assert_eq!(out, "", "a monitor of db showed events of web and app");
    assert!(err.starts_with("0 events shown"), "{err}");

    // Nobody monitors: monitoring is off, the drops are counted and nothing
    // reaches the ring buffer.
    wait_monitoring(&d, false);
    let mut maps = maps;
    while maps.next(Duration::from_millis(100)).expect("ring").is_some() {}
    let (totals, drops) = (maps.totals().expect("totals"), sg_ingress_drops(&d));
    assert_eq!(ping_replies(&web, APP, 3), 0);
    assert!(sg_ingress_drops(&d) >= drops + 3, "the pings were not dropped");
    assert_eq!(maps.totals().expect("totals"), totals, "events were counted with monitoring off");
    assert_eq!(maps.next(Duration::from_millis(300)).expect("ring"), None, "an event was written with monitoring off");
}

#[test]
fn the_last_monitor_to_leave_turns_monitoring_off_also_on_ctrl_c() {
    let d = Daemon::start();
    let (_web, _app, _db, _sg) = lab_with_closed_app(&d);
    let first = MonitorProc::spawn(&d, &["--duration", "60"]);
    wait_monitoring(&d, true);
    let second = MonitorProc::spawn(&d, &["--duration", "1"]);
    let (ok, out, err) = second.wait(Duration::from_secs(15));
    assert!(ok, "the second monitor failed: {out}{err}");
    std::thread::sleep(Duration::from_millis(300));
    let config = MonitorMaps::open(&d.namespace).and_then(|m| m.config()).expect("config");
    assert_eq!(config.enabled, 1, "the second monitor's exit switched the first one off");
    first.interrupt();
    let (ok, out, err) = first.wait(Duration::from_secs(10));
    assert!(ok, "Ctrl-C: the monitor did not end cleanly: {out}{err}");
    wait_monitoring(&d, false);
}

#[test]
fn a_new_connection_a_group_accepts_shows_as_accepted_with_the_group_that_let_it_in() {
    let d = Daemon::start();
    let (web, app, _db, sg) = lab_with_closed_app(&d);
    d.call("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("IpProtocol", "icmp"), ("PortRange", "-1/-1"), ("SourceCidrIp", "10.0.1.0/24")]);
    let m = MonitorProc::spawn(&d, &["--json", "--count", "1", "--reason", "new_connection", "--instance", &app]);
    wait_monitoring(&d, true);
    assert!(ping(&web, APP, 2), "the group now lets web's ping in");
    let (ok, out, err) = m.wait(Duration::from_secs(10));
    assert!(ok, "vpc monitor failed: {out}{err}");
    let e: Value = serde_json::from_str(out.trim()).unwrap_or_else(|x| panic!("not one JSON event ({x}): {out}"));
    assert_eq!(e["Event"], "accept", "{e}");
    assert_eq!(e["Reason"], "new_connection", "{e}");
    assert_eq!(e["Protocol"], "icmp", "{e}");
    assert_eq!(e["Source"], WEB.to_string(), "{e}");
    assert_eq!(e["Destination"], APP.to_string(), "{e}");
    assert_eq!(e["Ingress"]["InstanceId"], web.as_str(), "{e}");
    assert_eq!(e["Egress"]["InstanceId"], app.as_str(), "{e}");
    assert_eq!(e["DecidedBy"]["SecurityGroupIds"], serde_json::json!([sg]), "{e}");
    let policy = port_of(&d, &app)["Policies"]["SgIngress"].as_u64();
    assert_eq!(e["DecidedBy"]["PolicyId"].as_u64(), policy, "{e}");
}
