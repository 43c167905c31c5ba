//! `cargo bench -p vpc-tests --bench object_store` (`-- --smoke`, or
//! `VPC_BENCH_SMOKE=1`, for tiny counts): the lab's object storage through
//! a gateway endpoint against the same client talking to the service
//! directly, interleaved within each round (ratios taken per round).
//!
//! Setup: a `vpc daemon` (release build, tc mode, its own router namespace
//! and state directory) with a VPC, a vSwitch, an instance and a gateway
//! endpoint for the object storage associated with the VPC's route table
//! (GWE-2: the services blocks are routed to the endpoint). The service
//! listens at 100.118.28.1:80 in the daemon's services namespace.
//!
//! - **Through the endpoint**: the client's sockets are opened in the
//!   instance's namespace: eth0 -> veth -> the router's port (tc program:
//!   route to the endpoint, source translated into 100.127.0.0/16) -> the
//!   services port -> veth -> the service, which looks the connection's
//!   origin up (the VPC and endpoint) for each request.
//! - **Direct (no router)**: the same client code in a namespace of the
//!   bench's, joined by a veth pair of its own to the services namespace
//!   (198.18.0.2/30 here, 198.18.0.1/30 on the services side, removed at
//!   the end), talking to the same listener. Same MTU as the instance's
//!   veth, transmit checksum offload on at both ends as the daemon sets it
//!   in tc mode. The service takes these requests for the internet's (no
//!   VPC): the bucket has no policy, the owner's signature is enough.
//!
//! Client: K = 4 threads, each with one keep-alive HTTP/1.1 connection
//! (hyper's client, a current-thread runtime per thread), path-style
//! requests to the internal host name, signed with V1 (the service's own
//! canonical string: `object_store::signature::sign_v1`) by the owner's
//! key. Per round and path: PUT then GET of N objects of 4 KiB, then of M
//! objects of 4 MiB (N = 1500, M = 48, 5 rounds after a warm-up; smoke: 40,
//! 4, 1 round), split evenly over the connections. Within a round each
//! size runs A B B A (the endpoint and the direct path, which one is A
//! alternating between rounds) and a path's figure is the mean of its two
//! runs; the ratio endpoint / direct is taken per round. Both paths write the
//! same keys with the same bodies in a round (the store holds one round's
//! objects); the bodies change every round. Every answer is
//! checked: status 200, ETag = the body's MD5, a GET's body byte for byte.
//! Each PUT is durable (fsync'd) before its answer, on both paths alike.
//! Figures: objects/s for 4 KiB, MB/s (10^6 bytes of object data per
//! second) for 4 MiB; the time of a phase runs from the start of the
//! connections to the last answer read.
//!
//! Crossing the router: around each phase the router's counters of the
//! services port are read: through the endpoint, the bytes sent to the
//! services (PUT) or received from them (GET) must have grown by at least
//! the object bytes moved; directly, they must not have grown beyond a few
//! control frames (4 KiB).
use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use serde_json::Value;
use vpc_control::{
    datapath::Datapath,
    model::CloudServices,
    netns::{self, NetnsGuard},
    object_store::signature::{Signed, sign_v1},
    topology::SERVICES_IFNAME,
};
use vpc_tests::{
    ACCESS_KEY_ID, ACCESS_KEY_SECRET, Daemon, ScratchNs,
    bench::{Report, ratios},
    unique,
};

const R: (&str, &str) = ("RegionId", "cn-hangzhou");
/// The service's internal address and port.
const SERVICE: (Ipv4Addr, u16) = (Ipv4Addr::new(100, 118, 28, 1), 80);
/// The host name the requests carry (path-style addressing).
const HOST: &str = "oss-cn-hangzhou-internal.aliyuncs.com";
/// Concurrent keep-alive connections.
const CONNECTIONS: usize = 4;
const SMALL: usize = 4 << 10;
const LARGE: usize = 4 << 20;
/// Object bytes the direct path may add to the services port's counters
/// (a late FIN or ARP frame, never object data).
const STRAY_BYTES: u64 = 4096;

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .to_string()
}

/// An object of a phase: its key, body and the body's MD5 (hex).
struct Object {
    key: String,
    body: Bytes,
    md5: String,
}

fn md5_hex(b: &[u8]) -> String {
    hex_upper(&Md5::digest(b))
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// `count` objects of `size` bytes under `prefix`, their bodies drawn from
/// `distinct` random ones (fresh every round).
fn objects(
    prefix: &str,
    count: usize,
    size: usize,
    distinct: usize,
    seed: u64,
) -> Vec<Arc<Object>> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let bodies: Vec<(Bytes, String)> = (0..distinct.min(count).max(1))
        .map(|_| {
            let mut b = vec![0u8; size];
            rng.fill(&mut b);
            let md5 = md5_hex(&b);
            (Bytes::from(b), md5)
        })
        .collect();
    (0..count)
        .map(|i| {
            let (body, md5) = bodies[i % bodies.len()].clone();
            Arc::new(Object {
                key: format!("{prefix}/{size}/{i}"),
                body,
                md5,
            })
        })
        .collect()
}

/// A V1-signed request of the owner's for `/bucket/key` (key "" for the
/// bucket itself).
fn request(method: Method, bucket: &str, key: &str, body: Bytes) -> Request<Full<Bytes>> {
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let mut headers = header::HeaderMap::new();
    headers.insert(header::HOST, header::HeaderValue::from_static(HOST));
    headers.insert(header::DATE, date.parse().unwrap());
    if method == Method::PUT && !key.is_empty() {
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/octet-stream"),
        );
    }
    let signature = sign_v1(
        ACCESS_KEY_SECRET,
        &Signed {
            method: method.as_str(),
            bucket: Some(bucket),
            key,
            query: &[],
            headers: &headers,
        },
        &date,
    );
    headers.insert(
        header::AUTHORIZATION,
        format!("OSS {ACCESS_KEY_ID}:{signature}").parse().unwrap(),
    );
    let mut req = Request::builder()
        .method(method)
        .uri(format!("/{bucket}/{key}"))
        .body(Full::new(body))
        .unwrap();
    *req.headers_mut() = headers;
    req
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Put,
    Get,
}

/// One connection from namespace `ns`: `objects` one after the other. The
/// object bytes moved, or what went wrong.
fn connection(ns: &str, bucket: &str, op: Op, objects: &[Arc<Object>]) -> Result<u64, String> {
    let _in = NetnsGuard::enter(ns).map_err(|e| format!("entering {ns}: {e}"))?;
    // The socket is made on this thread (in `ns`): the runtime runs here.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(SocketAddr::from(SERVICE)),
        )
        .await
        .map_err(|_| format!("connecting from {ns}: timed out"))?
        .map_err(|e| format!("connecting from {ns}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        let conn = tokio::spawn(conn);
        let mut bytes = 0u64;
        for o in objects {
            let (method, body) = match op {
                Op::Put => (Method::PUT, o.body.clone()),
                Op::Get => (Method::GET, Bytes::new()),
            };
            let answer = async {
                send.ready().await.map_err(|e| e.to_string())?;
                let resp = send
                    .send_request(request(method, bucket, &o.key, body))
                    .await
                    .map_err(|e| e.to_string())?;
                let (parts, body) = resp.into_parts();
                let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
                Ok::<_, String>((parts, body))
            };
            let (parts, body) = tokio::time::timeout(Duration::from_secs(60), answer)
                .await
                .map_err(|_| format!("{op:?} {}: no answer in 60 s", o.key))??;
            if parts.status != StatusCode::OK {
                return Err(format!(
                    "{op:?} {}: {} {}",
                    o.key,
                    parts.status,
                    String::from_utf8_lossy(&body)
                ));
            }
            let etag = parts
                .headers
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .trim_matches('"');
            if !etag.eq_ignore_ascii_case(&o.md5) {
                return Err(format!("{op:?} {}: ETag {etag:?}, MD5 {}", o.key, o.md5));
            }
            if op == Op::Get && body != o.body {
                return Err(format!(
                    "GET {}: {} bytes, not the {} bytes put",
                    o.key,
                    body.len(),
                    o.body.len()
                ));
            }
            bytes += o.body.len() as u64;
        }
        drop(send);
        let _ = conn.await;
        Ok(bytes)
    })
}

/// One phase: `objects` split over [`CONNECTIONS`] connections from `ns`.
/// Seconds from the start of the connections to the last answer, and the
/// object bytes moved.
fn phase(ns: &str, bucket: &str, op: Op, objects: &[Arc<Object>]) -> (f64, u64) {
    let start = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|w| {
            let share: Vec<Arc<Object>> = objects
                .iter()
                .skip(w)
                .step_by(CONNECTIONS)
                .cloned()
                .collect();
            let (ns, bucket) = (ns.to_string(), bucket.to_string());
            std::thread::spawn(move || connection(&ns, &bucket, op, &share))
        })
        .collect();
    let mut bytes = 0;
    for w in workers {
        match w.join() {
            Ok(Ok(b)) => bytes += b,
            Ok(Err(e)) => panic!("{op:?} from {ns}: {e}"),
            Err(_) => panic!("{op:?} from {ns}: a client thread panicked"),
        }
    }
    (start.elapsed().as_secs_f64(), bytes)
}

/// The bench's own namespace joined by a veth pair to the services
/// namespace. Dropped (also on a panic): the pair and its addresses go.
struct DirectPath {
    ns: ScratchNs,
    services_ns: String,
    peer: String,
}

impl DirectPath {
    fn new(services_ns: &str, instance_ns: &str) -> Self {
        let ns = ScratchNs::new("vpcb-ossd");
        for key in [
            "net.ipv6.conf.all.disable_ipv6",
            "net.ipv6.conf.default.disable_ipv6",
        ] {
            netns::sysctl(&ns.0, key, "1").unwrap_or_else(|e| panic!("{e}"));
        }
        // Unique in the services namespace (which is this bench's daemon's).
        let peer = format!("ossb{}", fastrand::u32(..100_000));
        ns.ip(&[
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            &peer,
            "netns",
            services_ns,
        ]);
        let d = DirectPath {
            ns,
            services_ns: services_ns.to_string(),
            peer,
        };
        let mtu = mtu(instance_ns, "eth0");
        let svc = |args: &[&str]| {
            let mut all = vec!["-n", services_ns];
            all.extend_from_slice(args);
            netns::ip(&all).unwrap_or_else(|e| panic!("{e}"))
        };
        d.ns.ip(&["link", "set", "lo", "up"]);
        d.ns.ip(&["link", "set", "eth0", "mtu", &mtu, "up"]);
        d.ns.ip(&["addr", "add", "198.18.0.2/30", "dev", "eth0"]);
        d.ns.ip(&["route", "add", "default", "via", "198.18.0.1"]);
        svc(&["link", "set", &d.peer, "mtu", &mtu, "up"]);
        svc(&["addr", "add", "198.18.0.1/30", "dev", &d.peer]);
        // As the daemon sets its veths in tc mode.
        netns::set_tx_checksum(&d.ns.0, "eth0", true).unwrap_or_else(|e| panic!("{e}"));
        netns::set_tx_checksum(services_ns, &d.peer, true).unwrap_or_else(|e| panic!("{e}"));
        d
    }
}

impl Drop for DirectPath {
    fn drop(&mut self) {
        // The namespace's deletion (ScratchNs) would take the pair with it;
        // the services end goes first, explicitly.
        let _ = netns::ip(&["-n", &self.services_ns, "link", "del", &self.peer]);
    }
}

/// The MTU of `ifname` in `ns`.
fn mtu(ns: &str, ifname: &str) -> String {
    let out =
        netns::ip(&["-n", ns, "-o", "link", "show", ifname]).unwrap_or_else(|e| panic!("{e}"));
    out.split_whitespace()
        .skip_while(|w| *w != "mtu")
        .nth(1)
        .unwrap_or_else(|| panic!("no mtu in {out}"))
        .to_string()
}

/// The router's counters of its services port: bytes sent to the
/// services, bytes received from them.
struct ServicesPort {
    dp: Datapath,
    ifindex: u32,
}

impl ServicesPort {
    fn bytes(&self) -> (u64, u64) {
        let c = self
            .dp
            .counters()
            .unwrap_or_else(|e| panic!("counters: {e}"));
        c.ports
            .get(&self.ifindex)
            .map_or((0, 0), |p| (p.tx_bytes, p.rx_bytes))
    }
}

/// The lab: the daemon, the instance behind the endpoint, the direct path.
struct Lab {
    direct: DirectPath,
    instance: String,
    port: ServicesPort,
    bucket: String,
    // Last: the daemon (its namespaces) goes after the direct path.
    _daemon: Daemon,
}

fn lab() -> Lab {
    let d = Daemon::start();
    let v = d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]);
    let (vpc, table) = (s(&v, "VpcId"), s(&v, "RouteTableId"));
    let vsw = s(
        &d.call(
            "CreateVSwitch",
            &[
                R,
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-a"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        ),
        "VSwitchId",
    );
    let v = d.call(
        "RunInstances",
        &[
            R,
            ("VSwitchId", &vsw),
            ("PrivateIpAddress", "10.0.1.10"),
            ("ImageId", "img"),
            ("InstanceType", "t"),
        ],
    );
    let instance = v["InstanceIdSets"]["InstanceIdSet"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string();
    let ep = s(
        &d.call(
            "CreateVpcGatewayEndpoint",
            &[
                R,
                ("VpcId", &vpc),
                ("ServiceName", "com.aliyun.cn-hangzhou.oss"),
            ],
        ),
        "EndpointId",
    );
    d.call(
        "AssociateRouteTablesWithVpcGatewayEndpoint",
        &[R, ("EndpointId", &ep), ("RouteTableIds.1", &table)],
    );
    let services_ns = CloudServices::namespace(&d.namespace);
    let ifindex = netns::links(&d.namespace)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .find(|l| l.ifname == SERVICES_IFNAME)
        .unwrap_or_else(|| panic!("no {SERVICES_IFNAME} in {}", d.namespace))
        .ifindex;
    let dp = Datapath::load(Some(&d.namespace)).unwrap_or_else(|e| panic!("the maps: {e}"));
    let direct = DirectPath::new(&services_ns, &instance);
    let bucket = format!(
        "bench-{}",
        unique("b").to_ascii_lowercase().replace('_', "-")
    );
    // The bucket, through the endpoint (the listener comes up with the
    // router: the first answer is waited for).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match create_bucket(&instance, &bucket) {
            Ok(()) => break,
            Err(e) => assert!(
                Instant::now() < deadline,
                "PutBucket through the endpoint: {e}\n{}",
                d.log(1)
            ),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Lab {
        direct,
        instance,
        port: ServicesPort { dp, ifindex },
        bucket,
        _daemon: d,
    }
}

fn create_bucket(ns: &str, bucket: &str) -> Result<(), String> {
    let _in = NetnsGuard::enter(ns).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let stream = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(SocketAddr::from(SERVICE)),
        )
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let resp = send
            .send_request(request(Method::PUT, bucket, "", Bytes::new()))
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(format!("{status} {}", String::from_utf8_lossy(&body)));
        }
        Ok(())
    })
}

/// The paths, in the figures' words.
const PATHS: [&str; 2] = ["through the endpoint", "direct (no router)"];

/// The figures of one size: PUT and GET rates per path over the rounds.
#[derive(Default)]
struct Rates {
    /// [path][op: 0 PUT, 1 GET]
    values: [[Vec<f64>; 2]; 2],
}

impl Lab {
    fn client_ns(&self, path: usize) -> &str {
        if path == 0 {
            &self.instance
        } else {
            &self.direct.ns.0
        }
    }

    /// PUT then GET of `objects` on path `path`; each phase's rate (per
    /// second: objects, or MB if `megabytes`), the router's counters
    /// checked around it.
    fn run(&self, path: usize, objects: &[Arc<Object>], megabytes: bool) -> [f64; 2] {
        let mut out = [0.0; 2];
        for (k, op) in [Op::Put, Op::Get].into_iter().enumerate() {
            let before = self.port.bytes();
            let (secs, bytes) = phase(self.client_ns(path), &self.bucket, op, objects);
            // The connections' last frames (FIN) settle.
            std::thread::sleep(Duration::from_millis(50));
            let after = self.port.bytes();
            let crossed = match op {
                Op::Put => after.0 - before.0,
                Op::Get => after.1 - before.1,
            };
            if path == 0 {
                assert!(
                    crossed >= bytes,
                    "{op:?} {}: {bytes} object bytes moved, the router's services port counted only {crossed}",
                    PATHS[path]
                );
            } else {
                let any = (after.0 - before.0) + (after.1 - before.1);
                assert!(
                    any <= STRAY_BYTES,
                    "{op:?} {}: the router's services port counted {any} bytes",
                    PATHS[path]
                );
            }
            out[k] = if megabytes {
                bytes as f64 / 1e6 / secs
            } else {
                objects.len() as f64 / secs
            };
        }
        out
    }
}

fn main() {
    let smoke =
        std::env::args().any(|a| a == "--smoke") || std::env::var_os("VPC_BENCH_SMOKE").is_some();
    // (rounds, 4 KiB objects, 4 MiB objects) per round and path.
    let (rounds, small_n, large_n) = if smoke { (1, 40, 4) } else { (5, 1500, 48) };
    let report = Report::new("object_store");
    let lab = lab();

    if !smoke {
        // Warm-up, not recorded: both paths once, few objects.
        for path in 0..2 {
            lab.run(path, &objects("warm", 100, SMALL, 100, 1), false);
            lab.run(path, &objects("warm", 4, LARGE, 4, 2), true);
        }
    }
    let (mut small, mut large) = (Rates::default(), Rates::default());
    for round in 0..rounds {
        let seed = 1000 + round as u64 * 10;
        let small_objects = objects("small", small_n, SMALL, small_n, seed);
        let large_objects = objects("large", large_n, LARGE, 8, seed + 1);
        // Each path twice, A B B A (which one is A alternates between
        // rounds): a drift in the machine's load within the round weighs
        // on both alike. A path's figure of the round: the mean of its two.
        let (a, b) = if round % 2 == 0 { (0, 1) } else { (1, 0) };
        for (rates, objects, megabytes) in [
            (&mut small, &small_objects, false),
            (&mut large, &large_objects, true),
        ] {
            let mut sum = [[0.0; 2]; 2];
            for path in [a, b, b, a] {
                let r = lab.run(path, objects, megabytes);
                for (k, v) in r.into_iter().enumerate() {
                    sum[path][k] += v / 2.0;
                }
            }
            for (path, ops) in sum.into_iter().enumerate() {
                for (k, v) in ops.into_iter().enumerate() {
                    rates.values[path][k].push(v);
                }
            }
        }
    }

    let note = |n: usize, size: &str| {
        format!(
            "{CONNECTIONS} keep-alive connections, PUT then GET of {n} objects of {size}, twice per round (A B B A), V1-signed, ETag and body checked"
        )
    };
    for (rates, size, unit, n) in [
        (&small, "4 KiB", "objects/s", small_n),
        (&large, "4 MiB", "MB/s", large_n),
    ] {
        for (k, op) in ["PUT", "GET"].into_iter().enumerate() {
            for (path, name) in PATHS.into_iter().enumerate() {
                report.figure(
                    "object_store",
                    &format!("{size} {op}: {name}"),
                    unit,
                    &rates.values[path][k],
                    &note(n, size),
                );
            }
        }
    }
    for (rates, size, unit) in [(&small, "4 KiB", "objects/s"), (&large, "4 MiB", "MB/s")] {
        for (k, op) in ["PUT", "GET"].into_iter().enumerate() {
            report.figure(
                "ratios",
                &format!("object storage {size} {op} {unit}: endpoint / direct"),
                "x",
                &ratios(&rates.values[0][k], &rates.values[1][k]),
                "target >= 0.9 (the router is not the bottleneck)",
            );
        }
    }
}
