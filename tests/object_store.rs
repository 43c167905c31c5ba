//! The object storage service the daemon hosts (`--object-store-listen`),
//! driven by the official OSS SDKs (tests/sdk/oss_sdk.py: oss2 with
//! signatures V1 and V4, alibabacloud-oss-v2), by hand-made HTTP for what
//! the SDKs refuse to send, and through kill -9 in the middle of an upload.
use std::{
    io::{Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use vpc_tests::{
    ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID, Daemon, OTHER_ACCOUNT_ID, OTHER_KEY_ID,
    OTHER_KEY_SECRET, sdk_python, unique,
};

/// A free port for the object storage listener.
fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = fastrand::u16(20000..32000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// A daemon serving object storage on 127.0.0.1:<port>.
fn daemon() -> (Daemon, u16) {
    let port = free_port();
    let mut d = Daemon::new(true);
    d.args = vec!["--object-store-listen".into(), format!("127.0.0.1:{port}")];
    d.spawn(&[]);
    (d, port)
}

/// A bucket name unique to this run (lowercase, digits, hyphens).
fn bucket_name() -> String {
    unique("oss").to_ascii_lowercase().replace('_', "-")
}

fn script(port: u16, mode: &str, bucket: &str) -> Command {
    let mut c = Command::new(sdk_python());
    c.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk/oss_sdk.py"))
        .args([mode, &format!("http://127.0.0.1:{port}"), bucket])
        .env("OSS_AK", ACCESS_KEY_ID)
        .env("OSS_SK", ACCESS_KEY_SECRET)
        .env("OSS_OTHER_AK", OTHER_KEY_ID)
        .env("OSS_OTHER_SK", OTHER_KEY_SECRET)
        .env("OSS_ACCOUNT", ACCOUNT_ID)
        .env("OSS_OTHER_ACCOUNT", OTHER_ACCOUNT_ID)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("no_proxy")
        .env_remove("NO_PROXY");
    c
}

fn run_script(d: &Daemon, port: u16, mode: &str, bucket: &str) -> Output {
    let o = script(port, mode, bucket)
        .output()
        .unwrap_or_else(|e| panic!("running oss_sdk.py: {e}"));
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains(&format!("ok {mode}")),
        "oss_sdk.py {mode} failed:\n{}\n{}\ndaemon log:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        d.log(d.starts())
    );
    o
}

#[test]
fn oss2_signature_v1_drives_every_operation() {
    let (d, port) = daemon();
    run_script(&d, port, "oss2-v1", &bucket_name());
}

#[test]
fn oss2_signature_v4_drives_every_operation() {
    let (d, port) = daemon();
    run_script(&d, port, "oss2-v4", &bucket_name());
}

#[test]
fn alibabacloud_oss_v2_drives_every_operation() {
    let (d, port) = daemon();
    run_script(&d, port, "v2", &bucket_name());
}

/// One raw HTTP/1.1 exchange: (status, headers, body).
fn http(port: u16, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(request.as_bytes()).expect("sending");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, head.to_string(), body.to_string())
}

#[test]
fn malformed_requests_get_oss_xml_errors_and_change_nothing() {
    let (d, port) = daemon();
    let cases: &[(&str, u16, &str)] = &[
        // Names checked before anything else.
        (
            "PUT /Bad_Name HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            400,
            "InvalidBucketName",
        ),
        (
            "GET /ab/k HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            400,
            "InvalidBucketName",
        ),
        // Keys OSS does not take.
        (
            "GET /some-bucket//k HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            400,
            "InvalidObjectName",
        ),
        // Anonymous: no bucket list, no bucket creation.
        (
            "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            403,
            "AccessDenied",
        ),
        (
            "PUT /anon-bucket HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            403,
            "AccessDenied",
        ),
        // Authorization headers that are neither scheme, or broken.
        (
            "GET / HTTP/1.1\r\nhost: x\r\nauthorization: Bearer x\r\nconnection: close\r\n\r\n",
            400,
            "InvalidArgument",
        ),
        (
            "GET / HTTP/1.1\r\nhost: x\r\nauthorization: OSS4-HMAC-SHA256 nonsense\r\nconnection: close\r\n\r\n",
            400,
            "InvalidArgument",
        ),
        (
            "GET / HTTP/1.1\r\nhost: x\r\nauthorization: OSS LTAItestkey:abc\r\ndate: Sat, 05 Dec 2015 11:10:29 GMT\r\nconnection: close\r\n\r\n",
            403,
            "RequestTimeTooSkewed",
        ),
        (
            "GET / HTTP/1.1\r\nhost: x\r\nauthorization: OSS LTAInobody:abc\r\ndate: Sat, 05 Dec 2015 11:10:29 GMT\r\nconnection: close\r\n\r\n",
            403,
            "InvalidAccessKeyId",
        ),
        // A body announced (never sent) to a bucket that does not exist:
        // refused at once, the body never read.
        (
            "PUT /some-bucket/k HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999\r\nconnection: close\r\n\r\n",
            404,
            "NoSuchBucket",
        ),
    ];
    for (req, status, code) in cases {
        let (got, head, body) = http(port, req);
        assert_eq!(got, *status, "{req:?}:\n{head}\n{body}");
        assert!(
            body.starts_with("<?xml") && body.contains(&format!("<Code>{code}</Code>")),
            "{req:?}: {body}"
        );
        assert!(
            body.contains("<RequestId>") && body.contains("<HostId>"),
            "{body}"
        );
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("x-oss-request-id: "))
            .unwrap_or_else(|| panic!("no x-oss-request-id in {head}"));
        assert!(
            body.contains(&format!("<RequestId>{id}</RequestId>")),
            "{head}\n{body}"
        );
    }
    // Nothing was made, and the daemon still serves.
    assert!(
        !d.state_dir()
            .join("object-store/buckets/anon-bucket")
            .exists()
    );
    run_script(&d, port, "oss2-v1", &bucket_name());
}

#[test]
fn kill_9_mid_upload_leaves_the_old_version_whole() {
    let (mut d, port) = daemon();
    let bucket = bucket_name();
    let mut put = script(port, "durable-put", &bucket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the upload");
    // Wait for the old version, then for the new one's data to be on its way.
    let mut stdout = put.stdout.take().expect("stdout");
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.contains("old in place") {
        let mut buf = [0u8; 256];
        let n = stdout.read(&mut buf).expect("reading the script");
        assert!(
            n > 0 && Instant::now() < deadline,
            "the script ended early: {seen}"
        );
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let data_dir = d
        .state_dir()
        .join(format!("object-store/buckets/{bucket}/data"));
    let partial = || -> u64 {
        std::fs::read_dir(&data_dir)
            .map(|r| {
                r.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    // More than the old version's 1 MiB: the new data file is being written.
    while partial() < 4 << 20 {
        assert!(
            Instant::now() < deadline,
            "the new version never reached the disk"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    d.kill9();
    let _ = put.wait();
    let files_before = std::fs::read_dir(&data_dir).unwrap().count();
    assert_eq!(files_before, 3, "old big, small and the partial new one");

    d.spawn(&[]);
    let o = script(port, "durable-check", &bucket)
        .output()
        .expect("running the check");
    assert!(
        o.status.success(),
        "after kill -9 and a restart:\n{}\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        d.log(d.starts())
    );
    // The partial data file is gone: only the two objects' remain.
    assert_eq!(std::fs::read_dir(&data_dir).unwrap().count(), 2);
}

/// A namespace this test made (deleted on drop), or one that was there.
struct Scratch {
    name: String,
    made: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.made {
            let _ = vpc_control::netns::delete(&self.name);
        }
    }
}

fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"))
}

/// Puts `addr` on the loopback of `ns` (creating `ns` if missing) and waits
/// until the daemon serves object storage there on port 80.
fn endpoint_in(ns: &str, addr: &str) -> Scratch {
    let made = !vpc_control::netns::exists(ns);
    if made {
        vpc_control::netns::add(ns).unwrap_or_else(|e| panic!("adding {ns}: {e}"));
    }
    let scratch = Scratch {
        name: ns.to_string(),
        made,
    };
    // The datapath's namespaces have their address; one made here gets it
    // on its loopback.
    let has = String::from_utf8_lossy(&ip(&["-n", ns, "-o", "addr", "show"]).stdout)
        .contains(&format!("inet {addr}/"));
    if !has {
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        ip(&["-n", ns, "addr", "add", &format!("{addr}/32"), "dev", "lo"]);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(sdk_python())
            .args([
                "-c",
                &format!("import socket; socket.create_connection(('{addr}', 80), 2).close()"),
            ])
            .output()
            .expect("probing the endpoint");
        if o.status.success() {
            return scratch;
        }
        assert!(
            Instant::now() < deadline,
            "object storage is not served on {addr}:80 in {ns}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn internal_and_public_endpoints_serve_inside_their_namespaces() {
    let (d, _port) = daemon();
    let services = vpc_control::model::CloudServices::default();
    for (ns, addr, mode) in [
        (
            vpc_control::model::CloudServices::namespace(&d.namespace),
            services.object_storage_internal_ip.to_string(),
            "oss2-v4",
        ),
        (
            vpc_control::model::Internet::namespace(&d.namespace),
            services.object_storage_public_ip.to_string(),
            "v2",
        ),
    ] {
        let mut scratch = endpoint_in(&ns, &addr);
        if scratch.made {
            // A namespace deleted and made again is served again.
            drop(scratch);
            scratch = endpoint_in(&ns, &addr);
        }
        let _scratch = scratch;
        let bucket = bucket_name();
        let c = script(80, mode, &bucket);
        let program = c.get_program().to_owned();
        let args: Vec<_> = c
            .get_args()
            .map(|a| a.to_string_lossy().replace("127.0.0.1:80", &addr))
            .collect();
        let envs: Vec<_> = c
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .collect();
        let o = Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(program)
            .args(&args)
            .envs(envs)
            .output()
            .expect("running oss_sdk.py in the namespace");
        assert!(
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).contains(&format!("ok {mode}")),
            "oss_sdk.py {mode} on {addr} in {ns}:\n{}\n{}\ndaemon log:\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            d.log(d.starts())
        );
    }
}

/// One probe of oss_sdk.py (`probe` mode) with `sdk` (oss2 or v2) from
/// namespace `ns` (None: this one): "ok" or "err CODE STATUS".
fn probe(
    sdk: &str,
    ns: Option<&str>,
    endpoint: &str,
    bucket: &str,
    who: &str,
    op: &str,
    policy: &str,
) -> String {
    let mut c = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(sdk_python());
            c
        }
        None => Command::new(sdk_python()),
    };
    c.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk/oss_sdk.py"))
        .args(["probe", endpoint, bucket])
        .env("OSS_AK", ACCESS_KEY_ID)
        .env("OSS_SK", ACCESS_KEY_SECRET)
        .env("OSS_OTHER_AK", OTHER_KEY_ID)
        .env("OSS_OTHER_SK", OTHER_KEY_SECRET)
        .env("OSS_ACCOUNT", ACCOUNT_ID)
        .env("OSS_OTHER_ACCOUNT", OTHER_ACCOUNT_ID)
        .env("OSS_SDK", sdk)
        .env("OSS_WHO", who)
        .env("OSS_OP", op)
        .env("OSS_POLICY", policy)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY");
    let o = c.output().expect("running the probe");
    assert!(
        o.status.success(),
        "probe {op} as {who} on {bucket} from {ns:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// POL-3 on real traffic: two VPCs reach the service through their gateway
/// endpoints (VPC A's endpoint allows only the owner's account on the
/// bucket; VPC B's has the default policy), the bucket's policy denies
/// object actions from anywhere but VPC A and allows the owner from there.
/// Only the owner, from VPC A, on that bucket succeeds: the other account
/// (endpoint policy), VPC B (bucket policy), another bucket (endpoint
/// policy) and the owner over the internet (bucket policy) are refused
/// with AccessDenied.
#[test]
fn pol_3_endpoint_and_bucket_policies_judge_requests_from_instances() {
    const R: (&str, &str) = ("RegionId", "cn-hangzhou");
    let (d, port) = daemon();
    let s = |v: serde_json::Value, k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("no {k} in {v}"))
            .to_string()
    };
    let bucket = bucket_name();
    let other_bucket = format!("{bucket}-other");
    // From the internet (the straight listener): the owner makes both
    // buckets and the object the probes read.
    let straight = format!("http://127.0.0.1:{port}");
    for b in [&bucket, &other_bucket] {
        assert_eq!(
            probe("oss2", None, &straight, b, "owner", "create", ""),
            "ok"
        );
        assert_eq!(probe("oss2", None, &straight, b, "owner", "put", ""), "ok");
    }
    let endpoint_policy = format!(
        r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"oss:*","Principal":["{ACCOUNT_ID}"],
           "Resource":["acs:oss:*:*:{bucket}","acs:oss:*:*:{bucket}/*"]}}]}}"#
    );
    let lab = |cidr: &str, subnet: &str, ip: &str, policy: Option<&str>| -> (String, String) {
        let v = d.call("CreateVpc", &[R, ("CidrBlock", cidr)]);
        let (vpc, table) = (s(v.clone(), "VpcId"), s(v, "RouteTableId"));
        let vsw = s(
            d.call(
                "CreateVSwitch",
                &[
                    R,
                    ("VpcId", &vpc),
                    ("ZoneId", "cn-hangzhou-a"),
                    ("CidrBlock", subnet),
                ],
            ),
            "VSwitchId",
        );
        let inst = d.call(
            "RunInstances",
            &[R, ("VSwitchId", &vsw), ("PrivateIpAddress", ip)],
        )["InstanceIdSets"]["InstanceIdSet"][0]
            .as_str()
            .expect("an instance")
            .to_string();
        let mut p = vec![
            R,
            ("VpcId", vpc.as_str()),
            ("ServiceName", "com.aliyun.cn-hangzhou.oss"),
        ];
        if let Some(doc) = policy {
            p.push(("PolicyDocument", doc));
        }
        let ep = s(d.call("CreateVpcGatewayEndpoint", &p), "EndpointId");
        d.call(
            "AssociateRouteTablesWithVpcGatewayEndpoint",
            &[R, ("EndpointId", &ep), ("RouteTableIds.1", &table)],
        );
        (vpc, inst)
    };
    let (vpc_a, inst_a) = lab(
        "10.0.0.0/16",
        "10.0.1.0/24",
        "10.0.1.10",
        Some(&endpoint_policy),
    );
    let (_vpc_b, inst_b) = lab("10.1.0.0/16", "10.1.1.0/24", "10.1.1.10", None);
    let bucket_policy = format!(
        r#"{{"Version":"1","Statement":[
          {{"Effect":"Deny","Action":["oss:GetObject","oss:PutObject"],"Principal":["*"],
            "Resource":["acs:oss:*:*:{bucket}/*"],"Condition":{{"StringNotEquals":{{"acs:SourceVpc":["{vpc_a}"]}}}}}},
          {{"Effect":"Allow","Action":["oss:GetObject","oss:PutObject"],"Principal":["{ACCOUNT_ID}"],
            "Resource":["acs:oss:*:*:{bucket}/*"],"Condition":{{"StringEquals":{{"acs:SourceVpc":["{vpc_a}"]}}}}}}]}}"#
    );
    assert_eq!(
        probe(
            "oss2",
            None,
            &straight,
            &bucket,
            "owner",
            "policy",
            &bucket_policy
        ),
        "ok"
    );

    // The internal endpoint by name, as an instance resolves it.
    let internal = "http://oss-cn-hangzhou-internal.aliyuncs.com";
    // The route to the service is in place once the first probe passes.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = probe("oss2", Some(&inst_a), internal, &bucket, "owner", "get", "");
        if got == "ok" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the owner from VPC A cannot read its bucket through the endpoint: {got}\n{}",
            d.log(d.starts())
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let denied = "err AccessDenied 403";
    // Both SDKs, unmodified, from inside the instances.
    for sdk in ["oss2", "v2"] {
        for op in ["put", "get"] {
            assert_eq!(
                probe(sdk, Some(&inst_a), internal, &bucket, "owner", op, ""),
                "ok",
                "{sdk}: the owner from VPC A could not {op}"
            );
        }
        for (ns, b, who, what) in [
            (
                Some(&inst_a),
                &bucket,
                "other",
                "another account from VPC A",
            ),
            (Some(&inst_b), &bucket, "owner", "the owner from VPC B"),
            (
                Some(&inst_a),
                &other_bucket,
                "owner",
                "the owner on another bucket",
            ),
            (None, &bucket, "owner", "the owner over the internet"),
        ] {
            let endpoint = if ns.is_some() {
                internal
            } else {
                straight.as_str()
            };
            for op in ["get", "put"] {
                assert_eq!(
                    probe(sdk, ns.map(String::as_str), endpoint, b, who, op, ""),
                    denied,
                    "{sdk}: {what} could {op}"
                );
            }
        }
    }
    // The other bucket is the owner's to use from anywhere else.
    assert_eq!(
        probe(
            "v2",
            Some(&inst_b),
            internal,
            &other_bucket,
            "owner",
            "get",
            ""
        ),
        "ok"
    );
}
