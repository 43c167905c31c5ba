//! The VPC resolver through the daemon (docs/dns.md): instances' resolv.conf
//! points at 100.100.2.136 and .138, the queries cross the router to the
//! VPC's services port, and the answer depends on the VPC that asked.
//! `dig` runs inside instance namespaces (`ip netns exec`, which shows the
//! router's /etc/netns/<instance>/resolv.conf as /etc/resolv.conf).
use std::process::Command;

use vpc_tests::*;

const R: (&str, &str) = ("RegionId", "cn-hangzhou");

/// `dig +short` of `name` (type `kind`) from inside namespace `ns`, with
/// the resolver of its resolv.conf; the status line too. A query left
/// without any answer within its second (one UDP query, one try: a loaded
/// 2-core machine) is asked again, three times in all.
fn dig(ns: &str, name: &str, kind: &str) -> (String, Vec<String>) {
    let mut last = dig_once(ns, name, kind);
    for _ in 1..3 {
        if !last.0.starts_with("no answer") {
            break;
        }
        last = dig_once(ns, name, kind);
    }
    last
}

/// One query of [`dig`].
fn dig_once(ns: &str, name: &str, kind: &str) -> (String, Vec<String>) {
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "dig",
            "+tries=1",
            "+time=1",
            "+noall",
            "+comments",
            "+answer",
            name,
            kind,
        ])
        .output()
        .expect("dig runs (dnsutils)");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let status = text
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .map(|s| s.split(',').next().unwrap_or("").to_string())
        .unwrap_or_else(|| format!("no answer: {text} {}", String::from_utf8_lossy(&o.stderr)));
    let answers = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect();
    (status, answers)
}

/// Waits (up to 10 s) for `name` to get `want` from inside `ns`.
fn wait_for(ns: &str, name: &str, kind: &str, want: &[&str]) -> (String, Vec<String>) {
    let mut last = (String::new(), Vec::new());
    for _ in 0..40 {
        last = dig(ns, name, kind);
        let mut got = last.1.clone();
        got.sort();
        if last.0 == "NOERROR" && got == want {
            return last;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    panic!("{name} {kind} from {ns}: want {want:?}, got {last:?}");
}

/// A VPC (DNS hostname switch as given), a vSwitch, instances by host name.
fn vpc_with(d: &Daemon, hostnames: bool, instances: &[(&str, &str)]) -> (String, Vec<String>) {
    let on = if hostnames { "true" } else { "false" };
    let vpc = d.call(
        "CreateVpc",
        &[R, ("CidrBlock", "10.0.0.0/16"), ("EnableDnsHostname", on)],
    )["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let vsw = d.call(
        "CreateVSwitch",
        &[
            R,
            ("VpcId", &vpc),
            ("ZoneId", "cn-hangzhou-a"),
            ("CidrBlock", "10.0.1.0/24"),
        ],
    )["VSwitchId"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = instances
        .iter()
        .map(|(host, ip)| {
            d.call(
                "RunInstances",
                &[
                    R,
                    ("VSwitchId", &vsw),
                    ("PrivateIpAddress", ip),
                    ("HostName", host),
                    ("ImageId", "any"),
                    ("InstanceType", "any"),
                ],
            )["InstanceIdSets"]["InstanceIdSet"][0]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    (vpc, ids)
}

#[test]
fn instances_resolve_each_other_by_host_name_through_the_vpc_resolver_and_only_in_their_vpc() {
    let d = Daemon::start();
    // Two VPCs with the same CIDR and the same addresses.
    let (_a, a) = vpc_with(
        &d,
        true,
        &[("web001", "10.0.1.10"), ("app001", "10.0.1.20")],
    );
    let (_b, b) = vpc_with(&d, true, &[("db001", "10.0.1.10")]);
    let resolv = std::fs::read_to_string(format!("/etc/netns/{}/resolv.conf", a[0])).unwrap();
    assert!(
        resolv.contains("nameserver 100.100.2.136\n")
            && resolv.contains("nameserver 100.100.2.138\n"),
        "{resolv}"
    );
    wait_for(&a[0], "app001", "A", &["10.0.1.20"]);
    wait_for(&a[1], "web001", "A", &["10.0.1.10"]);
    wait_for(
        &a[0],
        &format!("{}.cn-hangzhou.ecs.internal", a[1]),
        "A",
        &["10.0.1.20"],
    );
    wait_for(
        &a[0],
        "ip-10-0-1-20.cn-hangzhou.ecs.internal",
        "A",
        &["10.0.1.20"],
    );
    // Both resolver addresses answer.
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &a[0],
            "dig",
            "+short",
            "@100.100.2.138",
            "app001",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "10.0.1.20");
    // TCP too.
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &a[0],
            "dig",
            "+tcp",
            "+short",
            "@100.100.2.136",
            "app001",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "10.0.1.20");
    // The other VPC: its own names, not the first one's.
    wait_for(&b[0], "db001", "A", &["10.0.1.10"]);
    assert_eq!(dig(&b[0], "app001", "A").0, "NXDOMAIN");
    assert_eq!(dig(&a[0], "db001", "A").0, "NXDOMAIN");
    // The lab upstream: the object storage service's names; nothing else.
    wait_for(
        &a[0],
        "mybucket.oss-cn-hangzhou-internal.aliyuncs.com",
        "A",
        &["100.118.28.1"],
    );
    assert_eq!(dig(&a[0], "www.example.com", "A").0, "NXDOMAIN");
    // A class other than IN: refused.
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &a[0],
            "dig",
            "+tries=1",
            "+time=1",
            "-c",
            "CH",
            "version.bind",
            "TXT",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("status: REFUSED"),
        "{o:?}"
    );
    // The switch off: no instance names.
    d.call(
        "ModifyVpcAttribute",
        &[R, ("VpcId", &_b), ("EnableDnsHostname", "false")],
    );
    for _ in 0..40 {
        if dig(&b[0], "db001", "A").0 == "NXDOMAIN" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(dig(&b[0], "db001", "A").0, "NXDOMAIN");
    // The glibc resolver of a program in the instance finds its peer.
    let o = Command::new("ip")
        .args(["netns", "exec", &a[0], "getent", "ahostsv4", "app001"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("10.0.1.20"),
        "{o:?}"
    );
    // An instance deleted takes its resolv.conf with its namespace.
    d.call(
        "DeleteInstance",
        &[R, ("InstanceId", &a[1]), ("Force", "true")],
    );
    assert!(!std::path::Path::new(&format!("/etc/netns/{}", a[1])).exists());
}

/// `dig +short`: the answer's records, for a name that has some. A query
/// whose answer does not come within its second (a loaded 2-core machine:
/// one UDP query, one try) is asked again, up to five times; an empty
/// answer is never what the callers expect.
fn short(ns: &str, name: &str, kind: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for _ in 0..5 {
        let o = Command::new("ip")
            .args([
                "netns", "exec", ns, "dig", "+tries=1", "+time=1", "+short", name, kind,
            ])
            .output()
            .expect("dig runs (dnsutils)");
        lines = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        if !lines.is_empty() {
            break;
        }
    }
    lines
}

/// Waits (up to 10 s) for `dig NAME` from `ns` to end with `status`.
fn wait_status(ns: &str, name: &str, status: &str) {
    let mut last = String::new();
    for _ in 0..40 {
        last = dig(ns, name, "A").0;
        if last == status {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    panic!("{name} from {ns}: want {status}, got {last}");
}

#[test]
fn private_zone_answers_only_in_the_bound_vpc_follows_cnames_and_drops_disabled_records() {
    let d = Daemon::start();
    let out = d.sdk_script("private_zone.py", &["lab"]);
    assert_eq!(out["ok"], true, "{out}");
    assert!(out["refusals"].as_array().unwrap().len() >= 14, "{out}");
    let (a, b) = (
        out["instances"][0].as_str().unwrap(),
        out["instances"][1].as_str().unwrap(),
    );
    // The bound VPC: every type, CNAMEs followed (inside the zone and out
    // to the lab upstream).
    wait_for(a, "db.corp.example", "A", &["10.30.1.50"]);
    assert_eq!(
        short(a, "www.corp.example", "A"),
        ["db.corp.example.", "10.30.1.50"]
    );
    assert_eq!(
        short(a, "oss.corp.example", "A"),
        ["oss-cn-hangzhou-internal.aliyuncs.com.", "100.118.28.1"]
    );
    assert_eq!(short(a, "v6.corp.example", "AAAA"), ["fd00::50"]);
    assert_eq!(short(a, "corp.example", "TXT"), ["\"v=lab1\""]);
    assert_eq!(short(a, "corp.example", "MX"), ["10 mail.corp.example."]);
    assert_eq!(
        short(a, "_sip._tcp.corp.example", "SRV"),
        ["10 60 5060 sip.corp.example."]
    );
    assert_eq!(short(a, "ptr.corp.example", "PTR"), ["db.corp.example."]);
    assert_eq!(dig(a, "nothing.corp.example", "A").0, "NXDOMAIN");
    // The other VPC, same CIDR, same instance address: not bound, no answer.
    wait_status(b, "db.corp.example", "NXDOMAIN");
    assert_eq!(dig(b, "www.corp.example", "A").0, "NXDOMAIN");
    // A disabled record is not answered; enabled again, it is.
    let db = out["records"]["db"].to_string();
    d.sdk_script("private_zone.py", &["disable", &db]);
    wait_status(a, "db.corp.example", "NXDOMAIN");
    d.sdk_script("private_zone.py", &["enable", &db]);
    wait_for(a, "db.corp.example", "A", &["10.30.1.50"]);
    // Unbound and deleted: gone.
    let zone = out["zone"].as_str().unwrap();
    let del = d.sdk_script("private_zone.py", &["delete", zone]);
    assert_eq!(del["deleted"], 8, "{del}");
    wait_status(a, "db.corp.example", "NXDOMAIN");
}
