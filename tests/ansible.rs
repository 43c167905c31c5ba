//! Ansible's alicloud modules (ansible_alicloud on footmark and
//! aliyun-python-sdk-core, unmodified, from tests/ansible/requirements.txt and
//! modules.txt) build tests/ansible/lab.yml against `vpc daemon`: the SDK
//! resolves vpc.cn-hangzhou.aliyuncs.com / ecs.cn-hangzhou.aliyuncs.com and
//! reaches the daemon through HTTP_PROXY (absolute-form request targets,
//! signature V1). A second run changes nothing; the instances ping each
//! other; dropping a rule revokes it; the teardown play leaves nothing.
use std::{
    net::Ipv4Addr,
    path::PathBuf,
    process::{Command, Output},
};

use serde_json::Value;
use vpc_tests::*;

const R: (&str, &str) = ("RegionId", "cn-hangzhou");

/// The virtualenv `cargo xtask setup` makes from tests/ansible:
/// `VPC_ANSIBLE_VENV` or the default path.
fn ansible_venv() -> PathBuf {
    let p = std::env::var_os("VPC_ANSIBLE_VENV").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/opt/vpc-router/ansible-venv"));
    assert!(
        p.join("bin/ansible-playbook").exists() && p.join("alicloud/ansible/modules/cloud/alicloud/ali_vpc.py").exists(),
        "{} lacks ansible-playbook or the alicloud modules: `cargo xtask setup` installs tests/ansible/requirements.txt and modules.txt",
        p.display()
    );
    p
}

/// Runs tests/ansible/lab.yml against the daemon's HTTP listener.
fn playbook(d: &Daemon, lab: &str, extra: &[&str]) -> Output {
    let venv = ansible_venv();
    let alicloud = venv.join("alicloud/ansible");
    let proxy = format!("http://127.0.0.1:{}", d.port);
    let home = d.dir.join("ansible-home");
    std::fs::create_dir_all(&home).expect("ansible home");
    let mut cmd = Command::new(venv.join("bin/ansible-playbook"));
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ansible/lab.yml"))
        .args(["-i", "localhost,"])
        .args(extra)
        .env("PATH", format!("{}:{}", venv.join("bin").display(), std::env::var("PATH").unwrap_or_default()))
        .env("ANSIBLE_LIBRARY", alicloud.join("modules/cloud/alicloud"))
        .env("ANSIBLE_MODULE_UTILS", alicloud.join("module_utils"))
        .env("ANSIBLE_PYTHON_INTERPRETER", venv.join("bin/python"))
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_REMOTE_TEMP", home.join("remote-tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env("ANSIBLE_LOCALHOST_WARNING", "0")
        .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "0")
        .env("ALICLOUD_ACCESS_KEY", ACCESS_KEY_ID)
        .env("ALICLOUD_SECRET_KEY", ACCESS_KEY_SECRET)
        .env("ALICLOUD_REGION", "cn-hangzhou")
        .env("LAB_NAME", lab)
        // aliyun-python-sdk-core speaks plain HTTP to <product>.<region>.aliyuncs.com.
        .env("HTTP_PROXY", &proxy)
        .env("http_proxy", &proxy)
        .env("NO_PROXY", "")
        .env("no_proxy", "")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ANSIBLE_CONFIG");
    cmd.output().unwrap_or_else(|e| panic!("running ansible-playbook: {e}"))
}

/// `changed` and `failed` of the play recap's localhost line.
fn recap(o: &Output, what: &str) -> (u32, u32) {
    let out = String::from_utf8_lossy(&o.stdout);
    let dump = || format!("{what}:\n{out}{}", String::from_utf8_lossy(&o.stderr));
    let line = out.lines().rev().find(|l| l.starts_with("localhost") && l.contains("changed=")).unwrap_or_else(|| panic!("no recap in {}", dump()));
    let field = |name: &str| -> u32 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')).and_then(|v| v.parse().ok()))
            .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
    };
    let (changed, failed) = (field("changed"), field("failed"));
    assert!(o.status.success() && failed == 0, "{what} failed (exit {:?}): {}", o.status.code(), dump());
    (changed, failed)
}

/// The tasks reported `changed` in a run's output.
fn changed_tasks(o: &Output) -> Vec<String> {
    let out = String::from_utf8_lossy(&o.stdout);
    let mut task = "";
    let mut changed = Vec::new();
    for l in out.lines() {
        if let Some(t) = l.strip_prefix("TASK [") {
            task = t.split(']').next().unwrap_or(t);
        } else if l.starts_with("changed:") {
            changed.push(task.to_string());
        }
    }
    changed
}

/// (InstanceId, primary private address) of the instance named `name`.
fn instance(d: &Daemon, name: &str) -> (String, Ipv4Addr) {
    let v = d.call("DescribeInstances", &[R, ("InstanceName", name)]);
    let all = v["Instances"]["Instance"].as_array().cloned().unwrap_or_default();
    assert_eq!(all.len(), 1, "one instance named {name} expected: {v}");
    let id = all[0]["InstanceId"].as_str().expect("InstanceId").to_string();
    let ip = all[0]["VpcAttributes"]["PrivateIpAddress"]["IpAddress"][0].as_str().expect("private address");
    (id, ip.parse().expect("an IPv4 address"))
}

#[test]
fn ansible_alicloud_modules_build_the_lab_idempotently_and_tear_it_down() {
    // Not strict: footmark signs `on=<Action>` into every call, which no SDK
    // model has; the daemon ignores and logs it, as the cloud ignores it.
    let d = Daemon::start_lenient();
    let lab = "ansible-lab";

    let first = playbook(&d, lab, &[]);
    let (changed, _) = recap(&first, "the first run");
    assert!(changed >= 4, "the first run built the lab in fewer changes than expected ({changed}): {:?}", changed_tasks(&first));
    let second = playbook(&d, lab, &[]);
    let (changed, _) = recap(&second, "the second run");
    assert_eq!(changed, 0, "the second run changed tasks {:?}:\n{}", changed_tasks(&second), String::from_utf8_lossy(&second.stdout));

    // What the modules made, as the API describes it.
    let vpcs = d.call("DescribeVpcs", &[R]);
    assert_eq!(vpcs["TotalCount"], 1, "{vpcs}");
    assert_eq!(vpcs["Vpcs"]["Vpc"][0]["VpcName"], lab, "{vpcs}");
    let vpc = vpcs["Vpcs"]["Vpc"][0]["VpcId"].as_str().expect("VpcId").to_string();
    assert_eq!(d.call("DescribeVSwitches", &[R, ("VpcId", &vpc)])["TotalCount"], 2);
    let (left, left_ip) = instance(&d, &format!("{lab}-left-vm"));
    let (right, right_ip) = instance(&d, &format!("{lab}-right-vm"));
    let groups = d.call("DescribeSecurityGroups", &[R, ("VpcId", &vpc)]);
    let sg = groups["SecurityGroups"]["SecurityGroup"][0]["SecurityGroupId"].as_str().expect("a security group").to_string();
    let rules = |d: &Daemon| -> Vec<String> {
        let a = d.call("DescribeSecurityGroupAttribute", &[R, ("SecurityGroupId", &sg), ("Direction", "ingress")]);
        a["Permissions"]["Permission"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .map(|p| format!("{} {} {}", p["IpProtocol"].as_str().unwrap_or(""), p["PortRange"].as_str().unwrap_or(""), p["SourceCidrIp"].as_str().unwrap_or("")))
            .collect()
    };
    assert_eq!(rules(&d), ["ICMP -1/-1 10.0.0.0/16", "TCP 22/22 10.0.0.0/16"]);

    // Two instances in two vSwitches: every ping answered, both ways.
    assert_eq!(ping_replies(&left, right_ip, 10), 10, "{left} -> {right} ({right_ip}) lost pings");
    assert_eq!(ping_replies(&right, left_ip, 10), 10, "{right} -> {left} ({left_ip}) lost pings");

    // Dropping the SSH rule: the module revokes it by sending back every
    // field the daemon described, the empty IPv6 and prefix-list ones too.
    let third = playbook(&d, lab, &["-e", "ssh=false"]);
    let (changed, _) = recap(&third, "the run without SSH");
    assert_eq!(changed_tasks(&third), ["Security group"], "changed: {changed}");
    assert_eq!(rules(&d), ["ICMP -1/-1 10.0.0.0/16"]);
    assert_eq!(ping_replies(&left, right_ip, 5), 5, "ICMP is still allowed");

    let teardown = playbook(&d, lab, &["-e", "state=absent"]);
    recap(&teardown, "the teardown");
    let v: Value = d.call("DescribeVpcs", &[R]);
    assert_eq!(v["TotalCount"], 0, "the teardown left VPCs: {v}");
    assert_eq!(d.call("DescribeInstances", &[R])["TotalCount"], 0);
    assert_eq!(d.call("DescribeSecurityGroups", &[R])["TotalCount"], 0);
    for ns in [&left, &right] {
        assert!(!vpc_control::netns::exists(ns), "instance namespace {ns} outlived the teardown");
    }

    // The stray parameter was ignored and logged, not refused.
    let log = d.log(1);
    assert!(
        log.lines().any(|l| l.contains("ignoring parameters the action does not have") && l.contains("\"on\"")),
        "the daemon log does not mention the ignored `on` parameter:\n{log}"
    );
    assert!(!log.contains("code=UnsupportedParameter"), "the daemon refused a parameter on Ansible's path:\n{log}");
}
