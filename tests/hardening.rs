//! Issue 18, items 3 and 6, against a real `vpc daemon`: no client can lock
//! the daemon out (connection limits per source and per listener, the Unix
//! socket apart, header, idle and body timeouts, bounded requests, every
//! error in the cloud's JSON shape) and tenants stay apart (router stats,
//! metrics on their own address, nonces across a restart, another account's
//! group answering as one that does not exist).
use std::{
    io::{Read, Write},
    net::{Ipv4Addr, TcpStream},
    os::unix::net::UnixStream,
    time::{Duration, Instant, SystemTime},
};

use serde_json::Value;
use vpc_tests::*;

const R: (&str, &str) = ("RegionId", "cn-hangzhou");

/// DescribeVpcs over the Unix socket, given at most 10 s.
fn socket_call(d: &Daemon) -> (u16, Value) {
    let mut s = UnixStream::connect(d.socket()).expect("connecting to the socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(b"POST /?Action=DescribeVpcs&RegionId=cn-hangzhou HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .expect("writing to the socket");
    read_answer(s)
}

/// A raw request to `port` on 127.0.0.1; the answer.
fn raw_tcp(port: u16, request: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(request).expect("sending");
    read_answer(s)
}

/// `n` idle connections from `source`, held open.
fn idle_connections(d: &Daemon, source: Ipv4Addr, n: usize) -> Vec<TcpStream> {
    (0..n).filter_map(|_| connect_from(source, d.port).ok()).collect()
}

fn assert_cloud_error(status: u16, v: &Value, want_status: u16, want_code: &str, what: &str) {
    assert_eq!((status, v["Code"].as_str()), (want_status, Some(want_code)), "{what}: {v}");
    assert!(v["Message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: no Message: {v}");
    assert!(v["RequestId"].as_str().is_some_and(|r| r.len() == 36), "{what}: no RequestId: {v}");
}

/// This test process holds hundreds of connections: its soft open-file
/// limit up to the hard one.
fn raise_own_nofile() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read or write one rlimit we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[test]
fn hardening_idle_connections_lock_out_neither_other_clients_nor_the_socket() {
    // 256 open files: before the limits, 300 idle connections from one
    // address left no descriptor to accept anybody else, the root socket
    // included.
    raise_own_nofile();
    let mut d = Daemon::new(true);
    d.nofile = Some(256);
    d.spawn(&[("VPC_MAX_CONNECTIONS_PER_SOURCE", "8"), ("VPC_SOCKET_MAX_CONNECTIONS", "16")]);
    let held = idle_connections(&d, Ipv4Addr::new(127, 0, 0, 1), 300);
    assert!(held.len() >= 250, "only {} connections could be opened", held.len());
    std::thread::sleep(Duration::from_millis(500));

    // A signed call from another address, and the root socket: served.
    let (s, v) = http_call_from(&d, Ipv4Addr::new(127, 0, 0, 2), "DescribeVpcs", &[R], Some(Signing::default()));
    assert_eq!(s, 200, "a signed call from another address was locked out: {v}");
    let (s, v) = socket_call(&d);
    assert_eq!(s, 200, "the Unix socket was locked out: {v}");
    // The address holding its 8 connections is refused before anything is
    // read, in the cloud's shape.
    let (s, v) = http_call_from(&d, Ipv4Addr::new(127, 0, 0, 1), "DescribeVpcs", &[R], Some(Signing::default()));
    assert_cloud_error(s, &v, 503, "ServiceUnavailable", "beyond the per-source limit");

    // Many addresses at once fill the listener (its limit follows the open
    // files left beside the socket's): the socket is still served.
    let many: Vec<TcpStream> = (10..40).flat_map(|n| idle_connections(&d, Ipv4Addr::new(127, 0, 0, n), 8)).collect();
    std::thread::sleep(Duration::from_millis(500));
    let (s, v) = socket_call(&d);
    assert_eq!(s, 200, "the Unix socket was locked out by {} TCP connections: {v}", many.len() + held.len());
    let (s, v) = http_call_from(&d, Ipv4Addr::new(127, 0, 0, 4), "DescribeVpcs", &[R], Some(Signing::default()));
    assert_cloud_error(s, &v, 503, "ServiceUnavailable", "beyond the listener's limit");
    // Once they are gone, HTTP serves again.
    drop(many);
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, v) = http_call_from(&d, Ipv4Addr::new(127, 0, 0, 3), "DescribeVpcs", &[R], Some(Signing::default()));
        if s == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "HTTP did not serve again after the connections closed: {s} {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(d.child().and_then(|c| c.try_wait().ok().flatten()).is_none(), "the daemon died");
}

/// Seconds until the server closes `s` (reads until EOF or error), at most `limit`.
fn closed_after(mut s: &TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

#[test]
fn hardening_slow_and_idle_clients_are_disconnected() {
    let mut d = Daemon::new(true);
    d.spawn(&[("VPC_HEADER_TIMEOUT", "1"), ("VPC_IDLE_TIMEOUT", "2"), ("VPC_BODY_TIMEOUT", "1")]);

    // Slowloris: one header line every 400 ms never ends its headers.
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(400))).ok();
    let start = Instant::now();
    s.write_all(b"POST / HTTP/1.1\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let closed = loop {
        if start.elapsed() > Duration::from_secs(15) {
            break None;
        }
        match s.read(&mut buf) {
            Ok(0) => break Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break Some(start.elapsed()),
        }
        if s.write_all(format!("x-slow-{}: y\r\n", start.elapsed().as_millis()).as_bytes()).is_err() {
            break Some(start.elapsed());
        }
    };
    let closed = closed.expect("a client sending one header line every 400 ms was still held after 15 s");
    assert!(closed < Duration::from_secs(4), "the slow client was closed after {closed:?} (header timeout 1 s)");

    // Idle: connected, nothing sent.
    let s = TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    let closed = closed_after(&s, Duration::from_secs(15)).expect("an idle connection was still held after 15 s");
    assert!(closed >= Duration::from_millis(1500) && closed < Duration::from_secs(5), "idle connection closed after {closed:?} (idle timeout 2 s)");

    // Idle after an answer (keep-alive): closed too.
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    s.write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let closed = closed_after(&s, Duration::from_secs(15)).expect("a kept-alive idle connection was still held after 15 s");
    assert!(closed < Duration::from_secs(5), "kept-alive connection closed after {closed:?}");

    // A body that stops coming: 408 in the cloud's shape, then closed.
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\nAction=Desc")
        .unwrap();
    let start = Instant::now();
    let (status, v) = read_answer(&s);
    assert_cloud_error(status, &v, 408, "RequestTimeout", "a stalled body");
    assert!(start.elapsed() < Duration::from_secs(4), "the stalled body was answered after {:?}", start.elapsed());

    // Meanwhile the API serves.
    let (s, v) = http_call(&d, "DescribeVpcs", &[R], Some(Signing::default()));
    assert_eq!(s, 200, "{v}");
}

#[test]
fn hardening_every_error_is_json_with_a_request_id_and_metrics_are_apart() {
    let d = Daemon::start();
    // An unknown path, on HTTP and on the socket.
    let (s, v) = raw_tcp(d.port, b"GET /nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_cloud_error(s, &v, 404, "InvalidAction.NotFound", "GET /nope over HTTP");
    let (s, v) = raw_unix(&d, b"GET /nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_cloud_error(s, &v, 404, "InvalidAction.NotFound", "GET /nope over the socket");
    // Too large: refused from its Content-Length, before the body is read.
    let (s, v) = raw_tcp(
        d.port,
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 3000000\r\n\r\nAction=x",
    );
    assert_cloud_error(s, &v, 413, "RequestEntityTooLarge", "a 3 MB body");
    // Too large without a Content-Length (chunked): refused once over the limit.
    let mut req = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b'a'; 256 * 1024];
    for _ in 0..5 {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before all of it is sent.
    let mut u = UnixStream::connect(d.socket()).expect("connecting to the socket");
    u.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let _ = u.write_all(&req);
    let (s, v) = read_answer(u);
    assert_cloud_error(s, &v, 413, "RequestEntityTooLarge", "a 1.25 MiB chunked body");
    // Headers over the bound (64 KiB): refused by the HTTP parser (hyper's
    // own empty 400 or 431: not JSON), the daemon unharmed.
    let big = format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\nconnection: close\r\n\r\n", "a".repeat(100 * 1024));
    let mut t = TcpStream::connect(("127.0.0.1", d.port)).expect("connecting");
    t.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let _ = t.write_all(big.as_bytes());
    let (s, _) = read_answer(t);
    assert!(matches!(s, 400 | 431 | 0), "100 KiB of headers got {s}");
    // A method a path does not serve.
    let (s, v) = raw_unix(&d, b"PUT /metrics HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    assert_cloud_error(s, &v, 405, "UnsupportedHTTPMethod", "PUT /metrics");
    let (s, v) = raw_tcp(d.port, b"DELETE / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_cloud_error(s, &v, 405, "UnsupportedHTTPMethod", "DELETE /");

    // /metrics: not on the tenants' API address; on the metrics address
    // and on the root socket.
    let (s, v) = raw_tcp(d.port, b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_cloud_error(s, &v, 404, "InvalidAction.NotFound", "/metrics on the API address");
    let mut m = TcpStream::connect(("127.0.0.1", d.metrics_port)).expect("the metrics address");
    m.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    m.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200") && text.contains("vpc_forwarded_packets_total"), "{text}");
    let mut u = UnixStream::connect(d.socket()).unwrap();
    u.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    u.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200") && text.contains("vpc_forwarded_packets_total"), "{text}");
}

/// A signed call as the second account.
fn as_other(d: &Daemon, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
    http_call(d, action, params, Some(Signing { id: OTHER_KEY_ID, secret: OTHER_KEY_SECRET, ..Signing::default() }))
}

fn ok(what: &str, (s, v): (u16, Value)) -> Value {
    assert_eq!(s, 200, "{what}: {v}");
    v
}

fn id(v: &Value, path: &[&str]) -> String {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_str().or_else(|| x[0].as_str()).unwrap_or_else(|| panic!("no {path:?} in {v}")).to_string()
}

/// A VPC, a vSwitch, a group and one instance, created by `call`: the instance.
fn small_lab(call: &dyn Fn(&str, &[(&str, &str)]) -> (u16, Value), cidr: &str, vsw: &str, ip: &str) -> String {
    let vpc = id(&ok("CreateVpc", call("CreateVpc", &[R, ("CidrBlock", cidr)])), &["VpcId"]);
    let vs = id(&ok("CreateVSwitch", call("CreateVSwitch", &[R, ("VpcId", &vpc), ("ZoneId", "cn-hangzhou-a"), ("CidrBlock", vsw)])), &["VSwitchId"]);
    let sg = id(&ok("CreateSecurityGroup", call("CreateSecurityGroup", &[R, ("VpcId", &vpc)])), &["SecurityGroupId"]);
    id(
        &ok(
            "RunInstances",
            call("RunInstances", &[R, ("VSwitchId", &vs), ("PrivateIpAddress", ip), ("SecurityGroupId", &sg), ("ImageId", "any"), ("InstanceType", "any")]),
        ),
        &["InstanceIdSets", "InstanceIdSet"],
    )
}

#[test]
fn hardening_tenants_see_only_their_own_router_stats() {
    let d = Daemon::start();
    let mine = |a: &str, p: &[(&str, &str)]| http_call(&d, a, p, Some(Signing::default()));
    let theirs = |a: &str, p: &[(&str, &str)]| as_other(&d, a, p);
    let a_inst = small_lab(&mine, "10.1.0.0/16", "10.1.1.0/24", "10.1.1.10");
    let b_inst = small_lab(&theirs, "10.2.0.0/16", "10.2.1.0/24", "10.2.1.10");

    // DescribeRouterStats and DescribeRouterPorts: each account its own.
    for (who, call, own, other) in [("A", &mine as &dyn Fn(&str, &[(&str, &str)]) -> (u16, Value), &a_inst, &b_inst), ("B", &theirs, &b_inst, &a_inst)] {
        for action in ["DescribeRouterStats", "DescribeRouterPorts"] {
            let v = ok(action, call(action, &[]));
            let text = v.to_string();
            assert!(text.contains(own.as_str()), "{action} as {who} lacks its own {own}: {v}");
            assert!(!text.contains(other.as_str()), "{action} as {who} shows the other account's {other}: {v}");
        }
        let v = ok("DescribeRouterStats", call("DescribeRouterStats", &[]));
        assert!(v["Actions"].as_object().is_none_or(|o| o.is_empty()), "router-wide counters shown to {who}: {v}");
    }
    // The administrator (the root socket) sees both.
    let v = d.call("DescribeRouterStats", &[]).to_string();
    assert!(v.contains(&a_inst) && v.contains(&b_inst), "{v}");

}

#[test]
fn hardening_another_accounts_group_answers_as_one_that_does_not_exist() {
    let d = Daemon::start();
    let group = |call: &dyn Fn(&str, &[(&str, &str)]) -> (u16, Value), cidr: &str| {
        let vpc = id(&ok("CreateVpc", call("CreateVpc", &[R, ("CidrBlock", cidr)])), &["VpcId"]);
        id(&ok("CreateSecurityGroup", call("CreateSecurityGroup", &[R, ("VpcId", &vpc)])), &["SecurityGroupId"])
    };
    let mine = |a: &str, p: &[(&str, &str)]| http_call(&d, a, p, Some(Signing::default()));
    let theirs = |a: &str, p: &[(&str, &str)]| as_other(&d, a, p);
    let a_sg = group(&mine, "10.1.0.0/16");
    let b_sg = group(&theirs, "10.2.0.0/16");
    // As SourceGroupId, another account's group answers exactly as a group
    // that does not exist.
    let missing = "sg-doesnotexist0000000";
    let probe = |group: &str| {
        let (s, v) = theirs(
            "AuthorizeSecurityGroup",
            &[R, ("SecurityGroupId", &b_sg), ("IpProtocol", "tcp"), ("PortRange", "22/22"), ("SourceGroupId", group)],
        );
        (s, v["Code"].clone(), v["Message"].as_str().unwrap_or("").replace(group, "<id>"))
    };
    let foreign = probe(&a_sg);
    assert_eq!(foreign, probe(missing), "another account's group answers unlike one that does not exist");
    assert_eq!((foreign.0, foreign.1.as_str()), (404, Some("InvalidSecurityGroupId.NotFound")), "{foreign:?}");
    // Naming its owner changes nothing.
    let owner = |group: &str| {
        let (s, v) = theirs(
            "AuthorizeSecurityGroup",
            &[R, ("SecurityGroupId", &b_sg), ("IpProtocol", "tcp"), ("PortRange", "22/22"), ("SourceGroupId", group), ("SourceGroupOwnerId", "1")],
        );
        (s, v["Code"].clone(), v["Message"].as_str().unwrap_or("").replace(group, "<id>"))
    };
    assert_eq!(owner(&a_sg), owner(missing), "SourceGroupOwnerId tells another account's group from a missing one");
}

#[test]
fn hardening_a_signed_request_replayed_after_a_restart_is_refused() {
    let mut d = Daemon::start();
    let nonce = format!("replay-{}", unique(""));
    let at = SystemTime::now();
    let signed = || Some(Signing { nonce: Some(&nonce), at, ..Signing::default() });
    let (s, v) = http_call(&d, "DescribeVpcs", &[R], signed());
    assert_eq!(s, 200, "{v}");
    d.kill9();
    d.spawn(&[]);
    let (s, v) = http_call(&d, "DescribeVpcs", &[R], signed());
    assert_cloud_error(s, &v, 400, "SignatureNonceUsed", "the same signed request after a restart");
    // A new nonce is fine.
    let (s, v) = http_call(&d, "DescribeVpcs", &[R], Some(Signing::default()));
    assert_eq!(s, 200, "{v}");
}
