//! Gateway endpoints end to end (GWE-2, GWE-5): labs applied with the
//! control plane's own `apply`, an instance talking TCP to a listener at
//! the object storage's internal address in the cloud's services namespace
//! through its VPC's endpoint, by name (the instance's hosts file), in
//! both program types. Names unique per run; every lab destroyed on drop.
use std::{
    io::{BufRead, BufReader, Write},
    net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener},
    process::Command,
    sync::mpsc,
    time::Duration,
};

use vpc_common::{Action, DropReason};
use vpc_control::{
    apply, compile,
    datapath::{Mode, origin::EndpointOrigins},
    model::{CloudServices, Internet},
    netns,
};
use vpc_tests::Lab;

/// vsw-1's table routes the object storage block to the endpoint; vsw-2
/// keeps the system table. i-d (vsw-2) has a public IP: it reaches the
/// public endpoint over the lab internet.
const LAB: &str = r#"
[router]
namespace = "vpct-g@"
[[vpc]]
id = "vpc-g@"
cidr_block = "10.0.0.0/16"
[[vswitch]]
id = "vsw-1@"
vpc_id = "vpc-g@"
cidr_block = "10.0.1.0/24"
route_table_id = "vtb-gwe@"
[[vswitch]]
id = "vsw-2@"
vpc_id = "vpc-g@"
cidr_block = "10.0.2.0/24"
[[route_table]]
id = "vtb-gwe@"
vpc_id = "vpc-g@"
[[route_table.route_entry]]
destination_cidr_block = "100.118.28.0/24"
next_hop_type = "GatewayEndpoint"
next_hop_id = "vpce-g@"
[[route_table.route_entry]]
destination_cidr_block = "100.118.29.0/24"
next_hop_type = "GatewayEndpoint"
next_hop_id = "vpce-g@"
[[gateway_endpoint]]
id = "vpce-g@"
vpc_id = "vpc-g@"
service_name = "com.aliyun.cn-hangzhou.oss"
route_table_ids = ["vtb-gwe@"]
[[instance]]
id = "i-a@"
vswitch_id = "vsw-1@"
private_ip_address = "10.0.1.10"
[[instance]]
id = "i-c@"
vswitch_id = "vsw-2@"
private_ip_address = "10.0.2.11"
[[instance]]
id = "i-d@"
vswitch_id = "vsw-2@"
private_ip_address = "10.0.2.10"
public_ip_address = "192.0.2.31"
"#;

/// A listener in namespace `ns` at `addr`: answers one line per
/// connection with "ok", and reports each connection's peer.
fn listen(ns: &str, addr: SocketAddrV4) -> mpsc::Receiver<SocketAddr> {
    let listener = {
        let _in = netns::NetnsGuard::enter(ns).unwrap_or_else(|e| panic!("{e}"));
        TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr} in {ns}: {e}"))
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let Ok(peer) = s.peer_addr() else { continue };
            let _ = tx.send(peer);
            let mut line = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            if r.read_line(&mut line).is_ok() {
                let _ = s.write_all(b"ok\n");
            }
            // Held open a little: the origin is looked up meanwhile.
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    rx
}

/// Connects from instance namespace `ns` to `host:port` by name (resolved
/// through the namespace's hosts file, as `ip netns exec` shows it), sends
/// a line and returns the answer, or None if it failed within `secs`.
fn talk_within(ns: &str, host: &str, port: u16, secs: u32) -> Option<String> {
    let script = format!(
        "exec 3<>/dev/tcp/{host}/{port} || exit 1; echo hello >&3; read -r -t 5 line <&3; echo \"$line\""
    );
    let o = Command::new("timeout")
        .args([
            &secs.to_string(),
            "ip",
            "netns",
            "exec",
            ns,
            "bash",
            "-c",
            &script,
        ])
        .output()
        .unwrap_or_else(|e| panic!("ip netns exec: {e}"));
    let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (o.status.success() && !out.is_empty()).then_some(out)
}

/// [`talk_within`] 5 s: a connection that must succeed.
fn talk(ns: &str, host: &str, port: u16) -> Option<String> {
    talk_within(ns, host, port, 5)
}

/// [`talk_within`] 2 s: a connection that must fail (its SYN dropped).
fn refused(ns: &str, host: &str, port: u16) -> bool {
    talk_within(ns, host, port, 2).is_none()
}

fn through_the_endpoint(mode: Mode) {
    let lab = Lab::up_in_mode(LAB, mode);
    let router_ns = lab.model.router.namespace.clone();
    let services = CloudServices::namespace(&router_ns);
    let oss = lab.model.router.services.object_storage_internal_ip;
    let source = compile::endpoint_sources(&lab.model)[&lab.id("vpce-g@")];
    let (a, c, d) = (lab.id("i-a@"), lab.id("i-c@"), lab.id("i-d@"));
    let port = 18080;
    let peers = listen(&services, SocketAddrV4::new(oss, port));

    // The instance's hosts file names the endpoints.
    let hosts = std::fs::read_to_string(apply::hosts::hosts_path(&a)).expect("i-a's hosts file");
    assert!(
        hosts.contains(&format!("{oss}\toss-cn-hangzhou-internal.aliyuncs.com")),
        "{hosts}"
    );

    // Through the endpoint, by name: the listener sees the endpoint's address.
    let before = lab.counters();
    let answer = talk(&a, "oss-cn-hangzhou-internal.aliyuncs.com", port);
    assert_eq!(
        answer.as_deref(),
        Some("ok"),
        "i-a -> object storage through the endpoint ({mode})"
    );
    let peer = match peers
        .recv_timeout(Duration::from_secs(5))
        .expect("a connection")
    {
        SocketAddr::V4(p) => p,
        p => panic!("IPv6 peer {p}"),
    };
    assert_eq!(
        *peer.ip(),
        source,
        "the service sees the endpoint's source address ({mode})"
    );
    // Where the request came from: the peer maps back to i-a.
    let origin = EndpointOrigins::open(&router_ns)
        .unwrap_or_else(|e| panic!("{e}"))
        .lookup(peer, SocketAddrV4::new(oss, port))
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("the origin of the accepted connection");
    assert_eq!(origin.source_ip, Ipv4Addr::new(10, 0, 1, 10));
    assert_eq!(
        origin.endpoint_numeric_id,
        lab.model.numeric_id(&lab.id("vpce-g@"))
    );
    assert_eq!(
        origin.vpc_numeric_id,
        lab.model.numeric_id(&lab.id("vpc-g@"))
    );
    // The same in the model's terms, as the daemon gives it to the service.
    let model = lab.model.clone();
    let origins = vpc_control::daemon::origin::RouterOrigins::open(&router_ns, Default::default(), move |_, f| {
        f(&model);
        true
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let source_of = origins.source(SocketAddr::V4(peer), SocketAddr::from((oss, port)));
    assert_eq!(source_of.source_ip.to_string(), "10.0.1.10");
    assert_eq!(source_of.vpc_id, Some(lab.id("vpc-g@")));
    assert_eq!(source_of.endpoint_id, Some(lab.id("vpce-g@")));
    assert!(
        source_of.endpoint_policy.is_none(),
        "no policy set: the default"
    );
    let after = lab.counters();
    assert!(after.action(Action::ToServices) > before.action(Action::ToServices));
    assert!(after.action(Action::FromServices) > before.action(Action::FromServices));

    // GWE-5: vsw-2's table has no endpoint route: no route.
    let before = lab.counters();
    assert!(
        refused(&c, "oss-cn-hangzhou-internal.aliyuncs.com", port),
        "i-c reached the service without a route ({mode})"
    );
    assert!(
        lab.counters().dropped(DropReason::NoRoute) > before.dropped(DropReason::NoRoute),
        "i-c's SYN counted as no_route ({mode})"
    );
    // Nor does a public IP make 100.64.0.0/10 the internet.
    let before = lab.counters();
    assert!(
        refused(&d, "oss-cn-hangzhou-internal.aliyuncs.com", port),
        "i-d reached the internal endpoint ({mode})"
    );
    assert!(lab.counters().dropped(DropReason::NoRoute) > before.dropped(DropReason::NoRoute));

    // The public endpoint over the lab internet: the public source, no VPC.
    let public = lab.model.router.services.object_storage_public_ip;
    let inet_peers = listen(
        &Internet::namespace(&router_ns),
        SocketAddrV4::new(public, port),
    );
    assert_eq!(
        talk(&d, "oss-cn-hangzhou.aliyuncs.com", port).as_deref(),
        Some("ok"),
        "i-d -> public endpoint ({mode})"
    );
    let peer = inet_peers
        .recv_timeout(Duration::from_secs(5))
        .expect("a connection");
    assert_eq!(
        peer.ip().to_string(),
        "192.0.2.31",
        "the public endpoint sees i-d's public IP"
    );
    let direct = origins.source(peer, SocketAddr::from((public, port)));
    assert_eq!(direct.source_ip.to_string(), "192.0.2.31");
    assert!(
        direct.vpc_id.is_none() && direct.endpoint_id.is_none(),
        "over the internet: no VPC"
    );

    // The services side never opens a connection into a VPC: even routed
    // to the router, a SYN to an instance is dropped with its reason.
    Command::new("ip")
        .args([
            "-n",
            &services,
            "route",
            "replace",
            "10.0.0.0/16",
            "via",
            "169.254.0.5",
        ])
        .status()
        .unwrap();
    let instance_listener = listen(&a, SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 10), 2222));
    let before = lab.counters();
    assert!(
        refused(&services, "10.0.1.10", 2222),
        "the services network opened a connection into the VPC"
    );
    assert!(instance_listener.try_recv().is_err());
    assert!(
        lab.counters().dropped(DropReason::ServicesUnsolicited)
            > before.dropped(DropReason::ServicesUnsolicited),
        "counted as services_unsolicited ({mode})"
    );

    drop(lab);
    assert!(
        !netns::exists(&services),
        "the services namespace outlived its router"
    );
    assert!(
        !apply::hosts::hosts_path(&a).exists(),
        "i-a's hosts file outlived it"
    );
}

#[test]
fn gwe_5_instance_reaches_the_object_storage_through_its_endpoint_tc() {
    through_the_endpoint(Mode::Tc);
}

#[test]
fn gwe_5_instance_reaches_the_object_storage_through_its_endpoint_xdp() {
    through_the_endpoint(Mode::Xdp);
}

/// The daemon makes the services network with its router and repairs it,
/// gives each instance its hosts file (its region's endpoint names), and
/// `vpc purge` removes both.
#[test]
fn daemon_makes_repairs_and_purges_the_services_network_and_the_instances_hosts_files() {
    use std::time::Instant;
    use vpc_tests::Daemon;
    const R: (&str, &str) = ("RegionId", "cn-hangzhou");
    let d = Daemon::start();
    let services = CloudServices::namespace(&d.namespace);
    let vpc = d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")])["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let vsw = d.call(
        "CreateVSwitch",
        &[
            R,
            ("VpcId", &vpc),
            ("CidrBlock", "10.0.1.0/24"),
            ("ZoneId", "cn-hangzhou-a"),
        ],
    )["VSwitchId"]
        .as_str()
        .unwrap()
        .to_string();
    let inst = d.call("RunInstances", &[R, ("VSwitchId", &vsw)])["InstanceIdSets"]["InstanceIdSet"]
        [0]
    .as_str()
    .unwrap()
    .to_string();

    let svc_addresses = || {
        netns::ipv4_addresses(&services, vpc_control::topology::SERVICES_NS_IFNAME)
            .unwrap_or_default()
    };
    assert!(
        svc_addresses().contains(&"100.118.28.1/32".to_string()),
        "the services namespace holds the internal address: {:?}",
        svc_addresses()
    );
    let hosts = std::fs::read_to_string(apply::hosts::hosts_path(&inst)).expect("a hosts file");
    assert!(
        hosts.contains("100.118.28.1\toss-cn-hangzhou-internal.aliyuncs.com"),
        "{hosts}"
    );
    assert!(
        hosts.contains("198.51.100.80\toss-cn-hangzhou.aliyuncs.com"),
        "{hosts}"
    );
    let out = netns::exec(
        &inst,
        "getent",
        &["hosts", "oss-cn-hangzhou-internal.aliyuncs.com"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.starts_with("100.118.28.1"),
        "resolved inside the instance: {out}"
    );

    // Deleted behind the daemon's back: made again, without a change.
    netns::ip(&["netns", "del", &services]).expect("deleting the services namespace");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !svc_addresses().contains(&"100.118.28.1/32".to_string()) {
        assert!(
            Instant::now() < deadline,
            "the services namespace is not back 15 s later:\n{}",
            d.log(1)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The object storage listens in the new namespace again.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !Command::new("ip")
        .args([
            "netns",
            "exec",
            &services,
            "bash",
            "-c",
            "exec 3<>/dev/tcp/100.118.28.1/80",
        ])
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(
            Instant::now() < deadline,
            "nothing listens at 100.118.28.1:80 in the repaired services namespace:\n{}",
            d.log(1)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    drop(d);
    assert!(
        !netns::exists(&services),
        "purge left the services namespace"
    );
    assert!(
        !apply::hosts::hosts_path(&inst).exists(),
        "purge left the instance's hosts file"
    );
}

/// Seed 000's network half through the VPC API: an endpoint created and
/// associated with the system route table; an instance of a vSwitch on
/// that table reaches the object storage's listener by name, seen from the
/// endpoint's address; one on a custom table without the route does not
/// (GWE-5); once dissociated, neither does the first (GWE-4's route gone).
#[test]
fn gwe_5_through_the_api_only_vswitches_whose_table_is_associated_reach_the_service() {
    use vpc_tests::Daemon;
    const R: (&str, &str) = ("RegionId", "cn-hangzhou");
    let d = Daemon::start();
    let s = |v: serde_json::Value, k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("no {k} in {v}"))
            .to_string()
    };
    let v = d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]);
    let (vpc, system) = (s(v.clone(), "VpcId"), s(v, "RouteTableId"));
    let vswitch = |cidr: &str| {
        s(
            d.call(
                "CreateVSwitch",
                &[
                    R,
                    ("VpcId", &vpc),
                    ("ZoneId", "cn-hangzhou-a"),
                    ("CidrBlock", cidr),
                ],
            ),
            "VSwitchId",
        )
    };
    let (vsw1, vsw2) = (vswitch("10.0.1.0/24"), vswitch("10.0.2.0/24"));
    let custom = s(
        d.call("CreateRouteTable", &[R, ("VpcId", &vpc)]),
        "RouteTableId",
    );
    d.call(
        "AssociateRouteTable",
        &[R, ("RouteTableId", &custom), ("VSwitchId", &vsw2)],
    );
    let run = |vsw: &str, ip: &str| {
        d.call(
            "RunInstances",
            &[R, ("VSwitchId", vsw), ("PrivateIpAddress", ip)],
        )["InstanceIdSets"]["InstanceIdSet"][0]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (i1, i2) = (run(&vsw1, "10.0.1.10"), run(&vsw2, "10.0.2.10"));
    let ep = s(
        d.call(
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
        &[R, ("EndpointId", &ep), ("RouteTableIds.1", &system)],
    );

    let services = CloudServices::namespace(&d.namespace);
    let oss = CloudServices::default().object_storage_internal_ip;
    let port = 18081;
    let peers = listen(&services, SocketAddrV4::new(oss, port));
    let host = "oss-cn-hangzhou-internal.aliyuncs.com";
    let counters = || {
        vpc_control::datapath::Datapath::load(Some(&d.namespace))
            .and_then(|dp| dp.counters())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    // The associated table's vSwitch reaches it, from the endpoint's address.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let answer = loop {
        // (The service names are published right after start-up.)
        match talk(&i1, host, port) {
            Some(a) => break a,
            None if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200))
            }
            None => panic!(
                "i-1 cannot reach the object storage through the endpoint:\n{}",
                d.log(1)
            ),
        }
    };
    assert_eq!(answer, "ok");
    let peer = match peers
        .recv_timeout(Duration::from_secs(5))
        .expect("a connection")
    {
        SocketAddr::V4(p) => p,
        p => panic!("IPv6 peer {p}"),
    };
    assert!(
        CloudServices::default()
            .endpoint_source_block
            .contains(peer.ip()),
        "the service sees an endpoint address, not {peer}"
    );
    let origin = EndpointOrigins::open(&d.namespace)
        .unwrap_or_else(|e| panic!("{e}"))
        .lookup(peer, SocketAddrV4::new(oss, port))
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("the origin of i-1's connection");
    assert_eq!(origin.source_ip, Ipv4Addr::new(10, 0, 1, 10));
    assert_ne!(origin.endpoint_numeric_id, 0, "the endpoint is named");

    // GWE-5: the custom table has no endpoint route.
    let before = counters().dropped(DropReason::NoRoute);
    assert!(
        refused(&i2, host, port),
        "i-2 reached the service without its table associated"
    );
    assert!(
        counters().dropped(DropReason::NoRoute) > before,
        "counted as no_route"
    );

    // Dissociated: the route goes, and with it the way.
    d.call(
        "DissociateRouteTablesFromVpcGatewayEndpoint",
        &[R, ("EndpointId", &ep), ("RouteTableIds.1", &system)],
    );
    let before = counters().dropped(DropReason::NoRoute);
    assert!(
        refused(&i1, host, port),
        "i-1 still reaches the service after dissociation"
    );
    assert!(counters().dropped(DropReason::NoRoute) > before);
}

/// An anonymous HTTP GET of `path` from namespace `ns` to `host`:80 (by
/// name, through the namespace's hosts file): the status line and body.
fn anonymous_get(ns: &str, host: &str, path: &str) -> String {
    let script = format!(
        "exec 3<>/dev/tcp/{host}/80 || exit 1; printf 'GET {path} HTTP/1.1\\r\\nHost: {host}\\r\\nConnection: close\\r\\n\\r\\n' >&3; timeout 5 cat <&3"
    );
    let o = Command::new("timeout")
        .args(["8", "ip", "netns", "exec", ns, "bash", "-c", &script])
        .output()
        .unwrap_or_else(|e| panic!("ip netns exec: {e}"));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The object store the daemon hosts sees where requests through an
/// endpoint come from: a bucket policy allowing anonymous reads only from
/// the endpoint's VPC (`acs:SourceVpc`) lets an instance of that VPC read
/// through the endpoint and refuses the same read from elsewhere; the
/// endpoint's own policy, once it denies, refuses it too.
#[test]
fn object_store_judges_requests_through_the_endpoint_by_their_vpc_and_the_endpoint_policy() {
    use vpc_tests::{ACCESS_KEY_ID, ACCESS_KEY_SECRET, Daemon, sdk_python, unique};
    const R: (&str, &str) = ("RegionId", "cn-hangzhou");
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut d = Daemon::new(true);
    d.args = vec!["--object-store-listen".into(), format!("127.0.0.1:{port}")];
    d.spawn(&[]);
    let s = |v: serde_json::Value, k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("no {k} in {v}"))
            .to_string()
    };
    let v = d.call("CreateVpc", &[R, ("CidrBlock", "10.0.0.0/16")]);
    let (vpc, system) = (s(v.clone(), "VpcId"), s(v, "RouteTableId"));
    let vsw = s(
        d.call(
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
    let inst = d.call("RunInstances", &[R, ("VSwitchId", &vsw)])["InstanceIdSets"]["InstanceIdSet"]
        [0]
    .as_str()
    .unwrap()
    .to_string();
    let ep = s(
        d.call(
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
        &[R, ("EndpointId", &ep), ("RouteTableIds.1", &system)],
    );

    // The bucket, its object and its policy, set by the owner with oss2.
    let bucket = unique("gwe").to_ascii_lowercase().replace('_', "-");
    let policy = serde_json::json!({
        "Version": "1",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["oss:GetObject"],
            "Principal": ["*"],
            "Resource": [format!("acs:oss:*:*:{bucket}/*")],
            "Condition": {"StringEquals": {"acs:SourceVpc": [vpc.as_str()]}}
        }]
    });
    let setup = format!(
        "import oss2, sys\n\
         b = oss2.Bucket(oss2.Auth(sys.argv[1], sys.argv[2]), sys.argv[3], sys.argv[4])\n\
         b.create_bucket()\n\
         b.put_object('k', b'through-the-endpoint')\n\
         b.put_bucket_policy(sys.argv[5])\n\
         print('set')\n"
    );
    let o = Command::new(sdk_python())
        .args(["-c", &setup, ACCESS_KEY_ID, ACCESS_KEY_SECRET])
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(&bucket)
        .arg(policy.to_string())
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .output()
        .expect("running oss2");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("set"),
        "oss2 setup failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    // Through the endpoint (the internal endpoint by name): from the VPC.
    let host = "oss-cn-hangzhou-internal.aliyuncs.com";
    let path = format!("/{bucket}/k");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let through = loop {
        // (The listener in the services namespace is bound within 2 s.)
        let a = anonymous_get(&inst, host, &path);
        if a.starts_with("HTTP/1.1") || std::time::Instant::now() > deadline {
            break a;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        through.starts_with("HTTP/1.1 200") && through.contains("through-the-endpoint"),
        "an anonymous read from the VPC through the endpoint:\n{through}\n{}",
        d.log(1)
    );
    // Virtual-host addressing: the bucket's own name resolves inside the
    // instance (published before PutBucket was answered).
    let hosts = std::fs::read_to_string(apply::hosts::hosts_path(&inst)).unwrap_or_default();
    assert!(
        hosts.contains(&format!("100.118.28.1\t{bucket}.{host}")),
        "the bucket's internal name is in the instance's hosts file:\n{hosts}"
    );
    let virtual_host = anonymous_get(&inst, &format!("{bucket}.{host}"), "/k");
    assert!(
        virtual_host.starts_with("HTTP/1.1 200") && virtual_host.contains("through-the-endpoint"),
        "a virtual-host read through the endpoint:\n{virtual_host}"
    );
    // Straight to the service (no endpoint, no VPC): refused.
    let mut direct = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        direct,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut direct, &mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 403") && answer.contains("AccessDenied"),
        "the same read from no VPC:\n{answer}"
    );

    // The endpoint's own policy, denying reads, refuses it too: on a
    // keep-alive connection opened before the change, from its next request
    // on (the service looks the connection up once, the policy per request).
    let kept = "import http.client, sys\n\
         c = http.client.HTTPConnection(sys.argv[1], 80, timeout=10)\n\
         def get():\n    c.request('GET', sys.argv[2]); r = c.getresponse(); r.read(); return r.status\n\
         print(get(), flush=True)\n\
         port = c.sock.getsockname()[1]\n\
         sys.stdin.readline()\n\
         print(get(), c.sock.getsockname()[1] == port, flush=True)\n";
    let mut kept = Command::new("ip")
        .args(["netns", "exec", &inst])
        .arg(sdk_python())
        .args(["-c", kept, host, &path])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python in the instance");
    let mut kept_out = std::io::BufReader::new(kept.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut kept_out, &mut line).unwrap();
    assert_eq!(line.trim(), "200", "the first read on the kept connection");
    let deny = r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":["oss:GetObject"],"Principal":["*"],"Resource":["*"]}]}"#;
    d.call(
        "UpdateVpcGatewayEndpointAttribute",
        &[R, ("EndpointId", &ep), ("PolicyDocument", deny)],
    );
    writeln!(kept.stdin.take().unwrap(), "go").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut kept_out, &mut line).unwrap();
    let _ = kept.wait();
    assert_eq!(
        line.trim(),
        "403 True",
        "the next read on the same connection, after the endpoint policy denied it"
    );
    let refused = anonymous_get(&inst, host, &path);
    assert!(
        refused.starts_with("HTTP/1.1 403") && refused.contains("AccessDenied"),
        "a read the endpoint policy denies:\n{refused}"
    );
}
