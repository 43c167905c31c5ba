//! Faults repaired, never leaked (issue 18, item 4): a daemon killed at
//! every step of creating and deleting an instance comes back with exactly
//! what its model says in the kernel (namespaces, veths, pins, maps);
//! interfaces and namespaces deleted behind a running daemon's back are
//! made again without an API call, touching no other instance; a full disk
//! refuses writes with the cloud's error and takes them again once there is
//! space, without a restart.
use std::{
    collections::BTreeSet,
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use serde_json::Value;
use vpc_control::{apply, netns, topology};
use vpc_tests::*;

const LAB: &str = include_str!("../vpc-control/examples/lab.toml");
const R: (&str, &str) = ("RegionId", "cn-hangzhou");

fn addr(s: &str) -> Ipv4Addr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Builds the demo lab through the daemon: (web, app, db) instance ids and
/// the app vSwitch.
fn lab(d: &Daemon) -> ([String; 3], String) {
    let path = d.dir.join("lab.toml");
    std::fs::write(&path, LAB).expect("writing the lab file");
    let report = d.cli_ok(&["apply", "-f", &path.display().to_string()]);
    let id = |n: &str| report["Instances"][n].as_str().unwrap_or_else(|| panic!("no {n} in {report}")).to_string();
    let vsw = report["VSwitches"]["app"].as_str().unwrap_or_else(|| panic!("no vSwitch app in {report}")).to_string();
    ([id("web"), id("app"), id("db")], vsw)
}

/// Restarts `d` with the fault hook set to `step` and runs `call`: true if
/// the daemon died at the step (checked in its log), false if the call
/// passed without reaching it. Either way `d` is running again, without
/// the hook, after.
fn killed_at(d: &mut Daemon, step: &str, call: impl FnOnce(&Daemon) -> bool) -> bool {
    d.kill9();
    d.spawn(&[(apply::fault::ENV, step)]);
    let passed = call(d);
    let log = d.log(d.starts());
    let killed = log.contains(&format!("killed at {step}"));
    assert!(passed != killed, "{step}: the call passed: {passed}, the daemon died there: {killed}\n{log}");
    d.kill9();
    d.spawn(&[]);
    killed
}

/// After a restart: the kernel is the model, every acknowledged instance
/// (`acked`, but `unsure`, whose change was cut) is listed, and web pings
/// db and every other listed instance. The instances beyond the lab are
/// then deleted (cleanly) and forgotten.
fn check_restart(d: &Daemon, what: &str, lab: &[String; 3], acked: &mut BTreeSet<String>, unsure: Option<&str>) {
    assert_kernel_is_model(d, what);
    let listed = instances(d);
    let ids: BTreeSet<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
    for id in acked.iter().filter(|id| Some(id.as_str()) != unsure) {
        assert!(ids.contains(id.as_str()), "{what}: acknowledged instance {id} lost");
    }
    assert!(ids.len() <= acked.len() + 1, "{what}: {ids:?} listed, {acked:?} acknowledged");
    assert_eq!(ping_replies(&lab[0], addr("10.0.2.20"), 3), 3, "{what}: web does not ping db");
    for (id, ip) in listed.iter().filter(|(id, _)| !lab.contains(id)) {
        assert_eq!(ping_replies(&lab[0], addr(ip), 3), 3, "{what}: web does not ping {id} ({ip}), kept by the restart");
        d.call("DeleteInstance", &[("InstanceId", id)]);
        acked.remove(id);
    }
    assert_kernel_is_model(d, &format!("{what}, then deleting what it kept"));
}

/// kill -9 at each step of RunInstances and of DeleteInstance (a fault
/// hook in the daemon kills itself there), then a restart: the kernel
/// holds exactly what the model says, every acknowledged instance is kept
/// (and pings), and nothing the model does not own is left.
#[test]
fn hardening_kill_9_at_every_step_of_create_and_delete_instance_leaves_kernel_equal_to_model() {
    if !cfg!(debug_assertions) {
        eprintln!("skipped: the fault hook is compiled into debug builds only");
        return;
    }
    let mut d = Daemon::start();
    let (lab_ids, vsw) = lab(&d);
    assert_kernel_is_model(&d, "after the lab");
    let mut acked: BTreeSet<String> = lab_ids.iter().cloned().collect();
    let run = |d: &Daemon, name: &str| {
        d.client()
            .call("RunInstances", &[R, ("VSwitchId", &vsw), ("InstanceName", name)])
            .map(|v| v["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string())
    };
    for (n, step) in apply::fault::STEPS.iter().enumerate() {
        // RunInstances cut at the step.
        let mut created = None;
        let create_cut = killed_at(&mut d, step, |d| {
            created = run(d, &format!("new{n}")).ok();
            created.is_some()
        });
        acked.extend(created);
        check_restart(&d, &format!("RunInstances cut at {step}"), &lab_ids, &mut acked, None);
        // DeleteInstance of an acknowledged instance cut at the step.
        let victim = run(&d, &format!("old{n}")).expect("RunInstances");
        acked.insert(victim.clone());
        let delete_cut =
            killed_at(&mut d, step, |d| d.client().call("DeleteInstance", &[("InstanceId", &victim)]).is_ok());
        if !delete_cut {
            acked.remove(&victim);
        }
        check_restart(&d, &format!("DeleteInstance cut at {step}"), &lab_ids, &mut acked, Some(&victim));
        acked.remove(&victim);
        assert!(create_cut || delete_cut, "{step} is reached by neither RunInstances nor DeleteInstance");
    }
}

/// ifindex of the router port and inode of the namespace of an instance.
fn identity(d: &Daemon, inst: &str) -> (u32, u64) {
    use std::os::unix::fs::MetadataExt;
    let port = apply::router_ports(&d.namespace)
        .unwrap()
        .into_iter()
        .find(|p| p.instance_id == inst)
        .unwrap_or_else(|| panic!("no router port of {inst}"));
    let ino = std::fs::metadata(std::path::Path::new("/run/netns").join(inst)).map(|m| m.ino()).unwrap_or(0);
    (port.ifindex, ino)
}

/// Runs `wreck` under the running daemon, with no API call after it: db
/// must ping web again within seconds, web and app keep their ports and
/// namespaces (same ifindex and inode) and lose no ping meanwhile.
fn repaired_without_a_change(d: &Daemon, [web, app, db]: &[String; 3], what: &str, wreck: impl FnOnce()) {
    assert_eq!(ping_replies(db, addr("10.0.1.10"), 2), 2, "{what}: db cannot ping web before");
    let before = (identity(d, web), identity(d, app));
    let pinger = {
        let web = web.clone();
        std::thread::spawn(move || ping_replies(&web, addr("10.0.2.10"), 30))
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    wreck();
    let deadline = started + Duration::from_secs(10);
    while !(netns::exists(db) && ping(db, addr("10.0.1.10"), 1)) {
        assert!(Instant::now() < deadline, "{what}: db does not ping web 10 s later, with no change:\n{}", d.log(1));
    }
    let took = started.elapsed();
    assert_eq!(ping_replies(db, addr("10.0.1.10"), 3), 3, "{what}: db does not ping web steadily:\n{}", d.log(1));
    assert_eq!(ping_replies(web, addr("10.0.2.20"), 3), 3, "{what}: web does not ping db");
    assert_eq!((identity(d, web), identity(d, app)), before, "{what}: web's or app's port or namespace was touched");
    assert_eq!(pinger.join().unwrap(), 30, "{what}: web lost pings to app meanwhile");
    assert!(d.log(1).contains("behind the daemon's back: made again now"), "{what}: no repair logged:\n{}", d.log(1));
    assert_kernel_is_model(d, what);
    eprintln!("{what}: repaired in {took:?}");
}

/// An instance's namespace, then its veth (the router end, then the
/// instance end), deleted under a running daemon: each noticed from the
/// kernel's events and made again without an API change, no other
/// instance touched.
#[test]
fn hardening_a_namespace_or_veth_deleted_under_the_running_daemon_is_made_again_without_a_change() {
    let d = Daemon::start();
    let (ids, _) = lab(&d);
    let db = ids[2].clone();
    repaired_without_a_change(&d, &ids, "db's namespace deleted", || {
        netns::ip(&["netns", "del", &db]).expect("deleting db's namespace");
    });
    let port = apply::router_ports(&d.namespace).unwrap().into_iter().find(|p| p.instance_id == db).unwrap().name;
    repaired_without_a_change(&d, &ids, "db's router port deleted", || {
        netns::ip(&["-n", &d.namespace, "link", "del", &port]).expect("deleting db's router port");
    });
    repaired_without_a_change(&d, &ids, "db's eth0 deleted", || {
        netns::ip(&["-n", &db, "link", "del", "eth0"]).expect("deleting db's eth0");
    });
}

/// The router namespace deleted under a running daemon: made again with
/// every port, without an API change.
#[test]
fn hardening_the_router_namespace_deleted_under_the_running_daemon_is_made_again_without_a_change() {
    let d = Daemon::start();
    let ([web, _, db], _) = lab(&d);
    assert_eq!(ping_replies(&web, addr("10.0.2.20"), 2), 2, "web cannot ping db before");
    netns::ip(&["netns", "del", &d.namespace]).expect("deleting the router namespace");
    let deadline = Instant::now() + Duration::from_secs(10);
    // Every port is made again (meanwhile the old namespace may still
    // forward): wait for the repair, then until both ends answer.
    while !d.log(1).contains("the kernel is the model again") {
        assert!(Instant::now() < deadline, "no repair logged 10 s later:\n{}", d.log(1));
        std::thread::sleep(Duration::from_millis(50));
    }
    while !(ping(&db, addr("10.0.1.10"), 1) && ping(&web, addr("10.0.2.20"), 1)) {
        assert!(Instant::now() < deadline, "db and web do not ping 10 s later, with no change:\n{}", d.log(1));
    }
    assert_eq!(ping_replies(&web, addr("10.0.2.20"), 3), 3, "web does not ping db steadily:\n{}", d.log(1));
    assert_kernel_is_model(&d, "router namespace deleted");
    // The internet's namespace too: made again with its end of the uplink.
    let internet = vpc_control::model::Internet::namespace(&d.namespace);
    let repairs = || d.log(1).matches("the kernel is the model again").count();
    let before = repairs();
    netns::ip(&["netns", "del", &internet]).expect("deleting the internet's namespace");
    let deadline = Instant::now() + Duration::from_secs(10);
    while repairs() == before {
        assert!(Instant::now() < deadline, "no repair 10 s after the internet's namespace went:\n{}", d.log(1));
        std::thread::sleep(Duration::from_millis(50));
    }
    let inet = netns::links(&internet).unwrap_or_else(|e| panic!("the internet's namespace is not back: {e}"));
    assert!(
        inet.iter().any(|l| l.ifname == topology::INTERNET_IFNAME),
        "no {} in {internet}",
        topology::INTERNET_IFNAME
    );
    assert_eq!(ping_replies(&web, addr("10.0.2.20"), 3), 3, "web does not ping db after the internet's repair");
    assert_kernel_is_model(&d, "internet namespace deleted");
}

/// A tmpfs mounted for a test, unmounted (lazily: a daemon may still hold
/// it) on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Self {
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("running mount");
        assert!(st.success(), "mounting a tmpfs on {}", at.display());
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros to `path` until its file system is full.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("creating the filler");
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).and_then(|_| f.sync_all()).is_ok() {}
}

/// ModifyVpcAttribute over signed HTTP: status and JSON.
fn modify(d: &Daemon, vpc: &str, desc: &str) -> (u16, Value) {
    http_call(d, "ModifyVpcAttribute", &[R, ("VpcId", vpc), ("Description", desc)], Some(Signing::default()))
}

/// CreateVSwitch with a client token of its own (a record the store keeps
/// a day): each one takes more room on the disk.
fn modify_with_token(d: &Daemon, vpc: &str, desc: &str) -> (u16, Value) {
    // One token per description, of the most characters the cloud takes
    // (64): each change adds a record.
    let digest = desc.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let token = format!("{digest:016x}{}", "t".repeat(48));
    let params = [R, ("VpcId", vpc), ("Description", desc), ("ClientToken", token.as_str())];
    http_call(d, "ModifyVpcAttribute", &params, Some(Signing::default()))
}

/// The description of the only VPC.
fn description(d: &Daemon) -> String {
    let v = d.call("DescribeVpcs", &[R]);
    v["Vpcs"]["Vpc"][0]["Description"].as_str().unwrap_or_default().to_string()
}

/// The state directory's disk full: a change is refused with the cloud's
/// 503 ServiceUnavailable (JSON, RequestId), nothing acknowledged is lost,
/// and once there is space again the next change succeeds without a
/// restart (and is durable across a kill -9).
#[test]
fn hardening_a_full_disk_refuses_changes_with_503_and_takes_them_again_once_there_is_space() {
    let mut d = Daemon::start();
    d.kill9();
    // A new state directory on a small file system of its own (redb grows
    // its file sparse: pages are allocated as they are written).
    let state = d.state_dir();
    std::fs::remove_dir_all(&state).unwrap();
    std::fs::create_dir(&state).unwrap();
    let mount = Tmpfs::mount(&state, "8m");
    d.spawn(&[]);
    let vpc = d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")])["VpcId"].as_str().unwrap().to_string();
    let mut acked = String::new();
    for i in 0..3 {
        let desc = format!("acked-{i}");
        assert_eq!(modify(&d, &vpc, &desc).0, 200);
        acked = desc;
    }
    fill(&state.join("filler"));
    // Changes (each taking more room) until one is refused, twice: the
    // store is reopened after a failure and refuses again, never a 500;
    // meanwhile reads show the last acknowledged change.
    let mut n = 0;
    for round in 0..2 {
        let (status, body) = loop {
            n += 1;
            assert!(n < 5000, "5000 changes taken on a full disk:\n{}", d.log(2));
            let desc = format!("while-full-{n}-{}", "x".repeat(200));
            match modify_with_token(&d, &vpc, &desc) {
                (200, _) => acked = desc,
                other => break other,
            }
        };
        assert_eq!(status, 503, "round {round}: a change on a full disk: {body}\n{}", d.log(2));
        assert_eq!(body["Code"], "ServiceUnavailable", "{body}");
        assert!(body["RequestId"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
        assert!(body["Message"].as_str().is_some_and(|m| m.contains("disk")), "{body}");
        let (status, body) = http_call(&d, "DescribeVpcs", &[R], Some(Signing::default()));
        match status {
            200 => assert_eq!(body["Vpcs"]["Vpc"][0]["Description"].as_str(), Some(acked.as_str()), "round {round}"),
            _ => assert_eq!((status, &body["Code"]), (503, &Value::from("ServiceUnavailable")), "{body}"),
        }
    }
    // Space again: the next change is taken, without a restart.
    std::fs::remove_file(state.join("filler")).unwrap();
    let (status, body) = modify_with_token(&d, &vpc, "after");
    assert_eq!(status, 200, "a change once there is space again: {body}\n{}", d.log(2));
    assert_eq!(description(&d), "after");
    d.kill9();
    d.spawn(&[]);
    assert_eq!(description(&d), "after", "the change taken after the recovery was lost by a kill -9");
    assert_eq!(modify(&d, &vpc, "and-again").0, 200);
    d.kill9();
    drop(mount);
}

/// Left by a crash (or by hand) while the daemon was stopped: a veth named
/// as a router port that no instance is recorded on, and a namespace that
/// another router recorded as its own. The restart removes the first and
/// leaves the second, and the namespace the veth went to, alone; so does
/// `vpc purge`.
#[test]
fn hardening_start_up_removes_unowned_router_ports_and_leaves_another_routers_namespaces() {
    let mut d = Daemon::start();
    let ([web, _, _], _) = lab(&d);
    d.kill9();
    let outside = ScratchNs::new("vpc-outside");
    let stray = format!("{}{:08x}", topology::PORT_PREFIX, fastrand::u32(..));
    netns::ip(&[
        "-n",
        &d.namespace,
        "link",
        "add",
        &stray,
        "type",
        "veth",
        "peer",
        "name",
        "eth9",
        "netns",
        &outside.0,
    ])
    .expect("making a stray port");
    let other_router = unique("vpc-other-rt");
    struct Records(String);
    impl Drop for Records {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(apply::claims_dir(&self.0));
        }
    }
    let _records = Records(other_router.clone());
    let theirs = ScratchNs(unique("i-theirs"));
    apply::claim_namespace(&other_router, &theirs.0).expect("recording the other router's namespace");
    netns::add(&theirs.0).unwrap();
    d.spawn(&[]);
    assert_kernel_is_model(&d, "restart after a stray port");
    assert!(d.log(2).contains("removing a router port no instance has"), "{}", d.log(2));
    assert!(netns::exists(&theirs.0), "the restart removed another router's namespace");
    assert!(netns::exists(&outside.0), "the restart removed a namespace it does not own");
    assert_eq!(ping_replies(&web, addr("10.0.2.20"), 3), 3, "web does not ping db after the restart");
    d.kill9();
    d.cli_ok(&["purge", "--namespace", &d.namespace]);
    assert!(!netns::exists(&web), "purge left an instance namespace");
    assert!(netns::exists(&theirs.0), "purge removed another router's namespace");
}
