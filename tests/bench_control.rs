//! `cargo bench -p vpc-tests --bench control` (`-- --smoke`, or
//! `VPC_BENCH_SMOKE=1`, for tiny counts): the control plane measured
//! through the daemon's API, as clients use it. A `vpc daemon` (release
//! build, its own router namespace and state directory) is started; every
//! call goes over its Unix socket (one kept HTTP/1.1 connection per client, the
//! `vpc` command line's client); every change is written to the maps and
//! is on disk (redb, fsync'd) before its reply. Changes are serialised by
//! the daemon, their fsyncs are not: one fsync makes every change committed
//! meanwhile durable (group commit), so concurrent clients share them.
//!
//! Figures (group "control", one value per round):
//!
//! 1. **Bulk apply**: seconds to add 100,000 route entries to a custom route
//!    table, next hop an instance, with `CreateRouteEntries` (50 entries per
//!    call, the cloud's maximum) from 4 concurrent clients; and 10,000
//!    inbound security-group rules on a group an instance is in, with
//!    `AuthorizeSecurityGroup` (100 `Permissions.N` per call, the cloud's
//!    maximum) from one client. Also as entries (rules) per second. Smoke:
//!    500 routes, 100 rules.
//! 2. **Durable actions per second**: `CreateRouteEntry` and
//!    `DeleteRouteEntry` alternately (each a change of its own, on disk before
//!    its reply) on a second custom table, from 1 client and from 4
//!    concurrent clients, on the small model (a VPC, a vSwitch, two instances)
//!    and again with the 100,000 entries in place, then as a ratio per round:
//!    the daemon with the entries and a second daemon with the small model
//!    measured alternately in each of 5 rounds.
//! 3. **Change to enforcement**: the time from the moment the client starts
//!    sending `AuthorizeSecurityGroup` (or `RevokeSecurityGroup`) for one UDP
//!    rule on the server's group to the first frame the datapath judges by
//!    the new rule. A thread in the router namespace runs a UDP frame from
//!    the client instance to the server (a new source port each time, so no
//!    tracked connection decides) through the daemon's own router program
//!    (opened from its pinned link) with BPF_PROG_TEST_RUN, then sleeps 20 µs
//!    (~60-80 µs with timer slack; it sleeps rather than spins, so as not
//!    to take a core from the daemon), until the verdict flips (XDP_DROP <-> XDP_REDIRECT). p50 and p99 over
//!    200 changes (100 of each; smoke: 10). The daemon writes the maps
//!    before it replies, so the flip comes before the reply: the reply's
//!    latency is reported beside it.
use std::{
    borrow::Cow,
    net::Ipv4Addr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use serde_json::Value;
use vpc_control::{
    client::Client,
    model::eni_id_of,
    topology::{ROUTER_MAC, eni_mac},
};
use vpc_tests::{Daemon, bench::Report, l4_frame};

const R: (&str, &str) = ("RegionId", "cn-hangzhou");
const GROUP: &str = "control";
/// Concurrent clients of the multi-client figures.
const CLIENTS: usize = 4;
/// XDP verdicts.
const XDP_DROP: u32 = 1;
const XDP_REDIRECT: u32 = 4;

struct Sizes {
    routes: usize,
    rules: usize,
    actions: usize,
    changes: usize,
    rounds: usize,
}

fn call(c: &Client, action: &str, params: &[(&str, &str)]) -> Value {
    c.call(action, params).unwrap_or_else(|e| panic!("{action}: {e}"))
}

/// Route entry destinations: /24s from 20.0.0.0 on (outside the VPC).
fn destination(k: usize) -> String {
    format!("{}/24", Ipv4Addr::from(0x1400_0000u32 + ((k as u32) << 8)))
}

/// The `vpc` binary the daemon runs, built now in this bench's profile, so
/// the figures are never those of a stale daemon.
fn build_daemon() {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir: PathBuf = exe.parent().and_then(|d| d.parent()).expect("target dir").to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "-p", "vpc-control", "--bin", "vpc"]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    if let Some(target) = profile_dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("building the daemon: {e}"));
    assert!(status.success(), "building the daemon failed");
}

/// The lab: a VPC, a vSwitch, a server (in a security group with no rule)
/// and a client, two custom route tables. Ids by name.
struct Lab {
    fw: String,
    client: String,
    table: String,
    small_table: String,
    group: String,
}

fn build_lab(d: &Daemon) -> Lab {
    let c = d.client();
    let vpc = call(&c, "CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")])["VpcId"].as_str().unwrap().to_string();
    let vsw = call(&c, "CreateVSwitch", &[R, ("VpcId", &vpc), ("ZoneId", "cn-hangzhou-a"), ("CidrBlock", "10.0.1.0/24")])["VSwitchId"]
        .as_str()
        .unwrap()
        .to_string();
    let group = call(&c, "CreateSecurityGroup", &[R, ("VpcId", &vpc)])["SecurityGroupId"].as_str().unwrap().to_string();
    let run = |ip: &str, sg: Option<&str>| {
        let mut p = vec![R, ("VSwitchId", vsw.as_str()), ("PrivateIpAddress", ip), ("ImageId", "any"), ("InstanceType", "any")];
        if let Some(g) = sg {
            p.push(("SecurityGroupId", g));
        }
        call(&c, "RunInstances", &p)["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string()
    };
    let fw = run("10.0.1.10", Some(&group));
    let client = run("10.0.1.20", None);
    let table = call(&c, "CreateRouteTable", &[R, ("VpcId", &vpc)])["RouteTableId"].as_str().unwrap().to_string();
    let small_table = call(&c, "CreateRouteTable", &[R, ("VpcId", &vpc)])["RouteTableId"].as_str().unwrap().to_string();
    Lab { fw, client, table, small_table, group }
}

/// Adds `routes` entries to the lab's table with CreateRouteEntries from
/// [`CLIENTS`] clients; seconds.
fn apply_routes(d: &Daemon, lab: &Lab, routes: usize) -> f64 {
    let batches: Vec<(usize, usize)> = (0..routes).step_by(50).map(|s| (s, (s + 50).min(routes))).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..CLIENTS {
            s.spawn(|| {
                let c = d.client();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(from, to)) = batches.get(i) else { break };
                    let owned: Vec<(String, String)> = (from..to)
                        .enumerate()
                        .flat_map(|(n, k)| {
                            [
                                (format!("RouteEntries.{}.RouteTableId", n + 1), lab.table.clone()),
                                (format!("RouteEntries.{}.DstCidrBlock", n + 1), destination(k)),
                                (format!("RouteEntries.{}.NextHop", n + 1), lab.fw.clone()),
                                (format!("RouteEntries.{}.NextHopType", n + 1), "Instance".into()),
                            ]
                        })
                        .collect();
                    let mut p: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    p.push(R);
                    let r = call(&c, "CreateRouteEntries", &p);
                    assert_eq!(r["SuccessCount"].as_u64(), Some((to - from) as u64), "{r}");
                }
            });
        }
    });
    started.elapsed().as_secs_f64()
}

/// Deletes every custom entry of the lab's table with DeleteRouteEntries
/// (by destination and next hop); seconds.
fn delete_routes(d: &Daemon, lab: &Lab, routes: usize) -> f64 {
    let c = d.client();
    let started = Instant::now();
    for from in (0..routes).step_by(50) {
        let owned: Vec<(String, String)> = (from..(from + 50).min(routes))
            .enumerate()
            .flat_map(|(n, k)| {
                [
                    (format!("RouteEntries.{}.RouteTableId", n + 1), lab.table.clone()),
                    (format!("RouteEntries.{}.DstCidrBlock", n + 1), destination(k)),
                    (format!("RouteEntries.{}.NextHop", n + 1), lab.fw.clone()),
                ]
            })
            .collect();
        let mut p: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        p.push(R);
        let r = call(&c, "DeleteRouteEntries", &p);
        assert_eq!(r["FailedCount"].as_u64(), Some(0), "{r}");
    }
    started.elapsed().as_secs_f64()
}

/// Authorizes `rules` inbound rules (100 per call) on a new group the server
/// joins; seconds. The group is left and deleted afterwards.
fn apply_rules(d: &Daemon, lab: &Lab, vpc_of_group: &str, rules: usize, keep: bool) -> f64 {
    let c = d.client();
    let sg = call(&c, "CreateSecurityGroup", &[R, ("VpcId", vpc_of_group)])["SecurityGroupId"].as_str().unwrap().to_string();
    call(&c, "JoinSecurityGroup", &[R, ("SecurityGroupId", &sg), ("InstanceId", &lab.fw)]);
    let started = Instant::now();
    for from in (0..rules).step_by(100) {
        let owned: Vec<(String, String)> = (from..(from + 100).min(rules))
            .enumerate()
            .flat_map(|(n, k)| {
                let n = n + 1;
                let port = 1024 + (k % 60_000) as u16;
                [
                    (format!("Permissions.{n}.IpProtocol"), if k % 2 == 0 { "TCP" } else { "UDP" }.to_string()),
                    (format!("Permissions.{n}.PortRange"), format!("{port}/{port}")),
                    (format!("Permissions.{n}.SourceCidrIp"), format!("{}/32", Ipv4Addr::from(0x0a00_0000u32 + k as u32 * 7))),
                    (format!("Permissions.{n}.Priority"), (1 + k % 100).to_string()),
                ]
            })
            .collect();
        let mut p: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        p.extend([R, ("SecurityGroupId", sg.as_str())]);
        call(&c, "AuthorizeSecurityGroup", &p);
    }
    let took = started.elapsed().as_secs_f64();
    if !keep {
        call(&c, "LeaveSecurityGroup", &[R, ("SecurityGroupId", &sg), ("InstanceId", &lab.fw)]);
        call(&c, "DeleteSecurityGroup", &[R, ("SecurityGroupId", &sg)]);
    }
    took
}

/// `actions` single changes (CreateRouteEntry, DeleteRouteEntry, ...) on
/// the small table from `clients` clients; actions per second.
fn actions_per_second(d: &Daemon, lab: &Lab, clients: usize, actions: usize) -> f64 {
    let per_client = actions / clients / 2 * 2;
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..clients {
            s.spawn(move || {
                let c = d.client();
                for k in 0..per_client {
                    let dst = format!("{}/32", Ipv4Addr::from(0xc0a8_0000u32 + (w as u32) * 256 + (k / 2 % 200) as u32));
                    if k % 2 == 0 {
                        call(&c, "CreateRouteEntry", &[R, ("RouteTableId", &lab.small_table), ("DestinationCidrBlock", &dst), ("NextHopId", &lab.fw)]);
                    } else {
                        call(&c, "DeleteRouteEntry", &[R, ("RouteTableId", &lab.small_table), ("DestinationCidrBlock", &dst)]);
                    }
                }
            });
        }
    });
    (per_client * clients) as f64 / started.elapsed().as_secs_f64()
}

/// The daemon's router program, XDP or tc (whichever its mode attached).
enum RouterProgram {
    Xdp(aya::programs::Xdp),
    Tc(aya::programs::SchedClassifier),
}

impl RouterProgram {
    /// The verdict for `frame` in on port `ifindex`, as an XDP verdict
    /// (tc: TC_ACT_SHOT is XDP_DROP, TC_ACT_REDIRECT XDP_REDIRECT).
    fn verdict(&self, ifindex: u32, frame: &[u8]) -> u32 {
        match self {
            RouterProgram::Xdp(p) => vpc_tests::test_run(p, ifindex, frame).0,
            RouterProgram::Tc(p) => match vpc_tests::test_run_tc(p, ifindex, frame).0 {
                vpc_tests::TC_ACT_SHOT => XDP_DROP,
                vpc_tests::TC_ACT_REDIRECT => XDP_REDIRECT,
                other => other,
            },
        }
    }
}

/// The daemon's router program, opened from the pinned link of a router port.
fn router_program(namespace: &str) -> RouterProgram {
    let links = PathBuf::from(vpc_control::datapath::BPFFS_ROOT).join(namespace).join("links");
    let pin = std::fs::read_dir(&links)
        .unwrap_or_else(|e| panic!("{}: {e}", links.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-router") || p.to_string_lossy().ends_with("-router-tc"))
        .expect("a pinned router link");
    let link = aya::programs::links::FdLink::from(aya::programs::links::PinnedLink::from_pin(&pin).expect("open the pinned link"));
    let id = link.info().expect("link info").program_id();
    let info = aya::programs::loaded_programs()
        .flatten()
        .find(|p| p.id() == id)
        .expect("the linked program is loaded");
    if pin.to_string_lossy().ends_with("-router-tc") {
        RouterProgram::Tc(
            aya::programs::SchedClassifier::from_program_info(info, Cow::Borrowed("vpc_router_tc"))
                .expect("open the router tc program"),
        )
    } else {
        RouterProgram::Xdp(
            aya::programs::Xdp::from_program_info(info, Cow::Borrowed("vpc_router"), aya_obj::programs::XdpAttachType::Interface)
                .expect("open the router program"),
        )
    }
}

/// Milliseconds from the start of each call to the flipped verdict, and of
/// each reply: (enforced, replied).
fn change_to_enforcement(d: &Daemon, lab: &Lab, changes: usize) -> (Vec<f64>, Vec<f64>) {
    let client_port = vpc_control::apply::router_ports(&d.namespace)
        .expect("router ports")
        .into_iter()
        .find(|p| p.instance_id == lab.client)
        .expect("the client's port")
        .ifindex;
    let client_mac = eni_mac(&eni_id_of(&lab.client));
    let (want_tx, want_rx) = mpsc::channel::<(u32, Instant)>();
    let (got_tx, got_rx) = mpsc::channel::<f64>();
    let stop = Arc::new(AtomicBool::new(false));
    let namespace = d.namespace.clone();
    let prober = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _in = vpc_control::netns::NetnsGuard::enter(&namespace).unwrap_or_else(|e| panic!("{e}"));
            let prog = router_program(&namespace);
            let mut sport: u16 = 1024;
            let mut probe = || {
                sport = if sport == u16::MAX { 1024 } else { sport + 1 };
                let f = l4_frame(ROUTER_MAC, client_mac, "10.0.1.20".parse().unwrap(), "10.0.1.10".parse().unwrap(), 17, sport, 5353, 0);
                prog.verdict(client_port, &f)
            };
            while let Ok((want, t0)) = want_rx.recv() {
                loop {
                    if probe() == want {
                        got_tx.send(t0.elapsed().as_secs_f64() * 1e3).unwrap();
                        break;
                    }
                    assert!(t0.elapsed() < Duration::from_secs(30), "the verdict did not flip to {want} in 30 s");
                    // Asleep, not spinning: with two cores a spinning
                    // prober would take a core from the daemon it times
                    // (the scheduler's slice, milliseconds, showed in the
                    // tail). A 20 us sleep is ~60-80 us with timer slack.
                    std::thread::sleep(Duration::from_micros(20));
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        })
    };
    let c = d.client();
    let rule = [
        R,
        ("SecurityGroupId", lab.group.as_str()),
        ("Permissions.1.IpProtocol", "UDP"),
        ("Permissions.1.PortRange", "5353/5353"),
        ("Permissions.1.SourceCidrIp", "10.0.1.20/32"),
        ("Permissions.1.Priority", "1"),
    ];
    let (mut enforced, mut replied) = (Vec::new(), Vec::new());
    for n in 0..changes {
        let (action, want) = if n % 2 == 0 { ("AuthorizeSecurityGroup", XDP_REDIRECT) } else { ("RevokeSecurityGroup", XDP_DROP) };
        let t0 = Instant::now();
        want_tx.send((want, t0)).unwrap();
        call(&c, action, &rule);
        replied.push(t0.elapsed().as_secs_f64() * 1e3);
        enforced.push(got_rx.recv().expect("the prober's answer"));
    }
    stop.store(true, Ordering::Relaxed);
    drop(want_tx);
    prober.join().expect("the prober");
    (enforced, replied)
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke") || std::env::var_os("VPC_BENCH_SMOKE").is_some();
    let z = if smoke {
        Sizes { routes: 500, rules: 100, actions: 40, changes: 10, rounds: 1 }
    } else {
        Sizes { routes: 100_000, rules: 10_000, actions: 1_000, changes: 200, rounds: 3 }
    };
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let z = Sizes { routes: env("VPC_BENCH_ROUTES", z.routes), rules: env("VPC_BENCH_RULES", z.rules), ..z };
    build_daemon();
    let report = Report::new("control");
    // The cloud raises quotas on request: 100,000 routes in one table and
    // 10,000 rules in one group are beyond its defaults (200 each).
    let quotas = format!("route_entries_per_table={},rules_per_security_group={}", z.routes.max(200) + 1000, z.rules.max(200));
    let mut d = Daemon::start_with_env(true, &[("VPC_QUOTAS", &quotas)]);
    let lab = build_lab(&d);
    let vpc = call(&d.client(), "DescribeVpcs", &[R])["Vpcs"]["Vpc"][0]["VpcId"].as_str().unwrap().to_string();

    // 2 (small model first): durable single changes per second.
    let rounds = z.rounds;
    let one: Vec<f64> = (0..rounds).map(|_| actions_per_second(&d, &lab, 1, z.actions)).collect();
    let many: Vec<f64> = (0..rounds).map(|_| actions_per_second(&d, &lab, CLIENTS, z.actions)).collect();
    report.figure(GROUP, "durable actions/s, 1 client (small model)", "1/s", &one, "CreateRouteEntry/DeleteRouteEntry, each on disk before its reply");
    report.figure(GROUP, &format!("durable actions/s, {CLIENTS} clients (small model)"), "1/s", &many, "changes are serialised by the daemon, one fsync serves every change committed meanwhile");

    // 3: change -> enforcement.
    let (enforced, replied) = change_to_enforcement(&d, &lab, z.changes);
    let note = format!("{} changes (Authorize/Revoke one UDP rule), BPF_PROG_TEST_RUN probe, then a 20 us sleep", enforced.len());
    report.figure(GROUP, "change -> enforced, p50", "ms", &[percentile(&enforced, 0.5)], &note);
    report.figure(GROUP, "change -> enforced, p99", "ms", &[percentile(&enforced, 0.99)], &note);
    report.figure(GROUP, "change -> reply, p50", "ms", &[percentile(&replied, 0.5)], "the same calls: the reply comes after the maps are written");

    // 1: bulk apply, security-group rules.
    let rule_secs: Vec<f64> = (0..rounds).map(|_| apply_rules(&d, &lab, &vpc, z.rules, false)).collect();
    let rule_rate: Vec<f64> = rule_secs.iter().map(|s| z.rules as f64 / s).collect();
    let rule_note = "AuthorizeSecurityGroup, 100 Permissions.N per call, 1 client, a new group per round";
    report.figure(GROUP, &format!("apply {} SG rules", z.rules), "s", &rule_secs, rule_note);
    report.figure(GROUP, &format!("apply {} SG rules, rate", z.rules), "rules/s", &rule_rate, rule_note);

    // 1: bulk apply, route entries (1 round for 100,000: it is deleted and
    // added again only in smoke runs).
    let route_rounds = if smoke { rounds } else { 1 };
    let mut route_secs = Vec::new();
    let mut delete_secs = Vec::new();
    for r in 0..route_rounds {
        route_secs.push(apply_routes(&d, &lab, z.routes));
        if r + 1 < route_rounds {
            delete_secs.push(delete_routes(&d, &lab, z.routes));
        }
    }
    let route_rate: Vec<f64> = route_secs.iter().map(|s| z.routes as f64 / s).collect();
    let route_note = format!(
        "CreateRouteEntries, 50 per call, {CLIENTS} clients, next hop an instance; {} round(s)",
        route_secs.len()
    );
    report.figure(GROUP, &format!("apply {} route entries", z.routes), "s", &route_secs, &route_note);
    report.figure(GROUP, &format!("apply {} route entries, rate", z.routes), "routes/s", &route_rate, &route_note);

    // 2 again, with the route entries in place, as a ratio per round to a
    // second daemon that holds the small model (the same lab, no routes):
    // the two are measured alternately in each round (which one goes first
    // alternates), the same calls, so that both see the host as it is then.
    let small = Daemon::start_with_env(true, &[("VPC_QUOTAS", &quotas)]);
    let small_lab = build_lab(&small);
    let ratio_rounds = if smoke { rounds } else { 5 };
    let (mut big, mut base, mut ratio) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for r in 0..ratio_rounds {
        for (i, clients) in [1, CLIENTS].into_iter().enumerate() {
            let (b, s) = if r % 2 == 0 {
                let b = actions_per_second(&d, &lab, clients, z.actions);
                (b, actions_per_second(&small, &small_lab, clients, z.actions))
            } else {
                let s = actions_per_second(&small, &small_lab, clients, z.actions);
                (actions_per_second(&d, &lab, clients, z.actions), s)
            };
            big[i].push(b);
            base[i].push(s);
            ratio[i].push(b / s);
        }
    }
    for (i, clients) in [1, CLIENTS].into_iter().enumerate() {
        let who = if clients == 1 { "1 client".to_string() } else { format!("{clients} clients") };
        let note = if clients == 1 {
            "as above; a call validates and compiles only the route tables it touches, the store writes only the entries it changed"
        } else {
            ""
        };
        report.figure(GROUP, &format!("durable actions/s, {who} ({} routes)", z.routes), "1/s", &big[i], note);
        report.figure(
            GROUP,
            &format!("durable actions/s, {who} (small model, a second daemon, alternately)"),
            "1/s",
            &base[i],
            "the baseline of the ratio below, measured in the same rounds",
        );
        report.figure(
            GROUP,
            &format!("durable actions/s, {who}: {} routes / small model", z.routes),
            "x",
            &ratio[i],
            "per round, the two daemons alternately; goal >= 0.8 (issue 16)",
        );
    }

    // A restart with all of it in place (the routes, and a group of
    // z.rules rules joined to an instance, added now so that the figures
    // above are those of the routes alone): killed (-9), started again,
    // timed until the API answers (the stored model is in the kernel and
    // the programs attached by then).
    apply_rules(&d, &lab, &vpc, z.rules, true);
    let rules_in_place = z.rules;
    let restart: Vec<f64> = (0..rounds)
        .map(|_| {
            d.kill9();
            let started = std::time::Instant::now();
            d.spawn(&[]);
            started.elapsed().as_secs_f64()
        })
        .collect();
    report.figure(
        GROUP,
        &format!("restart with {} routes and {rules_in_place} SG rules, ready", z.routes),
        "s",
        &restart,
        "kill -9, start, until the API answers (polled every 50 ms)",
    );

    // Single changes again, now with the rules in place too: what a
    // change still costs that grows with the model's rules.
    let with_rules: Vec<f64> = (0..rounds).map(|_| actions_per_second(&d, &lab, 1, (z.actions / 25).max(8))).collect();
    report.figure(
        GROUP,
        &format!("durable actions/s, 1 client ({} routes and {rules_in_place} SG rules)", z.routes),
        "1/s",
        &with_rules,
        "the same route changes; an ENI's policies are built (and their map entries diffed) again only when its groups' rules or members changed, a group's rules stored only when they changed",
    );

    // Deleting them all, DeleteRouteEntries, 50 per call, 1 client.
    delete_secs.push(delete_routes(&d, &lab, z.routes));
    report.figure(GROUP, &format!("delete {} route entries", z.routes), "s", &delete_secs, "DeleteRouteEntries, 50 per call, 1 client");
    // The small model's daemon goes last: its namespaces' teardown (the
    // kernel's, after the daemon's purge) would run during the restart.
    drop(small);
}
