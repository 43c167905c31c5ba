//! `vpc daemon` end to end: the official SDKs and the `vpc` command line
//! build the lab through the API; state survives kill -9 with no ping lost;
//! parallel clients; bad input; readiness, metrics and counters.
use std::{
    collections::BTreeSet,
    net::Ipv4Addr,
    process::Command,
    time::{Duration, SystemTime},
};

use serde_json::Value;
use vpc_control::datapath::Datapath;
use vpc_tests::*;

const LAB: &str = include_str!("../vpc-control/examples/lab.toml");
const R: (&str, &str) = ("RegionId", "cn-hangzhou");

fn lab_file(d: &Daemon) -> String {
    let path = d.dir.join("lab.toml");
    std::fs::write(&path, LAB).expect("writing the lab file");
    path.display().to_string()
}

fn json_line(o: &std::process::Output, what: &str) -> Value {
    assert!(
        o.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

/// The described state, without RequestIds.
fn snapshot(d: &Daemon) -> Vec<Value> {
    [
        "DescribeVpcs",
        "DescribeVSwitches",
        "DescribeRouteTableList",
        "DescribeInstances",
    ]
    .iter()
    .map(|a| {
        let mut v = d.call(a, &[R, ("PageSize", "50")]);
        v.as_object_mut().map(|o| o.remove("RequestId"));
        v
    })
    .collect()
}

/// ENIs in the port map (not the internet uplink, nor the services port).
fn enis(maps: &vpc_control::compile::MapEntries) -> usize {
    // Instances' ENIs: not the uplink, the services port, nor a VPC's own
    // services port (health checks and resolver, docs/dns.md).
    let others = vpc_common::ENI_FLAG_UPLINK | vpc_common::ENI_FLAG_SERVICES | vpc_common::ENI_FLAG_HEALTH_CHECK;
    maps.eni_by_port
        .values()
        .filter(|e| e.flags & others == 0)
        .count()
}

fn addr(s: &str) -> Ipv4Addr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn vpc_3_official_sdk_builds_the_lab_and_instances_talk() {
    let d = Daemon::start();
    let ids = json_line(&sdk(&d, &["build-lab"], ACCESS_KEY_SECRET), "SDK build-lab");
    let web = ids["InstanceIds"]["web"].as_str().expect("web id");
    let app = ids["InstanceIds"]["app"].as_str().expect("app id");
    assert!(
        ping(web, addr("10.0.2.20"), 3),
        "web cannot ping db after the SDK built the lab"
    );
    assert!(
        tcp_echo(app, web, addr("10.0.2.10"), 7001),
        "web cannot talk TCP to app"
    );
    // Resources belong to the key's account.
    let v = d.call("DescribeVpcs", &[R]);
    assert_eq!(
        v["Vpcs"]["Vpc"][0]["OwnerId"].as_u64(),
        Some(ACCOUNT_ID.parse().unwrap()),
        "{v}"
    );

    let o = sdk(&d, &["wrong-secret"], ACCESS_KEY_SECRET);
    assert!(
        o.status.success(),
        "a wrong secret was not refused with SignatureDoesNotMatch: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = sdk(&d, &["error-codes"], ACCESS_KEY_SECRET);
    assert!(
        o.status.success(),
        "cloud error codes differ: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    let vpc = ids["VpcId"].as_str().expect("vpc id");
    json_line(
        &sdk(&d, &["teardown", "--vpc-id", vpc], ACCESS_KEY_SECRET),
        "SDK teardown",
    );
    assert_eq!(d.call("DescribeVpcs", &[R])["TotalCount"], 0);
    assert!(
        !vpc_control::netns::exists(web),
        "instance namespace {web} outlived DeleteInstance"
    );
}

#[test]
fn vpc_3_old_sdk_v1_signature_builds_a_routed_lab_and_instances_talk() {
    // aliyun-python-sdk-core + -vpc + -ecs sign with signature V1 (HMAC-SHA1).
    let d = Daemon::start();
    let ids = json_line(
        &old_sdk(&d, &["build-lab"], ACCESS_KEY_SECRET),
        "old SDK build-lab",
    );
    let left = ids["InstanceIds"]["left"].as_str().expect("left id");
    let right = ids["InstanceIds"]["right"].as_str().expect("right id");
    // Two instances in two vSwitches: every ping of 10 answered, both ways.
    assert_eq!(
        ping_replies(left, addr("10.0.2.10"), 10),
        10,
        "left -> right lost pings (old SDK lab)"
    );
    assert_eq!(
        ping_replies(right, addr("10.0.1.10"), 10),
        10,
        "right -> left lost pings (old SDK lab)"
    );
    // Resources belong to the signing key's account.
    let v = d.call("DescribeVpcs", &[R]);
    assert_eq!(
        v["Vpcs"]["Vpc"][0]["OwnerId"].as_u64(),
        Some(ACCOUNT_ID.parse().unwrap()),
        "{v}"
    );
    assert_eq!(v["Vpcs"]["Vpc"][0]["VpcName"], "old-sdk", "{v}");

    let o = old_sdk(&d, &["wrong-secret"], ACCESS_KEY_SECRET);
    let refused = json_line(&o, "old SDK wrong-secret");
    assert_eq!(
        (
            &refused["status"],
            &refused["code"],
            &refused["string_to_sign_agrees"]
        ),
        (
            &Value::from(400),
            &Value::from("SignatureDoesNotMatch"),
            &Value::from(true)
        ),
        "a wrong secret was not refused as the cloud does: {refused}"
    );

    let vpc = ids["VpcId"].as_str().expect("vpc id");
    json_line(
        &old_sdk(&d, &["teardown", "--vpc-id", vpc], ACCESS_KEY_SECRET),
        "old SDK teardown",
    );
    assert_eq!(d.call("DescribeVpcs", &[R])["TotalCount"], 0);
    assert!(
        !vpc_control::netns::exists(left),
        "instance namespace {left} outlived DeleteInstance"
    );
}

#[test]
fn pop_core_v1_signature_creates_describes_and_deletes_a_vpc() {
    // @alicloud/pop-core: POST with every parameter in a form body, GET with the query.
    let d = Daemon::start();
    let done = json_line(&pop_core(&d, &["vpc"], ACCESS_KEY_SECRET), "pop-core vpc");
    assert_eq!(done["ok"], true, "{done}");
    assert_eq!(
        d.call("DescribeVpcs", &[R])["TotalCount"],
        0,
        "pop-core's VPC outlived its DeleteVpc"
    );
    let refused = json_line(
        &pop_core(&d, &["wrong-secret"], ACCESS_KEY_SECRET),
        "pop-core wrong-secret",
    );
    assert_eq!(refused["code"], "SignatureDoesNotMatch", "{refused}");
}

#[test]
fn requests_through_an_http_proxy_name_the_cloud_host_in_absolute_form() {
    // aliyun-python-sdk-core with HTTP_PROXY (footmark, Ansible) sends
    // `GET http://vpc.cn-hangzhou.aliyuncs.com/?... HTTP/1.1` with that Host:
    // signature V1 covers the method and parameters, not the host.
    use vpc_control::api::signature::{AccessKey, canonical_query_string, sign_v1};
    let d = Daemon::start();
    let key = AccessKey::new(ACCESS_KEY_ID, ACCESS_KEY_SECRET);
    let send = |method: &str, host: &str, version: &str, action: &str, params: &[(&str, &str)]| {
        let mut all = vec![("Action", action), ("Version", version)];
        all.extend_from_slice(params);
        let nonce = format!("proxy-{}", unique(""));
        let pairs = sign_v1(method, &all, &key, SystemTime::now(), &nonce);
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let q = canonical_query_string(&refs);
        let req = if method == "GET" {
            format!("GET http://{host}/?{q} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
        } else {
            format!(
                "POST http://{host}/ HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{q}",
                q.len()
            )
        };
        let s = std::net::TcpStream::connect(("127.0.0.1", d.port)).expect("connecting over HTTP");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        exchange(s, req.as_bytes())
    };
    let (s, v) = send(
        "POST",
        "vpc.cn-hangzhou.aliyuncs.com",
        "2016-04-28",
        "CreateVpc",
        &[R, ("CidrBlock", "10.8.0.0/16")],
    );
    assert_eq!(s, 200, "{v}");
    let vpc = v["VpcId"].as_str().expect("VpcId").to_string();
    let (s, v) = send(
        "GET",
        "vpc.cn-hangzhou.aliyuncs.com",
        "2016-04-28",
        "DescribeVpcs",
        &[R, ("VpcId", &vpc)],
    );
    assert_eq!((s, v["TotalCount"].as_u64()), (200, Some(1)), "{v}");
    let (s, v) = send(
        "GET",
        "ecs.cn-hangzhou.aliyuncs.com",
        "2014-05-26",
        "CreateSecurityGroup",
        &[R, ("VpcId", &vpc)],
    );
    assert_eq!(s, 200, "{v}");
    assert!(
        v["SecurityGroupId"]
            .as_str()
            .is_some_and(|id| id.starts_with("sg-")),
        "{v}"
    );
}

#[test]
fn signature_v1_over_http_is_verified_and_its_envelope_never_reaches_actions() {
    let d = Daemon::start();
    let keep = |_: &mut Vec<(String, String)>| {};
    // Accepted in the query (GET) and in a form body (POST); the envelope
    // parameters are gone before the action reads its parameters (it would
    // refuse unknown ones).
    let (s, v) = http_call_v1(
        &d,
        "POST",
        "CreateVpc",
        &[R, ("CidrBlock", "10.7.0.0/16"), ("VpcName", "v1 body*~")],
        Signing::default(),
        keep,
    );
    assert_eq!(s, 200, "{v}");
    let vpc = v["VpcId"].as_str().expect("VpcId").to_string();
    let (s, v) = http_call_v1(
        &d,
        "GET",
        "DescribeVpcs",
        &[R, ("VpcId", &vpc)],
        Signing::default(),
        keep,
    );
    assert_eq!((s, v["TotalCount"].as_u64()), (200, Some(1)), "{v}");
    assert_eq!(v["Vpcs"]["Vpc"][0]["VpcName"], "v1 body*~", "{v}");
    let (s, v) = http_call_v1(&d, "GET", "DescribeVpcs", &[R], Signing::default(), |p| {
        p.iter_mut()
            .filter(|(k, _)| k == "Format")
            .for_each(|(_, f)| *f = "json".into());
    });
    // Format is signed: changed after signing, the signature no longer matches.
    assert_eq!(
        (s, v["Code"].as_str()),
        (400, Some("SignatureDoesNotMatch")),
        "{v}"
    );
    let before = snapshot(&d);

    let set = |name: &'static str, value: Option<&'static str>| {
        move |p: &mut Vec<(String, String)>| {
            p.retain(|(k, _)| k != name);
            if let Some(v) = value {
                p.push((name.to_string(), v.to_string()));
            }
        }
    };
    let list = [R];
    let expect = |what: &str, (s, v): (u16, Value), status: u16, code: &str| {
        assert_eq!((s, v["Code"].as_str()), (status, Some(code)), "{what}: {v}");
    };
    let (s, v) = http_call_v1(
        &d,
        "GET",
        "DescribeVpcs",
        &list,
        Signing {
            secret: "wrong",
            ..Signing::default()
        },
        keep,
    );
    expect("wrong secret", (s, v.clone()), 400, "SignatureDoesNotMatch");
    assert!(
        v["Message"]
            .as_str()
            .is_some_and(|m| m.contains("server string to sign is:GET&%2F&AccessKeyId%3D")),
        "{v}"
    );
    let nobody = Signing {
        id: "LTAInobody",
        ..Signing::default()
    };
    expect(
        "unknown key",
        http_call_v1(&d, "GET", "DescribeVpcs", &list, nobody, keep),
        404,
        "InvalidAccessKeyId.NotFound",
    );
    for at in [
        SystemTime::now() - Duration::from_secs(20 * 60),
        SystemTime::now() + Duration::from_secs(20 * 60),
    ] {
        let r = http_call_v1(
            &d,
            "POST",
            "DescribeVpcs",
            &list,
            Signing {
                at,
                ..Signing::default()
            },
            keep,
        );
        expect("stale Timestamp", r, 400, "InvalidTimeStamp.Expired");
    }
    let r = http_call_v1(
        &d,
        "POST",
        "DescribeVpcs",
        &list,
        Signing::default(),
        set("Timestamp", Some("2026-03-04 05:06:07")),
    );
    expect("malformed Timestamp", r, 400, "InvalidTimeStamp.Format");
    let nonce = format!("v1-nonce-{}", unique(""));
    let r = http_call_v1(
        &d,
        "GET",
        "DescribeVpcs",
        &list,
        Signing {
            nonce: Some(&nonce),
            ..Signing::default()
        },
        keep,
    );
    assert_eq!(r.0, 200, "{}", r.1);
    let r = http_call_v1(
        &d,
        "GET",
        "DescribeVpcs",
        &list,
        Signing {
            nonce: Some(&nonce),
            ..Signing::default()
        },
        keep,
    );
    expect("reused SignatureNonce", r, 400, "SignatureNonceUsed");
    for part in ["Signature", "SignatureNonce", "Timestamp", "AccessKeyId"] {
        let r = http_call_v1(
            &d,
            "POST",
            "DescribeVpcs",
            &list,
            Signing::default(),
            set(part, None),
        );
        expect(part, r, 400, "MissingParameter");
    }
    let r = http_call_v1(
        &d,
        "POST",
        "DescribeVpcs",
        &list,
        Signing::default(),
        set("SignatureMethod", Some("HMAC-SHA256")),
    );
    expect(
        "SignatureMethod=HMAC-SHA256",
        r,
        400,
        "InvalidSignatureMethod",
    );
    let r = http_call_v1(
        &d,
        "POST",
        "DescribeVpcs",
        &list,
        Signing::default(),
        set("SignatureVersion", Some("2.0")),
    );
    expect("SignatureVersion=2.0", r, 400, "IncompleteSignature");
    let r = http_call_v1(
        &d,
        "POST",
        "DescribeVpcs",
        &list,
        Signing::default(),
        set("SecurityToken", Some("CAIS-sts")),
    );
    expect("SecurityToken", r, 400, "InvalidSecurityToken.Malformed");
    let r = http_call_v1(
        &d,
        "POST",
        "DescribeVpcs",
        &list,
        Signing::default(),
        set("Format", Some("XML")),
    );
    expect("Format=XML", r, 400, "InvalidParameter");
    // A refused write changes nothing.
    let r = http_call_v1(
        &d,
        "POST",
        "DeleteVpc",
        &[R, ("VpcId", &vpc)],
        Signing {
            secret: "wrong",
            ..Signing::default()
        },
        keep,
    );
    expect(
        "DeleteVpc with a wrong secret",
        r,
        400,
        "SignatureDoesNotMatch",
    );
    assert_eq!(
        snapshot(&d),
        before,
        "a refused V1 request changed the state"
    );
}

#[test]
fn cli_apply_converges_through_the_api_and_destroy_removes_it() {
    let d = Daemon::start();
    let lab = lab_file(&d);
    let report = d.cli_ok(&["apply", "-f", &lab]);
    let web = report["Instances"]["web"]
        .as_str()
        .expect("web id")
        .to_string();
    let app = report["Instances"]["app"]
        .as_str()
        .expect("app id")
        .to_string();
    assert!(ping(&web, addr("10.0.2.10"), 3), "web cannot ping app");
    assert!(
        tcp_echo(&web, &app, addr("10.0.1.10"), 7002),
        "app cannot talk TCP to web"
    );

    let again = d.cli_ok(&["apply", "-f", &lab]);
    assert_eq!(
        again["Changes"],
        serde_json::json!([]),
        "a second apply changed something"
    );
    assert_eq!(again["Instances"], report["Instances"]);

    // An action from the command line, JSON and table.
    let v = d.cli_ok(&[
        "DescribeVSwitches",
        "--VpcId",
        report["Vpcs"]["lab"].as_str().unwrap(),
        "--PageSize",
        "50",
    ]);
    assert_eq!(v["TotalCount"], 2);
    let o = d.cli(&[
        "-o",
        "table",
        "DescribeInstances",
        "--RegionId",
        "cn-hangzhou",
    ]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && table.starts_with("InstanceId") && table.contains(&web),
        "table:\n{table}"
    );
    let o = d.cli(&[
        "CreateVpc",
        "--RegionId",
        "cn-hangzhou",
        "--CidrBlock",
        "10.0.0.0/33",
    ]);
    assert!(!o.status.success(), "a bad CIDR succeeded");
    let err: Value = serde_json::from_slice(&o.stderr).expect("error JSON on stderr");
    assert_eq!(err["Code"], "InvalidCidrBlock.Malformed");

    let gone = d.cli_ok(&["destroy", "-f", &lab]);
    assert!(
        gone["Changes"].as_array().is_some_and(|c| c.len() >= 6),
        "{gone}"
    );
    assert!(
        !vpc_control::netns::exists(&web) && !vpc_control::netns::exists(&app),
        "instance namespaces outlived destroy"
    );
    assert_eq!(d.call("DescribeVpcs", &[R])["TotalCount"], 0);
}

#[test]
fn vpc_3_kill_9_and_restart_keep_state_and_lose_no_ping() {
    let mut d = Daemon::start();
    let lab = lab_file(&d);
    let report = d.cli_ok(&["apply", "-f", &lab]);
    let web = report["Instances"]["web"].as_str().unwrap().to_string();
    let vsw = report["VSwitches"]["app"].as_str().unwrap().to_string();
    let before = snapshot(&d);

    // 20 pings a second for 8 seconds across a kill -9 and a restart.
    let pinger = Command::new("ip")
        .args([
            "netns",
            "exec",
            &web,
            "ping",
            "-q",
            "-i",
            "0.05",
            "-c",
            "160",
            "-W",
            "1",
            "10.0.2.20",
        ])
        .output();
    let pinger = std::thread::spawn(move || pinger);
    // Meanwhile a writer whose calls are cut by the kill.
    let client = d.client();
    let writer = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for _ in 0..200 {
            match client.call(
                "RunInstances",
                &[R, ("VSwitchId", &vsw), ("InstanceName", "burst")],
            ) {
                Ok(v) => acked.push(
                    v["InstanceIdSets"]["InstanceIdSet"][0]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
                Err(_) => break,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(1500));
    d.kill9();
    let acked = writer.join().expect("writer thread");
    assert!(
        !acked.is_empty(),
        "no write was acknowledged before the kill: nothing to check after it"
    );
    std::thread::sleep(Duration::from_millis(500));
    d.spawn(&[]);

    let out = pinger.join().expect("ping thread").expect("running ping");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("160 received"),
        "pings were lost across kill -9 and restart:\n{text}\nlog:\n{}",
        d.log(2)
    );

    // The state is what was acknowledged: every acknowledged instance, at
    // most one unacknowledged one, nothing torn.
    let after = snapshot(&d);
    assert_eq!(after[0], before[0], "VPCs changed across the restart");
    assert_eq!(
        after[2], before[2],
        "route tables changed across the restart"
    );
    let listed: BTreeSet<String> = d.call(
        "DescribeInstances",
        &[R, ("InstanceName", "burst"), ("PageSize", "100")],
    )["Instances"]["Instance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["InstanceId"].as_str().unwrap().to_string())
        .collect();
    for id in &acked {
        assert!(
            listed.contains(id),
            "acknowledged instance {id} lost in the crash"
        );
    }
    assert!(
        listed.len() <= acked.len() + 1,
        "{} listed, {} acknowledged",
        listed.len(),
        acked.len()
    );
    // The maps were rebuilt from the state: one ENI per instance.
    let total = 3 + listed.len();
    let dp = Datapath::load(Some(&d.namespace)).expect("loading the pinned maps");
    let maps = dp.read().expect("reading the maps");
    assert_eq!(
        enis(&maps),
        total,
        "ENI map does not match the state after restart"
    );
    // And the restarted daemon takes changes.
    d.call(
        "ModifyVpcAttribute",
        &[
            R,
            ("VpcId", report["Vpcs"]["lab"].as_str().unwrap()),
            ("Description", "after restart"),
        ],
    );
}

#[test]
fn parallel_clients_never_tear_state_or_maps() {
    let d = Daemon::start();
    let vpc = d.call("CreateVpc", &[R, ("CidrBlock", "10.8.0.0/16")])["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let vsw = d.call(
        "CreateVSwitch",
        &[
            R,
            ("VpcId", &vpc),
            ("ZoneId", "cn-hangzhou-a"),
            ("CidrBlock", "10.8.1.0/24"),
        ],
    )["VSwitchId"]
        .as_str()
        .unwrap()
        .to_string();
    let d = std::sync::Arc::new(d);
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let d = d.clone();
            let vsw = vsw.clone();
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                for n in 0..5 {
                    let name = format!("w{w}n{n}");
                    // Half the workers go over signed HTTP, half over the socket.
                    let v = if w % 2 == 0 {
                        d.call(
                            "RunInstances",
                            &[R, ("VSwitchId", &vsw), ("InstanceName", &name)],
                        )
                    } else {
                        let (status, v) = http_call(
                            &d,
                            "RunInstances",
                            &[R, ("VSwitchId", &vsw), ("InstanceName", &name)],
                            Some(Signing::default()),
                        );
                        assert_eq!(status, 200, "RunInstances over HTTP: {v}");
                        v
                    };
                    let id = v["InstanceIdSets"]["InstanceIdSet"][0]
                        .as_str()
                        .unwrap()
                        .to_string();
                    if n % 2 == 1 {
                        d.call("DeleteInstance", &[("InstanceId", &id)]);
                    } else {
                        kept.push(id);
                    }
                }
                kept
            })
        })
        .collect();
    let expected: BTreeSet<String> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    let listed = d.call(
        "DescribeInstances",
        &[R, ("VpcId", &vpc), ("PageSize", "100")],
    );
    let instances = listed["Instances"]["Instance"].as_array().unwrap();
    let ids: BTreeSet<String> = instances
        .iter()
        .map(|i| i["InstanceId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, expected, "the state is not what the clients were told");
    let addrs: BTreeSet<&str> = instances
        .iter()
        .map(|i| {
            i["VpcAttributes"]["PrivateIpAddress"]["IpAddress"][0]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(addrs.len(), ids.len(), "two instances got one address");

    let dp = Datapath::load(Some(&d.namespace)).expect("loading the pinned maps");
    let maps = dp.read().expect("reading the maps");
    assert_eq!(enis(&maps), ids.len(), "ENI-by-port map torn");
    // (The VPC's services port's addresses, 100.100.0.0/16, aside.)
    let mapped: BTreeSet<Ipv4Addr> = maps
        .eni_by_address
        .keys()
        .map(|k| Ipv4Addr::from(k.addr))
        .filter(|a| a.octets()[..2] != [100, 100])
        .collect();
    let want: BTreeSet<Ipv4Addr> = addrs.iter().map(|a| addr(a)).collect();
    assert_eq!(mapped, want, "ENI-by-address map torn");
    for id in &ids {
        assert!(vpc_control::netns::exists(id), "no namespace for {id}");
    }
}

#[test]
fn bad_requests_get_cloud_errors_and_change_nothing() {
    let mut d = Daemon::start();
    let vpc = d.call("CreateVpc", &[R, ("CidrBlock", "10.9.0.0/16")])["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    d.call(
        "CreateVSwitch",
        &[
            R,
            ("VpcId", &vpc),
            ("ZoneId", "cn-hangzhou-a"),
            ("CidrBlock", "10.9.1.0/24"),
        ],
    );
    let before = snapshot(&d);

    let code = |e: vpc_control::client::ClientError| e.code().to_string();
    assert_eq!(
        code(d.call_err("CreateUniverse", &[R])),
        "InvalidAction.NotFound"
    );
    assert_eq!(
        code(d.call_err(
            "CreateVpc",
            &[R, ("CidrBlock", "10.0.0.0/16"), ("Colour", "blue")]
        )),
        "InvalidParameter"
    );
    assert_eq!(
        code(d.call_err("CreateVpc", &[R, ("CidrBlock", "10.0.0.300/16")])),
        "InvalidCidrBlock.Malformed"
    );
    assert_eq!(
        code(d.call_err(
            "CreateVSwitch",
            &[R, ("VpcId", &vpc), ("CidrBlock", "10.9.2.0/24")]
        )),
        "MissingParameter"
    );
    assert_eq!(
        code(d.call_err("DeleteVpc", &[R, ("VpcId", &vpc)])),
        "DependencyViolation.VSwitch"
    );
    assert_eq!(
        code(d.call_err("DeleteVpc", &[R, ("VpcId", "vpc-nope")])),
        "InvalidVpcId.NotFound"
    );
    assert_eq!(
        code(d.call_err(
            "CreateVpc",
            &[R, ("CidrBlock", "10.0.0.0/16"), ("DryRun", "true")]
        )),
        "DryRunOperation"
    );

    // Malformed requests.
    let (status, v) = raw_unix(&d, b"POST / HTTP/1.1\r\nhost: x\r\nx-acs-action: CreateVpc\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
    assert_eq!(
        (status, v["Code"].as_str()),
        (400, Some("InvalidParameter.ContentType")),
        "{v}"
    );
    let (status, v) = raw_unix(&d, b"POST /?RegionId=cn-hangzhou HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    assert_eq!(
        (status, v["Code"].as_str()),
        (400, Some("MissingParameter")),
        "no action: {v}"
    );
    assert!(
        v["RequestId"].as_str().is_some_and(|r| r.len() == 36),
        "errors carry a RequestId: {v}"
    );
    let (status, _) = raw_unix(&d, b"\x00\x01garbage\r\n\r\n");
    assert!(status == 0 || status >= 400, "garbage got {status}");

    // Signatures over HTTP.
    let list = [R];
    let (s, v) = http_call(&d, "DescribeVpcs", &list, None);
    assert_eq!(
        (s, v["Code"].as_str()),
        (400, Some("MissingAuthorization")),
        "{v}"
    );
    let (s, v) = http_call(
        &d,
        "DescribeVpcs",
        &list,
        Some(Signing {
            secret: "wrong",
            ..Signing::default()
        }),
    );
    assert_eq!(
        (s, v["Code"].as_str()),
        (400, Some("SignatureDoesNotMatch")),
        "{v}"
    );
    let (s, v) = http_call(
        &d,
        "DescribeVpcs",
        &list,
        Some(Signing {
            id: "LTAInobody",
            ..Signing::default()
        }),
    );
    assert_eq!(
        (s, v["Code"].as_str()),
        (404, Some("InvalidAccessKeyId.NotFound")),
        "{v}"
    );
    let stale = SystemTime::now() - Duration::from_secs(20 * 60);
    let (s, v) = http_call(
        &d,
        "DescribeVpcs",
        &list,
        Some(Signing {
            at: stale,
            ..Signing::default()
        }),
    );
    assert_eq!(
        (s, v["Code"].as_str()),
        (400, Some("InvalidTimeStamp.Expired")),
        "{v}"
    );
    let nonce = format!("nonce-{}", unique(""));
    let (s, v) = http_call(
        &d,
        "DescribeVpcs",
        &list,
        Some(Signing {
            nonce: Some(&nonce),
            ..Signing::default()
        }),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = http_call(
        &d,
        "DescribeVpcs",
        &list,
        Some(Signing {
            nonce: Some(&nonce),
            ..Signing::default()
        }),
    );
    assert_eq!(
        (s, v["Code"].as_str()),
        (400, Some("SignatureNonceUsed")),
        "replay: {v}"
    );
    // What the socket created belongs to the first key's account: its
    // signed calls see it (other accounts do not: service unit tests).
    let (s, v) = http_call(
        &d,
        "DeleteVpc",
        &[R, ("VpcId", &vpc)],
        Some(Signing::default()),
    );
    assert_eq!(
        (s, v["Code"].as_str()),
        (400, Some("DependencyViolation.VSwitch")),
        "{v}"
    );

    assert!(
        d.child()
            .and_then(|c| c.try_wait().ok().flatten())
            .is_none(),
        "the daemon died"
    );
    assert_eq!(snapshot(&d), before, "a refused request changed the state");
}

#[test]
fn daemon_ready_only_when_attached_then_metrics_and_stats() {
    let mut d = Daemon::start();
    let lab = lab_file(&d);
    let report = d.cli_ok(&["apply", "-f", &lab]);
    let web = report["Instances"]["web"].as_str().unwrap().to_string();
    d.kill9();

    // Restart under a service manager's notify socket: READY=1 must come
    // after the programs are attached.
    let notify = d.dir.join("notify");
    let sock = std::os::unix::net::UnixDatagram::bind(&notify).expect("notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let path = notify.display().to_string();
    d.spawn(&[("NOTIFY_SOCKET", &path)]);
    let mut buf = [0u8; 64];
    let n = sock.recv(&mut buf).expect("no READY=1 from the daemon");
    assert_eq!(&buf[..n], b"READY=1");
    // tc mode (the default): one live tcx link pinned per router port
    // (web, app, db and the uplink).
    let links_dir = vpc_control::datapath::pin_dir(&d.namespace).join("links");
    let live: Vec<String> = std::fs::read_dir(&links_dir)
        .expect("links dir")
        .flatten()
        .filter(|e| matches!(vpc_control::datapath::pinned_link_ifindex(&e.path()), Ok(Some(i)) if i != 0))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        live.len() >= 4 && live.iter().all(|n| n.ends_with("-router-tc")),
        "READY=1 before every router port had its program attached: {live:?}"
    );

    assert!(ping(&web, addr("10.0.2.10"), 5), "web cannot ping app");
    let text = scrape(&d);
    let forwarded: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("vpc_forwarded_packets_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no vpc_forwarded_packets_total:\n{text}"));
    assert!(forwarded >= 10, "forwarded {forwarded}");
    assert!(
        text.contains("vpc_dropped_packets_total{reason=\"no_route\"}"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("vpc_port_") && l.contains(&web)),
        "no per-port line for {web}:\n{text}"
    );
    // Table use, from the sweep the daemon runs at start and every 5 s.
    assert_eq!(
        gauge(&text, "vpc_conntrack_entries_max"),
        Some(vpc_common::MAX_CONNECTIONS as u64),
        "{text}"
    );
    assert_eq!(
        gauge(&text, "vpc_nat_mappings_max"),
        Some(vpc_common::MAX_NAT_MAPPINGS as u64),
        "{text}"
    );
    assert!(
        gauge(&text, "vpc_conntrack_entries").is_some(),
        "no vpc_conntrack_entries:\n{text}"
    );
    assert!(
        gauge(&text, "vpc_nat_mappings").is_some(),
        "no vpc_nat_mappings:\n{text}"
    );

    let stats = d.cli_ok(&["stats"]);
    assert!(
        stats["Actions"]["forwarded"].as_u64().unwrap_or(0) >= forwarded,
        "{stats}"
    );
}

/// GET /metrics on the daemon's metrics address (status 200 asserted): the
/// whole response.
fn scrape(d: &Daemon) -> String {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect(("127.0.0.1", d.metrics_port)).expect("metrics connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert_eq!(raw.split_whitespace().nth(1), Some("200"), "{raw}");
    raw
}

/// The value of an unlabelled sample `name` in a scrape.
fn gauge(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn sg_1_the_daemon_sweeps_idle_connections_and_reports_table_use() {
    let d = Daemon::start();
    let vpc = id_of(
        &d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]),
        &["VpcId"],
    );
    let vsw = id_of(
        &d.call(
            "CreateVSwitch",
            &[
                R,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        ),
        &["VSwitchId"],
    );
    let sg = id_of(
        &d.call(
            "CreateSecurityGroup",
            &[R, ("VpcId", &vpc), ("SecurityGroupName", "icmp")],
        ),
        &["SecurityGroupId"],
    );
    d.call(
        "AuthorizeSecurityGroup",
        &[
            R,
            ("SecurityGroupId", &sg),
            ("Permissions.1.IpProtocol", "ICMP"),
            ("Permissions.1.PortRange", "-1/-1"),
            ("Permissions.1.SourceCidrIp", "10.0.0.0/16"),
        ],
    );
    let run = |ip: &str| {
        id_of(
            &d.call(
                "RunInstances",
                &[
                    R,
                    ("VSwitchId", &vsw),
                    ("PrivateIpAddress", ip),
                    ("SecurityGroupId", &sg),
                ],
            ),
            &["InstanceIdSets", "InstanceIdSet"],
        )
    };
    let a = run("10.0.1.10");
    run("10.0.1.11");
    let connections =
        || gauge(&scrape(&d), "vpc_conntrack_entries").expect("no vpc_conntrack_entries");

    // One ping run: one tracked echo flow (its replies belong to it).
    assert!(
        ping(&a, addr("10.0.1.11"), 3),
        "ICMP between members is allowed"
    );
    let idle_from = std::time::Instant::now();
    let deadline = idle_from + Duration::from_secs(15);
    while connections() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no sweep reported the tracked connection in 15 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // ICMP connections go idle after 30 s; the sweep runs every 5 s.
    let timeout = Duration::from_nanos(vpc_common::ct_timeout::ICMP_NS);
    let deadline = idle_from + timeout + Duration::from_secs(20);
    while connections() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle connection was not swept within {:?}",
            deadline - idle_from
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let swept_after = idle_from.elapsed();
    assert!(
        swept_after + Duration::from_secs(1) >= timeout,
        "swept after {swept_after:?}, before its {timeout:?} idle timeout"
    );
}

fn id_of(v: &Value, path: &[&str]) -> String {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_str()
        .or_else(|| x[0].as_str())
        .unwrap_or_else(|| panic!("no {path:?} in {v}"))
        .to_string()
}

#[test]
fn sg_5_example_rules_allow_exactly_that_and_revoking_cuts_a_live_flow() {
    use std::io::{Read, Write};
    let d = Daemon::start();
    let vpc = id_of(
        &d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]),
        &["VpcId"],
    );
    let vsw_a = id_of(
        &d.call(
            "CreateVSwitch",
            &[
                R,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        ),
        &["VSwitchId"],
    );
    let vsw_b = id_of(
        &d.call(
            "CreateVSwitch",
            &[
                R,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-b"),
                ("CidrBlock", "10.0.2.0/24"),
            ],
        ),
        &["VSwitchId"],
    );
    let web = id_of(
        &d.call(
            "CreateSecurityGroup",
            &[R, ("VpcId", &vpc), ("SecurityGroupName", "web")],
        ),
        &["SecurityGroupId"],
    );
    let client_sg = id_of(
        &d.call(
            "CreateSecurityGroup",
            &[R, ("VpcId", &vpc), ("SecurityGroupName", "client")],
        ),
        &["SecurityGroupId"],
    );
    // SG-5's example: ICMP in, TCP 22 in, TCP 80 and 443 in.
    d.call(
        "AuthorizeSecurityGroup",
        &[
            R,
            ("SecurityGroupId", &web),
            ("Permissions.1.IpProtocol", "ICMP"),
            ("Permissions.1.PortRange", "-1/-1"),
            ("Permissions.1.SourceCidrIp", "0.0.0.0/0"),
            ("Permissions.2.IpProtocol", "TCP"),
            ("Permissions.2.PortRange", "22/22"),
            ("Permissions.2.SourceCidrIp", "0.0.0.0/0"),
            ("Permissions.3.IpProtocol", "TCP"),
            ("Permissions.3.PortRange", "80/80"),
            ("Permissions.3.SourceCidrIp", "0.0.0.0/0"),
            ("Permissions.4.IpProtocol", "TCP"),
            ("Permissions.4.PortRange", "443/443"),
            ("Permissions.4.SourceCidrIp", "0.0.0.0/0"),
        ],
    );
    let client = id_of(
        &d.call(
            "RunInstances",
            &[
                R,
                ("VSwitchId", &vsw_a),
                ("PrivateIpAddress", "10.0.1.10"),
                ("SecurityGroupId", &client_sg),
            ],
        ),
        &["InstanceIdSets", "InstanceIdSet"],
    );
    let server = id_of(
        &d.call(
            "RunInstances",
            &[
                R,
                ("VSwitchId", &vsw_b),
                ("PrivateIpAddress", "10.0.2.10"),
                ("SecurityGroupIds.1", &web),
            ],
        ),
        &["InstanceIdSets", "InstanceIdSet"],
    );
    let srv = addr("10.0.2.10");
    assert!(ping(&client, srv, 2), "ICMP in is allowed");
    for port in [22, 80, 443] {
        assert!(
            tcp_echo(&server, &client, srv, port),
            "TCP {port} in is allowed"
        );
    }
    assert!(
        !tcp_echo(&server, &client, srv, 8080),
        "TCP 8080 in is not allowed"
    );
    assert!(
        ping_fails(&server, addr("10.0.1.10")),
        "unsolicited inbound to the client passed"
    );

    // A live TCP flow on 22, then the rule is revoked.
    let listener = {
        let _in = vpc_control::netns::NetnsGuard::enter(&server).expect("enter server");
        std::net::TcpListener::bind((srv, 22)).expect("bind 22")
    };
    let echo = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            // The client's FIN is dropped once the flow is cut: do not wait forever.
            s.set_read_timeout(Some(Duration::from_secs(3))).ok();
            let mut buf = [0u8; 64];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });
    let mut stream = {
        let _in = vpc_control::netns::NetnsGuard::enter(&client).expect("enter client");
        std::net::TcpStream::connect_timeout(&(srv, 22).into(), Duration::from_secs(2))
            .expect("connect 22")
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buf = [0u8; 4];
    stream.write_all(b"ping").unwrap();
    stream.read_exact(&mut buf).expect("echo before the revoke");
    let attr = d.call(
        "DescribeSecurityGroupAttribute",
        &[R, ("SecurityGroupId", &web), ("Direction", "ingress")],
    );
    let rule = attr["Permissions"]["Permission"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PortRange"] == "22/22")
        .map(|p| p["SecurityGroupRuleId"].as_str().unwrap().to_string())
        .expect("the 22 rule");
    d.call(
        "RevokeSecurityGroup",
        &[
            R,
            ("SecurityGroupId", &web),
            ("SecurityGroupRuleId.1", &rule),
        ],
    );
    let started = std::time::Instant::now();
    stream.write_all(b"pong").unwrap();
    assert!(
        stream.read_exact(&mut buf).is_err(),
        "the flow survived the revoke"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        started.elapsed()
    );
    drop(stream);
    let counters = d.call("DescribeRouterStats", &[]);
    assert!(
        counters["Drops"]["sg_ingress"].as_u64().unwrap_or(0) > 0,
        "{counters}"
    );
    echo.join().expect("echo thread");
}

#[test]
fn acl_1_a_network_acl_denies_one_vswitch_to_another_while_the_sgs_allow_it() {
    let d = Daemon::start();
    let lab = lab_file(&d);
    let report = d.cli_ok(&["apply", "-f", &lab]);
    let vpc = report["Vpcs"]["lab"].as_str().unwrap().to_string();
    let (web, app, db) = (
        report["Instances"]["web"].as_str().unwrap().to_string(),
        report["Instances"]["app"].as_str().unwrap().to_string(),
        report["Instances"]["db"].as_str().unwrap().to_string(),
    );
    // One basic group for all, open to the whole VPC: the SGs allow everything.
    let sg = id_of(
        &d.call("CreateSecurityGroup", &[R, ("VpcId", &vpc)]),
        &["SecurityGroupId"],
    );
    d.call(
        "AuthorizeSecurityGroup",
        &[
            R,
            ("SecurityGroupId", &sg),
            ("IpProtocol", "all"),
            ("PortRange", "-1/-1"),
            ("SourceCidrIp", "10.0.0.0/16"),
        ],
    );
    for i in [&web, &app, &db] {
        let eni = vpc_control::model::eni_id_of(i);
        d.call(
            "ModifyNetworkInterfaceAttribute",
            &[R, ("NetworkInterfaceId", &eni), ("SecurityGroupId.1", &sg)],
        );
    }
    assert!(
        ping(&web, addr("10.0.2.10"), 2),
        "web -> app before the ACL"
    );
    let acl = id_of(
        &d.call("CreateNetworkAcl", &[R, ("VpcId", &vpc)]),
        &["NetworkAclId"],
    );
    d.call(
        "UpdateNetworkAclEntries",
        &[
            R,
            ("NetworkAclId", &acl),
            ("UpdateIngressAclEntries", "true"),
            ("IngressAclEntries.1.Policy", "drop"),
            ("IngressAclEntries.1.Protocol", "all"),
            ("IngressAclEntries.1.Port", "-1/-1"),
            ("IngressAclEntries.1.SourceCidrIp", "10.0.1.0/24"),
        ],
    );
    let app_vsw = report["VSwitches"]["app"].as_str().unwrap().to_string();
    d.call(
        "AssociateNetworkAcl",
        &[
            R,
            ("NetworkAclId", &acl),
            ("Resource.1.ResourceId", &app_vsw),
            ("Resource.1.ResourceType", "VSwitch"),
        ],
    );
    assert!(
        ping_fails(&web, addr("10.0.2.10")),
        "the ACL did not stop web -> app"
    );
    assert!(
        !tcp_echo(&app, &web, addr("10.0.2.10"), 7003),
        "TCP web -> app passed the ACL"
    );
    assert!(
        ping(&app, addr("10.0.2.20"), 2),
        "inside the app vSwitch traffic must pass"
    );
    let stats = d.call("DescribeRouterStats", &[]);
    assert!(
        stats["Drops"]["acl_ingress"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    d.call(
        "UnassociateNetworkAcl",
        &[
            R,
            ("NetworkAclId", &acl),
            ("Resource.1.ResourceId", &app_vsw),
        ],
    );
    assert!(
        ping(&web, addr("10.0.2.10"), 2),
        "web -> app after the ACL is gone"
    );
}

#[test]
fn sg_1_acl_1_official_sdk_drives_security_groups_and_network_acls() {
    let d = Daemon::start();
    let out = json_line(&sdk(&d, &["sg-acl"], ACCESS_KEY_SECRET), "SDK sg-acl");
    assert_eq!(out["ok"], true, "{out}");
}

/// Builds the lab through the API, stops the daemon, runs `wreck(d, web,
/// db)` behind its back, starts it again: it must come up by itself (no
/// `vpc purge`) and web and db ping each other again. Returns the daemon and
/// the ids of web, app and db.
fn restart_after(wreck: impl FnOnce(&Daemon, &str, &str)) -> (Daemon, [String; 3]) {
    let mut d = Daemon::start();
    let lab = lab_file(&d);
    let report = d.cli_ok(&["apply", "-f", &lab]);
    let id = |n: &str| {
        report["Instances"][n]
            .as_str()
            .unwrap_or_else(|| panic!("no {n} in {report}"))
            .to_string()
    };
    let (web, app, db) = (id("web"), id("app"), id("db"));
    assert_eq!(
        ping_replies(&web, addr("10.0.2.20"), 5),
        5,
        "web cannot ping db before the restart"
    );
    d.kill9();
    wreck(&d, &web, &db);
    // Panics with the log if the daemon exits instead of serving.
    d.spawn(&[]);
    assert_eq!(
        ping_replies(&web, addr("10.0.2.20"), 5),
        5,
        "web does not ping db after the restart:\n{}",
        d.log(2)
    );
    assert_eq!(
        ping_replies(&db, addr("10.0.1.10"), 5),
        5,
        "db does not ping web after the restart:\n{}",
        d.log(2)
    );
    assert!(
        d.log(2).contains("dropped"),
        "no warning of what was dropped at load:\n{}",
        d.log(2)
    );
    (d, [web, app, db])
}

#[test]
fn vpc_3_a_router_namespace_deleted_while_the_daemon_is_stopped_is_rebuilt_at_start() {
    let (d, [web, app, _]) = restart_after(|d, _, _| {
        vpc_control::netns::ip(&["netns", "del", &d.namespace])
            .expect("deleting the router namespace");
    });
    assert_eq!(
        ping_replies(&web, addr("10.0.2.10"), 3),
        3,
        "web does not ping app"
    );
    // And the daemon takes changes after.
    let vpc = d.call("DescribeVpcs", &[R])["Vpcs"]["Vpc"][0]["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    d.call(
        "ModifyVpcAttribute",
        &[R, ("VpcId", &vpc), ("Description", "after recovery")],
    );
    let _ = app;
}

#[test]
fn vpc_3_an_instance_namespace_deleted_while_the_daemon_is_stopped_is_rebuilt_at_start() {
    let (_d, [_web, app, _]) = restart_after(|_, web, db| {
        vpc_control::netns::ip(&["netns", "del", db]).expect("deleting db's namespace");
        // The surviving ports keep forwarding without the daemon.
        assert_eq!(
            ping_replies(web, addr("10.0.2.10"), 3),
            3,
            "web lost app while db's namespace went"
        );
    });
    assert_eq!(
        ping_replies(&app, addr("10.0.1.10"), 3),
        3,
        "app does not ping web"
    );
}

/// `vpc ARGS...` against `d` with only `env` (and PATH) in its environment,
/// HOME in `home`: TotalCount of the JSON it prints.
fn cli_count(d: &Daemon, home: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> u64 {
    let o = Command::new(vpc_binary())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .arg("--socket")
        .arg(d.socket())
        .args(args)
        .output()
        .expect("running vpc");
    let v = json_line(&o, &format!("vpc {args:?} with {env:?}"));
    v["TotalCount"]
        .as_u64()
        .unwrap_or_else(|| panic!("no TotalCount: {v}"))
}

#[test]
fn the_cli_takes_a_default_region_from_the_flag_the_aliyun_config_or_the_environment() {
    let d = Daemon::start();
    d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]);
    let home = d.dir.join("home");
    let none = d.dir.join("nohome");
    std::fs::create_dir_all(home.join(".aliyun")).unwrap();
    std::fs::write(
        home.join(".aliyun/config.json"),
        r#"{"current": "default", "profiles": [{"name": "default", "mode": "AK", "region_id": "cn-hangzhou"},
            {"name": "bj", "mode": "AK", "region_id": "cn-beijing"}]}"#,
    )
    .unwrap();
    // The VPC is in cn-hangzhou: a call in cn-beijing lists none.
    let bj = [("ALIBABA_CLOUD_REGION_ID", "cn-beijing")];
    assert_eq!(
        cli_count(&d, &none, &bj, &["DescribeVpcs"]),
        0,
        "ALIBABA_CLOUD_REGION_ID not used"
    );
    assert_eq!(
        cli_count(
            &d,
            &none,
            &[("ALICLOUD_REGION", "cn-hangzhou")],
            &["DescribeVpcs"]
        ),
        1
    );
    assert_eq!(
        cli_count(
            &d,
            &none,
            &[("ALICLOUD_REGION_ID", "cn-beijing")],
            &["DescribeVpcs"]
        ),
        0
    );
    // The config file's profile comes before the environment (the aliyun CLI's order).
    assert_eq!(
        cli_count(&d, &home, &bj, &["DescribeVpcs"]),
        1,
        "the config file's region was not used"
    );
    assert_eq!(
        cli_count(
            &d,
            &home,
            &[("ALIBABA_CLOUD_PROFILE", "bj")],
            &["DescribeVpcs"]
        ),
        0
    );
    // The flag, before or after the action, wins over both.
    assert_eq!(
        cli_count(&d, &home, &[], &["--region", "cn-beijing", "DescribeVpcs"]),
        0
    );
    assert_eq!(
        cli_count(&d, &home, &[], &["DescribeVpcs", "--region", "cn-beijing"]),
        0
    );
    assert_eq!(
        cli_count(&d, &none, &bj, &["DescribeVpcs", "--region=cn-hangzhou"]),
        1
    );
    // An explicit --RegionId wins over every default.
    assert_eq!(
        cli_count(
            &d,
            &home,
            &bj,
            &[
                "--region",
                "cn-beijing",
                "DescribeVpcs",
                "--RegionId",
                "cn-hangzhou"
            ]
        ),
        1
    );
}

/// Builds the lab, runs `wreck(d, db)` under the running daemon, makes one
/// change through the API: it must succeed and leave web and db pinging
/// each other again.
fn next_change_after(wreck: impl FnOnce(&Daemon, &str)) {
    let d = Daemon::start();
    let lab = lab_file(&d);
    let report = d.cli_ok(&["apply", "-f", &lab]);
    let web = report["Instances"]["web"].as_str().unwrap().to_string();
    let db = report["Instances"]["db"].as_str().unwrap().to_string();
    let vpc = report["Vpcs"]["lab"].as_str().unwrap().to_string();
    assert_eq!(
        ping_replies(&web, addr("10.0.2.20"), 3),
        3,
        "web cannot ping db at first"
    );
    wreck(&d, &db);
    d.call(
        "ModifyVpcAttribute",
        &[R, ("VpcId", &vpc), ("Description", "after the wreck")],
    );
    assert_eq!(
        ping_replies(&web, addr("10.0.2.20"), 5),
        5,
        "web does not ping db after the change:\n{}",
        d.log(1)
    );
    assert_eq!(
        ping_replies(&db, addr("10.0.1.10"), 5),
        5,
        "db does not ping web after the change:\n{}",
        d.log(1)
    );
    // And the change after that (on trusted caches again).
    d.call(
        "ModifyVpcAttribute",
        &[R, ("VpcId", &vpc), ("Description", "and again")],
    );
    assert_eq!(
        ping_replies(&web, addr("10.0.2.20"), 3),
        3,
        "web does not ping db after a second change"
    );
}

#[test]
fn vpc_3_an_instance_namespace_deleted_under_the_running_daemon_is_rebuilt_by_the_next_change() {
    next_change_after(|_, db| {
        vpc_control::netns::ip(&["netns", "del", db]).expect("deleting db's namespace");
    });
}

#[test]
fn vpc_3_a_router_namespace_deleted_under_the_running_daemon_is_rebuilt_by_the_next_change() {
    next_change_after(|d, _| {
        vpc_control::netns::ip(&["netns", "del", &d.namespace])
            .expect("deleting the router namespace");
    });
}

/// A namespace the daemon made for an instance whose change never committed
/// (killed between `netns add` and the commit, as the kill -9 test can do):
/// recorded as the router's before it was made, removed at the next start
/// and by `vpc purge`.
#[test]
fn instance_namespaces_left_half_made_are_removed_at_start_and_by_purge() {
    let mut d = Daemon::start();
    let half_made = |d: &Daemon| {
        let inst = unique("i-halfmade");
        vpc_control::apply::claim_namespace(&d.namespace, &inst).expect("recording the namespace");
        let ns = ScratchNs(inst);
        vpc_control::netns::add(&ns.0).expect("making the namespace");
        ns
    };
    d.kill9();
    let first = half_made(&d);
    d.spawn(&[]);
    assert!(
        !vpc_control::netns::exists(&first.0),
        "{} is still there after the restart:\n{}",
        first.0,
        d.log(2)
    );
    assert!(
        d.log(2)
            .contains("removing an instance namespace no instance has"),
        "{}",
        d.log(2)
    );
    d.kill9();
    let second = half_made(&d);
    d.cli_ok(&["purge", "--namespace", &d.namespace]);
    assert!(
        !vpc_control::netns::exists(&second.0),
        "{} is still there after vpc purge",
        second.0
    );
    assert!(
        !vpc_control::apply::claims_dir(&d.namespace).exists(),
        "purge leaves the router's records"
    );
}

/// Every kind of bad input the hardening review tried, over signed HTTP as
/// the SDKs send it (and raw bytes over the socket for what an SDK cannot
/// send): each gets the cloud's code and status in its JSON shape with a
/// RequestId, changes nothing, and the daemon stays up.
#[test]
fn hardening_bad_input_over_http_gets_the_clouds_errors_and_changes_nothing() {
    let mut d = Daemon::start_with_env(true, &[("VPC_QUOTAS", "vpcs_per_region=1")]);
    let vpc = d.call("CreateVpc", &[R, ("CidrBlock", "10.9.0.0/16")])["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let vsw = d.call(
        "CreateVSwitch",
        &[
            R,
            ("VpcId", &vpc),
            ("ZoneId", "cn-hangzhou-a"),
            ("CidrBlock", "10.9.1.0/24"),
        ],
    )["VSwitchId"]
        .as_str()
        .unwrap()
        .to_string();
    let sg = d.call("CreateSecurityGroup", &[R, ("VpcId", &vpc)])["SecurityGroupId"]
        .as_str()
        .unwrap()
        .to_string();
    let state = |d: &Daemon| {
        let mut s = snapshot(d);
        for (action, params) in [
            ("DescribeSecurityGroups", vec![R]),
            (
                "ListTagResources",
                vec![R, ("ResourceType", "VPC"), ("ResourceId.1", vpc.as_str())],
            ),
        ] {
            let mut g = d.call(action, &params);
            g.as_object_mut().map(|o| o.remove("RequestId"));
            s.push(g);
        }
        s
    };
    let before = state(&d);
    let name300 = "n".repeat(300);
    let long_description = "d".repeat(4096);
    let cases: Vec<(&str, Vec<(&str, &str)>, u16, &str)> = vec![
        (
            "CreateVpc",
            vec![R, ("CidrBlock", "10.8.0.0/16")],
            400,
            "QuotaExceeded.Vpc",
        ),
        (
            "ModifyVpcAttribute",
            vec![R, ("VpcId", &vpc), ("VpcName", &name300)],
            400,
            "InvalidVpcName.Malformed",
        ),
        (
            "ModifyVpcAttribute",
            vec![R, ("VpcId", &vpc), ("Description", &long_description)],
            400,
            "InvalidVpcDiscription.Malformed",
        ),
        (
            "ModifyVpcAttribute",
            vec![R, ("VpcId", &vpc), ("VpcName", "https://x")],
            400,
            "InvalidVpcName.Malformed",
        ),
        (
            "ModifyVpcAttribute",
            vec![R, ("VpcId", &vpc), ("VpcName", "nul\u{0}name")],
            400,
            "InvalidParameter",
        ),
        (
            "ModifyVSwitchAttribute",
            vec![R, ("VSwitchId", &vsw), ("VSwitchName", &name300)],
            400,
            "InvalidVSwitchName.Malformed",
        ),
        (
            "ModifySecurityGroupAttribute",
            vec![R, ("SecurityGroupId", &sg), ("SecurityGroupName", "9lives")],
            400,
            "InvalidSecurityGroupName.Malformed",
        ),
        (
            "RunInstances",
            vec![R, ("VSwitchId", &vsw), ("InstanceName", &name300)],
            400,
            "InvalidInstanceName.Malformed",
        ),
        (
            "CreateVSwitch",
            vec![
                R,
                ("VpcId", &vpc),
                ("ZoneId", &name300),
                ("CidrBlock", "10.9.2.0/24"),
            ],
            404,
            "InvalidZoneId.NotFound",
        ),
        (
            "CreateVSwitch",
            vec![
                ("RegionId", "xx-nowhere-1"),
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.9.2.0/24"),
            ],
            404,
            "InvalidRegionId.NotFound",
        ),
        (
            "DescribeVpcs",
            vec![("RegionId", &name300)],
            404,
            "InvalidRegionId.NotFound",
        ),
        (
            "CreateVSwitch",
            vec![
                R,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.9.2.0/24"),
                ("ClientToken", &name300),
            ],
            400,
            "InvalidParameter",
        ),
        (
            "CreateVSwitch",
            vec![
                R,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "010.9.2.0/24"),
            ],
            400,
            "InvalidCidrBlock.Malformed",
        ),
        (
            "ModifyVpcAttribute",
            vec![R, ("VpcId", &vpc), ("CidrBlock", "127.0.0.0/16")],
            400,
            "InvalidCidrBlock.Malformed",
        ),
        (
            "ModifyVpcAttribute",
            vec![R, ("VpcId", &vpc), ("CidrBlock", "169.254.0.0/16")],
            400,
            "InvalidCidrBlock.Malformed",
        ),
        (
            "AuthorizeSecurityGroup",
            vec![
                R,
                ("SecurityGroupId", &sg),
                ("Permissions.01.IpProtocol", "ICMP"),
                ("Permissions.01.PortRange", "-1/-1"),
                ("Permissions.01.SourceCidrIp", "10.0.0.0/8"),
            ],
            400,
            "InvalidParameter",
        ),
        (
            "AuthorizeSecurityGroup",
            vec![
                R,
                ("SecurityGroupId", &sg),
                ("Permissions.+1.IpProtocol", "ICMP"),
                ("Permissions.+1.PortRange", "-1/-1"),
                ("Permissions.+1.SourceCidrIp", "10.0.0.0/8"),
            ],
            400,
            "InvalidParameter",
        ),
    ];
    // Every case is tried; the mismatches are listed together.
    let mut wrong = Vec::new();
    for (action, params, status, code) in &cases {
        let (s, v) = http_call(&d, action, params, Some(Signing::default()));
        if (s, v["Code"].as_str()) != (*status, Some(*code))
            || !v["RequestId"].as_str().is_some_and(|r| r.len() == 36)
        {
            wrong.push(format!(
                "{action} {:.120?}: want {status} {code}, got {s} {v:.200}",
                params
            ));
        }
    }
    // Bytes that are not UTF-8 (no SDK sends them): over the socket, raw.
    let modify = format!("Action=ModifyVpcAttribute&RegionId=cn-hangzhou&VpcId={vpc}");
    let tag =
        format!("Action=TagResources&RegionId=cn-hangzhou&ResourceType=VPC&ResourceId.1={vpc}");
    for query in [
        format!("{modify}&VpcName=%FF%FE"),
        format!("{modify}&VpcName=a%00b"),
        format!("{tag}&Tag.01.Key=k"),
    ] {
        let req = format!(
            "POST /?{query} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        let (status, v) = raw_unix(&d, req.as_bytes());
        if (status, v["Code"].as_str()) != (400, Some("InvalidParameter")) {
            wrong.push(format!(
                "{query}: want 400 InvalidParameter, got {status} {v:.200}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} bad inputs not refused as the cloud does:\n{}",
        wrong.len(),
        cases.len() + 3,
        wrong.join("\n")
    );
    assert!(
        d.child()
            .and_then(|c| c.try_wait().ok().flatten())
            .is_none(),
        "the daemon died"
    );
    assert_eq!(state(&d), before, "a refused request changed the state");
    // The bounds themselves are fine.
    let (s, v) = http_call(
        &d,
        "ModifyVpcAttribute",
        &[
            R,
            ("VpcId", &vpc),
            ("VpcName", &"n".repeat(128)),
            ("Description", &"d".repeat(256)),
        ],
        Some(Signing::default()),
    );
    assert_eq!(s, 200, "{v}");
}

/// Security group changes in quick succession, each replacing the group's
/// policy (content-addressed: the rule set flips between two policies): the
/// daemon removes a replaced policy's entries only once their grace has
/// passed, by a task of its own, and keeps them when a later change brings
/// that policy back. Afterwards the policy maps hold the entries of the
/// policies the ENIs use and nothing else, exactly what a fresh start writes.
#[test]
fn sg_rule_changes_in_quick_succession_leave_exactly_the_policies_in_use() {
    let mut d = Daemon::start();
    let vpc = id_of(
        &d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]),
        &["VpcId"],
    );
    let vsw = id_of(
        &d.call(
            "CreateVSwitch",
            &[
                R,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        ),
        &["VSwitchId"],
    );
    let sg = id_of(
        &d.call("CreateSecurityGroup", &[R, ("VpcId", &vpc)]),
        &["SecurityGroupId"],
    );
    d.call(
        "RunInstances",
        &[
            R,
            ("VSwitchId", &vsw),
            ("PrivateIpAddress", "10.0.1.10"),
            ("SecurityGroupId", &sg),
        ],
    );
    // A rule kept throughout: both policies have entries.
    d.call(
        "AuthorizeSecurityGroup",
        &[
            R,
            ("SecurityGroupId", &sg),
            ("Permissions.1.IpProtocol", "TCP"),
            ("Permissions.1.PortRange", "22/22"),
            ("Permissions.1.SourceCidrIp", "10.0.0.0/16"),
        ],
    );
    // Four clients, each flipping a rule of its own: changes come back to
    // back, and the group's rule set comes back to earlier ones (their
    // policies) within the grace. Each ends with its rule in.
    std::thread::scope(|s| {
        for w in 0..4u16 {
            let (d, sg) = (&d, sg.as_str());
            s.spawn(move || {
                let port = format!("{p}/{p}", p = 5353 + w);
                let rule = [
                    R,
                    ("SecurityGroupId", sg),
                    ("Permissions.1.IpProtocol", "UDP"),
                    ("Permissions.1.PortRange", port.as_str()),
                    ("Permissions.1.SourceCidrIp", "10.0.1.20/32"),
                    ("Permissions.1.Priority", "1"),
                ];
                for n in 0..21 {
                    let action = if n % 2 == 0 {
                        "AuthorizeSecurityGroup"
                    } else {
                        "RevokeSecurityGroup"
                    };
                    d.call(action, &rule);
                }
            });
        }
    });
    // Well past the grace (5 ms).
    std::thread::sleep(Duration::from_millis(300));
    let maps = |ns: &str| {
        Datapath::load(Some(ns))
            .expect("loading the pinned maps")
            .read()
            .expect("reading the maps")
    };
    let before = maps(&d.namespace);
    let in_use: BTreeSet<u32> = before
        .eni_by_port
        .values()
        .flat_map(|e| [e.sg_ingress, e.sg_egress, e.acl_ingress, e.acl_egress])
        .filter(|p| *p != 0)
        .collect();
    for ((_, k), _) in before.policies.addresses() {
        assert!(
            in_use.contains(&{ k.policy_id }),
            "policy {} left in POLICY_ADDRESSES, in use: {in_use:?}",
            { k.policy_id }
        );
    }
    for ((_, k), _) in before.policies.ports() {
        assert!(
            in_use.contains(&{ k.policy_id }),
            "policy {} left in POLICY_PORTS, in use: {in_use:?}",
            { k.policy_id }
        );
    }
    // A start converges the maps to the model from what they hold: nothing
    // to add, nothing to remove.
    d.kill9();
    d.spawn(&[]);
    let after = maps(&d.namespace);
    assert_eq!(before.policies, after.policies);
}
