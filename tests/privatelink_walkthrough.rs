//! Seed 001/002's PrivateLink walkthrough with real TCP, through the
//! official SDKs only (VPC, ECS and NLB for the resources, PrivateLink for
//! the service and the endpoint: tests/sdk/nlb_lab.py,
//! tests/sdk/privatelink_lab.py), across three accounts on one daemon. The
//! provider puts an NLB with a backend in each of two zones behind an
//! endpoint service that does not auto-accept and whitelists the consumer;
//! the consumer's VPC uses the same CIDR block (its client even holds the
//! address of a provider backend). The consumer's endpoint is refused
//! traffic until the provider accepts it; then its instances reach the
//! service through each zone's endpoint ENI and by the endpoint's domain
//! names (DNS-1), and by the service's usual name through a PrivateZone
//! zone bound to their VPC only (DNS-2); the endpoint's security group
//! refuses a port; a zone's backend dies and the clients keep working
//! through the load balancer; the provider disables the connection and live
//! flows stop at once; an account off the whitelist neither sees nor
//! connects; tags filter endpoints.
use std::{collections::BTreeMap, net::SocketAddr, time::{Duration, Instant}};

use serde_json::{Value, json};
use vpc_tests::{echo::{Conn, SERVICE_PORT, Service}, *};

const R: (&str, &str) = ("RegionId", "cn-hangzhou");
/// The listener port, the port consumers reach the service at.
const LISTENER_PORT: u16 = 80;
/// The third account's key (not on the service's whitelist).
const STRANGER_KEY_ID: &str = "LTAIwalkstranger";
const STRANGER_KEY_SECRET: &str = "walk-stranger-secret-1357924680";
const STRANGER_ACCOUNT_ID: &str = "1357924680135792";

fn s(v: &Value, path: &[&str]) -> String {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_str().unwrap_or_else(|| panic!("{path:?} in {v}")).to_string()
}

/// An account of the walkthrough: its calls over HTTP, signed with its key.
struct Account<'a> {
    d: &'a Daemon,
    key: (&'static str, &'static str),
}

impl Account<'_> {
    fn call(&self, action: &str, params: &[(&str, &str)]) -> Value {
        let signing = Signing { id: self.key.0, secret: self.key.1, ..Signing::default() };
        let (status, v) = http_call(self.d, action, params, Some(signing));
        assert_eq!(status, 200, "{action} {params:?} as {}: {v}", self.key.0);
        v
    }

    /// tests/sdk/privatelink_lab.py `cmd` as this account.
    fn privatelink(&self, cmd: &str, arg: &Value) -> Value {
        self.d.sdk_script_with(
            "privatelink_lab.py",
            &[cmd, &arg.to_string()],
            &[("VPC_ACCESS_KEY_ID", self.key.0), ("VPC_ACCESS_KEY_SECRET", self.key.1)],
        )
    }

    fn vpc(&self, cidr: &str) -> String {
        s(&self.call("CreateVpc", &[R, ("CidrBlock", cidr)]), &["VpcId"])
    }

    fn vswitch(&self, vpc: &str, zone: &str, cidr: &str) -> String {
        s(&self.call("CreateVSwitch", &[R, ("VpcId", vpc), ("ZoneId", zone), ("CidrBlock", cidr)]), &["VSwitchId"])
    }

    /// An instance (its namespace has its id's name).
    fn instance(&self, vsw: &str, ip: &str) -> String {
        let r = self.call("RunInstances", &[R, ("VSwitchId", vsw), ("PrivateIpAddress", ip), ("ImageId", "img"), ("InstanceType", "t")]);
        r["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap_or_else(|| panic!("{r}")).to_string()
    }

}

/// The router's drops for `reason` (the operator's view: accounts see no
/// drop counters).
fn dropped(d: &Daemon, reason: &str) -> u64 {
    d.call("DescribeRouterStats", &[])["Drops"][reason].as_u64().unwrap_or(0)
}

/// The IPv4 addresses `name` resolves to inside namespace `ns` (`getent`
/// through the instance's resolv.conf, which names the VPC's resolver).
fn resolve(ns: &str, name: &str) -> Vec<std::net::Ipv4Addr> {
    let o = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "getent", "ahostsv4", name])
        .output()
        .expect("getent runs");
    let mut out: Vec<std::net::Ipv4Addr> =
        String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect();
    out.sort();
    out.dedup();
    out
}

/// [`resolve`] until it gives `want` (the resolver takes a change on
/// after the API answered it), for at most 5 s: what it gave last.
fn resolve_until(ns: &str, name: &str, want: &[std::net::Ipv4Addr]) -> Vec<std::net::Ipv4Addr> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = resolve(ns, name);
        if got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `dig`'s answer for `name` inside namespace `ns` (for failure messages).
fn dig(ns: &str, name: &str) -> String {
    let o = std::process::Command::new("ip").args(["netns", "exec", ns, "dig", "+noall", "+answer", "+comments", name]).output();
    o.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// Connections from `ns` to `name`:`port` by name: each to one of the
/// addresses it resolves to, in turn.
fn open_by_name(ns: &str, name: &str, port: u16, n: usize) -> Vec<Conn> {
    let addrs = resolve(ns, name);
    assert!(!addrs.is_empty(), "{name} does not resolve in {ns}");
    (0..n).map(|i| Conn::open(ns, SocketAddr::new(addrs[i % addrs.len()].into(), port))).collect()
}

/// Whether a connection from namespace `ns` to `to` is answered within a
/// second.
fn answered(ns: &str, to: SocketAddr) -> bool {
    let _in = vpc_control::netns::NetnsGuard::enter(ns).unwrap();
    std::net::TcpStream::connect_timeout(&to, Duration::from_secs(1)).is_ok()
}

fn shares(conns: &[Conn]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in conns {
        *m.entry(c.backend.clone()).or_default() += 1;
    }
    m
}

#[test]
fn ep_1_ep_4_conn_2_eps_2_dns_1_dns_2_a_consumer_reaches_a_providers_service_through_its_endpoint_only_while_connected() {
    let mut d = Daemon::new(true);
    d.args.extend(["--access-key".to_string(), format!("{STRANGER_KEY_ID}:{STRANGER_KEY_SECRET}:{STRANGER_ACCOUNT_ID}")]);
    d.spawn(&[]);
    let provider = Account { d: &d, key: (ACCESS_KEY_ID, ACCESS_KEY_SECRET) };
    let consumer = Account { d: &d, key: (OTHER_KEY_ID, OTHER_KEY_SECRET) };
    let stranger = Account { d: &d, key: (STRANGER_KEY_ID, STRANGER_KEY_SECRET) };
    let (zone_a, zone_b) = ("cn-hangzhou-a", "cn-hangzhou-b");

    // The provider: a backend per zone behind an NLB (listener 80 -> 8080).
    let pvpc = provider.vpc("10.0.0.0/16");
    let (pvsw_a, pvsw_b) = (provider.vswitch(&pvpc, zone_a, "10.0.1.0/24"), provider.vswitch(&pvpc, zone_b, "10.0.2.0/24"));
    let web_a = provider.instance(&pvsw_a, "10.0.1.11");
    let web_b = provider.instance(&pvsw_b, "10.0.2.12");
    let svc_a = Service::start(&web_a, "web-a");
    let _svc_b = Service::start(&web_b, "web-b");
    let lb = d.sdk_script("nlb_lab.py", &["create", &json!({
        "vpc": pvpc, "zones": {zone_a: pvsw_a, zone_b: pvsw_b},
        "servers": [{"id": web_a, "weight": 100, "port": SERVICE_PORT}, {"id": web_b, "weight": 100, "port": SERVICE_PORT}],
        "address_type": "Intranet", "port": LISTENER_PORT,
    }).to_string()]);
    let lb_id = s(&lb, &["load_balancer"]);
    // The endpoint service: manual acceptance, the consumer whitelisted.
    let service = provider.privatelink("service", &json!({
        "load_balancer": lb_id, "zones": [zone_a, zone_b], "auto_accept": false, "users": [OTHER_ACCOUNT_ID],
    }));
    let (service_id, service_name) = (s(&service, &["service_id"]), s(&service, &["service_name"]));

    // EPS-2: an account off the whitelist neither sees the service nor
    // connects to it.
    let seen = stranger.privatelink("visible", &json!({}));
    assert!(!seen["services"].as_array().unwrap().iter().any(|n| n == &json!(service_name)), "the stranger sees {seen}");
    let svpc = stranger.vpc("10.0.0.0/16");
    let svsw = stranger.vswitch(&svpc, zone_a, "10.0.1.0/24");
    let ssg = s(&stranger.call("CreateSecurityGroup", &[R, ("VpcId", &svpc)]), &["SecurityGroupId"]);
    let refused = stranger.privatelink("refused", &json!({
        "vpc": svpc, "service_name": service_name, "security_groups": [ssg], "zones": {zone_a: svsw}, "name": "stranger",
    }));
    assert_ne!(refused["status"], 200, "the stranger's endpoint: {refused}");

    // The consumer: the same CIDR block; its client holds web-a's address.
    let cvpc = consumer.vpc("10.0.0.0/16");
    let (cvsw_a, cvsw_b) = (consumer.vswitch(&cvpc, zone_a, "10.0.1.0/24"), consumer.vswitch(&cvpc, zone_b, "10.0.2.0/24"));
    let client = consumer.instance(&cvsw_a, "10.0.1.11");
    let sg = s(&consumer.call("CreateSecurityGroup", &[R, ("VpcId", &cvpc)]), &["SecurityGroupId"]);
    consumer.call("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("IpProtocol", "tcp"), ("PortRange", "80/80"), ("SourceCidrIp", "10.0.0.0/16")]);
    let seen = consumer.privatelink("visible", &json!({}));
    assert!(seen["services"].as_array().unwrap().iter().any(|n| n == &json!(service_name)), "the consumer sees {seen}");
    let ep = consumer.privatelink("endpoint", &json!({
        "vpc": cvpc, "service_name": service_name, "security_groups": [sg], "zones": {zone_a: cvsw_a, zone_b: cvsw_b},
        "name": "walkthrough", "tags": {"team": "walkthrough"},
    }));
    let endpoint_id = s(&ep, &["endpoint_id"]);
    // CONN-3: not accepted yet, no traffic (counted as such).
    assert_eq!(ep["connection_status"], "Disconnected", "{ep}");
    let eni = |zone: &str| -> SocketAddr { SocketAddr::new(s(&ep, &["zones", zone, "ip"]).parse().unwrap(), LISTENER_PORT) };
    let before = dropped(&d, "endpoint_not_connected");
    assert!(!answered(&client, eni(zone_a)), "an endpoint not accepted yet carries no traffic");
    assert!(dropped(&d, "endpoint_not_connected") > before, "counted as endpoint_not_connected");

    // CONN-1/2: the provider accepts; every zone's ENI reaches the service,
    // a backend in either zone (cross-zone balancing).
    let accepted = provider.privatelink("connection", &json!({"service_id": service_id, "endpoint_id": endpoint_id, "enable": true}));
    assert_eq!(accepted["status"], "Connected", "{accepted}");
    let mut conns: Vec<Conn> = Vec::new();
    for zone in [zone_a, zone_b] {
        conns.extend((0..30).map(|_| Conn::open(&client, eni(zone))));
    }
    // DNS-1: by name, in the consumer's VPC: the endpoint's domain names
    // both zones' ENIs, each zone's domain its own.
    let domain = s(&ep, &["domain"]);
    let both: Vec<std::net::Ipv4Addr> = {
        let mut v = vec![eni(zone_a).ip(), eni(zone_b).ip()].into_iter().map(|ip| match ip {
            std::net::IpAddr::V4(a) => a,
            _ => unreachable!(),
        }).collect::<Vec<_>>();
        v.sort();
        v
    };
    assert_eq!(resolve_until(&client, &domain, &both), both, "{domain} in the consumer's VPC: {}", dig(&client, &domain));
    for zone in [zone_a, zone_b] {
        let zd = s(&ep, &["zones", zone, "domain"]);
        assert_eq!(resolve(&client, &zd), vec![match eni(zone).ip() { std::net::IpAddr::V4(a) => a, _ => unreachable!() }], "{zd}");
    }
    conns.extend(open_by_name(&client, &domain, LISTENER_PORT, 20));
    // DNS-2: the service's usual name, privately, through a PrivateZone
    // zone bound to the consumer's VPC only: the answers differ per VPC.
    let custom = "api.walkthrough.example";
    consumer.privatelink("zone", &json!({"name": "walkthrough.example", "vpcs": [cvpc], "records": [["api", "CNAME", domain]]}));
    assert_eq!(resolve_until(&client, custom, &both), both, "{custom} in the consumer's VPC: {}", dig(&client, custom));
    assert_eq!(resolve(&web_a, custom), Vec::<std::net::Ipv4Addr>::new(), "{custom} in the provider's VPC, to which the zone is not bound");
    conns.extend(open_by_name(&client, custom, LISTENER_PORT, 20));
    let share = shares(&conns);
    assert_eq!(share.len(), 2, "both backends answer through the endpoint: {share:?}");
    for (n, c) in conns.iter_mut().enumerate() {
        assert!(c.echoes(&format!("through the endpoint {n}")), "connection {n} to {}", c.backend);
    }

    // SG-4: the endpoint's security group admits TCP 80 only.
    let before = dropped(&d, "sg_ingress");
    assert!(!answered(&client, SocketAddr::new(eni(zone_a).ip(), 81)), "port 81 is not in the endpoint's group");
    assert!(dropped(&d, "sg_ingress") > before, "counted as sg_ingress");

    // EP-7 (the load balancer's side): zone a's backend dies; within the
    // health checks' window new connections through either ENI reach
    // web-b, and web-b's connections go on.
    drop(svc_a);
    let killed = Instant::now();
    loop {
        let probe: Vec<Option<Conn>> = (0..10).map(|_| Conn::try_open(&client, eni(zone_a))).collect();
        if probe.iter().all(|c| c.as_ref().is_some_and(|c| c.backend == "web-b")) {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(5), "new connections still reach web-a {:?} after it died", killed.elapsed());
    }
    conns.retain(|c| c.backend == "web-b");
    assert!(!conns.is_empty());
    for (n, c) in conns.iter_mut().enumerate() {
        assert!(c.echoes(&format!("after web-a died {n}")), "a connection to web-b broke when web-a died");
    }
    // Clients by name keep working.
    let by_name = open_by_name(&client, &domain, LISTENER_PORT, 10);
    assert!(by_name.iter().all(|c| c.backend == "web-b"), "by name after web-a died: {:?}", shares(&by_name));
    conns.extend(by_name);

    // TAG-3: tags filter endpoints.
    let tagged = consumer.privatelink("tagged", &json!({"key": "team", "value": "walkthrough"}));
    assert_eq!(tagged["endpoints"], json!([endpoint_id]), "{tagged}");
    let other = consumer.privatelink("tagged", &json!({"key": "team", "value": "other"}));
    assert_eq!(other["endpoints"], json!([]), "{other}");

    // CONN-2: the provider disables the connection: live flows stop at
    // once (the next packet either way is dropped, counted).
    let before = dropped(&d, "endpoint_not_connected");
    let disabled = provider.privatelink("connection", &json!({"service_id": service_id, "endpoint_id": endpoint_id, "enable": false}));
    assert_eq!(disabled["status"], "Disconnected", "{disabled}");
    let cut = Instant::now();
    for c in conns.iter_mut() {
        c.stream.get_mut().set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        assert!(!c.echoes("after the disable"), "a live flow went on after the connection was disabled");
    }
    assert!(cut.elapsed() < Duration::from_secs(1) + Duration::from_millis(500) * conns.len() as u32);
    assert!(dropped(&d, "endpoint_not_connected") > before, "counted as endpoint_not_connected");
    let attr = consumer.privatelink("attribute", &json!({"endpoint_id": endpoint_id}));
    assert_eq!(attr["connection_status"], "Disconnected", "{attr}");
}

/// POL-4 through an interface endpoint of the cloud's object storage
/// service: the service is listed to every account and connects at once;
/// the endpoint's access policy (given at creation, viewable, changeable
/// after) decides what the object store does for requests through it; the
/// official OSS SDK, run in the instance, reaches the store at the
/// endpoint ENI's address.
#[test]
fn pol_4_an_interface_endpoint_to_object_storage_carries_an_access_policy() {
    let d = Daemon::start();
    let owner = Account { d: &d, key: (ACCESS_KEY_ID, ACCESS_KEY_SECRET) };
    let zone = "cn-hangzhou-a";
    let vpc = owner.vpc("10.0.0.0/16");
    let vsw = owner.vswitch(&vpc, zone, "10.0.1.0/24");
    let inst = owner.instance(&vsw, "10.0.1.10");
    let sg = s(&owner.call("CreateSecurityGroup", &[R, ("VpcId", &vpc)]), &["SecurityGroupId"]);
    owner.call("AuthorizeSecurityGroup", &[R, ("SecurityGroupId", &sg), ("IpProtocol", "tcp"), ("PortRange", "80/80"), ("SourceCidrIp", "10.0.0.0/16")]);
    let service_name = "com.aliyuncs.privatelink.cn-hangzhou.oss";
    let seen = Account { d: &d, key: (OTHER_KEY_ID, OTHER_KEY_SECRET) }.privatelink("visible", &json!({}));
    assert!(seen["services"].as_array().unwrap().iter().any(|n| n == service_name), "every account sees it: {seen}");

    let bucket = format!("pl-{}", unique("b").to_ascii_lowercase().replace('_', "-"));
    let other_bucket = format!("{bucket}-other");
    // Only this account, only `bucket`.
    let only_bucket = json!({"Version": "1", "Statement": [{
        "Effect": "Allow", "Principal": [ACCOUNT_ID], "Action": "oss:*", "Resource": [format!("acs:oss:*:*:{bucket}"), format!("acs:oss:*:*:{bucket}/*")],
    }]}).to_string();
    let ep = owner.privatelink("endpoint", &json!({
        "vpc": vpc, "service_name": service_name, "security_groups": [sg], "zones": {zone: vsw},
        "name": "oss", "policy": only_bucket,
    }));
    assert_eq!(ep["connection_status"], "Connected", "the cloud's service accepts at once: {ep}");
    let host = s(&ep, &["zones", zone, "ip"]);
    let keys = [("OSS_AK", ACCESS_KEY_ID), ("OSS_SK", ACCESS_KEY_SECRET), ("OSS_ACCOUNT", ACCOUNT_ID)];
    let oss = |bucket: &str, op: &str, arg: &str| seed_000(&d, Some(&inst), &keys, &["oss", "oss2", &host, bucket, op, arg]);
    // The store comes up with the router: wait for its first answer.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !answered(&inst, SocketAddr::new(host.parse().unwrap(), 80)) {
        assert!(Instant::now() < deadline, "the object store never answered through the endpoint");
    }
    let made = oss(&bucket, "create", "");
    assert_eq!(made["ok"], true, "PutBucket of the allowed bucket through the endpoint: {made}");
    let put = oss(&bucket, "put", "a.txt");
    assert_eq!(put["ok"], true, "PutObject: {put}");
    let denied = oss(&other_bucket, "create", "");
    assert_eq!(denied["ok"], false, "another bucket through the endpoint: {denied}");
    assert_eq!(denied["code"], "AccessDenied", "{denied}");

    // Viewable and changeable after creation: the full-access policy.
    let all = json!({"Version": "1", "Statement": [{"Effect": "Allow", "Principal": ["*"], "Action": "*", "Resource": "*"}]}).to_string();
    let changed = owner.privatelink("policy", &json!({"endpoint_id": ep["endpoint_id"], "policy": all}));
    assert_eq!(changed["policy"], json!(all), "{changed}");
    let made = oss(&other_bucket, "create", "");
    assert_eq!(made["ok"], true, "the other bucket once the policy allows it: {made}");
}
